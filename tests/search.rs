//! Search (docs/contract.md §4 "Search", §7): the indexer keeps the embedded index in step with every
//! change, `/search` answers with the seed's shapes, and a Meilisearch outage gives 503
//! and then converges.

mod common;

use std::time::Duration;

use common::{Backend, TestNode, eventually};
use serde_json::{Value, json};

on_every_backend!(
    create_search_rename_update_delete,
    facets_and_highlights_come_with_the_results,
    people_are_found_by_username_and_name,
);

async fn search(t: &TestNode, query: &str) -> Value {
    let reply = t.get(&format!("/search?{query}"), None).await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    reply.body
}

async fn until(t: &TestNode, query: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    eventually(Duration::from_secs(15), what, || async {
        let body = search(t, query).await;
        check(&body).then_some(body)
    })
    .await
}

async fn create_search_rename_update_delete(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let alice = t.user("alice").await;
    let bob = t.user("bob").await;
    let tracker = t
        .create_project(
            &alice.access,
            json!({"title": "Expense Tracker", "description": "A simple finance app", "tags": ["react", "flask"]}),
        )
        .await;
    t.create_project(
        &bob.access,
        json!({"title": "Weather station", "description": "Tracker of rain", "tags": ["rust"]}),
    )
    .await;
    t.create_project(
        &bob.access,
        json!({"title": "Pipeline", "description": "ETL jobs", "tags": ["python", "rust"]}),
    )
    .await;
    let id = tracker["id"].as_str().unwrap().to_string();

    until(&t, "query=", "all three indexed", |b| b["total"] == 3).await;
    let found = search(&t, "query=tracker").await;
    assert_eq!(found["total"], 2, "{found}");
    let first = &found["results"][0];
    // Title beats description.
    assert_eq!(first["project_id"], id.as_str());
    assert_eq!(first["title"], "Expense Tracker");
    assert_eq!(first["tags"], json!(["react", "flask"]));
    assert_eq!(first["username"], "alice");
    assert_eq!(first["user_id"], alice.user_id.as_str());
    assert!(first["score"].as_f64().unwrap() > found["results"][1]["score"].as_f64().unwrap());
    for field in ["description", "thumbnail_url", "updated_at"] {
        assert!(first.get(field).is_some(), "{field} missing");
    }
    assert_eq!(
        (found["page"].clone(), found["size"].clone(), found["pages"].clone()),
        (json!(1), json!(20), json!(1))
    );

    // Typo tolerance, tags, empty query, pagination.
    for typo in ["trakcer", "trackr", "trscker"] {
        let fuzzy = search(&t, &format!("query={typo}")).await;
        assert_eq!(fuzzy["results"][0]["project_id"], id.as_str(), "{typo}: {fuzzy}");
    }
    // Four letters allow no typo.
    assert_eq!(search(&t, "query=flsk").await["total"], 0);
    let rust = search(&t, "tags=rust,go").await;
    assert_eq!(rust["total"], 2);
    let newest = search(&t, "query=&size=1&page=1").await;
    assert_eq!(newest["results"][0]["title"], "Pipeline");
    assert_eq!(newest["pages"], 3);
    assert_eq!(search(&t, "query=&size=1&page=4").await["results"], json!([]));
    for bad in ["page=0", "size=0", "size=101", "page=-2", "size=abc"] {
        assert_eq!(t.get(&format!("/search?{bad}"), None).await.status, 400, "{bad}");
    }

    let suggest = t.get("/search/suggest?query=pyt", None).await;
    assert_eq!(suggest.status, 200);
    assert_eq!(suggest.body["query"], "pyt");
    let suggestions = suggest.body["suggestions"].as_array().unwrap();
    assert!(suggestions.len() <= 5);
    assert!(
        suggestions
            .iter()
            .any(|s| s["kind"] == "tag" && s["text"] == "python" && s["count"] == 1),
        "{suggestions:?}"
    );
    let titles = t.get("/search/suggest?query=exp", None).await;
    assert_eq!(titles.body["suggestions"][0]["kind"], "title");
    assert_eq!(titles.body["suggestions"][0]["project_id"], id.as_str());

    // A profile rename reaches every document of the user.
    assert_eq!(
        t.put("/profile/me", Some(&alice.access), json!({"name": "Alice Tan"}))
            .await
            .status,
        200
    );
    until(&t, "query=expense", "the display name to change", |b| {
        b["results"][0]["username"] == "Alice Tan"
    })
    .await;
    assert_eq!(search(&t, "query=alice").await["results"][0]["project_id"], id.as_str());

    // Updates and deletes propagate.
    assert_eq!(
        t.put(
            &format!("/projects/{id}"),
            Some(&alice.access),
            json!({"title": "Budget Planner"})
        )
        .await
        .status,
        200
    );
    until(&t, "query=budget", "the new title", |b| b["total"] == 1).await;
    until(&t, "query=expense", "the old title to go", |b| b["total"] == 0).await;
    assert_eq!(
        t.delete(&format!("/projects/{id}"), Some(&alice.access)).await.status,
        200
    );
    until(&t, "query=budget", "the delete", |b| b["total"] == 0).await;
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_index_is_rebuilt_by_reindex() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.auth.admin_emails = vec!["root@folio.test".into()]
    })
    .await;
    let admin = t.user("root").await;
    for i in 0..12 {
        t.create_project(
            &admin.access,
            json!({"title": format!("Project number {i}"), "tags": ["batch"]}),
        )
        .await;
    }
    until(&t, "tags=batch", "12 projects indexed", |b| b["total"] == 12).await;
    t.node().search.engine.clear().await.unwrap();
    assert_eq!(search(&t, "tags=batch").await["total"], 0);
    let reindex = t
        .request(
            reqwest::Method::POST,
            "/admin/reindex-projects",
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(reindex.body["republished"], 12);
    until(&t, "tags=batch", "the rebuild", |b| b["total"] == 12).await;
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meilisearch_outage_answers_503_then_converges() {
    use folio_testkit::meili_stub::StubServer;
    // Reserve a port with nothing behind it yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.search = folio::configuration::SearchBackend::Meilisearch(folio::configuration::MeilisearchServer::new(
            url.clone(),
            Some(folio::configuration::Secret::new("stub-master-key")),
        ));
    })
    .await;
    let u = t.user("gina").await;
    for i in 0..5 {
        t.create_project(&u.access, json!({"title": format!("Offline work {i}")}))
            .await;
    }
    // Writes keep working; search says it is unavailable.
    t.get("/search?query=offline", None)
        .await
        .assert_error(503, "search_unavailable");
    t.get("/search/suggest?query=off", None)
        .await
        .assert_error(503, "search_unavailable");

    let _meili = StubServer::start_on(port, Some("stub-master-key")).await;
    until(&t, "query=offline", "indexing to catch up", |b| b["total"] == 5).await;
    t.shutdown().await;
}

async fn facets_and_highlights_come_with_the_results(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("maker").await;
    for (title, tags) in [
        ("Garden lantern", vec!["iot", "outdoor"]),
        ("Lantern festival", vec!["events", "outdoor"]),
        ("Paper lanterns", vec!["craft", "outdoor", "iot"]),
        ("Robot arm", vec!["robotics"]),
    ] {
        t.create_project(
            &u.access,
            json!({"title": title, "description": format!("{title}: notes"), "tags": tags}),
        )
        .await;
    }
    let found = until(&t, "query=lantern&size=1&facet_size=3", "three lanterns", |b| {
        b["total"] == 3
    })
    .await;
    assert_eq!(found["total_is_exact"], true);
    assert_eq!(found["results"].as_array().map(Vec::len), Some(1), "one per page");
    // Over all three matches, not the one page; the robot's tag is not among them.
    assert_eq!(
        found["facets"],
        json!([{"tag": "outdoor", "count": 3}, {"tag": "iot", "count": 2}, {"tag": "craft", "count": 1}])
    );
    let hit = &found["results"][0];
    let title: Vec<char> = hit["title"].as_str().expect("title").chars().collect();
    let spans = hit["highlights"]["title"].as_array().expect("title spans");
    assert_eq!(spans.len(), 1, "{hit}");
    let (start, end) = (
        spans[0]["start"].as_u64().unwrap() as usize,
        spans[0]["end"].as_u64().unwrap() as usize,
    );
    assert!(
        title[start..end]
            .iter()
            .collect::<String>()
            .to_lowercase()
            .starts_with("lantern"),
        "{hit}"
    );
    assert!(
        hit["highlights"]["snippet"]
            .as_str()
            .is_some_and(|s| s.contains("notes"))
    );

    let none = search(&t, "query=lantern&facet_size=0").await;
    assert_eq!(none["facets"], json!([]));
    let refused = t.get("/search?query=lantern&facet_size=101", None).await;
    refused.assert_error(400, "invalid_facet_size");
    t.shutdown().await;
}

async fn people_are_found_by_username_and_name(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let ada = t.user("ada").await;
    let adam = t.user("adamant").await;
    t.user("bob").await;
    t.create_project(&adam.access, json!({"title": "One"})).await;
    t.create_project(&adam.access, json!({"title": "Two"})).await;
    // Neither a draft nor an unlisted project is counted.
    t.create_project(&adam.access, json!({"title": "Draft", "visibility": "private"}))
        .await;
    t.create_project(&adam.access, json!({"title": "Link only", "visibility": "unlisted"}))
        .await;
    let people = |reply: &Value| -> Vec<String> {
        reply["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|p| p["username"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let found = t.get("/search/users?query=ada", None).await;
    assert_eq!(found.status, 200, "{}", found.body);
    // The exact username first, then by public projects.
    assert_eq!(people(&found.body), ["ada", "adamant"]);
    assert_eq!(found.body["results"][1]["public_projects"], 2);
    assert_eq!(found.body["total"], 2);
    assert_eq!(found.body["total_is_exact"], true);

    // A profile name is searched too, and a rename shows at once.
    let renamed = t
        .put("/profile/me", Some(&ada.access), json!({"name": "Countess Lovelace"}))
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let by_name = t.get("/search/users?query=lovelace%20count", None).await;
    assert_eq!(people(&by_name.body), ["ada"]);
    assert_eq!(by_name.body["results"][0]["name"], "Countess Lovelace");
    // LIKE's own characters are plain text.
    let wildcard = t.get("/search/users?query=%25", None).await;
    assert_eq!(wildcard.body["total"], 0, "{}", wildcard.body);
    let empty = t.get("/search/users", None).await;
    assert_eq!(empty.body["total"], 0);
    t.get("/search/users?query=ada&size=0", None)
        .await
        .assert_error(400, "invalid_size");
    t.shutdown().await;
}
