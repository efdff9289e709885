//! A tiny fake bb8 manager, written beside the tests that use it (as r2d2's and bb8's own
//! tests do): `FakeManager` makes numbered connections that can be flagged broken or
//! invalid, and can be told to refuse connects.

use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use pool_bb8::bb8::ManageConnection;
use pool_bb8::Reset;
use pool_core::BoxError;

/// The cause inside a [`FakeError`], as a driver's server message would be.
#[derive(Debug)]
pub(crate) struct Cause(pub(crate) &'static str);

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Error for Cause {}

/// A fake manager's error: a kind in its message and the details in its source, as
/// `tokio_postgres::Error` is ("db error", then the server's words).
#[derive(Debug)]
pub(crate) struct FakeError {
    pub(crate) cause: Cause,
}

impl fmt::Display for FakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fake error")
    }
}

impl Error for FakeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.cause)
    }
}

/// A fake connection: numbered, flaggable, and counted while alive.
#[derive(Debug)]
pub(crate) struct FakeConn {
    pub(crate) id: u64,
    /// `has_broken` reports this.
    pub(crate) broken: bool,
    /// `is_valid` fails while this is set.
    pub(crate) invalid: bool,
    /// The resets run on it, in order ("rollback", "commit").
    pub(crate) resets: Vec<&'static str>,
    open: Arc<AtomicUsize>,
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Reset for FakeConn {
    async fn rollback(&mut self) -> Result<(), BoxError> {
        self.resets.push("rollback");
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), BoxError> {
        self.resets.push("commit");
        Ok(())
    }
}

/// A manager of [`FakeConn`]s.
#[derive(Debug, Default)]
pub(crate) struct FakeManager {
    next_id: AtomicU64,
    open: Arc<AtomicUsize>,
    refuse: AtomicBool,
    validations: AtomicUsize,
    broken_checks: AtomicUsize,
}

impl FakeManager {
    /// Connections opened and not yet dropped.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Connections opened so far.
    pub(crate) fn connects(&self) -> u64 {
        self.next_id.load(Ordering::SeqCst)
    }

    /// Calls of `is_valid` so far.
    pub(crate) fn validations(&self) -> usize {
        self.validations.load(Ordering::SeqCst)
    }

    /// Calls of `has_broken` so far.
    pub(crate) fn broken_checks(&self) -> usize {
        self.broken_checks.load(Ordering::SeqCst)
    }

    /// Makes every connect fail (or succeed again).
    pub(crate) fn refuse_connects(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::SeqCst);
    }
}

impl ManageConnection for FakeManager {
    type Connection = FakeConn;
    type Error = FakeError;

    async fn connect(&self) -> Result<FakeConn, FakeError> {
        // Yield once, as a real connect waits for the network.
        tokio::task::yield_now().await;
        if self.refuse.load(Ordering::SeqCst) {
            return Err(FakeError { cause: Cause("connection refused by the fake") });
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        self.open.fetch_add(1, Ordering::SeqCst);
        Ok(FakeConn {
            id,
            broken: false,
            invalid: false,
            resets: Vec::new(),
            open: Arc::clone(&self.open),
        })
    }

    async fn is_valid(&self, conn: &mut FakeConn) -> Result<(), FakeError> {
        self.validations.fetch_add(1, Ordering::SeqCst);
        if conn.invalid {
            return Err(FakeError { cause: Cause("the fake connection is gone") });
        }
        Ok(())
    }

    fn has_broken(&self, conn: &mut FakeConn) -> bool {
        self.broken_checks.fetch_add(1, Ordering::SeqCst);
        conn.broken
    }
}
