//! The `SingletonThread` strategy: one connection per thread.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Weak};
use std::thread::ThreadId;

use parking_lot::Mutex;
use pool_core::{
    BuildError, CheckoutError, CloseCause, Connector, Core, PoolEntry, PoolStatus, Strategy,
};

use crate::exit::at_thread_exit;

/// The settings of a [`SingletonThread`] strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SingletonThreadConfig {
    /// How many connections are kept at most; set with [`pool_size`](Self::pool_size).
    pub pool_size: usize,
}

impl Default for SingletonThreadConfig {
    fn default() -> Self {
        SingletonThreadConfig { pool_size: 5 }
    }
}

impl SingletonThreadConfig {
    /// How many connections are kept at most (default 5); one per thread, so with more
    /// threads than this, idle connections of other threads are closed to make room.
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }
}

/// SQLAlchemy's `SingletonThreadPool` as a [`Strategy`]: each thread has its own
/// connection, kept between its checkouts.
///
/// Use it through the [`SingletonThreadPool`](crate::SingletonThreadPool) alias; see the
/// crate docs for how it differs from SQLAlchemy's.
pub struct SingletonThread<C: Connector> {
    config: SingletonThreadConfig,
    shared: Arc<Mutex<State<C>>>,
}

struct State<C: Connector> {
    /// Each thread's connection: idle, or checked out (with its record id).
    threads: Threads<C>,
    /// Idle connections of threads that ended, for new threads to adopt.
    orphans: Vec<PoolEntry<C>>,
    /// Checked-out connections whose thread ended before they came back.
    abandoned: Vec<u64>,
    /// Threads that will tell this pool when they end.
    hooked: HashSet<ThreadId>,
    /// Set by `close`: checkouts fail, returns are closed.
    closed: bool,
    /// Entries handed out.
    handed: u64,
}

enum Slot<C: Connector> {
    Idle(PoolEntry<C>),
    Out(u64),
}

/// The threads' slots, in a vector searched from the front: there are about `pool_size`
/// of them, and comparing a few ids costs less than hashing one (the map this replaced
/// spent two thirds of a checkout's instructions hashing).
struct Threads<C: Connector>(Vec<(ThreadId, Slot<C>)>);

impl<C: Connector> Threads<C> {
    fn get_mut(&mut self, thread: ThreadId) -> Option<&mut Slot<C>> {
        self.0.iter_mut().find(|(t, _)| *t == thread).map(|(_, slot)| slot)
    }

    fn insert(&mut self, thread: ThreadId, slot: Slot<C>) {
        match self.get_mut(thread) {
            Some(old) => *old = slot,
            None => self.0.push((thread, slot)),
        }
    }

    fn remove(&mut self, thread: ThreadId) -> Option<Slot<C>> {
        self.remove_first(|t, _| t == thread)
    }

    /// Removes the first slot for which `pick(thread, slot)` holds.
    fn remove_first(&mut self, pick: impl Fn(ThreadId, &Slot<C>) -> bool) -> Option<Slot<C>> {
        let i = self.0.iter().position(|(t, slot)| pick(*t, slot))?;
        Some(self.0.swap_remove(i).1)
    }

    /// Removes every idle slot, keeping the ones out.
    fn drain_idle(&mut self) -> impl Iterator<Item = PoolEntry<C>> {
        let (out, idle): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.0).into_iter().partition(|(_, s)| matches!(s, Slot::Out(_)));
        self.0 = out;
        idle.into_iter().filter_map(|(_, slot)| match slot {
            Slot::Idle(entry) => Some(entry),
            Slot::Out(_) => None,
        })
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn slots(&self) -> impl Iterator<Item = &Slot<C>> {
        self.0.iter().map(|(_, slot)| slot)
    }

    /// The slot of the thread holding the connection of `record`.
    fn holding(&mut self, record: u64) -> Option<(ThreadId, &mut Slot<C>)> {
        self.0
            .iter_mut()
            .find(|(_, s)| matches!(s, Slot::Out(r) if *r == record))
            .map(|(t, s)| (*t, s))
    }
}

impl<C: Connector> State<C> {
    fn kept(&self) -> usize {
        self.threads.len() + self.orphans.len() + self.abandoned.len()
    }

    fn out(&self) -> usize {
        self.threads.slots().filter(|s| matches!(s, Slot::Out(_))).count() + self.abandoned.len()
    }

    /// Takes every idle connection: the orphans' and each thread's.
    fn take_idle(&mut self) -> Vec<PoolEntry<C>> {
        let mut idle: Vec<_> = self.orphans.drain(..).collect();
        idle.extend(self.threads.drain_idle());
        idle
    }

    /// Takes an idle connection of another thread, to close it and make room.
    fn evict_idle(&mut self, me: ThreadId) -> Option<PoolEntry<C>> {
        if let Some(orphan) = self.orphans.pop() {
            return Some(orphan);
        }
        match self.threads.remove_first(|id, slot| id != me && matches!(slot, Slot::Idle(_)))? {
            Slot::Idle(entry) => Some(entry),
            Slot::Out(_) => unreachable!("picked an idle slot"),
        }
    }
}

/// Removes the slot a failed connect reserved, unless disarmed.
struct Reserved<'a, C: Connector> {
    shared: &'a Mutex<State<C>>,
    thread: ThreadId,
    armed: bool,
}

impl<C: Connector> Drop for Reserved<'_, C> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.lock().threads.remove(self.thread);
        }
    }
}

impl<C: Connector> SingletonThread<C> {
    /// Arranges for this thread's connection to come back to the pool when it ends.
    fn hook_thread(&self, st: &mut State<C>, me: ThreadId) {
        if !st.hooked.insert(me) {
            return;
        }
        let weak: Weak<Mutex<State<C>>> = Arc::downgrade(&self.shared);
        at_thread_exit(move || {
            let Some(shared) = weak.upgrade() else { return };
            let mut st = shared.lock();
            st.hooked.remove(&me);
            match st.threads.remove(me) {
                Some(Slot::Idle(entry)) => st.orphans.push(entry),
                Some(Slot::Out(record)) => st.abandoned.push(record),
                None => {}
            }
        });
    }
}

impl<C: Connector> Strategy<C> for SingletonThread<C> {
    type Config = SingletonThreadConfig;

    const NAME: &'static str = "SingletonThreadPool";

    fn build(config: &SingletonThreadConfig) -> Result<Self, BuildError> {
        if config.pool_size == 0 {
            return Err(BuildError::new(
                "pool_size",
                "SingletonThreadPool needs a pool_size of at least 1 (one connection per thread); \
                 use NullPool to keep no connection",
            ));
        }
        Ok(SingletonThread {
            config: config.clone(),
            shared: Arc::new(Mutex::new(State {
                threads: Threads(Vec::new()),
                orphans: Vec::new(),
                abandoned: Vec::new(),
                hooked: HashSet::new(),
                closed: false,
                handed: 0,
            })),
        })
    }

    fn acquire(&self, core: &Core<C>) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        let me = pool_core::current_thread_id();
        let mut st = self.shared.lock();
        if st.closed {
            return Err(CheckoutError::PoolClosed);
        }
        if let Some(slot) = st.threads.get_mut(me) {
            // This thread's connection, marked out in place.
            return match std::mem::replace(slot, Slot::Out(0)) {
                Slot::Idle(entry) => {
                    *slot = Slot::Out(entry.record().id());
                    st.handed += 1;
                    Ok(entry)
                }
                out @ Slot::Out(_) => {
                    *slot = out;
                    Err(CheckoutError::Unavailable(
                        "SingletonThreadPool: this thread already holds its connection; \
                         use PooledConnection::nest(&mut conn) for a nested hold, or return it \
                         first"
                            .to_string(),
                    ))
                }
            };
        }
        self.hook_thread(&mut st, me);
        if let Some(entry) = st.orphans.pop() {
            st.threads.insert(me, Slot::Out(entry.record().id()));
            st.handed += 1;
            return Ok(entry);
        }
        let evicted = if st.kept() >= self.config.pool_size { st.evict_idle(me) } else { None };
        // Reserve this thread's slot; the record id is filled in once it exists.
        st.threads.insert(me, Slot::Out(0));
        drop(st);
        let mut reserved = Reserved { shared: &self.shared, thread: me, armed: true };
        if let Some(mut old) = evicted {
            core.close_entry(&mut old, CloseCause::Overflow);
        }
        let entry = core.new_entry()?;
        reserved.armed = false;
        let mut st = self.shared.lock();
        st.threads.insert(me, Slot::Out(entry.record().id()));
        st.handed += 1;
        Ok(entry)
    }

    fn release(&self, core: &Core<C>, mut entry: PoolEntry<C>) {
        let record = entry.record().id();
        let mut st = self.shared.lock();
        let over = st.closed || st.kept() > self.config.pool_size;
        let cause = if st.closed { CloseCause::Closed } else { CloseCause::Overflow };
        match st.threads.holding(record) {
            Some((_, slot)) if !over => {
                *slot = Slot::Idle(entry);
                return;
            }
            Some((thread, _)) => {
                st.threads.remove(thread);
            }
            None => {
                // Its thread ended while it was out: adopt it as an orphan if there is room.
                st.abandoned.retain(|r| *r != record);
                if !st.closed && st.kept() < self.config.pool_size {
                    st.orphans.push(entry);
                    return;
                }
            }
        }
        drop(st);
        core.close_entry(&mut entry, cause);
    }

    /// Refuses every checkout from now on, closes the kept connections that are idle,
    /// and each one out when it comes back.
    fn close(&self, core: &Core<C>) {
        self.shared.lock().closed = true;
        self.dispose(core);
    }

    fn dispose(&self, core: &Core<C>) {
        let (idle, cause) = {
            let mut st = self.shared.lock();
            let cause = if st.closed { CloseCause::Closed } else { CloseCause::Disposed };
            (st.take_idle(), cause)
        };
        pool_core::each_despite_panics(idle, |mut entry| core.close_entry(&mut entry, cause));
    }

    /// The idle connections of every thread (and of threads that have ended), for the
    /// core to close when the pool is dropped, as the docs promise.
    fn drain_on_drop(&mut self) -> Vec<PoolEntry<C>> {
        let mut idle = self.shared.lock().take_idle();
        idle.retain(PoolEntry::is_connected);
        idle
    }

    fn handed_out(&self) -> u64 {
        self.shared.lock().handed
    }

    fn status(&self) -> PoolStatus {
        let st = self.shared.lock();
        let out = st.out();
        let kept = st.kept();
        let size = self.config.pool_size;
        PoolStatus::new(size, None, kept - out, kept as isize - size as isize, out, 0)
    }

    fn status_line(&self) -> String {
        let kept = self.shared.lock().kept();
        format!("SingletonThreadPool id:{} size: {kept}", Arc::as_ptr(&self.shared) as usize)
    }
}

impl<C: Connector> Drop for SingletonThread<C> {
    /// Closes the kept connections here, on the thread that drops the pool.
    ///
    /// A thread-exit hook may hold the shared state for a moment after the pool is gone;
    /// were the state dropped there, the connections would close inside a thread-local
    /// destructor, where drivers that use thread-locals themselves (the `postgres` crate
    /// enters its tokio runtime to close) panic, and a panic there aborts the process.
    fn drop(&mut self) {
        let (threads, orphans) = {
            let mut st = self.shared.lock();
            (std::mem::take(&mut st.threads.0), std::mem::take(&mut st.orphans))
        };
        drop(threads);
        drop(orphans);
    }
}

impl<C: Connector> fmt::Debug for SingletonThread<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingletonThread")
            .field("config", &self.config)
            .field("status", &self.status())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use pool_core::Pool;

    use super::*;

    /// Connections that count their closes.
    struct Counting(Arc<AtomicUsize>);

    struct Conn(Arc<AtomicUsize>);

    impl Drop for Conn {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Connector for Counting {
        type Connection = Conn;
        type Error = std::io::Error;

        fn connect(&self) -> std::io::Result<Conn> {
            Ok(Conn(Arc::clone(&self.0)))
        }

        fn rollback(&self, _conn: &mut Conn) -> std::io::Result<()> {
            Ok(())
        }

        fn commit(&self, _conn: &mut Conn) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn dropping_the_pool_closes_connections_even_while_an_exit_hook_holds_the_state() {
        let closed = Arc::new(AtomicUsize::new(0));
        let pool: Pool<Counting, SingletonThread<Counting>> =
            Pool::new(Counting(Arc::clone(&closed))).unwrap();
        drop(pool.get().unwrap());
        // What a thread-exit hook holds while it runs: a strong reference to the state.
        let held_by_hook = Arc::clone(&pool.strategy().shared);
        drop(pool);
        assert_eq!(closed.load(Ordering::SeqCst), 1, "closed by the pool's drop, not later");
        drop(held_by_hook);
        assert_eq!(closed.load(Ordering::SeqCst), 1);
    }
}
