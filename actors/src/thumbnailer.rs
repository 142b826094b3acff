//! The thumbnailer: a durable consumer of `media.uploaded`, shared by every node that
//! runs the thumbnailer role. Decoding and encoding run on a bounded blocking pool;
//! long jobs tell the bus they are still working; transient failures come back with
//! exponential backoff (2^n × base) until `max_attempts`, then the media is marked
//! `failed` for good. A redelivered job whose media is already settled is acknowledged
//! without work, so redelivery is harmless.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::Utc;
use folio_entities::media_files;
use folio_media::{ThumbnailSpec, make_thumbnail};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::JoinHandle,
};
use uuid::Uuid;

use crate::{
    blocking::BlockingPool,
    events::{ConsumerSpec, Delivery, EventBus, types},
    jobs::{JobActivity, JobKind},
    media::{MediaContext, service::thumbnail_status},
    project::{ProjectClient, ProjectError, ThumbnailSetter, ThumbnailUrl},
    supervisor::{NodeSupervisor, SupervisorMsg},
};

#[derive(Debug, Clone)]
pub struct ThumbnailerConfig {
    pub max_attempts: u32,
    /// Backoff after attempt n is `2^n × backoff_base`.
    pub backoff_base: Duration,
    pub ack_wait: Duration,
    /// Jobs in progress at once on this node.
    pub concurrency: usize,
    pub spec: ThumbnailSpec,
}

pub struct ThumbnailerContext {
    pub media: Arc<MediaContext>,
    pub projects: ProjectClient,
    pub bus: Arc<dyn EventBus>,
    pub cpu: BlockingPool,
    pub config: ThumbnailerConfig,
    /// Jobs in progress here, and where finished ones are reported.
    pub activity: JobActivity,
    /// One job per file at a time on this node.
    working: Mutex<HashSet<Uuid>>,
}

impl ThumbnailerContext {
    pub fn new(
        media: Arc<MediaContext>,
        projects: ProjectClient,
        bus: Arc<dyn EventBus>,
        cpu: BlockingPool,
        config: ThumbnailerConfig,
    ) -> Self {
        Self {
            media,
            projects,
            bus,
            cpu,
            config,
            activity: JobActivity::default(),
            working: Mutex::new(HashSet::new()),
        }
    }

    pub fn with_activity(mut self, activity: JobActivity) -> Self {
        self.activity = activity;
        self
    }
}

pub enum ThumbnailerMsg {
    Job(Delivery, OwnedSemaphorePermit),
}

#[derive(Clone)]
pub struct Thumbnailer;

pub struct ThumbnailerState {
    ctx: Arc<ThumbnailerContext>,
    pump: JoinHandle<()>,
}

pub const DURABLE: &str = "thumbnailer";

impl Actor for Thumbnailer {
    type Msg = ThumbnailerMsg;
    type State = ThumbnailerState;
    type Arguments = Arc<ThumbnailerContext>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        ctx: Arc<ThumbnailerContext>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut subscription = ctx
            .bus
            .subscribe(ConsumerSpec {
                durable: DURABLE.to_string(),
                subjects: vec![types::MEDIA_UPLOADED.to_string()],
                ack_wait: ctx.config.ack_wait,
                max_deliver: i64::from(ctx.config.max_attempts) + 2,
            })
            .await?;
        let slots = Arc::new(Semaphore::new(ctx.config.concurrency.max(1)));
        // Pull only as many jobs as can run, so the others stay with the bus for other nodes.
        let pump = tokio::spawn(async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let Some(delivery) = subscription.next().await else {
                    break;
                };
                if myself.cast(ThumbnailerMsg::Job(delivery, permit)).is_err() {
                    break;
                }
            }
        });
        Ok(ThumbnailerState { ctx, pump })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let ThumbnailerMsg::Job(delivery, permit) = message;
        let ctx = state.ctx.clone();
        tokio::spawn(async move {
            process(&ctx, delivery).await;
            drop(permit);
        });
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, state: &mut Self::State) -> Result<(), ActorProcessingErr> {
        state.pump.abort();
        Ok(())
    }
}

/// Starts the thumbnailer under the node supervisor.
pub async fn start(supervisor: &ActorRef<SupervisorMsg>, ctx: Arc<ThumbnailerContext>) -> Result<(), String> {
    NodeSupervisor::start_singleton(supervisor, "thumbnailer", Thumbnailer, ctx).await
}

enum Outcome {
    Done,
    /// Retrying cannot help (bad image, missing source).
    Permanent(String),
    /// Worth another attempt (storage or database unavailable).
    Transient(String),
}

async fn process(ctx: &ThumbnailerContext, delivery: Delivery) {
    let Some(file_id) = delivery
        .event
        .data
        .get("file_id")
        .and_then(|v| v.as_str())
        .and_then(|v| Uuid::parse_str(v).ok())
    else {
        tracing::error!(event_id = %delivery.event.event_id, "media.uploaded without a file_id; dropping it");
        let _ = delivery.term().await;
        return;
    };
    let claimed = ctx.working.lock().map(|mut w| w.insert(file_id)).unwrap_or(false);
    if !claimed {
        let _ = delivery.nak(Duration::from_secs(1)).await;
        return;
    }
    let attempt = delivery.attempt;
    let job = ctx.activity.start(JobKind::Thumbnails);
    let outcome = {
        let work = thumbnail_once(ctx, file_id);
        tokio::pin!(work);
        let tick = (ctx.config.ack_wait / 3).max(Duration::from_millis(100));
        loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = tokio::time::sleep(tick) => {
                    let _ = delivery.in_progress().await;
                }
            }
        }
    };
    let settle = match outcome {
        Ok(Outcome::Done) => {
            job.finish(false);
            delivery.ack().await
        }
        Ok(Outcome::Permanent(reason)) => {
            record_failure(ctx, file_id, &reason, attempt, true).await;
            job.finish(true);
            delivery.term().await
        }
        Ok(Outcome::Transient(reason)) | Err(reason) => {
            if attempt >= ctx.config.max_attempts {
                tracing::warn!(%file_id, attempt, %reason, "thumbnail failed for good");
                record_failure(ctx, file_id, &reason, attempt, true).await;
                job.finish(true);
                delivery.term().await
            } else {
                job.finish(false);
                record_failure(ctx, file_id, &reason, attempt, false).await;
                let delay = ctx.config.backoff_base * 2u32.saturating_pow(attempt.min(16));
                tracing::info!(%file_id, attempt, %reason, ?delay, "thumbnail failed; retrying later");
                delivery.nak(delay).await
            }
        }
    };
    if let Err(e) = settle {
        tracing::warn!(%file_id, error = %e, "settling a thumbnail job; the bus will redeliver it");
    }
    if let Ok(mut working) = ctx.working.lock() {
        working.remove(&file_id);
    }
}

async fn thumbnail_once(ctx: &ThumbnailerContext, file_id: Uuid) -> Result<Outcome, String> {
    let media = &ctx.media;
    let Some(row) = media_files::Entity::find_by_id(file_id)
        .one(&media.db)
        .await
        .map_err(|e| e.to_string())?
    else {
        // Deleted before we got to it.
        return Ok(Outcome::Done);
    };
    if row.thumbnail_status != thumbnail_status::PENDING {
        return Ok(Outcome::Done);
    }
    if !row.mime_type.starts_with("image/") {
        set_status(ctx, file_id, thumbnail_status::SKIPPED, None).await?;
        return Ok(Outcome::Done);
    }
    let source = match media.blobs.get(&row.file_path).await {
        Ok(blob) => blob,
        Err(folio_media::BlobError::NotFound(_)) => {
            return Ok(Outcome::Permanent("the uploaded file is missing".into()));
        }
        Err(e) => return Ok(Outcome::Transient(e.to_string())),
    };
    let spec = ctx.config.spec.clone();
    let thumbnail = ctx
        .cpu
        .run(move || make_thumbnail(&source.bytes, &spec))
        .await
        .map_err(|e| e.to_string())?;
    let thumbnail = match thumbnail {
        Ok(t) => t,
        Err(e) => return Ok(Outcome::Permanent(e.to_string())),
    };
    let key = format!("thumbnails/{}/{}_thumb.jpg", row.user_id, row.id);
    if let Err(e) = media.blobs.put(&key, thumbnail.jpeg.into(), "image/jpeg").await {
        return Ok(Outcome::Transient(e.to_string()));
    }
    let url = media.url_for(&key);
    // The project first: if this fails the job is retried and the media stays pending,
    // so the project is never left without the thumbnail its media claims to have.
    if let Some(project_id) = row.project_id {
        let thumbnail_url = ThumbnailUrl::parse(&url).map_err(|e| e.to_string())?;
        match ctx
            .projects
            .set_thumbnail(project_id, thumbnail_url, ThumbnailSetter::System)
            .await
        {
            Ok(_) | Err(ProjectError::NotFound) => {}
            Err(e) => return Ok(Outcome::Transient(format!("updating the project: {e}"))),
        }
    }
    media_files::Entity::update_many()
        .col_expr(
            media_files::Column::ThumbnailStatus,
            Expr::value(thumbnail_status::READY),
        )
        .col_expr(media_files::Column::ThumbnailPath, Expr::value(key))
        .col_expr(media_files::Column::ThumbnailUrl, Expr::value(url))
        .col_expr(media_files::Column::ThumbnailError, Expr::value(Option::<String>::None))
        .col_expr(media_files::Column::Width, Expr::value(thumbnail.source_width as i32))
        .col_expr(media_files::Column::Height, Expr::value(thumbnail.source_height as i32))
        .col_expr(media_files::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(media_files::Column::Id.eq(file_id))
        .exec(&media.db)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(%file_id, "thumbnail ready");
    Ok(Outcome::Done)
}

async fn set_status(ctx: &ThumbnailerContext, file_id: Uuid, status: &str, error: Option<&str>) -> Result<(), String> {
    media_files::Entity::update_many()
        .col_expr(media_files::Column::ThumbnailStatus, Expr::value(status))
        .col_expr(
            media_files::Column::ThumbnailError,
            Expr::value(error.map(str::to_string)),
        )
        .col_expr(media_files::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(media_files::Column::Id.eq(file_id))
        .exec(&ctx.media.db)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn record_failure(ctx: &ThumbnailerContext, file_id: Uuid, reason: &str, attempt: u32, final_failure: bool) {
    let mut update = media_files::Entity::update_many()
        .col_expr(media_files::Column::ThumbnailError, Expr::value(reason.to_string()))
        .col_expr(media_files::Column::ThumbnailAttempts, Expr::value(attempt as i32))
        .col_expr(media_files::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(media_files::Column::Id.eq(file_id));
    if final_failure {
        update = update
            .col_expr(
                media_files::Column::ThumbnailStatus,
                Expr::value(thumbnail_status::FAILED),
            )
            .col_expr(media_files::Column::ThumbnailFailedAt, Expr::value(Utc::now()));
    }
    if let Err(e) = update.exec(&ctx.media.db).await {
        tracing::error!(%file_id, error = %e, "recording a thumbnail failure");
    }
}
