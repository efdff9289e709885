//! The scripted connector: SQLAlchemy's `MockDBAPI`, with a call log and fault injection.

use std::collections::HashSet;
use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pool_core::Connector;

use crate::log::{Call, CallLog};

/// What a scripted operation fails with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedError {
    disconnect: bool,
    message: String,
}

impl ScriptedError {
    /// An error that means the connection is gone.
    pub fn disconnect(message: impl Into<String>) -> Self {
        ScriptedError { disconnect: true, message: message.into() }
    }

    /// Any other error.
    pub fn other(message: impl Into<String>) -> Self {
        ScriptedError { disconnect: false, message: message.into() }
    }

    /// Whether the connector classifies this as a disconnect.
    pub fn is_disconnect(&self) -> bool {
        self.disconnect
    }
}

impl fmt::Display for ScriptedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for ScriptedError {}

/// A budget of upcoming failures: the next `n` calls fail.
#[derive(Debug, Default)]
struct Budget(AtomicUsize);

impl Budget {
    fn set(&self, n: usize) {
        self.0.store(n, Ordering::SeqCst);
    }

    /// Consumes one failure if any is left.
    fn take(&self) -> bool {
        self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

#[derive(Debug, Default)]
struct ScriptState {
    log: CallLog,
    fail_connects: Budget,
    panic_connects: Budget,
    shut_down: AtomicBool,
    fail_pings: Budget,
    ping_failure_is_disconnect: AtomicBool,
    fail_rollbacks: Budget,
    fail_commits: Budget,
    panic_rollbacks: Budget,
    fail_closes: Budget,
    no_ping: AtomicBool,
    connect_delay: Mutex<Option<Duration>>,
    dead: Mutex<HashSet<u64>>,
    broken: Mutex<HashSet<u64>>,
    connect_attempts: AtomicUsize,
}

/// The controls of a [`ScriptedConnector`]: its call log and the faults it injects.
///
/// Cloning shares the script.
#[derive(Debug, Clone, Default)]
pub struct Script {
    state: Arc<ScriptState>,
}

impl Script {
    /// A script with no faults.
    pub fn new() -> Self {
        Script::default()
    }

    /// A connector that follows this script.
    pub fn connector(&self) -> ScriptedConnector {
        ScriptedConnector { script: self.clone() }
    }

    /// The call log.
    pub fn log(&self) -> &CallLog {
        &self.state.log
    }

    /// The next `n` connects fail with "connect failed".
    pub fn fail_connects(&self, n: usize) {
        self.state.fail_connects.set(n);
    }

    /// Every connect tried so far, failed ones included.
    pub fn connect_attempts(&self) -> usize {
        self.state.connect_attempts.load(Ordering::SeqCst)
    }

    /// The next `n` connects panic.
    pub fn panic_connects(&self, n: usize) {
        self.state.panic_connects.set(n);
    }

    /// While shut down, every connect fails (SQLAlchemy's `MockDBAPI.shutdown`).
    pub fn shutdown(&self, down: bool) {
        self.state.shut_down.store(down, Ordering::SeqCst);
    }

    /// The next `n` pings fail; with `disconnect`, with an error that means the
    /// connection is gone.
    pub fn fail_pings(&self, n: usize, disconnect: bool) {
        self.state.ping_failure_is_disconnect.store(disconnect, Ordering::SeqCst);
        self.state.fail_pings.set(n);
    }

    /// The next `n` rollbacks fail.
    pub fn fail_rollbacks(&self, n: usize) {
        self.state.fail_rollbacks.set(n);
    }

    /// The next `n` commits fail.
    pub fn fail_commits(&self, n: usize) {
        self.state.fail_commits.set(n);
    }

    /// The next `n` rollbacks panic.
    pub fn panic_rollbacks(&self, n: usize) {
        self.state.panic_rollbacks.set(n);
    }

    /// The next `n` closes (graceful or not) fail after closing.
    pub fn fail_closes(&self, n: usize) {
        self.state.fail_closes.set(n);
    }

    /// The connector says it cannot ping.
    pub fn disable_ping(&self) {
        self.state.no_ping.store(true, Ordering::SeqCst);
    }

    /// Every connect sleeps this long first (`None`: no delay).
    pub fn connect_delay(&self, delay: Option<Duration>) {
        *self.state.connect_delay.lock() = delay;
    }

    /// Connection `id` is gone: pings, resets and use fail with a disconnect.
    pub fn kill(&self, id: u64) {
        self.state.dead.lock().insert(id);
    }

    /// Every connection opened so far is gone.
    pub fn kill_all(&self) {
        let calls = self.state.log.calls();
        let opened = calls.iter().filter_map(|c| match c {
            Call::Connect(id) => Some(*id),
            _ => None,
        });
        self.state.dead.lock().extend(opened);
    }

    /// Connection `id` reports itself broken when returned (`Connector::is_broken`).
    pub fn mark_broken(&self, id: u64) {
        self.state.broken.lock().insert(id);
    }

    fn is_dead(&self, id: u64) -> bool {
        self.state.dead.lock().contains(&id)
    }
}

/// A connector whose behaviour a test scripts (see [`Script`]).
#[derive(Debug, Clone)]
pub struct ScriptedConnector {
    script: Script,
}

impl ScriptedConnector {
    /// The script this connector follows.
    pub fn script(&self) -> &Script {
        &self.script
    }
}

/// A connection of the [`ScriptedConnector`].
#[derive(Debug)]
pub struct ScriptedConnection {
    id: u64,
    script: Script,
}

impl ScriptedConnection {
    /// The id the call log uses for this connection.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Uses the connection: fails with a disconnect once it was killed.
    pub fn execute(&mut self) -> Result<(), ScriptedError> {
        if self.script.is_dead(self.id) {
            Err(ScriptedError::disconnect("server closed the connection unexpectedly"))
        } else {
            Ok(())
        }
    }
}

impl Connector for ScriptedConnector {
    type Connection = ScriptedConnection;
    type Error = ScriptedError;

    fn connect(&self) -> Result<ScriptedConnection, ScriptedError> {
        let state = &self.script.state;
        state.connect_attempts.fetch_add(1, Ordering::SeqCst);
        let delay = *state.connect_delay.lock();
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        if state.panic_connects.take() {
            panic!("scripted connect panic");
        }
        if state.shut_down.load(Ordering::SeqCst) || state.fail_connects.take() {
            return Err(ScriptedError::other("connect failed"));
        }
        let id = state.log.next_id();
        state.log.push(Call::Connect(id));
        Ok(ScriptedConnection { id, script: self.script.clone() })
    }

    fn rollback(&self, conn: &mut ScriptedConnection) -> Result<(), ScriptedError> {
        let state = &self.script.state;
        state.log.push(Call::Rollback(conn.id));
        if state.panic_rollbacks.take() {
            panic!("scripted rollback panic");
        }
        if state.fail_rollbacks.take() {
            return Err(ScriptedError::other("rollback failed"));
        }
        conn.execute()
    }

    fn commit(&self, conn: &mut ScriptedConnection) -> Result<(), ScriptedError> {
        let state = &self.script.state;
        state.log.push(Call::Commit(conn.id));
        if state.fail_commits.take() {
            return Err(ScriptedError::other("commit failed"));
        }
        conn.execute()
    }

    fn ping(&self, conn: &mut ScriptedConnection) -> Option<Result<(), ScriptedError>> {
        let state = &self.script.state;
        if state.no_ping.load(Ordering::SeqCst) {
            return None;
        }
        state.log.push(Call::Ping(conn.id));
        if state.fail_pings.take() {
            return Some(Err(if state.ping_failure_is_disconnect.load(Ordering::SeqCst) {
                ScriptedError::disconnect("ping: connection lost")
            } else {
                ScriptedError::other("ping: syntax error")
            }));
        }
        Some(conn.execute())
    }

    fn close(&self, conn: ScriptedConnection) -> Result<(), ScriptedError> {
        self.script.state.log.push(Call::Close(conn.id));
        self.close_result()
    }

    fn terminate(&self, conn: ScriptedConnection) -> Result<(), ScriptedError> {
        self.script.state.log.push(Call::Terminate(conn.id));
        self.close_result()
    }

    fn is_disconnect(&self, error: &ScriptedError) -> bool {
        error.is_disconnect()
    }

    fn is_broken(&self, conn: &mut ScriptedConnection) -> bool {
        self.script.state.broken.lock().contains(&conn.id)
    }
}

impl ScriptedConnector {
    fn close_result(&self) -> Result<(), ScriptedError> {
        if self.script.state.fail_closes.take() {
            Err(ScriptedError::other("close failed"))
        } else {
            Ok(())
        }
    }
}
