//! # Command line
//!
//! The commands, options and exit codes of CONTRACT.md: 0 success (for
//! `plan --detailed-exitcode`: nothing to change), 1 error, 2 changes
//! pending (`plan --detailed-exitcode` only).

use crate::apply;
use crate::catalog::{Catalog, Policy};
use crate::error::{Error, Result};
use crate::host::{FileType, HostRoot};
use crate::plan::{Kind, Plan, SCHEMA};
use crate::planner::{self, Request};
use crate::render::{self, Style};
use crate::snapshot::{Operation, SnapshotStatus, Store};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Harden a Linux host that runs Docker: plan, apply, roll back.
#[derive(Debug, Parser)]
#[command(name = "dockhard", version, about, long_about = None, disable_help_subcommand = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Tree to harden; any root other than / implies --offline.
    #[arg(long, global = true, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// Persistent changes only; no live step (iptables, remount, daemon reload).
    #[arg(long, global = true)]
    pub offline: bool,
    /// TOML profile (default: the built-in one).
    #[arg(long, global = true, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Where snapshots live (default: var/lib/dockhard under the root); it
    /// must be yours and private (0700), under folders only root or you
    /// can change.
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print less.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more (compliant findings too).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// How long apply, rollback and fix wait for another run's lock before
    /// giving up (exit 1).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = apply::LOCK_WAIT.as_secs())]
    pub lock_wait: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The kinds `--only` accepts.
const KINDS: [&str; 6] = ["suid", "mount", "daemon", "iptables", "subid", "advice"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what would change (changes nothing).
    Plan {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also save the plan as JSON, for `apply PLAN_FILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Only these kinds (suid, mount, daemon, iptables, subid, advice).
        #[arg(long, value_delimiter = ',', value_name = "KIND,...", value_parser = KINDS)]
        only: Vec<String>,
        /// Exit 2 when changes are pending, 0 when none.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan a restart of dockerd where daemon.json changes need one.
        #[arg(long)]
        restart_docker: bool,
    },
    /// Apply a fresh plan, or exactly the changes of a saved plan file.
    Apply {
        /// A plan saved with `plan --out`. It carries a digest: a plan edited
        /// since dockhard wrote it is refused.
        plan_file: Option<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        /// Only these kinds; with PLAN_FILE, only the plan's changes of these
        /// kinds (and the folders they need).
        #[arg(long, value_delimiter = ',', value_name = "KIND,...", value_parser = KINDS)]
        only: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Restart dockerd where daemon.json changes need it (live host only).
        #[arg(long)]
        restart_docker: bool,
    },
    /// Restore the state a snapshot recorded (default: an unfinished run, else the latest apply).
    Rollback {
        /// The snapshot to restore (default: a run that did not finish, else
        /// the latest apply that was not rolled back). A rollback's own
        /// snapshot undoes that rollback.
        snapshot_id: Option<String>,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(long, short)]
        yes: bool,
        /// Restore targets even if they changed since the apply.
        #[arg(long)]
        force: bool,
    },
    /// List snapshots, or show one.
    Snapshots {
        #[command(subcommand)]
        action: Option<SnapshotsAction>,
        /// Output format (also after `list` or `show ID`).
        #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
        format: Format,
    },
    /// The rule catalog with ids, kinds and guideline items.
    Rules {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the effective profile as commented TOML, to save and edit.
    Profile {
        #[command(subcommand)]
        action: ProfileAction,
    },
    /// A rule's rationale, what it changes and what it may break.
    Explain {
        /// A rule id from `dockhard rules`.
        rule_id: String,
    },
    /// Review the plan change by change on a terminal, then apply the accepted ones.
    ///
    /// For each change: its rule, guideline item, reason, what it may break,
    /// when it takes effect and its diff. Answers: y apply, n skip, d full
    /// diff, e explain the rule, a apply all remaining changes of this kind,
    /// q quit. Disruptive changes need a typed yes. Nothing is changed until
    /// the accepted set is confirmed at the end; it is then applied with one
    /// snapshot. Needs a terminal: without one, use `plan` and `apply --yes`.
    Fix {
        /// Only these kinds (suid, mount, daemon, iptables, subid, advice).
        #[arg(long, value_delimiter = ',', value_name = "KIND,...", value_parser = KINDS)]
        only: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SnapshotsAction {
    /// All snapshots, oldest first.
    List,
    /// One snapshot's targets and changes.
    Show { snapshot_id: String },
}

#[derive(Debug, Subcommand)]
pub enum ProfileAction {
    /// The built-in profile, or the one given with --profile, with every rule
    /// and parameter and the snapshots kept ([snapshots] keep); loads back
    /// with --profile to the same policy.
    Show,
}

/// Runs the command line; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version are not errors; every usage error exits 1
            // (2 means "changes pending").
            let code = if err.use_stderr() { 1 } else { 0 };
            let _ = err.print();
            return code;
        }
    };
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "dockhard: error: {err}");
            // A pipeline that asked for JSON gets one object on failure too.
            if wants_json(&cli.command) {
                let value = serde_json::json!({"schema": SCHEMA, "error": err.to_string(), "applied": [], "snapshot": null});
                let _ = writeln!(std::io::stdout(), "{value}");
            }
            1
        }
    }
}

/// Whether the command's output is JSON (`--format json`).
fn wants_json(command: &Command) -> bool {
    matches!(
        command,
        Command::Plan {
            format: Format::Json,
            ..
        } | Command::Apply {
            format: Format::Json,
            ..
        } | Command::Snapshots {
            format: Format::Json,
            ..
        } | Command::Rules { format: Format::Json }
    )
}

pub(crate) struct Env {
    /// This run's global options, to repeat in suggested commands.
    pub(crate) flags: String,
    /// Live steps may be made: the machine's own root and not `--offline`.
    pub(crate) live: bool,
    /// The state dir is the default one inside the root.
    default_state: bool,
    root: HostRoot,
    root_arg: String,
    catalog: Catalog,
    policy: Policy,
    store: Store,
    own_paths: Vec<String>,
    style: Style,
}

fn load_env(global: &Global) -> Result<Env> {
    let root = HostRoot::open(&global.root)?;
    let catalog = Catalog::builtin()?;
    let profile_text = match &global.profile {
        Some(path) => {
            let shown = path.display().to_string();
            let bytes = std::fs::read(path).map_err(|e| Error::io(&shown, e))?;
            Some(String::from_utf8(bytes).map_err(|e| {
                // Name the line and column of the first byte that is not UTF-8.
                let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
                let column = good.len() - good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
                Error::at(
                    &shown,
                    line,
                    Some(column),
                    "not valid UTF-8 (a profile is TOML, UTF-8 text)",
                )
            })?)
        }
        None => None,
    };
    let profile_name = global.profile.as_ref().map(|p| p.display().to_string());
    let policy = Policy::load(
        &catalog,
        profile_text
            .as_deref()
            .map(|t| (profile_name.as_deref().unwrap_or("profile"), t)),
    )?;
    let (state_dir, own_paths) = match &global.state_dir {
        Some(dir) => {
            let abs = std::path::absolute(dir).map_err(|e| Error::io(&dir.display().to_string(), e))?;
            let inside = abs
                .strip_prefix(root.path())
                .ok()
                .map(|rel| format!("/{}", rel.display()));
            (abs, inside.into_iter().collect())
        }
        None => (
            root.machine_path("/var/lib/dockhard"),
            vec!["/var/lib/dockhard".to_string()],
        ),
    };
    let default_state = global.state_dir.is_none();
    let keep = policy.snapshots.keep;
    let color = match global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none()
                && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(false)
        }
    };
    let root_path = root.path().to_path_buf();
    Ok(Env {
        flags: repeat_flags(global),
        live: root.is_machine_root() && !global.offline,
        default_state,
        root_arg: root.path().display().to_string(),
        root,
        catalog,
        policy,
        store: Store::new(state_dir)
            .with_flags(&repeat_flags(global))
            .with_lock_wait(std::time::Duration::from_secs(global.lock_wait))
            .with_keep(keep)
            .with_root(&root_path),
        own_paths,
        style: Style {
            color,
            verbose: global.verbose,
        },
    })
}

/// Before the state dir is used: inside the root, none of its folders may be
/// a symbolic link (snapshots must not land outside the root).
fn check_state_dir(env: &Env) -> Result<()> {
    if env.default_state {
        for dir in [
            "/var",
            "/var/lib",
            "/var/lib/dockhard",
            "/var/lib/dockhard/snapshots",
        ] {
            if let Some(st) = env.root.lstat(dir)?
                && st.file_type != FileType::Dir
            {
                return Err(Error::msg(format!(
                    "{dir} in the root is not a directory (a symbolic link?); give --state-dir"
                )));
            }
        }
    }
    Ok(())
}

fn parse_kinds(only: &[String]) -> Result<Vec<Kind>> {
    if only.is_empty() {
        return Ok(Kind::ALL.to_vec());
    }
    let mut kinds = Vec::new();
    for name in only {
        let kind = Kind::parse(name.trim()).ok_or_else(|| {
            Error::msg(format!(
                "--only: unknown kind `{name}` (kinds: suid, mount, daemon, iptables, subid, advice)"
            ))
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

fn make_plan(env: &Env, global: &Global, only: &[String], restart_docker: bool) -> Result<Plan> {
    Ok(planner::make_plan(&Request {
        restart_docker,
        root: &env.root,
        root_arg: env.root_arg.clone(),
        offline: global.offline,
        policy: &env.policy,
        kinds: parse_kinds(only)?,
        own_paths: env.own_paths.clone(),
    }))
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(err) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A closed pipe (`dockhard plan | head`) is not an error; a full
        // disk or a broken device is.
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = writeln!(
                std::io::stderr(),
                "dockhard: error: writing to standard output: {err}"
            );
            std::process::exit(1);
        }
    }
}

fn write_file_atomic(path: &Path, content: &[u8]) -> Result<()> {
    let shown = path.display().to_string();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::msg(format!("{shown}: not a file name")))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let temp = dir.join(format!(
        ".{}.dockhard-{}-{nanos:09}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        // A new file, never through a planted link.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)?;
        f.write_all(content)?;
        f.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(|e| Error::io(&shown, e))
}

/// Asks once on a terminal; refuses without one.
/// The global options of this run as they must be repeated in a command a
/// message suggests (`--root`, `--state-dir`, `--profile`, `--offline`), so
/// a pasted hint acts on the same tree, never on the live host by mistake.
fn repeat_flags(global: &Global) -> String {
    let mut out = String::new();
    if global.root != Path::new("/") {
        out.push_str(&format!(" --root {}", global.root.display()));
    }
    if let Some(dir) = &global.state_dir {
        out.push_str(&format!(" --state-dir {}", dir.display()));
    }
    if let Some(profile) = &global.profile {
        out.push_str(&format!(" --profile {}", profile.display()));
    }
    if global.offline {
        out.push_str(" --offline");
    }
    out
}

/// Asks once on a terminal; without one refuses, naming the command that
/// does the same without asking (`hint`).
fn confirm(question: &str, yes: bool, hint: &str) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::msg(format!(
            "no terminal to confirm on; nothing was changed. {hint}"
        )));
    }
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(|e| Error::msg(format!("confirmation: {e}")))
}

fn run(cli: &Cli) -> Result<i32> {
    crate::privilege::require_root(cli)?;
    let global = &cli.global;
    crate::progress::set_enabled(!global.quiet && crate::progress::stderr_is_terminal());
    match &cli.command {
        Command::Rules { format } => {
            let catalog = Catalog::builtin()?;
            let env = load_env(global)?;
            print(&rules_text(&catalog, &env.policy, *format));
            Ok(0)
        }
        Command::Fix { only } => {
            crate::prompt::require_terminal(&repeat_flags(global))?;
            let env = load_env(global)?;
            check_state_dir(&env)?;
            env.store.refuse_unfinished(&Operation::Apply, &env.flags)?;
            let plan = make_plan(&env, global, only, false)?;
            let session = crate::prompt::Session {
                root: &env.root,
                root_arg: &env.root_arg,
                live: env.live,
                restart_docker: false,
                catalog: &env.catalog,
                policy: &env.policy,
                store: &env.store,
                own_paths: &env.own_paths,
                style: crate::prompt::style(global.color, global.verbose),
            };
            crate::prompt::fix(&session, plan)
        }
        Command::Profile {
            action: ProfileAction::Show,
        } => {
            let env = load_env(global)?;
            let source = global.profile.as_ref().map(|p| p.display().to_string());
            print(&crate::profile::show(&env.policy, source.as_deref()));
            Ok(0)
        }
        Command::Explain { rule_id } => {
            let env = load_env(global)?;
            print(&explain_text(&env.policy, rule_id)?);
            Ok(0)
        }
        Command::Plan {
            format,
            out,
            only,
            detailed_exitcode,
            restart_docker,
        } => {
            let env = load_env(global)?;
            // Read only: an unfinished apply is pointed out, not resolved.
            if let Err(unfinished) = env.store.refuse_unfinished(&Operation::Apply, &env.flags) {
                eprintln!("dockhard: warning: {unfinished}");
            }
            let plan = make_plan(&env, global, only, *restart_docker)?;
            if let Some(out) = out {
                write_file_atomic(out, render::plan_json(&plan).as_bytes())?;
            }
            match format {
                Format::Text => print(&render::plan_text(&plan, &env.catalog, env.style)),
                Format::Json => print(&render::plan_json(&plan)),
            }
            if plan.has_errors() {
                Ok(1)
            } else if *detailed_exitcode && !plan.changes.is_empty() {
                Ok(2)
            } else {
                Ok(0)
            }
        }
        Command::Apply {
            plan_file,
            yes,
            only,
            format,
            restart_docker,
        } => {
            let env = load_env(global)?;
            check_state_dir(&env)?;
            env.store.refuse_unfinished(&Operation::Apply, &env.flags)?;
            let mut plan = match plan_file {
                Some(file) => load_plan_file(file, &env)?,
                None => {
                    let first = make_plan(&env, global, only, *restart_docker)?;
                    // Nothing to do, or a plan that will be refused (a
                    // kind could not be checked): no lock, so the state
                    // dir is not even created.
                    if first.changes.is_empty() || !first.blockers().is_empty() {
                        first
                    } else {
                        // Plan again under the lock: a run started at the
                        // same time waits here, then plans on what the other
                        // one left, instead of applying a plan gone stale.
                        env.store.hold()?;
                        make_plan(&env, global, only, *restart_docker)?
                    }
                }
            };
            if plan_file.is_some() {
                // A saved plan gone stale is refused before it is shown.
                apply::refuse_stale(&env.root, &plan.changes)?;
            }
            if plan_file.is_some() && !only.is_empty() {
                let kinds = parse_kinds(only)?;
                plan.changes = planner::only_kinds(std::mem::take(&mut plan.changes), &kinds);
                let catalog = &env.catalog;
                plan.findings
                    .retain(|f| catalog.get(&f.rule).is_none_or(|r| kinds.contains(&r.kind)));
                plan.kinds.retain(|k| kinds.contains(k));
            }
            apply_plan(&env, global, &plan, *yes, *format)
        }
        Command::Rollback {
            snapshot_id,
            yes,
            force,
        } => {
            let env = load_env(global)?;
            check_state_dir(&env)?;
            env.store.hold()?;
            rollback(&env, snapshot_id.as_deref(), *yes, *force)
        }
        Command::Snapshots { action, format } => {
            let env = load_env(global)?;
            check_state_dir(&env)?;
            match action {
                None | Some(SnapshotsAction::List) => print(&snapshots_list(&env.store, *format)?),
                Some(SnapshotsAction::Show { snapshot_id }) => {
                    let manifest = env.store.load_settled(snapshot_id)?;
                    match format {
                        Format::Json => print(&format!(
                            "{}\n",
                            serde_json::to_string_pretty(&manifest).expect("manifest serialises")
                        )),
                        Format::Text => {
                            let mut text = snapshot_text(&manifest);
                            if manifest.unfinished() {
                                let progress = journal_progress(&env, &manifest);
                                text.push_str(&format!(
                                    "unfinished: {}; restore the state before it with `dockhard{} rollback {}`\n",
                                    manifest.progress_text(progress),
                                    env.flags,
                                    manifest.id
                                ));
                            }
                            print(&text);
                        }
                    }
                }
            }
            Ok(0)
        }
    }
}

fn load_plan_file(file: &Path, env: &Env) -> Result<Plan> {
    let shown = file.display().to_string();
    let text = std::fs::read(file).map_err(|e| Error::io(&shown, e))?;
    // Parse errors name the line and column; a plan edited by hand since
    // dockhard wrote it (its digest) is refused before anything else.
    let plan = Plan::parse_saved(&text, &shown)?;
    if plan.schema != SCHEMA {
        return Err(Error::msg(format!(
            "{shown}: plan schema {} is not supported (this dockhard reads schema {SCHEMA})",
            plan.schema
        )));
    }
    let planned_root = std::fs::canonicalize(&plan.root).unwrap_or_else(|_| PathBuf::from(&plan.root));
    if planned_root != env.root.path() {
        return Err(Error::msg(format!(
            "{shown}: the plan was made for root {}, not {}",
            plan.root,
            env.root.path().display()
        )));
    }
    let mut plan = plan;
    let mut ids = std::collections::HashSet::new();
    for change in &mut plan.changes {
        let path = change.action.path().to_string();
        if change.target != path {
            return Err(Error::msg(format!(
                "{shown}: change {} shows target {} but would change {path}; refusing the plan",
                change.id, change.target
            )));
        }
        if let crate::plan::Action::FirewallRules { backend, tag, .. } = &change.action {
            // Only dockhard's own tagged rules are ever removed or added.
            let own = env
                .catalog
                .get(&change.rule)
                .is_some_and(|r| r.kind == Kind::Iptables && *tag == format!("dockhard:{}", r.id));
            if !own {
                return Err(Error::msg(format!(
                    "{shown}: change {}: `{tag}` is not the tag of a dockhard firewall rule; refusing the plan",
                    change.id
                )));
            }
            if path != format!("iptables:{backend}")
                || !crate::host::live::firewall::BACKENDS.contains(&backend.as_str())
            {
                return Err(Error::msg(format!(
                    "{shown}: change {}: `{path}` is not a firewall back end (iptables:iptables or iptables:iptables-legacy)",
                    change.id
                )));
            }
        } else if let crate::plan::Action::DockerdReload { restart, .. } = &change.action {
            if path != "dockerd" {
                return Err(Error::msg(format!(
                    "{shown}: change {}: a dockerd reload must have the target `dockerd`, not `{path}`",
                    change.id
                )));
            }
            // A plan file never chooses a command to run: only SIGHUP, the
            // profile's restart_command, or systemd's restart.
            let profile_command = env.policy.rule("daemon-reload").params.strings("restart_command");
            let systemd = ["systemctl", "restart", "docker.service"];
            if !restart.is_empty() && *restart != profile_command && *restart != systemd {
                return Err(Error::msg(format!(
                    "{shown}: change {}: restart command `{}` is neither the profile's restart_command nor systemd's; refusing the plan",
                    change.id,
                    restart.join(" ")
                )));
            }
        } else if !path.starts_with('/') || crate::host::relative(&path).is_err() || path == "/" {
            return Err(Error::msg(format!(
                "{shown}: change {}: `{path}` is not a normalised absolute path",
                change.id
            )));
        }
        if let Some(own) = env
            .own_paths
            .iter()
            .find(|own| path == **own || path.starts_with(&format!("{own}/")))
        {
            return Err(Error::msg(format!(
                "{shown}: change {} would write into dockhard's state dir {own}",
                change.id
            )));
        }
        if !ids.insert(change.id.clone()) {
            return Err(Error::msg(format!(
                "{shown}: change id {} appears twice",
                change.id
            )));
        }
        // Show what will really be done, not the text stored in the file.
        change.diff = apply::describe_action(&env.root, &change.action);
    }
    Ok(plan)
}

fn apply_plan(env: &Env, global: &Global, plan: &Plan, yes: bool, format: Format) -> Result<i32> {
    let blocking = plan.blockers();
    if !blocking.is_empty() {
        if format == Format::Text {
            print(&render::plan_text(plan, &env.catalog, env.style));
        }
        return Err(Error::msg(format!(
            "the plan is incomplete, nothing was applied:\n  {}\nFix the input, or leave the kind out with --only.",
            blocking.join("\n  ")
        )));
    }
    if plan.changes.is_empty() {
        match format {
            Format::Json => print(&apply_json(None, plan)),
            Format::Text => print("Nothing to change: the host matches the profile.\n"),
        }
        return Ok(0);
    }
    if format == Format::Text && !global.quiet {
        print(&render::plan_text(plan, &env.catalog, env.style));
    }
    let question = format!("Apply {} change(s) to {}?", plan.changes.len(), plan.root);
    let flags = repeat_flags(global);
    let hint = format!("Review with `dockhard{flags} plan`, then run `dockhard{flags} apply --yes`");
    if !confirm(&question, yes, &hint)? {
        print("Nothing was changed.\n");
        return Ok(1);
    }
    let applied = apply::execute(
        &env.root,
        &env.root_arg,
        &env.store,
        &plan.changes,
        Operation::Apply,
        env.live,
    )?;
    applied.audit.report(env.style.verbose);
    match format {
        Format::Json => print(&apply_json(Some(&applied), plan)),
        Format::Text => {
            let mut text = format!(
                "Applied {} change(s). Snapshot: {}\nUndo with: dockhard{} rollback {}\n",
                applied.changes.len(),
                applied.snapshot,
                root_flag(env),
                applied.snapshot
            );
            text.push_str(&applied.health.as_ref().map(|h| h.text()).unwrap_or_default());
            if !plan.live_steps_left_out.is_empty() {
                text.push_str("Not done by this run (persistent changes only):\n");
                for step in &plan.live_steps_left_out {
                    text.push_str(&format!("  - {step}\n"));
                }
            }
            print(&text);
        }
    }
    Ok(0)
}

/// The options a suggested `dockhard … rollback ID` needs to find this
/// run's tree and snapshots.
fn root_flag(env: &Env) -> String {
    env.flags.clone()
}

fn apply_json(applied: Option<&apply::Applied>, plan: &Plan) -> String {
    let value = serde_json::json!({
        "schema": SCHEMA,
        "root": plan.root,
        "snapshot": applied.map(|a| a.snapshot.clone()),
        "applied": applied.map(|a| a.changes.clone()).unwrap_or_default(),
        "deferred": plan.live_steps_left_out,
        "findings": plan.findings,
    });
    format!("{}\n", serde_json::to_string_pretty(&value).expect("json"))
}

fn rollback(env: &Env, id: Option<&str>, yes: bool, force: bool) -> Result<i32> {
    // What a rollback stopped after restoring the host left unrecorded.
    env.store.settle_on_disk()?;
    let unfinished = env.store.unfinished()?;
    let manifest = match (id, unfinished.last()) {
        (Some(id), _) => env.store.load(id)?,
        // An interrupted rollback: finishing it or undoing it is the
        // operator's choice (the message gives both commands).
        (None, Some(newest)) if matches!(newest.operation, Operation::Rollback { .. }) => {
            return Err(env
                .store
                .refuse_unfinished(&Operation::Apply, &env.flags)
                .err()
                .unwrap_or_else(|| {
                    Error::msg(format!("snapshot {}: a rollback did not finish", newest.id))
                }));
        }
        // An unfinished run is restored first.
        (None, Some(newest)) => newest.clone(),
        (None, None) => env
            .store
            .list()?
            .into_iter()
            .rev()
            .find(|m| {
                m.operation == Operation::Apply
                    && m.status == SnapshotStatus::Applied
                    && same_root(&m.root, env)
            })
            .ok_or_else(|| Error::msg("no applied snapshot to roll back"))?,
    };
    env.store.refuse_unfinished(
        &Operation::Rollback {
            of: manifest.id.clone(),
        },
        &env.flags,
    )?;
    if !same_root(&manifest.root, env) {
        return Err(Error::msg(format!(
            "snapshot {} was taken of root {}, not {}",
            manifest.id,
            manifest.root,
            env.root.path().display()
        )));
    }
    if manifest.unfinished() {
        let progress = journal_progress(env, &manifest);
        print(&format!(
            "Snapshot {} belongs to a run that did not finish ({}); restoring what it recorded.\n",
            manifest.id,
            manifest.progress_text(progress)
        ));
    }
    match manifest.status {
        SnapshotStatus::RolledBack => {
            return Err(Error::msg(format!(
                "snapshot {} was already rolled back by {}",
                manifest.id,
                manifest
                    .rolled_back_by
                    .as_deref()
                    .unwrap_or("an earlier rollback")
            )));
        }
        SnapshotStatus::Undone => {
            return Err(Error::msg(format!(
                "snapshot {}: its apply failed and was undone; nothing to roll back",
                manifest.id
            )));
        }
        SnapshotStatus::Superseded => {
            return Err(Error::msg(format!(
                "snapshot {}: an interrupted rollback that a later rollback finished; nothing to roll back",
                manifest.id
            )));
        }
        SnapshotStatus::Pending | SnapshotStatus::UndoFailed | SnapshotStatus::Applied => {}
    }
    let interrupted = unfinished
        .iter()
        .rev()
        .find(|m| matches!(&m.operation, Operation::Rollback { of } if *of == manifest.id));
    let (changes, drift) = apply::rollback_changes(&env.root, &env.store, &manifest, interrupted)?;
    if !drift.is_empty() {
        let mut text = String::new();
        for d in &drift {
            let note = if d.kept {
                " (left as it is, even with --force)"
            } else {
                ""
            };
            text.push_str(&format!("  {}: {}, now {}{note}\n", d.path, d.expected, d.found));
            if let Some(diff) = &d.diff {
                for line in diff.lines() {
                    text.push_str(&format!("      {line}\n"));
                }
            }
        }
        if !force {
            let advice = if drift.iter().all(|d| d.kept) {
                "--force would not restore them either: they are not the files dockhard changed.".to_string()
            } else {
                format!(
                    "To restore them anyway: `dockhard{} rollback {} --force`.",
                    env.flags, manifest.id
                )
            };
            return Err(Error::msg(format!(
                "targets changed since snapshot {} was applied; nothing was restored:\n{text}{advice}",
                manifest.id
            )));
        }
        print(&format!(
            "Restoring despite changes since the apply (--force):\n{text}"
        ));
    }
    if changes.is_empty() {
        print(&format!(
            "Nothing to restore: the targets of {} are as they were.\n",
            manifest.id
        ));
        if let Some(interrupted) = interrupted {
            // An interrupted rollback of this snapshot had restored every
            // target: it is recorded as finished.
            let mut finished = interrupted.clone();
            finished.status = SnapshotStatus::Applied;
            env.store.write_manifest(&finished)?;
            let mut original = manifest;
            original.status = SnapshotStatus::RolledBack;
            original.rolled_back_by = Some(finished.id.clone());
            env.store.write_manifest(&original)?;
            print(&format!(
                "The interrupted rollback {} had restored every target; it is recorded as finished.\n",
                finished.id
            ));
        } else if manifest.unfinished() {
            // The run stopped before it changed anything: it is resolved.
            let mut resolved = manifest;
            resolved.status = SnapshotStatus::RolledBack;
            env.store.write_manifest(&resolved)?;
        }
        return Ok(0);
    }
    let mut text = format!(
        "Rollback of snapshot {} ({} target(s)):\n",
        manifest.id,
        changes.len()
    );
    for change in &changes {
        text.push_str(&format!("~ {}\n", change.summary));
        for line in change.diff.lines() {
            text.push_str(&format!("    {line}\n"));
        }
    }
    print(&text);
    let hint = format!("Run `dockhard{} rollback {} --yes`", env.flags, manifest.id);
    if !confirm(&format!("Restore {} target(s)?", changes.len()), yes, &hint)? {
        print("Nothing was changed.\n");
        return Ok(1);
    }
    let applied = apply::execute(
        &env.root,
        &env.root_arg,
        &env.store,
        &changes,
        Operation::Rollback {
            of: manifest.id.clone(),
        },
        env.live,
    )?;
    applied.audit.report(env.style.verbose);
    let mut original = manifest;
    original.status = SnapshotStatus::RolledBack;
    original.rolled_back_by = Some(applied.snapshot.clone());
    env.store.write_manifest(&original)?;
    if let Some(interrupted) = interrupted {
        // The interrupted rollback this one finished.
        let mut done = interrupted.clone();
        done.status = SnapshotStatus::Superseded;
        env.store.write_manifest(&done)?;
    }
    if let Operation::Rollback { of } = &original.operation {
        // Undoing a rollback re-applies what it had rolled back: as far as
        // its run got, when that run did not finish.
        if let Ok(mut earlier) = env.store.load(of) {
            earlier.status = env.store.reapplied_status(&earlier);
            earlier.rolled_back_by = None;
            env.store.write_manifest(&earlier)?;
        }
    }
    print(&format!(
        "Restored {} target(s). This rollback is snapshot {}; undo it with: dockhard{} rollback {}\n",
        applied.changes.len(),
        applied.snapshot,
        root_flag(env),
        applied.snapshot
    ));
    Ok(0)
}

/// How far an unfinished run got, by its journal; a journal that cannot
/// be read is a warning (every change then counts as possibly made), never
/// a reason to leave the run unrestorable.
fn journal_progress(env: &Env, manifest: &crate::snapshot::Manifest) -> Option<crate::snapshot::Progress> {
    env.store
        .progress(&manifest.id, manifest.changes.len())
        .unwrap_or_else(|err| {
            eprintln!(
                "dockhard: warning: {err}; every change of snapshot {} counts as possibly made",
                manifest.id
            );
            None
        })
}

fn same_root(recorded: &str, env: &Env) -> bool {
    std::fs::canonicalize(recorded).is_ok_and(|p| p == env.root.path())
}

fn snapshots_list(store: &Store, format: Format) -> Result<String> {
    let list = store.list()?;
    if format == Format::Json {
        let rows: Vec<serde_json::Value> = list
            .iter()
            .map(|m| {
                serde_json::json!({
                    "id": m.id, "created": m.created, "operation": m.operation,
                    "status": m.status, "changes": m.changes.len(), "rolled_back_by": m.rolled_back_by,
                })
            })
            .collect();
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&rows).expect("json")
        ));
    }
    if list.is_empty() {
        return Ok(format!("No snapshots in {}.\n", store.state_dir().display()));
    }
    let mut out = String::new();
    for m in list {
        let op = match &m.operation {
            Operation::Apply => "apply".to_string(),
            Operation::Rollback { of } => format!("rollback of {of}"),
        };
        out.push_str(&format!(
            "{}  {}  {:<11}  {} change(s)  {op}\n",
            m.id,
            m.created,
            m.status.as_str(),
            m.changes.len()
        ));
    }
    Ok(out)
}

fn snapshot_text(m: &crate::snapshot::Manifest) -> String {
    let mut out = format!(
        "snapshot {}\ncreated {}\nroot {}\nstatus {}\n",
        m.id,
        m.created,
        m.root,
        m.status.as_str()
    );
    if let Some(by) = &m.rolled_back_by {
        out.push_str(&format!("rolled back by {by}\n"));
    }
    out.push_str("changes:\n");
    for c in &m.changes {
        out.push_str(&format!("  {} [{}] {}\n", c.id, c.rule, c.summary));
    }
    out.push_str("targets:\n");
    for t in &m.targets {
        out.push_str(&format!("  {}: before {}\n", t.path, t.prior.describe()));
        if let Some(after) = &t.after {
            out.push_str(&format!(
                "  {}  after {}\n",
                " ".repeat(t.path.len()),
                after.describe()
            ));
        }
    }
    out
}

fn rules_text(catalog: &Catalog, policy: &Policy, format: Format) -> String {
    if format == Format::Json {
        let rows: Vec<serde_json::Value> = policy
            .rules
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.rule.id, "kind": r.rule.kind, "guideline": r.rule.guideline,
                    "severity": r.rule.severity, "enabled": r.enabled, "disruptive": r.rule.disruptive,
                    "title": r.rule.title,
                })
            })
            .collect();
        return format!("{}\n", serde_json::to_string_pretty(&rows).expect("json"));
    }
    let mut out = String::new();
    let width = catalog.rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for r in &policy.rules {
        out.push_str(&format!(
            "{:<width$}  {:<8}  {:<3}  {:<3}  {}\n",
            r.rule.id,
            r.rule.kind.as_str(),
            r.rule.guideline,
            if r.enabled { "on" } else { "off" },
            r.rule.title
        ));
    }
    out
}

pub(crate) fn explain_text(policy: &Policy, id: &str) -> Result<String> {
    let Some(config) = policy.rules.iter().find(|r| r.rule.id == id) else {
        return Err(Error::msg(format!("no rule `{id}` (see `dockhard rules`)")));
    };
    let r = &config.rule;
    let mut out = format!(
        "{}: {}\n\nguideline {}, kind {}, severity {}, {}{}\n\nWhy:\n",
        r.id,
        r.title,
        r.guideline,
        r.kind,
        r.severity.as_str(),
        if config.enabled { "enabled" } else { "disabled" },
        if r.disruptive { ", DISRUPTIVE" } else { "" }
    );
    for line in r.rationale.trim().lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str("\nWhat may break:\n");
    for line in r.may_break.trim().lines() {
        out.push_str(&format!("  {line}\n"));
    }
    if !config.params.table().is_empty() {
        out.push_str("\nParameters (effective):\n");
        for (key, value) in config.params.table() {
            out.push_str(&format!("  {key} = {value}\n"));
        }
    }
    Ok(out)
}
