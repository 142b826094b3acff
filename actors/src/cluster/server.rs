//! This node's ractor_cluster node server: it accepts sessions from other nodes (cookie
//! handshake, optional TLS) and opens the ones the dialer asks for. Connection mode is
//! isolated: a node connects to the nodes the registry lists, never to its peers' peers.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use ractor::{ActorRef, rpc::CallResult};
use ractor_cluster::{
    IncomingEncryptionMode, NodeEventSubscription, NodeServer, NodeServerMessage,
    node::{NodeConnectionMode, NodeServerSessionInformation},
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _};

use super::gate::{self, Gate, GateLimits, Transport};
use crate::supervisor::{KeyedPool, PoolStartError, SupervisorMsg};

pub const ACTOR: &str = "cluster-server";

/// How this node takes part in the cluster.
#[derive(Clone)]
pub struct ClusterConfig {
    /// Unique in the cluster; the registry key and the ractor node name.
    pub node_name: String,
    /// Where the node server listens.
    pub listen: SocketAddr,
    /// `host:port` the other nodes dial.
    pub advertise: String,
    pub cookie: String,
    pub tls: Option<TlsFiles>,
    /// The cluster port's limits before and after authentication.
    pub limits: GateLimits,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("node_name", &self.node_name)
            .field("listen", &self.listen)
            .field("advertise", &self.advertise)
            .field("cookie", &"<redacted>")
            .field("tls", &self.tls)
            .field("limits", &self.limits)
            .finish()
    }
}

/// PEM files: this node's certificate chain and key, and the CA both sides of a
/// session must be signed by (mutual TLS).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("reading {path}")]
    Pem {
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("the TLS settings")]
    Tls(#[source] rustls::Error),
    #[error("the TLS client verifier")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
    #[error("the advertised address {0} has no host part")]
    Advertise(String),
    #[error("starting the node server")]
    Start(#[source] PoolStartError),
    #[error("the node server is not running")]
    ServerDown,
    #[error("dialing {addr}")]
    Dial {
        addr: String,
        #[source]
        source: ractor_cluster::ClientConnectErr,
    },
    #[error("listening on the cluster port {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the node registry")]
    Registry(#[source] Box<dyn std::error::Error + Send + Sync>),
}

struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    connector: tokio_rustls::TlsConnector,
}

fn load_tls(files: &TlsFiles) -> Result<Tls, ClusterError> {
    let pem_error = |path: &PathBuf| {
        let path = path.display().to_string();
        move |source| ClusterError::Pem { path, source }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(pem_error(&files.cert))?
        .collect::<Result<_, _>>()
        .map_err(pem_error(&files.cert))?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(pem_error(&files.key))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&files.ca).map_err(pem_error(&files.ca))? {
        roots
            .add(ca.map_err(pem_error(&files.ca))?)
            .map_err(ClusterError::Tls)?;
    }
    let roots = Arc::new(roots);
    // Both ring and aws-lc are linked (the latter through ractor_cluster), so the
    // provider is named rather than left to rustls to guess.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(ClusterError::Verifier)?;
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(ClusterError::Tls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(ClusterError::Tls)?;
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ClusterError::Tls)?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(ClusterError::Tls)?;
    Ok(Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
    })
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
pub fn host_of(address: &str) -> Option<&str> {
    let (host, _port) = address.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then_some(host)
}

/// Sessions that closed before they authenticated: a wrong cookie (or a peer that is
/// not a Folio node). Logged on both sides, and counted.
#[derive(Default)]
struct HandshakeWatch {
    authenticated: Mutex<HashSet<ractor::ActorId>>,
    refused: std::sync::atomic::AtomicU64,
}

struct HandshakeSubscription(Arc<HandshakeWatch>, Arc<Gate>);

impl NodeEventSubscription for HandshakeSubscription {
    fn node_session_opened(&self, _ses: NodeServerSessionInformation) {}

    fn node_session_authenticated(&self, ses: NodeServerSessionInformation) {
        if let Ok(mut authenticated) = self.0.authenticated.lock() {
            authenticated.insert(ses.actor.get_id());
        }
        if ses.is_server {
            self.1.authenticated(&ses.peer_addr);
        }
        tracing::info!(peer = ?ses.peer_name.as_ref().map(|n| &n.name), addr = %ses.peer_addr, "cluster session authenticated");
    }

    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        let was_authenticated = self
            .0
            .authenticated
            .lock()
            .map(|mut authenticated| authenticated.remove(&ses.actor.get_id()))
            .unwrap_or(true);
        if was_authenticated {
            tracing::info!(peer = ?ses.peer_name.as_ref().map(|n| &n.name), addr = %ses.peer_addr, "cluster session closed");
        } else {
            self.0.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if ses.is_server {
                self.1.handshake_failed(&ses.peer_addr);
            }
            tracing::warn!(
                peer = ?ses.peer_name.as_ref().map(|n| &n.name),
                addr = %ses.peer_addr,
                incoming = ses.is_server,
                "cluster handshake refused: the session closed before it authenticated (a wrong cookie, or not a Folio node)"
            );
        }
    }
}

/// A session to another node, as the node server knows it.
#[derive(Debug, Clone)]
pub struct PeerSession {
    /// The peer's node name (its registry key).
    pub name: String,
    pub session: ActorRef<ractor_cluster::NodeSessionMessage>,
}

#[derive(Clone)]
pub struct ClusterServer {
    server: KeyedPool<NodeServerMessage>,
    connector: Option<tokio_rustls::TlsConnector>,
    handshakes: Arc<HandshakeWatch>,
    gate: Arc<Gate>,
    /// The server instance the handshake watch is subscribed to.
    subscribed: Arc<Mutex<Option<ractor::ActorId>>>,
    pub config: ClusterConfig,
}

impl ClusterServer {
    pub async fn start(supervisor: &ActorRef<SupervisorMsg>, config: ClusterConfig) -> Result<Self, ClusterError> {
        let tls = config.tls.as_ref().map(load_tls).transpose()?;
        let host = host_of(&config.advertise)
            .ok_or_else(|| ClusterError::Advertise(config.advertise.clone()))?
            .to_string();
        let transport = match &tls {
            Some(t) => Transport::Tls(t.acceptor.clone()),
            None => Transport::Raw,
        };
        // The cluster port is Folio's own listener (see `gate`); ractor_cluster's listener
        // cannot be turned off, so it listens on a loopback port nobody is told about.
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ClusterError::Listen {
                addr: config.listen,
                source,
            })?;
        let make_config = config.clone();
        let server = KeyedPool::start(supervisor, ACTOR, 1, Duration::from_secs(5), move || {
            (
                NodeServer::new(
                    0,
                    make_config.cookie.clone(),
                    make_config.node_name.clone(),
                    host.clone(),
                    Some(IncomingEncryptionMode::Raw),
                    Some(NodeConnectionMode::Isolated),
                )
                .with_listen_addr(std::net::IpAddr::from([127, 0, 0, 1]))
                .with_max_inbound_frame_size(make_config.limits.max_frame_bytes),
                (),
            )
        })
        .await
        .map_err(ClusterError::Start)?;
        let gate = Gate::new(config.limits.clone());
        let server = Self {
            server,
            connector: tls.map(|t| t.connector),
            handshakes: Arc::default(),
            gate: gate.clone(),
            subscribed: Arc::default(),
            config,
        };
        let current = server.server.clone();
        gate::serve(listener, gate, transport, move |stream| {
            let sent = current
                .worker_for(&())
                .cast(NodeServerMessage::ConnectionOpenedExternal {
                    stream,
                    is_server: true,
                });
            if sent.is_err() {
                tracing::warn!("cluster port: the node server is down, connection dropped");
            }
        });
        server.watch_handshakes();
        tracing::info!(node = %server.config.node_name, listen = %server.config.listen, advertise = %server.config.advertise, tls = server.connector.is_some(), "cluster node server started");
        Ok(server)
    }

    fn current(&self) -> ActorRef<NodeServerMessage> {
        self.server.worker_for(&())
    }

    /// Subscribes the handshake log to the running server (again after a restart).
    pub fn watch_handshakes(&self) {
        let server = self.current();
        let Ok(mut subscribed) = self.subscribed.lock() else {
            return;
        };
        if subscribed.as_ref() == Some(&server.get_id()) {
            return;
        }
        let sent = server.cast(NodeServerMessage::SubscribeToEvents {
            id: "folio-handshakes".to_string(),
            subscription: Box::new(HandshakeSubscription(self.handshakes.clone(), self.gate.clone())),
        });
        if sent.is_ok() {
            *subscribed = Some(server.get_id());
        }
    }

    /// Handshakes refused since this node started.
    pub fn refused_handshakes(&self) -> u64 {
        self.handshakes.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Opens a session to the node at `addr` (`host:port`); the handshake completes in
    /// the background.
    pub async fn dial(&self, addr: &str) -> Result<(), ClusterError> {
        let server = self.current();
        let dial_error = |source| ClusterError::Dial {
            addr: addr.to_string(),
            source,
        };
        match &self.connector {
            None => ractor_cluster::client_connect(&server, addr).await.map_err(dial_error),
            Some(connector) => {
                let host = host_of(addr).ok_or_else(|| ClusterError::Advertise(addr.to_string()))?;
                let name =
                    ServerName::try_from(host.to_string()).map_err(|_| ClusterError::Advertise(addr.to_string()))?;
                ractor_cluster::client_connect_enc(&server, addr, connector.clone(), name)
                    .await
                    .map_err(dial_error)
            }
        }
    }

    /// The authenticated sessions, by peer node name.
    pub async fn sessions(&self) -> Result<HashMap<String, PeerSession>, ClusterError> {
        let server = self.current();
        let sessions = match server
            .call(NodeServerMessage::GetSessions, Some(Duration::from_secs(2)))
            .await
        {
            Ok(CallResult::Success(sessions)) => sessions,
            _ => return Err(ClusterError::ServerDown),
        };
        let authenticated = self
            .handshakes
            .authenticated
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default();
        Ok(sessions
            .into_values()
            .filter(|s| authenticated.contains(&s.actor.get_id()))
            .filter_map(|s| {
                let peer = s.peer_name?;
                let name = peer.name.split('@').next().unwrap_or(&peer.name).to_string();
                Some((name.clone(), PeerSession { name, session: s.actor }))
            })
            .collect())
    }
}
