//! # Advice
//!
//! Guideline items dockhard reports but never changes, where the host's
//! files (or, on the live host, the kernel) tell something: who can drive
//! the daemon, which security module confines containers, how old the
//! kernel is, whether the host is virtualised, how logs are kept, which
//! container runtime is configured. Items that only containers' settings
//! decide are explained by `dockhard explain` and produce no finding.

use super::{Context, Outcome};
use crate::error::Result;
use crate::host::HostRoot;
use crate::plan::{Finding, Severity};

pub fn plan(ctx: &Context<'_>) -> Result<Outcome> {
    let mut out = Outcome::default();
    let daemon = daemon_json(ctx.root);
    if ctx.policy.enabled("advice-docker-group").is_some() {
        out.findings.push(docker_group(ctx.root)?);
    }
    if ctx.policy.enabled("advice-lsm").is_some() {
        out.findings.push(lsm(ctx)?);
    }
    if ctx.policy.enabled("advice-kernel").is_some() {
        out.findings.push(kernel(ctx)?);
    }
    if ctx.policy.enabled("advice-virtualisation").is_some() && ctx.live {
        out.findings.push(virtualisation(ctx.root)?);
    }
    if let Some(daemon) = &daemon {
        if ctx.policy.enabled("advice-logging").is_some() {
            out.findings.push(logging(daemon));
        }
        if ctx.policy.enabled("advice-mount-points").is_some() {
            out.findings.extend(runtimes(daemon));
        }
    }
    Ok(out)
}

/// daemon.json as a JSON value, if it is present and valid (the daemon kind
/// reports a broken file).
fn daemon_json(root: &HostRoot) -> Option<serde_json::Value> {
    let bytes = root.read_optional("/etc/docker/daemon.json").ok()??;
    super::daemon::json_value(&bytes).ok()
}

/// Members of the docker group: listed members plus users whose primary
/// group it is.
pub fn docker_group_members(group: &str, passwd: &str) -> Option<Vec<String>> {
    let line = group.lines().find(|l| l.split(':').next() == Some("docker"))?;
    let fields: Vec<&str> = line.split(':').collect();
    let gid = fields.get(2).copied().unwrap_or("");
    let mut members: Vec<String> = fields
        .get(3)
        .map(|m| {
            m.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    for l in passwd.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() > 3 && f[3] == gid && !gid.is_empty() && !members.iter().any(|m| m == f[0]) {
            members.push(f[0].to_string());
        }
    }
    members.sort();
    Some(members)
}

fn text(root: &HostRoot, path: &str) -> Result<String> {
    Ok(root
        .read_optional(path)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default())
}

fn docker_group(root: &HostRoot) -> Result<Finding> {
    let rule = "advice-docker-group";
    let group = text(root, "/etc/group")?;
    let passwd = text(root, "/etc/passwd")?;
    Ok(match docker_group_members(&group, &passwd) {
        None => Finding::not_applicable(rule, "there is no docker group"),
        Some(members) if members.is_empty() => Finding::compliant(rule, "the docker group has no members"),
        Some(members) => Finding::advisory(
            rule,
            Severity::High,
            format!(
                "members of the docker group can become root through the daemon: {}",
                members.join(", ")
            ),
        )
        .with_target("/etc/group"),
    })
}

fn lsm(ctx: &Context<'_>) -> Result<Finding> {
    let rule = "advice-lsm";
    if ctx.live {
        let selinux = text(ctx.root, "/sys/fs/selinux/enforce")?;
        let apparmor = text(ctx.root, "/sys/module/apparmor/parameters/enabled")?;
        let lsms = text(ctx.root, "/sys/kernel/security/lsm")?;
        if selinux.trim() == "1" {
            return Ok(Finding::compliant(rule, "SELinux is enforcing"));
        }
        if apparmor.trim() == "Y" {
            return Ok(Finding::compliant(
                rule,
                "AppArmor is enabled; Docker confines containers with docker-default",
            ));
        }
        let active = if lsms.trim().is_empty() {
            "unknown".to_string()
        } else {
            lsms.trim().to_string()
        };
        return Ok(Finding::advisory(
            rule,
            Severity::Medium,
            format!(
                "neither SELinux (enforcing) nor AppArmor is active (kernel security modules: {active}); containers are confined by namespaces, capabilities and seccomp only"
            ),
        ));
    }
    let selinux = text(ctx.root, "/etc/selinux/config")?;
    let mode = selinux
        .lines()
        .find_map(|l| l.trim().strip_prefix("SELINUX="))
        .map(str::trim)
        .unwrap_or("");
    if mode == "enforcing" {
        return Ok(Finding::compliant(rule, "SELinux is configured enforcing"));
    }
    if ctx.root.stat("/etc/apparmor.d")?.is_some() {
        return Ok(Finding::compliant(
            rule,
            "AppArmor profiles are installed (/etc/apparmor.d)",
        ));
    }
    Ok(Finding::advisory(
        rule,
        Severity::Medium,
        "no SELinux (enforcing) configuration and no AppArmor profiles in this root; install and enable one",
    ))
}

fn kernel(ctx: &Context<'_>) -> Result<Finding> {
    let rule = "advice-kernel";
    if !ctx.live {
        let kernels: Vec<String> = ctx
            .root
            .list_dir("/boot")?
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.starts_with("vmlinuz-"))
            .collect();
        return Ok(if kernels.is_empty() {
            Finding::not_applicable(
                rule,
                "offline root without a kernel in /boot: the host that runs it decides",
            )
        } else {
            Finding::advisory(
                rule,
                Severity::Info,
                format!("kernels in /boot: {}; keep them updated", kernels.join(", ")),
            )
        });
    }
    let uts = nix::sys::utsname::uname()?;
    let release = uts.release().to_string_lossy().into_owned();
    let version = uts.version().to_string_lossy().into_owned();
    let major_minor: Vec<u32> = release
        .split(['.', '-'])
        .take(2)
        .filter_map(|p| p.parse().ok())
        .collect();
    let old = matches!(major_minor.as_slice(), [maj, min] if (*maj, *min) < (5, 10));
    Ok(Finding::advisory(
        rule,
        if old { Severity::High } else { Severity::Info },
        format!(
            "running kernel {release} ({version}){}",
            if old {
                "; older than 5.10, the oldest long-term kernel Docker supports well: update it"
            } else {
                "; keep it updated"
            }
        ),
    ))
}

fn virtualisation(root: &HostRoot) -> Result<Finding> {
    let rule = "advice-virtualisation";
    let cpuinfo = text(root, "/proc/cpuinfo")?;
    let hypervisor = cpuinfo
        .lines()
        .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"));
    let vendor = text(root, "/sys/class/dmi/id/sys_vendor")?.trim().to_string();
    let product = text(root, "/sys/class/dmi/id/product_name")?.trim().to_string();
    let what = [vendor, product]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(if hypervisor {
        Finding::compliant(
            rule,
            format!(
                "the host runs in a virtual machine ({})",
                if what.is_empty() {
                    "hypervisor flag set"
                } else {
                    &what
                }
            ),
        )
    } else {
        Finding::advisory(
            rule,
            Severity::Low,
            "the host does not look virtualised: a VM gives containers a second wall behind the kernel",
        )
    })
}

fn logging(daemon: &serde_json::Value) -> Finding {
    let rule = "advice-logging";
    let driver = daemon
        .get("log-driver")
        .and_then(|v| v.as_str())
        .unwrap_or("json-file");
    let max_size = daemon.pointer("/log-opts/max-size").and_then(|v| v.as_str());
    if driver == "json-file" && max_size.is_none() {
        Finding::advisory(
            rule,
            Severity::Low,
            "containers log with json-file without rotation (no log-opts max-size): logs can fill the disk; set max-size/max-file or use the local driver",
        )
        .with_target("/etc/docker/daemon.json")
    } else {
        Finding::compliant(rule, format!("log driver {driver}"))
    }
}

fn runtimes(daemon: &serde_json::Value) -> Option<Finding> {
    let default = daemon.get("default-runtime").and_then(|v| v.as_str())?;
    if matches!(default, "runc" | "crun" | "io.containerd.runc.v2") {
        return None;
    }
    Some(
        Finding::advisory(
            "advice-mount-points",
            Severity::Medium,
            format!("default-runtime is `{default}`: check that it keeps /sys and /proc's kernel interfaces read-only in containers"),
        )
        .with_target("/etc/docker/daemon.json"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing::{context, empty_root, policy};
    use crate::plan::Status;

    #[test]
    fn docker_group_members_include_primary_group_users() {
        let group = "root:x:0:\ndocker:x:998:alice, bob\n";
        let passwd = "carol:x:1003:998::/home/carol:/bin/sh\nalice:x:1001:998::/:/bin/sh\n";
        assert_eq!(
            docker_group_members(group, passwd).unwrap(),
            vec!["alice".to_string(), "bob".to_string(), "carol".to_string()]
        );
        assert_eq!(docker_group_members("root:x:0:\n", ""), None);
    }

    #[test]
    fn offline_root_findings() {
        let (dir, root) = empty_root();
        std::fs::create_dir_all(dir.path().join("etc/docker")).unwrap();
        std::fs::write(dir.path().join("etc/group"), "docker:x:998:alice\n").unwrap();
        std::fs::write(dir.path().join("etc/passwd"), "alice:x:1001:1001::/:/bin/sh\n").unwrap();
        std::fs::write(
            dir.path().join("etc/docker/daemon.json"),
            "{\"default-runtime\": \"sysbox\"}",
        )
        .unwrap();
        let policy = policy("");
        let out = plan(&context(&root, &policy)).unwrap();
        let by = |rule: &str| out.findings.iter().find(|f| f.rule == rule).cloned().unwrap();
        let group = by("advice-docker-group");
        assert_eq!((group.status, group.severity), (Status::Advisory, Severity::High));
        assert!(group.message.contains("alice"));
        assert_eq!(by("advice-lsm").status, Status::Advisory);
        assert_eq!(by("advice-kernel").status, Status::NotApplicable);
        assert_eq!(by("advice-logging").status, Status::Advisory);
        assert!(by("advice-mount-points").message.contains("sysbox"));
        assert!(out.changes.is_empty());
    }
}
