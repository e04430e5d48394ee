//! A state dir damaged by hand, by a crash or by bad luck: a journal or a
//! manifest that is a named pipe, a link or a huge file; a clock set back
//! between two runs; a run that still holds the lock while its snapshot is
//! pending. Each is reported naming the file, nothing is lost, and the run
//! stays restorable.

mod common;
#[path = "common/unprivileged.rs"]
mod unprivileged;

use common::{Run, applied_id, assert_same_tree, basic_root, fingerprint, on, snapshot_ids};
use dockhard::snapshot::{SnapshotStatus, Store};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn args<'a>(state: &'a Path, rest: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--offline", "--state-dir", state.to_str().unwrap()];
    all.extend_from_slice(rest);
    all
}

/// Runs dockhard on `root` with `state` as its state dir.
fn run(root: &Path, state: &Path, rest: &[&str]) -> Run {
    on(root, &args(state, rest))
}

/// As `run`, but a run that has not ended after 20 s (blocked on a named
/// pipe, say) is killed and fails the test; its address space is limited to
/// 2 GiB, so a run reading a huge file whole fails instead of taking this
/// machine's memory.
fn run_bounded(root: &Path, state: &Path, rest: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dockhard"));
    command
        .args(["--root", root.to_str().unwrap()])
        .args(args(state, rest))
        .env("NO_COLOR", "1")
        .env("DOCKHARD_SYSLOG_SOCKET", "")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("dockhard runs");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("dockhard {rest:?} hung (killed after 20 s)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A basic root, its fingerprint before any change, and an apply of it
/// recorded as unfinished (as if its process had been killed after its
/// last change): (root, fingerprint, state dir, snapshot folder).
struct Unfinished {
    _dir: tempfile::TempDir,
    root: tempfile::TempDir,
    before: std::collections::BTreeMap<PathBuf, String>,
    state: PathBuf,
    id: String,
}

impl Unfinished {
    fn new() -> Unfinished {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let root = basic_root();
        let before = fingerprint(root.path(), &[]);
        let id = applied_id(&run(
            root.path(),
            &state,
            &["apply", "--yes", "--only", "suid,daemon"],
        ));
        let store = Store::new(state.clone());
        let mut manifest = store.load(&id).unwrap();
        manifest.status = SnapshotStatus::Pending;
        store.write_manifest(&manifest).unwrap();
        Unfinished {
            _dir: dir,
            root,
            before,
            state,
            id,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.state.join("snapshots").join(&self.id).join(name)
    }

    fn run(&self, rest: &[&str]) -> Run {
        run_bounded(self.root.path(), &self.state, rest)
    }

    /// `rollback` (no id) succeeds and leaves the tree as before the apply.
    fn rolls_back_to_before(&self) {
        let back = self.run(&["rollback", "--yes"]);
        assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
        assert_same_tree(&self.before, &fingerprint(self.root.path(), &[]));
    }

    /// `apply` is refused naming `names` and saying `says`; the tree is as
    /// the unfinished run left it.
    fn apply_refused(&self, names: &str, says: &str) {
        let changed = fingerprint(self.root.path(), &[]);
        let out = self.run(&["apply", "--yes"]);
        assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains(names) && out.stderr.contains(says),
            "apply: {}",
            out.stderr
        );
        assert_same_tree(&changed, &fingerprint(self.root.path(), &[]));
    }

    /// `rollback` restores the tree as it was, warning that the journal
    /// (`journal`) could not be read and saying `says`.
    fn rolled_back_despite_journal(&self, says: &str) {
        let out = self.run(&["rollback", "--yes"]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        let journal = self.file("journal").display().to_string();
        assert!(
            out.stderr.contains(&format!("{journal}: {says}"))
                && out.stderr.contains("counts as possibly made"),
            "rollback: {}",
            out.stderr
        );
        assert_same_tree(&self.before, &fingerprint(self.root.path(), &[]));
    }
}

/// A journal replaced by a named pipe: reading it used to block for ever,
/// and with it `plan`, `snapshots show`, `apply` and `rollback`. It is now
/// a journal that cannot be read, named, and the run is restored whole.
#[test]
fn a_journal_that_is_a_named_pipe_does_not_hang_any_command() {
    let run = Unfinished::new();
    std::fs::remove_file(run.file("journal")).unwrap();
    nix::unistd::mkfifo(
        &run.file("journal"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();

    let plan = run.run(&["plan"]);
    assert!(plan.stderr.contains("did not finish"), "plan: {}", plan.stderr);
    let show = run.run(&["snapshots", "show", &run.id]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("unfinished"), "{}", show.stdout);
    assert!(show.stderr.contains("named pipe"), "show: {}", show.stderr);
    run.apply_refused(&run.id, "did not finish");
    run.rolled_back_despite_journal("is a named pipe (fifo), not a file dockhard wrote");
}

/// A journal grown huge (a sparse 8 GiB file: zeros, no line at all) used
/// to be read whole into memory; under a memory limit the run failed to
/// read it. It is refused by its size, naming it, and the run is restored.
#[test]
fn a_huge_journal_is_refused_by_its_size_not_read() {
    let run = Unfinished::new();
    std::fs::OpenOptions::new()
        .write(true)
        .open(run.file("journal"))
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    let show = run.run(&["snapshots", "show", &run.id]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stderr.contains("is 8589934592 bytes"),
        "show: {}",
        show.stderr
    );
    run.rolled_back_despite_journal("is 8589934592 bytes, more than such a file of this snapshot can hold");
}

/// A manifest that is a named pipe, or a link to nothing: the pipe used to
/// hang every command; the link was taken for a snapshot without a manifest
/// (a run stopped before its first change), so `apply` went ahead over an
/// unfinished run. Both are now reported, naming the manifest, and `apply`
/// is refused until someone looks at it.
#[test]
fn a_manifest_that_is_a_pipe_or_a_dangling_link_blocks_apply_by_name() {
    let run = Unfinished::new();
    let manifest = run.file("manifest.json");
    let shown = manifest.display().to_string();
    let kept = run._dir.path().join("manifest.json");
    std::fs::rename(&manifest, &kept).unwrap();

    std::os::unix::fs::symlink("/nonexistent/manifest.json", &manifest).unwrap();
    run.apply_refused(&shown, "is a symbolic link");
    let list = run.run(&["snapshots"]);
    assert!(
        list.stderr.contains(&format!("skipping snapshot {}", run.id)) && list.stderr.contains(&shown),
        "snapshots: {}",
        list.stderr
    );

    std::fs::remove_file(&manifest).unwrap();
    nix::unistd::mkfifo(&manifest, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    run.apply_refused(&shown, "is a named pipe (fifo)");
    let show = run.run(&["snapshots", "show", &run.id]);
    assert_eq!(show.code, 1, "{}", show.stdout);
    assert!(show.stderr.contains(&shown), "show: {}", show.stderr);
    let plan = run.run(&["plan"]);
    assert!(plan.stderr.contains(&shown), "plan: {}", plan.stderr);

    // Put back, the manifest restores the run as before.
    std::fs::remove_file(&manifest).unwrap();
    std::fs::rename(&kept, &manifest).unwrap();
    run.rolls_back_to_before();
}

/// The clock went back between two applies (a wrong clock at boot, set
/// right since): the new snapshot's id, taken from the clock, sorted before
/// the older one, and with `keep = 1` retention deleted the snapshot the
/// apply had just printed; `rollback` then undid the older apply instead.
/// A new id now always sorts after the snapshots already there.
#[test]
fn a_snapshot_taken_after_the_clock_went_back_is_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let profile = dir.path().join("keep-1.toml");
    std::fs::write(&profile, "[snapshots]\nkeep = 1\n").unwrap();
    let profile = profile.to_str().unwrap();
    let root = basic_root();
    let first = applied_id(&run(
        root.path(),
        &state,
        &["--profile", profile, "apply", "--yes", "--only", "daemon"],
    ));
    // As if the first apply had run with the clock a day ahead.
    let ahead = "29990101-000000-000000000";
    let store = Store::new(state.clone());
    let mut manifest = store.load(&first).unwrap();
    let snapshots = state.join("snapshots");
    std::fs::rename(snapshots.join(&first), snapshots.join(ahead)).unwrap();
    manifest.id = ahead.to_string();
    store.write_manifest(&manifest).unwrap();
    let after_first = fingerprint(root.path(), &[]);

    let second = applied_id(&run(
        root.path(),
        &state,
        &["--profile", profile, "apply", "--yes", "--only", "suid"],
    ));
    assert!(second.as_str() > ahead, "{second} sorts before {ahead}");
    assert_eq!(
        snapshot_ids(&state),
        [second.as_str()],
        "keep = 1 keeps the newest"
    );
    let back = run(root.path(), &state, &["rollback", "--yes"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert!(
        back.stdout.contains(&format!("Rollback of snapshot {second}")),
        "{}",
        back.stdout
    );
    assert_same_tree(&after_first, &fingerprint(root.path(), &[]));
}

/// A run that still holds the lock (slow, or stopped with SIGSTOP) while its
/// snapshot is pending: a second `apply` and `plan` used to say it "did not
/// finish" and to restore the state before it with `rollback`, which then
/// waited for the lock and undid the run once it had finished. They now say
/// it is still running, with its process and the lock.
#[test]
fn a_run_holding_the_lock_is_not_called_unfinished() {
    let run = Unfinished::new();
    // Its process: this one, alive and holding the lock.
    let store = Store::new(run.state.clone());
    let mut manifest = store.load(&run.id).unwrap();
    manifest.pid = Some(std::process::id());
    store.write_manifest(&manifest).unwrap();
    let lock = store.lock(Duration::from_secs(5)).unwrap();
    let lock_path = run.state.join("lock").display().to_string();
    for rest in [&["--lock-wait", "1", "apply", "--yes"][..], &["plan"][..]] {
        let out = run.run(rest);
        assert!(
            out.stderr.contains("is still running, or stopped")
                && out.stderr.contains(&lock_path)
                && out.stderr.contains(&run.id)
                && !out.stderr.contains("did not finish"),
            "{rest:?}: {}",
            out.stderr
        );
    }
    run.apply_refused(&run.id, "is still running");
    drop(lock);
    run.apply_refused(&run.id, "did not finish");
}

/// In a state dir shared by two trees, an unfinished run of one whose
/// process is gone is not called running because a run of the other tree
/// holds the lock.
#[test]
fn the_lock_of_another_trees_run_does_not_make_a_dead_run_running() {
    let run = Unfinished::new();
    let store = Store::new(run.state.clone());
    let mut manifest = store.load(&run.id).unwrap();
    // A process number no process has (above any pid_max).
    manifest.pid = Some(1 << 23);
    store.write_manifest(&manifest).unwrap();
    let _lock = store.lock(Duration::from_secs(5)).unwrap();
    run.apply_refused(&run.id, "did not finish");
}

/// A folder left where a manifest is written first (`manifest.tmp`): the
/// rollback restored the host, then failed saying manifest.json "Is a
/// directory" (it is a file), and so did every rollback after it. The
/// error now names the folder in the way.
#[test]
fn a_folder_in_place_of_the_manifests_temp_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let root = basic_root();
    let id = applied_id(&run(root.path(), &state, &["apply", "--yes", "--only", "daemon"]));
    let snapshot = state.join("snapshots").join(&id);
    std::fs::create_dir(snapshot.join("manifest.tmp")).unwrap();
    for _ in 0..2 {
        let out = run(root.path(), &state, &["rollback", "--yes"]);
        assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
        let temp = snapshot.join("manifest.tmp").display().to_string();
        assert!(
            out.stderr.contains(&format!("{temp}: ")) && out.stderr.contains("in the way of writing"),
            "{}",
            out.stderr
        );
    }
    std::fs::remove_dir(snapshot.join("manifest.tmp")).unwrap();
    let again = run(root.path(), &state, &["rollback", "--yes"]);
    assert!(
        again.code == 1 && again.stderr.contains("no applied snapshot"),
        "{}{}",
        again.stdout,
        again.stderr
    );
}

/// A rollback of an unfinished apply killed after it restored the host,
/// before it marked the apply rolled back: `plan` and `snapshots` count the
/// apply as rolled back, but `snapshots show` read its manifest as written
/// and said it was unfinished, to be restored with `rollback` (which then
/// said it was already rolled back). It now shows what `snapshots` lists.
#[test]
fn snapshots_show_agrees_with_the_list_after_a_killed_rollback() {
    let run = Unfinished::new();
    let back = run.run(&["rollback", "--yes"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    // As the rollback left it, killed before it marked the apply.
    let store = Store::new(run.state.clone());
    let mut manifest = store.load(&run.id).unwrap();
    manifest.status = SnapshotStatus::Pending;
    manifest.rolled_back_by = None;
    store.write_manifest(&manifest).unwrap();

    let plan = run.run(&["plan"]);
    assert!(!plan.stderr.contains("did not finish"), "plan: {}", plan.stderr);
    let show = run.run(&["snapshots", "show", &run.id]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout.contains("status rolled-back") && !show.stdout.contains("unfinished"),
        "{}",
        show.stdout
    );
    let json = run.run(&["snapshots", "show", &run.id, "--format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["status"], "rolled-back", "{}", json.stdout);
    assert_same_tree(&run.before, &fingerprint(run.root.path(), &[]));
}

/// The folder of an unfinished run moved to another disk and linked back
/// (or the link left broken): it was skipped as not a folder, so the run
/// passed for finished and `apply` went ahead over it. It is now refused,
/// naming the link, until the folder is put back.
#[test]
fn a_snapshot_folder_moved_away_and_linked_back_blocks_apply_by_name() {
    let run = Unfinished::new();
    let folder = run.state.join("snapshots").join(&run.id);
    let moved = run._dir.path().join("elsewhere");
    std::fs::rename(&folder, &moved).unwrap();
    for target in [moved.clone(), run._dir.path().join("gone")] {
        std::os::unix::fs::symlink(&target, &folder).unwrap();
        run.apply_refused(
            &format!("{}: the snapshot folder is a symbolic link", folder.display()),
            &run.id,
        );
        let list = run.run(&["snapshots"]);
        assert!(
            list.stderr.contains(&format!("skipping snapshot {}", run.id)),
            "snapshots: {}",
            list.stderr
        );
        std::fs::remove_file(&folder).unwrap();
    }
    std::fs::rename(&moved, &folder).unwrap();
    run.rolls_back_to_before();
}

/// A prior-N file of a snapshot grown huge (a sparse 8 GiB file) used to
/// be read whole before its sha256 was checked; under a memory limit the
/// rollback failed without saying why. It is refused by its size, naming
/// it, before anything is restored.
#[test]
fn a_huge_blob_is_refused_by_its_size_before_anything_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let root = basic_root();
    let id = applied_id(&run(root.path(), &state, &["apply", "--yes", "--only", "daemon"]));
    let snapshot = state.join("snapshots").join(&id);
    let blob = std::fs::read_dir(&snapshot)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("prior-"))
        .expect("a prior-N file");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&blob)
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    let applied = fingerprint(root.path(), &[]);
    let out = run_bounded(root.path(), &state, &["rollback", "--yes"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{}: is 8589934592 bytes", blob.display())),
        "{}",
        out.stderr
    );
    assert_same_tree(&applied, &fingerprint(root.path(), &[]));
}

/// A state dir behind a folder the user may not look into (root's 0700
/// temp dir, as uid 65534): `apply` and `snapshots` said only "Permission
/// denied" on the state dir. They now name the folder and what to do.
#[test]
fn a_state_dir_behind_a_folder_the_user_cannot_enter_is_named() {
    unprivileged::require_root();
    let (_outer, tree) = unprivileged::nobodys_basic_root();
    let closed = tempfile::tempdir().unwrap();
    std::fs::set_permissions(closed.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let state = closed.path().join("state");
    let before = fingerprint(&tree, &[]);
    for rest in [&["apply", "--yes"][..], &["snapshots"][..]] {
        let mut all = vec!["--offline", "--state-dir", state.to_str().unwrap()];
        all.extend_from_slice(rest);
        let out = unprivileged::on_as_nobody(&tree, &all);
        assert_eq!(out.code, 1, "{rest:?}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains(&format!(
                "{}: a folder on the way to the state dir {} cannot be looked into",
                closed.path().display(),
                state.display()
            )) && out.stderr.contains("give --state-dir DIR in a folder you own"),
            "{rest:?}: {}",
            out.stderr
        );
    }
    assert_same_tree(&before, &fingerprint(&tree, &[]));
    assert!(!state.exists());
}

/// The state dir's lock replaced by a link (to /etc/passwd, say) or a
/// folder: `apply` and `rollback` said only "Too many levels of symbolic
/// links" or "Is a directory". They now say what it is and what to do, and
/// change nothing.
#[test]
fn a_lock_that_is_a_link_or_a_folder_is_named_for_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let root = basic_root();
    applied_id(&run(root.path(), &state, &["apply", "--yes", "--only", "daemon"]));
    let lock = state.join("lock");
    let applied = fingerprint(root.path(), &[]);
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &lock).unwrap();
    let out = run(root.path(), &state, &["rollback", "--yes"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "{}: is a symbolic link, not the lock file",
            lock.display()
        )),
        "{}",
        out.stderr
    );
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    let out = run(root.path(), &state, &["apply", "--yes"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{}: is a directory, not the lock file", lock.display())),
        "{}",
        out.stderr
    );
    assert_same_tree(&applied, &fingerprint(root.path(), &[]));
}

/// A disk that fills up while the snapshot is taken (a write fails with
/// ENOSPC, injected with strace): the apply failed with nothing changed, but
/// left the half-written snapshot folder, without a manifest, which
/// retention never deletes. It is now removed.
#[test]
fn a_snapshot_that_could_not_be_written_is_not_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let root = basic_root();
    let before = fingerprint(root.path(), &[]);
    let out = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "-e", "inject=write:error=ENOSPC:when=1"])
        .arg(env!("CARGO_BIN_EXE_dockhard"))
        .args(["--root", root.path().to_str().unwrap()])
        .args(args(&state, &["-q", "apply", "--yes"]))
        .env("NO_COLOR", "1")
        .env("DOCKHARD_SYSLOG_SOCKET", "")
        .stdin(Stdio::null())
        .output()
        .expect("strace runs (the tests need the strace package)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert_same_tree(&before, &fingerprint(root.path(), &[]));
    assert_eq!(snapshot_ids(&state), Vec::<String>::new(), "{stderr}");
    let again = run(root.path(), &state, &["-q", "apply", "--yes"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}
