//! # Kind `iptables`
//!
//! Rules for the docker bridge (guideline G2): REJECT rules in Docker's
//! `DOCKER-USER` chain and in `INPUT`, each tagged with
//! `-m comment --comment "dockhard:<rule id>"`. The persistent side — a
//! rules file, a loader script, a systemd unit and a docker.service drop-in
//! (see [`files`]) — makes the rules load whenever docker.service starts.
//! On the live host one more change, a live step, puts the same rules into
//! the running firewall now, in the back end holding Docker's chains (see
//! [`live_rules`]); it is planned only when the tagged rules there differ.
//!
//! Inspection reads `iptables-save` and `iptables-legacy-save` output on the
//! live host (read-only) and analyses it with [`inspect_saved`]: rules split
//! between the nf_tables and legacy back ends, a DOCKER-USER chain nothing
//! jumps to, whether dockhard's rules are loaded. Offline the running
//! firewall is not looked at, and the plan says so.

use super::{ChangeInfo, Context, FileChain, Outcome};
use crate::catalog::RuleConfig;
use crate::error::Result;
use crate::host::HostRoot;
use crate::plan::{Change, Effect, Finding, Kind, Severity};
use std::collections::BTreeSet;
use std::fmt;

pub mod files;
pub mod graph;
pub mod rules;
pub mod save;

use rules::{ChainRule, RuleParams};
use save::SaveFile;

/// The catalog rule this kind implements.
pub const RULE_ID: &str = "iptables-docker-user";

/// Where daemon.json lives inside the root.
const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// nftables configurations that may pre-declare DOCKER-USER.
const NFTABLES_CONFS: &[&str] = &["/etc/nftables.conf", "/etc/sysconfig/nftables.conf"];

// ---------------------------------------------------------------- daemon.json

/// What daemon.json says about Docker's networking. Read leniently: an
/// unreadable or unparseable daemon.json gives the defaults (the daemon kind
/// reports it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonNet {
    /// `bridge`: the bridge Docker attaches containers to (`none`: no default bridge).
    pub bridge: Option<String>,
    /// The network of `bip` (`172.18.0.1/16` → `172.18.0.0/16`).
    pub bip_subnet: Option<String>,
    /// `iptables`: whether Docker manages iptables rules (default true).
    pub iptables: Option<bool>,
    /// `firewall-backend` (`iptables`, `nftables`).
    pub firewall_backend: Option<String>,
}

impl DaemonNet {
    pub fn from_json(value: &serde_json::Value) -> DaemonNet {
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_string);
        DaemonNet {
            bridge: text("bridge").filter(|b| !b.is_empty()),
            bip_subnet: text("bip").and_then(|b| rules::canonical_cidr(&b).ok()),
            iptables: value.get("iptables").and_then(|v| v.as_bool()),
            firewall_backend: text("firewall-backend"),
        }
    }

    /// Parses daemon.json text (a UTF-8 BOM is skipped); `None` if it is not JSON.
    pub fn parse(bytes: &[u8]) -> Option<DaemonNet> {
        super::daemon::json_value(bytes)
            .ok()
            .map(|v| DaemonNet::from_json(&v))
    }

    pub fn read(root: &HostRoot) -> Result<DaemonNet> {
        Ok(root
            .read_optional(DAEMON_JSON)?
            .and_then(|b| DaemonNet::parse(&b))
            .unwrap_or_default())
    }

    fn nftables_backend(&self) -> bool {
        self.firewall_backend.as_deref() == Some("nftables")
    }
}

/// The rule's parameters, with daemon.json's `bridge` and `bip` used where
/// the profile keeps the catalog defaults.
pub fn effective_params(config: &RuleConfig, daemon: &DaemonNet) -> Result<RuleParams> {
    let params = &config.params;
    let is_default =
        |key: &str, value: &str| config.rule.params.get(key).and_then(|v| v.as_str()) == Some(value);
    let mut bridge = params.string("bridge");
    if let Some(custom) = &daemon.bridge
        && is_default("bridge", &bridge)
        && custom != "none"
    {
        bridge = custom.clone();
    }
    let mut subnet = params.string("subnet");
    if let Some(custom) = &daemon.bip_subnet
        && is_default("subnet", &subnet)
    {
        subnet = custom.clone();
    }
    RuleParams::new(
        &config.rule.id,
        &bridge,
        &subnet,
        &params.integers("daemon_ports"),
        &params.strings("blocked_destinations"),
        params.boolean("restrict_egress"),
        &params.strings("egress_allow"),
    )
}

// ---------------------------------------------------------------- back ends

/// Which iptables command reaches the tables that hold Docker's chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `iptables` as installed (nf_tables on current distributions).
    Default,
    /// `iptables-legacy`.
    Legacy,
}

impl Backend {
    pub fn command(self) -> &'static str {
        match self {
            Backend::Default => "iptables",
            Backend::Legacy => "iptables-legacy",
        }
    }

    pub fn save_command(self) -> &'static str {
        match self {
            Backend::Default => "iptables-save",
            Backend::Legacy => "iptables-legacy-save",
        }
    }
}

/// The back end holding Docker's chains, the choice the loader script makes
/// at run time: the default one if it has them, else legacy if it has them,
/// else the default one.
pub fn choose_backend(default: Option<&SaveFile>, legacy: Option<&SaveFile>) -> Backend {
    if default.is_some_and(SaveFile::has_docker_chains) {
        Backend::Default
    } else if legacy.is_some_and(SaveFile::has_docker_chains) {
        Backend::Legacy
    } else {
        Backend::Default
    }
}

/// One iptables command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command(pub Vec<String>);

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self
            .0
            .iter()
            .map(|w| {
                if !w.is_empty()
                    && w.chars().all(|c| {
                        c.is_ascii_alphanumeric()
                            || matches!(c, '-' | '_' | '.' | '/' | ':' | ',' | '!' | '+' | '@')
                    })
                {
                    w.clone()
                } else {
                    format!("'{}'", w.replace('\'', r"'\''"))
                }
            })
            .collect();
        f.write_str(&words.join(" "))
    }
}

/// What the running firewall of the chosen back end looks like, as far as
/// loading the rules is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    pub backend: Backend,
    pub docker_user_exists: bool,
    /// FORWARD's first rule, not counting dockhard's own, is Docker's
    /// `-j DOCKER-USER`.
    pub forward_jump_first: bool,
    /// The comment that marks dockhard's rules.
    pub tag: String,
    /// Rules carrying the tag: (table, chain, 1-based rule number).
    pub tagged: Vec<(String, String, usize)>,
}

impl ChainState {
    /// The state of `save` (the back end's output; `None`: nothing known,
    /// as on an offline root, where the loader's checks decide at boot).
    pub fn from_save(backend: Backend, save: Option<&SaveFile>, tag: &str) -> ChainState {
        let filter = save.and_then(|s| s.table("filter"));
        let forward: Vec<_> = filter
            .map(|t| {
                t.rules_of("FORWARD")
                    .filter(|r| r.comment() != Some(tag))
                    .collect()
            })
            .unwrap_or_default();
        let is_jump = |r: &&save::SavedRule| r.args == ["-j", "DOCKER-USER"];
        let mut tagged = Vec::new();
        for table in save.map(|s| s.tables.as_slice()).unwrap_or_default() {
            let mut numbers: std::collections::BTreeMap<&str, usize> = Default::default();
            for rule in &table.rules {
                let n = numbers.entry(&rule.chain).or_default();
                *n += 1;
                if rule.comment() == Some(tag) {
                    tagged.push((table.name.clone(), rule.chain.clone(), *n));
                }
            }
        }
        ChainState {
            backend,
            docker_user_exists: filter.is_some_and(|t| t.chain("DOCKER-USER").is_some()),
            forward_jump_first: forward.first().is_some_and(is_jump),
            tag: tag.to_string(),
            tagged,
        }
    }
}

/// The commands that bring the running firewall of `state` to hold `rules`
/// at the top of their chains, as the loader script does: delete the tagged
/// rules (highest number first), make DOCKER-USER exist, and unless
/// Docker's own jump is FORWARD's first rule add a tagged jump at FORWARD
/// position 1, then insert each rule at position k of its chain. A
/// DOCKER-USER that exists gets its jump even with no rules to add: its
/// rules are inert without it. Docker's own rules are never deleted or
/// moved; the live step ([`live_rules`]) leaves the same rules.
pub fn commands_for(state: &ChainState, rules: &[ChainRule]) -> Vec<Command> {
    let cmd = |table: &str, args: &[&str]| {
        let mut words = vec![state.backend.command().to_string()];
        if table != "filter" {
            words.extend(["-t".to_string(), table.to_string()]);
        }
        words.extend(args.iter().map(|a| a.to_string()));
        Command(words)
    };
    let mut out = Vec::new();
    let mut tagged = state.tagged.clone();
    tagged.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)).then(b.2.cmp(&a.2)));
    for (table, chain, n) in &tagged {
        out.push(cmd(table, &["-D", chain, &n.to_string()]));
    }
    let uses_docker_user = rules
        .iter()
        .any(|r| r.table == "filter" && r.chain == "DOCKER-USER");
    if uses_docker_user && !state.docker_user_exists {
        out.push(cmd("filter", &["-N", "DOCKER-USER"]));
    }
    if (uses_docker_user || state.docker_user_exists) && !state.forward_jump_first {
        out.push(cmd(
            "filter",
            &[
                "-I",
                "FORWARD",
                "1",
                "-m",
                "comment",
                "--comment",
                &state.tag,
                "-j",
                "DOCKER-USER",
            ],
        ));
    }
    let mut positions: std::collections::BTreeMap<(&str, &str), usize> = Default::default();
    for rule in rules {
        let n = positions.entry((&rule.table, &rule.chain)).or_default();
        *n += 1;
        let mut args = vec!["-I", rule.chain.as_str()];
        let pos = n.to_string();
        args.push(&pos);
        args.extend(rule.args.iter().map(String::as_str));
        out.push(cmd(&rule.table, &args));
    }
    out
}

// ---------------------------------------------------------------- analysis

/// What [`inspect_saved`] concluded.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub findings: Vec<Finding>,
    pub backend: Backend,
    /// The jump graph of the chosen back end's filter table.
    pub chains: Vec<graph::ChainRef>,
    pub state: ChainState,
}

/// Analyses captured firewall state, purely: `iptables_save` is the output
/// of the default `iptables-save`, `legacy_save` of `iptables-legacy-save`
/// (`None`: not available), `nftables_conf` the host's nftables
/// configuration, `expected` the rules dockhard wants loaded. Unparseable
/// output is an error naming the line.
pub fn inspect_saved(
    rule_id: &str,
    iptables_save: Option<&str>,
    legacy_save: Option<&str>,
    daemon: &DaemonNet,
    nftables_conf: Option<(&str, &str)>,
    expected: &[ChainRule],
) -> Result<Analysis> {
    let default = iptables_save
        .map(|t| save::parse(t, "iptables-save"))
        .transpose()?;
    let legacy = legacy_save
        .map(|t| save::parse(t, "iptables-legacy-save"))
        .transpose()?;
    // When the default back end is legacy itself, both commands show the
    // same tables: there is one back end.
    let legacy = legacy.filter(|_| default.as_ref().is_none_or(SaveFile::is_nft));
    let backend = choose_backend(default.as_ref(), legacy.as_ref());
    let (chosen, other) = match backend {
        Backend::Default => (default.as_ref(), legacy.as_ref()),
        Backend::Legacy => (legacy.as_ref(), default.as_ref()),
    };
    let tag = rules::tag(rule_id);
    let mut findings = Vec::new();
    let target = format!("{} (filter)", backend.command());

    let warned = default.as_ref().is_some_and(|d| d.legacy_warning);
    let both =
        default.as_ref().is_some_and(SaveFile::has_rules) && legacy.as_ref().is_some_and(SaveFile::has_rules);
    if warned || both {
        findings.push(split_finding(rule_id, backend, chosen, other, legacy.is_some()));
    }

    let filter = chosen.and_then(|s| s.table("filter"));
    let chains = filter.map(graph::analyse).unwrap_or_default();
    if chosen.is_some() && !chosen.is_some_and(SaveFile::has_docker_chains) && daemon.iptables != Some(false)
    {
        findings.push(
            Finding::advisory(
                rule_id,
                Severity::Low,
                "no Docker chains in the running firewall (dockerd not running, or not started yet); \
                 the loader creates DOCKER-USER and FORWARD's jump to it when docker.service starts",
            )
            .with_target(target.clone()),
        );
    }
    let declared = nftables_conf.and_then(|(path, text)| declares_docker_user(text).then_some(path));
    let mut root_cause_named = false;
    if let Some(user) = chains.iter().find(|c| c.name == "DOCKER-USER") {
        if !user.reachable {
            let mut message = format!(
                "DOCKER-USER is not referenced from FORWARD: its {} rules are inert ({} DROP/REJECT rules have no effect). \
                 Fix: `{}` (position 1, before Docker's own jumps); dockhard adds such a jump, tagged, now (live apply) \
                 and at every docker start (its loader).",
                user.inert_rules(),
                user.dropping_rules,
                Command(vec![
                    backend.command().into(),
                    "-I".into(),
                    "FORWARD".into(),
                    "1".into(),
                    "-j".into(),
                    "DOCKER-USER".into()
                ]),
            );
            if let Some(path) = declared {
                root_cause_named = true;
                message.push_str(&format!(
                    " Root cause: {path} declares chain DOCKER-USER, so dockerd could not create the chain and \
                     did not add its jump (moby#48568); restarting nftables.service or dockerd brings it back: \
                     remove the declaration (or add the jump there too)."
                ));
            }
            findings.push(Finding::advisory(rule_id, Severity::High, message).with_target(target.clone()));
        } else if let Some(pos) = filter
            .map(|t| {
                t.rules_of("FORWARD")
                    .position(|r| r.args == ["-j", "DOCKER-USER"])
            })
            .and_then(|p| p.filter(|&p| p > 0))
        {
            findings.push(
                Finding::advisory(
                    rule_id,
                    Severity::Medium,
                    format!(
                        "FORWARD jumps to DOCKER-USER only in rule {}: the {pos} rules before it decide first; \
                         dockhard adds a tagged jump at position 1",
                        pos + 1
                    ),
                )
                .with_target(target.clone()),
            );
        }
    }
    // Declared but the jump is there (the loader added it): still a trap
    // for the next nftables.service restart.
    if !root_cause_named && let Some(path) = declared {
        findings.push(nftables_declares_finding(rule_id, path));
    }

    let state = ChainState::from_save(backend, chosen, &tag);
    if chosen.is_some() && !expected.is_empty() {
        findings.push(loaded_finding(rule_id, &target, chosen, expected));
    }
    Ok(Analysis {
        findings,
        backend,
        chains,
        state,
    })
}

fn split_finding(
    rule_id: &str,
    backend: Backend,
    chosen: Option<&SaveFile>,
    other: Option<&SaveFile>,
    legacy_read: bool,
) -> Finding {
    let name = |b: Backend| match b {
        Backend::Default => "the default (nf_tables) back end",
        Backend::Legacy => "the legacy back end",
    };
    let other_backend = match backend {
        Backend::Default => Backend::Legacy,
        Backend::Legacy => Backend::Default,
    };
    let mut message = String::from("rules exist in both back ends (iptables-nft and iptables-legacy)");
    if !legacy_read {
        message.push_str(
            "; iptables-save warns of legacy tables but iptables-legacy-save could not be read, \
             so where Docker's chains are is unknown",
        );
        return Finding::advisory(rule_id, Severity::Medium, message);
    }
    let docker_here = chosen.is_some_and(SaveFile::has_docker_chains);
    if docker_here {
        message.push_str(&format!(
            "; Docker's chains are in {}, so dockhard's rules go there (`{}`)",
            name(backend),
            backend.command()
        ));
    }
    message.push_str(". A packet must pass both rulesets");
    let other_drops = other
        .and_then(|s| s.table("filter"))
        .and_then(|t| t.chain("FORWARD"))
        .and_then(|c| c.policy.as_deref())
        .is_some_and(|p| p == "DROP");
    if docker_here && other_drops {
        message.push_str(&format!(
            ": the FORWARD policy DROP in {} drops container traffic that Docker's rules accept \
             (containers cannot reach out)",
            name(other_backend)
        ));
    }
    message.push_str(
        ". Move Docker and the host firewall to one back end (update-alternatives --set iptables …, \
         then restart dockerd).",
    );
    Finding::advisory(rule_id, Severity::Medium, message).with_target("iptables back ends")
}

fn nftables_declares_finding(rule_id: &str, path: &str) -> Finding {
    Finding::advisory(
        rule_id,
        Severity::Medium,
        format!(
            "{path} declares chain DOCKER-USER: dockerd then fails to create the chain and adds no FORWARD jump to it, \
             so rules in it are inert (moby#48568). dockhard's loader adds the jump at every docker start, but \
             restarting nftables.service still drops it until docker restarts: remove the declaration."
        ),
    )
    .with_target(path)
}

/// Whether an nftables configuration declares a chain named DOCKER-USER.
pub fn declares_docker_user(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        while let Some(word) = words.next() {
            if word == "chain" {
                return words
                    .next()
                    .is_some_and(|n| n.trim_matches(|c| c == '"' || c == '{') == "DOCKER-USER");
            }
        }
        false
    })
}

/// Whether the running firewall holds the expected rules at the top of
/// their chains.
fn loaded_finding(rule_id: &str, target: &str, chosen: Option<&SaveFile>, expected: &[ChainRule]) -> Finding {
    let mut chains: Vec<(&str, &str)> = Vec::new();
    for rule in expected {
        if !chains.contains(&(&rule.table, &rule.chain)) {
            chains.push((&rule.table, &rule.chain));
        }
    }
    let mut in_place = true;
    for (table, chain) in &chains {
        let want: Vec<String> = expected
            .iter()
            .filter(|r| r.table == *table && r.chain == *chain)
            .map(ChainRule::save_line)
            .collect();
        let have: Vec<String> = chosen
            .and_then(|s| s.table(table))
            .map(|t| {
                t.rules_of(chain)
                    .take(want.len())
                    .map(save::SavedRule::to_line)
                    .collect()
            })
            .unwrap_or_default();
        in_place &= have == want;
    }
    let tag = rules::tag(rule_id);
    let present = chosen
        .map(|s| {
            s.tables
                .iter()
                .flat_map(|t| &t.rules)
                .filter(|r| r.comment() == Some(&tag))
                .count()
        })
        .unwrap_or(0);
    if in_place {
        Finding::compliant(
            rule_id,
            format!(
                "the running firewall holds dockhard's {} rules at the top of their chains",
                expected.len()
            ),
        )
        .with_target(target)
    } else {
        Finding::advisory(
            rule_id,
            Severity::Medium,
            format!(
                "the running firewall does not hold dockhard's rules as planned ({present} tagged rules found, {} wanted \
                 at the top of their chains); a live apply loads them now, else they load when docker.service \
                 next starts, or run {}",
                expected.len(),
                files::SCRIPT_PATH
            ),
        )
        .with_target(target)
    }
}

// ---------------------------------------------------------------- live reading

/// The outcome of running one `*-save` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Output(String),
    Missing,
    Failed(String),
}

/// Runs a save command, read-only.
fn run_save(command: &str) -> Probe {
    match std::process::Command::new(command)
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => Probe::Output(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Probe::Failed(format!(
            "{command} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Probe::Missing,
        Err(e) => Probe::Failed(format!("{command}: {e}")),
    }
}

/// Findings about the running firewall, from the two probes.
fn inspect_probes(
    rule_id: &str,
    default: Probe,
    legacy: Probe,
    daemon: &DaemonNet,
    nftables_conf: Option<(&str, &str)>,
    expected: &[ChainRule],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let default_text = match default {
        Probe::Output(text) => Some(text),
        Probe::Missing => {
            findings.push(Finding::advisory(
                rule_id,
                Severity::Medium,
                "no iptables-save on this host: the running firewall could not be checked, and the loader needs \
                 the iptables commands",
            ));
            None
        }
        Probe::Failed(why) => {
            findings.push(Finding::error(
                rule_id,
                format!("could not read the running firewall: {why}"),
            ));
            return findings;
        }
    };
    // iptables-legacy-save is often not installed, or fails without the
    // legacy kernel modules: then there is no legacy ruleset to consider.
    let legacy_text = match legacy {
        Probe::Output(text) => Some(text),
        Probe::Missing | Probe::Failed(_) => None,
    };
    if default_text.is_none() && legacy_text.is_none() {
        return findings;
    }
    match inspect_saved(
        rule_id,
        default_text.as_deref(),
        legacy_text.as_deref(),
        daemon,
        nftables_conf,
        expected,
    ) {
        Ok(analysis) => findings.extend(analysis.findings),
        Err(e) => findings.push(Finding::error(
            rule_id,
            format!("could not read the running firewall: {e}"),
        )),
    }
    findings
}

// ---------------------------------------------------------------- planning

pub fn plan(ctx: &Context<'_>) -> Result<Outcome> {
    let Some(config) = ctx.policy.enabled(RULE_ID) else {
        return Ok(Outcome::default());
    };
    let rule_id = config.rule.id.as_str();
    let mut out = Outcome::default();
    let daemon = DaemonNet::read(ctx.root)?;
    if daemon.nftables_backend() {
        out.findings.push(
            Finding::not_applicable(
                rule_id,
                "daemon.json sets firewall-backend: nftables, so Docker programs nftables directly and creates no \
                 iptables DOCKER-USER chain: this rule does not apply. Filter container traffic in an nftables table \
                 of your own (a base chain on the forward hook; see Docker's nftables documentation). The key needs \
                 a recent Docker Engine (28.x): an older dockerd refuses to start on it.",
            )
            .with_target(DAEMON_JSON),
        );
        return Ok(out);
    }
    if daemon.bridge.as_deref() == Some("none") && config.params.string("bridge") == "docker0" {
        out.findings.push(
            Finding::not_applicable(
                rule_id,
                "daemon.json sets bridge: none, so there is no default bridge to restrict; set the rule's \
                 bridge parameter to filter another network's bridge",
            )
            .with_target(DAEMON_JSON),
        );
        return Ok(out);
    }
    let params = effective_params(config, &daemon)?;
    let wanted = rules::generate(&params);

    let mut nftables_conf = None;
    for path in NFTABLES_CONFS {
        if let Some(bytes) = ctx.root.read_optional(path)? {
            nftables_conf = Some((*path, String::from_utf8_lossy(&bytes).into_owned()));
            break;
        }
    }
    let nft_ref = nftables_conf.as_ref().map(|(p, t)| (*p, t.as_str()));

    if daemon.iptables == Some(false) {
        out.findings.push(
            Finding::advisory(
                rule_id,
                Severity::Medium,
                "daemon.json sets iptables: false: Docker manages no iptables rules and makes no DOCKER-USER \
                 chain. dockhard's loader creates DOCKER-USER and FORWARD's jump to it, so its rules still apply; \
                 NAT and published ports are up to the host firewall.",
            )
            .with_target(DAEMON_JSON),
        );
    }
    let mut live_firewall = false;
    if ctx.live {
        let default_probe = run_save(Backend::Default.save_command());
        live_firewall = default_probe != Probe::Missing;
        out.findings.extend(inspect_probes(
            rule_id,
            default_probe,
            run_save(Backend::Legacy.save_command()),
            &daemon,
            nft_ref,
            &wanted,
        ));
    } else {
        if let Some((path, text)) = nft_ref
            && declares_docker_user(text)
        {
            out.findings.push(nftables_declares_finding(rule_id, path));
        }
        out.findings.push(Finding::advisory(
            rule_id,
            Severity::Info,
            "offline root: the running firewall was not inspected and no rules are loaded now; the persisted \
             rules load when docker.service next starts on that host",
        ));
    }

    out.changes = persist_changes(ctx, config, &params, &wanted)?;
    if live_firewall {
        match live_change(config, &wanted) {
            Ok(change) => out.changes.extend(change),
            Err(e) => out.findings.push(Finding::error(
                rule_id,
                format!("the rules cannot be loaded into the running firewall now: {e}"),
            )),
        }
    }
    if out.changes.is_empty() {
        out.findings.push(
            Finding::compliant(
                rule_id,
                format!(
                    "{} rules persisted in {} and loaded by {} after docker.service",
                    wanted.len(),
                    files::RULES_PATH,
                    files::UNIT_NAME
                ),
            )
            .with_target(files::RULES_PATH),
        );
    }
    Ok(out)
}

// ---------------------------------------------------------------- live rules

/// The rules dockhard wants tagged in the running firewall, as
/// `filter CHAIN ARGS…` lines (ARGS as `iptables -S` prints them), in the
/// order they stand at the top of their chains. `filter` is the back end's
/// `iptables -S` listing of the filter table. When DOCKER-USER is used (or
/// exists) and FORWARD does not jump to it first — not counting dockhard's
/// own rules — the first rule is a tagged jump to it, which goes to
/// FORWARD position 1 (C21: the chain exists but nothing jumps to it).
/// Docker's own rules are never moved or removed: the tagged jump is the
/// only rule dockhard adds to FORWARD, and rollback removes it with the
/// others.
pub fn live_rules(filter: &[String], tag: &str, wanted: &[ChainRule]) -> Vec<String> {
    use crate::host::live::firewall::has_tag;
    let uses_docker_user = wanted
        .iter()
        .any(|r| r.table == "filter" && r.chain == "DOCKER-USER");
    let exists = filter.iter().any(|l| l == "-N DOCKER-USER");
    let first_forward = filter
        .iter()
        .filter(|l| l.starts_with("-A FORWARD ") && !has_tag(l, tag))
        .map(String::as_str)
        .next();
    let mut out = Vec::new();
    if (uses_docker_user || exists) && first_forward != Some("-A FORWARD -j DOCKER-USER") {
        let jump = ChainRule::new(
            "filter",
            "FORWARD",
            &["-m", "comment", "--comment", tag, "-j", "DOCKER-USER"],
        );
        out.push(format!("filter FORWARD {}", jump.rule_spec()));
    }
    out.extend(
        wanted
            .iter()
            .map(|r| format!("{} {} {}", r.table, r.chain, r.rule_spec())),
    );
    out
}

/// The live step: make the tagged rules in the back end holding Docker's
/// chains exactly the wanted ones. `None` when they already are.
fn live_change(config: &RuleConfig, wanted: &[ChainRule]) -> Result<Option<Change>> {
    use crate::host::live::firewall;
    let rule_id = config.rule.id.as_str();
    let tag = rules::tag(rule_id);
    let backend = firewall::docker_backend();
    let filter = firewall::save(&backend, "filter")
        .ok_or_else(|| crate::error::Error::msg(format!("{backend}: cannot list the filter table")))?;
    let present = firewall::tagged(&backend, &tag)?;
    let rules = live_rules(&filter, &tag, wanted);
    if firewall::same_rules(&present, &rules) {
        return Ok(None);
    }
    let target = format!("iptables:{backend}");
    let jump = rules.len() > wanted.len();
    let summary = format!(
        "load {} tagged rule(s) into the running firewall ({backend}){}{}",
        rules.len(),
        if jump {
            ", with FORWARD's jump to DOCKER-USER at position 1"
        } else {
            ""
        },
        if present.is_empty() {
            String::new()
        } else {
            format!(", replacing the {} tagged rule(s) there", present.len())
        }
    );
    let diff = crate::apply::rules_diff(&backend, &present, &rules);
    let action = crate::plan::Action::FirewallRules {
        path: target.clone(),
        backend: backend.clone(),
        tag,
        expect: present,
        rules,
    };
    let mut change =
        ChangeInfo::new(config, summary, Effect::Now).into_change(Kind::Iptables, &target, diff, action);
    change.live = true;
    Ok(Some(change))
}

/// The changes that write the four files (and their missing folders).
fn persist_changes(
    ctx: &Context<'_>,
    config: &RuleConfig,
    params: &RuleParams,
    wanted: &[ChainRule],
) -> Result<Vec<Change>> {
    let rule_id = config.rule.id.as_str();
    let mut chains: Vec<&str> = Vec::new();
    for rule in wanted {
        if !chains.contains(&rule.chain.as_str()) {
            chains.push(&rule.chain);
        }
    }
    let files: [(&str, u32, String, String); 4] = [
        (
            files::RULES_PATH,
            0o644,
            files::rules_file(params, wanted),
            format!(
                "persist {} {} rules for {} (loaded at boot after docker.service)",
                wanted.len(),
                chains.join("/"),
                params.bridge
            ),
        ),
        (
            files::SCRIPT_PATH,
            0o755,
            files::apply_script(rule_id),
            format!(
                "install the loader {} (puts the rules at the top of their chains in Docker's back end)",
                files::SCRIPT_PATH
            ),
        ),
        (
            files::UNIT_PATH,
            0o644,
            files::unit_file(rule_id),
            format!(
                "install {} (runs the loader after docker.service)",
                files::UNIT_NAME
            ),
        ),
        (
            files::DROPIN_PATH,
            0o644,
            files::dropin_file(rule_id),
            format!("make docker.service start {}", files::UNIT_NAME),
        ),
    ];
    let mut changes = Vec::new();
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for (path, mode, content, summary) in files {
        let mut chain = FileChain::load(ctx.root, Kind::Iptables, path, mode)?;
        let stat = ctx.root.lstat(path)?;
        let mut info = ChangeInfo::new(config, summary, Effect::AfterReboot);
        // The loader must stay executable and not writable by others.
        let wrong_mode = path == files::SCRIPT_PATH && stat.is_some_and(|s| s.mode & 0o7777 != mode);
        if chain.content() == Some(content.as_bytes()) {
            if wrong_mode && let Some(stat) = stat {
                let diff = format!("  mode {:04o} → {mode:04o} {path}\n", stat.mode & 0o7777);
                info.summary = format!("set mode {mode:04o} on {path}");
                changes.push(super::set_mode_change(
                    Kind::Iptables,
                    path,
                    &stat,
                    mode,
                    diff,
                    info,
                ));
            }
            continue;
        }
        if wrong_mode {
            // The rewrite keeps the old mode; force the loader's.
            chain.mode = mode;
            info.summary.push_str(&format!(" (mode {mode:04o})"));
        }
        for dir in super::missing_parents(ctx.root, Kind::Iptables, path, config)? {
            if dirs.insert(dir.target.clone()) {
                changes.push(dir);
            }
        }
        if let Some(change) = chain.edit(content.into_bytes(), info) {
            changes.push(change);
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{apply_changes, case_dir, context, empty_root, fixture_root, policy, read};
    use super::*;
    use crate::plan::{Action, Status};
    use std::os::unix::fs::PermissionsExt;

    fn case(case: &str, file: &str) -> String {
        std::fs::read_to_string(case_dir(case).join(file)).unwrap()
    }

    const C20: &str = "C20-iptables-split-legacy-nft";
    const C21: &str = "C21-iptables-docker-user-unreferenced";

    fn expected_commands(case_name: &str) -> Vec<String> {
        case(case_name, "expected/commands.txt")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    }

    fn default_rules() -> Vec<ChainRule> {
        let policy = policy("");
        let params = effective_params(policy.rule(RULE_ID), &DaemonNet::default()).unwrap();
        rules::generate(&params)
    }

    #[test]
    fn c20_backend_is_legacy_and_commands_match() {
        let nft = save::parse(&case(C20, "input/cmd/iptables-save.txt"), "a").unwrap();
        let legacy = save::parse(&case(C20, "input/cmd/iptables-legacy-save.txt"), "b").unwrap();
        let backend = choose_backend(Some(&nft), Some(&legacy));
        assert_eq!(backend, Backend::Legacy);
        let state = ChainState::from_save(backend, Some(&legacy), "dockhard:x");
        assert!(state.docker_user_exists && state.forward_jump_first);
        let rule = ChainRule::new("filter", "DOCKER-USER", &["-s", "203.0.113.0/24", "-j", "DROP"]);
        let got: Vec<String> = commands_for(&state, &[rule])
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, expected_commands(C20));
        // Without the legacy output the default back end is all there is.
        assert_eq!(choose_backend(Some(&nft), None), Backend::Default);
    }

    #[test]
    fn c20_split_finding_names_legacy_and_the_drop_hazard() {
        let analysis = inspect_saved(
            RULE_ID,
            Some(&case(C20, "input/cmd/iptables-save.txt")),
            Some(&case(C20, "input/cmd/iptables-legacy-save.txt")),
            &DaemonNet::default(),
            None,
            &default_rules(),
        )
        .unwrap();
        assert_eq!(analysis.backend, Backend::Legacy);
        let split = analysis
            .findings
            .iter()
            .find(|f| f.message.contains("rules exist in both back ends"))
            .expect("split finding");
        assert!(split.message.contains("legacy back end"), "{}", split.message);
        assert!(split.message.contains("`iptables-legacy`"), "{}", split.message);
        assert!(split.message.contains("FORWARD policy DROP"), "{}", split.message);
        // dockhard's rules are not loaded: said, not passed.
        assert!(
            analysis
                .findings
                .iter()
                .any(|f| f.status == Status::Advisory && f.message.contains("0 tagged rules found")),
            "{:?}",
            analysis.findings
        );
        // The warning alone, legacy unreadable: still a finding.
        let analysis = inspect_saved(
            RULE_ID,
            Some(&case(C20, "input/cmd/iptables-save.txt")),
            None,
            &DaemonNet::default(),
            None,
            &[],
        )
        .unwrap();
        assert!(
            analysis
                .findings
                .iter()
                .any(|f| f.message.contains("could not be read"))
        );
    }

    #[test]
    fn one_legacy_back_end_is_no_split() {
        // Default iptables is legacy: both commands print the same tables.
        let legacy = case(C20, "input/cmd/iptables-legacy-save.txt");
        let analysis = inspect_saved(
            RULE_ID,
            Some(&legacy),
            Some(&legacy),
            &DaemonNet::default(),
            None,
            &[],
        )
        .unwrap();
        assert_eq!(analysis.backend, Backend::Default);
        assert!(analysis.findings.is_empty(), "{:?}", analysis.findings);
    }

    #[test]
    fn c21_unreachable_docker_user_is_high_with_root_cause() {
        let conf = case(C21, "input/etc/nftables.conf");
        let analysis = inspect_saved(
            RULE_ID,
            Some(&case(C21, "input/cmd/iptables-save.txt")),
            None,
            &DaemonNet::parse(case(C21, "input/etc/docker/daemon.json").as_bytes()).unwrap(),
            Some(("/etc/nftables.conf", &conf)),
            &[],
        )
        .unwrap();
        let high: Vec<_> = analysis
            .findings
            .iter()
            .filter(|f| f.severity == Severity::High)
            .collect();
        assert_eq!(high.len(), 1, "{:?}", analysis.findings);
        let msg = &high[0].message;
        assert!(msg.contains("not referenced from FORWARD"), "{msg}");
        assert!(msg.contains("3 rules are inert (2 DROP/REJECT"), "{msg}");
        assert!(msg.contains("iptables -I FORWARD 1 -j DOCKER-USER"), "{msg}");
        assert!(
            msg.contains("/etc/nftables.conf declares chain DOCKER-USER"),
            "{msg}"
        );
        assert_eq!(
            graph::render(&analysis.chains),
            case(C21, "expected/chain-references.txt")
        );
        // The case's fix, with dockhard's tag so that rollback finds it.
        let got: Vec<String> = commands_for(&analysis.state, &[])
            .iter()
            .map(|c| {
                let line = c.to_string();
                assert!(
                    line.contains(" -m comment --comment dockhard:iptables-docker-user "),
                    "{line}"
                );
                line.replace(" -m comment --comment dockhard:iptables-docker-user", "")
            })
            .collect();
        assert_eq!(got, expected_commands(C21));
        // Without the nftables declaration: no root cause named.
        let analysis = inspect_saved(
            RULE_ID,
            Some(&case(C21, "input/cmd/iptables-save.txt")),
            None,
            &DaemonNet::default(),
            None,
            &[],
        )
        .unwrap();
        assert!(!analysis.findings.iter().any(|f| f.message.contains("Root cause")));
    }

    #[test]
    fn nftables_declaration_detection() {
        assert!(declares_docker_user(&case(C21, "input/etc/nftables.conf")));
        assert!(declares_docker_user("table ip filter { chain DOCKER-USER{\n}}"));
        assert!(!declares_docker_user("# chain DOCKER-USER\nchain DOCKER-USERS {"));
    }

    #[test]
    fn commands_delete_tagged_rules_and_create_chain() {
        let text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
-A INPUT -j ACCEPT\n-A INPUT -i docker0 -m comment --comment \"dockhard:iptables-docker-user\" -j DROP\n\
-A INPUT -m comment --comment \"dockhard:iptables-docker-user\" -j DROP\n-A FORWARD -j ACCEPT\nCOMMIT\n";
        let s = save::parse(text, "t").unwrap();
        let state = ChainState::from_save(Backend::Default, Some(&s), "dockhard:iptables-docker-user");
        let got: Vec<String> = commands_for(&state, &default_rules())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "iptables -D INPUT 3",
                "iptables -D INPUT 2",
                "iptables -N DOCKER-USER",
                "iptables -I FORWARD 1 -m comment --comment dockhard:iptables-docker-user -j DOCKER-USER",
                "iptables -I DOCKER-USER 1 -d 169.254.169.254/32 -i docker0 -m comment --comment dockhard:iptables-docker-user -j REJECT --reject-with icmp-admin-prohibited",
                "iptables -I INPUT 1 -i docker0 -p tcp -m multiport --dports 2375,2376 -m comment --comment dockhard:iptables-docker-user -j REJECT --reject-with tcp-reset",
            ]
        );
    }

    #[test]
    fn loaded_rules_are_compliant() {
        let rules = default_rules();
        let mut text = String::from(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n",
        );
        for rule in &rules {
            text.push_str(&rule.save_line());
            text.push('\n');
        }
        text.push_str("-A DOCKER-USER -j RETURN\nCOMMIT\n");
        let analysis =
            inspect_saved(RULE_ID, Some(&text), None, &DaemonNet::default(), None, &rules).unwrap();
        assert_eq!(analysis.findings.len(), 1, "{:?}", analysis.findings);
        assert_eq!(analysis.findings[0].status, Status::Compliant);
        // A DOCKER-USER declared in nftables.conf is still named when the jump exists.
        let conf = (
            "/etc/nftables.conf",
            "table ip filter {\n\tchain DOCKER-USER {\n\t}\n}\n",
        );
        let analysis = inspect_saved(
            RULE_ID,
            Some(&text),
            None,
            &DaemonNet::default(),
            Some(conf),
            &rules,
        )
        .unwrap();
        assert!(
            analysis
                .findings
                .iter()
                .any(|f| f.severity == Severity::Medium
                    && f.message.starts_with("/etc/nftables.conf declares")),
            "{:?}",
            analysis.findings
        );
        // Behind Docker's RETURN they are not in place.
        let moved = text.replace(
            "-A FORWARD -j DOCKER-USER\n",
            "-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -j RETURN\n",
        );
        let moved = moved.replacen("-A DOCKER-USER -j RETURN\nCOMMIT", "COMMIT", 1);
        let analysis =
            inspect_saved(RULE_ID, Some(&moved), None, &DaemonNet::default(), None, &rules).unwrap();
        assert!(
            analysis
                .findings
                .iter()
                .any(|f| f.message.contains("2 tagged rules found, 2 wanted"))
        );
    }

    #[test]
    fn probes_missing_and_failing_are_findings() {
        let f = inspect_probes(
            RULE_ID,
            Probe::Missing,
            Probe::Missing,
            &DaemonNet::default(),
            None,
            &[],
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("no iptables-save"));
        let f = inspect_probes(
            RULE_ID,
            Probe::Failed("denied".into()),
            Probe::Missing,
            &DaemonNet::default(),
            None,
            &[],
        );
        assert_eq!(f[0].status, Status::Error);
        let f = inspect_probes(
            RULE_ID,
            Probe::Output("*filter\n-A X\n".into()),
            Probe::Missing,
            &DaemonNet::default(),
            None,
            &[],
        );
        assert_eq!(f[0].status, Status::Error);
        assert!(f[0].message.contains("iptables-save:2:"), "{}", f[0].message);
    }

    #[test]
    fn daemon_json_bridge_bip_and_bom() {
        let d = DaemonNet::parse(
            b"\xef\xbb\xbf{\"bip\": \"172.18.0.1/16\", \"bridge\": \"br0\", \"iptables\": false}",
        )
        .unwrap();
        assert_eq!(d.bip_subnet.as_deref(), Some("172.18.0.0/16"));
        assert_eq!(d.bridge.as_deref(), Some("br0"));
        assert_eq!(d.iptables, Some(false));
        assert!(DaemonNet::parse(b"{ // comment\n}").is_none());
        let policy = policy("");
        let p = effective_params(policy.rule(RULE_ID), &d).unwrap();
        assert_eq!((p.bridge.as_str(), p.subnet.as_str()), ("br0", "172.18.0.0/16"));
        // A profile's own values win over daemon.json.
        let policy = super::super::testing::policy(
            "[rules.iptables-docker-user]\nbridge = \"br1\"\nsubnet = \"10.9.0.0/16\"\n",
        );
        let p = effective_params(policy.rule(RULE_ID), &d).unwrap();
        assert_eq!((p.bridge.as_str(), p.subnet.as_str()), ("br1", "10.9.0.0/16"));
    }

    #[test]
    fn plan_apply_replan_is_idempotent() {
        let (dir, root) = empty_root();
        let policy = policy("");
        let ctx = context(&root, &policy);
        let outcome = plan(&ctx).unwrap();
        let targets: Vec<&str> = outcome.changes.iter().map(|c| c.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "/etc",
                "/etc/dockhard",
                files::RULES_PATH,
                files::SCRIPT_PATH,
                "/etc/systemd",
                "/etc/systemd/system",
                files::UNIT_PATH,
                "/etc/systemd/system/docker.service.d",
                files::DROPIN_PATH,
            ]
        );
        let rules_change = outcome
            .changes
            .iter()
            .find(|c| c.target == files::RULES_PATH)
            .unwrap();
        assert_eq!(
            rules_change.summary,
            "persist 2 DOCKER-USER/INPUT rules for docker0 (loaded at boot after docker.service)"
        );
        assert_eq!(rules_change.takes_effect, Effect::AfterReboot);
        assert!(rules_change.diff.contains(
            "+-A DOCKER-USER -d 169.254.169.254/32 -i docker0 -m comment --comment \"dockhard:iptables-docker-user\" -j REJECT --reject-with icmp-admin-prohibited"
        ));
        assert!(
            outcome
                .findings
                .iter()
                .any(|f| f.message.starts_with("offline root"))
        );
        apply_changes(&root, &outcome.changes);

        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p.trim_start_matches('/')))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode(files::SCRIPT_PATH), 0o755);
        assert_eq!(mode(files::RULES_PATH), 0o644);
        assert_eq!(mode(files::UNIT_PATH), 0o644);
        // The rules file holds exactly the rules, in save syntax.
        let text = String::from_utf8(read(&dir, files::RULES_PATH)).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("-A ")).collect();
        let want: Vec<String> = default_rules().iter().map(ChainRule::save_line).collect();
        assert_eq!(lines, want);
        let unit = String::from_utf8(read(&dir, files::UNIT_PATH)).unwrap();
        for line in [
            "Type=oneshot",
            "RemainAfterExit=yes",
            "After=docker.service",
            "BindsTo=docker.service",
            "ExecStart=/etc/dockhard/iptables-apply",
            "WantedBy=docker.service",
        ] {
            assert!(unit.lines().any(|l| l == line), "{line} missing:\n{unit}");
        }
        let dropin = String::from_utf8(read(&dir, files::DROPIN_PATH)).unwrap();
        assert!(dropin.contains("[Unit]\nWants=dockhard-iptables.service\n"));

        let again = plan(&ctx).unwrap();
        assert!(again.changes.is_empty(), "{:?}", again.changes);
        assert!(again.findings.iter().any(|f| f.status == Status::Compliant));

        // A loader that lost its x bit gets it back, and nothing else changes.
        std::fs::set_permissions(
            dir.path().join("etc/dockhard/iptables-apply"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let fix = plan(&ctx).unwrap();
        assert_eq!(fix.changes.len(), 1);
        assert!(matches!(
            fix.changes[0].action,
            Action::SetMode { mode: 0o755, .. }
        ));
        apply_changes(&root, &fix.changes);
        assert!(plan(&ctx).unwrap().changes.is_empty());
    }

    #[test]
    fn restrict_egress_and_disabled_rule() {
        let (_dir, root) = empty_root();
        let policy =
            policy("[rules.iptables-docker-user]\nrestrict_egress = true\negress_allow = [\"10.0.0.0/8\"]\n");
        let outcome = plan(&context(&root, &policy)).unwrap();
        let rules_change = outcome
            .changes
            .iter()
            .find(|c| c.target == files::RULES_PATH)
            .unwrap();
        assert!(
            rules_change
                .summary
                .starts_with("persist 5 DOCKER-USER/INPUT rules"),
            "{}",
            rules_change.summary
        );

        let policy = super::super::testing::policy("[rules.iptables-docker-user]\nenabled = false\n");
        let outcome = plan(&context(&root, &policy)).unwrap();
        assert!(outcome.changes.is_empty() && outcome.findings.is_empty());
    }

    #[test]
    fn c21_roots_nftables_declaration_and_native_backend() {
        let (_dir, root) = fixture_root(&case_dir(C21).join("input"));
        let policy = policy("");
        let outcome = plan(&context(&root, &policy)).unwrap();
        assert!(outcome.findings.iter().any(|f| {
            f.message
                .starts_with("/etc/nftables.conf declares chain DOCKER-USER")
        }));
        assert!(!outcome.changes.is_empty());

        let (_dir, root) = fixture_root(&case_dir(C21).join("input-variant-native-nftables"));
        let outcome = plan(&context(&root, &policy)).unwrap();
        assert!(outcome.changes.is_empty());
        assert_eq!(outcome.findings.len(), 1);
        assert_eq!(outcome.findings[0].status, Status::NotApplicable);
        assert!(outcome.findings[0].message.contains("nftables"));
    }

    #[test]
    fn iptables_false_is_said_and_rules_still_persisted() {
        let (dir, root) = empty_root();
        std::fs::create_dir_all(dir.path().join("etc/docker")).unwrap();
        std::fs::write(
            dir.path().join("etc/docker/daemon.json"),
            "{\"iptables\": false, \"bip\": \"10.200.0.1/24\"}",
        )
        .unwrap();
        let policy = policy("");
        let outcome = plan(&context(&root, &policy)).unwrap();
        assert!(
            outcome
                .findings
                .iter()
                .any(|f| f.message.contains("iptables: false"))
        );
        let rules_change = outcome
            .changes
            .iter()
            .find(|c| c.target == files::RULES_PATH)
            .unwrap();
        assert!(
            rules_change.diff.contains("container range 10.200.0.0/24"),
            "{}",
            rules_change.diff
        );
    }

    #[test]
    fn generated_script_is_valid_sh() {
        let script = files::apply_script(RULE_ID);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iptables-apply");
        std::fs::write(&path, &script).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // And a broken one fails, so the check can fail.
        std::fs::write(&path, script.replace("esac", "")).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success());
    }
}
