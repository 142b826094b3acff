//! The deployment files under deploy/ stay true to the node: they name only settings
//! the node reads, and the alert rules and dashboard use only metrics it exports.

mod common;

use std::{collections::BTreeSet, path::PathBuf};

use common::{Backend, TestNode};
use folio::configuration::known_variables;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Words made of `[A-Za-z0-9_]` that start with `prefix` at a word boundary.
fn words_with_prefix(text: &str, prefix: &str) -> BTreeSet<String> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices(prefix) {
        if text[..at].chars().next_back().is_some_and(is_word) {
            continue;
        }
        let word: String = text[at..].chars().take_while(|c| is_word(*c)).collect();
        found.insert(word);
    }
    found
}

fn files_naming_settings() -> Vec<PathBuf> {
    let deploy = deploy_dir();
    let mut files = vec![
        deploy.join("compose.yaml"),
        deploy.join(".env.example"),
        deploy.join("Dockerfile"),
        deploy.join("systemd/folio@.service"),
    ];
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(deploy.join("k8s"))
        .expect("deploy/k8s exists")
        .map(|entry| entry.expect("listing deploy/k8s").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    assert!(
        manifests.len() >= 4,
        "the Kubernetes manifests are missing: {manifests:?}"
    );
    manifests.sort();
    files.extend(manifests);
    files
}

#[test]
fn deployment_files_name_only_settings_the_node_knows() {
    let known: BTreeSet<String> = known_variables().into_iter().collect();
    let mut checked = 0;
    for file in files_naming_settings() {
        let names = words_with_prefix(&read(&file), "FOLIO_");
        let unknown: Vec<_> = names.iter().filter(|name| !known.contains(*name)).collect();
        assert!(
            unknown.is_empty(),
            "{} names variables the node does not read: {unknown:?}",
            file.display()
        );
        checked += names.len();
    }
    // The files do configure the node (guards against a scan that finds nothing).
    assert!(checked > 30, "only {checked} FOLIO_ names found");
}

#[test]
fn the_scan_catches_an_unknown_name() {
    let names = words_with_prefix("FOLIO_ADDR=x\n  FOLIO_NO_SUCH_THING: 1\nNOT_FOLIO_X", "FOLIO_");
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec!["FOLIO_ADDR".to_string(), "FOLIO_NO_SUCH_THING".to_string()]
    );
    assert!(!known_variables().contains(&"FOLIO_NO_SUCH_THING".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_dashboard_use_only_exported_metrics() {
    let node = TestNode::spawn(Backend::Sqlite).await;
    // Request series exist once a request was answered.
    assert_eq!(node.get("/health", None).await.status, 200);
    let scraped = node.get("/metrics", None).await;
    assert_eq!(scraped.status, 200);
    let exported = scraped.body.as_str().expect("metrics are text").to_string();
    let exported_names: BTreeSet<String> = exported
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    let monitoring = deploy_dir().join("monitoring");
    for file in ["folio-alerts.yml", "grafana-dashboard.json"] {
        let used = words_with_prefix(&read(&monitoring.join(file)), "folio_");
        assert!(!used.is_empty(), "{file} uses no Folio metric");
        let missing: Vec<_> = used.iter().filter(|name| !exported_names.contains(*name)).collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics the node does not export: {missing:?}\n{exported}"
        );
    }
    node.shutdown().await;
}

/// The value of one sample line (`name{labels} value`) in a scrape.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_health_readiness_and_metrics_on_its_ops_address_only() {
    let worker = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.node.roles = folio::configuration::Roles::parse("thumbnailer,indexer").expect("valid roles");
        s.ops.addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    assert!(!worker.node().roles.http);
    assert_eq!(worker.get("/health", None).await.status, 200);
    assert_eq!(worker.get("/ready", None).await.status, 200);
    let scrape = worker.get("/metrics", None).await;
    assert_eq!(scrape.status, 200);
    let text = scrape.body.as_str().expect("metrics are text");
    assert_eq!(
        sample(text, r#"folio_actor_restarts_total{actor="thumbnailer"}"#),
        Some(0.0)
    );
    assert_eq!(sample(text, r#"folio_jobs_pending{kind="thumbnails"}"#), Some(0.0));
    assert_eq!(sample(text, r#"folio_jobs_pending{kind="outbox"}"#), Some(0.0));
    // Only the ops endpoints: the API stays on the edges.
    assert_eq!(worker.post("/auth/login", serde_json::json!({})).await.status, 404);
    assert_eq!(worker.get("/openapi.json", None).await.status, 404);
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_restart_is_counted_in_the_metrics() {
    let node = TestNode::spawn(Backend::Sqlite).await;
    let series = r#"folio_actor_restarts_total{actor="session"}"#;
    let scrape = || async {
        node.get("/metrics", None)
            .await
            .body
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(sample(&scrape().await, series), Some(0.0));
    let session = &node.node().session;
    let key = folio_actors::session::Email::parse("crash@folio.test").expect("valid email");
    let crashed = session.crash_worker_for(&key);
    common::eventually(
        std::time::Duration::from_secs(5),
        "the session worker restarts",
        || async { (session.worker_id_for(&key) != crashed).then_some(()) },
    )
    .await;
    assert_eq!(sample(&scrape().await, series), Some(1.0));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thumbnail_given_up_is_counted_and_the_backlog_drains() {
    let node = TestNode::spawn(Backend::Sqlite).await;
    let user = node.user("broken").await;
    let failed = r#"folio_jobs_failed_total{kind="thumbnails"}"#;
    let scrape = || async {
        node.get("/metrics", None)
            .await
            .body
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(sample(&scrape().await, failed), Some(0.0));
    // The bytes say JPEG, so the upload is accepted, but no thumbnail can be made.
    let mut truncated = common::jpeg(640, 480);
    truncated.truncate(truncated.len() / 3);
    let up = node.upload(Some(&user.access), truncated, "cut.jpg", None).await;
    assert_eq!(up.status, 201, "{}", up.body);
    let settled = node
        .settled_media(&user.access, up.body["file_id"].as_str().expect("file_id"))
        .await;
    assert_eq!(settled["thumbnail_status"], "failed", "{settled}");
    let after = scrape().await;
    assert_eq!(sample(&after, failed), Some(1.0), "{after}");
    assert_eq!(
        sample(&after, r#"folio_jobs_pending{kind="thumbnails"}"#),
        Some(0.0),
        "{after}"
    );
    node.shutdown().await;
}
