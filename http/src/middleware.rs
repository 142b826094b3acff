//! Cross-cutting edge behaviour: request ids, logging, metrics, body limits, and the
//! error shape for errors raised outside our handlers.

use std::{sync::Arc, time::Instant};

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, Method, header},
};
use tracing::Instrument as _;

use crate::{
    error::{ApiError, ErrorCode, framework_error},
    hygiene::MatchedRoute,
    metrics::Metrics,
    text::json_has_forbidden_control,
};

pub const REQUEST_ID: &str = "x-request-id";

/// A caller's id is kept when it is short and plain, so traces join up across hops.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub async fn observe<E: Endpoint>(ep: Arc<E>, req: Request, metrics: Metrics) -> poem::Result<Response> {
    let id = request_id(&req);
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);
    let started = Instant::now();
    metrics.started();
    let result = ep.call(req).instrument(span.clone()).await;
    let mut response = match result {
        Ok(response) => response.into_response(),
        Err(error) => framework_error(error).into_response(),
    };
    // Every error answer carries the error it was made from (see `ApiError::as_response`).
    let failure = response.data::<ApiError>().cloned();
    let elapsed = started.elapsed();
    let status = response.status();
    // Methods outside the standard set would each make a series of their own.
    let method_label = match req_method_is_standard(&method) {
        true => method.as_str(),
        false => "OTHER",
    };
    let route = response
        .data::<MatchedRoute>()
        .map_or("unmatched", |matched| matched.0.as_ref());
    metrics.finished(method_label, route, status.as_u16(), elapsed.as_secs_f64());
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    // One line per request; a failure's code and cause chain ride on it, so the request
    // id ties them together and nothing below the edge logs the same failure again.
    span.in_scope(|| match &failure {
        Some(failure) if status.is_server_error() => tracing::error!(
            status = status.as_u16(),
            elapsed_ms,
            error.code = failure.code.as_str(),
            error.cause_chain = ?failure.cause_chain(),
            "answered"
        ),
        Some(failure) => tracing::info!(
            status = status.as_u16(),
            elapsed_ms,
            error.code = failure.code.as_str(),
            error.cause_chain = ?failure.cause_chain(),
            "answered"
        ),
        None => tracing::info!(status = status.as_u16(), elapsed_ms, "answered"),
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

fn req_method_is_standard(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "TRACE" | "CONNECT"
    )
}

/// JSON bodies are read whole, so they get a hard cap, enforced while reading whether
/// or not the client sent a Content-Length.
pub async fn limit_json_body<E: Endpoint>(ep: Arc<E>, mut req: Request, limit: usize) -> poem::Result<Response> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body exceeds {limit} bytes"),
        )
    };
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/"));
    // Uploads stream through their own, larger cap.
    if !multipart
        && matches!(
            *req.method(),
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        )
    {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(too_large().into());
        }
        let body = req.take_body().into_bytes_limit(limit).await.map_err(|_| too_large())?;
        // Malformed JSON is left for the route to refuse with its own message.
        if serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|json| json_has_forbidden_control(&json)) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidText,
                "text must not contain control characters other than tab and newline",
            )
            .into());
        }
        req.set_body(body);
    }
    Ok(ep.call(req).await?.into_response())
}
