//! The node's database: the writer, the readers, the relay's pool, and the migrations.

use std::time::Duration;

use folio_migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use super::NodeError;
use crate::configuration::{DatabaseBackend, Settings};

pub async fn connect_database(settings: &Settings) -> Result<DatabaseConnection, NodeError> {
    let backend = &settings.database.backend;
    let sqlite = !matches!(backend, DatabaseBackend::Postgres(_));
    if *backend == DatabaseBackend::Embedded {
        std::fs::create_dir_all(&settings.node.data_dir).map_err(|source| NodeError::DataDir {
            path: settings.node.data_dir.display().to_string(),
            source,
        })?;
    }
    let mut options = ConnectOptions::new(settings.database_url());
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10));
    if sqlite {
        // SQLite has one writer; a single connection turns concurrent writes into a queue
        // instead of "database is locked" errors, and WAL keeps readers off the writer.
        options
            .max_connections(1)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts| {
                use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                opts.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
    } else {
        options
            .max_connections(settings.database.max_connections)
            .acquire_timeout(settings.database.acquire_timeout);
    }
    Ok(Database::connect(options).await?)
}

/// Connections for reads. SQLite's writer is a single connection (see
/// [`connect_database`]), and a read queued behind every write is what made reads slow
/// under load; in WAL mode readers on other connections see every committed write and
/// never block the writer, so reads get a small pool of their own. PostgreSQL's pool
/// serves both.
pub async fn connect_read_pool(
    settings: &Settings,
    writer: &DatabaseConnection,
) -> Result<DatabaseConnection, NodeError> {
    let backend = &settings.database.backend;
    if matches!(backend, DatabaseBackend::Postgres(_)) || backend.is_in_memory() {
        return Ok(writer.clone());
    }
    let readers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8) as u32;
    let mut options = ConnectOptions::new(settings.database_url());
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
        .max_connections(readers)
        .min_connections(1)
        .map_sqlx_sqlite_opts(|opts| {
            // The writer set WAL on the file; a reader only waits out a checkpoint.
            opts.busy_timeout(Duration::from_secs(10)).foreign_keys(true)
        });
    Ok(Database::connect(options).await?)
}

/// The outbox relay's connections. On PostgreSQL a pool of its own: behind the API's
/// writers it waited seconds for a connection under load; one connection per round it
/// runs at once, and one taken by its `LISTEN`. SQLite has one writer connection, which the relay shares.
pub(super) async fn relay_database(
    settings: &Settings,
    db: &DatabaseConnection,
) -> Result<DatabaseConnection, NodeError> {
    if !matches!(settings.database.backend, DatabaseBackend::Postgres(_)) {
        return Ok(db.clone());
    }
    let mut options = ConnectOptions::new(settings.database_url());
    options
        .sqlx_logging(false)
        .max_connections(folio_actors::relay::RELAY_CONNECTIONS)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
        // The relay writes only stamps, which need not wait for their WAL flush: a stamp
        // lost in a crash only sends its rows again, and the bus drops them by event id.
        // Set on the connection, so that a round costs no extra round trip for it.
        .map_sqlx_postgres_opts(|pg| pg.options([("synchronous_commit", "off")]));
    Ok(Database::connect(options).await?)
}

/// Nodes of a cluster start together on one database: on PostgreSQL they take turns
/// through an advisory lock (held on a connection of its own), so that two nodes never
/// run the same migration at once and fail on each other's half-made tables.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), NodeError> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        Migrator::up(db, None).await?;
        return Ok(());
    }
    use sea_orm::sqlx::{Connection as _, postgres::PgConnection};
    /// Any constant, the same on every node: "folio" in ASCII.
    const MIGRATION_LOCK: i64 = 0x0066_6f6c_696f;
    let options = db.get_postgres_connection_pool().connect_options();
    let mut lock = PgConnection::connect_with(&options)
        .await
        .map_err(NodeError::MigrationLock)?;
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut lock)
        .await
        .map_err(NodeError::MigrationLock)?;
    let migrated = Migrator::up(db, None).await;
    // Closing the connection releases the lock, whatever happened above.
    let _ = lock.close().await;
    Ok(migrated?)
}
