//! Saved plans carry a digest: a plan edited by hand after dockhard wrote
//! it (a mode, a target, a diff the operator approved, a change removed or
//! moved, a field added, the digest itself) is refused, naming the file, and nothing is
//! applied; the plan as written, even re-indented, still applies.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// Saves the plan of a fresh basic root to a file outside the root.
fn saved(root: &Path, dir: &Path) -> (std::path::PathBuf, Value) {
    let path = dir.join("plan.json");
    let run = on(root, &["plan", "--out", path.to_str().unwrap(), "-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let bytes = std::fs::read(&path).unwrap();
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        value["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:") && d.len() == 7 + 64),
        "no digest in the saved plan"
    );
    (path, value)
}

fn change_mut<'a>(plan: &'a mut Value, op: &str) -> &'a mut Value {
    plan["changes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["action"]["op"] == op)
        .unwrap_or_else(|| panic!("no {op} change in the plan"))
}

type Edit = fn(&mut Value);

/// Each hand edit, by name.
const EDITS: &[(&str, Edit)] = &[
    ("mode of a set-id change", |p| {
        change_mut(p, "set-mode")["action"]["mode"] = 0o6777.into();
    }),
    ("target shown", |p| {
        change_mut(p, "set-mode")["target"] = "/usr/bin/ls".into();
    }),
    ("target and action path together", |p| {
        let change = change_mut(p, "set-mode");
        change["target"] = "/usr/bin/passwd".into();
        change["action"]["path"] = "/usr/bin/passwd".into();
    }),
    ("diff text", |p| {
        let change = change_mut(p, "write-file");
        change["diff"] = "(nothing of note)\n".into();
    }),
    ("summary", |p| {
        change_mut(p, "write-file")["summary"] = "harmless".into();
    }),
    ("content written", |p| {
        let change = change_mut(p, "write-file");
        let text = change["action"]["content"].as_str().unwrap().to_string();
        change["action"]["content"] = format!("{text}# one more line\n").into();
    }),
    ("precondition", |p| {
        change_mut(p, "set-mode")["action"]["expect"]["mode"] = 0o755.into();
    }),
    ("a change removed", |p| {
        p["changes"].as_array_mut().unwrap().remove(0);
    }),
    ("two changes swapped", |p| {
        p["changes"].as_array_mut().unwrap().swap(0, 1);
    }),
    ("a finding removed", |p| {
        p["findings"].as_array_mut().unwrap().pop();
    }),
    ("a live step marked offline", |p| {
        p["offline"] = false.into();
    }),
    ("kinds", |p| {
        p["kinds"] = serde_json::json!(["suid"]);
    }),
    ("a field added to the plan", |p| {
        p["note"] = "approved by the change board".into();
    }),
    ("a field added to a change", |p| {
        change_mut(p, "set-mode")["approved"] = true.into();
    }),
    ("a field added to an action", |p| {
        change_mut(p, "write-file")["action"]["backup"] = "/tmp/x".into();
    }),
    ("a precondition's optional field written as null", |p| {
        change_mut(p, "set-mode")["action"]["expect"]["links"] = Value::Null;
    }),
    ("digest removed", |p| {
        p.as_object_mut().unwrap().remove("digest");
    }),
    ("digest null", |p| {
        p["digest"] = Value::Null;
    }),
    ("digest of another plan", |p| {
        p["digest"] = format!("sha256:{}", "0".repeat(64)).into();
    }),
    ("digest as a number", |p| {
        p["digest"] = 7.into();
    }),
];

#[test]
fn every_kind_of_hand_edit_is_refused_and_nothing_is_applied() {
    let work = tempfile::tempdir().unwrap();
    let dir = basic_root();
    let root = dir.path();
    let (path, plan) = saved(root, work.path());
    let before = fingerprint(root, &[]);
    let shown = path.display().to_string();
    for (name, edit) in EDITS {
        let mut edited = plan.clone();
        edit(&mut edited);
        assert_ne!(edited, plan, "{name}: the edit changed nothing");
        std::fs::write(&path, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
        for args in [
            &["apply", &shown, "--yes"][..],
            &["apply", &shown, "--yes", "--format", "json"],
        ] {
            let run = on(root, args);
            assert_eq!(run.code, 1, "{name}: {args:?}\n{}{}", run.stdout, run.stderr);
            assert!(
                run.stderr.contains(&shown) && run.stderr.contains("changed after dockhard wrote it"),
                "{name}: {}",
                run.stderr
            );
            assert!(!run.stdout.contains("Applied"), "{name}: {}", run.stdout);
            assert_same_tree(&before, &fingerprint(root, &[]));
        }
    }
}

#[test]
fn the_plan_as_written_applies_and_so_does_a_reindented_copy() {
    let work = tempfile::tempdir().unwrap();
    let a = basic_root();
    let b = basic_root();
    let (path, plan) = saved(a.path(), work.path());
    let run = on(a.path(), &["apply", path.to_str().unwrap(), "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Applied"), "{}", run.stdout);
    assert_eq!(mode_of(a.path(), "/usr/bin/chfn"), 0o755);

    // Same content, other layout (compact, keys sorted): not an edit.
    let (path, _) = saved(b.path(), work.path());
    let plan_b: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        plan_b["changes"].as_array().unwrap().len(),
        plan["changes"].as_array().unwrap().len()
    );
    std::fs::write(&path, serde_json::to_string(&plan_b).unwrap()).unwrap();
    let run = on(b.path(), &["apply", path.to_str().unwrap(), "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_same_tree(
        &fingerprint(a.path(), &["var/lib/dockhard"]),
        &fingerprint(b.path(), &["var/lib/dockhard"]),
    );
}

#[test]
fn plan_printed_as_json_carries_the_same_kind_of_digest() {
    let dir = basic_root();
    let run = on(dir.path(), &["plan", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("printed.json");
    std::fs::write(&path, &run.stdout).unwrap();
    let plan = dockhard::plan::Plan::parse_saved(run.stdout.as_bytes(), "printed.json").unwrap();
    let value: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["digest"].as_str(), Some(plan.digest().as_str()));
    let applied = on(dir.path(), &["apply", path.to_str().unwrap(), "--yes", "-q"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
}

#[test]
fn a_plan_that_is_not_json_names_line_and_column() {
    let err = dockhard::plan::Plan::parse_saved(b"{\n  \"schema\": 1,\n  oops\n}\n", "p.json").unwrap_err();
    assert!(err.message().starts_with("p.json:3:3: "), "{err}");
    let err = dockhard::plan::Plan::parse_saved(b"{\"schema\": 2}", "p.json").unwrap_err();
    assert!(err.message().starts_with("p.json:1:"), "{err}");
}
