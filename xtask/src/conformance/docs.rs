//! Each check's description, for the HTML report's hover text: read from the suite's
//! source, where every check function carries a one-line `///` doc (what it asserts) and,
//! when ported, a `//` comment naming its SQLAlchemy source (`test_pool.py
//! QueuePoolTest.test_timeout: ...`).
//!
//! Reading the source keeps `pool_conformance::Check` as it is (no description to keep in
//! step by hand); a check whose doc cannot be found simply has none.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// What the source says about one check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckDoc {
    /// The `///` doc: what the check asserts.
    pub summary: String,
    /// The `//` comment above it, usually naming the SQLAlchemy test it ports.
    pub source: String,
}

/// Descriptions by check name (`group::name`).
#[derive(Debug, Clone, Default)]
pub struct CheckDocs(BTreeMap<String, CheckDoc>);

impl CheckDocs {
    /// Reads every `*.rs` in `checks_dir` (the suite's `src/checks`); a file that cannot be
    /// read contributes nothing.
    pub fn load(checks_dir: &Path) -> CheckDocs {
        let mut docs = CheckDocs::default();
        let Ok(entries) = fs::read_dir(checks_dir) else { return docs };
        for path in entries.flatten().map(|e| e.path()) {
            let Some(group) = path.file_stem().and_then(|s| s.to_str()) else { continue };
            if path.extension().is_some_and(|e| e == "rs") {
                if let Ok(text) = fs::read_to_string(&path) {
                    docs.parse(group, &text);
                }
            }
        }
        docs
    }

    /// Adds the doc of every `pub fn` in `text`, a file of group `group`.
    pub fn parse(&mut self, group: &str, text: &str) {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(rest) = line.strip_prefix("pub fn ") else { continue };
            let name: String =
                rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let (mut summary, mut source) = (Vec::new(), Vec::new());
            for above in lines[..i].iter().rev().map(|l| l.trim()) {
                if let Some(doc) = above.strip_prefix("///") {
                    summary.push(doc.trim());
                } else if let Some(comment) = above.strip_prefix("//") {
                    source.push(comment.trim());
                } else if !above.starts_with("#[") {
                    break;
                }
            }
            summary.reverse();
            source.reverse();
            self.0.insert(
                format!("{group}::{name}"),
                CheckDoc { summary: summary.join(" "), source: source.join(" ") },
            );
        }
    }

    /// The doc of `check`, if the source has one.
    pub fn get(&self, check: &str) -> Option<&CheckDoc> {
        self.0.get(check)
    }

    /// Sets the doc of `check` (for reports built from synthetic results).
    pub fn insert(&mut self, check: &str, doc: CheckDoc) {
        self.0.insert(check.to_string(), doc);
    }
}
