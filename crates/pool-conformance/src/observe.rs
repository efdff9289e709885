//! Watching a pool's background work from a test: waiting for what the maintenance
//! worker should do, and counting its threads.

use std::time::Duration;

use crate::faults::wait_until;

/// Waits up to 15 s for `cond`, looking every 10 ms; panics naming `what` if it never
/// holds. The bound is generous: it says the thing did not happen, not how fast it did.
pub fn eventually(what: &str, cond: impl FnMut() -> bool) {
    assert!(wait_until(Duration::from_secs(15), cond), "not within 15 s: {what}");
}

/// The live maintenance threads of the pool whose logging name is `name` (threads named
/// `sqlpool:<name>`; Linux keeps the first 15 bytes of a thread's name, so give the pools
/// of one test binary names that differ early).
pub fn maintenance_threads(name: &str) -> usize {
    let wanted = format!("sqlpool:{name}");
    let wanted = &wanted[..wanted.len().min(15)];
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == wanted)
        .count()
}
