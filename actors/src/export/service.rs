//! The export domain's database work: one row per export, claimed by the run that
//! builds its archive and kept alive by that run's heartbeat.

use chrono::{DateTime, Utc};
use folio_entities::{account_deletions, account_exports, users};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{ExportContext, ExportError, status};
use crate::events::{DomainEvent, UserExportRequested, append_event};

/// Where an export's archive is stored.
pub fn blob_key(user_id: Uuid, export_id: Uuid) -> String {
    format!("exports/{user_id}/{export_id}.zip")
}

fn ago(duration: std::time::Duration) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::hours(1))
}

/// Marks the user's running export failed when nothing has worked on it for
/// `stale_after` (its node died and nobody resumed it yet), so a new one may start.
async fn fail_if_stale<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    stale_after: std::time::Duration,
) -> Result<u64, ExportError> {
    let result = account_exports::Entity::update_many()
        .col_expr(account_exports::Column::Status, Expr::value(status::FAILED))
        .col_expr(account_exports::Column::CompletedAt, Expr::value(Some(Utc::now())))
        .col_expr(
            account_exports::Column::Error,
            Expr::value(Some(INTERRUPTED.to_string())),
        )
        .filter(account_exports::Column::UserId.eq(user_id))
        .filter(account_exports::Column::Status.eq(status::RUNNING))
        .filter(account_exports::Column::HeartbeatAt.lt(ago(stale_after)))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

pub const INTERRUPTED: &str = "the export was interrupted (its node stopped) and did not resume; start another";

/// Records a new export and its `user.export_requested` event in one transaction. A
/// user whose export is still running gets [`ExportError::Running`]; one whose running
/// export has stopped making progress sees it failed, and the new one starts.
pub async fn request(ctx: &ExportContext, user_id: Uuid) -> Result<account_exports::Model, ExportError> {
    let txn = ctx.db.begin().await?;
    let exists = users::Entity::find_by_id(user_id)
        .select_only()
        .column(users::Column::Id)
        .into_tuple::<Uuid>()
        .one(&txn)
        .await?
        .is_some();
    let leaving = account_deletions::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .is_some();
    if !exists || leaving {
        return Err(ExportError::UserNotFound);
    }
    fail_if_stale(&txn, user_id, ctx.config.stale_after).await?;
    let running = account_exports::Entity::find()
        .filter(account_exports::Column::UserId.eq(user_id))
        .filter(account_exports::Column::Status.eq(status::RUNNING))
        .one(&txn)
        .await?;
    if running.is_some() {
        return Err(ExportError::Running);
    }
    let now = Utc::now();
    let id = Uuid::now_v7();
    let inserted = account_exports::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        status: Set(status::RUNNING.to_string()),
        requested_at: Set(now),
        heartbeat_at: Set(now),
        claim: Set(None),
        attempts: Set(0),
        blob_key: Set(blob_key(user_id, id)),
        completed_at: Set(None),
        expires_at: Set(None),
        size_bytes: Set(None),
        projects: Set(None),
        files: Set(None),
        error: Set(None),
    }
    .insert(&txn)
    .await;
    let row = match inserted {
        Ok(row) => row,
        // Two requests raced past the check: the partial unique index decides.
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(ExportError::Running);
        }
        Err(e) => return Err(e.into()),
    };
    append_event(
        &txn,
        DomainEvent::UserExportRequested(UserExportRequested { export_id: id, user_id }),
        None,
    )
    .await?;
    txn.commit().await?;
    ctx.outbox.notify();
    tracing::info!(%user_id, export_id = %id, "account export requested");
    Ok(row)
}

/// The user's newest export (a running one that stopped making progress is failed
/// first, so the answer never shows it running forever).
pub async fn latest(ctx: &ExportContext, user_id: Uuid) -> Result<Option<account_exports::Model>, ExportError> {
    fail_if_stale(&ctx.db, user_id, ctx.config.give_up_after).await?;
    Ok(account_exports::Entity::find()
        .filter(account_exports::Column::UserId.eq(user_id))
        .order_by_desc(account_exports::Column::RequestedAt)
        .order_by_desc(account_exports::Column::Id)
        .one(&ctx.db)
        .await?)
}

pub async fn find(db: &DatabaseConnection, export_id: Uuid) -> Result<Option<account_exports::Model>, ExportError> {
    Ok(account_exports::Entity::find_by_id(export_id).one(db).await?)
}

/// What a delivery found when it tried to take an export.
#[derive(Debug)]
pub enum Claim {
    /// This run holds it now; build the archive.
    Taken {
        claim: Uuid,
        row: Box<account_exports::Model>,
    },
    /// Another run holds it and is alive (its heartbeat is fresh): look again later.
    Held,
    /// Nothing to do: finished, failed, or gone (the account was deleted).
    Settled,
}

/// Takes the export for a new run when it is running and nobody holds it, or its holder
/// stopped beating for `stale_after` (a node that died halfway: the archive is built
/// again from the start, under the same key).
pub async fn claim(
    db: &DatabaseConnection,
    export_id: Uuid,
    stale_after: std::time::Duration,
) -> Result<Claim, ExportError> {
    let claim = Uuid::new_v4();
    let taken = account_exports::Entity::update_many()
        .col_expr(account_exports::Column::Claim, Expr::value(Some(claim)))
        .col_expr(account_exports::Column::HeartbeatAt, Expr::value(Utc::now()))
        .col_expr(
            account_exports::Column::Attempts,
            Expr::col(account_exports::Column::Attempts).add(1),
        )
        .filter(account_exports::Column::Id.eq(export_id))
        .filter(account_exports::Column::Status.eq(status::RUNNING))
        .filter(
            account_exports::Column::Claim
                .is_null()
                .or(account_exports::Column::HeartbeatAt.lt(ago(stale_after))),
        )
        .exec(db)
        .await?;
    let row = find(db, export_id).await?;
    Ok(match row {
        Some(row) if taken.rows_affected == 1 && row.claim == Some(claim) => Claim::Taken {
            claim,
            row: Box::new(row),
        },
        Some(row) if row.status == status::RUNNING => Claim::Held,
        _ => Claim::Settled,
    })
}

/// The run is alive; false when it no longer holds the export (another run took it
/// over, or it was failed or deleted meanwhile): then it stops.
pub async fn heartbeat(db: &DatabaseConnection, export_id: Uuid, claim: Uuid) -> Result<bool, ExportError> {
    let result = account_exports::Entity::update_many()
        .col_expr(account_exports::Column::HeartbeatAt, Expr::value(Utc::now()))
        .filter(account_exports::Column::Id.eq(export_id))
        .filter(account_exports::Column::Claim.eq(claim))
        .filter(account_exports::Column::Status.eq(status::RUNNING))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// What a finished archive holds.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub size_bytes: u64,
    pub projects: u32,
    pub files: u32,
}

/// Marks the export ready; false when the run no longer held it.
pub async fn finish(
    db: &DatabaseConnection,
    export_id: Uuid,
    claim: Uuid,
    written: Written,
    expires_at: DateTime<Utc>,
) -> Result<bool, ExportError> {
    let result = account_exports::Entity::update_many()
        .col_expr(account_exports::Column::Status, Expr::value(status::READY))
        .col_expr(account_exports::Column::CompletedAt, Expr::value(Some(Utc::now())))
        .col_expr(account_exports::Column::ExpiresAt, Expr::value(Some(expires_at)))
        .col_expr(
            account_exports::Column::SizeBytes,
            Expr::value(Some(i64::try_from(written.size_bytes).unwrap_or(i64::MAX))),
        )
        .col_expr(
            account_exports::Column::Projects,
            Expr::value(Some(written.projects as i32)),
        )
        .col_expr(account_exports::Column::Files, Expr::value(Some(written.files as i32)))
        .col_expr(account_exports::Column::Error, Expr::value(Option::<String>::None))
        .filter(account_exports::Column::Id.eq(export_id))
        .filter(account_exports::Column::Claim.eq(claim))
        .filter(account_exports::Column::Status.eq(status::RUNNING))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// A run failed: the error is recorded; `give_up` ends the export as failed (the user
/// may start another), else it stays running and the event comes back.
pub async fn run_failed(
    db: &DatabaseConnection,
    export_id: Uuid,
    claim: Uuid,
    error: &str,
    give_up: bool,
) -> Result<(), ExportError> {
    let mut update = account_exports::Entity::update_many()
        .col_expr(account_exports::Column::Error, Expr::value(Some(error.to_string())))
        // Released, so the next delivery takes it at once.
        .col_expr(account_exports::Column::Claim, Expr::value(Option::<Uuid>::None));
    if give_up {
        update = update
            .col_expr(account_exports::Column::Status, Expr::value(status::FAILED))
            .col_expr(account_exports::Column::CompletedAt, Expr::value(Some(Utc::now())));
    }
    update
        .filter(account_exports::Column::Id.eq(export_id))
        .filter(account_exports::Column::Claim.eq(claim))
        .filter(account_exports::Column::Status.eq(status::RUNNING))
        .exec(db)
        .await?;
    Ok(())
}

/// Fails a running export whose claim count is spent (a run that keeps dying halfway).
pub async fn give_up(db: &DatabaseConnection, export_id: Uuid, error: &str) -> Result<(), ExportError> {
    account_exports::Entity::update_many()
        .col_expr(account_exports::Column::Status, Expr::value(status::FAILED))
        .col_expr(account_exports::Column::CompletedAt, Expr::value(Some(Utc::now())))
        .col_expr(account_exports::Column::Error, Expr::value(Some(error.to_string())))
        .filter(account_exports::Column::Id.eq(export_id))
        .filter(account_exports::Column::Status.eq(status::RUNNING))
        .exec(db)
        .await?;
    Ok(())
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Ready exports past their expiry whose archive was deleted.
    pub expired: u64,
    /// Running exports nobody worked on for the give-up period, now failed.
    pub failed: u64,
}

/// Deletes the archives of exports past their expiry (the row stays, as `expired`), and
/// fails running exports that nothing has worked on for `give_up_after`.
pub async fn sweep(ctx: &ExportContext) -> Result<SweepReport, ExportError> {
    let mut report = SweepReport::default();
    let now = Utc::now();
    let due = account_exports::Entity::find()
        .filter(account_exports::Column::Status.eq(status::READY))
        .filter(account_exports::Column::ExpiresAt.lt(now))
        .limit(500)
        .all(&ctx.db)
        .await?;
    for row in due {
        ctx.blobs.delete(&row.blob_key).await.map_err(ExportError::Storage)?;
        let expired = account_exports::Entity::update_many()
            .col_expr(account_exports::Column::Status, Expr::value(status::EXPIRED))
            .filter(account_exports::Column::Id.eq(row.id))
            .filter(account_exports::Column::Status.eq(status::READY))
            .exec(&ctx.db)
            .await?;
        report.expired += expired.rows_affected;
    }
    let failed = account_exports::Entity::update_many()
        .col_expr(account_exports::Column::Status, Expr::value(status::FAILED))
        .col_expr(account_exports::Column::CompletedAt, Expr::value(Some(now)))
        .col_expr(
            account_exports::Column::Error,
            Expr::value(Some(INTERRUPTED.to_string())),
        )
        .filter(account_exports::Column::Status.eq(status::RUNNING))
        .filter(account_exports::Column::HeartbeatAt.lt(ago(ctx.config.give_up_after)))
        .exec(&ctx.db)
        .await?;
    report.failed = failed.rows_affected;
    Ok(report)
}

/// Removes every export of a user being deleted: archives first, then the rows (a run
/// still building one finds its row gone and deletes what it wrote).
pub async fn delete_all_of(ctx: &ExportContext, user_id: Uuid) -> Result<u64, ExportError> {
    let rows = account_exports::Entity::find()
        .filter(account_exports::Column::UserId.eq(user_id))
        .all(&ctx.db)
        .await?;
    for row in &rows {
        ctx.blobs.delete(&row.blob_key).await.map_err(ExportError::Storage)?;
    }
    account_exports::Entity::delete_many()
        .filter(account_exports::Column::UserId.eq(user_id))
        .exec(&ctx.db)
        .await?;
    Ok(rows.len() as u64)
}
