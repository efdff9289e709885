//! [`Reset`]: how a connection rolls back or commits on return, which r2d2 managers cannot do.

/// Rolls back or commits whatever a connection has open, for reset on return.
///
/// An r2d2 [`ManageConnection`](r2d2::ManageConnection) can connect, check and report a
/// connection broken, but has no way to end a transaction, so reset on return needs the
/// connection type to say how. [`R2d2Connector::new`](crate::R2d2Connector::new) takes a
/// manager whose connections implement this trait; for any other manager use
/// [`R2d2Connector::without_reset`](crate::R2d2Connector::without_reset).
///
/// The trait also carries the connection type's disconnect classification
/// ([`is_disconnect`](Reset::is_disconnect)), so a connector over a manager this crate
/// knows recognises a dead connection with no setting.
///
/// Implemented, behind features, for:
///
/// - `rusqlite::Connection` (feature `sqlite`, for `r2d2_sqlite`): `ROLLBACK` or `COMMIT`
///   only when a transaction is open, as `pool-sqlite`'s connector does; disconnects as
///   `pool_r2d2::sqlite_is_disconnect` classifies them;
/// - `postgres::Client` (feature `postgres`, for `r2d2_postgres`): asks the server whether
///   a transaction is open (one round trip, `pool_postgres::end_transaction`) and sends
///   `ROLLBACK` or `COMMIT` only then, so PostgreSQL logs no "there is no transaction in
///   progress" warning per return; disconnects as `pool_r2d2::postgres_is_disconnect`
///   classifies them.
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
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `pool_r2d2::Reset`: `R2d2Connector::new` cannot reset it on return",
    label = "the manager's connection type must implement `pool_r2d2::Reset`",
    note = "for r2d2_sqlite enable pool-r2d2's `sqlite` feature, for r2d2_postgres its `postgres` \
            feature (through the facade: sqlpool's features [\"r2d2\", \"sqlite\"] or \
            [\"r2d2\", \"postgres\"]); the manager crate must be the version pool-r2d2 names \
            (r2d2_sqlite 0.35, r2d2_postgres 0.18)",
    note = "for any other manager use `R2d2Connector::without_reset`, or implement `Reset` for \
            its connection type"
)]
pub trait Reset {
    /// The error a rollback or commit returns; the manager's error must convert from it
    /// (it usually is the same type).
    type Error;

    /// Whether an error of this connection's manager means the connection is gone (the
    /// server ended the session, the file is unreadable): the disconnect classification
    /// [`R2d2Connector::new`](crate::R2d2Connector::new) uses, with no setting.
    ///
    /// `error` is the manager's error, as a trait object, to be downcast to the types
    /// this connection knows. The default says no to everything: then a failing pre-ping
    /// fails its checkout instead of replacing the pool's connections.
    /// [`R2d2Connector::with_disconnect`](crate::R2d2Connector::with_disconnect) overrides
    /// it.
    fn is_disconnect(error: &(dyn std::error::Error + 'static)) -> bool {
        let _ = error;
        false
    }

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

    /// A `rusqlite` error for which [`sqlite_is_disconnect`](crate::sqlite_is_disconnect)
    /// says yes.
    fn is_disconnect(error: &(dyn std::error::Error + 'static)) -> bool {
        error.downcast_ref().is_some_and(crate::sqlite_is_disconnect)
    }
}

#[cfg(feature = "postgres")]
impl Reset for postgres::Client {
    type Error = postgres::Error;

    /// `ROLLBACK` if a transaction is open or failed; nothing else if none is.
    fn rollback(&mut self) -> Result<(), Self::Error> {
        pool_postgres::end_transaction(self, "ROLLBACK")
    }

    /// `COMMIT` if a transaction is open (a failed one is rolled back); nothing else if
    /// none is.
    fn commit(&mut self) -> Result<(), Self::Error> {
        pool_postgres::end_transaction(self, "COMMIT")
    }

    /// A `postgres` error for which
    /// [`postgres_is_disconnect`](crate::postgres_is_disconnect) says yes.
    fn is_disconnect(error: &(dyn std::error::Error + 'static)) -> bool {
        error.downcast_ref().is_some_and(crate::postgres_is_disconnect)
    }
}
