//! `[auth]`: accounts, tokens, the cost of passwords, and account exports.

use std::time::Duration;

use serde::Deserialize;

use super::{Secret, durations};

/// Accounts, tokens and the cost of passwords.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Required outside embedded mode; embedded mode generates and keeps one.
    pub jwt_secret: Option<Secret>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    #[serde(rename = "access_token_ttl_secs", with = "durations::seconds")]
    pub access_token_ttl: Duration,
    #[serde(rename = "refresh_token_ttl_secs", with = "durations::seconds")]
    pub refresh_token_ttl: Duration,
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
    #[serde(rename = "login_lockout_secs", with = "durations::seconds")]
    pub login_lockout: Duration,
    /// Failed logins from one client address, over every account, before `429`.
    pub login_max_failures_per_address: u32,
    pub session_workers: usize,
    /// How long a deleted account's username and email stay refused to registrations,
    /// so nobody can pose as the person who just left.
    #[serde(rename = "account_hold_secs", with = "durations::seconds")]
    pub account_hold: Duration,
    /// How long an account export's download link works; its archive is deleted after.
    #[serde(rename = "export_link_ttl_secs", with = "durations::seconds")]
    pub export_link_ttl: Duration,
    /// A running export silent (no heartbeat) this long is resumed by another run, or
    /// failed when its owner asks for a new one.
    #[serde(rename = "export_stale_secs", with = "durations::seconds")]
    pub export_stale: Duration,
    /// A running export silent this long is failed by the sweeper.
    #[serde(rename = "export_give_up_secs", with = "durations::seconds")]
    pub export_give_up: Duration,
    /// Time between sweeps of expired export archives.
    #[serde(rename = "export_sweep_secs", with = "durations::seconds")]
    pub export_sweep: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwt_issuer: "folio".into(),
            jwt_audience: "folio-api".into(),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_token_rotation: true,
            admin_emails: Vec::new(),
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            hash_concurrency: None,
            hash_queue_limit: 64,
            login_max_failures: 5,
            login_lockout: Duration::from_secs(15 * 60),
            login_max_failures_per_address: 50,
            session_workers: 16,
            account_hold: Duration::from_secs(30 * 24 * 3600),
            export_link_ttl: Duration::from_secs(24 * 3600),
            export_stale: Duration::from_secs(60),
            export_give_up: Duration::from_secs(15 * 60),
            export_sweep: Duration::from_secs(60),
        }
    }
}
