use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
#[cfg(feature = "bench")]
use folio::bench;
use folio::{Node, Settings, startup, telemetry};

mod cli;

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

#[derive(Subcommand)]
enum AdminCommand {
    /// Make the account with this email an administrator.
    Grant { email: String },
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
        Command::Reindex => cli::reindex::run(&settings).await,
        Command::Jobs { command } => match command {
            JobsCommand::Status => cli::jobs::status(&settings).await,
            JobsCommand::RetryFailed { error_contains } => cli::jobs::retry_failed(&settings, error_contains).await,
            JobsCommand::RegenerateMissing => cli::jobs::regenerate_missing(&settings).await,
        },
        Command::Media {
            command: MediaCommand::StripMetadata,
        } => cli::jobs::strip_metadata(&settings).await,
        Command::Cluster {
            command: ClusterCommand::Status,
        } => cli::cluster::status(&settings).await,
        Command::Import {
            archive,
            email,
            username,
        } => cli::import::run(&settings, archive, email, username).await,
        Command::Admin {
            command: AdminCommand::Grant { email },
        } => cli::admin::grant(&settings, &email).await,
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
