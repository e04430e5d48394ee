//! Run by a user other than root: on the machine's own root the commands
//! that need root stop before they read or change anything, saying what
//! needs root and how to run offline instead; offline, on a tree the user
//! owns, plan, apply and rollback work and rollback restores the tree.
//! The user is uid/gid 65534 through setpriv (the tests run as root).

mod common;
#[path = "common/unprivileged.rs"]
mod unprivileged;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use unprivileged::*;

/// A state dir given to uid 65534, for runs that must leave it untouched.
fn nobodys_state_dir(outer: &Path) -> std::path::PathBuf {
    let state = outer.join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    give_tree(&state, NOBODY);
    state
}

#[test]
fn live_runs_as_non_root_stop_before_anything() {
    let outer = traversable_tempdir();
    let state = nobodys_state_dir(outer.path());
    let before = fingerprint(outer.path(), &[]);
    let state_arg = state.to_str().unwrap();
    // A profile that does not exist: a run that got as far as reading it
    // would say so instead.
    let missing = "/nonexistent/profile.toml";
    for (args, needs) in [
        (vec!["plan"], "reads the firewall with iptables"),
        (
            vec!["plan", "--format", "json"],
            "reads the firewall with iptables",
        ),
        (vec!["apply", "--yes"], "remounts file systems, reloads dockerd"),
        (vec!["apply", "--yes", "--offline"], "changes files owned by root"),
        (
            vec!["rollback", "--yes"],
            "firewall rules with iptables, mount flags",
        ),
        (
            vec!["--offline", "rollback", "--yes"],
            "restores files owned by root",
        ),
        (vec!["fix"], "changes files owned by root"),
        (vec!["--root", "/", "plan"], "reads the firewall"),
    ] {
        let mut all = vec!["--profile", missing, "--state-dir", state_arg];
        all.extend_from_slice(&args);
        let run = dockhard_as_nobody(&all);
        assert_eq!(run.code, 1, "{args:?}: {}{}", run.stdout, run.stderr);
        let text = if args.contains(&"json") {
            let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
            value["error"].as_str().unwrap().to_string()
        } else {
            run.stderr.clone()
        };
        for word in [
            "on this machine's root (/) needs root",
            "runs as uid 65534",
            needs,
            "Nothing was read or changed",
            "As root: sudo dockhard",
            "--root DIR",
        ] {
            assert!(text.contains(word), "{args:?}: `{word}` in: {text}");
        }
        assert!(
            !text.contains("No such file"),
            "{args:?}: read the profile: {text}"
        );
    }
    let run = dockhard_as_nobody(&["plan"]);
    assert!(run.stderr.contains("dockhard --offline plan"), "{}", run.stderr);
    // The default state dir is root's.
    let run = dockhard_as_nobody(&["snapshots"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr.contains("/var/lib/dockhard, which only root may read"),
        "{}",
        run.stderr
    );
    assert_same_tree(&before, &fingerprint(outer.path(), &[]));
}

#[test]
fn what_needs_nothing_of_roots_runs_as_anyone() {
    let outer = traversable_tempdir();
    let state = nobodys_state_dir(outer.path());
    for args in [
        vec!["rules"],
        vec!["explain", "suid-strip"],
        vec!["profile", "show"],
        vec!["--state-dir", state.to_str().unwrap(), "snapshots"],
        // Files only: fstab is readable by anyone.
        vec!["--offline", "plan", "--only", "mount"],
    ] {
        let run = dockhard_as_nobody(&args);
        assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(!run.stderr.contains("needs root"), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn offline_on_an_owned_tree_plans_applies_and_rolls_back_without_root() {
    let (_outer, tree) = nobodys_basic_root();
    let before = fingerprint(&tree, &[]);

    let plan = on_as_nobody(&tree, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert_same_tree(&before, &fingerprint(&tree, &[]));

    let apply = on_as_nobody(&tree, &["apply", "--yes"]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    assert!(apply.stdout.contains("Snapshot: "), "{}", apply.stdout);
    // (A set-id file the user owns gives no one more than the user's
    // rights, so the suid kind leaves it; the files change.)
    assert!(read(&tree, "/etc/fstab").contains("nosuid"), "fstab changed");
    assert!(read(&tree, "/etc/docker/daemon.json").contains("no-new-privileges"));
    // The state dir and its snapshots are the user's and private.
    let state = tree.join("var/lib/dockhard");
    let mut private = vec![state.clone(), state.join("snapshots")];
    for entry in std::fs::read_dir(state.join("snapshots")).unwrap() {
        private.push(entry.unwrap().path());
    }
    assert_eq!(private.len(), 3, "one snapshot");
    for dir in &private {
        let meta = std::fs::symlink_metadata(dir).unwrap();
        assert!(meta.is_dir(), "{}", dir.display());
        assert_eq!(meta.uid(), NOBODY, "{}", dir.display());
        assert_eq!(meta.mode() & 0o7777, 0o700, "{}", dir.display());
    }
    let again = on_as_nobody(&tree, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);

    let list = on_as_nobody(&tree, &["snapshots"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains("applied"), "{}", list.stdout);

    let rollback = on_as_nobody(&tree, &["rollback", "--yes"]);
    assert_eq!(rollback.code, 0, "{}{}", rollback.stdout, rollback.stderr);
    assert_same_tree(&before, &fingerprint(&tree, &["var/lib/dockhard"]));
    // The folders the state dir needed are the user's too.
    for dir in ["var", "var/lib"] {
        assert_eq!(std::fs::metadata(tree.join(dir)).unwrap().uid(), NOBODY, "{dir}");
    }
}

#[test]
fn offline_on_a_tree_of_root_fails_without_changing_it() {
    // Root's tree, uid 65534's state dir: the user may not change the tree,
    // and says so; nothing is changed.
    let outer = traversable_tempdir();
    let state = nobodys_state_dir(outer.path());
    let root = basic_root();
    std::fs::set_permissions(root.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let before = fingerprint(root.path(), &[]);
    let run = on_as_nobody(
        root.path(),
        &["--state-dir", state.to_str().unwrap(), "apply", "--yes"],
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_same_tree(&before, &fingerprint(root.path(), &[]));
}

#[test]
fn default_state_dir_in_a_tree_of_root_names_what_to_do() {
    let root = basic_root();
    std::fs::set_permissions(root.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let before = fingerprint(root.path(), &[]);
    let run = on_as_nobody(root.path(), &["apply", "--yes", "--only", "suid"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("cannot create the state dir")
            && run.stderr.contains("runs as uid 65534")
            && run.stderr.contains("--state-dir DIR"),
        "{}",
        run.stderr
    );
    assert_same_tree(&before, &fingerprint(root.path(), &[]));
}
