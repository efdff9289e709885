//! Pruning and adding (issue 12, part 5): `Pool::retain` closes the idle connections its
//! predicate rejects and keeps the others, never touching a checked-out one; `Pool::add`
//! takes a connection made elsewhere when there is room, and gives it back otherwise.

use pool_core::{AddError, Connector, PooledConnection};

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

// bb8's `add` test: a connection made outside the pool joins it and is handed out; a
// pool at its limit gives the connection back.
/// `add` takes a connection made elsewhere when there is room, else gives it back.
pub fn add_takes_a_connection_made_elsewhere<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)));
    let made = p.connector().connect().expect("a connection made outside the pool");
    let id = made.conn_id();
    if !H::caps().retains {
        match p.add(made) {
            Err(AddError::Full(back)) => p.connector().close(back).expect("closed by its maker"),
            other => panic!("a pool that keeps no idle connection took one: {other:?}"),
        }
        return Err(crate::Skip::because("takes no connection (caps().retains)"));
    }
    p.add(made).expect("room for one");
    let c = H::get(&p).expect("checkout");
    assert_eq!(c.conn_id(), id, "the added connection is handed out");
    let second = p.connector().connect().expect("another connection");
    let second_id = second.conn_id();
    match p.add(second) {
        Err(AddError::Full(back)) => {
            assert_eq!(back.conn_id(), second_id, "given back");
            p.connector().close(back).expect("closed by its maker");
        }
        other => panic!("a pool at its limit took a connection: {other:?}"),
    }
    drop(c);
    assert_eq!(p.status().checked_out, 0);
    p.close_within(std::time::Duration::from_secs(10)).expect("nothing out");
    assert_eq!(backend.log().calls_for(id).last(), Some(&Call::Close(id)), "closed with the pool");
    Ok(())
}
