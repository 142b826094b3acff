//! The command-line tools besides `serve`: each goes through the same domain clients as
//! the edge ([`folio::tools::Tools`]) and shows its progress.

pub mod admin;
pub mod cluster;
pub mod import;
pub mod jobs;
pub mod reindex;

/// A progress bar counting `unit`s, with their rate and the time left.
pub fn progress_bar(message: &'static str, unit: &str) -> anyhow::Result<indicatif::ProgressBar> {
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"
        ))?
        .progress_chars("=> "),
    );
    bar.set_message(message);
    Ok(bar)
}

/// What the tools that queue work say about when it runs.
pub const PUBLISHED_BY_A_NODE: &str =
    "a running node publishes the jobs (an embedded node does so when it next starts)";
