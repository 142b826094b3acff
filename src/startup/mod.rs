//! Builds a node from settings, in steps: bind the listeners ([`edge`]), open the store
//! ([`database`], [`store`]: database, blobs, search index), connect the [`bus`], start
//! the [`domains`], then the [`workers`] and the outbox relay, join the [`cluster`], and
//! serve the edge. Tests start nodes the same way, on port 0.

mod bus;
pub mod cluster;
mod database;
mod domains;
mod edge;
mod readiness;
mod store;
mod workers;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use folio_actors::{
    cluster::{LiveHub, NodeIdentity, server::ClusterServer},
    events::EventBus,
    export::ExportClient,
    indexer::SearchClient,
    media::MediaClient,
    profile::ProfileClient,
    project::ProjectClient,
    report::cluster::ClusterView,
    session::SessionClient,
    supervisor::{GaveUp, NodeHealth, SupervisorError, SupervisorMsg},
};
use folio_media::SharedBlobStore;
use ractor::ActorRef;
use sea_orm::DatabaseConnection;
use tokio::{sync::oneshot, task::JoinHandle};

pub use bus::event_bus;
pub use database::{connect_database, connect_read_pool, migrate};
pub use domains::{DomainStarter, jwt_secret, session_config};
pub use store::{blob_store, search_engine};

use crate::configuration::{Roles, Settings};
use cluster::{cluster_config, join_cluster, node_name_from};
use domains::domains;
use edge::{bind, edge};
use store::store;
use workers::consumers;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("data dir {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("FOLIO_JWT_SECRET is required outside embedded mode")]
    SecretRequired,
    #[error("the embedded node's JWT secret in {path} is not hex")]
    SecretFile {
        path: std::path::PathBuf,
        #[source]
        source: hex::FromHexError,
    },
    #[error("starting the node's actors")]
    Supervisor(#[from] SupervisorError),
    #[error("JWT keys")]
    Keys(#[from] folio_actors::session::TokenKeyError),
    #[error("starting the session domain")]
    Session(#[from] folio_actors::session::SessionStartError),
    #[error("starting a domain's workers")]
    Workers(#[from] folio_actors::PoolStartError),
    #[error("binding {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("event bus: {0}")]
    Bus(#[from] folio_actors::events::BusError),
    #[error("opening the blob store")]
    Blobs(#[source] folio_media::BlobError),
    #[error("opening the search engine")]
    Search(#[source] folio_search::SearchError),
    #[error("joining the cluster")]
    Cluster(#[from] folio_actors::cluster::server::ClusterError),
    #[error("the cluster's node registry")]
    Registry(#[from] folio_actors::cluster::registry::RegistryError),
    #[error(
        "this node is not part of a cluster: FOLIO_CLUSTER_COOKIE and FOLIO_NATS_URL are needed (an embedded node is a cluster of one; see GET /admin/cluster)"
    )]
    NotClustered,
    #[error("reading the shared queues")]
    Jobs(#[source] folio_actors::report::jobs::JobsError),
    #[error("finding a free port for the node server on {addr}")]
    ClusterPort { addr: SocketAddr, source: std::io::Error },
    #[error("holding the migration lock")]
    MigrationLock(#[source] sea_orm::sqlx::Error),
}

/// Why a node stopped serving on its own.
#[derive(Debug, thiserror::Error)]
pub enum NodeFailure {
    #[error("the supervisor gave up on actor {}: {}", .0.actor, .0.last_error)]
    ActorGaveUp(GaveUp),
    #[error("the node supervisor stopped")]
    SupervisorStopped,
    #[error("the HTTP server stopped")]
    ServerStopped(#[source] std::io::Error),
    #[error("the HTTP server task failed")]
    ServerTask(#[source] tokio::task::JoinError),
}

/// A running node. Dropping it does not stop it; call [`Node::shutdown`].
pub struct Node {
    /// Where the HTTP edge listens; for a node without one, where its ops endpoints
    /// listen (`ops.addr`), else the configured address.
    pub addr: SocketAddr,
    pub roles: Roles,
    pub db: DatabaseConnection,
    pub session: SessionClient,
    pub profiles: ProfileClient,
    pub projects: ProjectClient,
    pub media: MediaClient,
    pub exports: ExportClient,
    pub bus: Arc<dyn EventBus>,
    pub blobs: SharedBlobStore,
    pub search: SearchClient,
    pub supervisor: ActorRef<SupervisorMsg>,
    /// Whether every supervised actor still runs.
    pub health: NodeHealth,
    /// This node's agent and the registry of the others.
    pub cluster: ClusterView,
    /// The node server, on a node that is part of a cluster.
    pub cluster_server: Option<ClusterServer>,
    /// The live-event hub, on a node with the edge.
    pub live: Option<LiveHub>,
    supervisor_stopped: Option<JoinHandle<()>>,
    stop_server: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    shutdown_grace: Duration,
}

impl Node {
    pub async fn start(settings: &Settings) -> Result<Node, NodeError> {
        let db = connect_database(settings).await?;
        migrate(&db).await?;
        Self::start_with_database(settings, db).await
    }

    /// Starts a node on a connected and migrated database.
    pub async fn start_with_database(settings: &Settings, db: DatabaseConnection) -> Result<Node, NodeError> {
        let roles = settings.node.roles;
        let listeners = bind(settings, roles).await?;
        let store = store(settings, db).await?;
        let bus = event_bus(settings).await?;
        let cluster = cluster_config(settings)?;
        let identity = NodeIdentity {
            name: cluster
                .as_ref()
                .map(|c| c.node_name.clone())
                .or_else(|| settings.cluster.node_name.clone())
                .unwrap_or_else(|| node_name_from(&listeners.addr.to_string())),
            roles: roles.names(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: chrono::Utc::now(),
            http_addr: (listeners.edge.is_some() || listeners.ops.is_some()).then(|| listeners.addr.to_string()),
            cluster_addr: cluster.as_ref().map(|c| c.advertise.clone()),
        };
        let domains = domains(settings, &store, settings.public_url(listeners.edge_addr), identity).await?;
        consumers(settings, roles, &store, &bus, &domains).await?;
        let membership = join_cluster(settings, cluster, &domains).await?;
        let addr = listeners.addr;
        let edge = edge(settings, listeners, &store, &bus, &domains, &membership).await?;
        tracing::info!(?roles, bus = bus.name(), "folio node started");
        Ok(Node {
            addr,
            roles,
            db: store.db,
            session: domains.session,
            profiles: domains.profiles,
            projects: domains.projects,
            media: domains.media,
            exports: domains.exports,
            bus,
            blobs: store.blobs,
            search: store.search,
            supervisor: domains.supervisor,
            health: domains.health,
            cluster: membership.view,
            cluster_server: membership.server,
            live: domains.live,
            supervisor_stopped: Some(domains.supervisor_stopped),
            stop_server: edge.stop_server,
            server: edge.server,
            shutdown_grace: settings.node.shutdown_grace,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resolves when the node can no longer serve: the supervisor gave up on an actor,
    /// or the HTTP server stopped. Never resolves while the node is whole.
    pub async fn serving(&mut self) -> NodeFailure {
        let Node {
            health,
            supervisor_stopped,
            server,
            ..
        } = self;
        let supervisor_stopped = async {
            match supervisor_stopped.as_mut() {
                Some(stopped) => {
                    let _ = stopped.await;
                    *supervisor_stopped = None;
                }
                None => std::future::pending().await,
            }
        };
        let server_stopped = async {
            match server.as_mut() {
                Some(running) => {
                    let result = running.await;
                    *server = None;
                    result
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            gave_up = health.failed() => NodeFailure::ActorGaveUp(gave_up),
            () = supervisor_stopped => NodeFailure::SupervisorStopped,
            result = server_stopped => match result {
                Ok(Ok(())) => NodeFailure::ServerStopped(std::io::Error::other("the server returned")),
                Ok(Err(e)) => NodeFailure::ServerStopped(e),
                Err(e) => NodeFailure::ServerTask(e),
            },
        }
    }

    /// Stops accepting connections, lets in-flight requests finish (up to the grace
    /// period), then stops the actors and closes the database — the whole stop bounded
    /// by the grace period even when a dependency (NATS) is away and nothing answers.
    pub async fn shutdown(mut self) {
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        if let Some(stop) = self.stop_server.take() {
            let _ = stop.send(());
        }
        // Open `/events` streams never finish on their own.
        if let Some(live) = &self.live {
            live.end_all();
        }
        if let Some(server) = self.server.take() {
            match tokio::time::timeout_at(deadline, server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::error!(error = %e, "HTTP server stopped with an error"),
                Ok(Err(e)) => tracing::error!(error = %e, "HTTP server task failed"),
                Err(_) => tracing::warn!("HTTP server did not stop within the grace period"),
            }
        }
        let supervisor = self.supervisor.clone();
        // The relay is one of the children: stopping it lets it stamp what the bus
        // already acknowledged.
        let stopping = async move {
            let _ = supervisor
                .stop_children_and_wait(None, Some(Duration::from_secs(10)))
                .await;
            supervisor.stop(None);
        };
        // Whatever is left after the server's share of the grace, but a moment at least
        // for the actors to hear the stop.
        let remaining = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_secs(1));
        if tokio::time::timeout(remaining, stopping).await.is_err() {
            tracing::warn!("actors and the outbox relay did not stop within the grace period");
            self.supervisor.stop(None);
        }
        if let Err(e) = self.db.clone().close().await {
            tracing::warn!(error = %e, "closing the database");
        }
        tracing::info!("node stopped");
    }
}
