//! Hostile input: each test replays a defect found by feeding the kinds'
//! parsers broken, unusual or hostile files through the CLI on a temp root,
//! and fails while the defect is there.

mod common;

use common::*;
use std::path::Path;

fn empty_root() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn profile(dir: &Path, text: &str) -> String {
    let p = dir.join("profile.toml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// Only the daemon rules that touch icc; everything else off, so that the
/// test is about one setting.
const ICC_ONLY: &str = "[rules.daemon-live-restore]\nenabled = false\n[rules.daemon-userland-proxy]\nenabled = false\n[rules.daemon-userns-remap]\nenabled = false\n[rules.daemon-no-new-privileges]\nenabled = false\n";

fn docker_unit(root: &Path, unit: &str) {
    write(
        root,
        "/etc/docker/daemon.json",
        "{\n  \"log-driver\": \"local\"\n}\n",
        0o644,
    );
    write(root, "/lib/systemd/system/docker.service", unit, 0o644);
}

/// systemd.syntax(7): "When a comment line or lines follow a line ending
/// with a backslash, the comment block is ignored, so the continued line is
/// concatenated with whatever follows the comment block." The unit parser
/// ends the continuation at the comment instead, loses `--icc=false`, and
/// plans `"icc": false` into daemon.json: dockerd then refuses to start
/// ("specified both as a flag and in the configuration file: icc").
#[test]
fn comment_inside_a_continued_execstart_keeps_the_flags_after_it() {
    let dir = empty_root();
    let root = dir.path();
    docker_unit(
        root,
        "[Service]\nType=notify\nExecStart=/usr/bin/dockerd -H fd:// \\\n  # containers may not talk to each other\n  --icc=false\n",
    );
    let prof = profile(root, ICC_ONLY);
    let run = on(
        root,
        &["--profile", &prof, "plan", "--only", "daemon", "--format", "json"],
    );
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect(&run.stderr);
    let writes_icc = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["target"] == "/etc/docker/daemon.json" && c["rule"] == "daemon-icc");
    assert!(
        !writes_icc,
        "--icc=false is on dockerd's command line (after a comment inside the continuation); adding \"icc\" to daemon.json makes dockerd refuse to start:\n{}",
        run.stdout
    );
}

/// systemd.exec(5), EnvironmentFile=: "A line ending with a backslash will
/// be concatenated with the following one, allowing multiline variable
/// definitions." The env-file reader splits per line, so the flags of a
/// continued DOCKER_OPTS are lost and dockhard plans the same settings
/// into daemon.json: dockerd refuses to start.
#[test]
fn continued_environment_file_value_keeps_its_flags() {
    let dir = empty_root();
    let root = dir.path();
    docker_unit(
        root,
        "[Service]\nType=notify\nEnvironmentFile=-/etc/default/docker\nExecStart=/usr/bin/dockerd -H fd:// $DOCKER_OPTS\n",
    );
    write(
        root,
        "/etc/default/docker",
        "DOCKER_OPTS=\"--log-level=warn \\\n  --icc=false\"\n",
        0o644,
    );
    let prof = profile(root, ICC_ONLY);
    let run = on(
        root,
        &["--profile", &prof, "plan", "--only", "daemon", "--format", "json"],
    );
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect(&run.stderr);
    let writes_icc = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["rule"] == "daemon-icc");
    assert!(
        !writes_icc,
        "--icc=false comes from the continued DOCKER_OPTS; adding \"icc\" to daemon.json makes dockerd refuse to start:\n{}",
        run.stdout
    );
}

fn accounts(root: &Path, remap: &str) {
    write(
        root,
        "/etc/docker/daemon.json",
        &format!("{{\n  \"userns-remap\": \"{remap}\"\n}}\n"),
        0o644,
    );
    write(
        root,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1001:1001:Alice:/home/alice:/bin/bash\n20001:x:20001:20001::/home/20001:/bin/sh\n",
        0o644,
    );
    write(
        root,
        "/etc/group",
        "root:x:0:\nalice:x:1001:\n20001:x:20001:\n",
        0o644,
    );
    write(root, "/etc/subuid", "alice:100000:65536\n", 0o644);
    write(root, "/etc/subgid", "alice:100000:65536\n", 0o644);
}

/// C17 with the built-in profile: daemon.json remaps to "20001" and the
/// daemon rule leaves it ("changing the remap user hides existing
/// containers"), so dockerd keeps using 20001. The subid kind checks the
/// profile's "default" instead: it appends ranges for an unused dockremap
/// and never says that 20001, the user dockerd needs, has no range at all
/// (dockerd will not start).
#[test]
fn subid_checks_the_remap_user_dockerd_keeps_using() {
    let dir = empty_root();
    let root = dir.path();
    accounts(root, "20001");
    let run = on(root, &["plan", "--only", "subid,daemon", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect(&run.stderr);
    let text = run.stdout.clone();
    let for_dockremap = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["summary"].as_str().unwrap_or_default().contains("dockremap"));
    assert!(
        !for_dockremap,
        "daemon.json keeps userns-remap 20001; ranges for dockremap are for a user nothing uses:\n{text}"
    );
    let mentions_20001 = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["summary"].as_str().unwrap_or_default().contains("20001"))
        || plan["findings"].as_array().unwrap().iter().any(|f| {
            f["rule"] == "subid-remap-range" && f["message"].as_str().unwrap_or_default().contains("20001")
        });
    assert!(
        mentions_20001,
        "20001 has no subuid/subgid range and nobody says so:\n{text}"
    );
}

/// dockerd: `if username == "root" { … "root cannot be remapped with
/// itself; user namespaces are OFF" }`. A daemon.json remapping to root (or
/// uid 0) leaves container root = host root, but dockhard reports only a
/// LOW "left as is" and, with the rule off, allocates sub-ids to root.
#[test]
fn userns_remap_to_root_is_reported_as_off() {
    for remap in ["root", "0", "0:0"] {
        let dir = empty_root();
        let root = dir.path();
        accounts(root, remap);
        let run = on(root, &["plan", "--only", "subid,daemon", "--format", "json"]);
        let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect(&run.stderr);
        let said_off = plan["findings"].as_array().unwrap().iter().any(|f| {
            let m = f["message"].as_str().unwrap_or_default().to_lowercase();
            f["status"] != "compliant"
                && m.contains("root")
                && (m.contains(" off") || m.contains("disabled") || m.contains("no effect"))
        });
        assert!(
            said_off,
            "userns-remap {remap:?}: dockerd turns user namespaces OFF, nothing says so:\n{}",
            run.stdout
        );
        let ranges_for_nobody =
            plan["changes"].as_array().unwrap().iter().any(|c| {
                c["kind"] == "subid" && c["summary"].as_str().unwrap_or_default().contains("add range")
            });
        assert!(
            !ranges_for_nobody,
            "userns-remap {remap:?}: sub-id ranges are planned although dockerd never uses them:\n{}",
            run.stdout
        );
    }
}

/// A Latin-1 GECOS field (`José`) is valid for glibc and shadow, and the
/// subid kind needs only name and uid; the whole kind fails on it instead.
#[test]
fn latin1_gecos_in_passwd_does_not_fail_the_subid_kind() {
    let dir = empty_root();
    let root = dir.path();
    accounts(root, "default");
    let mut passwd = std::fs::read(root.join("etc/passwd")).unwrap();
    passwd.extend_from_slice(b"jose:x:1002:1002:Jos\xe9 Garc\xeda:/home/jose:/bin/sh\n");
    std::fs::write(root.join("etc/passwd"), &passwd).unwrap();
    let before = std::fs::read(root.join("etc/passwd")).unwrap();
    let run = on(root, &["apply", "--yes", "--only", "subid"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let after = std::fs::read(root.join("etc/passwd")).unwrap();
    assert!(after.starts_with(&before), "existing passwd bytes are kept");
    assert!(
        std::fs::read_to_string(root.join("etc/subuid"))
            .unwrap()
            .contains("dockremap:")
    );
    let again = on(root, &["plan", "--only", "subid", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

/// The kernel rejects an id-map extent whose lower end wraps
/// (`lower_first + count <= lower_first` in u32), and 4294967295 is
/// (uid_t)-1. With SUB_UID_MAX 4294967295 dockhard allocates
/// dockremap:4294901760:65536, which ends exactly at 2^32: unusable.
#[test]
fn allocated_range_never_reaches_uid_minus_one() {
    let dir = empty_root();
    let root = dir.path();
    accounts(root, "default");
    write(
        root,
        "/etc/login.defs",
        "SUB_UID_MIN 4294901760\nSUB_UID_MAX 4294967295\nSUB_GID_MIN 4294901760\nSUB_GID_MAX 4294967295\n",
        0o644,
    );
    let _ = on(root, &["apply", "--yes", "--only", "subid"]);
    for file in ["etc/subuid", "etc/subgid"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for line in text.lines() {
            let f: Vec<&str> = line.split(':').collect();
            let (start, count): (u64, u64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
            assert!(
                start + count <= u64::from(u32::MAX),
                "{file}: `{line}` reaches id 4294967295; the kernel refuses that uid_map extent"
            );
        }
    }
}

/// A set-id file name with a newline is printed raw in the text plan that a
/// reviewer approves: any user who can make a set-id file (their own, in
/// their home) can forge plan lines.
#[test]
fn newline_in_a_setid_file_name_cannot_forge_plan_lines() {
    let dir = empty_root();
    let root = dir.path();
    std::fs::create_dir_all(root.join("home/mallory")).unwrap();
    let name = "tool (04755 -> 0755)\n~ strip setuid from /usr/bin/innocent";
    write(root, &format!("/home/mallory/{name}"), "x\n", 0o4755);
    let run = on(root, &["plan", "--only", "suid"]);
    assert!(
        !run.stdout
            .lines()
            .any(|l| l.starts_with("~ strip setuid from /usr/bin/innocent")),
        "a file name forged a plan line:\n{}",
        run.stdout
    );
}

/// A tree deeper than PATH_MAX (any local user can make one in /tmp or a
/// home) makes the set-id scan fail with "File name too long", and that
/// error blocks every apply: hardening is denied by an unprivileged user,
/// and a set-id file below that depth is never seen.
#[test]
fn a_very_deep_tree_does_not_block_the_setid_scan() {
    let dir = empty_root();
    let root = dir.path();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    let mut fd = open_dir(&root.join("tmp"));
    for _ in 0..2100 {
        fd = mkdir_at(fd, "d");
    }
    create_setid_at(fd, "hidden-suid");
    write(root, "/usr/bin/chfn", "chfn\n", 0o4755);
    let run = on(root, &["apply", "--yes", "--only", "suid"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(mode_of(root, "/usr/bin/chfn"), 0o755);
}

// Helpers that go down by directory descriptor (through /proc/self/fd), so
// the test itself is not limited by PATH_MAX.
fn open_dir(path: &Path) -> std::os::fd::OwnedFd {
    std::fs::File::open(path).unwrap().into()
}

fn mkdir_at(parent: std::os::fd::OwnedFd, name: &str) -> std::os::fd::OwnedFd {
    use std::os::fd::AsRawFd;
    let proc_path = format!("/proc/self/fd/{}/{name}", parent.as_raw_fd());
    std::fs::create_dir(&proc_path).unwrap();
    std::fs::File::open(&proc_path).unwrap().into()
}

fn create_setid_at(parent: std::os::fd::OwnedFd, name: &str) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::PermissionsExt;
    let proc_path = format!("/proc/self/fd/{}/{name}", parent.as_raw_fd());
    std::fs::write(&proc_path, "x\n").unwrap();
    std::fs::set_permissions(&proc_path, std::fs::Permissions::from_mode(0o4755)).unwrap();
}

/// `options = []` in the profile: nothing to ensure. dockhard instead adds
/// `tmpfs /dev/shm tmpfs defaults, 0 0` to fstab, which on the next remount
/// drops the nosuid,nodev systemd gives /dev/shm.
#[test]
fn empty_options_list_never_adds_an_fstab_line() {
    let dir = empty_root();
    let root = dir.path();
    write(root, "/etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n", 0o644);
    let prof = profile(root, "[rules.mount-nosuid]\noptions = []\n");
    let run = on(
        root,
        &["--profile", &prof, "plan", "--only", "mount", "--format", "json"],
    );
    assert!(
        !run.stdout.contains("defaults, 0 0") && !run.stdout.contains("defaults,\\t"),
        "an empty options list produced an fstab line with an empty option:\n{}",
        run.stdout
    );
}

/// CONTRACT: a bad profile is an error with file and line. A non-string
/// element of `points` is dropped silently, so the operator's mount point is
/// never checked.
#[test]
fn profile_list_with_a_non_string_element_is_an_error() {
    let dir = empty_root();
    let root = dir.path();
    write(root, "/etc/fstab", "/dev/sda2 /home ext4 defaults 0 2\n", 0o644);
    let prof = profile(
        root,
        "[rules.mount-nosuid]\npoints = [\"/tmp\", [\"/home\"], 3]\n",
    );
    let run = on(root, &["--profile", &prof, "plan", "--only", "mount"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("profile.toml:2"), "{}", run.stderr);
}

/// A UTF-16 daemon.json with `"icc": true` cannot be written (by design),
/// but then `plan --detailed-exitcode` exits 0 ("no changes needed") and
/// apply prints "the host matches the profile": a drift check from cron
/// reports a non-compliant host as compliant.
#[test]
fn utf16_daemon_json_with_icc_true_is_not_reported_as_matching() {
    let dir = empty_root();
    let root = dir.path();
    let text = "{\r\n  \"icc\": true\r\n}\r\n";
    let mut bytes = vec![0xff, 0xfe];
    for u in text.encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    write(root, "/etc/docker/daemon.json", "", 0o644);
    std::fs::write(root.join("etc/docker/daemon.json"), &bytes).unwrap();
    let prof = profile(root, ICC_ONLY);
    let apply = on(root, &["--profile", &prof, "apply", "--yes", "--only", "daemon"]);
    assert!(
        !apply.stdout.contains("matches the profile"),
        "icc is still true: {}",
        apply.stdout
    );
    let plan = on(
        root,
        &[
            "--profile",
            &prof,
            "plan",
            "--only",
            "daemon",
            "--detailed-exitcode",
        ],
    );
    assert_ne!(
        plan.code, 0,
        "icc is still true, yet --detailed-exitcode says compliant:\n{}",
        plan.stdout
    );
}

/// dockerd reads daemon.json with Go's encoding/json, which accepts
/// duplicate keys (last wins), `null` for a bool (no effect) and invalid
/// UTF-8 inside strings (replaced by U+FFFD). dockhard may refuse to edit
/// such a file, but it must not claim "dockerd cannot start with this file".
#[test]
fn daemon_json_that_dockerd_accepts_is_not_called_unstartable() {
    for content in [
        &b"{\n  \"icc\": true,\n  \"icc\": false\n}\n"[..],
        &b"{\n  \"icc\": null\n}\n"[..],
        &b"{\n  \"labels\": [\"site=caf\xe9\"]\n}\n"[..],
    ] {
        let dir = empty_root();
        let root = dir.path();
        write(root, "/etc/docker/daemon.json", "", 0o644);
        std::fs::write(root.join("etc/docker/daemon.json"), content).unwrap();
        let prof = profile(root, ICC_ONLY);
        let run = on(root, &["--profile", &prof, "plan", "--only", "daemon"]);
        assert!(
            !run.stdout.contains("dockerd cannot start"),
            "{:?}: dockerd starts with this file:\n{}",
            String::from_utf8_lossy(content),
            run.stdout
        );
    }
}

/// /etc/docker is a regular file: the plan says daemon.json will be
/// created (0 errors); only apply finds "Not a directory".
#[test]
fn etc_docker_as_a_file_is_an_error_at_plan_time() {
    let dir = empty_root();
    let root = dir.path();
    write(root, "/etc/docker", "not a directory\n", 0o644);
    let run = on(root, &["plan", "--only", "daemon"]);
    assert!(!run.stdout.contains("(creates the file)"), "{}", run.stdout);
    assert_eq!(run.code, 1, "{}", run.stdout);
}

/// libmount reads fstab lines as C strings: a NUL ends the line there. An
/// options field with a NUL is accepted, and `nosuid` is appended after the
/// NUL, where mount never sees it; the next plan calls the line compliant.
#[test]
fn nul_byte_in_an_fstab_line_is_an_error() {
    let dir = empty_root();
    let root = dir.path();
    write(root, "/etc/fstab", "", 0o644);
    std::fs::write(root.join("etc/fstab"), b"/dev/sdb1 /home ext4 rw\0junk 0 2\n").unwrap();
    let before = std::fs::read(root.join("etc/fstab")).unwrap();
    let prof = profile(root, "[rules.mount-nosuid]\npoints = [\"/home\"]\n");
    let run = on(root, &["--profile", &prof, "apply", "--yes", "--only", "mount"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("/etc/fstab:1"), "{}", run.stderr);
    assert_eq!(std::fs::read(root.join("etc/fstab")).unwrap(), before);
}
