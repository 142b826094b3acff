//! Visibility across nodes (issue 20), as real OS processes on PostgreSQL, NATS
//! JetStream and S3 (s3s-fs): node A makes a project private, and the other nodes stop
//! serving the project and its images.
//!
//! - Node B is in A's cluster and keeps views for ten minutes: only the notice A sends
//!   can make it stop, and it does.
//! - Node C shares the database but not the cluster (its own node bucket), so no notice
//!   reaches it, and it runs with the staleness bound (`FOLIO_PROJECT_CACHE_TTL_MS`, 1 s):
//!   once the bound has passed since A answered, C serves neither the project nor its
//!   images. (No time is measured against a limit: the test sleeps past the bound, and
//!   a loaded machine only adds time.)

mod common;

use std::time::{Duration, Instant};

use common::{
    eventually,
    nodes::{Cluster, NodeProcess, free_port, healthy, sign_up},
    png,
};
use serde_json::{Value, json};

const COOKIE: &str = "visibility-cluster-cookie-of-at-least-32-bytes";
/// The staleness bound (the default).
const BOUND: Duration = Duration::from_millis(1000);
/// Views kept so long that within the test only a notice can drop them.
const NOTICE_ONLY: Duration = Duration::from_secs(600);

/// `folio serve` in this test's cluster; `bucket` names the node bucket (nodes in one
/// bucket find each other), `views_ttl` is the node's staleness bound.
fn spawn(
    cluster: &Cluster,
    name: &str,
    roles: &str,
    http: &str,
    public_url: &str,
    bucket: &str,
    views_ttl: Duration,
) -> NodeProcess {
    cluster.spawn_with(
        name,
        roles,
        http,
        COOKIE,
        public_url,
        &[
            ("FOLIO_CLUSTER_BUCKET", format!("C{}_{bucket}", cluster.id)),
            ("FOLIO_PROJECT_CACHE_TTL_MS", views_ttl.as_millis().to_string()),
        ],
    )
}

/// `url` (handed out by node A) on node B.
fn on(base: &str, url: &str) -> String {
    let path = &url[url.find("/media/").expect("a media URL")..];
    format!("{base}{path}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_nodes_stop_serving_a_project_and_its_images_after_node_a_makes_it_private() {
    let cluster = Cluster::new().await;
    let a_http = format!("127.0.0.1:{}", free_port());
    let a = format!("http://{a_http}");
    let node_a = spawn(
        &cluster,
        "curation-a",
        "http,thumbnailer,indexer",
        &a_http,
        &a,
        "nodes",
        BOUND,
    );
    let b_http = format!("127.0.0.1:{}", free_port());
    let b = format!("http://{b_http}");
    let node_b = spawn(&cluster, "curation-b", "http", &b_http, &b, "nodes", NOTICE_ONLY);
    let c_http = format!("127.0.0.1:{}", free_port());
    let c = format!("http://{c_http}");
    let node_c = spawn(&cluster, "curation-c", "http", &c_http, &c, "elsewhere", BOUND);
    healthy(&a, &node_a).await;
    healthy(&b, &node_b).await;
    healthy(&c, &node_c).await;
    let client = reqwest::Client::new();
    let admin = sign_up(&a, "admin").await;
    eventually(Duration::from_secs(20), "the two nodes connected", || async {
        let view: Value = client
            .get(format!("{b}/admin/cluster"))
            .bearer_auth(&admin)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let reachable = |name: &str| {
            view["nodes"]
                .as_array()
                .is_some_and(|nodes| nodes.iter().any(|n| n["name"] == name && n["state"] == "reachable"))
        };
        (reachable("curation-a") && reachable("curation-b")).then_some(())
    })
    .await;

    let owner = sign_up(&a, "owner").await;
    let created: Value = client
        .post(format!("{a}/projects"))
        .bearer_auth(&owner)
        .json(&json!({"title": "Harbour at dusk"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("created");
    let pid = created["id"].as_str().unwrap().to_string();
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(png(120, 80)).file_name("dusk.png"),
        )
        .text("project_id", pid.clone());
    let uploaded: Value = client
        .post(format!("{a}/media/upload"))
        .bearer_auth(&owner)
        .multipart(form)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("uploaded");
    let file = uploaded["file_id"].as_str().unwrap().to_string();
    let media: Value = eventually(Duration::from_secs(60), "the renditions made", || async {
        let media: Value = client
            .get(format!("{a}/media/{file}"))
            .bearer_auth(&owner)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (media["thumbnail_status"] == "ready").then_some(media)
    })
    .await;
    // What anyone could have kept while the project was public: its URL and its
    // images' URLs, on each of the other nodes.
    let project_on = |base: &str| format!("{base}/projects/{pid}");
    let files_on = |base: &str| {
        let mut files = vec![
            on(base, media["file_url"].as_str().unwrap()),
            on(base, media["thumbnail_url"].as_str().unwrap()),
        ];
        files.extend(
            media["renditions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| on(base, r["url"].as_str().unwrap())),
        );
        files
    };
    let status_of = |url: String| {
        let client = client.clone();
        async move { client.get(&url).send().await.expect("a read").status().as_u16() }
    };
    // Everything the node serves of the project: the project, then each image.
    let served = |base: String| {
        let urls: Vec<String> = std::iter::once(project_on(&base)).chain(files_on(&base)).collect();
        async move {
            let mut statuses = Vec::new();
            for url in urls {
                statuses.push((status_of(url.clone()).await, url));
            }
            statuses
        }
    };
    eventually(Duration::from_secs(10), "B showing the gallery", || async {
        let body: Value = client.get(project_on(&b)).send().await.ok()?.json().await.ok()?;
        (body["media"][0]["file_id"] == file.as_str()).then_some(())
    })
    .await;
    // B and C serve it, and keep its view (the second read is from memory).
    for node in [&b, &c] {
        for _ in 0..2 {
            for (status, url) in served(node.to_string()).await {
                assert_eq!(status, 200, "{url}");
            }
        }
    }

    // The indexer (on A) has it.
    let searched = || async {
        let found: Value = client
            .get(format!("{a}/search?query=harbour"))
            .send()
            .await
            .expect("search on A")
            .json()
            .await
            .expect("search body");
        found["results"]
            .as_array()
            .is_some_and(|r| r.iter().any(|hit| hit["project_id"] == pid.as_str()))
    };
    eventually(Duration::from_secs(20), "the project searchable", || async {
        searched().await.then_some(())
    })
    .await;

    // A makes it private.
    let hidden = client
        .put(format!("{a}/projects/{pid}"))
        .bearer_auth(&owner)
        .json(&json!({"visibility": "private"}))
        .send()
        .await
        .expect("make private on A");
    assert_eq!(hidden.status(), 200);
    let changed = Instant::now();

    // B keeps views for ten minutes: only A's notice can make it stop, and it does.
    eventually(
        Duration::from_secs(20),
        "B to stop serving the project and its images",
        || async {
            served(b.clone())
                .await
                .iter()
                .all(|(status, _)| *status == 404)
                .then_some(())
        },
    )
    .await;
    println!(
        "B (told by A's notice) stopped serving it {:?} after A answered",
        changed.elapsed()
    );

    // No notice reaches C; once the bound has passed since A answered, every view C
    // could hold was read before the change and has expired.
    tokio::time::sleep((changed + BOUND + Duration::from_millis(20)).saturating_duration_since(Instant::now())).await;
    for (status, url) in served(c.clone()).await {
        assert_eq!(status, 404, "C still serves {url} past the staleness bound");
    }
    // Once gone, gone, on both.
    for node in [&b, &c] {
        for (status, url) in served(node.to_string()).await {
            assert_eq!(status, 404, "{url}");
        }
    }

    // The index follows: the project is out of search (the indexer consumes
    // `project.updated`, which carries the visibility).
    eventually(Duration::from_secs(10), "the private project out of search", || async {
        (!searched().await).then_some(())
    })
    .await;

    // The owner reads it on B, and B serves the owner's signed URLs (every node derives
    // the same key from the JWT secret).
    let mine: Value = client
        .get(project_on(&b))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("owner's read on B")
        .json()
        .await
        .expect("owner's body");
    let signed = mine["media"][0]["file_url"].as_str().unwrap();
    assert!(signed.contains("sig="), "{mine}");
    assert_eq!(client.get(signed).send().await.unwrap().status(), 200, "{signed}");
    drop((node_a, node_b, node_c));
}
