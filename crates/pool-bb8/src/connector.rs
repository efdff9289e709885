//! [`Bb8Connector`]: any bb8 [`ManageConnection`] as a pool-core [`Connector`].

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bb8::ManageConnection;
use pool_core::{BoxError, Connector, Operation, OperationTimeout};
use tokio::runtime::Handle;

use crate::error::Bb8Error;
use crate::reset::Reset;

/// A rollback (`false`) or a commit (`true`) of a manager's connection.
type ResetFn<C> = for<'a> fn(&'a mut C, bool) -> ResetFuture<'a>;

type ResetFuture<'a> = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>>;

/// Decides whether a manager's error means the connection is gone.
type Classifier<E> = dyn Fn(&E) -> bool + Send + Sync + 'static;

fn reset_with<C: Reset>(conn: &mut C, commit: bool) -> ResetFuture<'_> {
    if commit {
        Box::pin(conn.commit())
    } else {
        Box::pin(conn.rollback())
    }
}

/// A bb8 connection manager as a [`Connector`], so every pool strategy accepts it:
/// bb8-postgres's `PostgresConnectionManager`, bb8-redis's `RedisConnectionManager` or
/// your own, unchanged.
///
/// | `Connector` | bb8 [`ManageConnection`] |
/// |---|---|
/// | [`connect`](Connector::connect) | [`connect`](ManageConnection::connect) |
/// | [`ping`](Connector::ping) (pre-ping) | [`is_valid`](ManageConnection::is_valid): a failure is a disconnect, as bb8 drops such a connection |
/// | [`is_broken`](Connector::is_broken) (every return) | [`has_broken`](ManageConnection::has_broken): a broken connection is invalidated, not reset and pooled |
/// | [`rollback`](Connector::rollback), [`commit`](Connector::commit) | none: the connection's [`Reset`] ([`new`](Bb8Connector::new)), or nothing ([`without_reset`](Bb8Connector::without_reset)) |
/// | [`close`](Connector::close), [`terminate`](Connector::terminate) | none: the connection is dropped (inside the connector's runtime), as bb8 does |
/// | [`is_disconnect`](Connector::is_disconnect) | none: [`crate::is_disconnect`] for the error types this crate knows, or the classifier given to [`with_disconnect`](Bb8Connector::with_disconnect) |
///
/// The connection type is the manager's own, so code that uses the connections does not
/// change. The `_async` methods, which
/// [`Pool::get_async`](pool_core::Pool::get_async) uses, await the manager; the blocking ones, used by
/// [`Pool::get`](pool_core::Pool::get) and every blocking strategy, run the same futures
/// to their end on the calling thread, inside the tokio runtime the connector was made in
/// (or the one given to [`with_runtime`](Bb8Connector::with_runtime)).
///
/// # Example
///
/// ```
/// use pool_bb8::bb8_postgres::tokio_postgres::NoTls;
/// use pool_bb8::bb8_postgres::PostgresConnectionManager;
/// use pool_bb8::Bb8Connector;
///
/// let config = "host=127.0.0.1 user=postgres dbname=test".parse().unwrap();
/// let connector = Bb8Connector::new(PostgresConnectionManager::new(config, NoTls));
/// assert!(format!("{connector:?}").starts_with("Bb8Connector"));
/// ```
pub struct Bb8Connector<M: ManageConnection> {
    manager: M,
    reset: Option<ResetFn<M::Connection>>,
    disconnect: Option<Arc<Classifier<M::Error>>>,
    runtime: Option<Handle>,
}

impl<M: ManageConnection> Bb8Connector<M> {
    /// A connector over `manager` that resets returned connections with their [`Reset`]
    /// implementation (rollback by default, commit with `ResetOnReturn::Commit`).
    ///
    /// `tokio_postgres::Client` (bb8-postgres) implements [`Reset`] behind this crate's
    /// `postgres` feature. For a manager whose connections do not, use
    /// [`without_reset`](Bb8Connector::without_reset).
    ///
    /// Made inside a tokio runtime, the connector keeps a handle to it for its blocking
    /// calls from threads outside any runtime (see
    /// [`with_runtime`](Bb8Connector::with_runtime)).
    pub fn new(manager: M) -> Self
    where
        M::Connection: Reset,
    {
        Bb8Connector { reset: Some(reset_with::<M::Connection>), ..Self::without_reset(manager) }
    }

    /// A connector over any `manager`, whose rollback and commit do nothing.
    ///
    /// Returned connections are pooled as they are, as bb8 pools them. Build the pool
    /// with `.reset_on_return(ResetOnReturn::Nothing)` to say so, or end transactions in a
    /// `reset` listener ([`PoolListener::reset`](pool_core::PoolListener::reset)).
    /// bb8-redis's multiplexed connections have nothing to reset (a `MULTI` is sent whole,
    /// in one pipeline).
    pub fn without_reset(manager: M) -> Self {
        Bb8Connector { manager, reset: None, disconnect: None, runtime: Handle::try_current().ok() }
    }

    /// Counts the errors for which `is_disconnect` returns true as disconnects, instead of
    /// [`crate::is_disconnect`]'s rules: a connect error, an error of your own use of a
    /// connection given to
    /// [`PooledConnection::handle_error`](pool_core::PooledConnection::handle_error) (as
    /// [`Bb8Error::Query`]), a failed reset. A failed pre-ping (`is_valid`) is a
    /// disconnect whatever the classifier says. Calling this again replaces the previous
    /// classifier.
    ///
    /// ```
    /// use pool_bb8::bb8_postgres::tokio_postgres::NoTls;
    /// use pool_bb8::bb8_postgres::PostgresConnectionManager;
    /// use pool_bb8::{Bb8Connector, Bb8Error};
    /// use pool_core::Connector;
    ///
    /// let config = "host=127.0.0.1 user=postgres".parse().unwrap();
    /// let connector = Bb8Connector::new(PostgresConnectionManager::new(config, NoTls))
    ///     .with_disconnect(|e| e.is_closed());
    /// let not_closed = "port=x".parse::<pool_bb8::bb8_postgres::tokio_postgres::Config>();
    /// assert!(!connector.is_disconnect(&Bb8Error::Query(not_closed.unwrap_err())));
    /// ```
    #[must_use]
    pub fn with_disconnect<F>(mut self, is_disconnect: F) -> Self
    where
        F: Fn(&M::Error) -> bool + Send + Sync + 'static,
    {
        self.disconnect = Some(Arc::new(is_disconnect));
        self
    }

    /// Runs the blocking calls' futures inside this runtime when they are made on a
    /// thread outside any runtime, and drops closed connections inside it (managers like
    /// bb8-postgres's spawn a task per connection). Without it, the runtime current when
    /// the connector was made, if any.
    #[must_use]
    pub fn with_runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// The bb8 manager.
    pub fn manager(&self) -> &M {
        &self.manager
    }

    /// Runs a future of the manager to its end on this thread.
    fn wait<T>(
        &self,
        fut: impl Future<Output = Result<T, Bb8Error<M::Error>>>,
    ) -> Result<T, Bb8Error<M::Error>> {
        pool_core::rt::block_on_runtime(self.runtime.as_ref(), fut)
            .unwrap_or(Err(Bb8Error::Blocking))
    }

    /// [`wait`](Self::wait) within `bound`, for the `_within` methods.
    fn wait_within<T>(
        &self,
        fut: impl Future<Output = Result<T, Bb8Error<M::Error>>>,
        bound: Duration,
        operation: Operation,
    ) -> Result<Result<T, Bb8Error<M::Error>>, OperationTimeout> {
        let refused = || Bb8Error::Blocking;
        pool_core::rt::block_on_bounded(self.runtime.as_ref(), fut, bound, operation, refused)
    }

    async fn reset(
        &self,
        conn: &mut M::Connection,
        commit: bool,
    ) -> Result<(), Bb8Error<M::Error>> {
        match self.reset {
            Some(reset) => reset(conn, commit).await.map_err(Bb8Error::Reset),
            None => Ok(()),
        }
    }

    /// The classifier, or this crate's rules.
    fn classify(&self, error: &M::Error) -> bool
    where
        M::Error: StdError + 'static,
    {
        match &self.disconnect {
            Some(is_disconnect) => is_disconnect(error),
            None => crate::is_disconnect(error),
        }
    }
}

impl<M: ManageConnection + Clone> Clone for Bb8Connector<M> {
    /// Clones the manager; the classifier is shared.
    fn clone(&self) -> Self {
        Bb8Connector {
            manager: self.manager.clone(),
            reset: self.reset,
            disconnect: self.disconnect.clone(),
            runtime: self.runtime.clone(),
        }
    }
}

impl<M: ManageConnection> fmt::Debug for Bb8Connector<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bb8Connector")
            .field("manager", &std::any::type_name::<M>())
            .field("reset", &self.reset.is_some())
            .field("disconnect", &self.disconnect.as_ref().map(|_| "Fn(&Error) -> bool"))
            .field("runtime", &self.runtime.is_some())
            .finish()
    }
}

impl<M> Connector for Bb8Connector<M>
where
    M: ManageConnection,
    M::Error: StdError + Sync + 'static,
{
    type Connection = M::Connection;
    type Error = Bb8Error<M::Error>;

    const ASYNC_IO: bool = true;

    /// The manager's [`connect`](ManageConnection::connect), waited for.
    fn connect(&self) -> Result<M::Connection, Self::Error> {
        self.wait(self.connect_async())
    }

    /// The connection's [`Reset::rollback`], waited for, or nothing without reset.
    fn rollback(&self, conn: &mut M::Connection) -> Result<(), Self::Error> {
        self.wait(self.reset(conn, false))
    }

    /// The connection's [`Reset::commit`], waited for, or nothing without reset.
    fn commit(&self, conn: &mut M::Connection) -> Result<(), Self::Error> {
        self.wait(self.reset(conn, true))
    }

    /// The manager's [`is_valid`](ManageConnection::is_valid), waited for.
    fn ping(&self, conn: &mut M::Connection) -> Option<Result<(), Self::Error>> {
        Some(self.wait(async { self.manager.is_valid(conn).await.map_err(Bb8Error::Ping) }))
    }

    /// [`ping`](Connector::ping), given up after `bound`.
    fn ping_within(
        &self,
        conn: &mut M::Connection,
        bound: Duration,
    ) -> Result<Option<Result<(), Self::Error>>, OperationTimeout> {
        let ping = async { self.manager.is_valid(conn).await.map_err(Bb8Error::Ping) };
        self.wait_within(ping, bound, Operation::Ping).map(Some)
    }

    /// [`rollback`](Connector::rollback), given up after `bound`.
    fn rollback_within(
        &self,
        conn: &mut M::Connection,
        bound: Duration,
    ) -> Result<Result<(), Self::Error>, OperationTimeout> {
        self.wait_within(self.reset(conn, false), bound, Operation::Reset)
    }

    /// [`commit`](Connector::commit), given up after `bound`.
    fn commit_within(
        &self,
        conn: &mut M::Connection,
        bound: Duration,
    ) -> Result<Result<(), Self::Error>, OperationTimeout> {
        self.wait_within(self.reset(conn, true), bound, Operation::Reset)
    }

    /// Drops the connection, inside the connector's runtime when this thread is outside
    /// one.
    fn close(&self, conn: M::Connection) -> Result<(), Self::Error> {
        let outside = self.runtime.as_ref().filter(|_| Handle::try_current().is_err());
        let _entered = outside.map(Handle::enter);
        drop(conn);
        Ok(())
    }

    /// The manager's [`has_broken`](ManageConnection::has_broken).
    fn is_broken(&self, conn: &mut M::Connection) -> bool {
        self.manager.has_broken(conn)
    }

    /// A failed pre-ping always; other errors by the classifier given to
    /// [`with_disconnect`](Bb8Connector::with_disconnect), or [`crate::is_disconnect`].
    fn is_disconnect(&self, error: &Self::Error) -> bool {
        match error {
            Bb8Error::Ping(_) => true,
            Bb8Error::Connect(e) | Bb8Error::Query(e) => self.classify(e),
            Bb8Error::Reset(e) => match e.downcast_ref::<M::Error>() {
                Some(e) => self.classify(e),
                None => crate::is_disconnect(&**e),
            },
            Bb8Error::Blocking => false,
        }
    }

    async fn connect_async(&self) -> Result<M::Connection, Self::Error> {
        self.manager.connect().await.map_err(Bb8Error::Connect)
    }

    async fn ping_async(&self, conn: &mut M::Connection) -> Option<Result<(), Self::Error>> {
        Some(self.manager.is_valid(conn).await.map_err(Bb8Error::Ping))
    }

    fn rollback_async(
        &self,
        conn: &mut M::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.reset(conn, false)
    }

    fn commit_async(
        &self,
        conn: &mut M::Connection,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.reset(conn, true)
    }
}
