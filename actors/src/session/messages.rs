//! The session domain's requests and replies: plain serde types, so they can cross nodes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::domain::{Email, Password, Role, Username};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterCmd {
    pub username: Username,
    pub email: Email,
    pub password: Password,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registered {
    pub user_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginCmd {
    pub email: Email,
    pub password: Password,
    /// The caller's address, for failed-login throttling; kept with the session it
    /// starts, as is the user agent.
    pub client: String,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginGrant {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub user: UserSummary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshCmd {
    pub refresh_token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshGrant {
    pub access_token: String,
    /// The replacement token when rotation is on.
    pub refresh_token: Option<String>,
    pub expires_in: i64,
}

/// Which sessions a logout ends. Every way of ending sessions (logout, revoking one
/// from the session list, a password change ending the others) is a scope of this one
/// command, so whatever else must happen when a session ends happens in one place.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LogoutScope {
    /// The session this refresh token belongs to.
    Token(String),
    AllSessions,
    /// One session by id; unknown or someone else's is `SessionNotFound`.
    Session(Uuid),
    /// Every session but this one (the caller's; `None` when the caller's token names
    /// no session, and then every session ends).
    AllExcept(Option<Uuid>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutCmd {
    pub user_id: Uuid,
    pub scope: LogoutScope,
}

/// A password change: the current password proves it is the account holder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangePasswordCmd {
    pub user_id: Uuid,
    pub current_password: Password,
    pub new_password: Password,
    /// The caller's session, which stays signed in; every other session ends.
    pub keep_session: Option<Uuid>,
    /// For the failed-login throttles, which count a wrong current password.
    pub client: String,
}

/// One session as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

/// Deleting one's own account: the current password proves it is the holder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteAccountCmd {
    pub user_id: Uuid,
    pub password: Password,
    /// For the failed-login throttles, which count a wrong password.
    pub client: String,
}

/// An account deletion as the operator console shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountDeletion {
    pub user_id: Uuid,
    pub username: String,
    pub requested_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub last_error: Option<String>,
}
