//! Pruning (issue 12, part 5): `Pool::retain` closes the idle connections its predicate
//! rejects and keeps the others, never touching a checked-out one.

use pool_core::PooledConnection;

use super::needs;
use crate::{pool, Backend, Call, Harness, Identified, Outcome, Spec};

// deadpool's `retain` test: a predicate over each idle connection and its metrics (here
// its record) closes the rejected ones; what it keeps is handed out again.
/// `retain` closes the idle connections it rejects and keeps the rest.
pub fn retain_closes_rejected_idle<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs::<H>(|c| c.retains, "keeps everything in retain (caps().retains)")?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)));
    let c = H::get(&p).expect("checkout");
    let (id, record) = (c.conn_id(), PooledConnection::record(&c).expect("a record").id());
    drop(c);

    assert_eq!(p.retain(|_, _| true), 0, "keeping everything closes nothing");
    assert_eq!(log.calls_for(id).last(), Some(&Call::Rollback(id)), "untouched");
    let again = H::get(&p).expect("checkout");
    assert_eq!(again.conn_id(), id, "the kept connection is handed out again");

    // A checked-out connection is not judged.
    let mut judged = 0;
    assert_eq!(
        p.retain(|_, _| {
            judged += 1;
            false
        }),
        0
    );
    assert_eq!(judged, 0, "the predicate saw no idle connection");
    drop(again);

    let mut seen = Vec::new();
    let closed = p.retain(|_, r| {
        seen.push(r.id());
        r.id() != record
    });
    assert_eq!((closed, seen), (1, vec![record]), "the one idle connection, rejected");
    assert_eq!(log.calls_for(id).last(), Some(&Call::Close(id)), "closed gracefully");
    let fresh = H::get(&p).expect("checkout after retain");
    assert_ne!(fresh.conn_id(), id, "a new connection replaces the closed one");
    drop(fresh);
    assert_eq!(p.status().checked_out, 0);
    Ok(())
}
