//! Shared helpers for the CLI tests: running the binary, fixture roots,
//! and whole-tree fingerprints (path, type, mode, owner, content hash).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs dockhard with no terminal on stdin, and no audit record sent to
/// this machine's system log (tests/audit.rs checks the record).
pub fn dockhard(args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_dockhard"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("DOCKHARD_SYSLOG_SOCKET", "")
        .stdin(Stdio::null())
        .output()
        .expect("dockhard runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs dockhard on `root` with the global `--root` flag first.
pub fn on(root: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--root", root.to_str().unwrap()];
    all.extend_from_slice(args);
    dockhard(&all)
}

pub fn write(root: &Path, path: &str, content: &str, mode: u32) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mode_of(root: &Path, path: &str) -> u32 {
    std::fs::symlink_metadata(root.join(path.trim_start_matches('/')))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

pub fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path.trim_start_matches('/'))).unwrap()
}

/// A small Debian-like root: set-id binaries (one allowed, some not), an
/// fstab with UUID= lines, tabs, a comment block and a tmpfs /tmp line, a
/// daemon.json with unknown keys and an insecure registry, accounts and a
/// subuid/subgid range for alice, and a dpkg database naming the binaries.
pub fn basic_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    for d in [
        "usr/bin",
        "usr/sbin",
        "usr/lib",
        "var/lib/dpkg/info",
        "etc/docker",
        "home",
        "tmp",
        "proc",
        "sys",
        "dev",
    ] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    symlink("usr/bin", r.join("bin")).unwrap();
    symlink("usr/sbin", r.join("sbin")).unwrap();
    write(r, "/usr/bin/chfn", "chfn binary\n", 0o4755);
    write(r, "/usr/bin/passwd", "passwd binary\n", 0o4755);
    write(r, "/usr/bin/sudo", "sudo binary\n", 0o4755);
    write(r, "/usr/sbin/pppd", "pppd binary\n", 0o4754);
    write(r, "/usr/bin/expiry", "expiry binary\n", 0o2755);
    write(r, "/usr/bin/ls", "ls binary\n", 0o755);
    write(
        r,
        "/var/lib/dpkg/info/passwd.list",
        "/.\n/usr\n/usr/bin\n/usr/bin/chfn\n/usr/bin/passwd\n/usr/bin/expiry\n",
        0o644,
    );
    write(r, "/var/lib/dpkg/info/sudo.list", "/usr/bin/sudo\n", 0o644);
    write(r, "/var/lib/dpkg/info/ppp.list", "/usr/sbin/pppd\n", 0o644);
    write(r, "/var/lib/dpkg/info/coreutils.list", "/bin/ls\n", 0o644);
    write(
        r,
        "/etc/fstab",
        "# /etc/fstab: static file system information.\n#\n# <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>\nUUID=3f0e8b52-6c1d-4e7a-9a55-2b9d1c0e7a11\t/\text4\terrors=remount-ro\t0\t1\nUUID=9a1b2c3d-0000-4e7a-9a55-2b9d1c0e7a12\t/home\text4\tdefaults\t0\t2\ntmpfs\t\t/tmp\ttmpfs\tdefaults,size=2G\t0\t0\n",
        0o644,
    );
    write(
        r,
        "/etc/docker/daemon.json",
        "{\n  \"log-driver\": \"local\",\n  \"x-site-note\": {\"owner\": \"ops\"},\n  \"insecure-registries\": [\"registry.internal:5000\"],\n  \"icc\": true\n}\n",
        0o644,
    );
    write(
        r,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1001:1001:Alice:/home/alice:/bin/bash\n",
        0o644,
    );
    write(
        r,
        "/etc/group",
        "root:x:0:\nshadow:x:42:\nalice:x:1001:\ndocker:x:998:alice\n",
        0o644,
    );
    write(r, "/etc/subuid", "alice:100000:65536\n", 0o644);
    write(r, "/etc/subgid", "alice:100000:65536\n", 0o644);
    dir
}

/// Fingerprint of every entry under `root` (not following links), except
/// the paths in `skip` (relative, e.g. `var/lib/dockhard`).
pub fn fingerprint(root: &Path, skip: &[&str]) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let walker = walkdir::WalkDir::new(root).follow_links(false).into_iter();
    for entry in walker.filter_entry(|e| {
        let rel = e.path().strip_prefix(root).unwrap();
        !skip.iter().any(|s| rel == Path::new(s))
    }) {
        let entry = entry.unwrap();
        let meta = entry.path().symlink_metadata().unwrap();
        let ft = meta.file_type();
        let what = if ft.is_symlink() {
            format!("link {}", std::fs::read_link(entry.path()).unwrap().display())
        } else if ft.is_file() {
            format!(
                "file {}",
                dockhard::plan::sha256_hex(&std::fs::read(entry.path()).unwrap())
            )
        } else if ft.is_dir() {
            "dir".to_string()
        } else {
            "other".to_string()
        };
        let line = format!(
            "{what} mode {:o} owner {}:{}",
            meta.mode() & 0o7777,
            meta.uid(),
            meta.gid()
        );
        out.insert(entry.path().strip_prefix(root).unwrap().to_path_buf(), line);
    }
    out
}

/// Compares two fingerprints and names every difference.
pub fn assert_same_tree(before: &BTreeMap<PathBuf, String>, after: &BTreeMap<PathBuf, String>) {
    let mut diffs = Vec::new();
    for (path, line) in before {
        match after.get(path) {
            None => diffs.push(format!("missing: {}", path.display())),
            Some(other) if other != line => diffs.push(format!("{}: {line} -> {other}", path.display())),
            _ => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        diffs.push(format!("new: {}", path.display()));
    }
    assert!(diffs.is_empty(), "trees differ:\n{}", diffs.join("\n"));
}

/// Compares `actual` with the reviewed golden file `snapshots/NAME`; with
/// DOCKHARD_UPDATE_SNAPSHOTS=1 writes it instead (review the diff!).
pub fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots").join(name);
    if std::env::var_os("DOCKHARD_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run with DOCKHARD_UPDATE_SNAPSHOTS=1 and review it",
            path.display()
        )
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(&expected, actual)
            .unified_diff()
            .header("golden", "actual")
            .to_string();
        panic!("{} differs from the golden rendering:\n{diff}", path.display());
    }
}

/// Gives a plan edited by a test the digest dockhard would write, so that
/// the test reaches the checks `apply` makes behind the digest (the digest
/// only detects hand edits: anyone can recompute it).
pub fn reseal(plan: &mut serde_json::Value) {
    if let Some(fields) = plan.as_object_mut() {
        fields.remove("digest");
    }
    let parsed: dockhard::plan::Plan = serde_json::from_value(plan.clone()).expect("a plan");
    plan["digest"] = parsed.digest().into();
}

/// The snapshot id an apply printed (`Snapshot: ID`); the apply must have
/// succeeded.
pub fn applied_id(run: &Run) -> String {
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    run.stdout
        .lines()
        .find_map(|l| l.split("Snapshot: ").nth(1))
        .expect("a snapshot id")
        .trim()
        .to_string()
}

/// The snapshot ids in the state dir `state`, sorted.
pub fn snapshot_ids(state: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(state.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}
