//! The request's span crosses the actor mailbox: a line logged inside a domain worker
//! carries the id of the request that caused it, and the edge's one line for a failed
//! request names the error's code.

mod common;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use common::{Backend, TestNode};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_workers_log_line_carries_the_request_id() {
    let capture = Capture::default();
    // Each test runs in its own process under nextest, so the global subscriber is ours.
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(capture.clone().with_filter(LevelFilter::INFO)),
    )
    .expect("no other subscriber in this test process");
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
