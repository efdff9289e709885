//! The probes of plain deadpool `managed::Pool`.
//!
//! They run on SQLite through a small rusqlite manager written here (the one users write
//! inline: `create` opens a connection, `recycle` counts and accepts), each on its own
//! current-thread tokio runtime, with deadpool's tokio timer for wait timeouts. deadpool's
//! hooks stand for events: `post_create` is the connect event, `pre_recycle` and
//! `post_recycle` fire at checkout; it has no hook at return.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool::managed::{self, Hook, Metrics, Object, PoolError, QueueMode, RecycleResult};
use deadpool::Runtime;
use r2d2_sqlite::rusqlite::{self, Connection};

use super::PeerProbe;
use crate::{Outcome, Skip};

/// The probes of plain deadpool `managed::Pool` over an inline rusqlite manager, in suite
/// order.
pub fn deadpool_probes() -> Vec<PeerProbe> {
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

/// An in-memory SQLite manager whose connections carry an id (in a temp table) and which
/// counts its `create` and `recycle` calls (`recycle` is deadpool's ping).
#[derive(Debug, Default)]
struct Probed {
    next: AtomicU64,
    creates: AtomicUsize,
    recycles: AtomicUsize,
}

impl managed::Manager for Probed {
    type Type = Connection;
    type Error = rusqlite::Error;

    async fn create(&self) -> Result<Connection, rusqlite::Error> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(&format!(
            "CREATE TEMP TABLE peer_id(id INTEGER); INSERT INTO temp.peer_id VALUES ({id});"
        ))?;
        Ok(conn)
    }

    async fn recycle(&self, _conn: &mut Connection, _: &Metrics) -> RecycleResult<rusqlite::Error> {
        self.recycles.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

type Pool = managed::Pool<Probed>;
type Builder = managed::PoolBuilder<Probed>;

fn builder(max_size: usize) -> Builder {
    Pool::builder(Probed::default()).max_size(max_size).runtime(Runtime::Tokio1)
}

/// Runs a probe's body on a current-thread runtime.
fn run<T>(body: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(body)
}

/// The id a connection was given when it was opened.
fn conn_id(conn: &Connection) -> u64 {
    conn.query_row("SELECT id FROM temp.peer_id", [], |r| r.get::<_, i64>(0)).expect("id") as u64
}

fn counter(pool: &Pool, which: fn(&Probed) -> &AtomicUsize) -> usize {
    which(pool.manager()).load(Ordering::SeqCst)
}

fn creates(pool: &Pool) -> usize {
    counter(pool, |m| &m.creates)
}

fn recycles(pool: &Pool) -> usize {
    counter(pool, |m| &m.recycles)
}

/// Sequential checkouts share one connection and connect once.
fn sequential_checkouts_reuse() -> Outcome {
    run(async {
        let p = builder(5).build().expect("pool");
        let first = conn_id(&p.get().await.expect("checkout"));
        for _ in 0..3 {
            let c = p.get().await.expect("checkout");
            assert_eq!(conn_id(&c), first, "sequential checkouts share one connection");
        }
        assert_eq!(creates(&p), 1);
        Ok(())
    })
}

/// A detached connection (deadpool: `Object::take`) leaves the pool's limit: a
/// one-connection pool opens another for the next checkout, and the taken one still works.
fn detach_semantics() -> Outcome {
    run(async {
        let p = builder(1).wait_timeout(Some(Duration::from_millis(100))).build().expect("pool");
        let taken = Object::take(p.get().await.expect("checkout"));
        let next = p.get().await.expect("the detached connection no longer counts");
        assert_ne!(conn_id(&next), conn_id(&taken));
        taken.execute_batch("SELECT 1").expect("the detached connection stays usable");
        Ok(())
    })
}

/// A connect event fires once for a new connection, not again when it is reused
/// (deadpool: the `post_create` hook).
fn connect_event() -> Outcome {
    run(async {
        let seen = Arc::new(AtomicUsize::new(0));
        let hook = Arc::clone(&seen);
        let p = builder(5)
            .post_create(Hook::sync_fn(move |_, _| {
                hook.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }))
            .build()
            .expect("pool");
        drop(p.get().await.expect("checkout"));
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        drop(p.get().await.expect("checkout"));
        assert_eq!(seen.load(Ordering::SeqCst), 1, "a reused connection is not connected again");
        Ok(())
    })
}

/// Which hooks fired, in order, through one checkout and return.
fn hooks_through_one_return() -> Vec<&'static str> {
    run(async {
        let seen: Arc<Mutex<Vec<&'static str>>> = Arc::default();
        let hook = |name: &'static str| {
            let seen = Arc::clone(&seen);
            Hook::sync_fn(move |_, _| {
                seen.lock().expect("not poisoned").push(name);
                Ok(())
            })
        };
        let p = builder(5)
            .post_create(hook("post_create"))
            .pre_recycle(hook("pre_recycle"))
            .post_recycle(hook("post_recycle"))
            .build()
            .expect("pool");
        let c = p.get().await.expect("checkout");
        seen.lock().expect("not poisoned").clear();
        drop(c);
        let after_return = seen.lock().expect("not poisoned").clone();
        after_return
    })
}

/// A checkin event fires when a connection is returned.
fn checkin_event() -> Outcome {
    let fired = hooks_through_one_return();
    assert!(
        !fired.is_empty(),
        "no event on return: deadpool's hooks are post_create, pre_recycle and post_recycle, \
         all at checkout"
    );
    Ok(())
}

/// A reset event fires when a connection is returned.
fn reset_event() -> Outcome {
    let fired = hooks_through_one_return();
    assert!(
        !fired.is_empty(),
        "no reset event on return: deadpool has no hook at return (got {fired:?})"
    );
    Ok(())
}

/// A connection just opened is not pinged, and a pooled one is pinged exactly once per
/// checkout (deadpool: `recycle` runs at every reuse).
fn pre_ping_pooled_once() -> Outcome {
    run(async {
        let p = builder(5).build().expect("pool");
        let c = p.get().await.expect("first checkout");
        assert_eq!(recycles(&p), 0, "a new connection must not be pinged");
        drop(c);
        drop(p.get().await.expect("second checkout"));
        assert_eq!(recycles(&p), 1, "a pooled connection is pinged exactly once");
        Ok(())
    })
}

fn invalidate_all() -> Outcome {
    Err(Skip::because(
        "no such API (deadpool's retain drops idle objects now; it cannot mark every \
         connection, checked out ones included, for replacement)",
    ))
}

/// With pre-ping off, checkouts never ping.
fn no_ping_without() -> Outcome {
    run(async {
        let p = builder(5).build().expect("pool");
        for _ in 0..3 {
            drop(p.get().await.expect("checkout"));
        }
        assert_eq!(recycles(&p), 0, "deadpool recycles (pings) at every reuse; it cannot be off");
        Ok(())
    })
}

/// Opens a transaction with a pending insert on the pool's only connection, returns it,
/// and checks the connection out again: is a transaction still open, and how many rows?
fn leave_transaction_open() -> (bool, i64) {
    run(async {
        let p = builder(1).build().expect("pool");
        let c = p.get().await.expect("checkout");
        let id = conn_id(&c);
        c.execute_batch("CREATE TABLE t(x INTEGER); BEGIN; INSERT INTO t VALUES (1);")
            .expect("transaction");
        assert!(!c.is_autocommit(), "a transaction is open");
        drop(c);
        let c = p.get().await.expect("checkout again");
        assert_eq!(conn_id(&c), id, "the same connection");
        let rows: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
        (!c.is_autocommit(), rows)
    })
}

/// Reset on return "rollback": the transaction left open is rolled back.
fn reset_plain_rollback() -> Outcome {
    let (open, rows) = leave_transaction_open();
    assert!(!open, "the transaction left open was not rolled back on return");
    assert_eq!(rows, 0, "the pending insert is rolled back");
    Ok(())
}

/// Reset on return "commit": the transaction left open is committed.
fn reset_plain_commit() -> Outcome {
    let (open, rows) = leave_transaction_open();
    assert!(!open, "the transaction left open was not committed on return");
    assert_eq!(rows, 1, "the pending insert is committed");
    Ok(())
}

/// Holds the only connection of a pool with this wait timeout and asks for another.
fn time_out(timeout: Duration) -> (PoolError<rusqlite::Error>, Duration) {
    run(async {
        let p = builder(1).wait_timeout(Some(timeout)).build().expect("pool");
        let _held = p.get().await.expect("the only connection");
        let start = Instant::now();
        let err = match p.get().await {
            Err(e) => e,
            Ok(_) => panic!("a full pool must time out"),
        };
        (err, start.elapsed())
    })
}

/// The timeout error carries SQLAlchemy's text.
fn timeout_message() -> Outcome {
    super::timeout_message("deadpool", time_out)
}

/// A checkout from a full pool fails after the timeout, not before and not much later.
fn timeout_fires() -> Outcome {
    super::timeout_fires(time_out)
}

fn overflow_closed_on_return() -> Outcome {
    Err(Skip::because("no overflow concept (deadpool has max_size only, and keeps every object)"))
}

/// Checks out three connections, returns them in order, and gives back the ids in
/// checkout order and the id the next checkout gets.
fn order_after_return(mode: QueueMode) -> ([u64; 3], u64) {
    run(async {
        let p = builder(5).queue_mode(mode).build().expect("pool");
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(p.get().await.expect("checkout"));
        }
        let ids: Vec<u64> = held.iter().map(|c| conn_id(c)).collect();
        drop(held); // returned in order 0, 1, 2
        let next = conn_id(&p.get().await.expect("checkout"));
        assert_eq!(creates(&p), 3);
        ([ids[0], ids[1], ids[2]], next)
    })
}

/// With LIFO (deadpool: `QueueMode::Lifo`), the connection returned last comes first.
fn lifo_order() -> Outcome {
    let (ids, next) = order_after_return(QueueMode::Lifo);
    assert_eq!(next, ids[2], "the newest idle connection comes first");
    Ok(())
}

/// By default (FIFO), the connection returned first is handed out first.
fn fifo_order() -> Outcome {
    let (ids, next) = order_after_return(QueueMode::default());
    assert_eq!(next, ids[0], "the oldest idle connection comes first");
    Ok(())
}
