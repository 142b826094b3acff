//! Runs the thumbnail benchmark and prints the figures.
//!
//! `cargo run --release -p folio-media --example bench_thumbnails [CORPUS] [OUT]`
//! (defaults: /usr/share/wallpapers and a temporary directory). Folio runs in a child
//! process (this binary with `--child CORPUS OUT`) so its CPU time and peak RSS are its own.
//! Add `--features turbojpeg` for the libjpeg-turbo JPEG backend (needs cmake + nasm); the
//! report names the backend used.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use folio_media::bench::{DEFAULT_CORPUS, FolioMode, run_corpus, thumbnail_corpus_child};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let (Some(corpus), Some(out)) = (args.get(1), args.get(2)) else {
            eprintln!("usage: bench_thumbnails --child CORPUS OUT");
            return ExitCode::FAILURE;
        };
        return match thumbnail_corpus_child(corpus.as_ref(), out.as_ref()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let in_process = args.iter().any(|a| a == "--in-process");
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let corpus = PathBuf::from(positional.first().map(|s| s.as_str()).unwrap_or(DEFAULT_CORPUS));
    let tmp;
    let out = match positional.get(1) {
        Some(o) => PathBuf::from(o),
        None => {
            tmp = match tempfile::tempdir() {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("temp dir: {e}");
                    return ExitCode::FAILURE;
                }
            };
            tmp.path().to_path_buf()
        }
    };
    let mode = if in_process {
        FolioMode::InProcess
    } else {
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("current exe: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut cmd = Command::new(exe);
        cmd.arg("--child");
        FolioMode::Child(cmd)
    };
    match run_corpus(&corpus, &out, mode) {
        Ok(r) => {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            println!(
                "images: {} ({} JPEG, {} PNG)\n\
                 folio          CPU {:>7.3} s  peak RSS {:>7} KiB ({}, JPEG: {})\n\
                 vipsthumbnail  CPU {:>7.3} s  peak RSS {:>7} KiB (one process per image)\n\
                 vips (batch)   CPU {:>7.3} s  peak RSS {:>7} KiB (one process)\n\
                 pillow         CPU {:>7.3} s  peak RSS {:>7} KiB (one process)\n\
                 folio/vips = {:.3} (goal <= 0.8), folio/pillow = {:.3} (goal <= 0.5), folio/vips-batch = {:.3}",
                r.images,
                r.jpegs,
                r.pngs,
                r.folio.cpu_seconds,
                r.folio.peak_rss_kib,
                r.folio_mode,
                r.backend,
                r.vips.cpu_seconds,
                r.vips.peak_rss_kib,
                r.vips_batch.cpu_seconds,
                r.vips_batch.peak_rss_kib,
                r.pillow.cpu_seconds,
                r.pillow.peak_rss_kib,
                r.ratio_vips(),
                r.ratio_pillow(),
                r.ratio_vips_batch(),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}
