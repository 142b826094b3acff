//! `folio bench export`: an account with N MB of originals (1 GB by default) exported by
//! an embedded node in a process of its own, as `folio bench memory` measures one. The
//! node's peak resident set while the archive is written is compared with its resident
//! set just before (the peak is reset through `/proc/<pid>/clear_refs` and read as
//! `VmHWM`, and sampled every 20 ms besides), next to the goal: growth ≤ 50 MB. The
//! download is measured the same way.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::embedded::EmbeddedNode;

const GOAL_MB: f64 = 50.0;
/// Originals as large as an upload may be (5 MiB): noise, so nothing compresses.
const WIDTH: u32 = 1024;
const HEIGHT: u32 = 1536;

fn noise_png(seed: u64) -> anyhow::Result<Vec<u8>> {
    let mut x = seed | 1;
    let image = image::RgbImage::from_fn(WIDTH, HEIGHT, |_, _| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// Resets the node's peak resident set, so `VmHWM` tells the peak from here on.
fn reset_peak(node: &EmbeddedNode) -> bool {
    std::fs::write(format!("/proc/{}/clear_refs", node.pid()), b"5").is_ok()
}

/// Runs `work` while sampling the node's RSS; returns (work's output, peak MB).
async fn peak_during<T>(
    node: &EmbeddedNode,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, f64)> {
    let reset = reset_peak(node);
    let mut sampled: f64 = 0.0;
    let mut sampler = tokio::time::interval(Duration::from_millis(20));
    tokio::pin!(work);
    let out = loop {
        tokio::select! {
            out = &mut work => break out?,
            _ = sampler.tick() => sampled = sampled.max(node.rss_mb().0),
        }
    };
    sampled = sampled.max(node.rss_mb().0);
    let peak = if reset {
        node.peak_rss_mb().max(sampled)
    } else {
        sampled
    };
    Ok((out, peak))
}

pub async fn export(megabytes: u64) -> anyhow::Result<()> {
    // No thumbnailer: the bench measures the export, not 200 rendition sets.
    let node = EmbeddedNode::start_with_roles(Some("http,indexer")).await?;
    let (base, client) = (node.base.clone(), node.client.clone());
    let token = node.sign_up("exporter").await?;
    let project: Value = client
        .post(format!("{base}/projects"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Everything", "description": "folio bench export"}))
        .send()
        .await?
        .json()
        .await?;
    let project_id = project["id"].as_str().context("project id")?.to_string();

    let images: Vec<Vec<u8>> = (0..4).map(|i| noise_png(i + 1)).collect::<anyhow::Result<_>>()?;
    let per_image = images[0].len() as u64;
    let count = (megabytes * 1024 * 1024).div_ceil(per_image);
    let bar = indicatif::ProgressBar::new(count).with_message("uploading originals");
    for i in 0..count {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(images[i as usize % images.len()].clone())
                    .file_name(format!("original-{i}.png")),
            )
            .text("project_id", project_id.clone());
        let reply = client
            .post(format!("{base}/media/upload"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await?;
        if !reply.status().is_success() {
            bail!("upload {i}: {} {}", reply.status(), reply.text().await?);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let originals_mb = (count * per_image) as f64 / 1e6;
    // Let the node settle after the uploads before taking its measure.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = node.rss_mb().0;

    let started = Instant::now();
    let ((status, seconds), export_peak) = peak_during(&node, async {
        let reply = client
            .post(format!("{base}/profile/me/export"))
            .bearer_auth(&token)
            .send()
            .await?;
        if reply.status() != 202 {
            bail!("POST /profile/me/export answered {}", reply.status());
        }
        loop {
            let status: Value = client
                .get(format!("{base}/profile/me/export"))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            match status["status"].as_str() {
                Some("running") => tokio::time::sleep(Duration::from_millis(100)).await,
                Some("ready") => return Ok((status, started.elapsed().as_secs_f64())),
                other => bail!("the export ended {other:?}: {status}"),
            }
        }
    })
    .await?;
    let archive_mb = status["size_bytes"].as_f64().unwrap_or(0.0) / 1e6;
    let url = status["download_url"].as_str().context("download url")?.to_string();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let before_download = node.rss_mb().0;
    let download_started = Instant::now();
    let (downloaded, download_peak) = peak_during(&node, async {
        let mut response = client.get(&url).bearer_auth(&token).send().await?;
        if response.status() != 200 {
            bail!("downloading the archive answered {}", response.status());
        }
        let mut bytes = 0u64;
        while let Some(chunk) = response.chunk().await? {
            bytes += chunk.len() as u64;
        }
        Ok(bytes)
    })
    .await?;
    let download_seconds = download_started.elapsed().as_secs_f64();

    println!(
        "export: an embedded node (folio serve --roles http,indexer, its own process), one account with {count} originals ({originals_mb:.0} MB)"
    );
    println!(
        "archive: {archive_mb:.0} MB written to the blob store in {seconds:.1} s ({:.0} MB/s)",
        archive_mb / seconds.max(0.001)
    );
    println!("{:<28} {:>10} {:>10} {:>10}", "", "RSS before", "peak", "growth");
    let growth = export_peak - before;
    println!(
        "{:<28} {:>7.1} MB {:>7.1} MB {:>7.1} MB",
        "while writing the archive", before, export_peak, growth
    );
    let download_growth = download_peak - before_download;
    println!(
        "{:<28} {:>7.1} MB {:>7.1} MB {:>7.1} MB   ({:.0} MB in {download_seconds:.1} s)",
        "while it is downloaded",
        before_download,
        download_peak,
        download_growth,
        downloaded as f64 / 1e6
    );
    println!(
        "goal: growth ≤ {GOAL_MB:.0} MB for 1 GB of originals; this run: {growth:.1} MB ({})",
        if growth <= GOAL_MB { "within" } else { "OVER" }
    );
    Ok(())
}
