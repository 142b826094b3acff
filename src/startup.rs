//! Builds a node from settings, in steps: bind the listeners, open the store (database,
//! blobs, search index), connect the bus, start the domain actors, then the consumers
//! and the outbox relay, and serve the edge. Tests start nodes the same way, on port 0.

use std::{net::SocketAddr, path::Path, time::Duration};

use folio_actors::{
    NodeSupervisor,
    account_deleter::{self, AccountDeleter},
    blocking::BlockingPool,
    cluster::{
        LiveHub, NodeAgentClient, NodeIdentity,
        dialer::Dialer,
        gate::GateLimits,
        registry::{NodeEntry, NodeRegistry},
        server::{ClusterConfig, ClusterError, ClusterServer, TlsFiles},
        status::ClusterView,
    },
    events::{EventBus, EventObserver, InProcessBus, JetStreamBus, JetStreamNames, OutboxRelay, outbox::OutboxSignal},
    export::{
        ExportClient, ExportContext, ExportLinks,
        exporter::{self, AccountExporter},
        sweeper::ExportSweeper,
    },
    indexer::{self, IndexerContext, SearchClient},
    jobs::{JobActivity, JobsContext, ReindexTracker},
    media::{
        MediaClient, MediaContext,
        project_cleanup::{self, ProjectMediaCleanup},
        sweeper::UploadSweeper,
    },
    profile::{ProfileClient, ProfileContext},
    project::{ProjectClient, ProjectContext, views::ProjectViews},
    session::{Argon2Cost, SessionClient, SessionConfig, TokenKeys},
    supervisor::{
        GaveUp, NodeHealth, RestartPolicy, SupervisionObserver, SupervisorArgs, SupervisorError, SupervisorMsg,
    },
    thumbnailer::{self, ThumbnailerConfig, ThumbnailerContext},
};
use folio_http::{EdgeState, Metrics, ProbeError, Readiness, ReadinessCheck, console::ConsoleSettings};
use folio_migration::{Migrator, MigratorTrait};
use futures::future::BoxFuture;
use poem::{
    EndpointExt as _, Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};
use ractor::ActorRef;
use rand::RngCore as _;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use std::sync::Arc;
use tokio::{sync::oneshot, task::JoinHandle};

use crate::configuration::{Roles, Settings};
use folio_media::{LocalDirStore, S3Settings, S3Store, SharedBlobStore, ThumbnailSpec};
use folio_search::{MeiliEngine, MeiliSettings, SearchEngine, TantivyEngine};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("data dir {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("JWT secret: {0}")]
    Secret(String),
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
    #[error("blob store: {0}")]
    Blobs(String),
    #[error("search engine: {0}")]
    Search(String),
    #[error("joining the cluster")]
    Cluster(#[from] ClusterError),
    #[error("the cluster's node registry")]
    Registry(#[from] folio_actors::cluster::registry::RegistryError),
    #[error(
        "this node is not part of a cluster: FOLIO_CLUSTER_COOKIE and FOLIO_NATS_URL are needed (an embedded node is a cluster of one; see GET /admin/cluster)"
    )]
    NotClustered,
    #[error("reading the shared queues")]
    Jobs(#[source] folio_actors::jobs::JobsError),
    #[error("finding a free port for the node server on {addr}")]
    ClusterPort { addr: SocketAddr, source: std::io::Error },
    #[error("holding the migration lock")]
    MigrationLock(#[source] sea_orm::sqlx::Error),
}

/// JetStream when `nats_url` is set, otherwise the in-process bus.
pub async fn event_bus(settings: &Settings) -> Result<Arc<dyn EventBus>, NodeError> {
    Ok(match &settings.bus.nats_url {
        Some(url) => Arc::new(
            JetStreamBus::connect(
                url,
                JetStreamNames {
                    stream_prefix: settings.bus.stream_prefix.clone(),
                    subject_prefix: settings.bus.subject_prefix.clone(),
                },
                Duration::from_secs(settings.bus.duplicate_window_secs),
            )
            .await?,
        ),
        None => Arc::new(InProcessBus::new()),
    })
}

struct BusCheck(Arc<dyn EventBus>);

impl ReadinessCheck for BusCheck {
    fn name(&self) -> &str {
        "event_bus"
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ProbeError>> {
        Box::pin(async move { Ok(self.0.ping().await?) })
    }
}

pub async fn connect_database(settings: &Settings) -> Result<DatabaseConnection, NodeError> {
    let url = settings.database_url();
    let sqlite = url.starts_with("sqlite:");
    if sqlite && settings.database.url.is_none() {
        std::fs::create_dir_all(&settings.node.data_dir).map_err(|source| NodeError::DataDir {
            path: settings.node.data_dir.display().to_string(),
            source,
        })?;
    }
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10));
    if sqlite {
        // SQLite has one writer; a single connection turns concurrent writes into a queue
        // instead of "database is locked" errors, and WAL keeps readers off the writer.
        options
            .max_connections(1)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts| {
                use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                opts.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
    } else {
        options
            .max_connections(settings.database.max_connections)
            .acquire_timeout(Duration::from_secs(settings.database.acquire_timeout_secs));
    }
    Ok(Database::connect(options).await?)
}

/// Connections for reads. SQLite's writer is a single connection (see
/// [`connect_database`]), and a read queued behind every write is what made reads slow
/// under load; in WAL mode readers on other connections see every committed write and
/// never block the writer, so reads get a small pool of their own. PostgreSQL's pool
/// serves both.
pub async fn connect_read_pool(
    settings: &Settings,
    writer: &DatabaseConnection,
) -> Result<DatabaseConnection, NodeError> {
    let url = settings.database_url();
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if writer.get_database_backend() != sea_orm::DatabaseBackend::Sqlite || in_memory {
        return Ok(writer.clone());
    }
    let readers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8) as u32;
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
        .max_connections(readers)
        .min_connections(1)
        .map_sqlx_sqlite_opts(|opts| {
            // The writer set WAL on the file; a reader only waits out a checkpoint.
            opts.busy_timeout(Duration::from_secs(10)).foreign_keys(true)
        });
    Ok(Database::connect(options).await?)
}

/// The outbox relay's connections. On PostgreSQL a pool of its own: behind the API's
/// writers it waited seconds for a connection under load; one connection per round it
/// runs at once, and one taken by its `LISTEN`. SQLite has one writer connection, which the relay shares.
async fn relay_database(settings: &Settings, db: &DatabaseConnection) -> Result<DatabaseConnection, NodeError> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(db.clone());
    }
    let mut options = ConnectOptions::new(settings.database_url());
    options
        .sqlx_logging(false)
        .max_connections(folio_actors::events::outbox::RELAY_CONNECTIONS)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
        // The relay writes only stamps, which need not wait for their WAL flush: a stamp
        // lost in a crash only sends its rows again, and the bus drops them by event id.
        // Set on the connection, so that a round costs no extra round trip for it.
        .map_sqlx_postgres_opts(|pg| pg.options([("synchronous_commit", "off")]));
    Ok(Database::connect(options).await?)
}

/// Nodes of a cluster start together on one database: on PostgreSQL they take turns
/// through an advisory lock (held on a connection of its own), so that two nodes never
/// run the same migration at once and fail on each other's half-made tables.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), NodeError> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        Migrator::up(db, None).await?;
        return Ok(());
    }
    use sea_orm::sqlx::{Connection as _, postgres::PgConnection};
    /// Any constant, the same on every node: "folio" in ASCII.
    const MIGRATION_LOCK: i64 = 0x0066_6f6c_696f;
    let options = db.get_postgres_connection_pool().connect_options();
    let mut lock = PgConnection::connect_with(&options)
        .await
        .map_err(NodeError::MigrationLock)?;
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut lock)
        .await
        .map_err(NodeError::MigrationLock)?;
    let migrated = Migrator::up(db, None).await;
    // Closing the connection releases the lock, whatever happened above.
    let _ = lock.close().await;
    Ok(migrated?)
}

/// Outside embedded mode the secret comes from settings (startup refuses to go on
/// without one); an embedded node makes a random one on first start and keeps it in
/// the data dir, readable only by its owner.
pub fn jwt_secret(settings: &Settings) -> Result<Vec<u8>, NodeError> {
    if let Some(secret) = &settings.auth.jwt_secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    if !settings.is_embedded() {
        return Err(NodeError::Secret(
            "FOLIO_JWT_SECRET is required outside embedded mode".into(),
        ));
    }
    let path = settings.node.data_dir.join("jwt_secret");
    let io = |source: std::io::Error| NodeError::DataDir {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => hex::decode(text.trim()).map_err(|e| NodeError::Secret(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&settings.node.data_dir).map_err(io)?;
            let mut secret = vec![0u8; 64];
            rand::rng().fill_bytes(&mut secret);
            write_private(&path, hex::encode(&secret).as_bytes()).map_err(io)?;
            tracing::info!(path = %path.display(), "generated a JWT secret for this embedded node");
            Ok(secret)
        }
        Err(e) => Err(io(e)),
    }
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

struct DatabaseCheck(DatabaseConnection);

impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &str {
        "database"
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ProbeError>> {
        Box::pin(async move { Ok(self.0.ping().await?) })
    }
}

/// Blobs on S3 when an endpoint is configured, otherwise in the data dir.
pub async fn blob_store(settings: &Settings) -> Result<SharedBlobStore, NodeError> {
    Ok(match &settings.blobs.s3_endpoint {
        Some(endpoint) => Arc::new(
            S3Store::connect(S3Settings {
                endpoint: endpoint.clone(),
                access_key: settings
                    .blobs
                    .s3_access_key
                    .as_ref()
                    .map(|k| k.expose().to_string())
                    .unwrap_or_default(),
                secret_key: settings
                    .blobs
                    .s3_secret_key
                    .as_ref()
                    .map(|k| k.expose().to_string())
                    .unwrap_or_default(),
                bucket: settings.blobs.s3_bucket.clone(),
                region: settings.blobs.s3_region.clone(),
            })
            .await
            .map_err(|e| NodeError::Blobs(e.to_string()))?,
        ),
        None => Arc::new(LocalDirStore::new(settings.node.data_dir.join("media"))),
    })
}

/// Meilisearch when a URL is configured, otherwise the embedded tantivy index. The
/// Meilisearch client does no I/O here, so a node starts while the engine is down
/// (searches answer 503 and indexing catches up when it returns).
pub fn search_engine(settings: &Settings) -> Result<Arc<dyn SearchEngine>, NodeError> {
    Ok(match &settings.search.meilisearch_url {
        Some(url) => Arc::new(
            MeiliEngine::new(MeiliSettings {
                url: url.clone(),
                api_key: settings.search.meilisearch_key.as_ref().map(|k| k.expose().to_string()),
                index: settings.search.meilisearch_index.clone(),
            })
            .map_err(|e| NodeError::Search(e.to_string()))?,
        ),
        None => {
            let dir = settings.node.data_dir.join("search");
            std::fs::create_dir_all(&dir).map_err(|source| NodeError::DataDir {
                path: dir.display().to_string(),
                source,
            })?;
            Arc::new(TantivyEngine::open(&dir).map_err(|e| NodeError::Search(e.to_string()))?)
        }
    })
}

struct BlobCheck(SharedBlobStore);

impl ReadinessCheck for BlobCheck {
    fn name(&self) -> &str {
        "blob_store"
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ProbeError>> {
        Box::pin(async move { Ok(self.0.ping().await?) })
    }
}

/// Actor starts and restarts, as metrics.
struct ActorMetrics(Metrics);

impl EventObserver for ActorMetrics {
    fn malformed(&self, event_type: &str) {
        self.0.event_malformed(event_type);
    }
}

/// `/ready` fails, naming the actor, once the supervisor has given up on one.
struct SupervisionCheck(NodeHealth);

impl ReadinessCheck for SupervisionCheck {
    fn name(&self) -> &str {
        "actors"
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ProbeError>> {
        Box::pin(async move {
            match self.0.gave_up() {
                None => Ok(()),
                Some(gave_up) => Err(Box::new(NodeFailure::ActorGaveUp(gave_up)) as ProbeError),
            }
        })
    }
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

impl SupervisionObserver for ActorMetrics {
    fn started(&self, child: &str) {
        self.0.actor_started(child);
    }

    fn restarted(&self, child: &str) {
        self.0.actor_restarted(child);
    }
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

/// The sockets a node serves on, bound before anything else starts: the edge's address
/// is part of the media URLs the domain actors hand out, and a port taken should stop
/// the node before it has started anything.
struct Listeners {
    /// The HTTP edge (role `http`).
    edge: Option<TcpAcceptor>,
    /// Health, readiness and metrics of a node without the edge, when `ops.addr` is set.
    ops: Option<TcpAcceptor>,
    edge_addr: SocketAddr,
    /// The address the node reports: the edge's, else the ops endpoints', else the
    /// configured one.
    addr: SocketAddr,
}

/// What the node keeps its state in.
struct Store {
    db: DatabaseConnection,
    /// For reads that need no transaction: a pool of its own on SQLite, `db` otherwise.
    reads: DatabaseConnection,
    blobs: SharedBlobStore,
    search: SearchClient,
}

/// The domain actors under the node supervisor, and what they share.
struct Domains {
    supervisor: ActorRef<SupervisorMsg>,
    /// Resolves when the supervisor itself stops.
    supervisor_stopped: JoinHandle<()>,
    health: NodeHealth,
    /// Where deliveries that are not events are counted.
    events: Arc<dyn EventObserver>,
    metrics: Metrics,
    activity: JobActivity,
    /// Wakes the outbox relay when a domain actor has written an event.
    outbox: OutboxSignal,
    session: SessionClient,
    profiles: ProfileClient,
    projects: ProjectClient,
    media: MediaClient,
    exports: ExportClient,
    /// Answers `Describe` for this node.
    agent: NodeAgentClient,
    /// The live-event hub of a node with the edge.
    live: Option<LiveHub>,
}

/// This node's place in the cluster.
struct Membership {
    view: ClusterView,
    server: Option<ClusterServer>,
}

/// The HTTP (or ops) server.
#[derive(Default)]
struct Edge {
    stop_server: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
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
            shutdown_grace: Duration::from_secs(settings.node.shutdown_grace_secs),
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

/// Binds the edge (role `http`) or, on a node without it, the ops endpoints when asked.
async fn bind(settings: &Settings, roles: Roles) -> Result<Listeners, NodeError> {
    let listen = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .into_acceptor()
            .await
            .map_err(|source| NodeError::Bind { addr, source })
    };
    let edge = if roles.http {
        Some(listen(settings.http.addr).await?)
    } else {
        None
    };
    let ops = match (roles.http, settings.ops.addr) {
        (false, Some(ops_addr)) => Some(listen(ops_addr).await?),
        _ => None,
    };
    let bound = |acceptor: Option<&TcpAcceptor>| {
        acceptor.and_then(|a| a.local_addr().first().and_then(|a| a.as_socket_addr().copied()))
    };
    let edge_addr = bound(edge.as_ref()).unwrap_or(settings.http.addr);
    let addr = bound(ops.as_ref()).unwrap_or(edge_addr);
    Ok(Listeners {
        edge,
        ops,
        edge_addr,
        addr,
    })
}

/// The blob store and the search engine, next to the (already migrated) database.
async fn store(settings: &Settings, db: DatabaseConnection) -> Result<Store, NodeError> {
    let blobs = blob_store(settings).await?;
    let search = SearchClient {
        engine: search_engine(settings)?,
    };
    let reads = connect_read_pool(settings, &db).await?;
    Ok(Store {
        db,
        reads,
        blobs,
        search,
    })
}

/// The session domain's settings.
pub fn session_config(settings: &Settings) -> SessionConfig {
    let auth = &settings.auth;
    SessionConfig {
        refresh_ttl: Duration::from_secs(auth.refresh_token_ttl_secs),
        rotate_refresh_tokens: auth.refresh_token_rotation,
        admin_emails: auth.admin_emails.iter().map(|e| e.trim().to_lowercase()).collect(),
        max_failed_logins: auth.login_max_failures,
        max_failed_logins_per_address: auth.login_max_failures_per_address,
        lockout: Duration::from_secs(auth.login_lockout_secs),
        hash_queue_limit: auth.hash_queue_limit,
        workers: auth.session_workers,
        account_hold: Duration::from_secs(auth.account_hold_secs),
    }
}

/// The node supervisor, and under it the session, profile, project and media actors.
async fn domains(
    settings: &Settings,
    store: &Store,
    public_url: String,
    identity: NodeIdentity,
) -> Result<Domains, NodeError> {
    let secret = jwt_secret(settings)?;
    let keys = TokenKeys::new(
        &secret,
        &settings.auth.jwt_issuer,
        &settings.auth.jwt_audience,
        settings.access_token_ttl(),
    )?;
    let metrics = Metrics::new()?;
    let health = NodeHealth::default();
    folio_actors::faults::arm_from_env();
    let (supervisor, supervisor_stopped) = NodeSupervisor::start_with(SupervisorArgs {
        observer: Some(Arc::new(ActorMetrics(metrics.clone()))),
        health: health.clone(),
        policy: RestartPolicy {
            max_restarts: settings.node.actor_max_restarts,
            window: Duration::from_secs(settings.node.actor_restart_window_secs),
            ..RestartPolicy::default()
        },
    })
    .await?;
    let events: Arc<dyn EventObserver> = Arc::new(ActorMetrics(metrics.clone()));
    let activity = JobActivity::new(Arc::new(metrics.clone()));
    let auth = &settings.auth;
    let hashing = BlockingPool::new(auth.hash_concurrency.unwrap_or_else(BlockingPool::default_size));
    let outbox = OutboxSignal::default();
    let session = SessionClient::start(
        &supervisor,
        store.db.clone(),
        keys,
        Argon2Cost {
            memory_kib: auth.argon2_memory_kib,
            iterations: auth.argon2_iterations,
            parallelism: auth.argon2_parallelism,
        },
        hashing,
        session_config(settings),
        outbox.clone(),
    )
    .await?;
    let workers = settings.node.domain_workers;
    let profiles = ProfileClient::start(
        &supervisor,
        ProfileContext {
            db: store.db.clone(),
            reads: store.reads.clone(),
            outbox: outbox.clone(),
        },
        workers,
    )
    .await?;
    let projects = ProjectClient::start(
        &supervisor,
        ProjectContext {
            db: store.db.clone(),
            reads: store.reads.clone(),
            outbox: outbox.clone(),
            views: Arc::new(ProjectViews::new(settings.node.project_view_limits())),
        },
        workers,
    )
    .await?;
    if settings.node.roles.http {
        // Projects from before slugs get theirs; their pages answer by id meanwhile.
        // Every edge may run it at once: a slug is only written where none is yet.
        let projects = projects.clone();
        tokio::spawn(async move {
            match projects.backfill_slugs().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(projects = n, "page slugs made for projects from before slugs"),
                Err(e) => {
                    tracing::warn!(error.cause_chain = %folio_actors::supervisor::error_chain(&e), "making page slugs failed; pages of those projects answer by id")
                }
            }
        });
    }
    if settings.node.roles.indexer && store.search.engine.needs_rebuild() {
        // The embedded index was emptied (an older layout): fill it again the way
        // `folio reindex` does, in the background, so the node serves meanwhile.
        let projects = projects.clone();
        tokio::spawn(async move {
            match projects.republish_all(|_, _| {}).await {
                Ok(n) => tracing::info!(projects = n, "search index rebuilt: every project republished"),
                Err(e) => {
                    tracing::error!(error = %e, "republishing projects for the rebuilt search index failed; run `folio reindex`")
                }
            }
        });
    }
    let exports = ExportClient::new(ExportContext {
        db: store.db.clone(),
        blobs: store.blobs.clone(),
        outbox: outbox.clone(),
        links: ExportLinks::new(&secret),
        public_url: public_url.clone(),
        config: settings.export_config(),
    });
    let media = MediaClient::start(
        &supervisor,
        MediaContext {
            db: store.db.clone(),
            blobs: store.blobs.clone(),
            outbox: outbox.clone(),
            public_url,
            projects: Some(projects.clone()),
        },
        workers,
    )
    .await?;
    let agent = NodeAgentClient::start(&supervisor, identity, health.clone()).await?;
    let live = if settings.node.roles.http {
        Some(
            LiveHub::start(
                &supervisor,
                settings.http.events_max_streams_per_user,
                Duration::from_secs(settings.http.events_keep_alive_secs),
            )
            .await?,
        )
    } else {
        None
    };
    Ok(Domains {
        supervisor,
        supervisor_stopped,
        health,
        events,
        metrics,
        activity,
        outbox,
        session,
        profiles,
        projects,
        media,
        exports,
        agent,
        live,
    })
}

/// The thumbnailer and the indexer (by role), then the outbox relay that feeds them.
async fn consumers(
    settings: &Settings,
    roles: Roles,
    store: &Store,
    bus: &Arc<dyn EventBus>,
    domains: &Domains,
) -> Result<(), NodeError> {
    // Consumers subscribe before the relay starts, so the in-process bus has every
    // subscriber in place before the first event goes out.
    if roles.thumbnailer {
        let media = &settings.media;
        let concurrency = media.thumbnail_concurrency.unwrap_or_else(BlockingPool::default_size);
        let ctx = ThumbnailerContext::new(
            domains.media.context().clone(),
            domains.projects.clone(),
            bus.clone(),
            BlockingPool::new(concurrency),
            ThumbnailerConfig {
                max_attempts: media.thumbnail_max_attempts,
                backoff_base: Duration::from_millis(media.thumbnail_backoff_base_ms),
                ack_wait: Duration::from_secs(media.thumbnail_ack_wait_secs.max(1)),
                concurrency,
                spec: ThumbnailSpec {
                    system_libjpeg_turbo: media.system_libjpeg_turbo,
                    ..ThumbnailSpec::default()
                },
            },
        )
        .with_activity(domains.activity.clone())
        .with_event_observer(domains.events.clone());
        thumbnailer::start(&domains.supervisor, Arc::new(ctx)).await?;
    }
    if roles.indexer {
        let ctx = IndexerContext {
            // The indexer only reads.
            db: store.reads.clone(),
            engine: store.search.engine.clone(),
            profiles: domains.profiles.clone(),
            bus: bus.clone(),
            max_retry_delay: Duration::from_secs(5),
            activity: domains.activity.clone(),
            events: Some(domains.events.clone()),
        };
        indexer::start(&domains.supervisor, Arc::new(ctx)).await?;
    }
    // Every node takes account deletions: they share one durable consumer, so each
    // deletion runs on one node, and another takes it over if that one dies.
    account_deleter::start(
        &domains.supervisor,
        Arc::new(AccountDeleter {
            session: domains.session.clone(),
            profiles: domains.profiles.clone(),
            projects: domains.projects.clone(),
            media: domains.media.clone(),
            exports: domains.exports.clone(),
            bus: bus.clone(),
            events: Some(domains.events.clone()),
        }),
    )
    .await?;
    // Every node builds account exports, one at a time, on one shared durable consumer
    // (another node resumes one whose node died), and sweeps expired archives.
    exporter::start(
        &domains.supervisor,
        Arc::new(AccountExporter {
            exports: domains.exports.clone(),
            bus: bus.clone(),
            events: Some(domains.events.clone()),
        }),
    )
    .await?;
    ExportSweeper {
        exports: domains.exports.clone(),
    }
    .start(&domains.supervisor)
    .await?;
    // Every node removes the images of deleted projects, on one shared durable consumer.
    project_cleanup::start(
        &domains.supervisor,
        Arc::new(ProjectMediaCleanup {
            media: domains.media.clone(),
            bus: bus.clone(),
            events: Some(domains.events.clone()),
        }),
    )
    .await?;
    // Every node relays: on PostgreSQL the nodes share the rows, and the bus drops the
    // duplicates a crash causes by event id.
    OutboxRelay::start(
        &domains.supervisor,
        relay_database(settings, &store.db).await?,
        store.reads.clone(),
        bus.clone(),
        domains.outbox.clone(),
    )
    .await?;
    Ok(())
}

/// Serves the HTTP edge (with the sweeper of abandoned uploads), or the ops endpoints
/// of a node without the edge, or nothing.
async fn edge(
    settings: &Settings,
    listeners: Listeners,
    store: &Store,
    bus: &Arc<dyn EventBus>,
    domains: &Domains,
    membership: &Membership,
) -> Result<Edge, NodeError> {
    let (acceptor, is_edge) = match (listeners.edge, listeners.ops) {
        (Some(acceptor), _) => (acceptor, true),
        (None, Some(ops)) => (ops, false),
        (None, None) => return Ok(Edge::default()),
    };
    let state = EdgeState {
        session: domains.session.clone(),
        profiles: domains.profiles.clone(),
        projects: domains.projects.clone(),
        media: domains.media.clone(),
        exports: domains.exports.clone(),
        search: store.search.clone(),
        readiness: Readiness::default()
            .with(DatabaseCheck(store.db.clone()))
            .with_optional(BusCheck(bus.clone()))
            .with(BlobCheck(store.blobs.clone()))
            .with(SupervisionCheck(domains.health.clone())),
        metrics: domains.metrics.clone(),
        json_body_limit: settings.http.json_body_limit,
        trusted_proxies: settings.trusted_proxies(),
        cors_origins: settings.http.cors_origins.clone(),
        metrics_token: settings.ops.metrics_token.as_ref().map(|t| t.expose().to_string()),
        jobs: JobsContext {
            db: store.db.clone(),
            bus: bus.clone(),
            activity: domains.activity.clone(),
        },
        reindex: ReindexTracker::default(),
        console: ConsoleSettings {
            secure_cookie: settings.http.console_secure_cookie,
        },
        cluster: membership.view.clone(),
        live: domains.live.clone(),
    };
    let app = if is_edge {
        UploadSweeper::new(domains.media.clone())
            .start(&domains.supervisor)
            .await?;
        folio_http::build_app(state).map_to_response().boxed()
    } else {
        folio_http::build_ops_app(state).map_to_response().boxed()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let grace = Duration::from_secs(settings.node.shutdown_grace_secs);
    let server = tokio::spawn(async move {
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async move {
                    let _ = stopped.await;
                },
                Some(grace),
            )
            .await
    });
    let addr = listeners.addr;
    if is_edge {
        tracing::info!(%addr, embedded = settings.is_embedded(), "folio node listening");
    } else {
        tracing::info!(%addr, "health and metrics listening");
    }
    Ok(Edge {
        stop_server: Some(stop),
        server: Some(server),
    })
}

/// The node server's settings, on a node that joins a cluster: a cookie and a NATS URL
/// (for discovery) are set. Port 0 is resolved here, so the address the registry
/// advertises is one the node server really listens on.
fn cluster_config(settings: &Settings) -> Result<Option<ClusterConfig>, NodeError> {
    let cluster = &settings.cluster;
    let (Some(cookie), Some(_)) = (&cluster.cookie, &settings.bus.nats_url) else {
        return Ok(None);
    };
    let mut listen = cluster.addr;
    if listen.port() == 0 {
        let probe =
            std::net::TcpListener::bind(listen).map_err(|source| NodeError::ClusterPort { addr: listen, source })?;
        let port = probe
            .local_addr()
            .map_err(|source| NodeError::ClusterPort { addr: listen, source })?
            .port();
        listen.set_port(port);
    }
    // Listening on every interface, a node is reached by its host name (a container's
    // on a compose network); set FOLIO_CLUSTER_ADVERTISE where that does not resolve.
    let advertise = cluster.advertise.clone().unwrap_or_else(|| {
        if listen.ip().is_unspecified() {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "127.0.0.1".to_string());
            format!("{host}:{}", listen.port())
        } else {
            listen.to_string()
        }
    });
    Ok(Some(ClusterConfig {
        node_name: cluster.node_name.clone().unwrap_or_else(|| node_name_from(&advertise)),
        listen,
        advertise,
        cookie: cookie.expose().to_string(),
        tls: match (&cluster.tls_cert, &cluster.tls_key, &cluster.tls_ca) {
            (Some(cert), Some(key), Some(ca)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                ca: ca.clone(),
            }),
            _ => None,
        },
        limits: cluster_limits(cluster),
    }))
}

/// The cluster port's limits, from the settings.
fn cluster_limits(cluster: &crate::configuration::ClusterSettings) -> GateLimits {
    GateLimits {
        handshake_timeout: Duration::from_secs(cluster.handshake_timeout_secs),
        max_unauthenticated: cluster.max_unauthenticated,
        max_unauthenticated_per_address: cluster.max_unauthenticated_per_address,
        max_failed_handshakes: cluster.max_failed_handshakes,
        failure_window: Duration::from_secs(60),
        max_frame_bytes: cluster.max_frame_bytes,
    }
}

/// `addr`, with port 0 replaced by a port that is free now (the node server binds it
/// itself, after the address has been advertised).
fn with_free_port(mut addr: SocketAddr) -> Result<SocketAddr, NodeError> {
    if addr.port() == 0 {
        let port = std::net::TcpListener::bind(addr)
            .and_then(|probe| probe.local_addr())
            .map_err(|source| NodeError::ClusterPort { addr, source })?
            .port();
        addr.set_port(port);
    }
    Ok(addr)
}

/// A registry key from an address: `10.0.0.5:7946` → `10-0-0-5-7946`.
fn node_name_from(address: &str) -> String {
    address
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

/// Starts the node server and the membership loop on a node that joins a cluster; any
/// other node is a cluster of one.
async fn join_cluster(
    settings: &Settings,
    config: Option<ClusterConfig>,
    domains: &Domains,
) -> Result<Membership, NodeError> {
    let (Some(config), Some(nats_url)) = (config, &settings.bus.nats_url) else {
        return Ok(Membership {
            view: ClusterView {
                local: Some(domains.agent.clone()),
                registry: None,
            },
            server: None,
        });
    };
    let server = ClusterServer::start(&domains.supervisor, config).await?;
    let registry = NodeRegistry::connect(nats_url, &settings.cluster.bucket).await?;
    let identity = domains.agent.identity();
    let entry = NodeEntry {
        name: identity.name.clone(),
        cluster_addr: server.config.advertise.clone(),
        http_addr: identity.http_addr.clone(),
        roles: identity.roles.clone(),
        version: identity.version.clone(),
        started_at: identity.started_at,
    };
    Dialer::start(
        &domains.supervisor,
        Dialer {
            server: server.clone(),
            registry: registry.clone(),
            entry,
        },
    )
    .await?;
    Ok(Membership {
        view: ClusterView {
            local: Some(domains.agent.clone()),
            registry: Some(registry),
        },
        server: Some(server),
    })
}

/// The cluster as `folio cluster status` sees it: this process joins for a moment as a
/// node of its own (not listed in the registry), dials every listed node, and asks each
/// agent, as `GET /admin/cluster` does.
pub async fn cluster_status(settings: &Settings) -> Result<folio_actors::cluster::status::ClusterStatus, NodeError> {
    let (Some(cookie), Some(nats_url)) = (&settings.cluster.cookie, &settings.bus.nats_url) else {
        return Err(NodeError::NotClustered);
    };
    let db = connect_database(settings).await?;
    let bus = event_bus(settings).await?;
    let registry = NodeRegistry::connect(nats_url, &settings.cluster.bucket).await?;
    let supervisor = NodeSupervisor::start().await?;
    let listen = with_free_port(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let server = ClusterServer::start(
        &supervisor,
        ClusterConfig {
            node_name: format!("cli-{}", std::process::id()),
            listen,
            advertise: listen.to_string(),
            cookie: cookie.expose().to_string(),
            tls: settings
                .cluster
                .tls_cert
                .clone()
                .zip(settings.cluster.tls_key.clone())
                .zip(settings.cluster.tls_ca.clone())
                .map(|((cert, key), ca)| TlsFiles { cert, key, ca }),
            limits: cluster_limits(&settings.cluster),
        },
    )
    .await?;
    let nodes = registry.nodes().await?;
    for node in &nodes {
        if let Err(e) = server.dial(&node.cluster_addr).await {
            tracing::warn!(node = %node.name, error.cause_chain = %folio_actors::supervisor::error_chain(&e), "dialing a node");
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
