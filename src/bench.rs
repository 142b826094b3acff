//! `folio bench …`: figures printed next to the reference they are compared with, all
//! measured in one run on this machine. Command-line tooling, so errors are `anyhow`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::Subcommand;

use crate::{Node, Settings};

mod cluster;
mod embedded;
mod export;
mod indexing;
mod memory;
mod pages;
mod soak;
mod thumbnails_node;

#[derive(Subcommand, Clone)]
pub enum Which {
    /// CPU seconds to thumbnail a real-photo corpus: Folio vs vipsthumbnail vs Pillow,
    /// and Folio's peak RSS.
    Thumbnails {
        #[arg(long, default_value = folio_media::bench::DEFAULT_CORPUS)]
        corpus: std::path::PathBuf,
        /// Internal: thumbnail the corpus in this process (the measured child).
        #[arg(long, num_args = 2, value_names = ["CORPUS", "OUT"], hide = true)]
        child: Option<Vec<std::path::PathBuf>>,
        /// Upload the corpus to an embedded node (a process of its own) and compare the
        /// node's CPU time for the whole path with vipsthumbnail's.
        #[arg(long)]
        through_node: bool,
    },
    /// Search: bulk indexing and query latency at N projects (embedded engine), and
    /// write-to-searchable latency through a running node.
    Search {
        #[arg(long, default_value_t = 100_000)]
        documents: usize,
        /// Projects created through the node for the write-to-searchable figures.
        #[arg(long, default_value_t = 100)]
        samples: usize,
    },
    /// `POST /projects` and `GET /projects/{id}` at a fixed concurrency on SQLite and
    /// PostgreSQL, next to a bare poem route and `pgbench -S`; outbox lag.
    Api {
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Seconds per phase.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Server for the PostgreSQL run (a fresh database is created on it).
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres: String,
        /// NATS for the PostgreSQL run's events (outbox lag to a JetStream ack).
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        nats: String,
    },
    /// Mixed load (reads, writes, uploads, searches) on PostgreSQL + NATS + S3 for a long
    /// time: RSS every minute, errors, and search lag once the load stops. S3 is the
    /// configured endpoint, or an s3s-fs of its own.
    Soak {
        #[arg(long, default_value_t = 30)]
        minutes: u64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres: String,
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        nats: String,
    },
    /// Live indexing under a write burst: write rate, searchable share at the end of the
    /// burst and the time until the last write is searchable, embedded and on
    /// PostgreSQL + JetStream.
    Indexing {
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Seconds of writing.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres: String,
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        nats: String,
    },
    /// Two `folio serve` processes on PostgreSQL + NATS: thumbnail commit → SSE delivery
    /// across nodes, and the `Describe` round trip across nodes next to in-process.
    Cluster {
        /// Uploads, one at a time.
        #[arg(long, default_value_t = 200)]
        uploads: usize,
        /// `Describe` calls.
        #[arg(long, default_value_t = 2000)]
        calls: usize,
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres: String,
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        nats: String,
    },
    /// Resident memory of an embedded node (a process of its own): idle, after N
    /// projects, after M uploads with their thumbnails; goal ≤ 150 MB.
    Memory {
        #[arg(long, default_value_t = 10_000)]
        projects: usize,
        #[arg(long, default_value_t = 1_000)]
        uploads: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// An account export of N MB of originals from an embedded node (a process of its
    /// own): how much the node's resident memory grows while the archive is written and
    /// downloaded, next to the goal of 50 MB.
    Export {
        /// Megabytes of originals in the account.
        #[arg(long, default_value_t = 1024)]
        megabytes: u64,
    },
    /// The public page of a 20-image project vs. its JSON, under wrk in the same run;
    /// goal: the page at ≥ 0.5× the JSON's requests/s, its HTML under 30 KB.
    Pages {
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Seconds per measured run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Login latency, and `/auth/verify` throughput idle vs. during a login storm.
    Auth {
        /// Concurrent logins in the storm (and concurrent verify clients).
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Seconds per throughput phase.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

pub async fn run(which: Which, base: &Settings) -> anyhow::Result<()> {
    match which {
        Which::Auth { concurrency, seconds } => auth(base, concurrency, Duration::from_secs(seconds)).await,
        Which::Thumbnails {
            corpus,
            through_node: true,
            ..
        } => thumbnails_node::through_node(&corpus, base.media.system_libjpeg_turbo).await,
        Which::Thumbnails { corpus, child, .. } => thumbnails(&corpus, child),
        Which::Soak {
            minutes,
            concurrency,
            postgres,
            nats,
        } => {
            soak::soak(
                base,
                soak::SoakOptions {
                    duration: Duration::from_secs(minutes * 60),
                    concurrency,
                    report_every: Duration::from_secs(60),
                    postgres,
                    nats,
                },
            )
            .await
        }
        Which::Search { documents, samples } => search(base, documents, samples).await,
        Which::Memory {
            projects,
            uploads,
            concurrency,
        } => memory::memory(projects, uploads, concurrency).await,
        Which::Export { megabytes } => export::export(megabytes).await,
        Which::Pages { connections, seconds } => pages::pages(connections, seconds).await,
        Which::Cluster {
            uploads,
            calls,
            postgres,
            nats,
        } => cluster::cluster(&postgres, &nats, uploads, calls).await,
        Which::Indexing {
            concurrency,
            seconds,
            postgres,
            nats,
        } => {
            indexing::indexing(
                base,
                indexing::IndexingOptions {
                    concurrency,
                    burst: Duration::from_secs(seconds),
                    postgres,
                    nats,
                },
            )
            .await
        }
        Which::Api {
            concurrency,
            seconds,
            postgres,
            nats,
        } => api(base, concurrency, Duration::from_secs(seconds), &postgres, &nats).await,
    }
}

/// A fresh embedded node in a temporary data dir, on a free port, with the configured
/// (by default production) password cost.
async fn bench_node(base: &Settings) -> anyhow::Result<(Node, tempfile::TempDir)> {
    let dir = tempfile::tempdir().context("temporary data dir")?;
    let mut settings = base.clone();
    settings.http.addr = "127.0.0.1:0".parse()?;
    settings.node.data_dir = dir.path().to_path_buf();
    settings.database.backend = crate::configuration::DatabaseBackend::Embedded;
    settings.auth.jwt_secret = None;
    settings.auth.login_max_failures = u32::MAX;
    let node = Node::start(&settings).await.context("starting the bench node")?;
    Ok((node, dir))
}

/// A node on a fresh PostgreSQL database of its own and JetStream streams of its own.
struct PostgresBenchNode {
    node: Node,
    admin_url: String,
    database: String,
    _dir: tempfile::TempDir,
}

impl PostgresBenchNode {
    /// Stops the node and drops its database.
    async fn stop(self) {
        self.node.shutdown().await;
        use sea_orm::ConnectionTrait as _;
        if let Ok(admin) = sea_orm::Database::connect(&self.admin_url).await {
            let _ = admin
                .execute_unprepared(&format!("drop database if exists {} with (force)", self.database))
                .await;
        }
    }
}

async fn postgres_bench_node(base: &Settings, postgres: &str, nats: &str) -> anyhow::Result<PostgresBenchNode> {
    let dir = tempfile::tempdir()?;
    let mut settings = base.clone();
    settings.http.addr = "127.0.0.1:0".parse()?;
    settings.node.data_dir = dir.path().to_path_buf();
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let database = format!("folio_bench_{run_id}");
    {
        use sea_orm::ConnectionTrait as _;
        let admin = sea_orm::Database::connect(postgres)
            .await
            .context("connecting to PostgreSQL")?;
        admin.execute_unprepared(&format!("create database {database}")).await?;
    }
    let (server, _) = postgres.rsplit_once('/').context("postgres URL")?;
    settings.database.backend = crate::configuration::DatabaseBackend::postgres(format!("{server}/{database}"));
    settings.auth.jwt_secret = Some(crate::configuration::Secret::new(
        "bench-secret-bench-secret-bench-secret-0000",
    ));
    settings.bus.backend = crate::configuration::BusBackend::JetStream(nats.to_string());
    settings.bus.stream_prefix = format!("BENCH{run_id}_");
    settings.bus.subject_prefix = format!("bench{run_id}.");
    let node = Node::start(&settings).await.context("starting the PostgreSQL node")?;
    Ok(PostgresBenchNode {
        node,
        admin_url: postgres.to_string(),
        database,
        _dir: dir,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn post_json(client: &reqwest::Client, url: &str, body: serde_json::Value) -> anyhow::Result<serde_json::Value> {
    let response = client.post(url).json(&body).send().await?;
    let status = response.status();
    let value: serde_json::Value = response.json().await?;
    if !status.is_success() {
        bail!("{url}: {status} {value}");
    }
    Ok(value)
}

async fn auth(base: &Settings, concurrency: usize, phase: Duration) -> anyhow::Result<()> {
    let (node, _dir) = bench_node(base).await?;
    let url = node.base_url();
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    eprintln!(
        "bench auth: embedded node at {url}, argon2id m={} KiB t={} p={}, hashing concurrency {}",
        base.auth.argon2_memory_kib,
        base.auth.argon2_iterations,
        base.auth.argon2_parallelism,
        base.auth
            .hash_concurrency
            .unwrap_or_else(folio_actors::blocking::BlockingPool::default_size)
    );

    eprintln!("[1/4] registering {concurrency} accounts");
    let mut accounts = Vec::new();
    for i in 0..concurrency.max(1) {
        let email = format!("bench{i}@folio.test");
        post_json(
            &client,
            &format!("{url}/auth/register"),
            serde_json::json!({"username": format!("bench{i}"), "email": email, "password": "bench-password"}),
        )
        .await?;
        accounts.push(email);
    }
    let login_body = |email: &str| serde_json::json!({"email": email, "password": "bench-password"});
    let token = post_json(&client, &format!("{url}/auth/login"), login_body(&accounts[0])).await?["access_token"]
        .as_str()
        .context("login answered without access_token")?
        .to_string();

    eprintln!("[2/4] login latency: 50 sequential logins");
    let mut latencies = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        post_json(&client, &format!("{url}/auth/login"), login_body(&accounts[0])).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();

    let verify_rps = |storm: bool| {
        let client = client.clone();
        let url = url.clone();
        let token = token.clone();
        let accounts = accounts.clone();
        async move {
            let stop = Arc::new(AtomicBool::new(false));
            let verified = Arc::new(AtomicU64::new(0));
            let logins = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for _ in 0..concurrency {
                let (client, url, token, stop, verified) = (
                    client.clone(),
                    url.clone(),
                    token.clone(),
                    stop.clone(),
                    verified.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let ok = client
                            .get(format!("{url}/auth/verify"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success());
                        if ok {
                            verified.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
            if storm {
                for email in accounts.iter().cycle().take(concurrency) {
                    let (client, url, stop, logins, email) =
                        (client.clone(), url.clone(), stop.clone(), logins.clone(), email.clone());
                    tasks.push(tokio::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            let ok = client
                                .post(format!("{url}/auth/login"))
                                .json(&serde_json::json!({"email": email, "password": "bench-password"}))
                                .send()
                                .await
                                .is_ok_and(|r| r.status().is_success());
                            if ok {
                                logins.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }));
                }
            }
            let started = Instant::now();
            tokio::time::sleep(phase).await;
            stop.store(true, Ordering::Relaxed);
            let elapsed = started.elapsed().as_secs_f64();
            for task in tasks {
                let _ = task.await;
            }
            (
                verified.load(Ordering::Relaxed) as f64 / elapsed,
                logins.load(Ordering::Relaxed) as f64 / elapsed,
            )
        }
    };
    eprintln!(
        "[3/4] /auth/verify with {concurrency} clients, no other load ({}s)",
        phase.as_secs()
    );
    let (idle, _) = verify_rps(false).await;
    eprintln!(
        "[4/4] /auth/verify with {concurrency} clients while {concurrency} logins run at once ({}s)",
        phase.as_secs()
    );
    let (storm, logins_per_sec) = verify_rps(true).await;
    node.shutdown().await;

    let ratio = if idle > 0.0 { storm / idle } else { 0.0 };
    println!();
    println!(
        "folio bench auth ({} cores)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("{:<44} {:>14} {:>14}", "measure", "folio", "reference");
    println!(
        "{:<44} {:>14} {:>14}",
        "login p50 (argon2id, sequential)",
        ms(percentile(&latencies, 50.0)),
        "-"
    );
    println!(
        "{:<44} {:>14} {:>14}",
        "login p99 (argon2id, sequential)",
        ms(percentile(&latencies, 99.0)),
        "-"
    );
    println!("{:<44} {:>14.0} {:>14}", "/auth/verify req/s, idle", idle, "(baseline)");
    println!(
        "{:<44} {:>14.0} {:>14}",
        format!("/auth/verify req/s, {concurrency} logins at once"),
        storm,
        format!("{:.0} (40%)", idle * 0.4)
    );
    println!(
        "{:<44} {:>14.1} {:>14}",
        "logins/s completed during the storm", logins_per_sec, "-"
    );
    println!(
        "{:<44} {:>13.0}% {:>14}",
        "verify throughput kept under the storm",
        ratio * 100.0,
        if ratio >= 0.4 { "goal met" } else { "GOAL MISSED" }
    );
    Ok(())
}

/// Throughput and latency of one request shape under a fixed number of clients.
struct LoadResult {
    /// Requests answered successfully.
    completed: u64,
    requests_per_sec: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

/// Runs `concurrency` clients for `phase`, each sending `request(i)` back to back.
async fn load<F, Fut>(concurrency: usize, phase: Duration, request: F) -> LoadResult
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (request, stop, errors, counter) = (request.clone(), stop.clone(), errors.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                if request(i).await {
                    latencies.push(started.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(phase).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        if let Ok(mut l) = task.await {
            latencies.append(&mut l);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    LoadResult {
        completed: latencies.len() as u64,
        requests_per_sec: latencies.len() as f64 / elapsed,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// The framework's ceiling: a poem route that answers a constant JSON body.
async fn bare_poem_server() -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    use poem::{
        EndpointExt as _, Route, get, handler,
        listener::{Acceptor as _, Listener as _, TcpListener},
        web::Json,
    };
    #[handler]
    fn bare() -> Json<serde_json::Value> {
        Json(serde_json::json!({"id": "00000000-0000-0000-0000-000000000000", "title": "bare"}))
    }
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("bare server address")?;
    let app = Route::new().at("/bare", get(bare)).map_to_response();
    let handle = tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    Ok((format!("http://{addr}"), handle))
}

struct ApiFigures {
    post: LoadResult,
    get: LoadResult,
    /// The in-memory project views after the GET phase.
    views: folio_actors::project::views::ViewStats,
    /// The stamp measured from when the client had its 201 (after the commit).
    stamped_since_answer: Lag,
    /// Commit to the outbox stamp: the bus's acknowledgement, which on the in-process bus
    /// waits for every consumer to have processed the event.
    stamped: Lag,
    /// Commit to the event reaching a consumer, without that consumer's processing
    /// (in-process bus only: on JetStream the publish ack is the delivery to the bus,
    /// and a probe consumer would only measure its own pulling).
    delivered: Option<Lag>,
    /// Events written during the run.
    events: usize,
}

struct Lag {
    p50: Duration,
    p99: Duration,
    samples: usize,
}

impl Lag {
    fn of(mut lags: Vec<Duration>) -> Lag {
        lags.sort();
        Lag {
            p50: percentile(&lags, 50.0),
            p99: percentile(&lags, 99.0),
            samples: lags.len(),
        }
    }
}

/// When something happened to each event or project (its delivery, its 201), by id.
type TimesById = Arc<std::sync::Mutex<std::collections::HashMap<uuid::Uuid, chrono::DateTime<chrono::Utc>>>>;

/// A consumer of the bench's own on `project.>` that acknowledges at once and notes when
/// each event first reached it: commit to delivery, apart from what the node's
/// consumers then spend on the event.
async fn delivery_probe(node: &Node) -> anyhow::Result<(TimesById, tokio::task::JoinHandle<()>)> {
    use folio_actors::events::{ConsumerSpec, next_event};
    let mut subscription = node
        .bus
        .subscribe(ConsumerSpec {
            durable: "bench-delivery-probe".to_string(),
            subjects: vec!["project.>".to_string()],
            ack_wait: Duration::from_secs(30),
            max_deliver: -1,
        })
        .await
        .context("subscribing the delivery probe")?;
    let times: TimesById = Arc::default();
    let probe = {
        let times = times.clone();
        tokio::spawn(async move {
            while let Some(delivery) = next_event(subscription.as_mut(), None).await {
                let arrived = chrono::Utc::now();
                if let Ok(mut times) = times.lock() {
                    times.entry(delivery.event.event_id).or_insert(arrived);
                }
                let _ = delivery.ack().await;
            }
        })
    };
    Ok((times, probe))
}

async fn api_figures(node: &Node, concurrency: usize, phase: Duration) -> anyhow::Result<ApiFigures> {
    let url = node.base_url();
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    post_json(
        &client,
        &format!("{url}/auth/register"),
        serde_json::json!({"username": "benchuser", "email": "bench@folio.test", "password": "bench-password"}),
    )
    .await?;
    let login = post_json(
        &client,
        &format!("{url}/auth/login"),
        serde_json::json!({"email": "bench@folio.test", "password": "bench-password"}),
    )
    .await?;
    let token = login["access_token"].as_str().context("no access token")?.to_string();

    let probe = match node.bus.name() {
        "in-process" => Some(delivery_probe(node).await?),
        _ => None,
    };
    eprintln!("  POST /projects, {concurrency} clients, {}s", phase.as_secs());
    // When each project's 201 reached the client: its commit happened before that.
    let answered: TimesById = Arc::default();
    let post = {
        let (client, url, token, answered) = (client.clone(), url.clone(), token.clone(), answered.clone());
        load(concurrency, phase, move |i| {
            let (client, url, token, answered) = (client.clone(), url.clone(), token.clone(), answered.clone());
            async move {
                let Ok(reply) = client
                    .post(format!("{url}/projects"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"title": format!("Bench project {i}"), "description": "load test", "tags": ["bench", "rust"]}))
                    .send()
                    .await
                else {
                    return false;
                };
                if reply.status().as_u16() != 201 {
                    return false;
                }
                let at = chrono::Utc::now();
                if let Ok(body) = reply.json::<serde_json::Value>().await
                    && let Some(id) = body["id"].as_str().and_then(|id| id.parse().ok())
                    && let Ok(mut answered) = answered.lock()
                {
                    answered.insert(id, at);
                }
                true
            }
        })
        .await
    };
    let listed: serde_json::Value = client
        .get(format!(
            "{url}/projects/user/{}?size=100",
            login["user"]["id"].as_str().unwrap_or_default()
        ))
        .send()
        .await?
        .json()
        .await?;
    let ids: Arc<Vec<String>> = Arc::new(
        listed["projects"]
            .as_array()
            .context("project list")?
            .iter()
            .filter_map(|p| p["id"].as_str().map(str::to_string))
            .collect(),
    );
    if ids.is_empty() {
        bail!("no projects were created");
    }
    eprintln!("  GET /projects/{{id}}, {concurrency} clients, {}s", phase.as_secs());
    let get = {
        let (client, url, ids) = (client.clone(), url.clone(), ids.clone());
        load(concurrency, phase, move |i| {
            let (client, url) = (client.clone(), url.clone());
            let id = ids[(i as usize) % ids.len()].clone();
            async move {
                client
                    .get(format!("{url}/projects/{id}"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await
    };
    let views = node.projects.view_stats();
    // Commit to publish acknowledgement, as stamped by the relay; events not yet
    // stamped by now are left out (the sample count says how many there are).
    tokio::time::sleep(Duration::from_secs(1)).await;
    use sea_orm::EntityTrait as _;
    let rows = folio_entities::outbox_events::Entity::find().all(&node.db).await?;
    let since_commit = |at: chrono::DateTime<chrono::Utc>, row: &folio_entities::outbox_events::Model| {
        (at - row.created_at).to_std().unwrap_or_default()
    };
    let stamped = Lag::of(
        rows.iter()
            .filter_map(|r| r.published_at.map(|p| since_commit(p, r)))
            .collect(),
    );
    // The same stamp measured from the 201: the row's own timestamp is taken before its
    // commit (and its WAL flush), the answer after it, so the two bracket commit → stamp.
    let stamped_since_answer = {
        let answered = answered.lock().map_err(|_| anyhow::anyhow!("a client panicked"))?;
        Lag::of(
            rows.iter()
                .filter_map(|r| {
                    let published = r.published_at?;
                    let envelope: serde_json::Value = serde_json::from_str(&r.envelope).ok()?;
                    let id: uuid::Uuid = envelope["data"]["project_id"].as_str()?.parse().ok()?;
                    let answered = answered.get(&id)?;
                    Some((published - *answered).to_std().unwrap_or_default())
                })
                .collect(),
        )
    };
    let delivered = match probe {
        Some((times, probe)) => {
            probe.abort();
            let times = times.lock().map_err(|_| anyhow::anyhow!("delivery probe panicked"))?;
            Some(Lag::of(
                rows.iter()
                    .filter_map(|r| times.get(&r.event_id).map(|at| since_commit(*at, r)))
                    .collect(),
            ))
        }
        None => None,
    };
    Ok(ApiFigures {
        post,
        get,
        views,
        stamped_since_answer,
        stamped,
        delivered,
        events: rows.len(),
    })
}

/// The database's own ceilings at the same concurrency: `pgbench -S` (one indexed
/// select per transaction) and `pgbench -N` (an update, a select and an insert), in tps.
struct Pgbench {
    select_only: f64,
    simple_update: f64,
}

fn pgbench(admin_url: &str, concurrency: usize, phase: Duration) -> anyhow::Result<Pgbench> {
    use std::process::Command;
    let (base, _) = admin_url.rsplit_once('/').context("postgres URL")?;
    let db = format!("folio_pgbench_{}", std::process::id());
    let run = |args: &[&str]| -> anyhow::Result<String> {
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .with_context(|| format!("running {} (install postgresql-client / postgresql-contrib)", args[0]))?;
        if !out.status.success() {
            bail!("{}: {}", args[0], String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    };
    run(&["psql", admin_url, "-qc", &format!("create database {db}")])?;
    let url = format!("{base}/{db}");
    let result = (|| {
        run(&["pgbench", "-q", "-i", "-s", "10", &url])?;
        let tps = |mode: &str| -> anyhow::Result<f64> {
            let out = run(&[
                "pgbench",
                mode,
                "-c",
                &concurrency.to_string(),
                "-j",
                "2",
                "-T",
                &phase.as_secs().max(1).to_string(),
                &url,
            ])?;
            out.lines()
                .find(|l| l.starts_with("tps ="))
                .and_then(|l| l.split_whitespace().nth(2))
                .and_then(|v| v.parse::<f64>().ok())
                .context("pgbench printed no tps")
        };
        Ok(Pgbench {
            select_only: tps("-S")?,
            simple_update: tps("-N")?,
        })
    })();
    let _ = run(&[
        "psql",
        admin_url,
        "-qc",
        &format!("drop database if exists {db} with (force)"),
    ]);
    result
}

async fn api(base: &Settings, concurrency: usize, phase: Duration, postgres: &str, nats: &str) -> anyhow::Result<()> {
    eprintln!("[1/4] bare poem route, {concurrency} clients, {}s", phase.as_secs());
    let (bare_url, bare_server) = bare_poem_server().await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let bare = {
        let (client, url) = (client.clone(), bare_url.clone());
        load(concurrency, phase, move |_| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                client
                    .get(format!("{url}/bare"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await
    };
    bare_server.abort();

    eprintln!("[2/4] embedded node (SQLite, in-process bus)");
    let mut cheap = base.clone();
    // The login cost is not what this measures.
    cheap.auth.argon2_memory_kib = 1024;
    cheap.auth.argon2_iterations = 1;
    let (node, _dir) = bench_node(&cheap).await?;
    let sqlite = api_figures(&node, concurrency, phase).await?;
    node.shutdown().await;

    eprintln!("[3/4] cluster node (PostgreSQL, JetStream at {nats})");
    let dir = tempfile::tempdir()?;
    let mut settings = cheap.clone();
    settings.http.addr = "127.0.0.1:0".parse()?;
    settings.node.data_dir = dir.path().to_path_buf();
    let db_name = format!("folio_bench_{}", std::process::id());
    {
        use sea_orm::ConnectionTrait as _;
        let admin = sea_orm::Database::connect(postgres)
            .await
            .context("connecting to PostgreSQL")?;
        admin.execute_unprepared(&format!("create database {db_name}")).await?;
    }
    let (pg_base, _) = postgres.rsplit_once('/').context("postgres URL")?;
    settings.database.backend = crate::configuration::DatabaseBackend::postgres(format!("{pg_base}/{db_name}"));
    settings.auth.jwt_secret = Some(crate::configuration::Secret::new(
        "bench-secret-bench-secret-bench-secret-0000",
    ));
    settings.bus.backend = crate::configuration::BusBackend::JetStream(nats.to_string());
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..10];
    settings.bus.stream_prefix = format!("BENCH{run_id}_");
    settings.bus.subject_prefix = format!("bench{run_id}.");
    let node = Node::start(&settings).await.context("starting the PostgreSQL node")?;
    let pg = api_figures(&node, concurrency, phase).await;
    node.shutdown().await;
    {
        use sea_orm::ConnectionTrait as _;
        if let Ok(admin) = sea_orm::Database::connect(postgres).await {
            let _ = admin
                .execute_unprepared(&format!("drop database if exists {db_name} with (force)"))
                .await;
        }
    }
    let pg = pg?;

    eprintln!(
        "[4/4] pgbench -S and -N, {concurrency} clients, {}s each",
        phase.as_secs()
    );
    let pgbench = pgbench(postgres, concurrency, phase);

    let row = |name: &str, r: &LoadResult, reference: String| {
        println!(
            "{:<40} {:>10.0} {:>10} {:>10} {:>8} {:>26}",
            name,
            r.requests_per_sec,
            ms(r.p50),
            ms(r.p99),
            r.errors,
            reference
        );
    };
    println!();
    println!(
        "folio bench api ({concurrency} clients, {}s per phase, {} cores)",
        phase.as_secs(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>8} {:>26}",
        "measure", "req/s", "p50", "p99", "errors", "reference"
    );
    row("bare poem route", &bare, "(framework ceiling)".into());
    row("SQLite  POST /projects", &sqlite.post, "-".into());
    row(
        "SQLite  GET /projects/{id}",
        &sqlite.get,
        format!(
            "{:.0}% of bare (goal 50%)",
            100.0 * sqlite.get.requests_per_sec / bare.requests_per_sec.max(1.0)
        ),
    );
    match &pgbench {
        Ok(tps) => row(
            "Postgres POST /projects",
            &pg.post,
            format!(
                "{:.0}% of pgbench -N (p99 goal 50 ms)",
                100.0 * pg.post.requests_per_sec / tps.simple_update.max(1.0)
            ),
        ),
        Err(_) => row("Postgres POST /projects", &pg.post, "(p99 goal 50 ms)".into()),
    }
    match &pgbench {
        Ok(Pgbench { select_only: tps, .. }) => {
            row(
                "Postgres GET /projects/{id}",
                &pg.get,
                format!(
                    "{:.0}% of pgbench -S (goal 70%)",
                    100.0 * pg.get.requests_per_sec / tps.max(1.0)
                ),
            );
            println!(
                "{:<40} {:>10.0} {:>10} {:>10} {:>8} {:>26}",
                "pgbench -S (same clients)", tps, "-", "-", "-", "(database ceiling)"
            );
            if let Ok(Pgbench { simple_update, .. }) = &pgbench {
                println!(
                    "{:<40} {:>10.0} {:>10} {:>10} {:>8} {:>26}",
                    "pgbench -N (same clients)", simple_update, "-", "-", "-", "(database write ceiling)"
                );
            }
        }
        Err(e) => {
            row("Postgres GET /projects/{id}", &pg.get, "pgbench unavailable".into());
            println!("pgbench -S failed: {e}");
        }
    }
    let lag_row = |name: &str, lag: &Lag, of: usize| {
        println!(
            "{:<40} {:>10} {:>10} {:>10} {:>8} {:>26}",
            name,
            "-",
            ms(lag.p50),
            ms(lag.p99),
            "-",
            format!("{} of {of} events", lag.samples)
        );
    };
    if let Some(delivered) = &sqlite.delivered {
        lag_row("SQLite  commit -> delivered (in-process)", delivered, sqlite.events);
    }
    lag_row("SQLite  commit -> consumers acked", &sqlite.stamped, sqlite.events);
    lag_row("Postgres commit -> JetStream ack", &pg.stamped, pg.events);
    lag_row(
        "Postgres 201 answered -> JetStream ack",
        &pg.stamped_since_answer,
        pg.events,
    );
    println!("goal: outbox lag p99 <= 20 ms (commit -> JetStream ack; on the in-process bus, commit -> delivered)");
    println!(
        "(a row's timestamp is taken before its commit, the 201 after it: the two Postgres rows bracket commit -> ack)"
    );
    for (name, views) in [("SQLite", &sqlite.views), ("Postgres", &pg.views)] {
        println!(
            "{name} project views: {} hits, {} misses (database reads), {} views in {:.1} KiB of {:.0} MiB{}",
            views.hits,
            views.misses,
            views.views,
            views.bytes as f64 / 1024.0,
            views.max_bytes as f64 / (1024.0 * 1024.0),
            if views.max_bytes == 0 {
                " (off: FOLIO_PROJECT_CACHE_MB=0)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn thumbnails(corpus: &std::path::Path, child: Option<Vec<std::path::PathBuf>>) -> anyhow::Result<()> {
    use folio_media::bench::{FolioMode, run_corpus, thumbnail_corpus_child};
    if let Some(paths) = child {
        let [corpus, out] = paths.as_slice() else {
            bail!("--child takes CORPUS OUT")
        };
        thumbnail_corpus_child(corpus, out).map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(());
    }
    let out = tempfile::tempdir()?;
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.args(["bench", "thumbnails", "--child"]);
    eprintln!(
        "bench thumbnails: corpus {} (Folio runs in a child process so its CPU and RSS are its own)",
        corpus.display()
    );
    let report = run_corpus(corpus, out.path(), FolioMode::Child(command)).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!();
    println!(
        "folio bench thumbnails: {} images ({} JPEG, {} PNG, {:.1} MB), JPEG backend: {}",
        report.images,
        report.jpegs,
        report.pngs,
        report.input_bytes as f64 / 1e6,
        report.backend
    );
    println!("{:<36} {:>10} {:>10} {:>14}", "tool", "CPU s", "wall s", "peak RSS MB");
    for (name, run) in [
        ("folio (make_thumbnail)", &report.folio),
        ("vipsthumbnail, one process per image", &report.vips),
        ("vipsthumbnail, one process for all", &report.vips_batch),
        ("Pillow thumbnail + save q85", &report.pillow),
    ] {
        println!(
            "{:<36} {:>10.2} {:>10.2} {:>14.1}",
            name,
            run.cpu_seconds,
            run.wall_seconds,
            run.peak_rss_kib as f64 / 1024.0
        );
    }
    println!(
        "folio / vipsthumbnail CPU: {:.2} (goal <= 0.80); vs one-process vips: {:.2}",
        report.ratio_vips(),
        report.ratio_vips_batch()
    );
    println!("folio / Pillow CPU: {:.2} (goal <= 0.50)", report.ratio_pillow());
    println!(
        "folio peak RSS: {:.1} MB (goal <= 300 MB)",
        report.folio.peak_rss_kib as f64 / 1024.0
    );
    if !report.folio_failures.is_empty() {
        println!("folio could not thumbnail: {:?}", report.folio_failures);
    }
    Ok(())
}

/// The projects of the Meilisearch bulk comparison (the figure).
const MEILI_BULK_DOCUMENTS: usize = 100_000;

async fn search(base: &Settings, documents: usize, samples: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = Arc::new(folio_search::TantivyEngine::open(dir.path()).map_err(|e| anyhow::anyhow!("{e}"))?);
    eprintln!("[1/2] embedded engine: {documents} generated projects, then queries and writes");
    let report = folio_search::bench::run(engine.clone(), documents, folio_search::bench::BenchOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let index_mb = folio_search::bench::size_on_disk(dir.path()) as f64 / 1e6;
    let rss_mb = folio_search::bench::own_rss_mb();
    drop(engine);

    // Meilisearch, when one is configured: the same queries, and its bulk load.
    let meili = match &base.search {
        crate::configuration::SearchBackend::Meilisearch(server) => {
            let url = &server.url;
            let settings = folio_search::MeiliSettings {
                url: url.clone(),
                api_key: server.key.as_ref().map(|k| k.expose().to_string()),
                index: format!("{}_bench", server.index),
            };
            eprintln!("[meilisearch] the same {documents} projects and queries on {url}");
            let engine: Arc<dyn folio_search::SearchEngine> = Arc::new(
                folio_search::MeiliEngine::connect(settings.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            );
            let on_meili = folio_search::bench::run(engine, documents, folio_search::bench::BenchOptions::default())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let bulk = folio_search::bench::meili_bulk_vs_ndjson(settings, MEILI_BULK_DOCUMENTS, 10_000, 42)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Some((on_meili, bulk))
        }
        crate::configuration::SearchBackend::Embedded => None,
    };

    eprintln!("[2/2] write-to-searchable through an embedded node: {samples} projects");
    let mut cheap = base.clone();
    cheap.auth.argon2_memory_kib = 1024;
    cheap.auth.argon2_iterations = 1;
    let (node, _node_dir) = bench_node(&cheap).await?;
    let url = node.base_url();
    let client = reqwest::Client::new();
    post_json(
        &client,
        &format!("{url}/auth/register"),
        serde_json::json!({"username": "searcher", "email": "s@folio.test", "password": "bench-password"}),
    )
    .await?;
    let login = post_json(
        &client,
        &format!("{url}/auth/login"),
        serde_json::json!({"email": "s@folio.test", "password": "bench-password"}),
    )
    .await?;
    let token = login["access_token"].as_str().context("no token")?.to_string();
    let mut latencies = Vec::new();
    for i in 0..samples {
        let word = format!("zq{i}x{}", uuid::Uuid::new_v4().simple());
        let started = Instant::now();
        let created = client
            .post(format!("{url}/projects"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"title": format!("Probe {word}")}))
            .send()
            .await?;
        if created.status().as_u16() != 201 {
            bail!("creating a probe project: {}", created.status());
        }
        loop {
            let found: serde_json::Value = client
                .get(format!("{url}/search?query={word}"))
                .send()
                .await?
                .json()
                .await?;
            if found["total"].as_u64() == Some(1) {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("project {i} not searchable after 10 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(started.elapsed());
    }
    node.shutdown().await;
    latencies.sort();
    println!();
    println!("folio bench search");
    println!("{report}");
    let worst_p99 = report
        .by_kind
        .iter()
        .map(|k| k.latency.p99_ms)
        .fold(report.query.p99_ms, f64::max);
    println!(
        "embedded engine at {documents} projects: bulk load {:.1} s (goal <= 30 s at 1 000 000); worst query p99 {:.2} ms (goal <= 10 ms, facets included); RSS {:.0} MB (goal <= 400 MB); index on disk {:.0} MB",
        report.index_seconds, worst_p99, rss_mb, index_mb
    );
    println!(
        "engine write-to-searchable p99 {:.1} ms",
        report.write_to_searchable.p99_ms
    );
    match &meili {
        Some((on_meili, bulk)) => {
            println!("next to Meilisearch (same projects, same queries):");
            println!("{on_meili}");
            println!("{bulk}");
        }
        None => println!(
            "Meilisearch: not configured (FOLIO_MEILISEARCH_URL unset): its column and the bulk comparison of {MEILI_BULK_DOCUMENTS} projects against its NDJSON documents API were not run"
        ),
    }
    println!(
        "node write-to-searchable (POST /projects -> found by /search), {} samples: p50 {} p99 {} (goal p99 <= 100 ms)",
        latencies.len(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0))
    );
    Ok(())
}
