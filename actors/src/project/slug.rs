//! A project's slug: the URL part of its public page (`/@{username}/{slug}`), made from
//! its title, unique among its owner's projects. A rename makes a new slug and keeps the
//! old one as a redirect, so links people shared keep working.

use chrono::Utc;
use folio_entities::{project_slug_redirects, projects, users};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    SqlErr, TransactionTrait, sea_query::OnConflict,
};
use uuid::Uuid;

use super::ProjectError;

/// Longest slug, in characters: long enough to read, short enough for a URL.
pub const MAX_SLUG_CHARS: usize = 80;

/// Suffixes tried (`-2`, `-3`, …) before a project goes by its id alone.
const MAX_SUFFIX: u32 = 50;

/// The slug a title gives: lower-case letters and digits (any script), words joined by
/// one hyphen, at most [`MAX_SLUG_CHARS`]. `None` when nothing is left, or when what is
/// left reads as a UUID (page URLs take ids too, and the id must win).
pub fn slug_of(title: &str) -> Option<String> {
    let mut slug = String::new();
    let mut chars = 0usize;
    let mut pending_hyphen = false;
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if pending_hyphen && !slug.is_empty() {
                if chars + 2 > MAX_SLUG_CHARS {
                    break;
                }
                slug.push('-');
                chars += 1;
            }
            if chars + 1 > MAX_SLUG_CHARS {
                break;
            }
            pending_hyphen = false;
            slug.push(c);
            chars += 1;
        } else {
            pending_hyphen = true;
        }
    }
    (!slug.is_empty() && Uuid::parse_str(&slug).is_err()).then_some(slug)
}

/// `base`, or `base-2`, `base-3`, … : the first that no other project of `owner` has as
/// its slug. A slug only left behind by a rename is free: the project that takes it
/// wins, and its redirect goes.
async fn free_slug<C: ConnectionTrait>(
    db: &C,
    owner: Uuid,
    project_id: Uuid,
    base: &str,
) -> Result<Option<String>, DbErr> {
    for n in 1..=MAX_SUFFIX {
        let candidate = if n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        let taken = projects::Entity::find()
            .select_only()
            .column(projects::Column::Id)
            .filter(projects::Column::UserId.eq(owner))
            .filter(projects::Column::Slug.eq(candidate.as_str()))
            .filter(projects::Column::Id.ne(project_id))
            .into_tuple::<Uuid>()
            .one(db)
            .await?;
        if taken.is_none() {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

/// The slug a new project of `owner` titled `title` gets.
pub(super) async fn for_new<C: ConnectionTrait>(
    db: &C,
    owner: Uuid,
    project_id: Uuid,
    title: &str,
) -> Result<Option<String>, DbErr> {
    let Some(base) = slug_of(title) else { return Ok(None) };
    let slug = free_slug(db, owner, project_id, &base).await?;
    if let Some(slug) = &slug {
        release_redirect(db, owner, slug).await?;
    }
    Ok(slug)
}

/// The slug of a project retitled from `old_title` to `new_title`: unchanged when both
/// titles give the same words (a fixed typo in punctuation keeps the URL), else a new
/// one, with the old one kept as a redirect.
pub(super) async fn for_rename<C: ConnectionTrait>(
    db: &C,
    owner: Uuid,
    project_id: Uuid,
    current: Option<&str>,
    old_title: &str,
    new_title: &str,
) -> Result<Option<String>, DbErr> {
    let new_base = slug_of(new_title);
    if current.is_some() && new_base == slug_of(old_title) {
        return Ok(current.map(str::to_string));
    }
    let slug = match &new_base {
        Some(base) => free_slug(db, owner, project_id, base).await?,
        None => None,
    };
    if slug.as_deref() == current {
        return Ok(slug);
    }
    if let Some(slug) = &slug {
        release_redirect(db, owner, slug).await?;
    }
    if let Some(old) = current {
        project_slug_redirects::Entity::insert(project_slug_redirects::ActiveModel {
            user_id: Set(owner),
            slug: Set(old.to_string()),
            project_id: Set(project_id),
            retired_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::columns([
                project_slug_redirects::Column::UserId,
                project_slug_redirects::Column::Slug,
            ])
            .update_columns([
                project_slug_redirects::Column::ProjectId,
                project_slug_redirects::Column::RetiredAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(slug)
}

/// A slug becomes a project's own again: its old redirect (to whichever project) goes.
async fn release_redirect<C: ConnectionTrait>(db: &C, owner: Uuid, slug: &str) -> Result<(), DbErr> {
    project_slug_redirects::Entity::delete_many()
        .filter(project_slug_redirects::Column::UserId.eq(owner))
        .filter(project_slug_redirects::Column::Slug.eq(slug))
        .exec(db)
        .await?;
    Ok(())
}

/// Two changes raced for one slug: the loser tries again with the next free one.
pub(super) fn is_slug_collision(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Where a page URL's project part leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlugMatch {
    /// The project's current slug.
    Current(Uuid),
    /// A slug the project had before a rename: the page moved.
    Moved(Uuid),
}

/// Slugs remembered at most; past it the cache starts again (a page read is then one
/// database round trip until the slug is seen again).
const SLUG_CACHE_ENTRIES: usize = 10_000;

/// Which project a page URL's slug named, remembered so that reading a page is no
/// database round trip. A hit is never trusted alone: the caller checks it against the
/// project's current view, which every change on every node keeps true.
#[derive(Debug, Default)]
pub struct SlugCache {
    entries: std::sync::Mutex<std::collections::HashMap<(String, String), Uuid>>,
}

impl SlugCache {
    pub fn get(&self, username: &str, slug: &str) -> Option<Uuid> {
        let entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(&(username.to_string(), slug.to_string())).copied()
    }

    pub fn remember(&self, username: &str, slug: &str, project_id: Uuid) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= SLUG_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert((username.to_string(), slug.to_string()), project_id);
    }

    pub fn forget(&self, username: &str, slug: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.remove(&(username.to_string(), slug.to_string()));
    }
}

/// The project `username`'s slug names, now or before a rename.
pub async fn find(db: &DatabaseConnection, username: &str, slug: &str) -> Result<Option<SlugMatch>, ProjectError> {
    let Some(owner) = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::Username.eq(username))
        .into_tuple::<Uuid>()
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let current = projects::Entity::find()
        .select_only()
        .column(projects::Column::Id)
        .filter(projects::Column::UserId.eq(owner))
        .filter(projects::Column::Slug.eq(slug))
        .into_tuple::<Uuid>()
        .one(db)
        .await?;
    if let Some(id) = current {
        return Ok(Some(SlugMatch::Current(id)));
    }
    let moved = project_slug_redirects::Entity::find_by_id((owner, slug.to_string()))
        .one(db)
        .await?;
    Ok(moved.map(|r| SlugMatch::Moved(r.project_id)))
}

/// Gives every project without a slug the one its title makes (projects from before
/// slugs existed), oldest first so the oldest keeps the plain slug. Returns how many
/// got one.
pub async fn backfill(db: &DatabaseConnection) -> Result<u64, ProjectError> {
    const PAGE: u64 = 500;
    let mut given = 0u64;
    let mut after: Option<(chrono::DateTime<Utc>, Uuid)> = None;
    loop {
        let mut query = projects::Entity::find()
            .select_only()
            .columns([
                projects::Column::Id,
                projects::Column::UserId,
                projects::Column::Title,
                projects::Column::CreatedAt,
            ])
            .filter(projects::Column::Slug.is_null())
            .order_by_asc(projects::Column::CreatedAt)
            .order_by_asc(projects::Column::Id)
            .limit(PAGE);
        if let Some((created, id)) = after {
            query = query.filter(
                sea_orm::Condition::any()
                    .add(projects::Column::CreatedAt.gt(created))
                    .add(
                        sea_orm::Condition::all()
                            .add(projects::Column::CreatedAt.eq(created))
                            .add(projects::Column::Id.gt(id)),
                    ),
            );
        }
        let page: Vec<(Uuid, Uuid, String, chrono::DateTime<Utc>)> = query.into_tuple().all(db).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.3, last.0));
        for (id, owner, title, _) in page {
            let txn = db.begin().await?;
            let slug = for_new(&txn, owner, id, &title).await?;
            if slug.is_none() {
                txn.rollback().await?;
                continue;
            }
            // Only if still without one: a rename meanwhile made its own.
            let written = projects::Entity::update_many()
                .col_expr(projects::Column::Slug, sea_orm::sea_query::Expr::value(slug))
                .filter(projects::Column::Id.eq(id))
                .filter(projects::Column::Slug.is_null())
                .exec(&txn)
                .await;
            match written {
                Ok(done) => {
                    txn.commit().await?;
                    given += done.rows_affected;
                }
                Err(e) if is_slug_collision(&e) => txn.rollback().await?,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_become_readable_slugs() {
        assert_eq!(slug_of("Hello, World!").as_deref(), Some("hello-world"));
        assert_eq!(slug_of("  Rust -- & Go  ").as_deref(), Some("rust-go"));
        assert_eq!(slug_of("Café Sörensen").as_deref(), Some("café-sörensen"));
        assert_eq!(slug_of("日本の庭").as_deref(), Some("日本の庭"));
        assert_eq!(slug_of("!!!"), None);
        assert_eq!(slug_of("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"), None);
    }

    #[test]
    fn long_titles_are_cut_within_the_limit() {
        let title = "word ".repeat(40);
        let slug = slug_of(&title).expect("a slug");
        assert!(slug.chars().count() <= MAX_SLUG_CHARS, "{slug}");
        assert!(!slug.ends_with('-'));
        assert!(slug.starts_with("word-word"));
    }
}
