//! The indexer: a durable consumer of `project.>` and `profile.>` that keeps the search
//! index in step with the database. Documents are built from the database's current
//! state (display name included), and the engine refuses anything older than what it
//! holds (by `version`), so replays, duplicates and late events change nothing. A
//! failure is retried after a delay until it succeeds: nothing is dropped while the
//! engine is down.

use std::{sync::Arc, time::Duration};

use folio_entities::projects;
use folio_search::{SearchDocument, SearchEngine, SearchError};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use sea_orm::{DatabaseConnection, EntityTrait};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{
    events::{ConsumerSpec, Delivery, EventBus, types},
    jobs::{JobActivity, JobKind},
    profile::ProfileClient,
    supervisor::{NodeSupervisor, SupervisorMsg},
};

pub const DURABLE: &str = "indexer";

pub struct IndexerContext {
    pub db: DatabaseConnection,
    pub engine: Arc<dyn SearchEngine>,
    pub profiles: ProfileClient,
    pub bus: Arc<dyn EventBus>,
    /// Longest pause between retries of one event.
    pub max_retry_delay: Duration,
    /// Batches in progress here (a batch is one job), and where their durations go.
    pub activity: JobActivity,
}

pub enum IndexerMsg {
    /// Deliveries that arrived together, in order.
    Batch(Vec<Delivery>),
}

/// At most this many events are indexed (and committed) together.
const MAX_BATCH: usize = 256;
/// How long the first event of a batch waits for company.
const GATHER: Duration = Duration::from_millis(5);

#[derive(Clone)]
pub struct Indexer;

pub struct IndexerState {
    ctx: Arc<IndexerContext>,
    pump: JoinHandle<()>,
}

impl Actor for Indexer {
    type Msg = IndexerMsg;
    type State = IndexerState;
    type Arguments = Arc<IndexerContext>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        ctx: Arc<IndexerContext>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut subscription = ctx
            .bus
            .subscribe(ConsumerSpec {
                durable: DURABLE.to_string(),
                subjects: vec!["project.>".to_string(), "profile.>".to_string()],
                ack_wait: Duration::from_secs(30),
                max_deliver: -1,
            })
            .await?;
        // Events that arrive together are indexed together: one engine commit for a
        // burst instead of one per event.
        let pump = tokio::spawn(async move {
            while let Some(first) = subscription.next().await {
                let mut batch = vec![first];
                let deadline = tokio::time::Instant::now() + GATHER;
                while batch.len() < MAX_BATCH {
                    match tokio::time::timeout_at(deadline, subscription.next()).await {
                        Ok(Some(delivery)) => batch.push(delivery),
                        Ok(None) | Err(_) => break,
                    }
                }
                if myself.cast(IndexerMsg::Batch(batch)).is_err() {
                    break;
                }
            }
        });
        Ok(IndexerState { ctx, pump })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let IndexerMsg::Batch(deliveries) = message;
        let ctx = &state.ctx;
        let job = ctx.activity.start(JobKind::Indexing);
        // Upserts of a run are written with one commit; a delete or rename ends the run,
        // so every change still reaches the engine in the order it was delivered.
        let mut run: Vec<(Delivery, Option<SearchDocument>)> = Vec::new();
        for delivery in deliveries {
            match prepare(ctx, &delivery).await {
                Ok(Step::Upsert(doc)) => run.push((delivery, doc)),
                Ok(Step::Apply) => {
                    flush(ctx, std::mem::take(&mut run)).await;
                    let result = apply(ctx, &delivery).await;
                    settle(ctx, delivery, result).await;
                }
                Err(e) => {
                    flush(ctx, std::mem::take(&mut run)).await;
                    settle(ctx, delivery, Err(e)).await;
                }
            }
        }
        flush(ctx, run).await;
        job.finish(false);
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, state: &mut Self::State) -> Result<(), ActorProcessingErr> {
        state.pump.abort();
        Ok(())
    }
}

pub async fn start(supervisor: &ActorRef<SupervisorMsg>, ctx: Arc<IndexerContext>) -> Result<(), String> {
    NodeSupervisor::start_singleton(supervisor, "indexer", Indexer, ctx).await
}

enum Step {
    /// A project document to write (`None`: the project is gone, nothing to write).
    Upsert(Option<SearchDocument>),
    /// A delete or a rename, applied on its own.
    Apply,
}

async fn settle(ctx: &IndexerContext, delivery: Delivery, result: Result<(), IndexError>) {
    let attempt = delivery.attempt;
    let settled = match result {
        Ok(()) => delivery.ack().await,
        Err(IndexError::Malformed(reason)) => {
            tracing::error!(event_id = %delivery.event.event_id, %reason, "event cannot be indexed; dropping it");
            delivery.term().await
        }
        Err(IndexError::Retry(reason)) => {
            let delay = (Duration::from_millis(100) * 2u32.saturating_pow(attempt.min(10))).min(ctx.max_retry_delay);
            tracing::warn!(event_id = %delivery.event.event_id, attempt, %reason, ?delay, "indexing failed; retrying");
            delivery.nak(delay).await
        }
    };
    if let Err(e) = settled {
        tracing::warn!(error = %e, "settling an indexer delivery; the bus will redeliver it");
    }
}

/// Writes a run of upserts with one engine call, then settles each of its deliveries.
async fn flush(ctx: &IndexerContext, run: Vec<(Delivery, Option<SearchDocument>)>) {
    if run.is_empty() {
        return;
    }
    let docs: Vec<SearchDocument> = run.iter().filter_map(|(_, doc)| doc.clone()).collect();
    let result = if docs.is_empty() {
        Ok(())
    } else {
        ctx.engine.upsert_many(docs).await.map(|_| ()).map_err(IndexError::from)
    };
    for (delivery, _) in run {
        let outcome = match &result {
            Ok(()) => Ok(()),
            Err(IndexError::Malformed(r)) => Err(IndexError::Malformed(r.clone())),
            Err(IndexError::Retry(r)) => Err(IndexError::Retry(r.clone())),
        };
        settle(ctx, delivery, outcome).await;
    }
}

enum IndexError {
    Malformed(String),
    Retry(String),
}

impl From<SearchError> for IndexError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::Invalid(reason) => IndexError::Malformed(reason),
            other => IndexError::Retry(other.to_string()),
        }
    }
}

fn uuid_field(data: &serde_json::Value, field: &str) -> Result<Uuid, IndexError> {
    data.get(field)
        .and_then(|v| v.as_str())
        .and_then(|v| Uuid::parse_str(v).ok())
        .ok_or_else(|| IndexError::Malformed(format!("missing or invalid {field}")))
}

async fn prepare(ctx: &IndexerContext, delivery: &Delivery) -> Result<Step, IndexError> {
    let event = &delivery.event;
    match event.event_type.as_str() {
        types::PROJECT_CREATED | types::PROJECT_UPDATED => Ok(Step::Upsert(project_document(ctx, &event.data).await?)),
        types::PROJECT_DELETED | types::PROFILE_UPDATED => Ok(Step::Apply),
        // Other profile/project event types are not the index's business.
        _ => Ok(Step::Upsert(None)),
    }
}

/// The document for a project as the database holds it now.
async fn project_document(
    ctx: &IndexerContext,
    data: &serde_json::Value,
) -> Result<Option<SearchDocument>, IndexError> {
    let project_id = uuid_field(data, "project_id")?;
    let row = projects::Entity::find_by_id(project_id)
        .one(&ctx.db)
        .await
        .map_err(|e| IndexError::Retry(e.to_string()))?;
    // Gone: its project.deleted (with a newer version) takes care of the index.
    let Some(row) = row else { return Ok(None) };
    let Some(username) = display_name(ctx, row.user_id).await? else {
        return Ok(None);
    };
    Ok(Some(SearchDocument {
        project_id: row.id,
        user_id: row.user_id,
        username,
        title: row.title,
        description: row.description,
        tags: serde_json::from_value(row.tags).unwrap_or_default(),
        thumbnail_url: row.thumbnail_url,
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    }))
}

async fn apply(ctx: &IndexerContext, delivery: &Delivery) -> Result<(), IndexError> {
    let event = &delivery.event;
    match event.event_type.as_str() {
        types::PROJECT_DELETED => {
            let project_id = uuid_field(&event.data, "project_id")?;
            ctx.engine.delete(project_id, event.version.unwrap_or(i64::MAX)).await?;
            Ok(())
        }
        types::PROFILE_UPDATED => {
            let user_id = uuid_field(&event.data, "user_id")?;
            let Some(display) = display_name(ctx, user_id).await? else {
                return Ok(());
            };
            ctx.engine.rename_user(user_id, &display).await?;
            Ok(())
        }
        // prepare() sends only deletes and renames here.
        _ => Ok(()),
    }
}

/// `None` when the user is gone (their projects went with them).
async fn display_name(ctx: &IndexerContext, user_id: Uuid) -> Result<Option<String>, IndexError> {
    match ctx.profiles.display_name(user_id).await {
        Ok(name) => Ok(Some(name)),
        Err(crate::profile::ProfileError::UserNotFound) => Ok(None),
        Err(e) => Err(IndexError::Retry(e.to_string())),
    }
}

/// How the edge asks the search index (reads need no ordering, so they go straight
/// to the engine).
#[derive(Clone)]
pub struct SearchClient {
    pub engine: Arc<dyn SearchEngine>,
}
