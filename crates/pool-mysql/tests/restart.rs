//! The server restarted under load (issue 14, part 4): eight threads query through a
//! QueuePool while `POOL_TEST_MYSQL_RESTART` restarts the MySQL/MariaDB server of
//! `POOL_TEST_MYSQL_URL`; the pool succeeds again within a second of the server
//! answering, loses no slot and closes every connection once
//! (`pool_conformance::faults::restart_under_load`). Without both variables the test
//! prints "skipped ..." and passes: `.ci/run` sets them.

use pool_conformance::faults::{
    restart_command_or_skip, restart_under_load, server_url_or_skip, MYSQL_RESTART,
};
use pool_conformance::MYSQL_URL;
use pool_mysql::mysql::prelude::Queryable;
use pool_mysql::mysql::{Conn, Opts};
use pool_mysql::MySqlConnector;

fn select_one(conn: &mut Conn) -> Result<(), pool_mysql::mysql::Error> {
    conn.query_drop("SELECT 1")
}

#[test]
fn the_pool_recovers_from_a_server_restart() {
    let test = "the_pool_recovers_from_a_server_restart";
    let Some(url) = server_url_or_skip(MYSQL_URL, test) else { return };
    let Some(restart) = restart_command_or_skip(MYSQL_RESTART, test) else { return };
    let connector = MySqlConnector::new(&url).expect("a valid URL");
    let opts = Opts::from_url(&url).expect("a valid URL");
    let probe = || Conn::new(opts.clone()).is_ok();
    let restarted = restart_under_load(connector, &restart, probe, select_one);
    println!("MariaDB restart: {restarted:?}");
}
