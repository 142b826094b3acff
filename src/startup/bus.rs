//! The event bus: JetStream on a cluster node, in-process on an embedded one.

use std::sync::Arc;

use folio_actors::events::{EventBus, InProcessBus, JetStreamBus, JetStreamNames};

use super::NodeError;
use crate::configuration::{BusBackend, Settings};

/// JetStream when `nats_url` is set, otherwise the in-process bus.
pub async fn event_bus(settings: &Settings) -> Result<Arc<dyn EventBus>, NodeError> {
    Ok(match &settings.bus.backend {
        BusBackend::JetStream(url) => Arc::new(
            JetStreamBus::connect(
                url,
                JetStreamNames {
                    stream_prefix: settings.bus.stream_prefix.clone(),
                    subject_prefix: settings.bus.subject_prefix.clone(),
                },
                settings.bus.duplicate_window,
            )
            .await?,
        ),
        BusBackend::InProcess => Arc::new(InProcessBus::new()),
    })
}
