//! The live-event hub of an HTTP node, in the `folio.edge` group. It owns the open
//! `/events` streams of this node, by user; a push for a user goes to that user's
//! streams only. A stream that is closed is forgotten at the next push, and one that
//! does not keep up loses the event (its client re-reads state when it reconnects)
//! rather than holding the hub up.

use std::{collections::HashMap, time::Duration};

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
            EdgeHubMsg::Subscribe { .. } | EdgeHubMsg::EndAll => Err(BoxedDowncastErr),
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
            EdgeHubMsg::EndAll => state.streams.clear(),
        }
        Ok(())
    }
}

/// How the edge opens `/events` streams on its node's hub.
#[derive(Clone)]
pub struct LiveHub(KeyedPool<EdgeHubMsg>);

#[derive(Debug, thiserror::Error)]
#[error("the live-event hub is restarting; try again")]
pub struct HubUnavailable;

impl LiveHub {
    pub async fn start(supervisor: &ActorRef<SupervisorMsg>) -> Result<Self, PoolStartError> {
        KeyedPool::start(supervisor, ACTOR, 1, Duration::from_secs(5), || (EdgeHub, ()))
            .await
            .map(Self)
    }

    /// Ends every open stream (shutdown).
    pub fn end_all(&self) {
        let _ = self.0.worker_for(&()).cast(EdgeHubMsg::EndAll);
    }

    /// A stream of the user's live events. It ends when the hub restarts (the client
    /// reconnects and re-reads state).
    pub fn subscribe(&self, user_id: Uuid) -> Result<mpsc::Receiver<LivePush>, HubUnavailable> {
        let (stream, events) = mpsc::channel(STREAM_BUFFER);
        self.0
            .worker_for(&())
            .cast(EdgeHubMsg::Subscribe { user_id, stream })
            .map_err(|_| HubUnavailable)?;
        Ok(events)
    }
}
