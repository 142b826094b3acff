//! `/auth/*`: the seed's field names, answered by the session domain.

use chrono::{DateTime, Utc};
use folio_actors::session::{
    ChangePasswordCmd, Email, Field, LoginCmd, LogoutCmd, LogoutScope, Password, RefreshCmd, RegisterCmd, SessionInfo,
    Username, ValidationError,
};
use poem::{Request, http::header};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use crate::{
    EdgeState,
    auth::BearerAuth,
    client_address::client_address,
    error::{ApiError, ErrorCode},
    text::{EmailText, JsonText, PasswordText, Present, Required, TextRule, UsernameText, UuidText, strict_uuid},
};

/// A missing field still gets a message naming it.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RegisterBody {
    /// 3 to 32 of `A-Z a-z 0-9 _ . -`.
    pub username: Required<JsonText<32, UsernameText>>,
    pub email: Required<JsonText<254, EmailText>>,
    /// 8 to 128 characters.
    pub password: Required<JsonText<128, PasswordText>>,
}

#[derive(Debug, Object)]
pub struct RegisterReply {
    pub user_id: Uuid,
    pub message: String,
}

#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// The account was created.
    #[oai(status = 201)]
    Created(Json<RegisterReply>),
}

/// Anything else than an account's email and password is `401`, like a wrong password.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LoginBody {
    pub email: Required<JsonText<0, Present>>,
    pub password: Required<JsonText<0, Present>>,
}

#[derive(Debug, Object)]
pub struct UserReply {
    pub id: Uuid,
    pub username: String,
    pub email: String,
}

#[derive(Debug, Object)]
pub struct LoginReply {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: UserReply,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RefreshBody {
    pub refresh_token: Required<JsonText<MAX_REFRESH_TOKEN, Present>>,
}

/// Ours are 43 characters; anything much longer is not one.
const MAX_REFRESH_TOKEN: usize = 512;

#[derive(Debug, Object)]
pub struct RefreshReply {
    pub access_token: String,
    /// The replacement refresh token (rotation); the one sent stops working.
    #[oai(skip_serializing_if_is_none, nullable)]
    pub refresh_token: Option<String>,
    pub token_type: String,
    pub expires_in: i64,
}

/// `refresh_token`, or `all: true` (the document says so with `anyOf`).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct LogoutBody {
    /// The refresh token to end; not needed with `all`.
    pub refresh_token: Option<JsonText<MAX_REFRESH_TOKEN, Present>>,
    /// End every session of the user (null is false).
    #[oai(default, nullable)]
    pub all: bool,
}

#[derive(Debug, Object)]
pub struct MessageReply {
    pub message: String,
}

#[derive(Debug, Object)]
pub struct VerifyReply {
    pub valid: bool,
    pub user_id: Uuid,
    pub username: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
}

/// The current password proves the caller holds the account.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ChangePasswordBody {
    pub current_password: Required<JsonText<0, Present>>,
    /// 8 to 128 characters.
    pub new_password: Required<JsonText<128, PasswordText>>,
}

/// One session: a login and the refreshes that followed it.
#[derive(Debug, Object)]
pub struct SessionReply {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The last login or refresh.
    pub last_used_at: DateTime<Utc>,
    /// The address the session was started from (null for sessions older than this
    /// record).
    #[oai(nullable)]
    pub client_address: Option<String>,
    /// The `User-Agent` the session was started with.
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// Whether this is the session of the access token that asked.
    pub current: bool,
}

#[derive(Debug, Object)]
pub struct SessionListReply {
    pub sessions: Vec<SessionReply>,
}

fn session_reply(info: SessionInfo, current: Option<Uuid>) -> SessionReply {
    SessionReply {
        current: Some(info.id) == current,
        id: info.id,
        created_at: info.created_at,
        last_used_at: info.last_used_at,
        client_address: info.client_address,
        user_agent: info.user_agent,
    }
}

fn user_agent(req: &Request) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

fn required<const MAX: usize, R: TextRule>(
    field: Field,
    value: &Required<JsonText<MAX, R>>,
) -> Result<&str, ValidationError> {
    match value.as_ref().map(JsonText::as_str) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ValidationError::missing(field)),
    }
}

fn refresh_token_within_bounds(token: String) -> Result<String, ValidationError> {
    if token.chars().count() > MAX_REFRESH_TOKEN {
        return Err(ValidationError::new(
            Field::RefreshToken,
            format!("refresh_token must be at most {MAX_REFRESH_TOKEN} characters"),
        ));
    }
    Ok(token)
}

pub struct AuthApi {
    pub state: EdgeState,
}

#[OpenApi(prefix_path = "/auth", tag = "crate::ApiTags::Auth")]
impl AuthApi {
    /// Create an account.
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(&self, body: Json<RegisterBody>) -> Result<RegisterResponse, ApiError> {
        let cmd = RegisterCmd {
            username: Username::parse(required(Field::Username, &body.username)?)?,
            email: Email::parse(required(Field::Email, &body.email)?)?,
            password: Password::parse(required(Field::Password, &body.password)?)?,
        };
        let registered = self.state.session.register(cmd).await?;
        Ok(RegisterResponse::Created(Json(RegisterReply {
            user_id: registered.user_id,
            message: "user registered".to_string(),
        })))
    }

    /// Exchange email and password for an access token and a refresh token.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(&self, req: &Request, body: Json<LoginBody>) -> Result<Json<LoginReply>, ApiError> {
        let email = required(Field::Email, &body.email)?;
        let password = required(Field::Password, &body.password)?;
        // A malformed address or a password outside the length rules cannot match any
        // account: answer as for wrong credentials, without telling which.
        let (Ok(email), Ok(password)) = (Email::parse(email), Password::parse(password)) else {
            return Err(ApiError::new(
                ErrorCode::InvalidCredentials,
                "invalid email or password",
            ));
        };
        let grant = self
            .state
            .session
            .login(LoginCmd {
                email,
                password,
                client: client_address(req, &self.state.trusted_proxies),
                user_agent: user_agent(req),
            })
            .await?;
        Ok(Json(LoginReply {
            access_token: grant.access_token,
            refresh_token: grant.refresh_token,
            token_type: "Bearer".to_string(),
            expires_in: grant.expires_in,
            user: UserReply {
                id: grant.user.id,
                username: grant.user.username,
                email: grant.user.email,
            },
        }))
    }

    /// Get a new access token (and, with rotation, a new refresh token).
    ///
    /// With rotation, each refresh token works once: presenting one that was already rotated out is
    /// taken as theft, answered 401, and also revokes the newest token of its family
    /// (every token descended from the same login), so that session must log in again.
    #[oai(path = "/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(&self, body: Json<RefreshBody>) -> Result<Json<RefreshReply>, ApiError> {
        let refresh_token =
            refresh_token_within_bounds(required(Field::RefreshToken, &body.refresh_token)?.to_string())?;
        let grant = self.state.session.refresh(RefreshCmd { refresh_token }).await?;
        Ok(Json(RefreshReply {
            access_token: grant.access_token,
            refresh_token: grant.refresh_token,
            token_type: "Bearer".to_string(),
            expires_in: grant.expires_in,
        }))
    }

    /// End one session (its refresh token), or every session with `{"all": true}`.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, auth: BearerAuth, body: Json<LogoutBody>) -> Result<Json<MessageReply>, ApiError> {
        // A token that is sent is checked even next to `all`: a request the contract
        // calls invalid is refused whatever else it asks.
        let token = body.refresh_token.clone().map(JsonText::into_string);
        if let Some(token) = &token
            && body.all
            && !token.is_empty()
        {
            refresh_token_within_bounds(token.clone())?;
        }
        if token.as_deref() == Some("") {
            return Err(ValidationError::new(Field::RefreshToken, "refresh_token must not be empty").into());
        }
        let scope = if body.all {
            LogoutScope::AllSessions
        } else {
            let token = token.ok_or_else(|| ValidationError::missing(Field::RefreshToken))?;
            LogoutScope::Token(refresh_token_within_bounds(token)?)
        };
        self.state
            .session
            .logout(LogoutCmd {
                user_id: auth.0.sub,
                scope,
            })
            .await?;
        Ok(Json(MessageReply {
            message: "logged out".to_string(),
        }))
    }

    /// Set a new password. The current password must be given; a wrong one is counted
    /// like a failed login. Every other session ends (its refresh token stops
    /// working); the caller's stays.
    #[oai(path = "/password", method = "put", operation_id = "changePassword")]
    async fn change_password(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<ChangePasswordBody>,
    ) -> Result<Json<MessageReply>, ApiError> {
        let current = required(Field::Password, &body.current_password)?;
        let new_password = Password::parse(required(Field::Password, &body.new_password)?)?;
        // A current password outside the length rules cannot be the right one.
        let current_password = Password::parse(current)
            .map_err(|_| ApiError::new(ErrorCode::WrongPassword, "the current password is wrong"))?;
        self.state
            .session
            .change_password(ChangePasswordCmd {
                user_id: auth.0.sub,
                current_password,
                new_password,
                keep_session: auth.0.sid,
                client: client_address(req, &self.state.trusted_proxies),
            })
            .await?;
        Ok(Json(MessageReply {
            message: "password changed".to_string(),
        }))
    }

    /// The caller's sessions that are still signed in, newest first.
    #[oai(path = "/sessions", method = "get", operation_id = "listSessions")]
    async fn sessions(&self, auth: BearerAuth) -> Result<Json<SessionListReply>, ApiError> {
        let sessions = self.state.session.sessions(auth.0.sub).await?;
        Ok(Json(SessionListReply {
            sessions: sessions.into_iter().map(|s| session_reply(s, auth.0.sid)).collect(),
        }))
    }

    /// End one of the caller's sessions: its refresh token stops working.
    #[oai(path = "/sessions/:session_id", method = "delete", operation_id = "revokeSession")]
    async fn revoke_session(
        &self,
        auth: BearerAuth,
        session_id: Path<UuidText>,
    ) -> Result<Json<MessageReply>, ApiError> {
        // A malformed id names no session: 404, like an unknown one.
        let session_id =
            strict_uuid(&session_id).ok_or_else(|| ApiError::new(ErrorCode::SessionNotFound, "no such session"))?;
        self.state
            .session
            .logout(LogoutCmd {
                user_id: auth.0.sub,
                scope: LogoutScope::Session(session_id),
            })
            .await?;
        Ok(Json(MessageReply {
            message: "session ended".to_string(),
        }))
    }

    /// End every session of the caller but the current one.
    #[oai(path = "/sessions", method = "delete", operation_id = "revokeOtherSessions")]
    async fn revoke_other_sessions(&self, auth: BearerAuth) -> Result<Json<MessageReply>, ApiError> {
        self.state
            .session
            .logout(LogoutCmd {
                user_id: auth.0.sub,
                scope: LogoutScope::AllExcept(auth.0.sid),
            })
            .await?;
        Ok(Json(MessageReply {
            message: "other sessions ended".to_string(),
        }))
    }

    /// Check an access token.
    #[oai(path = "/verify", method = "get", operation_id = "verify")]
    async fn verify_get(&self, auth: BearerAuth) -> Result<Json<VerifyReply>, ApiError> {
        Ok(verify_reply(auth))
    }

    /// Check an access token (POST form, as the old services called it).
    #[oai(path = "/verify", method = "post", operation_id = "verifyPost")]
    async fn verify_post(&self, auth: BearerAuth) -> Result<Json<VerifyReply>, ApiError> {
        Ok(verify_reply(auth))
    }
}

fn verify_reply(auth: BearerAuth) -> Json<VerifyReply> {
    Json(VerifyReply {
        valid: true,
        user_id: auth.0.sub,
        username: auth.0.username,
        exp: auth.0.exp,
    })
}
