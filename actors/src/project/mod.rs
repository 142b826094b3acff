//! The project domain: portfolio projects and their events.
//!
//! What the actor owns: the order of changes to one project. Updates, thumbnail changes
//! and deletes are keyed by project id, so they apply (and their events are appended to
//! the outbox) in the order they arrived, and an owner's edit never races the
//! thumbnailer's update of the same row. The workers hold no state of their own.
//!
//! What is not ordered: creating a project has nothing to be ordered after (the id is
//! new), and reads change nothing; both run in the caller's task. Reads of one project
//! are answered from the in-memory views ([`views`]) while they are fresh.

pub mod domain;
pub(crate) mod service;
pub mod slug;
pub mod view_keeper;
pub mod views;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use domain::*;
pub use service::{ProjectContext, PublicPage};

impl ProjectView {
    /// The payload of this project's `project.created` / `project.updated` event.
    pub fn event_data(&self) -> crate::events::ProjectChanged {
        service::event_data(self)
    }
}

use crate::{
    supervisor::{CallError, KeyedPool, PoolStartError, SupervisorMsg},
    validation::ValidationError,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectView {
    pub id: Uuid,
    pub user_id: Uuid,
    /// From `users`, not the profile (as the seed does).
    pub username: String,
    /// The URL part of its page (`/@{username}/{slug}`); `None`: the page goes by id.
    #[serde(default)]
    pub slug: Option<String>,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub link: Option<String>,
    pub thumbnail_url: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub visibility: Visibility,
    /// The first time the project was public.
    pub published_at: Option<DateTime<Utc>>,
    /// The gallery: the project's images in its owner's order.
    pub media: Vec<crate::media::gallery::GalleryItem>,
}

impl ProjectView {
    /// May `viewer` (`None`: anonymous) read this project by its id?
    pub fn readable_by(&self, viewer: Option<Uuid>) -> bool {
        self.visibility.readable_by(self.user_id, viewer)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectPage {
    pub projects: Vec<ProjectView>,
    pub page: u64,
    pub size: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum ThumbnailSetter {
    Owner(Uuid),
    /// The thumbnailer, acting for the uploader.
    System,
}

/// Internal failures keep their cause as the source; the edge logs the chain once.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("project not found")]
    NotFound,
    #[error("user not found")]
    UserNotFound,
    #[error("only the project's owner may do that")]
    Forbidden,
    #[error("the project kept changing; try again")]
    Conflict,
    #[error("project service unavailable")]
    Unavailable(#[from] CallError),
    #[error("project storage failed")]
    Database(#[from] sea_orm::DbErr),
}

type Reply<T> = RpcReplyPort<Result<T, ProjectError>>;

/// Changes to one existing project, keyed by its id.
#[derive(ractor_cluster::RactorMessage)]
pub enum ProjectMsg {
    Update {
        actor: Uuid,
        project_id: Uuid,
        patch: ProjectPatch,
        reply: Reply<ProjectView>,
    },
    SetThumbnail {
        project_id: Uuid,
        url: ThumbnailUrl,
        by: ThumbnailSetter,
        reply: Reply<ProjectView>,
    },
    Delete {
        actor: Uuid,
        project_id: Uuid,
        reply: Reply<()>,
    },
    /// The owner's order of the gallery.
    SetOrder {
        actor: Uuid,
        project_id: Uuid,
        order: MediaOrder,
        /// The version the owner last read (`If-Match`); another one is a conflict.
        expected_version: Option<i64>,
        reply: Reply<ProjectView>,
    },
    /// One of the project's images becomes its cover.
    SetCover {
        actor: Uuid,
        project_id: Uuid,
        file_id: Uuid,
        reply: Reply<ProjectView>,
    },
    /// From the media domain: an image of the project was added, changed, moved or
    /// deleted. The project takes a new version (so its `ETag`, its cached views on
    /// every node and its order follow) and `project.updated` goes out.
    GalleryChanged { project_id: Uuid, reply: Reply<()> },
}

pub struct ProjectWorker;

impl Actor for ProjectWorker {
    type Msg = ProjectMsg;
    type State = Arc<ProjectContext>;
    type Arguments = Arc<ProjectContext>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        ctx: Arc<ProjectContext>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ctx)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        ctx: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ProjectMsg::Update {
                actor,
                project_id,
                patch,
                reply,
            } => {
                let _ = reply.send(service::update(ctx, actor, project_id, patch).await);
            }
            ProjectMsg::SetThumbnail {
                project_id,
                url,
                by,
                reply,
            } => {
                let _ = reply.send(service::set_thumbnail(ctx, project_id, url, by).await);
            }
            ProjectMsg::Delete {
                actor,
                project_id,
                reply,
            } => {
                let _ = reply.send(service::delete(ctx, actor, project_id).await);
            }
            ProjectMsg::SetOrder {
                actor,
                project_id,
                order,
                expected_version,
                reply,
            } => {
                let _ = reply.send(service::set_order(ctx, actor, project_id, order, expected_version).await);
            }
            ProjectMsg::SetCover {
                actor,
                project_id,
                file_id,
                reply,
            } => {
                let _ = reply.send(service::set_cover(ctx, actor, project_id, file_id).await);
            }
            ProjectMsg::GalleryChanged { project_id, reply } => {
                let _ = reply.send(service::gallery_changed(ctx, project_id).await);
            }
        }
        Ok(())
    }
}

/// Projects read at a time while deleting an account's.
const DELETE_BATCH: u64 = 100;

/// How the rest of the node talks to the project domain. Reads go straight to the
/// database (they change nothing and need no ordering); changes go through the worker
/// that owns the project.
#[derive(Clone)]
pub struct ProjectClient {
    pool: KeyedPool<ProjectMsg>,
    ctx: Arc<ProjectContext>,
    slugs: Arc<slug::SlugCache>,
}

impl ProjectClient {
    pub async fn start(
        supervisor: &ActorRef<SupervisorMsg>,
        ctx: ProjectContext,
        workers: usize,
    ) -> Result<Self, PoolStartError> {
        view_keeper::start(supervisor, ctx.views.clone())
            .await
            .map_err(|source| PoolStartError::Supervise {
                worker: view_keeper::ACTOR.to_string(),
                source,
            })?;
        let ctx = Arc::new(ctx);
        let worker_ctx = ctx.clone();
        let pool = KeyedPool::start(supervisor, "project", workers, Duration::from_secs(30), move || {
            (ProjectWorker, worker_ctx.clone())
        })
        .await?;
        Ok(Self {
            pool,
            ctx,
            slugs: Arc::default(),
        })
    }

    pub async fn create(&self, owner: Uuid, draft: ProjectDraft) -> Result<ProjectView, ProjectError> {
        service::create(&self.ctx, owner, draft).await
    }

    pub async fn get(&self, project_id: Uuid) -> Result<ProjectView, ProjectError> {
        if let Some(view) = self.ctx.views.get(&project_id) {
            return Ok(view);
        }
        let read_started = std::time::Instant::now();
        let view = service::get(&self.ctx.reads, project_id).await?;
        self.ctx.views.admit(&view, read_started);
        Ok(view)
    }

    /// The project a page URL's `slug` names among `username`'s projects, now or
    /// before a rename.
    pub async fn find_by_slug(&self, username: &str, slug: &str) -> Result<Option<slug::SlugMatch>, ProjectError> {
        if let Some(id) = self.slugs.get(username, slug) {
            match self.get(id).await {
                Ok(view) if view.username == username && view.slug.as_deref() == Some(slug) => {
                    return Ok(Some(slug::SlugMatch::Current(id)));
                }
                // Renamed or deleted since: ask the database.
                Ok(_) | Err(ProjectError::NotFound) => self.slugs.forget(username, slug),
                Err(e) => return Err(e),
            }
        }
        let found = slug::find(&self.ctx.reads, username, slug).await?;
        if let Some(slug::SlugMatch::Current(id)) = found {
            self.slugs.remember(username, slug, id);
        }
        Ok(found)
    }

    /// Public projects, the most recently published first.
    pub async fn list_public(&self, page: PageRequest) -> Result<ProjectPage, ProjectError> {
        service::list_public(&self.ctx.reads, page).await
    }

    /// Every public project's page, for a sitemap: at most `limit`, the most recently
    /// changed first.
    pub async fn public_pages(&self, limit: u64) -> Result<Vec<PublicPage>, ProjectError> {
        service::public_pages(&self.ctx.reads, limit).await
    }

    /// Gives projects from before slugs their slug (see [`slug::backfill`]).
    pub async fn backfill_slugs(&self) -> Result<u64, ProjectError> {
        slug::backfill(&self.ctx.db).await
    }

    pub fn view_stats(&self) -> views::ViewStats {
        self.ctx.views.stats()
    }

    /// A user's projects as `viewer` may see them: all of them for the owner, the
    /// public ones for everyone else (`None`: anonymous).
    pub async fn list_by_user(
        &self,
        user_id: Uuid,
        page: PageRequest,
        viewer: Option<Uuid>,
    ) -> Result<ProjectPage, ProjectError> {
        service::list_by_user(&self.ctx.reads, user_id, page, viewer).await
    }

    pub async fn set_order(
        &self,
        actor: Uuid,
        project_id: Uuid,
        order: MediaOrder,
        expected_version: Option<i64>,
    ) -> Result<ProjectView, ProjectError> {
        self.pool
            .call(&project_id, |reply| ProjectMsg::SetOrder {
                actor,
                project_id,
                order: order.clone(),
                expected_version,
                reply,
            })
            .await?
    }

    pub async fn set_cover(&self, actor: Uuid, project_id: Uuid, file_id: Uuid) -> Result<ProjectView, ProjectError> {
        self.pool
            .call(&project_id, |reply| ProjectMsg::SetCover {
                actor,
                project_id,
                file_id,
                reply,
            })
            .await?
    }

    /// The media domain tells the project that its gallery changed. A project that is
    /// gone has nothing to follow.
    pub async fn gallery_changed(&self, project_id: Uuid) -> Result<(), ProjectError> {
        match self
            .pool
            .call(&project_id, |reply| ProjectMsg::GalleryChanged { project_id, reply })
            .await?
        {
            Ok(()) | Err(ProjectError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn update(
        &self,
        actor: Uuid,
        project_id: Uuid,
        patch: ProjectPatch,
    ) -> Result<ProjectView, ProjectError> {
        self.pool
            .call(&project_id, |reply| ProjectMsg::Update {
                actor,
                project_id,
                patch: patch.clone(),
                reply,
            })
            .await?
    }

    pub async fn set_thumbnail(
        &self,
        project_id: Uuid,
        url: ThumbnailUrl,
        by: ThumbnailSetter,
    ) -> Result<ProjectView, ProjectError> {
        self.pool
            .call(&project_id, |reply| ProjectMsg::SetThumbnail {
                project_id,
                url: url.clone(),
                by,
                reply,
            })
            .await?
    }

    pub async fn delete(&self, actor: Uuid, project_id: Uuid) -> Result<(), ProjectError> {
        self.pool
            .call(&project_id, |reply| ProjectMsg::Delete {
                actor,
                project_id,
                reply,
            })
            .await?
    }

    /// Deletes every project of `owner` (part of deleting the account), each through
    /// [`ProjectClient::delete`]: its `project.deleted` takes it out of the search index
    /// and the cached views of every node. A project already gone is skipped, so a
    /// repeated run finishes what an interrupted one started.
    pub async fn delete_all_of(&self, owner: Uuid) -> Result<u64, ProjectError> {
        let mut deleted = 0;
        loop {
            let ids = service::project_ids_of(&self.ctx.db, owner, DELETE_BATCH).await?;
            if ids.is_empty() {
                return Ok(deleted);
            }
            for project_id in ids {
                match self.delete(owner, project_id).await {
                    Ok(()) => deleted += 1,
                    // Gone meanwhile; and a project that changed under the delete is
                    // read again on the next round.
                    Err(ProjectError::NotFound | ProjectError::Conflict) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    pub async fn republish_all(&self, progress: impl FnMut(u64, u64) + Send) -> Result<u64, ProjectError> {
        service::republish_all(&self.ctx, progress).await
    }
}

/// The media domain tells the project through this port when a gallery changes.
impl crate::media::GalleryFollower for ProjectClient {
    fn gallery_changed(&self, project_id: Uuid) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(e) = ProjectClient::gallery_changed(self, project_id).await {
                tracing::warn!(%project_id, error.cause_chain = %crate::errors::error_chain(&e), "telling the project its gallery changed");
            }
        })
    }
}
