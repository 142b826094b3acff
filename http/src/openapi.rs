//! The served OpenAPI document: poem-openapi's, plus the links between operations
//! (poem-openapi cannot declare them) so clients and stateful testers know that the
//! `id` a `POST /projects` answers with is the `project_id` of `GET /projects/{project_id}`.

use serde_json::{Value, json};

/// (source path, method, status, link name, target path, target method, parameter, expression)
type LinkSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const LINKS: &[LinkSpec] = &[
    (
        "/projects",
        "post",
        "201",
        "GetProject",
        "/projects/{project_id}",
        "get",
        "project_id",
        "$response.body#/id",
    ),
    (
        "/projects",
        "post",
        "201",
        "UpdateProject",
        "/projects/{project_id}",
        "put",
        "project_id",
        "$response.body#/id",
    ),
    (
        "/projects",
        "post",
        "201",
        "SetProjectThumbnail",
        "/projects/{project_id}/thumbnail",
        "put",
        "project_id",
        "$response.body#/id",
    ),
    (
        "/projects",
        "post",
        "201",
        "DeleteProject",
        "/projects/{project_id}",
        "delete",
        "project_id",
        "$response.body#/id",
    ),
    (
        "/projects",
        "post",
        "201",
        "ListOwnersProjects",
        "/projects/user/{user_id}",
        "get",
        "user_id",
        "$response.body#/user_id",
    ),
    (
        "/auth/register",
        "post",
        "201",
        "ListUsersProjects",
        "/projects/user/{user_id}",
        "get",
        "user_id",
        "$response.body#/user_id",
    ),
    (
        "/media/upload",
        "post",
        "201",
        "GetMedia",
        "/media/{file_id}",
        "get",
        "file_id",
        "$response.body#/file_id",
    ),
    (
        "/media/upload",
        "post",
        "201",
        "DeleteMedia",
        "/media/{file_id}",
        "delete",
        "file_id",
        "$response.body#/file_id",
    ),
    (
        "/profile/me",
        "get",
        "200",
        "GetPublicProfile",
        "/users/{username}",
        "get",
        "username",
        "$response.body#/username",
    ),
    (
        "/profile/me",
        "put",
        "200",
        "GetPublicProfileAfterUpdate",
        "/users/{username}",
        "get",
        "username",
        "$response.body#/username",
    ),
];

/// A JSON pointer token: `/` and `~` escaped (RFC 6901).
fn pointer_token(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

/// What poem-openapi cannot declare: that a logout body needs `refresh_token` or
/// `all: true`, and that social link names are 1 to 50 characters.
pub fn with_constraints(mut document: Value) -> Value {
    let schemas = &mut document["components"]["schemas"];
    // Request bodies refuse fields they do not have (deny_unknown_fields).
    for body in [
        "RegisterBody",
        "LoginBody",
        "RefreshBody",
        "LogoutBody",
        "NewProjectBody",
        "ProjectBody",
        "ThumbnailBody",
        "MediaOrderBody",
        "MediaPatchBody",
        "ProfileBody",
        "ChangePasswordBody",
        "DeleteAccountBody",
    ] {
        if let Some(schema) = schemas.get_mut(body).and_then(Value::as_object_mut) {
            schema.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
    if let Some(form) =
        document["paths"]["/media/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
            .as_object_mut()
    {
        form.insert("additionalProperties".into(), Value::Bool(false));
    }
    let schemas = &mut document["components"]["schemas"];
    if let Some(logout) = schemas.get_mut("LogoutBody").and_then(Value::as_object_mut) {
        // The rule stays in words: an `anyOf` of `required` branches (or an `enum: [true]`
        // on a boolean) makes openapi-python-client drop the whole operation.
        logout.insert(
            "description".into(),
            json!(
                "Either `refresh_token` (end that session) or `\"all\": true` (end every \
                 session of the user); with neither the answer is 400."
            ),
        );
    }
    if let Some(links) = schemas
        .get_mut("ProfileBody")
        .and_then(|p| p.get_mut("properties"))
        .and_then(|p| p.get_mut("social_links"))
        .and_then(Value::as_object_mut)
    {
        // poem-openapi puts a nullable field's schema under allOf; the names rule goes
        // beside it.
        links.insert(
            "propertyNames".into(),
            json!({"minLength": 1, "maxLength": 50, "pattern": crate::text::NO_CONTROL_CHARACTERS}),
        );
    }
    // `visibility` in a project body may be null (as absent): declared inline, since
    // poem-openapi wraps a nullable reference in an `allOf` that openapi-python-client
    // cannot type (it dropped both operations).
    let schemas = &mut document["components"]["schemas"];
    for (body, description) in [
        ("NewProjectBody", "`public` when absent or null: listed and searchable."),
        (
            "ProjectBody",
            "Absent or null keeps it. Making a project public the first time sets \
             `published_at`; making it unlisted or private takes it out of listings and search.",
        ),
    ] {
        if let Some(visibility) = schemas
            .get_mut(body)
            .and_then(|b| b.get_mut("properties"))
            .and_then(|p| p.get_mut("visibility"))
        {
            *visibility = json!({
                "type": "string",
                "enum": ["public", "unlisted", "private", null],
                "nullable": true,
                "description": description,
            });
        }
    }
    events_as_a_stream(&mut document);
    document
}

/// The SSE reply of `GET /events` as generators can use it: a text stream (poem-openapi
/// declares an array of events, which generated clients iterate character by
/// character), its events named in the description with their payload schemas, and the
/// `ticket` query parameter's format, so a ticket with control characters is invalid by
/// the document as it is by the server.
fn events_as_a_stream(document: &mut Value) {
    let Some(operation) = document
        .get_mut("paths")
        .and_then(|p| p.get_mut("/events"))
        .and_then(|p| p.get_mut("get"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if let Some(ok) = operation
        .get_mut("responses")
        .and_then(|r| r.get_mut("200"))
        .and_then(Value::as_object_mut)
    {
        ok.insert(
            "description".into(),
            json!(
                "A Server-Sent Events stream (`text/event-stream`) that stays open. Each event's \
                 `event:` name is its type and its `data:` line one JSON object with the same \
                 `type`:\n\n\
                 - `media.thumbnail_ready`: `ThumbnailReadyEvent` (`file_id`, `thumbnail_url`, \
                 `width`, `height`, `at`)\n\
                 - `media.thumbnail_failed`: `ThumbnailFailedEvent` (`file_id`, `error`, `at`)\n\
                 - `project.indexed`: `ProjectIndexedEvent` (`project_id`, `version`, `at`)\n\n\
                 The schema `LiveEventBody` describes one `data:` object. A comment line keeps \
                 the stream alive every 15 s."
            ),
        );
        ok.insert(
            "content".into(),
            json!({"text/event-stream": {"schema": {"type": "string"}}}),
        );
    }
    let parameters = operation.entry("parameters").or_insert_with(|| json!([]));
    if let Some(parameters) = parameters.as_array_mut()
        && !parameters.iter().any(|p| p["name"] == "ticket")
    {
        parameters.push(json!({
            "name": "ticket",
            "in": "query",
            "required": false,
            "description": "A ticket from `POST /events/ticket`, for clients that cannot send an \
                            `Authorization` header (browsers' `EventSource`).",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}
        }));
    }
}

/// Adds the links to a poem-openapi document; a link whose ends are missing is skipped.
pub fn with_links(mut document: Value) -> Value {
    for (source, method, status, name, target, target_method, parameter, expression) in LINKS {
        if document["paths"][target][target_method].is_null() {
            continue;
        }
        let Some(response) = document
            .get_mut("paths")
            .and_then(|p| p.get_mut(*source))
            .and_then(|p| p.get_mut(*method))
            .and_then(|o| o.get_mut("responses"))
            .and_then(|r| r.get_mut(*status))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let links = response.entry("links").or_insert_with(|| json!({}));
        links[*name] = json!({
            "operationRef": format!("#/paths/{}/{target_method}", pointer_token(target)),
            "parameters": { *parameter: *expression },
        });
    }
    document
}

#[cfg(test)]
mod tests {
    #[test]
    fn links_point_at_existing_operations() {
        let document = serde_json::json!({
            "paths": {
                "/projects": {"post": {"responses": {"201": {"description": "created"}}}},
                "/projects/{project_id}": {"get": {"responses": {}}},
            }
        });
        let linked = super::with_links(document);
        let link = &linked["paths"]["/projects"]["post"]["responses"]["201"]["links"]["GetProject"];
        assert_eq!(link["operationRef"], "#/paths/~1projects~1{project_id}/get");
        assert_eq!(link["parameters"]["project_id"], "$response.body#/id");
        // Targets that do not exist are not linked.
        assert!(linked["paths"]["/projects"]["post"]["responses"]["201"]["links"]["UpdateProject"].is_null());
    }
}
