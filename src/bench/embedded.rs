//! An embedded node (`folio serve` on the defaults, in a process of its own, on a fresh
//! data dir) for the benchmarks that measure the node's own process: its memory, its CPU
//! time. Command-line tooling, so errors are `anyhow`.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

pub struct EmbeddedNode {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
    _data_dir: tempfile::TempDir,
}

impl Drop for EmbeddedNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl EmbeddedNode {
    /// Starts the node and waits until it is ready.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with_roles(None).await
    }

    /// Starts the node with only these roles (`folio serve --roles …`).
    pub async fn start_with_roles(roles: Option<&str>) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut command = Command::new(std::env::current_exe()?);
        command.arg("serve");
        if let Some(roles) = roles {
            command.args(["--roles", roles]);
        }
        let child = command
            .env("FOLIO_DATA_DIR", data_dir.path())
            .env("FOLIO_ADDR", format!("127.0.0.1:{port}"))
            .env("FOLIO_LOG_FILTER", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting folio serve")?;
        let node = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            _data_dir: data_dir,
        };
        let started = Instant::now();
        loop {
            if let Ok(reply) = node.client.get(format!("{}/ready", node.base)).send().await
                && reply.status() == 200
            {
                return Ok(node);
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the node did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn sign_up(&self, name: &str) -> anyhow::Result<String> {
        sign_up(&self.client, &self.base, name).await
    }

    /// Uploads one file and returns its id.
    pub async fn upload(&self, token: &str, bytes: Vec<u8>, file_name: &str) -> anyhow::Result<String> {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()),
        );
        let reply = self
            .client
            .post(format!("{}/media/upload", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await?;
        let status = reply.status();
        let body: Value = reply.json().await?;
        if !status.is_success() {
            bail!("uploading {file_name}: {status} {body}");
        }
        Ok(body["file_id"].as_str().context("file id")?.to_string())
    }

    /// Waits until none of `ids` has a pending thumbnail; returns how many failed.
    pub async fn settle_thumbnails(&self, token: &str, ids: &[String]) -> anyhow::Result<usize> {
        let started = Instant::now();
        let mut failed = 0;
        for id in ids {
            loop {
                let media: Value = self
                    .client
                    .get(format!("{}/media/{id}", self.base))
                    .bearer_auth(token)
                    .send()
                    .await?
                    .json()
                    .await?;
                match media["thumbnail_status"].as_str() {
                    Some("pending") | None => {}
                    Some("failed") => {
                        failed += 1;
                        break;
                    }
                    Some(_) => break,
                }
                if started.elapsed() > Duration::from_secs(600) {
                    bail!("thumbnails still pending after 10 minutes");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(failed)
    }

    /// The node's user + system CPU seconds so far (`/proc/<pid>/stat`).
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // The command name (field 2) may hold spaces; the fields after it may not.
        let after_name = stat.rsplit_once(')').context("/proc stat")?.1;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // utime and stime are fields 14 and 15, i.e. the 12th and 13th after the name.
        let ticks: f64 = fields
            .get(11..13)
            .context("/proc stat fields")?
            .iter()
            .map(|f| f.parse::<f64>().unwrap_or(0.0))
            .sum();
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Ok(ticks / per_second.max(1) as f64)
    }

    /// The highest resident set size the node has had, in MB (`VmHWM`).
    pub fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    /// Resident set size in MB (`VmRSS`), and its anonymous share (`RssAnon`: the heap,
    /// as opposed to mapped files such as the SQLite and index files).
    pub fn rss_mb(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
                .unwrap_or(0.0)
                / 1024.0
        };
        (field("VmRSS:"), field("RssAnon:"))
    }
}

/// Registers `name` on the node at `base` and returns an access token.
pub async fn sign_up(client: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<String> {
    let email = format!("{name}@folio.test");
    client
        .post(format!("{base}/auth/register"))
        .json(&json!({"username": name, "email": email, "password": "password-123"}))
        .send()
        .await?
        .error_for_status()?;
    let login: Value = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": email, "password": "password-123"}))
        .send()
        .await?
        .json()
        .await?;
    Ok(login["access_token"].as_str().context("access token")?.to_string())
}
