//! `folio bench pages`: the public project page of a 20-image project against the same
//! project's JSON (`GET /projects/{id}`), both under `wrk` in the same run on one embedded
//! node (a process of its own). Goal (issue 25): the page reaches at least half the
//! JSON's requests per second, and its HTML stays under 30 KB.

use std::{process::Command, time::Duration};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::embedded::EmbeddedNode;

/// Images in the measured project.
const IMAGES: usize = 20;

/// One `wrk` run: requests per second and the latency percentiles it printed.
struct WrkRun {
    requests_per_sec: f64,
    p50: String,
    p99: String,
}

fn wrk(url: &str, accept: &str, connections: usize, seconds: u64) -> anyhow::Result<WrkRun> {
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-H",
            &format!("Accept: {accept}"),
            url,
        ])
        .output()
        .context("running wrk: install it (Debian: apt install wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {text} {}", String::from_utf8_lossy(&output.stderr));
    }
    if text.contains("Non-2xx or 3xx responses") {
        bail!("{url} answered errors under load:\n{text}");
    }
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_string)
    };
    Ok(WrkRun {
        requests_per_sec: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .context("wrk printed no Requests/sec")?,
        p50: field("50%").unwrap_or_default(),
        p99: field("99%").unwrap_or_default(),
    })
}

pub async fn pages(connections: usize, seconds: u64) -> anyhow::Result<()> {
    let node = EmbeddedNode::start().await?;
    let token = node.sign_up("alice").await?;
    let client = &node.client;
    let project: Value = client
        .post(format!("{}/projects", node.base))
        .bearer_auth(&token)
        .json(&json!({"title": "Twenty Boats", "description": "A series of boats in the harbour, one a morning.", "tags": ["sea", "photo"]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = project["id"].as_str().context("project id")?.to_string();
    let mut files = Vec::new();
    for i in 0..IMAGES {
        let picture = image::RgbImage::from_fn(1600, 1200, |x, y| {
            image::Rgb([
                ((x + i as u32 * 13) % 256) as u8,
                (y % 256) as u8,
                ((x + y) % 256) as u8,
            ])
        });
        let mut jpeg = std::io::Cursor::new(Vec::new());
        picture.write_to(&mut jpeg, image::ImageFormat::Jpeg)?;
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(jpeg.into_inner()).file_name(format!("boat-{i}.jpg")),
            )
            .text("project_id", id.clone());
        let uploaded: Value = client
            .post(format!("{}/media/upload", node.base))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let file = uploaded["file_id"].as_str().context("file id")?.to_string();
        client
            .patch(format!("{}/media/{file}", node.base))
            .bearer_auth(&token)
            .json(&json!({"caption": format!("Boat {} at dawn", i + 1), "alt": format!("A fishing boat, number {}, moored in a calm harbour", i + 1)}))
            .send()
            .await?
            .error_for_status()?;
        files.push(file);
    }
    let failed = node.settle_thumbnails(&token, &files).await?;
    if failed > 0 {
        bail!("{failed} of {IMAGES} thumbnails failed");
    }
    let json_url = format!("{}/projects/{id}", node.base);
    let page_url = format!("{}/@alice/twenty-boats", node.base);
    let page = client
        .get(&page_url)
        .header("accept", "text/html")
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let figures = page.matches("<figure>").count();
    if figures != IMAGES {
        bail!("the page shows {figures} images, not {IMAGES}");
    }
    let json_bytes = client
        .get(&json_url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?
        .len();
    // Warm both paths (views cached, connections open) before measuring.
    wrk(&json_url, "application/json", connections, 1)?;
    wrk(&page_url, "text/html", connections, 1)?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let json_run = wrk(&json_url, "application/json", connections, seconds)?;
    let page_run = wrk(&page_url, "text/html", connections, seconds)?;
    let ratio = page_run.requests_per_sec / json_run.requests_per_sec;
    println!("project with {IMAGES} images, wrk -t2 -c{connections} -d{seconds}s on one embedded node:");
    println!(
        "  GET /projects/{{id}} (JSON, {:.1} KB): {:>8.0} req/s  p50 {:>8}  p99 {:>8}   (reference)",
        json_bytes as f64 / 1024.0,
        json_run.requests_per_sec,
        json_run.p50,
        json_run.p99
    );
    println!(
        "  GET /@alice/twenty-boats (HTML, {:.1} KB): {:>8.0} req/s  p50 {:>8}  p99 {:>8}",
        page.len() as f64 / 1024.0,
        page_run.requests_per_sec,
        page_run.p50,
        page_run.p99
    );
    println!(
        "  page / JSON: {ratio:.2}× (goal ≥ 0.50×: {}); HTML {:.1} KB (goal < 30 KB: {})",
        if ratio >= 0.5 { "met" } else { "missed" },
        page.len() as f64 / 1024.0,
        if page.len() < 30 * 1024 { "met" } else { "missed" }
    );
    Ok(())
}
