//! The background maintenance (issue 12, parts 1-3 and 8): `min_idle` opens and reopens
//! idle connections, `idle_timeout` and `max_lifetime` close them (gracefully),
//! `keepalive` pings them, and dropping the pool closes what is idle. They run for the
//! strategies whose idle connections the core looks after (`caps().retains`); the
//! others refuse the settings at build.
//!
//! The worker runs on its own schedule, so each check waits for what it expects with a
//! generous bound and asserts nothing about speed.

use std::thread;
use std::time::{Duration, Instant};

use pool_core::PooledConnection;

use super::needs;
use crate::observe::eventually;
use crate::{build, try_build, Backend, Call, Harness, Identified, Outcome, Spec};

pub(crate) fn needs_maintenance<H: Harness>() -> Outcome {
    needs::<H>(|c| c.retains, "keeps no idle connection the core looks after (caps().retains)")
}

fn closed<B: Backend>(backend: &B, id: u64) -> bool {
    backend.log().calls_for(id).iter().any(|c| matches!(c, Call::Close(_) | Call::Terminate(_)))
}

// r2d2's `min_idle` and HikariCP's `minimumIdle`: the pool opens idle connections by
// itself, and opens another when one is closed.
/// `min_idle` opens an idle connection without a checkout, and reopens it after `dispose`.
pub fn min_idle_opens_and_reopens<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_maintenance::<H>()?;
    let log = backend.log();
    let p = build::<H, B>(backend, Spec::sized(2, Some(0)), |b| b.min_idle(1));
    eventually("one idle connection", || p.status().idle == 1 && log.connects() == 1);
    let first = H::get(&p).expect("checkout");
    let id = first.conn_id();
    drop(first);
    p.dispose();
    assert!(closed(backend, id), "dispose closed it");
    // A refill already under way when dispose ran may be the one that comes back, so
    // what counts is an open idle connection, not a connect after the dispose.
    eventually("an idle connection again", || p.status().idle >= 1);
    let again = H::get(&p).expect("checkout");
    assert_ne!(again.conn_id(), id, "a new connection");
    assert!(!closed(backend, again.conn_id()), "an open one");
    Ok(())
}

// r2d2's and deadpool's `idle_timeout`, closing gracefully.
/// `idle_timeout` closes an idle connection, gracefully; the next checkout opens another.
pub fn idle_timeout_closes_idle<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_maintenance::<H>()?;
    let log = backend.log();
    let p = build::<H, B>(backend, Spec::sized(2, Some(0)), |b| {
        b.idle_timeout(Duration::from_millis(40))
    });
    let c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    drop(c);
    eventually("the idle connection closed", || closed(backend, id));
    assert_eq!(log.calls_for(id).last(), Some(&Call::Close(id)), "gracefully");
    assert_eq!(p.status().idle, 0);
    let next = H::get(&p).expect("checkout");
    assert_ne!(next.conn_id(), id);
    Ok(())
}

// HikariCP's `maxLifetime`: a connection held past its lifetime is closed when it comes
// back, and never handed out again.
/// `max_lifetime` closes a connection that comes back past it, and an idle one in the background.
pub fn max_lifetime_closes_old_connections<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_maintenance::<H>()?;
    let p = build::<H, B>(backend, Spec::sized(2, Some(0)), |b| {
        b.max_lifetime(Duration::from_millis(80))
    });
    let c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    let ends = PooledConnection::record(&c).and_then(|r| r.expires_at()).expect("an end of life");
    while Instant::now() < ends {
        thread::sleep(Duration::from_millis(5));
    }
    drop(c);
    assert_eq!(backend.log().calls_for(id).last(), Some(&Call::Close(id)), "closed on return");
    assert_eq!(p.status().idle, 0, "not pooled");

    let c = H::get(&p).expect("checkout");
    let idle_id = c.conn_id();
    assert_ne!(idle_id, id);
    drop(c);
    eventually("the idle one closed at its end of life", || closed(backend, idle_id));
    Ok(())
}

// HikariCP's `keepaliveTime`: an idle connection is pinged and stays in the pool.
/// `keepalive` pings an idle connection, which stays pooled and is handed out again.
pub fn keepalive_pings_idle<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_maintenance::<H>()?;
    // One connection: a checkout that meets a keepalive under way waits for it.
    let p =
        build::<H, B>(backend, Spec::sized(1, Some(0)), |b| b.keepalive(Duration::from_millis(25)));
    let c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    drop(c);
    eventually("a keepalive ping", || {
        backend.log().calls_for(id).iter().filter(|c| matches!(c, Call::Ping(_))).count() >= 2
    });
    assert!(!closed(backend, id), "a good connection is kept");
    let again = H::get(&p).expect("checkout");
    assert_eq!(again.conn_id(), id, "and handed out again");
    Ok(())
}

// deadpool's and bb8's drop: the idle connections of a dropped pool are closed, not
// leaked (issue 14, part 4).
/// Dropping the last handle closes each idle connection, gracefully, once.
pub fn drop_closes_idle<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_maintenance::<H>()?;
    let p = build::<H, B>(backend, Spec::sized(2, Some(0)), |b| b);
    let c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    drop(c);
    drop(p);
    eventually("closed", || closed(backend, id));
    let closes = backend.log().calls_for(id).iter().filter(|c| c.is_close()).count();
    assert_eq!(closes, 1, "{:?}", backend.log().calls_for(id));
    assert_eq!(backend.log().calls_for(id).last(), Some(&Call::Close(id)), "gracefully");
    Ok(())
}

// Where the settings have no meaning the builder says so, instead of ignoring them.
/// A strategy that keeps no idle connection refuses the maintenance settings at build.
pub fn maintenance_refused_without_idle<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs::<H>(|c| !c.retains, "looks after idle connections (caps().retains)")?;
    let second = Duration::from_secs(1);
    let spec = || Spec::sized(2, Some(0));
    let refused = [
        ("min_idle", try_build::<H, B>(backend, spec(), |b| b.min_idle(1)).err()),
        ("idle_timeout", try_build::<H, B>(backend, spec(), |b| b.idle_timeout(second)).err()),
        ("max_lifetime", try_build::<H, B>(backend, spec(), |b| b.max_lifetime(second)).err()),
        ("keepalive", try_build::<H, B>(backend, spec(), |b| b.keepalive(second)).err()),
    ];
    for (setting, err) in refused {
        let err = err.unwrap_or_else(|| panic!("{setting} was accepted"));
        assert_eq!(err.setting(), setting);
        let shown = err.to_string();
        assert!(shown.contains("has no meaning for it") && shown.contains("leave"), "{shown}");
    }
    Ok(())
}
