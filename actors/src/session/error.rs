use serde::{Deserialize, Serialize};

use super::domain::ValidationError;
use crate::supervisor::CallError;

/// Everything the session domain can answer instead of success. Serializable because
/// replies may cross nodes; internal causes are logged where they happen and travel
/// only as a short description.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
pub enum SessionError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("username is already taken")]
    UsernameTaken,
    #[error("email is already registered")]
    EmailTaken,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("too many failed logins; try again later")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("too many logins are waiting; try again shortly")]
    Overloaded { retry_after_secs: u64 },
    #[error("refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    #[error("access token is invalid or expired")]
    InvalidAccessToken,
    #[error("no such user")]
    UserNotFound,
    #[error("session service unavailable: {0}")]
    Unavailable(#[from] CallError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl SessionError {
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        SessionError::Internal(context.to_string())
    }
}

impl From<sea_orm::DbErr> for SessionError {
    fn from(error: sea_orm::DbErr) -> Self {
        SessionError::internal("database error", error)
    }
}
