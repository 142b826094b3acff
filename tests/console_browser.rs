//! The operator console in a real browser: Debian's Chromium driven through
//! chromedriver (both installed by scripts/test.sh) against a running node. Signs in,
//! watches a poison upload fail, retries it from the keyboard and sees it fail again
//! while a good upload is ready, runs a reindex to 100 %, checks that a non-admin gets
//! the 403 page, and saves screenshots to tests/artifacts/.

mod common;

use std::time::Duration;

use common::{Backend, TestNode, browser::Browser, eventually, jpeg, png};
use fantoccini::Locator;
use serde_json::{Value, json};

async fn failed_row(t: &TestNode, admin: &str, file_id: &str) -> Option<Value> {
    let reply = t.get("/admin/media/failed?size=100", Some(admin)).await;
    reply.body["files"]
        .as_array()?
        .iter()
        .find(|f| f["file_id"] == file_id)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_console_in_chromium() {
    let t = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.auth.admin_emails = vec!["admin@folio.test".into()];
    })
    .await;
    let admin = t.user("admin").await;
    t.user("bob").await;
    for i in 0..25 {
        t.create_project(
            &admin.access,
            json!({"title": format!("Project {i}"), "tags": ["demo"]}),
        )
        .await;
    }
    let browser = Browser::start().await;

    // 1. Sign in as admin: the console with its jobs table.
    browser.sign_in(&t.url, "admin@folio.test").await;
    browser
        .wait_text("#jobs-body", "the jobs table", |text| text.contains("thumbnails"))
        .await;
    // The cluster of one, from /admin/cluster.
    let node = t
        .node()
        .cluster
        .local
        .as_ref()
        .expect("the node's agent")
        .identity()
        .name
        .clone();
    let nodes = browser
        .wait_text("#nodes-body", "the nodes table", |text| text.contains("reachable"))
        .await;
    assert!(
        nodes.contains(&node) && nodes.contains("http, thumbnailer, indexer"),
        "{nodes}"
    );

    // 2. A truncated JPEG and a good image, through the API.
    let full = jpeg(800, 600);
    let poison = t
        .upload(
            Some(&admin.access),
            full[..full.len() / 2].to_vec(),
            "holiday-truncated.jpg",
            None,
        )
        .await;
    let poison_id = poison.body["file_id"].as_str().unwrap().to_string();
    let good = t.upload(Some(&admin.access), png(900, 600), "sunset.png", None).await;
    let good_id = good.body["file_id"].as_str().unwrap().to_string();

    // 3. The failed row appears, with its error.
    let row = format!("#failed-body tr[data-file-id=\"{poison_id}\"]");
    let shown = browser
        .wait_text(&row, "the failed row", |text| text.contains("holiday-truncated.jpg"))
        .await;
    assert!(shown.contains("truncated JPEG"), "the row shows the error: {shown}");
    assert_eq!(
        t.settled_media(&admin.access, &good_id).await["thumbnail_status"],
        "ready"
    );
    let first = failed_row(&t, &admin.access, &poison_id).await.unwrap();

    // 4. Retry it from the keyboard: it fails again, the good one stays ready.
    let retry = browser
        .client
        .find(Locator::Css(&format!("button.retry[data-file-id=\"{poison_id}\"]")))
        .await
        .unwrap();
    assert_eq!(
        retry.attr("aria-label").await.unwrap().unwrap(),
        "Retry holiday-truncated.jpg"
    );
    retry.send_keys("\u{E007}").await.unwrap();
    browser
        .wait_text("#status", "the retry to be acknowledged", |text| {
            text.contains("Queued again")
        })
        .await;
    let again = eventually(Duration::from_secs(30), "the retried file to fail again", || async {
        failed_row(&t, &admin.access, &poison_id)
            .await
            .filter(|row| row["failed_at"] != first["failed_at"])
    })
    .await;
    let failed_at = again["failed_at"].as_str().unwrap().to_string();
    eventually(Duration::from_secs(30), "the page to show the new failure", || async {
        let time = browser.client.find(Locator::Css(&format!("{row} time"))).await.ok()?;
        (time.attr("datetime").await.ok()?? == failed_at).then_some(())
    })
    .await;
    assert!(browser.text(&row).await.contains("truncated JPEG"));
    assert_eq!(
        t.get(&format!("/media/{good_id}"), Some(&admin.access)).await.body["thumbnail_status"],
        "ready"
    );

    // 5. Reindex, and watch the bar reach 100 %.
    browser
        .client
        .find(Locator::Id("reindex"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_text("#reindex-percent", "the reindex to reach 100 %", |text| text == "100 %")
        .await;
    let value = browser
        .client
        .execute("return document.getElementById('reindex-progress').value;", vec![])
        .await
        .unwrap();
    assert_eq!(value, json!(100), "the progress bar is full");
    browser
        .wait_text("#reindex-detail", "the reindex summary", |text| {
            text.contains("25 projects republished")
        })
        .await;
    // Let a poll settle the table, then keep a picture of the console.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let wide = browser.screenshot("console.png").await;
    browser.client.set_window_size(390, 1400).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let narrow = browser.screenshot("console-phone.png").await;
    // At phone width the page itself does not scroll sideways (wide tables scroll inside).
    let widths = browser
        .client
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    println!("phone widths (scroll, client, inner): {widths}");
    assert!(
        widths[0].as_u64() <= widths[1].as_u64(),
        "the page overflows at phone width: {widths}"
    );
    println!("screenshots: {} and {}", wide.display(), narrow.display());
    browser.client.set_window_size(1280, 1100).await.unwrap();

    // 6. A non-admin sees the 403 page.
    browser
        .client
        .find(Locator::Css("form[action=\"/admin/logout\"] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.sign_in(&t.url, "bob@folio.test").await;
    let heading = browser
        .wait_text("h2", "the 403 page", |text| text.contains("403"))
        .await;
    assert!(heading.contains("Administrators only"), "{heading}");
    browser.screenshot("console-forbidden.png").await;

    browser.close().await;
    t.shutdown().await;
}
