//! # Kind `mount`
//!
//! Rule `mount-nosuid` (G7): the scratch places and homes (`points`) are
//! mounted with `options` (default `nosuid,nodev`).
//!
//! For each point the source of truth is, in this order:
//! 1. `/etc/fstab` lines whose decoded mount point is the point. If the
//!    point is listed more than once, **every** such line is fixed:
//!    `mount -a` stacks them all (the last one ends on top) while
//!    systemd-fstab-generator keeps the first, so only fixing all of them
//!    is right for both;
//! 2. otherwise the systemd mount unit named after the path
//!    (`/var/tmp` → `var-tmp.mount`, `/tmp` → `tmp.mount`), with its
//!    drop-ins; missing options go into the drop-in
//!    `/etc/systemd/system/<unit>.d/50-nosuid.conf`, which restates the
//!    unit's whole `Options=` (a drop-in's `Options=` replaces the value);
//! 3. otherwise, for `/dev/shm` only, a new fstab line
//!    `tmpfs /dev/shm tmpfs defaults,<options> 0 0`;
//! 4. otherwise nothing: an advisory says the point needs its own mount
//!    (bind or tmpfs) first. No fstab line is invented for it, and never a
//!    /tmp line when tmp.mount provides /tmp.
//!
//! Options are evaluated as mount does (see [`options`]), so `nosuid,suid`
//! fails and `user,noauto` passes. `noexec` is never added by default: on
//! /tmp and /var/tmp it breaks apt/debconf maintainer scripts and image
//! builds.
//!
//! On the running host (`ctx.live`) the visible mount of each point in
//! /proc/self/mountinfo is compared as well ([`point_findings`], a pure
//! function): persistent configuration that is compliant while the live
//! mount lacks the flags (a tmpfs mounted over /tmp at runtime) is
//! reported, with the covered mounts. Where the visible mount lacks the
//! options (per-mount flags only), a live step follows the file edit: a
//! bind remount of that one mount ([`crate::plan::Action::Remount`]) that
//! adds them and keeps every other per-mount flag (ro, noexec, the atime
//! flag). Only the top mount of a stack is remounted; nothing is ever
//! unmounted, and tmp.mount is never restarted. The file edit then takes
//! effect at the next boot, the remount now; if the remount fails, the
//! executor restores the file edit too, so both stay as they were.

pub mod fstab;
pub mod mountinfo;
pub mod options;

use super::systemd::Unit;
use super::{ChangeInfo, Context, FileChain, Outcome, missing_parents};
use crate::catalog::RuleConfig;
use crate::error::{Error, Result};
use crate::plan::{Action, Change, Effect, Finding, Kind, Severity, Status};
use fstab::Fstab;
use mountinfo::MountInfo;

pub const RULE: &str = "mount-nosuid";
/// The drop-in written for a mount unit that lacks the options.
pub const DROPIN_NAME: &str = "50-nosuid.conf";

/// How the visible mount of a point stands against the wanted flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Live {
    /// Offline: the running mounts are not looked at.
    Offline,
    /// Nothing is mounted on the point right now.
    NotMounted,
    /// The visible mount lacks some flags: this plan remounts it.
    Remounted,
    /// The visible mount has every wanted flag already.
    Holds,
}

/// Decodes `\NNN` octal escapes (three octal digits, value up to `\377`)
/// as libmount and the kernel write them in fstab and mountinfo. Anything
/// else, including a lone backslash, is kept as it is.
pub fn decode_octal(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\'
            && i + 3 < raw.len()
            && (b'0'..=b'3').contains(&raw[i + 1])
            && (b'0'..=b'7').contains(&raw[i + 2])
            && (b'0'..=b'7').contains(&raw[i + 3])
        {
            out.push(((raw[i + 1] - b'0') << 6) | ((raw[i + 2] - b'0') << 3) | (raw[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

/// The name of the systemd mount unit for a path, as `systemd-escape
/// --path --suffix=mount` makes it: `/var/tmp` → `var-tmp.mount`, `/` →
/// `-.mount`; bytes other than ASCII letters, digits, `:`, `_` and `.`
/// (and a leading `.`) become `\xNN`.
pub fn unit_name(path: &str) -> String {
    let normal = fstab::normalize(path);
    let trimmed = normal.trim_matches('/');
    if trimmed.is_empty() {
        return "-.mount".to_string();
    }
    let mut out = String::with_capacity(trimmed.len() + 6);
    for (i, b) in trimmed.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'.' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push_str(".mount");
    out
}

/// What the persistent configuration says about one point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Config {
    /// Already has every wanted option; names where (`/etc/fstab line 7`,
    /// `tmp.mount`).
    Compliant { source: String, place: String },
    /// A change was planned to add the options; names where.
    Planned { place: String },
    /// No fstab line and no mount unit mounts the point.
    Absent,
    /// Configured, but dockhard cannot fix it; the reason.
    Blocked(String),
}

/// The findings for one point from its configuration and, on the running
/// host, the parsed mountinfo. Pure: tests feed it a case's mountinfo.
pub fn point_findings(
    rule: &str,
    point: &str,
    wanted: &[String],
    config: &Config,
    mounts: Option<&[MountInfo]>,
) -> Vec<Finding> {
    let want = wanted.join(",");
    let stack = mounts.and_then(|m| mountinfo::stack_at(m, point));
    let missing_live: Vec<String> = stack
        .as_ref()
        .map(|s| {
            wanted
                .iter()
                .filter(|w| mountinfo::is_per_mount_flag(w) && !s.visible.has(w))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    // The plan remounts the visible mount whenever it lacks a wanted flag.
    let remount = |s: &mountinfo::Stack<'_>| {
        let others = if s.hidden.is_empty() {
            String::new()
        } else {
            " (only the top mount; the covered ones are left alone)".to_string()
        };
        format!(
            "this plan remounts {} with {} now{others}, nothing is unmounted",
            s.visible.describe(),
            missing_live.join(",")
        )
    };
    let covered = |s: &mountinfo::Stack<'_>| {
        if s.hidden.is_empty() {
            String::new()
        } else {
            let hidden: Vec<String> = s.hidden.iter().map(|m| m.describe()).collect();
            format!("; it covers {} (hidden)", hidden.join(", "))
        }
    };
    let mut out = Vec::new();
    match config {
        Config::Compliant { source, place } => match (mounts, &stack) {
            (None, _) => out.push(Finding::compliant(
                rule,
                format!("{point}: {place} sets {want}"),
            )),
            (Some(_), None) => out.push(Finding::advisory(
                rule,
                Severity::Low,
                format!(
                    "{point}: {place} sets {want}, but nothing is mounted on {point} right now (the path is part of its parent file system)"
                ),
            )),
            (Some(_), Some(s)) if !missing_live.is_empty() => out.push(Finding::advisory(
                rule,
                Severity::Medium,
                format!(
                    "{point}: {source} is compliant, but the mounted file system lacks {} (a {} mounted over {point} at runtime?): the visible mount is {}{}; {}",
                    missing_live.join(","),
                    s.visible.fstype,
                    s.visible.describe(),
                    covered(s),
                    remount(s)
                ),
            )),
            (Some(_), Some(s)) => {
                out.push(Finding::compliant(
                    rule,
                    format!("{point}: {place} sets {want}, and the mounted file system has it"),
                ));
                if !s.hidden.is_empty() {
                    out.push(Finding::new(
                        rule,
                        Status::Compliant,
                        Severity::Info,
                        format!(
                            "{point} is mounted {} times; the visible mount is {}{}",
                            s.hidden.len() + 1,
                            s.visible.describe(),
                            covered(s)
                        ),
                    ));
                }
            }
        },
        Config::Planned { place } => {
            if let Some(s) = &stack
                && !missing_live.is_empty()
            {
                out.push(Finding::advisory(
                    rule,
                    Severity::Low,
                    format!(
                        "{point}: the mounted file system ({}) lacks {} until it is remounted; after the change to {place}, {}",
                        s.visible.describe(),
                        missing_live.join(","),
                        remount(s)
                    ),
                ));
            }
        }
        Config::Absent => {
            let message = match (mounts, &stack) {
                (None, _) => format!(
                    "{point} needs its own mount (bind or tmpfs) before {want} can apply: no /etc/fstab line or systemd mount unit mounts it"
                ),
                (Some(_), None) => format!(
                    "{point} needs its own mount (bind or tmpfs) before {want} can apply: it is not a separate mount on the running system"
                ),
                (Some(_), Some(s)) => {
                    let live = if missing_live.is_empty() {
                        format!("it has {want} now")
                    } else {
                        format!(
                            "it lacks {}: {}, which lasts until it is next mounted",
                            missing_live.join(","),
                            remount(s)
                        )
                    };
                    format!(
                        "{point} is mounted at runtime ({}) but neither /etc/fstab nor a systemd mount unit configures it, so {want} cannot be made persistent; {live}",
                        s.visible.describe()
                    )
                }
            };
            out.push(Finding::advisory(rule, Severity::Medium, message));
        }
        Config::Blocked(reason) => {
            let live = match &stack {
                Some(s) if !missing_live.is_empty() => {
                    format!("; {}, which lasts until it is next mounted", remount(s))
                }
                _ => String::new(),
            };
            out.push(Finding::advisory(
                rule,
                Severity::Medium,
                format!("{point}: {reason}{live}"),
            ));
        }
    }
    out.into_iter().map(|f| f.with_target(point)).collect()
}

impl Live {
    /// When a file edit for the point takes effect: at the next boot,
    /// unless the point is not mounted on the running system (then when it
    /// is next mounted). The running mount is the remount's business.
    fn effect(self) -> Effect {
        match self {
            Live::NotMounted => Effect::AfterRemount,
            Live::Offline | Live::Remounted | Live::Holds => Effect::AfterReboot,
        }
    }

    fn note(self, summary: String, point: &str) -> String {
        match self {
            Live::Offline => summary,
            Live::NotMounted => format!("{summary} (takes effect when {point} is next mounted)"),
            Live::Remounted => {
                format!("{summary} (for the next boot; the running mount is remounted now by the next step)")
            }
            Live::Holds => format!("{summary} (for the next boot; the running mount already has them)"),
        }
    }
}

/// Everything one planning run needs to carry between points.
struct Planner<'c, 'a> {
    ctx: &'c Context<'a>,
    rule: &'c RuleConfig,
    wanted: Vec<String>,
    chain: FileChain,
    table: Fstab,
    out: Outcome,
    /// The running mount of the point being planned.
    live: Live,
}

impl Planner<'_, '_> {
    fn point(&mut self, point: &str) -> Result<Config> {
        let lines = self.table.find(point);
        if !lines.is_empty() {
            return Ok(self.fstab_lines(point, &lines));
        }
        let name = unit_name(point);
        if let Some(unit) = Unit::load(self.ctx.root, &name)?
            && !unit.masked
            && unit.fragment.is_some()
        {
            return self.unit(point, &unit);
        }
        if point == "/dev/shm" {
            return self.new_fstab_line(point);
        }
        Ok(Config::Absent)
    }

    fn fstab_lines(&mut self, point: &str, lines: &[usize]) -> Config {
        let numbers: Vec<String> = lines
            .iter()
            .map(|&i| self.table.lines[i].number.to_string())
            .collect();
        let place = if lines.len() == 1 {
            format!("/etc/fstab line {}", numbers[0])
        } else {
            format!("/etc/fstab lines {}", numbers.join(", "))
        };
        let mut edits = Vec::new();
        for &i in lines {
            let current = &self.table.lines[i]
                .entry
                .as_ref()
                .expect("find returns entries")
                .options;
            let edit = options::ensure(current, &self.wanted);
            if edit.changed() {
                self.table.set_options(i, &edit.options);
                edits.push(edit);
            }
        }
        if edits.is_empty() {
            return Config::Compliant {
                source: "fstab".to_string(),
                place,
            };
        }
        let what = if edits.iter().all(|e| *e == edits[0]) {
            edits[0].clone()
        } else {
            // Different lines need different edits: name the union.
            let mut union = edits[0].clone();
            for e in &edits[1..] {
                for t in e.added.iter().chain(&e.removed) {
                    if !union.added.contains(t) && !union.removed.contains(t) {
                        union.added.push(t.clone());
                    }
                }
            }
            union
        };
        let lines_word = if lines.len() == 1 { "line" } else { "lines" };
        let summary = match (what.added.is_empty(), what.removed.is_empty()) {
            (false, true) => format!(
                "add {} to the {point} {lines_word} of /etc/fstab",
                what.added.join(",")
            ),
            (true, false) => format!(
                "remove the overriding {} from the {point} {lines_word} of /etc/fstab",
                what.removed.join(",")
            ),
            _ => format!("{} on the {point} {lines_word} of /etc/fstab", what.describe()),
        };
        let summary = if lines.len() > 1 {
            format!("{summary} ({point} is listed {} times: {place})", lines.len())
        } else {
            summary
        };
        let info =
            ChangeInfo::new(self.rule, self.live.note(summary, point), self.live.effect()).detail(point);
        if let Some(change) = self.chain.edit(self.table.to_bytes(), info) {
            self.out.changes.push(change);
        }
        Config::Planned { place }
    }

    fn unit(&mut self, point: &str, unit: &Unit) -> Result<Config> {
        let name = &unit.name;
        let fragment = unit.fragment.clone().unwrap_or_default();
        let current = unit.last("Mount", "Options");
        let value = current.map(|d| d.value.as_str()).unwrap_or("");
        let edit = options::ensure(value, &self.wanted);
        let set_in = current
            .map(|d| d.file.clone())
            .unwrap_or_else(|| fragment.clone());
        if !edit.changed() {
            return Ok(Config::Compliant {
                source: name.clone(),
                place: format!("{name} (Options= in {set_in})"),
            });
        }
        let dropin = format!("/etc/systemd/system/{name}.d/{DROPIN_NAME}");
        if let Some(d) = current {
            let base = d.file.rsplit('/').next().unwrap_or_default();
            let in_dropin = d.file.contains(&format!("/{name}.d/"));
            if in_dropin && d.file != dropin && base > DROPIN_NAME {
                return Ok(Config::Blocked(format!(
                    "{name} takes Options= from {}, which comes after {DROPIN_NAME}; add {} there",
                    d.file,
                    edit.added.join(",")
                )));
            }
        }
        let content = format!("[Mount]\nOptions={}\n", edit.options);
        self.out
            .changes
            .extend(missing_parents(self.ctx.root, Kind::Mount, &dropin, self.rule)?);
        let mut chain = FileChain::load(self.ctx.root, Kind::Mount, &dropin, 0o644)?;
        let summary = format!(
            "{} in {name}'s Options= with the drop-in {dropin}, restating the unit's other options; then `systemctl daemon-reload` (never restart {name}: that unmounts {point})",
            edit.describe()
        );
        let info = ChangeInfo::new(self.rule, self.live.note(summary, point), self.live.effect())
            .detail(point)
            .may_break(format!(
                "Options= in a drop-in replaces the unit's value: a later vendor change to {name}'s Options= stays hidden behind {dropin}. Programs that run set-id helpers or device nodes from {point} stop working (rare)."
            ));
        if let Some(change) = chain.edit(content.into_bytes(), info) {
            self.out.changes.push(change);
        }
        Ok(Config::Planned {
            place: format!("{name} (drop-in {dropin})"),
        })
    }

    fn new_fstab_line(&mut self, point: &str) -> Result<Config> {
        let line = format!(
            "tmpfs {} tmpfs defaults,{} 0 0",
            fstab::escape(point),
            self.wanted.join(",")
        );
        self.table.append_line(fstab::PATH, &line)?;
        let summary =
            format!("add the line `{line}` to /etc/fstab ({point} has no fstab line and no mount unit)");
        let info = ChangeInfo::new(self.rule, self.live.note(summary, point), self.live.effect())
            .detail(point)
            .may_break(format!(
                "systemd turns the new line into a mount unit for {point}; programs that use set-id files or device nodes in {point} stop working (rare)."
            ));
        if let Some(change) = self.chain.edit(self.table.to_bytes(), info) {
            self.out.changes.push(change);
        }
        Ok(Config::Planned {
            place: "a new /etc/fstab line".to_string(),
        })
    }
}

/// The live step for a point whose visible mount lacks wanted flags: a
/// bind remount of that mount (by id) to its flags plus the wanted ones.
fn remount_change(
    rule: &RuleConfig,
    point: &str,
    stack: &mountinfo::Stack<'_>,
    options: Vec<String>,
    config: &Config,
) -> Change {
    let visible = stack.visible;
    let added: Vec<&str> = options
        .iter()
        .filter(|o| !visible.has(o))
        .map(String::as_str)
        .collect();
    let stacked = if stack.hidden.is_empty() {
        String::new()
    } else {
        format!(
            "; it is the top of {} stacked mounts, the covered ones are left alone",
            stack.hidden.len() + 1
        )
    };
    let lasting = match config {
        Config::Compliant { place, .. } => format!(" ({place} already sets them for the next boot)"),
        Config::Planned { .. } => String::new(),
        Config::Absent | Config::Blocked(_) => {
            " (until it is next mounted: no configuration dockhard can edit makes it persistent)".to_string()
        }
    };
    let summary = format!(
        "remount {point}, {}, with {} now, keeping its other per-mount flags: a bind remount, nothing is unmounted{stacked}{lasting}",
        visible.describe(),
        added.join(",")
    );
    let diff = format!(
        "mount {point}: {} -> {}
",
        visible.mount_options.join(","),
        options.join(",")
    );
    let action = Action::Remount {
        path: point.to_string(),
        mount_id: visible.id,
        expect: visible.mount_options.clone(),
        options,
    };
    let mut change = ChangeInfo::new(rule, summary, Effect::Now)
        .detail(format!("{point}:remount"))
        .may_break(format!(
            "From now on, set-id programs and device nodes on {point} stop working for every process (rare). If the remount fails, the run is undone, file edits included, so fstab and the running mount stay consistent."
        ))
        .into_change(Kind::Mount, point, diff, action);
    change.live = true;
    change.disruptive = false;
    change
}

/// The running machine's mounts (`ctx.live` only; the root is `/` then).
fn read_mountinfo(ctx: &Context<'_>) -> Result<Vec<MountInfo>> {
    let text = ctx.root.read_optional(mountinfo::PATH)?.ok_or_else(|| {
        Error::msg(format!(
            "{}: not found; the live mounts were not checked",
            mountinfo::PATH
        ))
    })?;
    mountinfo::parse(mountinfo::PATH, &String::from_utf8_lossy(&text))
}

/// The rule's points (normalised) and options, checked: a point must be an
/// absolute path, an option one plain token, so that an edit can never
/// split an fstab line or a unit's `Options=`.
fn params(rule: &RuleConfig) -> Result<(Vec<String>, Vec<String>)> {
    let points: Vec<String> = rule.params.strings("points");
    for point in &points {
        if !point.starts_with('/') || point.contains('\n') {
            return Err(Error::msg(format!(
                "rules.{RULE}.points: `{point}` is not an absolute path"
            )));
        }
    }
    let options = rule.params.strings("options");
    if options.is_empty() {
        return Err(Error::msg(format!(
            "rules.{RULE}.options is empty: there is nothing to ensure (disable the rule with `enabled = false` instead)"
        )));
    }
    for option in &options {
        let plain = !option.is_empty()
            && option
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b',' | b'"' | b'#' | b'%' | b'\\'));
        if !plain {
            return Err(Error::msg(format!(
                "rules.{RULE}.options: `{option}` is not a single mount option"
            )));
        }
    }
    if let Some((a, b)) = options::contradiction(&options) {
        return Err(Error::msg(format!(
            "rules.{RULE}.options: `{a}` and `{b}` undo each other; no mount can have both"
        )));
    }
    Ok((points.iter().map(|p| fstab::normalize(p)).collect(), options))
}

pub fn plan(ctx: &Context<'_>) -> Result<Outcome> {
    let Some(rule) = ctx.policy.enabled(RULE) else {
        return Ok(Outcome::default());
    };
    let (points, wanted) = params(rule)?;
    let chain = FileChain::load(ctx.root, Kind::Mount, fstab::PATH, 0o644)?;
    let table = Fstab::parse(fstab::PATH, chain.content().unwrap_or_default())?;
    let mut planner = Planner {
        ctx,
        rule,
        wanted,
        chain,
        table,
        out: Outcome::default(),
        live: Live::Offline,
    };
    let mounts = if ctx.live {
        match read_mountinfo(ctx) {
            Ok(m) => Some(m),
            Err(e) => {
                planner
                    .out
                    .findings
                    .push(Finding::error(RULE, e.to_string()).with_target(mountinfo::PATH));
                None
            }
        }
    } else {
        None
    };
    for point in points {
        let stack = mounts.as_deref().and_then(|m| mountinfo::stack_at(m, &point));
        let options = stack
            .as_ref()
            .and_then(|s| mountinfo::with_flags(&s.visible.mount_options, &planner.wanted));
        planner.live = match (&mounts, &stack, &options) {
            (None, _, _) => Live::Offline,
            (Some(_), None, _) => Live::NotMounted,
            (Some(_), Some(_), Some(_)) => Live::Remounted,
            (Some(_), Some(_), None) => Live::Holds,
        };
        let config = planner.point(&point)?;
        let findings = point_findings(RULE, &point, &planner.wanted, &config, mounts.as_deref());
        planner.out.findings.extend(findings);
        if let (Some(stack), Some(options)) = (&stack, options) {
            let change = remount_change(rule, &point, stack, options, &config);
            planner.out.changes.push(change);
        }
    }
    Ok(planner.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing::{apply_changes, case_dir, context, empty_root, fixture_root, policy, read};
    use crate::plan::Action;

    fn profile(points: &[&str], options: &[&str]) -> String {
        let list = |items: &[&str]| {
            items
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "[rules.mount-nosuid]\npoints = [{}]\noptions = [{}]\n",
            list(points),
            list(options)
        )
    }

    fn findings_for<'a>(out: &'a Outcome, point: &str) -> Vec<&'a Finding> {
        out.findings
            .iter()
            .filter(|f| f.target.as_deref() == Some(point))
            .collect()
    }

    fn mounts_of(case: &str, input: &str) -> Vec<MountInfo> {
        let text = std::fs::read_to_string(case_dir(case).join(input).join("proc/self/mountinfo")).unwrap();
        mountinfo::parse(mountinfo::PATH, &text).unwrap()
    }

    fn w(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn decode_octal_escapes() {
        assert_eq!(decode_octal(b"a\\040b\\011c\\012d\\134e"), b"a b\tc\nd\\e");
        assert_eq!(decode_octal(b"\\050x\\051"), b"(x)");
        assert_eq!(decode_octal(b"\\377"), [0xff]);
        // Not three octal digits, or above \377: literal.
        assert_eq!(decode_octal(b"\\400 \\08 \\12 \\"), b"\\400 \\08 \\12 \\");
    }

    #[test]
    fn unit_names_are_systemd_escaped_paths() {
        assert_eq!(unit_name("/tmp"), "tmp.mount");
        assert_eq!(unit_name("/var/tmp"), "var-tmp.mount");
        assert_eq!(unit_name("/home/"), "home.mount");
        assert_eq!(unit_name("/dev/shm"), "dev-shm.mount");
        assert_eq!(unit_name("/"), "-.mount");
        assert_eq!(unit_name("/srv/my-dir"), "srv-my\\x2ddir.mount");
        assert_eq!(unit_name("/srv/scratch area"), "srv-scratch\\x20area.mount");
        assert_eq!(unit_name("/.hidden/a.b"), "\\x2ehidden-a.b.mount");
    }

    #[test]
    fn bad_points_and_options_are_refused() {
        let (_dir, root) = fixture_root(&case_dir("C11-fstab-short-lines-quoted-uuid-bind").join("input"));
        for (profile, what) in [
            (profile(&["/home"], &["no suid"]), "options"),
            (profile(&["/home"], &["nosuid,nodev"]), "options"),
            (profile(&["/home"], &[""]), "options"),
            (profile(&["/home"], &["nosuid", "nodev", "suid"]), "options"),
            (profile(&["/home"], &["dev", "nodev"]), "options"),
            (profile(&["/home"], &["nosuid", "defaults"]), "options"),
            (profile(&["home"], &["nosuid"]), "points"),
        ] {
            let policy = policy(&profile);
            let err = plan(&context(&root, &policy)).unwrap_err();
            assert!(
                err.message().starts_with(&format!("rules.mount-nosuid.{what}:")),
                "{err}"
            );
        }
    }

    #[test]
    fn rule_disabled_plans_nothing() {
        let (_dir, root) = fixture_root(&case_dir("C10-fstab-octal-escapes-tabs").join("input"));
        let policy = policy("[rules.mount-nosuid]\nenabled = false\n");
        let out = plan(&context(&root, &policy)).unwrap();
        assert!(out.changes.is_empty() && out.findings.is_empty());
    }

    #[test]
    fn c10_escapes_tabs_byte_exact_and_idempotent() {
        let case = case_dir("C10-fstab-octal-escapes-tabs");
        let (dir, root) = fixture_root(&case.join("input"));
        let policy = policy(&profile(
            &["/tmp", "/var/tmp", "/srv/scratch area", "/mnt/team (ro)"],
            &["nosuid"],
        ));
        let ctx = context(&root, &policy);
        let out = plan(&ctx).unwrap();
        assert_eq!(out.changes.len(), 4, "{:#?}", out.changes);
        assert!(out.changes.iter().all(|c| c.target == "/etc/fstab"));
        assert_eq!(
            out.changes[0].summary,
            "add nosuid to the /tmp line of /etc/fstab"
        );
        assert_eq!(out.changes[0].takes_effect, Effect::AfterReboot);
        assert_eq!(out.changes[0].id, "mount:/etc/fstab:mount-nosuid:/tmp");
        // Planning wrote nothing.
        assert_eq!(
            read(&dir, "/etc/fstab"),
            std::fs::read(case.join("input/etc/fstab")).unwrap()
        );
        apply_changes(&root, &out.changes);
        assert_eq!(
            String::from_utf8(read(&dir, "/etc/fstab")).unwrap(),
            std::fs::read_to_string(case.join("expected/etc/fstab")).unwrap()
        );
        let again = plan(&ctx).unwrap();
        assert!(again.changes.is_empty(), "{:#?}", again.changes);
        assert_eq!(again.findings.len(), 4);
        assert!(
            again.findings.iter().all(|f| f.status == Status::Compliant),
            "{:#?}",
            again.findings
        );
    }

    #[test]
    fn c11_short_lines_last_option_wins_byte_exact() {
        let case = case_dir("C11-fstab-short-lines-quoted-uuid-bind");
        let (dir, root) = fixture_root(&case.join("input"));
        let policy = policy(&profile(
            &["/home", "/var/www", "/data", "/media/cdrom"],
            &["nosuid"],
        ));
        let ctx = context(&root, &policy);
        let out = plan(&ctx).unwrap();
        let summaries: Vec<&str> = out.changes.iter().map(|c| c.summary.as_str()).collect();
        assert_eq!(
            summaries,
            [
                "add nosuid to the /home line of /etc/fstab",
                "add nosuid to the /var/www line of /etc/fstab",
                "remove the overriding suid from the /data line of /etc/fstab",
            ]
        );
        let cdrom = findings_for(&out, "/media/cdrom");
        assert_eq!(cdrom.len(), 1);
        assert_eq!(cdrom[0].status, Status::Compliant, "{cdrom:?}");
        apply_changes(&root, &out.changes);
        assert_eq!(
            String::from_utf8(read(&dir, "/etc/fstab")).unwrap(),
            std::fs::read_to_string(case.join("expected/etc/fstab")).unwrap()
        );
        let again = plan(&ctx).unwrap();
        assert!(again.changes.is_empty(), "{:#?}", again.changes);
    }

    #[test]
    fn broken_fstab_is_an_error_with_line_and_nothing_is_planned() {
        let (dir, root) = empty_root();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        let text = "/dev/a /tmp ext4 defaults 0 0\n/dev/b /var/tmp\n";
        std::fs::write(dir.path().join("etc/fstab"), text).unwrap();
        let policy = policy("");
        let err = plan(&context(&root, &policy)).unwrap_err();
        assert!(err.message().starts_with("/etc/fstab:2: "), "{err}");
        assert_eq!(read(&dir, "/etc/fstab"), text.as_bytes());
    }

    #[test]
    fn c12_tmp_from_tmp_mount_is_compliant_and_var_tmp_is_advisory() {
        let case = case_dir("C12-fstab-tmp-via-tmp-mount");
        let (dir, root) = fixture_root(&case.join("input"));
        let policy = policy(&profile(&["/tmp", "/var/tmp"], &["nosuid", "nodev"]));
        let out = plan(&context(&root, &policy)).unwrap();
        assert!(out.changes.is_empty(), "{:#?}", out.changes);
        let tmp = findings_for(&out, "/tmp");
        assert_eq!(tmp.len(), 1);
        assert_eq!(tmp[0].status, Status::Compliant);
        assert!(tmp[0].message.contains("tmp.mount"), "{}", tmp[0].message);
        let var_tmp = findings_for(&out, "/var/tmp");
        assert_eq!(var_tmp.len(), 1);
        assert_eq!(var_tmp[0].status, Status::Advisory);
        assert!(
            var_tmp[0]
                .message
                .contains("needs its own mount (bind or tmpfs) before nosuid,nodev can apply"),
            "{}",
            var_tmp[0].message
        );
        assert_eq!(
            read(&dir, "/etc/fstab"),
            std::fs::read(case.join("input/etc/fstab")).unwrap()
        );

        // The live cross-check, on the case's mountinfo.
        let mounts = mounts_of("C12-fstab-tmp-via-tmp-mount", "input");
        let config = Config::Compliant {
            source: "tmp.mount".to_string(),
            place: "tmp.mount".to_string(),
        };
        let f = point_findings(RULE, "/tmp", &w(&["nosuid", "nodev"]), &config, Some(&mounts));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::Compliant, "{f:?}");
        let f = point_findings(
            RULE,
            "/var/tmp",
            &w(&["nosuid", "nodev"]),
            &Config::Absent,
            Some(&mounts),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::Advisory);
        assert!(f[0].message.contains("not a separate mount"), "{}", f[0].message);
    }

    #[test]
    fn c12_live_plan_reads_the_roots_mountinfo() {
        let case = case_dir("C12-fstab-tmp-via-tmp-mount");
        let (_dir, root) = fixture_root(&case.join("input"));
        let policy = policy(&profile(&["/tmp", "/var/tmp"], &["nosuid", "nodev"]));
        let mut ctx = context(&root, &policy);
        ctx.live = true;
        let out = plan(&ctx).unwrap();
        assert!(out.changes.is_empty());
        let tmp = findings_for(&out, "/tmp");
        assert_eq!(tmp.len(), 1);
        assert_eq!(tmp[0].status, Status::Compliant);
        assert!(
            tmp[0].message.contains("mounted file system has it"),
            "{}",
            tmp[0].message
        );
        let var_tmp = findings_for(&out, "/var/tmp");
        assert!(
            var_tmp[0].message.contains("not a separate mount"),
            "{}",
            var_tmp[0].message
        );
    }

    #[test]
    fn c12_variant_writes_a_dropin_restating_options() {
        let case = case_dir("C12-fstab-tmp-via-tmp-mount");
        let (dir, root) = fixture_root(&case.join("input-variant-unit-without-nosuid"));
        let policy = policy(&profile(&["/tmp", "/var/tmp"], &["nosuid", "nodev"]));
        let ctx = context(&root, &policy);
        let out = plan(&ctx).unwrap();
        let targets: Vec<&str> = out.changes.iter().map(|c| c.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "/etc/systemd",
                "/etc/systemd/system",
                "/etc/systemd/system/tmp.mount.d",
                "/etc/systemd/system/tmp.mount.d/50-nosuid.conf",
            ]
        );
        assert!(matches!(out.changes[2].action, Action::CreateDir { .. }));
        assert!(
            out.changes[3].summary.contains("daemon-reload"),
            "{}",
            out.changes[3].summary
        );
        assert!(!out.changes.iter().any(|c| c.target == "/etc/fstab"));
        apply_changes(&root, &out.changes);
        let dropin = "/etc/systemd/system/tmp.mount.d/50-nosuid.conf";
        assert_eq!(
            String::from_utf8(read(&dir, dropin)).unwrap(),
            std::fs::read_to_string(
                case.join("expected-variant-unit-without-nosuid")
                    .join(&dropin[1..])
            )
            .unwrap()
        );
        assert_eq!(
            read(&dir, "/etc/fstab"),
            std::fs::read(case.join("input-variant-unit-without-nosuid/etc/fstab")).unwrap()
        );
        let again = plan(&ctx).unwrap();
        assert!(again.changes.is_empty(), "{:#?}", again.changes);
        assert_eq!(findings_for(&again, "/tmp")[0].status, Status::Compliant);
    }

    #[test]
    fn c12_variant_live_writes_the_dropin_then_remounts_never_restarts() {
        let case = case_dir("C12-fstab-tmp-via-tmp-mount");
        let (dir, root) = fixture_root(&case.join("input-variant-unit-without-nosuid"));
        let policy = policy(&profile(&["/tmp"], &["nosuid", "nodev"]));
        let mut ctx = context(&root, &policy);
        ctx.live = true;
        let out = plan(&ctx).unwrap();
        let n = out.changes.len();
        let (dropin, remount) = (&out.changes[n - 2], &out.changes[n - 1]);
        assert_eq!(dropin.target, "/etc/systemd/system/tmp.mount.d/50-nosuid.conf");
        assert!(!dropin.live);
        assert_eq!(dropin.takes_effect, Effect::AfterReboot);
        assert!(
            dropin.summary.contains("the running mount is remounted now"),
            "{}",
            dropin.summary
        );
        assert!(remount.live);
        assert_eq!(remount.takes_effect, Effect::Now);
        assert_eq!(remount.target, "/tmp");
        assert_eq!(
            remount.action,
            Action::Remount {
                path: "/tmp".to_string(),
                mount_id: 35,
                expect: w(&["rw"]),
                options: w(&["rw", "nosuid", "nodev"]),
            }
        );
        assert_eq!(remount.diff, "mount /tmp: rw -> rw,nosuid,nodev\n");
        for c in &out.changes {
            assert!(!c.summary.contains("left out"), "{}", c.summary);
            assert!(!c.summary.contains("systemctl restart"), "{}", c.summary);
        }
        let tmp = findings_for(&out, "/tmp");
        assert_eq!(tmp.len(), 1);
        assert!(
            tmp[0].message.contains(
                "lacks nosuid,nodev until it is remounted; after the change to tmp.mount (drop-in /etc/systemd/system/tmp.mount.d/50-nosuid.conf), this plan remounts mount 35 (tmpfs tmpfs) with nosuid,nodev now, nothing is unmounted"
            ),
            "{}",
            tmp[0].message
        );

        // Once the drop-in is written and the mount has the flags: nothing.
        apply_changes(&root, &out.changes[..n - 1]);
        let info = dir.path().join("proc/self/mountinfo");
        let text = std::fs::read_to_string(&info).unwrap();
        std::fs::write(&info, text.replace(" /tmp rw ", " /tmp rw,nosuid,nodev ")).unwrap();
        let again = plan(&ctx).unwrap();
        assert!(again.changes.is_empty(), "{:#?}", again.changes);
        assert_eq!(findings_for(&again, "/tmp")[0].status, Status::Compliant);
    }

    #[test]
    fn live_fstab_edit_is_for_the_next_boot_and_the_remount_keeps_other_flags() {
        let (dir, root) = empty_root();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        std::fs::write(
            dir.path().join("etc/fstab"),
            "tmpfs /srv/a tmpfs ro,noexec 0 0\ntmpfs /srv/b tmpfs defaults 0 0\ntmpfs /srv/c tmpfs nosuid,nodev 0 0\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("proc/self/mountinfo"),
            "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n\
             40 22 0:40 / /srv/a ro,noexec,noatime - tmpfs tmpfs ro\n\
             41 22 0:41 / /srv/c rw,nosuid,nodev,relatime - tmpfs tmpfs rw\n",
        )
        .unwrap();
        let policy = policy(&profile(&["/srv/a", "/srv/b", "/srv/c"], &["nosuid", "nodev"]));
        let mut ctx = context(&root, &policy);
        ctx.live = true;
        let out = plan(&ctx).unwrap();
        let shown: Vec<(&str, bool, Effect)> = out
            .changes
            .iter()
            .map(|c| (c.target.as_str(), c.live, c.takes_effect))
            .collect();
        assert_eq!(
            shown,
            [
                ("/etc/fstab", false, Effect::AfterReboot),
                ("/srv/a", true, Effect::Now),
                ("/etc/fstab", false, Effect::AfterRemount),
            ]
        );
        assert_eq!(
            out.changes[1].action,
            Action::Remount {
                path: "/srv/a".to_string(),
                mount_id: 40,
                expect: w(&["ro", "noexec", "noatime"]),
                options: w(&["ro", "nosuid", "nodev", "noexec", "noatime"]),
            }
        );
        assert!(
            out.changes[2]
                .summary
                .contains("takes effect when /srv/b is next mounted"),
            "{}",
            out.changes[2].summary
        );
        // Offline the same root plans the file edits only.
        ctx.live = false;
        let offline = plan(&ctx).unwrap();
        assert!(offline.changes.iter().all(|c| !c.live));
        assert_eq!(offline.changes.len(), 2);
    }

    #[test]
    fn with_flags_adds_only_missing_per_mount_flags() {
        assert_eq!(
            mountinfo::with_flags(&w(&["rw", "nosuid", "nodev"]), &w(&["nosuid", "nodev"])),
            None
        );
        assert_eq!(
            mountinfo::with_flags(&w(&["rw", "relatime"]), &w(&["nodev", "nosuid", "size=1G"])),
            Some(w(&["rw", "nosuid", "nodev", "relatime"]))
        );
        assert_eq!(
            mountinfo::with_flags(&w(&["rw", "relatime", "nosymfollow"]), &w(&["noatime"])),
            Some(w(&["rw", "noatime", "nosymfollow"]))
        );
        assert_eq!(mountinfo::with_flags(&w(&["rw"]), &w(&["size=1G"])), None);
    }

    #[test]
    fn c15_stacked_tmpfs_over_compliant_fstab_is_reported() {
        let case = case_dir("C15-mountinfo-stacked-mounts");
        let (dir, root) = fixture_root(&case.join("input"));
        let policy = policy(&profile(&["/tmp", "/var/tmp"], &["nosuid"]));
        let mut ctx = context(&root, &policy);
        ctx.live = true;
        let out = plan(&ctx).unwrap();
        // Only the top mount of /tmp is remounted; fstab is already right.
        assert_eq!(out.changes.len(), 1, "{:#?}", out.changes);
        let remount = &out.changes[0];
        assert!(remount.live);
        assert_eq!(remount.takes_effect, Effect::Now);
        assert_eq!(
            remount.action,
            Action::Remount {
                path: "/tmp".to_string(),
                mount_id: 61,
                expect: w(&["rw", "relatime"]),
                options: w(&["rw", "nosuid", "relatime"]),
            }
        );
        assert!(
            remount
                .summary
                .contains("top of 2 stacked mounts, the covered ones are left alone"),
            "{}",
            remount.summary
        );
        assert!(
            remount.summary.contains("nothing is unmounted"),
            "{}",
            remount.summary
        );
        let tmp = findings_for(&out, "/tmp");
        assert_eq!(tmp.len(), 1, "{tmp:?}");
        assert_eq!(tmp[0].status, Status::Advisory);
        assert_eq!(tmp[0].severity, Severity::Medium);
        let m = &tmp[0].message;
        assert!(
            m.contains("fstab is compliant, but the mounted file system lacks nosuid (a tmpfs mounted over /tmp at runtime?)"),
            "{m}"
        );
        assert!(m.contains("visible mount is mount 61 (tmpfs tmpfs)"), "{m}");
        assert!(
            m.contains("covers mount 30 (ext4 /dev/mapper/vg0-tmp) (hidden)"),
            "{m}"
        );
        assert!(
            m.contains("this plan remounts mount 61 (tmpfs tmpfs) with nosuid now (only the top mount"),
            "{m}"
        );
        let var_tmp = findings_for(&out, "/var/tmp");
        assert_eq!(var_tmp.len(), 2, "{var_tmp:?}");
        assert_eq!(var_tmp[0].status, Status::Compliant);
        assert_eq!(var_tmp[0].severity, Severity::Info);
        assert!(
            var_tmp[1].message.contains("mounted 2 times"),
            "{}",
            var_tmp[1].message
        );
        assert_eq!(
            var_tmp
                .iter()
                .filter(|f| f.message.contains("sets nosuid"))
                .count(),
            1
        );
        assert_eq!(
            read(&dir, "/etc/fstab"),
            std::fs::read(case.join("input/etc/fstab")).unwrap()
        );

        // Offline, fstab alone: compliant (the stack cannot be seen).
        ctx.live = false;
        let offline = plan(&ctx).unwrap();
        assert!(offline.findings.iter().all(|f| f.status == Status::Compliant));
    }

    #[test]
    fn c15_pure_check_on_the_case_mountinfo() {
        let mounts = mounts_of("C15-mountinfo-stacked-mounts", "input");
        let config = Config::Compliant {
            source: "fstab".to_string(),
            place: "/etc/fstab line 2".to_string(),
        };
        let nosuid = w(&["nosuid"]);
        let tmp = point_findings(RULE, "/tmp", &nosuid, &config, Some(&mounts));
        assert_eq!(tmp.len(), 1);
        assert_eq!(tmp[0].status, Status::Advisory);
        let var_tmp = point_findings(RULE, "/var/tmp", &nosuid, &config, Some(&mounts));
        assert_eq!(var_tmp[0].status, Status::Compliant);
        assert_eq!(var_tmp[1].severity, Severity::Info);
        // Without mountinfo only the configuration counts.
        let offline = point_findings(RULE, "/tmp", &nosuid, &config, None);
        assert_eq!(offline.len(), 1);
        assert_eq!(offline[0].status, Status::Compliant);
    }

    #[test]
    fn live_without_mountinfo_is_an_error_finding_not_a_pass() {
        let case = case_dir("C11-fstab-short-lines-quoted-uuid-bind");
        let (_dir, root) = fixture_root(&case.join("input"));
        let policy = policy(&profile(&["/media/cdrom"], &["nosuid"]));
        let mut ctx = context(&root, &policy);
        ctx.live = true;
        let out = plan(&ctx).unwrap();
        assert!(
            out.findings
                .iter()
                .any(|f| f.status == Status::Error && f.target.as_deref() == Some(mountinfo::PATH))
        );
    }

    #[test]
    fn dev_shm_gets_a_line_and_a_missing_final_newline_is_added_first() {
        let (dir, root) = empty_root();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/fstab"), "/dev/sda1 / ext4 defaults 0 1").unwrap();
        let policy = policy("");
        let ctx = context(&root, &policy);
        let out = plan(&ctx).unwrap();
        assert_eq!(out.changes.len(), 1, "{:#?}", out.changes);
        apply_changes(&root, &out.changes);
        assert_eq!(
            String::from_utf8(read(&dir, "/etc/fstab")).unwrap(),
            "/dev/sda1 / ext4 defaults 0 1\ntmpfs /dev/shm tmpfs defaults,nosuid,nodev 0 0\n"
        );
        // /tmp, /var/tmp and /home have no mount of their own: advisories.
        for point in ["/tmp", "/var/tmp", "/home"] {
            let f = findings_for(&out, point);
            assert_eq!(f.len(), 1);
            assert_eq!(f[0].status, Status::Advisory, "{point}");
        }
        let again = plan(&ctx).unwrap();
        assert!(again.changes.is_empty(), "{:#?}", again.changes);
        assert_eq!(findings_for(&again, "/dev/shm")[0].status, Status::Compliant);
    }

    #[test]
    fn a_point_listed_twice_gets_every_line_fixed() {
        let (dir, root) = empty_root();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/fstab"),
            "tmpfs /tmp tmpfs defaults 0 0\n/dev/b /tmp/ ext4 nodev\n",
        )
        .unwrap();
        let policy = policy(&profile(&["/tmp"], &["nosuid", "nodev"]));
        let ctx = context(&root, &policy);
        let out = plan(&ctx).unwrap();
        assert_eq!(out.changes.len(), 1);
        assert!(
            out.changes[0]
                .summary
                .contains("listed 2 times: /etc/fstab lines 1, 2"),
            "{}",
            out.changes[0].summary
        );
        apply_changes(&root, &out.changes);
        assert_eq!(
            String::from_utf8(read(&dir, "/etc/fstab")).unwrap(),
            "tmpfs /tmp tmpfs defaults,nosuid,nodev 0 0\n/dev/b /tmp/ ext4 nodev,nosuid\n"
        );
        assert!(plan(&ctx).unwrap().changes.is_empty());
    }

    #[test]
    fn fstab_line_beats_a_unit_and_no_fstab_line_is_added_for_unit_points() {
        // tmp.mount provides /tmp without nosuid; /tmp must never get an fstab line.
        let case = case_dir("C12-fstab-tmp-via-tmp-mount");
        let (dir, root) = fixture_root(&case.join("input-variant-unit-without-nosuid"));
        let policy = policy(&profile(&["/tmp"], &["nosuid"]));
        let out = plan(&context(&root, &policy)).unwrap();
        assert!(!out.changes.iter().any(|c| c.target == "/etc/fstab"));
        // Once an fstab line exists it is the source of truth.
        let mut text = std::fs::read_to_string(dir.path().join("etc/fstab")).unwrap();
        text.push_str("tmpfs /tmp tmpfs mode=1777 0 0\n");
        std::fs::write(dir.path().join("etc/fstab"), &text).unwrap();
        let out = plan(&context(&root, &policy)).unwrap();
        assert_eq!(out.changes.len(), 1);
        assert_eq!(out.changes[0].target, "/etc/fstab");
    }

    #[test]
    fn a_later_dropin_setting_options_blocks_ours() {
        let case = case_dir("C12-fstab-tmp-via-tmp-mount");
        let (dir, root) = fixture_root(&case.join("input-variant-unit-without-nosuid"));
        let d = dir.path().join("etc/systemd/system/tmp.mount.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("90-size.conf"), "[Mount]\nOptions=mode=1777,size=2G\n").unwrap();
        let policy = policy(&profile(&["/tmp"], &["nosuid"]));
        let out = plan(&context(&root, &policy)).unwrap();
        assert!(out.changes.is_empty());
        let f = findings_for(&out, "/tmp");
        assert_eq!(f[0].status, Status::Advisory);
        assert!(f[0].message.contains("90-size.conf"), "{}", f[0].message);
    }
}
