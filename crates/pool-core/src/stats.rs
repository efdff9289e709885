//! Statistics: what a pool did since it was built ([`Pool::statistics`](crate::Pool::statistics)).
//!
//! Nothing here is touched on the idle hot path. A checkout that takes an idle
//! connection is counted by the strategy, under the lock it takes anyway
//! ([`Strategy::handed_out`](crate::Strategy::handed_out)); waits, timeouts, connects and
//! closes are counted here with atomics, on paths that already wait, connect or close.
//! The histograms sit behind a lock taken only on those paths.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::error::CheckoutError;

/// Why the pool closed a connection (the counts of [`Closes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCause {
    /// Returned when the pool keeps no more idle connections (a full QueuePool,
    /// NullPool, shrunk by `resize`, evicted by SingletonThreadPool's `pool_size`).
    Overflow,
    /// Invalidated: by its holder, after a disconnect found by a pre-ping, a listener or
    /// a keepalive, when a checkout or return was interrupted, or replaced at checkout
    /// because the pool was invalidated.
    Invalidated,
    /// Replaced at checkout after a soft invalidation.
    SoftInvalidated,
    /// Replaced at checkout for being older than `recycle`.
    Recycled,
    /// Idle longer than `idle_timeout`.
    IdleTimeout,
    /// Older than `max_lifetime`.
    MaxLifetime,
    /// The connector reported it broken when it came back.
    BrokenOnReturn,
    /// Its reset on return failed.
    ResetFailed,
    /// Closed by `dispose` or `recreate`.
    Disposed,
    /// Closed because the pool was closed or dropped.
    Closed,
    /// Rejected by a `retain` predicate.
    Pruned,
    /// A `connect` listener refused the new connection.
    Refused,
}

impl CloseCause {
    /// Every cause, in the order [`Closes`] shows them.
    pub const ALL: [CloseCause; 12] = [
        CloseCause::Overflow,
        CloseCause::Invalidated,
        CloseCause::SoftInvalidated,
        CloseCause::Recycled,
        CloseCause::IdleTimeout,
        CloseCause::MaxLifetime,
        CloseCause::BrokenOnReturn,
        CloseCause::ResetFailed,
        CloseCause::Disposed,
        CloseCause::Closed,
        CloseCause::Pruned,
        CloseCause::Refused,
    ];

    /// The cause's name in logs, the statistics' display and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            CloseCause::Overflow => "overflow",
            CloseCause::Invalidated => "invalidated",
            CloseCause::SoftInvalidated => "soft_invalidated",
            CloseCause::Recycled => "recycled",
            CloseCause::IdleTimeout => "idle_timeout",
            CloseCause::MaxLifetime => "max_lifetime",
            CloseCause::BrokenOnReturn => "broken_on_return",
            CloseCause::ResetFailed => "reset_failed",
            CloseCause::Disposed => "disposed",
            CloseCause::Closed => "closed",
            CloseCause::Pruned => "pruned",
            CloseCause::Refused => "refused",
        }
    }
}

impl fmt::Display for CloseCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Connections closed, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Closes([u64; CloseCause::ALL.len()]);

impl Closes {
    /// How many were closed for `cause`.
    pub fn get(&self, cause: CloseCause) -> u64 {
        self.0[cause as usize]
    }

    /// How many were closed in all.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Each cause with its count, in [`CloseCause::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (CloseCause, u64)> + '_ {
        CloseCause::ALL.into_iter().map(|cause| (cause, self.get(cause)))
    }
}

/// How a wait for a connection ended (reported by a strategy with
/// [`Core::note_wait`](crate::Core::note_wait)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitEnd {
    /// The strategy handed out a connection (one returned, or a new one in a freed slot).
    Entry,
    /// The wait reached its timeout.
    TimedOut,
    /// Anything else: the pool closed, the connect in a freed slot failed, or the caller
    /// gave up (its future was dropped).
    Failed,
}

impl WaitEnd {
    /// How a wait whose acquire ended with `got` is counted.
    pub fn of<T, E>(got: &Result<T, CheckoutError<E>>) -> WaitEnd {
        match got {
            Ok(_) => WaitEnd::Entry,
            Err(CheckoutError::Timeout(_)) => WaitEnd::TimedOut,
            Err(_) => WaitEnd::Failed,
        }
    }
}

/// What a pool did since it was built: [`Pool::statistics`](crate::Pool::statistics).
///
/// Counts are exact: each event is counted once, whatever the threads. Taken while
/// checkouts run, the counts are each read at a slightly different moment.
/// The histograms are in nanoseconds (`hdrhistogram`, two significant digits).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Statistics {
    /// Connections handed out to callers.
    pub checkouts: u64,
    /// Checkouts that waited for a connection to come back or a slot to free, whatever
    /// the outcome.
    pub waits: u64,
    /// Their total time waiting.
    pub wait_time: Duration,
    /// The longest of them.
    pub max_wait: Duration,
    /// Checkouts that failed because their wait reached its timeout.
    pub timeouts: u64,
    /// Connections opened (each attempt of a `connect_retry` counts once).
    pub connects: u64,
    /// Connects that failed or timed out.
    pub failed_connects: u64,
    /// Connections closed, by cause.
    pub closes: Closes,
    /// How long the strategy took to give each connection it handed out: zero when one
    /// was idle or the pool could open one, the wait otherwise (the connect is not in
    /// it; see `connect_time`).
    pub acquire_time: Histogram<u64>,
    /// How long each successful connect took.
    pub connect_time: Histogram<u64>,
    /// How long each checkout held its connection; recorded only with
    /// [`Builder::measure_hold_time`](crate::Builder::measure_hold_time) or
    /// `leak_threshold` on (it reads the clock at checkout and return), empty otherwise.
    pub hold_time: Histogram<u64>,
}

impl Statistics {
    /// The mean wait of the checkouts that waited (zero when none did).
    pub fn mean_wait(&self) -> Duration {
        match u32::try_from(self.waits) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.wait_time / n,
            Err(_) => Duration::from_secs_f64(self.wait_time.as_secs_f64() / self.waits as f64),
        }
    }
}

/// One line for a log: counts first, then the quantiles of the histograms that hold
/// samples, then the closes that happened.
///
/// ```text
/// 1204 checkouts, 17 waited (mean 1.2ms, max 8.0ms), 0 timeouts; 9 connects (0 failed, p50 2.1ms, p99 4.0ms); hold p50 0.8ms, p99 12ms; 3 closed (overflow 2, idle_timeout 1)
/// ```
impl fmt::Display for Statistics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} checkouts, {} waited", self.checkouts, self.waits)?;
        if self.waits > 0 {
            write!(f, " (mean {}, max {})", Short(self.mean_wait()), Short(self.max_wait))?;
        }
        write!(
            f,
            ", {} timeouts; {} connects ({} failed",
            self.timeouts, self.connects, self.failed_connects
        )?;
        if !self.connect_time.is_empty() {
            write!(f, ", {}", Quantiles(&self.connect_time))?;
        }
        f.write_str(")")?;
        if !self.hold_time.is_empty() {
            write!(f, "; hold {}", Quantiles(&self.hold_time))?;
        }
        write!(f, "; {} closed", self.closes.total())?;
        let mut causes = self.closes.iter().filter(|(_, n)| *n > 0).peekable();
        if causes.peek().is_some() {
            f.write_str(" (")?;
            for (i, (cause, n)) in causes.enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                write!(f, "{sep}{cause} {n}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A histogram's median and 99th percentile, short.
struct Quantiles<'a>(&'a Histogram<u64>);

impl fmt::Display for Quantiles<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |q| Short(Duration::from_nanos(self.0.value_at_quantile(q)));
        write!(f, "p50 {}, p99 {}", at(0.5), at(0.99))
    }
}

/// A duration with two or three digits and its unit (`850us`, `1.2ms`, `12ms`, `3.4s`).
struct Short(Duration);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos() as f64;
        let (value, unit) = if ns < 1e3 {
            (ns, "ns")
        } else if ns < 1e6 {
            (ns / 1e3, "us")
        } else if ns < 1e9 {
            (ns / 1e6, "ms")
        } else {
            (ns / 1e9, "s")
        };
        if value < 10.0 {
            write!(f, "{value:.1}{unit}")
        } else {
            write!(f, "{value:.0}{unit}")
        }
    }
}

/// The core's counters (everything but the strategy's count of hand-outs).
pub(crate) struct Counters {
    /// Entries the strategy handed out whose checkout then failed (an error, a panic or
    /// a dropped future): `checkouts` is the strategy's count less these.
    failed_after_acquire: AtomicU64,
    waits: AtomicU64,
    /// Waits that ended with an entry (their samples are in `acquire`).
    waits_with_entry: AtomicU64,
    wait_nanos: AtomicU64,
    max_wait_nanos: AtomicU64,
    timeouts: AtomicU64,
    connects: AtomicU64,
    failed_connects: AtomicU64,
    closes: [AtomicU64; CloseCause::ALL.len()],
    acquire: Mutex<Histogram<u64>>,
    connect: Mutex<Histogram<u64>>,
    hold: Mutex<Histogram<u64>>,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            failed_after_acquire: AtomicU64::new(0),
            waits: AtomicU64::new(0),
            waits_with_entry: AtomicU64::new(0),
            wait_nanos: AtomicU64::new(0),
            max_wait_nanos: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            failed_connects: AtomicU64::new(0),
            closes: Default::default(),
            acquire: Mutex::new(histogram()),
            connect: Mutex::new(histogram()),
            hold: Mutex::new(histogram()),
        }
    }

    pub(crate) fn failed_after_acquire(&self) {
        self.failed_after_acquire.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn wait(&self, waited: Duration, end: WaitEnd) {
        let nanos = nanos(waited);
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.wait_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.max_wait_nanos.fetch_max(nanos, Ordering::Relaxed);
        match end {
            WaitEnd::Entry => {
                record(&mut self.acquire.lock(), nanos);
                self.waits_with_entry.fetch_add(1, Ordering::Relaxed);
            }
            WaitEnd::TimedOut => {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
            }
            WaitEnd::Failed => {}
        }
    }

    pub(crate) fn connect(&self, started: Instant, ok: bool) {
        if !ok {
            return self.failed_connect();
        }
        self.connects.fetch_add(1, Ordering::Relaxed);
        record(&mut self.connect.lock(), nanos(started.elapsed()));
    }

    /// A connect attempt that failed (its time is not recorded).
    pub(crate) fn failed_connect(&self) {
        self.connects.fetch_add(1, Ordering::Relaxed);
        self.failed_connects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn close(&self, cause: CloseCause) {
        self.closes[cause as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn hold(&self, held: Duration) {
        record(&mut self.hold.lock(), nanos(held));
    }

    /// The statistics, given the strategy's count of hand-outs (read after the core's
    /// counters, so that no failure is counted without its hand-out).
    pub(crate) fn snapshot(&self, handed_out: impl FnOnce() -> u64) -> Statistics {
        let failed = self.failed_after_acquire.load(Ordering::Relaxed);
        let waits_with_entry = self.waits_with_entry.load(Ordering::Relaxed);
        let mut acquire_time = self.acquire.lock().clone();
        let handed_out = handed_out();
        acquire_time.saturating_record_n(0, handed_out.saturating_sub(waits_with_entry));
        let mut closes = Closes::default();
        for (count, n) in closes.0.iter_mut().zip(&self.closes) {
            *count = n.load(Ordering::Relaxed);
        }
        Statistics {
            checkouts: handed_out.saturating_sub(failed),
            waits: self.waits.load(Ordering::Relaxed),
            wait_time: Duration::from_nanos(self.wait_nanos.load(Ordering::Relaxed)),
            max_wait: Duration::from_nanos(self.max_wait_nanos.load(Ordering::Relaxed)),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            failed_connects: self.failed_connects.load(Ordering::Relaxed),
            closes,
            acquire_time,
            connect_time: self.connect.lock().clone(),
            hold_time: self.hold.lock().clone(),
        }
    }
}

impl fmt::Debug for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

/// An empty histogram of nanoseconds that grows to any value, at two significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new(2).expect("two significant digits is a valid precision")
}

/// Records `value`, growing the histogram to hold it (its `saturating_record` would
/// clamp to the range it has grown to so far).
fn record(histogram: &mut Histogram<u64>, value: u64) {
    if histogram.record(value).is_err() {
        histogram.saturating_record(value);
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
