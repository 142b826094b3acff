//! `/search` and `/search/suggest`, answered from the search index.

use chrono::{DateTime, Utc};
use folio_search::{Highlights, MAX_PAGE_SIZE, SearchError, SearchQuery, SuggestionKind};
use poem_openapi::{Enum, Object, OpenApi, param::Query, payload::Json};
use uuid::Uuid;

use crate::{
    EdgeState,
    error::{ApiError, ErrorCode},
    routes::projects::PageSize,
    text::{Bounded, JsonText},
};

/// Search pages are 32-bit in the engines.
type SearchPage = Bounded<1, { u32::MAX as u64 }>;
/// How many tag facets a search may ask for.
type FacetSize = Bounded<0, { folio_search::MAX_FACET_SIZE as u64 }>;

/// Characters `start..end` (Unicode scalar values, end exclusive) of a text.
#[derive(Debug, Object)]
pub struct SpanReply {
    pub start: u64,
    pub end: u64,
}

/// Characters `start..end` of the tag at `tag` in the result's `tags`.
#[derive(Debug, Object)]
pub struct TagSpanReply {
    pub tag: u64,
    pub start: u64,
    pub end: u64,
}

/// Which words of a result matched the query, as character offsets: clients mark
/// them up themselves, so no markup from the index reaches a page.
#[derive(Debug, Object)]
pub struct HighlightsReply {
    pub title: Vec<SpanReply>,
    pub description: Vec<SpanReply>,
    pub tags: Vec<TagSpanReply>,
    /// About 160 characters of the description around its best match (its start when
    /// none); `…` marks a cut.
    pub snippet: String,
    /// The matches within `snippet`.
    pub snippet_spans: Vec<SpanReply>,
}

fn span(s: &folio_search::Span) -> SpanReply {
    SpanReply {
        start: s.start as u64,
        end: s.end as u64,
    }
}

impl From<Highlights> for HighlightsReply {
    fn from(h: Highlights) -> Self {
        HighlightsReply {
            title: h.title.iter().map(span).collect(),
            description: h.description.iter().map(span).collect(),
            tags: h
                .tags
                .iter()
                .map(|t| TagSpanReply {
                    tag: t.tag as u64,
                    start: t.start as u64,
                    end: t.end as u64,
                })
                .collect(),
            snippet: h.snippet,
            snippet_spans: h.snippet_spans.iter().map(span).collect(),
        }
    }
}

/// How many results carry a tag.
#[derive(Debug, Object)]
pub struct FacetReply {
    pub tag: String,
    pub count: u64,
}

#[derive(Debug, Object)]
pub struct SearchResult {
    pub project_id: Uuid,
    pub title: String,
    pub tags: Vec<String>,
    /// Display name: the owner's profile name, else their username.
    pub username: String,
    pub score: f32,
    pub description: String,
    #[oai(nullable)]
    pub thumbnail_url: Option<String>,
    pub user_id: Uuid,
    pub updated_at: DateTime<Utc>,
    pub highlights: HighlightsReply,
}

#[derive(Debug, Object)]
pub struct SearchReply {
    pub results: Vec<SearchResult>,
    pub total: u64,
    /// False when `total` is an estimate: engines count exactly up to a cap (see the
    /// contract). Pages stay stable either way.
    pub total_is_exact: bool,
    pub page: u32,
    pub size: u32,
    pub pages: u64,
    /// The most frequent tags over the whole result set, most frequent first (ties by
    /// tag): `facet_size` of them.
    pub facets: Vec<FacetReply>,
}

/// A person found by `GET /search/users`.
#[derive(Debug, Object)]
pub struct PersonReply {
    pub user_id: Uuid,
    pub username: String,
    /// The profile name, when set.
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub avatar_url: Option<String>,
    /// How many public projects they have.
    pub public_projects: u64,
}

#[derive(Debug, Object)]
pub struct PeopleReply {
    pub results: Vec<PersonReply>,
    pub total: u64,
    /// False past 1 000 matches: `total` is then that cap.
    pub total_is_exact: bool,
    pub page: u32,
    pub size: u32,
    pub pages: u64,
}

/// What a suggestion completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum SuggestionKindReply {
    Title,
    Tag,
}

impl From<SuggestionKind> for SuggestionKindReply {
    fn from(kind: SuggestionKind) -> Self {
        match kind {
            SuggestionKind::Title => Self::Title,
            SuggestionKind::Tag => Self::Tag,
        }
    }
}

#[derive(Debug, Object)]
pub struct SuggestionReply {
    pub text: String,
    pub kind: SuggestionKindReply,
    #[oai(skip_serializing_if_is_none, nullable)]
    pub project_id: Option<Uuid>,
    /// Projects with this tag.
    #[oai(skip_serializing_if_is_none, nullable)]
    pub count: Option<u64>,
}

#[derive(Debug, Object)]
pub struct SuggestReply {
    pub query: String,
    pub suggestions: Vec<SuggestionReply>,
}

impl From<SearchError> for ApiError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::Invalid(message) => ApiError::bad_request(ErrorCode::InvalidQuery, message),
            SearchError::Unavailable(_) => {
                ApiError::new(ErrorCode::SearchUnavailable, "search is unavailable; try again later").caused_by(error)
            }
            SearchError::Internal(_) => ApiError::internal_from(error),
        }
    }
}

pub struct SearchApi {
    pub state: EdgeState,
}

#[OpenApi(tag = "crate::ApiTags::Search")]
impl SearchApi {
    /// Search projects by text (title weighs most, then the owner's name, then the
    /// description) and tags (any of them). An empty query lists the newest first.
    #[oai(path = "/search", method = "get", operation_id = "searchProjects")]
    async fn search(
        &self,
        query: Query<Option<JsonText<500>>>,
        /// Comma-separated; a project with any of them matches.
        tags: Query<Option<JsonText<2000>>>,
        /// From 1 (default 1).
        page: Query<Option<SearchPage>>,
        /// 1 to 100 (default 20).
        size: Query<Option<PageSize>>,
        /// How many tag facets, 0 to 100 (default 20).
        facet_size: Query<Option<FacetSize>>,
    ) -> Result<Json<SearchReply>, ApiError> {
        let page = page.0.map_or(1, |p| p.0);
        let size = size.0.map_or(20, |s| s.0);
        if page < 1 || page > u64::from(u32::MAX) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidPage,
                format!("page must be from 1 to {}", u32::MAX),
            ));
        }
        if !(1..=u64::from(MAX_PAGE_SIZE)).contains(&size) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidSize,
                "size must be between 1 and 100",
            ));
        }
        let facet_size = facet_size
            .0
            .map_or(u64::from(folio_search::DEFAULT_FACET_SIZE), |f| f.0);
        if facet_size > u64::from(folio_search::MAX_FACET_SIZE) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidFacetSize,
                format!("facet_size must be between 0 and {}", folio_search::MAX_FACET_SIZE),
            ));
        }
        let query_text = query.0.map(|q| q.0).unwrap_or_default();
        let tags_text = tags.0.map(|t| t.0).unwrap_or_default();
        if tags_text.chars().count() > 2000 {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidTags,
                "tags must be at most 2000 characters",
            ));
        }
        if query_text.chars().count() > 500 {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                "query must be at most 500 characters",
            ));
        }
        let request = SearchQuery {
            query: query_text,
            tags: tags_text
                .split(',')
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
            page: page as u32,
            size: size as u32,
            facet_size: facet_size as u32,
        };
        let found = self.state.search.engine.search(&request).await?;
        let pages = found.total.div_ceil(u64::from(request.size));
        Ok(Json(SearchReply {
            results: found
                .hits
                .into_iter()
                .map(|hit| SearchResult {
                    project_id: hit.document.project_id,
                    title: hit.document.title,
                    tags: hit.document.tags,
                    username: hit.document.username,
                    score: hit.score,
                    description: hit.document.description,
                    thumbnail_url: hit.document.thumbnail_url,
                    user_id: hit.document.user_id,
                    updated_at: hit.document.updated_at,
                    highlights: hit.highlights.into(),
                })
                .collect(),
            total: found.total,
            total_is_exact: found.total_is_exact,
            page: request.page,
            size: request.size,
            pages,
            facets: found
                .facets
                .into_iter()
                .map(|f| FacetReply {
                    tag: f.tag,
                    count: f.count,
                })
                .collect(),
        }))
    }

    /// Find people by username and profile name: every word of the query is found in
    /// one or the other (case-insensitive). Best first: the username is the query, it
    /// starts with it, the name starts with it, then the most public projects.
    #[oai(path = "/search/users", method = "get", operation_id = "searchUsers")]
    async fn search_users(
        &self,
        query: Query<Option<JsonText<100>>>,
        /// From 1 (default 1).
        page: Query<Option<SearchPage>>,
        /// 1 to 100 (default 20).
        size: Query<Option<PageSize>>,
    ) -> Result<Json<PeopleReply>, ApiError> {
        let query = query.0.map(|q| q.0).unwrap_or_default();
        if query.chars().count() > 100 {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                "query must be at most 100 characters",
            ));
        }
        let page = page.0.map_or(1, |p| p.0);
        let size = size.0.map_or(20, |s| s.0);
        if page < 1 || page > u64::from(u32::MAX) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidPage,
                format!("page must be from 1 to {}", u32::MAX),
            ));
        }
        if !(1..=u64::from(MAX_PAGE_SIZE)).contains(&size) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidSize,
                "size must be between 1 and 100",
            ));
        }
        let found = self.state.profiles.search_people(&query, page, size).await?;
        Ok(Json(PeopleReply {
            results: found
                .people
                .into_iter()
                .map(|p| PersonReply {
                    user_id: p.user_id,
                    username: p.username,
                    name: p.name,
                    avatar_url: p.avatar_url,
                    public_projects: p.public_projects,
                })
                .collect(),
            total: found.total,
            total_is_exact: found.total_is_exact,
            page: page as u32,
            size: size as u32,
            pages: found.total.div_ceil(size),
        }))
    }

    /// Up to 5 title and tag completions of a prefix.
    #[oai(path = "/search/suggest", method = "get", operation_id = "suggest")]
    async fn suggest(&self, query: Query<Option<JsonText<100>>>) -> Result<Json<SuggestReply>, ApiError> {
        let prefix = query.0.map(|q| q.0).unwrap_or_default();
        if prefix.chars().count() > 100 {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                "query must be at most 100 characters",
            ));
        }
        let suggestions = if prefix.trim().is_empty() {
            Vec::new()
        } else {
            self.state.search.engine.suggest(prefix.trim(), 5).await?
        };
        Ok(Json(SuggestReply {
            query: prefix,
            suggestions: suggestions
                .into_iter()
                .map(|s| SuggestionReply {
                    text: s.text,
                    kind: s.kind.into(),
                    project_id: s.project_id,
                    count: s.count,
                })
                .collect(),
        }))
    }
}
