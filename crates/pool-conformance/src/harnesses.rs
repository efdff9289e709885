//! The harness of each implementation in this workspace.

use pool_core::Connector;
use pool_queue::{Overflow, Queue, QueueConfig};

use crate::{Caps, Harness, Spec};

/// QueuePool (`pool-queue`).
#[derive(Debug)]
pub struct QueueHarness;

impl Harness for QueueHarness {
    const NAME: &'static str = "QueuePool";
    type Strategy<C: Connector> = Queue<C>;

    fn caps() -> Caps {
        Caps::QUEUE
    }

    fn config<C: Connector>(spec: &Spec) -> QueueConfig {
        let config = QueueConfig::default()
            .pool_size(spec.pool_size)
            .overflow(spec.max_overflow.map_or(Overflow::Unlimited, Overflow::Limited))
            .use_lifo(spec.use_lifo);
        match spec.timeout {
            Some(t) => config.timeout(t),
            None => config.wait_forever(),
        }
    }
}

/// SingletonThreadPool (`pool-singleton-thread`).
#[derive(Debug)]
pub struct SingletonThreadHarness;

impl Harness for SingletonThreadHarness {
    const NAME: &'static str = "SingletonThreadPool";
    type Strategy<C: Connector> = pool_singleton_thread::SingletonThread<C>;

    fn caps() -> Caps {
        Caps { reuses_connections: true, thread_affine: true, ..Caps::NONE }
    }

    fn config<C: Connector>(spec: &Spec) -> pool_singleton_thread::SingletonThreadConfig {
        pool_singleton_thread::SingletonThreadConfig::default().pool_size(spec.pool_size.max(1))
    }
}

/// NullPool (`pool-null`): a new connection for every checkout, nothing kept.
#[derive(Debug)]
pub struct NullHarness;

impl Harness for NullHarness {
    const NAME: &'static str = "NullPool";
    type Strategy<C: Connector> = pool_null::Null<C>;

    fn caps() -> Caps {
        Caps { concurrent_checkouts: true, ..Caps::NONE }
    }

    fn config<C: Connector>(_spec: &Spec) -> pool_null::NullConfig {
        pool_null::NullConfig
    }
}

/// StaticPool (`pool-static`): one connection, one holder at a time, others wait.
#[derive(Debug)]
pub struct StaticHarness;

impl Harness for StaticHarness {
    const NAME: &'static str = "StaticPool";
    type Strategy<C: Connector> = pool_static::Static<C>;

    fn caps() -> Caps {
        Caps {
            reuses_connections: true,
            single_connection: true,
            bounded_wait: true,
            refuses_holder: true,
            retains: true,
            ..Caps::NONE
        }
    }

    fn config<C: Connector>(spec: &Spec) -> pool_static::StaticConfig {
        let config = pool_static::StaticConfig::default();
        match spec.timeout {
            Some(t) => config.timeout(t),
            None => config.wait_forever(),
        }
    }
}

/// AssertionPool (`pool-static`): one connection, a second checkout is an error.
#[derive(Debug)]
pub struct AssertionHarness;

impl Harness for AssertionHarness {
    const NAME: &'static str = "AssertionPool";
    type Strategy<C: Connector> = pool_static::Assertion<C>;

    fn caps() -> Caps {
        Caps {
            reuses_connections: true,
            single_connection: true,
            dispose_keeps_record: true,
            refuses_holder: true,
            ..Caps::NONE
        }
    }

    fn config<C: Connector>(_spec: &Spec) -> pool_static::AssertionConfig {
        pool_static::AssertionConfig::default()
    }
}

/// The runtime every async row's checkouts run on: two workers, like the machines CI
/// runs on.
pub fn async_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Whether an async row can run on backend `B`: not when its driver blocks on a runtime
/// of its own.
fn async_runs_on<B: crate::Backend>() -> crate::Outcome {
    match B::BLOCKS_IN_ASYNC {
        Some(reason) => Err(crate::Skip::because(reason)),
        None => Ok(()),
    }
}

/// Defines the async row of a strategy whose blocking row is `$blocking`: the same
/// capabilities and settings, every checkout through
/// [`Pool::get_async`](pool_core::Pool::get_async) awaited on [`async_runtime`].
macro_rules! async_row {
    ($(#[$doc:meta])* $name:ident, $blocking:ident, $label:literal) => {
        async_row!($(#[$doc])* $name, $blocking, $label, $blocking::caps());
    };
    ($(#[$doc:meta])* $name:ident, $blocking:ident, $label:literal, $caps:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl Harness for $name {
            const NAME: &'static str = $label;
            type Strategy<C: Connector> = <$blocking as Harness>::Strategy<C>;

            fn caps() -> Caps {
                $caps
            }

            fn config<C: Connector>(spec: &Spec) -> <Self::Strategy<C> as pool_core::Strategy<C>>::Config {
                $blocking::config::<C>(spec)
            }

            fn get<C: Connector>(
                pool: &pool_core::Pool<C, Self::Strategy<C>>,
            ) -> crate::Checkout<C, Self::Strategy<C>> {
                async_runtime().block_on(pool.get_async())
            }

            fn get_within<C: Connector>(
                pool: &pool_core::Pool<C, Self::Strategy<C>>,
                wait: std::time::Duration,
            ) -> crate::Checkout<C, Self::Strategy<C>> {
                async_runtime().block_on(pool.get_async_timeout(wait))
            }

            fn get_async_on<C: Connector>(
                pool: &pool_core::Pool<C, Self::Strategy<C>>,
                runtime: &tokio::runtime::Runtime,
            ) -> Option<crate::Checkout<C, Self::Strategy<C>>> {
                Some(runtime.block_on(pool.get_async()))
            }

            fn runs_on<B: crate::Backend>() -> crate::Outcome {
                async_runs_on::<B>()
            }
        }
    };
}

async_row!(
    /// QueuePool's async front end.
    QueueAsyncHarness, QueueHarness, "QueuePool (async)"
);
async_row!(
    /// NullPool's async front end.
    NullAsyncHarness, NullHarness, "NullPool (async)"
);
async_row!(
    /// StaticPool's async front end: a task that holds the connection and asks again
    /// waits (a task has no thread of its own to be recognised by).
    StaticAsyncHarness,
    StaticHarness,
    "StaticPool (async)",
    Caps { refuses_holder: false, ..StaticHarness::caps() }
);
async_row!(
    /// AssertionPool's async front end.
    AssertionAsyncHarness, AssertionHarness, "AssertionPool (async)"
);

/// One row group of the conformance matrix: an implementation and its checks.
#[derive(Debug, Clone)]
pub struct Implementation {
    /// The implementation's name.
    pub name: &'static str,
    /// Every check, ready to run.
    pub checks: Vec<crate::Check>,
}

impl Implementation {
    /// The checks of harness `H`.
    pub fn of<H: Harness>() -> Self {
        Implementation { name: H::NAME, checks: crate::registry::<H>() }
    }
}

/// Every implementation of this workspace, in matrix order.
pub fn all() -> Vec<Implementation> {
    vec![
        Implementation::of::<QueueHarness>(),
        Implementation::of::<QueueAsyncHarness>(),
        Implementation::of::<NullHarness>(),
        Implementation::of::<NullAsyncHarness>(),
        Implementation::of::<SingletonThreadHarness>(),
        Implementation::of::<StaticHarness>(),
        Implementation::of::<StaticAsyncHarness>(),
        Implementation::of::<AssertionHarness>(),
        Implementation::of::<AssertionAsyncHarness>(),
    ]
}
