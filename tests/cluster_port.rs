//! The cluster port under attack, with real sockets against a real `folio serve`
//! process: connections that never authenticate, a flood of them, oversized frames
//! before the handshake, failed handshakes, and a cookie too short to start with.

mod common;

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{TEST_JWT_SECRET, eventually, fresh_postgres_database, shared_nats_url};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

const COOKIE: &str = "cluster-port-test-cookie-of-at-least-32-bytes";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A `folio serve --roles http` process that joins a cluster (of one).
struct NodeProcess {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    http: String,
    cluster: String,
    _dir: tempfile::TempDir,
}

impl NodeProcess {
    /// `open_files`: the node's RLIMIT_NOFILE (soft and hard), as a small server
    /// would have; `extra`: more settings.
    async fn start(open_files: Option<u32>, extra: &[(&str, &str)]) -> Self {
        let database_url = fresh_postgres_database().await;
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let dir = tempfile::tempdir().expect("temp dir");
        let http = format!("127.0.0.1:{}", free_port());
        let cluster = format!("127.0.0.1:{}", free_port());
        let binary = env!("CARGO_BIN_EXE_folio");
        // The limit is set by the shell that then becomes the node, so it holds for
        // the node alone.
        let mut command = match open_files {
            Some(limit) => {
                let mut c = Command::new("sh");
                c.args([
                    "-c",
                    &format!("ulimit -n {limit} && exec \"$0\" serve --roles http"),
                    binary,
                ]);
                c
            }
            None => {
                let mut c = Command::new(binary);
                c.args(["serve", "--roles", "http"]);
                c
            }
        };
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FOLIO_DATA_DIR", dir.path())
            .env("FOLIO_ADDR", &http)
            .env("FOLIO_DATABASE_URL", &database_url)
            .env("FOLIO_JWT_SECRET", TEST_JWT_SECRET)
            .env("FOLIO_NATS_URL", shared_nats_url())
            .env("FOLIO_NATS_STREAM_PREFIX", format!("P{id}_"))
            .env("FOLIO_NATS_SUBJECT_PREFIX", format!("p{id}."))
            .env("FOLIO_PUBLIC_URL", format!("http://{http}"))
            .env("FOLIO_CLUSTER_COOKIE", COOKIE)
            .env("FOLIO_CLUSTER_ADDR", &cluster)
            .env("FOLIO_CLUSTER_NODE_NAME", "port-test")
            .env("FOLIO_CLUSTER_BUCKET", format!("P{id}_nodes"))
            .env("FOLIO_LOG_FILTER", "info")
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("starting folio serve");
        let log = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let node = Self {
            child,
            log,
            http,
            cluster,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let url = format!("http://{}/health", node.http);
        eventually(Duration::from_secs(60), "the node to answer /health", || async {
            let up = client.get(&url).send().await.ok()?.status() == 200;
            up.then_some(())
        })
        .await;
        node
    }

    fn log_lines_with(&self, needle: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|l| l.contains(needle)).count()
    }

    fn log_bytes(&self) -> usize {
        self.log.lock().unwrap().iter().map(|l| l.len() + 1).sum()
    }

    /// Resident memory in bytes, from /proc.
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("the node's status");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kib * 1024
    }

    async fn metric(&self, name: &str) -> f64 {
        let body = reqwest::get(format!("http://{}/metrics", self.http))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics body");
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the node closed `stream` (EOF or reset) within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(limit, stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_authenticate_are_closed_at_the_deadline() {
    let node = NodeProcess::start(None, &[("FOLIO_CLUSTER_HANDSHAKE_TIMEOUT_SECS", "1")]).await;
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(
            TcpStream::connect(&node.cluster)
                .await
                .expect("connecting to the cluster port"),
        );
    }
    for stream in &mut idle {
        // The deadline is 1 s; 30 s only bounds the test.
        assert!(
            closed_within(stream, Duration::from_secs(30)).await,
            "an idle connection is still open long after the handshake deadline"
        );
    }
    assert!(
        node.metric("folio_cluster_connections_refused_total{reason=\"handshake_timeout\"}")
            .await
            >= 5.0
    );
}

/// Soft limit on the test process's own open files, from /proc.
fn own_open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("/proc/self/limits");
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_2000_connections_leaves_http_answering() {
    const FLOOD: usize = 2_000;
    assert!(
        own_open_files_limit() > FLOOD as u64 + 200,
        "this test holds {FLOOD} sockets: raise the open-file limit (ulimit -n) of the test process"
    );
    // The node gets 1 024 file handles, the limit under which 1 100 idle connections
    // took a node down; the flood is twice that.
    let node = NodeProcess::start(Some(1024), &[]).await;
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        match TcpStream::connect(&node.cluster).await {
            Ok(stream) => flood.push(stream),
            // Refused at the door, or the backlog is full: the flood goes on.
            Err(_) => continue,
        }
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for path in ["/health", "/ready"] {
        let reply = client
            .get(format!("http://{}{path}", node.http))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path} did not answer during the flood: {e}"));
        assert_eq!(reply.status(), 200, "{path} during the flood");
    }
    let register = client
        .post(format!("http://{}/auth/register", node.http))
        .json(&serde_json::json!({"username": "flooded", "email": "flooded@folio.test", "password": "correct horse battery"}))
        .send()
        .await
        .expect("/auth/register answers during the flood");
    assert_eq!(register.status(), 201, "{:?}", register.text().await);
    // Far over the caps, almost every connection was refused at the door; the log
    // says so at most once a second.
    let refused = node
        .metric("folio_cluster_connections_refused_total{reason=\"over_capacity\"}")
        .await;
    assert!(refused >= 1_000.0, "{refused} connections refused");
    let refusal_lines = node.log_lines_with("refused at the door");
    assert!(
        refusal_lines < 100,
        "{refusal_lines} log lines about refused connections"
    );
    assert!(node.log_bytes() < 1_000_000, "{} bytes of log", node.log_bytes());
    drop(flood);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_oversized_frames_before_the_handshake_take_no_memory() {
    const FRAME: u64 = 16 * 1024 * 1024;
    // The caps and the deadline would also stop this; only the frame limit is tested.
    let node = NodeProcess::start(
        None,
        &[
            ("FOLIO_CLUSTER_MAX_UNAUTHENTICATED", "100"),
            ("FOLIO_CLUSTER_MAX_UNAUTHENTICATED_PER_ADDRESS", "100"),
            ("FOLIO_CLUSTER_MAX_FAILED_HANDSHAKES", "1000"),
            ("FOLIO_CLUSTER_HANDSHAKE_TIMEOUT_SECS", "600"),
        ],
    )
    .await;
    let before = node.rss();
    let payload = vec![0x5a_u8; FRAME as usize - 1];
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(&node.cluster).await.expect("connecting");
        // A frame's length, then all of it but its last byte: a node that buffers
        // frames before the handshake holds 16 MiB for this connection.
        let _ = stream.write_all(&FRAME.to_be_bytes()).await;
        let _ = tokio::time::timeout(Duration::from_secs(20), stream.write_all(&payload)).await;
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let grown = node.rss().saturating_sub(before);
    assert!(
        grown < 20 * 1024 * 1024,
        "20 oversized frames before the handshake grew the node by {} MiB",
        grown / 1024 / 1024
    );
    assert!(
        node.metric("folio_cluster_connections_refused_total{reason=\"oversized_frame\"}")
            .await
            >= 20.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_fails_handshakes_is_throttled_and_counted() {
    let node = NodeProcess::start(
        None,
        &[
            ("FOLIO_CLUSTER_MAX_FAILED_HANDSHAKES", "3"),
            ("FOLIO_CLUSTER_HANDSHAKE_TIMEOUT_SECS", "600"),
        ],
    )
    .await;
    // A frame that is not a cluster message ends the session before authentication.
    for _ in 0..3 {
        let mut stream = TcpStream::connect(&node.cluster).await.expect("connecting");
        let mut garbage = 4u64.to_be_bytes().to_vec();
        garbage.extend_from_slice(&[0xff; 4]);
        stream.write_all(&garbage).await.expect("writing a bad frame");
        assert!(
            closed_within(&mut stream, Duration::from_secs(30)).await,
            "a bad frame ends the session"
        );
    }
    eventually(Duration::from_secs(10), "three failed handshakes counted", || async {
        (node.metric("folio_cluster_failed_handshakes_total").await >= 3.0).then_some(())
    })
    .await;
    // The next connection is closed at once, long before the 600 s deadline.
    let mut stream = TcpStream::connect(&node.cluster).await.expect("connecting");
    assert!(
        closed_within(&mut stream, Duration::from_secs(30)).await,
        "a throttled address is let in"
    );
    assert!(
        node.metric("folio_cluster_connections_refused_total{reason=\"throttled\"}")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn a_short_cookie_stops_the_node_at_startup() {
    let database_url = fresh_postgres_database().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_folio"))
            .args(["serve", "--roles", "http"])
            .env_clear()
            .env("FOLIO_DATA_DIR", dir.path())
            .env("FOLIO_ADDR", "127.0.0.1:0")
            .env("FOLIO_DATABASE_URL", &database_url)
            .env("FOLIO_JWT_SECRET", TEST_JWT_SECRET)
            .env("FOLIO_NATS_URL", shared_nats_url())
            .env("FOLIO_CLUSTER_COOKIE", "cab")
            .env("FOLIO_CLUSTER_ADDR", "127.0.0.1:0")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("a node with a short cookie exits")
    .expect("running folio serve");
    assert!(!output.status.success(), "a node started with a 3-byte cookie");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("FOLIO_CLUSTER_COOKIE must be at least 32 bytes"),
        "{printed}"
    );
    assert!(!printed.contains("cab\""), "the cookie is not printed: {printed}");
}
