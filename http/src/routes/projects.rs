//! `/projects/*` (the reindex run is in `admin`).

use chrono::{DateTime, Utc};
use folio_actors::{
    project::{
        Description, Link, PageRequest, ProjectDraft, ProjectPatch, ProjectView, Tags, ThumbnailSetter, ThumbnailUrl,
        Title,
    },
    validation::{Field, ValidationError},
};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use uuid::Uuid;

use crate::{
    EdgeState,
    auth::BearerAuth,
    error::{ApiError, ErrorCode},
    routes::auth::MessageReply,
    text::{Bounded, HttpUrl, JsonText, ListOf, MediaUrl, NonBlank, Required, TextRule, UuidText, strict_uuid},
};

#[derive(ApiResponse)]
pub enum ProjectRead {
    /// The project.
    #[oai(status = 200)]
    Found(Json<Box<ProjectReply>>, #[oai(header = "ETag")] String),
    /// Unchanged since the `ETag` given in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

/// `page` as the OpenAPI document declares it (the domain answers past the bounds).
pub type PageNumber = Bounded<1, { folio_actors::project::MAX_PAGE }>;
pub type PageSize = Bounded<1, 100>;

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
    #[oai(nullable)]
    pub link: Option<String>,
    #[oai(nullable)]
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

type TitleText = JsonText<200, NonBlank>;
type TagList = ListOf<JsonText<50, NonBlank>, 20>;
type LinkText = JsonText<2048, HttpUrl>;
type ThumbnailText = JsonText<2048, MediaUrl>;

/// A new project; a missing title is reported by name. Null is as absent.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct NewProjectBody {
    pub title: Required<TitleText>,
    #[oai(nullable)]
    pub description: Option<JsonText<10000>>,
    /// At most 20 tags of at most 50 characters; lower-cased, duplicates dropped.
    #[oai(nullable)]
    pub tags: Option<TagList>,
    /// An http(s) URL.
    #[oai(nullable)]
    pub link: Option<LinkText>,
    /// An http(s) URL or a path from the root.
    #[oai(nullable)]
    pub thumbnail_url: Option<ThumbnailText>,
}

/// A change: an absent or null field keeps its value.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ProjectBody {
    #[oai(nullable)]
    pub title: Option<TitleText>,
    #[oai(nullable)]
    pub description: Option<JsonText<10000>>,
    /// At most 20 tags of at most 50 characters; lower-cased, duplicates dropped.
    #[oai(nullable)]
    pub tags: Option<TagList>,
    #[oai(nullable)]
    pub link: Option<LinkText>,
    #[oai(nullable)]
    pub thumbnail_url: Option<ThumbnailText>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ThumbnailBody {
    pub thumbnail_url: Required<ThumbnailText>,
}

#[derive(ApiResponse)]
pub enum CreatedProject {
    #[oai(status = 201)]
    Created(Json<ProjectReply>),
}

/// A malformed id names no project: 404, like an unknown one.
fn project_id(raw: &str) -> Result<Uuid, ApiError> {
    strict_uuid(raw).ok_or_else(|| ApiError::new(ErrorCode::ProjectNotFound, "project not found"))
}

fn text<const MAX: usize, R: TextRule>(value: &Option<JsonText<MAX, R>>) -> Option<&str> {
    value.as_ref().map(JsonText::as_str)
}

fn tags(value: &Option<TagList>) -> Option<Vec<String>> {
    value.as_ref().map(|tags| tags.0.iter().map(|t| t.0.clone()).collect())
}

fn patch_from(body: &ProjectBody) -> Result<ProjectPatch, ValidationError> {
    Ok(ProjectPatch {
        title: text(&body.title).map(Title::parse).transpose()?,
        description: text(&body.description).map(Description::parse).transpose()?,
        tags: tags(&body.tags).as_deref().map(Tags::parse).transpose()?,
        link: text(&body.link).map(Link::parse).transpose()?,
        thumbnail_url: text(&body.thumbnail_url).map(ThumbnailUrl::parse).transpose()?,
    })
}

pub struct ProjectApi {
    pub state: EdgeState,
}

#[OpenApi(tag = "crate::ApiTags::Projects")]
impl ProjectApi {
    /// Publish a project.
    #[oai(path = "/projects", method = "post", operation_id = "createProject")]
    async fn create(&self, auth: BearerAuth, body: Json<NewProjectBody>) -> Result<CreatedProject, ApiError> {
        let body = body.0;
        let patch = patch_from(&ProjectBody {
            title: body.title.0,
            description: body.description,
            tags: body.tags,
            link: body.link,
            thumbnail_url: body.thumbnail_url,
        })?;
        let draft = ProjectDraft {
            title: patch.title.ok_or_else(|| ValidationError::missing(Field::Title))?,
            description: patch.description.unwrap_or(Description::parse("")?),
            tags: patch.tags.unwrap_or_else(Tags::empty),
            link: patch.link,
            thumbnail_url: patch.thumbnail_url,
        };
        let project = self.state.projects.create(auth.0.sub, draft).await?;
        Ok(CreatedProject::Created(Json(project.into())))
    }

    /// One project, with its owner's username. The `ETag` is the project's version
    /// (every change bumps it, usernames never change); `If-None-Match` with it answers
    /// 304 without a body while the project is unchanged.
    #[oai(path = "/projects/:project_id", method = "get", operation_id = "getProject")]
    async fn get(
        &self,
        project_id: Path<UuidText>,
        /// An `ETag` from an earlier read.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<ProjectRead, ApiError> {
        let project = self.state.projects.get(self::project_id(&project_id)?).await?;
        let etag = format!("\"v{}\"", project.version);
        if if_none_match
            .0
            .as_deref()
            .is_some_and(|tags| crate::etag::matches(tags, &etag))
        {
            return Ok(ProjectRead::NotModified(etag));
        }
        Ok(ProjectRead::Found(Json(Box::new(project.into())), etag))
    }

    /// A user's projects, newest first.
    #[oai(path = "/projects/user/:user_id", method = "get", operation_id = "listUserProjects")]
    async fn list_by_user(
        &self,
        user_id: Path<UuidText>,
        /// From 1.
        page: Query<Option<PageNumber>>,
        /// 1 to 100, default 20.
        size: Query<Option<PageSize>>,
    ) -> Result<Json<ProjectListReply>, ApiError> {
        let user_id = strict_uuid(&user_id)
            .ok_or_else(|| ApiError::bad_request(ErrorCode::InvalidUserId, "user_id must be a UUID"))?;
        let page = PageRequest::parse(page.0.map(|p| p.0), size.0.map(|s| s.0))?;
        let listed = self.state.projects.list_by_user(user_id, page).await?;
        Ok(Json(ProjectListReply {
            projects: listed.projects.into_iter().map(Into::into).collect(),
            page: listed.page,
            size: listed.size,
            total: listed.total,
        }))
    }

    /// Change a project (owner only); absent or null fields keep their value.
    #[oai(path = "/projects/:project_id", method = "put", operation_id = "updateProject")]
    async fn update(
        &self,
        auth: BearerAuth,
        project_id: Path<UuidText>,
        body: Json<ProjectBody>,
    ) -> Result<Json<ProjectReply>, ApiError> {
        let project_id = self::project_id(&project_id)?;
        let patch = patch_from(&body)?;
        let project = self.state.projects.update(auth.0.sub, project_id, patch).await?;
        Ok(Json(project.into()))
    }

    /// Delete a project (owner only).
    #[oai(path = "/projects/:project_id", method = "delete", operation_id = "deleteProject")]
    async fn delete(&self, auth: BearerAuth, project_id: Path<UuidText>) -> Result<Json<MessageReply>, ApiError> {
        self.state
            .projects
            .delete(auth.0.sub, self::project_id(&project_id)?)
            .await?;
        Ok(Json(MessageReply {
            message: "project deleted".to_string(),
        }))
    }

    /// Set a project's thumbnail (owner only).
    #[oai(
        path = "/projects/:project_id/thumbnail",
        method = "put",
        operation_id = "setProjectThumbnail"
    )]
    async fn set_thumbnail(
        &self,
        auth: BearerAuth,
        project_id: Path<UuidText>,
        body: Json<ThumbnailBody>,
    ) -> Result<Json<ProjectReply>, ApiError> {
        let project_id = self::project_id(&project_id)?;
        let url = ThumbnailUrl::parse(
            body.thumbnail_url
                .as_ref()
                .map(JsonText::as_str)
                .ok_or_else(|| ValidationError::missing(Field::ThumbnailUrl))?,
        )?;
        let project = self
            .state
            .projects
            .set_thumbnail(project_id, url, ThumbnailSetter::Owner(auth.0.sub))
            .await?;
        Ok(Json(project.into()))
    }
}
