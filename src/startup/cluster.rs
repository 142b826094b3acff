//! This node's place in the cluster: the node server and the membership loop on a node
//! that joins one (ractor_cluster, discovery through NATS), or a cluster of one.

use std::{net::SocketAddr, time::Duration};

use folio_actors::{
    cluster::{
        dialer::Dialer,
        gate::GateLimits,
        registry::{NodeEntry, NodeRegistry},
        server::{ClusterConfig, ClusterServer, TlsFiles},
    },
    report::cluster::ClusterView,
};

use super::{NodeError, domains::Domains};
use crate::configuration::{ClusterMode, ClusterSettings, Settings};

/// This node's place in the cluster.
pub(super) struct Membership {
    pub view: ClusterView,
    pub server: Option<ClusterServer>,
}

/// The node server's settings, on a node that joins a cluster: a cookie and a NATS URL
/// (for discovery) are set. Port 0 is resolved here, so the address the registry
/// advertises is one the node server really listens on.
pub(super) fn cluster_config(settings: &Settings) -> Result<Option<ClusterConfig>, NodeError> {
    let cluster = &settings.cluster;
    let ClusterMode::Member { cookie, .. } = settings.cluster_mode() else {
        return Ok(None);
    };
    let listen = with_free_port(cluster.addr)?;
    // Listening on every interface, a node is reached by its host name (a container's
    // on a compose network); set FOLIO_CLUSTER_ADVERTISE where that does not resolve.
    let advertise = cluster.advertise.clone().unwrap_or_else(|| {
        if listen.ip().is_unspecified() {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "127.0.0.1".to_string());
            format!("{host}:{}", listen.port())
        } else {
            listen.to_string()
        }
    });
    Ok(Some(ClusterConfig {
        node_name: cluster.node_name.clone().unwrap_or_else(|| node_name_from(&advertise)),
        listen,
        advertise,
        cookie: cookie.expose().to_string(),
        tls: tls_files(cluster),
        limits: cluster_limits(cluster),
    }))
}

/// The PEM files for mutual TLS between nodes, when they are set.
pub fn tls_files(cluster: &ClusterSettings) -> Option<TlsFiles> {
    cluster.tls().map(|tls| TlsFiles {
        cert: tls.cert,
        key: tls.key,
        ca: tls.ca,
    })
}

/// The cluster port's limits, from the settings.
pub fn cluster_limits(cluster: &ClusterSettings) -> GateLimits {
    GateLimits {
        handshake_timeout: cluster.handshake_timeout,
        max_unauthenticated: cluster.max_unauthenticated,
        max_unauthenticated_per_address: cluster.max_unauthenticated_per_address,
        max_failed_handshakes: cluster.max_failed_handshakes,
        failure_window: Duration::from_secs(60),
        max_frame_bytes: cluster.max_frame_bytes,
    }
}

/// `addr`, with port 0 replaced by a port that is free now (the node server binds it
/// itself, after the address has been advertised).
pub fn with_free_port(mut addr: SocketAddr) -> Result<SocketAddr, NodeError> {
    if addr.port() == 0 {
        let port = std::net::TcpListener::bind(addr)
            .and_then(|probe| probe.local_addr())
            .map_err(|source| NodeError::ClusterPort { addr, source })?
            .port();
        addr.set_port(port);
    }
    Ok(addr)
}

/// A registry key from an address: `10.0.0.5:7946` → `10-0-0-5-7946`.
pub(super) fn node_name_from(address: &str) -> String {
    address
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

/// Starts the node server and the membership loop on a node that joins a cluster; any
/// other node is a cluster of one.
pub(super) async fn join_cluster(
    settings: &Settings,
    config: Option<ClusterConfig>,
    domains: &Domains,
) -> Result<Membership, NodeError> {
    let (Some(config), ClusterMode::Member { nats_url, .. }) = (config, settings.cluster_mode()) else {
        return Ok(Membership {
            view: ClusterView {
                local: Some(domains.agent.clone()),
                registry: None,
            },
            server: None,
        });
    };
    let server = ClusterServer::start(&domains.supervisor, config).await?;
    let registry = NodeRegistry::connect(&nats_url, &settings.cluster.bucket).await?;
    let identity = domains.agent.identity();
    let entry = NodeEntry {
        name: identity.name.clone(),
        cluster_addr: server.config.advertise.clone(),
        http_addr: identity.http_addr.clone(),
        roles: identity.roles.clone(),
        version: identity.version.clone(),
        started_at: identity.started_at,
    };
    Dialer::start(
        &domains.supervisor,
        Dialer {
            server: server.clone(),
            registry: registry.clone(),
            entry,
        },
    )
    .await?;
    Ok(Membership {
        view: ClusterView {
            local: Some(domains.agent.clone()),
            registry: Some(registry),
        },
        server: Some(server),
    })
}
