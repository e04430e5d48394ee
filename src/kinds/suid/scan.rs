//! Finding set-id files: a streaming walk that keeps only the hits.
//!
//! The tree is walked by directory handle (`openat` with `O_NOFOLLOW`,
//! `fstatat` on names relative to it), so no symlink is followed and depth
//! is not limited by `PATH_MAX`: a tree deeper than that, which any local
//! user can make in /tmp, is walked to the bottom. At most [`MAX_OPEN`]
//! directory streams are held per walk. Memory grows with the number of
//! set-id files (and unreadable paths), never with the number of entries
//! walked (only with the names left in the folders whose stream was closed
//! to keep within [`MAX_OPEN`], as with walkdir). Each top-level directory is an independent
//! [`scan_subtree`], so [`scan`] can walk them on several threads and merge
//! the hits, sorted by path, into a stable result. [`scan_counted`] also
//! keeps [`Counters`] for a progress line.

use crate::host::{FileStat, FileType};
use nix::dir::{Dir, OwningIter, Type};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, fstat, fstatat};
use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Directories never scanned in any root: kernel and runtime pseudo trees.
pub const ALWAYS_SKIPPED: &[&str] = &["/proc", "/sys", "/dev", "/run"];

/// Filesystem types whose mount points are skipped on the live host, with
/// why. Pseudo filesystems hold no binaries; network and hypervisor shares
/// (nfs, cifs, 9p, virtiofs, fuse) are some other machine's files and can be
/// slow or hang; overlay mounts are container root filesystems; squashfs,
/// erofs, iso9660 and udf are read-only images (snaps, live media) whose
/// modes cannot be changed anyway. Plain local filesystems (ext4, xfs,
/// btrfs, tmpfs, ...) are scanned: a setuid file on /tmp or /home is exactly
/// what this rule is for. The root filesystem itself is always scanned,
/// whatever its type (a container's overlay root, a live system's squashfs).
pub const SKIPPED_FSTYPES: &[&str] = &[
    // pseudo
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "securityfs",
    "selinuxfs",
    "debugfs",
    "tracefs",
    "bpf",
    "configfs",
    "fusectl",
    "mqueue",
    "hugetlbfs",
    "autofs",
    "binfmt_misc",
    "efivarfs",
    "pstore",
    "nsfs",
    "rpc_pipefs",
    "nfsd",
    // container layers and read-only images
    "overlay",
    "aufs",
    "squashfs",
    "erofs",
    "iso9660",
    "udf",
    // network and hypervisor shares
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ceph",
    "glusterfs",
    "afs",
    "9p",
    "virtiofs",
    "fuse",
];

/// Whether mounts of this filesystem type are left out of the scan.
pub fn fstype_skipped(fstype: &str) -> bool {
    SKIPPED_FSTYPES.contains(&fstype) || fstype.starts_with("fuse.") || fstype.starts_with("cgroup")
}

/// Mount points (as the machine sees them) whose type is skipped, from the
/// text of `/proc/self/mountinfo`. `/` itself is never returned.
pub fn skipped_mount_points(mountinfo: &str) -> Vec<String> {
    use crate::kinds::mount::mountinfo;
    // Line by line: a line the parser refuses is passed over, never a
    // reason to scan pseudo file systems.
    let mut out: Vec<String> = mountinfo
        .lines()
        .filter_map(|line| mountinfo::parse("/proc/self/mountinfo", line).ok())
        .flatten()
        .filter(|m| m.mount_point != "/" && fstype_skipped(&m.fstype))
        .map(|m| m.mount_point)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Paths (inside the root, canonical) whose subtrees are not scanned.
#[derive(Debug, Clone, Default)]
pub struct Excludes {
    paths: HashSet<String>,
}

impl Excludes {
    pub fn insert(&mut self, path: String) {
        if path != "/" {
            self.paths.insert(path);
        }
    }

    /// Whether `path` is excluded itself (its ancestors are checked as the
    /// walk reaches them).
    pub fn contains(&self, path: &str) -> bool {
        self.paths.contains(path)
    }

    /// Whether `path` or any ancestor is excluded.
    pub fn covers(&self, path: &str) -> bool {
        let mut p = path;
        loop {
            if self.paths.contains(p) {
                return true;
            }
            match p.rfind('/') {
                Some(0) | None => return false,
                Some(i) => p = &p[..i],
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.paths.iter()
    }
}

/// A set-id regular file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// As seen inside the root. Never passes through a symlink.
    pub path: String,
    /// False when the name is not UTF-8 and `path` is a lossy rendering
    /// (such a file is reported, never changed).
    pub exact: bool,
    pub stat: FileStat,
}

/// One thing the walk reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Hit(Hit),
    /// A path that could not be read, so what is below it was not checked.
    Unreadable {
        path: String,
        message: String,
    },
}

/// Everything a scan found, sorted by path.
#[derive(Debug, Default)]
pub struct ScanResult {
    pub hits: Vec<Hit>,
    pub unreadable: Vec<(String, String)>,
}

/// `machine_root` joined path → the path inside the root.
fn inside(machine_root: &Path, path: &Path) -> (String, bool) {
    let rel = path.strip_prefix(machine_root).unwrap_or(path);
    match rel.to_str() {
        Some(s) => (format!("/{}", s.trim_start_matches('/')), true),
        None => (
            format!("/{}", rel.to_string_lossy().trim_start_matches('/')),
            false,
        ),
    }
}

fn stat_of(meta: &std::fs::Metadata) -> FileStat {
    let ft = meta.file_type();
    FileStat {
        file_type: if ft.is_file() {
            FileType::File
        } else if ft.is_dir() {
            FileType::Dir
        } else if ft.is_symlink() {
            FileType::Symlink
        } else {
            FileType::Other
        },
        dev: meta.dev(),
        ino: meta.ino(),
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        size: meta.size(),
        nlink: meta.nlink(),
    }
}

/// A regular file with setuid or setgid set.
pub fn is_setid(stat: &FileStat) -> bool {
    stat.file_type == FileType::File && stat.mode & 0o6000 != 0
}

/// How far a [`scan_counted`] has come, for a progress line. Bumped by the
/// scanning threads; read by anyone.
#[derive(Debug, Default)]
pub struct Counters {
    /// Entries walked (files, folders, links, ...).
    pub entries: AtomicU64,
    /// Set-id files found.
    pub hits: AtomicU64,
    /// Top-level folders to scan, and those done.
    pub folders: AtomicU64,
    pub folders_done: AtomicU64,
}

impl Counters {
    /// `123456 entries, 12 set-id, 3/17 folders`.
    pub fn summary(&self) -> String {
        format!(
            "{} entries, {} set-id, {}/{} folders",
            self.entries.load(Ordering::Relaxed),
            self.hits.load(Ordering::Relaxed),
            self.folders_done.load(Ordering::Relaxed),
            self.folders.load(Ordering::Relaxed)
        )
    }
}

/// Walks one directory of the root (`dir` as seen inside it, e.g. `/usr`)
/// lazily, yielding set-id regular files and unreadable paths. Symlinks are
/// never followed, not even `dir` itself; excluded directories are pruned.
pub fn scan_subtree<'a>(
    machine_root: &'a Path,
    dir: &Path,
    excludes: &'a Excludes,
) -> impl Iterator<Item = Event> + 'a {
    walk(machine_root, dir, excludes).flatten()
}

/// [`scan_subtree`] with one item per entry walked (`None`: nothing to
/// report), so that the caller can count entries.
fn walk<'a>(
    machine_root: &'a Path,
    dir: &Path,
    excludes: &'a Excludes,
) -> impl Iterator<Item = Option<Event>> + 'a {
    Walker::start(machine_root, dir, excludes)
}

/// Directory streams a walk keeps open at most. A deeper directory closes
/// the stream of the shallowest open one (its remaining names are read into
/// memory first, as walkdir does), which is reopened through `..` of its
/// child on the way back up, checked by device and inode.
pub const MAX_OPEN: usize = 32;

/// The names left in one directory.
enum Entries {
    /// Streaming from the open directory (which is also the fd for `*at`).
    Open(OwningIter),
    /// Read into memory when the stream was closed; `fd` is the directory
    /// again once it is reopened.
    Spilled {
        names: std::vec::IntoIter<(CString, Option<Type>)>,
        fd: Option<OwnedFd>,
        /// Why the listing broke off while it was read, reported once the
        /// names are done.
        broken: Option<Errno>,
    },
}

struct Frame {
    entries: Entries,
    /// Length of the walker's path before this directory's name.
    parent_len: usize,
    dev: u64,
    ino: u64,
}

impl Frame {
    /// The directory's fd, if it is open.
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.entries {
            // SAFETY: the stream owns the fd and outlives the borrow.
            Entries::Open(iter) => Some(unsafe { BorrowedFd::borrow_raw(iter.as_raw_fd()) }),
            Entries::Spilled { fd, .. } => fd.as_ref().map(AsFd::as_fd),
        }
    }

    /// Closes the directory, keeping the names not visited yet.
    fn close(&mut self) {
        match &mut self.entries {
            Entries::Open(iter) => {
                let mut names = Vec::new();
                let mut broken = None;
                for entry in iter {
                    match entry {
                        Ok(e) => names.push((e.file_name().to_owned(), e.file_type())),
                        Err(e) => {
                            broken = Some(e);
                            break;
                        }
                    }
                }
                self.entries = Entries::Spilled {
                    names: names.into_iter(),
                    fd: None,
                    broken,
                };
            }
            Entries::Spilled { fd, .. } => *fd = None,
        }
    }
}

/// A walk of one subtree by directory handle: every directory is opened
/// relative to its parent (`openat` with `O_NOFOLLOW`) and every file is
/// looked at with `fstatat`, so depth is not limited by `PATH_MAX` (a local
/// user can make a tree deeper than that in /tmp), no symlink is followed,
/// and at most [`MAX_OPEN`] descriptors are held.
struct Walker<'a> {
    excludes: &'a Excludes,
    /// The current directory as seen inside the root (`/usr/bin`), bytes.
    path: Vec<u8>,
    stack: Vec<Frame>,
    /// Events to hand out before walking on.
    pending: Vec<Event>,
}

/// A path inside the root as text; `false` when it is not UTF-8 and the
/// text is a lossy rendering.
fn text_of(path: &[u8]) -> (String, bool) {
    match std::str::from_utf8(path) {
        Ok(s) => (s.to_string(), true),
        Err(_) => (String::from_utf8_lossy(path).into_owned(), false),
    }
}

fn message(errno: Errno) -> String {
    std::io::Error::from(errno).to_string()
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC)
    .union(OFlag::O_NONBLOCK);

/// Opens directory `name` in `parent` (never through a symlink), with its
/// device and inode.
fn open_dir_at(parent: BorrowedFd<'_>, name: &CStr) -> Result<(OwnedFd, u64, u64), Errno> {
    let fd = loop {
        match openat(parent, name, DIR_FLAGS, Mode::empty()) {
            Err(Errno::EINTR) => continue,
            other => break other?,
        }
    };
    let st = fstat(fd.as_fd())?;
    Ok((fd, st.st_dev, st.st_ino))
}

impl<'a> Walker<'a> {
    fn start(machine_root: &Path, dir: &Path, excludes: &'a Excludes) -> Walker<'a> {
        let rel = dir.strip_prefix("/").unwrap_or(dir);
        let mut path = b"/".to_vec();
        path.extend_from_slice(rel.as_os_str().as_bytes());
        let mut walker = Walker {
            excludes,
            path,
            stack: Vec::new(),
            pending: Vec::new(),
        };
        let opened = std::fs::File::open(machine_root)
            .map_err(|e| e.raw_os_error().map_or(Errno::EIO, Errno::from_raw))
            .and_then(|root| {
                let name = CString::new(rel.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
                open_dir_at(root.as_fd(), &name)
            });
        match opened {
            Ok((fd, dev, ino)) => walker.push(fd, dev, ino, 0),
            // A symlink or not a directory (any more): nothing to walk.
            Err(Errno::ELOOP) | Err(Errno::ENOTDIR) | Err(Errno::ENOENT) => {}
            Err(e) => walker.pending.push(Event::Unreadable {
                path: text_of(&walker.path).0,
                message: message(e),
            }),
        }
        walker
    }

    /// Enters an opened directory whose name is already on `path`.
    fn push(&mut self, fd: OwnedFd, dev: u64, ino: u64, parent_len: usize) {
        let entries = match Dir::from_fd(fd) {
            Ok(dir) => Entries::Open(dir.into_iter()),
            Err(e) => {
                self.pending.push(Event::Unreadable {
                    path: text_of(&self.path).0,
                    message: message(e),
                });
                self.path.truncate(parent_len);
                return;
            }
        };
        self.stack.push(Frame {
            entries,
            parent_len,
            dev,
            ino,
        });
        let open = self.stack.iter().filter(|f| f.fd().is_some()).count();
        if open > MAX_OPEN
            && let Some(oldest) = self.stack.iter_mut().find(|f| f.fd().is_some())
        {
            oldest.close();
        }
    }

    /// Leaves the current directory; the parent is reopened through `..`
    /// if its stream was closed. If it cannot be (it was moved or removed),
    /// it and every closed ancestor above it are reported and left: what
    /// is left of them is not checked.
    fn pop(&mut self) {
        let Some(mut child) = self.stack.pop() else {
            return;
        };
        if let Entries::Spilled { broken: Some(e), .. } = &child.entries {
            self.pending.push(Event::Unreadable {
                path: text_of(&self.path).0,
                message: message(*e),
            });
        }
        self.path.truncate(child.parent_len);
        while let Some(parent) = self.stack.last_mut() {
            if parent.fd().is_some() {
                return;
            }
            let back = match child.fd() {
                Some(fd) => open_dir_at(fd, c".."),
                None => Err(Errno::EBADF),
            };
            let why = match back {
                Ok((fd, dev, ino)) if (dev, ino) == (parent.dev, parent.ino) => {
                    if let Entries::Spilled { fd: slot, .. } = &mut parent.entries {
                        *slot = Some(fd);
                    }
                    return;
                }
                Ok(_) => "it was moved during the scan".to_string(),
                Err(e) => format!("could not return to it: {}", message(e)),
            };
            self.pending.push(Event::Unreadable {
                path: text_of(&self.path).0,
                message: format!("{why}; the rest of it was not checked"),
            });
            child = self.stack.pop().expect("the parent frame");
            self.path.truncate(child.parent_len);
        }
    }

    /// Looks at one entry of the current directory.
    fn visit(&mut self, name: CString, kind: Option<Type>) -> Option<Event> {
        let parent_len = self.path.len();
        let depth = self.stack.len();
        self.path.push(b'/');
        self.path.extend_from_slice(name.as_bytes());
        let event = self.visit_named(&name, kind, parent_len);
        if self.stack.len() == depth {
            // Not entered: back to the current directory.
            self.path.truncate(parent_len);
        }
        event
    }

    fn visit_named(&mut self, name: &CStr, kind: Option<Type>, parent_len: usize) -> Option<Event> {
        let fd = self.stack.last()?.fd()?;
        let kind = match kind {
            Some(Type::Directory) => Type::Directory,
            Some(Type::File) | None => match fstatat(fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => {
                    let stat = FileStat::from_raw(&st);
                    if stat.file_type == FileType::Dir {
                        Type::Directory
                    } else {
                        return self.file(stat);
                    }
                }
                Err(Errno::ENOENT) => return None,
                Err(e) => {
                    return Some(Event::Unreadable {
                        path: text_of(&self.path).0,
                        message: message(e),
                    });
                }
            },
            Some(_) => return None,
        };
        debug_assert!(kind == Type::Directory);
        if let Ok(path) = std::str::from_utf8(&self.path)
            && self.excludes.contains(path)
        {
            return None;
        }
        match open_dir_at(fd, name) {
            Ok((dir, dev, ino)) => {
                self.push(dir, dev, ino, parent_len);
                None
            }
            Err(Errno::ENOENT) | Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => None,
            Err(e) => Some(Event::Unreadable {
                path: text_of(&self.path).0,
                message: message(e),
            }),
        }
    }

    /// A non-directory at the walker's path.
    fn file(&self, stat: FileStat) -> Option<Event> {
        if !is_setid(&stat) {
            return None;
        }
        let (path, exact) = text_of(&self.path);
        if exact && self.excludes.covers(&path) {
            return None;
        }
        Some(Event::Hit(Hit { path, exact, stat }))
    }
}

impl Iterator for Walker<'_> {
    type Item = Option<Event>;

    fn next(&mut self) -> Option<Option<Event>> {
        loop {
            if let Some(event) = self.pending.pop() {
                return Some(Some(event));
            }
            let top = self.stack.last_mut()?;
            let next = match &mut top.entries {
                Entries::Open(iter) => iter
                    .next()
                    .map(|e| e.map(|e| (e.file_name().to_owned(), e.file_type()))),
                Entries::Spilled { names, .. } => names.next().map(Ok),
            };
            match next {
                None => self.pop(),
                Some(Err(e)) => {
                    // The listing broke off: report the directory, leave it.
                    let event = Event::Unreadable {
                        path: text_of(&self.path).0,
                        message: message(e),
                    };
                    top.entries = Entries::Spilled {
                        names: Vec::new().into_iter(),
                        fd: top.fd().map(|fd| fd.try_clone_to_owned()).and_then(Result::ok),
                        broken: None,
                    };
                    return Some(Some(event));
                }
                Some(Ok((name, kind))) => {
                    if matches!(name.as_bytes(), b"." | b"..") {
                        continue;
                    }
                    return Some(self.visit(name, kind));
                }
            }
        }
    }
}

/// Scans the whole root: each top-level directory that is not excluded is a
/// [`scan_subtree`], run on up to `threads` threads; set-id files directly in
/// the root are checked too. Hits come back sorted by path. An error only if
/// the root itself cannot be listed.
pub fn scan(machine_root: &Path, excludes: &Excludes, threads: usize) -> std::io::Result<ScanResult> {
    scan_counted(machine_root, excludes, threads, &Counters::default())
}

/// [`scan`], counting entries, hits and folders in `counters` as it goes.
pub fn scan_counted(
    machine_root: &Path,
    excludes: &Excludes,
    threads: usize,
    counters: &Counters,
) -> std::io::Result<ScanResult> {
    let mut result = ScanResult::default();
    let mut jobs: Vec<std::path::PathBuf> = Vec::new();
    for entry in std::fs::read_dir(machine_root)? {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                result.unreadable.push(("/".to_string(), err.to_string()));
                continue;
            }
        };
        let (path, exact) = inside(machine_root, &entry.path());
        if exact && excludes.contains(&path) {
            continue;
        }
        match entry.file_type() {
            Ok(ft) if ft.is_dir() => jobs.push(Path::new(&entry.file_name()).to_path_buf()),
            Ok(ft) if ft.is_file() => match entry.metadata() {
                Ok(meta) => {
                    let stat = stat_of(&meta);
                    if is_setid(&stat) {
                        result.hits.push(Hit { path, exact, stat });
                    }
                }
                Err(err) => result.unreadable.push((path, err.to_string())),
            },
            Ok(_) => {}
            Err(err) => result.unreadable.push((path, err.to_string())),
        }
    }
    jobs.sort();
    counters.folders.store(jobs.len() as u64, Ordering::Relaxed);
    counters.hits.store(result.hits.len() as u64, Ordering::Relaxed);
    let threads = threads.clamp(1, jobs.len().max(1));
    let queue = Mutex::new(jobs);
    let parts: Vec<ScanResult> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut part = ScanResult::default();
                    loop {
                        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                        let Some(dir) = job else { break };
                        collect(walk(machine_root, &dir, excludes), &mut part, counters);
                        counters.folders_done.fetch_add(1, Ordering::Relaxed);
                    }
                    part
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    for part in parts {
        result.hits.extend(part.hits);
        result.unreadable.extend(part.unreadable);
    }
    result.hits.sort_by(|a, b| a.path.cmp(&b.path));
    result.unreadable.sort();
    Ok(result)
}

/// Entries are added to the shared counter in batches, so that threads do
/// not contend for it on every entry.
const COUNT_BATCH: u64 = 512;

fn collect(steps: impl Iterator<Item = Option<Event>>, into: &mut ScanResult, counters: &Counters) {
    let mut walked = 0u64;
    for step in steps {
        walked += 1;
        if walked == COUNT_BATCH {
            counters.entries.fetch_add(walked, Ordering::Relaxed);
            walked = 0;
        }
        match step {
            None => {}
            Some(Event::Hit(hit)) => {
                counters.hits.fetch_add(1, Ordering::Relaxed);
                into.hits.push(hit);
            }
            Some(Event::Unreadable { path, message }) => into.unreadable.push((path, message)),
        }
    }
    counters.entries.fetch_add(walked, Ordering::Relaxed);
}
