//! The indexer: a durable consumer of `project.>` and `profile.>` that keeps the search
//! index in step with the database. Documents are built from the database's current
//! state (display name included), and the engine refuses anything older than what it
//! holds (by `version`), so replays, duplicates and late events change nothing. A
//! failure is retried after a delay until it succeeds: nothing is dropped while the
//! engine is down.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use folio_entities::projects;
use folio_search::{SearchDocument, SearchEngine, SearchError};
use futures::future::BoxFuture;
use ractor::ActorRef;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use tracing::Instrument as _;
use uuid::Uuid;

use crate::{
    cluster::{LiveEvent, LiveEvents},
    errors::error_chain,
    events::{ConsumerSpec, Delivery, DomainEvent, EventBus, EventFamily, EventObserver, next_event},
    faults::{self, FaultPoint},
    jobs::{JobActivity, JobKind},
    profile::{ProfileClient, ProfileError},
    project::Visibility,
    supervised_loop::{LoopActor, LoopBody, LoopError, LoopScope, subscribe_until_stopped},
    supervisor::{SupervisorError, SupervisorMsg},
};

pub const DURABLE: &str = "indexer";
/// The indexer's name under the node supervisor (and in `folio_actor_restarts_total`).
pub const ACTOR: &str = "indexer";

/// The events the indexer consumes: every project and profile event.
pub fn subjects() -> Vec<String> {
    vec![EventFamily::Project.all_subjects(), EventFamily::Profile.all_subjects()]
}

pub struct IndexerContext {
    pub db: DatabaseConnection,
    pub engine: Arc<dyn SearchEngine>,
    pub profiles: ProfileClient,
    pub bus: Arc<dyn EventBus>,
    /// Longest pause between retries of one event.
    pub max_retry_delay: Duration,
    /// Batches in progress here (a batch is one job), and where their durations go.
    pub activity: JobActivity,
    /// Where deliveries that are not events are counted.
    pub events: Option<Arc<dyn EventObserver>>,
}

/// At most this many events are indexed (and committed) together.
const MAX_BATCH: usize = 256;
/// How long the first event of a batch waits for company.
const GATHER: Duration = Duration::from_millis(5);

impl IndexerContext {
    fn consumer(&self) -> ConsumerSpec {
        ConsumerSpec {
            durable: DURABLE.to_string(),
            subjects: subjects(),
            ack_wait: Duration::from_secs(30),
            max_deliver: -1,
        }
    }
}

/// The indexer is a supervised loop (see [`crate::supervised_loop`]): it gathers what
/// arrives together into a batch and indexes the batch before taking the next, so events
/// reach the engine in the order they were delivered.
impl LoopBody for IndexerContext {
    fn run(self: Arc<Self>, mut scope: LoopScope) -> BoxFuture<'static, Result<(), LoopError>> {
        Box::pin(async move {
            let Some(mut subscription) =
                subscribe_until_stopped(self.bus.as_ref(), &self.consumer(), &mut scope).await?
            else {
                return Ok(());
            };
            loop {
                let first = tokio::select! {
                    _ = scope.stopped() => return Ok(()),
                    delivery = next_event(subscription.as_mut(), self.events.as_deref()) => {
                        delivery.ok_or(LoopError::SubscriptionEnded)?
                    }
                };
                let mut batch = vec![first];
                let deadline = tokio::time::Instant::now() + GATHER;
                while batch.len() < MAX_BATCH {
                    match tokio::time::timeout_at(deadline, next_event(subscription.as_mut(), self.events.as_deref()))
                        .await
                    {
                        Ok(Some(delivery)) => batch.push(delivery),
                        Ok(None) => return Err(LoopError::SubscriptionEnded),
                        Err(_) => break,
                    }
                }
                faults::hit(FaultPoint::Indexer);
                index_batch(&self, batch).await;
            }
        })
    }
}

pub async fn start(supervisor: &ActorRef<SupervisorMsg>, ctx: Arc<IndexerContext>) -> Result<(), SupervisorError> {
    LoopActor::start(supervisor, ACTOR, ctx).await
}

async fn index_batch(ctx: &IndexerContext, deliveries: Vec<Delivery>) {
    let job = ctx.activity.start(JobKind::Indexing);
    // The documents of every project the batch touches, read with a few queries instead
    // of three per event. A failure leaves the map empty: each event then reads its own
    // document and settles on its own outcome.
    let mut documents = match batch_documents(ctx, &deliveries).await {
        Ok(documents) => documents,
        Err(e) => {
            tracing::warn!(error.cause_chain = %error_chain(&e), "reading a batch's projects; reading them one by one");
            HashMap::new()
        }
    };
    // Upserts of a run are written with one commit; a delete or rename ends the run,
    // so every change still reaches the engine in the order it was delivered.
    let mut run: Vec<(Delivery, Option<SearchDocument>)> = Vec::new();
    for delivery in deliveries {
        let span = tracing::info_span!("index_event", event_id = %delivery.event.event_id, event_type = %delivery.event.event_type());
        match prepare(ctx, &delivery, &mut documents).instrument(span.clone()).await {
            Ok(Step::Upsert(doc)) => run.push((delivery, doc)),
            Ok(step @ (Step::Apply | Step::Hide { .. })) => {
                flush(ctx, std::mem::take(&mut run)).await;
                let result = match step {
                    Step::Hide { project_id, version } => hide(ctx, project_id, version).instrument(span.clone()).await,
                    _ => apply(ctx, &delivery).instrument(span.clone()).await,
                };
                settle(ctx, delivery, result.as_ref().map(|_| ()))
                    .instrument(span)
                    .await;
            }
            Err(e) => {
                flush(ctx, std::mem::take(&mut run)).await;
                settle(ctx, delivery, Err(&e)).instrument(span).await;
            }
        }
    }
    flush(ctx, run).await;
    job.finish(false);
}

enum Step {
    /// A project document to write (`None`: the project is gone, nothing to write).
    Upsert(Option<SearchDocument>),
    /// A delete or a rename, applied on its own.
    Apply,
    /// A project that is not public (any more): out of the index, as of its version.
    Hide { project_id: Uuid, version: i64 },
}

/// What the index should hold of a project, from the database's current state.
#[derive(Debug, Clone)]
enum Indexed {
    /// A public project's document.
    Listed(SearchDocument),
    /// An unlisted or private project: never searched or suggested.
    Hidden { version: i64 },
}

impl Indexed {
    fn step(self, project_id: Uuid) -> Step {
        match self {
            Indexed::Listed(document) => Step::Upsert(Some(document)),
            Indexed::Hidden { version } => Step::Hide { project_id, version },
        }
    }
}

async fn settle(ctx: &IndexerContext, delivery: Delivery, result: Result<(), &IndexError>) {
    let attempt = delivery.attempt;
    let settled = match result {
        Ok(()) => delivery.ack().await,
        Err(error) if !error.is_retryable() => {
            tracing::error!(
                event_id = %delivery.event.event_id,
                error.cause_chain = %error_chain(error),
                "event cannot be indexed; dropping it"
            );
            delivery.term().await
        }
        Err(error) => {
            let delay = (Duration::from_millis(100) * 2u32.saturating_pow(attempt.min(10))).min(ctx.max_retry_delay);
            tracing::warn!(
                event_id = %delivery.event.event_id,
                attempt,
                error.cause_chain = %error_chain(error),
                ?delay,
                "indexing failed; retrying"
            );
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
    let indexed: Vec<(Uuid, Uuid, i64)> = docs.iter().map(|d| (d.user_id, d.project_id, d.version)).collect();
    let result = if docs.is_empty() {
        Ok(())
    } else {
        ctx.engine.upsert_many(docs).await.map(|_| ()).map_err(IndexError::from)
    };
    if result.is_ok() {
        for (user_id, project_id, version) in indexed {
            LiveEvents.publish(user_id, LiveEvent::ProjectIndexed { project_id, version });
        }
    }
    // Settled together: on JetStream each acknowledgement is a round trip to the server.
    futures::future::join_all(
        run.into_iter()
            .map(|(delivery, _)| settle(ctx, delivery, result.as_ref().map(|_| ()))),
    )
    .await;
}

/// Why an event could not be indexed (this time).
#[derive(Debug, thiserror::Error)]
enum IndexError {
    #[error("the search engine refused the document")]
    Rejected(#[source] SearchError),
    #[error("the search engine")]
    Engine(#[source] SearchError),
    #[error("reading the project")]
    Database(#[source] DbErr),
    #[error("asking the profile domain for the display name")]
    Profile(#[source] ProfileError),
}

impl IndexError {
    /// Everything but a document the engine refuses is worth another try: indexing
    /// must not lose an event to an outage.
    fn is_retryable(&self) -> bool {
        !matches!(self, IndexError::Rejected(_))
    }
}

impl From<SearchError> for IndexError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::Invalid(_) => IndexError::Rejected(error),
            other => IndexError::Engine(other),
        }
    }
}

/// What the batch's project events need, read at once: `Some(..)` for a project that
/// exists, `None` for one that is gone (or whose owner is).
type BatchDocuments = HashMap<Uuid, Option<Indexed>>;

async fn batch_documents(ctx: &IndexerContext, deliveries: &[Delivery]) -> Result<BatchDocuments, IndexError> {
    let project_ids: Vec<Uuid> = deliveries
        .iter()
        .filter_map(|d| match &d.event.event {
            DomainEvent::ProjectCreated(p) | DomainEvent::ProjectUpdated(p) => Some(p.project_id),
            _ => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut documents: BatchDocuments = project_ids.iter().map(|id| (*id, None)).collect();
    if project_ids.is_empty() {
        return Ok(documents);
    }
    let rows = projects::Entity::find()
        .filter(projects::Column::Id.is_in(project_ids))
        .all(&ctx.db)
        .await
        .map_err(IndexError::Database)?;
    let owners: Vec<Uuid> = rows
        .iter()
        .map(|r| r.user_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let names = ctx.profiles.display_names(&owners).await.map_err(IndexError::Profile)?;
    let public: Vec<Uuid> = rows.iter().filter(|r| is_public(r)).map(|r| r.id).collect();
    let mut texts = image_texts(ctx, &public).await?;
    for row in rows {
        let id = row.id;
        let row_texts = texts.remove(&id).unwrap_or_default();
        let document = names
            .get(&row.user_id)
            .map(|username| indexed(row, username.clone(), row_texts));
        documents.insert(id, document);
    }
    Ok(documents)
}

async fn prepare(ctx: &IndexerContext, delivery: &Delivery, batch: &mut BatchDocuments) -> Result<Step, IndexError> {
    match &delivery.event.event {
        DomainEvent::ProjectCreated(project) | DomainEvent::ProjectUpdated(project) => {
            // A project appears once per batch in the engine: later events of the same
            // project in this batch find its document already taken and add nothing.
            let indexed = match batch.get_mut(&project.project_id) {
                Some(prefetched) => prefetched.take(),
                None => project_document(ctx, project.project_id).await?,
            };
            Ok(indexed.map_or(Step::Upsert(None), |indexed| indexed.step(project.project_id)))
        }
        DomainEvent::ProjectDeleted(_) | DomainEvent::ProfileUpdated(_) => Ok(Step::Apply),
        // Media and account events are not the index's business (the subscription does
        // not ask for them); a deleted account's documents go with its projects'
        // `project.deleted`.
        DomainEvent::MediaUploaded(_)
        | DomainEvent::MediaDeleted(_)
        | DomainEvent::UserDeleted(_)
        | DomainEvent::UserExportRequested(_) => Ok(Step::Upsert(None)),
    }
}

/// The document for a project as the database holds it now.
async fn project_document(ctx: &IndexerContext, project_id: Uuid) -> Result<Option<Indexed>, IndexError> {
    let row = projects::Entity::find_by_id(project_id)
        .one(&ctx.db)
        .await
        .map_err(IndexError::Database)?;
    // Gone: its project.deleted (with a newer version) takes care of the index.
    let Some(row) = row else { return Ok(None) };
    let Some(username) = display_name(ctx, row.user_id).await? else {
        return Ok(None);
    };
    let texts = if is_public(&row) {
        image_texts(ctx, &[project_id])
            .await?
            .remove(&project_id)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(Some(indexed(row, username, texts)))
}

fn is_public(row: &projects::Model) -> bool {
    Visibility::from_stored(&row.visibility).is_public()
}

/// The captions and alt texts of the stored images filed under each project (read
/// through the media domain's gallery query; only public projects are asked for, so
/// no private image's text reaches the index). A caption change bumps the project's
/// version and sends `project.updated`, which reindexes it with these.
async fn image_texts(ctx: &IndexerContext, project_ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<String>>, IndexError> {
    let galleries = crate::media::gallery::images_of(&ctx.db, project_ids)
        .await
        .map_err(IndexError::Database)?;
    Ok(galleries
        .into_iter()
        .map(|(project_id, items)| {
            let texts = items
                .into_iter()
                .flat_map(|item| [item.caption, item.alt])
                .flatten()
                .filter(|text| !text.trim().is_empty())
                .collect();
            (project_id, texts)
        })
        .collect())
}

/// A public project is indexed; any other is taken out, as of its current version
/// (the engine keeps that as a tombstone, so an older event cannot bring it back, and
/// the version that makes it public again is newer).
fn indexed(row: projects::Model, username: String, image_texts: Vec<String>) -> Indexed {
    if is_public(&row) {
        Indexed::Listed(document(row, username, image_texts))
    } else {
        Indexed::Hidden { version: row.version }
    }
}

async fn hide(ctx: &IndexerContext, project_id: Uuid, version: i64) -> Result<(), IndexError> {
    ctx.engine.delete(project_id, version).await?;
    Ok(())
}

fn document(row: projects::Model, username: String, image_texts: Vec<String>) -> SearchDocument {
    SearchDocument {
        project_id: row.id,
        user_id: row.user_id,
        username,
        title: row.title,
        description: row.description,
        tags: serde_json::from_value(row.tags).unwrap_or_default(),
        image_texts,
        thumbnail_url: row.thumbnail_url,
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    }
}

async fn apply(ctx: &IndexerContext, delivery: &Delivery) -> Result<(), IndexError> {
    let event = &delivery.event;
    match &event.event {
        DomainEvent::ProjectDeleted(deleted) => {
            ctx.engine
                .delete(deleted.project_id, event.version.unwrap_or(i64::MAX))
                .await?;
            Ok(())
        }
        DomainEvent::ProfileUpdated(profile) => {
            let Some(display) = display_name(ctx, profile.user_id).await? else {
                return Ok(());
            };
            ctx.engine.rename_user(profile.user_id, &display).await?;
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
        Err(e) => Err(IndexError::Profile(e)),
    }
}

/// How the edge asks the search index (reads need no ordering, so they go straight
/// to the engine).
#[derive(Clone)]
pub struct SearchClient {
    pub engine: Arc<dyn SearchEngine>,
}
