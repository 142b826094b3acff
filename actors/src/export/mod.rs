//! The export domain *(ours)*: an account holder takes their work with them.
//!
//! `POST /profile/me/export` records an export and commits `user.export_requested` in one
//! transaction ([`service::request`]); one export of a user runs at a time (the database
//! decides, with a partial unique index). The [`exporter`] (every node runs one, sharing
//! one durable consumer) takes the event, claims the export and writes its ZIP to the
//! blob store as it is built ([`archive`]); then the export is `ready` with a link signed
//! for 24 hours ([`links`]), and the owner hears `export.ready` live. The [`sweeper`]
//! deletes archives past their expiry.
//!
//! Crash safety: the run that builds an archive beats a heartbeat on the row. A node
//! that dies halfway leaves the event unacknowledged, and it comes back: once the
//! heartbeat is older than `stale_after` the export is claimed again and built from the
//! start (the half-written archive never became visible). An export that nothing works
//! on for `give_up_after` is failed visibly, and a new request from its owner fails it at
//! once when it has been silent for `stale_after`, so none stays `running` forever.

pub mod archive;
pub mod exporter;
pub mod format;
pub mod links;
pub(crate) mod service;
pub mod sweeper;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use folio_entities::account_exports;
use folio_media::{BlobError, BlobStream, SharedBlobStore};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use links::ExportLinks;
pub use service::SweepReport;

use crate::events::outbox::OutboxSignal;

/// An export's `status`.
pub mod status {
    pub const RUNNING: &str = "running";
    pub const READY: &str = "ready";
    pub const FAILED: &str = "failed";
    /// Ready once; its archive was deleted after the link expired.
    pub const EXPIRED: &str = "expired";
}

#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// How long a download link works (and the archive is kept): 24 h.
    pub link_ttl: Duration,
    /// A running export whose heartbeat is older than this is taken over by the next
    /// delivery of its event (resumed), or failed when its owner asks for a new one.
    pub stale_after: Duration,
    /// A running export nothing worked on for this long is failed by the sweeper.
    pub give_up_after: Duration,
    /// Time between sweeps.
    pub sweep_every: Duration,
    /// Runs that may claim one export before it is failed.
    pub max_attempts: i32,
}

impl Default for ExportConfig {
    fn default() -> Self {
        Self {
            link_ttl: Duration::from_secs(24 * 3600),
            stale_after: Duration::from_secs(60),
            give_up_after: Duration::from_secs(15 * 60),
            sweep_every: Duration::from_secs(60),
            max_attempts: 5,
        }
    }
}

impl ExportConfig {
    /// How often a run beats its heartbeat: well inside `stale_after`.
    pub fn heartbeat_every(&self) -> Duration {
        (self.stale_after / 4).max(Duration::from_millis(250))
    }
}

pub struct ExportContext {
    pub db: DatabaseConnection,
    pub blobs: SharedBlobStore,
    pub outbox: OutboxSignal,
    pub links: ExportLinks,
    /// Absolute base of the download links, e.g. `http://localhost:8080`.
    pub public_url: String,
    pub config: ExportConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("user not found")]
    UserNotFound,
    #[error("an export of this account is already running; wait for it to finish")]
    Running,
    #[error("no such export of yours, or its archive is gone")]
    NotFound,
    #[error("the download link is not valid")]
    InvalidLink,
    #[error("the download link has expired; ask for a new export")]
    LinkExpired,
    /// The run no longer holds the export (another took it over, or it was removed).
    #[error("the export was taken over or removed while it was being written")]
    Lost,
    #[error("writing the archive: {0}")]
    Archive(String),
    #[error("blob storage failed")]
    Storage(#[source] BlobError),
    #[error("export storage failed")]
    Database(#[from] sea_orm::DbErr),
}

/// An export as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportView {
    pub export_id: Uuid,
    pub status: String,
    pub requested_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub size_bytes: Option<u64>,
    pub projects: Option<u32>,
    pub files: Option<u32>,
    pub error: Option<String>,
    /// The signed link, while the export is ready and the link works.
    pub download_url: Option<String>,
}

impl ExportContext {
    /// The signed link to an export's archive, good until `expires_at`.
    pub fn download_url(&self, export_id: Uuid, user_id: Uuid, expires_at: DateTime<Utc>) -> String {
        let expires = expires_at.timestamp();
        format!(
            "{}/profile/me/export/{export_id}/archive?expires={expires}&signature={}",
            self.public_url.trim_end_matches('/'),
            self.links.sign(export_id, user_id, expires)
        )
    }

    fn view(&self, row: account_exports::Model) -> ExportView {
        let download_url = match (row.status.as_str(), row.expires_at) {
            (status::READY, Some(expires_at)) if expires_at > Utc::now() => {
                Some(self.download_url(row.id, row.user_id, expires_at))
            }
            _ => None,
        };
        ExportView {
            export_id: row.id,
            status: row.status,
            requested_at: row.requested_at,
            completed_at: row.completed_at,
            expires_at: row.expires_at,
            size_bytes: row.size_bytes.and_then(|s| u64::try_from(s).ok()),
            projects: row.projects.and_then(|n| u32::try_from(n).ok()),
            files: row.files.and_then(|n| u32::try_from(n).ok()),
            error: row.error,
            download_url,
        }
    }
}

/// How the edge and the account deleter reach the export domain. Its writes are
/// conditional updates the database orders, so no actor stands in front of them.
#[derive(Clone)]
pub struct ExportClient {
    ctx: Arc<ExportContext>,
}

impl ExportClient {
    pub fn new(ctx: ExportContext) -> Self {
        Self { ctx: Arc::new(ctx) }
    }

    pub fn context(&self) -> &Arc<ExportContext> {
        &self.ctx
    }

    /// Starts an export of the user's account; [`ExportError::Running`] while one runs.
    pub async fn request(&self, user_id: Uuid) -> Result<ExportView, ExportError> {
        let row = service::request(&self.ctx, user_id).await?;
        Ok(self.ctx.view(row))
    }

    /// The user's newest export, if they ever asked for one.
    pub async fn latest(&self, user_id: Uuid) -> Result<Option<ExportView>, ExportError> {
        Ok(service::latest(&self.ctx, user_id).await?.map(|row| self.ctx.view(row)))
    }

    /// The archive behind a signed link, for its owner only.
    pub async fn archive(
        &self,
        user_id: Uuid,
        export_id: Uuid,
        expires: i64,
        signature: &str,
    ) -> Result<BlobStream, ExportError> {
        if !self.ctx.links.verify(export_id, user_id, expires, signature) {
            return Err(ExportError::InvalidLink);
        }
        if expires <= Utc::now().timestamp() {
            return Err(ExportError::LinkExpired);
        }
        let row = service::find(&self.ctx.db, export_id)
            .await?
            .filter(|row| row.user_id == user_id)
            .ok_or(ExportError::NotFound)?;
        match row.status.as_str() {
            status::READY => {}
            status::EXPIRED => return Err(ExportError::LinkExpired),
            _ => return Err(ExportError::NotFound),
        }
        match self.ctx.blobs.get_stream(&row.blob_key).await {
            Ok(stream) => Ok(stream),
            Err(BlobError::NotFound(_)) => Err(ExportError::NotFound),
            Err(e) => Err(ExportError::Storage(e)),
        }
    }

    /// Removes every export of a user being deleted, archives included.
    pub async fn delete_all_of(&self, user_id: Uuid) -> Result<u64, ExportError> {
        service::delete_all_of(&self.ctx, user_id).await
    }

    /// One sweep (the sweeper's, or a test's).
    pub async fn sweep(&self) -> Result<SweepReport, ExportError> {
        service::sweep(&self.ctx).await
    }
}
