use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
#[cfg(feature = "bench")]
use folio::bench;
use folio::{Node, Settings, startup, telemetry};
use folio_actors::{
    events::outbox::OutboxSignal,
    project::{
        ProjectContext, service as project_service,
        views::{ProjectViews, ViewLimits},
    },
    session::{Email, service},
};

#[derive(Parser)]
#[command(name = "folio", version, about = "Folio portfolio platform node")]
struct Cli {
    /// TOML settings file (also FOLIO_CONFIG); FOLIO_* variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node (the default).
    Serve {
        /// Roles to run: http, thumbnailer, indexer, all (also FOLIO_ROLES).
        #[arg(long)]
        roles: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Republish every project as `project.created` (rebuilds the search index).
    Reindex,
    /// Background jobs: status, and requeueing failed or missing thumbnails.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Stored media: `strip-metadata` removes EXIF, XMP, IPTC and text chunks from
    /// originals uploaded before this version (run it once after upgrading).
    Media {
        #[command(subcommand)]
        command: MediaCommand,
    },
    /// Load an account export (`POST /profile/me/export`'s ZIP) into the account with
    /// this email, creating the account when there is none.
    Import {
        /// The export's ZIP.
        archive: PathBuf,
        /// The account's email: imported into when it exists, else created.
        #[arg(long = "user", value_name = "EMAIL")]
        email: String,
        /// The username of an account that has to be created (default: the archive's).
        #[arg(long)]
        username: Option<String>,
    },
    /// Administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The cluster's nodes.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Benchmarks that print figures next to their reference.
    #[cfg(feature = "bench")]
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
    /// Benchmarks: not in this build (`--features bench`).
    #[cfg(not(feature = "bench"))]
    #[command(hide = true, disable_help_flag = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        _args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Each job kind: pending, in flight, failed, done in the last hour, oldest pending.
    Status,
    /// Queue every failed thumbnail again (or those whose error contains a text).
    RetryFailed {
        #[arg(long)]
        error_contains: Option<String>,
    },
    /// Queue every image whose thumbnail is missing from storage.
    RegenerateMissing,
}

#[derive(Subcommand)]
enum MediaCommand {
    /// Rewrite every stored original that still carries metadata (idempotent; run it
    /// again after an interruption to finish).
    StripMetadata,
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Every node (reachable or not, roles, uptime, actor restarts) and the shared queues,
    /// asked over the cluster like `GET /admin/cluster`.
    Status,
}

/// glibc gives each thread that allocates under contention an arena of its own, up to
/// 8 per core, and keeps what those arenas once held: after 10 000 projects and 1 000
/// uploads an embedded node measured 178 MB resident with the default, 115 MB with one
/// arena per core (`folio bench memory`), at no cost the benchmarks could see. Set before
/// any thread starts; an operator's `MALLOC_ARENA_MAX` wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        let arenas = i32::try_from(cores).unwrap_or(i32::MAX);
        // SAFETY: mallopt only changes allocator parameters; it is called before the
        // runtime starts any thread, as glibc asks.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Make the account with this email an administrator.
    Grant { email: String },
}

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(cli))
}

/// What `folio bench` says on a binary built without the benchmarks.
#[cfg(not(feature = "bench"))]
const BENCH_NOT_BUILT: &str = "this folio binary was built without the benchmarks; \
     build it with `cargo build --release --features bench` (or run `cargo run --release --features bench -- bench …`)";

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::load(cli.config.as_deref()).context("loading settings")?;
    if let Some(Command::Serve { roles: Some(roles) }) = &cli.command {
        settings.node.roles = folio::configuration::Roles::parse(roles).context("--roles")?;
    }
    if matches!(cli.command, Some(Command::Bench { .. })) && std::env::var_os("RUST_LOG").is_none() {
        // Per-request logs would be measured along with the requests.
        settings.log.filter = "warn".into();
    }
    telemetry::init(&settings);
    folio::configuration::warn_unknown_variables();
    match cli.command.unwrap_or(Command::Serve { roles: None }) {
        Command::Serve { .. } => serve(settings).await,
        Command::Migrate => {
            let db = startup::connect_database(&settings).await?;
            eprintln!(
                "applying migrations to {}",
                if settings.is_embedded() {
                    "the embedded SQLite database"
                } else {
                    "the configured database"
                }
            );
            startup::migrate(&db).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Reindex => reindex(settings).await,
        Command::Jobs { command } => jobs::run(command, settings).await,
        Command::Media {
            command: MediaCommand::StripMetadata,
        } => jobs::strip_metadata(settings).await,
        Command::Cluster {
            command: ClusterCommand::Status,
        } => cluster_status(settings).await,
        Command::Import {
            archive,
            email,
            username,
        } => import(settings, archive, email, username).await,
        Command::Admin {
            command: AdminCommand::Grant { email },
        } => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("{e}"))?;
            let db = startup::connect_database(&settings).await?;
            startup::migrate(&db).await?;
            let user_id = service::grant_admin(&db, &email)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{} ({user_id}) is now an administrator", email.as_str());
            Ok(())
        }
        #[cfg(feature = "bench")]
        Command::Bench { which } => bench::run(which, &settings).await,
        #[cfg(not(feature = "bench"))]
        Command::Bench { .. } => anyhow::bail!(BENCH_NOT_BUILT),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let mut node = Node::start(&settings).await.context("starting the node")?;
    if node.roles.http {
        println!("folio listening on {}", node.base_url());
    } else {
        println!("folio node running without an HTTP edge ({:?})", node.roles);
    }
    let failure = tokio::select! {
        _ = shutdown_signal() => None,
        failure = node.serving() => Some(failure),
    };
    tracing::info!("shutting down: draining in-flight requests");
    node.shutdown().await;
    match failure {
        // Exit non-zero, so that systemd or compose start a whole node again.
        Some(failure) => Err(anyhow::Error::new(failure).context("the node could no longer serve")),
        None => Ok(()),
    }
}

async fn import(settings: Settings, archive: PathBuf, email: String, username: Option<String>) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} (profile, projects, images; eta {eta})")?
            .progress_chars("=> "),
    );
    bar.set_message("importing");
    let report = folio::import::import(
        &settings,
        folio::import::ImportRequest {
            archive,
            email: email.clone(),
            username,
        },
        |step| {
            bar.set_length(step.total);
            bar.set_position(step.done);
        },
    )
    .await?;
    bar.finish();
    println!(
        "imported into {email} ({}): the profile, {} projects, {} images{}",
        report.user_id,
        report.projects,
        report.files,
        if report.missing > 0 {
            format!(" ({} listed images were not in the archive)", report.missing)
        } else {
            String::new()
        }
    );
    if let Some(password) = report.created_password {
        println!("the account was created; its one-time password is {password} (change it with PUT /auth/password)");
    }
    println!("thumbnails and search entries follow once a node publishes the queued events");
    Ok(())
}

async fn reindex(settings: Settings) -> anyhow::Result<()> {
    let db = startup::connect_database(&settings).await?;
    startup::migrate(&db).await?;
    let outbox = OutboxSignal::default();
    let context = ProjectContext {
        reads: db.clone(),
        db,
        outbox,
        // Republishing reads nothing through the views.
        views: std::sync::Arc::new(ProjectViews::new(ViewLimits {
            max_bytes: 0,
            ttl: std::time::Duration::ZERO,
        })),
    };
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} projects ({per_sec}, eta {eta})")?
            .progress_chars("=> "),
    );
    bar.set_message("republishing");
    let count = project_service::republish_all(&context, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    bar.finish();
    println!(
        "{count} projects queued as project.created in the outbox; a running node publishes them (an embedded node does so when it next starts)"
    );
    Ok(())
}

mod jobs {
    use anyhow::Context as _;
    use folio::{Settings, startup};
    use folio_actors::{
        events::outbox::OutboxSignal,
        jobs::{JobActivity, JobsContext},
        media::{MediaContext, service as media_service},
    };

    use super::JobsCommand;

    pub async fn run(command: JobsCommand, settings: Settings) -> anyhow::Result<()> {
        let db = startup::connect_database(&settings).await?;
        startup::migrate(&db).await?;
        match command {
            JobsCommand::Status => status(settings, db).await,
            JobsCommand::RetryFailed { error_contains } => {
                let media = media_context(&settings, db).await?;
                let bar = progress_bar("requeueing", "thumbnails")?;
                let queued = media_service::retry_failed_all(&media, error_contains.as_deref(), |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
                bar.finish();
                println!("{queued} failed thumbnails queued again; {}", PUBLISHED_BY_A_NODE);
                Ok(())
            }
            JobsCommand::RegenerateMissing => {
                let media = media_context(&settings, db).await?;
                let bar = progress_bar("checking", "thumbnails")?;
                let report = media_service::regenerate_missing(&media, |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
                bar.finish();
                println!(
                    "{} of {} ready thumbnails were missing from storage and are queued again; {}",
                    report.queued, report.checked, PUBLISHED_BY_A_NODE
                );
                Ok(())
            }
        }
    }

    /// `folio media strip-metadata`.
    pub async fn strip_metadata(settings: Settings) -> anyhow::Result<()> {
        let db = startup::connect_database(&settings).await?;
        startup::migrate(&db).await?;
        let media = media_context(&settings, db).await?;
        let bar = progress_bar("stripping metadata", "originals")?;
        let report = media_service::strip_stored_metadata(&media, |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await
        .map_err(|e| anyhow::anyhow!("{}", folio_actors::supervisor::error_chain(&e)))?;
        bar.finish();
        println!(
            "checked {} originals: {} rewritten without metadata, {} already clean, {} unreadable (left as they are; their ids are in the log), {} missing from storage",
            report.checked, report.rewritten, report.already_clean, report.unreadable, report.missing
        );
        Ok(())
    }

    const PUBLISHED_BY_A_NODE: &str =
        "a running node publishes the jobs (an embedded node does so when it next starts)";

    fn progress_bar(message: &'static str, unit: &str) -> anyhow::Result<indicatif::ProgressBar> {
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"
            ))?
            .progress_chars("=> "),
        );
        bar.set_message(message);
        Ok(bar)
    }

    async fn media_context(settings: &Settings, db: sea_orm::DatabaseConnection) -> anyhow::Result<MediaContext> {
        Ok(MediaContext {
            db,
            blobs: startup::blob_store(settings).await.context("opening the blob store")?,
            // The jobs wait in the outbox until a node's relay publishes them.
            outbox: OutboxSignal::default(),
            public_url: settings.public_url(settings.http.addr),
            projects: None,
        })
    }

    async fn status(settings: Settings, db: sea_orm::DatabaseConnection) -> anyhow::Result<()> {
        let bus = startup::event_bus(&settings).await?;
        let in_process = bus.name() != "jetstream";
        let jobs = JobsContext {
            db,
            bus,
            activity: JobActivity::default(),
        };
        let status = jobs.status().await.map_err(|e| anyhow::anyhow!("{e}"))?;
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
}

async fn cluster_status(settings: Settings) -> anyhow::Result<()> {
    let status = folio::startup::cluster_status(&settings).await?;
    println!(
        "{:<20} {:<12} {:<26} {:<9} {:>10}  {:<22} {:<22} restarts",
        "node", "state", "roles", "version", "uptime", "http", "cluster"
    );
    for node in &status.nodes {
        let state = match node.state {
            folio_actors::cluster::status::Reachability::Reachable => "reachable",
            folio_actors::cluster::status::Reachability::Unreachable => "UNREACHABLE",
        };
        let uptime = node
            .uptime_secs
            .map(|s| format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60))
            .unwrap_or_else(|| "?".into());
        let restarts = match &node.actor_restarts {
            None => "?".to_string(),
            Some(counts) => {
                let failed: Vec<String> = counts
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(actor, n)| format!("{actor}={n}"))
                    .collect();
                if failed.is_empty() {
                    "0".to_string()
                } else {
                    failed.join(" ")
                }
            }
        };
        println!(
            "{:<20} {:<12} {:<26} {:<9} {:>10}  {:<22} {:<22} {}",
            node.name,
            state,
            node.roles.join(","),
            node.version,
            uptime,
            node.http_addr.as_deref().unwrap_or("-"),
            node.cluster_addr.as_deref().unwrap_or("-"),
            restarts
        );
    }
    println!();
    println!("{:<20} {:>9} {:>12}", "consumer", "pending", "ack pending");
    for consumer in &status.consumers {
        println!(
            "{:<20} {:>9} {:>12}",
            consumer.durable, consumer.pending, consumer.ack_pending
        );
    }
    println!();
    println!(
        "media: {} waiting for a thumbnail, {} failed",
        status.media_pending, status.media_failed
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
