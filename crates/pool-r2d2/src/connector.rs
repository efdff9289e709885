//! [`R2d2Connector`]: any r2d2 [`ManageConnection`] as a pool-core [`Connector`].

use std::fmt;
use std::sync::Arc;

use pool_core::Connector;
use r2d2::ManageConnection;

use crate::Reset;

/// A rollback or a commit of a manager's connection.
type ResetFn<M> =
    fn(&mut <M as ManageConnection>::Connection) -> Result<(), <M as ManageConnection>::Error>;

/// Decides whether a manager's error means the connection is gone.
type Classifier<E> = dyn Fn(&E) -> bool + Send + Sync + 'static;

/// An r2d2 connection manager as a [`Connector`], so every pool strategy accepts it.
///
/// | `Connector` | r2d2 [`ManageConnection`] |
/// |---|---|
/// | [`connect`](Connector::connect) | [`connect`](ManageConnection::connect) |
/// | [`ping`](Connector::ping) (pre-ping) | [`is_valid`](ManageConnection::is_valid) |
/// | [`is_broken`](Connector::is_broken) (every return) | [`has_broken`](ManageConnection::has_broken): a broken connection is invalidated, not reset and pooled |
/// | [`rollback`](Connector::rollback), [`commit`](Connector::commit) | none: the connection's [`Reset`] ([`new`](R2d2Connector::new)), or nothing ([`without_reset`](R2d2Connector::without_reset)) |
/// | [`close`](Connector::close), [`terminate`](Connector::terminate) | none: the connection is dropped, as r2d2 does |
/// | [`is_disconnect`](Connector::is_disconnect) | none: the classifier given to [`with_disconnect`](R2d2Connector::with_disconnect), else the connection's [`Reset::is_disconnect`] ([`new`](R2d2Connector::new)), else false |
///
/// The connection and error types are the manager's own, so code that uses the
/// connections does not change.
///
/// # Example
///
/// ```
/// use pool_core::Connector;
/// use pool_r2d2::R2d2Connector;
/// use r2d2_sqlite::SqliteConnectionManager;
///
/// let connector = R2d2Connector::new(SqliteConnectionManager::memory());
/// let mut conn = connector.connect().unwrap();
/// conn.execute_batch("CREATE TABLE t (x INTEGER); BEGIN; INSERT INTO t VALUES (1);").unwrap();
///
/// connector.rollback(&mut conn).unwrap(); // what reset on return does
/// assert!(conn.is_autocommit());
/// connector.ping(&mut conn).expect("r2d2 managers can ping").unwrap(); // `is_valid`
/// assert!(!connector.is_broken(&mut conn)); // `has_broken`
/// ```
pub struct R2d2Connector<M: ManageConnection> {
    manager: M,
    reset: Option<Resetter<M>>,
    disconnect: Option<Arc<Classifier<M::Error>>>,
}

/// How a connector with reset rolls back and commits, and which errors are disconnects:
/// the connection's [`Reset`], with its error converted to the manager's.
struct Resetter<M: ManageConnection> {
    rollback: ResetFn<M>,
    commit: ResetFn<M>,
    is_disconnect: fn(&(dyn std::error::Error + 'static)) -> bool,
}

impl<M: ManageConnection> Clone for Resetter<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: ManageConnection> Copy for Resetter<M> {}

fn rollback<M>(conn: &mut M::Connection) -> Result<(), M::Error>
where
    M: ManageConnection,
    M::Connection: Reset,
    M::Error: From<<M::Connection as Reset>::Error>,
{
    conn.rollback().map_err(M::Error::from)
}

fn commit<M>(conn: &mut M::Connection) -> Result<(), M::Error>
where
    M: ManageConnection,
    M::Connection: Reset,
    M::Error: From<<M::Connection as Reset>::Error>,
{
    conn.commit().map_err(M::Error::from)
}

impl<M: ManageConnection> R2d2Connector<M> {
    /// A connector over `manager` that resets returned connections with their [`Reset`]
    /// implementation (rollback by default, commit with `ResetOnReturn::Commit`) and
    /// classifies disconnects with it ([`Reset::is_disconnect`]; no setting needed).
    ///
    /// `rusqlite::Connection` (r2d2_sqlite) and `postgres::Client` (r2d2_postgres)
    /// implement [`Reset`] behind this crate's `sqlite` and `postgres` features: a
    /// session the server ended or a database file gone counts as a disconnect, so a
    /// pre-ping that finds one replaces it and every older connection. For a manager
    /// whose connections do not, use [`without_reset`](R2d2Connector::without_reset).
    ///
    /// ```
    /// use pool_r2d2::R2d2Connector;
    /// use r2d2_sqlite::SqliteConnectionManager;
    ///
    /// let connector = R2d2Connector::new(SqliteConnectionManager::file("app.db"));
    /// # let _ = connector;
    /// ```
    pub fn new(manager: M) -> Self
    where
        M::Connection: Reset,
        M::Error: From<<M::Connection as Reset>::Error>,
    {
        R2d2Connector {
            manager,
            reset: Some(Resetter {
                rollback: rollback::<M>,
                commit: commit::<M>,
                is_disconnect: <M::Connection as Reset>::is_disconnect,
            }),
            disconnect: None,
        }
    }

    /// A connector over any `manager`, whose rollback and commit do nothing.
    ///
    /// Returned connections are pooled as they are, with whatever transaction they had
    /// open, as r2d2 pools them. Build the pool with
    /// `.reset_on_return(ResetOnReturn::Nothing)` to say so, or end transactions in a
    /// `reset` listener ([`PoolListener::reset`](pool_core::PoolListener::reset)), which
    /// runs at every return whatever the mode.
    ///
    /// ```
    /// use pool_core::ResetOnReturn;
    /// use pool_queue::QueuePool;
    /// use pool_r2d2::R2d2Connector;
    /// use r2d2_sqlite::SqliteConnectionManager;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let connector = R2d2Connector::without_reset(SqliteConnectionManager::memory());
    /// let pool = QueuePool::builder(connector).reset_on_return(ResetOnReturn::Nothing).build()?;
    /// let conn = pool.get()?;
    /// conn.execute_batch("BEGIN")?;
    /// drop(conn); // pooled with its transaction still open
    /// assert!(!pool.get()?.is_autocommit());
    /// # Ok(())
    /// # }
    /// ```
    pub fn without_reset(manager: M) -> Self {
        R2d2Connector { manager, reset: None, disconnect: None }
    }

    /// Counts the errors for which `is_disconnect` returns true as disconnects, instead
    /// of the connection's [`Reset::is_disconnect`]: a pre-ping (`is_valid`) failing with
    /// one invalidates the whole pool and reconnects, and
    /// [`PooledConnection::handle_error`](pool_core::PooledConnection::handle_error)
    /// invalidates on one. Calling this again replaces the previous classifier.
    ///
    /// r2d2_sqlite's and r2d2_postgres's connections need none: [`new`](Self::new) uses
    /// theirs (`pool_r2d2::sqlite_is_disconnect`, `pool_r2d2::postgres_is_disconnect`).
    /// This is for other managers, above all with
    /// [`without_reset`](Self::without_reset), where no error is a disconnect otherwise: a
    /// failing pre-ping then invalidates only that connection and fails the checkout with
    /// [`CheckoutError::Ping`](pool_core::CheckoutError::Ping).
    ///
    /// ```
    /// use pool_core::Connector;
    /// use pool_r2d2::R2d2Connector;
    /// use r2d2_sqlite::SqliteConnectionManager;
    ///
    /// let connector = R2d2Connector::new(SqliteConnectionManager::file("/no/such/dir/app.db"))
    ///     .with_disconnect(|e: &r2d2_sqlite::rusqlite::Error| {
    ///         e.sqlite_error_code() == Some(r2d2_sqlite::rusqlite::ErrorCode::CannotOpen)
    ///     });
    /// let err = connector.connect().unwrap_err(); // SQLITE_CANTOPEN
    /// assert!(connector.is_disconnect(&err));
    /// ```
    #[must_use]
    pub fn with_disconnect<F>(mut self, is_disconnect: F) -> Self
    where
        F: Fn(&M::Error) -> bool + Send + Sync + 'static,
    {
        self.disconnect = Some(Arc::new(is_disconnect));
        self
    }

    /// The r2d2 manager.
    ///
    /// ```
    /// use pool_r2d2::R2d2Connector;
    /// use r2d2_sqlite::SqliteConnectionManager;
    ///
    /// let connector = R2d2Connector::new(SqliteConnectionManager::memory());
    /// assert!(format!("{:?}", connector.manager()).starts_with("SqliteConnectionManager"));
    /// ```
    pub fn manager(&self) -> &M {
        &self.manager
    }
}

impl<M: ManageConnection + Clone> Clone for R2d2Connector<M> {
    /// Clones the manager; the classifier is shared.
    fn clone(&self) -> Self {
        R2d2Connector {
            manager: self.manager.clone(),
            reset: self.reset,
            disconnect: self.disconnect.clone(),
        }
    }
}

impl<M: ManageConnection> fmt::Debug for R2d2Connector<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("R2d2Connector")
            .field("manager", &std::any::type_name::<M>())
            .field("reset", &self.reset.is_some())
            .field("disconnect", &self.disconnect.as_ref().map(|_| "Fn(&Error) -> bool"))
            .finish()
    }
}

impl<M> Connector for R2d2Connector<M>
where
    M: ManageConnection,
    M::Error: Send + Sync,
{
    type Connection = M::Connection;
    type Error = M::Error;

    /// The manager's [`connect`](ManageConnection::connect).
    fn connect(&self) -> Result<M::Connection, M::Error> {
        self.manager.connect()
    }

    /// The connection's [`Reset::rollback`], or nothing without reset.
    fn rollback(&self, conn: &mut M::Connection) -> Result<(), M::Error> {
        match &self.reset {
            Some(reset) => (reset.rollback)(conn),
            None => Ok(()),
        }
    }

    /// The connection's [`Reset::commit`], or nothing without reset.
    fn commit(&self, conn: &mut M::Connection) -> Result<(), M::Error> {
        match &self.reset {
            Some(reset) => (reset.commit)(conn),
            None => Ok(()),
        }
    }

    /// The manager's [`is_valid`](ManageConnection::is_valid).
    fn ping(&self, conn: &mut M::Connection) -> Option<Result<(), M::Error>> {
        Some(self.manager.is_valid(conn))
    }

    /// The manager's [`has_broken`](ManageConnection::has_broken).
    fn is_broken(&self, conn: &mut M::Connection) -> bool {
        self.manager.has_broken(conn)
    }

    /// The classifier given to [`with_disconnect`](R2d2Connector::with_disconnect), else
    /// the connection's [`Reset::is_disconnect`] (with reset), else false.
    fn is_disconnect(&self, error: &M::Error) -> bool {
        match (&self.disconnect, &self.reset) {
            (Some(is_disconnect), _) => is_disconnect(error),
            (None, Some(reset)) => (reset.is_disconnect)(error),
            (None, None) => false,
        }
    }
}
