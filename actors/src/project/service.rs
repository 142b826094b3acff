//! The project domain's database work. Every change and its event commit together.

use chrono::Utc;
use folio_entities::{projects, users};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use std::collections::{HashMap, HashSet};

use super::{
    ProjectError, ProjectPage, ProjectView, ThumbnailSetter,
    domain::*,
    slug, view_keeper,
    views::{ProjectViews, ViewNotice},
};
use crate::{
    events::{DomainEvent, ProjectChanged, ProjectDeleted, append_event, outbox::OutboxSignal},
    media::gallery::{self, GalleryItem},
    validation::{Field, ValidationError},
};

pub struct ProjectContext {
    pub db: DatabaseConnection,
    /// For reads outside a transaction (a pool of its own on SQLite; see the node's startup).
    pub reads: DatabaseConnection,
    pub outbox: OutboxSignal,
    /// Current views for reads; every commit here keeps them true.
    pub views: std::sync::Arc<ProjectViews>,
}

impl ProjectContext {
    /// A change this node committed: its view replaces the cached one here, and every
    /// node drops older views of the project.
    fn changed(&self, project: &ProjectView) {
        self.views.committed(project);
        view_keeper::tell_every_node(ViewNotice {
            project_id: project.id,
            version: project.version,
            deleted: false,
        });
    }

    fn deleted(&self, project_id: Uuid, version: i64) {
        let notice = ViewNotice {
            project_id,
            version,
            deleted: true,
        };
        self.views.notice(notice);
        view_keeper::tell_every_node(notice);
    }
}

fn tags_of(model: &projects::Model) -> Vec<String> {
    serde_json::from_value(model.tags.clone()).unwrap_or_default()
}

/// Now, as the databases store it (microseconds), so a view this node commits reads the
/// same as the row other nodes read back.
fn stored_now() -> chrono::DateTime<Utc> {
    use chrono::SubsecRound as _;
    Utc::now().trunc_subsecs(6)
}

/// The stored order of the gallery (an unreadable one reads as none: upload order).
fn stored_order(model: &projects::Model) -> Vec<Uuid> {
    model
        .media_order
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// The images in the owner's order: those the order names, in its order, then every
/// other one (uploads since the order was set) in upload order. An image deleted or
/// moved away is simply not there, so its gap closes by itself.
fn arrange(mut images: Vec<GalleryItem>, order: &[Uuid]) -> Vec<GalleryItem> {
    let position: HashMap<Uuid, usize> = order.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    // Stable: images outside the order keep their upload order at the end.
    images.sort_by_key(|item| position.get(&item.file_id).copied().unwrap_or(usize::MAX));
    images
}

fn view(model: projects::Model, username: String, images: Vec<GalleryItem>) -> ProjectView {
    let media = arrange(images, &stored_order(&model));
    ProjectView {
        tags: tags_of(&model),
        visibility: Visibility::from_stored(&model.visibility),
        published_at: model.published_at,
        media,
        id: model.id,
        user_id: model.user_id,
        username,
        slug: model.slug,
        title: model.title,
        description: model.description,
        link: model.link,
        thumbnail_url: model.thumbnail_url,
        version: model.version,
        created_at: model.created_at,
        updated_at: model.updated_at,
    }
}

async fn gallery_of<C: ConnectionTrait>(db: &C, project_id: Uuid) -> Result<Vec<GalleryItem>, ProjectError> {
    Ok(gallery::images_of(db, &[project_id])
        .await?
        .remove(&project_id)
        .unwrap_or_default())
}

/// The seed's `project.created|updated` payload.
pub fn event_data(project: &ProjectView) -> ProjectChanged {
    ProjectChanged {
        description: project.description.clone(),
        project_id: project.id,
        tags: project.tags.clone(),
        thumbnail_url: project.thumbnail_url.clone(),
        title: project.title.clone(),
        user_id: project.user_id,
        username: project.username.clone(),
        visibility: project.visibility,
    }
}

pub(crate) async fn username_of<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<String, ProjectError> {
    users::Entity::find_by_id(user_id)
        .select_only()
        .column(users::Column::Username)
        .into_tuple::<String>()
        .one(db)
        .await?
        .ok_or(ProjectError::UserNotFound)
}

pub async fn create(ctx: &ProjectContext, owner: Uuid, draft: ProjectDraft) -> Result<ProjectView, ProjectError> {
    // Creating runs outside the keyed workers: another create of the owner's may take
    // the same slug first; then the loser picks the next free one.
    for _ in 0..5 {
        match try_create(ctx, owner, &draft).await {
            Err(ProjectError::Database(e)) if slug::is_slug_collision(&e) => continue,
            done => return done,
        }
    }
    Err(ProjectError::Conflict)
}

async fn try_create(ctx: &ProjectContext, owner: Uuid, draft: &ProjectDraft) -> Result<ProjectView, ProjectError> {
    let txn = ctx.db.begin().await?;
    let username = username_of(&txn, owner).await?;
    let now = stored_now();
    let id = Uuid::now_v7();
    let slug = slug::for_new(&txn, owner, id, draft.title.as_str()).await?;
    let model = projects::ActiveModel {
        id: Set(id),
        user_id: Set(owner),
        title: Set(draft.title.as_str().to_string()),
        description: Set(draft.description.as_str().to_string()),
        tags: Set(json!(draft.tags.as_slice())),
        link: Set(draft.link.as_ref().map(|l| l.as_str().to_string())),
        thumbnail_url: Set(draft.thumbnail_url.as_ref().map(|t| t.as_str().to_string())),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        visibility: Set(draft.visibility.as_str().to_string()),
        published_at: Set(draft.visibility.is_public().then_some(now)),
        media_order: Set(None),
        slug: Set(slug),
    }
    .insert(&txn)
    .await?;
    let project = view(model, username, Vec::new());
    append_event(
        &txn,
        DomainEvent::ProjectCreated(event_data(&project)),
        Some(project.version),
    )
    .await?;
    txn.commit().await?;
    ctx.outbox.notify();
    ctx.views.committed(&project);
    Ok(project)
}

/// One query: the project joined with its owner's username (a read is a single round
/// trip, which matters most on SQLite's one connection).
pub async fn get(db: &DatabaseConnection, project_id: Uuid) -> Result<ProjectView, ProjectError> {
    let owner = projects::Entity::belongs_to(users::Entity)
        .from(projects::Column::UserId)
        .to(users::Column::Id)
        .into();
    let (model, username) = projects::Entity::find_by_id(project_id)
        .join(JoinType::InnerJoin, owner)
        .column_as(users::Column::Username, OWNER_USERNAME)
        .into_model::<ProjectWithOwner>()
        .one(db)
        .await?
        .map(|row| (row.project, row.username))
        .ok_or(ProjectError::NotFound)?;
    let images = gallery_of(db, project_id).await?;
    Ok(view(model, username, images))
}

/// The alias of the joined username column: it must not collide with any `projects` column.
const OWNER_USERNAME: &str = "owner_username";

struct ProjectWithOwner {
    project: projects::Model,
    username: String,
}

impl FromQueryResult for ProjectWithOwner {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            project: projects::Model::from_query_result(row, pre)?,
            username: row.try_get(pre, OWNER_USERNAME)?,
        })
    }
}

pub async fn list_by_user(
    db: &DatabaseConnection,
    user_id: Uuid,
    page: PageRequest,
    viewer: Option<Uuid>,
) -> Result<ProjectPage, ProjectError> {
    let username = match username_of(db, user_id).await {
        Ok(name) => name,
        Err(ProjectError::UserNotFound) => {
            return Ok(ProjectPage {
                projects: Vec::new(),
                page: page.page,
                size: page.size,
                total: 0,
            });
        }
        Err(e) => return Err(e),
    };
    let mut query = projects::Entity::find().filter(projects::Column::UserId.eq(user_id));
    if viewer != Some(user_id) {
        // Everyone but the owner sees the public ones only: unlisted and private
        // projects are never listed, nor counted.
        query = query.filter(projects::Column::Visibility.eq(Visibility::Public.as_str()));
    }
    let total = query.clone().count(db).await?;
    let models = query
        .order_by_desc(projects::Column::CreatedAt)
        .order_by_desc(projects::Column::Id)
        .offset(page.offset())
        .limit(page.size)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = models.iter().map(|m| m.id).collect();
    let mut galleries = gallery::images_of(db, &ids).await?;
    Ok(ProjectPage {
        projects: models
            .into_iter()
            .map(|m| {
                let images = galleries.remove(&m.id).unwrap_or_default();
                view(m, username.clone(), images)
            })
            .collect(),
        page: page.page,
        size: page.size,
        total,
    })
}

/// Public projects, the most recently published first, with their owners' usernames
/// (one query for the page, one for the galleries).
pub async fn list_public(db: &DatabaseConnection, page: PageRequest) -> Result<ProjectPage, ProjectError> {
    let public = projects::Entity::find().filter(projects::Column::Visibility.eq(Visibility::Public.as_str()));
    let total = public.clone().count(db).await?;
    let owner = projects::Entity::belongs_to(users::Entity)
        .from(projects::Column::UserId)
        .to(users::Column::Id)
        .into();
    let rows = public
        .join(JoinType::InnerJoin, owner)
        .column_as(users::Column::Username, OWNER_USERNAME)
        .order_by_desc(projects::Column::PublishedAt)
        .order_by_desc(projects::Column::Id)
        .offset(page.offset())
        .limit(page.size)
        .into_model::<ProjectWithOwner>()
        .all(db)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.project.id).collect();
    let mut galleries = gallery::images_of(db, &ids).await?;
    Ok(ProjectPage {
        projects: rows
            .into_iter()
            .map(|row| {
                let images = galleries.remove(&row.project.id).unwrap_or_default();
                view(row.project, row.username, images)
            })
            .collect(),
        page: page.page,
        size: page.size,
        total,
    })
}

/// Where a public project's page is, and when it last changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublicPage {
    pub project_id: Uuid,
    pub username: String,
    pub slug: Option<String>,
    pub updated_at: chrono::DateTime<Utc>,
}

pub async fn public_pages(db: &DatabaseConnection, limit: u64) -> Result<Vec<PublicPage>, ProjectError> {
    let owner = projects::Entity::belongs_to(users::Entity)
        .from(projects::Column::UserId)
        .to(users::Column::Id)
        .into();
    let rows: Vec<(Uuid, String, Option<String>, chrono::DateTime<Utc>)> = projects::Entity::find()
        .select_only()
        .column(projects::Column::Id)
        .column_as(users::Column::Username, OWNER_USERNAME)
        .column(projects::Column::Slug)
        .column(projects::Column::UpdatedAt)
        .join(JoinType::InnerJoin, owner)
        .filter(projects::Column::Visibility.eq(Visibility::Public.as_str()))
        .order_by_desc(projects::Column::UpdatedAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(project_id, username, slug, updated_at)| PublicPage {
            project_id,
            username,
            slug,
            updated_at,
        })
        .collect())
}

/// Who may change a project: its owner, or the system (the thumbnailer).
fn check_owner(model: &projects::Model, actor: Option<Uuid>) -> Result<(), ProjectError> {
    match actor {
        Some(actor) if actor != model.user_id => Err(ProjectError::Forbidden),
        _ => Ok(()),
    }
}

/// One change to a project, as the worker applies it.
#[derive(Default)]
struct Change {
    patch: ProjectPatch,
    /// A new order for the gallery: exactly the project's images.
    order: Option<MediaOrder>,
    /// One of the project's images becomes the cover.
    cover_file: Option<Uuid>,
    /// The version the caller last read; another one is a conflict.
    expected_version: Option<i64>,
    /// The thumbnailer's cover: it fills a missing cover (or one whose image is no
    /// longer in the project) and never replaces one the owner chose.
    system_cover: bool,
}

/// Is `cover` one of our own images that is no longer in the gallery?
fn cover_is_stale(cover: Option<&str>, images: &[GalleryItem]) -> bool {
    cover
        .and_then(gallery::file_of_media_url)
        .is_some_and(|file| !images.iter().any(|i| i.file_id == file))
}

/// The cover an image gives its project: its thumbnail, else the image itself.
fn cover_of(item: &GalleryItem) -> String {
    item.thumbnail_url.clone().unwrap_or_else(|| item.file_url.clone())
}

/// Applies a change with optimistic concurrency on `version`, so two nodes changing the
/// same project never hand out the same version twice. Every change also stores the
/// gallery's order as it stands (uploads since the last order at the end, deleted
/// images gone) and lets a cover whose image left the project go to the first image.
async fn apply(
    ctx: &ProjectContext,
    project_id: Uuid,
    actor: Option<Uuid>,
    change: &Change,
) -> Result<ProjectView, ProjectError> {
    let patch = &change.patch;
    for _ in 0..5 {
        let txn = ctx.db.begin().await?;
        let current = projects::Entity::find_by_id(project_id)
            .one(&txn)
            .await?
            .ok_or(ProjectError::NotFound)?;
        check_owner(&current, actor)?;
        if change
            .expected_version
            .is_some_and(|expected| expected != current.version)
        {
            txn.rollback().await?;
            return Err(ProjectError::Conflict);
        }
        let images = gallery_of(&txn, project_id).await?;
        let order: Vec<Uuid> = match &change.order {
            Some(order) => {
                let wanted: HashSet<Uuid> = order.as_slice().iter().copied().collect();
                let have: HashSet<Uuid> = images.iter().map(|i| i.file_id).collect();
                if wanted != have {
                    txn.rollback().await?;
                    return Err(ValidationError::new(
                        Field::Order,
                        format!(
                            "the order must list each of the project's {} images exactly once",
                            have.len()
                        ),
                    )
                    .into());
                }
                order.as_slice().to_vec()
            }
            None => arrange(images.clone(), &stored_order(&current))
                .iter()
                .map(|i| i.file_id)
                .collect(),
        };
        let next_version = current.version + 1;
        let now = stored_now();
        let mut updated = current.clone();
        if let Some(title) = &patch.title {
            updated.title = title.as_str().to_string();
            updated.slug = slug::for_rename(
                &txn,
                current.user_id,
                project_id,
                current.slug.as_deref(),
                &current.title,
                &updated.title,
            )
            .await?;
        }
        if let Some(description) = &patch.description {
            updated.description = description.as_str().to_string();
        }
        if let Some(tags) = &patch.tags {
            updated.tags = json!(tags.as_slice());
        }
        if let Some(link) = &patch.link {
            updated.link = Some(link.as_str().to_string());
        }
        if let Some(thumbnail) = &patch.thumbnail_url {
            let keep_chosen = change.system_cover
                && updated.thumbnail_url.is_some()
                && !cover_is_stale(updated.thumbnail_url.as_deref(), &images);
            if !keep_chosen {
                updated.thumbnail_url = Some(thumbnail.as_str().to_string());
            }
        }
        if let Some(file_id) = change.cover_file {
            let Some(item) = images.iter().find(|i| i.file_id == file_id) else {
                txn.rollback().await?;
                return Err(ValidationError::new(Field::FileId, "file_id is not an image of this project").into());
            };
            updated.thumbnail_url = Some(cover_of(item));
        }
        if cover_is_stale(updated.thumbnail_url.as_deref(), &images) {
            let first = order.first().and_then(|id| images.iter().find(|i| i.file_id == *id));
            updated.thumbnail_url = first.and_then(|i| i.thumbnail_url.clone());
        }
        if let Some(visibility) = patch.visibility {
            updated.visibility = visibility.as_str().to_string();
            if visibility.is_public() && updated.published_at.is_none() {
                updated.published_at = Some(now);
            }
        }
        updated.media_order = Some(serde_json::to_string(&order).map_err(|e| DbErr::Custom(format!("order: {e}")))?);
        let written = projects::Entity::update_many()
            .col_expr(projects::Column::Version, Expr::value(next_version))
            .col_expr(projects::Column::UpdatedAt, Expr::value(now))
            .col_expr(projects::Column::Title, Expr::value(updated.title.clone()))
            .col_expr(projects::Column::Description, Expr::value(updated.description.clone()))
            .col_expr(projects::Column::Tags, Expr::value(updated.tags.clone()))
            .col_expr(projects::Column::Link, Expr::value(updated.link.clone()))
            .col_expr(
                projects::Column::ThumbnailUrl,
                Expr::value(updated.thumbnail_url.clone()),
            )
            .col_expr(projects::Column::Visibility, Expr::value(updated.visibility.clone()))
            .col_expr(projects::Column::PublishedAt, Expr::value(updated.published_at))
            .col_expr(projects::Column::MediaOrder, Expr::value(updated.media_order.clone()))
            .col_expr(projects::Column::Slug, Expr::value(updated.slug.clone()))
            .filter(projects::Column::Id.eq(project_id))
            .filter(projects::Column::Version.eq(current.version))
            .exec(&txn)
            .await;
        let written = match written {
            Ok(written) => written,
            // Another project of the owner took the slug meanwhile: pick again.
            Err(e) if slug::is_slug_collision(&e) => {
                txn.rollback().await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if written.rows_affected != 1 {
            // Someone else changed it between our read and write: read again (unless
            // the caller named the version it meant to change).
            txn.rollback().await?;
            if change.expected_version.is_some() {
                return Err(ProjectError::Conflict);
            }
            continue;
        }
        updated.version = next_version;
        updated.updated_at = now;
        let username = username_of(&txn, updated.user_id).await?;
        let project = view(updated, username, images);
        append_event(
            &txn,
            DomainEvent::ProjectUpdated(event_data(&project)),
            Some(project.version),
        )
        .await?;
        txn.commit().await?;
        ctx.outbox.notify();
        ctx.changed(&project);
        return Ok(project);
    }
    Err(ProjectError::Conflict)
}

pub async fn update(
    ctx: &ProjectContext,
    actor: Uuid,
    project_id: Uuid,
    patch: ProjectPatch,
) -> Result<ProjectView, ProjectError> {
    let change = Change {
        patch,
        ..Default::default()
    };
    apply(ctx, project_id, Some(actor), &change).await
}

pub async fn set_thumbnail(
    ctx: &ProjectContext,
    project_id: Uuid,
    url: ThumbnailUrl,
    by: ThumbnailSetter,
) -> Result<ProjectView, ProjectError> {
    let actor = match by {
        ThumbnailSetter::Owner(user_id) => Some(user_id),
        ThumbnailSetter::System => None,
    };
    let change = Change {
        patch: ProjectPatch {
            thumbnail_url: Some(url),
            ..Default::default()
        },
        system_cover: matches!(by, ThumbnailSetter::System),
        ..Default::default()
    };
    apply(ctx, project_id, actor, &change).await
}

pub async fn set_order(
    ctx: &ProjectContext,
    actor: Uuid,
    project_id: Uuid,
    order: MediaOrder,
    expected_version: Option<i64>,
) -> Result<ProjectView, ProjectError> {
    let change = Change {
        order: Some(order),
        expected_version,
        ..Default::default()
    };
    apply(ctx, project_id, Some(actor), &change).await
}

pub async fn set_cover(
    ctx: &ProjectContext,
    actor: Uuid,
    project_id: Uuid,
    file_id: Uuid,
) -> Result<ProjectView, ProjectError> {
    let change = Change {
        cover_file: Some(file_id),
        ..Default::default()
    };
    apply(ctx, project_id, Some(actor), &change).await
}

pub async fn gallery_changed(ctx: &ProjectContext, project_id: Uuid) -> Result<(), ProjectError> {
    apply(ctx, project_id, None, &Change::default()).await.map(|_| ())
}

pub async fn delete(ctx: &ProjectContext, actor: Uuid, project_id: Uuid) -> Result<(), ProjectError> {
    let txn = ctx.db.begin().await?;
    let current = projects::Entity::find_by_id(project_id)
        .one(&txn)
        .await?
        .ok_or(ProjectError::NotFound)?;
    check_owner(&current, Some(actor))?;
    let deleted = projects::Entity::delete_many()
        .filter(projects::Column::Id.eq(project_id))
        .filter(projects::Column::Version.eq(current.version))
        .exec(&txn)
        .await?;
    if deleted.rows_affected != 1 {
        txn.rollback().await?;
        return Err(ProjectError::Conflict);
    }
    // The delete is one more change: consumers drop anything older than it.
    let deleted_version = current.version + 1;
    append_event(
        &txn,
        DomainEvent::ProjectDeleted(ProjectDeleted { project_id }),
        Some(deleted_version),
    )
    .await?;
    txn.commit().await?;
    ctx.outbox.notify();
    ctx.deleted(project_id, deleted_version);
    Ok(())
}

/// Republishes every project as `project.created`, a page at a time (constant memory),
/// and reports progress after each page.
pub async fn republish_all(
    ctx: &ProjectContext,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<u64, ProjectError> {
    const PAGE: u64 = 500;
    let total = projects::Entity::find().count(&ctx.db).await?;
    let mut done = 0u64;
    let mut after: Option<Uuid> = None;
    loop {
        let mut query = projects::Entity::find().order_by_asc(projects::Column::Id).limit(PAGE);
        if let Some(after) = after {
            query = query.filter(projects::Column::Id.gt(after));
        }
        let page = query.all(&ctx.db).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let txn = ctx.db.begin().await?;
        for model in page {
            let username = username_of(&txn, model.user_id).await?;
            // The event carries no images: the gallery is left unread.
            let project = view(model, username, Vec::new());
            append_event(
                &txn,
                DomainEvent::ProjectCreated(event_data(&project)),
                Some(project.version),
            )
            .await?;
            done += 1;
        }
        txn.commit().await?;
        ctx.outbox.notify();
        progress(done, std::cmp::max(total, done));
    }
    Ok(done)
}

/// Up to `limit` ids of the owner's projects (the primary, so a project just deleted
/// is not read back from a lagging pool).
pub async fn project_ids_of(db: &DatabaseConnection, owner: Uuid, limit: u64) -> Result<Vec<Uuid>, ProjectError> {
    Ok(projects::Entity::find()
        .select_only()
        .column(projects::Column::Id)
        .filter(projects::Column::UserId.eq(owner))
        .limit(limit)
        .into_tuple::<Uuid>()
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(file_id: Uuid, owner: Uuid) -> GalleryItem {
        GalleryItem {
            file_id,
            mime_type: "image/png".into(),
            file_url: format!("http://h/media/uploads/{owner}/{file_id}.png"),
            file_size: 1,
            width: None,
            height: None,
            thumbnail_status: crate::media::ThumbnailStatus::Ready,
            thumbnail_url: Some(format!("http://h/media/thumbnails/{owner}/{file_id}_thumb.jpg")),
            renditions: Vec::new(),
            thumbhash: None,
            caption: None,
            alt: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn the_order_comes_first_then_newer_uploads_and_gaps_close() {
        let owner = Uuid::now_v7();
        let [a, b, c, d] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        let uploads = vec![item(a, owner), item(b, owner), item(c, owner), item(d, owner)];
        let gone = Uuid::now_v7();
        // The owner ordered c, gone (deleted since), a; b and d came later or were left out.
        let arranged: Vec<Uuid> = arrange(uploads, &[c, gone, a]).iter().map(|i| i.file_id).collect();
        assert_eq!(arranged, [c, a, b, d]);
    }

    #[test]
    fn a_cover_is_stale_only_when_its_own_image_left() {
        let owner = Uuid::now_v7();
        let [a, b] = [Uuid::now_v7(), Uuid::now_v7()];
        let gallery = vec![item(a, owner)];
        let cover_of_a = gallery[0].thumbnail_url.clone();
        assert!(!cover_is_stale(cover_of_a.as_deref(), &gallery));
        let cover_of_b = item(b, owner).thumbnail_url;
        assert!(cover_is_stale(cover_of_b.as_deref(), &gallery));
        // Someone else's picture, or none, is the owner's choice.
        assert!(!cover_is_stale(Some("https://cdn.example/cover.jpg"), &gallery));
        assert!(!cover_is_stale(None, &gallery));
    }
}
