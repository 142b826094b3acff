//! The leak walk (issue 20 §3): every route of the served OpenAPI document, as an
//! anonymous client, as another user and as an administrator, over one project in each
//! visibility, each with an image. Nothing of the unlisted project may appear unless the
//! request names it (its id: anyone who has it may see it); nothing of the private one
//! may appear at all — not in a body, a count, a suggestion, an event or a file. Nor
//! may anything of a deleted account's project, which was public until its owner left.
//!
//! The routes come from the served document, so a route added later is walked too. Path
//! parameters are filled by name from a table; a parameter the table does not know fails
//! the walk (teach it the new name), so no route is skipped silently.

mod common;

use std::{collections::BTreeSet, time::Duration};

use common::{Backend, SseStream, TestNode, Tokens, eventually, png};
use reqwest::Method;
use serde_json::{Value, json};

/// A word in every project's title and a tag on each, so that every search, listing and
/// suggestion could find all three if it leaked.
const WALK_WORD: &str = "zzwalk";

struct Project {
    visibility: &'static str,
    id: String,
    file_id: String,
    /// The image's files as anyone was handed them while the project was public.
    urls: Vec<String>,
    /// Strings that belong to this project only.
    markers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identity {
    Anonymous,
    OtherUser,
    Administrator,
}

const IDENTITIES: [Identity; 3] = [Identity::Anonymous, Identity::OtherUser, Identity::Administrator];

struct World {
    t: TestNode,
    owner: Tokens,
    projects: Vec<Project>,
}

impl World {
    fn project(&self, visibility: &str) -> &Project {
        self.projects.iter().find(|p| p.visibility == visibility).unwrap()
    }

    /// A fresh access token for `identity` (a route walked before, such as a logout,
    /// may have ended the last one's session).
    async fn token(&self, identity: Identity) -> Option<String> {
        let email = match identity {
            Identity::Anonymous => return None,
            Identity::OtherUser => "otto@folio.test",
            Identity::Administrator => "ada@folio.test",
        };
        let login = self.t.login(email, "password-123").await;
        assert_eq!(login.status, 200, "{}", login.body);
        Some(login.body["access_token"].as_str().unwrap().to_string())
    }
}

/// The values a path parameter is walked with, by its name.
fn path_values(world: &World, name: &str, method: &str, template: &str) -> Vec<String> {
    match name {
        "project_id" => world.projects.iter().map(|p| p.id.clone()).collect(),
        "file_id" => world.projects.iter().map(|p| p.file_id.clone()).collect(),
        "user_id" => vec![world.owner.user_id.clone()],
        "username" => vec!["olive".to_string(), "dora".to_string()],
        // Ids of things no walker owns: an unknown one must reveal nothing either.
        "session_id" | "export_id" => vec![uuid::Uuid::now_v7().to_string()],
        other => panic!(
            "the leak walk does not know how to fill the path parameter `{other}` of {method} {template}: add it to path_values"
        ),
    }
}

/// The value a query parameter is walked with (`None`: left out).
fn query_value(name: &str, required: bool, method: &str, template: &str) -> Option<String> {
    match name {
        "query" => Some(WALK_WORD.to_string()),
        "tags" => Some(format!("{WALK_WORD},zzunltag,zzprivtag")),
        // A signed link's parts (an export's): made up, so refused.
        "expires" => Some((chrono::Utc::now().timestamp() + 3600).to_string()),
        "signature" => Some("00".repeat(32)),
        _ if !required => None,
        other => panic!(
            "the leak walk does not know how to fill the required query parameter `{other}` of {method} {template}"
        ),
    }
}

async fn setup() -> World {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.auth.admin_emails = vec!["ada@folio.test".to_string()];
    })
    .await;
    let owner = t.user("olive").await;
    t.user("otto").await;
    t.user("ada").await;
    let mut projects = Vec::new();
    for (visibility, word, tag) in [
        ("public", "zzpubword", "zzpubtag"),
        ("unlisted", "zzunlword", "zzunltag"),
        ("private", "zzprivword", "zzprivtag"),
    ] {
        // Each is created public and has its image made while public, so that the URLs
        // anyone could have kept are the plain ones.
        let created = t
            .create_project(
                &owner.access,
                json!({
                    "title": format!("{WALK_WORD} {word}"),
                    "description": format!("about {word}"),
                    "tags": [WALK_WORD, tag],
                }),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        let up = t.upload(Some(&owner.access), png(64, 48), "walk.png", Some(&id)).await;
        assert_eq!(up.status, 201, "{}", up.body);
        let file_id = up.body["file_id"].as_str().unwrap().to_string();
        let media = t.settled_media(&owner.access, &file_id).await;
        assert_eq!(media["thumbnail_status"], "ready", "{media}");
        let mut urls = vec![
            media["file_url"].as_str().unwrap().to_string(),
            media["thumbnail_url"].as_str().unwrap().to_string(),
        ];
        urls.extend(
            media["renditions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["url"].as_str().unwrap().to_string()),
        );
        if visibility != "public" {
            let changed = t
                .put(
                    &format!("/projects/{id}"),
                    Some(&owner.access),
                    json!({"visibility": visibility}),
                )
                .await;
            assert_eq!(changed.status, 200, "{}", changed.body);
        }
        let markers = vec![id.clone(), file_id.clone(), word.to_string(), tag.to_string()];
        projects.push(Project {
            visibility,
            id,
            file_id,
            urls,
            markers,
        });
    }
    projects.push(deleted_users_project(&t).await);
    let world = World { t, owner, projects };
    // The index has settled: the public project is found, the others are not.
    let public_id = world.project("public").id.clone();
    eventually(
        Duration::from_secs(30),
        "the index to hold the public project only",
        || async {
            let found = world.t.get(&format!("/search?query={WALK_WORD}"), None).await;
            let ids: Vec<&str> = found.body["results"]
                .as_array()
                .map(|r| r.iter().filter_map(|h| h["project_id"].as_str()).collect())
                .unwrap_or_default();
            (ids == [public_id.as_str()]).then_some(())
        },
    )
    .await;
    world
}

/// A public project with an image whose owner then deletes their account: once the
/// deletion has finished, nothing of it may show anywhere, to anyone.
async fn deleted_users_project(t: &TestNode) -> Project {
    let dora = t.user("dora").await;
    let created = t
        .create_project(
            &dora.access,
            json!({"title": format!("{WALK_WORD} zzgoneword"), "tags": [WALK_WORD, "zzgonetag"]}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let up = t.upload(Some(&dora.access), png(40, 30), "gone.png", Some(&id)).await;
    assert_eq!(up.status, 201, "{}", up.body);
    let file_id = up.body["file_id"].as_str().unwrap().to_string();
    let media = t.settled_media(&dora.access, &file_id).await;
    let mut urls = vec![
        media["file_url"].as_str().unwrap().to_string(),
        media["thumbnail_url"].as_str().unwrap().to_string(),
    ];
    urls.extend(
        media["renditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["url"].as_str().unwrap().to_string()),
    );
    let deleted = t
        .request(
            Method::DELETE,
            "/profile/me",
            Some(&dora.access),
            Some(json!({"password": "password-123"})),
        )
        .await;
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    eventually(Duration::from_secs(30), "the deleted account gone", || async {
        let profile = t.get("/users/dora", None).await;
        let project = t.get(&format!("/projects/{id}"), None).await;
        let file = t.client.get(&urls[0]).send().await.unwrap().status().as_u16();
        (profile.status == 404 && project.status == 404 && file == 404).then_some(())
    })
    .await;
    Project {
        visibility: "deleted",
        markers: vec![
            id.clone(),
            file_id.clone(),
            dora.user_id.clone(),
            "zzgoneword".into(),
            "zzgonetag".into(),
        ],
        id,
        file_id,
        urls,
    }
}

/// What a response may not contain, given the ids the request named.
fn forbidden<'a>(world: &'a World, named: &BTreeSet<String>) -> Vec<&'a str> {
    let mut forbidden = Vec::new();
    for project in &world.projects {
        let allowed = match project.visibility {
            "public" => true,
            // Anyone who has its id (or its image's) may see it.
            "unlisted" => named.contains(&project.id) || named.contains(&project.file_id),
            _ => false,
        };
        if !allowed {
            forbidden.extend(project.markers.iter().map(String::as_str));
        }
    }
    forbidden
}

/// Counts of projects may count the public one only.
fn check_counts(value: &Value, what: &str) {
    match value {
        Value::Object(map) => {
            let lists_projects = map.contains_key("projects") || map.contains_key("results");
            if lists_projects && let Some(total) = map.get("total").and_then(Value::as_u64) {
                assert!(total <= 1, "{what}: a total counts hidden projects: {value}");
            }
            if let Some(count) = map.get("project_count").and_then(Value::as_u64) {
                assert!(count <= 1, "{what}: project_count counts hidden projects: {value}");
            }
            if map.get("kind").and_then(Value::as_str) == Some("tag")
                && let Some(count) = map.get("count").and_then(Value::as_u64)
            {
                assert!(count <= 1, "{what}: a tag suggestion counts hidden projects: {value}");
            }
            map.values().for_each(|v| check_counts(v, what));
        }
        Value::Array(items) => items.iter().for_each(|v| check_counts(v, what)),
        _ => {}
    }
}

fn assert_nothing_of(text: &str, forbidden: &[&str], what: &str) {
    for marker in forbidden {
        if let Some(at) = text.find(marker) {
            let from = text.floor_char_boundary(at.saturating_sub(300));
            let to = text.ceil_char_boundary((at + 300).min(text.len()));
            panic!("{what} leaks `{marker}`: …{}…", &text[from..to]);
        }
    }
}

/// Changes the owner makes to the hidden projects while another user's live events are
/// read: each would push an event to the owner, none may reach anyone else.
async fn owner_changes_hidden_projects(world: &World) {
    for visibility in ["unlisted", "private"] {
        let project = world.project(visibility);
        let changed = world
            .t
            .put(
                &format!("/projects/{}", project.id),
                Some(&world.owner.access),
                json!({"description": format!("changed while walking {visibility}")}),
            )
            .await;
        assert_eq!(changed.status, 200, "{}", changed.body);
        let up = world
            .t
            .upload(Some(&world.owner.access), png(33, 22), "live.png", Some(&project.id))
            .await;
        assert_eq!(up.status, 201, "{}", up.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_of_an_unlisted_or_private_project_leaks_on_any_route() {
    let world = setup().await;
    let t = &world.t;
    let document = t.get("/openapi.json", None).await.body;
    let paths = document["paths"].as_object().expect("the served document has paths");
    let mut walked = 0;
    let mut operations = 0;
    for (template, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let method_upper = method.to_ascii_uppercase();
            let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
            // Every combination of the path parameters' values.
            let mut fillings: Vec<(String, BTreeSet<String>)> = vec![(template.clone(), BTreeSet::new())];
            let mut query = Vec::new();
            for parameter in &parameters {
                let name = parameter["name"].as_str().unwrap();
                let required = parameter["required"].as_bool().unwrap_or(false);
                match parameter["in"].as_str().unwrap() {
                    "path" => {
                        let values = path_values(&world, name, &method_upper, template);
                        fillings = fillings
                            .into_iter()
                            .flat_map(|(path, named)| {
                                values.iter().map(move |value| {
                                    let mut named = named.clone();
                                    named.insert(value.clone());
                                    (path.replace(&format!("{{{name}}}"), value), named)
                                })
                            })
                            .collect();
                    }
                    "query" => {
                        if let Some(value) = query_value(name, required, &method_upper, template) {
                            query.push((name.to_string(), value));
                        }
                    }
                    "header" if !required => {}
                    other => {
                        panic!("the leak walk cannot fill the {other} parameter `{name}` of {method_upper} {template}")
                    }
                }
            }
            let content = operation["requestBody"]["content"]
                .as_object()
                .map(|c| c.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default();
            let event_stream = operation["responses"].as_object().is_some_and(|r| {
                r.values()
                    .any(|resp| resp["content"].get("text/event-stream").is_some())
            });
            for (path, named) in &fillings {
                for identity in IDENTITIES {
                    let what = format!("{method_upper} {path} as {identity:?}");
                    let forbidden = forbidden(&world, named);
                    let token = world.token(identity).await;
                    let url = format!("{}{path}", t.url);
                    if event_stream {
                        walk_event_stream(&world, &url, &query, token.as_deref(), &forbidden, &what).await;
                        walked += 1;
                        continue;
                    }
                    let bodies: Vec<Option<reqwest::multipart::Form>> =
                        if content.iter().any(|c| c.starts_with("multipart/")) {
                            // An upload naming each project.
                            world
                                .projects
                                .iter()
                                .map(|p| {
                                    Some(
                                        reqwest::multipart::Form::new()
                                            .part("file", reqwest::multipart::Part::bytes(png(8, 8)).file_name("w.png"))
                                            .text("project_id", p.id.clone()),
                                    )
                                })
                                .collect()
                        } else {
                            vec![None]
                        };
                    for form in bodies {
                        let mut request = t
                            .client
                            .request(Method::from_bytes(method_upper.as_bytes()).unwrap(), &url)
                            .query(&query);
                        if let Some(token) = &token {
                            request = request.bearer_auth(token);
                        }
                        if let Some(form) = form {
                            request = request.multipart(form);
                        } else if content.iter().any(|c| c.starts_with("application/json")) {
                            request = request.json(&json!({}));
                        } else if !content.is_empty() {
                            panic!("the leak walk cannot make a {content:?} body for {method_upper} {template}");
                        }
                        let response = request.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
                        let status = response.status();
                        let headers = format!("{:?}", response.headers());
                        let text = response.text().await.unwrap_or_default();
                        assert!(status.as_u16() != 500, "{what} answered 500: {text}");
                        assert_nothing_of(&text, &forbidden, &what);
                        assert_nothing_of(&headers, &forbidden, &format!("{what} (headers)"));
                        if let Ok(value) = serde_json::from_str::<Value>(&text) {
                            check_counts(&value, &what);
                        }
                        walked += 1;
                    }
                }
            }
        }
    }
    assert!(operations >= 40, "only {operations} operations in the served document");
    println!("walked {operations} operations in {walked} requests");

    // The image files: the URLs anyone could have kept while the projects were public.
    for identity in IDENTITIES {
        let token = world.token(identity).await;
        for project in &world.projects {
            for url in &project.urls {
                let mut request = t.client.get(url);
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                let status = request.send().await.unwrap().status().as_u16();
                let expected = if matches!(project.visibility, "private" | "deleted") {
                    404
                } else {
                    200
                };
                assert_eq!(status, expected, "{} image {url} as {identity:?}", project.visibility);
            }
        }
    }
    // After all that walking (an administrator's reindex among it), the index still
    // holds the public project only, and the owner still sees all three.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let found = t.get(&format!("/search?query={WALK_WORD}"), None).await;
    assert_eq!(found.body["total"], 1, "{}", found.body);
    let mine = t
        .get(
            &format!("/projects/user/{}", world.owner.user_id),
            Some(&world.owner.access),
        )
        .await;
    assert_eq!(mine.body["total"], 3, "{}", mine.body);
    let World { t, .. } = world;
    t.shutdown().await;
}

async fn walk_event_stream(
    world: &World,
    url: &str,
    query: &[(String, String)],
    token: Option<&str>,
    forbidden: &[&str],
    what: &str,
) {
    let mut full = url.to_string();
    if !query.is_empty() {
        let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        full = format!("{full}?{}", pairs.join("&"));
    }
    let mut stream = match SseStream::open(&full, token).await {
        Ok(stream) => stream,
        Err(refused) => {
            assert_nothing_of(&refused.body.to_string(), forbidden, what);
            return;
        }
    };
    // The owner's own stream, as the control: it does get events of its projects.
    let mut owner_stream = SseStream::open(&format!("{}/events", world.t.url), Some(&world.owner.access))
        .await
        .unwrap_or_else(|r| panic!("the owner's stream: {}", r.body));
    owner_changes_hidden_projects(world).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) {
        match stream.next_event(left).await {
            Some(event) => seen.push(event),
            None => break,
        }
    }
    let text = format!("{seen:?}");
    assert_nothing_of(&text, forbidden, what);
    let owners = owner_stream
        .expect_event("media.thumbnail_ready", Duration::from_secs(30), |_| true)
        .await;
    assert!(!owners.is_null());
}

/// The public pages (issue 25), as a browser asks for them: every page kind, for each
/// project by id and by slug, as each identity. The unlisted project may show only on
/// the page its id names (never by its title's slug, never listed); the private one and
/// the deleted account's never.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_of_an_unlisted_or_private_project_leaks_on_any_page() {
    let world = setup().await;
    let t = &world.t;
    let mut pages: Vec<(String, BTreeSet<String>)> = [
        "/",
        "/?page=2",
        "/@olive",
        "/@olive/feed.atom",
        "/@dora",
        "/@dora/feed.atom",
        "/sitemap.xml",
        "/robots.txt",
    ]
    .iter()
    .map(|p| (p.to_string(), BTreeSet::new()))
    .collect();
    for query in [WALK_WORD, "zzunlword", "zzprivword", "zzgoneword"] {
        pages.push((format!("/search?q={query}"), BTreeSet::new()));
    }
    for tag in [WALK_WORD, "zzunltag", "zzprivtag", "zzgonetag"] {
        pages.push((format!("/search?tag={tag}"), BTreeSet::new()));
    }
    for project in &world.projects {
        let word = project.markers[2].clone();
        for owner in ["olive", "dora"] {
            let named = BTreeSet::from([project.id.clone()]);
            pages.push((format!("/@{owner}/{}", project.id), named.clone()));
            pages.push((
                format!("/@{owner}/{}/images/{}", project.id, project.file_id),
                BTreeSet::from([project.id.clone(), project.file_id.clone()]),
            ));
            // By slug the request names no id: an unlisted project is not found this way.
            pages.push((format!("/@{owner}/{WALK_WORD}-{word}"), BTreeSet::new()));
            pages.push((
                format!("/@{owner}/{WALK_WORD}-{word}/images/{}", project.file_id),
                BTreeSet::new(),
            ));
        }
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap();
    let mut walked = 0;
    for (path, named) in &pages {
        for identity in IDENTITIES {
            let what = format!("page {path} as {identity:?}");
            // A word the request itself carries is echoed back (the search box shows the
            // query): that is the visitor's own text, not the project's. The project's
            // id, image and other words still may not appear.
            let forbidden: Vec<&str> = forbidden(&world, named)
                .into_iter()
                .filter(|marker| !path.contains(marker))
                .collect();
            let mut request = client
                .get(format!("{}{path}", t.url))
                .header(reqwest::header::ACCEPT, "text/html,*/*;q=0.8");
            if let Some(token) = world.token(identity).await {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
            let status = response.status().as_u16();
            let headers = format!("{:?}", response.headers());
            let text = response.text().await.unwrap_or_default();
            assert!(status < 500, "{what} answered {status}: {text}");
            assert_nothing_of(&text, &forbidden, &what);
            assert_nothing_of(&headers, &forbidden, &format!("{what} (headers)"));
            walked += 1;
        }
    }
    // The public project is there to be found: the walk would catch a leak.
    let public = world.project("public");
    let home = client
        .get(format!("{}/", t.url))
        .header(reqwest::header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("zzpubword"), "the public project is on the home page");
    let found = client
        .get(format!("{}/search?q={WALK_WORD}", t.url))
        .header(reqwest::header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(found.contains(&format!("/@olive/{WALK_WORD}-zzpubword")), "{found}");
    assert!(found.contains(&public.file_id), "the public cover is shown");
    println!("walked {} pages in {walked} requests", pages.len());
    let World { t, .. } = world;
    t.shutdown().await;
}
