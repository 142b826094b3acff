//! `folio reindex`: republishes every project as `project.created`, which rebuilds the
//! search index wherever an indexer runs.

use folio::{Settings, tools::Tools};

use super::progress_bar;

pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let tools = Tools::start(settings).await?;
    let bar = progress_bar("republishing", "projects")?;
    let republished = tools
        .projects
        .republish_all(|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await;
    tools.stop().await;
    let count = republished?;
    bar.finish();
    println!(
        "{count} projects queued as project.created in the outbox; a running node publishes them (an embedded node does so when it next starts)"
    );
    Ok(())
}
