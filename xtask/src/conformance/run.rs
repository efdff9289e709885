//! Running the suite in-process: every check of every implementation on every backend,
//! then the peers' probes, each under `catch_unwind` (a panic is a failure, or a peer's
//! "no"), with progress on stderr.

use std::any::Any;
use std::io::{IsTerminal, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pool_conformance::harnesses::{self, Implementation};
use pool_conformance::{peers, BackendKind, Skip};

use super::results::{Counts, Outcomes, Row, Verdict};

/// Runs every check whose name contains `filter` (all when `None`), and the peers' probes
/// of those checks.
pub fn run(filter: Option<&str>) -> Outcomes {
    let keep = |check: &str| filter.is_none_or(|f| check.contains(f));
    let started = Instant::now();
    let mut progress = Progress::new();

    // Keep failing checks quiet while they run; their messages go into the results.
    let last_panic: Arc<Mutex<Option<String>>> = Arc::default();
    let sink = Arc::clone(&last_panic);
    panic::set_hook(Box::new(move |info| {
        let location =
            info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        *sink.lock().unwrap() = Some(format!("{}{location}", payload_text(info.payload())));
    }));
    let panic_message = |payload: Box<dyn Any + Send>| {
        last_panic.lock().unwrap().take().unwrap_or_else(|| payload_text(&*payload))
    };

    let implementations = harnesses::all();
    let peers = peers::all();
    let checks =
        implementations.first().map_or(0, |i| i.checks.iter().filter(|c| keep(c.name)).count());
    progress.line(&format!(
        "running {checks} checks x {} backends on {} implementations, then {} peers' probes",
        BackendKind::ALL.len(),
        implementations.len(),
        peers.len()
    ));

    let mut rows = Vec::new();
    for Implementation { name, checks } in implementations {
        let mine = Instant::now();
        let checks: Vec<_> = checks.into_iter().filter(|c| keep(c.name)).collect();
        let mut counts = Counts::default();
        for (i, check) in checks.iter().enumerate() {
            progress.update(&format!(
                "{name}: check {}/{} ({:.0} s) {}",
                i + 1,
                checks.len(),
                mine.elapsed().as_secs_f64(),
                check.name
            ));
            for backend in BackendKind::ALL {
                *last_panic.lock().unwrap() = None;
                let verdict = match panic::catch_unwind(AssertUnwindSafe(|| (check.run)(backend))) {
                    Ok(Ok(())) => Verdict::Pass,
                    Ok(Err(Skip(reason))) => Verdict::Skip(reason),
                    Err(payload) => Verdict::Fail(panic_message(payload)),
                };
                if matches!(verdict, Verdict::Fail(_)) {
                    progress.line(&format!("FAIL {} {name}/{}", check.name, backend.name()));
                }
                counts.add(&verdict);
                rows.push(Row {
                    implementation: name,
                    peer: None,
                    backend,
                    check: check.name,
                    verdict,
                });
            }
        }
        progress.line(&format!(
            "{name}: {} checks x {} backends: {} pass, {} skip, {} fail ({:.1} s)",
            checks.len(),
            BackendKind::ALL.len(),
            counts.pass,
            counts.skip,
            counts.fail,
            mine.elapsed().as_secs_f64()
        ));
    }

    // The peers' reference rows: a panic is a "no", never a failure.
    for peer in peers {
        let mine = Instant::now();
        let probes: Vec<_> = peer.probes.into_iter().filter(|p| keep(p.check)).collect();
        if probes.is_empty() {
            continue;
        }
        let mut counts = Counts::default();
        for (i, probe) in probes.iter().enumerate() {
            progress.update(&format!(
                "{}: probe {}/{} {}",
                peer.name,
                i + 1,
                probes.len(),
                probe.check
            ));
            *last_panic.lock().unwrap() = None;
            let verdict = match panic::catch_unwind(probe.run) {
                Ok(Ok(())) => Verdict::Pass,
                Ok(Err(Skip(reason))) => Verdict::Skip(reason),
                Err(payload) => Verdict::No(panic_message(payload)),
            };
            counts.add(&verdict);
            rows.push(Row {
                implementation: peer.name,
                peer: Some(peer.label),
                backend: BackendKind::Sqlite,
                check: probe.check,
                verdict,
            });
        }
        progress.line(&format!(
            "{}: {} probes: {} yes, {} no, {} skip ({:.1} s)",
            peer.name,
            probes.len(),
            counts.pass,
            counts.no,
            counts.skip,
            mine.elapsed().as_secs_f64()
        ));
    }
    drop(panic::take_hook());
    progress.finish();

    Outcomes { rows, elapsed: started.elapsed() }
}

/// A panic's message, whatever its payload.
fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Progress on stderr: on a terminal, one line rewritten in place plus a line per
/// finished implementation; elsewhere (CI logs, pipes) only the plain lines.
#[derive(Debug)]
struct Progress {
    terminal: bool,
    /// Whether the in-place line is showing and must be cleared first.
    dirty: bool,
}

impl Progress {
    fn new() -> Progress {
        Progress { terminal: std::io::stderr().is_terminal(), dirty: false }
    }

    /// Rewrites the in-place line (terminals only).
    fn update(&mut self, text: &str) {
        if self.terminal {
            let text: String = text.chars().take(100).collect();
            eprint!("\r\x1b[K{text}");
            let _ = std::io::stderr().flush();
            self.dirty = true;
        }
    }

    /// Prints a line that stays.
    fn line(&mut self, text: &str) {
        self.finish();
        eprintln!("{text}");
    }

    /// Clears the in-place line.
    fn finish(&mut self) {
        if self.dirty {
            eprint!("\r\x1b[K");
            self.dirty = false;
        }
    }
}
