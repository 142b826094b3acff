//! The HTTP edge (role `http`), or the ops endpoints (`/health`, `/ready`, `/metrics`)
//! of a node without it: the listeners, bound first, and the server on them.

use std::{net::SocketAddr, sync::Arc};

use folio_actors::{
    events::EventBus,
    media::sweeper::UploadSweeper,
    report::jobs::{JobsContext, ReindexTracker},
};
use folio_http::{EdgeState, Readiness, console::ConsoleSettings};
use poem::{
    EndpointExt as _, Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};
use tokio::{sync::oneshot, task::JoinHandle};

use super::{
    NodeError,
    cluster::Membership,
    domains::Domains,
    readiness::{BlobCheck, BusCheck, DatabaseCheck, SupervisionCheck},
    store::Store,
};
use crate::configuration::{Roles, Settings};

/// The sockets a node serves on, bound before anything else starts: the edge's address
/// is part of the media URLs the domain actors hand out, and a port taken should stop
/// the node before it has started anything.
pub(super) struct Listeners {
    /// The HTTP edge (role `http`).
    pub edge: Option<TcpAcceptor>,
    /// Health, readiness and metrics of a node without the edge, when `ops.addr` is set.
    pub ops: Option<TcpAcceptor>,
    pub edge_addr: SocketAddr,
    /// The address the node reports: the edge's, else the ops endpoints', else the
    /// configured one.
    pub addr: SocketAddr,
}

/// The HTTP (or ops) server.
#[derive(Default)]
pub(super) struct Edge {
    pub stop_server: Option<oneshot::Sender<()>>,
    pub server: Option<JoinHandle<std::io::Result<()>>>,
}

/// Binds the edge (role `http`) or, on a node without it, the ops endpoints when asked.
pub(super) async fn bind(settings: &Settings, roles: Roles) -> Result<Listeners, NodeError> {
    let listen = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .into_acceptor()
            .await
            .map_err(|source| NodeError::Bind { addr, source })
    };
    let edge = if roles.http {
        Some(listen(settings.http.addr).await?)
    } else {
        None
    };
    let ops = match (roles.http, settings.ops.addr) {
        (false, Some(ops_addr)) => Some(listen(ops_addr).await?),
        _ => None,
    };
    let bound = |acceptor: Option<&TcpAcceptor>| {
        acceptor.and_then(|a| a.local_addr().first().and_then(|a| a.as_socket_addr().copied()))
    };
    let edge_addr = bound(edge.as_ref()).unwrap_or(settings.http.addr);
    let addr = bound(ops.as_ref()).unwrap_or(edge_addr);
    Ok(Listeners {
        edge,
        ops,
        edge_addr,
        addr,
    })
}

/// Serves the HTTP edge (with the sweeper of abandoned uploads), or the ops endpoints
/// of a node without the edge, or nothing.
pub(super) async fn edge(
    settings: &Settings,
    listeners: Listeners,
    store: &Store,
    bus: &Arc<dyn EventBus>,
    domains: &Domains,
    membership: &Membership,
) -> Result<Edge, NodeError> {
    let (acceptor, is_edge) = match (listeners.edge, listeners.ops) {
        (Some(acceptor), _) => (acceptor, true),
        (None, Some(ops)) => (ops, false),
        (None, None) => return Ok(Edge::default()),
    };
    let state = EdgeState {
        session: domains.session.clone(),
        profiles: domains.profiles.clone(),
        projects: domains.projects.clone(),
        media: domains.media.clone(),
        exports: domains.exports.clone(),
        search: store.search.clone(),
        readiness: Readiness::default()
            .with(DatabaseCheck(store.db.clone()))
            .with_optional(BusCheck(bus.clone()))
            .with(BlobCheck(store.blobs.clone()))
            .with(SupervisionCheck(domains.health.clone())),
        metrics: domains.metrics.clone(),
        json_body_limit: settings.http.json_body_limit,
        trusted_proxies: settings.trusted_proxies(),
        cors_origins: settings.http.cors_origins.clone(),
        metrics_token: settings.ops.metrics_token.as_ref().map(|t| t.expose().to_string()),
        jobs: JobsContext {
            db: store.db.clone(),
            bus: bus.clone(),
            activity: domains.activity.clone(),
        },
        reindex: ReindexTracker::default(),
        console: ConsoleSettings {
            secure_cookie: settings.http.console_secure_cookie,
        },
        cluster: membership.view.clone(),
        live: domains.live.clone(),
    };
    let app = if is_edge {
        UploadSweeper::new(domains.media.clone())
            .start(&domains.supervisor)
            .await?;
        folio_http::build_app(state).map_to_response().boxed()
    } else {
        folio_http::build_ops_app(state).map_to_response().boxed()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let grace = settings.node.shutdown_grace;
    let server = tokio::spawn(async move {
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async move {
                    let _ = stopped.await;
                },
                Some(grace),
            )
            .await
    });
    let addr = listeners.addr;
    if is_edge {
        tracing::info!(%addr, embedded = settings.is_embedded(), "folio node listening");
    } else {
        tracing::info!(%addr, "health and metrics listening");
    }
    Ok(Edge {
        stop_server: Some(stop),
        server: Some(server),
    })
}
