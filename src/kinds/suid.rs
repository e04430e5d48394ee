//! # Kind `suid` (G7): strip setuid/setgid bits a Docker host does not need
//!
//! What it does, in order:
//!
//! 1. **Scan** ([`scan`]) the root for regular files with `S_ISUID` or
//!    `S_ISGID`, never following a symlink, skipping `/proc`, `/sys`, `/dev`,
//!    `/run`, Docker's data root (`/var/lib/docker` and `data-root` from
//!    `/etc/docker/daemon.json`), dockhard's own folders, the rule's `skip`
//!    list and, on the live host, every mount of a pseudo, network, overlay or
//!    read-only image filesystem ([`scan::SKIPPED_FSTYPES`]). Only hits are
//!    kept; top-level directories are walked on a few threads, by directory
//!    handle, so a tree deeper than `PATH_MAX` is walked too. A hit whose
//!    path is too long to be changed by path is a high advisory, never a
//!    change.
//! 2. **Canonicalise** ([`resolve`]): the allow and review lists, dpkg's file
//!    lists and PATH may spell a file `/bin/su` on a merged-/usr system; they
//!    are resolved inside the root to the spelling the scan sees
//!    (`/usr/bin/su`). A same-named file elsewhere is another file.
//! 3. **Package ownership** ([`dpkg`]) of the hits only. Without a dpkg
//!    database (a non-Debian tree, a bare fixture) ownership is *unknown*,
//!    not "unpackaged": such files are planned for stripping like packaged
//!    ones, and a finding says ownership was not checked.
//! 4. **Decide** ([`decide`], a pure function) per path, then per inode
//!    (hard links and bind mounts of one inode are changed once):
//!    - allow list → KEEP (one summary finding);
//!    - review list → KEEP plus a medium finding "needs a decision";
//!    - owned by a non-root user, or not package-owned → INVESTIGATE: a high
//!      finding, and a change only if `strip_unpackaged = true`;
//!    - otherwise STRIP: a `SetMode` change clearing only `S_ISUID|S_ISGID`
//!      (`04754` → `0754`), never touching other bits or the owner.
//! 5. **Shadow copies** (C24): a file earlier in PATH with the base name of a
//!    kept set-id helper, that is world-writable, not package-owned or not
//!    owned by root, is reported high. Nothing is ever made setuid.
//!
//! Paths that could not be read are error findings (never a silent pass);
//! one unreadable directory does not fail the kind.

use super::{ChangeInfo, Context, Outcome};
use crate::catalog::RuleConfig;
use crate::error::{Error, Result};
use crate::host::{FileStat, FileType, HostRoot};
use crate::plan::{Change, Effect, Finding, Kind, Severity, Status};
use std::collections::{HashMap, HashSet};

pub mod dpkg;
pub mod resolve;
pub mod scan;

use dpkg::Ownership;
use resolve::{Resolver, join, normalise};
use scan::{Excludes, Hit};

/// The rule this kind implements.
pub const RULE: &str = "suid-strip";

/// The PATH searched for shadow copies of kept helpers (Debian's default
/// for root), earliest first.
pub const PATH_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Docker's default data root; never scanned (container layers).
pub const DOCKER_DATA_ROOT: &str = "/var/lib/docker";

/// Other container and image stores: their files are container content,
/// not the host's binaries, and changing them changes images.
pub const CONTAINER_STORES: &[&str] = &[
    "/var/lib/containerd",
    "/var/lib/containers",
    "/var/lib/lxc",
    "/var/lib/lxd",
    "/var/lib/machines",
    "/var/lib/buildkit",
];

/// Most unreadable paths reported one by one; the rest are counted.
const MAX_UNREADABLE_FINDINGS: usize = 20;

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_ISVTX: u32 = 0o1000;

/// Plans the `suid-strip` rule.
pub fn plan(ctx: &Context<'_>) -> Result<Outcome> {
    let Some(rule) = ctx.policy.enabled(RULE) else {
        return Ok(Outcome::default());
    };
    let mut out = Outcome::default();
    let mut resolver = Resolver::new(ctx.root);

    let excludes = excludes(
        ctx,
        &mut resolver,
        &rule.params.strings("skip"),
        &mut out.findings,
    );
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    // A progress line on a terminal (see crate::progress); the scan only
    // bumps the counters.
    let counters = std::sync::Arc::new(scan::Counters::default());
    let ticker = {
        let counters = counters.clone();
        crate::progress::Ticker::start(move || format!("scanning for set-id files: {}", counters.summary()))
    };
    let scanned = scan::scan_counted(ctx.root.path(), &excludes, threads, &counters).map_err(|e| {
        Error::io(&ctx.root.path().display().to_string(), e).context("scanning for set-id files")
    });
    drop(ticker);
    let scanned = scanned?;
    unreadable_findings(&scanned.unreadable, &mut out.findings);

    let lists = Lists::from_rule(rule, &mut resolver);
    let groups = group_by_inode(scanned.hits);

    // Shadow candidates of the helpers that will be kept (allow/review).
    let mut shadows = Vec::new();
    for group in &groups {
        for hit in group.iter().filter(|h| h.exact) {
            if lists.allow.contains(&hit.path) || lists.review.contains(&hit.path) {
                shadows.extend(find_shadows(ctx.root, &mut resolver, hit));
            }
        }
    }

    // Package ownership of the hits and the shadow candidates only.
    let ask: HashSet<String> = groups
        .iter()
        .flatten()
        .filter(|h| h.exact)
        .map(|h| h.path.clone())
        .chain(shadows.iter().map(|s| s.path.clone()))
        .collect();
    let db = dpkg::owners(ctx.root, &mut resolver, &ask);
    if let Some((_, unreadable)) = &db {
        for message in unreadable {
            out.findings.push(Finding::error(
                RULE,
                format!("could not read a dpkg file list, so package ownership may be wrong: {message}"),
            ));
        }
    }
    let db = db.map(|(map, _)| map);
    let owner_of = |path: &str| dpkg::ownership_of(db.as_ref(), path);
    let names = Names::load(ctx.root);

    let mut kept: Vec<String> = Vec::new();
    let mut unknown_ownership = 0usize;
    for group in &groups {
        plan_group(
            rule,
            &lists,
            group,
            &owner_of,
            &names,
            &mut out,
            &mut kept,
            &mut unknown_ownership,
        );
    }
    for shadow in &shadows {
        if let Some(finding) = shadow_finding(shadow, &owner_of(&shadow.path), &names) {
            out.findings.push(finding);
        }
    }
    if db.is_none() && unknown_ownership > 0 {
        out.findings.push(Finding::advisory(
            RULE,
            Severity::Low,
            format!(
                "package ownership not checked: the root has no dpkg database ({}); {} not on the allow or review list treated as package-owned and planned for stripping",
                dpkg::INFO_DIR,
                count(unknown_ownership)
            ),
        ));
    }
    let quiet = out.changes.is_empty()
        && out
            .findings
            .iter()
            .all(|f| f.status == Status::Compliant || f.severity <= Severity::Low);
    if quiet {
        out.findings.push(Finding::compliant(
            RULE,
            if kept.is_empty() {
                "no set-id files to strip".to_string()
            } else {
                format!(
                    "no set-id files to strip; {} kept by the allow list: {}",
                    count(kept.len()),
                    kept.join(", ")
                )
            },
        ));
    } else if !kept.is_empty() {
        out.findings.push(Finding::advisory(
            RULE,
            Severity::Info,
            format!(
                "{} kept by the allow list: {}",
                count(kept.len()),
                kept.join(", ")
            ),
        ));
    }
    Ok(out)
}

/// What is never scanned, as canonical paths inside the root.
fn excludes(
    ctx: &Context<'_>,
    resolver: &mut Resolver<'_>,
    skip: &[String],
    findings: &mut Vec<Finding>,
) -> Excludes {
    let mut ex = Excludes::default();
    let mut add = |path: &str, resolver: &mut Resolver<'_>| {
        let path = normalise(path);
        ex.insert(path.clone());
        ex.insert(resolver.full(&path));
    };
    for p in scan::ALWAYS_SKIPPED {
        add(p, resolver);
    }
    add(DOCKER_DATA_ROOT, resolver);
    for p in CONTAINER_STORES {
        add(p, resolver);
    }
    if let Some(data_root) = daemon_data_root(ctx.root) {
        add(&data_root, resolver);
    }
    for p in ctx.own_paths.iter().chain(skip) {
        add(p, resolver);
    }
    if ctx.live {
        match std::fs::read_to_string("/proc/self/mountinfo") {
            Ok(text) => {
                for point in scan::skipped_mount_points(&text) {
                    // Mount points as the machine sees them; keep those inside the root.
                    if let Ok(rel) = std::path::Path::new(&point).strip_prefix(ctx.root.path())
                        && let Some(rel) = rel.to_str()
                    {
                        ex.insert(normalise(rel));
                    }
                }
            }
            Err(err) => findings.push(Finding::advisory(
                RULE,
                Severity::Low,
                format!(
                    "could not read /proc/self/mountinfo ({err}): pseudo, network and overlay mounts are skipped only by name"
                ),
            )),
        }
    }
    ex
}

/// `data-root` (or the old `graph`) from the root's daemon.json, read
/// leniently: an unreadable or unparseable file is the daemon kind's to
/// report.
fn daemon_data_root(root: &HostRoot) -> Option<String> {
    let bytes = root.read_optional("/etc/docker/daemon.json").ok()??;
    let value = super::daemon::json_value(&bytes).ok()?;
    ["data-root", "graph"]
        .iter()
        .find_map(|key| value.get(key)?.as_str())
        .filter(|s| s.starts_with('/'))
        .map(str::to_string)
}

fn unreadable_findings(unreadable: &[(String, String)], findings: &mut Vec<Finding>) {
    for (path, message) in unreadable.iter().take(MAX_UNREADABLE_FINDINGS) {
        findings.push(
            Finding::error(
                RULE,
                format!("could not check {path} for set-id files: {message}"),
            )
            .with_target(path.clone()),
        );
    }
    if unreadable.len() > MAX_UNREADABLE_FINDINGS {
        findings.push(Finding::error(
            RULE,
            format!(
                "could not check {} more paths for set-id files (first ones listed above)",
                unreadable.len() - MAX_UNREADABLE_FINDINGS
            ),
        ));
    }
}

// ---------------------------------------------------------------------------
// Decisions

/// The rule's lists, canonical.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    pub allow: HashSet<String>,
    pub review: HashSet<String>,
    pub strip_unpackaged: bool,
}

impl Lists {
    /// From already canonical paths.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(
        allow: I,
        review: I,
        strip_unpackaged: bool,
    ) -> Lists {
        Lists {
            allow: allow.into_iter().map(Into::into).collect(),
            review: review.into_iter().map(Into::into).collect(),
            strip_unpackaged,
        }
    }

    /// From the rule's parameters, resolved inside the root.
    pub fn from_rule(rule: &RuleConfig, resolver: &mut Resolver<'_>) -> Lists {
        let canon = |key: &str, resolver: &mut Resolver<'_>| -> HashSet<String> {
            rule.params
                .strings(key)
                .iter()
                .map(|p| resolver.file(&normalise(p)))
                .collect()
        };
        Lists {
            allow: canon("allow", resolver),
            review: canon("review", resolver),
            strip_unpackaged: rule.params.boolean("strip_unpackaged"),
        }
    }
}

/// What to do with one set-id file. The order is precedence: when links of
/// one inode disagree, the first wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Keep,
    Review,
    Investigate,
    Strip,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Keep => "KEEP",
            Verdict::Review => "REVIEW",
            Verdict::Investigate => "INVESTIGATE",
            Verdict::Strip => "STRIP",
        }
    }
}

/// One file as the decision sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Canonical path inside the root.
    pub path: &'a str,
    /// `mode & 0o7777`.
    pub mode: u32,
    pub uid: u32,
    pub ownership: &'a Ownership,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// The mode after stripping (`mode` without `S_ISUID|S_ISGID`).
    pub new_mode: u32,
    /// Whether a change is planned (STRIP, or INVESTIGATE with
    /// `strip_unpackaged`).
    pub change: bool,
    pub reason: String,
    /// Something odd about a file that is kept: not owned by root, not
    /// package-owned. Reported high.
    pub warning: Option<String>,
}

/// Decides one file, purely from its path, mode, owner and package.
pub fn decide(c: &Candidate<'_>, lists: &Lists) -> Decision {
    let new_mode = c.mode & !(S_ISUID | S_ISGID);
    let mut odd = Vec::new();
    if c.uid != 0 {
        odd.push(format!("owned by uid {}, not root", c.uid));
    }
    if *c.ownership == Ownership::Unpackaged {
        odd.push("not package-owned".to_string());
    }
    let odd_text = (!odd.is_empty()).then(|| odd.join(", "));
    let decision = |verdict, change, reason: &str, warning| Decision {
        verdict,
        new_mode,
        change,
        reason: reason.to_string(),
        warning,
    };
    if lists.allow.contains(c.path) {
        decision(Verdict::Keep, false, "on the allow list", odd_text)
    } else if lists.review.contains(c.path) {
        decision(
            Verdict::Review,
            false,
            "on the review list: kept, needs a decision",
            odd_text,
        )
    } else if let Some(odd) = odd_text {
        decision(Verdict::Investigate, lists.strip_unpackaged, &odd, None)
    } else {
        decision(Verdict::Strip, true, "not needed on a Docker host", None)
    }
}

/// Whether a path inside the root can be opened by name: the scan walks by
/// directory handle and finds files at any depth, but changes are applied
/// by path, relative to the root, and a path name of `PATH_MAX` bytes or
/// more (with its NUL) is refused with ENAMETOOLONG.
pub fn reachable_by_path(path: &str) -> bool {
    let relative = path.trim_start_matches('/');
    relative.len() < libc::PATH_MAX as usize
}

/// Hits grouped by inode (hard links, bind mounts); groups in path order,
/// each group's paths sorted.
pub fn group_by_inode(hits: Vec<Hit>) -> Vec<Vec<Hit>> {
    let mut index: HashMap<(u64, u64), usize> = HashMap::new();
    let mut groups: Vec<Vec<Hit>> = Vec::new();
    for hit in hits {
        match index.get(&(hit.stat.dev, hit.stat.ino)) {
            Some(&i) => groups[i].push(hit),
            None => {
                index.insert((hit.stat.dev, hit.stat.ino), groups.len());
                groups.push(vec![hit]);
            }
        }
    }
    for group in &mut groups {
        group.sort_by(|a, b| a.path.cmp(&b.path));
    }
    groups.sort_by(|a, b| a[0].path.cmp(&b[0].path));
    groups
}

#[allow(clippy::too_many_arguments)]
fn plan_group(
    rule: &RuleConfig,
    lists: &Lists,
    group: &[Hit],
    owner_of: &dyn Fn(&str) -> Ownership,
    names: &Names,
    out: &mut Outcome,
    kept: &mut Vec<String>,
    unknown_ownership: &mut usize,
) {
    let primary = &group[0];
    let st = &primary.stat;
    if let Some(odd) = group.iter().find(|h| !h.exact) {
        out.findings.push(
            Finding::advisory(
                RULE,
                Severity::High,
                format!(
                    "{} {} ({}) has a file name that is not valid UTF-8; it is not changed automatically. Investigate it and strip it by hand (`chmod u-s,g-s`) if it is not needed",
                    odd.path,
                    bits_name(st.mode),
                    octal(st.mode)
                ),
            )
            .with_target(odd.path.clone()),
        );
        return;
    }
    if let Some(deep) = group.iter().find(|h| !reachable_by_path(&h.path)) {
        let top = deep.path.split('/').nth(1).unwrap_or_default();
        out.findings.push(
            Finding::advisory(
                RULE,
                Severity::High,
                format!(
                    "{} {} ({}) lies in a tree deeper than PATH_MAX ({} bytes of path); dockhard changes files by path and cannot reach it, so it is not changed automatically. Investigate it and strip it by hand if it is not needed, e.g. `find /{top} -xdev -inum {} -exec chmod u-s,g-s {{}} +` (find walks by directory handle)",
                    deep.path,
                    bits_name(st.mode),
                    octal(st.mode),
                    deep.path.len(),
                    st.ino
                ),
            )
            .with_target(deep.path.clone()),
        );
        return;
    }
    let decided: Vec<(&Hit, Ownership, Decision)> = group
        .iter()
        .map(|h| {
            let ownership = owner_of(&h.path);
            let d = decide(
                &Candidate {
                    path: &h.path,
                    mode: h.stat.mode,
                    uid: h.stat.uid,
                    ownership: &ownership,
                },
                lists,
            );
            (h, ownership, d)
        })
        .collect();
    let verdict = decided
        .iter()
        .map(|(_, _, d)| d.verdict)
        .min()
        .unwrap_or(Verdict::Strip);
    let owner = names.owner(st.uid, st.gid);
    let links = links_note(group, st);

    match verdict {
        Verdict::Keep | Verdict::Review => {
            for (hit, ownership, d) in &decided {
                match d.verdict {
                    Verdict::Keep => {
                        kept.push(hit.path.clone());
                        if let Some(w) = &d.warning {
                            out.findings.push(
                                Finding::advisory(
                                    RULE,
                                    Severity::High,
                                    format!(
                                        "{} is on the allow list and kept {} ({}), but it is {w} (owner {owner}, {}); check that it is the real helper",
                                        hit.path,
                                        bits_name(st.mode),
                                        octal(st.mode),
                                        ownership.describe()
                                    ),
                                )
                                .with_target(hit.path.clone()),
                            );
                        }
                    }
                    Verdict::Review => {
                        let mut message = format!(
                            "{} is {} ({} {}, owner {owner}, {}) and on the review list: kept, needs a decision. If it were stripped: {} Remove it from `review` in the profile to strip it, or add it to `allow` to keep it quietly",
                            hit.path,
                            bits_name(st.mode),
                            octal(st.mode),
                            mode_string(st.mode),
                            ownership.describe(),
                            effect_of(&hit.path, st, names),
                        );
                        if let Some(w) = &d.warning {
                            message.push_str(&format!("; note: it is {w}"));
                        }
                        let severity = if d.warning.is_some() {
                            Severity::High
                        } else {
                            Severity::Medium
                        };
                        out.findings
                            .push(Finding::advisory(RULE, severity, message).with_target(hit.path.clone()));
                    }
                    Verdict::Investigate | Verdict::Strip => {
                        let protected = decided
                            .iter()
                            .find(|(_, _, o)| o.verdict <= Verdict::Review)
                            .map(|(h, _, _)| h.path.as_str())
                            .unwrap_or_default();
                        out.findings.push(
                            Finding::advisory(
                                RULE,
                                Severity::High,
                                format!(
                                    "{} is the same inode as the kept set-id file {protected} (a hard link or bind mount), so it is not stripped: stripping it would strip {protected} too. A second link to a set-id binary keeps it (and its bugs) around after upgrades; remove the extra link if nothing needs it",
                                    hit.path
                                ),
                            )
                            .with_target(hit.path.clone()),
                        );
                    }
                }
            }
        }
        Verdict::Investigate => {
            let (hit, ownership, d) = decided
                .iter()
                .find(|(_, _, d)| d.verdict == Verdict::Investigate)
                .expect("an investigated path");
            let action = if d.change {
                "planned for stripping because strip_unpackaged = true"
            } else {
                "not changed; set strip_unpackaged = true in the profile to strip it, or add it to `allow` to keep it"
            };
            out.findings.push(
                Finding::advisory(
                    RULE,
                    Severity::High,
                    format!(
                        "INVESTIGATE: {} is {} ({} {}, owner {owner}, {}) and {}{}; {action}",
                        hit.path,
                        bits_name(st.mode),
                        octal(st.mode),
                        mode_string(st.mode),
                        ownership.describe(),
                        d.reason,
                        links.as_ref().map(|l| format!("; {l}")).unwrap_or_default(),
                    ),
                )
                .with_target(hit.path.clone()),
            );
            if d.change {
                out.changes.push(strip_change(
                    rule,
                    primary,
                    &decided[0].1,
                    group,
                    d,
                    names,
                    links.as_deref(),
                ));
            }
        }
        Verdict::Strip => {
            let (_, ownership, d) = &decided[0];
            if *ownership == Ownership::Unknown {
                *unknown_ownership += 1;
            }
            out.changes.push(strip_change(
                rule,
                primary,
                ownership,
                group,
                d,
                names,
                links.as_deref(),
            ));
        }
    }
}

/// Says which other names the inode has, if any.
fn links_note(group: &[Hit], st: &FileStat) -> Option<String> {
    if st.nlink <= 1 && group.len() <= 1 {
        return None;
    }
    let others: Vec<&str> = group[1..].iter().map(|h| h.path.as_str()).collect();
    let mut note = format!(
        "{} hard link{}: the bits of every hard link to this inode change",
        st.nlink,
        if st.nlink == 1 { "" } else { "s" }
    );
    if !others.is_empty() {
        note.push_str(&format!(" (also {})", others.join(", ")));
    }
    let unseen = (st.nlink as usize).saturating_sub(group.len());
    if unseen > 0 {
        note.push_str(&format!(
            "; {unseen} link{} outside the scanned tree",
            if unseen == 1 { " is" } else { "s are" }
        ));
    }
    Some(note)
}

fn strip_change(
    rule: &RuleConfig,
    hit: &Hit,
    ownership: &Ownership,
    group: &[Hit],
    d: &Decision,
    names: &Names,
    links: Option<&str>,
) -> Change {
    let st = &hit.stat;
    let mut summary = format!(
        "strip {} from {} ({} -> {})",
        bits_name(st.mode),
        hit.path,
        octal(st.mode),
        octal(d.new_mode)
    );
    if group.len() > 1 || st.nlink > 1 {
        summary.push_str(&format!(", {} hard links", st.nlink.max(group.len() as u64)));
    }
    if d.verdict == Verdict::Investigate {
        summary.push_str(&format!(", {}", d.reason));
    }
    let mut diff = format!(
        "{}  owner {}  {}\n{} ({}) -> {} ({})\n",
        hit.path,
        names.owner(st.uid, st.gid),
        ownership.describe(),
        mode_string(st.mode),
        octal(st.mode),
        mode_string(d.new_mode),
        octal(d.new_mode)
    );
    if let Some(links) = links {
        diff.push_str(links);
        diff.push('\n');
    }
    let mut may_break = effect_of(&hit.path, st, names);
    if let Some(links) = links {
        may_break.push_str(&format!(" The file has {links}."));
    }
    may_break.push_str(
        " Package upgrades reinstall the packaged mode; `dockhard plan` then shows the drift again.",
    );
    super::set_mode_change(
        Kind::Suid,
        &hit.path,
        st,
        d.new_mode,
        diff,
        ChangeInfo::new(rule, summary, Effect::Now).may_break(may_break),
    )
}

// ---------------------------------------------------------------------------
// Shadow copies in PATH (C24)

/// A file earlier in PATH with the base name of a kept set-id helper.
#[derive(Debug, Clone)]
pub struct Shadow {
    pub path: String,
    /// The kept helper it shadows.
    pub helper: String,
    /// The file run (the link's target for a symlink); `None`: dangling link.
    pub stat: Option<FileStat>,
    /// Where a symlink points (canonical), if it is one.
    pub link_to: Option<String>,
}

/// Files in PATH directories before the helper's own with the same name,
/// that are not the helper itself.
pub fn find_shadows(root: &HostRoot, resolver: &mut Resolver<'_>, helper: &Hit) -> Vec<Shadow> {
    let Some((dir, name)) = helper.path.rsplit_once('/') else {
        return Vec::new();
    };
    let dir = if dir.is_empty() { "/" } else { dir };
    let mut path_dirs: Vec<String> = Vec::new();
    for d in PATH_DIRS {
        let c = resolver.dir(d);
        if !path_dirs.contains(&c) {
            path_dirs.push(c);
        }
    }
    let Some(pos) = path_dirs.iter().position(|d| d == dir) else {
        return Vec::new();
    };
    let same = |st: &FileStat| st.dev == helper.stat.dev && st.ino == helper.stat.ino;
    let mut found = Vec::new();
    for earlier in &path_dirs[..pos] {
        let path = join(earlier, name);
        let Ok(Some(st)) = root.lstat(&path) else {
            continue;
        };
        match st.file_type {
            FileType::File if !same(&st) => found.push(Shadow {
                path,
                helper: helper.path.clone(),
                stat: Some(st),
                link_to: None,
            }),
            FileType::Symlink => {
                let target = resolver.full(&path);
                let tst = root.stat(&path).ok().flatten();
                if target == helper.path || tst.as_ref().is_some_and(same) {
                    continue;
                }
                found.push(Shadow {
                    path,
                    helper: helper.path.clone(),
                    stat: tst.filter(|t| t.file_type == FileType::File),
                    link_to: Some(target),
                });
            }
            _ => {}
        }
    }
    found
}

/// The finding for a shadow copy, if it is suspicious: world-writable, not
/// package-owned, not owned by root, or a dangling link. A packaged,
/// root-owned copy is a packaging choice and is left alone; with no package
/// database it is reported medium.
pub fn shadow_finding(shadow: &Shadow, ownership: &Ownership, names: &Names) -> Option<Finding> {
    let mut why = Vec::new();
    match &shadow.stat {
        Some(st) => {
            if st.mode & 0o002 != 0 {
                why.push(format!("world-writable ({})", octal(st.mode)));
            }
            if st.uid != 0 {
                why.push(format!("owned by {}, not root", names.user(st.uid)));
            }
        }
        None => why.push("a dangling link".to_string()),
    }
    match ownership {
        Ownership::Unpackaged => why.push("not package-owned".to_string()),
        Ownership::Unknown if why.is_empty() => why.push("package ownership not checked".to_string()),
        _ => {}
    }
    if why.is_empty() {
        return None;
    }
    let severity = if why.len() == 1 && *ownership == Ownership::Unknown {
        Severity::Medium
    } else {
        Severity::High
    };
    let name = shadow.path.rsplit('/').next().unwrap_or_default();
    let link = shadow
        .link_to
        .as_ref()
        .map(|t| format!(" (a link to {t})"))
        .unwrap_or_default();
    Some(
        Finding::advisory(
            RULE,
            severity,
            format!(
                "{}{link} shadows the protected set-id helper {} (it comes earlier in PATH): {}. Root and other users who run `{name}` get this file instead of the helper, and the helper's function fails; anyone who can write it controls what they run. Remove the stray copy, or at least `chmod 0755` it and find out where it came from; never make it setuid",
                shadow.path,
                shadow.helper,
                why.join(", ")
            ),
        )
        .with_target(shadow.path.clone()),
    )
}

// ---------------------------------------------------------------------------
// Text

/// `1 set-id file`, `3 set-id files`.
fn count(n: usize) -> String {
    format!("{n} set-id file{}", if n == 1 { "" } else { "s" })
}

/// `04755` / `0755`: octal with a leading zero, as `find -printf %#m`.
pub fn octal(mode: u32) -> String {
    let mode = mode & 0o7777;
    if mode >= 0o1000 {
        format!("0{mode:o}")
    } else {
        format!("{mode:04o}")
    }
}

/// `ls -l` style permissions of a regular file: `-rwsr-xr-x`, with `S`/`T`
/// when the set-id or sticky bit is set without the execute bit under it.
pub fn mode_string(mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push('-');
    let triples = [(6, S_ISUID, 's'), (3, S_ISGID, 's'), (0, S_ISVTX, 't')];
    for (shift, special, letter) in triples {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let exec = bits & 1 != 0;
        s.push(match (mode & special != 0, exec) {
            (true, true) => letter,
            (true, false) => letter.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// `setuid`, `setgid` or `setuid and setgid`.
pub fn bits_name(mode: u32) -> &'static str {
    match (mode & S_ISUID != 0, mode & S_ISGID != 0) {
        (true, true) => "setuid and setgid",
        (true, false) => "setuid",
        (false, true) => "setgid",
        (false, false) => "not set-id",
    }
}

/// What stops working when a known binary loses its set-id bits.
pub fn known_effect(name: &str) -> Option<&'static str> {
    Some(match name {
        "chfn" => "Non-root users can no longer change their own full name and other finger fields (`chfn`).",
        "chsh" => "Non-root users can no longer change their own login shell (`chsh`).",
        "gpasswd" => {
            "Group administrators who are not root can no longer manage members and passwords of their groups (`gpasswd`)."
        }
        "newgrp" | "sg" => "Non-root users can no longer switch to another group (`newgrp`, `sg`).",
        "chage" => "Non-root users lose `chage -l` (viewing their own password ageing) only.",
        "expiry" => "Non-root users can no longer check their password expiry with `expiry`.",
        "ssh-keysign" => {
            "Host-based SSH authentication (HostbasedAuthentication) from this host stops working."
        }
        "pppd" => "Non-root users (group dip) can no longer start PPP connections.",
        "mount" | "umount" => {
            "Non-root users can no longer mount or unmount fstab entries marked `user`/`users` (removable media, FUSE helpers that call mount)."
        }
        "at" | "batch" => "Non-root users can no longer queue jobs with `at`/`batch`.",
        "wall" => "Messages that non-root users send with `wall` no longer reach other users' terminals.",
        "write" | "bsd-write" => "`write` to other users' terminals stops working for non-root users.",
        "ping" | "ping6" | "arping" | "traceroute6" | "traceroute6.iputils" | "clockdiff" => {
            "Non-root users can no longer send raw ICMP (ping) unless unprivileged ICMP (net.ipv4.ping_group_range) or a file capability allows it."
        }
        "mount.nfs" | "mount.nfs4" | "umount.nfs" | "umount.nfs4" | "mount.cifs" | "mount.smb3" => {
            "Non-root users can no longer mount network shares from fstab `user` entries."
        }
        "ntfs-3g" => "Non-root users can no longer mount NTFS volumes.",
        "Xorg.wrap" => "Starting X as a non-root user (`startx`) stops working.",
        "dotlockfile" => "Mail clients run by users can no longer lock the mail spool.",
        "screen" => "Multi-user `screen` sessions stop working.",
        "exim4" => "Local mail submission by non-root users may fail.",
        "plocate" | "mlocate" | "locate" => "Non-root users can no longer search the locate database.",
        "staprun" => "Non-root members of the stapusr group can no longer load SystemTap modules.",
        "crontab" => "Non-root users can no longer edit their crontabs (`crontab -e`).",
        "fusermount" | "fusermount3" => {
            "Unprivileged FUSE mounts (sshfs, rclone, fuse-overlayfs for rootless Docker) stop working."
        }
        "newuidmap" | "newgidmap" => {
            "Rootless containers (user namespaces with subuid/subgid ranges) stop working."
        }
        "sudo" => {
            "Admins can no longer gain root with sudo (`sudo must be owned by uid 0 and have the setuid bit set`)."
        }
        "su" => "Nobody but root can use `su`: the fallback root login is gone.",
        "passwd" => "Non-root users can no longer change their own password.",
        "unix_chkpwd" => "Password checks by non-root processes (screen lockers, some PAM users) fail.",
        "pkexec" => "Non-root users can no longer run programs as another user through polkit (`pkexec`).",
        "polkit-agent-helper-1" => "Polkit authentication prompts stop working.",
        "dbus-daemon-launch-helper" => "Activation of system bus services on demand stops working.",
        "ssh-agent" => {
            "ssh-agent loses its setgid _ssh, which keeps other processes of the same user from attaching to it with ptrace."
        }
        "utempter" => "Terminal emulators can no longer record sessions in utmp/wtmp.",
        _ => return None,
    })
}

/// The "may break" text for one file.
fn effect_of(path: &str, st: &FileStat, names: &Names) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    match known_effect(name) {
        Some(text) => text.to_string(),
        None => {
            let whose = match (st.mode & S_ISUID != 0, st.mode & S_ISGID != 0) {
                (true, true) => format!("user {} and group {}", names.user(st.uid), names.group(st.gid)),
                (true, false) => format!("user {}", names.user(st.uid)),
                _ => format!("group {}", names.group(st.gid)),
            };
            format!(
                "`{name}` no longer runs with the privileges of {whose} when other users start it; whatever needs that stops working for them. Root is not affected."
            )
        }
    }
}

/// User and group names from the root's /etc/passwd and /etc/group.
#[derive(Debug, Default)]
pub struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    pub fn load(root: &HostRoot) -> Names {
        let read = |path: &str| -> HashMap<u32, String> {
            let Ok(Some(bytes)) = root.read_optional(path) else {
                return HashMap::new();
            };
            parse_id_names(&String::from_utf8_lossy(&bytes))
        };
        Names {
            users: read("/etc/passwd"),
            groups: read("/etc/group"),
        }
    }

    pub fn user(&self, uid: u32) -> String {
        self.users.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
    }

    pub fn group(&self, gid: u32) -> String {
        self.groups.get(&gid).cloned().unwrap_or_else(|| gid.to_string())
    }

    /// `root:shadow`, numeric where a name is unknown.
    pub fn owner(&self, uid: u32, gid: u32) -> String {
        format!("{}:{}", self.user(uid), self.group(gid))
    }
}

/// `name:x:ID:...` lines → ID → name (the first name for an ID wins).
fn parse_id_names(text: &str) -> HashMap<u32, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let Ok(id) = id.trim().parse::<u32>()
            && !name.is_empty()
        {
            map.entry(id).or_insert_with(|| name.to_string());
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing::{apply_changes, case_dir, context, empty_root, policy};
    use crate::plan::Action;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
    use std::path::Path;

    const C23: &str = "C23-suid-protected-allowlist";
    const C24: &str = "C24-suid-fusermount3-shadow-copy";

    /// Creates a regular file with owner and mode (chown first: it clears
    /// set-id bits).
    fn put(dir: &Path, path: &str, mode: u32, uid: u32, gid: u32) {
        let file = dir.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, format!("binary {path}\n")).unwrap();
        std::os::unix::fs::chown(&file, Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o7777, mode);
    }

    fn mode_on_disk(dir: &Path, path: &str) -> u32 {
        std::fs::symlink_metadata(dir.join(path.trim_start_matches('/')))
            .unwrap()
            .mode()
            & 0o7777
    }

    fn dpkg_list(dir: &Path, package: &str, paths: &[&str]) {
        let info = dir.join("var/lib/dpkg/info");
        std::fs::create_dir_all(&info).unwrap();
        let mut text = "/.\n".to_string();
        for p in paths {
            text.push_str(p);
            text.push('\n');
        }
        std::fs::write(info.join(format!("{package}.list")), text).unwrap();
    }

    fn set_mode_of<'a>(changes: &'a [Change], path: &str) -> Option<&'a Action> {
        changes.iter().map(|c| &c.action).find(|a| a.path() == path)
    }

    fn findings_for<'a>(out: &'a Outcome, path: &str) -> Vec<&'a Finding> {
        out.findings
            .iter()
            .filter(|f| f.target.as_deref() == Some(path))
            .collect()
    }

    fn plan_with(root: &HostRoot, profile: &str) -> Outcome {
        let policy = policy(profile);
        plan(&context(root, &policy)).unwrap()
    }

    fn no_errors(out: &Outcome) {
        let errors: Vec<_> = out
            .findings
            .iter()
            .filter(|f| f.status == Status::Error)
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }

    // --- text ------------------------------------------------------------

    #[test]
    fn mode_string_shows_special_bits_like_ls() {
        assert_eq!(mode_string(0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o0755), "-rwxr-xr-x");
        assert_eq!(mode_string(0o2755), "-rwxr-sr-x");
        assert_eq!(mode_string(0o6755), "-rwsr-sr-x");
        assert_eq!(mode_string(0o4754), "-rwsr-xr--");
        assert_eq!(mode_string(0o4644), "-rwSr--r--");
        assert_eq!(mode_string(0o2644), "-rw-r-Sr--");
        assert_eq!(mode_string(0o1777), "-rwxrwxrwt");
        assert_eq!(mode_string(0o1776), "-rwxrwxrwT");
        assert_eq!(mode_string(0o4711), "-rws--x--x");
        assert_eq!(mode_string(0), "----------");
    }

    #[test]
    fn octal_and_bit_names() {
        assert_eq!(octal(0o4755), "04755");
        assert_eq!(octal(0o755), "0755");
        assert_eq!(octal(0o6755), "06755");
        assert_eq!(octal(0o55), "0055");
        assert_eq!(bits_name(0o6755), "setuid and setgid");
        assert_eq!(bits_name(0o2755), "setgid");
        assert_eq!(bits_name(0o4711), "setuid");
        assert!(known_effect("chfn").unwrap().contains("chfn"));
        assert!(known_effect("no-such-tool").is_none());
        let names = Names {
            users: parse_id_names(
                "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbroken\n",
            ),
            groups: parse_id_names("root:x:0:\nshadow:x:42:\n"),
        };
        assert_eq!(names.owner(0, 42), "root:shadow");
        assert_eq!(names.owner(1000, 7), "alice:7");
    }

    // --- decisions -------------------------------------------------------

    fn default_lists() -> Lists {
        let policy = policy("");
        let rule = policy.rule(RULE);
        Lists::new(
            rule.params.strings("allow"),
            rule.params.strings("review"),
            rule.params.boolean("strip_unpackaged"),
        )
    }

    fn decide_one(lists: &Lists, path: &str, mode: u32, uid: u32, ownership: Ownership) -> Decision {
        decide(
            &Candidate {
                path,
                mode,
                uid,
                ownership: &ownership,
            },
            lists,
        )
    }

    #[test]
    fn decide_clears_only_set_id_bits() {
        let lists = default_lists();
        let pkg = || Ownership::Packaged("ppp".to_string());
        let d = decide_one(&lists, "/usr/sbin/pppd", 0o4754, 0, pkg());
        assert_eq!((d.verdict, d.new_mode, d.change), (Verdict::Strip, 0o754, true));
        let d = decide_one(&lists, "/usr/bin/x", 0o7755, 0, pkg());
        assert_eq!(d.new_mode, 0o1755, "the sticky bit stays");
        let d = decide_one(&lists, "/usr/bin/x", 0o2711, 0, Ownership::Unknown);
        assert_eq!((d.verdict, d.new_mode), (Verdict::Strip, 0o711));
    }

    #[test]
    fn decide_allow_review_investigate() {
        let mut lists = default_lists();
        let pkg = || Ownership::Packaged("p".to_string());
        assert_eq!(
            decide_one(&lists, "/usr/bin/sudo", 0o4755, 0, pkg()).verdict,
            Verdict::Keep
        );
        assert_eq!(
            decide_one(&lists, "/usr/bin/sudo", 0o4755, 0, pkg()).warning,
            None
        );
        // By full path, not by name.
        assert_eq!(
            decide_one(&lists, "/usr/local/bin/sudo", 0o4755, 0, pkg()).verdict,
            Verdict::Strip
        );
        let d = decide_one(&lists, "/usr/bin/mount", 0o4755, 0, pkg());
        assert_eq!((d.verdict, d.change), (Verdict::Review, false));
        // An allowed path that no package owns is kept, with a warning.
        let d = decide_one(&lists, "/usr/bin/sudo", 0o4755, 0, Ownership::Unpackaged);
        assert_eq!(d.verdict, Verdict::Keep);
        assert!(d.warning.unwrap().contains("not package-owned"));
        let d = decide_one(&lists, "/usr/local/bin/tool", 0o6755, 0, Ownership::Unpackaged);
        assert_eq!((d.verdict, d.change), (Verdict::Investigate, false));
        let d = decide_one(&lists, "/home/alice/bin/tool", 0o4755, 1000, pkg());
        assert_eq!((d.verdict, d.change), (Verdict::Investigate, false));
        assert!(d.reason.contains("uid 1000"), "{}", d.reason);
        lists.strip_unpackaged = true;
        let d = decide_one(&lists, "/usr/local/bin/tool", 0o6755, 0, Ownership::Unpackaged);
        assert_eq!(
            (d.verdict, d.change, d.new_mode),
            (Verdict::Investigate, true, 0o755)
        );
        // Unknown ownership (no dpkg database) is not "unpackaged".
        let d = decide_one(&lists, "/usr/local/bin/tool", 0o4755, 0, Ownership::Unknown);
        assert_eq!(d.verdict, Verdict::Strip);
    }

    /// `dpkg -S` output → path → ownership.
    fn parse_dpkg_s(text: &str) -> HashMap<String, Ownership> {
        let mut map = HashMap::new();
        for line in text.lines() {
            if let Some(path) = line.strip_prefix("dpkg-query: no path found matching pattern ") {
                map.insert(path.to_string(), Ownership::Unpackaged);
            } else if let Some((pkgs, path)) = line.split_once(": ") {
                let pkg = pkgs.split(", ").next().unwrap().to_string();
                map.insert(path.to_string(), Ownership::Packaged(pkg));
            }
        }
        map
    }

    /// `find -printf '%#m %u %g %p'` lines → (mode, user, group, path).
    fn parse_find(text: &str) -> Vec<(u32, String, String, String)> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.splitn(4, ' ').collect();
                (
                    u32::from_str_radix(f[0], 8).unwrap(),
                    f[1].to_string(),
                    f[2].to_string(),
                    f[3].to_string(),
                )
            })
            .collect()
    }

    /// expected/plan.tsv → path → (action, new_mode).
    fn expected_plan() -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(case_dir(C23).join("expected/plan.tsv")).unwrap();
        text.lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].to_string(), f[2].to_string(), f[3].to_string())
            })
            .collect()
    }

    fn read_case(case: &str, file: &str) -> String {
        std::fs::read_to_string(case_dir(case).join(file)).unwrap()
    }

    fn uid_of(user: &str) -> u32 {
        match user {
            "root" => 0,
            "alice" => 1000,
            other => panic!("unknown user {other}"),
        }
    }

    fn gid_of(group: &str) -> u32 {
        match group {
            "root" => 0,
            "dip" => 30,
            "shadow" => 42,
            "messagebus" => 101,
            "crontab" => 107,
            "_ssh" => 108,
            "alice" => 1000,
            other => panic!("unknown group {other}"),
        }
    }

    #[test]
    fn c23_decisions_match_expected_plan() {
        let lists = default_lists();
        let owners = parse_dpkg_s(&read_case(C23, "input/cmd/dpkg-S.txt"));
        let found = parse_find(&read_case(C23, "input/cmd/find-setid.txt"));
        let expected = expected_plan();
        assert_eq!(found.len(), expected.len());
        for (mode, user, _group, path) in &found {
            let ownership = owners.get(path).cloned().unwrap_or(Ownership::Unpackaged);
            let d = decide_one(&lists, path, *mode, uid_of(user), ownership);
            let (_, action, new_mode) = expected.iter().find(|(p, _, _)| p == path).unwrap();
            assert_eq!(d.verdict.as_str(), action, "{path}");
            let got_mode = if d.verdict == Verdict::Strip {
                octal(d.new_mode)
            } else {
                "-".to_string()
            };
            assert_eq!(&got_mode, new_mode, "{path}");
            assert_eq!(d.change, d.verdict == Verdict::Strip, "{path}");
        }
    }

    /// Builds a root from a case's find-setid.txt and dpkg-S.txt.
    fn case_root(case: &str) -> (tempfile::TempDir, HostRoot) {
        let (dir, root) = empty_root();
        let d = dir.path();
        for (mode, user, group, path) in parse_find(&read_case(case, "input/cmd/find-setid.txt")) {
            put(d, &path, mode, uid_of(&user), gid_of(&group));
        }
        let mut lists: HashMap<String, Vec<String>> = HashMap::new();
        for (path, ownership) in parse_dpkg_s(&read_case(case, "input/cmd/dpkg-S.txt")) {
            if let Ownership::Packaged(pkg) = ownership {
                lists.entry(pkg).or_default().push(path);
            }
        }
        for (pkg, paths) in &lists {
            let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
            dpkg_list(d, pkg, &paths);
        }
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(
            d.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.join("etc/group"),
            "root:x:0:\ndip:x:30:\nshadow:x:42:\nalice:x:1000:\n",
        )
        .unwrap();
        (dir, root)
    }

    #[test]
    fn c23_fixture_root_plan_and_apply() {
        let (dir, root) = case_root(C23);
        let out = plan_with(&root, "");
        no_errors(&out);
        let expected = expected_plan();
        let strips = expected.iter().filter(|(_, a, _)| a == "STRIP").count();
        assert_eq!(out.changes.len(), strips, "{:#?}", out.changes);
        for (path, action, new_mode) in &expected {
            let change = set_mode_of(&out.changes, path);
            let findings = findings_for(&out, path);
            match action.as_str() {
                "STRIP" => {
                    let Some(Action::SetMode { mode, expect, .. }) = change else {
                        panic!("{path}: no SetMode change");
                    };
                    assert_eq!(&octal(*mode), new_mode, "{path}");
                    assert_eq!(expect.mode & !0o6000, *mode, "{path}: only set-id bits change");
                    assert!(findings.is_empty(), "{path}: {findings:?}");
                }
                "KEEP" => {
                    assert!(change.is_none(), "{path}");
                    assert!(findings.is_empty(), "{path}: {findings:?}");
                }
                "REVIEW" => {
                    assert!(change.is_none(), "{path}");
                    assert_eq!(findings.len(), 1, "{path}");
                    assert_eq!(findings[0].severity, Severity::Medium);
                    assert!(findings[0].message.contains("needs a decision"));
                }
                "INVESTIGATE" => {
                    assert!(change.is_none(), "{path}");
                    assert_eq!(findings.len(), 1, "{path}");
                    assert_eq!(findings[0].severity, Severity::High);
                    assert!(
                        findings[0].message.starts_with("INVESTIGATE"),
                        "{}",
                        findings[0].message
                    );
                }
                other => panic!("unknown action {other}"),
            }
        }
        let chfn = out.changes.iter().find(|c| c.target == "/usr/bin/chfn").unwrap();
        assert_eq!(chfn.summary, "strip setuid from /usr/bin/chfn (04755 -> 0755)");
        assert!(
            chfn.diff.contains("-rwsr-xr-x (04755) -> -rwxr-xr-x (0755)"),
            "{}",
            chfn.diff
        );
        assert!(
            chfn.diff.contains("root:root") && chfn.diff.contains("package passwd"),
            "{}",
            chfn.diff
        );
        assert!(chfn.may_break.as_deref().unwrap().contains("chfn"));
        let pppd = out.changes.iter().find(|c| c.target == "/usr/sbin/pppd").unwrap();
        assert!(
            pppd.diff.contains("-rwsr-xr-- (04754) -> -rwxr-xr-- (0754)"),
            "{}",
            pppd.diff
        );
        assert!(pppd.diff.contains("root:dip"), "{}", pppd.diff);
        // The plan is sorted by path.
        let targets: Vec<&str> = out.changes.iter().map(|c| c.target.as_str()).collect();
        let mut sorted = targets.clone();
        sorted.sort();
        assert_eq!(targets, sorted);

        apply_changes(&root, &out.changes);
        for (path, action, new_mode) in &expected {
            let found = parse_find(&read_case(C23, "input/cmd/find-setid.txt"));
            let before = found.iter().find(|f| &f.3 == path).unwrap().0;
            let after = mode_on_disk(dir.path(), path);
            if action == "STRIP" {
                assert_eq!(&octal(after), new_mode, "{path}");
            } else {
                assert_eq!(after, before, "{path} must keep its mode");
            }
        }
        assert_eq!(mode_on_disk(dir.path(), "/usr/bin/sudo"), 0o4755);
        assert_eq!(mode_on_disk(dir.path(), "/usr/sbin/unix_chkpwd"), 0o2755);
        // Ownership is untouched.
        let meta = std::fs::metadata(dir.path().join("usr/sbin/pppd")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, 30));
        // Idempotent: nothing left to strip.
        let again = plan_with(&root, "");
        assert!(again.changes.is_empty(), "{:#?}", again.changes);
    }

    #[test]
    fn c23_strip_unpackaged_plans_the_investigated_files() {
        let (_dir, root) = case_root(C23);
        let out = plan_with(&root, "[rules.suid-strip]\nstrip_unpackaged = true\n");
        for path in [
            "/usr/local/bin/backup-helper",
            "/home/alice/bin/tool",
            "/opt/vendor/bin/vendor-agent",
        ] {
            assert!(set_mode_of(&out.changes, path).is_some(), "{path}");
            assert_eq!(findings_for(&out, path)[0].severity, Severity::High);
        }
        let Some(Action::SetMode { mode, .. }) = set_mode_of(&out.changes, "/opt/vendor/bin/vendor-agent")
        else {
            panic!()
        };
        assert_eq!(*mode, 0o711);
        assert!(set_mode_of(&out.changes, "/usr/bin/sudo").is_none());
    }

    #[test]
    fn c24_shadow_copy_is_reported_and_helper_kept() {
        let path_line = read_case(C24, "input/cmd/path.txt");
        assert_eq!(path_line.trim(), format!("PATH={}", PATH_DIRS.join(":")));
        let (dir, root) = case_root(C24);
        for line in read_case(C24, "input/cmd/stat-fusermount3.txt").lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let path = f.last().unwrap();
            if !dir.path().join(path.trim_start_matches('/')).exists() {
                put(
                    dir.path(),
                    path,
                    u32::from_str_radix(f[0], 8).unwrap(),
                    uid_of(f[1]),
                    gid_of(f[2]),
                );
            }
        }
        let out = plan_with(&root, "");
        no_errors(&out);
        assert!(out.changes.is_empty(), "{:#?}", out.changes);
        assert!(findings_for(&out, "/usr/bin/fusermount3").is_empty());
        let shadow = findings_for(&out, "/usr/local/bin/fusermount3");
        assert_eq!(shadow.len(), 1, "{:#?}", out.findings);
        let f = shadow[0];
        assert_eq!((f.status, f.severity), (Status::Advisory, Severity::High));
        for word in [
            "world-writable (0777)",
            "not package-owned",
            "shadows",
            "/usr/bin/fusermount3",
            "never make it setuid",
        ] {
            assert!(f.message.contains(word), "{word}: {}", f.message);
        }
        assert_eq!(mode_on_disk(dir.path(), "/usr/local/bin/fusermount3"), 0o777);

        // A setuid copy of the same name elsewhere is not allowed by name.
        put(dir.path(), "/usr/local/bin/fusermount3", 0o4755, 0, 0);
        let out = plan_with(&root, "");
        assert!(out.changes.is_empty());
        let f = findings_for(&out, "/usr/local/bin/fusermount3");
        assert!(f.iter().any(|f| f.message.starts_with("INVESTIGATE")), "{f:#?}");
        assert!(f.iter().any(|f| f.message.contains("shadows")), "{f:#?}");

        // A packaged, root-owned, not world-writable link to the helper is fine.
        std::fs::remove_file(dir.path().join("usr/local/bin/fusermount3")).unwrap();
        symlink(
            "/usr/bin/fusermount3",
            dir.path().join("usr/local/bin/fusermount3"),
        )
        .unwrap();
        let out = plan_with(&root, "");
        assert!(
            findings_for(&out, "/usr/local/bin/fusermount3").is_empty(),
            "{:#?}",
            out.findings
        );
    }

    #[test]
    fn merged_usr_hard_links_dpkg_and_apply() {
        let (dir, root) = empty_root();
        let d = dir.path();
        put(d, "/usr/bin/su", 0o4755, 0, 0);
        put(d, "/usr/bin/chfn", 0o4755, 0, 0);
        put(d, "/usr/sbin/pppd", 0o4754, 0, 30);
        put(d, "/usr/bin/newgrp", 0o4755, 0, 0);
        std::fs::create_dir_all(d.join("opt")).unwrap();
        std::fs::hard_link(d.join("usr/bin/newgrp"), d.join("opt/newgrp-copy")).unwrap();
        put(d, "/usr/bin/plain", 0o755, 0, 0);
        symlink("usr/bin", d.join("bin")).unwrap();
        symlink("usr/sbin", d.join("sbin")).unwrap();
        // A symlink to a setuid file is never a hit itself.
        symlink("/usr/bin/chfn", d.join("opt/chfn-link")).unwrap();
        // dpkg lists su under its old spelling.
        dpkg_list(d, "util-linux", &["/bin", "/bin/su"]);
        dpkg_list(d, "passwd", &["/usr/bin/chfn"]);
        dpkg_list(d, "login", &["/usr/bin/newgrp", "/opt/newgrp-copy"]);
        dpkg_list(d, "ppp", &["/usr/sbin/pppd"]);

        // The profile spells the allow list the old way.
        let profile = "[rules.suid-strip]\nallow = [\"/bin/su\"]\nreview = []\n";
        let out = plan_with(&root, profile);
        no_errors(&out);
        let targets: Vec<&str> = out.changes.iter().map(|c| c.target.as_str()).collect();
        assert_eq!(
            targets,
            ["/opt/newgrp-copy", "/usr/bin/chfn", "/usr/sbin/pppd"],
            "{:#?}",
            out.changes
        );
        let link = &out.changes[0];
        assert!(link.summary.contains("2 hard links"), "{}", link.summary);
        assert!(
            link.diff.contains("every hard link to this inode") && link.diff.contains("/usr/bin/newgrp"),
            "{}",
            link.diff
        );
        assert!(
            set_mode_of(&out.changes, "/usr/bin/newgrp").is_none(),
            "one change per inode"
        );
        assert!(set_mode_of(&out.changes, "/usr/bin/su").is_none());
        let kept = out
            .findings
            .iter()
            .find(|f| f.message.contains("kept by the allow list"))
            .unwrap();
        assert!(kept.message.contains("/usr/bin/su"), "{}", kept.message);

        apply_changes(&root, &out.changes);
        assert_eq!(mode_on_disk(d, "/usr/bin/su"), 0o4755);
        assert_eq!(mode_on_disk(d, "/usr/bin/chfn"), 0o755);
        assert_eq!(mode_on_disk(d, "/usr/sbin/pppd"), 0o754);
        assert_eq!(mode_on_disk(d, "/usr/bin/newgrp"), 0o755);
        assert_eq!(mode_on_disk(d, "/usr/bin/plain"), 0o755);
        let again = plan_with(&root, profile);
        assert!(again.changes.is_empty(), "{:#?}", again.changes);
        assert!(
            again.findings.iter().any(|f| f.status == Status::Compliant),
            "{:#?}",
            again.findings
        );
    }

    #[test]
    fn hard_link_to_an_allowed_file_is_not_stripped_but_reported() {
        let (dir, root) = empty_root();
        let d = dir.path();
        put(d, "/usr/bin/sudo", 0o4755, 0, 0);
        std::fs::create_dir_all(d.join("srv")).unwrap();
        std::fs::hard_link(d.join("usr/bin/sudo"), d.join("srv/old-sudo")).unwrap();
        let out = plan_with(&root, "");
        assert!(out.changes.is_empty(), "{:#?}", out.changes);
        let f = findings_for(&out, "/srv/old-sudo");
        assert_eq!(f.len(), 1, "{:#?}", out.findings);
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].message.contains("/usr/bin/sudo"));
    }

    #[test]
    fn no_dpkg_database_strips_with_a_finding() {
        let (dir, root) = empty_root();
        put(dir.path(), "/usr/local/bin/tool", 0o4755, 0, 0);
        put(dir.path(), "/home/alice/tool", 0o4755, 1000, 1000);
        let out = plan_with(&root, "");
        assert_eq!(out.changes.len(), 1);
        assert_eq!(out.changes[0].target, "/usr/local/bin/tool");
        assert!(out.changes[0].diff.contains("package not checked"));
        assert!(
            out.findings
                .iter()
                .any(|f| f.message.starts_with("package ownership not checked"))
        );
        // Non-root owner: investigated even without a database.
        assert!(
            findings_for(&out, "/home/alice/tool")[0]
                .message
                .starts_with("INVESTIGATE")
        );
    }

    #[test]
    fn container_stores_are_not_scanned() {
        let (dir, root) = crate::kinds::testing::empty_root();
        for store in CONTAINER_STORES.iter().chain([&DOCKER_DATA_ROOT]) {
            let path = dir
                .path()
                .join(store.trim_start_matches('/'))
                .join("snap/usr/bin/chfn");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"x").unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
        }
        let policy = crate::kinds::testing::policy("");
        let out = plan(&crate::kinds::testing::context(&root, &policy)).unwrap();
        assert!(
            out.changes.is_empty(),
            "{:?}",
            out.changes.iter().map(|c| &c.target).collect::<Vec<_>>()
        );
    }

    #[test]
    fn excluded_trees_are_not_scanned() {
        let (dir, root) = empty_root();
        let d = dir.path();
        for p in [
            "/proc/1/exe",
            "/sys/x",
            "/dev/x",
            "/run/x",
            "/var/lib/docker/overlay2/abc/merged/usr/bin/su",
            "/srv/docker-data/overlay2/abc/usr/bin/passwd",
            "/var/lib/dockhard/snapshots/x",
            "/opt/skipme/tool",
            "/opt/scanned/tool",
        ] {
            put(d, p, 0o4755, 0, 0);
        }
        // data-root through a symlink is resolved too.
        symlink("/srv/docker-data", d.join("docker")).unwrap();
        std::fs::create_dir_all(d.join("etc/docker")).unwrap();
        std::fs::write(d.join("etc/docker/daemon.json"), r#"{"data-root": "/docker/"}"#).unwrap();
        let out = plan_with(&root, "[rules.suid-strip]\nskip = [\"/opt/skipme\"]\n");
        no_errors(&out);
        let targets: Vec<&str> = out.changes.iter().map(|c| c.target.as_str()).collect();
        assert_eq!(targets, ["/opt/scanned/tool"]);
        // A broken daemon.json is the daemon kind's problem, not a failure here.
        std::fs::write(d.join("etc/docker/daemon.json"), "{ // comment\n").unwrap();
        let out = plan_with(&root, "[rules.suid-strip]\nskip = [\"/opt/skipme\"]\n");
        let targets: Vec<&str> = out.changes.iter().map(|c| c.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "/opt/scanned/tool",
                "/srv/docker-data/overlay2/abc/usr/bin/passwd"
            ]
        );
    }

    #[test]
    fn disabled_rule_plans_nothing() {
        let (dir, root) = empty_root();
        put(dir.path(), "/usr/bin/chfn", 0o4755, 0, 0);
        let out = plan_with(&root, "[rules.suid-strip]\nenabled = false\n");
        assert!(out.changes.is_empty() && out.findings.is_empty());
    }

    #[test]
    fn review_list_is_kept_with_a_medium_finding() {
        let (dir, root) = empty_root();
        put(dir.path(), "/usr/bin/mount", 0o4755, 0, 0);
        let out = plan_with(&root, "");
        assert!(out.changes.is_empty());
        let f = findings_for(&out, "/usr/bin/mount");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].message.contains("needs a decision"), "{}", f[0].message);
        assert_eq!(mode_on_disk(dir.path(), "/usr/bin/mount"), 0o4755);
    }

    #[test]
    fn unreadable_directory_is_an_error_finding_not_a_pass() {
        let (dir, root) = empty_root();
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        put(d, "/usr/bin/chfn", 0o4755, 0, 0);
        put(d, "/secret/inner/tool", 0o4755, 0, 0);
        std::fs::set_permissions(d.join("usr"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(d.join("usr/bin"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(d.join("secret"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let policy = policy("");
        // Plan as an unprivileged user on one thread of our own: a raw
        // setresuid changes only the calling thread (and threads it starts).
        let out = std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: raw syscalls on this thread's credentials only.
                unsafe {
                    assert_eq!(
                        libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()),
                        0
                    );
                    assert_eq!(libc::syscall(libc::SYS_setresgid, 65534, 65534, 65534), 0);
                    assert_eq!(libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534), 0);
                }
                plan(&context(&root, &policy))
            })
            .join()
            .unwrap()
        })
        .unwrap();
        let errors: Vec<_> = out
            .findings
            .iter()
            .filter(|f| f.status == Status::Error)
            .collect();
        assert_eq!(errors.len(), 1, "{:#?}", out.findings);
        assert_eq!(errors[0].target.as_deref(), Some("/secret"));
        assert!(
            errors[0].message.contains("could not check /secret"),
            "{}",
            errors[0].message
        );
        // The rest was still checked.
        assert!(set_mode_of(&out.changes, "/usr/bin/chfn").is_some());
    }

    #[test]
    fn symlinked_top_level_dir_is_not_followed() {
        let (dir, root) = empty_root();
        let outside = tempfile::tempdir().unwrap();
        put(outside.path(), "/bin/evil", 0o4755, 0, 0);
        symlink(outside.path().join("bin"), dir.path().join("bin")).unwrap();
        symlink(outside.path(), dir.path().join("link")).unwrap();
        let out = plan_with(&root, "");
        assert!(out.changes.is_empty(), "{:#?}", out.changes);
    }

    #[test]
    fn scan_subtree_streams_hits_only() {
        let (dir, _root) = empty_root();
        let d = dir.path();
        put(d, "/usr/bin/a", 0o4755, 0, 0);
        put(d, "/usr/bin/b", 0o755, 0, 0);
        put(d, "/usr/lib/c", 0o2755, 0, 0);
        let ex = Excludes::default();
        let events: Vec<_> = scan::scan_subtree(d, Path::new("/usr"), &ex).collect();
        let mut paths: Vec<String> = events
            .iter()
            .map(|e| match e {
                scan::Event::Hit(h) => h.path.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        paths.sort();
        assert_eq!(paths, ["/usr/bin/a", "/usr/lib/c"]);
        let all = scan::scan(d, &ex, 3).unwrap();
        let paths: Vec<&str> = all.hits.iter().map(|h| h.path.as_str()).collect();
        assert_eq!(paths, ["/usr/bin/a", "/usr/lib/c"]);
        assert!(all.unreadable.is_empty());
    }

    /// A chain `/tmp/d/d/…` of `depth` directories, made by directory
    /// handle (the paths are longer than PATH_MAX); set-id `s0`..`s3` and
    /// plain `n0`..`n3` in every `every`th one and at the bottom (several
    /// names, so that some are listed after `d` and wait in a folder whose
    /// stream was closed). Returns the number of set-id files.
    fn deep_tree(d: &Path, depth: usize, every: usize) -> usize {
        use nix::fcntl::{OFlag, openat};
        use nix::sys::stat::{Mode, fchmod, mkdirat};
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        let mut fd: std::os::fd::OwnedFd = std::fs::File::open(d.join("tmp")).unwrap().into();
        let mut setid = 0;
        for level in 0..=depth {
            if level < depth {
                mkdirat(&fd, "d", Mode::from_bits_truncate(0o755)).unwrap();
            }
            if level % every == 0 || level == depth {
                for (name, mode) in (0..4).flat_map(|i| [(format!("s{i}"), 0o4755), (format!("n{i}"), 0o755)])
                {
                    let file = openat(
                        &fd,
                        name.as_str(),
                        OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                        Mode::from_bits_truncate(0o600),
                    )
                    .unwrap();
                    fchmod(&file, Mode::from_bits_truncate(mode)).unwrap();
                }
                setid += 4;
            }
            if level < depth {
                fd = openat(&fd, "d", OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
            }
        }
        setid
    }

    #[test]
    fn scan_goes_deeper_than_path_max_by_directory_handle() {
        let (dir, root) = empty_root();
        let d = dir.path();
        let expected = deep_tree(d, 2100, 40);
        put(d, "/usr/bin/chfn", 0o4755, 0, 0);
        let all = scan::scan(d, &Excludes::default(), 2).unwrap();
        assert!(all.unreadable.is_empty(), "{:?}", &all.unreadable[..1]);
        let deep: Vec<&Hit> = all.hits.iter().filter(|h| h.path.starts_with("/tmp/")).collect();
        assert_eq!(
            deep.len(),
            expected,
            "every set-id file, also after returning to closed folders"
        );
        assert!(deep.iter().all(|h| h.exact && h.path.contains("/s")));
        let deepest = deep.iter().map(|h| h.path.len()).max().unwrap();
        assert_eq!(deepest, "/tmp".len() + 2100 * 2 + 3);

        // Those too deep to be changed by path are high advisories, not
        // changes and not errors; the others are planned as usual.
        let policy = policy("");
        let out = plan(&context(&root, &policy)).unwrap();
        assert!(
            out.findings.iter().all(|f| f.status != Status::Error),
            "{:#?}",
            out.findings
        );
        let too_deep: Vec<&Finding> = out
            .findings
            .iter()
            .filter(|f| f.message.contains("deeper than PATH_MAX"))
            .collect();
        let reachable = deep.iter().filter(|h| reachable_by_path(&h.path)).count();
        assert!(reachable > 0 && reachable < expected);
        assert_eq!(too_deep.len(), expected - reachable);
        assert!(too_deep.iter().all(|f| f.severity == Severity::High));
        assert!(set_mode_of(&out.changes, "/usr/bin/chfn").is_some());
        assert!(out.changes.iter().all(|c| reachable_by_path(&c.target)));
        assert!(!reachable_by_path(&format!("/{}", "a".repeat(4096))));
        assert!(reachable_by_path(&format!("/{}", "a".repeat(4095))));
    }

    #[test]
    fn mountinfo_pseudo_network_and_overlay_mounts_are_skipped() {
        let text = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - overlay overlay rw,lowerdir=/a
28 27 0:25 / /home rw,relatime shared:5 - ext4 /dev/vda2 rw
29 27 0:26 / /srv/nfs\\040share rw master:1 - nfs4 srv:/x rw
30 27 0:27 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw
31 27 0:28 / /home/alice/mnt rw - fuse.sshfs alice@h: rw
32 27 0:29 / /tmp rw - tmpfs tmpfs rw
33 27 0:30 / /snap/core/1 ro - squashfs /dev/loop0 ro
34 31 0:31 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw
garbage line
";
        let points = scan::skipped_mount_points(text);
        assert_eq!(
            points,
            [
                "/home/alice/mnt",
                "/proc",
                "/snap/core/1",
                "/srv/nfs share",
                "/sys/fs/cgroup/cpu",
                "/var/lib/docker/overlay2/abc/merged"
            ]
        );
        assert!(scan::fstype_skipped("fuse.rclone"));
        assert!(!scan::fstype_skipped("ext4"));
        assert!(!scan::fstype_skipped("tmpfs"));
    }
}
