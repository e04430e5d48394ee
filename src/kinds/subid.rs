//! # Kind `subid`
//!
//! userns-remap (G12) needs the remap user and group to exist and to own a
//! range in `/etc/subuid` and `/etc/subgid`. This kind finds the remap
//! target dockerd will use: with rule `daemon-userns-remap` on, the value
//! the daemon kind leaves in daemon.json ([`remap_after_rule`]: an existing
//! remap user is kept, else the profile's is set); with it off, the one
//! daemon.json has. It checks the account and its ranges, and plans what
//! is missing:
//!
//! - the `dockremap` system user and group for `"default"` (never any other
//!   account: a named user that does not exist is an error finding);
//! - a free range of `count` ids appended to each file, above
//!   `SUB_UID_MIN`/`SUB_GID_MIN` and overlapping no existing line, numeric
//!   owners included, and never reaching id 4294967295 ((uid_t)-1: the
//!   kernel refuses such an id map; existing lines that do are reported).
//!
//! A remap to root (`root`, `0`, `0:0`, any name of uid 0) turns user
//! namespaces off in dockerd: reported high, and no range is allocated.
//!
//! Every file is only appended to; existing lines are kept byte for byte. A
//! line that cannot be parsed fails the whole kind with `file:line`, so
//! nothing is written.

pub mod accounts;
pub mod ranges;

use self::accounts::{Group, LoginDefs, User};
use self::ranges::{Quirk, Range, SubidFile};
use super::{ChangeInfo, Context, FileChain, Outcome, missing_parents};
use crate::catalog::RuleConfig;
use crate::error::Result;
use crate::plan::{Effect, Finding, Kind, Severity};

/// The rule this kind implements.
pub const RULE: &str = "subid-remap-range";
/// The daemon rule that plans `userns-remap`.
pub const REMAP_RULE: &str = "daemon-userns-remap";

const DAEMON_JSON: &str = "/etc/docker/daemon.json";
const PASSWD: &str = "/etc/passwd";
const GROUP: &str = "/etc/group";
const SHADOW: &str = "/etc/shadow";
const GSHADOW: &str = "/etc/gshadow";
const LOGIN_DEFS: &str = "/etc/login.defs";
const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";

/// The account dockerd creates and uses for `userns-remap: "default"`.
pub const DEFAULT_REMAP: &str = "dockremap";

/// A user or group as userns-remap names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdRef {
    Name(String),
    Id(u32),
}

impl IdRef {
    fn parse(text: &str, what: &str) -> Result<IdRef, String> {
        if text.is_empty() {
            return Err(format!("empty {what}"));
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(IdRef::Id)
                .map_err(|_| format!("{what} id {text} is out of range"));
        }
        if text.chars().any(|c| c.is_whitespace() || c == ':') {
            return Err(format!("{what} `{text}` contains white space"));
        }
        Ok(IdRef::Name(text.to_string()))
    }
}

/// A parsed `userns-remap` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemapSpec {
    pub user: IdRef,
    /// The group part; `None`: the group named like the user (or with the
    /// user's id, when the user was given as a uid), as dockerd does.
    pub group: Option<IdRef>,
    /// `"default"`: dockerd uses (and creates) `dockremap`.
    pub default: bool,
}

/// Parses the forms dockerd accepts: `default`, `user`, `user:group`, `uid`,
/// `uid:gid` (and mixes such as `user:gid`).
pub fn parse_remap(value: &str) -> Result<RemapSpec, String> {
    let parts: Vec<&str> = value.split(':').collect();
    if parts.len() > 2 {
        return Err(format!("`{value}` is not user, user:group, uid or uid:gid"));
    }
    let default = parts[0] == "default";
    let user = if default {
        IdRef::Name(DEFAULT_REMAP.to_string())
    } else {
        IdRef::parse(parts[0], "user")?
    };
    let group = match parts.get(1) {
        Some(group) => Some(IdRef::parse(group, "group")?),
        None => None,
    };
    Ok(RemapSpec { user, group, default })
}

/// Where the remap value came from, for messages.
enum Source {
    Profile,
    DaemonJson,
    /// daemon.json's value, which rule daemon-userns-remap leaves in place
    /// although the profile asks for another one.
    KeptByRule {
        want: String,
    },
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Profile => format!("planned by rule {REMAP_RULE}"),
            Source::DaemonJson => format!("set in {DAEMON_JSON}"),
            Source::KeptByRule { want } => format!(
                "set in {DAEMON_JSON} and kept by rule {REMAP_RULE}, which asks for \"{want}\" but does not change an existing remap user"
            ),
        }
    }
}

/// The `userns-remap` dockerd runs with once rule daemon-userns-remap is
/// applied, as the daemon kind decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemapAfterRule<'a> {
    /// daemon.json already holds this non-empty value and keeps it: the
    /// profile's value, or another one the daemon kind leaves as is
    /// ("changing the remap user hides existing containers again").
    Kept(&'a str),
    /// The daemon kind sets the profile's value.
    Planned(&'a str),
    /// Neither: the profile asks for nothing and daemon.json has no
    /// (or an empty) userns-remap. User namespaces stay off.
    Off,
}

/// The decision of the daemon kind (`rule_intents` in
/// `src/kinds/daemon.rs`, no `--userns-remap` flag on dockerd's command
/// line) for rule daemon-userns-remap asking for `want`, given daemon.json's
/// current `userns-remap` string (`None`: absent or not a string, which the
/// daemon kind overwrites). A pure function so that both kinds can share it;
/// the daemon kind does not call it yet and must stay in step with it.
pub fn remap_after_rule<'a>(want: &'a str, current: Option<&'a str>) -> RemapAfterRule<'a> {
    match current {
        Some(value) if !value.is_empty() => RemapAfterRule::Kept(value),
        _ if !want.is_empty() => RemapAfterRule::Planned(want),
        _ => RemapAfterRule::Off,
    }
}

/// daemon.json's `userns-remap` member, as far as it can be read.
enum DaemonJsonRemap {
    NoFile,
    /// The member (`None`: not set).
    Member(Option<serde_json::Value>),
    /// A not-applicable message: the daemon kind reports the file.
    Unreadable(String),
}

fn daemon_json_remap(ctx: &Context<'_>) -> Result<DaemonJsonRemap> {
    let Some(content) = ctx.root.read_optional(DAEMON_JSON)? else {
        return Ok(DaemonJsonRemap::NoFile);
    };
    let json: serde_json::Value = match super::daemon::json_value(&content) {
        Ok(json) => json,
        Err(e) => {
            return Ok(DaemonJsonRemap::Unreadable(format!(
                "{DAEMON_JSON} does not parse ({e}); the daemon kind reports it; subordinate ranges not checked"
            )));
        }
    };
    let Some(object) = json.as_object() else {
        return Ok(DaemonJsonRemap::Unreadable(format!(
            "{DAEMON_JSON} is not a JSON object; the daemon kind reports it; subordinate ranges not checked"
        )));
    };
    Ok(DaemonJsonRemap::Member(object.get("userns-remap").cloned()))
}

/// The userns-remap value to check, or why there is none (a
/// not-applicable message).
fn remap_target(ctx: &Context<'_>) -> Result<Result<(String, Source), String>> {
    let daemon_json = daemon_json_remap(ctx)?;
    if let Some(rule) = ctx.policy.enabled(REMAP_RULE) {
        let want = rule.params.string("remap");
        // A daemon.json the daemon kind cannot read is its error to report;
        // the profile's value is what it would set once repaired.
        let current = match &daemon_json {
            DaemonJsonRemap::Member(Some(serde_json::Value::String(value))) => Some(value.as_str()),
            _ => None,
        };
        return Ok(match remap_after_rule(&want, current) {
            RemapAfterRule::Planned(value) => Ok((value.to_string(), Source::Profile)),
            RemapAfterRule::Kept(value) if value == want => Ok((value.to_string(), Source::Profile)),
            RemapAfterRule::Kept(value) => Ok((value.to_string(), Source::KeptByRule { want: want.clone() })),
            RemapAfterRule::Off => Err(format!(
                "rule {REMAP_RULE} plans no userns-remap (its `remap` parameter is empty) and {DAEMON_JSON} sets none; no subordinate ranges needed"
            )),
        });
    }
    match daemon_json {
        DaemonJsonRemap::NoFile => Ok(Err(format!(
            "userns-remap is not configured ({DAEMON_JSON} is absent) and rule {REMAP_RULE} is off; no subordinate ranges needed"
        ))),
        DaemonJsonRemap::Unreadable(why) => Ok(Err(why)),
        DaemonJsonRemap::Member(None) => Ok(Err(format!(
            "userns-remap is not set in {DAEMON_JSON} and rule {REMAP_RULE} is off; no subordinate ranges needed"
        ))),
        DaemonJsonRemap::Member(Some(serde_json::Value::String(value))) if value.trim().is_empty() => {
            Ok(Err(format!(
                "userns-remap is empty in {DAEMON_JSON} (disabled) and rule {REMAP_RULE} is off; no subordinate ranges needed"
            )))
        }
        DaemonJsonRemap::Member(Some(serde_json::Value::String(value))) => {
            Ok(Ok((value, Source::DaemonJson)))
        }
        DaemonJsonRemap::Member(Some(other)) => Ok(Err(format!(
            "userns-remap in {DAEMON_JSON} is not a string ({other}); the daemon kind reports it; subordinate ranges not checked"
        ))),
    }
}

/// dockerd: "root cannot be remapped with itself; user namespaces are OFF".
/// The finding for a remap that names root (or uid 0); never any range.
fn remap_to_root(described: &str) -> Finding {
    Finding::advisory(
        RULE,
        Severity::High,
        format!(
            "{described} names root (uid 0): dockerd turns user namespaces OFF (\"root cannot be remapped with itself\"), so container root is host root. \
             No subordinate ranges are allocated for root; set userns-remap to \"default\" or a dedicated unprivileged user"
        ),
    )
    .with_target(DAEMON_JSON)
}

/// A file that must exist to check anything, loaded and parsed.
fn load_required<T>(
    ctx: &Context<'_>,
    path: &str,
    parse: impl Fn(&str, &[u8]) -> Result<T>,
) -> Result<Option<(FileChain, T)>> {
    let chain = FileChain::load(ctx.root, Kind::Subid, path, 0o644)?;
    let Some(content) = chain.content() else {
        return Ok(None);
    };
    let parsed = parse(path, content)?;
    Ok(Some((chain, parsed)))
}

/// An account as the remap resolves to it.
#[derive(Debug, Clone)]
struct Account {
    name: String,
    id: u32,
    /// Whether this plan creates it.
    create: bool,
}

pub fn plan(ctx: &Context<'_>) -> Result<Outcome> {
    let mut out = Outcome::default();
    let Some(rule) = ctx.policy.enabled(RULE) else {
        return Ok(out);
    };
    let (value, source) = match remap_target(ctx)? {
        Ok(target) => target,
        Err(why) => {
            out.findings.push(Finding::not_applicable(RULE, why));
            return Ok(out);
        }
    };
    let described = format!("userns-remap `{value}` ({})", source.describe());
    let spec = match parse_remap(&value) {
        Ok(spec) => spec,
        Err(why) => {
            out.findings
                .push(Finding::error(RULE, format!("{described}: {why}")));
            return Ok(out);
        }
    };
    if matches!(&spec.user, IdRef::Id(0)) || matches!(&spec.user, IdRef::Name(name) if name == "root") {
        out.findings.push(remap_to_root(&described));
        return Ok(out);
    }
    let count = rule.params.integer("count");
    let Some(count) = u64::try_from(count).ok().filter(|c| (1..=1 << 32).contains(c)) else {
        out.findings.push(Finding::error(
            RULE,
            format!("rule {RULE}: count must be between 1 and 4294967296, not {count}"),
        ));
        return Ok(out);
    };

    // Read and parse everything before planning anything: one unparseable
    // file fails the kind and nothing is written.
    let Some((passwd_chain, users)) = load_required(ctx, PASSWD, accounts::parse_passwd)? else {
        out.findings.push(
            Finding::error(RULE, format!("{PASSWD} is absent; cannot check the remap user"))
                .with_target(PASSWD),
        );
        return Ok(out);
    };
    let Some((group_chain, groups)) = load_required(ctx, GROUP, accounts::parse_group)? else {
        out.findings.push(
            Finding::error(RULE, format!("{GROUP} is absent; cannot check the remap group"))
                .with_target(GROUP),
        );
        return Ok(out);
    };
    let defs = match ctx.root.read_optional(LOGIN_DEFS)? {
        Some(content) => accounts::parse_login_defs(LOGIN_DEFS, &content)?,
        None => LoginDefs::default(),
    };
    let subuid_chain = FileChain::load(ctx.root, Kind::Subid, SUBUID, 0o644)?;
    let subuid = ranges::parse_subid(SUBUID, subuid_chain.content().unwrap_or_default())?;
    let subgid_chain = FileChain::load(ctx.root, Kind::Subid, SUBGID, 0o644)?;
    let subgid = ranges::parse_subid(SUBGID, subgid_chain.content().unwrap_or_default())?;

    // Numeric owners without an account are ids a new account must not
    // take: it would silently inherit a stale range.
    let numeric_owners = |file: &SubidFile| -> Vec<u32> {
        file.ranges
            .iter()
            .filter_map(|r| ranges::parse_id(&r.owner))
            .collect()
    };
    let reserved = (numeric_owners(&subuid), numeric_owners(&subgid));
    if let IdRef::Name(name) = &spec.user
        && users.iter().any(|u| &u.name == name && u.uid == 0)
    {
        // Another name for uid 0 (`toor`): no ranges for host root either.
        out.findings.push(remap_to_root(&described));
        return Ok(out);
    }
    let (user, group) = match resolve(&spec, &users, &groups, &defs, &reserved) {
        Ok(resolved) => resolved,
        Err(why) => {
            out.findings
                .push(Finding::error(RULE, format!("{described}: {why}")));
            return Ok(out);
        }
    };

    if user.create || group.create {
        out.changes.extend(create_accounts(
            ctx,
            rule,
            &user,
            &group,
            passwd_chain,
            group_chain,
        )?);
    }

    let uid_names = |owner: &str| users.iter().find(|u| u.name == owner).map(|u| u.uid);
    let gid_names = |owner: &str| groups.iter().find(|g| g.name == owner).map(|g| g.gid);
    let files = [
        SubidPlan {
            path: SUBUID,
            what: "subuid",
            account: &user,
            min: defs.sub_uid_min,
            max: defs.sub_uid_max,
            lookup: &uid_names,
            accounts: &users.iter().map(|u| (u.name.as_str(), u.uid)).collect::<Vec<_>>(),
        },
        SubidPlan {
            path: SUBGID,
            what: "subgid",
            account: &group,
            min: defs.sub_gid_min,
            max: defs.sub_gid_max,
            lookup: &gid_names,
            accounts: &groups
                .iter()
                .map(|g| (g.name.as_str(), g.gid))
                .collect::<Vec<_>>(),
        },
    ];
    for (file, (mut chain, parsed)) in files.iter().zip([(subuid_chain, subuid), (subgid_chain, subgid)]) {
        plan_file(ctx, rule, file, &mut chain, &parsed, count, &mut out)?;
    }
    Ok(out)
}

/// Finds (or decides to create) the remap user and group, as dockerd
/// resolves the value. New ids avoid those in use and the `reserved`
/// (uids, gids) that numeric subuid/subgid owners name. `Err` is a message
/// for an error finding.
fn resolve(
    spec: &RemapSpec,
    users: &[User],
    groups: &[Group],
    defs: &LoginDefs,
    reserved: &(Vec<u32>, Vec<u32>),
) -> Result<(Account, Account), String> {
    let found_user = match &spec.user {
        IdRef::Id(uid) => Some(
            users
                .iter()
                .find(|u| u.uid == *uid)
                .ok_or_else(|| format!("uid {uid} has no entry in {PASSWD}; dockerd will not start"))?,
        ),
        IdRef::Name(name) => match users.iter().find(|u| &u.name == name) {
            Some(user) => Some(user),
            None if spec.default => None,
            None => {
                return Err(format!(
                    "user {name} does not exist in {PASSWD}; dockerd will not start (dockhard creates only {DEFAULT_REMAP}, for \"default\")"
                ));
            }
        },
    };
    let group_ref = spec.group.clone().unwrap_or_else(|| spec.user.clone());
    let found_group = match &group_ref {
        IdRef::Id(gid) => Some(
            groups
                .iter()
                .find(|g| g.gid == *gid)
                .ok_or_else(|| format!("gid {gid} has no entry in {GROUP}; dockerd will not start"))?,
        ),
        IdRef::Name(name) => match groups.iter().find(|g| &g.name == name) {
            Some(group) => Some(group),
            None if spec.default && name == DEFAULT_REMAP => None,
            None => {
                return Err(format!(
                    "group {name} does not exist in {GROUP}; dockerd will not start (dockhard creates only {DEFAULT_REMAP}, for \"default\")"
                ));
            }
        },
    };
    let used_uids: Vec<u32> = users
        .iter()
        .map(|u| u.uid)
        .chain(reserved.0.iter().copied())
        .collect();
    let used_gids: Vec<u32> = groups
        .iter()
        .map(|g| g.gid)
        .chain(reserved.1.iter().copied())
        .collect();
    let free_gid = |preferred: u32| -> Result<u32, String> {
        let in_range = (defs.sys_gid_min..=defs.sys_gid_max).contains(&u64::from(preferred));
        if in_range && !used_gids.contains(&preferred) {
            return Ok(preferred);
        }
        accounts::free_system_id(&used_gids, defs.sys_gid_min, defs.sys_gid_max).ok_or_else(|| {
            format!(
                "no free system gid between SYS_GID_MIN {} and SYS_GID_MAX {} for group {DEFAULT_REMAP}",
                defs.sys_gid_min, defs.sys_gid_max
            )
        })
    };
    let (user, group) = match (found_user, found_group) {
        (Some(user), Some(group)) => (existing(&user.name, user.uid), existing(&group.name, group.gid)),
        (Some(user), None) => {
            let gid = free_gid(user.gid)?;
            (existing(&user.name, user.uid), created(gid))
        }
        (None, group) => {
            let uid = accounts::free_system_id(&used_uids, defs.sys_uid_min, defs.sys_uid_max).ok_or_else(|| {
                format!(
                    "no free system uid between SYS_UID_MIN {} and SYS_UID_MAX {} for user {DEFAULT_REMAP}",
                    defs.sys_uid_min, defs.sys_uid_max
                )
            })?;
            let group = match group {
                Some(group) => existing(&group.name, group.gid),
                None => created(free_gid(uid)?),
            };
            (
                Account {
                    name: DEFAULT_REMAP.to_string(),
                    id: uid,
                    create: true,
                },
                group,
            )
        }
    };
    Ok((user, group))
}

fn existing(name: &str, id: u32) -> Account {
    Account {
        name: name.to_string(),
        id,
        create: false,
    }
}

fn created(id: u32) -> Account {
    Account {
        name: DEFAULT_REMAP.to_string(),
        id,
        create: true,
    }
}

/// Changes that add the `dockremap` system group and/or user, like
/// `useradd --system --user-group --shell /usr/sbin/nologin` would: group,
/// gshadow, passwd, shadow (the shadow files only if present).
fn create_accounts(
    ctx: &Context<'_>,
    rule: &RuleConfig,
    user: &Account,
    group: &Account,
    mut passwd: FileChain,
    mut group_file: FileChain,
) -> Result<Vec<crate::plan::Change>> {
    let mut changes = Vec::new();
    let may_break = "Nothing: a system account with no password and no login shell.";
    if group.create {
        let line = format!("{}:x:{}:", group.name, group.id);
        let new = accounts::append_line(group_file.content(), &line);
        changes.extend(
            group_file.edit(
                new,
                ChangeInfo::new(
                    rule,
                    format!("create system group {} (gid {})", group.name, group.id),
                    Effect::Now,
                )
                .may_break(may_break),
            ),
        );
        if let Some(mut gshadow) = optional_chain(ctx, GSHADOW)? {
            let names = accounts::parse_gshadow_names(GSHADOW, gshadow.content().unwrap_or_default())?;
            if !names.contains(&group.name) {
                let new = accounts::append_line(gshadow.content(), &format!("{}:!::", group.name));
                changes.extend(
                    gshadow.edit(
                        new,
                        ChangeInfo::new(
                            rule,
                            format!("add group {} to {GSHADOW}", group.name),
                            Effect::Now,
                        )
                        .may_break(may_break),
                    ),
                );
            }
        }
    }
    if user.create {
        let line = format!(
            "{}:x:{}:{}::/nonexistent:/usr/sbin/nologin",
            user.name, user.id, group.id
        );
        let new = accounts::append_line(passwd.content(), &line);
        changes.extend(
            passwd.edit(
                new,
                ChangeInfo::new(
                    rule,
                    format!("create system user {} (uid {})", user.name, user.id),
                    Effect::Now,
                )
                .may_break(may_break),
            ),
        );
        if let Some(mut shadow) = optional_chain(ctx, SHADOW)? {
            let names = accounts::parse_shadow_names(SHADOW, shadow.content().unwrap_or_default())?;
            if !names.contains(&user.name) {
                // No password ("!") and no aging fields: deterministic,
                // unlike a last-change day.
                let new = accounts::append_line(shadow.content(), &format!("{}:!:::::::", user.name));
                changes.extend(
                    shadow.edit(
                        new,
                        ChangeInfo::new(rule, format!("add user {} to {SHADOW}", user.name), Effect::Now)
                            .may_break(may_break),
                    ),
                );
            }
        }
    }
    Ok(changes)
}

/// A file chain for a file that is only edited if it exists.
fn optional_chain(ctx: &Context<'_>, path: &str) -> Result<Option<FileChain>> {
    let chain = FileChain::load(ctx.root, Kind::Subid, path, 0o640)?;
    Ok(chain.content().is_some().then_some(chain))
}

/// What one of the two files is checked against.
struct SubidPlan<'a> {
    path: &'static str,
    what: &'static str,
    account: &'a Account,
    min: u64,
    max: u64,
    /// Owner name → id, for telling owners apart.
    lookup: &'a dyn Fn(&str) -> Option<u32>,
    /// Every (name, id) of the database, to warn about ranges covering them.
    accounts: &'a [(&'a str, u32)],
}

impl SubidPlan<'_> {
    /// The id an owner field stands for (a name first, as shadow does), or
    /// the name itself if it is unknown.
    fn owner_key(&self, owner: &str) -> Result<u32, String> {
        (self.lookup)(owner)
            .or_else(|| ranges::parse_id(owner))
            .ok_or_else(|| owner.to_string())
    }
}

fn plan_file(
    ctx: &Context<'_>,
    rule: &RuleConfig,
    file: &SubidPlan<'_>,
    chain: &mut FileChain,
    parsed: &SubidFile,
    count: u64,
    out: &mut Outcome,
) -> Result<()> {
    let path = file.path;
    let account = file.account;
    let belongs = |r: &Range| r.belongs_to(&account.name, account.id);
    let same_owner = |a: &Range, b: &Range| file.owner_key(&a.owner) == file.owner_key(&b.owner);
    for (a, b) in ranges::overlaps(&parsed.ranges, same_owner) {
        out.findings.push(
            Finding::advisory(
                RULE,
                Severity::High,
                format!(
                    "{path}: ranges of {} (line {}, {}..{}) and {} (line {}, {}..{}) overlap: their containers would share host {}s",
                    a.owner,
                    a.line,
                    a.start,
                    a.end() - 1,
                    b.owner,
                    b.line,
                    b.start,
                    b.end() - 1,
                    if file.what == "subuid" { "uid" } else { "gid" },
                ),
            )
            .with_target(path),
        );
    }

    for r in parsed.ranges.iter().filter(|r| r.reaches_invalid_id()) {
        let own = belongs(r);
        out.findings.push(
            Finding::advisory(
                RULE,
                if own { Severity::High } else { Severity::Medium },
                format!(
                    "{path}:{}: range {}:{}:{} ends at {}, past the last usable id {}: 4294967295 is (uid_t)-1 and the kernel refuses an id map that reaches it{}; left unchanged",
                    r.line,
                    r.owner,
                    r.start,
                    r.count,
                    r.end() - 1,
                    ranges::LAST_USABLE_ID,
                    if own {
                        ", so dockerd cannot map container ids with it: shorten it by hand"
                    } else {
                        ""
                    }
                ),
            )
            .with_target(path),
        );
    }

    let mine = parsed.ranges_of(&account.name, account.id);
    let mut appended = false;
    let final_range = if mine.iter().any(|r| r.reaches_invalid_id()) {
        // Reported above; another range would not help while this one is
        // in the file (dockerd maps them all).
        None
    } else if let Some(big) = mine.iter().find(|r| r.count >= count) {
        out.findings.push(
            Finding::compliant(
                RULE,
                format!(
                    "{} has {} range {}:{} ({path}:{})",
                    account.name, file.what, big.start, big.count, big.line
                ),
            )
            .with_target(path),
        );
        Some((big.start, big.count))
    } else if !mine.is_empty() {
        let total: u64 = mine.iter().map(|r| r.count).sum();
        out.findings.push(
            Finding::advisory(
                RULE,
                Severity::Medium,
                format!(
                    "{} has only {total} {} ids in {path} (largest range {}), fewer than {count}: images with higher ids fail to start; not changed",
                    account.name,
                    file.what,
                    mine.iter().map(|r| r.count).max().unwrap_or(0)
                ),
            )
            .with_target(path),
        );
        None
    } else {
        match ranges::first_free_start(&parsed.ranges, file.min, file.max, count) {
            None => {
                out.findings.push(
                    Finding::error(
                        RULE,
                        format!(
                            "{path}: no free range of {count} ids between {} and {} for {}",
                            file.min,
                            file.max.min(ranges::LAST_USABLE_ID),
                            account.name
                        ),
                    )
                    .with_target(path),
                );
                None
            }
            Some(start) => {
                if chain.content().is_none() {
                    out.changes
                        .extend(missing_parents(ctx.root, Kind::Subid, path, rule)?);
                }
                let entry = format!("{}:{start}:{count}", account.name);
                let new = accounts::append_line(chain.content(), &entry);
                let change = chain.edit(
                    new,
                    ChangeInfo::new(rule, format!("add range {entry} to {path}"), Effect::Now),
                );
                appended = change.is_some();
                out.changes.extend(change);
                Some((start, count))
            }
        }
    };
    for quirk in &parsed.quirks {
        let finding = match quirk {
            Quirk::NoFinalNewline { line } => Finding::advisory(
                RULE,
                Severity::Low,
                format!(
                    "{path}:{line}: last line lacks newline; some shadow versions ignore it{}",
                    if appended {
                        " (the planned append adds it)"
                    } else {
                        ""
                    }
                ),
            ),
            Quirk::TrailingWhitespace { line } => {
                let own = parsed.ranges.iter().any(|r| r.line == *line && belongs(r));
                Finding::advisory(
                    RULE,
                    if own { Severity::Medium } else { Severity::Low },
                    format!(
                        "{path}:{line}: trailing white space after the count; strict readers (shadow's newuidmap) reject the entry; left unchanged"
                    ),
                )
            }
        };
        out.findings.push(finding.with_target(path));
    }
    if let Some((start, len)) = final_range {
        let covered: Vec<String> = file
            .accounts
            .iter()
            .filter(|(_, id)| (start..start + len).contains(&u64::from(*id)))
            .map(|(name, id)| format!("{name} ({id})"))
            .collect();
        if !covered.is_empty() {
            out.findings.push(
                Finding::advisory(
                    RULE,
                    Severity::Medium,
                    format!(
                        "{path}: the range {start}:{len} of {} includes the {} of {}: container ids map onto these host accounts",
                        account.name,
                        if file.what == "subuid" { "uid" } else { "gid" },
                        covered.join(", ")
                    ),
                )
                .with_target(path),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{apply_changes, case_dir, context, empty_root, fixture_root, policy, read};
    use super::*;
    use crate::plan::Status;
    use std::os::unix::fs::PermissionsExt;

    /// A profile that leaves userns-remap to daemon.json.
    const FROM_DAEMON_JSON: &str = "[rules.daemon-userns-remap]\nenabled = false\n";

    fn run(root: &crate::host::HostRoot, profile: &str) -> Result<Outcome> {
        let policy = policy(profile);
        plan(&context(root, &policy))
    }

    fn has(out: &Outcome, status: Status, needle: &str) -> bool {
        out.findings
            .iter()
            .any(|f| f.status == status && f.message.contains(needle))
    }

    fn write(dir: &tempfile::TempDir, path: &str, content: &[u8]) {
        let full = dir.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    fn mode(dir: &tempfile::TempDir, path: &str) -> u32 {
        std::fs::metadata(dir.path().join(path.trim_start_matches('/')))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn remap_forms_parse() {
        let name = |s: &str| IdRef::Name(s.to_string());
        assert_eq!(
            parse_remap("default").unwrap(),
            RemapSpec {
                user: name("dockremap"),
                group: None,
                default: true
            }
        );
        assert_eq!(
            parse_remap("alice").unwrap(),
            RemapSpec {
                user: name("alice"),
                group: None,
                default: false
            }
        );
        assert_eq!(
            parse_remap("alice:staff").unwrap(),
            RemapSpec {
                user: name("alice"),
                group: Some(name("staff")),
                default: false
            }
        );
        assert_eq!(parse_remap("20001").unwrap().user, IdRef::Id(20001));
        let both = parse_remap("20001:1002").unwrap();
        assert_eq!((both.user, both.group), (IdRef::Id(20001), Some(IdRef::Id(1002))));
        let mixed = parse_remap("alice:1002").unwrap();
        assert_eq!((mixed.user, mixed.group), (name("alice"), Some(IdRef::Id(1002))));
        assert!(parse_remap("default:staff").unwrap().default);
        for bad in ["", "a:b:c", ":g", "u:", "4294967296", "a b"] {
            assert!(parse_remap(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn c17_numeric_owner_and_numeric_name_pass_without_changes() {
        let (dir, root) = fixture_root(&case_dir("C17-subid-numeric-owner").join("input"));
        let out = run(&root, FROM_DAEMON_JSON).unwrap();
        assert!(out.changes.is_empty(), "{:#?}", out.changes);
        assert!(
            has(&out, Status::Compliant, "20001 has subuid range 231072:65536"),
            "{:#?}",
            out.findings
        );
        assert!(
            has(&out, Status::Compliant, "20001 has subgid range 231072:65536"),
            "{:#?}",
            out.findings
        );
        assert_eq!(
            out.findings
                .iter()
                .filter(|f| f.status == Status::Compliant)
                .count(),
            2,
            "{:#?}",
            out.findings
        );
        assert!(
            out.findings.iter().all(|f| f.status == Status::Compliant),
            "no overlap or error: {:#?}",
            out.findings
        );
        assert_eq!(
            read(&dir, "etc/subuid"),
            b"1001:100000:65536\nbob:165536:65536\n20001:231072:65536\n"
        );
    }

    #[test]
    fn c17_user_and_group_parts_are_looked_up_separately() {
        let (dir, root) = fixture_root(&case_dir("C17-subid-numeric-owner").join("input"));
        // No userns-remap in daemon.json, so that the profile's value is set.
        write(&dir, "etc/docker/daemon.json", b"{}\n");
        // subgid is looked up by the group part: bob's gid 1002 has the
        // numeric-owner line `1002:165536:65536`.
        let out = run(&root, "[rules.daemon-userns-remap]\nremap = \"20001:1002\"\n").unwrap();
        assert!(out.changes.is_empty(), "{:#?}", out.changes);
        assert!(has(
            &out,
            Status::Compliant,
            "20001 has subuid range 231072:65536"
        ));
        assert!(
            has(&out, Status::Compliant, "bob has subgid range 165536:65536"),
            "{:#?}",
            out.findings
        );
        // alice's subuid line is keyed by her uid.
        let out = run(&root, "[rules.daemon-userns-remap]\nremap = \"alice:bob\"\n").unwrap();
        assert!(out.changes.is_empty(), "{:#?}", out.changes);
        assert!(
            has(&out, Status::Compliant, "alice has subuid range 100000:65536"),
            "{:#?}",
            out.findings
        );
        assert!(
            has(&out, Status::Compliant, "bob has subgid range 165536:65536"),
            "{:#?}",
            out.findings
        );
    }

    #[test]
    fn c17_variant_default_appends_dockremap_ranges_byte_exact() {
        let case = case_dir("C17-subid-numeric-owner");
        // Both ways of asking for "default": daemon.json, and the profile.
        for profile in [FROM_DAEMON_JSON, ""] {
            let (dir, root) = fixture_root(&case.join("input-variant-default"));
            let out = run(&root, profile).unwrap();
            let summaries: Vec<&str> = out.changes.iter().map(|c| c.summary.as_str()).collect();
            assert_eq!(
                summaries,
                vec![
                    "add range dockremap:296608:65536 to /etc/subuid",
                    "add range dockremap:296608:65536 to /etc/subgid"
                ]
            );
            assert!(
                out.changes
                    .iter()
                    .all(|c| c.rule == RULE && c.kind == Kind::Subid)
            );
            apply_changes(&root, &out.changes);
            for file in ["etc/subuid", "etc/subgid"] {
                assert_eq!(
                    String::from_utf8(read(&dir, file)).unwrap(),
                    String::from_utf8(
                        std::fs::read(case.join("expected-variant-default").join(file)).unwrap()
                    )
                    .unwrap(),
                    "{file}"
                );
            }
            let again = run(&root, profile).unwrap();
            assert!(again.changes.is_empty(), "second plan: {:#?}", again.changes);
            assert!(has(
                &again,
                Status::Compliant,
                "dockremap has subuid range 296608:65536"
            ));
        }
    }

    #[test]
    fn c19_missing_newline_and_trailing_space_byte_exact() {
        let case = case_dir("C19-subid-no-trailing-newline");
        let (dir, root) = fixture_root(&case.join("input"));
        let modes = (mode(&dir, "etc/subuid"), mode(&dir, "etc/subgid"));
        let out = run(&root, FROM_DAEMON_JSON).unwrap();
        let summaries: Vec<&str> = out.changes.iter().map(|c| c.summary.as_str()).collect();
        assert_eq!(
            summaries,
            vec![
                "add range dockremap:231072:65536 to /etc/subuid",
                "add range dockremap:231072:65536 to /etc/subgid"
            ]
        );
        let newline = out
            .findings
            .iter()
            .find(|f| {
                f.message
                    .contains("last line lacks newline; some shadow versions ignore it")
            })
            .expect("missing-newline warning");
        assert_eq!(
            (newline.status, newline.severity),
            (Status::Advisory, Severity::Low)
        );
        assert_eq!(newline.target.as_deref(), Some("/etc/subuid"));
        assert!(
            newline.message.starts_with("/etc/subuid:2:"),
            "{}",
            newline.message
        );
        assert!(
            newline.message.ends_with("(the planned append adds it)"),
            "{}",
            newline.message
        );
        let space = out
            .findings
            .iter()
            .find(|f| f.message.contains("trailing white space"))
            .expect("trailing-space warning");
        assert_eq!((space.status, space.severity), (Status::Advisory, Severity::Low));
        assert!(space.message.starts_with("/etc/subgid:2:"), "{}", space.message);

        apply_changes(&root, &out.changes);
        for file in ["etc/subuid", "etc/subgid"] {
            assert_eq!(
                read(&dir, file),
                std::fs::read(case.join("expected").join(file)).unwrap(),
                "{file}"
            );
        }
        assert_eq!((mode(&dir, "etc/subuid"), mode(&dir, "etc/subgid")), modes);

        let again = run(&root, FROM_DAEMON_JSON).unwrap();
        assert!(again.changes.is_empty(), "second plan: {:#?}", again.changes);
        assert!(!has(&again, Status::Advisory, "lacks newline"));
        assert!(
            has(&again, Status::Advisory, "trailing white space"),
            "still reported, never rewritten"
        );
    }

    /// A root without dockremap: root, alice, a taken uid 999 and gid 998.
    fn fresh_root(shadow: bool) -> (tempfile::TempDir, crate::host::HostRoot) {
        let (dir, root) = empty_root();
        write(
            &dir,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/bash\nsvc:x:999:999::/nonexistent:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash",
        );
        write(
            &dir,
            "etc/group",
            b"root:x:0:\nsvc:x:999:\nother:x:998:\nalice:x:1000:\n",
        );
        if shadow {
            write(
                &dir,
                "etc/shadow",
                b"root:*:19000:0:99999:7:::\nsvc:!:19000::::::\nalice:!:19000:0:99999:7:::\n",
            );
            write(&dir, "etc/gshadow", b"root:*::\nsvc:!::\nother:!::\nalice:!::\n");
            std::fs::set_permissions(
                dir.path().join("etc/shadow"),
                std::fs::Permissions::from_mode(0o640),
            )
            .unwrap();
        }
        write(
            &dir,
            "etc/docker/daemon.json",
            b"{\"userns-remap\": \"default\"}\n",
        );
        (dir, root)
    }

    #[test]
    fn creates_dockremap_user_group_and_ranges_then_is_idempotent() {
        let (dir, root) = fresh_root(true);
        let out = run(&root, "").unwrap();
        let summaries: Vec<&str> = out.changes.iter().map(|c| c.summary.as_str()).collect();
        assert_eq!(
            summaries,
            vec![
                "create system group dockremap (gid 997)",
                "add group dockremap to /etc/gshadow",
                "create system user dockremap (uid 998)",
                "add user dockremap to /etc/shadow",
                "add range dockremap:100000:65536 to /etc/subuid",
                "add range dockremap:100000:65536 to /etc/subgid",
            ]
        );
        apply_changes(&root, &out.changes);
        assert_eq!(
            read(&dir, "etc/passwd"),
            b"root:x:0:0:root:/root:/bin/bash\nsvc:x:999:999::/nonexistent:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash\ndockremap:x:998:997::/nonexistent:/usr/sbin/nologin\n"
        );
        assert_eq!(
            read(&dir, "etc/group"),
            b"root:x:0:\nsvc:x:999:\nother:x:998:\nalice:x:1000:\ndockremap:x:997:\n"
        );
        assert!(read(&dir, "etc/shadow").ends_with(b"\nalice:!:19000:0:99999:7:::\ndockremap:!:::::::\n"));
        assert!(read(&dir, "etc/gshadow").ends_with(b"\nalice:!::\ndockremap:!::\n"));
        assert_eq!(mode(&dir, "etc/shadow"), 0o640);
        assert_eq!(read(&dir, "etc/subuid"), b"dockremap:100000:65536\n");
        assert_eq!(read(&dir, "etc/subgid"), b"dockremap:100000:65536\n");
        assert_eq!(
            (mode(&dir, "etc/subuid"), mode(&dir, "etc/subgid")),
            (0o644, 0o644)
        );

        let again = run(&root, "").unwrap();
        assert!(again.changes.is_empty(), "second plan: {:#?}", again.changes);
        assert!(has(
            &again,
            Status::Compliant,
            "dockremap has subuid range 100000:65536"
        ));
    }

    #[test]
    fn creation_prefers_gid_equal_to_uid_and_honours_login_defs() {
        let (dir, root) = fresh_root(false);
        write(
            &dir,
            "etc/login.defs",
            b"# test\nSYS_UID_MIN 200\nSYS_UID_MAX 499\nSYS_GID_MAX 499\nSUB_UID_MIN 500000\nSUB_GID_MIN 600000\n",
        );
        write(&dir, "etc/subuid", b"alice:500000:10\n");
        let out = run(&root, "").unwrap();
        let summaries: Vec<&str> = out.changes.iter().map(|c| c.summary.as_str()).collect();
        assert_eq!(
            summaries,
            vec![
                "create system group dockremap (gid 499)",
                "create system user dockremap (uid 499)",
                "add range dockremap:500010:65536 to /etc/subuid",
                "add range dockremap:600000:65536 to /etc/subgid",
            ]
        );
        apply_changes(&root, &out.changes);
        assert!(
            read(&dir, "etc/passwd").ends_with(b"\ndockremap:x:499:499::/nonexistent:/usr/sbin/nologin\n")
        );
        assert!(!dir.path().join("etc/shadow").exists(), "shadow is never created");
        assert!(run(&root, "").unwrap().changes.is_empty());
    }

    #[test]
    fn new_ids_avoid_numeric_owners_of_stale_ranges() {
        let (dir, root) = fresh_root(false);
        write(
            &dir,
            "etc/subuid",
            b"998:500000:10
",
        );
        write(
            &dir,
            "etc/subgid",
            b"997:500000:10
",
        );
        let out = run(&root, "").unwrap();
        let summaries: Vec<&str> = out.changes.iter().map(|c| c.summary.as_str()).collect();
        assert_eq!(
            summaries,
            vec![
                "create system group dockremap (gid 996)",
                "create system user dockremap (uid 997)",
                "add range dockremap:100000:65536 to /etc/subuid",
                "add range dockremap:100000:65536 to /etc/subgid",
            ]
        );
    }

    #[test]
    fn creates_only_the_missing_group_for_an_existing_dockremap_user() {
        let (dir, root) = fresh_root(false);
        write(
            &dir,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/bash\ndockremap:x:990:990::/nonexistent:/usr/sbin/nologin\n",
        );
        let out = run(&root, "").unwrap();
        assert_eq!(out.changes[0].summary, "create system group dockremap (gid 990)");
        assert!(out.changes.iter().all(|c| c.target != "/etc/passwd"));
        apply_changes(&root, &out.changes);
        assert!(read(&dir, "etc/group").ends_with(b"alice:x:1000:\ndockremap:x:990:\n"));
        assert!(run(&root, "").unwrap().changes.is_empty());
    }

    #[test]
    fn a_missing_named_user_is_an_error_not_created() {
        let (dir, root) = fresh_root(true);
        write(&dir, "etc/docker/daemon.json", b"{}\n");
        for value in ["carol", "4242", "alice:nogroup", "alice:4242"] {
            let profile = format!("[rules.daemon-userns-remap]\nremap = \"{value}\"\n");
            let out = run(&root, &profile).unwrap();
            assert!(out.changes.is_empty(), "{value}: {:#?}", out.changes);
            assert!(
                out.findings.iter().any(
                    |f| f.status == Status::Error && f.message.contains(value.split(':').next().unwrap())
                ),
                "{value}: {:#?}",
                out.findings
            );
        }
    }

    #[test]
    fn the_remap_user_is_the_one_the_daemon_rule_leaves_in_daemon_json() {
        use RemapAfterRule::{Kept, Off, Planned};
        assert_eq!(remap_after_rule("default", None), Planned("default"));
        assert_eq!(remap_after_rule("default", Some("")), Planned("default"));
        assert_eq!(remap_after_rule("default", Some("default")), Kept("default"));
        assert_eq!(remap_after_rule("default", Some("20001")), Kept("20001"));
        assert_eq!(remap_after_rule("", Some("20001")), Kept("20001"));
        assert_eq!(remap_after_rule("", Some("")), Off);
        assert_eq!(remap_after_rule("", None), Off);

        // C17: daemon.json remaps to 20001, the built-in profile asks for
        // "default": dockerd keeps 20001, whose ranges are checked.
        let (dir, root) = fixture_root(&case_dir("C17-subid-numeric-owner").join("input"));
        let out = run(&root, "").unwrap();
        assert!(out.changes.is_empty(), "{:#?}", out.changes);
        assert!(
            has(&out, Status::Compliant, "20001 has subuid range 231072:65536"),
            "{:#?}",
            out.findings
        );
        // Without a range, one is planned for 20001, never for dockremap.
        write(&dir, "etc/subuid", b"");
        let out = run(&root, "").unwrap();
        let summaries: Vec<&str> = out.changes.iter().map(|c| c.summary.as_str()).collect();
        assert_eq!(summaries, vec!["add range 20001:100000:65536 to /etc/subuid"]);
        // An empty remap parameter: daemon.json's value still counts.
        let out = run(&root, "[rules.daemon-userns-remap]\nremap = \"\"\n").unwrap();
        assert_eq!(out.changes.len(), 1, "{:#?}", out.changes);
    }

    #[test]
    fn remap_to_root_is_off_and_gets_no_ranges() {
        let (dir, root) = fresh_root(false);
        write(
            &dir,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\n",
        );
        for (value, profile) in [
            ("root", FROM_DAEMON_JSON),
            ("0", FROM_DAEMON_JSON),
            ("0:0", ""),
            ("root:root", ""),
            ("toor", FROM_DAEMON_JSON),
        ] {
            write(
                &dir,
                "etc/docker/daemon.json",
                format!("{{\"userns-remap\": \"{value}\"}}\n").as_bytes(),
            );
            let out = run(&root, profile).unwrap();
            assert!(out.changes.is_empty(), "{value}: {:#?}", out.changes);
            let off = out
                .findings
                .iter()
                .find(|f| f.message.contains("turns user namespaces OFF"))
                .unwrap_or_else(|| panic!("{value}: {:#?}", out.findings));
            assert_eq!((off.status, off.severity), (Status::Advisory, Severity::High));
        }
    }

    #[test]
    fn ranges_reaching_uid_minus_one_are_reported_and_never_allocated() {
        let (dir, root) = fresh_root(false);
        write(
            &dir,
            "etc/login.defs",
            b"SUB_UID_MIN 4294901760\nSUB_UID_MAX 4294967295\n",
        );
        let out = run(&root, "").unwrap();
        assert!(
            out.changes.iter().all(|c| c.target != "/etc/subuid"),
            "{:#?}",
            out.changes
        );
        assert!(
            has(
                &out,
                Status::Error,
                "no free range of 65536 ids between 4294901760 and 4294967294"
            ),
            "{:#?}",
            out.findings
        );
        write(
            &dir,
            "etc/login.defs",
            b"SUB_UID_MIN 4294901759\nSUB_UID_MAX 4294967295\n",
        );
        let out = run(&root, "").unwrap();
        assert!(out.changes.iter().any(|c| {
            c.summary
                .starts_with("add range dockremap:4294901759:65536 to /etc/subuid")
        }));

        write(&dir, "etc/login.defs", b"");
        write(&dir, "etc/subuid", b"alice:4294901760:65536\n");
        write(&dir, "etc/subgid", b"dockremap:4294967295:1\n");
        let out = run(&root, "").unwrap();
        let reach: Vec<&Finding> = out
            .findings
            .iter()
            .filter(|f| f.message.contains("4294967295 is (uid_t)-1"))
            .collect();
        assert_eq!(reach.len(), 2, "{reach:#?}");
        assert!(
            reach[0]
                .message
                .starts_with("/etc/subuid:1: range alice:4294901760:65536 ends at 4294967295")
        );
        assert_eq!(reach[0].severity, Severity::Medium);
        assert_eq!(reach[1].severity, Severity::High, "dockremap's own range");
        assert!(
            out.changes.iter().all(|c| c.target != "/etc/subgid"),
            "{:#?}",
            out.changes
        );
        assert!(out.changes.iter().any(|c| c.target == "/etc/subuid"));
    }

    #[test]
    fn malformed_subid_files_fail_with_file_and_line() {
        let (dir, root) = fresh_root(true);
        write(&dir, "etc/subuid", b"alice:100000:65536\nthis is garbage\n");
        let err = run(&root, "").unwrap_err();
        assert!(err.message().starts_with("/etc/subuid:2:"), "{err}");
        write(&dir, "etc/subuid", b"alice:100000:65536\n");
        write(&dir, "etc/subgid", b"\n\nalice:100000:lots\n");
        let err = run(&root, "").unwrap_err();
        assert!(err.message().starts_with("/etc/subgid:3:"), "{err}");
        write(&dir, "etc/subgid", b"");
        write(&dir, "etc/passwd", b"root:x:0:0\n");
        let err = run(&root, "").unwrap_err();
        assert!(err.message().starts_with("/etc/passwd:1:"), "{err}");
        write(&dir, "etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n");
        write(&dir, "etc/login.defs", b"SUB_UID_MIN x\n");
        let err = run(&root, "").unwrap_err();
        assert!(err.message().starts_with("/etc/login.defs:1:"), "{err}");
    }

    #[test]
    fn rule_off_or_no_remap_plans_nothing() {
        let (_dir, root) = fixture_root(&case_dir("C17-subid-numeric-owner").join("input-variant-default"));
        let out = run(&root, "[rules.subid-remap-range]\nenabled = false\n").unwrap();
        assert!(out.changes.is_empty() && out.findings.is_empty());

        let (dir, root) = fresh_root(false);
        std::fs::remove_file(dir.path().join("etc/docker/daemon.json")).unwrap();
        let out = run(&root, FROM_DAEMON_JSON).unwrap();
        assert!(out.changes.is_empty());
        assert!(has(&out, Status::NotApplicable, "absent"), "{:#?}", out.findings);

        write(&dir, "etc/docker/daemon.json", b"{\"icc\": false}\n");
        let out = run(&root, FROM_DAEMON_JSON).unwrap();
        assert!(out.changes.is_empty());
        assert!(has(&out, Status::NotApplicable, "not set"), "{:#?}", out.findings);

        let out = run(&root, "[rules.daemon-userns-remap]\nremap = \"\"\n").unwrap();
        assert!(out.changes.is_empty());
        assert!(has(&out, Status::NotApplicable, "empty"), "{:#?}", out.findings);
    }

    #[test]
    fn daemon_json_with_bom_is_read_and_broken_json_is_left_to_the_daemon_kind() {
        let (dir, root) = fresh_root(false);
        write(
            &dir,
            "etc/docker/daemon.json",
            b"\xef\xbb\xbf{\r\n  \"userns-remap\": \"default\"\r\n}\r\n",
        );
        let out = run(&root, FROM_DAEMON_JSON).unwrap();
        assert!(
            out.changes
                .iter()
                .any(|c| c.summary.starts_with("create system user dockremap"))
        );

        for broken in [&b"{\"userns-remap\": \"default\",}\n"[..], b"", b"// c\n{}\n"] {
            write(&dir, "etc/docker/daemon.json", broken);
            let out = run(&root, FROM_DAEMON_JSON).unwrap();
            assert!(out.changes.is_empty());
            assert!(
                has(&out, Status::NotApplicable, "the daemon kind reports it"),
                "{:#?}",
                out.findings
            );
        }
        write(&dir, "etc/docker/daemon.json", b"{\"userns-remap\": 5}\n");
        let out = run(&root, FROM_DAEMON_JSON).unwrap();
        assert!(
            has(&out, Status::NotApplicable, "not a string"),
            "{:#?}",
            out.findings
        );
    }

    #[test]
    fn small_ranges_and_overlaps_are_advisories() {
        let (dir, root) = fresh_root(false);
        write(&dir, "etc/passwd", b"root:x:0:0:root:/root:/bin/bash\ndockremap:x:998:998::/nonexistent:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash\n");
        write(&dir, "etc/group", b"root:x:0:\ndockremap:x:998:\nalice:x:1000:\n");
        // dockremap (by uid) has a short subuid range; alice's two lines
        // (name and uid) overlap each other harmlessly but bob's overlaps hers.
        write(
            &dir,
            "etc/subuid",
            b"998:300000:1000\nalice:100000:65536\n1000:100000:10\nbob:165000:100\n",
        );
        write(&dir, "etc/subgid", b"dockremap:500:65536\n");
        let out = run(&root, "").unwrap();
        assert!(out.changes.is_empty(), "{:#?}", out.changes);
        assert!(
            has(&out, Status::Advisory, "dockremap has only 1000 subuid ids"),
            "{:#?}",
            out.findings
        );
        let overlaps: Vec<&Finding> = out
            .findings
            .iter()
            .filter(|f| f.message.contains("overlap"))
            .collect();
        assert_eq!(overlaps.len(), 1, "{overlaps:#?}");
        assert_eq!(overlaps[0].severity, Severity::High);
        assert!(overlaps[0].message.contains("alice (line 2") && overlaps[0].message.contains("bob (line 4"));
        // dockremap's subgid range covers gids 998 and 1000 of real groups.
        assert!(has(
            &out,
            Status::Compliant,
            "dockremap has subgid range 500:65536"
        ));
        assert!(!has(&out, Status::Advisory, "root (0)"), "{:#?}", out.findings);
        assert!(
            has(&out, Status::Advisory, "dockremap (998), alice (1000)"),
            "{:#?}",
            out.findings
        );
    }

    #[test]
    fn no_room_for_a_range_is_an_error_finding() {
        let (dir, root) = fresh_root(false);
        write(
            &dir,
            "etc/login.defs",
            b"SUB_UID_MIN 100000\nSUB_UID_MAX 150000\n",
        );
        let out = run(&root, "").unwrap();
        assert!(out.changes.iter().all(|c| c.target != "/etc/subuid"));
        assert!(out.changes.iter().any(|c| c.target == "/etc/subgid"));
        assert!(
            has(&out, Status::Error, "/etc/subuid: no free range of 65536 ids"),
            "{:#?}",
            out.findings
        );
    }

    #[test]
    fn profile_count_is_used() {
        let (dir, root) = fresh_root(false);
        let out = run(&root, "[rules.subid-remap-range]\ncount = 131072\n").unwrap();
        assert!(
            out.changes
                .iter()
                .any(|c| c.summary == "add range dockremap:100000:131072 to /etc/subuid")
        );
        apply_changes(&root, &out.changes);
        assert_eq!(read(&dir, "etc/subgid"), b"dockremap:100000:131072\n");
        // A smaller range than asked for later is reported, not replaced.
        let out = run(&root, "[rules.subid-remap-range]\ncount = 200000\n").unwrap();
        assert!(out.changes.is_empty());
        assert!(has(&out, Status::Advisory, "fewer than 200000"));
    }
}
