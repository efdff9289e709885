//! Watching a pool's background work from a test: waiting for what the maintenance
//! worker should do, counting its threads, scraping what it exports.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::faults::wait_until;

/// Waits up to 15 s for `cond`, looking every 10 ms; panics naming `what` if it never
/// holds. The bound is generous: it says the thing did not happen, not how fast it did.
pub fn eventually(what: &str, cond: impl FnMut() -> bool) {
    assert!(wait_until(Duration::from_secs(15), cond), "not within 15 s: {what}");
}

/// The live maintenance threads of the pool whose logging name is `name` (threads named
/// `sqlpool:<name>`; Linux keeps the first 15 bytes of a thread's name, so give the pools
/// of one test binary names that differ early).
pub fn maintenance_threads(name: &str) -> usize {
    let wanted = format!("sqlpool:{name}");
    let wanted = &wanted[..wanted.len().min(15)];
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == wanted)
        .count()
}

/// The body of `GET /metrics` from a metrics exporter listening at `addr` (one plain
/// HTTP/1.1 request; panics if nothing answers).
pub fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("the exporter listens");
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
        .expect("send the request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or(response)
}
