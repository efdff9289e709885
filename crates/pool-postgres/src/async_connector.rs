//! [`AsyncPostgresConnector`]: a [`Connector`] over `tokio-postgres`, whose connects,
//! pings and resets are futures that never block a tokio worker.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use pool_core::{Connector, Operation, OperationTimeout};
use tokio::runtime::Handle;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Config, NoTls, Socket};

use crate::connector::{connect_error, parse, watched};
use crate::error::Error;
use crate::session::{Passthrough, Session, TransactionStatus};
use crate::target::TargetSession;
use crate::{end_transaction_async, is_disconnect};

/// Opens, resets, pings and closes PostgreSQL connections over the async driver
/// (`tokio_postgres::Client`) for a pool, without blocking a tokio worker: its
/// `connect_async`, `ping_async`, `rollback_async` and `commit_async` are the driver's
/// futures, and each connection's I/O task (`tokio_postgres::Connection`) is spawned on
/// the tokio runtime that opens it.
///
/// Built like [`PostgresConnector`](crate::PostgresConnector): from a URL or a
/// `key=value` string ([`new`](Self::new)) or a [`Config`] ([`from_config`](Self::from_config)),
/// refined with [`with_connect_timeout`](Self::with_connect_timeout),
/// [`with_application_name`](Self::with_application_name), [`with_tls`](Self::with_tls)
/// and [`with_runtime`](Self::with_runtime). The reset on return, the disconnect rules
/// ([`is_disconnect`]) and the errors ([`Error`]) are the sync connector's: without TLS,
/// over TCP, each socket is watched for the transaction status, so a return sends nothing
/// when no transaction is open (see the crate docs, "Reset without a round trip").
///
/// # The blocking methods
///
/// `connect`, `ping`, `rollback` and `commit` (what the pool's blocking `get` and a
/// connection dropped outside a runtime call) run the same futures to their end on the
/// calling thread:
///
/// - on a thread outside any runtime, inside the connector's runtime (the one current
///   when it was made, or [`with_runtime`](Self::with_runtime)'s), whose workers drive
///   the connections' I/O; with no runtime at all, `connect` fails
///   ([`Error::is_runtime`]): a connection needs a runtime to drive it;
/// - on a worker of a multi-thread runtime, through `tokio::task::block_in_place`, so
///   that the worker's other tasks (this connection's I/O task among them) move to
///   another thread while it waits;
/// - on a current-thread runtime's thread, never: waiting there would deadlock (the
///   connection's I/O task needs that very thread), so the call fails at once with an
///   error for which [`Error::is_runtime`] is true. Use the pool's `get_async` there.
///
/// Cloning copies the configuration; nothing is shared but the TLS connector's own state.
#[derive(Clone)]
pub struct AsyncPostgresConnector<T = NoTls> {
    config: Config,
    target: TargetSession,
    tls: T,
    /// Whether the application asked for no TLS, so that the socket may be watched.
    watch: bool,
    runtime: Option<Handle>,
}

/// The error of a blocking call made where it would deadlock.
const CURRENT_THREAD: &str = "a blocking call of AsyncPostgresConnector on a current-thread \
     tokio runtime's thread would deadlock (the connection's I/O needs that thread): use \
     the pool's get_async there, or a multi-thread runtime";

/// The error of a connect with no runtime to drive the connection.
const NO_RUNTIME: &str = "AsyncPostgresConnector needs a tokio runtime to drive its \
     connections: connect inside one, or make the connector inside one or with_runtime";

impl AsyncPostgresConnector<NoTls> {
    /// A connector for the server that `params` names, without TLS.
    ///
    /// `params` is a URL (`postgres://user@host:5432/db?application_name=app`) or a
    /// `key=value` string, as [`Config`]'s parser reads them. Nothing is opened until a
    /// connect. Made inside a tokio runtime, the connector keeps a handle to it for the
    /// blocking calls of threads outside any runtime.
    ///
    /// # Errors
    ///
    /// The parser's error when `params` is not a valid configuration; its message quotes
    /// `params` (the password hidden) and names the option that is wrong.
    pub fn new(params: &str) -> Result<Self, Error> {
        Ok(AsyncPostgresConnector::from_config(parse(params)?))
    }

    /// A connector for `config`, without TLS.
    pub fn from_config(config: Config) -> Self {
        AsyncPostgresConnector {
            target: TargetSession::of(&config),
            config,
            tls: NoTls,
            watch: true,
            runtime: Handle::try_current().ok(),
        }
    }
}

impl<T> AsyncPostgresConnector<T> {
    /// The same connector, opening connections through `tls` (a `MakeTlsConnect` such as
    /// `postgres_native_tls::MakeTlsConnector`, re-exported behind this crate's `tls`
    /// feature).
    ///
    /// Connections through a TLS connector are not watched: their reset on return asks
    /// the server whether a transaction is open
    /// ([`end_transaction_async`]), one round trip per return.
    pub fn with_tls<U>(self, tls: U) -> AsyncPostgresConnector<U> {
        AsyncPostgresConnector {
            config: self.config,
            target: self.target,
            tls,
            watch: false,
            runtime: self.runtime,
        }
    }

    crate::connector::config_methods!();

    /// Runs the blocking calls made on threads outside any runtime inside this runtime
    /// (which then drives the I/O of the connections they open). Without it, the runtime
    /// current when the connector was made, if any.
    #[must_use]
    pub fn with_runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Runs one of the connector's futures to its end on this thread (see the type's
    /// docs, "The blocking methods").
    fn wait<R>(&self, fut: impl Future<Output = Result<R, Error>>) -> Result<R, Error> {
        pool_core::rt::block_on_runtime(self.runtime.as_ref(), fut)
            .unwrap_or_else(|| Err(Error::runtime(CURRENT_THREAD)))
    }
}

impl<T> AsyncPostgresConnector<T> {
    /// [`wait`](Self::wait) within `bound`, for the `_within` methods.
    fn wait_within<R>(
        &self,
        fut: impl Future<Output = Result<R, Error>>,
        bound: Duration,
        operation: Operation,
    ) -> Result<Result<R, Error>, OperationTimeout> {
        let refused = || Error::runtime(CURRENT_THREAD);
        pool_core::rt::block_on_bounded(self.runtime.as_ref(), fut, bound, operation, refused)
    }
}

impl<T> fmt::Debug for AsyncPostgresConnector<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The driver's configuration hides the password in its own Debug output.
        f.debug_struct("AsyncPostgresConnector")
            .field("config", &self.config)
            .field("tls", &std::any::type_name::<T>())
            .field("runtime", &self.runtime.is_some())
            .finish()
    }
}

/// Spawns a connection's I/O task on the current runtime.
fn drive<S>(connection: tokio_postgres::Connection<Socket, S>, runtime: &Handle)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // The task ends when the client is dropped (after sending `Terminate`) or the
    // socket fails; the client then reports itself closed, which is all the pool needs.
    drop(runtime.spawn(async move {
        let _ = connection.await;
    }));
}

impl<T> AsyncPostgresConnector<T>
where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::TlsConnect: Send,
    T::Stream: Send + 'static,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    /// One connect with `config`.
    async fn connect_with(&self, config: &Config) -> Result<AsyncPostgresConnection, Error> {
        let runtime = Handle::try_current().map_err(|_| Error::runtime(NO_RUNTIME))?;
        let session = Session::new();
        let client = match watched(config, self.watch) {
            Some(config) => config.connect(Passthrough::new(session.clone())).await.map(
                |(client, connection)| {
                    drive(connection, &runtime);
                    client
                },
            ),
            None => config.connect(self.tls.clone()).await.map(|(client, connection)| {
                drive(connection, &runtime);
                client
            }),
        };
        match client {
            Ok(client) => Ok(AsyncPostgresConnection { client, session }),
            Err(e) => Err(connect_error(config, e)),
        }
    }
}

impl<T> Connector for AsyncPostgresConnector<T>
where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::TlsConnect: Send,
    T::Stream: Send + 'static,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    type Connection = AsyncPostgresConnection;
    type Error = Error;

    const ASYNC_IO: bool = true;

    /// [`connect_async`](Connector::connect_async), waited for (see the type's docs).
    fn connect(&self) -> Result<AsyncPostgresConnection, Error> {
        self.wait(self.connect_async())
    }

    /// [`rollback_async`](Connector::rollback_async), waited for.
    fn rollback(&self, conn: &mut AsyncPostgresConnection) -> Result<(), Error> {
        self.wait(conn.end("ROLLBACK"))
    }

    /// [`commit_async`](Connector::commit_async), waited for.
    fn commit(&self, conn: &mut AsyncPostgresConnection) -> Result<(), Error> {
        self.wait(conn.end("COMMIT"))
    }

    /// [`ping_async`](Connector::ping_async), waited for.
    fn ping(&self, conn: &mut AsyncPostgresConnection) -> Option<Result<(), Error>> {
        Some(self.wait(conn.ping()))
    }

    /// [`ping`](Connector::ping), given up after `bound`.
    fn ping_within(
        &self,
        conn: &mut AsyncPostgresConnection,
        bound: Duration,
    ) -> Result<Option<Result<(), Error>>, OperationTimeout> {
        self.wait_within(conn.ping(), bound, Operation::Ping).map(Some)
    }

    /// [`rollback`](Connector::rollback), given up after `bound`.
    fn rollback_within(
        &self,
        conn: &mut AsyncPostgresConnection,
        bound: Duration,
    ) -> Result<Result<(), Error>, OperationTimeout> {
        self.wait_within(conn.end("ROLLBACK"), bound, Operation::Reset)
    }

    /// [`commit`](Connector::commit), given up after `bound`.
    fn commit_within(
        &self,
        conn: &mut AsyncPostgresConnection,
        bound: Duration,
    ) -> Result<Result<(), Error>, OperationTimeout> {
        self.wait_within(conn.end("COMMIT"), bound, Operation::Reset)
    }

    /// Drops the client: its I/O task sends the protocol's `Terminate` and ends.
    fn close(&self, conn: AsyncPostgresConnection) -> Result<(), Error> {
        drop(conn);
        Ok(())
    }

    /// Drops the client after making a watched socket fail, so that its I/O task ends at
    /// once instead of waiting for answers a silent server may never send.
    fn terminate(&self, conn: AsyncPostgresConnection) -> Result<(), Error> {
        conn.session.abort();
        drop(conn);
        Ok(())
    }

    /// Whether the driver already knows the connection is closed (`Client::is_closed`).
    fn is_broken(&self, conn: &mut AsyncPostgresConnection) -> bool {
        conn.is_closed()
    }

    /// Whether `error` means the session is gone: the free function [`is_disconnect`]
    /// (a refused blocking call is not). Under [`TargetSession::ReadWrite`], also an
    /// error saying the session is read-only (the server was demoted).
    fn is_disconnect(&self, error: &Error) -> bool {
        error.as_postgres().is_some_and(|e| is_disconnect(e) || self.target.refused_by(e))
    }

    /// Opens a client with the configuration and the TLS connector and spawns its I/O
    /// task on the current runtime; without TLS, over TCP, its socket is watched for the
    /// transaction status.
    ///
    /// # Errors
    ///
    /// The driver's error; outside any tokio runtime, an error for which
    /// [`Error::is_runtime`] is true.
    async fn connect_async(&self) -> Result<AsyncPostgresConnection, Error> {
        match self.target.standby_first(&self.config) {
            Some(standby) => match self.connect_with(&standby).await {
                Ok(conn) => Ok(conn),
                Err(_) => self.connect_with(&self.config).await,
            },
            None => self.connect_with(&self.config).await,
        }
    }

    /// Runs `SELECT 1` with the simple query protocol.
    async fn ping_async(&self, conn: &mut AsyncPostgresConnection) -> Option<Result<(), Error>> {
        Some(conn.ping().await)
    }

    /// Ends an open transaction with `ROLLBACK`; sends nothing when the server's last
    /// answer said none is open, and asks first when that is not known
    /// ([`end_transaction_async`]).
    fn rollback_async(
        &self,
        conn: &mut AsyncPostgresConnection,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        conn.end("ROLLBACK")
    }

    /// Ends an open transaction with `COMMIT`, likewise.
    fn commit_async(
        &self,
        conn: &mut AsyncPostgresConnection,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        conn.end("COMMIT")
    }
}

/// A connection of an [`AsyncPostgresConnector`]: a [`tokio_postgres::Client`] (it
/// dereferences to it) that also knows whether a transaction is open.
pub struct AsyncPostgresConnection {
    client: Client,
    session: Arc<Session>,
}

impl AsyncPostgresConnection {
    /// Where the session stands, from the last answer the server sent, without a round
    /// trip; as [`PostgresConnection::transaction_status`](crate::PostgresConnection::transaction_status).
    pub fn transaction_status(&self) -> TransactionStatus {
        self.session.status()
    }

    /// The client, without the status watcher's handle.
    pub fn into_client(self) -> Client {
        self.client
    }

    async fn ping(&self) -> Result<(), Error> {
        Ok(self.client.batch_execute("SELECT 1").await?)
    }

    /// Ends any open transaction with `statement`: nothing when the status says none is
    /// open; otherwise as [`end_transaction_async`] does.
    async fn end(&self, statement: &str) -> Result<(), Error> {
        Ok(match self.transaction_status() {
            TransactionStatus::Idle => Ok(()),
            TransactionStatus::InTransaction | TransactionStatus::Failed => {
                self.client.batch_execute(statement).await
            }
            TransactionStatus::Unknown => end_transaction_async(&self.client, statement).await,
        }?)
    }
}

impl Deref for AsyncPostgresConnection {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for AsyncPostgresConnection {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl fmt::Debug for AsyncPostgresConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncPostgresConnection")
            .field("closed", &self.client.is_closed())
            .field("transaction_status", &self.transaction_status())
            .finish()
    }
}
