//! Nodes that know each other. JetStream keeps everything durable (events, thumbnail
//! jobs); what crosses nodes here is short-lived and typed: a request answered within a
//! timeout (`Describe`), or a push whose loss costs a client one refresh (live events).
//!
//! - [`agent`]: one `NodeAgent` per node in the `folio.node` group, answering `Describe`.
//! - [`hub`]: the live-event hub of each HTTP node, in the `folio.edge` group; the
//!   thumbnailer and the indexer push to every hub, and each hub forwards to the open
//!   `/events` streams of the event's owner.
//! - [`registry`] and [`dialer`]: discovery through a NATS key-value bucket, and the
//!   actor that keeps a session open to every node listed there.
//! - [`wire`]: the one encoding of messages that cross nodes.
//!
//! An embedded node is its own cluster: no node server, the groups are in-process.

pub mod agent;
pub mod dialer;
pub mod gate;
pub mod hub;
pub mod registry;
pub mod server;
pub mod wire;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use agent::{NodeAgentClient, NodeAgentMsg, NodeIdentity};
pub use hub::{EdgeHubMsg, LiveHub};

/// Every node's agent.
pub const NODE_GROUP: &str = "folio.node";
/// The live-event hub of every HTTP node.
pub const EDGE_GROUP: &str = "folio.edge";
/// The keeper of every node's in-memory project views.
pub const PROJECT_VIEWS_GROUP: &str = "folio.project-views";

/// What a node says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeDescription {
    pub name: String,
    pub roles: Vec<String>,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub uptime_secs: u64,
    /// Where its HTTP edge (or ops endpoints) listen; `None` on a node without either.
    pub http_addr: Option<String>,
    /// Where other nodes dial it; `None` on an embedded node.
    pub cluster_addr: Option<String>,
    /// Restarts per supervised actor (pool workers counted under their pool).
    pub actor_restarts: BTreeMap<String, u64>,
}

/// A change a signed-in user sees live on `GET /events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum LiveEvent {
    #[serde(rename = "media.thumbnail_ready")]
    ThumbnailReady {
        file_id: Uuid,
        thumbnail_url: String,
        width: u32,
        height: u32,
        /// Absent in pushes from nodes older than renditions: decoded as none.
        #[serde(default)]
        renditions: Vec<crate::media::RenditionView>,
    },
    #[serde(rename = "media.thumbnail_failed")]
    ThumbnailFailed { file_id: Uuid, error: String },
    #[serde(rename = "project.indexed")]
    ProjectIndexed { project_id: Uuid, version: i64 },
    /// The account export the user asked for is ready to download.
    #[serde(rename = "export.ready")]
    ExportReady {
        export_id: Uuid,
        /// The signed download link (it also needs the owner's bearer token).
        url: String,
        size_bytes: u64,
        expires_at: DateTime<Utc>,
    },
}

/// A live event on its way to the hubs: whose it is, and when the change it reports
/// was committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivePush {
    pub user_id: Uuid,
    pub at: DateTime<Utc>,
    pub event: LiveEvent,
}

/// Why a live-event stream ended: the reason of its last event, `end`. Every reason
/// means "reconnect with valid credentials and re-read state"; the reason says whether
/// that is worth trying (not after `account_deleted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEndReason {
    /// The access token the stream was opened with (or its ticket's) expired.
    TokenExpired,
    /// Its session was signed out (that session, or every session).
    LoggedOut,
    /// The password changed, which ends every session but the one that changed it.
    PasswordChanged,
    /// The account is being deleted.
    AccountDeleted,
    /// The node ended it (shutting down, or its hub restarted); reconnect.
    Reconnect,
}

/// Which of a user's sessions ended; a stream belongs to the session of the token it
/// was opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EndedSessions {
    /// Every session (a stream opened with a token that names no session, too).
    All,
    /// Every session but this one.
    AllExcept { keep: Uuid },
    /// This one session.
    One { session: Uuid },
}

impl EndedSessions {
    /// Whether a stream opened in `session` is among those ended.
    pub fn include(&self, session: Option<Uuid>) -> bool {
        match *self {
            EndedSessions::All => true,
            EndedSessions::AllExcept { keep } => session != Some(keep),
            EndedSessions::One { session: ended } => session == Some(ended),
        }
    }
}

/// Sessions of a user ended: every hub ends the streams opened in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsEnded {
    pub user_id: Uuid,
    pub sessions: EndedSessions,
    pub reason: StreamEndReason,
}

/// Sends live events to every `folio.edge` hub, on this node and the others. A hub that
/// cannot be reached misses the event: its clients re-read state when they reconnect.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveEvents;

impl LiveEvents {
    pub fn publish(&self, user_id: Uuid, event: LiveEvent) {
        let push = LivePush {
            user_id,
            at: Utc::now(),
            event,
        };
        for member in ractor::pg::get_members(&EDGE_GROUP.to_string()) {
            let hub: ractor::ActorRef<EdgeHubMsg> = member.into();
            if let Err(e) = hub.cast(EdgeHubMsg::Push(push.clone())) {
                tracing::debug!(hub = %hub.get_id(), error = %e, "a live-event hub is gone");
            }
        }
    }

    /// Ends the streams of sessions that ended, on every node. A hub that cannot be
    /// reached (its node is gone) has no streams left to end.
    pub fn end_streams(&self, ended: SessionsEnded) {
        for member in ractor::pg::get_members(&EDGE_GROUP.to_string()) {
            let hub: ractor::ActorRef<EdgeHubMsg> = member.into();
            if let Err(e) = hub.cast(EdgeHubMsg::EndStreams(ended)) {
                tracing::debug!(hub = %hub.get_id(), error = %e, "a live-event hub is gone");
            }
        }
    }
}
