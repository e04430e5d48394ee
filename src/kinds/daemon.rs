//! # Kind `daemon`
//!
//! dockerd's configuration: `/etc/docker/daemon.json` and the command line
//! docker.service gives it. Settings are changed in daemon.json only, by
//! text edits that keep every other byte ([`json`]). A key that dockerd also
//! gets as a command-line flag ([`flags`]) is never added to daemon.json,
//! because dockerd refuses to start when a directive is given both ways.
//!
//! The one unit file dockhard may rewrite is an admin drop-in under
//! `/etc/systemd/system/docker.service.d/` that adds a second `ExecStart=`
//! without resetting the list (systemd then refuses the unit), and only when
//! the repair is unambiguous. Vendor units are never edited.

use super::{ChangeInfo, Context, FileChain, Outcome, missing_parents};
use crate::catalog::RuleConfig;
use crate::error::{Error, Result};
use crate::host::HostRoot;
use crate::kinds::systemd::Unit;
use crate::plan::{Change, Effect, Finding, Kind, Severity, Status};

pub mod flags;
pub mod json;
pub mod reload;

use flags::{Flag, ServiceView};
use json::{Document, Value};

/// Where dockerd reads its configuration unless `--config-file` says otherwise.
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// The state of a daemon.json, kept apart the way dockerd sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum DaemonJson {
    /// No file: dockerd uses its defaults.
    Absent,
    /// Present but empty or whitespace only: dockerd does not start.
    Empty { size: usize },
    /// A JSON object, with the spans of its members.
    Parsed(Document),
}

/// Reads `/etc/docker/daemon.json`. A parse error names the file, line and
/// column.
pub fn read_daemon_json(root: &HostRoot) -> Result<DaemonJson> {
    read_daemon_json_at(root, DAEMON_JSON)
}

/// Reads a daemon.json at `path` (inside the root).
pub fn read_daemon_json_at(root: &HostRoot, path: &str) -> Result<DaemonJson> {
    let content = root.read_file(path)?.map(|r| r.content);
    interpret(path, content.as_deref())
}

fn interpret(path: &str, content: Option<&[u8]>) -> Result<DaemonJson> {
    let Some(bytes) = content else {
        return Ok(DaemonJson::Absent);
    };
    if let Ok((_, text)) = json::decode_text(bytes)
        && text.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
    {
        return Ok(DaemonJson::Empty { size: bytes.len() });
    }
    Document::parse(bytes).map(DaemonJson::Parsed).map_err(|e| {
        let consequence = if e.dockerd_reads() {
            "dockerd reads this file, but dockhard does not edit it until this is fixed"
        } else {
            "dockerd cannot start with this file"
        };
        Error::at(
            path,
            e.line,
            Some(e.column),
            format!("{}; {consequence}", e.message),
        )
    })
}

/// daemon.json as a JSON value, decoded the way dockerd reads it (a UTF-8
/// BOM skipped, UTF-16 decoded), for the kinds that only need a few of its
/// keys. A file that does not parse is the daemon kind's to report; callers
/// get the reason.
pub fn json_value(bytes: &[u8]) -> std::result::Result<serde_json::Value, String> {
    let (_, text) = json::decode_text(bytes).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

const CONFLICTS: &str = "daemon-unit-conflicts";
const TCP_TLS: &str = "daemon-tcp-tls";

/// The JSON type dockerd needs for keys dockhard reads or writes.
fn expected_type(key: &str) -> Option<&'static str> {
    Some(match key {
        "icc" | "no-new-privileges" | "live-restore" | "userland-proxy" | "selinux-enabled" | "tlsverify"
        | "tls" => "bool",
        "userns-remap" | "seccomp-profile" | "tlscacert" | "tlscert" | "tlskey" => "string",
        "insecure-registries" | "hosts" => "array of strings",
        _ => return None,
    })
}

fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        // encoding/json leaves a Go value untouched for null: it is unset.
        _ if matches!(value, Value::Null) => true,
        "bool" => value.as_bool().is_some(),
        "string" => value.as_str().is_some(),
        _ => value.as_strings().is_some(),
    }
}

/// The rule that owns a key (for error findings).
fn rule_of_key(key: &str) -> &'static str {
    match key {
        "icc" => "daemon-icc",
        "no-new-privileges" => "daemon-no-new-privileges",
        "live-restore" => "daemon-live-restore",
        "userland-proxy" => "daemon-userland-proxy",
        "userns-remap" => "daemon-userns-remap",
        "insecure-registries" => "daemon-insecure-registries",
        "seccomp-profile" => "daemon-seccomp-unconfined",
        "selinux-enabled" => "daemon-selinux",
        "hosts" | "tlsverify" | "tls" | "tlscacert" | "tlscert" | "tlskey" => TCP_TLS,
        _ => CONFLICTS,
    }
}

/// An edit of one daemon.json member.
#[derive(Debug, Clone)]
enum Op {
    /// Set to this JSON text.
    Set(String),
    Remove,
}

/// A daemon.json edit a rule wants.
struct Intent<'a> {
    rule: &'a RuleConfig,
    key: String,
    op: Op,
    /// Summary without the file state note ("set "icc": false").
    what: String,
    /// "(was true)" and the like; replaced when the file is absent or empty.
    was: String,
    extra: String,
    may_break: Option<String>,
    disruptive: Option<bool>,
}

pub fn plan(ctx: &Context<'_>) -> Result<Outcome> {
    let mut out = Outcome::default();
    let conflicts_rule = ctx.policy.enabled(CONFLICTS);
    let tcp_rule = ctx.policy.enabled(TCP_TLS);

    // dockerd's command line.
    let service = match flags::service(ctx.root) {
        Ok(s) => s,
        Err(e) => {
            out.findings.push(
                Finding::error(
                    CONFLICTS,
                    format!("{e}; dockerd's command-line flags could not be read, so conflicts with daemon.json are not checked"),
                ),
            );
            None
        }
    };
    let mut other_flags: Vec<Flag> = Vec::new();
    if service.is_none() {
        other_flags = legacy_defaults(ctx.root, &mut out)?;
    }

    let path = service
        .as_ref()
        .and_then(|s| {
            s.flags()
                .into_iter()
                .rfind(|f| f.name == "config-file")
                .and_then(|f| f.value.clone())
        })
        .filter(|p| p.starts_with('/') && crate::host::relative(p).is_ok())
        .unwrap_or_else(|| DAEMON_JSON.to_string());

    let mut chain = FileChain::load(ctx.root, Kind::Daemon, &path, 0o644)?;
    let initial = interpret(&path, chain.content())?;
    let initially_absent = initial == DaemonJson::Absent;
    let doc = match &initial {
        DaemonJson::Parsed(doc) => Some(doc.clone()),
        _ => None,
    };

    if let DaemonJson::Empty { size } = initial {
        let what = if size == 0 {
            "is empty (0 bytes)".to_string()
        } else {
            format!("is whitespace only ({size} bytes, no JSON value)")
        };
        out.findings.push(
            Finding::new(
                CONFLICTS,
                Status::Error,
                Severity::Critical,
                format!(
                    "{path} {what}: dockerd cannot start with it (\"unable to configure the Docker daemon with file {path}: EOF\"). \
                     If dockerd is running now, it was started before the file became empty, and its next restart will fail. \
                     Remove the file (dockerd then uses its defaults) or give it a JSON object; dockhard's plan replaces it."
                ),
            )
            .with_target(path.clone()),
        );
    }

    // Keys of the wrong type: dockerd cannot start; nothing is written.
    let mut writable = true;
    if let Some(doc) = &doc {
        for m in &doc.members {
            if let Some(ty) = expected_type(&m.key)
                && !has_type(&m.value, ty)
            {
                writable = false;
                out.findings.push(
                    Finding::error(
                        rule_of_key(&m.key),
                        format!(
                            "{path}:{}: \"{}\" must be {ty}, not {} {}; dockerd cannot start with this file (it cannot unmarshal it). \
                             dockhard does not write {path} until this is fixed.",
                            m.line,
                            m.key,
                            m.value.type_name(),
                            m.value.to_json()
                        ),
                    )
                    .with_target(path.clone()),
                );
            }
        }
    }
    let utf16 = doc.as_ref().is_some_and(|d| d.encoding.is_utf16());

    // The unit: findings, and the repair of a drop-in that breaks it.
    let mut repair = None;
    if let Some(view) = &service {
        unit_findings(
            ctx.root,
            view,
            doc.as_ref(),
            &path,
            conflicts_rule.is_some(),
            ctx.live,
            &mut out,
        )?;
        if let Some(rule) = conflicts_rule
            && view.unloadable()
        {
            match plan_repair(ctx.root, view, doc.as_ref()) {
                Ok(r) if writable && !utf16 => repair = Some((rule, r)),
                Ok(r) => out.findings.push(Finding::advisory(
                    CONFLICTS,
                    Severity::Critical,
                    format!(
                        "dockhard could repair {} but does not, because it cannot write {path} as it is (see the other findings). Reset ExecStart= by hand in the drop-in.",
                        r.dropin
                    ),
                )),
                Err(why) => out.findings.push(
                    Finding::advisory(
                        CONFLICTS,
                        Severity::Critical,
                        format!("dockhard does not repair docker.service automatically: {why}. Reset ExecStart= by hand in the drop-in (an empty `ExecStart=` line before the new one) and remove flags that daemon.json also sets."),
                    ),
                ),
            }
        }
    }

    // The flags dockerd will run with.
    let effective: Vec<Flag> = match (&repair, &service) {
        (Some((_, r)), _) => r.kept.clone(),
        (None, Some(view)) => view.flags().into_iter().cloned().collect(),
        (None, None) => other_flags,
    };

    if let Some(rule) = tcp_rule {
        tcp_findings(rule, &effective, doc.as_ref(), &path, service.as_ref(), &mut out);
    }

    let mut json_changes: Vec<Change> = Vec::new();
    let mut changed_keys: Vec<String> = Vec::new();
    let mut first_edit = true;
    let mut apply = |chain: &mut FileChain, intent: Intent<'_>, out: &mut Outcome| -> Result<()> {
        if utf16 {
            // An error, not advice: the host is not as the profile wants and
            // dockhard cannot change it, so it must not count as compliant.
            out.findings.push(
                Finding::new(
                    &intent.rule.rule.id,
                    crate::plan::Status::Error,
                    intent.rule.rule.severity,
                    format!(
                        "UTF-16 daemon.json: read-only support. dockhard would {} {}, but does not write UTF-16 files and will not change their encoding. \
                         Convert {path} to UTF-8 (dockerd ≥ 23 reads both) and run dockhard again, or make the change by hand.",
                        intent.what, intent.was
                    ),
                )
                .with_target(path.clone()),
            );
            return Ok(());
        }
        if !writable {
            return Ok(());
        }
        let state = interpret(&path, chain.content())?;
        let new = match (&state, &intent.op) {
            (DaemonJson::Parsed(doc), Op::Set(v)) => doc.set(&intent.key, v),
            (DaemonJson::Parsed(doc), Op::Remove) => doc.remove(&intent.key),
            (_, Op::Set(v)) => Some(json::new_file(&intent.key, v).into_bytes()),
            (_, Op::Remove) => None,
        };
        let Some(new) = new else { return Ok(()) };
        let note = match (&initial, first_edit) {
            (DaemonJson::Empty { size: 0 }, true) => {
                " (replaces an empty file (0 bytes) that dockerd cannot start with)".to_string()
            }
            (DaemonJson::Empty { .. }, true) => {
                " (replaces a whitespace-only file that dockerd cannot start with)".to_string()
            }
            (DaemonJson::Absent, true) => " (creates the file)".to_string(),
            (DaemonJson::Parsed(_), _) if !intent.was.is_empty() => format!(" {}", intent.was),
            _ => String::new(),
        };
        let prep = match intent.op {
            Op::Set(_) => "in",
            Op::Remove => "from",
        };
        let summary = format!("{} {prep} {path}{note}{}", intent.what, intent.extra);
        let mut info =
            ChangeInfo::new(intent.rule, summary, Effect::AfterDockerdRestart).detail(intent.key.clone());
        info.may_break = intent.may_break;
        info.disruptive = intent.disruptive;
        if let Some(change) = chain.edit(new, info) {
            first_edit = false;
            changed_keys.push(intent.key.clone());
            json_changes.push(change);
        }
        Ok(())
    };

    // Repair first: moves flags into daemon.json.
    let mut dropin_change = None;
    if let Some((rule, r)) = &repair {
        for (key, value, flag) in &r.moves {
            let intent = Intent {
                rule,
                key: key.clone(),
                op: Op::Set(value.clone()),
                what: format!(
                    "move {} from {} into daemon.json: set \"{key}\": {value}",
                    flag.written, flag.file
                ),
                was: "(not set in the file)".to_string(),
                extra: "; the flag is dropped from the drop-in, so the setting has one source".to_string(),
                may_break: Some(
                    "Nothing by itself: the same setting, now read from daemon.json.".to_string(),
                ),
                disruptive: Some(false),
            };
            apply(&mut chain, intent, &mut out)?;
        }
        let mut dropin = FileChain::load(ctx.root, Kind::Daemon, &r.dropin, 0o644)?;
        let dropped: Vec<&str> = r.dropped.iter().map(|f| f.written.as_str()).collect();
        let mut may_break = format!(
            "docker.service becomes loadable again: after `systemctl daemon-reload` and a restart, dockerd starts with `{}` and {path}. \
             Run `systemctl daemon-reload`, then restart docker.",
            r.exec_line
        );
        let remap = doc_after(&chain, &path).and_then(|d| {
            d.get("userns-remap")
                .and_then(|m| m.value.as_str().map(str::to_string))
        });
        let disruptive = remap.as_deref().is_some_and(|v| !v.is_empty());
        if disruptive {
            may_break.push_str(
                " DISRUPTIVE: daemon.json sets userns-remap, which then takes effect: existing images, containers and volumes are NOT VISIBLE after the restart (they stay on disk; removing userns-remap shows them again).",
            );
        }
        let info = ChangeInfo::new(
            rule,
            format!(
                "repair {}: add an empty `ExecStart=` before its ExecStart= (systemd refuses two for Type={}) and drop {} (set in daemon.json); needs systemctl daemon-reload",
                r.dropin,
                service.as_ref().map_or("notify", |s| s.service_type.as_str()),
                dropped.join(" ")
            ),
            Effect::AfterDockerdRestart,
        )
        .may_break(may_break)
        .detail("execstart-reset");
        let mut info = info;
        info.disruptive = Some(disruptive);
        dropin_change = dropin.edit(r.content.clone(), info);
    }

    // The rules, against the file as the repair left it.
    let current = doc_after(&chain, &path);
    let notes = feature_notes(current.as_ref());
    for intent in rule_intents(ctx, current.as_ref(), &effective, &notes, &mut out)? {
        apply(&mut chain, intent, &mut out)?;
    }

    // The new file, checked the way dockerd will read it; a file dockerd
    // would refuse is never written.
    let mut problems = Vec::new();
    if !json_changes.is_empty()
        && let Some(after) = chain.content()
    {
        let before = match &initial {
            DaemonJson::Parsed(_) => interpret_bytes(ctx.root, &path)?,
            _ => None,
        };
        let new_problems = reload::validate(ctx, &path, before.as_deref(), after, &effective);
        if !new_problems.is_empty() {
            let mut finding = Finding::error(
                CONFLICTS,
                format!(
                    "dockhard does not write {path}: dockerd would refuse the new file: {}",
                    new_problems.join("; ")
                ),
            )
            .with_target(path.clone());
            finding.blocking = true;
            out.findings.push(finding);
            json_changes.clear();
            changed_keys.clear();
            dropin_change = None;
        }
        problems = reload::own_check(&path, after, &effective);
    }
    if !json_changes.is_empty() && initially_absent {
        let rule = ctx.policy.rule(&json_changes[0].rule);
        out.changes
            .extend(missing_parents(ctx.root, Kind::Daemon, &path, rule)?);
    }
    out.changes.extend(json_changes);
    out.changes.extend(dropin_change);
    reload::plan_reload(
        ctx,
        &path,
        doc.as_ref(),
        doc_after(&chain, &path).as_ref(),
        &changed_keys,
        &problems,
        &mut out,
    );
    Ok(out)
}

/// The bytes of daemon.json as they are now (before the edits).
fn interpret_bytes(root: &HostRoot, path: &str) -> Result<Option<Vec<u8>>> {
    Ok(root.read_file(path)?.map(|r| r.content))
}

/// The parsed document as the chain stands, if it is one.
fn doc_after(chain: &FileChain, path: &str) -> Option<Document> {
    match interpret(path, chain.content()) {
        Ok(DaemonJson::Parsed(d)) => Some(d),
        _ => None,
    }
}

/// Free-text notes stored as keys of `features` (values are ignored).
fn feature_notes(doc: Option<&Document>) -> Vec<String> {
    match doc.and_then(|d| d.get("features")).map(|m| &m.value) {
        Some(Value::Object(members)) => members.iter().map(|(k, _)| k.clone()).collect(),
        _ => Vec::new(),
    }
}

/// Without docker.service: `/etc/default/docker` and `/etc/sysconfig/docker`
/// may still hold flags for an init script. They are reported and treated
/// as flags, so no conflicting key is added.
fn legacy_defaults(root: &HostRoot, out: &mut Outcome) -> Result<Vec<Flag>> {
    let mut found = Vec::new();
    for (path, var) in [
        ("/etc/default/docker", "DOCKER_OPTS"),
        ("/etc/sysconfig/docker", "OPTIONS"),
    ] {
        let Some(text) = root.read_optional(path)? else {
            continue;
        };
        let text = String::from_utf8_lossy(&text);
        let env = crate::kinds::systemd::parse_env_file(&text);
        let Some((_, value)) = env.iter().rev().find(|(k, _)| k == var) else {
            continue;
        };
        if value.trim().is_empty() {
            continue;
        }
        let line = text
            .lines()
            .position(|l| {
                l.trim_start()
                    .trim_start_matches("export ")
                    .starts_with(&format!("{var}="))
            })
            .map_or(1, |i| i + 1);
        let words: Vec<flags::Word> = value
            .split_whitespace()
            .map(|w| flags::Word {
                text: w.to_string(),
                via: Some(format!("${var}")),
            })
            .collect();
        out.findings.push(
            Finding::advisory(
                CONFLICTS,
                Severity::Info,
                format!(
                    "{path}:{line}: {var}=\"{value}\" — there is no docker.service in this root, so these flags apply only if an init script passes them to dockerd. dockhard does not add daemon.json keys that they set."
                ),
            )
            .with_target(path.to_string()),
        );
        if let Ok(flags) = flags::parse_flags(&words, path, line) {
            found.extend(flags);
        }
    }
    Ok(found)
}

/// A value as dockerd prints it in its conflict message (Go's `%v`).
fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        other => other.to_json(),
    }
}

/// The value of a flag as JSON, for comparing with daemon.json.
fn flag_json(flag: &Flag) -> Option<Value> {
    if flags::is_bool_flag(&flag.name) {
        return flag.bool_value().map(Value::Bool);
    }
    flag.value.clone().map(Value::String)
}

fn unit_findings(
    root: &HostRoot,
    view: &ServiceView,
    doc: Option<&Document>,
    path: &str,
    enabled: bool,
    live: bool,
    out: &mut Outcome,
) -> Result<()> {
    if !enabled {
        return Ok(());
    }
    for note in &view.notes {
        out.findings
            .push(Finding::advisory(CONFLICTS, Severity::Medium, note.clone()));
    }
    for e in &view.exec {
        if let Err(why) = &e.flags {
            out.findings.push(Finding::advisory(
                CONFLICTS,
                Severity::Medium,
                format!(
                    "{}:{}: ExecStart={}: {why}; conflicts with daemon.json are not checked for this line",
                    e.file, e.line, e.raw
                ),
            ));
        }
    }
    let unloadable = view.unloadable();
    if unloadable {
        let places: Vec<String> = view
            .exec
            .iter()
            .map(|e| format!("{}:{}", e.file, e.line))
            .collect();
        let culprit = view.exec.last().map(|e| e.file.clone()).unwrap_or_default();
        let culprit_flags: Vec<String> = view
            .exec
            .last()
            .and_then(|e| e.flags.as_ref().ok())
            .map(|f| f.iter().map(|f| f.written.clone()).collect())
            .unwrap_or_default();
        out.findings.push(
            Finding::advisory(
                CONFLICTS,
                Severity::Critical,
                format!(
                    "BLOCKER: docker.service cannot be loaded: systemd refuses more than one ExecStart= for Type={} (\"Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.\"). \
                     ExecStart= is set in {}; {culprit} adds one without an empty `ExecStart=` line before it. \
                     Nothing starts, so the flags of {culprit} ({}) are not in effect.",
                    view.service_type,
                    places.join(" and "),
                    culprit_flags.join(" ")
                ),
            )
            .with_target(culprit),
        );
    }
    // `-H fd://` needs socket activation.
    let socket = Unit::load(root, "docker.socket")?;
    let all = view.flags();
    if let Some(fd) = all.iter().find(|f| {
        f.key.as_deref() == Some("hosts") && f.value.as_deref().is_some_and(|v| v.starts_with("fd://"))
    }) {
        let state = match &socket {
            // An offline tree may be a partial copy: only the live host is sure.
            None if live => Some("there is no docker.socket unit"),
            None => None,
            Some(s) if s.masked => Some("docker.socket is masked"),
            Some(_) => None,
        };
        if let Some(state) = state {
            out.findings.push(Finding::advisory(
                CONFLICTS,
                Severity::High,
                format!(
                    "{} asks for socket activation, but {state}: dockerd fails to start (\"no sockets found via socket activation\"). Restore docker.socket or use -H unix:///run/docker.sock.",
                    fd.place()
                ),
            ));
        }
    }
    // Directives given both as a flag and in daemon.json.
    if let Some(doc) = doc {
        for m in &doc.members {
            let given: Vec<&&Flag> = all
                .iter()
                .filter(|f| f.key.as_deref() == Some(m.key.as_str()))
                .collect();
            if given.is_empty() {
                continue;
            }
            let places: Vec<String> = given.iter().map(|f| f.place()).collect();
            let flag_values: Vec<String> = given
                .iter()
                .filter_map(|f| f.value.clone().or(Some("true".into())))
                .collect();
            let mut message = if unloadable {
                format!(
                    "Latent conflict on \"{}\": it is set by {} and in {path}:{} ({}). Adding only an `ExecStart=` reset is not enough: \
                     dockerd would then refuse to start (\"the following directives are specified both as a flag and in the configuration file: {}\"). Keep it in one place.",
                    m.key,
                    places.join(", "),
                    m.line,
                    m.value.to_json(),
                    m.key
                )
            } else {
                format!(
                    "BLOCKER: conflict on \"{}\": dockerd refuses to start (\"the following directives are specified both as a flag and in the configuration file: {}: (from flag: [{}], from file: {})\"). \
                     The flag is {}; the file entry is {path}:{}. Do not restart dockerd until one of them is removed.",
                    m.key,
                    m.key,
                    flag_values.join(" "),
                    go_value(&m.value),
                    places.join(", "),
                    m.line
                )
            };
            if m.key == "hosts"
                && let Some(sock) = socket.as_ref().filter(|s| !s.masked)
            {
                let listen: Vec<String> = sock
                    .list("Socket", "ListenStream")
                    .iter()
                    .map(|d| d.value.clone())
                    .collect();
                message.push_str(&format!(
                    " docker.socket ({}) owns {} and hands it to dockerd through `-H fd://`: either keep the unit's -H flags and remove \"hosts\" from {path}, \
                     or move every listener into {path} with \"fd://\" kept in \"hosts\" (or disable docker.socket), through a drop-in that resets ExecStart=; never edit the vendor unit.",
                    sock.fragment.as_deref().unwrap_or("docker.socket"),
                    if listen.is_empty() { "the API socket".to_string() } else { listen.join(", ") }
                ));
            }
            out.findings.push(
                Finding::advisory(CONFLICTS, Severity::Critical, message).with_target(path.to_string()),
            );
        }
    }
    Ok(())
}

/// A repair of a drop-in that adds a second ExecStart= without a reset.
struct Repair {
    dropin: String,
    content: Vec<u8>,
    /// Flags that move into daemon.json: key, JSON value, the flag.
    moves: Vec<(String, String, Flag)>,
    /// Flags taken out of the command line (moved, or set in daemon.json already).
    dropped: Vec<Flag>,
    /// The flags left on the command line.
    kept: Vec<Flag>,
    /// The new ExecStart= value.
    exec_line: String,
}

/// Plans the repair only when it is unambiguous; otherwise says why not.
fn plan_repair(
    root: &HostRoot,
    view: &ServiceView,
    doc: Option<&Document>,
) -> std::result::Result<Repair, String> {
    let [vendor, added] = view.exec.as_slice() else {
        return Err(format!("{} ExecStart= lines take part, not two", view.exec.len()));
    };
    if view.unit.fragment.as_deref() != Some(vendor.file.as_str()) {
        return Err(format!(
            "the first ExecStart= is not in the unit file but in {}",
            vendor.file
        ));
    }
    const ADMIN_DIR: &str = "/etc/systemd/system/docker.service.d/";
    if !added.file.starts_with(ADMIN_DIR) {
        return Err(format!(
            "{} is not an admin drop-in under {ADMIN_DIR}",
            added.file
        ));
    }
    let (Ok(vendor_flags), Ok(added_flags)) = (&vendor.flags, &added.flags) else {
        return Err("the ExecStart= lines could not be read as dockerd command lines".to_string());
    };
    if !vendor.is_dockerd || !added.is_dockerd {
        return Err("an ExecStart= does not run dockerd".to_string());
    }
    if added.raw.contains(['$', '%']) {
        return Err(format!(
            "the ExecStart= in {} uses variables or specifiers",
            added.file
        ));
    }
    let in_file: Vec<_> = view
        .unit
        .directives
        .iter()
        .filter(|d| d.file == added.file && d.key == "ExecStart")
        .collect();
    if in_file.len() != 1 {
        return Err(format!("{} has more than one ExecStart= line", added.file));
    }
    let bytes = root
        .read_file(&added.file)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{} vanished", added.file))?
        .content;
    let text = String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8", added.file))?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(line) = lines.get(added.line - 1) else {
        return Err(format!("{}:{} not found", added.file, added.line));
    };
    let body = line.trim_end_matches(['\n', '\r']);
    if !body.trim_start().starts_with("ExecStart") || body.trim_end().ends_with('\\') {
        return Err(format!(
            "{}:{} is continued over several lines",
            added.file, added.line
        ));
    }
    let mut moves: Vec<(String, String, Flag)> = Vec::new();
    let mut dropped = Vec::new();
    let mut kept = Vec::new();
    for flag in added_flags {
        let Some(key) = flag.key.clone() else {
            kept.push(flag.clone());
            continue;
        };
        if let Some(m) = doc.and_then(|d| d.get(&key)) {
            let same = match (&m.value, flag_json(flag)) {
                (Value::Array(items), Some(v)) if flags::is_list_flag(&flag.name) => items.contains(&v),
                (file, Some(v)) => *file == v,
                _ => false,
            };
            if !same {
                return Err(format!(
                    "{} and \"{key}\": {} in daemon.json (line {}) disagree; which one is meant is unclear",
                    flag.place(),
                    m.value.to_json(),
                    m.line
                ));
            }
            dropped.push(flag.clone());
            continue;
        }
        let in_vendor = vendor_flags
            .iter()
            .any(|v| v.name == flag.name && v.value == flag.value);
        let movable =
            !flags::is_list_flag(&flag.name) && expected_type(&key).is_some_and(|t| t != "array of strings");
        if in_vendor || !movable {
            kept.push(flag.clone());
            continue;
        }
        let Some(value) = flag_json(flag) else {
            return Err(format!("{} has a value dockhard cannot read", flag.place()));
        };
        moves.retain(|(k, _, _)| *k != key);
        moves.push((key, value.to_json(), flag.clone()));
        dropped.push(flag.clone());
    }
    let mut words = vec![flags::exec_word(&added.program)];
    for f in &kept {
        words.extend(f.words.iter().map(|w| flags::exec_word(w)));
    }
    let exec_line = words.join(" ");
    let ending = &line[body.len()..];
    let ending = if ending.is_empty() { "\n" } else { ending };
    let mut content = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i == added.line - 1 {
            content.push_str(&format!("ExecStart={ending}ExecStart={exec_line}{ending}"));
        } else {
            content.push_str(l);
        }
    }
    Ok(Repair {
        dropin: added.file.clone(),
        content: content.into_bytes(),
        moves,
        dropped,
        kept,
        exec_line,
    })
}

fn tcp_findings(
    rule: &RuleConfig,
    effective: &[Flag],
    doc: Option<&Document>,
    path: &str,
    service: Option<&ServiceView>,
    out: &mut Outcome,
) {
    let flag_bool = |key: &str| {
        effective
            .iter()
            .rfind(|f| f.key.as_deref() == Some(key))
            .and_then(Flag::bool_value)
    };
    let file_bool = |key: &str| doc.and_then(|d| d.get(key)).and_then(|m| m.value.as_bool());
    let tlsverify = flag_bool("tlsverify").or(file_bool("tlsverify")).unwrap_or(false);
    let latent = service.is_some_and(ServiceView::unloadable);
    let mut hosts: Vec<(String, String)> = effective
        .iter()
        .filter(|f| f.key.as_deref() == Some("hosts"))
        .filter_map(|f| f.value.clone().map(|v| (v, f.place())))
        .collect();
    if let Some(m) = doc.and_then(|d| d.get("hosts")) {
        for h in m.value.as_strings().unwrap_or_default() {
            hosts.push((h.to_string(), format!("{path}:{}", m.line)));
        }
    }
    for (host, place) in hosts {
        if !flags::is_tcp_host(&host) || tlsverify {
            continue;
        }
        let loopback = flags::is_loopback_host(&host);
        let severity = if loopback {
            Severity::High
        } else {
            Severity::Critical
        };
        let reach = if loopback {
            "every local user and process"
        } else {
            "anyone who can reach the port"
        };
        let mut message = format!(
            "CRITICAL: the Docker API listens on {host} ({place}) without TLS verification (no tlsverify with tlscacert/tlscert/tlskey): \
             an unauthenticated API that is root on the host, open to {reach}. Remove the listener, or use tcp://ADDR:2376 with --tlsverify and certificates."
        );
        if latent {
            message.push_str(" (It takes effect once docker.service can be loaded again.)");
        }
        out.findings
            .push(Finding::advisory(&rule.rule.id, severity, message).with_target(place));
    }
}

/// The value that `key` has through flags (last one wins), if any.
fn flag_for<'f>(flags: &'f [Flag], key: &str) -> Option<&'f Flag> {
    flags.iter().rfind(|f| f.key.as_deref() == Some(key))
}

fn rule_intents<'a>(
    ctx: &Context<'a>,
    doc: Option<&Document>,
    flags: &[Flag],
    notes: &[String],
    out: &mut Outcome,
) -> Result<Vec<Intent<'a>>> {
    let mut intents = Vec::new();
    let note_for = |key: &str| -> Option<String> {
        let found: Vec<&String> = notes.iter().filter(|n| n.contains(key)).collect();
        (!found.is_empty()).then(|| {
            found
                .iter()
                .map(|n| json::quote(n))
                .collect::<Vec<_>>()
                .join(", ")
        })
    };
    let bool_rules: [(&str, &str, bool, bool, &str); 5] = [
        ("daemon-icc", "icc", false, true, ""),
        (
            "daemon-no-new-privileges",
            "no-new-privileges",
            true,
            false,
            "; applies to containers created after the dockerd restart",
        ),
        ("daemon-live-restore", "live-restore", true, false, ""),
        ("daemon-userland-proxy", "userland-proxy", false, true, ""),
        ("daemon-selinux", "selinux-enabled", true, false, ""),
    ];
    for (id, key, want, default, extra) in bool_rules {
        let Some(rule) = ctx.policy.enabled(id) else {
            continue;
        };
        if id == "daemon-selinux" && !host_runs_selinux(ctx)? {
            continue;
        }
        if let Some(flag) = flag_for(flags, key) {
            if flag.bool_value() != Some(want) {
                out.findings.push(Finding::advisory(
                    id,
                    rule.rule.severity.max(Severity::High),
                    format!(
                        "\"{key}\" is set by the flag {}; dockhard does not add \"{key}\": {want} to daemon.json, because dockerd refuses to start when a directive is given both as a flag and in the file ({CONFLICTS}). \
                         Change the flag to --{key}={want} in an /etc drop-in (or remove it and let dockhard set daemon.json).",
                        flag.place()
                    ),
                ));
            }
            continue;
        }
        let current = doc.and_then(|d| d.get(key));
        let was = match current.map(|m| &m.value) {
            Some(Value::Bool(b)) if *b == want => continue,
            Some(v) => format!("(was {})", v.to_json()),
            None => format!("(was not set: dockerd's default is {default})"),
        };
        let mut extra = extra.to_string();
        let mut may_break = None;
        if let Some(note) = note_for(key) {
            extra.push_str(&format!(
                "; NOTE: the operator's note in \"features\" mentions {key}: {note}"
            ));
            may_break = Some(format!(
                "{}\nThe operator left a note about {key} in daemon.json's \"features\": {note}. Read it before applying this change.",
                rule.rule.may_break.trim()
            ));
        }
        intents.push(Intent {
            rule,
            key: key.to_string(),
            op: Op::Set(want.to_string()),
            what: format!("set \"{key}\": {want}"),
            was,
            extra,
            may_break,
            disruptive: None,
        });
    }

    if let Some(rule) = ctx.policy.enabled("daemon-userns-remap") {
        let want = rule.params.string("remap");
        let key = "userns-remap";
        if let Some(flag) = flag_for(flags, key) {
            if flag.value.as_deref().unwrap_or_default().is_empty() {
                out.findings.push(Finding::advisory(
                    &rule.rule.id,
                    Severity::High,
                    format!(
                        "{} turns user namespaces off; dockhard does not add \"{key}\" to daemon.json while the flag is given ({CONFLICTS})",
                        flag.place()
                    ),
                ));
            }
        } else if !want.is_empty() {
            match doc.and_then(|d| d.get(key)).map(|m| (&m.value, m.line)) {
                Some((Value::String(v), _)) if *v == want => {}
                Some((Value::String(v), line)) if !v.is_empty() => {
                    out.findings.push(Finding::advisory(
                        &rule.rule.id,
                        Severity::Low,
                        format!(
                            "daemon.json line {line} remaps to \"{v}\", the profile asks for \"{want}\"; left as is, because changing the remap user hides existing containers again"
                        ),
                    ));
                }
                current => {
                    let was = match current {
                        Some((v, _)) => format!("(was {})", v.to_json()),
                        None => "(was not set: container root is host root)".to_string(),
                    };
                    let user = if want == "default" {
                        "dockremap (created by the subid-remap-range rule)".to_string()
                    } else {
                        want.clone()
                    };
                    intents.push(Intent {
                        rule,
                        key: key.to_string(),
                        op: Op::Set(json::quote(&want)),
                        what: format!("set \"{key}\": {}", json::quote(&want)),
                        was,
                        extra: "; DISRUPTIVE: existing images and containers are not visible after the dockerd restart".to_string(),
                        may_break: Some(format!(
                            "DISRUPTIVE — EXISTING IMAGES, CONTAINERS AND VOLUMES ARE NOT VISIBLE after the dockerd restart: dockerd keeps remapped data in a separate folder of its data root, so everything created before looks gone (it stays on disk; removing userns-remap, or rolling back, shows it again). \
                             Container root maps to a subordinate range of {user} in /etc/subuid and /etc/subgid. \
                             Containers that need host uids (--privileged, --pid=host, --net=host with some tools, bind mounts written as root) may fail; they can opt out with --userns=host."
                        )),
                        disruptive: Some(true),
                    });
                }
            }
        }
    }

    if let Some(rule) = ctx.policy.enabled("daemon-insecure-registries") {
        let key = "insecure-registries";
        let from_flags: Vec<String> = flags
            .iter()
            .filter(|f| f.key.as_deref() == Some(key))
            .map(Flag::place)
            .collect();
        if !from_flags.is_empty() {
            out.findings.push(Finding::advisory(
                &rule.rule.id,
                Severity::High,
                format!(
                    "insecure registries are given as flags: {}; dockhard does not edit unit flags: remove --insecure-registry from the unit (in an /etc drop-in that resets ExecStart=)",
                    from_flags.join(", ")
                ),
            ));
        }
        if let Some(m) = doc.and_then(|d| d.get(key))
            && let Some(list) = m.value.as_strings().filter(|l| !l.is_empty())
        {
            intents.push(Intent {
                rule,
                key: key.to_string(),
                op: Op::Remove,
                what: format!(
                    "remove \"{key}\" (registries {})",
                    list.iter().map(|r| json::quote(r)).collect::<Vec<_>>().join(", ")
                ),
                was: String::new(),
                extra:
                    "; dockerd drops them at its next restart (a SIGHUP keeps the registries it runs with)"
                        .to_string(),
                may_break: None,
                disruptive: None,
            });
        }
    }

    if let Some(rule) = ctx.policy.enabled("daemon-seccomp-unconfined") {
        let key = "seccomp-profile";
        if let Some(flag) = flag_for(flags, key).filter(|f| f.value.as_deref() == Some("unconfined")) {
            out.findings.push(Finding::advisory(
                &rule.rule.id,
                Severity::High,
                format!(
                    "{} disables seccomp for every container; dockhard does not edit unit flags: remove it from the unit",
                    flag.place()
                ),
            ));
        }
        if let Some(m) = doc.and_then(|d| d.get(key))
            && m.value.as_str() == Some("unconfined")
        {
            intents.push(Intent {
                rule,
                key: key.to_string(),
                op: Op::Remove,
                what: format!("remove \"{key}\": \"unconfined\" (back to Docker's default seccomp profile)"),
                was: String::new(),
                extra: "; applies to containers created after the dockerd restart".to_string(),
                may_break: None,
                disruptive: None,
            });
        }
    }
    Ok(intents)
}

/// Whether the host runs SELinux: live, `/sys/fs/selinux/enforce` is 1;
/// offline, `/etc/selinux/config` says enforcing or permissive.
fn host_runs_selinux(ctx: &Context<'_>) -> Result<bool> {
    if ctx.live {
        let enforce = ctx.root.read_optional("/sys/fs/selinux/enforce")?;
        return Ok(enforce.is_some_and(|e| String::from_utf8_lossy(&e).trim() == "1"));
    }
    let Some(config) = ctx.root.read_optional("/etc/selinux/config")? else {
        return Ok(false);
    };
    Ok(String::from_utf8_lossy(&config).lines().any(|l| {
        l.trim()
            .strip_prefix("SELINUX=")
            .is_some_and(|v| matches!(v.trim().trim_matches('"'), "enforcing" | "permissive"))
    }))
}

#[cfg(test)]
mod tests;
