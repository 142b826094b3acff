//! The operator console at `/admin`: server-rendered pages (minijinja templates built
//! into the binary) and a small script, all served from here. Sign-in goes through the
//! session domain's login, the same rules as `/auth/login`; the access token then lives
//! in an `HttpOnly`, `SameSite=Strict` cookie scoped to `/admin`. Forms and the script's
//! state-changing calls carry a CSRF token bound to the console session (before sign-in,
//! to the browser's CSRF cookie) by an HMAC under a key of ours, so it rotates at sign-in
//! and cannot be forged by planting a cookie. Every answer carries a `default-src 'self'`
//! Content-Security-Policy.

use std::sync::LazyLock;

use folio_actors::session::{Claims, Email, LoginCmd, LogoutCmd, LogoutScope, Password, Role, SessionError};
use minijinja::{Environment, context};
use poem::{
    Body, IntoResponse, Request, Response, handler,
    http::{HeaderValue, StatusCode, header},
    web::{Data, Form},
};
use serde::{Deserialize, Serialize};

use crate::{
    EdgeState,
    error::{ApiError, ErrorCode},
};

pub const SESSION_COOKIE: &str = "folio_console";
pub const CSRF_COOKIE: &str = "folio_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
const COOKIE_PATH: &str = "/admin";
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// Console settings the edge needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleSettings {
    /// Mark cookies `Secure` (the console is served over TLS).
    pub secure_cookie: bool,
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("console/templates/base.html")),
        ("login.html", include_str!("console/templates/login.html")),
        ("console.html", include_str!("console/templates/console.html")),
        ("forbidden.html", include_str!("console/templates/forbidden.html")),
    ] {
        // The templates are part of the binary and covered by tests; a broken one is a
        // build mistake, reported when the page is rendered.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "console template does not parse");
        }
    }
    env
});

fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a CSRF token is bound to: the signed-in session, or, before sign-in, the random
/// id in this browser's CSRF cookie. The token is an HMAC of it under a key of ours
/// (`SessionClient::csrf_token`), so a planted cookie cannot be paired with a header of
/// the attacker's choosing, and signing in rotates the token.
fn csrf_binding(req: &Request, claims: Option<&Claims>) -> Option<String> {
    match claims {
        Some(claims) => claims.sid.map(|sid| format!("session:{sid}")),
        None => cookie(req, CSRF_COOKIE)
            .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|id| format!("browser:{id}")),
    }
}

/// The submitted token is the one for this request's binding.
fn csrf_ok(state: &EdgeState, req: &Request, claims: Option<&Claims>, submitted: &str) -> bool {
    csrf_binding(req, claims).is_some_and(|binding| constant_time_eq(&state.session.csrf_token(&binding), submitted))
}

/// The request's CSRF header is the token of the session its console cookie stands for.
pub fn csrf_header_matches(state: &EdgeState, req: &Request, claims: &Claims) -> bool {
    let header = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    header.is_some_and(|header| csrf_ok(state, req, Some(claims), header))
}

fn new_browser_id() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> String {
    let mut cookie = format!("{name}={value}; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict");
    if let Some(max_age) = max_age {
        cookie.push_str(&format!("; Max-Age={max_age}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn page(status: StatusCode, template: &str, ctx: minijinja::Value, set_cookies: &[String]) -> Response {
    let html = TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!(template, error = %e, "rendering a console page");
            "<!doctype html><title>Folio console</title><p>The console could not be rendered.</p>".to_string()
        });
    let mut builder = Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store");
    for cookie in set_cookies {
        builder = builder.header(header::SET_COOKIE, cookie.as_str());
    }
    harden(builder.body(Body::from_string(html)))
}

/// The CSRF token for this page: the session's once signed in; before that, this
/// browser's, with the cookie that gives the browser its id when it has none yet.
fn csrf_for(state: &EdgeState, req: &Request, claims: Option<&Claims>) -> (String, Vec<String>) {
    if let Some(binding) = csrf_binding(req, claims) {
        return (state.session.csrf_token(&binding), Vec::new());
    }
    let id = new_browser_id();
    let set = set_cookie(CSRF_COOKIE, &id, None, state.console.secure_cookie);
    (state.session.csrf_token(&format!("browser:{id}")), vec![set])
}

/// The administrator behind the console cookie, while its session is open (signing out
/// here or ending every session elsewhere closes it, whatever the token's expiry).
async fn signed_in(state: &EdgeState, req: &Request) -> Option<Claims> {
    let claims = cookie(req, SESSION_COOKIE).and_then(|token| state.session.verify(&token).ok())?;
    match state.session.session_is_open(&claims).await {
        Ok(true) => Some(claims),
        Ok(false) => None,
        Err(e) => {
            tracing::warn!(error = %e, "checking the console session; treating it as signed out");
            None
        }
    }
}

fn login_page(
    status: StatusCode,
    csrf: &str,
    error: Option<&str>,
    email: Option<&str>,
    cookies: &[String],
) -> Response {
    page(
        status,
        "login.html",
        context! { csrf => csrf, error => error, email => email },
        cookies,
    )
}

#[derive(Serialize)]
struct JobRow {
    kind: &'static str,
    pending: u64,
    in_flight: Option<u64>,
    failed: u64,
    done_last_hour: u64,
    oldest_pending_age: String,
}

fn age(seconds: Option<f64>) -> String {
    match seconds {
        None => "–".to_string(),
        Some(s) if s < 60.0 => format!("{s:.1} s"),
        Some(s) if s < 3600.0 => format!("{} min", (s / 60.0).floor()),
        Some(s) => format!("{:.1} h", s / 3600.0),
    }
}

/// `GET /admin`: the console for administrators, the sign-in form for visitors, and a
/// 403 page for everyone else.
#[handler]
pub async fn console_page(req: &Request, state: Data<&EdgeState>) -> Response {
    let claims = signed_in(&state, req).await;
    let (csrf, cookies) = csrf_for(&state, req, claims.as_ref());
    let Some(claims) = claims else {
        return login_page(StatusCode::OK, &csrf, None, None, &cookies);
    };
    match state.session.role_of(claims.sub).await {
        Ok(Role::Admin) => {}
        Ok(_) | Err(SessionError::UserNotFound) => {
            return page(
                StatusCode::FORBIDDEN,
                "forbidden.html",
                context! { csrf => csrf, username => claims.username },
                &cookies,
            );
        }
        Err(e) => return unavailable(e),
    }
    let jobs = match state.jobs.status().await {
        Ok(jobs) => jobs,
        Err(e) => return unavailable(e),
    };
    let failed = match state
        .media
        .list_failed(folio_actors::project::PageRequest { page: 1, size: 50 })
        .await
    {
        Ok(failed) => failed,
        Err(e) => return unavailable(e),
    };
    let deletions = match state.session.pending_deletions().await {
        Ok(deletions) => deletions,
        Err(e) => return unavailable(e),
    };
    let deletion_rows: Vec<minijinja::Value> = deletions
        .iter()
        .map(|d| {
            context! {
                user_id => d.user_id.to_string(),
                username => d.username,
                requested_at => d.requested_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                attempts => d.attempts,
                error => d.last_error,
            }
        })
        .collect();
    let reindex = state.reindex.progress();
    let reindex_percent = reindex.percent();
    let jobs: Vec<JobRow> = jobs
        .into_iter()
        .map(|j| JobRow {
            kind: j.kind.as_str(),
            pending: j.pending,
            in_flight: j.in_flight,
            failed: j.failed,
            done_last_hour: j.done_last_hour,
            oldest_pending_age: age(j.oldest_pending_age_secs),
        })
        .collect();
    let failed_rows: Vec<minijinja::Value> = failed
        .files
        .iter()
        .map(|f| {
            context! {
                file_id => f.file_id.to_string(),
                original_filename => f.original_filename,
                owner_username => f.owner_username,
                error => f.error,
                attempts => f.attempts,
                failed_at => f.failed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }
        })
        .collect();
    let detail = match (&reindex.error, reindex.finished_at) {
        _ if reindex.running => format!("running: {} of {} projects", reindex.done, reindex.total),
        (Some(error), _) => format!("stopped: {error}"),
        (None, Some(_)) => format!("{} projects republished", reindex.done),
        (None, None) => String::new(),
    };
    page(
        StatusCode::OK,
        "console.html",
        context! {
            csrf => csrf,
            username => claims.username,
            bus => state.jobs.bus.name(),
            jobs => jobs,
            failed => failed_rows,
            failed_total => failed.total,
            deletions => deletion_rows,
            reindex => context! { percent => reindex_percent, detail => detail },
        },
        &cookies,
    )
}

fn unavailable(cause: impl std::error::Error + Send + Sync + 'static) -> Response {
    let mut response = harden(
        Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .content_type("text/plain; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body("The console cannot reach the node's services right now; try again shortly."),
    );
    // The edge's line for this request logs the cause, as for the API's errors.
    response.set_data(ApiError::new(ErrorCode::Unavailable, "console page unavailable").caused_by(cause));
    response
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store");
    for cookie in cookies {
        builder = builder.header(header::SET_COOKIE, cookie.as_str());
    }
    harden(builder.finish())
}

/// `POST /admin/login`: the session domain's login, then the session cookie.
#[handler]
pub async fn sign_in(req: &Request, state: Data<&EdgeState>, Form(form): Form<SignInForm>) -> Response {
    let (csrf, cookies) = csrf_for(&state, req, None);
    let email_shown = Some(form.email.as_str()).filter(|e| e.len() <= 320);
    if !csrf_ok(&state, req, None, &form.csrf) {
        return login_page(
            StatusCode::FORBIDDEN,
            &csrf,
            Some("The form expired; please sign in again."),
            email_shown,
            &cookies,
        );
    }
    let invalid = "Invalid email or password.";
    // As on /auth/login: a malformed address or password cannot match any account.
    let (Ok(email), Ok(password)) = (Email::parse(&form.email), Password::parse(&form.password)) else {
        return login_page(StatusCode::UNAUTHORIZED, &csrf, Some(invalid), email_shown, &cookies);
    };
    let grant = state
        .session
        .login(LoginCmd {
            email,
            password,
            client: crate::client_address::client_address(req, &state.trusted_proxies),
            user_agent: req
                .headers()
                .get(poem::http::header::USER_AGENT)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string),
        })
        .await;
    match grant {
        Ok(grant) => {
            let session = set_cookie(
                SESSION_COOKIE,
                &grant.access_token,
                Some(grant.expires_in),
                state.console.secure_cookie,
            );
            let mut set = cookies;
            set.push(session);
            see_other("/admin", &set)
        }
        Err(SessionError::InvalidCredentials) => {
            login_page(StatusCode::UNAUTHORIZED, &csrf, Some(invalid), email_shown, &cookies)
        }
        Err(SessionError::TooManyAttempts { retry_after_secs }) => {
            let mut response = login_page(
                StatusCode::TOO_MANY_REQUESTS,
                &csrf,
                Some(&format!(
                    "Too many failed sign-ins; try again in {} minutes.",
                    retry_after_secs.div_ceil(60)
                )),
                email_shown,
                &cookies,
            );
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Err(e) => unavailable(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /admin/logout`: forgets the session cookie.
#[handler]
pub async fn sign_out(req: &Request, state: Data<&EdgeState>, Form(form): Form<SignOutForm>) -> Response {
    let claims = signed_in(&state, req).await;
    if !csrf_ok(&state, req, claims.as_ref(), &form.csrf) {
        let (csrf, cookies) = csrf_for(&state, req, claims.as_ref());
        return login_page(
            StatusCode::FORBIDDEN,
            &csrf,
            Some("The form expired; please try again."),
            None,
            &cookies,
        );
    }
    // The session ends too, so a copy of the cookie opens nothing afterwards.
    if let Some(claims) = claims
        && let Some(session_id) = claims.sid
    {
        let ended = state
            .session
            .logout(LogoutCmd {
                user_id: claims.sub,
                scope: LogoutScope::Session(session_id),
            })
            .await;
        match ended {
            Ok(()) | Err(SessionError::SessionNotFound) => {}
            Err(e) => return unavailable(e),
        }
    }
    let cleared = set_cookie(SESSION_COOKIE, "", Some(0), state.console.secure_cookie);
    see_other("/admin", &[cleared])
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    harden(
        Response::builder()
            .status(StatusCode::OK)
            .content_type(content_type)
            .header(header::CACHE_CONTROL, "no-cache")
            .body(body),
    )
}

#[handler]
pub fn script() -> impl IntoResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("console/assets/console.js"),
    )
}

#[handler]
pub fn stylesheet() -> impl IntoResponse {
    asset("text/css; charset=utf-8", include_str!("console/assets/console.css"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_renders() {
        for name in ["login.html", "forbidden.html", "console.html"] {
            let template = TEMPLATES.get_template(name).expect("template is registered");
            let html = template
                .render(context! {
                    csrf => "c".repeat(64),
                    username => "<b>ann</b>",
                    bus => "in-process",
                    jobs => Vec::<JobRow>::new(),
                    failed => Vec::<minijinja::Value>::new(),
                    failed_total => 0,
                    deletions => vec![context! { user_id => "u", username => "<b>zed</b>", requested_at => "t", attempts => 2, error => "boom" }],
                    reindex => context! { percent => 0, detail => "" },
                })
                .expect("renders");
            assert!(html.contains("/admin/assets/console.css"));
            assert!(!html.contains("<b>ann</b>"), "values are escaped");
            assert!(!html.contains("<script>"), "no inline script under the CSP");
        }
    }

    #[test]
    fn cookies_are_strict_and_http_only() {
        let plain = set_cookie(SESSION_COOKIE, "t", Some(900), false);
        assert_eq!(
            plain,
            "folio_console=t; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=900"
        );
        assert!(set_cookie(SESSION_COOKIE, "t", None, true).ends_with("; Secure"));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
