//! The operator's job API (`/admin/jobs`, failed thumbnails and their retry,
//! regeneration of missing thumbnails, the reindex run) and the job metrics, end to end
//! on a node: on SQLite with the in-process bus, and on PostgreSQL with JetStream.

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::{Backend, TestNode, eventually, jpeg, png};
use folio_entities::{media_files, outbox_events, projects};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

on_every_backend!(
    admin_api_is_for_admins,
    reindex_reports_progress_and_refuses_a_second_run
);

const ADMIN: &str = "admin@folio.test";

async fn node_with_admin(backend: Backend, jetstream: bool) -> (TestNode, common::Tokens) {
    let nats = common::shared_nats_url();
    let t = TestNode::spawn_with(backend, |s| {
        s.auth.admin_emails = vec![ADMIN.into()];
        // Retries come back fast in tests; the rules (attempt count, backoff) are the same.
        s.media.thumbnail_backoff_base = std::time::Duration::from_millis(10);
        if jetstream {
            common::nats_isolation(s, &nats);
        }
    })
    .await;
    let admin = t.user("admin").await;
    (t, admin)
}

/// A JPEG cut in half: a file that can never become a thumbnail.
fn truncated_jpeg() -> Vec<u8> {
    let full = jpeg(640, 480);
    full[..full.len() / 2].to_vec()
}

async fn post(t: &TestNode, path: &str, bearer: &str) -> common::Reply {
    t.request(Method::POST, path, Some(bearer), None).await
}

async fn admin_api_is_for_admins(backend: Backend) {
    let (t, admin) = node_with_admin(backend, false).await;
    let user = t.user("bob").await;
    let some_id = Uuid::new_v4();
    let routes = [
        (Method::GET, "/admin/jobs".to_string()),
        (Method::GET, "/admin/media/failed?page=1&size=10".to_string()),
        (Method::POST, format!("/admin/media/{some_id}/retry")),
        (Method::POST, "/admin/media/retry-failed".to_string()),
        (Method::POST, "/admin/media/regenerate-missing".to_string()),
        (Method::POST, "/admin/reindex-projects".to_string()),
        (Method::GET, "/admin/reindex-projects".to_string()),
    ];
    for (method, path) in &routes {
        t.request(method.clone(), path, Some(&user.access), None)
            .await
            .assert_error(403, "forbidden");
        t.request(method.clone(), path, None, None)
            .await
            .assert_error(401, "unauthorized");
    }
    // The admin gets answers, and bad input is a clear 4xx.
    let jobs = t.get("/admin/jobs", Some(&admin.access)).await;
    assert_eq!(jobs.status, 200, "{}", jobs.body);
    let kinds: Vec<&str> = jobs.body["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["thumbnails", "indexing", "outbox"]);
    t.get("/admin/media/failed?size=0", Some(&admin.access))
        .await
        .assert_error(400, "invalid_size");
    post(&t, &format!("/admin/media/{some_id}/retry"), &admin.access)
        .await
        .assert_error(404, "media_not_found");
    post(&t, "/admin/media/not-a-uuid/retry", &admin.access)
        .await
        .assert_error(404, "media_not_found");
    // The OpenAPI document describes the routes.
    let spec = t.get("/openapi.json", None).await;
    for path in [
        "/admin/jobs",
        "/admin/media/failed",
        "/admin/media/{file_id}/retry",
        "/admin/media/retry-failed",
        "/admin/media/regenerate-missing",
        "/admin/reindex-projects",
    ] {
        assert!(spec.body["paths"][path].is_object(), "{path} is documented");
    }
    t.shutdown().await;
}

fn kind<'a>(jobs: &'a Value, name: &str) -> &'a Value {
    jobs["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == name)
        .unwrap_or_else(|| panic!("no {name} in {jobs}"))
}

/// A poison file fails, is retried through the same queue (a new `media.uploaded` in
/// the outbox, attempts from zero), fails again, and never holds up good files.
async fn poison_is_retried_through_the_queue_and_fails_again(t: TestNode, admin: common::Tokens) {
    let poison = t
        .upload(Some(&admin.access), truncated_jpeg(), "broken.jpg", None)
        .await;
    assert_eq!(poison.status, 201, "{}", poison.body);
    let poison_id = poison.body["file_id"].as_str().unwrap().to_string();
    let good = t.upload(Some(&admin.access), png(640, 400), "fine.png", None).await;
    let good_id = good.body["file_id"].as_str().unwrap().to_string();

    let settled = t.settled_media(&admin.access, &poison_id).await;
    assert_eq!(settled["thumbnail_status"], "failed", "{settled}");
    assert_eq!(
        t.settled_media(&admin.access, &good_id).await["thumbnail_status"],
        "ready"
    );

    let failed = t.get("/admin/media/failed", Some(&admin.access)).await;
    assert_eq!(failed.status, 200, "{}", failed.body);
    assert_eq!(failed.body["total"], 1, "{}", failed.body);
    let row = &failed.body["files"][0];
    assert_eq!(row["file_id"], poison_id.as_str());
    assert_eq!(row["owner_id"], admin.user_id.as_str());
    assert_eq!(row["owner_username"], "admin");
    assert_eq!(row["original_filename"], "broken.jpg");
    assert!(row["error"].as_str().unwrap().contains("truncated"), "{row}");
    assert_eq!(row["attempts"], 1, "a corrupt file is not retried by itself");
    let first_failed_at = row["failed_at"].as_str().unwrap().to_string();

    let jobs = t.get("/admin/jobs", Some(&admin.access)).await;
    let thumbnails = kind(&jobs.body, "thumbnails");
    assert_eq!(thumbnails["failed"], 1, "{}", jobs.body);
    assert_eq!(thumbnails["pending"], 0, "{}", jobs.body);
    assert!(thumbnails["done_last_hour"].as_u64().unwrap() >= 1, "{}", jobs.body);

    // A ready thumbnail is not "failed": nothing to retry.
    post(&t, &format!("/admin/media/{good_id}/retry"), &admin.access)
        .await
        .assert_error(409, "not_failed");

    // Retry the poison while another good file goes through the same queue.
    let retried = post(&t, &format!("/admin/media/{poison_id}/retry"), &admin.access).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    let second_good = t
        .upload(Some(&admin.access), png(500, 500), "also-fine.png", None)
        .await;
    let second_good_id = second_good.body["file_id"].as_str().unwrap().to_string();
    assert_eq!(
        t.settled_media(&admin.access, &second_good_id).await["thumbnail_status"],
        "ready"
    );
    let failed_again = eventually(Duration::from_secs(30), "the poison to fail again", || async {
        let reply = t.get("/admin/media/failed", Some(&admin.access)).await;
        let row = reply.body["files"][0].clone();
        (row["file_id"] == poison_id.as_str() && row["failed_at"].as_str() != Some(first_failed_at.as_str()))
            .then_some(row)
    })
    .await;
    assert_eq!(failed_again["attempts"], 1, "attempts start from zero on a retry");
    assert!(failed_again["error"].as_str().unwrap().contains("truncated"));

    // The retry went through the outbox as a second media.uploaded for that file.
    let uploaded: Vec<outbox_events::Model> = outbox_events::Entity::find()
        .filter(outbox_events::Column::EventType.eq("media.uploaded"))
        .all(&t.node().db)
        .await
        .unwrap();
    let for_poison = uploaded.iter().filter(|e| e.envelope.contains(&poison_id)).count();
    assert_eq!(for_poison, 2, "upload and retry each queued one job");
    if t.node().bus.name() == "jetstream" {
        let events = common::stream_events(t.node(), "media.uploaded").await;
        let on_stream = events
            .iter()
            .filter(|e| e["event_type"] == "media.uploaded" && e["data"]["file_id"] == poison_id.as_str())
            .count();
        assert_eq!(on_stream, 2, "both attempts went through JetStream");
    }

    // Metrics: the failures are counted, durations observed, gauges present.
    let metrics = t.get("/metrics", None).await;
    let text = metrics.body.as_str().unwrap().to_string();
    assert!(
        text.contains("folio_jobs_failed_total{kind=\"thumbnails\"} 2"),
        "{text}"
    );
    assert!(text.contains("folio_jobs_pending{kind=\"thumbnails\"} 0"), "{text}");
    assert!(
        text.contains("folio_jobs_oldest_pending_age_seconds{kind=\"outbox\"}"),
        "{text}"
    );
    assert!(
        text.contains("folio_job_duration_seconds_count{kind=\"thumbnails\"}"),
        "{text}"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_retry_fails_again_without_blocking_others_in_process() {
    let (t, admin) = node_with_admin(Backend::Sqlite, false).await;
    poison_is_retried_through_the_queue_and_fails_again(t, admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_retry_fails_again_without_blocking_others_on_jetstream() {
    let (t, admin) = node_with_admin(Backend::Postgres, true).await;
    poison_is_retried_through_the_queue_and_fails_again(t, admin).await;
}

/// Writes `count` failed media rows straight into the database (their blobs do not
/// exist, so a retried one fails again as "missing").
async fn insert_failed_rows(t: &TestNode, owner: &str, count: usize, error: &str) {
    let owner = Uuid::parse_str(owner).unwrap();
    let now = Utc::now();
    let rows: Vec<media_files::ActiveModel> = (0..count)
        .map(|_| {
            let id = Uuid::now_v7();
            let path = format!("uploads/{owner}/{id}.jpg");
            media_files::ActiveModel {
                id: Set(id),
                user_id: Set(owner),
                project_id: Set(None),
                filename: Set(format!("{id}.jpg")),
                original_filename: Set("scan.jpg".into()),
                file_url: Set(format!("{}/media/{path}", t.url)),
                file_path: Set(path),
                file_size: Set(1000),
                mime_type: Set("image/jpeg".into()),
                width: Set(None),
                height: Set(None),
                upload_state: Set(folio_entities::media_files::UploadState::Stored),
                thumbnail_path: Set(None),
                thumbnail_url: Set(None),
                thumbnail_status: Set(folio_entities::media_files::ThumbnailStatus::Failed),
                thumbnail_error: Set(Some(error.into())),
                thumbnail_attempts: Set(5),
                thumbnail_queued_at: Set(Some(now)),
                thumbnail_failed_at: Set(Some(now)),
                renditions: Set(None),
                thumbhash: Set(None),
                caption: Set(None),
                alt: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
        })
        .collect();
    for chunk in rows.chunks(500) {
        media_files::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&t.node().db)
            .await
            .unwrap();
    }
}

async fn queued_retries(t: &TestNode) -> u64 {
    outbox_events::Entity::find()
        .filter(outbox_events::Column::EventType.eq("media.uploaded"))
        .count(&t.node().db)
        .await
        .unwrap()
}

/// Retry-all of 1 000 failed items: how long enqueueing takes (printed, not asserted),
/// that every one is queued exactly once, and that `error_contains` picks a subset.
async fn retry_all_enqueues_a_thousand(backend: Backend, jetstream: bool) {
    let (t, admin) = node_with_admin(backend, jetstream).await;
    insert_failed_rows(&t, &admin.user_id, 1000, "decoding: corrupt JPEG data").await;
    insert_failed_rows(&t, &admin.user_id, 7, "storage timed out").await;

    // The thousand are picked by their error; the seven others stay failed.
    let started = Instant::now();
    let some = post(&t, "/admin/media/retry-failed?error_contains=corrupt", &admin.access).await;
    let elapsed = started.elapsed();
    assert_eq!(some.status, 200, "{}", some.body);
    assert_eq!(some.body["queued"], 1000, "{}", some.body);
    println!(
        "MEASURE retry-all of 1000 failed items enqueued in {:.1} ms ({backend:?}, {} bus)",
        elapsed.as_secs_f64() * 1000.0,
        t.node().bus.name()
    );
    assert_eq!(queued_retries(&t).await, 1000, "one job per failed item");
    let settle = || async {
        eventually(Duration::from_secs(120), "every retried job to settle", || async {
            let reply = t.get("/admin/jobs", Some(&admin.access)).await;
            let thumbnails = kind(&reply.body, "thumbnails");
            (thumbnails["pending"] == 0 && thumbnails["failed"] == 1007).then_some(())
        })
        .await
    };
    // Each comes back failed (its blob never existed), through the same bounded rules.
    settle().await;

    // Without a filter, every failed item is queued again.
    let all = post(&t, "/admin/media/retry-failed", &admin.access).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["queued"], 1007, "{}", all.body);
    assert_eq!(queued_retries(&t).await, 2007);
    settle().await;
    let failed = t.get("/admin/media/failed?size=1", Some(&admin.access)).await;
    assert_eq!(failed.body["files"][0]["error"], "the uploaded file is missing");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_all_of_a_thousand_failed_in_process() {
    retry_all_enqueues_a_thousand(Backend::Sqlite, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_all_of_a_thousand_failed_on_jetstream() {
    retry_all_enqueues_a_thousand(Backend::Postgres, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_missing_remakes_lost_thumbnails() {
    let (t, admin) = node_with_admin(Backend::Sqlite, false).await;
    let kept = t.upload(Some(&admin.access), png(300, 200), "kept.png", None).await;
    let lost = t.upload(Some(&admin.access), png(400, 300), "lost.png", None).await;
    let kept_id = kept.body["file_id"].as_str().unwrap().to_string();
    let lost_id = lost.body["file_id"].as_str().unwrap().to_string();
    t.settled_media(&admin.access, &kept_id).await;
    let before = t.settled_media(&admin.access, &lost_id).await;
    assert_eq!(before["thumbnail_status"], "ready");
    let key = format!("thumbnails/{}/{lost_id}_thumb.jpg", admin.user_id);
    t.node().blobs.delete(&key).await.unwrap();

    let reply = post(&t, "/admin/media/regenerate-missing", &admin.access).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["checked"], 2);
    assert_eq!(reply.body["queued"], 1);
    let after = t.settled_media(&admin.access, &lost_id).await;
    assert_eq!(after["thumbnail_status"], "ready", "{after}");
    t.node().blobs.head(&key).await.expect("the thumbnail is back");
    // Nothing is missing any more.
    let again = post(&t, "/admin/media/regenerate-missing", &admin.access).await;
    assert_eq!(again.body["queued"], 0, "{}", again.body);
    t.shutdown().await;
}

async fn reindex_reports_progress_and_refuses_a_second_run(backend: Backend) {
    let (t, admin) = node_with_admin(backend, false).await;
    // Enough projects that the run lasts while a second request comes in.
    let owner = Uuid::parse_str(&admin.user_id).unwrap();
    let now = Utc::now();
    const PROJECTS: u64 = 4000;
    let rows: Vec<projects::ActiveModel> = (0..PROJECTS)
        .map(|i| projects::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(owner),
            title: Set(format!("Project {i}")),
            description: Set(String::new()),
            tags: Set(json!([])),
            link: Set(None),
            thumbnail_url: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            visibility: Set("public".into()),
            published_at: Set(Some(now)),
            media_order: Set(None),
            // Rows written around the domain have no slug yet (pages go by id).
            slug: Set(None),
        })
        .collect();
    for chunk in rows.chunks(500) {
        projects::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&t.node().db)
            .await
            .unwrap();
    }
    let idle = t.get("/admin/reindex-projects", Some(&admin.access)).await;
    assert_eq!(idle.status, 200, "{}", idle.body);
    assert_eq!(idle.body["running"], false);

    let first = {
        let client = t.client.clone();
        let url = format!("{}/admin/reindex-projects", t.url);
        let token = admin.access.clone();
        tokio::spawn(async move {
            let response = client.post(url).bearer_auth(token).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        })
    };
    eventually(Duration::from_secs(30), "the reindex to start", || async {
        let progress = t.get("/admin/reindex-projects", Some(&admin.access)).await;
        (progress.body["running"] == true).then_some(())
    })
    .await;
    post(&t, "/admin/reindex-projects", &admin.access)
        .await
        .assert_error(409, "reindex_running");

    let (status, body) = first.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["republished"], PROJECTS);
    let done = t.get("/admin/reindex-projects", Some(&admin.access)).await;
    assert_eq!(done.body["running"], false, "{}", done.body);
    assert_eq!(done.body["percent"], 100);
    assert_eq!(done.body["done"], PROJECTS);
    assert_eq!(done.body["total"], PROJECTS);
    // The jobs view carries the same progress.
    let jobs = t.get("/admin/jobs", Some(&admin.access)).await;
    assert_eq!(jobs.body["reindex"]["percent"], 100);
    // Once finished, another run may start.
    let again = post(&t, "/admin/reindex-projects", &admin.access).await;
    assert_eq!(again.status, 200, "{}", again.body);
    t.shutdown().await;
}

/// `folio jobs status | retry-failed | regenerate-missing` on an embedded node's data dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_cli_shows_and_requeues() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_path_buf();
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.node.data_dir = data_dir.clone();
        s.auth.admin_emails = vec![ADMIN.into()];
    })
    .await;
    let admin = t.user("admin").await;
    insert_failed_rows(&t, &admin.user_id, 3, "decoding: corrupt JPEG data").await;
    insert_failed_rows(&t, &admin.user_id, 2, "storage timed out").await;
    t.shutdown().await;

    let folio = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_folio"))
            .args(args)
            .env("FOLIO_DATA_DIR", &data_dir)
            .env("FOLIO_LOG_FILTER", "warn")
            .output()
            .expect("folio runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let row = |status: &str, kind: &str| -> Vec<String> {
        status
            .lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} line in {status}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let before = folio(&["jobs", "status"]);
    assert_eq!(row(&before, "thumbnails")[1..4], ["0", "?", "5"], "{before}");

    let retried = folio(&["jobs", "retry-failed", "--error-contains", "corrupt"]);
    assert!(retried.starts_with("3 failed thumbnails queued again"), "{retried}");
    let after = folio(&["jobs", "status"]);
    assert_eq!(row(&after, "thumbnails")[1..4], ["3", "?", "2"], "{after}");
    assert_eq!(row(&after, "outbox")[1], "3", "the jobs wait in the outbox: {after}");

    let regenerated = folio(&["jobs", "regenerate-missing"]);
    assert!(regenerated.starts_with("0 of 0 ready thumbnails"), "{regenerated}");
}
