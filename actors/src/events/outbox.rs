//! The transactional outbox's write side. A change and its event are committed together
//! ([`append_event`]); [`OutboxSignal`] wakes the relay ([`crate::relay`]) right after.
//! The relay publishes and stamps the rows; the bus deduplicates by event id.

use std::sync::Arc;

use chrono::Utc;
use folio_entities::outbox_events;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, Set};
use tokio::sync::Notify;

use super::{DomainEvent, EventEnvelope};

/// The PostgreSQL channel on which relays tell each other that rows were committed. The
/// payload is the sender's id, so a relay ignores its own notifications.
pub const OUTBOX_CHANNEL: &str = "folio_outbox";

/// Writes the event in the caller's transaction and returns its envelope.
pub async fn append_event<C: ConnectionTrait>(
    db: &C,
    event: DomainEvent,
    version: Option<i64>,
) -> Result<EventEnvelope, DbErr> {
    let event = EventEnvelope::new(event, version);
    let envelope = serde_json::to_string(&event).map_err(|e| DbErr::Custom(e.to_string()))?;
    outbox_events::ActiveModel {
        event_id: Set(event.event_id),
        event_type: Set(event.event_type().as_str().to_string()),
        envelope: Set(envelope),
        created_at: Set(Utc::now()),
        published_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(event)
}

/// Writes many events in the caller's transaction with one statement, in order (bulk
/// requeues of thousands of jobs stay one round trip per page).
pub async fn append_events<C: ConnectionTrait>(
    db: &C,
    events: impl IntoIterator<Item = DomainEvent>,
) -> Result<Vec<EventEnvelope>, DbErr> {
    let events: Vec<EventEnvelope> = events
        .into_iter()
        .map(|event| EventEnvelope::new(event, None))
        .collect();
    if events.is_empty() {
        return Ok(events);
    }
    let now = Utc::now();
    let mut rows = Vec::with_capacity(events.len());
    for event in &events {
        rows.push(outbox_events::ActiveModel {
            event_id: Set(event.event_id),
            event_type: Set(event.event_type().as_str().to_string()),
            envelope: Set(serde_json::to_string(event).map_err(|e| DbErr::Custom(e.to_string()))?),
            created_at: Set(now),
            published_at: Set(None),
            ..Default::default()
        });
    }
    outbox_events::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(events)
}

/// Wakes the relay right after a commit, so events do not wait for the next poll.
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn notify(&self) {
        self.0.notify_one();
    }

    /// Resolves at the next [`notify`](Self::notify) (or at once, for one made since the
    /// last wait).
    pub async fn notified(&self) {
        self.0.notified().await;
    }
}
