//! `/search` and `/search/suggest`, answered from the search index.

use chrono::{DateTime, Utc};
use folio_search::{MAX_PAGE_SIZE, SearchError, SearchQuery, SuggestionKind};
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
}

#[derive(Debug, Object)]
pub struct SearchReply {
    pub results: Vec<SearchResult>,
    pub total: u64,
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
                })
                .collect(),
            total: found.total,
            page: request.page,
            size: request.size,
            pages,
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
