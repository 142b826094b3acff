//! The shared conformance suite against the embedded tantivy engine, plus
//! tantivy-specific checks (persistence across reopen, write visibility).

use std::sync::Arc;
use std::time::{Duration, Instant};

use folio_search::{Applied, SearchEngine, SearchQuery, SuggestionKind, TantivyEngine};
use folio_testkit::search::{self as suite, fixture, pid};

async fn in_memory() -> Arc<dyn SearchEngine> {
    Arc::new(TantivyEngine::in_memory().expect("in-memory tantivy engine"))
}

folio_testkit::conformance_suite!(in_memory());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine: Arc<dyn SearchEngine> = Arc::new(TantivyEngine::open(dir.path()).expect("open"));
    suite::run_conformance(engine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_tombstones_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let engine = TantivyEngine::open(dir.path()).expect("open");
        suite::seed(&engine).await;
        engine.delete(pid(1), 5).await.expect("delete");
        engine
            .rename_user(suite::U_BOB, "Robert Builder")
            .await
            .expect("rename");
        let mut p2 = fixture()[1].clone();
        p2.version = 4;
        p2.title = "Expense Tracker Pro".into();
        assert_eq!(engine.upsert(p2).await.expect("upsert"), Applied::Written);
    }
    let engine = TantivyEngine::open(dir.path()).expect("reopen");
    assert_eq!(engine.live_count(), 11);
    let all = engine
        .search(&SearchQuery {
            size: 100,
            ..Default::default()
        })
        .await
        .expect("search");
    assert_eq!(all.total, 11);
    // Tombstone kept: a late upsert at or below the delete's version stays out.
    let mut p1 = fixture()[0].clone();
    p1.version = 5;
    assert_eq!(engine.upsert(p1.clone()).await.expect("upsert"), Applied::Stale);
    // Version kept: an older P2 is stale.
    let mut old = fixture()[1].clone();
    old.version = 3;
    assert_eq!(engine.upsert(old).await.expect("upsert"), Applied::Stale);
    let pro = engine.search(&SearchQuery::text("pro")).await.expect("search");
    assert!(
        pro.hits
            .iter()
            .any(|h| h.document.project_id == pid(2) && h.document.version == 4)
    );
    // Rename kept, tag counts rebuilt.
    let bob = engine.search(&SearchQuery::text("builder")).await.expect("search");
    assert_eq!(bob.total, 4);
    let s = engine.suggest("py", 5).await.expect("suggest");
    let python = s.iter().find(|x| x.kind == SuggestionKind::Tag).and_then(|x| x.count);
    assert_eq!(python, Some(2));
    // And a newer version does come back.
    p1.version = 6;
    assert_eq!(engine.upsert(p1).await.expect("upsert"), Applied::Written);
    assert_eq!(engine.live_count(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_is_immediately_searchable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = TantivyEngine::open(dir.path()).expect("open");
    let mut worst = Duration::ZERO;
    for i in 0..30 {
        let mut d = fixture()[0].clone();
        d.project_id = uuid::Uuid::new_v4();
        let marker = format!("p{}", d.project_id.simple());
        d.title = format!("Probe {marker}");
        let t = Instant::now();
        engine.upsert(d.clone()).await.expect("upsert");
        let page = engine.search(&SearchQuery::text(marker)).await.expect("search");
        worst = worst.max(t.elapsed());
        assert_eq!(
            page.hits.len(),
            1,
            "write {i} must be visible as soon as upsert returns"
        );
        assert_eq!(page.hits[0].document.project_id, d.project_id);
    }
    // Generous bound for an unoptimised build on a busy CI machine; the
    // release benchmark measures the real figure.
    assert!(worst < Duration::from_secs(2), "worst write-to-searchable {worst:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_open_of_same_directory_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _engine = TantivyEngine::open(dir.path()).expect("open");
    match TantivyEngine::open(dir.path()) {
        Err(folio_search::SearchError::Internal(_)) => {}
        other => panic!("expected Internal (index locked), got {other:?}"),
    }
}

/// An index written with another schema (an older version's) is derived data: opening
/// it empties it and says so, so the node republishes every project; it is never an
/// error that stops the node, and a second open of the new index keeps its documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_of_an_older_schema_is_emptied_and_reported_for_rebuilding() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut old = tantivy::schema::Schema::builder();
        let title = old.add_text_field("title", tantivy::schema::TEXT | tantivy::schema::STORED);
        let index = tantivy::Index::create_in_dir(dir.path(), old.build()).expect("an older index");
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).expect("writer");
        writer
            .add_document(tantivy::doc!(title => "from an older version"))
            .expect("add");
        writer.commit().expect("commit");
    }
    let engine = TantivyEngine::open(dir.path()).expect("an older index opens");
    assert!(engine.was_rebuilt() && engine.needs_rebuild());
    assert_eq!(engine.live_count(), 0);
    suite::seed(&engine).await;
    drop(engine);
    let again = TantivyEngine::open(dir.path()).expect("reopen");
    assert!(!again.needs_rebuild(), "the rebuilt index has this version's schema");
    assert_eq!(again.live_count(), fixture().len());
}
