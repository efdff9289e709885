use deadpool_sqlite::{Config, Manager, Runtime};
use sqlpool::{ManagerConnector, QueueConfig, QueuePool};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join("from-deadpool-sqlite.db");
    let manager = Manager::from_config(&Config::new(path), Runtime::Tokio1);
    // was: let pool = deadpool_sqlite::Pool::builder(manager).max_size(4).build()?;
    let pool = QueuePool::builder(ManagerConnector::new(manager))
        .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
        .pre_ping(true) // deadpool recycles at every get
        .build()?;

    let conn = pool.get_async().await?; // was: pool.get().await?
    conn.interact(|c| {
        c.execute_batch(
            "DROP TABLE IF EXISTS notes; CREATE TABLE notes (body TEXT NOT NULL);
             INSERT INTO notes (body) VALUES ('kept');
             BEGIN; INSERT INTO notes (body) VALUES ('left open');",
        )
    })
    .await??;
    drop(conn); // back to the pool: the open transaction is rolled back

    let conn = pool.get_async().await?;
    let notes: i64 = conn
        .interact(|c| c.query_row("SELECT count(*) FROM notes", [], |row| row.get(0)))
        .await??;
    assert_eq!(notes, 1);
    drop(conn);
    println!("notes: {notes}; {}", pool.status_line());
    Ok(())
}
