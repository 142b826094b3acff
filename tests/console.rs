//! The operator console's HTTP contract, without a browser: sign-in through the session
//! domain, cookie attributes, CSRF, the Content-Security-Policy, and the 403 page.
//! (tests/console_browser.rs drives the same page in Chromium.)

mod common;

use common::{Backend, TestNode};
use reqwest::{StatusCode, header};

struct Signed {
    /// This browser's CSRF cookie (its id before sign-in).
    browser: String,
    /// The session's CSRF token, as the signed-in page carries it.
    csrf: String,
    session: String,
}

/// The token a console page carries in its `csrf-token` meta tag.
fn meta_csrf(html: &str) -> String {
    html.split("<meta name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries a CSRF token")
        .to_string()
}

fn cookie_value(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies
        .iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|rest| rest.split(';').next().unwrap_or_default().to_string())
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn sign_in(t: &TestNode, email: &str, password: &str) -> Result<Signed, (StatusCode, String)> {
    let client = no_redirects();
    let page = client.get(format!("{}/admin", t.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let browser = cookie_value(&set_cookies(&page), "folio_csrf").expect("a CSRF cookie is set");
    let html = page.text().await.unwrap();
    let csrf = meta_csrf(&html);
    assert!(
        html.contains(&format!("value=\"{csrf}\"")),
        "the form carries the token"
    );
    assert_ne!(csrf, browser, "the token is not the cookie's value");
    let response = client
        .post(format!("{}/admin/login", t.url))
        .header(header::COOKIE, format!("folio_csrf={browser}"))
        .form(&[("email", email), ("password", password), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::SEE_OTHER {
        return Err((response.status(), response.text().await.unwrap()));
    }
    let cookies = set_cookies(&response);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("folio_console="))
        .expect("a session cookie")
        .clone();
    let mut signed = Signed {
        browser,
        csrf: String::new(),
        session,
    };
    // Signing in rotates the token: pages now carry the session's.
    let page = client
        .get(format!("{}/admin", t.url))
        .header(header::COOKIE, signed.cookies())
        .send()
        .await
        .unwrap();
    signed.csrf = meta_csrf(&page.text().await.unwrap());
    assert_ne!(signed.csrf, csrf, "a new token after sign-in");
    Ok(signed)
}

impl Signed {
    fn token(&self) -> String {
        self.session
            .trim_start_matches("folio_console=")
            .split(';')
            .next()
            .unwrap()
            .to_string()
    }

    fn cookies(&self) -> String {
        format!("folio_csrf={}; folio_console={}", self.browser, self.token())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_signs_in_with_safe_cookies_and_guards_state_changes() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.auth.admin_emails = vec!["admin@folio.test".into()];
        s.http.console_secure_cookie = true;
    })
    .await;
    t.user("admin").await;
    t.user("bob").await;
    let client = no_redirects();

    // Visitors get the sign-in form, under a strict CSP.
    let page = client.get(format!("{}/admin", t.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    let csrf_cookie = set_cookies(&page)
        .into_iter()
        .find(|c| c.starts_with("folio_csrf="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Secure"] {
        assert!(csrf_cookie.contains(attribute), "{csrf_cookie} lacks {attribute}");
    }
    let html = page.text().await.unwrap();
    assert!(html.contains("<label for=\"email\">") && html.contains("<label for=\"password\">"));
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "nothing inline under the CSP"
    );

    // Same rules as /auth/login: wrong password is 401, a form without its token is 403.
    let (status, body) = sign_in(&t, "admin@folio.test", "wrong-password").await.err().unwrap();
    assert_eq!(status, 401);
    assert!(body.contains("Invalid email or password"));
    let forged = client
        .post(format!("{}/admin/login", t.url))
        .header(header::COOKIE, "folio_csrf=aaaa")
        .form(&[
            ("email", "admin@folio.test"),
            ("password", "password-123"),
            ("csrf", "bbbb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(set_cookies(&forged).iter().all(|c| !c.starts_with("folio_console=")));

    let admin = sign_in(&t, "admin@folio.test", "password-123").await.unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Secure", "Max-Age=900"] {
        assert!(admin.session.contains(attribute), "{} lacks {attribute}", admin.session);
    }
    let console = client
        .get(format!("{}/admin", t.url))
        .header(header::COOKIE, admin.cookies())
        .send()
        .await
        .unwrap();
    assert_eq!(console.status(), 200);
    let html = console.text().await.unwrap();
    assert!(
        html.contains("id=\"jobs\"") && html.contains("Reindex projects"),
        "{html}"
    );
    assert!(html.contains(&format!("<meta name=\"csrf-token\" content=\"{}\">", admin.csrf)));

    // The cookie reads the API; a state change needs the CSRF header as well.
    let jobs = client
        .get(format!("{}/admin/jobs", t.url))
        .header(header::COOKIE, admin.cookies())
        .send()
        .await
        .unwrap();
    assert_eq!(jobs.status(), 200);
    let unguarded = client
        .post(format!("{}/admin/media/retry-failed", t.url))
        .header(header::COOKIE, admin.cookies())
        .send()
        .await
        .unwrap();
    assert_eq!(unguarded.status(), 403);
    let body: serde_json::Value = unguarded.json().await.unwrap();
    assert_eq!(body["code"], "csrf_failed");
    let guarded = client
        .post(format!("{}/admin/media/retry-failed", t.url))
        .header(header::COOKIE, admin.cookies())
        .header("x-csrf-token", &admin.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(guarded.status(), 200);

    // Assets come from the node, under the same policy.
    for (path, kind) in [
        ("/admin/assets/console.js", "text/javascript"),
        ("/admin/assets/console.css", "text/css"),
    ] {
        let asset = client.get(format!("{}{path}", t.url)).send().await.unwrap();
        assert_eq!(asset.status(), 200);
        assert!(
            asset.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert!(asset.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }

    // A signed-in non-administrator gets the 403 page, and 403 from the API.
    let bob = sign_in(&t, "bob@folio.test", "password-123").await.unwrap();
    let forbidden = client
        .get(format!("{}/admin", t.url))
        .header(header::COOKIE, bob.cookies())
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    assert!(forbidden.text().await.unwrap().contains("Administrators only"));
    let api = client
        .get(format!("{}/admin/jobs", t.url))
        .header(header::COOKIE, bob.cookies())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 403);

    // Signing out clears the session cookie.
    let out = client
        .post(format!("{}/admin/logout", t.url))
        .header(header::COOKIE, admin.cookies())
        .form(&[("csrf", admin.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        set_cookies(&out)
            .iter()
            .any(|c| c.starts_with("folio_console=;") && c.contains("Max-Age=0"))
    );
    t.shutdown().await;
}

/// A console cookie stands for a session: signing out ends it, and so does ending every
/// session of the account elsewhere, so a copy of the cookie taken before opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_cookie_opens_nothing_once_its_session_ended() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.auth.admin_emails = vec!["admin@folio.test".into()];
    })
    .await;
    let tokens = t.user("admin").await;
    let client = no_redirects();
    let jobs = |cookies: String| {
        let client = client.clone();
        let url = format!("{}/admin/jobs", t.url);
        async move {
            client
                .get(url)
                .header(header::COOKIE, cookies)
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    // Signed out from the console: the kept cookie is refused by the API and the page.
    let admin = sign_in(&t, "admin@folio.test", "password-123").await.unwrap();
    assert_eq!(jobs(admin.cookies()).await, 200);
    let out = client
        .post(format!("{}/admin/logout", t.url))
        .header(header::COOKIE, admin.cookies())
        .form(&[("csrf", admin.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(jobs(admin.cookies()).await, 401);
    let page = client
        .get(format!("{}/admin", t.url))
        .header(header::COOKIE, admin.cookies())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text().await.unwrap().contains("name=\"password\""),
        "the sign-in form again"
    );

    // Every session ended through the API: the console's goes too.
    let again = sign_in(&t, "admin@folio.test", "password-123").await.unwrap();
    assert_eq!(jobs(again.cookies()).await, 200);
    let all = client
        .post(format!("{}/auth/logout", t.url))
        .bearer_auth(&tokens.access)
        .json(&serde_json::json!({"all": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), 200);
    assert_eq!(jobs(again.cookies()).await, 401);
    t.shutdown().await;
}

/// The CSRF token is bound to the session by a key of ours: a cookie and header pair the
/// attacker chose, or the token of another session, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csrf_token_is_bound_to_its_session() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.auth.admin_emails = vec!["admin@folio.test".into()];
    })
    .await;
    t.user("admin").await;
    let client = no_redirects();
    let first = sign_in(&t, "admin@folio.test", "password-123").await.unwrap();
    let second = sign_in(&t, "admin@folio.test", "password-123").await.unwrap();
    assert_ne!(first.csrf, second.csrf, "each session has its own token");
    let retry_all = |cookies: String, token: String| {
        let client = client.clone();
        let url = format!("{}/admin/media/retry-failed", t.url);
        async move {
            let response = client
                .post(url)
                .header(header::COOKIE, cookies)
                .header("x-csrf-token", token)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.text().await.unwrap())
        }
    };
    // The double-submit forgery: a planted cookie and the same value in the header.
    let planted = format!("folio_csrf={}; folio_console={}", "a".repeat(64), first.token());
    let (status, body) = retry_all(planted, "a".repeat(64)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("csrf_failed"), "{body}");
    // Another session's token does not fit this session.
    let (status, body) = retry_all(first.cookies(), second.csrf.clone()).await;
    assert_eq!(status, 403, "{body}");
    // The session's own token does.
    let (status, body) = retry_all(first.cookies(), first.csrf.clone()).await;
    assert_eq!(status, 200, "{body}");
    t.shutdown().await;
}
