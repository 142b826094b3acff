//! Folio's HTTP edge (poem + poem-openapi). It parses requests into domain messages,
//! sends them to the actors, and turns their replies into responses; it holds no
//! business logic.

pub mod auth;
pub mod client_address;
pub mod console;
pub mod error;
pub mod etag;
pub mod hygiene;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod pages;
pub mod range;
pub mod readiness;
pub mod routes;
pub mod text;
pub mod visibility;

use folio_actors::{
    indexer::SearchClient,
    media::MediaClient,
    profile::ProfileClient,
    project::ProjectClient,
    report::jobs::{JobsContext, ReindexTracker},
    session::SessionClient,
};
use poem::{
    Endpoint, EndpointExt, Route,
    http::{Method, header},
    middleware::Cors,
};
use poem_openapi::{OpenApiService, Tags};

pub use client_address::TrustedProxies;
pub use error::{ApiError, ErrorBody};
pub use metrics::Metrics;
pub use readiness::{ProbeError, Readiness, ReadinessCheck};

#[derive(Tags)]
pub enum ApiTags {
    /// Accounts and tokens.
    Auth,
    /// Profiles, your own and others'.
    Profiles,
    /// Portfolio projects.
    Projects,
    /// Image uploads and thumbnails.
    Media,
    /// Project search.
    Search,
    /// Health, readiness, metrics.
    Ops,
    /// Operators: job queues, failed thumbnails, reindexing (administrators only).
    Admin,
    /// Live events for the signed-in user (Server-Sent Events).
    Live,
}

/// What the edge needs to reach the rest of the node.
#[derive(Clone)]
pub struct EdgeState {
    pub session: SessionClient,
    pub profiles: ProfileClient,
    pub projects: ProjectClient,
    pub media: MediaClient,
    /// Account exports (`/profile/me/export`).
    pub exports: folio_actors::export::ExportClient,
    pub search: SearchClient,
    pub readiness: Readiness,
    pub metrics: Metrics,
    pub json_body_limit: usize,
    /// Whose `X-Forwarded-For` names the client (login throttle).
    pub trusted_proxies: TrustedProxies,
    pub jobs: JobsContext,
    pub reindex: ReindexTracker,
    pub console: console::ConsoleSettings,
    /// Origins CORS allows; empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// When set, `/metrics` wants this bearer token.
    pub metrics_token: Option<String>,
    /// The nodes this one knows of (`/admin/cluster`).
    pub cluster: folio_actors::report::cluster::ClusterView,
    /// This node's live-event hub (`/events`); `None` on a node without the edge.
    pub live: Option<folio_actors::cluster::LiveHub>,
}

type Apis = (
    routes::auth::AuthApi,
    routes::profile::ProfileApi,
    routes::projects::ProjectApi,
    routes::media::MediaApi,
    routes::search::SearchApi,
    routes::ops::OpsApi,
    routes::admin::AdminApi,
    routes::events::EventsApi,
);

pub fn api_service(state: &EdgeState) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            routes::auth::AuthApi { state: state.clone() },
            routes::profile::ProfileApi { state: state.clone() },
            routes::projects::ProjectApi { state: state.clone() },
            routes::media::MediaApi { state: state.clone() },
            routes::search::SearchApi { state: state.clone() },
            routes::ops::OpsApi { state: state.clone() },
            routes::admin::AdminApi { state: state.clone() },
            routes::events::EventsApi { state: state.clone() },
        ),
        "Folio",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Portfolio platform API: accounts, profiles, projects, media and search.")
}

pub fn build_app(state: EdgeState) -> impl Endpoint {
    let api = api_service(&state);
    let docs = api.swagger_ui();
    let limit = state.json_body_limit;
    let metrics = state.metrics.clone();
    let spec = openapi::with_constraints(openapi::with_links(
        serde_json::from_str(&api.spec()).unwrap_or_default(),
    ));
    let mut outside_the_document = vec![
        ("/openapi.json", "GET"),
        ("/media/{prefix}/{user}/{name}", "GET, HEAD"),
        ("/admin", "GET"),
        ("/admin/login", "POST"),
        ("/admin/logout", "POST"),
        ("/admin/assets/console.js", "GET"),
        ("/admin/assets/console.css", "GET"),
    ];
    outside_the_document.extend_from_slice(pages::ROUTES);
    let routes = std::sync::Arc::new(hygiene::RouteMethods::from_openapi(&spec, &outside_the_document));
    let pages = std::sync::Arc::new(pages::routes(state.clone()));
    let cors = Cors::new()
        .allow_origins(state.cors_origins.iter().map(String::as_str))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
        ])
        .expose_headers([header::RETRY_AFTER, header::WWW_AUTHENTICATE, header::ETAG])
        .max_age(600);
    let cors_enabled = !state.cors_origins.is_empty();
    let document = spec.to_string();
    let spec = poem::get(poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(document.clone())
    }));
    Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .at(
            "/media/:prefix<uploads|thumbnails|renditions>/:user/:name",
            poem::get(routes::media::serve_blob),
        )
        .at("/admin", poem::get(console::console_page))
        .at(
            "/admin/login",
            poem::post(console::sign_in).around(move |ep, req| middleware::limit_json_body(ep, req, limit)),
        )
        .at(
            "/admin/logout",
            poem::post(console::sign_out).around(move |ep, req| middleware::limit_json_body(ep, req, limit)),
        )
        .at("/admin/assets/console.js", poem::get(console::script))
        .at("/admin/assets/console.css", poem::get(console::stylesheet))
        .nest(
            "/",
            api.around(move |ep, req| middleware::limit_json_body(ep, req, limit)),
        )
        .data(state)
        // The console's session cookie is read through poem's cookie jar.
        .with(poem::middleware::CookieJarManager::new())
        .with_if(cors_enabled, cors)
        .around(move |ep, req| pages::dispatch(ep, req, pages.clone()))
        .around(move |ep, req| hygiene::hygiene(ep, req, routes.clone()))
        .around(move |ep, req| middleware::observe(ep, req, metrics.clone()))
}

/// What a node without the HTTP edge serves: `/health`, `/ready` and `/metrics`, so
/// workers can be health-checked and scraped like edges.
pub fn build_ops_app(state: EdgeState) -> impl Endpoint {
    let metrics = state.metrics.clone();
    let ops = OpenApiService::new(
        routes::ops::OpsApi { state: state.clone() },
        "Folio node",
        env!("CARGO_PKG_VERSION"),
    );
    let routes = std::sync::Arc::new(hygiene::RouteMethods::from_openapi(
        &serde_json::from_str(&ops.spec()).unwrap_or_default(),
        &[],
    ));
    Route::new()
        .nest("/", ops)
        .data(state)
        .around(move |ep, req| hygiene::hygiene(ep, req, routes.clone()))
        .around(move |ep, req| middleware::observe(ep, req, metrics.clone()))
}
