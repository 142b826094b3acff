//! The auth contract (docs/contract.md §4 "Accounts and sessions") over HTTP, on SQLite and on PostgreSQL.

mod common;

use common::{Backend, TEST_JWT_SECRET, TestNode};
use reqwest::Method;
use serde_json::json;

on_every_backend!(
    full_flow_with_seed_shapes,
    register_validation,
    duplicates_are_case_insensitive,
    login_failures_look_the_same,
    repeated_failures_are_throttled,
    refresh_rotates_and_detects_reuse,
    logout_one_and_all,
    verify_rejects_bad_tokens,
    legacy_bcrypt_users_log_in_and_are_upgraded,
    admin_emails_make_admins,
);

async fn full_flow_with_seed_shapes(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let reg = t.register("alice", "alice@example.com", "password-123").await;
    assert_eq!(reg.status, 201, "{}", reg.body);
    let user_id = reg.body["user_id"].as_str().expect("user_id").to_string();
    assert!(uuid::Uuid::parse_str(&user_id).is_ok());
    assert!(reg.body["message"].is_string());

    let login = t.login("Alice@Example.com", "password-123").await;
    assert_eq!(login.status, 200, "{}", login.body);
    let b = &login.body;
    assert_eq!(
        b["user"],
        json!({"id": user_id, "username": "alice", "email": "alice@example.com"})
    );
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 900);
    let access = b["access_token"].as_str().unwrap().to_string();
    let refresh = b["refresh_token"].as_str().unwrap().to_string();
    assert!(refresh.len() >= 43, "256-bit refresh token");

    for method in [Method::GET, Method::POST] {
        let v = t.request(method, "/auth/verify", Some(&access), None).await;
        assert_eq!(v.status, 200, "{}", v.body);
        assert_eq!(v.body["valid"], true);
        assert_eq!(v.body["user_id"], user_id.as_str());
        assert_eq!(v.body["username"], "alice");
        assert!(v.body["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());
    }

    let r = t.post("/auth/refresh", json!({"refresh_token": refresh})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new_access = r.body["access_token"].as_str().unwrap().to_string();
    let new_refresh = r.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(new_refresh, refresh);
    assert_eq!(t.get("/auth/verify", Some(&new_access)).await.status, 200);

    let out = t
        .request(
            Method::POST,
            "/auth/logout",
            Some(&new_access),
            Some(json!({"refresh_token": new_refresh})),
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.body["message"].is_string());
    t.post("/auth/refresh", json!({"refresh_token": new_refresh}))
        .await
        .assert_error(401, "invalid_refresh_token");
    t.shutdown().await;
}

async fn register_validation(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let cases = [
        (
            json!({"email": "a@example.com", "password": "password-123"}),
            "invalid_username",
        ),
        (
            json!({"username": "alice", "password": "password-123"}),
            "invalid_email",
        ),
        (
            json!({"username": "alice", "email": "a@example.com"}),
            "invalid_password",
        ),
        (
            json!({"username": "al", "email": "a@example.com", "password": "password-123"}),
            "invalid_username",
        ),
        (
            json!({"username": "a".repeat(33), "email": "a@example.com", "password": "password-123"}),
            "invalid_username",
        ),
        (
            json!({"username": "al ice", "email": "a@example.com", "password": "password-123"}),
            "invalid_username",
        ),
        (
            json!({"username": "alice", "email": "not-an-email", "password": "password-123"}),
            "invalid_email",
        ),
        (
            json!({"username": "alice", "email": "a@nodot", "password": "password-123"}),
            "invalid_email",
        ),
        (
            json!({"username": "alice", "email": "a@example.com", "password": "short"}),
            "invalid_password",
        ),
        (
            json!({"username": "alice", "email": "a@example.com", "password": "x".repeat(129)}),
            "invalid_password",
        ),
    ];
    for (body, code) in cases {
        let reply = t.post("/auth/register", body.clone()).await;
        reply.assert_error(400, code);
    }
    // Wrong types and malformed JSON are 400 in the same shape.
    t.post(
        "/auth/register",
        json!({"username": ["alice"], "email": "a@example.com", "password": "password-123"}),
    )
    .await
    .assert_error(400, "bad_request");
    let raw = t
        .client
        .post(format!("{}/auth/register", t.url))
        .header("content-type", "application/json")
        .body("{\"username\": \"alice\",")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["code"], "bad_request");
    // Nothing was created by any of them.
    let ok = t.register("alice", "a@example.com", "password-123").await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    // A JSON body past the limit is refused before it is parsed.
    let big = json!({"username": "bob", "email": "b@example.com", "password": "p".repeat(70_000)});
    t.post("/auth/register", big)
        .await
        .assert_error(413, "payload_too_large");
    t.shutdown().await;
}

async fn duplicates_are_case_insensitive(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    assert_eq!(
        t.register("Alice", "alice@example.com", "password-123").await.status,
        201
    );
    t.register("aLiCe", "other@example.com", "password-123")
        .await
        .assert_error(409, "username_taken");
    t.register("bob", "ALICE@example.COM", "password-123")
        .await
        .assert_error(409, "email_taken");
    // Concurrent registrations of one name: exactly one wins, the rest are 409.
    let attempts = (0..6).map(|i| {
        let t = &t;
        async move {
            t.register("racer", &format!("racer{i}@example.com"), "password-123")
                .await
        }
    });
    let replies = futures::future::join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 1);
    for r in replies.iter().filter(|r| r.status != 201) {
        r.assert_error(409, "username_taken");
    }
    t.shutdown().await;
}

async fn login_failures_look_the_same(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    t.user("carol").await;
    let wrong = t.login("carol@folio.test", "wrong-password").await;
    let unknown = t.login("nobody@folio.test", "wrong-password").await;
    wrong.assert_error(401, "invalid_credentials");
    unknown.assert_error(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    t.post("/auth/login", json!({"email": "carol@folio.test"}))
        .await
        .assert_error(400, "invalid_password");
    t.shutdown().await;
}

async fn repeated_failures_are_throttled(backend: Backend) {
    let t = TestNode::spawn_with(backend, |s| s.auth.login_max_failures = 3).await;
    t.user("dave").await;
    for _ in 0..3 {
        t.login("dave@folio.test", "wrong-password")
            .await
            .assert_error(401, "invalid_credentials");
    }
    let locked = t.login("dave@folio.test", "password-123").await;
    locked.assert_error(429, "too_many_attempts");
    let retry_after: u64 = locked.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 0 && retry_after <= 900);
    // Another account from the same address is not affected.
    t.user("erin").await;
    t.shutdown().await;
}

async fn refresh_rotates_and_detects_reuse(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("frank").await;
    let first = t.post("/auth/refresh", json!({"refresh_token": u.refresh})).await;
    assert_eq!(first.status, 200);
    let second_token = first.body["refresh_token"].as_str().unwrap().to_string();
    // The rotated token comes back: reuse. It fails, and so does its successor.
    t.post("/auth/refresh", json!({"refresh_token": u.refresh}))
        .await
        .assert_error(401, "invalid_refresh_token");
    t.post("/auth/refresh", json!({"refresh_token": second_token}))
        .await
        .assert_error(401, "invalid_refresh_token");
    // Other sessions (families) of the user are untouched.
    let other = t.login("frank@folio.test", "password-123").await;
    let other_refresh = other.body["refresh_token"].as_str().unwrap();
    assert_eq!(
        t.post("/auth/refresh", json!({"refresh_token": other_refresh}))
            .await
            .status,
        200
    );
    t.post("/auth/refresh", json!({"refresh_token": "made-up"}))
        .await
        .assert_error(401, "invalid_refresh_token");
    t.post("/auth/refresh", json!({}))
        .await
        .assert_error(400, "invalid_refresh_token");
    t.shutdown().await;

    // With rotation off, old clients keep one refresh token.
    let t = TestNode::spawn_with(backend, |s| s.auth.refresh_token_rotation = false).await;
    let u = t.user("grace").await;
    for _ in 0..2 {
        let r = t.post("/auth/refresh", json!({"refresh_token": u.refresh})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.get("refresh_token").is_none(), "{}", r.body);
    }
    t.shutdown().await;
}

async fn logout_one_and_all(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let a = t.user("heidi").await;
    let b = t.login("heidi@folio.test", "password-123").await;
    let b_refresh = b.body["refresh_token"].as_str().unwrap().to_string();
    let c = t.login("heidi@folio.test", "password-123").await;
    let c_refresh = c.body["refresh_token"].as_str().unwrap().to_string();

    let no_bearer = t.post("/auth/logout", json!({"refresh_token": a.refresh})).await;
    no_bearer.assert_error(401, "unauthorized");
    assert!(
        no_bearer.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    // Someone else's bearer cannot end heidi's session.
    let mallory = t.user("mallory").await;
    let r = t
        .request(
            Method::POST,
            "/auth/logout",
            Some(&mallory.access),
            Some(json!({"refresh_token": a.refresh})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        t.post("/auth/refresh", json!({"refresh_token": a.refresh}))
            .await
            .status,
        200
    );

    // Logging out one session leaves the others.
    let r = t
        .request(
            Method::POST,
            "/auth/logout",
            Some(&a.access),
            Some(json!({"refresh_token": b_refresh})),
        )
        .await;
    assert_eq!(r.status, 200);
    t.post("/auth/refresh", json!({"refresh_token": b_refresh}))
        .await
        .assert_error(401, "invalid_refresh_token");
    assert_eq!(
        t.post("/auth/refresh", json!({"refresh_token": c_refresh}))
            .await
            .status,
        200
    );

    let r = t
        .request(
            Method::POST,
            "/auth/logout",
            Some(&a.access),
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = t.post("/auth/refresh", json!({"refresh_token": c_refresh})).await;
    assert_eq!(fresh.status, 401);
    t.request(Method::POST, "/auth/logout", Some(&a.access), Some(json!({})))
        .await
        .assert_error(400, "invalid_refresh_token");
    t.shutdown().await;
}

fn sign(claims: serde_json::Value, alg: jsonwebtoken::Algorithm, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

async fn verify_rejects_bad_tokens(backend: Backend) {
    use base64::Engine as _;
    let t = TestNode::spawn(backend).await;
    let u = t.user("ivan").await;
    let now = chrono::Utc::now().timestamp();
    let claims = |iat: i64, exp: i64| {
        json!({"sub": u.user_id, "username": "ivan", "role": "user", "iat": iat, "exp": exp,
               "iss": "folio", "aud": "folio-api", "jti": uuid::Uuid::new_v4()})
    };
    let secret = TEST_JWT_SECRET.as_bytes();
    let good = sign(claims(now, now + 600), jsonwebtoken::Algorithm::HS256, secret);
    assert_eq!(t.get("/auth/verify", Some(&good)).await.status, 200);

    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = u.access.split('.').nth(1).unwrap();
    let mut tampered_claims: serde_json::Value = serde_json::from_slice(&engine.decode(payload).unwrap()).unwrap();
    tampered_claims["username"] = json!("admin");
    let parts: Vec<&str> = u.access.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        engine.encode(tampered_claims.to_string()),
        parts[2]
    );
    let none = format!("{}.{}.", engine.encode(br#"{"alg":"none","typ":"JWT"}"#), payload);
    let bad = [
        (
            "expired",
            sign(claims(now - 3600, now - 1800), jsonwebtoken::Algorithm::HS256, secret),
        ),
        (
            "other secret",
            sign(
                claims(now, now + 600),
                jsonwebtoken::Algorithm::HS256,
                b"another-secret-another-secret-another",
            ),
        ),
        (
            "HS512",
            sign(claims(now, now + 600), jsonwebtoken::Algorithm::HS512, secret),
        ),
        ("tampered", tampered),
        ("alg none", none),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (what, token) in bad {
        let r = t.get("/auth/verify", Some(&token)).await;
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        assert!(r.headers.contains_key("www-authenticate"), "{what}");
    }
    t.get("/auth/verify", None).await.assert_error(401, "unauthorized");
    t.shutdown().await;
}

async fn legacy_bcrypt_users_log_in_and_are_upgraded(backend: Backend) {
    use folio_entities::users;
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let t = TestNode::spawn(backend).await;
    let id = uuid::Uuid::new_v4();
    let now = chrono::Utc::now();
    users::ActiveModel {
        id: Set(id),
        username: Set("legacy".into()),
        email: Set("legacy@old.example".into()),
        password_hash: Set(bcrypt::hash("old-system-pass", 4).unwrap()),
        role: Set("user".into()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&t.node().db)
    .await
    .unwrap();
    t.login("legacy@old.example", "wrong-password")
        .await
        .assert_error(401, "invalid_credentials");
    let ok = t.login("legacy@old.example", "old-system-pass").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let stored = users::Entity::find_by_id(id).one(&t.node().db).await.unwrap().unwrap();
    assert!(
        stored.password_hash.starts_with("$argon2id$"),
        "{}",
        stored.password_hash
    );
    assert_eq!(t.login("legacy@old.example", "old-system-pass").await.status, 200);
    t.shutdown().await;
}

async fn admin_emails_make_admins(backend: Backend) {
    use folio_actors::session::{Email, Role};
    let t = TestNode::spawn_with(backend, |s| s.auth.admin_emails = vec!["Boss@Folio.test".into()]).await;
    let boss = t.user("boss").await;
    let worker = t.user("worker").await;
    let session = &t.node().session;
    let boss_id = uuid::Uuid::parse_str(&boss.user_id).unwrap();
    let worker_id = uuid::Uuid::parse_str(&worker.user_id).unwrap();
    assert_eq!(session.role_of(boss_id).await.unwrap(), Role::Admin);
    assert_eq!(session.role_of(worker_id).await.unwrap(), Role::User);
    session
        .grant_admin(&Email::parse("worker@folio.test").unwrap())
        .await
        .unwrap();
    assert_eq!(session.role_of(worker_id).await.unwrap(), Role::Admin);
    assert!(
        session
            .grant_admin(&Email::parse("ghost@folio.test").unwrap())
            .await
            .is_err()
    );
    t.shutdown().await;
}
