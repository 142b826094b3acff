//! The `FOLIO_*` environment variables: each names one setting (`[section] key` in the
//! file). [`VARIABLES`] is the one place those names are defined.

use super::{Roles, SettingsError};

/// How a `FOLIO_*` variable's text becomes a TOML value for its setting.
#[derive(Clone, Copy)]
pub(super) enum Kind {
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
    pub(super) kind: Kind,
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
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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

impl Variable {
    /// The variable's text as the TOML value of its setting.
    pub(super) fn value(&self, raw: &str) -> Result<toml::Value, SettingsError> {
        let name = self.name;
        Ok(match self.kind {
            Kind::Text => toml::Value::String(raw.to_string()),
            Kind::Integer => toml::Value::Integer(raw.trim().parse().map_err(|_| SettingsError::Value {
                variable: name,
                expected: "a whole number",
                given: raw.to_string(),
            })?),
            Kind::Bool => toml::Value::Boolean(match raw.trim().to_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(SettingsError::Value {
                        variable: name,
                        expected: "true or false",
                        given: raw.to_string(),
                    });
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
