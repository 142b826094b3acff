//! Renditions: every image's fixed set of sizes and formats (a JSON list of
//! `{width, height, format, key, bytes}`), and its thumbhash placeholder (base64).
//! Rows from before have neither; `folio jobs regenerate-missing` queues them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MediaFiles {
    Table,
    Renditions,
    Thumbhash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(MediaFiles::Table)
                    .add_column_if_not_exists(text_null(MediaFiles::Renditions))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MediaFiles::Table)
                    .add_column_if_not_exists(string_null(MediaFiles::Thumbhash))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [MediaFiles::Renditions, MediaFiles::Thumbhash] {
            manager
                .alter_table(Table::alter().table(MediaFiles::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
