//! The media domain's consumer of `project.deleted`: a deleted project's images go with
//! it (original, thumbnail and every rendition, then the row), each through the media
//! domain's own delete path, so nothing of a project its owner removed stays stored or
//! served. The project domain never touches media rows; it only publishes the event.
//!
//! The event is acknowledged after the last file is gone. A failure comes back with
//! backoff, and a node killed halfway leaves the rest to the redelivery, which finds only
//! what is still there. Every node runs this loop on one shared durable consumer.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use ractor::ActorRef;

use super::MediaClient;
use crate::{
    errors::error_chain,
    events::{ConsumerSpec, Delivery, DomainEvent, EventBus, EventObserver, EventType, retry_delay},
    supervised_loop::{LoopActor, LoopBody, LoopError, LoopScope, settle_each},
    supervisor::{SupervisorError, SupervisorMsg},
};

pub const DURABLE: &str = "project-media-cleanup";
/// The loop's name under the node supervisor (and in `folio_actor_restarts_total`).
pub const ACTOR: &str = "project-media-cleanup";

const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(60);

pub struct ProjectMediaCleanup {
    pub media: MediaClient,
    pub bus: Arc<dyn EventBus>,
    pub events: Option<Arc<dyn EventObserver>>,
}

impl ProjectMediaCleanup {
    fn consumer(&self) -> ConsumerSpec {
        ConsumerSpec {
            durable: DURABLE.to_string(),
            subjects: vec![EventType::ProjectDeleted.as_str().to_string()],
            // A project with many images takes a while; progress is reported.
            ack_wait: Duration::from_secs(60),
            max_deliver: -1,
        }
    }

    async fn settle(&self, delivery: Delivery) {
        let DomainEvent::ProjectDeleted(deleted) = &delivery.event.event else {
            // The subscription asks for project.deleted only.
            let _ = delivery.ack().await;
            return;
        };
        let project_id = deleted.project_id;
        let _ = delivery.in_progress().await;
        match self.media.delete_all_in_project(project_id).await {
            Ok(files) => {
                if files > 0 {
                    tracing::info!(%project_id, files, "deleted the images of a deleted project");
                }
                if let Err(e) = delivery.ack().await {
                    // It comes back and finds nothing left to remove.
                    tracing::warn!(%project_id, error = %e, "acknowledging a finished project cleanup");
                }
            }
            Err(e) => {
                tracing::warn!(
                    %project_id,
                    attempt = delivery.attempt,
                    error.cause_chain = %error_chain(&e),
                    "deleting the images of a deleted project failed; retrying"
                );
                let delay = retry_delay(delivery.attempt, FIRST_RETRY, LAST_RETRY);
                let _ = delivery.nak(delay).await;
            }
        }
    }
}

impl LoopBody for ProjectMediaCleanup {
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

pub async fn start(
    supervisor: &ActorRef<SupervisorMsg>,
    cleanup: Arc<ProjectMediaCleanup>,
) -> Result<(), SupervisorError> {
    LoopActor::start(supervisor, ACTOR, cleanup).await
}
