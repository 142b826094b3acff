//! Accounts being deleted, and deleted ones whose username and email are still held
//! back from registration. Written by the session domain: a row is made in the same
//! transaction as the `user.deleted` event, marked done when every domain removed its
//! part, and kept until `held_until` so the names cannot be taken over at once. No
//! foreign key: the row outlives the account.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccountDeletions {
    Table,
    UserId,
    Username,
    Email,
    RequestedAt,
    HeldUntil,
    CompletedAt,
    Attempts,
    LastError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccountDeletions::Table)
                    .if_not_exists()
                    .col(pk_uuid(AccountDeletions::UserId))
                    .col(string_len(AccountDeletions::Username, 32))
                    .col(string_len(AccountDeletions::Email, 254))
                    .col(timestamp_with_time_zone(AccountDeletions::RequestedAt))
                    .col(timestamp_with_time_zone(AccountDeletions::HeldUntil))
                    .col(timestamp_with_time_zone_null(AccountDeletions::CompletedAt))
                    .col(integer(AccountDeletions::Attempts).default(0))
                    .col(text_null(AccountDeletions::LastError))
                    .to_owned(),
            )
            .await?;
        // Registration looks names up case-insensitively, like the users table.
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_account_deletions_username ON account_deletions (lower(username))",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX IF NOT EXISTS idx_account_deletions_email ON account_deletions (email)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccountDeletions::Table).to_owned())
            .await
    }
}
