//! A local stand-in for a Meilisearch 1.50 server (poem), built from the
//! recorded exchanges in `search/tests/fixtures/meilisearch-1.50.json`: same
//! paths, status codes (202 + taskUid for writes, `GET /tasks/{uid}`), JSON
//! shapes and error bodies. Tasks are processed synchronously (they are already
//! finished when first polled). Documents live in memory, and the subset of
//! search semantics the adapter relies on is implemented:
//!
//! * filters: `attr = v`, `attr != v`, `attr IN [..]`, `AND`, `OR`, `NOT`, parentheses,
//!   only on filterable attributes;
//! * matching strategies `last` (the default: words dropped from the end) and `all`;
//! * the index's ranking rules in their order: words, typo, attribute / attributeRank
//!   (each word's best attribute, summed), sort and custom `attr:asc|desc` rules
//!   (proximity, wordPosition and exactness are not modelled: Folio does not send
//!   them); ties by insertion order;
//! * typo tolerance from the `typoTolerance` settings (word sizes, attributes where it
//!   is off): Damerau/OSA distance, a typo on the first letter costs two, prefix
//!   matching of the last query word (also with typos) unless the query ends with a
//!   separator;
//! * `page`/`hitsPerPage` (`totalHits`, `totalPages`) or `offset`/`limit`
//!   (`estimatedTotalHits`), `showRankingScore`, `attributesToRetrieve`,
//!   `attributesToSearchOn`, `sort`;
//! * facet search (prefix), documents fetch by filter / ids with fields,
//!   add-or-replace, partial update, deletes, stats, settings.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use poem::http::StatusCode;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::{Request, Response, Server};
use serde_json::{Map, Value, json};

pub struct StubServer {
    pub url: String,
    pub key: Option<String>,
    state: Arc<Mutex<Stub>>,
    handle: tokio::task::JoinHandle<()>,
}

impl StubServer {
    /// Starts a stub on a free loopback port. `key`: the master key (None = no auth).
    pub async fn start(key: Option<&str>) -> StubServer {
        Self::start_on(0, key).await
    }

    /// On a given loopback port (0: any free one), e.g. to bring an engine "back".
    pub async fn start_on(port: u16, key: Option<&str>) -> StubServer {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind stub port");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("local addr").port();
        let acceptor = TcpAcceptor::from_std(listener).expect("acceptor");
        let _ = acceptor.local_addr();
        let state = Arc::new(Mutex::new(Stub {
            key: key.map(str::to_string),
            ..Default::default()
        }));
        let st = state.clone();
        let ep = poem::endpoint::make(move |req: Request| {
            let st = st.clone();
            async move { handle(st, req).await }
        });
        let handle = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(ep).await;
        });
        StubServer {
            url: format!("http://127.0.0.1:{port}"),
            key: key.map(str::to_string),
            state,
            handle,
        }
    }

    /// Number of documents (tombstones included) in an index.
    pub fn raw_document_count(&self, index: &str) -> usize {
        self.state
            .lock()
            .map(|s| s.indexes.get(index).map(|i| i.docs.len()).unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

#[derive(Default)]
struct Stub {
    key: Option<String>,
    indexes: BTreeMap<String, IndexState>,
    tasks: Vec<Value>,
    seq: u64,
}

struct IndexState {
    uid: String,
    primary_key: Option<String>,
    created_at: String,
    updated_at: String,
    settings: Map<String, Value>,
    /// id → (insertion sequence, document)
    docs: HashMap<String, (u64, Map<String, Value>)>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn default_settings() -> Map<String, Value> {
    let v = json!({
        "displayedAttributes": ["*"],
        "searchableAttributes": ["*"],
        "filterableAttributes": [],
        "sortableAttributes": [],
        "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness"],
        "stopWords": [],
        "nonSeparatorTokens": [],
        "separatorTokens": [],
        "dictionary": [],
        "synonyms": {},
        "distinctAttribute": null,
        "proximityPrecision": "byWord",
        "typoTolerance": {
            "enabled": true,
            "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
            "disableOnWords": [],
            "disableOnAttributes": [],
            "disableOnNumbers": false
        },
        "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
        "pagination": {"maxTotalHits": 1000},
        "embedders": {},
        "searchCutoffMs": null,
        "localizedAttributes": null,
        "facetSearch": true,
        "prefixSearch": "indexingTime"
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl IndexState {
    fn new(uid: &str, pk: Option<String>) -> IndexState {
        IndexState {
            uid: uid.into(),
            primary_key: pk,
            created_at: now(),
            updated_at: now(),
            settings: default_settings(),
            docs: HashMap::new(),
        }
    }

    fn info(&self) -> Value {
        json!({"uid": self.uid, "createdAt": self.created_at, "updatedAt": self.updated_at, "primaryKey": self.primary_key})
    }

    fn str_list(&self, key: &str) -> Vec<String> {
        match self.settings.get(key) {
            Some(Value::Array(a)) => a
                .iter()
                .flat_map(|v| match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Object(o) => match o.get("attributePatterns") {
                        Some(Value::Array(p)) => p.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                        _ => vec![],
                    },
                    _ => vec![],
                })
                .collect(),
            _ => vec![],
        }
    }

    fn filterable(&self) -> Vec<String> {
        self.str_list("filterableAttributes")
    }

    fn ranking_rules(&self) -> Vec<String> {
        self.str_list("rankingRules")
    }

    fn max_total_hits(&self) -> usize {
        self.settings
            .get("pagination")
            .and_then(|p| p.get("maxTotalHits"))
            .and_then(|v| v.as_u64())
            .unwrap_or(1000) as usize
    }

    fn ordered_docs(&self) -> Vec<(&u64, &Map<String, Value>)> {
        let mut v: Vec<_> = self.docs.values().map(|(s, d)| (s, d)).collect();
        v.sort_by_key(|(s, _)| **s);
        v
    }
}

fn resp(status: u16, body: Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type("application/json")
        .body(body.to_string())
}

fn err(status: u16, code: &str, kind: &str, message: impl Into<String>) -> Response {
    resp(
        status,
        json!({
            "message": message.into(),
            "code": code,
            "type": kind,
            "link": format!("https://docs.meilisearch.com/errors#{code}")
        }),
    )
}

fn err_value(code: &str, kind: &str, message: impl Into<String>) -> Value {
    json!({"message": message.into(), "code": code, "type": kind, "link": format!("https://docs.meilisearch.com/errors#{code}")})
}

fn index_not_found(uid: &str) -> Response {
    err(
        404,
        "index_not_found",
        "invalid_request",
        format!("Index `{uid}` not found."),
    )
}

async fn handle(state: Arc<Mutex<Stub>>, mut req: Request) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .filter_map(|kv| {
            let mut it = kv.splitn(2, '=');
            Some((
                it.next()?.to_string(),
                it.next().unwrap_or("").replace("%2C", ",").replace("%2c", ","),
            ))
        })
        .collect();
    let auth = req.header("authorization").map(str::to_string);
    let body_bytes = req.take_body().into_vec().await.unwrap_or_default();
    let body: Value = if body_bytes.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body_bytes) {
            Ok(v) => v,
            Err(e) => {
                return err(
                    400,
                    "bad_request",
                    "invalid_request",
                    format!("The json payload provided is malformed. `{e}`."),
                );
            }
        }
    };
    let mut stub = match state.lock() {
        Ok(s) => s,
        Err(p) => p.into_inner(),
    };
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    if method == "GET" && segs == ["health"] {
        return resp(200, json!({"status": "available"}));
    }
    if let Some(key) = &stub.key {
        match auth.as_deref() {
            None => {
                return err(
                    401,
                    "missing_authorization_header",
                    "auth",
                    "The Authorization header is missing. It must use the bearer authorization method.",
                );
            }
            Some(h) if h != format!("Bearer {key}") => {
                return err(403, "invalid_api_key", "auth", "The provided API key is invalid.");
            }
            _ => {}
        }
    }
    stub.route(&method, &segs, &query, body)
}

fn is_valid_id(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s)
            if !s.is_empty()
                && s.len() <= 511
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Some(s.clone())
        }
        _ => None,
    }
}

impl Stub {
    fn enqueue(&mut self, index_uid: Option<&str>, kind: &str, details: Value, error: Option<Value>) -> Response {
        let uid = self.tasks.len() as u64;
        let t = now();
        let status = if error.is_some() { "failed" } else { "succeeded" };
        self.tasks.push(json!({
            "uid": uid,
            "batchUid": uid,
            "indexUid": index_uid,
            "status": status,
            "type": kind,
            "canceledBy": null,
            "details": details,
            "error": error,
            "duration": "PT0.000100000S",
            "enqueuedAt": t,
            "startedAt": t,
            "finishedAt": t
        }));
        resp(
            202,
            json!({"taskUid": uid, "indexUid": index_uid, "status": "enqueued", "type": kind, "enqueuedAt": t}),
        )
    }

    fn route(&mut self, method: &str, segs: &[&str], query: &HashMap<String, String>, body: Value) -> Response {
        match (method, segs) {
            ("GET", ["version"]) => resp(
                200,
                json!({"commitSha": "unknown", "commitDate": "unknown", "pkgVersion": "1.50.0"}),
            ),
            ("GET", ["tasks", id]) => match id.parse::<usize>().ok().and_then(|i| self.tasks.get(i)) {
                Some(t) => resp(200, t.clone()),
                None => err(
                    404,
                    "task_not_found",
                    "invalid_request",
                    format!("Task `{id}` not found."),
                ),
            },
            ("GET", ["indexes"]) => {
                let results: Vec<Value> = self.indexes.values().map(|i| i.info()).collect();
                let total = results.len();
                resp(
                    200,
                    json!({"results": results, "offset": 0, "limit": 20, "total": total}),
                )
            }
            ("POST", ["indexes"]) => {
                let Some(uid) = body.get("uid").and_then(|v| v.as_str()).map(str::to_string) else {
                    return err(400, "missing_index_uid", "invalid_request", "Missing field `uid`");
                };
                let pk = body.get("primaryKey").and_then(|v| v.as_str()).map(str::to_string);
                let details = json!({"primaryKey": pk});
                if self.indexes.contains_key(&uid) {
                    let e = err_value(
                        "index_already_exists",
                        "invalid_request",
                        format!("Index `{uid}` already exists."),
                    );
                    return self.enqueue(Some(&uid), "indexCreation", details, Some(e));
                }
                self.indexes.insert(uid.clone(), IndexState::new(&uid, pk));
                self.enqueue(Some(&uid), "indexCreation", details, None)
            }
            ("GET", ["indexes", uid]) => match self.indexes.get(*uid) {
                Some(i) => resp(200, i.info()),
                None => index_not_found(uid),
            },
            ("DELETE", ["indexes", uid]) => match self.indexes.remove(*uid) {
                Some(i) => self.enqueue(
                    Some(uid),
                    "indexDeletion",
                    json!({"deletedDocuments": i.docs.len()}),
                    None,
                ),
                None => {
                    let e = err_value(
                        "index_not_found",
                        "invalid_request",
                        format!("Index `{uid}` not found."),
                    );
                    self.enqueue(Some(uid), "indexDeletion", json!({"deletedDocuments": 0}), Some(e))
                }
            },
            ("GET", ["indexes", uid, "settings"]) => match self.indexes.get(*uid) {
                Some(i) => resp(200, Value::Object(i.settings.clone())),
                None => index_not_found(uid),
            },
            ("PATCH", ["indexes", uid, "settings"]) => {
                let Value::Object(patch) = body else {
                    return err(400, "bad_request", "invalid_request", "settings must be an object");
                };
                let idx = self
                    .indexes
                    .entry(uid.to_string())
                    .or_insert_with(|| IndexState::new(uid, None));
                let mut details = Map::new();
                for (k, v) in patch {
                    let v = match (k.as_str(), v) {
                        ("sortableAttributes" | "filterableAttributes", Value::Array(mut a)) => {
                            if a.iter().all(|x| x.is_string()) {
                                a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
                                a.dedup();
                            }
                            Value::Array(a)
                        }
                        (_, v) => v,
                    };
                    idx.settings.insert(k.clone(), v.clone());
                    details.insert(k, v);
                }
                idx.updated_at = now();
                self.enqueue(Some(uid), "settingsUpdate", Value::Object(details), None)
            }
            ("POST", ["indexes", uid, "documents"]) => self.add_documents(uid, query, body, true),
            ("PUT", ["indexes", uid, "documents"]) => self.add_documents(uid, query, body, false),
            ("DELETE", ["indexes", uid, "documents"]) => {
                let n = self
                    .indexes
                    .get_mut(*uid)
                    .map(|i| std::mem::take(&mut i.docs).len())
                    .unwrap_or(0);
                self.enqueue(
                    Some(uid),
                    "documentDeletion",
                    json!({"providedIds": 0, "deletedDocuments": n, "originalFilter": null}),
                    None,
                )
            }
            ("GET", ["indexes", uid, "documents", id]) => {
                let Some(idx) = self.indexes.get(*uid) else {
                    return index_not_found(uid);
                };
                match idx.docs.get(*id) {
                    Some((_, d)) => {
                        let fields: Option<Vec<String>> =
                            query.get("fields").map(|f| f.split(',').map(str::to_string).collect());
                        resp(200, select(d, fields.as_deref()))
                    }
                    None => err(
                        404,
                        "document_not_found",
                        "invalid_request",
                        format!("Document `{id}` not found."),
                    ),
                }
            }
            ("DELETE", ["indexes", uid, "documents", id]) => {
                let n = self
                    .indexes
                    .get_mut(*uid)
                    .and_then(|i| i.docs.remove(*id))
                    .map(|_| 1)
                    .unwrap_or(0);
                self.enqueue(
                    Some(uid),
                    "documentDeletion",
                    json!({"providedIds": 1, "deletedDocuments": n, "originalFilter": null}),
                    None,
                )
            }
            ("POST", ["indexes", uid, "documents", "fetch"]) => self.fetch(uid, &body),
            ("POST", ["indexes", uid, "search"]) => self.search(uid, &body),
            ("POST", ["indexes", uid, "facet-search"]) => self.facet_search(uid, &body),
            ("GET", ["indexes", uid, "stats"]) => {
                let Some(idx) = self.indexes.get(*uid) else {
                    return index_not_found(uid);
                };
                let mut dist: BTreeMap<String, u64> = BTreeMap::new();
                for (_, d) in idx.docs.values() {
                    for k in d.keys() {
                        *dist.entry(k.clone()).or_insert(0) += 1;
                    }
                }
                resp(
                    200,
                    json!({
                        "numberOfDocuments": idx.docs.len(),
                        "rawDocumentDbSize": 4096,
                        "avgDocumentSize": 1016,
                        "isIndexing": false,
                        "numberOfEmbeddings": 0,
                        "numberOfEmbeddedDocuments": 0,
                        "fieldDistribution": dist
                    }),
                )
            }
            _ => resp(404, Value::Null),
        }
    }

    fn add_documents(&mut self, uid: &str, query: &HashMap<String, String>, body: Value, replace: bool) -> Response {
        let docs: Vec<Value> = match body {
            Value::Array(a) => a,
            v @ Value::Object(_) => vec![v],
            _ => {
                return err(
                    400,
                    "malformed_payload",
                    "invalid_request",
                    "The payload must be a JSON array of objects",
                );
            }
        };
        let received = docs.len();
        let idx = self
            .indexes
            .entry(uid.to_string())
            .or_insert_with(|| IndexState::new(uid, None));
        if idx.primary_key.is_none() {
            idx.primary_key = query.get("primaryKey").cloned();
        }
        let pk = idx.primary_key.clone().unwrap_or_else(|| "id".into());
        // Validate everything first: Meilisearch fails the whole task.
        let mut parsed = Vec::with_capacity(docs.len());
        for d in docs {
            let Value::Object(m) = d else { continue };
            match m.get(&pk) {
                None => {
                    let e = err_value(
                        "missing_document_id",
                        "invalid_request",
                        format!(
                            "Document doesn't have a `{pk}` attribute: `{}`.",
                            Value::Object(m.clone())
                        ),
                    );
                    return self.enqueue(
                        Some(uid),
                        "documentAdditionOrUpdate",
                        json!({"receivedDocuments": received, "indexedDocuments": 0}),
                        Some(e),
                    );
                }
                Some(v) => match is_valid_id(v) {
                    Some(id) => parsed.push((id, m)),
                    None => {
                        let e = err_value(
                            "invalid_document_id",
                            "invalid_request",
                            format!(
                                "Document identifier `{v}` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes."
                            ),
                        );
                        return self.enqueue(
                            Some(uid),
                            "documentAdditionOrUpdate",
                            json!({"receivedDocuments": received, "indexedDocuments": 0}),
                            Some(e),
                        );
                    }
                },
            }
        }
        let Some(idx) = self.indexes.get_mut(uid) else {
            return index_not_found(uid);
        };
        for (id, m) in parsed {
            self.seq += 1;
            let seq = self.seq;
            match idx.docs.get_mut(&id) {
                Some((_, existing)) if !replace => {
                    for (k, v) in m {
                        existing.insert(k, v);
                    }
                }
                Some((_, existing)) => *existing = m,
                None => {
                    idx.docs.insert(id, (seq, m));
                }
            }
        }
        self.enqueue(
            Some(uid),
            "documentAdditionOrUpdate",
            json!({"receivedDocuments": received, "indexedDocuments": received}),
            None,
        )
    }

    fn fetch(&self, uid: &str, body: &Value) -> Response {
        let Some(idx) = self.indexes.get(uid) else {
            return index_not_found(uid);
        };
        let filter = match body.get("filter").and_then(|v| v.as_str()) {
            Some(f) => match Filter::parse(f, &idx.filterable(), uid) {
                Ok(f) => Some(f),
                Err(m) => return err(400, "invalid_document_filter", "invalid_request", m.to_string()),
            },
            None => None,
        };
        let ids: Option<Vec<String>> = body.get("ids").and_then(|v| v.as_array()).map(|a| {
            a.iter()
                .filter_map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .or_else(|| x.as_i64().map(|n| n.to_string()))
                })
                .collect()
        });
        let fields: Option<Vec<String>> = body
            .get("fields")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect());
        let offset = body.get("offset").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
        let limit = body.get("limit").and_then(|v| v.as_u64()).unwrap_or(20) as usize;
        let matching: Vec<&Map<String, Value>> = idx
            .ordered_docs()
            .into_iter()
            .map(|(_, d)| d)
            .filter(|d| {
                let pk = idx.primary_key.as_deref().unwrap_or("id");
                let id_ok = ids
                    .as_ref()
                    .is_none_or(|ids| d.get(pk).and_then(is_valid_id).is_some_and(|id| ids.contains(&id)));
                id_ok && filter.as_ref().is_none_or(|f| f.matches(d))
            })
            .collect();
        let total = matching.len();
        let results: Vec<Value> = matching
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|d| select(d, fields.as_deref()))
            .collect();
        resp(
            200,
            json!({"results": results, "offset": offset, "limit": limit, "total": total}),
        )
    }

    fn search(&self, uid: &str, body: &Value) -> Response {
        let Some(idx) = self.indexes.get(uid) else {
            return index_not_found(uid);
        };
        let q = body.get("q").and_then(|v| v.as_str()).unwrap_or("");
        let filter = match body.get("filter").and_then(|v| v.as_str()) {
            Some(f) => match Filter::parse(f, &idx.filterable(), uid) {
                Ok(f) => Some(f),
                Err(m) => return err(400, "invalid_search_filter", "invalid_request", m.to_string()),
            },
            None => None,
        };
        let sortable = idx.str_list("sortableAttributes");
        let mut sort: Vec<(String, bool)> = Vec::new();
        if let Some(Value::Array(a)) = body.get("sort") {
            for s in a.iter().filter_map(|x| x.as_str()) {
                let (attr, dir) = s.rsplit_once(':').unwrap_or((s, "asc"));
                if !sortable.iter().any(|x| x == attr) {
                    return err(
                        400,
                        "invalid_search_sort",
                        "invalid_request",
                        format!(
                            "Index `{uid}`: Attribute `{attr}` is not sortable. Available sortable attributes are: {}.",
                            sortable.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
                sort.push((attr.to_string(), dir == "desc"));
            }
        }
        let rules = idx.ranking_rules();
        let typo_settings = TypoSettings::of(idx);
        let mut searchable = idx.str_list("searchableAttributes");
        if let Some(Value::Array(on)) = body.get("attributesToSearchOn") {
            let on: Vec<String> = on.iter().filter_map(|x| x.as_str().map(str::to_string)).collect();
            if searchable.iter().any(|s| s == "*") {
                searchable = on;
            } else {
                searchable.retain(|s| on.contains(s));
            }
        }
        // `last` (Meilisearch's default) drops words from the end; `all` needs every word.
        let all_words = body.get("matchingStrategy").and_then(|v| v.as_str()) == Some("all");
        // Meilisearch considers the first ten words of a query.
        let words: Vec<String> = tokenize(q).into_iter().take(10).collect();
        // A query ending with a separator has no prefix word.
        let last_is_prefix = q.chars().last().is_some_and(char::is_alphanumeric);
        let n = words.len();
        let mut cands: Vec<Cand> = Vec::new();
        for (seq, doc) in idx.ordered_docs() {
            if let Some(f) = &filter
                && !f.matches(doc)
            {
                continue;
            }
            if n == 0 {
                cands.push(Cand {
                    doc,
                    seq: *seq,
                    key: RankKey::default(),
                });
                continue;
            }
            // Tokens per searchable attribute (in order), and whether typos count there.
            let attrs: Vec<(usize, bool, Vec<String>)> = if searchable.iter().any(|s| s == "*") {
                doc.iter()
                    .enumerate()
                    .map(|(i, (k, v))| (i, typo_settings.allowed_on(k), tokenize(&value_text(v))))
                    .collect()
            } else {
                searchable
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        (
                            i,
                            typo_settings.allowed_on(a),
                            doc.get(a).map(|v| tokenize(&value_text(v))).unwrap_or_default(),
                        )
                    })
                    .collect()
            };
            let mut key = RankKey::default();
            for (wi, w) in words.iter().enumerate() {
                let prefix = wi + 1 == n && last_is_prefix;
                let wc: Vec<char> = w.chars().collect();
                // The word's best derivation: fewest typos, then the best attribute.
                let mut best: Option<(u32, usize)> = None;
                for (ai, typos_ok, toks) in &attrs {
                    for t in toks {
                        if let Some(ty) = typo_settings.word_match(&wc, t, prefix, *typos_ok)
                            && best.is_none_or(|b| (ty, *ai) < b)
                        {
                            best = Some((ty, *ai));
                        }
                    }
                }
                match best {
                    Some((ty, ai)) => {
                        key.matched += 1;
                        key.typos += ty;
                        key.attributes += ai;
                    }
                    None => break,
                }
            }
            if key.matched == 0 || (all_words && key.matched < n) {
                continue;
            }
            key.missing = n - key.matched;
            cands.push(Cand { doc, seq: *seq, key });
        }
        let cmp_attr = |a: &Map<String, Value>, b: &Map<String, Value>, attr: &str, desc: bool| -> Ordering {
            let o = cmp_values(a.get(attr), b.get(attr));
            // Missing values always go last.
            match (
                a.get(attr).is_some_and(|v| !v.is_null()),
                b.get(attr).is_some_and(|v| !v.is_null()),
            ) {
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                _ => {
                    if desc {
                        o.reverse()
                    } else {
                        o
                    }
                }
            }
        };
        // The index's ranking rules, in order. Modelled: words, typo, attribute /
        // attributeRank (each word's best attribute rank, summed), sort and custom
        // `attr:asc|desc` rules; proximity, wordPosition and exactness are not (Folio
        // does not send them).
        cands.sort_by(|a, b| {
            let mut order = Ordering::Equal;
            for rule in &rules {
                order = order.then_with(|| match rule.as_str() {
                    "words" => a.key.missing.cmp(&b.key.missing),
                    "typo" => a.key.typos.cmp(&b.key.typos),
                    "attribute" | "attributeRank" => a.key.attributes.cmp(&b.key.attributes),
                    "sort" => sort.iter().fold(Ordering::Equal, |acc, (attr, desc)| {
                        acc.then_with(|| cmp_attr(a.doc, b.doc, attr, *desc))
                    }),
                    custom => match custom.rsplit_once(':') {
                        Some((attr, dir)) => cmp_attr(a.doc, b.doc, attr, dir == "desc"),
                        None => Ordering::Equal,
                    },
                });
            }
            order.then_with(|| a.seq.cmp(&b.seq))
        });
        let facet_distribution = match facet_distribution(idx, body, cands.iter().map(|c| c.doc)) {
            Ok(facets) => facets,
            Err(response) => return *response,
        };
        cands.truncate(idx.max_total_hits());
        let total = cands.len();
        let show_score = body.get("showRankingScore").and_then(|v| v.as_bool()).unwrap_or(false);
        let retrieve: Option<Vec<String>> = body
            .get("attributesToRetrieve")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .filter(|v: &Vec<String>| !v.iter().any(|s| s == "*"));
        let to_hit = |c: &Cand| -> Value {
            let mut h = match select(c.doc, retrieve.as_deref()) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            if show_score {
                let RankKey {
                    missing,
                    typos,
                    attributes,
                    ..
                } = c.key;
                let combined = (missing * 1000 + (typos.min(99) as usize) * 10 + attributes.min(9)) as f64;
                let score = if n == 0 {
                    1.0
                } else {
                    1.0 - combined / ((n * 1000 + 1000) as f64)
                };
                h.insert("_rankingScore".into(), json!(score));
            }
            Value::Object(h)
        };
        let paged = body.get("page").is_some() || body.get("hitsPerPage").is_some();
        if paged {
            let page = body.get("page").and_then(|v| v.as_u64()).unwrap_or(1).max(1) as usize;
            let hpp = body.get("hitsPerPage").and_then(|v| v.as_u64()).unwrap_or(20) as usize;
            let hits: Vec<Value> = cands
                .iter()
                .skip((page - 1).saturating_mul(hpp))
                .take(hpp)
                .map(to_hit)
                .collect();
            let total_pages = if hpp == 0 { 0 } else { total.div_ceil(hpp) };
            resp(
                200,
                with_facets(
                    json!({
                        "hits": hits, "query": q, "processingTimeMs": 0, "hitsPerPage": hpp, "page": page,
                        "totalPages": total_pages, "totalHits": total, "requestUid": uuid::Uuid::new_v4()
                    }),
                    facet_distribution,
                ),
            )
        } else {
            let offset = body.get("offset").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
            let limit = body.get("limit").and_then(|v| v.as_u64()).unwrap_or(20) as usize;
            let hits: Vec<Value> = cands.iter().skip(offset).take(limit).map(to_hit).collect();
            resp(
                200,
                with_facets(
                    json!({
                        "hits": hits, "query": q, "processingTimeMs": 0, "limit": limit, "offset": offset,
                        "estimatedTotalHits": total, "requestUid": uuid::Uuid::new_v4()
                    }),
                    facet_distribution,
                ),
            )
        }
    }

    fn facet_search(&self, uid: &str, body: &Value) -> Response {
        let Some(idx) = self.indexes.get(uid) else {
            return index_not_found(uid);
        };
        let Some(facet) = body.get("facetName").and_then(|v| v.as_str()) else {
            return err(
                400,
                "missing_facet_search_facet_name",
                "invalid_request",
                "Missing field `facetName`",
            );
        };
        let filterable = idx.filterable();
        if !filterable.iter().any(|f| f == facet) {
            return err(
                400,
                "invalid_facet_search_facet_name",
                "invalid_request",
                format!("Attribute `{facet}` is not facet-searchable."),
            );
        }
        let filter = match body.get("filter").and_then(|v| v.as_str()) {
            Some(f) => match Filter::parse(f, &filterable, uid) {
                Ok(f) => Some(f),
                Err(m) => return err(400, "invalid_search_filter", "invalid_request", m.to_string()),
            },
            None => None,
        };
        let fq = body
            .get("facetQuery")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_lowercase();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for (_, d) in idx.ordered_docs() {
            if filter.as_ref().is_some_and(|f| !f.matches(d)) {
                continue;
            }
            let values: Vec<String> = match d.get(facet) {
                Some(Value::Array(a)) => a.iter().map(scalar_string).collect(),
                Some(v) if !v.is_null() => vec![scalar_string(v)],
                _ => vec![],
            };
            let mut seen = std::collections::HashSet::new();
            for v in values {
                if v.to_lowercase().starts_with(&fq) && seen.insert(v.clone()) {
                    *counts.entry(v).or_insert(0) += 1;
                }
            }
        }
        let hits: Vec<Value> = counts
            .into_iter()
            .take(100)
            .map(|(value, count)| json!({"value": value, "count": count}))
            .collect();
        resp(
            200,
            json!({"facetHits": hits, "facetQuery": body.get("facetQuery").cloned().unwrap_or(Value::Null), "processingTimeMs": 0}),
        )
    }
}

/// `facetDistribution` for the search's `facets`, over every candidate (as Meilisearch
/// counts them, before `maxTotalHits`): per facet, `maxValuesPerFacet` values, sorted
/// by the index's `sortFacetValuesBy` (count descending, or alphabetically).
fn facet_distribution<'a>(
    idx: &IndexState,
    body: &Value,
    docs: impl Iterator<Item = &'a Map<String, Value>>,
) -> Result<Option<Value>, Box<Response>> {
    let Some(Value::Array(asked)) = body.get("facets") else {
        return Ok(None);
    };
    let filterable = idx.filterable();
    let asked: Vec<String> = asked.iter().filter_map(|f| f.as_str().map(str::to_string)).collect();
    if let Some(bad) = asked.iter().find(|f| !filterable.contains(f)) {
        return Err(Box::new(err(
            400,
            "invalid_search_facets",
            "invalid_request",
            format!("Invalid facet distribution: Attribute `{bad}` is not filterable."),
        )));
    }
    let faceting = idx.settings.get("faceting").cloned().unwrap_or(Value::Null);
    let max_values = faceting["maxValuesPerFacet"].as_u64().unwrap_or(100) as usize;
    let docs: Vec<&Map<String, Value>> = docs.collect();
    let mut out = Map::new();
    for facet in asked {
        let mut counts: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        for d in &docs {
            let values: Vec<String> = match d.get(&facet) {
                Some(Value::Array(a)) => a.iter().map(scalar_string).collect(),
                Some(Value::Null) | None => Vec::new(),
                Some(v) => vec![scalar_string(v)],
            };
            let unique: std::collections::BTreeSet<String> = values.into_iter().collect();
            for v in unique {
                *counts.entry(v).or_insert(0) += 1;
            }
        }
        let by = &faceting["sortFacetValuesBy"];
        let order = by[&facet].as_str().or_else(|| by["*"].as_str()).unwrap_or("alpha");
        let mut values: Vec<(String, u64)> = counts.into_iter().collect();
        if order == "count" {
            values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        }
        values.truncate(max_values);
        out.insert(
            facet,
            Value::Object(values.into_iter().map(|(v, n)| (v, json!(n))).collect()),
        );
    }
    Ok(Some(Value::Object(out)))
}

fn with_facets(mut reply: Value, facets: Option<Value>) -> Value {
    if let (Some(facets), Value::Object(reply)) = (facets, &mut reply) {
        reply.insert("facetDistribution".into(), facets);
    }
    reply
}

fn select(d: &Map<String, Value>, fields: Option<&[String]>) -> Value {
    match fields {
        None => Value::Object(d.clone()),
        Some(f) if f.iter().any(|x| x == "*") => Value::Object(d.clone()),
        Some(f) => Value::Object(
            d.iter()
                .filter(|(k, _)| f.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
    }
}

fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join(" "),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn cmp_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        // Meilisearch sorts numbers before strings.
        (Some(Value::Number(_)), Some(Value::String(_))) => Ordering::Less,
        (Some(Value::String(_)), Some(Value::Number(_))) => Ordering::Greater,
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// Words, lower-cased, with the common Latin diacritics removed (Meilisearch's
/// normalizer folds them: `café` is found by `cafe`).
fn tokenize(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().chars().map(fold).collect::<String>())
        .collect()
}

fn fold(c: char) -> String {
    let base = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => "a",
        'ç' | 'ć' | 'č' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'ī' => "i",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => "u",
        'ý' | 'ÿ' => "y",
        'ś' | 'š' => "s",
        'ź' | 'ż' | 'ž' => "z",
        'ł' => "l",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        other => return other.to_string(),
    };
    base.to_string()
}

/// A search candidate and what its ranking rules compare.
struct Cand<'a> {
    doc: &'a Map<String, Value>,
    seq: u64,
    key: RankKey,
}

#[derive(Debug, Clone, Copy, Default)]
struct RankKey {
    matched: usize,
    /// Query words not matched (the `words` rule).
    missing: usize,
    /// Typos summed over the words (the `typo` rule).
    typos: u32,
    /// Each word's best attribute rank, summed (the `attributeRank` rule).
    attributes: usize,
}

/// The index's `typoTolerance` settings, as Meilisearch applies them.
struct TypoSettings {
    enabled: bool,
    one_typo: usize,
    two_typos: usize,
    disabled_on: Vec<String>,
}

impl TypoSettings {
    fn of(idx: &IndexState) -> TypoSettings {
        let t = idx.settings.get("typoTolerance").cloned().unwrap_or(Value::Null);
        let size = |k: &str, d: usize| {
            t.get("minWordSizeForTypos")
                .and_then(|m| m.get(k))
                .and_then(|v| v.as_u64())
                .map_or(d, |v| v as usize)
        };
        TypoSettings {
            enabled: t.get("enabled").and_then(|v| v.as_bool()).unwrap_or(true),
            one_typo: size("oneTypo", 5),
            two_typos: size("twoTypos", 9),
            disabled_on: t
                .get("disableOnAttributes")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        }
    }

    fn allowed_on(&self, attribute: &str) -> bool {
        self.enabled && !self.disabled_on.iter().any(|a| a == attribute)
    }

    fn budget(&self, w: &[char]) -> u32 {
        if w.len() >= self.two_typos {
            2
        } else if w.len() >= self.one_typo {
            1
        } else {
            0
        }
    }

    /// Typos needed for query word `w` to match token `t` (None = no match), as
    /// Meilisearch derives them: exact or (last word) prefix: 0; else within the
    /// budget by Damerau distance (to the token's closest prefix for the last word),
    /// where a token with another first letter is reached only at distance 1 and
    /// costs 2 typos.
    fn word_match(&self, w: &[char], t: &str, prefix: bool, typos_ok: bool) -> Option<u32> {
        let tc: Vec<char> = t.chars().collect();
        if tc.as_slice() == w || (prefix && tc.starts_with(w)) {
            return Some(0);
        }
        let budget = if typos_ok { self.budget(w) } else { 0 };
        if budget == 0 || w.is_empty() || tc.is_empty() {
            return None;
        }
        // Out of reach by length alone (a prefix may be cut to any length).
        let too_short = tc.len() + (budget as usize) < w.len();
        if too_short || (!prefix && tc.len() > w.len() + budget as usize) {
            return None;
        }
        let mut best = osa(w, &tc);
        if prefix {
            let lo = w.len().saturating_sub(budget as usize).max(1);
            let hi = (w.len() + budget as usize).min(tc.len());
            for l in lo..=hi {
                best = best.min(osa(w, &tc[..l]));
            }
        }
        let same_first = w[0] == tc[0];
        match (budget, same_first) {
            (_, true) if best <= budget => Some(best),
            (2, false) if best <= 1 => Some(2),
            _ => None,
        }
    }
}

/// Optimal string alignment distance (a transposition counts as one typo).
fn osa(a: &[char], b: &[char]) -> u32 {
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0u32; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i as u32;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j as u32;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = u32::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

// ---- filters ---------------------------------------------------------------

#[derive(Debug)]
enum Filter {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
}

impl Filter {
    fn parse(src: &str, filterable: &[String], index: &str) -> Result<Filter, FilterError> {
        let toks = lex(src)?;
        let mut p = Parser {
            toks,
            pos: 0,
            src,
            filterable,
            index,
        };
        let f = p.or()?;
        if p.pos != p.toks.len() {
            return Err(FilterError(format!(
                "Found unexpected characters at the end of the filter: `{}`.\n{src}",
                src
            )));
        }
        Ok(f)
    }

    fn matches(&self, d: &Map<String, Value>) -> bool {
        let values = |attr: &str| -> Vec<String> {
            match d.get(attr) {
                Some(Value::Array(a)) => a.iter().map(|v| scalar_string(v).to_lowercase()).collect(),
                Some(Value::Null) | None => vec![],
                Some(v) => vec![scalar_string(v).to_lowercase()],
            }
        };
        match self {
            Filter::Eq(a, v) => values(a).iter().any(|x| *x == v.to_lowercase()),
            Filter::Ne(a, v) => !values(a).iter().any(|x| *x == v.to_lowercase()),
            Filter::In(a, vs) => values(a).iter().any(|x| vs.iter().any(|v| *x == v.to_lowercase())),
            Filter::And(x, y) => x.matches(d) && y.matches(d),
            Filter::Or(x, y) => x.matches(d) || y.matches(d),
            Filter::Not(x) => !x.matches(d),
        }
    }
}

/// A filter the stub cannot parse; the message is what Meilisearch answers.
#[derive(Debug)]
pub struct FilterError(String);

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

fn lex(src: &str) -> Result<Vec<Tok>, FilterError> {
    let mut out = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '[' => {
                out.push(Tok::LBracket);
                i += 1;
            }
            ']' => {
                out.push(Tok::RBracket);
                i += 1;
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '=' => {
                out.push(Tok::Eq);
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Ne);
                i += 2;
            }
            '"' | '\'' => {
                let q = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(FilterError(format!("Expression `{src}` is missing a closing quote."))),
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                s.push(*n);
                            }
                            i += 2;
                        }
                        Some(x) if *x == q => {
                            i += 1;
                            break;
                        }
                        Some(x) => {
                            s.push(*x);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(x) = chars.get(i) {
                    if x.is_whitespace() || "[](),=!".contains(*x) {
                        break;
                    }
                    s.push(*x);
                    i += 1;
                }
                out.push(Tok::Word(s));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    src: &'a str,
    filterable: &'a [String],
    index: &'a str,
}

impl Parser<'_> {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut f = self.and()?;
        while self.peek_word("OR") {
            self.pos += 1;
            f = Filter::Or(Box::new(f), Box::new(self.and()?));
        }
        Ok(f)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut f = self.not()?;
        while self.peek_word("AND") {
            self.pos += 1;
            f = Filter::And(Box::new(f), Box::new(self.not()?));
        }
        Ok(f)
    }

    fn not(&mut self) -> Result<Filter, FilterError> {
        if self.peek_word("NOT") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn value(&mut self) -> Result<String, FilterError> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Word(w)) | Some(Tok::Str(w)) => {
                self.pos += 1;
                Ok(w)
            }
            _ => Err(FilterError(format!(
                "Was expecting a value but instead got nothing.\n{}",
                self.src
            ))),
        }
    }

    fn primary(&mut self) -> Result<Filter, FilterError> {
        if self.toks.get(self.pos) == Some(&Tok::LParen) {
            self.pos += 1;
            let f = self.or()?;
            if self.toks.get(self.pos) != Some(&Tok::RParen) {
                return Err(FilterError(format!(
                    "Expression `{}` is missing the following closing delimiter: `)`.",
                    self.src
                )));
            }
            self.pos += 1;
            return Ok(f);
        }
        let attr = match self.toks.get(self.pos).cloned() {
            Some(Tok::Word(w)) | Some(Tok::Str(w)) => w,
            _ => {
                return Err(FilterError(format!(
                    "Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, `EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, `CONTAINS`, `NOT CONTAINS`, `STARTS WITH`, `NOT STARTS WITH`, `_geoRadius`, or `_geoBoundingBox` at `{}`.",
                    self.src
                )));
            }
        };
        self.pos += 1;
        if !self.filterable.contains(&attr) {
            let list = self
                .filterable
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(FilterError(format!(
                "Index `{}`: Attribute `{attr}` is not filterable. Available filterable attribute patterns are: {list}.\n{}",
                self.index, self.src
            )));
        }
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Eq) => {
                self.pos += 1;
                Ok(Filter::Eq(attr, self.value()?))
            }
            Some(Tok::Ne) => {
                self.pos += 1;
                Ok(Filter::Ne(attr, self.value()?))
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IN") => {
                self.pos += 1;
                if self.toks.get(self.pos) != Some(&Tok::LBracket) {
                    return Err(FilterError(format!("Expected `[` after `IN` keyword.\n{}", self.src)));
                }
                self.pos += 1;
                let mut vals = Vec::new();
                loop {
                    match self.toks.get(self.pos).cloned() {
                        Some(Tok::RBracket) => {
                            self.pos += 1;
                            break;
                        }
                        Some(Tok::Word(w)) | Some(Tok::Str(w)) => {
                            self.pos += 1;
                            vals.push(w);
                            match self.toks.get(self.pos) {
                                Some(Tok::Comma) => self.pos += 1,
                                Some(Tok::RBracket) => {}
                                _ => {
                                    let n = self.src.chars().count();
                                    return Err(FilterError(format!(
                                        "Expected matching `]` after the list of field names given to `IN[`\n{n}:{n} {}",
                                        self.src
                                    )));
                                }
                            }
                        }
                        _ => {
                            let n = self.src.chars().count();
                            return Err(FilterError(format!(
                                "Expected matching `]` after the list of field names given to `IN[`\n{n}:{n} {}",
                                self.src
                            )));
                        }
                    }
                }
                Ok(Filter::In(attr, vals))
            }
            _ => Err(FilterError(format!(
                "Was expecting an operation `=`, `!=`, `IN` at `{}`.",
                self.src
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typo_match(w: &str, t: &str, prefix: bool) -> Option<u32> {
        let defaults = TypoSettings {
            enabled: true,
            one_typo: 5,
            two_typos: 9,
            disabled_on: vec!["tags".into()],
        };
        let w: Vec<char> = w.chars().collect();
        defaults.word_match(&w, t, prefix, true)
    }

    #[test]
    fn diacritics_fold_like_meilisearch() {
        assert_eq!(tokenize("Café Ünïcode straße"), ["cafe", "unicode", "strasse"]);
    }

    #[test]
    fn typo_rules() {
        assert_eq!(typo_match("pyhton", "python", false), Some(1));
        assert_eq!(typo_match("pyhton", "pythonic", true), Some(1));
        assert_eq!(typo_match("kote", "kite", true), None);
        assert_eq!(typo_match("py", "python", true), Some(0));
        assert_eq!(typo_match("py", "python", false), None);
        assert_eq!(typo_match("dahsbaord", "dashboard", false), Some(2));
        assert_eq!(typo_match("fetsivel", "festival", true), None);
        assert_eq!(typo_match("yython", "python", false), None, "first letter costs two");
        assert_eq!(typo_match("xashboard", "dashboard", false), Some(2));
    }

    #[test]
    fn filters() {
        let f = vec!["tags".to_string(), "user_id".to_string()];
        let d: Map<String, Value> = match json!({"tags": ["Rust", "cli"], "user_id": "u1"}) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        assert!(
            Filter::parse(r#"tags IN ["rust", "go"]"#, &f, "i")
                .map(|x| x.matches(&d))
                .unwrap_or(false)
        );
        assert!(
            Filter::parse(r#"user_id = "u1" AND NOT tags = go"#, &f, "i")
                .map(|x| x.matches(&d))
                .unwrap_or(false)
        );
        assert!(Filter::parse("tags IN [unclosed", &f, "i").is_err());
        assert!(Filter::parse("title = x", &f, "i").is_err());
    }
}
