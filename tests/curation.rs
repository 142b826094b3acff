//! Curation and visibility (issue 20): a project's gallery (order, captions, alt text,
//! moves, the cover), and who sees a project that is not public — on SQLite and on
//! PostgreSQL, on the in-process bus and on NATS JetStream.

mod common;

use std::time::Duration;

use common::{Backend, TestNode, eventually, png};
use reqwest::{Method, header};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy)]
enum Bus {
    InProcess,
    Nats,
}

async fn spawn(backend: Backend, bus: Bus) -> TestNode {
    match bus {
        Bus::InProcess => TestNode::spawn(backend).await,
        Bus::Nats => TestNode::spawn_on_nats(backend).await,
    }
}

/// One test per backend and bus from an `async fn name(backend: Backend, bus: Bus)`.
macro_rules! on_every_backend_and_bus {
    ($($name:ident),* $(,)?) => {
        mod sqlite_in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite, super::Bus::InProcess).await
                }
            )*
        }
        mod postgres_in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres, super::Bus::InProcess).await
                }
            )*
        }
        mod sqlite_nats {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite, super::Bus::Nats).await
                }
            )*
        }
        mod postgres_nats {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres, super::Bus::Nats).await
                }
            )*
        }
    };
}

on_every_backend_and_bus!(
    gallery_order_captions_and_moves,
    visibility_on_reads_listings_and_search,
    image_files_follow_their_projects_visibility,
);

const WAIT: Duration = Duration::from_secs(30);

/// Uploads a small image into `project` and waits for its renditions, in the file's
/// metadata and in the project's gallery (the project follows a moment after the file:
/// the media domain tells it once the renditions are recorded).
async fn image(t: &TestNode, token: &str, project: &str, n: u32) -> String {
    let up = t
        .upload(Some(token), png(40 + n, 30 + n), &format!("p{n}.png"), Some(project))
        .await;
    assert_eq!(up.status, 201, "{}", up.body);
    let id = up.body["file_id"].as_str().unwrap().to_string();
    let settled = t.settled_media(token, &id).await;
    assert_eq!(settled["thumbnail_status"], "ready", "{settled}");
    eventually(WAIT, "the gallery to show the image ready", || async {
        let read = t.get(&format!("/projects/{project}"), Some(token)).await;
        read.body["media"]
            .as_array()?
            .iter()
            .any(|m| m["file_id"] == id.as_str() && m["thumbnail_status"] == "ready" && m["thumbnail_url"].is_string())
            .then_some(())
    })
    .await;
    id
}

fn ids(project: &Value) -> Vec<String> {
    project["media"]
        .as_array()
        .unwrap_or_else(|| panic!("no media: {project}"))
        .iter()
        .map(|m| m["file_id"].as_str().unwrap().to_string())
        .collect()
}

async fn etagged(t: &TestNode, path: &str, token: Option<&str>) -> (Value, String) {
    let read = t.get(path, token).await;
    assert_eq!(read.status, 200, "{}", read.body);
    let etag = read.headers[header::ETAG].to_str().unwrap().to_string();
    (read.body, etag)
}

async fn put_order(
    t: &TestNode,
    token: &str,
    project: &str,
    order: &[String],
    if_match: Option<&str>,
) -> common::Reply {
    let mut request = t
        .client
        .request(Method::PUT, format!("{}/projects/{project}/media/order", t.url))
        .bearer_auth(token)
        .json(&json!({ "file_ids": order }));
    if let Some(tag) = if_match {
        request = request.header(header::IF_MATCH, tag);
    }
    let response = request.send().await.expect("order sent");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    common::Reply { status, body, headers }
}

async fn patch_media(t: &TestNode, token: Option<&str>, file: &str, body: Value) -> common::Reply {
    t.request(Method::PATCH, &format!("/media/{file}"), token, Some(body))
        .await
}

async fn gallery_order_captions_and_moves(backend: Backend, bus: Bus) {
    let t = spawn(backend, bus).await;
    let owner = t.user("gallerist").await;
    let other = t.user("stranger").await;
    let project = t.create_project(&owner.access, json!({"title": "Prints"})).await;
    let pid = project["id"].as_str().unwrap().to_string();
    assert_eq!(project["media"], json!([]), "a new project has an empty gallery");
    let first = image(&t, &owner.access, &pid, 1).await;
    let second = image(&t, &owner.access, &pid, 2).await;
    let third = image(&t, &owner.access, &pid, 3).await;

    // Upload order, each image with what the media domain knows of it.
    let (read, etag) = etagged(&t, &format!("/projects/{pid}"), None).await;
    assert_eq!(ids(&read), [first.clone(), second.clone(), third.clone()]);
    let item = &read["media"][1];
    assert_eq!((item["width"].as_i64(), item["height"].as_i64()), (Some(42), Some(32)));
    assert!(item["file_size"].as_i64().unwrap() > 0);
    assert!(item["thumbhash"].is_string(), "{item}");
    assert!(!item["renditions"].as_array().unwrap().is_empty(), "{item}");
    assert!(item["caption"].is_null() && item["alt"].is_null());
    // The cover is the first image's thumbnail (the thumbnailer fills a missing cover
    // and leaves it alone afterwards).
    assert_eq!(read["thumbnail_url"], read["media"][0]["thumbnail_url"], "{read}");

    // The owner's order, guarded by the ETag: as a client does, read, send, and read
    // again when something else changed the project in between (the last renditions
    // being recorded can still be on their way).
    let reversed = vec![third.clone(), first.clone(), second.clone()];
    let mut etag = etag;
    let ordered = loop {
        let ordered = put_order(&t, &owner.access, &pid, &reversed, Some(&etag)).await;
        if ordered.status != 409 {
            break ordered;
        }
        etag = etagged(&t, &format!("/projects/{pid}"), None).await.1;
    };
    assert_eq!(ordered.status, 200, "{}", ordered.body);
    assert_eq!(ids(&ordered.body), reversed);
    let (read, new_etag) = etagged(&t, &format!("/projects/{pid}"), None).await;
    assert_eq!(ids(&read), reversed);
    assert_ne!(new_etag, etag, "reordering is a change");
    // The old ETag is a concurrent change now.
    put_order(&t, &owner.access, &pid, &reversed, Some(&etag))
        .await
        .assert_error(409, "conflict");
    // Not exactly the project's images.
    for wrong in [
        vec![first.clone(), second.clone()],
        vec![first.clone(), second.clone(), third.clone(), first.clone()],
        vec![first.clone(), second.clone(), uuid::Uuid::now_v7().to_string()],
    ] {
        put_order(&t, &owner.access, &pid, &wrong, None)
            .await
            .assert_error(400, "invalid_order");
    }
    put_order(&t, &other.access, &pid, &reversed, None)
        .await
        .assert_error(403, "forbidden");
    put_order(&t, &owner.access, &uuid::Uuid::now_v7().to_string(), &reversed, None)
        .await
        .assert_error(404, "project_not_found");

    // Captions and alt text, owned by the media domain, shown in the gallery at once.
    let captioned = patch_media(
        &t,
        Some(&owner.access),
        &first,
        json!({"caption": "Linocut, 2024", "alt": "A heron in blue ink"}),
    )
    .await;
    assert_eq!(captioned.status, 200, "{}", captioned.body);
    assert_eq!(captioned.body["caption"], "Linocut, 2024");
    let read = t.get(&format!("/projects/{pid}"), None).await.body;
    let shown = read["media"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file_id"] == first.as_str())
        .unwrap();
    assert_eq!(shown["caption"], "Linocut, 2024");
    assert_eq!(shown["alt"], "A heron in blue ink");
    patch_media(&t, Some(&owner.access), &first, json!({"caption": "c".repeat(2001)}))
        .await
        .assert_error(400, "invalid_caption");
    patch_media(&t, Some(&owner.access), &first, json!({"alt": "a".repeat(501)}))
        .await
        .assert_error(400, "invalid_alt");
    assert_eq!(
        patch_media(
            &t,
            Some(&owner.access),
            &first,
            json!({"caption": "c".repeat(2000), "alt": "a".repeat(500)})
        )
        .await
        .status,
        200
    );
    patch_media(&t, Some(&other.access), &first, json!({"caption": "mine"}))
        .await
        .assert_error(403, "forbidden");
    patch_media(&t, None, &first, json!({"caption": "x"}))
        .await
        .assert_error(401, "unauthorized");
    // An empty caption removes it.
    let cleared = patch_media(&t, Some(&owner.access), &first, json!({"caption": ""})).await;
    assert!(cleared.body["caption"].is_null(), "{}", cleared.body);

    // Moving an image: to the end of another project of the same owner.
    let other_project = t.create_project(&owner.access, json!({"title": "Sketches"})).await;
    let oid = other_project["id"].as_str().unwrap().to_string();
    let kept = image(&t, &owner.access, &oid, 4).await;
    let moved = patch_media(&t, Some(&owner.access), &third, json!({"project_id": oid})).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["project_id"], oid.as_str());
    assert_eq!(
        ids(&t.get(&format!("/projects/{pid}"), None).await.body),
        [first.clone(), second.clone()]
    );
    assert_eq!(
        ids(&t.get(&format!("/projects/{oid}"), None).await.body),
        [kept.clone(), third.clone()]
    );
    let strangers = t.create_project(&other.access, json!({"title": "Not yours"})).await;
    patch_media(&t, Some(&owner.access), &first, json!({"project_id": strangers["id"]}))
        .await
        .assert_error(403, "forbidden");

    // New uploads go to the end; deleting closes the gap.
    let fourth = image(&t, &owner.access, &pid, 5).await;
    assert_eq!(
        ids(&t.get(&format!("/projects/{pid}"), None).await.body),
        [first.clone(), second.clone(), fourth.clone()]
    );
    let deleted = t.delete(&format!("/media/{first}"), Some(&owner.access)).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let read = t.get(&format!("/projects/{pid}"), None).await.body;
    assert_eq!(ids(&read), [second.clone(), fourth.clone()]);
    // The cover was the deleted image's thumbnail: it goes to the first image left.
    assert_eq!(read["thumbnail_url"], read["media"][0]["thumbnail_url"], "{read}");

    // The cover, chosen among the project's images.
    let covered = t
        .put(
            &format!("/projects/{pid}/thumbnail"),
            Some(&owner.access),
            json!({"file_id": fourth}),
        )
        .await;
    assert_eq!(covered.status, 200, "{}", covered.body);
    assert_eq!(covered.body["thumbnail_url"], covered.body["media"][1]["thumbnail_url"]);
    t.put(
        &format!("/projects/{pid}/thumbnail"),
        Some(&owner.access),
        json!({"file_id": kept}),
    )
    .await
    .assert_error(400, "invalid_file_id");
    // A later upload leaves the chosen cover alone.
    image(&t, &owner.access, &pid, 6).await;
    let read = t.get(&format!("/projects/{pid}"), None).await.body;
    assert_eq!(read["thumbnail_url"], covered.body["thumbnail_url"]);
    assert_eq!(ids(&read).len(), 3);
    t.shutdown().await;
}

async fn search_ids(t: &TestNode, query: &str) -> Vec<String> {
    let found = t.get(&format!("/search?query={query}"), None).await;
    assert_eq!(found.status, 200, "{}", found.body);
    found.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["project_id"].as_str().unwrap().to_string())
        .collect()
}

async fn suggested(t: &TestNode, prefix: &str) -> Value {
    let found = t.get(&format!("/search/suggest?query={prefix}"), None).await;
    assert_eq!(found.status, 200, "{}", found.body);
    found.body["suggestions"].clone()
}

async fn visibility_on_reads_listings_and_search(backend: Backend, bus: Bus) {
    let t = spawn(backend, bus).await;
    let owner = t.user("curator").await;
    let other = t.user("visitor").await;
    // An old client sends only the seed's fields: public.
    let public = t
        .create_project(&owner.access, json!({"title": "Quokka public", "tags": ["quokka"]}))
        .await;
    assert_eq!(public["visibility"], "public");
    assert!(public["published_at"].is_string(), "{public}");
    let unlisted = t
        .create_project(
            &owner.access,
            json!({"title": "Quokka unlisted", "tags": ["quokka"], "visibility": "unlisted"}),
        )
        .await;
    let private = t
        .create_project(
            &owner.access,
            json!({"title": "Quokka private", "tags": ["quokka", "quokkadraft"], "visibility": "private"}),
        )
        .await;
    assert!(private["published_at"].is_null(), "{private}");
    let (pu, un, pr) = (
        public["id"].as_str().unwrap().to_string(),
        unlisted["id"].as_str().unwrap().to_string(),
        private["id"].as_str().unwrap().to_string(),
    );
    t.request(
        Method::POST,
        "/projects",
        Some(&owner.access),
        Some(json!({"title": "x", "visibility": "secret"})),
    )
    .await
    .assert_error(400, "bad_request");

    // Reads by id: private for the owner only, unlisted for anyone with the id.
    for viewer in [None, Some(other.access.as_str())] {
        assert_eq!(t.get(&format!("/projects/{pu}"), viewer).await.status, 200);
        assert_eq!(t.get(&format!("/projects/{un}"), viewer).await.status, 200);
        t.get(&format!("/projects/{pr}"), viewer)
            .await
            .assert_error(404, "project_not_found");
    }
    let mine = t.get(&format!("/projects/{pr}"), Some(&owner.access)).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.body["visibility"], "private");

    // Listings and counts: the public one for everyone but the owner.
    for viewer in [None, Some(other.access.as_str())] {
        let listed = t.get(&format!("/projects/user/{}", owner.user_id), viewer).await;
        assert_eq!(listed.body["total"], 1, "{}", listed.body);
        assert_eq!(listed.body["projects"][0]["id"], pu.as_str());
        let profile = t.get("/users/curator", viewer).await;
        assert_eq!(profile.body["project_count"], 1, "{}", profile.body);
        assert_eq!(profile.body["projects"].as_array().unwrap().len(), 1);
    }
    let listed = t
        .get(&format!("/projects/user/{}", owner.user_id), Some(&owner.access))
        .await;
    assert_eq!(listed.body["total"], 3, "{}", listed.body);
    let profile = t.get("/users/curator", Some(&owner.access)).await;
    assert_eq!(profile.body["project_count"], 3, "{}", profile.body);

    // Search and suggestions: the public one only.
    eventually(WAIT, "the public project searchable", || async {
        (search_ids(&t, "quokka").await == [pu.clone()]).then_some(())
    })
    .await;
    let suggestions = suggested(&t, "quokk").await;
    let tag = suggestions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "tag" && s["text"] == "quokka")
        .unwrap_or_else(|| panic!("{suggestions}"));
    assert_eq!(tag["count"], 1, "{suggestions}");
    assert!(!suggestions.to_string().contains("quokkadraft"), "{suggestions}");
    assert!(!suggestions.to_string().contains(&un) && !suggestions.to_string().contains(&pr));

    // Publishing the draft: published_at is set once, and the index adds it.
    let published = t
        .put(
            &format!("/projects/{pr}"),
            Some(&owner.access),
            json!({"visibility": "public"}),
        )
        .await;
    assert_eq!(published.status, 200, "{}", published.body);
    let first_published = published.body["published_at"].clone();
    assert!(first_published.is_string());
    eventually(WAIT, "the published project searchable", || async {
        let mut found = search_ids(&t, "quokka").await;
        found.sort();
        let mut wanted = vec![pu.clone(), pr.clone()];
        wanted.sort();
        (found == wanted).then_some(())
    })
    .await;
    assert_eq!(t.get(&format!("/projects/{pr}"), None).await.status, 200);

    // Back to private: out of the index, the listings and reads by others.
    let hidden = t
        .put(
            &format!("/projects/{pr}"),
            Some(&owner.access),
            json!({"visibility": "private"}),
        )
        .await;
    assert_eq!(hidden.status, 200, "{}", hidden.body);
    assert_eq!(
        hidden.body["published_at"], first_published,
        "published_at is the first time only"
    );
    t.get(&format!("/projects/{pr}"), None)
        .await
        .assert_error(404, "project_not_found");
    eventually(WAIT, "the hidden project out of search", || async {
        (search_ids(&t, "quokka").await == [pu.clone()]).then_some(())
    })
    .await;
    let listed = t.get(&format!("/projects/user/{}", owner.user_id), None).await;
    assert_eq!(listed.body["total"], 1, "{}", listed.body);
    // An edit that leaves it private keeps it out.
    t.put(
        &format!("/projects/{pr}"),
        Some(&owner.access),
        json!({"title": "Quokka private again"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(search_ids(&t, "quokka").await, std::slice::from_ref(&pu));
    // Unlisted: readable by id, never searched.
    let unlisted_public = t
        .put(
            &format!("/projects/{un}"),
            Some(&owner.access),
            json!({"visibility": "public"}),
        )
        .await;
    assert_eq!(unlisted_public.status, 200);
    eventually(WAIT, "the formerly unlisted project searchable", || async {
        search_ids(&t, "quokka").await.contains(&un).then_some(())
    })
    .await;
    t.put(
        &format!("/projects/{un}"),
        Some(&owner.access),
        json!({"visibility": "unlisted"}),
    )
    .await;
    eventually(WAIT, "the unlisted project out of search", || async {
        (!search_ids(&t, "quokka").await.contains(&un)).then_some(())
    })
    .await;
    assert_eq!(t.get(&format!("/projects/{un}"), None).await.status, 200);

    // The events carry the visibility.
    if matches!(bus, Bus::Nats) {
        let events = common::stream_events(t.node(), "project.updated").await;
        let last_private = events
            .iter()
            .rfind(|e| e["event_type"] == "project.updated" && e["data"]["project_id"] == pr.as_str())
            .unwrap_or_else(|| panic!("no project.updated for {pr}"));
        assert_eq!(last_private["data"]["visibility"], "private", "{last_private}");
    }
    t.shutdown().await;
}

fn cache_control(reply: &reqwest::Response) -> String {
    reply.headers()[header::CACHE_CONTROL].to_str().unwrap().to_string()
}

async fn image_files_follow_their_projects_visibility(backend: Backend, bus: Bus) {
    let t = spawn(backend, bus).await;
    let owner = t.user("painter").await;
    let other = t.user("onlooker").await;
    let project = t.create_project(&owner.access, json!({"title": "Studies"})).await;
    let pid = project["id"].as_str().unwrap().to_string();
    let file = image(&t, &owner.access, &pid, 1).await;
    let public_read = t.get(&format!("/projects/{pid}"), None).await.body;
    let urls: Vec<String> = {
        let item = &public_read["media"][0];
        let mut urls = vec![
            item["file_url"].as_str().unwrap().to_string(),
            item["thumbnail_url"].as_str().unwrap().to_string(),
        ];
        urls.extend(
            item["renditions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["url"].as_str().unwrap().to_string()),
        );
        urls
    };
    assert!(
        urls.iter().all(|u| !u.contains("sig=")),
        "public URLs are plain: {urls:?}"
    );
    for url in &urls {
        let reply = t.client.get(url).send().await.unwrap();
        assert_eq!(reply.status(), 200, "{url}");
        assert_eq!(cache_control(&reply), "public, max-age=3600", "{url}");
    }

    // Private: someone who kept the URLs gets nothing, with no caching.
    let hidden = t
        .put(
            &format!("/projects/{pid}"),
            Some(&owner.access),
            json!({"visibility": "private"}),
        )
        .await;
    assert_eq!(hidden.status, 200, "{}", hidden.body);
    for url in &urls {
        let reply = t.client.get(url).send().await.unwrap();
        assert_eq!(reply.status(), 404, "{url} still served");
        assert_eq!(cache_control(&reply), "no-store");
        let with_bearer = t.client.get(url).bearer_auth(&other.access).send().await.unwrap();
        assert_eq!(with_bearer.status(), 404, "{url}");
    }
    // The owner's reads hand out signed URLs that expire, cached privately.
    let (mine, etag) = etagged(&t, &format!("/projects/{pid}"), Some(&owner.access)).await;
    assert!(etag.starts_with("\"v") && etag.contains('.'), "{etag}");
    let signed = mine["media"][0]["file_url"].as_str().unwrap().to_string();
    assert!(signed.contains("exp=") && signed.contains("sig="), "{signed}");
    assert!(mine["thumbnail_url"].as_str().unwrap().contains("sig="), "{mine}");
    let reply = t.client.get(&signed).send().await.unwrap();
    assert_eq!(reply.status(), 200, "{signed}");
    assert!(
        cache_control(&reply).starts_with("private, max-age="),
        "{}",
        cache_control(&reply)
    );
    for rendition in mine["media"][0]["renditions"].as_array().unwrap() {
        let url = rendition["url"].as_str().unwrap();
        assert_eq!(t.client.get(url).send().await.unwrap().status(), 200, "{url}");
    }
    let listed = t.get("/media", Some(&owner.access)).await;
    assert!(
        listed.body["files"][0]["file_url"].as_str().unwrap().contains("sig="),
        "{}",
        listed.body
    );
    // A signature is for its key and its expiry only.
    let tampered = signed.replace("sig=", "sig=0");
    assert_eq!(t.client.get(&tampered).send().await.unwrap().status(), 404);
    let (base, query) = signed.split_once('?').unwrap();
    let exp: i64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("exp="))
        .unwrap()
        .parse()
        .unwrap();
    let later = signed.replace(&format!("exp={exp}"), &format!("exp={}", exp + 3600));
    assert_eq!(t.client.get(&later).send().await.unwrap().status(), 404);
    let other_key = format!("{}?{query}", urls[1].split('?').next().unwrap());
    assert_ne!(other_key.split('?').next(), Some(base));
    assert_eq!(t.client.get(&other_key).send().await.unwrap().status(), 404);

    // Unlisted: anyone with the URL, but no shared cache keeps it.
    t.put(
        &format!("/projects/{pid}"),
        Some(&owner.access),
        json!({"visibility": "unlisted"}),
    )
    .await;
    let reply = t.client.get(&urls[0]).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(cache_control(&reply), "private, max-age=3600");

    // Public again: plain, cacheable.
    t.put(
        &format!("/projects/{pid}"),
        Some(&owner.access),
        json!({"visibility": "public"}),
    )
    .await;
    let reply = t.client.get(&urls[0]).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(cache_control(&reply), "public, max-age=3600");
    // An image filed under no project is public.
    let loose = t.upload(Some(&owner.access), png(20, 20), "loose.png", None).await;
    let loose_url = loose.body["file_url"].as_str().unwrap().to_string();
    assert_eq!(t.client.get(&loose_url).send().await.unwrap().status(), 200);
    let _ = file;
    t.shutdown().await;
}
