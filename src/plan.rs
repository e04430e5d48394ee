//! # Plans
//!
//! The vocabulary shared by the planner, the renderer and the executor: a
//! [`Plan`] is an ordered list of [`Change`]s plus [`Finding`]s. Each change
//! carries one [`Action`] from a closed set, with the precondition the planner
//! saw, so the executor can refuse a stale plan and apply a saved one exactly.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Version of the plan JSON layout.
pub const SCHEMA: u32 = 1;

/// The sort of host state a rule deals with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Suid,
    Mount,
    Daemon,
    Iptables,
    Subid,
    /// Guideline items that are only reported, never changed.
    Advice,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Suid,
        Kind::Mount,
        Kind::Daemon,
        Kind::Iptables,
        Kind::Subid,
        Kind::Advice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Suid => "suid",
            Kind::Mount => "mount",
            Kind::Daemon => "daemon",
            Kind::Iptables => "iptables",
            Kind::Subid => "subid",
            Kind::Advice => "advice",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a change takes effect on the running host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    Now,
    AfterRemount,
    AfterDockerdRestart,
    AfterReboot,
}

impl Effect {
    pub fn describe(self) -> &'static str {
        match self {
            Effect::Now => "now",
            Effect::AfterRemount => "after remount",
            Effect::AfterDockerdRestart => "after dockerd restart",
            Effect::AfterReboot => "after reboot",
        }
    }
}

/// What the planner saw of a file it will write, remove or create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum FileState {
    Absent,
    File {
        sha256: String,
        size: u64,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

impl FileState {
    pub fn of_file(content: &[u8], mode: u32, uid: u32, gid: u32) -> FileState {
        FileState::File {
            sha256: sha256_hex(content),
            size: content.len() as u64,
            mode: mode & 0o7777,
            uid,
            gid,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            FileState::Absent => "absent".to_string(),
            FileState::File {
                sha256,
                size,
                mode,
                uid,
                gid,
            } => format!(
                "file {size} bytes sha256 {} mode {mode:04o} owner {uid}:{gid}",
                &sha256[..12.min(sha256.len())]
            ),
            FileState::Dir { mode, uid, gid } => {
                format!("directory mode {mode:04o} owner {uid}:{gid}")
            }
        }
    }
}

/// The identity and permissions of a file whose mode will be changed: the
/// executor changes it only if it is still this very inode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InodeState {
    pub dev: u64,
    pub ino: u64,
    /// Permission bits including setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Content hash, so a binary replaced in place is not changed either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// How many names (hard links) the inode had: a name added since the
    /// plan was made (say a link named like an allow-listed program) makes
    /// the plan stale, since the change would strip that name's bits too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<u64>,
}

impl InodeState {
    /// Whether this state, as seen now, is the one `want` pinned. What
    /// `want` does not pin (no content hash; no link count, in plans and
    /// snapshots made before it was pinned) is not compared.
    pub fn matches(&self, want: &InodeState) -> bool {
        let mut now = self.clone();
        if want.sha256.is_none() {
            now.sha256 = None;
        }
        if want.links.is_none() {
            now.links = None;
        }
        now == *want
    }

    /// One line for a message: mode, owner, inode, and the link count and
    /// content hash where pinned.
    pub fn describe(&self) -> String {
        let mut line = format!(
            "mode {:04o} owner {}:{} inode {}",
            self.mode, self.uid, self.gid, self.ino
        );
        match self.links {
            Some(1) => line.push_str(", 1 name"),
            Some(n) => line.push_str(&format!(", {n} names (hard links)")),
            None => {}
        }
        if let Some(sha) = &self.sha256 {
            line.push_str(&format!(", sha256 {}", sha.get(..12).unwrap_or(sha)));
        }
        line
    }
}

/// One atomic step the executor knows. Paths are as seen inside the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Action {
    /// chmod the file, on the inspected inode only, never through a symlink.
    SetMode {
        path: String,
        expect: InodeState,
        mode: u32,
    },
    /// Replace (or create) a file atomically with this content, mode and owner.
    WriteFile {
        path: String,
        expect: FileState,
        content: Bytes,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// Remove a file (the inverse of creating one).
    RemoveFile { path: String, expect: FileState },
    /// Create a directory that does not exist yet.
    CreateDir {
        path: String,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// Remove an empty directory (the inverse of creating one).
    RemoveDir { path: String },
    /// Live: make dockhard's tagged rules in one iptables back end exactly
    /// `rules` (each `TABLE CHAIN ARGS…`, inserted at the top of its chain in
    /// order), if the tagged rules present are still `expect`.
    FirewallRules {
        /// `iptables:BACKEND`, where BACKEND is `iptables` or `iptables-legacy`.
        path: String,
        backend: String,
        tag: String,
        expect: Vec<String>,
        rules: Vec<String>,
    },
    /// Live: set the per-mount flags of the visible mount at `path` to
    /// `options` (only per-mount flags: ro, nosuid, nodev, noexec, atime
    /// flags), if it is still mount `mount_id` with `expect`.
    Remount {
        path: String,
        mount_id: u64,
        expect: Vec<String>,
        options: Vec<String>,
    },
    /// Live: make dockerd read daemon.json: SIGHUP when `restart` is empty,
    /// else run the restart command; then wait until the daemon answers and
    /// reports `verify` (daemon.json keys and values).
    DockerdReload {
        /// `dockerd`.
        path: String,
        restart: Vec<String>,
        #[serde(default)]
        verify: Vec<(String, serde_json::Value)>,
    },
}

impl Action {
    pub fn path(&self) -> &str {
        match self {
            Action::SetMode { path, .. }
            | Action::WriteFile { path, .. }
            | Action::RemoveFile { path, .. }
            | Action::CreateDir { path, .. }
            | Action::RemoveDir { path }
            | Action::FirewallRules { path, .. }
            | Action::Remount { path, .. }
            | Action::DockerdReload { path, .. } => path,
        }
    }

    /// Whether this action changes the running system (kernel, daemon)
    /// rather than files.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            Action::FirewallRules { .. } | Action::Remount { .. } | Action::DockerdReload { .. }
        )
    }
}

/// One change of the plan: what, why, when it takes effect, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Stable within the plan: `kind:target[:detail]`.
    pub id: String,
    pub rule: String,
    pub kind: Kind,
    /// The path (or chain) changed, as seen inside the root.
    pub target: String,
    pub summary: String,
    /// Unified diff, or before/after lines.
    pub diff: String,
    /// Whether this is a live step (kernel, running daemon) rather than a file.
    pub live: bool,
    pub disruptive: bool,
    pub takes_effect: Effect,
    /// What may stop working after this change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_break: Option<String>,
    pub action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Compliant,
    Advisory,
    NotApplicable,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Compliant => "compliant",
            Status::Advisory => "advisory",
            Status::NotApplicable => "not-applicable",
            Status::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What inspection concluded for a rule, apart from the changes it plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub status: Status,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub message: String,
    /// The kind could not be checked at all (an unreadable or unparseable
    /// file): its changes are missing from the plan, so it cannot be applied.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blocking: bool,
}

impl Finding {
    pub fn new(rule: &str, status: Status, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            rule: rule.to_string(),
            status,
            severity,
            target: None,
            message: message.into(),
            blocking: false,
        }
    }

    pub fn advisory(rule: &str, severity: Severity, message: impl Into<String>) -> Self {
        Finding::new(rule, Status::Advisory, severity, message)
    }

    pub fn error(rule: &str, message: impl Into<String>) -> Self {
        Finding::new(rule, Status::Error, Severity::High, message)
    }

    pub fn not_applicable(rule: &str, message: impl Into<String>) -> Self {
        Finding::new(rule, Status::NotApplicable, Severity::Info, message)
    }

    pub fn compliant(rule: &str, message: impl Into<String>) -> Self {
        Finding::new(rule, Status::Compliant, Severity::Info, message)
    }

    #[must_use]
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }
}

/// A complete plan: ordered changes, findings and what it was made from.
///
/// Saved (`plan --out FILE`, `plan --format json`) with a `digest` beside
/// these fields: see [`Plan::digest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub schema: u32,
    pub tool_version: String,
    /// The root as given on the command line (`/` for the live host).
    pub root: String,
    pub offline: bool,
    pub created: String,
    pub profile_sha256: String,
    /// The kinds that were planned (`--only`).
    pub kinds: Vec<Kind>,
    pub changes: Vec<Change>,
    pub findings: Vec<Finding>,
    /// Live steps that this run leaves out, in words.
    #[serde(default)]
    pub live_steps_left_out: Vec<String>,
}

impl Plan {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.status == Status::Error)
    }

    /// The digest a saved plan carries: `sha256:` and the SHA-256, in hex,
    /// of the plan's canonical JSON (compact, object keys sorted, every
    /// field of the plan except the digest itself).
    ///
    /// It detects a plan edited by hand (a mode, a target, a diff the
    /// operator approved, a change removed or moved) or damaged after
    /// dockhard wrote it. It is not a signature: whoever can edit the file
    /// can also compute a new digest, so it proves nothing about who wrote
    /// the plan; the checks `apply` makes of every change still apply.
    pub fn digest(&self) -> String {
        let value = serde_json::to_value(self).expect("a plan always serialises");
        let mut canonical = String::new();
        write_canonical(&value, &mut canonical);
        format!("sha256:{}", sha256_hex(canonical.as_bytes()))
    }

    /// The plan as saved: pretty JSON with its [`digest`](Plan::digest)
    /// last, and a final newline.
    pub fn to_saved_json(&self) -> String {
        let saved = SavedPlan {
            plan: self,
            digest: self.digest(),
        };
        let mut text = serde_json::to_string_pretty(&saved).expect("a plan always serialises");
        text.push('\n');
        text
    }

    /// Reads a plan saved by [`to_saved_json`](Plan::to_saved_json);
    /// `shown` names the file in errors. A file that is not a plan is an
    /// error with its line and column; a plan whose digest is missing or
    /// does not match its content was changed after dockhard wrote it and
    /// is refused.
    pub fn parse_saved(bytes: &[u8], shown: &str) -> Result<Plan> {
        let json_error = |e: serde_json::Error| Error::at(shown, e.line(), Some(e.column()), e);
        let plan: Plan = serde_json::from_slice(bytes).map_err(json_error)?;
        if plan.schema != SCHEMA {
            return Err(Error::msg(format!(
                "{shown}: plan schema {} is not supported (this dockhard reads schema {SCHEMA})",
                plan.schema
            )));
        }
        // The plan as dockhard wrote it: one serialisation, no JSON value
        // trees (a plan of thousands of changes is tens of MB).
        if plan.to_saved_json().as_bytes() == bytes {
            return Ok(plan);
        }
        #[derive(Deserialize)]
        struct DigestField {
            digest: Option<serde_json::Value>,
        }
        let found: DigestField = serde_json::from_slice(bytes).map_err(json_error)?;
        let why = match found.digest {
            None => "it has no digest".to_string(),
            Some(serde_json::Value::String(digest)) if digest == plan.digest() => {
                let saved = SavedPlan { plan: &plan, digest };
                if holds_only(bytes, &saved) {
                    return Ok(plan);
                }
                "it holds fields that are not part of a plan".to_string()
            }
            Some(serde_json::Value::String(_)) => "its digest does not match its content".to_string(),
            Some(other) => format!("its digest is not a string but `{other}`"),
        };
        Err(Error::msg(format!(
            "{shown}: the plan was changed after dockhard wrote it ({why}); refusing the plan. \
             Make a new one with `plan --out FILE` (with the same --root and --state-dir) and review it"
        )))
    }

    /// Why this plan may not be applied, one line per finding: a kind that
    /// could not be checked, or an error finding on a target the plan does
    /// not change (the host cannot be called compliant).
    pub fn blockers(&self) -> Vec<String> {
        self.findings
            .iter()
            .filter(|f| {
                f.blocking
                    || (f.status == Status::Error
                        && !self
                            .changes
                            .iter()
                            .any(|c| f.target.as_deref() == Some(c.target.as_str())))
            })
            .map(|f| match &f.target {
                Some(t) if !f.message.contains(t.as_str()) => format!("{}: {t}: {}", f.rule, f.message),
                _ => format!("{}: {}", f.rule, f.message),
            })
            .collect()
    }
}

/// A plan as saved: its fields, then its digest.
#[derive(Serialize)]
struct SavedPlan<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    digest: String,
}

/// Whether the JSON in `bytes` is exactly `read`, the value dockhard read
/// from it, written again: the digest of a saved plan or manifest covers
/// what dockhard reads, so a field it does not read (added by hand) would
/// otherwise pass unseen.
pub fn holds_only(bytes: &[u8], read: &impl Serialize) -> bool {
    match (
        serde_json::from_slice::<serde_json::Value>(bytes),
        serde_json::to_value(read),
    ) {
        (Ok(file), Ok(read)) => file == read,
        _ => false,
    }
}

/// File content inside a plan or snapshot: a JSON string when it is UTF-8,
/// otherwise `{"hex": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum BytesRepr {
    Text(String),
    Hex { hex: String },
}

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => BytesRepr::Text(text.to_string()).serialize(s),
            Err(_) => BytesRepr::Hex {
                hex: hex_encode(&self.0),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        match BytesRepr::deserialize(d)? {
            BytesRepr::Text(text) => Ok(Bytes(text.into_bytes())),
            BytesRepr::Hex { hex } => hex_decode(&hex)
                .map(Bytes)
                .ok_or_else(|| serde::de::Error::custom("invalid hex content")),
        }
    }
}

/// Compact JSON with the keys of every object sorted, whatever order the
/// value holds them in.
fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).expect("a string serialises"));
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).expect("a scalar serialises")),
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex_encode(&Sha256::digest(data))
}

pub fn hex_encode(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for byte in data {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 15) as usize] as char);
    }
    out
}

pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_text_and_binary() {
        for data in [b"plain\r\n\xef\xbb\xbf".to_vec(), vec![0xff, 0xfe, 0, 1]] {
            let json = serde_json::to_string(&Bytes(data.clone())).unwrap();
            let back: Bytes = serde_json::from_str(&json).unwrap();
            assert_eq!(back.0, data, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&Bytes(vec![0xff])).unwrap(),
            r#"{"hex":"ff"}"#
        );
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("nope"), None);
    }
}
