//! Running dockhard as an unprivileged user (uid and gid 65534, no
//! supplementary groups) with util-linux's `setpriv`, from a test that runs
//! as root (CI does). These tests never skip: without root or setpriv they
//! fail, saying why.

#![allow(dead_code)]

use super::Run;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const NOBODY: u32 = 65534;

/// Fails the test unless it runs as root: it needs to switch users and to
/// give files away.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test runs dockhard as uid {NOBODY} with setpriv and chowns its trees: run it as root (CI does)"
    );
}

/// Runs dockhard as uid/gid 65534 with no supplementary groups, no
/// terminal, no colour and no system log record.
pub fn dockhard_as_nobody(args: &[&str]) -> Run {
    require_root();
    let uid = format!("--reuid={NOBODY}");
    let gid = format!("--regid={NOBODY}");
    let out = Command::new("setpriv")
        .args([uid.as_str(), gid.as_str(), "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_dockhard"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("DOCKHARD_SYSLOG_SOCKET", "")
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .expect("setpriv (util-linux) runs: these tests need it to drop to uid 65534");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.starts_with("setpriv:"),
        "setpriv could not run dockhard as uid {NOBODY} (is the binary's folder traversable by others?): {}",
        run.stderr
    );
    run
}

/// Runs dockhard as uid 65534 on `root` (the global `--root` first).
pub fn on_as_nobody(root: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--root", root.to_str().unwrap()];
    all.extend_from_slice(args);
    dockhard_as_nobody(&all)
}

/// Gives every entry under `path` (links themselves, not their targets) to
/// `uid`:`uid`, keeping the set-id bits a chown clears.
pub fn give_tree(path: &Path, uid: u32) {
    for entry in walkdir::WalkDir::new(path).follow_links(false) {
        let entry = entry.unwrap();
        let meta = entry.path().symlink_metadata().unwrap();
        std::os::unix::fs::lchown(entry.path(), Some(uid), Some(uid)).unwrap();
        if !meta.file_type().is_symlink() {
            std::fs::set_permissions(
                entry.path(),
                std::fs::Permissions::from_mode(meta.mode() & 0o7777),
            )
            .unwrap();
        }
    }
}

/// A temp dir that others may traverse (root's, 0755), for trees and
/// state dirs that uid 65534 owns inside it.
pub fn traversable_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// `basic_root()`'s tree moved into a traversable temp dir and given to
/// uid 65534: (the temp dir, the tree).
pub fn nobodys_basic_root() -> (tempfile::TempDir, PathBuf) {
    let outer = traversable_tempdir();
    let tree = outer.path().join("tree");
    let basic = super::basic_root();
    std::fs::rename(basic.path(), &tree).unwrap();
    // The empty temp dir `basic` pointed to is gone; keep it from failing
    // to remove it.
    std::fs::create_dir(basic.path()).unwrap();
    give_tree(&tree, NOBODY);
    (outer, tree)
}
