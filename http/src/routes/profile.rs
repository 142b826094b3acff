//! `/profile/me` and the public `/users/{username}`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use folio_actors::{
    export::ExportView,
    profile::{ProfilePatch, ProfileView, PublicProfile},
    session::{DeleteAccountCmd, Field, Password, ValidationError},
};
use poem::Request;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::{Attachment, AttachmentType, Json},
};
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

/// An account export, as its owner sees it.
#[derive(Debug, Object)]
pub struct ExportReply {
    pub export_id: Uuid,
    /// `running`, `ready`, `failed` or `expired` (ready once; its archive is deleted).
    pub status: String,
    pub requested_at: DateTime<Utc>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
    /// When the link stops working and the archive is deleted.
    #[oai(nullable)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The archive's size, once ready.
    #[oai(nullable)]
    pub size_bytes: Option<u64>,
    #[oai(nullable)]
    pub projects: Option<u32>,
    /// Originals in the archive.
    #[oai(nullable)]
    pub files: Option<u32>,
    /// Why the export failed (or why its last attempt did).
    #[oai(nullable)]
    pub error: Option<String>,
    /// While `ready`: the signed link to the ZIP, valid until `expires_at`; fetch it with
    /// your bearer token.
    #[oai(nullable)]
    pub download_url: Option<String>,
}

impl From<ExportView> for ExportReply {
    fn from(v: ExportView) -> Self {
        Self {
            export_id: v.export_id,
            status: v.status,
            requested_at: v.requested_at,
            completed_at: v.completed_at,
            expires_at: v.expires_at,
            size_bytes: v.size_bytes,
            projects: v.projects,
            files: v.files,
            error: v.error,
            download_url: v.download_url,
        }
    }
}

#[derive(ApiResponse)]
pub enum ExportStarted {
    /// The export is running; `GET /profile/me/export` and the `export.ready` live event
    /// tell when it is ready.
    #[oai(status = 202)]
    Accepted(Json<ExportReply>),
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

    /// Start an export of your account: a ZIP of `profile.json`, `projects.json` and every
    /// original under `media/<project>/<file>`. Answers `202` at once; you hear
    /// `export.ready` on `/events` and see the link here when it is written. One export
    /// of an account runs at a time (`409 export_running`).
    #[oai(path = "/profile/me/export", method = "post", operation_id = "startAccountExport")]
    async fn start_export(&self, auth: BearerAuth) -> Result<ExportStarted, ApiError> {
        Ok(ExportStarted::Accepted(Json(
            self.state.exports.request(auth.0.sub).await?.into(),
        )))
    }

    /// Your newest export: its status, and while it is ready the signed download link
    /// (valid 24 h; the archive is deleted after). `404 export_not_found` before any.
    #[oai(path = "/profile/me/export", method = "get", operation_id = "getAccountExport")]
    async fn export_status(&self, auth: BearerAuth) -> Result<Json<ExportReply>, ApiError> {
        let latest = self.state.exports.latest(auth.0.sub).await?;
        latest
            .map(|view| Json(view.into()))
            .ok_or_else(|| ApiError::new(ErrorCode::ExportNotFound, "you have not asked for an export"))
    }

    /// The export's ZIP (`application/zip`), streamed. The link from
    /// `GET /profile/me/export` is signed for you and this export, and expires; it needs
    /// your bearer token too. `403 invalid_export_link` for a link not signed for you,
    /// `403 link_expired` past its expiry, `404 export_not_found` for an archive that is
    /// gone.
    #[oai(
        path = "/profile/me/export/:export_id/archive",
        method = "get",
        operation_id = "downloadAccountExport"
    )]
    async fn export_archive(
        &self,
        auth: BearerAuth,
        export_id: Path<Uuid>,
        /// Unix seconds, as in the signed link.
        expires: Query<i64>,
        /// Hex, as in the signed link.
        signature: Query<JsonText<128>>,
    ) -> Result<Attachment<poem::Body>, ApiError> {
        use futures::TryStreamExt as _;
        let stream = self
            .state
            .exports
            .archive(auth.0.sub, export_id.0, expires.0, &signature.0.0)
            .await?;
        let body = poem::Body::from_bytes_stream(stream.body.map_err(std::io::Error::other));
        Ok(Attachment::new(body)
            .attachment_type(AttachmentType::Attachment)
            .filename(format!("folio-export-{}.zip", export_id.0)))
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
