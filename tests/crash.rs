//! Crash safety: an apply killed (SIGKILL) at random points, each followed
//! by a rollback, must leave the tree exactly as it was before the apply
//! (path, type, mode, owner, content of every entry). Between the kill and
//! the rollback, a new apply is refused and names the unfinished snapshot.
//!
//! The plan has thousands of set-id changes plus the file changes of every
//! other kind (fstab, daemon.json, subuid/subgid, the iptables rules file,
//! loader and units), so most kill points fall inside the apply.
//! `DOCKHARD_KILL_SEED` replays a run; `DOCKHARD_KILL_POINTS` changes how
//! many kill points there are (200 by default).

mod common;

use common::{basic_root, fingerprint, on, write};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Set-id files the plan strips.
const SETID_FILES: usize = 2000;

/// Writes straight to the test's stderr, past the test harness's capture,
/// so the figures show in CI.
fn report(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// basic_root plus SETID_FILES packaged set-id files in 20 folders.
fn crash_root() -> tempfile::TempDir {
    let dir = basic_root();
    let root = dir.path();
    let mut list = String::new();
    for n in 0..SETID_FILES {
        let path = format!("/usr/lib/crashtest/d{:02}/helper-{n:04}", n % 20);
        let mode = if n % 7 == 0 { 0o2755 } else { 0o4755 };
        write(root, &path, &format!("helper {n}\n"), mode);
        list.push_str(&path);
        list.push('\n');
    }
    write(root, "/var/lib/dpkg/info/crashtest.list", &list, 0o644);
    dir
}

/// The `done` lines of the newest snapshot's journal, and its status;
/// `None` when no manifest was written.
fn newest_snapshot(state: &Path) -> Option<(String, usize)> {
    let mut ids: Vec<_> = std::fs::read_dir(state.join("snapshots"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    ids.sort();
    let dir = ids.pop()?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let journal = std::fs::read_to_string(dir.join("journal")).unwrap_or_default();
    let done = journal.lines().filter(|l| l.starts_with("done ")).count();
    Some((manifest["status"].as_str().unwrap().to_string(), done))
}

/// The number of `done` lines in the journal of the only snapshot in
/// `state` (0 while there is none).
fn done_lines(state: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(state.join("snapshots")) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("journal")).ok())
        .map(|j| {
            j.split(|&b| b == b'\n')
                .filter(|l| l.starts_with(b"done "))
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn apply_command(root: &Path, state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockhard"));
    cmd.args([
        "--root",
        root.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ])
    .args(["-q", "apply", "--yes"])
    .env("DOCKHARD_SYSLOG_SOCKET", "")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    cmd
}

#[test]
fn rollback_after_a_kill_at_any_point_restores_the_tree() {
    let points: usize = std::env::var("DOCKHARD_KILL_POINTS")
        .ok()
        .map(|v| v.parse().expect("DOCKHARD_KILL_POINTS is a number"))
        .unwrap_or(200);
    let seed: u64 = std::env::var("DOCKHARD_KILL_SEED")
        .ok()
        .map(|v| v.parse().expect("DOCKHARD_KILL_SEED is a number"))
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    let mut rng = Rng(seed);

    let dir = crash_root();
    let root = dir.path();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let before = fingerprint(root, &[]);

    // The plan: how many changes, of which kinds.
    let plan = on(root, &["plan", "--format", "json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    let kinds: std::collections::BTreeSet<&str> =
        changes.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert!(changes.len() > SETID_FILES, "{} changes", changes.len());
    for kind in ["suid", "mount", "daemon", "iptables", "subid"] {
        assert!(kinds.contains(kind), "the plan has no {kind} change: {kinds:?}");
    }

    // One whole apply, timed, to spread the kill points over it: from when
    // its snapshot is on disk (the changes start) to its end.
    let start = Instant::now();
    let mut child = apply_command(root, &state).spawn().unwrap();
    let mut changes_start = None;
    let status = loop {
        if changes_start.is_none() && newest_snapshot(&state).is_some() {
            changes_start = Some(start.elapsed());
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let whole = start.elapsed();
    let changes_start = changes_start.expect("the apply wrote a snapshot");
    assert!(status.success());
    assert_ne!(fingerprint(root, &[]), before, "the apply changed nothing");
    let back = on(
        root,
        &["--state-dir", state.to_str().unwrap(), "rollback", "--yes"],
    );
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert_eq!(fingerprint(root, &[]), before, "rollback of a whole apply");
    report(&format!(
        "crash: {} changes ({} set-id), kinds {kinds:?}; a whole apply takes {} ms, its changes start at {} ms; seed {seed}\n",
        changes.len(),
        SETID_FILES,
        whole.as_millis(),
        changes_start.as_millis()
    ));

    // Kill points are chosen by what the apply has done, not by the clock
    // alone (its speed depends on the machine's load): one in ten at a
    // random time before its changes start (planning, taking the
    // snapshot); eight in ten once its journal shows a random number of
    // changes done; one in ten at a random time after the last change
    // (recording the state after, marking the snapshot applied).
    let changes_start = changes_start.as_micros() as u64;
    let total = changes.len();
    let (mut before_snapshot, mut finished, mut refused) = (0, 0, 0);
    let mut made: Vec<usize> = Vec::new();
    let mut different = Vec::new();
    for point in 0..points {
        let _ = std::fs::remove_dir_all(&state);
        let phase = rng.next() % 10;
        let (wait_done, delay) = match phase {
            0 => (0, rng.next() % changes_start.max(1)),
            9 => (total, rng.next() % 100_000),
            _ => (rng.next() as usize % total, 0),
        };
        let delay = Duration::from_micros(delay);
        let mut child = apply_command(root, &state).spawn().unwrap();
        if phase != 0 {
            while done_lines(&state) < wait_done && child.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();

        let state_arg = state.to_str().unwrap();
        match newest_snapshot(&state) {
            None => before_snapshot += 1,
            Some((status, _)) if status == "applied" => finished += 1,
            Some((status, done)) => {
                assert_eq!(status, "pending", "kill point {point}");
                made.push(done);
                // Until it is rolled back, a new apply is refused.
                let again = on(root, &["--state-dir", state_arg, "apply", "--yes"]);
                assert_eq!(again.code, 1, "kill point {point}: {}", again.stdout);
                assert!(again.stderr.contains("did not finish"), "{}", again.stderr);
                refused += 1;
            }
        }
        let back = on(root, &["--state-dir", state_arg, "rollback", "--yes"]);
        let nothing_to_roll_back = back.code == 1 && back.stderr.contains("no applied snapshot");
        if back.code != 0 && !nothing_to_roll_back {
            different.push(format!(
                "kill point {point} ({} us): rollback failed: {}{}",
                delay.as_micros(),
                back.stdout,
                back.stderr
            ));
            continue;
        }
        if fingerprint(root, &[]) != before {
            different.push(format!(
                "kill point {point} ({} us): tree differs",
                delay.as_micros()
            ));
            // Later points need the original tree.
            break;
        }
    }
    made.sort_unstable();
    report(&format!(
        "crash: {points} kill points: {before_snapshot} before the snapshot was on disk, {} during the apply \
         (changes made: min {}, median {}, max {}), {finished} after it finished; {refused} new applies refused \
         while unfinished; trees left different after rollback: {}\n",
        made.len(),
        made.first().copied().unwrap_or(0),
        made.get(made.len() / 2).copied().unwrap_or(0),
        made.last().copied().unwrap_or(0),
        different.len()
    ));
    assert!(different.is_empty(), "seed {seed}:\n{}", different.join("\n"));
    assert!(
        made.len() * 2 >= points,
        "only {} of {points} kill points fell inside the apply; the timing is off",
        made.len()
    );
    // Files left in the tree are not the snapshot's: no temp file survives.
    let leftovers: Vec<_> = walk(root)
        .into_iter()
        .filter(|p| p.contains(".dockhard-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let mode = std::fs::metadata(&state).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

fn walk(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap().flatten() {
        let path = entry.path();
        out.push(path.display().to_string());
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&path));
        }
    }
    out
}

/// Stops an apply of `crash_root` once its changes have started (its
/// journal has a few dozen lines) and returns the unfinished snapshot's id.
fn interrupted_apply(root: &Path, state: &Path) -> String {
    for _ in 0..5 {
        let _ = std::fs::remove_dir_all(state);
        let mut child = apply_command(root, state).spawn().unwrap();
        let journal = loop {
            let found = std::fs::read_dir(state.join("snapshots"))
                .ok()
                .and_then(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .find(|p| std::fs::metadata(p.join("journal")).is_ok_and(|m| m.len() > 400))
                });
            if let Some(dir) = found {
                break Some(dir);
            }
            if child.try_wait().unwrap().is_some() {
                break None;
            }
            std::thread::sleep(Duration::from_micros(100));
        };
        let _ = child.kill();
        let _ = child.wait();
        if let Some(dir) = journal
            && let Some((status, _)) = newest_snapshot(state)
            && status == "pending"
        {
            return dir.file_name().unwrap().to_str().unwrap().to_string();
        }
        // The apply finished first: roll it back and try again.
        let back = on(
            root,
            &["--state-dir", state.to_str().unwrap(), "rollback", "--yes"],
        );
        assert_eq!(back.code, 0, "{}", back.stderr);
    }
    panic!("could not stop an apply half way in five tries");
}

#[test]
fn an_unfinished_apply_is_pointed_out_refused_and_rolled_back_first() {
    let dir = crash_root();
    let root = dir.path();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let st = state.to_str().unwrap();
    let before = fingerprint(root, &[]);
    let id = interrupted_apply(root, &state);

    // plan says so (and still plans), snapshots show it, apply refuses.
    let plan = on(root, &["--state-dir", st, "plan"]);
    assert!(
        plan.stderr.contains("did not finish") && plan.stderr.contains(&id),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains(&format!("--state-dir {st} rollback {id}")),
        "{}",
        plan.stderr
    );
    let list = on(root, &["--state-dir", st, "snapshots", "list"]);
    assert!(
        list.stdout.contains(&id) && list.stdout.contains("pending"),
        "{}",
        list.stdout
    );
    let show = on(root, &["--state-dir", st, "snapshots", "show", &id]);
    assert!(
        show.stdout.contains("unfinished: ") && show.stdout.contains("change(s) made"),
        "{}",
        show.stdout
    );
    let half = fingerprint(root, &[]);
    let again = on(root, &["--state-dir", st, "apply", "--yes"]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains(&format!("rollback {id}")),
        "{}",
        again.stderr
    );
    assert_eq!(fingerprint(root, &[]), half, "a refused apply changed the tree");

    // A manifest edited by hand is refused, by rollback and by apply.
    let manifest = state.join("snapshots").join(&id).join("manifest.json");
    let original = std::fs::read(&manifest).unwrap();
    let edited = String::from_utf8(original.clone())
        .unwrap()
        .replacen("\"mode\": 2541", "\"mode\": 3565", 1);
    assert_ne!(
        edited.as_bytes(),
        &original[..],
        "no prior mode 04755 in the manifest"
    );
    std::fs::write(&manifest, &edited).unwrap();
    let back = on(root, &["--state-dir", st, "rollback", "--yes"]);
    assert_eq!(back.code, 1, "{}", back.stdout);
    assert!(
        back.stderr.contains("changed after dockhard wrote it"),
        "{}",
        back.stderr
    );
    let again = on(root, &["--state-dir", st, "apply", "--yes"]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("cannot tell whether its run finished"),
        "{}",
        again.stderr
    );
    assert_eq!(fingerprint(root, &[]), half, "an edited manifest was used");

    // The manifest as dockhard wrote it: rollback (no id) picks the
    // unfinished run and restores the tree; then apply works again.
    std::fs::write(&manifest, &original).unwrap();
    let back = on(root, &["--state-dir", st, "rollback", "--yes"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert!(
        back.stdout.contains(&format!("Rollback of snapshot {id}")),
        "{}",
        back.stdout
    );
    assert!(back.stdout.contains("did not finish"), "{}", back.stdout);
    assert_eq!(fingerprint(root, &[]), before);
    let plan = on(root, &["--state-dir", st, "plan"]);
    assert!(!plan.stderr.contains("did not finish"), "{}", plan.stderr);
    let apply = on(root, &["--state-dir", st, "apply", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
}

#[test]
fn an_apply_stopped_as_its_changes_start_is_resolved_by_rollback() {
    let dir = crash_root();
    let root = dir.path();
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    let st = state.to_str().unwrap();
    let before = fingerprint(root, &[]);
    // Stopped as soon as its journal exists: almost always before its
    // first change, when rollback finds nothing to restore and must still
    // mark the run resolved.
    let _ = std::fs::remove_dir_all(&state);
    let mut child = apply_command(root, &state).spawn().unwrap();
    while !std::fs::read_dir(state.join("snapshots"))
        .map(|mut e| e.any(|e| e.unwrap().path().join("journal").exists()))
        .unwrap_or(false)
    {
        assert!(child.try_wait().unwrap().is_none(), "the apply finished first");
        std::thread::sleep(Duration::from_micros(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let back = on(root, &["--state-dir", st, "rollback", "--yes"]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    assert_eq!(fingerprint(root, &[]), before);
    let list = on(root, &["--state-dir", st, "snapshots", "list"]);
    assert!(!list.stdout.contains("pending"), "{}", list.stdout);
    let apply = on(root, &["--state-dir", st, "apply", "--yes"]);
    assert_eq!(apply.code, 0, "{}", apply.stderr);
}
