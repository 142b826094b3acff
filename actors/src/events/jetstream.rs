//! The event bus on NATS JetStream (server 2.9 compatible): one file-backed stream per
//! domain (`profile.>`, `project.>`, `media.>`), publishes deduplicated by event id,
//! durable pull consumers shared by every node that names them.

use std::time::Duration;

use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::{
    self, AckKind,
    consumer::{
        AckPolicy, DeliverPolicy, PullConsumer,
        pull::{self, MessagesErrorKind},
    },
    message::PublishMessage as Publish,
    stream::{RetentionPolicy, StorageType},
};
use chrono::{DateTime, Utc};
use futures::{StreamExt as _, stream::SelectAll};

use super::{
    BusError, ConsumerBacklog, ConsumerSpec, Delivery, DeliveryHandle, EventBus, EventEnvelope, EventFamily,
    MalformedDelivery, PendingAck, Published, Subscription,
};

/// Names of the streams and the prefix of subjects. Production uses the defaults (the
/// subject is exactly the event type); tests give each run its own prefixes so runs can
/// share one server.
#[derive(Debug, Clone, Default)]
pub struct JetStreamNames {
    pub stream_prefix: String,
    pub subject_prefix: String,
}

/// The stream holding a family's events (before the deployment's prefix).
fn stream_base(family: EventFamily) -> &'static str {
    match family {
        EventFamily::Profile => "PROFILE_EVENTS",
        EventFamily::Project => "PROJECT_EVENTS",
        EventFamily::Media => "MEDIA_EVENTS",
        EventFamily::User => "USER_EVENTS",
    }
}

#[derive(Clone)]
pub struct JetStreamBus {
    client: async_nats::Client,
    js: jetstream::Context,
    names: JetStreamNames,
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

impl JetStreamBus {
    /// Connects and makes sure the streams exist. `duplicate_window` is how long a
    /// republished event id is still recognised as a duplicate.
    pub async fn connect(url: &str, names: JetStreamNames, duplicate_window: Duration) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| BusError::Unavailable(format!("connecting to NATS at {url}: {e}")))?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(Duration::from_secs(5));
        let bus = Self { client, js, names };
        for family in EventFamily::ALL {
            let stream = stream_base(family);
            bus.js
                .get_or_create_stream(jetstream::stream::Config {
                    name: bus.stream_name(stream),
                    subjects: vec![format!("{}{}", bus.names.subject_prefix, family.all_subjects())],
                    storage: StorageType::File,
                    retention: RetentionPolicy::Limits,
                    duplicate_window,
                    max_age: Duration::from_secs(30 * 24 * 3600),
                    ..Default::default()
                })
                .await
                .map_err(|e| BusError::Unavailable(format!("creating stream {stream}: {e}")))?;
        }
        Ok(bus)
    }

    fn stream_name(&self, base: &str) -> String {
        format!("{}{base}", self.names.stream_prefix)
    }

    pub fn subject_for(&self, event_type: &str) -> String {
        format!("{}{event_type}", self.names.subject_prefix)
    }

    fn stream_for(&self, filter: &str) -> Result<String, BusError> {
        let root = filter.split('.').next().unwrap_or_default();
        EventFamily::ALL
            .into_iter()
            .find(|family| family.root() == root)
            .map(|family| self.stream_name(stream_base(family)))
            .ok_or_else(|| BusError::Rejected(format!("no stream holds subject {filter}")))
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The stream that holds events of this type (for tests and tools that read it).
    pub async fn stream(&self, event_type: &str) -> Result<jetstream::stream::Stream, BusError> {
        let name = self.stream_for(event_type)?;
        self.js.get_stream(&name).await.map_err(unavailable)
    }
}

#[async_trait::async_trait]
impl EventBus for JetStreamBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<PendingAck, BusError> {
        let payload = serde_json::to_vec(event).map_err(|e| BusError::Rejected(e.to_string()))?;
        let ack = self
            .js
            .send_publish(
                self.subject_for(event.event_type().as_str()),
                Publish::build()
                    .payload(payload.into())
                    .message_id(event.event_id.to_string()),
            )
            .await
            .map_err(unavailable)?;
        Ok(Box::pin(async move {
            let ack = ack.await.map_err(unavailable)?;
            Ok(Published {
                duplicate: ack.duplicate,
            })
        }))
    }

    async fn subscribe(&self, spec: ConsumerSpec) -> Result<Box<dyn Subscription>, BusError> {
        let mut streams = SelectAll::new();
        for filter in &spec.subjects {
            let stream = self
                .js
                .get_stream(self.stream_for(filter)?)
                .await
                .map_err(unavailable)?;
            let consumer: PullConsumer = stream
                .get_or_create_consumer(
                    &spec.durable,
                    pull::Config {
                        durable_name: Some(spec.durable.clone()),
                        filter_subject: format!("{}{filter}", self.names.subject_prefix),
                        deliver_policy: DeliverPolicy::All,
                        ack_policy: AckPolicy::Explicit,
                        ack_wait: spec.ack_wait,
                        max_deliver: spec.max_deliver,
                        ..Default::default()
                    },
                )
                .await
                .map_err(unavailable)?;
            let messages = consumer.messages().await.map_err(unavailable)?;
            streams.push(messages);
        }
        Ok(Box::new(JetStreamSubscription { streams }))
    }

    async fn ping(&self) -> Result<(), BusError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(BusError::Unavailable(format!("NATS connection is {state:?}"))),
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &'static str {
        "jetstream"
    }

    async fn consumer_backlog(&self, durable: &str, subjects: &[&str]) -> Result<Option<ConsumerBacklog>, BusError> {
        let mut backlog = ConsumerBacklog::default();
        for filter in subjects {
            let stream = self
                .js
                .get_stream(self.stream_for(filter)?)
                .await
                .map_err(unavailable)?;
            let info = match stream.consumer_info(durable).await {
                Ok(info) => info,
                // No node with that role has subscribed yet: nothing is delivered either.
                Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => continue,
                Err(e) => return Err(unavailable(e)),
            };
            backlog.pending += info.num_pending;
            backlog.ack_pending += info.num_ack_pending as u64;
            if info.num_pending + info.num_ack_pending as u64 > 0 {
                // The first message not yet acknowledged; gone (aged out) means unknown.
                if let Ok(message) = stream.get_raw_message(info.ack_floor.stream_sequence + 1).await {
                    let stored =
                        DateTime::<Utc>::from_timestamp(message.time.unix_timestamp(), message.time.nanosecond());
                    backlog.oldest_pending_at = match (backlog.oldest_pending_at, stored) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
        }
        Ok(Some(backlog))
    }
}

struct JetStreamSubscription {
    streams: SelectAll<pull::Stream>,
}

#[async_trait::async_trait]
impl Subscription for JetStreamSubscription {
    async fn next(&mut self) -> Option<Result<Delivery, MalformedDelivery>> {
        loop {
            match self.streams.next().await? {
                Ok(message) => {
                    let attempt = message.info().map(|i| i.delivered.max(1) as u32).unwrap_or(1);
                    return Some(match EventEnvelope::decode(&message.payload) {
                        Ok(event) => Ok(Delivery::new(event, attempt, Box::new(JetStreamHandle { message }))),
                        Err(error) => Err(MalformedDelivery::new(
                            message.subject.to_string(),
                            error,
                            Box::new(JetStreamHandle { message }),
                        )),
                    });
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        MessagesErrorKind::ConsumerDeleted
                            | MessagesErrorKind::PushBasedConsumer
                            | MessagesErrorKind::RequestLimitExceeded
                    ) =>
                {
                    // Nothing more will come through this consumer: end the subscription,
                    // and the consumer's supervised loop subscribes (and recreates it) again.
                    tracing::warn!(error = %e, "JetStream consumer is gone; ending the subscription");
                    return None;
                }
                Err(e) => {
                    // Pull streams report lost heartbeats and reconnects as errors and
                    // keep going once the server is back.
                    tracing::warn!(error = %e, "JetStream consumer interrupted");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

struct JetStreamHandle {
    message: jetstream::Message,
}

#[async_trait::async_trait]
impl DeliveryHandle for JetStreamHandle {
    async fn ack(&self) -> Result<(), BusError> {
        // Double-ack waits for the server's confirmation, so an ack is never lost silently.
        self.message.double_ack().await.map_err(unavailable)
    }

    async fn nak(&self, delay: Duration) -> Result<(), BusError> {
        self.message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(unavailable)
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        self.message.ack_with(AckKind::Progress).await.map_err(unavailable)
    }

    async fn term(&self) -> Result<(), BusError> {
        self.message.ack_with(AckKind::Term).await.map_err(unavailable)
    }
}
