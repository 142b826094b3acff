//! The thumbnail runner: a supervised loop (see [`crate::supervised_loop`]) that owns the
//! durable consumer of `media.uploaded`, shared by every node with the thumbnailer role.
//! It takes a job only when a slot is free, so the others stay with the bus for other
//! nodes, and runs each job as a task of its own; a job that panics fails the runner,
//! which the supervisor restarts. Decoding and encoding run on a bounded blocking pool;
//! long jobs tell the bus they are still working; failures the error calls retryable
//! (storage or database unavailable) come back with exponential backoff (2^n × base)
//! until `max_attempts`, anything else fails the thumbnail for good at once. A
//! redelivered job whose media is already settled is acknowledged without work, so
//! redelivery is harmless. Outcomes are written by the media domain, which owns
//! `media_files`; one job per file runs at a time on a node. The owner hears of each
//! settled thumbnail live (`/events`, through every node's hub).

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use folio_media::{BlobError, ThumbnailError, ThumbnailSpec, make_renditions};
use futures::future::BoxFuture;
use ractor::ActorRef;
use tokio::sync::Semaphore;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::{
    blocking::{BlockingError, BlockingPool},
    cluster::{LiveEvent, LiveEvents},
    errors::error_chain,
    events::{ConsumerSpec, Delivery, DomainEvent, EventBus, EventObserver, EventType, next_event},
    faults::{self, FaultPoint},
    jobs::{JobActivity, JobKind},
    media::{
        MediaClient, MediaError, RenditionView, StoredRendition,
        thumbnails::{self, ThumbnailJob},
    },
    project::{ProjectClient, ProjectError, ThumbnailSetter, ThumbnailUrl},
    supervised_loop::{LoopActor, LoopBody, LoopError, LoopScope, subscribe_until_stopped},
    supervisor::{SupervisorError, SupervisorMsg},
    validation::ValidationError,
};

pub const DURABLE: &str = "thumbnailer";
/// The runner's name under the node supervisor (and in `folio_actor_restarts_total`).
pub const ACTOR: &str = "thumbnailer";

/// The events the thumbnailer consumes.
pub fn subjects() -> Vec<String> {
    vec![EventType::MediaUploaded.as_str().to_string()]
}

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
    /// Where the jobs come from and their outcomes go: the media domain owns the rows.
    pub media: MediaClient,
    pub projects: ProjectClient,
    pub bus: Arc<dyn EventBus>,
    pub cpu: BlockingPool,
    pub config: ThumbnailerConfig,
    /// Jobs in progress here, and where finished ones are reported.
    pub activity: JobActivity,
    /// Where deliveries that are not events are counted.
    pub events: Option<Arc<dyn EventObserver>>,
    /// Free job slots; kept across restarts of the runner, so jobs still running from
    /// before a restart keep counting against the limit.
    slots: Arc<Semaphore>,
    /// One job per file at a time on this node.
    working: Mutex<HashSet<Uuid>>,
}

impl ThumbnailerContext {
    pub fn new(
        media: MediaClient,
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
            slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
            activity: JobActivity::default(),
            events: None,
            working: Mutex::new(HashSet::new()),
        }
    }

    pub fn with_activity(mut self, activity: JobActivity) -> Self {
        self.activity = activity;
        self
    }

    pub fn with_event_observer(mut self, observer: Arc<dyn EventObserver>) -> Self {
        self.events = Some(observer);
        self
    }

    fn consumer(&self) -> ConsumerSpec {
        ConsumerSpec {
            durable: DURABLE.to_string(),
            subjects: subjects(),
            ack_wait: self.config.ack_wait,
            max_deliver: i64::from(self.config.max_attempts) + 2,
        }
    }
}

impl LoopBody for ThumbnailerContext {
    fn run(self: Arc<Self>, mut scope: LoopScope) -> BoxFuture<'static, Result<(), LoopError>> {
        Box::pin(async move {
            let Some(mut subscription) =
                subscribe_until_stopped(self.bus.as_ref(), &self.consumer(), &mut scope).await?
            else {
                return Ok(());
            };
            loop {
                let permit = tokio::select! {
                    _ = scope.stopped() => return Ok(()),
                    permit = self.slots.clone().acquire_owned() => {
                        permit.map_err(|_| LoopError::PartStopped { what: "the job slots" })?
                    }
                };
                let delivery = tokio::select! {
                    _ = scope.stopped() => return Ok(()),
                    delivery = next_event(subscription.as_mut(), self.events.as_deref()) => {
                        delivery.ok_or(LoopError::SubscriptionEnded)?
                    }
                };
                faults::hit(FaultPoint::ThumbnailerPump);
                let ctx = self.clone();
                let span = tracing::info_span!(
                    "thumbnail_job",
                    event_id = %delivery.event.event_id,
                    attempt = delivery.attempt,
                    file_id = tracing::field::Empty
                );
                scope.spawn(
                    async move {
                        process(&ctx, delivery).await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
        })
    }
}

/// Starts the thumbnail runner under the node supervisor.
pub async fn start(supervisor: &ActorRef<SupervisorMsg>, ctx: Arc<ThumbnailerContext>) -> Result<(), SupervisorError> {
    LoopActor::start(supervisor, ACTOR, ctx).await
}

/// Why one attempt at a thumbnail failed.
#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error("reading or recording the media")]
    Media(#[source] MediaError),
    #[error("the uploaded file is missing")]
    SourceMissing(#[source] BlobError),
    #[error("reading the upload")]
    ReadSource(#[source] BlobError),
    #[error("the thumbnail worker")]
    Worker(#[source] BlockingError),
    #[error(transparent)]
    Image(ThumbnailError),
    #[error("storing the thumbnail")]
    StoreThumbnail(#[source] BlobError),
    #[error("the thumbnail URL")]
    Url(#[source] ValidationError),
    #[error("updating the project")]
    Project(#[source] ProjectError),
}

impl JobError {
    /// What the media row records (the uploader and the operator console see it): the
    /// problem with the upload itself in plain words, the cause chain for the rest.
    fn reason(&self) -> String {
        match self {
            JobError::SourceMissing(_) | JobError::Image(_) => self.to_string(),
            other => error_chain(other),
        }
    }

    /// Whether another attempt may succeed. Images that do not decode, a missing upload
    /// or a store that refuses us will answer the same way every time.
    fn is_retryable(&self) -> bool {
        match self {
            JobError::Media(_) | JobError::Project(_) => true,
            JobError::ReadSource(e) | JobError::StoreThumbnail(e) => e.is_retryable(),
            // A codec that panics on these bytes will panic on them again.
            JobError::Worker(BlockingError::Failed(e)) => !e.is_panic(),
            JobError::Worker(BlockingError::Closed(_)) => true,
            JobError::SourceMissing(_) | JobError::Image(_) | JobError::Url(_) => false,
        }
    }
}

/// Frees the file for another job when the job ends, however it ends.
struct Claim<'a> {
    working: &'a Mutex<HashSet<Uuid>>,
    file_id: Uuid,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut working) = self.working.lock() {
            working.remove(&self.file_id);
        }
    }
}

async fn process(ctx: &ThumbnailerContext, delivery: Delivery) {
    let DomainEvent::MediaUploaded(upload) = &delivery.event.event else {
        // The consumer's filter lets only `media.uploaded` through.
        tracing::error!(event_type = %delivery.event.event_type(), "not a thumbnail job; terminating it");
        if let Err(e) = delivery.term().await {
            tracing::warn!(error = %e, "terminating a delivery; the bus will offer it again");
        }
        return;
    };
    let file_id = upload.file_id;
    tracing::Span::current().record("file_id", tracing::field::display(file_id));
    let claimed = ctx.working.lock().map(|mut w| w.insert(file_id)).unwrap_or(false);
    if !claimed {
        let _ = delivery.nak(Duration::from_secs(1)).await;
        return;
    }
    let _claim = Claim {
        working: &ctx.working,
        file_id,
    };
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
        Ok(ready) => {
            job.finish(false);
            if let Some(ready) = ready {
                LiveEvents.publish(upload.owner_id, ready);
            }
            delivery.ack().await
        }
        Err(error) if !error.is_retryable() || attempt >= ctx.config.max_attempts => {
            let reason = error.reason();
            tracing::warn!(%file_id, attempt, error.cause_chain = %error_chain(&error), "thumbnail failed for good");
            record_failure(ctx, file_id, upload.project_id, reason.clone(), attempt, true).await;
            job.finish(true);
            LiveEvents.publish(upload.owner_id, LiveEvent::ThumbnailFailed { file_id, error: reason });
            delivery.term().await
        }
        Err(error) => {
            let reason = error.reason();
            job.finish(false);
            record_failure(ctx, file_id, upload.project_id, reason, attempt, false).await;
            let delay = ctx.config.backoff_base * 2u32.saturating_pow(attempt.min(16));
            tracing::info!(%file_id, attempt, error.cause_chain = %error_chain(&error), ?delay, "thumbnail failed; retrying later");
            delivery.nak(delay).await
        }
    };
    if let Err(e) = settle {
        tracing::warn!(%file_id, error = %e, "settling a thumbnail job; the bus will redeliver it");
    }
}

/// Makes the thumbnail; the live event to tell the owner, when one was made now.
async fn thumbnail_once(ctx: &ThumbnailerContext, file_id: Uuid) -> Result<Option<LiveEvent>, JobError> {
    let media = &ctx.media;
    // Gone, or settled by an earlier delivery: nothing to do.
    let Some(job) = media.thumbnail_job(file_id).await.map_err(JobError::Media)? else {
        return Ok(None);
    };
    if !job.mime_type.starts_with("image/") {
        media.thumbnail_skipped(file_id).await.map_err(JobError::Media)?;
        return Ok(None);
    }
    let source = media.blobs().get(&job.source_key).await.map_err(|e| match e {
        BlobError::NotFound(_) => JobError::SourceMissing(e),
        e => JobError::ReadSource(e),
    })?;
    let spec = ctx.config.spec.clone();
    let set = ctx
        .cpu
        .run(move || make_renditions(&source.bytes, &spec))
        .await
        .map_err(JobError::Worker)?
        .map_err(JobError::Image)?;
    // Renditions first, the seed's thumbnail last: a job that fails half-way is made
    // again whole under the same keys.
    let mut renditions = Vec::with_capacity(set.renditions.len());
    for rendition in set.renditions {
        let key = thumbnails::rendition_key(&job, rendition.width, rendition.height, rendition.format);
        let bytes = rendition.bytes.len() as u64;
        media
            .blobs()
            .put(&key, rendition.bytes.into(), rendition.format.mime())
            .await
            .map_err(JobError::StoreThumbnail)?;
        renditions.push(StoredRendition {
            width: rendition.width,
            height: rendition.height,
            format: rendition.format,
            key,
            bytes,
        });
    }
    let key = thumbnails::thumbnail_key(&job);
    media
        .blobs()
        .put(&key, set.thumbnail.bytes.into(), "image/jpeg")
        .await
        .map_err(JobError::StoreThumbnail)?;
    let url = media.url_for(&key);
    set_project_thumbnail(ctx, &job, &url).await?;
    let links = renditions
        .iter()
        .map(|r| RenditionView {
            url: media.url_for(&r.key),
            width: r.width,
            height: r.height,
            format: r.format,
            bytes: r.bytes,
        })
        .collect();
    media
        .thumbnail_ready(
            file_id,
            job.project_id,
            thumbnails::Ready {
                thumbnail_key: key,
                thumbnail_url: url.clone(),
                width: set.source_width,
                height: set.source_height,
                renditions,
                thumbhash: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &set.thumbhash),
            },
        )
        .await
        .map_err(JobError::Media)?;
    tracing::info!(%file_id, "thumbnail ready");
    Ok(Some(LiveEvent::ThumbnailReady {
        file_id,
        thumbnail_url: url,
        width: set.source_width,
        height: set.source_height,
        renditions: links,
    }))
}

/// The project first: if this fails the job is retried and the media stays pending, so
/// the project is never left without the thumbnail its media claims to have.
async fn set_project_thumbnail(ctx: &ThumbnailerContext, job: &ThumbnailJob, url: &str) -> Result<(), JobError> {
    let Some(project_id) = job.project_id else {
        return Ok(());
    };
    let thumbnail_url = ThumbnailUrl::parse(url).map_err(JobError::Url)?;
    match ctx
        .projects
        .set_thumbnail(project_id, thumbnail_url, ThumbnailSetter::System)
        .await
    {
        Ok(_) | Err(ProjectError::NotFound) => Ok(()),
        Err(e) => Err(JobError::Project(e)),
    }
}

async fn record_failure(
    ctx: &ThumbnailerContext,
    file_id: Uuid,
    project_id: Option<Uuid>,
    reason: String,
    attempt: u32,
    for_good: bool,
) {
    let failure = thumbnails::Failure {
        reason,
        attempt,
        for_good,
    };
    if let Err(e) = ctx.media.thumbnail_failed(file_id, project_id, failure).await {
        tracing::error!(%file_id, error.cause_chain = %error_chain(&e), "recording a thumbnail failure");
    }
}
