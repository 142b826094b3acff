//! `/projects/*` (the reindex run is in `admin`).

use chrono::{DateTime, Utc};
use folio_actors::{
    project::{
        Description, Link, PageRequest, ProjectDraft, ProjectPatch, ProjectView, Tags, ThumbnailSetter, ThumbnailUrl,
        Title,
    },
    validation::ValidationError,
};
use poem::http::StatusCode;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use crate::{EdgeState, auth::BearerAuth, error::ApiError, routes::auth::MessageReply};

#[derive(Debug, Object)]
pub struct ProjectReply {
    pub id: Uuid,
    /// Same as `id`; the name the events and search use.
    pub project_id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub link: Option<String>,
    pub thumbnail_url: Option<String>,
    /// Grows with every change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ProjectView> for ProjectReply {
    fn from(p: ProjectView) -> Self {
        Self {
            id: p.id,
            project_id: p.id,
            user_id: p.user_id,
            username: p.username,
            title: p.title,
            description: p.description,
            tags: p.tags,
            link: p.link,
            thumbnail_url: p.thumbnail_url,
            version: p.version,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Object)]
pub struct ProjectListReply {
    pub projects: Vec<ProjectReply>,
    pub page: u64,
    pub size: u64,
    pub total: u64,
}

/// Every field optional: on create a missing title is reported by name; on update an
/// absent or null field keeps its value.
#[derive(Debug, Object)]
pub struct ProjectBody {
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub link: Option<String>,
    pub thumbnail_url: Option<String>,
}

#[derive(Debug, Object)]
pub struct ThumbnailBody {
    pub thumbnail_url: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreatedProject {
    #[oai(status = 201)]
    Created(Json<ProjectReply>),
}

/// A malformed id names no project: 404, like an unknown one.
fn project_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "project_not_found", "project not found"))
}

fn patch_from(body: &ProjectBody) -> Result<ProjectPatch, ValidationError> {
    Ok(ProjectPatch {
        title: body.title.as_deref().map(Title::parse).transpose()?,
        description: body.description.as_deref().map(Description::parse).transpose()?,
        tags: body.tags.as_deref().map(Tags::parse).transpose()?,
        link: body.link.as_deref().map(Link::parse).transpose()?,
        thumbnail_url: body.thumbnail_url.as_deref().map(ThumbnailUrl::parse).transpose()?,
    })
}

pub struct ProjectApi {
    pub state: EdgeState,
}

#[OpenApi(tag = "crate::ApiTags::Projects")]
impl ProjectApi {
    /// Publish a project.
    #[oai(path = "/projects", method = "post")]
    async fn create(&self, auth: BearerAuth, body: Json<ProjectBody>) -> Result<CreatedProject, ApiError> {
        let patch = patch_from(&body)?;
        let draft = ProjectDraft {
            title: patch.title.ok_or_else(|| ValidationError::missing("title"))?,
            description: patch.description.unwrap_or(Description::parse("")?),
            tags: patch.tags.unwrap_or_else(Tags::empty),
            link: patch.link,
            thumbnail_url: patch.thumbnail_url,
        };
        let project = self.state.projects.create(auth.0.sub, draft).await?;
        Ok(CreatedProject::Created(Json(project.into())))
    }

    /// One project, with its owner's username.
    #[oai(path = "/projects/:project_id", method = "get")]
    async fn get(&self, project_id: Path<String>) -> Result<Json<ProjectReply>, ApiError> {
        let project = self.state.projects.get(self::project_id(&project_id)?).await?;
        Ok(Json(project.into()))
    }

    /// A user's projects, newest first.
    #[oai(path = "/projects/user/:user_id", method = "get")]
    async fn list_by_user(
        &self,
        user_id: Path<String>,
        /// From 1.
        page: Query<Option<u64>>,
        /// 1 to 100, default 20.
        size: Query<Option<u64>>,
    ) -> Result<Json<ProjectListReply>, ApiError> {
        let user_id = Uuid::parse_str(&user_id)
            .map_err(|_| ApiError::bad_request("invalid_user_id", "user_id must be a UUID"))?;
        let page = PageRequest::parse(page.0, size.0)?;
        let listed = self.state.projects.list_by_user(user_id, page).await?;
        Ok(Json(ProjectListReply {
            projects: listed.projects.into_iter().map(Into::into).collect(),
            page: listed.page,
            size: listed.size,
            total: listed.total,
        }))
    }

    /// Change a project (owner only); absent or null fields keep their value.
    #[oai(path = "/projects/:project_id", method = "put")]
    async fn update(
        &self,
        auth: BearerAuth,
        project_id: Path<String>,
        body: Json<ProjectBody>,
    ) -> Result<Json<ProjectReply>, ApiError> {
        let project_id = self::project_id(&project_id)?;
        let patch = patch_from(&body)?;
        let project = self.state.projects.update(auth.0.sub, project_id, patch).await?;
        Ok(Json(project.into()))
    }

    /// Delete a project (owner only).
    #[oai(path = "/projects/:project_id", method = "delete")]
    async fn delete(&self, auth: BearerAuth, project_id: Path<String>) -> Result<Json<MessageReply>, ApiError> {
        self.state
            .projects
            .delete(auth.0.sub, self::project_id(&project_id)?)
            .await?;
        Ok(Json(MessageReply {
            message: "project deleted".to_string(),
        }))
    }

    /// Set a project's thumbnail (owner only).
    #[oai(path = "/projects/:project_id/thumbnail", method = "put")]
    async fn set_thumbnail(
        &self,
        auth: BearerAuth,
        project_id: Path<String>,
        body: Json<ThumbnailBody>,
    ) -> Result<Json<ProjectReply>, ApiError> {
        let project_id = self::project_id(&project_id)?;
        let url = ThumbnailUrl::parse(
            body.thumbnail_url
                .as_deref()
                .ok_or_else(|| ValidationError::missing("thumbnail_url"))?,
        )?;
        let project = self
            .state
            .projects
            .set_thumbnail(project_id, url, ThumbnailSetter::Owner(auth.0.sub))
            .await?;
        Ok(Json(project.into()))
    }
}
