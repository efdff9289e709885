//! Knowing whether a session has a transaction open, without asking the server.
//!
//! Every answer of a PostgreSQL server ends with a `ReadyForQuery` message whose one byte
//! says where the session stands: `I` idle, `T` in a transaction block, `E` in a failed
//! one. The driver reads that byte and throws it away, so the connector watches the
//! socket instead: [`Tracked`] wraps the socket, splits both directions into protocol
//! messages (a type byte and a length; the body is skipped), and keeps in a [`Session`]
//! the last status the server sent and how many answers are still on their way.
//!
//! The status is only trusted when no request that could change it is unanswered: a
//! request that executes something (`Query`, `Execute`, `FunctionCall`) may open or end
//! a transaction, while a `Parse`, `Describe` or `Close` followed by `Sync` (what
//! preparing and dropping a statement send, often without waiting for the answer) cannot
//! open one.
//!
//! The wrapper reaches the socket through the driver's TLS hook: [`Passthrough`] is a
//! "TLS" connector that encrypts nothing. The connector uses it with `sslmode=require` and
//! `sslnegotiation=direct`, under which the driver hands the bare socket to the hook at
//! once, without the `SSLRequest` exchange; the server sees an ordinary startup message.
//! That is only done where the application asked for no TLS (see
//! [`PostgresConnector`](crate::PostgresConnector)).

use std::future::{self, Future, Ready};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use postgres::Socket;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where a session stands with respect to transactions, as the server last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransactionStatus {
    /// No transaction is open and no request that could open one is unanswered.
    Idle,
    /// A transaction block is open.
    InTransaction,
    /// A transaction block is open and an error aborted it: only `ROLLBACK` is accepted.
    Failed,
    /// Not known without asking the server: the connection is not watched (a TLS
    /// connector or a Unix socket), or a request that may change the status is still
    /// unanswered.
    Unknown,
}

/// What one connection's watcher has seen, shared between its socket and its handle.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// Whether a socket is being watched at all.
    watched: AtomicBool,
    /// The status byte of the last `ReadyForQuery` (0 before the first).
    status: AtomicU8,
    /// Requests sent that end with a `ReadyForQuery` (startup, `Query`, `Sync`,
    /// `FunctionCall`), counted from 1.
    sent: AtomicU64,
    /// The number of the last such request that executed something.
    last_executing: AtomicU64,
    /// `ReadyForQuery` messages received.
    answered: AtomicU64,
    /// When a read that waits for the server gives up, in nanoseconds after `epoch`
    /// (0: never); set around a bounded blocking reset ([`Session::bounded`]).
    deadline: AtomicU64,
    epoch: Option<Instant>,
    /// Set by [`Session::abort`]: the socket fails every read and write from then on.
    aborted: AtomicBool,
}

impl Session {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Session { epoch: Some(Instant::now()), ..Session::default() })
    }

    /// Runs `f` with reads from the socket bounded by `bound`: a read still waiting for
    /// the server at the deadline fails with an I/O error of kind `TimedOut`, which fails
    /// the connection. Returns `f`'s outcome and whether the deadline passed.
    pub(crate) fn bounded<R>(&self, bound: Duration, f: impl FnOnce() -> R) -> (R, bool) {
        let Some(epoch) = self.epoch else { return (f(), false) };
        let start = Instant::now();
        let at = (start + bound).saturating_duration_since(epoch);
        let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.deadline.store(nanos, Ordering::Release);
        let out = f();
        self.deadline.store(0, Ordering::Release);
        (out, start.elapsed() >= bound)
    }

    /// Whether a socket is watched, so that [`abort`](Self::abort) and
    /// [`bounded`](Self::bounded) reach it.
    pub(crate) fn is_watched(&self) -> bool {
        self.watched.load(Ordering::Acquire)
    }

    /// Makes the watched socket fail every read and write from now on, so that the
    /// driver's connection ends at once instead of waiting for answers a silent server
    /// may never send (the driver's close waits for the replies still owed).
    pub(crate) fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
    }

    fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// The deadline of a bounded call in progress, if any.
    fn deadline(&self) -> Option<Instant> {
        match self.deadline.load(Ordering::Acquire) {
            0 => None,
            nanos => self.epoch.and_then(|e| e.checked_add(Duration::from_nanos(nanos))),
        }
    }

    /// Forgets what an earlier socket showed: a connect tries each host in turn, and
    /// only the last socket is the session's.
    fn restart(&self) {
        self.status.store(0, Ordering::Relaxed);
        self.sent.store(0, Ordering::Relaxed);
        self.last_executing.store(0, Ordering::Relaxed);
        self.answered.store(0, Ordering::Relaxed);
        self.watched.store(true, Ordering::Release);
    }

    pub(crate) fn status(&self) -> TransactionStatus {
        if !self.watched.load(Ordering::Acquire) {
            return TransactionStatus::Unknown;
        }
        let answered = self.answered.load(Ordering::Acquire);
        if answered < self.last_executing.load(Ordering::Acquire) {
            return TransactionStatus::Unknown;
        }
        match self.status.load(Ordering::Acquire) {
            b'I' => TransactionStatus::Idle,
            b'T' => TransactionStatus::InTransaction,
            b'E' => TransactionStatus::Failed,
            _ => TransactionStatus::Unknown,
        }
    }

    /// A request ending with `ReadyForQuery` went out; `executing` if it ran something.
    fn sent(&self, executing: bool) {
        let number = self.sent.fetch_add(1, Ordering::AcqRel) + 1;
        if executing {
            self.last_executing.store(number, Ordering::Release);
        }
    }

    fn ready(&self, status: u8) {
        self.status.store(status, Ordering::Release);
        self.answered.fetch_add(1, Ordering::AcqRel);
    }
}

/// Splits a byte stream into protocol messages: a type byte (absent on the client's
/// first message, the startup packet) and a big-endian length that counts itself.
#[derive(Debug)]
struct Framer {
    /// Whether messages carry a type byte; false until the client's startup packet ends.
    typed: bool,
    header: [u8; 5],
    filled: usize,
    /// Body bytes of the current message not yet seen.
    remaining: usize,
    kind: u8,
}

/// What a [`Framer`] reports.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// A message of this type (0 for the untyped startup packet) has begun.
    Start(u8),
    /// The first body byte of a message of this type.
    First(u8, u8),
}

impl Framer {
    fn new(typed: bool) -> Self {
        Framer { typed, header: [0; 5], filled: 0, remaining: 0, kind: 0 }
    }

    fn header_len(&self) -> usize {
        if self.typed {
            5
        } else {
            4
        }
    }

    fn feed(&mut self, mut bytes: &[u8], mut on: impl FnMut(Frame)) {
        while !bytes.is_empty() {
            if self.remaining > 0 {
                if self.kind == b'Z' && self.remaining == 1 {
                    on(Frame::First(self.kind, bytes[0]));
                }
                let n = self.remaining.min(bytes.len());
                self.remaining -= n;
                bytes = &bytes[n..];
                if self.remaining == 0 && !self.typed {
                    self.typed = true;
                }
                continue;
            }
            let want = self.header_len();
            let n = (want - self.filled).min(bytes.len());
            self.header[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled < want {
                continue;
            }
            self.filled = 0;
            let (kind, len) = if self.typed {
                (self.header[0], &self.header[1..5])
            } else {
                (0, &self.header[0..4])
            };
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            self.kind = kind;
            self.remaining = len.saturating_sub(4);
            on(Frame::Start(kind));
            if self.remaining == 0 && !self.typed {
                self.typed = true;
            }
        }
    }
}

/// A socket whose traffic is watched for the session's transaction status.
#[derive(Debug)]
pub(crate) struct Tracked {
    socket: Socket,
    session: Arc<Session>,
    reads: Framer,
    writes: Framer,
    /// An `Execute` was written since the last `Sync`.
    executing: bool,
    /// The timer of a bounded call's read (see [`Session::bounded`]), made on first use.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Tracked {
    fn new(socket: Socket, session: Arc<Session>) -> Self {
        session.restart();
        Tracked {
            socket,
            session,
            reads: Framer::new(true),
            writes: Framer::new(false),
            executing: false,
            timer: None,
        }
    }

    fn written(&mut self, bytes: &[u8]) {
        let Tracked { session, writes, executing, .. } = self;
        writes.feed(bytes, |frame| match frame {
            // The startup packet is answered with the first `ReadyForQuery`.
            Frame::Start(0) => session.sent(true),
            Frame::Start(b'E') => *executing = true,
            Frame::Start(b'S') => session.sent(std::mem::take(executing)),
            Frame::Start(b'Q' | b'F') => session.sent(true),
            _ => {}
        });
    }

    /// A read that is waiting for the server during a bounded call: pending until
    /// `deadline`, then a `TimedOut` error. The timer is the runtime's that polls the
    /// socket (the blocking client's own, which has one).
    fn wait_until(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let deadline = tokio::time::Instant::from_std(deadline);
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the server did not answer within the pool's bound",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn read(&mut self, bytes: &[u8]) {
        let session = &self.session;
        self.reads.feed(bytes, |frame| {
            if let Frame::First(b'Z', status) = frame {
                session.ready(status);
            }
        });
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        if this.session.is_aborted() {
            return Poll::Ready(Err(aborted()));
        }
        let poll = Pin::new(&mut this.socket).poll_read(cx, buf);
        match poll {
            Poll::Ready(Ok(())) => this.read(&buf.filled()[before..]),
            Poll::Pending => {
                if let Some(deadline) = this.session.deadline() {
                    return this.wait_until(deadline, cx);
                }
            }
            Poll::Ready(Err(_)) => {}
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.session.is_aborted() {
            return Poll::Ready(Err(aborted()));
        }
        let poll = Pin::new(&mut this.socket).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            this.written(&buf[..n]);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }
}

/// The error of a read or write on an aborted socket.
fn aborted() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "the pool closed the connection abruptly")
}

impl TlsStream for Tracked {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// The driver's TLS hook used to reach the socket: it wraps the socket in a [`Tracked`]
/// watcher and encrypts nothing.
#[derive(Debug, Clone)]
pub(crate) struct Passthrough {
    session: Arc<Session>,
}

impl Passthrough {
    pub(crate) fn new(session: Arc<Session>) -> Self {
        Passthrough { session }
    }
}

impl MakeTlsConnect<Socket> for Passthrough {
    type Stream = Tracked;
    type TlsConnect = Passthrough;
    type Error = io::Error;

    fn make_tls_connect(&mut self, _domain: &str) -> io::Result<Passthrough> {
        Ok(self.clone())
    }
}

impl TlsConnect<Socket> for Passthrough {
    type Stream = Tracked;
    type Error = io::Error;
    type Future = Ready<io::Result<Tracked>>;

    fn connect(self, socket: Socket) -> Self::Future {
        future::ready(Ok(Tracked::new(socket, self.session)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(typed: bool, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut framer = Framer::new(typed);
        let mut out = Vec::new();
        for chunk in chunks {
            framer.feed(chunk, |f| out.push(f));
        }
        out
    }

    const READY_T: &[u8] = &[b'Z', 0, 0, 0, 5, b'T'];

    #[test]
    fn finds_ready_for_query_split_anywhere() {
        let mut stream = vec![b'C', 0, 0, 0, 9];
        stream.extend_from_slice(b"BEGIN");
        stream.extend_from_slice(READY_T);
        for split in 0..stream.len() {
            let got = frames(true, &[&stream[..split], &stream[split..]]);
            assert_eq!(
                got,
                [Frame::Start(b'C'), Frame::Start(b'Z'), Frame::First(b'Z', b'T')],
                "split at {split}"
            );
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(frames(true, &bytes).len(), 3, "one byte at a time");
    }

    #[test]
    fn the_client_startup_packet_has_no_type_byte() {
        // length 8 (itself and the protocol number), then a typed Query.
        let mut stream = vec![0, 0, 0, 8, 0, 3, 0, 0];
        stream.extend_from_slice(&[b'Q', 0, 0, 0, 5, 0]);
        assert_eq!(frames(false, &[&stream]), [Frame::Start(0), Frame::Start(b'Q')]);
    }

    #[test]
    fn status_is_trusted_only_when_nothing_executing_is_unanswered() {
        let session = Session::new();
        assert_eq!(session.status(), TransactionStatus::Unknown, "not watched");
        session.restart();
        session.sent(true); // startup
        assert_eq!(session.status(), TransactionStatus::Unknown);
        session.ready(b'I');
        assert_eq!(session.status(), TransactionStatus::Idle);
        session.sent(false); // a statement closed without waiting
        assert_eq!(session.status(), TransactionStatus::Idle, "a Close+Sync opens nothing");
        session.sent(true); // a query whose answer has not been read
        assert_eq!(session.status(), TransactionStatus::Unknown);
        session.ready(b'I');
        session.ready(b'T');
        assert_eq!(session.status(), TransactionStatus::InTransaction);
        session.sent(true);
        session.ready(b'E');
        assert_eq!(session.status(), TransactionStatus::Failed);
    }
}
