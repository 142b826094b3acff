//! The one place where domain errors become HTTP answers: `{"error", "code"}` plus the
//! right status and headers. Every code the API answers with is an [`ErrorCode`], and
//! each domain error maps to one in a single `From` impl below. Internal causes travel
//! inside the [`ApiError`] to the edge, which logs them once with the request id; they
//! are never sent.

use std::sync::Arc;

use folio_actors::{
    database::is_unavailable,
    export::ExportError,
    media::MediaError,
    profile::ProfileError,
    project::ProjectError,
    report::jobs::JobsError,
    session::SessionError,
    supervisor::CallError,
    validation::{Field, ValidationError},
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

/// Every `code` the API answers with, and the status each one goes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    // 400
    BadRequest,
    InvalidRequest,
    InvalidText,
    InvalidUsername,
    InvalidEmail,
    InvalidPassword,
    /// The refresh token in a request body breaks the length rules (400); the same code
    /// answers a token that is unknown, expired or revoked (401).
    MalformedRefreshToken,
    InvalidTitle,
    InvalidDescription,
    InvalidTags,
    InvalidLink,
    InvalidThumbnailUrl,
    InvalidName,
    InvalidBio,
    InvalidContact,
    InvalidSocialLinks,
    InvalidAvatarUrl,
    InvalidPage,
    InvalidSize,
    InvalidFacetSize,
    InvalidQuery,
    InvalidUserId,
    InvalidProjectId,
    InvalidFile,
    /// An image whose structure cannot be followed, so its metadata cannot be removed.
    UnreadableImage,
    InvalidErrorContains,
    BadMultipart,
    EmptyFile,
    InvalidVisibility,
    InvalidCaption,
    InvalidAlt,
    /// A gallery order that is not exactly the project's images.
    InvalidOrder,
    InvalidFileId,
    // 401
    Unauthorized,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidToken,
    InvalidTicket,
    // 403
    Forbidden,
    CsrfFailed,
    /// The current password given to confirm an account change is wrong.
    WrongPassword,
    /// An export download link that was not signed for this export and user.
    InvalidExportLink,
    /// An export download link past its expiry (the archive is deleted then).
    LinkExpired,
    // 404
    NotFound,
    UserNotFound,
    ProjectNotFound,
    MediaNotFound,
    SessionNotFound,
    DeletionNotFound,
    ExportNotFound,
    // 405
    MethodNotAllowed,
    // 409
    UsernameTaken,
    EmailTaken,
    Conflict,
    NotFailed,
    ReindexRunning,
    /// An export of the account is already running.
    ExportRunning,
    // 411, 413, 415, 429
    LengthRequired,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyAttempts,
    TooManyStreams,
    // 500
    Internal,
    // 503
    Unavailable,
    Overloaded,
    StorageUnavailable,
    DatabaseUnavailable,
    BusUnavailable,
    SearchUnavailable,
    /// A framework error with a status none of the above has; it keeps that status.
    Other,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "bad_request",
            InvalidRequest => "invalid_request",
            InvalidText => "invalid_text",
            InvalidUsername => "invalid_username",
            InvalidEmail => "invalid_email",
            InvalidPassword => "invalid_password",
            MalformedRefreshToken | InvalidRefreshToken => "invalid_refresh_token",
            InvalidTitle => "invalid_title",
            InvalidDescription => "invalid_description",
            InvalidTags => "invalid_tags",
            InvalidLink => "invalid_link",
            InvalidThumbnailUrl => "invalid_thumbnail_url",
            InvalidName => "invalid_name",
            InvalidBio => "invalid_bio",
            InvalidContact => "invalid_contact",
            InvalidSocialLinks => "invalid_social_links",
            InvalidAvatarUrl => "invalid_avatar_url",
            InvalidPage => "invalid_page",
            InvalidSize => "invalid_size",
            InvalidFacetSize => "invalid_facet_size",
            InvalidQuery => "invalid_query",
            InvalidUserId => "invalid_user_id",
            InvalidProjectId => "invalid_project_id",
            InvalidFile => "invalid_file",
            UnreadableImage => "unreadable_image",
            InvalidErrorContains => "invalid_error_contains",
            BadMultipart => "bad_multipart",
            EmptyFile => "empty_file",
            InvalidVisibility => "invalid_visibility",
            InvalidCaption => "invalid_caption",
            InvalidAlt => "invalid_alt",
            InvalidOrder => "invalid_order",
            InvalidFileId => "invalid_file_id",
            Unauthorized => "unauthorized",
            InvalidCredentials => "invalid_credentials",
            InvalidToken => "invalid_token",
            InvalidTicket => "invalid_ticket",
            Forbidden => "forbidden",
            CsrfFailed => "csrf_failed",
            WrongPassword => "wrong_password",
            NotFound => "not_found",
            UserNotFound => "user_not_found",
            ProjectNotFound => "project_not_found",
            MediaNotFound => "media_not_found",
            SessionNotFound => "session_not_found",
            DeletionNotFound => "deletion_not_found",
            ExportNotFound => "export_not_found",
            InvalidExportLink => "invalid_export_link",
            LinkExpired => "link_expired",
            ExportRunning => "export_running",
            MethodNotAllowed => "method_not_allowed",
            UsernameTaken => "username_taken",
            EmailTaken => "email_taken",
            Conflict => "conflict",
            NotFailed => "not_failed",
            ReindexRunning => "reindex_running",
            LengthRequired => "length_required",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            TooManyAttempts => "too_many_attempts",
            TooManyStreams => "too_many_streams",
            Internal => "internal",
            Unavailable => "unavailable",
            Overloaded => "overloaded",
            StorageUnavailable => "storage_unavailable",
            DatabaseUnavailable => "database_unavailable",
            BusUnavailable => "bus_unavailable",
            SearchUnavailable => "search_unavailable",
            Other => "error",
        }
    }

    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            BadRequest
            | InvalidRequest
            | InvalidText
            | InvalidUsername
            | InvalidEmail
            | InvalidPassword
            | MalformedRefreshToken
            | InvalidTitle
            | InvalidDescription
            | InvalidTags
            | InvalidLink
            | InvalidThumbnailUrl
            | InvalidName
            | InvalidBio
            | InvalidContact
            | InvalidSocialLinks
            | InvalidAvatarUrl
            | InvalidPage
            | InvalidSize
            | InvalidFacetSize
            | InvalidQuery
            | InvalidUserId
            | InvalidProjectId
            | InvalidFile
            | UnreadableImage
            | InvalidErrorContains
            | BadMultipart
            | EmptyFile
            | InvalidVisibility
            | InvalidCaption
            | InvalidAlt
            | InvalidOrder
            | InvalidFileId => StatusCode::BAD_REQUEST,
            Unauthorized | InvalidCredentials | InvalidRefreshToken | InvalidToken | InvalidTicket => {
                StatusCode::UNAUTHORIZED
            }
            Forbidden | CsrfFailed | WrongPassword | InvalidExportLink | LinkExpired => StatusCode::FORBIDDEN,
            NotFound | UserNotFound | ProjectNotFound | MediaNotFound | SessionNotFound | DeletionNotFound
            | ExportNotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            UsernameTaken | EmailTaken | Conflict | NotFailed | ReindexRunning | ExportRunning => StatusCode::CONFLICT,
            LengthRequired => StatusCode::LENGTH_REQUIRED,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TooManyAttempts | TooManyStreams => StatusCode::TOO_MANY_REQUESTS,
            Internal | Other => StatusCode::INTERNAL_SERVER_ERROR,
            Unavailable | Overloaded | StorageUnavailable | DatabaseUnavailable | BusUnavailable
            | SearchUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The code for a field that failed validation.
    pub fn invalid(field: Field) -> Self {
        match field {
            Field::Username => ErrorCode::InvalidUsername,
            Field::Email => ErrorCode::InvalidEmail,
            Field::Password => ErrorCode::InvalidPassword,
            Field::RefreshToken => ErrorCode::MalformedRefreshToken,
            Field::Title => ErrorCode::InvalidTitle,
            Field::Description => ErrorCode::InvalidDescription,
            Field::Tags => ErrorCode::InvalidTags,
            Field::Link => ErrorCode::InvalidLink,
            Field::ThumbnailUrl => ErrorCode::InvalidThumbnailUrl,
            Field::Name => ErrorCode::InvalidName,
            Field::Bio => ErrorCode::InvalidBio,
            Field::Contact => ErrorCode::InvalidContact,
            Field::SocialLinks => ErrorCode::InvalidSocialLinks,
            Field::AvatarUrl => ErrorCode::InvalidAvatarUrl,
            Field::Page => ErrorCode::InvalidPage,
            Field::Size => ErrorCode::InvalidSize,
            Field::Visibility => ErrorCode::InvalidVisibility,
            Field::Caption => ErrorCode::InvalidCaption,
            Field::Alt => ErrorCode::InvalidAlt,
            Field::Order => ErrorCode::InvalidOrder,
            Field::FileId => ErrorCode::InvalidFileId,
        }
    }
}

/// Why a request failed, kept for the edge's log line and never sent to the client.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// `Retry-After` of a 503 whose cause does not know better.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_secs: Option<u64>,
    pub cause: Option<Cause>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status = code.status();
        Self {
            status,
            code,
            message: message.into(),
            // A dependency that is down is worth trying again: every 503 says when.
            retry_after_secs: (status == StatusCode::SERVICE_UNAVAILABLE).then_some(UNAVAILABLE_RETRY_AFTER_SECS),
            cause: None,
        }
    }

    /// The database could not be reached (a restart, a lost connection, no pooled
    /// connection within the acquire timeout).
    pub fn database_unavailable(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::new(ErrorCode::DatabaseUnavailable, "the database is unavailable; try again").caused_by(cause)
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// A failure of ours: the client learns nothing but that it happened.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal server error")
    }

    /// As [`ApiError::internal`], keeping what went wrong for the edge's log line.
    pub fn internal_from(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::internal().caused_by(cause)
    }

    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }

    fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The cause and each of its sources, outermost first, for the edge's log line.
    pub fn cause_chain(&self) -> Vec<String> {
        let mut chain = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = match &self.cause {
            Some(cause) => Some(cause.as_ref()),
            None => None,
        };
        while let Some(error) = next {
            chain.push(error.to_string());
            next = error.source();
        }
        chain
    }

    /// Any error poem or poem-openapi raised before a handler ran (bad JSON, missing
    /// auth header, unknown route, …) in the same shape as ours.
    pub fn from_framework(error: &poem::Error) -> Self {
        let status = error.status();
        let code = match status {
            StatusCode::BAD_REQUEST => ErrorCode::BadRequest,
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
            StatusCode::FORBIDDEN => ErrorCode::Forbidden,
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::LENGTH_REQUIRED => ErrorCode::LengthRequired,
            s if s.is_server_error() => ErrorCode::Internal,
            _ => ErrorCode::Other,
        };
        if status.is_server_error() {
            return Self {
                status,
                ..Self::new(code, "internal server error").caused_by(FrameworkError(error.to_string()))
            };
        }
        let message = match status {
            StatusCode::UNAUTHORIZED => "a valid bearer token is required".to_string(),
            StatusCode::NOT_FOUND => "not found".to_string(),
            _ => error.to_string(),
        };
        Self {
            status,
            ..Self::new(code, message)
        }
    }
}

/// A server error poem raised itself; only its text is available.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct FrameworkError(String);

impl ApiError {
    pub fn as_response_owned(&self) -> Response {
        ResponseError::as_response(self)
    }
}

impl From<MediaError> for ApiError {
    fn from(error: MediaError) -> Self {
        let message = error.to_string();
        match error {
            MediaError::Empty => ApiError::new(ErrorCode::EmptyFile, message),
            MediaError::UnsupportedType => ApiError::new(ErrorCode::UnsupportedMediaType, message),
            MediaError::UnreadableImage(_) => ApiError::bad_request(ErrorCode::UnreadableImage, message),
            MediaError::StripWorker(_) => ApiError::internal_from(error),
            MediaError::TooLarge => ApiError::new(ErrorCode::PayloadTooLarge, message),
            MediaError::ProjectNotFound => ApiError::new(ErrorCode::ProjectNotFound, message),
            MediaError::NotFound => ApiError::new(ErrorCode::MediaNotFound, message),
            MediaError::Forbidden => ApiError::new(ErrorCode::Forbidden, message),
            MediaError::NotFailed => ApiError::new(ErrorCode::NotFailed, message),
            MediaError::Invalid(v) => v.into(),
            MediaError::Storage(_) => {
                ApiError::new(ErrorCode::StorageUnavailable, "file storage is unavailable; try again").caused_by(error)
            }
            MediaError::Unavailable(e) => e.into(),
            MediaError::Database(ref e) if is_unavailable(e) => ApiError::database_unavailable(error),
            MediaError::Database(_) => ApiError::internal_from(error),
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(error: ExportError) -> Self {
        let message = error.to_string();
        match error {
            ExportError::UserNotFound => ApiError::new(ErrorCode::UserNotFound, message),
            ExportError::Running => ApiError::new(ErrorCode::ExportRunning, message),
            ExportError::NotFound => ApiError::new(ErrorCode::ExportNotFound, message),
            ExportError::InvalidLink => ApiError::new(ErrorCode::InvalidExportLink, message),
            ExportError::LinkExpired => ApiError::new(ErrorCode::LinkExpired, message),
            ExportError::Storage(_) => {
                ApiError::new(ErrorCode::StorageUnavailable, "file storage is unavailable; try again").caused_by(error)
            }
            ExportError::Database(ref e) if is_unavailable(e) => ApiError::database_unavailable(error),
            ExportError::Lost | ExportError::Archive(_) | ExportError::Database(_) => ApiError::internal_from(error),
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
            code: self.code.as_str().to_string(),
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
        // For the edge's log line; extensions never reach the client.
        response.set_data(self.clone());
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
            UsernameTaken => ApiError::new(ErrorCode::UsernameTaken, message),
            EmailTaken => ApiError::new(ErrorCode::EmailTaken, message),
            InvalidCredentials => ApiError::new(ErrorCode::InvalidCredentials, message),
            TooManyAttempts { retry_after_secs } => {
                ApiError::new(ErrorCode::TooManyAttempts, message).retry_after(retry_after_secs)
            }
            Overloaded { retry_after_secs } => {
                ApiError::new(ErrorCode::Overloaded, message).retry_after(retry_after_secs)
            }
            InvalidRefreshToken => ApiError::new(ErrorCode::InvalidRefreshToken, message),
            InvalidAccessToken => ApiError::new(ErrorCode::InvalidToken, message),
            InvalidTicket => ApiError::new(ErrorCode::InvalidTicket, message),
            UserNotFound => ApiError::new(ErrorCode::UserNotFound, message),
            WrongPassword => ApiError::new(ErrorCode::WrongPassword, message),
            SessionNotFound => ApiError::new(ErrorCode::SessionNotFound, message),
            DeletionNotPending => ApiError::new(ErrorCode::DeletionNotFound, message),
            DeletionIncomplete { .. } => ApiError::internal_from(error),
            Unavailable(e) => e.into(),
            Database(ref e) if is_unavailable(e) => ApiError::database_unavailable(error),
            Database(_) | Hashing(_) | PasswordHash(_) | Argon2Params(_) | Signing(_) => ApiError::internal_from(error),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::new(ErrorCode::invalid(error.field), error.message)
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> Self {
        ApiError::new(ErrorCode::Unavailable, error.to_string()).caused_by(error)
    }
}

impl From<ProjectError> for ApiError {
    fn from(error: ProjectError) -> Self {
        let message = error.to_string();
        match error {
            ProjectError::Invalid(v) => v.into(),
            ProjectError::NotFound => ApiError::new(ErrorCode::ProjectNotFound, message),
            ProjectError::UserNotFound => ApiError::new(ErrorCode::UserNotFound, message),
            ProjectError::Forbidden => ApiError::new(ErrorCode::Forbidden, message),
            ProjectError::Conflict => ApiError::new(ErrorCode::Conflict, message),
            ProjectError::Unavailable(e) => e.into(),
            ProjectError::Database(ref e) if is_unavailable(e) => ApiError::database_unavailable(error),
            ProjectError::Database(_) => ApiError::internal_from(error),
        }
    }
}

impl From<ProfileError> for ApiError {
    fn from(error: ProfileError) -> Self {
        let message = error.to_string();
        match error {
            ProfileError::Invalid(v) => v.into(),
            ProfileError::UserNotFound => ApiError::new(ErrorCode::UserNotFound, message),
            ProfileError::Unavailable(e) => e.into(),
            ProfileError::Database(ref e) if is_unavailable(e) => ApiError::database_unavailable(error),
            ProfileError::Projects(ProjectError::Database(ref e)) if is_unavailable(e) => {
                ApiError::database_unavailable(error)
            }
            ProfileError::Database(_) | ProfileError::Projects(_) => ApiError::internal_from(error),
        }
    }
}

impl From<JobsError> for ApiError {
    fn from(error: JobsError) -> Self {
        let message = error.to_string();
        match error {
            JobsError::ReindexRunning => ApiError::new(ErrorCode::ReindexRunning, message),
            JobsError::Bus(_) => ApiError::new(ErrorCode::BusUnavailable, message).caused_by(error),
            JobsError::Database(ref e) if is_unavailable(e) => ApiError::database_unavailable(error),
            JobsError::Database(_) | JobsError::ProgressPoisoned => ApiError::internal_from(error),
        }
    }
}

/// Ours keep their shape and headers; anything else is put into it.
pub fn framework_error(error: poem::Error) -> Response {
    match error.downcast_ref::<ApiError>() {
        Some(api_error) => api_error.as_response(),
        None => ApiError::from_framework(&error).as_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_failure_keeps_its_chain_and_sends_none_of_it() {
        let error = ApiError::from(ProfileError::Projects(ProjectError::Unavailable(CallError::Timeout)));
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.code.as_str(), "internal");
        assert_eq!(
            error.cause_chain(),
            [
                "reading the user's projects failed",
                "project service unavailable",
                "the worker did not answer in time"
            ]
        );
        let response = error.as_response_owned();
        assert!(response.data::<ApiError>().is_some(), "the edge finds the cause");
        let body = ErrorBody {
            error: error.message.clone(),
            code: error.code.as_str().to_string(),
        };
        assert_eq!(body.error, "internal server error");
    }

    #[test]
    fn a_field_maps_to_its_code() {
        let error = ApiError::from(ValidationError::missing(Field::RefreshToken));
        assert_eq!(
            (error.status, error.code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_refresh_token")
        );
        let error = ApiError::from(SessionError::InvalidRefreshToken);
        assert_eq!(
            (error.status, error.code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_refresh_token")
        );
        let error = ApiError::from(ValidationError::new(Field::SocialLinks, "x"));
        assert_eq!(error.code.as_str(), "invalid_social_links");
    }
}
