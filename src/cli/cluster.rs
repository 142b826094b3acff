//! `folio cluster status`: every node the registry lists, whether it answers, and the
//! shared queues, asked over the cluster as `GET /admin/cluster` does.

use std::{net::SocketAddr, time::Duration};

use folio::{
    Settings,
    configuration::ClusterMode,
    startup::{
        self, NodeError,
        cluster::{cluster_limits, tls_files, with_free_port},
    },
};
use folio_actors::{
    NodeSupervisor,
    cluster::{
        registry::NodeRegistry,
        server::{ClusterConfig, ClusterServer},
    },
    jobs::JobActivity,
    report::{
        cluster::{ClusterStatus, ClusterView, Reachability},
        jobs::JobsContext,
    },
};

pub async fn status(settings: &Settings) -> anyhow::Result<()> {
    let status = ask_the_nodes(settings).await?;
    println!(
        "{:<20} {:<12} {:<26} {:<9} {:>10}  {:<22} {:<22} restarts",
        "node", "state", "roles", "version", "uptime", "http", "cluster"
    );
    for node in &status.nodes {
        let state = match node.state {
            Reachability::Reachable => "reachable",
            Reachability::Unreachable => "UNREACHABLE",
        };
        let uptime = node
            .uptime_secs
            .map(|s| format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60))
            .unwrap_or_else(|| "?".into());
        let restarts = match &node.actor_restarts {
            None => "?".to_string(),
            Some(counts) => {
                let failed: Vec<String> = counts
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(actor, n)| format!("{actor}={n}"))
                    .collect();
                if failed.is_empty() {
                    "0".to_string()
                } else {
                    failed.join(" ")
                }
            }
        };
        println!(
            "{:<20} {:<12} {:<26} {:<9} {:>10}  {:<22} {:<22} {}",
            node.name,
            state,
            node.roles.join(","),
            node.version,
            uptime,
            node.http_addr.as_deref().unwrap_or("-"),
            node.cluster_addr.as_deref().unwrap_or("-"),
            restarts
        );
    }
    println!();
    println!("{:<20} {:>9} {:>12}", "consumer", "pending", "ack pending");
    for consumer in &status.consumers {
        println!(
            "{:<20} {:>9} {:>12}",
            consumer.durable, consumer.pending, consumer.ack_pending
        );
    }
    println!();
    println!(
        "media: {} waiting for a thumbnail, {} failed",
        status.media_pending, status.media_failed
    );
    Ok(())
}

/// The cluster as `folio cluster status` sees it: this process joins for a moment as a
/// node of its own (not listed in the registry), dials every listed node, and asks each
/// agent, as `GET /admin/cluster` does.
async fn ask_the_nodes(settings: &Settings) -> Result<ClusterStatus, NodeError> {
    let ClusterMode::Member { cookie, nats_url } = settings.cluster_mode() else {
        return Err(NodeError::NotClustered);
    };
    let db = startup::connect_database(settings).await?;
    let bus = startup::event_bus(settings).await?;
    let registry = NodeRegistry::connect(&nats_url, &settings.cluster.bucket).await?;
    let supervisor = NodeSupervisor::start().await?;
    let listen = with_free_port(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let server = ClusterServer::start(
        &supervisor,
        ClusterConfig {
            node_name: format!("cli-{}", std::process::id()),
            listen,
            advertise: listen.to_string(),
            cookie: cookie.expose().to_string(),
            tls: tls_files(&settings.cluster),
            limits: cluster_limits(&settings.cluster),
        },
    )
    .await?;
    let nodes = registry.nodes().await?;
    for node in &nodes {
        if let Err(e) = server.dial(&node.cluster_addr).await {
            tracing::warn!(node = %node.name, error.cause_chain = %folio_actors::errors::error_chain(&e), "dialing a node");
        }
    }
    // Sessions authenticate and exchange their groups in the background; wait until
    // every listed node's agent is known, or a moment for those that will not answer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        if folio_actors::cluster::agent::remote_agents().len() >= nodes.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let view = ClusterView {
        local: None,
        registry: Some(registry),
    };
    let jobs = JobsContext {
        db,
        bus,
        activity: JobActivity::default(),
    };
    let status = view.status(&jobs).await.map_err(NodeError::Jobs)?;
    supervisor.stop(None);
    Ok(status)
}
