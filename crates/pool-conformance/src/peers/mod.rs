//! Peer probes: what a peer pool (plain `r2d2::Pool`, plain deadpool `Pool`, no
//! adapter) does, check by check.
//!
//! The suite's checks take pool-core types, so a peer cannot run them. A probe is written
//! against the peer's own API instead and asserts the behaviour the suite check of the same
//! name asserts, as closely as the peer's API lets it. A probe that returns `Ok` means the
//! peer does it; one that panics means it does not ("no" in the matrix, not a failure); a
//! [`Skip`](crate::Skip) means the peer has no API to ask (for example no detach).

mod deadpool;
mod r2d2;

pub use self::deadpool::deadpool_probes;
pub use self::r2d2::r2d2_probes;

use std::fmt::Display;
use std::time::Duration;

use crate::Outcome;

/// One probe: the suite check it answers and the code that asks the peer.
#[derive(Debug, Clone, Copy)]
pub struct PeerProbe {
    /// The suite check's `group::name`, as in `checks/list.rs`.
    pub check: &'static str,
    /// Asks the peer; a panic means the peer does not do what the check asserts.
    pub run: fn() -> Outcome,
}

/// A peer's reference row: its name in the matrix, its short label, and its probes.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The row name (`"r2d2::Pool (peer)"`).
    pub name: &'static str,
    /// The crate name that labels its matrix column (`"r2d2"`).
    pub label: &'static str,
    /// Its probes, in suite order.
    pub probes: Vec<PeerProbe>,
}

/// Every peer, in matrix order.
pub fn all() -> Vec<Peer> {
    vec![
        Peer { name: "r2d2::Pool (peer)", label: "r2d2", probes: r2d2_probes() },
        Peer {
            name: "deadpool::managed::Pool (peer)",
            label: "deadpool",
            probes: deadpool_probes(),
        },
    ]
}

/// The probe of `failures_timeout_message` for any peer: `time_out(limit)` holds the only
/// connection of a one-connection pool with that wait timeout, asks for another, and
/// returns the peer's error and how long it took.
fn timeout_message<E: Display>(peer: &str, time_out: fn(Duration) -> (E, Duration)) -> Outcome {
    let (err, _) = time_out(Duration::from_millis(100));
    let message = err.to_string();
    assert!(
        message.contains("limit of size 1 overflow 0 reached, connection timed out, timeout 0.10"),
        "{peer}'s timeout message is {message:?}"
    );
    Ok(())
}

/// The probe of `timeout_fires` for any peer (`time_out` as for [`timeout_message`]): a
/// checkout from a full pool fails after the timeout, not before and not much later.
fn timeout_fires<E>(time_out: fn(Duration) -> (E, Duration)) -> Outcome {
    let timeout = Duration::from_secs(1);
    let (_, waited) = time_out(timeout);
    assert!(waited >= timeout, "timed out after {waited:?}, before {timeout:?}");
    assert!(waited < Duration::from_secs(10), "timed out only after {waited:?}");
    Ok(())
}
