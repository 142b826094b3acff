//! The embedded node's event bus. Events stay in the outbox until every consumer that
//! wants them has acknowledged (the publish acknowledgement waits for that), so a crash
//! loses nothing: unacknowledged events are published again from the outbox on restart.
//! Consumers get the same at-least-once contract as on JetStream: nak redelivers after
//! the delay, and a delivery dropped unsettled comes back after `ack_wait`.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::{mpsc, oneshot};

use super::{
    BusError, ConsumerSpec, Delivery, DeliveryHandle, EventBus, EventEnvelope, MalformedDelivery, PendingAck,
    Published, Subscription, subject_matches,
};

struct Completion {
    remaining: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<()>>>,
}

impl Completion {
    fn settle_one(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1
            && let Ok(mut done) = self.done.lock()
            && let Some(done) = done.take()
        {
            let _ = done.send(());
        }
    }
}

struct Queued {
    event: EventEnvelope,
    attempt: u32,
    completion: Arc<Completion>,
}

struct Consumer {
    spec: ConsumerSpec,
    sender: mpsc::UnboundedSender<Queued>,
    receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>>,
}

#[derive(Clone, Default)]
pub struct InProcessBus {
    consumers: Arc<Mutex<HashMap<String, Arc<Consumer>>>>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<PendingAck, BusError> {
        let targets: Vec<Arc<Consumer>> = {
            let consumers = self
                .consumers
                .lock()
                .map_err(|_| BusError::Unavailable("consumer table poisoned".into()))?;
            consumers
                .values()
                .filter(|c| {
                    c.spec
                        .subjects
                        .iter()
                        .any(|f| subject_matches(f, event.event_type().as_str()))
                })
                .cloned()
                .collect()
        };
        if targets.is_empty() {
            return Ok(Box::pin(async { Ok(Published { duplicate: false }) }));
        }
        let (done, finished) = oneshot::channel();
        let completion = Arc::new(Completion {
            remaining: AtomicUsize::new(targets.len()),
            done: Mutex::new(Some(done)),
        });
        for consumer in targets {
            let queued = Queued {
                event: event.clone(),
                attempt: 1,
                completion: completion.clone(),
            };
            if consumer.sender.send(queued).is_err() {
                completion.settle_one();
            }
        }
        Ok(Box::pin(async move {
            finished
                .await
                .map(|_| Published { duplicate: false })
                .map_err(|_| BusError::Unavailable("bus stopped before consumers acknowledged".into()))
        }))
    }

    async fn subscribe(&self, spec: ConsumerSpec) -> Result<Box<dyn Subscription>, BusError> {
        let consumer = {
            let mut consumers = self
                .consumers
                .lock()
                .map_err(|_| BusError::Unavailable("consumer table poisoned".into()))?;
            consumers
                .entry(spec.durable.clone())
                .or_insert_with(|| {
                    let (sender, receiver) = mpsc::unbounded_channel();
                    Arc::new(Consumer {
                        spec: spec.clone(),
                        sender,
                        receiver: Arc::new(tokio::sync::Mutex::new(receiver)),
                    })
                })
                .clone()
        };
        Ok(Box::new(InProcessSubscription { consumer }))
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &'static str {
        "in-process"
    }
}

struct InProcessSubscription {
    consumer: Arc<Consumer>,
}

#[async_trait::async_trait]
impl Subscription for InProcessSubscription {
    async fn next(&mut self) -> Option<Result<Delivery, MalformedDelivery>> {
        let queued = self.consumer.receiver.lock().await.recv().await?;
        let attempt = queued.attempt;
        let event = queued.event.clone();
        let handle = InProcessHandle {
            queued: Mutex::new(Some(queued)),
            sender: self.consumer.sender.clone(),
            ack_wait: self.consumer.spec.ack_wait,
            max_deliver: self.consumer.spec.max_deliver,
            settled: AtomicBool::new(false),
        };
        // Only typed envelopes enter this bus, so nothing arrives malformed.
        Some(Ok(Delivery::new(event, attempt, Box::new(handle))))
    }
}

struct InProcessHandle {
    queued: Mutex<Option<Queued>>,
    sender: mpsc::UnboundedSender<Queued>,
    ack_wait: Duration,
    max_deliver: i64,
    settled: AtomicBool,
}

impl InProcessHandle {
    fn take(&self) -> Option<Queued> {
        if self.settled.swap(true, Ordering::AcqRel) {
            return None;
        }
        self.queued.lock().ok()?.take()
    }

    fn redeliver(&self, queued: Queued, delay: Duration) {
        let attempt = queued.attempt + 1;
        if self.max_deliver > 0 && i64::from(attempt) > self.max_deliver {
            tracing::warn!(event_id = %queued.event.event_id, "maximum deliveries reached; dropping event");
            queued.completion.settle_one();
            return;
        }
        let sender = self.sender.clone();
        let next = Queued { attempt, ..queued };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(mpsc::error::SendError(lost)) = sender.send(next) {
                lost.completion.settle_one();
            }
        });
    }
}

#[async_trait::async_trait]
impl DeliveryHandle for InProcessHandle {
    async fn ack(&self) -> Result<(), BusError> {
        if let Some(queued) = self.take() {
            queued.completion.settle_one();
        }
        Ok(())
    }

    async fn nak(&self, delay: Duration) -> Result<(), BusError> {
        if let Some(queued) = self.take() {
            self.redeliver(queued, delay);
        }
        Ok(())
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        Ok(())
    }

    async fn term(&self) -> Result<(), BusError> {
        self.ack().await
    }
}

impl Drop for InProcessHandle {
    fn drop(&mut self) {
        // A consumer that died mid-work never settled: the event comes back.
        if let Some(queued) = self.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            self.redeliver(queued, self.ack_wait);
        }
    }
}
