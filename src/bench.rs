//! `folio bench …`: figures printed next to the reference they are compared with, all
//! measured in one run on this machine. Command-line tooling, so errors are `anyhow`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::Subcommand;

use crate::{Node, Settings};

#[derive(Subcommand, Clone, Copy)]
pub enum Which {
    /// Login latency, and `/auth/verify` throughput idle vs. during a login storm.
    Auth {
        /// Concurrent logins in the storm (and concurrent verify clients).
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Seconds per throughput phase.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

pub async fn run(which: Which, base: &Settings) -> anyhow::Result<()> {
    match which {
        Which::Auth { concurrency, seconds } => auth(base, concurrency, Duration::from_secs(seconds)).await,
    }
}

/// A fresh embedded node in a temporary data dir, on a free port, with the configured
/// (by default production) password cost.
async fn bench_node(base: &Settings) -> anyhow::Result<(Node, tempfile::TempDir)> {
    let dir = tempfile::tempdir().context("temporary data dir")?;
    let mut settings = base.clone();
    settings.addr = "127.0.0.1:0".parse()?;
    settings.data_dir = dir.path().to_path_buf();
    settings.database_url = None;
    settings.jwt_secret = None;
    settings.login_max_failures = u32::MAX;
    let node = Node::start(&settings).await.context("starting the bench node")?;
    Ok((node, dir))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn post_json(client: &reqwest::Client, url: &str, body: serde_json::Value) -> anyhow::Result<serde_json::Value> {
    let response = client.post(url).json(&body).send().await?;
    let status = response.status();
    let value: serde_json::Value = response.json().await?;
    if !status.is_success() {
        bail!("{url}: {status} {value}");
    }
    Ok(value)
}

async fn auth(base: &Settings, concurrency: usize, phase: Duration) -> anyhow::Result<()> {
    let (node, _dir) = bench_node(base).await?;
    let url = node.base_url();
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    eprintln!(
        "bench auth: embedded node at {url}, argon2id m={} KiB t={} p={}, hashing concurrency {}",
        base.argon2_memory_kib,
        base.argon2_iterations,
        base.argon2_parallelism,
        base.hash_concurrency.unwrap_or_else(folio_actors::blocking::BlockingPool::default_size)
    );

    eprintln!("[1/4] registering {concurrency} accounts");
    let mut accounts = Vec::new();
    for i in 0..concurrency.max(1) {
        let email = format!("bench{i}@folio.test");
        post_json(
            &client,
            &format!("{url}/auth/register"),
            serde_json::json!({"username": format!("bench{i}"), "email": email, "password": "bench-password"}),
        )
        .await?;
        accounts.push(email);
    }
    let login_body = |email: &str| serde_json::json!({"email": email, "password": "bench-password"});
    let token = post_json(&client, &format!("{url}/auth/login"), login_body(&accounts[0])).await?["access_token"]
        .as_str()
        .context("login answered without access_token")?
        .to_string();

    eprintln!("[2/4] login latency: 50 sequential logins");
    let mut latencies = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        post_json(&client, &format!("{url}/auth/login"), login_body(&accounts[0])).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();

    let verify_rps = |storm: bool| {
        let client = client.clone();
        let url = url.clone();
        let token = token.clone();
        let accounts = accounts.clone();
        async move {
            let stop = Arc::new(AtomicBool::new(false));
            let verified = Arc::new(AtomicU64::new(0));
            let logins = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for _ in 0..concurrency {
                let (client, url, token, stop, verified) =
                    (client.clone(), url.clone(), token.clone(), stop.clone(), verified.clone());
                tasks.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let ok = client
                            .get(format!("{url}/auth/verify"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success());
                        if ok {
                            verified.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
            if storm {
                for email in accounts.iter().cycle().take(concurrency) {
                    let (client, url, stop, logins, email) =
                        (client.clone(), url.clone(), stop.clone(), logins.clone(), email.clone());
                    tasks.push(tokio::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            let ok = client
                                .post(format!("{url}/auth/login"))
                                .json(&serde_json::json!({"email": email, "password": "bench-password"}))
                                .send()
                                .await
                                .is_ok_and(|r| r.status().is_success());
                            if ok {
                                logins.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }));
                }
            }
            let started = Instant::now();
            tokio::time::sleep(phase).await;
            stop.store(true, Ordering::Relaxed);
            let elapsed = started.elapsed().as_secs_f64();
            for task in tasks {
                let _ = task.await;
            }
            (
                verified.load(Ordering::Relaxed) as f64 / elapsed,
                logins.load(Ordering::Relaxed) as f64 / elapsed,
            )
        }
    };
    eprintln!("[3/4] /auth/verify with {concurrency} clients, no other load ({}s)", phase.as_secs());
    let (idle, _) = verify_rps(false).await;
    eprintln!(
        "[4/4] /auth/verify with {concurrency} clients while {concurrency} logins run at once ({}s)",
        phase.as_secs()
    );
    let (storm, logins_per_sec) = verify_rps(true).await;
    node.shutdown().await;

    let ratio = if idle > 0.0 { storm / idle } else { 0.0 };
    println!();
    println!("folio bench auth ({} cores)", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    println!("{:<44} {:>14} {:>14}", "measure", "folio", "reference");
    println!("{:<44} {:>14} {:>14}", "login p50 (argon2id, sequential)", ms(percentile(&latencies, 50.0)), "-");
    println!("{:<44} {:>14} {:>14}", "login p99 (argon2id, sequential)", ms(percentile(&latencies, 99.0)), "-");
    println!("{:<44} {:>14.0} {:>14}", "/auth/verify req/s, idle", idle, "(baseline)");
    println!(
        "{:<44} {:>14.0} {:>14}",
        format!("/auth/verify req/s, {concurrency} logins at once"),
        storm,
        format!("{:.0} (40%)", idle * 0.4)
    );
    println!("{:<44} {:>14.1} {:>14}", "logins/s completed during the storm", logins_per_sec, "-");
    println!(
        "{:<44} {:>13.0}% {:>14}",
        "verify throughput kept under the storm",
        ratio * 100.0,
        if ratio >= 0.4 { "goal met" } else { "GOAL MISSED" }
    );
    Ok(())
}
