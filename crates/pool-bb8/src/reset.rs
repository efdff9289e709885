//! [`Reset`]: how a connection rolls back or commits on return, which bb8 managers cannot
//! do.

use std::future::Future;

use pool_core::BoxError;

/// Rolls back or commits whatever a connection has open, for reset on return.
///
/// A bb8 [`ManageConnection`](bb8::ManageConnection) can connect, check and report a
/// connection broken, but has no way to end a transaction, so reset on return needs the
/// connection type to say how. [`Bb8Connector::new`](crate::Bb8Connector::new) takes a
/// manager whose connections implement this trait; for any other manager use
/// [`Bb8Connector::without_reset`](crate::Bb8Connector::without_reset).
///
/// Implemented for `tokio_postgres::Client` (bb8-postgres's connections, feature
/// `postgres`): it asks the server whether a transaction block is open
/// (`pool_postgres::IN_TRANSACTION_QUERY`, one round trip that leaves nothing in the
/// server's log) and sends `ROLLBACK` or `COMMIT` only then.
///
/// Both methods must leave the connection with no transaction open, and must not fail
/// when none was: they run at every return.
///
/// # Example
///
/// ```
/// use pool_bb8::Reset;
/// use pool_core::BoxError;
///
/// /// A connection that counts its open transactions.
/// #[derive(Debug, Default)]
/// struct Conn {
///     open: u32,
/// }
///
/// impl Reset for Conn {
///     async fn rollback(&mut self) -> Result<(), BoxError> {
///         self.open = 0;
///         Ok(())
///     }
///     async fn commit(&mut self) -> Result<(), BoxError> {
///         self.open = 0;
///         Ok(())
///     }
/// }
///
/// let mut conn = Conn { open: 1 };
/// let runtime = tokio::runtime::Runtime::new().unwrap();
/// runtime.block_on(conn.rollback()).unwrap();
/// assert_eq!(conn.open, 0);
/// ```
pub trait Reset: Send {
    /// Rolls back whatever transaction is open; does nothing, successfully, if none is.
    fn rollback(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Commits whatever transaction is open; does nothing, successfully, if none is.
    fn commit(&mut self) -> impl Future<Output = Result<(), BoxError>> + Send;
}

#[cfg(feature = "postgres")]
mod postgres {
    use bb8_postgres::tokio_postgres::Client;
    use pool_core::BoxError;
    use pool_postgres::end_transaction_async;

    use super::Reset;

    impl Reset for Client {
        /// `ROLLBACK`, when a transaction block is open or failed: it asks first, so no
        /// return leaves a "there is no transaction in progress" warning in the server's
        /// log.
        async fn rollback(&mut self) -> Result<(), BoxError> {
            Ok(end_transaction_async(self, "ROLLBACK").await?)
        }

        /// `COMMIT`, when a transaction block is open (a failed one is rolled back).
        async fn commit(&mut self) -> Result<(), BoxError> {
            Ok(end_transaction_async(self, "COMMIT").await?)
        }
    }
}
