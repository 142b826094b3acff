//! Every insert into the outbox notifies the `folio_outbox` channel (PostgreSQL only), so
//! the relay on every node wakes when any node commits an event instead of waiting for
//! its poll. A notification is sent at commit and never for a rolled-back insert; one
//! per statement, because the relay only needs to know that something arrived.
//! SQLite has one node and one writer: the in-process signal is enough there.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The channel the relay listens on (`folio_actors::events::outbox::OUTBOX_CHANNEL`).
const CHANNEL: &str = "folio_outbox";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "CREATE OR REPLACE FUNCTION folio_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
        ))
        .await?;
        db.execute_unprepared("DROP TRIGGER IF EXISTS outbox_events_notify ON outbox_events")
            .await?;
        db.execute_unprepared(
            "CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events \
             FOR EACH STATEMENT EXECUTE PROCEDURE folio_outbox_notify()",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP TRIGGER IF EXISTS outbox_events_notify ON outbox_events")
            .await?;
        db.execute_unprepared("DROP FUNCTION IF EXISTS folio_outbox_notify()")
            .await?;
        Ok(())
    }
}
