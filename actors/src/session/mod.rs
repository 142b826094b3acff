//! The session domain: users, refresh tokens, password hashing, JWT issue and verify.
//!
//! What the actor owns: each session worker owns the failed-login counters of the
//! accounts routed to it (key = the account's normalized email). Registrations and
//! logins for one email therefore run one after another on one worker, so a burst of
//! guesses against an account is counted exactly; different accounts run in parallel.
//!
//! What is not ordered: refresh and logout touch no worker state, and what they race on
//! is settled by the database (a refresh claims its token with a conditional update; a
//! second claim is a reuse). They run in the caller's task. Verification is pure
//! computation on the shared key and runs there too.

pub mod address_throttle;
pub mod domain;
pub mod error;
pub mod messages;
pub mod password;
pub(crate) mod service;
pub mod throttle;
pub mod tickets;
pub mod tokens;

use std::{sync::Arc, time::Duration};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use sea_orm::DatabaseConnection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

pub use domain::{Email, Field, Password, Role, Username, ValidationError};
pub use error::SessionError;
pub use messages::*;
pub use password::{Argon2Cost, PasswordHasher};
pub use service::SessionContext;
pub use tokens::{Claims, TokenKeyError, TokenKeys};

use crate::{
    blocking::BlockingPool,
    cluster::{LiveEvents, SessionsEnded, StreamEndReason},
    events::outbox::OutboxSignal,
    supervisor::{KeyedPool, PoolStartError, SupervisorMsg},
};
use address_throttle::AddressThrottleClient;
use throttle::{LoginThrottle, ThrottlePolicy};

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub refresh_ttl: Duration,
    pub rotate_refresh_tokens: bool,
    /// Lower-cased.
    pub admin_emails: Vec<String>,
    pub max_failed_logins: u32,
    /// Failed logins from one client address over all accounts before it is locked out.
    pub max_failed_logins_per_address: u32,
    pub lockout: Duration,
    /// Logins and registrations that may wait for a password hash at once.
    pub hash_queue_limit: usize,
    pub workers: usize,
    /// How long a deleted account's username and email stay refused to registrations.
    pub account_hold: Duration,
}

impl SessionConfig {
    pub fn is_admin_email(&self, email: &str) -> bool {
        self.admin_emails.iter().any(|admin| admin == email)
    }
}

type Reply<T> = RpcReplyPort<Result<T, SessionError>>;

/// Requests for one account, keyed by its email.
#[derive(ractor_cluster::RactorMessage)]
pub enum SessionMsg {
    Register(RegisterCmd, Reply<Registered>),
    Login(LoginCmd, Reply<LoginGrant>),
    /// Keyed by the account's email like a login, so a wrong current password meets
    /// the same failed-login counter.
    ChangePassword(Email, ChangePasswordCmd, Reply<()>),
    /// Keyed by email like a login, for the same reason.
    DeleteAccount(Email, DeleteAccountCmd, Reply<()>),
    /// Makes the worker panic, so tests can watch the supervisor replace it.
    #[cfg(feature = "fault-injection")]
    Crash,
}

pub struct SessionWorker;

pub struct SessionWorkerState {
    ctx: Arc<SessionContext>,
    throttle: LoginThrottle,
}

impl Actor for SessionWorker {
    type Msg = SessionMsg;
    type State = SessionWorkerState;
    type Arguments = Arc<SessionContext>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        ctx: Arc<SessionContext>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let policy = ThrottlePolicy {
            max_failures: ctx.config.max_failed_logins,
            window: ctx.config.lockout,
        };
        Ok(SessionWorkerState {
            ctx,
            throttle: LoginThrottle::new(policy),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let ctx = state.ctx.clone();
        // A caller that gave up (timeout) dropped its port; nothing to do about that.
        match message {
            SessionMsg::Register(cmd, reply) => {
                let _ = reply.send(service::register(&ctx, cmd).await);
            }
            SessionMsg::Login(cmd, reply) => {
                let _ = reply.send(service::login(&ctx, &mut state.throttle, cmd).await);
            }
            SessionMsg::ChangePassword(email, cmd, reply) => {
                let _ = reply.send(service::change_password(&ctx, &mut state.throttle, &email, cmd).await);
            }
            SessionMsg::DeleteAccount(email, cmd, reply) => {
                let _ = reply.send(service::request_deletion(&ctx, &mut state.throttle, &email, cmd).await);
            }
            #[cfg(feature = "fault-injection")]
            SessionMsg::Crash => panic!("session worker crash requested by a test"),
        }
        Ok(())
    }
}

/// How the rest of the node talks to the session domain.
#[derive(Clone)]
pub struct SessionClient {
    pool: KeyedPool<SessionMsg>,
    ctx: Arc<SessionContext>,
    /// Failed logins per client address across every account (an actor of its own);
    /// the per-account throttle lives in the worker that owns the account.
    address_throttle: AddressThrottleClient,
    /// One permit per login or registration in flight: hashing is the bottleneck, so a
    /// flood is refused at the door instead of queueing behind real users.
    hash_queue: Arc<Semaphore>,
}

/// A full hash queue drains in about this long at OWASP cost.
const HASH_QUEUE_RETRY_AFTER_SECS: u64 = 1;

/// Why the session domain could not start.
#[derive(Debug, thiserror::Error)]
pub enum SessionStartError {
    #[error("promoting the configured administrators")]
    AdminPromotion(#[source] SessionError),
    #[error("preparing the password hasher")]
    Hasher(#[source] SessionError),
    #[error("starting the session workers")]
    Workers(#[from] PoolStartError),
    #[error("starting the login throttle")]
    Throttle(#[source] PoolStartError),
}

impl SessionClient {
    pub async fn start(
        supervisor: &ActorRef<SupervisorMsg>,
        db: DatabaseConnection,
        keys: TokenKeys,
        argon2: Argon2Cost,
        hashing: BlockingPool,
        config: SessionConfig,
        outbox: OutboxSignal,
    ) -> Result<Self, SessionStartError> {
        service::promote_admin_emails(&db, &config.admin_emails)
            .await
            .map_err(SessionStartError::AdminPromotion)?;
        let hasher = PasswordHasher::new(argon2, hashing)
            .await
            .map_err(SessionStartError::Hasher)?;
        let workers = config.workers;
        let address_throttle = AddressThrottleClient::start(
            supervisor,
            ThrottlePolicy {
                max_failures: config.max_failed_logins_per_address,
                window: config.lockout,
            },
        )
        .await
        .map_err(SessionStartError::Throttle)?;
        let hash_queue = Arc::new(Semaphore::new(config.hash_queue_limit.max(1)));
        let ctx = Arc::new(SessionContext {
            db,
            hasher,
            keys,
            config,
            outbox,
        });
        let worker_ctx = ctx.clone();
        let pool = KeyedPool::start(supervisor, "session", workers, Duration::from_secs(30), move || {
            (SessionWorker, worker_ctx.clone())
        })
        .await?;
        Ok(Self {
            pool,
            ctx,
            address_throttle,
            hash_queue,
        })
    }

    fn hash_permit(&self) -> Result<OwnedSemaphorePermit, SessionError> {
        self.hash_queue
            .clone()
            .try_acquire_owned()
            .map_err(|_| SessionError::Overloaded {
                retry_after_secs: HASH_QUEUE_RETRY_AFTER_SECS,
            })
    }

    pub async fn register(&self, cmd: RegisterCmd) -> Result<Registered, SessionError> {
        let _permit = self.hash_permit()?;
        let key = cmd.email.clone();
        self.pool
            .call(&key, |reply| SessionMsg::Register(cmd.clone(), reply))
            .await?
    }

    pub async fn login(&self, cmd: LoginCmd) -> Result<LoginGrant, SessionError> {
        if let Some(retry_after_secs) = self.address_throttle.retry_after(&cmd.client).await? {
            return Err(SessionError::TooManyAttempts { retry_after_secs });
        }
        let _permit = self.hash_permit()?;
        let key = cmd.email.clone();
        let client = cmd.client.clone();
        let result = self
            .pool
            .call(&key, |reply| SessionMsg::Login(cmd.clone(), reply))
            .await?;
        // Successes do not clear the count: one valid account must not reset a spray.
        if matches!(result, Err(SessionError::InvalidCredentials)) {
            self.address_throttle.record_failure(&client);
        }
        result
    }

    pub async fn refresh(&self, cmd: RefreshCmd) -> Result<RefreshGrant, SessionError> {
        service::refresh(&self.ctx, cmd).await
    }

    pub async fn logout(&self, cmd: LogoutCmd) -> Result<(), SessionError> {
        self.end_sessions(cmd, StreamEndReason::LoggedOut).await
    }

    /// Ends sessions, then the live streams opened in them on every node, with the
    /// reason as the streams' last event. After the commit: a stream must not end for a
    /// session that is still open.
    async fn end_sessions(&self, cmd: LogoutCmd, reason: StreamEndReason) -> Result<(), SessionError> {
        let user_id = cmd.user_id;
        if let Some(sessions) = service::logout(&self.ctx, cmd).await? {
            LiveEvents.end_streams(SessionsEnded {
                user_id,
                sessions,
                reason,
            });
        }
        Ok(())
    }

    /// A change the account holder confirms with their password, run on the worker that
    /// owns the account's email (where its failed-login counter lives) after the client
    /// address's throttle; a wrong password counts against the address too.
    async fn password_confirmed(
        &self,
        user_id: Uuid,
        client: &str,
        message: impl Fn(Email, Reply<()>) -> SessionMsg,
    ) -> Result<(), SessionError> {
        if let Some(retry_after_secs) = self.address_throttle.retry_after(client).await? {
            return Err(SessionError::TooManyAttempts { retry_after_secs });
        }
        let _permit = self.hash_permit()?;
        let email = service::email_of(&self.ctx.db, user_id).await?;
        let result = self.pool.call(&email, |reply| message(email.clone(), reply)).await?;
        if matches!(result, Err(SessionError::WrongPassword)) {
            self.address_throttle.record_failure(client);
        }
        result
    }

    /// Sets a new password when the current one is right, then ends every session but
    /// the caller's through the one path that ends sessions (as [`SessionClient::logout`] does). A wrong current password counts
    /// in both failed-login throttles (the account's and the client address's).
    pub async fn change_password(&self, cmd: ChangePasswordCmd) -> Result<(), SessionError> {
        let (user_id, keep) = (cmd.user_id, cmd.keep_session);
        self.password_confirmed(user_id, &cmd.client, |email, reply| {
            SessionMsg::ChangePassword(email, cmd.clone(), reply)
        })
        .await?;
        self.end_sessions(
            LogoutCmd {
                user_id,
                scope: LogoutScope::AllExcept(keep),
            },
            StreamEndReason::PasswordChanged,
        )
        .await
    }

    /// Starts deleting the account when the password is right (a wrong one counts like
    /// a failed login): the `user.deleted` event is committed, and every session ends
    /// through the one path that ends sessions (as [`SessionClient::logout`] does). The domains remove the rest on that event.
    pub async fn delete_account(&self, cmd: DeleteAccountCmd) -> Result<(), SessionError> {
        let user_id = cmd.user_id;
        self.password_confirmed(user_id, &cmd.client, |email, reply| {
            SessionMsg::DeleteAccount(email, cmd.clone(), reply)
        })
        .await?;
        self.end_sessions(
            LogoutCmd {
                user_id,
                scope: LogoutScope::AllSessions,
            },
            StreamEndReason::AccountDeleted,
        )
        .await
    }

    /// The last step of deleting an account, once every other domain removed its part:
    /// the session domain's own rows, then the account. Repeating it changes nothing.
    pub async fn finish_deletion(&self, user_id: Uuid) -> Result<(), SessionError> {
        service::finish_deletion(&self.ctx.db, user_id).await
    }

    /// A deletion step failed; the console shows how often and why.
    pub async fn deletion_failed(&self, user_id: Uuid, error: &str) -> Result<(), SessionError> {
        service::deletion_failed(&self.ctx.db, user_id, error).await
    }

    /// Deletions that have not finished, oldest first.
    pub async fn pending_deletions(&self) -> Result<Vec<AccountDeletion>, SessionError> {
        service::pending_deletions(&self.ctx.db).await
    }

    /// Commits `user.deleted` again for a deletion that has not finished.
    pub async fn retry_deletion(&self, user_id: Uuid) -> Result<(), SessionError> {
        service::retry_deletion(&self.ctx, user_id).await
    }

    pub async fn sessions(&self, user_id: Uuid) -> Result<Vec<SessionInfo>, SessionError> {
        service::list_sessions(&self.ctx.db, user_id).await
    }

    /// Verification is pure computation on the shared key, so it runs in the caller's
    /// task instead of queueing behind password hashing in a worker.
    pub fn verify(&self, access_token: &str) -> Result<Claims, SessionError> {
        self.ctx.keys.verify(access_token)
    }

    /// The console's CSRF token for a binding (see [`TokenKeys::csrf_token`]).
    pub fn csrf_token(&self, binding: &str) -> String {
        self.ctx.keys.csrf_token(binding)
    }

    /// See [`TokenKeys::media_url_signature`].
    pub fn media_url_signature(&self, grant: &str) -> String {
        self.ctx.keys.media_url_signature(grant)
    }

    /// See [`TokenKeys::media_url_signature_holds`].
    pub fn media_url_signature_holds(&self, grant: &str, signature: &str) -> bool {
        self.ctx.keys.media_url_signature_holds(grant, signature)
    }

    /// The account with this email, if there is one (`folio import` imports into it).
    pub async fn user_id_by_email(&self, email: &Email) -> Result<Option<Uuid>, SessionError> {
        Ok(service::find_by_email(&self.ctx.db, email).await?.map(|user| user.id))
    }

    /// Makes the account with this email an administrator (`folio admin grant`); the
    /// role takes effect at the account's next request.
    pub async fn grant_admin(&self, email: &Email) -> Result<Uuid, SessionError> {
        service::grant_admin(&self.ctx.db, email).await
    }

    /// Roles are read from the database, not the token, so a grant or revoke takes
    /// effect at once.
    pub async fn role_of(&self, user_id: Uuid) -> Result<Role, SessionError> {
        service::role_of(&self.ctx.db, user_id).await
    }

    /// A token that stands for a session (the console's cookie) is good only while that
    /// session is open: signing out or ending every session closes it at once, where the
    /// token alone would be accepted until it expires. A token without a session (issued
    /// before sessions were recorded) stands for none.
    pub async fn session_is_open(&self, claims: &Claims) -> Result<bool, SessionError> {
        match claims.sid {
            Some(session_id) => service::session_is_open(&self.ctx.db, claims.sub, session_id).await,
            None => Ok(false),
        }
    }

    /// Whether the user's session `session_id` is still open (not signed out, not ended
    /// by a password change or the account's deletion).
    pub async fn session_open(&self, user_id: Uuid, session_id: Uuid) -> Result<bool, SessionError> {
        service::session_is_open(&self.ctx.db, user_id, session_id).await
    }

    /// A single-use ticket for `GET /events`, for a browser's `EventSource`, issued on
    /// the access token `claims`: the stream it opens belongs to that token's session
    /// and ends when the token expires.
    pub async fn issue_event_ticket(&self, claims: &Claims) -> Result<tickets::EventTicket, SessionError> {
        tickets::issue(&self.ctx.db, claims).await
    }

    /// Spends a ticket; whom it was issued to, in which session, until when.
    pub async fn redeem_event_ticket(&self, ticket: &str) -> Result<tickets::TicketHolder, SessionError> {
        tickets::redeem(&self.ctx.db, ticket).await
    }

    pub fn workers(&self) -> usize {
        self.pool.len()
    }

    /// Makes the worker serving `key` panic and returns its id.
    #[cfg(feature = "fault-injection")]
    pub fn crash_worker_for(&self, key: &impl std::hash::Hash) -> ractor::ActorId {
        let worker = self.pool.worker_for(key);
        let _ = worker.cast(SessionMsg::Crash);
        worker.get_id()
    }

    #[cfg(feature = "fault-injection")]
    pub fn worker_id_for(&self, key: &impl std::hash::Hash) -> ractor::ActorId {
        self.pool.worker_for(key).get_id()
    }
}
