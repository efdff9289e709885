//! Finding the server backends: a `POOL_TEST_*_URL` variable that is set always wins (an
//! unreachable server then fails its checks, as CI wants); one that is unset is filled
//! with the server's local default address when a server answers there.
//!
//! The checks read the variables themselves (`pool_conformance::server_url`), so a server
//! found here is handed to them by setting its variable for this process, before any
//! check runs.

use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use pool_conformance::{
    Backend, MysqlBackend, PgbouncerSessionBackend, PgbouncerTxBackend, PostgresBackend,
    RedisBackend, MYSQL_URL, PGBOUNCER_SESSION_URL, PGBOUNCER_TX_URL, POSTGRES_URL, REDIS_URL,
};
use pool_core::Connector;

/// How long the TCP connect, then the driver's connect, may take before a local server
/// counts as absent.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// A server the suite can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    /// Its name for people (`PostgreSQL`).
    pub name: &'static str,
    /// The variable naming it (`POOL_TEST_POSTGRES_URL`).
    pub var: &'static str,
    /// The URL of its local default install, tried when the variable is unset.
    pub default_url: &'static str,
    /// The address in [`default_url`](Self::default_url).
    pub default_addr: &'static str,
}

/// The servers, in report order.
pub const SERVERS: [Server; 5] = [
    Server {
        name: "PostgreSQL",
        var: POSTGRES_URL,
        default_url: "postgres://postgres@127.0.0.1:5432/test",
        default_addr: "127.0.0.1:5432",
    },
    Server {
        name: "MariaDB",
        var: MYSQL_URL,
        default_url: "mysql://root@127.0.0.1:3306/test",
        default_addr: "127.0.0.1:3306",
    },
    Server {
        name: "Redis",
        var: REDIS_URL,
        default_url: "redis://127.0.0.1:6379/",
        default_addr: "127.0.0.1:6379",
    },
    Server {
        name: "PgBouncer (transaction mode)",
        var: PGBOUNCER_TX_URL,
        default_url: "postgres://postgres@127.0.0.1:6432/test",
        default_addr: "127.0.0.1:6432",
    },
    Server {
        name: "PgBouncer (session mode)",
        var: PGBOUNCER_SESSION_URL,
        default_url: "postgres://postgres@127.0.0.1:6433/test",
        default_addr: "127.0.0.1:6433",
    },
];

/// How a server was found, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Its variable was set (to this URL): used as given, even if it does not answer.
    Explicit(String),
    /// Its variable was unset and the server answered at its default URL.
    Local(String),
    /// Its variable was unset and nothing usable answered at the default address.
    Missing(String),
}

/// One server and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStatus {
    /// The server.
    pub server: Server,
    /// How it was found.
    pub found: Found,
}

impl ServerStatus {
    /// `true` when its checks run (its variable is set or was filled in).
    pub fn used(&self) -> bool {
        !matches!(self.found, Found::Missing(_))
    }

    /// What a person should do about a missing server: the variable to set and a value.
    pub fn hint(&self) -> String {
        format!("set {}, e.g. {}={}", self.server.var, self.server.var, self.server.default_url)
    }
}

/// Finds every server, setting the variable of each one found at its local default
/// address. Call before any check runs (and before other threads read the environment).
pub fn find() -> Vec<ServerStatus> {
    SERVERS
        .iter()
        .map(|&server| {
            let found = match std::env::var(server.var) {
                Ok(url) if !url.is_empty() => Found::Explicit(url),
                _ => match probe(&server) {
                    Ok(()) => Found::Local(server.default_url.to_string()),
                    Err(why) => {
                        std::env::remove_var(server.var);
                        Found::Missing(why)
                    }
                },
            };
            ServerStatus { server, found }
        })
        .collect()
}

/// Tries `server` at its default address: a TCP connect, then a real connect through the
/// suite's own connector, each within [`PROBE_TIMEOUT`]. Leaves the variable set.
fn probe(server: &Server) -> Result<(), String> {
    let addr: SocketAddr = server.default_addr.parse().expect("a literal address");
    TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)
        .map_err(|e| format!("nothing answers at {}: {e}", server.default_addr))?;
    std::env::set_var(server.var, server.default_url);
    match server.var {
        POSTGRES_URL => connect::<PostgresBackend>(),
        MYSQL_URL => connect::<MysqlBackend>(),
        REDIS_URL => connect::<RedisBackend>(),
        PGBOUNCER_TX_URL => connect::<PgbouncerTxBackend>(),
        PGBOUNCER_SESSION_URL => connect::<PgbouncerSessionBackend>(),
        other => unreachable!("no backend reads {other}"),
    }
    .map_err(|e| {
        format!(
            "{} answers but a connect to {} failed: {e}",
            server.default_addr, server.default_url
        )
    })
}

/// Opens one connection through `B`'s connector (URL from its variable), giving up after
/// [`PROBE_TIMEOUT`] (the connect thread is then left to finish on its own).
fn connect<B: Backend>() -> Result<(), String> {
    let connector = B::new().connector();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(connector.connect().map(drop).map_err(|e| e.to_string()));
    });
    rx.recv_timeout(PROBE_TIMEOUT).unwrap_or_else(|_| Err("the connect timed out".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_does_not_answer_is_missing_with_its_address() {
        // Port 9 (discard) is closed on any machine that runs these tests.
        let server = Server { default_addr: "127.0.0.1:9", ..SERVERS[2] };
        let why = probe(&server).expect_err("nothing listens on port 9");
        assert!(why.starts_with("nothing answers at 127.0.0.1:9"), "{why}");
    }

    #[test]
    fn the_hint_names_the_variable_and_a_value() {
        let status = ServerStatus { server: SERVERS[1], found: Found::Missing(String::new()) };
        assert!(!status.used());
        assert_eq!(
            status.hint(),
            "set POOL_TEST_MYSQL_URL, e.g. POOL_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test"
        );
    }
}
