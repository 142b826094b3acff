//! The domain actors under the node supervisor: session, profile, project, media and the
//! export domain, the node's agent and (on an edge) its live-event hub. The command-line
//! tools start the same domains through [`DomainStarter`], so they go through the same
//! clients as the edge.

use std::{path::Path, sync::Arc};

use folio_actors::{
    NodeSupervisor,
    blocking::BlockingPool,
    cluster::{LiveHub, NodeAgentClient, NodeIdentity},
    events::{EventObserver, outbox::OutboxSignal},
    export::{ExportClient, ExportContext, ExportLinks},
    jobs::JobActivity,
    media::{MediaClient, MediaContext},
    profile::{ProfileClient, ProfileContext},
    project::{ProjectClient, ProjectContext, views::ProjectViews},
    session::{Argon2Cost, SessionClient, SessionConfig, TokenKeys},
    supervisor::{NodeHealth, RestartPolicy, SupervisorArgs, SupervisorMsg},
};
use folio_http::Metrics;
use folio_media::SharedBlobStore;
use ractor::ActorRef;
use rand::RngCore as _;
use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;

use super::{NodeError, readiness::ActorMetrics, store::Store};
use crate::configuration::Settings;

/// The domain actors under the node supervisor, and what they share.
pub(super) struct Domains {
    pub supervisor: ActorRef<SupervisorMsg>,
    /// Resolves when the supervisor itself stops.
    pub supervisor_stopped: JoinHandle<()>,
    pub health: NodeHealth,
    /// Where deliveries that are not events are counted.
    pub events: Arc<dyn EventObserver>,
    pub metrics: Metrics,
    pub activity: JobActivity,
    /// Wakes the outbox relay when a domain actor has written an event.
    pub outbox: OutboxSignal,
    pub session: SessionClient,
    pub profiles: ProfileClient,
    pub projects: ProjectClient,
    pub media: MediaClient,
    pub exports: ExportClient,
    /// Answers `Describe` for this node.
    pub agent: NodeAgentClient,
    /// The live-event hub of a node with the edge.
    pub live: Option<LiveHub>,
}

/// The session domain's settings.
pub fn session_config(settings: &Settings) -> SessionConfig {
    let auth = &settings.auth;
    SessionConfig {
        refresh_ttl: auth.refresh_token_ttl,
        rotate_refresh_tokens: auth.refresh_token_rotation,
        admin_emails: auth.admin_emails.iter().map(|e| e.trim().to_lowercase()).collect(),
        max_failed_logins: auth.login_max_failures,
        max_failed_logins_per_address: auth.login_max_failures_per_address,
        lockout: auth.login_lockout,
        hash_queue_limit: auth.hash_queue_limit,
        workers: auth.session_workers,
        account_hold: auth.account_hold,
    }
}

/// Outside embedded mode the secret comes from settings (startup refuses to go on
/// without one); an embedded node makes a random one on first start and keeps it in
/// the data dir, readable only by its owner.
pub fn jwt_secret(settings: &Settings) -> Result<Vec<u8>, NodeError> {
    if let Some(secret) = &settings.auth.jwt_secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    if !settings.is_embedded() {
        return Err(NodeError::SecretRequired);
    }
    let path = settings.node.data_dir.join("jwt_secret");
    let io = |source: std::io::Error| NodeError::DataDir {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => hex::decode(text.trim()).map_err(|source| NodeError::SecretFile {
            path: path.clone(),
            source,
        }),
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

/// Starts domain actors under one supervisor, from the settings: what a node and the
/// command-line tools share. Events the domains write go to the outbox and wake
/// `outbox`; a node's relay publishes them (a tool leaves them for the next node that runs).
pub struct DomainStarter<'a> {
    pub settings: &'a Settings,
    pub supervisor: &'a ActorRef<SupervisorMsg>,
    pub db: DatabaseConnection,
    /// For reads outside a transaction (a pool of its own on SQLite).
    pub reads: DatabaseConnection,
    pub outbox: OutboxSignal,
}

impl DomainStarter<'_> {
    pub async fn session(&self, secret: &[u8]) -> Result<SessionClient, NodeError> {
        let auth = &self.settings.auth;
        let keys = TokenKeys::new(secret, &auth.jwt_issuer, &auth.jwt_audience, auth.access_token_ttl)?;
        let hashing = BlockingPool::new(auth.hash_concurrency.unwrap_or_else(BlockingPool::default_size));
        Ok(SessionClient::start(
            self.supervisor,
            self.db.clone(),
            keys,
            Argon2Cost {
                memory_kib: auth.argon2_memory_kib,
                iterations: auth.argon2_iterations,
                parallelism: auth.argon2_parallelism,
            },
            hashing,
            session_config(self.settings),
            self.outbox.clone(),
        )
        .await?)
    }

    pub async fn profiles(&self) -> Result<ProfileClient, NodeError> {
        Ok(ProfileClient::start(
            self.supervisor,
            ProfileContext {
                db: self.db.clone(),
                reads: self.reads.clone(),
                outbox: self.outbox.clone(),
            },
            self.settings.node.domain_workers,
        )
        .await?)
    }

    pub async fn projects(&self) -> Result<ProjectClient, NodeError> {
        Ok(ProjectClient::start(
            self.supervisor,
            ProjectContext {
                db: self.db.clone(),
                reads: self.reads.clone(),
                outbox: self.outbox.clone(),
                views: Arc::new(ProjectViews::new(self.settings.node.project_view_limits())),
            },
            self.settings.node.domain_workers,
        )
        .await?)
    }

    /// The media domain; it tells `projects` when a gallery changes.
    pub async fn media(
        &self,
        blobs: SharedBlobStore,
        public_url: String,
        projects: &ProjectClient,
    ) -> Result<MediaClient, NodeError> {
        Ok(MediaClient::start(
            self.supervisor,
            MediaContext {
                db: self.db.clone(),
                blobs,
                outbox: self.outbox.clone(),
                public_url,
                projects: Some(Arc::new(projects.clone())),
            },
            self.settings.node.domain_workers,
        )
        .await?)
    }
}

/// The node supervisor, and under it the session, profile, project and media actors.
pub(super) async fn domains(
    settings: &Settings,
    store: &Store,
    public_url: String,
    identity: NodeIdentity,
) -> Result<Domains, NodeError> {
    let secret = jwt_secret(settings)?;
    let metrics = Metrics::new()?;
    let health = NodeHealth::default();
    folio_actors::faults::arm_from_env();
    let (supervisor, supervisor_stopped) = NodeSupervisor::start_with(SupervisorArgs {
        observer: Some(Arc::new(ActorMetrics(metrics.clone()))),
        health: health.clone(),
        policy: RestartPolicy {
            max_restarts: settings.node.actor_max_restarts,
            window: settings.node.actor_restart_window,
            ..RestartPolicy::default()
        },
    })
    .await?;
    let events: Arc<dyn EventObserver> = Arc::new(ActorMetrics(metrics.clone()));
    let activity = JobActivity::new(Arc::new(metrics.clone()));
    let outbox = OutboxSignal::default();
    let starter = DomainStarter {
        settings,
        supervisor: &supervisor,
        db: store.db.clone(),
        reads: store.reads.clone(),
        outbox: outbox.clone(),
    };
    let session = starter.session(&secret).await?;
    let profiles = starter.profiles().await?;
    let projects = starter.projects().await?;
    if settings.node.roles.http {
        // Projects from before slugs get theirs; their pages answer by id meanwhile.
        // Every edge may run it at once: a slug is only written where none is yet.
        let projects = projects.clone();
        tokio::spawn(async move {
            match projects.backfill_slugs().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(projects = n, "page slugs made for projects from before slugs"),
                Err(e) => {
                    tracing::warn!(error.cause_chain = %folio_actors::errors::error_chain(&e), "making page slugs failed; pages of those projects answer by id")
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
    let media = starter.media(store.blobs.clone(), public_url, &projects).await?;
    let agent = NodeAgentClient::start(&supervisor, identity, health.clone()).await?;
    let live = if settings.node.roles.http {
        Some(
            LiveHub::start(
                &supervisor,
                settings.http.events_max_streams_per_user,
                settings.http.events_keep_alive,
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
