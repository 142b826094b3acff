//! `/media/*`: uploads (streamed, capped), metadata, deletion, and the stored bytes.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use folio_actors::{
    media::{self as media_domain, MAX_UPLOAD_BYTES, MediaPatch, MediaView, UploadCmd},
    project::{AltText, Caption, PageRequest, ProjectError, Visibility},
};
use poem::{
    FromRequest, Request, RequestBody, Response, handler,
    http::{HeaderValue, StatusCode, header},
    web::{Data, Multipart, Path as PoemPath},
};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, Enum, ExtractParamOptions, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef},
};
use tokio::io::AsyncReadExt as _;
use uuid::Uuid;

use crate::{
    EdgeState,
    auth::BearerAuth,
    error::{ApiError, ErrorCode},
    routes::{
        auth::MessageReply,
        projects::{PageNumber, PageSize},
    },
    text::{JsonText, UuidText, strict_uuid},
    visibility::{MediaUrls, PUBLIC_MEDIA_MAX_AGE_SECS, grant},
};

/// Where an upload's thumbnail stands: `skipped` when the image is already small
/// enough to be its own thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ThumbnailStatus {
    Pending,
    Ready,
    Failed,
    Skipped,
}

impl From<media_domain::ThumbnailStatus> for ThumbnailStatus {
    fn from(status: media_domain::ThumbnailStatus) -> Self {
        match status {
            media_domain::ThumbnailStatus::Pending => Self::Pending,
            media_domain::ThumbnailStatus::Ready => Self::Ready,
            media_domain::ThumbnailStatus::Failed => Self::Failed,
            media_domain::ThumbnailStatus::Skipped => Self::Skipped,
        }
    }
}

#[derive(Debug, Object)]
pub struct MediaReply {
    pub file_id: Uuid,
    pub filename: String,
    pub original_filename: String,
    pub file_path: String,
    pub file_url: String,
    pub file_size: i64,
    pub mime_type: String,
    #[oai(nullable)]
    pub project_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub thumbnail_status: ThumbnailStatus,
    #[oai(nullable)]
    pub thumbnail_url: Option<String>,
    #[oai(nullable)]
    pub thumbnail_error: Option<String>,
    /// The image's size as displayed (after EXIF orientation); null until its renditions
    /// are made.
    #[oai(nullable)]
    pub width: Option<i32>,
    #[oai(nullable)]
    pub height: Option<i32>,
    /// The image at fixed sizes (longest edge 320, 640, 1280 and 2048 pixels, never
    /// upscaled: an image smaller than a size has its own size as its largest) in WebP
    /// and JPEG, smallest first; empty until made (`thumbnail_status` `ready`).
    pub renditions: Vec<RenditionReply>,
    /// A [thumbhash](https://evanw.github.io/thumbhash/) placeholder (base64) to paint
    /// before anything loads; null until the renditions are made.
    #[oai(nullable)]
    pub thumbhash: Option<String>,
    /// Shown with the image in its project's gallery.
    #[oai(nullable)]
    pub caption: Option<String>,
    /// Text for those who cannot see the image.
    #[oai(nullable)]
    pub alt: Option<String>,
}

/// A rendition's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "lowercase")]
pub enum RenditionFormat {
    Webp,
    Jpeg,
}

impl From<folio_media::RenditionFormat> for RenditionFormat {
    fn from(format: folio_media::RenditionFormat) -> Self {
        match format {
            folio_media::RenditionFormat::Webp => RenditionFormat::Webp,
            folio_media::RenditionFormat::Jpeg => RenditionFormat::Jpeg,
        }
    }
}

/// One size and format of an image.
#[derive(Debug, Clone, Object)]
pub struct RenditionReply {
    /// Pixels, as displayed.
    pub width: u32,
    pub height: u32,
    pub format: RenditionFormat,
    /// Served with the same caching and byte ranges as `file_url`.
    pub url: String,
    /// Size in bytes.
    pub bytes: u64,
}

impl From<folio_actors::media::RenditionView> for RenditionReply {
    fn from(r: folio_actors::media::RenditionView) -> Self {
        Self {
            width: r.width,
            height: r.height,
            format: r.format.into(),
            url: r.url,
            bytes: r.bytes,
        }
    }
}

impl MediaReply {
    /// The file as `urls` writes its URLs.
    pub fn new(m: MediaView, urls: &MediaUrls<'_>) -> Self {
        Self {
            file_id: m.file_id,
            filename: m.filename,
            original_filename: m.original_filename,
            file_path: m.file_path,
            file_url: urls.url(&m.file_url),
            file_size: m.file_size,
            mime_type: m.mime_type,
            project_id: m.project_id,
            created_at: m.created_at,
            thumbnail_status: m.thumbnail_status.into(),
            thumbnail_url: urls.opt(m.thumbnail_url.as_deref()),
            thumbnail_error: m.thumbnail_error,
            width: m.width,
            height: m.height,
            renditions: m
                .renditions
                .into_iter()
                .map(|r| RenditionReply {
                    url: urls.url(&r.url),
                    ..RenditionReply::from(r)
                })
                .collect(),
            thumbhash: m.thumbhash,
            caption: m.caption,
            alt: m.alt,
        }
    }
}

/// The owner's files as they are handed to them: the URLs of a file filed under a
/// project that is not public are signed (a browser's `<img>` sends no bearer). The
/// visibility of each project comes from the project domain's cached views.
pub(crate) struct OwnerMedia<'a> {
    state: &'a EdgeState,
    owner: Uuid,
    signed: std::collections::HashMap<Uuid, bool>,
}

impl<'a> OwnerMedia<'a> {
    pub(crate) fn new(state: &'a EdgeState, owner: Uuid) -> Self {
        Self {
            state,
            owner,
            signed: std::collections::HashMap::new(),
        }
    }

    pub(crate) async fn reply(&mut self, m: MediaView) -> Result<MediaReply, ApiError> {
        let signed = match m.project_id {
            None => false,
            Some(project_id) => match self.signed.get(&project_id) {
                Some(signed) => *signed,
                None => {
                    let signed = match self.state.projects.get(project_id).await {
                        Ok(project) => project.user_id == self.owner && !project.visibility.is_public(),
                        // Being deleted: its images go with it.
                        Err(ProjectError::NotFound) => true,
                        Err(e) => return Err(e.into()),
                    };
                    self.signed.insert(project_id, signed);
                    signed
                }
            },
        };
        let urls = if signed {
            MediaUrls::signed(self.state)
        } else {
            MediaUrls::plain(self.state)
        };
        Ok(MediaReply::new(m, &urls))
    }
}

/// A change to an image: absent or null fields keep their value.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct MediaPatchBody {
    /// At most 2 000 characters; empty removes it.
    #[oai(nullable)]
    pub caption: Option<JsonText<2000>>,
    /// At most 500 characters; empty removes it.
    #[oai(nullable)]
    pub alt: Option<JsonText<500>>,
    /// Another project of yours: the image moves there, to the end of its gallery.
    #[oai(nullable)]
    pub project_id: Option<Uuid>,
}

#[derive(Debug, Object)]
pub struct MediaListReply {
    pub files: Vec<MediaReply>,
    pub page: u64,
    pub size: u64,
    pub total: u64,
}

#[derive(ApiResponse)]
pub enum CreatedMedia {
    #[oai(status = 201)]
    Created(Json<MediaReply>),
}

/// `file` and `project_id`: a form with more parts is refused before they are read.
pub const MAX_FORM_PARTS: usize = 2;
/// The whole form: the file, a project id and the parts' headers.
pub const MAX_FORM_BYTES: usize = MAX_UPLOAD_BYTES + 16 * 1024;

/// The `multipart/form-data` body of an upload: read as a stream by the route (so the
/// caps apply while reading), declared in the OpenAPI document like a typed form.
pub struct UploadForm(Multipart);

impl<'a> ApiExtractor<'a> for UploadForm {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<MetaRequest> {
        let mut file = MetaSchema::new_with_format("string", "binary");
        file.min_length = Some(1);
        file.description = Some("A JPEG, PNG, GIF or WebP image of at most 5 MiB.");
        let mut project_id = MetaSchema::new_with_format("string", "uuid");
        project_id.description = Some("A project of yours the image belongs to.");
        let mut form = MetaSchema::new("object");
        form.properties = vec![
            ("file", MetaSchemaRef::Inline(Box::new(file))),
            ("project_id", MetaSchemaRef::Inline(Box::new(project_id))),
        ];
        form.required = vec!["file"];
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "multipart/form-data",
                schema: MetaSchemaRef::Inline(Box::new(form)),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let is_multipart = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
        if !is_multipart {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the upload must be multipart/form-data",
            )
            .into());
        }
        <Multipart as FromRequest>::from_request(request, body)
            .await
            .map(UploadForm)
    }
}

fn form_too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the form exceeds {MAX_FORM_BYTES} bytes or {MAX_FORM_PARTS} parts"),
    )
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the file exceeds {MAX_UPLOAD_BYTES} bytes"),
    )
}

/// Reads a multipart field, stopping as soon as it passes `cap` or the form's remaining
/// `budget`: nothing beyond either is ever buffered, whether or not the client declared
/// a length.
async fn read_capped(
    field: poem::web::Field,
    cap: usize,
    on_excess: fn() -> ApiError,
    budget: &mut usize,
) -> Result<Bytes, ApiError> {
    let mut reader = Box::pin(field.into_async_read());
    let mut buffer = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = reader
            .read(&mut chunk)
            .await
            .map_err(|e| ApiError::bad_request(ErrorCode::BadMultipart, format!("reading the upload: {e}")))?;
        if n == 0 {
            return Ok(buffer.freeze());
        }
        *budget = budget.checked_sub(n).ok_or_else(form_too_large)?;
        if buffer.len() + n > cap {
            return Err(on_excess());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Bodies up to this size are read to the end even when refused (see [`discard_rest`]).
const DISCARD_LIMIT: usize = 16 * 1024 * 1024;
const DISCARD_TIME: Duration = Duration::from_secs(10);

/// Reads and drops what is left of a refused upload, so the 413 reaches the client.
/// Closing a socket with unread data resets it: a gateway still streaming the body
/// (nginx with `proxy_request_buffering off`) would lose our answer, report its own 502
/// and take this node out of rotation. Bounded in size and time: past the bound the
/// connection is simply closed.
async fn discard_rest(form: &mut Multipart, declared: Option<usize>) {
    if declared.is_some_and(|len| len > DISCARD_LIMIT) {
        return;
    }
    let drain = async {
        let mut left = DISCARD_LIMIT;
        let mut chunk = vec![0u8; 64 * 1024];
        while let Ok(Some(field)) = form.next_field().await {
            let mut reader = Box::pin(field.into_async_read());
            loop {
                match reader.read(&mut chunk).await {
                    Ok(0) => break,
                    Ok(n) if n <= left => left -= n,
                    _ => return,
                }
            }
        }
    };
    let _ = tokio::time::timeout(DISCARD_TIME, drain).await;
}

/// The fields of an upload form that count.
#[derive(Debug)]
pub struct UploadFields {
    /// The bytes and the client's file name.
    pub file: (Bytes, Option<String>),
    pub project_id: Option<Uuid>,
}

/// Reads an upload form as it streams in, within every cap: the file's, each other
/// part's, the number of parts and the whole form's bytes. (The fuzz targets call this
/// too, with arbitrary bodies.)
pub async fn read_upload_form(form: &mut Multipart) -> Result<UploadFields, ApiError> {
    let mut file: Option<(Bytes, Option<String>)> = None;
    let mut project_id = None;
    let mut budget = MAX_FORM_BYTES;
    let mut parts = 0;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(ErrorCode::BadMultipart, e.to_string()))?
    {
        parts += 1;
        if parts > MAX_FORM_PARTS {
            return Err(form_too_large());
        }
        match field.name() {
            Some("file") if file.is_none() => {
                let name = field.file_name().map(str::to_string);
                let bytes = read_capped(field, MAX_UPLOAD_BYTES, too_large, &mut budget).await?;
                file = Some((bytes, name));
            }
            Some("project_id") if project_id.is_none() => {
                let raw = read_capped(field, 128, form_too_large, &mut budget).await?;
                let text = String::from_utf8_lossy(&raw);
                project_id =
                    Some(strict_uuid(&text).ok_or_else(|| {
                        ApiError::bad_request(ErrorCode::InvalidProjectId, "project_id must be a UUID")
                    })?);
            }
            Some(name @ ("file" | "project_id")) => {
                return Err(ApiError::bad_request(
                    ErrorCode::BadMultipart,
                    format!("the form has more than one `{name}`"),
                ));
            }
            other => {
                return Err(ApiError::bad_request(
                    ErrorCode::BadMultipart,
                    format!(
                        "unexpected form field {:?}; the fields are `file` and `project_id`",
                        other.unwrap_or_default()
                    ),
                ));
            }
        }
    }
    let file = file.ok_or_else(|| ApiError::bad_request(ErrorCode::InvalidFile, "the form has no `file` field"))?;
    Ok(UploadFields { file, project_id })
}

fn file_id(raw: &str) -> Result<Uuid, ApiError> {
    strict_uuid(raw).ok_or_else(|| ApiError::new(ErrorCode::MediaNotFound, "media file not found"))
}

pub struct MediaApi {
    pub state: EdgeState,
}

#[OpenApi(tag = "crate::ApiTags::Media")]
impl MediaApi {
    /// Upload an image (multipart form: `file`, optional `project_id`). At most 5 MiB;
    /// JPEG, PNG, GIF or WebP, decided by the content. Its metadata (EXIF with any GPS
    /// position, XMP, IPTC, comments, text chunks) is removed before it is stored, the
    /// image data untouched and the orientation kept; an image whose structure cannot be
    /// followed is refused (400 `unreadable_image`). The thumbnail and the renditions
    /// follow by themselves.
    #[oai(path = "/media/upload", method = "post", operation_id = "uploadMedia")]
    async fn upload(&self, auth: BearerAuth, req: &Request, form: UploadForm) -> Result<CreatedMedia, ApiError> {
        let UploadForm(mut form) = form;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        // Form overhead is small; a declared body far past the cap is refused unread.
        if declared.is_some_and(|len| len > MAX_FORM_BYTES) {
            discard_rest(&mut form, declared).await;
            return Err(too_large());
        }
        let UploadFields {
            file: (bytes, original_filename),
            project_id,
        } = match read_upload_form(&mut form).await {
            Ok(fields) => fields,
            Err(refused) => {
                if refused.status == StatusCode::PAYLOAD_TOO_LARGE {
                    discard_rest(&mut form, declared).await;
                }
                return Err(refused);
            }
        };
        let media = self
            .state
            .media
            .upload(UploadCmd {
                owner: auth.0.sub,
                bytes,
                original_filename,
                project_id,
            })
            .await?;
        let reply = OwnerMedia::new(&self.state, auth.0.sub).reply(media).await?;
        Ok(CreatedMedia::Created(Json(reply)))
    }

    /// Your uploads, newest first.
    #[oai(path = "/media", method = "get", operation_id = "listMedia")]
    async fn list(
        &self,
        auth: BearerAuth,
        /// From 1.
        page: Query<Option<PageNumber>>,
        /// 1 to 100, default 20.
        size: Query<Option<PageSize>>,
    ) -> Result<Json<MediaListReply>, ApiError> {
        let page = PageRequest::parse(page.0.map(|p| p.0), size.0.map(|s| s.0))?;
        let listed = self.state.media.list(auth.0.sub, page).await?;
        let mut owner = OwnerMedia::new(&self.state, auth.0.sub);
        let mut files = Vec::with_capacity(listed.files.len());
        for file in listed.files {
            files.push(owner.reply(file).await?);
        }
        Ok(Json(MediaListReply {
            files,
            page: listed.page,
            size: listed.size,
            total: listed.total,
        }))
    }

    /// One upload's metadata, with its thumbnail's status and URL (owner only).
    #[oai(path = "/media/:file_id", method = "get", operation_id = "getMedia")]
    async fn get(&self, auth: BearerAuth, file_id: Path<UuidText>) -> Result<Json<MediaReply>, ApiError> {
        let media = self.state.media.get(auth.0.sub, self::file_id(&file_id)?).await?;
        Ok(Json(OwnerMedia::new(&self.state, auth.0.sub).reply(media).await?))
    }

    /// Set an image's caption and alt text, or move it to another project of yours (to
    /// the end of that project's gallery). Owner only.
    #[oai(path = "/media/:file_id", method = "patch", operation_id = "updateMedia")]
    async fn update(
        &self,
        auth: BearerAuth,
        file_id: Path<UuidText>,
        body: Json<MediaPatchBody>,
    ) -> Result<Json<MediaReply>, ApiError> {
        let file_id = self::file_id(&file_id)?;
        let patch = MediaPatch {
            caption: body.caption.as_ref().map(|c| Caption::parse(c.as_str())).transpose()?,
            alt: body.alt.as_ref().map(|a| AltText::parse(a.as_str())).transpose()?,
            project_id: body.project_id,
        };
        let media = self.state.media.update(auth.0.sub, file_id, patch).await?;
        Ok(Json(OwnerMedia::new(&self.state, auth.0.sub).reply(media).await?))
    }

    /// Delete an upload, its blob and its thumbnail (owner only).
    #[oai(path = "/media/:file_id", method = "delete", operation_id = "deleteMedia")]
    async fn delete(&self, auth: BearerAuth, file_id: Path<UuidText>) -> Result<Json<MessageReply>, ApiError> {
        self.state.media.delete(auth.0.sub, self::file_id(&file_id)?).await?;
        Ok(Json(MessageReply {
            message: "media deleted".to_string(),
        }))
    }
}

/// Who may have a blob, decided on every request from the project its image is filed
/// under (one read of the file's row by primary key, and the project's cached view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobAccess {
    /// Its project is public, or it is filed under none: anyone, and shared caches.
    Anyone,
    /// Its project is unlisted: anyone who has the URL, but no shared cache (the project
    /// may become private).
    Unlisted,
    /// Its project is private and the URL carries a valid signature until `exp`.
    Signed { exp: i64 },
}

/// `exp` and `sig` of a signed media URL.
fn signature_of(req: &Request) -> Option<(i64, String)> {
    let mut exp = None;
    let mut sig = None;
    for pair in req.uri().query().unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("exp", value)) => exp = value.parse::<i64>().ok(),
            Some(("sig", value)) => sig = Some(value.to_string()),
            _ => {}
        }
    }
    Some((exp?, sig?))
}

async fn blob_access(req: &Request, state: &EdgeState, key: &str) -> Result<BlobAccess, ApiError> {
    let not_found = || ApiError::new(ErrorCode::MediaNotFound, "media file not found");
    let placement = state.media.placement(key).await?.ok_or_else(not_found)?;
    let Some(project_id) = placement.project_id else {
        return Ok(BlobAccess::Anyone);
    };
    let project = match state.projects.get(project_id).await {
        Ok(project) => project,
        // Deleted: its images are on their way out.
        Err(ProjectError::NotFound) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    match project.visibility {
        Visibility::Public => Ok(BlobAccess::Anyone),
        Visibility::Unlisted => Ok(BlobAccess::Unlisted),
        Visibility::Private => {
            let now = chrono::Utc::now().timestamp();
            match signature_of(req) {
                Some((exp, sig)) if exp >= now && state.session.media_url_signature_holds(&grant(key, exp), &sig) => {
                    Ok(BlobAccess::Signed { exp })
                }
                _ => Err(not_found()),
            }
        }
    }
}

/// `GET /media/uploads/…`, `/media/thumbnails/…` and `/media/renditions/…`: the stored
/// bytes, with their content type, a strong ETag (304 on `If-None-Match`) and byte
/// ranges (`Range` → 206, see [`fetch`]), to whoever may see the image's project (see
/// [`blob_access`]; 404 for anyone else). An image anyone may see is cached publicly for
/// an hour; one of an unlisted project privately; one of a private project (a signed
/// URL) privately until its signature expires. An error is `no-store`.
#[handler]
pub async fn serve_blob(
    req: &Request,
    PoemPath((prefix, user, name)): PoemPath<(String, String, String)>,
    state: Data<&EdgeState>,
) -> Response {
    let key = format!("{prefix}/{user}/{name}");
    let access = blob_access(req, &state, &key).await;
    let cached = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut response = match (&access, cached) {
        (Err(e), _) => e.as_response_owned(),
        (Ok(_), Some(cached)) => match state.media.blob_meta(&key).await {
            Ok(meta) if crate::etag::matches(&cached, &meta.etag) => Response::builder()
                .status(StatusCode::NOT_MODIFIED)
                .header(header::ETAG, meta.etag)
                .finish(),
            Ok(_) => fetch(req, &state, &key).await,
            Err(e) => ApiError::from(e).as_response_owned(),
        },
        (Ok(_), None) => fetch(req, &state, &key).await,
    };
    // Only a blob that exists may be kept; an error (a 404 for a name not there yet or
    // not for this caller, a 503 while storage is down) must not be kept by a CDN.
    let found = matches!(
        response.status(),
        StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
    );
    let cache_control = match access {
        Ok(BlobAccess::Anyone) if found => format!("public, max-age={PUBLIC_MEDIA_MAX_AGE_SECS}"),
        Ok(BlobAccess::Unlisted) if found => format!("private, max-age={PUBLIC_MEDIA_MAX_AGE_SECS}"),
        Ok(BlobAccess::Signed { exp }) if found => {
            let left = (exp - chrono::Utc::now().timestamp()).clamp(0, PUBLIC_MEDIA_MAX_AGE_SECS);
            format!("private, max-age={left}")
        }
        _ => "no-store".to_string(),
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&cache_control) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The blob, whole (200) or the one byte range asked for (206 with `Content-Range`; 416
/// when it starts past the end). An `If-Range` that names another ETag gets the whole
/// body, as RFC 9110 asks.
async fn fetch(req: &Request, state: &EdgeState, key: &str) -> Response {
    let blob = match state.media.blob(key).await {
        Ok(blob) => blob,
        Err(e) => return ApiError::from(e).as_response_owned(),
    };
    let len = blob.bytes.len() as u64;
    let header_text = |name| req.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let if_range_holds = header_text(header::IF_RANGE).is_none_or(|tag| tag.trim() == blob.etag);
    let range = match header_text(header::RANGE) {
        Some(range) if if_range_holds => crate::range::parse(range, len),
        _ => crate::range::RangeRequest::Whole,
    };
    let builder = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, blob.etag);
    match range {
        crate::range::RangeRequest::Whole => builder
            .status(StatusCode::OK)
            .content_type(blob.content_type)
            .body(blob.bytes),
        crate::range::RangeRequest::Part { start, end } => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .content_type(blob.content_type)
            .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"))
            .body(blob.bytes.slice(start as usize..=end as usize)),
        crate::range::RangeRequest::Unsatisfiable => builder
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{len}"))
            .finish(),
    }
}

#[cfg(test)]
mod tests {}
