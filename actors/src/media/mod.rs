//! The media domain: uploaded images (metadata rows and blobs) and `media.uploaded` /
//! `media.deleted` events. Blobs go through the `BlobStore` trait (local directory or S3).
//!
//! What the actor owns: the order of changes to one stored file. Deleting a file and
//! queueing its failed thumbnail again are keyed by file id, so they apply in arrival
//! order and a retry cannot bring back a row a delete just removed. The workers hold no
//! state of their own.
//!
//! What is not ordered: an upload creates a new file, with nothing to be ordered after;
//! it runs in the caller's task, with a semaphore capping how many bodies are being
//! stored at once. Reads and the operators' bulk jobs (retry all, regenerate, sweep)
//! run in the caller's task too; the bulk jobs change rows with conditional updates.

pub mod gallery;
pub mod project_cleanup;
pub(crate) mod service;
pub mod sweeper;
pub mod text;
pub mod thumbnails;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use uuid::Uuid;

pub use folio_entities::media_files::{ThumbnailStatus, UploadState};
pub use service::{FilesOf, GalleryFollower, MediaContext, stored_renditions};
pub use text::{AltText, Caption};

use crate::{
    paging::PageRequest,
    supervisor::{CallError, KeyedPool, PoolStartError, SupervisorMsg},
};

/// The hard upload limit (5 MiB), enforced while the body streams in.
pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadCmd {
    pub owner: Uuid,
    pub bytes: Bytes,
    /// As the client named it; metadata only, never part of a path.
    pub original_filename: Option<String>,
    pub project_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaView {
    pub file_id: Uuid,
    pub user_id: Uuid,
    pub filename: String,
    pub original_filename: String,
    pub file_path: String,
    pub file_url: String,
    pub file_size: i64,
    pub mime_type: String,
    pub project_id: Option<Uuid>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumbnail_status: ThumbnailStatus,
    pub thumbnail_url: Option<String>,
    pub thumbnail_error: Option<String>,
    /// Every size and format made from the image, smallest first; empty until made.
    pub renditions: Vec<RenditionView>,
    /// The thumbhash placeholder, base64.
    pub thumbhash: Option<String>,
    pub caption: Option<String>,
    pub alt: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A change to an image: `None` keeps what is there.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MediaPatch {
    /// Empty clears it.
    pub caption: Option<Caption>,
    /// Empty clears it.
    pub alt: Option<AltText>,
    /// Another project of the owner's: the image moves there, to the end of its gallery.
    pub project_id: Option<Uuid>,
}

/// A rendition as the media row records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRendition {
    pub width: u32,
    pub height: u32,
    pub format: folio_media::RenditionFormat,
    pub key: String,
    pub bytes: u64,
}

/// A rendition as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenditionView {
    pub width: u32,
    pub height: u32,
    pub format: folio_media::RenditionFormat,
    pub url: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaPage {
    pub files: Vec<MediaView>,
    pub page: u64,
    pub size: u64,
    pub total: u64,
}

/// A thumbnail that failed for good, as the operator console lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedMedia {
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub owner_username: String,
    pub original_filename: String,
    pub error: String,
    pub attempts: i32,
    pub failed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailedPage {
    pub files: Vec<FailedMedia>,
    pub page: u64,
    pub size: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegenerateReport {
    /// Thumbnails marked ready that were looked for in the blob store.
    pub checked: u64,
    /// Of those, missing and queued again.
    pub queued: u64,
}

/// What `folio media strip-metadata` did with the stored originals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripReport {
    /// Stored originals looked at.
    pub checked: u64,
    /// Of those, rewritten without their metadata.
    pub rewritten: u64,
    /// Already without metadata (uploaded since, or stripped by an earlier run).
    pub already_clean: u64,
    /// Left as they are: their structure cannot be followed (logged with their ids).
    pub unreadable: u64,
    /// Listed but not in the blob store.
    pub missing: u64,
}

/// Internal failures keep their cause as the source; the edge logs the chain once.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("the file is empty")]
    Empty,
    #[error("only JPEG, PNG, GIF and WebP images are accepted (decided by the file's content)")]
    UnsupportedType,
    #[error("the file exceeds {MAX_UPLOAD_BYTES} bytes")]
    TooLarge,
    /// The container cannot be followed, so its metadata cannot be removed: refused
    /// rather than stored with it.
    #[error("{0}")]
    UnreadableImage(#[source] folio_media::StripError),
    #[error("removing the image's metadata failed")]
    StripWorker(#[source] tokio::task::JoinError),
    #[error("project not found")]
    ProjectNotFound,
    #[error("media file not found")]
    NotFound,
    #[error("only the owner may do that")]
    Forbidden,
    #[error("this file's thumbnail has not failed")]
    NotFailed,
    #[error(transparent)]
    Invalid(#[from] crate::validation::ValidationError),
    #[error("blob storage failed")]
    Storage(#[source] folio_media::BlobError),
    #[error("media service unavailable")]
    Unavailable(#[from] CallError),
    #[error("media storage failed")]
    Database(#[from] sea_orm::DbErr),
}

impl From<folio_media::BlobError> for MediaError {
    fn from(error: folio_media::BlobError) -> Self {
        match error {
            folio_media::BlobError::NotFound(_) => MediaError::NotFound,
            other => MediaError::Storage(other),
        }
    }
}

type Reply<T> = RpcReplyPort<Result<T, MediaError>>;

/// Changes to one stored file, keyed by its id.
#[derive(ractor_cluster::RactorMessage)]
pub enum MediaMsg {
    Delete {
        actor: Uuid,
        file_id: Uuid,
        reply: Reply<()>,
    },
    RetryFailed {
        file_id: Uuid,
        reply: Reply<()>,
    },
    Update {
        actor: Uuid,
        file_id: Uuid,
        patch: MediaPatch,
        reply: Reply<MediaView>,
    },
    /// From the thumbnailer: the thumbnail and renditions are stored.
    ThumbnailReady {
        file_id: Uuid,
        project_id: Option<Uuid>,
        ready: thumbnails::Ready,
        reply: Reply<()>,
    },
    /// From the thumbnailer: not an image, nothing to make.
    ThumbnailSkipped {
        file_id: Uuid,
        reply: Reply<()>,
    },
    /// From the thumbnailer: an attempt failed; `for_good` ends the retries.
    ThumbnailFailed {
        file_id: Uuid,
        project_id: Option<Uuid>,
        failure: thumbnails::Failure,
        reply: Reply<()>,
    },
}

pub struct MediaWorker;

impl Actor for MediaWorker {
    type Msg = MediaMsg;
    type State = Arc<MediaContext>;
    type Arguments = Arc<MediaContext>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        ctx: Arc<MediaContext>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ctx)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        ctx: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            MediaMsg::Delete { actor, file_id, reply } => {
                let _ = reply.send(service::delete(ctx, actor, file_id).await);
            }
            MediaMsg::RetryFailed { file_id, reply } => {
                let _ = reply.send(service::retry_failed_one(ctx, file_id).await);
            }
            MediaMsg::Update {
                actor,
                file_id,
                patch,
                reply,
            } => {
                let _ = reply.send(service::update(ctx, actor, file_id, patch).await);
            }
            MediaMsg::ThumbnailReady {
                file_id,
                project_id,
                ready,
                reply,
            } => {
                let marked = thumbnails::mark_ready(ctx, file_id, ready).await;
                if marked.is_ok() {
                    // The gallery shows the renditions now: the project follows.
                    ctx.gallery_changed(project_id).await;
                }
                let _ = reply.send(marked.map_err(MediaError::from));
            }
            MediaMsg::ThumbnailSkipped { file_id, reply } => {
                let _ = reply.send(thumbnails::mark_skipped(ctx, file_id).await.map_err(MediaError::from));
            }
            MediaMsg::ThumbnailFailed {
                file_id,
                project_id,
                failure,
                reply,
            } => {
                let for_good = failure.for_good;
                let recorded = thumbnails::record_failure(ctx, file_id, failure).await;
                if recorded.is_ok() && for_good {
                    // The gallery shows the image as failed now: the project follows.
                    ctx.gallery_changed(project_id).await;
                }
                let _ = reply.send(recorded.map_err(MediaError::from));
            }
        }
        Ok(())
    }
}

/// Files read at a time while deleting an account's.
const DELETE_BATCH: u64 = 100;

#[derive(Clone)]
pub struct MediaClient {
    pool: KeyedPool<MediaMsg>,
    ctx: Arc<MediaContext>,
    /// One permit per upload being stored: bodies are held in memory until written.
    uploads: Arc<Semaphore>,
}

impl MediaClient {
    pub async fn start(
        supervisor: &ActorRef<SupervisorMsg>,
        ctx: MediaContext,
        workers: usize,
    ) -> Result<Self, PoolStartError> {
        let ctx = Arc::new(ctx);
        let worker_ctx = ctx.clone();
        let pool = KeyedPool::start(supervisor, "media", workers, Duration::from_secs(60), move || {
            (MediaWorker, worker_ctx.clone())
        })
        .await?;
        let uploads = Arc::new(Semaphore::new(workers.max(1)));
        Ok(Self { pool, ctx, uploads })
    }

    pub async fn upload(&self, cmd: UploadCmd) -> Result<MediaView, MediaError> {
        // Uploads beyond the cap wait their turn. The semaphore is never closed, so the
        // error arm only matters if that changes.
        let _permit = self.uploads.acquire().await.map_err(|_| CallError::Unavailable)?;
        service::upload(&self.ctx, cmd).await
    }

    pub async fn delete(&self, actor: Uuid, file_id: Uuid) -> Result<(), MediaError> {
        self.pool
            .call(&file_id, |reply| MediaMsg::Delete { actor, file_id, reply })
            .await?
    }

    /// Caption, alt text, and the project an image is filed under (owner only).
    pub async fn update(&self, actor: Uuid, file_id: Uuid, patch: MediaPatch) -> Result<MediaView, MediaError> {
        self.pool
            .call(&file_id, |reply| MediaMsg::Update {
                actor,
                file_id,
                patch: patch.clone(),
                reply,
            })
            .await?
    }

    /// Where the stored file behind a blob key is filed (`None`: no such stored file,
    /// or the key does not name one), for the blob route's visibility check: one read
    /// of the file's row by its primary key.
    pub async fn placement(&self, key: &str) -> Result<Option<gallery::Placement>, MediaError> {
        let Some((owner, file_id)) = gallery::key_owner_and_file(key) else {
            return Ok(None);
        };
        Ok(gallery::placement(&self.ctx.db, owner, file_id).await?)
    }

    /// Deletes every file of `owner` (part of deleting the account).
    pub async fn delete_all_of(&self, owner: Uuid) -> Result<u64, MediaError> {
        self.delete_all(FilesOf::Owner(owner)).await
    }

    /// Deletes every file filed under a deleted project (the media domain's answer to
    /// `project.deleted`): a project's images go with it.
    pub async fn delete_all_in_project(&self, project_id: Uuid) -> Result<u64, MediaError> {
        self.delete_all(FilesOf::Project(project_id)).await
    }

    /// Each file through [`MediaClient::delete`], the media domain's one delete path, so
    /// every blob it stores for a file goes with it. A file already gone is skipped, so a
    /// repeated run finishes what an interrupted one started.
    async fn delete_all(&self, of: FilesOf) -> Result<u64, MediaError> {
        let mut deleted = 0;
        loop {
            let files = service::stored_files(&self.ctx, of, DELETE_BATCH).await?;
            if files.is_empty() {
                return Ok(deleted);
            }
            for (file_id, owner) in files {
                match self.delete(owner, file_id).await {
                    Ok(()) => deleted += 1,
                    Err(MediaError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    pub async fn get(&self, viewer: Uuid, file_id: Uuid) -> Result<MediaView, MediaError> {
        service::get(&self.ctx, viewer, file_id).await
    }

    pub async fn list(&self, owner: Uuid, page: PageRequest) -> Result<MediaPage, MediaError> {
        service::list(&self.ctx, owner, page).await
    }

    /// The stored bytes behind a public media URL path (`uploads/…` or `thumbnails/…`).
    pub async fn blob(&self, key: &str) -> Result<folio_media::Blob, MediaError> {
        service::public_blob(&self.ctx, key).await
    }

    pub async fn blob_meta(&self, key: &str) -> Result<folio_media::BlobMeta, MediaError> {
        service::public_blob_meta(&self.ctx, key).await
    }

    pub async fn list_failed(&self, page: PageRequest) -> Result<FailedPage, MediaError> {
        service::list_failed(&self.ctx, page).await
    }

    /// Queues a failed thumbnail again (operators only; the edge checks).
    pub async fn retry_failed(&self, file_id: Uuid) -> Result<(), MediaError> {
        self.pool
            .call(&file_id, |reply| MediaMsg::RetryFailed { file_id, reply })
            .await?
    }

    pub async fn retry_all_failed(
        &self,
        error_contains: Option<&str>,
        progress: impl FnMut(u64, u64) + Send,
    ) -> Result<u64, MediaError> {
        service::retry_failed_all(&self.ctx, error_contains, progress).await
    }

    pub async fn regenerate_missing(
        &self,
        progress: impl FnMut(u64, u64) + Send,
    ) -> Result<RegenerateReport, MediaError> {
        service::regenerate_missing(&self.ctx, progress).await
    }

    /// Rewrites stored originals from before metadata stripping without their metadata
    /// (`folio media strip-metadata`).
    pub async fn strip_stored_metadata(
        &self,
        progress: impl FnMut(u64, u64) + Send,
    ) -> Result<StripReport, MediaError> {
        service::strip_stored_metadata(&self.ctx, progress).await
    }

    /// The thumbnail job of a stored upload still waiting for one; `None` when it is
    /// gone or settled (a redelivered job has nothing to do).
    pub async fn thumbnail_job(&self, file_id: Uuid) -> Result<Option<thumbnails::ThumbnailJob>, MediaError> {
        Ok(thumbnails::pending_job(&self.ctx, file_id).await?)
    }

    /// The thumbnailer reports a finished job; the project of the image follows.
    pub async fn thumbnail_ready(
        &self,
        file_id: Uuid,
        project_id: Option<Uuid>,
        ready: thumbnails::Ready,
    ) -> Result<(), MediaError> {
        self.pool
            .call(&file_id, |reply| MediaMsg::ThumbnailReady {
                file_id,
                project_id,
                ready: ready.clone(),
                reply,
            })
            .await?
    }

    /// The thumbnailer reports an upload that is not an image.
    pub async fn thumbnail_skipped(&self, file_id: Uuid) -> Result<(), MediaError> {
        self.pool
            .call(&file_id, |reply| MediaMsg::ThumbnailSkipped { file_id, reply })
            .await?
    }

    /// The thumbnailer reports a failed attempt.
    pub async fn thumbnail_failed(
        &self,
        file_id: Uuid,
        project_id: Option<Uuid>,
        failure: thumbnails::Failure,
    ) -> Result<(), MediaError> {
        self.pool
            .call(&file_id, |reply| MediaMsg::ThumbnailFailed {
                file_id,
                project_id,
                failure: failure.clone(),
                reply,
            })
            .await?
    }

    /// The absolute URL clients are handed for a stored blob.
    pub fn url_for(&self, key: &str) -> String {
        self.ctx.url_for(key)
    }

    /// Where media URLs start, e.g. `http://localhost:8080`.
    pub fn public_url(&self) -> &str {
        &self.ctx.public_url
    }

    /// The store the originals, thumbnails and renditions are in.
    pub fn blobs(&self) -> &folio_media::SharedBlobStore {
        &self.ctx.blobs
    }

    /// Removes uploads that never committed (a crash between blob and row).
    pub async fn sweep_abandoned(&self, older_than: Duration) -> Result<u64, MediaError> {
        service::sweep_abandoned(&self.ctx, older_than).await
    }
}
