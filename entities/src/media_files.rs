use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where an upload is: `uploading` until its blob and its `media.uploaded` event are
/// committed, then `stored`. Stored as that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "lowercase")]
pub enum UploadState {
    #[sea_orm(string_value = "uploading")]
    Uploading,
    #[sea_orm(string_value = "stored")]
    Stored,
}

/// Where a stored upload's thumbnail is. Stored as that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "lowercase")]
pub enum ThumbnailStatus {
    /// Waiting for the thumbnailer (a new upload, or one queued again).
    #[sea_orm(string_value = "pending")]
    Pending,
    /// The thumbnail and the renditions are stored.
    #[sea_orm(string_value = "ready")]
    Ready,
    /// Given up for good; an operator may queue it again.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Not an image: nothing to make.
    #[sea_orm(string_value = "skipped")]
    Skipped,
}

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
    pub upload_state: UploadState,
    pub thumbnail_path: Option<String>,
    pub thumbnail_url: Option<String>,
    pub thumbnail_status: ThumbnailStatus,
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
