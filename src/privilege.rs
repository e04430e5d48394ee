//! # Who may run what
//!
//! On the machine's own root dockhard reads and changes what only root may:
//! the firewall (iptables needs CAP_NET_ADMIN), mounts, dockerd, files under
//! /etc, set-id bits, and its snapshots in /var/lib/dockhard (root's, mode
//! 0700). Run there by another user it would fail halfway, or worse, plan
//! from what it could not see. So it stops first, before it reads or
//! changes anything, with exit 1 and a message saying what needs root and
//! how to run as root or offline instead:
//!
//! | command | root `/` | root `/` with `--offline` | `--root DIR` |
//! | --- | --- | --- | --- |
//! | `plan` | root | anyone | anyone |
//! | `apply`, `fix`, `rollback` | root | root | anyone |
//! | `snapshots` | root, unless `--state-dir` | root, unless `--state-dir` | anyone |
//! | `rules`, `explain`, `profile show` | anyone | anyone | anyone |
//!
//! An offline plan of `/` only reads files, and reports what it cannot read
//! as errors, so anyone may make one. An apply or rollback on `/` changes
//! root's files even offline. On a tree of their own (`--root DIR`, a state
//! dir they own: see `snapshot::trust`) a user plans, applies and rolls
//! back without root. "Root" is the effective uid 0.

use crate::cli::{Cli, Command, Global};
use crate::error::{Error, Result};
use std::path::Path;

/// Refuses, before anything is read, a command that needs root on the
/// machine's own root when the effective uid is not 0 (see the module
/// docs).
pub fn require_root(cli: &Cli) -> Result<()> {
    let euid = nix::unistd::geteuid();
    if euid.is_root() {
        return Ok(());
    }
    let global = &cli.global;
    let machine = std::fs::canonicalize(&global.root).is_ok_and(|p| p == Path::new("/"));
    if !machine {
        return Ok(());
    }
    let Some(why) = needs_root(&cli.command, global) else {
        return Ok(());
    };
    let user = match nix::unistd::User::from_uid(euid) {
        Ok(Some(user)) => format!("uid {euid} ({})", user.name),
        _ => format!("uid {euid}"),
    };
    let command = name(&cli.command);
    let mut text = format!(
        "`dockhard {command}` on this machine's root (/) needs root, and runs as {user}: {why}. Nothing was read or changed.\n  As root: sudo {}\n",
        command_line()
    );
    match &cli.command {
        Command::Plan { .. } => text.push_str(
            "  As you, the files only (no firewall, mount or dockerd state; what you cannot read is reported as an error): dockhard --offline plan\n  As you, a tree you own (an image or a copy): dockhard --root DIR plan",
        ),
        Command::Snapshots { .. } => text.push_str(
            "  As you, the snapshots of a tree you own: dockhard --state-dir DIR snapshots",
        ),
        _ => text.push_str(&format!(
            "  As you, offline on a tree you own (an image or a copy): dockhard --root DIR --state-dir STATE {command}"
        )),
    }
    Err(Error::msg(text))
}

/// What needs root in `command` on the machine's root, or `None` when it
/// needs nothing of root's.
fn needs_root(command: &Command, global: &Global) -> Option<&'static str> {
    let live = !global.offline;
    match command {
        Command::Plan { .. } if live => Some(
            "it reads the firewall with iptables (CAP_NET_ADMIN), looks for set-id files in every folder, and asks dockerd for its settings",
        ),
        Command::Apply { .. } | Command::Fix { .. } if live => Some(
            "it changes files owned by root (/etc/fstab, /etc/docker/daemon.json, set-id bits), loads firewall rules with iptables, remounts file systems, reloads dockerd, and keeps its snapshots in /var/lib/dockhard",
        ),
        Command::Apply { .. } | Command::Fix { .. } => Some(
            "even offline it changes files owned by root (/etc/fstab, /etc/docker/daemon.json, set-id bits) and keeps its snapshots in /var/lib/dockhard",
        ),
        Command::Rollback { .. } if live => Some(
            "it restores files owned by root, firewall rules with iptables, mount flags and dockerd's settings, from snapshots in /var/lib/dockhard",
        ),
        Command::Rollback { .. } => {
            Some("even offline it restores files owned by root, from snapshots in /var/lib/dockhard")
        }
        Command::Snapshots { .. } if global.state_dir.is_none() => {
            Some("its snapshots are in /var/lib/dockhard, which only root may read (mode 0700)")
        }
        _ => None,
    }
}

fn name(command: &Command) -> &'static str {
    match command {
        Command::Plan { .. } => "plan",
        Command::Apply { .. } => "apply",
        Command::Fix { .. } => "fix",
        Command::Rollback { .. } => "rollback",
        Command::Snapshots { .. } => "snapshots",
        Command::Rules { .. } => "rules",
        Command::Profile { .. } => "profile",
        Command::Explain { .. } => "explain",
    }
}

/// This run's command line as typed (the program as `dockhard`), quoted
/// for a shell where needed.
fn command_line() -> String {
    let mut words = vec!["dockhard".to_string()];
    for arg in std::env::args_os().skip(1) {
        let arg = arg.to_string_lossy().into_owned();
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
        words.push(if plain {
            arg
        } else {
            format!("'{}'", arg.replace('\'', "'\\''"))
        });
    }
    words.join(" ")
}
