//! The audit record in the system log, end to end, without touching this
//! machine's log: each run happens in a private mount namespace (`unshare
//! --mount`) where a socket this test listens on is bind-mounted over
//! `/dev/log` (or, where the machine has no `/dev/log`, over a file on a
//! private tmpfs mounted on `/dev` in that namespace only). The binary sends
//! to the real path, `/dev/log`, as it does on a host.
//!
//! These tests need root (CI runs as root); they fail, never skip, when the
//! namespace cannot be set up.

mod common;

use common::*;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Sets up /dev/log in the new mount namespace, then runs dockhard.
const IN_NAMESPACE: &str = r#"set -eu
case "$LOGGER" in
  listener)
    if [ -S /dev/log ]; then
      mount --bind "$SOCK" /dev/log
    else
      mount -t tmpfs -o mode=0755,size=1m dockhard-test /dev
      mknod -m 0666 /dev/null c 1 3
      : > /dev/log
      mount --bind "$SOCK" /dev/log
    fi ;;
  none)
    mount -t tmpfs -o mode=0755,size=1m dockhard-test /dev
    mknod -m 0666 /dev/null c 1 3 ;;
esac
exec "$BIN" "$@"
"#;

/// Runs dockhard in a private mount namespace; `socket`: the listener to
/// put at /dev/log, `None`: no /dev/log at all.
fn in_namespace(socket: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        IN_NAMESPACE,
        "sh",
    ])
    .args(args)
    .env("BIN", env!("CARGO_BIN_EXE_dockhard"))
    .env("NO_COLOR", "1")
    .env_remove("DOCKHARD_SYSLOG_SOCKET")
    .stdin(Stdio::null());
    match socket {
        Some(path) => cmd.env("LOGGER", "listener").env("SOCK", path),
        None => cmd.env("LOGGER", "none"),
    };
    let out = cmd
        .output()
        .expect("unshare(1) runs (util-linux; the test must run as root)");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

struct Logger {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    socket: UnixDatagram,
}

impl Logger {
    fn new() -> Logger {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Logger {
            _dir: dir,
            path,
            socket,
        }
    }

    /// Every record that has arrived (waiting a little for the first).
    fn records(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = self.socket.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            self.socket
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
        }
        self.socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        out
    }
}

fn ran(run: &Run) {
    assert_eq!(
        run.code, 0,
        "the run in a private mount namespace failed (root and unshare(1) are required):\n{}\n{}",
        run.stdout, run.stderr
    );
}

#[test]
fn apply_and_rollback_leave_records_naming_their_snapshots() {
    let logger = Logger::new();
    let dir = basic_root();
    let root = dir.path().to_str().unwrap();
    let apply = in_namespace(
        Some(&logger.path),
        &["--root", root, "-v", "apply", "--yes", "--format", "json"],
    );
    ran(&apply);
    let out: serde_json::Value = serde_json::from_str(&apply.stdout).unwrap();
    let id = out["snapshot"].as_str().unwrap().to_string();
    assert!(apply.stderr.contains("audit record sent"), "{}", apply.stderr);

    let records = logger.records();
    assert_eq!(records.len(), 1, "{records:#?}");
    let record = &records[0];
    // authpriv.notice, glibc's local format, tag dockhard.
    assert!(record.starts_with("<85>"), "{record}");
    assert!(record.contains(" dockhard["), "{record}");
    assert!(
        record.contains(&format!("]: apply snapshot={id} outcome=applied root={root} ")),
        "{record}"
    );
    let field = |name: &str| -> Vec<String> {
        let value = record.split(&format!(" {name}=")).nth(1).unwrap_or("");
        let value = value.split(' ').next().unwrap_or("");
        value.split(',').map(str::to_string).collect()
    };
    for rule in ["suid-strip", "mount-nosuid", "daemon-icc", "subid-remap-range"] {
        assert!(field("rules").contains(&rule.to_string()), "{rule}: {record}");
    }
    for target in [
        "/usr/bin/chfn",
        "/usr/sbin/pppd",
        "/etc/fstab",
        "/etc/docker/daemon.json",
    ] {
        assert!(
            field("changed").contains(&target.to_string()),
            "{target}: {record}"
        );
    }
    // The snapshot holds the same targets.
    let shown = on(dir.path(), &["snapshots", "--format", "json", "show", &id]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let manifest: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    let targets: Vec<String> = manifest["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(field("changed"), targets);

    let rollback = in_namespace(Some(&logger.path), &["--root", root, "rollback", &id, "--yes"]);
    ran(&rollback);
    let records = logger.records();
    assert_eq!(records.len(), 1, "{records:#?}");
    let again = rollback
        .stdout
        .split("This rollback is snapshot ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap();
    assert!(
        records[0].contains(&format!("]: rollback of={id} snapshot={again} outcome=applied ")),
        "{}",
        records[0]
    );
    assert!(records[0].contains("/usr/bin/chfn"), "{}", records[0]);
}

#[test]
fn an_apply_that_fails_and_is_undone_is_recorded_as_an_error() {
    let logger = Logger::new();
    let dir = basic_root();
    let r = dir.path();
    let plan = on(r, &["plan", "--format", "json", "--only", "suid"]);
    let mut plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    plan["changes"].as_array_mut().unwrap().push(serde_json::json!({
        "id": "test:/etc/no-such-folder/impossible", "rule": "mount-nosuid", "kind": "mount",
        "target": "/etc/no-such-folder/impossible", "summary": "cannot be written", "diff": "",
        "live": false, "disruptive": false, "takes_effect": "now",
        "action": {"op": "write-file", "path": "/etc/no-such-folder/impossible", "expect": {"state": "absent"},
                   "content": "x", "mode": 420, "uid": 0, "gid": 0}
    }));
    reseal(&mut plan);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&plan).unwrap()).unwrap();
    let run = in_namespace(
        Some(&logger.path),
        &[
            "--root",
            r.to_str().unwrap(),
            "apply",
            file.path().to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("were undone"), "{}", run.stderr);
    let records = logger.records();
    assert_eq!(records.len(), 1, "{records:#?}");
    // authpriv.err
    assert!(records[0].starts_with("<83>"), "{}", records[0]);
    assert!(records[0].contains(" outcome=undone "), "{}", records[0]);
    assert!(
        records[0].contains("/etc/no-such-folder/impossible"),
        "{}",
        records[0]
    );
}

#[test]
fn no_system_log_is_no_error_and_verbose_says_so() {
    let dir = basic_root();
    let root = dir.path().to_str().unwrap();
    let quiet = in_namespace(None, &["--root", root, "apply", "--yes"]);
    ran(&quiet);
    assert!(!quiet.stderr.contains("system log"), "{}", quiet.stderr);
    let rolled = in_namespace(None, &["--root", root, "-v", "rollback", "--yes"]);
    ran(&rolled);
    assert!(
        rolled.stderr.contains("no system log at /dev/log") && rolled.stderr.contains("no audit record"),
        "{}",
        rolled.stderr
    );
}
