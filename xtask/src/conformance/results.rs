//! What a run produced: one [`Row`] per check, implementation and backend, and the views
//! the reports share (columns, counts).

use std::collections::HashMap;
use std::time::Duration;

use pool_conformance::BackendKind;

/// The result of one check on one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The check passed (for a peer: the peer does what the check asserts).
    Pass,
    /// The check cannot run here; the reason says why.
    Skip(String),
    /// The check failed; the message is the panic's, with its location.
    Fail(String),
    /// A peer's probe panicked: the peer does not do what the check asserts. Not a failure.
    No(String),
}

impl Verdict {
    /// The word JSON uses: `pass`, `skip`, `fail` or `no`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Skip(_) => "skip",
            Verdict::Fail(_) => "fail",
            Verdict::No(_) => "no",
        }
    }

    /// The skip reason, failure message or peer's "no" message.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Pass => None,
            Verdict::Skip(s) | Verdict::Fail(s) | Verdict::No(s) => Some(s),
        }
    }
}

/// One check on one implementation and backend.
#[derive(Debug, Clone)]
pub struct Row {
    /// The implementation's name (`QueuePool`), or a peer's row name (`r2d2::Pool (peer)`).
    pub implementation: &'static str,
    /// For a peer's reference row, its short label (`r2d2`); `None` for the workspace's
    /// own implementations.
    pub peer: Option<&'static str>,
    /// The backend it ran on (peers: SQLite).
    pub backend: BackendKind,
    /// The check's `group::name`.
    pub check: &'static str,
    /// What happened.
    pub verdict: Verdict,
}

/// One column of the matrix: an implementation (or peer) on a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The implementation's or peer's row name.
    pub implementation: &'static str,
    /// The peer's label, for a peer.
    pub peer: Option<&'static str>,
    /// The backend.
    pub backend: BackendKind,
}

/// Pass, skip, fail and "no" counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Passed (peers: "yes").
    pub pass: usize,
    /// Skipped.
    pub skip: usize,
    /// Failed.
    pub fail: usize,
    /// A peer's "no".
    pub no: usize,
}

impl Counts {
    /// Counts `verdict`.
    pub fn add(&mut self, verdict: &Verdict) {
        match verdict {
            Verdict::Pass => self.pass += 1,
            Verdict::Skip(_) => self.skip += 1,
            Verdict::Fail(_) => self.fail += 1,
            Verdict::No(_) => self.no += 1,
        }
    }

    /// Every result counted.
    pub fn total(&self) -> usize {
        self.pass + self.skip + self.fail + self.no
    }
}

/// Everything one run produced.
#[derive(Debug, Clone, Default)]
pub struct Outcomes {
    /// Every result, implementations first (in `harnesses::all()` order, check by check,
    /// backend by backend), then the peers'.
    pub rows: Vec<Row>,
    /// How long the checks took.
    pub elapsed: Duration,
}

impl Outcomes {
    /// The columns, in the order first seen.
    pub fn columns(&self) -> Vec<Column> {
        let mut columns: Vec<Column> = Vec::new();
        for r in &self.rows {
            let column =
                Column { implementation: r.implementation, peer: r.peer, backend: r.backend };
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        columns
    }

    /// The implementations and peers, in the order first seen, each with its peer label.
    pub fn implementations(&self) -> Vec<(&'static str, Option<&'static str>)> {
        let mut names: Vec<(&'static str, Option<&'static str>)> = Vec::new();
        for r in &self.rows {
            if !names.iter().any(|(n, _)| *n == r.implementation) {
                names.push((r.implementation, r.peer));
            }
        }
        names
    }

    /// The backends of the rows `keep` selects, in the order first seen.
    pub fn backends_of(&self, keep: impl Fn(&Row) -> bool) -> Vec<BackendKind> {
        let mut backends: Vec<BackendKind> = Vec::new();
        for r in self.rows.iter().filter(|r| keep(r)) {
            if !backends.contains(&r.backend) {
                backends.push(r.backend);
            }
        }
        backends
    }

    /// The checks, in the order first seen.
    pub fn checks(&self) -> Vec<&'static str> {
        let mut checks: Vec<&'static str> = Vec::new();
        for r in &self.rows {
            if !checks.contains(&r.check) {
                checks.push(r.check);
            }
        }
        checks
    }

    /// Every result by check and column, for reports that look cells up.
    pub fn cells(&self) -> Cells<'_> {
        Cells(
            self.rows
                .iter()
                .map(|r| ((r.check, r.implementation, r.backend.name()), &r.verdict))
                .collect(),
        )
    }

    /// The counts of the rows `keep` selects.
    pub fn count(&self, keep: impl Fn(&Row) -> bool) -> Counts {
        let mut counts = Counts::default();
        for r in self.rows.iter().filter(|r| keep(r)) {
            counts.add(&r.verdict);
        }
        counts
    }

    /// The failed rows.
    pub fn failures(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| matches!(r.verdict, Verdict::Fail(_)))
    }
}

/// The results of an [`Outcomes`] by check and column (see [`Outcomes::cells`]).
#[derive(Debug)]
pub struct Cells<'a>(HashMap<(&'static str, &'static str, &'static str), &'a Verdict>);

impl Cells<'_> {
    /// The result of `check` in `column`, if it ran there.
    pub fn get(&self, check: &'static str, column: &Column) -> Option<&Verdict> {
        self.0.get(&(check, column.implementation, column.backend.name())).copied()
    }
}
