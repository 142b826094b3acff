use sea_orm::entity::prelude::*;

/// An account deletion: pending until `completed_at`, and the deleted account's names
/// held back from registration until `held_until`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_deletions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub username: String,
    /// Lower-cased, as the users table stores it.
    pub email: String,
    pub requested_at: DateTimeUtc,
    pub held_until: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    /// Failed runs so far; the console shows them and offers a retry.
    pub attempts: i32,
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
