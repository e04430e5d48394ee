//! # Kinds
//!
//! One module per sort of host state. Each kind inspects the root (reading
//! only) and compares what it saw with the policy, producing [`Change`]s and
//! [`Finding`]s. Nothing here writes: only the executor does.

use crate::catalog::{Policy, RuleConfig};
use crate::error::Result;
use crate::host::HostRoot;
use crate::plan::{Action, Change, Effect, FileState, Finding, Kind};

pub mod advice;
pub mod daemon;
pub mod iptables;
pub mod mount;
pub mod subid;
pub mod suid;
pub mod systemd;

/// What every kind gets to plan with.
pub struct Context<'a> {
    pub root: &'a HostRoot,
    pub policy: &'a Policy,
    /// Planning the running machine itself (root `/`, not `--offline`):
    /// live state such as /proc/self/mountinfo and the kernel may be read.
    pub live: bool,
    /// Folders (inside the root) that belong to dockhard and are never
    /// inspected, such as the state dir.
    pub own_paths: Vec<String>,
    /// The user allows restarting dockerd (`--restart-docker`).
    pub restart_docker: bool,
}

/// The result of planning one kind.
#[derive(Debug, Default)]
pub struct Outcome {
    pub changes: Vec<Change>,
    pub findings: Vec<Finding>,
}

impl Outcome {
    pub fn extend(&mut self, other: Outcome) {
        self.changes.extend(other.changes);
        self.findings.extend(other.findings);
    }
}

/// Plans one kind. An `Err` means the kind could not be checked (for
/// example an unparseable file); the caller shows it as an error finding.
pub fn plan_kind(kind: Kind, ctx: &Context<'_>) -> Result<Outcome> {
    match kind {
        Kind::Suid => suid::plan(ctx),
        Kind::Mount => mount::plan(ctx),
        Kind::Daemon => daemon::plan(ctx),
        Kind::Iptables => iptables::plan(ctx),
        Kind::Subid => subid::plan(ctx),
        Kind::Advice => advice::plan(ctx),
    }
}

/// The descriptive part of a change that a kind fills in; [`FileChain`]
/// adds the target, diff and action.
pub struct ChangeInfo<'a> {
    pub rule: &'a RuleConfig,
    pub summary: String,
    pub takes_effect: Effect,
    /// Overrides the rule's `may_break` text when set.
    pub may_break: Option<String>,
    /// Overrides the rule's `disruptive` flag when set.
    pub disruptive: Option<bool>,
    /// Distinguishes several changes of one rule on one file.
    pub detail: Option<String>,
}

impl<'a> ChangeInfo<'a> {
    pub fn new(rule: &'a RuleConfig, summary: impl Into<String>, takes_effect: Effect) -> Self {
        ChangeInfo {
            rule,
            summary: summary.into(),
            takes_effect,
            may_break: None,
            disruptive: None,
            detail: None,
        }
    }

    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    #[must_use]
    pub fn may_break(mut self, text: impl Into<String>) -> Self {
        self.may_break = Some(text.into());
        self
    }

    fn into_change(self, kind: Kind, target: &str, diff: String, action: Action) -> Change {
        let mut id = format!("{kind}:{target}:{}", self.rule.rule.id);
        if let Some(detail) = &self.detail {
            id.push(':');
            id.push_str(detail);
        }
        Change {
            id,
            rule: self.rule.rule.id.clone(),
            kind,
            target: target.to_string(),
            summary: self.summary,
            diff,
            live: false,
            disruptive: self.disruptive.unwrap_or(self.rule.rule.disruptive),
            takes_effect: self.takes_effect,
            may_break: Some(
                self.may_break
                    .unwrap_or_else(|| self.rule.rule.may_break.trim().to_string()),
            ),
            action,
        }
    }
}

/// Successive edits of one file. Each edit becomes a change whose
/// precondition is the content the previous edit produced, so several rules
/// can change one file and the executor can check the chain.
#[derive(Debug, Clone)]
pub struct FileChain {
    kind: Kind,
    path: String,
    content: Option<Vec<u8>>,
    state: FileState,
    mode: u32,
    uid: u32,
    gid: u32,
}

impl FileChain {
    /// Reads `path` (not through a symlink). A new file gets `new_mode` and
    /// the owner of its parent directory.
    pub fn load(root: &HostRoot, kind: Kind, path: &str, new_mode: u32) -> Result<FileChain> {
        let read = root.read_file(path)?;
        let (content, state, mode, uid, gid) = match read {
            Some(read) => {
                let state = read.state();
                (
                    Some(read.content),
                    state,
                    read.stat.mode,
                    read.stat.uid,
                    read.stat.gid,
                )
            }
            None => {
                let parent = parent_of(path);
                let (uid, gid) = nearest_existing_owner(root, parent)?;
                (None, FileState::Absent, new_mode, uid, gid)
            }
        };
        Ok(FileChain {
            kind,
            path: path.to_string(),
            content,
            state,
            mode,
            uid,
            gid,
        })
    }

    /// The content as the chain stands now (`None`: the file is absent).
    pub fn content(&self) -> Option<&[u8]> {
        self.content.as_deref()
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Records an edit to `new_content`; returns `None` if it changes nothing.
    pub fn edit(&mut self, new_content: Vec<u8>, info: ChangeInfo<'_>) -> Option<Change> {
        if self.content.as_deref() == Some(new_content.as_slice()) {
            return None;
        }
        let diff = unified_diff(&self.path, self.content.as_deref(), Some(&new_content));
        let action = Action::WriteFile {
            path: self.path.clone(),
            expect: self.state.clone(),
            content: crate::plan::Bytes(new_content.clone()),
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
        };
        self.state = FileState::of_file(&new_content, self.mode, self.uid, self.gid);
        self.content = Some(new_content);
        let path = self.path.clone();
        Some(info.into_change(self.kind, &path, diff, action))
    }
}

/// A change that creates a directory.
pub fn create_dir_change(
    root: &HostRoot,
    kind: Kind,
    path: &str,
    mode: u32,
    info: ChangeInfo<'_>,
) -> Result<Change> {
    let (uid, gid) = nearest_existing_owner(root, parent_of(path))?;
    let diff = format!("+ directory {path} (mode {mode:04o})\n");
    Ok(info.into_change(
        kind,
        path,
        diff,
        Action::CreateDir {
            path: path.to_string(),
            mode,
            uid,
            gid,
        },
    ))
}

/// A change that clears or sets mode bits of one inode.
pub fn set_mode_change(
    kind: Kind,
    path: &str,
    stat: &crate::host::FileStat,
    mode: u32,
    diff: String,
    info: ChangeInfo<'_>,
) -> Change {
    info.into_change(
        kind,
        path,
        diff,
        Action::SetMode {
            path: path.to_string(),
            expect: stat.inode_state(),
            mode,
        },
    )
}

/// `/etc/docker/daemon.json` → `/etc/docker`.
pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Owner of the nearest existing ancestor directory: new files and folders
/// belong to whoever owns the place they are created in (root on a host,
/// the user on a tree the user owns). An ancestor that exists but is not a
/// directory (a file where /etc/docker should be) is an error now, at plan
/// time, not a failed apply. Symbolic links are not followed: the walk
/// stops below one (the planner refuses a write through it, see
/// [`check_folders`]).
fn nearest_existing_owner(root: &HostRoot, dir: &str) -> Result<(u32, u32)> {
    let mut owner = root_owner(root)?;
    for folder in folders_down_to(dir) {
        match root.lstat(folder)? {
            None => break,
            Some(st) if st.file_type == crate::host::FileType::Dir => owner = (st.uid, st.gid),
            Some(st) if st.file_type == crate::host::FileType::Symlink => break,
            Some(_) => {
                return Err(crate::error::Error::msg(format!(
                    "{folder}: is not a directory, so nothing can be created in it"
                )));
            }
        }
    }
    Ok(owner)
}

fn root_owner(root: &HostRoot) -> Result<(u32, u32)> {
    let st = root
        .lstat("/")?
        .ok_or_else(|| crate::error::Error::msg("the root is gone"))?;
    Ok((st.uid, st.gid))
}

/// `/etc/docker` → `/etc`, `/etc/docker`: the folders on the way from the
/// root down to `dir` (the root itself left out).
fn folders_down_to(dir: &str) -> impl Iterator<Item = &str> {
    dir.match_indices('/')
        .map(|(i, _)| i)
        .skip(1)
        .chain(std::iter::once(dir.len()))
        .filter(move |_| dir != "/")
        .map(move |end| &dir[..end])
}

/// Whether `path` can be written (or created, or removed) where the plan
/// shows it: every folder on the way that exists is a directory, never a
/// symbolic link. A link is not followed even when it stays inside the
/// root and leads to a directory there: the write would land elsewhere
/// than the path the plan shows, and dockhard does not write through
/// links. A link that leads out of the root or nowhere would make the
/// apply fail. Folders that do not exist yet are left to the changes that
/// create them.
pub fn check_folders(root: &HostRoot, path: &str) -> Result<()> {
    for folder in folders_down_to(parent_of(path)) {
        match root.lstat(folder)? {
            None => break,
            Some(st) if st.file_type == crate::host::FileType::Dir => {}
            Some(st) if st.file_type == crate::host::FileType::Symlink => {
                return Err(crate::error::Error::msg(format!(
                    "{folder}: is a symbolic link; dockhard does not write through links, so it does not write {path} (make {folder} a directory)"
                )));
            }
            Some(_) => {
                return Err(crate::error::Error::msg(format!(
                    "{folder}: is not a directory, so nothing can be created in it ({path})"
                )));
            }
        }
    }
    Ok(())
}

/// A unified diff between two versions of a file, with `a/` and `b/` paths.
pub fn unified_diff(path: &str, before: Option<&[u8]>, after: Option<&[u8]>) -> String {
    let old = before.map(String::from_utf8_lossy).unwrap_or_default();
    let new = after.map(String::from_utf8_lossy).unwrap_or_default();
    let old_name = if before.is_some() {
        format!("a{path}")
    } else {
        "/dev/null".to_string()
    };
    let new_name = if after.is_some() {
        format!("b{path}")
    } else {
        "/dev/null".to_string()
    };
    let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
    let mut out = diff
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &new_name)
        .missing_newline_hint(true)
        .to_string();
    if !out.ends_with('\n') && !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Parent folders of `path` that do not exist yet, outermost first, as
/// changes that create them.
pub fn missing_parents(root: &HostRoot, kind: Kind, path: &str, rule: &RuleConfig) -> Result<Vec<Change>> {
    let mut missing = Vec::new();
    let mut dir = parent_of(path);
    while dir != "/" && root.lstat(dir)?.is_none() {
        missing.push(dir.to_string());
        dir = parent_of(dir);
    }
    missing.reverse();
    missing
        .iter()
        .map(|d| {
            create_dir_change(
                root,
                kind,
                d,
                0o755,
                ChangeInfo::new(rule, format!("create directory {d}"), Effect::Now).may_break("Nothing."),
            )
        })
        .collect()
}

/// Helpers for kind tests: fixture roots and applying planned actions
/// straight to a temp tree (the real executor adds locking and snapshots).
#[cfg(test)]
pub mod testing {
    use super::*;
    use crate::catalog::{Catalog, Policy};
    use std::path::{Path, PathBuf};

    /// The folder of a real-world case in `tests/cases`.
    pub fn case_dir(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/cases")
            .join(name)
    }

    /// Copies `src` (a fake root) into a fresh temp dir and opens it.
    pub fn fixture_root(src: &Path) -> (tempfile::TempDir, HostRoot) {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(src, dir.path());
        let root = HostRoot::open(dir.path()).unwrap();
        (dir, root)
    }

    /// An empty temp root.
    pub fn empty_root() -> (tempfile::TempDir, HostRoot) {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::open(dir.path()).unwrap();
        (dir, root)
    }

    pub fn copy_tree(src: &Path, dst: &Path) {
        for entry in walkdir::WalkDir::new(src).min_depth(1) {
            let entry = entry.unwrap();
            let rel = entry.path().strip_prefix(src).unwrap();
            let target = dst.join(rel);
            let ft = entry.file_type();
            if ft.is_dir() {
                std::fs::create_dir_all(&target).unwrap();
            } else if ft.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }

    /// The policy from the built-in catalog and a profile text ("" = built-in).
    pub fn policy(profile: &str) -> Policy {
        let catalog = Catalog::builtin().unwrap();
        Policy::load(&catalog, Some(("test-profile.toml", profile))).unwrap()
    }

    /// A context for offline planning of a fixture root.
    pub fn context<'a>(root: &'a HostRoot, policy: &'a Policy) -> Context<'a> {
        Context {
            root,
            policy,
            live: false,
            own_paths: vec!["/var/lib/dockhard".to_string()],
            restart_docker: false,
        }
    }

    /// Applies the changes' actions to the root in order, checking each
    /// precondition, as the executor will.
    pub fn apply_changes(root: &HostRoot, changes: &[Change]) {
        for change in changes {
            match &change.action {
                Action::WriteFile {
                    path,
                    expect,
                    content,
                    mode,
                    uid,
                    gid,
                } => {
                    assert_eq!(
                        &root.file_state(path).unwrap(),
                        expect,
                        "stale precondition for {path}"
                    );
                    root.write_atomic(path, &content.0, *mode, *uid, *gid).unwrap();
                }
                Action::SetMode { path, expect, mode } => root.set_mode(path, expect, *mode).unwrap(),
                Action::RemoveFile { path, expect } => {
                    assert_eq!(&root.file_state(path).unwrap(), expect);
                    root.remove_file(path).unwrap();
                }
                Action::CreateDir { path, mode, uid, gid } => {
                    root.create_dir(path, *mode, *uid, *gid).unwrap()
                }
                Action::RemoveDir { path } => root.remove_dir(path).unwrap(),
                live => panic!("{}: kind tests never make live steps", live.path()),
            }
        }
    }

    /// The bytes of a file in a temp root.
    pub fn read(dir: &tempfile::TempDir, path: &str) -> Vec<u8> {
        std::fs::read(dir.path().join(path.trim_start_matches('/'))).unwrap()
    }
}
