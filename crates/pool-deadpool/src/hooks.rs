//! deadpool's recycle hooks as a pool listener.

use std::fmt;

use pool_core::{ConnectionRecord, Connector, ListenerError, PoolListener};

/// deadpool's `pre_recycle` (or `post_recycle`) hook as a [`PoolListener`]: runs `hook`
/// at every checkout of a connection except the checkout that opened it.
///
/// The pool's `checkout` event runs at every checkout, the first one of a new connection
/// included (SQLAlchemy's `checkout` event does). deadpool's recycle hooks run only when
/// an existing object is handed out again, never on the `get` that created it. This
/// listener keeps that difference: it marks the connection in the record's
/// [`info`](ConnectionRecord::info) (which is cleared when the connection is replaced) at
/// its first checkout, and runs `hook` only at the checkouts after that.
///
/// | deadpool | here |
/// |---|---|
/// | `post_create(hook)` | a `connect` listener ([`PoolListener::connect`]): every new connection, before its first use |
/// | `pre_recycle(hook)`, `post_recycle(hook)` | `.listener(RecycleHook::new(hook))`: every checkout but a connection's first; it runs after the pre-ping (`recycle`), like `post_recycle` |
/// | a hook's `HookError` (the object is discarded and `get` goes on) | [`ListenerError::disconnect`]: the connection is replaced and the checkout goes on |
///
/// # Example
///
/// deadpool's own `pre_recycle_ok` test (`crates/deadpool/tests/managed_hooks.rs`): a
/// manager that creates 42, a hook that adds one at every recycle, one object.
///
/// ```
/// use pool_deadpool::{Managed, ManagerConnector, RecycleHook};
/// use pool_queue::{QueueConfig, QueuePool};
///
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # #[derive(Debug)]
/// # struct Computer;
/// # impl pool_deadpool::deadpool::managed::Manager for Computer {
/// #     type Type = usize;
/// #     type Error = std::io::Error;
/// #     async fn create(&self) -> Result<usize, std::io::Error> { Ok(42) }
/// #     async fn recycle(
/// #         &self,
/// #         _: &mut usize,
/// #         _: &pool_deadpool::deadpool::managed::Metrics,
/// #     ) -> pool_deadpool::deadpool::managed::RecycleResult<std::io::Error> { Ok(()) }
/// # }
/// let pool = QueuePool::builder(ManagerConnector::without_reset(Computer))
///     .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
///     .listener(RecycleHook::new(|obj: &mut Managed<usize>| {
///         **obj += 1;
///         Ok(())
///     }))
///     .build()?;
/// assert_eq!(**pool.get_async().await?, 42); // created: no hook
/// assert_eq!(**pool.get_async().await?, 43);
/// assert_eq!(**pool.get_async().await?, 44);
/// # Ok(())
/// # }
/// ```
pub struct RecycleHook<F> {
    hook: F,
}

/// The mark a connection's first checkout leaves in its record's info.
struct CheckedOutBefore;

impl<F> RecycleHook<F> {
    /// A listener that runs `hook` at every checkout of a connection but its first.
    pub fn new(hook: F) -> Self {
        RecycleHook { hook }
    }
}

impl<F> fmt::Debug for RecycleHook<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecycleHook").finish_non_exhaustive()
    }
}

impl<C, F> PoolListener<C> for RecycleHook<F>
where
    C: Connector,
    F: Fn(&mut C::Connection) -> Result<(), ListenerError> + Send + Sync + 'static,
{
    /// `hook`, unless this checkout is the connection's first.
    fn checkout(
        &self,
        conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        if record.info_mut().insert(CheckedOutBefore).is_none() {
            return Ok(()); // the checkout that created it: deadpool runs no recycle hook
        }
        (self.hook)(conn)
    }
}
