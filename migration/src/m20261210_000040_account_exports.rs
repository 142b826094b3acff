//! Account exports (issue 21 §3): one row per export, written by the export domain. A
//! partial unique index lets a user have one running export at a time, whichever node
//! takes the request. No foreign key: the account deleter removes a deleted user's
//! exports (and their archives) before the account goes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccountExports {
    Table,
    Id,
    UserId,
    Status,
    RequestedAt,
    HeartbeatAt,
    Claim,
    Attempts,
    BlobKey,
    CompletedAt,
    ExpiresAt,
    SizeBytes,
    Projects,
    Files,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccountExports::Table)
                    .if_not_exists()
                    .col(pk_uuid(AccountExports::Id))
                    .col(uuid(AccountExports::UserId))
                    .col(string_len(AccountExports::Status, 16))
                    .col(timestamp_with_time_zone(AccountExports::RequestedAt))
                    .col(timestamp_with_time_zone(AccountExports::HeartbeatAt))
                    .col(uuid_null(AccountExports::Claim))
                    .col(integer(AccountExports::Attempts).default(0))
                    .col(string_len(AccountExports::BlobKey, 200))
                    .col(timestamp_with_time_zone_null(AccountExports::CompletedAt))
                    .col(timestamp_with_time_zone_null(AccountExports::ExpiresAt))
                    .col(big_integer_null(AccountExports::SizeBytes))
                    .col(integer_null(AccountExports::Projects))
                    .col(integer_null(AccountExports::Files))
                    .col(text_null(AccountExports::Error))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_account_exports_user ON account_exports (user_id, requested_at)",
        )
        .await?;
        // One running export per user, decided by the database on every node.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS idx_account_exports_one_running ON account_exports (user_id) \
             WHERE status = 'running'",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_account_exports_status ON account_exports (status, expires_at)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccountExports::Table).to_owned())
            .await
    }
}
