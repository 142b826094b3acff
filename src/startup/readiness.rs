//! What `/ready` checks (the database, the bus, the blob store, the supervised actors),
//! and the observers that turn actor starts, restarts and malformed deliveries into metrics.

use folio_actors::{
    events::{EventBus, EventObserver},
    supervisor::{NodeHealth, SupervisionObserver},
};
use folio_http::{Metrics, ProbeError, ReadinessCheck};
use folio_media::SharedBlobStore;
use futures::future::BoxFuture;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

use super::NodeFailure;

pub(super) struct BusCheck(pub(super) Arc<dyn EventBus>);

impl ReadinessCheck for BusCheck {
    fn name(&self) -> &str {
        "event_bus"
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ProbeError>> {
        Box::pin(async move { Ok(self.0.ping().await?) })
    }
}

pub(super) struct DatabaseCheck(pub(super) DatabaseConnection);

impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &str {
        "database"
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ProbeError>> {
        Box::pin(async move { Ok(self.0.ping().await?) })
    }
}

pub(super) struct BlobCheck(pub(super) SharedBlobStore);

impl ReadinessCheck for BlobCheck {
    fn name(&self) -> &str {
        "blob_store"
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), ProbeError>> {
        Box::pin(async move { Ok(self.0.ping().await?) })
    }
}

/// Actor starts and restarts, as metrics.
pub(super) struct ActorMetrics(pub(super) Metrics);

impl EventObserver for ActorMetrics {
    fn malformed(&self, event_type: &str) {
        self.0.event_malformed(event_type);
    }
}

/// `/ready` fails, naming the actor, once the supervisor has given up on one.
pub(super) struct SupervisionCheck(pub(super) NodeHealth);

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

impl SupervisionObserver for ActorMetrics {
    fn started(&self, child: &str) {
        self.0.actor_started(child);
    }

    fn restarted(&self, child: &str) {
        self.0.actor_restarted(child);
    }
}
