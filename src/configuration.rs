//! Typed settings, loaded once: built-in defaults (a working embedded node), then an
//! optional TOML file (`--config` or `FOLIO_CONFIG`), then `FOLIO_*` environment
//! variables, each overriding the one before.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use folio_http::client_address::{TrustedProxies, TrustedProxyError};
use serde::Deserialize;

/// A secret value: `Debug` never prints it, so settings can be logged safely.
#[derive(Clone, Deserialize, PartialEq, Eq)]
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
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP edge listens on.
    pub addr: SocketAddr,
    /// Where embedded state lives (SQLite file, generated secret, blobs, index).
    pub data_dir: PathBuf,
    /// `postgres://…` for a cluster node; unset means SQLite in the data dir.
    pub database_url: Option<Secret>,
    /// Required outside embedded mode; embedded mode generates and keeps one.
    pub jwt_secret: Option<Secret>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// Old clients that cannot store a new refresh token on every refresh turn this off.
    pub refresh_token_rotation: bool,
    /// These accounts are administrators (comma-separated in the environment).
    pub admin_emails: Vec<String>,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// How many password hashes may be computed at once; default: half the cores.
    pub hash_concurrency: Option<usize>,
    pub login_max_failures: u32,
    pub login_lockout_secs: u64,
    /// Failed logins from one client address, over every account, before `429`.
    pub login_max_failures_per_address: u32,
    /// Logins and registrations waiting for a password hash before new ones get `503`.
    pub hash_queue_limit: usize,
    /// Origins allowed by CORS (comma-separated in the environment); empty: no CORS.
    pub cors_origins: Vec<String>,
    /// When set, `/metrics` answers only to `Authorization: Bearer <this token>`.
    pub metrics_token: Option<Secret>,
    pub session_workers: usize,
    /// Workers of the profile and project actors (keyed by user / project).
    pub domain_workers: usize,
    /// `nats://…`: events go to JetStream; unset means the in-process bus.
    pub nats_url: Option<String>,
    /// Prepended to stream names (lets several deployments or test runs share a server).
    pub nats_stream_prefix: String,
    /// Prepended to subjects; empty in production, so the subject is the event type.
    pub nats_subject_prefix: String,
    /// How long JetStream remembers an event id to drop a republished duplicate.
    pub nats_duplicate_window_secs: u64,
    pub json_body_limit: usize,
    /// Absolute base of media URLs handed to clients; default `http://<addr>`.
    pub public_url: Option<String>,
    /// S3 endpoint for blobs; unset means a directory under the data dir.
    pub s3_endpoint: Option<String>,
    pub s3_access_key: Option<Secret>,
    pub s3_secret_key: Option<Secret>,
    pub s3_bucket: String,
    pub s3_region: String,
    /// Attempts before a thumbnail is marked failed for good.
    pub thumbnail_max_attempts: u32,
    /// Retry n waits 2^n × this many milliseconds.
    pub thumbnail_backoff_base_ms: u64,
    /// Thumbnails made at once on this node; default: half the cores.
    pub thumbnail_concurrency: Option<usize>,
    /// A job not acknowledged (or reported in progress) this long goes to another node.
    pub thumbnail_ack_wait_secs: u64,
    /// Meilisearch for search; unset means the embedded index under the data dir.
    pub meilisearch_url: Option<String>,
    pub meilisearch_key: Option<Secret>,
    pub meilisearch_index: String,
    pub database_max_connections: u32,
    /// Comma-separated: `http` (edge), `thumbnailer`, `indexer`, or `all`.
    pub roles: String,
    pub shutdown_grace_secs: u64,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Proxies (CIDR networks or addresses) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
    /// Where a node without the `http` role serves `/health`, `/ready` and `/metrics`;
    /// unset: it serves nothing.
    pub ops_addr: Option<SocketAddr>,
    /// Mark the operator console's cookies `Secure` (the console is reached over TLS).
    pub console_secure_cookie: bool,
    /// Restarts of one actor within `actor_restart_window_secs` before the supervisor
    /// gives up on it: `/ready` answers 503 and `folio serve` exits non-zero.
    pub actor_max_restarts: usize,
    pub actor_restart_window_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            jwt_secret: None,
            jwt_issuer: "folio".into(),
            jwt_audience: "folio-api".into(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            refresh_token_rotation: true,
            admin_emails: Vec::new(),
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            hash_concurrency: None,
            login_max_failures: 5,
            login_lockout_secs: 15 * 60,
            login_max_failures_per_address: 50,
            hash_queue_limit: 64,
            cors_origins: Vec::new(),
            metrics_token: None,
            session_workers: 16,
            domain_workers: 8,
            nats_url: None,
            nats_stream_prefix: String::new(),
            nats_subject_prefix: String::new(),
            nats_duplicate_window_secs: 600,
            json_body_limit: 64 * 1024,
            public_url: None,
            s3_endpoint: None,
            s3_access_key: None,
            s3_secret_key: None,
            s3_bucket: "media-files".into(),
            s3_region: String::new(),
            thumbnail_max_attempts: 5,
            thumbnail_backoff_base_ms: 1000,
            thumbnail_concurrency: None,
            thumbnail_ack_wait_secs: 30,
            meilisearch_url: None,
            meilisearch_key: None,
            meilisearch_index: "projects".into(),
            database_max_connections: 16,
            roles: "all".into(),
            shutdown_grace_secs: 30,
            log_format: LogFormat::Text,
            log_filter: "info".into(),
            trusted_proxies: Vec::new(),
            ops_addr: None,
            console_secure_cookie: false,
            actor_max_restarts: 10,
            actor_restart_window_secs: 60,
        }
    }
}

/// What a node does besides hosting the domain actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// The HTTP edge.
    pub http: bool,
    /// Consumes `media.uploaded` and makes thumbnails.
    pub thumbnailer: bool,
    /// Consumes project and profile events into the search index.
    pub indexer: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        http: true,
        thumbnailer: true,
        indexer: true,
    };

    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut roles = Roles {
            http: false,
            thumbnailer: false,
            indexer: false,
        };
        for role in raw.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match role {
                "all" => roles = Roles::ALL,
                "http" | "edge" => roles.http = true,
                "thumbnailer" => roles.thumbnailer = true,
                "indexer" => roles.indexer = true,
                other => {
                    return Err(format!(
                        "unknown role {other:?}; roles are http, thumbnailer, indexer, all"
                    ));
                }
            }
        }
        if roles
            == (Roles {
                http: false,
                thumbnailer: false,
                indexer: false,
            })
        {
            return Err("at least one role is needed".into());
        }
        Ok(roles)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("reading config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("FOLIO_TRUSTED_PROXIES: {0}")]
    TrustedProxies(#[from] TrustedProxyError),
}

/// How a `FOLIO_*` variable's text becomes a TOML value for its setting.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Bool,
    List,
}

const ENV_SETTINGS: &[(&str, Kind)] = &[
    ("addr", Kind::Text),
    ("data_dir", Kind::Text),
    ("database_url", Kind::Text),
    ("jwt_secret", Kind::Text),
    ("jwt_issuer", Kind::Text),
    ("jwt_audience", Kind::Text),
    ("access_token_ttl_secs", Kind::Integer),
    ("refresh_token_ttl_secs", Kind::Integer),
    ("refresh_token_rotation", Kind::Bool),
    ("admin_emails", Kind::List),
    ("argon2_memory_kib", Kind::Integer),
    ("argon2_iterations", Kind::Integer),
    ("argon2_parallelism", Kind::Integer),
    ("hash_concurrency", Kind::Integer),
    ("login_max_failures", Kind::Integer),
    ("login_lockout_secs", Kind::Integer),
    ("login_max_failures_per_address", Kind::Integer),
    ("hash_queue_limit", Kind::Integer),
    ("cors_origins", Kind::List),
    ("metrics_token", Kind::Text),
    ("session_workers", Kind::Integer),
    ("domain_workers", Kind::Integer),
    ("nats_url", Kind::Text),
    ("nats_stream_prefix", Kind::Text),
    ("nats_subject_prefix", Kind::Text),
    ("nats_duplicate_window_secs", Kind::Integer),
    ("json_body_limit", Kind::Integer),
    ("public_url", Kind::Text),
    ("s3_endpoint", Kind::Text),
    ("s3_access_key", Kind::Text),
    ("s3_secret_key", Kind::Text),
    ("s3_bucket", Kind::Text),
    ("s3_region", Kind::Text),
    ("thumbnail_max_attempts", Kind::Integer),
    ("thumbnail_backoff_base_ms", Kind::Integer),
    ("thumbnail_concurrency", Kind::Integer),
    ("thumbnail_ack_wait_secs", Kind::Integer),
    ("meilisearch_url", Kind::Text),
    ("meilisearch_key", Kind::Text),
    ("meilisearch_index", Kind::Text),
    ("database_max_connections", Kind::Integer),
    ("roles", Kind::Text),
    ("shutdown_grace_secs", Kind::Integer),
    ("log_format", Kind::Text),
    ("log_filter", Kind::Text),
    ("trusted_proxies", Kind::List),
    ("ops_addr", Kind::Text),
    ("console_secure_cookie", Kind::Bool),
    ("actor_max_restarts", Kind::Integer),
    ("actor_restart_window_secs", Kind::Integer),
];

/// Every environment variable the node reads: the settings' `FOLIO_*` names and
/// `FOLIO_CONFIG`. Deployment files are checked against this list.
pub fn known_variables() -> Vec<String> {
    std::iter::once("FOLIO_CONFIG".to_string())
        .chain(
            ENV_SETTINGS
                .iter()
                .map(|(name, _)| format!("FOLIO_{}", name.to_uppercase())),
        )
        .collect()
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
        for (name, kind) in ENV_SETTINGS {
            let var = format!("FOLIO_{}", name.to_uppercase());
            let Some((_, raw)) = env.iter().find(|(k, _)| *k == var) else {
                continue;
            };
            let value = match kind {
                Kind::Text => toml::Value::String(raw.clone()),
                Kind::Integer => toml::Value::Integer(
                    raw.trim()
                        .parse()
                        .map_err(|_| SettingsError::Invalid(format!("{var} must be a whole number, got {raw:?}")))?,
                ),
                Kind::Bool => toml::Value::Boolean(match raw.trim().to_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => {
                        return Err(SettingsError::Invalid(format!(
                            "{var} must be true or false, got {raw:?}"
                        )));
                    }
                }),
                Kind::List => toml::Value::Array(
                    raw.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| toml::Value::String(s.to_string()))
                        .collect(),
                ),
            };
            table.insert(name.to_string(), value);
        }
        let settings: Settings = table
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Invalid(format!("settings: {}", e.message())))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if let Some(url) = &self.database_url {
            let url = url.expose();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://") || url.starts_with("sqlite:")) {
                return Err(SettingsError::Invalid(
                    "FOLIO_DATABASE_URL must be a postgres:// or sqlite: URL".into(),
                ));
            }
        }
        if self.session_workers == 0 || self.domain_workers == 0 {
            return Err(SettingsError::Invalid(
                "session_workers and domain_workers must be at least 1".into(),
            ));
        }
        if !self.is_embedded() && self.jwt_secret.is_none() {
            return Err(SettingsError::Invalid(
                "FOLIO_JWT_SECRET is required when the node is not in embedded mode \
                 (a database other than the embedded SQLite is configured); set it to at least 32 random bytes"
                    .into(),
            ));
        }
        if self.s3_endpoint.is_some() && (self.s3_access_key.is_none() || self.s3_secret_key.is_none()) {
            return Err(SettingsError::Invalid(
                "FOLIO_S3_ACCESS_KEY and FOLIO_S3_SECRET_KEY are required with FOLIO_S3_ENDPOINT".into(),
            ));
        }
        Roles::parse(&self.roles).map_err(SettingsError::Invalid)?;
        TrustedProxies::parse(&self.trusted_proxies)?;
        if self.thumbnail_max_attempts == 0 {
            return Err(SettingsError::Invalid(
                "thumbnail_max_attempts must be at least 1".into(),
            ));
        }
        if let Some(secret) = &self.jwt_secret
            && secret.expose().len() < 32
        {
            return Err(SettingsError::Invalid(
                "FOLIO_JWT_SECRET must be at least 32 bytes".into(),
            ));
        }
        Ok(())
    }

    /// Embedded mode: everything under the data dir, nothing external configured.
    pub fn is_embedded(&self) -> bool {
        self.database_url
            .as_ref()
            .is_none_or(|url| url.expose().starts_with("sqlite:"))
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_string(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("folio.db").display()),
        }
    }

    pub fn roles(&self) -> Roles {
        Roles::parse(&self.roles).unwrap_or(Roles::ALL)
    }

    pub fn trusted_proxies(&self) -> TrustedProxies {
        // Validated on load.
        TrustedProxies::parse(&self.trusted_proxies).unwrap_or_default()
    }

    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_make_an_embedded_node() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert!(s.is_embedded());
        assert_eq!(s.addr.to_string(), "127.0.0.1:8080");
        assert!(s.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("folio.toml");
        std::fs::write(&file, "addr = \"0.0.0.0:9000\"\nsession_workers = 4\n").unwrap();
        let s = Settings::load_from(
            Some(&file),
            env(&[("FOLIO_SESSION_WORKERS", "8"), ("FOLIO_ADMIN_EMAILS", "a@x.io, b@y.io")]),
        )
        .unwrap();
        assert_eq!(s.addr.to_string(), "0.0.0.0:9000");
        assert_eq!(s.session_workers, 8);
        assert_eq!(s.admin_emails, vec!["a@x.io", "b@y.io"]);
    }

    #[test]
    fn postgres_requires_a_secret_and_it_is_never_printed() {
        let err = Settings::load_from(None, env(&[("FOLIO_DATABASE_URL", "postgres://db/folio")])).unwrap_err();
        assert!(err.to_string().contains("FOLIO_JWT_SECRET"));
        let secret = "s".repeat(40);
        let s = Settings::load_from(
            None,
            env(&[
                ("FOLIO_DATABASE_URL", "postgres://u:pw@db/folio"),
                ("FOLIO_JWT_SECRET", &secret),
            ]),
        )
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains(&secret) && !printed.contains("pw@"));
    }

    #[test]
    fn trusted_proxies_are_a_checked_cidr_list() {
        let s = Settings::load_from(None, env(&[("FOLIO_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")])).unwrap();
        assert!(s.trusted_proxies().trusts("10.2.3.4".parse().unwrap()));
        assert!(!s.trusted_proxies().trusts("192.0.2.1".parse().unwrap()));
        assert_eq!(Settings::default().trusted_proxies(), TrustedProxies::default());
        let err = Settings::load_from(None, env(&[("FOLIO_TRUSTED_PROXIES", "10.0.0.0/33")])).unwrap_err();
        assert!(err.to_string().contains("FOLIO_TRUSTED_PROXIES"), "{err}");
    }

    #[test]
    fn every_known_variable_is_read() {
        let known = known_variables();
        assert!(known.contains(&"FOLIO_TRUSTED_PROXIES".to_string()));
        assert!(known.contains(&"FOLIO_CONFIG".to_string()));
        assert_eq!(known.len(), ENV_SETTINGS.len() + 1);
    }

    #[test]
    fn bad_values_are_explained() {
        let err = Settings::load_from(None, env(&[("FOLIO_SESSION_WORKERS", "many")])).unwrap_err();
        assert!(err.to_string().contains("FOLIO_SESSION_WORKERS"));
        let err = Settings::load_from(None, env(&[("FOLIO_ADDR", "nowhere")])).unwrap_err();
        assert!(err.to_string().contains("settings"));
    }
}
