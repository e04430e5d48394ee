//! # Rules and profiles
//!
//! The rule catalog (`remediations/*.toml`, embedded at build time) and the
//! profile that selects and parameterises rules. A rule declares its
//! parameters with defaults; a profile may only override declared
//! parameters, with values of the same type.

use crate::error::{Error, Result};
use crate::plan::{Kind, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The embedded catalog: (file name, TOML text), one per rule.
pub const RULE_FILES: &[(&str, &str)] = &[
    ("suid-strip.toml", include_str!("../remediations/suid-strip.toml")),
    (
        "mount-nosuid.toml",
        include_str!("../remediations/mount-nosuid.toml"),
    ),
    ("daemon-icc.toml", include_str!("../remediations/daemon-icc.toml")),
    (
        "daemon-no-new-privileges.toml",
        include_str!("../remediations/daemon-no-new-privileges.toml"),
    ),
    (
        "daemon-live-restore.toml",
        include_str!("../remediations/daemon-live-restore.toml"),
    ),
    (
        "daemon-userland-proxy.toml",
        include_str!("../remediations/daemon-userland-proxy.toml"),
    ),
    (
        "daemon-userns-remap.toml",
        include_str!("../remediations/daemon-userns-remap.toml"),
    ),
    (
        "daemon-insecure-registries.toml",
        include_str!("../remediations/daemon-insecure-registries.toml"),
    ),
    (
        "daemon-seccomp-unconfined.toml",
        include_str!("../remediations/daemon-seccomp-unconfined.toml"),
    ),
    (
        "daemon-selinux.toml",
        include_str!("../remediations/daemon-selinux.toml"),
    ),
    (
        "daemon-tcp-tls.toml",
        include_str!("../remediations/daemon-tcp-tls.toml"),
    ),
    (
        "daemon-reload.toml",
        include_str!("../remediations/daemon-reload.toml"),
    ),
    (
        "daemon-unit-conflicts.toml",
        include_str!("../remediations/daemon-unit-conflicts.toml"),
    ),
    (
        "subid-remap-range.toml",
        include_str!("../remediations/subid-remap-range.toml"),
    ),
    (
        "iptables-docker-user.toml",
        include_str!("../remediations/iptables-docker-user.toml"),
    ),
    (
        "advice-docker-group.toml",
        include_str!("../remediations/advice-docker-group.toml"),
    ),
    ("advice-lsm.toml", include_str!("../remediations/advice-lsm.toml")),
    (
        "advice-kernel.toml",
        include_str!("../remediations/advice-kernel.toml"),
    ),
    (
        "advice-logging.toml",
        include_str!("../remediations/advice-logging.toml"),
    ),
    (
        "advice-content-trust.toml",
        include_str!("../remediations/advice-content-trust.toml"),
    ),
    (
        "advice-resources.toml",
        include_str!("../remediations/advice-resources.toml"),
    ),
    (
        "advice-containers.toml",
        include_str!("../remediations/advice-containers.toml"),
    ),
    (
        "advice-devices.toml",
        include_str!("../remediations/advice-devices.toml"),
    ),
    (
        "advice-mount-points.toml",
        include_str!("../remediations/advice-mount-points.toml"),
    ),
    (
        "advice-services.toml",
        include_str!("../remediations/advice-services.toml"),
    ),
    (
        "advice-virtualisation.toml",
        include_str!("../remediations/advice-virtualisation.toml"),
    ),
    (
        "advice-audit.toml",
        include_str!("../remediations/advice-audit.toml"),
    ),
];

/// One rule of the catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub title: String,
    /// Guideline item, `G1` … `G17`.
    pub guideline: String,
    pub kind: Kind,
    pub severity: Severity,
    pub rationale: String,
    pub may_break: String,
    #[serde(default)]
    pub disruptive: bool,
    /// Whether the built-in profile enables the rule.
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub params: toml::Table,
}

fn yes() -> bool {
    true
}

/// All rules, in catalog order.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub rules: Vec<Rule>,
}

impl Catalog {
    /// Loads the embedded catalog; a broken rule file is a build defect, and
    /// a test loads it, so this only fails on a broken build.
    pub fn builtin() -> Result<Catalog> {
        let mut rules: Vec<Rule> = Vec::new();
        for (file, text) in RULE_FILES {
            let rule: Rule =
                toml::from_str(text).map_err(|e| Error::msg(format!("remediations/{file}: {e}")))?;
            if format!("{}.toml", rule.id) != *file {
                return Err(Error::msg(format!(
                    "remediations/{file}: id {} does not match the file name",
                    rule.id
                )));
            }
            if rules.iter().any(|r| r.id == rule.id) {
                return Err(Error::msg(format!(
                    "remediations/{file}: duplicate rule id {}",
                    rule.id
                )));
            }
            let item = rule
                .guideline
                .strip_prefix('G')
                .and_then(|n| n.parse::<u8>().ok());
            if !matches!(item, Some(1..=17)) {
                return Err(Error::msg(format!(
                    "remediations/{file}: guideline must be G1..G17"
                )));
            }
            rules.push(rule);
        }
        Ok(Catalog { rules })
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// A rule with the profile applied: enabled or not, effective parameters.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub rule: Rule,
    pub enabled: bool,
    pub params: Params,
}

/// The profile's `[snapshots]` table: what the state dir keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotSettings {
    /// Finished snapshots kept after a successful apply or rollback; older
    /// ones are deleted (see `snapshot::retention`).
    pub keep: usize,
}

impl Default for SnapshotSettings {
    fn default() -> SnapshotSettings {
        SnapshotSettings {
            keep: crate::snapshot::retention::DEFAULT_KEEP,
        }
    }
}

/// The effective policy: every catalog rule, enabled or not, with parameters.
#[derive(Debug, Clone)]
pub struct Policy {
    pub rules: Vec<RuleConfig>,
    pub snapshots: SnapshotSettings,
    /// sha256 of the profile text ("builtin" profile: of the empty text).
    pub profile_sha256: String,
}

impl Policy {
    /// The rule's configuration, whether enabled or not.
    pub fn rule(&self, id: &str) -> &RuleConfig {
        self.rules
            .iter()
            .find(|r| r.rule.id == id)
            .unwrap_or_else(|| panic!("rule {id} is not in the catalog"))
    }

    /// The rule's configuration if the profile enables it.
    pub fn enabled(&self, id: &str) -> Option<&RuleConfig> {
        Some(self.rule(id)).filter(|r| r.enabled)
    }

    /// Builds the policy from the catalog and a profile text (`None`: the
    /// built-in profile). `file` names the profile in errors.
    pub fn load(catalog: &Catalog, profile: Option<(&str, &str)>) -> Result<Policy> {
        let mut rules: Vec<RuleConfig> = catalog
            .rules
            .iter()
            .map(|rule| RuleConfig {
                rule: rule.clone(),
                enabled: rule.enabled,
                params: Params {
                    rule: rule.id.clone(),
                    values: rule.params.clone(),
                },
            })
            .collect();
        let text = profile.map(|(_, text)| text).unwrap_or("");
        let mut snapshots = SnapshotSettings::default();
        if let Some((file, text)) = profile {
            snapshots = apply_profile(&mut rules, file, text)?;
        }
        Ok(Policy {
            rules,
            snapshots,
            profile_sha256: crate::plan::sha256_hex(text.as_bytes()),
        })
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default)]
    rules: BTreeMap<String, toml::Spanned<BTreeMap<String, toml::Spanned<toml::Value>>>>,
    #[serde(default)]
    snapshots: BTreeMap<String, toml::Spanned<toml::Value>>,
}

/// The profile's `[snapshots]` table: `keep`, an integer of at least
/// `snapshot::retention::MIN_KEEP`; anything else is an error naming its line.
fn snapshot_settings(
    file: &str,
    text: &str,
    table: BTreeMap<String, toml::Spanned<toml::Value>>,
) -> Result<SnapshotSettings> {
    let mut settings = SnapshotSettings::default();
    for (key, value) in table {
        let line = line_of(text, value.span().start);
        if key != "keep" {
            return Err(Error::at(
                file,
                line,
                None,
                format!("unknown setting `snapshots.{key}` (known: keep)"),
            ));
        }
        let min = crate::snapshot::retention::MIN_KEEP;
        settings.keep = value
            .into_inner()
            .as_integer()
            .filter(|n| *n >= min as i64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                Error::at(
                    file,
                    line,
                    None,
                    format!("snapshots.keep must be a whole number of at least {min}"),
                )
            })?;
    }
    Ok(settings)
}

fn apply_profile(rules: &mut [RuleConfig], file: &str, text: &str) -> Result<SnapshotSettings> {
    let parsed: ProfileFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        Error::at(file, line, None, e.message())
    })?;
    let settings = snapshot_settings(file, text, parsed.snapshots)?;
    for (id, table) in parsed.rules {
        let rule_line = line_of(text, table.span().start);
        let Some(config) = rules.iter_mut().find(|r| r.rule.id == id) else {
            return Err(Error::at(
                file,
                rule_line,
                None,
                format!("unknown rule `{id}` (see `dockhard rules`)"),
            ));
        };
        for (key, value) in table.into_inner() {
            let line = line_of(text, value.span().start);
            let value = value.into_inner();
            if key == "enabled" {
                config.enabled = value.as_bool().ok_or_else(|| {
                    Error::at(
                        file,
                        line,
                        None,
                        format!("rules.{id}.enabled must be true or false"),
                    )
                })?;
                continue;
            }
            let Some(default) = config.rule.params.get(&key) else {
                let known: Vec<&str> = config.rule.params.keys().map(String::as_str).collect();
                return Err(Error::at(
                    file,
                    line,
                    None,
                    format!(
                        "unknown parameter `{key}` for rule {id} (known: enabled, {})",
                        known.join(", ")
                    ),
                ));
            };
            if let (Some(want), Some(items)) = (default.as_array(), value.as_array()) {
                let element = want.first().map(toml::Value::type_str).unwrap_or("string");
                if let Some(bad) = items.iter().find(|v| v.type_str() != element) {
                    return Err(Error::at(
                        file,
                        line,
                        None,
                        format!(
                            "rules.{id}.{key} must hold only {element}s, not {} ({bad})",
                            bad.type_str()
                        ),
                    ));
                }
            }
            if default.type_str() != value.type_str() {
                return Err(Error::at(
                    file,
                    line,
                    None,
                    format!(
                        "rules.{id}.{key} must be {}, not {}",
                        default.type_str(),
                        value.type_str()
                    ),
                ));
            }
            config.params.values.insert(key, value);
        }
    }
    Ok(settings)
}

/// A rule's effective parameters with typed getters. Types were checked when
/// the profile was loaded, so a getter only fails on a catalog defect.
#[derive(Debug, Clone)]
pub struct Params {
    rule: String,
    values: toml::Table,
}

impl Params {
    fn get(&self, key: &str) -> &toml::Value {
        self.values
            .get(key)
            .unwrap_or_else(|| panic!("rule {} has no parameter {key}", self.rule))
    }

    pub fn string(&self, key: &str) -> String {
        self.get(key).as_str().unwrap_or_default().to_string()
    }

    pub fn boolean(&self, key: &str) -> bool {
        self.get(key).as_bool().unwrap_or_default()
    }

    pub fn integer(&self, key: &str) -> i64 {
        self.get(key).as_integer().unwrap_or_default()
    }

    pub fn strings(&self, key: &str) -> Vec<String> {
        self.get(key)
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    pub fn integers(&self, key: &str) -> Vec<i64> {
        self.get(key)
            .as_array()
            .map(|a| a.iter().filter_map(toml::Value::as_integer).collect())
            .unwrap_or_default()
    }

    /// The parameters as a TOML table (for `explain` and `profile show`).
    pub fn table(&self) -> &toml::Table {
        &self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_loads_and_covers_every_file() {
        let catalog = Catalog::builtin().unwrap();
        let on_disk: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/remediations"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        assert_eq!(
            on_disk.len(),
            RULE_FILES.len(),
            "every remediations/*.toml must be embedded"
        );
        for name in on_disk {
            assert!(RULE_FILES.iter().any(|(f, _)| *f == name), "{name} not embedded");
        }
        // Every guideline item is covered by at least one rule.
        for item in 1..=17 {
            let g = format!("G{item}");
            assert!(catalog.rules.iter().any(|r| r.guideline == g), "no rule for {g}");
        }
    }

    #[test]
    fn profile_errors_name_line_and_key() {
        let catalog = Catalog::builtin().unwrap();
        let text = "[rules.mount-nosuid]\npoints = [\"/tmp\"]\nbogus = 1\n";
        let err = Policy::load(&catalog, Some(("p.toml", text))).unwrap_err();
        assert!(err.message().starts_with("p.toml:3:"), "{err}");
        assert!(err.message().contains("bogus"), "{err}");

        let err = Policy::load(&catalog, Some(("p.toml", "[rules.nope]\nenabled = false\n"))).unwrap_err();
        assert!(
            err.message().contains("p.toml:1:") && err.message().contains("nope"),
            "{err}"
        );

        let err = Policy::load(
            &catalog,
            Some(("p.toml", "\n[rules.mount-nosuid]\npoints = \"/tmp\"\n")),
        )
        .unwrap_err();
        assert!(
            err.message().contains("p.toml:3:") && err.message().contains("array"),
            "{err}"
        );

        let err = Policy::load(
            &catalog,
            Some(("p.toml", "[rules.mount-nosuid]\npoints = [\"/tmp\", 3]\n")),
        )
        .unwrap_err();
        assert!(
            err.message().starts_with("p.toml:2:") && err.message().contains("strings"),
            "{err}"
        );

        let err = Policy::load(&catalog, Some(("p.toml", "[rules.mount-nosuid\n"))).unwrap_err();
        assert!(err.message().starts_with("p.toml:1:"), "{err}");
    }

    #[test]
    fn snapshot_retention_is_a_profile_setting() {
        let catalog = Catalog::builtin().unwrap();
        let builtin = Policy::load(&catalog, None).unwrap();
        assert_eq!(builtin.snapshots.keep, crate::snapshot::retention::DEFAULT_KEEP);
        let policy = Policy::load(&catalog, Some(("p.toml", "[snapshots]\nkeep = 3\n"))).unwrap();
        assert_eq!(policy.snapshots.keep, 3);
        for (text, line, says) in [
            ("[snapshots]\nkeep = 0\n", 2, "at least 1"),
            ("\n[snapshots]\n\nkeep = \"5\"\n", 4, "whole number"),
            ("[snapshots]\nkeep = -2\n", 2, "at least 1"),
            ("[snapshots]\nkeep = 2\nmax_age = 3\n", 3, "snapshots.max_age"),
        ] {
            let err = Policy::load(&catalog, Some(("p.toml", text))).unwrap_err();
            assert!(
                err.message().starts_with(&format!("p.toml:{line}:")) && err.message().contains(says),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn profile_overrides_params_and_enables() {
        let catalog = Catalog::builtin().unwrap();
        let text = "[rules.mount-nosuid]\npoints = [\"/srv\"]\n[rules.suid-strip]\nenabled = false\n";
        let policy = Policy::load(&catalog, Some(("p.toml", text))).unwrap();
        assert_eq!(policy.rule("mount-nosuid").params.strings("points"), vec!["/srv"]);
        assert!(policy.enabled("suid-strip").is_none());
        assert!(policy.enabled("mount-nosuid").is_some());
    }
}
