//! Users own their credentials and sessions (issue 21 §1): password change, the session
//! list, and ending sessions, on SQLite and on PostgreSQL.

mod common;

use common::{Backend, TestNode};
use reqwest::Method;
use serde_json::{Value, json};

on_every_backend!(
    password_change_ends_other_sessions_and_keeps_the_callers,
    wrong_current_password_counts_as_a_failed_login,
    password_change_validates_the_new_password,
    sessions_are_listed_with_where_they_came_from,
    one_session_or_all_others_can_be_ended,
);

/// Logs in with a `User-Agent`, as a browser would; (access, refresh).
async fn login_as(t: &TestNode, email: &str, password: &str, agent: &str) -> (String, String) {
    let response = t
        .client
        .post(format!("{}/auth/login", t.url))
        .header("user-agent", agent)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login sent");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("login body");
    (
        body["access_token"].as_str().expect("access token").to_string(),
        body["refresh_token"].as_str().expect("refresh token").to_string(),
    )
}

async fn refresh_status(t: &TestNode, refresh: &str) -> u16 {
    t.post("/auth/refresh", json!({"refresh_token": refresh}))
        .await
        .status
        .as_u16()
}

async fn change_password(t: &TestNode, access: &str, current: &str, new: &str) -> common::Reply {
    t.put(
        "/auth/password",
        Some(access),
        json!({"current_password": current, "new_password": new}),
    )
    .await
}

async fn password_change_ends_other_sessions_and_keeps_the_callers(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let phone = t.user("alice").await;
    let (laptop_access, laptop_refresh) = login_as(&t, "alice@folio.test", "password-123", "laptop").await;

    let changed = change_password(&t, &laptop_access, "password-123", "a-new-password").await;
    assert_eq!(changed.status, 200, "{}", changed.body);

    // The caller's session goes on; the other one's refresh token stopped working.
    assert_eq!(refresh_status(&t, &laptop_refresh).await, 200);
    assert_eq!(refresh_status(&t, &phone.refresh).await, 401);
    t.login("alice@folio.test", "password-123")
        .await
        .assert_error(401, "invalid_credentials");
    assert_eq!(t.login("alice@folio.test", "a-new-password").await.status, 200);
    t.shutdown().await;
}

async fn wrong_current_password_counts_as_a_failed_login(backend: Backend) {
    let t = TestNode::spawn_with(backend, |s| s.auth.login_max_failures = 3).await;
    let u = t.user("bob").await;
    for _ in 0..3 {
        change_password(&t, &u.access, "not-my-password", "a-new-password")
            .await
            .assert_error(403, "wrong_password");
    }
    // Nothing changed, and the account is locked for logins and password changes alike.
    t.login("bob@folio.test", "password-123")
        .await
        .assert_error(429, "too_many_attempts");
    change_password(&t, &u.access, "password-123", "a-new-password")
        .await
        .assert_error(429, "too_many_attempts");
    assert_eq!(refresh_status(&t, &u.refresh).await, 200, "no session ended");
    t.shutdown().await;
}

async fn password_change_validates_the_new_password(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("carol").await;
    change_password(&t, &u.access, "password-123", "short")
        .await
        .assert_error(400, "invalid_password");
    t.put(
        "/auth/password",
        Some(&u.access),
        json!({"current_password": "password-123"}),
    )
    .await
    .assert_error(400, "invalid_password");
    t.put(
        "/auth/password",
        None,
        json!({"current_password": "password-123", "new_password": "a-new-password"}),
    )
    .await
    .assert_error(401, "unauthorized");
    // The old password still works: nothing was changed by the refused requests.
    assert_eq!(t.login("carol@folio.test", "password-123").await.status, 200);
    t.shutdown().await;
}

fn sessions_of(reply: &common::Reply) -> Vec<Value> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["sessions"].as_array().expect("sessions").clone()
}

async fn sessions_are_listed_with_where_they_came_from(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    t.user("dave").await;
    let (_, first_refresh) = login_as(&t, "dave@folio.test", "password-123", "Firefox/133").await;
    let (second_access, _) = login_as(&t, "dave@folio.test", "password-123", "curl/8.11").await;

    let listed = sessions_of(&t.get("/auth/sessions", Some(&second_access)).await);
    // The registration helper's login is a session too.
    assert_eq!(listed.len(), 3, "{listed:?}");
    let current: Vec<&Value> = listed.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "curl/8.11");
    let firefox = listed
        .iter()
        .find(|s| s["user_agent"] == "Firefox/133")
        .expect("the first login is listed");
    assert_eq!(firefox["client_address"], "127.0.0.1");
    assert_eq!(firefox["current"], false);
    assert!(firefox["created_at"].is_string() && firefox["last_used_at"].is_string());

    // A refresh keeps the session (same id, still current for its new access token)
    // and moves its last use.
    let refreshed = t.post("/auth/refresh", json!({"refresh_token": first_refresh})).await;
    assert_eq!(refreshed.status, 200);
    let refreshed_access = refreshed.body["access_token"].as_str().unwrap();
    let after = sessions_of(&t.get("/auth/sessions", Some(refreshed_access)).await);
    let same = after.iter().find(|s| s["id"] == firefox["id"]).expect("still listed");
    assert_eq!(same["current"], true);
    assert_eq!(same["user_agent"], "Firefox/133", "the agent as first seen");
    assert!(same["last_used_at"].as_str() >= firefox["last_used_at"].as_str());

    // Another user sees only their own.
    let other = t.user("erin").await;
    assert_eq!(
        sessions_of(&t.get("/auth/sessions", Some(&other.access)).await).len(),
        1
    );
    t.get("/auth/sessions", None).await.assert_error(401, "unauthorized");
    t.shutdown().await;
}

async fn one_session_or_all_others_can_be_ended(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let first = t.user("frank").await;
    let (_, second_refresh) = login_as(&t, "frank@folio.test", "password-123", "tablet").await;
    let (third_access, third_refresh) = login_as(&t, "frank@folio.test", "password-123", "phone").await;

    let listed = sessions_of(&t.get("/auth/sessions", Some(&third_access)).await);
    let tablet = listed.iter().find(|s| s["user_agent"] == "tablet").expect("tablet");
    let tablet_id = tablet["id"].as_str().unwrap().to_string();

    // Another user cannot end it, nor can a made-up or malformed id.
    let stranger = t.user("grace").await;
    t.delete(&format!("/auth/sessions/{tablet_id}"), Some(&stranger.access))
        .await
        .assert_error(404, "session_not_found");
    t.delete(&format!("/auth/sessions/{}", uuid::Uuid::new_v4()), Some(&third_access))
        .await
        .assert_error(404, "session_not_found");
    t.delete("/auth/sessions/not-a-uuid", Some(&third_access))
        .await
        .assert_error(404, "session_not_found");
    assert_eq!(refresh_status(&t, &second_refresh).await, 200);
    // That refresh rotated the tablet's token; the session is the same.
    let listed = sessions_of(&t.get("/auth/sessions", Some(&third_access)).await);
    assert!(listed.iter().any(|s| s["id"] == tablet_id.as_str()));

    let ended = t
        .delete(&format!("/auth/sessions/{tablet_id}"), Some(&third_access))
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    let listed = sessions_of(&t.get("/auth/sessions", Some(&third_access)).await);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(!listed.iter().any(|s| s["id"] == tablet_id.as_str()));
    t.delete(&format!("/auth/sessions/{tablet_id}"), Some(&third_access))
        .await
        .assert_error(404, "session_not_found");

    // Everything but the caller's own session.
    let others = t
        .request(Method::DELETE, "/auth/sessions", Some(&third_access), None)
        .await;
    assert_eq!(others.status, 200, "{}", others.body);
    assert_eq!(refresh_status(&t, &first.refresh).await, 401);
    let listed = sessions_of(&t.get("/auth/sessions", Some(&third_access)).await);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["user_agent"], "phone");
    assert_eq!(refresh_status(&t, &third_refresh).await, 200);
    // The stranger's session was never touched.
    assert_eq!(refresh_status(&t, &stranger.refresh).await, 200);
    t.shutdown().await;
}
