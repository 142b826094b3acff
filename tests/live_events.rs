//! `GET /events` on one node (the embedded cluster of one): each user hears only of
//! their own thumbnails and indexed projects; Bearer or a single-use ticket, never a
//! token in the URL; `/admin/cluster` shows the one node.

mod common;

use std::time::Duration;

use common::{Backend, SseStream, TestNode, jpeg};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_hears_of_their_own_thumbnails_and_indexed_projects() {
    let t = TestNode::spawn(Backend::Sqlite).await;
    let alice = t.user("alice").await;
    let bob = t.user("bob").await;
    let events = format!("{}/events", t.url);
    let mut alice_stream = SseStream::open(&events, Some(&alice.access))
        .await
        .expect("alice's stream");
    let mut bob_stream = SseStream::open(&events, Some(&bob.access)).await.expect("bob's stream");

    let up = t.upload(Some(&alice.access), jpeg(640, 480), "a.jpg", None).await;
    assert_eq!(up.status, 201, "{}", up.body);
    let file_id = up.body["file_id"].as_str().unwrap().to_string();
    let ready = alice_stream
        .expect_event("media.thumbnail_ready", WAIT, |d| d["file_id"] == file_id.as_str())
        .await;
    assert_eq!(ready["type"], "media.thumbnail_ready");
    assert_eq!(
        (ready["width"].as_u64(), ready["height"].as_u64()),
        (Some(640), Some(480))
    );
    let media = t.get(&format!("/media/{file_id}"), Some(&alice.access)).await;
    assert_eq!(ready["thumbnail_url"], media.body["thumbnail_url"], "{}", media.body);

    let project = t
        .create_project(
            &alice.access,
            json!({"title": "Live", "description": "d", "tags": ["x"]}),
        )
        .await;
    let project_id = project["id"].as_str().unwrap().to_string();
    let indexed = alice_stream
        .expect_event("project.indexed", WAIT, |d| d["project_id"] == project_id.as_str())
        .await;
    assert_eq!(indexed["version"], project["version"], "{project}");

    // A broken upload tells its owner it failed.
    let broken = t
        .upload(
            Some(&alice.access),
            b"\xff\xd8\xffnot really a jpeg".to_vec(),
            "b.jpg",
            None,
        )
        .await;
    if broken.status == 201 {
        let broken_id = broken.body["file_id"].as_str().unwrap().to_string();
        let failed = alice_stream
            .expect_event("media.thumbnail_failed", WAIT, |d| d["file_id"] == broken_id.as_str())
            .await;
        assert!(failed["error"].as_str().is_some_and(|e| !e.is_empty()), "{failed}");
    }

    // Bob heard none of it: the next thing on his stream is his own upload.
    let bobs = t.upload(Some(&bob.access), jpeg(64, 64), "b.jpg", None).await;
    let bobs_id = bobs.body["file_id"].as_str().unwrap().to_string();
    let (name, data) = bob_stream.next_event(WAIT).await.expect("bob's own event");
    assert_eq!(
        (name.as_str(), data["file_id"].as_str()),
        ("media.thumbnail_ready", Some(bobs_id.as_str()))
    );
    t.shutdown().await;
}

#[tokio::test]
async fn events_refuse_a_missing_token_a_reused_ticket_and_another_users_ticket() {
    let t = TestNode::spawn(Backend::Sqlite).await;
    let alice = t.user("alice").await;
    let bob = t.user("bob").await;
    let url = format!("{}/events", t.url);

    let refused = SseStream::open(&url, None).await.err().expect("no token refused");
    refused.assert_error(401, "unauthorized");
    let refused = SseStream::open(&format!("{url}?ticket=made-up"), None)
        .await
        .err()
        .expect("an unknown ticket refused");
    refused.assert_error(401, "invalid_ticket");

    let issued = t
        .request(reqwest::Method::POST, "/events/ticket", Some(&alice.access), None)
        .await;
    assert_eq!(issued.status, 201, "{}", issued.body);
    assert_eq!(issued.body["expires_in"], 60);
    let ticket = issued.body["ticket"].as_str().unwrap().to_string();
    let no_ticket_without_a_token = t.request(reqwest::Method::POST, "/events/ticket", None, None).await;
    no_ticket_without_a_token.assert_error(401, "unauthorized");

    // Alice's ticket with Bob's token: refused, and the ticket is spent.
    let mixed = SseStream::open(&format!("{url}?ticket={ticket}"), Some(&bob.access))
        .await
        .err()
        .expect("another user's ticket refused");
    mixed.assert_error(403, "forbidden");

    let ticket = t
        .request(reqwest::Method::POST, "/events/ticket", Some(&alice.access), None)
        .await
        .body["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let mut stream = SseStream::open(&format!("{url}?ticket={ticket}"), None)
        .await
        .unwrap_or_else(|r| panic!("the ticket opens the stream: {}", r.body));
    let reused = SseStream::open(&format!("{url}?ticket={ticket}"), None)
        .await
        .err()
        .expect("a reused ticket refused");
    reused.assert_error(401, "invalid_ticket");

    // The ticket's stream is Alice's.
    let up = t.upload(Some(&alice.access), jpeg(32, 32), "a.jpg", None).await;
    let file_id = up.body["file_id"].as_str().unwrap().to_string();
    stream
        .expect_event("media.thumbnail_ready", WAIT, |d| d["file_id"] == file_id.as_str())
        .await;
    t.shutdown().await;
}

#[tokio::test]
async fn an_embedded_node_is_a_cluster_of_one() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.auth.admin_emails = vec!["admin@folio.test".into()]
    })
    .await;
    let admin = t.user("admin").await;
    let user = t.user("someone").await;
    t.get("/admin/cluster", Some(&user.access))
        .await
        .assert_error(403, "forbidden");
    t.get("/admin/cluster", None).await.assert_error(401, "unauthorized");
    let view = t.get("/admin/cluster", Some(&admin.access)).await;
    assert_eq!(view.status, 200, "{}", view.body);
    let nodes = view.body["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 1, "{}", view.body);
    let node = &nodes[0];
    assert_eq!(node["state"], "reachable");
    assert_eq!(node["roles"], json!(["http", "thumbnailer", "indexer"]));
    assert_eq!(node["http_addr"], t.node().addr.to_string());
    assert!(node["cluster_addr"].is_null());
    assert!(node["actor_restarts"]["project"].is_u64(), "{node}");
    assert_eq!(view.body["consumers"], json!([]));
    assert_eq!(view.body["media_pending"], 0);
    t.shutdown().await;
}
