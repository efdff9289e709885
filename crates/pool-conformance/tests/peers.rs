//! Runs every peer probe and pins its answer, so a change in a peer's behaviour is
//! noticed.

use std::panic::{self, AssertUnwindSafe};

use pool_conformance::peers::{bb8_probes, deadpool_probes, r2d2_probes, PeerProbe};

/// The answer of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Yes,
    No,
    Skip,
}

use Answer::{No, Skip, Yes};

const R2D2: &[(&str, Answer)] = &[
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

const DEADPOOL: &[(&str, Answer)] = &[
    ("base::sequential_checkouts_reuse", Yes),
    ("base::detach_semantics", Yes),
    ("events::connect_event", Yes),
    ("events::checkin_event", No),
    ("events::reset_event", No),
    ("checkout::checkout_pre_ping_pooled_once", Yes),
    ("checkout::checkout_invalidate_all", Skip),
    ("checkout::checkout_no_ping_without_pre_ping", No),
    ("reset::reset_plain_rollback", No),
    ("reset::reset_plain_commit", No),
    ("failures::failures_timeout_message", No),
    ("queue::timeout_fires", Yes),
    ("queue::overflow_closed_on_return", Skip),
    ("queue::lifo_order", Yes),
    ("queue::fifo_order", Yes),
];

const BB8: &[(&str, Answer)] = &[
    ("base::sequential_checkouts_reuse", Yes),
    ("base::detach_semantics", Skip),
    ("events::connect_event", Yes),
    ("events::checkin_event", No),
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
    ("queue::fifo_order", Yes),
];

/// Runs each probe and checks its answer against `expected`.
fn answers_as_pinned(probes: Vec<PeerProbe>, expected: &[(&str, Answer)]) {
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
    assert_eq!(answers, expected);
}

#[test]
fn r2d2_probes_answer_as_pinned() {
    answers_as_pinned(r2d2_probes(), R2D2);
}

#[test]
fn deadpool_probes_answer_as_pinned() {
    answers_as_pinned(deadpool_probes(), DEADPOOL);
}

#[test]
fn bb8_probes_answer_as_pinned() {
    answers_as_pinned(bb8_probes(), BB8);
}
