use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum MediaFiles {
    Table,
    Id,
    UserId,
    ProjectId,
    Filename,
    OriginalFilename,
    FilePath,
    FileUrl,
    FileSize,
    MimeType,
    Width,
    Height,
    UploadState,
    ThumbnailPath,
    ThumbnailUrl,
    ThumbnailStatus,
    ThumbnailError,
    ThumbnailAttempts,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MediaFiles::Table)
                    .if_not_exists()
                    .col(pk_uuid(MediaFiles::Id))
                    .col(uuid(MediaFiles::UserId))
                    // No foreign key: a project deleted later leaves its images in place.
                    .col(uuid_null(MediaFiles::ProjectId))
                    .col(string_len(MediaFiles::Filename, 255))
                    .col(string_len(MediaFiles::OriginalFilename, 255))
                    .col(string_len(MediaFiles::FilePath, 1024))
                    .col(string_len(MediaFiles::FileUrl, 2048))
                    .col(big_integer(MediaFiles::FileSize))
                    .col(string_len(MediaFiles::MimeType, 64))
                    .col(integer_null(MediaFiles::Width))
                    .col(integer_null(MediaFiles::Height))
                    // `uploading` until blob and event are committed; stale ones are swept.
                    .col(string_len(MediaFiles::UploadState, 16))
                    .col(string_len_null(MediaFiles::ThumbnailPath, 1024))
                    .col(string_len_null(MediaFiles::ThumbnailUrl, 2048))
                    .col(string_len(MediaFiles::ThumbnailStatus, 16))
                    .col(text_null(MediaFiles::ThumbnailError))
                    .col(integer(MediaFiles::ThumbnailAttempts).default(0))
                    .col(timestamp_with_time_zone(MediaFiles::CreatedAt))
                    .col(timestamp_with_time_zone(MediaFiles::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_media_files_user")
                            .from(MediaFiles::Table, MediaFiles::UserId)
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
                    .name("idx_media_files_user_created")
                    .table(MediaFiles::Table)
                    .col(MediaFiles::UserId)
                    .col(MediaFiles::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_media_files_state")
                    .table(MediaFiles::Table)
                    .col(MediaFiles::UploadState)
                    .col(MediaFiles::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MediaFiles::Table).to_owned())
            .await
    }
}
