//! # Snapshot retention
//!
//! After a successful apply or rollback, the oldest snapshots beyond the
//! last `keep` (the profile's `[snapshots] keep`, [`DEFAULT_KEEP`] unless
//! set, at least [`MIN_KEEP`]) are deleted. The count is over the whole
//! state dir, whatever root each snapshot was taken of. Never deleted:
//!
//! - a snapshot of an unfinished run ([`Manifest::unfinished`]): rollback
//!   needs it to put the host back. It does not count toward `keep`.
//! - the snapshot a kept rollback rolled back (`Operation::Rollback { of }`),
//!   and so on down the chain: undoing that rollback marks it applied
//!   again, and `rollback` without an id must then find it as the latest
//!   apply, not roll back an older one in its place.
//! - a rollback of an unfinished snapshot: it is what tells that the
//!   unfinished run was restored (should the process have stopped before
//!   marking it rolled back); without it the run would count as unfinished
//!   again and block the next apply.
//! - a folder whose manifest cannot be read, or that has none: what it is
//!   cannot be told, so it is left for a person to look at.
//!
//! A snapshot is deleted without following links: its folder is renamed to
//! `.deleting-ID` first (so a crash halfway never leaves a half snapshot
//! that looks whole) and the rename made durable; then each entry is
//! unlinked by name inside the folder's own handle (a link is removed, its
//! target untouched), the folder removed, and the snapshots folder synced.
//! A `.deleting-ID` folder left by a crash is finished by the next run.

use super::{Lock, Manifest, Operation, Store, trust};
use crate::error::{Error, Result};
use nix::fcntl::{OFlag, RenameFlags, openat, renameat2};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, fsync, unlinkat};
use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::Path;

/// Snapshots kept when the profile does not say: about a year of monthly
/// runs, and each holds only the files it replaced.
pub const DEFAULT_KEEP: usize = 20;
/// The fewest a profile may keep: the last run must stay undoable.
pub const MIN_KEEP: usize = 1;

/// What a folder being deleted is renamed to first.
const DELETING: &str = ".deleting-";

impl Store {
    /// The same store keeping the last `keep` finished snapshots (at least
    /// [`MIN_KEEP`]).
    pub fn with_keep(self, keep: usize) -> Store {
        Store {
            keep: keep.max(MIN_KEEP),
            ..self
        }
    }

    /// How many finished snapshots retention keeps.
    pub fn keep(&self) -> usize {
        self.keep
    }

    /// Deletes the snapshots retention does not keep (see the module
    /// docs), under the lock `_held` of the run that just finished; returns
    /// their ids, oldest first.
    pub fn prune(&self, _held: &Lock) -> Result<Vec<String>> {
        let path = self.snapshots_dir();
        self.check_private(&path)?;
        let dir = open_folder(None, &path)?;
        let doomed = doomed(&self.list()?, self.keep);
        for id in &doomed {
            remove_snapshot(&dir, &path, id)?;
        }
        // What a crash left halfway deleted.
        for name in names_in(&dir, &path)? {
            if name
                .strip_prefix(DELETING)
                .is_some_and(|id| self.snapshot_dir(id).is_ok())
            {
                remove_folder(&dir, &path, &name)?;
            }
        }
        Ok(doomed)
    }

    /// Removes snapshot `id`, whose taking failed before its manifest was
    /// written (nothing was changed under it), as retention removes one.
    pub fn discard(&self, id: &str) -> Result<()> {
        let path = self.snapshots_dir();
        let dir = open_folder(None, &path)?;
        self.snapshot_dir(id)?;
        remove_snapshot(&dir, &path, id)
    }

    /// [`Store::prune`] after a run that succeeded: a failure to delete an
    /// old snapshot is a warning, not a failed apply.
    pub fn retain(&self, held: &Lock) {
        if let Err(err) = self.prune(held) {
            eprintln!("dockhard: warning: old snapshots were not deleted: {err}");
        }
    }
}

/// The ids retention deletes from `manifests` (oldest first, as
/// [`Store::list`] gives them), oldest first.
pub fn doomed(manifests: &[Manifest], keep: usize) -> Vec<String> {
    let unfinished: HashSet<&str> = manifests
        .iter()
        .filter(|m| m.unfinished())
        .map(|m| m.id.as_str())
        .collect();
    let mut kept = unfinished.clone();
    kept.extend(manifests.iter().filter_map(|m| match &m.operation {
        Operation::Rollback { of } if unfinished.contains(of.as_str()) => Some(m.id.as_str()),
        _ => None,
    }));
    kept.extend(
        manifests
            .iter()
            .filter(|m| !m.unfinished())
            .rev()
            .take(keep.max(MIN_KEEP))
            .map(|m| m.id.as_str()),
    );
    loop {
        let needed: Vec<&str> = manifests
            .iter()
            .filter(|m| kept.contains(m.id.as_str()))
            .filter_map(|m| match &m.operation {
                Operation::Rollback { of } => Some(of.as_str()),
                Operation::Apply => None,
            })
            .filter(|of| !kept.contains(of))
            .collect();
        if needed.is_empty() {
            break;
        }
        kept.extend(needed);
    }
    manifests
        .iter()
        .filter(|m| !kept.contains(m.id.as_str()))
        .map(|m| m.id.clone())
        .collect()
}

fn io(path: &Path, err: nix::errno::Errno) -> Error {
    Error::io(&path.display().to_string(), err.into())
}

fn c_name(path: &Path, name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| Error::msg(format!("{}: a name with a NUL byte", path.display())))
}

/// Opens a folder without following a link: `name` in `parent`, or the
/// path itself when there is no parent handle.
fn open_folder(parent: Option<&OwnedFd>, path: &Path) -> Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match parent {
        Some(parent) => {
            let name = path.file_name().unwrap_or_default();
            openat(parent, name, flags, Mode::empty()).map_err(|e| io(path, e))
        }
        None => nix::fcntl::open(path, flags, Mode::empty()).map_err(|e| io(path, e)),
    }
}

/// The names in a folder (not `.` and `..`).
fn names_in(dir: &OwnedFd, path: &Path) -> Result<Vec<String>> {
    let copy = dir
        .try_clone()
        .map_err(|e| Error::io(&path.display().to_string(), e))?;
    let mut listing = nix::dir::Dir::from_fd(copy).map_err(|e| io(path, e))?;
    let mut out = Vec::new();
    for entry in listing.iter() {
        let entry = entry.map_err(|e| io(path, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            out.push(name);
        }
    }
    Ok(out)
}

/// Takes snapshot `id` out of the store, durably: renamed first, so it is
/// no longer a snapshot, then its files and folder removed.
fn remove_snapshot(snapshots: &OwnedFd, path: &Path, id: &str) -> Result<()> {
    let gone = format!("{DELETING}{id}");
    renameat2(
        snapshots,
        c_name(path, id)?.as_c_str(),
        snapshots,
        c_name(path, &gone)?.as_c_str(),
        RenameFlags::RENAME_NOREPLACE,
    )
    .map_err(|e| io(&path.join(id), e))?;
    fsync(snapshots).map_err(|e| io(path, e))?;
    remove_folder(snapshots, path, &gone)
}

/// Removes the folder `name` of `parent` (at `path`) and the files in it,
/// never following a link; refuses a folder not owned by the effective uid
/// or holding a folder (dockhard writes only files in a snapshot).
fn remove_folder(parent: &OwnedFd, path: &Path, name: &str) -> Result<()> {
    let here = path.join(name);
    let dir = open_folder(Some(parent), &here)?;
    let owner = nix::sys::stat::fstat(&dir).map_err(|e| io(&here, e))?.st_uid;
    if owner != trust::euid() {
        return Err(Error::msg(format!(
            "{}: owned by uid {owner}, not by dockhard's user; left in place",
            here.display()
        )));
    }
    for entry in names_in(&dir, &here)? {
        unlinkat(
            &dir,
            c_name(&here, &entry)?.as_c_str(),
            UnlinkatFlags::NoRemoveDir,
        )
        .map_err(|e| match e {
            nix::errno::Errno::EISDIR | nix::errno::Errno::EPERM => Error::msg(format!(
                "{}: a folder dockhard did not write; {} was left in place",
                here.join(&entry).display(),
                here.display()
            )),
            e => io(&here.join(&entry), e),
        })?;
    }
    fsync(&dir).map_err(|e| io(&here, e))?;
    drop(dir);
    unlinkat(parent, c_name(path, name)?.as_c_str(), UnlinkatFlags::RemoveDir).map_err(|e| io(&here, e))?;
    fsync(parent).map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::super::SnapshotStatus;
    use super::*;
    use std::time::Duration;

    fn manifest(id: &str, status: SnapshotStatus, operation: Operation) -> Manifest {
        let json = serde_json::json!({
            "schema": super::super::MANIFEST_SCHEMA, "id": id, "created": "2026-01-01T00:00:00Z",
            "tool_version": "0", "root": "/", "operation": operation, "status": status,
            "changes": [], "targets": [],
        });
        serde_json::from_value(json).unwrap()
    }

    fn applied(id: &str) -> Manifest {
        manifest(id, SnapshotStatus::Applied, Operation::Apply)
    }

    #[test]
    fn keeps_the_last_n_and_every_unfinished_one() {
        let list = vec![
            manifest("1", SnapshotStatus::Pending, Operation::Apply),
            applied("2"),
            manifest("3", SnapshotStatus::Undone, Operation::Apply),
            applied("4"),
            applied("5"),
        ];
        assert_eq!(doomed(&list, 2), ["2", "3"]);
        assert_eq!(doomed(&list, 10), Vec::<String>::new());
        // Never fewer than one.
        assert_eq!(doomed(&list, 0), ["2", "3", "4"]);
    }

    #[test]
    fn a_kept_rollback_keeps_what_it_rolled_back() {
        let rollback = |id: &str, of: &str| {
            manifest(
                id,
                SnapshotStatus::Applied,
                Operation::Rollback { of: of.to_string() },
            )
        };
        let list = vec![
            applied("1"),
            manifest("2", SnapshotStatus::RolledBack, Operation::Apply),
            rollback("3", "2"),
            rollback("4", "3"),
            applied("5"),
        ];
        assert_eq!(doomed(&list, 1), ["1", "2", "3", "4"]);
        assert_eq!(doomed(&list, 2), ["1"]);
        // The rollback that restored an unfinished run stays with it.
        let list = vec![
            manifest("1", SnapshotStatus::Pending, Operation::Apply),
            rollback("2", "1"),
            applied("3"),
            applied("4"),
        ];
        assert_eq!(doomed(&list, 1), ["3"]);
    }

    #[test]
    fn prune_deletes_folders_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("state")).with_keep(1);
        let lock = store.lock(Duration::from_secs(1)).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep-me"), "x").unwrap();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let id = store.create().unwrap();
            store.write_blob(&id, "prior-0", b"bytes").unwrap();
            store.write_manifest(&applied(&id)).unwrap();
            ids.push(id);
        }
        let first = store.snapshots_dir().join(&ids[0]);
        std::os::unix::fs::symlink(&outside, first.join("link")).unwrap();
        // A crash halfway through an earlier deletion.
        let half = store
            .snapshots_dir()
            .join(format!("{DELETING}20000101-000000-000000000"));
        std::fs::create_dir(&half).unwrap();
        std::fs::write(half.join("prior-0"), "x").unwrap();

        assert_eq!(store.prune(&lock).unwrap(), &ids[..2]);
        let left: Vec<String> = std::fs::read_dir(store.snapshots_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, [ids[2].clone()]);
        assert!(outside.join("keep-me").exists());
    }
}
