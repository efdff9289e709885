//! [`Reset`]: how a connection rolls back or commits on return, which r2d2 managers cannot do.

/// Rolls back or commits whatever a connection has open, for reset on return.
///
/// An r2d2 [`ManageConnection`](r2d2::ManageConnection) can connect, check and report a
/// connection broken, but has no way to end a transaction, so reset on return needs the
/// connection type to say how. [`R2d2Connector::new`](crate::R2d2Connector::new) takes a
/// manager whose connections implement this trait; for any other manager use
/// [`R2d2Connector::without_reset`](crate::R2d2Connector::without_reset).
///
/// Implemented, behind features, for:
///
/// - `rusqlite::Connection` (feature `sqlite`, for `r2d2_sqlite`): `ROLLBACK` or `COMMIT`
///   only when a transaction is open, as `pool-sqlite`'s connector does;
/// - `postgres::Client` (feature `postgres`, for `r2d2_postgres`): `ROLLBACK` or `COMMIT`,
///   which PostgreSQL answers outside a transaction with a warning, not an error.
///
/// Both methods must leave the connection with no transaction open, and must not fail
/// when none was: they run at every return.
///
/// # Example
///
/// ```
/// use pool_r2d2::Reset;
///
/// /// A connection that counts its open transactions.
/// #[derive(Debug, Default)]
/// struct Conn {
///     open: u32,
/// }
///
/// impl Reset for Conn {
///     type Error = std::io::Error;
///
///     fn rollback(&mut self) -> Result<(), std::io::Error> {
///         self.open = 0;
///         Ok(())
///     }
///     fn commit(&mut self) -> Result<(), std::io::Error> {
///         self.open = 0;
///         Ok(())
///     }
/// }
///
/// let mut conn = Conn { open: 1 };
/// conn.rollback().unwrap();
/// assert_eq!(conn.open, 0);
/// ```
pub trait Reset {
    /// The error a rollback or commit returns; the manager's error must convert from it
    /// (it usually is the same type).
    type Error;

    /// Rolls back whatever transaction is open; does nothing, successfully, if none is.
    fn rollback(&mut self) -> Result<(), Self::Error>;

    /// Commits whatever transaction is open; does nothing, successfully, if none is.
    fn commit(&mut self) -> Result<(), Self::Error>;
}

#[cfg(feature = "sqlite")]
impl Reset for pool_sqlite::rusqlite::Connection {
    type Error = pool_sqlite::rusqlite::Error;

    /// `ROLLBACK` if a transaction is open ([`pool_sqlite::rollback_if_open`]).
    fn rollback(&mut self) -> Result<(), Self::Error> {
        pool_sqlite::rollback_if_open(self)
    }

    /// `COMMIT` if a transaction is open ([`pool_sqlite::commit_if_open`]).
    fn commit(&mut self) -> Result<(), Self::Error> {
        pool_sqlite::commit_if_open(self)
    }
}

#[cfg(feature = "postgres")]
impl Reset for postgres::Client {
    type Error = postgres::Error;

    /// `ROLLBACK`: ends any open or failed transaction; a warning, not an error, if none.
    fn rollback(&mut self) -> Result<(), Self::Error> {
        self.batch_execute("ROLLBACK")
    }

    /// `COMMIT`: commits an open transaction (a failed one is rolled back); a warning, not
    /// an error, if none.
    fn commit(&mut self) -> Result<(), Self::Error> {
        self.batch_execute("COMMIT")
    }
}
