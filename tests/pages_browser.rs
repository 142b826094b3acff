//! The public pages in a real browser (issue 25): Debian's Chromium through
//! chromedriver against a running node. Visits the home page, a profile, a project and
//! one of its images, runs a search and follows a tag facet; checks which rendition the
//! browser chose at 390 and 1 280 CSS pixels; runs axe-core (pinned by
//! tests/browser/package-lock.json) on every kind of page; checks that a private project
//! is the 404 page and an unlisted one says `noindex`; measures Largest Contentful Paint
//! of a 20-image project page; and saves screenshots to tests/artifacts/.

mod common;

use std::{path::Path, time::Duration};

use common::{Backend, TestNode, Tokens, browser::Browser, eventually, png};
use fantoccini::Locator;
use serde_json::{Value, json};

const AXE: &str = "tests/browser/node_modules/axe-core/axe.min.js";

fn axe_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(AXE);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): run `npm ci --prefix tests/browser` (scripts/test.sh does)",
            path.display()
        )
    })
}

/// axe-core's violations on the current page, as "rule: nodes" lines.
async fn accessibility_violations(browser: &Browser, axe: &str) -> Vec<String> {
    browser.client.execute(axe, vec![]).await.expect("axe loads");
    let result = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, {resultTypes: ['violations']})\
               .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '))))\
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe runs");
    serde_json::from_value(result).expect("a list of violations")
}

async fn assert_accessible(browser: &Browser, axe: &str, what: &str) {
    let violations = accessibility_violations(browser, axe).await;
    assert!(violations.is_empty(), "axe on {what}:\n{}", violations.join("\n"));
}

/// The rendition the browser chose for the first gallery image, once it has loaded.
async fn chosen_width(browser: &Browser, renditions: &[Value]) -> u64 {
    let src: String = eventually(Duration::from_secs(20), "the first image to load", || async {
        let value = browser
            .client
            .execute(
                "const img = document.querySelector('.gallery img.pic');\
                 return img && img.complete && img.currentSrc ? img.currentSrc : null;",
                vec![],
            )
            .await
            .ok()?;
        value.as_str().map(str::to_string)
    })
    .await;
    let path = src
        .split("/media/")
        .nth(1)
        .map(|p| format!("/media/{p}"))
        .unwrap_or(src.clone());
    renditions
        .iter()
        .find(|r| r["url"].as_str().is_some_and(|u| u.ends_with(&path)))
        .and_then(|r| r["width"].as_u64())
        .unwrap_or_else(|| panic!("{src} is none of the renditions"))
}

async fn project_with_images(t: &TestNode, owner: &Tokens, title: &str, images: u32, big: bool) -> Value {
    let project = t
        .create_project(
            &owner.access,
            json!({"title": title, "description": "Boats in the harbour before sunrise, in order.", "tags": ["sea", "photo"]}),
        )
        .await;
    let id = project["id"].as_str().unwrap().to_string();
    let mut files = Vec::new();
    for i in 0..images {
        let (w, h) = if big { (1600, 1200) } else { (640 + i, 480) };
        let uploaded = t
            .upload(Some(&owner.access), png(w, h), &format!("boat-{i}.png"), Some(&id))
            .await;
        assert_eq!(uploaded.status, 201, "{}", uploaded.body);
        files.push(uploaded.body["file_id"].as_str().unwrap().to_string());
    }
    for (i, file) in files.iter().enumerate() {
        t.settled_media(&owner.access, file).await;
        let patched = t
            .request(
                reqwest::Method::PATCH,
                &format!("/media/{file}"),
                Some(&owner.access),
                Some(json!({"caption": format!("Boat {}", i + 1), "alt": format!("A fishing boat, number {}, at its mooring", i + 1)})),
            )
            .await;
        assert_eq!(patched.status, 200, "{}", patched.body);
    }
    t.get(&format!("/projects/{id}"), None).await.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_pages_in_chromium() {
    let axe = axe_source();
    let t = TestNode::spawn(Backend::Sqlite).await;
    let alice = t.user("alice").await;
    let profile = t
        .put(
            "/profile/me",
            Some(&alice.access),
            json!({"name": "Alice Harbour", "bio": "Photographs of boats and the sea.", "social_links": {"Website": "https://alice.example"}}),
        )
        .await;
    assert_eq!(profile.status, 200);
    let harbour = project_with_images(&t, &alice, "Harbour at Dawn", 3, true).await;
    let series = project_with_images(&t, &alice, "Twenty Boats", 20, false).await;
    let unlisted = t
        .create_project(
            &alice.access,
            json!({"title": "Secret Garden", "visibility": "unlisted"}),
        )
        .await;
    let private = t
        .create_project(
            &alice.access,
            json!({"title": "Unfinished Draft", "visibility": "private"}),
        )
        .await;
    eventually(Duration::from_secs(20), "both projects to be searchable", || async {
        let found = t.get("/search?query=boats", None).await;
        (found.body["total"].as_u64() >= Some(2)).then_some(())
    })
    .await;
    let renditions: Vec<Value> = harbour["media"][0]["renditions"].as_array().unwrap().clone();
    let base = &t.url;

    let desktop = Browser::start_sized(1280, 900).await;
    let b = &desktop;
    // Home: the grid of recent work links to the project.
    b.client.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(b.text("h1").await, "Recent work");
    assert_accessible(b, &axe, "the home page").await;
    b.screenshot("pages-home-1280.png").await;
    b.client
        .find(Locator::Css("a[href='/@alice/harbour-at-dawn']"))
        .await
        .expect("the project on the home page")
        .click()
        .await
        .unwrap();

    // The project: the gallery, a large rendition on a desktop.
    b.wait_text("h1", "the project page", |h| h == "Harbour at Dawn").await;
    let wide = chosen_width(b, &renditions).await;
    assert!(wide >= 1280, "a desktop gets a large rendition, not {wide} px");
    let width: i64 = b
        .client
        .execute("return window.innerWidth", vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert_eq!(width, 1280);
    let captions = b.text(".gallery").await;
    assert!(captions.find("Boat 1") < captions.find("Boat 2"), "{captions}");
    assert_accessible(b, &axe, "a project page").await;
    b.screenshot("pages-project-1280.png").await;

    // An image page, then the owner's profile.
    let image_link = format!(
        "a[href$='/images/{}']",
        harbour["media"][1]["file_id"].as_str().unwrap()
    );
    b.client
        .find(Locator::Css(&image_link))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text("h1", "the image page", |h| h == "Boat 2").await;
    assert_accessible(b, &axe, "an image page").await;
    b.client
        .find(Locator::Css("a[href='/@alice']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text("h1", "the profile", |h| h.contains("Alice Harbour")).await;
    assert_accessible(b, &axe, "a profile").await;

    // Search from the box in the header, then follow a tag facet.
    let field = b.client.find(Locator::Id("q")).await.unwrap();
    field.send_keys("harbour\u{E007}").await.unwrap();
    b.wait_text("h1", "the results", |h| h.contains("harbour")).await;
    let marked = b.text(".hits mark").await;
    assert_eq!(marked.to_lowercase(), "harbour");
    assert_accessible(b, &axe, "search results").await;
    b.screenshot("pages-search-1280.png").await;
    b.client
        .find(Locator::Css(".facets a[href*='tag=photo']"))
        .await
        .expect("a photo facet")
        .click()
        .await
        .unwrap();
    b.wait_text(".filters", "the tag filter", |f| f.contains("#photo"))
        .await;
    assert!(b.client.current_url().await.unwrap().as_str().contains("tag=photo"));
    assert!(b.text(".hits").await.contains("Harbour at Dawn"));

    // A private project is the 404 page; an unlisted one is noindex.
    let private_id = private["id"].as_str().unwrap();
    b.client.goto(&format!("{base}/@alice/{private_id}")).await.unwrap();
    assert_eq!(b.text("h1").await, "Page not found");
    assert!(!b.client.source().await.unwrap().contains("Unfinished"));
    assert_accessible(b, &axe, "the 404 page").await;
    let unlisted_id = unlisted["id"].as_str().unwrap();
    b.client.goto(&format!("{base}/@alice/{unlisted_id}")).await.unwrap();
    let robots = b
        .client
        .find(Locator::Css("meta[name='robots']"))
        .await
        .expect("a robots meta")
        .attr("content")
        .await
        .unwrap();
    assert_eq!(robots.as_deref(), Some("noindex"));

    // Largest Contentful Paint of the 20-image page, on a fresh load.
    assert_eq!(series["title"], "Twenty Boats");
    b.client.goto(&format!("{base}/@alice/twenty-boats")).await.unwrap();
    let lcp = b
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             new PerformanceObserver(list => { const e = list.getEntries(); done(e[e.length - 1].startTime); })\
               .observe({type: 'largest-contentful-paint', buffered: true});",
            vec![],
        )
        .await
        .expect("an LCP entry");
    println!(
        "largest contentful paint, project page with 20 images, loopback: {:.0} ms (goal: 500 ms)",
        lcp.as_f64().unwrap_or(f64::NAN)
    );
    assert_eq!(
        b.client
            .execute("return document.querySelectorAll('.gallery figure').length", vec![])
            .await
            .unwrap()
            .as_u64(),
        Some(20)
    );
    desktop.close().await;

    // A phone gets a small rendition.
    let phone = Browser::start_phone(390, 844).await;
    phone
        .client
        .goto(&format!("{base}/@alice/harbour-at-dawn"))
        .await
        .unwrap();
    let viewport = phone.client.execute("return window.innerWidth", vec![]).await.unwrap();
    assert_eq!(viewport.as_i64(), Some(390), "the phone's viewport");
    let narrow = chosen_width(&phone, &renditions).await;
    assert!(narrow <= 640, "a phone gets a small rendition, not {narrow} px");
    phone.screenshot("pages-project-390.png").await;
    phone.client.goto(&format!("{base}/")).await.unwrap();
    phone.screenshot("pages-home-390.png").await;
    assert_accessible(&phone, &axe, "the home page on a phone").await;
    phone.close().await;
    t.shutdown().await;
}
