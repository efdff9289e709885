//! The `Deadpool` strategy: idle entries and waiting callers kept by deadpool's managed pool.

use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, Object, PoolError, QueueMode, RecycleResult, Timeouts};
use deadpool::Runtime;
use parking_lot::Mutex;
use pool_core::{AsyncStrategy, BuildError, CheckoutError, Connector, Core, PoolEntry};
use pool_core::{PoolStatus, Strategy, TimeoutError};
use tokio::runtime::Handle;

use pool_core::rt::{block_on, ReturnRuntime, ReturnTask};

/// Settings of the [`Deadpool`] strategy.
///
/// ```
/// use std::time::Duration;
/// use pool_deadpool::DeadpoolConfig;
///
/// let config = DeadpoolConfig::default().max_size(16).timeout(Duration::from_secs(5)).use_lifo(true);
/// assert_eq!(config.max_size, 16);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeadpoolConfig {
    /// The most connections open at once, idle and checked out together (deadpool's
    /// `max_size`; default 10). Unlike QueuePool there is no overflow: every connection
    /// opened is kept.
    pub max_size: usize,
    /// How long a checkout waits for a connection; `None` waits forever (default 30 s).
    pub timeout: Option<Duration>,
    /// Hand out the most recently returned connection first (deadpool's
    /// `QueueMode::Lifo`); the default is the oldest first.
    pub use_lifo: bool,
    /// The runtime that runs wait timeouts and background resets; by default the
    /// runtime the pool is built in, or else the one of the first async checkout.
    pub runtime: Option<Handle>,
}

impl Default for DeadpoolConfig {
    fn default() -> Self {
        DeadpoolConfig {
            max_size: 10,
            timeout: Some(Duration::from_secs(30)),
            use_lifo: false,
            runtime: None,
        }
    }
}

impl DeadpoolConfig {
    /// The same settings with another `max_size`.
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size;
        self
    }

    /// The same settings with another checkout timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The same settings, waiting forever for a connection.
    pub fn wait_forever(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// The same settings, newest idle connection first or not (the setting QueuePool
    /// spells the same way; deadpool's `QueueMode::Lifo`).
    pub fn use_lifo(mut self, lifo: bool) -> Self {
        self.use_lifo = lifo;
        self
    }

    /// The same settings on this tokio runtime.
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }
}

/// A place in deadpool's pool: an idle entry, or nothing while its entry is out.
///
/// The mutex is only contended by `dispose`, which sees slots by shared reference.
struct Slot<C: Connector>(Mutex<Option<PoolEntry<C>>>);

/// deadpool's manager of [`Slot`]s: it makes empty places, which the strategy fills with
/// a new connection from the pool core.
struct Slots<C>(PhantomData<fn() -> C>);

impl<C: Connector> managed::Manager for Slots<C> {
    type Type = Slot<C>;
    type Error = Infallible;

    async fn create(&self) -> Result<Slot<C>, Infallible> {
        Ok(Slot(Mutex::new(None)))
    }

    async fn recycle(&self, _slot: &mut Slot<C>, _: &Metrics) -> RecycleResult<Infallible> {
        Ok(())
    }
}

/// A strategy whose idle connections, limit, waiting queue and wait timeout are
/// deadpool's managed pool; checkouts can wait without blocking
/// ([`Pool::get_async`](pool_core::Pool::get_async)) or blocking ([`Pool::get`](pool_core::Pool::get)).
///
/// Connecting, pre-ping, recycle, invalidation, reset on return and events are the pool
/// core's, as for every strategy. Each checked-out entry holds one of deadpool's objects
/// (its permit), so deadpool's limit and fairness apply unchanged.
pub struct Deadpool<C: Connector> {
    slots: managed::Pool<Slots<C>>,
    /// The (empty) objects whose entries are checked out: their permits.
    held: Mutex<Vec<Object<Slots<C>>>>,
    /// New places whose entry is being connected.
    connecting: AtomicUsize,
    timeout: Option<Duration>,
    runtime: ReturnRuntime,
}

impl<C: Connector> fmt::Debug for Deadpool<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deadpool")
            .field("status", &self.status())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A new place deadpool made while its entry is being connected: if the connect fails
/// (or its future is dropped), the place is removed from deadpool, so the counts are as
/// before the checkout.
/// While it lives, the place counts as checked out.
struct NewSlot<'a, C: Connector> {
    object: Option<Object<Slots<C>>>,
    connecting: &'a AtomicUsize,
}

impl<'a, C: Connector> NewSlot<'a, C> {
    fn new(object: Object<Slots<C>>, connecting: &'a AtomicUsize) -> Self {
        connecting.fetch_add(1, Ordering::AcqRel);
        NewSlot { object: Some(object), connecting }
    }
}

impl<C: Connector> Drop for NewSlot<'_, C> {
    fn drop(&mut self) {
        if let Some(object) = self.object.take() {
            drop(Object::take(object));
        }
        self.connecting.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<C: Connector> Deadpool<C> {
    /// Takes the idle entry out of a place deadpool granted (keeping its permit), or,
    /// for a new place, gives the guard under which the caller connects one.
    fn take(&self, mut object: Object<Slots<C>>) -> Result<PoolEntry<C>, NewSlot<'_, C>> {
        match object.0.get_mut().take() {
            Some(entry) => {
                self.held.lock().push(object);
                Ok(entry)
            }
            None => Err(NewSlot::new(object, &self.connecting)),
        }
    }

    /// Keeps the permit of a new place whose entry connected.
    fn connected(&self, mut slot: NewSlot<'_, C>) {
        self.held.lock().push(slot.object.take().expect("present until connected or dropped"));
    }

    fn timeout_error(&self, core: &Core<C>) -> CheckoutError<C::Error> {
        let timeout = self.timeout.unwrap_or_default();
        CheckoutError::Timeout(TimeoutError::new(
            Self::NAME,
            &self.status(),
            timeout,
            core.last_connect_error(),
        ))
    }

    fn map_error(&self, core: &Core<C>, err: PoolError<Infallible>) -> CheckoutError<C::Error> {
        match err {
            PoolError::Timeout(_) => self.timeout_error(core),
            PoolError::Closed => CheckoutError::Unavailable("the deadpool pool is closed".into()),
            PoolError::NoRuntimeSpecified => CheckoutError::Unavailable(
                "a wait timeout needs a runtime; enable pool-deadpool's rt_tokio_1 feature".into(),
            ),
            PoolError::Backend(never) => match never {},
            PoolError::PostCreateHook(_) => {
                CheckoutError::Unavailable("deadpool's post_create hook failed".into())
            }
        }
    }
}

impl<C: Connector> Strategy<C> for Deadpool<C> {
    type Config = DeadpoolConfig;

    const NAME: &'static str = "Deadpool";

    fn build(config: &DeadpoolConfig) -> Result<Self, BuildError> {
        if config.max_size == 0 {
            return Err(BuildError::new(
                "max_size",
                "max_size is 0, so no checkout could ever succeed; give max_size at least 1",
            ));
        }
        let mode = if config.use_lifo { QueueMode::Lifo } else { QueueMode::Fifo };
        let slots = managed::Pool::builder(Slots(PhantomData))
            .max_size(config.max_size)
            .queue_mode(mode)
            .wait_timeout(config.timeout)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| {
                BuildError::new("deadpool", format!("deadpool refused the settings: {e}"))
            })?;
        let runtime =
            ReturnRuntime::with(config.runtime.clone().or_else(|| Handle::try_current().ok()));
        Ok(Deadpool {
            slots,
            held: Mutex::new(Vec::new()),
            connecting: AtomicUsize::new(0),
            timeout: config.timeout,
            runtime,
        })
    }

    /// Waits on this thread, without a runtime: deadpool's wait is run to its end here,
    /// and the timeout is this thread's own deadline.
    fn acquire(&self, core: &Core<C>) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        let forever = Timeouts { wait: None, create: None, recycle: None };
        let object = if self.timeout == Some(Duration::ZERO) {
            let now = Timeouts { wait: Some(Duration::ZERO), ..forever };
            block_on(self.slots.timeout_get(&now), None).expect("no deadline")
        } else {
            let deadline = self.timeout.map(|t| Instant::now() + t);
            match block_on(self.slots.timeout_get(&forever), deadline) {
                Some(result) => result,
                None => return Err(self.timeout_error(core)),
            }
        };
        match self.take(object.map_err(|e| self.map_error(core, e))?) {
            Ok(entry) => Ok(entry),
            Err(slot) => {
                let entry = core.new_entry()?;
                self.connected(slot);
                Ok(entry)
            }
        }
    }

    fn release(&self, _core: &Core<C>, entry: PoolEntry<C>) {
        let mut object = self.held.lock().pop().expect("every released entry holds a permit");
        *object.0.get_mut() = Some(entry);
        drop(object);
    }

    fn dispose(&self, core: &Core<C>) {
        // deadpool's lock is held while `retain` runs: take the entries out, and close
        // them (running listeners, which may panic) after it is released.
        let mut idle = Vec::new();
        let removed = self.slots.retain(|slot, _| {
            idle.extend(slot.0.lock().take());
            false
        });
        drop(removed);
        for mut entry in idle {
            core.close_entry(&mut entry);
        }
    }

    fn status(&self) -> PoolStatus {
        let s = self.slots.status();
        // A place being connected is the caller's already.
        let checked_out = self.held.lock().len() + self.connecting.load(Ordering::Acquire);
        PoolStatus::new(
            s.max_size,
            Some(s.max_size),
            s.size.saturating_sub(checked_out),
            0,
            checked_out,
            s.waiting,
        )
    }

    fn status_line(&self) -> String {
        let s = self.status();
        format!(
            "Pool max size: {} Connections in pool: {} Checked out: {} Waiting: {}",
            s.pool_size, s.idle, s.checked_out, s.waiting
        )
    }
}

impl<C: Connector> AsyncStrategy<C> for Deadpool<C> {
    async fn acquire_async(&self, core: &Core<C>) -> Result<PoolEntry<C>, CheckoutError<C::Error>> {
        self.runtime.note_current();
        match self.take(self.slots.get().await.map_err(|e| self.map_error(core, e))?) {
            Ok(entry) => Ok(entry),
            Err(slot) => {
                let entry = core.new_entry_async().await?;
                self.connected(slot);
                Ok(entry)
            }
        }
    }

    /// [`pool_core::rt::run_return`] on the pool's runtime.
    fn run_return(&self, task: ReturnTask) {
        self.runtime.run_return(task);
    }
}
