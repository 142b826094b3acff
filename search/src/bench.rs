//! `folio bench search`: bulk indexing rate, query latency and
//! write-to-searchable latency of any [`SearchEngine`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{SearchDocument, SearchEngine, SearchError, SearchQuery};

/// Goal on the embedded engine at 1 000 000 projects (issue 22): bulk load time.
pub const GOAL_BULK_LOAD_SECONDS: f64 = 30.0;
/// Goal on the embedded engine at 1 000 000 projects, facets included: query p99.
pub const GOAL_QUERY_P99_MS: f64 = 10.0;
/// Goal on the embedded engine at 1 000 000 projects: resident memory.
pub const GOAL_RSS_MB: f64 = 400.0;

/// Benchmark knobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchOptions {
    /// Documents per `upsert_many` call.
    pub batch_size: usize,
    /// Number of timed queries.
    pub queries: usize,
    /// Number of write-to-searchable samples.
    pub write_samples: usize,
    /// Number of distinct users in the generated data.
    pub users: usize,
    /// Seed of the generator (same seed, same data).
    pub seed: u64,
    /// Clear the index first.
    pub clear_first: bool,
    /// Give up waiting for one write to become searchable after this long.
    pub visibility_timeout: Duration,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            batch_size: 10_000,
            queries: 1_000,
            write_samples: 200,
            users: 3_000,
            seed: 42,
            clear_first: true,
            visibility_timeout: Duration::from_secs(10),
        }
    }
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    pub fn from_durations(mut d: Vec<Duration>) -> Latency {
        if d.is_empty() {
            return Latency {
                samples: 0,
                p50_ms: 0.0,
                p99_ms: 0.0,
                max_ms: 0.0,
                mean_ms: 0.0,
            };
        }
        d.sort();
        let ms = |x: Duration| x.as_secs_f64() * 1000.0;
        let pick = |q: f64| {
            let i = ((d.len() as f64 * q).ceil() as usize).clamp(1, d.len()) - 1;
            ms(d[i])
        };
        let sum: f64 = d.iter().map(|x| ms(*x)).sum();
        Latency {
            samples: d.len(),
            p50_ms: pick(0.50),
            p99_ms: pick(0.99),
            max_ms: ms(d[d.len() - 1]),
            mean_ms: sum / d.len() as f64,
        }
    }
}

/// What `run` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchBenchReport {
    pub engine: String,
    pub documents: usize,
    pub index_seconds: f64,
    pub index_docs_per_sec: f64,
    pub query: Latency,
    /// Average number of hits (total) per timed query, to show queries did match.
    pub query_mean_total: f64,
    pub write_to_searchable: Latency,
    /// Writes that did not become searchable within the timeout.
    pub write_timeouts: usize,
    /// Latency per kind of query (one word, two words, a prefix, a typo, a tag filter,
    /// facets on), each kind timed on its own.
    #[serde(default)]
    pub by_kind: Vec<KindLatency>,
}

/// The latency of one kind of query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindLatency {
    pub kind: String,
    pub latency: Latency,
    /// Average `total` of the kind's queries (they do match).
    pub mean_total: f64,
    /// How many of its answers had an estimated total (`total_is_exact: false`).
    pub estimated_totals: usize,
}

impl std::fmt::Display for SearchBenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "engine: {}  documents: {}", self.engine, self.documents)?;
        writeln!(
            f,
            "bulk indexing: {:.1} s, {:.0} docs/s (goal at 1 000 000: <= {GOAL_BULK_LOAD_SECONDS:.0} s)",
            self.index_seconds, self.index_docs_per_sec
        )?;
        writeln!(
            f,
            "query latency ({} queries, mean total {:.0}): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.query.samples, self.query_mean_total, self.query.p50_ms, self.query.p99_ms, self.query.max_ms
        )?;
        writeln!(
            f,
            "write-to-searchable ({} samples, {} timeouts): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.write_to_searchable.samples,
            self.write_timeouts,
            self.write_to_searchable.p50_ms,
            self.write_to_searchable.p99_ms,
            self.write_to_searchable.max_ms
        )?;
        writeln!(
            f,
            "{:<22} {:>8} {:>10} {:>10} {:>12} {:>10}   goal p99 at 1 000 000: <= {GOAL_QUERY_P99_MS:.0} ms",
            "query kind", "samples", "p50 ms", "p99 ms", "mean total", "estimated"
        )?;
        for k in &self.by_kind {
            writeln!(
                f,
                "{:<22} {:>8} {:>10.2} {:>10.2} {:>12.0} {:>10}",
                k.kind, k.latency.samples, k.latency.p50_ms, k.latency.p99_ms, k.mean_total, k.estimated_totals
            )?;
        }
        Ok(())
    }
}

/// Small deterministic PRNG (splitmix64) so the benchmark needs no extra crate.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// Skewed pick (more weight on small indices), like real word frequencies.
    pub fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const WORDS: &[&str] = &[
    "portfolio",
    "dashboard",
    "tracker",
    "platform",
    "engine",
    "toolkit",
    "analytics",
    "website",
    "gallery",
    "studio",
    "weather",
    "finance",
    "budget",
    "expense",
    "chat",
    "messenger",
    "game",
    "puzzle",
    "shooter",
    "racing",
    "music",
    "player",
    "playlist",
    "recipe",
    "kitchen",
    "fitness",
    "workout",
    "health",
    "clinic",
    "booking",
    "hotel",
    "travel",
    "map",
    "navigation",
    "delivery",
    "inventory",
    "warehouse",
    "shop",
    "store",
    "commerce",
    "payment",
    "wallet",
    "crypto",
    "exchange",
    "learning",
    "course",
    "quiz",
    "school",
    "library",
    "books",
    "reader",
    "editor",
    "notes",
    "markdown",
    "blog",
    "forum",
    "social",
    "network",
    "photo",
    "camera",
    "video",
    "stream",
    "podcast",
    "radio",
    "calendar",
    "planner",
    "task",
    "todo",
    "kanban",
    "project",
    "manager",
    "crm",
    "invoice",
    "accounting",
    "scanner",
    "robot",
    "drone",
    "sensor",
    "embedded",
    "firmware",
    "compiler",
    "interpreter",
    "parser",
    "database",
    "cache",
    "search",
    "index",
    "crawler",
    "scraper",
    "bot",
    "assistant",
    "voice",
    "translation",
    "language",
    "model",
    "vision",
    "detection",
    "recognition",
    "classifier",
    "prediction",
    "forecast",
    "simulation",
    "physics",
    "render",
    "shader",
    "graphics",
    "animation",
    "design",
    "system",
    "component",
    "library",
    "framework",
    "template",
    "theme",
    "landing",
    "page",
    "resume",
    "profile",
    "identity",
    "login",
    "security",
    "scanner",
    "monitor",
    "alerting",
    "logging",
    "metrics",
    "pipeline",
    "deploy",
    "cluster",
    "container",
    "serverless",
    "gateway",
    "proxy",
    "router",
    "mobile",
    "android",
    "desktop",
    "terminal",
    "command",
    "line",
    "utility",
    "automation",
    "workflow",
    "smart",
    "home",
    "garden",
    "plant",
    "farm",
    "energy",
    "solar",
    "battery",
    "vehicle",
    "parking",
    "ticket",
    "event",
    "concert",
    "sports",
    "football",
    "tennis",
    "chess",
    "card",
    "board",
    "retro",
    "pixel",
    "art",
    "sketch",
    "paint",
    "color",
    "palette",
    "font",
    "typography",
    "minimal",
    "modern",
    "simple",
    "fast",
    "secure",
    "realtime",
    "open",
    "source",
    "personal",
    "community",
    "volunteer",
    "charity",
    "donation",
    "survey",
    "poll",
    "vote",
    "election",
];

const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia",
    "peggy", "rupert", "sybil", "trent", "victor", "walter", "yusuf", "zoe", "budi", "siti", "agus", "dewi", "rina",
    "wayan", "made", "putri", "andi", "rizky", "fajar", "nanda", "ayu", "bayu", "citra", "dimas", "eka", "fitri",
    "gilang", "hana", "indra", "joko", "kiki", "lina", "maya", "nina", "oscar", "pandu", "qori", "reza", "sari",
];

const SURNAMES: &[&str] = &[
    "tan", "lim", "wijaya", "santoso", "pratama", "saputra", "hidayat", "kusuma", "smith", "jones", "brown", "garcia",
    "miller", "davis", "martin", "lee", "nguyen", "kim", "park", "chen", "wang", "singh", "kumar", "silva", "rossi",
];

const TAG_BASE: &[&str] = &[
    "rust",
    "python",
    "javascript",
    "typescript",
    "go",
    "java",
    "kotlin",
    "swift",
    "ruby",
    "php",
    "csharp",
    "cpp",
    "c",
    "scala",
    "elixir",
    "haskell",
    "clojure",
    "dart",
    "lua",
    "zig",
    "react",
    "vue",
    "svelte",
    "angular",
    "nextjs",
    "nuxt",
    "flask",
    "django",
    "fastapi",
    "rails",
    "laravel",
    "spring",
    "express",
    "nestjs",
    "actix",
    "axum",
    "poem",
    "tokio",
    "postgres",
    "mysql",
    "sqlite",
    "mongodb",
    "redis",
    "kafka",
    "rabbitmq",
    "nats",
    "docker",
    "kubernetes",
    "terraform",
    "aws",
    "gcp",
    "azure",
    "linux",
    "wasm",
    "graphql",
    "rest",
    "grpc",
    "websocket",
    "ml",
    "ai",
    "nlp",
    "cv",
    "data",
    "etl",
    "gamedev",
    "unity",
    "godot",
    "bevy",
    "opengl",
    "vulkan",
    "webgl",
    "threejs",
    "d3",
    "css",
    "html",
    "tailwind",
    "sass",
    "figma",
    "ui",
    "ux",
    "mobile",
    "ios",
    "android",
    "flutter",
    "electron",
    "tauri",
    "cli",
    "devops",
    "security",
    "crypto",
    "blockchain",
    "iot",
    "embedded",
    "arduino",
    "raspberrypi",
    "robotics",
    "audio",
    "video",
    "3d",
    "ar",
    "vr",
    "ecommerce",
    "fintech",
    "healthtech",
    "edtech",
    "open-source",
];

/// About 200 tags: the base list plus "<base>-<suffix>" variants.
pub fn tag_vocabulary() -> Vec<String> {
    let mut v: Vec<String> = TAG_BASE.iter().map(|s| s.to_string()).collect();
    for suffix in ["tools", "lib"] {
        for b in TAG_BASE.iter().take(50) {
            v.push(format!("{b}-{suffix}"));
        }
    }
    v
}

/// Generates `n` realistic-looking projects (deterministic for a seed).
pub fn generate_documents(n: usize, users: usize, seed: u64) -> Vec<SearchDocument> {
    let mut rng = Rng::new(seed);
    let tags = tag_vocabulary();
    let users: Vec<(Uuid, String)> = (0..users.max(1))
        .map(|i| {
            let id = Uuid::from_u64_pair(0xF011_0000_0000_0000 | seed, i as u64);
            let name = format!(
                "{} {}",
                capitalize(NAMES[rng.below(NAMES.len())]),
                capitalize(SURNAMES[rng.below(SURNAMES.len())])
            );
            (id, name)
        })
        .collect();
    let base = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now)
        .timestamp();
    (0..n)
        .map(|i| {
            let (user_id, username) = users[rng.skewed(users.len())].clone();
            let title_len = 2 + rng.below(3);
            let title: Vec<String> = (0..title_len)
                .map(|_| capitalize(WORDS[rng.skewed(WORDS.len())]))
                .collect();
            let desc_len = 8 + rng.below(20);
            let description: Vec<&str> = (0..desc_len).map(|_| WORDS[rng.below(WORDS.len())]).collect();
            let n_tags = 1 + rng.below(4);
            let mut doc_tags: Vec<String> = Vec::new();
            for _ in 0..n_tags {
                let t = tags[rng.skewed(tags.len())].clone();
                if !doc_tags.contains(&t) {
                    doc_tags.push(t);
                }
            }
            let created = base + rng.below(60 * 60 * 24 * 600) as i64;
            let updated = created + rng.below(60 * 60 * 24 * 60) as i64;
            SearchDocument {
                project_id: Uuid::from_u64_pair(0xB3F0_0000_0000_0000 | seed, i as u64),
                user_id,
                username,
                title: title.join(" "),
                description: description.join(" "),
                tags: doc_tags,
                image_texts: Vec::new(),
                thumbnail_url: if rng.below(3) == 0 {
                    None
                } else {
                    Some(format!("/media/thumbnails/{user_id}/{i}_thumb.jpg"))
                },
                created_at: Utc.timestamp_opt(created, 0).single().unwrap_or_else(Utc::now),
                updated_at: Utc.timestamp_opt(updated, 0).single().unwrap_or_else(Utc::now),
                version: 1,
            }
        })
        .collect()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// One typo: swap two neighbouring letters (or drop one).
fn typo(word: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    if chars.len() < 3 {
        return word.to_string();
    }
    let i = 1 + rng.below(chars.len() - 2);
    if rng.below(2) == 0 {
        chars.swap(i, i + 1);
    } else {
        chars.remove(i);
    }
    chars.into_iter().collect()
}

/// The mixed query set: single words, two words, typos, tag filters, empty query.
pub fn generate_queries(n: usize, seed: u64) -> Vec<SearchQuery> {
    let mut rng = Rng::new(seed ^ 0x5151);
    let tags = tag_vocabulary();
    (0..n)
        .map(|i| {
            let mut q = SearchQuery {
                query: String::new(),
                tags: Vec::new(),
                page: 1,
                size: 20,
                facet_size: 0,
            };
            match i % 10 {
                0..=2 => q.query = WORDS[rng.skewed(WORDS.len())].to_string(),
                3..=4 => q.query = format!("{} {}", WORDS[rng.below(WORDS.len())], WORDS[rng.below(WORDS.len())]),
                5 => {
                    let long: Vec<&str> = WORDS.iter().copied().filter(|w| w.len() >= 5).collect();
                    q.query = typo(long[rng.below(long.len())], &mut rng);
                }
                6 => {
                    q.query = WORDS[rng.below(WORDS.len())].to_string();
                    q.tags = vec![
                        tags[rng.skewed(tags.len())].clone(),
                        tags[rng.below(tags.len())].clone(),
                    ];
                }
                7 => q.tags = vec![tags[rng.skewed(tags.len())].clone()],
                8 => {
                    q.query = String::new();
                    q.page = 1 + rng.below(5) as u32;
                }
                _ => {
                    // a name (display-name match) or a prefix being typed
                    q.query = if rng.below(2) == 0 {
                        NAMES[rng.below(NAMES.len())].to_string()
                    } else {
                        let w = WORDS[rng.below(WORDS.len())];
                        w.chars().take(3.max(w.len() / 2)).collect()
                    };
                }
            }
            q
        })
        .collect()
}

/// The query kinds, `per_kind` of each: one word, two words, a prefix being
/// typed, a word with one typo, a tag filter (no text), and one word with facets on.
/// Only the last asks for facets.
pub fn kind_queries(per_kind: usize, seed: u64) -> Vec<(&'static str, Vec<SearchQuery>)> {
    let mut rng = Rng::new(seed ^ 0x4B1D);
    let tags = tag_vocabulary();
    let long: Vec<&str> = WORDS.iter().copied().filter(|w| w.len() >= 5).collect();
    let plain = |query: String, tags: Vec<String>, facet_size: u32| SearchQuery {
        query,
        tags,
        page: 1,
        size: 20,
        facet_size,
    };
    let mut kinds: Vec<(&'static str, Vec<SearchQuery>)> = vec![
        ("one word", Vec::new()),
        ("two words", Vec::new()),
        ("prefix", Vec::new()),
        ("typo", Vec::new()),
        ("tag filter", Vec::new()),
        ("one word, facets on", Vec::new()),
    ];
    for _ in 0..per_kind {
        kinds[0]
            .1
            .push(plain(WORDS[rng.skewed(WORDS.len())].to_string(), vec![], 0));
        kinds[1].1.push(plain(
            format!("{} {}", WORDS[rng.below(WORDS.len())], WORDS[rng.below(WORDS.len())]),
            vec![],
            0,
        ));
        let w = long[rng.below(long.len())];
        kinds[2]
            .1
            .push(plain(w.chars().take(3 + rng.below(2)).collect(), vec![], 0));
        kinds[3]
            .1
            .push(plain(typo(long[rng.below(long.len())], &mut rng), vec![], 0));
        kinds[4]
            .1
            .push(plain(String::new(), vec![tags[rng.skewed(tags.len())].clone()], 0));
        kinds[5].1.push(plain(
            WORDS[rng.skewed(WORDS.len())].to_string(),
            vec![],
            crate::DEFAULT_FACET_SIZE,
        ));
    }
    kinds
}

/// Times each kind of [`kind_queries`] on its own (after a short warm-up).
pub async fn time_kinds(
    engine: &dyn SearchEngine,
    kinds: &[(&'static str, Vec<SearchQuery>)],
) -> Result<Vec<KindLatency>, SearchError> {
    let mut out = Vec::with_capacity(kinds.len());
    for (kind, queries) in kinds {
        for q in queries.iter().take(10) {
            engine.search(q).await?;
        }
        let mut lat = Vec::with_capacity(queries.len());
        let (mut totals, mut estimated) = (0u64, 0usize);
        for q in queries {
            let t = Instant::now();
            let page = engine.search(q).await?;
            lat.push(t.elapsed());
            totals += page.total;
            estimated += usize::from(!page.total_is_exact);
        }
        out.push(KindLatency {
            kind: kind.to_string(),
            latency: Latency::from_durations(lat),
            mean_total: totals as f64 / queries.len().max(1) as f64,
            estimated_totals: estimated,
        });
    }
    Ok(out)
}

/// A bulk load through [`crate::MeiliEngine`] next to Meilisearch's own documents API
/// fed the same documents as one NDJSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeiliBulkComparison {
    pub documents: usize,
    pub batch_size: usize,
    /// `upsert_many` in batches: one request and one awaited task per batch.
    pub engine_seconds: f64,
    /// One `POST /indexes/{uid}/documents` with `application/x-ndjson`, until its task
    /// succeeded.
    pub ndjson_seconds: f64,
}

impl std::fmt::Display for MeiliBulkComparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "meilisearch bulk load of {} projects: through MeiliEngine (batches of {}) {:.1} s ({:.0} docs/s); its documents API fed the same NDJSON {:.1} s ({:.0} docs/s); ratio {:.2}",
            self.documents,
            self.batch_size,
            self.engine_seconds,
            self.documents as f64 / self.engine_seconds.max(1e-9),
            self.ndjson_seconds,
            self.documents as f64 / self.ndjson_seconds.max(1e-9),
            self.engine_seconds / self.ndjson_seconds.max(1e-9)
        )
    }
}

/// Loads `n_docs` generated projects into two fresh indexes of the server in
/// `settings` (`<index>_bench_engine`, `<index>_bench_ndjson`, both with the engine's
/// settings): through the engine, and as one NDJSON body to the documents API.
pub async fn meili_bulk_vs_ndjson(
    settings: crate::MeiliSettings,
    n_docs: usize,
    batch_size: usize,
    seed: u64,
) -> Result<MeiliBulkComparison, SearchError> {
    let docs = generate_documents(n_docs, 3_000, seed);
    let engine_settings = crate::MeiliSettings {
        index: format!("{}_bench_engine", settings.index),
        ..settings.clone()
    };
    let engine = crate::MeiliEngine::connect(engine_settings).await?;
    engine.clear().await?;
    eprintln!("[bench] meilisearch: {n_docs} projects through MeiliEngine in batches of {batch_size}…");
    let start = Instant::now();
    for chunk in docs.chunks(batch_size.max(1)) {
        engine.upsert_many(chunk.to_vec()).await?;
    }
    let engine_seconds = start.elapsed().as_secs_f64();

    let raw_settings = crate::MeiliSettings {
        index: format!("{}_bench_ndjson", settings.index),
        ..settings.clone()
    };
    let raw_index = raw_settings.index.clone();
    let raw = crate::MeiliEngine::connect(raw_settings).await?;
    raw.clear().await?;
    let mut body = String::new();
    for doc in &docs {
        body.push_str(&crate::meili::document_json(doc).to_string());
        body.push('\n');
    }
    eprintln!("[bench] meilisearch: the same {n_docs} projects as one NDJSON body…");
    let client = reqwest::Client::new();
    let base = settings.url.trim_end_matches('/').to_string();
    let authorized = |r: reqwest::RequestBuilder| match &settings.api_key {
        Some(key) => r.bearer_auth(key),
        None => r,
    };
    let unavailable = |e: reqwest::Error| SearchError::Unavailable(format!("meilisearch: {e}"));
    let start = Instant::now();
    let enqueued: serde_json::Value = authorized(
        client
            .post(format!("{base}/indexes/{raw_index}/documents?primaryKey=project_id"))
            .header("content-type", "application/x-ndjson")
            .body(body),
    )
    .send()
    .await
    .map_err(unavailable)?
    .error_for_status()
    .map_err(unavailable)?
    .json()
    .await
    .map_err(unavailable)?;
    let task = enqueued["taskUid"]
        .as_u64()
        .ok_or_else(|| SearchError::Internal(format!("no taskUid in {enqueued}")))?;
    loop {
        let status: serde_json::Value = authorized(client.get(format!("{base}/tasks/{task}")))
            .send()
            .await
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        match status["status"].as_str() {
            Some("succeeded") => break,
            Some("failed") | Some("canceled") => {
                return Err(SearchError::Internal(format!(
                    "the NDJSON task did not succeed: {status}"
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let ndjson_seconds = start.elapsed().as_secs_f64();
    Ok(MeiliBulkComparison {
        documents: n_docs,
        batch_size,
        engine_seconds,
        ndjson_seconds,
    })
}

/// Runs the benchmark: bulk-index `n_docs` generated projects, time the mixed
/// query set, then time write-to-searchable. Progress goes to stderr.
pub async fn run(
    engine: Arc<dyn SearchEngine>,
    n_docs: usize,
    opts: BenchOptions,
) -> Result<SearchBenchReport, SearchError> {
    let name = engine.name().to_string();
    if opts.clear_first {
        engine.clear().await?;
    }
    eprintln!("[bench] {name}: generating {n_docs} projects ({} users)…", opts.users);
    let docs = generate_documents(n_docs, opts.users, opts.seed);
    let batch = opts.batch_size.max(1);
    eprintln!("[bench] indexing in batches of {batch}…");
    let start = Instant::now();
    let mut done = 0usize;
    let mut iter = docs.into_iter().peekable();
    while iter.peek().is_some() {
        let chunk: Vec<SearchDocument> = iter.by_ref().take(batch).collect();
        let len = chunk.len();
        engine.upsert_many(chunk).await?;
        done += len;
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "[bench]   {done}/{n_docs} indexed ({:.0} docs/s)",
            done as f64 / secs.max(1e-9)
        );
    }
    engine.refresh().await?;
    let index_seconds = start.elapsed().as_secs_f64();
    let index_docs_per_sec = n_docs as f64 / index_seconds.max(1e-9);

    let queries = generate_queries(opts.queries, opts.seed);
    eprintln!("[bench] warming up…");
    for q in queries.iter().take(50) {
        engine.search(q).await?;
    }
    eprintln!("[bench] timing {} queries…", queries.len());
    let mut lat = Vec::with_capacity(queries.len());
    let mut total_sum = 0u64;
    for (i, q) in queries.iter().enumerate() {
        let t = Instant::now();
        let page = engine.search(q).await?;
        lat.push(t.elapsed());
        total_sum += page.total;
        if (i + 1) % 250 == 0 {
            eprintln!("[bench]   {}/{} queries", i + 1, queries.len());
        }
    }
    let query = Latency::from_durations(lat);
    let query_mean_total = total_sum as f64 / queries.len().max(1) as f64;

    eprintln!("[bench] timing {} write-to-searchable samples…", opts.write_samples);
    let mut wlat = Vec::with_capacity(opts.write_samples);
    let mut timeouts = 0;
    let now = Utc::now();
    for i in 0..opts.write_samples {
        // A random 33-letter word: no earlier probe is within typo distance of it.
        let project_id = Uuid::new_v4();
        let marker = format!("p{}", project_id.simple());
        let doc = SearchDocument {
            project_id,
            user_id: Uuid::new_v4(),
            username: "Bench Writer".into(),
            title: format!("Bench {marker}"),
            description: "write to searchable probe".into(),
            tags: vec!["bench".into()],
            image_texts: Vec::new(),
            thumbnail_url: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let q = SearchQuery::text(marker);
        let t = Instant::now();
        engine.upsert(doc).await?;
        loop {
            let page = engine.search(&q).await?;
            if page.hits.iter().any(|h| h.document.project_id == project_id) {
                wlat.push(t.elapsed());
                break;
            }
            if t.elapsed() > opts.visibility_timeout {
                timeouts += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if (i + 1) % 50 == 0 {
            eprintln!("[bench]   {}/{} writes", i + 1, opts.write_samples);
        }
    }
    eprintln!("[bench] timing each kind of query…");
    let by_kind = time_kinds(engine.as_ref(), &kind_queries(200, opts.seed)).await?;
    let report = SearchBenchReport {
        by_kind,
        engine: name,
        documents: n_docs,
        index_seconds,
        index_docs_per_sec,
        query,
        query_mean_total,
        write_to_searchable: Latency::from_durations(wlat),
        write_timeouts: timeouts,
    };
    eprintln!("[bench] done\n{report}");
    Ok(report)
}

/// Bytes of every file under `dir` (an index's size on disk).
pub fn size_on_disk(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => size_on_disk(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// This process's resident memory, in MB (Linux; 0 where `/proc` has none).
pub fn own_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_realistic() {
        let a = generate_documents(200, 50, 7);
        let b = generate_documents(200, 50, 7);
        assert_eq!(a, b);
        assert!(
            a.iter()
                .all(|d| !d.title.is_empty() && !d.tags.is_empty() && d.updated_at >= d.created_at)
        );
        let users: std::collections::HashSet<_> = a.iter().map(|d| d.user_id).collect();
        assert!(users.len() > 10);
        let v = tag_vocabulary();
        assert!((180..=220).contains(&v.len()), "{}", v.len());
    }

    #[test]
    fn latency_percentiles() {
        let l = Latency::from_durations((1..=100).map(Duration::from_millis).collect());
        assert_eq!(l.samples, 100);
        assert!((l.p50_ms - 50.0).abs() < 1e-9);
        assert!((l.p99_ms - 99.0).abs() < 1e-9);
        assert!((l.max_ms - 100.0).abs() < 1e-9);
        assert_eq!(Latency::from_durations(vec![]).samples, 0);
    }

    #[test]
    fn query_mix_has_every_kind() {
        let qs = generate_queries(100, 1);
        assert!(qs.iter().any(|q| q.query.is_empty() && q.tags.is_empty()));
        assert!(qs.iter().any(|q| !q.tags.is_empty() && !q.query.is_empty()));
        assert!(qs.iter().any(|q| q.query.contains(' ')));
    }
}
