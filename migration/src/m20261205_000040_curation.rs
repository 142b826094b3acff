//! Curation and visibility (issue 20): a project's `visibility` (`public`, `unlisted`,
//! `private`; existing rows are public), `published_at` (the first time it was public;
//! existing rows were public from their creation) and `media_order` (the gallery's
//! order as its owner set it, a JSON list of file ids); an image's `caption` and `alt`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Projects {
    Table,
    Visibility,
    PublishedAt,
    CreatedAt,
    MediaOrder,
}

#[derive(DeriveIden)]
enum MediaFiles {
    Table,
    Caption,
    Alt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .add_column_if_not_exists(string_len(Projects::Visibility, 16).default("public"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .add_column_if_not_exists(timestamp_with_time_zone_null(Projects::PublishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .add_column_if_not_exists(text_null(Projects::MediaOrder))
                    .to_owned(),
            )
            .await?;
        // Every project so far was public from the moment it was created.
        manager
            .exec_stmt(
                Query::update()
                    .table(Projects::Table)
                    .value(Projects::PublishedAt, Expr::col(Projects::CreatedAt))
                    .and_where(Expr::col(Projects::PublishedAt).is_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_projects_user_visibility")
                    .table(Projects::Table)
                    .col(Alias::new("user_id"))
                    .col(Projects::Visibility)
                    .to_owned(),
            )
            .await?;
        for column in [MediaFiles::Caption, MediaFiles::Alt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(MediaFiles::Table)
                        .add_column_if_not_exists(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_projects_user_visibility")
                    .table(Projects::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Projects::Visibility, Projects::PublishedAt, Projects::MediaOrder] {
            manager
                .alter_table(Table::alter().table(Projects::Table).drop_column(column).to_owned())
                .await?;
        }
        for column in [MediaFiles::Caption, MediaFiles::Alt] {
            manager
                .alter_table(Table::alter().table(MediaFiles::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
