//! Leak detection: connections held longer than `leak_threshold`, reported once with the
//! backtrace of their checkout, and again when they come back.
//!
//! A pool with [`Builder::leak_threshold`](crate::Builder::leak_threshold) set, or whose
//! strategy asks for it ([`Strategy::traces_checkouts`](crate::Strategy::traces_checkouts):
//! AssertionPool shows where the connection was taken), has [`Leases`]: a checkout
//! records its time and backtrace, a return removes it, and with a threshold the
//! maintenance worker reports those past it.

use std::backtrace::Backtrace;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The checked-out connections of a pool that detects leaks.
pub(crate) struct Leases {
    /// `None`: the leases are kept for their backtraces only, never reported.
    threshold: Option<Duration>,
    held: Mutex<HashMap<u64, Lease>>,
}

struct Lease {
    since: Instant,
    backtrace: Arc<Backtrace>,
    reported: bool,
}

/// A connection held longer than the pool's `leak_threshold` ([`Pool::leaks`](crate::Pool::leaks)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Leak {
    /// The record id of the connection, as the logs show it.
    pub record: u64,
    /// How long it has been checked out.
    pub held: Duration,
    /// Where it was checked out.
    pub backtrace: Arc<Backtrace>,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connection {} checked out {:.1} s ago and not returned; checked out at:\n{}",
            self.record,
            self.held.as_secs_f64(),
            self.backtrace
        )
    }
}

impl Leases {
    pub(crate) fn new(threshold: Option<Duration>) -> Self {
        Leases { threshold, held: Mutex::new(HashMap::new()) }
    }

    /// A checkout of `record`: remember when, and from where.
    #[cold]
    pub(crate) fn begin(&self, record: u64) {
        let lease = Lease {
            since: Instant::now(),
            backtrace: Arc::new(Backtrace::force_capture()),
            reported: false,
        };
        self.held.lock().insert(record, lease);
    }

    /// The return (or detach) of `record`; one reported as a leak is reported returned.
    #[cold]
    pub(crate) fn end(&self, record: u64, pool: &str) {
        let Some(lease) = self.held.lock().remove(&record) else { return };
        if lease.reported {
            tracing::info!(
                pool,
                "Connection {record} reported as leaked was returned after {:.1} s",
                lease.since.elapsed().as_secs_f64()
            );
        }
    }

    /// Where `record`, checked out now, was checked out.
    pub(crate) fn backtrace_of(&self, record: u64) -> Option<Arc<Backtrace>> {
        self.held.lock().get(&record).map(|lease| Arc::clone(&lease.backtrace))
    }

    /// Reports each lease past the threshold once; returns when the next one will be.
    pub(crate) fn scan(&self, pool: &str) -> Option<Instant> {
        let threshold = self.threshold?;
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut held = self.held.lock();
        for (record, lease) in held.iter_mut() {
            // Past the clock's range: never due.
            let Some(due) = lease.since.checked_add(threshold) else { continue };
            if lease.reported {
                continue;
            }
            if due <= now {
                lease.reported = true;
                let leak = Leak {
                    record: *record,
                    held: now - lease.since,
                    backtrace: Arc::clone(&lease.backtrace),
                };
                tracing::warn!(pool, "Possible connection leak: {leak}");
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        next
    }

    /// The connections held longer than the threshold now.
    pub(crate) fn leaks(&self) -> Vec<Leak> {
        let Some(threshold) = self.threshold else { return Vec::new() };
        let now = Instant::now();
        let mut leaks: Vec<Leak> = self
            .held
            .lock()
            .iter()
            .filter(|(_, lease)| now.duration_since(lease.since) >= threshold)
            .map(|(record, lease)| Leak {
                record: *record,
                held: now - lease.since,
                backtrace: Arc::clone(&lease.backtrace),
            })
            .collect();
        leaks.sort_by_key(|l| std::cmp::Reverse(l.held));
        leaks
    }
}
