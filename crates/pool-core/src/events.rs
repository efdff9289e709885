//! Pool events: the [`PoolListener`] trait and the ordered list a pool keeps.

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::error::ListenerError;
use crate::record::ConnectionRecord;
use crate::Connector;

/// Why a connection is being reset on return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ResetState {
    /// The holder said it had already ended its transaction, so a rollback is skipped
    /// (a commit in commit mode still runs, as in SQLAlchemy).
    pub transaction_was_reset: bool,
}

/// Receives the pool's events (SQLAlchemy's `PoolEvents`).
///
/// Every method has a default that does nothing, so a listener implements only what it
/// needs. Listeners run in registration order ([`Pool::listen`](crate::Pool::listen)),
/// with [`Pool::listen_first`](crate::Pool::listen_first) putting one in front, and are
/// carried over to a [recreated](crate::Pool::recreate) pool.
///
/// Listeners run on the thread that triggers the event, while the connection is out of
/// the pool's hands; they may block, but a slow listener slows that caller.
///
/// A listener that panics has its panic reach the caller (the code that checked out,
/// returned, detached or disposed), after the pool has finished what it was doing: the
/// connection it concerned is closed, once, and its slot is free. No listener runs
/// while a thread unwinds from a panic: a connection dropped then (its holder panicked)
/// is closed abruptly, without its reset or any event, since its state is unknown and a
/// second panic would abort the process.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use pool_core::{Connector, ConnectionRecord, ListenerError, PoolListener};
///
/// #[derive(Debug, Default)]
/// struct CountConnects(AtomicUsize);
///
/// impl<C: Connector> PoolListener<C> for CountConnects {
///     fn connect(
///         &self,
///         _conn: &mut C::Connection,
///         _record: &mut ConnectionRecord<C>,
///     ) -> Result<(), ListenerError> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Ok(())
///     }
/// }
/// ```
#[allow(unused_variables)]
pub trait PoolListener<C: Connector>: Send + Sync + 'static {
    /// After the first connection of this pool was opened, before its `connect` event.
    ///
    /// Runs once per pool; concurrent first connects wait for it. If it fails, the
    /// connection is refused and the next connect runs it again.
    fn first_connect(
        &self,
        conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        Ok(())
    }

    /// After every new connection (first, replacement, recycle), before it is used.
    ///
    /// An error refuses the connection: it is closed and the checkout fails.
    fn connect(
        &self,
        conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        Ok(())
    }

    /// When a connection is handed out, after pre-ping.
    ///
    /// [`ListenerError::disconnect`] replaces the connection and retries (two passes in
    /// all, as SQLAlchemy's code does); [`ListenerError::invalidate_pool`] also
    /// invalidates every older connection. Any other error invalidates the connection,
    /// returns its slot and fails the checkout.
    fn checkout(
        &self,
        conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        Ok(())
    }

    /// When a record comes back to the pool, after reset and finalizers; `conn` is `None`
    /// when the connection was invalidated. Not for detached connections.
    fn checkin(&self, conn: Option<&mut C::Connection>, record: &mut ConnectionRecord<C>) {}

    /// Before the pool resets a returned connection; `record` is `None` for a detached
    /// connection. Fires whatever `reset_on_return` says, so it can implement a custom
    /// reset; an error invalidates the connection.
    fn reset(
        &self,
        conn: &mut C::Connection,
        record: Option<&mut ConnectionRecord<C>>,
        state: ResetState,
    ) -> Result<(), ListenerError> {
        Ok(())
    }

    /// Before a connection is hard-invalidated and closed.
    fn invalidate(
        &self,
        conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
        reason: Option<&(dyn StdError + 'static)>,
    ) {
    }

    /// When a connection is soft-invalidated (it is replaced at its next checkout).
    fn soft_invalidate(
        &self,
        conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
        reason: Option<&(dyn StdError + 'static)>,
    ) {
    }

    /// Before the pool closes one of its connections (dispose, overflow return,
    /// invalidation, recycle).
    fn close(&self, conn: &mut C::Connection, record: &mut ConnectionRecord<C>) {}

    /// Before a detached connection is closed, when its holder lets go of it.
    fn close_detached(&self, conn: &mut C::Connection) {}

    /// After a connection was detached from its record.
    fn detach(&self, conn: &mut C::Connection, record: &mut ConnectionRecord<C>) {}
}

type ListenerList<C> = Arc<[Arc<dyn PoolListener<C>>]>;

/// The ordered listeners of one pool.
pub(crate) struct Events<C: Connector> {
    list: RwLock<ListenerList<C>>,
    any: AtomicBool,
    first_connect_done: AtomicBool,
    first_connect_lock: Mutex<()>,
}

impl<C: Connector> Events<C> {
    pub(crate) fn new(initial: Vec<Arc<dyn PoolListener<C>>>) -> Self {
        let any = !initial.is_empty();
        Events {
            list: RwLock::new(initial.into()),
            any: AtomicBool::new(any),
            first_connect_done: AtomicBool::new(false),
            first_connect_lock: Mutex::new(()),
        }
    }

    /// Whether any listener is registered: one atomic load, the only cost of events
    /// when there are none.
    #[inline]
    pub(crate) fn any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// A snapshot of the listeners, in order.
    pub(crate) fn snapshot(&self) -> ListenerList<C> {
        self.list.read().clone()
    }

    pub(crate) fn add(&self, listener: Arc<dyn PoolListener<C>>, first: bool) {
        let mut list = self.list.write();
        let mut next: Vec<_> = list.iter().cloned().collect();
        if first {
            next.insert(0, listener);
        } else {
            next.push(listener);
        }
        *list = next.into();
        self.any.store(true, Ordering::Release);
    }

    /// Runs `first_connect` (once per pool) and `connect` for a new connection.
    ///
    /// Until `first_connect` has succeeded once, connects run it and their `connect`
    /// listeners under one lock, so concurrent first connects wait for it.
    pub(crate) fn on_new_connection(
        &self,
        conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        let listeners = self.snapshot();
        if !self.first_connect_done.load(Ordering::Acquire) {
            let _serial = self.first_connect_lock.lock();
            if !self.first_connect_done.load(Ordering::Acquire) {
                for l in listeners.iter() {
                    l.first_connect(conn, record)?;
                }
                self.first_connect_done.store(true, Ordering::Release);
                return listeners.iter().try_for_each(|l| l.connect(conn, record));
            }
        }
        listeners.iter().try_for_each(|l| l.connect(conn, record))
    }
}

impl<C: Connector> fmt::Debug for Events<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events").field("listeners", &self.list.read().len()).finish()
    }
}
