//! The node supervisor: every long-lived actor of a node is spawned linked to it, and a
//! child that fails (panic, error, a loop that ended) is started again in its place after
//! a backoff that doubles with each recent restart. A child that keeps failing spends its
//! restart budget; the supervisor then gives up on it and says so through [`NodeHealth`]:
//! `/ready` answers 503 naming it and `folio serve` exits non-zero, so that systemd or
//! compose restart the process. A node never runs half-dead. Domains that want
//! parallelism run a [`KeyedPool`] of workers; the pool's slots are rewritten on restart
//! so callers always reach a live worker.

use std::{
    collections::{HashMap, VecDeque},
    hash::{Hash, Hasher},
    sync::{Arc, RwLock},
    time::Duration,
};

use futures::future::BoxFuture;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, Message, MessagingErr, RpcReplyPort, SpawnErr,
    SupervisionEvent, rpc::CallResult,
};
use tokio::sync::watch;
// tokio's clock, so that a test with paused time sees the restart window pass with the
// backoffs (it is the system's clock otherwise).
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("starting actor {name}")]
    Spawn {
        name: String,
        #[source]
        source: SpawnErr,
    },
    #[error("the node supervisor did not answer while starting {name}")]
    NoAnswer { name: String },
    #[error("the node supervisor is unreachable")]
    Unreachable(#[source] MessagingErr<SupervisorMsg>),
}

impl SupervisorError {
    pub fn spawn(name: impl Into<String>) -> impl FnOnce(SpawnErr) -> Self {
        let name = name.into();
        move |source| SupervisorError::Spawn { name, source }
    }
}

/// Starts one child, linked to the given supervisor cell, and returns its cell.
pub type SpawnChild = Arc<dyn Fn(ActorCell) -> BoxFuture<'static, Result<ActorCell, SupervisorError>> + Send + Sync>;

#[derive(ractor_cluster::RactorMessage)]
pub enum SupervisorMsg {
    /// Start a child now and restart it whenever it fails.
    Start {
        name: String,
        spawn: SpawnChild,
        reply: RpcReplyPort<Result<(), SupervisorError>>,
    },
    /// A failed child's backoff is over: start it again.
    Restart { ticket: u64 },
}

/// How hard the supervisor tries before it gives up on a child.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    /// More restarts than this inside `window` spends the budget.
    pub max_restarts: usize,
    pub window: Duration,
    /// The first restart waits this long; each further recent restart doubles it.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for RestartPolicy {
    /// A child failing without pause is given up on after about 45 s (10 restarts with
    /// the backoff growing from 0.1 s to 10 s): long enough to ride out a blip, short
    /// enough that the orchestrator hears about a real fault within a minute.
    fn default() -> Self {
        Self {
            max_restarts: 10,
            window: Duration::from_secs(60),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
        }
    }
}

impl RestartPolicy {
    fn backoff(&self, recent_restarts: usize) -> Duration {
        let factor = 2u32.saturating_pow(recent_restarts.min(20) as u32);
        self.backoff_base.saturating_mul(factor).min(self.backoff_max)
    }
}

/// A child the supervisor stopped restarting, and the failure that spent its budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaveUp {
    pub actor: String,
    pub last_error: String,
}

/// Whether the supervisor still has every child running; shared with `/ready` and with
/// whatever decides that the process must end.
#[derive(Clone)]
pub struct NodeHealth {
    state: Arc<watch::Sender<Option<GaveUp>>>,
    /// Restarts per child since the node started, pool workers under their pool's name.
    restarts: Arc<std::sync::Mutex<std::collections::BTreeMap<String, u64>>>,
}

impl Default for NodeHealth {
    fn default() -> Self {
        Self {
            state: Arc::new(watch::Sender::new(None)),
            restarts: Arc::default(),
        }
    }
}

impl NodeHealth {
    /// The first child given up on, if any.
    pub fn gave_up(&self) -> Option<GaveUp> {
        self.state.borrow().clone()
    }

    /// Resolves once a child has been given up on.
    pub async fn failed(&self) -> GaveUp {
        let mut changes = self.state.subscribe();
        loop {
            if let Some(gave_up) = changes.borrow_and_update().clone() {
                return gave_up;
            }
            if changes.changed().await.is_err() {
                // Unreachable while `self` holds the sender; never resolve rather than lie.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Restarts per actor since the node started (pool workers count under their pool).
    pub fn restarts(&self) -> std::collections::BTreeMap<String, u64> {
        self.restarts.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn count(&self, child: &str, restarted: bool) {
        let pool = child.split('[').next().unwrap_or(child);
        if let Ok(mut restarts) = self.restarts.lock() {
            *restarts.entry(pool.to_string()).or_default() += u64::from(restarted);
        }
    }

    fn record(&self, gave_up: GaveUp) {
        self.state.send_if_modified(|state| {
            if state.is_none() {
                *state = Some(gave_up);
                true
            } else {
                false
            }
        });
    }
}

struct ChildSpec {
    name: String,
    spawn: SpawnChild,
    recent_restarts: VecDeque<Instant>,
}

/// Told about children starting and restarting (the node's metrics).
pub trait SupervisionObserver: Send + Sync {
    /// A child started for the first time.
    fn started(&self, child: &str);
    /// A failed child was started again.
    fn restarted(&self, child: &str);
}

pub type SharedObserver = Arc<dyn SupervisionObserver>;

#[derive(Clone, Default)]
pub struct SupervisorArgs {
    pub observer: Option<SharedObserver>,
    pub health: NodeHealth,
    pub policy: RestartPolicy,
}

pub struct SupervisorState {
    children: HashMap<ActorId, ChildSpec>,
    /// Failed children waiting out their backoff, by ticket.
    waiting: HashMap<u64, ChildSpec>,
    next_ticket: u64,
    args: SupervisorArgs,
}

pub struct NodeSupervisor;

impl NodeSupervisor {
    pub async fn start() -> Result<ActorRef<SupervisorMsg>, SupervisorError> {
        Ok(Self::start_with(SupervisorArgs::default()).await?.0)
    }

    /// Starts the supervisor; the handle resolves when the supervisor itself stops.
    pub async fn start_with(
        args: SupervisorArgs,
    ) -> Result<(ActorRef<SupervisorMsg>, tokio::task::JoinHandle<()>), SupervisorError> {
        Actor::spawn(None, NodeSupervisor, args)
            .await
            .map_err(SupervisorError::spawn("node supervisor"))
    }

    /// Starts one actor under the supervisor, and starts it again with the same
    /// arguments whenever it fails.
    pub async fn start_singleton<A>(
        supervisor: &ActorRef<SupervisorMsg>,
        name: &str,
        actor: A,
        args: A::Arguments,
    ) -> Result<(), SupervisorError>
    where
        A: Actor + Clone,
        A::Arguments: Clone + Sync,
    {
        let child_name = name.to_string();
        let spawn: SpawnChild = Arc::new(move |supervisor_cell| {
            let (actor, args, name) = (actor.clone(), args.clone(), child_name.clone());
            Box::pin(async move {
                let (actor_ref, _) = Actor::spawn_linked(None, actor, args, supervisor_cell)
                    .await
                    .map_err(SupervisorError::spawn(name))?;
                Ok(actor_ref.get_cell())
            })
        });
        Self::start_child(supervisor, name, spawn).await
    }

    pub async fn start_child(
        supervisor: &ActorRef<SupervisorMsg>,
        name: impl Into<String>,
        spawn: SpawnChild,
    ) -> Result<(), SupervisorError> {
        let name = name.into();
        match supervisor
            .call(
                |reply| SupervisorMsg::Start {
                    name: name.clone(),
                    spawn,
                    reply,
                },
                Some(Duration::from_secs(30)),
            )
            .await
        {
            Ok(CallResult::Success(result)) => result,
            Ok(_) => Err(SupervisorError::NoAnswer { name }),
            Err(e) => Err(SupervisorError::Unreachable(e)),
        }
    }
}

impl Actor for NodeSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState {
            children: HashMap::new(),
            waiting: HashMap::new(),
            next_ticket: 0,
            args,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Start { name, spawn, reply } => {
                let result = spawn(myself.get_cell()).await.map(|cell| {
                    if let Some(observer) = &state.args.observer {
                        observer.started(&name);
                    }
                    state.args.health.count(&name, false);
                    state.children.insert(
                        cell.get_id(),
                        ChildSpec {
                            name,
                            spawn,
                            recent_restarts: VecDeque::new(),
                        },
                    );
                });
                let _ = reply.send(result);
            }
            SupervisorMsg::Restart { ticket } => {
                let Some(spec) = state.waiting.remove(&ticket) else {
                    return Ok(());
                };
                match (spec.spawn)(myself.get_cell()).await {
                    Ok(cell) => {
                        state.children.insert(cell.get_id(), spec);
                    }
                    Err(e) => {
                        let error = crate::errors::error_chain(&e);
                        schedule_restart(&myself, state, spec, error);
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisionEvent::ActorFailed(cell, error) = event else {
            // A child that stopped cleanly was asked to (shutdown): nothing to restart.
            if let SupervisionEvent::ActorTerminated(cell, _, _) = event {
                state.children.remove(&cell.get_id());
            }
            return Ok(());
        };
        let Some(spec) = state.children.remove(&cell.get_id()) else {
            return Ok(());
        };
        let error = crate::errors::error_chain(error.as_ref());
        schedule_restart(&myself, state, spec, error);
        Ok(())
    }
}

/// Counts the failure against the child's budget, then either gives up on it or starts
/// it again once its backoff is over.
fn schedule_restart(myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState, mut spec: ChildSpec, error: String) {
    let policy = state.args.policy;
    let now = Instant::now();
    spec.recent_restarts
        .retain(|at| now.duration_since(*at) < policy.window);
    if spec.recent_restarts.len() >= policy.max_restarts {
        tracing::error!(
            actor = %spec.name,
            error.cause_chain = %error,
            restarts = spec.recent_restarts.len(),
            window_secs = policy.window.as_secs(),
            "actor keeps failing; its restart budget is spent and the node is no longer ready"
        );
        state.args.health.record(GaveUp {
            actor: spec.name,
            last_error: error,
        });
        return;
    }
    let delay = policy.backoff(spec.recent_restarts.len());
    spec.recent_restarts.push_back(now);
    tracing::error!(actor = %spec.name, error.cause_chain = %error, ?delay, "actor failed; restarting it");
    if let Some(observer) = &state.args.observer {
        observer.restarted(&spec.name);
    }
    state.args.health.count(&spec.name, true);
    let ticket = state.next_ticket;
    state.next_ticket += 1;
    state.waiting.insert(ticket, spec);
    myself.send_after(delay, move || SupervisorMsg::Restart { ticket });
}

#[derive(Debug, Clone, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum CallError {
    #[error("the worker is restarting; try again")]
    Unavailable,
    #[error("the worker did not answer in time")]
    Timeout,
}

/// Why a pool's workers could not be started.
#[derive(Debug, thiserror::Error)]
pub enum PoolStartError {
    #[error("spawning worker {worker}")]
    Spawn {
        worker: String,
        #[source]
        source: ractor::SpawnErr,
    },
    #[error("placing worker {worker} under the node supervisor")]
    Supervise {
        worker: String,
        #[source]
        source: SupervisorError,
    },
}

/// A fixed set of workers of one actor type. A key always maps to the same slot, so work
/// for one key runs in order while different keys run in parallel.
///
/// Kept instead of ractor's key-persistent factory because it measured faster on the same
/// workload (`actors/examples/keyed_routing.rs`: 8 workers, 256 keys, 64 callers, dev
/// profile, 2 shared cores, two runs): routing alone 219,864 and 246,865 calls/s against
/// the factory's 67,661 and 68,629; with a 1 ms handler the two tie (2,813 / 2,685 against
/// 2,784 / 2,799), the handler being the bound. A call here goes straight to the worker's
/// mailbox, where the factory routes every job through its own actor first. The pool also
/// keeps each worker a direct child of the node supervisor, which restarts it and counts
/// the restart in `folio_actor_restarts_total`.
pub struct KeyedPool<M: Message> {
    slots: Arc<[RwLock<ActorRef<M>>]>,
    call_timeout: Duration,
}

impl<M: Message> Clone for KeyedPool<M> {
    fn clone(&self) -> Self {
        Self {
            slots: self.slots.clone(),
            call_timeout: self.call_timeout,
        }
    }
}

impl<M: Message> KeyedPool<M> {
    /// Spawns `size` workers under `supervisor`; `make` builds the actor and its
    /// arguments for a slot, and is called again whenever that slot's worker restarts.
    pub async fn start<A, F>(
        supervisor: &ActorRef<SupervisorMsg>,
        name: &str,
        size: usize,
        call_timeout: Duration,
        make: F,
    ) -> Result<Self, PoolStartError>
    where
        A: Actor<Msg = M>,
        F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        let size = size.max(1);
        let mut slots = Vec::with_capacity(size);
        // Spawn the first generation directly so the slots hold live refs from the start.
        for index in 0..size {
            let (actor, args) = make();
            let (actor_ref, _) = Actor::spawn_linked(None, actor, args, supervisor.get_cell())
                .await
                .map_err(|source| PoolStartError::Spawn {
                    worker: format!("{name}[{index}]"),
                    source,
                })?;
            slots.push(RwLock::new(actor_ref));
        }
        let slots: Arc<[RwLock<ActorRef<M>>]> = slots.into();
        for index in 0..slots.len() {
            let first = match slots[index].read() {
                Ok(slot) => slot.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            // Hand the running worker to the supervisor; restarts go through `respawn`.
            let respawn_slots = slots.clone();
            let respawn_make = make.clone();
            let spawned_once = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let slot_name = format!("{name}[{index}]");
            let spawn: SpawnChild = Arc::new(move |supervisor_cell: ActorCell| {
                let slot_name = slot_name.clone();
                let slots = respawn_slots.clone();
                let make = respawn_make.clone();
                let first = first.clone();
                let spawned_once = spawned_once.clone();
                Box::pin(async move {
                    if !spawned_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        return Ok(first.get_cell());
                    }
                    let (actor, args) = make();
                    let (actor_ref, _) = Actor::spawn_linked(None, actor, args, supervisor_cell)
                        .await
                        .map_err(SupervisorError::spawn(slot_name))?;
                    let cell = actor_ref.get_cell();
                    if let Ok(mut slot) = slots[index].write() {
                        *slot = actor_ref;
                    }
                    Ok(cell)
                })
            });
            let worker = format!("{name}[{index}]");
            NodeSupervisor::start_child(supervisor, worker.clone(), spawn)
                .await
                .map_err(|source| PoolStartError::Supervise { worker, source })?;
        }
        Ok(Self { slots, call_timeout })
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn worker_for(&self, key: &impl Hash) -> ActorRef<M> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        let index = (hasher.finish() % self.slots.len() as u64) as usize;
        match self.slots[index].read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Sends a request to the worker for `key` and waits for its answer. A worker that is
    /// down is waited for briefly (its supervisor is restarting it); a worker that dies
    /// while handling the request is reported, never retried, since it may have acted.
    pub async fn call<R, B>(&self, key: &impl Hash, build: B) -> Result<R, CallError>
    where
        R: Send + 'static,
        B: Fn(RpcReplyPort<R>) -> M,
    {
        let mut attempts = 0;
        loop {
            let worker = self.worker_for(key);
            match worker.call(&build, Some(self.call_timeout)).await {
                Ok(CallResult::Success(reply)) => return Ok(reply),
                Ok(CallResult::Timeout) => return Err(CallError::Timeout),
                Ok(CallResult::SenderError) => return Err(CallError::Unavailable),
                Err(_) if attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(_) => return Err(CallError::Unavailable),
            }
        }
    }
}
