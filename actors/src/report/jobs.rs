//! Background jobs as an operator sees them: thumbnails, indexing and the outbox relay.
//! Counts come from the real state (media rows, outbox rows and, on JetStream, the
//! durable consumers); what only a running node knows (jobs in progress here, how long
//! they took) is reported through [`JobActivity`]. The reindex run is tracked here too,
//! so a second one is refused while the first is going.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use folio_entities::{
    media_files::{self, ThumbnailStatus, UploadState},
    outbox_events,
};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};
use serde::{Deserialize, Serialize};

use super::cluster::ConsumerStatus;
use crate::{
    events::{BusError, ConsumerBacklog, EventBus},
    indexer,
    jobs::{JobActivity, JobKind},
    thumbnailer,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobKindStatus {
    pub kind: JobKind,
    /// Waiting to be worked on.
    pub pending: u64,
    /// Being worked on (delivered, not yet settled); `None` where the bus cannot tell.
    pub in_flight: Option<u64>,
    /// Given up for good, waiting for an operator.
    pub failed: u64,
    pub done_last_hour: u64,
    /// Age of the oldest pending job; `None` when nothing waits.
    pub oldest_pending_age_secs: Option<f64>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum JobsError {
    #[error("reading job state from the database")]
    Database(#[source] Arc<DbErr>),
    #[error("the reindex progress lock is poisoned")]
    ProgressPoisoned,
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("a reindex is already running")]
    ReindexRunning,
}

impl From<DbErr> for JobsError {
    fn from(error: DbErr) -> Self {
        JobsError::Database(Arc::new(error))
    }
}

#[derive(Clone)]
pub struct JobsContext {
    pub db: DatabaseConnection,
    pub bus: Arc<dyn EventBus>,
    pub activity: JobActivity,
}

fn age_secs(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<f64> {
    since.map(|t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0)
}

fn older(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Outbox rows of the indexer's streams (`project.*`, `profile.*`).
fn indexed_events() -> Condition {
    Condition::any()
        .add(outbox_events::Column::EventType.like("project.%"))
        .add(outbox_events::Column::EventType.like("profile.%"))
}

/// The queues every node shares, for the cluster view.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterQueues {
    pub consumers: Vec<ConsumerStatus>,
    pub media_pending: u64,
    pub media_failed: u64,
}

impl JobsContext {
    /// Each durable consumer's backlog (JetStream only) and the media rows waiting for
    /// or failed at their thumbnail.
    pub async fn cluster_queues(&self) -> Result<ClusterQueues, JobsError> {
        let (media_pending, media_failed) = self.thumbnail_counts().await?;
        let (thumbnails, indexing) = self.consumer_backlogs().await?;
        let consumers = [(thumbnailer::DURABLE, thumbnails), (indexer::DURABLE, indexing)]
            .into_iter()
            .filter_map(|(durable, backlog)| {
                backlog.map(|b| ConsumerStatus {
                    durable: durable.to_string(),
                    pending: b.pending,
                    ack_pending: b.ack_pending,
                })
            })
            .collect();
        Ok(ClusterQueues {
            consumers,
            media_pending,
            media_failed,
        })
    }

    /// Stored uploads whose thumbnail is pending, and those whose thumbnail failed for good.
    async fn thumbnail_counts(&self) -> Result<(u64, u64), JobsError> {
        let stored = || media_files::Entity::find().filter(media_files::Column::UploadState.eq(UploadState::Stored));
        let pending = stored()
            .filter(media_files::Column::ThumbnailStatus.eq(ThumbnailStatus::Pending))
            .count(&self.db)
            .await?;
        let failed = stored()
            .filter(media_files::Column::ThumbnailStatus.eq(ThumbnailStatus::Failed))
            .count(&self.db)
            .await?;
        Ok((pending, failed))
    }

    /// The backlogs of the thumbnailer's and the indexer's durable consumers (`None` where
    /// the bus has no such consumer).
    async fn consumer_backlogs(&self) -> Result<(Option<ConsumerBacklog>, Option<ConsumerBacklog>), JobsError> {
        let thumbnails = self
            .bus
            .consumer_backlog(
                thumbnailer::DURABLE,
                &[crate::events::EventType::MediaUploaded.as_str()],
            )
            .await?;
        let index_subjects = indexer::subjects();
        let index_subjects: Vec<&str> = index_subjects.iter().map(String::as_str).collect();
        let indexing = self.bus.consumer_backlog(indexer::DURABLE, &index_subjects).await?;
        Ok((thumbnails, indexing))
    }

    pub async fn status(&self) -> Result<Vec<JobKindStatus>, JobsError> {
        let now = Utc::now();
        let hour_ago = now - chrono::Duration::hours(1);
        let db = &self.db;
        let jetstream = self.bus.name() == "jetstream";

        // Thumbnails: the media rows are the truth; the consumer tells what is in flight.
        let stored = || media_files::Entity::find().filter(media_files::Column::UploadState.eq(UploadState::Stored));
        let (thumbnails_pending, thumbnails_failed) = self.thumbnail_counts().await?;
        let thumbnails_done = stored()
            .filter(media_files::Column::ThumbnailStatus.is_in([ThumbnailStatus::Ready, ThumbnailStatus::Skipped]))
            .filter(media_files::Column::UpdatedAt.gte(hour_ago))
            .count(db)
            .await?;
        let oldest_thumbnail: Option<DateTime<Utc>> = stored()
            .filter(media_files::Column::ThumbnailStatus.eq(ThumbnailStatus::Pending))
            .select_only()
            .column_as(media_files::Column::ThumbnailQueuedAt.min(), "oldest")
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(db)
            .await?
            .flatten();
        let (thumbnail_consumer, index_consumer) = self.consumer_backlogs().await?;

        // Indexing: events still in the outbox, plus (JetStream) what the consumer has
        // not yet acknowledged. On the in-process bus an event stays in the outbox until
        // the indexer acknowledged it, so the outbox alone is the backlog.
        let unpublished = || outbox_events::Entity::find().filter(outbox_events::Column::PublishedAt.is_null());
        let indexing_outbox = unpublished().filter(indexed_events()).count(db).await?;
        let oldest_indexing_outbox: Option<DateTime<Utc>> = unpublished()
            .filter(indexed_events())
            .select_only()
            .column_as(outbox_events::Column::CreatedAt.min(), "oldest")
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(db)
            .await?
            .flatten();
        let indexing_published = outbox_events::Entity::find()
            .filter(indexed_events())
            .filter(outbox_events::Column::PublishedAt.gte(hour_ago))
            .count(db)
            .await?;

        let outbox_pending = unpublished().count(db).await?;
        let oldest_outbox: Option<DateTime<Utc>> = unpublished()
            .select_only()
            .column_as(outbox_events::Column::CreatedAt.min(), "oldest")
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(db)
            .await?
            .flatten();
        let outbox_done = outbox_events::Entity::find()
            .filter(outbox_events::Column::PublishedAt.gte(hour_ago))
            .count(db)
            .await?;

        let index_backlog = index_consumer.map(|c| c.pending + c.ack_pending).unwrap_or(0);
        Ok(vec![
            JobKindStatus {
                kind: JobKind::Thumbnails,
                pending: thumbnails_pending,
                in_flight: Some(match thumbnail_consumer {
                    Some(c) => c.ack_pending,
                    None => self.activity.in_flight(JobKind::Thumbnails),
                }),
                failed: thumbnails_failed,
                done_last_hour: thumbnails_done,
                oldest_pending_age_secs: age_secs(oldest_thumbnail, now),
            },
            JobKindStatus {
                kind: JobKind::Indexing,
                pending: indexing_outbox + index_consumer.map(|c| c.pending).unwrap_or(0),
                in_flight: match index_consumer {
                    Some(c) => Some(c.ack_pending),
                    None if jetstream => None,
                    None => Some(self.activity.in_flight(JobKind::Indexing)),
                },
                // The indexer never gives up: a failing event is retried until it succeeds.
                failed: 0,
                done_last_hour: indexing_published.saturating_sub(index_backlog),
                oldest_pending_age_secs: age_secs(
                    older(oldest_indexing_outbox, index_consumer.and_then(|c| c.oldest_pending_at)),
                    now,
                ),
            },
            JobKindStatus {
                kind: JobKind::Outbox,
                pending: outbox_pending,
                // The relay keeps publishing until the bus acknowledges; nothing fails for good.
                in_flight: None,
                failed: 0,
                done_last_hour: outbox_done,
                oldest_pending_age_secs: age_secs(oldest_outbox, now),
            },
        ])
    }
}

/// Progress of the current (or last) reindex run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReindexProgress {
    pub running: bool,
    pub done: u64,
    pub total: u64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Why the last run stopped early.
    pub error: Option<String>,
}

impl ReindexProgress {
    /// How far the run is: 100 once it finished whole, 0 before it knows its total.
    pub fn percent(&self) -> u32 {
        match (self.running, self.total) {
            (false, _) if self.finished_at.is_some() && self.error.is_none() => 100,
            (_, 0) => 0,
            (_, total) => u32::try_from((self.done.min(total) * 100) / total).unwrap_or(100),
        }
    }
}

/// One reindex at a time per node; its progress for whoever asks.
#[derive(Clone, Default)]
pub struct ReindexTracker {
    progress: Arc<Mutex<ReindexProgress>>,
}

impl ReindexTracker {
    pub fn progress(&self) -> ReindexProgress {
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Marks a run as started, or refuses when one is going.
    pub fn begin(&self) -> Result<ReindexRun, JobsError> {
        let mut progress = self.progress.lock().map_err(|_| JobsError::ProgressPoisoned)?;
        if progress.running {
            return Err(JobsError::ReindexRunning);
        }
        *progress = ReindexProgress {
            running: true,
            started_at: Some(Utc::now()),
            ..ReindexProgress::default()
        };
        Ok(ReindexRun {
            tracker: self.clone(),
            ended: false,
        })
    }

    fn update(&self, change: impl FnOnce(&mut ReindexProgress)) {
        if let Ok(mut progress) = self.progress.lock() {
            change(&mut progress);
        }
    }
}

/// A reindex in progress; dropping it unfinished records that it stopped.
pub struct ReindexRun {
    tracker: ReindexTracker,
    ended: bool,
}

impl ReindexRun {
    pub fn advance(&self, done: u64, total: u64) {
        self.tracker.update(|p| {
            p.done = done;
            p.total = total;
        });
    }

    pub fn finish<E: std::error::Error>(mut self, result: Result<u64, &E>) {
        match result {
            Ok(done) => self.end(RunEnd::Done(done)),
            Err(error) => self.end(RunEnd::Failed(error.to_string())),
        }
    }

    fn end(&mut self, how: RunEnd) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.tracker.update(|p| {
            p.running = false;
            p.finished_at = Some(Utc::now());
            match how {
                RunEnd::Done(done) => {
                    p.done = done;
                    p.total = p.total.max(done);
                    p.error = None;
                }
                RunEnd::Failed(reason) => p.error = Some(reason),
            }
        });
    }
}

/// How a run ended, as the progress shows it.
enum RunEnd {
    Done(u64),
    /// Why it stopped, for the operator.
    Failed(String),
}

impl Drop for ReindexRun {
    fn drop(&mut self) {
        self.end(RunEnd::Failed("the run was interrupted".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_reindex_is_refused_while_one_runs() {
        let tracker = ReindexTracker::default();
        let run = tracker.begin().expect("first run starts");
        run.advance(3, 10);
        assert!(matches!(tracker.begin(), Err(JobsError::ReindexRunning)));
        let progress = tracker.progress();
        assert!(progress.running);
        assert_eq!((progress.done, progress.total), (3, 10));
        run.finish::<JobsError>(Ok(10));
        let progress = tracker.progress();
        assert!(!progress.running);
        assert_eq!((progress.done, progress.total), (10, 10));
        assert!(progress.finished_at.is_some());
        tracker.begin().expect("a new run starts once the first ended");
    }

    #[test]
    fn an_interrupted_run_frees_the_tracker_and_says_so() {
        let tracker = ReindexTracker::default();
        drop(tracker.begin().expect("starts"));
        let progress = tracker.progress();
        assert!(!progress.running);
        assert!(progress.error.is_some());
    }
}
