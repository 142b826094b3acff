//! What a test watches actors through, without HTTP:
//!
//! * [`EventProbe`]: a consumer of the bus that records every event published, in order;
//! * [`GroupProbe`]: a member of a process group (`folio.edge`, `folio.project-views`,
//!   `folio.node`) that records the typed messages cast to the group;
//! * [`SupervisionProbe`]: the supervisor's observer, recording starts and restarts with
//!   the tokio instant they happened at (virtual under paused time).
//!
//! Every `expect` takes the *next* recorded item and panics, showing it, when it is not
//! the one expected: a run of `expect`s checks order as well as content. The timeouts
//! of `expect` and `next` are wall-clock time, so that under paused tokio time (where
//! the clock jumps whenever the runtime waits, also on SQLite's worker thread) a test
//! fails only after really waiting that long. `expect_none` waits tokio time: under
//! paused time, a long quiet period costs nothing.

use std::{
    marker::PhantomData,
    sync::{Arc, Mutex},
    time::Duration,
};

use folio_actors::{
    cluster::{EDGE_GROUP, EdgeHubMsg, NODE_GROUP, NodeAgentMsg, PROJECT_VIEWS_GROUP},
    events::{ConsumerSpec, DomainEvent, EventBus, EventEnvelope, next_event},
    project::view_keeper::ProjectViewMsg,
    supervisor::SupervisionObserver,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, Message};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Resolves once `timeout` of wall-clock time has passed, whatever tokio's clock does
/// (a thread of its own: paused time neither hurries nor holds it).
fn wall_clock(timeout: Duration) -> oneshot::Receiver<()> {
    let (elapsed, deadline) = oneshot::channel();
    std::thread::spawn(move || {
        std::thread::sleep(timeout);
        let _ = elapsed.send(());
    });
    deadline
}

/// The next item of `items` within `timeout` of wall-clock time; `None` at the timeout.
async fn next_within<T>(items: &mut mpsc::UnboundedReceiver<T>, timeout: Duration) -> Option<T> {
    let deadline = wall_clock(timeout);
    tokio::select! {
        item = items.recv() => item,
        _ = deadline => None,
    }
}

/// Records every event the bus delivers to it, in the order delivered. It is a consumer
/// of its own (a durable name nobody else uses), so it gets every event whatever other
/// consumers do, and it acknowledges each one at once: on the in-process bus a publish
/// is acknowledged when every consumer has, so the relay waits for the probe too.
pub struct EventProbe {
    events: mpsc::UnboundedReceiver<EventEnvelope>,
    task: tokio::task::JoinHandle<()>,
}

impl EventProbe {
    /// Records every event.
    pub async fn start(bus: &Arc<dyn EventBus>) -> Self {
        Self::on(bus, &[">"]).await
    }

    /// Records the events whose type matches one of `subjects` (NATS-style filters such
    /// as `project.>` or `media.uploaded`).
    pub async fn on(bus: &Arc<dyn EventBus>, subjects: &[&str]) -> Self {
        let spec = ConsumerSpec {
            durable: format!("event-probe-{}", uuid::Uuid::new_v4().simple()),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            ack_wait: Duration::from_secs(3600),
            max_deliver: -1,
        };
        let mut subscription = bus.subscribe(spec).await.expect("the probe subscribes to the bus");
        let (record, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(delivery) = next_event(subscription.as_mut(), None).await {
                let event = delivery.event.clone();
                // Acknowledged before it is handed on: the test may be slow to look.
                let _ = delivery.ack().await;
                if record.send(event).is_err() {
                    return;
                }
            }
        });
        Self { events, task }
    }

    /// The next event published; panics when none comes within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> EventEnvelope {
        next_within(&mut self.events, timeout)
            .await
            .unwrap_or_else(|| panic!("no event published within {timeout:?}"))
    }

    /// The next event published, which must match `expected`; panics, showing the
    /// event, when it does not, or when none comes within `timeout`.
    pub async fn expect(&mut self, timeout: Duration, expected: impl FnOnce(&DomainEvent) -> bool) -> EventEnvelope {
        let event = self.next(timeout).await;
        assert!(
            expected(&event.event),
            "the next event published is not the one expected: {event:#?}"
        );
        event
    }

    /// Nothing more is published for `quiet` (tokio time); panics, showing the event,
    /// when something is.
    pub async fn expect_none(&mut self, quiet: Duration) {
        tokio::select! {
            event = self.events.recv() => {
                if let Some(event) = event {
                    panic!("expected no event for {quiet:?}, got {event:#?}");
                }
            }
            _ = tokio::time::sleep(quiet) => {}
        }
    }
}

impl Drop for EventProbe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Which of a group's messages a probe records.
type Keep<M> = Box<dyn Fn(&M) -> bool + Send + Sync>;

/// The actor a [`GroupProbe`] puts in the group: it forwards what it receives and keeps.
struct Recorder<M>(PhantomData<fn() -> M>);

impl<M: Message> Actor for Recorder<M> {
    type Msg = M;
    type State = (Keep<M>, mpsc::UnboundedSender<M>);
    type Arguments = (String, Keep<M>, mpsc::UnboundedSender<M>);

    async fn pre_start(
        &self,
        myself: ActorRef<M>,
        (group, keep, record): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        ractor::pg::join(group, vec![myself.get_cell()]);
        Ok((keep, record))
    }

    async fn handle(
        &self,
        _myself: ActorRef<M>,
        message: M,
        (keep, record): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if keep(&message) {
            // The test stopped looking; the probe leaves with its actor.
            let _ = record.send(message);
        }
        Ok(())
    }
}

/// A member of a process group, of the group's message type `M`, that records what is
/// cast (or called) to the group. Process groups are per process: the probe hears every
/// node in it, the kit's actors included (and, under `cargo test`, the other tests of
/// the binary: the `…_for` probes keep only what concerns one user or project). It
/// leaves the group when dropped.
pub struct GroupProbe<M: Message> {
    group: String,
    actor: ActorRef<M>,
    messages: mpsc::UnboundedReceiver<M>,
}

impl<M: Message> GroupProbe<M> {
    /// Joins `group` as a member whose messages are `M`. Only join a group with its
    /// own message type: members are sent to as that type.
    pub async fn join(group: &str) -> Self {
        Self::join_where(group, |_| true).await
    }

    /// Joins `group`, recording only the messages `keep` keeps.
    pub async fn join_where(group: &str, keep: impl Fn(&M) -> bool + Send + Sync + 'static) -> Self {
        let (record, messages) = mpsc::unbounded_channel();
        let keep: Keep<M> = Box::new(keep);
        let (actor, _) = Actor::spawn(None, Recorder::<M>(PhantomData), (group.to_string(), keep, record))
            .await
            .expect("the group probe starts");
        Self {
            group: group.to_string(),
            actor,
            messages,
        }
    }

    /// The next message sent to the group; panics when none comes within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> M {
        next_within(&mut self.messages, timeout)
            .await
            .unwrap_or_else(|| panic!("no message to the group within {timeout:?}"))
    }

    /// The next message sent to the group, which must match `expected`; panics when it
    /// does not, or when none comes within `timeout`.
    pub async fn expect(&mut self, timeout: Duration, expected: impl FnOnce(&M) -> bool) -> M {
        let message = self.next(timeout).await;
        assert!(
            expected(&message),
            "the next message to the group is not the one expected"
        );
        message
    }

    /// Nothing more is sent to the group for `quiet` (tokio time).
    pub async fn expect_none(&mut self, quiet: Duration) {
        tokio::select! {
            message = self.messages.recv() => {
                assert!(message.is_none(), "expected no message to the group for {quiet:?}");
            }
            _ = tokio::time::sleep(quiet) => {}
        }
    }

    /// The probe's actor (it is one of the group's members).
    pub fn actor(&self) -> &ActorRef<M> {
        &self.actor
    }
}

impl GroupProbe<EdgeHubMsg> {
    /// `folio.edge`: live events and ended sessions, as every HTTP node's hub gets them.
    pub async fn edge() -> Self {
        Self::join(EDGE_GROUP).await
    }

    /// `folio.edge`, keeping what concerns `user_id` only.
    pub async fn edge_for(user_id: Uuid) -> Self {
        Self::join_where(EDGE_GROUP, move |message| match message {
            EdgeHubMsg::Push(push) => push.user_id == user_id,
            EdgeHubMsg::EndStreams(ended) => ended.user_id == user_id,
            _ => false,
        })
        .await
    }
}

impl GroupProbe<ProjectViewMsg> {
    /// `folio.project-views`: the notices of committed project changes.
    pub async fn project_views() -> Self {
        Self::join(PROJECT_VIEWS_GROUP).await
    }

    /// `folio.project-views`, keeping the notices of `project_id` only.
    pub async fn project_views_for(project_id: Uuid) -> Self {
        Self::join_where(PROJECT_VIEWS_GROUP, move |ProjectViewMsg::Changed(notice)| {
            notice.project_id == project_id
        })
        .await
    }
}

impl GroupProbe<NodeAgentMsg> {
    /// `folio.node`: questions to every node's agent (the probe can answer them).
    pub async fn node() -> Self {
        Self::join(NODE_GROUP).await
    }
}

impl<M: Message> Drop for GroupProbe<M> {
    fn drop(&mut self) {
        ractor::pg::leave(self.group.clone(), vec![self.actor.get_cell()]);
        self.actor.stop(None);
    }
}

/// A start or a restart of a supervised child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supervised {
    Started(String),
    /// The child failed and is started again after its backoff (told at the failure).
    Restarted(String),
}

/// The supervisor's observer: every start and restart, with the tokio instant it was
/// told at. Under paused time the instants are virtual, so the gaps between restarts
/// are the backoffs to the tick.
#[derive(Clone)]
pub struct SupervisionProbe {
    record: mpsc::UnboundedSender<Report>,
    seen: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Report>>>,
    restarts: Arc<Mutex<Vec<(String, tokio::time::Instant)>>>,
}

/// What the supervisor told, and when.
type Report = (Supervised, tokio::time::Instant);

impl Default for SupervisionProbe {
    fn default() -> Self {
        let (record, seen) = mpsc::unbounded_channel();
        Self {
            record,
            seen: Arc::new(tokio::sync::Mutex::new(seen)),
            restarts: Arc::default(),
        }
    }
}

impl SupervisionObserver for SupervisionProbe {
    fn started(&self, child: &str) {
        let _ = self
            .record
            .send((Supervised::Started(child.to_string()), tokio::time::Instant::now()));
    }

    fn restarted(&self, child: &str) {
        let now = tokio::time::Instant::now();
        if let Ok(mut restarts) = self.restarts.lock() {
            restarts.push((child.to_string(), now));
        }
        let _ = self.record.send((Supervised::Restarted(child.to_string()), now));
    }
}

impl SupervisionProbe {
    /// Waits for the next restart of `child` (a pool's worker matches its pool's name),
    /// skipping starts and other children; its instant. Panics after `timeout`.
    pub async fn expect_restart(&self, timeout: Duration, child: &str) -> tokio::time::Instant {
        let mut seen = self.seen.lock().await;
        let deadline = wall_clock(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                item = seen.recv() => match item {
                    Some((Supervised::Restarted(name), at)) if child_of(&name, child) => return at,
                    Some(_) => {}
                    None => panic!("the supervisor's observer is gone"),
                },
                _ = &mut deadline => panic!("{child} was not restarted within {timeout:?}"),
            }
        }
    }

    /// The restarts of `child` so far, with their instants.
    pub fn restarts_of(&self, child: &str) -> Vec<tokio::time::Instant> {
        self.restarts
            .lock()
            .map(|restarts| {
                restarts
                    .iter()
                    .filter(|(name, _)| child_of(name, child))
                    .map(|(_, at)| *at)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `session[3]` is a child of the pool `session`.
fn child_of(name: &str, child: &str) -> bool {
    name == child || name.split('[').next() == Some(child)
}
