//! Profiles and projects (docs/contract.md §4) over HTTP, on SQLite and on PostgreSQL.

mod common;

use common::{Backend, TEST_JWT_SECRET, TestNode};
use serde_json::{Value, json};

on_every_backend!(
    profile_flow,
    profile_validation,
    project_crud_and_partial_update,
    project_validation,
    pagination_bounds,
    ownership_matrix,
    reindex_is_for_admins,
    project_reads_are_conditional,
);

async fn profile_flow(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("alice").await;
    let me = t.get("/profile/me", Some(&u.access)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["username"], "alice");
    assert_eq!(me.body["email"], "alice@folio.test");
    for field in ["name", "bio", "contact", "social_links", "avatar_url"] {
        assert!(
            me.body[field].is_null(),
            "{field} should be null before a profile exists"
        );
    }

    let put = t
        .put(
            "/profile/me",
            Some(&u.access),
            json!({"name": "Alice Tan", "bio": "Software Engineer", "social_links": {"github": "alice"}}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["name"], "Alice Tan");
    assert_eq!(put.body["social_links"], json!({"github": "alice"}));

    // Only the given fields change.
    let put = t
        .put(
            "/profile/me",
            Some(&u.access),
            json!({"contact": "alice@corp.com", "bio": null}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let me = t.get("/profile/me", Some(&u.access)).await;
    assert_eq!(me.body["name"], "Alice Tan");
    assert_eq!(me.body["bio"], "Software Engineer");
    assert_eq!(me.body["contact"], "alice@corp.com");
    assert!(me.body["created_at"].is_string() && me.body["updated_at"].is_string());

    t.create_project(&u.access, json!({"title": "My App"})).await;
    let public = t.get("/users/ALICE", None).await;
    assert_eq!(public.status, 200, "{}", public.body);
    assert_eq!(public.body["username"], "alice");
    assert_eq!(public.body["name"], "Alice Tan");
    assert!(
        public.body.get("email").is_none(),
        "public profile leaks email: {}",
        public.body
    );
    assert_eq!(public.body["project_count"], 1);
    assert_eq!(public.body["projects"][0]["title"], "My App");
    t.get("/users/nobody", None).await.assert_error(404, "user_not_found");
    t.get("/profile/me", None).await.assert_error(401, "unauthorized");
    t.put("/profile/me", None, json!({"name": "x"}))
        .await
        .assert_error(401, "unauthorized");
    t.shutdown().await;
}

async fn profile_validation(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("bob").await;
    let many: serde_json::Map<String, Value> = (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (json!({"name": "n".repeat(101)}), "invalid_name"),
        (json!({"bio": "b".repeat(2001)}), "invalid_bio"),
        (json!({"contact": "c".repeat(201)}), "invalid_contact"),
        (json!({"social_links": ["github"]}), "invalid_social_links"),
        (json!({"social_links": {"github": 5}}), "invalid_social_links"),
        (json!({"social_links": Value::Object(many)}), "invalid_social_links"),
        (
            json!({"avatar_url": format!("https://x.io/{}", "a".repeat(2048))}),
            "invalid_avatar_url",
        ),
        (json!({"avatar_url": "javascript:alert(1)"}), "invalid_avatar_url"),
    ];
    for (body, code) in cases {
        t.put("/profile/me", Some(&u.access), body)
            .await
            .assert_error(400, code);
    }
    // None of them created a profile.
    assert!(t.get("/profile/me", Some(&u.access)).await.body["updated_at"].is_null());
    let ok = t
        .put(
            "/profile/me",
            Some(&u.access),
            json!({"name": "n".repeat(100), "bio": "b".repeat(2000), "contact": "c".repeat(200)}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    t.shutdown().await;
}

async fn project_crud_and_partial_update(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("carol").await;
    let created = t
        .create_project(
            &u.access,
            json!({"title": "Expense Tracker", "description": "A simple finance app", "tags": ["React", " flask ", "react"], "link": "https://example.com"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["project_id"], id.as_str());
    assert_eq!(created["user_id"], u.user_id.as_str());
    assert_eq!(created["username"], "carol");
    assert_eq!(created["tags"], json!(["react", "flask"]));
    assert_eq!(created["version"], 1);
    assert!(created["thumbnail_url"].is_null());

    let got = t.get(&format!("/projects/{id}"), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["title"], "Expense Tracker");
    assert_eq!(got.body["username"], "carol");

    // Absent and null fields keep their values.
    let put = t
        .put(
            &format!("/projects/{id}"),
            Some(&u.access),
            json!({"description": "Now with budgets", "link": null}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["title"], "Expense Tracker");
    assert_eq!(put.body["description"], "Now with budgets");
    assert_eq!(put.body["link"], "https://example.com");
    assert_eq!(put.body["tags"], json!(["react", "flask"]));
    assert_eq!(put.body["version"], 2);

    let thumb = t
        .put(
            &format!("/projects/{id}/thumbnail"),
            Some(&u.access),
            json!({"thumbnail_url": "/media/thumbnails/x/y_thumb.jpg"}),
        )
        .await;
    assert_eq!(thumb.status, 200, "{}", thumb.body);
    assert_eq!(thumb.body["thumbnail_url"], "/media/thumbnails/x/y_thumb.jpg");
    assert_eq!(thumb.body["version"], 3);

    let deleted = t.delete(&format!("/projects/{id}"), Some(&u.access)).await;
    assert_eq!(deleted.status, 200);
    assert!(deleted.body["message"].is_string());
    t.get(&format!("/projects/{id}"), None)
        .await
        .assert_error(404, "project_not_found");
    t.delete(&format!("/projects/{id}"), Some(&u.access))
        .await
        .assert_error(404, "project_not_found");
    t.get("/projects/not-a-uuid", None)
        .await
        .assert_error(404, "project_not_found");
    t.get(&format!("/projects/{}", uuid::Uuid::new_v4()), None)
        .await
        .assert_error(404, "project_not_found");
    t.shutdown().await;
}

async fn project_validation(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("dave").await;
    let tags21: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    let cases = [
        (json!({}), "invalid_title"),
        (json!({"title": "   "}), "invalid_title"),
        (json!({"title": "t".repeat(201)}), "invalid_title"),
        (
            json!({"title": "ok", "description": "d".repeat(10_001)}),
            "invalid_description",
        ),
        (json!({"title": "ok", "tags": tags21}), "invalid_tags"),
        (json!({"title": "ok", "tags": ["x".repeat(51)]}), "invalid_tags"),
        (json!({"title": "ok", "tags": [" "]}), "invalid_tags"),
        (json!({"title": "ok", "link": "ftp://example.com"}), "invalid_link"),
        (json!({"title": "ok", "link": "example.com"}), "invalid_link"),
        (
            json!({"title": "ok", "thumbnail_url": "javascript:x"}),
            "invalid_thumbnail_url",
        ),
    ];
    for (body, code) in cases {
        t.request(reqwest::Method::POST, "/projects", Some(&u.access), Some(body.clone()))
            .await
            .assert_error(400, code);
    }
    t.request(
        reqwest::Method::POST,
        "/projects",
        Some(&u.access),
        Some(json!({"title": "ok", "tags": "rust"})),
    )
    .await
    .assert_error(400, "bad_request");
    let p = t
        .create_project(
            &u.access,
            json!({"title": "t".repeat(200), "description": "d".repeat(10_000)}),
        )
        .await;
    let id = p["id"].as_str().unwrap();
    t.put(&format!("/projects/{id}"), Some(&u.access), json!({"title": ""}))
        .await
        .assert_error(400, "invalid_title");
    t.put(&format!("/projects/{id}/thumbnail"), Some(&u.access), json!({}))
        .await
        .assert_error(400, "invalid_thumbnail_url");
    // Nothing changed by the rejected updates.
    assert_eq!(t.get(&format!("/projects/{id}"), None).await.body["version"], 1);
    t.shutdown().await;
}

async fn pagination_bounds(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("erin").await;
    for i in 0..5 {
        t.create_project(&u.access, json!({"title": format!("p{i}")})).await;
    }
    let base = format!("/projects/user/{}", u.user_id);
    let all = t.get(&base, None).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["total"], 5);
    assert_eq!(all.body["page"], 1);
    assert_eq!(all.body["size"], 20);
    assert_eq!(all.body["projects"][0]["title"], "p4", "newest first");

    let page2 = t.get(&format!("{base}?page=2&size=2"), None).await;
    let titles: Vec<&str> = page2.body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["p2", "p1"]);
    let last = t.get(&format!("{base}?page=3&size=2"), None).await;
    assert_eq!(last.body["projects"].as_array().unwrap().len(), 1);
    let beyond = t.get(&format!("{base}?page=9&size=2"), None).await;
    assert_eq!(beyond.status, 200);
    assert_eq!(beyond.body["projects"], json!([]));
    assert_eq!(beyond.body["total"], 5);
    assert_eq!(t.get(&format!("{base}?size=100"), None).await.status, 200);
    t.get(&format!("{base}?page=0"), None)
        .await
        .assert_error(400, "invalid_page");
    t.get(&format!("{base}?size=0"), None)
        .await
        .assert_error(400, "invalid_size");
    t.get(&format!("{base}?size=101"), None)
        .await
        .assert_error(400, "invalid_size");
    t.get(&format!("{base}?page=-1"), None)
        .await
        .assert_error(400, "bad_request");
    t.get("/projects/user/not-a-uuid", None)
        .await
        .assert_error(400, "invalid_user_id");
    let nobody = t.get(&format!("/projects/user/{}", uuid::Uuid::new_v4()), None).await;
    assert_eq!(nobody.body["total"], 0);
    t.shutdown().await;
}

fn forge(user_id: &str, exp_offset: i64, secret: &[u8]) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": user_id, "username": "x", "role": "user", "iat": now - 10, "exp": now + exp_offset,
                        "iss": "folio", "aud": "folio-api", "jti": uuid::Uuid::new_v4()});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

async fn ownership_matrix(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let owner = t.user("frank").await;
    let other = t.user("grace").await;
    let p = t
        .create_project(&owner.access, json!({"title": "Mine", "tags": ["a"]}))
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let tampered = {
        let mut parts: Vec<String> = owner.access.split('.').map(str::to_string).collect();
        parts[2] = parts[2].chars().rev().collect();
        parts.join(".")
    };
    let expired = forge(&owner.user_id, -3600, TEST_JWT_SECRET.as_bytes());
    let credentials: [(&str, Option<&str>, u16); 4] = [
        ("no token", None, 401),
        ("tampered token", Some(&tampered), 401),
        ("expired token", Some(&expired), 401),
        ("other user", Some(&other.access), 403),
    ];
    for (what, bearer, status) in credentials {
        let update = t
            .put(&format!("/projects/{id}"), bearer, json!({"title": "Stolen"}))
            .await;
        assert_eq!(update.status.as_u16(), status, "update with {what}: {}", update.body);
        let thumb = t
            .put(
                &format!("/projects/{id}/thumbnail"),
                bearer,
                json!({"thumbnail_url": "https://evil.example/x.jpg"}),
            )
            .await;
        assert_eq!(thumb.status.as_u16(), status, "thumbnail with {what}: {}", thumb.body);
        let delete = t.delete(&format!("/projects/{id}"), bearer).await;
        assert_eq!(delete.status.as_u16(), status, "delete with {what}: {}", delete.body);
        if status == 401 {
            assert!(delete.headers.contains_key("www-authenticate"));
        } else {
            delete.assert_error(403, "forbidden");
        }
    }
    let unchanged = t.get(&format!("/projects/{id}"), None).await;
    assert_eq!(unchanged.body["title"], "Mine");
    assert_eq!(unchanged.body["version"], 1);
    t.request(reqwest::Method::POST, "/projects", None, Some(json!({"title": "x"})))
        .await
        .assert_error(401, "unauthorized");
    t.shutdown().await;
}

async fn reindex_is_for_admins(backend: Backend) {
    let t = TestNode::spawn_with(backend, |s| s.auth.admin_emails = vec!["root@folio.test".into()]).await;
    let admin = t.user("root").await;
    let user = t.user("henry").await;
    for i in 0..3 {
        t.create_project(&user.access, json!({"title": format!("p{i}")})).await;
    }
    t.request(
        reqwest::Method::POST,
        "/admin/reindex-projects",
        Some(&user.access),
        None,
    )
    .await
    .assert_error(403, "forbidden");
    t.request(reqwest::Method::POST, "/admin/reindex-projects", None, None)
        .await
        .assert_error(401, "unauthorized");
    let ok = t
        .request(
            reqwest::Method::POST,
            "/admin/reindex-projects",
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["republished"], 3);
    t.shutdown().await;
}

async fn project_reads_are_conditional(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("alice").await;
    let project = t
        .create_project(&u.access, json!({"title": "Tagged", "description": "d"}))
        .await;
    let path = format!("{}/projects/{}", t.url, project["id"].as_str().unwrap());
    let read = |tag: Option<&str>| {
        let mut request = t.client.get(&path);
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        request.send()
    };
    let first = read(None).await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"v{}\"", project["version"]));

    let unchanged = read(Some(&etag)).await.unwrap();
    assert_eq!(unchanged.status(), 304);
    assert_eq!(unchanged.headers()["etag"].to_str().unwrap(), etag);
    assert!(unchanged.text().await.unwrap().is_empty());
    assert_eq!(read(Some(&format!("W/{etag}"))).await.unwrap().status(), 304);

    let changed = t
        .put(
            &format!("/projects/{}", project["id"].as_str().unwrap()),
            Some(&u.access),
            json!({"title": "Retagged"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let after = read(Some(&etag)).await.unwrap();
    assert_eq!(after.status(), 200, "a changed project is read again");
    assert_ne!(after.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(after.json::<serde_json::Value>().await.unwrap()["title"], "Retagged");
    t.shutdown().await;
}
