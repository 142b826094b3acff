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
        "ProfileBody",
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
        logout.insert(
            "anyOf".into(),
            json!([
                {"required": ["refresh_token"]},
                {"required": ["all"], "properties": {"all": {"enum": [true]}}}
            ]),
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
    document
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
