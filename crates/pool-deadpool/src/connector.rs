//! A pool-core connector over any deadpool `Manager`.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use deadpool::managed::{Manager, Metrics, RecycleError};
use pool_core::{BoxError, Connector, ErrorChain, Operation, OperationTimeout};
use tokio::runtime::Handle;

use crate::reset::Reset;
use pool_core::rt::block_on_runtime;

/// What went wrong in a [`ManagerConnector`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ManagerError<E> {
    /// The manager's `create` failed.
    Create(E),
    /// The manager's `recycle` (the pre-ping) refused the connection: it is gone.
    Recycle(RecycleError<E>),
    /// Rolling back or committing on return failed.
    Reset(BoxError),
    /// A blocking call was made on a thread where it would deadlock (a current-thread
    /// tokio runtime).
    Blocking,
}

/// Shows the manager's error with its causes ([`ErrorChain`]), so the server's words are
/// there even where the driver's message is only a kind (`tokio_postgres`'s "db error").
impl<E: StdError + 'static> fmt::Display for ManagerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManagerError::Create(e) => {
                write!(f, "the manager could not create a connection: {}", ErrorChain::new(e))
            }
            ManagerError::Recycle(e) => {
                write!(f, "the manager refused to recycle the connection: {}", ErrorChain::new(e))
            }
            ManagerError::Reset(e) => {
                write!(f, "reset on return failed: {}", ErrorChain::new(&**e))
            }
            ManagerError::Blocking => f.write_str(
                "a blocking checkout cannot wait for a deadpool manager inside a current-thread \
                 runtime; check out with get_async().await",
            ),
        }
    }
}

impl<E: StdError + 'static> StdError for ManagerError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ManagerError::Create(e) | ManagerError::Recycle(RecycleError::Backend(e)) => Some(e),
            ManagerError::Reset(e) => Some(&**e),
            _ => None,
        }
    }
}

/// A connection of a [`ManagerConnector`]: the manager's object (it dereferences to it),
/// dropped inside the connector's runtime.
///
/// Some managers' objects need a runtime when dropped (deadpool-sqlite's move the
/// connection to a blocking thread to close it); a pool may drop its idle connections
/// on any thread, so this wrapper enters the runtime given to
/// [`ManagerConnector::with_runtime`] first when the thread is outside one.
pub struct Managed<T> {
    obj: Option<T>,
    runtime: Option<Handle>,
}

impl<T> Managed<T> {
    /// The manager's object, out of the wrapper (dropping it is then the caller's care).
    pub fn into_inner(mut self) -> T {
        self.obj.take().expect("present until dropped")
    }
}

impl<T> Deref for Managed<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.obj.as_ref().expect("present until dropped")
    }
}

impl<T> DerefMut for Managed<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.obj.as_mut().expect("present until dropped")
    }
}

impl<T> Drop for Managed<T> {
    fn drop(&mut self) {
        let outside = self.runtime.as_ref().filter(|_| Handle::try_current().is_err());
        let _entered = outside.map(Handle::enter);
        drop(self.obj.take());
    }
}

impl<T: fmt::Debug> fmt::Debug for Managed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Managed").field(&self.obj).finish()
    }
}

/// A [`Connector`] whose connections come from a deadpool [`Manager`]: deadpool-postgres's,
/// deadpool-sqlite's or your own, unchanged.
///
/// | pool-core | deadpool |
/// |---|---|
/// | `connect` | [`Manager::create`] |
/// | `ping` (pre-ping) | [`Manager::recycle`]: a refusal is a disconnect |
/// | `rollback`, `commit` | the connection's [`Reset`], or nothing ([`without_reset`](Self::without_reset)) |
/// | `is_disconnect` | a refused `recycle`; a `create`, rollback or commit error the connection's [`Reset::is_disconnect`] counts |
/// | `close`, `terminate` | [`Manager::detach`], then drop |
///
/// The `_async` methods await the manager; the blocking ones, used by
/// [`Pool::get`](pool_core::Pool::get) and every blocking strategy, run the same futures
/// to their end on the calling thread (inside the tokio runtime given to
/// [`with_runtime`](Self::with_runtime), or the current one, for managers that need it).
pub struct ManagerConnector<M: Manager> {
    manager: M,
    reset: Option<Resetter<M>>,
    runtime: Option<Handle>,
}

/// How a connector with reset rolls back and commits, and which errors are disconnects:
/// the connection's [`Reset`].
struct Resetter<M: Manager> {
    rollback: for<'a> fn(&'a mut M::Type) -> ResetFuture<'a>,
    commit: for<'a> fn(&'a mut M::Type) -> ResetFuture<'a>,
    is_disconnect: fn(&(dyn StdError + 'static)) -> bool,
}

type ResetFuture<'a> = std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>>;

impl<M: Manager> Clone for Resetter<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: Manager> Copy for Resetter<M> {}

fn rollback<M: Manager>(conn: &mut M::Type) -> ResetFuture<'_>
where
    M::Type: Reset,
{
    Box::pin(conn.rollback())
}

fn commit<M: Manager>(conn: &mut M::Type) -> ResetFuture<'_>
where
    M::Type: Reset,
{
    Box::pin(conn.commit())
}

impl<M: Manager> ManagerConnector<M> {
    /// A connector over `manager` whose connections roll back or commit on return through
    /// their [`Reset`], which also classifies their errors as disconnects
    /// ([`Reset::is_disconnect`]; deadpool-postgres's and deadpool-sqlite's connections
    /// do, with no setting).
    pub fn new(manager: M) -> Self
    where
        M::Type: Reset,
    {
        ManagerConnector {
            manager,
            reset: Some(Resetter {
                rollback: rollback::<M>,
                commit: commit::<M>,
                is_disconnect: <M::Type as Reset>::is_disconnect,
            }),
            runtime: None,
        }
    }

    /// A connector over `manager` for connections that have nothing to reset (or whose
    /// reset is done by a `reset` listener): rollback and commit do nothing.
    pub fn without_reset(manager: M) -> Self {
        ManagerConnector { manager, reset: None, runtime: None }
    }

    /// Runs the blocking calls' futures inside this runtime (needed by managers whose
    /// `create` spawns tasks or opens sockets, like deadpool-postgres's, when a
    /// blocking checkout is made on a thread outside any runtime).
    pub fn with_runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// The manager.
    pub fn manager(&self) -> &M {
        &self.manager
    }

    /// Runs a future of the manager to its end on this thread.
    fn wait<T>(
        &self,
        fut: impl Future<Output = Result<T, ManagerError<M::Error>>>,
    ) -> Result<T, ManagerError<M::Error>> {
        block_on_runtime(self.runtime.as_ref(), fut).unwrap_or(Err(ManagerError::Blocking))
    }

    /// [`wait`](Self::wait) within `bound`, for the `_within` methods.
    fn wait_within<T>(
        &self,
        fut: impl Future<Output = Result<T, ManagerError<M::Error>>>,
        bound: Duration,
        operation: Operation,
    ) -> Result<Result<T, ManagerError<M::Error>>, OperationTimeout> {
        let refused = || ManagerError::Blocking;
        pool_core::rt::block_on_bounded(self.runtime.as_ref(), fut, bound, operation, refused)
    }

    async fn reset(
        &self,
        conn: &mut Managed<M::Type>,
        commit: bool,
    ) -> Result<(), ManagerError<M::Error>> {
        let Some(reset) = self.reset else { return Ok(()) };
        let fut = if commit { (reset.commit)(conn) } else { (reset.rollback)(conn) };
        fut.await.map_err(ManagerError::Reset)
    }
}

impl<M: Manager + fmt::Debug> fmt::Debug for ManagerConnector<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerConnector")
            .field("manager", &self.manager)
            .field("reset", &self.reset.is_some())
            .finish_non_exhaustive()
    }
}

impl<M> Connector for ManagerConnector<M>
where
    M: Manager + 'static,
    M::Type: 'static,
    M::Error: StdError + Sync + 'static,
{
    type Connection = Managed<M::Type>;

    const ASYNC_IO: bool = true;
    type Error = ManagerError<M::Error>;

    fn connect(&self) -> Result<Managed<M::Type>, Self::Error> {
        self.wait(self.connect_async())
    }

    fn rollback(&self, conn: &mut Managed<M::Type>) -> Result<(), Self::Error> {
        self.wait(self.reset(conn, false))
    }

    fn commit(&self, conn: &mut Managed<M::Type>) -> Result<(), Self::Error> {
        self.wait(self.reset(conn, true))
    }

    fn ping(&self, conn: &mut Managed<M::Type>) -> Option<Result<(), Self::Error>> {
        Some(self.wait(async { self.ping_async(conn).await.expect("always pings") }))
    }

    /// [`ping`](Connector::ping) (the manager's `recycle`), given up after `bound`.
    fn ping_within(
        &self,
        conn: &mut Managed<M::Type>,
        bound: Duration,
    ) -> Result<Option<Result<(), Self::Error>>, OperationTimeout> {
        let ping = async { self.ping_async(conn).await.expect("always pings") };
        self.wait_within(ping, bound, Operation::Ping).map(Some)
    }

    /// [`rollback`](Connector::rollback), given up after `bound`.
    fn rollback_within(
        &self,
        conn: &mut Managed<M::Type>,
        bound: Duration,
    ) -> Result<Result<(), Self::Error>, OperationTimeout> {
        self.wait_within(self.reset(conn, false), bound, Operation::Reset)
    }

    /// [`commit`](Connector::commit), given up after `bound`.
    fn commit_within(
        &self,
        conn: &mut Managed<M::Type>,
        bound: Duration,
    ) -> Result<Result<(), Self::Error>, OperationTimeout> {
        self.wait_within(self.reset(conn, true), bound, Operation::Reset)
    }

    fn close(&self, mut conn: Managed<M::Type>) -> Result<(), Self::Error> {
        self.manager.detach(&mut conn);
        drop(conn);
        Ok(())
    }

    /// Recycle refusals are disconnects: deadpool discards such a connection. A create,
    /// rollback or commit error is one if the connection's [`Reset::is_disconnect`] says
    /// so (with reset; without, none is).
    fn is_disconnect(&self, error: &Self::Error) -> bool {
        let known = |e: &(dyn StdError + 'static)| self.reset.is_some_and(|r| (r.is_disconnect)(e));
        match error {
            ManagerError::Recycle(_) => true,
            ManagerError::Create(e) => known(e),
            ManagerError::Reset(e) => known(&**e),
            // Blocking, and whatever variant comes next, is not a disconnect.
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    async fn connect_async(&self) -> Result<Managed<M::Type>, Self::Error> {
        let obj = self.manager.create().await.map_err(ManagerError::Create)?;
        Ok(Managed { obj: Some(obj), runtime: self.runtime.clone() })
    }

    async fn ping_async(&self, conn: &mut Managed<M::Type>) -> Option<Result<(), Self::Error>> {
        let metrics = Metrics::default();
        Some(self.manager.recycle(conn, &metrics).await.map_err(ManagerError::Recycle))
    }

    fn rollback_async(
        &self,
        conn: &mut Managed<M::Type>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.reset(conn, false)
    }

    fn commit_async(
        &self,
        conn: &mut Managed<M::Type>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.reset(conn, true)
    }
}
