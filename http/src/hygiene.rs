//! HTTP hygiene around every route: text in the path or query with control characters,
//! `Allow` on 405, and the headers every API answer carries.

use std::{collections::HashMap, sync::Arc};

use poem::{
    Endpoint, IntoResponse, PathPattern, Request, Response,
    http::{HeaderValue, StatusCode, header},
};

use crate::{
    error::framework_error,
    error::{ApiError, ErrorCode},
    text::encoded_has_forbidden_control,
};

/// What the hygiene layer needs to know about the routes.
#[derive(Debug, Default)]
pub struct RouteMethods {
    /// Route shape (`/users/{}`) → the documented template (`/users/{username}`) and
    /// its methods (`GET, PUT`).
    by_shape: HashMap<String, (String, String)>,
}

/// The route that answered a request, as its documented template (`/users/{username}`)
/// or `unmatched`: what metrics label requests with, so label sets stay bounded.
#[derive(Debug, Clone)]
pub struct MatchedRoute(pub Arc<str>);

/// Parameter names differ between poem's patterns (poem-openapi numbers them) and the
/// document; the shape (`/users/{}`) is what both agree on.
fn shape(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with(':') || (segment.starts_with('{') && segment.ends_with('}')) {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl RouteMethods {
    /// Reads the operations of an OpenAPI document, plus routes outside it.
    pub fn from_openapi(spec: &serde_json::Value, extra: &[(&str, &str)]) -> Self {
        let mut by_template: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) {
            for (template, operations) in paths {
                let methods = by_template.entry(template.clone()).or_default();
                if let Some(operations) = operations.as_object() {
                    methods.extend(operations.keys().map(|m| m.to_ascii_uppercase()));
                }
            }
        }
        for (template, methods) in extra {
            by_template
                .entry(template.to_string())
                .or_default()
                .extend(methods.split(',').map(|m| m.trim().to_string()));
        }
        Self {
            by_shape: by_template
                .into_iter()
                .map(|(template, mut methods)| {
                    methods.sort();
                    methods.dedup();
                    (shape(&template), (template, methods.join(", ")))
                })
                .collect(),
        }
    }

    /// The documented template and methods of the route poem matched.
    fn resolve(&self, pattern: Option<&PathPattern>) -> Option<&(String, String)> {
        let template = route_template(pattern);
        self.by_shape.get(&shape(&template))
    }
}

/// `/users/:username` (poem's pattern) → `/users/{username}`; no route → `unmatched`.
/// Label sets stay bounded: only templates of real routes, never raw paths.
pub fn route_template(pattern: Option<&PathPattern>) -> String {
    let Some(pattern) = pattern.map(|p| p.0.as_ref()).filter(|p| !p.is_empty() && *p != "/") else {
        return "unmatched".to_string();
    };
    pattern
        .split('/')
        .map(|segment| match segment.strip_prefix(':') {
            Some(param) => {
                let name = param.split('<').next().unwrap_or(param);
                format!("{{{name}}}")
            }
            None => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub async fn hygiene<E: Endpoint>(ep: Arc<E>, req: Request, routes: Arc<RouteMethods>) -> poem::Result<Response> {
    // A path with a control character names nothing we could have stored.
    if encoded_has_forbidden_control(req.uri().path()) {
        return Ok(ApiError::new(ErrorCode::NotFound, "not found").as_response_owned());
    }
    if req.uri().query().is_some_and(encoded_has_forbidden_control) {
        return Ok(ApiError::bad_request(
            ErrorCode::InvalidText,
            "query parameters must not contain control characters",
        )
        .as_response_owned());
    }
    let authenticated = req.headers().contains_key(header::AUTHORIZATION);
    let (mut response, pattern) = match ep.call(req).await {
        Ok(response) => {
            let response = response.into_response();
            let pattern = response.data::<PathPattern>().cloned();
            (response, pattern)
        }
        Err(error) => {
            let pattern = error.data::<PathPattern>().cloned();
            (framework_error(error), pattern)
        }
    };
    let resolved = routes.resolve(pattern.as_ref());
    if response.status() == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = resolved.map(|(_, methods)| methods.as_str());
        if let Some(value) = allowed.and_then(|a| HeaderValue::from_str(a).ok()) {
            response.headers_mut().insert(header::ALLOW, value);
        }
    }
    let label = match resolved {
        Some((template, _)) => template.clone(),
        None => route_template(pattern.as_ref()),
    };
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Answers to a bearer are someone's own data: no shared cache may keep them.
    if authenticated && is_json && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response.set_data(MatchedRoute(label.into()));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let pattern = |p: &str| PathPattern(p.into());
        assert_eq!(route_template(None), "unmatched");
        assert_eq!(route_template(Some(&pattern(""))), "unmatched");
        assert_eq!(route_template(Some(&pattern("/users/:username"))), "/users/{username}");
        assert_eq!(
            route_template(Some(&pattern("/media/:prefix<uploads|thumbnails>/:user/:name"))),
            "/media/{prefix}/{user}/{name}"
        );
        assert_eq!(route_template(Some(&pattern("/auth/login"))), "/auth/login");
    }

    #[test]
    fn poem_patterns_resolve_to_documented_templates() {
        let spec = serde_json::json!({"paths": {
            "/users/{username}": {"get": {}},
            "/projects/{project_id}": {"get": {}, "put": {}, "delete": {}},
        }});
        let routes = RouteMethods::from_openapi(&spec, &[("/openapi.json", "GET")]);
        let pattern = PathPattern("/projects/:param0".into());
        let (template, methods) = routes.resolve(Some(&pattern)).unwrap();
        assert_eq!(template, "/projects/{project_id}");
        assert_eq!(methods, "DELETE, GET, PUT");
        assert!(routes.resolve(None).is_none());
    }
}
