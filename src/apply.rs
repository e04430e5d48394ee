//! # Executor
//!
//! The only code that changes the host. For a list of changes it: takes the
//! lock; checks every change's precondition against the host (following the
//! chain of edits to one target) and refuses a stale plan naming each
//! changed target; writes a snapshot of every target's prior state and
//! fsyncs it; makes the changes, verifying each; and, if one fails, undoes
//! the ones already made. Rollback builds restoring changes from a snapshot
//! and runs them through the same path, so a rollback is itself undoable.

use crate::error::{Error, Result};
use crate::host::HostRoot;
use crate::plan::{Action, Bytes, Change, Effect, FileState, InodeState, Kind};
use crate::snapshot::{
    ChangeRecord, Manifest, Operation, Recorded, SnapshotStatus, Store, Target, Watch, capture,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// How long a run waits for another run's lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// What a successful run did.
#[derive(Debug)]
pub struct Applied {
    pub snapshot: String,
    pub changes: Vec<String>,
    /// What became of the record in the system log.
    pub audit: crate::audit::Delivery,
    /// The health check after a live run on the machine's own root.
    pub health: Option<crate::health::Report>,
}

#[derive(Debug, Clone, PartialEq)]
enum Sim {
    File(FileState),
    Inode(Option<InodeState>),
    Live(Recorded),
}

fn watch_of(action: &Action) -> Watch {
    match action {
        Action::SetMode { .. } => Watch::Inode,
        Action::FirewallRules { .. } => Watch::Firewall,
        Action::Remount { .. } => Watch::Mount,
        Action::DockerdReload { .. } => Watch::Daemon,
        _ => Watch::Content,
    }
}

fn observe(root: &HostRoot, action: &Action) -> std::result::Result<Sim, String> {
    let path = action.path();
    match watch_of(action) {
        Watch::Inode => root.pinned_inode(path).map(Sim::Inode).map_err(|e| e.to_string()),
        Watch::Content => root.file_state(path).map(Sim::File).map_err(|e| e.to_string()),
        Watch::Firewall | Watch::Mount | Watch::Daemon => crate::snapshot::capture_live(action)
            .map(Sim::Live)
            .map_err(|e| e.to_string()),
    }
}

/// The state a target is in now, in the shape its record has.
fn capture_target(root: &HostRoot, target: &Target) -> Result<(Recorded, Option<Vec<u8>>)> {
    match target.watch {
        Watch::Content | Watch::Inode => capture(root, &target.path, target.watch),
        Watch::Firewall | Watch::Mount | Watch::Daemon => Ok((
            crate::snapshot::recapture_live(&target.path, &target.prior)?,
            None,
        )),
    }
}

/// Refuses a plan whose preconditions no longer hold, naming each target.
pub fn refuse_stale(root: &HostRoot, changes: &[Change]) -> Result<()> {
    let stale = stale_targets(root, changes);
    if stale.is_empty() {
        return Ok(());
    }
    Err(Error::msg(format!(
        "the host changed since the plan was made; nothing was applied. Changed targets:\n  {}\nMake a new plan.",
        stale.join("\n  ")
    )))
}

/// Checks every precondition; returns one line per stale target.
pub fn stale_targets(root: &HostRoot, changes: &[Change]) -> Vec<String> {
    let mut sim: HashMap<String, Sim> = HashMap::new();
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    let mut refused: HashSet<String> = HashSet::new();
    let mut stale = Vec::new();
    for change in changes {
        let path = change.action.path().to_string();
        // A folder on the way swapped for a link (even one that leads to
        // the same file inside the root) is stale: the write would be
        // refused half way, after the snapshot.
        if refused.contains(&path) {
            continue;
        }
        if watch_of(&change.action) == Watch::Content
            && !sim.contains_key(&path)
            && let Err(e) = crate::kinds::check_folders(root, &path)
        {
            stale.push(e.to_string());
            refused.insert(path);
            continue;
        }
        let current = match sim.get(&path) {
            Some(s) => Ok(s.clone()),
            None => observe(root, &change.action),
        };
        let current = match current {
            Ok(c) => c,
            Err(e) => {
                stale.push(format!("{path}: {e}"));
                continue;
            }
        };
        // State is followed per path: a second name of an inode already
        // changed would be checked against the inode as it was.
        if let Some((other, ino)) = other_name(&mut inodes, &path, &current) {
            stale.push(format!(
                "{path}: the same file as {other} (inode {ino}): hard links; one change per file"
            ));
            continue;
        }
        let (expected, next) = match &change.action {
            Action::SetMode { expect, mode, .. } => {
                let mut after = expect.clone();
                after.mode = *mode;
                (Sim::Inode(Some(expect.clone())), Sim::Inode(Some(after)))
            }
            Action::WriteFile {
                expect,
                content,
                mode,
                uid,
                gid,
                ..
            } => (
                Sim::File(expect.clone()),
                Sim::File(FileState::of_file(&content.0, *mode, *uid, *gid)),
            ),
            Action::RemoveFile { expect, .. } => (Sim::File(expect.clone()), Sim::File(FileState::Absent)),
            Action::CreateDir { mode, uid, gid, .. } => (
                Sim::File(FileState::Absent),
                Sim::File(FileState::Dir {
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                }),
            ),
            Action::FirewallRules {
                backend,
                tag,
                expect,
                rules,
                ..
            } => (
                Sim::Live(Recorded::Firewall {
                    backend: backend.clone(),
                    tag: tag.clone(),
                    rules: expect.clone(),
                }),
                Sim::Live(Recorded::Firewall {
                    backend: backend.clone(),
                    tag: tag.clone(),
                    rules: rules.clone(),
                }),
            ),
            Action::Remount {
                mount_id,
                expect,
                options,
                ..
            } => (
                Sim::Live(Recorded::Mount {
                    id: *mount_id,
                    options: expect.clone(),
                }),
                Sim::Live(Recorded::Mount {
                    id: *mount_id,
                    options: options.clone(),
                }),
            ),
            Action::DockerdReload { .. } => {
                sim.insert(path, current);
                continue;
            }
            Action::RemoveDir { .. } => {
                let is_dir = matches!(current, Sim::File(FileState::Dir { .. }));
                if !is_dir {
                    stale.push(format!(
                        "{path}: expected a directory, found {}",
                        describe(&current)
                    ));
                }
                sim.insert(path, Sim::File(FileState::Absent));
                continue;
            }
        };
        if !same_sim(&current, &expected) {
            stale.push(format!(
                "{path}: changed since the plan was made (planned against {}, now {})",
                describe(&expected),
                describe(&current)
            ));
        }
        sim.insert(path, next);
    }
    stale.dedup();
    stale
}

/// The name under which an earlier change of this plan targets the inode
/// `current` is (and its inode number), when `path` is another name of it.
fn other_name(inodes: &mut HashMap<(u64, u64), String>, path: &str, current: &Sim) -> Option<(String, u64)> {
    let Sim::Inode(Some(seen)) = current else {
        return None;
    };
    let first = inodes
        .entry((seen.dev, seen.ino))
        .or_insert_with(|| path.to_string());
    (first != path).then(|| (first.clone(), seen.ino))
}

/// Equal states; a content hash is compared only when the plan pinned one.
fn same_sim(current: &Sim, expected: &Sim) -> bool {
    match (current, expected) {
        (Sim::Inode(Some(now)), Sim::Inode(Some(want))) => now.matches(want),
        (Sim::Live(a), Sim::Live(b)) => a.same_state(b),
        (a, b) => a == b,
    }
}

fn describe(sim: &Sim) -> String {
    match sim {
        Sim::File(state) => state.describe(),
        Sim::Inode(None) => "absent".to_string(),
        Sim::Inode(Some(i)) => i.describe(),
        Sim::Live(record) => record.describe(),
    }
}

fn perform(root: &HostRoot, action: &Action) -> Result<()> {
    match action {
        Action::SetMode { path, expect, mode } => root.set_mode(path, expect, *mode),
        Action::WriteFile {
            path,
            expect,
            content,
            mode,
            uid,
            gid,
        } => {
            let now = root.file_state(path)?;
            if now != *expect {
                return Err(Error::msg(format!(
                    "{path}: changed while dockhard was running; refusing"
                )));
            }
            root.write_atomic(path, &content.0, *mode, *uid, *gid)?;
            let written = root.file_state(path)?;
            if written != FileState::of_file(&content.0, *mode, *uid, *gid) {
                return Err(Error::msg(format!("{path}: did not read back as written")));
            }
            Ok(())
        }
        Action::RemoveFile { path, expect } => {
            if root.file_state(path)? != *expect {
                return Err(Error::msg(format!(
                    "{path}: changed while dockhard was running; refusing"
                )));
            }
            root.remove_file(path)
        }
        Action::CreateDir { path, mode, uid, gid } => root.create_dir(path, *mode, *uid, *gid),
        Action::RemoveDir { path } => root.remove_dir(path),
        live_action => {
            if !root.is_machine_root() {
                return Err(Error::msg(format!(
                    "{}: a live step is only made on the machine's own root",
                    live_action.path()
                )));
            }
            perform_live(live_action)
        }
    }
}

/// How long dockerd gets to come back after a reload or restart.
pub const DOCKERD_WAIT: Duration = Duration::from_secs(60);

fn perform_live(action: &Action) -> Result<()> {
    use crate::host::live::{dockerd, firewall, remount};
    match action {
        Action::FirewallRules {
            backend,
            tag,
            expect,
            rules,
            ..
        } => {
            let now = firewall::tagged(backend, tag)?;
            if !firewall::same_rules(&now, expect) {
                return Err(Error::msg(format!(
                    "{backend}: dockhard's rules changed while it was running; refusing"
                )));
            }
            firewall::set_tagged(backend, tag, rules)
        }
        Action::Remount {
            path,
            mount_id,
            expect,
            options,
        } => {
            match remount::visible(path)? {
                Some((id, now)) if id == *mount_id && remount::same_flags(&now, expect) => {}
                _ => {
                    return Err(Error::msg(format!(
                        "{path}: the mount changed while dockhard was running; refusing"
                    )));
                }
            }
            remount::set_flags(path, *mount_id, options)
        }
        Action::DockerdReload { restart, verify, .. } => dockerd::reload(restart, verify, DOCKERD_WAIT),
        other => Err(Error::msg(format!("{}: not a live step", other.path()))),
    }
}

/// What an action will do to the host as it is now: a diff against the
/// current content, or the mode change. Used to show a saved plan honestly.
pub fn describe_action(root: &HostRoot, action: &Action) -> String {
    let current = |path: &str| root.read_file(path).ok().flatten().map(|r| r.content);
    match action {
        Action::WriteFile { path, content, .. } => {
            crate::kinds::unified_diff(path, current(path).as_deref(), Some(&content.0))
        }
        Action::RemoveFile { path, .. } => crate::kinds::unified_diff(path, current(path).as_deref(), None),
        Action::SetMode { path, expect, mode } => {
            format!("{path}: mode {:04o} -> {:04o}\n", expect.mode, mode)
        }
        Action::CreateDir { path, mode, .. } => format!("+ directory {path} (mode {mode:04o})\n"),
        Action::RemoveDir { path } => format!("- directory {path}\n"),
        Action::FirewallRules {
            backend,
            expect,
            rules,
            ..
        } => rules_diff(backend, expect, rules),
        Action::Remount {
            path,
            expect,
            options,
            ..
        } => format!("mount {path}: {} -> {}\n", expect.join(","), options.join(",")),
        Action::DockerdReload { restart, .. } => reload_text(restart),
    }
}

/// The running firewall's tagged rules before and after, as
/// `iptables-save` lines (`-A CHAIN ARGS`, `-t TABLE` outside filter): `-`
/// lines go, `+` lines come, each chain's rules in their order at its top.
pub fn rules_diff(backend: &str, before: &[String], after: &[String]) -> String {
    use crate::host::live::firewall::normalize;
    let has = |list: &[String], rule: &String| list.iter().any(|r| normalize(r) == normalize(rule));
    let mut out = format!("# {backend} (running firewall)\n");
    for rule in before.iter().filter(|r| !has(after, r)) {
        out.push_str(&format!("-{}\n", rule_line(rule)));
    }
    for rule in after {
        let sign = if has(before, rule) { ' ' } else { '+' };
        out.push_str(&format!("{sign}{}\n", rule_line(rule)));
    }
    out
}

fn rule_line(rule: &str) -> String {
    match rule.split_once(' ') {
        Some(("filter", rest)) => format!("-A {rest}"),
        Some((table, rest)) => format!("-t {table} -A {rest}"),
        None => rule.to_string(),
    }
}

/// What reloading dockerd does, in words.
pub fn reload_text(restart: &[String]) -> String {
    if restart.is_empty() {
        "dockerd: SIGHUP (re-reads daemon.json)\n".to_string()
    } else {
        format!("dockerd: restart with `{}`\n", restart.join(" "))
    }
}

/// Applies `changes` to `root` after taking a snapshot in `store`.
pub fn execute(
    root: &HostRoot,
    root_arg: &str,
    store: &Store,
    changes: &[Change],
    operation: Operation,
    live: bool,
) -> Result<Applied> {
    if let Some(step) = changes.iter().find(|c| c.action.is_live())
        && !(live && root.is_machine_root())
    {
        return Err(Error::msg(format!(
            "{} is a live step, and this run is offline (a root other than /, or --offline); nothing was applied",
            step.id
        )));
    }
    let _lock = store.lock(store.lock_wait())?;
    store.refuse_unfinished(&operation, store.flags())?;
    let flags = store.flags();
    refuse_stale(root, changes)?;

    // The snapshot: prior state of every target, on disk before any change.
    let id = store.create()?;
    // Taking it may fail (a disk full, a target that cannot be read):
    // nothing was changed, and the folder is removed, not left behind as
    // a snapshot without a manifest that nothing ever deletes.
    let mut unwritten = Unwritten {
        store,
        id: id.clone(),
        armed: true,
    };
    let mut targets: Vec<Target> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for change in changes {
        let path = change.action.path();
        if !seen.insert(path) {
            continue;
        }
        let watch = watch_of(&change.action);
        let (mut prior, bytes) = if change.action.is_live() {
            (crate::snapshot::capture_live(&change.action)?, None)
        } else {
            capture(root, path, watch)?
        };
        if let (Recorded::File { blob, .. }, Some(bytes)) = (&mut prior, bytes) {
            *blob = format!("prior-{}", targets.len());
            store.write_blob(&id, blob, &bytes)?;
        }
        targets.push(Target {
            path: path.to_string(),
            kind: change.kind,
            watch,
            prior,
            after: None,
        });
    }
    let mut manifest = Manifest {
        schema: crate::snapshot::MANIFEST_SCHEMA,
        id: id.clone(),
        created: crate::snapshot::now_rfc3339(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        root: root_arg.to_string(),
        operation,
        status: SnapshotStatus::Pending,
        rolled_back_by: None,
        changes: changes
            .iter()
            .map(|c| ChangeRecord {
                id: c.id.clone(),
                rule: c.rule.clone(),
                kind: c.kind,
                target: c.target.clone(),
                summary: c.summary.clone(),
                result: result_of(&c.action),
            })
            .collect(),
        targets,
        pid: Some(std::process::id()),
        digest: None,
    };
    store.write_manifest(&manifest)?;
    unwritten.armed = false;
    let mut journal = store.open_journal(&id)?;

    // What the host looks like before the first change, for the health
    // check after the last one (live runs on the machine's own root).
    let health_before = (live && root.is_machine_root()).then(|| crate::health::baseline(root));
    let mut attempted: HashSet<String> = HashSet::new();
    let mut begun = 0;
    for (done, change) in changes.iter().enumerate() {
        attempted.insert(change.action.path().to_string());
        let made = (|| {
            if done == begun {
                begun = journal_batch(changes, done);
                journal.begin(done, begun)?;
            }
            perform(root, &change.action)?;
            journal.done(done)
        })();
        if let Err(err) = made {
            return Err(match undo_run(root, store, &mut manifest, &attempted) {
                Ok(()) => Error::msg(format!(
                    "{} failed: {err}. The {done} change(s) already made were undone; the host is as it was (snapshot {id}).",
                    change.id
                )),
                Err(undo_err) => Error::msg(format!(
                    "{} failed: {err}. Undoing the {done} change(s) already made also failed: {undo_err}. The prior state is kept in snapshot {id}: run `dockhard{flags} rollback {id} --force`.",
                    change.id
                )),
            });
        }
    }

    let mut health = None;
    if let Some(before) = &health_before {
        match crate::health::check(root, before) {
            Ok(report) => health = Some(report),
            Err(err) => {
                return Err(match undo_run(root, store, &mut manifest, &attempted) {
                    Ok(()) => Error::msg(format!(
                        "{err}. Every change of this run was undone; the host is as it was (snapshot {id})."
                    )),
                    Err(undo_err) => Error::msg(format!(
                        "{err}. Undoing the changes also failed: {undo_err}. The prior state is kept in snapshot {id}: run `dockhard{flags} rollback {id} --force`."
                    )),
                });
            }
        }
    }

    // Mode changes are not fsynced one by one: everything this run changed
    // is on disk before it is recorded as finished.
    root.sync_file_systems(
        manifest
            .targets
            .iter()
            .filter(|t| matches!(t.watch, Watch::Content | Watch::Inode))
            .map(|t| t.path.as_str()),
    )?;
    for (n, target) in manifest.targets.iter_mut().enumerate() {
        let (mut after, bytes) = capture_target(root, target)?;
        if let (Recorded::File { blob, .. }, Some(bytes)) = (&mut after, bytes) {
            *blob = format!("after-{n}");
            store.write_blob(&id, blob, &bytes)?;
        }
        target.after = Some(after);
    }
    manifest.status = SnapshotStatus::Applied;
    store.write_manifest(&manifest)?;
    let audit = crate::audit::record(&manifest, SnapshotStatus::Applied.as_str());
    // This run is recorded whole: retention may delete the oldest snapshots.
    store.retain(&_lock);
    Ok(Applied {
        snapshot: id,
        changes: changes.iter().map(|c| c.id.clone()).collect(),
        audit,
        health,
    })
}

/// Undoes a failed run: restores the targets it attempted, records the
/// outcome in the snapshot (undone, or undo-failed: then it is unfinished)
/// and in the system log.
fn undo_run(
    root: &HostRoot,
    store: &Store,
    manifest: &mut Manifest,
    attempted: &HashSet<String>,
) -> Result<()> {
    let undo = restore_priors(root, store, manifest, attempted);
    manifest.status = match undo {
        Ok(()) => SnapshotStatus::Undone,
        Err(_) => SnapshotStatus::UndoFailed,
    };
    let _ = store.write_manifest(manifest);
    let _ = crate::audit::record(manifest, manifest.status.as_str());
    undo
}

/// Mode changes are begun in batches (their `begin` lines reach the disk
/// together), any other change alone. Returns the end of the batch that
/// starts at `from`.
/// A snapshot being taken, removed on drop unless its manifest was
/// written (`armed` cleared).
struct Unwritten<'a> {
    store: &'a Store,
    id: String,
    armed: bool,
}

impl Drop for Unwritten<'_> {
    fn drop(&mut self) {
        if self.armed
            && let Err(err) = self.store.discard(&self.id)
        {
            eprintln!("dockhard: warning: {err}");
        }
    }
}

fn journal_batch(changes: &[Change], from: usize) -> usize {
    const BATCH: usize = 256;
    let is_mode = |c: &Change| matches!(c.action, Action::SetMode { .. });
    if !is_mode(&changes[from]) {
        return from + 1;
    }
    from + changes[from..]
        .iter()
        .take(BATCH)
        .take_while(|c| is_mode(c))
        .count()
}

/// The state `action` leaves its target in, in the shape a snapshot
/// records it (none for a dockerd reload, which leaves no state).
fn result_of(action: &Action) -> Option<Recorded> {
    Some(match action {
        Action::SetMode { expect, mode, .. } => Recorded::Inode(InodeState {
            mode: *mode & 0o7777,
            ..expect.clone()
        }),
        Action::WriteFile {
            content,
            mode,
            uid,
            gid,
            ..
        } => Recorded::File {
            sha256: crate::plan::sha256_hex(&content.0),
            size: content.0.len() as u64,
            mode: *mode & 0o7777,
            uid: *uid,
            gid: *gid,
            blob: String::new(),
        },
        Action::RemoveFile { .. } | Action::RemoveDir { .. } => Recorded::Absent,
        Action::CreateDir { mode, uid, gid, .. } => Recorded::Dir {
            mode: *mode & 0o7777,
            uid: *uid,
            gid: *gid,
        },
        Action::FirewallRules {
            backend, tag, rules, ..
        } => Recorded::Firewall {
            backend: backend.clone(),
            tag: tag.clone(),
            rules: rules.clone(),
        },
        Action::Remount {
            mount_id, options, ..
        } => Recorded::Mount {
            id: *mount_id,
            options: options.clone(),
        },
        Action::DockerdReload { .. } => return None,
    })
}

/// Whether a target is in `state` (a mode change: the same file, with that
/// mode and owner).
fn in_state(now: &Recorded, state: &Recorded) -> bool {
    match (now, state) {
        (Recorded::Inode(a), Recorded::Inode(b)) => {
            same_file(a, b) && a.mode == b.mode && a.uid == b.uid && a.gid == b.gid
        }
        (a, b) => a.same_state(b),
    }
}

/// The states an unfinished apply may have left a target in: as before it,
/// or as one of its changes that were begun left it, or halfway through
/// creating a folder (made 0700 by the run's user, then given its owner,
/// then its mode: `HostRoot::create_dir`).
fn possible_states(manifest: &Manifest, target: &Target, on_target: &[usize], begun: usize) -> Vec<Recorded> {
    let mut states = vec![target.prior.clone()];
    let me = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    for result in on_target
        .iter()
        .filter(|&&n| n < begun)
        .filter_map(|&n| manifest.changes[n].result.as_ref())
    {
        if let Recorded::Dir { uid, gid, .. } = result {
            for (uid, gid) in [me, (*uid, *gid)] {
                states.push(Recorded::Dir {
                    mode: 0o700,
                    uid,
                    gid,
                });
            }
        }
        states.push(result.clone());
    }
    states
}

/// The temp files an interrupted atomic write of `manifest`'s run left next
/// to its targets (`.NAME.dockhard-PID-N`).
fn leftover_temp_files(root: &HostRoot, manifest: &Manifest) -> Result<Vec<(String, Kind)>> {
    let Some(pid) = manifest.pid else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    let mut seen_dirs = HashSet::new();
    for target in manifest.targets.iter().filter(|t| t.watch == Watch::Content) {
        let Some((dir, _)) = target.path.rsplit_once('/') else {
            continue;
        };
        let dir = if dir.is_empty() { "/" } else { dir };
        if !seen_dirs.insert(dir.to_string()) {
            continue;
        }
        let Ok(Some(names)) = root.list_dir(dir) else {
            continue;
        };
        for name in names {
            let owner = manifest.targets.iter().find(|t| {
                t.path.rsplit_once('/').is_some_and(|(d, base)| {
                    (if d.is_empty() { "/" } else { d }) == dir && crate::host::is_temp_name(&name, base, pid)
                })
            });
            if let Some(owner) = owner {
                let path = if dir == "/" {
                    format!("/{name}")
                } else {
                    format!("{dir}/{name}")
                };
                // Only regular files: a folder or link of that name is not
                // what an atomic write leaves, and is someone else's.
                if root
                    .lstat(&path)
                    .ok()
                    .flatten()
                    .is_some_and(|st| st.file_type == crate::host::FileType::File)
                {
                    found.push((path, owner.kind));
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The action that brings a target from `current` back to `prior`.
fn restore_action(
    store: &Store,
    snapshot: &str,
    target: &Target,
    current: &Recorded,
) -> Result<Option<Action>> {
    let path = target.path.clone();
    Ok(match (&target.prior, current) {
        (Recorded::Inode(prior), Recorded::Inode(now)) => {
            if !same_file(prior, now) {
                return Err(Error::msg(format!(
                    "{path}: is no longer the file dockhard changed (inode or content differ); its mode is not restored"
                )));
            }
            (prior.mode != now.mode).then(|| Action::SetMode {
                path,
                expect: now.clone(),
                mode: prior.mode,
            })
        }
        (
            Recorded::Firewall {
                backend,
                tag,
                rules: prior,
            },
            Recorded::Firewall { rules: now, .. },
        ) => (!crate::host::live::firewall::same_rules(prior, now)).then(|| Action::FirewallRules {
            path,
            backend: backend.clone(),
            tag: tag.clone(),
            expect: now.clone(),
            rules: prior.clone(),
        }),
        (
            Recorded::Mount { id, options: prior },
            Recorded::Mount {
                id: now_id,
                options: now,
            },
        ) => {
            if id != now_id {
                return Err(Error::msg(format!(
                    "{path}: another file system is mounted there now (mount {now_id}, was {id}); its flags are not restored"
                )));
            }
            (!crate::host::live::remount::same_flags(prior, now)).then(|| Action::Remount {
                path,
                mount_id: *id,
                expect: now.clone(),
                options: prior.clone(),
            })
        }
        (Recorded::Daemon { restart }, _) => Some(Action::DockerdReload {
            path,
            restart: restart.clone(),
            verify: Vec::new(),
        }),
        (Recorded::Inode(_), other) => {
            return Err(Error::msg(format!(
                "{path}: is now {}; cannot restore its mode",
                other.describe()
            )));
        }
        (
            prior @ Recorded::File {
                blob,
                mode,
                uid,
                gid,
                sha256,
                size,
                ..
            },
            now,
        ) => {
            if prior.same_state(now) {
                None
            } else {
                let content = store.read_blob(snapshot, blob, *size, sha256)?;
                Some(Action::WriteFile {
                    path,
                    expect: now.file_state().unwrap_or(FileState::Absent),
                    content: Bytes(content),
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                })
            }
        }
        (Recorded::Absent, Recorded::Absent) => None,
        (Recorded::Absent, now @ Recorded::File { .. }) => Some(Action::RemoveFile {
            path,
            expect: now.file_state().unwrap_or(FileState::Absent),
        }),
        (Recorded::Absent, Recorded::Dir { .. }) => Some(Action::RemoveDir { path }),
        (Recorded::Dir { .. }, Recorded::Dir { .. }) => None,
        (Recorded::Dir { mode, uid, gid }, Recorded::Absent) => Some(Action::CreateDir {
            path,
            mode: *mode,
            uid: *uid,
            gid: *gid,
        }),
        (prior, now) => {
            return Err(Error::msg(format!(
                "{path}: was {}, is now {}; cannot restore",
                prior.describe(),
                now.describe()
            )));
        }
    })
}

/// The same file: device, inode and (when both were hashed) content.
fn same_file(a: &InodeState, b: &InodeState) -> bool {
    a.dev == b.dev
        && a.ino == b.ino
        && match (&a.sha256, &b.sha256) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        }
}

/// Undo after a failed change: put every target back as the snapshot saw it.
/// Files and live state first, newest first; dockerd is reloaded last (so
/// it reads the restored daemon.json), and only if it was reloaded by the
/// failed run (`attempted`).
fn restore_priors(
    root: &HostRoot,
    store: &Store,
    manifest: &Manifest,
    attempted: &HashSet<String>,
) -> Result<()> {
    let mut errors = Vec::new();
    let (daemon, others): (Vec<&Target>, Vec<&Target>) =
        manifest.targets.iter().partition(|t| t.watch == Watch::Daemon);
    let daemon = daemon.into_iter().filter(|t| attempted.contains(&t.path));
    for target in others.into_iter().rev().chain(daemon) {
        let result = capture_target(root, target)
            .and_then(|(now, _)| restore_action(store, &manifest.id, target, &now))
            .and_then(|action| action.map_or(Ok(()), |a| perform(root, &a)));
        if let Err(e) = result {
            errors.push(e.to_string());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::msg(errors.join("; ")))
    }
}

/// The diff from a recorded file state to the bytes a target has now
/// (none for records that are not file contents).
fn recorded_diff(
    store: &Store,
    manifest: &Manifest,
    target: &Target,
    record: &Recorded,
    now: Option<&[u8]>,
) -> Option<String> {
    let Recorded::File {
        blob, sha256, size, ..
    } = record
    else {
        return None;
    };
    let recorded = store.read_blob(&manifest.id, blob, *size, sha256).ok();
    Some(crate::kinds::unified_diff(&target.path, recorded.as_deref(), now))
}

/// A target whose state differs from what the apply left.
#[derive(Debug)]
pub struct Drift {
    pub path: String,
    pub expected: String,
    pub found: String,
    pub diff: Option<String>,
    /// Left as it is even with `--force`.
    pub kept: bool,
}

/// The changes that restore a snapshot's prior state, and the targets that
/// drifted since the apply (changed by someone else). Two targets are never
/// touched, even with `--force`: a file whose mode was changed but which is
/// now another file (set-id bits are never put on a file dockhard did not
/// inspect), and a folder dockhard created that now holds someone else's
/// files (it is kept). Those are drift with `kept` set.
pub fn rollback_changes(
    root: &HostRoot,
    store: &Store,
    manifest: &Manifest,

    interrupted: Option<&Manifest>,
) -> Result<(Vec<Change>, Vec<Drift>)> {
    let mut changes = Vec::new();
    let mut drift: Vec<Drift> = Vec::new();
    let targets: HashSet<&str> = manifest.targets.iter().map(|t| t.path.as_str()).collect();
    let mut kept: HashSet<String> = HashSet::new();
    let mut by_target: HashMap<&str, Vec<usize>> = HashMap::new();
    for (n, change) in manifest.changes.iter().enumerate() {
        by_target.entry(change.target.as_str()).or_default().push(n);
    }
    // An unfinished apply: the journal tells which changes may have been
    // made, and its temp files are removed first.
    let unfinished = manifest.unfinished();
    // A journal that cannot be read (damaged) tells nothing: every change
    // may have been made, as when there is none (`rollback` says so).
    let begun = match unfinished {
        true => store
            .progress(&manifest.id, manifest.changes.len())
            .ok()
            .flatten()
            .map_or(manifest.changes.len(), |p| p.begun),
        false => manifest.changes.len(),
    };
    let mut temps = match unfinished {
        true => leftover_temp_files(root, manifest)?,
        false => Vec::new(),
    };
    // Finishing an interrupted rollback of this snapshot: its temp files too.
    if let Some(interrupted) = interrupted {
        temps.extend(leftover_temp_files(root, interrupted)?);
        temps.sort();
        temps.dedup();
    }
    for (temp, kind) in &temps {
        let expect = root.file_state(temp)?;
        changes.push(Change {
            id: format!("rollback:{temp}"),
            rule: "rollback".to_string(),
            kind: *kind,
            target: temp.clone(),
            summary: format!("remove {temp}, a temp file the interrupted run left"),
            diff: format!("- {temp}\n"),
            live: false,
            disruptive: false,
            takes_effect: Effect::Now,
            may_break: None,
            action: Action::RemoveFile {
                path: temp.clone(),
                expect,
            },
        });
    }
    let (daemon, others): (Vec<&Target>, Vec<&Target>) =
        manifest.targets.iter().partition(|t| t.watch == Watch::Daemon);
    for target in others.into_iter().rev().chain(daemon) {
        let (now, now_bytes) = capture_target(root, target)?;
        if target.after.is_none()
            && unfinished
            && !possible_states(
                manifest,
                target,
                by_target.get(target.path.as_str()).map_or(&[][..], |v| &v[..]),
                begun,
            )
            .iter()
            .any(|state| in_state(&now, state))
        {
            let diff = recorded_diff(store, manifest, target, &target.prior, now_bytes.as_deref());
            drift.push(Drift {
                path: target.path.clone(),
                expected: format!(
                    "before the interrupted run it was {} (or as that run's changes left it)",
                    target.prior.describe()
                ),
                found: now.describe(),
                diff,
                kept: false,
            });
        }
        if let Some(after) = &target.after
            && !after.same_state(&now)
        {
            let diff = recorded_diff(store, manifest, target, after, now_bytes.as_deref());
            drift.push(Drift {
                path: target.path.clone(),
                expected: format!("after the apply it was {}", after.describe()),
                found: now.describe(),
                diff,
                kept: false,
            });
        }
        // Never touched, even with --force: a file whose mode was changed
        // that is now another file, and a mount point where another file
        // system (or none) is mounted now.
        let replaced = matches!((&target.prior, &now), (Recorded::Inode(p), Recorded::Inode(c)) if !same_file(p, c))
            || matches!((&target.prior, &now), (Recorded::Mount { id, .. }, Recorded::Mount { id: now_id, .. }) if id != now_id)
            || matches!((&target.prior, &now), (Recorded::Mount { .. }, Recorded::Absent));
        if replaced {
            match drift.iter_mut().find(|d| d.path == target.path) {
                Some(d) => d.kept = true,
                None => drift.push(Drift {
                    path: target.path.clone(),
                    expected: format!("before the apply it was {}", target.prior.describe()),
                    found: now.describe(),
                    diff: None,
                    kept: true,
                }),
            }
            kept.insert(target.path.clone());
            continue;
        }
        if let (Recorded::Absent, Recorded::Dir { .. }) = (&target.prior, &now) {
            let foreign: Vec<String> = root
                .list_dir(&target.path)?
                .unwrap_or_default()
                .into_iter()
                .map(|name| format!("{}/{name}", target.path))
                .filter(|p| !targets.contains(p.as_str()) || kept.contains(p))
                .filter(|p| !temps.iter().any(|(t, _)| t == p))
                .collect();
            if !foreign.is_empty() {
                drift.push(Drift {
                    path: target.path.clone(),
                    expected: "it was a directory dockhard created".to_string(),
                    found: format!("a directory that now also holds {}", foreign.join(", ")),
                    diff: None,
                    kept: true,
                });
                kept.insert(target.path.clone());
                continue;
            }
        }
        let Some(action) = restore_action(store, &manifest.id, target, &now)? else {
            continue;
        };
        let rules: Vec<&str> = by_target
            .get(target.path.as_str())
            .into_iter()
            .flatten()
            .map(|&n| manifest.changes[n].rule.as_str())
            .collect();
        let diff = match &action {
            Action::WriteFile { content, .. } => {
                crate::kinds::unified_diff(&target.path, now_bytes.as_deref(), Some(&content.0))
            }
            Action::SetMode { expect, mode, .. } => format!("mode {:04o} -> {:04o}\n", expect.mode, mode),
            Action::RemoveFile { .. } => crate::kinds::unified_diff(&target.path, now_bytes.as_deref(), None),
            Action::RemoveDir { path } => format!("- directory {path}\n"),
            Action::CreateDir { path, .. } => format!("+ directory {path}\n"),
            live => describe_action(root, live),
        };
        changes.push(Change {
            id: format!("rollback:{}", target.path),
            rule: rules
                .first()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "rollback".to_string()),
            kind: target.kind,
            target: target.path.clone(),
            summary: format!(
                "restore {} as it was before snapshot {}",
                target.path, manifest.id
            ),
            diff,
            live: action.is_live(),
            disruptive: false,
            takes_effect: match target.kind {
                _ if action.is_live() => Effect::Now,
                Kind::Daemon => Effect::AfterDockerdRestart,
                Kind::Mount | Kind::Iptables => Effect::AfterReboot,
                _ => Effect::Now,
            },
            may_break: None,
            action,
        });
    }
    Ok((changes, drift))
}
