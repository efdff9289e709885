//! Statistics (issue 13, part 1): `Pool::statistics` counts checkouts, waits, timeouts,
//! connects and closes by cause, on every strategy, sync and async; the storm in
//! `concurrency` checks the counts against its own tally under contention.

use std::thread;
use std::time::Duration;

use pool_core::{CloseCause, PooledConnection};

use super::queue::expect_timeout;
use super::waiting::held_elsewhere;
use super::{needs_bounded_wait, needs_reuse};
use crate::{build, pool, Backend, Harness, Outcome, Spec};

// HikariCP's and Go's `database/sql` pool statistics: connections handed out, opened and
// closed, each close under its cause.
/// `statistics` counts checkouts, connects and closes by cause.
pub fn statistics_count_checkouts_connects_and_closes<H: Harness, B: Backend>(
    backend: &B,
) -> Outcome {
    let p = pool::<H, B>(backend, Spec::sized(2, Some(0)));
    let fresh = p.statistics();
    assert_eq!((fresh.checkouts, fresh.connects, fresh.closes.total()), (0, 0, 0), "{fresh}");
    for _ in 0..3 {
        drop(H::get(&p).expect("checkout"));
    }
    let reuse = H::caps().reuses_connections;
    let s = p.statistics();
    assert_eq!(s.checkouts, 3, "{s}");
    assert_eq!(s.connects, if reuse { 1 } else { 3 }, "{s}");
    assert_eq!(s.failed_connects, 0, "{s}");
    // A pool that keeps nothing closes each return.
    assert_eq!(s.closes.get(CloseCause::Overflow), if reuse { 0 } else { 3 }, "{s}");
    assert_eq!(s.connect_time.len(), s.connects, "one sample a connect");
    assert_eq!((s.acquire_time.len(), s.acquire_time.max()), (3, 0), "none waited");
    assert_eq!((s.waits, s.timeouts), (0, 0), "{s}");
    assert!(s.hold_time.is_empty(), "hold times only when measured");

    let c = H::get(&p).expect("checkout");
    PooledConnection::invalidate(c, None);
    assert_eq!(p.statistics().closes.get(CloseCause::Invalidated), 1);
    if !reuse {
        return Ok(());
    }
    let mut c = H::get(&p).expect("checkout");
    PooledConnection::soft_invalidate(&mut c, None);
    drop(c);
    drop(H::get(&p).expect("a checkout that replaces the soft-invalidated connection"));
    assert_eq!(p.statistics().closes.get(CloseCause::SoftInvalidated), 1);
    p.dispose();
    assert_eq!(p.statistics().closes.get(CloseCause::Disposed), 1, "the idle connection");
    drop(H::get(&p).expect("checkout"));
    p.close().expect("nothing is out");
    let s = p.statistics();
    assert_eq!(s.closes.get(CloseCause::Closed), 1, "{s}");
    assert_eq!(s.closes.total(), 4, "{s}");
    assert_eq!(s.checkouts, 7, "{s}");
    Ok(())
}

// HikariCP's `connectionTimeout` count and Go's `WaitCount`/`WaitDuration`.
/// `statistics` counts waits, their time and the timeouts.
pub fn statistics_count_waits_and_timeouts<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_bounded_wait::<H>()?;
    let bound = Duration::from_millis(50);
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(Some(PROMPT)));
    held_elsewhere::<H, B>(&p, || {
        expect_timeout(H::get_within(&p, bound));
    });
    let s = p.statistics();
    assert_eq!((s.waits, s.timeouts, s.checkouts), (1, 1, 1), "{s}");
    assert!(s.max_wait >= bound && s.wait_time >= bound, "{s}");

    // A wait that gets the connection back.
    let (taken, go) = std::sync::mpsc::channel();
    thread::scope(|s| {
        s.spawn(|| {
            let c = H::get(&p).expect("the holder's checkout");
            taken.send(()).expect("the waiter listens");
            thread::sleep(Duration::from_millis(60));
            drop(c);
        });
        go.recv().expect("the holder checked out");
        drop(H::get(&p).expect("the returned connection"));
    });
    let s = p.statistics();
    assert_eq!((s.waits, s.timeouts, s.checkouts), (2, 1, 3), "{s}");
    // Three connections handed out; the one that waited has a sample of its wait.
    assert_eq!(s.acquire_time.len(), 3, "{s}");
    assert!(s.acquire_time.max() >= Duration::from_millis(10).as_nanos() as u64, "{s}");
    assert!(s.mean_wait() > Duration::ZERO, "{s}");
    Ok(())
}

// HikariCP's usage timer and OpenTelemetry's `db.client.connection.use_time`.
/// `measure_hold_time` records how long each checkout held its connection.
pub fn statistics_time_holds<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let p = build::<H, B>(backend, Spec::sized(2, Some(0)), |b| b.measure_hold_time(true));
    let c = H::get(&p).expect("checkout");
    thread::sleep(Duration::from_millis(30));
    drop(c);
    drop(H::get(&p).expect("checkout"));
    let s = p.statistics();
    assert_eq!(s.hold_time.len(), 2, "{s}");
    assert!(s.hold_time.max() >= Duration::from_millis(29).as_nanos() as u64, "{s}");
    Ok(())
}

// Go's `database/sql` counts only the connections it handed out; a checkout that failed
// is not one.
/// A failed connect or pre-ping counts as a failed connect, not as a checkout.
pub fn statistics_skip_failed_checkouts<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let script = backend.script()?;
    let p = build::<H, B>(backend, Spec::sized(2, Some(0)), |b| b.pre_ping(true));
    script.fail_connects(1);
    assert!(H::get(&p).is_err(), "the scripted connect failure");
    drop(H::get(&p).expect("checkout"));
    script.fail_pings(1, false);
    assert!(H::get(&p).is_err(), "the scripted ping failure (not a disconnect)");
    let s = p.statistics();
    assert_eq!((s.checkouts, s.connects, s.failed_connects), (1, 2, 1), "{s}");
    assert_eq!(s.closes.get(CloseCause::Invalidated), 1, "the connection whose ping failed");
    Ok(())
}

/// Far above any scheduling delay: the pool's own timeout in these checks.
const PROMPT: Duration = Duration::from_secs(10);
