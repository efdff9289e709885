//! The probes of plain `r2d2::Pool`.
//!
//! They run on SQLite through r2d2_sqlite's `SqliteConnectionManager` and build
//! their pools with `min_idle(Some(0))`, so that r2d2 opens connections on demand as
//! SQLAlchemy's QueuePool does (r2d2's default fills the pool up front).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use r2d2::{HandleEvent, ManageConnection};
use r2d2_sqlite::rusqlite::Connection;
use r2d2_sqlite::SqliteConnectionManager;

use super::{conn_id, PeerProbe};
use crate::{Outcome, Skip};

/// The probes of plain `r2d2::Pool` over r2d2_sqlite, in suite order.
pub fn r2d2_probes() -> Vec<PeerProbe> {
    vec![
        PeerProbe { check: "base::sequential_checkouts_reuse", run: sequential_checkouts_reuse },
        PeerProbe { check: "base::detach_semantics", run: detach_semantics },
        PeerProbe { check: "events::connect_event", run: connect_event },
        PeerProbe { check: "events::checkin_event", run: checkin_event },
        PeerProbe { check: "events::reset_event", run: reset_event },
        PeerProbe { check: "checkout::checkout_pre_ping_pooled_once", run: pre_ping_pooled_once },
        PeerProbe { check: "checkout::checkout_invalidate_all", run: invalidate_all },
        PeerProbe { check: "checkout::checkout_no_ping_without_pre_ping", run: no_ping_without },
        PeerProbe { check: "reset::reset_plain_rollback", run: reset_plain_rollback },
        PeerProbe { check: "reset::reset_plain_commit", run: reset_plain_commit },
        PeerProbe { check: "failures::failures_timeout_message", run: timeout_message },
        PeerProbe { check: "queue::timeout_fires", run: timeout_fires },
        PeerProbe { check: "queue::overflow_closed_on_return", run: overflow_closed_on_return },
        PeerProbe { check: "queue::lifo_order", run: lifo_order },
        PeerProbe { check: "queue::fifo_order", run: fifo_order },
    ]
}

/// A manager whose connections carry an id (in a per-connection temp table) and which
/// counts its `is_valid` calls (r2d2's ping).
#[derive(Debug, Clone)]
struct Probed {
    inner: Arc<SqliteConnectionManager>,
    pings: Arc<AtomicUsize>,
    connects: Arc<AtomicUsize>,
}

impl Probed {
    fn new() -> Self {
        let next = Arc::new(AtomicU64::new(1));
        let inner = SqliteConnectionManager::memory().with_init(move |c| {
            let id = next.fetch_add(1, Ordering::SeqCst);
            c.execute_batch(&format!(
                "CREATE TEMP TABLE peer_id(id INTEGER); INSERT INTO temp.peer_id VALUES ({id});"
            ))
        });
        Probed { inner: Arc::new(inner), pings: Arc::default(), connects: Arc::default() }
    }
    fn pings(&self) -> usize {
        self.pings.load(Ordering::SeqCst)
    }
    fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }
}

impl ManageConnection for Probed {
    type Connection = Connection;
    type Error = r2d2_sqlite::rusqlite::Error;

    fn connect(&self) -> Result<Connection, Self::Error> {
        self.connects.fetch_add(1, Ordering::SeqCst);
        self.inner.connect()
    }
    fn is_valid(&self, conn: &mut Connection) -> Result<(), Self::Error> {
        self.pings.fetch_add(1, Ordering::SeqCst);
        self.inner.is_valid(conn)
    }
    fn has_broken(&self, conn: &mut Connection) -> bool {
        self.inner.has_broken(conn)
    }
}

/// Records r2d2's events by name and connection id.
#[derive(Debug, Clone, Default)]
struct Events(Arc<Mutex<Vec<(&'static str, u64)>>>);

impl Events {
    fn all(&self) -> Vec<(&'static str, u64)> {
        self.0.lock().expect("not poisoned").clone()
    }
    fn count(&self, name: &str) -> usize {
        self.all().iter().filter(|e| e.0 == name).count()
    }
    fn push(&self, name: &'static str, id: u64) {
        self.0.lock().expect("not poisoned").push((name, id));
    }
}

impl HandleEvent for Events {
    fn handle_acquire(&self, event: r2d2::event::AcquireEvent) {
        self.push("acquire", event.connection_id());
    }
    fn handle_release(&self, event: r2d2::event::ReleaseEvent) {
        self.push("release", event.connection_id());
    }
    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        self.push("checkout", event.connection_id());
    }
    fn handle_checkin(&self, event: r2d2::event::CheckinEvent) {
        self.push("checkin", event.connection_id());
    }
}

/// A builder that opens connections on demand, with room for `max_size`.
fn builder(max_size: u32) -> r2d2::Builder<Probed> {
    r2d2::Pool::builder().max_size(max_size).min_idle(Some(0))
}

fn build(b: r2d2::Builder<Probed>, manager: &Probed) -> r2d2::Pool<Probed> {
    b.build(manager.clone()).expect("pool")
}

/// SQLAlchemy's `test_no_connect_on_recreate`-style reuse: sequential checkouts share one
/// connection and connect once.
fn sequential_checkouts_reuse() -> Outcome {
    let m = Probed::new();
    let p = build(builder(5), &m);
    let first = conn_id(&p.get().expect("checkout"));
    for _ in 0..3 {
        let c = p.get().expect("checkout");
        assert_eq!(conn_id(&c), first, "sequential checkouts share one connection");
    }
    assert_eq!(m.connects(), 1);
    Ok(())
}

fn detach_semantics() -> Outcome {
    Err(Skip::because("no such API (r2d2's PooledConnection cannot be detached)"))
}

/// A connect event fires once for a new connection, not again when it is reused
/// (r2d2: `HandleEvent::handle_acquire`).
fn connect_event() -> Outcome {
    let m = Probed::new();
    let events = Events::default();
    let p = build(builder(5).event_handler(Box::new(events.clone())), &m);
    drop(p.get().expect("checkout"));
    assert_eq!(events.count("acquire"), 1);
    drop(p.get().expect("checkout"));
    assert_eq!(events.count("acquire"), 1, "a reused connection is not connected again");
    Ok(())
}

/// A checkin event fires exactly once when a connection is returned, with its id
/// (r2d2: `HandleEvent::handle_checkin`). The suite's check also wants a reset event
/// first; that part is `events::reset_event`.
fn checkin_event() -> Outcome {
    let m = Probed::new();
    let events = Events::default();
    let p = build(builder(5).event_handler(Box::new(events.clone())), &m);
    let c = p.get().expect("checkout");
    assert_eq!(events.count("checkin"), 0);
    drop(c);
    let all = events.all();
    let checkout = all.iter().find(|e| e.0 == "checkout").expect("a checkout event").1;
    assert_eq!(
        all.iter().filter(|e| e.0 == "checkin").collect::<Vec<_>>(),
        [&("checkin", checkout)]
    );
    Ok(())
}

/// A reset event fires when a connection is returned, before it is rolled back.
fn reset_event() -> Outcome {
    let m = Probed::new();
    let events = Events::default();
    let p = build(builder(5).event_handler(Box::new(events.clone())), &m);
    drop(p.get().expect("checkout"));
    let names: Vec<_> = events.all().iter().map(|e| e.0).collect();
    assert!(
        names.contains(&"reset"),
        "no reset event on return: r2d2's HandleEvent has acquire, release, checkout, \
         checkin and timeout only (got {names:?})"
    );
    Ok(())
}

/// With pre-ping on (r2d2: `test_on_check_out(true)`), a connection just opened is not
/// pinged, and a pooled one is pinged exactly once per checkout.
fn pre_ping_pooled_once() -> Outcome {
    let m = Probed::new();
    let p = build(builder(5).test_on_check_out(true), &m);
    let c = p.get().expect("first checkout");
    assert_eq!(m.pings(), 0, "a new connection must not be pinged (r2d2 pinged it)");
    drop(c);
    drop(p.get().expect("second checkout"));
    assert_eq!(m.pings(), 1, "a pooled connection is pinged exactly once");
    Ok(())
}

fn invalidate_all() -> Outcome {
    Err(Skip::because("no such API (r2d2 cannot invalidate every pooled connection)"))
}

/// With pre-ping off (r2d2: `test_on_check_out(false)`; r2d2's default is on), checkouts
/// never ping.
fn no_ping_without() -> Outcome {
    let m = Probed::new();
    let p = build(builder(5).test_on_check_out(false), &m);
    for _ in 0..3 {
        drop(p.get().expect("checkout"));
    }
    assert_eq!(m.pings(), 0);
    Ok(())
}

/// Opens a transaction with a pending insert on the pool's only connection, returns it,
/// and checks the connection out again.
fn leave_transaction_open() -> (r2d2::PooledConnection<Probed>, u64) {
    let m = Probed::new();
    let p = build(builder(1), &m);
    let c = p.get().expect("checkout");
    let id = conn_id(&c);
    c.execute_batch("CREATE TABLE t(x INTEGER); BEGIN; INSERT INTO t VALUES (1);")
        .expect("transaction");
    assert!(!c.is_autocommit(), "a transaction is open");
    drop(c);
    let c = p.get().expect("checkout again");
    assert_eq!(conn_id(&c), id, "the same connection");
    (c, id)
}

/// Reset on return "rollback": the transaction left open is rolled back.
fn reset_plain_rollback() -> Outcome {
    let (c, _) = leave_transaction_open();
    assert!(c.is_autocommit(), "the transaction left open was not rolled back on return");
    let rows: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    assert_eq!(rows, 0, "the pending insert is rolled back");
    Ok(())
}

/// Reset on return "commit": the transaction left open is committed.
fn reset_plain_commit() -> Outcome {
    let (c, _) = leave_transaction_open();
    assert!(c.is_autocommit(), "the transaction left open was not committed on return");
    let rows: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
    assert_eq!(rows, 1, "the pending insert is committed");
    Ok(())
}

/// Holds every connection of a one-connection pool with this timeout and asks for another.
fn time_out(timeout: Duration) -> (r2d2::Error, Duration) {
    let m = Probed::new();
    let p = build(builder(1).connection_timeout(timeout), &m);
    let _held = p.get().expect("the only connection");
    let start = Instant::now();
    let err = match p.get() {
        Err(e) => e,
        Ok(_) => panic!("a full pool must time out"),
    };
    (err, start.elapsed())
}

/// The timeout error carries SQLAlchemy's text.
fn timeout_message() -> Outcome {
    super::timeout_message("r2d2", time_out)
}

/// A checkout from a full pool fails after the timeout, not before and not much later.
fn timeout_fires() -> Outcome {
    super::timeout_fires(time_out)
}

fn overflow_closed_on_return() -> Outcome {
    Err(Skip::because("no overflow concept (r2d2 has max_size only)"))
}

/// Checks out three connections, returns them in order, and gives back the ids in
/// checkout order and the id the next checkout gets.
fn order_after_return() -> ([u64; 3], u64) {
    let m = Probed::new();
    let p = build(builder(5), &m);
    let held: Vec<_> = (0..3).map(|_| p.get().expect("checkout")).collect();
    let ids: Vec<u64> = held.iter().map(|c| conn_id(c)).collect();
    drop(held); // returned in order 0, 1, 2
    let next = conn_id(&p.get().expect("checkout"));
    assert_eq!(m.connects(), 3);
    ([ids[0], ids[1], ids[2]], next)
}

/// With LIFO, the connection returned last is handed out first.
fn lifo_order() -> Outcome {
    let (ids, next) = order_after_return();
    assert_eq!(next, ids[2], "the newest idle connection comes first");
    Ok(())
}

/// By default (FIFO), the connection returned first is handed out first.
fn fifo_order() -> Outcome {
    let (ids, next) = order_after_return();
    assert_eq!(next, ids[0], "the oldest idle connection comes first (r2d2 is LIFO only)");
    Ok(())
}
