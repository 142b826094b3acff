use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    pub description: String,
    /// JSON array of lower-cased tags.
    pub tags: Json,
    pub link: Option<String>,
    pub thumbnail_url: Option<String>,
    /// Grows by one with every change; events carry it so consumers drop stale ones.
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// `public`, `unlisted` or `private`.
    pub visibility: String,
    /// The first time the project was public; `None` while it never was.
    pub published_at: Option<DateTimeUtc>,
    /// The gallery's order as the owner set it: a JSON list of file ids (the project
    /// domain's; the images themselves are the media domain's).
    pub media_order: Option<String>,
    /// The URL part of the project's page, unique among its owner's projects; `None`
    /// when the title gives none (its page then goes by id) or before it is made.
    pub slug: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
