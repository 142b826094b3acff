//! The embedded engine's count cap: totals exact up to the cap, an estimate past it
//! (`total_is_exact: false`), pages exact and stable either way, facets scaled past
//! it. A small cap is injected (`TantivyEngine::with_count_cap`) so that a few hundred
//! documents pass it; the index is written in several commits (so several segments,
//! each sorted newest first) and has deleted documents, which the scan must skip.

use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use folio_search::bench::{generate_documents, generate_queries, kind_queries};
use folio_search::{EXACT_COUNT_CAP, SearchDocument, SearchEngine, SearchPage, SearchQuery, TantivyEngine};
use uuid::Uuid;

const CAP: u64 = 50;

fn project(n: u64) -> Uuid {
    Uuid::from_u64_pair(0xCA9_0000, n)
}

/// Project `n`: "alpha" in the title of every third project and in the description
/// of the others; tag `common` on all, `even` on every second; `updated_at` spread so
/// that every commit's segment holds old and new projects, with some equal times.
fn doc(n: u64) -> SearchDocument {
    let updated = Utc
        .timestamp_opt(1_700_000_000 + ((n * 7919) % 97) as i64 * 3600, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let (title, description) = if n.is_multiple_of(3) {
        (format!("Alpha project {n}"), "a project".to_string())
    } else {
        (format!("Project {n}"), "has alpha inside".to_string())
    };
    let mut tags = vec!["common".to_string()];
    if n.is_multiple_of(2) {
        tags.push("even".into());
    }
    if n < 30 {
        tags.push("rare".into());
    }
    SearchDocument {
        project_id: project(n),
        user_id: Uuid::from_u64_pair(0xCA9_0001, n % 5),
        username: format!("user{}", n % 5),
        title,
        description,
        tags,
        image_texts: Vec::new(),
        thumbnail_url: None,
        created_at: updated,
        updated_at: updated,
        version: 1,
    }
}

/// `count` projects written in commits of `commit` documents, then every tenth deleted.
async fn loaded(engine: &TantivyEngine, count: u64, commit: u64) {
    let docs: Vec<SearchDocument> = (0..count).map(doc).collect();
    for chunk in docs.chunks(commit as usize) {
        engine.upsert_many(chunk.to_vec()).await.expect("upsert_many");
    }
    for n in (0..count).step_by(10) {
        engine.delete(project(n), 2).await.expect("delete");
    }
}

fn capped() -> TantivyEngine {
    TantivyEngine::in_memory().expect("engine").with_count_cap(CAP)
}

async fn search(engine: &TantivyEngine, query: &str, tags: &[&str], page: u32, size: u32) -> SearchPage {
    engine
        .search(&SearchQuery {
            query: query.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            page,
            size,
            facet_size: 10,
        })
        .await
        .expect("search")
}

fn ids(page: &SearchPage) -> Vec<Uuid> {
    page.hits.iter().map(|h| h.document.project_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_cap_totals_and_facets_are_exact() {
    let engine = capped();
    loaded(&engine, 300, 40).await;
    // `rare` is on projects 0..30, of which 0, 10 and 20 are deleted.
    for query in ["", "alpha"] {
        let rare = search(&engine, query, &["rare"], 1, 10).await;
        assert!(rare.total_is_exact, "{query:?}");
        assert_eq!(rare.total, 27, "{query:?}");
        let count = |tag: &str| rare.facets.iter().find(|f| f.tag == tag).map(|f| f.count);
        assert_eq!(count("common"), Some(27), "{query:?}");
        assert_eq!(count("rare"), Some(27), "{query:?}");
        // Even projects under 30, less the three deleted: 2, 4, 6, 8, 12, …, 28.
        assert_eq!(count("even"), Some(12), "{query:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_exact_one_past_it_an_estimate() {
    let engine = capped();
    let docs: Vec<SearchDocument> = (0..CAP + 1).map(doc).collect();
    engine.upsert_many(docs[..CAP as usize].to_vec()).await.expect("upsert");
    let at = search(&engine, "alpha", &[], 1, 10).await;
    assert!(at.total_is_exact, "{CAP} matches are counted exactly");
    assert_eq!(at.total, CAP);
    engine.upsert_many(docs[CAP as usize..].to_vec()).await.expect("upsert");
    let past = search(&engine, "alpha", &[], 1, 10).await;
    assert!(!past.total_is_exact, "{} matches pass the cap", CAP + 1);
    assert!(past.total > CAP, "an estimate past the cap is above it: {}", past.total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_the_total_is_an_estimate_and_pages_stay_stable() {
    let engine = capped();
    loaded(&engine, 400, 64).await;
    let reference = TantivyEngine::in_memory().expect("engine");
    loaded(&reference, 400, 400).await;
    // 400 projects, every tenth deleted (all of them even).
    let live = 360u64;
    for (query, tags, matches) in [
        ("alpha", vec![], live),
        ("", vec![], live),
        ("", vec!["even"], 160),
        ("projct", vec![], live),
        ("alpha", vec!["even"], 160),
    ] {
        let exact = search(&reference, query, &tags, 1, 20).await;
        assert!(exact.total_is_exact, "below the default cap of {EXACT_COUNT_CAP}");
        assert_eq!(exact.total, matches, "{query:?} {tags:?}");
        let first = search(&engine, query, &tags, 1, 20).await;
        assert!(!first.total_is_exact, "{query:?} {tags:?} passes the cap of {CAP}");
        assert!(
            first.total > CAP && first.total <= live,
            "{query:?}: the estimate {} is past the cap and at most the live projects",
            first.total
        );
        // Every page: the same total and facets, disjoint, and in the exact order.
        let mut seen: Vec<Uuid> = Vec::new();
        for page in 1.. {
            let got = search(&engine, query, &tags, page, 20).await;
            let want = search(&reference, query, &tags, page, 20).await;
            assert_eq!(got.total, first.total, "{query:?} page {page}: the same total");
            assert_eq!(got.facets, first.facets, "{query:?} page {page}: the same facets");
            assert_eq!(ids(&got), ids(&want), "{query:?} page {page}: the exact order");
            if got.hits.is_empty() {
                break;
            }
            seen.extend(ids(&got));
        }
        let distinct: HashSet<Uuid> = seen.iter().copied().collect();
        assert_eq!(distinct.len(), seen.len(), "{query:?}: pages do not overlap");
        assert_eq!(seen.len() as u64, matches, "{query:?}: the pages hold every match");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_facets_are_scaled_to_the_estimate() {
    let engine = capped();
    loaded(&engine, 400, 64).await;
    let page = search(&engine, "alpha", &[], 1, 20).await;
    assert!(!page.total_is_exact);
    let count = |tag: &str| page.facets.iter().find(|f| f.tag == tag).map(|f| f.count);
    // Every match has `common`: its share of the counted matches is 1.
    assert_eq!(count("common"), Some(page.total));
    // `even` is on half of them, within the sampling error of 50 matches.
    let even = count("even").expect("even counted") as f64;
    assert!(
        (0.3..=0.7).contains(&(even / page.total as f64)),
        "even: {even} of {}",
        page.total
    );
    assert!(page.facets.iter().all(|f| f.count <= page.total));
}

/// The early stop of the scan (and the narrowed scan of queries whose page is not
/// settled in the best bucket) never changes a page: generated projects in several
/// commits, the benchmark's queries plus titles and description openings of the
/// projects (two to five words, many matches in every attribute), pages 1 to 3, at a
/// cap of 5 (every query but the rarest passes it) and of 50, against an engine that
/// counts (and so scans) every match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_stop_gives_the_pages_of_a_full_scan() {
    let docs = generate_documents(3_000, 200, 11);
    let reference = TantivyEngine::in_memory().expect("engine");
    reference.upsert_many(docs.clone()).await.expect("upsert");
    let mut queries = generate_queries(120, 11);
    queries.extend(kind_queries(10, 11).into_iter().flat_map(|(_, qs)| qs));
    for d in docs.iter().step_by(150) {
        queries.push(SearchQuery::text(d.title.clone()));
        let opening: Vec<&str> = d.description.split(' ').take(5).collect();
        queries.push(SearchQuery::text(opening.join(" ")));
    }
    for cap in [5, CAP] {
        let engine = TantivyEngine::in_memory().expect("engine").with_count_cap(cap);
        for chunk in docs.chunks(700) {
            engine.upsert_many(chunk.to_vec()).await.expect("upsert");
        }
        let mut estimated = 0;
        for q in &queries {
            for page in 1..=3 {
                let q = SearchQuery { page, ..q.clone() };
                let got = engine.search(&q).await.expect("search");
                let want = reference.search(&q).await.expect("search");
                assert!(want.total_is_exact);
                let got_ids: Vec<Uuid> = got.hits.iter().map(|h| h.document.project_id).collect();
                let want_ids: Vec<Uuid> = want.hits.iter().map(|h| h.document.project_id).collect();
                assert_eq!(got_ids, want_ids, "cap {cap}: {q:?}");
                if want.total <= cap {
                    assert!(got.total_is_exact, "cap {cap}: {q:?}");
                    assert_eq!(got.total, want.total, "cap {cap}: {q:?}");
                    assert_eq!(got.facets, want.facets, "cap {cap}: {q:?}");
                } else {
                    assert!(!got.total_is_exact, "cap {cap}: {q:?}");
                    estimated += 1;
                }
            }
        }
        assert!(
            estimated > 100,
            "cap {cap}: the queries pass the cap often enough to test it: {estimated}"
        );
    }
}
