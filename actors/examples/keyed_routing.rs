//! The keyed pool against ractor's key-persistent factory on the same workload, to decide
//! which one routes the domains' keyed requests. It prints figures and asserts nothing
//! about time. Run with
//! `cargo run -p folio-actors --example keyed_routing` (add `--release` for release figures).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use folio_actors::{KeyedPool, NodeSupervisor};
use ractor::{
    Actor, ActorProcessingErr, ActorRef, RpcReplyPort,
    factory::{
        Factory, FactoryArguments, FactoryMessage, Job, Worker, WorkerId, queues::DefaultQueue,
        routing::KeyPersistentRouting, worker_builder,
    },
    rpc::CallResult,
};

const WORKERS: usize = 8;
const KEYS: u64 = 256;
const CALLERS: u64 = 64;

/// `work` stands in for the handler's own time: zero for pure routing cost, a short
/// sleep for a database round trip.
#[derive(ractor_cluster::RactorMessage)]
struct Work {
    work: Duration,
    reply: RpcReplyPort<u64>,
}

async fn perform(work: Duration) {
    if work.is_zero() {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(work).await;
    }
}

struct PoolWorker;

impl Actor for PoolWorker {
    type Msg = Work;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<Work>, _args: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Work>,
        message: Work,
        handled: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        perform(message.work).await;
        *handled += 1;
        let _ = message.reply.send(*handled);
        Ok(())
    }
}

struct FactoryWorker;

impl Worker for FactoryWorker {
    type Key = u64;
    type Message = Work;
    type Arguments = ();
    type State = u64;

    async fn pre_start(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<u64, Work>>,
        _args: (),
    ) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<u64, Work>>,
        Job { key, msg, .. }: Job<u64, Work>,
        handled: &mut u64,
    ) -> Result<u64, ActorProcessingErr> {
        perform(msg.work).await;
        *handled += 1;
        let _ = msg.reply.send(*handled);
        Ok(key)
    }
}

type KeyedFactory = Factory<u64, Work, (), FactoryWorker, KeyPersistentRouting<u64, Work>, DefaultQueue<u64, Work>>;

/// Calls per second over `calls` requests from [`CALLERS`] concurrent callers spread over
/// [`KEYS`] keys.
async fn drive<F, Fut>(calls: u64, call: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let mut callers = Vec::new();
    for caller in 0..CALLERS {
        let call = call.clone();
        callers.push(tokio::spawn(async move {
            let mut answered = 0;
            for n in 0..calls / CALLERS {
                let key = (caller * 7919 + n * 104_729) % KEYS;
                if call(key).await > 0 {
                    answered += 1;
                }
            }
            answered
        }));
    }
    let mut answered = 0;
    for caller in callers {
        answered += caller.await.expect("caller task");
    }
    assert_eq!(answered, calls / CALLERS * CALLERS, "every call answered");
    answered as f64 / started.elapsed().as_secs_f64()
}

async fn measure(label: &str, calls: u64, work: Duration) {
    let supervisor = NodeSupervisor::start().await.expect("supervisor");
    let pool = KeyedPool::start(&supervisor, "bench", WORKERS, Duration::from_secs(30), || {
        (PoolWorker, ())
    })
    .await
    .expect("pool");
    let pool_rate = drive(calls, move |key| {
        let pool = pool.clone();
        async move { pool.call(&key, |reply| Work { work, reply }).await.expect("pool call") }
    })
    .await;

    let arguments = FactoryArguments::builder()
        .worker_builder(Box::new(worker_builder(|_wid| (FactoryWorker, ()))))
        .queue(DefaultQueue::default())
        .router(KeyPersistentRouting::default())
        .num_initial_workers(WORKERS)
        .build();
    let (factory, handle) = Actor::spawn(None, KeyedFactory::default(), arguments)
        .await
        .expect("factory");
    let factory_ref = factory.clone();
    let factory_rate = drive(calls, move |key| {
        let factory = factory_ref.clone();
        async move {
            match factory
                .call_job(key, |reply| Work { work, reply }, Some(Duration::from_secs(30)))
                .await
            {
                Ok(CallResult::Success(handled)) => handled,
                _ => panic!("factory call failed"),
            }
        }
    })
    .await;
    factory.stop(None);
    let _ = handle.await;
    supervisor.stop(None);
    println!("{label}: keyed pool {pool_rate:.0} calls/s, key-persistent factory {factory_rate:.0} calls/s");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    measure("routing only", 200_000, Duration::ZERO).await;
    measure("1 ms handler", 20_000, Duration::from_millis(1)).await;
}
