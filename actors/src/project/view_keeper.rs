//! The actor that receives other nodes' project changes for this node's
//! [`ProjectViews`], in the `folio.project-views` group; and the sender of this node's
//! changes to the others. A notice that does not arrive (a node unreachable at that
//! moment) costs at most the views' time to live.

use std::sync::Arc;

use ractor::{
    Actor, ActorProcessingErr, ActorRef, Message,
    message::{BoxedDowncastErr, SerializedMessage},
};

use super::views::{ProjectViews, ViewNotice};
use crate::{
    cluster::{PROJECT_VIEWS_GROUP, wire},
    supervisor::{NodeSupervisor, SupervisorError, SupervisorMsg},
};

pub const ACTOR: &str = "project-views";
const MESSAGE: &str = "ProjectViewMsg";

pub enum ProjectViewMsg {
    /// From another node: a project changed there.
    Changed(ViewNotice),
}

impl Message for ProjectViewMsg {
    fn serializable() -> bool {
        true
    }

    fn serialize(self) -> Result<SerializedMessage, BoxedDowncastErr> {
        match self {
            ProjectViewMsg::Changed(notice) => wire::cast("Changed", &notice),
        }
    }

    fn deserialize(message: SerializedMessage) -> Result<Self, BoxedDowncastErr> {
        match message {
            SerializedMessage::Cast { variant, args, .. } if variant == "Changed" => {
                Ok(ProjectViewMsg::Changed(wire::decode(MESSAGE, &variant, &args)?))
            }
            other => Err(wire::unknown(MESSAGE, &other)),
        }
    }
}

#[derive(Clone)]
pub struct ViewKeeper;

impl Actor for ViewKeeper {
    type Msg = ProjectViewMsg;
    type State = Arc<ProjectViews>;
    type Arguments = Arc<ProjectViews>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        views: Arc<ProjectViews>,
    ) -> Result<Self::State, ActorProcessingErr> {
        // A keeper that starts (again) may have missed notices while it was away.
        views.clear();
        ractor::pg::join(PROJECT_VIEWS_GROUP.to_string(), vec![myself.get_cell()]);
        Ok(views)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        views: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ProjectViewMsg::Changed(notice) => views.notice(notice),
        }
        Ok(())
    }
}

pub async fn start(supervisor: &ActorRef<SupervisorMsg>, views: Arc<ProjectViews>) -> Result<(), SupervisorError> {
    NodeSupervisor::start_singleton(supervisor, ACTOR, ViewKeeper, views).await
}

/// Tells every keeper about a change this node committed. This node's own keeper is
/// told too: a notice for a version already in place changes nothing, and other nodes
/// in the same process (tests) are reached the same way as remote ones.
pub fn tell_every_node(notice: ViewNotice) {
    for member in ractor::pg::get_members(&PROJECT_VIEWS_GROUP.to_string()) {
        let keeper: ActorRef<ProjectViewMsg> = member.into();
        if let Err(e) = keeper.cast(ProjectViewMsg::Changed(notice)) {
            tracing::debug!(keeper = %keeper.get_id(), error = %e, "a node's project views are unreachable");
        }
    }
}
