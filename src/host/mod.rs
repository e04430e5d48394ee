//! # Host access
//!
//! The only module that touches the file system of the tree being hardened.
//! Every path is resolved under the root with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)`, so a symlink inside the tree can never make the
//! tool read or write outside it. Paths handed in are as seen inside the root
//! (`/etc/fstab`); writes never follow a symlink in the last component.

use crate::error::{Error, Result};
use crate::plan::{FileState, InodeState};
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2, renameat};
use nix::sys::stat::{FileStat as RawStat, Mode, SFlag, fchmod, fstat, fstatat, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fsync, unlinkat};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub mod live;
pub mod xattr;

/// What kind of file system object a path names (without following it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    File,
    Dir,
    Symlink,
    Other,
}

/// The metadata dockhard cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub file_type: FileType,
    pub dev: u64,
    pub ino: u64,
    /// Permission bits including setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub nlink: u64,
}

impl FileStat {
    pub fn from_raw(st: &RawStat) -> FileStat {
        let fmt = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let file_type = if fmt == SFlag::S_IFREG {
            FileType::File
        } else if fmt == SFlag::S_IFDIR {
            FileType::Dir
        } else if fmt == SFlag::S_IFLNK {
            FileType::Symlink
        } else {
            FileType::Other
        };
        FileStat {
            file_type,
            dev: st.st_dev,
            ino: st.st_ino,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
            nlink: st.st_nlink,
        }
    }

    /// Identity and permissions, without a content hash.
    pub fn inode_state(&self) -> InodeState {
        InodeState {
            dev: self.dev,
            ino: self.ino,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            sha256: None,
            links: Some(self.nlink),
        }
    }
}

/// A regular file read without following a symlink, with its metadata.
#[derive(Debug, Clone)]
pub struct FileRead {
    pub content: Vec<u8>,
    pub stat: FileStat,
}

impl FileRead {
    pub fn state(&self) -> FileState {
        FileState::of_file(&self.content, self.stat.mode, self.stat.uid, self.stat.gid)
    }
}

/// The tree being hardened: `/` or `--root DIR`.
#[derive(Debug)]
pub struct HostRoot {
    dir: OwnedFd,
    path: PathBuf,
}

/// The name of the temp file an atomic write of `name` by process `pid`
/// uses: `.NAME.dockhard-PID-N`, in the target's own folder. N is random
/// (see [`temp_number`]), so whoever can write that folder cannot take the
/// name first.
pub fn temp_name(name: &str, pid: u32, n: u64) -> String {
    format!(".{name}.dockhard-{pid}-{n}")
}

/// How many temp names an atomic write tries before it gives up: each is
/// taken only if someone created that very name (64 random bits) first.
const TEMP_TRIES: usize = 16;

/// 64 random bits from the kernel (`getrandom`), for a temp name.
fn temp_number() -> std::io::Result<u64> {
    let mut buf = [0u8; 8];
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n == buf.len() as isize {
            return Ok(u64::from_ne_bytes(buf));
        }
        let err = std::io::Error::last_os_error();
        if n >= 0 || err.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Err(err);
    }
}

/// Whether `entry` is a temp file that process `pid` made for `name`.
pub fn is_temp_name(entry: &str, name: &str, pid: u32) -> bool {
    entry
        .strip_prefix(&format!(".{name}.dockhard-{pid}-"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Turns `/etc/fstab` into `etc/fstab`; refuses `..` and empty components.
pub fn relative(path: &str) -> Result<&str> {
    let rel = path.trim_start_matches('/');
    if rel.split('/').any(|c| c == ".." || c == ".") || rel.contains("//") {
        return Err(Error::msg(format!("{path}: path must be normalised")));
    }
    Ok(if rel.is_empty() { "." } else { rel })
}

/// Splits `etc/fstab` into (`etc`, `fstab`).
fn split_parent(rel: &str) -> Result<(&str, &str)> {
    match rel.rsplit_once('/') {
        Some((parent, name)) => Ok((parent, name)),
        None if rel == "." => Err(Error::msg("the root itself has no parent")),
        None => Ok((".", rel)),
    }
}

impl HostRoot {
    /// Opens the root directory. `path` must be a directory.
    pub fn open(path: &Path) -> Result<HostRoot> {
        let dir = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(&path.display().to_string(), e.into()))?;
        let path = std::fs::canonicalize(path).map_err(|e| Error::io(&path.display().to_string(), e))?;
        Ok(HostRoot { dir, path })
    }

    /// The root's path on this machine.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this root is the running machine's own `/`.
    #[must_use]
    pub fn is_machine_root(&self) -> bool {
        self.path == Path::new("/")
    }

    /// The machine path of a path inside the root, for walking and messages.
    pub fn machine_path(&self, path: &str) -> PathBuf {
        self.path.join(path.trim_start_matches('/'))
    }

    fn open_in(&self, rel: &str, flags: OFlag) -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        loop {
            match openat2(self.dir.as_fd(), rel, how) {
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
                other => return other,
            }
        }
    }

    /// Opens the folder of a path to change something in it. No folder on
    /// the way may be a symbolic link, even one that stays inside the root:
    /// the plan refuses such paths, and a folder swapped for a link between
    /// plan and apply must not redirect the write.
    fn open_parent(&self, rel: &str) -> Result<(OwnedFd, String)> {
        let (parent, name) = split_parent(rel)?;
        let how = OpenHow::new()
            .flags(OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
        let fd = loop {
            match openat2(self.dir.as_fd(), parent, how) {
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
                Err(Errno::ELOOP) => {
                    return Err(Error::msg(format!(
                        "/{parent}: a folder on the way is a symbolic link; dockhard does not write through links"
                    )));
                }
                other => break other.map_err(|e| Error::io(&format!("/{parent}"), e.into()))?,
            }
        };
        Ok((fd, name.to_string()))
    }

    /// Reads a file, following symlinks inside the root. `None` if absent.
    pub fn read_optional(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let rel = relative(path)?;
        match self.open_in(rel, OFlag::O_RDONLY | OFlag::O_NOCTTY | OFlag::O_NONBLOCK) {
            Ok(fd) => {
                let mut content = Vec::new();
                File::from(fd)
                    .read_to_end(&mut content)
                    .map_err(|e| Error::io(path, e))?;
                Ok(Some(content))
            }
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => Ok(None),
            Err(e) => Err(Error::io(path, e.into())),
        }
    }

    /// Reads a regular file without following a symlink in its last
    /// component. `None` if absent; an error if it is not a regular file.
    pub fn read_file(&self, path: &str) -> Result<Option<FileRead>> {
        let rel = relative(path)?;
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
        let fd = match self.open_in(rel, flags) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
            Err(Errno::ELOOP) => {
                return Err(Error::msg(format!(
                    "{path}: is a symbolic link; dockhard does not write through links"
                )));
            }
            Err(e) => return Err(Error::io(path, e.into())),
        };
        let stat = FileStat::from_raw(&fstat(fd.as_fd()).map_err(|e| Error::io(path, e.into()))?);
        if stat.file_type != FileType::File {
            return Err(Error::msg(format!("{path}: not a regular file")));
        }
        let mut content = Vec::with_capacity(stat.size as usize);
        File::from(fd)
            .read_to_end(&mut content)
            .map_err(|e| Error::io(path, e))?;
        Ok(Some(FileRead { content, stat }))
    }

    /// Metadata of a path without following its last component.
    pub fn lstat(&self, path: &str) -> Result<Option<FileStat>> {
        let rel = relative(path)?;
        if rel == "." {
            let st = fstat(self.dir.as_fd()).map_err(|e| Error::io(path, e.into()))?;
            return Ok(Some(FileStat::from_raw(&st)));
        }
        let (parent_rel, name) = split_parent(rel)?;
        let parent = match self.open_in(parent_rel, OFlag::O_DIRECTORY | OFlag::O_RDONLY) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
            Err(e) => return Err(Error::io(&format!("/{parent_rel}"), e.into())),
        };
        match fstatat(parent.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(FileStat::from_raw(&st))),
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => Ok(None),
            Err(e) => Err(Error::io(path, e.into())),
        }
    }

    /// Metadata of a path, following symlinks inside the root.
    pub fn stat(&self, path: &str) -> Result<Option<FileStat>> {
        let rel = relative(path)?;
        match self.open_in(rel, OFlag::O_PATH) {
            Ok(fd) => Ok(Some(FileStat::from_raw(
                &fstat(fd.as_fd()).map_err(|e| Error::io(path, e.into()))?,
            ))),
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => Ok(None),
            Err(e) => Err(Error::io(path, e.into())),
        }
    }

    /// Names in a directory (sorted, without `.` and `..`). `None` if absent.
    pub fn list_dir(&self, path: &str) -> Result<Option<Vec<String>>> {
        let rel = relative(path)?;
        let fd = match self.open_in(rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
            Err(e) => return Err(Error::io(path, e.into())),
        };
        let mut dir = nix::dir::Dir::from_fd(fd).map_err(|e| Error::io(path, e.into()))?;
        let mut names = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(|e| Error::io(path, e.into()))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(String::from_utf8_lossy(name).into_owned());
            }
        }
        names.sort();
        Ok(Some(names))
    }

    /// The state of a path as a precondition: absent, a regular file (with
    /// content hash) or a directory. Symlinks and other types are errors.
    pub fn file_state(&self, path: &str) -> Result<FileState> {
        match self.lstat(path)? {
            None => Ok(FileState::Absent),
            Some(st) if st.file_type == FileType::Dir => Ok(FileState::Dir {
                mode: st.mode,
                uid: st.uid,
                gid: st.gid,
            }),
            Some(st) if st.file_type == FileType::Symlink => Err(Error::msg(format!(
                "{path}: is a symbolic link; dockhard does not write through links"
            ))),
            Some(_) => match self.read_file(path)? {
                Some(read) => Ok(read.state()),
                None => Ok(FileState::Absent),
            },
        }
    }

    /// Replaces or creates a file atomically: a temp file in the same
    /// directory, written, owned, moded, labelled like the old file, fsynced,
    /// renamed over the target, and the directory fsynced.
    pub fn write_atomic(&self, path: &str, content: &[u8], mode: u32, uid: u32, gid: u32) -> Result<()> {
        let rel = relative(path)?;
        let (parent, name) = self.open_parent(rel)?;
        let old = match openat(
            parent.as_fd(),
            name.as_str(),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Some(fd),
            Err(Errno::ENOENT) => None,
            Err(Errno::ELOOP) => {
                return Err(Error::msg(format!(
                    "{path}: is a symbolic link; dockhard does not write through links"
                )));
            }
            Err(e) => return Err(Error::io(path, e.into())),
        };
        // A new temp file, never one that is there already (a name
        // planted by whoever can write the folder): another random name
        // if it is taken.
        let mut tries = 0;
        let (fd, temp) = loop {
            let n = temp_number().map_err(|e| Error::io(path, e).context("choosing a temp name"))?;
            let temp = temp_name(&name, std::process::id(), n);
            match openat(
                parent.as_fd(),
                temp.as_str(),
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            ) {
                Ok(fd) => break (fd, temp),
                Err(Errno::EEXIST) if tries + 1 < TEMP_TRIES => tries += 1,
                Err(Errno::EEXIST) => {
                    return Err(Error::msg(format!(
                        "{path}: not written: {TEMP_TRIES} random temp names beside it (.{name}.dockhard-{}-N) were all taken; something is creating files in that folder",
                        std::process::id()
                    )));
                }
                Err(e) => return Err(Error::io(path, e.into())),
            }
        };
        let result = (|| -> Result<()> {
            let mut file = File::from(fd);
            file.write_all(content).map_err(|e| Error::io(path, e))?;
            let st = fstat(file.as_fd()).map_err(|e| Error::io(path, e.into()))?;
            if st.st_uid != uid || st.st_gid != gid {
                fchown(file.as_fd(), Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                    .map_err(|e| Error::io(path, e.into()).context("setting owner"))?;
            }
            if let Some(old) = &old {
                xattr::copy_all(old.as_fd(), file.as_fd()).map_err(|e| Error::io(path, e))?;
            }
            // After chown, which clears set-id bits.
            fchmod(file.as_fd(), Mode::from_bits_truncate(mode & 0o7777))
                .map_err(|e| Error::io(path, e.into()))?;
            fsync(file.as_fd()).map_err(|e| Error::io(path, e.into()))?;
            renameat(parent.as_fd(), temp.as_str(), parent.as_fd(), name.as_str())
                .map_err(|e| Error::io(path, e.into()))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = unlinkat(parent.as_fd(), temp.as_str(), UnlinkatFlags::NoRemoveDir);
            return result;
        }
        fsync(parent.as_fd()).map_err(|e| Error::io(path, e.into()))?;
        Ok(())
    }

    /// Changes the permission bits of a regular file, only if it is still the
    /// inode the planner saw (device, inode, mode, owner), never through a
    /// symlink. The chmod is done on an fd of the checked file.
    pub fn set_mode(&self, path: &str, expect: &InodeState, mode: u32) -> Result<()> {
        let rel = relative(path)?;
        let fd = self
            .open_in(
                rel,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
            )
            .map_err(|e| match e {
                Errno::ELOOP => Error::msg(format!("{path}: became a symbolic link; refusing")),
                e => Error::io(path, e.into()),
            })?;
        let st = FileStat::from_raw(&fstat(fd.as_fd()).map_err(|e| Error::io(path, e.into()))?);
        if st.file_type != FileType::File {
            return Err(Error::msg(format!("{path}: no longer a regular file; refusing")));
        }
        let mut seen = st.inode_state();
        if expect.sha256.is_some() {
            seen.sha256 = Some(hash_fd(&fd).map_err(|e| Error::io(path, e))?);
        }
        if !seen.matches(expect) {
            return Err(Error::msg(format!(
                "{path}: changed since it was inspected (was {}, now {}); refusing",
                expect.describe(),
                seen.describe()
            )));
        }
        // Not fsynced one by one: the executor syncs the file systems it
        // changed once, before it records the run as finished (the journal
        // already counts this change as possibly made).
        fchmod(fd.as_fd(), Mode::from_bits_truncate(mode & 0o7777)).map_err(|e| Error::io(path, e.into()))?;
        Ok(())
    }

    /// Flushes the file systems that hold `paths` (each once) to disk.
    pub fn sync_file_systems<'a>(&self, paths: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let mut synced = std::collections::HashSet::new();
        for path in paths {
            let Ok((parent, _)) = self.open_parent(relative(path)?) else {
                continue;
            };
            let st = fstat(parent.as_fd()).map_err(|e| Error::io(path, e.into()))?;
            if synced.insert(st.st_dev) {
                // SAFETY: the fd is open for the duration of the call.
                if unsafe { libc::syncfs(parent.as_raw_fd()) } != 0 {
                    return Err(Error::io(path, std::io::Error::last_os_error()));
                }
            }
        }
        Ok(())
    }

    /// Identity, permissions and content hash of a regular file, read
    /// without following a symlink. `None` if absent.
    pub fn pinned_inode(&self, path: &str) -> Result<Option<InodeState>> {
        let rel = relative(path)?;
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
        let fd = match self.open_in(rel, flags) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
            Err(Errno::ELOOP) => return Err(Error::msg(format!("{path}: is a symbolic link"))),
            Err(e) => return Err(Error::io(path, e.into())),
        };
        let st = FileStat::from_raw(&fstat(fd.as_fd()).map_err(|e| Error::io(path, e.into()))?);
        if st.file_type != FileType::File {
            return Err(Error::msg(format!("{path}: not a regular file")));
        }
        let mut state = st.inode_state();
        state.sha256 = Some(hash_fd(&fd).map_err(|e| Error::io(path, e))?);
        Ok(Some(state))
    }

    /// Removes a regular file (never a directory, never through a link).
    pub fn remove_file(&self, path: &str) -> Result<()> {
        let (parent, name) = self.open_parent(relative(path)?)?;
        unlinkat(parent.as_fd(), name.as_str(), UnlinkatFlags::NoRemoveDir)
            .map_err(|e| Error::io(path, e.into()))?;
        fsync(parent.as_fd()).map_err(|e| Error::io(path, e.into()))?;
        Ok(())
    }

    /// Creates one directory (its parent must exist) with this mode and owner.
    pub fn create_dir(&self, path: &str, mode: u32, uid: u32, gid: u32) -> Result<()> {
        let (parent, name) = self.open_parent(relative(path)?)?;
        mkdirat(parent.as_fd(), name.as_str(), Mode::from_bits_truncate(0o700))
            .map_err(|e| Error::io(path, e.into()))?;
        let fd = openat(
            parent.as_fd(),
            name.as_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(path, e.into()))?;
        let st = fstat(fd.as_fd()).map_err(|e| Error::io(path, e.into()))?;
        if st.st_uid != uid || st.st_gid != gid {
            fchown(fd.as_fd(), Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                .map_err(|e| Error::io(path, e.into()))?;
        }
        fchmod(fd.as_fd(), Mode::from_bits_truncate(mode & 0o7777)).map_err(|e| Error::io(path, e.into()))?;
        fsync(parent.as_fd()).map_err(|e| Error::io(path, e.into()))?;
        Ok(())
    }

    /// Removes an empty directory.
    pub fn remove_dir(&self, path: &str) -> Result<()> {
        let (parent, name) = self.open_parent(relative(path)?)?;
        unlinkat(parent.as_fd(), name.as_str(), UnlinkatFlags::RemoveDir)
            .map_err(|e| Error::io(path, e.into()))?;
        fsync(parent.as_fd()).map_err(|e| Error::io(path, e.into()))?;
        Ok(())
    }

    /// Opens a directory inside the root for the state dir and similar uses.
    pub fn open_dir(&self, path: &str) -> Result<OwnedFd> {
        let rel = relative(path)?;
        self.open_in(rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map_err(|e| Error::io(path, e.into()))
    }

    /// The raw fd of the root (for walking with `*at` calls).
    pub fn as_raw_fd(&self) -> i32 {
        self.dir.as_raw_fd()
    }
}

/// sha256 of everything readable from `fd` (from its current offset).
fn hash_fd(fd: &OwnedFd) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = File::from(fd.try_clone()?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(crate::plan::hex_encode(&hasher.finalize()))
}

/// Bytes of an `OsStr`, for paths that are not UTF-8.
pub fn os_bytes(s: &OsStr) -> &[u8] {
    s.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn root() -> (tempfile::TempDir, HostRoot) {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::open(dir.path()).unwrap();
        (dir, root)
    }

    #[test]
    fn symlink_pointing_outside_is_resolved_inside_the_root() {
        let (dir, root) = root();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"outside").unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        symlink(outside.path().join("secret"), dir.path().join("etc/link")).unwrap();
        // Absolute link target is taken relative to the root: it does not exist there.
        assert_eq!(root.read_optional("/etc/link").unwrap(), None);
        symlink("../../../../../../etc/passwd", dir.path().join("etc/up")).unwrap();
        assert_eq!(root.read_optional("/etc/up").unwrap(), None);
    }

    #[test]
    fn write_atomic_refuses_symlink_target_and_keeps_mode() {
        let (dir, root) = root();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/real"), b"x").unwrap();
        symlink("real", dir.path().join("etc/link")).unwrap();
        let err = root.write_atomic("/etc/link", b"y", 0o644, 0, 0);
        assert!(err.unwrap_err().message().contains("symbolic link"));
        assert_eq!(std::fs::read(dir.path().join("etc/real")).unwrap(), b"x");

        let me_uid = nix::unistd::geteuid().as_raw();
        let me_gid = nix::unistd::getegid().as_raw();
        root.write_atomic("/etc/new", b"content\n", 0o640, me_uid, me_gid)
            .unwrap();
        let meta = std::fs::metadata(dir.path().join("etc/new")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
        assert_eq!(std::fs::read(dir.path().join("etc/new")).unwrap(), b"content\n");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("etc"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("dockhard")
            })
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn temp_names_are_random_and_still_recognised() {
        let a = temp_name("daemon.json", 42, temp_number().unwrap());
        let b = temp_name("daemon.json", 42, temp_number().unwrap());
        assert_ne!(a, b);
        assert!(is_temp_name(&a, "daemon.json", 42), "{a}");
        assert!(is_temp_name(&temp_name("fstab", 7, u64::MAX), "fstab", 7));
        assert!(!is_temp_name(&a, "daemon.json", 43));
    }

    #[test]
    fn set_mode_checks_the_inode() {
        let (dir, root) = root();
        let file = dir.path().join("tool");
        std::fs::write(&file, b"bin").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let st = root.lstat("/tool").unwrap().unwrap();
        // Replace with a new inode: refused.
        std::fs::rename(&file, dir.path().join("tool.old")).unwrap();
        std::fs::write(&file, b"other").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let err = root.set_mode("/tool", &st.inode_state(), 0o755).unwrap_err();
        assert!(err.message().contains("changed since"), "{err}");
        let st = root.lstat("/tool").unwrap().unwrap();
        root.set_mode("/tool", &st.inode_state(), 0o755).unwrap();
        assert_eq!(root.lstat("/tool").unwrap().unwrap().mode, 0o755);
    }

    #[test]
    fn relative_rejects_dotdot() {
        assert!(relative("/etc/../x").is_err());
        assert_eq!(relative("/etc/fstab").unwrap(), "etc/fstab");
        assert_eq!(relative("/").unwrap(), ".");
    }

    #[test]
    fn lstat_absent_parent_is_none() {
        let (_dir, root) = root();
        assert_eq!(root.lstat("/no/such/file").unwrap(), None);
        assert_eq!(
            root.file_state("/no/such").unwrap(),
            crate::plan::FileState::Absent
        );
    }
}
