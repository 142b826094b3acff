//! What the page templates are given: projects, images and search hits turned into
//! plain values (URLs, text, highlighted parts), so the templates hold no logic.

use base64::Engine as _;
use folio_actors::{
    media::{StoredRendition, gallery::GalleryItem},
    profile::PublicProfile,
    project::{ProjectView, Visibility},
};
use folio_media::{MAX_THUMBHASH_BYTES, RenditionFormat};
use folio_search::{SearchPage, SearchQuery, highlight::Span};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    EdgeState,
    error::{ApiError, ErrorCode},
    visibility::MediaUrls,
};

/// Pages past this are not offered (the API's search has the same kind of bound).
pub const MAX_PAGE: u64 = 1000;
/// Longest query a search page takes, in characters (as the API).
const MAX_QUERY_CHARS: usize = 500;
/// Tag filters a search page takes.
const MAX_TAGS: usize = 10;
/// Tag facets a search page shows.
const FACETS: u32 = 20;
/// The rendition a browser without `srcset` gets, and the one shared as a preview.
const FALLBACK_EDGE: u32 = 640;
const PREVIEW_EDGE: u32 = 1280;

/// `scheme://host[:port]` of a URL, or nothing when it has none.
pub fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        String::new()
    } else {
        format!("{scheme}://{host}")
    }
}

/// A slug, percent-encoded where it is not ASCII.
fn path_segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Where a project's page is: by slug when it is public and has one, else by id (an
/// unlisted page is for those given its link, so its title is not its address).
pub fn project_path(project: &ProjectView) -> String {
    let slug = project
        .slug
        .as_deref()
        .filter(|_| project.visibility == Visibility::Public);
    public_project_path(&project.username, slug, project.id)
}

/// Where a public project's page is: by its slug, or by id when it has none.
pub fn public_project_path(username: &str, slug: Option<&str>, id: Uuid) -> String {
    match slug {
        Some(slug) => format!("/@{username}/{}", path_segment(slug)),
        None => format!("/@{username}/{id}"),
    }
}

/// The thumbhash a placeholder URL carries.
pub fn thumbhash_from_url(encoded: &str) -> Option<Vec<u8>> {
    if encoded.len() > MAX_THUMBHASH_BYTES * 2 {
        return None;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded).ok()
}

/// The placeholder URL of a stored thumbhash (standard base64, as the thumbnailer
/// stores it).
fn placeholder_url(stored: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(stored).ok()?;
    (bytes.len() <= MAX_THUMBHASH_BYTES).then(|| {
        format!(
            "/placeholders/{}.png",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )
    })
}

/// One image as the `picture` macro draws it.
#[derive(Debug, Serialize)]
pub struct Picture {
    src: String,
    srcset: String,
    width: Option<u32>,
    height: Option<u32>,
    alt: String,
    placeholder: Option<String>,
}

/// A preview image for OpenGraph and Twitter cards.
#[derive(Debug, Serialize)]
pub struct PreviewImage {
    url: String,
    width: u32,
    height: u32,
    alt: String,
}

#[derive(Debug, Serialize)]
pub struct OpenGraph {
    kind: &'static str,
    title: String,
    description: String,
    image: Option<PreviewImage>,
}

impl OpenGraph {
    pub fn site(title: &str, description: &str) -> Self {
        Self {
            kind: "website",
            title: title.to_string(),
            description: description.to_string(),
            image: None,
        }
    }
}

/// A project in a grid.
#[derive(Debug, Serialize)]
pub struct Card {
    url: String,
    title: String,
    owner: Option<String>,
    owner_url: Option<String>,
    cover: Option<Picture>,
}

/// A run of text, highlighted or not.
#[derive(Debug, Serialize)]
struct Part {
    text: String,
    mark: bool,
}

/// `text` cut at the highlight spans (character offsets, end exclusive).
fn marked(text: &str, spans: &[Span]) -> Vec<Part> {
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut at = 0usize;
    let mut spans: Vec<Span> = spans.to_vec();
    spans.sort_by_key(|s| s.start);
    for span in spans {
        let (start, end) = (span.start.max(at).min(chars.len()), span.end.min(chars.len()));
        if start >= end {
            continue;
        }
        if start > at {
            parts.push(Part {
                text: chars[at..start].iter().collect(),
                mark: false,
            });
        }
        parts.push(Part {
            text: chars[start..end].iter().collect(),
            mark: true,
        });
        at = end;
    }
    if at < chars.len() {
        parts.push(Part {
            text: chars[at..].iter().collect(),
            mark: false,
        });
    }
    parts
}

/// Paragraphs of a text as its author broke it (blank lines).
fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// A short description for `<meta name="description">` and previews.
fn summary(text: &str) -> String {
    const MAX: usize = 200;
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= MAX {
        return flat;
    }
    let cut: String = flat.chars().take(MAX).collect();
    match cut.rfind(' ') {
        Some(space) => format!("{}…", &cut[..space]),
        None => format!("{cut}…"),
    }
}

/// How the pages of one request write URLs.
pub struct PageLinks<'a> {
    state: &'a EdgeState,
    /// The site's public base (`https://folio.example`), for canonical links.
    base: String,
}

impl<'a> PageLinks<'a> {
    pub fn new(state: &'a EdgeState) -> Self {
        Self {
            state,
            base: state.media.public_url().trim_end_matches('/').to_string(),
        }
    }

    pub fn absolute(&self, path: impl AsRef<str>) -> String {
        format!("{}{}", self.base, path.as_ref())
    }

    /// A media URL as a page writes it: from the root when it is on this site (shorter
    /// pages), as given otherwise.
    fn local(&self, url: String) -> String {
        match url.strip_prefix(&self.base) {
            Some(rest) if rest.starts_with('/') => rest.to_string(),
            _ => url,
        }
    }

    fn rendition_url(&self, urls: &MediaUrls<'_>, rendition: &StoredRendition) -> String {
        self.local(urls.key(&rendition.key))
    }

    /// An image with its `srcset` over the WebP renditions, a JPEG for browsers without
    /// `srcset`, its size (so nothing shifts as it loads) and its placeholder.
    fn picture(&self, item: &GalleryItem, urls: &MediaUrls<'_>, alt: String) -> Picture {
        let webp: Vec<&StoredRendition> = item
            .renditions
            .iter()
            .filter(|r| r.format == RenditionFormat::Webp)
            .collect();
        let srcset = webp
            .iter()
            .map(|r| format!("{} {}w", self.rendition_url(urls, r), r.width))
            .collect::<Vec<_>>()
            .join(", ");
        let jpegs = || item.renditions.iter().filter(|r| r.format == RenditionFormat::Jpeg);
        let fallback = jpegs()
            .rfind(|r| r.width.max(r.height) <= FALLBACK_EDGE)
            .or_else(|| jpegs().next());
        let src = match fallback {
            Some(r) => self.rendition_url(urls, r),
            None => self.local(urls.url(&item.file_url)),
        };
        let largest = item.renditions.iter().max_by_key(|r| r.width);
        let size = match (item.width, item.height, largest) {
            (Some(w), Some(h), _) if w > 0 && h > 0 => Some((w as u32, h as u32)),
            (_, _, Some(r)) => Some((r.width, r.height)),
            _ => None,
        };
        Picture {
            src,
            srcset,
            width: size.map(|s| s.0),
            height: size.map(|s| s.1),
            alt,
            placeholder: item.thumbhash.as_deref().and_then(placeholder_url),
        }
    }

    /// What an image says to someone who cannot see it: its alt text, else its caption,
    /// else where it is.
    fn alt_of(item: &GalleryItem, project: &ProjectView, position: usize) -> String {
        item.alt
            .clone()
            .filter(|a| !a.trim().is_empty())
            .or_else(|| item.caption.clone().filter(|c| !c.trim().is_empty()))
            .unwrap_or_else(|| format!("Image {} of {}", position + 1, project.title))
    }

    /// The project's cover among its images: the one chosen, else the first.
    fn cover_item(project: &ProjectView) -> Option<(usize, &GalleryItem)> {
        let chosen = project.thumbnail_url.as_deref().and_then(|cover| {
            project
                .media
                .iter()
                .enumerate()
                .find(|(_, i)| i.thumbnail_url.as_deref() == Some(cover) || i.file_url == cover)
        });
        chosen.or_else(|| project.media.iter().enumerate().find(|(_, i)| !i.renditions.is_empty()))
    }

    fn preview(&self, project: &ProjectView, urls: &MediaUrls<'_>) -> Option<PreviewImage> {
        let (position, item) = Self::cover_item(project)?;
        let jpegs = || item.renditions.iter().filter(|r| r.format == RenditionFormat::Jpeg);
        let best = jpegs()
            .rfind(|r| r.width.max(r.height) <= PREVIEW_EDGE)
            .or_else(|| jpegs().next())?;
        Some(PreviewImage {
            url: urls.key(&best.key),
            width: best.width,
            height: best.height,
            alt: Self::alt_of(item, project, position),
        })
    }

    /// A project in a grid; `viewer` only decides how its image URLs are written.
    pub fn card(&self, project: &ProjectView, viewer: Option<Uuid>) -> Card {
        let urls = MediaUrls::for_view(self.state, project, viewer);
        Card {
            url: project_path(project),
            title: project.title.clone(),
            owner: Some(project.username.clone()),
            owner_url: Some(format!("/@{}", project.username)),
            cover: Self::cover_item(project)
                .map(|(position, item)| self.picture(item, &urls, Self::alt_of(item, project, position))),
        }
    }

    pub fn profile_context(&self, profile: &PublicProfile, asset_version: &str) -> minijinja::Value {
        #[derive(Serialize)]
        struct Link {
            label: String,
            url: String,
        }
        let name = profile
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| profile.username.clone());
        let links: Vec<Link> = profile
            .social_links
            .as_ref()
            .and_then(|v| v.as_object())
            .map(|links| {
                links
                    .iter()
                    .filter_map(|(label, url)| {
                        let url = url.as_str()?;
                        (url.starts_with("https://") || url.starts_with("http://")).then(|| Link {
                            label: label.clone(),
                            url: url.to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let cards: Vec<Card> = profile
            .projects
            .iter()
            .filter(|p| p.visibility.is_public())
            .map(|p| Card {
                owner: None,
                owner_url: None,
                ..self.card(p, None)
            })
            .collect();
        let bio = profile.bio.as_deref().map(paragraphs).unwrap_or_default();
        let description = profile
            .bio
            .as_deref()
            .map(summary)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("{name}'s portfolio on Folio."));
        let path = format!("/@{}", profile.username);
        minijinja::context! {
            name,
            username => profile.username,
            bio,
            contact => profile.contact,
            links,
            cards,
            project_count => profile.project_count,
            canonical => self.absolute(&path),
            og => OpenGraph {
                kind: "profile",
                title: format!("{name} (@{})", profile.username),
                description: description.clone(),
                image: profile.projects.iter().find(|p| p.visibility.is_public()).and_then(|p| self.preview(p, &MediaUrls::plain(self.state))),
            },
            description,
            asset_version,
        }
    }

    pub fn project_context(
        &self,
        project: &ProjectView,
        owner_name: &str,
        urls: &MediaUrls<'_>,
        asset_version: &str,
    ) -> minijinja::Value {
        #[derive(Serialize)]
        struct Image {
            page: String,
            picture: Picture,
            caption: Option<String>,
        }
        #[derive(Serialize)]
        struct Tag {
            tag: String,
            url: String,
        }
        let path = project_path(project);
        let images: Vec<Image> = project
            .media
            .iter()
            .enumerate()
            .map(|(position, item)| Image {
                page: format!("{path}/images/{}", item.file_id),
                picture: self.picture(item, urls, Self::alt_of(item, project, position)),
                caption: item.caption.clone().filter(|c| !c.trim().is_empty()),
            })
            .collect();
        let tags: Vec<Tag> = project
            .tags
            .iter()
            .map(|t| Tag {
                tag: t.clone(),
                url: format!("/search?tag={}", path_segment(t)),
            })
            .collect();
        let description = summary(&project.description);
        let published = project.published_at.unwrap_or(project.created_at);
        minijinja::context! {
            title => project.title,
            username => project.username,
            owner_name,
            paragraphs => paragraphs(&project.description),
            link => project.link,
            link_label => project.link.as_deref().map(|l| l.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/')),
            tags,
            images,
            published => project.visibility.is_public().then(|| published.to_rfc3339()),
            published_day => published.format("%-d %B %Y").to_string(),
            visibility => project.visibility.as_str(),
            canonical => self.absolute(&path),
            noindex => !project.visibility.is_public(),
            og => OpenGraph {
                kind: "article",
                title: project.title.clone(),
                description: if description.is_empty() { format!("{} by {owner_name}", project.title) } else { description.clone() },
                image: self.preview(project, urls),
            },
            description,
            asset_version,
        }
    }

    /// The page of one image of `project`; `None` when it is not one of them.
    pub fn image_context(
        &self,
        project: &ProjectView,
        file_id: Uuid,
        owner_name: &str,
        urls: &MediaUrls<'_>,
        asset_version: &str,
    ) -> Option<minijinja::Value> {
        let position = project.media.iter().position(|i| i.file_id == file_id)?;
        let item = &project.media[position];
        let path = project_path(project);
        let page_of = |i: usize| project.media.get(i).map(|m| format!("{path}/images/{}", m.file_id));
        let alt = Self::alt_of(item, project, position);
        let heading = item
            .caption
            .clone()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| format!("Image {} of {}", position + 1, project.media.len()));
        let preview = self.preview(project, urls);
        Some(minijinja::context! {
            heading,
            title => project.title,
            username => project.username,
            owner_name,
            picture => self.picture(item, urls, alt),
            caption => item.caption.clone().filter(|c| !c.trim().is_empty()),
            original => self.local(urls.url(&item.file_url)),
            project_url => path,
            prev => position.checked_sub(1).and_then(page_of),
            next => page_of(position + 1),
            canonical => self.absolute(format!("{path}/images/{file_id}")),
            noindex => !project.visibility.is_public(),
            og => OpenGraph {
                kind: "article",
                title: format!("{} · {}", project.title, position + 1),
                description: summary(&project.description),
                image: preview,
            },
            asset_version,
        })
    }

    pub async fn search_context(&self, form: &SearchForm, found: SearchPage, asset_version: &str) -> minijinja::Value {
        #[derive(Serialize)]
        struct TagPart {
            url: String,
            parts: Vec<Part>,
        }
        #[derive(Serialize)]
        struct Hit {
            url: String,
            title: Vec<Part>,
            owner: String,
            owner_url: String,
            snippet: Vec<Part>,
            tags: Vec<TagPart>,
            cover: Option<Picture>,
        }
        #[derive(Serialize)]
        struct Facet {
            tag: String,
            count: u64,
            url: String,
        }
        #[derive(Serialize)]
        struct Chosen {
            tag: String,
            remove: String,
        }
        // The projects behind the hits, from the same views the API reads: for their
        // page address, their owner's handle and their cover's renditions.
        let views = futures::future::join_all(
            found
                .hits
                .iter()
                .map(|hit| self.state.projects.get(hit.document.project_id)),
        )
        .await;
        let hits: Vec<Hit> = found
            .hits
            .iter()
            .zip(views)
            .filter_map(|(hit, view)| {
                // The index may trail a change for a moment; the view decides.
                let project = view.ok().filter(|p| p.visibility.is_public())?;
                let h = &hit.highlights;
                Some(Hit {
                    url: project_path(&project),
                    title: marked(&hit.document.title, &h.title),
                    owner: project.username.clone(),
                    owner_url: format!("/@{}", project.username),
                    snippet: marked(&h.snippet, &h.snippet_spans),
                    tags: hit
                        .document
                        .tags
                        .iter()
                        .enumerate()
                        .map(|(i, tag)| {
                            let spans: Vec<Span> = h
                                .tags
                                .iter()
                                .filter(|s| s.tag == i)
                                .map(|s| Span {
                                    start: s.start,
                                    end: s.end,
                                })
                                .collect();
                            TagPart {
                                url: format!("/search?tag={}", path_segment(tag)),
                                parts: marked(tag, &spans),
                            }
                        })
                        .collect(),
                    cover: Self::cover_item(&project).map(|(position, item)| {
                        self.picture(
                            item,
                            &MediaUrls::plain(self.state),
                            Self::alt_of(item, &project, position),
                        )
                    }),
                })
            })
            .collect();
        let facets: Vec<Facet> = found
            .facets
            .iter()
            .filter(|f| !form.tags.contains(&f.tag))
            .map(|f| Facet {
                tag: f.tag.clone(),
                count: f.count,
                url: form.url_with_tags(form.tags.iter().chain(std::iter::once(&f.tag)), 1),
            })
            .collect();
        let tags: Vec<Chosen> = form
            .tags
            .iter()
            .map(|t| Chosen {
                tag: t.clone(),
                remove: form.url_with_tags(form.tags.iter().filter(|other| *other != t), 1),
            })
            .collect();
        let pages = found.total.div_ceil(u64::from(form.size.max(1)));
        let total_text = match (found.total, found.total_is_exact) {
            (0, _) => "No public projects match.".to_string(),
            (1, true) => "1 project".to_string(),
            (n, true) => format!("{n} projects"),
            (n, false) => format!("About {n} projects"),
        };
        minijinja::context! {
            q => form.text,
            tags,
            hits,
            facets,
            total_text,
            prev_page => (form.page > 1).then(|| form.url_with_tags(form.tags.iter(), form.page - 1)),
            next_page => (form.page < pages.min(MAX_PAGE)).then(|| form.url_with_tags(form.tags.iter(), form.page + 1)),
            noindex => true,
            description => "Search public projects on Folio.",
            asset_version,
        }
    }
}

/// What a search page asks: words, tags (each a filter, any of them matches, as the
/// API's `tags`) and a page.
#[derive(Debug, Clone)]
pub struct SearchForm {
    text: String,
    tags: Vec<String>,
    page: u64,
    size: u32,
}

impl SearchForm {
    pub fn parse(pairs: &[(String, String)], page: u64) -> Result<Self, ApiError> {
        let text = pairs
            .iter()
            .find(|(k, _)| k == "q")
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                format!("A search is at most {MAX_QUERY_CHARS} characters."),
            ));
        }
        let mut tags: Vec<String> = Vec::new();
        for (_, tag) in pairs.iter().filter(|(k, _)| k == "tag") {
            let tag = tag.trim().to_lowercase();
            if tag.is_empty() || tags.contains(&tag) {
                continue;
            }
            if tag.chars().count() > 50 || tags.len() == MAX_TAGS {
                return Err(ApiError::bad_request(
                    ErrorCode::InvalidTags,
                    format!("At most {MAX_TAGS} tags of at most 50 characters each."),
                ));
            }
            tags.push(tag);
        }
        Ok(Self {
            text,
            tags,
            page,
            size: 24,
        })
    }

    pub fn query(&self, size: u32) -> SearchQuery {
        SearchQuery {
            query: self.text.clone(),
            tags: self.tags.clone(),
            page: self.page as u32,
            size,
            facet_size: FACETS,
        }
    }

    /// This search with other tags, at `page`.
    fn url_with_tags<'t>(&self, tags: impl Iterator<Item = &'t String>, page: u64) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if !self.text.is_empty() {
            query.append_pair("q", &self.text);
        }
        for tag in tags {
            query.append_pair("tag", tag);
        }
        if page > 1 {
            query.append_pair("page", &page.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            "/search".to_string()
        } else {
            format!("/search?{query}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_cut_text_by_characters() {
        let parts = marked("Café au lait", &[Span { start: 0, end: 4 }, Span { start: 8, end: 12 }]);
        let text: Vec<(&str, bool)> = parts.iter().map(|p| (p.text.as_str(), p.mark)).collect();
        assert_eq!(text, vec![("Café", true), (" au ", false), ("lait", true)]);
        // Spans past the end or overlapping never panic or repeat text.
        let parts = marked("abc", &[Span { start: 1, end: 9 }, Span { start: 0, end: 2 }]);
        let joined: String = parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, "abc");
    }

    #[test]
    fn origins_and_summaries() {
        assert_eq!(origin_of("http://127.0.0.1:8080/x"), "http://127.0.0.1:8080");
        assert_eq!(origin_of("https://cdn.example"), "https://cdn.example");
        assert_eq!(origin_of("/relative"), "");
        let long = "word ".repeat(100);
        let s = summary(&long);
        assert!(s.chars().count() <= 201 && s.ends_with('…'), "{s}");
        assert_eq!(paragraphs("one\n\n\ntwo\n"), vec!["one", "two"]);
    }

    #[test]
    fn placeholder_urls_round_trip() {
        let stored = base64::engine::general_purpose::STANDARD.encode([1u8, 2, 3, 250, 251, 252]);
        let url = placeholder_url(&stored).expect("a URL");
        let encoded = url
            .strip_prefix("/placeholders/")
            .and_then(|u| u.strip_suffix(".png"))
            .expect("the shape");
        assert_eq!(thumbhash_from_url(encoded), Some(vec![1, 2, 3, 250, 251, 252]));
        assert_eq!(thumbhash_from_url(&"A".repeat(500)), None);
    }

    #[test]
    fn search_urls_keep_the_words_and_change_the_tags() {
        let pairs = vec![
            ("q".to_string(), "red boat".to_string()),
            ("tag".to_string(), "Sea".to_string()),
            ("tag".to_string(), "sea".to_string()),
        ];
        let form = SearchForm::parse(&pairs, 1).expect("a form");
        assert_eq!(form.tags, vec!["sea"]);
        let more = "sail".to_string();
        assert_eq!(
            form.url_with_tags(form.tags.iter().chain(std::iter::once(&more)), 1),
            "/search?q=red+boat&tag=sea&tag=sail"
        );
        assert_eq!(form.url_with_tags(std::iter::empty(), 2), "/search?q=red+boat&page=2");
        let long = vec![("q".to_string(), "x".repeat(501))];
        assert!(SearchForm::parse(&long, 1).is_err());
    }
}
