//! [`SqliteConnector`]: a [`Connector`] that opens `rusqlite` connections.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pool_core::Connector;
use rusqlite::ffi::{ErrorCode, SQLITE_READONLY_DBMOVED};
use rusqlite::{Connection, Error, OpenFlags};

/// A hook run on every new connection, after it is opened (PRAGMAs, functions, ...).
///
/// An error from it fails the connect and closes the connection.
pub type InitHook = dyn Fn(&Connection) -> rusqlite::Result<()> + Send + Sync + 'static;

/// The path SQLite reads as "a new private in-memory database".
const MEMORY: &str = ":memory:";

/// Opens, resets, pings and closes SQLite connections for a pool.
///
/// Built from a database path ([`new`](SqliteConnector::new)) or for an in-memory database
/// ([`memory`](SqliteConnector::memory)), then refined with
/// [`with_flags`](SqliteConnector::with_flags),
/// [`with_busy_timeout`](SqliteConnector::with_busy_timeout) and
/// [`with_init`](SqliteConnector::with_init). Cloning is cheap: the init hook is shared.
///
/// Each `:memory:` connection is its own empty database; see
/// [`is_memory`](SqliteConnector::is_memory).
#[derive(Clone)]
pub struct SqliteConnector {
    path: PathBuf,
    flags: OpenFlags,
    busy_timeout: Option<Duration>,
    init: Option<Arc<InitHook>>,
}

impl SqliteConnector {
    /// A connector for the database at `path`, opened with [`OpenFlags::default`]
    /// (read-write, create if missing, URI filenames allowed, no mutex).
    ///
    /// Nothing is opened until [`connect`](Connector::connect). `path` may also be a
    /// `file:` URI or `:memory:`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        SqliteConnector {
            path: path.as_ref().to_path_buf(),
            flags: OpenFlags::default(),
            busy_timeout: None,
            init: None,
        }
    }

    /// A connector for `:memory:`: every connection it opens is a new, private, empty
    /// database.
    pub fn memory() -> Self {
        SqliteConnector::new(MEMORY)
    }

    /// Opens connections with `flags` instead of [`OpenFlags::default`].
    ///
    /// Without `SQLITE_OPEN_CREATE`, connecting to a file that does not exist fails with
    /// `CannotOpen`.
    #[must_use]
    pub fn with_flags(mut self, flags: OpenFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Sets the busy timeout of every new connection: how long a statement waits for a
    /// lock held by another connection before failing with `SQLITE_BUSY`.
    ///
    /// Without it, connections keep rusqlite's default (5 seconds).
    #[must_use]
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = Some(timeout);
        self
    }

    /// Runs `init` on every new connection, after the busy timeout is set.
    ///
    /// This is the place for per-connection settings such as
    /// `PRAGMA foreign_keys = ON` or `PRAGMA journal_mode = WAL`. An error from `init`
    /// fails the connect. Calling this again replaces the previous hook.
    #[must_use]
    pub fn with_init<F>(mut self, init: F) -> Self
    where
        F: Fn(&Connection) -> rusqlite::Result<()> + Send + Sync + 'static,
    {
        self.init = Some(Arc::new(init));
        self
    }

    /// The database path (or URI, or `:memory:`) connections are opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The flags connections are opened with.
    pub fn flags(&self) -> OpenFlags {
        self.flags
    }

    /// The busy timeout set on new connections, if one was configured.
    pub fn busy_timeout(&self) -> Option<Duration> {
        self.busy_timeout
    }

    /// Whether every connection opened by this connector is a separate database that
    /// lives only as long as the connection.
    ///
    /// True for `:memory:` and for the empty path (a private temporary database), as in
    /// SQLAlchemy's pysqlite dialect. A pool over such a connector loses its data whenever
    /// a connection is closed, and its connections do not see each other's tables.
    /// Shared-cache URIs (`file::memory:?cache=shared`, `file:name?mode=memory&cache=shared`)
    /// are not private and report false.
    pub fn is_memory(&self) -> bool {
        let path = self.path.as_os_str();
        if path.is_empty() || path == MEMORY {
            return true;
        }
        if !self.flags.contains(OpenFlags::SQLITE_OPEN_URI) {
            return false;
        }
        let Some(uri) = path.to_str().and_then(|p| p.strip_prefix("file:")) else {
            return false;
        };
        let (name, query) = uri.split_once('?').unwrap_or((uri, ""));
        let params: Vec<&str> = query.split('&').collect();
        let memory = name == MEMORY || params.contains(&"mode=memory");
        memory && !params.contains(&"cache=shared")
    }
}

impl Default for SqliteConnector {
    /// The same as [`SqliteConnector::memory`].
    fn default() -> Self {
        SqliteConnector::memory()
    }
}

impl fmt::Debug for SqliteConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteConnector")
            .field("path", &self.path)
            .field("flags", &self.flags)
            .field("busy_timeout", &self.busy_timeout)
            .field("init", &self.init.as_ref().map(|_| "Fn(&Connection)"))
            .finish()
    }
}

impl Connector for SqliteConnector {
    type Connection = Connection;
    type Error = Error;
    // In-process: nothing to wait for, so a bounded connect needs no thread.
    const LOCAL: bool = true;

    /// Opens the database with the configured flags, sets the busy timeout, then runs the
    /// init hook.
    fn connect(&self) -> Result<Connection, Error> {
        let conn = Connection::open_with_flags(&self.path, self.flags)?;
        if let Some(timeout) = self.busy_timeout {
            conn.busy_timeout(timeout)?;
        }
        if let Some(init) = &self.init {
            init(&conn)?;
        }
        Ok(conn)
    }

    /// Executes `ROLLBACK` if a transaction is open; does nothing otherwise
    /// ([`rollback_if_open`]).
    #[inline]
    fn rollback(&self, conn: &mut Connection) -> Result<(), Error> {
        rollback_if_open(conn)
    }

    /// Executes `COMMIT` if a transaction is open; does nothing otherwise
    /// ([`commit_if_open`]).
    #[inline]
    fn commit(&self, conn: &mut Connection) -> Result<(), Error> {
        commit_if_open(conn)
    }

    /// Runs `SELECT 1` through the connection's statement cache.
    ///
    /// SQLite has no server to lose, so this rarely fails: it catches a connection whose
    /// database can no longer be read, not a deleted file whose pages are already cached.
    fn ping(&self, conn: &mut Connection) -> Option<Result<(), Error>> {
        let result = conn
            .prepare_cached("SELECT 1")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, i64>(0)))
            .map(|_| ());
        Some(result)
    }

    /// Closes the connection with `sqlite3_close`, returning its error if it fails.
    fn close(&self, conn: Connection) -> Result<(), Error> {
        conn.close().map_err(|(_conn, err)| err)
    }

    /// Whether `error` means the database file is gone or unusable; see the free
    /// function [`is_disconnect`] for the codes that count.
    fn is_disconnect(&self, error: &Error) -> bool {
        is_disconnect(error)
    }
}

/// Executes `ROLLBACK` if `conn` has a transaction open (`sqlite3_get_autocommit` says so);
/// does nothing otherwise, so no "no transaction is active" error is raised.
///
/// This is [`SqliteConnector`]'s reset on return, for other connectors over `rusqlite`
/// connections (`pool-r2d2` uses it for `r2d2_sqlite`'s).
///
/// ```
/// # fn main() -> Result<(), pool_sqlite::rusqlite::Error> {
/// let conn = pool_sqlite::rusqlite::Connection::open_in_memory()?;
/// pool_sqlite::rollback_if_open(&conn)?; // nothing open: nothing runs
/// conn.execute_batch("CREATE TABLE t (x INTEGER); BEGIN; INSERT INTO t VALUES (1);")?;
/// pool_sqlite::rollback_if_open(&conn)?;
/// assert!(conn.is_autocommit());
/// assert_eq!(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?, 0);
/// # Ok(())
/// # }
/// ```
#[inline]
pub fn rollback_if_open(conn: &Connection) -> Result<(), Error> {
    if conn.is_autocommit() {
        return Ok(());
    }
    conn.execute_batch("ROLLBACK")
}

/// Executes `COMMIT` if `conn` has a transaction open; does nothing otherwise.
///
/// The commit-mode counterpart of [`rollback_if_open`].
///
/// ```
/// # fn main() -> Result<(), pool_sqlite::rusqlite::Error> {
/// let conn = pool_sqlite::rusqlite::Connection::open_in_memory()?;
/// conn.execute_batch("CREATE TABLE t (x INTEGER); BEGIN; INSERT INTO t VALUES (1);")?;
/// pool_sqlite::commit_if_open(&conn)?;
/// pool_sqlite::commit_if_open(&conn)?; // nothing open any more: nothing runs
/// assert_eq!(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?, 1);
/// # Ok(())
/// # }
/// ```
#[inline]
pub fn commit_if_open(conn: &Connection) -> Result<(), Error> {
    if conn.is_autocommit() {
        return Ok(());
    }
    conn.execute_batch("COMMIT")
}

/// Whether `error` means the database file is gone or unusable.
///
/// SQLite runs in-process and has no server, so a "disconnect" is the database file
/// becoming unreachable or unreadable. These SQLite result codes count:
///
/// - `SQLITE_CANTOPEN` (`CannotOpen`): the file or its directory cannot be opened;
/// - `SQLITE_NOTADB` (`NotADatabase`): the file is not (or no longer) a database;
/// - `SQLITE_CORRUPT` (`DatabaseCorrupt`): the file is malformed;
/// - `SQLITE_IOERR` (`SystemIoFailure`) and all its extended codes: the OS failed to
///   read, write, lock or sync the file;
/// - `SQLITE_READONLY_DBMOVED`: the file was deleted or renamed under an open
///   connection.
///
/// Everything else is not a disconnect: SQL errors, constraint violations,
/// `SQLITE_BUSY`/`SQLITE_LOCKED` (contention, which a new connection would not fix),
/// conversion errors, and [`Error::InvalidPath`] (a path that cannot be passed to
/// SQLite is a configuration error that reconnecting repeats).
///
/// This is [`SqliteConnector`]'s [`is_disconnect`](Connector::is_disconnect), for other
/// connectors over `rusqlite` (`pool-r2d2`'s `with_disconnect(pool_sqlite::is_disconnect)`).
///
/// ```
/// # use pool_sqlite::rusqlite::Connection;
/// let conn = Connection::open_in_memory().unwrap();
/// let err = conn.execute_batch("SELEC 1").unwrap_err();
/// assert!(!pool_sqlite::is_disconnect(&err));
/// ```
pub fn is_disconnect(error: &Error) -> bool {
    error.sqlite_error().is_some_and(|err| {
        matches!(
            err.code,
            ErrorCode::CannotOpen
                | ErrorCode::NotADatabase
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::SystemIoFailure
        ) || err.extended_code == SQLITE_READONLY_DBMOVED
    })
}
