//! The media domain's storage work. An upload is recorded as `uploading` first, then its
//! blob is stored, then the row becomes `stored` in the same transaction as its
//! `media.uploaded` event; a crash in between leaves an `uploading` row that the sweeper
//! turns into a deleted blob and row.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use folio_entities::{
    media_files::{self, ThumbnailStatus, UploadState},
    projects, users,
};
use folio_media::{Blob, BlobMeta, SharedBlobStore, StripError, sniff_image, strip_metadata, validate_key};
use futures::future::BoxFuture;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    FailedMedia, FailedPage, MediaError, MediaPage, MediaPatch, MediaView, RegenerateReport, RenditionView,
    StoredRendition, StripReport, UploadCmd,
};
use crate::{
    events::{DomainEvent, MediaDeleted, MediaUploaded, append_event, append_events, outbox::OutboxSignal},
    paging::PageRequest,
};

pub struct MediaContext {
    pub db: DatabaseConnection,
    pub blobs: SharedBlobStore,
    pub outbox: OutboxSignal,
    /// Absolute base of `file_url`s, e.g. `http://localhost:8080`.
    pub public_url: String,
    /// Told when a project's gallery changes (an image added, changed, moved or
    /// deleted), so the project follows; `None` in the command-line tools, which change
    /// no gallery.
    pub projects: Option<Arc<dyn GalleryFollower>>,
}

/// Who follows a project's gallery: the project domain, whose views show the images.
/// A port, so that media (below the project domain) never names the project's client.
pub trait GalleryFollower: Send + Sync + 'static {
    /// A gallery changed and is committed; a follower that cannot be told logs why (its
    /// views still follow within their time to live).
    fn gallery_changed(&self, project_id: Uuid) -> BoxFuture<'_, ()>;
}

impl MediaContext {
    pub fn url_for(&self, key: &str) -> String {
        format!("{}/media/{key}", self.public_url.trim_end_matches('/'))
    }

    /// Tells the project domain that a gallery changed. The media change is committed
    /// already; if the project cannot be told, its cached views still follow within
    /// their time to live, so this is logged rather than failed.
    pub async fn gallery_changed(&self, project_id: Option<Uuid>) {
        if let (Some(projects), Some(project_id)) = (&self.projects, project_id) {
            projects.gallery_changed(project_id).await;
        }
    }
}

/// The renditions a row records (an unreadable record reads as none: they are made again
/// by `regenerate-missing`).
pub fn stored_renditions(model: &media_files::Model) -> Vec<StoredRendition> {
    model
        .renditions
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

pub fn view(ctx: &MediaContext, model: media_files::Model) -> MediaView {
    let renditions = stored_renditions(&model)
        .into_iter()
        .map(|r| RenditionView {
            url: ctx.url_for(&r.key),
            width: r.width,
            height: r.height,
            format: r.format,
            bytes: r.bytes,
        })
        .collect();
    MediaView {
        renditions,
        thumbhash: model.thumbhash,
        file_id: model.id,
        user_id: model.user_id,
        filename: model.filename,
        original_filename: model.original_filename,
        file_path: model.file_path,
        file_url: model.file_url,
        file_size: model.file_size,
        mime_type: model.mime_type,
        project_id: model.project_id,
        width: model.width,
        height: model.height,
        thumbnail_status: model.thumbnail_status,
        thumbnail_url: model.thumbnail_url,
        thumbnail_error: model.thumbnail_error,
        caption: model.caption,
        alt: model.alt,
        created_at: model.created_at,
    }
}

/// The client's name, reduced to something harmless to display: its last path segment,
/// without control characters (bidirectional ones included: U+202E shows `gpj.exe` as
/// `exe.jpg`), at most 255 characters.
fn display_name(raw: Option<&str>, fallback: &str) -> String {
    let name = raw
        .and_then(|n| n.rsplit(['/', '\\']).next())
        .map(|n| {
            n.chars()
                .filter(|c| !c.is_control() && !is_bidi_control(*c))
                .take(255)
                .collect::<String>()
        })
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty() && n != "." && n != "..");
    name.unwrap_or_else(|| fallback.to_string())
}

/// Marks and embeddings that reorder how text is shown (Unicode's Bidi_Control).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

pub async fn upload(ctx: &MediaContext, cmd: UploadCmd) -> Result<MediaView, MediaError> {
    if cmd.bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    if cmd.bytes.len() > super::MAX_UPLOAD_BYTES {
        return Err(MediaError::TooLarge);
    }
    let kind = sniff_image(&cmd.bytes).ok_or(MediaError::UnsupportedType)?;
    // Metadata (EXIF with its GPS position, XMP, IPTC, comments, text chunks) goes
    // before anything is stored, so no URL, bucket listing or backup ever holds it.
    let bytes = strip_upload(cmd.bytes.clone()).await?;
    if let Some(project_id) = cmd.project_id {
        check_project_owner(ctx, project_id, cmd.owner).await?;
    }
    let file_id = Uuid::now_v7();
    let filename = format!("{}.{}", file_id, kind.extension());
    let key = format!("uploads/{}/{filename}", cmd.owner);
    let now = Utc::now();
    let row = media_files::ActiveModel {
        id: Set(file_id),
        user_id: Set(cmd.owner),
        project_id: Set(cmd.project_id),
        filename: Set(filename.clone()),
        original_filename: Set(display_name(cmd.original_filename.as_deref(), &filename)),
        file_path: Set(key.clone()),
        file_url: Set(ctx.url_for(&key)),
        file_size: Set(bytes.len() as i64),
        mime_type: Set(kind.mime().to_string()),
        width: Set(None),
        height: Set(None),
        upload_state: Set(UploadState::Uploading),
        thumbnail_path: Set(None),
        thumbnail_url: Set(None),
        thumbnail_status: Set(ThumbnailStatus::Pending),
        thumbnail_error: Set(None),
        thumbnail_attempts: Set(0),
        thumbnail_queued_at: Set(Some(now)),
        thumbnail_failed_at: Set(None),
        renditions: Set(None),
        thumbhash: Set(None),
        caption: Set(None),
        alt: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&ctx.db)
    .await?;

    if let Err(e) = ctx.blobs.put(&key, bytes, kind.mime()).await {
        let _ = media_files::Entity::delete_by_id(file_id).exec(&ctx.db).await;
        return Err(e.into());
    }
    let committed = async {
        let txn = ctx.db.begin().await?;
        media_files::Entity::update_many()
            .col_expr(media_files::Column::UploadState, Expr::value(UploadState::Stored))
            .filter(media_files::Column::Id.eq(file_id))
            .exec(&txn)
            .await?;
        append_event(&txn, DomainEvent::MediaUploaded(uploaded_event(&row)), None).await?;
        txn.commit().await
    }
    .await;
    if let Err(e) = committed {
        // The row never became visible: take the blob back out.
        let _ = ctx.blobs.delete(&key).await;
        let _ = media_files::Entity::delete_by_id(file_id).exec(&ctx.db).await;
        return Err(e.into());
    }
    ctx.outbox.notify();
    // A new image goes to the end of its project's gallery.
    ctx.gallery_changed(row.project_id).await;
    Ok(view(
        ctx,
        media_files::Model {
            upload_state: UploadState::Stored,
            ..row
        },
    ))
}

/// A project that `owner` may file images under: 404 when there is none, 403 when it
/// is someone else's.
async fn check_project_owner(ctx: &MediaContext, project_id: Uuid, owner: Uuid) -> Result<(), MediaError> {
    let project_owner = projects::Entity::find_by_id(project_id)
        .select_only()
        .column(projects::Column::UserId)
        .into_tuple::<Uuid>()
        .one(&ctx.db)
        .await?
        .ok_or(MediaError::ProjectNotFound)?;
    if project_owner != owner {
        return Err(MediaError::Forbidden);
    }
    Ok(())
}

/// Sets an image's caption and alt text (an empty one clears it) and moves it to
/// another project of its owner's (it goes to the end of that gallery). Both projects
/// are told, so their galleries follow.
pub async fn update(
    ctx: &MediaContext,
    actor: Uuid,
    file_id: Uuid,
    patch: MediaPatch,
) -> Result<MediaView, MediaError> {
    let model = stored(ctx, file_id).await?;
    if model.user_id != actor {
        return Err(MediaError::Forbidden);
    }
    let moved_to = patch.project_id.filter(|p| model.project_id != Some(*p));
    if let Some(project_id) = moved_to {
        check_project_owner(ctx, project_id, actor).await?;
    }
    let mut updated = model.clone();
    let now = Utc::now();
    let mut update = media_files::Entity::update_many()
        .col_expr(media_files::Column::UpdatedAt, Expr::value(now))
        .filter(media_files::Column::Id.eq(file_id));
    if let Some(caption) = &patch.caption {
        updated.caption = Some(caption.as_str().to_string()).filter(|c| !c.is_empty());
        update = update.col_expr(media_files::Column::Caption, Expr::value(updated.caption.clone()));
    }
    if let Some(alt) = &patch.alt {
        updated.alt = Some(alt.as_str().to_string()).filter(|a| !a.is_empty());
        update = update.col_expr(media_files::Column::Alt, Expr::value(updated.alt.clone()));
    }
    if let Some(project_id) = moved_to {
        updated.project_id = Some(project_id);
        update = update.col_expr(media_files::Column::ProjectId, Expr::value(Some(project_id)));
    }
    if update.exec(&ctx.db).await?.rows_affected != 1 {
        return Err(MediaError::NotFound);
    }
    updated.updated_at = now;
    if moved_to.is_some() {
        ctx.gallery_changed(model.project_id).await;
    }
    ctx.gallery_changed(updated.project_id).await;
    Ok(view(ctx, updated))
}

/// The upload without its metadata, stripped on a blocking thread (a linear pass over
/// at most [`super::MAX_UPLOAD_BYTES`]; the upload semaphore bounds how many run).
async fn strip_upload(bytes: bytes::Bytes) -> Result<bytes::Bytes, MediaError> {
    let stripped = tokio::task::spawn_blocking(move || strip_metadata(&bytes))
        .await
        .map_err(MediaError::StripWorker)?
        .map_err(|e| match e {
            StripError::Unsupported => MediaError::UnsupportedType,
            e => MediaError::UnreadableImage(e),
        })?;
    Ok(stripped.bytes.into())
}

/// `media.uploaded` as the thumbnailer reads it; a retry sends the same event again.
fn uploaded_event(row: &media_files::Model) -> MediaUploaded {
    MediaUploaded {
        file_id: row.id,
        file_url: row.file_url.clone(),
        mime_type: row.mime_type.clone(),
        owner_id: row.user_id,
        path: row.file_path.clone(),
        project_id: row.project_id,
    }
}

async fn stored(ctx: &MediaContext, file_id: Uuid) -> Result<media_files::Model, MediaError> {
    media_files::Entity::find_by_id(file_id)
        .filter(media_files::Column::UploadState.eq(UploadState::Stored))
        .one(&ctx.db)
        .await?
        .ok_or(MediaError::NotFound)
}

pub async fn get(ctx: &MediaContext, viewer: Uuid, file_id: Uuid) -> Result<MediaView, MediaError> {
    let model = stored(ctx, file_id).await?;
    if model.user_id != viewer {
        return Err(MediaError::Forbidden);
    }
    Ok(view(ctx, model))
}

pub async fn list(ctx: &MediaContext, owner: Uuid, page: PageRequest) -> Result<MediaPage, MediaError> {
    let query = media_files::Entity::find()
        .filter(media_files::Column::UserId.eq(owner))
        .filter(media_files::Column::UploadState.eq(UploadState::Stored));
    let total = query.clone().count(&ctx.db).await?;
    let files = query
        .order_by_desc(media_files::Column::CreatedAt)
        .order_by_desc(media_files::Column::Id)
        .offset(page.offset())
        .limit(page.size)
        .all(&ctx.db)
        .await?;
    Ok(MediaPage {
        files: files.into_iter().map(|f| view(ctx, f)).collect(),
        page: page.page,
        size: page.size,
        total,
    })
}

pub async fn delete(ctx: &MediaContext, actor: Uuid, file_id: Uuid) -> Result<(), MediaError> {
    let model = stored(ctx, file_id).await?;
    if model.user_id != actor {
        return Err(MediaError::Forbidden);
    }
    // Blobs first, the row last: the row is what says which blobs exist, so a failure
    // or a crash in between leaves the row, and deleting again (a retry, or an account
    // deletion finishing after a restart) removes what is left. Removing a blob that
    // is already gone succeeds.
    let renditions = stored_renditions(&model);
    let keys = std::iter::once(model.file_path.as_str())
        .chain(model.thumbnail_path.as_deref())
        .chain(renditions.iter().map(|r| r.key.as_str()));
    for key in keys {
        ctx.blobs.delete(key).await?;
    }
    let txn = ctx.db.begin().await?;
    media_files::Entity::delete_by_id(file_id).exec(&txn).await?;
    append_event(
        &txn,
        DomainEvent::MediaDeleted(MediaDeleted {
            file_id,
            owner_id: model.user_id,
            path: model.file_path.clone(),
            thumbnail_path: model.thumbnail_path.clone(),
        }),
        None,
    )
    .await?;
    txn.commit().await?;
    ctx.outbox.notify();
    // The gap it leaves in its project's gallery closes.
    ctx.gallery_changed(model.project_id).await;
    Ok(())
}

/// Only our three public prefixes are served; the key rules stop traversal.
fn public_key(key: &str) -> Result<&str, MediaError> {
    let public = ["uploads/", "thumbnails/", "renditions/"];
    if !public.iter().any(|prefix| key.starts_with(prefix)) || validate_key(key).is_err() {
        return Err(MediaError::NotFound);
    }
    Ok(key)
}

pub async fn public_blob(ctx: &MediaContext, key: &str) -> Result<Blob, MediaError> {
    Ok(ctx.blobs.get(public_key(key)?).await?)
}

pub async fn public_blob_meta(ctx: &MediaContext, key: &str) -> Result<BlobMeta, MediaError> {
    Ok(ctx.blobs.head(public_key(key)?).await?)
}

pub async fn sweep_abandoned(ctx: &MediaContext, older_than: Duration) -> Result<u64, MediaError> {
    let cutoff = Utc::now() - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::hours(1));
    let abandoned = media_files::Entity::find()
        .filter(media_files::Column::UploadState.eq(UploadState::Uploading))
        .filter(media_files::Column::CreatedAt.lt(cutoff))
        .limit(500)
        .all(&ctx.db)
        .await?;
    let mut swept = 0;
    for row in abandoned {
        ctx.blobs.delete(&row.file_path).await?;
        media_files::Entity::delete_by_id(row.id).exec(&ctx.db).await?;
        swept += 1;
    }
    if swept > 0 {
        tracing::info!(swept, "removed uploads that never committed");
    }
    Ok(swept)
}

/// Failed thumbnails, most recent failure first.
pub async fn list_failed(ctx: &MediaContext, page: PageRequest) -> Result<FailedPage, MediaError> {
    let query = media_files::Entity::find()
        .filter(media_files::Column::UploadState.eq(UploadState::Stored))
        .filter(media_files::Column::ThumbnailStatus.eq(ThumbnailStatus::Failed));
    let total = query.clone().count(&ctx.db).await?;
    let rows = query
        .order_by_desc(media_files::Column::ThumbnailFailedAt)
        .order_by_desc(media_files::Column::Id)
        .offset(page.offset())
        .limit(page.size)
        .all(&ctx.db)
        .await?;
    let owners: Vec<Uuid> = rows.iter().map(|r| r.user_id).collect();
    let usernames: std::collections::HashMap<Uuid, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(owners))
        .select_only()
        .column(users::Column::Id)
        .column(users::Column::Username)
        .into_tuple::<(Uuid, String)>()
        .all(&ctx.db)
        .await?
        .into_iter()
        .collect();
    let files = rows
        .into_iter()
        .map(|row| FailedMedia {
            file_id: row.id,
            owner_id: row.user_id,
            owner_username: usernames.get(&row.user_id).cloned().unwrap_or_default(),
            original_filename: row.original_filename,
            error: row.thumbnail_error.unwrap_or_default(),
            attempts: row.thumbnail_attempts,
            failed_at: row.thumbnail_failed_at.unwrap_or(row.updated_at),
        })
        .collect();
    Ok(FailedPage {
        files,
        page: page.page,
        size: page.size,
        total,
    })
}

/// Puts these rows back to `pending` (attempts from zero) and queues their
/// `media.uploaded` again through the outbox, in one transaction: the retry is the same
/// job on the same queue as the first attempt, and a crash cannot lose it. Only rows
/// still in `from_status` are requeued, so a concurrent change wins.
async fn requeue(
    ctx: &MediaContext,
    rows: Vec<media_files::Model>,
    from_status: ThumbnailStatus,
) -> Result<u64, MediaError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    let txn = ctx.db.begin().await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut update = media_files::Entity::update_many()
        .col_expr(
            media_files::Column::ThumbnailStatus,
            Expr::value(ThumbnailStatus::Pending),
        )
        .col_expr(media_files::Column::ThumbnailError, Expr::value(Option::<String>::None))
        .col_expr(media_files::Column::ThumbnailAttempts, Expr::value(0))
        .col_expr(
            media_files::Column::ThumbnailFailedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(media_files::Column::ThumbnailQueuedAt, Expr::value(Some(now)))
        .col_expr(media_files::Column::UpdatedAt, Expr::value(now));
    if from_status == ThumbnailStatus::Ready {
        // The thumbnail or a rendition is gone: stop pointing at them until they are
        // made again (under the same keys).
        update = update
            .col_expr(media_files::Column::ThumbnailPath, Expr::value(Option::<String>::None))
            .col_expr(media_files::Column::ThumbnailUrl, Expr::value(Option::<String>::None))
            .col_expr(media_files::Column::Renditions, Expr::value(Option::<String>::None));
    }
    update
        .filter(media_files::Column::Id.is_in(ids))
        .filter(media_files::Column::ThumbnailStatus.eq(from_status))
        .exec(&txn)
        .await?;
    append_events(
        &txn,
        rows.iter().map(|row| DomainEvent::MediaUploaded(uploaded_event(row))),
    )
    .await?;
    txn.commit().await?;
    ctx.outbox.notify();
    Ok(rows.len() as u64)
}

/// Requeues one failed thumbnail.
pub async fn retry_failed_one(ctx: &MediaContext, file_id: Uuid) -> Result<(), MediaError> {
    let row = stored(ctx, file_id).await?;
    if row.thumbnail_status != ThumbnailStatus::Failed {
        return Err(MediaError::NotFailed);
    }
    requeue(ctx, vec![row], ThumbnailStatus::Failed).await?;
    Ok(())
}

const REQUEUE_PAGE: u64 = 500;

/// Requeues every failed thumbnail (those whose error contains `error_contains`, when
/// given), a page per transaction; `progress(done, total)` after each page.
pub async fn retry_failed_all(
    ctx: &MediaContext,
    error_contains: Option<&str>,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<u64, MediaError> {
    let failed = || {
        let mut query = media_files::Entity::find()
            .filter(media_files::Column::UploadState.eq(UploadState::Stored))
            .filter(media_files::Column::ThumbnailStatus.eq(ThumbnailStatus::Failed));
        if let Some(needle) = error_contains.filter(|n| !n.is_empty()) {
            query = query.filter(media_files::Column::ThumbnailError.contains(needle));
        }
        query
    };
    let total = failed().count(&ctx.db).await?;
    let mut done = 0;
    let mut after: Option<Uuid> = None;
    loop {
        let mut query = failed().order_by_asc(media_files::Column::Id).limit(REQUEUE_PAGE);
        if let Some(after) = after {
            query = query.filter(media_files::Column::Id.gt(after));
        }
        let page = query.all(&ctx.db).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        done += requeue(ctx, page, ThumbnailStatus::Failed).await?;
        progress(done, total.max(done));
    }
    Ok(done)
}

/// Requeues every image whose thumbnail is marked ready but whose thumbnail or one of
/// whose renditions is not in the blob store (after a storage loss, say), or that has no
/// renditions at all (uploaded before them); `progress(checked, total)` after each page. A storage
/// error stops the run rather than requeue everything it could not see.
pub async fn regenerate_missing(
    ctx: &MediaContext,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<RegenerateReport, MediaError> {
    use futures::StreamExt as _;
    let ready = || {
        media_files::Entity::find()
            .filter(media_files::Column::UploadState.eq(UploadState::Stored))
            .filter(media_files::Column::ThumbnailStatus.eq(ThumbnailStatus::Ready))
    };
    let total = ready().count(&ctx.db).await?;
    let mut report = RegenerateReport::default();
    let mut after: Option<Uuid> = None;
    loop {
        let mut query = ready().order_by_asc(media_files::Column::Id).limit(REQUEUE_PAGE);
        if let Some(after) = after {
            query = query.filter(media_files::Column::Id.gt(after));
        }
        let page = query.all(&ctx.db).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        report.checked += page.len() as u64;
        let checks = futures::stream::iter(page)
            .map(|row| async move {
                // Images from before renditions have none recorded: missing too.
                let renditions = stored_renditions(&row);
                let keys: Option<Vec<&str>> = row.thumbnail_path.as_deref().and_then(|thumbnail| {
                    (!renditions.is_empty()).then(|| {
                        std::iter::once(thumbnail)
                            .chain(renditions.iter().map(|r| r.key.as_str()))
                            .collect()
                    })
                });
                let mut present = Ok(keys.is_some());
                for key in keys.unwrap_or_default() {
                    match ctx.blobs.head(key).await {
                        Ok(_) => {}
                        Err(folio_media::BlobError::NotFound(_)) => {
                            present = Ok(false);
                            break;
                        }
                        Err(e) => {
                            present = Err(MediaError::Storage(e));
                            break;
                        }
                    }
                }
                present.map(|present| (!present).then_some(row.clone()))
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        let mut missing = Vec::new();
        for check in checks {
            missing.extend(check?);
        }
        report.queued += requeue(ctx, missing, ThumbnailStatus::Ready).await?;
        progress(report.checked, total.max(report.checked));
    }
    Ok(report)
}

/// Whose files a bulk delete removes.
#[derive(Debug, Clone, Copy)]
pub enum FilesOf {
    /// Every file of an account being deleted.
    Owner(Uuid),
    /// The files filed under a project that was deleted.
    Project(Uuid),
}

/// Up to `limit` stored files of `of`, each with its owner. Uploads still streaming in
/// are left out: the delete path does not see them either, and the upload sweeper
/// removes those that never finish.
pub async fn stored_files(ctx: &MediaContext, of: FilesOf, limit: u64) -> Result<Vec<(Uuid, Uuid)>, MediaError> {
    let query = media_files::Entity::find()
        .select_only()
        .column(media_files::Column::Id)
        .column(media_files::Column::UserId)
        .filter(media_files::Column::UploadState.eq(UploadState::Stored));
    let query = match of {
        FilesOf::Owner(owner) => query.filter(media_files::Column::UserId.eq(owner)),
        FilesOf::Project(project_id) => query.filter(media_files::Column::ProjectId.eq(project_id)),
    };
    Ok(query.limit(limit).into_tuple::<(Uuid, Uuid)>().all(&ctx.db).await?)
}

/// What became of one stored original in [`strip_stored_metadata`].
enum StripOutcome {
    Rewritten,
    AlreadyClean,
    Unreadable,
    Missing,
}

/// Rewrites every stored original that still carries metadata (uploads from before
/// metadata was stripped on upload), a page at a time in id order; `progress(checked,
/// total)` after each page. Each rewrite is one atomic `put` of the stripped bytes under
/// the same key, and stripping is idempotent, so a run that is killed leaves every
/// original either as it was or fully stripped, and running again finishes the job
/// (what is already clean is only read). Originals whose structure cannot be followed
/// are left as they are, logged with their id, and counted; a storage error stops the run.
pub async fn strip_stored_metadata(
    ctx: &MediaContext,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<StripReport, MediaError> {
    use futures::StreamExt as _;
    let originals = || media_files::Entity::find().filter(media_files::Column::UploadState.eq(UploadState::Stored));
    let total = originals().count(&ctx.db).await?;
    let mut report = StripReport::default();
    let mut after: Option<Uuid> = None;
    loop {
        let mut query = originals().order_by_asc(media_files::Column::Id).limit(STRIP_PAGE);
        if let Some(after) = after {
            query = query.filter(media_files::Column::Id.gt(after));
        }
        let page = query.all(&ctx.db).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let outcomes = futures::stream::iter(page)
            .map(|row| strip_one(ctx, row))
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await;
        for outcome in outcomes {
            report.checked += 1;
            match outcome? {
                StripOutcome::Rewritten => report.rewritten += 1,
                StripOutcome::AlreadyClean => report.already_clean += 1,
                StripOutcome::Unreadable => report.unreadable += 1,
                StripOutcome::Missing => report.missing += 1,
            }
        }
        progress(report.checked, total.max(report.checked));
    }
    Ok(report)
}

const STRIP_PAGE: u64 = 100;

async fn strip_one(ctx: &MediaContext, row: media_files::Model) -> Result<StripOutcome, MediaError> {
    let blob = match ctx.blobs.get(&row.file_path).await {
        Ok(blob) => blob,
        Err(folio_media::BlobError::NotFound(_)) => return Ok(StripOutcome::Missing),
        Err(e) => return Err(MediaError::Storage(e)),
    };
    let source = blob.bytes.clone();
    let stripped = tokio::task::spawn_blocking(move || strip_metadata(&source))
        .await
        .map_err(MediaError::StripWorker)?;
    let stripped = match stripped {
        Ok(stripped) => stripped,
        Err(error) => {
            tracing::warn!(file_id = %row.id, key = %row.file_path, %error, "an original whose metadata cannot be removed; left as it is");
            return Ok(StripOutcome::Unreadable);
        }
    };
    if stripped.removed == 0 && stripped.bytes == blob.bytes {
        return Ok(StripOutcome::AlreadyClean);
    }
    let size = stripped.bytes.len() as i64;
    ctx.blobs
        .put(&row.file_path, stripped.bytes.into(), &blob.content_type)
        .await
        .map_err(MediaError::Storage)?;
    media_files::Entity::update_many()
        .col_expr(media_files::Column::FileSize, Expr::value(size))
        .filter(media_files::Column::Id.eq(row.id))
        .exec(&ctx.db)
        .await?;
    Ok(StripOutcome::Rewritten)
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_names_are_reduced_to_a_harmless_label() {
        use super::display_name;
        assert_eq!(display_name(Some("../../etc/passwd"), "f"), "passwd");
        assert_eq!(display_name(Some("invoice\u{202E}gpj.exe"), "f"), "invoicegpj.exe");
        assert_eq!(display_name(Some("\u{2066}a\u{2069}\u{200F}.png"), "f"), "a.png");
        assert_eq!(display_name(Some("C:\\Users\\a\\cat.png"), "f"), "cat.png");
        assert_eq!(display_name(Some("a\u{0}b\nc.png"), "f"), "abc.png");
        assert_eq!(display_name(Some(".."), "f"), "f");
        assert_eq!(display_name(None, "f"), "f");
        assert_eq!(display_name(Some(&"x".repeat(400)), "f").len(), 255);
    }
}
