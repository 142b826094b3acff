//! Issue 13: bounded memory, an OpenAPI document clients can trust, and a clean 4xx for
//! every bad input. Each test here failed before its fix.

mod common;

use std::time::Duration;

use common::{Backend, TestNode};
use futures::StreamExt as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_every_backend!(control_characters_are_refused_the_same_everywhere);

/// The series lines of a Prometheus scrape (comments excluded).
async fn metric_series(t: &TestNode) -> usize {
    let scrape = t.get("/metrics", None).await;
    assert_eq!(scrape.status, 200);
    scrape
        .body
        .as_str()
        .expect("metrics are text")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .count()
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_paths_add_no_metric_series() {
    let t = TestNode::spawn(Backend::Sqlite).await;
    let paths = |i: usize| match i % 3 {
        0 => format!("/users/nobody{i}"),
        1 => format!("/no/such/route/{i}"),
        _ => format!("/projects/{}", uuid::Uuid::new_v4()),
    };
    // The first of each kind makes its series (one per route template and status).
    for i in 0..3 {
        assert_eq!(t.get(&paths(i), None).await.status, 404);
    }
    let before = metric_series(&t).await;
    let rss_before = rss_kib();
    let statuses: Vec<StatusCode> = futures::stream::iter(3..10_003)
        .map(|i| {
            let client = t.client.clone();
            let url = format!("{}{}", t.url, paths(i));
            async move { client.get(url).send().await.expect("answered").status() }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::NOT_FOUND));
    // The scrape itself adds its own series once; take it before and after alike.
    let _ = metric_series(&t).await;
    let after = metric_series(&t).await;
    assert!(
        after <= before + 20,
        "10 000 distinct paths grew the series from {before} to {after}"
    );
    let scrape = t.get("/metrics", None).await.body;
    let text = scrape.as_str().unwrap();
    assert!(text.contains("route=\"/users/{username}\""), "{text}");
    assert!(text.contains("route=\"unmatched\""), "{text}");
    assert!(text.contains("route=\"/projects/{project_id}\""), "{text}");
    assert!(!text.contains("nobody"), "a raw path leaked into a label");
    // The node runs in this process (nextest gives each test its own): before the fix
    // these 10 000 paths cost it well over 10 MB of series, kept for good.
    let (before, after) = (rss_before.expect("VmRSS"), rss_kib().expect("VmRSS"));
    eprintln!(
        "RSS of the test process (node in-process): {before} KiB before, {after} KiB after 10 000 distinct paths"
    );
    assert!(after < before + 10 * 1024, "RSS grew from {before} KiB to {after} KiB");
    t.shutdown().await;
}

async fn control_characters_are_refused_the_same_everywhere(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("ctrl").await;
    let bad_bodies = [
        ("/projects", Method::POST, json!({"title": "a\u{0}b"})),
        (
            "/projects",
            Method::POST,
            json!({"title": "ok", "description": "x\u{1b}[31m"}),
        ),
        ("/projects", Method::POST, json!({"title": "ok", "tags": ["a\u{0}"]})),
        ("/profile/me", Method::PUT, json!({"name": "a\u{0}b"})),
        ("/profile/me", Method::PUT, json!({"bio": "carriage\rreturn"})),
        (
            "/profile/me",
            Method::PUT,
            json!({"social_links": {"github": "a\u{0}"}}),
        ),
        (
            "/profile/me",
            Method::PUT,
            json!({"social_links": {"git\u{0}hub": "a"}}),
        ),
    ];
    for (path, method, body) in bad_bodies {
        t.request(method, path, Some(&u.access), Some(body.clone()))
            .await
            .assert_error(400, "invalid_text");
    }
    t.post(
        "/auth/register",
        json!({"username": "nul\u{0}", "email": "nul@folio.test", "password": "password-123"}),
    )
    .await
    .assert_error(400, "invalid_text");
    // Tab and newline are text.
    let fine = t
        .create_project(&u.access, json!({"title": "tab\there", "description": "two\nlines"}))
        .await;
    assert_eq!(fine["description"], "two\nlines");
    // Nothing was stored by the refused requests.
    let listed = t.get(&format!("/projects/user/{}", u.user_id), None).await;
    assert_eq!(listed.body["total"], 1, "{}", listed.body);
    assert!(t.get("/profile/me", Some(&u.access)).await.body["name"].is_null());
    // In a path a NUL names nothing; in a query it is refused.
    t.get("/users/a%00b", None).await.assert_error(404, "not_found");
    t.get("/users/ctrl%0D", None).await.assert_error(404, "not_found");
    t.get("/search?query=a%00b", None)
        .await
        .assert_error(400, "invalid_text");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_pages_are_answered() {
    let t = TestNode::spawn(Backend::Postgres).await;
    let u = t.user("pager").await;
    let max = u64::MAX;
    for path in [
        format!("/projects/user/{}?page={max}&size=100", u.user_id),
        format!("/projects/user/{}?page={}&size=100", u.user_id, i64::MAX),
        format!("/media?page={max}&size=100"),
    ] {
        let reply = t.get(&path, Some(&u.access)).await;
        reply.assert_error(400, "invalid_page");
    }
    let edge = t
        .get(
            &format!("/projects/user/{}?page=1000000000000000&size=100", u.user_id),
            None,
        )
        .await;
    assert_eq!(edge.status, 200, "{}", edge.body);
    assert_eq!(edge.body["projects"], json!([]));
    let search = t.get(&format!("/search?page={max}"), None).await;
    search.assert_error(400, "invalid_page");
    t.shutdown().await;
}

/// Whatever page, size and query text a client sends, the node answers with a status
/// below 500 and the connection is not dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_parameters_never_break_the_node() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let t = TestNode::spawn(Backend::Postgres).await;
    let u = t.user("prop").await;
    let number = prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        (0u64..300).prop_map(|n| n.to_string()),
        Just(u64::MAX.to_string()),
        Just("18446744073709551616".to_string()),
        "[0-9eE.+-]{0,25}",
        "\\PC{0,12}",
    ];
    let text = prop_oneof!["\\PC{0,40}", "[a-z %&=+#?]{0,30}", ".{0,20}"];
    let strategy = (number.clone(), number, text, 0usize..4);
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |(page, size, q, route)| {
            let encode = |s: &str| -> String { url_encode(s) };
            let path = match route {
                0 => format!(
                    "/projects/user/{}?page={}&size={}",
                    u.user_id,
                    encode(&page),
                    encode(&size)
                ),
                1 => format!("/media?page={}&size={}", encode(&page), encode(&size)),
                2 => format!(
                    "/search?query={}&tags={}&page={}&size={}",
                    encode(&q),
                    encode(&q),
                    encode(&page),
                    encode(&size)
                ),
                _ => format!("/search/suggest?query={}", encode(&q)),
            };
            let url = format!("{}{path}", t.url);
            let client = t.client.clone();
            let token = u.access.clone();
            let outcome = handle.block_on(async move {
                client
                    .get(url)
                    .bearer_auth(token)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
            });
            match outcome {
                Ok(response) => prop_assert!(
                    response.status().as_u16() < 500,
                    "{path} answered {}",
                    response.status()
                ),
                Err(e) => prop_assert!(false, "{path}: no answer: {e}"),
            }
            Ok(())
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    t.shutdown().await;
}

fn url_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_tells_the_truth() {
    let t = TestNode::spawn(Backend::Sqlite).await;
    let spec = t.get("/openapi.json", None).await.body;
    let schemas = &spec["components"]["schemas"];
    let schema = |name: &str| -> &Value {
        let found = &schemas[name];
        assert!(found.is_object(), "schema {name} missing");
        found
    };
    assert_eq!(schema("ProjectReply")["properties"]["link"]["nullable"], true);
    assert_eq!(schema("ProjectReply")["properties"]["thumbnail_url"]["nullable"], true);
    assert_eq!(schema("ProfileReply")["properties"]["name"]["nullable"], true);
    assert_eq!(schema("SearchResult")["properties"]["thumbnail_url"]["nullable"], true);
    let required = |name: &str| -> Vec<String> {
        schema(name)["required"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    assert!(required("NewProjectBody").contains(&"title".to_string()));
    assert!(required("RegisterBody").contains(&"password".to_string()));
    assert_eq!(schema("NewProjectBody")["properties"]["title"]["maxLength"], 200);

    let operation = |path: &str, method: &str| spec["paths"][path][method].clone();
    let upload = operation("/media/upload", "post");
    let form = &upload["requestBody"]["content"]["multipart/form-data"]["schema"];
    assert_eq!(form["properties"]["file"]["format"], "binary", "{upload}");
    assert_eq!(form["required"], json!(["file"]));
    assert!(operation("/auth/verify", "get")["responses"]["401"].is_object());
    for status in ["405", "413", "415", "429", "503"] {
        assert!(
            operation("/projects", "post")["responses"][status].is_object(),
            "{status} undocumented"
        );
    }
    let page = operation("/projects/user/{user_id}", "get")["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "page")
        .cloned()
        .unwrap();
    assert_eq!(page["schema"]["minimum"], 1.0);
    assert!(page["schema"]["maximum"].is_number());

    // A wrong JSON type is 400, never coerced.
    let u = t.user("typed").await;
    for body in [
        json!({"title": 2.28e-76}),
        json!({"title": true}),
        json!({"title": "ok", "tags": [1]}),
    ] {
        t.request(Method::POST, "/projects", Some(&u.access), Some(body))
            .await
            .assert_error(400, "bad_request");
    }
    t.request(
        Method::POST,
        "/auth/logout",
        Some(&u.access),
        Some(json!({"refresh_token": 5})),
    )
    .await
    .assert_error(400, "bad_request");
    t.post("/auth/refresh", json!({"refresh_token": 12345}))
        .await
        .assert_error(400, "bad_request");
    t.post(
        "/auth/login",
        json!({"email": "typed@folio.test", "password": 12345678}),
    )
    .await
    .assert_error(400, "bad_request");
    t.shutdown().await;
}

fn multipart_stream_part(bytes: Vec<u8>) -> reqwest::multipart::Part {
    // A stream of unknown length: the request goes chunked, with no Content-Length for
    // the server to refuse up front, so the caps must hold while reading.
    let stream = futures::stream::iter(
        bytes
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(stream)).file_name("photo.png")
}

async fn send_form(t: &TestNode, token: &str, form: reqwest::multipart::Form) -> (StatusCode, Value) {
    let response = t
        .client
        .post(format!("{}/media/upload", t.url))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("answered");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_forms_are_capped_as_a_whole() {
    let t = TestNode::spawn(Backend::Sqlite).await;
    let u = t.user("former").await;
    let project = t.create_project(&u.access, json!({"title": "p"})).await;
    let project_id = project["id"].as_str().unwrap().to_string();
    // Parts past `file` and `project_id` (these used to be read and dropped, any number).
    let mut form = reqwest::multipart::Form::new().part("file", multipart_stream_part(common::png(8, 8)));
    for _ in 0..40 {
        form = form.text("project_id", project_id.clone());
    }
    let (status, body) = send_form(&t, &u.access, form).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "payload_too_large");

    // A part past its own cap, streamed (no Content-Length to refuse up front).
    let form = reqwest::multipart::Form::new()
        .part("file", multipart_stream_part(common::png(8, 8)))
        .part("project_id", multipart_stream_part(vec![b'a'; 100 * 1024]));
    let (status, body) = send_form(&t, &u.access, form).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "payload_too_large");

    // A field the form does not have.
    let form = reqwest::multipart::Form::new()
        .part("file", multipart_stream_part(common::png(8, 8)))
        .text("note", "hello");
    let (status, body) = send_form(&t, &u.access, form).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "bad_multipart");

    // A file just under its cap, with its project, is accepted.
    let mut image = common::png(16, 16);
    image.resize(5 * 1024 * 1024 - 1024, 0);
    let form = reqwest::multipart::Form::new()
        .part("file", multipart_stream_part(image))
        .text("project_id", project_id);
    let (status, body) = send_form(&t, &u.access, form).await;
    assert_eq!(status, 201, "{body}");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_from_one_address_over_many_accounts_are_throttled() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.auth.login_max_failures = 100;
        s.auth.login_max_failures_per_address = 5;
    })
    .await;
    t.user("victim").await;
    for i in 0..5 {
        t.login(&format!("sprayed{i}@folio.test"), "password-123")
            .await
            .assert_error(401, "invalid_credentials");
    }
    // The sixth account from the same address, even a real one with the right password.
    for email in ["sprayed5@folio.test", "victim@folio.test"] {
        let locked = t.login(email, "password-123").await;
        locked.assert_error(429, "too_many_attempts");
        let retry: u64 = locked.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry >= 1);
    }
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_hash_queue_answers_503_with_retry_after() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        // Production cost, so hashes overlap; one waiting hash at most.
        let defaults = folio::Settings::default();
        s.auth.argon2_memory_kib = defaults.auth.argon2_memory_kib;
        s.auth.argon2_iterations = defaults.auth.argon2_iterations;
        s.auth.hash_concurrency = Some(1);
        s.auth.hash_queue_limit = 1;
        s.auth.login_max_failures_per_address = 1000;
    })
    .await;
    let replies = futures::future::join_all((0..24).map(|i| {
        let client = t.client.clone();
        let url = format!("{}/auth/login", t.url);
        async move {
            let response = client
                .post(url)
                .json(&json!({"email": format!("flood{i}@folio.test"), "password": "password-123"}))
                .send()
                .await
                .expect("answered");
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").cloned();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, retry_after, body)
        }
    }))
    .await;
    let refused: Vec<_> = replies.iter().filter(|(status, _, _)| *status == 503).collect();
    assert!(!refused.is_empty(), "no login was refused: {replies:?}");
    for (_, retry_after, body) in &refused {
        assert_eq!(body["code"], "overloaded", "{body}");
        assert!(retry_after.is_some(), "503 without Retry-After");
    }
    assert!(
        replies.iter().all(|(status, _, _)| *status == 401 || *status == 503),
        "{replies:?}"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_hygiene_headers_cors_and_metrics_token() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.http.cors_origins = vec!["https://app.example".into()];
        s.ops.metrics_token = Some(folio::configuration::Secret::new("scrape-me"));
    })
    .await;
    let u = t.user("hygiene").await;
    let p = t.create_project(&u.access, json!({"title": "p"})).await;

    // 405 names the methods the path has.
    let wrong = t.request(Method::DELETE, "/auth/login", None, None).await;
    wrong.assert_error(405, "method_not_allowed");
    assert_eq!(wrong.headers["allow"], "POST");
    let wrong = t
        .request(
            Method::PATCH,
            &format!("/projects/{}", p["id"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.headers["allow"], "DELETE, GET, PUT");

    // Headers on API answers; no-store on authenticated JSON.
    let health = t.get("/health", None).await;
    assert_eq!(health.headers["x-content-type-options"], "nosniff");
    assert_eq!(health.headers["referrer-policy"], "no-referrer");
    let me = t.get("/profile/me", Some(&u.access)).await;
    assert_eq!(me.headers["cache-control"], "no-store");

    // CORS: the configured origin passes a preflight; another gets no grant.
    let preflight = |origin: &'static str| {
        t.client
            .request(Method::OPTIONS, format!("{}/projects", t.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // /metrics wants its token.
    t.get("/metrics", None).await.assert_error(401, "unauthorized");
    t.get("/metrics", Some(&u.access))
        .await
        .assert_error(401, "unauthorized");
    let scrape = t.get("/metrics", Some("scrape-me")).await;
    assert_eq!(scrape.status, 200);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default() {
    let t = TestNode::spawn(Backend::Sqlite).await;
    let preflight = t
        .client
        .request(Method::OPTIONS, format!("{}/projects", t.url))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(preflight.headers().get("access-control-allow-origin").is_none());
    t.shutdown().await;
}
