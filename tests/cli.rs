//! The built binary on fixture roots: plan (text against golden files, JSON),
//! apply, idempotence, rollback to an identical tree, stale plans, refusals.

mod common;

use common::*;
use std::path::Path;

const STATE: &str = "var/lib/dockhard";

fn golden_text(root: &Path, text: &str) -> String {
    text.replace(root.to_str().unwrap(), "<ROOT>")
}

#[test]
fn plan_is_read_only_and_renders_as_reviewed() {
    let dir = basic_root();
    let before = fingerprint(dir.path(), &[]);
    let run = on(dir.path(), &["plan"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_golden("basic.plan.txt", &golden_text(dir.path(), &run.stdout));
    let json = on(dir.path(), &["plan", "--format", "json", "--detailed-exitcode"]);
    assert_eq!(json.code, 2, "{}", json.stderr);
    // Not even the state dir is created by a plan.
    assert_same_tree(&before, &fingerprint(dir.path(), &[]));
}

#[test]
fn json_plan_holds_every_kind() {
    let dir = basic_root();
    let run = on(dir.path(), &["plan", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["schema"], 1);
    let changes = plan["changes"].as_array().unwrap();
    for kind in ["suid", "mount", "daemon", "iptables", "subid"] {
        assert!(changes.iter().any(|c| c["kind"] == kind), "no {kind} change");
    }
    for c in changes {
        for field in [
            "id",
            "rule",
            "kind",
            "target",
            "summary",
            "diff",
            "live",
            "disruptive",
        ] {
            assert!(!c[field].is_null(), "change without {field}: {c}");
        }
        assert!(c["target"].as_str().unwrap().starts_with('/'));
    }
    assert!(changes.iter().any(|c| c["target"] == "/usr/bin/chfn"));
    assert!(!changes.iter().any(|c| c["target"] == "/usr/bin/passwd"));
    assert!(
        changes
            .iter()
            .any(|c| c["rule"] == "daemon-userns-remap" && c["disruptive"] == true)
    );
}

#[test]
fn apply_is_idempotent_and_rollback_restores_the_tree() {
    let dir = basic_root();
    let r = dir.path();
    let before = fingerprint(r, &[]);
    let applied = on(r, &["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    assert!(applied.stdout.contains("Snapshot: "), "{}", applied.stdout);

    assert_eq!(mode_of(r, "/usr/bin/chfn"), 0o755);
    assert_eq!(
        mode_of(r, "/usr/sbin/pppd"),
        0o754,
        "only the set-id bits are cleared"
    );
    assert_eq!(mode_of(r, "/usr/bin/passwd"), 0o4755);
    assert_eq!(mode_of(r, "/usr/bin/sudo"), 0o4755);
    let fstab = read(r, "/etc/fstab");
    assert!(fstab.starts_with("# /etc/fstab: static file system information.\n#\n# <file system>\t"));
    assert!(
        fstab.contains("tmpfs\t\t/tmp\ttmpfs\tdefaults,size=2G,nosuid,nodev\t0\t0\n"),
        "{fstab}"
    );
    let daemon: serde_json::Value = serde_json::from_str(&read(r, "/etc/docker/daemon.json")).unwrap();
    assert_eq!(daemon["icc"], false);
    assert_eq!(daemon["x-site-note"]["owner"], "ops", "unknown keys kept");
    assert_eq!(daemon["userns-remap"], "default");
    assert!(
        daemon
            .get("insecure-registries")
            .is_none_or(|v| v.as_array().unwrap().is_empty())
    );
    let subuid = read(r, "/etc/subuid");
    assert!(
        subuid.starts_with("alice:100000:65536\ndockremap:165536:65536\n"),
        "{subuid}"
    );
    assert!(read(r, "/etc/passwd").contains("\ndockremap:x:"));

    let again = on(r, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        again.code, 0,
        "second plan not empty:\n{}{}",
        again.stdout, again.stderr
    );
    let noop = on(r, &["apply", "--yes"]);
    assert_eq!(noop.code, 0);
    assert!(noop.stdout.contains("Nothing to change"), "{}", noop.stdout);

    let rolled = on(r, &["rollback", "--yes"]);
    assert_eq!(rolled.code, 0, "{}\n{}", rolled.stdout, rolled.stderr);
    assert_same_tree(&before, &fingerprint(r, &[STATE]));
    let state_mode = mode_of(r, STATE);
    assert_eq!(state_mode, 0o700);
}

#[test]
fn rollback_is_itself_undoable() {
    let dir = basic_root();
    let r = dir.path();
    assert_eq!(on(r, &["apply", "--yes"]).code, 0);
    let hardened = fingerprint(r, &[STATE]);
    let rolled = on(r, &["rollback", "--yes"]);
    assert_eq!(rolled.code, 0, "{}", rolled.stderr);
    let id = rolled
        .stdout
        .split("This rollback is snapshot ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .expect("rollback names its snapshot")
        .to_string();
    let redo = on(r, &["rollback", &id, "--yes"]);
    assert_eq!(redo.code, 0, "{}", redo.stderr);
    assert_same_tree(&hardened, &fingerprint(r, &[STATE]));
    let list = on(r, &["snapshots", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
}

#[test]
fn saved_plan_applies_exactly_and_a_stale_one_is_refused() {
    let dir = basic_root();
    let r = dir.path();
    let plan_file = tempfile::NamedTempFile::new().unwrap();
    let plan_path = plan_file.path().to_str().unwrap();
    assert_eq!(on(r, &["plan", "--out", plan_path, "-q"]).code, 0);

    // The host changes between review and apply: refused, naming targets.
    let fstab = read(r, "/etc/fstab");
    write(r, "/etc/fstab", &format!("{fstab}# edited by someone\n"), 0o644);
    write(r, "/usr/bin/chfn", "replaced binary\n", 0o4755);
    let before = fingerprint(r, &[]);
    let stale = on(r, &["apply", plan_path, "--yes"]);
    assert_eq!(stale.code, 1);
    assert!(
        stale.stderr.contains("/etc/fstab") && stale.stderr.contains("/usr/bin/chfn"),
        "{}",
        stale.stderr
    );
    assert!(
        !stale.stderr.contains("/etc/subuid:"),
        "only changed targets are named: {}",
        stale.stderr
    );
    // Refused before it is shown: no diff that would read as if the
    // admin's edit were about to be removed.
    assert!(!stale.stdout.contains("# edited by someone"), "{}", stale.stdout);
    assert_same_tree(&before, &fingerprint(r, &[STATE]));

    // A fresh plan applies exactly its changes.
    assert_eq!(
        on(r, &["plan", "--out", plan_path, "--only", "suid", "-q"]).code,
        0
    );
    let exact = on(r, &["apply", plan_path, "--yes", "--format", "json"]);
    assert_eq!(exact.code, 0, "{}", exact.stderr);
    let out: serde_json::Value = serde_json::from_str(&exact.stdout).unwrap();
    let applied = out["applied"].as_array().unwrap();
    assert!(applied.iter().all(|id| id.as_str().unwrap().starts_with("suid:")));
    assert_eq!(mode_of(r, "/usr/bin/chfn"), 0o755);
    assert!(
        !read(r, "/etc/fstab").contains("nosuid"),
        "mount was not in the saved plan"
    );
    assert!(out["snapshot"].is_string());
}

#[test]
fn apply_without_terminal_or_yes_changes_nothing() {
    let dir = basic_root();
    let before = fingerprint(dir.path(), &[]);
    let run = on(dir.path(), &["apply"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no terminal"), "{}", run.stderr);
    assert_same_tree(&before, &fingerprint(dir.path(), &[STATE]));
}

#[test]
fn broken_daemon_json_blocks_apply_but_other_kinds_still_plan() {
    let dir = basic_root();
    let r = dir.path();
    write(r, "/etc/docker/daemon.json", "{\n  \"icc\": true,\n}\n", 0o644);
    let before = fingerprint(r, &[]);
    let plan = on(r, &["plan"]);
    assert_eq!(plan.code, 1);
    assert!(
        plan.stdout.contains("/etc/docker/daemon.json:3:"),
        "{}",
        plan.stdout
    );
    let apply = on(r, &["apply", "--yes"]);
    assert_eq!(apply.code, 1);
    assert!(apply.stderr.contains("nothing was applied"), "{}", apply.stderr);
    assert_same_tree(&before, &fingerprint(r, &[STATE]));
    let only = on(r, &["apply", "--yes", "--only", "suid,mount"]);
    assert_eq!(only.code, 0, "{}", only.stderr);
    assert_eq!(mode_of(r, "/usr/bin/chfn"), 0o755);
    assert_eq!(read(r, "/etc/docker/daemon.json"), "{\n  \"icc\": true,\n}\n");
}

#[test]
fn rollback_refuses_drift_unless_forced() {
    let dir = basic_root();
    let r = dir.path();
    let before = fingerprint(r, &[]);
    assert_eq!(on(r, &["apply", "--yes"]).code, 0);
    let fstab = read(r, "/etc/fstab");
    write(
        r,
        "/etc/fstab",
        &format!("{fstab}/dev/sdb1 /srv ext4 defaults 0 2\n"),
        0o644,
    );
    let refused = on(r, &["rollback", "--yes"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("/etc/fstab") && refused.stderr.contains("+/dev/sdb1"),
        "{}",
        refused.stderr
    );
    assert!(read(r, "/etc/fstab").contains("/srv"), "nothing restored");
    assert_eq!(mode_of(r, "/usr/bin/chfn"), 0o755, "nothing restored");
    let forced = on(r, &["rollback", "--yes", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_same_tree(&before, &fingerprint(r, &[STATE]));
}

#[test]
fn a_failing_change_undoes_the_ones_made_before_it() {
    let dir = basic_root();
    let r = dir.path();
    let before = fingerprint(r, &[]);
    let run = on(r, &["plan", "--format", "json"]);
    let mut plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    // A last change whose folder does not exist (and is not created by
    // the plan): it passes the precondition (absent) and fails when made.
    let bad = serde_json::json!({
        "id": "test:/etc/no-such-folder/impossible", "rule": "mount-nosuid", "kind": "mount",
        "target": "/etc/no-such-folder/impossible", "summary": "cannot be written", "diff": "",
        "live": false, "disruptive": false, "takes_effect": "now",
        "action": {"op": "write-file", "path": "/etc/no-such-folder/impossible", "expect": {"state": "absent"},
                   "content": "x", "mode": 420, "uid": 0, "gid": 0}
    });
    plan["changes"].as_array_mut().unwrap().push(bad);
    reseal(&mut plan);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&plan).unwrap()).unwrap();
    let apply = on(r, &["apply", file.path().to_str().unwrap(), "--yes"]);
    assert_eq!(apply.code, 1);
    assert!(apply.stderr.contains("were undone"), "{}", apply.stderr);
    assert_same_tree(&before, &fingerprint(r, &[STATE]));
    let list = on(r, &["snapshots"]);
    assert!(list.stdout.contains("undone"), "{}", list.stdout);
}

#[test]
fn plan_for_another_root_is_refused() {
    let a = basic_root();
    let b = basic_root();
    let file = tempfile::NamedTempFile::new().unwrap();
    assert_eq!(
        on(a.path(), &["plan", "--out", file.path().to_str().unwrap(), "-q"]).code,
        0
    );
    let run = on(b.path(), &["apply", file.path().to_str().unwrap(), "--yes"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("made for root"), "{}", run.stderr);
}

#[test]
fn bad_profile_names_file_and_line() {
    let dir = basic_root();
    let profile = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        profile.path(),
        "[rules.mount-nosuid]\npoints = [\"/tmp\"]\nfrobnicate = true\n",
    )
    .unwrap();
    let run = on(
        dir.path(),
        &["--profile", profile.path().to_str().unwrap(), "plan"],
    );
    assert_eq!(run.code, 1);
    let expected = format!("{}:3:", profile.path().display());
    assert!(
        run.stderr.contains(&expected) && run.stderr.contains("frobnicate"),
        "{}",
        run.stderr
    );
}

#[test]
fn rules_and_explain() {
    let run = dockhard(&["rules", "--format", "json"]);
    assert_eq!(run.code, 0);
    let rules: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        rules
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "suid-strip" && r["guideline"] == "G7")
    );
    let explain = dockhard(&["explain", "daemon-userns-remap"]);
    assert_eq!(explain.code, 0);
    assert!(explain.stdout.contains("DISRUPTIVE"));
    assert_eq!(dockhard(&["explain", "no-such-rule"]).code, 1);
    assert_eq!(dockhard(&["plan", "--only", "nonsense"]).code, 1);
}

#[test]
fn live_plan_of_this_machine_is_read_only() {
    let state = Path::new("/var/lib/dockhard");
    let state_existed = state.exists();
    let etc_before = fingerprint(Path::new("/etc"), &[]);
    let run = dockhard(&["plan", "--format", "json"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["root"], "/");
    assert_eq!(plan["offline"], false);
    assert_eq!(plan["kinds"].as_array().unwrap().len(), 6);
    assert!(
        plan["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "advice-kernel"),
        "the live plan carries the advisories"
    );
    assert_eq!(
        state.exists(),
        state_existed,
        "plan must not create the state dir"
    );
    assert_same_tree(&etc_before, &fingerprint(Path::new("/etc"), &[]));
}

/// Golden text plans for real-world case roots (`tests/cases/*/input*`),
/// each planned for its own kind.
#[test]
fn case_plans_render_as_reviewed() {
    let cases: &[(&str, &str, &str)] = &[
        ("C03-daemon-json-bom-crlf/input", "daemon", ""),
        ("C05-daemon-json-comments/input", "daemon", ""),
        ("C07-systemd-unit-hosts-fd-conflict/input", "daemon", ""),
        ("C08-systemd-unit-dropin-execstart-reset/input", "daemon", ""),
        (
            "C10-fstab-octal-escapes-tabs/input",
            "mount",
            "[rules.mount-nosuid]\npoints = [\"/tmp\", \"/var/tmp\", \"/srv/scratch area\", \"/mnt/team (ro)\"]\noptions = [\"nosuid\"]\n",
        ),
        (
            "C11-fstab-short-lines-quoted-uuid-bind/input",
            "mount",
            "[rules.mount-nosuid]\npoints = [\"/home\", \"/var/www\", \"/data\", \"/media/cdrom\"]\noptions = [\"nosuid\"]\n",
        ),
        (
            "C12-fstab-tmp-via-tmp-mount/input-variant-unit-without-nosuid",
            "mount",
            "",
        ),
        ("C17-subid-numeric-owner/input-variant-default", "subid", ""),
        ("C19-subid-no-trailing-newline/input", "subid", ""),
    ];
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    for (input, kind, profile) in cases {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&base.join(input), dir.path());
        let profile_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(profile_file.path(), profile).unwrap();
        let run = on(
            dir.path(),
            &[
                "--profile",
                profile_file.path().to_str().unwrap(),
                "plan",
                "--only",
                kind,
            ],
        );
        assert!(run.code == 0 || run.code == 1, "{input}: {}", run.stderr);
        let name = format!(
            "{}.plan.txt",
            input.split('/').next().unwrap().split('-').next().unwrap()
        );
        assert_golden(&name, &golden_text(dir.path(), &run.stdout));
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(dst)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Two unattended applies at once (cloud-init and Ansible on one host):
/// the second waits for the first, then finds nothing to do.
#[test]
fn concurrent_applies_both_succeed_and_apply_once() {
    let dir = basic_root();
    let root = dir.path().to_str().unwrap().to_string();
    let runs: Vec<std::thread::JoinHandle<Run>> = (0..2)
        .map(|_| {
            let root = root.clone();
            std::thread::spawn(move || dockhard(&["--root", &root, "apply", "--yes", "-q"]))
        })
        .collect();
    let results: Vec<Run> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    for run in &results {
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    }
    assert_eq!(
        results
            .iter()
            .filter(|r| r.stdout.contains("Nothing to change"))
            .count(),
        1,
        "exactly one run applied"
    );
    let list = on(dir.path(), &["snapshots", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
}

/// A pipeline that asks for JSON gets one JSON object on failure too.
#[test]
fn json_output_on_failure_is_one_object_naming_the_error() {
    let dir = basic_root();
    write(
        dir.path(),
        "/etc/docker/daemon.json",
        "{\n  \"icc\": true,\n}\n",
        0o644,
    );
    for args in [
        &["apply", "--yes", "--format", "json"][..],
        &["plan", "--format", "json", "--only", "nope"][..],
    ] {
        let run = on(dir.path(), args);
        assert_eq!(run.code, 1, "{args:?}");
        if args[0] == "apply" {
            let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
            assert!(
                value["error"]
                    .as_str()
                    .unwrap()
                    .contains("/etc/docker/daemon.json:3:"),
                "{value}"
            );
            assert_eq!(value["applied"], serde_json::json!([]));
        }
    }
}
