//! The node's background workers: the thumbnailer and the indexer (by role), the
//! account deleter, the exporter and its sweeper, the project media cleanup, and the
//! outbox relay that feeds them all.

use std::{sync::Arc, time::Duration};

use folio_actors::{
    account_deleter::{self, AccountDeleter},
    blocking::BlockingPool,
    events::EventBus,
    export::{
        exporter::{self, AccountExporter},
        sweeper::ExportSweeper,
    },
    indexer::{self, IndexerContext},
    media::project_cleanup::{self, ProjectMediaCleanup},
    relay::OutboxRelay,
    thumbnailer::{self, ThumbnailerConfig, ThumbnailerContext},
};
use folio_media::ThumbnailSpec;

use super::{NodeError, database::relay_database, domains::Domains, store::Store};
use crate::configuration::{Roles, Settings};

/// The thumbnailer and the indexer (by role), then the outbox relay that feeds them.
pub(super) async fn consumers(
    settings: &Settings,
    roles: Roles,
    store: &Store,
    bus: &Arc<dyn EventBus>,
    domains: &Domains,
) -> Result<(), NodeError> {
    // Consumers subscribe before the relay starts, so the in-process bus has every
    // subscriber in place before the first event goes out.
    if roles.thumbnailer {
        let media = &settings.media;
        let concurrency = media.thumbnail_concurrency.unwrap_or_else(BlockingPool::default_size);
        let ctx = ThumbnailerContext::new(
            domains.media.clone(),
            domains.projects.clone(),
            bus.clone(),
            BlockingPool::new(concurrency),
            ThumbnailerConfig {
                max_attempts: media.thumbnail_max_attempts,
                backoff_base: media.thumbnail_backoff_base,
                ack_wait: media.thumbnail_ack_wait.max(Duration::from_secs(1)),
                concurrency,
                spec: ThumbnailSpec {
                    system_libjpeg_turbo: media.system_libjpeg_turbo,
                    ..ThumbnailSpec::default()
                },
            },
        )
        .with_activity(domains.activity.clone())
        .with_event_observer(domains.events.clone());
        thumbnailer::start(&domains.supervisor, Arc::new(ctx)).await?;
    }
    if roles.indexer {
        let ctx = IndexerContext {
            // The indexer only reads.
            db: store.reads.clone(),
            engine: store.search.engine.clone(),
            profiles: domains.profiles.clone(),
            bus: bus.clone(),
            max_retry_delay: Duration::from_secs(5),
            activity: domains.activity.clone(),
            events: Some(domains.events.clone()),
        };
        indexer::start(&domains.supervisor, Arc::new(ctx)).await?;
    }
    // Every node takes account deletions: they share one durable consumer, so each
    // deletion runs on one node, and another takes it over if that one dies.
    account_deleter::start(
        &domains.supervisor,
        Arc::new(AccountDeleter {
            session: domains.session.clone(),
            profiles: domains.profiles.clone(),
            projects: domains.projects.clone(),
            media: domains.media.clone(),
            exports: domains.exports.clone(),
            bus: bus.clone(),
            events: Some(domains.events.clone()),
        }),
    )
    .await?;
    // Every node builds account exports, one at a time, on one shared durable consumer
    // (another node resumes one whose node died), and sweeps expired archives.
    exporter::start(
        &domains.supervisor,
        Arc::new(AccountExporter {
            exports: domains.exports.clone(),
            bus: bus.clone(),
            events: Some(domains.events.clone()),
        }),
    )
    .await?;
    ExportSweeper {
        exports: domains.exports.clone(),
    }
    .start(&domains.supervisor)
    .await?;
    // Every node removes the images of deleted projects, on one shared durable consumer.
    project_cleanup::start(
        &domains.supervisor,
        Arc::new(ProjectMediaCleanup {
            media: domains.media.clone(),
            bus: bus.clone(),
            events: Some(domains.events.clone()),
        }),
    )
    .await?;
    // Every node relays: on PostgreSQL the nodes share the rows, and the bus drops the
    // duplicates a crash causes by event id.
    OutboxRelay::start(
        &domains.supervisor,
        relay_database(settings, &store.db).await?,
        store.reads.clone(),
        bus.clone(),
        domains.outbox.clone(),
    )
    .await?;
    Ok(())
}
