//! Events (docs/contract.md §5): the envelope on JetStream, the outbox surviving a NATS outage, and
//! one conformance suite for both event bus implementations.

mod common;

use std::{
    collections::HashSet,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use common::{Backend, TestNode, eventually, nats_isolation, shared_nats_url, stream_events};
use folio_actors::events::{
    ConsumerSpec, Delivery, DomainEvent, EventBus, EventEnvelope, EventType, InProcessBus, JetStreamBus,
    JetStreamNames, MediaUploaded, ProjectChanged, Subscription, next_event,
};
use serde_json::{Value, json};

on_every_backend!(each_change_is_one_event_with_the_seed_envelope);

fn assert_envelope(event: &Value, event_type: &str, subject_prefix: &str) {
    assert_eq!(event["event_type"], event_type, "{event}");
    assert_eq!(event["_subject"], format!("{subject_prefix}{event_type}"));
    assert!(uuid::Uuid::parse_str(event["event_id"].as_str().unwrap()).is_ok());
    let ts = event["timestamp"].as_str().unwrap();
    assert!(
        ts.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
        "{ts}"
    );
}

async fn each_change_is_one_event_with_the_seed_envelope(backend: Backend) {
    let t = TestNode::spawn_on_nats(backend).await;
    let prefix = t.settings.bus.subject_prefix.clone();
    let u = t.user("alice").await;
    assert_eq!(
        t.put("/profile/me", Some(&u.access), json!({"name": "Alice Tan"}))
            .await
            .status,
        200
    );
    let p = t
        .create_project(
            &u.access,
            json!({"title": "My App", "description": "Desc", "tags": ["python", "flask"]}),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(
        t.put(
            &format!("/projects/{id}"),
            Some(&u.access),
            json!({"title": "My App 2"})
        )
        .await
        .status,
        200
    );
    let thumb = t
        .put(
            &format!("/projects/{id}/thumbnail"),
            Some(&u.access),
            json!({"thumbnail_url": "https://cdn.example/t.jpg"}),
        )
        .await;
    assert_eq!(thumb.status, 200);
    assert_eq!(t.delete(&format!("/projects/{id}"), Some(&u.access)).await.status, 200);
    // A rejected change publishes nothing.
    t.put(&format!("/projects/{id}"), Some(&u.access), json!({"title": "gone"}))
        .await
        .assert_error(404, "project_not_found");

    let node = t.node();
    let projects = eventually(Duration::from_secs(15), "four project events", || async {
        let events = stream_events(node, "project.created").await;
        (events.len() >= 4).then_some(events)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let projects_again = stream_events(node, "project.created").await;
    assert_eq!(
        projects_again.len(),
        4,
        "exactly one event per change: {projects_again:#?}"
    );
    let kinds: Vec<&str> = projects.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "project.created",
            "project.updated",
            "project.updated",
            "project.deleted"
        ]
    );
    let versions: Vec<i64> = projects.iter().map(|e| e["version"].as_i64().unwrap()).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    for event in &projects {
        assert_envelope(event, event["event_type"].as_str().unwrap(), &prefix);
    }
    assert_eq!(
        projects[0]["data"],
        json!({"project_id": id, "user_id": u.user_id, "username": "alice", "title": "My App",
               "description": "Desc", "tags": ["python", "flask"], "thumbnail_url": null,
               "visibility": "public"})
    );
    assert_eq!(projects[1]["data"]["title"], "My App 2");
    assert_eq!(projects[2]["data"]["thumbnail_url"], "https://cdn.example/t.jpg");
    assert_eq!(projects[3]["data"], json!({"project_id": id}));

    let profiles = stream_events(node, "profile.updated").await;
    assert_eq!(profiles.len(), 1, "{profiles:#?}");
    assert_envelope(&profiles[0], "profile.updated", &prefix);
    assert_eq!(
        profiles[0]["data"],
        json!({"user_id": u.user_id, "username": "alice", "name": "Alice Tan"})
    );
    assert!(profiles[0].get("version").is_none());
    t.shutdown().await;
}

/// A nats-server of the test's own, on a free loopback port, with its own store.
struct PrivateNats {
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateNats {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut nats = Self {
            port,
            store: tempfile::tempdir().unwrap(),
            child: None,
        };
        nats.restart();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed for this test (scripts/test.sh installs it)");
        self.child = Some(child);
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "private nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_outage_loses_no_event_and_duplicates_none() {
    let mut nats = PrivateNats::start();
    let url = nats.url();
    let t = TestNode::spawn_with(Backend::Postgres, |s| nats_isolation(s, &url)).await;
    let u = t.user("writer").await;
    let mut created = HashSet::new();
    for i in 0..200 {
        if i == 70 {
            nats.stop();
        }
        if i == 140 {
            nats.restart();
        }
        let reply = t
            .request(
                reqwest::Method::POST,
                "/projects",
                Some(&u.access),
                Some(json!({"title": format!("p{i}")})),
            )
            .await;
        assert_eq!(
            reply.status,
            201,
            "write {i} while NATS was {}: {}",
            if (70..140).contains(&i) { "down" } else { "up" },
            reply.body
        );
        created.insert(reply.body["id"].as_str().unwrap().to_string());
    }
    let node = t.node();
    let events = eventually(Duration::from_secs(60), "all 200 events on the stream", || async {
        let events = stream_events(node, "project.created").await;
        (events.len() >= 200).then_some(events)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let events_again = stream_events(node, "project.created").await;
    assert_eq!(events_again.len(), 200, "each write's event exactly once");
    let ids: HashSet<String> = events
        .iter()
        .map(|e| e["data"]["project_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, created);
    let event_ids: HashSet<&str> = events.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    assert_eq!(event_ids.len(), 200);
    t.shutdown().await;
}

// ---- one conformance suite for both buses ----

fn spec(durable: &str, subjects: &[&str]) -> ConsumerSpec {
    ConsumerSpec {
        durable: durable.to_string(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        ack_wait: Duration::from_secs(2),
        max_deliver: -1,
    }
}

/// An event of `event_type` whose payload carries `n`.
fn sample(event_type: &str, n: i64) -> DomainEvent {
    let id = uuid::Uuid::from_u128(n as u128);
    let project = ProjectChanged {
        description: format!("event {n}"),
        project_id: id,
        tags: vec![],
        thumbnail_url: None,
        title: format!("p{n}"),
        user_id: id,
        username: "ana".into(),
        visibility: Default::default(),
    };
    match EventType::parse(event_type).expect("a known event type") {
        EventType::ProjectCreated => DomainEvent::ProjectCreated(project),
        EventType::ProjectUpdated => DomainEvent::ProjectUpdated(project),
        EventType::MediaUploaded => DomainEvent::MediaUploaded(MediaUploaded {
            file_id: id,
            file_url: format!("http://localhost/media/{n}.png"),
            mime_type: "image/png".into(),
            owner_id: id,
            path: format!("uploads/{n}.png"),
            project_id: None,
        }),
        other => panic!("no sample for {other}"),
    }
}

async fn next(subscription: &mut Box<dyn Subscription>) -> Option<Delivery> {
    next_event(subscription.as_mut(), None).await
}

async fn publish(bus: &dyn EventBus, event_type: &str, n: i64) -> EventEnvelope {
    let event = EventEnvelope::new(sample(event_type, n), Some(n));
    let ack = bus.publish(&event).await.expect("publish sent");
    // The in-process ack waits for consumers, so don't block on it here.
    tokio::spawn(async move {
        let _ = ack.await;
    });
    event
}

async fn conformance(bus: Arc<dyn EventBus>) {
    let within = Duration::from_secs(10);
    // Filters: a consumer of project.> sees project events only, in order.
    let mut projects = bus.subscribe(spec("indexer", &["project.>"])).await.unwrap();
    let mut media = bus.subscribe(spec("thumbnailer", &["media.uploaded"])).await.unwrap();
    let first = publish(&*bus, "project.created", 1).await;
    publish(&*bus, "media.uploaded", 2).await;
    let second = publish(&*bus, "project.updated", 3).await;

    let d = tokio::time::timeout(within, next(&mut projects))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.event, first);
    assert_eq!(d.attempt, 1);
    d.ack().await.unwrap();
    let d = tokio::time::timeout(within, next(&mut media)).await.unwrap().unwrap();
    assert_eq!(d.event.event_type(), EventType::MediaUploaded);
    d.ack().await.unwrap();

    // A nak comes back after its delay, as a later attempt.
    let d = tokio::time::timeout(within, next(&mut projects))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.event, second);
    d.nak(Duration::from_millis(200)).await.unwrap();
    let again = tokio::time::timeout(within, next(&mut projects))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.event, second);
    assert_eq!(again.attempt, 2);

    // In-progress keeps it; an unsettled delivery dropped by a crashed consumer comes
    // back after ack_wait.
    again.in_progress().await.unwrap();
    drop(again);
    let redelivered = tokio::time::timeout(within, next(&mut projects))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(redelivered.event, second);
    assert!(redelivered.attempt >= 3);
    redelivered.term().await.unwrap();

    // Two subscribers with one durable name share the work: each event goes to one.
    let mut a = bus.subscribe(spec("workers", &["media.uploaded"])).await.unwrap();
    let mut b = bus.subscribe(spec("workers", &["media.uploaded"])).await.unwrap();
    let mut sent = HashSet::new();
    for n in 10..20 {
        sent.insert(publish(&*bus, "media.uploaded", n).await.event_id);
    }
    let mut seen = HashSet::new();
    let mut from_media = 0;
    while seen.len() < 10 {
        let delivery = tokio::select! {
            d = next(&mut a) => d,
            d = next(&mut b) => d,
            _ = tokio::time::sleep(within) => panic!("shared consumer stalled after {} events", seen.len()),
        }
        .unwrap();
        if delivery.event.event_type() == EventType::MediaUploaded && sent.contains(&delivery.event.event_id) {
            assert!(
                seen.insert(delivery.event.event_id),
                "an event went to two workers of one durable"
            );
        }
        from_media += 1;
        delivery.ack().await.unwrap();
    }
    assert!(from_media >= 10);
    // The earlier consumer of media.uploaded gets them too: durable names are independent.
    for _ in 0..10 {
        let d = tokio::time::timeout(within, next(&mut media)).await.unwrap().unwrap();
        d.ack().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_bus_conformance() {
    conformance(Arc::new(InProcessBus::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_bus_conformance() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let names = JetStreamNames {
        stream_prefix: format!("C{}_", &id[..12]),
        subject_prefix: format!("c{}.", &id[..12]),
    };
    let bus = JetStreamBus::connect(&shared_nats_url(), names, Duration::from_secs(120))
        .await
        .expect("NATS with JetStream must be running (scripts/test.sh starts it)");
    conformance(Arc::new(bus)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_publish_ack_waits_for_every_consumer() {
    let bus = InProcessBus::new();
    // Nobody listening: durable at once.
    let lonely = EventEnvelope::new(sample("project.created", 1), Some(1));
    bus.publish(&lonely).await.unwrap().await.unwrap();

    let mut indexer = bus.subscribe(spec("indexer", &["project.>"])).await.unwrap();
    let mut audit = bus.subscribe(spec("audit", &["project.created"])).await.unwrap();
    let event = EventEnvelope::new(sample("project.created", 1), Some(1));
    let mut ack = bus.publish(&event).await.unwrap();
    let d1 = next(&mut indexer).await.unwrap();
    d1.ack().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut ack)
            .await
            .is_err(),
        "acknowledged before the second consumer settled"
    );
    let d2 = next(&mut audit).await.unwrap();
    d2.ack().await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), ack)
        .await
        .unwrap()
        .unwrap();
}

/// Issue 13, defect 8: with NATS away an HTTP node still serves (writes go to the
/// outbox), so `/ready` says `degraded` with 200; and SIGTERM's stop stays within the
/// grace period instead of waiting on a bus that cannot answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ready_is_degraded_not_down_while_nats_is_away_and_shutdown_stays_bounded() {
    let mut nats = PrivateNats::start();
    let url = nats.url();
    let grace_secs = 2;
    let t = TestNode::spawn_with(Backend::Postgres, |s| {
        nats_isolation(s, &url);
        s.node.shutdown_grace = std::time::Duration::from_secs(grace_secs);
    })
    .await;
    let u = t.user("outage").await;
    let ready = t.get("/ready", None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["status"], "ok", "{}", ready.body);

    nats.stop();
    let reply = t
        .request(
            reqwest::Method::POST,
            "/projects",
            Some(&u.access),
            Some(json!({"title": "written while NATS is away"})),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let ready = eventually(Duration::from_secs(30), "the bus to be reported down", || async {
        let ready = t.get("/ready", None).await;
        let bus = ready.body["checks"]
            .as_array()
            .and_then(|checks| checks.iter().find(|c| c["name"] == "event_bus").cloned());
        bus.is_some_and(|b| b["ok"] == false).then_some(ready)
    })
    .await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["ready"], true);
    assert_eq!(ready.body["status"], "degraded");
    let database = ready.body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "database")
        .unwrap();
    assert_eq!(database["ok"], true);

    // The stop is bounded by the grace period (plus slack for a loaded machine); it used
    // to take over 20 s while NATS was away.
    let mut t = t;
    let node = t.node.take().unwrap();
    let bound = Duration::from_secs(grace_secs + 8);
    tokio::time::timeout(bound, node.shutdown())
        .await
        .expect("shutdown with NATS away finishes within the grace period");
}

// ---- the outbox relay on PostgreSQL: nodes share the rows, and wake each other ----

/// A bus that notes what it was asked to publish. While its gate is closed, acks wait:
/// the relay's round stays open, holding the rows it claimed.
#[derive(Clone)]
struct RecordingBus {
    published: Arc<std::sync::Mutex<Vec<uuid::Uuid>>>,
    gate: tokio::sync::watch::Receiver<bool>,
}

impl RecordingBus {
    /// A bus and the sender that opens (`true`) or closes its gate.
    fn new(open: bool) -> (Self, tokio::sync::watch::Sender<bool>) {
        let (gate_tx, gate) = tokio::sync::watch::channel(open);
        let bus = Self {
            published: Arc::default(),
            gate,
        };
        (bus, gate_tx)
    }

    fn published(&self) -> Vec<uuid::Uuid> {
        self.published.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl EventBus for RecordingBus {
    async fn publish(
        &self,
        event: &EventEnvelope,
    ) -> Result<folio_actors::events::PendingAck, folio_actors::events::BusError> {
        self.published.lock().unwrap().push(event.event_id);
        let mut gate = self.gate.clone();
        Ok(Box::pin(async move {
            gate.wait_for(|open| *open)
                .await
                .map_err(|_| folio_actors::events::BusError::Unavailable("gate dropped".into()))?;
            Ok(folio_actors::events::Published { duplicate: false })
        }))
    }

    async fn subscribe(&self, _spec: ConsumerSpec) -> Result<Box<dyn Subscription>, folio_actors::events::BusError> {
        Err(folio_actors::events::BusError::Rejected(
            "a recording bus has no consumers".into(),
        ))
    }

    async fn ping(&self) -> Result<(), folio_actors::events::BusError> {
        Ok(())
    }

    fn name(&self) -> &'static str {
        "recording"
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A migrated fresh PostgreSQL database, and a connection to it for writing.
async fn outbox_database() -> (String, sea_orm::DatabaseConnection) {
    let url = common::fresh_postgres_database().await;
    let db = sea_orm::Database::connect(&url).await.unwrap();
    folio::startup::migrate(&db).await.unwrap();
    (url, db)
}

/// A relay as a node starts it: a pool of its own, under a supervisor of its own.
async fn start_relay(
    url: &str,
    bus: &RecordingBus,
    safety_poll: Duration,
) -> (
    folio_actors::events::outbox::OutboxSignal,
    ractor::ActorRef<folio_actors::supervisor::SupervisorMsg>,
) {
    let mut options = sea_orm::ConnectOptions::new(url.to_string());
    options
        .max_connections(folio_actors::relay::RELAY_CONNECTIONS)
        .sqlx_logging(false);
    let pool = sea_orm::Database::connect(options).await.unwrap();
    let supervisor = folio_actors::NodeSupervisor::start().await.unwrap();
    let signal = folio_actors::events::outbox::OutboxSignal::default();
    folio_actors::relay::OutboxRelay::start_with_poll(
        &supervisor,
        pool.clone(),
        pool,
        Arc::new(bus.clone()),
        signal.clone(),
        safety_poll,
    )
    .await
    .unwrap();
    (signal, supervisor)
}

/// Commits `n` events in one transaction and returns their ids.
async fn commit_events(db: &sea_orm::DatabaseConnection, first: i64, n: i64) -> Vec<uuid::Uuid> {
    use sea_orm::TransactionTrait as _;
    let txn = db.begin().await.unwrap();
    let events = folio_actors::events::append_events(&txn, (first..first + n).map(|i| sample("project.created", i)))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    events.into_iter().map(|e| e.event_id).collect()
}

async fn unpublished(db: &sea_orm::DatabaseConnection) -> u64 {
    use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
    folio_entities::outbox_events::Entity::find()
        .filter(folio_entities::outbox_events::Column::PublishedAt.is_null())
        .count(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_on_one_database_publish_each_row_once_between_them() {
    use folio_actors::relay::CONCURRENT_ROUNDS;
    let (url, db) = outbox_database().await;
    let hour = Duration::from_secs(3600);
    let (bus_a, gate_a) = RecordingBus::new(false);
    let (bus_b, _gate_b) = RecordingBus::new(true);
    let (signal_a, supervisor_a) = start_relay(&url, &bus_a, hour).await;

    // Node A's writers commit, one batch per round A can run; each round claims its
    // rows and waits for acks that do not come, until A has no round left.
    let mut held_by_a = Vec::new();
    for round in 0..CONCURRENT_ROUNDS as i64 {
        held_by_a.extend(commit_events(&db, round * 20, 20).await);
        signal_a.notify();
        eventually(Duration::from_secs(30), "relay A publishing its rows", || async {
            (bus_a.published().len() == held_by_a.len()).then_some(())
        })
        .await;
    }
    // Node B's writers commit: B publishes its rows past the ones A holds, instead of
    // publishing A's too or waiting for A.
    let (signal_b, supervisor_b) = start_relay(&url, &bus_b, hour).await;
    let for_b = commit_events(&db, 1000, 20).await;
    signal_b.notify();
    eventually(
        Duration::from_secs(30),
        "relay B publishing and stamping its rows",
        || async {
            (bus_b.published().len() >= for_b.len() && unpublished(&db).await == held_by_a.len() as u64).then_some(())
        },
    )
    .await;
    gate_a.send(true).unwrap();
    eventually(Duration::from_secs(30), "every row stamped", || async {
        (unpublished(&db).await == 0).then_some(())
    })
    .await;

    let mut published_a = bus_a.published();
    published_a.sort();
    held_by_a.sort();
    assert_eq!(published_a, held_by_a, "A published the rows it claimed, once");
    assert_eq!(bus_b.published(), for_b, "B published the rest, in order, once");
    supervisor_a.stop(None);
    supervisor_b.stop(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_from_another_node_wakes_the_relay() {
    use sea_orm::ConnectionTrait as _;
    let (url, db) = outbox_database().await;
    let (bus, _gate) = RecordingBus::new(true);
    // The poll would take an hour: only the notification can get the rows out.
    let (_signal, supervisor) = start_relay(&url, &bus, Duration::from_secs(3600)).await;
    eventually(Duration::from_secs(30), "the relay listening", || async {
        let listening = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        (listening > 0).then_some(())
    })
    .await;
    // Twice: the first rows may go out with the round the listener's start triggers.
    let mut expected = Vec::new();
    for round in 0..2 {
        expected.extend(commit_events(&db, round * 10, 10).await);
        // What another node's relay sends when its writers commit.
        db.execute_unprepared("SELECT pg_notify('folio_outbox', 'another-node')")
            .await
            .unwrap();
        eventually(Duration::from_secs(30), "the notified relay publishing", || async {
            (bus.published().len() == expected.len()).then_some(())
        })
        .await;
    }
    assert_eq!(bus.published(), expected);
    supervisor.stop(None);
}
