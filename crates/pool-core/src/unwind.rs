//! What the pool does about panics it did not cause: a listener's or a connector's.
//!
//! The rule everywhere: a panic reaches the caller, but only after the pool has finished
//! what it was doing (every connection it was closing is closed, every slot it held is
//! given back). And while a thread unwinds, the pool calls no listener: a second panic
//! there would abort the process.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// Runs `f` on every item, even when it panics on one; the first panic resumes after the
/// last item. For a loop that closes connections: one panicking `close` listener must
/// not leave the rest unclosed.
pub fn each_despite_panics<T>(items: impl IntoIterator<Item = T>, mut f: impl FnMut(T)) {
    let mut first = None;
    for item in items {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(item))) {
            first.get_or_insert(payload);
        }
    }
    if let Some(payload) = first {
        panic::resume_unwind(payload);
    }
}

/// Runs `f` (listeners), catching its panic for [`Heard::resume`] to raise once the
/// pool has finished what it was doing.
pub(crate) fn listen(f: impl FnOnce()) -> Heard {
    Heard(panic::catch_unwind(AssertUnwindSafe(f)).err())
}

/// What [`listen`] caught, if anything.
#[must_use = "a caught panic must be resumed"]
pub(crate) struct Heard(Option<Box<dyn Any + Send>>);

impl Heard {
    /// Resumes the caught panic, if there was one.
    pub(crate) fn resume(self) {
        if let Some(payload) = self.0 {
            panic::resume_unwind(payload);
        }
    }
}
