//! Nodes that know each other, as real OS processes (ractor's process groups are global
//! to a process, so two nodes must be two processes): PostgreSQL, NATS JetStream and
//! S3 (s3s-fs), an HTTP-only node and a thumbnailer-only node.

mod common;

use std::time::{Duration, Instant};

use common::{
    SseStream, eventually, jpeg,
    nodes::{Cluster, free_port, healthy, sign_up},
};
use serde_json::{Value, json};

const COOKIE: &str = "cluster-test-cookie-of-at-least-32-bytes";

async fn cluster_view(base: &str, admin: &str) -> Value {
    let reply = reqwest::Client::new()
        .get(format!("{base}/admin/cluster"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("cluster view");
    assert_eq!(reply.status(), 200);
    reply.json().await.expect("cluster body")
}

fn state_of(view: &Value, name: &str) -> Option<String> {
    view["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == name)
        .map(|n| n["state"].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_see_each_other_and_a_thumbnail_made_on_one_reaches_a_client_on_the_other() {
    let cluster = Cluster::new().await;
    let http = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{http}");
    let edge = cluster.spawn("edge-1", "http,indexer", &http, COOKIE, &base);
    healthy(&base, &edge).await;
    let worker_ops = format!("127.0.0.1:{}", free_port());
    let worker = cluster.spawn("thumbs-1", "thumbnailer", &worker_ops, COOKIE, &base);
    healthy(&format!("http://{worker_ops}"), &worker).await;
    let admin = sign_up(&base, "admin").await;

    let joined = Instant::now();
    let view = eventually(Duration::from_secs(10), "both nodes reachable", || async {
        let view = cluster_view(&base, &admin).await;
        (state_of(&view, "edge-1").as_deref() == Some("reachable")
            && state_of(&view, "thumbs-1").as_deref() == Some("reachable"))
        .then_some(view)
    })
    .await;
    println!("both nodes reachable {:?} after the worker was up", joined.elapsed());
    let thumbs = view["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "thumbs-1")
        .unwrap();
    assert_eq!(thumbs["roles"], json!(["thumbnailer"]), "{view}");
    assert_eq!(thumbs["http_addr"], worker_ops);
    assert!(thumbs["actor_restarts"]["thumbnailer"].is_u64(), "{view}");
    assert!(
        thumbs["cluster_addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:"))
    );
    let durables: Vec<&str> = view["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["durable"].as_str())
        .collect();
    assert!(
        durables.contains(&"thumbnailer") && durables.contains(&"indexer"),
        "{view}"
    );

    // A client on the HTTP node hears of a thumbnail made on the other node.
    let user = sign_up(&base, "uploader").await;
    let mut events = SseStream::open(&format!("{base}/events"), Some(&user))
        .await
        .expect("events");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(jpeg(800, 600)).file_name("p.jpg"),
    );
    let upload: Value = reqwest::Client::new()
        .post(format!("{base}/media/upload"))
        .bearer_auth(&user)
        .multipart(form)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("upload body");
    let file_id = upload["file_id"].as_str().expect("file id").to_string();
    let ready = events
        .expect_event("media.thumbnail_ready", Duration::from_secs(30), |d| {
            d["file_id"] == file_id.as_str()
        })
        .await;
    assert_eq!(
        (ready["width"].as_u64(), ready["height"].as_u64()),
        (Some(800), Some(600))
    );
    assert!(worker.log().contains("thumbnail ready"), "{}", worker.log());
    assert!(
        !edge.log().contains("thumbnail ready"),
        "the HTTP node made a thumbnail"
    );

    // SIGKILL: unreachable within 20 s, then gone when its entry expires.
    let mut worker = worker;
    worker.kill();
    let killed = Instant::now();
    eventually(
        Duration::from_secs(20),
        "the killed node unreachable or gone",
        || async {
            let view = cluster_view(&base, &admin).await;
            (state_of(&view, "thumbs-1").as_deref() != Some("reachable")).then_some(())
        },
    )
    .await;
    println!("unreachable {:?} after SIGKILL", killed.elapsed());
    eventually(Duration::from_secs(40), "the killed node gone", || async {
        state_of(&cluster_view(&base, &admin).await, "thumbs-1")
            .is_none()
            .then_some(())
    })
    .await;
    println!("gone {:?} after SIGKILL", killed.elapsed());

    // Started again, it rejoins.
    let again = cluster.spawn("thumbs-1", "thumbnailer", &worker_ops, COOKIE, &base);
    healthy(&format!("http://{worker_ops}"), &again).await;
    eventually(Duration::from_secs(10), "the restarted node reachable", || async {
        (state_of(&cluster_view(&base, &admin).await, "thumbs-1").as_deref() == Some("reachable")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_with_the_wrong_cookie_never_joins() {
    let cluster = Cluster::new().await;
    let http = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{http}");
    let edge = cluster.spawn("edge-1", "http,indexer", &http, COOKIE, &base);
    healthy(&base, &edge).await;
    let intruder_ops = format!("127.0.0.1:{}", free_port());
    let intruder = cluster.spawn(
        "intruder",
        "thumbnailer",
        &intruder_ops,
        "not-the-cookie-but-at-least-32-bytes-long",
        &base,
    );
    healthy(&format!("http://{intruder_ops}"), &intruder).await;
    let admin = sign_up(&base, "admin").await;

    eventually(Duration::from_secs(20), "the refused handshake in the log", || async {
        edge.log().contains("cluster handshake refused").then_some(())
    })
    .await;
    // Listed (it announces itself), never reachable.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let view = cluster_view(&base, &admin).await;
        assert_eq!(state_of(&view, "edge-1").as_deref(), Some("reachable"), "{view}");
        assert_ne!(state_of(&view, "intruder").as_deref(), Some("reachable"), "{view}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        intruder.log().contains("cluster handshake refused"),
        "{}",
        intruder.log()
    );
}

/// The test process joins the cluster as a node and asks a `folio` process's agent
/// directly, over ractor_cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_test_process_joins_and_calls_a_node_agent() {
    join_and_describe(None).await;
}

/// The same over mutual TLS: certificates signed by one CA, checked on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_talk_over_mutual_tls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tls = test_certificates(dir.path());
    join_and_describe(Some(tls)).await;
}

/// A CA and one node certificate for 127.0.0.1 (server and client use), by openssl.
fn test_certificates(dir: &std::path::Path) -> folio_actors::cluster::server::TlsFiles {
    let openssl = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs (Debian's openssl package)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=folio-test-ca",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &["-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=folio-node"],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("node.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n",
    )
    .expect("extensions file");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "node.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "node.pem",
        "-days",
        "2",
        "-extfile",
        "node.ext",
    ]);
    folio_actors::cluster::server::TlsFiles {
        cert: dir.join("node.pem"),
        key: dir.join("node.key"),
        ca: dir.join("ca.pem"),
    }
}

async fn join_and_describe(tls: Option<folio_actors::cluster::server::TlsFiles>) {
    use folio_actors::{
        NodeSupervisor,
        cluster::{
            agent::{Described, describe, remote_agents},
            registry::NodeRegistry,
            server::{ClusterConfig, ClusterServer},
        },
    };

    let cluster = Cluster::new().await;
    let http = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{http}");
    let tls_env: Vec<(&str, String)> = match &tls {
        Some(files) => vec![
            ("FOLIO_CLUSTER_TLS_CERT", files.cert.display().to_string()),
            ("FOLIO_CLUSTER_TLS_KEY", files.key.display().to_string()),
            ("FOLIO_CLUSTER_TLS_CA", files.ca.display().to_string()),
        ],
        None => vec![],
    };
    let edge = cluster.spawn_with("edge-1", "http,indexer,thumbnailer", &http, COOKIE, &base, &tls_env);
    healthy(&base, &edge).await;

    let supervisor = NodeSupervisor::start().await.expect("supervisor");
    let port = free_port();
    let server = ClusterServer::start(
        &supervisor,
        ClusterConfig {
            node_name: "test-process".into(),
            listen: format!("127.0.0.1:{port}").parse().unwrap(),
            advertise: format!("127.0.0.1:{port}"),
            cookie: COOKIE.into(),
            tls,
            limits: Default::default(),
        },
    )
    .await
    .expect("node server");
    let registry = NodeRegistry::connect(&cluster.nats_url, &format!("C{}_nodes", cluster.id))
        .await
        .expect("registry");
    let entry = eventually(Duration::from_secs(10), "the node's registry entry", || async {
        registry.nodes().await.ok()?.into_iter().find(|n| n.name == "edge-1")
    })
    .await;
    server.dial(&entry.cluster_addr).await.expect("dial");
    let agent = eventually(Duration::from_secs(10), "the remote agent in folio.node", || async {
        remote_agents().into_iter().next()
    })
    .await;
    match describe(&agent, Duration::from_secs(1)).await {
        Described::Answered(description) => {
            assert_eq!(description.name, "edge-1");
            assert_eq!(description.roles, vec!["http", "thumbnailer", "indexer"]);
            assert_eq!(description.http_addr.as_deref(), Some(http.as_str()));
            assert!(
                description.actor_restarts.contains_key("outbox-relay"),
                "{description:?}"
            );
        }
        other => panic!("the agent did not answer: {other:?}\n{}", edge.log()),
    }

    // Listed, then gone from the registry while the session stays up (a half-open peer,
    // or one cut off from NATS): the node ends the session itself.
    let me = folio_actors::cluster::registry::NodeEntry {
        name: "test-process".into(),
        cluster_addr: format!("127.0.0.1:{port}"),
        http_addr: None,
        roles: vec![],
        version: "test".into(),
        started_at: chrono::Utc::now(),
    };
    registry.announce(&me).await.expect("announce");
    // The node's dialer ticks every 0.5 s: let it see the entry.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(server.sessions().await.expect("sessions").contains_key("edge-1"));
    registry.withdraw(&me.name).await;
    eventually(
        Duration::from_secs(10),
        "the node to end the session of an unlisted peer",
        || async { (!server.sessions().await.ok()?.contains_key("edge-1")).then_some(()) },
    )
    .await;
    assert!(
        edge.log().contains("its registry entry expired; ending the session"),
        "{}",
        edge.log()
    );
    supervisor.stop(None);
}

/// The staleness bound of the in-memory project views across nodes: a change made on
/// node A reaches node B's views by the notice A sends after its commit. The views'
/// time to live is set to ten minutes here, so only the notice can make B see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_on_one_node_reaches_the_project_views_of_the_other() {
    let cluster = Cluster::new().await;
    let never_expire = [("FOLIO_PROJECT_CACHE_TTL_MS", "600000".to_string())];
    let a_http = format!("127.0.0.1:{}", free_port());
    let a = format!("http://{a_http}");
    let node_a = cluster.spawn_with("views-a", "http", &a_http, COOKIE, &a, &never_expire);
    let b_http = format!("127.0.0.1:{}", free_port());
    let b = format!("http://{b_http}");
    let node_b = cluster.spawn_with("views-b", "http", &b_http, COOKIE, &b, &never_expire);
    healthy(&a, &node_a).await;
    healthy(&b, &node_b).await;
    let admin = sign_up(&a, "admin").await;
    eventually(Duration::from_secs(20), "the two nodes connected", || async {
        let view = cluster_view(&b, &admin).await;
        (state_of(&view, "views-a").as_deref() == Some("reachable")
            && state_of(&view, "views-b").as_deref() == Some("reachable"))
        .then_some(())
    })
    .await;

    let owner = sign_up(&a, "owner").await;
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{a}/projects"))
        .bearer_auth(&owner)
        .json(&json!({"title": "First title", "tags": ["rust"]}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("created body");
    let id = created["id"].as_str().expect("project id").to_string();
    let read_on_b = |id: String| {
        let client = client.clone();
        let b = b.clone();
        async move {
            let reply = client
                .get(format!("{b}/projects/{id}"))
                .send()
                .await
                .expect("read on B");
            let status = reply.status().as_u16();
            let etag = reply
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body: Value = reply.json().await.unwrap_or(Value::Null);
            (status, etag, body)
        }
    };
    // B reads (and keeps) version 1, twice: the second read is answered from memory.
    for _ in 0..2 {
        let (status, etag, body) = read_on_b(id.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(etag.as_deref(), Some("\"v1\""));
        assert_eq!(body["title"], "First title");
    }
    let metrics = client
        .get(format!("{b}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("folio_project_view_reads_total{result=\"hit\"}") && !l.ends_with(" 0")),
        "B never answered from memory:\n{metrics}"
    );

    let updated = client
        .put(format!("{a}/projects/{id}"))
        .bearer_auth(&owner)
        .json(&json!({"title": "Second title"}))
        .send()
        .await
        .expect("update on A");
    assert_eq!(updated.status(), 200);
    let changed = Instant::now();
    let (etag, body) = eventually(Duration::from_secs(10), "the change visible on B", || async {
        let (status, etag, body) = read_on_b(id.clone()).await;
        (status == 200 && body["title"] == "Second title").then_some((etag, body))
    })
    .await;
    println!("the change was visible on B {:?} after A answered", changed.elapsed());
    assert_eq!(body["version"], 2);
    assert_eq!(etag.as_deref(), Some("\"v2\""), "the ETag follows the version");

    let deleted = client
        .delete(format!("{a}/projects/{id}"))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("delete on A");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    eventually(Duration::from_secs(10), "the delete visible on B", || async {
        (read_on_b(id.clone()).await.0 == 404).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signing_out_on_one_node_ends_the_stream_on_the_other() {
    let cluster = Cluster::new().await;
    let a_http = format!("127.0.0.1:{}", free_port());
    let a = format!("http://{a_http}");
    let node_a = cluster.spawn("streams-a", "http,indexer", &a_http, COOKIE, &a);
    let b_http = format!("127.0.0.1:{}", free_port());
    let b = format!("http://{b_http}");
    let node_b = cluster.spawn("streams-b", "http", &b_http, COOKIE, &b);
    healthy(&a, &node_a).await;
    healthy(&b, &node_b).await;
    let admin = sign_up(&a, "admin").await;
    eventually(Duration::from_secs(20), "the two nodes connected", || async {
        let view = cluster_view(&a, &admin).await;
        (state_of(&view, "streams-a").as_deref() == Some("reachable")
            && state_of(&view, "streams-b").as_deref() == Some("reachable"))
        .then_some(())
    })
    .await;

    let user = sign_up(&a, "walker").await;
    let mut on_b = SseStream::open(&format!("{b}/events"), Some(&user))
        .await
        .expect("a stream on B");
    // A reaches B's hub once A's view of the edge group lists it; until then a logout
    // on A could not reach B. A project indexed on A and reported on B's stream proves
    // that it does.
    let created = reqwest::Client::new()
        .post(format!("{a}/projects"))
        .bearer_auth(&user)
        .json(&json!({"title": "Across nodes"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    on_b.expect_event("project.indexed", Duration::from_secs(30), |_| true)
        .await;

    let out = reqwest::Client::new()
        .post(format!("{a}/auth/logout"))
        .bearer_auth(&user)
        .json(&json!({"all": true}))
        .send()
        .await
        .expect("logout on A");
    assert_eq!(out.status(), 200);
    let (name, data) = on_b.next_event(Duration::from_secs(20)).await.expect("an end on B");
    assert_eq!(
        (name.as_str(), &data["reason"]),
        ("end", &json!("logged_out")),
        "{data}"
    );
    assert!(
        on_b.next_event(Duration::from_secs(2)).await.is_none(),
        "B's stream is over"
    );
}
