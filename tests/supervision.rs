//! Every long-running loop is a supervised actor: a loop that panics is restarted (and
//! counted), events sent after the fault still arrive, a subscription that ends is
//! taken again, and a loop that fails forever makes `/ready` 503 and ends `folio serve`.
//! Faults come from the `fault-injection` feature (each test is its own process).

mod common;

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use common::{Backend, TestNode, bus_as_jetstream, eventually, jpeg, nats_isolation, shared_nats_url};
use folio::NodeFailure;
use folio_actors::{
    faults::{self, FaultPoint},
    indexer, thumbnailer,
};
use serde_json::json;

/// `folio_actor_restarts_total{actor=…}` as the node reports it now.
async fn restarts(t: &TestNode, actor: &str) -> u64 {
    let text = t
        .client
        .get(format!("{}/metrics", t.url))
        .send()
        .await
        .expect("metrics answered")
        .text()
        .await
        .expect("metrics read");
    let series = format!("folio_actor_restarts_total{{actor=\"{actor}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|value| value as u64)
        .unwrap_or_else(|| panic!("no restart series for {actor} in:\n{text}"))
}

async fn searchable(t: &TestNode, title: &str) {
    eventually(
        Duration::from_secs(20),
        &format!("{title} to be searchable"),
        || async {
            let reply = t.get(&format!("/search?query={title}"), None).await;
            (reply.status == 200 && reply.body["total"] == 1).then_some(())
        },
    )
    .await;
}

// Both relays: the cursor one on SQLite, the claiming one on PostgreSQL.
on_every_backend!(a_relay_that_panics_is_restarted_and_events_still_flow);

async fn a_relay_that_panics_is_restarted_and_events_still_flow(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let user = t.user("ana").await;
    assert_eq!(restarts(&t, "outbox-relay").await, 0);
    faults::arm(FaultPoint::Relay, 1);
    eventually(Duration::from_secs(10), "the relay to restart", || async {
        (restarts(&t, "outbox-relay").await == 1).then_some(())
    })
    .await;
    t.create_project(&user.access, json!({"title": "afterrelayfault", "description": "x"}))
        .await;
    searchable(&t, "afterrelayfault").await;
    assert_eq!(t.get("/ready", None).await.status, 200);
    t.shutdown().await;
}

#[tokio::test]
async fn an_indexer_that_panics_is_restarted_and_indexes_what_comes_next() {
    let t = TestNode::spawn(Backend::Sqlite).await;
    let user = t.user("ana").await;
    faults::arm(FaultPoint::Indexer, 1);
    // The batch carrying this one takes the fault; the bus offers it again after the
    // consumer's ack wait.
    t.create_project(&user.access, json!({"title": "takesthefault", "description": "x"}))
        .await;
    eventually(Duration::from_secs(10), "the indexer to restart", || async {
        (restarts(&t, indexer::ACTOR).await == 1).then_some(())
    })
    .await;
    t.create_project(&user.access, json!({"title": "afterindexerfault", "description": "x"}))
        .await;
    searchable(&t, "afterindexerfault").await;
    t.shutdown().await;
}

#[tokio::test]
async fn a_thumbnail_runner_that_panics_is_restarted_and_loses_no_job() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.media.thumbnail_ack_wait = std::time::Duration::from_secs(1)
    })
    .await;
    let user = t.user("ana").await;
    faults::arm(FaultPoint::ThumbnailerPump, 1);
    let first = t.upload(Some(&user.access), jpeg(640, 480), "first.jpg", None).await;
    assert_eq!(first.status, 201, "{}", first.body);
    eventually(Duration::from_secs(10), "the thumbnail runner to restart", || async {
        (restarts(&t, thumbnailer::ACTOR).await == 1).then_some(())
    })
    .await;
    let second = t.upload(Some(&user.access), jpeg(640, 480), "second.jpg", None).await;
    assert_eq!(second.status, 201, "{}", second.body);
    for upload in [&first, &second] {
        let file_id = upload.body["file_id"].as_str().expect("file id");
        let settled = t.settled_media(&user.access, file_id).await;
        assert_eq!(settled["thumbnail_status"], "ready", "{settled}");
    }
    t.shutdown().await;
}

#[tokio::test]
async fn a_consumer_whose_subscription_ends_subscribes_again() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| nats_isolation(s, &shared_nats_url())).await;
    let user = t.user("ana").await;
    // Deleting the durable consumer on the server ends the node's subscription.
    let bus = bus_as_jetstream(&t.node().bus);
    let stream = bus.stream("media.uploaded").await.expect("the media stream");
    eventually(
        Duration::from_secs(10),
        "the thumbnailer's consumer to exist",
        || async { stream.consumer_info(thumbnailer::DURABLE).await.ok().map(|_| ()) },
    )
    .await;
    stream
        .delete_consumer(thumbnailer::DURABLE)
        .await
        .expect("deleting the consumer");
    eventually(Duration::from_secs(20), "the thumbnail runner to restart", || async {
        (restarts(&t, thumbnailer::ACTOR).await >= 1).then_some(())
    })
    .await;
    let upload = t.upload(Some(&user.access), jpeg(320, 240), "after.jpg", None).await;
    assert_eq!(upload.status, 201, "{}", upload.body);
    let file_id = upload.body["file_id"].as_str().expect("file id");
    assert_eq!(
        t.settled_media(&user.access, file_id).await["thumbnail_status"],
        "ready"
    );
    t.shutdown().await;
}

#[tokio::test]
async fn a_loop_that_fails_forever_makes_the_node_unready_and_ends_serving() {
    let mut t = TestNode::spawn_with(Backend::Sqlite, |s| s.node.actor_max_restarts = 2).await;
    faults::arm(FaultPoint::Relay, u32::MAX);
    let ready = eventually(Duration::from_secs(20), "/ready to fail", || async {
        let reply = t.get("/ready", None).await;
        (reply.status == 503).then_some(reply.body)
    })
    .await;
    assert!(ready.to_string().contains("outbox-relay"), "names the actor: {ready}");
    let node = t.node.as_mut().expect("node running");
    let failure = tokio::time::timeout(Duration::from_secs(5), node.serving())
        .await
        .expect("serving() ends once the supervisor gave up");
    assert!(
        matches!(&failure, NodeFailure::ActorGaveUp(gave_up) if gave_up.actor == "outbox-relay"),
        "{failure:?}"
    );
    t.shutdown().await;
}

#[test]
fn folio_serve_exits_non_zero_when_an_actor_keeps_failing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_folio"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FOLIO_DATA_DIR", dir.path())
        .env("FOLIO_ADDR", "127.0.0.1:0")
        .env("FOLIO_TEST_FAULTS", "relay:always")
        .env("FOLIO_ACTOR_MAX_RESTARTS", "2")
        .env("FOLIO_LOG_FILTER", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting folio serve");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for folio serve") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("folio serve kept running with an actor that fails forever");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().expect("reading its output");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!status.success(), "exit status {status}; log:\n{log}");
    assert!(log.contains("outbox-relay"), "the log names the actor:\n{log}");
}

#[tokio::test]
async fn a_delivery_that_is_not_an_event_is_terminated_and_counted() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| nats_isolation(s, &shared_nats_url())).await;
    let user = t.user("ana").await;
    let bus = bus_as_jetstream(&t.node().bus);
    let js = async_nats::jetstream::new(bus.client().clone());
    let broken = br#"{"event_id":"0190d6a8-7b5e-7cc0-8000-000000000009","event_type":"media.uploaded","data":{"file":"?"},"timestamp":"2026-11-26T08:00:00.000Z"}"#;
    js.publish(bus.subject_for("media.uploaded"), broken.as_slice().into())
        .await
        .expect("published")
        .await
        .expect("stored");
    eventually(
        Duration::from_secs(20),
        "the malformed delivery to be counted",
        || async {
            let text = t
                .get("/metrics", None)
                .await
                .body
                .as_str()
                .unwrap_or_default()
                .to_string();
            text.contains("folio_events_malformed_total{type=\"media.uploaded\"} 1")
                .then_some(())
        },
    )
    .await;
    // Terminated, not left to come back: the consumer holds nothing for it.
    let stream = bus.stream("media.uploaded").await.expect("the media stream");
    eventually(Duration::from_secs(10), "the consumer to settle it", || async {
        let mut consumer = stream
            .get_consumer::<async_nats::jetstream::consumer::pull::Config>(thumbnailer::DURABLE)
            .await
            .ok()?;
        let info = consumer.info().await.ok()?;
        (info.num_ack_pending == 0 && info.num_pending == 0).then_some(())
    })
    .await;
    // And the consumer goes on with real work.
    let upload = t.upload(Some(&user.access), jpeg(320, 240), "next.jpg", None).await;
    let file_id = upload.body["file_id"].as_str().expect("file id");
    assert_eq!(
        t.settled_media(&user.access, file_id).await["thumbnail_status"],
        "ready"
    );
    t.shutdown().await;
}
