//! Typed settings, loaded once: built-in defaults (a working embedded node), then an
//! optional TOML file (`--config` or `FOLIO_CONFIG`), then `FOLIO_*` environment
//! variables, each overriding the one before.
//!
//! The settings are grouped by concern (`[http]`, `[database]`, `[bus]`, …) in the file;
//! the environment keeps flat `FOLIO_*` names, mapped to their setting by [`VARIABLES`],
//! the one place those names are defined.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use folio_actors::project::views::ViewLimits;
use folio_http::client_address::{TrustedProxies, TrustedProxyError};
use serde::Deserialize;

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

#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub node: NodeSettings,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub bus: BusSettings,
    pub blobs: BlobSettings,
    pub search: SearchSettings,
    pub auth: AuthSettings,
    pub media: MediaSettings,
    pub ops: OpsSettings,
    pub log: LogSettings,
    pub cluster: ClusterSettings,
}

/// What this node is and where its embedded state lives.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct NodeSettings {
    /// Where embedded state lives (SQLite file, generated secret, blobs, index).
    pub data_dir: PathBuf,
    /// What the node runs besides the domain actors (comma-separated in the environment).
    pub roles: Roles,
    /// Workers of the profile, project and media actors (keyed by user / project).
    pub domain_workers: usize,
    /// How long shutdown waits for in-flight requests and the actors.
    pub shutdown_grace_secs: u64,
    /// Restarts of one actor within `actor_restart_window_secs` before the supervisor
    /// gives up on it: `/ready` answers 503 and `folio serve` exits non-zero.
    pub actor_max_restarts: usize,
    pub actor_restart_window_secs: u64,
    /// Memory for project views kept for `GET /projects/{id}` (estimated MiB; 0 turns
    /// the cache off).
    pub project_cache_mb: usize,
    /// The longest a cached project view is served after it was read: the bound on how
    /// stale a read can be when a change on another node did not reach this one.
    pub project_cache_ttl_ms: u64,
}

impl NodeSettings {
    pub fn project_view_limits(&self) -> ViewLimits {
        ViewLimits {
            max_bytes: self.project_cache_mb.saturating_mul(1024 * 1024),
            ttl: Duration::from_millis(self.project_cache_ttl_ms),
        }
    }
}

impl Default for NodeSettings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            roles: Roles::ALL,
            domain_workers: 8,
            shutdown_grace_secs: 30,
            actor_max_restarts: 10,
            actor_restart_window_secs: 60,
            project_cache_mb: 32,
            project_cache_ttl_ms: 1000,
        }
    }
}

/// The HTTP edge.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address the HTTP edge listens on.
    pub addr: SocketAddr,
    pub json_body_limit: usize,
    /// Origins allowed by CORS (comma-separated in the environment); empty: no CORS.
    pub cors_origins: Vec<String>,
    /// Proxies (CIDR networks or addresses) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
    /// Mark the operator console's cookies `Secure` (the console is reached over TLS).
    pub console_secure_cookie: bool,
    /// `GET /events` streams one user may have open on this node; one more is 429.
    pub events_max_streams_per_user: usize,
    /// A comment line this often on an idle `GET /events` stream keeps proxies from
    /// closing it, and lets the node notice a client that went away.
    pub events_keep_alive_secs: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            json_body_limit: 64 * 1024,
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            console_secure_cookie: false,
            events_max_streams_per_user: 16,
            events_keep_alive_secs: 15,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` for a cluster node; unset means SQLite in the data dir.
    pub url: Option<Secret>,
    pub max_connections: u32,
    /// How long a request waits for a pooled PostgreSQL connection before it is
    /// answered 503 `database_unavailable` (a restart must not hold requests for long).
    pub acquire_timeout_secs: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
            acquire_timeout_secs: 3,
        }
    }
}

/// The event bus.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct BusSettings {
    /// `nats://…`: events go to JetStream; unset means the in-process bus.
    pub nats_url: Option<String>,
    /// Prepended to stream names (lets several deployments or test runs share a server).
    pub stream_prefix: String,
    /// Prepended to subjects; empty in production, so the subject is the event type.
    pub subject_prefix: String,
    /// How long JetStream remembers an event id to drop a republished duplicate.
    pub duplicate_window_secs: u64,
}

impl Default for BusSettings {
    fn default() -> Self {
        Self {
            nats_url: None,
            stream_prefix: String::new(),
            subject_prefix: String::new(),
            duplicate_window_secs: 600,
        }
    }
}

/// Where uploads and thumbnails are stored.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct BlobSettings {
    /// S3 endpoint for blobs; unset means a directory under the data dir.
    pub s3_endpoint: Option<String>,
    pub s3_access_key: Option<Secret>,
    pub s3_secret_key: Option<Secret>,
    pub s3_bucket: String,
    pub s3_region: String,
}

impl Default for BlobSettings {
    fn default() -> Self {
        Self {
            s3_endpoint: None,
            s3_access_key: None,
            s3_secret_key: None,
            s3_bucket: "media-files".into(),
            s3_region: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct SearchSettings {
    /// Meilisearch for search; unset means the embedded index under the data dir.
    pub meilisearch_url: Option<String>,
    pub meilisearch_key: Option<Secret>,
    pub meilisearch_index: String,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            meilisearch_url: None,
            meilisearch_key: None,
            meilisearch_index: "projects".into(),
        }
    }
}

/// Accounts, tokens and the cost of passwords.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
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
    /// Logins and registrations waiting for a password hash before new ones get `503`.
    pub hash_queue_limit: usize,
    pub login_max_failures: u32,
    pub login_lockout_secs: u64,
    /// Failed logins from one client address, over every account, before `429`.
    pub login_max_failures_per_address: u32,
    pub session_workers: usize,
    /// How long a deleted account's username and email stay refused to registrations,
    /// so nobody can pose as the person who just left.
    pub account_hold_secs: u64,
    /// How long an account export's download link works; its archive is deleted after.
    pub export_link_ttl_secs: u64,
    /// A running export silent (no heartbeat) this long is resumed by another run, or
    /// failed when its owner asks for a new one.
    pub export_stale_secs: u64,
    /// A running export silent this long is failed by the sweeper.
    pub export_give_up_secs: u64,
    /// Time between sweeps of expired export archives.
    pub export_sweep_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
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
            hash_queue_limit: 64,
            login_max_failures: 5,
            login_lockout_secs: 15 * 60,
            login_max_failures_per_address: 50,
            session_workers: 16,
            account_hold_secs: 30 * 24 * 3600,
            export_link_ttl_secs: 24 * 3600,
            export_stale_secs: 60,
            export_give_up_secs: 15 * 60,
            export_sweep_secs: 60,
        }
    }
}

/// Media URLs and the thumbnail jobs.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct MediaSettings {
    /// Absolute base of media URLs handed to clients; default `http://<http.addr>`.
    pub public_url: Option<String>,
    /// Attempts before a thumbnail is marked failed for good.
    pub thumbnail_max_attempts: u32,
    /// Retry n waits 2^n × this many milliseconds.
    pub thumbnail_backoff_base_ms: u64,
    /// Thumbnails made at once on this node; default: half the cores.
    pub thumbnail_concurrency: Option<usize>,
    /// A job not acknowledged (or reported in progress) this long goes to another node.
    pub thumbnail_ack_wait_secs: u64,
    /// JPEGs through the system's libjpeg-turbo (`libturbojpeg0`) when it is installed:
    /// about twice as fast as the pure-Rust decoder. Builds with `fast-jpeg` always use
    /// their own.
    pub system_libjpeg_turbo: bool,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            public_url: None,
            thumbnail_max_attempts: 5,
            thumbnail_backoff_base_ms: 1000,
            thumbnail_concurrency: None,
            thumbnail_ack_wait_secs: 30,
            system_libjpeg_turbo: true,
        }
    }
}

/// Health, readiness and metrics.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct OpsSettings {
    /// Where a node without the `http` role serves `/health`, `/ready` and `/metrics`;
    /// unset: it serves nothing.
    pub addr: Option<SocketAddr>,
    /// When set, `/metrics` answers only to `Authorization: Bearer <this token>`.
    pub metrics_token: Option<Secret>,
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

/// Membership in a cluster of nodes (ractor_cluster, discovery through NATS). A node
/// joins when a cookie and a NATS URL are set; an embedded node is its own cluster.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// Unique in the cluster; default: from the advertised address (`10-0-0-5-7946`),
    /// so a node keeps its name across restarts.
    pub node_name: Option<String>,
    /// Where the node server listens; port 0 picks a free port.
    pub addr: SocketAddr,
    /// `host:port` the other nodes dial; default: `addr`, with the host name for an
    /// unspecified IP.
    pub advertise: Option<String>,
    /// Shared by every node of the cluster; required outside embedded mode.
    pub cookie: Option<Secret>,
    /// PEM files for mutual TLS between nodes: all three or none.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_ca: Option<PathBuf>,
    /// The NATS key-value bucket that lists the nodes.
    pub bucket: String,
    /// A connection to the cluster port that has not authenticated by then is closed.
    pub handshake_timeout_secs: u64,
    /// Connections to the cluster port not yet authenticated, all addresses together.
    pub max_unauthenticated: usize,
    /// Connections to the cluster port not yet authenticated, from one address.
    pub max_unauthenticated_per_address: usize,
    /// Failed handshakes an address may have within a minute before the cluster port
    /// refuses it for the rest of that minute.
    pub max_failed_handshakes: u32,
    /// The largest frame an authenticated node may send (before authentication, only a
    /// handshake's size, 64 KiB, is allowed).
    pub max_frame_bytes: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            node_name: None,
            addr: SocketAddr::from(([0, 0, 0, 0], 7946)),
            advertise: None,
            cookie: None,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            bucket: "folio_nodes".into(),
            handshake_timeout_secs: 5,
            max_unauthenticated: 64,
            max_unauthenticated_per_address: 8,
            max_failed_handshakes: 10,
            max_frame_bytes: 16 * 1024 * 1024,
        }
    }
}

/// What a node does besides hosting the domain actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(try_from = "String")]
#[cfg_attr(test, serde(into = "String"))]
pub struct Roles {
    /// The HTTP edge.
    pub http: bool,
    /// Consumes `media.uploaded` and makes thumbnails.
    pub thumbnailer: bool,
    /// Consumes project and profile events into the search index.
    pub indexer: bool,
}

/// The names `FOLIO_ROLES` and `--roles` accept.
pub const ROLE_NAMES: &[&str] = &["http", "thumbnailer", "indexer", "all"];

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RolesError {
    #[error("unknown role {given:?}; the roles are {}", ROLE_NAMES.join(", "))]
    Unknown { given: String },
    #[error("no role given; the roles are {}", ROLE_NAMES.join(", "))]
    Empty,
}

impl Roles {
    pub const ALL: Roles = Roles {
        http: true,
        thumbnailer: true,
        indexer: true,
    };

    const NONE: Roles = Roles {
        http: false,
        thumbnailer: false,
        indexer: false,
    };

    /// A comma-separated list of [`ROLE_NAMES`].
    pub fn parse(raw: &str) -> Result<Self, RolesError> {
        let mut roles = Roles::NONE;
        for role in raw.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match role {
                "all" => roles = Roles::ALL,
                // `edge` is the role's older name, kept so existing deployments still start.
                "http" | "edge" => roles.http = true,
                "thumbnailer" => roles.thumbnailer = true,
                "indexer" => roles.indexer = true,
                other => {
                    return Err(RolesError::Unknown {
                        given: other.to_string(),
                    });
                }
            }
        }
        if roles == Roles::NONE {
            return Err(RolesError::Empty);
        }
        Ok(roles)
    }

    /// The roles by name (`http`, `thumbnailer`, `indexer`), as the cluster view shows them.
    pub fn names(self) -> Vec<String> {
        [
            (self.http, "http"),
            (self.thumbnailer, "thumbnailer"),
            (self.indexer, "indexer"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name.to_string())
        .collect()
    }
}

impl TryFrom<String> for Roles {
    type Error = RolesError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Roles::parse(&raw)
    }
}

impl From<Roles> for String {
    fn from(roles: Roles) -> String {
        if roles == Roles::ALL {
            return "all".into();
        }
        [
            (roles.http, "http"),
            (roles.thumbnailer, "thumbnailer"),
            (roles.indexer, "indexer"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
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
    #[error("{variable} is not a valid list of roles")]
    Roles {
        variable: &'static str,
        #[source]
        source: RolesError,
    },
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
    /// Checked as it is read, so a misspelt role names the variable and the valid roles.
    Roles,
}

/// One `FOLIO_*` variable and the setting it overrides: `[section] key` in the file.
pub struct Variable {
    pub name: &'static str,
    pub section: &'static str,
    pub key: &'static str,
    kind: Kind,
}

const fn var(name: &'static str, section: &'static str, key: &'static str, kind: Kind) -> Variable {
    Variable {
        name,
        section,
        key,
        kind,
    }
}

/// Every setting's environment variable. A setting missing here cannot be set from the
/// environment; the `every_setting_has_a_variable` test catches that.
pub const VARIABLES: &[Variable] = &[
    var("FOLIO_DATA_DIR", "node", "data_dir", Kind::Text),
    var("FOLIO_ROLES", "node", "roles", Kind::Roles),
    var("FOLIO_DOMAIN_WORKERS", "node", "domain_workers", Kind::Integer),
    var(
        "FOLIO_SHUTDOWN_GRACE_SECS",
        "node",
        "shutdown_grace_secs",
        Kind::Integer,
    ),
    var("FOLIO_ACTOR_MAX_RESTARTS", "node", "actor_max_restarts", Kind::Integer),
    var(
        "FOLIO_ACTOR_RESTART_WINDOW_SECS",
        "node",
        "actor_restart_window_secs",
        Kind::Integer,
    ),
    var("FOLIO_PROJECT_CACHE_MB", "node", "project_cache_mb", Kind::Integer),
    var(
        "FOLIO_PROJECT_CACHE_TTL_MS",
        "node",
        "project_cache_ttl_ms",
        Kind::Integer,
    ),
    var("FOLIO_ADDR", "http", "addr", Kind::Text),
    var("FOLIO_JSON_BODY_LIMIT", "http", "json_body_limit", Kind::Integer),
    var("FOLIO_CORS_ORIGINS", "http", "cors_origins", Kind::List),
    var("FOLIO_TRUSTED_PROXIES", "http", "trusted_proxies", Kind::List),
    var(
        "FOLIO_EVENTS_MAX_STREAMS_PER_USER",
        "http",
        "events_max_streams_per_user",
        Kind::Integer,
    ),
    var(
        "FOLIO_EVENTS_KEEP_ALIVE_SECS",
        "http",
        "events_keep_alive_secs",
        Kind::Integer,
    ),
    var(
        "FOLIO_CONSOLE_SECURE_COOKIE",
        "http",
        "console_secure_cookie",
        Kind::Bool,
    ),
    var("FOLIO_DATABASE_URL", "database", "url", Kind::Text),
    var(
        "FOLIO_DATABASE_MAX_CONNECTIONS",
        "database",
        "max_connections",
        Kind::Integer,
    ),
    var(
        "FOLIO_DATABASE_ACQUIRE_TIMEOUT_SECS",
        "database",
        "acquire_timeout_secs",
        Kind::Integer,
    ),
    var("FOLIO_NATS_URL", "bus", "nats_url", Kind::Text),
    var("FOLIO_NATS_STREAM_PREFIX", "bus", "stream_prefix", Kind::Text),
    var("FOLIO_NATS_SUBJECT_PREFIX", "bus", "subject_prefix", Kind::Text),
    var(
        "FOLIO_NATS_DUPLICATE_WINDOW_SECS",
        "bus",
        "duplicate_window_secs",
        Kind::Integer,
    ),
    var("FOLIO_S3_ENDPOINT", "blobs", "s3_endpoint", Kind::Text),
    var("FOLIO_S3_ACCESS_KEY", "blobs", "s3_access_key", Kind::Text),
    var("FOLIO_S3_SECRET_KEY", "blobs", "s3_secret_key", Kind::Text),
    var("FOLIO_S3_BUCKET", "blobs", "s3_bucket", Kind::Text),
    var("FOLIO_S3_REGION", "blobs", "s3_region", Kind::Text),
    var("FOLIO_MEILISEARCH_URL", "search", "meilisearch_url", Kind::Text),
    var("FOLIO_MEILISEARCH_KEY", "search", "meilisearch_key", Kind::Text),
    var("FOLIO_MEILISEARCH_INDEX", "search", "meilisearch_index", Kind::Text),
    var("FOLIO_JWT_SECRET", "auth", "jwt_secret", Kind::Text),
    var("FOLIO_JWT_ISSUER", "auth", "jwt_issuer", Kind::Text),
    var("FOLIO_JWT_AUDIENCE", "auth", "jwt_audience", Kind::Text),
    var(
        "FOLIO_ACCESS_TOKEN_TTL_SECS",
        "auth",
        "access_token_ttl_secs",
        Kind::Integer,
    ),
    var(
        "FOLIO_REFRESH_TOKEN_TTL_SECS",
        "auth",
        "refresh_token_ttl_secs",
        Kind::Integer,
    ),
    var(
        "FOLIO_REFRESH_TOKEN_ROTATION",
        "auth",
        "refresh_token_rotation",
        Kind::Bool,
    ),
    var("FOLIO_ADMIN_EMAILS", "auth", "admin_emails", Kind::List),
    var("FOLIO_ARGON2_MEMORY_KIB", "auth", "argon2_memory_kib", Kind::Integer),
    var("FOLIO_ARGON2_ITERATIONS", "auth", "argon2_iterations", Kind::Integer),
    var("FOLIO_ARGON2_PARALLELISM", "auth", "argon2_parallelism", Kind::Integer),
    var("FOLIO_HASH_CONCURRENCY", "auth", "hash_concurrency", Kind::Integer),
    var("FOLIO_HASH_QUEUE_LIMIT", "auth", "hash_queue_limit", Kind::Integer),
    var("FOLIO_LOGIN_MAX_FAILURES", "auth", "login_max_failures", Kind::Integer),
    var("FOLIO_LOGIN_LOCKOUT_SECS", "auth", "login_lockout_secs", Kind::Integer),
    var(
        "FOLIO_LOGIN_MAX_FAILURES_PER_ADDRESS",
        "auth",
        "login_max_failures_per_address",
        Kind::Integer,
    ),
    var("FOLIO_SESSION_WORKERS", "auth", "session_workers", Kind::Integer),
    var("FOLIO_ACCOUNT_HOLD_SECS", "auth", "account_hold_secs", Kind::Integer),
    var(
        "FOLIO_EXPORT_LINK_TTL_SECS",
        "auth",
        "export_link_ttl_secs",
        Kind::Integer,
    ),
    var("FOLIO_EXPORT_STALE_SECS", "auth", "export_stale_secs", Kind::Integer),
    var(
        "FOLIO_EXPORT_GIVE_UP_SECS",
        "auth",
        "export_give_up_secs",
        Kind::Integer,
    ),
    var("FOLIO_EXPORT_SWEEP_SECS", "auth", "export_sweep_secs", Kind::Integer),
    var("FOLIO_PUBLIC_URL", "media", "public_url", Kind::Text),
    var(
        "FOLIO_THUMBNAIL_MAX_ATTEMPTS",
        "media",
        "thumbnail_max_attempts",
        Kind::Integer,
    ),
    var(
        "FOLIO_THUMBNAIL_BACKOFF_BASE_MS",
        "media",
        "thumbnail_backoff_base_ms",
        Kind::Integer,
    ),
    var(
        "FOLIO_THUMBNAIL_CONCURRENCY",
        "media",
        "thumbnail_concurrency",
        Kind::Integer,
    ),
    var(
        "FOLIO_THUMBNAIL_ACK_WAIT_SECS",
        "media",
        "thumbnail_ack_wait_secs",
        Kind::Integer,
    ),
    var(
        "FOLIO_SYSTEM_LIBJPEG_TURBO",
        "media",
        "system_libjpeg_turbo",
        Kind::Bool,
    ),
    var("FOLIO_OPS_ADDR", "ops", "addr", Kind::Text),
    var("FOLIO_METRICS_TOKEN", "ops", "metrics_token", Kind::Text),
    var("FOLIO_CLUSTER_NODE_NAME", "cluster", "node_name", Kind::Text),
    var("FOLIO_CLUSTER_ADDR", "cluster", "addr", Kind::Text),
    var("FOLIO_CLUSTER_ADVERTISE", "cluster", "advertise", Kind::Text),
    var("FOLIO_CLUSTER_COOKIE", "cluster", "cookie", Kind::Text),
    var("FOLIO_CLUSTER_TLS_CERT", "cluster", "tls_cert", Kind::Text),
    var("FOLIO_CLUSTER_TLS_KEY", "cluster", "tls_key", Kind::Text),
    var("FOLIO_CLUSTER_TLS_CA", "cluster", "tls_ca", Kind::Text),
    var("FOLIO_CLUSTER_BUCKET", "cluster", "bucket", Kind::Text),
    var(
        "FOLIO_CLUSTER_HANDSHAKE_TIMEOUT_SECS",
        "cluster",
        "handshake_timeout_secs",
        Kind::Integer,
    ),
    var(
        "FOLIO_CLUSTER_MAX_UNAUTHENTICATED",
        "cluster",
        "max_unauthenticated",
        Kind::Integer,
    ),
    var(
        "FOLIO_CLUSTER_MAX_UNAUTHENTICATED_PER_ADDRESS",
        "cluster",
        "max_unauthenticated_per_address",
        Kind::Integer,
    ),
    var(
        "FOLIO_CLUSTER_MAX_FAILED_HANDSHAKES",
        "cluster",
        "max_failed_handshakes",
        Kind::Integer,
    ),
    var(
        "FOLIO_CLUSTER_MAX_FRAME_BYTES",
        "cluster",
        "max_frame_bytes",
        Kind::Integer,
    ),
    var("FOLIO_LOG_FORMAT", "log", "format", Kind::Text),
    var("FOLIO_LOG_FILTER", "log", "filter", Kind::Text),
];

/// Variables with the `FOLIO_` prefix that are not settings: the config file's path and
/// the s3s-fs binary `folio bench soak` starts.
const OTHER_VARIABLES: &[&str] = &["FOLIO_CONFIG", "FOLIO_S3S_FS"];

/// The test harness's own variables (`FOLIO_TEST_DATABASE_URL`, …), present in the
/// environment of the nodes tests start.
const TEST_HARNESS_PREFIX: &str = "FOLIO_TEST_";

/// Every environment variable the node reads: the settings' `FOLIO_*` names and
/// `FOLIO_CONFIG`. Deployment files are checked against this list.
pub fn known_variables() -> Vec<String> {
    std::iter::once("FOLIO_CONFIG")
        .chain(VARIABLES.iter().map(|v| v.name))
        .map(String::from)
        .collect()
}

/// A `FOLIO_*` variable the node does not read, likely a misspelling.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownVariable {
    pub name: String,
    /// The known name within two edits, if there is one.
    pub closest: Option<&'static str>,
}

/// The `FOLIO_*` names among `names` that the node does not read, each with the closest
/// known name when one is near.
pub fn unknown_variables<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<UnknownVariable> {
    let known = || VARIABLES.iter().map(|v| v.name).chain(OTHER_VARIABLES.iter().copied());
    names
        .into_iter()
        .filter(|name| name.starts_with("FOLIO_") && !name.starts_with(TEST_HARNESS_PREFIX))
        .filter(|name| !known().any(|k| k == *name))
        .map(|name| UnknownVariable {
            name: name.to_string(),
            closest: known()
                .map(|k| (edit_distance(name, k), k))
                .filter(|(distance, _)| *distance <= 2)
                .min_by_key(|(distance, _)| *distance)
                .map(|(_, k)| k),
        })
        .collect()
}

/// Warns about every `FOLIO_*` variable of the process environment the node ignores.
pub fn warn_unknown_variables() {
    let names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .collect();
    for unknown in unknown_variables(names.iter().map(String::as_str)) {
        match unknown.closest {
            Some(closest) => tracing::warn!(
                variable = %unknown.name,
                "{} is not a Folio setting and is ignored; did you mean {closest}?",
                unknown.name
            ),
            None => tracing::warn!(
                variable = %unknown.name,
                "{} is not a Folio setting and is ignored",
                unknown.name
            ),
        }
    }
}

/// Levenshtein distance over bytes (the names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
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
                return Err(SettingsError::Invalid(format!(
                    "settings: `{}` must be a table (it holds {})",
                    variable.section, variable.name
                )));
            };
            section.insert(variable.key.to_string(), value);
        }
        let settings: Settings = table
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Invalid(format!("settings: {}", e.message())))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if let Some(url) = &self.database.url {
            let url = url.expose();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://") || url.starts_with("sqlite:")) {
                return Err(SettingsError::Invalid(
                    "FOLIO_DATABASE_URL must be a postgres:// or sqlite: URL".into(),
                ));
            }
        }
        if self.http.events_max_streams_per_user == 0 || self.http.events_keep_alive_secs == 0 {
            return Err(SettingsError::Invalid(
                "FOLIO_EVENTS_MAX_STREAMS_PER_USER and FOLIO_EVENTS_KEEP_ALIVE_SECS must be at least 1".into(),
            ));
        }
        if self.database.acquire_timeout_secs == 0 {
            return Err(SettingsError::Invalid(
                "FOLIO_DATABASE_ACQUIRE_TIMEOUT_SECS must be at least 1".into(),
            ));
        }
        if self.auth.session_workers == 0 || self.node.domain_workers == 0 {
            return Err(SettingsError::Invalid(
                "FOLIO_SESSION_WORKERS and FOLIO_DOMAIN_WORKERS must be at least 1".into(),
            ));
        }
        if !self.is_embedded() && self.auth.jwt_secret.is_none() {
            return Err(SettingsError::Invalid(
                "FOLIO_JWT_SECRET is required when the node is not in embedded mode \
                 (a database other than the embedded SQLite is configured); set it to at least 32 random bytes"
                    .into(),
            ));
        }
        if !self.is_embedded() && self.cluster.cookie.as_ref().is_none_or(|c| c.expose().is_empty()) {
            return Err(SettingsError::Invalid(
                "FOLIO_CLUSTER_COOKIE is required when the node is not in embedded mode: every node of a \
                 cluster shares it, and a node with another cookie is refused"
                    .into(),
            ));
        }
        // A short cookie is guessed: the handshake answers a guess in well under a
        // millisecond, and a three-letter cookie fell in 0.6 s.
        if let Some(cookie) = &self.cluster.cookie
            && !cookie.expose().is_empty()
            && cookie.expose().len() < 32
        {
            return Err(SettingsError::Invalid(
                "FOLIO_CLUSTER_COOKIE must be at least 32 bytes (a short cookie is guessed in seconds); \
                 generate one with `openssl rand -hex 32`"
                    .into(),
            ));
        }
        let cluster = &self.cluster;
        if cluster.handshake_timeout_secs == 0
            || cluster.max_unauthenticated == 0
            || cluster.max_unauthenticated_per_address == 0
            || cluster.max_failed_handshakes == 0
        {
            return Err(SettingsError::Invalid(
                "FOLIO_CLUSTER_HANDSHAKE_TIMEOUT_SECS, FOLIO_CLUSTER_MAX_UNAUTHENTICATED, \
                 FOLIO_CLUSTER_MAX_UNAUTHENTICATED_PER_ADDRESS and FOLIO_CLUSTER_MAX_FAILED_HANDSHAKES must be at least 1"
                    .into(),
            ));
        }
        if cluster.max_frame_bytes < folio_actors::cluster::gate::HANDSHAKE_FRAME_LIMIT {
            return Err(SettingsError::Invalid(
                "FOLIO_CLUSTER_MAX_FRAME_BYTES must be at least 65536".into(),
            ));
        }
        let tls = [&self.cluster.tls_cert, &self.cluster.tls_key, &self.cluster.tls_ca];
        if tls.iter().any(|f| f.is_some()) && !tls.iter().all(|f| f.is_some()) {
            return Err(SettingsError::Invalid(
                "FOLIO_CLUSTER_TLS_CERT, FOLIO_CLUSTER_TLS_KEY and FOLIO_CLUSTER_TLS_CA go together: set all three or none"
                    .into(),
            ));
        }
        if let Some(name) = &self.cluster.node_name
            && (name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(SettingsError::Invalid(
                "FOLIO_CLUSTER_NODE_NAME may hold only letters, digits, '-' and '_'".into(),
            ));
        }
        if self.blobs.s3_endpoint.is_some()
            && (self.blobs.s3_access_key.is_none() || self.blobs.s3_secret_key.is_none())
        {
            return Err(SettingsError::Invalid(
                "FOLIO_S3_ACCESS_KEY and FOLIO_S3_SECRET_KEY are required with FOLIO_S3_ENDPOINT".into(),
            ));
        }
        TrustedProxies::parse(&self.http.trusted_proxies)?;
        if self.media.thumbnail_max_attempts == 0 {
            return Err(SettingsError::Invalid(
                "FOLIO_THUMBNAIL_MAX_ATTEMPTS must be at least 1".into(),
            ));
        }
        if let Some(secret) = &self.auth.jwt_secret
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
        self.database
            .url
            .as_ref()
            .is_none_or(|url| url.expose().starts_with("sqlite:"))
    }

    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose().to_string(),
            None => format!("sqlite://{}?mode=rwc", self.node.data_dir.join("folio.db").display()),
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
        folio_actors::export::ExportConfig {
            link_ttl: Duration::from_secs(auth.export_link_ttl_secs.max(1)),
            stale_after: Duration::from_secs(auth.export_stale_secs.max(1)),
            give_up_after: Duration::from_secs(auth.export_give_up_secs.max(auth.export_stale_secs).max(1)),
            sweep_every: Duration::from_secs(auth.export_sweep_secs.max(1)),
            ..folio_actors::export::ExportConfig::default()
        }
    }

    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.auth.access_token_ttl_secs)
    }
}

impl Variable {
    /// The variable's text as the TOML value of its setting.
    fn value(&self, raw: &str) -> Result<toml::Value, SettingsError> {
        let name = self.name;
        Ok(match self.kind {
            Kind::Text => toml::Value::String(raw.to_string()),
            Kind::Integer => toml::Value::Integer(
                raw.trim()
                    .parse()
                    .map_err(|_| SettingsError::Invalid(format!("{name} must be a whole number, got {raw:?}")))?,
            ),
            Kind::Bool => toml::Value::Boolean(match raw.trim().to_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(SettingsError::Invalid(format!(
                        "{name} must be true or false, got {raw:?}"
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
            Kind::Roles => {
                Roles::parse(raw).map_err(|source| SettingsError::Roles { variable: name, source })?;
                toml::Value::String(raw.to_string())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_make_an_embedded_node() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert!(s.is_embedded());
        assert_eq!(s.http.addr.to_string(), "127.0.0.1:8080");
        assert!(s.database_url().starts_with("sqlite://"));
        assert_eq!(s.node.roles, Roles::ALL);
    }

    #[test]
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("folio.toml");
        std::fs::write(
            &file,
            "[http]\naddr = \"0.0.0.0:9000\"\n[auth]\nsession_workers = 4\njwt_issuer = \"from-file\"\n\
             [node]\nroles = \"indexer\"\n",
        )
        .unwrap();
        let s = Settings::load_from(
            Some(&file),
            env(&[("FOLIO_SESSION_WORKERS", "8"), ("FOLIO_ADMIN_EMAILS", "a@x.io, b@y.io")]),
        )
        .unwrap();
        assert_eq!(s.http.addr.to_string(), "0.0.0.0:9000");
        assert_eq!(s.auth.session_workers, 8);
        assert_eq!(s.auth.jwt_issuer, "from-file");
        assert_eq!(s.auth.admin_emails, vec!["a@x.io", "b@y.io"]);
        assert!(s.node.roles.indexer && !s.node.roles.http);
    }

    #[test]
    fn the_file_rejects_flat_and_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("folio.toml");
        // The flat layout of earlier versions: `addr` now lives in `[http]`.
        std::fs::write(&file, "addr = \"0.0.0.0:9000\"\n").unwrap();
        let err = Settings::load_from(Some(&file), env(&[])).unwrap_err();
        assert!(err.to_string().contains("addr"), "{err}");
        std::fs::write(&file, "[http]\nadr = \"0.0.0.0:9000\"\n").unwrap();
        let err = Settings::load_from(Some(&file), env(&[])).unwrap_err();
        assert!(err.to_string().contains("adr"), "{err}");
    }

    #[test]
    fn postgres_requires_a_secret_and_it_is_never_printed() {
        let err = Settings::load_from(None, env(&[("FOLIO_DATABASE_URL", "postgres://db/folio")])).unwrap_err();
        assert!(err.to_string().contains("FOLIO_JWT_SECRET"));
        let secret = "s".repeat(40);
        let err = Settings::load_from(
            None,
            env(&[
                ("FOLIO_DATABASE_URL", "postgres://u:pw@db/folio"),
                ("FOLIO_JWT_SECRET", &secret),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("FOLIO_CLUSTER_COOKIE"), "{err}");
        let cookie = "cookie-that-must-not-leak-32-bytes-or-more";
        let s = Settings::load_from(
            None,
            env(&[
                ("FOLIO_DATABASE_URL", "postgres://u:pw@db/folio"),
                ("FOLIO_JWT_SECRET", &secret),
                ("FOLIO_CLUSTER_COOKIE", cookie),
            ]),
        )
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains(&secret) && !printed.contains("pw@") && !printed.contains(cookie));
    }

    #[test]
    fn a_cookie_shorter_than_32_bytes_is_refused() {
        let secret = "s".repeat(40);
        let with_cookie = |cookie: &str| {
            Settings::load_from(
                None,
                env(&[
                    ("FOLIO_DATABASE_URL", "postgres://db/folio"),
                    ("FOLIO_JWT_SECRET", &secret),
                    ("FOLIO_CLUSTER_COOKIE", cookie),
                ]),
            )
        };
        let err = with_cookie("cab").unwrap_err();
        assert!(
            err.to_string()
                .contains("FOLIO_CLUSTER_COOKIE must be at least 32 bytes"),
            "{err}"
        );
        assert!(with_cookie(&"c".repeat(31)).is_err());
        assert!(with_cookie(&"c".repeat(32)).is_ok());
    }

    #[test]
    fn cluster_tls_files_go_together() {
        let err = Settings::load_from(None, env(&[("FOLIO_CLUSTER_TLS_CERT", "/etc/folio/node.pem")])).unwrap_err();
        assert!(err.to_string().contains("FOLIO_CLUSTER_TLS_KEY"), "{err}");
        let err = Settings::load_from(None, env(&[("FOLIO_CLUSTER_NODE_NAME", "a b")])).unwrap_err();
        assert!(err.to_string().contains("FOLIO_CLUSTER_NODE_NAME"), "{err}");
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
        assert_eq!(known.len(), VARIABLES.len() + 1);
        let distinct: BTreeSet<&str> = VARIABLES.iter().map(|v| v.name).collect();
        assert_eq!(distinct.len(), VARIABLES.len(), "a variable is listed twice");
    }

    /// `section.key` of every leaf of a serialized settings value.
    fn leaves(value: &serde_json::Value, path: &str, found: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(fields) => {
                for (key, field) in fields {
                    let path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    leaves(field, &path, found);
                }
            }
            _ => {
                found.insert(path.to_string());
            }
        }
    }

    #[test]
    fn every_setting_has_a_variable() {
        let mut settings = BTreeSet::new();
        leaves(&serde_json::to_value(Settings::default()).unwrap(), "", &mut settings);
        assert!(settings.len() > 40, "only {} settings found", settings.len());
        let mapped: BTreeSet<String> = VARIABLES.iter().map(|v| format!("{}.{}", v.section, v.key)).collect();
        let without_variable: Vec<_> = settings.difference(&mapped).collect();
        assert!(
            without_variable.is_empty(),
            "settings without a FOLIO_ variable: {without_variable:?}"
        );
        let without_setting: Vec<_> = mapped.difference(&settings).collect();
        assert!(
            without_setting.is_empty(),
            "variables naming no setting: {without_setting:?}"
        );
    }

    #[test]
    fn every_variable_sets_its_setting() {
        // Each variable, given a value its kind accepts, loads without error: its
        // section and key exist (deny_unknown_fields would refuse them otherwise).
        for variable in VARIABLES {
            let value = match (variable.kind, variable.name) {
                (Kind::Roles, _) => "indexer",
                (Kind::Bool, _) => "true",
                (Kind::Integer, "FOLIO_CLUSTER_MAX_FRAME_BYTES") => "65536",
                (Kind::Integer, _) => "3",
                (Kind::Text, "FOLIO_CLUSTER_COOKIE") => "a-cluster-cookie-of-at-least-32-bytes",
                (Kind::List, _) => "10.0.0.1",
                (Kind::Text, "FOLIO_ADDR" | "FOLIO_OPS_ADDR" | "FOLIO_CLUSTER_ADDR") => "127.0.0.1:1",
                // Checked together; `cluster_tls_files_go_together` covers them.
                (Kind::Text, "FOLIO_CLUSTER_TLS_CERT" | "FOLIO_CLUSTER_TLS_KEY" | "FOLIO_CLUSTER_TLS_CA") => continue,
                (Kind::Text, "FOLIO_DATABASE_URL") => "sqlite::memory:",
                (Kind::Text, "FOLIO_JWT_SECRET") => "0123456789abcdef0123456789abcdef",
                (Kind::Text, "FOLIO_LOG_FORMAT") => "json",
                (Kind::Text, "FOLIO_S3_ENDPOINT") => continue,
                (Kind::Text, _) => "x",
            };
            Settings::load_from(None, env(&[(variable.name, value)]))
                .unwrap_or_else(|e| panic!("{}={value}: {e}", variable.name));
        }
    }

    #[test]
    fn a_misspelt_role_stops_loading_and_lists_the_roles() {
        let err = Settings::load_from(None, env(&[("FOLIO_ROLES", "thumbnailr")])).unwrap_err();
        match &err {
            SettingsError::Roles {
                variable: "FOLIO_ROLES",
                source: RolesError::Unknown { given },
            } => assert_eq!(given, "thumbnailr"),
            other => panic!("expected a roles error, got {other:?}"),
        }
        assert!(err.to_string().contains("FOLIO_ROLES"), "{err}");
        let message = std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(message.contains("\"thumbnailr\""), "{message}");
        for role in ROLE_NAMES {
            assert!(message.contains(role), "{message}");
        }
        assert_eq!(Roles::parse(" , "), Err(RolesError::Empty));
        let both = Roles::parse("http, indexer").unwrap();
        assert!(both.http && both.indexer && !both.thumbnailer);
        assert_eq!(Roles::parse("indexer,all").unwrap(), Roles::ALL);
        assert_eq!(String::from(both), "http,indexer");
    }

    #[test]
    fn unknown_variables_are_found_with_the_closest_name() {
        let unknown = unknown_variables([
            "FOLIO_ADDR",
            "FOLIO_CONFIG",
            "FOLIO_TEST_DATABASE_URL",
            "PATH",
            "FOLIO_ROLE",
            "FOLIO_S3_BUKET",
            "FOLIO_SOMETHING_ELSE",
        ]);
        assert_eq!(
            unknown,
            vec![
                UnknownVariable {
                    name: "FOLIO_ROLE".into(),
                    closest: Some("FOLIO_ROLES"),
                },
                UnknownVariable {
                    name: "FOLIO_S3_BUKET".into(),
                    closest: Some("FOLIO_S3_BUCKET"),
                },
                UnknownVariable {
                    name: "FOLIO_SOMETHING_ELSE".into(),
                    closest: None,
                },
            ]
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn bad_values_are_explained() {
        let err = Settings::load_from(None, env(&[("FOLIO_SESSION_WORKERS", "many")])).unwrap_err();
        assert!(err.to_string().contains("FOLIO_SESSION_WORKERS"));
        let err = Settings::load_from(None, env(&[("FOLIO_ADDR", "nowhere")])).unwrap_err();
        assert!(err.to_string().contains("settings"));
    }
}
