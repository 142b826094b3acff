//! `[node]`: what this node is, where its embedded state lives, and how its actors are
//! supervised.

use std::{path::PathBuf, time::Duration};

use folio_actors::project::views::ViewLimits;
use serde::Deserialize;

use super::durations;

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
    #[serde(rename = "shutdown_grace_secs", with = "durations::seconds")]
    pub shutdown_grace: Duration,
    /// Restarts of one actor within `actor_restart_window` before the supervisor gives
    /// up on it: `/ready` answers 503 and `folio serve` exits non-zero.
    pub actor_max_restarts: usize,
    #[serde(rename = "actor_restart_window_secs", with = "durations::seconds")]
    pub actor_restart_window: Duration,
    /// Memory for project views kept for `GET /projects/{id}` (estimated MiB; 0 turns
    /// the cache off).
    pub project_cache_mb: usize,
    /// The longest a cached project view is served after it was read: the bound on how
    /// stale a read can be when a change on another node did not reach this one.
    #[serde(rename = "project_cache_ttl_ms", with = "durations::millis")]
    pub project_cache_ttl: Duration,
}

impl NodeSettings {
    pub fn project_view_limits(&self) -> ViewLimits {
        ViewLimits {
            max_bytes: self.project_cache_mb.saturating_mul(1024 * 1024),
            ttl: self.project_cache_ttl,
        }
    }
}

impl Default for NodeSettings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            roles: Roles::ALL,
            domain_workers: 8,
            shutdown_grace: Duration::from_secs(30),
            actor_max_restarts: 10,
            actor_restart_window: Duration::from_secs(60),
            project_cache_mb: 32,
            project_cache_ttl: Duration::from_millis(1000),
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
