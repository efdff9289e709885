use r2d2_sqlite::SqliteConnectionManager;
use sqlpool::{QueueConfig, QueuePool, R2d2Connector};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manager = SqliteConnectionManager::memory();
    // was: let pool = r2d2::Pool::builder().max_size(4).build(manager)?;
    let pool = QueuePool::builder(R2d2Connector::new(manager))
        .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
        .pre_ping(true) // r2d2's test_on_check_out
        .build()?;

    let conn = pool.get()?; // derefs to the rusqlite::Connection, as r2d2's did
    conn.execute_batch("CREATE TABLE notes (body TEXT NOT NULL)")?;
    conn.execute("INSERT INTO notes (body) VALUES (?1)", ["kept"])?;
    conn.execute_batch("BEGIN; INSERT INTO notes (body) VALUES ('left open');")?;
    drop(conn); // back to the pool: the open transaction is rolled back

    let conn = pool.get()?;
    let notes: i64 = conn.query_row("SELECT count(*) FROM notes", [], |row| row.get(0))?;
    assert_eq!(notes, 1);
    drop(conn);
    println!("notes: {notes}; {}", pool.status_line());
    Ok(())
}
