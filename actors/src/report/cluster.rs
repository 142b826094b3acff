//! The cluster as an operator sees it (`GET /admin/cluster`, `folio cluster status`):
//! every node the registry lists, whether it answers, and the cluster-wide queues.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::jobs::{JobsContext, JobsError};
use crate::cluster::{
    agent::{self, Described, NodeAgentClient},
    registry::NodeRegistry,
};

/// How long a node has to answer `Describe` before it is called unreachable.
pub const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the registry has to list the nodes.
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reachability {
    Reachable,
    Unreachable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub name: String,
    pub state: Reachability,
    pub roles: Vec<String>,
    pub version: String,
    pub started_at: DateTime<Utc>,
    /// `None` when the node did not answer.
    pub uptime_secs: Option<u64>,
    pub http_addr: Option<String>,
    pub cluster_addr: Option<String>,
    /// `None` when the node did not answer.
    pub actor_restarts: Option<BTreeMap<String, u64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerStatus {
    pub durable: String,
    /// In the stream, not yet delivered.
    pub pending: u64,
    /// Delivered, not yet acknowledged.
    pub ack_pending: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub nodes: Vec<NodeStatus>,
    /// The JetStream durable consumers (empty on the in-process bus).
    pub consumers: Vec<ConsumerStatus>,
    pub media_pending: u64,
    pub media_failed: u64,
}

/// What a node knows of the cluster: its own agent (none in the CLI) and the registry
/// (none on a node outside a cluster, which is then a cluster of one).
#[derive(Clone)]
pub struct ClusterView {
    pub local: Option<NodeAgentClient>,
    pub registry: Option<NodeRegistry>,
}

impl ClusterView {
    pub async fn status(&self, jobs: &JobsContext) -> Result<ClusterStatus, JobsError> {
        let answers = agent::describe_all(DESCRIBE_TIMEOUT).await;
        let mut nodes: BTreeMap<String, NodeStatus> = BTreeMap::new();
        let listed = match &self.registry {
            // A registry that does not answer (NATS away) must not hold the view up.
            Some(registry) => match tokio::time::timeout(REGISTRY_TIMEOUT, registry.nodes()).await {
                Ok(Ok(entries)) => entries,
                Ok(Err(e)) => {
                    tracing::warn!(error.cause_chain = %crate::errors::error_chain(&e), "listing the cluster's nodes; showing those that answer");
                    Vec::new()
                }
                Err(_) => {
                    tracing::warn!("the node registry did not answer in time; showing the nodes that answer");
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        for entry in listed {
            nodes.insert(
                entry.name.clone(),
                NodeStatus {
                    name: entry.name,
                    state: Reachability::Unreachable,
                    roles: entry.roles,
                    version: entry.version,
                    started_at: entry.started_at,
                    uptime_secs: None,
                    http_addr: entry.http_addr,
                    cluster_addr: Some(entry.cluster_addr),
                    actor_restarts: None,
                },
            );
        }
        let mut answered: Vec<_> = answers
            .into_iter()
            .filter_map(|a| match a {
                Described::Answered(d) => Some(d),
                Described::NoAnswer { .. } => None,
            })
            .collect();
        if let Some(local) = &self.local
            && !answered.iter().any(|d| d.name == local.identity().name)
        {
            answered.push(local.describe_self());
        }
        for description in answered {
            nodes.insert(
                description.name.clone(),
                NodeStatus {
                    name: description.name,
                    state: Reachability::Reachable,
                    roles: description.roles,
                    version: description.version,
                    started_at: description.started_at,
                    uptime_secs: Some(description.uptime_secs),
                    http_addr: description.http_addr,
                    cluster_addr: description.cluster_addr,
                    actor_restarts: Some(description.actor_restarts),
                },
            );
        }
        let queues = jobs.cluster_queues().await?;
        Ok(ClusterStatus {
            nodes: nodes.into_values().collect(),
            consumers: queues.consumers,
            media_pending: queues.media_pending,
            media_failed: queues.media_failed,
        })
    }
}
