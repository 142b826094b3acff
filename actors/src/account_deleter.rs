//! The consumer of `user.deleted`: it asks each domain that holds something of the
//! user to remove it, in an order that never leaves a reachable dangling part:
//!
//! 0. exports: every archive of the user (and the export rows);
//! 1. media: every file through the media domain's own delete path (row, `media.deleted`,
//!    and every blob stored for the file);
//! 2. projects: each through the project domain's delete, whose `project.deleted` takes
//!    it out of the search index and the cached views of every node;
//! 3. the profile;
//! 4. the session domain's rows and the account itself, which marks the deletion done.
//!
//! Every step removes what is still there, so a delivery that comes back (a node killed
//! halfway, a failure retried) finishes the job. The event is acknowledged only after
//! the last step; until then it is redelivered with backoff, and every failure is
//! recorded on the deletion for the operator console.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use ractor::ActorRef;
use uuid::Uuid;

use crate::{
    errors::error_chain,
    events::{ConsumerSpec, Delivery, DomainEvent, EventBus, EventObserver, EventType, retry_delay},
    export::{ExportClient, ExportError},
    faults::{self, FaultPoint},
    media::{MediaClient, MediaError},
    profile::{ProfileClient, ProfileError},
    project::{ProjectClient, ProjectError},
    session::{SessionClient, SessionError},
    supervised_loop::{LoopActor, LoopBody, LoopError, LoopScope, settle_each},
    supervisor::{SupervisorError, SupervisorMsg},
};

pub const DURABLE: &str = "account-deleter";
/// The loop's name under the node supervisor (and in `folio_actor_restarts_total`).
pub const ACTOR: &str = "account-deleter";

/// A step that fails waits this long before the event comes back, doubling per attempt.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(60);

pub fn subjects() -> Vec<String> {
    vec![EventType::UserDeleted.as_str().to_string()]
}

/// The step of a deletion that failed, with its cause.
#[derive(Debug, thiserror::Error)]
pub enum DeletionError {
    #[error("removing the user's exports")]
    Exports(#[source] ExportError),
    #[error("removing the user's media")]
    Media(#[source] MediaError),
    #[error("removing the user's projects")]
    Projects(#[source] ProjectError),
    #[error("removing the user's profile")]
    Profile(#[source] ProfileError),
    #[error("removing the account")]
    Account(#[source] SessionError),
}

pub struct AccountDeleter {
    pub session: SessionClient,
    pub profiles: ProfileClient,
    pub projects: ProjectClient,
    pub media: MediaClient,
    pub exports: ExportClient,
    pub bus: Arc<dyn EventBus>,
    pub events: Option<Arc<dyn EventObserver>>,
}

impl AccountDeleter {
    fn consumer(&self) -> ConsumerSpec {
        ConsumerSpec {
            durable: DURABLE.to_string(),
            subjects: subjects(),
            // Deleting thousands of files can take a while; progress is reported.
            ack_wait: Duration::from_secs(60),
            max_deliver: -1,
        }
    }

    /// Removes everything of the user that is still there.
    pub async fn delete_everything_of(&self, user_id: Uuid) -> Result<(), DeletionError> {
        let exports = self
            .exports
            .delete_all_of(user_id)
            .await
            .map_err(DeletionError::Exports)?;
        let files = self.media.delete_all_of(user_id).await.map_err(DeletionError::Media)?;
        // Between two steps: where a test stops a node halfway.
        faults::hit(FaultPoint::AccountDeletion);
        let projects = self
            .projects
            .delete_all_of(user_id)
            .await
            .map_err(DeletionError::Projects)?;
        self.profiles.delete_of(user_id).await.map_err(DeletionError::Profile)?;
        self.session
            .finish_deletion(user_id)
            .await
            .map_err(DeletionError::Account)?;
        tracing::info!(%user_id, exports, files, projects, "account deleted");
        Ok(())
    }

    async fn settle(&self, delivery: Delivery) {
        let DomainEvent::UserDeleted(deleted) = &delivery.event.event else {
            // The subscription asks for user.deleted only.
            let _ = delivery.ack().await;
            return;
        };
        let user_id = deleted.user_id;
        let _ = delivery.in_progress().await;
        match self.delete_everything_of(user_id).await {
            Ok(()) => {
                if let Err(e) = delivery.ack().await {
                    // It comes back and finds nothing left to remove.
                    tracing::warn!(%user_id, error = %e, "acknowledging a finished account deletion");
                }
            }
            Err(e) => {
                let chain = error_chain(&e);
                tracing::warn!(%user_id, attempt = delivery.attempt, error.cause_chain = %chain, "account deletion step failed; retrying");
                if let Err(record) = self.session.deletion_failed(user_id, &chain).await {
                    tracing::warn!(%user_id, error = %record, "recording a failed account deletion");
                }
                let delay = retry_delay(delivery.attempt, FIRST_RETRY, LAST_RETRY);
                let _ = delivery.nak(delay).await;
            }
        }
    }
}

impl LoopBody for AccountDeleter {
    fn run(self: Arc<Self>, scope: LoopScope) -> BoxFuture<'static, Result<(), LoopError>> {
        Box::pin(async move {
            let spec = self.consumer();
            settle_each(self.bus.as_ref(), &spec, scope, self.events.as_deref(), |delivery| {
                self.settle(delivery)
            })
            .await
        })
    }
}

pub async fn start(supervisor: &ActorRef<SupervisorMsg>, deleter: Arc<AccountDeleter>) -> Result<(), SupervisorError> {
    LoopActor::start(supervisor, ACTOR, deleter).await
}
