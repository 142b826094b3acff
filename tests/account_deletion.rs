//! Deleting one's own account (issue 21 §2): `DELETE /profile/me` commits
//! `user.deleted` and answers 202; the domains then remove every row, blob and search
//! document of the user. On SQLite and PostgreSQL, on the in-process bus and JetStream,
//! with the local blob store and S3 (s3s-fs); and in a real `folio serve` process killed
//! halfway through a deletion.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{Backend, TestNode, Tokens, eventually, jpeg, nats_isolation, shared_nats_url};
use folio_entities::{
    account_deletions, event_tickets, media_files, profiles, projects, refresh_tokens, sessions, users,
};
use folio_testkit::blobs::S3sFs;
use reqwest::Method;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
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

macro_rules! deletion_matrix {
    ($($name:ident: $backend:ident, $bus:ident, $store:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                deletion_leaves_nothing_behind(Backend::$backend, Bus::$bus, Store::$store).await
            }
        )*
    };
}

deletion_matrix! {
    sqlite_in_process_local_store: Sqlite, InProcess, Local;
    postgres_in_process_local_store: Postgres, InProcess, Local;
    sqlite_jetstream_s3: Sqlite, JetStream, S3;
    postgres_jetstream_s3: Postgres, JetStream, S3;
}

on_every_backend!(
    names_are_held_back_for_the_hold_period,
    a_wrong_password_deletes_nothing_and_counts_as_a_failed_login,
    operators_see_pending_deletions_and_retry_them,
    the_account_is_not_dropped_while_it_still_has_projects,
);

/// Every file under `root`, as paths relative to it.
fn files_under(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// What the database still holds of the user, table by table.
async fn rows_of(db: &DatabaseConnection, user_id: Uuid) -> Vec<(&'static str, u64)> {
    let counts = [
        ("users", users::Entity::find_by_id(user_id).count(db).await),
        (
            "profiles",
            profiles::Entity::find()
                .filter(profiles::Column::UserId.eq(user_id))
                .count(db)
                .await,
        ),
        (
            "projects",
            projects::Entity::find()
                .filter(projects::Column::UserId.eq(user_id))
                .count(db)
                .await,
        ),
        (
            "media_files",
            media_files::Entity::find()
                .filter(media_files::Column::UserId.eq(user_id))
                .count(db)
                .await,
        ),
        (
            "refresh_tokens",
            refresh_tokens::Entity::find()
                .filter(refresh_tokens::Column::UserId.eq(user_id))
                .count(db)
                .await,
        ),
        (
            "sessions",
            sessions::Entity::find()
                .filter(sessions::Column::UserId.eq(user_id))
                .count(db)
                .await,
        ),
        (
            "event_tickets",
            event_tickets::Entity::find()
                .filter(event_tickets::Column::UserId.eq(user_id))
                .count(db)
                .await,
        ),
    ];
    counts
        .into_iter()
        .map(|(table, count)| (table, count.expect("counting rows")))
        .filter(|(_, count)| *count > 0)
        .collect()
}

async fn deletion_done(db: &DatabaseConnection, user_id: Uuid) -> bool {
    account_deletions::Entity::find_by_id(user_id)
        .one(db)
        .await
        .expect("reading the deletion")
        .is_some_and(|d| d.completed_at.is_some())
}

/// A user with a profile, a project found by search, and an image in that project
/// (original and thumbnail stored). Returns the project's id.
async fn user_with_everything(t: &TestNode, u: &Tokens, word: &str) -> String {
    let profile = t
        .put(
            "/profile/me",
            Some(&u.access),
            json!({"name": format!("{word} person")}),
        )
        .await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    let project = t
        .create_project(
            &u.access,
            json!({"title": format!("{word} gallery"), "description": "pictures", "tags": ["art"]}),
        )
        .await;
    let project_id = project["id"].as_str().expect("project id").to_string();
    let upload = t
        .upload(Some(&u.access), jpeg(64, 48), "a.jpg", Some(&project_id))
        .await;
    assert_eq!(upload.status, 201, "{}", upload.body);
    let file_id = upload.body["file_id"].as_str().expect("file id").to_string();
    let settled = t.settled_media(&u.access, &file_id).await;
    assert_eq!(settled["thumbnail_status"], "ready", "{settled}");
    ticket(t, &u.access).await;
    project_id
}

/// Takes an `/events` ticket, so the deletion has one to remove.
async fn ticket(t: &TestNode, access: &str) {
    let reply = t.request(Method::POST, "/events/ticket", Some(access), None).await;
    assert!(reply.status.is_success(), "{}", reply.body);
}

async fn search_total(t: &TestNode, word: &str) -> u64 {
    let reply = t.get(&format!("/search?query={word}"), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["total"].as_u64().expect("total")
}

async fn delete_account(t: &TestNode, access: &str, password: &str) -> common::Reply {
    t.request(
        Method::DELETE,
        "/profile/me",
        Some(access),
        Some(json!({"password": password})),
    )
    .await
}

async fn deletion_leaves_nothing_behind(backend: Backend, bus: Bus, store: Store) {
    let s3 = matches!(store, Store::S3).then(S3sFs::start);
    let bucket = format!("del-{}", &Uuid::new_v4().simple().to_string()[..12]);
    let nats = shared_nats_url();
    let t = TestNode::spawn_with(backend, |s| {
        if matches!(bus, Bus::JetStream) {
            nats_isolation(s, &nats);
        }
        if let Some(s3) = &s3 {
            s.blobs = folio::configuration::BlobBackend::S3(folio::configuration::S3Blobs::new(
                s3.endpoint.clone(),
                s3.access_key.clone(),
                s3.secret_key.clone(),
                bucket.clone(),
            ));
        }
    })
    .await;
    let blob_root: PathBuf = match &s3 {
        Some(s3) => s3.root.path().join(&bucket),
        None => t.dir.path().join("media"),
    };

    let victim = t.user("zora").await;
    let bystander = t.user("yusuf").await;
    user_with_everything(&t, &victim, "zebracorn").await;
    user_with_everything(&t, &bystander, "yakety").await;
    eventually(Duration::from_secs(30), "both projects searchable", || async {
        (search_total(&t, "zebracorn").await == 1 && search_total(&t, "yakety").await == 1).then_some(())
    })
    .await;
    let before = files_under(&blob_root);
    let victims_files = before.iter().filter(|f| f.contains(&victim.user_id)).count();
    assert!(victims_files >= 2, "original and thumbnail stored: {before:?}");

    let accepted = delete_account(&t, &victim.access, "password-123").await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let db = t.node().db.clone();
    let victim_id: Uuid = victim.user_id.parse().expect("a uuid");
    eventually(Duration::from_secs(60), "the deletion to finish", || async {
        deletion_done(&db, victim_id).await.then_some(())
    })
    .await;

    assert_eq!(rows_of(&db, victim_id).await, vec![], "no row of the user is left");
    let after = files_under(&blob_root);
    assert!(
        !after.iter().any(|f| f.contains(&victim.user_id)),
        "no blob of the user is left: {after:?}"
    );
    assert_eq!(
        after.len(),
        before.len() - victims_files,
        "the bystander's blobs are untouched: {after:?}"
    );
    eventually(Duration::from_secs(30), "the user's project out of search", || async {
        (search_total(&t, "zebracorn").await == 0).then_some(())
    })
    .await;
    assert_eq!(search_total(&t, "yakety").await, 1);

    // The account is gone for its former holder.
    t.post("/auth/refresh", json!({"refresh_token": victim.refresh}))
        .await
        .assert_error(401, "invalid_refresh_token");
    t.login("zora@folio.test", "password-123")
        .await
        .assert_error(401, "invalid_credentials");
    t.get("/users/zora", None).await.assert_error(404, "user_not_found");
    // The bystander's account works as before.
    assert_eq!(
        t.post("/auth/refresh", json!({"refresh_token": bystander.refresh}))
            .await
            .status,
        200
    );
    assert!(rows_of(&db, bystander.user_id.parse().expect("a uuid")).await.len() >= 5);
    t.shutdown().await;
}

async fn names_are_held_back_for_the_hold_period(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("xavier").await;
    assert_eq!(delete_account(&t, &u.access, "password-123").await.status, 202);
    let db = t.node().db.clone();
    let id: Uuid = u.user_id.parse().expect("a uuid");
    eventually(Duration::from_secs(30), "the deletion to finish", || async {
        deletion_done(&db, id).await.then_some(())
    })
    .await;
    t.register("Xavier", "other@folio.test", "password-123")
        .await
        .assert_error(409, "username_taken");
    t.register("someone", "XAVIER@folio.test", "password-123")
        .await
        .assert_error(409, "email_taken");
    t.shutdown().await;

    // With no hold, the names are free once the deletion finished.
    let t = TestNode::spawn_with(backend, |s| s.auth.account_hold = std::time::Duration::from_secs(0)).await;
    let u = t.user("xavier").await;
    assert_eq!(delete_account(&t, &u.access, "password-123").await.status, 202);
    let db = t.node().db.clone();
    let id: Uuid = u.user_id.parse().expect("a uuid");
    eventually(Duration::from_secs(30), "the deletion to finish", || async {
        deletion_done(&db, id).await.then_some(())
    })
    .await;
    assert_eq!(
        t.register("xavier", "xavier@folio.test", "password-123").await.status,
        201
    );
    t.shutdown().await;
}

async fn a_wrong_password_deletes_nothing_and_counts_as_a_failed_login(backend: Backend) {
    let t = TestNode::spawn_with(backend, |s| s.auth.login_max_failures = 2).await;
    let u = t.user("wanda").await;
    for _ in 0..2 {
        delete_account(&t, &u.access, "not-my-password")
            .await
            .assert_error(403, "wrong_password");
    }
    t.login("wanda@folio.test", "password-123")
        .await
        .assert_error(429, "too_many_attempts");
    t.request(Method::DELETE, "/profile/me", Some(&u.access), Some(json!({})))
        .await
        .assert_error(400, "invalid_password");
    delete_account(&t, &u.access, "password-123")
        .await
        .assert_error(429, "too_many_attempts");
    let id: Uuid = u.user_id.parse().expect("a uuid");
    assert!(
        account_deletions::Entity::find_by_id(id)
            .one(&t.node().db)
            .await
            .expect("reading")
            .is_none()
    );
    assert_eq!(t.get("/profile/me", Some(&u.access)).await.status, 200);
    t.shutdown().await;
}

/// An embedded `folio serve` process on `dir` (its SQLite database and blobs live
/// there), with `envs` on top of the test settings.
fn serve(dir: &Path, envs: &[(&str, &str)]) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_folio"));
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FOLIO_DATA_DIR", dir)
        .env("FOLIO_ADDR", format!("127.0.0.1:{port}"))
        .env("FOLIO_JWT_SECRET", common::TEST_JWT_SECRET)
        .env("FOLIO_ARGON2_MEMORY_KIB", "64")
        .env("FOLIO_ARGON2_ITERATIONS", "1")
        .env("FOLIO_ACTOR_MAX_RESTARTS", "1000")
        .env("FOLIO_LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in envs {
        command.env(key, value);
    }
    let child = command.spawn().expect("starting folio serve");
    (child, format!("http://127.0.0.1:{port}"))
}

async fn wait_ready(client: &reqwest::Client, url: &str) {
    eventually(Duration::from_secs(60), "folio serve to answer", || async {
        client
            .get(format!("{url}/health"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .await;
}

/// The node dies (SIGKILL) after it removed the user's media and before it removed
/// the projects; the node started again on the same data finishes the deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_halfway_finishes_the_deletion_after_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Every pass of the deletion stops between the media and the project steps.
    let (mut child, url) = serve(dir.path(), &[("FOLIO_TEST_FAULTS", "account-deletion:always")]);
    let client = reqwest::Client::new();
    wait_ready(&client, &url).await;
    let t = RemoteNode {
        url: url.clone(),
        client: client.clone(),
    };
    let victim = t.user("valerie").await;
    let access = victim.access.clone();
    let profile = t
        .call(
            Method::PUT,
            "/profile/me",
            Some(&access),
            Some(json!({"name": "Quokkafish"})),
        )
        .await;
    assert_eq!(profile.0, 200, "{}", profile.1);
    let project = t
        .call(
            Method::POST,
            "/projects",
            Some(&access),
            Some(json!({"title": "Quokkafish prints", "description": "d", "tags": []})),
        )
        .await;
    assert_eq!(project.0, 201, "{}", project.1);
    let upload = t.upload(&access, jpeg(64, 48)).await;
    eventually(Duration::from_secs(30), "the thumbnail", || async {
        let reply = t
            .call(Method::GET, &format!("/media/{upload}"), Some(&access), None)
            .await;
        (reply.1["thumbnail_status"] == "ready").then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "the project searchable", || async {
        let reply = t.call(Method::GET, "/search?query=quokkafish", None, None).await;
        (reply.1["total"] == 1).then_some(())
    })
    .await;
    let blob_root = dir.path().join("media");
    assert!(files_under(&blob_root).iter().any(|f| f.contains(&victim.user_id)));

    let accepted = t
        .call(
            Method::DELETE,
            "/profile/me",
            Some(&access),
            Some(json!({"password": "password-123"})),
        )
        .await;
    assert_eq!(accepted.0, 202, "{}", accepted.1);
    let database_url = format!("sqlite://{}?mode=ro", dir.path().join("folio.db").display());
    let db = sea_orm::Database::connect(&database_url)
        .await
        .expect("the node's database");
    let victim_id: Uuid = victim.user_id.parse().expect("a uuid");
    // Halfway: the media went, the project is still there.
    eventually(Duration::from_secs(30), "the media step to run", || async {
        let rows = rows_of(&db, victim_id).await;
        (!rows.iter().any(|(table, _)| *table == "media_files")).then_some(())
    })
    .await;
    assert!(
        rows_of(&db, victim_id)
            .await
            .iter()
            .any(|(table, _)| *table == "projects")
    );
    assert!(!deletion_done(&db, victim_id).await);
    child.kill().expect("killing folio serve");
    let _ = child.wait();

    let (mut child, url) = serve(dir.path(), &[]);
    wait_ready(&client, &url).await;
    eventually(
        Duration::from_secs(60),
        "the deletion to finish after the restart",
        || async { deletion_done(&db, victim_id).await.then_some(()) },
    )
    .await;
    assert_eq!(rows_of(&db, victim_id).await, vec![]);
    assert!(
        !files_under(&blob_root).iter().any(|f| f.contains(&victim.user_id)),
        "no blob of the user is left"
    );
    let t = RemoteNode { url, client };
    eventually(Duration::from_secs(30), "the project out of search", || async {
        let reply = t.call(Method::GET, "/search?query=quokkafish", None, None).await;
        (reply.1["total"] == 0).then_some(())
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
}

/// Just enough of a client for a node in another process.
struct RemoteNode {
    url: String,
    client: reqwest::Client,
}

impl RemoteNode {
    async fn call(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn user(&self, name: &str) -> Tokens {
        let email = format!("{name}@folio.test");
        let registered = self
            .call(
                Method::POST,
                "/auth/register",
                None,
                Some(json!({"username": name, "email": email, "password": "password-123"})),
            )
            .await;
        assert_eq!(registered.0, 201, "{}", registered.1);
        let login = self
            .call(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({"email": email, "password": "password-123"})),
            )
            .await;
        assert_eq!(login.0, 200, "{}", login.1);
        Tokens {
            user_id: login.1["user"]["id"].as_str().expect("id").to_string(),
            access: login.1["access_token"].as_str().expect("access").to_string(),
            refresh: login.1["refresh_token"].as_str().expect("refresh").to_string(),
        }
    }

    /// Uploads an image; its file id.
    async fn upload(&self, access: &str, bytes: Vec<u8>) -> String {
        let form =
            reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name("a.jpg"));
        let response = self
            .client
            .post(format!("{}/media/upload", self.url))
            .bearer_auth(access)
            .multipart(form)
            .send()
            .await
            .expect("upload sent");
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("upload body");
        body["file_id"].as_str().expect("file id").to_string()
    }
}

/// A deletion that cannot finish (its runner fails at every pass) is listed for the
/// operator, who starts it again once the cause is gone.
async fn operators_see_pending_deletions_and_retry_them(backend: Backend) {
    use folio_actors::faults::{self, FaultPoint};
    let t = TestNode::spawn_with(backend, |s| {
        s.auth.admin_emails = vec!["root@folio.test".into()];
        s.node.actor_max_restarts = 1000;
    })
    .await;
    let admin = t.user("root").await;
    let u = t.user("ursula").await;
    t.get("/admin/deletions", Some(&u.access))
        .await
        .assert_error(403, "forbidden");

    // One failure is enough: the delivery it dropped comes back only after its ack wait.
    faults::arm(FaultPoint::AccountDeletion, 1);
    assert_eq!(delete_account(&t, &u.access, "password-123").await.status, 202);
    eventually(Duration::from_secs(30), "the deletion runner to fail once", || async {
        let text = t
            .client
            .get(format!("{}/metrics", t.url))
            .send()
            .await
            .expect("metrics answered")
            .text()
            .await
            .expect("metrics read");
        text.lines()
            .find_map(|line| line.strip_prefix("folio_actor_restarts_total{actor=\"account-deleter\"} "))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .filter(|restarts| *restarts >= 1.0)
            .map(|_| ())
    })
    .await;
    let listed = t.get("/admin/deletions", Some(&admin.access)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let deletions = listed.body["deletions"].as_array().expect("deletions").clone();
    assert_eq!(deletions.len(), 1, "{deletions:?}");
    assert_eq!(deletions[0]["user_id"], u.user_id.as_str());
    assert_eq!(deletions[0]["username"], "ursula");

    faults::disarm(FaultPoint::AccountDeletion);
    let retried = t
        .request(
            Method::POST,
            &format!("/admin/deletions/{}/retry", u.user_id),
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    let db = t.node().db.clone();
    let id: Uuid = u.user_id.parse().expect("a uuid");
    eventually(Duration::from_secs(30), "the retried deletion to finish", || async {
        deletion_done(&db, id).await.then_some(())
    })
    .await;
    assert_eq!(rows_of(&db, id).await, vec![]);
    let listed = t.get("/admin/deletions", Some(&admin.access)).await;
    assert_eq!(listed.body["deletions"], json!([]), "{}", listed.body);
    t.request(
        Method::POST,
        &format!("/admin/deletions/{}/retry", u.user_id),
        Some(&admin.access),
        None,
    )
    .await
    .assert_error(404, "deletion_not_found");
    t.shutdown().await;
}

/// An access token outlives the request that deleted its account, so a project can be
/// created while the deletion runs; the last step then refuses to drop the account
/// (which would cascade the rows away and strand their blobs and search documents),
/// and the deletion runs its steps again.
async fn the_account_is_not_dropped_while_it_still_has_projects(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("terry").await;
    t.create_project(&u.access, json!({"title": "late", "description": "d", "tags": []}))
        .await;
    let id: Uuid = u.user_id.parse().expect("a uuid");
    let refused = t.node().session.finish_deletion(id).await;
    assert!(
        matches!(
            refused,
            Err(folio_actors::session::SessionError::DeletionIncomplete { projects: 1, files: 0 })
        ),
        "{refused:?}"
    );
    let left: Vec<&str> = rows_of(&t.node().db, id)
        .await
        .into_iter()
        .map(|(table, _)| table)
        .collect();
    assert!(left.contains(&"users") && left.contains(&"projects"), "{left:?}");
    t.shutdown().await;
}
