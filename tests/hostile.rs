//! Hostile tests: each one replays a defect that was found by attacking
//! the executor, the snapshot store, rollback and the CLI contract, and
//! fails if the defect comes back.

mod common;

use common::*;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const STATE: &str = "var/lib/dockhard";

fn snapshot_id_of(stdout: &str) -> String {
    let at = stdout.find("Snapshot: ").expect("apply prints the snapshot id") + "Snapshot: ".len();
    stdout[at..].split_whitespace().next().unwrap().to_string()
}

fn manifest_path(root: &Path, id: &str) -> PathBuf {
    root.join(STATE).join("snapshots").join(id).join("manifest.json")
}

fn blob_of(root: &Path, id: &str, target: &str, which: &str) -> PathBuf {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest_path(root, id)).unwrap()).unwrap();
    let t = m["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["path"] == target)
        .unwrap_or_else(|| panic!("{target} in the manifest"));
    let blob = t[which]["blob"].as_str().unwrap();
    root.join(STATE).join("snapshots").join(id).join(blob)
}

/// Invariant 7: rollback restores byte-identical state. A snapshot blob
/// that no longer matches the sha256 its manifest recorded must not be
/// written over the target.
#[test]
fn rollback_refuses_a_blob_that_does_not_match_its_recorded_hash() {
    let dir = basic_root();
    let root = dir.path();
    let fstab_before = std::fs::read(root.join("etc/fstab")).unwrap();
    let run = on(root, &["apply", "--yes", "--only", "mount"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = snapshot_id_of(&run.stdout);
    let blob = blob_of(root, &id, "/etc/fstab", "prior");
    let f = std::fs::OpenOptions::new().write(true).open(&blob).unwrap();
    f.set_len(10).unwrap();
    drop(f);

    let run = on(root, &["rollback", "--yes"]);
    let now = std::fs::read(root.join("etc/fstab")).unwrap();
    assert_ne!(now.len(), 10, "rollback wrote a truncated blob over /etc/fstab");
    assert_eq!(run.code, 1, "a corrupt snapshot must be refused: {}", run.stdout);
    let _ = fstab_before;
}

/// DESIGN: a symlink inside the tree never makes the tool read outside it.
/// The default state dir is inside the root; a blob that is a symlink to a
/// file of the machine must not be copied into the root.
#[test]
fn rollback_does_not_read_a_blob_through_a_symlink_out_of_the_root() {
    let dir = basic_root();
    let root = dir.path();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "MACHINE SECRET\n").unwrap();
    let run = on(root, &["apply", "--yes", "--only", "mount"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = snapshot_id_of(&run.stdout);
    let blob = blob_of(root, &id, "/etc/fstab", "prior");
    std::fs::remove_file(&blob).unwrap();
    symlink(outside.path().join("secret"), &blob).unwrap();

    let _ = on(root, &["rollback", "--yes", "--force"]);
    assert!(
        !read(root, "/etc/fstab").contains("MACHINE SECRET"),
        "rollback copied a file from outside the root into /etc/fstab"
    );
}

/// The manifest's blob names are used as paths without validation.
#[test]
fn rollback_does_not_follow_an_absolute_blob_name_in_the_manifest() {
    let dir = basic_root();
    let root = dir.path();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "MACHINE SECRET\n").unwrap();
    let run = on(root, &["apply", "--yes", "--only", "mount"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = snapshot_id_of(&run.stdout);
    let path = manifest_path(root, &id);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "\"blob\": \"prior-0\"",
        &format!("\"blob\": \"{}\"", secret.display()),
    );
    std::fs::write(&path, text).unwrap();

    let _ = on(root, &["rollback", "--yes", "--force"]);
    assert!(
        !read(root, "/etc/fstab").contains("MACHINE SECRET"),
        "a manifest blob name made rollback read a file outside the state dir"
    );
}

/// A `snapshots` symlink inside the root's state dir must not make apply
/// write snapshot files outside the root.
#[test]
fn snapshots_symlink_in_the_state_dir_does_not_escape_the_root() {
    let dir = basic_root();
    let root = dir.path();
    let outside = tempfile::tempdir().unwrap();
    let state = root.join(STATE);
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    symlink(outside.path(), state.join("snapshots")).unwrap();

    let _ = on(root, &["apply", "--yes", "--only", "mount"]);
    let written: Vec<_> = walkdir::WalkDir::new(outside.path())
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    assert!(written.is_empty(), "apply wrote outside the root: {written:?}");
}

/// CONTRACT: `rollback` without an id restores the state before the latest
/// apply. Snapshot ids sort by second, then by a random salt, so of two
/// applies in the same second the older one is often taken as "latest".
#[test]
fn default_rollback_undoes_the_most_recent_apply() {
    for attempt in 0..8 {
        let dir = basic_root();
        let root = dir.path();
        let first = on(root, &["apply", "--yes", "--only", "mount"]);
        assert_eq!(first.code, 0, "{}", first.stderr);
        let second = on(root, &["apply", "--yes", "--only", "daemon"]);
        assert_eq!(second.code, 0, "{}", second.stderr);
        let second_id = snapshot_id_of(&second.stdout);
        let run = on(root, &["rollback", "--yes"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout.contains(&format!("Rollback of snapshot {second_id}")),
            "attempt {attempt}: the default rollback did not undo the latest apply {second_id}:\n{}",
            run.stdout
        );
        assert!(
            read(root, "/etc/fstab").contains("nosuid"),
            "the older apply was undone"
        );
    }
}

/// CONTRACT: exit 2 means "changes pending" for `plan --detailed-exitcode`
/// only; every error is 1. clap's usage errors exit 2.
#[test]
fn usage_errors_exit_1_not_2() {
    let dir = basic_root();
    let run = on(dir.path(), &["plan", "--detailed-exitcode", "--no-such-flag"]);
    assert_eq!(run.code, 1, "usage error: {}", run.stderr);
    let run = on(dir.path(), &["plan", "--detailed-exitcode", "--format", "yaml"]);
    assert_eq!(run.code, 1, "bad value: {}", run.stderr);
}

/// A failed write of the plan to stdout (disk full) is an error, not a
/// success with an empty or truncated plan.
#[test]
fn plan_to_a_full_device_is_an_error() {
    let dir = basic_root();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_dockhard"))
        .args(["--root", dir.path().to_str().unwrap(), "plan", "--format", "json"])
        .stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "writing the plan failed but exit was 0");
}

/// `plan --out FILE` writes through a temp file with a predictable name and
/// no O_EXCL/O_NOFOLLOW: a symlink planted there (e.g. in /tmp) makes root
/// overwrite the file it points to.
#[test]
fn plan_out_does_not_write_through_a_planted_symlink() {
    let dir = basic_root();
    let shared = tempfile::tempdir().unwrap();
    let victim = shared.path().join("victim");
    std::fs::write(&victim, "VICTIM\n").unwrap();
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for pid in last..last + 3000 {
        let _ = symlink(&victim, shared.path().join(format!(".plan.json.dockhard-{pid}")));
    }
    let out = shared.path().join("plan.json");
    let _ = on(dir.path(), &["plan", "--out", out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "VICTIM\n",
        "plan --out overwrote the target of a planted symlink"
    );
}

/// Rollback of an apply that created a directory (/etc/dockhard,
/// /etc/docker, docker.service.d) in which someone has since put a file:
/// the drift check does not see it; the rollback fails half-way (undone)
/// with "Directory not empty" instead of refusing up front.
#[test]
fn rollback_reports_a_created_directory_that_gained_a_file_as_drift() {
    let dir = basic_root();
    let root = dir.path();
    let run = on(root, &["apply", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    write(root, "/etc/dockhard/local.rules", "site rule\n", 0o644);
    let run = on(root, &["rollback", "--yes"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("nothing was restored") && run.stderr.contains("/etc/dockhard"),
        "the non-empty directory should be reported up front as drift: {}",
        run.stderr
    );
}

/// Same situation: even `--force` can never roll back; every other target
/// stays hardened.
#[test]
fn rollback_force_succeeds_when_a_created_directory_gained_a_file() {
    let dir = basic_root();
    let root = dir.path();
    let fstab = read(root, "/etc/fstab");
    let run = on(root, &["apply", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    write(root, "/etc/dockhard/local.rules", "site rule\n", 0o644);
    let run = on(root, &["rollback", "--yes", "--force"]);
    assert_eq!(run.code, 0, "rollback --force: {}", run.stderr);
    assert_eq!(read(root, "/etc/fstab"), fstab);
    assert_eq!(read(root, "/etc/dockhard/local.rules"), "site rule\n");
}

/// `rollback --force` of a setuid strip must not put the setuid bit on a
/// different binary that replaced the one dockhard inspected.
#[test]
fn rollback_force_does_not_make_a_replaced_binary_setuid() {
    let dir = basic_root();
    let root = dir.path();
    let run = on(root, &["apply", "--yes", "--only", "suid"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::fs::remove_file(root.join("usr/bin/chfn")).unwrap();
    write(root, "/usr/bin/chfn", "an attacker's binary\n", 0o755);
    let _ = on(root, &["rollback", "--yes", "--force"]);
    assert_eq!(
        mode_of(root, "/usr/bin/chfn") & 0o6000,
        0,
        "rollback --force made a binary it never snapshotted setuid"
    );
}

/// After a crash mid-apply the snapshot stays `pending`; a plain `rollback`
/// ("default: the latest snapshot") must restore it, or at least point at it.
#[test]
fn default_rollback_handles_an_interrupted_apply() {
    let dir = basic_root();
    let root = dir.path();
    let fstab = read(root, "/etc/fstab");
    let run = on(root, &["apply", "--yes", "--only", "mount"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = snapshot_id_of(&run.stdout);
    // What a kill -9 between two changes leaves behind.
    let path = manifest_path(root, &id);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m["status"] = "pending".into();
    for t in m["targets"].as_array_mut().unwrap() {
        t.as_object_mut().unwrap().remove("after");
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();

    let run = on(root, &["rollback", "--yes"]);
    assert!(
        run.code == 0 || run.stderr.contains(&id),
        "rollback neither restored nor named the pending snapshot {id}: {}",
        run.stderr
    );
    if run.code == 0 {
        assert_eq!(read(root, "/etc/fstab"), fstab);
    }
}

/// One stray entry in the snapshots folder (an editor or NFS file) makes
/// `snapshots` and the default `rollback` fail altogether.
#[test]
fn a_stray_file_in_the_snapshots_folder_does_not_break_listing() {
    let dir = basic_root();
    let root = dir.path();
    let run = on(root, &["apply", "--yes", "--only", "mount"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::fs::write(root.join(STATE).join("snapshots/.nfs0001"), "").unwrap();
    let run = on(root, &["snapshots"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = on(root, &["rollback", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// A saved plan applied with `--only KIND` loses the CreateDir changes the
/// planner de-duplicated into another kind, so the apply fails (and is
/// undone) although a fresh `plan --only KIND` applies fine.
#[test]
fn saved_plan_with_only_keeps_the_directories_its_changes_need() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases/C12-fstab-tmp-via-tmp-mount/input-variant-unit-without-nosuid");
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", case.display()))
        .arg(root)
        .status()
        .unwrap();
    assert!(status.success());
    let plan = root.join("plan.json");
    let run = on(root, &["plan", "--out", plan.to_str().unwrap()]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let run = on(
        root,
        &["apply", plan.to_str().unwrap(), "--only", "iptables", "--yes"],
    );
    assert_eq!(run.code, 0, "apply PLAN --only iptables: {}", run.stderr);
}

/// A root without /etc: the mount kind writes /etc/fstab before the daemon
/// kind creates /etc, so `apply --yes` always fails.
#[test]
fn apply_on_a_root_without_etc_orders_directory_creation_first() {
    let dir = tempfile::tempdir().unwrap();
    let run = on(dir.path(), &["apply", "--yes", "--only", "mount,daemon"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// `plan` exits 1 when a rule could not be checked; `apply --yes` on the
/// same root says the host matches the profile and exits 0.
#[test]
fn apply_does_not_report_success_when_a_rule_could_not_be_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    let run = on(dir.path(), &["plan"]);
    assert_eq!(run.code, 1, "plan: {}", run.stdout);
    let _ = on(dir.path(), &["apply", "--yes"]);
    let run = on(dir.path(), &["apply", "--yes"]);
    assert!(
        !run.stdout.contains("the host matches the profile"),
        "apply claims compliance although /etc/passwd could not be checked"
    );
    assert_eq!(run.code, 1);
}

/// A plan file's displayed target, summary and diff are not checked
/// against its action: the confirmation shows one file, another is written.
#[test]
fn saved_plan_whose_target_disagrees_with_its_action_is_refused() {
    let dir = basic_root();
    let root = dir.path();
    let plan_path = root.join("plan.json");
    let run = on(root, &["plan", "--out", plan_path.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut plan: serde_json::Value = serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    let mut change = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"]["path"] == "/etc/passwd")
        .unwrap()
        .clone();
    change["target"] = "/etc/motd".into();
    change["summary"] = "add a banner to /etc/motd".into();
    change["diff"] = "+ Welcome\n".into();
    plan["changes"] = serde_json::json!([change]);
    // Past the digest, which a hand edit would not pass: the target check.
    reseal(&mut plan);
    std::fs::write(&plan_path, serde_json::to_vec(&plan).unwrap()).unwrap();
    let passwd = read(root, "/etc/passwd");
    let run = on(root, &["apply", plan_path.to_str().unwrap(), "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(read(root, "/etc/passwd"), passwd);
}
