//! The node itself: actors driven directly, supervision, operations endpoints, and the
//! embedded-mode secret.

mod common;

use std::time::Duration;

use common::{Backend, TestNode, test_settings};
use folio::{Node, Settings};
use folio_actors::session::{Email, LoginCmd, Password, RegisterCmd, SessionError, Username};
use serde_json::json;

on_every_backend!(session_actor_directly, crashed_session_worker_is_replaced);

fn register_cmd(name: &str) -> RegisterCmd {
    RegisterCmd {
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@folio.test")).unwrap(),
        password: Password::parse("password-123").unwrap(),
    }
}

fn login_cmd(name: &str) -> LoginCmd {
    LoginCmd {
        email: Email::parse(&format!("{name}@folio.test")).unwrap(),
        password: Password::parse("password-123").unwrap(),
        client: "test".into(),
        user_agent: None,
    }
}

async fn session_actor_directly(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let session = &t.node().session;
    let registered = session.register(register_cmd("judy")).await.unwrap();
    assert!(matches!(
        session.register(register_cmd("judy")).await,
        Err(SessionError::UsernameTaken)
    ));
    let grant = session.login(login_cmd("judy")).await.unwrap();
    assert_eq!(grant.user.id, registered.user_id);
    let claims = session.verify(&grant.access_token).unwrap();
    assert_eq!(claims.sub, registered.user_id);
    assert_eq!(claims.username, "judy");
    assert_eq!(claims.iss, "folio");
    assert_eq!(claims.aud, "folio-api");
    assert_eq!(claims.exp - claims.iat, 900);
    t.shutdown().await;
}

async fn crashed_session_worker_is_replaced(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let session = &t.node().session;
    session.register(register_cmd("kim")).await.unwrap();
    let key = Email::parse("kim@folio.test").unwrap();
    let before = session.workers();
    let crashed = session.crash_worker_for(&key);
    // The supervisor puts a new worker in the slot…
    let started = std::time::Instant::now();
    while session.worker_id_for(&key) == crashed {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the crashed worker was not replaced"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // …and the next request for the same key is served by it.
    let grant = session.login(login_cmd("kim")).await.expect("login after the crash");
    assert_eq!(grant.user.username, "kim");
    assert_eq!(session.workers(), before);
    // And over HTTP, too.
    assert_eq!(t.login("kim@folio.test", "password-123").await.status, 200);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints() {
    let t = TestNode::spawn(Backend::Sqlite).await;
    let health = t.get("/health", None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, json!({"status": "ok"}));
    let ready = t.get("/ready", None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["ready"], true);
    assert_eq!(ready.body["checks"][0]["name"], "database");

    let id = health.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    let echoed = t
        .client
        .get(format!("{}/health", t.url))
        .header("x-request-id", "trace-abc_123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-abc_123");

    let metrics = t.get("/metrics", None).await;
    let text = metrics.body.as_str().unwrap();
    assert!(text.contains("folio_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/health\""), "{text}");
    // At 0 from the start, so an alert sees the first message that does not decode.
    assert!(text.contains("folio_cluster_decode_errors_total 0"), "{text}");

    let spec = t.get("/openapi.json", None).await;
    assert_eq!(spec.status, 200);
    for path in [
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/verify",
        "/health",
        "/ready",
        "/events",
        "/events/ticket",
        "/admin/cluster",
    ] {
        assert!(
            spec.body["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(spec.body["components"]["securitySchemes"]["BearerAuth"].is_object());
    let docs = t.client.get(format!("{}/docs", t.url)).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().to_lowercase().contains("swagger"));

    t.get("/no/such/route", None).await.assert_error(404, "not_found");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_reports_a_dead_database() {
    let t = TestNode::spawn(Backend::Postgres).await;
    let url = t.settings.database_url();
    let (admin, name) = url.rsplit_once('/').unwrap();
    let admin = sea_orm::Database::connect(format!("{admin}/postgres")).await.unwrap();
    use sea_orm::ConnectionTrait as _;
    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    let ready = t.get("/ready", None).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.body["ready"], false);
    assert_eq!(t.get("/health", None).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_keeps_a_private_generated_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings: Settings = test_settings(dir.path());
    settings.auth.jwt_secret = None;
    let node = Node::start(&settings).await.unwrap();
    let secret_file = dir.path().join("jwt_secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let url = node.base_url();
    let client = reqwest::Client::new();
    let reg = client
        .post(format!("{url}/auth/register"))
        .json(&json!({"username": "leo", "email": "leo@folio.test", "password": "password-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 201);
    let login: serde_json::Value = client
        .post(format!("{url}/auth/login"))
        .json(&json!({"email": "leo@folio.test", "password": "password-123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    node.shutdown().await;

    // A restart on the same data dir keeps the data and the secret.
    let node = Node::start(&settings).await.unwrap();
    let verify = client
        .get(format!("{}/auth/verify", node.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 200);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_password_cost_works_end_to_end() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        let defaults = Settings::default();
        s.auth.argon2_memory_kib = defaults.auth.argon2_memory_kib;
        s.auth.argon2_iterations = defaults.auth.argon2_iterations;
        s.auth.argon2_parallelism = defaults.auth.argon2_parallelism;
    })
    .await;
    assert_eq!(t.settings.auth.argon2_memory_kib, 19 * 1024);
    let tokens = t.user("mia").await;
    let stored: String = {
        use sea_orm::EntityTrait as _;
        folio_entities::users::Entity::find_by_id(uuid::Uuid::parse_str(&tokens.user_id).unwrap())
            .one(&t.node().db)
            .await
            .unwrap()
            .unwrap()
            .password_hash
    };
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let t = TestNode::spawn(Backend::Sqlite).await;
    t.user("nina").await;
    let url = t.url.clone();
    let client = t.client.clone();
    let in_flight = tokio::spawn(async move {
        client
            .post(format!("{url}/auth/login"))
            .json(&json!({"email": "nina@folio.test", "password": "password-123"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    t.shutdown().await;
    let status = in_flight.await.unwrap();
    // Either it was answered before the listener closed, or it never got in: it is
    // never cut off half-way.
    match status {
        Ok(code) => assert_eq!(code, 200),
        Err(e) => assert!(e.is_connect(), "{e}"),
    }
}

#[test]
fn a_misspelt_role_stops_the_binary_with_the_valid_roles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_folio"))
        .arg("migrate")
        .env("FOLIO_DATA_DIR", dir.path())
        .env("FOLIO_ROLES", "thumbnailr")
        .output()
        .expect("folio runs");
    assert!(!output.status.success(), "folio started with FOLIO_ROLES=thumbnailr");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FOLIO_ROLES") && stderr.contains("\"thumbnailr\""),
        "{stderr}"
    );
    for role in ["http", "thumbnailer", "indexer", "all"] {
        assert!(stderr.contains(role), "{role} missing from: {stderr}");
    }
    // Nothing was started: the settings failed before the database was touched.
    assert!(!dir.path().join("folio.db").exists());
}
