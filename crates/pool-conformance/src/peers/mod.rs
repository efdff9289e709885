//! Peer probes: what a peer pool (plain `r2d2::Pool`, plain deadpool `Pool`, plain
//! `bb8::Pool`, no adapter) does, check by check.
//!
//! The suite's checks take pool-core types, so a peer cannot run them. A probe is written
//! against the peer's own API instead and asserts the behaviour the suite check of the same
//! name asserts, as closely as the peer's API lets it. A probe that returns `Ok` means the
//! peer does it; one that panics means it does not ("no" in the matrix, not a failure); a
//! [`Skip`](crate::Skip) means the peer has no API to ask (for example no detach).

mod bb8;
mod deadpool;
mod r2d2;

pub use self::bb8::bb8_probes;
pub use self::deadpool::deadpool_probes;
pub use self::r2d2::r2d2_probes;

use std::fmt::Display;
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use r2d2_sqlite::rusqlite::{self, Connection};

use crate::Outcome;

/// One probe: the suite check it answers and the code that asks the peer.
#[derive(Debug, Clone, Copy)]
pub struct PeerProbe {
    /// The suite check's `group::name`, as in `checks/list.rs`.
    pub check: &'static str,
    /// Asks the peer; a panic means the peer does not do what the check asserts.
    pub run: fn() -> Outcome,
}

/// A peer's reference row: its name in the matrix, its short label, and its probes.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The row name (`"r2d2::Pool (peer)"`).
    pub name: &'static str,
    /// The crate name that labels its matrix column (`"r2d2"`).
    pub label: &'static str,
    /// Its probes, in suite order.
    pub probes: Vec<PeerProbe>,
}

/// Every peer, in matrix order.
pub fn all() -> Vec<Peer> {
    vec![
        Peer { name: "r2d2::Pool (peer)", label: "r2d2", probes: r2d2_probes() },
        Peer {
            name: "deadpool::managed::Pool (peer)",
            label: "deadpool",
            probes: deadpool_probes(),
        },
        Peer { name: "bb8::Pool (peer)", label: "bb8", probes: bb8_probes() },
    ]
}

/// The probe of `failures_timeout_message` for any peer: `time_out(limit)` holds the only
/// connection of a one-connection pool with that wait timeout, asks for another, and
/// returns the peer's error and how long it took.
fn timeout_message<E: Display>(peer: &str, time_out: fn(Duration) -> (E, Duration)) -> Outcome {
    let (err, _) = time_out(Duration::from_millis(100));
    let message = err.to_string();
    assert!(
        message.contains("limit of size 1 overflow 0 reached, connection timed out, timeout 0.10"),
        "{peer}'s timeout message is {message:?}"
    );
    Ok(())
}

/// The probe of `timeout_fires` for any peer (`time_out` as for [`timeout_message`]): a
/// checkout from a full pool fails after the timeout, not before and not much later.
fn timeout_fires<E>(time_out: fn(Duration) -> (E, Duration)) -> Outcome {
    let timeout = Duration::from_secs(1);
    let (_, waited) = time_out(timeout);
    assert!(waited >= timeout, "timed out after {waited:?}, before {timeout:?}");
    assert!(waited < Duration::from_secs(10), "timed out only after {waited:?}");
    Ok(())
}

/// The id a peer's SQLite connection was given when it was opened (in a per-connection
/// temp table).
fn conn_id(conn: &Connection) -> u64 {
    conn.query_row("SELECT id FROM temp.peer_id", [], |r| r.get::<_, i64>(0)).expect("id") as u64
}

/// What the async peers' managers share (deadpool's `Manager` and bb8's
/// `ManageConnection` are both implemented on it): in-memory SQLite connections that
/// carry an id, and counts of connects and pings (deadpool's `recycle`, bb8's
/// `is_valid`). Clones share the counts.
#[derive(Debug, Clone, Default)]
struct Probed(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    next: AtomicU64,
    connects: AtomicUsize,
    pings: AtomicUsize,
}

impl Probed {
    /// A new connection, numbered.
    fn open(&self) -> rusqlite::Result<Connection> {
        self.0.connects.fetch_add(1, Ordering::SeqCst);
        let id = self.0.next.fetch_add(1, Ordering::SeqCst) + 1;
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(&format!(
            "CREATE TEMP TABLE peer_id(id INTEGER); INSERT INTO temp.peer_id VALUES ({id});"
        ))?;
        Ok(conn)
    }

    /// Counts a ping, which always succeeds.
    fn ping(&self) {
        self.0.pings.fetch_add(1, Ordering::SeqCst);
    }

    fn connects(&self) -> usize {
        self.0.connects.load(Ordering::SeqCst)
    }

    fn pings(&self) -> usize {
        self.0.pings.load(Ordering::SeqCst)
    }
}

/// Runs an async peer's probe on a current-thread runtime.
fn run<T>(body: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(body)
}

/// An async peer's pool over [`Probed`], for the probes both async peers answer the same
/// way.
trait AsyncPeer {
    /// Its checked-out connection.
    type Conn<'a>: Deref<Target = Connection>
    where
        Self: 'a;
    /// A checkout that must succeed.
    fn checkout(&self) -> impl Future<Output = Self::Conn<'_>>;
}

/// Sequential checkouts share one connection and connect once.
async fn sequential_checkouts_reuse<P: AsyncPeer>(pool: P, manager: &Probed) -> Outcome {
    let first = conn_id(&*pool.checkout().await);
    for _ in 0..3 {
        let c = pool.checkout().await;
        assert_eq!(conn_id(&c), first, "sequential checkouts share one connection");
    }
    assert_eq!(manager.connects(), 1);
    Ok(())
}

/// A connection just opened is not pinged, and a pooled one is pinged exactly once per
/// checkout.
async fn pre_ping_pooled_once<P: AsyncPeer>(pool: P, manager: &Probed) -> Outcome {
    let c = pool.checkout().await;
    assert_eq!(manager.pings(), 0, "a new connection must not be pinged");
    drop(c);
    drop(pool.checkout().await);
    assert_eq!(manager.pings(), 1, "a pooled connection is pinged exactly once");
    Ok(())
}

/// With pre-ping off, checkouts never ping.
async fn no_ping_without<P: AsyncPeer>(pool: P, manager: &Probed, why: &str) -> Outcome {
    for _ in 0..3 {
        drop(pool.checkout().await);
    }
    assert_eq!(manager.pings(), 0, "{why}");
    Ok(())
}

/// Opens a transaction with a pending insert on the only connection of `pool`, returns
/// it, and checks the connection out again: is a transaction still open, and how many
/// rows?
async fn leave_transaction_open<P: AsyncPeer>(pool: P) -> (bool, i64) {
    let c = pool.checkout().await;
    let id = conn_id(&c);
    c.execute_batch("CREATE TABLE t(x INTEGER); BEGIN; INSERT INTO t VALUES (1);")
        .expect("transaction");
    assert!(!c.is_autocommit(), "a transaction is open");
    drop(c);
    let c = pool.checkout().await;
    assert_eq!(conn_id(&c), id, "the same connection");
    let rows: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    (!c.is_autocommit(), rows)
}

/// Reset on return "rollback": the transaction left open is rolled back.
fn rolled_back((open, rows): (bool, i64)) -> Outcome {
    assert!(!open, "the transaction left open was not rolled back on return");
    assert_eq!(rows, 0, "the pending insert is rolled back");
    Ok(())
}

/// Reset on return "commit": the transaction left open is committed.
fn committed((open, rows): (bool, i64)) -> Outcome {
    assert!(!open, "the transaction left open was not committed on return");
    assert_eq!(rows, 1, "the pending insert is committed");
    Ok(())
}

/// Checks out three connections of `pool`, returns them in order, and gives back the ids
/// in checkout order and the id the next checkout gets.
async fn order_after_return<P: AsyncPeer>(pool: P, manager: &Probed) -> ([u64; 3], u64) {
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pool.checkout().await);
    }
    let ids: Vec<u64> = held.iter().map(|c| conn_id(c)).collect();
    drop(held); // returned in order 0, 1, 2
    let next = conn_id(&*pool.checkout().await);
    assert_eq!(manager.connects(), 3);
    ([ids[0], ids[1], ids[2]], next)
}

/// With LIFO, the connection returned last comes first.
fn newest_first((ids, next): ([u64; 3], u64)) -> Outcome {
    assert_eq!(next, ids[2], "the newest idle connection comes first");
    Ok(())
}

/// By default (FIFO), the connection returned first is handed out first.
fn oldest_first((ids, next): ([u64; 3], u64)) -> Outcome {
    assert_eq!(next, ids[0], "the oldest idle connection comes first");
    Ok(())
}
