//! The Meilisearch stub as a standalone process, for deploy/test-cluster.sh: no
//! Meilisearch server binary can be installed on the project machines, and a cluster
//! needs one engine shared by the indexer and every edge. Test support only: it is an
//! example of the root crate, built with its dev-dependencies (folio-testkit), never part
//! of `folio`.
//!
//! `meili_stub_server PORT [MASTER_KEY]`; prints `listening on http://127.0.0.1:PORT`
//! once it accepts connections, then serves until killed.

use folio_testkit::meili_stub::StubServer;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = match args.next().map(|p| p.parse()) {
        Some(Ok(port)) => port,
        _ => {
            eprintln!("usage: meili_stub_server PORT [MASTER_KEY]");
            std::process::exit(2);
        }
    };
    let key = args.next();
    let server = StubServer::start_on(port, key.as_deref()).await;
    println!("listening on {}", server.url);
    std::future::pending::<()>().await;
}
