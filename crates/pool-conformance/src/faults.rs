//! Fault scenarios against real servers: a TCP fault proxy on loopback, a listener that
//! never completes a TCP handshake, and the scenarios of issue 6 (sessions killed with and
//! without pre-ping, a storm of killed sessions, a connect that hangs inside the overflow,
//! a connect timeout, connections cut by the network), written once and run by each
//! server connector's tests (`pool-postgres`, `pool-mysql`, `pool-redis`). Each scenario
//! takes what differs between the servers as arguments: a pool builder or a connector,
//! and closures that use a connection, read its session id, or kill and count the pool's
//! sessions on the server.
//!
//! Everything here talks to loopback addresses only, and every loop is bounded.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pool_core::{
    CheckoutError, ConnectionRecord, Connector, Operation, PoolListener, PooledConnection,
};
use pool_queue::{QueueConfig, QueuePool};

use crate::Skip;

/// The builder of a [`QueuePool`], which the scenarios below take to set the pool's size
/// and checks themselves.
pub type QueueBuilder<C> = pool_core::Builder<C, pool_queue::Queue<C>>;

/// The URL of a test server, from the variable `var` (see [`crate::server_url`]); when it
/// is not set, prints "skipped {test}: {var} is not set" and returns `None`, so that the
/// test named `test` returns and passes.
pub fn server_url_or_skip(var: &str, test: &str) -> Option<String> {
    match crate::server_url(var) {
        Ok(url) => Some(url),
        Err(Skip(why)) => {
            println!("skipped {test}: {why}");
            None
        }
    }
}

/// What a [`FaultProxy`] does with a connection it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Connects to the server and relays bytes both ways.
    Relay,
    /// Keeps the client's socket open and sends nothing, ever: a server that accepted
    /// and then hung.
    Stall,
}

/// A TCP proxy on loopback in front of a server, that can hang new connections and cut
/// the ones it relays.
///
/// Each relayed connection uses two threads. Dropping the proxy closes every socket it
/// holds.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<ProxyShared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct ProxyShared {
    upstream: SocketAddr,
    mode: Mutex<ProxyMode>,
    /// Both sockets of every relayed connection, to cut them.
    relayed: Mutex<Vec<TcpStream>>,
    /// The client sockets of stalled connections.
    stalled: Mutex<Vec<TcpStream>>,
    accepted: AtomicUsize,
    stop: AtomicBool,
    /// Whether relayed bytes are thrown away (see [`FaultProxy::silence`]).
    silent: Arc<AtomicBool>,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1` (a free port) in front of `upstream`, relaying.
    ///
    /// # Errors
    ///
    /// When `upstream` does not resolve or no port can be bound.
    pub fn start(upstream: impl ToSocketAddrs) -> io::Result<Self> {
        FaultProxy::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), upstream)
    }

    /// [`start`](Self::start) on `addr` (a port that refused connections until now: a
    /// server that comes back).
    ///
    /// # Errors
    ///
    /// When `upstream` does not resolve or `addr` cannot be bound.
    pub fn start_on(addr: SocketAddr, upstream: impl ToSocketAddrs) -> io::Result<Self> {
        let upstream = upstream
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no upstream address"))?;
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(ProxyShared {
            upstream,
            mode: Mutex::new(ProxyMode::Relay),
            relayed: Mutex::new(Vec::new()),
            stalled: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            silent: Arc::new(AtomicBool::new(false)),
        });
        let state = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || accept_loop(&listener, &state))?;
        Ok(FaultProxy { addr, shared, acceptor: Some(acceptor) })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What happens to connections accepted from now on.
    pub fn set_mode(&self, mode: ProxyMode) {
        *self.shared.mode.lock() = mode;
    }

    /// Connections accepted so far, in any mode.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Stalled connections still held open.
    pub fn stalled(&self) -> usize {
        self.shared.stalled.lock().len()
    }

    /// Waits up to `limit` until at least `n` connections are stalled; whether they are.
    pub fn wait_stalled(&self, n: usize, limit: Duration) -> bool {
        wait_until(limit, || self.stalled() >= n)
    }

    /// Closes every stalled connection: the clients waiting on them see the end of the
    /// stream.
    pub fn release_stalled(&self) {
        for s in self.shared.stalled.lock().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// While `on`, every relayed connection goes silent both ways: bytes are read and
    /// thrown away, and the sockets stay open, as with a server that hung or a network
    /// that drops packets without resetting connections. Connections stay out of step
    /// afterwards (what was thrown away is lost).
    pub fn silence(&self, on: bool) {
        self.shared.silent.store(on, Ordering::SeqCst);
    }

    /// Cuts every connection relayed so far, both sides, as a server crash or a network
    /// failure would; returns how many sockets were shut down.
    pub fn cut(&self) -> usize {
        let mut relayed = self.shared.relayed.lock();
        let n = relayed.len();
        for s in relayed.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        n
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.release_stalled();
        self.cut();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<ProxyShared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let mode = *shared.mode.lock();
        match mode {
            ProxyMode::Stall => shared.stalled.lock().push(client),
            ProxyMode::Relay => {
                let Ok(server) =
                    TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(5))
                else {
                    continue; // dropping the client closes it
                };
                let _ = relay(client, server, shared);
            }
        }
    }
}

/// Starts the two copying threads of one relayed connection.
fn relay(client: TcpStream, server: TcpStream, shared: &ProxyShared) -> io::Result<()> {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    {
        let mut relayed = shared.relayed.lock();
        relayed.push(client.try_clone()?);
        relayed.push(server.try_clone()?);
    }
    let (client_in, server_out) = (client.try_clone()?, server.try_clone()?);
    let (up, down) = (Arc::clone(&shared.silent), Arc::clone(&shared.silent));
    thread::Builder::new()
        .name("fault-proxy-up".into())
        .spawn(move || pump(client_in, server_out, &up))?;
    thread::Builder::new()
        .name("fault-proxy-down".into())
        .spawn(move || pump(server, client, &down))?;
    Ok(())
}

/// Copies `from` into `to` (or throws the bytes away while `silent`) until either side
/// ends, then closes both.
fn pump(mut from: TcpStream, mut to: TcpStream, silent: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) if silent.load(Ordering::SeqCst) => {}
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// A listening address on loopback whose TCP handshakes never complete: its accept queue
/// is full and nobody accepts, so the kernel drops every new SYN, as a server behind a
/// network that drops packets would. A connect to it hangs until the client's own timeout.
#[derive(Debug)]
pub struct BlackHole {
    addr: SocketAddr,
    _listener: socket2::Socket,
    _queued: Vec<TcpStream>,
}

impl BlackHole {
    /// Binds a listener with the smallest backlog on a free loopback port and fills its
    /// accept queue.
    ///
    /// # Errors
    ///
    /// When binding fails, or when the queue cannot be filled within a few connects
    /// (a kernel that answers SYNs of a full queue with SYN cookies).
    pub fn new() -> io::Result<Self> {
        use socket2::{Domain, Protocol, SockAddr, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        listener.bind(&SockAddr::from(SocketAddr::from(([127, 0, 0, 1], 0))))?;
        listener.listen(0)?;
        let addr = listener
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("the listener has no IP address"))?;
        let mut queued = Vec::new();
        for _ in 0..8 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => queued.push(s),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Ok(BlackHole { addr, _listener: listener, _queued: queued });
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("the accept queue never filled up"))
    }

    /// The address whose connects hang.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Polls `done` every 10 ms for at most `limit`; whether it became true.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Counts the connections a pool opened, closed and invalidated (its `connect`, `close`
/// and `invalidate` events).
#[derive(Debug, Clone, Default)]
pub struct OpenCount {
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    invalidated: Arc<AtomicUsize>,
}

impl OpenCount {
    /// A counter at zero; register it with `Builder::listener`.
    pub fn new() -> Self {
        OpenCount::default()
    }

    /// Connections opened so far.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    /// Connections closed so far (gracefully or not).
    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    /// Opened and not closed.
    pub fn live(&self) -> usize {
        self.opened() - self.closed()
    }

    /// Connections hard-invalidated so far (a failed ping, use or reset, or
    /// `handle_error` with a disconnect).
    pub fn invalidated(&self) -> usize {
        self.invalidated.load(Ordering::SeqCst)
    }
}

impl<C: Connector> PoolListener<C> for OpenCount {
    fn connect(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), pool_core::ListenerError> {
        self.opened.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn close(&self, _conn: &mut C::Connection, _record: &mut ConnectionRecord<C>) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
    fn invalidate(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
        _reason: Option<&(dyn std::error::Error + 'static)>,
    ) {
        self.invalidated.fetch_add(1, Ordering::SeqCst);
    }
    fn close_detached(&self, _conn: &mut C::Connection) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

/// The settings of a [`kill_storm`].
#[derive(Debug, Clone, Copy)]
pub struct Storm {
    /// Threads checking out and using connections.
    pub threads: usize,
    /// Times every session of the pool is killed.
    pub kills: usize,
    /// Pause between two kills.
    pub every: Duration,
    /// How long each checkout holds its connection.
    pub hold: Duration,
}

impl Default for Storm {
    fn default() -> Self {
        Storm {
            threads: 16,
            kills: 5,
            every: Duration::from_millis(300),
            hold: Duration::from_millis(1),
        }
    }
}

/// What a [`kill_storm`] saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StormReport {
    /// Checkouts that succeeded.
    pub checkouts: usize,
    /// Uses that failed with a disconnect, handed to `handle_error`.
    pub disconnects: usize,
    /// Checkouts that failed with a disconnect (a session killed while it connected).
    pub failed_checkouts: usize,
    /// Checkouts that timed out.
    pub timeouts: usize,
    /// Sessions killed, over all rounds.
    pub killed: usize,
    /// The longest a checkout took, in milliseconds.
    pub longest_wait_ms: u128,
    /// How many times the pool generation moved (failed pings and `handle_error`). A
    /// session killed while its holder sleeps is found by the reset on return instead,
    /// which invalidates that connection only, so this may stay at zero.
    pub generations: u64,
    /// Connections invalidated during the storm: killed sessions found dead by a ping, a
    /// use or the reset on return. Nothing else invalidates in a storm.
    pub invalidated: usize,
}

/// Issue 6, proof 2: `storm.threads` threads keep checking out and using connections
/// while `kill` kills every session of the pool `storm.kills` times.
///
/// The pool must be a QueuePool with pre-ping on, a timeout, a limited overflow, and an
/// [`OpenCount`] registered as `count`; `use_conn` runs a statement; `kill` kills every
/// session of this pool on the server and says how many (without waiting for the pool to
/// be left with none: it reconnects at once); `sessions` counts them.
///
/// Asserts that no checkout waited past the pool's timeout (plus a margin for one
/// connect), that every error was a disconnect (handed to `handle_error`), that the
/// kills were noticed (connections were invalidated: by a failed pre-ping, use or reset
/// on return; a session killed while its holder sleeps is found by the reset, which does
/// not move the pool generation, so the generation is reported, not asserted), that the
/// pool's counts are exact when the storm is over (nothing checked out or waiting, every
/// slot usable at once, a slot more times out), and that the server holds exactly as many
/// sessions of the pool as the pool holds idle connections.
pub fn kill_storm<C: Connector>(
    pool: &QueuePool<C>,
    count: &OpenCount,
    storm: Storm,
    use_conn: impl Fn(&mut C::Connection) -> Result<(), C::Error> + Sync,
    kill: impl Fn() -> usize,
    sessions: impl Fn() -> usize,
) -> StormReport {
    let timeout = pool.strategy_config().timeout.expect("the storm needs a pool timeout");
    let size = pool.strategy_config().pool_size;
    let overflow = match pool.strategy_config().max_overflow {
        pool_queue::Overflow::Limited(n) => n,
        pool_queue::Overflow::Unlimited => panic!("the storm needs a limited overflow"),
    };
    assert!(pool.config().pre_ping(), "the storm runs with pre-ping on");
    let bound = timeout + Duration::from_secs(3);
    let first_generation = pool.generation();
    let invalidated_before = count.invalidated();
    let stop = AtomicBool::new(false);
    let report = Mutex::new(StormReport::default());
    let start = Barrier::new(storm.threads + 1);
    thread::scope(|s| {
        for _ in 0..storm.threads {
            s.spawn(|| {
                let mut mine = StormReport::default();
                start.wait();
                while !stop.load(Ordering::SeqCst) {
                    let asked = Instant::now();
                    let got = pool.get();
                    let waited = asked.elapsed();
                    assert!(waited <= bound, "a checkout waited {waited:?} (timeout {timeout:?})");
                    mine.longest_wait_ms = mine.longest_wait_ms.max(waited.as_millis());
                    match got {
                        Ok(mut conn) => {
                            mine.checkouts += 1;
                            match use_conn(&mut conn) {
                                Ok(()) => thread::sleep(storm.hold),
                                Err(e) => {
                                    assert!(
                                        pool.connector().is_disconnect(&e),
                                        "not a disconnect: {e}"
                                    );
                                    mine.disconnects += 1;
                                    assert!(PooledConnection::handle_error(conn, &e).is_none());
                                }
                            }
                        }
                        Err(CheckoutError::Timeout(_)) => mine.timeouts += 1,
                        Err(CheckoutError::Connect(e)) => {
                            assert!(pool.connector().is_disconnect(&e), "checkout: {e}");
                            mine.failed_checkouts += 1;
                        }
                        Err(CheckoutError::Ping(e)) => {
                            assert!(pool.connector().is_disconnect(&e), "checkout: {e}");
                            mine.failed_checkouts += 1;
                        }
                        Err(e) => panic!("checkout failed: {e}"),
                    }
                }
                let mut all = report.lock();
                all.checkouts += mine.checkouts;
                all.disconnects += mine.disconnects;
                all.failed_checkouts += mine.failed_checkouts;
                all.timeouts += mine.timeouts;
                all.longest_wait_ms = all.longest_wait_ms.max(mine.longest_wait_ms);
            });
        }
        // The workers stop even if the killer panics.
        let _stop = StopOnDrop(&stop);
        start.wait();
        let mut killed = 0;
        for _ in 0..storm.kills {
            thread::sleep(storm.every);
            killed += kill();
        }
        thread::sleep(storm.every);
        report.lock().killed = killed;
    });
    let mut report = report.into_inner();
    report.generations = pool.generation() - first_generation;
    report.invalidated = count.invalidated() - invalidated_before;
    assert!(report.killed >= storm.kills, "every round killed something: {report:?}");
    assert!(report.invalidated > 0, "the kills were noticed: {report:?}");

    // Exact counts: nothing out, nobody waiting, at most `size` idle.
    let status = pool.status();
    assert_eq!(status.checked_out, 0, "{status:?}");
    assert_eq!(status.waiting, 0, "{status:?}");
    assert!(status.idle <= size, "{status:?}");
    assert_eq!(count.live(), status.idle, "opened - closed = idle: {status:?} {count:?}");

    // No slot lost: every slot at once (pre-ping replaces what the last kill left dead).
    let all: Vec<_> = (0..size + overflow)
        .map(|i| pool.get().unwrap_or_else(|e| panic!("slot {i} of {}: {e}", size + overflow)))
        .collect();
    let asked = Instant::now();
    match pool.get() {
        Err(CheckoutError::Timeout(_)) => assert!(asked.elapsed() >= timeout.mul_f64(0.9)),
        Ok(_) => panic!("a slot beyond pool_size + max_overflow"),
        Err(e) => panic!("{e}"),
    }
    drop(all);
    let status = pool.status();
    assert_eq!((status.checked_out, status.idle), (0, size), "{status:?}");
    assert_eq!(count.live(), size);
    assert!(
        wait_until(Duration::from_secs(5), || sessions() == size),
        "the server holds {} sessions of the pool, the pool {size}",
        sessions()
    );
    report
}

/// Raises a stop flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// How a connect that hangs on a stalled server ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangEnd {
    /// By the connector's own timeout, after about this long.
    TimesOut(Duration),
    /// Only when the server closes the socket ([`FaultProxy::release_stalled`]).
    WhenReleased,
}

/// Issue 6, proof 4: a connect that hangs inside the overflow does not block the other
/// checkouts.
///
/// Starts a [`FaultProxy`] in front of `server` and builds a QueuePool with
/// `pool_size(2)`, `max_overflow(1)` and a 5 s timeout over `through(proxy address)`, a
/// connector that connects through the proxy. With both pooled connections checked out
/// and the proxy stalling new connections, a thread's checkout takes the overflow slot
/// and hangs in its connect; meanwhile the main thread returns and checks out the pooled
/// connections twenty times, each at once, and uses them with `use_conn`. The hung
/// connect then ends as `end` says, with a disconnect error, and its slot is free again.
///
/// Returns the longest of the twenty checkouts and how long the hung one took to fail.
pub fn hanging_connect_in_overflow<C: Connector>(
    server: impl ToSocketAddrs,
    through: impl FnOnce(SocketAddr) -> C,
    end: HangEnd,
    use_conn: impl Fn(&mut C::Connection) -> Result<(), C::Error> + Sync,
) -> (Duration, Duration) {
    let proxy = FaultProxy::start(server).expect("the fault proxy starts");
    let pool = QueuePool::builder(through(proxy.addr()))
        .strategy(
            QueueConfig::default().pool_size(2).max_overflow(1).timeout(Duration::from_secs(5)),
        )
        .build()
        .expect("the pool builds");
    let mut c1 = pool.get().expect("first pooled connection");
    let c2 = pool.get().expect("second pooled connection");
    use_conn(&mut c1).expect("usable through the proxy");
    proxy.set_mode(ProxyMode::Stall);
    let stalled_before = proxy.stalled();

    let mut longest = Duration::ZERO;
    let hung_for = thread::scope(|s| {
        let hung = s.spawn(|| {
            let asked = Instant::now();
            let got = pool.get();
            (got.map(|_| ()), asked.elapsed())
        });
        assert!(
            proxy.wait_stalled(stalled_before + 1, Duration::from_secs(10)),
            "the overflow checkout never reached the server"
        );
        let hung_since = Instant::now();

        // The pooled connections come and go at once, many times.
        drop(c1);
        for round in 0..20 {
            let asked = Instant::now();
            let mut c = pool.get().expect("a pooled connection while another connect hangs");
            let waited = asked.elapsed();
            assert!(waited < Duration::from_secs(2), "round {round}: waited {waited:?}");
            longest = longest.max(waited);
            use_conn(&mut c).expect("usable");
        }
        let others_done = hung_since.elapsed();
        match end {
            HangEnd::TimesOut(limit) => {
                assert!(others_done < limit, "the others took {others_done:?}, past {limit:?}");
            }
            HangEnd::WhenReleased => {
                thread::sleep(Duration::from_millis(500));
                assert!(!hung.is_finished(), "the stalled connect returned by itself");
                proxy.release_stalled();
            }
        }
        let (got, took) = hung.join().expect("the hung checkout did not panic");
        match got {
            Err(CheckoutError::Connect(e)) => {
                assert!(pool.connector().is_disconnect(&e), "{e}");
            }
            Err(e) => panic!("the hung connect failed otherwise: {e}"),
            Ok(()) => panic!("the stalled connect succeeded"),
        }
        if let HangEnd::TimesOut(limit) = end {
            assert!(took >= limit.mul_f64(0.9), "gave up after {took:?}, before {limit:?}");
            assert!(
                took < limit.mul_f64(1.5) + Duration::from_secs(1),
                "gave up only after {took:?}"
            );
        }
        took
    });
    drop(c2);

    // The overflow slot came back: three at once through a relaying proxy.
    proxy.set_mode(ProxyMode::Relay);
    let three: Vec<_> = (0..3).map(|_| pool.get().expect("every slot is free")).collect();
    assert_eq!(pool.status().checked_out, 3);
    drop(three);
    proxy.release_stalled();
    (longest, hung_for)
}

/// Issue 6, proof 4 (timeouts): a server whose TCP handshake never completes fails the
/// checkout after the configured connect timeout.
///
/// Builds a QueuePool of one connection (no overflow) over `to(address)`, a connector to a
/// [`BlackHole`]'s address with a connect timeout of `limit`. A checkout fails after
/// about `limit` with a disconnect error, and leaves no slot taken. Returns how long it
/// took.
pub fn connect_timeout_fires<C: Connector>(
    limit: Duration,
    to: impl FnOnce(SocketAddr) -> C,
) -> Duration {
    let hole = BlackHole::new().expect("a black hole on loopback");
    let pool = QueuePool::builder(to(hole.addr()))
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .build()
        .expect("the pool builds");
    let asked = Instant::now();
    let got = pool.get();
    let took = asked.elapsed();
    match got {
        Err(CheckoutError::Connect(e)) => {
            assert!(pool.connector().is_disconnect(&e), "a timed-out connect: {e}");
        }
        Err(e) => panic!("failed otherwise: {e}"),
        Ok(_) => panic!("connected to a black hole"),
    }
    assert!(took >= limit.mul_f64(0.9), "gave up after {took:?}, before {limit:?}");
    assert!(took < limit.mul_f64(1.5) + Duration::from_secs(1), "gave up only after {took:?}");
    let status = pool.status();
    assert_eq!((status.checked_out, status.idle), (0, 0), "no slot kept: {status:?}");
    took
}

/// A server that drops every connection: a [`FaultProxy`] in front of `server` cuts them.
///
/// For pre-ping on, then off, builds a QueuePool of 3 (no overflow) over
/// `through(proxy address)`, checks out and returns its three connections, and cuts
/// every relayed connection. Then three checkouts each run `use_conn`: with pre-ping
/// every one works (the pings replace the cut connections); without it the first use
/// fails with a disconnect, once, and `handle_error` invalidates the rest. Either way the
/// three checkouts take less than 10 s, and afterwards every slot works.
pub fn cut_connections_are_replaced<C: Connector>(
    server: impl ToSocketAddrs,
    through: impl Fn(SocketAddr) -> C,
    use_conn: impl Fn(&mut C::Connection) -> Result<(), C::Error>,
) {
    let proxy = FaultProxy::start(server).expect("the fault proxy starts");
    for pre_ping in [true, false] {
        let pool = QueuePool::builder(through(proxy.addr()))
            .strategy(QueueConfig::default().pool_size(3).max_overflow(0))
            .pre_ping(pre_ping)
            .build()
            .expect("the pool builds");
        let held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
        drop(held);
        assert!(proxy.cut() >= 6, "three relayed connections, two sockets each");
        let started = Instant::now();
        let mut failures = 0;
        for _ in 0..3 {
            let mut conn = match pool.get() {
                Ok(conn) => conn,
                Err(e @ CheckoutError::Ping(_)) => panic!("pre-ping: {e}"),
                Err(e) => panic!("{e}"),
            };
            if let Err(e) = use_conn(&mut conn) {
                assert!(!pre_ping, "with pre-ping the connection works: {e}");
                assert!(pool.connector().is_disconnect(&e), "{e:?}");
                failures += 1;
                assert!(PooledConnection::handle_error(conn, &e).is_none());
            }
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(failures, usize::from(!pre_ping), "pre_ping {pre_ping}");
        // Whatever happened, every slot works now.
        let mut held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
        for conn in &mut held {
            use_conn(conn).unwrap();
        }
    }
}

/// Issue 11, per-operation timeouts on the blocking front end: a server that goes silent
/// on established connections does not hang a pre-ping or a reset on return past their
/// bounds.
///
/// Builds a QueuePool of one connection (no overflow, pre-ping on, `ping_timeout` and
/// `reset_timeout` of 1 s, no listener, so the return takes its fast path) over
/// `through(proxy address)`, a connector through a [`FaultProxy`] in front of `server`.
/// A connection is checked out, identified (`id`, the session's id on the server) and
/// returned; the proxy goes [silent](FaultProxy::silence); the next blocking checkout's
/// pre-ping fails it with [`CheckoutError::OperationTimeout`] for the ping after about
/// 1 s, and its slot is free. With the proxy speaking again, the next checkout is a new
/// session; `open_transaction` leaves something for the reset to do; silent again,
/// dropping it returns after about 1 s. Speaking again, the next checkout is a new
/// session again: the one whose reset timed out was closed, not pooled. Returns how long
/// the ping and the return took.
pub fn silent_server_bounds_blocking_ping_and_reset<C: Connector, Id: PartialEq + fmt::Debug>(
    server: impl ToSocketAddrs,
    through: impl FnOnce(SocketAddr) -> C,
    id: impl Fn(&mut C::Connection) -> Id,
    open_transaction: impl Fn(&mut C::Connection) -> Result<(), C::Error>,
) -> (Duration, Duration) {
    let limit = Duration::from_secs(1);
    let within = |took: Duration, what: &str| {
        assert!(took >= limit.mul_f64(0.9), "{what} gave up after {took:?}, before {limit:?}");
        assert!(took < limit * 3 + Duration::from_secs(1), "{what} hung for {took:?}");
    };
    let proxy = FaultProxy::start(server).expect("the fault proxy starts");
    let pool = QueuePool::builder(through(proxy.addr()))
        .strategy(
            QueueConfig::default().pool_size(1).max_overflow(0).timeout(Duration::from_secs(10)),
        )
        .pre_ping(true)
        .ping_timeout(limit)
        .reset_timeout(limit)
        .build()
        .expect("the pool builds");
    let first = id(&mut pool.get().expect("a connection through the proxy"));

    proxy.silence(true);
    let asked = Instant::now();
    match pool.get() {
        Err(CheckoutError::OperationTimeout(t)) => assert_eq!(t.operation, Operation::Ping, "{t}"),
        Err(e) => panic!("the silent pre-ping failed otherwise: {e}"),
        Ok(_) => panic!("a silent server answered the pre-ping"),
    }
    let ping_took = asked.elapsed();
    within(ping_took, "the pre-ping");
    assert_eq!(pool.status().checked_out, 0, "the slot is free");

    proxy.silence(false);
    let mut conn = pool.get().expect("a new connection once the server speaks");
    let second = id(&mut conn);
    assert_ne!(second, first, "the connection whose ping timed out was closed");
    open_transaction(&mut conn).expect("a transaction opens");
    proxy.silence(true);
    let asked = Instant::now();
    drop(conn);
    let reset_took = asked.elapsed();
    within(reset_took, "the reset on return");
    assert_eq!(pool.status().checked_out, 0, "the slot is free");

    proxy.silence(false);
    let third = id(&mut pool.get().expect("the pool works again"));
    assert_ne!(third, second, "the connection whose reset timed out was closed, not pooled");
    (ping_took, reset_took)
}

/// Issue 6, proof 1 with pre-ping on: sessions killed while idle are replaced at
/// checkout, and none of them is handed out.
///
/// Builds a pool of 4 (no overflow, pre-ping on, an [`OpenCount`] listening) from
/// `builder`, checks out all four connections and records their `id` (the session's id on
/// the server), returns them, and kills them with `kill_all`, which says how many it
/// killed (4); `sessions` counts the pool's sessions on the server, and the scenario
/// waits up to 5 s until there are none. Then four checkouts all succeed, on new sessions
/// that `use_conn` can use. The ping that finds the first dead connection invalidates
/// the pool generation, so the other idle connections (older than the disconnect) are
/// replaced without being pinged: the generation moves by one, 8 connections were opened
/// in all, 4 are live, and the server holds exactly the pool's 4 sessions.
pub fn killed_replaced_with_pre_ping<C: Connector, Id: PartialEq + fmt::Debug>(
    builder: QueueBuilder<C>,
    id: impl Fn(&mut C::Connection) -> Id,
    use_conn: impl Fn(&mut C::Connection) -> Result<(), C::Error>,
    mut kill_all: impl FnMut() -> usize,
    mut sessions: impl FnMut() -> usize,
) {
    let count = OpenCount::new();
    let pool = builder
        .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
        .pre_ping(true)
        .listener(count.clone())
        .build()
        .expect("the pool builds");
    let mut held: Vec<_> = (0..4).map(|_| pool.get().unwrap()).collect();
    let old: Vec<Id> = held.iter_mut().map(|c| id(c)).collect();
    drop(held);
    kill_every_session(4, &mut kill_all, &mut sessions);

    let generation = pool.generation();
    let mut held: Vec<_> = (0..4).map(|_| pool.get().expect("pre-ping reconnects")).collect();
    for conn in &mut held {
        let new = id(conn);
        assert!(!old.contains(&new), "a killed backend was handed out: {new:?}");
        use_conn(conn).expect("a new session works");
    }
    assert_eq!(pool.generation(), generation + 1, "one disconnect, one invalidation");
    assert_eq!(count.opened(), 8, "four replaced");
    assert_eq!(count.live(), 4);
    drop(held);
    assert_eq!(sessions(), 4);
}

/// Issue 6, proof 1 with pre-ping off: a killed session fails its first use, and
/// `PooledConnection::handle_error` recovers the pool.
///
/// Builds a pool of 2 (no overflow, pre-ping off) from `builder`, checks out both
/// connections and records their `id`, returns one, and kills both with `kill_all`
/// (which says how many it killed: 2); `sessions` counts the pool's sessions on the
/// server, and the scenario waits up to 5 s until there are none. The first use
/// (`use_conn`) of the connection still held fails with a disconnect; `handle_error`
/// consumes it and invalidates it and the pool generation (one step), and its slot is
/// back. The next two checkouts (the invalidated slot and the idle connection of the old
/// generation) are new sessions that work. Last, an error that is not a disconnect
/// (`refused`: a statement the server refuses, the session staying open) keeps the
/// connection, which still works, and leaves the generation alone.
pub fn killed_without_pre_ping_through_handle_error<C: Connector, Id: PartialEq + fmt::Debug>(
    builder: QueueBuilder<C>,
    id: impl Fn(&mut C::Connection) -> Id,
    use_conn: impl Fn(&mut C::Connection) -> Result<(), C::Error>,
    refused: impl Fn(&mut C::Connection) -> Result<(), C::Error>,
    mut kill_all: impl FnMut() -> usize,
    mut sessions: impl FnMut() -> usize,
) {
    let pool = builder
        .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
        .pre_ping(false)
        .build()
        .expect("the pool builds");
    let mut a = pool.get().unwrap();
    let mut b = pool.get().unwrap();
    let old = [id(&mut a), id(&mut b)];
    drop(b);
    kill_every_session(2, &mut kill_all, &mut sessions);

    let generation = pool.generation();
    let err = use_conn(&mut a).expect_err("the session is gone");
    assert!(pool.connector().is_disconnect(&err), "{err:?}");
    assert!(PooledConnection::handle_error(a, &err).is_none(), "a disconnect consumes it");
    assert_eq!(pool.generation(), generation + 1);
    assert_eq!(pool.status().checked_out, 0, "the slot is back");

    // Both the invalidated slot and the idle connection of the old generation reconnect.
    let mut held: Vec<_> = (0..2).map(|_| pool.get().unwrap()).collect();
    for conn in &mut held {
        use_conn(conn).expect("a new session works");
        let new = id(conn);
        assert!(!old.contains(&new), "a killed session was handed out: {new:?}");
    }
    // A non-disconnect error keeps the connection.
    let err = refused(&mut held[0]).expect_err("the server refuses it");
    assert!(!pool.connector().is_disconnect(&err), "{err:?}");
    let mut kept = PooledConnection::handle_error(held.remove(0), &err).expect("kept");
    use_conn(&mut kept).expect("the kept connection works");
    drop(kept);
    assert_eq!(pool.generation(), generation + 1);
}

/// Issue 6, proof 2 on a pool built from `builder` with `pool_size(4)`, `max_overflow(4)`,
/// a 3 s timeout and pre-ping on: runs [`kill_storm`] with [`Storm::default`] (16
/// threads, every session killed five times), and returns its report.
pub fn storm_of_kills<C: Connector>(
    builder: QueueBuilder<C>,
    use_conn: impl Fn(&mut C::Connection) -> Result<(), C::Error> + Sync,
    kill: impl Fn() -> usize,
    sessions: impl Fn() -> usize,
) -> StormReport {
    let count = OpenCount::new();
    let pool = builder
        .strategy(
            QueueConfig::default().pool_size(4).max_overflow(4).timeout(Duration::from_secs(3)),
        )
        .pre_ping(true)
        .listener(count.clone())
        .build()
        .expect("the pool builds");
    kill_storm(&pool, &count, Storm::default(), use_conn, kill, sessions)
}

/// Kills the pool's sessions with `kill_all`, asserts it killed `expected`, and waits up
/// to 5 s until `sessions` counts none left on the server.
fn kill_every_session(
    expected: usize,
    kill_all: &mut impl FnMut() -> usize,
    sessions: &mut impl FnMut() -> usize,
) {
    assert_eq!(kill_all(), expected);
    assert!(
        wait_until(Duration::from_secs(5), || sessions() == 0),
        "the server still holds {} killed sessions",
        sessions()
    );
}

/// The sessions of one `application_name` on the PostgreSQL server at a URL, watched from
/// a plain client beside the pool: what the scenarios above take as `kill_all` and
/// `sessions`, for a pool whose connections carry that name.
pub struct PostgresSessions {
    client: Mutex<pool_postgres::postgres::Client>,
    app: String,
}

impl fmt::Debug for PostgresSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSessions").field("app", &self.app).finish_non_exhaustive()
    }
}

impl PostgresSessions {
    /// A watcher of the sessions named `app` on the server at `url`.
    ///
    /// # Panics
    ///
    /// When the URL does not parse or the server refuses the watcher.
    pub fn new(url: &str, app: &str) -> Self {
        let config: pool_postgres::postgres::Config = url.parse().expect("the URL parses");
        let client = config
            .connect(pool_postgres::postgres::NoTls)
            .expect("the test server accepts connections");
        PostgresSessions { client: Mutex::new(client), app: app.to_owned() }
    }

    /// Terminates every session named `app` (`pg_terminate_backend`); returns how many
    /// there were.
    pub fn kill(&self) -> usize {
        self.client
            .lock()
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = $1 AND pid <> pg_backend_pid()",
                &[&self.app],
            )
            .expect("terminate")
            .len()
    }

    /// The sessions named `app` on the server now.
    pub fn count(&self) -> usize {
        let n: i64 = self
            .client
            .lock()
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&self.app],
            )
            .expect("count")
            .get(0);
        usize::try_from(n).expect("a count")
    }
}

/// The PostgreSQL server's log file, to check what a test made it write: `POOL_TEST_POSTGRES_LOG`, or the newest
/// `/var/log/postgresql/postgresql-*.log` (Debian's layout). `None` after saying why the
/// test is skipped; under CI a missing log fails the test.
pub fn postgres_log(test: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("POOL_TEST_POSTGRES_LOG").map(Into::into).or_else(|| {
        let dir = std::fs::read_dir("/var/log/postgresql").ok()?;
        dir.filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
    });
    match found.filter(|p| std::fs::File::open(p).is_ok()) {
        Some(path) => Some(path),
        None if std::env::var_os("CI").is_some() => {
            panic!("{test}: the PostgreSQL log is not readable; set POOL_TEST_POSTGRES_LOG")
        }
        None => {
            eprintln!("{test}: skipped: no readable PostgreSQL log (set POOL_TEST_POSTGRES_LOG)");
            None
        }
    }
}

/// The lines a PostgreSQL server logged for backend `pid` after byte `from` of its log
/// (the default `log_line_prefix` shows the backend as `[pid]`).
pub fn logged_by_backend(log: &std::path::Path, from: u64, pid: i32) -> Vec<String> {
    use std::io::{Read, Seek};
    let mut file = std::fs::File::open(log).unwrap();
    file.seek(std::io::SeekFrom::Start(from)).unwrap();
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    let tag = format!("[{pid}]");
    text.lines().filter(|l| l.contains(&tag)).map(str::to_owned).collect()
}

/// The variable naming the shell command that restarts the PostgreSQL server of
/// [`POSTGRES_URL`](crate::POSTGRES_URL) (for example `pg_ctlcluster
/// --skip-systemctl-redirect 15 main restart`); set by `.ci/run`. Unset, the restart
/// tests say they were skipped: restarting a developer's server is not a test's call.
pub const POSTGRES_RESTART: &str = "POOL_TEST_POSTGRES_RESTART";

/// The same for the MySQL/MariaDB server of [`MYSQL_URL`](crate::MYSQL_URL).
pub const MYSQL_RESTART: &str = "POOL_TEST_MYSQL_RESTART";

/// The restart command in `var`, or `None` after printing that `test` was skipped.
pub fn restart_command_or_skip(var: &str, test: &str) -> Option<String> {
    let command = std::env::var(var).ok();
    if command.is_none() {
        println!("skipped {test}: {var} (the command that restarts the server) is unset");
    }
    command
}

/// What [`restart_under_load`] measured.
#[derive(Debug)]
pub struct Restarted {
    /// Requests (checkout and query) that succeeded, and that failed.
    pub succeeded: usize,
    /// Requests that failed.
    pub failed: usize,
    /// From the server answering a direct connect again to the pool's first success.
    pub recovered_in: Duration,
}

/// Restarts a server under load and asserts what the pool does (issue 14, part 4):
/// eight threads run `query` on connections of a QueuePool over `connector` (size 4, no
/// overflow, pre-ping, 2 s timeouts), passing every error to
/// [`PooledConnection::handle_error`](pool_core::PooledConnection::handle_error); after
/// a second of load `restart` (a shell command) runs, then `probe` (a direct connect)
/// is tried every 10 ms until the server answers. The pool must succeed again within a
/// second of that; afterwards nothing is checked out, all four slots can be held at
/// once, and, once the pool is dropped, every connection it opened was closed exactly
/// once.
///
/// # Panics
///
/// When the restart command fails, the server does not come back within 60 s, or any
/// of the above does not hold.
pub fn restart_under_load<C>(
    connector: C,
    restart: &str,
    probe: impl Fn() -> bool,
    query: fn(&mut C::Connection) -> Result<(), C::Error>,
) -> Restarted
where
    C: Connector + Clone,
{
    let log = crate::CallLog::new();
    let pool = QueuePool::builder(crate::Recorded::new(connector, log.clone()))
        .pre_ping(true)
        .connect_timeout(Duration::from_secs(2))
        .strategy(
            QueueConfig::default().pool_size(4).max_overflow(0).timeout(Duration::from_secs(2)),
        )
        .build()
        .expect("valid settings");
    let stop = AtomicBool::new(false);
    let (succeeded, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let successes: Mutex<Vec<Instant>> = Mutex::new(Vec::new());
    let back = std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let outcome = match pool.get() {
                        Ok(mut c) => match query(&mut c) {
                            Ok(()) => Ok(()),
                            Err(e) => {
                                let _ = PooledConnection::handle_error(c, &e);
                                Err(())
                            }
                        },
                        Err(_) => Err(()),
                    };
                    match outcome {
                        Ok(()) => {
                            succeeded.fetch_add(1, Ordering::Relaxed);
                            successes.lock().push(Instant::now());
                        }
                        Err(()) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_secs(1));
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(restart)
            .status()
            .unwrap_or_else(|e| panic!("could not run {restart:?}: {e}"));
        assert!(status.success(), "{restart:?} failed: {status}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !probe() {
            assert!(Instant::now() < deadline, "the server did not come back within 60 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        let back = Instant::now();
        // Load on until the pool has succeeded after the server came back (or 10 s).
        while Instant::now() < back + Duration::from_secs(10)
            && !successes.lock().iter().any(|t| *t >= back)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        back
    });
    let first = successes.lock().iter().copied().filter(|t| *t >= back).min();
    let first = first.expect("the pool succeeded again after the server came back");
    let restarted = Restarted {
        succeeded: succeeded.into_inner(),
        failed: failed.into_inner(),
        recovered_in: first - back,
    };
    assert!(
        restarted.recovered_in <= Duration::from_secs(1),
        "the pool took {:?} to succeed after the server came back",
        restarted.recovered_in
    );
    let st = pool.status();
    assert_eq!((st.checked_out, st.waiting), (0, 0), "nothing is out: {st:?}");
    let all: Vec<_> = (0..4).map(|_| pool.get().expect("every slot is usable")).collect();
    drop(all);
    drop(pool);
    log.closed_once().unwrap_or_else(|e| panic!("after the restart: {e}"));
    restarted
}
