//! Embedded engine on tantivy.
//!
//! * One dedicated writer thread owns the `IndexWriter`. Writes are sent to it
//!   over a channel; it applies every queued operation, commits once for the
//!   whole group, reloads the reader and only then answers — so a write is
//!   searchable when its future resolves, and concurrent writers share commits.
//! * Searches run on tokio's blocking pool (`spawn_blocking`).
//! * Tombstones are documents with `kind = "tomb"` and no text or tags, so no word
//!   or tag reaches them; a listing (no words, no tags) filters on `kind = "live"`.
//! * Queries follow the written rule (crate docs): every word must match; each word
//!   is a disjunction of constant scores, one per (attribute, typo count) of the
//!   indexed words it reaches, so the summed score is the rank bucket, and ties go
//!   to `updated_at` then `project_id` (fast fields). Versions, tombstones, the user → projects map and tag
//!   counts are kept in memory and rebuilt from the stored documents on open,
//!   so they survive a reopen.
//! * A search makes two passes over the matches, each stopping early ([`Inner::scan`]):
//!   - counting, unscored, in a fixed order (segments in order, newest first inside
//!     one), exact up to the count cap ([`crate::EXACT_COUNT_CAP`] unless
//!     [`TantivyEngine::with_count_cap`] says otherwise); past it the count stops and
//!     the total is an estimate (`total_is_exact: false`) from the share of the index
//!     scanned. Tag facets are counted from the `tag` fast field (term ordinals per
//!     segment) over the same counted matches, scaled to the estimate past the cap.
//!     The order does not depend on the page, so every page of a query gives the same
//!     `total` and facets;
//!   - ranking: the index is sorted by `updated_at`, newest first (tantivy's index
//!     sorting), so within a segment the matches come newest first; once the page's
//!     worst hit is in the best bucket the query can reach and newer than the current
//!     match, no later match of the segment can place and its scan stops. When the
//!     best bucket is out of reach, the scan goes on over only the combinations of
//!     words that can still place. The page's order stays exact.
//! * An index written by a version with another schema is derived data: it is
//!   emptied and made again ([`TantivyEngine::was_rebuilt`] tells the node, which
//!   republishes every project to fill it).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::index::{IndexSettings, IndexSortByField};
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, DisjunctionMaxQuery, EnableScoring, FuzzyTermQuery, Occur, Query, TermQuery,
    TermSetQuery, Weight,
};
use tantivy::schema::{FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{
    COLLECT_BLOCK_BUFFER_LEN, DocAddress, DocId, DocSet, Index, IndexReader, IndexWriter, Order, ReloadPolicy,
    Searcher, SegmentOrdinal, TERMINATED, TantivyDocument, Term,
};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::text::{match_cost, normalize_doc};
use crate::{
    Applied, EXACT_COUNT_CAP, SearchDocument, SearchEngine, SearchError, SearchHit, SearchPage, SearchQuery,
    Suggestion, SuggestionKind, top_facets,
};

const TOKENIZER: &str = "folio";
const KIND_LIVE: &str = "live";
const KIND_TOMB: &str = "tomb";
/// Score of one query word matched with no typo in the first attribute. A word's
/// score is `WORD_SCORE - (typos * TYPO_STEP + attribute rank)`, the best of its
/// matches (a disjunction max), summed over the words: so the sum orders documents by
/// total typos first, then by the summed attribute ranks (the written rule). With at
/// most 10 words of at most 2 typos and rank ≤ 4, every sum is an exact f32 integer.
const WORD_SCORE: f32 = 1000.0;
/// Larger than any sum of attribute ranks (10 words × rank 4).
const TYPO_STEP: f32 = 64.0;
/// Max query words considered.
const MAX_WORDS: usize = 10;
/// Max operations folded into one commit.
const MAX_BATCH_OPS: usize = 1024;
const WRITER_MEMORY: usize = 128 * 1024 * 1024;

fn internal(e: impl std::fmt::Display) -> SearchError {
    SearchError::Internal(e.to_string())
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    kind: Field,
    user_id: Field,
    title: Field,
    username: Field,
    description: Field,
    tags_text: Field,
    /// Captions and alt texts of the project's public images.
    image_text: Field,
    tag: Field,
    updated_at: Field,
    /// The project id's high and low 64 bits: the last tie-break (project_id
    /// ascending; a UUID's text order is its numeric order).
    id_high: Field,
    id_low: Field,
    json: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: b.add_text_field("project_id", STRING | STORED),
        kind: b.add_text_field("kind", STRING),
        user_id: b.add_text_field("user_id", STRING),
        title: b.add_text_field("title", text.clone()),
        username: b.add_text_field("username", text.clone()),
        description: b.add_text_field("description", text.clone()),
        tags_text: b.add_text_field("tags_text", text.clone()),
        image_text: b.add_text_field("image_text", text),
        tag: b.add_text_field("tag", STRING | FAST),
        updated_at: b.add_i64_field("updated_at", FAST),
        id_high: b.add_u64_field("id_high", FAST),
        id_low: b.add_u64_field("id_low", FAST),
        json: b.add_text_field("record", STORED),
    };
    (b.build(), fields)
}

/// Documents sorted by `updated_at`, newest first, in every segment (merges keep the
/// order): the scan of a query can stop early (module docs). An index without this
/// setting is rebuilt like one of another schema.
fn index_settings() -> IndexSettings {
    IndexSettings {
        sort_by_field: Some(IndexSortByField {
            field: "updated_at".into(),
            order: tantivy::index::Order::Desc,
        }),
        ..IndexSettings::default()
    }
}

pub(crate) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// What is stored per tantivy document (live document or tombstone).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    project_id: Uuid,
    version: i64,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    doc: Option<SearchDocument>,
}

#[derive(Debug, Clone)]
struct Live {
    user_id: Uuid,
    tags: Vec<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    version: i64,
    /// None = tombstone.
    live: Option<Live>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<Uuid, Entry>,
    by_user: HashMap<Uuid, HashSet<Uuid>>,
    tag_counts: BTreeMap<String, u64>,
    live_count: usize,
}

impl State {
    fn forget_live(&mut self, id: Uuid) {
        if let Some(Entry { live: Some(live), .. }) = self.entries.get(&id) {
            let live = live.clone();
            if let Some(set) = self.by_user.get_mut(&live.user_id) {
                set.remove(&id);
                if set.is_empty() {
                    self.by_user.remove(&live.user_id);
                }
            }
            for t in &live.tags {
                if let Some(c) = self.tag_counts.get_mut(t) {
                    *c = c.saturating_sub(1);
                    if *c == 0 {
                        self.tag_counts.remove(t);
                    }
                }
            }
            self.live_count = self.live_count.saturating_sub(1);
        }
    }

    fn set_live(&mut self, doc: &SearchDocument) {
        self.forget_live(doc.project_id);
        self.by_user.entry(doc.user_id).or_default().insert(doc.project_id);
        for t in &doc.tags {
            *self.tag_counts.entry(t.clone()).or_insert(0) += 1;
        }
        self.live_count += 1;
        self.entries.insert(
            doc.project_id,
            Entry {
                version: doc.version,
                live: Some(Live {
                    user_id: doc.user_id,
                    tags: doc.tags.clone(),
                }),
            },
        );
    }

    fn set_tomb(&mut self, id: Uuid, version: i64) {
        self.forget_live(id);
        self.entries.insert(id, Entry { version, live: None });
    }

    fn accepts_upsert(&self, id: Uuid, version: i64) -> bool {
        match self.entries.get(&id) {
            None => true,
            Some(Entry {
                version: v,
                live: Some(_),
            }) => version >= *v,
            Some(Entry { version: v, live: None }) => version > *v,
        }
    }

    fn load(searcher: &Searcher, f: &Fields) -> Result<State, SearchError> {
        let mut state = State::default();
        for segment in searcher.segment_readers() {
            let store = segment.get_store_reader(64).map_err(internal)?;
            for doc_id in segment.doc_ids_alive() {
                let doc: TantivyDocument = store.get(doc_id).map_err(internal)?;
                let rec = record_of(&doc, f)?;
                let newer = state
                    .entries
                    .get(&rec.project_id)
                    .is_none_or(|e| rec.version >= e.version);
                if !newer {
                    continue;
                }
                match (&rec.doc, rec.deleted) {
                    (Some(d), false) => state.set_live(d),
                    _ => state.set_tomb(rec.project_id, rec.version),
                }
            }
        }
        Ok(state)
    }
}

fn record_of(doc: &TantivyDocument, f: &Fields) -> Result<Record, SearchError> {
    let json = doc
        .get_first(f.json)
        .and_then(|v| v.as_str())
        .ok_or_else(|| SearchError::Internal("stored record missing".into()))?;
    serde_json::from_str(json).map_err(internal)
}

enum OpKind {
    Upsert(Vec<SearchDocument>),
    Delete(Uuid, i64),
    Rename(Uuid, String),
    Clear,
    Ping,
}

enum Reply {
    Applied(Vec<Applied>),
    Count(u64),
    Unit,
}

struct Op {
    kind: OpKind,
    reply: oneshot::Sender<Result<Reply, SearchError>>,
}

struct Inner {
    reader: IndexReader,
    f: Fields,
    state: RwLock<State>,
    analyzer: TextAnalyzer,
    /// Matches a search counts exactly (see [`TantivyEngine::with_count_cap`]).
    count_cap: AtomicU64,
}

/// The embedded engine. Cheap to share as `Arc<dyn SearchEngine>`.
pub struct TantivyEngine {
    inner: Arc<Inner>,
    tx: Option<mpsc::Sender<Op>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    rebuilt: bool,
}

/// Where a match ranks; the greater key ranks first: the better bucket (fewer typos,
/// then better attributes), then the newer `updated_at`, then the smaller project id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RankKey {
    bucket: i64,
    updated_at: i64,
    id_high: Reverse<u64>,
    id_low: Reverse<u64>,
}

/// A kept match: its rank and where it is (the address breaks no tie between live
/// documents, whose project ids differ; it only makes the order total).
type Kept = (RankKey, SegmentOrdinal, DocId);

/// What one search scans for.
struct ScanPlan {
    /// How many of the best matches to keep: the hits up to the end of the page.
    keep: usize,
    /// The best bucket any match can reach (each word at its best disjunct).
    best_bucket: i64,
    /// Whether matches carry a rank bucket (a query with words) or all share one.
    scored: bool,
    /// Whether tag facets are counted.
    facets: bool,
    /// Matches counted exactly; past it the total is estimated.
    count_cap: u64,
    /// Live projects: no estimate goes above.
    live: u64,
}

/// What [`Inner::count`] found.
struct Counted {
    total: u64,
    total_is_exact: bool,
    /// Tags over the counted matches (scaled to `total` when it is an estimate).
    facets: Vec<(String, u64)>,
}

/// What one search found: the page's matches and what [`Inner::count`] found.
struct Scanned {
    /// The kept matches, best first.
    best: Vec<Kept>,
    total: u64,
    total_is_exact: bool,
    /// Tags over the counted matches (scaled to `total` when it is an estimate).
    facets: Vec<(String, u64)>,
}

/// Most combinations of disjuncts a narrowed query may join (past it, the scan goes on
/// over every match).
const MAX_NARROWED_COMBINATIONS: usize = 64;

/// One way a query word matches: an (attribute, typo count) and its constant score.
struct Disjunct {
    score: i64,
    query: Box<dyn Query>,
}

/// The matches whose bucket is at least `at_least`, scored by their bucket: a
/// disjunction over every combination of one disjunct per word whose scores sum to
/// `at_least` or more, each the conjunction of its disjuncts (and the tag filter). A
/// match's bucket is its best combination, and every combination that reaches
/// `at_least` is there, so the disjunction's best score is the bucket. `None` when
/// more than [`MAX_NARROWED_COMBINATIONS`] combinations would be needed.
fn narrowed_query(words: &[Vec<Disjunct>], tag_filter: Option<&dyn Query>, at_least: i64) -> Option<Box<dyn Query>> {
    if words.is_empty() {
        return None;
    }
    // The best score each suffix of the words can still add (disjuncts are best first).
    let mut best_after = vec![0i64; words.len() + 1];
    for i in (0..words.len()).rev() {
        best_after[i] = best_after[i + 1] + words[i].first().map_or(0, |d| d.score);
    }
    let mut combinations: Vec<Vec<usize>> = Vec::new();
    let mut chosen: Vec<usize> = Vec::with_capacity(words.len());
    fn walk(
        words: &[Vec<Disjunct>],
        best_after: &[i64],
        at_least: i64,
        sum: i64,
        chosen: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) -> bool {
        let i = chosen.len();
        if i == words.len() {
            out.push(chosen.clone());
            return out.len() <= MAX_NARROWED_COMBINATIONS;
        }
        for (j, d) in words[i].iter().enumerate() {
            // Best first: once one cannot reach the bound, none after it can.
            if sum + d.score + best_after[i + 1] < at_least {
                break;
            }
            chosen.push(j);
            let within = walk(words, best_after, at_least, sum + d.score, chosen, out);
            chosen.pop();
            if !within {
                return false;
            }
        }
        true
    }
    if !walk(words, &best_after, at_least, 0, &mut chosen, &mut combinations) {
        return None;
    }
    let each: Vec<Box<dyn Query>> = combinations
        .into_iter()
        .map(|combination| {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = combination
                .into_iter()
                .enumerate()
                .map(|(word, j)| (Occur::Must, words[word][j].query.box_clone()))
                .collect();
            if let Some(filter) = tag_filter {
                clauses.push((Occur::Must, filter.box_clone()));
            }
            Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>
        })
        .collect();
    Some(Box::new(DisjunctionMaxQuery::new(each)))
}

/// The bucket the rest of a scan can be narrowed to: the worst kept match's, when
/// the page is full but that bucket is below the best reachable one (so the plain
/// early stop cannot come).
fn narrow_to(best: &BinaryHeap<Reverse<Kept>>, plan: &ScanPlan) -> Option<i64> {
    if !plan.scored || plan.keep == 0 {
        return None;
    }
    match worst_kept(best, plan.keep) {
        Some(Some(worst)) if worst.bucket < plan.best_bucket => Some(worst.bucket),
        _ => None,
    }
}

/// The worst of the kept matches, when `keep` of them are held.
fn worst_kept(best: &BinaryHeap<Reverse<Kept>>, keep: usize) -> Option<Option<RankKey>> {
    if best.len() < keep {
        return None;
    }
    Some(best.peek().map(|Reverse((key, _, _))| *key))
}

/// True when no match newer than `updated_at` is needed: `keep` matches are held and
/// the worst of them is in the best reachable bucket and newer than `updated_at`, so
/// a match of that age (or older: a segment is sorted newest first) cannot place.
fn page_is_settled(best: &BinaryHeap<Reverse<Kept>>, plan: &ScanPlan, updated_at: i64) -> bool {
    match worst_kept(best, plan.keep) {
        None => false,
        Some(None) => true,
        Some(Some(worst)) => worst.bucket >= plan.best_bucket && updated_at < worst.updated_at,
    }
}

impl std::fmt::Debug for TantivyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivyEngine").finish_non_exhaustive()
    }
}

impl TantivyEngine {
    /// Opens (or creates) the index in `dir`. An index of another schema (written by
    /// an older version) is emptied and created again; see [`Self::was_rebuilt`].
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir).map_err(|e| internal(format!("create {}: {e}", dir.display())))?;
        let (schema, _) = schema();
        let existing = Index::open_in_dir(dir)
            .ok()
            .map(|index| index.schema() == schema && index.settings().sort_by_field == index_settings().sort_by_field);
        let rebuilt = existing == Some(false);
        if rebuilt {
            tracing::warn!(dir = %dir.display(), "the search index has an older layout; it is emptied and rebuilt");
            for entry in std::fs::read_dir(dir).map_err(|e| internal(format!("read {}: {e}", dir.display())))? {
                let path = entry.map_err(internal)?.path();
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.map_err(|e| internal(format!("remove {}: {e}", path.display())))?;
            }
        }
        let directory = MmapDirectory::open(dir).map_err(internal)?;
        let index = Index::builder()
            .schema(schema)
            .settings(index_settings())
            .open_or_create(directory)
            .map_err(internal)?;
        let mut engine = Self::from_index(index)?;
        engine.rebuilt = rebuilt;
        Ok(engine)
    }

    /// True when [`Self::open`] found an index of another schema and emptied it: every
    /// project must be indexed again.
    pub fn was_rebuilt(&self) -> bool {
        self.rebuilt
    }

    /// A fresh index held in RAM (tests, benchmarks).
    pub fn in_memory() -> Result<Self, SearchError> {
        let (schema, _) = schema();
        let index = Index::builder()
            .schema(schema)
            .settings(index_settings())
            .create_in_ram()
            .map_err(internal)?;
        Self::from_index(index)
    }

    /// Counts up to `cap` matches exactly instead of [`EXACT_COUNT_CAP`] (at least 1);
    /// past it, `total` is an estimate and `total_is_exact` false. Tests use a small
    /// cap to pass it with a few documents.
    pub fn with_count_cap(self, cap: u64) -> Self {
        self.inner.count_cap.store(cap.max(1), Ordering::Relaxed);
        self
    }

    fn from_index(index: Index) -> Result<Self, SearchError> {
        let (_, f) = schema();
        // Check that an existing index has our schema.
        let (expected, _) = schema();
        if index.schema() != expected {
            return Err(SearchError::Internal(
                "index schema differs from this version's schema".into(),
            ));
        }
        // The early stop of a scan is only right on documents sorted newest first.
        if index.settings().sort_by_field != index_settings().sort_by_field {
            return Err(SearchError::Internal("index is not sorted by updated_at".into()));
        }
        let analyzer = analyzer();
        index.tokenizers().register(TOKENIZER, analyzer.clone());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(internal)?;
        let writer: IndexWriter = index.writer(WRITER_MEMORY).map_err(internal)?;
        let state = State::load(&reader.searcher(), &f)?;
        let inner = Arc::new(Inner {
            reader,
            f,
            state: RwLock::new(state),
            analyzer,
            count_cap: AtomicU64::new(EXACT_COUNT_CAP),
        });
        let (tx, rx) = mpsc::channel::<Op>();
        let thread_inner = inner.clone();
        let handle = std::thread::Builder::new()
            .name("folio-search-writer".into())
            .spawn(move || writer_loop(thread_inner, writer, rx))
            .map_err(internal)?;
        Ok(TantivyEngine {
            inner,
            tx: Some(tx),
            writer_thread: Mutex::new(Some(handle)),
            rebuilt: false,
        })
    }

    async fn send(&self, kind: OpKind) -> Result<Reply, SearchError> {
        let (reply, rx) = oneshot::channel();
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| SearchError::Internal("engine closed".into()))?;
        tx.send(Op { kind, reply })
            .map_err(|_| SearchError::Internal("index writer stopped".into()))?;
        rx.await
            .map_err(|_| SearchError::Internal("index writer stopped".into()))?
    }

    /// Number of live (non-tombstone) documents.
    pub fn live_count(&self) -> usize {
        self.inner.state.read().map(|s| s.live_count).unwrap_or(0)
    }
}

impl Drop for TantivyEngine {
    fn drop(&mut self) {
        // Closing the channel stops the writer thread; joining it releases the
        // index lock so the directory can be reopened right away.
        self.tx.take();
        if let Ok(mut guard) = self.writer_thread.lock()
            && let Some(handle) = guard.take()
        {
            let _ = handle.join();
        }
    }
}

fn writer_loop(inner: Arc<Inner>, mut writer: IndexWriter, rx: mpsc::Receiver<Op>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_OPS {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(batch.len());
        let mut dirty = false;
        {
            let mut state = match inner.state.write() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            let mut pending: HashMap<Uuid, SearchDocument> = HashMap::new();
            for op in batch {
                let r = apply(&inner, &mut writer, &mut state, &mut pending, op.kind, &mut dirty);
                replies.push((op.reply, r));
            }
        }
        if dirty {
            let committed = writer
                .commit()
                .map_err(internal)
                .and_then(|_| inner.reader.reload().map_err(internal));
            if let Err(e) = committed {
                tracing::error!(error = %e, "search index commit failed; rolling back");
                let _ = writer.rollback();
                let _ = inner.reader.reload();
                if let Ok(fresh) = State::load(&inner.reader.searcher(), &inner.f)
                    && let Ok(mut s) = inner.state.write()
                {
                    *s = fresh;
                }
                for (tx, r) in replies {
                    let _ = tx.send(r.and(Err(e.clone())));
                }
                continue;
            }
        }
        for (tx, r) in replies {
            let _ = tx.send(r);
        }
    }
}

fn live_doc(f: &Fields, doc: &SearchDocument) -> Result<TantivyDocument, SearchError> {
    let rec = Record {
        project_id: doc.project_id,
        version: doc.version,
        deleted: false,
        doc: Some(doc.clone()),
    };
    let mut d = TantivyDocument::default();
    d.add_text(f.id, doc.project_id.to_string());
    d.add_text(f.kind, KIND_LIVE);
    d.add_text(f.user_id, doc.user_id.to_string());
    d.add_text(f.title, &doc.title);
    d.add_text(f.username, &doc.username);
    d.add_text(f.description, &doc.description);
    d.add_text(f.tags_text, doc.tags.join(" "));
    for text in &doc.image_texts {
        d.add_text(f.image_text, text);
    }
    for t in &doc.tags {
        d.add_text(f.tag, t);
    }
    d.add_i64(f.updated_at, doc.updated_at.timestamp_millis());
    let id = doc.project_id.as_u128();
    d.add_u64(f.id_high, (id >> 64) as u64);
    d.add_u64(f.id_low, id as u64);
    d.add_text(f.json, serde_json::to_string(&rec).map_err(internal)?);
    Ok(d)
}

fn tomb_doc(f: &Fields, id: Uuid, version: i64) -> Result<TantivyDocument, SearchError> {
    let rec = Record {
        project_id: id,
        version,
        deleted: true,
        doc: None,
    };
    let mut d = TantivyDocument::default();
    d.add_text(f.id, id.to_string());
    d.add_text(f.kind, KIND_TOMB);
    // Every document has a value in the sort field (oldest possible: no query reaches
    // a tombstone, and the listing filters them out).
    d.add_i64(f.updated_at, i64::MIN);
    d.add_text(f.json, serde_json::to_string(&rec).map_err(internal)?);
    Ok(d)
}

fn id_term(f: &Fields, id: Uuid) -> Term {
    Term::from_field_text(f.id, &id.to_string())
}

fn apply(
    inner: &Inner,
    writer: &mut IndexWriter,
    state: &mut State,
    pending: &mut HashMap<Uuid, SearchDocument>,
    kind: OpKind,
    dirty: &mut bool,
) -> Result<Reply, SearchError> {
    let f = &inner.f;
    match kind {
        OpKind::Ping => Ok(Reply::Unit),
        OpKind::Upsert(docs) => {
            let mut out = Vec::with_capacity(docs.len());
            for doc in docs {
                let doc = normalize_doc(doc);
                if !state.accepts_upsert(doc.project_id, doc.version) {
                    out.push(Applied::Stale);
                    continue;
                }
                let tdoc = live_doc(f, &doc)?;
                writer.delete_term(id_term(f, doc.project_id));
                writer.add_document(tdoc).map_err(internal)?;
                state.set_live(&doc);
                pending.insert(doc.project_id, doc);
                *dirty = true;
                out.push(Applied::Written);
            }
            Ok(Reply::Applied(out))
        }
        OpKind::Delete(id, version) => {
            let apply = match state.entries.get(&id) {
                None => true,
                Some(e) => version >= e.version && !(e.live.is_none() && e.version == version),
            };
            if apply {
                let tdoc = tomb_doc(f, id, version)?;
                writer.delete_term(id_term(f, id));
                writer.add_document(tdoc).map_err(internal)?;
                state.set_tomb(id, version);
                pending.remove(&id);
                *dirty = true;
            }
            Ok(Reply::Unit)
        }
        OpKind::Rename(user_id, name) => {
            let ids: Vec<Uuid> = state
                .by_user
                .get(&user_id)
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            if ids.is_empty() {
                return Ok(Reply::Count(0));
            }
            let searcher = inner.reader.searcher();
            let mut count = 0u64;
            for id in ids {
                let current = match pending.get(&id) {
                    Some(d) => Some(d.clone()),
                    None => load_live(&searcher, f, id)?,
                };
                let Some(mut doc) = current else { continue };
                count += 1;
                if doc.username == name {
                    continue;
                }
                doc.username = name.clone();
                let tdoc = live_doc(f, &doc)?;
                writer.delete_term(id_term(f, id));
                writer.add_document(tdoc).map_err(internal)?;
                pending.insert(id, doc);
                *dirty = true;
            }
            Ok(Reply::Count(count))
        }
        OpKind::Clear => {
            writer.delete_all_documents().map_err(internal)?;
            *state = State::default();
            pending.clear();
            *dirty = true;
            Ok(Reply::Unit)
        }
    }
}

fn load_live(searcher: &Searcher, f: &Fields, id: Uuid) -> Result<Option<SearchDocument>, SearchError> {
    let q = TermQuery::new(id_term(f, id), IndexRecordOption::Basic);
    let top = searcher
        .search(&q, &TopDocs::with_limit(4).order_by_score())
        .map_err(internal)?;
    let mut best: Option<SearchDocument> = None;
    for (_, addr) in top {
        let doc: TantivyDocument = searcher.doc(addr).map_err(internal)?;
        let rec = record_of(&doc, f)?;
        if let (false, Some(d)) = (rec.deleted, rec.doc)
            && best.as_ref().is_none_or(|b| d.version >= b.version)
        {
            best = Some(d);
        }
    }
    Ok(best)
}

impl Inner {
    fn tokens(&self, s: &str) -> Vec<String> {
        let mut a = self.analyzer.clone();
        let mut ts = a.token_stream(s);
        let mut out = Vec::new();
        while ts.advance() {
            if out.len() >= MAX_WORDS {
                break;
            }
            out.push(ts.token().text.clone());
        }
        out
    }

    fn live_filter(&self) -> Box<dyn Query> {
        Box::new(ConstScoreQuery::new(
            Box::new(TermQuery::new(
                Term::from_field_text(self.f.kind, KIND_LIVE),
                IndexRecordOption::Basic,
            )),
            0.0,
        ))
    }

    /// The searchable fields in attribute order (title first), and whether typos are
    /// tolerated in each (not in tags).
    fn searchable(&self) -> [(Field, bool); 5] {
        let f = &self.f;
        [
            (f.title, true),
            (f.username, true),
            (f.description, true),
            (f.tags_text, false),
            (f.image_text, true),
        ]
    }

    /// What one query word matches: one disjunct per (attribute, typo count) it
    /// reaches, each a constant score (see [`WORD_SCORE`]); the word's score is the best
    /// of the disjuncts a document matches. The indexed words are found with a Levenshtein automaton
    /// over each segment's term dictionary, then each is priced with [`match_cost`],
    /// which also applies the first-letter rule the automaton does not know. `None`
    /// when the word matches nothing (so nothing can match all words).
    fn word_query(&self, searcher: &Searcher, word: &str, prefix: bool) -> Result<Option<Vec<Disjunct>>, SearchError> {
        let chars: Vec<char> = word.chars().collect();
        let budget = crate::typo_budget(word);
        let mut disjuncts: Vec<Disjunct> = Vec::new();
        for (rank, (field, typos_allowed)) in self.searchable().into_iter().enumerate() {
            let distance = if typos_allowed { budget } else { 0 };
            let mut by_cost: [Vec<String>; 3] = Default::default();
            if distance == 0 && !prefix {
                by_cost[0].push(word.to_string());
            } else {
                let term = Term::from_field_text(field, word);
                let fuzzy = if prefix {
                    FuzzyTermQuery::new_prefix(term, distance, true)
                } else {
                    FuzzyTermQuery::new(term, distance, true)
                };
                // One automaton per field, not per segment: building it is the costly part.
                let automaton = fuzzy.automaton().map_err(internal)?;
                let mut seen: HashSet<String> = HashSet::new();
                for segment in searcher.segment_readers() {
                    let inverted = segment.inverted_index(field).map_err(internal)?;
                    let mut stream = inverted.terms().search(&automaton).into_stream().map_err(internal)?;
                    while stream.advance() {
                        let Ok(text) = std::str::from_utf8(stream.key()) else {
                            continue;
                        };
                        if seen.contains(text) {
                            continue;
                        }
                        let token: Vec<char> = text.chars().collect();
                        if let Some(cost) = match_cost(&chars, &token, prefix, typos_allowed) {
                            by_cost[usize::from(cost.min(2))].push(text.to_string());
                        }
                        seen.insert(text.to_string());
                    }
                }
            }
            for (cost, terms) in by_cost.into_iter().enumerate() {
                let score = WORD_SCORE - (cost as f32 * TYPO_STEP + rank as f32);
                let inner: Box<dyn Query> = match terms.as_slice() {
                    [] => continue,
                    [one] => Box::new(TermQuery::new(
                        Term::from_field_text(field, one),
                        IndexRecordOption::Basic,
                    )),
                    many => Box::new(TermSetQuery::new(many.iter().map(|t| Term::from_field_text(field, t)))),
                };
                disjuncts.push(Disjunct {
                    score: score.round() as i64,
                    query: Box::new(ConstScoreQuery::new(inner, score)),
                });
            }
        }
        if disjuncts.is_empty() {
            return Ok(None);
        }
        // Best first: the narrowed query (`narrowed_query`) prunes on it.
        disjuncts.sort_by_key(|d| Reverse(d.score));
        Ok(Some(disjuncts))
    }

    fn fetch(&self, searcher: &Searcher, addr: DocAddress) -> Result<SearchDocument, SearchError> {
        let doc: TantivyDocument = searcher.doc(addr).map_err(internal)?;
        record_of(&doc, &self.f)?
            .doc
            .ok_or_else(|| SearchError::Internal("live record without document".into()))
    }

    fn search_blocking(&self, q: &SearchQuery) -> Result<SearchPage, SearchError> {
        let searcher = self.reader.searcher();
        let words = self.tokens(&q.query);
        let tags = q.normalized_tags();
        // Tombstones carry no text and no tags, so only a listing (no words, no tags)
        // needs the live filter: every other query skips that intersection.
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let tag_filter: Option<Box<dyn Query>> = (!tags.is_empty()).then(|| {
            let terms = tags.iter().map(|t| Term::from_field_text(self.f.tag, t));
            Box::new(ConstScoreQuery::new(Box::new(TermSetQuery::new(terms)), 0.0)) as Box<dyn Query>
        });
        if let Some(filter) = &tag_filter {
            clauses.push((Occur::Must, filter.box_clone()));
        }
        let n = words.len();
        let last_is_prefix = crate::last_word_is_prefix(&q.query);
        let mut best_bucket = 0i64;
        let mut word_disjuncts: Vec<Vec<Disjunct>> = Vec::with_capacity(n);
        for (i, word) in words.iter().enumerate() {
            match self.word_query(&searcher, word, i + 1 == n && last_is_prefix)? {
                // Every word must match.
                Some(disjuncts) => {
                    best_bucket += disjuncts.first().map_or(0, |d| d.score);
                    let each: Vec<Box<dyn Query>> = disjuncts.iter().map(|d| d.query.box_clone()).collect();
                    clauses.push((Occur::Must, Box::new(DisjunctionMaxQuery::new(each))));
                    word_disjuncts.push(disjuncts);
                }
                None => {
                    return Ok(SearchPage {
                        hits: Vec::new(),
                        total: 0,
                        total_is_exact: true,
                        facets: Vec::new(),
                    });
                }
            }
        }
        if n == 0 && tags.is_empty() {
            clauses.push((Occur::Must, self.live_filter()));
        }
        let query = BooleanQuery::new(clauses);
        let offset = q.offset();
        let size = q.size as usize;
        let live = self.state.read().map(|s| s.live_count).unwrap_or(usize::MAX);
        // A page past every live project holds nothing: only count.
        let keep = if offset >= live { 0 } else { offset + size };
        let plan = ScanPlan {
            keep,
            best_bucket,
            scored: n > 0,
            facets: q.facet_size > 0,
            count_cap: self.count_cap.load(Ordering::Relaxed),
            live: live as u64,
        };
        let narrowed = |at_least: i64| narrowed_query(&word_disjuncts, tag_filter.as_deref(), at_least);
        let scanned = self.scan(&searcher, &query, &plan, &narrowed)?;
        let mut hits = Vec::with_capacity(size.min(scanned.best.len()));
        for (key, segment, doc) in scanned.best.into_iter().skip(offset).take(size) {
            let score = if n == 0 { 1.0 } else { key.bucket as f32 };
            hits.push(SearchHit::new(
                self.fetch(&searcher, DocAddress::new(segment, doc))?,
                score,
            ));
        }
        Ok(SearchPage {
            hits,
            total: scanned.total,
            total_is_exact: scanned.total_is_exact,
            facets: top_facets(scanned.facets, q.facet_size),
        }
        .highlighted(&q.query))
    }

    /// The total, the facets and the page of `query`: [`Self::count`] then
    /// [`Self::rank`], two passes over the matches that each stop early.
    fn scan(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        plan: &ScanPlan,
        narrowed: &dyn Fn(i64) -> Option<Box<dyn Query>>,
    ) -> Result<Scanned, SearchError> {
        let Counted {
            total,
            total_is_exact,
            facets,
        } = self.count(searcher, query, plan)?;
        let best = self.rank(searcher, query, plan, narrowed)?;
        Ok(Scanned {
            best,
            total,
            total_is_exact,
            facets,
        })
    }

    /// Counts the matches, and their tags when facets are asked for, segment by segment
    /// in the searcher's order and newest first inside a segment (the index order),
    /// without scoring them, until the count passes the cap; then the total is estimated
    /// from the share of the index's documents scanned so far. What is counted depends
    /// only on the query and the index, never on the page, so every page of a query has
    /// the same total and facets.
    fn count(&self, searcher: &Searcher, query: &dyn Query, plan: &ScanPlan) -> Result<Counted, SearchError> {
        let weight = query
            .weight(EnableScoring::disabled_from_searcher(searcher))
            .map_err(internal)?;
        let mut counted = 0u64;
        // Documents (alive or not) up to the match that passed the cap, when one did.
        let mut scanned_when_capped: Option<u64> = None;
        let mut documents_before = 0u64;
        let mut tag_counts: HashMap<String, u64> = HashMap::new();
        let mut tag = String::new();
        let mut buffer = [0 as DocId; COLLECT_BLOCK_BUFFER_LEN];
        for segment in searcher.segment_readers() {
            let max_doc = u64::from(segment.max_doc());
            if scanned_when_capped.is_some() {
                documents_before += max_doc;
                continue;
            }
            let tag_column = if plan.facets {
                segment.fast_fields().str("tag").map_err(internal)?
            } else {
                None
            };
            // Matches per term ordinal of this segment's tag dictionary.
            let mut per_tag = vec![0u64; tag_column.as_ref().map_or(0, |c| c.num_terms())];
            let alive = segment.alive_bitset();
            let mut matches = weight.scorer(segment, 1.0).map_err(internal)?;
            'segment: loop {
                let filled = matches.fill_buffer(&mut buffer);
                for &doc in &buffer[..filled] {
                    if !alive.is_none_or(|bits| bits.is_alive(doc)) {
                        continue;
                    }
                    counted += 1;
                    if counted > plan.count_cap {
                        scanned_when_capped = Some(documents_before + u64::from(doc) + 1);
                        break 'segment;
                    }
                    if let Some(column) = &tag_column {
                        for ord in column.term_ords(doc) {
                            if let Some(n) = per_tag.get_mut(ord as usize) {
                                *n += 1;
                            }
                        }
                    }
                }
                if filled < buffer.len() {
                    break;
                }
            }
            if let Some(column) = &tag_column {
                for (ord, n) in per_tag.into_iter().enumerate() {
                    if n > 0 && column.ord_to_str(ord as u64, &mut tag).map_err(internal)? {
                        *tag_counts.entry(tag.clone()).or_insert(0) += n;
                    }
                }
            }
            documents_before += max_doc;
        }
        let (total, total_is_exact) = match scanned_when_capped {
            None => (counted, true),
            Some(scanned) => (
                estimate_total(plan.count_cap, scanned, documents_before, plan.live),
                false,
            ),
        };
        let mut facets: Vec<(String, u64)> = tag_counts.into_iter().collect();
        if !total_is_exact {
            // Counted over the first `count_cap` matches: scaled like the total.
            for (_, n) in &mut facets {
                *n = scale(*n, total, plan.count_cap);
            }
        }
        Ok(Counted {
            total,
            total_is_exact,
            facets,
        })
    }

    /// The `keep` best matches by rank, best first: a bounded heap (nothing allocated
    /// per match) fed segment by segment, newest first inside a segment. A segment's
    /// scan stops once the page is settled: the worst kept match is in the best
    /// reachable bucket and newer than the current match, so no later (older) match of
    /// the segment can place; a segment whose newest document is already too old is
    /// skipped. When the page is full but its worst match is below the best reachable
    /// bucket (as when two words rarely share the title), the rest of the scan runs on
    /// `narrowed(worst bucket)`: only the matches that can still place (see
    /// [`narrowed_query`]), which skips most of the others.
    fn rank(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        plan: &ScanPlan,
        narrowed: &dyn Fn(i64) -> Option<Box<dyn Query>>,
    ) -> Result<Vec<Kept>, SearchError> {
        if plan.keep == 0 {
            return Ok(Vec::new());
        }
        let scoring = EnableScoring::enabled_from_searcher(searcher);
        let weight = query.weight(scoring).map_err(internal)?;
        // Built once, the first time the page needs it: the worst kept bucket only rises,
        // so a query narrowed to an earlier one still holds every match that can place.
        let mut narrowed_weight: Option<Option<Box<dyn Weight>>> = None;
        let mut best: BinaryHeap<Reverse<Kept>> = BinaryHeap::with_capacity(plan.keep.min(4096) + 1);
        for (ordinal, segment) in searcher.segment_readers().iter().enumerate() {
            let ordinal = ordinal as SegmentOrdinal;
            let fast = segment.fast_fields();
            let updated_column = fast.i64("updated_at").map_err(internal)?;
            if page_is_settled(&best, plan, updated_column.max_value()) {
                continue;
            }
            let updated = updated_column.first_or_default_col(i64::MIN);
            let id_high = fast.u64("id_high").map_err(internal)?.first_or_default_col(0);
            let id_low = fast.u64("id_low").map_err(internal)?.first_or_default_col(0);
            let alive = segment.alive_bitset();
            let mut scorer = weight.scorer(segment, 1.0).map_err(internal)?;
            let mut narrowing = false;
            let mut doc = scorer.doc();
            while doc != TERMINATED {
                if !narrowing && let Some(at_least) = narrow_to(&best, plan) {
                    narrowing = true;
                    let built = match narrowed_weight.take() {
                        Some(built) => built,
                        None => narrowed(at_least)
                            .map(|q| q.weight(scoring).map_err(internal))
                            .transpose()?,
                    };
                    if let Some(narrow) = &built {
                        scorer = narrow.scorer(segment, 1.0).map_err(internal)?;
                        doc = if scorer.doc() < doc {
                            scorer.seek(doc)
                        } else {
                            scorer.doc()
                        };
                    }
                    narrowed_weight = Some(built);
                    continue;
                }
                if alive.is_none_or(|bits| bits.is_alive(doc)) {
                    let updated_at = updated.get_val(doc);
                    if page_is_settled(&best, plan, updated_at) {
                        break;
                    }
                    let key = RankKey {
                        bucket: if plan.scored { scorer.score().round() as i64 } else { 0 },
                        updated_at,
                        id_high: Reverse(id_high.get_val(doc)),
                        id_low: Reverse(id_low.get_val(doc)),
                    };
                    let kept = (key, ordinal, doc);
                    match worst_kept(&best, plan.keep) {
                        None => best.push(Reverse(kept)),
                        Some(Some(worst)) if key > worst => {
                            best.pop();
                            best.push(Reverse(kept));
                        }
                        Some(_) => {}
                    }
                }
                doc = scorer.advance();
            }
        }
        Ok(best.into_sorted_vec().into_iter().map(|Reverse(kept)| kept).collect())
    }

    fn suggest_blocking(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let p = prefix.trim().to_lowercase();
        if p.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut tags: Vec<(String, u64)> = {
            let state = self
                .state
                .read()
                .map_err(|_| SearchError::Internal("state lock poisoned".into()))?;
            state
                .tag_counts
                .range(p.clone()..)
                .take_while(|(t, _)| t.starts_with(&p))
                .map(|(t, c)| (t.clone(), *c))
                .collect()
        };
        tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        tags.truncate(limit);
        let tag_suggestions = tags
            .into_iter()
            .map(|(t, c)| Suggestion {
                text: t,
                kind: SuggestionKind::Tag,
                project_id: None,
                count: Some(c),
            })
            .collect();

        let words = self.tokens(&p);
        let mut titles = Vec::new();
        if let Some((last, complete)) = words.split_last() {
            let searcher = self.reader.searcher();
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, self.live_filter())];
            for w in complete {
                clauses.push((
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_text(self.f.title, w),
                        IndexRecordOption::Basic,
                    )),
                ));
            }
            clauses.push((
                Occur::Must,
                Box::new(FuzzyTermQuery::new_prefix(
                    Term::from_field_text(self.f.title, last),
                    0,
                    true,
                )),
            ));
            let query = BooleanQuery::new(clauses);
            let top = TopDocs::with_limit(limit * 3).order_by_fast_field::<i64>("updated_at", Order::Desc);
            for (_, addr) in searcher.search(&query, &top).map_err(internal)? {
                let doc = self.fetch(&searcher, addr)?;
                titles.push(Suggestion {
                    text: doc.title,
                    kind: SuggestionKind::Title,
                    project_id: Some(doc.project_id),
                    count: None,
                });
            }
        }
        Ok(crate::merge_suggestions(tag_suggestions, titles, limit))
    }
}

/// The total of a query whose count passed `cap`: the `cap + 1` matches counted were
/// found in the first `scanned` of the index's `documents` (deleted ones and tombstones
/// included), so the matches are assumed that dense everywhere. At least `cap + 1`
/// (that many were seen), else at most the `live` projects.
fn estimate_total(cap: u64, scanned: u64, documents: u64, live: u64) -> u64 {
    let counted = cap + 1;
    let estimate = (counted as f64 * documents as f64 / scanned.max(1) as f64).round() as u64;
    estimate.min(live).max(counted)
}

/// `count` of `sample` matches, scaled to `total` (rounded; at most `total`).
fn scale(count: u64, total: u64, sample: u64) -> u64 {
    let scaled = (count as f64 * total as f64 / sample.max(1) as f64).round() as u64;
    scaled.min(total)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SearchError> + Send + 'static,
) -> Result<T, SearchError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SearchError::Internal(format!("search task failed: {e}")))?
}

#[async_trait]
impl SearchEngine for TantivyEngine {
    fn name(&self) -> &'static str {
        "tantivy"
    }

    async fn upsert(&self, doc: SearchDocument) -> Result<Applied, SearchError> {
        match self.send(OpKind::Upsert(vec![doc])).await? {
            Reply::Applied(v) => v
                .into_iter()
                .next()
                .ok_or_else(|| SearchError::Internal("empty reply".into())),
            _ => Err(SearchError::Internal("unexpected writer reply".into())),
        }
    }

    async fn upsert_many(&self, docs: Vec<SearchDocument>) -> Result<u64, SearchError> {
        if docs.is_empty() {
            return Ok(0);
        }
        match self.send(OpKind::Upsert(docs)).await? {
            Reply::Applied(v) => Ok(v.into_iter().filter(|a| a.is_written()).count() as u64),
            _ => Err(SearchError::Internal("unexpected writer reply".into())),
        }
    }

    async fn delete(&self, project_id: Uuid, version: i64) -> Result<(), SearchError> {
        self.send(OpKind::Delete(project_id, version)).await.map(|_| ())
    }

    async fn rename_user(&self, user_id: Uuid, display_name: &str) -> Result<u64, SearchError> {
        match self.send(OpKind::Rename(user_id, display_name.to_string())).await? {
            Reply::Count(n) => Ok(n),
            _ => Err(SearchError::Internal("unexpected writer reply".into())),
        }
    }

    async fn search(&self, q: &SearchQuery) -> Result<SearchPage, SearchError> {
        q.validate()?;
        let inner = self.inner.clone();
        let q = q.clone();
        blocking(move || inner.search_blocking(&q)).await
    }

    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let inner = self.inner.clone();
        let prefix = prefix.to_string();
        let limit = limit.min(50);
        blocking(move || inner.suggest_blocking(&prefix, limit)).await
    }

    async fn clear(&self) -> Result<(), SearchError> {
        self.send(OpKind::Clear).await.map(|_| ())
    }

    async fn ping(&self) -> Result<(), SearchError> {
        self.send(OpKind::Ping).await.map(|_| ())
    }

    fn needs_rebuild(&self) -> bool {
        self.rebuilt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimate_is_past_the_cap_and_within_the_live_projects() {
        // 101 matches in the first tenth of 10 000 documents: about 1 010.
        assert_eq!(estimate_total(100, 1_000, 10_000, 5_000), 1_010);
        // Dense matches cannot make more than the live projects…
        assert_eq!(estimate_total(100, 101, 10_000, 5_000), 5_000);
        // …and an estimate is never below what was seen.
        assert_eq!(estimate_total(100, 10_000, 10_000, 50), 101);
    }

    #[test]
    fn facet_counts_scale_like_the_total() {
        assert_eq!(scale(50, 1_000, 100), 500);
        assert_eq!(scale(100, 1_000, 100), 1_000);
        assert_eq!(scale(1, 3, 2), 2);
        assert_eq!(scale(7, 0, 0), 0);
    }

    #[test]
    fn an_index_that_is_not_sorted_newest_first_is_rebuilt() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (schema, _) = schema();
            let unsorted = Index::create_in_dir(dir.path(), schema).expect("create");
            assert_eq!(unsorted.settings().sort_by_field, None);
        }
        let engine = TantivyEngine::open(dir.path()).expect("open");
        assert!(engine.was_rebuilt(), "an unsorted index cannot stop scans early");
        drop(engine);
        let again = TantivyEngine::open(dir.path()).expect("reopen");
        assert!(!again.was_rebuilt(), "the rebuilt index is sorted");
    }
}
