//! Domain events: the seed's envelope, one `EventBus` trait with a JetStream and an
//! in-process implementation, and the outbox that feeds the bus.

pub mod in_process;
pub mod jetstream;
pub mod outbox;

use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use in_process::InProcessBus;
pub use jetstream::{JetStreamBus, JetStreamNames};
pub use outbox::{OutboxRelay, append_event, append_events};

pub mod types {
    pub const PROFILE_UPDATED: &str = "profile.updated";
    pub const PROJECT_CREATED: &str = "project.created";
    pub const PROJECT_UPDATED: &str = "project.updated";
    pub const PROJECT_DELETED: &str = "project.deleted";
    pub const MEDIA_UPLOADED: &str = "media.uploaded";
    pub const MEDIA_DELETED: &str = "media.deleted";
}

/// `{event_type, data, timestamp}` as the seed sends it, plus `event_id` (dedup and
/// tracing) and, for project events, `version` (ordering).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub event_id: Uuid,
    pub event_type: String,
    pub data: serde_json::Value,
    /// RFC 3339, UTC, `Z` suffix.
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl EventEnvelope {
    pub fn new(event_type: &str, data: serde_json::Value, version: Option<i64>) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.to_string(),
            data,
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            version,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    #[error("event bus refused: {0}")]
    Rejected(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The bus already had this event id (a republish after a lost ack).
    pub duplicate: bool,
}

/// Resolves once the bus holds the event durably.
pub type PendingAck = BoxFuture<'static, Result<Published, BusError>>;

/// A durable consumer: every node that subscribes with the same `durable` name shares
/// one queue, so each event goes to one of them.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub durable: String,
    /// Subject filters such as `project.>` or `media.uploaded`.
    pub subjects: Vec<String>,
    /// Unacknowledged deliveries come back after this long.
    pub ack_wait: Duration,
    /// Deliveries before the bus gives up on an event (`-1`: never).
    pub max_deliver: i64,
}

#[async_trait::async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Sends the event (events sent by one caller keep their order) and returns the
    /// acknowledgement to wait for.
    async fn publish(&self, event: &EventEnvelope) -> Result<PendingAck, BusError>;
    async fn subscribe(&self, spec: ConsumerSpec) -> Result<Box<dyn Subscription>, BusError>;
    async fn ping(&self) -> Result<(), BusError>;
    fn name(&self) -> &'static str;
    /// What a durable consumer has not yet settled, summed over the streams holding
    /// `subjects`; `None` when the bus keeps no such record (the in-process bus, whose
    /// backlog is the outbox itself).
    async fn consumer_backlog(
        &self,
        _durable: &str,
        _subjects: &[&str],
    ) -> Result<Option<crate::jobs::ConsumerBacklog>, BusError> {
        Ok(None)
    }
    /// For tools and tests that need the concrete bus (e.g. to read a stream).
    fn as_any(&self) -> &dyn std::any::Any;
}

#[async_trait::async_trait]
pub trait Subscription: Send {
    /// The next delivery; `None` when the subscription ended.
    async fn next(&mut self) -> Option<Delivery>;
}

/// One delivery of one event. Settle it with exactly one of ack / nak / term; a
/// delivery dropped unsettled comes back after the consumer's `ack_wait`.
pub struct Delivery {
    pub event: EventEnvelope,
    /// 1 for the first delivery.
    pub attempt: u32,
    handle: Box<dyn DeliveryHandle>,
}

impl Delivery {
    pub fn new(event: EventEnvelope, attempt: u32, handle: Box<dyn DeliveryHandle>) -> Self {
        Self { event, attempt, handle }
    }

    pub async fn ack(self) -> Result<(), BusError> {
        self.handle.ack().await
    }

    /// Deliver again after `delay`.
    pub async fn nak(self, delay: Duration) -> Result<(), BusError> {
        self.handle.nak(delay).await
    }

    /// Still working: postpone redelivery.
    pub async fn in_progress(&self) -> Result<(), BusError> {
        self.handle.in_progress().await
    }

    /// Never deliver again.
    pub async fn term(self) -> Result<(), BusError> {
        self.handle.term().await
    }
}

#[async_trait::async_trait]
pub trait DeliveryHandle: Send + Sync {
    async fn ack(&self) -> Result<(), BusError>;
    async fn nak(&self, delay: Duration) -> Result<(), BusError>;
    async fn in_progress(&self) -> Result<(), BusError>;
    async fn term(&self) -> Result<(), BusError>;
}

/// NATS-style matching: `*` is one token, a final `>` is one or more.
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut filter_tokens = filter.split('.');
    let mut subject_tokens = subject.split('.');
    loop {
        match (filter_tokens.next(), subject_tokens.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(f), Some(s)) if f == s => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert!(subject_matches("project.>", "project.created"));
        assert!(subject_matches("project.*", "project.deleted"));
        assert!(subject_matches("media.uploaded", "media.uploaded"));
        assert!(!subject_matches("media.uploaded", "media.deleted"));
        assert!(!subject_matches("project.>", "project"));
        assert!(!subject_matches("project.>", "profile.updated"));
    }

    #[test]
    fn envelope_shape() {
        let e = EventEnvelope::new(types::PROJECT_DELETED, serde_json::json!({"project_id": "x"}), Some(3));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event_type"], "project.deleted");
        assert_eq!(v["version"], 3);
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        let e = EventEnvelope::new(types::PROFILE_UPDATED, serde_json::json!({}), None);
        assert!(serde_json::to_value(&e).unwrap().get("version").is_none());
    }
}
