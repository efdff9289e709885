//! The connector and adapter features: each re-export works through the facade.
//! CI runs these with `--all-features`; the server tests need their URL variable.

#[cfg(any(feature = "postgres", feature = "mysql", feature = "redis"))]
fn url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped {test}: {var} is not set");
            None
        }
    }
}

#[cfg(all(feature = "postgres", feature = "queue"))]
#[test]
fn postgres_through_the_facade() {
    let Some(url) = url("POOL_TEST_POSTGRES_URL", "postgres_through_the_facade") else { return };
    let pool = sqlpool::QueuePool::new(sqlpool::PostgresConnector::new(&url).unwrap()).unwrap();
    let one: i32 = pool.get().unwrap().query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
}

#[cfg(all(feature = "mysql", feature = "queue"))]
#[test]
fn mysql_through_the_facade() {
    use sqlpool::mysql::mysql::prelude::Queryable;
    let Some(url) = url("POOL_TEST_MYSQL_URL", "mysql_through_the_facade") else { return };
    let pool = sqlpool::QueuePool::new(sqlpool::MySqlConnector::new(&url).unwrap()).unwrap();
    let one: Option<i64> = pool.get().unwrap().query_first("SELECT 1").unwrap();
    assert_eq!(one, Some(1));
}

#[cfg(all(feature = "redis", feature = "queue"))]
#[test]
fn redis_through_the_facade() {
    let Some(url) = url("POOL_TEST_REDIS_URL", "redis_through_the_facade") else { return };
    let pool = sqlpool::QueuePool::new(sqlpool::RedisConnector::new(&url).unwrap()).unwrap();
    let pong: String = sqlpool::redis::redis::cmd("PING").query(&mut *pool.get().unwrap()).unwrap();
    assert_eq!(pong, "PONG");
}

/// Numbers its connections, for the adapter tests.
#[cfg(any(feature = "r2d2", feature = "deadpool"))]
#[derive(Debug, Default)]
struct Numbers(std::sync::atomic::AtomicU32);

#[cfg(any(feature = "r2d2", feature = "deadpool"))]
impl Numbers {
    fn next(&self) -> u32 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }
}

#[cfg(feature = "r2d2")]
impl sqlpool::r2d2::r2d2::ManageConnection for Numbers {
    type Connection = u32;
    type Error = std::io::Error;

    fn connect(&self) -> Result<u32, std::io::Error> {
        Ok(self.next())
    }

    fn is_valid(&self, _conn: &mut u32) -> Result<(), std::io::Error> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut u32) -> bool {
        false
    }
}

#[cfg(all(feature = "r2d2", feature = "queue"))]
#[test]
fn an_r2d2_manager_through_the_facade() {
    let pool =
        sqlpool::QueuePool::new(sqlpool::R2d2Connector::without_reset(Numbers::default())).unwrap();
    let first = *pool.get().unwrap();
    assert_eq!(*pool.get().unwrap(), first, "the connection was pooled");
}

#[cfg(feature = "deadpool")]
impl sqlpool::deadpool::deadpool::managed::Manager for Numbers {
    type Type = u32;
    type Error = std::io::Error;

    async fn create(&self) -> Result<u32, std::io::Error> {
        Ok(self.next())
    }

    async fn recycle(
        &self,
        _conn: &mut u32,
        _: &sqlpool::deadpool::deadpool::managed::Metrics,
    ) -> sqlpool::deadpool::deadpool::managed::RecycleResult<std::io::Error> {
        Ok(())
    }
}

#[cfg(all(feature = "deadpool", feature = "queue"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadpool_manager_in_queue_pool_through_the_facade() {
    use sqlpool::{ManagerConnector, QueueConfig, QueuePool};
    let pool = QueuePool::builder(ManagerConnector::without_reset(Numbers::default()))
        .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
        .build()
        .unwrap();
    let first = **pool.get_async().await.unwrap();
    assert_eq!(**pool.get_async().await.unwrap(), first, "the connection was pooled");
    assert_eq!(pool.status().checked_out, 0);
}
