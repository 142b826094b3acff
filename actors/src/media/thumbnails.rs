//! The media domain's side of thumbnail jobs: the thumbnailer reads what to work on and
//! reports each outcome here, and only this module writes the thumbnail columns of
//! `media_files` (the media domain owns that table).

use chrono::Utc;
use folio_entities::media_files::{self, ThumbnailStatus};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, sea_query::Expr};
use uuid::Uuid;

use super::{StoredRendition, service::MediaContext};

/// What a thumbnail job needs to know about its upload.
#[derive(Debug, Clone)]
pub struct ThumbnailJob {
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub project_id: Option<Uuid>,
    pub source_key: String,
    pub mime_type: String,
}

/// The upload behind a job, or `None` when there is nothing left to do: the upload is
/// gone, or its thumbnail is already settled (a redelivery).
pub async fn pending_job(ctx: &MediaContext, file_id: Uuid) -> Result<Option<ThumbnailJob>, DbErr> {
    let Some(row) = media_files::Entity::find_by_id(file_id).one(&ctx.db).await? else {
        return Ok(None);
    };
    if row.thumbnail_status != ThumbnailStatus::Pending {
        return Ok(None);
    }
    Ok(Some(ThumbnailJob {
        file_id: row.id,
        owner_id: row.user_id,
        project_id: row.project_id,
        source_key: row.file_path,
        mime_type: row.mime_type,
    }))
}

/// Where a job's thumbnail is stored.
pub fn thumbnail_key(job: &ThumbnailJob) -> String {
    format!("thumbnails/{}/{}_thumb.jpg", job.owner_id, job.file_id)
}

/// Where one of a job's renditions is stored.
pub fn rendition_key(job: &ThumbnailJob, width: u32, height: u32, format: folio_media::RenditionFormat) -> String {
    format!(
        "renditions/{}/{}_{width}x{height}.{}",
        job.owner_id,
        job.file_id,
        format.extension()
    )
}

/// What a finished job records.
#[derive(Debug, Clone)]
pub struct Ready {
    pub thumbnail_key: String,
    pub thumbnail_url: String,
    /// The source image's size as displayed.
    pub width: u32,
    pub height: u32,
    pub renditions: Vec<StoredRendition>,
    /// Base64.
    pub thumbhash: String,
}

/// The thumbnail and renditions are stored.
pub async fn mark_ready(ctx: &MediaContext, file_id: Uuid, ready: Ready) -> Result<(), DbErr> {
    let Ready {
        thumbnail_key: key,
        thumbnail_url: url,
        width,
        height,
        renditions,
        thumbhash,
    } = ready;
    let renditions = serde_json::to_string(&renditions).map_err(|e| DbErr::Custom(format!("renditions: {e}")))?;
    media_files::Entity::update_many()
        .col_expr(media_files::Column::Renditions, Expr::value(renditions))
        .col_expr(media_files::Column::Thumbhash, Expr::value(thumbhash))
        .col_expr(
            media_files::Column::ThumbnailStatus,
            Expr::value(ThumbnailStatus::Ready),
        )
        .col_expr(media_files::Column::ThumbnailPath, Expr::value(key))
        .col_expr(media_files::Column::ThumbnailUrl, Expr::value(url))
        .col_expr(media_files::Column::ThumbnailError, Expr::value(Option::<String>::None))
        .col_expr(media_files::Column::Width, Expr::value(clamp_dimension(width)))
        .col_expr(media_files::Column::Height, Expr::value(clamp_dimension(height)))
        .col_expr(media_files::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(media_files::Column::Id.eq(file_id))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// Not an image: nothing to make.
pub async fn mark_skipped(ctx: &MediaContext, file_id: Uuid) -> Result<(), DbErr> {
    media_files::Entity::update_many()
        .col_expr(
            media_files::Column::ThumbnailStatus,
            Expr::value(ThumbnailStatus::Skipped),
        )
        .col_expr(media_files::Column::ThumbnailError, Expr::value(Option::<String>::None))
        .col_expr(media_files::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(media_files::Column::Id.eq(file_id))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// A failed thumbnail attempt, as the media row records it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What the uploader and the operator console see.
    pub reason: String,
    pub attempt: u32,
    /// No more retries: the thumbnail is `failed`.
    pub for_good: bool,
}

/// Records a failed attempt; `for_good` marks the thumbnail `failed` (no more retries).
pub async fn record_failure(ctx: &MediaContext, file_id: Uuid, failure: Failure) -> Result<(), DbErr> {
    let Failure {
        reason,
        attempt,
        for_good,
    } = failure;
    let mut update = media_files::Entity::update_many()
        .col_expr(media_files::Column::ThumbnailError, Expr::value(reason))
        .col_expr(
            media_files::Column::ThumbnailAttempts,
            Expr::value(i32::try_from(attempt).unwrap_or(i32::MAX)),
        )
        .col_expr(media_files::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(media_files::Column::Id.eq(file_id));
    if for_good {
        update = update
            .col_expr(
                media_files::Column::ThumbnailStatus,
                Expr::value(ThumbnailStatus::Failed),
            )
            .col_expr(media_files::Column::ThumbnailFailedAt, Expr::value(Utc::now()));
    }
    update.exec(&ctx.db).await?;
    Ok(())
}

fn clamp_dimension(pixels: u32) -> i32 {
    i32::try_from(pixels).unwrap_or(i32::MAX)
}
