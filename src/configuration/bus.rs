//! `[bus]`: where events go.

use std::time::Duration;

use serde::Deserialize;

use super::durations;

/// What `nats_url` (`FOLIO_NATS_URL`) says, parsed when the settings are loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
#[cfg_attr(test, derive(serde::Serialize), serde(into = "Option<String>"))]
pub enum BusBackend {
    /// No URL: the in-process bus of an embedded node.
    #[default]
    InProcess,
    /// NATS JetStream at this URL: durable events shared by every node.
    JetStream(String),
}

impl From<String> for BusBackend {
    fn from(url: String) -> Self {
        Self::JetStream(url)
    }
}

impl From<BusBackend> for Option<String> {
    fn from(backend: BusBackend) -> Self {
        match backend {
            BusBackend::InProcess => None,
            BusBackend::JetStream(url) => Some(url),
        }
    }
}

impl BusBackend {
    /// The NATS server, when events go through JetStream.
    pub fn nats_url(&self) -> Option<&str> {
        match self {
            Self::InProcess => None,
            Self::JetStream(url) => Some(url),
        }
    }
}

/// The event bus.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct BusSettings {
    #[serde(rename = "nats_url")]
    pub backend: BusBackend,
    /// Prepended to stream names (lets several deployments or test runs share a server).
    pub stream_prefix: String,
    /// Prepended to subjects; empty in production, so the subject is the event type.
    pub subject_prefix: String,
    /// How long JetStream remembers an event id to drop a republished duplicate.
    #[serde(rename = "duplicate_window_secs", with = "durations::seconds")]
    pub duplicate_window: Duration,
}

impl Default for BusSettings {
    fn default() -> Self {
        Self {
            backend: BusBackend::InProcess,
            stream_prefix: String::new(),
            subject_prefix: String::new(),
            duplicate_window: Duration::from_secs(600),
        }
    }
}
