//! Test harness: every test starts its own node on port 0 with its own database (a
//! fresh SQLite file, or a fresh PostgreSQL database), so tests run in parallel.

#![allow(dead_code)]

pub mod browser;
pub mod nodes;

use std::time::Duration;

use folio::{
    Node, Settings,
    configuration::{BusBackend, DatabaseBackend, Secret},
};
use reqwest::{Method, StatusCode, header::HeaderMap};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

fn admin_database_url() -> String {
    std::env::var("FOLIO_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// Creates an empty database for one test and returns its URL. PostgreSQL must be
/// running: these tests fail loudly rather than skip.
pub async fn fresh_postgres_database() -> String {
    let admin_url = admin_database_url();
    let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is required for this test and is not reachable at {admin_url}: {e}. Run scripts/test.sh, which starts it.")
    });
    let name = format!("folio_t_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("creating the test database");
    let _ = admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}

pub fn test_settings(dir: &std::path::Path) -> Settings {
    let mut settings = Settings::default();
    settings.http.addr = "127.0.0.1:0".parse().expect("a literal socket address");
    settings.node.data_dir = dir.to_path_buf();
    settings.node.shutdown_grace = Duration::from_secs(5);
    settings.auth.jwt_secret = Some(Secret::new(TEST_JWT_SECRET));
    // Production cost is exercised by one dedicated test; the rest stay fast.
    settings.auth.argon2_memory_kib = 64;
    settings.auth.argon2_iterations = 1;
    settings.auth.session_workers = 4;
    settings
}

pub struct TestNode {
    pub node: Option<Node>,
    pub url: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub backend: Backend,
    pub dir: tempfile::TempDir,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert!(
            self.body["error"].as_str().is_some_and(|m| !m.is_empty()),
            "error message missing: {}",
            self.body
        );
    }
}

pub struct Tokens {
    pub user_id: String,
    pub access: String,
    pub refresh: String,
}

impl TestNode {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = test_settings(dir.path());
        if backend == Backend::Postgres {
            settings.database.backend = DatabaseBackend::postgres(fresh_postgres_database().await);
        }
        tweak(&mut settings);
        let node = Node::start(&settings).await.expect("node starts");
        Self {
            url: node.base_url(),
            node: Some(node),
            client: reqwest::Client::new(),
            settings,
            backend,
            dir,
        }
    }

    pub fn node(&self) -> &Node {
        self.node.as_ref().expect("node running")
    }

    pub async fn request(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body, headers }
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, None, Some(body)).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.request(Method::GET, path, bearer, None).await
    }

    pub async fn register(&self, username: &str, email: &str, password: &str) -> Reply {
        self.post(
            "/auth/register",
            json!({"username": username, "email": email, "password": password}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post("/auth/login", json!({"email": email, "password": password}))
            .await
    }

    /// Registers and logs in `name` (email `name@folio.test`, a fixed password).
    pub async fn user(&self, name: &str) -> Tokens {
        let email = format!("{name}@folio.test");
        let registered = self.register(name, &email, "password-123").await;
        assert_eq!(registered.status, 201, "{}", registered.body);
        let login = self.login(&email, "password-123").await;
        assert_eq!(login.status, 200, "{}", login.body);
        Tokens {
            user_id: login.body["user"]["id"].as_str().unwrap().to_string(),
            access: login.body["access_token"].as_str().unwrap().to_string(),
            refresh: login.body["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(node) = self.node.take() {
            tokio::time::timeout(Duration::from_secs(30), node.shutdown())
                .await
                .expect("node shuts down");
        }
    }
}

/// Generates one test per backend from an `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Stream and subject prefixes of one test, so tests share the NATS server without
/// seeing each other's events.
pub fn nats_isolation(settings: &mut Settings, nats_url: &str) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    settings.bus.backend = BusBackend::JetStream(nats_url.to_string());
    settings.bus.stream_prefix = format!("T{}_", &id[..12]);
    settings.bus.subject_prefix = format!("t{}.", &id[..12]);
    settings.cluster.bucket = format!("T{}_nodes", &id[..12]);
}

pub fn shared_nats_url() -> String {
    std::env::var("FOLIO_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_string())
}

impl TestNode {
    /// A node whose events go to the shared NATS server (which must be running).
    pub async fn spawn_on_nats(backend: Backend) -> Self {
        let url = shared_nats_url();
        Self::spawn_with(backend, |s| nats_isolation(s, &url)).await
    }

    pub async fn put(&self, path: &str, bearer: Option<&str>, body: Value) -> Reply {
        self.request(Method::PUT, path, bearer, Some(body)).await
    }

    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.request(Method::DELETE, path, bearer, None).await
    }

    pub async fn create_project(&self, bearer: &str, body: Value) -> Value {
        let reply = self.request(Method::POST, "/projects", Some(bearer), Some(body)).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body
    }
}

/// Every event in this node's JetStream stream for `event_type`'s domain, in order.
pub async fn stream_events(node: &Node, event_type: &str) -> Vec<Value> {
    use folio_actors::events::JetStreamBus;
    let bus = node.bus.clone();
    let bus: &JetStreamBus = bus_as_jetstream(&bus);
    let mut stream = bus.stream(event_type).await.expect("stream exists");
    let info = stream.info().await.expect("stream info");
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    let mut events = Vec::new();
    if info.state.messages == 0 {
        return events;
    }
    for seq in first..=last {
        if let Ok(message) = stream.get_raw_message(seq).await {
            let mut event: Value = serde_json::from_slice(&message.payload).expect("payload is JSON");
            event["_subject"] = json!(message.subject.to_string());
            events.push(event);
        }
    }
    events
}

/// The node's bus as JetStream, for tests that reach into NATS.
pub fn bus_as_jetstream(
    bus: &std::sync::Arc<dyn folio_actors::events::EventBus>,
) -> &folio_actors::events::JetStreamBus {
    assert_eq!(bus.name(), "jetstream", "this test needs a node on NATS");
    bus.as_any().downcast_ref().expect("JetStreamBus")
}

/// Polls `check` until it returns `Some`, or fails the test after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A PNG of the given size (a gradient, so it compresses like a picture).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
    out.into_inner()
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, 64, (y % 256) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).expect("encode jpeg");
    out.into_inner()
}

impl TestNode {
    pub async fn upload(&self, bearer: Option<&str>, bytes: Vec<u8>, name: &str, project_id: Option<&str>) -> Reply {
        let mut form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
        if let Some(project_id) = project_id {
            form = form.text("project_id", project_id.to_string());
        }
        let mut request = self.client.post(format!("{}/media/upload", self.url)).multipart(form);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("upload sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body, headers }
    }

    /// Waits until the upload's thumbnail is no longer pending and returns its metadata.
    pub async fn settled_media(&self, bearer: &str, file_id: &str) -> Value {
        eventually(Duration::from_secs(30), "the thumbnail to settle", || async {
            let reply = self.get(&format!("/media/{file_id}"), Some(bearer)).await;
            (reply.status == 200 && reply.body["thumbnail_status"] != "pending").then_some(reply.body)
        })
        .await
    }
}

/// An open `GET /events` stream, read event by event.
pub struct SseStream {
    response: reqwest::Response,
    buffer: String,
}

impl SseStream {
    /// Opens `url` (the whole `/events…` URL); the response must be a 200 stream.
    pub async fn open(url: &str, bearer: Option<&str>) -> Result<Self, Reply> {
        let mut request = reqwest::Client::new().get(url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("events request sent");
        if response.status() != StatusCode::OK {
            let status = response.status();
            let headers = response.headers().clone();
            let text = response.text().await.unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
            return Err(Reply { status, body, headers });
        }
        Ok(Self {
            response,
            buffer: String::new(),
        })
    }

    /// The next event as (name, data); `None` when none comes within `limit` or the
    /// stream ends. Keep-alive comments are skipped.
    pub async fn next_event(&mut self, limit: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        name = Some(value.trim().to_string());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if let Some(name) = name {
                    return Some((name, serde_json::from_str(&data).unwrap_or(Value::String(data))));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Waits for the named event whose data matches `wanted`, skipping others.
    pub async fn expect_event(&mut self, name: &str, limit: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Some((event, data)) if event == name && wanted(&data) => return data,
                Some(_) => continue,
                None => panic!("no {name} event within {limit:?}"),
            }
        }
    }
}
