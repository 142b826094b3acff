//! The project domain's database work. Every change and its event commit together.

use chrono::Utc;
use folio_entities::{projects, users};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use super::{
    ProjectError, ProjectPage, ProjectView, ThumbnailSetter,
    domain::*,
    view_keeper,
    views::{ProjectViews, ViewNotice},
};
use crate::events::{DomainEvent, ProjectChanged, ProjectDeleted, append_event, outbox::OutboxSignal};

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

fn view(model: projects::Model, username: String) -> ProjectView {
    ProjectView {
        tags: tags_of(&model),
        id: model.id,
        user_id: model.user_id,
        username,
        title: model.title,
        description: model.description,
        link: model.link,
        thumbnail_url: model.thumbnail_url,
        version: model.version,
        created_at: model.created_at,
        updated_at: model.updated_at,
    }
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
    let txn = ctx.db.begin().await?;
    let username = username_of(&txn, owner).await?;
    let now = Utc::now();
    let model = projects::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(owner),
        title: Set(draft.title.as_str().to_string()),
        description: Set(draft.description.as_str().to_string()),
        tags: Set(json!(draft.tags.as_slice())),
        link: Set(draft.link.map(|l| l.as_str().to_string())),
        thumbnail_url: Set(draft.thumbnail_url.map(|t| t.as_str().to_string())),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let project = view(model, username);
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
    Ok(view(model, username))
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
    let query = projects::Entity::find().filter(projects::Column::UserId.eq(user_id));
    let total = query.clone().count(db).await?;
    let models = query
        .order_by_desc(projects::Column::CreatedAt)
        .order_by_desc(projects::Column::Id)
        .offset(page.offset())
        .limit(page.size)
        .all(db)
        .await?;
    Ok(ProjectPage {
        projects: models.into_iter().map(|m| view(m, username.clone())).collect(),
        page: page.page,
        size: page.size,
        total,
    })
}

/// Who may change a project: its owner, or the system (the thumbnailer).
fn check_owner(model: &projects::Model, actor: Option<Uuid>) -> Result<(), ProjectError> {
    match actor {
        Some(actor) if actor != model.user_id => Err(ProjectError::Forbidden),
        _ => Ok(()),
    }
}

/// Applies `patch` with optimistic concurrency on `version`, so two nodes changing the
/// same project never hand out the same version twice.
async fn apply_patch(
    ctx: &ProjectContext,
    project_id: Uuid,
    actor: Option<Uuid>,
    patch: &ProjectPatch,
) -> Result<ProjectView, ProjectError> {
    for _ in 0..5 {
        let txn = ctx.db.begin().await?;
        let current = projects::Entity::find_by_id(project_id)
            .one(&txn)
            .await?
            .ok_or(ProjectError::NotFound)?;
        check_owner(&current, actor)?;
        let next_version = current.version + 1;
        let now = Utc::now();
        let mut update = projects::Entity::update_many()
            .col_expr(projects::Column::Version, Expr::value(next_version))
            .col_expr(projects::Column::UpdatedAt, Expr::value(now))
            .filter(projects::Column::Id.eq(project_id))
            .filter(projects::Column::Version.eq(current.version));
        let mut updated = current.clone();
        if let Some(title) = &patch.title {
            update = update.col_expr(projects::Column::Title, Expr::value(title.as_str()));
            updated.title = title.as_str().to_string();
        }
        if let Some(description) = &patch.description {
            update = update.col_expr(projects::Column::Description, Expr::value(description.as_str()));
            updated.description = description.as_str().to_string();
        }
        if let Some(tags) = &patch.tags {
            updated.tags = json!(tags.as_slice());
            update = update.col_expr(projects::Column::Tags, Expr::value(updated.tags.clone()));
        }
        if let Some(link) = &patch.link {
            update = update.col_expr(projects::Column::Link, Expr::value(link.as_str()));
            updated.link = Some(link.as_str().to_string());
        }
        if let Some(thumbnail) = &patch.thumbnail_url {
            update = update.col_expr(projects::Column::ThumbnailUrl, Expr::value(thumbnail.as_str()));
            updated.thumbnail_url = Some(thumbnail.as_str().to_string());
        }
        if update.exec(&txn).await?.rows_affected != 1 {
            // Someone else changed it between our read and write: read again.
            txn.rollback().await?;
            continue;
        }
        updated.version = next_version;
        updated.updated_at = now;
        let username = username_of(&txn, updated.user_id).await?;
        let project = view(updated, username);
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
    apply_patch(ctx, project_id, Some(actor), &patch).await
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
    let patch = ProjectPatch {
        thumbnail_url: Some(url),
        ..Default::default()
    };
    apply_patch(ctx, project_id, actor, &patch).await
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
            let project = view(model, username);
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
