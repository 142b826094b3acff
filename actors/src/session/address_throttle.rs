//! Failed logins per client address, over every account: a flood that sprays many
//! accounts from one address is refused with 429 even though no single account reaches
//! its own limit. The counters are this actor's state; it also forgets expired entries
//! every minute, so an address that went quiet costs nothing. A restart starts the
//! counters afresh, which only ever lets a client in sooner.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;

use super::throttle::{LoginThrottle, ThrottlePolicy};
use crate::supervisor::{CallError, KeyedPool, PoolStartError, SupervisorMsg};

pub const ACTOR: &str = "login-throttle";

/// The throttle key that stands for "every account".
const ANY_ACCOUNT: &str = "*";
const PRUNE_EVERY: Duration = Duration::from_secs(60);

#[derive(ractor_cluster::RactorMessage)]
pub enum AddressThrottleMsg {
    /// `Some(seconds)` while the address is locked out.
    RetryAfter {
        client: String,
        reply: RpcReplyPort<Option<u64>>,
    },
    /// A login from the address failed on its credentials.
    Failed {
        client: String,
    },
    Prune,
}

#[derive(Clone)]
pub struct AddressThrottle;

pub struct AddressThrottleState {
    throttle: LoginThrottle,
    pruning: JoinHandle<()>,
}

impl Actor for AddressThrottle {
    type Msg = AddressThrottleMsg;
    type State = AddressThrottleState;
    type Arguments = ThrottlePolicy;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        policy: ThrottlePolicy,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(AddressThrottleState {
            throttle: LoginThrottle::new(policy),
            pruning: myself.send_interval(PRUNE_EVERY, || AddressThrottleMsg::Prune),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AddressThrottleMsg::RetryAfter { client, reply } => {
                let _ = reply.send(state.throttle.retry_after(ANY_ACCOUNT, &client));
            }
            AddressThrottleMsg::Failed { client } => state.throttle.record_failure(ANY_ACCOUNT, &client),
            AddressThrottleMsg::Prune => state.throttle.prune(),
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, state: &mut Self::State) -> Result<(), ActorProcessingErr> {
        state.pruning.abort();
        Ok(())
    }
}

/// How the session domain asks the per-address throttle: a keyed pool of one worker,
/// which keeps the live actor reachable across restarts.
#[derive(Clone)]
pub struct AddressThrottleClient(KeyedPool<AddressThrottleMsg>);

impl AddressThrottleClient {
    pub async fn start(supervisor: &ActorRef<SupervisorMsg>, policy: ThrottlePolicy) -> Result<Self, PoolStartError> {
        KeyedPool::start(supervisor, ACTOR, 1, Duration::from_secs(5), move || {
            (AddressThrottle, policy)
        })
        .await
        .map(Self)
    }

    pub async fn retry_after(&self, client: &str) -> Result<Option<u64>, CallError> {
        self.0
            .call(&(), |reply| AddressThrottleMsg::RetryAfter {
                client: client.to_string(),
                reply,
            })
            .await
    }

    pub fn record_failure(&self, client: &str) {
        // Lost only while the throttle restarts, which forgets every count anyway.
        let _ = self.0.worker_for(&()).cast(AddressThrottleMsg::Failed {
            client: client.to_string(),
        });
    }
}
