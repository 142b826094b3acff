//! [`WatchedBus`]: the in-process bus, telling who subscribed. A consumer loop
//! subscribes from a task of its own once started; an event published before it has
//! subscribed would reach nobody (the in-process bus keeps no stream), so the kit waits
//! for a consumer's subscription before it hands the consumer to the test.

use std::{collections::BTreeSet, time::Duration};

use folio_actors::events::{BusError, ConsumerSpec, EventBus, EventEnvelope, InProcessBus, PendingAck, Subscription};
use tokio::sync::watch;

/// The in-process bus, with the durable names subscribed so far. Clones share both.
#[derive(Clone)]
pub struct WatchedBus {
    inner: InProcessBus,
    durables: watch::Sender<BTreeSet<String>>,
}

impl Default for WatchedBus {
    fn default() -> Self {
        Self::new()
    }
}

impl WatchedBus {
    pub fn new() -> Self {
        Self {
            inner: InProcessBus::new(),
            durables: watch::Sender::new(BTreeSet::new()),
        }
    }

    /// Resolves once a consumer named `durable` has subscribed; panics after 10 s of
    /// wall-clock time.
    pub async fn subscribed(&self, durable: &str) {
        let mut durables = self.durables.subscribe();
        let started = std::time::Instant::now();
        loop {
            if durables.borrow_and_update().contains(durable) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the consumer {durable} did not subscribe"
            );
            // Woken by the subscription, or in a moment to look at the deadline.
            let _ = tokio::time::timeout(Duration::from_millis(50), durables.changed()).await;
        }
    }
}

#[async_trait::async_trait]
impl EventBus for WatchedBus {
    async fn publish(&self, event: &EventEnvelope) -> Result<PendingAck, BusError> {
        self.inner.publish(event).await
    }

    async fn subscribe(&self, spec: ConsumerSpec) -> Result<Box<dyn Subscription>, BusError> {
        let durable = spec.durable.clone();
        let subscription = self.inner.subscribe(spec).await?;
        self.durables.send_modify(|durables| {
            durables.insert(durable);
        });
        Ok(subscription)
    }

    async fn ping(&self) -> Result<(), BusError> {
        self.inner.ping().await
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
