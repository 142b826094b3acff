//! Schema migrations. Every migration is written once with `SchemaManager` so the same
//! steps run on SQLite (embedded) and PostgreSQL (cluster).

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_accounts;
mod m20261125_000002_profiles_projects_outbox;
mod m20261125_000003_media_files;
mod m20261126_000010_media_thumbnail_jobs;
mod m20261126_000020_event_tickets;
mod m20261204_000030_media_renditions;
mod m20261204_000030_sessions;
mod m20261204_000031_account_deletions;
mod m20261204_000032_event_ticket_sessions;
mod m20261205_000040_curation;
mod m20261210_000040_account_exports;
mod m20261211_000050_project_slugs;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_accounts::Migration),
            Box::new(m20261125_000002_profiles_projects_outbox::Migration),
            Box::new(m20261125_000003_media_files::Migration),
            Box::new(m20261126_000010_media_thumbnail_jobs::Migration),
            Box::new(m20261126_000020_event_tickets::Migration),
            Box::new(m20261204_000030_sessions::Migration),
            Box::new(m20261204_000031_account_deletions::Migration),
            Box::new(m20261204_000030_media_renditions::Migration),
            Box::new(m20261204_000032_event_ticket_sessions::Migration),
            Box::new(m20261210_000040_account_exports::Migration),
            Box::new(m20261205_000040_curation::Migration),
            Box::new(m20261211_000050_project_slugs::Migration),
        ]
    }
}
