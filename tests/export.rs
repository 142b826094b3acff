//! Account export and import (issue 21 §3): `POST /profile/me/export` answers 202, the
//! archive is written to the blob store as it is built, `export.ready` arrives live and
//! `GET /profile/me/export` has the signed link; the ZIP holds `profile.json`,
//! `projects.json` and every original; `folio import` loads it into a fresh node, and the
//! two accounts compare equal. On SQLite and PostgreSQL, on the in-process bus and
//! JetStream, with the local blob store and S3 (s3s-fs). Also: one export at a time, a
//! silent running export failed so its owner can start another, an export interrupted
//! halfway resumed, links that expire and archives swept, and an account deletion that
//! takes the archives with it.

mod common;

use std::{io::Read as _, time::Duration};

use common::{Backend, SseStream, TestNode, Tokens, eventually, jpeg, nats_isolation, png, shared_nats_url};
use folio_entities::account_exports;
use folio_testkit::blobs::S3sFs;
use reqwest::Method;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Clone, Copy)]
enum Bus {
    InProcess,
    JetStream,
}

#[derive(Clone, Copy)]
enum Store {
    Local,
    S3,
}

macro_rules! export_matrix {
    ($($name:ident: $backend:ident, $bus:ident, $store:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                export_round_trips_through_import(Backend::$backend, Bus::$bus, Store::$store).await
            }
        )*
    };
}

export_matrix! {
    round_trip_sqlite_in_process_local_store: Sqlite, InProcess, Local;
    round_trip_postgres_in_process_local_store: Postgres, InProcess, Local;
    round_trip_sqlite_jetstream_s3: Sqlite, JetStream, S3;
    round_trip_postgres_jetstream_s3: Postgres, JetStream, S3;
}

on_every_backend!(
    one_export_runs_at_a_time_and_a_silent_one_is_failed,
    links_expire_and_the_sweep_deletes_the_archive,
    an_export_interrupted_halfway_resumes,
);

/// A node on the given bus and store (each node its own bucket).
async fn node(backend: Backend, bus: Bus, s3: Option<&S3sFs>, tweak: impl FnOnce(&mut folio::Settings)) -> TestNode {
    let nats = shared_nats_url();
    let bucket = format!("exp-{}", &Uuid::new_v4().simple().to_string()[..12]);
    TestNode::spawn_with(backend, |s| {
        if matches!(bus, Bus::JetStream) {
            nats_isolation(s, &nats);
        }
        if let Some(s3) = s3 {
            s.blobs = folio::configuration::BlobBackend::S3(folio::configuration::S3Blobs::new(
                s3.endpoint.clone(),
                s3.access_key.clone(),
                s3.secret_key.clone(),
                bucket,
            ));
        }
        tweak(s);
    })
    .await
}

/// Uploads an image and waits for its thumbnail; returns the file id.
async fn image(t: &TestNode, u: &Tokens, bytes: Vec<u8>, name: &str, project: Option<&str>) -> String {
    let upload = t.upload(Some(&u.access), bytes, name, project).await;
    assert_eq!(upload.status, 201, "{}", upload.body);
    let file_id = upload.body["file_id"].as_str().expect("file id").to_string();
    let settled = t.settled_media(&u.access, &file_id).await;
    assert_eq!(settled["thumbnail_status"], "ready", "{settled}");
    file_id
}

/// A user with a profile, two projects (two images in one, one in the other) and an
/// image filed under no project.
async fn portfolio(t: &TestNode, u: &Tokens) {
    let profile = t
        .put(
            "/profile/me",
            Some(&u.access),
            json!({"name": "Alice Tan", "bio": "Paints.\nSometimes.", "contact": "alice@example.com",
                   "social_links": {"github": "alice", "site": "https://alice.example"},
                   "avatar_url": "https://cdn.example/alice.png"}),
        )
        .await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    let first = t
        .create_project(
            &u.access,
            json!({"title": "Harbour studies", "description": "Boats at dawn", "tags": ["paint", "sea"],
                   "link": "https://alice.example/harbour"}),
        )
        .await;
    let first = first["id"].as_str().unwrap().to_string();
    image(t, u, jpeg(64, 48), "dawn.jpg", Some(&first)).await;
    image(t, u, png(40, 30), "dusk.png", Some(&first)).await;
    let second = t
        .create_project(&u.access, json!({"title": "Sketchbook", "tags": ["ink"]}))
        .await;
    let second = second["id"].as_str().unwrap().to_string();
    image(t, u, jpeg(30, 60), "tall.jpg", Some(&second)).await;
    image(t, u, png(20, 20), "loose.png", None).await;
}

/// The account as the API shows it, minus what differs between nodes (ids, times,
/// URLs): the profile, and each project (oldest first) with its images in order, each
/// image by name and the bytes of its original.
async fn account_snapshot(t: &TestNode, access: &str, user_id: &str) -> Value {
    let me = t.get("/profile/me", Some(access)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let mut media: Vec<Value> = Vec::new();
    let listed = t.get("/media?page=1&size=100", Some(access)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    for file in listed.body["files"].as_array().expect("files") {
        let original = t
            .client
            .get(file["file_url"].as_str().expect("file_url"))
            .send()
            .await
            .expect("original fetched")
            .bytes()
            .await
            .expect("original read");
        media.push(json!({
            "project_id": file["project_id"],
            "original_filename": file["original_filename"],
            "mime_type": file["mime_type"],
            "created_at": file["created_at"],
            "sha256": sha256(&original),
        }));
    }
    media.sort_by_key(|m| m["created_at"].as_str().unwrap_or_default().to_string());
    let projects = t
        .get(&format!("/projects/user/{user_id}?page=1&size=100"), Some(access))
        .await;
    assert_eq!(projects.status, 200, "{}", projects.body);
    let mut projects: Vec<Value> = projects.body["projects"].as_array().expect("projects").clone();
    projects.sort_by_key(|p| p["created_at"].as_str().unwrap_or_default().to_string());
    let images_of = |project: &Value| -> Vec<Value> {
        media
            .iter()
            .filter(|m| m["project_id"] == *project)
            .map(|m| json!([m["original_filename"], m["mime_type"], m["sha256"]]))
            .collect()
    };
    json!({
        "username": me.body["username"],
        "email": me.body["email"],
        "name": me.body["name"],
        "bio": me.body["bio"],
        "contact": me.body["contact"],
        "social_links": me.body["social_links"],
        "avatar_url": me.body["avatar_url"],
        "projects": projects.iter().map(|p| json!({
            "title": p["title"],
            "description": p["description"],
            "tags": p["tags"],
            "link": p["link"],
            "images": images_of(&p["id"]),
        })).collect::<Vec<_>>(),
        "unfiled": images_of(&Value::Null),
    })
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

async fn start_export(t: &TestNode, access: &str) -> common::Reply {
    t.request(Method::POST, "/profile/me/export", Some(access), None).await
}

/// Waits until the user's newest export is no longer running.
async fn settled_export(t: &TestNode, access: &str) -> Value {
    eventually(Duration::from_secs(60), "the export to settle", || async {
        let reply = t.get("/profile/me/export", Some(access)).await;
        (reply.status == 200 && reply.body["status"] != "running").then_some(reply.body)
    })
    .await
}

async fn download(t: &TestNode, url: &str, bearer: Option<&str>) -> reqwest::Response {
    let mut request = t.client.get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("download sent")
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn export_round_trips_through_import(backend: Backend, bus: Bus, store: Store) {
    let s3 = matches!(store, Store::S3).then(S3sFs::start);
    let a = node(backend, bus, s3.as_ref(), |_| {}).await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    portfolio(&a, &alice).await;
    let before = account_snapshot(&a, &alice.access, &alice.user_id).await;
    assert_eq!(before["projects"][0]["images"].as_array().map(Vec::len), Some(2));

    // No export yet.
    a.get("/profile/me/export", Some(&alice.access))
        .await
        .assert_error(404, "export_not_found");

    let mut live = SseStream::open(&format!("{}/events", a.url), Some(&alice.access))
        .await
        .expect("events stream");
    let started = start_export(&a, &alice.access).await;
    assert_eq!(started.status, 202, "{}", started.body);
    assert_eq!(started.body["status"], "running");
    let export_id = started.body["export_id"].as_str().expect("export id").to_string();

    let ready = live
        .expect_event("export.ready", Duration::from_secs(60), |e| e["export_id"] == export_id)
        .await;
    let status = settled_export(&a, &alice.access).await;
    assert_eq!(status["status"], "ready", "{status}");
    assert_eq!(status["export_id"], export_id.as_str());
    assert_eq!(status["projects"], 2);
    assert_eq!(status["files"], 4);
    let url = status["download_url"].as_str().expect("a link once ready").to_string();
    assert_eq!(ready["url"], url.as_str(), "the live event carries the same link");
    assert_eq!(ready["size_bytes"], status["size_bytes"]);
    let expires_at = chrono::DateTime::parse_from_rfc3339(status["expires_at"].as_str().unwrap()).unwrap();
    let ttl = expires_at.signed_duration_since(chrono::Utc::now());
    assert!(
        ttl > chrono::Duration::hours(23) && ttl <= chrono::Duration::hours(24),
        "the link lives 24 h: {ttl}"
    );

    // Only the owner fetches it, with the link as signed.
    let (code, body) = error_of(download(&a, &url, Some(&bob.access)).await).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (403, Some("invalid_export_link")),
        "{body}"
    );
    let (code, _) = error_of(download(&a, &url, None).await).await;
    assert_eq!(code, 401);
    let tampered = url.replace("signature=", "signature=00");
    let (code, body) = error_of(download(&a, &tampered, Some(&alice.access)).await).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (403, Some("invalid_export_link")),
        "{body}"
    );
    let expires = url.split("expires=").nth(1).unwrap().split('&').next().unwrap();
    let extended = url.replace(
        &format!("expires={expires}"),
        &format!("expires={}", expires.parse::<i64>().unwrap() + 3600),
    );
    let (code, body) = error_of(download(&a, &extended, Some(&alice.access)).await).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (403, Some("invalid_export_link")),
        "{body}"
    );

    let response = download(&a, &url, Some(&alice.access)).await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(".zip")),
        "{:?}",
        response.headers()
    );
    let archive = response.bytes().await.expect("archive read").to_vec();
    assert_eq!(archive.len() as u64, status["size_bytes"].as_u64().unwrap());

    // The archive: profile.json, projects.json, and every original, stored.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive.clone())).expect("a ZIP");
    let names: Vec<String> = zip.file_names().map(|n| n.expect("a name").into_owned()).collect();
    assert!(names.contains(&"profile.json".to_string()), "{names:?}");
    assert!(names.contains(&"projects.json".to_string()), "{names:?}");
    let originals: Vec<&String> = names.iter().filter(|n| n.starts_with("media/")).collect();
    assert_eq!(originals.len(), 4, "{names:?}");
    assert!(originals.iter().any(|n| n.starts_with("media/unfiled/")), "{names:?}");
    for name in &originals {
        let entry = zip.by_name(name).expect("entry");
        assert_eq!(entry.compression(), zip::CompressionMethod::Stored, "{name}");
    }
    let mut projects_json = String::new();
    zip.by_name("projects.json")
        .unwrap()
        .read_to_string(&mut projects_json)
        .unwrap();
    let projects: Value = serde_json::from_str(&projects_json).unwrap();
    assert_eq!(projects["format"], "folio-export/1");
    let harbour = &projects["projects"][0];
    assert_eq!(harbour["title"], "Harbour studies");
    let names_in_order: Vec<&str> = harbour["media"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["original_filename"].as_str().unwrap())
        .collect();
    assert_eq!(names_in_order, ["dawn.jpg", "dusk.png"], "upload order");
    assert_eq!(harbour["media"][1]["position"], 1);
    let mut profile_json = String::new();
    zip.by_name("profile.json")
        .unwrap()
        .read_to_string(&mut profile_json)
        .unwrap();
    let profile: Value = serde_json::from_str(&profile_json).unwrap();
    assert_eq!(profile["username"], "alice");
    assert_eq!(profile["social_links"]["github"], "alice");

    // Into a fresh node: the account is created and compares equal.
    let path = a.dir.path().join("alice-export.zip");
    std::fs::write(&path, &archive).unwrap();
    let b = node(backend, bus, s3.as_ref(), |_| {}).await;
    let mut steps = Vec::new();
    // As `folio import` run beside node B: its media URLs are B's.
    let mut settings = b.settings.clone();
    settings.media.public_url = Some(b.url.clone());
    let report = folio::import::import(
        &settings,
        folio::import::ImportRequest {
            archive: path.clone(),
            email: "alice@folio.test".into(),
            username: None,
        },
        |p| steps.push((p.done, p.total)),
    )
    .await
    .expect("import");
    assert_eq!((report.projects, report.files, report.missing), (2, 4, 0));
    assert_eq!(
        steps.last().copied(),
        Some((7, 7)),
        "progress over profile, projects, images"
    );
    let password = report.created_password.expect("the account was created");
    let login = b.login("alice@folio.test", &password).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let access = login.body["access_token"].as_str().unwrap().to_string();
    let user_id = login.body["user"]["id"].as_str().unwrap().to_string();
    let after = account_snapshot(&b, &access, &user_id).await;
    assert_eq!(after, before, "the imported account matches the exported one");
    // Thumbnails follow on the importing node, through its outbox.
    let listed = b.get("/media?page=1&size=100", Some(&access)).await;
    for file in listed.body["files"].as_array().unwrap() {
        let settled = b.settled_media(&access, file["file_id"].as_str().unwrap()).await;
        assert_eq!(settled["thumbnail_status"], "ready", "{settled}");
    }

    // Deleting the account takes its export's archive with it.
    let key = format!("exports/{}/{export_id}.zip", alice.user_id);
    a.node().blobs.head(&key).await.expect("the archive is stored");
    let deleted = a
        .request(
            Method::DELETE,
            "/profile/me",
            Some(&alice.access),
            Some(json!({"password": "password-123"})),
        )
        .await;
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    let db = a.node().db.clone();
    let alice_id: Uuid = alice.user_id.parse().unwrap();
    eventually(
        Duration::from_secs(60),
        "the export rows to go with the account",
        || async {
            (account_exports::Entity::find()
                .filter(account_exports::Column::UserId.eq(alice_id))
                .count(&db)
                .await
                .unwrap()
                == 0)
                .then_some(())
        },
    )
    .await;
    assert!(matches!(
        a.node().blobs.head(&key).await,
        Err(folio_media::BlobError::NotFound(_))
    ));
    b.shutdown().await;
    a.shutdown().await;
}

/// A running export as a node that died would leave it: claimed, its heartbeat `age` old.
async fn running_row(t: &TestNode, user_id: &str, age: chrono::Duration) -> Uuid {
    let id = Uuid::now_v7();
    let user_id: Uuid = user_id.parse().unwrap();
    let at = chrono::Utc::now() - age;
    account_exports::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        status: Set("running".into()),
        requested_at: Set(at),
        heartbeat_at: Set(at),
        claim: Set(Some(Uuid::new_v4())),
        attempts: Set(1),
        blob_key: Set(format!("exports/{user_id}/{id}.zip")),
        completed_at: Set(None),
        expires_at: Set(None),
        size_bytes: Set(None),
        projects: Set(None),
        files: Set(None),
        error: Set(None),
    }
    .insert(&t.node().db)
    .await
    .expect("inserting a running export");
    id
}

async fn one_export_runs_at_a_time_and_a_silent_one_is_failed(backend: Backend) {
    let t = TestNode::spawn_with(backend, |s| {
        s.auth.export_stale = std::time::Duration::from_secs(30);
        s.auth.export_give_up = std::time::Duration::from_secs(120);
    })
    .await;
    let u = t.user("carol").await;
    let other = t.user("dave").await;

    // A run that is alive (its heartbeat is fresh): a second request is refused.
    let live = running_row(&t, &u.user_id, chrono::Duration::seconds(1)).await;
    start_export(&t, &u.access).await.assert_error(409, "export_running");
    let status = t.get("/profile/me/export", Some(&u.access)).await;
    assert_eq!(status.body["status"], "running", "{}", status.body);
    // Someone else's export is not in the way.
    let theirs = start_export(&t, &other.access).await;
    assert_eq!(theirs.status, 202, "{}", theirs.body);

    // Its node died: after the stale period a new request fails it, visibly, and starts.
    account_exports::Entity::update_many()
        .col_expr(
            account_exports::Column::HeartbeatAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::seconds(31)),
        )
        .filter(account_exports::Column::Id.eq(live))
        .exec(&t.node().db)
        .await
        .unwrap();
    let started = start_export(&t, &u.access).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let old = account_exports::Entity::find_by_id(live)
        .one(&t.node().db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.status, "failed");
    assert!(
        old.error.as_deref().is_some_and(|e| e.contains("interrupted")),
        "{old:?}"
    );
    let status = settled_export(&t, &u.access).await;
    assert_eq!(status["status"], "ready", "{status}");
    assert_eq!(status["files"], 0);

    // Nobody asks again: the sweep fails it after the give-up period all the same.
    let gina = t.user("gina").await;
    let abandoned = running_row(&t, &gina.user_id, chrono::Duration::seconds(121)).await;
    let report = t.node().exports.sweep().await.expect("sweep");
    assert!(report.failed >= 1, "{report:?}");
    let row = account_exports::Entity::find_by_id(abandoned)
        .one(&t.node().db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "failed", "{row:?}");
    t.shutdown().await;
}

async fn links_expire_and_the_sweep_deletes_the_archive(backend: Backend) {
    let t = TestNode::spawn_with(backend, |s| {
        s.auth.export_link_ttl = std::time::Duration::from_secs(2);
        s.auth.export_sweep = std::time::Duration::from_secs(1);
    })
    .await;
    let u = t.user("erin").await;
    image(&t, &u, png(16, 16), "one.png", None).await;
    let started = start_export(&t, &u.access).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let status = settled_export(&t, &u.access).await;
    assert_eq!(status["status"], "ready", "{status}");
    let url = status["download_url"].as_str().unwrap().to_string();
    let key = format!("exports/{}/{}.zip", u.user_id, status["export_id"].as_str().unwrap());
    assert_eq!(download(&t, &url, Some(&u.access)).await.status(), 200);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, body) = error_of(download(&t, &url, Some(&u.access)).await).await;
    assert_eq!((code, body["code"].as_str()), (403, Some("link_expired")), "{body}");
    let expired = eventually(Duration::from_secs(30), "the sweep", || async {
        let reply = t.get("/profile/me/export", Some(&u.access)).await;
        (reply.body["status"] == "expired").then_some(reply.body)
    })
    .await;
    assert!(expired["download_url"].is_null(), "{expired}");
    assert!(matches!(
        t.node().blobs.head(&key).await,
        Err(folio_media::BlobError::NotFound(_))
    ));
    // A new export may start.
    assert_eq!(start_export(&t, &u.access).await.status, 202);
    t.shutdown().await;
}

/// The exporter dies halfway through the archive (an injected panic, as a crash would
/// stop it): the half-written archive never appears, the delivery comes back once the
/// export's heartbeat is stale, and the export is built again and finishes.
async fn an_export_interrupted_halfway_resumes(backend: Backend) {
    let t = TestNode::spawn_with(backend, |s| s.auth.export_stale = std::time::Duration::from_secs(2)).await;
    let u = t.user("frank").await;
    image(&t, &u, png(64, 64), "a.png", None).await;
    image(&t, &u, png(32, 32), "b.png", None).await;
    folio_actors::faults::arm(folio_actors::faults::FaultPoint::Export, 1);
    let started = start_export(&t, &u.access).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let status = settled_export(&t, &u.access).await;
    assert_eq!(status["status"], "ready", "{status}");
    assert_eq!(status["files"], 2);
    let id: Uuid = status["export_id"].as_str().unwrap().parse().unwrap();
    let row = account_exports::Entity::find_by_id(id)
        .one(&t.node().db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.attempts, 2, "built again after the crash: {row:?}");
    let archive = download(&t, status["download_url"].as_str().unwrap(), Some(&u.access))
        .await
        .bytes()
        .await
        .unwrap();
    let zip = zip::ZipArchive::new(std::io::Cursor::new(archive.to_vec())).expect("a whole ZIP");
    assert_eq!(
        zip.file_names()
            .filter(|n| n.as_ref().is_ok_and(|n| n.starts_with("media/")))
            .count(),
        2
    );
    t.shutdown().await;
}
