//! `[cluster]`: membership in a cluster of nodes.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use serde::Deserialize;

use super::{Secret, durations};

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
    #[serde(rename = "handshake_timeout_secs", with = "durations::seconds")]
    pub handshake_timeout: Duration,
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
            handshake_timeout: Duration::from_secs(5),
            max_unauthenticated: 64,
            max_unauthenticated_per_address: 8,
            max_failed_handshakes: 10,
            max_frame_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Whether this node joins a cluster, decided once from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterMode {
    /// A cluster of one: no node server, the process groups are in-process.
    Single,
    /// Joins the nodes listed in the NATS key-value bucket, with the shared cookie.
    Member { cookie: Secret, nats_url: String },
}

/// The PEM files for mutual TLS between nodes, when all three are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl ClusterSettings {
    /// The TLS files (validated on load: all three or none).
    pub fn tls(&self) -> Option<ClusterTls> {
        match (&self.tls_cert, &self.tls_key, &self.tls_ca) {
            (Some(cert), Some(key), Some(ca)) => Some(ClusterTls {
                cert: cert.clone(),
                key: key.clone(),
                ca: ca.clone(),
            }),
            _ => None,
        }
    }
}
