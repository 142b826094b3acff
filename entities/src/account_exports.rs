use sea_orm::entity::prelude::*;

/// An account export: `running` until its archive is written (`ready`) or it gives up
/// (`failed`); a ready one becomes `expired` when its archive is deleted. One export of a
/// user runs at a time (a partial unique index on running rows).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_exports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// `running`, `ready`, `failed` or `expired`.
    pub status: String,
    pub requested_at: DateTimeUtc,
    /// Set by the run building the archive, and again every few seconds while it works;
    /// a running export whose heartbeat stops is resumed or failed.
    pub heartbeat_at: DateTimeUtc,
    /// The run that holds the export (a fresh id per delivery that claimed it).
    pub claim: Option<Uuid>,
    /// Runs that claimed it so far.
    pub attempts: i32,
    /// Where the archive is stored: `exports/<user_id>/<export_id>.zip`.
    pub blob_key: String,
    pub completed_at: Option<DateTimeUtc>,
    /// When the link stops working and the archive is deleted.
    pub expires_at: Option<DateTimeUtc>,
    pub size_bytes: Option<i64>,
    pub projects: Option<i32>,
    pub files: Option<i32>,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
