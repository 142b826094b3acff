//! `/admin/*` JSON API for operators: job queues, failed thumbnails and their retry,
//! regeneration of missing thumbnails, and the reindex run with its progress. Every
//! call is for administrators only (403 otherwise). The console page calls the same
//! routes with its session cookie and a CSRF header instead of a bearer token.

use chrono::{DateTime, Utc};
use folio_actors::{
    jobs::JobKind,
    project::PageRequest,
    report::{
        cluster::{ClusterStatus, Reachability},
        jobs::{JobKindStatus, ReindexProgress},
    },
    session::{AccountDeletion, Claims, Role, SessionError},
};
use poem::Request;
use poem_openapi::{
    Enum, Object, OpenApi, SecurityScheme,
    auth::ApiKey,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use crate::{
    EdgeState,
    auth::BearerAuth,
    console,
    error::{ApiError, ErrorCode},
    routes::projects::{PageNumber, PageSize},
    text::JsonText,
};

/// The console's session cookie, while its session is open; state-changing calls also
/// need the session's CSRF token in the `x-csrf-token` header.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "folio_console",
    key_in = "cookie",
    checker = "verify_console_cookie"
)]
pub struct ConsoleCookie(pub Claims);

async fn verify_console_cookie(req: &Request, key: ApiKey) -> poem::Result<Claims> {
    let state = req.data::<EdgeState>().ok_or_else(ApiError::internal)?;
    let claims = state.session.verify(&key.key).map_err(ApiError::from)?;
    // The cookie stands for a console session: once signed out, it opens nothing.
    if !state.session.session_is_open(&claims).await.map_err(ApiError::from)? {
        return Err(ApiError::from(SessionError::InvalidAccessToken).into());
    }
    if !req.method().is_safe() && !console::csrf_header_matches(state, req, &claims) {
        return Err(ApiError::new(ErrorCode::CsrfFailed, "missing or wrong CSRF token").into());
    }
    Ok(claims)
}

/// A bearer token, or the console's session cookie.
#[derive(SecurityScheme)]
pub enum AdminAuth {
    Bearer(BearerAuth),
    Console(ConsoleCookie),
}

impl AdminAuth {
    fn claims(&self) -> &Claims {
        match self {
            AdminAuth::Bearer(BearerAuth(claims)) | AdminAuth::Console(ConsoleCookie(claims)) => claims,
        }
    }
}

/// The caller, if an administrator. Roles are read from the database, so a revoked
/// administrator is refused at once.
pub async fn require_admin(state: &EdgeState, claims: &Claims) -> Result<(), ApiError> {
    if state.session.role_of(claims.sub).await? != Role::Admin {
        return Err(ApiError::forbidden("administrators only"));
    }
    Ok(())
}

/// A kind of background job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum JobKindName {
    Thumbnails,
    Indexing,
    Outbox,
}

impl From<JobKind> for JobKindName {
    fn from(kind: JobKind) -> Self {
        match kind {
            JobKind::Thumbnails => Self::Thumbnails,
            JobKind::Indexing => Self::Indexing,
            JobKind::Outbox => Self::Outbox,
        }
    }
}

#[derive(Debug, Object)]
pub struct JobKindReply {
    pub kind: JobKindName,
    pub pending: u64,
    /// Delivered and not yet settled; null where the bus cannot tell.
    #[oai(nullable)]
    pub in_flight: Option<u64>,
    pub failed: u64,
    pub done_last_hour: u64,
    /// Seconds; null when nothing waits.
    #[oai(nullable)]
    pub oldest_pending_age_secs: Option<f64>,
}

impl From<JobKindStatus> for JobKindReply {
    fn from(s: JobKindStatus) -> Self {
        Self {
            kind: s.kind.into(),
            pending: s.pending,
            in_flight: s.in_flight,
            failed: s.failed,
            done_last_hour: s.done_last_hour,
            oldest_pending_age_secs: s.oldest_pending_age_secs,
        }
    }
}

#[derive(Debug, Object)]
pub struct ReindexProgressReply {
    pub running: bool,
    pub done: u64,
    pub total: u64,
    /// 0 to 100.
    pub percent: u32,
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Why the last run stopped early; null when it did not.
    #[oai(nullable)]
    pub error: Option<String>,
}

impl From<ReindexProgress> for ReindexProgressReply {
    fn from(p: ReindexProgress) -> Self {
        let percent = p.percent();
        Self {
            running: p.running,
            done: p.done,
            total: p.total,
            percent,
            started_at: p.started_at,
            finished_at: p.finished_at,
            error: p.error,
        }
    }
}

#[derive(Debug, Object)]
pub struct JobsReply {
    pub kinds: Vec<JobKindReply>,
    /// `jetstream` or `in-process`.
    pub bus: String,
    pub reindex: ReindexProgressReply,
}

#[derive(Debug, Object)]
pub struct FailedMediaReply {
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub owner_username: String,
    pub original_filename: String,
    pub error: String,
    pub attempts: i32,
    pub failed_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct FailedMediaListReply {
    pub files: Vec<FailedMediaReply>,
    pub page: u64,
    pub size: u64,
    pub total: u64,
}

#[derive(Debug, Object)]
pub struct ReindexReply {
    /// How many projects were republished as `project.created`.
    pub republished: u64,
    pub message: String,
}

#[derive(Debug, Object)]
pub struct RequeuedReply {
    /// How many thumbnails were queued again.
    pub queued: u64,
    pub message: String,
}

#[derive(Debug, Object)]
pub struct RegenerateReply {
    /// Thumbnails marked ready that were looked for in storage.
    pub checked: u64,
    /// Of those, missing and queued again.
    pub queued: u64,
    pub message: String,
}

/// One node of the cluster.
/// Whether a node answered within 1 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum NodeState {
    Reachable,
    Unreachable,
}

#[derive(Debug, Object)]
pub struct ClusterNodeReply {
    pub name: String,
    // No doc comment: on a field of a named type it makes poem-openapi wrap the
    // reference in an `allOf`, which openapi-python-client cannot take.
    pub state: NodeState,
    pub roles: Vec<String>,
    pub version: String,
    pub started_at: DateTime<Utc>,
    /// Null when the node did not answer.
    #[oai(nullable)]
    pub uptime_secs: Option<u64>,
    #[oai(nullable)]
    pub http_addr: Option<String>,
    #[oai(nullable)]
    pub cluster_addr: Option<String>,
    /// Restarts per supervised actor; null when the node did not answer.
    #[oai(nullable)]
    pub actor_restarts: Option<std::collections::BTreeMap<String, u64>>,
}

/// One JetStream durable consumer, over the whole cluster.
#[derive(Debug, Object)]
pub struct ConsumerReply {
    pub durable: String,
    /// In the stream, not yet delivered.
    pub pending: u64,
    /// Delivered, not yet acknowledged.
    pub ack_pending: u64,
}

#[derive(Debug, Object)]
pub struct ClusterReply {
    pub nodes: Vec<ClusterNodeReply>,
    /// Empty on the in-process bus.
    pub consumers: Vec<ConsumerReply>,
    /// Uploads waiting for their thumbnail.
    pub media_pending: u64,
    /// Uploads whose thumbnail failed for good.
    pub media_failed: u64,
}

impl From<ClusterStatus> for ClusterReply {
    fn from(status: ClusterStatus) -> Self {
        Self {
            nodes: status
                .nodes
                .into_iter()
                .map(|n| ClusterNodeReply {
                    name: n.name,
                    state: match n.state {
                        Reachability::Reachable => NodeState::Reachable,
                        Reachability::Unreachable => NodeState::Unreachable,
                    },
                    roles: n.roles,
                    version: n.version,
                    started_at: n.started_at,
                    uptime_secs: n.uptime_secs,
                    http_addr: n.http_addr,
                    cluster_addr: n.cluster_addr,
                    actor_restarts: n.actor_restarts,
                })
                .collect(),
            consumers: status
                .consumers
                .into_iter()
                .map(|c| ConsumerReply {
                    durable: c.durable,
                    pending: c.pending,
                    ack_pending: c.ack_pending,
                })
                .collect(),
            media_pending: status.media_pending,
            media_failed: status.media_failed,
        }
    }
}

/// An account deletion that has not finished.
#[derive(Debug, Object)]
pub struct PendingDeletionReply {
    pub user_id: Uuid,
    pub username: String,
    pub requested_at: DateTime<Utc>,
    /// Failed runs so far (each is retried with backoff on its own).
    pub attempts: i32,
    /// Why the last run failed.
    #[oai(nullable)]
    pub last_error: Option<String>,
}

impl From<AccountDeletion> for PendingDeletionReply {
    fn from(d: AccountDeletion) -> Self {
        Self {
            user_id: d.user_id,
            username: d.username,
            requested_at: d.requested_at,
            attempts: d.attempts,
            last_error: d.last_error,
        }
    }
}

#[derive(Debug, Object)]
pub struct PendingDeletionsReply {
    pub deletions: Vec<PendingDeletionReply>,
}

#[derive(Debug, Object)]
pub struct DeletionRetriedReply {
    pub message: String,
}

fn file_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::new(ErrorCode::MediaNotFound, "media file not found"))
}

pub struct AdminApi {
    pub state: EdgeState,
}

#[OpenApi(prefix_path = "/admin", tag = "crate::ApiTags::Admin")]
impl AdminApi {
    /// Every job kind with its counts, and the reindex run.
    #[oai(path = "/jobs", method = "get", operation_id = "getJobs")]
    async fn jobs(&self, auth: AdminAuth) -> Result<Json<JobsReply>, ApiError> {
        require_admin(&self.state, auth.claims()).await?;
        let kinds = self.state.jobs.status().await?;
        Ok(Json(JobsReply {
            kinds: kinds.into_iter().map(Into::into).collect(),
            bus: self.state.jobs.bus.name().to_string(),
            reindex: self.state.reindex.progress().into(),
        }))
    }

    /// Every node of the cluster (an embedded node is a cluster of one): whether it
    /// answers within 1 s, its actors' restarts, and the queues the nodes share.
    #[oai(path = "/cluster", method = "get", operation_id = "getCluster")]
    async fn cluster(&self, auth: AdminAuth) -> Result<Json<ClusterReply>, ApiError> {
        require_admin(&self.state, auth.claims()).await?;
        Ok(Json(self.state.cluster.status(&self.state.jobs).await?.into()))
    }

    /// Thumbnails that failed for good, most recent first.
    #[oai(path = "/media/failed", method = "get", operation_id = "listFailedMedia")]
    async fn failed(
        &self,
        auth: AdminAuth,
        /// From 1.
        page: Query<Option<PageNumber>>,
        /// 1 to 100, default 20.
        size: Query<Option<PageSize>>,
    ) -> Result<Json<FailedMediaListReply>, ApiError> {
        require_admin(&self.state, auth.claims()).await?;
        let listed = self
            .state
            .media
            .list_failed(PageRequest::parse(page.0.map(|p| p.0), size.0.map(|s| s.0))?)
            .await?;
        Ok(Json(FailedMediaListReply {
            files: listed
                .files
                .into_iter()
                .map(|f| FailedMediaReply {
                    file_id: f.file_id,
                    owner_id: f.owner_id,
                    owner_username: f.owner_username,
                    original_filename: f.original_filename,
                    error: f.error,
                    attempts: f.attempts,
                    failed_at: f.failed_at,
                })
                .collect(),
            page: listed.page,
            size: listed.size,
            total: listed.total,
        }))
    }

    /// Account deletions that have not finished, oldest first.
    #[oai(path = "/deletions", method = "get", operation_id = "listPendingDeletions")]
    async fn deletions(&self, auth: AdminAuth) -> Result<Json<PendingDeletionsReply>, ApiError> {
        require_admin(&self.state, auth.claims()).await?;
        let pending = self.state.session.pending_deletions().await?;
        Ok(Json(PendingDeletionsReply {
            deletions: pending.into_iter().map(Into::into).collect(),
        }))
    }

    /// Run a pending account deletion again now: its `user.deleted` is committed again,
    /// and every step skips what is already gone.
    #[oai(path = "/deletions/:user_id/retry", method = "post", operation_id = "retryDeletion")]
    async fn retry_deletion(
        &self,
        auth: AdminAuth,
        user_id: Path<String>,
    ) -> Result<Json<DeletionRetriedReply>, ApiError> {
        require_admin(&self.state, auth.claims()).await?;
        let user_id = Uuid::parse_str(&user_id)
            .map_err(|_| ApiError::new(ErrorCode::DeletionNotFound, "no deletion of that account is pending"))?;
        self.state.session.retry_deletion(user_id).await?;
        Ok(Json(DeletionRetriedReply {
            message: "account deletion started again".to_string(),
        }))
    }

    /// Queue one failed thumbnail again (same queue and retry rules as a first attempt).
    #[oai(path = "/media/:file_id/retry", method = "post", operation_id = "retryMedia")]
    async fn retry(&self, auth: AdminAuth, file_id: Path<String>) -> Result<Json<RequeuedReply>, ApiError> {
        require_admin(&self.state, auth.claims()).await?;
        self.state.media.retry_failed(self::file_id(&file_id)?).await?;
        Ok(Json(RequeuedReply {
            queued: 1,
            message: "thumbnail queued again".to_string(),
        }))
    }

    /// Queue every failed thumbnail again, or those whose error contains `error_contains`.
    #[oai(path = "/media/retry-failed", method = "post", operation_id = "retryFailedMedia")]
    async fn retry_failed(
        &self,
        auth: AdminAuth,
        /// At most 200 characters, no control characters.
        error_contains: Query<Option<JsonText<200>>>,
    ) -> Result<Json<RequeuedReply>, ApiError> {
        require_admin(&self.state, auth.claims()).await?;
        let error_contains = error_contains.0.map(|text| text.0);
        if error_contains.as_deref().is_some_and(|s| s.chars().count() > 200) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidErrorContains,
                "error_contains is at most 200 characters",
            ));
        }
        let queued = self
            .state
            .media
            .retry_all_failed(error_contains.as_deref(), |_, _| {})
            .await?;
        Ok(Json(RequeuedReply {
            queued,
            message: format!("{queued} thumbnails queued again"),
        }))
    }

    /// Queue every image whose thumbnail is missing from storage.
    #[oai(
        path = "/media/regenerate-missing",
        method = "post",
        operation_id = "regenerateMissingThumbnails"
    )]
    async fn regenerate_missing(&self, auth: AdminAuth) -> Result<Json<RegenerateReply>, ApiError> {
        require_admin(&self.state, auth.claims()).await?;
        let report = self.state.media.regenerate_missing(|_, _| {}).await?;
        Ok(Json(RegenerateReply {
            checked: report.checked,
            queued: report.queued,
            message: format!(
                "{} of {} thumbnails were missing and are queued",
                report.queued, report.checked
            ),
        }))
    }

    /// Republish every project as `project.created` so the search index is rebuilt.
    /// Answers when all are in the outbox; 409 while another run is going.
    #[oai(path = "/reindex-projects", method = "post", operation_id = "startReindex")]
    async fn reindex(&self, auth: AdminAuth) -> Result<Json<ReindexReply>, ApiError> {
        require_admin(&self.state, auth.claims()).await?;
        let run = self.state.reindex.begin()?;
        // The run is its own task: a caller that hangs up does not cut it short.
        let projects = self.state.projects.clone();
        let task = tokio::spawn(async move {
            let result = projects.republish_all(|done, total| run.advance(done, total)).await;
            run.finish(result.as_ref().map(|n| *n));
            result
        });
        let republished = task.await.map_err(ApiError::internal_from)??;
        Ok(Json(ReindexReply {
            republished,
            message: format!("{republished} projects republished"),
        }))
    }

    /// Progress of the current or last reindex run.
    #[oai(path = "/reindex-projects", method = "get", operation_id = "getReindexProgress")]
    async fn reindex_progress(&self, auth: AdminAuth) -> Result<Json<ReindexProgressReply>, ApiError> {
        require_admin(&self.state, auth.claims()).await?;
        Ok(Json(self.state.reindex.progress().into()))
    }
}
