//! An event ticket remembers the session and expiry of the access token it was issued
//! on, so the `/events` stream it opens ends with that session or at that expiry, like a
//! stream opened with the token itself. Both nullable: a ticket lives 60 s, and one
//! issued before this migration opens a stream that only a logout of every session ends.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EventTickets {
    Table,
    SessionId,
    TokenExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(EventTickets::Table)
                    .add_column_if_not_exists(uuid_null(EventTickets::SessionId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(EventTickets::Table)
                    .add_column_if_not_exists(timestamp_with_time_zone_null(EventTickets::TokenExpiresAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [EventTickets::SessionId, EventTickets::TokenExpiresAt] {
            manager
                .alter_table(Table::alter().table(EventTickets::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
