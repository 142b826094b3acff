//! Parity of the two engines: the same generated queries on tantivy and on
//! Meilisearch over one generated fixture of 2 000 projects, compared by hit sets,
//! first-page order, totals and facets. Meilisearch is a real server when
//! `FOLIO_TEST_MEILISEARCH_URL` is set, else the local stub that answers like one
//! given the settings the adapter sends. The figure and every differing query (with
//! its reasons) are printed; the goal is asserted: the same top 10 in at least 95 %
//! of the queries, the same facets in all.

use folio_search::{MeiliEngine, MeiliSettings, SearchEngine, TantivyEngine};
use folio_testkit::meili_stub::StubServer;
use folio_testkit::parity;

const DOCUMENTS: usize = 2_000;
const QUERIES: usize = 264;
const SEED: u64 = 2026;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tantivy_and_meilisearch_answer_alike() {
    let (meili, _stub, against) = match std::env::var("FOLIO_TEST_MEILISEARCH_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let key = std::env::var("FOLIO_TEST_MEILISEARCH_KEY").ok();
            let engine = MeiliEngine::connect(MeiliSettings {
                url,
                api_key: key,
                index: format!("parity_{}", uuid::Uuid::new_v4().simple()),
            })
            .await
            .expect("connect to FOLIO_TEST_MEILISEARCH_URL");
            (engine, None, "a real Meilisearch server")
        }
        _ => {
            let stub = StubServer::start(None).await;
            let engine = MeiliEngine::connect(MeiliSettings {
                url: stub.url.clone(),
                api_key: None,
                index: "parity".into(),
            })
            .await
            .expect("connect to the stub");
            (
                engine,
                Some(stub),
                "the Meilisearch stub (FOLIO_TEST_MEILISEARCH_URL is not set)",
            )
        }
    };
    let tantivy = TantivyEngine::in_memory().expect("tantivy in memory");
    let docs = parity::fixture(DOCUMENTS, SEED);
    let queries = parity::queries(&docs, QUERIES, SEED);
    assert_eq!(
        tantivy.upsert_many(docs.clone()).await.expect("load tantivy"),
        DOCUMENTS as u64
    );
    assert_eq!(
        meili.upsert_many(docs).await.expect("load meilisearch"),
        DOCUMENTS as u64
    );

    let report = parity::compare(&tantivy, &meili, DOCUMENTS, &queries).await;
    println!("parity against {against}\n{report}");
    assert!(report.queries >= 200, "at least 200 queries");
    assert!(
        report.top_percent() >= 95.0,
        "the same top {} in {:.1} % of the queries, below 95 %:\n{report}",
        parity::TOP,
        report.top_percent()
    );
    assert_eq!(
        report.same_facets, report.queries,
        "facets must be the same for every query:\n{report}"
    );
}
