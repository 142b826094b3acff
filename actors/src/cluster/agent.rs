//! One `NodeAgent` per node, in the `folio.node` group: it answers `Describe` for the
//! node it runs on, so any node (or a test process joined to the cluster) can ask any
//! other what it is and how its actors are doing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{
    Actor, ActorProcessingErr, ActorRef, Message, RpcReplyPort,
    message::{BoxedDowncastErr, SerializedMessage},
    rpc::CallResult,
};

use super::{NODE_GROUP, NodeDescription, wire};
use crate::supervisor::{KeyedPool, NodeHealth, PoolStartError, SupervisorMsg};

pub const ACTOR: &str = "node-agent";
const MESSAGE: &str = "NodeAgentMsg";

pub enum NodeAgentMsg {
    Describe(RpcReplyPort<NodeDescription>),
}

impl Message for NodeAgentMsg {
    fn serializable() -> bool {
        true
    }

    fn serialize(self) -> Result<SerializedMessage, BoxedDowncastErr> {
        match self {
            NodeAgentMsg::Describe(reply) => wire::call(MESSAGE, "Describe", &(), reply),
        }
    }

    fn deserialize(message: SerializedMessage) -> Result<Self, BoxedDowncastErr> {
        match message {
            SerializedMessage::Call {
                variant, args, reply, ..
            } if variant == "Describe" => {
                wire::decode::<()>(MESSAGE, &variant, &args)?;
                Ok(NodeAgentMsg::Describe(wire::reply_port(reply)))
            }
            other => Err(wire::unknown(MESSAGE, &other)),
        }
    }
}

/// What does not change while a node runs.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    pub name: String,
    pub roles: Vec<String>,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub http_addr: Option<String>,
    pub cluster_addr: Option<String>,
}

impl NodeIdentity {
    pub fn describe(&self, health: &NodeHealth) -> NodeDescription {
        NodeDescription {
            name: self.name.clone(),
            roles: self.roles.clone(),
            version: self.version.clone(),
            started_at: self.started_at,
            uptime_secs: (Utc::now() - self.started_at).num_seconds().max(0) as u64,
            http_addr: self.http_addr.clone(),
            cluster_addr: self.cluster_addr.clone(),
            actor_restarts: health.restarts(),
        }
    }
}

pub struct NodeAgent;

pub struct NodeAgentArgs {
    pub identity: NodeIdentity,
    pub health: NodeHealth,
}

impl Actor for NodeAgent {
    type Msg = NodeAgentMsg;
    type State = NodeAgentArgs;
    type Arguments = NodeAgentArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: NodeAgentArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        ractor::pg::join(NODE_GROUP.to_string(), vec![myself.get_cell()]);
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NodeAgentMsg::Describe(reply) => {
                let _ = reply.send(state.identity.describe(&state.health));
            }
        }
        Ok(())
    }
}

/// This node's agent, and the way to ask every agent in the cluster.
#[derive(Clone)]
pub struct NodeAgentClient {
    agent: KeyedPool<NodeAgentMsg>,
    identity: NodeIdentity,
    health: NodeHealth,
}

/// One `folio.node` member's answer.
#[derive(Debug, Clone)]
pub enum Described {
    Answered(NodeDescription),
    /// It did not answer within the timeout, or its node connection closed meanwhile.
    NoAnswer {
        actor: String,
    },
}

impl NodeAgentClient {
    pub async fn start(
        supervisor: &ActorRef<SupervisorMsg>,
        identity: NodeIdentity,
        health: NodeHealth,
    ) -> Result<Self, PoolStartError> {
        let args_identity = identity.clone();
        let args_health = health.clone();
        let agent = KeyedPool::start(supervisor, ACTOR, 1, Duration::from_secs(5), move || {
            (
                NodeAgent,
                NodeAgentArgs {
                    identity: args_identity.clone(),
                    health: args_health.clone(),
                },
            )
        })
        .await?;
        Ok(Self {
            agent,
            identity,
            health,
        })
    }

    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// This node, without a round trip.
    pub fn describe_self(&self) -> NodeDescription {
        self.identity.describe(&self.health)
    }

    /// The live agent of this node (its ref changes when it restarts).
    pub fn local(&self) -> ActorRef<NodeAgentMsg> {
        self.agent.worker_for(&())
    }
}

/// The agents of other nodes this node has a session with (their `folio.node` members).
pub fn remote_agents() -> Vec<ActorRef<NodeAgentMsg>> {
    ractor::pg::get_members(&NODE_GROUP.to_string())
        .into_iter()
        .filter(|member| !member.get_id().is_local())
        .map(ActorRef::from)
        .collect()
}

/// Asks every agent in the `folio.node` group at once; none is waited on for longer than
/// `timeout`.
pub async fn describe_all(timeout: Duration) -> Vec<Described> {
    let members = ractor::pg::get_members(&NODE_GROUP.to_string());
    futures::future::join_all(members.into_iter().map(|member| async move {
        let agent: ActorRef<NodeAgentMsg> = member.into();
        describe(&agent, timeout).await
    }))
    .await
}

/// Asks one agent, local or on another node.
pub async fn describe(agent: &ActorRef<NodeAgentMsg>, timeout: Duration) -> Described {
    match agent.call(NodeAgentMsg::Describe, Some(timeout)).await {
        Ok(CallResult::Success(description)) => Described::Answered(description),
        Ok(CallResult::Timeout) | Ok(CallResult::SenderError) | Err(_) => Described::NoAnswer {
            actor: agent.get_id().to_string(),
        },
    }
}
