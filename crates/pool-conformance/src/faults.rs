//! Fault scenarios against real servers: a TCP fault proxy on loopback, a listener that
//! never completes a TCP handshake, and the scenarios of issue 6 (a storm of killed
//! sessions, a connect that hangs inside the overflow, a connect timeout), written once
//! and run by each server connector's tests (`pool-postgres`, `pool-mysql`, `pool-redis`).
//!
//! Everything here talks to loopback addresses only, and every loop is bounded.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pool_core::{CheckoutError, ConnectionRecord, Connector, PoolListener, PooledConnection};
use pool_queue::QueuePool;

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
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1` (a free port) in front of `upstream`, relaying.
    ///
    /// # Errors
    ///
    /// When `upstream` does not resolve or no port can be bound.
    pub fn start(upstream: impl ToSocketAddrs) -> io::Result<Self> {
        let upstream = upstream
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no upstream address"))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(ProxyShared {
            upstream,
            mode: Mutex::new(ProxyMode::Relay),
            relayed: Mutex::new(Vec::new()),
            stalled: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
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
    thread::Builder::new()
        .name("fault-proxy-up".into())
        .spawn(move || pump(client_in, server_out))?;
    thread::Builder::new().name("fault-proxy-down".into()).spawn(move || pump(server, client))?;
    Ok(())
}

/// Copies `from` into `to` until either side ends, then closes both.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
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

/// Counts the connections a pool opened and closed (its `connect` and `close` events).
#[derive(Debug, Clone, Default)]
pub struct OpenCount {
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
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
    /// How many times the pool generation moved (failed pings and `handle_error`).
    pub generations: u64,
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
    let timeout = pool.strategy_config().get_timeout().expect("the storm needs a pool timeout");
    let size = pool.strategy_config().get_pool_size();
    let overflow = match pool.strategy_config().get_max_overflow() {
        pool_queue::Overflow::Limited(n) => n,
        pool_queue::Overflow::Unlimited => panic!("the storm needs a limited overflow"),
    };
    assert!(pool.config().pre_ping(), "the storm runs with pre-ping on");
    let bound = timeout + Duration::from_secs(3);
    let first_generation = pool.generation();
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
                        Err(CheckoutError::Connect(e) | CheckoutError::Ping(e)) => {
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
    assert!(report.killed >= storm.kills, "every round killed something: {report:?}");
    assert!(report.generations > 0, "the kills were noticed: {report:?}");

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
/// The pool must be a QueuePool with `pool_size(2)`, `max_overflow(1)` and a timeout, over
/// a connector that connects through `proxy` (relaying). With both pooled connections
/// checked out and the proxy stalling new connections, a thread's checkout takes the
/// overflow slot and hangs in its connect; meanwhile the main thread returns and checks
/// out the pooled connections twenty times, each at once. The hung connect then ends as
/// `end` says, with a disconnect error, and its slot is free again.
///
/// Returns the longest of the twenty checkouts and how long the hung one took to fail.
pub fn hanging_connect_in_overflow<C: Connector>(
    pool: &QueuePool<C>,
    proxy: &FaultProxy,
    end: HangEnd,
    use_conn: impl Fn(&mut C::Connection) -> Result<(), C::Error> + Sync,
) -> (Duration, Duration) {
    assert_eq!(pool.strategy_config().get_pool_size(), 2);
    assert_eq!(pool.strategy_config().get_max_overflow(), pool_queue::Overflow::Limited(1));
    proxy.set_mode(ProxyMode::Relay);
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

/// Issue 6, proof 4 (timeouts): a checkout from `pool`, whose connector connects to a
/// [`BlackHole`] with a connect timeout of `limit`, fails after about `limit` with a
/// disconnect error, and leaves no slot taken.
pub fn connect_timeout_fires<C: Connector>(pool: &QueuePool<C>, limit: Duration) -> Duration {
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
