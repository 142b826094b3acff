//! Image captions and alt texts are searchable (issue 22): the indexer puts the texts
//! of a public project's images into its search document, a caption change reindexes
//! the project, and a private project's images say nothing to search.

mod common;

use std::time::Duration;

use common::{Backend, TestNode, eventually, png};
use reqwest::Method;
use serde_json::{Value, json};

on_every_backend!(captions_and_alt_texts_are_searched);

const WAIT: Duration = Duration::from_secs(30);

async fn found_ids(t: &TestNode, query: &str) -> Vec<String> {
    let found = t.get(&format!("/search?query={query}"), None).await;
    assert_eq!(found.status, 200, "{}", found.body);
    found.body["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .filter_map(|r| r["project_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn until_found(t: &TestNode, query: &str, what: &str, want: &[&str]) {
    eventually(WAIT, what, || async {
        (found_ids(t, query).await == want).then_some(())
    })
    .await
}

/// Uploads an image into `project` and waits until it is stored.
async fn image(t: &TestNode, token: &str, project: &str, n: u32) -> String {
    let up = t
        .upload(Some(token), png(40 + n, 30 + n), &format!("i{n}.png"), Some(project))
        .await;
    assert_eq!(up.status, 201, "{}", up.body);
    let id = up.body["file_id"].as_str().expect("file id").to_string();
    t.settled_media(token, &id).await;
    id
}

async fn describe(t: &TestNode, token: &str, file: &str, body: Value) {
    let reply = t
        .request(Method::PATCH, &format!("/media/{file}"), Some(token), Some(body))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

async fn captions_and_alt_texts_are_searched(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let owner = t.user("photographer").await;
    let public = t
        .create_project(&owner.access, json!({"title": "Harbour log", "tags": ["boats"]}))
        .await;
    let private = t
        .create_project(
            &owner.access,
            json!({"title": "Harbour drafts", "visibility": "private"}),
        )
        .await;
    let (public_id, private_id) = (
        public["id"].as_str().expect("id").to_string(),
        private["id"].as_str().expect("id").to_string(),
    );
    let shown = image(&t, &owner.access, &public_id, 1).await;
    let hidden = image(&t, &owner.access, &private_id, 2).await;

    // The private project's image first: once the public caption is searchable, the
    // earlier change has been indexed too.
    describe(&t, &owner.access, &hidden, json!({"caption": "Zebrafish in a tank"})).await;
    describe(
        &t,
        &owner.access,
        &shown,
        json!({"caption": "A heron at the quay", "alt": "Grey lighthouse at dusk"}),
    )
    .await;
    until_found(&t, "heron", "the caption to be searchable", &[&public_id]).await;
    assert_eq!(
        found_ids(&t, "lighthouse").await,
        [public_id.as_str()],
        "alt text is searched"
    );
    assert!(
        found_ids(&t, "zebrafish").await.is_empty(),
        "a private project's captions are not searchable"
    );

    // A new caption reindexes the project: the old words go, the new ones come.
    describe(&t, &owner.access, &shown, json!({"caption": "An otter on the slipway"})).await;
    until_found(&t, "otter", "the new caption to be searchable", &[&public_id]).await;
    assert!(found_ids(&t, "heron").await.is_empty(), "the old caption is gone");
    assert_eq!(
        found_ids(&t, "lighthouse").await,
        [public_id.as_str()],
        "the alt text stays"
    );

    // A project made private takes its image texts out of search with it.
    let hide = t
        .request(
            Method::PUT,
            &format!("/projects/{public_id}"),
            Some(&owner.access),
            Some(json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(hide.status, 200, "{}", hide.body);
    until_found(&t, "otter", "the private project to leave search", &[]).await;
    t.shutdown().await;
}
