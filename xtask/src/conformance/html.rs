//! The HTML report, `target/conformance/index.html`: the whole matrix in colour, with each
//! check's description, and each cell's skip reason or failure message, on hover (`title`
//! attributes). One self-contained file: inline CSS, no script, no external asset.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use super::docs::CheckDocs;
use super::results::{Column, Outcomes, Verdict};
use super::servers::{Found, ServerStatus};
use super::text::{abbreviations, redact, thousands};

/// The id of the matrix's `<table>`.
pub const MATRIX_ID: &str = "matrix";

const STYLE: &str = "
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
h2 { font-size: 1.1em; margin: 1.5em 0 .4em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ddd; padding: 1px 3px; }
thead th { position: sticky; top: 0; background: #f7f7f7; }
thead tr + tr th { top: 1.6em; }
th.check { text-align: left; font: 12px ui-monospace, monospace; white-space: nowrap; }
th.implementation { border-left: 2px solid #999; }
th.backend { font-weight: normal; font-size: 10px; }
td { text-align: center; font-size: 11px; cursor: default; }
td.first { border-left: 2px solid #999; }
.pass { background: #a5d6a7; }
.skip { background: #eceff1; color: #90a4ae; }
.fail { background: #e53935; color: #fff; font-weight: bold; }
.yes { background: #90caf9; }
.no { background: #ffcc80; }
.none { background: #fff; color: #ccc; }
.counts td { text-align: right; padding: 2px 8px; }
.legend span { display: inline-block; padding: 0 .6em; margin-right: .4em; border: 1px solid #ccc; }
pre { background: #fbe9e7; padding: .5em; white-space: pre-wrap; }
";

/// Writes the report to `path`, creating its directory.
pub fn write(
    path: &Path,
    outcomes: &Outcomes,
    docs: &CheckDocs,
    servers: &[ServerStatus],
) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, render(outcomes, docs, servers))
}

/// The report as one HTML document.
pub fn render(outcomes: &Outcomes, docs: &CheckDocs, servers: &[ServerStatus]) -> String {
    let mut h = String::new();
    let columns = outcomes.columns();
    let cells = outcomes.cells();
    let implementations = outcomes.implementations();
    let labels = abbreviations(&implementations);
    let own = outcomes.count(|r| r.peer.is_none());
    let peers = outcomes.count(|r| r.peer.is_some());

    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<title>sqlpool conformance</title>\n<style>");
    h.push_str(STYLE);
    h.push_str("</style>\n</head>\n<body>\n<h1>sqlpool conformance</h1>\n");
    let _ = writeln!(
        h,
        "<p id=\"summary\">{} results in {:.1} s: {} pass, {} skip, <b>{} fail</b>; peers: {} yes, {} no.</p>",
        thousands(own.total()),
        outcomes.elapsed.as_secs_f64(),
        thousands(own.pass),
        thousands(own.skip),
        own.fail,
        peers.pass,
        peers.no
    );
    if !servers.is_empty() {
        h.push_str("<ul id=\"servers\">\n");
        for s in servers {
            let text = match &s.found {
                Found::Explicit(url) => format!("{} from {}", redact(url), s.server.var),
                Found::Local(url) => format!("found at {url} ({} unset)", s.server.var),
                Found::Missing(why) => format!("not found ({why}): {}", s.hint()),
            };
            let _ = writeln!(h, "<li><b>{}</b>: {}</li>", esc(s.server.name), esc(&text));
        }
        h.push_str("</ul>\n");
    }

    // Counts per implementation and backend.
    let backends = outcomes.backends_of(|r| r.peer.is_none());
    h.push_str("<h2>Pass / skip / fail</h2>\n<table class=\"counts\">\n<tr><th></th>");
    for b in &backends {
        let _ = write!(h, "<th>{}</th>", esc(b.name()));
    }
    h.push_str("</tr>\n");
    for (name, _) in implementations.iter().filter(|(_, p)| p.is_none()) {
        let _ = write!(h, "<tr><th>{}</th>", esc(name));
        for b in &backends {
            let c = outcomes.count(|r| r.implementation == *name && r.backend == *b);
            let class = if c.fail > 0 { " class=\"fail\"" } else { "" };
            let _ = write!(h, "<td{class}>{} / {} / {}</td>", c.pass, c.skip, c.fail);
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");

    // The matrix.
    h.push_str("<h2>Matrix</h2>\n<p class=\"legend\"><span class=\"pass\">pass</span>");
    h.push_str("<span class=\"skip\">skip</span><span class=\"fail\">FAIL</span>");
    h.push_str("<span class=\"yes\">peer: yes</span><span class=\"no\">peer: no</span>");
    h.push_str("<span class=\"none\">not asked</span> Hover a check for what it asserts, a cell for its reason.</p>\n");
    let _ = writeln!(h, "<table id=\"{MATRIX_ID}\">\n<thead>\n<tr><th rowspan=\"2\">check</th>");
    let group = |name: &str| columns.iter().filter(|c| c.implementation == name).count();
    for ((name, _), label) in implementations.iter().zip(&labels) {
        let _ = write!(
            h,
            "<th class=\"implementation\" colspan=\"{}\" title=\"{}\">{}</th>",
            group(name),
            esc(name),
            esc(label)
        );
    }
    h.push_str("</tr>\n<tr>");
    for c in &columns {
        let tag = c.peer.map_or(c.backend.tag(), |_| "sql");
        let _ = write!(
            h,
            "<th class=\"backend\" title=\"{}\">{}</th>",
            esc(c.backend.name()),
            esc(tag)
        );
    }
    h.push_str("</tr>\n</thead>\n<tbody>\n");
    for check in outcomes.checks() {
        let about = docs.get(check).map_or(String::new(), |d| {
            if d.source.is_empty() {
                d.summary.clone()
            } else {
                format!("{}\n\n{}", d.summary, d.source)
            }
        });
        let _ = write!(h, "<tr><th class=\"check\" title=\"{}\">{}</th>", esc(&about), esc(check));
        let mut previous: Option<&str> = None;
        for c in &columns {
            let verdict = cells.get(check, c);
            let (class, symbol) = class_and_symbol(verdict, c);
            let first = if previous != Some(c.implementation) { " first" } else { "" };
            previous = Some(c.implementation);
            let title = cell_title(check, c, verdict, docs);
            let _ =
                write!(h, "<td class=\"{class}{first}\" title=\"{}\">{symbol}</td>", esc(&title));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n");

    // Every failure, in full.
    let failures: Vec<_> = outcomes.failures().collect();
    if !failures.is_empty() {
        let _ = writeln!(h, "<h2 id=\"failures\">{} failed</h2>", failures.len());
        for r in failures {
            let _ = writeln!(
                h,
                "<h3>{} ({} on {})</h3>\n<pre>{}</pre>",
                esc(r.check),
                esc(r.implementation),
                esc(r.backend.name()),
                esc(r.verdict.reason().unwrap_or_default())
            );
        }
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// A cell's class and text.
fn class_and_symbol(verdict: Option<&Verdict>, column: &Column) -> (&'static str, &'static str) {
    match (verdict, column.peer.is_some()) {
        (None, _) => ("none", "-"),
        (Some(Verdict::Pass), false) => ("pass", "\u{2713}"),
        (Some(Verdict::Pass), true) => ("yes", "yes"),
        (Some(Verdict::Skip(_)), _) => ("skip", "\u{b7}"),
        (Some(Verdict::Fail(_)), _) => ("fail", "\u{2717}"),
        (Some(Verdict::No(_)), _) => ("no", "no"),
    }
}

/// A cell's hover text: where, what happened and why, then what the check asserts.
fn cell_title(check: &str, column: &Column, verdict: Option<&Verdict>, docs: &CheckDocs) -> String {
    let what = match verdict {
        None => "not asked (no probe for this check)".to_string(),
        Some(Verdict::Pass) if column.peer.is_some() => "yes: the peer does this".to_string(),
        Some(Verdict::Pass) => "pass".to_string(),
        Some(Verdict::Skip(reason)) => format!("skip: {reason}"),
        Some(Verdict::Fail(message)) => format!("FAIL: {message}"),
        Some(Verdict::No(message)) => format!("no: {message}"),
    };
    let mut title =
        format!("{check}\n{} on {}: {what}", column.implementation, column.backend.name());
    if let Some(doc) = docs.get(check) {
        let _ = write!(title, "\n\n{}", doc.summary);
    }
    title
}

/// `text` escaped for HTML text and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
