//! A real Debian tree: `debootstrap --variant=minbase bookworm`, built once
//! per target dir (so once per CI run), copied for each test. Plan, apply,
//! idempotence and rollback to an identical tree (path, type, mode, owner,
//! content hash of every entry). Needs root and debootstrap: without them
//! this test fails, it does not skip.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const STATE: &str = "var/lib/dockhard";

/// The cached pristine tree, built on first use.
fn debian_tree() -> PathBuf {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debootstrap-bookworm-minbase");
    if cache.join("etc/debian_version").exists() {
        return cache;
    }
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test builds a Debian tree with debootstrap and needs root (CI runs as root)"
    );
    let partial = cache.with_extension("partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial).unwrap();
    }
    // In a private mount namespace: debootstrap mounts /proc and /sys in
    // the new tree while it works, and those mounts must not show up on
    // the machine running the tests.
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "debootstrap",
            "--variant=minbase",
            "bookworm",
        ])
        .arg(&partial)
        .arg("http://deb.debian.org/debian")
        .output()
        .expect("debootstrap is installed (apt-get install debootstrap; .ci/run does it)");
    assert!(
        out.status.success(),
        "debootstrap failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&partial, &cache).unwrap();
    cache
}

/// A private copy of the tree (cp -a keeps modes, owners, links, devices).
fn copy_of(tree: &Path) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("dockhard-debian-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", tree.display()))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "cp -a failed");
    dir
}

fn add_line(root: &Path, path: &str, line: &str) {
    let p = root.join(path.trim_start_matches('/'));
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str(line);
    std::fs::write(&p, text).unwrap();
}

const FSTAB: &str = "# /etc/fstab: static file system information.
#
# Use 'blkid' to print the universally unique identifier for a
# device; this may be used with UUID= as a more robust way to name devices
# that works even if disks are added and removed. See fstab(5).
#
# <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>
UUID=0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f\t/\text4\terrors=remount-ro\t0\t1
UUID=8D2C-4A90\t/boot/efi\tvfat\tumask=0077\t0\t1
UUID=1d2e3f4a-5b6c-4d7e-9f8a-0b1c2d3e4f5a\t/home\text4\tdefaults\t0\t2
tmpfs\t/tmp\ttmpfs\tdefaults,size=1G,mode=1777\t0\t0
";

const DAEMON_JSON: &str = r#"{
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "3"},
  "x-provisioned-by": "image-pipeline",
  "insecure-registries": ["registry.build.internal:5000", "10.0.0.5:5000"],
  "data-root": "/var/lib/docker"
}
"#;

fn prepare(root: &Path) {
    write(root, "/etc/fstab", FSTAB, 0o644);
    write(root, "/etc/docker/daemon.json", DAEMON_JSON, 0o644);
    add_line(
        root,
        "/etc/passwd",
        "alice:x:1001:1001:Alice:/home/alice:/bin/bash\n",
    );
    add_line(root, "/etc/group", "alice:x:1001:\n");
    write(root, "/etc/subuid", "alice:100000:65536\n", 0o644);
    write(root, "/etc/subgid", "alice:100000:65536\n", 0o644);
}

#[test]
fn debian_bookworm_plan_apply_idempotent_rollback() {
    let tree = debian_tree();
    let dir = copy_of(&tree);
    let r = dir.path();
    prepare(r);
    let before = fingerprint(r, &[]);
    assert_eq!(
        mode_of(r, "/usr/bin/chfn"),
        0o4755,
        "debootstrap's chfn is setuid"
    );

    let run = on(r, &["plan", "--format", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    for kind in ["suid", "mount", "daemon", "iptables", "subid"] {
        assert!(
            changes.iter().any(|c| c["kind"] == kind),
            "no {kind} change in {}",
            run.stdout
        );
    }
    assert!(
        changes
            .iter()
            .any(|c| c["kind"] == "suid" && c["target"] == "/usr/bin/chfn")
    );
    assert!(!changes.iter().any(|c| c["target"] == "/usr/bin/passwd"));

    let detailed = on(r, &["plan", "--detailed-exitcode"]);
    assert_eq!(detailed.code, 2, "{}\n{}", detailed.stdout, detailed.stderr);
    assert_same_tree(&before, &fingerprint(r, &[]));

    let applied = on(r, &["apply", "--yes"]);
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    assert_eq!(mode_of(r, "/usr/bin/chfn"), 0o755);
    assert_eq!(mode_of(r, "/usr/bin/passwd"), 0o4755);
    assert_eq!(mode_of(r, "/usr/bin/su"), 0o4755);
    let daemon: serde_json::Value = serde_json::from_str(&read(r, "/etc/docker/daemon.json")).unwrap();
    assert_eq!(daemon["icc"], false);
    assert_eq!(daemon["no-new-privileges"], true);
    assert_eq!(daemon["userns-remap"], "default");
    assert_eq!(daemon["x-provisioned-by"], "image-pipeline");
    assert_eq!(daemon["log-opts"]["max-file"], "3");
    assert!(
        daemon
            .get("insecure-registries")
            .is_none_or(|v| v.as_array().unwrap().is_empty())
    );
    let fstab = read(r, "/etc/fstab");
    let (head, _) = FSTAB.split_once("UUID=0c1d").unwrap();
    assert!(fstab.starts_with(head), "comment block kept:\n{fstab}");
    assert!(fstab.contains("UUID=0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f\t/\text4\terrors=remount-ro\t0\t1\n"));
    assert!(
        fstab.contains("tmpfs\t/tmp\ttmpfs\tdefaults,size=1G,mode=1777,nosuid,nodev\t0\t0\n"),
        "{fstab}"
    );
    let subuid = read(r, "/etc/subuid");
    let line = subuid
        .lines()
        .find(|l| l.starts_with("dockremap:"))
        .expect("dockremap range");
    let start: u64 = line.split(':').nth(1).unwrap().parse().unwrap();
    assert!(
        start >= 165_536,
        "dockremap range {line} overlaps alice's 100000-165535"
    );
    assert!(
        read(r, "/etc/passwd")
            .lines()
            .any(|l| l.starts_with("dockremap:") && l.ends_with("/usr/sbin/nologin"))
    );

    let again = on(r, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        again.code, 0,
        "second plan not empty:\n{}\n{}",
        again.stdout, again.stderr
    );

    let rolled = on(r, &["rollback", "--yes"]);
    assert_eq!(rolled.code, 0, "{}\n{}", rolled.stdout, rolled.stderr);
    assert_same_tree(&before, &fingerprint(r, &[STATE]));
}
