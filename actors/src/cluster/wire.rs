//! The one encoding of messages that cross nodes: each variant's arguments are serde
//! JSON, named by the variant. ractor's derive frames arguments with its own byte
//! convention and drops a message that does not decode without a word; here a message
//! that does not decode is logged and counted (`folio_cluster_decode_errors_total`), and
//! a reply that does not decode closes the caller's port, so the caller sees an error
//! instead of waiting out its timeout.
//!
//! A message type implements [`ractor::Message`] by hand with these helpers: `serialize`
//! builds a [`cast`] or a [`call`], `deserialize` matches the variant name and decodes
//! with [`decode`] and [`reply_port`].

use std::sync::atomic::{AtomicU64, Ordering};

use ractor::{
    RpcReplyPort, concurrency,
    message::{BoxedDowncastErr, SerializedMessage},
};
use serde::{Serialize, de::DeserializeOwned};

static DECODE_ERRORS: AtomicU64 = AtomicU64::new(0);

/// Messages from other nodes that did not decode, since the process started.
pub fn decode_errors() -> u64 {
    DECODE_ERRORS.load(Ordering::Relaxed)
}

fn refuse(message: &str, variant: &str, cause: &dyn std::fmt::Display) -> BoxedDowncastErr {
    DECODE_ERRORS.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(message, variant, cause = %cause, "a message from another node did not decode; dropped");
    BoxedDowncastErr
}

/// A message without a reply.
pub fn cast<T: Serialize>(variant: &str, args: &T) -> Result<SerializedMessage, BoxedDowncastErr> {
    Ok(SerializedMessage::Cast {
        variant: variant.to_string(),
        args: encode(variant, args)?,
        metadata: None,
    })
}

/// A request whose answer comes back as bytes and is decoded for `reply`.
pub fn call<T: Serialize, R: DeserializeOwned + Send + 'static>(
    message: &'static str,
    variant: &str,
    args: &T,
    reply: RpcReplyPort<R>,
) -> Result<SerializedMessage, BoxedDowncastErr> {
    let args = encode(variant, args)?;
    let timeout = reply.get_timeout();
    let (bytes_tx, bytes_rx) = concurrency::oneshot::<Vec<u8>>();
    let reply_variant = variant.to_string();
    tokio::spawn(async move {
        // No answer: dropping `reply` tells the caller.
        if let Some(bytes) = answer_within(bytes_rx, timeout).await {
            match serde_json::from_slice::<R>(&bytes) {
                Ok(value) => {
                    let _ = reply.send(value);
                }
                Err(e) => {
                    refuse(message, &reply_variant, &e);
                }
            }
        }
    });
    Ok(SerializedMessage::Call {
        variant: variant.to_string(),
        args,
        reply: port(bytes_tx, timeout),
        metadata: None,
    })
}

/// The arguments of a received variant.
pub fn decode<T: DeserializeOwned>(message: &str, variant: &str, args: &[u8]) -> Result<T, BoxedDowncastErr> {
    serde_json::from_slice(args).map_err(|e| refuse(message, variant, &e))
}

/// A typed port whose answer is encoded and sent back over the node connection.
pub fn reply_port<R: Serialize + Send + 'static>(bytes: RpcReplyPort<Vec<u8>>) -> RpcReplyPort<R> {
    let timeout = bytes.get_timeout();
    let (typed_tx, typed_rx) = concurrency::oneshot::<R>();
    tokio::spawn(async move {
        if let Some(value) = answer_within(typed_rx, timeout).await {
            match serde_json::to_vec(&value) {
                Ok(encoded) => {
                    let _ = bytes.send(encoded);
                }
                Err(e) => tracing::error!(error = %e, "encoding a reply for another node"),
            }
        }
    });
    port(typed_tx, timeout)
}

/// The answer on `rx`, if it comes within the caller's timeout (or at all, without one).
async fn answer_within<T>(rx: concurrency::OneshotReceiver<T>, timeout: Option<std::time::Duration>) -> Option<T> {
    match timeout {
        Some(timeout) => tokio::time::timeout(timeout, rx).await.ok()?.ok(),
        None => rx.await.ok(),
    }
}

/// A reply port that keeps the caller's timeout across the conversion.
fn port<T>(tx: concurrency::OneshotSender<T>, timeout: Option<std::time::Duration>) -> RpcReplyPort<T> {
    match timeout {
        Some(timeout) => RpcReplyPort::from((tx, timeout)),
        None => RpcReplyPort::from(tx),
    }
}

/// A serialized message this type has no variant for.
pub fn unknown(message: &str, serialized: &SerializedMessage) -> BoxedDowncastErr {
    let variant = match serialized {
        SerializedMessage::Cast { variant, .. } | SerializedMessage::Call { variant, .. } => variant.as_str(),
        SerializedMessage::CallReply(..) => "reply",
    };
    refuse(message, variant, &"no such variant")
}

fn encode<T: Serialize>(variant: &str, args: &T) -> Result<Vec<u8>, BoxedDowncastErr> {
    serde_json::to_vec(args).map_err(|e| {
        tracing::error!(variant, error = %e, "encoding a message for another node");
        BoxedDowncastErr
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;
    use ractor::Message as _;
    use uuid::Uuid;

    use super::*;
    use crate::cluster::{EdgeHubMsg, LiveEvent, LivePush, NodeAgentMsg, NodeDescription};

    fn push() -> LivePush {
        LivePush {
            user_id: Uuid::new_v4(),
            at: Utc::now(),
            event: LiveEvent::ProjectIndexed {
                project_id: Uuid::new_v4(),
                version: 3,
            },
        }
    }

    #[test]
    fn a_push_crosses_as_json_and_comes_back_the_same() {
        let sent = push();
        let serialized = EdgeHubMsg::Push(sent.clone()).serialize().expect("serializes");
        let SerializedMessage::Cast { variant, args, .. } = &serialized else {
            panic!("a push is a cast");
        };
        assert_eq!(variant, "Push");
        let json: serde_json::Value = serde_json::from_slice(args).expect("JSON");
        assert_eq!(json["event"]["type"], "project.indexed");
        match EdgeHubMsg::deserialize(serialized).expect("decodes") {
            EdgeHubMsg::Push(received) => assert_eq!(received, sent),
            _ => panic!("decoded as a local message"),
        }
    }

    #[test]
    fn a_message_that_does_not_decode_is_counted_not_dropped_silently() {
        let before = decode_errors();
        let garbage = SerializedMessage::Cast {
            variant: "Push".into(),
            args: b"{not json".to_vec(),
            metadata: None,
        };
        assert!(EdgeHubMsg::deserialize(garbage).is_err());
        let unknown = SerializedMessage::Cast {
            variant: "Explode".into(),
            args: b"{}".to_vec(),
            metadata: None,
        };
        assert!(EdgeHubMsg::deserialize(unknown).is_err());
        // Tests in this binary run in parallel; others may count too.
        assert!(decode_errors() >= before + 2);
    }

    #[test]
    fn a_local_subscription_never_leaves_the_node() {
        let subscribe = EdgeHubMsg::Subscribe {
            user_id: Uuid::new_v4(),
            stream: crate::cluster::hub::OpenStream::unconnected(),
        };
        assert!(subscribe.serialize().is_err());
    }

    #[tokio::test]
    async fn a_describe_reply_travels_back_through_the_byte_port() {
        let (typed_tx, typed_rx) = ractor::concurrency::oneshot::<NodeDescription>();
        let request = NodeAgentMsg::Describe(RpcReplyPort::from((typed_tx, std::time::Duration::from_secs(1))));
        let serialized = request.serialize().expect("serializes");
        // What the other node decodes and answers.
        let NodeAgentMsg::Describe(reply) = NodeAgentMsg::deserialize(serialized).expect("decodes");
        let description = NodeDescription {
            name: "n1".into(),
            roles: vec!["http".into()],
            version: "0.1.0".into(),
            started_at: Utc::now(),
            uptime_secs: 5,
            http_addr: Some("127.0.0.1:8080".into()),
            cluster_addr: Some("127.0.0.1:7946".into()),
            actor_restarts: BTreeMap::from([("indexer".to_string(), 2)]),
        };
        reply.send(description.clone()).expect("reply sent");
        assert_eq!(typed_rx.await.expect("the caller gets the answer"), description);
    }
}
