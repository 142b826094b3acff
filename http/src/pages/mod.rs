//! Public pages (issue 25): the web face of Folio, rendered on the server from the same
//! in-memory project views and search as the API, with templates compiled into the
//! binary. They work without JavaScript (there is none), keep a strict
//! Content-Security-Policy and show nothing the JSON API would not show the same viewer:
//! a private project is a 404 for anyone but its owner, an unlisted one is reachable by
//! its id only and carries `noindex`.
//!
//! Routes: `/`, `/@{username}`, `/@{username}/{slug or id}`, its images at
//! `…/images/{file_id}`, `/@{username}/feed.atom`, `/search` (for browsers: a request
//! whose `Accept` puts HTML first; API clients keep the JSON), `/sitemap.xml`,
//! `/robots.txt`, and the pages' own stylesheet, icon and thumbhash placeholders.

mod feeds;
mod render;

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{Arc, LazyLock, Mutex, PoisonError},
    time::{Duration, Instant},
};

use folio_actors::project::{PageRequest, ProjectError, ProjectView, Visibility, slug::SlugMatch};
use minijinja::Environment;
use poem::{
    Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, handler,
    http::{HeaderValue, StatusCode, header},
    web::{Data, Path},
};
use uuid::Uuid;

use crate::{
    EdgeState,
    error::{ApiError, ErrorCode},
    visibility::MediaUrls,
};

pub use render::PageLinks;

/// Projects on the home page and on each search page.
const PER_PAGE: u64 = 24;
/// How long a browser or shared cache may show a page without asking again. Short: a
/// project made private must leave caches soon; asking again is a cheap `304`.
const PAGE_MAX_AGE_SECS: u32 = 60;

/// HTML escaping of the five characters that matter in text and quoted attributes.
/// minijinja's own also writes `/` as `&#x2f;`, which is safe but makes every URL of a
/// gallery six times longer where it appears.
fn escape_html(text: &str, out: &mut minijinja::Output<'_>) -> std::fmt::Result {
    let mut last = 0;
    for (at, c) in text.char_indices() {
        let entity = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#39;",
            _ => continue,
        };
        out.write_str(&text[last..at])?;
        out.write_str(entity)?;
        last = at + c.len_utf8();
    }
    out.write_str(&text[last..])
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_formatter(|out, state, value| match (state.auto_escape(), value.as_str()) {
        (minijinja::AutoEscape::Html, Some(text)) if !value.is_safe() => {
            escape_html(text, out).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("macros.html", include_str!("templates/macros.html")),
        ("home.html", include_str!("templates/home.html")),
        ("profile.html", include_str!("templates/profile.html")),
        ("project.html", include_str!("templates/project.html")),
        ("image.html", include_str!("templates/image.html")),
        ("search.html", include_str!("templates/search.html")),
        ("error.html", include_str!("templates/error.html")),
        ("feed.xml", include_str!("templates/feed.xml")),
        ("sitemap.xml", include_str!("templates/sitemap.xml")),
    ] {
        // The templates are part of the binary and every one is rendered by the tests;
        // a broken one is a build mistake, reported when a page is rendered.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "page template does not parse");
        }
    }
    env
});

const STYLESHEET: &str = include_str!("assets/site.css");
const FAVICON: &str = include_str!("assets/favicon.svg");

/// Names the stylesheet's version in its URL, so it can be cached for a year.
static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| format!("{:012x}", content_hash(STYLESHEET) >> 16));

fn content_hash(text: &str) -> u64 {
    // SipHash with fixed keys: the same text gives the same tag on every node.
    let mut hasher = std::hash::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Does this request go to the pages rather than the API? Page paths are disjoint from
/// the API's, except `/search`, which browsers get as a page.
pub fn is_page_request(req: &Request) -> bool {
    let path = req.uri().path();
    path == "/"
        || path.starts_with("/@")
        || matches!(path, "/sitemap.xml" | "/robots.txt")
        || path.starts_with("/assets/")
        || path.starts_with("/placeholders/")
        || (path == "/search" && wants_html(req))
}

/// A browser's navigation puts `text/html` first; API clients ask for JSON or anything.
fn wants_html(req: &Request) -> bool {
    let Some(accept) = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.trim().to_ascii_lowercase().starts_with("text/html"))
}

/// The page routes, with their own copy of the edge state.
pub fn routes(state: EdgeState) -> impl Endpoint + 'static {
    Route::new()
        .at("/", poem::get(home))
        .at("/search", poem::get(search_page))
        .at("/sitemap.xml", poem::get(feeds::sitemap))
        .at("/robots.txt", poem::get(feeds::robots))
        .at("/assets/site.css", poem::get(stylesheet))
        .at("/assets/favicon.svg", poem::get(favicon))
        .at("/placeholders/:name", poem::get(placeholder))
        .at("/:handle", poem::get(profile_page))
        .at("/:handle/feed.atom", poem::get(feeds::atom))
        .at("/:handle/:project", poem::get(project_page))
        .at("/:handle/:project/images/:file", poem::get(image_page))
        .data(state)
        .data(Arc::new(OwnerNames::default()))
}

/// The page routes' templates as the hygiene layer and metrics name them.
pub const ROUTES: &[(&str, &str)] = &[
    ("/", "GET, HEAD"),
    ("/sitemap.xml", "GET, HEAD"),
    ("/robots.txt", "GET, HEAD"),
    ("/assets/site.css", "GET, HEAD"),
    ("/assets/favicon.svg", "GET, HEAD"),
    ("/placeholders/{name}", "GET, HEAD"),
    ("/{handle}", "GET, HEAD"),
    ("/{handle}/feed.atom", "GET, HEAD"),
    ("/{handle}/{project}", "GET, HEAD"),
    ("/{handle}/{project}/images/{file}", "GET, HEAD"),
];

/// Sends page requests to the pages and everything else to the API.
pub async fn dispatch<E: Endpoint, P: Endpoint>(ep: Arc<E>, req: Request, pages: Arc<P>) -> poem::Result<Response> {
    if is_page_request(&req) {
        pages.call(req).await.map(IntoResponse::into_response)
    } else {
        ep.call(req).await.map(IntoResponse::into_response)
    }
}

/// Who is looking: the bearer of a valid access token, or nobody in particular. Pages
/// have no sign-in of their own; a token lets an owner preview a project that is not
/// public.
fn viewer(state: &EdgeState, req: &Request) -> Option<Uuid> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    state.session.verify(token.trim()).ok().map(|claims| claims.sub)
}

/// Who may keep an answer: any cache (the same for every visitor), or only the browser
/// of the one viewer it was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    Everyone,
    Viewer,
}

/// A rendered page, before the headers every page carries.
struct Rendered {
    body: String,
    content_type: &'static str,
    audience: Audience,
    noindex: bool,
}

impl Rendered {
    fn html(body: String, audience: Audience) -> Self {
        Self {
            body,
            content_type: "text/html; charset=utf-8",
            audience,
            noindex: false,
        }
    }
}

fn render(template: &str, ctx: minijinja::Value) -> Result<String, ApiError> {
    TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(ApiError::internal_from)
}

/// `default-src 'self'` and nothing inline; images may also come from where the blob
/// URLs point (the same origin unless a public URL says otherwise).
fn content_security_policy(state: &EdgeState) -> String {
    let media = render::origin_of(state.media.public_url());
    format!(
        "default-src 'self'; img-src 'self'{}{media}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
        if media.is_empty() { "" } else { " " }
    )
}

fn with_page_headers(state: &EdgeState, mut response: Response) -> Response {
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(state)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::VARY, HeaderValue::from_static("Authorization, Accept"));
    response
}

/// The answer for a rendered page: an `ETag` of its bytes (so `If-None-Match` gets a
/// `304`), a short shared cache for what everyone sees, none for a viewer's own view.
fn respond(state: &EdgeState, req: &Request, page: Rendered) -> Response {
    let etag = format!("\"p{:016x}\"", content_hash(&page.body));
    let cache = match page.audience {
        Audience::Everyone => format!("public, max-age={PAGE_MAX_AGE_SECS}"),
        Audience::Viewer => "private, no-store".to_string(),
    };
    conditional(
        state,
        req,
        &etag,
        &cache,
        page.noindex,
        page.content_type,
        Body::from_string(page.body),
    )
}

/// `body` with its `ETag` and `Cache-Control`, or a bodiless `304` when the request's
/// `If-None-Match` already names that `ETag`.
fn conditional(
    state: &EdgeState,
    req: &Request,
    etag: &str,
    cache: &str,
    noindex: bool,
    content_type: &str,
    body: Body,
) -> Response {
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| crate::etag::matches(tags, etag));
    let mut builder = Response::builder()
        .header(header::ETAG, etag)
        .header(header::CACHE_CONTROL, cache);
    if noindex {
        builder = builder.header("x-robots-tag", "noindex");
    }
    let response = if not_modified {
        builder.status(StatusCode::NOT_MODIFIED).finish()
    } else {
        builder.content_type(content_type).body(body)
    };
    with_page_headers(state, response)
}

/// A failure as a page in the site's style: 404 for what is not there (or not shown to
/// this viewer), 400 for a request that cannot be answered, 5xx for ours. The error
/// rides along for the edge's one log line.
fn error_page(state: &EdgeState, error: ApiError) -> Response {
    let (heading, message) = match error.status {
        StatusCode::NOT_FOUND => (
            "Page not found",
            "There is nothing here, or nothing that is public.".to_string(),
        ),
        s if s.is_client_error() => ("That did not work", error.message.clone()),
        StatusCode::SERVICE_UNAVAILABLE => (
            "Back in a moment",
            "Folio cannot answer right now; try again shortly.".to_string(),
        ),
        _ => (
            "Something went wrong",
            "Folio could not show this page. It has been noted; try again later.".to_string(),
        ),
    };
    let body = render(
        "error.html",
        minijinja::context! { heading, message, asset_version => ASSET_VERSION.as_str(), noindex => true },
    )
    .unwrap_or_else(|_| format!("<!doctype html><html lang=\"en\"><title>{heading}</title><h1>{heading}</h1></html>"));
    let mut response = Response::builder()
        .status(error.status)
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_string(body));
    response.set_data(error);
    with_page_headers(state, response)
}

fn page_result(state: &EdgeState, req: &Request, result: Result<Rendered, ApiError>) -> Response {
    match result {
        Ok(page) => respond(state, req, page),
        Err(error) => error_page(state, error),
    }
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "not found")
}

/// A permanent move to `location` (a renamed project, a page asked for by id).
fn moved(state: &EdgeState, location: &str) -> Response {
    let response = Response::builder()
        .status(StatusCode::MOVED_PERMANENTLY)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, format!("public, max-age={PAGE_MAX_AGE_SECS}"))
        .finish();
    with_page_headers(state, response)
}

/// The query's pairs, in order (a key may repeat: `tag=a&tag=b`).
fn query_pairs(req: &Request) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn page_number(pairs: &[(String, String)]) -> Result<u64, ApiError> {
    match pairs.iter().find(|(k, _)| k == "page") {
        None => Ok(1),
        Some((_, v)) => v
            .parse::<u64>()
            .ok()
            .filter(|p| (1..=render::MAX_PAGE).contains(p))
            .ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidPage,
                    format!("page must be a number from 1 to {}", render::MAX_PAGE),
                )
            }),
    }
}

/// `@alice` → `alice`; anything else names no page.
fn username_of(handle: &str) -> Result<&str, ApiError> {
    handle
        .strip_prefix('@')
        .filter(|name| !name.is_empty())
        .ok_or_else(not_found)
}

#[handler]
async fn home(req: &Request, Data(state): Data<&EdgeState>) -> Response {
    let result = async {
        let pairs = query_pairs(req);
        let page = page_number(&pairs)?;
        let listed = state
            .projects
            .list_public(PageRequest { page, size: PER_PAGE })
            .await
            .map_err(ApiError::from)?;
        let links = PageLinks::new(state);
        let cards: Vec<_> = listed.projects.iter().map(|p| links.card(p, None)).collect();
        let body = render(
            "home.html",
            minijinja::context! {
                cards,
                next_page => (page * PER_PAGE < listed.total).then_some(page + 1),
                canonical => links.absolute(if page == 1 { "/".to_string() } else { format!("/?page={page}") }),
                description => "Recent public work on Folio.",
                og => render::OpenGraph::site("Recent work on Folio", "Recent public work on Folio."),
                asset_version => ASSET_VERSION.as_str(),
            },
        )?;
        Ok(Rendered::html(body, Audience::Everyone))
    }
    .await;
    page_result(state, req, result)
}

#[handler]
async fn profile_page(req: &Request, Data(state): Data<&EdgeState>, Path(handle): Path<String>) -> Response {
    let result = async {
        let username = username_of(&handle)?;
        // Pages show what everyone sees: the owner's drafts stay in the API.
        let profile = state.profiles.public(username, None).await.map_err(ApiError::from)?;
        let links = PageLinks::new(state);
        let body = render("profile.html", links.profile_context(&profile, ASSET_VERSION.as_str()))?;
        Ok(Rendered::html(body, Audience::Everyone))
    }
    .await;
    page_result(state, req, result)
}

/// What a page URL's project part leads to for this viewer.
enum Found {
    Page(Box<ProjectView>),
    MovedTo(String),
}

/// The project `/@{username}/{part}` names, as `viewer` may see it. By slug: a public
/// project (or the owner's own), or a redirect from a slug it had before a rename. By
/// id: any project the viewer may read; a public one redirects to its slug, so each
/// page has one address.
async fn find_project(state: &EdgeState, username: &str, part: &str, viewer: Option<Uuid>) -> Result<Found, ApiError> {
    let visible = |project: &ProjectView| project.readable_by(viewer) && project.username == username;
    if let Ok(id) = Uuid::parse_str(part) {
        let project = state.projects.get(id).await.map_err(ApiError::from)?;
        if !visible(&project) {
            return Err(not_found());
        }
        let canonical = render::project_path(&project);
        if canonical != format!("/@{username}/{part}") {
            return Ok(Found::MovedTo(canonical));
        }
        return Ok(Found::Page(Box::new(project)));
    }
    let found = state
        .projects
        .find_by_slug(username, part)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(not_found)?;
    let (id, moved) = match found {
        SlugMatch::Current(id) => (id, false),
        SlugMatch::Moved(id) => (id, true),
    };
    let project = match state.projects.get(id).await {
        Ok(project) => project,
        Err(ProjectError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    // An unlisted project is for those who were given its link (by id), not for anyone
    // who guesses its title.
    let by_slug_allowed = project.visibility == Visibility::Public || viewer == Some(project.user_id);
    if !visible(&project) || !by_slug_allowed {
        return Err(not_found());
    }
    if moved {
        return Ok(Found::MovedTo(render::project_path(&project)));
    }
    Ok(Found::Page(Box::new(project)))
}

#[handler]
async fn project_page(
    req: &Request,
    Data(state): Data<&EdgeState>,
    Data(owners): Data<&Arc<OwnerNames>>,
    Path((handle, part)): Path<(String, String)>,
) -> Response {
    let viewer = viewer(state, req);
    let result = async {
        let username = username_of(&handle)?;
        let project = match find_project(state, username, &part, viewer).await? {
            Found::Page(project) => project,
            Found::MovedTo(location) => return Ok(Err(location)),
        };
        let owner_name = owners.of(state, &project).await;
        let urls = MediaUrls::for_view(state, &project, viewer);
        let links = PageLinks::new(state);
        let body = render(
            "project.html",
            links.project_context(&project, &owner_name, &urls, ASSET_VERSION.as_str()),
        )?;
        Ok(Ok(project_rendered(body, &project, viewer)))
    }
    .await;
    match result {
        Ok(Err(location)) => moved(state, &location),
        Ok(Ok(page)) => respond(state, req, page),
        Err(error) => error_page(state, error),
    }
}

#[handler]
async fn image_page(
    req: &Request,
    Data(state): Data<&EdgeState>,
    Data(owners): Data<&Arc<OwnerNames>>,
    Path((handle, part, file)): Path<(String, String, String)>,
) -> Response {
    let viewer = viewer(state, req);
    let result = async {
        let username = username_of(&handle)?;
        let file_id = Uuid::parse_str(&file).map_err(|_| not_found())?;
        let project = match find_project(state, username, &part, viewer).await? {
            Found::Page(project) => project,
            Found::MovedTo(location) => return Ok(Err(format!("{location}/images/{file_id}"))),
        };
        let owner_name = owners.of(state, &project).await;
        let urls = MediaUrls::for_view(state, &project, viewer);
        let links = PageLinks::new(state);
        let ctx = links
            .image_context(&project, file_id, &owner_name, &urls, ASSET_VERSION.as_str())
            .ok_or_else(not_found)?;
        let body = render("image.html", ctx)?;
        Ok(Ok(project_rendered(body, &project, viewer)))
    }
    .await;
    match result {
        Ok(Err(location)) => moved(state, &location),
        Ok(Ok(page)) => respond(state, req, page),
        Err(error) => error_page(state, error),
    }
}

/// A project page is for everyone when the project is public and the viewer is not its
/// owner looking at signed links; unlisted pages are not for search engines.
fn project_rendered(body: String, project: &ProjectView, viewer: Option<Uuid>) -> Rendered {
    let audience = if viewer.is_some() && (viewer == Some(project.user_id) || !project.visibility.is_public()) {
        Audience::Viewer
    } else {
        Audience::Everyone
    };
    Rendered {
        noindex: !project.visibility.is_public(),
        ..Rendered::html(body, audience)
    }
}

/// How long a page goes on showing an owner's name after they change it: pages are
/// cached for longer than this anyway.
const OWNER_NAME_TTL: Duration = Duration::from_secs(10);
/// Names remembered at most; past it the cache starts again.
const OWNER_NAMES: usize = 10_000;

/// Owners' display names, remembered briefly so that a project page is read from memory
/// alone (the project view is; the name is the profile domain's).
#[derive(Debug, Default)]
pub struct OwnerNames {
    names: Mutex<HashMap<Uuid, (String, Instant)>>,
}

impl OwnerNames {
    /// The owner as pages name them: the profile name, else the username.
    async fn of(&self, state: &EdgeState, project: &ProjectView) -> String {
        {
            let names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((name, at)) = names.get(&project.user_id)
                && at.elapsed() < OWNER_NAME_TTL
            {
                return name.clone();
            }
        }
        let name = state
            .profiles
            .display_name(project.user_id)
            .await
            .unwrap_or_else(|_| project.username.clone());
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        if names.len() >= OWNER_NAMES {
            names.clear();
        }
        names.insert(project.user_id, (name.clone(), Instant::now()));
        name
    }
}

#[handler]
async fn search_page(req: &Request, Data(state): Data<&EdgeState>) -> Response {
    let result = async {
        let pairs = query_pairs(req);
        let page = page_number(&pairs)?;
        let request = render::SearchForm::parse(&pairs, page)?;
        let found = state
            .search
            .engine
            .search(&request.query(PER_PAGE as u32))
            .await
            .map_err(ApiError::from)?;
        let links = PageLinks::new(state);
        let ctx = links.search_context(&request, found, ASSET_VERSION.as_str()).await;
        let body = render("search.html", ctx)?;
        Ok(Rendered {
            // Result pages are many and thin; the projects themselves are indexed.
            noindex: true,
            ..Rendered::html(body, Audience::Everyone)
        })
    }
    .await;
    page_result(state, req, result)
}

/// Assets change with the binary; their URLs carry the version, so they may be kept
/// for a year.
fn asset(state: &EdgeState, req: &Request, body: &'static str, content_type: &'static str) -> Response {
    let versioned = req.uri().query().is_some_and(|q| q.contains(ASSET_VERSION.as_str()));
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    let etag = format!("\"a{}\"", ASSET_VERSION.as_str());
    conditional(state, req, &etag, cache, false, content_type, Body::from(body))
}

#[handler]
fn stylesheet(req: &Request, Data(state): Data<&EdgeState>) -> Response {
    asset(state, req, STYLESHEET, "text/css; charset=utf-8")
}

#[handler]
fn favicon(req: &Request, Data(state): Data<&EdgeState>) -> Response {
    asset(state, req, FAVICON, "image/svg+xml")
}

/// Placeholders decoded at once; each is a few microseconds of work, but image work
/// stays off the runtime and bounded all the same.
static PLACEHOLDER_PERMITS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The picture a thumbhash stands for (`/placeholders/{base64url}.png`), made from the
/// hash in the URL alone: it shows nothing the page did not already name.
#[handler]
async fn placeholder(Data(state): Data<&EdgeState>, Path(name): Path<String>) -> Response {
    let result = async {
        let hash = name
            .strip_suffix(".png")
            .and_then(render::thumbhash_from_url)
            .ok_or_else(not_found)?;
        let _permit = PLACEHOLDER_PERMITS.acquire().await.map_err(ApiError::internal_from)?;
        let png = tokio::task::spawn_blocking(move || folio_media::placeholder_png(&hash))
            .await
            .map_err(ApiError::internal_from)?
            .map_err(|_| not_found())?;
        Ok(png)
    }
    .await;
    match result {
        Ok(png) => with_page_headers(
            state,
            Response::builder()
                .content_type("image/png")
                .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
                .body(png),
        ),
        Err(error) => error_page(state, error),
    }
}
