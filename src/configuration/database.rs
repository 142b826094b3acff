//! `[database]`: where the node's tables live.

use std::{path::Path, time::Duration};

use serde::Deserialize;

use super::{Secret, durations};

/// What `url` (`FOLIO_DATABASE_URL`) says, parsed when the settings are loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
#[cfg_attr(test, derive(serde::Serialize), serde(into = "Option<String>"))]
pub enum DatabaseBackend {
    /// No URL: SQLite in the data dir (`folio.db`), the embedded node.
    #[default]
    Embedded,
    /// A `sqlite:` URL (a file elsewhere, or `sqlite::memory:`): still a node of its own.
    Sqlite(Secret),
    /// A `postgres://` URL: a node that can share its database with others.
    Postgres(Secret),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("FOLIO_DATABASE_URL must be a postgres:// or sqlite: URL")]
pub struct DatabaseUrlError;

impl TryFrom<String> for DatabaseBackend {
    type Error = DatabaseUrlError;

    fn try_from(url: String) -> Result<Self, Self::Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(Secret::new(url)))
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(Secret::new(url)))
        } else {
            Err(DatabaseUrlError)
        }
    }
}

impl From<DatabaseBackend> for Option<String> {
    fn from(backend: DatabaseBackend) -> Self {
        match backend {
            DatabaseBackend::Embedded => None,
            DatabaseBackend::Sqlite(url) | DatabaseBackend::Postgres(url) => Some(url.expose().to_string()),
        }
    }
}

impl DatabaseBackend {
    /// A PostgreSQL database at `url` (tests and benches that make their own).
    pub fn postgres(url: impl Into<String>) -> Self {
        Self::Postgres(Secret::new(url))
    }

    /// The URL to connect to; the embedded database is a file in `data_dir`.
    pub fn url(&self, data_dir: &Path) -> String {
        match self {
            Self::Embedded => format!("sqlite://{}?mode=rwc", data_dir.join("folio.db").display()),
            Self::Sqlite(url) | Self::Postgres(url) => url.expose().to_string(),
        }
    }

    /// A SQLite database that lives only in memory (tests): no second pool can see it.
    pub fn is_in_memory(&self) -> bool {
        match self {
            Self::Sqlite(url) => url.expose().contains(":memory:") || url.expose().contains("mode=memory"),
            Self::Embedded | Self::Postgres(_) => false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(rename = "url")]
    pub backend: DatabaseBackend,
    pub max_connections: u32,
    /// How long a request waits for a pooled PostgreSQL connection before it is
    /// answered 503 `database_unavailable` (a restart must not hold requests for long).
    #[serde(rename = "acquire_timeout_secs", with = "durations::seconds")]
    pub acquire_timeout: Duration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            backend: DatabaseBackend::Embedded,
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}
