//! Races and links (DESIGN invariants 4 and 9): a target swapped between
//! `plan --out FILE` and `apply FILE --yes` is refused by name and nothing
//! is applied; a symlink inside `--root` that points outside it is never
//! followed for reading or writing; a set-id inode with several hard links
//! gets one change that names them; and no name the tool writes can be
//! redirected by whoever can write to /tmp or /var/tmp.
//!
//! Each race test names, in its doc comment, the guard it covers and how
//! it was checked: on a private copy of the tree with that guard removed,
//! the test fails.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const STATE: &str = "var/lib/dockhard";

/// A saved plan of `root`, kept outside it.
struct Saved {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Saved {
    fn of(root: &Path, only: Option<&str>) -> Saved {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let mut args = vec!["plan", "--out", path.to_str().unwrap(), "-q"];
        if let Some(kinds) = only {
            args.extend(["--only", kinds]);
        }
        let run = on(root, &args);
        assert!(run.code == 0 || run.code == 2, "plan --out: {}", run.stderr);
        Saved { _dir: dir, path }
    }

    fn str(&self) -> &str {
        self.path.to_str().unwrap()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&self.path).unwrap()).unwrap()
    }

    /// Whether the plan has a change whose action is on `path`.
    fn changes(&self, path: &str) -> bool {
        self.json()["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["action"]["path"] == path)
    }
}

/// The snapshots in the state dir under `root`.
fn snapshot_count(root: &Path) -> usize {
    match std::fs::read_dir(root.join(STATE).join("snapshots")) {
        Ok(entries) => entries.count(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => panic!("snapshots folder: {e}"),
    }
}

/// Applies the saved plan after the host was changed: it must be refused
/// (exit 1) before anything is done (no snapshot taken: a change begun and
/// then undone would pass the other checks), naming `target`, and leave
/// the tree exactly as it was.
fn assert_refused(root: &Path, plan: &Saved, target: &str) {
    let before = fingerprint(root, &[STATE]);
    let snapshots = snapshot_count(root);
    let run = on(root, &["apply", plan.str(), "--yes"]);
    assert_eq!(
        run.code, 1,
        "a stale plan was applied\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains(&format!("{target}:")),
        "the refusal does not name {target}:\n{}",
        run.stderr
    );
    assert_eq!(
        snapshot_count(root),
        snapshots,
        "the stale plan was begun (a snapshot was taken) before it was refused:\n{}",
        run.stderr
    );
    assert_same_tree(&before, &fingerprint(root, &[STATE]));
}

fn p(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// Replaces `path` by a new inode with the same content, mode and owner.
fn new_inode_same_content(root: &Path, path: &str) {
    let file = p(root, path);
    let meta = std::fs::metadata(&file).unwrap();
    let copy = file.with_extension("swap");
    std::fs::copy(&file, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(meta.mode() & 0o7777)).unwrap();
    std::fs::rename(&copy, &file).unwrap();
    let now = std::fs::metadata(&file).unwrap();
    assert_ne!(now.ino(), meta.ino());
    assert_eq!(now.mode(), meta.mode());
}

/// Rewrites `path` in place (same inode, same size and mode), one byte
/// changed.
fn new_content_same_inode(root: &Path, path: &str, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let file = p(root, path);
    let meta = std::fs::metadata(&file).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(from), "{path} holds no {from:?}");
    let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    std::io::Write::write_all(&mut f, text.replacen(from, to, 1).as_bytes()).unwrap();
    drop(f);
    // Root keeps set-id bits on a write (CAP_FSETID); say so explicitly.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(meta.mode() & 0o7777)).unwrap();
    let now = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (now.ino(), now.mode(), now.len()),
        (meta.ino(), meta.mode(), meta.len())
    );
}

// ---------------------------------------------------------------------------
// Between `plan --out` and `apply FILE`: the set-id file

/// A set-id target replaced by a symlink to another set-id file inside the
/// root, by a symlink to a set-id file outside it, and by a symlink to
/// another name of its own inode (a hard link made before the swap) is
/// refused by name.
///
/// Guard: a `SetMode` target is never opened through a symlink:
/// `O_NOFOLLOW` in `HostRoot::pinned_inode` (precondition check) and
/// `HostRoot::set_mode` (the chmod) in src/host/mod.rs, and the snapshot's
/// `capture` of an inode target, which takes only a regular file (`lstat`)
/// in src/snapshot.rs. The symlink to the same inode is caught by nothing
/// else: its device, inode, mode, owner and content all match the pin.
/// Checked: with those three removed the apply goes through ("a stale plan
/// was applied").
#[test]
fn set_id_target_swapped_for_a_symlink_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let foreign = outside.path().join("foreign-setuid");
    std::fs::write(&foreign, "chfn binary\n").unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let outside_before = fingerprint(outside.path(), &[]);

    for to in ["inside", "outside", "same-inode"] {
        let dir = basic_root();
        let root = dir.path();
        let plan = Saved::of(root, Some("suid"));
        assert!(plan.changes("/usr/bin/chfn"));
        let chfn = p(root, "/usr/bin/chfn");
        let target: PathBuf = match to {
            // passwd is on the allow list: kept, not in the plan.
            "inside" => "/usr/bin/passwd".into(),
            "outside" => foreign.clone(),
            _ => {
                std::fs::hard_link(&chfn, p(root, "/usr/lib/chfn.real")).unwrap();
                "/usr/lib/chfn.real".into()
            }
        };
        std::fs::remove_file(&chfn).unwrap();
        symlink(&target, &chfn).unwrap();
        assert_refused(root, &plan, "/usr/bin/chfn");
        assert_eq!(mode_of(root, "/usr/bin/passwd"), 0o4755, "{to}");
        assert_same_tree(&outside_before, &fingerprint(outside.path(), &[]));
    }
}

/// A set-id target replaced by another file with the same content, mode
/// and owner (a new inode) is refused by name.
///
/// Guard: the device/inode pin of `SetMode` (`InodeState::{dev, ino}`,
/// compared in `stale_targets` via `same_sim` in src/apply.rs, and again
/// in `HostRoot::set_mode`). Checked: with the dev/ino comparison taken
/// out of both `same_sim` and `HostRoot::set_mode`, the apply goes
/// through; with it taken out of `same_sim` only, `set_mode` refuses the
/// change after the snapshot and the run is undone, which `assert_refused`
/// fails too (a snapshot was taken).
#[test]
fn set_id_target_replaced_by_a_new_inode_is_refused() {
    let dir = basic_root();
    let root = dir.path();
    let plan = Saved::of(root, Some("suid"));
    assert!(plan.changes("/usr/sbin/pppd"));
    new_inode_same_content(root, "/usr/sbin/pppd");
    assert_refused(root, &plan, "/usr/sbin/pppd");
}

/// A set-id target whose content changed in place (same inode, size,
/// mode and owner) is refused by name: a binary rewritten between review
/// and apply is not the one that was reviewed.
///
/// Guard: the content hash pinned into every `SetMode` precondition by the
/// planner (`InodeState::sha256`, set in src/planner.rs from
/// `HostRoot::pinned_inode`, compared in `stale_targets` and in
/// `HostRoot::set_mode`). Checked: without that pin the apply goes
/// through.
#[test]
fn set_id_target_given_new_content_is_refused() {
    let dir = basic_root();
    let root = dir.path();
    let plan = Saved::of(root, Some("suid"));
    assert!(plan.changes("/usr/bin/chfn"));
    new_content_same_inode(root, "/usr/bin/chfn", "chfn", "CHFN");
    assert_refused(root, &plan, "/usr/bin/chfn");
}

/// A set-id target given another name (a hard link) after the plan was
/// made is refused by name: stripping the inode's bits would strip them
/// from the new name too, here one that replaced the allow-listed sudo, so
/// that the apply would lock out sudo. A fresh plan sees the link and
/// keeps the inode; a saved plan must not go ahead either.
///
/// Guard: the link count pinned into every `SetMode` precondition
/// (`InodeState::links`, from `FileStat::inode_state`, compared by
/// `InodeState::matches` in `stale_targets` and in `HostRoot::set_mode`).
/// Checked: with `inode_state` pinning no link count, the apply goes
/// through and /usr/bin/sudo loses its setuid bit.
#[test]
fn set_id_target_given_a_new_name_is_refused() {
    let dir = basic_root();
    let root = dir.path();
    let plan = Saved::of(root, Some("suid"));
    assert!(plan.changes("/usr/bin/chfn"));
    let sudo = p(root, "/usr/bin/sudo");
    std::fs::remove_file(&sudo).unwrap();
    std::fs::hard_link(p(root, "/usr/bin/chfn"), &sudo).unwrap();
    assert_refused(root, &plan, "/usr/bin/chfn");
    assert_eq!(mode_of(root, "/usr/bin/sudo"), 0o4755);
    // A link added and removed again leaves the inode as planned.
    std::fs::remove_file(&sudo).unwrap();
    let run = on(root, &["apply", plan.str(), "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(mode_of(root, "/usr/bin/chfn"), 0o755);
}

// ---------------------------------------------------------------------------
// Between `plan --out` and `apply FILE`: files that are written

/// A written target (daemon.json, fstab) replaced by a symlink to a file
/// with the very same content, mode and owner, inside the root or outside
/// it, absolute or relative, is refused by name; nothing outside changes.
///
/// Guard: a written target is never a symlink: `HostRoot::file_state`
/// refuses one after `lstat`, `HostRoot::read_file` and
/// `HostRoot::write_atomic` open it with `O_NOFOLLOW` (src/host/mod.rs),
/// and the snapshot's `capture` refuses one (src/snapshot.rs). Checked:
/// with all four removed the link to the copy inside the root is replaced
/// by a file ("a stale plan was applied").
#[test]
fn written_target_swapped_for_a_symlink_is_refused() {
    for (target, kind) in [("/etc/docker/daemon.json", "daemon"), ("/etc/fstab", "mount")] {
        for to in ["inside", "outside-absolute", "outside-relative"] {
            let dir = basic_root();
            let root = dir.path();
            let outside = tempfile::tempdir().unwrap();
            let plan = Saved::of(root, Some(kind));
            assert!(plan.changes(target), "{target}");
            let file = p(root, target);
            let copy = match to {
                "inside" => file.with_extension("orig"),
                _ => outside.path().join("copy"),
            };
            std::fs::rename(&file, &copy).unwrap();
            let link: PathBuf = match to {
                // As the root sees it: the copy beside the target.
                "inside" => Path::new(target).with_extension("orig"),
                "outside-relative" => relative_to(file.parent().unwrap(), &copy),
                _ => copy.clone(),
            };
            symlink(&link, &file).unwrap();
            let outside_before = fingerprint(outside.path(), &[]);
            assert_refused(root, &plan, target);
            assert_same_tree(&outside_before, &fingerprint(outside.path(), &[]));
        }
    }
}

/// A written target given new content in place (same inode, size, mode
/// and owner) is refused by name.
///
/// Guard: the content hash of a `WriteFile` precondition
/// (`FileState::File::sha256`, compared in `stale_targets` in src/apply.rs
/// and again just before the write in `perform`). Checked: with
/// `FileState::of_file` recording no hash the apply goes through.
#[test]
fn written_target_given_new_content_is_refused() {
    for (target, kind, from, to) in [
        ("/etc/docker/daemon.json", "daemon", "local", "LOCAL"),
        ("/etc/fstab", "mount", "errors", "ERRORS"),
    ] {
        let dir = basic_root();
        let root = dir.path();
        let plan = Saved::of(root, Some(kind));
        assert!(plan.changes(target), "{target}");
        new_content_same_inode(root, target, from, to);
        assert_refused(root, &plan, target);
    }
}

/// A written target replaced by another inode with the same content, mode
/// and owner is still the file the plan was made for (a `WriteFile`
/// precondition is content, mode and owner), so the apply goes ahead; but
/// the new inode is never written into: the write is a new file renamed
/// over the name, and another name of the swapped-in inode keeps its bytes.
///
/// Guard: `HostRoot::write_atomic` writes a temp file and renames it; it
/// never opens the target for writing.
#[test]
fn written_target_replaced_by_a_new_inode_is_never_written_into() {
    let dir = basic_root();
    let root = dir.path();
    let plan = Saved::of(root, Some("daemon"));
    let file = p(root, "/etc/docker/daemon.json");
    let original = std::fs::read(&file).unwrap();
    new_inode_same_content(root, "/etc/docker/daemon.json");
    // The swapped-in inode has a second name: it must keep its bytes.
    std::fs::hard_link(&file, p(root, "/etc/docker/keep.json")).unwrap();
    let run = on(root, &["apply", plan.str(), "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(p(root, "/etc/docker/keep.json")).unwrap(), original);
    assert!(read(root, "/etc/docker/daemon.json").contains("\"icc\": false"));
}

// ---------------------------------------------------------------------------
// Symlinks that point out of the root

/// `../` repeated up to `/`, then `to`: a relative link text from `from`
/// that reaches `to` when followed the ordinary way.
fn relative_to(from: &Path, to: &Path) -> PathBuf {
    let ups = from.components().count() - 1;
    let mut link = PathBuf::new();
    for _ in 0..ups {
        link.push("..");
    }
    link.join(to.strip_prefix("/").unwrap())
}

/// A tree outside the root: files a hostile link inside the root points
/// at. `SECRET` must never show up in a plan, and nothing here may change.
struct Outside {
    dir: tempfile::TempDir,
    before: BTreeMap<PathBuf, String>,
}

const SECRET: &str = "OUTSIDE-SECRET";

impl Outside {
    fn new() -> Outside {
        let dir = tempfile::tempdir().unwrap();
        let o = dir.path();
        write(
            o,
            "/docker/daemon.json",
            &format!("{{\"icc\": true, \"x-note\": \"{SECRET}\"}}\n"),
            0o644,
        );
        write(o, "/fstab", &format!("{SECRET} /tmp tmpfs defaults 0 0\n"), 0o644);
        write(o, "/subuid", &format!("{SECRET}:100000:65536\n"), 0o644);
        write(o, "/local/bin/evil-helper", "outside binary\n", 0o4755);
        std::fs::create_dir_all(o.join("systemd")).unwrap();
        write(
            o,
            "/unitdir/system/docker.service",
            &format!("[Service]\nExecStart=/usr/bin/dockerd -H fd:// -H tcp://{SECRET}:2375\n"),
            0o644,
        );
        let before = fingerprint(o, &[]);
        Outside { dir, before }
    }

    fn path(&self, path: &str) -> PathBuf {
        p(self.dir.path(), path)
    }

    fn assert_untouched(&self, what: &str) {
        let now = fingerprint(self.dir.path(), &[]);
        let changed: Vec<_> = now
            .iter()
            .filter(|(k, v)| self.before.get(*k) != Some(v))
            .collect();
        assert!(
            changed.is_empty() && now.len() == self.before.len(),
            "{what}: the tree outside the root changed: {changed:?}"
        );
    }
}

/// Plans (text and JSON) and applies `root` with `--only kind`; the outside
/// file's content never shows, and nothing outside changes. Returns the
/// JSON plan.
fn plan_and_apply_without_escaping(
    root: &Path,
    outside: &Outside,
    kind: &str,
    what: &str,
) -> serde_json::Value {
    let text = on(root, &["plan", "--only", kind]);
    let json = on(root, &["plan", "--only", kind, "--format", "json"]);
    for run in [&text, &json] {
        assert!(
            !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
            "{what}: the plan shows a file outside the root:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        assert!(
            !run.stdout.contains("evil-helper"),
            "{what}: the plan names a set-id file outside the root:\n{}",
            run.stdout
        );
    }
    let _ = on(root, &["apply", "--yes", "--only", kind]);
    outside.assert_untouched(what);
    let _ = on(root, &["rollback", "--yes"]);
    outside.assert_untouched(what);
    serde_json::from_str(&json.stdout).unwrap()
}

/// Symlinks inside the root that point out of it, absolute and relative,
/// in the last component (daemon.json, fstab, subuid) or in a folder on
/// the way (/etc/docker, /etc/systemd, and /usr/lib/systemd, which holds
/// the vendor units and is only read), are never followed out of the root:
/// the plan does not show the outside file's content and the apply (and
/// rollback) leave every outside file byte for byte, with its mode and
/// owner. A folder link is resolved inside the root (where the same path
/// holds the root's own file), so its target there is what is read; it is
/// never written through (see
/// `a_folder_link_on_the_way_to_a_written_file_is_an_error_at_plan_time`).
///
/// Guard: `RESOLVE_IN_ROOT` on every `openat2` of `HostRoot::open_in`
/// (src/host/mod.rs); for a last component also `O_NOFOLLOW`. Checked:
/// without `RESOLVE_IN_ROOT` the plan shows the outside docker.service
/// (through /usr/lib/systemd). For the folders of written files two more
/// guards stand behind it: the planner's `check_folders` turns a kind whose
/// written file lies behind a folder link into an error finding, and
/// `HostRoot::open_parent` opens the folders of a write with
/// `RESOLVE_NO_SYMLINKS`. With `RESOLVE_IN_ROOT` and `check_folders` both
/// removed the /etc/docker rows show the outside file; the /etc/systemd row
/// (whose outside folder holds nothing to show) fails only with
/// `check_folders` and `open_parent`'s flags removed: the apply writes the
/// units outside the root.
#[test]
fn symlinks_pointing_out_of_the_root_are_never_followed() {
    let outside = Outside::new();
    let cases: [(&str, &str, &str, bool); 9] = [
        ("/etc/docker/daemon.json", "docker/daemon.json", "daemon", false),
        ("/etc/docker/daemon.json", "docker/daemon.json", "daemon", true),
        ("/etc/fstab", "fstab", "mount", true),
        ("/etc/subuid", "subuid", "subid", false),
        ("/etc/docker", "docker", "daemon", false),
        ("/etc/docker", "docker", "daemon", true),
        ("/etc/systemd", "systemd", "iptables", true),
        // A folder that is only read (the vendor units), never written.
        ("/usr/lib/systemd", "unitdir", "daemon", false),
        ("/usr/lib/systemd", "unitdir", "daemon", true),
    ];
    for (link, to, kind, relative) in cases {
        let what = format!(
            "{link} -> {} {to}",
            if relative { "relative" } else { "absolute" }
        );
        let dir = basic_root();
        let root = dir.path();
        let at = p(root, link);
        if at.is_dir() {
            std::fs::remove_dir_all(&at).unwrap();
        } else if at.exists() {
            std::fs::remove_file(&at).unwrap();
        }
        let target = outside.path(to);
        let text = if relative {
            relative_to(at.parent().unwrap(), &target)
        } else {
            target.clone()
        };
        symlink(&text, &at).unwrap();
        // Where the link leads when it is resolved inside the root: the
        // root's own copy of a folder, holding the root's own files.
        let in_root = root.join(target.strip_prefix("/").unwrap());
        if to == "docker" {
            write(
                root,
                &format!("{}/daemon.json", in_root.strip_prefix(root).unwrap().display()),
                "{\"icc\": true}\n",
                0o644,
            );
        }
        let plan = plan_and_apply_without_escaping(root, &outside, kind, &what);
        if to == "docker" {
            // The folder link is resolved inside the root, where it leads
            // to the root's own daemon.json; but dockhard does not write
            // through it: the plan has an error instead of an edit, and
            // the file it leads to keeps its bytes.
            assert!(
                !plan["changes"].to_string().contains("/etc/docker/daemon.json"),
                "{what}: {plan}"
            );
            assert!(
                plan["findings"]
                    .to_string()
                    .contains("/etc/docker: is a symbolic link; dockhard does not write through links"),
                "{what}: {plan}"
            );
            assert_eq!(
                std::fs::read(in_root.join("daemon.json")).unwrap(),
                b"{\"icc\": true}\n",
                "{what}"
            );
        }
    }
}

/// The set-id scan never follows a symlinked folder out of the root
/// (absolute or relative): a set-id file outside is not planned, not shown
/// and not changed.
///
/// Guard: the scan walks only entries whose own type (not followed) is a
/// directory, and opens them by handle with `O_NOFOLLOW`
/// (src/kinds/suid/scan.rs). Checked: with top-level symlinks walked and
/// `O_NOFOLLOW` removed from `DIR_FLAGS`, the plan names the outside file.
#[test]
fn set_id_scan_never_follows_a_folder_link_out_of_the_root() {
    let outside = Outside::new();
    for relative in [false, true] {
        let dir = basic_root();
        let root = dir.path();
        let at = p(root, "/usr/local");
        let target = outside.path("local");
        let text = if relative {
            relative_to(at.parent().unwrap(), &target)
        } else {
            target.clone()
        };
        symlink(&text, &at).unwrap();
        symlink(&text, p(root, "/opt")).unwrap();
        let plan = plan_and_apply_without_escaping(root, &outside, "suid", "scan");
        assert!(!plan["changes"].to_string().contains("evil-helper"), "{plan}");
        assert_eq!(mode_of(outside.dir.path(), "/local/bin/evil-helper"), 0o4755);
    }
}

/// A root for `kind` whose files go into the folder `folder`, which the
/// test then replaces by a link.
fn root_for(kind: &str) -> tempfile::TempDir {
    if kind != "mount" {
        return basic_root();
    }
    // /tmp mounted by tmp.mount without nosuid: the fix is a drop-in in
    // /etc/systemd/system/tmp.mount.d.
    let dir = tempfile::tempdir().unwrap();
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases/C12-fstab-tmp-via-tmp-mount/input-variant-unit-without-nosuid");
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", case.display()))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

/// A folder on the way to a file a kind writes (/etc/docker for
/// daemon.json, /etc/systemd for a mount drop-in and the iptables unit,
/// /etc/dockhard for the iptables rules, /etc itself for subuid) that is a
/// symbolic link, whether it leads out of the root (absolute or `../..`),
/// nowhere (dangling), or to a directory inside the root (the link is not
/// followed: the write would land elsewhere than the path shown), is an error
/// finding at plan time that names the folder and says it is a link
/// dockhard does not write through; the plan has no change below it, and
/// `apply --yes` refuses before anything is done (tree unchanged, no
/// snapshot), leaving the outside tree alone.
///
/// Guard: `kinds::check_folders` (src/kinds/mod.rs), applied by the
/// planner to every change that writes, creates or removes a file
/// (`folder_errors` in src/planner.rs), and `nearest_existing_owner`
/// walking with `lstat`. Checked: before them the plan said "creates the
/// file" daemon.json with no folder, and the apply failed with ENOENT and
/// was undone (out of the root, dangling) or wrote through the link (in
/// the root).
#[test]
fn a_folder_link_on_the_way_to_a_written_file_is_an_error_at_plan_time() {
    let cases: [(&str, &str); 5] = [
        ("daemon", "/etc/docker"),
        ("mount", "/etc/systemd"),
        ("iptables", "/etc/systemd"),
        ("iptables", "/etc/dockhard"),
        ("subid", "/etc"),
    ];
    for (kind, folder) in cases {
        for to in [
            "outside-absolute",
            "outside-relative",
            "dangling",
            "inside",
            "inside-absolute",
        ] {
            // With /etc gone from the root there is no passwd to plan
            // subuid from (an error of its own, and no write).
            if folder == "/etc" && !to.starts_with("inside") {
                continue;
            }
            let what = format!("{kind}: {folder} -> {to}");
            let dir = root_for(kind);
            let root = dir.path();
            let at = p(root, folder);
            // The folder's content moves to where the link leads: out of
            // the root, or to a directory inside it.
            let outside = tempfile::tempdir().unwrap();
            let moved = match to {
                "inside" | "inside-absolute" => p(root, "/srv/moved"),
                _ => outside.path().join("moved"),
            };
            std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
            if at.is_dir() {
                std::fs::rename(&at, &moved).unwrap();
            } else {
                std::fs::create_dir(&moved).unwrap();
                std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            }
            let text: PathBuf = match to {
                "outside-absolute" => moved.clone(),
                "outside-relative" => relative_to(at.parent().unwrap(), &moved),
                "dangling" => "nowhere".into(),
                // Resolved inside the root, as every path is.
                "inside-absolute" => "/srv/moved".into(),
                _ => relative_to(at.parent().unwrap(), Path::new("/srv/moved")),
            };
            symlink(&text, &at).unwrap();
            let outside_before = fingerprint(outside.path(), &[]);

            let run = on(root, &["plan", "--only", kind, "--format", "json"]);
            let plan: serde_json::Value = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("{what}: {e}\n{}\n{}", run.stdout, run.stderr));
            let below = format!("{folder}/");
            let under: Vec<&str> = plan["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["action"]["path"].as_str().unwrap_or_default())
                .filter(|path| path.starts_with(&below) || *path == folder)
                .collect();
            assert!(
                under.is_empty(),
                "{what}: changes through the link: {under:?}\n{plan:#}"
            );
            let said = format!("{folder}: is a symbolic link; dockhard does not write through links");
            let finding = plan["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["message"].as_str().is_some_and(|m| m.contains(&said)))
                .unwrap_or_else(|| panic!("{what}: no finding saying {said:?}\n{plan:#}"));
            assert_eq!(finding["status"], "error", "{what}");
            assert_eq!(finding["blocking"], true, "{what}");
            let file = format!("so it does not write {folder}/");
            assert!(
                finding["message"].as_str().unwrap().contains(&file),
                "{what}: the finding does not name the file: {finding}"
            );
            assert_eq!(run.code, 1, "{what}: {}", run.stderr);

            let text = on(root, &["plan", "--only", kind]);
            assert!(text.stdout.contains(&said), "{what}:\n{}", text.stdout);

            let before = fingerprint(root, &[]);
            let run = on(root, &["apply", "--yes", "--only", kind]);
            assert_eq!(run.code, 1, "{what}: {}\n{}", run.stdout, run.stderr);
            assert!(run.stderr.contains(&said), "{what}: {}", run.stderr);
            assert!(!run.stderr.contains("undone"), "{what}: {}", run.stderr);
            assert_same_tree(&before, &fingerprint(root, &[]));
            assert_same_tree(&outside_before, &fingerprint(outside.path(), &[]));
        }
    }
}

// ---------------------------------------------------------------------------
// Before apply: two changes on one inode

/// A hand-made plan with two `SetMode` changes for one inode (two names of
/// one hard-linked set-id file): the first change would alter the inode
/// the second was planned against. The plan is refused before anything is
/// done, naming both paths as the same file: the tree is unchanged and no
/// snapshot is taken. (The planner itself never plans two changes for one
/// inode: see `one_change_per_inode_naming_every_link`.)
///
/// Guard: `stale_targets` in src/apply.rs follows each inode a `SetMode`
/// targets (device and inode as observed), not only each path. Checked:
/// before it, the apply took a snapshot, changed chfn, was refused at
/// /usr/lib/chfn-link by `HostRoot::set_mode` and undid the first change.
#[test]
fn two_changes_on_one_inode_are_refused_before_anything_is_done() {
    let dir = basic_root();
    let root = dir.path();
    let plan = Saved::of(root, Some("suid"));
    std::fs::hard_link(p(root, "/usr/bin/chfn"), p(root, "/usr/lib/chfn-link")).unwrap();
    let mut json = plan.json();
    let changes = json["changes"].as_array_mut().unwrap();
    let first = changes
        .iter()
        .find(|c| c["action"]["path"] == "/usr/bin/chfn")
        .expect("a change for chfn")
        .clone();
    let mut second = first.clone();
    second["id"] = "suid:/usr/lib/chfn-link".into();
    second["target"] = "/usr/lib/chfn-link".into();
    second["summary"] = "strip setuid from /usr/lib/chfn-link (04755 -> 0755)".into();
    second["action"]["path"] = "/usr/lib/chfn-link".into();
    *changes = vec![first, second];
    // Past the digest (a hand edit): the test is about the inode check.
    reseal(&mut json);
    std::fs::write(&plan.path, serde_json::to_vec(&json).unwrap()).unwrap();
    let before = fingerprint(root, &[STATE]);
    let run = on(root, &["apply", plan.str(), "--yes"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("/usr/lib/chfn-link:"))
        .unwrap_or_else(|| panic!("the refusal does not name the second path:\n{}", run.stderr));
    assert!(
        line.contains("the same file as /usr/bin/chfn") && line.contains("hard links; one change per file"),
        "{line}"
    );
    assert!(!run.stderr.contains("undone"), "{}", run.stderr);
    assert_same_tree(&before, &fingerprint(root, &[STATE]));
    assert_eq!(mode_of(root, "/usr/bin/chfn"), 0o4755);
    let snapshots = p(root, STATE).join("snapshots");
    let taken: Vec<_> = std::fs::read_dir(&snapshots)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(taken.is_empty(), "a snapshot was taken: {taken:?}");
}

// ---------------------------------------------------------------------------
// Hard links

/// A set-id inode with several names: one change for the inode, whose
/// summary counts the links and whose diff names every other link the
/// scan found and says how many are outside what was scanned (here one in
/// /var/lib/docker, which is never scanned). Applying strips the bits of
/// every name; rolling back puts them back on every name.
#[test]
fn one_change_per_inode_naming_every_link() {
    let dir = basic_root();
    let root = dir.path();
    for link in [
        "/usr/lib/chfn-old",
        "/home/chfn-copy",
        "/var/lib/docker/chfn-in-a-layer",
    ] {
        std::fs::create_dir_all(p(root, link).parent().unwrap()).unwrap();
        std::fs::hard_link(p(root, "/usr/bin/chfn"), p(root, link)).unwrap();
    }
    // Packaged names, so that no link is set aside as not package-owned.
    let list = p(root, "/var/lib/dpkg/info/passwd.list");
    let listed = std::fs::read_to_string(&list).unwrap();
    std::fs::write(&list, format!("{listed}/usr/lib/chfn-old\n/home/chfn-copy\n")).unwrap();
    let names = [
        "/usr/bin/chfn",
        "/usr/lib/chfn-old",
        "/home/chfn-copy",
        "/var/lib/docker/chfn-in-a-layer",
    ];
    let run = on(root, &["plan", "--only", "suid", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let ino = std::fs::metadata(p(root, "/usr/bin/chfn")).unwrap().ino();
    let on_inode: Vec<&serde_json::Value> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"]["expect"]["ino"] == ino)
        .collect();
    assert_eq!(on_inode.len(), 1, "one change per inode: {on_inode:#?}");
    let change = on_inode[0];
    let summary = change["summary"].as_str().unwrap();
    let diff = change["diff"].as_str().unwrap();
    assert!(summary.contains("4 hard links"), "{summary}");
    let primary = change["target"].as_str().unwrap();
    for name in &names[..3] {
        if *name != primary {
            assert!(diff.contains(name), "the diff does not name {name}:\n{diff}");
        }
    }
    assert!(
        diff.contains("every hard link to this inode") && diff.contains("1 link is outside the scanned tree"),
        "{diff}"
    );
    let text = on(root, &["plan", "--only", "suid"]);
    assert!(
        text.stdout.contains("1 link is outside the scanned tree"),
        "{}",
        text.stdout
    );

    let before = fingerprint(root, &[STATE]);
    let run = on(root, &["apply", "--yes", "--only", "suid"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for name in names {
        assert_eq!(mode_of(root, name), 0o755, "{name}");
    }
    let run = on(root, &["rollback", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for name in names {
        assert_eq!(mode_of(root, name), 0o4755, "{name}");
    }
    assert_same_tree(&before, &fingerprint(root, &[STATE]));
}

// ---------------------------------------------------------------------------
// /tmp and /var/tmp

/// Runs `script` with `sh` in a new mount namespace with tmpfs over /tmp
/// and /var/tmp: the machine's own are never touched. The build folder
/// (the binary, the test's work folders) stays visible even when it lies
/// under /tmp (a clone there, as CI may make): it is bound back over the
/// tmpfs from a descriptor opened before.
fn in_private_tmp(script: &str) -> std::process::Output {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    let child = Command::new("timeout")
        .args(["120", "unshare", "--mount", "sh", "-eu", "-c"])
        .arg(format!(
            "mount --make-rprivate /\nexec 3<'{target}'\n\
             mount -t tmpfs -o mode=1777 dh-races /tmp\nmount -t tmpfs -o mode=1777 dh-races /var/tmp\n\
             mkdir -p '{target}' && mount --no-canonicalize --bind /proc/self/fd/3 '{target}'\nexec 3<&-\n{script}"
        ))
        .env("TMPDIR", "/tmp")
        .env("NO_COLOR", "1")
        .env("DOCKHARD_SYSLOG_SOCKET", "")
        .stdin(Stdio::null())
        .output()
        .expect("unshare runs (the test needs root)");
    assert!(
        child.status.success(),
        "the namespace script failed ({}):\n{}\n{}",
        child.status,
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    child
}

/// A work folder for a run in [`in_private_tmp`]: under the build's temp
/// folder (which stays visible there), holding a copy of the basic root
/// (`root`) and a folder for what the runs print (`out`).
fn private_tmp_work() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root = work.path().join("root");
    let fixture = basic_root();
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(fixture.path())
            .arg(&root)
            .status()
            .unwrap()
            .success()
    );
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    (work, root, out)
}

/// Prefix that runs a command as process 1 of a new PID namespace, so the
/// process id in the names it would use is known in advance.
const PID_1: &str = "unshare --pid --fork --kill-child";

/// Plants, for every process id 1..=PIDS and counter 0..COUNT, a symlink to
/// a victim file (even N) or a fifo (odd N) at each temp name dockhard's
/// atomic writes use (`.NAME.dockhard-PID-N`), in each folder given.
const PIDS: u32 = 2;
const COUNT: u32 = 24;

fn plant_script(dirs: &[(&str, &[&str])], victim: &str) -> String {
    let mut s = String::new();
    for (dir, names) in dirs {
        s.push_str(&format!("mkdir -p '{dir}'\n"));
        for name in *names {
            s.push_str(&format!(
                "i=1; while [ $i -le {PIDS} ]; do n=0; while [ $n -lt {COUNT} ]; do \
                 if [ $((n % 2)) = 0 ]; then ln -s '{victim}' '{dir}/.{name}.dockhard-'$i-$n; \
                 else mkfifo '{dir}/.{name}.dockhard-'$i-$n; fi; \
                 n=$((n+1)); done; i=$((i+1)); done\n"
            ));
        }
    }
    s
}

/// A run on `--root` with a saved plan in /tmp, an apply of it and a
/// rollback, with /tmp and /var/tmp full of symlinks and fifos at every
/// name a process of the run could use: nothing is written through them,
/// and nothing appears in /tmp or /var/tmp but the plan file asked for.
///
/// Guard: the plan file is written through a new temp file opened with
/// `O_CREAT|O_EXCL|O_NOFOLLOW` and renamed over the name (src/cli.rs);
/// apply writes only inside the root and its state dir.
#[test]
fn nothing_is_written_through_names_planted_in_tmp() {
    let (_work, root, out) = private_tmp_work();
    let bin = env!("CARGO_BIN_EXE_dockhard");
    let r = root.display();
    let o = out.display();
    let mut script = String::from("printf 'VICTIM\\n' >/var/tmp/victim\nchmod 0644 /var/tmp/victim\n");
    for dir in ["/tmp", "/var/tmp"] {
        script.push_str(&plant_script(
            &[(
                dir,
                &["plan.json", "daemon.json", "fstab", "manifest.json", "lock"],
            )],
            "/var/tmp/victim",
        ));
        for name in ["plan.json", "plan.json.tmp", "dockhard", "dockhard.lock", "lock"] {
            script.push_str(&format!("ln -sf /var/tmp/victim '{dir}/{name}'\n"));
        }
    }
    script.push_str(&format!(
        "ls -A /tmp /var/tmp | sort >'{o}/before'\n\
         set +e\n\
         {PID_1} '{bin}' --root '{r}' plan --out /tmp/plan.json -q; echo $? >'{o}/plan.rc'\n\
         {PID_1} '{bin}' --root '{r}' apply /tmp/plan.json --yes >'{o}/apply.out' 2>&1; echo $? >'{o}/apply.rc'\n\
         {PID_1} '{bin}' --root '{r}' rollback --yes >'{o}/rollback.out' 2>&1; echo $? >'{o}/rollback.rc'\n\
         cat /var/tmp/victim >'{o}/victim'\n\
         stat -c '%a %u %g %s' /var/tmp/victim >'{o}/victim.stat'\n\
         ls -A /tmp /var/tmp | sort >'{o}/after'\n"
    ));
    in_private_tmp(&script);
    let get = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    assert_eq!(get("plan.rc").trim(), "0");
    assert_eq!(get("apply.rc").trim(), "0", "{}", get("apply.out"));
    assert_eq!(get("rollback.rc").trim(), "0", "{}", get("rollback.out"));
    assert_eq!(get("victim"), "VICTIM\n", "a planted link was written through");
    assert_eq!(get("victim.stat").trim(), "644 0 0 7");
    let before: Vec<String> = get("before").lines().map(str::to_string).collect();
    let new: Vec<String> = get("after")
        .lines()
        .filter(|l| !before.iter().any(|b| b == l))
        .map(str::to_string)
        .collect();
    assert_eq!(new, Vec::<String>::new(), "new names in /tmp or /var/tmp");
}

/// The same on the root's own folders (a tree a user can write to, e.g.
/// an image built in their home): symlinks and fifos at every temp name an
/// atomic write of daemon.json, fstab, subuid, subgid, passwd, group and
/// the iptables files could use (process ids are known in the namespace).
/// Nothing is written through them, and no run hangs on a fifo.
///
/// Guard: `HostRoot::write_atomic` creates its temp file with
/// `O_CREAT|O_EXCL|O_NOFOLLOW` (src/host/mod.rs). Checked: with
/// `O_CREAT|O_TRUNC` instead, the victim outside the root is overwritten.
/// (The names are random, so the planted ones do not make the apply fail
/// either: see `temp_names_planted_in_the_root_do_not_make_an_apply_fail`.)
#[test]
fn nothing_is_written_through_temp_names_planted_in_the_root() {
    let (work, root, out) = private_tmp_work();
    let victim = work.path().join("victim");
    std::fs::write(&victim, "VICTIM\n").unwrap();
    let victim_before = fingerprint(work.path(), &["root", "out"]);
    let r = root.display().to_string();
    let etc = format!("{r}/etc");
    let docker = format!("{r}/etc/docker");
    let dockhard = format!("{r}/etc/dockhard");
    let system = format!("{r}/etc/systemd/system");
    let dropin = format!("{r}/etc/systemd/system/docker.service.d");
    let v = victim.display().to_string();
    let script = plant_script(
        &[
            (
                etc.as_str(),
                &["fstab", "subuid", "subgid", "passwd", "group"][..],
            ),
            (docker.as_str(), &["daemon.json"][..]),
            (dockhard.as_str(), &["iptables.rules", "iptables-apply"][..]),
            (system.as_str(), &["dockhard-iptables.service"][..]),
            (dropin.as_str(), &["50-dockhard-iptables.conf"][..]),
        ],
        &v,
    );
    let bin = env!("CARGO_BIN_EXE_dockhard");
    let o = out.display();
    in_private_tmp(&format!(
        "{script}set +e\n{PID_1} '{bin}' --root '{r}' apply --yes >'{o}/apply.out' 2>&1; echo $? >'{o}/apply.rc'\n"
    ));
    assert_same_tree(&victim_before, &fingerprint(work.path(), &["root", "out"]));
    let rc = std::fs::read_to_string(out.join("apply.rc")).unwrap();
    let text = std::fs::read_to_string(out.join("apply.out")).unwrap();
    assert_eq!(rc.trim(), "0", "{text}");
    let left: Vec<_> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_symlink())
        .filter(|e| std::fs::read_link(e.path()).unwrap() == victim)
        .filter(|e| e.file_name().to_string_lossy().contains(".dockhard-"))
        .collect();
    assert!(!left.is_empty(), "the planted names are still there");
}

/// An atomic write's temp name cannot be guessed: with a symlink to a
/// victim outside the root (even N) or a fifo (odd N) at every name
/// `.NAME.dockhard-1-N` for N from 0 to 999, for daemon.json, fstab,
/// subuid, subgid, passwd and group, an apply and its rollback by process
/// 1 of a PID namespace both succeed; nothing is written through the
/// planted names, they are all left as they were, and the rollback leaves
/// the tree as it was.
///
/// Guard: `HostRoot::write_atomic` (src/host/mod.rs) takes N from 64
/// random bits (`getrandom`), not from a counter, and tries another N
/// when a name is taken. Checked: with the counter, the apply failed on
/// the first planted name and was undone.
#[test]
fn temp_names_planted_in_the_root_do_not_make_an_apply_fail() {
    let (work, root, out) = private_tmp_work();
    let victim = work.path().join("victim");
    std::fs::write(&victim, "VICTIM\n").unwrap();
    let files = [
        "/etc/docker/daemon.json",
        "/etc/fstab",
        "/etc/subuid",
        "/etc/subgid",
        "/etc/passwd",
        "/etc/group",
    ];
    for file in files {
        let path = p(&root, file);
        let (folder, name) = (
            path.parent().unwrap(),
            path.file_name().unwrap().to_str().unwrap(),
        );
        for n in 0..1000 {
            let planted = folder.join(format!(".{name}.dockhard-1-{n}"));
            if n % 2 == 0 {
                symlink(&victim, &planted).unwrap();
            } else {
                nix::unistd::mkfifo(&planted, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
            }
        }
    }
    let before = fingerprint(&root, &[STATE]);
    let victim_before = fingerprint(work.path(), &["root", "out"]);
    let bin = env!("CARGO_BIN_EXE_dockhard");
    let r = root.display();
    let o = out.display();
    in_private_tmp(&format!(
        "set +e\n\
         {PID_1} '{bin}' --root '{r}' apply --yes >'{o}/apply.out' 2>&1; echo $? >'{o}/apply.rc'\n\
         {PID_1} '{bin}' --root '{r}' rollback --yes >'{o}/rollback.out' 2>&1; echo $? >'{o}/rollback.rc'\n"
    ));
    let get = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    assert_eq!(get("apply.rc").trim(), "0", "{}", get("apply.out"));
    assert!(get("apply.out").contains("Applied"), "{}", get("apply.out"));
    assert_eq!(get("rollback.rc").trim(), "0", "{}", get("rollback.out"));
    assert_same_tree(&victim_before, &fingerprint(work.path(), &["root", "out"]));
    // Every planted name is still there, untouched, and nothing else is
    // left: the tree is as it was before the apply.
    assert_same_tree(&before, &fingerprint(&root, &[STATE]));
}

/// /etc/docker swapped, between plan and apply, for a link to a folder
/// inside the root holding the same daemon.json: the precondition
/// (content, mode, owner) still holds when read through the link, but the
/// apply must not write into the link's target.
///
/// Guards: the apply's precondition check (`stale_targets`) refuses a
/// written file behind a folder link before the snapshot is taken, and
/// `HostRoot::open_parent` opens the folder of a written file with
/// RESOLVE_NO_SYMLINKS. Checked: with RESOLVE_IN_ROOT alone in
/// `open_parent` and no folder check in `stale_targets`, the apply writes
/// into the link's target; with the folder check taken out of
/// `stale_targets` only, the write is refused after a snapshot was taken
/// and the run undone (`assert_refused` fails: a snapshot was taken).
#[test]
fn a_folder_swapped_for_a_link_between_plan_and_apply_is_not_written_through() {
    let dir = basic_root();
    let root = dir.path();
    let plan = Saved::of(root, Some("daemon"));
    assert!(plan.changes("/etc/docker/daemon.json"));
    std::fs::rename(p(root, "/etc/docker"), p(root, "/etc/docker-real")).unwrap();
    std::os::unix::fs::symlink("docker-real", p(root, "/etc/docker")).unwrap();
    assert_refused(root, &plan, "/etc/docker");
}
