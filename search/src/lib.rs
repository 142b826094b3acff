//! Search engines behind one trait.
//!
//! `folio-search` holds the project search index. Two implementations share the
//! [`SearchEngine`] trait and one conformance suite (`testing`, behind the cargo
//! feature `testing`):
//!
//! * [`TantivyEngine`] — embedded (default, zero setup), on disk or in RAM;
//! * [`MeiliEngine`] — a Meilisearch 1.x server through `meilisearch-sdk`.
//!
//! ## Relevance (both engines)
//!
//! One rule, written in the contract (section 7) and followed by both engines:
//!
//! * Every word of the query must match (words are ANDed); a word matches in the
//!   title, the display name (`username`), the description, the tags or the image
//!   texts (captions and alt texts of the project's public images).
//! * A word matches an indexed word exactly; the last word also as a prefix (unless
//!   the query ends with a separator); otherwise within its typo budget
//!   ([`match_cost`]: none under 5 characters, one from 5, two from 9, a first-letter
//!   typo costs two, never on tags).
//! * Ranking, in order: fewer typos (summed over the words, each word at its best
//!   match); then the better attributes (each word's best attribute in the order
//!   title, display name, description, tags, image texts, summed); then `updated_at`
//!   newest first; then `project_id` ascending. An empty query lists by `updated_at`
//!   newest first, then `project_id`.
//! * Meilisearch gets this through its settings (`matchingStrategy: all`, ranking
//!   rules `words, typo, attributeRank, sort, updated_at:desc, project_id:asc`, typo
//!   tolerance off on `tags`); tantivy computes the same buckets itself.

//! ## Versions and tombstones
//!
//! Every document carries the project's monotonic `version`. An upsert applies
//! when its version is ≥ the stored live version (so replays are idempotent),
//! and > the version of a tombstone left by a delete (a late upsert never
//! resurrects a deleted project). A delete applies when its version is ≥ the
//! stored version; when the event carries no version, pass `i64::MAX`.
//! Tombstones never appear in results, totals or suggestion counts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "bench")]
pub mod bench;
pub mod highlight;
pub mod meili;
pub mod tantivy_engine;
mod text;

pub use highlight::{Highlights, Span, TagSpan};
pub use meili::{MeiliEngine, MeiliSettings};
pub use tantivy_engine::TantivyEngine;
pub use text::{last_word_is_prefix, match_cost, merge_suggestions, title_matches_prefix, typo_budget};

/// Largest accepted page size.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Tag facets returned when the request does not say.
pub const DEFAULT_FACET_SIZE: u32 = 20;
/// Most tag facets one request may ask for.
pub const MAX_FACET_SIZE: u32 = 100;
/// How many matches the embedded engine counts exactly. Counting is what costs at a
/// million projects (every match visited), so past this many the count stops: `total`
/// is an estimate (`total_is_exact: false`, at least `EXACT_COUNT_CAP + 1`) and the
/// tag facets are counted over the first `EXACT_COUNT_CAP` matches and scaled to it.
/// Pages stay exact and stable either way. (Meilisearch counts up to its own
/// [`meili::MAX_TOTAL_HITS`], which also bounds how deep its pages go.)
pub const EXACT_COUNT_CAP: u64 = 10_000;

/// One project as the search index sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchDocument {
    pub project_id: Uuid,
    pub user_id: Uuid,
    /// Display name: the profile name if set, else the username.
    pub username: String,
    pub title: String,
    pub description: String,
    /// Lower-cased tags.
    pub tags: Vec<String>,
    /// Captions and alt texts of the project's public images (searched below the
    /// title, the display name, the description and the tags).
    #[serde(default)]
    pub image_texts: Vec<String>,
    pub thumbnail_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Monotonic per project; decides which of two events wins.
    pub version: i64,
}

/// Outcome of an upsert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// The document was written (also when the same version was written again).
    Written,
    /// The index holds a newer version (or a newer/equal tombstone); nothing changed.
    Stale,
}

impl Applied {
    pub fn is_written(self) -> bool {
        matches!(self, Applied::Written)
    }
}

/// A search request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Free text; empty lists everything by `updated_at` desc.
    pub query: String,
    /// Lower-cased tags; a project matches when it has ANY of them.
    pub tags: Vec<String>,
    /// 1-based page number.
    pub page: u32,
    /// Page size, 1..=100.
    pub size: u32,
    /// How many tag facets (the most frequent tags of the whole result set), 0..=100.
    #[serde(default = "default_facet_size")]
    pub facet_size: u32,
}

fn default_facet_size() -> u32 {
    DEFAULT_FACET_SIZE
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            query: String::new(),
            tags: Vec::new(),
            page: 1,
            size: 20,
            facet_size: DEFAULT_FACET_SIZE,
        }
    }
}

impl SearchQuery {
    pub fn text(query: impl Into<String>) -> Self {
        SearchQuery {
            query: query.into(),
            ..Default::default()
        }
    }

    /// Checks page and size; engines call it before searching.
    pub fn validate(&self) -> Result<(), SearchError> {
        if self.page < 1 {
            return Err(SearchError::Invalid("page must be at least 1".into()));
        }
        if self.size < 1 || self.size > MAX_PAGE_SIZE {
            return Err(SearchError::Invalid(format!(
                "size must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        if self.facet_size > MAX_FACET_SIZE {
            return Err(SearchError::Invalid(format!(
                "facet_size must be between 0 and {MAX_FACET_SIZE}"
            )));
        }
        if self.query.len() > 1000 {
            return Err(SearchError::Invalid("query is too long (max 1000 bytes)".into()));
        }
        Ok(())
    }

    /// Offset of the first hit of the page.
    pub fn offset(&self) -> usize {
        (self.page.saturating_sub(1) as usize).saturating_mul(self.size as usize)
    }

    /// Tags trimmed, lower-cased, empty ones dropped, deduplicated.
    pub fn normalized_tags(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in &self.tags {
            let t = t.trim().to_lowercase();
            if !t.is_empty() && !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }
}

/// One hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub document: SearchDocument,
    /// Engine-specific relevance (higher is better; only comparable within one engine).
    pub score: f32,
    /// What matched the query (the same on both engines: computed by this crate).
    #[serde(default)]
    pub highlights: Highlights,
}

impl SearchHit {
    pub fn new(document: SearchDocument, score: f32) -> Self {
        SearchHit {
            document,
            score,
            highlights: Highlights::default(),
        }
    }
}

/// How many of the matching projects carry a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagCount {
    pub tag: String,
    pub count: u64,
}

/// One page of hits plus the total number of matching projects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    pub total: u64,
    /// False when `total` is an estimate (past the engine's exact-count cap,
    /// [`EXACT_COUNT_CAP`] on the embedded engine).
    #[serde(default = "exact")]
    pub total_is_exact: bool,
    /// The most frequent tags of the whole result set (not just this page), most
    /// frequent first, ties by tag; at most the query's `facet_size`. When
    /// `total_is_exact` is false the counts are estimates too (on the embedded engine,
    /// counted over the first [`EXACT_COUNT_CAP`] matches and scaled to `total`).
    #[serde(default)]
    pub facets: Vec<TagCount>,
}

fn exact() -> bool {
    true
}

impl SearchPage {
    /// Highlights every hit for `query` (both engines end a search here).
    pub(crate) fn highlighted(mut self, query: &str) -> Self {
        let mut query = highlight::HighlightQuery::new(query);
        for hit in &mut self.hits {
            hit.highlights = query.highlight(&hit.document);
        }
        self
    }
}

/// The `size` most frequent tags, most frequent first, ties by tag (both engines).
pub fn top_facets(counts: impl IntoIterator<Item = (String, u64)>, size: u32) -> Vec<TagCount> {
    let mut all: Vec<TagCount> = counts
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(tag, count)| TagCount { tag, count })
        .collect();
    all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.tag.cmp(&b.tag)));
    all.truncate(size as usize);
    all
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    Title,
    Tag,
}

/// An autocompletion candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub text: String,
    pub kind: SuggestionKind,
    /// Set for titles.
    pub project_id: Option<Uuid>,
    /// Set for tags: how many projects carry the tag.
    pub count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    /// The engine cannot be reached (HTTP edge: 503; the indexer retries).
    #[error("search engine unavailable: {0}")]
    Unavailable(String),
    /// The request is invalid (HTTP edge: 400).
    #[error("invalid search request: {0}")]
    Invalid(String),
    /// Anything else.
    #[error("search engine error: {0}")]
    Internal(String),
}

impl SearchError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, SearchError::Unavailable(_))
    }
}

/// The search index, as used by the indexer and the HTTP edge (`Arc<dyn SearchEngine>`).
#[async_trait]
pub trait SearchEngine: Send + Sync + 'static {
    /// Short engine name (`"tantivy"`, `"meilisearch"`).
    fn name(&self) -> &'static str;

    /// Replaces the document keyed by `project_id` unless the index holds a newer version.
    async fn upsert(&self, doc: SearchDocument) -> Result<Applied, SearchError>;

    /// Bulk upsert with the same version rules; returns how many were written.
    /// Engines override it to commit once.
    async fn upsert_many(&self, docs: Vec<SearchDocument>) -> Result<u64, SearchError> {
        let mut written = 0;
        for doc in docs {
            if self.upsert(doc).await?.is_written() {
                written += 1;
            }
        }
        Ok(written)
    }

    /// Removes the project and keeps a tombstone at `version`.
    async fn delete(&self, project_id: Uuid, version: i64) -> Result<(), SearchError>;

    /// Rewrites the display name on all of the user's documents; returns how many.
    async fn rename_user(&self, user_id: Uuid, display_name: &str) -> Result<u64, SearchError>;

    async fn search(&self, q: &SearchQuery) -> Result<SearchPage, SearchError>;

    /// At most `limit` title and tag completions of `prefix` (case-insensitive).
    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError>;

    /// Wipes everything, tombstones included (used by a rebuild).
    async fn clear(&self) -> Result<(), SearchError>;

    /// Readiness.
    async fn ping(&self) -> Result<(), SearchError>;

    /// True when the engine started empty because the index it found was written by a
    /// version with another layout: every project must be indexed again.
    fn needs_rebuild(&self) -> bool {
        false
    }

    /// Makes every acknowledged write visible to search. Both engines already
    /// return from a write only once it is searchable, so this is a no-op barrier.
    async fn refresh(&self) -> Result<(), SearchError> {
        Ok(())
    }
}
