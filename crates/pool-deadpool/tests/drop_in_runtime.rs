//! A pool of deadpool-sqlite connections dropped inside the tokio runtime, as at the end
//! of a `#[tokio::main]`: its idle connections are closed on a thread of their own, which
//! must run in the runtime's context (deadpool-sqlite hands a connection's close to a
//! blocking task). It did not, and the closing thread panicked with "there is no reactor
//! running"; this binary's one test records panics of any thread.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_sqlite::{Config, Manager, Runtime};
use pool_conformance::observe::eventually;
use pool_core::{ConnectionRecord, PoolListener};
use pool_deadpool::{Managed, ManagerConnector};
use pool_queue::{QueueConfig, QueuePool};

/// Counts the `close` events, which fire just before the connector's close.
#[derive(Clone, Default)]
struct Closes(Arc<Mutex<usize>>);

impl PoolListener<ManagerConnector<Manager>> for Closes {
    fn close(
        &self,
        _: &mut Managed<deadpool_sync::SyncWrapper<deadpool_sqlite::rusqlite::Connection>>,
        _: &mut ConnectionRecord<ManagerConnector<Manager>>,
    ) {
        *self.0.lock().unwrap() += 1;
    }
}

#[test]
fn dropping_the_pool_inside_the_runtime_closes_without_a_panic() {
    let panics = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&panics);
    std::panic::set_hook(Box::new(move |info| {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        seen.lock().unwrap().push(format!("{name}: {info}"));
    }));
    let dir = tempfile::tempdir().unwrap();
    let closes = Closes::default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let manager = Manager::from_config(&Config::new(dir.path().join("db")), Runtime::Tokio1);
        let pool = QueuePool::builder(ManagerConnector::new(manager))
            .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
            .listener(closes.clone())
            .build()
            .unwrap();
        let a = pool.get_async().await.unwrap();
        let b = pool.get_async().await.unwrap();
        drop((a, b));
        drop(pool);
    });
    eventually("both idle connections closed", || *closes.0.lock().unwrap() == 2);
    // The close itself runs after the event; give it the time to panic if it would.
    std::thread::sleep(Duration::from_millis(200));
    let _ = std::panic::take_hook();
    assert_eq!(*panics.lock().unwrap(), Vec::<String>::new(), "no thread panicked");
}
