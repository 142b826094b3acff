//! Builds a node from settings: database, migrations, actors under the node supervisor,
//! and the HTTP edge. Tests start nodes the same way, on port 0.

use std::{net::SocketAddr, path::Path, time::Duration};

use folio_actors::{
    NodeSupervisor,
    blocking::BlockingPool,
    events::{EventBus, InProcessBus, JetStreamBus, JetStreamNames, OutboxRelay, outbox::OutboxSignal},
    profile::{ProfileClient, ProfileContext},
    project::{ProjectClient, ProjectContext},
    session::{Argon2Cost, SessionClient, SessionConfig, TokenKeys},
    supervisor::SupervisorMsg,
};
use std::sync::Arc;
use folio_http::{EdgeState, Metrics, Readiness, ReadinessCheck};
use folio_migration::{Migrator, MigratorTrait};
use futures::future::BoxFuture;
use poem::{
    Server,
    listener::{Acceptor, Listener, TcpListener},
};
use ractor::ActorRef;
use rand::RngCore as _;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::configuration::Settings;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("data dir {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("JWT secret: {0}")]
    Secret(String),
    #[error("starting actors: {0}")]
    Actors(String),
    #[error("binding {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("event bus: {0}")]
    Bus(#[from] folio_actors::events::BusError),
}

/// JetStream when `nats_url` is set, otherwise the in-process bus.
pub async fn event_bus(settings: &Settings) -> Result<Arc<dyn EventBus>, NodeError> {
    Ok(match &settings.nats_url {
        Some(url) => Arc::new(
            JetStreamBus::connect(
                url,
                JetStreamNames {
                    stream_prefix: settings.nats_stream_prefix.clone(),
                    subject_prefix: settings.nats_subject_prefix.clone(),
                },
                Duration::from_secs(settings.nats_duplicate_window_secs),
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

    fn probe(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.0.ping().await.map_err(|e| e.to_string()) })
    }
}

pub async fn connect_database(settings: &Settings) -> Result<DatabaseConnection, NodeError> {
    let url = settings.database_url();
    let sqlite = url.starts_with("sqlite:");
    if sqlite && settings.database_url.is_none() {
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| NodeError::DataDir {
            path: settings.data_dir.display().to_string(),
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
        options.max_connections(settings.database_max_connections);
    }
    Ok(Database::connect(options).await?)
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), NodeError> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// Outside embedded mode the secret comes from settings (startup refuses to go on
/// without one); an embedded node makes a random one on first start and keeps it in
/// the data dir, readable only by its owner.
pub fn jwt_secret(settings: &Settings) -> Result<Vec<u8>, NodeError> {
    if let Some(secret) = &settings.jwt_secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    if !settings.is_embedded() {
        return Err(NodeError::Secret("FOLIO_JWT_SECRET is required outside embedded mode".into()));
    }
    let path = settings.data_dir.join("jwt_secret");
    let io = |source: std::io::Error| NodeError::DataDir {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => hex::decode(text.trim()).map_err(|e| NodeError::Secret(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&settings.data_dir).map_err(io)?;
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

    fn probe(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.0.ping().await.map_err(|e| e.to_string()) })
    }
}

/// A running node. Dropping it does not stop it; call [`Node::shutdown`].
pub struct Node {
    pub addr: SocketAddr,
    pub db: DatabaseConnection,
    pub session: SessionClient,
    pub profiles: ProfileClient,
    pub projects: ProjectClient,
    pub bus: Arc<dyn EventBus>,
    pub supervisor: ActorRef<SupervisorMsg>,
    relay: Option<OutboxRelay>,
    stop_server: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl Node {
    pub async fn start(settings: &Settings) -> Result<Node, NodeError> {
        let db = connect_database(settings).await?;
        migrate(&db).await?;
        Self::start_with_database(settings, db).await
    }

    pub async fn start_with_database(settings: &Settings, db: DatabaseConnection) -> Result<Node, NodeError> {
        let keys = TokenKeys::new(
            &jwt_secret(settings)?,
            &settings.jwt_issuer,
            &settings.jwt_audience,
            settings.access_token_ttl(),
        )
        .map_err(NodeError::Secret)?;
        let supervisor = NodeSupervisor::start().await.map_err(NodeError::Actors)?;
        let hashing = BlockingPool::new(settings.hash_concurrency.unwrap_or_else(BlockingPool::default_size));
        let session = SessionClient::start(
            &supervisor,
            db.clone(),
            keys,
            Argon2Cost {
                memory_kib: settings.argon2_memory_kib,
                iterations: settings.argon2_iterations,
                parallelism: settings.argon2_parallelism,
            },
            hashing,
            SessionConfig {
                refresh_ttl: Duration::from_secs(settings.refresh_token_ttl_secs),
                rotate_refresh_tokens: settings.refresh_token_rotation,
                admin_emails: settings.admin_emails.iter().map(|e| e.trim().to_lowercase()).collect(),
                max_failed_logins: settings.login_max_failures,
                lockout: Duration::from_secs(settings.login_lockout_secs),
                workers: settings.session_workers,
            },
        )
        .await
        .map_err(NodeError::Actors)?;
        let outbox = OutboxSignal::default();
        let profiles = ProfileClient::start(
            &supervisor,
            ProfileContext { db: db.clone(), outbox: outbox.clone() },
            settings.domain_workers,
        )
        .await
        .map_err(NodeError::Actors)?;
        let projects = ProjectClient::start(
            &supervisor,
            ProjectContext { db: db.clone(), outbox: outbox.clone() },
            settings.domain_workers,
        )
        .await
        .map_err(NodeError::Actors)?;
        let bus = event_bus(settings).await?;
        // Consumers subscribe before the relay starts, so the in-process bus has every
        // subscriber in place before the first event goes out.
        let relay = OutboxRelay::spawn(db.clone(), bus.clone(), outbox);

        let state = EdgeState {
            session: session.clone(),
            profiles: profiles.clone(),
            projects: projects.clone(),
            readiness: Readiness::default()
                .with(DatabaseCheck(db.clone()))
                .with(BusCheck(bus.clone())),
            metrics: Metrics::new()?,
            json_body_limit: settings.json_body_limit,
        };
        let app = folio_http::build_app(state);
        let acceptor = TcpListener::bind(settings.addr)
            .into_acceptor()
            .await
            .map_err(|source| NodeError::Bind {
                addr: settings.addr,
                source,
            })?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .unwrap_or(settings.addr);
        let (stop_server, stopped) = oneshot::channel::<()>();
        let grace = Duration::from_secs(settings.shutdown_grace_secs);
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
        tracing::info!(%addr, embedded = settings.is_embedded(), "folio node listening");
        Ok(Node {
            addr,
            db,
            session,
            profiles,
            projects,
            bus,
            supervisor,
            relay: Some(relay),
            stop_server: Some(stop_server),
            server: Some(server),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets in-flight requests finish (up to the grace
    /// period), then stops the actors and closes the database.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop_server.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "HTTP server stopped with an error"),
                Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
            }
        }
        if let Some(relay) = self.relay.take() {
            relay.shutdown().await;
        }
        let _ = self
            .supervisor
            .stop_children_and_wait(None, Some(Duration::from_secs(10)))
            .await;
        self.supervisor.stop(None);
        if let Err(e) = self.db.clone().close().await {
            tracing::warn!(error = %e, "closing the database");
        }
        tracing::info!("node stopped");
    }

}
