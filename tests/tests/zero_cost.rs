//! With no listeners, no recycle and no pre-ping, checking out an idle connection and
//! returning it allocates nothing (pool-core's "zero cost when unused" contract).
//!
//! A counting global allocator sees every allocation of this test binary, so this file
//! holds this one test alone.
#![allow(unsafe_code)] // a GlobalAlloc implementation is unsafe by definition

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use pool_conformance::NoopConnector;
use pool_core::ResetOnReturn;
use pool_queue::{QueueConfig, QueuePool};

struct Counting;

thread_local! {
    /// Allocations made by this thread while it counts, `None` while it does not: tests
    /// running in parallel do not see each other's.
    static ALLOCATIONS: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Counts the allocations `f` makes on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|c| c.set(Some(0)));
    f();
    ALLOCATIONS.with(|c| c.take()).expect("counting")
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn the_counter_sees_allocations() {
    let counted = allocations_in(|| drop(std::hint::black_box(Box::new(7u64))));
    assert_eq!(counted, 1, "the counting allocator is not installed");
}

#[test]
fn checkout_and_return_of_an_idle_connection_allocate_nothing() {
    for reset in [ResetOnReturn::Rollback, ResetOnReturn::Nothing, ResetOnReturn::Commit] {
        let pool = QueuePool::builder(NoopConnector)
            .strategy(QueueConfig::default().pool_size(2))
            .reset_on_return(reset)
            .build()
            .expect("valid");
        // Warm up: the first checkout connects, which may allocate.
        drop((pool.get().expect("first"), pool.get().expect("second")));

        let during = allocations_in(|| {
            for _ in 0..1000 {
                let a = pool.get().expect("idle");
                let b = pool.get().expect("idle");
                drop((a, b));
            }
        });
        assert_eq!(during, 0, "{reset:?}: 1000 checkouts allocated {during} times");
    }
}
