//! # Snapshots
//!
//! Before the executor changes anything it records, for every target, the
//! full prior state (bytes, mode, owner; the inode for a mode change) in a
//! snapshot folder under the state dir, and fsyncs it. Rollback rebuilds
//! the prior state from that record. Layout:
//!
//! ```text
//! STATE/lock                      flock(2) held by a running apply/rollback
//! STATE/snapshots/ID/manifest.json
//! STATE/snapshots/ID/prior-N      prior bytes of target N
//! STATE/snapshots/ID/after-N      bytes of target N after the apply
//! STATE/snapshots/ID/journal      `begin N` / `done N` per change (see journal)
//! ```
//!
//! The manifest carries a sha256 digest of the rest of its content: a
//! manifest edited by hand is refused, never used to restore a host.

use crate::error::{Error, Result};
use crate::host::{FileType, HostRoot};
use crate::plan::{FileState, InodeState, Kind};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod journal;
pub mod retention;
mod settle;
mod trust;
pub use journal::{Journal, Progress};

pub const MANIFEST_SCHEMA: u32 = 1;

/// The state of one target as recorded in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Recorded {
    Absent,
    File {
        sha256: String,
        size: u64,
        mode: u32,
        uid: u32,
        gid: u32,
        /// Name of the file in the snapshot folder that holds the bytes.
        blob: String,
    },
    Dir {
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// The identity and mode of a file whose mode (only) is changed.
    Inode(InodeState),
    /// dockhard's tagged rules in one iptables back end.
    Firewall {
        backend: String,
        tag: String,
        rules: Vec<String>,
    },
    /// The visible mount at a mount point and its per-mount flags.
    Mount {
        id: u64,
        options: Vec<String>,
    },
    /// dockerd, reloaded by signal (empty `restart`) or by a command.
    Daemon {
        restart: Vec<String>,
    },
}

impl Recorded {
    /// Whether two records describe the same state (blob names aside).
    pub fn same_state(&self, other: &Recorded) -> bool {
        match (self, other) {
            (
                Recorded::File {
                    sha256: a,
                    mode: ma,
                    uid: ua,
                    gid: ga,
                    ..
                },
                Recorded::File {
                    sha256: b,
                    mode: mb,
                    uid: ub,
                    gid: gb,
                    ..
                },
            ) => a == b && ma == mb && ua == ub && ga == gb,
            (Recorded::Firewall { rules: a, .. }, Recorded::Firewall { rules: b, .. }) => {
                crate::host::live::firewall::same_rules(a, b)
            }
            (Recorded::Mount { id: a, options: x }, Recorded::Mount { id: b, options: y }) => {
                a == b && crate::host::live::remount::same_flags(x, y)
            }
            (Recorded::Daemon { .. }, Recorded::Daemon { .. }) => true,
            (a, b) => a == b,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Recorded::Absent => "absent".to_string(),
            Recorded::File {
                size, mode, uid, gid, ..
            } => format!("file of {size} bytes, mode {mode:04o}, owner {uid}:{gid}"),
            Recorded::Dir { mode, uid, gid } => format!("directory, mode {mode:04o}, owner {uid}:{gid}"),
            Recorded::Firewall { backend, rules, .. } => {
                format!("{} tagged rule(s) in {backend}", rules.len())
            }
            Recorded::Mount { id, options } => format!("mount {id} with {}", options.join(",")),
            Recorded::Daemon { .. } => "dockerd".to_string(),
            Recorded::Inode(i) => format!(
                "mode {:04o}, owner {}:{}, inode {}, content sha256 {}",
                i.mode,
                i.uid,
                i.gid,
                i.ino,
                i.sha256
                    .as_deref()
                    .map(|h| &h[..12.min(h.len())])
                    .unwrap_or("not recorded")
            ),
        }
    }

    pub fn file_state(&self) -> Option<FileState> {
        match self {
            Recorded::Absent => Some(FileState::Absent),
            Recorded::File {
                sha256,
                size,
                mode,
                uid,
                gid,
                ..
            } => Some(FileState::File {
                sha256: sha256.clone(),
                size: *size,
                mode: *mode,
                uid: *uid,
                gid: *gid,
            }),
            Recorded::Dir { mode, uid, gid } => Some(FileState::Dir {
                mode: *mode,
                uid: *uid,
                gid: *gid,
            }),
            Recorded::Inode(_)
            | Recorded::Firewall { .. }
            | Recorded::Mount { .. }
            | Recorded::Daemon { .. } => None,
        }
    }
}

/// How a target is watched: by content (files, folders) or by inode (modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Watch {
    Content,
    Inode,
    Firewall,
    Mount,
    Daemon,
}

/// The current state of a path, in the shape the snapshot keeps it, with
/// the bytes of a regular file.
pub fn capture(root: &HostRoot, path: &str, watch: Watch) -> Result<(Recorded, Option<Vec<u8>>)> {
    match watch {
        Watch::Firewall | Watch::Mount | Watch::Daemon => Err(Error::msg(format!(
            "{path}: live state is captured from its action or its record"
        ))),
        Watch::Inode => match root.lstat(path)? {
            Some(st) if st.file_type == FileType::File => match root.pinned_inode(path)? {
                Some(pinned) => Ok((Recorded::Inode(pinned), None)),
                None => Ok((Recorded::Absent, None)),
            },
            Some(_) => Err(Error::msg(format!("{path}: no longer a regular file"))),
            None => Ok((Recorded::Absent, None)),
        },
        Watch::Content => match root.lstat(path)? {
            None => Ok((Recorded::Absent, None)),
            Some(st) if st.file_type == FileType::Dir => Ok((
                Recorded::Dir {
                    mode: st.mode,
                    uid: st.uid,
                    gid: st.gid,
                },
                None,
            )),
            Some(st) if st.file_type == FileType::Symlink => Err(Error::msg(format!(
                "{path}: is a symbolic link; dockhard does not write through links"
            ))),
            Some(_) => {
                let read = root
                    .read_file(path)?
                    .ok_or_else(|| Error::msg(format!("{path}: vanished while being read")))?;
                let state = read.state();
                let FileState::File {
                    sha256,
                    size,
                    mode,
                    uid,
                    gid,
                } = state
                else {
                    unreachable!("read_file returns regular files")
                };
                Ok((
                    Recorded::File {
                        sha256,
                        size,
                        mode,
                        uid,
                        gid,
                        blob: String::new(),
                    },
                    Some(read.content),
                ))
            }
        },
    }
}

/// The live state an action deals with, as it is now.
pub fn capture_live(action: &crate::plan::Action) -> Result<Recorded> {
    use crate::host::live;
    use crate::plan::Action;
    match action {
        Action::FirewallRules { backend, tag, .. } => Ok(Recorded::Firewall {
            backend: backend.clone(),
            tag: tag.clone(),
            rules: live::firewall::tagged(backend, tag)?,
        }),
        Action::Remount { path, .. } => match live::remount::visible(path)? {
            Some((id, options)) => Ok(Recorded::Mount { id, options }),
            None => Ok(Recorded::Absent),
        },
        Action::DockerdReload { restart, .. } => Ok(Recorded::Daemon {
            restart: restart.clone(),
        }),
        other => Err(Error::msg(format!("{}: not a live action", other.path()))),
    }
}

/// The live state a record deals with, as it is now.
pub fn recapture_live(path: &str, record: &Recorded) -> Result<Recorded> {
    use crate::host::live;
    match record {
        Recorded::Firewall { backend, tag, .. } => Ok(Recorded::Firewall {
            backend: backend.clone(),
            tag: tag.clone(),
            rules: live::firewall::tagged(backend, tag)?,
        }),
        Recorded::Mount { .. } => match live::remount::visible(path)? {
            Some((id, options)) => Ok(Recorded::Mount { id, options }),
            None => Ok(Recorded::Absent),
        },
        other => Ok(other.clone()),
    }
}

/// One target of a snapshot: its state before and after the operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub path: String,
    pub kind: Kind,
    pub watch: Watch,
    pub prior: Recorded,
    #[serde(default)]
    pub after: Option<Recorded>,
}

/// What a snapshot was taken for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Operation {
    Apply,
    /// A rollback of another snapshot (itself undoable by rolling this back).
    Rollback {
        of: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotStatus {
    /// Taken; changes are being made (or the run was interrupted).
    Pending,
    /// Every change was made.
    Applied,
    /// A change failed and the ones already made were undone.
    Undone,
    /// A change failed and undoing the ones already made failed too.
    UndoFailed,
    /// An interrupted rollback that a later rollback of the same snapshot
    /// finished.
    Superseded,
    /// A later rollback restored the prior state.
    RolledBack,
}

impl SnapshotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotStatus::Pending => "pending",
            SnapshotStatus::Applied => "applied",
            SnapshotStatus::Undone => "undone",
            SnapshotStatus::UndoFailed => "undo-failed",
            SnapshotStatus::Superseded => "superseded",
            SnapshotStatus::RolledBack => "rolled-back",
        }
    }
}

/// A change as the snapshot remembers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub id: String,
    pub rule: String,
    pub kind: Kind,
    pub target: String,
    pub summary: String,
    /// The state the change leaves its target in (none for a dockerd
    /// reload): after a crash, a target in neither its prior state nor one
    /// of these was changed by someone else.
    #[serde(default)]
    pub result: Option<Recorded>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub id: String,
    pub created: String,
    pub tool_version: String,
    pub root: String,
    pub operation: Operation,
    pub status: SnapshotStatus,
    #[serde(default)]
    pub rolled_back_by: Option<String>,
    pub changes: Vec<ChangeRecord>,
    pub targets: Vec<Target>,
    /// The process that applied it (its temp files carry this number).
    #[serde(default)]
    pub pid: Option<u32>,
    /// `sha256:HEX` of the manifest without this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Manifest {
    /// An apply (or rollback) that did not finish: the process was killed,
    /// the machine restarted, or undoing a failed change failed. The host
    /// may be half changed until it is rolled back.
    pub fn unfinished(&self) -> bool {
        matches!(self.status, SnapshotStatus::Pending | SnapshotStatus::UndoFailed)
    }

    fn digest_of(&self) -> String {
        let mut bare = self.clone();
        bare.digest = None;
        let canonical = serde_json::to_vec(&bare).expect("manifest serialises");
        format!("sha256:{}", crate::plan::sha256_hex(&canonical))
    }

    /// The manifest as written to disk, with its digest.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut sealed = self.clone();
        sealed.digest = Some(self.digest_of());
        let mut text = serde_json::to_vec_pretty(&sealed).expect("manifest serialises");
        text.push(b'\n');
        text
    }

    /// Reads a manifest and checks its digest: a manifest changed after
    /// dockhard wrote it is refused. (The digest catches edits; someone
    /// who can rewrite the state dir could also recompute it, which is why
    /// the state dir must be private.)
    pub fn parse(bytes: &[u8], shown: &str) -> Result<Manifest> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| Error::at(shown, e.line(), Some(e.column()), e))?;
        if manifest.schema != MANIFEST_SCHEMA {
            return Err(Error::msg(format!(
                "{shown}: snapshot schema {} is not supported (this dockhard reads schema {MANIFEST_SCHEMA})",
                manifest.schema
            )));
        }
        // The manifest as dockhard wrote it: one serialisation, no JSON
        // value trees (a manifest of thousands of changes is tens of MB).
        if manifest.digest.is_some() && manifest.to_bytes() == bytes {
            return Ok(manifest);
        }
        match &manifest.digest {
            Some(digest) if *digest == manifest.digest_of() => {
                if crate::plan::holds_only(bytes, &manifest) {
                    Ok(manifest)
                } else {
                    Err(Error::msg(format!(
                        "{shown}: holds fields that are not part of a manifest: it was changed after dockhard wrote it; the snapshot is not used"
                    )))
                }
            }
            Some(_) => Err(Error::msg(format!(
                "{shown}: does not match its digest: the manifest was changed after dockhard wrote it; the snapshot is not used"
            ))),
            None => Err(Error::msg(format!(
                "{shown}: has no digest: the manifest was not written by this dockhard (or was edited); the snapshot is not used"
            ))),
        }
    }

    /// One line on how far an unfinished apply got.
    pub fn progress_text(&self, progress: Option<Progress>) -> String {
        let total = self.changes.len();
        match progress {
            None => format!("how many of its {total} change(s) were made is not recorded"),
            Some(p) => {
                let mut text = format!("{} of {total} change(s) made", p.done);
                if let Some(n) = p.in_flight()
                    && let Some(change) = self.changes.get(n)
                {
                    text.push_str(&format!(", {} was in progress", change.id));
                }
                text
            }
        }
    }
}

/// The snapshot store of one state dir.
#[derive(Debug)]
pub struct Store {
    state_dir: PathBuf,
    /// How long an apply or rollback waits for another run's lock.
    lock_wait: Duration,
    /// The lock, when this run holds it from its start (see `hold`).
    held: std::sync::OnceLock<Lock>,
    /// The options a command suggested in a message must repeat to act on
    /// the same tree and state dir (`--root`, `--state-dir`, ...).
    flags: String,
    /// How many finished snapshots retention keeps (see `retention`).
    keep: usize,
    /// The tree this run works on (device and inode of its folder): only
    /// an unfinished run of that tree blocks this one.
    root: Option<(u64, u64)>,
    /// Whether this run took the lock (see `busy_elsewhere`).
    locked: std::sync::atomic::AtomicBool,
}

/// An exclusive lock on the state dir, released on drop (`None`: the run
/// already holds the lock through its store).
#[derive(Debug)]
pub struct Lock {
    _file: Option<File>,
}

fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(&path.display().to_string(), e))
}

/// Creates a folder of the store, 0700 and owned by the effective uid (it
/// is checked with `trust::check_private` after: an existing one is kept
/// as it is, and refused if it is not private).
fn create_private_dir(path: &Path) -> Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(&path.display().to_string(), e))?;
            if let Some(parent) = path.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(trust::cannot_create(path, e)),
        Err(e) => Err(Error::io(&path.display().to_string(), e)),
    }
}

/// The largest manifest read: one of 2 000 changes is about 2 MB.
const MAX_MANIFEST: u64 = 256 << 20;

/// Reads a file of the store whole, never through a symbolic link, and
/// only a regular file of at most `max` bytes: a fifo in its place would
/// block the read (and every `plan`, `apply` and `rollback` with it)
/// forever, a huge file would take all memory. Anything else is an error
/// saying what the file is instead (`NotFound` is kept as it is).
fn read_no_follow(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileTypeExt;
    let refused = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => refused(
                "is a symbolic link, not a file dockhard wrote; a snapshot is never read through a link"
                    .to_string(),
            ),
            _ => e,
        })?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a named pipe (fifo)")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("a device")
    };
    if let Some(what) = what {
        return Err(refused(format!(
            "is {what}, not a file dockhard wrote; it is not read"
        )));
    }
    if meta.len() > max {
        return Err(refused(format!(
            "is {} bytes, more than such a file of this snapshot can hold ({max} at most); it is damaged and is not read",
            meta.len()
        )));
    }
    let mut content = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(&mut file, max.saturating_add(1)),
        &mut content,
    )?;
    if content.len() as u64 > max {
        return Err(refused(format!(
            "grew past {max} bytes while being read; it is not read"
        )));
    }
    Ok(content)
}

/// Writes a file in the store durably: temp file, fsync, rename, fsync dir.
/// A failure names the temp file when it is the one in the way (a folder
/// or a link left in its place), not the file it was to become.
fn write_durable(path: &Path, content: &[u8]) -> Result<()> {
    let temp = path.with_extension("tmp");
    let shown = path.display().to_string();
    let in_the_way = |e: std::io::Error| {
        Error::msg(format!(
            "{}: {e}; it is in the way of writing {shown} (move it away and run this again)",
            temp.display()
        ))
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&temp)
        .map_err(in_the_way)?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(in_the_way(std::io::Error::other("not a regular file")));
    }
    file.write_all(content).map_err(|e| Error::io(&shown, e))?;
    file.sync_all().map_err(|e| Error::io(&shown, e))?;
    std::fs::rename(&temp, path).map_err(|e| Error::io(&shown, e))?;
    sync_dir(path.parent().unwrap_or(Path::new("/")))
}

impl Store {
    /// The store at `state_dir` (a path on this machine). Refuses a state
    /// dir that is a symbolic link or writable by others.
    pub fn new(state_dir: PathBuf) -> Store {
        Store {
            state_dir,
            lock_wait: crate::apply::LOCK_WAIT,
            held: std::sync::OnceLock::new(),
            flags: String::new(),
            keep: retention::DEFAULT_KEEP,
            root: None,
            locked: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The same store, working on the tree at `root`: an unfinished run of
    /// another tree sharing the state dir neither blocks this one nor is
    /// rolled back in its place.
    pub fn with_root(self, root: &Path) -> Store {
        Store {
            root: dev_ino(root),
            ..self
        }
    }

    /// Whether `manifest` was taken of this store's tree (any tree when the
    /// store was given none). A tree that no longer exists is not it.
    pub fn is_of_root(&self, manifest: &Manifest) -> bool {
        match self.root {
            None => true,
            Some(root) => dev_ino(Path::new(&manifest.root)) == Some(root),
        }
    }

    /// The same store with another wait for the lock (`--lock-wait`).
    /// The same store, with the options suggested commands must repeat.
    pub fn with_flags(self, flags: &str) -> Store {
        Store {
            flags: flags.to_string(),
            ..self
        }
    }

    /// The options suggested commands must repeat (` --root DIR ...`).
    pub fn flags(&self) -> &str {
        &self.flags
    }

    pub fn with_lock_wait(self, lock_wait: Duration) -> Store {
        Store { lock_wait, ..self }
    }

    pub fn lock_wait(&self) -> Duration {
        self.lock_wait
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    fn snapshots_dir(&self) -> PathBuf {
        self.state_dir.join("snapshots")
    }

    /// A folder of the store (the state dir or `snapshots/`): a real
    /// directory owned by the effective uid and writable by no one else.
    /// The rules, and those for the folders above it, are in `trust`.
    fn check_private(&self, path: &Path) -> Result<()> {
        let what = if path == self.state_dir {
            "state dir"
        } else {
            "snapshots folder"
        };
        trust::check_private(path, what)
    }

    /// Takes the lock for the rest of this run, before it plans: a second
    /// run started at the same time waits, then plans on what the first one
    /// left (and finds nothing to do) instead of applying a plan gone stale.
    pub fn hold(&self) -> Result<()> {
        if self.held.get().is_none() {
            let lock = self.lock(self.lock_wait)?;
            let _ = self.held.set(lock);
        }
        Ok(())
    }

    /// Creates the state dir (0700) if needed and takes the lock, waiting
    /// up to `wait` for another run to finish. The folders on the way to
    /// the state dir are checked before anything is created, and again once
    /// they all exist; the state dir and `snapshots/` after (see `trust`).
    pub fn lock(&self, wait: Duration) -> Result<Lock> {
        if self.held.get().is_some() {
            return Ok(Lock { _file: None });
        }
        trust::check_way(&self.state_dir)?;
        if let Some(parent) = self.state_dir.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::PermissionDenied => trust::cannot_create(parent, e),
                    _ => Error::io(&parent.display().to_string(), e),
                })?;
            trust::check_way(&self.state_dir)?;
        }
        create_private_dir(&self.state_dir)?;
        self.check_private(&self.state_dir)?;
        create_private_dir(&self.snapshots_dir())?;
        self.check_private(&self.snapshots_dir())?;
        let path = self.state_dir.join("lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) | Some(libc::EISDIR) => Error::msg(format!(
                    "{}: is {}, not the lock file dockhard makes; nothing was changed. Remove it (no dockhard run uses it) and run this again",
                    path.display(),
                    if e.raw_os_error() == Some(libc::ELOOP) {
                        "a symbolic link"
                    } else {
                        "a directory"
                    }
                )),
                _ => Error::io(&path.display().to_string(), e),
            })?;
        let start = Instant::now();
        loop {
            // SAFETY: the fd belongs to `file`, which outlives this call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                self.locked.store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(Lock { _file: Some(file) });
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(Error::io(&path.display().to_string(), err));
            }
            if start.elapsed() >= wait {
                return Err(Error::msg(format!(
                    "{}: another dockhard run holds the lock (waited {} s); nothing was changed. Try again when it has finished, or wait longer with --lock-wait SECONDS",
                    path.display(),
                    wait.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether another process holds the lock now: a run whose snapshot
    /// is still pending may be running yet (slow, or stopped with SIGSTOP),
    /// not killed. Never true once this run took the lock itself.
    fn busy_elsewhere(&self) -> bool {
        if self.locked.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(self.state_dir.join("lock"))
        else {
            return false;
        };
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return false;
        }
        // SAFETY: the fd belongs to `file`, which outlives this call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
        rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK)
    }

    fn snapshot_dir(&self, id: &str) -> Result<PathBuf> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Error::msg(format!("{id}: not a snapshot id")));
        }
        Ok(self.snapshots_dir().join(id))
    }

    /// Creates a new, empty snapshot folder and returns its id. The id
    /// sorts after every snapshot in the store, even when the clock went
    /// back since (a wrong clock at boot, then set right): retention keeps
    /// the last ids and `rollback` takes the newest, so an id sorting
    /// before older snapshots would have the snapshot of the run that just
    /// finished deleted at once.
    pub fn create(&self) -> Result<String> {
        let mut after = self.ids()?.iter().filter_map(|id| id_time(id)).max();
        loop {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            let at = match after {
                Some(last) if now <= last => last + Duration::from_nanos(1),
                _ => now,
            };
            let id = id_at(at);
            let dir = self.snapshot_dir(&id)?;
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    sync_dir(&self.snapshots_dir())?;
                    return Ok(id);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => after = Some(at),
                Err(e) => return Err(Error::io(&dir.display().to_string(), e)),
            }
        }
    }

    pub fn write_blob(&self, id: &str, name: &str, content: &[u8]) -> Result<()> {
        check_blob_name(name)?;
        write_durable(&self.snapshot_dir(id)?.join(name), content)
    }

    /// Reads a blob (never through a symlink, never more than the `size`
    /// the manifest recorded) and checks it against the sha256 the manifest
    /// recorded: a damaged snapshot is refused, never written over a target.
    pub fn read_blob(&self, id: &str, name: &str, size: u64, sha256: &str) -> Result<Vec<u8>> {
        check_blob_name(name)?;
        let path = self.snapshot_dir(id)?.join(name);
        let shown = path.display().to_string();
        let content = read_no_follow(&path, size).map_err(|e| Error::io(&shown, e))?;
        if crate::plan::sha256_hex(&content) != sha256 {
            return Err(Error::msg(format!(
                "{shown}: does not match the sha256 recorded in snapshot {id}; the snapshot is damaged and is not used"
            )));
        }
        Ok(content)
    }

    pub fn write_manifest(&self, manifest: &Manifest) -> Result<()> {
        write_durable(
            &self.snapshot_dir(&manifest.id)?.join("manifest.json"),
            &manifest.to_bytes(),
        )
    }

    pub fn load(&self, id: &str) -> Result<Manifest> {
        let dir = self.snapshot_dir(id)?;
        self.check_snapshot_folder(&dir)?;
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| !m.is_dir()) {
            return Err(Error::msg(format!("{}: not a snapshot folder", dir.display())));
        }
        let path = dir.join("manifest.json");
        let text = read_no_follow(&path, MAX_MANIFEST).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::msg(format!("no snapshot {id} in {}", self.state_dir.display()))
            }
            _ => Error::io(&path.display().to_string(), e),
        })?;
        let manifest = Manifest::parse(&text, &path.display().to_string())?;
        if manifest.id != id {
            return Err(Error::msg(format!(
                "{}: records snapshot {}, not {id}; the snapshot is not used",
                path.display(),
                manifest.id
            )));
        }
        Ok(manifest)
    }

    /// The snapshots of applies and rollbacks of this store's tree that
    /// did not finish, oldest first, leaving out those a finished rollback
    /// has since restored (see `settle`). A snapshot whose manifest cannot
    /// be read is an error: whether its apply finished cannot be told. (A
    /// folder without a manifest is not: its run stopped before its first
    /// change.)
    pub fn unfinished(&self) -> Result<Vec<Manifest>> {
        let mut all = Vec::new();
        for id in self.ids()? {
            if !self.has_manifest(&id)? {
                continue;
            }
            all.push(self.load(&id).map_err(|e| {
                e.context(format!(
                    "snapshot {id}: cannot tell whether its run finished; look at it, and move the folder out of {} if it is not needed",
                    self.snapshots_dir().display()
                ))
            })?);
        }
        self.settle(&mut all);
        // An interrupted rollback of A is finished by a later rollback of A.
        let finished_later = |n: usize| match &all[n].operation {
            Operation::Rollback { of } => all[n + 1..]
                .iter()
                .any(|m| matches!(&m.operation, Operation::Rollback { of: o } if o == of) && !m.unfinished()),
            Operation::Apply => false,
        };
        let keep: Vec<bool> = (0..all.len())
            .map(|n| all[n].unfinished() && self.is_of_root(&all[n]) && !finished_later(n))
            .collect();
        Ok(all
            .into_iter()
            .zip(keep)
            .filter_map(|(m, keep)| keep.then_some(m))
            .collect())
    }

    /// Refuses to start `operation` while a run is unfinished: a new apply
    /// waits until the unfinished one is rolled back, and unfinished runs
    /// are rolled back newest first. `flags` are the options a suggested
    /// command needs (`--root`, `--state-dir`).
    pub fn refuse_unfinished(&self, operation: &Operation, flags: &str) -> Result<()> {
        let unfinished = self.unfinished()?;
        let Some(newest) = unfinished.last() else {
            return Ok(());
        };
        if let Operation::Rollback { of } = operation
            && *of == newest.id
        {
            return Ok(());
        }
        let progress = self.progress(&newest.id, newest.changes.len()).ok().flatten();
        // Its process is alive and a run holds the lock: in a state dir
        // shared by several trees, the lock alone may be another tree's run.
        let alive = newest.pid.is_some_and(|pid| {
            i32::try_from(pid).is_ok_and(|pid| {
                !matches!(
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                    Err(nix::errno::Errno::ESRCH)
                )
            })
        });
        if alive && self.busy_elsewhere() {
            let what = match newest.operation {
                Operation::Apply => "an apply",
                Operation::Rollback { .. } => "a rollback",
            };
            let process = newest.pid.map(|p| format!(" (process {p})")).unwrap_or_default();
            return Err(Error::msg(format!(
                "{what}{process} is still running, or stopped, and holds {}: snapshot {}, {}; nothing was changed. Wait until it has finished (a stopped one goes on with `kill -CONT`), then run this again.",
                self.state_dir.join("lock").display(),
                newest.id,
                newest.progress_text(progress),
            )));
        }
        if let Operation::Rollback { of: earlier } = &newest.operation {
            // Finishing the interrupted rollback (a rollback of the same
            // snapshot again) is allowed; so is undoing it (above).
            if matches!(operation, Operation::Rollback { of } if of == earlier) {
                return Ok(());
            }
            return Err(Error::msg(format!(
                "a rollback of snapshot {earlier} did not finish (snapshot {}, {}); nothing was changed. Finish it with `dockhard{flags} rollback {earlier} --force` (the targets it already restored show as changed since that apply), or go back to the state before it with `dockhard{flags} rollback {}`.",
                newest.id,
                newest.progress_text(progress),
                newest.id
            )));
        }
        let what = match newest.operation {
            Operation::Apply => "an apply",
            Operation::Rollback { .. } => "a rollback",
        };
        Err(Error::msg(format!(
            "{what} did not finish (snapshot {}, {}: the process was stopped, the machine restarted, or undoing a failed change failed); nothing was changed. Restore the state before it with `dockhard{flags} rollback {}`, then plan again.",
            newest.id,
            newest.progress_text(progress),
            newest.id
        )))
    }

    /// Every snapshot, oldest first, with the statuses a stopped rollback
    /// left behind corrected (see `settle`). Entries that are not snapshot
    /// folders are skipped; an unreadable manifest is reported on stderr and
    /// skipped.
    pub fn list(&self) -> Result<Vec<Manifest>> {
        let mut out = self.list_as_recorded()?;
        self.settle(&mut out);
        Ok(out)
    }

    /// Snapshot `id` as [`Store::list`] has it: with the status a stopped
    /// rollback left behind corrected, as `plan` and `snapshots` see it (a
    /// run restored by a rollback killed before it recorded so is not
    /// "unfinished"). A manifest that cannot be read is the error of
    /// [`Store::load`].
    pub fn load_settled(&self, id: &str) -> Result<Manifest> {
        let manifest = self.load(id)?;
        let mut all = self.read_all(false)?;
        self.settle(&mut all);
        Ok(all.into_iter().find(|m| m.id == id).unwrap_or(manifest))
    }

    /// Every snapshot, oldest first, as its manifest records it.
    fn list_as_recorded(&self) -> Result<Vec<Manifest>> {
        self.read_all(true)
    }

    /// Every snapshot that can be read, oldest first; with `warn`, the
    /// others are named on stderr.
    fn read_all(&self, warn: bool) -> Result<Vec<Manifest>> {
        let mut out = Vec::new();
        for id in self.ids()? {
            if !self.has_manifest(&id)? {
                continue;
            }
            match self.load(&id) {
                Ok(manifest) => out.push(manifest),
                Err(err) if warn => eprintln!("dockhard: warning: skipping snapshot {id}: {err}"),
                Err(_) => {}
            }
        }
        Ok(out)
    }
}

impl Store {
    /// Whether snapshot `id` has a manifest: anything named `manifest.json`
    /// in its folder, a link (even one to nothing) included, so that
    /// reading it fails loudly instead of the run passing for one that
    /// stopped before its first change.
    /// A snapshot folder that is not a real directory (a link to where the
    /// folder was moved, even a broken one) counts as having one too.
    fn has_manifest(&self, id: &str) -> Result<bool> {
        let dir = self.snapshot_dir(id)?;
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| !m.is_dir()) {
            return Ok(true);
        }
        let path = dir.join("manifest.json");
        match std::fs::symlink_metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&path.display().to_string(), e)),
        }
    }

    /// The ids of the snapshot folders, oldest first.
    fn ids(&self) -> Result<Vec<String>> {
        if !trust::check_for_reading(&self.state_dir)? {
            return Ok(Vec::new());
        }
        let dir = self.snapshots_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir.display().to_string(), e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            // A link in place of a snapshot folder is listed, to be
            // refused by name when it is read: skipped, the run it holds
            // would pass for finished.
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir() || t.is_symlink()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|id| self.snapshot_dir(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// The device and inode of a folder, `None` if it cannot be read.
fn dev_ino(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Blob names are the executor's own: `prior-N` or `after-N`.
fn check_blob_name(name: &str) -> Result<()> {
    let ok = ["prior-", "after-"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    if ok {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "snapshot file name `{name}` is not one dockhard writes; refusing"
        )))
    }
}

/// `YYYYMMDD-HHMMSS-NNNNNNNNN` (UTC, nanoseconds since the epoch `at`):
/// ids sort by time.
fn id_at(at: Duration) -> String {
    let (date, time) = civil(at.as_secs());
    format!(
        "{}-{}-{:09}",
        date.replace('-', ""),
        time.replace(':', ""),
        at.subsec_nanos()
    )
}

/// The time an id of [`id_at`] stands for; `None` for another name.
fn id_time(id: &str) -> Option<Duration> {
    let b = id.as_bytes();
    if b.len() != 25 || b[8] != b'-' || b[15] != b'-' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = &id[range];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second, nanos) = (num(9..11)?, num(11..13)?, num(13..15)?, num(16..25)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Civil date to days (the inverse of `civil`), after Howard Hinnant.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(Duration::new(
        u64::try_from(secs).ok()?,
        u32::try_from(nanos).ok()?,
    ))
}

/// (YYYY-MM-DD, HH:MM:SS) in UTC for seconds since the epoch.
fn civil(secs: u64) -> (String, String) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to civil date (proleptic Gregorian), after Howard Hinnant's method.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (date, time) = civil(secs);
    format!("{date}T{time}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), ("1970-01-01".to_string(), "00:00:00".to_string()));
        assert_eq!(
            civil(951_782_400),
            ("2000-02-29".to_string(), "00:00:00".to_string())
        );
        assert_eq!(
            civil(1_796_317_061),
            ("2026-12-03".to_string(), "16:57:41".to_string())
        );
    }

    #[test]
    fn ids_read_back_as_their_time() {
        for at in [
            Duration::new(0, 0),
            Duration::new(951_782_400, 5),
            Duration::new(1_796_317_061, 999_999_999),
            Duration::new(4_102_444_800, 1),
        ] {
            assert_eq!(id_time(&id_at(at)), Some(at), "{}", id_at(at));
        }
        for other in ["x", "20261304-000000-000000000", "2026120-1000000-000000000"] {
            assert_eq!(id_time(other), None, "{other}");
        }
    }

    #[test]
    fn ids_are_valid_and_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("state"));
        let _lock = store.lock(Duration::from_secs(1)).unwrap();
        let a = store.create().unwrap();
        let b = store.create().unwrap();
        assert_ne!(a, b);
        assert!(store.snapshot_dir("../x").is_err());
        let mode = std::fs::metadata(dir.path().join("state"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn second_lock_waits_then_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("state"));
        let _held = store.lock(Duration::from_secs(1)).unwrap();
        let other = Store::new(dir.path().join("state"));
        let err = other.lock(Duration::from_millis(300)).unwrap_err();
        assert!(err.message().contains("another dockhard run"), "{err}");
    }

    fn sealed_manifest() -> Manifest {
        Manifest {
            schema: MANIFEST_SCHEMA,
            id: "20261204-120000-1".to_string(),
            created: "2026-12-04T12:00:00Z".to_string(),
            tool_version: "0.1.0".to_string(),
            root: "/".to_string(),
            operation: Operation::Apply,
            status: SnapshotStatus::Applied,
            rolled_back_by: None,
            changes: Vec::new(),
            targets: Vec::new(),
            pid: Some(42),
            digest: None,
        }
    }

    #[test]
    fn manifest_edited_by_hand_is_refused() {
        let bytes = sealed_manifest().to_bytes();
        let read = Manifest::parse(&bytes, "manifest.json").unwrap();
        assert_eq!(read.id, "20261204-120000-1");
        // Re-indented, the same manifest still reads.
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        Manifest::parse(&serde_json::to_vec(&value).unwrap(), "manifest.json").unwrap();

        type Edit = fn(&mut serde_json::Value);
        let edits: [(&str, Edit, &str); 4] = [
            (
                "status",
                |m| m["status"] = "rolled-back".into(),
                "does not match its digest",
            ),
            (
                "field added",
                |m| m["note"] = "ok".into(),
                "not part of a manifest",
            ),
            (
                "null written out",
                |m| m["pid"] = serde_json::Value::Null,
                "does not match its digest",
            ),
            (
                "digest removed",
                |m| {
                    m.as_object_mut().unwrap().remove("digest");
                },
                "has no digest",
            ),
        ];
        for (what, edit, says) in edits {
            let mut edited = value.clone();
            edit(&mut edited);
            let err = Manifest::parse(&serde_json::to_vec(&edited).unwrap(), "manifest.json").unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with("manifest.json: ") && text.contains(says),
                "{what}: {text}"
            );
        }
    }

    #[test]
    fn world_writable_state_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = Store::new(state).lock(Duration::from_secs(1)).unwrap_err();
        assert!(err.message().contains("writable"), "{err}");
    }
}
