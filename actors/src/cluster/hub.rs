//! The live-event hub of an HTTP node, in the `folio.edge` group. It owns the open
//! `/events` streams of this node, by user; a push for a user goes to that user's
//! streams only. A stream that is closed is forgotten when it closes (a user whose last
//! stream closed leaves no entry behind), and one that does not keep up loses the event
//! (its client re-reads state when it reconnects) rather than holding the hub up. A
//! user may have only so many streams open on one node.
//!
//! A stream never outlives the credentials it was opened with: it ends when its token
//! expires, and when its session ends (logout, a password change, the account's
//! deletion) on whichever node that happened, with the reason as its last item.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use ractor::{
    Actor, ActorProcessingErr, ActorRef, Message,
    message::{BoxedDowncastErr, SerializedMessage},
};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{EDGE_GROUP, LivePush, SessionsEnded, StreamEndReason, wire};
use crate::supervisor::{KeyedPool, PoolStartError, SupervisorMsg};

pub const ACTOR: &str = "edge-hub";
const MESSAGE: &str = "EdgeHubMsg";
/// Events one stream may have waiting before it starts losing them.
const STREAM_BUFFER: usize = 64;

pub enum EdgeHubMsg {
    /// From any node: forward to the user's streams on this node.
    Push(LivePush),
    /// From any node: sessions of a user ended; their streams end with the reason.
    EndStreams(SessionsEnded),
    /// From this node's edge: a new `/events` stream.
    Subscribe { user_id: Uuid, stream: OpenStream },
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
            EdgeHubMsg::EndStreams(ended) => wire::cast("EndStreams", &ended),
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
            SerializedMessage::Cast { variant, args, .. } if variant == "EndStreams" => {
                Ok(EdgeHubMsg::EndStreams(wire::decode(MESSAGE, &variant, &args)?))
            }
            other => Err(wire::unknown(MESSAGE, &other)),
        }
    }
}

pub struct EdgeHub;

/// The hub's end of one stream.
pub struct OpenStream {
    /// The session of the token the stream was opened with (`None`: the token names
    /// none, and only the end of every session ends the stream).
    session: Option<Uuid>,
    events: mpsc::Sender<LivePush>,
    end: oneshot::Sender<StreamEndReason>,
}

impl OpenStream {
    /// A stream whose other end is dropped (tests of what crosses nodes).
    #[cfg(test)]
    pub(super) fn unconnected() -> Self {
        OpenStream {
            session: None,
            events: mpsc::channel(1).0,
            end: oneshot::channel().0,
        }
    }

    fn is_closed(&self) -> bool {
        self.events.is_closed()
    }

    fn end(self, reason: StreamEndReason) {
        // The stream may be gone already; then there is no one to tell.
        let _ = self.end.send(reason);
    }
}

#[derive(Default)]
pub struct EdgeHubState {
    streams: HashMap<Uuid, Vec<OpenStream>>,
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
                streams.retain(|stream| match stream.events.try_send(push.clone()) {
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
            EdgeHubMsg::EndStreams(ended) => {
                let Some(streams) = state.streams.remove(&ended.user_id) else {
                    return Ok(());
                };
                let (end, keep): (Vec<_>, Vec<_>) = streams
                    .into_iter()
                    .filter(|s| !s.is_closed())
                    .partition(|s| ended.sessions.include(s.session));
                for stream in end {
                    stream.end(ended.reason);
                }
                if !keep.is_empty() {
                    state.streams.insert(ended.user_id, keep);
                }
            }
            EdgeHubMsg::CountUsers(reply) => {
                let _ = reply.send(state.streams.len());
            }
            EdgeHubMsg::EndAll => {
                for stream in state.streams.drain().flat_map(|(_, streams)| streams) {
                    stream.end(StreamEndReason::Reconnect);
                }
            }
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

/// One open `/events` stream: its events, how it ends, and its place among the
/// user's streams, given back when it is dropped.
pub struct LiveStream {
    // Dropped first, so the hub finds the stream closed when told of it.
    events: mpsc::Receiver<LivePush>,
    end: oneshot::Receiver<StreamEndReason>,
    expires: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    ended: bool,
    _slot: StreamSlot,
}

/// What a stream yields: events, then one end with its reason.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    Push(LivePush),
    End(StreamEndReason),
}

impl LiveStream {
    /// The next event, or the end; `None` after the end.
    pub async fn next(&mut self) -> Option<StreamItem> {
        if self.ended {
            return None;
        }
        let Self {
            events, end, expires, ..
        } = self;
        let expiry = async {
            match expires.as_mut() {
                Some(sleep) => sleep.await,
                None => std::future::pending().await,
            }
        };
        let item = tokio::select! {
            // An end goes first: nothing is delivered once the credentials are gone.
            biased;
            reason = &mut *end => StreamItem::End(reason.unwrap_or(StreamEndReason::Reconnect)),
            () = expiry => StreamItem::End(StreamEndReason::TokenExpired),
            push = events.recv() => match push {
                Some(push) => StreamItem::Push(push),
                // The hub let go of the stream; its reason, if it gave one, is waiting.
                None => StreamItem::End(end.await.unwrap_or(StreamEndReason::Reconnect)),
            },
        };
        if matches!(item, StreamItem::End(_)) {
            self.ended = true;
        }
        Some(item)
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

    /// A stream of the user's live events, opened with a token of `session` that expires
    /// at `expires` (`None`: it does not). It ends at that expiry, when the session ends,
    /// and when the hub restarts (the client reconnects and re-reads state).
    pub fn subscribe(
        &self,
        user_id: Uuid,
        session: Option<Uuid>,
        expires: Option<DateTime<Utc>>,
    ) -> Result<LiveStream, SubscribeError> {
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
        let (events_tx, events) = mpsc::channel(STREAM_BUFFER);
        let (end_tx, end) = oneshot::channel();
        let stream = OpenStream {
            session,
            events: events_tx,
            end: end_tx,
        };
        self.pool
            .worker_for(&())
            .cast(EdgeHubMsg::Subscribe { user_id, stream })
            .map_err(|_| SubscribeError::HubUnavailable)?;
        let expires = expires.map(|at| {
            let left = (at - Utc::now()).to_std().unwrap_or_default();
            Box::pin(tokio::time::sleep(left))
        });
        Ok(LiveStream {
            events,
            end,
            expires,
            ended: false,
            _slot: slot,
        })
    }
}

#[cfg(test)]
mod tests {
    use ractor::message::SerializedMessage;

    use super::*;
    use crate::{
        cluster::{EndedSessions, LiveEvent, LiveEvents},
        supervisor::NodeSupervisor,
    };

    fn indexed(user_id: Uuid) -> LivePush {
        LivePush {
            user_id,
            at: Utc::now(),
            event: LiveEvent::ProjectIndexed {
                project_id: Uuid::now_v7(),
                version: 1,
            },
        }
    }

    async fn next(stream: &mut LiveStream) -> Option<StreamItem> {
        tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the stream answers within 5 s")
    }

    /// One test, because the edge group is global to the process: the hub, driven
    /// directly, ends exactly the streams of the sessions that ended, with the reason,
    /// and the streams that go on keep receiving.
    #[tokio::test]
    async fn the_hub_ends_the_streams_of_ended_sessions_and_only_those() {
        let supervisor = NodeSupervisor::start().await.expect("supervisor");
        let hub = LiveHub::start(&supervisor, 10, Duration::from_secs(15))
            .await
            .expect("hub");
        let (user, stranger) = (Uuid::now_v7(), Uuid::now_v7());
        let (kept, ended) = (Uuid::now_v7(), Uuid::now_v7());
        let mut in_kept = hub.subscribe(user, Some(kept), None).expect("stream");
        let mut in_ended = hub.subscribe(user, Some(ended), None).expect("stream");
        let mut sessionless = hub.subscribe(user, None, None).expect("stream");
        let mut strangers = hub.subscribe(stranger, Some(ended), None).expect("stream");

        LiveEvents.end_streams(SessionsEnded {
            user_id: user,
            sessions: EndedSessions::AllExcept { keep: kept },
            reason: StreamEndReason::PasswordChanged,
        });
        for stream in [&mut in_ended, &mut sessionless] {
            assert_eq!(
                next(stream).await,
                Some(StreamItem::End(StreamEndReason::PasswordChanged))
            );
            assert_eq!(next(stream).await, None, "nothing after the end");
        }
        let push = indexed(user);
        LiveEvents.publish(user, push.event.clone());
        match next(&mut in_kept).await {
            Some(StreamItem::Push(got)) => assert_eq!(got.event, push.event),
            other => panic!("the kept session's stream goes on: {other:?}"),
        }
        LiveEvents.publish(stranger, push.event.clone());
        assert!(matches!(next(&mut strangers).await, Some(StreamItem::Push(_))));

        LiveEvents.end_streams(SessionsEnded {
            user_id: user,
            sessions: EndedSessions::One { session: kept },
            reason: StreamEndReason::LoggedOut,
        });
        assert_eq!(
            next(&mut in_kept).await,
            Some(StreamItem::End(StreamEndReason::LoggedOut))
        );
        drop((in_kept, in_ended, sessionless));

        // A stream opened with a token that expires ends then, with no one ending it.
        let mut expiring = hub
            .subscribe(stranger, None, Some(Utc::now() + chrono::Duration::milliseconds(200)))
            .expect("stream");
        assert_eq!(
            next(&mut expiring).await,
            Some(StreamItem::End(StreamEndReason::TokenExpired))
        );

        // Shutting down ends the rest, saying so.
        hub.end_all();
        assert_eq!(
            next(&mut strangers).await,
            Some(StreamItem::End(StreamEndReason::Reconnect))
        );
        supervisor.stop(None);
    }

    #[test]
    fn an_end_of_sessions_crosses_nodes_as_it_was_sent() {
        let ended = SessionsEnded {
            user_id: Uuid::now_v7(),
            sessions: EndedSessions::AllExcept { keep: Uuid::now_v7() },
            reason: StreamEndReason::AccountDeleted,
        };
        let serialized = EdgeHubMsg::EndStreams(ended).serialize().expect("serializes");
        let SerializedMessage::Cast {
            ref variant, ref args, ..
        } = serialized
        else {
            panic!("a cast");
        };
        assert_eq!(variant, "EndStreams");
        let wire: serde_json::Value = serde_json::from_slice(args).expect("JSON");
        assert_eq!(wire["reason"], "account_deleted");
        assert_eq!(wire["sessions"]["kind"], "all_except");
        match EdgeHubMsg::deserialize(serialized) {
            Ok(EdgeHubMsg::EndStreams(back)) => assert_eq!(back, ended),
            _ => panic!("decodes as sent"),
        }
    }
}
