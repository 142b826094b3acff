//! `folio bench soak`: mixed load (reads, writes, uploads, searches) on PostgreSQL +
//! NATS + S3 for a long time. Prints the node's RSS every minute, the error count, and
//! how long after the load stops the last write becomes searchable.

use std::{
    net::{Ipv4Addr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use tokio::sync::Mutex;

use crate::{
    Node, Settings,
    configuration::{BlobBackend, BusBackend, DatabaseBackend, S3Blobs, Secret},
};

pub struct SoakOptions {
    pub duration: Duration,
    pub concurrency: usize,
    pub report_every: Duration,
    pub postgres: String,
    pub nats: String,
}

/// Resident set size of this process (the node runs in it), in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// An s3s-fs of the run's own, unless the settings name an S3 endpoint.
struct OwnS3 {
    child: Child,
    _root: tempfile::TempDir,
}

impl Drop for OwnS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_s3s_fs(settings: &mut Settings) -> anyhow::Result<OwnS3> {
    let home_bin = std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo/bin/s3s-fs"));
    let bin = std::env::var_os("FOLIO_S3S_FS")
        .map(std::path::PathBuf::from)
        .or_else(|| home_bin.filter(|p| p.is_file()))
        .unwrap_or_else(|| "s3s-fs".into());
    let root = tempfile::tempdir()?;
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
    let secret = format!("soak-{}", uuid::Uuid::new_v4().simple());
    let child = Command::new(&bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", "soak", "--secret-key", &secret])
        .arg(root.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} (cargo install s3s-fs --features binary)", bin.display()))?;
    let started = Instant::now();
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if started.elapsed() > Duration::from_secs(15) {
            bail!("s3s-fs did not listen within 15 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let s3 = S3Blobs::new(format!("http://127.0.0.1:{port}"), "soak", secret, "media-files");
    settings.blobs = BlobBackend::S3(s3);
    Ok(OwnS3 { child, _root: root })
}

fn sample_png() -> anyhow::Result<Vec<u8>> {
    let image = image::RgbImage::from_fn(320, 240, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

struct Account {
    token: String,
    user_id: String,
    projects: Mutex<Vec<String>>,
}

pub async fn soak(base: &Settings, options: SoakOptions) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut settings = base.clone();
    settings.http.addr = "127.0.0.1:0".parse()?;
    settings.node.data_dir = dir.path().to_path_buf();
    settings.auth.argon2_memory_kib = 1024;
    settings.auth.argon2_iterations = 1;
    settings.auth.login_max_failures_per_address = u32::MAX;
    // Each client signs in once: its access token must outlive the run, or every
    // authenticated request after the default 15 minutes is a 401 that says nothing
    // about the server.
    settings.auth.access_token_ttl = options.duration + Duration::from_secs(600);
    settings.log.filter = "warn".into();
    let db_name = format!("folio_soak_{}", uuid::Uuid::new_v4().simple());
    {
        use sea_orm::ConnectionTrait as _;
        let admin = sea_orm::Database::connect(&options.postgres)
            .await
            .context("connecting to PostgreSQL")?;
        admin.execute_unprepared(&format!("create database {db_name}")).await?;
    }
    let (pg_base, _) = options.postgres.rsplit_once('/').context("postgres URL")?;
    settings.database.backend = DatabaseBackend::postgres(format!("{pg_base}/{db_name}"));
    settings.auth.jwt_secret = Some(Secret::new("soak-secret-soak-secret-soak-secret-00000000"));
    settings.bus.backend = BusBackend::JetStream(options.nats.clone());
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..10];
    settings.bus.stream_prefix = format!("SOAK{run_id}_");
    settings.bus.subject_prefix = format!("soak{run_id}.");
    let _own_s3 = match settings.blobs {
        BlobBackend::S3(_) => None,
        BlobBackend::LocalDir => Some(start_s3s_fs(&mut settings)?),
    };
    let node = Node::start(&settings).await.context("starting the soak node")?;
    let url = node.base_url();
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    eprintln!(
        "bench soak: {} clients for {} s on PostgreSQL + NATS + S3 ({})",
        options.concurrency,
        options.duration.as_secs(),
        match &settings.blobs {
            BlobBackend::S3(s3) => s3.endpoint.as_str(),
            BlobBackend::LocalDir => "-",
        }
    );

    let mut accounts = Vec::new();
    for i in 0..options.concurrency.max(1) {
        let (username, email) = (format!("soak{i}"), format!("soak{i}@folio.test"));
        super::post_json(
            &client,
            &format!("{url}/auth/register"),
            serde_json::json!({"username": username, "email": email, "password": "soak-password"}),
        )
        .await?;
        let login = super::post_json(
            &client,
            &format!("{url}/auth/login"),
            serde_json::json!({"email": email, "password": "soak-password"}),
        )
        .await?;
        accounts.push(Arc::new(Account {
            token: login["access_token"].as_str().context("access token")?.to_string(),
            user_id: login["user"]["id"].as_str().context("user id")?.to_string(),
            projects: Mutex::new(Vec::new()),
        }));
    }
    let png = Arc::new(sample_png()?);
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let last_word = Arc::new(std::sync::Mutex::new(None::<String>));

    let mut workers = Vec::new();
    for (n, account) in accounts.iter().enumerate() {
        let (client, url, account, png) = (client.clone(), url.clone(), account.clone(), png.clone());
        let (stop, requests, errors, last_word) = (stop.clone(), requests.clone(), errors.clone(), last_word.clone());
        workers.push(tokio::spawn(async move {
            let mut i = n as u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let project = account.projects.lock().await.last().cloned();
                let word = format!("soakword{}", i % 997);
                let request = match (i % 10, project) {
                    (0..=2, Some(id)) => client.get(format!("{url}/projects/{id}")),
                    (3, _) => client.get(format!("{url}/projects/user/{}?size=20", account.user_id)),
                    (4 | 5, _) | (0..=2, None) => {
                        let marker = format!("soakmark{}", uuid::Uuid::new_v4().simple());
                        let response = client
                            .post(format!("{url}/projects"))
                            .bearer_auth(&account.token)
                            .json(&serde_json::json!({
                                "title": format!("Soak {word} {marker}"),
                                "description": "mixed load",
                                "tags": ["soak", format!("t{}", i % 7)],
                            }))
                            .send()
                            .await;
                        requests.fetch_add(1, Ordering::Relaxed);
                        match response {
                            Ok(r) if r.status().as_u16() == 201 => {
                                if let Ok(body) = r.json::<serde_json::Value>().await
                                    && let Some(id) = body["id"].as_str()
                                {
                                    let mut projects = account.projects.lock().await;
                                    projects.push(id.to_string());
                                    // Keep the list short: the oldest are deleted now and then.
                                    if projects.len() > 50 {
                                        projects.remove(0);
                                    }
                                }
                                if let Ok(mut last) = last_word.lock() {
                                    *last = Some(marker);
                                }
                            }
                            _ => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        continue;
                    }
                    (6, Some(id)) => client
                        .put(format!("{url}/projects/{id}"))
                        .bearer_auth(&account.token)
                        .json(&serde_json::json!({"description": format!("updated {i}")})),
                    (7, project) => {
                        let mut form = reqwest::multipart::Form::new().part(
                            "file",
                            reqwest::multipart::Part::bytes(png.to_vec()).file_name("soak.png"),
                        );
                        if let Some(id) = project {
                            form = form.text("project_id", id);
                        }
                        client
                            .post(format!("{url}/media/upload"))
                            .bearer_auth(&account.token)
                            .multipart(form)
                    }
                    _ => client.get(format!("{url}/search?query={word}&size=10")),
                };
                requests.fetch_add(1, Ordering::Relaxed);
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                    }
                    Ok(response) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(status = %response.status(), "soak request failed");
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "soak request failed");
                    }
                }
            }
        }));
    }

    let started = Instant::now();
    let mut samples = Vec::new();
    println!("{:>8} {:>12} {:>12} {:>8}", "minute", "RSS MB", "requests", "errors");
    while started.elapsed() < options.duration {
        let left = options.duration.saturating_sub(started.elapsed());
        tokio::time::sleep(left.min(options.report_every)).await;
        let rss = rss_kib();
        samples.push(rss);
        println!(
            "{:>8.1} {:>12.1} {:>12} {:>8}",
            started.elapsed().as_secs_f64() / 60.0,
            rss as f64 / 1024.0,
            requests.load(Ordering::Relaxed),
            errors.load(Ordering::Relaxed)
        );
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }
    let stopped = Instant::now();

    // The last write of the load, found by search: how long after the load stopped.
    let marker = last_word.lock().ok().and_then(|w| w.clone());
    let lag = match marker {
        Some(marker) => loop {
            let found: serde_json::Value = client
                .get(format!("{url}/search?query={marker}"))
                .send()
                .await?
                .json()
                .await?;
            if found["total"].as_u64().unwrap_or(0) >= 1 {
                break Some(stopped.elapsed());
            }
            if stopped.elapsed() > Duration::from_secs(120) {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        },
        None => None,
    };
    node.shutdown().await;

    let total = requests.load(Ordering::Relaxed);
    let failed = errors.load(Ordering::Relaxed);
    println!();
    println!(
        "folio bench soak: {} s, {} clients, {} requests ({:.0}/s), {} errors",
        started.elapsed().as_secs(),
        options.concurrency,
        total,
        total as f64 / started.elapsed().as_secs_f64().max(1.0),
        failed
    );
    // Flatness is judged after the first five minutes (warm-up: pools, caches, index).
    let settled: Vec<u64> = samples.iter().skip(5).copied().collect();
    if let (Some(min), Some(max)) = (settled.iter().min(), settled.iter().max()) {
        println!(
            "RSS after minute 5: {:.1}..{:.1} MB, spread {:.1} % (goal <= 10 %)",
            *min as f64 / 1024.0,
            *max as f64 / 1024.0,
            100.0 * (*max - *min) as f64 / (*min).max(1) as f64
        );
    } else {
        println!("RSS flatness needs a run longer than 5 minutes");
    }
    match lag {
        Some(lag) => println!(
            "last write searchable {} after the load stopped (goal: under 1 s within 30 s)",
            super::ms(lag)
        ),
        None => println!("the last write was not searchable within 120 s of the load stopping"),
    }
    Ok(())
}
