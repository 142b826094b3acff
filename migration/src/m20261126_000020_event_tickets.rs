//! Single-use tickets for `GET /events`: browsers' `EventSource` cannot send an
//! `Authorization` header, and an access token must never travel in a URL. A ticket
//! lives 60 s and is deleted when used; it is stored as a hash, like refresh tokens, and
//! in the database so that any HTTP node can redeem it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EventTickets {
    Table,
    TicketHash,
    UserId,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventTickets::Table)
                    .if_not_exists()
                    .col(string_len(EventTickets::TicketHash, 64).primary_key())
                    .col(uuid(EventTickets::UserId))
                    .col(timestamp_with_time_zone(EventTickets::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_event_tickets_user")
                            .from(EventTickets::Table, EventTickets::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_event_tickets_expires")
                    .table(EventTickets::Table)
                    .col(EventTickets::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EventTickets::Table).to_owned())
            .await
    }
}
