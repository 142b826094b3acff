//! Finding people: `GET /search/users`. Answered from the accounts and profiles
//! themselves, not from the project index, so a rename shows at once and a person with
//! no public project is found too.
//!
//! A person matches when every word of the query is found, as a substring, in their
//! username or profile name (case-insensitive). Ranking, best first: the username is
//! the query; the username starts with it; the name starts with it; then more public
//! projects; then the username. Accounts being deleted are not found.

use std::collections::HashMap;

use folio_entities::{account_deletions, profiles, projects, users};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, ExprTrait, FromQueryResult, JoinType, QueryFilter,
    QuerySelect, RelationDef,
    sea_query::{Expr, Func, LikeExpr, Query},
};
use uuid::Uuid;

use super::ProfileError;
use crate::project::Visibility;

/// Candidates ranked per query; past it `total` is this cap and not exact.
pub const PEOPLE_CAP: u64 = 1_000;
/// Query words considered.
const MAX_WORDS: usize = 5;

/// One person found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonHit {
    pub user_id: Uuid,
    pub username: String,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    pub public_projects: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeoplePage {
    pub people: Vec<PersonHit>,
    pub total: u64,
    /// False when more than [`PEOPLE_CAP`] people matched: `total` is the cap.
    pub total_is_exact: bool,
}

#[derive(Debug, FromQueryResult)]
struct Candidate {
    id: Uuid,
    username: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

/// `%word%`, with the pattern's own characters escaped.
fn containing(word: &str) -> LikeExpr {
    let mut escaped = String::with_capacity(word.len() + 2);
    escaped.push('%');
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    LikeExpr::new(escaped).escape('\\')
}

fn profile_of_user() -> RelationDef {
    users::Entity::belongs_to(profiles::Entity)
        .from(users::Column::Id)
        .to(profiles::Column::UserId)
        .into()
}

/// People matching `query` (see the module), page `page` (from 1) of `size`.
pub async fn search(db: &DatabaseConnection, query: &str, page: u64, size: u64) -> Result<PeoplePage, ProfileError> {
    let words: Vec<String> = query
        .split_whitespace()
        .map(str::to_lowercase)
        .take(MAX_WORDS)
        .collect();
    if words.is_empty() {
        return Ok(PeoplePage {
            people: Vec::new(),
            total: 0,
            total_is_exact: true,
        });
    }
    let mut matching = Condition::all();
    for word in &words {
        matching = matching.add(
            Condition::any()
                .add(
                    Expr::expr(Func::lower(Expr::col((users::Entity, users::Column::Username)))).like(containing(word)),
                )
                .add(
                    Expr::expr(Func::lower(Expr::col((profiles::Entity, profiles::Column::Name))))
                        .like(containing(word)),
                ),
        );
    }
    let being_deleted = Query::select()
        .column(account_deletions::Column::UserId)
        .from(account_deletions::Entity)
        .to_owned();
    let candidates = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .column(users::Column::Username)
        .column_as(profiles::Column::Name, "name")
        .column_as(profiles::Column::AvatarUrl, "avatar_url")
        .join(JoinType::LeftJoin, profile_of_user())
        .filter(matching)
        .filter(users::Column::Id.not_in_subquery(being_deleted))
        .limit(PEOPLE_CAP + 1)
        .into_model::<Candidate>()
        .all(db)
        .await?;
    let total_is_exact = candidates.len() as u64 <= PEOPLE_CAP;
    let candidates: Vec<Candidate> = candidates.into_iter().take(PEOPLE_CAP as usize).collect();
    let counts = public_project_counts(db, &candidates.iter().map(|c| c.id).collect::<Vec<_>>()).await?;
    let whole = words.join(" ");
    let mut ranked: Vec<PersonHit> = candidates
        .into_iter()
        .map(|c| PersonHit {
            public_projects: counts.get(&c.id).copied().unwrap_or(0),
            user_id: c.id,
            username: c.username,
            name: c.name,
            avatar_url: c.avatar_url,
        })
        .collect();
    ranked.sort_by_cached_key(|p| {
        let username = p.username.to_lowercase();
        let name = p.name.as_deref().unwrap_or_default().to_lowercase();
        (
            username != whole,
            !username.starts_with(&whole),
            !name.starts_with(&whole),
            std::cmp::Reverse(p.public_projects),
            username,
        )
    });
    let total = ranked.len() as u64;
    let people = ranked
        .into_iter()
        .skip(page.saturating_sub(1).saturating_mul(size) as usize)
        .take(size as usize)
        .collect();
    Ok(PeoplePage {
        people,
        total,
        total_is_exact,
    })
}

/// Public projects per user, for the users given (one grouped query).
async fn public_project_counts(db: &DatabaseConnection, user_ids: &[Uuid]) -> Result<HashMap<Uuid, u64>, ProfileError> {
    if user_ids.is_empty() {
        return Ok(HashMap::new());
    }
    #[derive(Debug, FromQueryResult)]
    struct Count {
        user_id: Uuid,
        projects: i64,
    }
    let mut counts = HashMap::new();
    for chunk in user_ids.chunks(500) {
        let rows = projects::Entity::find()
            .select_only()
            .column(projects::Column::UserId)
            .column_as(projects::Column::Id.count(), "projects")
            .filter(projects::Column::UserId.is_in(chunk.iter().copied()))
            // Unlisted and private projects are nobody else's business, not even a count.
            .filter(projects::Column::Visibility.eq(Visibility::Public.as_str()))
            .group_by(projects::Column::UserId)
            .into_model::<Count>()
            .all(db)
            .await?;
        counts.extend(
            rows.into_iter()
                .map(|r| (r.user_id, u64::try_from(r.projects).unwrap_or(0))),
        );
    }
    Ok(counts)
}
