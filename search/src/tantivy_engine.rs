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
//! * Tag facets are counted over every match from the `tag` fast field (term
//!   ordinals per segment, summed by tag), in the same pass that counts the total.
//! * An index written by a version with another schema is derived data: it is
//!   emptied and made again ([`TantivyEngine::was_rebuilt`] tells the node, which
//!   republishes every project to fill it).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, DisjunctionMaxQuery, FuzzyTermQuery, Occur, Query, TermQuery, TermSetQuery,
};
use tantivy::schema::{FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument, Term};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::text::{match_cost, normalize_doc};
use crate::{
    Applied, SearchDocument, SearchEngine, SearchError, SearchHit, SearchPage, SearchQuery, Suggestion, SuggestionKind,
    top_facets,
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
}

/// The embedded engine. Cheap to share as `Arc<dyn SearchEngine>`.
pub struct TantivyEngine {
    inner: Arc<Inner>,
    tx: Option<mpsc::Sender<Op>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    rebuilt: bool,
}

/// Counts the tags of every matching document, from the `tag` fast field.
struct TagFacets;

struct SegmentTagFacets {
    column: Option<tantivy::columnar::StrColumn>,
    /// Matches per term ordinal of this segment's tag dictionary.
    counts: Vec<u64>,
}

impl Collector for TagFacets {
    type Fruit = HashMap<String, u64>;
    type Child = SegmentTagFacets;

    fn for_segment(
        &self,
        _: tantivy::SegmentOrdinal,
        segment: &tantivy::SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let column = segment.fast_fields().str("tag")?;
        let terms = column.as_ref().map_or(0, |c| c.num_terms());
        Ok(SegmentTagFacets {
            column,
            counts: vec![0; terms],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<HashMap<String, u64>>) -> tantivy::Result<HashMap<String, u64>> {
        let mut total: HashMap<String, u64> = HashMap::new();
        for segment in segments {
            for (tag, n) in segment {
                *total.entry(tag).or_insert(0) += n;
            }
        }
        Ok(total)
    }
}

impl SegmentCollector for SegmentTagFacets {
    type Fruit = HashMap<String, u64>;

    fn collect(&mut self, doc: tantivy::DocId, _: tantivy::Score) {
        if let Some(column) = &self.column {
            for ord in column.term_ords(doc) {
                if let Some(n) = self.counts.get_mut(ord as usize) {
                    *n += 1;
                }
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        let mut out = HashMap::new();
        let Some(column) = self.column else {
            return out;
        };
        let mut tag = String::new();
        for (ord, n) in self.counts.into_iter().enumerate() {
            if n > 0 && column.ord_to_str(ord as u64, &mut tag).unwrap_or(false) {
                out.insert(tag.clone(), n);
            }
        }
        out
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
        let existing = Index::open_in_dir(dir).ok().map(|index| index.schema() == schema);
        let rebuilt = existing == Some(false);
        if rebuilt {
            tracing::warn!(dir = %dir.display(), "the search index has an older schema; it is emptied and rebuilt");
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
        let index = Index::open_or_create(directory, schema).map_err(internal)?;
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
        Self::from_index(Index::create_in_ram(schema))
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

    /// What one query word matches: the best (typos, attribute) of every indexed word
    /// it reaches, as a score (see [`WORD_SCORE`]). The indexed words are found with a
    /// Levenshtein automaton over each segment's term dictionary, then each is priced
    /// with [`match_cost`], which also applies the first-letter rule the automaton
    /// does not know. `None` when the word matches nothing (so nothing can match all
    /// words).
    fn word_query(&self, searcher: &Searcher, word: &str, prefix: bool) -> Result<Option<Box<dyn Query>>, SearchError> {
        let chars: Vec<char> = word.chars().collect();
        let budget = crate::typo_budget(word);
        let mut disjuncts: Vec<Box<dyn Query>> = Vec::new();
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
                let mut seen: HashSet<String> = HashSet::new();
                for segment in searcher.segment_readers() {
                    let inverted = segment.inverted_index(field).map_err(internal)?;
                    let automaton = fuzzy.automaton().map_err(internal)?;
                    let mut stream = inverted.terms().search(automaton).into_stream().map_err(internal)?;
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
                disjuncts.push(Box::new(ConstScoreQuery::new(inner, score)));
            }
        }
        if disjuncts.is_empty() {
            return Ok(None);
        }
        Ok(Some(Box::new(DisjunctionMaxQuery::new(disjuncts))))
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
        if !tags.is_empty() {
            let terms = tags.iter().map(|t| Term::from_field_text(self.f.tag, t));
            clauses.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(TermSetQuery::new(terms)), 0.0)),
            ));
        }
        let n = words.len();
        let last_is_prefix = crate::last_word_is_prefix(&q.query);
        for (i, word) in words.iter().enumerate() {
            match self.word_query(&searcher, word, i + 1 == n && last_is_prefix)? {
                // Every word must match.
                Some(query) => clauses.push((Occur::Must, query)),
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
        let mut hits = Vec::new();
        let (total, facets) = if offset >= live {
            searcher.search(&query, &(Count, TagFacets)).map_err(internal)?
        } else {
            // Relevance bucket, then updated_at newest first, then project_id ascending.
            let top = TopDocs::with_limit(size)
                .and_offset(offset)
                .tweak_score(|seg: &tantivy::SegmentReader| {
                    let updated = seg
                        .fast_fields()
                        .i64("updated_at")
                        .ok()
                        .map(|c| c.first_or_default_col(0));
                    let id_column = |name: &str| seg.fast_fields().u64(name).ok().map(|c| c.first_or_default_col(0));
                    let (high, low) = (id_column("id_high"), id_column("id_low"));
                    move |doc: tantivy::DocId, score: tantivy::Score| {
                        let ts = updated.as_ref().map(|c| c.get_val(doc)).unwrap_or(0);
                        let id_high = high.as_ref().map(|c| c.get_val(doc)).unwrap_or(0);
                        let id_low = low.as_ref().map(|c| c.get_val(doc)).unwrap_or(0);
                        // Higher sorts first: the smaller project id must come out higher.
                        (score.round() as i64, ts, u64::MAX - id_high, u64::MAX - id_low)
                    }
                });
            let (count, docs, facets) = searcher.search(&query, &(Count, top, TagFacets)).map_err(internal)?;
            for ((bucket, _, _, _), addr) in docs {
                let score = if n == 0 { 1.0 } else { bucket as f32 };
                hits.push(SearchHit::new(self.fetch(&searcher, addr)?, score));
            }
            (count, facets)
        };
        Ok(SearchPage {
            hits,
            total: total as u64,
            total_is_exact: true,
            facets: top_facets(facets, q.facet_size),
        }
        .highlighted(&q.query))
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
