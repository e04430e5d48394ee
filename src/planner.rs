//! # Planner
//!
//! Runs the kinds over a root and assembles one [`Plan`]. Planning only
//! reads: it is a function of the policy and what inspection saw.

use crate::catalog::Policy;
use crate::host::HostRoot;
use crate::kinds::{self, Context};
use crate::plan::{Finding, Kind, Plan, SCHEMA, Severity, Status};

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
    };
    let mut changes = Vec::new();
    let mut findings = Vec::new();
    for kind in ORDER.into_iter().filter(|k| req.kinds.contains(k)) {
        match kinds::plan_kind(kind, &ctx) {
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
    // Two kinds may both need a folder (docker.service.d): create it once.
    let mut created = std::collections::HashSet::new();
    changes.retain(|c| match &c.action {
        crate::plan::Action::CreateDir { path, .. } => created.insert(path.clone()),
        _ => true,
    });
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
        if changes.iter().any(|c| c.kind == Kind::Mount) {
            live_steps_left_out.push(
                "remount of changed mount points (the change takes effect at the next remount or reboot)"
                    .to_string(),
            );
        }
        if changes.iter().any(|c| c.kind == Kind::Daemon) {
            live_steps_left_out.push(
                "dockerd reload or restart (daemon.json changes take effect at the next dockerd restart)"
                    .to_string(),
            );
        }
        if changes.iter().any(|c| c.kind == Kind::Iptables) {
            live_steps_left_out.push(
                "loading the rules into the running firewall (they are loaded at the next boot)".to_string(),
            );
        }
    } else if !changes.is_empty() {
        live_steps_left_out
            .push("all live steps (iptables, remount, dockerd reload): this is an offline root".to_string());
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
