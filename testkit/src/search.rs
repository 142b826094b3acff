//! Conformance suite shared by every [`SearchEngine`] implementation.
//!
//! Each case takes a fresh (or at least clearable) engine, seeds the fixed
//! project set of [`fixture`] and checks one behaviour; it panics on failure.
//! [`conformance_suite!`](crate::conformance_suite) generates one `#[tokio::test]` per case
//! for an engine factory; [`run_conformance`] runs every case in sequence.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use folio_search::{Applied, SearchDocument, SearchEngine, SearchError, SearchPage, SearchQuery, SuggestionKind};

/// What [`conformance_suite!`](crate::conformance_suite) expects its factory to give.
pub type SharedEngine = Arc<dyn SearchEngine>;

pub const U_ALICE: Uuid = Uuid::from_u128(0x2c1a6f0e_0000_4000_8000_000000000001);
pub const U_BOB: Uuid = Uuid::from_u128(0x2c1a6f0e_0000_4000_8000_000000000002);
pub const U_LANTERN: Uuid = Uuid::from_u128(0x2c1a6f0e_0000_4000_8000_000000000003);
pub const U_CAROL: Uuid = Uuid::from_u128(0x2c1a6f0e_0000_4000_8000_000000000004);

/// Project ids P1..P12 of the fixture.
pub const fn pid(n: u128) -> Uuid {
    Uuid::from_u128(0xb3f00000_0000_4000_8000_000000000000 + n)
}

fn day(d: u32) -> DateTime<Utc> {
    match Utc.with_ymd_and_hms(2025, 12, d, 12, 0, 0).single() {
        Some(t) => t,
        None => panic!("bad fixture date {d}"),
    }
}

#[allow(clippy::too_many_arguments)]
fn doc(
    n: u128,
    user: Uuid,
    username: &str,
    title: &str,
    desc: &str,
    tags: &[&str],
    updated: u32,
    thumb: bool,
) -> SearchDocument {
    SearchDocument {
        project_id: pid(n),
        user_id: user,
        username: username.into(),
        title: title.into(),
        description: desc.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        image_texts: Vec::new(),
        thumbnail_url: thumb.then(|| format!("/media/thumbnails/{user}/{n}_thumb.jpg")),
        created_at: day(1),
        updated_at: day(updated),
        version: 1,
    }
}

/// The fixed project set (12 projects, 4 users, all at version 1).
pub fn fixture() -> Vec<SearchDocument> {
    vec![
        doc(
            1,
            U_ALICE,
            "alice",
            "Python CLI toolkit",
            "Command line helpers written in python",
            &["python", "cli"],
            4,
            true,
        ),
        doc(
            2,
            U_ALICE,
            "alice",
            "Expense Tracker",
            "A simple finance app",
            &["react", "flask"],
            3,
            false,
        ),
        doc(
            3,
            U_BOB,
            "bob",
            "Weather dashboard",
            "Charts of weather data built with python",
            &["python", "data"],
            5,
            false,
        ),
        doc(
            4,
            U_BOB,
            "bob",
            "Pythonic game engine",
            "A 2D game engine",
            &["python", "gamedev"],
            6,
            true,
        ),
        doc(
            5,
            U_BOB,
            "bob",
            "Lantern Festival planner",
            "Plan seasonal events",
            &["events"],
            2,
            false,
        ),
        doc(
            6,
            U_LANTERN,
            "Lantern Works",
            "Photo gallery",
            "Pictures from trips",
            &["photography"],
            7,
            false,
        ),
        doc(
            7,
            U_CAROL,
            "carol",
            "Garden helper",
            "Lights the garden like a lantern at night",
            &["iot"],
            8,
            false,
        ),
        doc(
            8,
            U_CAROL,
            "carol",
            "Kite designer",
            "Draw kites",
            &["design"],
            1,
            false,
        ),
        doc(
            9,
            U_CAROL,
            "carol",
            "Robot arm",
            "Servo control",
            &["robotics"],
            9,
            false,
        ),
        doc(10, U_BOB, "bob", "Robot arm", "Servo control", &["robotics"], 10, false),
        doc(
            11,
            U_CAROL,
            "carol",
            "Tiny shell",
            "A minimal command shell",
            &["rust", "cli"],
            11,
            false,
        ),
        doc(
            12,
            U_LANTERN,
            "Lantern Works",
            "Sketchbook",
            "Daily drawings",
            &["art"],
            12,
            false,
        ),
    ]
}

fn fixture_doc(n: u128) -> SearchDocument {
    match fixture().into_iter().find(|d| d.project_id == pid(n)) {
        Some(d) => d,
        None => panic!("no fixture project {n}"),
    }
}

fn ok<T>(r: Result<T, SearchError>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Clears the engine and loads [`fixture`].
pub async fn seed(engine: &dyn SearchEngine) {
    ok(engine.clear().await, "clear");
    let n = ok(engine.upsert_many(fixture()).await, "upsert_many(fixture)");
    assert_eq!(n, 12, "all fixture documents must be written");
    ok(engine.refresh().await, "refresh");
}

async fn search(engine: &dyn SearchEngine, query: &str, tags: &[&str], page: u32, size: u32) -> SearchPage {
    let q = SearchQuery {
        query: query.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        page,
        size,
        ..Default::default()
    };
    ok(engine.search(&q).await, &format!("search {q:?}"))
}

fn ids(page: &SearchPage) -> Vec<Uuid> {
    page.hits.iter().map(|h| h.document.project_id).collect()
}

async fn text(engine: &dyn SearchEngine, query: &str) -> SearchPage {
    search(engine, query, &[], 1, 20).await
}

fn assert_scores_descending(page: &SearchPage) {
    for w in page.hits.windows(2) {
        assert!(
            w[0].score.is_finite() && w[1].score.is_finite(),
            "scores must be finite"
        );
        assert!(
            w[0].score + 1e-4 >= w[1].score,
            "hits must be ordered by score: {} then {}",
            w[0].score,
            w[1].score
        );
    }
}

/// Hits carry the exact stored document; counts and scores have the right shape.
pub async fn shapes_and_roundtrip(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    ok(e.ping().await, "ping");
    seed(e).await;
    let all = search(e, "", &[], 1, 100).await;
    assert_eq!(all.total, 12);
    assert_eq!(all.hits.len(), 12);
    let mut want = fixture();
    want.sort_by_key(|d| d.project_id);
    let mut got: Vec<SearchDocument> = all.hits.iter().map(|h| h.document.clone()).collect();
    got.sort_by_key(|d| d.project_id);
    assert_eq!(got, want, "documents must round-trip unchanged");
    let page = text(e, "python").await;
    assert!(page.total >= 3, "python is in 4 projects' text, got {}", page.total);
    assert_eq!(page.total as usize, page.hits.len());
    assert!(page.hits.iter().all(|h| h.score > 0.0));
    assert_scores_descending(&page);
    let found: HashSet<Uuid> = ids(&page).into_iter().collect();
    for n in [1, 3, 4] {
        assert!(found.contains(&pid(n)), "python must find P{n}");
    }
}

/// Title match ranks above display-name match above description match.
pub async fn ranking_title_username_description(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let page = text(e, "lantern").await;
    assert_eq!(
        page.total,
        4,
        "P5 (title), P6 & P12 (display name), P7 (description): {:?}",
        ids(&page)
    );
    let got = ids(&page);
    assert_eq!(got[0], pid(5), "title match first: {got:?}");
    let names: HashSet<Uuid> = got[1..3].iter().copied().collect();
    assert_eq!(
        names,
        HashSet::from([pid(6), pid(12)]),
        "display-name matches second: {got:?}"
    );
    assert_eq!(got[3], pid(7), "description match last: {got:?}");
    assert_scores_descending(&page);
}

/// Equal relevance is ordered by updated_at descending.
pub async fn ties_by_updated_at(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let page = text(e, "robot").await;
    assert_eq!(ids(&page), vec![pid(10), pid(9)], "identical titles: newer first");
    // The two display-name matches of "lantern" tie as well: P12 is newer than P6.
    let page = text(e, "lantern").await;
    let got = ids(&page);
    assert_eq!(&got[1..3], &[pid(12), pid(6)], "{got:?}");
}

/// Tags are searchable text.
pub async fn tags_are_searchable_text(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    assert_eq!(ids(&text(e, "rust").await), vec![pid(11)]);
    assert_eq!(ids(&text(e, "photography").await), vec![pid(6)]);
}

/// `tags` keeps projects having ANY of the given tags.
pub async fn tag_filter_any_of(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let page = search(e, "", &["rust", "gamedev"], 1, 20).await;
    assert_eq!(
        ids(&page),
        vec![pid(11), pid(4)],
        "empty query + tags: any-of, by updated_at desc"
    );
    assert_eq!(page.total, 2);
    let page = search(e, "", &["RUST", " events "], 1, 20).await;
    assert_eq!(ids(&page), vec![pid(11), pid(5)], "tags are normalised");
    let page = search(e, "python", &["cli"], 1, 20).await;
    assert_eq!(ids(&page), vec![pid(1)]);
    let page = search(e, "python", &["cli", "data"], 1, 20).await;
    let got: HashSet<Uuid> = ids(&page).into_iter().collect();
    assert_eq!(got, HashSet::from([pid(1), pid(3)]));
    let page = search(e, "", &["no-such-tag"], 1, 20).await;
    assert_eq!(page.total, 0);
    assert!(page.hits.is_empty());
}

/// An empty query lists everything by updated_at desc.
pub async fn empty_query_lists_by_updated_at(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let page = search(e, "", &[], 1, 20).await;
    assert_eq!(page.total, 12);
    let want: Vec<Uuid> = (1..=12)
        .rev()
        .map(|d| {
            fixture()
                .into_iter()
                .find(|x| x.updated_at == day(d))
                .map(|x| x.project_id)
        })
        .map(|x| x.unwrap_or_default())
        .collect();
    assert_eq!(ids(&page), want);
    let spaces = search(e, "   ", &[], 1, 20).await;
    assert_eq!(ids(&spaces), want, "whitespace is an empty query");
}

/// Page beyond the end: no hits, right total; size 1; pages stitch together.
pub async fn pagination_edges(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let full = ids(&search(e, "", &[], 1, 100).await);
    let mut stitched = Vec::new();
    for p in 1..=3 {
        let page = search(e, "", &[], p, 5).await;
        assert_eq!(page.total, 12);
        stitched.extend(ids(&page));
    }
    assert_eq!(stitched, full);
    let beyond = search(e, "", &[], 4, 5).await;
    assert!(beyond.hits.is_empty());
    assert_eq!(beyond.total, 12);
    let far = search(e, "", &[], 1_000_000, 100).await;
    assert!(far.hits.is_empty());
    assert_eq!(far.total, 12);
    let one = search(e, "", &[], 1, 1).await;
    assert_eq!(ids(&one), vec![full[0]]);
    assert_eq!(one.total, 12);
    let second = search(e, "", &[], 2, 1).await;
    assert_eq!(ids(&second), vec![full[1]]);
    let text_beyond = search(e, "python", &[], 9, 1).await;
    assert!(text_beyond.hits.is_empty());
    assert!(text_beyond.total >= 3);
}

/// Page and size are validated.
pub async fn invalid_queries(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    for (page, size) in [(0, 10), (1, 0), (1, 101)] {
        let q = SearchQuery {
            query: "x".into(),
            tags: vec![],
            page,
            size,
            ..Default::default()
        };
        match e.search(&q).await {
            Err(SearchError::Invalid(_)) => {}
            other => panic!("page {page} size {size}: expected Invalid, got {other:?}"),
        }
    }
}

/// ≥5 letters: one typo; ≥9: two; 4 letters: none.
pub async fn typo_tolerance(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    assert!(
        ids(&text(e, "festivel").await).contains(&pid(5)),
        "one typo on an 8-letter word"
    );
    assert!(
        ids(&text(e, "pyhton").await).contains(&pid(1)),
        "a transposition is one typo"
    );
    assert!(
        ids(&text(e, "dahsbaord").await).contains(&pid(3)),
        "two typos on a 9-letter word"
    );
    assert!(
        !ids(&text(e, "fetsivel").await).contains(&pid(5)),
        "two typos on an 8-letter word must not match"
    );
    assert!(ids(&text(e, "kite").await).contains(&pid(8)), "exact 4-letter word");
    assert!(
        !ids(&text(e, "kote").await).contains(&pid(8)),
        "a 4-letter word with a typo must not match"
    );
}

/// The last query word also matches as a prefix.
pub async fn prefix_last_word(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let got = ids(&text(e, "sketchb").await);
    assert_eq!(got, vec![pid(12)]);
    let got: HashSet<Uuid> = ids(&text(e, "weather dash").await).into_iter().collect();
    assert!(got.contains(&pid(3)));
}

/// Titles and tags mixed, at most `limit`, tag counts right, case-insensitive.
pub async fn suggestions(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let s = ok(e.suggest("py", 5).await, "suggest py");
    assert!(s.len() <= 5);
    let tags: Vec<_> = s.iter().filter(|x| x.kind == SuggestionKind::Tag).collect();
    assert_eq!(tags.len(), 1, "{s:?}");
    assert_eq!(tags[0].text, "python");
    assert_eq!(tags[0].count, Some(3));
    assert_eq!(tags[0].project_id, None);
    let titles: HashSet<(String, Option<Uuid>)> = s
        .iter()
        .filter(|x| x.kind == SuggestionKind::Title)
        .map(|x| (x.text.clone(), x.project_id))
        .collect();
    assert_eq!(
        titles,
        HashSet::from([
            ("Pythonic game engine".to_string(), Some(pid(4))),
            ("Python CLI toolkit".to_string(), Some(pid(1)))
        ])
    );
    assert!(
        s.iter()
            .filter(|x| x.kind == SuggestionKind::Title)
            .all(|x| x.count.is_none())
    );
    let upper = ok(e.suggest("PY", 5).await, "suggest PY");
    assert_eq!(upper.len(), s.len(), "case-insensitive");
    let two = ok(e.suggest("py", 2).await, "suggest py 2");
    assert_eq!(two.len(), 2);
    let kinds: HashSet<SuggestionKind> = two.iter().map(|x| x.kind).collect();
    assert_eq!(kinds.len(), 2, "both kinds appear when both exist: {two:?}");
    let one = ok(e.suggest("py", 1).await, "suggest py 1");
    assert_eq!(one.len(), 1);
    let mid = ok(e.suggest("fest", 5).await, "suggest fest");
    assert_eq!(mid.len(), 1);
    assert_eq!(mid[0].text, "Lantern Festival planner");
    let c = ok(e.suggest("c", 5).await, "suggest c");
    let cli = c.iter().find(|x| x.kind == SuggestionKind::Tag && x.text == "cli");
    assert_eq!(cli.and_then(|x| x.count), Some(2), "{c:?}");
    assert!(ok(e.suggest("zzzz", 5).await, "suggest zzzz").is_empty());
    assert!(ok(e.suggest("", 5).await, "suggest empty").is_empty());
}

/// A display-name change reaches every document of the user.
pub async fn rename_propagation(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let n = ok(e.rename_user(U_ALICE, "Alicia Quartermaine").await, "rename");
    assert_eq!(n, 2);
    let page = text(e, "quartermaine").await;
    let got: HashSet<Uuid> = ids(&page).into_iter().collect();
    assert_eq!(got, HashSet::from([pid(1), pid(2)]));
    assert!(page.hits.iter().all(|h| h.document.username == "Alicia Quartermaine"));
    // Other fields are untouched.
    let p1 = page
        .hits
        .iter()
        .find(|h| h.document.project_id == pid(1))
        .map(|h| h.document.clone());
    let mut want = fixture_doc(1);
    want.username = "Alicia Quartermaine".into();
    assert_eq!(p1, Some(want));
    // Other users keep their names.
    let bob = search(e, "", &["gamedev"], 1, 20).await;
    assert_eq!(bob.hits[0].document.username, "bob");
    assert_eq!(
        ok(e.rename_user(Uuid::from_u128(99), "Nobody").await, "rename unknown"),
        0
    );
    // A deleted project is not renamed back to life.
    ok(e.delete(pid(2), 2).await, "delete");
    assert_eq!(ok(e.rename_user(U_ALICE, "Alicia Q").await, "rename again"), 1);
    assert_eq!(search(e, "", &[], 1, 100).await.total, 11);
}

/// Updates replace the document; replays are idempotent.
pub async fn update_propagation(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let mut d = fixture_doc(2);
    d.title = "Expense Forecaster".into();
    d.tags = vec!["finance".into()];
    d.updated_at = day(20);
    d.version = 2;
    assert_eq!(ok(e.upsert(d.clone()).await, "upsert v2"), Applied::Written);
    let page = text(e, "forecaster").await;
    assert_eq!(ids(&page), vec![pid(2)]);
    assert_eq!(page.hits[0].document, d);
    assert!(!ids(&text(e, "tracker").await).contains(&pid(2)));
    assert!(search(e, "", &["flask"], 1, 20).await.hits.is_empty(), "old tag gone");
    assert_eq!(
        ids(&search(e, "", &[], 1, 1).await),
        vec![pid(2)],
        "now the most recently updated"
    );
    assert_eq!(
        ok(e.upsert(d.clone()).await, "replay v2"),
        Applied::Written,
        "same version is idempotent"
    );
    assert_eq!(search(e, "", &[], 1, 100).await.total, 12);
}

/// Deletes remove the document from results, totals and tag counts.
pub async fn delete_propagation(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    ok(e.delete(pid(1), 2).await, "delete P1");
    assert!(!ids(&text(e, "toolkit").await).contains(&pid(1)));
    assert_eq!(search(e, "", &[], 1, 100).await.total, 11);
    assert_eq!(ids(&search(e, "", &["cli"], 1, 20).await), vec![pid(11)]);
    let s = ok(e.suggest("py", 5).await, "suggest");
    let python = s.iter().find(|x| x.kind == SuggestionKind::Tag).and_then(|x| x.count);
    assert_eq!(python, Some(2), "tombstones are not counted: {s:?}");
    assert!(s.iter().all(|x| x.project_id != Some(pid(1))));
    // Deleting again (redelivery) is harmless.
    ok(e.delete(pid(1), 2).await, "delete again");
    assert_eq!(search(e, "", &[], 1, 100).await.total, 11);
}

/// An older event never overwrites newer state; a late upsert never resurrects.
pub async fn out_of_order_events(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let mut v3 = fixture_doc(2);
    v3.title = "Budget Forecaster".into();
    v3.version = 3;
    assert_eq!(ok(e.upsert(v3.clone()).await, "v3"), Applied::Written);
    let mut v2 = fixture_doc(2);
    v2.title = "Budget Planner Old".into();
    v2.version = 2;
    assert_eq!(ok(e.upsert(v2).await, "late v2"), Applied::Stale);
    let page = text(e, "budget").await;
    assert_eq!(
        page.hits
            .iter()
            .find(|h| h.document.project_id == pid(2))
            .map(|h| h.document.clone()),
        Some(v3)
    );

    // Delete at v5, then late upserts at v4 and v5 must not resurrect.
    ok(e.delete(pid(3), 5).await, "delete P3 v5");
    let mut late = fixture_doc(3);
    late.version = 4;
    assert_eq!(ok(e.upsert(late.clone()).await, "late v4"), Applied::Stale);
    late.version = 5;
    assert_eq!(ok(e.upsert(late.clone()).await, "late v5"), Applied::Stale);
    assert!(!ids(&text(e, "weather").await).contains(&pid(3)));
    assert_eq!(search(e, "", &[], 1, 100).await.total, 11);
    // A stale delete (older than the live version) changes nothing.
    let mut p4 = fixture_doc(4);
    p4.version = 7;
    assert_eq!(ok(e.upsert(p4).await, "P4 v7"), Applied::Written);
    ok(e.delete(pid(4), 6).await, "stale delete");
    assert!(ids(&text(e, "pythonic").await).contains(&pid(4)));
    // A delete that arrives before the project was ever indexed still blocks older upserts.
    let ghost = Uuid::from_u128(0xdead);
    ok(e.delete(ghost, 3).await, "delete unknown");
    let mut g = fixture_doc(5);
    g.project_id = ghost;
    g.title = "Ghost project".into();
    g.version = 3;
    assert_eq!(ok(e.upsert(g.clone()).await, "ghost v3"), Applied::Stale);
    assert!(text(e, "ghost").await.hits.is_empty());
    // A genuinely newer version does come back.
    late.version = 6;
    assert_eq!(ok(e.upsert(late).await, "P3 v6"), Applied::Written);
    assert!(ids(&text(e, "weather").await).contains(&pid(3)));
}

/// Bulk upserts follow the same version rules.
pub async fn bulk_upsert_versions(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let mut same = fixture_doc(1);
    same.title = "Python CLI kit".into();
    let mut stale = fixture_doc(2);
    stale.version = 0;
    stale.title = "Stale".into();
    let mut fresh = fixture_doc(5);
    fresh.project_id = Uuid::from_u128(0xbeef);
    fresh.title = "Brand new zeppelin".into();
    let n = ok(e.upsert_many(vec![same, stale, fresh]).await, "upsert_many");
    assert_eq!(n, 2);
    assert_eq!(ids(&text(e, "zeppelin").await), vec![Uuid::from_u128(0xbeef)]);
    assert!(text(e, "stale").await.hits.is_empty());
    assert_eq!(search(e, "", &[], 1, 100).await.total, 13);
}

/// Clear wipes documents and tombstones.
pub async fn clear_wipes_everything(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    ok(e.delete(pid(1), 9).await, "delete");
    ok(e.clear().await, "clear");
    let page = search(e, "", &[], 1, 20).await;
    assert_eq!(page.total, 0);
    assert!(page.hits.is_empty());
    assert_eq!(text(e, "python").await.total, 0);
    assert!(ok(e.suggest("py", 5).await, "suggest").is_empty());
    // The tombstone went too: a rebuild re-adds the project at its version.
    assert_eq!(ok(e.upsert(fixture_doc(1)).await, "re-add"), Applied::Written);
    assert_eq!(search(e, "", &[], 1, 20).await.total, 1);
}

/// Many concurrent writers: every write lands, the highest version wins.
pub async fn concurrent_writes(engine: Arc<dyn SearchEngine>) {
    ok(engine.clear().await, "clear");
    let mut tasks = Vec::new();
    for i in 0..24u128 {
        let e = engine.clone();
        tasks.push(tokio::spawn(async move {
            let mut d = fixture_doc(1);
            d.project_id = Uuid::from_u128(0x1000 + i);
            d.title = format!("Concurrent item{i}");
            e.upsert(d).await
        }));
    }
    // Versions 1..=12 of one project, sent concurrently in scrambled order.
    for v in [7i64, 3, 12, 1, 9, 5, 11, 2, 8, 4, 10, 6] {
        let e = engine.clone();
        tasks.push(tokio::spawn(async move {
            let mut d = fixture_doc(2);
            d.title = format!("Versioned release{v}");
            d.version = v;
            e.upsert(d).await
        }));
    }
    for t in tasks {
        match t.await {
            Ok(r) => {
                ok(r, "concurrent upsert");
            }
            Err(e) => panic!("task: {e}"),
        }
    }
    assert_eq!(search(engine.as_ref(), "", &[], 1, 100).await.total, 25);
    let page = text(engine.as_ref(), "versioned").await;
    assert_eq!(page.hits.len(), 1);
    assert_eq!(page.hits[0].document.version, 12);
    assert_eq!(page.hits[0].document.title, "Versioned release12");
}

/// Every case, in order, on one engine (cleared between cases).
/// Tag facets count the whole result set, not one page: most frequent first, ties by
/// tag, `facet_size` of them (0: none), and they follow the tag filter.
pub async fn facets_over_the_whole_result(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let facets =
        |page: &SearchPage| -> Vec<(String, u64)> { page.facets.iter().map(|f| (f.tag.clone(), f.count)).collect() };
    let all = search(e, "", &[], 1, 1).await;
    assert_eq!(all.hits.len(), 1);
    assert!(all.total_is_exact);
    let expected: Vec<(String, u64)> = vec![
        ("python".into(), 3),
        ("cli".into(), 2),
        ("robotics".into(), 2),
        ("art".into(), 1),
        ("data".into(), 1),
    ];
    let top5 = SearchQuery {
        size: 1,
        facet_size: 5,
        ..Default::default()
    };
    assert_eq!(facets(&ok(e.search(&top5).await, "facets top 5")), expected);
    assert_eq!(all.facets.len(), 13, "every tag of the fixture, under the default 20");

    // A text query: only what matched is counted.
    let python = search(e, "python", &[], 1, 1).await;
    assert_eq!(
        facets(&python)[..2],
        [("python".to_string(), 3), ("cli".to_string(), 1)],
        "{:?}",
        python.facets
    );
    // A tag filter narrows the facets with the hits.
    let filtered = search(e, "", &["cli"], 1, 20).await;
    assert_eq!(
        facets(&filtered),
        vec![
            ("cli".to_string(), 2),
            ("python".to_string(), 1),
            ("rust".to_string(), 1)
        ]
    );
    let none = SearchQuery {
        facet_size: 0,
        ..Default::default()
    };
    assert!(ok(e.search(&none).await, "no facets").facets.is_empty());
    let too_many = SearchQuery {
        facet_size: 101,
        ..Default::default()
    };
    assert!(matches!(e.search(&too_many).await, Err(SearchError::Invalid(_))));
}

/// Both engines light the same words: exact, typo and prefix matches, by character.
pub async fn highlights_by_character(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let page = search(e, "weathr pyth", &[], 1, 20).await;
    let hit = page
        .hits
        .iter()
        .find(|h| h.document.project_id == pid(3))
        .expect("the weather dashboard is found");
    let lit = |text: &str, spans: &[folio_search::Span]| -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        spans.iter().map(|s| chars[s.start..s.end].iter().collect()).collect()
    };
    assert_eq!(lit(&hit.document.title, &hit.highlights.title), ["Weather"]);
    assert_eq!(
        lit(&hit.document.description, &hit.highlights.description),
        ["weather", "pyth"]
    );
    assert_eq!(hit.highlights.tags.len(), 1, "{:?}", hit.highlights.tags);
    assert_eq!(hit.highlights.snippet, hit.document.description);
}

/// A project made for one rule's case (not part of [`fixture`]).
fn extra(n: u128, title: &str, description: &str, tags: &[&str], image_texts: &[&str], updated: u32) -> SearchDocument {
    let mut d = doc(n, U_CAROL, "carol", title, description, tags, updated, false);
    d.image_texts = image_texts.iter().map(|t| t.to_string()).collect();
    d
}

/// The written rule: every word of the query must match, each in any attribute.
pub async fn words_are_all_required(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    assert_eq!(
        ids(&text(e, "python dashboard").await),
        vec![pid(3)],
        "only P3 has both words (title and description)"
    );
    assert_eq!(ids(&text(e, "garden lantern").await), vec![pid(7)]);
    let none = text(e, "python zeppelin").await;
    assert!(none.hits.is_empty(), "a word that matches nothing empties the result");
    assert_eq!(none.total, 0);
    // The order of the words does not change what matches.
    assert_eq!(ids(&text(e, "lantern garden").await), vec![pid(7)]);
    // Words are lower-cased and folded to ASCII, in the index and in the query.
    let accented = extra(120, "Café crème", "Notes from Zürich", &[], &[], 3);
    assert_eq!(ok(e.upsert(accented).await, "upsert accented"), Applied::Written);
    assert_eq!(ids(&text(e, "cafe creme").await), vec![pid(120)]);
    assert_eq!(ids(&text(e, "CAFÉ zurich").await), vec![pid(120)]);
}

/// Typos: first-letter typos cost two, none on words under 5 letters, none on tags.
pub async fn typo_rules_as_written(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    assert!(
        text(e, "yython").await.hits.is_empty(),
        "a first-letter typo on a 6-letter word costs two: no match"
    );
    assert!(
        ids(&text(e, "xashboard").await).contains(&pid(3)),
        "a first-letter typo on a 9-letter word is within its two"
    );
    assert_eq!(
        ids(&text(e, "photography").await),
        vec![pid(6)],
        "a tag matches exactly"
    );
    assert!(
        text(e, "photogarphy").await.hits.is_empty(),
        "no typo tolerance on tags"
    );
    // "photogr" is no word of P6's text (its title's "photo" is two edits away): the
    // tag is reached as a prefix.
    assert_eq!(
        ids(&text(e, "photogr").await),
        vec![pid(6)],
        "a tag still matches as a prefix"
    );
}

/// Prefix: the last word only, and not when the query ends with a separator.
pub async fn prefix_rules_as_written(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    assert_eq!(ids(&text(e, "sketchb").await), vec![pid(12)]);
    assert!(
        text(e, "sketchb ").await.hits.is_empty(),
        "a finished word is not a prefix"
    );
    assert_eq!(ids(&text(e, "sketchbook ").await), vec![pid(12)]);
    assert!(
        text(e, "sketchb daily").await.hits.is_empty(),
        "only the last word is a prefix"
    );
    assert_eq!(ids(&text(e, "daily sketchb").await), vec![pid(12)]);
    assert_eq!(ids(&text(e, "k").await), vec![pid(8)], "one letter is a prefix too");
}

/// Ranking: fewer typos first, then better attributes (summed over words), then
/// newest, then project id.
pub async fn ranking_rules_as_written(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let docs = vec![
        // Title match with a typo, newest.
        extra(101, "Compilr internals", "Notes", &[], &[], 28),
        // Description match without typo, oldest.
        extra(102, "Notes", "A compiler for toys", &[], &[], 2),
        // Both words in the title: attribute sum 0 beats P7 (title + description).
        extra(103, "Lantern garden", "Outdoors", &[], &[], 1),
        // Two projects equal in every rule: the lower project id first.
        extra(105, "Zither tuner", "Strings", &[], &[], 15),
        extra(104, "Zither tuner", "Strings", &[], &[], 15),
    ];
    assert_eq!(ok(e.upsert_many(docs).await, "upsert extras"), 5);
    assert_eq!(
        ids(&text(e, "compiler").await),
        vec![pid(102), pid(101)],
        "no typo in the description beats a typo in the title"
    );
    assert_eq!(ids(&text(e, "garden lantern").await), vec![pid(103), pid(7)]);
    assert_eq!(ids(&text(e, "zither").await), vec![pid(104), pid(105)]);
    assert_eq!(
        &ids(&search(e, "", &[], 1, 3).await)[..],
        &[pid(101), pid(104), pid(105)],
        "an empty query: newest first, then project id"
    );
}

/// Captions and alt texts of public images are searched, ranked below title and tags.
pub async fn image_texts_rank_below_title_and_tags(engine: Arc<dyn SearchEngine>) {
    let e = engine.as_ref();
    seed(e).await;
    let docs = vec![
        extra(
            110,
            "Boat log",
            "Trips",
            &[],
            &["Sunset over the harbour", "a red lighthouse"],
            27,
        ),
        extra(111, "Harbour map", "Charts", &[], &[], 3),
        extra(112, "Sea notes", "Tides", &["harbour"], &[], 2),
    ];
    assert_eq!(ok(e.upsert_many(docs).await, "upsert extras"), 3);
    assert_eq!(
        ids(&text(e, "harbour").await),
        vec![pid(111), pid(112), pid(110)],
        "title, then tag, then image text, whatever the dates"
    );
    assert_eq!(ids(&text(e, "lighthouse").await), vec![pid(110)]);
    assert_eq!(
        ids(&text(e, "lighthuose").await),
        vec![pid(110)],
        "typos apply to image texts"
    );
    let page = text(e, "lighthouse").await;
    assert_eq!(
        page.hits[0].document.image_texts,
        vec!["Sunset over the harbour".to_string(), "a red lighthouse".to_string()],
        "image texts round-trip"
    );
}

pub async fn run_conformance(engine: Arc<dyn SearchEngine>) {
    shapes_and_roundtrip(engine.clone()).await;
    ranking_title_username_description(engine.clone()).await;
    ties_by_updated_at(engine.clone()).await;
    tags_are_searchable_text(engine.clone()).await;
    tag_filter_any_of(engine.clone()).await;
    empty_query_lists_by_updated_at(engine.clone()).await;
    pagination_edges(engine.clone()).await;
    invalid_queries(engine.clone()).await;
    typo_tolerance(engine.clone()).await;
    prefix_last_word(engine.clone()).await;
    suggestions(engine.clone()).await;
    rename_propagation(engine.clone()).await;
    update_propagation(engine.clone()).await;
    delete_propagation(engine.clone()).await;
    out_of_order_events(engine.clone()).await;
    bulk_upsert_versions(engine.clone()).await;
    clear_wipes_everything(engine.clone()).await;
    concurrent_writes(engine.clone()).await;
    facets_over_the_whole_result(engine.clone()).await;
    highlights_by_character(engine.clone()).await;
    words_are_all_required(engine.clone()).await;
    typo_rules_as_written(engine.clone()).await;
    prefix_rules_as_written(engine.clone()).await;
    ranking_rules_as_written(engine.clone()).await;
    image_texts_rank_below_title_and_tags(engine.clone()).await;
    ok(engine.clear().await, "final clear");
}

/// Generates one `#[tokio::test]` per conformance case. `$make` is an
/// expression evaluating to a future of `Arc<dyn SearchEngine>` (a fresh engine).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            shapes_and_roundtrip, ranking_title_username_description, ties_by_updated_at,
            tags_are_searchable_text, tag_filter_any_of, empty_query_lists_by_updated_at,
            pagination_edges, invalid_queries, typo_tolerance, prefix_last_word, suggestions,
            rename_propagation, update_propagation, delete_propagation, out_of_order_events,
            bulk_upsert_versions, clear_wipes_everything, concurrent_writes,
            facets_over_the_whole_result, highlights_by_character, words_are_all_required,
            typo_rules_as_written, prefix_rules_as_written, ranking_rules_as_written,
            image_texts_rank_below_title_and_tags);
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let engine: $crate::search::SharedEngine = $make.await;
                $crate::search::$case(engine).await;
            }
        )*
    };
}
