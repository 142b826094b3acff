//! The actor test kit: domain actors started without HTTP, on an in-memory SQLite
//! database, the in-process bus, an in-memory blob store ([`MemoryBlobs`]) and an
//! in-memory search index ([`RecordingSearch`]), under a supervisor of their own.
//!
//! A [`Kit`] starts empty (the ports and the supervisor); a test starts the actors it
//! needs, each with the product's own entry point (`SessionClient::start`,
//! `thumbnailer::start`, …, the ones `src/startup.rs` calls), and gets their typed
//! clients. [`Kit::tree`] starts all of them in the node's order. What the actors do
//! is seen through the ports (the blob store, the database through the domains'
//! clients, the search index) and the probes ([`EventProbe`], [`GroupProbe`],
//! [`SupervisionProbe`]); faults are injected with [`inject`]. See `docs/testing.md`.
//!
//! Time: start the kit in real time, and pause tokio's clock ([`tokio::time::pause`])
//! around what waits on timers without touching the database: a supervisor's backoff,
//! an ack wait. While paused the clock jumps to the next timer whenever the runtime is
//! idle, also while a query runs on SQLite's own thread, where a timeout armed around it
//! would fire early; [`tokio::time::resume`] before the actors go back to the database.

pub mod blobs;
pub mod bus;
pub mod fixtures;
pub mod probes;
pub mod search;

use std::{sync::Arc, time::Duration};

use folio_actors::{
    account_deleter::{self, AccountDeleter},
    blocking::BlockingPool,
    cluster::{LiveHub, NodeAgentClient, NodeIdentity},
    events::{DomainEvent, EventBus, EventEnvelope, append_event, outbox::OutboxSignal},
    export::{
        ExportClient, ExportConfig, ExportContext, ExportLinks,
        exporter::{self, AccountExporter},
        sweeper::ExportSweeper,
    },
    faults::{self, FaultPoint},
    indexer::{self, IndexerContext},
    jobs::JobActivity,
    media::{
        MediaClient, MediaContext,
        project_cleanup::{self, ProjectMediaCleanup},
    },
    profile::{ProfileClient, ProfileContext},
    project::{
        ProjectClient, ProjectContext,
        views::{ProjectViews, ViewLimits},
    },
    relay::OutboxRelay,
    session::{Argon2Cost, SessionClient, SessionConfig, TokenKeys},
    supervisor::{NodeHealth, RestartPolicy, SupervisorArgs, SupervisorMsg},
    thumbnailer::{self, ThumbnailerConfig, ThumbnailerContext},
};
use folio_media::ThumbnailSpec;
use folio_migration::{Migrator, MigratorTrait};
use folio_search::SearchEngine;
use ractor::ActorRef;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

pub use blobs::{BlobOp, FaultKind, MemoryBlobs};
pub use bus::WatchedBus;
pub use probes::{EventProbe, GroupProbe, Supervised, SupervisionProbe};
pub use search::{RecordingSearch, SearchFault, SearchWrite};

/// The secret the kit signs tokens with (a test can forge tokens with it).
pub const JWT_SECRET: &[u8] = b"actor-kit-secret-actor-kit-secret-0123456789";
/// Where the media URLs the kit's actors hand out point.
pub const PUBLIC_URL: &str = "http://folio.test";

/// How the kit's actors are set up. The defaults are the node's (`src/configuration.rs`)
/// except where a test would wait for nothing: cheap password hashing, few workers,
/// thumbnail retries 1 ms apart, a one-second ack wait for thumbnail jobs.
#[derive(Debug, Clone)]
pub struct KitConfig {
    pub policy: RestartPolicy,
    pub session: SessionConfig,
    pub access_ttl: Duration,
    pub argon2: Argon2Cost,
    /// Workers per keyed pool (session workers are set in `session`).
    pub workers: usize,
    pub views: ViewLimits,
    pub thumbnailer: ThumbnailerConfig,
    /// The indexer's longest pause between retries of one event.
    pub indexer_max_retry_delay: Duration,
    pub export: ExportConfig,
}

impl Default for KitConfig {
    fn default() -> Self {
        Self {
            policy: RestartPolicy::default(),
            session: SessionConfig {
                refresh_ttl: Duration::from_secs(30 * 24 * 3600),
                rotate_refresh_tokens: true,
                admin_emails: Vec::new(),
                max_failed_logins: 5,
                max_failed_logins_per_address: 50,
                lockout: Duration::from_secs(15 * 60),
                hash_queue_limit: 64,
                workers: 2,
                account_hold: Duration::from_secs(30 * 24 * 3600),
            },
            access_ttl: Duration::from_secs(15 * 60),
            // The production cost is the HTTP tests' business; here hashing is instant.
            argon2: Argon2Cost {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            workers: 2,
            views: ViewLimits {
                max_bytes: 32 * 1024 * 1024,
                ttl: Duration::from_secs(1),
            },
            thumbnailer: ThumbnailerConfig {
                max_attempts: 5,
                backoff_base: Duration::from_millis(1),
                ack_wait: Duration::from_secs(1),
                concurrency: 2,
                spec: ThumbnailSpec {
                    // The pure-Rust decoder: the same on every machine.
                    system_libjpeg_turbo: false,
                    ..ThumbnailSpec::default()
                },
            },
            indexer_max_retry_delay: Duration::from_millis(50),
            export: ExportConfig::default(),
        }
    }
}

/// The ports and the supervisor; actors are started on it one by one, or all at once.
pub struct Kit {
    pub config: KitConfig,
    pub db: DatabaseConnection,
    pub bus: Arc<dyn EventBus>,
    /// The same bus, with the consumers that subscribed to it.
    pub watched_bus: WatchedBus,
    pub blobs: MemoryBlobs,
    pub search: RecordingSearch,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub health: NodeHealth,
    pub supervision: SupervisionProbe,
    /// Wakes the relay after a commit; every domain the kit starts shares it.
    pub outbox: OutboxSignal,
    pub activity: JobActivity,
}

/// Every actor of a node but its edge and its cluster server (see [`Kit::tree`]).
pub struct Tree {
    pub session: SessionClient,
    pub profiles: ProfileClient,
    pub projects: ProjectClient,
    pub media: MediaClient,
    pub exports: ExportClient,
    pub agent: NodeAgentClient,
    pub live: LiveHub,
}

/// An in-memory SQLite database with the schema, on one connection that lives as long
/// as the pool: an in-memory database lives only as long as its connection. No timeout
/// or health check is armed around a query (see the module's note on paused time).
pub async fn memory_database() -> DatabaseConnection {
    let mut options = ConnectOptions::new("sqlite::memory:");
    options
        .sqlx_logging(false)
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(24 * 3600))
        .map_sqlx_sqlite_opts(|opts| opts.foreign_keys(true));
    let db = Database::connect(options).await.expect("an in-memory SQLite database");
    Migrator::up(&db, None).await.expect("migrating the in-memory database");
    db
}

impl Kit {
    /// The ports and the supervisor, with the default [`KitConfig`].
    pub async fn start() -> Kit {
        Self::start_with(KitConfig::default()).await
    }

    pub async fn start_with(config: KitConfig) -> Kit {
        let supervision = SupervisionProbe::default();
        let health = NodeHealth::default();
        let (supervisor, _) = folio_actors::NodeSupervisor::start_with(SupervisorArgs {
            observer: Some(Arc::new(supervision.clone())),
            health: health.clone(),
            policy: config.policy,
        })
        .await
        .expect("the kit's supervisor starts");
        let watched_bus = WatchedBus::new();
        Kit {
            config,
            db: memory_database().await,
            bus: Arc::new(watched_bus.clone()),
            watched_bus,
            blobs: MemoryBlobs::new(),
            search: RecordingSearch::new(),
            supervisor,
            health,
            supervision,
            outbox: OutboxSignal::default(),
            activity: JobActivity::default(),
        }
    }

    /// The session domain (its workers and the login throttle).
    pub async fn session(&self) -> SessionClient {
        let keys = TokenKeys::new(JWT_SECRET, "folio", "folio-api", self.config.access_ttl).expect("token keys");
        SessionClient::start(
            &self.supervisor,
            self.db.clone(),
            keys,
            self.config.argon2,
            BlockingPool::new(2),
            self.config.session.clone(),
            self.outbox.clone(),
        )
        .await
        .expect("the session domain starts")
    }

    pub async fn profiles(&self) -> ProfileClient {
        ProfileClient::start(
            &self.supervisor,
            ProfileContext {
                db: self.db.clone(),
                reads: self.db.clone(),
                outbox: self.outbox.clone(),
            },
            self.config.workers,
        )
        .await
        .expect("the profile domain starts")
    }

    /// The project domain, with its view keeper (in `folio.project-views`).
    pub async fn projects(&self) -> ProjectClient {
        ProjectClient::start(
            &self.supervisor,
            ProjectContext {
                db: self.db.clone(),
                reads: self.db.clone(),
                outbox: self.outbox.clone(),
                views: Arc::new(ProjectViews::new(self.config.views)),
            },
            self.config.workers,
        )
        .await
        .expect("the project domain starts")
    }

    /// The media domain; galleries follow in `projects`.
    pub async fn media(&self, projects: &ProjectClient) -> MediaClient {
        MediaClient::start(
            &self.supervisor,
            self.media_context(Some(projects.clone())),
            self.config.workers,
        )
        .await
        .expect("the media domain starts")
    }

    fn media_context(&self, projects: Option<ProjectClient>) -> MediaContext {
        MediaContext {
            db: self.db.clone(),
            blobs: Arc::new(self.blobs.clone()),
            outbox: self.outbox.clone(),
            public_url: PUBLIC_URL.to_string(),
            projects: projects.map(|p| Arc::new(p) as Arc<dyn folio_actors::media::GalleryFollower>),
        }
    }

    /// The export domain (a client over the database and the blob store; no actor).
    pub fn exports(&self) -> ExportClient {
        ExportClient::new(ExportContext {
            db: self.db.clone(),
            blobs: Arc::new(self.blobs.clone()),
            outbox: self.outbox.clone(),
            links: ExportLinks::new(JWT_SECRET),
            public_url: PUBLIC_URL.to_string(),
            config: self.config.export.clone(),
        })
    }

    /// The outbox relay: what the domains commit goes out on the bus.
    pub async fn relay(&self) {
        OutboxRelay::start(
            &self.supervisor,
            self.db.clone(),
            self.db.clone(),
            self.bus.clone(),
            self.outbox.clone(),
        )
        .await
        .expect("the outbox relay starts");
    }

    /// The thumbnail runner, consuming `media.uploaded`; it reports to the media domain
    /// through `media` and sets project thumbnails through `projects`.
    pub async fn thumbnailer(&self, media: &MediaClient, projects: &ProjectClient) {
        let config = self.config.thumbnailer.clone();
        let ctx = ThumbnailerContext::new(
            media.clone(),
            projects.clone(),
            self.bus.clone(),
            BlockingPool::new(config.concurrency),
            config,
        )
        .with_activity(self.activity.clone());
        thumbnailer::start(&self.supervisor, Arc::new(ctx))
            .await
            .expect("the thumbnailer starts");
        self.watched_bus.subscribed(thumbnailer::DURABLE).await;
    }

    /// The indexer, consuming project and profile events into [`Kit::search`].
    pub async fn indexer(&self, profiles: &ProfileClient) {
        let engine: Arc<dyn SearchEngine> = Arc::new(self.search.clone());
        let ctx = IndexerContext {
            db: self.db.clone(),
            engine,
            profiles: profiles.clone(),
            bus: self.bus.clone(),
            max_retry_delay: self.config.indexer_max_retry_delay,
            activity: self.activity.clone(),
            events: None,
        };
        indexer::start(&self.supervisor, Arc::new(ctx))
            .await
            .expect("the indexer starts");
        self.watched_bus.subscribed(indexer::DURABLE).await;
    }

    /// The live-event hub (in `folio.edge`).
    pub async fn live_hub(&self) -> LiveHub {
        LiveHub::start(&self.supervisor, 16, Duration::from_secs(15))
            .await
            .expect("the live-event hub starts")
    }

    /// The node agent (in `folio.node`), answering for a node named `name`.
    pub async fn agent(&self, name: &str) -> NodeAgentClient {
        let identity = NodeIdentity {
            name: name.to_string(),
            roles: vec!["http".into(), "thumbnailer".into(), "indexer".into()],
            version: "test".to_string(),
            started_at: chrono::Utc::now(),
            http_addr: None,
            cluster_addr: None,
        };
        NodeAgentClient::start(&self.supervisor, identity, self.health.clone())
            .await
            .expect("the node agent starts")
    }

    /// The whole supervised tree of a node with every role, in the order
    /// `src/startup.rs` starts it: the domains, the agent and the hub, then the
    /// consumers, and the relay last (consumers subscribe before the first event goes
    /// out). The edge, its upload sweeper and the cluster server are not started.
    pub async fn tree(&self) -> Tree {
        let session = self.session().await;
        let profiles = self.profiles().await;
        let projects = self.projects().await;
        let exports = self.exports();
        let media = self.media(&projects).await;
        let agent = self.agent("kit").await;
        let live = self.live_hub().await;
        self.thumbnailer(&media, &projects).await;
        self.indexer(&profiles).await;
        account_deleter::start(
            &self.supervisor,
            Arc::new(AccountDeleter {
                session: session.clone(),
                profiles: profiles.clone(),
                projects: projects.clone(),
                media: media.clone(),
                exports: exports.clone(),
                bus: self.bus.clone(),
                events: None,
            }),
        )
        .await
        .expect("the account deleter starts");
        exporter::start(
            &self.supervisor,
            Arc::new(AccountExporter {
                exports: exports.clone(),
                bus: self.bus.clone(),
                events: None,
            }),
        )
        .await
        .expect("the exporter starts");
        ExportSweeper {
            exports: exports.clone(),
        }
        .start(&self.supervisor)
        .await
        .expect("the export sweeper starts");
        project_cleanup::start(
            &self.supervisor,
            Arc::new(ProjectMediaCleanup {
                media: media.clone(),
                bus: self.bus.clone(),
                events: None,
            }),
        )
        .await
        .expect("the project media cleanup starts");
        for durable in [account_deleter::DURABLE, exporter::DURABLE, project_cleanup::DURABLE] {
            self.watched_bus.subscribed(durable).await;
        }
        self.relay().await;
        Tree {
            session,
            profiles,
            projects,
            media,
            exports,
            agent,
            live,
        }
    }

    /// Puts `event` on the bus, as the relay would (`version` for project events), and
    /// returns its envelope without waiting for the consumers.
    pub async fn publish(&self, event: DomainEvent, version: Option<i64>) -> EventEnvelope {
        let envelope = EventEnvelope::new(event, version);
        // The acknowledgement (every consumer settled it) is not waited for.
        let _ack = self
            .bus
            .publish(&envelope)
            .await
            .expect("the in-process bus takes the event");
        envelope
    }

    /// Commits `event` to the outbox, as a domain does with its change, and wakes the
    /// relay.
    pub async fn commit(&self, event: DomainEvent, version: Option<i64>) -> EventEnvelope {
        let envelope = append_event(&self.db, event, version)
            .await
            .expect("committing an event to the outbox");
        self.outbox.notify();
        envelope
    }

    /// Outbox rows not yet stamped as published.
    pub async fn unpublished(&self) -> u64 {
        use folio_entities::outbox_events;
        use sea_orm::ColumnTrait as _;
        outbox_events::Entity::find()
            .filter(outbox_events::Column::PublishedAt.is_null())
            .count(&self.db)
            .await
            .expect("counting the outbox")
    }

    /// The media row of `file_id` as the database holds it (thumbnail status, attempts,
    /// error), read past the media domain.
    pub async fn media_row(&self, file_id: uuid::Uuid) -> folio_entities::media_files::Model {
        folio_entities::media_files::Entity::find_by_id(file_id)
            .one(&self.db)
            .await
            .expect("reading the media row")
            .expect("the media row exists")
    }

    /// Stops every actor of the kit.
    pub async fn stop(self) {
        let _ = self
            .supervisor
            .stop_children_and_wait(None, Some(Duration::from_secs(5)))
            .await;
        self.supervisor.stop(None);
    }
}

/// A fault armed at `point` for the next `times` passes (`u32::MAX`: every pass),
/// disarmed when dropped. Fault points are per process (nextest runs each test in a
/// process of its own); under `cargo test` the guard also keeps the other tests of the
/// binary that inject faults, or hold [`without_faults`], from running at the same time.
pub struct FaultGuard {
    point: FaultPoint,
    _turn: FaultTurn,
}

/// A turn at the process's fault points: see [`without_faults`].
pub struct FaultTurn {
    _held: std::sync::MutexGuard<'static, ()>,
}

static FAULT_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds off [`inject`] in the other tests of the binary while kept: for a test whose
/// loop would take a fault meant for another test's, under `cargo test` (under nextest
/// it changes nothing).
pub fn without_faults() -> FaultTurn {
    FaultTurn {
        _held: FAULT_TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
    }
}

/// Arms `point` for `times` passes; see [`FaultGuard`].
pub fn inject(point: FaultPoint, times: u32) -> FaultGuard {
    let turn = without_faults();
    faults::arm(point, times);
    FaultGuard { point, _turn: turn }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        faults::disarm(self.point);
    }
}
