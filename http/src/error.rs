//! The one place where domain errors become HTTP answers: `{"error", "code"}` plus the
//! right status and headers. Internal causes are logged where they occur, never sent.

use folio_actors::{
    jobs::JobsError, media::MediaError, profile::ProfileError, project::ProjectError, session::SessionError,
    supervisor::CallError, validation::ValidationError,
};
use poem::{
    Response,
    error::ResponseError,
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Object,
    payload::Json,
    registry::{MetaResponses, Registry},
};

#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// Human-readable message.
    pub error: String,
    /// Stable machine-readable code.
    pub code: String,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error")
    }

    /// Any error poem or poem-openapi raised before a handler ran (bad JSON, missing
    /// auth header, unknown route, …) in the same shape as ours.
    pub fn from_framework(error: &poem::Error) -> Self {
        let status = error.status();
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::LENGTH_REQUIRED => "length_required",
            s if s.is_server_error() => "internal",
            _ => "error",
        };
        if status.is_server_error() {
            tracing::error!(%error, "request failed");
            return Self::new(status, code, "internal server error");
        }
        let message = match status {
            StatusCode::UNAUTHORIZED => "a valid bearer token is required".to_string(),
            StatusCode::NOT_FOUND => "not found".to_string(),
            _ => error.to_string(),
        };
        Self::new(status, code, message)
    }
}

impl ApiError {
    pub fn as_response_owned(&self) -> Response {
        ResponseError::as_response(self)
    }
}

impl From<MediaError> for ApiError {
    fn from(error: MediaError) -> Self {
        let message = error.to_string();
        match error {
            MediaError::Empty => ApiError::bad_request("empty_file", message),
            MediaError::UnsupportedType => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message)
            }
            MediaError::TooLarge => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message),
            MediaError::ProjectNotFound => ApiError::new(StatusCode::NOT_FOUND, "project_not_found", message),
            MediaError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "media_not_found", message),
            MediaError::Forbidden => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
            MediaError::NotFailed => ApiError::new(StatusCode::CONFLICT, "not_failed", message),
            MediaError::Storage(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "file storage is unavailable; try again",
            ),
            MediaError::Unavailable(e) => e.into(),
            MediaError::Internal(_) => ApiError::internal(),
        }
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let body = ErrorBody {
            error: self.message.clone(),
            code: self.code.to_string(),
        };
        let mut response = Response::builder()
            .status(self.status)
            .content_type("application/json")
            .body(serde_json::to_vec(&body).unwrap_or_default());
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"folio\""),
            );
        }
        if let Some(secs) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// The error statuses every route may answer, for the OpenAPI document.
#[derive(ApiResponse)]
#[allow(dead_code)]
enum DocumentedErrors {
    /// Missing or invalid field, or malformed JSON.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing, invalid or expired credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Authenticated but not allowed.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The path exists, not with this method; `Allow` lists the ones it has.
    #[oai(status = 405)]
    MethodNotAllowed(Json<ErrorBody>),
    /// Conflicts with existing data.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is larger than allowed.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// Not an accepted type.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Too many failed attempts; see `Retry-After`.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// A dependency is down or the node is saturated; try again (`Retry-After` when known).
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        DocumentedErrors::meta()
    }

    fn register(registry: &mut Registry) {
        DocumentedErrors::register(registry);
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        use SessionError::*;
        let message = error.to_string();
        match error {
            Invalid(v) => v.into(),
            UsernameTaken => ApiError::new(StatusCode::CONFLICT, "username_taken", message),
            EmailTaken => ApiError::new(StatusCode::CONFLICT, "email_taken", message),
            InvalidCredentials => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", message),
            TooManyAttempts { retry_after_secs } => ApiError {
                retry_after_secs: Some(retry_after_secs),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message)
            },
            Overloaded { retry_after_secs } => ApiError {
                retry_after_secs: Some(retry_after_secs),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
            },
            InvalidRefreshToken => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_refresh_token", message),
            InvalidAccessToken => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", message),
            UserNotFound => ApiError::new(StatusCode::NOT_FOUND, "user_not_found", message),
            Unavailable(e) => e.into(),
            Internal(_) => ApiError::internal(),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        let code = match error.field.as_str() {
            "username" => "invalid_username",
            "email" => "invalid_email",
            "password" => "invalid_password",
            "refresh_token" => "invalid_refresh_token",
            "title" => "invalid_title",
            "description" => "invalid_description",
            "tags" => "invalid_tags",
            "link" => "invalid_link",
            "thumbnail_url" => "invalid_thumbnail_url",
            "name" => "invalid_name",
            "bio" => "invalid_bio",
            "contact" => "invalid_contact",
            "social_links" => "invalid_social_links",
            "avatar_url" => "invalid_avatar_url",
            "page" => "invalid_page",
            "size" => "invalid_size",
            _ => "invalid_request",
        };
        ApiError::bad_request(code, error.message)
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", error.to_string())
    }
}

impl From<ProjectError> for ApiError {
    fn from(error: ProjectError) -> Self {
        let message = error.to_string();
        match error {
            ProjectError::Invalid(v) => v.into(),
            ProjectError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "project_not_found", message),
            ProjectError::UserNotFound => ApiError::new(StatusCode::NOT_FOUND, "user_not_found", message),
            ProjectError::Forbidden => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
            ProjectError::Conflict => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            ProjectError::Unavailable(e) => e.into(),
            ProjectError::Internal(_) => ApiError::internal(),
        }
    }
}

impl From<ProfileError> for ApiError {
    fn from(error: ProfileError) -> Self {
        let message = error.to_string();
        match error {
            ProfileError::Invalid(v) => v.into(),
            ProfileError::UserNotFound => ApiError::new(StatusCode::NOT_FOUND, "user_not_found", message),
            ProfileError::Unavailable(e) => e.into(),
            ProfileError::Internal(_) => ApiError::internal(),
        }
    }
}

impl From<JobsError> for ApiError {
    fn from(error: JobsError) -> Self {
        let message = error.to_string();
        match error {
            JobsError::ReindexRunning => ApiError::new(StatusCode::CONFLICT, "reindex_running", message),
            JobsError::Bus(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "bus_unavailable", message),
            JobsError::Database(_) | JobsError::ProgressPoisoned => {
                tracing::error!(error.cause_chain = ?error, "reading job state");
                ApiError::internal()
            }
        }
    }
}
