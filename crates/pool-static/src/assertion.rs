//! The `Assertion` strategy: one connection, and an error for a second checkout.

use std::fmt::{self, Write as _};

use parking_lot::{Mutex, MutexGuard};
use pool_core::rt::{ReturnRuntime, ReturnTask};
use pool_core::{AsyncStrategy, BuildError, CheckoutError, CloseCause, Connector, Core, PoolEntry};
use pool_core::{PoolStatus, Strategy};

use crate::config::AssertionConfig;

/// SQLAlchemy's `AssertionPool` as a [`Strategy`]: one connection, at most one checkout
/// at a time, and a checkout while it is out is an error. Use it through the
/// [`AssertionPool`](crate::AssertionPool) alias, in tests, to prove that code never
/// holds two connections at once.
///
/// - **A second checkout fails at once**, from any thread, with
///   [`CheckoutError::Unavailable`] and the message `connection is already checked out`.
///   With [`AssertionConfig::store_traceback`](crate::AssertionConfig::store_traceback)
///   on (the default), each checkout captures a backtrace and the message goes on with
///   ` at:` and the backtrace of the checkout that holds the connection. Nothing waits.
/// - **One record**, made at the first checkout and kept (a first checkout whose connect
///   fails leaves none). The core replaces its connection when it is invalidated,
///   soft-invalidated, recycled or older than the pool generation.
/// - **`dispose` closes the idle connection** (the record stays and reconnects at its
///   next checkout) and, as in SQLAlchemy, forgets that the connection is checked out,
///   so a checkout after `dispose` succeeds even while the old holder still has its
///   connection. That checkout gets a new record; when the old holder returns its
///   connection, it is reset and closed, and its record is kept only if the pool has none
///   and nothing is checked out. The late return changes no count and panics nowhere.
///
/// Status: `size` 1, `idle` 1 while the record waits in the pool, `checked_out` 0 or 1,
/// `waiting` always 0; `status_line()` is `"AssertionPool"`.
///
/// # Differences from SQLAlchemy
///
/// - The error is a [`CheckoutError::Unavailable`], not an `AssertionError`; its message
///   is SQLAlchemy's (`connection is already checked out` and, with the backtrace, ` at:`
///   and the stack of the first checkout), with a Rust backtrace in place of Python's
///   stack.
/// - [`Pool::recreate`](pool_core::Pool::recreate) keeps `store_traceback`; SQLAlchemy's
///   `recreate()` does not pass it on, so its recreated pools always capture (semantics
///   §5.2, item 6).
/// - `dispose` while the connection is out closes it when it comes back; SQLAlchemy
///   closes it at once, under its holder, and both the old holder and the next checkout
///   then share one record. Here the next checkout gets its own record.
/// - A return the pool does not expect (only possible after `dispose`) is closed
///   quietly; SQLAlchemy raises `connection is not checked out` from it.
pub struct Assertion<C: Connector> {
    config: AssertionConfig,
    state: Mutex<State<C>>,
    /// Where async returns made outside a runtime run.
    runtime: ReturnRuntime,
}

struct State<C: Connector> {
    /// The record, while it waits in the pool.
    idle: Option<PoolEntry<C>>,
    /// The checkout in progress, if any (and `dispose` has not run since it began).
    out: Option<Out>,
    /// Numbers the first connects, to tell one from another across a `dispose`.
    next_connect: u64,
    /// Set by `close`: what comes back is closed, and the checkout stays counted until
    /// then (unlike `dispose`, which forgets it).
    closed: bool,
    /// Entries handed out.
    handed: u64,
}

/// The checkout the pool knows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    /// Opening the first connection: the number of that connect.
    Connecting(u64),
    /// Holding the record with this id.
    Record(u64),
}

impl<C: Connector> Assertion<C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock()
    }

    fn status_of(st: &State<C>) -> PoolStatus {
        PoolStatus::new(
            1,
            Some(1),
            usize::from(st.idle.is_some()),
            0,
            usize::from(st.out.is_some()),
            0,
        )
    }

    /// Whether checkouts capture a backtrace.
    pub fn store_traceback(&self) -> bool {
        self.config.store_traceback
    }

    /// Keeps `entry` as the pool's record if it has none and nothing is checked out;
    /// otherwise it is dropped (its connection is already closed).
    fn keep_if_alone(&self, entry: PoolEntry<C>) {
        let mut st = self.lock();
        if st.idle.is_none() && st.out.is_none() {
            st.idle = Some(entry);
        }
    }
}

/// How a checkout starts: with the idle entry, or by opening the connection.
enum Begin<'a, C: Connector> {
    Idle(PoolEntry<C>),
    Connect(UndoConnect<'a, C>),
}

impl<C: Connector> Assertion<C> {
    /// Refuses a second checkout, or takes the idle entry, or counts a first connect as
    /// checked out (undone if the connect fails, panics or is dropped).
    fn begin(&self, core: &Core<C>) -> Result<Begin<'_, C>, CheckoutError<C::Error>> {
        let mut st = self.lock();
        if st.closed {
            return Err(CheckoutError::PoolClosed);
        }
        if let Some(out) = st.out {
            drop(st);
            let mut message = String::from("connection is already checked out");
            // Where the holder took it: the core's record of its checkout (the lease
            // `leak_threshold` uses too), kept while `store_traceback` is on.
            let taken_at = match out {
                Out::Record(id) => core.checkout_backtrace(id),
                Out::Connecting(_) => None,
            };
            if let Some(taken_at) = taken_at {
                let _ = write!(message, " at:\n{taken_at}");
            }
            return Err(CheckoutError::Unavailable(message));
        }
        if let Some(entry) = st.idle.take() {
            st.out = Some(Out::Record(entry.record().id()));
            st.handed += 1;
            return Ok(Begin::Idle(entry));
        }
        // The first checkout (or the first after a failed first connect) opens the
        // connection outside the lock, counted as checked out meanwhile.
        let number = st.next_connect;
        st.next_connect += 1;
        st.out = Some(Out::Connecting(number));
        Ok(Begin::Connect(UndoConnect { pool: self, number, armed: true }))
    }
}

impl<C: Connector> UndoConnect<'_, C> {
    /// The connect succeeded: the entry is the one checked out.
    fn connected(&mut self, entry: PoolEntry<C>) -> PoolEntry<C> {
        self.armed = false;
        let mut st = self.pool.lock();
        st.handed += 1;
        if st.out == Some(Out::Connecting(self.number)) {
            st.out = Some(Out::Record(entry.record().id()));
        }
        // Otherwise `dispose` ran meanwhile and forgot this checkout: its return closes it.
        entry
    }
}

/// `get_async`: the same refusal of a second checkout; the first connect uses the
/// connector's `connect_async`.
impl<C: Connector> AsyncStrategy<C> for Assertion<C> {
    async fn acquire_async(&self, core: &Core<C>) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        self.runtime.note_current();
        match self.begin(core)? {
            Begin::Idle(entry) => Ok(entry),
            Begin::Connect(mut undo) => {
                let entry = core.new_entry_async().await?;
                Ok(undo.connected(entry))
            }
        }
    }

    fn run_return(&self, task: ReturnTask) {
        self.runtime.run_return(task);
    }
}

/// Unless disarmed, forgets a first connect that failed or panicked when dropped.
struct UndoConnect<'a, C: Connector> {
    pool: &'a Assertion<C>,
    number: u64,
    armed: bool,
}

impl<C: Connector> Drop for UndoConnect<'_, C> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = self.pool.lock();
            if st.out == Some(Out::Connecting(self.number)) {
                st.out = None;
            }
        }
    }
}

impl<C: Connector> Strategy<C> for Assertion<C> {
    type Config = AssertionConfig;

    const NAME: &'static str = "AssertionPool";

    fn build(config: &AssertionConfig) -> Result<Self, BuildError> {
        Ok(Assertion {
            config: config.clone(),
            state: Mutex::new(State {
                idle: None,
                out: None,
                next_connect: 0,
                closed: false,
                handed: 0,
            }),
            runtime: ReturnRuntime::new(),
        })
    }

    fn acquire(&self, core: &Core<C>) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        match self.begin(core)? {
            Begin::Idle(entry) => Ok(entry),
            Begin::Connect(mut undo) => {
                let entry = core.new_entry()?;
                Ok(undo.connected(entry))
            }
        }
    }

    fn release(&self, core: &Core<C>, mut entry: PoolEntry<C>) {
        let mut st = self.lock();
        if st.closed {
            if st.out == Some(Out::Record(entry.record().id())) {
                st.out = None;
            }
            drop(st);
            core.close_entry(&mut entry, CloseCause::Closed);
            return;
        }
        if st.out == Some(Out::Record(entry.record().id())) {
            debug_assert!(st.idle.is_none(), "an AssertionPool has one record");
            st.out = None;
            st.idle = Some(entry);
            return;
        }
        // `dispose` ran while this was out: close it (outside the lock: listeners run).
        drop(st);
        core.close_entry(&mut entry, CloseCause::Disposed);
        self.keep_if_alone(entry);
    }

    fn dispose(&self, core: &Core<C>) {
        let mut st = self.lock();
        st.out = None;
        let idle = st.idle.take();
        drop(st);
        if let Some(mut entry) = idle {
            core.close_entry(&mut entry, CloseCause::Disposed);
            self.keep_if_alone(entry);
        }
    }

    fn close(&self, core: &Core<C>) {
        let mut st = self.lock();
        st.closed = true;
        let idle = st.idle.take();
        drop(st);
        if let Some(mut entry) = idle {
            core.close_entry(&mut entry, CloseCause::Closed);
        }
    }

    /// Its one connection, if idle, for the core to close when the pool is dropped.
    fn drain_on_drop(&mut self) -> Vec<PoolEntry<C>> {
        self.state.get_mut().idle.take().filter(PoolEntry::is_connected).into_iter().collect()
    }

    fn traces_checkouts(&self) -> bool {
        self.config.store_traceback
    }

    fn handed_out(&self) -> u64 {
        self.lock().handed
    }

    fn status(&self) -> PoolStatus {
        Self::status_of(&self.lock())
    }

    fn status_line(&self) -> String {
        Self::NAME.to_owned()
    }
}

impl<C: Connector> fmt::Debug for Assertion<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assertion")
            .field("config", &self.config)
            .field("status", &Self::status_of(&self.lock()))
            .finish()
    }
}
