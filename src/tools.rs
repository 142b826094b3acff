//! The domains a command-line tool talks to (`folio reindex`, `jobs`, `media`, `admin`,
//! `import`): the same actors and clients as a node's edge, under a supervisor of the
//! tool's own, on the node's database. What they change is committed with its events in
//! the outbox; a running node's relay publishes them (an embedded node does so when it
//! next starts).

use folio_actors::{
    NodeSupervisor, events::outbox::OutboxSignal, media::MediaClient, profile::ProfileClient, project::ProjectClient,
    session::SessionClient, supervisor::SupervisorMsg,
};
use ractor::ActorRef;
use sea_orm::DatabaseConnection;
use std::time::Duration;

use crate::{
    Settings,
    startup::{self, DomainStarter, NodeError},
};

pub struct Tools {
    pub db: DatabaseConnection,
    pub session: SessionClient,
    pub profiles: ProfileClient,
    pub projects: ProjectClient,
    supervisor: ActorRef<SupervisorMsg>,
    reads: DatabaseConnection,
    settings: Settings,
}

impl Tools {
    /// Connects to the node's database (migrating it first) and starts the session,
    /// profile and project domains.
    pub async fn start(settings: &Settings) -> Result<Self, NodeError> {
        let db = startup::connect_database(settings).await?;
        startup::migrate(&db).await?;
        let reads = startup::connect_read_pool(settings, &db).await?;
        let supervisor = NodeSupervisor::start().await?;
        let starter = starter(settings, &supervisor, &db, &reads);
        let session = starter.session(&startup::jwt_secret(settings)?).await?;
        let profiles = starter.profiles().await?;
        let projects = starter.projects().await?;
        Ok(Self {
            db,
            session,
            profiles,
            projects,
            supervisor,
            reads,
            settings: settings.clone(),
        })
    }

    /// Starts the media domain, on the node's blob store (only the tools that touch
    /// images need it, so the others run while the blob store is away).
    pub async fn media(&self) -> Result<MediaClient, NodeError> {
        let blobs = startup::blob_store(&self.settings).await?;
        starter(&self.settings, &self.supervisor, &self.db, &self.reads)
            .media(blobs, self.settings.public_url(self.settings.http.addr), &self.projects)
            .await
    }

    /// Stops the domains' actors (their work is committed when a call returns).
    pub async fn stop(self) {
        let _ = self
            .supervisor
            .stop_children_and_wait(None, Some(Duration::from_secs(10)))
            .await;
        self.supervisor.stop(None);
    }
}

/// The domains' starter for a tool: the events they write wait in the outbox, and no
/// relay of the tool's own is woken (a node publishes them).
fn starter<'a>(
    settings: &'a Settings,
    supervisor: &'a ActorRef<SupervisorMsg>,
    db: &DatabaseConnection,
    reads: &DatabaseConnection,
) -> DomainStarter<'a> {
    DomainStarter {
        settings,
        supervisor,
        db: db.clone(),
        reads: reads.clone(),
        outbox: OutboxSignal::default(),
    }
}
