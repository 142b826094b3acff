use std::collections::BTreeSet;

use super::{
    variables::{Kind, edit_distance},
    *,
};

/// The error and its causes, as the logs print them.
fn chain(err: &SettingsError) -> String {
    folio_actors::errors::error_chain(err)
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_make_an_embedded_node() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert!(s.is_embedded());
    assert_eq!(s.http.addr.to_string(), "127.0.0.1:8080");
    assert!(s.database_url().starts_with("sqlite://"));
    assert_eq!(s.node.roles, Roles::ALL);
}

#[test]
fn environment_overrides_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("folio.toml");
    std::fs::write(
        &file,
        "[http]\naddr = \"0.0.0.0:9000\"\n[auth]\nsession_workers = 4\njwt_issuer = \"from-file\"\n\
         [node]\nroles = \"indexer\"\n",
    )
    .unwrap();
    let s = Settings::load_from(
        Some(&file),
        env(&[("FOLIO_SESSION_WORKERS", "8"), ("FOLIO_ADMIN_EMAILS", "a@x.io, b@y.io")]),
    )
    .unwrap();
    assert_eq!(s.http.addr.to_string(), "0.0.0.0:9000");
    assert_eq!(s.auth.session_workers, 8);
    assert_eq!(s.auth.jwt_issuer, "from-file");
    assert_eq!(s.auth.admin_emails, vec!["a@x.io", "b@y.io"]);
    assert!(s.node.roles.indexer && !s.node.roles.http);
}

#[test]
fn the_file_rejects_flat_and_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("folio.toml");
    // The flat layout of earlier versions: `addr` now lives in `[http]`.
    std::fs::write(&file, "addr = \"0.0.0.0:9000\"\n").unwrap();
    let err = Settings::load_from(Some(&file), env(&[])).unwrap_err();
    assert!(chain(&err).contains("addr"), "{err}");
    std::fs::write(&file, "[http]\nadr = \"0.0.0.0:9000\"\n").unwrap();
    let err = Settings::load_from(Some(&file), env(&[])).unwrap_err();
    assert!(chain(&err).contains("adr"), "{err}");
}

#[test]
fn postgres_requires_a_secret_and_it_is_never_printed() {
    let err = Settings::load_from(None, env(&[("FOLIO_DATABASE_URL", "postgres://db/folio")])).unwrap_err();
    assert!(chain(&err).contains("FOLIO_JWT_SECRET"));
    let secret = "s".repeat(40);
    let err = Settings::load_from(
        None,
        env(&[
            ("FOLIO_DATABASE_URL", "postgres://u:pw@db/folio"),
            ("FOLIO_JWT_SECRET", &secret),
        ]),
    )
    .unwrap_err();
    assert!(chain(&err).contains("FOLIO_CLUSTER_COOKIE"), "{err}");
    let cookie = "cookie-that-must-not-leak-32-bytes-or-more";
    let s = Settings::load_from(
        None,
        env(&[
            ("FOLIO_DATABASE_URL", "postgres://u:pw@db/folio"),
            ("FOLIO_JWT_SECRET", &secret),
            ("FOLIO_CLUSTER_COOKIE", cookie),
        ]),
    )
    .unwrap();
    let printed = format!("{s:?}");
    assert!(!printed.contains(&secret) && !printed.contains("pw@") && !printed.contains(cookie));
}

#[test]
fn a_cookie_shorter_than_32_bytes_is_refused() {
    let secret = "s".repeat(40);
    let with_cookie = |cookie: &str| {
        Settings::load_from(
            None,
            env(&[
                ("FOLIO_DATABASE_URL", "postgres://db/folio"),
                ("FOLIO_JWT_SECRET", &secret),
                ("FOLIO_CLUSTER_COOKIE", cookie),
            ]),
        )
    };
    let err = with_cookie("cab").unwrap_err();
    assert!(
        chain(&err).contains("FOLIO_CLUSTER_COOKIE must be at least 32 bytes"),
        "{err}"
    );
    assert!(with_cookie(&"c".repeat(31)).is_err());
    assert!(with_cookie(&"c".repeat(32)).is_ok());
}

#[test]
fn cluster_tls_files_go_together() {
    let err = Settings::load_from(None, env(&[("FOLIO_CLUSTER_TLS_CERT", "/etc/folio/node.pem")])).unwrap_err();
    assert!(chain(&err).contains("FOLIO_CLUSTER_TLS_KEY"), "{err}");
    let err = Settings::load_from(None, env(&[("FOLIO_CLUSTER_NODE_NAME", "a b")])).unwrap_err();
    assert!(chain(&err).contains("FOLIO_CLUSTER_NODE_NAME"), "{err}");
}

#[test]
fn trusted_proxies_are_a_checked_cidr_list() {
    let s = Settings::load_from(None, env(&[("FOLIO_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")])).unwrap();
    assert!(s.trusted_proxies().trusts("10.2.3.4".parse().unwrap()));
    assert!(!s.trusted_proxies().trusts("192.0.2.1".parse().unwrap()));
    assert_eq!(Settings::default().trusted_proxies(), TrustedProxies::default());
    let err = Settings::load_from(None, env(&[("FOLIO_TRUSTED_PROXIES", "10.0.0.0/33")])).unwrap_err();
    assert!(chain(&err).contains("FOLIO_TRUSTED_PROXIES"), "{err}");
}

#[test]
fn every_known_variable_is_read() {
    let known = known_variables();
    assert!(known.contains(&"FOLIO_TRUSTED_PROXIES".to_string()));
    assert!(known.contains(&"FOLIO_CONFIG".to_string()));
    assert_eq!(known.len(), VARIABLES.len() + 1);
    let distinct: BTreeSet<&str> = VARIABLES.iter().map(|v| v.name).collect();
    assert_eq!(distinct.len(), VARIABLES.len(), "a variable is listed twice");
}

/// `section.key` of every leaf of a serialized settings value.
fn leaves(value: &serde_json::Value, path: &str, found: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(fields) => {
            for (key, field) in fields {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                leaves(field, &path, found);
            }
        }
        _ => {
            found.insert(path.to_string());
        }
    }
}

#[test]
fn every_setting_has_a_variable() {
    let mut settings = BTreeSet::new();
    leaves(&serde_json::to_value(Settings::default()).unwrap(), "", &mut settings);
    assert!(settings.len() > 40, "only {} settings found", settings.len());
    let mapped: BTreeSet<String> = VARIABLES.iter().map(|v| format!("{}.{}", v.section, v.key)).collect();
    let without_variable: Vec<_> = settings.difference(&mapped).collect();
    assert!(
        without_variable.is_empty(),
        "settings without a FOLIO_ variable: {without_variable:?}"
    );
    let without_setting: Vec<_> = mapped.difference(&settings).collect();
    assert!(
        without_setting.is_empty(),
        "variables naming no setting: {without_setting:?}"
    );
}

#[test]
fn every_variable_sets_its_setting() {
    // Each variable, given a value its kind accepts, loads without error: its
    // section and key exist (deny_unknown_fields would refuse them otherwise).
    for variable in VARIABLES {
        let value = match (variable.kind, variable.name) {
            (Kind::Roles, _) => "indexer",
            (Kind::Bool, _) => "true",
            (Kind::Integer, "FOLIO_CLUSTER_MAX_FRAME_BYTES") => "65536",
            (Kind::Integer, _) => "3",
            (Kind::Text, "FOLIO_CLUSTER_COOKIE") => "a-cluster-cookie-of-at-least-32-bytes",
            (Kind::List, _) => "10.0.0.1",
            (Kind::Text, "FOLIO_ADDR" | "FOLIO_OPS_ADDR" | "FOLIO_CLUSTER_ADDR") => "127.0.0.1:1",
            // Checked together; `cluster_tls_files_go_together` covers them.
            (Kind::Text, "FOLIO_CLUSTER_TLS_CERT" | "FOLIO_CLUSTER_TLS_KEY" | "FOLIO_CLUSTER_TLS_CA") => continue,
            (Kind::Text, "FOLIO_DATABASE_URL") => "sqlite::memory:",
            (Kind::Text, "FOLIO_JWT_SECRET") => "0123456789abcdef0123456789abcdef",
            (Kind::Text, "FOLIO_LOG_FORMAT") => "json",
            (Kind::Text, "FOLIO_S3_ENDPOINT") => continue,
            (Kind::Text, _) => "x",
        };
        Settings::load_from(None, env(&[(variable.name, value)]))
            .unwrap_or_else(|e| panic!("{}={value}: {e}", variable.name));
    }
}

#[test]
fn a_misspelt_role_stops_loading_and_lists_the_roles() {
    let err = Settings::load_from(None, env(&[("FOLIO_ROLES", "thumbnailr")])).unwrap_err();
    match &err {
        SettingsError::Roles {
            variable: "FOLIO_ROLES",
            source: RolesError::Unknown { given },
        } => assert_eq!(given, "thumbnailr"),
        other => panic!("expected a roles error, got {other:?}"),
    }
    assert!(chain(&err).contains("FOLIO_ROLES"), "{err}");
    let message = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(message.contains("\"thumbnailr\""), "{message}");
    for role in ROLE_NAMES {
        assert!(message.contains(role), "{message}");
    }
    assert_eq!(Roles::parse(" , "), Err(RolesError::Empty));
    let both = Roles::parse("http, indexer").unwrap();
    assert!(both.http && both.indexer && !both.thumbnailer);
    assert_eq!(Roles::parse("indexer,all").unwrap(), Roles::ALL);
    assert_eq!(String::from(both), "http,indexer");
}

#[test]
fn unknown_variables_are_found_with_the_closest_name() {
    let unknown = unknown_variables([
        "FOLIO_ADDR",
        "FOLIO_CONFIG",
        "FOLIO_TEST_DATABASE_URL",
        "PATH",
        "FOLIO_ROLE",
        "FOLIO_S3_BUKET",
        "FOLIO_SOMETHING_ELSE",
    ]);
    assert_eq!(
        unknown,
        vec![
            UnknownVariable {
                name: "FOLIO_ROLE".into(),
                closest: Some("FOLIO_ROLES"),
            },
            UnknownVariable {
                name: "FOLIO_S3_BUKET".into(),
                closest: Some("FOLIO_S3_BUCKET"),
            },
            UnknownVariable {
                name: "FOLIO_SOMETHING_ELSE".into(),
                closest: None,
            },
        ]
    );
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
}

#[test]
fn bad_values_are_explained() {
    let err = Settings::load_from(None, env(&[("FOLIO_SESSION_WORKERS", "many")])).unwrap_err();
    assert!(chain(&err).contains("FOLIO_SESSION_WORKERS"));
    let err = Settings::load_from(None, env(&[("FOLIO_ADDR", "nowhere")])).unwrap_err();
    assert!(chain(&err).contains("settings"));
}
