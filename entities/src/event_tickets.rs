use sea_orm::entity::prelude::*;

/// A single-use ticket for `GET /events`, valid until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_tickets")]
pub struct Model {
    /// Hex SHA-256 of the ticket: the ticket itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub ticket_hash: String,
    pub user_id: Uuid,
    /// The session of the access token the ticket was issued on.
    pub session_id: Option<Uuid>,
    /// When that access token expires: the stream the ticket opens ends then.
    pub token_expires_at: Option<DateTimeUtc>,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
