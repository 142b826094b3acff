//! A loop that must never silently die, owned by an actor under the node supervisor.
//!
//! The outbox relay, the upload sweeper, the thumbnail runner and the indexer are loops:
//! they run for as long as the node does. Each runs as a task owned by a [`LoopActor`].
//! When the loop panics, returns an error, or returns at all without being asked to stop
//! (a subscription that ended), the actor fails, and the supervisor restarts it with
//! backoff and counts the restart. Work the loop hands to tasks of its own (one per
//! thumbnail job) goes through [`LoopScope::spawn`], so a panic there fails the actor
//! too instead of vanishing with the task.

use std::{any::Any, marker::PhantomData, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use futures::{FutureExt as _, future::BoxFuture};
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    events::{BusError, ConsumerSpec, Delivery, EventBus, EventObserver, Subscription, next_event},
    supervisor::{NodeSupervisor, SupervisorError, SupervisorMsg},
};

#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("the subscription ended")]
    SubscriptionEnded,
    #[error("subscribing to the event bus")]
    Subscribe(#[source] BusError),
    #[error("panicked: {0}")]
    Panicked(String),
    #[error("the loop returned without being asked to stop")]
    Returned,
    #[error("{what} stopped")]
    PartStopped { what: &'static str },
}

/// The body of a supervised loop. `run` is called again on every restart, so whatever it
/// needs across restarts lives in `self`.
pub trait LoopBody: Send + Sync + 'static {
    fn run(self: Arc<Self>, scope: LoopScope) -> BoxFuture<'static, Result<(), LoopError>>;

    /// How long a stop waits for the loop to finish what it is doing before cutting it off.
    fn stop_grace(&self) -> Duration {
        Duration::from_secs(5)
    }
}

/// What a running loop gets: the stop signal, and a way to run side tasks whose failure
/// counts as its own.
#[derive(Clone)]
pub struct LoopScope {
    stop: watch::Receiver<bool>,
    owner: ActorRef<LoopMsg>,
}

impl LoopScope {
    /// Resolves when the node asks the loop to stop.
    pub async fn stopped(&mut self) {
        while !*self.stop.borrow_and_update() {
            if self.stop.changed().await.is_err() {
                return;
            }
        }
    }

    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// Runs `work` as a task of its own; a panic in it fails the loop's actor.
    pub fn spawn<F>(&self, work: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let owner = self.owner.clone();
        tokio::spawn(async move {
            if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
                let _ = owner.cast(LoopMsg::Ended(LoopError::Panicked(panic_message(panic.as_ref()))));
            }
        })
    }
}

#[derive(ractor_cluster::RactorMessage)]
pub enum LoopMsg {
    Ended(LoopError),
}

pub struct LoopActor<B>(PhantomData<fn() -> B>);

impl<B> Clone for LoopActor<B> {
    fn clone(&self) -> Self {
        Self(PhantomData)
    }
}

impl<B: LoopBody> LoopActor<B> {
    /// Starts `body` under the node supervisor as the actor `name`.
    pub async fn start(supervisor: &ActorRef<SupervisorMsg>, name: &str, body: Arc<B>) -> Result<(), SupervisorError> {
        NodeSupervisor::start_singleton(supervisor, name, LoopActor::<B>(PhantomData), body).await
    }
}

pub struct LoopState {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    grace: Duration,
}

impl<B: LoopBody> Actor for LoopActor<B> {
    type Msg = LoopMsg;
    type State = LoopState;
    type Arguments = Arc<B>;

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, body: Arc<B>) -> Result<Self::State, ActorProcessingErr> {
        let (stop, stop_signal) = watch::channel(false);
        let grace = body.stop_grace();
        let scope = LoopScope {
            stop: stop_signal.clone(),
            owner: myself.clone(),
        };
        let task = tokio::spawn(async move {
            let outcome = AssertUnwindSafe(body.run(scope)).catch_unwind().await;
            if *stop_signal.borrow() {
                return;
            }
            let error = match outcome {
                Ok(Ok(())) => LoopError::Returned,
                Ok(Err(error)) => error,
                Err(panic) => LoopError::Panicked(panic_message(panic.as_ref())),
            };
            let _ = myself.cast(LoopMsg::Ended(error));
        });
        Ok(LoopState {
            stop,
            task: Some(task),
            grace,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let LoopMsg::Ended(error) = message;
        // ractor skips `post_stop` for an actor that fails: the loop (still running when a
        // side task panicked) must not outlive it and run beside its replacement.
        let _ = state.stop.send(true);
        if let Some(task) = state.task.take() {
            task.abort();
        }
        Err(Box::new(error))
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        _event: SupervisionEvent,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, state: &mut Self::State) -> Result<(), ActorProcessingErr> {
        let _ = state.stop.send(true);
        if let Some(mut task) = state.task.take()
            && tokio::time::timeout(state.grace, &mut task).await.is_err()
        {
            task.abort();
        }
        Ok(())
    }
}

pub fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Subscribes for a supervised consumer loop, waiting out a bus that cannot be reached
/// (with backoff, up to 5 s between tries): an outage is not a crash, and the bus's own
/// readiness check reports it. A bus that refuses the subscription fails the loop.
/// `None` when the loop was asked to stop first.
pub async fn subscribe_until_stopped(
    bus: &dyn EventBus,
    spec: &ConsumerSpec,
    scope: &mut LoopScope,
) -> Result<Option<Box<dyn Subscription>>, LoopError> {
    let mut delay = Duration::from_millis(100);
    loop {
        match bus.subscribe(spec.clone()).await {
            Ok(subscription) => return Ok(Some(subscription)),
            Err(e @ BusError::Unavailable(_)) => {
                tracing::warn!(durable = %spec.durable, error = %e, ?delay, "event bus unavailable; subscribing again later");
            }
            Err(e) => return Err(LoopError::Subscribe(e)),
        }
        tokio::select! {
            _ = scope.stopped() => return Ok(None),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// The body of a supervised consumer loop: subscribes (waiting out an unreachable bus)
/// and hands every delivery to `settle`, one at a time, until the loop is stopped. A
/// subscription that ends fails the loop, so the supervisor starts it again.
pub async fn settle_each<F, Fut>(
    bus: &dyn EventBus,
    spec: &ConsumerSpec,
    mut scope: LoopScope,
    observer: Option<&dyn EventObserver>,
    mut settle: F,
) -> Result<(), LoopError>
where
    F: FnMut(Delivery) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(mut subscription) = subscribe_until_stopped(bus, spec, &mut scope).await? else {
        return Ok(());
    };
    loop {
        let delivery = tokio::select! {
            _ = scope.stopped() => return Ok(()),
            delivery = next_event(subscription.as_mut(), observer) => {
                delivery.ok_or(LoopError::SubscriptionEnded)?
            }
        };
        settle(delivery).await;
    }
}
