//! # Rendering
//!
//! Turns a plan into the diff-style text a person reviews, or JSON. The
//! content of a plan does not depend on how it is shown.

use crate::catalog::Catalog;
use crate::plan::{Change, Finding, Plan, Severity, Status};
use std::fmt::Write;

/// Whether to use ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    pub verbose: bool,
}

impl Style {
    pub const PLAIN: Style = Style {
        color: false,
        verbose: false,
    };

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Shows control characters (from file names, file content) as `\xNN`, so
/// no input can start a line of its own in the rendering; tabs, and
/// newlines where `multiline`, are kept.
pub fn clean(text: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push(c),
            '\n' if multiline => out.push(c),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "INFO",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// The text rendering of a plan.
pub fn plan_text(plan: &Plan, catalog: &Catalog, style: Style) -> String {
    let mut out = String::new();
    let mode = if plan.offline {
        "offline"
    } else {
        "live host, read-only"
    };
    let _ = writeln!(out, "dockhard plan for {} ({mode})", plan.root);
    let kinds: Vec<&str> = plan.kinds.iter().map(|k| k.as_str()).collect();
    let _ = writeln!(out, "kinds: {}", kinds.join(", "));
    for kind in crate::planner::ORDER {
        let changes: Vec<&Change> = plan.changes.iter().filter(|c| c.kind == kind).collect();
        if changes.is_empty() {
            continue;
        }
        let _ = writeln!(out);
        let noun = if changes.len() == 1 { "change" } else { "changes" };
        let _ = writeln!(
            out,
            "{}",
            style.paint("1", &format!("== {kind}: {} {noun}", changes.len()))
        );
        for change in changes {
            change_text(&mut out, change, catalog, style);
        }
    }
    let shown: Vec<&Finding> = plan
        .findings
        .iter()
        .filter(|f| style.verbose || f.status != Status::Compliant)
        .collect();
    if !shown.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", style.paint("1", "== findings"));
        for finding in shown {
            finding_text(&mut out, finding, style);
        }
    }
    if !plan.live_steps_left_out.is_empty() && !plan.changes.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Live steps left out by this run:");
        for step in &plan.live_steps_left_out {
            let _ = writeln!(out, "  - {step}");
        }
    }
    let _ = writeln!(out);
    let disruptive = plan.changes.iter().filter(|c| c.disruptive).count();
    let errors = plan.findings.iter().filter(|f| f.status == Status::Error).count();
    let advisories = plan
        .findings
        .iter()
        .filter(|f| f.status == Status::Advisory)
        .count();
    let _ = writeln!(
        out,
        "Plan: {} change{} ({disruptive} disruptive), {advisories} advisor{}, {errors} error{}.",
        plan.changes.len(),
        if plan.changes.len() == 1 { "" } else { "s" },
        if advisories == 1 { "y" } else { "ies" },
        if errors == 1 { "" } else { "s" },
    );
    out
}

fn change_text(out: &mut String, change: &Change, catalog: &Catalog, style: Style) {
    let guideline = catalog
        .get(&change.rule)
        .map(|r| r.guideline.as_str())
        .unwrap_or("?");
    let marker = if change.disruptive {
        style.paint("1;31", "! DISRUPTIVE ")
    } else {
        String::new()
    };
    let _ = writeln!(out, "~ {marker}{}", clean(&change.summary, false));
    let _ = writeln!(
        out,
        "    rule {} ({guideline}), target {}, takes effect {}",
        change.rule,
        clean(&change.target, false),
        change.takes_effect.describe()
    );
    if let Some(text) = &change.may_break {
        let text = clean(text, true);
        let mut lines = text.lines();
        if let Some(first) = lines.next() {
            let _ = writeln!(out, "    may break: {first}");
            for line in lines {
                let _ = writeln!(out, "               {line}");
            }
        }
    }
    for line in change.diff.lines() {
        let line = clean(line.trim_end_matches('\r'), false);
        let line = line.as_str();
        let painted = if line.starts_with("+++") || line.starts_with("---") {
            style.paint("1", line)
        } else if line.starts_with('+') {
            style.paint("32", line)
        } else if line.starts_with('-') {
            style.paint("31", line)
        } else if line.starts_with("@@") {
            style.paint("36", line)
        } else {
            line.to_string()
        };
        let _ = writeln!(out, "    {painted}");
    }
}

fn finding_text(out: &mut String, finding: &Finding, style: Style) {
    let word = match finding.status {
        Status::Error => style.paint("1;31", "ERROR"),
        Status::NotApplicable => "N/A".to_string(),
        Status::Compliant => "OK".to_string(),
        Status::Advisory => {
            let word = severity_word(finding.severity);
            match finding.severity {
                Severity::Critical | Severity::High => style.paint("31", word),
                Severity::Medium => style.paint("33", word),
                _ => word.to_string(),
            }
        }
    };
    let target = finding
        .target
        .as_deref()
        .map(|t| format!(" {t}:"))
        .unwrap_or_default();
    let mut lines = finding.message.lines();
    let _ = writeln!(
        out,
        "{word:<8} {}{target} {}",
        finding.rule,
        lines.next().unwrap_or("")
    );
    for line in lines {
        let _ = writeln!(out, "         {line}");
    }
}

/// The JSON of a plan (pretty-printed, one object), as saved by `plan --out` and printed by `plan
/// --format json`: with its digest, so `apply` can tell a plan edited by hand.
pub fn plan_json(plan: &Plan) -> String {
    plan.to_saved_json()
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn control_characters_cannot_start_a_line() {
        assert_eq!(clean("a\nb\tc\r\x1b[31m", false), "a\\x0ab\tc\\x0d\\x1b[31m");
        assert_eq!(clean("one\ntwo", true), "one\ntwo");
    }
}
