//! Ending a connection's transaction on return, for deadpool managers' connection types.

use std::error::Error as StdError;
use std::future::Future;

use pool_core::BoxError;

/// Rolls back or commits whatever a connection has open, for reset on return, and says
/// which of its errors mean it is gone.
///
/// A deadpool [`Manager`](deadpool::managed::Manager) knows how to create and recycle its
/// connections but not how to end a transaction, so reset on return needs this
/// (implemented here for deadpool-postgres's and deadpool-sqlite's connections, behind
/// the `postgres` and `sqlite` features). Use
/// [`ManagerConnector::without_reset`](crate::ManagerConnector::without_reset) for a type
/// that has nothing to reset.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `pool_deadpool::Reset`: `ManagerConnector::new` cannot reset it on return",
    label = "the manager's connection type must implement `pool_deadpool::Reset`",
    note = "for deadpool-postgres enable pool-deadpool's `postgres` feature, for deadpool-sqlite \
            its `sqlite` feature (through the facade: sqlpool's features [\"deadpool\", \
            \"postgres\"] or [\"deadpool\", \"sqlite\"]); the manager crate must be the \
            version pool-deadpool names (deadpool-postgres 0.14, deadpool-sqlite 0.14)",
    note = "for any other manager use `ManagerConnector::without_reset`, or implement `Reset` \
            for its connection type"
)]
pub trait Reset: Send {
    /// Rolls back the open transaction, if any.
    fn rollback(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Commits the open transaction, if any.
    fn commit(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Whether an error of this connection (its manager's `create` error, or a rollback's
    /// or commit's) means the connection is gone: the disconnect classification
    /// [`ManagerConnector::new`](crate::ManagerConnector::new) uses, with no setting. A
    /// refused `recycle` is a disconnect whatever this says.
    ///
    /// `error` is a trait object, to be downcast to the types this connection knows. The
    /// default says no to everything.
    fn is_disconnect(error: &(dyn StdError + 'static)) -> bool {
        let _ = error;
        false
    }
}

#[cfg(feature = "postgres")]
impl Reset for deadpool_postgres::ClientWrapper {
    /// `ROLLBACK` when a transaction block is open or failed: it asks first (one round
    /// trip, `pool_postgres::end_transaction_async`), so PostgreSQL logs no "there is no
    /// transaction in progress" warning per return.
    async fn rollback(&mut self) -> Result<(), BoxError> {
        Ok(pool_postgres::end_transaction_async(self, "ROLLBACK").await?)
    }

    /// `COMMIT` when a transaction block is open (a failed one is rolled back), likewise.
    async fn commit(&mut self) -> Result<(), BoxError> {
        Ok(pool_postgres::end_transaction_async(self, "COMMIT").await?)
    }

    /// A `tokio_postgres` error that `pool_postgres::is_disconnect` counts: a closed
    /// client, an I/O error, a `FATAL` or connection-exception server error.
    fn is_disconnect(error: &(dyn StdError + 'static)) -> bool {
        error.downcast_ref().is_some_and(pool_postgres::is_disconnect)
    }
}

#[cfg(feature = "sqlite")]
impl Reset for deadpool_sync::SyncWrapper<deadpool_sqlite::rusqlite::Connection> {
    /// `ROLLBACK` on deadpool-sqlite's worker thread, when a transaction is open.
    async fn rollback(&mut self) -> Result<(), BoxError> {
        end_sqlite(self, "ROLLBACK").await
    }

    /// `COMMIT` on deadpool-sqlite's worker thread, when a transaction is open.
    async fn commit(&mut self) -> Result<(), BoxError> {
        end_sqlite(self, "COMMIT").await
    }

    /// A `rusqlite` error that `pool_sqlite::is_disconnect` counts: the database file
    /// gone, unreadable or corrupt.
    fn is_disconnect(error: &(dyn StdError + 'static)) -> bool {
        error.downcast_ref().is_some_and(pool_sqlite::is_disconnect)
    }
}

#[cfg(feature = "sqlite")]
async fn end_sqlite(
    conn: &deadpool_sync::SyncWrapper<deadpool_sqlite::rusqlite::Connection>,
    sql: &'static str,
) -> Result<(), BoxError> {
    fn end(c: &mut deadpool_sqlite::rusqlite::Connection, sql: &str) -> rusqlite::Result<()> {
        if c.is_autocommit() {
            Ok(())
        } else {
            c.execute_batch(sql)
        }
    }
    use deadpool_sqlite::rusqlite;
    // Ending a local transaction is quick: done here when the connection is free, which
    // spares a trip to a blocking thread (and lets the return finish at once).
    if let Ok(mut guard) = conn.try_lock() {
        return Ok(end(&mut guard, sql)?);
    }
    let done = conn
        .interact(move |c| end(c, sql))
        .await
        .map_err(|e| -> BoxError { e.to_string().into() })?;
    Ok(done?)
}
