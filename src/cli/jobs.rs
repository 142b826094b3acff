//! `folio jobs status | retry-failed | regenerate-missing` and `folio media strip-metadata`.

use anyhow::Context as _;
use folio::{Settings, startup, tools::Tools};
use folio_actors::{jobs::JobActivity, report::jobs::JobsContext};

use super::{PUBLISHED_BY_A_NODE, progress_bar};

pub async fn retry_failed(settings: &Settings, error_contains: Option<String>) -> anyhow::Result<()> {
    let tools = Tools::start(settings).await?;
    let bar = progress_bar("requeueing", "thumbnails")?;
    let queued = match tools.media().await.context("starting the media domain") {
        Ok(media) => media
            .retry_all_failed(error_contains.as_deref(), |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    tools.stop().await;
    let queued = queued?;
    bar.finish();
    println!("{queued} failed thumbnails queued again; {PUBLISHED_BY_A_NODE}");
    Ok(())
}

pub async fn regenerate_missing(settings: &Settings) -> anyhow::Result<()> {
    let tools = Tools::start(settings).await?;
    let bar = progress_bar("checking", "thumbnails")?;
    let report = match tools.media().await.context("starting the media domain") {
        Ok(media) => media
            .regenerate_missing(|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    tools.stop().await;
    let report = report?;
    bar.finish();
    println!(
        "{} of {} ready thumbnails were missing from storage and are queued again; {PUBLISHED_BY_A_NODE}",
        report.queued, report.checked
    );
    Ok(())
}

/// `folio media strip-metadata`.
pub async fn strip_metadata(settings: &Settings) -> anyhow::Result<()> {
    let tools = Tools::start(settings).await?;
    let bar = progress_bar("stripping metadata", "originals")?;
    let report = match tools.media().await.context("starting the media domain") {
        Ok(media) => media
            .strip_stored_metadata(|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    tools.stop().await;
    let report = report?;
    bar.finish();
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
