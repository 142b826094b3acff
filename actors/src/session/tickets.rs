//! Single-use tickets for `GET /events` (browsers' `EventSource` sends no headers, and an
//! access token never goes in a URL). Stored hashed in the session domain's
//! `event_tickets` table, so any HTTP node redeems a ticket another issued; redeeming
//! deletes it, and the delete decides a race between two redemptions. A ticket carries
//! the session and expiry of the access token it was issued on, so the stream it opens
//! ends with that session or that token, as a stream opened with the token would.

use std::time::Duration;

use chrono::{DateTime, Utc};
use folio_entities::event_tickets;
use sea_orm::{ActiveModelTrait as _, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::{
    SessionError,
    tokens::{Claims, new_refresh_token, refresh_token_digest},
};

pub const TICKET_TTL: Duration = Duration::from_secs(60);

/// A ticket as handed to the client.
#[derive(Debug, Clone)]
pub struct EventTicket {
    pub ticket: String,
    pub expires_in_secs: u64,
}

/// Whom a redeemed ticket was issued to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketHolder {
    pub user_id: Uuid,
    /// The session of the token it was issued on (`None`: that token named none).
    pub session_id: Option<Uuid>,
    /// When that token expires (`None` for tickets issued before this was recorded).
    pub token_expires_at: Option<DateTime<Utc>>,
}

pub async fn issue(db: &DatabaseConnection, claims: &Claims) -> Result<EventTicket, SessionError> {
    let now = Utc::now();
    // Expired tickets go as new ones are made, so the table stays as small as the
    // number of streams being opened in a minute.
    event_tickets::Entity::delete_many()
        .filter(event_tickets::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    let ticket = new_refresh_token();
    event_tickets::ActiveModel {
        ticket_hash: Set(refresh_token_digest(&ticket)),
        user_id: Set(claims.sub),
        session_id: Set(claims.sid),
        token_expires_at: Set(DateTime::from_timestamp(claims.exp, 0)),
        expires_at: Set(now + chrono::Duration::from_std(TICKET_TTL).unwrap_or(chrono::Duration::seconds(60))),
    }
    .insert(db)
    .await?;
    Ok(EventTicket {
        ticket,
        expires_in_secs: TICKET_TTL.as_secs(),
    })
}

/// Whom the ticket was issued to; the ticket is spent. An unknown, expired or already
/// used ticket is refused.
pub async fn redeem(db: &DatabaseConnection, ticket: &str) -> Result<TicketHolder, SessionError> {
    let hash = refresh_token_digest(ticket);
    let Some(row) = event_tickets::Entity::find_by_id(hash.clone()).one(db).await? else {
        return Err(SessionError::InvalidTicket);
    };
    let spent = event_tickets::Entity::delete_many()
        .filter(event_tickets::Column::TicketHash.eq(hash))
        .filter(event_tickets::Column::ExpiresAt.gt(Utc::now()))
        .exec(db)
        .await?;
    if spent.rows_affected != 1 {
        return Err(SessionError::InvalidTicket);
    }
    Ok(TicketHolder {
        user_id: row.user_id,
        session_id: row.session_id,
        token_expires_at: row.token_expires_at,
    })
}
