use super::domain::ValidationError;
use crate::{blocking::BlockingError, supervisor::CallError};

/// Everything the session domain can answer instead of success. Internal failures keep
/// their cause as the error's source; the edge logs the chain once and answers a plain
/// "internal server error".
#[derive(Debug, thiserror::Error)]
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
    #[error("the ticket is unknown, expired or already used")]
    InvalidTicket,
    #[error("no such user")]
    UserNotFound,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("no such session")]
    SessionNotFound,
    #[error("no deletion of that account is pending")]
    DeletionNotPending,
    #[error("the account still has {projects} projects and {files} files; deleting them again")]
    DeletionIncomplete { projects: u64, files: u64 },
    #[error("session service unavailable")]
    Unavailable(#[from] CallError),
    #[error("session storage failed")]
    Database(#[from] sea_orm::DbErr),
    #[error("password hashing could not run")]
    Hashing(#[from] BlockingError),
    #[error("password hashing failed")]
    PasswordHash(#[source] argon2::password_hash::Error),
    #[error("invalid argon2 parameters")]
    Argon2Params(#[source] argon2::Error),
    #[error("signing the access token failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}
