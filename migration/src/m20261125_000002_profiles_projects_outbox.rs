use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Profiles {
    Table,
    UserId,
    Name,
    Bio,
    Contact,
    SocialLinks,
    AvatarUrl,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    UserId,
    Title,
    Description,
    Tags,
    Link,
    ThumbnailUrl,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    Seq,
    EventId,
    EventType,
    Envelope,
    CreatedAt,
    PublishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Profiles::Table)
                    .if_not_exists()
                    .col(uuid(Profiles::UserId).primary_key())
                    .col(string_len_null(Profiles::Name, 100))
                    .col(text_null(Profiles::Bio))
                    .col(string_len_null(Profiles::Contact, 200))
                    .col(json_binary_null(Profiles::SocialLinks))
                    .col(string_len_null(Profiles::AvatarUrl, 2048))
                    .col(timestamp_with_time_zone(Profiles::CreatedAt))
                    .col(timestamp_with_time_zone(Profiles::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_profiles_user")
                            .from(Profiles::Table, Profiles::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .if_not_exists()
                    .col(pk_uuid(Projects::Id))
                    .col(uuid(Projects::UserId))
                    .col(string_len(Projects::Title, 200))
                    .col(text(Projects::Description))
                    .col(json_binary(Projects::Tags))
                    .col(string_len_null(Projects::Link, 2048))
                    .col(string_len_null(Projects::ThumbnailUrl, 2048))
                    .col(big_integer(Projects::Version))
                    .col(timestamp_with_time_zone(Projects::CreatedAt))
                    .col(timestamp_with_time_zone(Projects::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_projects_user")
                            .from(Projects::Table, Projects::UserId)
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
                    .name("idx_projects_user_created")
                    .table(Projects::Table)
                    .col(Projects::UserId)
                    .col(Projects::CreatedAt)
                    .to_owned(),
            )
            .await?;

        // The outbox: every domain event is written here in the transaction of the change
        // it describes; the relay publishes rows in `seq` order and stamps `published_at`.
        manager
            .create_table(
                Table::create()
                    .table(OutboxEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(OutboxEvents::Seq))
                    .col(uuid_uniq(OutboxEvents::EventId))
                    .col(string_len(OutboxEvents::EventType, 64))
                    .col(text(OutboxEvents::Envelope))
                    .col(timestamp_with_time_zone(OutboxEvents::CreatedAt))
                    .col(timestamp_with_time_zone_null(OutboxEvents::PublishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_outbox_unpublished")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::PublishedAt)
                    .col(OutboxEvents::Seq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OutboxEvents::Table.into_iden(),
            Projects::Table.into_iden(),
            Profiles::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
