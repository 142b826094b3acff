//! What the operator console needs to see and act on thumbnail jobs: when a job was
//! (re)queued, so the oldest pending age survives retries, and when it failed for good.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MediaFiles {
    Table,
    ThumbnailStatus,
    ThumbnailQueuedAt,
    ThumbnailFailedAt,
    UpdatedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(MediaFiles::Table)
                    .add_column_if_not_exists(timestamp_with_time_zone_null(MediaFiles::ThumbnailQueuedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MediaFiles::Table)
                    .add_column_if_not_exists(timestamp_with_time_zone_null(MediaFiles::ThumbnailFailedAt))
                    .to_owned(),
            )
            .await?;
        // Rows from before this migration were queued when they were uploaded.
        manager
            .exec_stmt(
                Query::update()
                    .table(MediaFiles::Table)
                    .value(MediaFiles::ThumbnailQueuedAt, Expr::col(MediaFiles::CreatedAt))
                    .and_where(Expr::col(MediaFiles::ThumbnailQueuedAt).is_null())
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(MediaFiles::Table)
                    .value(MediaFiles::ThumbnailFailedAt, Expr::col(MediaFiles::UpdatedAt))
                    .and_where(Expr::col(MediaFiles::ThumbnailStatus).eq("failed"))
                    .and_where(Expr::col(MediaFiles::ThumbnailFailedAt).is_null())
                    .to_owned(),
            )
            .await?;
        // The console counts jobs by status and recency.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_media_files_thumbnail_status")
                    .table(MediaFiles::Table)
                    .col(MediaFiles::ThumbnailStatus)
                    .col(MediaFiles::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_media_files_thumbnail_status")
                    .table(MediaFiles::Table)
                    .to_owned(),
            )
            .await?;
        for column in [MediaFiles::ThumbnailFailedAt, MediaFiles::ThumbnailQueuedAt] {
            manager
                .alter_table(Table::alter().table(MediaFiles::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
