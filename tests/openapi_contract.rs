//! Issue 24: the OpenAPI document is the contract generated clients are built from. It
//! is committed as `openapi.json` at the repository root, so every change to it shows
//! in review; these tests fail when the served document drifts from that file, when an
//! operation has no `operationId` (or shares one), and when a schema goes back to a
//! shape the generators cannot type.
//!
//! Regenerate the committed file after a deliberate change:
//! `FOLIO_WRITE_OPENAPI=1 cargo nextest run -p folio --test openapi_contract`

mod common;

use std::collections::BTreeMap;

use common::{Backend, TestNode};
use serde_json::Value;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

async fn served_document() -> Value {
    let t = TestNode::spawn(Backend::Sqlite).await;
    let reply = t.get("/openapi.json", None).await;
    assert_eq!(reply.status, 200);
    t.shutdown().await;
    reply.body
}

/// Every operation of the document, as (method, path, operation).
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths is an object") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_string(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_document_matches_the_committed_openapi_json() {
    let served = served_document().await;
    let path = committed_path();
    let pretty = serde_json::to_string_pretty(&served).expect("a JSON value serializes") + "\n";
    if std::env::var_os("FOLIO_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &pretty).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} cannot be read ({e}); write it with \
             `FOLIO_WRITE_OPENAPI=1 cargo nextest run -p folio --test openapi_contract`",
            path.display()
        )
    });
    let committed: Value = serde_json::from_str(&committed).expect("openapi.json is JSON");
    if committed != served {
        let drifted: Vec<String> = operations(&served)
            .into_iter()
            .filter(|(method, path, operation)| committed["paths"][path][method] != *operation)
            .map(|(method, path, _)| format!("{} {path}", method.to_uppercase()))
            .chain(
                served["components"]["schemas"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(name, schema)| committed["components"]["schemas"][name.as_str()] != **schema)
                    .map(|(name, _)| format!("schema {name}")),
            )
            .collect();
        panic!(
            "the served OpenAPI document differs from the committed openapi.json (changed: {}). \
             If the change is deliberate, regenerate the file and commit it: \
             `FOLIO_WRITE_OPENAPI=1 cargo nextest run -p folio --test openapi_contract` \
             (then scripts/clients.sh regenerates the clients from it)",
            if drifted.is_empty() {
                "top-level fields or removed entries".to_string()
            } else {
                drifted.join(", ")
            }
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_has_a_unique_operation_id() {
    let served = served_document().await;
    let all = operations(&served);
    assert!(all.len() >= 30, "only {} operations served", all.len());
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (method, path, operation) in all {
        let name = format!("{} {path}", method.to_uppercase());
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no operationId"));
        // Readable in every generated language: a lower camel case identifier.
        assert!(
            id.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{name}: operationId {id:?} is not lowerCamelCase"
        );
        if let Some(other) = seen.insert(id.to_string(), name.clone()) {
            panic!("operationId {id:?} is used by both {other} and {name}");
        }
    }
    for (id, operation) in [
        ("login", "POST /auth/login"),
        ("logout", "POST /auth/logout"),
        ("getProject", "GET /projects/{project_id}"),
        ("setProjectThumbnail", "PUT /projects/{project_id}/thumbnail"),
        ("uploadMedia", "POST /media/upload"),
    ] {
        assert_eq!(seen.get(id).map(String::as_str), Some(operation), "{id}");
    }
}

/// The defects generators tripped over (issue 24), each checked on the served document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_are_typed_for_generators() {
    let served = served_document().await;
    let schemas = &served["components"]["schemas"];

    // POST /auth/logout: no untyped anyOf branches (openapi-python-client dropped the
    // operation); the body is a plain object.
    let logout = &schemas["LogoutBody"];
    assert_eq!(logout["type"], "object", "{logout}");
    assert!(
        logout.get("anyOf").is_none() && logout.get("oneOf").is_none(),
        "{logout}"
    );

    // Replies: social links typed as a map of strings.
    for reply in ["ProfileReply", "PublicProfileReply"] {
        let links = serde_json::to_string(&schemas[reply]["properties"]["social_links"]).expect("JSON");
        assert!(
            links.contains(r#""additionalProperties":{"type":"string"}"#),
            "{reply}.social_links untyped: {links}"
        );
    }

    // Enums declared as enums, with the values clients have always received.
    let enum_values = |schema: &Value, property: &str| -> Vec<String> {
        let property = &schema["properties"][property];
        let target = match property["$ref"].as_str() {
            Some(reference) => &schemas[reference.trim_start_matches("#/components/schemas/")],
            None => property,
        };
        target["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("not an enum: {property}"))
            .iter()
            .map(|v| v.as_str().expect("string enum").to_string())
            .collect()
    };
    assert_eq!(
        enum_values(&schemas["MediaReply"], "thumbnail_status"),
        ["pending", "ready", "failed", "skipped"]
    );
    assert_eq!(
        enum_values(&schemas["ClusterNodeReply"], "state"),
        ["reachable", "unreachable"]
    );
    assert_eq!(
        enum_values(&schemas["JobKindReply"], "kind"),
        ["thumbnails", "indexing", "outbox"]
    );
    assert_eq!(enum_values(&schemas["SuggestionReply"], "kind"), ["title", "tag"]);

    // GET /events: a text stream, its events named in the description, and the ticket's
    // format declared.
    let events = &served["paths"]["/events"]["get"];
    let ok = &events["responses"]["200"];
    assert_eq!(ok["content"]["text/event-stream"]["schema"]["type"], "string", "{ok}");
    let description = ok["description"].as_str().expect("a description");
    for name in ["media.thumbnail_ready", "media.thumbnail_failed", "project.indexed"] {
        assert!(description.contains(name), "{name} undocumented: {description}");
    }
    let ticket = events["parameters"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "ticket"))
        .unwrap_or_else(|| panic!("no ticket parameter: {events}"));
    assert!(ticket["schema"]["pattern"].is_string(), "{ticket}");

    // Refresh-token reuse revokes the family: said where clients read it.
    let refresh = served["paths"]["/auth/refresh"]["post"]["description"]
        .as_str()
        .expect("POST /auth/refresh is described");
    assert!(refresh.contains("revokes the newest token"), "{refresh}");
}
