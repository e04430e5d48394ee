//! # Audit record
//!
//! Every apply and rollback leaves a record in the system log: the
//! operation, its snapshot id, how it ended, the root, the rule ids and the
//! targets changed (the snapshot itself keeps the full detail). The record
//! is a syslog datagram in the format glibc's `syslog(3)` sends, facility
//! `authpriv`, tag `dockhard`, to the local syslog socket `/dev/log`, where
//! journald, rsyslog and syslog-ng all listen. A host with nothing listening
//! there gets no record and no error (`-v` says so): the change itself has
//! been made and recorded in the snapshot.
//!
//! `DOCKHARD_SYSLOG_SOCKET` names another socket; set to the empty string it
//! turns the record off (the test suite does this for every run that is not
//! about the record, so that tests never write to the machine's log).

use crate::snapshot::{Manifest, Operation, SnapshotStatus};
use std::io::Write;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};

/// Where the system logger listens.
pub const DEFAULT_SOCKET: &str = "/dev/log";

/// Names another socket; empty: no record.
pub const SOCKET_ENV: &str = "DOCKHARD_SYSLOG_SOCKET";

/// `LOG_AUTHPRIV`: security-relevant changes, kept from ordinary users.
const FACILITY_AUTHPRIV: u8 = 10;
const SEVERITY_ERR: u8 = 3;
const SEVERITY_NOTICE: u8 = 5;

/// Message bytes per record, well under the 8 KiB rsyslog accepts by
/// default; a longer list of targets continues in further records.
const MAX_MESSAGE: usize = 1800;

/// What became of the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sent as this many records.
    Sent { socket: PathBuf, records: usize },
    /// No system logger listens at the socket: no record, not an error.
    NoLogger { socket: PathBuf, why: String },
    /// Turned off with an empty `DOCKHARD_SYSLOG_SOCKET`.
    Disabled,
    /// A logger is there but refused the record.
    Failed { socket: PathBuf, error: String },
}

impl Delivery {
    /// The line to print on standard error, if any: a failure always, the
    /// rest only when verbose.
    pub fn notice(&self, verbose: bool) -> Option<String> {
        match self {
            Delivery::Failed { socket, error } => Some(format!(
                "dockhard: warning: the audit record was not written to the system log ({}): {error}; the snapshot keeps the record",
                socket.display()
            )),
            _ if !verbose => None,
            Delivery::Sent { socket, records } => Some(format!(
                "dockhard: audit record sent to the system log ({}, {records} record(s))",
                socket.display()
            )),
            Delivery::NoLogger { socket, why } => Some(format!(
                "dockhard: no system log at {} ({why}); no audit record written, the snapshot keeps the record",
                socket.display()
            )),
            Delivery::Disabled => Some(format!(
                "dockhard: {SOCKET_ENV} is empty; no audit record written"
            )),
        }
    }

    /// Prints [`Delivery::notice`] on standard error.
    pub fn report(&self, verbose: bool) {
        if let Some(line) = self.notice(verbose) {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

/// The socket to send to, `None` when records are turned off. Unit tests of
/// the library never send.
pub fn socket() -> Option<PathBuf> {
    if cfg!(test) {
        return None;
    }
    match std::env::var_os(SOCKET_ENV) {
        Some(value) if value.is_empty() => None,
        Some(value) => Some(PathBuf::from(value)),
        None => Some(PathBuf::from(DEFAULT_SOCKET)),
    }
}

/// Records what the snapshot's operation did: `outcome` is `applied`, or
/// how it failed (`undone`, `undo-failed`).
pub fn record(manifest: &Manifest, outcome: &str) -> Delivery {
    match socket() {
        None => Delivery::Disabled,
        Some(socket) => send(&socket, &messages(manifest, outcome)),
    }
}

/// A value on one line with no spaces, commas or quotes: every other byte
/// as `\xNN`, so a target's name cannot forge a field or a record.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_graphic() && !matches!(byte, b',' | b'"' | b'\\' | b'=') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// The record's message texts: the first names everything but the targets,
/// and every one names the snapshot, so each line can be found by its id.
pub fn messages(manifest: &Manifest, outcome: &str) -> Vec<String> {
    let operation = match &manifest.operation {
        Operation::Apply => "apply".to_string(),
        Operation::Rollback { of } => format!("rollback of={}", escape(of)),
    };
    let outcome = escape(outcome);
    let mut rules: Vec<&str> = Vec::new();
    for change in &manifest.changes {
        if !rules.contains(&change.rule.as_str()) {
            rules.push(&change.rule);
        }
    }
    let rules: Vec<String> = rules.into_iter().map(escape).collect();
    let targets: Vec<String> = manifest.targets.iter().map(|t| escape(&t.path)).collect();
    let head = format!(
        "{operation} snapshot={} outcome={outcome} root={} changes={} targets={} rules={}",
        escape(&manifest.id),
        escape(&manifest.root),
        manifest.changes.len(),
        targets.len(),
        rules.join(",")
    );
    // Targets in as many records as it takes, each within MAX_MESSAGE.
    let mut chunks: Vec<Vec<&str>> = vec![Vec::new()];
    let mut size = 0;
    for target in &targets {
        let last = chunks.last_mut().expect("one chunk");
        if !last.is_empty() && size + target.len() + 1 > MAX_MESSAGE.saturating_sub(120) {
            chunks.push(Vec::new());
            size = 0;
        }
        chunks.last_mut().expect("one chunk").push(target);
        size += target.len() + 1;
    }
    let parts = chunks.len();
    let mut out = Vec::new();
    for (n, chunk) in chunks.into_iter().enumerate() {
        let list = chunk.join(",");
        if n == 0 {
            let part = if parts > 1 {
                format!(" part=1/{parts}")
            } else {
                String::new()
            };
            out.push(format!("{head}{part} changed={list}"));
        } else {
            out.push(format!(
                "{} snapshot={} part={}/{parts} changed={list}",
                operation.split(' ').next().unwrap_or("apply"),
                escape(&manifest.id),
                n + 1
            ));
        }
    }
    let severity = if outcome == SnapshotStatus::Applied.as_str() {
        SEVERITY_NOTICE
    } else {
        SEVERITY_ERR
    };
    out.into_iter().map(|m| frame(severity, &m)).collect()
}

/// `<PRI>Mmm dd hh:mm:ss dockhard[PID]: MSG`, as glibc's syslog(3) sends to
/// the local socket (RFC 3164 without the host name).
fn frame(severity: u8, message: &str) -> String {
    let pri = u32::from(FACILITY_AUTHPRIV) * 8 + u32::from(severity);
    format!(
        "<{pri}>{} dockhard[{}]: {message}",
        timestamp(),
        std::process::id()
    )
}

/// Local time as `Mmm dd hh:mm:ss` (day space-padded).
fn timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // SAFETY: time(NULL) and localtime_r with a valid out-pointer.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "Jan  1 00:00:00".to_string();
        }
        tm
    };
    let month = MONTHS[usize::try_from(tm.tm_mon).unwrap_or(0).min(11)];
    format!(
        "{month} {:>2} {:02}:{:02}:{:02}",
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

/// Sends each message as one datagram (or, where the logger listens on a
/// stream socket, as NUL-terminated messages on one connection).
pub fn send(socket: &Path, messages: &[String]) -> Delivery {
    let no_logger = |why: String| Delivery::NoLogger {
        socket: socket.to_path_buf(),
        why,
    };
    let failed = |error: std::io::Error| Delivery::Failed {
        socket: socket.to_path_buf(),
        error: error.to_string(),
    };
    let gone = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
        ) || e.raw_os_error() == Some(libc::ENOTDIR)
    };
    let datagram = match UnixDatagram::unbound() {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    match datagram.connect(socket) {
        Ok(()) => {
            for message in messages {
                if let Err(e) = datagram.send(message.as_bytes()) {
                    return failed(e);
                }
            }
            Delivery::Sent {
                socket: socket.to_path_buf(),
                records: messages.len(),
            }
        }
        Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
            let mut stream = match UnixStream::connect(socket) {
                Ok(s) => s,
                Err(e) => return failed(e),
            };
            for message in messages {
                let mut bytes = message.as_bytes().to_vec();
                bytes.push(0);
                if let Err(e) = stream.write_all(&bytes) {
                    return failed(e);
                }
            }
            Delivery::Sent {
                socket: socket.to_path_buf(),
                records: messages.len(),
            }
        }
        Err(e) if gone(&e) => no_logger(e.to_string()),
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Kind;
    use crate::snapshot::{ChangeRecord, Recorded, Target, Watch};

    fn manifest(targets: &[&str]) -> Manifest {
        Manifest {
            schema: crate::snapshot::MANIFEST_SCHEMA,
            id: "20260101T000000Z-abcd".to_string(),
            created: "2026-01-01T00:00:00Z".to_string(),
            tool_version: "0".to_string(),
            root: "/srv/image root".to_string(),
            operation: Operation::Apply,
            status: SnapshotStatus::Applied,
            rolled_back_by: None,
            changes: targets
                .iter()
                .enumerate()
                .map(|(n, t)| ChangeRecord {
                    id: format!("c{n}"),
                    rule: if n % 2 == 0 { "suid-strip" } else { "mount-nosuid" }.to_string(),
                    kind: Kind::Suid,
                    target: t.to_string(),
                    summary: String::new(),
                    result: None,
                })
                .collect(),
            targets: targets
                .iter()
                .map(|t| Target {
                    path: t.to_string(),
                    kind: Kind::Suid,
                    watch: Watch::Content,
                    prior: Recorded::Absent,
                    after: None,
                })
                .collect(),
            pid: None,
            digest: None,
        }
    }

    #[test]
    fn record_names_snapshot_rules_and_targets() {
        let m = manifest(&["/usr/bin/chfn", "/etc/fstab", "/tmp/a b,c\nd"]);
        let msgs = messages(&m, "applied");
        assert_eq!(msgs.len(), 1);
        let msg = &msgs[0];
        assert!(msg.starts_with("<85>"), "{msg}");
        assert!(
            msg.contains(&format!(" dockhard[{}]: apply ", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("snapshot=20260101T000000Z-abcd"), "{msg}");
        assert!(msg.contains("outcome=applied"), "{msg}");
        assert!(msg.contains("root=/srv/image\\x20root"), "{msg}");
        assert!(msg.contains("rules=suid-strip,mount-nosuid "), "{msg}");
        assert!(
            msg.ends_with("changed=/usr/bin/chfn,/etc/fstab,/tmp/a\\x20b\\x2cc\\x0ad"),
            "{msg}"
        );
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn long_target_lists_continue_in_records_naming_the_snapshot() {
        let paths: Vec<String> = (0..400)
            .map(|n| format!("/usr/lib/some/long/path/binary-{n}"))
            .collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let msgs = messages(&manifest(&refs), "applied");
        assert!(msgs.len() > 1);
        let mut seen = 0;
        for (n, msg) in msgs.iter().enumerate() {
            assert!(msg.len() <= MAX_MESSAGE + 60, "{}", msg.len());
            assert!(msg.contains("snapshot=20260101T000000Z-abcd"), "{msg}");
            assert!(msg.contains(&format!("part={}/{}", n + 1, msgs.len())), "{msg}");
            seen += msg.split("changed=").nth(1).unwrap().split(',').count();
        }
        assert_eq!(seen, 400);
    }

    #[test]
    fn rollback_and_failure_are_told_apart() {
        let mut m = manifest(&["/etc/fstab"]);
        m.operation = Operation::Rollback {
            of: "20251231T000000Z-0000".to_string(),
        };
        let msg = &messages(&m, "applied")[0];
        assert!(
            msg.contains("rollback of=20251231T000000Z-0000 snapshot="),
            "{msg}"
        );
        let msg = &messages(&m, "undone")[0];
        assert!(msg.starts_with("<83>") && msg.contains("outcome=undone"), "{msg}");
    }

    #[test]
    fn sends_datagrams_and_tolerates_a_missing_logger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let listener = UnixDatagram::bind(&path).unwrap();
        let sent = send(&path, &["one".to_string(), "two".to_string()]);
        assert_eq!(
            sent,
            Delivery::Sent {
                socket: path.clone(),
                records: 2
            }
        );
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
        drop(listener);
        // A stale socket file and no socket at all: no logger, no error.
        assert!(matches!(
            send(&path, &["x".to_string()]),
            Delivery::NoLogger { .. }
        ));
        std::fs::remove_file(&path).unwrap();
        let none = send(&path, &["x".to_string()]);
        assert!(matches!(none, Delivery::NoLogger { .. }));
        assert!(none.notice(false).is_none());
        assert!(none.notice(true).unwrap().contains("no system log"));
    }

    #[test]
    fn stream_loggers_get_nul_terminated_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let sent = send(&path, &["one".to_string(), "two".to_string()]);
        assert!(matches!(sent, Delivery::Sent { records: 2, .. }), "{sent:?}");
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut conn, &mut got).unwrap();
        assert_eq!(got, b"one\0two\0");
    }
}
