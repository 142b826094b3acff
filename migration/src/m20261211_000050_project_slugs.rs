//! Public pages (issue 25): a project's `slug`, the URL part of its page
//! (`/@{username}/{slug}`), unique among its owner's projects, and the slugs a project
//! had before a rename, so that old links answer with a permanent redirect.
//!
//! Existing projects get their slug from the project domain when it starts (the rule
//! that makes a slug lives there, in one place); until then their pages answer by id.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    UserId,
    Slug,
    Visibility,
    PublishedAt,
}

#[derive(DeriveIden)]
enum ProjectSlugRedirects {
    Table,
    UserId,
    Slug,
    ProjectId,
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .add_column_if_not_exists(string_len_null(Projects::Slug, 100))
                    .to_owned(),
            )
            .await?;
        // NULLs are distinct in both databases, so projects without a slug yet do not
        // collide.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_projects_user_slug")
                    .table(Projects::Table)
                    .col(Projects::UserId)
                    .col(Projects::Slug)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The home page lists public projects, the most recently published first.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_projects_visibility_published")
                    .table(Projects::Table)
                    .col(Projects::Visibility)
                    .col(Projects::PublishedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProjectSlugRedirects::Table)
                    .if_not_exists()
                    .col(uuid(ProjectSlugRedirects::UserId))
                    .col(string_len(ProjectSlugRedirects::Slug, 100))
                    .col(uuid(ProjectSlugRedirects::ProjectId))
                    .col(timestamp_with_time_zone(ProjectSlugRedirects::RetiredAt))
                    .primary_key(
                        Index::create()
                            .col(ProjectSlugRedirects::UserId)
                            .col(ProjectSlugRedirects::Slug),
                    )
                    // A deleted project (or account) takes its old links with it.
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProjectSlugRedirects::Table, ProjectSlugRedirects::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_project_slug_redirects_project")
                    .table(ProjectSlugRedirects::Table)
                    .col(ProjectSlugRedirects::ProjectId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProjectSlugRedirects::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_projects_visibility_published")
                    .table(Projects::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_projects_user_slug")
                    .table(Projects::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .drop_column(Projects::Slug)
                    .to_owned(),
            )
            .await
    }
}
