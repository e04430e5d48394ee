//! # Planner
//!
//! Runs the kinds over a root and assembles one [`Plan`]. Planning only
//! reads: it is a function of the policy and what inspection saw.

use crate::catalog::Policy;
use crate::host::HostRoot;
use crate::kinds::{self, Context};
use crate::plan::{Action, Change, Finding, Kind, Plan, SCHEMA, Severity, Status};
use std::collections::HashSet;

/// What to plan.
pub struct Request<'a> {
    pub root: &'a HostRoot,
    /// The root as the user gave it (recorded in the plan).
    pub root_arg: String,
    pub offline: bool,
    pub policy: &'a Policy,
    pub kinds: Vec<Kind>,
    /// dockhard's own folders inside the root (never inspected).
    pub own_paths: Vec<String>,
    /// The user allows restarting dockerd (`--restart-docker`).
    pub restart_docker: bool,
}

/// The order kinds are planned, shown and applied in.
pub const ORDER: [Kind; 6] = [
    Kind::Suid,
    Kind::Mount,
    Kind::Daemon,
    Kind::Iptables,
    Kind::Subid,
    Kind::Advice,
];

/// Plans every requested kind. A kind that cannot be checked becomes a
/// blocking error finding; the other kinds are still planned.
pub fn make_plan(req: &Request<'_>) -> Plan {
    let live = req.root.is_machine_root() && !req.offline;
    let ctx = Context {
        root: req.root,
        policy: req.policy,
        live,
        own_paths: req.own_paths.clone(),
        restart_docker: req.restart_docker,
    };
    let mut changes: Vec<Change> = Vec::new();
    let mut findings = Vec::new();
    for kind in ORDER.into_iter().filter(|k| req.kinds.contains(k)) {
        let outcome =
            kinds::plan_kind(kind, &ctx).and_then(|outcome| match folder_error(req.root, &outcome.changes) {
                Some(err) => Err(err),
                None => Ok(outcome),
            });
        match outcome {
            Ok(outcome) => {
                changes.extend(outcome.changes);
                findings.extend(outcome.findings);
            }
            Err(err) => {
                let rule = req
                    .policy
                    .rules
                    .iter()
                    .find(|r| r.rule.kind == kind && r.enabled)
                    .map(|r| r.rule.id.clone())
                    .unwrap_or_else(|| kind.to_string());
                let mut finding = Finding::new(
                    &rule,
                    Status::Error,
                    Severity::High,
                    format!("could not check the {kind} kind: {err}"),
                );
                finding.blocking = true;
                findings.push(finding);
            }
        }
    }
    // Pin the content of every file whose mode will change: a binary
    // replaced in place between plan and apply is then refused too.
    for change in &mut changes {
        if let crate::plan::Action::SetMode { path, expect, .. } = &mut change.action {
            match req.root.pinned_inode(path) {
                Ok(Some(pinned)) if pinned.sha256.is_some() => {
                    let mut same = pinned.clone();
                    same.sha256 = None;
                    let mut planned = expect.clone();
                    planned.sha256 = None;
                    if same == planned {
                        *expect = pinned;
                    }
                }
                _ => {}
            }
        }
    }
    let mut changes = order_folders(req.root, changes);
    // Ids must be unique within the plan.
    let mut seen = std::collections::HashSet::new();
    for change in &mut changes {
        let mut n = 1;
        let base = change.id.clone();
        while !seen.insert(change.id.clone()) {
            n += 1;
            change.id = format!("{base}#{n}");
        }
    }
    let mut live_steps_left_out = Vec::new();
    if live {
        if changes.iter().any(|c| c.kind == Kind::Daemon)
            && !changes
                .iter()
                .any(|c| matches!(c.action, Action::DockerdReload { .. }))
        {
            live_steps_left_out.push(
                "dockerd reload or restart (daemon.json changes take effect at the next dockerd restart)"
                    .to_string(),
            );
        }
        if changes.iter().any(|c| c.kind == Kind::Iptables)
            && !changes.iter().any(|c| c.kind == Kind::Iptables && c.live)
        {
            live_steps_left_out.push(
                "loading the rules into the running firewall (they are loaded at the next boot)".to_string(),
            );
        }
    } else if !changes.is_empty() {
        live_steps_left_out
            .push("all live steps (iptables, remount, dockerd reload): this run is offline (a root other than /, or --offline)".to_string());
    }
    Plan {
        schema: SCHEMA,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        root: req.root_arg.clone(),
        offline: !live,
        created: crate::snapshot::now_rfc3339(),
        profile_sha256: req.policy.profile_sha256.clone(),
        kinds: req.kinds.clone(),
        changes,
        findings,
        live_steps_left_out,
    }
}

/// A kind's changes that would write, create or remove a file through a
/// folder that is a symbolic link (or not a directory): the first one, as
/// an error (see [`kinds::check_folders`]). Files are named before the
/// folders created for them. The kind is then not planned at all, as when
/// it could not be checked: half of its changes would be no plan.
fn folder_error(root: &HostRoot, changes: &[Change]) -> Option<crate::error::Error> {
    let files = changes
        .iter()
        .filter(|c| matches!(c.action, Action::WriteFile { .. } | Action::RemoveFile { .. }));
    let folders = changes
        .iter()
        .filter(|c| matches!(c.action, Action::CreateDir { .. } | Action::RemoveDir { .. }));
    files
        .chain(folders)
        .find_map(|c| kinds::check_folders(root, c.action.path()).err())
}

/// Folders first: every folder a change creates is made once (two kinds may
/// need the same one), before any change below it, parents before children;
/// a change whose parent folder is missing and not created gets one.
fn order_folders(root: &HostRoot, changes: Vec<Change>) -> Vec<Change> {
    let mut folders: Vec<Change> = Vec::new();
    let mut rest: Vec<Change> = Vec::new();
    let mut created: HashSet<String> = HashSet::new();
    for change in changes {
        match &change.action {
            Action::CreateDir { path, .. } => {
                if created.insert(path.clone()) {
                    folders.push(change);
                }
            }
            _ => rest.push(change),
        }
    }
    let mut extra = Vec::new();
    for change in &rest {
        if !matches!(change.action, Action::WriteFile { .. }) {
            continue;
        }
        let mut missing = Vec::new();
        let mut dir = kinds::parent_of(change.action.path()).to_string();
        while dir != "/" && !created.contains(&dir) && matches!(root.lstat(&dir), Ok(None)) {
            missing.push(dir.clone());
            dir = kinds::parent_of(&dir).to_string();
        }
        for dir in missing {
            created.insert(dir.clone());
            let (uid, gid) = match root.stat(kinds::parent_of(&dir)) {
                Ok(Some(st)) => (st.uid, st.gid),
                _ => (0, 0),
            };
            extra.push(Change {
                id: format!("{}:{dir}:{}", change.kind, change.rule),
                rule: change.rule.clone(),
                kind: change.kind,
                target: dir.clone(),
                summary: format!("create directory {dir}"),
                diff: format!("+ directory {dir} (mode 0755)\n"),
                live: false,
                disruptive: false,
                takes_effect: crate::plan::Effect::Now,
                may_break: Some("Nothing.".to_string()),
                action: Action::CreateDir {
                    path: dir,
                    mode: 0o755,
                    uid,
                    gid,
                },
            });
        }
    }
    folders.extend(extra);
    // Parents before children: a path sorts after its ancestors.
    folders.sort_by_key(|c| c.action.path().matches('/').count());
    // dockerd reads its configuration last, after every file it needs
    // (daemon.json, subuid, passwd) is in place.
    let (reload, rest): (Vec<Change>, Vec<Change>) = rest
        .into_iter()
        .partition(|c| matches!(c.action, Action::DockerdReload { .. }));
    folders.extend(rest);
    folders.extend(reload);
    folders
}

/// The changes of the given kinds, plus the folders they need (a folder is
/// created by whichever kind's change needed it first).
pub fn only_kinds(changes: Vec<Change>, kinds: &[Kind]) -> Vec<Change> {
    let needed: Vec<String> = changes
        .iter()
        .filter(|c| kinds.contains(&c.kind))
        .map(|c| c.action.path().to_string())
        .collect();
    changes
        .into_iter()
        .filter(|c| {
            kinds.contains(&c.kind)
                || (matches!(c.action, Action::CreateDir { .. })
                    && needed
                        .iter()
                        .any(|p| p.starts_with(&format!("{}/", c.action.path()))))
        })
        .collect()
}
