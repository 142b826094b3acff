use std::collections::HashMap;

use chrono::Utc;
use folio_entities::{profiles, users};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter,
    QuerySelect, Set, TransactionTrait,
    sea_query::{Expr, Func},
};
use serde_json::json;
use uuid::Uuid;

use super::{PUBLIC_PROJECTS, ProfileError, ProfilePatch, ProfileView, PublicProfile};
use crate::{
    events::{DomainEvent, ProfileUpdated, append_event, outbox::OutboxSignal},
    project::{PageRequest, service as projects_service},
};

pub struct ProfileContext {
    pub db: DatabaseConnection,
    /// For reads outside a transaction (a pool of its own on SQLite; see the node's startup).
    pub reads: DatabaseConnection,
    pub outbox: OutboxSignal,
}

fn view(user: users::Model, profile: Option<profiles::Model>) -> ProfileView {
    let profile = profile.as_ref();
    ProfileView {
        user_id: user.id,
        username: user.username,
        email: user.email,
        name: profile.and_then(|p| p.name.clone()),
        bio: profile.and_then(|p| p.bio.clone()),
        contact: profile.and_then(|p| p.contact.clone()),
        social_links: profile.and_then(|p| p.social_links.clone()),
        avatar_url: profile.and_then(|p| p.avatar_url.clone()),
        created_at: profile.map(|p| p.created_at),
        updated_at: profile.map(|p| p.updated_at),
    }
}

async fn load<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<ProfileView, ProfileError> {
    let user = users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(ProfileError::UserNotFound)?;
    let profile = profiles::Entity::find_by_id(user_id).one(db).await?;
    Ok(view(user, profile))
}

pub async fn me(db: &DatabaseConnection, user_id: Uuid) -> Result<ProfileView, ProfileError> {
    load(db, user_id).await
}

pub async fn update(
    ctx: &super::ProfileContext,
    user_id: Uuid,
    patch: ProfilePatch,
) -> Result<ProfileView, ProfileError> {
    let txn = ctx.db.begin().await?;
    let user = users::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .ok_or(ProfileError::UserNotFound)?;
    let now = Utc::now();
    let existing = profiles::Entity::find_by_id(user_id).one(&txn).await?;
    let social_links = patch.social_links.map(|links| json!(links));
    let saved = match existing {
        None => {
            profiles::ActiveModel {
                user_id: Set(user_id),
                name: Set(patch.name),
                bio: Set(patch.bio),
                contact: Set(patch.contact),
                social_links: Set(social_links),
                avatar_url: Set(patch.avatar_url),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?
        }
        Some(existing) => {
            let mut active: profiles::ActiveModel = existing.into();
            if let Some(name) = patch.name {
                active.name = Set(Some(name));
            }
            if let Some(bio) = patch.bio {
                active.bio = Set(Some(bio));
            }
            if let Some(contact) = patch.contact {
                active.contact = Set(Some(contact));
            }
            if let Some(links) = social_links {
                active.social_links = Set(Some(links));
            }
            if let Some(avatar) = patch.avatar_url {
                active.avatar_url = Set(Some(avatar));
            }
            active.updated_at = Set(now);
            active.update(&txn).await?
        }
    };
    append_event(
        &txn,
        DomainEvent::ProfileUpdated(ProfileUpdated {
            name: saved.name.clone(),
            user_id,
            username: user.username.clone(),
        }),
        None,
    )
    .await?;
    txn.commit().await?;
    ctx.outbox.notify();
    Ok(view(user, Some(saved)))
}

pub async fn public(
    db: &DatabaseConnection,
    username: &str,
    viewer: Option<Uuid>,
) -> Result<PublicProfile, ProfileError> {
    let user = users::Entity::find()
        .filter(Expr::expr(Func::lower(Expr::col(users::Column::Username))).eq(username.to_lowercase()))
        .one(db)
        .await?
        .ok_or(ProfileError::UserNotFound)?;
    let profile = profiles::Entity::find_by_id(user.id).one(db).await?;
    let page = projects_service::list_by_user(
        db,
        user.id,
        PageRequest {
            page: 1,
            size: PUBLIC_PROJECTS,
        },
        viewer,
    )
    .await
    .map_err(ProfileError::Projects)?;
    let joined_at = user.created_at;
    // The same join as /profile/me, minus what is private.
    let me = view(user, profile);
    Ok(PublicProfile {
        user_id: me.user_id,
        username: me.username,
        name: me.name,
        bio: me.bio,
        contact: me.contact,
        social_links: me.social_links,
        avatar_url: me.avatar_url,
        created_at: joined_at,
        projects: page.projects,
        project_count: page.total,
    })
}

/// The display names of many users with two queries (the indexer's batches): the
/// profile's name where it has one, else the username. Users that do not exist are left
/// out of the map.
/// Display names by user id.
pub type DisplayNames = HashMap<Uuid, String>;

pub async fn display_names(db: &DatabaseConnection, user_ids: &[Uuid]) -> Result<DisplayNames, ProfileError> {
    let mut names = DisplayNames::with_capacity(user_ids.len());
    if user_ids.is_empty() {
        return Ok(names);
    }
    let named: Vec<(Uuid, Option<String>)> = profiles::Entity::find()
        .select_only()
        .column(profiles::Column::UserId)
        .column(profiles::Column::Name)
        .filter(profiles::Column::UserId.is_in(user_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    for (user_id, name) in named {
        if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
            names.insert(user_id, name);
        }
    }
    let unnamed: Vec<Uuid> = user_ids.iter().copied().filter(|id| !names.contains_key(id)).collect();
    if !unnamed.is_empty() {
        let usernames: Vec<(Uuid, String)> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::Username)
            .filter(users::Column::Id.is_in(unnamed))
            .into_tuple()
            .all(db)
            .await?;
        names.extend(usernames);
    }
    Ok(names)
}

pub async fn display_name(db: &DatabaseConnection, user_id: Uuid) -> Result<String, ProfileError> {
    let name = profiles::Entity::find_by_id(user_id)
        .select_only()
        .column(profiles::Column::Name)
        .into_tuple::<Option<String>>()
        .one(db)
        .await?
        .flatten()
        .filter(|n| !n.trim().is_empty());
    if let Some(name) = name {
        return Ok(name);
    }
    projects_service::username_of(db, user_id).await.map_err(|e| match e {
        crate::project::ProjectError::UserNotFound => ProfileError::UserNotFound,
        other => ProfileError::Projects(other),
    })
}

pub async fn delete_of(db: &DatabaseConnection, user_id: Uuid) -> Result<(), ProfileError> {
    profiles::Entity::delete_many()
        .filter(profiles::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}
