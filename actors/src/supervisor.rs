//! The node supervisor: every domain actor is spawned linked to it, and a child that
//! fails (panic or error) is started again in its place. Domains that want parallelism
//! run a [`KeyedPool`] of workers; the pool's slots are rewritten on restart so callers
//! always reach a live worker.

use std::{
    collections::{HashMap, VecDeque},
    hash::{Hash, Hasher},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, Message, RpcReplyPort, SupervisionEvent, rpc::CallResult,
};

/// Starts one child, linked to the given supervisor cell, and returns its cell.
pub type SpawnChild = Arc<dyn Fn(ActorCell) -> BoxFuture<'static, Result<ActorCell, String>> + Send + Sync>;

pub enum SupervisorMsg {
    /// Start a child now and restart it whenever it fails.
    Start {
        name: String,
        spawn: SpawnChild,
        reply: RpcReplyPort<Result<(), String>>,
    },
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

pub struct SupervisorState {
    children: HashMap<ActorId, ChildSpec>,
    observer: Option<SharedObserver>,
}

/// More restarts than this inside [`RESTART_WINDOW`] means the fault is not transient:
/// the supervisor stops instead of looping, and the node shuts down visibly.
const MAX_RESTARTS: usize = 20;
const RESTART_WINDOW: Duration = Duration::from_secs(10);

pub struct NodeSupervisor;

impl NodeSupervisor {
    pub async fn start() -> Result<ActorRef<SupervisorMsg>, String> {
        Self::start_observed(None).await
    }

    /// As [`NodeSupervisor::start`], telling `observer` about every start and restart.
    pub async fn start_observed(observer: Option<SharedObserver>) -> Result<ActorRef<SupervisorMsg>, String> {
        let (actor, _) = Actor::spawn(None, NodeSupervisor, observer)
            .await
            .map_err(|e| e.to_string())?;
        Ok(actor)
    }

    /// Starts one actor under the supervisor, and starts it again with the same
    /// arguments whenever it fails.
    pub async fn start_singleton<A>(
        supervisor: &ActorRef<SupervisorMsg>,
        name: &str,
        actor: A,
        args: A::Arguments,
    ) -> Result<(), String>
    where
        A: Actor + Clone,
        A::Arguments: Clone + Sync,
    {
        let spawn: SpawnChild = Arc::new(move |supervisor_cell| {
            let (actor, args) = (actor.clone(), args.clone());
            Box::pin(async move {
                let (actor_ref, _) = Actor::spawn_linked(None, actor, args, supervisor_cell)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(actor_ref.get_cell())
            })
        });
        Self::start_child(supervisor, name, spawn).await
    }

    pub async fn start_child(
        supervisor: &ActorRef<SupervisorMsg>,
        name: impl Into<String>,
        spawn: SpawnChild,
    ) -> Result<(), String> {
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
            Ok(_) => Err(format!("supervisor did not answer while starting {name}")),
            Err(e) => Err(format!("supervisor unreachable: {e}")),
        }
    }
}

impl Actor for NodeSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Option<SharedObserver>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        observer: Option<SharedObserver>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState {
            children: HashMap::new(),
            observer,
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
                let result = match spawn(myself.get_cell()).await {
                    Ok(cell) => {
                        if let Some(observer) = &state.observer {
                            observer.started(&name);
                        }
                        state.children.insert(
                            cell.get_id(),
                            ChildSpec {
                                name,
                                spawn,
                                recent_restarts: VecDeque::new(),
                            },
                        );
                        Ok(())
                    }
                    Err(e) => Err(format!("starting {name}: {e}")),
                };
                let _ = reply.send(result);
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
        let Some(mut spec) = state.children.remove(&cell.get_id()) else {
            return Ok(());
        };
        tracing::error!(child = %spec.name, %error, "actor failed; restarting it");
        let now = Instant::now();
        spec.recent_restarts
            .retain(|at| now.duration_since(*at) < RESTART_WINDOW);
        if spec.recent_restarts.len() >= MAX_RESTARTS {
            tracing::error!(child = %spec.name, "restarting too often; stopping the node supervisor");
            myself.stop(Some(format!("{} keeps failing", spec.name)));
            return Ok(());
        }
        spec.recent_restarts.push_back(now);
        if let Some(observer) = &state.observer {
            observer.restarted(&spec.name);
        }
        match (spec.spawn)(myself.get_cell()).await {
            Ok(new_cell) => {
                state.children.insert(new_cell.get_id(), spec);
            }
            Err(e) => {
                tracing::error!(child = %spec.name, error = %e, "restart failed; stopping the node supervisor");
                myself.stop(Some(format!("{} could not restart", spec.name)));
            }
        }
        Ok(())
    }
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
    #[error("placing worker {worker} under the node supervisor: {reason}")]
    Supervise { worker: String, reason: String },
}

/// A fixed set of workers of one actor type. A key always maps to the same slot, so work
/// for one key runs in order while different keys run in parallel.
///
/// Kept instead of ractor's key-persistent factory because it measured faster on the same
/// workload (`actors/tests/keyed_routing_bench.rs`: 8 workers, 256 keys, 64 callers, dev
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
            let spawn: SpawnChild = Arc::new(move |supervisor_cell: ActorCell| {
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
                        .map_err(|e| e.to_string())?;
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
                .map_err(|reason| PoolStartError::Supervise { worker, reason })?;
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
