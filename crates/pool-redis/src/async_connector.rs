//! [`AsyncRedisConnector`]: a [`Connector`] over the `redis` crate's async connection
//! (`MultiplexedConnection` on tokio), whose connects, pings and resets never block a
//! tokio worker.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use pool_core::{Connector, Operation, OperationTimeout, UrlError};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError};
use tokio::runtime::Handle;

use crate::connector::{check_reset, reset_pipe, url_problem, with_address, AuthProbe};
use crate::is_disconnect;

/// Opens, resets, pings and closes Redis connections over the driver's async API
/// (`redis::aio::MultiplexedConnection`, on tokio) for a pool, without blocking a tokio
/// worker: its `connect_async`, `ping_async`, `rollback_async` and `commit_async` are the
/// driver's futures, and each connection's I/O runs in a task the driver spawns on the
/// runtime that opens it.
///
/// Built from a URL ([`new`](Self::new)) or a [`redis::Client`]
/// ([`from_client`](Self::from_client)), then refined with
/// [`with_client_name`](Self::with_client_name), [`with_config`](Self::with_config) and
/// [`with_runtime`](Self::with_runtime). The reset on return (`DISCARD`, or `EXEC` in
/// commit mode, then `UNWATCH`, in one round trip), the ping (`PING`), the disconnect
/// rules ([`is_disconnect`]) and the errors (a refused connect names the address; a
/// refused password carries the server's answer) are
/// [`RedisConnector`](crate::RedisConnector)'s.
///
/// # Timeouts
///
/// The driver's own defaults for its async connections are a 1 s connect timeout and a
/// 500 ms response timeout, after which a slow command (a `BLPOP`, a large `KEYS`) fails
/// with an I/O error that counts as a disconnect. This connector turns both off: the
/// pool's `connect_timeout`, `ping_timeout` and `reset_timeout` bound what the pool does,
/// and the application bounds its own commands. [`with_config`](Self::with_config) sets
/// other values.
///
/// # One holder at a time
///
/// A `MultiplexedConnection` can be cloned, and its clones share the socket. A pooled
/// connection is handed to one holder at a time; a clone kept after the connection went
/// back to the pool would share it with the next holder (and its `MULTI`), so do not keep
/// one.
///
/// # The blocking methods
///
/// `connect`, `ping`, `rollback` and `commit` (what the pool's blocking `get` and a
/// connection dropped outside a runtime call) run the same futures to their end on the
/// calling thread, as [`pool_core::rt::block_on_runtime`] does: outside any runtime
/// inside the connector's (the one current when it was made, or
/// [`with_runtime`](Self::with_runtime)'s); on a multi-thread runtime's worker through
/// `block_in_place`; on a current-thread runtime's thread never, failing at once with an
/// error that [`is_runtime_error`] recognizes (waiting there would deadlock: the
/// connection's I/O task needs that thread). With no runtime at all, `connect` fails the
/// same way.
///
/// Cloning copies the configuration.
#[derive(Clone)]
pub struct AsyncRedisConnector {
    client: Client,
    config: AsyncConnectionConfig,
    client_name: Option<String>,
    runtime: Option<Handle>,
}

/// The description of a refused blocking call's error (see [`is_runtime_error`]).
const REFUSED: &str = "refused by AsyncRedisConnector";

/// The detail of a blocking call made where it would deadlock.
const CURRENT_THREAD: &str = "a blocking call on a current-thread tokio runtime's thread \
     would deadlock (the connection's I/O needs that thread): use the pool's get_async \
     there, or a multi-thread runtime";

/// The detail of a connect with no runtime to drive the connection.
const NO_RUNTIME: &str = "AsyncRedisConnector needs a tokio runtime to drive its \
     connections: connect inside one, or make the connector inside one or with_runtime";

fn refused(why: &'static str) -> RedisError {
    RedisError::from((ErrorKind::Client, REFUSED, why.to_owned()))
}

/// Whether `error` is an [`AsyncRedisConnector`] call refused because of where it was
/// made (a blocking call on a current-thread tokio runtime's thread, or a connect with no
/// runtime to drive the connection), not an error of the driver or the server. Such an
/// error is never a disconnect.
pub fn is_runtime_error(error: &RedisError) -> bool {
    error.kind() == ErrorKind::Client && error.to_string().starts_with(REFUSED)
}

impl AsyncRedisConnector {
    /// A connector for the server that `url` names (`redis://127.0.0.1:6379/0`), as
    /// [`Client::open`] reads it. Nothing is opened until a connect. Made inside a tokio
    /// runtime, the connector keeps a handle to it for the blocking calls of threads
    /// outside any runtime.
    ///
    /// # Errors
    ///
    /// When the driver refuses `url`: a [`UrlError`] that says which part is wrong,
    /// whose [`source`](std::error::Error::source) is the driver's [`RedisError`].
    pub fn new(url: &str) -> Result<Self, UrlError> {
        match Client::open(url) {
            Ok(client) => Ok(AsyncRedisConnector::from_client(client)),
            Err(err) => Err(UrlError::new("Redis", url, url_problem(url).err(), err)),
        }
    }

    /// A connector opening connections with `client`.
    pub fn from_client(client: Client) -> Self {
        AsyncRedisConnector {
            client,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(None)
                .set_response_timeout(None),
            client_name: None,
            runtime: Handle::try_current().ok(),
        }
    }

    /// Opens connections with the driver's `config` (its connect and response timeouts,
    /// a push sender for RESP3 pushes, ...) instead of the one without timeouts (see the
    /// type's docs, "Timeouts").
    #[must_use]
    pub fn with_config(mut self, config: AsyncConnectionConfig) -> Self {
        self.config = config;
        self
    }

    /// Names every connection with `CLIENT SETNAME`, right after it opens (one more round
    /// trip per connect), so that the pool's connections can be found in `CLIENT LIST`.
    ///
    /// The name must not contain spaces, newlines or other special characters; Redis
    /// refuses it otherwise, and every connect fails.
    #[must_use]
    pub fn with_client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = Some(name.into());
        self
    }

    /// Runs the blocking calls made on threads outside any runtime inside this runtime
    /// (which then drives the I/O of the connections they open). Without it, the runtime
    /// current when the connector was made, if any.
    #[must_use]
    pub fn with_runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// The driver client connections are opened with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs one of the connector's futures to its end on this thread (see the type's
    /// docs, "The blocking methods").
    fn wait<R>(&self, fut: impl Future<Output = Result<R, RedisError>>) -> Result<R, RedisError> {
        pool_core::rt::block_on_runtime(self.runtime.as_ref(), fut)
            .unwrap_or_else(|| Err(refused(CURRENT_THREAD)))
    }

    /// [`wait`](Self::wait) within `bound`, for the `_within` methods.
    fn wait_within<R>(
        &self,
        fut: impl Future<Output = Result<R, RedisError>>,
        bound: Duration,
        operation: Operation,
    ) -> Result<Result<R, RedisError>, OperationTimeout> {
        let refused = || refused(CURRENT_THREAD);
        pool_core::rt::block_on_bounded(self.runtime.as_ref(), fut, bound, operation, refused)
    }

    /// [`RedisConnector`](crate::RedisConnector)'s explanation of a refused password,
    /// asked for over an async connection.
    async fn explain_auth(&self, err: RedisError) -> RedisError {
        let Some(probe) = AuthProbe::new(&self.client) else { return err };
        let answer = async {
            let client = Client::open(probe.bare.clone())?;
            let mut conn =
                client.get_multiplexed_async_connection_with_config(&self.config).await?;
            probe.auth.exec_async(&mut conn).await
        };
        let answer = answer.await;
        probe.explain(err, answer)
    }
}

impl fmt::Debug for AsyncRedisConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the address: the driver's connection info holds the password.
        f.debug_struct("AsyncRedisConnector")
            .field("addr", &self.client.get_connection_info().addr())
            .field("client_name", &self.client_name)
            .field("runtime", &self.runtime.is_some())
            .finish_non_exhaustive()
    }
}

impl Connector for AsyncRedisConnector {
    type Connection = MultiplexedConnection;
    type Error = RedisError;

    const ASYNC_IO: bool = true;

    /// [`connect_async`](Connector::connect_async), waited for (see the type's docs).
    fn connect(&self) -> Result<MultiplexedConnection, RedisError> {
        self.wait(self.connect_async())
    }

    /// [`rollback_async`](Connector::rollback_async), waited for.
    fn rollback(&self, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
        self.wait(end_transaction(conn, "DISCARD"))
    }

    /// [`commit_async`](Connector::commit_async), waited for.
    fn commit(&self, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
        self.wait(end_transaction(conn, "EXEC"))
    }

    /// [`ping_async`](Connector::ping_async), waited for.
    fn ping(&self, conn: &mut MultiplexedConnection) -> Option<Result<(), RedisError>> {
        Some(self.wait(ping(conn)))
    }

    /// [`ping`](Connector::ping), given up after `bound`.
    fn ping_within(
        &self,
        conn: &mut MultiplexedConnection,
        bound: Duration,
    ) -> Result<Option<Result<(), RedisError>>, OperationTimeout> {
        self.wait_within(ping(conn), bound, Operation::Ping).map(Some)
    }

    /// [`rollback`](Connector::rollback), given up after `bound`.
    fn rollback_within(
        &self,
        conn: &mut MultiplexedConnection,
        bound: Duration,
    ) -> Result<Result<(), RedisError>, OperationTimeout> {
        self.wait_within(end_transaction(conn, "DISCARD"), bound, Operation::Reset)
    }

    /// [`commit`](Connector::commit), given up after `bound`.
    fn commit_within(
        &self,
        conn: &mut MultiplexedConnection,
        bound: Duration,
    ) -> Result<Result<(), RedisError>, OperationTimeout> {
        self.wait_within(end_transaction(conn, "EXEC"), bound, Operation::Reset)
    }

    /// Drops the connection: once its last clone is gone, the driver's I/O task ends and
    /// closes the socket.
    fn close(&self, conn: MultiplexedConnection) -> Result<(), RedisError> {
        drop(conn);
        Ok(())
    }

    /// Whether `error` means the connection is gone; see the free function
    /// [`is_disconnect`] (a refused blocking call is not).
    fn is_disconnect(&self, error: &RedisError) -> bool {
        is_disconnect(error)
    }

    /// Opens a connection with the configuration, then names it.
    ///
    /// # Errors
    ///
    /// The driver's error (an I/O error naming the address, a refused password with the
    /// server's answer); outside any tokio runtime, an error for which
    /// [`is_runtime_error`] is true.
    async fn connect_async(&self) -> Result<MultiplexedConnection, RedisError> {
        if Handle::try_current().is_err() {
            return Err(refused(NO_RUNTIME));
        }
        let opened = self.client.get_multiplexed_async_connection_with_config(&self.config).await;
        let mut conn = match opened {
            Ok(conn) => conn,
            Err(err) if err.kind() == ErrorKind::AuthenticationFailed => {
                return Err(self.explain_auth(err).await)
            }
            Err(err) => return Err(with_address(&self.client, err)),
        };
        if let Some(name) = &self.client_name {
            redis::cmd("CLIENT").arg("SETNAME").arg(name).exec_async(&mut conn).await?;
        }
        Ok(conn)
    }

    /// Sends `PING`.
    async fn ping_async(&self, conn: &mut MultiplexedConnection) -> Option<Result<(), RedisError>> {
        Some(ping(conn).await)
    }

    /// Discards an open `MULTI` and every `WATCH`: `DISCARD` then `UNWATCH`, pipelined
    /// in one round trip; "DISCARD without MULTI" (nothing was open) is expected.
    fn rollback_async(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> impl Future<Output = Result<(), RedisError>> + Send {
        end_transaction(conn, "DISCARD")
    }

    /// Executes an open `MULTI` with `EXEC`, then `UNWATCH`, likewise; an `EXECABORT` is
    /// returned as the error, and the pool then closes the connection.
    fn commit_async(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> impl Future<Output = Result<(), RedisError>> + Send {
        end_transaction(conn, "EXEC")
    }
}

async fn ping(conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
    redis::cmd("PING").exec_async(conn).await
}

/// Ends whatever `MULTI` is open with `end` and drops every `WATCH`, as the sync
/// connector's reset does.
async fn end_transaction(conn: &mut MultiplexedConnection, end: &str) -> Result<(), RedisError> {
    let pipe = reset_pipe(end);
    check_reset(pipe.query_async(conn).await?)
}
