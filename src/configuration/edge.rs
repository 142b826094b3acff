//! `[http]` and `[ops]`: the HTTP edge, and the ops endpoints of a node without it.

use std::{net::SocketAddr, time::Duration};

use serde::Deserialize;

use super::{Secret, durations};

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
    #[serde(rename = "events_keep_alive_secs", with = "durations::seconds")]
    pub events_keep_alive: Duration,
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
            events_keep_alive: Duration::from_secs(15),
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
