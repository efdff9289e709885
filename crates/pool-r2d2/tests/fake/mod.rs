//! Tiny fake r2d2 managers, written beside the tests that use them (as r2d2's own tests
//! do): `FakeManager` makes connections that can be flagged broken or invalid and can be
//! told to refuse connects.

use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use pool_conformance::Identified;
use pool_r2d2::r2d2::ManageConnection;
use pool_r2d2::Reset;

/// A fake manager's error; `gone` marks the errors a test classifies as disconnects.
#[derive(Debug)]
pub(crate) struct FakeError {
    pub(crate) gone: bool,
}

impl fmt::Display for FakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.gone { "fake connection gone" } else { "fake failure" })
    }
}

impl Error for FakeError {}

/// A fake connection: numbered, flaggable, and counted while alive.
#[derive(Debug)]
pub(crate) struct FakeConn {
    pub(crate) id: u64,
    /// `has_broken` reports this.
    pub(crate) broken: bool,
    /// `is_valid` fails while this is set, with a `gone` error if it is `Some(true)`.
    pub(crate) invalid: Option<bool>,
    /// The resets run on it, in order ("rollback", "commit").
    pub(crate) resets: Vec<&'static str>,
    open: Arc<AtomicUsize>,
}

impl Drop for FakeConn {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Identified for FakeConn {
    fn conn_id(&self) -> u64 {
        self.id
    }
}

impl Reset for FakeConn {
    type Error = FakeError;

    fn rollback(&mut self) -> Result<(), FakeError> {
        self.resets.push("rollback");
        Ok(())
    }

    fn commit(&mut self) -> Result<(), FakeError> {
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

    fn connect(&self) -> Result<FakeConn, FakeError> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(FakeError { gone: true });
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        self.open.fetch_add(1, Ordering::SeqCst);
        Ok(FakeConn {
            id,
            broken: false,
            invalid: None,
            resets: Vec::new(),
            open: Arc::clone(&self.open),
        })
    }

    fn is_valid(&self, conn: &mut FakeConn) -> Result<(), FakeError> {
        self.validations.fetch_add(1, Ordering::SeqCst);
        match conn.invalid {
            Some(gone) => Err(FakeError { gone }),
            None => Ok(()),
        }
    }

    fn has_broken(&self, conn: &mut FakeConn) -> bool {
        self.broken_checks.fetch_add(1, Ordering::SeqCst);
        conn.broken
    }
}
