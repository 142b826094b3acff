//! The request's span crosses the actor mailbox: a line logged inside a domain worker
//! carries the id of the request that caused it, and the edge's one line for a failed
//! request names the error's code.

mod common;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, OnceLock},
};

use common::{Backend, TestNode};
use sea_orm::ConnectionTrait as _;
use serde_json::json;
use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id},
};
use tracing_subscriber::{
    Layer,
    filter::LevelFilter,
    layer::{Context, SubscriberExt as _},
    registry::LookupSpan,
};

#[derive(Debug, Clone)]
struct Captured {
    fields: BTreeMap<String, String>,
    /// From the innermost enclosing span that has one.
    request_id: Option<String>,
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

struct RequestId(String);

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(request_id), Some(span)) = (fields.0.remove("request_id"), ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let request_id = ctx.event_scope(event).and_then(|scope| {
            scope
                .into_iter()
                .find_map(|span| span.extensions().get::<RequestId>().map(|id| id.0.clone()))
        });
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Captured {
                fields: fields.0,
                request_id,
            });
    }
}

/// The process-wide capture; actor tasks run on other threads, so it must be global.
/// Tests sharing a process tell their lines apart by request id.
fn capture() -> Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            tracing::subscriber::set_global_default(
                tracing_subscriber::registry().with(capture.clone().with_filter(LevelFilter::INFO)),
            )
            .expect("no other subscriber in this test process");
            capture
        })
        .clone()
}

fn lines_of(capture: &Capture, request_id: &str, message: &str) -> Vec<Captured> {
    capture
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .iter()
        .filter(|e| e.request_id.as_deref() == Some(request_id))
        .filter(|e| e.fields.get("message").is_some_and(|m| m == message))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_failure_is_logged_once_with_its_causes_and_never_sent() {
    let capture = capture();
    let node = TestNode::spawn(Backend::Sqlite).await;
    let user = node.user("broken").await;
    node.node()
        .db
        .execute_unprepared("DROP TABLE profiles")
        .await
        .expect("drop the profiles table");
    let failed = node
        .client
        .get(format!("{}/profile/me", node.url))
        .bearer_auth(&user.access)
        .header("x-request-id", "span-check-2")
        .send()
        .await
        .expect("profile request");
    assert_eq!(failed.status(), 500);
    let body: serde_json::Value = failed.json().await.expect("JSON error body");
    assert_eq!(body, json!({"error": "internal server error", "code": "internal"}));
    let answered = lines_of(&capture, "span-check-2", "answered");
    assert_eq!(answered.len(), 1, "one line for the request: {answered:#?}");
    let chain = answered[0].fields.get("error.cause_chain").cloned().unwrap_or_default();
    assert!(chain.starts_with("[\"profile storage failed\""), "{chain}");
    assert!(chain.contains("profiles"), "the database's own words are kept: {chain}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_workers_log_line_carries_the_request_id() {
    let capture = capture();
    let node = TestNode::spawn(Backend::Sqlite).await;
    assert_eq!(
        node.register("spanned", "spanned@folio.test", "password-123")
            .await
            .status,
        201
    );
    let wrong = node
        .client
        .post(format!("{}/auth/login", node.url))
        .header("x-request-id", "span-check-1")
        .json(&json!({"email": "spanned@folio.test", "password": "wrong-password-1"}))
        .send()
        .await
        .expect("login request");
    assert_eq!(wrong.status(), 401);
    let events = capture.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let message_is = |event: &&Captured, text: &str| event.fields.get("message").is_some_and(|m| m == text);

    // Logged by the session worker, on the actor's task, not the handler's.
    let counted: Vec<_> = events
        .iter()
        .filter(|e| message_is(e, "failed login counted against the account"))
        .collect();
    assert_eq!(counted.len(), 1, "{events:#?}");
    assert_eq!(counted[0].request_id.as_deref(), Some("span-check-1"), "{events:#?}");

    let answered: Vec<_> = events
        .iter()
        .filter(|e| message_is(e, "answered") && e.request_id.as_deref() == Some("span-check-1"))
        .collect();
    assert_eq!(answered.len(), 1, "one line for the request: {events:#?}");
    assert_eq!(
        answered[0].fields.get("error.code").map(String::as_str),
        Some("invalid_credentials"),
        "{events:#?}"
    );
    node.shutdown().await;
}
