//! The [`Connector`] trait: how a pool opens, resets, checks and closes connections.

use std::error::Error as StdError;
use std::future::{self, Future};
use std::time::Duration;

use crate::OperationTimeout;

/// Opens, resets, pings and closes connections for a pool.
///
/// A connector is SQLAlchemy's `creator` and the part of its dialect the pool uses, in one
/// trait. The pool calls it; applications rarely do.
///
/// Only [`connect`](Connector::connect), [`rollback`](Connector::rollback) and
/// [`commit`](Connector::commit) are required. The others have defaults that suit a
/// connection type which closes itself on drop and cannot ping.
///
/// # Example
///
/// ```
/// use pool_core::Connector;
///
/// #[derive(Debug)]
/// struct Counter;
///
/// impl Connector for Counter {
///     type Connection = u32;
///     type Error = std::io::Error;
///
///     fn connect(&self) -> Result<u32, std::io::Error> {
///         Ok(7)
///     }
///     fn rollback(&self, _conn: &mut u32) -> Result<(), std::io::Error> {
///         Ok(())
///     }
///     fn commit(&self, _conn: &mut u32) -> Result<(), std::io::Error> {
///         Ok(())
///     }
/// }
/// assert_eq!(Counter.connect().unwrap(), 7);
/// ```
pub trait Connector: Send + Sync + 'static {
    /// The connection type the pool hands out.
    type Connection: Send + 'static;
    /// The error every operation of this connector returns.
    type Error: StdError + Send + Sync + 'static;

    /// Opens a new connection.
    fn connect(&self) -> Result<Self::Connection, Self::Error>;

    /// Rolls back whatever transaction is open; used by reset on return.
    fn rollback(&self, conn: &mut Self::Connection) -> Result<(), Self::Error>;

    /// Commits whatever transaction is open; used by reset on return in commit mode.
    fn commit(&self, conn: &mut Self::Connection) -> Result<(), Self::Error>;

    /// Checks that the connection still works, with the cheapest round trip the backend has.
    ///
    /// Returns `None` when this connector cannot ping, which is the default: a pool built
    /// with `pre_ping` then fails the checkout of a pooled connection with
    /// [`CheckoutError::PingUnsupported`](crate::CheckoutError::PingUnsupported).
    ///
    /// An error for which [`is_disconnect`](Connector::is_disconnect) is true means the
    /// connection is gone: the pool invalidates it and every connection opened before it,
    /// and connects again. Any other error fails the checkout.
    fn ping(&self, conn: &mut Self::Connection) -> Option<Result<(), Self::Error>> {
        let _ = conn;
        None
    }

    /// Closes a connection the pool no longer keeps (dispose, overflow return).
    ///
    /// The default drops it.
    fn close(&self, conn: Self::Connection) -> Result<(), Self::Error> {
        drop(conn);
        Ok(())
    }

    /// Closes a connection that is known or suspected to be broken (invalidation, recycle).
    ///
    /// The default calls [`close`](Connector::close). Backends whose graceful close can
    /// block on a dead peer override this with an abrupt close.
    fn terminate(&self, conn: Self::Connection) -> Result<(), Self::Error> {
        self.close(conn)
    }

    /// Whether a returned connection is known to be unusable without a round trip (a
    /// closed socket, a poisoned state); such a connection is invalidated on return
    /// instead of being reset and pooled (r2d2's `has_broken`).
    ///
    /// The default says no. It must be cheap: it runs at every return.
    fn is_broken(&self, conn: &mut Self::Connection) -> bool {
        let _ = conn;
        false
    }

    /// Whether an error means the connection (and probably the server) is gone.
    ///
    /// The default says no to everything.
    fn is_disconnect(&self, error: &Self::Error) -> bool {
        let _ = error;
        false
    }

    /// [`ping`](Connector::ping) within `bound`: the blocking checkout's pre-ping under
    /// [`ping_timeout`](crate::Builder::ping_timeout).
    ///
    /// The default calls `ping` and cannot stop it. A connector whose driver can bound a
    /// call (a socket read timeout, a deadline on its future) overrides the three
    /// `_within` methods: past `bound` it gives up and returns
    /// `Err(OperationTimeout)` (see [`OperationTimeout::new`]), and the pool then fails
    /// the checkout with [`CheckoutError::OperationTimeout`](crate::CheckoutError::OperationTimeout)
    /// and terminates the connection, whatever state the abandoned call left it in.
    fn ping_within(
        &self,
        conn: &mut Self::Connection,
        bound: Duration,
    ) -> Result<Option<Result<(), Self::Error>>, OperationTimeout> {
        let _ = bound;
        Ok(self.ping(conn))
    }

    /// [`rollback`](Connector::rollback) within `bound`: a blocking return's reset under
    /// [`reset_timeout`](crate::Builder::reset_timeout); past it the pool terminates the
    /// connection instead of pooling it. The default calls `rollback` (see
    /// [`ping_within`](Connector::ping_within)).
    fn rollback_within(
        &self,
        conn: &mut Self::Connection,
        bound: Duration,
    ) -> Result<Result<(), Self::Error>, OperationTimeout> {
        let _ = bound;
        Ok(self.rollback(conn))
    }

    /// [`commit`](Connector::commit) within `bound`, likewise.
    fn commit_within(
        &self,
        conn: &mut Self::Connection,
        bound: Duration,
    ) -> Result<Result<(), Self::Error>, OperationTimeout> {
        let _ = bound;
        Ok(self.commit(conn))
    }

    /// Whether this connector stays in the process (an embedded database, a test double):
    /// its calls cannot hang on a peer, so the blocking front end runs its connect on the
    /// calling thread instead of a thread bounded by
    /// [`connect_timeout`](crate::Builder::connect_timeout).
    ///
    /// Leave it `false` (the default) for anything that talks to a server.
    const LOCAL: bool = false;

    /// Whether this connector's `_async` methods do their own asynchronous I/O.
    ///
    /// Leave it `false` (the default) when they are the defaults, the blocking calls: a
    /// connection checked out with [`Pool::get_async`](crate::Pool::get_async) is then
    /// returned by the blocking path at once, without a task. A connector that overrides
    /// the `_async` methods sets it to `true`, so that returns await them.
    const ASYNC_IO: bool = false;

    /// [`connect`](Connector::connect) for the asynchronous checkout
    /// ([`Pool::get_async`](crate::Pool::get_async)).
    ///
    /// The default calls `connect` and is ready at once: right for a connector whose
    /// calls are quick or in-process (SQLite, a test double). A connector over an async
    /// driver overrides the four `_async` methods so the pool never blocks a task on I/O,
    /// and sets [`ASYNC_IO`](Connector::ASYNC_IO).
    fn connect_async(&self) -> impl Future<Output = Result<Self::Connection, Self::Error>> + Send {
        future::ready(self.connect())
    }

    /// [`ping`](Connector::ping) for the asynchronous checkout; the default calls `ping`.
    fn ping_async(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Option<Result<(), Self::Error>>> + Send {
        future::ready(self.ping(conn))
    }

    /// [`rollback`](Connector::rollback) for the asynchronous return; the default calls
    /// `rollback`.
    fn rollback_async(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        future::ready(self.rollback(conn))
    }

    /// [`commit`](Connector::commit) for the asynchronous return; the default calls
    /// `commit`.
    fn commit_async(
        &self,
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        future::ready(self.commit(conn))
    }
}
