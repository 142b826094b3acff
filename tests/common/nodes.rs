//! Nodes as real OS processes (ractor's process groups are global to a process, so two
//! nodes must be two processes): one test's cluster shares a fresh PostgreSQL
//! database, JetStream streams and subjects of its own on the shared NATS server, and
//! an s3s-fs bucket; each node is `folio serve` with the roles asked for.

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use folio_testkit::blobs::S3sFs;
use serde_json::{Value, json};

use super::{TEST_JWT_SECRET, fresh_postgres_database, shared_nats_url};

/// What every node of one test's cluster shares.
pub struct Cluster {
    pub database_url: String,
    pub nats_url: String,
    /// Streams, subjects and the node bucket of this test only.
    pub id: String,
    pub s3: S3sFs,
    pub bucket: String,
    pub dirs: tempfile::TempDir,
}

pub struct NodeProcess {
    pub child: Child,
    log: Arc<Mutex<String>>,
    pub name: String,
}

impl NodeProcess {
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Cluster {
    pub async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        Self {
            database_url: fresh_postgres_database().await,
            nats_url: shared_nats_url(),
            bucket: format!("cluster-{id}"),
            id,
            s3: S3sFs::start(),
            dirs: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `folio serve` as its own process; `http` is the edge's (or ops) address.
    pub fn spawn(&self, name: &str, roles: &str, http: &str, cookie: &str, public_url: &str) -> NodeProcess {
        self.spawn_with(name, roles, http, cookie, public_url, &[])
    }

    pub fn spawn_with(
        &self,
        name: &str,
        roles: &str,
        http: &str,
        cookie: &str,
        public_url: &str,
        extra: &[(&str, String)],
    ) -> NodeProcess {
        let s3 = self.s3.settings(&self.bucket);
        let data_dir = self.dirs.path().join(name);
        let http_var = if roles.contains("http") {
            "FOLIO_ADDR"
        } else {
            "FOLIO_OPS_ADDR"
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_folio"))
            .args(["serve", "--roles", roles])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FOLIO_DATA_DIR", &data_dir)
            .env(http_var, http)
            .env("FOLIO_DATABASE_URL", &self.database_url)
            .env("FOLIO_JWT_SECRET", TEST_JWT_SECRET)
            .env("FOLIO_NATS_URL", &self.nats_url)
            .env("FOLIO_NATS_STREAM_PREFIX", format!("C{}_", self.id))
            .env("FOLIO_NATS_SUBJECT_PREFIX", format!("c{}.", self.id))
            .env("FOLIO_S3_ENDPOINT", &s3.endpoint)
            .env("FOLIO_S3_ACCESS_KEY", &s3.access_key)
            .env("FOLIO_S3_SECRET_KEY", &s3.secret_key)
            .env("FOLIO_S3_BUCKET", &s3.bucket)
            .env("FOLIO_PUBLIC_URL", public_url)
            .env("FOLIO_ADMIN_EMAILS", "admin@folio.test")
            .env("FOLIO_CLUSTER_COOKIE", cookie)
            .env("FOLIO_CLUSTER_ADDR", "127.0.0.1:0")
            .env("FOLIO_CLUSTER_NODE_NAME", name)
            .env("FOLIO_CLUSTER_BUCKET", format!("C{}_nodes", self.id))
            .env("FOLIO_THUMBNAIL_ACK_WAIT_SECS", "5")
            .env("FOLIO_LOG_FILTER", "info")
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting folio serve");
        let log = Arc::new(Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        NodeProcess {
            child,
            log,
            name: name.to_string(),
        }
    }
}

/// Waits until `url/health` answers.
pub async fn healthy(url: &str, node: &NodeProcess) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(reply) = client.get(format!("{url}/health")).send().await
            && reply.status() == 200
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} did not come up:\n{}",
            node.name,
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers and logs in `name`; the access token.
pub async fn sign_up(base: &str, name: &str) -> String {
    let client = reqwest::Client::new();
    let email = format!("{name}@folio.test");
    let registered = client
        .post(format!("{base}/auth/register"))
        .json(&json!({"username": name, "email": email, "password": "password-123"}))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    let login: Value = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": email, "password": "password-123"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    login["access_token"].as_str().expect("access token").to_string()
}
