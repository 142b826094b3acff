//! `[media]`: media URLs and the thumbnail jobs.

use std::time::Duration;

use serde::Deserialize;

use super::durations;

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
    #[serde(rename = "thumbnail_backoff_base_ms", with = "durations::millis")]
    pub thumbnail_backoff_base: Duration,
    /// Thumbnails made at once on this node; default: half the cores.
    pub thumbnail_concurrency: Option<usize>,
    /// A job not acknowledged (or reported in progress) this long goes to another node.
    #[serde(rename = "thumbnail_ack_wait_secs", with = "durations::seconds")]
    pub thumbnail_ack_wait: Duration,
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
            thumbnail_backoff_base: Duration::from_millis(1000),
            thumbnail_concurrency: None,
            thumbnail_ack_wait: Duration::from_secs(30),
            system_libjpeg_turbo: true,
        }
    }
}
