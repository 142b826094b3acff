//! The cluster port's front door. ractor_cluster's own listener keeps every connection
//! it accepts for as long as the peer likes, lets each one buffer a full frame before
//! the cookie handshake, and retries a failing `accept` in a tight loop. Folio accepts
//! the port itself and hands each admitted connection to the node server as an external
//! stream, so it can:
//!
//! - close a connection that has not authenticated within the handshake deadline;
//! - cap the connections that have not authenticated yet, in total and per address;
//! - refuse, before authentication, any frame larger than a handshake needs;
//! - refuse an address that failed too many handshakes lately;
//! - back off (and log rate-limited) when `accept` fails, e.g. out of file handles.

use std::{
    collections::HashMap,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::Sleep,
};

/// Frames before authentication carry a node name, a challenge or a digest: a few
/// hundred bytes. 64 KiB leaves room without letting a stranger make the node allocate.
pub const HANDSHAKE_FRAME_LIMIT: u64 = 64 * 1024;

/// The limits of the cluster port.
#[derive(Debug, Clone)]
pub struct GateLimits {
    /// A connection that has not authenticated by then is closed.
    pub handshake_timeout: Duration,
    /// Connections not yet authenticated, all addresses together.
    pub max_unauthenticated: usize,
    /// Connections not yet authenticated, from one address.
    pub max_unauthenticated_per_address: usize,
    /// Failed handshakes one address may have within `failure_window` before it is
    /// refused at the door until the window passes.
    pub max_failed_handshakes: u32,
    pub failure_window: Duration,
    /// The largest frame an authenticated peer may send.
    pub max_frame_bytes: u64,
}

impl Default for GateLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(5),
            max_unauthenticated: 64,
            max_unauthenticated_per_address: 8,
            max_failed_handshakes: 10,
            failure_window: Duration::from_secs(60),
            max_frame_bytes: 16 * 1024 * 1024,
        }
    }
}

/// What the door turned away, since the process started (exported as metrics; per
/// process, as ractor's node connections are).
#[derive(Debug)]
pub struct GateCounters {
    /// Incoming sessions that closed before they authenticated (a wrong cookie, a
    /// stranger, the deadline).
    pub failed_handshakes: AtomicU64,
    /// Over the total or per-address cap of unauthenticated connections.
    pub over_capacity: AtomicU64,
    /// From an address throttled for its failed handshakes.
    pub throttled: AtomicU64,
    /// Closed at the handshake deadline.
    pub timed_out: AtomicU64,
    /// Closed for a frame larger than allowed.
    pub oversized_frames: AtomicU64,
    /// `accept` errors (e.g. out of file handles).
    pub accept_errors: AtomicU64,
}

pub static COUNTERS: GateCounters = GateCounters {
    failed_handshakes: AtomicU64::new(0),
    over_capacity: AtomicU64::new(0),
    throttled: AtomicU64::new(0),
    timed_out: AtomicU64::new(0),
    oversized_frames: AtomicU64::new(0),
    accept_errors: AtomicU64::new(0),
};

#[derive(Default)]
struct Admission {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
    /// Failed handshakes per address: how many, since when.
    failures: HashMap<IpAddr, (u32, Instant)>,
}

/// Shared by the accept loop, every admitted connection and the handshake watch.
pub struct Gate {
    limits: GateLimits,
    admission: Mutex<Admission>,
    /// Connections not yet authenticated, by the label the node server knows them by.
    pending: Mutex<HashMap<String, Arc<Connection>>>,
    counters: &'static GateCounters,
}

/// One admitted connection: whether it authenticated, and its place among the
/// unauthenticated ones (given back when it authenticates or closes).
struct Connection {
    address: IpAddr,
    authenticated: AtomicBool,
    holds_slot: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Gate {
    pub fn new(limits: GateLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            admission: Mutex::default(),
            pending: Mutex::default(),
            counters: &COUNTERS,
        })
    }

    pub fn limits(&self) -> &GateLimits {
        &self.limits
    }

    /// A place for a new connection from `address`, or why not.
    fn admit(&self, address: IpAddr) -> Result<(), Refusal> {
        let mut admission = lock(&self.admission);
        if let Some((count, since)) = admission.failures.get(&address).copied() {
            if since.elapsed() >= self.limits.failure_window {
                admission.failures.remove(&address);
            } else if count >= self.limits.max_failed_handshakes {
                return Err(Refusal::Throttled);
            }
        }
        let from_address = admission.per_address.get(&address).copied().unwrap_or(0);
        if admission.total >= self.limits.max_unauthenticated
            || from_address >= self.limits.max_unauthenticated_per_address
        {
            return Err(Refusal::OverCapacity);
        }
        admission.total += 1;
        *admission.per_address.entry(address).or_insert(0) += 1;
        Ok(())
    }

    fn release(&self, connection: &Connection) {
        if !connection.holds_slot.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut admission = lock(&self.admission);
        admission.total = admission.total.saturating_sub(1);
        if let Some(n) = admission.per_address.get_mut(&connection.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                admission.per_address.remove(&connection.address);
            }
        }
    }

    /// The session the node server knows as `label` authenticated: its frames may now
    /// be as large as the settings allow, and it no longer counts against the caps.
    pub fn authenticated(&self, label: &str) {
        if let Some(connection) = lock(&self.pending).remove(label) {
            connection.authenticated.store(true, Ordering::Release);
            self.release(&connection);
        }
    }

    /// An incoming session closed before it authenticated.
    pub fn handshake_failed(&self, label: &str) {
        let Ok(addr) = label.parse::<SocketAddr>() else {
            return;
        };
        self.counters.failed_handshakes.fetch_add(1, Ordering::Relaxed);
        let window = self.limits.failure_window;
        let mut admission = lock(&self.admission);
        let entry = admission.failures.entry(addr.ip()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= window {
            *entry = (0, Instant::now());
        }
        entry.0 = entry.0.saturating_add(1);
        // Forget addresses whose window passed, so the table cannot grow without bound.
        if admission.failures.len() > 4096 {
            admission.failures.retain(|_, (_, since)| since.elapsed() < window);
        }
    }

    /// Connections admitted and not yet authenticated.
    pub fn unauthenticated(&self) -> usize {
        lock(&self.admission).total
    }
}

#[derive(Debug, Clone, Copy)]
enum Refusal {
    OverCapacity,
    Throttled,
}

/// Logs at most one line per interval, with how many were held back.
struct RateLimitedLog {
    interval: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl RateLimitedLog {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            held_back: 0,
        }
    }

    /// `Some(held back since the last line)` when a line may be written now.
    fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|last| now.duration_since(last) < self.interval) {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }
}

/// How the accepted socket becomes a cluster stream (raw, or TLS server side).
#[derive(Clone)]
pub enum Transport {
    Raw,
    Tls(tokio_rustls::TlsAcceptor),
}

/// Runs the accept loop on `listener` until the process ends; `deliver` hands an
/// admitted stream to the node server that is running at that moment.
pub fn serve<F>(listener: TcpListener, gate: Arc<Gate>, transport: Transport, deliver: F)
where
    F: Fn(Box<dyn ractor_cluster::ClusterBidiStream>) + Send + Sync + 'static,
{
    let deliver = Arc::new(deliver);
    tokio::spawn(async move {
        let mut errors = RateLimitedLog::new(Duration::from_secs(1));
        let mut refusals = RateLimitedLog::new(Duration::from_secs(1));
        let mut backoff = Duration::ZERO;
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    backoff = Duration::ZERO;
                    match gate.admit(peer.ip()) {
                        Ok(()) => {
                            let gate = gate.clone();
                            let transport = transport.clone();
                            let deliver = deliver.clone();
                            tokio::spawn(async move {
                                open(stream, peer, gate, transport, &*deliver).await;
                            });
                        }
                        Err(refusal) => {
                            let counter = match refusal {
                                Refusal::OverCapacity => &gate.counters.over_capacity,
                                Refusal::Throttled => &gate.counters.throttled,
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                            drop(stream);
                            if let Some(held_back) = refusals.allow() {
                                tracing::warn!(
                                    %peer,
                                    reason = ?refusal,
                                    held_back,
                                    "cluster port: connection refused at the door"
                                );
                            }
                        }
                    }
                }
                Err(e) => {
                    gate.counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                    // Out of file handles (or another passing error): wait before trying
                    // again, doubling up to a second, instead of spinning on the error.
                    backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                    if let Some(held_back) = errors.allow() {
                        tracing::error!(error = %e, held_back, retry_in_ms = backoff.as_millis() as u64, "cluster port: accept failed");
                    }
                    tokio::time::sleep(backoff).await;
                }
            }
        }
    });
}

async fn open(
    stream: TcpStream,
    peer: SocketAddr,
    gate: Arc<Gate>,
    transport: Transport,
    deliver: &(dyn Fn(Box<dyn ractor_cluster::ClusterBidiStream>) + Send + Sync),
) {
    let connection = Arc::new(Connection {
        address: peer.ip(),
        authenticated: AtomicBool::new(false),
        holds_slot: AtomicBool::new(true),
    });
    let deadline = tokio::time::Instant::now() + gate.limits.handshake_timeout;
    let _ = stream.set_nodelay(true);
    let label = peer.to_string();
    let (reader, writer): (BoxRead, BoxWrite) = match transport {
        Transport::Raw => {
            let (r, w) = stream.into_split();
            (Box::new(r), Box::new(w))
        }
        Transport::Tls(acceptor) => match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => {
                let (r, w) = tokio::io::split(tls);
                (Box::new(r), Box::new(w))
            }
            Ok(Err(e)) => {
                gate.release(&connection);
                gate.handshake_failed(&label);
                tracing::warn!(%peer, error = %e, "cluster port: TLS handshake failed");
                return;
            }
            Err(_) => {
                gate.release(&connection);
                gate.handshake_failed(&label);
                gate.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%peer, "cluster port: TLS handshake not done by the deadline");
                return;
            }
        },
    };
    lock(&gate.pending).insert(label.clone(), connection.clone());
    deliver(Box::new(GuardedStream {
        label: label.clone(),
        reader: GuardedRead {
            inner: reader,
            gate,
            connection,
            label,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            frame: FrameWatch::default(),
        },
        writer,
    }));
}

type BoxRead = Box<dyn AsyncRead + Unpin + Send + 'static>;
type BoxWrite = Box<dyn AsyncWrite + Unpin + Send + 'static>;

struct GuardedStream {
    label: String,
    reader: GuardedRead,
    writer: BoxWrite,
}

impl ractor_cluster::ClusterBidiStream for GuardedStream {
    fn split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        (Box::new(self.reader), self.writer)
    }

    /// The node server names the session by this label, so the handshake watch can
    /// tell the gate which connection authenticated.
    fn peer_label(&self) -> Option<String> {
        Some(self.label.clone())
    }
}

/// Follows the framing (a u64 big-endian length, then that many bytes) to check each
/// frame's length as soon as its header has arrived.
#[derive(Default)]
struct FrameWatch {
    header: [u8; 8],
    header_len: usize,
    payload_left: u64,
}

impl FrameWatch {
    /// Feeds bytes read; `Err(length)` for a frame over `limit`.
    fn feed(&mut self, mut bytes: &[u8], limit: u64) -> Result<(), u64> {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = (self.payload_left.min(bytes.len() as u64)) as usize;
                self.payload_left -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let n = (8 - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
            self.header_len += n;
            bytes = &bytes[n..];
            if self.header_len == 8 {
                let length = u64::from_be_bytes(self.header);
                if length > limit {
                    return Err(length);
                }
                self.header_len = 0;
                self.payload_left = length;
            }
        }
        Ok(())
    }
}

struct GuardedRead {
    inner: BoxRead,
    gate: Arc<Gate>,
    connection: Arc<Connection>,
    label: String,
    deadline: Pin<Box<Sleep>>,
    frame: FrameWatch,
}

impl AsyncRead for GuardedRead {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let authenticated = this.connection.authenticated.load(Ordering::Acquire);
        if !authenticated && this.deadline.as_mut().poll(cx).is_ready() {
            this.gate.counters.timed_out.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(peer = %this.label, "cluster port: no handshake by the deadline, closing");
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no cluster handshake by the deadline",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let limit = if authenticated {
                this.gate.limits.max_frame_bytes
            } else {
                HANDSHAKE_FRAME_LIMIT
            };
            if let Err(length) = this.frame.feed(&buf.filled()[before..], limit) {
                this.gate.counters.oversized_frames.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(peer = %this.label, length, limit, authenticated, "cluster port: frame too large, closing");
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("cluster frame of {length} bytes over the limit of {limit}"),
                )));
            }
        }
        polled
    }
}

impl Drop for GuardedRead {
    fn drop(&mut self) {
        lock(&self.gate.pending).remove(&self.label);
        self.gate.release(&self.connection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_watch_checks_headers_split_across_reads() {
        let mut watch = FrameWatch::default();
        let mut frame = 10u64.to_be_bytes().to_vec();
        frame.extend_from_slice(&[0; 10]);
        let big = (HANDSHAKE_FRAME_LIMIT + 1).to_be_bytes();
        for chunk in frame.chunks(3) {
            assert_eq!(watch.feed(chunk, HANDSHAKE_FRAME_LIMIT), Ok(()));
        }
        assert_eq!(watch.feed(&big[..5], HANDSHAKE_FRAME_LIMIT), Ok(()));
        assert_eq!(
            watch.feed(&big[5..], HANDSHAKE_FRAME_LIMIT),
            Err(HANDSHAKE_FRAME_LIMIT + 1)
        );
    }

    #[test]
    fn caps_per_address_and_in_total_and_throttles_failures() {
        let gate = Gate::new(GateLimits {
            max_unauthenticated: 3,
            max_unauthenticated_per_address: 2,
            max_failed_handshakes: 2,
            ..GateLimits::default()
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        assert!(gate.admit(a).is_ok());
        assert!(gate.admit(a).is_ok());
        assert!(matches!(gate.admit(a), Err(Refusal::OverCapacity)));
        assert!(gate.admit(b).is_ok());
        assert!(matches!(gate.admit(c), Err(Refusal::OverCapacity)));
        let connection = Connection {
            address: a,
            authenticated: AtomicBool::new(false),
            holds_slot: AtomicBool::new(true),
        };
        gate.release(&connection);
        gate.release(&connection);
        assert_eq!(gate.unauthenticated(), 2);
        gate.handshake_failed("10.0.0.3:1000");
        gate.handshake_failed("10.0.0.3:1001");
        assert!(matches!(gate.admit(c), Err(Refusal::Throttled)));
    }
}
