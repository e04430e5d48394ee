//! # `profile show`
//!
//! The effective profile as a commented TOML file: every rule of the
//! catalog with its title and guideline item, `enabled`, and each parameter
//! with what it means (the comments above it in the rule's file under
//! `remediations/`). A user saves it, edits it and passes it back with
//! `--profile`; loaded again it gives the same effective policy.

use crate::catalog::{Policy, RULE_FILES};
use std::fmt::Write;

/// The comment lines above each parameter of a rule file's `[params]`
/// table, joined, in file order: `(key, text)`.
pub fn param_docs(rule_file: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_params = false;
    let mut comments: Vec<&str> = Vec::new();
    for line in rule_file.lines() {
        let line = line.trim_end();
        if line.starts_with('[') {
            in_params = line == "[params]";
            comments.clear();
            continue;
        }
        if !in_params {
            continue;
        }
        if let Some(text) = line.strip_prefix('#') {
            comments.push(text.trim());
        } else if line.is_empty() {
            comments.clear();
        } else if line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && let Some((key, _)) = line.split_once('=')
        {
            out.push((key.trim().to_string(), comments.join(" ")));
            comments.clear();
        }
        // Anything else continues a multi-line value.
    }
    out
}

fn rule_file(id: &str) -> &'static str {
    let name = format!("{id}.toml");
    RULE_FILES
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, text)| *text)
        .unwrap_or("")
}

/// `text` as `# ` comment lines of at most `width` columns.
fn comment(out: &mut String, text: &str, width: usize) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    if line.len() > 1 {
        out.push_str(&line);
        out.push('\n');
    }
}

/// A value as TOML; arrays of more than one element one per line.
fn value(v: &toml::Value) -> String {
    match v {
        toml::Value::Array(items) if items.len() > 1 => {
            let mut s = String::from("[\n");
            for item in items {
                let _ = writeln!(s, "  {},", value(item));
            }
            s.push(']');
            s
        }
        toml::Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(value).collect();
            format!("[{}]", inner.join(", "))
        }
        other => other.to_string(),
    }
}

/// The effective profile of `policy`; `source` names where it came from
/// (`None`: the built-in profile).
pub fn show(policy: &Policy, source: Option<&str>) -> String {
    let mut out = String::new();
    let from = match source {
        Some(file) => format!("the profile {file} over the built-in one"),
        None => "the built-in profile".to_string(),
    };
    let _ = writeln!(out, "# dockhard profile: the effective policy, from {from}.");
    out.push_str(
        "#\n\
         # Save it, edit it, and use it with `dockhard --profile FILE plan`.\n\
         # Each [rules.ID] table may set `enabled` (true or false) and the\n\
         # rule's parameters; a rule or parameter left out keeps its built-in\n\
         # value, and an unknown one is an error. `dockhard explain ID` tells\n\
         # why a rule exists and what it may break.\n",
    );
    out.push('\n');
    comment(
        &mut out,
        &format!(
            "Snapshots: after a successful apply or rollback, the oldest snapshots in the state dir beyond the last `keep` are deleted (at least {}). A snapshot of an unfinished apply, and one that a kept rollback rolled back, are never deleted.",
            crate::snapshot::retention::MIN_KEEP
        ),
        76,
    );
    out.push_str("[snapshots]\n");
    let default_keep = crate::catalog::SnapshotSettings::default().keep;
    if policy.snapshots.keep != default_keep {
        let _ = writeln!(out, "# built-in: keep = {default_keep}");
    }
    let _ = writeln!(out, "keep = {}", policy.snapshots.keep);
    for config in &policy.rules {
        let rule = &config.rule;
        out.push('\n');
        comment(&mut out, &format!("{}: {}", rule.id, rule.title), 76);
        let _ = writeln!(
            out,
            "# guideline {}, kind {}, severity {}{}",
            rule.guideline,
            rule.kind,
            rule.severity.as_str(),
            if rule.disruptive { ", DISRUPTIVE" } else { "" }
        );
        let _ = writeln!(out, "[rules.{}]", rule.id);
        if config.enabled != rule.enabled {
            let _ = writeln!(out, "# built-in: enabled = {}", rule.enabled);
        }
        let _ = writeln!(out, "enabled = {}", config.enabled);
        let docs = param_docs(rule_file(&rule.id));
        let table = config.params.table();
        // File order first, then any parameter the file does not document.
        let mut keys: Vec<&str> = docs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| table.contains_key(*k))
            .collect();
        let undocumented: Vec<&str> = table
            .keys()
            .map(String::as_str)
            .filter(|k| !keys.contains(k))
            .collect();
        keys.extend(undocumented);
        for key in keys {
            let effective = &table[key];
            if let Some((_, doc)) = docs.iter().find(|(k, _)| k == key)
                && !doc.is_empty()
            {
                comment(&mut out, doc, 76);
            }
            if let Some(default) = rule.params.get(key)
                && default != effective
            {
                comment(&mut out, &format!("built-in: {key} = {default}"), 76);
            }
            let _ = writeln!(out, "{key} = {}", value(effective));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn same_policy(a: &Policy, b: &Policy) {
        assert_eq!(a.rules.len(), b.rules.len());
        for (x, y) in a.rules.iter().zip(&b.rules) {
            assert_eq!(x.rule.id, y.rule.id);
            assert_eq!(x.enabled, y.enabled, "{}", x.rule.id);
            assert_eq!(x.params.table(), y.params.table(), "{}", x.rule.id);
        }
    }

    #[test]
    fn every_parameter_is_documented_in_its_rule_file() {
        let catalog = Catalog::builtin().unwrap();
        for rule in &catalog.rules {
            let docs = param_docs(rule_file(&rule.id));
            for key in rule.params.keys() {
                let doc = docs.iter().find(|(k, _)| k == key);
                assert!(
                    doc.is_some_and(|(_, d)| !d.is_empty()),
                    "remediations/{}.toml: parameter `{key}` has no comment above it",
                    rule.id
                );
            }
        }
    }

    #[test]
    fn builtin_profile_round_trips() {
        let catalog = Catalog::builtin().unwrap();
        let builtin = Policy::load(&catalog, None).unwrap();
        let text = show(&builtin, None);
        let again = Policy::load(&catalog, Some(("shown.toml", &text))).unwrap();
        same_policy(&builtin, &again);
        assert_eq!(show(&again, None), text);
        for rule in &catalog.rules {
            assert!(text.contains(&format!("\n[rules.{}]\n", rule.id)), "{}", rule.id);
        }
        assert!(
            text.contains("# Kept setuid/setgid, matched by canonical path"),
            "{text}"
        );
        assert!(text.contains("\n[snapshots]\nkeep = 20\n"), "{text}");
        assert_eq!(again.snapshots, builtin.snapshots);
    }

    #[test]
    fn edited_profile_round_trips_and_shows_the_built_in_values() {
        let catalog = Catalog::builtin().unwrap();
        let profile = "[rules.mount-nosuid]\npoints = [\"/srv\", \"/tmp\"]\n\
                       [rules.suid-strip]\nenabled = false\nskip = [\"/opt/a \\\"b\\\"\"]\n\
                       [rules.subid-remap-range]\ncount = 131072\n\
                       [rules.iptables-docker-user]\nrestrict_egress = true\n\
                       [snapshots]\nkeep = 3\n";
        let edited = Policy::load(&catalog, Some(("p.toml", profile))).unwrap();
        let text = show(&edited, Some("p.toml"));
        assert!(text.contains("from the profile p.toml"), "{text}");
        assert!(
            text.contains("# built-in: enabled = true\nenabled = false\n"),
            "{text}"
        );
        assert!(
            text.contains("# built-in: count = 65536\ncount = 131072\n"),
            "{text}"
        );
        assert!(text.contains("# built-in: keep = 20\nkeep = 3\n"), "{text}");
        let again = Policy::load(&catalog, Some(("shown.toml", &text))).unwrap();
        same_policy(&edited, &again);
        assert_eq!(again.snapshots.keep, 3);
        assert_eq!(again.rule("suid-strip").params.strings("skip"), ["/opt/a \"b\""]);
    }

    #[test]
    fn param_docs_follow_the_file() {
        let text = "id = \"x\"\n# not a param\n[params]\n# One\n# two.\na = [\n  1,\n]\n\n# gone\n\nb = 1\nc = 2 # trailing\n";
        assert_eq!(
            param_docs(text),
            [
                ("a".to_string(), "One two.".to_string()),
                ("b".to_string(), String::new()),
                ("c".to_string(), String::new()),
            ]
        );
    }
}
