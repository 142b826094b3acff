//! `folio bench memory`: the resident memory of an embedded node (`folio serve` on the
//! defaults, in a process of its own): idle, after 10 000 projects, and after 1 000
//! uploads with their thumbnails, next to the goal of 150 MB.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

const GOAL_MB: f64 = 150.0;

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident set size of a process, in MB (`VmRSS`), and its anonymous share (`RssAnon`:
/// the heap, as opposed to mapped files such as the SQLite and index files).
fn rss_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
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

fn jpeg(seed: u32) -> anyhow::Result<Vec<u8>> {
    let image = image::RgbImage::from_fn(1024, 768, |x, y| {
        image::Rgb([((x + seed) % 256) as u8, ((y * 3) % 256) as u8, ((x ^ y) % 256) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg)?;
    Ok(out.into_inner())
}

pub async fn memory(projects: usize, uploads: usize, concurrency: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let node = Process(
        Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("FOLIO_DATA_DIR", dir.path())
            .env("FOLIO_ADDR", format!("127.0.0.1:{port}"))
            .env("FOLIO_LOG_FILTER", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting folio serve")?,
    );
    let pid = node.0.id();
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(reply) = client.get(format!("{base}/ready")).send().await
            && reply.status() == 200
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the node did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_mb(pid);

    client
        .post(format!("{base}/auth/register"))
        .json(&json!({"username": "memory", "email": "memory@folio.test", "password": "password-123"}))
        .send()
        .await?
        .error_for_status()?;
    let login: Value = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": "memory@folio.test", "password": "password-123"}))
        .send()
        .await?
        .json()
        .await?;
    let token = Arc::new(login["access_token"].as_str().context("access token")?.to_string());

    let bar = indicatif::ProgressBar::new(projects as u64).with_message("projects");
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, token, next, base, bar) = (client.clone(), token.clone(), next.clone(), base.clone(), bar.clone());
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < projects {
                let n = bar.position();
                let reply = client
                    .post(format!("{base}/projects"))
                    .bearer_auth(token.as_str())
                    .json(&json!({
                        "title": format!("Memory project {n}"),
                        "description": "A project made by folio bench memory to see what ten thousand of them cost in resident memory.",
                        "tags": ["bench", "memory"],
                    }))
                    .send()
                    .await?;
                if !reply.status().is_success() {
                    bail!("POST /projects answered {}", reply.status());
                }
                bar.inc(1);
            }
            anyhow::Ok(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    bar.finish_and_clear();
    // Let the indexer catch up: its memory counts too.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(60) {
        let found: Value = client
            .get(format!("{base}/search?query=memory&size=1"))
            .send()
            .await?
            .json()
            .await?;
        if found["total"].as_u64().unwrap_or(0) >= projects as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let after_projects = rss_mb(pid);

    let images: Vec<Vec<u8>> = (0..8).map(jpeg).collect::<anyhow::Result<_>>()?;
    let images = Arc::new(images);
    let bar = indicatif::ProgressBar::new(uploads as u64).with_message("uploads");
    let next = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..concurrency.min(8) {
        let (client, token, next, base, bar, images, ids) = (
            client.clone(),
            token.clone(),
            next.clone(),
            base.clone(),
            bar.clone(),
            images.clone(),
            ids.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= uploads {
                    break;
                }
                let form = reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(images[i % images.len()].clone()).file_name("m.jpg"),
                );
                let reply: Value = client
                    .post(format!("{base}/media/upload"))
                    .bearer_auth(token.as_str())
                    .multipart(form)
                    .send()
                    .await?
                    .json()
                    .await?;
                let id = reply["file_id"].as_str().context("file id")?.to_string();
                ids.lock().await.push(id);
                bar.inc(1);
            }
            anyhow::Ok(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    bar.finish_and_clear();
    // Every thumbnail settled.
    let ids = ids.lock().await.clone();
    let settle = Instant::now();
    for id in &ids {
        loop {
            let media: Value = client
                .get(format!("{base}/media/{id}"))
                .bearer_auth(token.as_str())
                .send()
                .await?
                .json()
                .await?;
            if media["thumbnail_status"] != "pending" {
                break;
            }
            if settle.elapsed() > Duration::from_secs(600) {
                bail!("thumbnails still pending after 10 minutes");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let after_uploads = rss_mb(pid);

    println!("memory: an embedded node (folio serve, default settings), resident set size");
    println!("{:<34} {:>10} {:>12}", "", "RSS MB", "of it heap");
    for (what, (rss, anon)) in [
        ("idle".to_string(), idle),
        (format!("after {projects} projects"), after_projects),
        (format!("after {uploads} uploads"), after_uploads),
    ] {
        println!("{what:<34} {rss:>10.1} {anon:>12.1}");
    }
    println!("goal: ≤ {GOAL_MB:.0} MB after both");
    Ok(())
}
