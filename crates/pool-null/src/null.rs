//! The `Null` strategy: no pool at all, a new connection for every checkout.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use pool_core::rt::{ReturnRuntime, ReturnTask};
use pool_core::{AsyncStrategy, BuildError, CheckoutError, CloseCause, Connector, Core, PoolEntry};
use pool_core::{PoolStatus, Strategy};

/// The settings of a [`Null`] strategy: there are none.
///
/// NullPool takes only the settings every pool has (`pre_ping`, `recycle`,
/// `reset_on_return`, `logging_name`, `echo`, listeners), which live on the
/// [`Builder`](pool_core::Builder); this type exists so that it can be passed where a
/// strategy's settings are expected.
///
/// ```
/// use pool_null::NullConfig;
///
/// assert_eq!(NullConfig::default(), NullConfig);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NullConfig;

/// SQLAlchemy's `NullPool` as a [`Strategy`]: every checkout opens a new connection,
/// every return closes it (after the reset), and nothing is kept in between.
///
/// Use it through the [`NullPool`](crate::NullPool) alias.
///
/// ```
/// use pool_null::NullPool;
/// use pool_sqlite::SqliteConnector;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = NullPool::new(SqliteConnector::memory())?;
/// let conn = pool.get()?;
/// assert_eq!(pool.status().checked_out, 1);
/// drop(conn); // rolled back, then closed
/// assert_eq!(pool.status().checked_out, 0);
/// assert_eq!(pool.status_line(), "NullPool");
/// # Ok(())
/// # }
/// ```
///
/// # Differences from SQLAlchemy
///
/// - [`status()`](pool_core::Pool::status) counts the connections checked out and not yet
///   returned; SQLAlchemy's NullPool keeps no count at all. Every other count is zero,
///   and [`status_line()`](pool_core::Pool::status_line) is SQLAlchemy's `"NullPool"`.
///   A detached connection no longer counts: its record came back, empty.
///
/// Everything else is as in SQLAlchemy: `dispose()` does nothing (no connection is idle),
/// `recreate()` keeps every setting and listener, a fresh connection is never pinged, so
/// `pre_ping` has nothing to do, and an invalidated connection is closed once, by the
/// invalidation.
pub struct Null<C> {
    /// Entries handed out by `acquire` and not yet given back to `release`.
    checked_out: AtomicUsize,
    /// Entries handed out since the pool was built (each is a connect anyway).
    handed: AtomicU64,
    /// Set by `close`: every checkout fails (a return is closed anyway).
    closed: AtomicBool,
    /// Where async returns made outside a runtime run.
    runtime: ReturnRuntime,
    _connector: PhantomData<fn() -> C>,
}

impl<C> Null<C> {
    /// Connections checked out and not yet returned (the only count a NullPool has).
    pub fn checkedout(&self) -> usize {
        self.checked_out.load(Ordering::Acquire)
    }

    fn refuse_if_closed<E>(&self) -> Result<(), CheckoutError<E>> {
        match self.closed.load(Ordering::Acquire) {
            true => Err(CheckoutError::PoolClosed),
            false => Ok(()),
        }
    }
}

/// Uncounts one checked-out entry when dropped, so a panicking `close` listener cannot
/// leave the count too high.
struct Uncount<'a>(&'a AtomicUsize);

impl Drop for Uncount<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<C: Connector> Strategy<C> for Null<C> {
    type Config = NullConfig;

    const NAME: &'static str = "NullPool";

    fn build(_config: &NullConfig) -> Result<Self, BuildError> {
        Ok(Null {
            checked_out: AtomicUsize::new(0),
            handed: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            runtime: ReturnRuntime::new(),
            _connector: PhantomData,
        })
    }

    fn acquire(&self, core: &Core<C>) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        self.refuse_if_closed()?;
        let entry = core.new_entry()?;
        self.checked_out.fetch_add(1, Ordering::AcqRel);
        self.handed.fetch_add(1, Ordering::Relaxed);
        Ok(entry)
    }

    fn release(&self, core: &Core<C>, mut entry: PoolEntry<C>) {
        let _uncount = Uncount(&self.checked_out);
        // After an invalidation (or a detach) the entry comes back empty: nothing to close.
        core.close_entry(&mut entry, CloseCause::Overflow);
    }

    fn dispose(&self, _core: &Core<C>) {}

    /// Refuses every checkout from now on; nothing is idle, and each connection out is
    /// closed when it comes back, as always here.
    fn close(&self, _core: &Core<C>) {
        self.closed.store(true, Ordering::Release);
    }

    fn handed_out(&self) -> u64 {
        self.handed.load(Ordering::Relaxed)
    }

    fn status(&self) -> PoolStatus {
        PoolStatus::new(0, None, 0, 0, self.checkedout(), 0)
    }

    fn status_line(&self) -> String {
        String::from("NullPool")
    }
}

/// `get_async`: a new connection per checkout, opened with the connector's
/// `connect_async`; nothing to wait for.
impl<C: Connector> AsyncStrategy<C> for Null<C> {
    async fn acquire_async(&self, core: &Core<C>) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        self.runtime.note_current();
        self.refuse_if_closed()?;
        let entry = core.new_entry_async().await?;
        self.checked_out.fetch_add(1, Ordering::AcqRel);
        self.handed.fetch_add(1, Ordering::Relaxed);
        Ok(entry)
    }

    fn run_return(&self, task: ReturnTask) {
        self.runtime.run_return(task);
    }
}

impl<C> fmt::Debug for Null<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Null").field("checked_out", &self.checkedout()).finish()
    }
}
