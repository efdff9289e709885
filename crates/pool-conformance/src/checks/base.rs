//! The record and the checked-out connection (SQLAlchemy's `PoolTest`).

use pool_core::PooledConnection;

use crate::{pool, Backend, Call, Harness, Identified, Outcome, Spec};

// test_pool.py PoolTest.test_rec_unconnected: a record connects at checkout, and the
// connection the guard derefs to is the one the connector opened.
/// A pool opens nothing until the first checkout, then exactly one connection.
pub fn rec_unconnected<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let p = pool::<H, B>(backend, Spec::default());
    assert_eq!(backend.log().connects(), 0, "building a pool must not connect");
    let c = p.get().expect("checkout");
    assert_eq!(backend.log().calls(), vec![Call::Connect(c.conn_id())]);
    assert!(PooledConnection::record(&c).is_some());
    Ok(())
}
