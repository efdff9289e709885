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
            .max_overflow(spec.max_overflow.map_or(Overflow::Unlimited, Overflow::Limited))
            .use_lifo(spec.use_lifo);
        match spec.timeout {
            Some(t) => config.timeout(t),
            None => config.wait_forever(),
        }
    }
}
