//! The profile domain: one profile per user, `profile.updated` on every change.
//!
//! What the actor owns: the order of one user's profile changes. Updates are keyed by
//! user id, so two edits of one profile apply, and their `profile.updated` events are
//! appended, in arrival order; the search index, which takes the display name from the
//! latest event, cannot end on the older name. The workers hold no state of their own.
//!
//! What is not ordered: reads (`me`, the public profile, the display name) change
//! nothing and run in the caller's task.

pub mod people;
pub(crate) mod service;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use service::{DisplayNames, ProfileContext};

use crate::{
    project::ProjectView,
    supervisor::{CallError, KeyedPool, PoolStartError, SupervisorMsg},
    validation::{Field, ValidationError, at_most, web_url},
};

/// `None` keeps the stored value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProfilePatch {
    pub name: Option<String>,
    pub bio: Option<String>,
    pub contact: Option<String>,
    pub social_links: Option<BTreeMap<String, String>>,
    pub avatar_url: Option<String>,
}

impl ProfilePatch {
    pub fn parse(
        name: Option<&str>,
        bio: Option<&str>,
        contact: Option<&str>,
        social_links: Option<&serde_json::Value>,
        avatar_url: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let social_links = match social_links {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Object(map)) => {
                if map.len() > 20 {
                    return Err(ValidationError::new(Field::SocialLinks, "at most 20 social links"));
                }
                let mut links = BTreeMap::new();
                for (key, value) in map {
                    let serde_json::Value::String(value) = value else {
                        return Err(ValidationError::new(
                            Field::SocialLinks,
                            "social link values must be strings",
                        ));
                    };
                    if key.is_empty() || key.chars().count() > 50 {
                        return Err(ValidationError::new(
                            Field::SocialLinks,
                            "social link names must be 1 to 50 characters",
                        ));
                    }
                    links.insert(key.clone(), at_most(Field::SocialLinks, value, 2048)?);
                }
                Some(links)
            }
            Some(_) => {
                return Err(ValidationError::new(
                    Field::SocialLinks,
                    "social_links must be an object",
                ));
            }
        };
        Ok(Self {
            name: name.map(|v| at_most(Field::Name, v, 100)).transpose()?,
            bio: bio.map(|v| at_most(Field::Bio, v, 2000)).transpose()?,
            contact: contact.map(|v| at_most(Field::Contact, v, 200)).transpose()?,
            social_links,
            avatar_url: avatar_url
                .map(|v| {
                    if v.is_empty() {
                        Ok(String::new())
                    } else {
                        web_url(Field::AvatarUrl, v, true)
                    }
                })
                .transpose()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileView {
    pub user_id: Uuid,
    pub username: String,
    pub email: String,
    pub name: Option<String>,
    pub bio: Option<String>,
    pub contact: Option<String>,
    pub social_links: Option<serde_json::Value>,
    pub avatar_url: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicProfile {
    pub user_id: Uuid,
    pub username: String,
    pub name: Option<String>,
    pub bio: Option<String>,
    pub contact: Option<String>,
    pub social_links: Option<serde_json::Value>,
    pub avatar_url: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The newest projects (at most [`PUBLIC_PROJECTS`]).
    pub projects: Vec<ProjectView>,
    pub project_count: u64,
}

pub const PUBLIC_PROJECTS: u64 = 50;

/// Internal failures keep their cause as the source; the edge logs the chain once.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("user not found")]
    UserNotFound,
    #[error("profile service unavailable")]
    Unavailable(#[from] CallError),
    #[error("profile storage failed")]
    Database(#[from] sea_orm::DbErr),
    /// Reading the user's projects for the public profile failed.
    #[error("reading the user's projects failed")]
    Projects(#[source] crate::project::ProjectError),
}

#[derive(ractor_cluster::RactorMessage)]
pub enum ProfileMsg {
    Update {
        user_id: Uuid,
        patch: ProfilePatch,
        reply: RpcReplyPort<Result<ProfileView, ProfileError>>,
    },
    /// The account is being deleted: its profile goes.
    DeleteOf {
        user_id: Uuid,
        reply: RpcReplyPort<Result<(), ProfileError>>,
    },
}

pub struct ProfileWorker;

impl Actor for ProfileWorker {
    type Msg = ProfileMsg;
    type State = Arc<ProfileContext>;
    type Arguments = Arc<ProfileContext>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        ctx: Arc<ProfileContext>,
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
            ProfileMsg::Update { user_id, patch, reply } => {
                let _ = reply.send(service::update(ctx, user_id, patch).await);
            }
            ProfileMsg::DeleteOf { user_id, reply } => {
                let _ = reply.send(service::delete_of(&ctx.db, user_id).await);
            }
        }
        Ok(())
    }
}

#[derive(Clone)]
pub struct ProfileClient {
    pool: KeyedPool<ProfileMsg>,
    ctx: Arc<ProfileContext>,
}

impl ProfileClient {
    pub async fn start(
        supervisor: &ActorRef<SupervisorMsg>,
        ctx: ProfileContext,
        workers: usize,
    ) -> Result<Self, PoolStartError> {
        let ctx = Arc::new(ctx);
        let worker_ctx = ctx.clone();
        let pool = KeyedPool::start(supervisor, "profile", workers, Duration::from_secs(30), move || {
            (ProfileWorker, worker_ctx.clone())
        })
        .await?;
        Ok(Self { pool, ctx })
    }

    pub async fn me(&self, user_id: Uuid) -> Result<ProfileView, ProfileError> {
        service::me(&self.ctx.reads, user_id).await
    }

    pub async fn update(&self, user_id: Uuid, patch: ProfilePatch) -> Result<ProfileView, ProfileError> {
        self.pool
            .call(&user_id, |reply| ProfileMsg::Update {
                user_id,
                patch: patch.clone(),
                reply,
            })
            .await?
    }

    /// Removes the user's profile (part of deleting the account); nothing to remove is
    /// success, so a repeated step changes nothing.
    pub async fn delete_of(&self, user_id: Uuid) -> Result<(), ProfileError> {
        self.pool
            .call(&user_id, |reply| ProfileMsg::DeleteOf { user_id, reply })
            .await?
    }

    /// The public profile as `viewer` (`None`: anonymous) may see it: the owner sees
    /// every project of theirs, everyone else the public ones.
    pub async fn public(&self, username: &str, viewer: Option<Uuid>) -> Result<PublicProfile, ProfileError> {
        service::public(&self.ctx.reads, username, viewer).await
    }

    /// The name search shows for this user: the profile name if set, else the username.
    pub async fn display_name(&self, user_id: Uuid) -> Result<String, ProfileError> {
        service::display_name(&self.ctx.reads, user_id).await
    }

    /// People by username and profile name (`GET /search/users`; see [`people`]).
    pub async fn search_people(&self, query: &str, page: u64, size: u64) -> Result<people::PeoplePage, ProfileError> {
        people::search(&self.ctx.reads, query, page, size).await
    }

    /// Display names of many users at once; users that do not exist are left out.
    pub async fn display_names(&self, user_ids: &[Uuid]) -> Result<DisplayNames, ProfileError> {
        service::display_names(&self.ctx.reads, user_ids).await
    }
}
