//! [`RecordingSearch`]: the search engine the kit's indexer writes to. It is the embedded
//! tantivy engine, in memory, with every write recorded in the order the engine got it
//! (so a test sees how the indexer batched and ordered its writes), and writes that can
//! be made to fail the way an unreachable or refusing engine fails.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use folio_search::{
    Applied, SearchDocument, SearchEngine, SearchError, SearchPage, SearchQuery, Suggestion, TantivyEngine,
};
use uuid::Uuid;

/// One write the engine was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchWrite {
    /// One call of `upsert_many` (or `upsert`): `(project_id, version)` of each document,
    /// in the order sent.
    Upsert(Vec<(Uuid, i64)>),
    Delete {
        project_id: Uuid,
        version: i64,
    },
    Rename {
        user_id: Uuid,
        display_name: String,
    },
}

/// How the next writes fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchFault {
    /// [`SearchError::Unavailable`]: the indexer retries.
    Unavailable,
    /// [`SearchError::Invalid`]: the engine refuses the document; the indexer drops it.
    Invalid,
}

#[derive(Default)]
struct Recorded {
    writes: Vec<SearchWrite>,
    /// Writes still to fail, and how.
    fault: Option<(u32, SearchFault)>,
}

/// An in-memory tantivy engine that records writes. Clones share the index.
#[derive(Clone)]
pub struct RecordingSearch {
    engine: Arc<TantivyEngine>,
    recorded: Arc<Mutex<Recorded>>,
}

impl RecordingSearch {
    pub fn new() -> Self {
        Self {
            engine: Arc::new(TantivyEngine::in_memory().expect("an in-memory tantivy index")),
            recorded: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every write so far, in the order the engine finished them (failed ones included).
    pub fn writes(&self) -> Vec<SearchWrite> {
        self.lock().writes.clone()
    }

    /// The next `times` writes fail with `fault` (recorded all the same).
    pub fn fail_next(&self, times: u32, fault: SearchFault) {
        self.lock().fault = Some((times, fault));
    }

    /// The document the index holds for `project_id`, found by an empty query.
    pub async fn document(&self, project_id: Uuid) -> Option<SearchDocument> {
        let page = self
            .engine
            .search(&SearchQuery {
                query: String::new(),
                tags: Vec::new(),
                page: 1,
                size: folio_search::MAX_PAGE_SIZE,
                facet_size: 0,
            })
            .await
            .expect("searching the in-memory index");
        page.hits
            .into_iter()
            .map(|hit| hit.document)
            .find(|doc| doc.project_id == project_id)
    }

    /// The fault to answer this write with, if one is set; counts it down.
    fn fault(&self) -> Option<SearchError> {
        let mut recorded = self.lock();
        let (left, fault) = recorded.fault.as_mut()?;
        if *left == 0 {
            return None;
        }
        *left -= 1;
        Some(match fault {
            SearchFault::Unavailable => SearchError::Unavailable("fault set by the test".into()),
            SearchFault::Invalid => SearchError::Invalid("fault set by the test".into()),
        })
    }

    /// Runs `write` on the engine unless a fault answers it, and records it once it
    /// is done: a test that sees the write sees its effect.
    async fn write<T>(
        &self,
        record: SearchWrite,
        write: impl std::future::Future<Output = Result<T, SearchError>>,
    ) -> Result<T, SearchError> {
        let result = match self.fault() {
            Some(fault) => Err(fault),
            None => write.await,
        };
        self.lock().writes.push(record);
        result
    }
}

impl Default for RecordingSearch {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl SearchEngine for RecordingSearch {
    fn name(&self) -> &'static str {
        "recording-tantivy"
    }

    async fn upsert(&self, doc: SearchDocument) -> Result<Applied, SearchError> {
        let record = SearchWrite::Upsert(vec![(doc.project_id, doc.version)]);
        self.write(record, self.engine.upsert(doc)).await
    }

    async fn upsert_many(&self, docs: Vec<SearchDocument>) -> Result<u64, SearchError> {
        let record = SearchWrite::Upsert(docs.iter().map(|d| (d.project_id, d.version)).collect());
        self.write(record, self.engine.upsert_many(docs)).await
    }

    async fn delete(&self, project_id: Uuid, version: i64) -> Result<(), SearchError> {
        let record = SearchWrite::Delete { project_id, version };
        self.write(record, self.engine.delete(project_id, version)).await
    }

    async fn rename_user(&self, user_id: Uuid, display_name: &str) -> Result<u64, SearchError> {
        let record = SearchWrite::Rename {
            user_id,
            display_name: display_name.to_string(),
        };
        self.write(record, self.engine.rename_user(user_id, display_name)).await
    }

    async fn search(&self, q: &SearchQuery) -> Result<SearchPage, SearchError> {
        self.engine.search(q).await
    }

    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        self.engine.suggest(prefix, limit).await
    }

    async fn clear(&self) -> Result<(), SearchError> {
        self.engine.clear().await
    }

    async fn ping(&self) -> Result<(), SearchError> {
        self.engine.ping().await
    }
}
