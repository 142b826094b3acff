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
pub use outbox::{append_event, append_events};

/// Every event Folio produces, one variant per type (docs/contract.md §5). Producers build these and
/// consumers match on them; the serde attributes are the wire, so renaming a field
/// breaks the golden tests (tests/golden/events) instead of silently dropping events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "data")]
pub enum DomainEvent {
    #[serde(rename = "profile.updated")]
    ProfileUpdated(ProfileUpdated),
    #[serde(rename = "project.created")]
    ProjectCreated(ProjectChanged),
    #[serde(rename = "project.updated")]
    ProjectUpdated(ProjectChanged),
    #[serde(rename = "project.deleted")]
    ProjectDeleted(ProjectDeleted),
    #[serde(rename = "media.uploaded")]
    MediaUploaded(MediaUploaded),
    #[serde(rename = "media.deleted")]
    MediaDeleted(MediaDeleted),
    #[serde(rename = "user.deleted")]
    UserDeleted(UserDeleted),
    #[serde(rename = "user.export_requested")]
    UserExportRequested(UserExportRequested),
}

// Payload fields are declared in alphabetical order: that is the order the seed's
// envelopes (built as JSON maps) carry them in, so the bytes on the wire stay the same.
// Absent values are `null`, never left out.

/// `profile.updated`: `name` is the display name (null when the profile has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileUpdated {
    pub name: Option<String>,
    pub user_id: Uuid,
    pub username: String,
}

/// `project.created` and `project.updated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectChanged {
    pub description: String,
    pub project_id: Uuid,
    pub tags: Vec<String>,
    pub thumbnail_url: Option<String>,
    pub title: String,
    pub user_id: Uuid,
    pub username: String,
    /// Who sees the project (issue 20). Events written before visibility existed have
    /// none: every project was public then.
    #[serde(default)]
    pub visibility: crate::visibility::Visibility,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectDeleted {
    pub project_id: Uuid,
}

/// `media.uploaded`: the thumbnailer's job. A retry sends the same payload again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaUploaded {
    pub file_id: Uuid,
    pub file_url: String,
    pub mime_type: String,
    pub owner_id: Uuid,
    pub path: String,
    pub project_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaDeleted {
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub path: String,
    pub thumbnail_path: Option<String>,
}

/// `user.deleted`: the account holder asked for the account to go. Every domain that
/// holds something of the user removes it on this event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDeleted {
    pub user_id: Uuid,
    pub username: String,
}

/// `user.export_requested`: the account holder asked for an archive of their account.
/// The export domain builds it on whichever node takes the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserExportRequested {
    pub export_id: Uuid,
    pub user_id: Uuid,
}

/// The type of an event, without its payload: what subjects and metrics are named by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    ProfileUpdated,
    ProjectCreated,
    ProjectUpdated,
    ProjectDeleted,
    MediaUploaded,
    MediaDeleted,
    UserDeleted,
    UserExportRequested,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::ProfileUpdated,
        EventType::ProjectCreated,
        EventType::ProjectUpdated,
        EventType::ProjectDeleted,
        EventType::MediaUploaded,
        EventType::MediaDeleted,
        EventType::UserDeleted,
        EventType::UserExportRequested,
    ];

    /// The `event_type` on the wire, which is also the subject (after the deployment's prefix).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ProfileUpdated => "profile.updated",
            EventType::ProjectCreated => "project.created",
            EventType::ProjectUpdated => "project.updated",
            EventType::ProjectDeleted => "project.deleted",
            EventType::MediaUploaded => "media.uploaded",
            EventType::MediaDeleted => "media.deleted",
            EventType::UserDeleted => "user.deleted",
            EventType::UserExportRequested => "user.export_requested",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }

    pub fn family(self) -> EventFamily {
        match self {
            EventType::ProfileUpdated => EventFamily::Profile,
            EventType::ProjectCreated | EventType::ProjectUpdated | EventType::ProjectDeleted => EventFamily::Project,
            EventType::MediaUploaded | EventType::MediaDeleted => EventFamily::Media,
            EventType::UserDeleted | EventType::UserExportRequested => EventFamily::User,
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The domain an event belongs to; one JetStream stream each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventFamily {
    Profile,
    Project,
    Media,
    /// Account-wide events.
    User,
}

impl EventFamily {
    pub const ALL: [EventFamily; 4] = [
        EventFamily::Profile,
        EventFamily::Project,
        EventFamily::Media,
        EventFamily::User,
    ];

    /// The first token of the family's subjects.
    pub fn root(self) -> &'static str {
        match self {
            EventFamily::Profile => "profile",
            EventFamily::Project => "project",
            EventFamily::Media => "media",
            EventFamily::User => "user",
        }
    }

    /// A subject filter matching every event of the family.
    pub fn all_subjects(self) -> String {
        format!("{}.>", self.root())
    }
}

impl DomainEvent {
    pub fn event_type(&self) -> EventType {
        match self {
            DomainEvent::ProfileUpdated(_) => EventType::ProfileUpdated,
            DomainEvent::ProjectCreated(_) => EventType::ProjectCreated,
            DomainEvent::ProjectUpdated(_) => EventType::ProjectUpdated,
            DomainEvent::ProjectDeleted(_) => EventType::ProjectDeleted,
            DomainEvent::MediaUploaded(_) => EventType::MediaUploaded,
            DomainEvent::MediaDeleted(_) => EventType::MediaDeleted,
            DomainEvent::UserDeleted(_) => EventType::UserDeleted,
            DomainEvent::UserExportRequested(_) => EventType::UserExportRequested,
        }
    }
}

/// `{event_type, data, timestamp}` as the seed sends it, plus `event_id` (dedup and
/// tracing) and, for project events, `version` (ordering).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub event_id: Uuid,
    /// `event_type` and `data`.
    #[serde(flatten)]
    pub event: DomainEvent,
    /// RFC 3339, UTC, `Z` suffix.
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl EventEnvelope {
    pub fn new(event: DomainEvent, version: Option<i64>) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event,
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            version,
        }
    }

    pub fn event_type(&self) -> EventType {
        self.event.event_type()
    }

    /// Decodes an envelope from the wire. What does not decode is reported with the type
    /// it claimed (a known type, or `unknown`: the label set stays bounded).
    pub fn decode(bytes: &[u8]) -> Result<EventEnvelope, MalformedEvent> {
        serde_json::from_slice(bytes).map_err(|source| {
            #[derive(Deserialize)]
            struct Claimed {
                event_type: String,
            }
            let claimed = serde_json::from_slice::<Claimed>(bytes)
                .ok()
                .and_then(|c| EventType::parse(&c.event_type));
            MalformedEvent { claimed, source }
        })
    }
}

/// A delivery whose payload is not a Folio event.
#[derive(Debug, thiserror::Error)]
#[error("not a valid {} event", self.type_label())]
pub struct MalformedEvent {
    /// The type it said it was, when that is a type Folio knows.
    pub claimed: Option<EventType>,
    #[source]
    pub source: serde_json::Error,
}

impl MalformedEvent {
    /// The `type` label of `folio_events_malformed_total`.
    pub fn type_label(&self) -> &'static str {
        self.claimed.map(EventType::as_str).unwrap_or("unknown")
    }
}

/// Told about events that arrived but could not be decoded (the node's metrics).
pub trait EventObserver: Send + Sync + 'static {
    fn malformed(&self, event_type: &str);
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    #[error("event bus refused: {0}")]
    Rejected(String),
}

/// Backlog of one durable consumer, summed over the streams it reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerBacklog {
    /// In the stream, not yet delivered.
    pub pending: u64,
    /// Delivered, not yet acknowledged.
    pub ack_pending: u64,
    /// When the oldest undelivered message was stored, if any.
    pub oldest_pending_at: Option<chrono::DateTime<chrono::Utc>>,
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
    async fn consumer_backlog(&self, _durable: &str, _subjects: &[&str]) -> Result<Option<ConsumerBacklog>, BusError> {
        Ok(None)
    }
    /// For tools and tests that need the concrete bus (e.g. to read a stream).
    fn as_any(&self) -> &dyn std::any::Any;
}

#[async_trait::async_trait]
pub trait Subscription: Send {
    /// The next delivery, or one whose payload did not decode; `None` when the
    /// subscription ended. Consumers read through [`next_event`].
    async fn next(&mut self) -> Option<Result<Delivery, MalformedDelivery>>;
}

/// The next event of `subscription`. A delivery that does not decode is terminated (it
/// never will decode: redelivering it would only block the consumer) and counted, never
/// silently acknowledged. `None` when the subscription ended.
pub async fn next_event(subscription: &mut dyn Subscription, observer: Option<&dyn EventObserver>) -> Option<Delivery> {
    loop {
        match subscription.next().await? {
            Ok(delivery) => return Some(delivery),
            Err(malformed) => {
                let event_type = malformed.error.type_label();
                tracing::error!(
                    subject = %malformed.subject,
                    event_type,
                    error.cause_chain = %crate::errors::error_chain(&malformed.error),
                    "delivery is not a valid event; terminating it"
                );
                if let Some(observer) = observer {
                    observer.malformed(event_type);
                }
                if let Err(e) = malformed.handle.term().await {
                    tracing::warn!(error = %e, "terminating a malformed delivery; the bus will offer it again");
                }
            }
        }
    }
}

/// How long a delivery whose work failed waits before it comes back: `first`, doubling
/// with each attempt, never more than `last`.
pub fn retry_delay(attempt: u32, first: Duration, last: Duration) -> Duration {
    first
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(16)))
        .min(last)
}

/// A delivery whose payload is not a Folio event.
pub struct MalformedDelivery {
    pub subject: String,
    pub error: MalformedEvent,
    handle: Box<dyn DeliveryHandle>,
}

impl MalformedDelivery {
    pub fn new(subject: String, error: MalformedEvent, handle: Box<dyn DeliveryHandle>) -> Self {
        Self { subject, error, handle }
    }
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
        let project_id = Uuid::now_v7();
        let e = EventEnvelope::new(DomainEvent::ProjectDeleted(ProjectDeleted { project_id }), Some(3));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event_type"], "project.deleted");
        assert_eq!(v["data"]["project_id"], project_id.to_string());
        assert_eq!(v["version"], 3);
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        let e = EventEnvelope::new(
            DomainEvent::ProfileUpdated(ProfileUpdated {
                name: None,
                user_id: Uuid::now_v7(),
                username: "ana".into(),
            }),
            None,
        );
        assert!(serde_json::to_value(&e).unwrap().get("version").is_none());
    }

    #[test]
    fn every_type_names_its_variant() {
        for event_type in EventType::ALL {
            assert_eq!(EventType::parse(event_type.as_str()), Some(event_type));
            assert!(subject_matches(
                &event_type.family().all_subjects(),
                event_type.as_str()
            ));
        }
    }

    #[test]
    fn malformed_events_keep_the_type_they_claimed() {
        let wrong_field = br#"{"event_id":"0190d6a8-7b5e-7cc0-8000-000000000001","event_type":"media.uploaded","data":{"fileid":"x"},"timestamp":"2026-01-01T00:00:00.000Z"}"#;
        let error = EventEnvelope::decode(wrong_field).unwrap_err();
        assert_eq!(error.type_label(), "media.uploaded");
        let unknown = br#"{"event_id":"0190d6a8-7b5e-7cc0-8000-000000000001","event_type":"media.exploded","data":{},"timestamp":"2026-01-01T00:00:00.000Z"}"#;
        assert_eq!(EventEnvelope::decode(unknown).unwrap_err().type_label(), "unknown");
        assert_eq!(EventEnvelope::decode(b"not json").unwrap_err().type_label(), "unknown");
    }
}
