//! The live-event hub of an HTTP node, in the `folio.edge` group. It owns the open
//! `/events` streams of this node, by user; a push for a user goes to that user's
//! streams only. A stream that is closed is forgotten when it closes (a user whose last
//! stream closed leaves no entry behind), and one that does not keep up loses the event
//! (its client re-reads state when it reconnects) rather than holding the hub up. A
//! user may have only so many streams open on one node.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use ractor::{
    Actor, ActorProcessingErr, ActorRef, Message,
    message::{BoxedDowncastErr, SerializedMessage},
};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{EDGE_GROUP, LivePush, wire};
use crate::supervisor::{KeyedPool, PoolStartError, SupervisorMsg};

pub const ACTOR: &str = "edge-hub";
const MESSAGE: &str = "EdgeHubMsg";
/// Events one stream may have waiting before it starts losing them.
const STREAM_BUFFER: usize = 64;

pub enum EdgeHubMsg {
    /// From any node: forward to the user's streams on this node.
    Push(LivePush),
    /// From this node's edge: a new `/events` stream.
    Subscribe {
        user_id: Uuid,
        stream: mpsc::Sender<LivePush>,
    },
    /// From this node's edge: one of the user's streams closed.
    Closed { user_id: Uuid },
    /// How many users have an entry (an open stream); for tests and diagnostics.
    CountUsers(ractor::RpcReplyPort<usize>),
    /// The node is shutting down: end every stream, so that open `/events` requests
    /// finish instead of holding the graceful shutdown for its whole grace period.
    EndAll,
}

impl Message for EdgeHubMsg {
    fn serializable() -> bool {
        true
    }

    fn serialize(self) -> Result<SerializedMessage, BoxedDowncastErr> {
        match self {
            EdgeHubMsg::Push(push) => wire::cast("Push", &push),
            // A stream lives on its own node; there is nothing to send.
            EdgeHubMsg::Subscribe { .. }
            | EdgeHubMsg::Closed { .. }
            | EdgeHubMsg::CountUsers(_)
            | EdgeHubMsg::EndAll => Err(BoxedDowncastErr),
        }
    }

    fn deserialize(message: SerializedMessage) -> Result<Self, BoxedDowncastErr> {
        match message {
            SerializedMessage::Cast { variant, args, .. } if variant == "Push" => {
                Ok(EdgeHubMsg::Push(wire::decode(MESSAGE, &variant, &args)?))
            }
            other => Err(wire::unknown(MESSAGE, &other)),
        }
    }
}

pub struct EdgeHub;

#[derive(Default)]
pub struct EdgeHubState {
    streams: HashMap<Uuid, Vec<mpsc::Sender<LivePush>>>,
}

impl Actor for EdgeHub {
    type Msg = EdgeHubMsg;
    type State = EdgeHubState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, _: ()) -> Result<Self::State, ActorProcessingErr> {
        ractor::pg::join(EDGE_GROUP.to_string(), vec![myself.get_cell()]);
        Ok(EdgeHubState::default())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            EdgeHubMsg::Push(push) => {
                let Some(streams) = state.streams.get_mut(&push.user_id) else {
                    return Ok(());
                };
                streams.retain(|stream| match stream.try_send(push.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::debug!(user_id = %push.user_id, "an /events stream is behind; it loses this event");
                        true
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                });
                if streams.is_empty() {
                    state.streams.remove(&push.user_id);
                }
            }
            EdgeHubMsg::Subscribe { user_id, stream } => {
                let streams = state.streams.entry(user_id).or_default();
                streams.retain(|s| !s.is_closed());
                streams.push(stream);
            }
            EdgeHubMsg::Closed { user_id } => {
                if let Some(streams) = state.streams.get_mut(&user_id) {
                    streams.retain(|s| !s.is_closed());
                    if streams.is_empty() {
                        state.streams.remove(&user_id);
                    }
                }
            }
            EdgeHubMsg::CountUsers(reply) => {
                let _ = reply.send(state.streams.len());
            }
            EdgeHubMsg::EndAll => state.streams.clear(),
        }
        Ok(())
    }
}

/// How the edge opens `/events` streams on its node's hub.
#[derive(Clone)]
pub struct LiveHub {
    pool: KeyedPool<EdgeHubMsg>,
    /// Open streams per user on this node; a user with none has no entry.
    open: Arc<Mutex<HashMap<Uuid, usize>>>,
    max_streams_per_user: usize,
    keep_alive: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("the live-event hub is restarting; try again")]
    HubUnavailable,
    #[error("too many open event streams for this user (at most {max} per node); close one first")]
    TooManyStreams { max: usize },
}

/// One open `/events` stream: its events, and its place among the user's streams,
/// given back when it is dropped.
pub struct LiveStream {
    // Dropped first, so the hub finds the stream closed when told of it.
    events: mpsc::Receiver<LivePush>,
    _slot: StreamSlot,
}

impl LiveStream {
    pub async fn recv(&mut self) -> Option<LivePush> {
        self.events.recv().await
    }
}

struct StreamSlot {
    user_id: Uuid,
    hub: LiveHub,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.hub.open.lock()
            && let Some(n) = open.get_mut(&self.user_id)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.user_id);
            }
        }
        let _ = self
            .hub
            .pool
            .worker_for(&())
            .cast(EdgeHubMsg::Closed { user_id: self.user_id });
    }
}

impl LiveHub {
    /// `keep_alive`: how often an idle stream gets a comment line, which keeps proxies
    /// from closing it and is also how the edge learns that a client went away.
    pub async fn start(
        supervisor: &ActorRef<SupervisorMsg>,
        max_streams_per_user: usize,
        keep_alive: Duration,
    ) -> Result<Self, PoolStartError> {
        let pool = KeyedPool::start(supervisor, ACTOR, 1, Duration::from_secs(5), || (EdgeHub, ())).await?;
        Ok(Self {
            pool,
            open: Arc::default(),
            max_streams_per_user,
            keep_alive,
        })
    }

    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }

    /// Ends every open stream (shutdown).
    pub fn end_all(&self) {
        let _ = self.pool.worker_for(&()).cast(EdgeHubMsg::EndAll);
    }

    /// Users with at least one open stream on this node, as the edge counts them and
    /// as the hub keeps them (`None` when the hub did not answer).
    pub async fn users_with_streams(&self) -> (usize, Option<usize>) {
        let counted = self.open.lock().map(|open| open.len()).unwrap_or(0);
        let kept = match self
            .pool
            .worker_for(&())
            .call(EdgeHubMsg::CountUsers, Some(Duration::from_secs(2)))
            .await
        {
            Ok(ractor::rpc::CallResult::Success(n)) => Some(n),
            _ => None,
        };
        (counted, kept)
    }

    /// A stream of the user's live events. It ends when the hub restarts (the client
    /// reconnects and re-reads state).
    pub fn subscribe(&self, user_id: Uuid) -> Result<LiveStream, SubscribeError> {
        {
            let mut open = self.open.lock().map_err(|_| SubscribeError::HubUnavailable)?;
            let count = open.entry(user_id).or_insert(0);
            if *count >= self.max_streams_per_user {
                if *count == 0 {
                    open.remove(&user_id);
                }
                return Err(SubscribeError::TooManyStreams {
                    max: self.max_streams_per_user,
                });
            }
            *count += 1;
        }
        // From here the slot gives the count back, whatever happens.
        let slot = StreamSlot {
            user_id,
            hub: self.clone(),
        };
        let (stream, events) = mpsc::channel(STREAM_BUFFER);
        self.pool
            .worker_for(&())
            .cast(EdgeHubMsg::Subscribe { user_id, stream })
            .map_err(|_| SubscribeError::HubUnavailable)?;
        Ok(LiveStream { events, _slot: slot })
    }
}
