//! Media (docs/contract.md §4 "Media", §6) end to end on an embedded-style node: uploads,
//! limits, type by content, thumbnails made by the thumbnailer actor, serving, deletion.

mod common;

use common::{Backend, TestNode, jpeg, png};
use serde_json::json;

on_every_backend!(
    upload_makes_a_thumbnail_and_sets_the_project,
    bad_uploads_get_clear_answers,
    delete_removes_row_blob_and_thumbnail
);

async fn upload_makes_a_thumbnail_and_sets_the_project(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("alice").await;
    let project = t.create_project(&u.access, json!({"title": "Gallery"})).await;
    let project_id = project["id"].as_str().unwrap();
    let source = png(1200, 800);
    let up = t
        .upload(
            Some(&u.access),
            source.clone(),
            "../../etc/holiday.png",
            Some(project_id),
        )
        .await;
    assert_eq!(up.status, 201, "{}", up.body);
    let b = &up.body;
    let file_id = b["file_id"].as_str().unwrap().to_string();
    assert_eq!(b["mime_type"], "image/png");
    assert_eq!(b["file_size"], source.len());
    assert_eq!(b["original_filename"], "holiday.png");
    assert_eq!(b["filename"], format!("{file_id}.png"));
    assert_eq!(b["file_path"], format!("uploads/{}/{file_id}.png", u.user_id));
    assert_eq!(
        b["file_url"],
        format!("{}/media/uploads/{}/{file_id}.png", t.url, u.user_id)
    );
    assert_eq!(b["project_id"], project_id);
    assert_eq!(b["thumbnail_status"], "pending");

    let settled = t.settled_media(&u.access, &file_id).await;
    assert_eq!(settled["thumbnail_status"], "ready", "{settled}");
    assert_eq!(settled["width"], 1200);
    assert_eq!(settled["height"], 800);
    let thumb_url = settled["thumbnail_url"].as_str().unwrap().to_string();
    assert_eq!(
        thumb_url,
        format!("{}/media/thumbnails/{}/{file_id}_thumb.jpg", t.url, u.user_id)
    );

    let thumb = t.client.get(&thumb_url).send().await.unwrap();
    assert_eq!(thumb.status(), 200);
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    let decoded = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (300, 200));

    // The project now shows it, through a project.updated of its own. The upload (into
    // the project's gallery) and the cover are each a change of the project (and the
    // renditions being recorded one more, issue 20).
    let project = t.get(&format!("/projects/{project_id}"), None).await;
    assert_eq!(project.body["thumbnail_url"], thumb_url.as_str());
    assert!(project.body["version"].as_i64().unwrap() >= 3, "{}", project.body);

    // The original bytes, cacheable, with a validator.
    let original = t.client.get(b["file_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(original.status(), 200);
    let headers = original.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["cache-control"].to_str().unwrap().contains("max-age="));
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert_eq!(original.bytes().await.unwrap().as_ref(), source.as_slice());
    let again = t
        .client
        .get(b["file_url"].as_str().unwrap())
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());

    let listed = t.get("/media?size=10", Some(&u.access)).await;
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["files"][0]["file_id"], file_id.as_str());
    // Other users see neither the metadata nor the listing entry.
    let other = t.user("bob").await;
    t.get(&format!("/media/{file_id}"), Some(&other.access))
        .await
        .assert_error(403, "forbidden");
    assert_eq!(t.get("/media", Some(&other.access)).await.body["total"], 0);
    t.get(&format!("/media/{file_id}"), None)
        .await
        .assert_error(401, "unauthorized");
    t.shutdown().await;
}

async fn bad_uploads_get_clear_answers(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("carol").await;
    let other = t.user("dave").await;
    let others_project = t.create_project(&other.access, json!({"title": "Not yours"})).await;

    t.upload(
        Some(&u.access),
        b"just some text, not a picture".to_vec(),
        "evil.png",
        None,
    )
    .await
    .assert_error(415, "unsupported_media_type");
    t.upload(Some(&u.access), Vec::new(), "empty.png", None)
        .await
        .assert_error(400, "empty_file");
    t.upload(None, png(10, 10), "a.png", None)
        .await
        .assert_error(401, "unauthorized");
    t.upload(
        Some(&u.access),
        png(10, 10),
        "a.png",
        Some(others_project["id"].as_str().unwrap()),
    )
    .await
    .assert_error(403, "forbidden");
    t.upload(
        Some(&u.access),
        png(10, 10),
        "a.png",
        Some(&uuid::Uuid::new_v4().to_string()),
    )
    .await
    .assert_error(404, "project_not_found");
    t.upload(Some(&u.access), png(10, 10), "a.png", Some("not-a-uuid"))
        .await
        .assert_error(400, "invalid_project_id");

    // One byte past 5 MiB, with a Content-Length.
    let mut big = png(8, 8);
    big.resize(5 * 1024 * 1024 + 1, 0);
    t.upload(Some(&u.access), big, "big.png", None)
        .await
        .assert_error(413, "payload_too_large");

    // Past the cap with no Content-Length at all (chunked): refused while streaming.
    let boundary = "folio-test-boundary";
    let head = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"stream.png\"\r\ncontent-type: image/png\r\n\r\n"
    );
    let mut first = head.into_bytes();
    first.extend_from_slice(&png(8, 8));
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = std::iter::once(Ok(first))
        .chain((0..7).map(|_| Ok(vec![0u8; 1024 * 1024])))
        .chain(std::iter::once(Ok(format!("\r\n--{boundary}--\r\n").into_bytes())))
        .collect();
    // Its own client: the node closes this connection, which must not poison the pool.
    let streamed = reqwest::Client::new()
        .post(format!("{}/media/upload", t.url))
        .bearer_auth(&u.access)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    // The node answers 413 as soon as the cap is passed and stops reading; a client
    // still sending may see the connection close before it reads that answer.
    match streamed {
        Ok(response) => assert_eq!(response.status(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }

    let missing = t
        .client
        .post(format!("{}/media/upload", t.url))
        .bearer_auth(&u.access)
        .multipart(reqwest::multipart::Form::new().text("project_id", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);

    // Accepted (the bytes say image), but no thumbnail can be made: `failed`, with why.
    let mut truncated = jpeg(640, 480);
    truncated.truncate(truncated.len() / 3);
    let up = t.upload(Some(&u.access), truncated, "cut.jpg", None).await;
    assert_eq!(up.status, 201, "{}", up.body);
    let settled = t.settled_media(&u.access, up.body["file_id"].as_str().unwrap()).await;
    assert_eq!(settled["thumbnail_status"], "failed", "{settled}");
    assert!(settled["thumbnail_error"].as_str().is_some_and(|e| !e.is_empty()));

    let bomb = png_claiming(100_000, 100_000);
    let up = t.upload(Some(&u.access), bomb, "bomb.png", None).await;
    assert_eq!(up.status, 201, "{}", up.body);
    let settled = t.settled_media(&u.access, up.body["file_id"].as_str().unwrap()).await;
    assert_eq!(settled["thumbnail_status"], "failed", "{settled}");

    // Nothing above left a listed file behind except the two accepted ones.
    assert_eq!(t.get("/media", Some(&u.access)).await.body["total"], 2);
    // The node is still fine.
    assert_eq!(t.get("/health", None).await.status, 200);
    let ok = t.upload(Some(&u.access), jpeg(64, 64), "fine.jpg", None).await;
    assert_eq!(ok.status, 201);
    t.shutdown().await;
}

/// A PNG whose header claims a huge size, with a valid header CRC and a tiny body.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    let iend = b"IEND";
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(iend);
    out.extend_from_slice(&crc32(iend).to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

async fn delete_removes_row_blob_and_thumbnail(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("erin").await;
    let other = t.user("frank").await;
    let up = t.upload(Some(&u.access), jpeg(800, 600), "photo.jpg", None).await;
    assert_eq!(up.status, 201, "{}", up.body);
    let file_id = up.body["file_id"].as_str().unwrap().to_string();
    let settled = t.settled_media(&u.access, &file_id).await;
    assert_eq!(settled["thumbnail_status"], "ready");
    let file_url = settled["file_url"].as_str().unwrap().to_string();
    let thumb_url = settled["thumbnail_url"].as_str().unwrap().to_string();

    t.delete(&format!("/media/{file_id}"), Some(&other.access))
        .await
        .assert_error(403, "forbidden");
    t.delete(&format!("/media/{file_id}"), None)
        .await
        .assert_error(401, "unauthorized");
    let deleted = t.delete(&format!("/media/{file_id}"), Some(&u.access)).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    t.get(&format!("/media/{file_id}"), Some(&u.access))
        .await
        .assert_error(404, "media_not_found");
    assert_eq!(t.client.get(&file_url).send().await.unwrap().status(), 404);
    assert_eq!(t.client.get(&thumb_url).send().await.unwrap().status(), 404);
    t.delete(&format!("/media/{file_id}"), Some(&u.access))
        .await
        .assert_error(404, "media_not_found");
    // Paths outside the two public prefixes, or with traversal, are not served.
    assert_eq!(
        t.client
            .get(format!("{}/media/uploads/../jwt_secret/x", t.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    t.shutdown().await;
}
