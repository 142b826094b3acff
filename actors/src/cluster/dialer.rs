//! The membership loop (supervised as `cluster-dialer`): it keeps this node's registry
//! entry fresh and a session open to every other node the registry lists (full mesh).
//! A node whose entry expired has its session ended, which also clears half-open peers
//! (a session that looks alive to a node that is gone); a listed node without a session
//! is dialed again with a backoff that doubles up to [`MAX_BACKOFF`].

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use ractor::ActorRef;

use super::{
    registry::{NodeEntry, NodeRegistry, REFRESH},
    server::ClusterServer,
};
use crate::{
    supervised_loop::{LoopActor, LoopBody, LoopError, LoopScope},
    supervisor::{SupervisorError, SupervisorMsg},
};

pub const ACTOR: &str = "cluster-dialer";
const TICK: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A peer that sorts after this node dials it; the other way round only when no session
/// has appeared for this long (the peer may not be able to reach us).
const DIAL_ANYWAY_AFTER: Duration = Duration::from_secs(3);

pub struct Dialer {
    pub server: ClusterServer,
    pub registry: NodeRegistry,
    pub entry: NodeEntry,
}

struct Redial {
    attempts: u32,
    next_at: Instant,
    /// Listed without a session since.
    unconnected_since: Instant,
}

impl Dialer {
    pub async fn start(supervisor: &ActorRef<SupervisorMsg>, dialer: Dialer) -> Result<(), SupervisorError> {
        LoopActor::start(supervisor, ACTOR, Arc::new(dialer)).await
    }

    async fn tick(&self, seen: &mut HashSet<String>, redial: &mut HashMap<String, Redial>) {
        self.server.watch_handshakes();
        let nodes = match self.registry.nodes().await {
            Ok(nodes) => nodes,
            Err(e) => {
                tracing::warn!(error.cause_chain = %crate::errors::error_chain(&e), "listing the cluster's nodes; keeping the sessions as they are");
                return;
            }
        };
        let Ok(sessions) = self.server.sessions().await else {
            tracing::warn!("the node server did not list its sessions");
            return;
        };
        let listed: HashMap<&str, &NodeEntry> = nodes
            .iter()
            .filter(|n| n.name != self.entry.name)
            .map(|n| (n.name.as_str(), n))
            .collect();
        // Sessions of nodes whose entry expired: they are gone, or cut off from NATS.
        for (name, session) in &sessions {
            if !listed.contains_key(name.as_str()) && seen.contains(name) {
                tracing::info!(peer = %name, "its registry entry expired; ending the session");
                session.session.stop(Some("registry entry expired".to_string()));
                seen.remove(name);
            }
        }
        let now = Instant::now();
        redial.retain(|name, _| listed.contains_key(name.as_str()));
        for (name, entry) in listed {
            seen.insert(name.to_string());
            if sessions.contains_key(name) {
                redial.remove(name);
                continue;
            }
            let state = redial.entry(name.to_string()).or_insert(Redial {
                attempts: 0,
                next_at: now,
                unconnected_since: now,
            });
            let ours_to_dial = self.entry.name.as_str() < name || now - state.unconnected_since >= DIAL_ANYWAY_AFTER;
            if !ours_to_dial || now < state.next_at {
                continue;
            }
            let backoff = (Duration::from_millis(250) * 2u32.saturating_pow(state.attempts.min(8))).min(MAX_BACKOFF);
            state.attempts += 1;
            state.next_at = now + backoff;
            tracing::debug!(peer = %name, addr = %entry.cluster_addr, attempt = state.attempts, "dialing");
            if let Err(e) = self.server.dial(&entry.cluster_addr).await {
                tracing::warn!(peer = %name, addr = %entry.cluster_addr, error.cause_chain = %crate::errors::error_chain(&e), ?backoff, "dialing a node failed");
            }
        }
    }
}

impl LoopBody for Dialer {
    fn run(self: Arc<Self>, mut scope: LoopScope) -> BoxFuture<'static, Result<(), LoopError>> {
        Box::pin(async move {
            let mut seen = HashSet::new();
            let mut redial = HashMap::new();
            let mut last_announce: Option<Instant> = None;
            loop {
                if last_announce.is_none_or(|at| at.elapsed() >= REFRESH) {
                    match self.registry.announce(&self.entry).await {
                        Ok(()) => last_announce = Some(Instant::now()),
                        Err(e) => {
                            tracing::warn!(error.cause_chain = %crate::errors::error_chain(&e), "refreshing this node's registry entry")
                        }
                    }
                }
                self.tick(&mut seen, &mut redial).await;
                tokio::select! {
                    _ = scope.stopped() => {
                        self.registry.withdraw(&self.entry.name).await;
                        return Ok(());
                    }
                    _ = tokio::time::sleep(TICK) => {}
                }
            }
        })
    }
}
