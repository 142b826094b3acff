//! `GET /events`: the signed-in user's live events as Server-Sent Events, from this
//! node's hub (which every node's thumbnailer and indexer push to). Authenticated by the
//! `Authorization` header, or, for browsers' `EventSource` (which cannot send headers),
//! by a single-use ticket from `POST /events/ticket` in the `ticket` query parameter:
//! an access token never goes in a URL.
//!
//! Events are pushes, not a log: one sent while a client is not connected is not kept.
//! A client that (re)connects re-reads the state it shows (its media, its projects) and
//! then applies the events that follow.

use chrono::{DateTime, Utc};
use folio_actors::{
    cluster::{
        LiveEvent, LivePush, StreamEndReason,
        hub::{StreamItem, SubscribeError},
    },
    session::tickets::TicketHolder,
};
use futures::{StreamExt as _, stream::BoxStream};
use poem::Request;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi, SecurityScheme, Union,
    auth::ApiKey,
    payload::{EventStream, Json},
    types::ToJSON as _,
};
use uuid::Uuid;

use crate::{
    EdgeState,
    auth::BearerAuth,
    error::{ApiError, ErrorCode},
};

/// A single-use ticket from `POST /events/ticket`, valid for 60 s.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "ticket", key_in = "query", checker = "redeem_ticket")]
pub struct EventTicketAuth(pub TicketHolder);

async fn redeem_ticket(req: &Request, key: ApiKey) -> poem::Result<TicketHolder> {
    let state = req.data::<EdgeState>().ok_or_else(ApiError::internal)?;
    Ok(state
        .session
        .redeem_event_ticket(&key.key)
        .await
        .map_err(ApiError::from)?)
}

/// The bearer token, or a ticket.
#[derive(SecurityScheme)]
pub enum EventsAuth {
    Bearer(BearerAuth),
    Ticket(EventTicketAuth),
}

/// Whose stream it is: the user, the session of the token it was opened with, and when
/// that token expires.
struct StreamOwner {
    user_id: Uuid,
    session_id: Option<Uuid>,
    token_expires_at: Option<DateTime<Utc>>,
}

impl EventsAuth {
    fn owner(&self) -> StreamOwner {
        match self {
            EventsAuth::Bearer(BearerAuth(claims)) => StreamOwner {
                user_id: claims.sub,
                session_id: claims.sid,
                token_expires_at: DateTime::from_timestamp(claims.exp, 0),
            },
            EventsAuth::Ticket(EventTicketAuth(holder)) => StreamOwner {
                user_id: holder.user_id,
                session_id: holder.session_id,
                token_expires_at: holder.token_expires_at,
            },
        }
    }
}

/// `media.thumbnail_ready`: the thumbnail of one of your uploads is ready.
#[derive(Debug, Object)]
pub struct ThumbnailReadyEvent {
    pub file_id: Uuid,
    pub thumbnail_url: String,
    /// The uploaded image's size, in pixels, as displayed.
    pub width: u32,
    pub height: u32,
    /// Every size and format made, smallest first (as in the media's `renditions`).
    pub renditions: Vec<crate::routes::media::RenditionReply>,
    /// When the thumbnail was recorded.
    pub at: DateTime<Utc>,
}

/// `media.thumbnail_failed`: no thumbnail will be made for this upload.
#[derive(Debug, Object)]
pub struct ThumbnailFailedEvent {
    pub file_id: Uuid,
    pub error: String,
    pub at: DateTime<Utc>,
}

/// `project.indexed`: this version of one of your projects is searchable.
#[derive(Debug, Object)]
pub struct ProjectIndexedEvent {
    pub project_id: Uuid,
    pub version: i64,
    pub at: DateTime<Utc>,
}

/// `export.ready`: the account export you asked for is ready; fetch `url` (with your
/// bearer token) before `expires_at`.
#[derive(Debug, Object)]
pub struct ExportReadyEvent {
    pub export_id: Uuid,
    pub url: String,
    pub size_bytes: u64,
    pub expires_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum StreamEndReasonBody {
    /// The access token the stream was opened with (or its ticket's token) expired.
    TokenExpired,
    /// Its session was signed out (that session, or every session).
    LoggedOut,
    /// The password was changed, which ends every other session.
    PasswordChanged,
    /// The account is being deleted: do not reconnect.
    AccountDeleted,
    /// The node ended it (shutting down or restarting its hub).
    Reconnect,
}

impl From<StreamEndReason> for StreamEndReasonBody {
    fn from(reason: StreamEndReason) -> Self {
        match reason {
            StreamEndReason::TokenExpired => StreamEndReasonBody::TokenExpired,
            StreamEndReason::LoggedOut => StreamEndReasonBody::LoggedOut,
            StreamEndReason::PasswordChanged => StreamEndReasonBody::PasswordChanged,
            StreamEndReason::AccountDeleted => StreamEndReasonBody::AccountDeleted,
            StreamEndReason::Reconnect => StreamEndReasonBody::Reconnect,
        }
    }
}

/// `end`: the last event of a stream. A stream never outlives the credentials it was
/// opened with: it ends when that access token expires and when its session ends
/// (logout, a password change, the account's deletion), on any node. Reconnect with
/// valid credentials and re-read state, unless the account is deleted.
#[derive(Debug, Object)]
pub struct StreamEndEvent {
    pub reason: StreamEndReasonBody,
    pub at: DateTime<Utc>,
}

/// One live event; the SSE event name is the same as `type`.
#[derive(Debug, Union)]
#[oai(discriminator_name = "type")]
pub enum LiveEventBody {
    #[oai(mapping = "media.thumbnail_ready")]
    ThumbnailReady(ThumbnailReadyEvent),
    #[oai(mapping = "media.thumbnail_failed")]
    ThumbnailFailed(ThumbnailFailedEvent),
    #[oai(mapping = "project.indexed")]
    ProjectIndexed(ProjectIndexedEvent),
    #[oai(mapping = "export.ready")]
    ExportReady(ExportReadyEvent),
    #[oai(mapping = "end")]
    End(StreamEndEvent),
}

impl LiveEventBody {
    fn name(&self) -> &'static str {
        match self {
            LiveEventBody::ThumbnailReady(_) => "media.thumbnail_ready",
            LiveEventBody::ThumbnailFailed(_) => "media.thumbnail_failed",
            LiveEventBody::ProjectIndexed(_) => "project.indexed",
            LiveEventBody::ExportReady(_) => "export.ready",
            LiveEventBody::End(_) => "end",
        }
    }
}

impl From<LivePush> for LiveEventBody {
    fn from(push: LivePush) -> Self {
        let at = push.at;
        match push.event {
            LiveEvent::ThumbnailReady {
                file_id,
                thumbnail_url,
                width,
                height,
                renditions,
            } => LiveEventBody::ThumbnailReady(ThumbnailReadyEvent {
                file_id,
                thumbnail_url,
                width,
                height,
                renditions: renditions.into_iter().map(Into::into).collect(),
                at,
            }),
            LiveEvent::ThumbnailFailed { file_id, error } => {
                LiveEventBody::ThumbnailFailed(ThumbnailFailedEvent { file_id, error, at })
            }
            LiveEvent::ProjectIndexed { project_id, version } => LiveEventBody::ProjectIndexed(ProjectIndexedEvent {
                project_id,
                version,
                at,
            }),
            LiveEvent::ExportReady {
                export_id,
                url,
                size_bytes,
                expires_at,
            } => LiveEventBody::ExportReady(ExportReadyEvent {
                export_id,
                url,
                size_bytes,
                expires_at,
                at,
            }),
        }
    }
}

#[derive(Debug, Object)]
pub struct EventTicketReply {
    /// Pass as `GET /events?ticket=…`; it works once.
    pub ticket: String,
    pub expires_in: u64,
}

#[derive(ApiResponse)]
pub enum TicketResponse {
    /// A new ticket.
    #[oai(status = 201)]
    Created(Json<EventTicketReply>),
}

fn ticket_in(req: &Request) -> Option<String> {
    req.uri()
        .query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "ticket")
        .map(|(_, value)| value.to_string())
}

pub struct EventsApi {
    pub state: EdgeState,
}

#[OpenApi(tag = "crate::ApiTags::Live")]
impl EventsApi {
    /// Your live events, as Server-Sent Events (`media.thumbnail_ready`,
    /// `media.thumbnail_failed`, `project.indexed`), with a keep-alive comment every 15 s.
    /// Events sent while you are not connected are not kept: re-read your state when
    /// you (re)connect. The stream ends with an `end` event when the access token it was
    /// opened with (or its ticket's) expires and when that token's session ends (logout,
    /// password change, account deletion); a token whose session has ended is refused.
    #[oai(path = "/events", method = "get", operation_id = "streamEvents")]
    async fn events(
        &self,
        req: &Request,
        auth: EventsAuth,
    ) -> Result<EventStream<BoxStream<'static, LiveEventBody>>, ApiError> {
        // A ticket next to a bearer token must be the same user's: a stream is never
        // opened on a ticket someone else was given. The ticket is spent either way.
        if let EventsAuth::Bearer(BearerAuth(claims)) = &auth
            && let Some(ticket) = ticket_in(req)
            && self.state.session.redeem_event_ticket(&ticket).await?.user_id != claims.sub
        {
            return Err(ApiError::forbidden("the ticket was issued to another user"));
        }
        let hub = self
            .state
            .live
            .as_ref()
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "this node serves no live events"))?;
        let owner = auth.owner();
        let live = hub
            .subscribe(owner.user_id, owner.session_id, owner.token_expires_at)
            .map_err(|e| match e {
                SubscribeError::TooManyStreams { .. } => ApiError::new(ErrorCode::TooManyStreams, e.to_string()),
                SubscribeError::HubUnavailable => ApiError::new(ErrorCode::Unavailable, e.to_string()),
            })?;
        // Checked after subscribing: a session that ends from here on ends the stream
        // through the hub, and one that ended before is refused here, so no stream is
        // ever opened in an ended session.
        if let Some(session_id) = owner.session_id
            && !self.state.session.session_open(owner.user_id, session_id).await?
        {
            return Err(ApiError::unauthorized(
                "the session this token belongs to has ended; sign in again",
            ));
        }
        let stream = futures::stream::unfold(Some(live), |live| async move {
            let mut live = live?;
            match live.next().await? {
                StreamItem::Push(push) => Some((LiveEventBody::from(push), Some(live))),
                StreamItem::End(reason) => Some((
                    LiveEventBody::End(StreamEndEvent {
                        reason: reason.into(),
                        at: Utc::now(),
                    }),
                    None,
                )),
            }
        })
        .boxed();
        Ok(EventStream::new(stream)
            .keep_alive(hub.keep_alive())
            .to_event(|body| poem::web::sse::Event::message(body.to_json_string()).event_type(body.name())))
    }

    /// A single-use ticket for `GET /events?ticket=…`, valid for 60 s: browsers'
    /// `EventSource` cannot send an `Authorization` header. The stream it opens belongs
    /// to this access token's session and ends when this token expires.
    #[oai(path = "/events/ticket", method = "post", operation_id = "createEventsTicket")]
    async fn ticket(&self, auth: BearerAuth) -> Result<TicketResponse, ApiError> {
        let ticket = self.state.session.issue_event_ticket(&auth.0).await?;
        Ok(TicketResponse::Created(Json(EventTicketReply {
            ticket: ticket.ticket,
            expires_in: ticket.expires_in_secs,
        })))
    }
}
