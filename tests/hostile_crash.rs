//! Crashes at exact points: dockhard run under strace, which SIGKILLs it on
//! entry to the Nth call of one system call (the call is not made). Every
//! point of an apply and of a rollback is tried in turn, then the operator
//! recovers with plain `rollback --yes`: the tree must come back exactly as
//! it was, with the snapshots' statuses telling the truth. Also: state dirs
//! shared by several trees, damaged journals, rollbacks stopped after they
//! restored the host.

mod common;

use common::{Run, assert_same_tree, basic_root, fingerprint, on};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs dockhard on `root` with `state` as its state dir.
fn run(root: &Path, state: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--state-dir", state.to_str().unwrap()];
    all.extend_from_slice(args);
    on(root, &all)
}

/// Runs dockhard on `root` and `state` under strace, killed on entry to the
/// `n`th (from 1) call of `syscall`. Returns whether it was killed (false:
/// it made fewer such calls, and ran to its end).
fn killed_at(root: &Path, state: &Path, args: &[&str], syscall: &str, n: usize) -> bool {
    let status = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "-e"])
        .arg(format!("inject={syscall}:signal=KILL:when={n}"))
        .arg(env!("CARGO_BIN_EXE_dockhard"))
        .args(["--root", root.to_str().unwrap()])
        .args(["--state-dir", state.to_str().unwrap()])
        .args(args)
        .env("NO_COLOR", "1")
        .env("DOCKHARD_SYSLOG_SOCKET", "")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("strace runs (the tests need the strace package)");
    // strace exits with the signal of its tracee: 128 + 9.
    match status.code() {
        Some(137) => true,
        Some(_) => false,
        None => true,
    }
}

/// How many calls of `syscall` dockhard makes with `args` (on a copy of
/// the situation, made by `setup`; `args` for that copy).
fn calls(setup: &dyn Fn(&Path, &Path), args: &dyn Fn(&Path, &Path) -> Vec<String>, syscall: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let (root, state) = (dir.path().join("root"), dir.path().join("state"));
    setup(&root, &state);
    let args = args(&root, &state);
    let trace = dir.path().join("trace");
    let status = Command::new("strace")
        .args(["-f", "-o", trace.to_str().unwrap(), "-e"])
        .arg(format!("trace={syscall}"))
        .arg(env!("CARGO_BIN_EXE_dockhard"))
        .args(["--root", root.to_str().unwrap()])
        .args(["--state-dir", state.to_str().unwrap()])
        .args(args)
        .env("DOCKHARD_SYSLOG_SOCKET", "")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains(&format!("{syscall}(")))
        .count()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// `rollback` of the newest snapshot, by its id.
fn newest_rollback_args(root: &Path, state: &Path) -> Vec<String> {
    let id = snapshots(root, state).pop().unwrap().0;
    strings(&["-q", "rollback", "--yes", &id])
}

/// A copy of `basic_root` at `root`.
fn fresh_root(root: &Path) {
    let dir = basic_root();
    std::fs::rename(dir.path(), root).unwrap();
    std::mem::forget(dir);
}

fn applied_root(root: &Path, state: &Path) {
    fresh_root(root);
    let out = run(root, state, &["-q", "apply", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// The snapshots as `snapshots --format json` lists them: (id, status,
/// operation type).
fn snapshots(root: &Path, state: &Path) -> Vec<(String, String, String)> {
    let out = run(root, state, &["snapshots", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    rows.iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["operation"]["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// After a recovery: nothing is unfinished, the last apply is rolled back
/// (so `rollback` finds nothing more), and a new apply goes through.
fn assert_settled(root: &Path, state: &Path, what: &str) {
    let plan = run(root, state, &["plan"]);
    assert!(!plan.stderr.contains("did not finish"), "{what}: {}", plan.stderr);
    for (id, status, _) in snapshots(root, state) {
        assert!(
            status != "pending" && status != "undo-failed",
            "{what}: snapshot {id} is still {status}"
        );
    }
    let again = run(root, state, &["rollback", "--yes"]);
    assert!(
        again.code == 1 && again.stderr.contains("no applied snapshot"),
        "{what}: a rollback after the recovery: {}{}",
        again.stdout,
        again.stderr
    );
}

/// The operator's recovery: `rollback --yes` while a run is unfinished or
/// the tree is not as it was (each must succeed); at most three. An
/// interrupted rollback is finished, as its message says, with
/// `rollback ID --force` of the snapshot it was rolling back.
fn recover(
    root: &Path,
    state: &Path,
    before: &std::collections::BTreeMap<std::path::PathBuf, String>,
    what: &str,
) {
    for _ in 0..3 {
        let plan = run(root, state, &["plan"]);
        if !plan.stderr.contains("did not finish") && fingerprint(root, &[]) == *before {
            break;
        }
        let back = match plan
            .stderr
            .split("a rollback of snapshot ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
        {
            Some(id) => run(root, state, &["rollback", id, "--force", "--yes"]),
            None => run(root, state, &["rollback", "--yes"]),
        };
        assert_eq!(back.code, 0, "{what}: {}{}", back.stdout, back.stderr);
    }
    assert_same_tree(before, &fingerprint(root, &[]));
}

/// A folder the apply creates is made 0700, then given its mode: killed in
/// between, the run left it in a state only it makes. Rollback used to call
/// that a change by someone else and refuse without --force.
#[test]
fn a_folder_killed_before_its_mode_was_set_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let (root, state) = (dir.path().join("root"), dir.path().join("state"));
    fresh_root(&root);
    let before = fingerprint(&root, &[]);
    // The first fchmod of the apply is that of the first folder it creates.
    assert!(killed_at(&root, &state, &["-q", "apply", "--yes"], "fchmod", 1));
    assert_ne!(fingerprint(&root, &[]), before, "the kill came before any change");
    let back = run(&root, &state, &["rollback", "--yes"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert_same_tree(&before, &fingerprint(&root, &[]));
    assert_settled(&root, &state, "after the rollback");
}

/// One state dir for several trees (image builds): a run killed on one
/// tree, which is then thrown away, must not block every other tree for
/// ever (its suggested rollback names the wrong tree, and fails).
#[test]
fn an_unfinished_run_of_another_tree_does_not_block_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fresh_root(&a);
    fresh_root(&b);
    let before_a = fingerprint(&a, &[]);
    let before_b = fingerprint(&b, &[]);
    assert!(killed_at(&a, &state, &["-q", "apply", "--yes"], "fchmod", 6));

    // While tree a exists, it is still refused there and rolled back there.
    let refused = run(&a, &state, &["-q", "apply", "--yes"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stderr.contains("did not finish"), "{}", refused.stderr);

    // Tree b is not tree a.
    let plan = run(&b, &state, &["plan"]);
    assert!(!plan.stderr.contains("did not finish"), "{}", plan.stderr);
    let apply = run(&b, &state, &["-q", "apply", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let back = run(&b, &state, &["rollback", "--yes"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert_same_tree(&before_b, &fingerprint(&b, &[]));

    // Tree a is recovered on its own.
    let back = run(&a, &state, &["rollback", "--yes"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert_same_tree(&before_a, &fingerprint(&a, &[]));

    // A tree thrown away with its run unfinished blocks no one.
    assert!(killed_at(&a, &state, &["-q", "apply", "--yes"], "fchmod", 6));
    std::fs::remove_dir_all(&a).unwrap();
    let apply = run(&b, &state, &["-q", "apply", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let back = run(&b, &state, &["rollback", "--yes"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert_same_tree(&before_b, &fingerprint(&b, &[]));
}

/// A journal damaged after the crash (a line the parser refuses, a `done`
/// past the last change) only loses the detail of how far the run got:
/// rollback used to fail on it, --force or not, while apply kept asking for
/// that rollback.
#[test]
fn a_damaged_journal_does_not_make_the_run_unrestorable() {
    for damage in ["done 99\n", "begin 0\n", "\u{0}\u{0}garbage\n"] {
        let dir = tempfile::tempdir().unwrap();
        let (root, state) = (dir.path().join("root"), dir.path().join("state"));
        fresh_root(&root);
        let before = fingerprint(&root, &[]);
        assert!(killed_at(&root, &state, &["-q", "apply", "--yes"], "fchmod", 7));
        let snapshot = std::fs::read_dir(state.join("snapshots"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let journal = snapshot.join("journal");
        let mut text = std::fs::read(&journal).unwrap();
        text.extend_from_slice(damage.as_bytes());
        std::fs::write(&journal, text).unwrap();

        let show = run(
            &root,
            &state,
            &[
                "snapshots",
                "show",
                snapshot.file_name().unwrap().to_str().unwrap(),
            ],
        );
        assert_eq!(show.code, 0, "{damage:?}: {}", show.stderr);
        assert!(show.stdout.contains("unfinished"), "{damage:?}: {}", show.stdout);
        let back = run(&root, &state, &["rollback", "--yes"]);
        assert_eq!(back.code, 0, "{damage:?}: {}{}", back.stdout, back.stderr);
        assert!(back.stderr.contains("journal"), "{damage:?}: {}", back.stderr);
        assert_same_tree(&before, &fingerprint(&root, &[]));
        assert_settled(&root, &state, damage);
    }
}

/// A rollback killed after it restored the host, before it marked the apply
/// rolled back: the apply used to stay "applied", and every later
/// `rollback` took it for the latest apply and reported all its targets as
/// changed since (with --force: nothing to restore, still "applied").
#[test]
fn a_rollback_killed_after_restoring_the_host_is_recorded_as_done() {
    let args = ["-q", "rollback", "--yes"];
    let last = calls(&|r, s| applied_root(r, s), &|_, _| strings(&args), "rename");
    let dir = tempfile::tempdir().unwrap();
    let (root, state) = (dir.path().join("root"), dir.path().join("state"));
    fresh_root(&root);
    let before = fingerprint(&root, &[]);
    let apply = run(&root, &state, &["-q", "apply", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    let after = fingerprint(&root, &[]);
    // The last rename is that of the apply's manifest, marked rolled back.
    assert!(killed_at(&root, &state, &args, "rename", last));
    assert_same_tree(&before, &fingerprint(&root, &[]));
    let list = snapshots(&root, &state);
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0].1, "rolled-back", "{list:?}");
    assert_eq!(list[1].1, "applied", "{list:?}");
    assert_settled(&root, &state, "after the killed rollback");

    // The rollback itself can still be undone, by its id.
    let undo = run(&root, &state, &["rollback", "--yes", &list[1].0]);
    assert_eq!(undo.code, 0, "{}{}", undo.stdout, undo.stderr);
    assert_same_tree(&after, &fingerprint(&root, &[]));
    let back = run(&root, &state, &["rollback", "--yes"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert_same_tree(&before, &fingerprint(&root, &[]));
}

/// A rollback that was itself rolled back (undone) and killed at its last
/// rename, that of the apply's manifest being marked again.
struct KilledUndo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    /// The tree as the rollback had left it.
    before: BTreeMap<PathBuf, String>,
    /// The snapshots before the kill: the apply, then the rollback.
    list: Vec<(String, String, String)>,
}

/// The situation `setup` leaves (an apply and its rollback), then the
/// undo of that rollback, killed at its last rename.
fn killed_undo_of_rollback(setup: &dyn Fn(&Path, &Path)) -> KilledUndo {
    let dir = tempfile::tempdir().unwrap();
    let (root, state) = (dir.path().join("root"), dir.path().join("state"));
    setup(&root, &state);
    let before = fingerprint(&root, &[]);
    let list = snapshots(&root, &state);
    assert_eq!(list.len(), 2, "{list:?}");
    let args = ["-q", "rollback", "--yes", list[1].0.as_str()];
    let last = calls(setup, &newest_rollback_args, "rename");
    assert!(killed_at(&root, &state, &args, "rename", last));
    assert_ne!(fingerprint(&root, &[]), before, "the undo did not re-apply");
    KilledUndo {
        _dir: dir,
        root,
        state,
        before,
        list,
    }
}

/// Undoing a rollback, killed after the host is back as the apply left it
/// but before the apply is marked applied again: `rollback` must then take
/// that apply as the latest (it used to find none, or an older one).
#[test]
fn an_undone_rollback_killed_before_reapplying_leaves_the_apply_latest() {
    let setup = |r: &Path, s: &Path| {
        applied_root(r, s);
        let back = run(r, s, &["-q", "rollback", "--yes"]);
        assert_eq!(back.code, 0, "{}", back.stderr);
    };
    let KilledUndo {
        _dir,
        root,
        state,
        before,
        list,
    } = killed_undo_of_rollback(&setup);
    let back = run(&root, &state, &["rollback", "--yes"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert!(back.stdout.contains(&list[0].0), "{}", back.stdout);
    assert_same_tree(&before, &fingerprint(&root, &[]));
    assert_settled(&root, &state, "after the rollback");
}

/// A half-finished apply, rolled back, then that rollback undone and
/// killed before the apply is marked pending again: the host holds the
/// half-finished apply's changes, so a new apply must be refused.
#[test]
fn a_half_apply_brought_back_by_a_killed_undo_is_unfinished() {
    let setup = |r: &Path, s: &Path| {
        fresh_root(r);
        assert!(killed_at(r, s, &["-q", "apply", "--yes"], "fchmod", 7));
        let back = run(r, s, &["-q", "rollback", "--yes"]);
        assert_eq!(back.code, 0, "{}", back.stderr);
    };
    let KilledUndo {
        _dir,
        root,
        state,
        before,
        list,
    } = killed_undo_of_rollback(&setup);
    let refused = run(&root, &state, &["-q", "apply", "--yes"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stderr.contains("did not finish"), "{}", refused.stderr);
    assert!(refused.stderr.contains(&list[0].0), "{}", refused.stderr);
    recover(&root, &state, &before, "the half apply");
}

/// Every kill point of an apply, then of a rollback of a whole apply, for
/// the calls that change the tree or the store: after each, plain
/// `rollback --yes` (up to three times) brings the tree back as it was
/// before the apply, and leaves nothing unfinished or mislabelled.
#[test]
fn every_kill_point_of_apply_and_rollback_is_recovered() {
    let syscalls = ["mkdirat", "fchmod", "renameat", "rename", "unlinkat", "fdatasync"];
    let apply = strings(&["-q", "apply", "--yes"]);
    let rollback = strings(&["-q", "rollback", "--yes"]);
    let mut points: Vec<(&str, &str, usize)> = Vec::new();
    for syscall in syscalls {
        let made = calls(&|r, _| fresh_root(r), &|_, _| apply.clone(), syscall);
        points.extend((1..=made).map(|n| ("apply", syscall, n)));
        let made = calls(&|r, s| applied_root(r, s), &|_, _| rollback.clone(), syscall);
        points.extend((1..=made).map(|n| ("rollback", syscall, n)));
    }
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get().min(8));
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(what, syscall, n)) = points.get(i) else {
                        break;
                    };
                    let dir = tempfile::tempdir().unwrap();
                    let (root, state) = (dir.path().join("root"), dir.path().join("state"));
                    fresh_root(&root);
                    let before = fingerprint(&root, &[]);
                    let args = if what == "rollback" {
                        let out = run(&root, &state, &["-q", "apply", "--yes"]);
                        assert_eq!(out.code, 0, "{}", out.stderr);
                        &rollback
                    } else {
                        &apply
                    };
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    let label = format!("{what} killed at {syscall} #{n}");
                    assert!(killed_at(&root, &state, &args, syscall, n), "{label}: not killed");
                    recover(&root, &state, &before, &label);
                    assert_settled(&root, &state, &label);
                }
            });
        }
    });
    eprintln!("hostile_crash: {} kill points recovered", points.len());
    assert!(points.len() > 100, "only {} kill points", points.len());
}

/// A folder named like a temp file of the killed run (`.NAME.dockhard-PID-N`)
/// next to a target is someone else's: rollback keeps it and restores the
/// rest (it planned to remove it as a file, failed and was undone, every
/// time).
#[test]
fn a_folder_named_like_a_temp_file_is_kept_by_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let (root, state) = (dir.path().join("root"), dir.path().join("state"));
    fresh_root(&root);
    let before = fingerprint(&root, &[]);
    assert!(killed_at(&root, &state, &["-q", "apply", "--yes"], "renameat", 1));
    let (id, status, _) = snapshots(&root, &state).pop().unwrap();
    assert_eq!(status, "pending");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(state.join("snapshots").join(&id).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let pid = manifest["pid"].as_u64().unwrap();
    let planted = root.join(format!("etc/docker/.daemon.json.dockhard-{pid}-7"));
    std::fs::create_dir(&planted).unwrap();
    std::fs::write(planted.join("notes"), "mine\n").unwrap();
    let back = run(&root, &state, &["rollback", "--yes"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert_eq!(std::fs::read_to_string(planted.join("notes")).unwrap(), "mine\n");
    std::fs::remove_dir_all(&planted).unwrap();
    assert_same_tree(&before, &fingerprint(&root, &[]));
    assert_settled(&root, &state, "after the rollback");
}

/// A rollback killed after it restored every target, before it recorded
/// so: `rollback` without an id does not guess (undoing the interrupted
/// rollback would put the hardening back); it names both ways out, and
/// finishing it restores the tree and unblocks applies.
#[test]
fn an_interrupted_rollback_is_finished_not_undone() {
    let dir = tempfile::tempdir().unwrap();
    let (root, state) = (dir.path().join("root"), dir.path().join("state"));
    fresh_root(&root);
    let before = fingerprint(&root, &[]);
    let out = run(&root, &state, &["-q", "apply", "--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let applied = snapshots(&root, &state).pop().unwrap().0;
    let renames = calls(
        &applied_root,
        &|_, _| strings(&["-q", "rollback", "--yes"]),
        "rename",
    );
    // The second-to-last rename is the rollback's own manifest, marked
    // applied: every change was made.
    assert!(killed_at(
        &root,
        &state,
        &["-q", "rollback", "--yes"],
        "rename",
        renames - 1
    ));
    assert_same_tree(&before, &fingerprint(&root, &[]));

    let again = run(&root, &state, &["rollback", "--yes"]);
    assert_eq!(again.code, 1, "{}", again.stdout);
    assert!(
        again
            .stderr
            .contains(&format!("a rollback of snapshot {applied} did not finish"))
            && again.stderr.contains(&format!("rollback {applied} --force")),
        "{}",
        again.stderr
    );
    assert_same_tree(&before, &fingerprint(&root, &[]));
    let finish = run(&root, &state, &["rollback", &applied, "--force", "--yes"]);
    assert_eq!(finish.code, 0, "{}{}", finish.stdout, finish.stderr);
    assert_same_tree(&before, &fingerprint(&root, &[]));
    let plan = run(&root, &state, &["plan"]);
    assert!(
        !plan.stderr.contains("did not finish"),
        "{}\n{:?}\n{}",
        plan.stderr,
        snapshots(&root, &state),
        finish.stdout
    );
    let apply = run(&root, &state, &["-q", "apply", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
}
