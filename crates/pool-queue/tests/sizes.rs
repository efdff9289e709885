//! Sizes far beyond any real pool are taken as limits, not allocated (issue 14, defect 5:
//! `pool_size(1 << 40)` aborted the process at build); sizes that overflow are refused.

use pool_conformance::Script;
use pool_queue::{QueueConfig, QueuePool};

#[test]
fn a_huge_pool_size_is_a_limit_not_an_allocation() {
    let script = Script::new();
    let pool = QueuePool::builder(script.connector())
        .strategy(QueueConfig::default().pool_size(1 << 40).max_overflow(0))
        .build()
        .expect("a huge size is only a limit");
    let held: Vec<_> = (0..300).map(|_| pool.get().expect("checkout")).collect();
    drop(held);
    let status = pool.status();
    assert_eq!((status.idle, status.checked_out), (300, 0), "{status:?}");
}

#[test]
fn sizes_that_overflow_are_refused_naming_the_setting() {
    let script = Script::new();
    let err = QueuePool::builder(script.connector())
        .strategy(QueueConfig::default().pool_size(usize::MAX).max_overflow(1))
        .build()
        .expect_err("usize::MAX + 1");
    assert_eq!(err.setting(), "max_overflow");
    assert!(err.to_string().contains("does not fit in a usize"), "{err}");
}
