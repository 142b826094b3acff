use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "media_files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub project_id: Option<Uuid>,
    /// The stored name, `<uuid>.<ext>`; never the client's.
    pub filename: String,
    /// The client's name, kept as metadata only.
    pub original_filename: String,
    pub file_path: String,
    pub file_url: String,
    pub file_size: i64,
    pub mime_type: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// `uploading` until the blob and the event are committed, then `stored`.
    pub upload_state: String,
    pub thumbnail_path: Option<String>,
    pub thumbnail_url: Option<String>,
    /// `pending`, `ready`, `failed` or `skipped`.
    pub thumbnail_status: String,
    pub thumbnail_error: Option<String>,
    pub thumbnail_attempts: i32,
    /// When the thumbnail job was last queued (upload or retry).
    pub thumbnail_queued_at: Option<DateTimeUtc>,
    /// When the thumbnail failed for good; cleared by a retry.
    pub thumbnail_failed_at: Option<DateTimeUtc>,
    /// The renditions made from the image: a JSON list of `{width, height, format, key,
    /// bytes}`; `None` until they are made (and for rows from before renditions).
    pub renditions: Option<String>,
    /// The thumbhash placeholder, base64.
    pub thumbhash: Option<String>,
    /// Shown with the image in its project's gallery (at most 2 000 characters).
    pub caption: Option<String>,
    /// Text for those who cannot see the image (at most 500 characters).
    pub alt: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
