//! The session domain's requests and replies: plain serde types, so they can cross nodes.

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
    /// The caller's address, for failed-login throttling.
    pub client: String,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LogoutScope {
    Token(String),
    AllSessions,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutCmd {
    pub user_id: Uuid,
    pub scope: LogoutScope,
}
