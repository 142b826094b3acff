//! `/projects/*` (the reindex run is in `admin`).

use chrono::{DateTime, Utc};
use folio_actors::{
    media::gallery::GalleryItem,
    project::{
        Description, Link, MAX_GALLERY, MediaOrder, PageRequest, ProjectDraft, ProjectError, ProjectPatch, ProjectView,
        Tags, ThumbnailSetter, ThumbnailUrl, Title, Visibility,
    },
    validation::{Field, ValidationError},
};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
};
use uuid::Uuid;

use crate::{
    EdgeState,
    auth::BearerAuth,
    error::{ApiError, ErrorCode},
    routes::{
        auth::MessageReply,
        media::{RenditionReply, ThumbnailStatus},
    },
    text::{Bounded, HttpUrl, JsonText, ListOf, MediaUrl, NonBlank, Required, TextRule, UuidText, strict_uuid},
    visibility::{MediaUrls, Viewer},
};

/// Who sees a project besides its owner: `public` (listed, searched, suggested),
/// `unlisted` (anyone who has its id; never listed, searched or suggested) or `private`
/// (the owner only: a draft).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum VisibilityText {
    Public,
    Unlisted,
    Private,
}

impl From<VisibilityText> for Visibility {
    fn from(v: VisibilityText) -> Self {
        match v {
            VisibilityText::Public => Visibility::Public,
            VisibilityText::Unlisted => Visibility::Unlisted,
            VisibilityText::Private => Visibility::Private,
        }
    }
}

impl From<Visibility> for VisibilityText {
    fn from(v: Visibility) -> Self {
        match v {
            Visibility::Public => VisibilityText::Public,
            Visibility::Unlisted => VisibilityText::Unlisted,
            Visibility::Private => VisibilityText::Private,
        }
    }
}

/// One image of a project's gallery.
#[derive(Debug, Object)]
pub struct GalleryImageReply {
    pub file_id: Uuid,
    pub mime_type: String,
    /// The original (without its metadata).
    pub file_url: String,
    /// Bytes of the original.
    pub file_size: i64,
    /// As displayed; null until the renditions are made.
    #[oai(nullable)]
    pub width: Option<i32>,
    #[oai(nullable)]
    pub height: Option<i32>,
    pub thumbnail_status: ThumbnailStatus,
    #[oai(nullable)]
    pub thumbnail_url: Option<String>,
    /// Smallest first; empty until made.
    pub renditions: Vec<RenditionReply>,
    #[oai(nullable)]
    pub thumbhash: Option<String>,
    #[oai(nullable)]
    pub caption: Option<String>,
    /// Text for those who cannot see the image.
    #[oai(nullable)]
    pub alt: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl GalleryImageReply {
    fn new(item: GalleryItem, urls: &MediaUrls<'_>) -> Self {
        Self {
            file_id: item.file_id,
            mime_type: item.mime_type,
            file_url: urls.url(&item.file_url),
            file_size: item.file_size,
            width: item.width,
            height: item.height,
            thumbnail_status: item.thumbnail_status.into(),
            thumbnail_url: urls.opt(item.thumbnail_url.as_deref()),
            renditions: item
                .renditions
                .into_iter()
                .map(|r| RenditionReply {
                    width: r.width,
                    height: r.height,
                    format: r.format.into(),
                    url: urls.key(&r.key),
                    bytes: r.bytes,
                })
                .collect(),
            thumbhash: item.thumbhash,
            caption: item.caption,
            alt: item.alt,
            created_at: item.created_at,
        }
    }
}

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
    /// The cover.
    #[oai(nullable)]
    pub thumbnail_url: Option<String>,
    /// Grows with every change (the gallery's included).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub visibility: VisibilityText,
    /// The first time the project was public; null while it never was.
    #[oai(nullable)]
    pub published_at: Option<DateTime<Utc>>,
    /// The gallery: the project's images in its owner's order. For the owner of a
    /// project that is not public, the image URLs are signed and expire (read the
    /// project again for fresh ones).
    pub media: Vec<GalleryImageReply>,
}

impl ProjectReply {
    /// The project as `urls` writes its images.
    pub fn new(p: ProjectView, urls: &MediaUrls<'_>) -> Self {
        Self {
            id: p.id,
            project_id: p.id,
            user_id: p.user_id,
            username: p.username,
            title: p.title,
            description: p.description,
            tags: p.tags,
            link: p.link,
            thumbnail_url: urls.opt(p.thumbnail_url.as_deref()),
            version: p.version,
            created_at: p.created_at,
            updated_at: p.updated_at,
            visibility: p.visibility.into(),
            published_at: p.published_at,
            media: p.media.into_iter().map(|m| GalleryImageReply::new(m, urls)).collect(),
        }
    }

    /// The project as `viewer` is shown it.
    pub fn for_viewer(state: &EdgeState, p: ProjectView, viewer: Option<Uuid>) -> Self {
        let urls = MediaUrls::for_view(state, &p, viewer);
        Self::new(p, &urls)
    }
}

/// The `ETag` of a project as one viewer is shown it: its version, and the expiry of
/// its signed image URLs when they are signed.
fn etag_of(project: &ProjectView, urls: &MediaUrls<'_>) -> String {
    match urls.signed_until() {
        Some(exp) => format!("\"v{}.{exp}\"", project.version),
        None => format!("\"v{}\"", project.version),
    }
}

/// The version an `If-Match` names (`"v7"`, or `"v7.<expiry>"` from a signed read);
/// `Ok(None)` for `*`. Anything else names no version of ours: a conflict.
fn version_of_if_match(if_match: &str) -> Result<Option<i64>, ApiError> {
    let conflict = || ApiError::new(ErrorCode::Conflict, "If-Match names no version of this project");
    let tag = if_match.trim();
    if tag == "*" {
        return Ok(None);
    }
    let tag = tag.trim_start_matches("W/").trim_matches('"');
    let digits = tag.strip_prefix('v').ok_or_else(conflict)?;
    let digits = digits.split('.').next().unwrap_or_default();
    digits.parse::<i64>().map(Some).map_err(|_| conflict())
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

/// The gallery's order.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct MediaOrderBody {
    /// Every image of the project, once each, in the order to show them.
    pub file_ids: Required<Vec<Uuid>>,
}

/// A new project; a missing title is reported by name. Null is as absent. Without
/// `visibility` the project is public (listed and searchable), as for the seed's clients.
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
    // A plain reference (no description, not nullable): generators drop a field whose
    // reference poem-openapi wraps in `allOf`. Absent (or null) is public.
    pub visibility: Option<VisibilityText>,
}

/// A change: an absent or null field keeps its value. Making a project public the first
/// time sets `published_at`; making it unlisted or private takes it out of listings and
/// search.
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
    // Making a project public the first time sets `published_at`; making it unlisted or
    // private takes it out of listings and search. A plain reference, as above.
    pub visibility: Option<VisibilityText>,
}

/// The cover: a URL, or one of the project's images (`file_id`); exactly one of them.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ThumbnailBody {
    #[oai(nullable)]
    pub thumbnail_url: Option<ThumbnailText>,
    /// One of the project's images: its thumbnail becomes the cover.
    #[oai(nullable)]
    pub file_id: Option<Uuid>,
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
        visibility: body.visibility.map(Into::into),
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
            visibility: body.visibility,
        })?;
        let draft = ProjectDraft {
            title: patch.title.ok_or_else(|| ValidationError::missing(Field::Title))?,
            description: patch.description.unwrap_or(Description::parse("")?),
            tags: patch.tags.unwrap_or_else(Tags::empty),
            link: patch.link,
            thumbnail_url: patch.thumbnail_url,
            visibility: patch.visibility.unwrap_or_default(),
        };
        let project = self.state.projects.create(auth.0.sub, draft).await?;
        let reply = ProjectReply::for_viewer(&self.state, project, Some(auth.0.sub));
        Ok(CreatedProject::Created(Json(reply)))
    }

    /// One project, with its owner's username and its gallery. A private project is
    /// found by its owner only (404 for anyone else); an unlisted one by anyone with its
    /// id. The `ETag` is the project's version (every change, the gallery's included,
    /// bumps it; usernames never change); `If-None-Match` with it answers 304 without a
    /// body while the project is unchanged.
    #[oai(path = "/projects/:project_id", method = "get", operation_id = "getProject")]
    async fn get(
        &self,
        viewer: Viewer,
        project_id: Path<UuidText>,
        /// An `ETag` from an earlier read.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> Result<ProjectRead, ApiError> {
        let viewer = viewer.user();
        let project = self.state.projects.get(self::project_id(&project_id)?).await?;
        if !project.readable_by(viewer) {
            return Err(ProjectError::NotFound.into());
        }
        let urls = MediaUrls::for_view(&self.state, &project, viewer);
        let etag = etag_of(&project, &urls);
        if if_none_match
            .0
            .as_deref()
            .is_some_and(|tags| crate::etag::matches(tags, &etag))
        {
            return Ok(ProjectRead::NotModified(etag));
        }
        Ok(ProjectRead::Found(
            Json(Box::new(ProjectReply::new(project, &urls))),
            etag,
        ))
    }

    /// A user's projects, newest first: the public ones, or every one of them for the
    /// user themself.
    #[oai(path = "/projects/user/:user_id", method = "get", operation_id = "listUserProjects")]
    async fn list_by_user(
        &self,
        viewer: Viewer,
        user_id: Path<UuidText>,
        /// From 1.
        page: Query<Option<PageNumber>>,
        /// 1 to 100, default 20.
        size: Query<Option<PageSize>>,
    ) -> Result<Json<ProjectListReply>, ApiError> {
        let user_id = strict_uuid(&user_id)
            .ok_or_else(|| ApiError::bad_request(ErrorCode::InvalidUserId, "user_id must be a UUID"))?;
        let page = PageRequest::parse(page.0.map(|p| p.0), size.0.map(|s| s.0))?;
        let viewer = viewer.user();
        let listed = self.state.projects.list_by_user(user_id, page, viewer).await?;
        Ok(Json(ProjectListReply {
            projects: listed
                .projects
                .into_iter()
                .map(|p| ProjectReply::for_viewer(&self.state, p, viewer))
                .collect(),
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
        Ok(Json(ProjectReply::for_viewer(&self.state, project, Some(auth.0.sub))))
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

    /// Set a project's cover (owner only): a URL, or one of its images by `file_id`.
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
        let project = match (&body.thumbnail_url, body.file_id) {
            (Some(url), None) => {
                let url = ThumbnailUrl::parse(url.as_str())?;
                self.state
                    .projects
                    .set_thumbnail(project_id, url, ThumbnailSetter::Owner(auth.0.sub))
                    .await?
            }
            (None, Some(file_id)) => self.state.projects.set_cover(auth.0.sub, project_id, file_id).await?,
            (Some(_), Some(_)) => {
                return Err(
                    ValidationError::new(Field::ThumbnailUrl, "give thumbnail_url or file_id, not both").into(),
                );
            }
            (None, None) => return Err(ValidationError::missing(Field::ThumbnailUrl).into()),
        };
        Ok(Json(ProjectReply::for_viewer(&self.state, project, Some(auth.0.sub))))
    }

    /// Set the order of a project's gallery (owner only): every one of its images, once
    /// each. With `If-Match` (the `ETag` of a read), a project that changed since answers
    /// 409 instead of being reordered.
    #[oai(
        path = "/projects/:project_id/media/order",
        method = "put",
        operation_id = "setProjectMediaOrder"
    )]
    async fn set_media_order(
        &self,
        auth: BearerAuth,
        project_id: Path<UuidText>,
        /// The `ETag` of the read the order was made from.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<MediaOrderBody>,
    ) -> Result<Json<ProjectReply>, ApiError> {
        let project_id = self::project_id(&project_id)?;
        let expected_version = match if_match.0.as_deref() {
            Some(tag) => version_of_if_match(tag)?,
            None => None,
        };
        let ids = body
            .0
            .file_ids
            .0
            .ok_or_else(|| ValidationError::missing(Field::Order))?;
        if ids.len() > MAX_GALLERY {
            return Err(ValidationError::new(Field::Order, format!("at most {MAX_GALLERY} images")).into());
        }
        let order = MediaOrder::parse(ids)?;
        let project = self
            .state
            .projects
            .set_order(auth.0.sub, project_id, order, expected_version)
            .await?;
        Ok(Json(ProjectReply::for_viewer(&self.state, project, Some(auth.0.sub))))
    }
}

#[cfg(test)]
mod tests {
    use super::version_of_if_match;

    #[test]
    fn if_match_names_a_version() {
        assert_eq!(version_of_if_match("\"v7\"").unwrap(), Some(7));
        assert_eq!(version_of_if_match("W/\"v7\"").unwrap(), Some(7));
        // The ETag of a signed read names the same version.
        assert_eq!(version_of_if_match("\"v7.1767225600\"").unwrap(), Some(7));
        assert_eq!(version_of_if_match("*").unwrap(), None);
        for other in ["\"7\"", "\"vx\"", "", "\"abc\""] {
            assert!(version_of_if_match(other).is_err(), "{other}");
        }
    }
}
