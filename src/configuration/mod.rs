//! Typed settings, loaded once: built-in defaults (a working embedded node), then an
//! optional TOML file (`--config` or `FOLIO_CONFIG`), then `FOLIO_*` environment
//! variables, each overriding the one before.
//!
//! The settings are grouped by concern (`[http]`, `[database]`, `[bus]`, …) in the file
//! and here, one module each; the environment keeps flat `FOLIO_*` names, mapped to their
//! setting by [`VARIABLES`]. What a setting means is decided when it is loaded: the
//! backends are enums ([`DatabaseBackend`], [`BusBackend`], [`BlobBackend`],
//! [`SearchBackend`], [`ClusterMode`]) and durations are `Duration`s.

mod auth;
mod blobs;
mod bus;
mod cluster;
mod database;
mod durations;
mod edge;
mod media;
mod node;
mod search;
#[cfg(test)]
mod tests;
mod variables;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use folio_http::client_address::{TrustedProxies, TrustedProxyError};
use serde::Deserialize;

pub use auth::AuthSettings;
pub use blobs::{BlobBackend, S3Blobs};
pub use bus::{BusBackend, BusSettings};
pub use cluster::{ClusterMode, ClusterSettings, ClusterTls};
pub use database::{DatabaseBackend, DatabaseSettings};
pub use edge::{HttpSettings, OpsSettings};
pub use media::MediaSettings;
pub use node::{NodeSettings, ROLE_NAMES, Roles, RolesError};
pub use search::{MeilisearchServer, SearchBackend};
pub use variables::{UnknownVariable, VARIABLES, Variable, known_variables, unknown_variables, warn_unknown_variables};

/// A secret value: `Debug` never prints it, so settings can be logged safely.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub node: NodeSettings,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub bus: BusSettings,
    pub blobs: BlobBackend,
    pub search: SearchBackend,
    pub auth: AuthSettings,
    pub media: MediaSettings,
    pub ops: OpsSettings,
    pub log: LogSettings,
    pub cluster: ClusterSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("reading config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{variable} must be {expected}, got {given:?}")]
    Value {
        variable: &'static str,
        expected: &'static str,
        given: String,
    },
    #[error("settings: `{section}` must be a table (it holds {variable})")]
    NotATable {
        section: &'static str,
        variable: &'static str,
    },
    /// A key that is not a setting, a value of the wrong type, a database URL of another
    /// kind, S3 without its keys: the message names the key.
    #[error("settings")]
    Shape(#[source] toml::de::Error),
    #[error("{variable} is not a valid list of roles")]
    Roles {
        variable: &'static str,
        #[source]
        source: RolesError,
    },
    #[error("FOLIO_TRUSTED_PROXIES")]
    TrustedProxies(#[from] TrustedProxyError),
    #[error("{variables} must be at least 1")]
    Zero { variables: &'static str },
    #[error("{variable} is required when the node is not in embedded mode: {why}")]
    Required { variable: &'static str, why: &'static str },
    #[error("{variable} must be at least {min_bytes} bytes{hint}")]
    TooShort {
        variable: &'static str,
        min_bytes: usize,
        hint: &'static str,
    },
    #[error("FOLIO_CLUSTER_MAX_FRAME_BYTES must be at least {min}")]
    FrameLimit { min: u64 },
    #[error(
        "FOLIO_CLUSTER_TLS_CERT, FOLIO_CLUSTER_TLS_KEY and FOLIO_CLUSTER_TLS_CA go together: set all three or none"
    )]
    TlsIncomplete,
    #[error("FOLIO_CLUSTER_NODE_NAME may hold only letters, digits, '-' and '_' (got {given:?})")]
    NodeName { given: String },
}

impl Settings {
    /// Defaults, then the file, then the process environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(config_file, std::env::vars())
    }

    pub fn load_from(
        config_file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let file = config_file.map(Path::to_path_buf).or_else(|| {
            env.iter()
                .find(|(k, _)| k == "FOLIO_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
        });
        let mut table = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<toml::Table>(&text).map_err(|source| SettingsError::Parse {
                    path: path.clone(),
                    source,
                })?
            }
            None => toml::Table::new(),
        };
        for variable in VARIABLES {
            let Some((_, raw)) = env.iter().find(|(k, _)| k == variable.name) else {
                continue;
            };
            let value = variable.value(raw)?;
            let section = table
                .entry(variable.section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(section) = section else {
                return Err(SettingsError::NotATable {
                    section: variable.section,
                    variable: variable.name,
                });
            };
            section.insert(variable.key.to_string(), value);
        }
        let settings: Settings = table.try_into().map_err(SettingsError::Shape)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if self.http.events_max_streams_per_user == 0 || self.http.events_keep_alive.is_zero() {
            return Err(SettingsError::Zero {
                variables: "FOLIO_EVENTS_MAX_STREAMS_PER_USER and FOLIO_EVENTS_KEEP_ALIVE_SECS",
            });
        }
        if self.database.acquire_timeout.is_zero() {
            return Err(SettingsError::Zero {
                variables: "FOLIO_DATABASE_ACQUIRE_TIMEOUT_SECS",
            });
        }
        if self.auth.session_workers == 0 || self.node.domain_workers == 0 {
            return Err(SettingsError::Zero {
                variables: "FOLIO_SESSION_WORKERS and FOLIO_DOMAIN_WORKERS",
            });
        }
        if !self.is_embedded() && self.auth.jwt_secret.is_none() {
            return Err(SettingsError::Required {
                variable: "FOLIO_JWT_SECRET",
                why: "a database other than the embedded SQLite is configured; set it to at least 32 random bytes",
            });
        }
        if !self.is_embedded() && self.cluster.cookie.as_ref().is_none_or(|c| c.expose().is_empty()) {
            return Err(SettingsError::Required {
                variable: "FOLIO_CLUSTER_COOKIE",
                why: "every node of a cluster shares it, and a node with another cookie is refused",
            });
        }
        // A short cookie is guessed: the handshake answers a guess in well under a
        // millisecond, and a three-letter cookie fell in 0.6 s.
        if let Some(cookie) = &self.cluster.cookie
            && !cookie.expose().is_empty()
            && cookie.expose().len() < 32
        {
            return Err(SettingsError::TooShort {
                variable: "FOLIO_CLUSTER_COOKIE",
                min_bytes: 32,
                hint: " (a short cookie is guessed in seconds); generate one with `openssl rand -hex 32`",
            });
        }
        let cluster = &self.cluster;
        if cluster.handshake_timeout.is_zero()
            || cluster.max_unauthenticated == 0
            || cluster.max_unauthenticated_per_address == 0
            || cluster.max_failed_handshakes == 0
        {
            return Err(SettingsError::Zero {
                variables: "FOLIO_CLUSTER_HANDSHAKE_TIMEOUT_SECS, FOLIO_CLUSTER_MAX_UNAUTHENTICATED, \
                            FOLIO_CLUSTER_MAX_UNAUTHENTICATED_PER_ADDRESS and FOLIO_CLUSTER_MAX_FAILED_HANDSHAKES",
            });
        }
        if cluster.max_frame_bytes < folio_actors::cluster::gate::HANDSHAKE_FRAME_LIMIT {
            return Err(SettingsError::FrameLimit {
                min: folio_actors::cluster::gate::HANDSHAKE_FRAME_LIMIT,
            });
        }
        let tls = [&cluster.tls_cert, &cluster.tls_key, &cluster.tls_ca];
        if tls.iter().any(|f| f.is_some()) && !tls.iter().all(|f| f.is_some()) {
            return Err(SettingsError::TlsIncomplete);
        }
        if let Some(name) = &cluster.node_name
            && (name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(SettingsError::NodeName { given: name.clone() });
        }
        TrustedProxies::parse(&self.http.trusted_proxies)?;
        if self.media.thumbnail_max_attempts == 0 {
            return Err(SettingsError::Zero {
                variables: "FOLIO_THUMBNAIL_MAX_ATTEMPTS",
            });
        }
        if let Some(secret) = &self.auth.jwt_secret
            && secret.expose().len() < 32
        {
            return Err(SettingsError::TooShort {
                variable: "FOLIO_JWT_SECRET",
                min_bytes: 32,
                hint: "",
            });
        }
        Ok(())
    }

    /// Embedded mode: everything under the data dir, nothing external configured.
    pub fn is_embedded(&self) -> bool {
        matches!(
            self.database.backend,
            DatabaseBackend::Embedded | DatabaseBackend::Sqlite(_)
        )
    }

    pub fn database_url(&self) -> String {
        self.database.backend.url(&self.node.data_dir)
    }

    /// Whether the node joins a cluster: it does when a cookie and a NATS URL (for
    /// discovery) are set; otherwise it is a cluster of one.
    pub fn cluster_mode(&self) -> ClusterMode {
        match (&self.cluster.cookie, &self.bus.backend) {
            (Some(cookie), BusBackend::JetStream(nats_url)) if !cookie.expose().is_empty() => ClusterMode::Member {
                cookie: cookie.clone(),
                nats_url: nats_url.clone(),
            },
            _ => ClusterMode::Single,
        }
    }

    /// Where media URLs handed to clients start: the configured public URL, else the edge.
    pub fn public_url(&self, edge_addr: SocketAddr) -> String {
        self.media
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{edge_addr}"))
    }

    pub fn trusted_proxies(&self) -> TrustedProxies {
        // Validated on load.
        TrustedProxies::parse(&self.http.trusted_proxies).unwrap_or_default()
    }

    /// The export domain's timings.
    pub fn export_config(&self) -> folio_actors::export::ExportConfig {
        let auth = &self.auth;
        let at_least_a_second = |d: Duration| d.max(Duration::from_secs(1));
        folio_actors::export::ExportConfig {
            link_ttl: at_least_a_second(auth.export_link_ttl),
            stale_after: at_least_a_second(auth.export_stale),
            give_up_after: at_least_a_second(auth.export_give_up.max(auth.export_stale)),
            sweep_every: at_least_a_second(auth.export_sweep),
            ..folio_actors::export::ExportConfig::default()
        }
    }
}
