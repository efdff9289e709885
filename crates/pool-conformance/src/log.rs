//! The call log every test connector keeps, and a wrapper that adds one to any connector.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pool_core::{Connector, OperationTimeout};

/// One call the pool made on a connector, with the connection it concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// A connection was opened.
    Connect(u64),
    /// A rollback ran (reset on return).
    Rollback(u64),
    /// A commit ran (reset on return in commit mode).
    Commit(u64),
    /// A ping ran (pre-ping).
    Ping(u64),
    /// A graceful close (dispose, overflow return).
    Close(u64),
    /// An abrupt close (invalidation, recycle).
    Terminate(u64),
}

impl Call {
    /// The connection the call concerned.
    pub fn id(self) -> u64 {
        match self {
            Call::Connect(id)
            | Call::Rollback(id)
            | Call::Commit(id)
            | Call::Ping(id)
            | Call::Close(id)
            | Call::Terminate(id) => id,
        }
    }

    /// Whether this call closed the connection (gracefully or not).
    pub fn is_close(self) -> bool {
        matches!(self, Call::Close(_) | Call::Terminate(_))
    }
}

/// A shared, ordered log of [`Call`]s, with the ids it hands to new connections.
#[derive(Clone, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<Call>>>,
    next_id: Arc<AtomicU64>,
}

impl CallLog {
    /// An empty log.
    pub fn new() -> Self {
        CallLog::default()
    }

    /// The next connection id (ids start at 1).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Appends a call.
    pub fn push(&self, call: Call) {
        self.calls.lock().push(call);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().clone()
    }

    /// Forgets the calls so far (ids keep counting).
    pub fn clear(&self) {
        self.calls.lock().clear();
    }

    /// How many calls match `pred`.
    pub fn count(&self, pred: impl Fn(Call) -> bool) -> usize {
        self.calls.lock().iter().filter(|c| pred(**c)).count()
    }

    /// How many connections were opened.
    pub fn connects(&self) -> usize {
        self.count(|c| matches!(c, Call::Connect(_)))
    }

    /// Connections opened and not closed since.
    pub fn open(&self) -> usize {
        let calls = self.calls.lock();
        let opened = calls.iter().filter(|c| matches!(c, Call::Connect(_))).count();
        opened - calls.iter().filter(|c| c.is_close()).count()
    }

    /// Waits (up to 10 s: a dropped pool closes its idle connections on a thread of its
    /// own) until every connection opened was closed exactly once; how many were opened,
    /// or which were closed twice or never.
    pub fn closed_once(&self) -> Result<usize, String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mut opened: std::collections::HashMap<u64, usize> = Default::default();
            for call in self.calls() {
                match call {
                    Call::Connect(id) => {
                        opened.entry(id).or_insert(0);
                    }
                    call if call.is_close() => *opened.entry(call.id()).or_insert(0) += 1,
                    _ => {}
                }
            }
            let twice: Vec<_> = opened.iter().filter(|(_, n)| **n > 1).map(|(id, _)| *id).collect();
            if !twice.is_empty() {
                return Err(format!("connections closed more than once: {twice:?}"));
            }
            let never: Vec<_> =
                opened.iter().filter(|(_, n)| **n == 0).map(|(id, _)| *id).collect();
            if never.is_empty() {
                return Ok(opened.len());
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("connections never closed: {never:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The calls that concern connection `id`.
    pub fn calls_for(&self, id: u64) -> Vec<Call> {
        self.calls.lock().iter().copied().filter(|c| c.id() == id).collect()
    }
}

impl fmt::Debug for CallLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.calls.lock().iter()).finish()
    }
}

/// Wraps a real connector so that its connections carry ids and its calls are logged,
/// like the scripted connector's.
#[derive(Debug, Clone)]
pub struct Recorded<C> {
    inner: Arc<C>,
    log: CallLog,
}

impl<C> Recorded<C> {
    /// Wraps `inner`, logging into `log`.
    pub fn new(inner: C, log: CallLog) -> Self {
        Recorded { inner: Arc::new(inner), log }
    }

    /// The log.
    pub fn log(&self) -> &CallLog {
        &self.log
    }
}

/// A connection of a [`Recorded`] connector: the real one, with an id.
#[derive(Debug)]
pub struct Numbered<T> {
    id: u64,
    conn: T,
}

impl<T> Numbered<T> {
    /// The id the log uses for this connection.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl<T> Deref for Numbered<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.conn
    }
}

impl<T> DerefMut for Numbered<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.conn
    }
}

impl<C: Connector> Connector for Recorded<C> {
    type Connection = Numbered<C::Connection>;
    type Error = C::Error;

    const ASYNC_IO: bool = C::ASYNC_IO;
    const LOCAL: bool = C::LOCAL;

    fn connect(&self) -> Result<Self::Connection, C::Error> {
        let conn = self.inner.connect()?;
        let id = self.log.next_id();
        self.log.push(Call::Connect(id));
        Ok(Numbered { id, conn })
    }

    fn rollback(&self, conn: &mut Self::Connection) -> Result<(), C::Error> {
        self.log.push(Call::Rollback(conn.id));
        self.inner.rollback(&mut conn.conn)
    }

    fn commit(&self, conn: &mut Self::Connection) -> Result<(), C::Error> {
        self.log.push(Call::Commit(conn.id));
        self.inner.commit(&mut conn.conn)
    }

    fn ping(&self, conn: &mut Self::Connection) -> Option<Result<(), C::Error>> {
        self.log.push(Call::Ping(conn.id));
        self.inner.ping(&mut conn.conn)
    }

    fn ping_within(
        &self,
        conn: &mut Self::Connection,
        bound: Duration,
    ) -> Result<Option<Result<(), C::Error>>, OperationTimeout> {
        self.log.push(Call::Ping(conn.id));
        self.inner.ping_within(&mut conn.conn, bound)
    }

    fn rollback_within(
        &self,
        conn: &mut Self::Connection,
        bound: Duration,
    ) -> Result<Result<(), C::Error>, OperationTimeout> {
        self.log.push(Call::Rollback(conn.id));
        self.inner.rollback_within(&mut conn.conn, bound)
    }

    fn commit_within(
        &self,
        conn: &mut Self::Connection,
        bound: Duration,
    ) -> Result<Result<(), C::Error>, OperationTimeout> {
        self.log.push(Call::Commit(conn.id));
        self.inner.commit_within(&mut conn.conn, bound)
    }

    fn close(&self, conn: Self::Connection) -> Result<(), C::Error> {
        self.log.push(Call::Close(conn.id));
        self.inner.close(conn.conn)
    }

    fn terminate(&self, conn: Self::Connection) -> Result<(), C::Error> {
        self.log.push(Call::Terminate(conn.id));
        self.inner.terminate(conn.conn)
    }

    fn is_disconnect(&self, error: &C::Error) -> bool {
        self.inner.is_disconnect(error)
    }

    fn is_broken(&self, conn: &mut Self::Connection) -> bool {
        self.inner.is_broken(&mut conn.conn)
    }

    async fn connect_async(&self) -> Result<Self::Connection, C::Error> {
        let conn = self.inner.connect_async().await?;
        let id = self.log.next_id();
        self.log.push(Call::Connect(id));
        Ok(Numbered { id, conn })
    }

    async fn rollback_async(&self, conn: &mut Self::Connection) -> Result<(), C::Error> {
        self.log.push(Call::Rollback(conn.id));
        self.inner.rollback_async(&mut conn.conn).await
    }

    async fn commit_async(&self, conn: &mut Self::Connection) -> Result<(), C::Error> {
        self.log.push(Call::Commit(conn.id));
        self.inner.commit_async(&mut conn.conn).await
    }

    async fn ping_async(&self, conn: &mut Self::Connection) -> Option<Result<(), C::Error>> {
        self.log.push(Call::Ping(conn.id));
        self.inner.ping_async(&mut conn.conn).await
    }
}
