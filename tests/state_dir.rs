//! The state dir is trusted only when no one else can change it: a state
//! dir or snapshots folder that is writable by group or others, owned by
//! another user, not a directory or a symbolic link, or under a folder
//! another user could rename, is refused before anything is changed, and
//! before any snapshot is read. Retention keeps the last N finished
//! snapshots and every unfinished one.

mod common;
#[path = "common/unprivileged.rs"]
mod unprivileged;

use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use unprivileged::{NOBODY, require_root};

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
}

/// Runs `apply --yes` on a fresh basic root with the state dir `state`
/// (outside the root) and checks it is refused, naming `names` and saying
/// `says`, with neither the root nor the state dir's surroundings changed.
fn refused(outer: &Path, state: &Path, names: &Path, says: &[&str]) {
    let root = basic_root();
    let before = fingerprint(root.path(), &[]);
    let around = fingerprint(outer, &[]);
    let run = on(
        root.path(),
        &["--state-dir", state.to_str().unwrap(), "apply", "--yes"],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!("{}:", names.display())),
        "the message names {}: {}",
        names.display(),
        run.stderr
    );
    for word in says {
        assert!(run.stderr.contains(word), "`{word}` in: {}", run.stderr);
    }
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert_same_tree(&before, &fingerprint(root.path(), &[]));
    assert_same_tree(&around, &fingerprint(outer, &[]));
}

#[test]
fn group_or_world_writable_state_dir_is_refused() {
    require_root();
    let outer = tempfile::tempdir().unwrap();
    let state = outer.path().join("state");
    std::fs::create_dir(&state).unwrap();
    chmod(&state, 0o770);
    refused(
        outer.path(),
        &state,
        &state,
        &["mode 0770", "writable by its group", "chmod 0700"],
    );
    chmod(&state, 0o703);
    refused(
        outer.path(),
        &state,
        &state,
        &["mode 0703", "writable by others", "chmod 0700"],
    );
}

#[test]
fn foreign_owned_state_dir_is_refused() {
    require_root();
    let outer = tempfile::tempdir().unwrap();
    let state = outer.path().join("state");
    std::fs::create_dir(&state).unwrap();
    chmod(&state, 0o700);
    chown(&state, NOBODY);
    refused(
        outer.path(),
        &state,
        &state,
        &["owned by uid 65534", "not by uid 0", "--state-dir"],
    );
}

#[test]
fn state_dir_that_is_a_link_or_a_file_is_refused() {
    require_root();
    let outer = tempfile::tempdir().unwrap();
    let real = outer.path().join("real");
    std::fs::create_dir(&real).unwrap();
    chmod(&real, 0o700);
    let link = outer.path().join("state");
    symlink(&real, &link).unwrap();
    refused(outer.path(), &link, &link, &["symbolic link", "--state-dir"]);
    let file = outer.path().join("file");
    std::fs::write(&file, "").unwrap();
    refused(outer.path(), &file, &file, &["not a directory"]);
}

#[test]
fn unsafe_snapshots_folder_is_refused() {
    require_root();
    let outer = tempfile::tempdir().unwrap();
    let state = outer.path().join("state");
    std::fs::create_dir(&state).unwrap();
    chmod(&state, 0o700);
    let snapshots = state.join("snapshots");
    std::fs::create_dir(&snapshots).unwrap();
    chmod(&snapshots, 0o777);
    refused(
        outer.path(),
        &state,
        &snapshots,
        &["snapshots folder", "mode 0777", "group and others"],
    );
    chmod(&snapshots, 0o700);
    chown(&snapshots, NOBODY);
    refused(
        outer.path(),
        &state,
        &snapshots,
        &["snapshots folder", "owned by uid 65534"],
    );
    std::fs::remove_dir(&snapshots).unwrap();
    let elsewhere = outer.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    chmod(&elsewhere, 0o700);
    symlink(&elsewhere, &snapshots).unwrap();
    refused(
        outer.path(),
        &state,
        &snapshots,
        &["snapshots folder", "symbolic link"],
    );
}

#[test]
fn unsafe_folder_above_the_state_dir_is_refused() {
    require_root();
    let outer = tempfile::tempdir().unwrap();
    // Writable by others without the sticky bit: anyone could rename
    // `mine` and put their own in its place.
    let shared = outer.path().join("shared");
    std::fs::create_dir_all(shared.join("mine")).unwrap();
    chmod(&shared, 0o777);
    let state = shared.join("mine/state");
    refused(
        outer.path(),
        &state,
        &shared,
        &["a folder on the way", "mode 0777", "without the sticky bit"],
    );
    assert!(!state.exists());
    // Owned by another user, who could rename what is in it.
    chmod(&shared, 0o755);
    chown(&shared, NOBODY);
    refused(
        outer.path(),
        &state,
        &shared,
        &["a folder on the way", "owned by uid 65534"],
    );
    assert!(!state.exists());
    // A link on the way owned by another user, who could point it elsewhere.
    chown(&shared, 0);
    let link = outer.path().join("link");
    symlink(&shared, &link).unwrap();
    chown(&link, NOBODY);
    refused(
        outer.path(),
        &link.join("mine/state"),
        &link,
        &["symbolic link on the way", "owned by uid 65534"],
    );
}

#[test]
fn sticky_folder_holding_ours_is_fine() {
    require_root();
    let outer = tempfile::tempdir().unwrap();
    let sticky = outer.path().join("tmp");
    std::fs::create_dir_all(sticky.join("ours")).unwrap();
    chmod(&sticky, 0o1777);
    let state = sticky.join("ours/state");
    let root = basic_root();
    let run = on(
        root.path(),
        &["--state-dir", state.to_str().unwrap(), "apply", "--yes"],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for dir in [state.clone(), state.join("snapshots")] {
        let meta = std::fs::symlink_metadata(&dir).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o700, "{}", dir.display());
        assert_eq!(meta.uid(), 0, "{}", dir.display());
    }
    for entry in std::fs::read_dir(state.join("snapshots")).unwrap() {
        let meta = entry.unwrap().metadata().unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o700);
        assert_eq!(meta.uid(), 0);
    }
}

/// A snapshot in a state dir someone else could have written is never read:
/// not to list, not to show, not to roll back.
#[test]
fn planted_state_dir_is_not_read() {
    require_root();
    let root = basic_root();
    let run = on(root.path(), &["apply", "--yes"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let id = run
        .stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("Applied ")
                .and_then(|l| l.split("Snapshot: ").nth(1))
        })
        .expect("snapshot id")
        .trim()
        .to_string();
    let state = root.path().join("var/lib/dockhard");
    let snapshot = state.join("snapshots").join(&id);
    let check = |what: &str, names: &Path, says: &str| {
        let before = fingerprint(root.path(), &[]);
        for args in [
            vec!["snapshots"],
            vec!["snapshots", "show", id.as_str()],
            vec!["rollback", "--yes"],
            vec!["rollback", id.as_str(), "--yes"],
        ] {
            let run = on(root.path(), &args);
            assert_eq!(run.code, 1, "{what}: {args:?}: {}{}", run.stdout, run.stderr);
            assert!(
                run.stderr.contains(&format!("{}:", names.display())) && run.stderr.contains(says),
                "{what}: {args:?}: {}",
                run.stderr
            );
        }
        assert_same_tree(&before, &fingerprint(root.path(), &[]));
    };
    chmod(&state, 0o777);
    check("world-writable state dir", &state, "mode 0777");
    chmod(&state, 0o700);
    chown(&state, NOBODY);
    check("state dir of another user", &state, "owned by uid 65534");
    chown(&state, 0);
    chmod(&snapshot, 0o770);
    let run = on(root.path(), &["snapshots", "show", &id]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("snapshot folder") && run.stderr.contains("mode 0770"),
        "{}",
        run.stderr
    );
    let run = on(root.path(), &["rollback", &id, "--yes"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    chmod(&snapshot, 0o700);
    let run = on(root.path(), &["rollback", &id, "--yes"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

/// Retention keeps exactly the last N finished snapshots, plus every
/// unfinished one (and the rollback of one), and deletes the rest without
/// following a link planted in a snapshot.
#[test]
fn retention_keeps_the_last_n_and_the_unfinished() {
    require_root();
    let root = basic_root();
    let outer = tempfile::tempdir().unwrap();
    let state = outer.path().join("state");
    let keep = |n: u32| {
        let path = outer.path().join(format!("keep-{n}.toml"));
        std::fs::write(&path, format!("[snapshots]\nkeep = {n}\n")).unwrap();
        path
    };
    let (keep2, keep1) = (keep(2), keep(1));
    let args = |profile: &Path, rest: &[&str]| -> Run {
        let mut all = vec![
            "--state-dir",
            state.to_str().unwrap(),
            "--profile",
            profile.to_str().unwrap(),
        ];
        all.extend_from_slice(rest);
        on(root.path(), &all)
    };
    let outside = outer.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("precious"), "x").unwrap();

    let a1 = applied_id(&args(&keep2, &["apply", "--yes", "--only", "suid"]));
    symlink(&outside, state.join("snapshots").join(&a1).join("link")).unwrap();
    let a2 = applied_id(&args(&keep2, &["apply", "--yes", "--only", "mount"]));
    assert_eq!(snapshot_ids(&state), [a1.clone(), a2.clone()]);
    let a3 = applied_id(&args(&keep2, &["apply", "--yes", "--only", "daemon"]));
    assert_eq!(snapshot_ids(&state), [a2.clone(), a3.clone()], "the last 2");
    assert!(
        outside.join("precious").exists(),
        "a link in a snapshot is not followed"
    );

    // Two unfinished runs: an old one planted with an empty record, and a3
    // as if its process had been killed.
    let store = dockhard::snapshot::Store::new(state.clone());
    let unfinished = "20000101-000000-000000000";
    {
        let _lock = store.lock(std::time::Duration::from_secs(5)).unwrap();
        let mut old = store.load(&a3).unwrap();
        old.id = unfinished.to_string();
        old.status = dockhard::snapshot::SnapshotStatus::Pending;
        old.changes.clear();
        old.targets.clear();
        std::fs::create_dir(state.join("snapshots").join(unfinished)).unwrap();
        chmod(&state.join("snapshots").join(unfinished), 0o700);
        store.write_manifest(&old).unwrap();
        let mut killed = store.load(&a3).unwrap();
        killed.status = dockhard::snapshot::SnapshotStatus::Pending;
        store.write_manifest(&killed).unwrap();
        assert!(old.unfinished() && killed.unfinished());
    }
    // An apply waits until the newest unfinished run is rolled back; the
    // rollback is a finished run, and retention runs after it.
    let rollback = args(&keep1, &["rollback", &a3, "--yes"]);
    assert_eq!(rollback.code, 0, "{}{}", rollback.stdout, rollback.stderr);
    let r = rollback
        .stdout
        .lines()
        .find_map(|l| l.split("This rollback is snapshot ").nth(1))
        .and_then(|l| l.split(';').next())
        .expect("the rollback's snapshot id")
        .to_string();
    let mut expected = vec![unfinished.to_string(), a3.clone(), r.clone()];
    expected.sort();
    assert_eq!(
        snapshot_ids(&state),
        expected,
        "1 finished (the rollback), the unfinished ones, none of a2"
    );
    let list = args(&keep1, &["snapshots"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(!list.stdout.contains(&a2), "{}", list.stdout);
}
