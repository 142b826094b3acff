//! The session domain's database work. Called by the session workers, and by the CLI
//! for administration (`folio admin grant`).

use chrono::Utc;
use std::collections::HashSet;

use folio_entities::{account_deletions, event_tickets, media_files, projects, refresh_tokens, sessions, users};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
    sea_query::{Expr, Func},
};
use uuid::Uuid;

use crate::{
    cluster::EndedSessions,
    events::{DomainEvent, UserDeleted, append_event, outbox::OutboxSignal},
};

use super::{
    SessionConfig,
    domain::{Email, Password, Role},
    error::SessionError,
    messages::*,
    password::PasswordHasher,
    throttle::LoginThrottle,
    tokens::{TokenKeys, new_refresh_token, refresh_expiry, refresh_token_digest},
};

/// Everything a session worker needs; shared by all workers of a node.
pub struct SessionContext {
    pub db: DatabaseConnection,
    pub hasher: PasswordHasher,
    pub keys: TokenKeys,
    pub config: SessionConfig,
    /// Woken when an account deletion commits its event.
    pub outbox: OutboxSignal,
}

async fn find_by_username<C: ConnectionTrait>(db: &C, username: &str) -> Result<Option<users::Model>, SessionError> {
    Ok(users::Entity::find()
        .filter(Expr::expr(Func::lower(Expr::col(users::Column::Username))).eq(username.to_lowercase()))
        .one(db)
        .await?)
}

pub(super) async fn find_by_email<C: ConnectionTrait>(
    db: &C,
    email: &Email,
) -> Result<Option<users::Model>, SessionError> {
    Ok(users::Entity::find()
        .filter(users::Column::Email.eq(email.as_str()))
        .one(db)
        .await?)
}

pub async fn register(ctx: &SessionContext, cmd: RegisterCmd) -> Result<Registered, SessionError> {
    if find_by_username(&ctx.db, cmd.username.as_str()).await?.is_some() {
        return Err(SessionError::UsernameTaken);
    }
    if find_by_email(&ctx.db, &cmd.email).await?.is_some() {
        return Err(SessionError::EmailTaken);
    }
    // A deleted account's names stay taken for the hold period, so nobody can pose as
    // the person who just left.
    if let Some(held) = held_names(&ctx.db, cmd.username.as_str(), &cmd.email).await? {
        return Err(if held.email == cmd.email.as_str() {
            SessionError::EmailTaken
        } else {
            SessionError::UsernameTaken
        });
    }
    let password_hash = ctx.hasher.hash(&cmd.password).await?;
    let role = if ctx.config.is_admin_email(cmd.email.as_str()) {
        Role::Admin
    } else {
        Role::User
    };
    let now = Utc::now();
    let user_id = Uuid::now_v7();
    let inserted = users::ActiveModel {
        id: Set(user_id),
        username: Set(cmd.username.as_str().to_string()),
        email: Set(cmd.email.as_str().to_string()),
        password_hash: Set(password_hash),
        role: Set(role.as_str().to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&ctx.db)
    .await;
    match inserted {
        Ok(_) => Ok(Registered { user_id }),
        // Two registrations raced past the checks above: the unique index decides.
        Err(e) => match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(detail)) if detail.contains("email") => {
                Err(SessionError::EmailTaken)
            }
            Some(SqlErr::UniqueConstraintViolation(_)) => Err(SessionError::UsernameTaken),
            _ => Err(e.into()),
        },
    }
}

pub async fn login(
    ctx: &SessionContext,
    throttle: &mut LoginThrottle,
    cmd: LoginCmd,
) -> Result<LoginGrant, SessionError> {
    let email = cmd.email.as_str();
    if let Some(retry_after_secs) = throttle.retry_after(email, &cmd.client) {
        return Err(SessionError::TooManyAttempts { retry_after_secs });
    }
    let user = find_by_email(&ctx.db, &cmd.email).await?;
    let verified = ctx
        .hasher
        .verify(&cmd.password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    let user = match user {
        Some(user) if verified.matches => user,
        _ => {
            throttle.record_failure(email, &cmd.client);
            // Failed logins are an audit trail; the request id in the span ties them to
            // the client without logging the address typed.
            tracing::info!("failed login counted against the account");
            return Err(SessionError::InvalidCredentials);
        }
    };
    throttle.record_success(email, &cmd.client);
    // An account being deleted is gone for its holder already.
    if account_deletions::Entity::find_by_id(user.id)
        .one(&ctx.db)
        .await?
        .is_some()
    {
        return Err(SessionError::InvalidCredentials);
    }
    if verified.needs_rehash {
        let new_hash = ctx.hasher.hash(&cmd.password).await?;
        users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(new_hash))
            .col_expr(users::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(users::Column::Id.eq(user.id))
            .exec(&ctx.db)
            .await?;
    }
    let role = Role::from_db(&user.role);
    let session_id = Uuid::now_v7();
    let access = ctx.keys.issue(user.id, &user.username, role, Some(session_id))?;
    let refresh_token = new_refresh_token();
    let now = Utc::now();
    let txn = ctx.db.begin().await?;
    sessions::ActiveModel {
        id: Set(session_id),
        user_id: Set(user.id),
        created_at: Set(now),
        last_used_at: Set(now),
        client_address: Set(Some(bounded(&cmd.client, MAX_CLIENT_ADDRESS))),
        user_agent: Set(cmd.user_agent.as_deref().map(|agent| bounded(agent, MAX_USER_AGENT))),
    }
    .insert(&txn)
    .await?;
    insert_refresh_token(&txn, ctx, user.id, session_id, &refresh_token).await?;
    txn.commit().await?;
    Ok(LoginGrant {
        access_token: access.token,
        refresh_token,
        expires_in: ctx.keys.access_ttl_secs(),
        user: UserSummary {
            id: user.id,
            username: user.username,
            email: user.email,
            role,
        },
    })
}

/// What the sessions table holds of the client: enough to recognise it, no more.
const MAX_CLIENT_ADDRESS: usize = 64;
const MAX_USER_AGENT: usize = 512;

fn bounded(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

async fn insert_refresh_token<C: ConnectionTrait>(
    db: &C,
    ctx: &SessionContext,
    user_id: Uuid,
    family_id: Uuid,
    token: &str,
) -> Result<Uuid, SessionError> {
    let id = Uuid::now_v7();
    refresh_tokens::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        token_hash: Set(refresh_token_digest(token)),
        family_id: Set(family_id),
        expires_at: Set(refresh_expiry(ctx.config.refresh_ttl)),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        replaced_by: Set(None),
    }
    .insert(db)
    .await?;
    Ok(id)
}

async fn revoke_family<C: ConnectionTrait>(db: &C, family_id: Uuid) -> Result<(), SessionError> {
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_tokens::Column::FamilyId.eq(family_id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

pub async fn refresh(ctx: &SessionContext, cmd: RefreshCmd) -> Result<RefreshGrant, SessionError> {
    let digest = refresh_token_digest(&cmd.refresh_token);
    let txn = ctx.db.begin().await?;
    let Some(stored) = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(digest))
        .one(&txn)
        .await?
    else {
        return Err(SessionError::InvalidRefreshToken);
    };
    if stored.revoked_at.is_some() {
        if stored.replaced_by.is_some() {
            // A rotated token came back: whoever holds the family may be an attacker
            // (RFC 9700 §4.14.2), so every token of the family stops working.
            tracing::warn!(user_id = %stored.user_id, family_id = %stored.family_id, "refresh token reuse; revoking the family");
            revoke_family(&txn, stored.family_id).await?;
            txn.commit().await?;
        }
        return Err(SessionError::InvalidRefreshToken);
    }
    if stored.expires_at <= Utc::now() {
        return Err(SessionError::InvalidRefreshToken);
    }
    let Some(user) = users::Entity::find_by_id(stored.user_id).one(&txn).await? else {
        return Err(SessionError::InvalidRefreshToken);
    };
    let access = ctx.keys.issue(
        user.id,
        &user.username,
        Role::from_db(&user.role),
        Some(stored.family_id),
    )?;
    sessions::Entity::update_many()
        .col_expr(sessions::Column::LastUsedAt, Expr::value(Utc::now()))
        .filter(sessions::Column::Id.eq(stored.family_id))
        .exec(&txn)
        .await?;
    let rotated = if ctx.config.rotate_refresh_tokens {
        let next = new_refresh_token();
        let next_id = insert_refresh_token(&txn, ctx, user.id, stored.family_id, &next).await?;
        let claimed = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(Utc::now()))
            .col_expr(refresh_tokens::Column::ReplacedBy, Expr::value(next_id))
            .filter(refresh_tokens::Column::Id.eq(stored.id))
            .filter(refresh_tokens::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            // A concurrent refresh rotated it first: this is a reuse.
            txn.rollback().await?;
            revoke_family(&ctx.db, stored.family_id).await?;
            return Err(SessionError::InvalidRefreshToken);
        }
        Some(next)
    } else {
        None
    };
    txn.commit().await?;
    Ok(RefreshGrant {
        access_token: access.token,
        refresh_token: rotated,
        expires_in: ctx.keys.access_ttl_secs(),
    })
}

/// Ends sessions: their refresh tokens are deleted (so they stop working) with the
/// session rows. Every way of ending sessions comes through here. Which sessions ended,
/// so that their live streams can be ended too (`None`: none did).
pub async fn logout(ctx: &SessionContext, cmd: LogoutCmd) -> Result<Option<EndedSessions>, SessionError> {
    let txn = ctx.db.begin().await?;
    let user_tokens = refresh_tokens::Column::UserId.eq(cmd.user_id);
    let user_sessions = sessions::Column::UserId.eq(cmd.user_id);
    let ended = match cmd.scope {
        LogoutScope::AllSessions => {
            end_sessions(&txn, user_tokens, user_sessions).await?;
            Some(EndedSessions::All)
        }
        LogoutScope::AllExcept(keep) => {
            let (tokens, rows, ended) = match keep {
                Some(keep) => (
                    user_tokens.and(refresh_tokens::Column::FamilyId.ne(keep)),
                    user_sessions.and(sessions::Column::Id.ne(keep)),
                    EndedSessions::AllExcept { keep },
                ),
                None => (user_tokens, user_sessions, EndedSessions::All),
            };
            end_sessions(&txn, tokens, rows).await?;
            Some(ended)
        }
        LogoutScope::Session(session_id) => {
            let ended = end_sessions(
                &txn,
                user_tokens.and(refresh_tokens::Column::FamilyId.eq(session_id)),
                user_sessions.and(sessions::Column::Id.eq(session_id)),
            )
            .await?;
            if ended == 0 {
                return Err(SessionError::SessionNotFound);
            }
            Some(EndedSessions::One { session: session_id })
        }
        LogoutScope::Token(token) => {
            let digest = refresh_token_digest(&token);
            let found = refresh_tokens::Entity::find()
                .filter(refresh_tokens::Column::TokenHash.eq(digest))
                .filter(refresh_tokens::Column::UserId.eq(cmd.user_id))
                .one(&txn)
                .await?;
            // The whole family goes: its older, rotated members are useless anyway.
            match found {
                Some(found) => {
                    end_sessions(
                        &txn,
                        refresh_tokens::Column::FamilyId.eq(found.family_id),
                        sessions::Column::Id.eq(found.family_id),
                    )
                    .await?;
                    Some(EndedSessions::One {
                        session: found.family_id,
                    })
                }
                None => None,
            }
        }
    };
    txn.commit().await?;
    Ok(ended)
}

/// Deletes the refresh tokens and session rows matched; how many of both went.
async fn end_sessions<C: ConnectionTrait>(
    db: &C,
    tokens: sea_orm::sea_query::SimpleExpr,
    rows: sea_orm::sea_query::SimpleExpr,
) -> Result<u64, SessionError> {
    let tokens = refresh_tokens::Entity::delete_many().filter(tokens).exec(db).await?;
    let rows = sessions::Entity::delete_many().filter(rows).exec(db).await?;
    Ok(tokens.rows_affected + rows.rows_affected)
}

/// The caller's sessions that can still be refreshed, newest first.
pub async fn list_sessions(db: &DatabaseConnection, user_id: Uuid) -> Result<Vec<SessionInfo>, SessionError> {
    let live: HashSet<Uuid> = refresh_tokens::Entity::find()
        .select_only()
        .column(refresh_tokens::Column::FamilyId)
        .filter(refresh_tokens::Column::UserId.eq(user_id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .filter(refresh_tokens::Column::ExpiresAt.gt(Utc::now()))
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let rows = sessions::Entity::find()
        .filter(sessions::Column::UserId.eq(user_id))
        .order_by_desc(sessions::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|row| live.contains(&row.id))
        .map(|row| SessionInfo {
            id: row.id,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            client_address: row.client_address,
            user_agent: row.user_agent,
        })
        .collect())
}

/// The email an account's requests are keyed by in the session workers.
pub async fn email_of(db: &DatabaseConnection, user_id: Uuid) -> Result<Email, SessionError> {
    let user = users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(SessionError::UserNotFound)?;
    Ok(Email::parse(&user.email)?)
}

/// Checks the current password like a login does (a wrong one counts in the same
/// throttle) and sets the new one. The caller then ends the other sessions through
/// [`logout`], the one path every session end takes.
pub async fn change_password(
    ctx: &SessionContext,
    throttle: &mut LoginThrottle,
    email: &Email,
    cmd: ChangePasswordCmd,
) -> Result<(), SessionError> {
    let user = confirm_password(ctx, throttle, email, cmd.user_id, &cmd.current_password, &cmd.client).await?;
    let new_hash = ctx.hasher.hash(&cmd.new_password).await?;
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(new_hash))
        .col_expr(users::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(users::Column::Id.eq(user.id))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// The account holder confirms a sensitive change with their current password, checked
/// like a login: the same throttles answer 429 first, and a wrong password counts as a
/// failed login against the account and the client address.
async fn confirm_password(
    ctx: &SessionContext,
    throttle: &mut LoginThrottle,
    email: &Email,
    user_id: Uuid,
    password: &Password,
    client: &str,
) -> Result<users::Model, SessionError> {
    if let Some(retry_after_secs) = throttle.retry_after(email.as_str(), client) {
        return Err(SessionError::TooManyAttempts { retry_after_secs });
    }
    let user = users::Entity::find_by_id(user_id)
        .one(&ctx.db)
        .await?
        .ok_or(SessionError::UserNotFound)?;
    let matches = ctx
        .hasher
        .verify(password, Some(user.password_hash.as_str()))
        .await?
        .matches;
    if !matches {
        throttle.record_failure(email.as_str(), client);
        tracing::info!("wrong current password, counted against the account");
        return Err(SessionError::WrongPassword);
    }
    throttle.record_success(email.as_str(), client);
    Ok(user)
}

/// The hold on a deleted account's username or email, while it lasts.
async fn held_names<C: ConnectionTrait>(
    db: &C,
    username: &str,
    email: &Email,
) -> Result<Option<account_deletions::Model>, SessionError> {
    Ok(account_deletions::Entity::find()
        .filter(
            Expr::expr(Func::lower(Expr::col(account_deletions::Column::Username)))
                .eq(username.to_lowercase())
                .or(account_deletions::Column::Email.eq(email.as_str())),
        )
        .filter(account_deletions::Column::HeldUntil.gt(Utc::now()))
        .one(db)
        .await?)
}

/// Checks the password like a login does, then commits in one transaction the
/// deletion record (which also holds the names back) and the `user.deleted` event,
/// and ends the account's tickets. A second request while one is pending changes
/// nothing.
pub async fn request_deletion(
    ctx: &SessionContext,
    throttle: &mut LoginThrottle,
    email: &Email,
    cmd: DeleteAccountCmd,
) -> Result<(), SessionError> {
    let user = confirm_password(ctx, throttle, email, cmd.user_id, &cmd.password, &cmd.client).await?;
    let txn = ctx.db.begin().await?;
    if account_deletions::Entity::find_by_id(user.id)
        .one(&txn)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let now = Utc::now();
    let hold = chrono::Duration::from_std(ctx.config.account_hold).unwrap_or(chrono::Duration::days(30));
    account_deletions::ActiveModel {
        user_id: Set(user.id),
        username: Set(user.username.clone()),
        email: Set(user.email.clone()),
        requested_at: Set(now),
        held_until: Set(now + hold),
        completed_at: Set(None),
        attempts: Set(0),
        last_error: Set(None),
    }
    .insert(&txn)
    .await?;
    append_event(
        &txn,
        DomainEvent::UserDeleted(UserDeleted {
            user_id: user.id,
            username: user.username,
        }),
        None,
    )
    .await?;
    event_tickets::Entity::delete_many()
        .filter(event_tickets::Column::UserId.eq(user.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    ctx.outbox.notify();
    tracing::info!(user_id = %user.id, "account deletion requested");
    Ok(())
}

/// The session domain's part of a deletion, last: tickets, tokens, sessions, then the
/// account itself; the deletion is marked done (the record stays as the names' hold).
pub async fn finish_deletion(db: &DatabaseConnection, user_id: Uuid) -> Result<(), SessionError> {
    let txn = db.begin().await?;
    // An access token stays valid for its lifetime, so the holder may have added a
    // project or a file while the other steps ran. Dropping the account would take
    // those rows with it (the foreign keys cascade) and leave their blobs and search
    // documents behind; the deletion runs its steps again instead.
    let projects_left = projects::Entity::find()
        .filter(projects::Column::UserId.eq(user_id))
        .count(&txn)
        .await?;
    let files_left = media_files::Entity::find()
        .filter(media_files::Column::UserId.eq(user_id))
        .count(&txn)
        .await?;
    if projects_left + files_left > 0 {
        return Err(SessionError::DeletionIncomplete {
            projects: projects_left,
            files: files_left,
        });
    }
    event_tickets::Entity::delete_many()
        .filter(event_tickets::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    refresh_tokens::Entity::delete_many()
        .filter(refresh_tokens::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    sessions::Entity::delete_many()
        .filter(sessions::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    users::Entity::delete_by_id(user_id).exec(&txn).await?;
    account_deletions::Entity::update_many()
        .col_expr(account_deletions::Column::CompletedAt, Expr::value(Utc::now()))
        .col_expr(
            account_deletions::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .filter(account_deletions::Column::UserId.eq(user_id))
        .filter(account_deletions::Column::CompletedAt.is_null())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

pub async fn deletion_failed(db: &DatabaseConnection, user_id: Uuid, error: &str) -> Result<(), SessionError> {
    account_deletions::Entity::update_many()
        .col_expr(
            account_deletions::Column::Attempts,
            Expr::col(account_deletions::Column::Attempts).add(1),
        )
        .col_expr(account_deletions::Column::LastError, Expr::value(error.to_string()))
        .filter(account_deletions::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn pending_deletions(db: &DatabaseConnection) -> Result<Vec<AccountDeletion>, SessionError> {
    Ok(account_deletions::Entity::find()
        .filter(account_deletions::Column::CompletedAt.is_null())
        .order_by_asc(account_deletions::Column::RequestedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|row| AccountDeletion {
            user_id: row.user_id,
            username: row.username,
            requested_at: row.requested_at,
            completed_at: row.completed_at,
            attempts: row.attempts,
            last_error: row.last_error,
        })
        .collect())
}

/// A deletion that gave up (or whose event the operator wants sent again) starts over:
/// its `user.deleted` is committed again, and every step skips what is already gone.
pub async fn retry_deletion(ctx: &SessionContext, user_id: Uuid) -> Result<(), SessionError> {
    let txn = ctx.db.begin().await?;
    let pending = account_deletions::Entity::find_by_id(user_id)
        .filter(account_deletions::Column::CompletedAt.is_null())
        .one(&txn)
        .await?
        .ok_or(SessionError::DeletionNotPending)?;
    account_deletions::Entity::update_many()
        .col_expr(account_deletions::Column::Attempts, Expr::value(0))
        .col_expr(
            account_deletions::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .filter(account_deletions::Column::UserId.eq(user_id))
        .exec(&txn)
        .await?;
    append_event(
        &txn,
        DomainEvent::UserDeleted(UserDeleted {
            user_id,
            username: pending.username,
        }),
        None,
    )
    .await?;
    txn.commit().await?;
    ctx.outbox.notify();
    Ok(())
}

/// Makes the account with this email an administrator.
pub async fn grant_admin(db: &DatabaseConnection, email: &Email) -> Result<Uuid, SessionError> {
    let user = find_by_email(db, email).await?.ok_or(SessionError::UserNotFound)?;
    users::Entity::update_many()
        .col_expr(users::Column::Role, Expr::value(Role::Admin.as_str()))
        .col_expr(users::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(users::Column::Id.eq(user.id))
        .exec(db)
        .await?;
    Ok(user.id)
}

/// Applies `FOLIO_ADMIN_EMAILS` to accounts that already exist.
pub async fn promote_admin_emails(db: &DatabaseConnection, emails: &[String]) -> Result<u64, SessionError> {
    if emails.is_empty() {
        return Ok(0);
    }
    let result = users::Entity::update_many()
        .col_expr(users::Column::Role, Expr::value(Role::Admin.as_str()))
        .filter(users::Column::Email.is_in(emails.iter().map(|e| e.to_lowercase())))
        .filter(users::Column::Role.ne(Role::Admin.as_str()))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Whether the user's session is still open: logout, a revoke, a password change or the
/// account's deletion removes its row.
pub async fn session_is_open(db: &DatabaseConnection, user_id: Uuid, session_id: Uuid) -> Result<bool, SessionError> {
    Ok(sessions::Entity::find_by_id(session_id)
        .filter(sessions::Column::UserId.eq(user_id))
        .count(db)
        .await?
        > 0)
}

pub async fn role_of(db: &DatabaseConnection, user_id: Uuid) -> Result<Role, SessionError> {
    let user = users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(SessionError::UserNotFound)?;
    Ok(Role::from_db(&user.role))
}
