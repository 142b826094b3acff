//! Meilisearch engine (cluster mode) through `meilisearch-sdk`.
//!
//! Stored document: the [`SearchDocument`] fields, `created_at`/`updated_at` as
//! unix milliseconds (numbers, so `sort` and the `updated_at:desc` ranking rule
//! work; sub-millisecond precision is dropped), `version`, and `deleted: false`.
//! A tombstone is `{project_id, version, deleted: true}` (a full replace, so the
//! other fields vanish). Every read filters on `deleted = false`, so tombstones
//! — and any half document a racing partial update could create — never show.
//!
//! Version check: the stored `version`/`deleted` is fetched before a write; a
//! per-project lock (64 stripes) serialises check-and-write inside this process.
//! Every write waits for its task, so it is searchable when the call returns.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use meilisearch_sdk::client::Client;
use meilisearch_sdk::documents::{DocumentQuery, DocumentsQuery, DocumentsResults};
use meilisearch_sdk::errors::{Error as MeiliError, ErrorCode, ErrorType, MeilisearchError};
use meilisearch_sdk::indexes::Index;
use meilisearch_sdk::search::{MatchingStrategies, SearchResults, Selectors};
use meilisearch_sdk::settings::{
    FacetSortValue, FacetingSettings, MinWordSizeForTypos, PaginationSetting, Settings, TypoToleranceSettings,
};
use meilisearch_sdk::task_info::TaskInfo;
use meilisearch_sdk::tasks::Task;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Mutex, OnceCell};
use uuid::Uuid;

use crate::text::normalize_doc;
use crate::{
    Applied, SearchDocument, SearchEngine, SearchError, SearchHit, SearchPage, SearchQuery, Suggestion, SuggestionKind,
};

/// Searchable attributes, most important first (the `attributeRank` rule).
pub const SEARCHABLE_ATTRIBUTES: [&str; 5] = ["title", "username", "description", "tags", "image_texts"];
pub const FILTERABLE_ATTRIBUTES: [&str; 3] = ["tags", "user_id", "deleted"];
pub const SORTABLE_ATTRIBUTES: [&str; 2] = ["updated_at", "created_at"];
/// The written rule (contract, section 7): every word matches (`words` with the
/// matching strategy `all`), then fewer typos, then better attributes, then newest,
/// then project id. `proximity`, `wordPosition` and `exactness` are left out: the
/// embedded engine does not compute them, and the two engines must rank alike.
pub const RANKING_RULES: [&str; 6] = [
    "words",
    "typo",
    "attributeRank",
    "sort",
    "updated_at:desc",
    "project_id:asc",
];
/// Attributes where a word must match without typos (prefixes still count).
pub const TYPOS_DISABLED_ON: [&str; 1] = ["tags"];
/// Lets `total` and pagination go past Meilisearch's default cap of 1000 hits.
pub const MAX_TOTAL_HITS: usize = 100_000;

const LIVE_FILTER: &str = "deleted = false";
const LOCK_STRIPES: usize = 64;
/// Budget of one HTTP call (the SDK's reqwest client has no timeout).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a task is polled.
const TASK_POLL: Duration = Duration::from_millis(10);
/// How long a single-document task may take (SDK default is 5 s).
const TASK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a bulk task may take.
const BULK_TASK_TIMEOUT: Duration = Duration::from_secs(600);
const BULK_CHUNK: usize = 5_000;
const FETCH_CHUNK: usize = 1_000;

/// Where the Meilisearch server is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeiliSettings {
    pub url: String,
    pub api_key: Option<String>,
    /// Index uid; `"projects"` by default.
    pub index: String,
}

impl Default for MeiliSettings {
    fn default() -> Self {
        MeiliSettings {
            url: "http://127.0.0.1:7700".into(),
            api_key: None,
            index: "projects".into(),
        }
    }
}

/// The Meilisearch-backed engine.
pub struct MeiliEngine {
    client: Client,
    index_uid: String,
    ready: OnceCell<()>,
    locks: Vec<Mutex<()>>,
}

impl std::fmt::Debug for MeiliEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeiliEngine")
            .field("url", &self.client.get_host())
            .field("index", &self.index_uid)
            .finish()
    }
}

/// Maps SDK errors: unreachable / 5xx / timeouts → `Unavailable`, bad requests → `Invalid`.
pub fn map_error(e: MeiliError) -> SearchError {
    match e {
        MeiliError::HttpError(e) => SearchError::Unavailable(format!("meilisearch unreachable: {e}")),
        MeiliError::Timeout => SearchError::Unavailable("meilisearch task did not finish in time".into()),
        MeiliError::MeilisearchCommunication(c)
            if c.status_code >= 500 || c.status_code == 429 || c.status_code == 408 =>
        {
            SearchError::Unavailable(format!("meilisearch answered {}", c.status_code))
        }
        MeiliError::Meilisearch(m) => map_meili_error(m),
        other => SearchError::Internal(other.to_string()),
    }
}

fn map_meili_error(m: MeilisearchError) -> SearchError {
    match m.error_type {
        ErrorType::Internal => SearchError::Unavailable(format!("meilisearch internal error: {}", m.error_message)),
        ErrorType::InvalidRequest => SearchError::Invalid(m.error_message),
        _ => SearchError::Internal(format!("meilisearch {}: {}", m.error_type, m.error_message)),
    }
}

async fn call<T>(fut: impl Future<Output = Result<T, MeiliError>>) -> Result<T, SearchError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(r) => r.map_err(map_error),
        Err(_) => Err(SearchError::Unavailable("meilisearch request timed out".into())),
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn millis_to_dt(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => n.as_i64().and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        Value::String(s) => DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc)),
        _ => None,
    }
}

/// The stored form of a live document (what every write sends; the bench feeds the
/// same to the documents API).
pub fn document_json(doc: &SearchDocument) -> Value {
    live_json(doc)
}

fn live_json(doc: &SearchDocument) -> Value {
    json!({
        "project_id": doc.project_id,
        "user_id": doc.user_id,
        "username": doc.username,
        "title": doc.title,
        "description": doc.description,
        "tags": doc.tags,
        "image_texts": doc.image_texts,
        "thumbnail_url": doc.thumbnail_url,
        "created_at": doc.created_at.timestamp_millis(),
        "updated_at": doc.updated_at.timestamp_millis(),
        "version": doc.version,
        "deleted": false,
    })
}

/// A stored document as read back (lenient: any field may be missing).
#[derive(Debug, Deserialize)]
struct StoredDoc {
    project_id: Uuid,
    user_id: Option<Uuid>,
    username: Option<String>,
    title: Option<String>,
    description: Option<String>,
    tags: Option<Vec<String>>,
    image_texts: Option<Vec<String>>,
    thumbnail_url: Option<String>,
    #[serde(default)]
    created_at: Value,
    #[serde(default)]
    updated_at: Value,
    version: Option<i64>,
}

impl StoredDoc {
    fn into_document(self) -> Option<SearchDocument> {
        Some(SearchDocument {
            project_id: self.project_id,
            user_id: self.user_id?,
            username: self.username.unwrap_or_default(),
            title: self.title?,
            description: self.description.unwrap_or_default(),
            tags: self.tags.unwrap_or_default(),
            image_texts: self.image_texts.unwrap_or_default(),
            thumbnail_url: self.thumbnail_url,
            created_at: millis_to_dt(&self.created_at)?,
            updated_at: millis_to_dt(&self.updated_at)?,
            version: self.version.unwrap_or(0),
        })
    }
}

#[derive(Debug, Deserialize)]
struct VersionOnly {
    project_id: Uuid,
    version: Option<i64>,
    deleted: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    project_id: Uuid,
}

#[derive(Debug, Deserialize)]
struct TitleOnly {
    project_id: Uuid,
    title: Option<String>,
    #[serde(default)]
    updated_at: Value,
}

/// (version, is tombstone) of what the index holds.
type Stored = Option<(i64, bool)>;

fn accepts_upsert(stored: Stored, version: i64) -> bool {
    match stored {
        None => true,
        Some((v, false)) => version >= v,
        Some((v, true)) => version > v,
    }
}

fn accepts_delete(stored: Stored, version: i64) -> bool {
    match stored {
        None => true,
        Some((v, false)) => version >= v,
        Some((v, true)) => version > v,
    }
}

impl MeiliEngine {
    /// Builds the engine without any I/O; the index and its settings are
    /// ensured on first use (so a node can start while Meilisearch is down).
    pub fn new(settings: MeiliSettings) -> Result<Self, SearchError> {
        let index = if settings.index.trim().is_empty() {
            "projects".to_string()
        } else {
            settings.index
        };
        let client = Client::new(settings.url.trim_end_matches('/'), settings.api_key.as_deref())
            .map_err(|e| SearchError::Invalid(format!("meilisearch client: {e}")))?;
        Ok(MeiliEngine {
            client,
            index_uid: index,
            ready: OnceCell::new(),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        })
    }

    /// Builds the engine and creates the index (primary key `project_id`) and its settings.
    pub async fn connect(settings: MeiliSettings) -> Result<Self, SearchError> {
        let engine = Self::new(settings)?;
        engine.ensure_ready().await?;
        Ok(engine)
    }

    pub fn index_uid(&self) -> &str {
        &self.index_uid
    }

    fn index(&self) -> Index {
        self.client.index(&self.index_uid)
    }

    fn lock_for(&self, id: Uuid) -> &Mutex<()> {
        &self.locks[(id.as_u128() % LOCK_STRIPES as u128) as usize]
    }

    /// The settings this engine applies to its index.
    pub fn index_settings() -> Settings {
        Settings::new()
            .with_searchable_attributes(SEARCHABLE_ATTRIBUTES)
            .with_filterable_attributes(FILTERABLE_ATTRIBUTES)
            .with_sortable_attributes(SORTABLE_ATTRIBUTES)
            .with_ranking_rules(RANKING_RULES)
            // Meilisearch's default word sizes, written out: they are the contract's.
            .with_typo_tolerance(TypoToleranceSettings {
                enabled: Some(true),
                disable_on_attributes: Some(TYPOS_DISABLED_ON.iter().map(|a| a.to_string()).collect()),
                disable_on_words: Some(Vec::new()),
                min_word_size_for_typos: Some(MinWordSizeForTypos {
                    one_typo: Some(5),
                    two_typos: Some(9),
                }),
                disable_on_numbers: None,
            })
            .with_displayed_attributes(["*"])
            .with_pagination(PaginationSetting {
                max_total_hits: MAX_TOTAL_HITS,
            })
            // Tag facets as both engines give them: the most frequent first.
            .with_faceting(FacetingSettings {
                max_values_per_facet: crate::MAX_FACET_SIZE as usize,
                sort_facet_values_by: Some(std::collections::BTreeMap::from([(
                    "tags".to_string(),
                    FacetSortValue::Count,
                )])),
            })
    }

    async fn ensure_ready(&self) -> Result<(), SearchError> {
        self.ready
            .get_or_try_init(|| async {
                let task = call(self.client.create_index(&self.index_uid, Some("project_id"))).await?;
                match self.wait_raw(task, TASK_TIMEOUT).await? {
                    Task::Failed { content } if !matches!(content.error.error_code, ErrorCode::IndexAlreadyExists) => {
                        return Err(map_meili_error(content.error));
                    }
                    _ => {}
                }
                let task = call(self.index().set_settings(&Self::index_settings())).await?;
                self.wait(task, TASK_TIMEOUT).await?;
                tracing::info!(index = %self.index_uid, "meilisearch index ready");
                Ok(())
            })
            .await
            .map(|_| ())
    }

    async fn wait_raw(&self, task: TaskInfo, timeout: Duration) -> Result<Task, SearchError> {
        task.wait_for_completion(&self.client, Some(TASK_POLL), Some(timeout))
            .await
            .map_err(map_error)
    }

    async fn wait(&self, task: TaskInfo, timeout: Duration) -> Result<(), SearchError> {
        match self.wait_raw(task, timeout).await? {
            Task::Failed { content } => Err(map_meili_error(content.error)),
            _ => Ok(()),
        }
    }

    async fn stored(&self, id: Uuid) -> Result<Stored, SearchError> {
        let idx = self.index();
        let mut q = DocumentQuery::new(&idx);
        q.with_fields(["project_id", "version", "deleted"]);
        match tokio::time::timeout(
            REQUEST_TIMEOUT,
            idx.get_document_with::<VersionOnly>(&id.to_string(), &q),
        )
        .await
        {
            Err(_) => Err(SearchError::Unavailable("meilisearch request timed out".into())),
            Ok(Ok(d)) => Ok(Some((d.version.unwrap_or(i64::MIN), d.deleted.unwrap_or(false)))),
            Ok(Err(MeiliError::Meilisearch(m))) if matches!(m.error_code, ErrorCode::DocumentNotFound) => Ok(None),
            Ok(Err(e)) => Err(map_error(e)),
        }
    }

    async fn stored_many(&self, ids: &[String]) -> Result<HashMap<Uuid, (i64, bool)>, SearchError> {
        let idx = self.index();
        let mut out = HashMap::new();
        for chunk in ids.chunks(FETCH_CHUNK) {
            let mut q = DocumentsQuery::new(&idx);
            q.with_ids(chunk.iter().map(|s| s.as_str()))
                .with_fields(["project_id", "version", "deleted"])
                .with_limit(chunk.len());
            let res: DocumentsResults<VersionOnly> = call(idx.get_documents_with(&q)).await?;
            for d in res.results {
                out.insert(
                    d.project_id,
                    (d.version.unwrap_or(i64::MIN), d.deleted.unwrap_or(false)),
                );
            }
        }
        Ok(out)
    }

    fn live_filter_with_tags(tags: &[String]) -> String {
        if tags.is_empty() {
            LIVE_FILTER.to_string()
        } else {
            let list: Vec<String> = tags.iter().map(|t| quote(t)).collect();
            format!("{LIVE_FILTER} AND tags IN [{}]", list.join(", "))
        }
    }
}

#[async_trait]
impl SearchEngine for MeiliEngine {
    fn name(&self) -> &'static str {
        "meilisearch"
    }

    async fn upsert(&self, doc: SearchDocument) -> Result<Applied, SearchError> {
        self.ensure_ready().await?;
        let doc = normalize_doc(doc);
        let _guard = self.lock_for(doc.project_id).lock().await;
        let stored = self.stored(doc.project_id).await?;
        if !accepts_upsert(stored, doc.version) {
            return Ok(Applied::Stale);
        }
        let task = call(self.index().add_or_replace(&[live_json(&doc)], Some("project_id"))).await?;
        self.wait(task, TASK_TIMEOUT).await?;
        Ok(Applied::Written)
    }

    async fn upsert_many(&self, docs: Vec<SearchDocument>) -> Result<u64, SearchError> {
        self.ensure_ready().await?;
        if docs.is_empty() {
            return Ok(0);
        }
        // Highest version per project wins inside the batch.
        let mut latest: HashMap<Uuid, SearchDocument> = HashMap::new();
        for doc in docs {
            let doc = normalize_doc(doc);
            match latest.get(&doc.project_id) {
                Some(cur) if cur.version > doc.version => {}
                _ => {
                    latest.insert(doc.project_id, doc);
                }
            }
        }
        // Exclusive: take every stripe, in order.
        let mut guards = Vec::with_capacity(self.locks.len());
        for l in &self.locks {
            guards.push(l.lock().await);
        }
        let ids: Vec<String> = latest.keys().map(|k| k.to_string()).collect();
        let stored = self.stored_many(&ids).await?;
        let accepted: Vec<Value> = latest
            .values()
            .filter(|d| accepts_upsert(stored.get(&d.project_id).copied(), d.version))
            .map(live_json)
            .collect();
        for chunk in accepted.chunks(BULK_CHUNK) {
            let task = call(self.index().add_or_replace(chunk, Some("project_id"))).await?;
            self.wait(task, BULK_TASK_TIMEOUT).await?;
        }
        Ok(accepted.len() as u64)
    }

    async fn delete(&self, project_id: Uuid, version: i64) -> Result<(), SearchError> {
        self.ensure_ready().await?;
        let _guard = self.lock_for(project_id).lock().await;
        let stored = self.stored(project_id).await?;
        if !accepts_delete(stored, version) {
            return Ok(());
        }
        let tomb = json!({ "project_id": project_id, "version": version, "deleted": true });
        let task = call(self.index().add_or_replace(&[tomb], Some("project_id"))).await?;
        self.wait(task, TASK_TIMEOUT).await
    }

    async fn rename_user(&self, user_id: Uuid, display_name: &str) -> Result<u64, SearchError> {
        self.ensure_ready().await?;
        let idx = self.index();
        let filter = format!("user_id = {} AND {LIVE_FILTER}", quote(&user_id.to_string()));
        let mut ids = Vec::new();
        loop {
            let mut q = DocumentsQuery::new(&idx);
            q.with_filter(&filter)
                .with_fields(["project_id"])
                .with_limit(FETCH_CHUNK)
                .with_offset(ids.len());
            let res: DocumentsResults<IdOnly> = call(idx.get_documents_with(&q)).await?;
            let n = res.results.len();
            ids.extend(res.results.into_iter().map(|d| d.project_id));
            if n < FETCH_CHUNK || ids.len() >= res.total as usize {
                break;
            }
        }
        let updates: Vec<Value> = ids
            .iter()
            .map(|id| json!({ "project_id": id, "username": display_name }))
            .collect();
        for chunk in updates.chunks(BULK_CHUNK) {
            let task = call(idx.add_or_update(chunk, Some("project_id"))).await?;
            self.wait(task, BULK_TASK_TIMEOUT).await?;
        }
        Ok(ids.len() as u64)
    }

    async fn search(&self, q: &SearchQuery) -> Result<SearchPage, SearchError> {
        q.validate()?;
        self.ensure_ready().await?;
        let idx = self.index();
        let filter = Self::live_filter_with_tags(&q.normalized_tags());
        // Only leading blanks go: a trailing separator says the last word is finished
        // (no prefix), which Meilisearch reads from the query as sent.
        let query = q.query.trim_start();
        let sort = ["updated_at:desc"];
        let mut sq = idx.search();
        sq.with_query(query)
            .with_filter(&filter)
            .with_page(q.page as usize)
            .with_hits_per_page(q.size as usize)
            .with_show_ranking_score(true)
            // Every word must match (the written rule), not words dropped from the end.
            .with_matching_strategy(MatchingStrategies::ALL);
        let facets = ["tags"];
        if q.facet_size > 0 {
            sq.with_facets(Selectors::Some(&facets));
        }
        if query.is_empty() {
            sq.with_sort(&sort);
        }
        let res: SearchResults<StoredDoc> = call(sq.execute()).await?;
        let total = res.total_hits.or(res.estimated_total_hits).unwrap_or(0) as u64;
        // Meilisearch counts exhaustively up to `maxTotalHits` and stops there.
        let total_is_exact = res.total_hits.is_some() && total < MAX_TOTAL_HITS as u64;
        let facets = res
            .facet_distribution
            .and_then(|mut by_facet| by_facet.remove("tags"))
            .unwrap_or_default()
            .into_iter()
            .map(|(tag, count)| (tag, count as u64));
        let hits = res
            .hits
            .into_iter()
            .filter_map(|h| {
                let score = h.ranking_score.unwrap_or(1.0) as f32;
                h.result.into_document().map(|document| SearchHit::new(document, score))
            })
            .collect();
        Ok(SearchPage {
            hits,
            total,
            total_is_exact,
            facets: crate::top_facets(facets, q.facet_size),
        }
        .highlighted(&q.query))
    }

    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let p = prefix.trim().to_lowercase();
        let limit = limit.min(50);
        if p.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        self.ensure_ready().await?;
        let idx = self.index();

        let mut fq = idx.facet_search("tags");
        fq.with_facet_query(&p).with_filter(LIVE_FILTER);
        let facets = call(fq.execute()).await?;
        let mut tags: Vec<(String, u64)> = facets
            .facet_hits
            .into_iter()
            .filter(|h| h.value.to_lowercase().starts_with(&p))
            .map(|h| (h.value, h.count as u64))
            .collect();
        tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        tags.truncate(limit);
        let tags = tags
            .into_iter()
            .map(|(t, c)| Suggestion {
                text: t,
                kind: SuggestionKind::Tag,
                project_id: None,
                count: Some(c),
            })
            .collect();

        let on = ["title"];
        let retrieve = ["project_id", "title", "updated_at"];
        let mut sq = idx.search();
        sq.with_query(&p)
            .with_filter(LIVE_FILTER)
            .with_attributes_to_search_on(&on)
            .with_attributes_to_retrieve(meilisearch_sdk::search::Selectors::Some(&retrieve))
            .with_limit((limit * 4).min(100));
        let res: SearchResults<TitleOnly> = call(sq.execute()).await?;
        let mut titles: Vec<(i64, Suggestion)> = res
            .hits
            .into_iter()
            .filter_map(|h| {
                let d = h.result;
                let title = d.title?;
                if !crate::title_matches_prefix(&title, &p) {
                    return None;
                }
                let ts = millis_to_dt(&d.updated_at).map(|t| t.timestamp_millis()).unwrap_or(0);
                Some((
                    ts,
                    Suggestion {
                        text: title,
                        kind: SuggestionKind::Title,
                        project_id: Some(d.project_id),
                        count: None,
                    },
                ))
            })
            .collect();
        titles.sort_by_key(|t| std::cmp::Reverse(t.0));
        Ok(crate::merge_suggestions(
            tags,
            titles.into_iter().map(|(_, s)| s).collect(),
            limit,
        ))
    }

    async fn clear(&self) -> Result<(), SearchError> {
        self.ensure_ready().await?;
        let task = call(self.index().delete_all_documents()).await?;
        self.wait(task, BULK_TASK_TIMEOUT).await
    }

    async fn ping(&self) -> Result<(), SearchError> {
        call(self.client.health()).await?;
        self.ensure_ready().await?;
        call(self.client.get_raw_index(&self.index_uid)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_rules() {
        assert!(accepts_upsert(None, 1));
        assert!(accepts_upsert(Some((3, false)), 3));
        assert!(!accepts_upsert(Some((3, false)), 2));
        assert!(!accepts_upsert(Some((3, true)), 3));
        assert!(accepts_upsert(Some((3, true)), 4));
        assert!(accepts_delete(Some((3, false)), 3));
        assert!(!accepts_delete(Some((3, true)), 3));
        assert!(!accepts_delete(Some((5, false)), 4));
    }

    #[test]
    fn filter_quoting() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            MeiliEngine::live_filter_with_tags(&["rust".into(), "web dev".into()]),
            r#"deleted = false AND tags IN ["rust", "web dev"]"#
        );
        assert_eq!(MeiliEngine::live_filter_with_tags(&[]), "deleted = false");
    }

    #[test]
    fn timestamps_read_back() {
        assert_eq!(
            millis_to_dt(&json!(1_700_000_000_123i64)).map(|d| d.timestamp_millis()),
            Some(1_700_000_000_123)
        );
        assert!(millis_to_dt(&json!("2025-12-02T12:00:00Z")).is_some());
        assert!(millis_to_dt(&Value::Null).is_none());
    }

    #[test]
    fn errors_map_to_kinds() {
        let e = map_error(MeiliError::Timeout);
        assert!(e.is_unavailable());
        let e = map_error(MeiliError::MeilisearchCommunication(
            meilisearch_sdk::errors::MeilisearchCommunicationError {
                status_code: 503,
                message: None,
                url: "x".into(),
            },
        ));
        assert!(e.is_unavailable());
    }
}
