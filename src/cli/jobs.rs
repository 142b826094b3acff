//! `folio jobs status | retry-failed | regenerate-missing` and `folio media strip-metadata`.

use std::future::Future;

use anyhow::Context as _;
use folio::{Settings, startup, tools::Tools};
use folio_actors::{
    jobs::JobActivity,
    media::{MediaClient, MediaError},
    report::jobs::JobsContext,
};
use indicatif::ProgressBar;

use super::{PUBLISHED_BY_A_NODE, progress_bar};

/// Starts the tools' domains with the media domain, runs `work` with a progress bar it
/// moves, and stops the domains whether or not the work succeeded.
async fn with_media<T, F, Fut>(settings: &Settings, message: &'static str, unit: &str, work: F) -> anyhow::Result<T>
where
    F: FnOnce(MediaClient, ProgressBar) -> Fut,
    Fut: Future<Output = Result<T, MediaError>>,
{
    let tools = Tools::start(settings).await?;
    let bar = progress_bar(message, unit)?;
    let result = match tools.media().await.context("starting the media domain") {
        Ok(media) => work(media, bar.clone()).await.map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    tools.stop().await;
    bar.finish();
    result
}

/// Moves `bar` to `done` of `total`.
fn advance(bar: &ProgressBar, done: u64, total: u64) {
    bar.set_length(total);
    bar.set_position(done);
}

pub async fn retry_failed(settings: &Settings, error_contains: Option<String>) -> anyhow::Result<()> {
    let queued = with_media(settings, "requeueing", "thumbnails", |media, bar| async move {
        media
            .retry_all_failed(error_contains.as_deref(), |done, total| advance(&bar, done, total))
            .await
    })
    .await?;
    println!("{queued} failed thumbnails queued again; {PUBLISHED_BY_A_NODE}");
    Ok(())
}

pub async fn regenerate_missing(settings: &Settings) -> anyhow::Result<()> {
    let report = with_media(settings, "checking", "thumbnails", |media, bar| async move {
        media.regenerate_missing(|done, total| advance(&bar, done, total)).await
    })
    .await?;
    println!(
        "{} of {} ready thumbnails were missing from storage and are queued again; {PUBLISHED_BY_A_NODE}",
        report.queued, report.checked
    );
    Ok(())
}

/// `folio media strip-metadata`.
pub async fn strip_metadata(settings: &Settings) -> anyhow::Result<()> {
    let report = with_media(settings, "stripping metadata", "originals", |media, bar| async move {
        media
            .strip_stored_metadata(|done, total| advance(&bar, done, total))
            .await
    })
    .await?;
    println!(
        "checked {} originals: {} rewritten without metadata, {} already clean, {} unreadable (left as they are; their ids are in the log), {} missing from storage",
        report.checked, report.rewritten, report.already_clean, report.unreadable, report.missing
    );
    Ok(())
}

/// Each job kind: pending, in flight, failed, done in the last hour, oldest pending. A
/// report over the shared state, read as `GET /admin/jobs` reads it.
pub async fn status(settings: &Settings) -> anyhow::Result<()> {
    let db = startup::connect_database(settings).await?;
    startup::migrate(&db).await?;
    let bus = startup::event_bus(settings).await?;
    let in_process = bus.name() != "jetstream";
    let jobs = JobsContext {
        db,
        bus,
        activity: JobActivity::default(),
    };
    let status = jobs.status().await?;
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>12} {:>16}",
        "kind", "pending", "in flight", "failed", "done (1 h)", "oldest pending"
    );
    for kind in status {
        // On the in-process bus only the node itself knows what it is working on.
        let in_flight = match kind.in_flight {
            Some(n) if !in_process => n.to_string(),
            _ => "?".to_string(),
        };
        let oldest = kind
            .oldest_pending_age_secs
            .map(|s| format!("{s:.1} s"))
            .unwrap_or_else(|| "-".to_string());
        println!(
            "{:<12} {:>9} {:>9} {:>9} {:>12} {:>16}",
            kind.kind.as_str(),
            kind.pending,
            in_flight,
            kind.failed,
            kind.done_last_hour,
            oldest
        );
    }
    Ok(())
}
