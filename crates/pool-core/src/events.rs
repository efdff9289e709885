//! Pool events: the [`PoolListener`] trait and the ordered list a pool keeps.

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::error::ListenerError;
use crate::record::ConnectionRecord;
use crate::Connector;

/// Why a connection is being reset, as the `reset` event receives it (SQLAlchemy 2.0's
/// `PoolResetState`).
///
/// [`Default`] is the state of an ordinary return: a connection coming back to the pool,
/// whose reset may do I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResetState {
    /// The holder said it had already ended its transaction, so a rollback is skipped
    /// (a commit in commit mode still runs, as in SQLAlchemy).
    pub transaction_was_reset: bool,
    /// The connection is being closed, not returned to the pool: a
    /// [detached](crate::PooledConnection::detach) connection whose holder let go of it,
    /// or an async return whose runtime is gone (see `asyncio_safe`). The reset still
    /// runs (when `asyncio_safe`), so a listener that prepares a connection for reuse
    /// can skip its work here.
    pub terminate_only: bool,
    /// The reset may do I/O. Always true for a connection checked out with
    /// [`Pool::get`](crate::Pool::get). False only for a connection checked out with
    /// [`Pool::get_async`](crate::Pool::get_async) over a connector with its own async
    /// I/O ([`Connector::ASYNC_IO`]) whose return cannot run on its runtime, because
    /// that runtime has shut down (a connection dropped after the
    /// `#[tokio::main]` or `#[tokio::test]` that checked it out ended): the `reset`
    /// listeners still fire, but the pool skips its rollback or commit, detaches the
    /// connection, fires `close_detached` and terminates it, as SQLAlchemy does for an
    /// asyncio connection the garbage collector finds.
    pub asyncio_safe: bool,
}

impl Default for ResetState {
    fn default() -> Self {
        ResetState { transaction_was_reset: false, terminate_only: false, asyncio_safe: true }
    }
}

/// Where the error given to [`PoolListener::handle_error`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorOrigin {
    /// A pre-ping at checkout ([`Builder::pre_ping`](crate::Builder::pre_ping))
    /// failed or timed out.
    PrePing,
    /// A keepalive ping of an idle connection
    /// ([`Builder::keepalive`](crate::Builder::keepalive)) failed or timed out.
    Keepalive,
    /// A `checkout` listener refused the connection.
    CheckoutListener,
    /// The application handed an error to
    /// [`PooledConnection::handle_error`](crate::PooledConnection::handle_error).
    Holder,
    /// Opening a connection failed. The verdict matters only under
    /// [`Builder::connect_retry`](crate::Builder::connect_retry): a disconnect is retried,
    /// anything else fails at once.
    Connect,
}

/// An error the pool is deciding about, as [`PoolListener::handle_error`] sees it
/// (SQLAlchemy's `ExceptionContext`).
///
/// It arrives with the pool's own verdict: [`is_disconnect`](Self::is_disconnect) from
/// [`Connector::is_disconnect`] (for a listener's error, from the kind of
/// [`ListenerError`]), and [`invalidate_pool_on_disconnect`](Self::invalidate_pool_on_disconnect)
/// true, except for a [`ListenerError::disconnect`] (which asks to replace only its own
/// connection) and a failed connect (nothing to invalidate). Each listener may change both; the next one sees the change, and the pool
/// acts on what the last one left.
///
/// What the verdict does, by [`origin`](Self::origin):
///
/// | origin | a disconnect | anything else |
/// |---|---|---|
/// | `PrePing`, `CheckoutListener` | the connection is replaced and the checkout tried again (two passes in all); the pool is invalidated if asked | the connection is invalidated and the checkout fails |
/// | `Keepalive` | the connection is closed; the pool is invalidated if asked | the connection is closed |
/// | `Holder` | the connection is invalidated and `handle_error` returns `None`; the pool is invalidated if asked | the holder keeps the connection |
/// | `Connect` | retried under `connect_retry` | the connect fails at once |
#[derive(Debug)]
pub struct ErrorContext<'a> {
    error: &'a (dyn StdError + 'static),
    origin: ErrorOrigin,
    is_disconnect: bool,
    invalidate_pool_on_disconnect: bool,
}

impl<'a> ErrorContext<'a> {
    pub(crate) fn new(
        error: &'a (dyn StdError + 'static),
        origin: ErrorOrigin,
        is_disconnect: bool,
        invalidate_pool_on_disconnect: bool,
    ) -> Self {
        ErrorContext { error, origin, is_disconnect, invalidate_pool_on_disconnect }
    }

    /// The error: the driver's (downcast it to the connector's error type), a
    /// [`ListenerError`], an [`OperationTimeout`](crate::OperationTimeout), or whatever
    /// the holder passed.
    pub fn error(&self) -> &'a (dyn StdError + 'static) {
        self.error
    }

    /// Where the error came from.
    pub fn origin(&self) -> ErrorOrigin {
        self.origin
    }

    /// Whether a ping raised it: a pre-ping at checkout or a keepalive (SQLAlchemy's
    /// `is_pre_ping`).
    pub fn is_pre_ping(&self) -> bool {
        matches!(self.origin, ErrorOrigin::PrePing | ErrorOrigin::Keepalive)
    }

    /// Whether the error means the connection is gone, as decided so far.
    pub fn is_disconnect(&self) -> bool {
        self.is_disconnect
    }

    /// Decides whether the error means the connection is gone.
    pub fn set_disconnect(&mut self, is_disconnect: bool) {
        self.is_disconnect = is_disconnect;
    }

    /// Whether a disconnect also invalidates every connection opened before this one,
    /// as decided so far.
    pub fn invalidate_pool_on_disconnect(&self) -> bool {
        self.invalidate_pool_on_disconnect
    }

    /// Decides whether a disconnect also invalidates every connection opened before this
    /// one (false: only this connection is replaced). No effect on a connect error.
    pub fn set_invalidate_pool_on_disconnect(&mut self, invalidate: bool) {
        self.invalidate_pool_on_disconnect = invalidate;
    }
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

    /// When the pool decides whether an error means a disconnect (SQLAlchemy's
    /// `handle_error`): a failed pre-ping or keepalive ping, a `checkout` listener's
    /// error, a failed connect, or an error the application passed to
    /// [`PooledConnection::handle_error`](crate::PooledConnection::handle_error).
    ///
    /// Runs before the pool acts on the error, in registration order; each listener sees
    /// the verdict the previous ones left and may change it. This is how an application
    /// says "this error means the server is gone" (or that it does not) without writing
    /// a connector, for example over the r2d2, deadpool and bb8 adapters.
    ///
    /// ```
    /// use pool_core::{Connector, ErrorContext, PoolListener};
    ///
    /// /// Counts "server closed the connection" in any error's message as a disconnect.
    /// #[derive(Debug)]
    /// struct ServerClosed;
    ///
    /// impl<C: Connector> PoolListener<C> for ServerClosed {
    ///     fn handle_error(&self, ctx: &mut ErrorContext<'_>) {
    ///         if ctx.error().to_string().contains("server closed the connection") {
    ///             ctx.set_disconnect(true);
    ///         }
    ///     }
    /// }
    /// ```
    fn handle_error(&self, ctx: &mut ErrorContext<'_>) {}

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

    /// The verdict on an error: whether it is a disconnect, and whether that
    /// invalidates the pool, after every `handle_error` listener had its say.
    pub(crate) fn classify(&self, ctx: &mut ErrorContext<'_>) {
        if self.any() {
            for l in self.snapshot().iter() {
                l.handle_error(ctx);
            }
        }
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
