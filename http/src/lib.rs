//! Folio's HTTP edge (poem + poem-openapi). It parses requests into domain messages,
//! sends them to the actors, and turns their replies into responses; it holds no
//! business logic.

pub mod auth;
pub mod error;
pub mod metrics;
pub mod middleware;
pub mod readiness;
pub mod routes;

use folio_actors::session::SessionClient;
use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

pub use error::{ApiError, ErrorBody};
pub use metrics::Metrics;
pub use readiness::{Readiness, ReadinessCheck};

#[derive(Tags)]
pub enum ApiTags {
    /// Accounts and tokens.
    Auth,
    /// Health, readiness, metrics.
    Ops,
}

/// What the edge needs to reach the rest of the node.
#[derive(Clone)]
pub struct EdgeState {
    pub session: SessionClient,
    pub readiness: Readiness,
    pub metrics: Metrics,
    pub json_body_limit: usize,
}

pub fn api_service(state: &EdgeState) -> OpenApiService<(routes::auth::AuthApi, routes::ops::OpsApi), ()> {
    OpenApiService::new(
        (
            routes::auth::AuthApi {
                state: state.clone(),
            },
            routes::ops::OpsApi {
                state: state.clone(),
            },
        ),
        "Folio",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Portfolio platform API: accounts, profiles, projects, media and search.")
}

pub fn build_app(state: EdgeState) -> impl Endpoint {
    let api = api_service(&state);
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let limit = state.json_body_limit;
    let metrics = state.metrics.clone();
    Route::new()
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .nest("/", api.around(move |ep, req| middleware::limit_json_body(ep, req, limit)))
        .data(state)
        .around(move |ep, req| middleware::observe(ep, req, metrics.clone()))
}
