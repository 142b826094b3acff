//! `folio bench thumbnails --through-node`: the whole upload path (HTTP, sniffing, the
//! blob store, the database, the outbox, the thumbnailer, the indexer) on an embedded
//! node in a process of its own. The corpus is uploaded to the node; its CPU time from
//! the first upload until the last thumbnail settled is divided by vipsthumbnail's on
//! the same files. The node makes the whole rendition set (four sizes in WebP and
//! JPEG, plus the seed's thumbnail), so vipsthumbnail makes the same sizes and formats
//! in the same run; the cost of each format is shown from an in-process run of the same
//! code, and the node's peak resident memory from a fresh node given one 5120×2880
//! photo.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use folio_media::bench::{check_reference_tools, find_corpus, folio_renditions, run_vips, run_vips_renditions};

use super::embedded::EmbeddedNode;

/// Goal: the node's CPU for the whole path (every rendition) at most vipsthumbnail's
/// for the same sizes and formats.
const GOAL: f64 = 1.0;
/// Goal for the node's peak resident memory while a 5120×2880 photo is processed.
const PEAK_RSS_GOAL_MB: f64 = 150.0;

/// `system_libjpeg_turbo`: the node's setting (it inherits this process's environment).
pub async fn through_node(corpus: &std::path::Path, system_libjpeg_turbo: bool) -> anyhow::Result<()> {
    check_reference_tools().map_err(|e| anyhow::anyhow!("{e}"))?;
    let found = find_corpus(corpus).map_err(|e| anyhow::anyhow!("{e}"))?;
    let files: Vec<std::path::PathBuf> = found.iter().map(|f| f.0.clone()).collect();
    let input_bytes: u64 = found.iter().map(|f| f.2).sum();
    eprintln!(
        "bench thumbnails --through-node: {} images ({:.1} MB) from {}",
        files.len(),
        input_bytes as f64 / 1e6,
        corpus.display()
    );
    let mut contents = Vec::with_capacity(files.len());
    for file in &files {
        contents.push(Arc::new(std::fs::read(file)?));
    }

    let node = Arc::new(EmbeddedNode::start().await?);
    let token = Arc::new(node.sign_up("thumbnails").await?);
    // As many uploads at once as the node has cores to thumbnail with.
    let clients = std::thread::available_parallelism().map_or(2, |n| n.get());
    let contents = Arc::new(contents);
    let next = Arc::new(AtomicUsize::new(0));
    let bar = indicatif::ProgressBar::new(files.len() as u64).with_message("uploads");
    let cpu_before = node.cpu_seconds()?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (node, token, contents, next, bar) =
            (node.clone(), token.clone(), contents.clone(), next.clone(), bar.clone());
        workers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(bytes) = contents.get(i) else { break };
                ids.push(node.upload(&token, bytes.to_vec(), &format!("image-{i}")).await?);
                bar.inc(1);
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::new();
    for worker in workers {
        ids.extend(worker.await??);
    }
    bar.finish_and_clear();
    let failed = node.settle_thumbnails(&token, &ids).await?;
    let wall = started.elapsed().as_secs_f64();
    let node_cpu = node.cpu_seconds()? - cpu_before;
    drop(node);

    let peak_rss_mb = peak_rss_for_a_large_photo().await?;

    let out = tempfile::tempdir()?;
    let (per_image, batch) = {
        let (a, b) = (out.path().join("vips"), out.path().join("vips-batch"));
        std::fs::create_dir_all(&a)?;
        std::fs::create_dir_all(&b)?;
        run_vips(&files, &a, &b).map_err(|e| anyhow::anyhow!("{e}"))?
    };
    let spec = folio_media::ThumbnailSpec {
        system_libjpeg_turbo,
        ..folio_media::ThumbnailSpec::default()
    };
    let renditions_out = out.path().join("vips-renditions");
    std::fs::create_dir_all(&renditions_out)?;
    let (vips_webp, vips_jpeg) =
        run_vips_renditions(&files, &renditions_out, spec.quality).map_err(|e| anyhow::anyhow!("{e}"))?;
    let vips_set = vips_webp.cpu_seconds + vips_jpeg.cpu_seconds + batch.cpu_seconds;
    eprintln!("[bench] folio renditions in process …");
    let folio = folio_renditions(&files, &spec).map_err(|e| anyhow::anyhow!("{e}"))?;

    println!();
    println!(
        "folio bench thumbnails --through-node: {} images, {} uploads at once, JPEG backend: {}",
        files.len(),
        clients,
        folio_media::jpeg_backend(&folio_media::ThumbnailSpec {
            system_libjpeg_turbo,
            ..folio_media::ThumbnailSpec::default()
        })
    );
    println!("{:<44} {:>10} {:>10}", "", "CPU s", "wall s");
    println!(
        "{:<44} {:>10.2} {:>10.2}",
        "folio node: upload → thumbnail settled", node_cpu, wall
    );
    println!(
        "{:<44} {:>10.2} {:>10.2}",
        "vipsthumbnail, one process per image", per_image.cpu_seconds, per_image.wall_seconds
    );
    println!(
        "{:<44} {:>10.2} {:>10.2}",
        "vipsthumbnail, one process for all", batch.cpu_seconds, batch.wall_seconds
    );
    println!(
        "folio node / vipsthumbnail thumbnails only (the seed's reference): {:.2} per image, {:.2} batch",
        node_cpu / per_image.cpu_seconds.max(f64::EPSILON),
        node_cpu / batch.cpu_seconds.max(f64::EPSILON),
    );
    println!();
    println!("the whole rendition set (320/640/1280/2048 in WebP and JPEG, plus the 300-pixel JPEG thumbnail):");
    println!(
        "{:<44} {:>10.2}",
        "vipsthumbnail, WebP (4 sizes)", vips_webp.cpu_seconds
    );
    println!(
        "{:<44} {:>10.2}",
        "vipsthumbnail, JPEG (4 sizes)", vips_jpeg.cpu_seconds
    );
    println!(
        "{:<44} {:>10.2}",
        "vipsthumbnail, 300-pixel thumbnail", batch.cpu_seconds
    );
    println!("{:<44} {:>10.2}", "vipsthumbnail, the whole set", vips_set);
    println!(
        "{:<44} {:>10.2}",
        "folio in process: decode + resize (once)",
        folio.decode_and_resize.as_secs_f64()
    );
    println!(
        "{:<44} {:>10.2}",
        "folio in process: WebP encoding",
        folio.webp.as_secs_f64()
    );
    println!(
        "{:<44} {:>10.2}",
        "folio in process: JPEG encoding (incl. thumb)",
        folio.jpeg.as_secs_f64()
    );
    println!(
        "folio node (whole upload path) / vipsthumbnail (whole set) CPU: {:.2} (goal <= {GOAL:.2})",
        node_cpu / vips_set.max(f64::EPSILON)
    );
    println!(
        "folio node peak RSS while a 5120×2880 photo is processed: {peak_rss_mb:.1} MB (goal <= {PEAK_RSS_GOAL_MB:.0} MB)"
    );
    if failed > 0 {
        println!("{failed} thumbnails failed on the node");
    }
    Ok(())
}

/// A fresh node's peak resident memory (MB) after it made every rendition of one
/// 5120×2880 photo (a gradient with noise, so the JPEG is photo-sized).
async fn peak_rss_for_a_large_photo() -> anyhow::Result<f64> {
    let photo = {
        let image = image::RgbImage::from_fn(5120, 2880, |x, y| {
            let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) % 4;
            image::Rgb([
                (x * 255 / 5120) as u8 ^ noise as u8,
                (y * 255 / 2880) as u8,
                ((x + y) % 256) as u8,
            ])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&image)?;
        out.into_inner()
    };
    let node = EmbeddedNode::start().await?;
    let token = node.sign_up("large-photo").await?;
    let id = node.upload(&token, photo, "large.jpg").await?;
    let failed = node.settle_thumbnails(&token, &[id]).await?;
    anyhow::ensure!(failed == 0, "the 5120×2880 photo failed on the node");
    Ok(node.peak_rss_mb())
}
