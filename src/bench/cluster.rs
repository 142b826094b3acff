//! `folio bench cluster`: two `folio serve` processes on PostgreSQL and NATS (an HTTP
//! node and a thumbnailer node, sharing a blob directory), and this process joined to
//! their cluster. Prints the latency from a thumbnail's commit on the thumbnailer node
//! to its `media.thumbnail_ready` on an `/events` stream of the HTTP node, and the
//! `Describe` round trip across nodes next to the same call in-process.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use folio_actors::{
    NodeSupervisor,
    cluster::{
        agent::{Described, describe, remote_agents},
        registry::NodeRegistry,
        server::{ClusterConfig, ClusterServer},
    },
};
use futures::StreamExt as _;
use serde_json::Value;

use super::percentile;

const COOKIE: &str = "bench-cluster-cookie-of-at-least-32-bytes";
const SECRET: &str = "bench-secret-bench-secret-bench-secret-0000";

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct Run<'a> {
    database_url: String,
    nats: &'a str,
    id: String,
}

impl Run<'_> {
    fn spawn(
        &self,
        name: &str,
        roles: &str,
        http_var: &str,
        http: &str,
        data_dir: &Path,
        public: &str,
    ) -> anyhow::Result<Process> {
        let child = Command::new(std::env::current_exe()?)
            .args(["serve", "--roles", roles])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FOLIO_DATA_DIR", data_dir)
            .env(http_var, http)
            .env("FOLIO_DATABASE_URL", &self.database_url)
            .env("FOLIO_JWT_SECRET", SECRET)
            .env("FOLIO_NATS_URL", self.nats)
            .env("FOLIO_NATS_STREAM_PREFIX", format!("B{}_", self.id))
            .env("FOLIO_NATS_SUBJECT_PREFIX", format!("b{}.", self.id))
            .env("FOLIO_PUBLIC_URL", public)
            .env("FOLIO_CLUSTER_COOKIE", COOKIE)
            .env("FOLIO_CLUSTER_ADDR", "127.0.0.1:0")
            .env("FOLIO_CLUSTER_NODE_NAME", name)
            .env("FOLIO_CLUSTER_BUCKET", format!("B{}_nodes", self.id))
            .env("FOLIO_LOG_FILTER", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting folio serve")?;
        Ok(Process(child))
    }
}

async fn healthy(client: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(reply) = client.get(format!("{url}/health")).send().await
            && reply.status() == 200
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} did not come up")
}

fn jpeg(seed: u32) -> anyhow::Result<Vec<u8>> {
    let image = image::RgbImage::from_fn(320, 240, |x, y| image::Rgb([(x + seed) as u8, (y * 3) as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg)?;
    Ok(out.into_inner())
}

pub async fn cluster(postgres: &str, nats: &str, uploads: usize, calls: usize) -> anyhow::Result<()> {
    let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let database = format!("folio_bench_{id}");
    {
        use sea_orm::ConnectionTrait as _;
        let admin = sea_orm::Database::connect(postgres)
            .await
            .context("connecting to PostgreSQL")?;
        admin.execute_unprepared(&format!("create database {database}")).await?;
    }
    let (server, _) = postgres.rsplit_once('/').context("postgres URL")?;
    let run = Run {
        database_url: format!("{server}/{database}"),
        nats,
        id: id.clone(),
    };
    let dirs = tempfile::tempdir()?;
    let (edge_dir, worker_dir) = (dirs.path().join("edge"), dirs.path().join("worker"));
    std::fs::create_dir_all(edge_dir.join("media"))?;
    std::fs::create_dir_all(&worker_dir)?;
    // One blob directory for both processes, as S3 would be.
    std::os::unix::fs::symlink(edge_dir.join("media"), worker_dir.join("media"))?;

    let client = reqwest::Client::new();
    let http = format!("127.0.0.1:{}", free_port()?);
    let base = format!("http://{http}");
    let _edge = run.spawn("bench-edge", "http,indexer", "FOLIO_ADDR", &http, &edge_dir, &base)?;
    healthy(&client, &base).await?;
    let ops = format!("127.0.0.1:{}", free_port()?);
    let _worker = run.spawn(
        "bench-thumbs",
        "thumbnailer",
        "FOLIO_OPS_ADDR",
        &ops,
        &worker_dir,
        &base,
    )?;
    healthy(&client, &format!("http://{ops}")).await?;

    let token = super::embedded::sign_up(&client, &base, "bencher").await?;
    let mut stream = client
        .get(format!("{base}/events"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .bytes_stream();
    let mut buffer = String::new();
    let mut latencies = Vec::with_capacity(uploads);
    let progress = indicatif::ProgressBar::new(uploads as u64);
    for i in 0..uploads {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(jpeg(i as u32)?).file_name("b.jpg"),
        );
        let upload: Value = client
            .post(format!("{base}/media/upload"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await?
            .json()
            .await?;
        let file_id = upload["file_id"].as_str().context("file id")?.to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        'wait: loop {
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let received = chrono::Utc::now();
                let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) else {
                    continue;
                };
                let event: Value = serde_json::from_str(data.trim())?;
                if event["type"] == "media.thumbnail_ready" && event["file_id"] == file_id.as_str() {
                    let at: chrono::DateTime<chrono::Utc> = event["at"].as_str().context("at")?.parse()?;
                    latencies.push((received - at).to_std().unwrap_or_default());
                    break 'wait;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, stream.next())
                .await
                .context("no thumbnail_ready within 30 s")?
                .context("the event stream ended")??;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    latencies.sort();

    // Join the cluster from here and ask the HTTP node's agent.
    let supervisor = NodeSupervisor::start().await?;
    let port = free_port()?;
    let member = ClusterServer::start(
        &supervisor,
        ClusterConfig {
            node_name: format!("bench-{id}"),
            listen: format!("127.0.0.1:{port}").parse()?,
            advertise: format!("127.0.0.1:{port}"),
            cookie: COOKIE.into(),
            tls: None,
            limits: Default::default(),
        },
    )
    .await?;
    let registry = NodeRegistry::connect(nats, &format!("B{id}_nodes")).await?;
    let edge_entry = registry
        .nodes()
        .await?
        .into_iter()
        .find(|n| n.name == "bench-edge")
        .context("the HTTP node is not in the registry")?;
    member.dial(&edge_entry.cluster_addr).await?;
    let started = Instant::now();
    let remote = loop {
        if let Some(agent) = remote_agents().into_iter().next() {
            break agent;
        }
        if started.elapsed() > Duration::from_secs(10) {
            bail!("the HTTP node's agent did not show up in folio.node");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut round_trips = Vec::with_capacity(calls);
    for _ in 0..calls {
        let sent = Instant::now();
        match describe(&remote, Duration::from_secs(1)).await {
            Described::Answered(_) => round_trips.push(sent.elapsed()),
            Described::NoAnswer { .. } => bail!("the remote agent did not answer"),
        }
    }
    round_trips.sort();
    // The reference: the same call to an agent in this process.
    let local = folio_actors::cluster::NodeAgentClient::start(
        &supervisor,
        folio_actors::cluster::NodeIdentity {
            name: "bench-local".into(),
            roles: vec![],
            version: env!("CARGO_PKG_VERSION").into(),
            started_at: chrono::Utc::now(),
            http_addr: None,
            cluster_addr: None,
        },
        folio_actors::supervisor::NodeHealth::default(),
    )
    .await?;
    let mut local_trips = Vec::with_capacity(calls);
    for _ in 0..calls {
        let sent = Instant::now();
        if let Described::Answered(_) = describe(&local.local(), Duration::from_secs(1)).await {
            local_trips.push(sent.elapsed());
        }
    }
    local_trips.sort();
    supervisor.stop(None);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("cluster: an HTTP node and a thumbnailer node (two processes) on PostgreSQL + NATS");
    println!(
        "  thumbnail commit → SSE delivery on the other node, {} uploads: p50 {:.1} ms, p99 {:.1} ms (goal: p99 ≤ 50 ms)",
        latencies.len(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0))
    );
    println!(
        "  Describe round trip across nodes, {} calls: p50 {:.3} ms, p99 {:.3} ms (in-process: p50 {:.3} ms, p99 {:.3} ms)",
        round_trips.len(),
        ms(percentile(&round_trips, 50.0)),
        ms(percentile(&round_trips, 99.0)),
        ms(percentile(&local_trips, 50.0)),
        ms(percentile(&local_trips, 99.0))
    );
    drop(_worker);
    drop(_edge);
    {
        use sea_orm::ConnectionTrait as _;
        let admin = sea_orm::Database::connect(postgres).await?;
        admin
            .execute_unprepared(&format!("drop database if exists {database} with (force)"))
            .await?;
    }
    Ok(())
}
