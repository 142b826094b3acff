//! `folio bench indexing`: does live indexing keep pace with writes? Clients create
//! projects as fast as the node takes them for a while; the figures are the write rate,
//! how many of those writes were searchable when the burst ended, and how long after the
//! burst the last one became searchable (goal: ≤ 1 s). Once on the embedded node (SQLite,
//! in-process bus) and once on PostgreSQL + JetStream; the search engine is the embedded
//! index in both.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{bench_node, load, post_json, postgres_bench_node};
use crate::{Node, Settings};

pub struct IndexingOptions {
    pub concurrency: usize,
    pub burst: Duration,
    pub postgres: String,
    pub nats: String,
}

struct IndexingFigures {
    writes: u64,
    writes_per_sec: f64,
    searchable_at_burst_end: u64,
    /// From the end of the burst until every write was searchable (`None`: not within the limit).
    catch_up: Option<Duration>,
    docs_per_sec: f64,
}

pub async fn indexing(base: &Settings, options: IndexingOptions) -> anyhow::Result<()> {
    let mut cheap = base.clone();
    // The login cost is not what this measures.
    cheap.auth.argon2_memory_kib = 1024;
    cheap.auth.argon2_iterations = 1;

    eprintln!("[1/2] embedded node (SQLite, in-process bus, embedded index)");
    let (node, _dir) = bench_node(&cheap).await?;
    let embedded = figures(&node, &options).await;
    node.shutdown().await;
    let embedded = embedded?;

    eprintln!(
        "[2/2] cluster node (PostgreSQL, JetStream at {}, embedded index)",
        options.nats
    );
    let cluster = postgres_bench_node(&cheap, &options.postgres, &options.nats).await?;
    let on_postgres = figures(&cluster.node, &options).await;
    cluster.stop().await;
    let on_postgres = on_postgres?;

    println!();
    println!(
        "folio bench indexing ({} clients writing for {}s, {} cores)",
        options.concurrency,
        options.burst.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<34} {:>9} {:>9} {:>16} {:>12} {:>12}   reference",
        "node", "writes", "writes/s", "searchable@end", "docs/s", "catch-up"
    );
    for (name, f) in [
        ("SQLite + in-process bus", &embedded),
        ("PostgreSQL + JetStream", &on_postgres),
    ] {
        println!(
            "{:<34} {:>9} {:>9.0} {:>16} {:>12.0} {:>12}   goal: catch-up <= 1 s; docs/s >= writes/s",
            name,
            f.writes,
            f.writes_per_sec,
            format!(
                "{} ({:.0} %)",
                f.searchable_at_burst_end,
                100.0 * f.searchable_at_burst_end as f64 / f.writes.max(1) as f64
            ),
            f.docs_per_sec,
            f.catch_up
                .map(|d| format!("{:.2} s", d.as_secs_f64()))
                .unwrap_or_else(|| "> 120 s".into()),
        );
    }
    Ok(())
}

async fn searchable(client: &reqwest::Client, url: &str) -> anyhow::Result<u64> {
    let found: serde_json::Value = client
        .get(format!("{url}/search?query=&size=1"))
        .send()
        .await?
        .json()
        .await?;
    found["total"].as_u64().context("search total")
}

async fn figures(node: &Node, options: &IndexingOptions) -> anyhow::Result<IndexingFigures> {
    let url = node.base_url();
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    post_json(
        &client,
        &format!("{url}/auth/register"),
        serde_json::json!({"username": "indexbench", "email": "indexbench@folio.test", "password": "bench-password"}),
    )
    .await?;
    let login = post_json(
        &client,
        &format!("{url}/auth/login"),
        serde_json::json!({"email": "indexbench@folio.test", "password": "bench-password"}),
    )
    .await?;
    let token = login["access_token"].as_str().context("no access token")?.to_string();

    eprintln!(
        "  POST /projects, {} clients, {}s",
        options.concurrency,
        options.burst.as_secs()
    );
    let started = Instant::now();
    let burst = {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        load(options.concurrency, options.burst, move |i| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            async move {
                client
                    .post(format!("{url}/projects"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({
                        "title": format!("Indexing bench {i}"),
                        "description": "live indexing under load",
                        "tags": ["bench"],
                    }))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 201)
            }
        })
        .await
    };
    let burst_ended = Instant::now();
    let burst_secs = burst_ended.duration_since(started).as_secs_f64();
    let writes = burst.completed;
    let searchable_at_burst_end = searchable(&client, &url).await?;
    eprintln!("  {writes} written, {searchable_at_burst_end} searchable at the end of the burst; waiting");
    let limit = Duration::from_secs(120);
    let mut catch_up = None;
    let mut last_report = Instant::now();
    while burst_ended.elapsed() < limit {
        let now = searchable(&client, &url).await?;
        if now >= writes {
            catch_up = Some(burst_ended.elapsed());
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "  … {now}/{writes} searchable after {:.0} s",
                burst_ended.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let indexing_secs = catch_up.unwrap_or(limit).as_secs_f64() + burst_secs;
    Ok(IndexingFigures {
        writes,
        writes_per_sec: burst.requests_per_sec,
        searchable_at_burst_end,
        catch_up,
        docs_per_sec: writes as f64 / indexing_secs,
    })
}
