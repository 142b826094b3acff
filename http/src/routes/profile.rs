//! `/profile/me` and the public `/users/{username}`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use folio_actors::{
    profile::{ProfilePatch, ProfileView, PublicProfile},
    session::{DeleteAccountCmd, Field, Password, ValidationError},
};
use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use crate::{
    EdgeState,
    auth::BearerAuth,
    client_address::client_address,
    error::{ApiError, ErrorCode},
    routes::projects::ProjectReply,
    text::{JsonText, MediaUrlOrEmpty, Present, Required, SocialLinksJson},
    visibility::Viewer,
};

/// The current password confirms that the account holder wants the account gone.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct DeleteAccountBody {
    pub password: Required<JsonText<0, Present>>,
}

#[derive(Debug, Object)]
pub struct DeletionReply {
    pub message: String,
}

#[derive(ApiResponse)]
pub enum DeletionResponse {
    /// The deletion is committed; everything of the account is removed shortly.
    #[oai(status = 202)]
    Accepted(Json<DeletionReply>),
}

/// Social links as replies carry them: names to string values.
pub type SocialLinksReply = BTreeMap<String, String>;

/// The stored links are an object of strings (the write side checks it); a value of
/// another JSON type, which only a hand-edited row could hold, is answered as its JSON
/// text rather than dropped.
fn social_links_reply(stored: serde_json::Value) -> SocialLinksReply {
    match stored {
        serde_json::Value::Object(links) => links
            .into_iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect(),
        _ => SocialLinksReply::new(),
    }
}

#[derive(Debug, Object)]
pub struct ProfileReply {
    pub user_id: Uuid,
    pub username: String,
    pub email: String,
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub bio: Option<String>,
    #[oai(nullable)]
    pub contact: Option<String>,
    /// Link names to values, e.g. `{"github": "alice"}`.
    #[oai(nullable)]
    pub social_links: Option<SocialLinksReply>,
    #[oai(nullable)]
    pub avatar_url: Option<String>,
    #[oai(nullable)]
    pub created_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<ProfileView> for ProfileReply {
    fn from(p: ProfileView) -> Self {
        Self {
            user_id: p.user_id,
            username: p.username,
            email: p.email,
            name: p.name,
            bio: p.bio,
            contact: p.contact,
            social_links: p.social_links.map(social_links_reply),
            avatar_url: p.avatar_url,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Any subset of the fields; absent or null ones keep their value.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ProfileBody {
    #[oai(nullable)]
    pub name: Option<JsonText<100>>,
    #[oai(nullable)]
    pub bio: Option<JsonText<2000>>,
    #[oai(nullable)]
    pub contact: Option<JsonText<200>>,
    /// An object of at most 20 string values named by 1 to 50 characters, e.g.
    /// `{"github": "alice"}`; it replaces the stored links.
    #[oai(nullable)]
    pub social_links: Option<SocialLinksJson>,
    /// An http(s) URL or a path from the root; empty clears it.
    #[oai(nullable)]
    pub avatar_url: Option<JsonText<2048, MediaUrlOrEmpty>>,
}

#[derive(Debug, Object)]
pub struct PublicProfileReply {
    pub user_id: Uuid,
    pub username: String,
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub bio: Option<String>,
    #[oai(nullable)]
    pub contact: Option<String>,
    /// Link names to values, e.g. `{"github": "alice"}`.
    #[oai(nullable)]
    pub social_links: Option<SocialLinksReply>,
    #[oai(nullable)]
    pub avatar_url: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The newest projects (up to 50): the public ones, or all of them when the user
    /// reads their own profile.
    pub projects: Vec<ProjectReply>,
    /// How many projects `projects` is drawn from.
    pub project_count: u64,
}

impl PublicProfileReply {
    fn for_viewer(state: &EdgeState, p: PublicProfile, viewer: Option<Uuid>) -> Self {
        Self {
            user_id: p.user_id,
            username: p.username,
            name: p.name,
            bio: p.bio,
            contact: p.contact,
            social_links: p.social_links.map(social_links_reply),
            avatar_url: p.avatar_url,
            created_at: p.created_at,
            projects: p
                .projects
                .into_iter()
                .map(|project| ProjectReply::for_viewer(state, project, viewer))
                .collect(),
            project_count: p.project_count,
        }
    }
}

pub struct ProfileApi {
    pub state: EdgeState,
}

#[OpenApi(tag = "crate::ApiTags::Profiles")]
impl ProfileApi {
    /// Your account and profile (profile fields are null until you set them).
    #[oai(path = "/profile/me", method = "get", operation_id = "getMyProfile")]
    async fn me(&self, auth: BearerAuth) -> Result<Json<ProfileReply>, ApiError> {
        Ok(Json(self.state.profiles.me(auth.0.sub).await?.into()))
    }

    /// Create or change your profile; publishes `profile.updated`.
    #[oai(path = "/profile/me", method = "put", operation_id = "updateMyProfile")]
    async fn update(&self, auth: BearerAuth, body: Json<ProfileBody>) -> Result<Json<ProfileReply>, ApiError> {
        let patch = ProfilePatch::parse(
            body.name.as_ref().map(JsonText::as_str),
            body.bio.as_ref().map(JsonText::as_str),
            body.contact.as_ref().map(JsonText::as_str),
            body.social_links.as_ref().map(|links| &links.0),
            body.avatar_url.as_ref().map(JsonText::as_str),
        )?;
        Ok(Json(self.state.profiles.update(auth.0.sub, patch).await?.into()))
    }

    /// Delete your account and everything of it: profile, projects, media and their
    /// files, search entries and sessions. The deletion is committed at once (`202`)
    /// and carried out by the domains that hold the data; the username and email stay
    /// refused to new registrations for a while.
    #[oai(path = "/profile/me", method = "delete", operation_id = "deleteAccount")]
    async fn delete_account(
        &self,
        req: &Request,
        auth: BearerAuth,
        body: Json<DeleteAccountBody>,
    ) -> Result<DeletionResponse, ApiError> {
        let password = match body.password.as_ref().map(JsonText::as_str) {
            Some(p) if !p.is_empty() => p,
            _ => return Err(ValidationError::missing(Field::Password).into()),
        };
        // A password outside the length rules cannot be the right one.
        let password = Password::parse(password)
            .map_err(|_| ApiError::new(ErrorCode::WrongPassword, "the current password is wrong"))?;
        self.state
            .session
            .delete_account(DeleteAccountCmd {
                user_id: auth.0.sub,
                password,
                client: client_address(req, &self.state.trusted_proxies),
            })
            .await?;
        Ok(DeletionResponse::Accepted(Json(DeletionReply {
            message: "account deletion started".to_string(),
        })))
    }

    /// A user's public profile (no email) with their newest public projects (all of
    /// them, for the user themself).
    #[oai(path = "/users/:username", method = "get", operation_id = "getPublicProfile")]
    async fn public(&self, viewer: Viewer, username: Path<String>) -> Result<Json<PublicProfileReply>, ApiError> {
        let viewer = viewer.user();
        let profile = self.state.profiles.public(&username, viewer).await?;
        Ok(Json(PublicProfileReply::for_viewer(&self.state, profile, viewer)))
    }
}
