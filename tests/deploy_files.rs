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
