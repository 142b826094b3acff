//! Public pages over HTTP (issue 25): what a visitor and a crawler get, and that the
//! pages show nothing the API would not show the same viewer. The browser test
//! (tests/pages_browser.rs) checks how the pages render; this one checks every answer's
//! status, headers and contents, on SQLite and on PostgreSQL.

mod common;

use std::time::Duration;

use common::{Backend, TestNode, Tokens, eventually, png};
use reqwest::{StatusCode, header, redirect::Policy};
use serde_json::{Value, json};

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("a client")
}

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn page(t: &TestNode, path: &str, bearer: Option<&str>) -> Page {
    let mut request = no_redirects()
        .get(format!("{}{path}", t.url))
        .header(header::ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8");
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("page request");
    Page {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.text().await.expect("page body"),
    }
}

fn header_of<'a>(page: &'a Page, name: &str) -> &'a str {
    page.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// A project with `images` pictures (each through the thumbnailer), captions and alt
/// text on the first.
async fn project_with_images(t: &TestNode, owner: &Tokens, body: Value, images: usize) -> (String, Vec<String>) {
    let project = t.create_project(&owner.access, body).await;
    let id = project["id"].as_str().expect("id").to_string();
    let mut files = Vec::new();
    for i in 0..images {
        let uploaded = t
            .upload(
                Some(&owner.access),
                png(700 + i as u32, 500),
                &format!("shot-{i}.png"),
                Some(&id),
            )
            .await;
        assert_eq!(uploaded.status, 201, "{}", uploaded.body);
        files.push(uploaded.body["file_id"].as_str().expect("file id").to_string());
    }
    for file in &files {
        assert_eq!(t.settled_media(&owner.access, file).await["thumbnail_status"], "ready");
    }
    if let Some(first) = files.first() {
        let patched = t
            .request(
                reqwest::Method::PATCH,
                &format!("/media/{first}"),
                Some(&owner.access),
                Some(json!({"caption": "Boats at first light", "alt": "Three fishing boats moored in a calm harbour"})),
            )
            .await;
        assert_eq!(patched.status, 200, "{}", patched.body);
    }
    (id, files)
}

async fn visitor_pages(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let alice = t.user("alice").await;
    let mallory = t.user("mallory").await;
    let profile = t
        .put(
            "/profile/me",
            Some(&alice.access),
            json!({"name": "Alice Harbour", "bio": "Photographs of <b>boats</b>.\n\nAnd of the sea.", "social_links": {"Website": "https://alice.example"}}),
        )
        .await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    let (public_id, files) = project_with_images(
        &t,
        &alice,
        json!({"title": "Harbour at Dawn", "description": "Boats in the <harbour> before sunrise.", "tags": ["sea", "photo"]}),
        2,
    )
    .await;
    let unlisted = t
        .create_project(
            &alice.access,
            json!({"title": "Secret Garden", "visibility": "unlisted"}),
        )
        .await;
    let unlisted_id = unlisted["id"].as_str().unwrap().to_string();
    let private = t
        .create_project(
            &alice.access,
            json!({"title": "Unfinished Draft", "visibility": "private"}),
        )
        .await;
    let private_id = private["id"].as_str().unwrap().to_string();

    // The home page lists public work only, linked by slug.
    let home = page(&t, "/", None).await;
    assert_eq!(home.status, 200);
    assert!(header_of(&home, "content-type").starts_with("text/html"));
    assert!(home.body.contains("href=\"/@alice/harbour-at-dawn\""), "{}", home.body);
    assert!(!home.body.contains("Secret Garden") && !home.body.contains("Unfinished Draft"));
    // A strict policy: nothing inline, images from this site.
    let csp = header_of(&home, "content-security-policy");
    assert!(
        csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        !home.body.contains("<script") && !home.body.contains(" style="),
        "no inline script or style"
    );
    assert!(home.body.contains("<html lang=\"en\">"));

    // The profile: escaped text, links, the public projects, the feed.
    let profile = page(&t, "/@alice", None).await;
    assert_eq!(profile.status, 200);
    assert!(profile.body.contains("Alice Harbour"));
    assert!(profile.body.contains("&lt;b&gt;boats&lt;/b&gt;"), "bio is escaped");
    assert!(profile.body.contains("https://alice.example"));
    assert!(profile.body.contains("/@alice/feed.atom"));
    assert!(!profile.body.contains("Secret Garden") && !profile.body.contains("Unfinished Draft"));
    assert_eq!(page(&t, "/@nobody", None).await.status, 404);
    assert_eq!(page(&t, "/@", None).await.status, 404);

    // The project page: gallery in order, srcset, sizes, placeholders, captions, alt,
    // tags linking to search, OpenGraph, canonical.
    let project = page(&t, "/@alice/harbour-at-dawn", None).await;
    assert_eq!(project.status, 200, "{}", project.body);
    let body = &project.body;
    assert!(body.contains("<h1>Harbour at Dawn</h1>"));
    assert!(body.contains("Boats in the &lt;harbour&gt; before sunrise."));
    assert!(
        body.contains("srcset=\"/media/renditions/") && body.contains(" 640w"),
        "{body}"
    );
    assert!(body.contains("sizes=\"(max-width: 52em) 100vw, 52em\""));
    assert!(body.contains("src=\"/placeholders/"));
    assert!(body.contains("width=\"700\" height=\"500\""), "images state their size");
    assert!(body.contains("alt=\"Three fishing boats moored in a calm harbour\""));
    assert!(body.contains("<figcaption>Boats at first light</figcaption>"));
    assert!(body.contains("href=\"/search?tag=sea\""));
    assert!(body.contains("property=\"og:image\"") && body.contains("twitter:card"));
    assert!(body.contains(&format!("rel=\"canonical\" href=\"{}/@alice/harbour-at-dawn\"", t.url)));
    assert!(!body.contains("noindex"));
    assert!(
        body.contains(&files[0]) && body.contains(&files[1]),
        "both images are shown"
    );
    assert!(body.find(&files[0]) < body.find(&files[1]), "in the owner's order");
    assert!(header_of(&project, "cache-control").starts_with("public"));

    // Its ETag answers 304 while nothing changed.
    let etag = header_of(&project, "etag").to_string();
    let again = no_redirects()
        .get(format!("{}/@alice/harbour-at-dawn", t.url))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // A placeholder is a PNG.
    let placeholder = body
        .split("src=\"/placeholders/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a placeholder URL");
    let png = t
        .client
        .get(format!("{}/placeholders/{placeholder}", t.url))
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()[header::CONTENT_TYPE], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
    assert_eq!(
        t.client
            .get(format!("{}/placeholders/not-base64!.png", t.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // The image page.
    let image = page(&t, &format!("/@alice/harbour-at-dawn/images/{}", files[1]), None).await;
    assert_eq!(image.status, 200);
    assert!(image.body.contains("rel=\"prev\""));
    assert_eq!(
        page(&t, &format!("/@alice/harbour-at-dawn/images/{private_id}"), None)
            .await
            .status,
        404
    );

    // By id, a public project moves to its slug; a rename moves the old slug.
    let by_id = page(&t, &format!("/@alice/{public_id}"), None).await;
    assert_eq!(by_id.status, 301);
    assert_eq!(header_of(&by_id, "location"), "/@alice/harbour-at-dawn");
    let renamed = t
        .put(
            &format!("/projects/{public_id}"),
            Some(&alice.access),
            json!({"title": "Harbour at Dusk"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let old = page(&t, "/@alice/harbour-at-dawn", None).await;
    assert_eq!(old.status, 301);
    assert_eq!(header_of(&old, "location"), "/@alice/harbour-at-dusk");
    let old_image = page(&t, &format!("/@alice/harbour-at-dawn/images/{}", files[0]), None).await;
    assert_eq!(
        header_of(&old_image, "location"),
        format!("/@alice/harbour-at-dusk/images/{}", files[0])
    );
    assert_eq!(page(&t, "/@alice/harbour-at-dusk", None).await.status, 200);
    // Under another user's name, nothing.
    assert_eq!(page(&t, "/@mallory/harbour-at-dusk", None).await.status, 404);
    assert_eq!(page(&t, &format!("/@mallory/{public_id}"), None).await.status, 404);
    // A second project with the same title gets its own slug.
    t.create_project(&alice.access, json!({"title": "Harbour at Dusk!"}))
        .await;
    assert!(
        page(&t, "/@alice/harbour-at-dusk-2", None)
            .await
            .body
            .contains("Harbour at Dusk!")
    );

    // Unlisted: by id, with noindex; never by its title.
    let unlisted_page = page(&t, &format!("/@alice/{unlisted_id}"), None).await;
    assert_eq!(unlisted_page.status, 200);
    assert!(
        unlisted_page
            .body
            .contains("<meta name=\"robots\" content=\"noindex\">")
    );
    assert_eq!(header_of(&unlisted_page, "x-robots-tag"), "noindex");
    assert_eq!(page(&t, "/@alice/secret-garden", None).await.status, 404);

    // Private: 404 (never 403) for anyone but the owner; the owner's view is not cached.
    for viewer in [None, Some(mallory.access.as_str())] {
        let hidden = page(&t, &format!("/@alice/{private_id}"), viewer).await;
        assert_eq!(hidden.status, 404);
        assert!(hidden.body.contains("Page not found") && !hidden.body.contains("Unfinished"));
        assert_eq!(page(&t, "/@alice/unfinished-draft", viewer).await.status, 404);
    }
    let own = page(&t, &format!("/@alice/{private_id}"), Some(&alice.access)).await;
    assert_eq!(own.status, 200);
    assert!(own.body.contains("Unfinished Draft") && own.body.contains("noindex"));
    assert_eq!(header_of(&own, "cache-control"), "private, no-store");

    // Feed and sitemap: public pages only.
    let feed = page(&t, "/@alice/feed.atom", None).await;
    assert_eq!(feed.status, 200);
    assert!(header_of(&feed, "content-type").starts_with("application/atom+xml"));
    assert!(feed.body.contains("<title>Harbour at Dusk</title>"));
    assert!(feed.body.contains(&format!("urn:uuid:{public_id}")));
    assert!(!feed.body.contains("Secret Garden") && !feed.body.contains("Unfinished"));
    let sitemap = page(&t, "/sitemap.xml", None).await;
    assert_eq!(sitemap.status, 200);
    assert!(
        sitemap
            .body
            .contains(&format!("<loc>{}/@alice/harbour-at-dusk</loc>", t.url))
    );
    assert!(sitemap.body.contains(&format!("<loc>{}/@alice</loc>", t.url)));
    assert!(!sitemap.body.contains(&unlisted_id) && !sitemap.body.contains(&private_id));
    assert!(!sitemap.body.contains("secret-garden") && !sitemap.body.contains("unfinished-draft"));
    assert!(!sitemap.body.contains("mallory"), "no profile without public work");
    let robots = page(&t, "/robots.txt", None).await;
    assert!(robots.body.contains(&format!("Sitemap: {}/sitemap.xml", t.url)));
    assert!(robots.body.contains("Disallow: /admin"));

    // Search: a browser gets the page, an API client keeps the JSON.
    eventually(Duration::from_secs(20), "the project to be searchable", || async {
        let found = t.get("/search?query=dusk", None).await;
        (found.body["total"].as_u64() >= Some(1)).then_some(())
    })
    .await;
    let json = t.get("/search?query=dusk", None).await;
    assert!(json.body["results"].is_array(), "{}", json.body);
    let results = page(&t, "/search?q=dusk", None).await;
    assert_eq!(results.status, 200);
    assert!(results.body.contains("<mark>Dusk</mark>"), "{}", results.body);
    assert!(results.body.contains("href=\"/@alice/harbour-at-dusk\""));
    assert!(
        results.body.contains("href=\"/search?q=dusk&amp;tag=sea\""),
        "facets link"
    );
    assert!(results.body.contains("noindex"));
    let filtered = page(&t, "/search?q=dusk&tag=sea", None).await;
    assert!(filtered.body.contains("harbour-at-dusk") && filtered.body.contains("#sea ×"));
    let nothing = page(&t, "/search?q=dusk&tag=nothing-has-this", None).await;
    assert!(!nothing.body.contains("harbour-at-dusk"));
    let too_long = page(&t, &format!("/search?q={}", "x".repeat(501)), None).await;
    assert_eq!(too_long.status, 400);
    assert!(too_long.body.contains("at most 500 characters"));
    assert_eq!(page(&t, "/?page=0", None).await.status, 400);

    // Deleting the project takes its pages, old slugs included.
    assert_eq!(
        t.delete(&format!("/projects/{public_id}"), Some(&alice.access))
            .await
            .status,
        200
    );
    for gone in ["/@alice/harbour-at-dusk", "/@alice/harbour-at-dawn"] {
        assert_eq!(page(&t, gone, None).await.status, 404, "{gone}");
    }
    // Pages answer only GET and HEAD.
    let post = no_redirects().post(format!("{}/@alice", t.url)).send().await.unwrap();
    assert_eq!(post.status(), 405);
    t.shutdown().await;
}

/// A project of 20 images: the page stays small (issue 25: under 30 KB).
async fn twenty_images_stay_small(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let alice = t.user("alice").await;
    project_with_images(
        &t,
        &alice,
        json!({"title": "Twenty Boats", "description": "A long series.", "tags": ["sea"]}),
        20,
    )
    .await;
    let project = page(&t, "/@alice/twenty-boats", None).await;
    assert_eq!(project.status, 200);
    assert_eq!(project.body.matches("<figure>").count(), 20);
    let kb = project.body.len() as f64 / 1024.0;
    println!("project page with 20 images: {kb:.1} KB of HTML (goal: under 30 KB)");
    assert!(project.body.len() < 30 * 1024, "{kb:.1} KB");
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_pages_on_sqlite() {
    visitor_pages(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_pages_on_postgres() {
    visitor_pages(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_twenty_images_is_under_30_kb() {
    twenty_images_stay_small(Backend::Sqlite).await;
}
