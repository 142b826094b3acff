//! The login throttle keys on the client address; `X-Forwarded-For` decides that address
//! only when the TCP peer is a trusted proxy (`FOLIO_TRUSTED_PROXIES`).

mod common;

use common::{Backend, TestNode};
use serde_json::json;

async fn failed_login(node: &TestNode, email: &str, forwarded_for: &str) -> u16 {
    node.client
        .post(format!("{}/auth/login", node.url))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": email, "password": "wrong-password-1"}))
        .send()
        .await
        .expect("request sent")
        .status()
        .as_u16()
}

fn throttled_after(failures: u32) -> impl FnOnce(&mut folio::Settings) {
    move |s| s.auth.login_max_failures = failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarded_for_from_an_untrusted_peer_is_ignored() {
    // Nothing trusted (the default): every attempt counts against the real peer.
    let node = TestNode::spawn_with(Backend::Sqlite, throttled_after(3)).await;
    node.register("mallory", "mallory@folio.test", "password-123").await;
    for n in 1..=3 {
        let forged = format!("198.51.100.{n}");
        assert_eq!(failed_login(&node, "mallory@folio.test", &forged).await, 401);
    }
    // A fresh forged address does not buy fresh attempts.
    assert_eq!(failed_login(&node, "mallory@folio.test", "203.0.113.77").await, 429);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_forwarded_for_is_honoured() {
    let node = TestNode::spawn_with(Backend::Sqlite, |s| {
        s.auth.login_max_failures = 3;
        s.http.trusted_proxies = vec!["127.0.0.1/32".to_string()];
    })
    .await;
    node.register("alice", "alice@folio.test", "password-123").await;
    // The gateway appends the peer it saw; the client is the rightmost untrusted entry.
    for _ in 0..3 {
        assert_eq!(failed_login(&node, "alice@folio.test", "198.51.100.1").await, 401);
    }
    assert_eq!(failed_login(&node, "alice@folio.test", "198.51.100.1").await, 429);
    // Another client behind the same gateway is not locked out by the first one.
    assert_eq!(
        failed_login(&node, "alice@folio.test", "203.0.113.5, 127.0.0.1").await,
        401
    );
    let login = node
        .client
        .post(format!("{}/auth/login", node.url))
        .header("x-forwarded-for", "203.0.113.5")
        .json(&json!({"email": "alice@folio.test", "password": "password-123"}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(login.status(), 200);
    node.shutdown().await;
}
