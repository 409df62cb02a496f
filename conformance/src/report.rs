//! The pass/fail table: one row per scenario, one column per kubectl version.

use std::fmt::Write;

/// Scenarios known to fail, from `known-failures.txt`: (scenario, version or `*`, why).
#[derive(Debug, Default, Clone)]
pub struct KnownFailures(Vec<(String, String, String)>);

impl KnownFailures {
    /// Parses `scenario | version-or-* | why` lines; `#` starts a comment.
    pub fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let mut parts = l.splitn(3, '|').map(str::trim);
                Some((parts.next()?.to_owned(), parts.next()?.to_owned(), parts.next().unwrap_or_default().to_owned()))
            })
            .collect();
        Self(entries)
    }

    /// Why this scenario is known to fail with this version, if it is.
    pub fn reason(&self, scenario: &str, version: &str) -> Option<&str> {
        self.0.iter().find(|(s, v, _)| s == scenario && (v == "*" || v == version)).map(|(_, _, why)| why.as_str())
    }
}

/// The verdicts of every scenario under every version.
#[derive(Debug, Default)]
pub struct Report {
    pub versions: Vec<String>,
    /// (scenario, one verdict per version: `None` passed, `Some(why)` failed).
    pub rows: Vec<(&'static str, Vec<Option<String>>)>,
    pub known: KnownFailures,
}

impl Report {
    fn verdicts(&self) -> impl Iterator<Item = (&'static str, &String, &Option<String>)> {
        self.rows.iter().flat_map(|(name, verdicts)| {
            self.versions.iter().zip(verdicts).map(move |(v, verdict)| (*name, v, verdict))
        })
    }

    /// Failures not listed as known.
    pub fn failures(&self) -> usize {
        self.verdicts().filter(|(n, v, verdict)| verdict.is_some() && self.known.reason(n, v).is_none()).count()
    }

    /// Known failures that failed as expected.
    pub fn known_failures(&self) -> usize {
        self.verdicts().filter(|(n, v, verdict)| verdict.is_some() && self.known.reason(n, v).is_some()).count()
    }

    /// Listed as known, but passed: the list should lose that line.
    pub fn fixed(&self) -> Vec<String> {
        self.verdicts()
            .filter(|(n, v, verdict)| verdict.is_none() && self.known.reason(n, v).is_some())
            .map(|(n, v, _)| format!("{n} | {v}"))
            .collect()
    }

    pub fn passes(&self) -> usize {
        self.rows.iter().flat_map(|(_, v)| v).filter(|v| v.is_none()).count()
    }

    /// The table, then each failure's reason.
    pub fn render(&self) -> String {
        let width = self.rows.iter().map(|(n, _)| n.len()).max().unwrap_or(8).max(8);
        let mut out = String::new();
        let _ = write!(out, "{:width$}", "scenario");
        for version in &self.versions {
            let _ = write!(out, "  {version:>5}");
        }
        out.push('\n');
        for (name, verdicts) in &self.rows {
            let _ = write!(out, "{name:width$}");
            for (version, verdict) in self.versions.iter().zip(verdicts) {
                let cell = match (verdict, self.known.reason(name, version)) {
                    (None, _) => "PASS",
                    (Some(_), Some(_)) => "KNOWN",
                    (Some(_), None) => "FAIL",
                };
                let _ = write!(out, "  {cell:>5}");
            }
            out.push('\n');
        }
        for (name, verdicts) in &self.rows {
            for (version, verdict) in self.versions.iter().zip(verdicts) {
                match (verdict, self.known.reason(name, version)) {
                    (Some(why), None) => {
                        let _ = writeln!(out, "FAIL {name} (kubectl {version}): {why}");
                    }
                    (Some(_), Some(known)) => {
                        let _ = writeln!(out, "KNOWN {name} (kubectl {version}): {known}");
                    }
                    (None, _) => {}
                }
            }
        }
        for fixed in self.fixed() {
            let _ = writeln!(out, "FIXED {fixed}: passes now; remove it from known-failures.txt");
        }
        let _ = writeln!(out, "known failures (see conformance/known-failures.txt): {}", self.known_failures());
        let _ = writeln!(out, "conformance: {} passed, {} failed", self.passes(), self.failures());
        out
    }
}
