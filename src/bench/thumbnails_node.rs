//! `folio bench thumbnails --through-node`: the whole upload path (HTTP, sniffing, the
//! blob store, the database, the outbox, the thumbnailer, the indexer) on an embedded
//! node in a process of its own. The corpus is uploaded to the node; its CPU time from
//! the first upload until the last thumbnail settled is divided by vipsthumbnail's on
//! the same files.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use folio_media::bench::{check_reference_tools, find_corpus, run_vips};

use super::embedded::EmbeddedNode;

/// Goal: the node's CPU for the whole path at most half of vipsthumbnail's.
const GOAL: f64 = 0.5;

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

    let out = tempfile::tempdir()?;
    let (per_image, batch) = {
        let (a, b) = (out.path().join("vips"), out.path().join("vips-batch"));
        std::fs::create_dir_all(&a)?;
        std::fs::create_dir_all(&b)?;
        run_vips(&files, &a, &b).map_err(|e| anyhow::anyhow!("{e}"))?
    };

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
        "folio node / vipsthumbnail CPU: {:.2} per image, {:.2} batch (goal <= {GOAL:.2})",
        node_cpu / per_image.cpu_seconds.max(f64::EPSILON),
        node_cpu / batch.cpu_seconds.max(f64::EPSILON),
    );
    if failed > 0 {
        println!("{failed} thumbnails failed on the node");
    }
    Ok(())
}
