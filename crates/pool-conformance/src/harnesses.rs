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
    vec![Implementation::of::<QueueHarness>()]
}
