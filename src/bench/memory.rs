//! `folio bench memory`: the resident memory of an embedded node (`folio serve` on the
//! defaults, in a process of its own): idle, after 10 000 projects, and after 1 000
//! uploads with their thumbnails, next to the goal of 150 MB.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::bail;
use serde_json::{Value, json};

use super::embedded::EmbeddedNode;

const GOAL_MB: f64 = 150.0;

fn jpeg(seed: u32) -> anyhow::Result<Vec<u8>> {
    let image = image::RgbImage::from_fn(1024, 768, |x, y| {
        image::Rgb([((x + seed) % 256) as u8, ((y * 3) % 256) as u8, ((x ^ y) % 256) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg)?;
    Ok(out.into_inner())
}

pub async fn memory(projects: usize, uploads: usize, concurrency: usize) -> anyhow::Result<()> {
    let node = EmbeddedNode::start().await?;
    let (base, client) = (node.base.clone(), node.client.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = node.rss_mb();
    let token = Arc::new(node.sign_up("memory").await?);

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
    let after_projects = node.rss_mb();

    let images: Vec<Vec<u8>> = (0..8).map(jpeg).collect::<anyhow::Result<_>>()?;
    let images = Arc::new(images);
    let node = Arc::new(node);
    let bar = indicatif::ProgressBar::new(uploads as u64).with_message("uploads");
    let next = Arc::new(AtomicUsize::new(0));
    let ids = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for _ in 0..concurrency.min(8) {
        let (node, token, next, bar, images, ids) = (
            node.clone(),
            token.clone(),
            next.clone(),
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
                let id = node.upload(&token, images[i % images.len()].clone(), "m.jpg").await?;
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
    let ids = ids.lock().await.clone();
    node.settle_thumbnails(&token, &ids).await?;
    let after_uploads = node.rss_mb();

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
