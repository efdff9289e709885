//! The terminal reports: the short summary printed by default and the full matrix of
//! `--matrix`. Both keep their lines under about 130 characters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::results::{Column, Counts, Outcomes, Verdict};
use super::servers::{Found, ServerStatus, SERVERS};

/// How many skip reasons (besides unset server variables) the summary lists.
const SKIP_REASONS_SHOWN: usize = 8;
/// Where the summary cuts a long skip reason.
const REASON_WIDTH: usize = 100;

/// The short report: counts per implementation and backend, the servers, the peers'
/// answers, the skip reasons grouped and counted, every failure in full, and where the
/// HTML report is.
pub fn summary(outcomes: &Outcomes, servers: &[ServerStatus], html: Option<&Path>) -> String {
    let mut out = String::new();
    let own = |r: &super::results::Row| r.peer.is_none();
    let implementations = outcomes.implementations();
    let (mine, peers): (Vec<_>, Vec<_>) = implementations.iter().partition(|(_, p)| p.is_none());
    let backends = outcomes.backends_of(|r| r.peer.is_none());
    let all = outcomes.count(own);
    let _ = writeln!(
        out,
        "conformance: {} x {} x {} = {} results in {:.1} s",
        plural(outcomes.checks().len(), "check"),
        plural(mine.len(), "implementation"),
        plural(backends.len(), "backend"),
        thousands(all.total()),
        outcomes.elapsed.as_secs_f64()
    );

    // The servers, said once.
    let _ = writeln!(out, "servers:");
    for status in servers {
        let server = &status.server;
        let line = match &status.found {
            Found::Explicit(url) => format!("{} from {}", redact(url), server.var),
            Found::Local(url) => {
                format!("found at {url} ({} unset: used the local default)", server.var)
            }
            Found::Missing(why) => format!("not found ({why}); its checks skip: {}", status.hint()),
        };
        let _ = writeln!(out, "  {:<10} {line}", server.name);
    }

    // Counts: a row per backend, a column per implementation (the longer names run down).
    let _ = writeln!(out);
    let name_width = backends.iter().map(|b| b.name().len()).max().unwrap_or(0).max(14);
    let widths: Vec<usize> = mine.iter().map(|(n, _)| n.len().max(9)).collect();
    let mut header = format!("{:<name_width$}", "pass/skip/fail");
    for ((name, _), width) in mine.iter().zip(&widths) {
        let _ = write!(header, "  {name:>width$}");
    }
    let _ = writeln!(out, "{header}  {:>11}", "all");
    let mut row = |label: &str, keep: &dyn Fn(&super::results::Row) -> bool| {
        let mut line = format!("{label:<name_width$}");
        for ((name, _), width) in mine.iter().zip(&widths) {
            let c = outcomes.count(|r| r.implementation == *name && keep(r));
            let _ = write!(line, "  {:>width$}", cell(&c));
        }
        let c = outcomes.count(|r| r.peer.is_none() && keep(r));
        let _ = writeln!(out, "{line}  {:>11}", cell(&c));
    };
    for backend in &backends {
        row(backend.name(), &|r| r.backend == *backend);
    }
    row("all", &|_| true);

    // The peers.
    if !peers.is_empty() {
        let checks = outcomes.checks().len();
        let _ = writeln!(
            out,
            "\npeers (plain pools on SQLite, for reference; a \"no\" is not a failure):"
        );
        for (name, _) in &peers {
            let c = outcomes.count(|r| r.implementation == *name);
            let skip = if c.skip > 0 { format!(", {} no such API", c.skip) } else { String::new() };
            let _ = writeln!(
                out,
                "  {name:<32} {} yes, {} no{skip}, {} not asked",
                c.pass,
                c.no,
                checks.saturating_sub(c.total())
            );
        }
    }

    // The implementations' skips (the peers' are counted above), grouped by reason: unset
    // server variables first (they are what to act on).
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for r in outcomes.rows.iter().filter(|r| r.peer.is_none()) {
        if let Verdict::Skip(reason) = &r.verdict {
            *reasons.entry(reason).or_default() += 1;
        }
    }
    if !reasons.is_empty() {
        let total: usize = reasons.values().sum();
        let mut sorted: Vec<(&str, usize)> = reasons.into_iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let (unset, other): (Vec<_>, Vec<_>) =
            sorted.into_iter().partition(|(reason, _)| unset_var(reason).is_some());
        let _ = writeln!(
            out,
            "\n{} for {} (the checks do not apply; each cell's reason is in the HTML report):",
            plural(total, "skip"),
            plural(unset.len() + other.len(), "reason")
        );
        for (reason, n) in &unset {
            let var = unset_var(reason).expect("partitioned");
            let hint = SERVERS
                .iter()
                .find(|s| s.var == var)
                .map(|s| format!(" - set it, e.g. {var}={}", s.default_url))
                .unwrap_or_default();
            let _ = writeln!(out, "  {:>6}  {reason}{hint}", thousands(*n));
        }
        for (reason, n) in other.iter().take(SKIP_REASONS_SHOWN) {
            let _ = writeln!(out, "  {:>6}  {}", thousands(*n), cut(reason, REASON_WIDTH));
        }
        if other.len() > SKIP_REASONS_SHOWN {
            let rest = &other[SKIP_REASONS_SHOWN..];
            let _ = writeln!(
                out,
                "  {:>6}  for {} other reasons",
                thousands(rest.iter().map(|(_, n)| n).sum()),
                rest.len()
            );
        }
    }

    // Every failure in full.
    let failures: Vec<_> = outcomes.failures().collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n{} FAILED:", failures.len());
        for r in &failures {
            let _ =
                writeln!(out, "  FAIL {}  ({} on {})", r.check, r.implementation, r.backend.name());
            for line in r.verdict.reason().unwrap_or_default().lines() {
                let _ = writeln!(out, "       {line}");
            }
        }
    }

    let _ = writeln!(out);
    if let Some(html) = html {
        let _ = writeln!(out, "HTML report (the full matrix): {}", html.display());
    }
    if failures.is_empty() {
        let _ = writeln!(
            out,
            "ok: no check failed ({} pass, {} skip)",
            thousands(all.pass),
            thousands(all.skip)
        );
    } else {
        let _ = writeln!(out, "FAILED: {} of {} results", failures.len(), thousands(all.total()));
    }
    out
}

/// The full matrix: a row per check, a column per implementation and backend (the
/// backends' three-letter tags read downwards), then the peers' columns, and a legend.
pub fn matrix(outcomes: &Outcomes) -> String {
    let mut out = String::new();
    let columns = outcomes.columns();
    let cells = outcomes.cells();
    let checks = outcomes.checks();
    let implementations = outcomes.implementations();
    let labels = abbreviations(&implementations);

    // Columns in groups: one per implementation, and the peers together.
    let mut groups: Vec<(String, Vec<Column>)> = Vec::new();
    for ((name, peer), label) in implementations.iter().zip(&labels) {
        let mine: Vec<Column> =
            columns.iter().copied().filter(|c| c.implementation == *name).collect();
        match peer {
            Some(_) => match groups.last_mut() {
                Some((title, cols)) if title == "peers" => cols.extend(mine),
                _ => groups.push(("peers".to_string(), mine)),
            },
            None => groups.push((label.clone(), mine)),
        }
    }
    // A column's three-letter tag: the backend's, or the peer's label.
    let tag = |c: &Column| -> Vec<char> {
        let text = c.peer.unwrap_or(c.backend.tag());
        let mut chars: Vec<char> = text.chars().take(3).collect();
        chars.resize(3, ' ');
        chars
    };

    let width = checks.iter().map(|c| c.len()).max().unwrap_or(5).max(5);
    let mut line = format!("{:<width$}", "");
    for (title, cols) in &groups {
        let _ = write!(line, " {title:<w$}", w = cols.len());
    }
    let _ = writeln!(out, "{}", line.trim_end());
    for row in 0..3 {
        let mut line = format!("{:<width$}", if row == 2 { "check" } else { "" });
        for (_, cols) in &groups {
            line.push(' ');
            line.extend(cols.iter().map(|c| tag(c)[row]));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for check in &checks {
        let mut line = format!("{check:<width$}");
        for (_, cols) in &groups {
            line.push(' ');
            line.extend(cols.iter().map(|c| symbol(cells.get(check, c), c.peer.is_some())));
        }
        let _ = writeln!(out, "{line}");
    }

    // The legend.
    let _ = writeln!(
        out,
        "\ncells: + pass, . skip, X FAIL; peers: y yes, n no, . no such API, - not asked"
    );
    let names: Vec<String> = implementations
        .iter()
        .zip(&labels)
        .filter(|((_, peer), _)| peer.is_none())
        .map(|((name, _), label)| format!("{label} = {name}"))
        .collect();
    wrap(&mut out, "implementations:", &names);
    let backends: Vec<String> = outcomes
        .backends_of(|r| r.peer.is_none())
        .iter()
        .map(|b| format!("{} = {}", b.tag(), b.name()))
        .collect();
    wrap(&mut out, "backends (read down):", &backends);
    let peers: Vec<String> = implementations
        .iter()
        .filter_map(|(name, peer)| {
            peer.map(|p| format!("{} = {name} on sqlite", p.chars().take(3).collect::<String>()))
        })
        .collect();
    if !peers.is_empty() {
        wrap(&mut out, "peers (read down):", &peers);
    }
    out
}

/// Short labels for the implementations: the capitals of the name (QueuePool: QP, as
/// SQLAlchemy's test suite tags them), or its first three letters when it has fewer than
/// two capitals; a peer keeps its label.
pub fn abbreviations(implementations: &[(&str, Option<&str>)]) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for (name, peer) in implementations {
        let mut label = match peer {
            Some(peer) => peer.to_string(),
            None => {
                let capitals: String = name.chars().filter(char::is_ascii_uppercase).collect();
                if capitals.len() >= 2 {
                    capitals
                } else {
                    name.chars().filter(char::is_ascii_alphanumeric).take(3).collect()
                }
            }
        };
        if labels.contains(&label) {
            label = format!("{label}{}", labels.len() + 1);
        }
        labels.push(label);
    }
    labels
}

/// Writes `title` and `items`, comma-separated, in lines of at most about 110 characters
/// (the items' lines indented).
fn wrap(out: &mut String, title: &str, items: &[String]) {
    let mut line = title.to_string();
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() { format!("{item},") } else { item.clone() };
        if line.len() + 1 + piece.len() > 110 && line.trim() != title {
            let _ = writeln!(out, "{line}");
            line = " ".repeat(2);
            line.push_str(&piece);
        } else {
            line.push(' ');
            line.push_str(&piece);
        }
    }
    let _ = writeln!(out, "{line}");
}

/// The matrix's one-character cell.
fn symbol(verdict: Option<&Verdict>, peer: bool) -> char {
    match (verdict, peer) {
        (None, _) => '-',
        (Some(Verdict::Pass), false) => '+',
        (Some(Verdict::Pass), true) => 'y',
        (Some(Verdict::Skip(_)), _) => '.',
        (Some(Verdict::Fail(_)), _) => 'X',
        (Some(Verdict::No(_)), _) => 'n',
    }
}

/// `pass/skip/fail`.
fn cell(c: &Counts) -> String {
    format!("{}/{}/{}", c.pass, c.skip, c.fail)
}

/// The variable a skip reason says is unset (`POOL_TEST_MYSQL_URL is not set`).
fn unset_var(reason: &str) -> Option<&str> {
    reason.strip_suffix(" is not set").filter(|v| v.starts_with("POOL_TEST_"))
}

/// `text`, cut to `width` characters with an ellipsis.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(3)).collect();
        cut.push_str("...");
        cut
    }
}

/// `n thing` or `n things`, `n` with thousands separators.
fn plural(n: usize, thing: &str) -> String {
    format!("{} {thing}{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// `n` with thousands separators (`3,096`).
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A URL without its password (`postgres://user:***@host/db`).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    use pool_conformance::BackendKind;

    use crate::conformance::results::Row;
    use crate::conformance::servers::Server;

    /// Two implementations on two backends (one a server whose variable is unset), one
    /// failure, and the servers as on a machine without MariaDB.
    fn run_without_mariadb() -> (Outcomes, Vec<ServerStatus>) {
        let mut rows = Vec::new();
        for implementation in ["QueuePool", "NullPool"] {
            for check in ["base::a", "base::b", "base::c"] {
                for backend in [BackendKind::Sqlite, BackendKind::Mysql] {
                    let verdict = match (implementation, check, backend) {
                        (_, _, BackendKind::Mysql) => {
                            Verdict::Skip("POOL_TEST_MYSQL_URL is not set".into())
                        }
                        ("NullPool", "base::c", _) => Verdict::Fail("boom\nsecond line".into()),
                        (_, "base::b", _) => Verdict::Skip("needs fault injection".into()),
                        _ => Verdict::Pass,
                    };
                    rows.push(Row { implementation, peer: None, backend, check, verdict });
                }
            }
        }
        let servers = SERVERS
            .iter()
            .map(|&server: &Server| {
                let found = if server.var == "POOL_TEST_MYSQL_URL" {
                    Found::Missing("nothing answers at 127.0.0.1:3306".into())
                } else {
                    Found::Local(server.default_url.into())
                };
                ServerStatus { server, found }
            })
            .collect();
        (Outcomes { rows, elapsed: Duration::from_secs(2) }, servers)
    }

    #[test]
    fn the_summary_counts_groups_and_says_what_to_set() {
        let (outcomes, servers) = run_without_mariadb();
        let text = summary(&outcomes, &servers, Some(Path::new("/t/conformance/index.html")));
        assert!(
            text.starts_with("conformance: 3 checks x 2 implementations x 2 backends = 12 results"),
            "{text}"
        );
        assert!(text.contains("MariaDB    not found (nothing answers at 127.0.0.1:3306); its checks skip: set POOL_TEST_MYSQL_URL"), "{text}");
        assert!(text.contains("       6  POOL_TEST_MYSQL_URL is not set - set it, e.g. POOL_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test"), "{text}");
        assert!(text.contains("       2  needs fault injection"), "{text}");
        assert!(text.contains("sqlite              2/1/0      1/1/1        3/2/1"), "{text}");
        assert!(
            text.contains(
                "  FAIL base::c  (NullPool on sqlite)\n       boom\n       second line\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("HTML report (the full matrix): /t/conformance/index.html"),
            "{text}"
        );
        assert!(text.ends_with("FAILED: 1 of 12 results\n"), "{text}");
    }

    #[test]
    fn the_matrix_fits_and_has_a_legend() {
        let (outcomes, _) = run_without_mariadb();
        let text = matrix(&outcomes);
        assert!(text.contains("        QP NP\n"), "{text}");
        assert!(text.contains("base::c +. X."), "{text}");
        assert!(text.contains("implementations: QP = QueuePool, NP = NullPool"), "{text}");
        assert!(text.contains("backends (read down): sql = sqlite, mys = mysql"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() < 160), "{text}");
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(3096), "3,096");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("mysql://root@127.0.0.1:3306/test"), "mysql://root@127.0.0.1:3306/test");
        assert_eq!(redact("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
    }

    #[test]
    fn abbreviations_are_short_and_unique() {
        let names = [
            ("QueuePool", None),
            ("SingletonThreadPool", None),
            ("Deadpool (async)", None),
            ("r2d2::Pool (peer)", Some("r2d2")),
        ];
        assert_eq!(abbreviations(&names), ["QP", "STP", "Dea", "r2d2"]);
    }
}
