//! Runs every r2d2 peer probe and pins its answer, so a change in r2d2's behaviour is
//! noticed.

use std::panic::{self, AssertUnwindSafe};

use pool_conformance::peers::r2d2_probes;

/// The answer of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Yes,
    No,
    Skip,
}

use Answer::{No, Skip, Yes};

const EXPECTED: &[(&str, Answer)] = &[
    ("base::sequential_checkouts_reuse", Yes),
    ("base::detach_semantics", Skip),
    ("events::connect_event", Yes),
    ("events::checkin_event", Yes),
    ("events::reset_event", No),
    ("checkout::checkout_pre_ping_pooled_once", No),
    ("checkout::checkout_invalidate_all", Skip),
    ("checkout::checkout_no_ping_without_pre_ping", Yes),
    ("reset::reset_plain_rollback", No),
    ("reset::reset_plain_commit", No),
    ("failures::failures_timeout_message", No),
    ("queue::timeout_fires", Yes),
    ("queue::overflow_closed_on_return", Skip),
    ("queue::lifo_order", Yes),
    ("queue::fifo_order", No),
];

#[test]
fn r2d2_probes_answer_as_pinned() {
    let probes = r2d2_probes();
    let suite: Vec<&str> =
        pool_conformance::registry::<pool_conformance::harnesses::QueueHarness>()
            .iter()
            .map(|c| c.name)
            .collect();
    let mut answers = Vec::new();
    for probe in &probes {
        assert!(suite.contains(&probe.check), "{} is not a suite check", probe.check);
        let answer = match panic::catch_unwind(AssertUnwindSafe(probe.run)) {
            Ok(Ok(())) => Yes,
            Ok(Err(_)) => Skip,
            Err(_) => No,
        };
        answers.push((probe.check, answer));
    }
    assert_eq!(answers, EXPECTED);
}
