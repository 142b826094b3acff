//! `cargo run --release -p folio-search --example bench -- [N_DOCS] [DIR]`
//!
//! Runs `folio_search::bench::run` against a TantivyEngine on disk (a temp dir
//! unless DIR is given) and prints the report (also as JSON).

use std::sync::Arc;

use folio_search::bench::{self, BenchOptions};
use folio_search::{SearchEngine, TantivyEngine};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100_000);
    let tmp;
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    eprintln!("index directory: {}", dir.display());
    let engine: Arc<dyn SearchEngine> = Arc::new(TantivyEngine::open(&dir)?);
    let report = bench::run(engine, n, BenchOptions::default()).await?;
    println!("{report}");
    println!(
        "resident memory {:.0} MB (goal <= {:.0} MB; includes the generator's projects); index on disk {:.0} MB",
        bench::own_rss_mb(),
        bench::GOAL_RSS_MB,
        bench::size_on_disk(&dir) as f64 / 1e6
    );
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
