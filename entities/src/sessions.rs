use sea_orm::entity::prelude::*;

/// A login session: one refresh-token family (`id` is its `family_id`), with what the
/// user needs to recognise it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTimeUtc,
    /// The last login or refresh of the family.
    pub last_used_at: DateTimeUtc,
    /// As first seen; `None` for sessions opened before sessions were recorded.
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
