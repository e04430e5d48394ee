//! Unattended runs: `apply --yes --format json` for scripts, and a second
//! run that finds the state dir locked by another one.

mod common;

use common::*;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

const STATE: &str = "var/lib/dockhard";

#[test]
fn json_apply_names_a_snapshot_that_rollback_accepts() {
    let dir = basic_root();
    let r = dir.path();
    let before = fingerprint(r, &[]);
    let run = on(r, &["apply", "--yes", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "nothing but JSON: {}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(out["schema"], 1);
    assert!(!out["applied"].as_array().unwrap().is_empty(), "{out}");
    assert!(out["deferred"].is_array() && out["findings"].is_array(), "{out}");
    let id = out["snapshot"].as_str().expect("a snapshot id").to_string();
    assert_ne!(fingerprint(r, &[STATE]), before);

    let rolled = on(r, &["rollback", &id, "--yes"]);
    assert_eq!(rolled.code, 0, "{}\n{}", rolled.stdout, rolled.stderr);
    assert!(rolled.stdout.contains(&id), "{}", rolled.stdout);
    assert_same_tree(&before, &fingerprint(r, &[STATE]));
}

#[test]
fn json_apply_with_nothing_to_do_has_no_snapshot() {
    let dir = basic_root();
    let r = dir.path();
    assert_eq!(on(r, &["apply", "--yes", "-q"]).code, 0);
    let run = on(r, &["apply", "--yes", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(out["snapshot"].is_null(), "{out}");
    assert_eq!(out["applied"].as_array().unwrap().len(), 0);
}

#[test]
fn saved_plan_with_profile_and_only_applies_the_intersection() {
    let dir = basic_root();
    let r = dir.path();
    let profile = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(profile.path(), "[rules.mount-nosuid]\npoints = [\"/tmp\"]\n").unwrap();
    let profile = profile.path().to_str().unwrap();
    let plan = tempfile::NamedTempFile::new().unwrap();
    let plan = plan.path().to_str().unwrap();
    assert_eq!(
        on(r, &["--profile", profile, "plan", "--out", plan, "-q"]).code,
        0
    );
    let run = on(
        r,
        &[
            "--profile",
            profile,
            "apply",
            plan,
            "--only",
            "mount",
            "--yes",
            "--format",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let applied = out["applied"].as_array().unwrap();
    assert!(!applied.is_empty());
    assert!(
        applied
            .iter()
            .all(|id| id.as_str().unwrap().starts_with("mount:")),
        "{out}"
    );
    let fstab = read(r, "/etc/fstab");
    let tmp = fstab.lines().find(|l| l.contains("\t/tmp\t")).unwrap();
    assert!(tmp.contains("nosuid"), "{fstab}");
    let home = fstab.lines().find(|l| l.contains("\t/home\t")).unwrap();
    assert!(!home.contains("nosuid"), "the profile left /home out: {fstab}");
    assert_eq!(mode_of(r, "/usr/bin/chfn"), 0o4755, "suid was not in --only");
}

/// Holds the state dir's lock as another run would.
fn hold_lock(root: &Path) -> std::fs::File {
    let state = root.join(STATE);
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(state.join("lock"))
        .unwrap();
    // SAFETY: a valid fd owned by `file`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(rc, 0, "lock: {}", std::io::Error::last_os_error());
    file
}

#[test]
fn a_held_lock_makes_apply_wait_then_exit_1_changing_nothing() {
    let dir = basic_root();
    let r = dir.path();
    let lock = hold_lock(r);
    let before = fingerprint(r, &[STATE]);
    let start = Instant::now();
    let run = on(r, &["--lock-wait", "1", "apply", "--yes"]);
    let waited = start.elapsed();
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("another dockhard run holds the lock (waited 1 s)")
            && run.stderr.contains("nothing was changed"),
        "{}",
        run.stderr
    );
    assert!(waited >= Duration::from_secs(1), "did not wait: {waited:?}");
    assert!(waited < Duration::from_secs(20), "waited too long: {waited:?}");
    assert_same_tree(&before, &fingerprint(r, &[STATE]));
    drop(lock);
}

#[test]
fn a_run_that_waits_proceeds_once_the_lock_is_released() {
    let dir = basic_root();
    let r = dir.path();
    let lock = hold_lock(r);
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        drop(lock);
    });
    let run = on(r, &["--lock-wait", "30", "apply", "--yes"]);
    release.join().unwrap();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Snapshot: "), "{}", run.stdout);
}

#[test]
fn lock_wait_is_a_number_of_seconds() {
    let run = dockhard(&["--lock-wait", "soon", "rules"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--lock-wait"), "{}", run.stderr);
}
