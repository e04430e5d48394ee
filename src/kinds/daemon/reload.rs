//! # Making dockerd pick up daemon.json, and checking the file first
//!
//! On the running host (`ctx.live`), after the daemon.json edits:
//!
//! - [`validate`] checks the new file the way dockerd will before anything
//!   is written: `dockerd --validate --config-file` where the installed
//!   dockerd has it (23 and later), otherwise dockhard's own check (strict
//!   JSON, the types of the keys dockhard knows, no key also given as a
//!   command-line flag). A file that fails is never written.
//! - [`plan_reload`] adds the live step: SIGHUP when every changed key is
//!   one dockerd re-reads on SIGHUP, set in the file before and after (so a
//!   SIGHUP also takes it back, see [`sighup_suffices`]), and dockerd
//!   answers; a restart (the
//!   rule's `restart_command`, or `systemctl restart docker.service` where
//!   systemd runs) when the user allowed it with `--restart-docker`;
//!   otherwise a finding that the change takes effect at the next dockerd
//!   restart.

use super::flags::Flag;
use super::json::Document;
use super::{expected_type, has_type};
use crate::host::HostRoot;
use crate::host::live::dockerd;
use crate::kinds::{Context, Outcome};
use crate::plan::{Action, Change, Effect, Finding, Kind, Severity};

/// The rule that owns the live step.
pub const RULE: &str = "daemon-reload";

/// The target and action path of the live step.
pub const TARGET: &str = "dockerd";

/// Where a dockerd binary may be, inside the root.
const DOCKERD: [&str; 4] = [
    "/usr/bin/dockerd",
    "/usr/sbin/dockerd",
    "/usr/local/bin/dockerd",
    "/usr/local/sbin/dockerd",
];

/// The problems dockerd would have with this daemon.json content, by
/// dockhard's own check: not a JSON object, a known key of the wrong type,
/// a key also given as a command-line flag.
pub fn own_check(path: &str, content: &[u8], flags: &[Flag]) -> Vec<String> {
    let doc = match Document::parse(content) {
        Ok(doc) => doc,
        Err(e) => return vec![format!("{path}:{}:{}: {}", e.line, e.column, e.message)],
    };
    let mut problems = Vec::new();
    for m in &doc.members {
        // Go's encoding/json takes `null` for any type (no effect).
        if let Some(ty) = expected_type(&m.key)
            && m.value != super::json::Value::Null
            && !has_type(&m.value, ty)
        {
            problems.push(format!(
                "{path}:{}: \"{}\" must be {ty}, not {}",
                m.line,
                m.key,
                m.value.type_name()
            ));
        }
        if let Some(flag) = flags.iter().find(|f| f.key.as_deref() == Some(m.key.as_str())) {
            problems.push(format!(
                "{path}:{}: \"{}\" is also given as the flag {} (dockerd refuses to start: \"the following directives are specified both as a flag and in the configuration file\")",
                m.line,
                m.key,
                flag.place()
            ));
        }
    }
    problems
}

/// The installed dockerd, if it has `--validate` (dockerd 23 and later).
fn dockerd_with_validate(root: &HostRoot) -> Option<String> {
    let binary = DOCKERD
        .iter()
        .find(|p| root.stat(p).ok().flatten().is_some_and(|s| s.mode & 0o111 != 0))?;
    let path = root.machine_path(binary);
    let out = std::process::Command::new(&path)
        .arg("--help")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let help = String::from_utf8_lossy(&out.stdout);
    help.contains("--validate")
        .then(|| path.to_string_lossy().into_owned())
}

/// dockerd's own verdict on the content, fed on stdin: `Err` with its words.
fn dockerd_validate(dockerd: &str, content: &[u8]) -> std::result::Result<(), String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(dockerd)
        .args(["--validate", "--config-file", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{dockerd}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(content);
    }
    let out = child.wait_with_output().map_err(|e| format!("{dockerd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if text.is_empty() {
            text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        Err(format!("`dockerd --validate` refuses it: {text}"))
    }
}

/// Problems with the new content that the old one did not have. Live,
/// with a dockerd that can validate, dockerd's verdict is added.
pub fn validate(
    ctx: &Context<'_>,
    path: &str,
    before: Option<&[u8]>,
    after: &[u8],
    flags: &[Flag],
) -> Vec<String> {
    let old: Vec<String> = before.map(|b| own_check(path, b, flags)).unwrap_or_default();
    let mut problems: Vec<String> = own_check(path, after, flags)
        .into_iter()
        .filter(|p| !old.contains(p))
        .collect();
    if problems.is_empty()
        && ctx.live
        && let Some(dockerd) = dockerd_with_validate(ctx.root)
        && let Err(why) = dockerd_validate(&dockerd, after)
    {
        // Only what dockhard's edit brought in: the old file may be refused
        // for reasons of its own (reported elsewhere).
        let old_refused = before.is_some_and(|b| dockerd_validate(&dockerd, b).is_err());
        if !old_refused {
            problems.push(why);
        }
    }
    problems
}

/// The value of `key` in the new file, as the API check wants it.
fn new_value(doc: Option<&Document>, key: &str) -> Option<serde_json::Value> {
    let member = doc?.get(key)?;
    serde_json::from_str(&member.value.to_json()).ok()
}

/// Whether a service manager (systemd) runs on this host.
fn systemd_runs(root: &HostRoot) -> bool {
    root.lstat("/run/systemd/system").ok().flatten().is_some()
}

/// Whether a SIGHUP applies the change of `key` from `old` to `new` and
/// also takes it back (rollback): the key is one dockerd re-reads, and it
/// is set in both files. dockerd applies on SIGHUP only the keys the file
/// sets: a key removed from the file keeps its running value (20.10's
/// `Reload` checks `IsValueSet`), so adding a key would need a restart to
/// undo, and removing one needs a restart to take effect.
pub fn sighup_suffices(key: &str, old: Option<&Document>, new: Option<&Document>) -> bool {
    dockerd::reloadable(key)
        && old.is_some_and(|d| d.get(key).is_some())
        && new.is_some_and(|d| d.get(key).is_some())
}

/// Plans how dockerd picks up the changed `keys` (live only), or says why
/// it does not. `path` names the file (for messages); `old` and `doc` are
/// its content before and after the edits; `problems` are the own check of
/// the new content (a file dockerd would refuse is never reloaded).
pub fn plan_reload(
    ctx: &Context<'_>,
    path: &str,
    old: Option<&Document>,
    doc: Option<&Document>,
    keys: &[String],
    problems: &[String],
    out: &mut Outcome,
) {
    if !ctx.live || keys.is_empty() {
        return;
    }
    let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    let listed = keys.join(", ");
    let Some(rule) = ctx.policy.enabled(RULE) else {
        out.findings.push(
            Finding::advisory(
                RULE,
                Severity::Info,
                format!(
                    "the {RULE} rule is off: the {path} changes ({listed}) take effect at the next dockerd restart"
                ),
            )
            .with_target(TARGET),
        );
        return;
    };
    if !problems.is_empty() {
        out.findings.push(
            Finding::advisory(
                RULE,
                Severity::High,
                format!(
                    "dockerd is not reloaded: {path} has problems that stop dockerd ({}); the changes ({listed}) take effect once they are fixed and dockerd restarts",
                    problems.join("; ")
                ),
            )
            .with_target(TARGET),
        );
        return;
    }
    if !dockerd::answers() {
        out.findings.push(
            Finding::advisory(
                RULE,
                Severity::Info,
                format!(
                    "dockerd does not answer on {}: the {path} changes ({listed}) take effect when it starts",
                    dockerd::SOCKET
                ),
            )
            .with_target(TARGET),
        );
        return;
    }
    let verify: Vec<(String, serde_json::Value)> = keys
        .iter()
        .filter(|k| dockerd::VERIFIABLE.contains(k))
        .filter_map(|k| new_value(doc, k).map(|v| (k.to_string(), v)))
        .collect();
    let checked = if verify.is_empty() {
        "then checks that it answers".to_string()
    } else {
        format!(
            "then checks that it answers and reports {}",
            verify
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let (restart, summary, disruptive, may_break) = if keys.iter().all(|k| sighup_suffices(k, old, doc)) {
        (
            Vec::new(),
            format!("reload dockerd (SIGHUP) so it applies {listed} from {path}; {checked}"),
            false,
            "Nothing: running containers keep running.".to_string(),
        )
    } else if ctx.restart_docker {
        let configured = rule.params.strings("restart_command");
        let restart = if !configured.is_empty() {
            configured
        } else if systemd_runs(ctx.root) {
            ["systemctl", "restart", "docker.service"]
                .map(str::to_string)
                .to_vec()
        } else {
            out.findings.push(
                Finding::advisory(
                    RULE,
                    Severity::Medium,
                    format!(
                        "dockhard cannot restart dockerd here: no service manager runs (no /run/systemd/system) and the {RULE} rule's restart_command is empty. \
                         The {path} changes ({listed}) take effect at the next dockerd restart, which is left to the operator."
                    ),
                )
                .with_target(TARGET),
            );
            return;
        };
        (
            restart.clone(),
            format!(
                "restart dockerd with `{}` so it applies {listed} from {path}; {checked}; if it does not come back, the previous {path} is put back and dockerd restarted again",
                restart.join(" ")
            ),
            true,
            rule.rule.may_break.trim().to_string(),
        )
    } else {
        out.findings.push(
            Finding::advisory(
                RULE,
                Severity::Medium,
                format!(
                    "restart pending: the {path} changes ({listed}) take effect at the next dockerd restart (run with --restart-docker to let dockhard restart dockerd and check the result)"
                ),
            )
            .with_target(TARGET),
        );
        return;
    };
    let action = Action::DockerdReload {
        path: TARGET.to_string(),
        restart: restart.clone(),
        verify,
    };
    out.changes.push(Change {
        id: format!("daemon:{TARGET}:{RULE}"),
        rule: RULE.to_string(),
        kind: Kind::Daemon,
        target: TARGET.to_string(),
        summary,
        diff: crate::apply::reload_text(&restart),
        live: true,
        disruptive,
        takes_effect: Effect::Now,
        may_break: Some(may_break),
        action,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_check_names_wrong_types_and_flag_conflicts() {
        let text = b"{\n  \"icc\": \"no\",\n  \"live-restore\": true\n}\n";
        let flags = super::super::flags::parse_flags(
            &[super::super::flags::Word {
                text: "--live-restore".to_string(),
                via: None,
            }],
            "/lib/systemd/system/docker.service",
            12,
        )
        .unwrap();
        let problems = own_check("/etc/docker/daemon.json", text, &flags);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains(":2: \"icc\" must be bool"), "{problems:?}");
        assert!(
            problems[1].contains(":3: \"live-restore\" is also given as the flag"),
            "{problems:?}"
        );
        assert!(own_check("/etc/docker/daemon.json", b"{\"icc\": false,}", &[])[0].contains(":1:"));
        assert!(own_check("/etc/docker/daemon.json", b"{\"icc\": false}", &[]).is_empty());
    }

    #[test]
    fn reloadable_keys_follow_the_guidelines() {
        for key in ["live-restore", "insecure-registries"] {
            assert!(dockerd::reloadable(key), "{key}");
        }
        for key in ["icc", "userns-remap", "no-new-privileges", "userland-proxy"] {
            assert!(!dockerd::reloadable(key), "{key}");
        }
        let doc = Document::parse(b"{\"icc\": false, \"userns-remap\": \"default\"}").unwrap();
        assert_eq!(new_value(Some(&doc), "icc"), Some(serde_json::json!(false)));
        assert_eq!(
            new_value(Some(&doc), "userns-remap"),
            Some(serde_json::json!("default"))
        );
        // SIGHUP only for a reloadable key the file sets before and after.
        let old = Document::parse(b"{\"live-restore\": false}").unwrap();
        let new = Document::parse(b"{\"live-restore\": true}").unwrap();
        let empty = Document::parse(b"{}").unwrap();
        assert!(sighup_suffices("live-restore", Some(&old), Some(&new)));
        assert!(!sighup_suffices("live-restore", Some(&empty), Some(&new)));
        assert!(!sighup_suffices("live-restore", Some(&old), Some(&empty)));
        assert!(!sighup_suffices("live-restore", None, Some(&new)));
        assert!(!sighup_suffices("icc", Some(&doc), Some(&doc)));
    }
}
