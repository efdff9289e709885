//! Ending a connection's transaction on return, for deadpool managers' connection types.

use std::future::Future;

use pool_core::BoxError;

/// Rolls back or commits whatever a connection has open, for reset on return.
///
/// A deadpool [`Manager`](deadpool::managed::Manager) knows how to create and recycle its
/// connections but not how to end a transaction, so reset on return needs this
/// (implemented here for deadpool-postgres's and deadpool-sqlite's connections, behind
/// the `postgres` and `sqlite` features). Use
/// [`ManagerConnector::without_reset`](crate::ManagerConnector::without_reset) for a type
/// that has nothing to reset.
pub trait Reset: Send {
    /// Rolls back the open transaction, if any.
    fn rollback(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Commits the open transaction, if any.
    fn commit(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;
}

#[cfg(feature = "postgres")]
impl Reset for deadpool_postgres::ClientWrapper {
    /// `ROLLBACK`: PostgreSQL accepts it outside a transaction (with a warning).
    async fn rollback(&mut self) -> Result<(), BoxError> {
        Ok(self.batch_execute("ROLLBACK").await?)
    }

    /// `COMMIT`, likewise.
    async fn commit(&mut self) -> Result<(), BoxError> {
        Ok(self.batch_execute("COMMIT").await?)
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
