//! A live-event stream never outlives the credentials it was opened with (issue 26 #10):
//! it ends, with a final `end` event that says why, when its session is signed out, when
//! a password change ends the other sessions, when the account is deleted, and when the
//! token (or the token a ticket was issued on) expires. Streams of the sessions that go
//! on keep receiving events. On SQLite and on PostgreSQL; across nodes in
//! `tests/cluster.rs`.

mod common;

use std::time::Duration;

use common::{Backend, SseStream, TestNode, Tokens};
use reqwest::Method;
use serde_json::{Value, json};

on_every_backend!(
    a_stream_ends_when_its_session_is_signed_out_and_no_other_does,
    a_password_change_ends_the_streams_of_the_other_sessions,
    deleting_the_account_ends_its_streams,
    a_ticket_stream_ends_with_the_session_of_the_token_it_was_issued_on,
    a_ticket_stream_ends_when_the_token_it_was_issued_on_expires,
);

/// Long enough for any end to arrive; it only bounds a failing test.
const WAIT: Duration = Duration::from_secs(20);

/// Logs `name` in once more: a second session of the same account.
async fn another_session(t: &TestNode, name: &str) -> Tokens {
    let login = t.login(&format!("{name}@folio.test"), "password-123").await;
    assert_eq!(login.status, 200, "{}", login.body);
    Tokens {
        user_id: login.body["user"]["id"].as_str().expect("user id").to_string(),
        access: login.body["access_token"].as_str().expect("access").to_string(),
        refresh: login.body["refresh_token"].as_str().expect("refresh").to_string(),
    }
}

async fn post(t: &TestNode, path: &str, bearer: Option<&str>, body: Value) -> common::Reply {
    t.request(Method::POST, path, bearer, Some(body)).await
}

async fn open(t: &TestNode, access: &str) -> SseStream {
    SseStream::open(&format!("{}/events", t.url), Some(access))
        .await
        .unwrap_or_else(|reply| panic!("a stream opens: {} {}", reply.status, reply.body))
}

async fn open_with_ticket(t: &TestNode, access: &str) -> SseStream {
    let ticket = post(t, "/events/ticket", Some(access), json!({})).await;
    assert_eq!(ticket.status, 201, "{}", ticket.body);
    let ticket = ticket.body["ticket"].as_str().expect("ticket");
    SseStream::open(&format!("{}/events?ticket={ticket}", t.url), None)
        .await
        .unwrap_or_else(|reply| panic!("a ticket stream opens: {} {}", reply.status, reply.body))
}

/// The stream's next event is `end` with `reason`, and nothing follows it.
async fn expect_end(stream: &mut SseStream, reason: &str) {
    let (name, data) = stream.next_event(WAIT).await.expect("an event before the stream ends");
    assert_eq!((name.as_str(), &data["reason"]), ("end", &json!(reason)), "{data}");
    assert!(data["at"].is_string(), "{data}");
    assert!(
        stream.next_event(Duration::from_secs(2)).await.is_none(),
        "the stream is over after `end`"
    );
}

/// The stream is still open: a project created in it is reported as indexed on it.
async fn expect_alive(t: &TestNode, stream: &mut SseStream, access: &str) {
    let project = t.create_project(access, json!({"title": "Still here"})).await;
    let id = project["id"].as_str().expect("project id").to_string();
    let (name, data) = stream.next_event(WAIT).await.expect("the stream goes on");
    assert_eq!(
        (name.as_str(), data["project_id"].as_str()),
        ("project.indexed", Some(id.as_str())),
        "{data}"
    );
}

async fn a_stream_ends_when_its_session_is_signed_out_and_no_other_does(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let phone = t.user("alice").await;
    let laptop = another_session(&t, "alice").await;
    let mut on_phone = open(&t, &phone.access).await;
    let mut on_laptop = open(&t, &laptop.access).await;

    let out = post(
        &t,
        "/auth/logout",
        Some(&phone.access),
        json!({"refresh_token": phone.refresh}),
    )
    .await;
    assert_eq!(out.status, 200, "{}", out.body);
    expect_end(&mut on_phone, "logged_out").await;
    expect_alive(&t, &mut on_laptop, &laptop.access).await;
    // The phone's token has not expired, but its session has: no new stream opens.
    let refused = SseStream::open(&format!("{}/events", t.url), Some(&phone.access))
        .await
        .err()
        .expect("a token of an ended session opens no stream");
    refused.assert_error(401, "unauthorized");

    let all = post(&t, "/auth/logout", Some(&laptop.access), json!({"all": true})).await;
    assert_eq!(all.status, 200, "{}", all.body);
    expect_end(&mut on_laptop, "logged_out").await;
    t.shutdown().await;
}

async fn a_password_change_ends_the_streams_of_the_other_sessions(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let phone = t.user("bob").await;
    let laptop = another_session(&t, "bob").await;
    let mut on_phone = open(&t, &phone.access).await;
    let mut on_laptop = open(&t, &laptop.access).await;
    let stranger = t.user("mallory").await;
    let mut strangers = open(&t, &stranger.access).await;

    let changed = t
        .put(
            "/auth/password",
            Some(&laptop.access),
            json!({"current_password": "password-123", "new_password": "a-new-password"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    expect_end(&mut on_phone, "password_changed").await;
    // The session that changed the password goes on, and nobody else's stream ended.
    expect_alive(&t, &mut on_laptop, &laptop.access).await;
    expect_alive(&t, &mut strangers, &stranger.access).await;
    t.shutdown().await;
}

async fn deleting_the_account_ends_its_streams(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let u = t.user("carol").await;
    let other_session = another_session(&t, "carol").await;
    let mut first = open(&t, &u.access).await;
    let mut second = open(&t, &other_session.access).await;
    let deleted = t
        .request(
            Method::DELETE,
            "/profile/me",
            Some(&u.access),
            Some(json!({"password": "password-123"})),
        )
        .await;
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    expect_end(&mut first, "account_deleted").await;
    expect_end(&mut second, "account_deleted").await;
    t.shutdown().await;
}

async fn a_ticket_stream_ends_with_the_session_of_the_token_it_was_issued_on(backend: Backend) {
    let t = TestNode::spawn(backend).await;
    let browser = t.user("dave").await;
    let phone = another_session(&t, "dave").await;
    let mut in_browser = open_with_ticket(&t, &browser.access).await;
    let mut on_phone = open_with_ticket(&t, &phone.access).await;

    // The phone ends the browser's session from the session list.
    let sessions = t.get("/auth/sessions", Some(&phone.access)).await;
    assert_eq!(sessions.status, 200, "{}", sessions.body);
    let browser_session = sessions.body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] != Value::Bool(true))
        .and_then(|s| s["id"].as_str())
        .expect("the browser's session")
        .to_string();
    let ended = t
        .delete(&format!("/auth/sessions/{browser_session}"), Some(&phone.access))
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    expect_end(&mut in_browser, "logged_out").await;
    expect_alive(&t, &mut on_phone, &phone.access).await;

    // A ticket issued on a token of an ended session opens nothing.
    let ticket = post(&t, "/events/ticket", Some(&browser.access), json!({})).await;
    assert_eq!(ticket.status, 201, "{}", ticket.body);
    let ticket = ticket.body["ticket"].as_str().expect("ticket");
    SseStream::open(&format!("{}/events?ticket={ticket}", t.url), None)
        .await
        .err()
        .expect("no stream for an ended session")
        .assert_error(401, "unauthorized");
    t.shutdown().await;
}

async fn a_ticket_stream_ends_when_the_token_it_was_issued_on_expires(backend: Backend) {
    let t = TestNode::spawn_with(backend, |s| s.auth.access_token_ttl = std::time::Duration::from_secs(3)).await;
    let u = t.user("erin").await;
    let mut stream = open_with_ticket(&t, &u.access).await;
    // The token lives 3 s; the ticket's stream ends with it, though the ticket was
    // spent long before and the stream carries no token.
    expect_end(&mut stream, "token_expired").await;
    t.shutdown().await;
}
