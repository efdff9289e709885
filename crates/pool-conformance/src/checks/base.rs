//! The record and the checked-out connection (SQLAlchemy's `PoolTest`, `PoolDialectTest`,
//! the record-level parts of `QueuePoolTest` and `StaticPoolTest`, and the contracts of
//! semantics §2: `info`, invalidation, detach, `handle_error`).

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pool_core::{ConnectionRecord, Connector, ListenerError, PoolListener, PooledConnection};

use super::{needs_concurrent, needs_reuse};
use crate::{build, pool, Backend, Call, Harness, Identified, Outcome, Reason, Spec};

/// A value a check stores in a connection's `info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConnMark(u32);

/// A value a check stores in a record's `record_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecMark(u32);

/// A short timeout, so that a slot the pool failed to give back makes a check fail
/// quickly instead of hanging for the default 30 s.
const SHORT: Option<Duration> = Some(Duration::from_secs(2));

// test_pool.py PoolTest.test_rec_unconnected: a record connects at checkout, and the
// connection the guard derefs to is the one the connector opened.
/// A pool opens nothing until the first checkout, then exactly one connection.
pub fn rec_unconnected<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let p = pool::<H, B>(backend, Spec::default());
    assert_eq!(backend.log().connects(), 0, "building a pool must not connect");
    let c = H::get(&p).expect("checkout");
    assert_eq!(backend.log().calls(), vec![Call::Connect(c.conn_id())]);
    assert!(PooledConnection::record(&c).is_some());
    Ok(())
}

// test_pool.py PoolTest.test_no_connect_on_recreate: neither dispose() nor recreate()
// calls the creator, with a creator that always fails and after a normal connect/close
// followed by a failing creator. On SQLite (no fault injection) only the call log is
// checked: it must show no connect.
/// `dispose` and `recreate` never connect, even when the server is down.
pub fn no_connect_on_recreate<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script().ok();
    let log = backend.log();

    // A pool whose connector has never worked.
    if let Some(s) = script {
        s.shutdown(true);
    }
    let p = pool::<H, B>(backend, Spec::default());
    p.dispose();
    let p2 = p.recreate();
    p2.dispose();
    let _p3 = p2.recreate();
    assert_eq!(log.connects(), 0, "dispose/recreate connected: {log:?}");
    assert_eq!(p.core().last_connect_error(), None, "dispose/recreate tried to connect");
    assert_eq!(p2.core().last_connect_error(), None, "dispose/recreate tried to connect");

    // A pool that connected once, then lost its server.
    if let Some(s) = script {
        s.shutdown(false);
    }
    let p = pool::<H, B>(backend, Spec::default());
    let c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    drop(c);
    if let Some(s) = script {
        s.shutdown(true);
    }
    p.dispose();
    let p2 = p.recreate();
    p2.dispose();
    assert_eq!(log.connects(), 1, "dispose/recreate connected: {log:?}");
    assert_eq!(p.core().last_connect_error(), None, "dispose/recreate tried to connect");
    assert_eq!(p2.core().last_connect_error(), None, "dispose/recreate tried to connect");
    // Closed by dispose, or on return by a pool that keeps no connection (NullPool).
    assert_eq!(log.calls_for(a), vec![Call::Connect(a), Call::Rollback(a), Call::Close(a)]);
    Ok(())
}

// test_pool.py PoolTest.test_rec_close_reopen: closing a record's connection closes it
// exactly once and the next use opens a new one that nothing has touched yet. A record
// cannot be driven by hand here, so the pool does it: dispose closes the idle
// connection, the next checkout opens a new one.
/// `dispose` closes an idle connection exactly once; the next checkout opens a new one.
pub fn rec_close_reopen<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::default());
    let c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    drop(c);
    let c = H::get(&p).expect("checkout");
    assert_eq!(c.conn_id(), a, "an idle connection is reused");
    drop(c);
    assert_eq!(log.calls_for(a), vec![Call::Connect(a), Call::Rollback(a), Call::Rollback(a)]);

    p.dispose();
    assert_eq!(
        log.calls_for(a),
        vec![Call::Connect(a), Call::Rollback(a), Call::Rollback(a), Call::Close(a)],
        "dispose closes the idle connection once, gracefully"
    );
    // AssertionPool keeps its record, now empty, as SQLAlchemy's keeps its `_conn`.
    let kept = usize::from(H::caps().dispose_keeps_record);
    assert_eq!(p.status().idle, kept, "dispose leaves no idle connection");

    let c = H::get(&p).expect("checkout after dispose");
    let b = c.conn_id();
    assert_ne!(a, b, "a disposed connection is not handed out again");
    assert_eq!(log.calls_for(b), vec![Call::Connect(b)], "the new connection is untouched");
    drop(c);
    assert_eq!(log.count(|x| x == Call::Close(a)), 1, "closed exactly once");
    Ok(())
}

// test_pool.py PoolTest.test_recreate_state (the QueuePool cases: size 8, overflow 10,
// timeout 25, LIFO, and all defaults) and StaticPoolTest.test_recreate: a recreated pool has the same
// common settings (pre_ping, reset_on_return commit, recycle, logging_name, echo), the
// same strategy settings and the same connector, and opens nothing by being created.
/// `recreate` keeps every setting and the connector.
pub fn recreate_state<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let spec = Spec::sized(8, Some(10)).with_timeout(Some(Duration::from_secs(25))).lifo(true);
    let p = build::<H, B>(backend, spec, |b| {
        b.pre_ping(true)
            .reset_on_return(pool_core::ResetOnReturn::Commit)
            .recycle(Duration::from_secs(35))
            .logging_name("recreated")
            .echo(pool_core::Echo::Debug)
    });
    let p2 = p.recreate();
    assert!(!p2.ptr_eq(&p), "recreate makes a new pool");

    let config = p2.config();
    assert_eq!(config, p.config());
    assert!(config.pre_ping());
    assert_eq!(config.reset_on_return(), pool_core::ResetOnReturn::Commit);
    assert_eq!(config.recycle(), Some(Duration::from_secs(35)));
    assert_eq!(config.logging_name(), Some("recreated"));
    assert_eq!(config.echo(), pool_core::Echo::Debug);
    assert_eq!(p2.core().name(), "recreated");

    let wanted = format!("{:?}", H::config::<B::Connector>(&spec));
    assert_eq!(format!("{:?}", p.strategy_config()), wanted);
    assert_eq!(format!("{:?}", p2.strategy_config()), wanted, "strategy settings carried over");
    if H::caps().queue_counts {
        assert_eq!(p2.status().pool_size, 8);
    }

    assert_eq!(backend.log().connects(), 0, "recreate opened a connection");
    // The same connector: the recreated pool's connections show in the same log.
    let c = H::get(&p2).expect("checkout from the recreated pool");
    assert_eq!(backend.log().calls(), vec![Call::Connect(c.conn_id())]);
    drop(c);
    assert_eq!(p.status().checked_out, 0, "the original pool is not involved");

    // The default case: every setting at its default survives too.
    let p = pool::<H, B>(backend, Spec::default());
    let p2 = p.recreate();
    assert_eq!(p2.config(), &pool_core::PoolConfig::default());
    assert_eq!(
        format!("{:?}", p2.strategy_config()),
        format!("{:?}", H::config::<B::Connector>(&Spec::default()))
    );
    Ok(())
}

// test_pool.py PoolTest.test_rec_fairy_default_dialect: the checked-out connection is the
// very connection the connector opened (SQLAlchemy: `connection`, `dbapi_connection` and
// `driver_connection` are one object on record and fairy). Here the guard derefs to it,
// and its record keeps its id across checkouts of the same idle connection.
/// The guard derefs to the connector's connection; the record id is stable across reuse.
pub fn rec_fairy_default_dialect<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let p = pool::<H, B>(backend, Spec::default());
    let mut c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    assert_eq!(backend.log().calls(), vec![Call::Connect(a)]);
    B::exercise(&mut c).expect("the guard derefs to a working connection");
    assert!(PooledConnection::pool(&c).ptr_eq(&p));
    let r = PooledConnection::record(&c).expect("a pooled connection has a record").id();
    drop(c);
    if H::caps().reuses_connections {
        let c = H::get(&p).expect("checkout");
        assert_eq!(c.conn_id(), a, "the same idle connection is handed out");
        assert_eq!(PooledConnection::record(&c).map(|r| r.id()), Some(r), "same record");
    }
    Ok(())
}

/// An event name, whether `info` held a [`ConnMark`], whether `record_info` held a
/// [`RecMark`].
type Seen = (&'static str, bool, bool);

/// Records, per event, whether the record's `info` and `record_info` hold the marks.
#[derive(Debug, Clone, Default)]
struct InfoProbe {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl InfoProbe {
    fn note<C: Connector>(&self, event: &'static str, record: &ConnectionRecord<C>) {
        self.seen.lock().push((
            event,
            record.info().contains::<ConnMark>(),
            record.record_info().contains::<RecMark>(),
        ));
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock())
    }
}

impl<C: Connector> PoolListener<C> for InfoProbe {
    fn connect(
        &self,
        _conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.note("connect", record);
        Ok(())
    }
    fn checkout(
        &self,
        _conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.note("checkout", record);
        Ok(())
    }
    fn checkin(&self, _conn: Option<&mut C::Connection>, record: &mut ConnectionRecord<C>) {
        self.note("checkin", record);
    }
    fn invalidate(
        &self,
        _conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
        _reason: Option<&(dyn StdError + 'static)>,
    ) {
        self.note("invalidate", record);
    }
    fn close(&self, _conn: &mut C::Connection, record: &mut ConnectionRecord<C>) {
        self.note("close", record);
    }
}

// semantics §2.1 (info): the connection's `info` is shared by the record and the guard,
// survives checkin and re-checkout of the same connection, is NOT cleared by invalidate
// itself (the invalidate, close and checkin events still see it) and is cleared when
// the next checkout reconnects (the connect event already sees it empty). record_info
// survives all of it.
/// `info` is cleared by the reconnect after an invalidate, not by the invalidate.
pub fn info_cleared_by_reconnect<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let probe = InfoProbe::default();
    let p = build::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(SHORT), |b| {
        b.listener(probe.clone())
    });
    let mut c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    let r = PooledConnection::record(&c).expect("record").id();
    PooledConnection::info_mut(&mut c).insert(ConnMark(1));
    PooledConnection::record_info_mut(&mut c).expect("pooled").insert(RecMark(1));
    assert!(
        PooledConnection::record(&c).expect("record").info().contains::<ConnMark>(),
        "the guard's info is the record's info"
    );
    drop(c);

    let c = H::get(&p).expect("checkout");
    assert_eq!(c.conn_id(), a);
    assert_eq!(PooledConnection::info(&c).get::<ConnMark>(), Some(&ConnMark(1)));
    assert_eq!(PooledConnection::record_info(&c).and_then(|i| i.get()), Some(&RecMark(1)));
    probe.take();

    PooledConnection::invalidate(c, None);
    assert_eq!(
        probe.take(),
        vec![("invalidate", true, true), ("close", true, true), ("checkin", true, true)],
        "invalidate itself does not clear info"
    );

    let c = H::get(&p).expect("checkout after invalidate");
    assert_ne!(c.conn_id(), a, "the invalidated connection was replaced");
    assert_eq!(PooledConnection::record(&c).map(|r| r.id()), Some(r), "on the same record");
    assert_eq!(
        probe.take(),
        vec![("connect", false, true), ("checkout", false, true)],
        "the reconnect clears info before the connect event; record_info stays"
    );
    assert!(PooledConnection::info(&c).is_empty());
    assert_eq!(PooledConnection::record_info(&c).and_then(|i| i.get()), Some(&RecMark(1)));
    Ok(())
}

// semantics §2.1 (record_info): record_info lives as long as the record, across
// replacement after soft invalidation, pool invalidation and recycle by age; the
// connection's info is cleared by each replacement.
/// `record_info` survives every kind of replacement; `info` does not.
pub fn record_info_survives_replacement<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let spec = Spec::sized(1, Some(0)).with_timeout(SHORT);
    // Recycling by age needs a pool with `recycle`; the other two use a pool without it,
    // so that a slow run cannot make them pass through a recycle instead.
    let plain = build::<H, B>(backend, spec, |b| b);
    let aging = build::<H, B>(backend, spec, |b| b.recycle(Duration::from_millis(100)));
    for how in ["soft invalidation", "pool invalidation", "recycle"] {
        let p = if how == "recycle" { &aging } else { &plain };
        let mut c = H::get(p).expect("checkout");
        let r = PooledConnection::record(&c).expect("record").id();
        let before = c.conn_id();
        PooledConnection::record_info_mut(&mut c).expect("pooled").insert(RecMark(7));
        PooledConnection::info_mut(&mut c).insert(ConnMark(1));
        match how {
            "soft invalidation" => PooledConnection::soft_invalidate(&mut c, None),
            "pool invalidation" => p.invalidate_all(),
            _ => std::thread::sleep(Duration::from_millis(150)),
        }
        drop(c);
        let c = H::get(p).expect("checkout");
        assert_ne!(c.conn_id(), before, "{how}: the connection was replaced");
        assert_eq!(
            PooledConnection::record(&c).map(|r| r.id()),
            Some(r),
            "{how}: on the same record"
        );
        assert!(PooledConnection::info(&c).is_empty(), "{how}: info cleared");
        assert_eq!(
            PooledConnection::record_info(&c).and_then(|i| i.get()),
            Some(&RecMark(7)),
            "{how}: record_info kept"
        );
    }
    Ok(())
}

// test_pool.py PoolDialectTest.test_queue_pool: connect, close, dispose, recreate,
// connect, close on the original pool gives rollback, close, rollback (the canary
// R, CL, R): the disposed connection is closed gracefully and nothing is closed by
// recreate.
/// Connect, close, dispose, recreate, connect, close: rollback, close, rollback.
pub fn pool_dialect_calls<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::default());
    drop(H::get(&p).expect("checkout"));
    p.dispose();
    let _p2 = p.recreate();
    drop(H::get(&p).expect("checkout after dispose and recreate"));
    let canary: Vec<&str> = log
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Rollback(_) => Some("R"),
            Call::Commit(_) => Some("C"),
            Call::Close(_) | Call::Terminate(_) => Some("CL"),
            _ => None,
        })
        .collect();
    assert_eq!(canary, ["R", "CL", "R"], "{log:?}");
    let ids: Vec<u64> = log
        .calls()
        .into_iter()
        .filter_map(|c| if let Call::Connect(id) = c { Some(id) } else { None })
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(
        log.calls(),
        vec![
            Call::Connect(ids[0]),
            Call::Rollback(ids[0]),
            Call::Close(ids[0]),
            Call::Connect(ids[1]),
            Call::Rollback(ids[1]),
        ]
    );
    Ok(())
}

// test_pool.py StaticPoolTest.test_connect (and the reuse half of QueuePoolTest
// test_invalidate): sequential checkouts get the same connection, opened once.
/// Sequential checkouts return the same connection.
pub fn sequential_checkouts_reuse<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let p = pool::<H, B>(backend, Spec::default());
    let first = H::get(&p).expect("checkout").conn_id();
    for _ in 0..3 {
        let mut c = H::get(&p).expect("checkout");
        assert_eq!(c.conn_id(), first, "sequential checkouts share one connection");
        B::exercise(&mut c).expect("usable");
    }
    assert_eq!(backend.log().connects(), 1);
    Ok(())
}

// test_pool.py QueuePoolTest.test_invalidate: the connection is reused after a close; after
// invalidate the next checkout gets a different connection (on the same record, which
// went back empty). The invalidated connection is closed abruptly and not reset.
/// After `invalidate`, the next checkout gets a new connection on the same record.
pub fn invalidate_replaces_connection<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(SHORT));
    let c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    drop(c);
    let c = H::get(&p).expect("checkout");
    assert_eq!(c.conn_id(), a, "reused after close");
    let r = PooledConnection::record(&c).expect("record").id();
    PooledConnection::invalidate(c, None);
    assert_eq!(log.calls_for(a), vec![Call::Connect(a), Call::Rollback(a), Call::Terminate(a)]);

    let c = H::get(&p).expect("checkout after invalidate");
    assert_ne!(c.conn_id(), a, "a new connection after invalidate");
    assert_eq!(PooledConnection::record(&c).map(|r| r.id()), Some(r), "on the same record");
    Ok(())
}

// test_pool.py QueuePoolTest.test_reconnect: the same shape as test_invalidate, with a
// reason. Between the invalidate and the next checkout the record is idle and holds no
// connection; the next checkout reconnects it, once.
/// An invalidated record waits empty and reconnects once at its next checkout.
pub fn invalidate_then_reconnect<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(SHORT));
    let c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    PooledConnection::invalidate(c, Some(&Reason("lost")));
    assert_eq!(log.open(), 0, "the invalidated connection is closed");
    if H::caps().queue_counts {
        let s = p.status();
        assert_eq!((s.idle, s.checked_out), (1, 0), "the empty record is back, idle");
    }
    let c = H::get(&p).expect("checkout after invalidate");
    assert_ne!(c.conn_id(), a);
    assert_eq!(log.connects(), 2, "exactly one reconnect");
    drop(c);
    let c = H::get(&p).expect("checkout");
    assert_eq!(log.connects(), 2, "the replacement is pooled as usual");
    drop(c);
    Ok(())
}

// semantics §2.7 (detach): the record goes back empty and counts as idle, so the detached
// connection is outside the pool's limits (a pool of size 1 without overflow can hand out
// another connection); nothing is called on the connection by the detach; record_info is
// None on the detached guard while info moves with it; dropping the detached guard resets
// it (rollback) and closes it gracefully. The record keeps its record_info.
/// A detached connection leaves the pool's limits; dropping it rolls back and closes it.
pub fn detach_semantics<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(SHORT));
    let mut c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    let r = PooledConnection::record(&c).expect("record").id();
    PooledConnection::info_mut(&mut c).insert(ConnMark(3));
    PooledConnection::record_info_mut(&mut c).expect("pooled").insert(RecMark(3));

    PooledConnection::detach(&mut c);
    assert!(PooledConnection::is_detached(&c));
    assert!(PooledConnection::record(&c).is_none());
    assert!(PooledConnection::record_info(&c).is_none(), "record_info is None when detached");
    assert_eq!(PooledConnection::info(&c).get::<ConnMark>(), Some(&ConnMark(3)));
    assert_eq!(c.conn_id(), a);
    B::exercise(&mut c).expect("a detached connection stays usable");
    assert_eq!(log.calls_for(a), vec![Call::Connect(a)], "detach calls nothing");
    if H::caps().queue_counts {
        let s = p.status();
        assert_eq!((s.idle, s.checked_out), (1, 0), "the empty record counts as idle");
    }

    let c2 = H::get(&p).expect("the detached connection does not count against the limits");
    let b = c2.conn_id();
    assert_ne!(a, b);
    if H::caps().reuses_connections {
        assert_eq!(PooledConnection::record(&c2).map(|x| x.id()), Some(r), "the same record");
        assert!(PooledConnection::info(&c2).is_empty(), "info went with the detached one");
        assert_eq!(
            PooledConnection::record_info(&c2).and_then(|i| i.get()),
            Some(&RecMark(3)),
            "record_info stays with the record"
        );
    }
    drop(c2);

    PooledConnection::close(c);
    assert_eq!(
        log.calls_for(a),
        vec![Call::Connect(a), Call::Rollback(a), Call::Close(a)],
        "a detached connection is reset then closed gracefully"
    );
    if H::caps().queue_counts {
        let s = p.status();
        assert_eq!((s.idle, s.checked_out), (1, 0), "closing it did not touch the pool");
    }
    Ok(())
}

// semantics §2.6 and test_pool.py QueuePoolTest.test_recycle_on_soft_invalidate: a
// soft-invalidated connection stays usable and nothing is closed; it is reset and
// checked in as usual, and the next checkout replaces it (abrupt close, then connect) on
// the same record.
/// A soft-invalidated connection stays usable and is replaced at its next checkout.
pub fn soft_invalidate_semantics<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(SHORT));
    let mut c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    let r = PooledConnection::record(&c).expect("record").id();
    PooledConnection::soft_invalidate(&mut c, Some(&Reason("stale")));
    assert!(PooledConnection::record(&c).expect("still pooled").is_soft_invalidated());
    assert_eq!(c.conn_id(), a);
    B::exercise(&mut c).expect("a soft-invalidated connection stays usable");
    assert_eq!(log.calls_for(a), vec![Call::Connect(a)], "nothing closed yet");
    drop(c);
    assert_eq!(log.calls_for(a), vec![Call::Connect(a), Call::Rollback(a)], "a normal return");

    let c = H::get(&p).expect("checkout");
    let b = c.conn_id();
    assert_ne!(a, b, "replaced at the next checkout");
    assert_eq!(PooledConnection::record(&c).map(|x| x.id()), Some(r), "on the same record");
    assert!(!PooledConnection::record(&c).expect("record").is_soft_invalidated());
    let calls = log.calls();
    assert_eq!(calls[calls.len() - 2..], [Call::Terminate(a), Call::Connect(b)]);
    Ok(())
}

// semantics §1.8 and §2.6 (the engine's `_handle_dbapi_exception` calls
// `pool._invalidate(fairy, e)` on a detected disconnect): an error that the connector classifies as a
// disconnect invalidates the connection (closed abruptly, no reset, slot returned) and
// the pool generation, so idle connections opened before it are replaced at their next
// checkout.
/// `handle_error` with a disconnect invalidates the connection and the pool generation.
pub fn handle_error_disconnect<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    needs_concurrent::<H>()?;
    let script = backend.script()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::sized(3, Some(0)).with_timeout(SHORT));
    let mut c1 = H::get(&p).expect("checkout");
    let c2 = H::get(&p).expect("checkout");
    let (a, b) = (c1.conn_id(), c2.conn_id());
    drop(c2);
    let generation = p.generation();

    script.kill(a);
    let err = B::exercise(&mut c1).expect_err("a killed connection fails");
    assert!(p.connector().is_disconnect(&err));
    assert!(PooledConnection::handle_error(c1, &err).is_none(), "a disconnect consumes it");
    assert_eq!(p.generation(), generation + 1, "the pool generation was invalidated");
    assert_eq!(log.calls_for(a), vec![Call::Connect(a), Call::Terminate(a)], "no reset");
    let s = p.status();
    assert_eq!(s.checked_out, 0, "the slot is back");
    if H::caps().queue_counts {
        assert_eq!(s.idle, 2);
    }

    let x = H::get(&p).expect("checkout");
    let y = H::get(&p).expect("checkout");
    for id in [x.conn_id(), y.conn_id()] {
        assert!(id != a && id != b, "connections of the old generation are replaced");
    }
    assert_eq!(
        log.calls_for(b),
        vec![Call::Connect(b), Call::Rollback(b), Call::Terminate(b)],
        "the idle connection of the old generation is closed at its checkout, not pinged"
    );
    Ok(())
}

// semantics §1.8 (the engine invalidates only on a detected disconnect): an error that
// is not a disconnect leaves the connection checked out and usable, and the pool
// generation alone.
/// `handle_error` with an ordinary error gives the connection back to the caller.
pub fn handle_error_keeps_connection<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::default());
    let mut c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    script.fail_rollbacks(1);
    let err = p.connector().rollback(&mut *c).expect_err("the scripted rollback fails");
    assert!(!p.connector().is_disconnect(&err));
    let generation = p.generation();

    let mut c = PooledConnection::handle_error(c, &err).expect("not a disconnect: kept");
    assert_eq!(c.conn_id(), a);
    B::exercise(&mut c).expect("still usable");
    assert_eq!(p.generation(), generation, "the pool generation is untouched");
    assert_eq!(p.status().checked_out, 1, "still checked out");
    assert!(!log.calls_for(a).iter().any(|x| x.is_close()), "nothing was closed");
    Ok(())
}
