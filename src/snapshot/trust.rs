//! # Who may change the state dir
//!
//! Rollback writes back whatever the state dir holds, as root, over
//! /etc and set-id binaries. So only the user running dockhard (root on a
//! live host) may be able to change what is in it, or to put another
//! folder in its place. The rules, after sudo-rs's secure open:
//!
//! - The state dir, its `snapshots/` and every snapshot folder are
//!   directories (never symbolic links), owned by the effective uid, and
//!   writable by no one else (no group or other write bit). dockhard
//!   creates them 0700.
//! - Every folder on the way from `/` to the state dir is owned by root or
//!   by the effective uid: the owner of a folder can always rename what is
//!   in it. A folder owned by another user (say /home/alice, when root
//!   runs dockhard on a tree in it) is refused: alice could swap the state
//!   dir for a link into /etc between two of root's writes.
//! - Such a folder may be writable by group or others only with the
//!   sticky bit (like /tmp, 1777): then only an entry's owner may rename
//!   or remove it, and the next entry on the way is checked to be ours or
//!   root's. A temp dir of ours under /tmp is fine; a state dir under a
//!   group-writable folder without the sticky bit is not.
//! - A symbolic link on the way (/var/lib on another disk, say) is
//!   followed, if the link itself is owned by root or by us, and every
//!   folder of its target is checked the same way.
//!
//! Not looked at: ACLs (a folder whose ACL lets another user write is not
//! detected), and the mount the state dir is on.

use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Symbolic links followed on the way before giving up (as the kernel's
/// `ELOOP`).
const MAX_LINKS: usize = 40;

/// The effective uid: the only user, besides root for folders above the
/// state dir, trusted to change it.
pub(super) fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// `uid N (NAME)` when the name is known.
fn who(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("uid {uid} ({})", user.name),
        _ => format!("uid {uid}"),
    }
}

/// Which of group and others may write, for a message.
fn writers(mode: u32) -> &'static str {
    match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => "group and others",
        (true, false) => "its group",
        _ => "others",
    }
}

/// Checks a folder dockhard keeps snapshots in (the state dir,
/// `snapshots/`, or one snapshot's folder): a directory, not a symbolic
/// link, owned by the effective uid, writable by no one else. `what` names
/// it in the message.
pub(super) fn check_private(path: &Path, what: &str) -> Result<()> {
    let shown = path.display();
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(&shown.to_string(), e))?;
    let me = euid();
    let mode = meta.permissions().mode() & 0o7777;
    let ours = format!("a directory owned by {} with mode 0700", who(me));
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path)
            .map(|t| format!(" to {}", t.display()))
            .unwrap_or_default();
        return Err(Error::msg(format!(
            "{shown}: the {what} is a symbolic link{target}; dockhard keeps snapshots only in a real folder, so nothing was changed. Remove the link, or give --state-dir DIR ({ours})"
        )));
    }
    if !meta.is_dir() {
        return Err(Error::msg(format!(
            "{shown}: the {what} is not a directory; nothing was changed. Move it away, or give --state-dir DIR ({ours})"
        )));
    }
    if meta.uid() != me {
        return Err(Error::msg(format!(
            "{shown}: the {what} is owned by {}, not by {} who runs dockhard (mode {mode:04o}); its snapshots cannot be trusted, so nothing was changed. If it is yours, `chown {me} {shown}` it; otherwise give --state-dir DIR ({ours})",
            who(meta.uid()),
            who(me)
        )));
    }
    if mode & 0o022 != 0 {
        return Err(Error::msg(format!(
            "{shown}: the {what} has mode {mode:04o}: writable by {} (owner {}); anyone who can write there could plant a snapshot that rollback restores, so nothing was changed. Make it private with `chmod 0700 {shown}`, or give --state-dir DIR",
            writers(mode),
            who(meta.uid())
        )));
    }
    Ok(())
}

/// What to do about a state dir the effective uid cannot reach.
fn state_dir_hint() -> String {
    let me = euid();
    if me == 0 {
        "check the folders above it".to_string()
    } else {
        format!(
            "dockhard runs as {}, not root: run it as root, or give --state-dir DIR in a folder you own",
            who(me)
        )
    }
}

/// A folder of the store that the effective uid may not create.
pub(super) fn cannot_create(path: &Path, err: std::io::Error) -> Error {
    let hint = state_dir_hint();
    Error::msg(format!(
        "{}: cannot create the state dir there ({err}); nothing was changed. {hint}",
        path.display()
    ))
}

/// A folder on the way to the state dir that the effective uid may not
/// look into (a home folder of another user, say).
fn cannot_search(folder: &Path, state_dir: &Path, err: std::io::Error) -> Error {
    let hint = state_dir_hint();
    Error::msg(format!(
        "{}: a folder on the way to the state dir {} cannot be looked into ({err}); nothing was changed. {hint}",
        folder.display(),
        state_dir.display()
    ))
}

/// The path's components as names to walk (`..` kept, `.` dropped).
fn names(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// Checks every folder on the way from `/` to `state_dir` (the state dir
/// itself aside: [`check_private`] checks it), following links as the
/// kernel would. Stops at the first folder that does not exist yet: the
/// rest is created by dockhard, under a folder already checked.
pub(super) fn check_way(state_dir: &Path) -> Result<()> {
    let state_dir =
        std::path::absolute(state_dir).map_err(|e| Error::io(&state_dir.display().to_string(), e))?;
    let me = euid();
    let Some(parent) = state_dir.parent() else {
        return Ok(());
    };
    let mut todo: VecDeque<OsString> = names(parent).into();
    // `at` is always a real folder (links resolved), so `..` is lexical.
    let mut at = PathBuf::from("/");
    check_folder(&at, &state_dir, me)?;
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        if name == ".." {
            at.pop();
            continue;
        }
        let next = at.join(&name);
        let meta = match std::fs::symlink_metadata(&next) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(cannot_search(&at, &state_dir, e));
            }
            Err(e) => return Err(Error::io(&next.display().to_string(), e)),
        };
        if meta.file_type().is_symlink() {
            if meta.uid() != 0 && meta.uid() != me {
                return Err(Error::msg(format!(
                    "{}: a symbolic link on the way to the state dir {} is owned by {}: that user could point it elsewhere and have dockhard keep (and restore) snapshots from their folder; nothing was changed. Give --state-dir DIR on a path of folders owned by root or by you",
                    next.display(),
                    state_dir.display(),
                    who(meta.uid())
                )));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(Error::msg(format!(
                    "{}: too many symbolic links on the way to the state dir; nothing was changed",
                    state_dir.display()
                )));
            }
            let target = std::fs::read_link(&next).map_err(|e| Error::io(&next.display().to_string(), e))?;
            if target.is_absolute() {
                at = PathBuf::from("/");
            }
            for name in names(&target).into_iter().rev() {
                todo.push_front(name);
            }
            continue;
        }
        if !meta.is_dir() {
            return Err(Error::msg(format!(
                "{}: on the way to the state dir {}, is not a directory; nothing was changed",
                next.display(),
                state_dir.display()
            )));
        }
        check_folder(&next, &state_dir, me)?;
        at = next;
    }
    Ok(())
}

/// One folder on the way to the state dir: owned by root or by us, and
/// writable by group or others only with the sticky bit.
fn check_folder(path: &Path, state_dir: &Path, me: u32) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(&path.display().to_string(), e))?;
    let mode = meta.permissions().mode() & 0o7777;
    let uid = meta.uid();
    if uid != 0 && uid != me {
        return Err(Error::msg(format!(
            "{}: a folder on the way to the state dir {} is owned by {} (mode {mode:04o}), who is neither root nor {} running dockhard: that user could rename the state dir and put their own folder in its place; nothing was changed. Give --state-dir DIR on a path of folders owned by root or by you",
            path.display(),
            state_dir.display(),
            who(uid),
            who(me)
        )));
    }
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(Error::msg(format!(
            "{}: a folder on the way to the state dir {} has mode {mode:04o} (owner {}): writable by {} without the sticky bit, so anyone who can write there could rename the state dir and put their own folder in its place; nothing was changed. Run `chmod go-w {}` (or `chmod +t` it, like /tmp), or give --state-dir DIR elsewhere",
            path.display(),
            state_dir.display(),
            who(uid),
            writers(mode),
            path.display()
        )));
    }
    Ok(())
}

/// Whether the state dir exists; if it does, checks it, the way to it, and
/// its `snapshots/`, as before reading snapshots from it: a planted state
/// dir is not trusted, not even to list.
pub(super) fn check_for_reading(state_dir: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(state_dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            // A folder on the way, or the one holding the state dir.
            check_way(state_dir)?;
            let abs = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
            let folder = abs.parent().unwrap_or(Path::new("/"));
            return Err(cannot_search(folder, &abs, e));
        }
        Err(e) => return Err(Error::io(&state_dir.display().to_string(), e)),
        Ok(_) => {}
    }
    check_way(state_dir)?;
    check_private(state_dir, "state dir")?;
    let snapshots = state_dir.join("snapshots");
    match std::fs::symlink_metadata(&snapshots) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io(&snapshots.display().to_string(), e)),
        Ok(_) => check_private(&snapshots, "snapshots folder").map(|()| true),
    }
}

impl super::Store {
    /// Before a snapshot is read: the state dir as [`check_for_reading`]
    /// checks it, and the snapshot's folder private to the effective uid.
    /// A snapshot that does not exist is left for the caller to report.
    pub(super) fn check_snapshot_folder(&self, dir: &Path) -> Result<()> {
        if !check_for_reading(&self.state_dir)? {
            return Ok(());
        }
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&dir.display().to_string(), e)),
            Ok(_) => check_private(dir, "snapshot folder"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn private(path: &Path) {
        std::fs::create_dir_all(path).unwrap();
        chmod(path, 0o700);
    }

    #[test]
    fn a_private_folder_of_ours_under_a_sticky_one_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        chmod(&tmp, 0o1777);
        let state = tmp.join("mine/state");
        private(&state);
        check_way(&state).unwrap();
        check_private(&state, "state dir").unwrap();
    }

    #[test]
    fn a_writable_folder_on_the_way_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        let state = open.join("a/state");
        private(&state);
        chmod(&open, 0o777);
        let err = check_way(&state).unwrap_err().to_string();
        assert!(
            err.contains("open: a folder on the way") && err.contains("0777"),
            "{err}"
        );
        chmod(&open, 0o775);
        let err = check_way(&state).unwrap_err().to_string();
        assert!(err.contains("writable by its group"), "{err}");
        chmod(&open, 0o755);
        check_way(&state).unwrap();
    }

    #[test]
    fn links_on_the_way_are_followed_and_their_targets_checked() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("disk/lib");
        private(&real.join("state"));
        symlink("disk/lib", dir.path().join("lib")).unwrap();
        let state = dir.path().join("lib/state");
        check_way(&state).unwrap();
        chmod(&dir.path().join("disk"), 0o777);
        let err = check_way(&state).unwrap_err().to_string();
        assert!(err.contains("disk: a folder on the way"), "{err}");
        // A link on the way that goes up and around still ends in checks.
        chmod(&dir.path().join("disk"), 0o755);
        symlink("../lib", real.join("loop")).unwrap();
        check_way(&dir.path().join("lib/loop/loop/state")).unwrap();
    }

    #[test]
    fn the_state_dir_itself_must_be_private_and_real() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        private(&state);
        chmod(&state, 0o730);
        let err = check_private(&state, "state dir").unwrap_err().to_string();
        assert!(err.contains("mode 0730") && err.contains("chmod 0700"), "{err}");
        symlink("state", dir.path().join("link")).unwrap();
        let err = check_private(&dir.path().join("link"), "state dir")
            .unwrap_err()
            .to_string();
        assert!(err.contains("symbolic link to state"), "{err}");
        std::fs::write(dir.path().join("file"), "").unwrap();
        let err = check_private(&dir.path().join("file"), "state dir")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a directory"), "{err}");
    }

    #[test]
    fn a_missing_state_dir_is_nothing_to_read() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!check_for_reading(&dir.path().join("none")).unwrap());
        let state = dir.path().join("state");
        private(&state);
        assert!(check_for_reading(&state).unwrap());
        std::fs::create_dir(state.join("snapshots")).unwrap();
        chmod(&state.join("snapshots"), 0o777);
        assert!(check_for_reading(&state).is_err());
    }
}
