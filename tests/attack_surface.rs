//! What an attacker or a fault found on the edge: live-event streams that stayed in
//! memory, errors cached for a year, a database restart answered 500, and filenames
//! that reorder how they are shown.

mod common;

use std::time::Duration;

use common::{Backend, SseStream, TestNode, eventually, png};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

/// This process's resident memory, in bytes (the node runs in it).
fn own_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// Opens `per_user` streams for each user, then closes them all.
async fn open_and_close(url: &str, users: &[common::Tokens], per_user: usize) {
    let mut open = Vec::new();
    for user in users {
        for _ in 0..per_user {
            open.push(SseStream::open(url, Some(&user.access)).await.expect("a stream opens"));
        }
    }
    drop(open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_closed_streams_for_ten_users_leave_nothing_behind() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.http.events_max_streams_per_user = 1_000;
        // The node learns that a client went away when it next writes to the stream.
        s.http.events_keep_alive = std::time::Duration::from_secs(1);
    })
    .await;
    let live = t.node().live.clone().expect("the edge has a live-event hub");
    let mut users = Vec::new();
    for i in 0..10 {
        users.push(t.user(&format!("streamer{i}")).await);
    }
    let url = format!("{}/events", t.url);
    let all_forgotten = || async {
        eventually(
            Duration::from_secs(60),
            "the hub to forget every closed stream",
            || async { (live.users_with_streams().await == (0, Some(0))).then_some(()) },
        )
        .await
    };
    // Ten rounds of 500 streams (50 per user), each closed and forgotten before the next.
    let mut settled = 0;
    for round in 0..10 {
        open_and_close(&url, &users, 50).await;
        all_forgotten().await;
        if round == 1 {
            settled = own_rss();
        }
    }
    // 4 000 more streams, every one closed: what they held is given back, give or take
    // what the allocator keeps.
    let grown = own_rss().saturating_sub(settled);
    println!(
        "RSS after 1 000 closed streams: {} MiB; 4 000 later: {} MiB more",
        settled / 1024 / 1024,
        grown / 1024 / 1024
    );
    assert!(
        grown < 32 * 1024 * 1024,
        "{} MiB more after 4 000 more closed streams",
        grown / 1024 / 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_has_at_most_the_configured_number_of_streams() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.http.events_max_streams_per_user = 4;
        s.http.events_keep_alive = std::time::Duration::from_secs(1);
    })
    .await;
    let users = [t.user("capped").await, t.user("other").await];
    let url = format!("{}/events", t.url);
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(
            SseStream::open(&url, Some(&users[0].access))
                .await
                .expect("a stream under the cap"),
        );
    }
    let refused = SseStream::open(&url, Some(&users[0].access))
        .await
        .err()
        .expect("a fifth stream is refused");
    refused.assert_error(429, "too_many_streams");
    // Another user is not affected.
    drop(
        SseStream::open(&url, Some(&users[1].access))
            .await
            .expect("another user's stream"),
    );
    // A closed stream frees its place (once the server has noticed, at its next write).
    open.pop();
    let reopened = eventually(Duration::from_secs(30), "a closed stream to free its place", || async {
        SseStream::open(&url, Some(&users[0].access)).await.ok()
    })
    .await;
    drop((open, reopened));
}

#[tokio::test]
async fn only_a_blob_that_exists_is_cached() {
    let t = TestNode::spawn(Backend::Sqlite).await;
    let u = t.user("cacher").await;
    let up = t.upload(Some(&u.access), png(8, 8), "dot.png", None).await;
    assert_eq!(up.status, 201, "{}", up.body);
    let file_id = up.body["file_id"].as_str().expect("file id").to_string();
    let found = t
        .client
        .get(format!("{}/media/uploads/{}/{file_id}.png", t.url, u.user_id))
        .send()
        .await
        .expect("GET the upload");
    assert_eq!(found.status(), 200);
    // An hour (issue 20): how long a shared cache may go on showing an image after its
    // project stops being public.
    assert_eq!(found.headers()["cache-control"], "public, max-age=3600");
    for missing in [
        format!("/media/uploads/{}/{}.png", u.user_id, uuid::Uuid::new_v4()),
        format!("/media/thumbnails/{}/{}_thumb.jpg", u.user_id, uuid::Uuid::new_v4()),
    ] {
        let reply = t.client.get(format!("{}{missing}", t.url)).send().await.expect("GET");
        assert_eq!(reply.status(), 404, "{missing}");
        assert_eq!(reply.headers()["cache-control"], "no-store", "{missing}");
    }
}

#[tokio::test]
async fn a_bidirectional_control_in_a_filename_is_not_kept() {
    let t = TestNode::spawn(Backend::Sqlite).await;
    let u = t.user("bidi").await;
    let up = t
        .upload(Some(&u.access), png(8, 8), "invoice\u{202E}gnp.exe\u{2066}.png", None)
        .await;
    assert_eq!(up.status, 201, "{}", up.body);
    let file_id = up.body["file_id"].as_str().expect("file id");
    let shown = t.get(&format!("/media/{file_id}"), Some(&u.access)).await;
    assert_eq!(shown.body["original_filename"], "invoicegnp.exe.png", "{}", shown.body);
}

/// Turns connections to the test's database off (and ends the open ones), or back on:
/// what a PostgreSQL restart looks like to the node.
async fn database_reachable(database_url: &str, reachable: bool) {
    let admin_url = std::env::var("FOLIO_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let admin = Database::connect(&admin_url).await.expect("PostgreSQL is reachable");
    let name = database_url.rsplit('/').next().expect("a database name");
    admin
        .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {reachable}"))
        .await
        .expect("ALTER DATABASE");
    if !reachable {
        admin
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .await
            .expect("ending the node's connections");
    }
    let _ = admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_503_database_unavailable_with_retry_after() {
    let t = TestNode::spawn_with(Backend::Postgres, |s| {
        s.database.acquire_timeout = std::time::Duration::from_secs(2)
    })
    .await;
    let u = t.user("outage").await;
    let database_url = t.settings.database_url();
    database_reachable(&database_url, false).await;
    let during = t
        .request(
            Method::POST,
            "/projects",
            Some(&u.access),
            Some(json!({"title": "During"})),
        )
        .await;
    database_reachable(&database_url, true).await;
    during.assert_error(503, "database_unavailable");
    assert!(during.headers.contains_key("retry-after"), "{:?}", during.headers);
    eventually(Duration::from_secs(30), "writes to work again", || async {
        let after = t
            .request(
                Method::POST,
                "/projects",
                Some(&u.access),
                Some(json!({"title": "After"})),
            )
            .await;
        (after.status == 201).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_with_an_end_event_when_its_token_expires() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.auth.access_token_ttl = std::time::Duration::from_secs(3)
    })
    .await;
    let u = t.user("expiring").await;
    let mut stream = SseStream::open(&format!("{}/events", t.url), Some(&u.access))
        .await
        .expect("a stream opens");
    // The token lives 3 s; 30 s only bounds the test.
    let end = stream.expect_event("end", Duration::from_secs(30), |_| true).await;
    assert_eq!(end["reason"], "token_expired", "{end}");
    assert!(
        stream.next_event(Duration::from_secs(5)).await.is_none(),
        "the stream is over after `end`"
    );
}
