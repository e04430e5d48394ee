//! # Interactive review (`dockhard fix`)
//!
//! Shows each change of a fresh plan with its rule, guideline item, reason,
//! what it may break, when it takes effect and its diff, and asks what to do:
//! apply, skip, show the full diff, explain the rule, apply all remaining
//! changes of this kind, or quit. Disruptive changes need a typed `yes` as
//! well. Nothing is written while the operator reviews: at the end the
//! accepted set is summarised, confirmed once, and applied by one
//! [`apply::execute`] with one snapshot. Quit, Ctrl-C or a "no" before that
//! point leaves the host untouched. Without a terminal (standard input and
//! standard error) `fix` refuses and points to `plan` and `apply --yes`.
//!
//! ## Chains: skipping one edit of a file
//!
//! Several changes may edit one file; the planner chains them, each one's
//! precondition (`expect`) being the previous one's result. Skipping change
//! *k* of such a chain breaks that chain: the later changes were computed on
//! top of *k* and would be refused as stale (or, worse, re-add *k*'s edit,
//! since their content includes it). So when a change is skipped and later
//! changes of the same target are still to be reviewed, the target is
//! **re-planned** with the rules of the skipped changes turned off:
//!
//! - the re-planned chain must start with exactly the changes already
//!   accepted for that target (same ids, same actions);
//! - each later change is replaced by its re-planned version (same id and
//!   rule; new precondition, content and diff, marked as recomputed), and
//!   the operator reviews that version;
//! - a later change the re-plan no longer contains (e.g. another edit of the
//!   same rule to the same file) is skipped, and the operator is told why.
//!
//! When the re-plan does not fit (an accepted change would differ, a change
//! appears that was never shown, the kind cannot be planned), every later
//! change of that target is skipped with a note: the operator can run
//! `dockhard fix` again after the apply to review them on the new state.
//! The planner is deterministic and reads only, so this is safe; as a last
//! guard, the accepted set is checked with [`apply::stale_targets`] before
//! the confirmation, and [`apply::execute`] checks it again under the lock.
//!
//! Folder-creation changes needed by another change of the plan are not
//! asked about: they are accepted with the first accepted change below them
//! and listed in the summary.

use crate::apply;
use crate::catalog::{Catalog, Policy};
use crate::cli::ColorChoice;
use crate::error::{Error, Result};
use crate::host::HostRoot;
use crate::plan::{Action, Change, Kind, Plan, Status};
use crate::planner::{self, Request};
use crate::render::Style;
use crate::snapshot::{Operation, Store};
use std::collections::{BTreeSet, HashSet};
use std::io::{IsTerminal, Write};

/// How many diff lines are shown before the operator asks for the rest.
const SHORT_DIFF_LINES: usize = 24;

/// Everything the review needs from the command line.
pub struct Session<'a> {
    pub root: &'a HostRoot,
    /// The root as given on the command line.
    pub root_arg: &'a str,
    /// Live steps are planned and made (the machine's own root, not `--offline`).
    pub live: bool,
    /// Plan a dockerd restart where daemon.json changes need one.
    pub restart_docker: bool,
    pub catalog: &'a Catalog,
    pub policy: &'a Policy,
    pub store: &'a Store,
    pub own_paths: &'a [String],
    pub style: Style,
}

/// `fix` talks to a person: it needs a terminal on standard input (answers)
/// and standard error (the review). Checked before anything is planned.
/// `flags` are the run's global options, repeated in the suggested commands.
pub fn require_terminal(flags: &str) -> Result<()> {
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        return Ok(());
    }
    Err(Error::msg(format!(
        "`dockhard fix` is interactive and needs a terminal (standard input and standard error); nothing was changed.\n\
         Without one: review with `dockhard{flags} plan` (or `dockhard{flags} plan --out plan.json`), then apply with `dockhard{flags} apply --yes` (or `dockhard{flags} apply --yes plan.json`)."
    )))
}

/// Colour for the review, which is written to standard error.
pub fn style(choice: ColorChoice, verbose: bool) -> Style {
    let color = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none()
                && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(false)
        }
    };
    Style { color, verbose }
}

/// What the operator decided about one reviewed change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Pending,
    Accepted,
    Skipped,
    /// Skipped because a change it was chained to was skipped.
    AutoSkipped,
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub change: Change,
    pub decision: Decision,
    /// The change was re-planned after an earlier edit of its target was skipped.
    pub recomputed: bool,
    /// Why it was skipped without asking.
    pub note: Option<String>,
}

/// The state of a review: the changes asked about, the folders that come
/// with them, and the rules skipped per target (for re-planning chains).
#[derive(Debug, Clone)]
pub(crate) struct Review {
    pub items: Vec<Item>,
    /// Folder creations needed by other changes of the plan, in plan order.
    pub folders: Vec<Change>,
    /// Rules of skipped changes that other changes depended on: turned off
    /// when re-planning.
    skipped_rules: BTreeSet<String>,
}

/// Re-plans the given kinds with the given rules turned off; `None` when
/// the kinds cannot be planned.
pub(crate) type Replan<'a> = dyn FnMut(&BTreeSet<String>, &[Kind]) -> Option<Vec<Change>> + 'a;

fn is_folder(change: &Change) -> bool {
    matches!(change.action, Action::CreateDir { .. })
}

fn below(path: &str, dir: &str) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
}

impl Review {
    pub fn new(changes: Vec<Change>) -> Review {
        let needed: Vec<String> = changes
            .iter()
            .filter(|c| !is_folder(c))
            .map(|c| c.action.path().to_string())
            .collect();
        let mut folders = Vec::new();
        let mut items = Vec::new();
        for change in changes {
            if is_folder(&change) && needed.iter().any(|p| below(p, change.action.path())) {
                folders.push(change);
            } else {
                items.push(Item {
                    change,
                    decision: Decision::Pending,
                    recomputed: false,
                    note: None,
                });
            }
        }
        Review {
            items,
            folders,
            skipped_rules: BTreeSet::new(),
        }
    }

    pub fn accept(&mut self, index: usize) {
        self.items[index].decision = Decision::Accepted;
    }

    /// Skips item `index`. Its dependents still to be reviewed (later
    /// changes of its target, and the live steps of its kind that follow a
    /// file change, e.g. the dockerd reload after daemon.json edits) are
    /// re-planned or skipped (see the module notes). Returns what to tell
    /// the operator.
    pub fn skip(&mut self, index: usize, replan: &mut Replan<'_>) -> Vec<String> {
        self.items[index].decision = Decision::Skipped;
        let skipped = self.items[index].change.clone();
        let depends = |item: &Item| {
            !is_folder(&item.change)
                && (item.change.action.path() == skipped.action.path()
                    || (item.change.action.is_live()
                        && !skipped.action.is_live()
                        && item.change.kind == skipped.kind))
        };
        let dependents: Vec<usize> = (index + 1..self.items.len())
            .filter(|&j| self.items[j].decision == Decision::Pending && depends(&self.items[j]))
            .collect();
        if dependents.is_empty() {
            return Vec::new();
        }
        self.skipped_rules.insert(skipped.rule.clone());
        let mut paths: Vec<String> = Vec::new();
        let mut kinds: Vec<Kind> = vec![skipped.kind];
        for &j in &dependents {
            let change = &self.items[j].change;
            if !paths.iter().any(|p| p == change.action.path()) {
                paths.push(change.action.path().to_string());
            }
            if !kinds.contains(&change.kind) {
                kinds.push(change.kind);
            }
        }
        let replanned = replan(&self.skipped_rules, &kinds);
        let mut notes = Vec::new();
        for path in paths {
            let later: Vec<usize> = dependents
                .iter()
                .copied()
                .filter(|&j| self.items[j].change.action.path() == path)
                .collect();
            let fitted = replanned
                .as_ref()
                .and_then(|changes| self.fit(&path, &later, changes));
            match fitted {
                Some(fitted) => {
                    let mut recomputed = 0;
                    for (pos, &j) in later.iter().enumerate() {
                        match fitted.iter().find(|(at, _)| *at == pos) {
                            Some((_, change)) => {
                                if self.items[j].change != *change {
                                    self.items[j].change = change.clone();
                                    self.items[j].recomputed = true;
                                    recomputed += 1;
                                }
                            }
                            None => notes.push(self.auto_skip(
                                j,
                                &format!(
                                    "skipped too: it depended on the skipped change ({}), and the plan without that change no longer contains it; run `dockhard fix` again after this apply to review it",
                                    skipped.summary
                                ),
                            )),
                        }
                    }
                    if recomputed > 0 {
                        notes.push(format!(
                            "{recomputed} later change(s) of {path} were re-planned without the skipped change; they are shown as they will now apply"
                        ));
                    }
                }
                None => {
                    for &j in &later {
                        notes.push(self.auto_skip(
                            j,
                            &format!(
                                "skipped too: it depended on the skipped change ({}) and could not be re-planned without it; run `dockhard fix` again after this apply to review it",
                                skipped.summary
                            ),
                        ));
                    }
                }
            }
        }
        notes
    }

    fn auto_skip(&mut self, index: usize, note: &str) -> String {
        self.items[index].decision = Decision::AutoSkipped;
        self.items[index].note = Some(note.to_string());
        format!("{}: {note}", self.items[index].change.summary)
    }

    /// Fits the re-planned changes of `path` to the review: the re-planned
    /// chain must start with exactly the accepted changes of `path`; each
    /// change after them must be one of `later` (same id and rule), in
    /// order. Returns (position in `later`, new change) pairs.
    fn fit(&self, path: &str, later: &[usize], changes: &[Change]) -> Option<Vec<(usize, Change)>> {
        let chain: Vec<&Change> = changes
            .iter()
            .filter(|c| c.action.path() == path && !is_folder(c))
            .collect();
        // Ids made unique with a `#n` suffix may shift when a change
        // disappears: never match on them.
        let numbered = |c: &Change| c.id.contains('#');
        if chain.iter().any(|c| numbered(c)) || later.iter().any(|&j| numbered(&self.items[j].change)) {
            return None;
        }
        let accepted: Vec<&Change> = self
            .items
            .iter()
            .filter(|i| {
                i.decision == Decision::Accepted && i.change.action.path() == path && !is_folder(&i.change)
            })
            .map(|i| &i.change)
            .collect();
        if chain.len() < accepted.len()
            || chain
                .iter()
                .zip(&accepted)
                .any(|(new, old)| new.id != old.id || new.action != old.action)
        {
            return None;
        }
        let mut fitted = Vec::new();
        let mut last: Option<usize> = None;
        for change in chain.into_iter().skip(accepted.len()) {
            let at = later.iter().position(|&j| {
                self.items[j].change.id == change.id && self.items[j].change.rule == change.rule
            })?;
            if last.is_some_and(|l| at <= l) {
                return None;
            }
            last = Some(at);
            fitted.push((at, change.clone()));
        }
        Some(fitted)
    }

    /// The folders the accepted changes need, in plan order.
    pub fn needed_folders(&self) -> Vec<&Change> {
        let accepted: Vec<&str> = self
            .items
            .iter()
            .filter(|i| i.decision == Decision::Accepted)
            .map(|i| i.change.action.path())
            .collect();
        self.folders
            .iter()
            .filter(|f| accepted.iter().any(|p| below(p, f.action.path())))
            .collect()
    }

    /// The changes to apply, in plan order: folders first, as the planner
    /// ordered them.
    pub fn accepted(&self) -> Vec<Change> {
        let mut out: Vec<Change> = self.needed_folders().into_iter().cloned().collect();
        out.extend(
            self.items
                .iter()
                .filter(|i| i.decision == Decision::Accepted)
                .map(|i| i.change.clone()),
        );
        out
    }
}

fn paint(style: Style, code: &str, text: &str) -> String {
    if style.color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn diff_lines(diff: &str, style: Style, limit: Option<usize>) -> String {
    let lines: Vec<&str> = diff.lines().collect();
    let shown = limit.unwrap_or(lines.len()).min(lines.len());
    let mut out = String::new();
    for line in &lines[..shown] {
        let line = line.trim_end_matches('\r');
        let painted = if line.starts_with("+++") || line.starts_with("---") {
            paint(style, "1", line)
        } else if line.starts_with('+') {
            paint(style, "32", line)
        } else if line.starts_with('-') {
            paint(style, "31", line)
        } else if line.starts_with("@@") {
            paint(style, "36", line)
        } else {
            line.to_string()
        };
        out.push_str(&format!("    {painted}\n"));
    }
    if shown < lines.len() {
        out.push_str(&format!(
            "    ... {} more line(s): answer d for the full diff\n",
            lines.len() - shown
        ));
    }
    out
}

/// The first sentence of a rule's rationale, on one line.
fn short_reason(rationale: &str) -> String {
    let text = rationale.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.find(". ") {
        Some(end) => text[..=end].to_string(),
        None => text,
    }
}

fn change_text(item: &Item, number: usize, total: usize, catalog: &Catalog, style: Style) -> String {
    let change = &item.change;
    let rule = catalog.get(&change.rule);
    let guideline = rule.map(|r| r.guideline.as_str()).unwrap_or("?");
    let mut out = String::new();
    out.push_str(&paint(
        style,
        "1",
        &format!(
            "-- ({number}/{total}) {}, rule {}, guideline {guideline} --",
            change.kind, change.rule
        ),
    ));
    out.push('\n');
    if let Some(rule) = rule {
        out.push_str(&format!("{}\n", rule.title));
        out.push_str(&format!("Why: {}\n", short_reason(&rule.rationale)));
    }
    if change.disruptive {
        out.push_str(&paint(
            style,
            "1;31",
            "DISRUPTIVE: this change needs a second, typed yes",
        ));
        out.push('\n');
    }
    out.push_str(&format!("Change: {}\n", change.summary));
    out.push_str(&format!(
        "Target: {}; takes effect {}\n",
        change.target,
        change.takes_effect.describe()
    ));
    let may_break = change
        .may_break
        .clone()
        .or_else(|| rule.map(|r| r.may_break.clone()))
        .unwrap_or_default();
    let may_break = may_break.split_whitespace().collect::<Vec<_>>().join(" ");
    if !may_break.is_empty() {
        out.push_str(&format!("May break: {may_break}\n"));
    }
    if item.recomputed {
        out.push_str("(re-planned without the change to this file you skipped)\n");
    }
    out.push_str(&diff_lines(&change.diff, style, Some(SHORT_DIFF_LINES)));
    out
}

const HELP: &str = "  y  apply this change\n  n  skip it\n  d  show the full diff\n  e  explain the rule (why, what may break, parameters)\n  a  apply this and all remaining changes of this kind (disruptive ones are still asked)\n  q  quit: nothing is changed\n";

fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

fn terminal_error(err: dialoguer::Error) -> Error {
    Error::msg(format!(
        "reading the answer from the terminal: {err}; nothing was changed"
    ))
}

fn ask(prompt: &str) -> Result<String> {
    dialoguer::Input::<String>::new()
        .with_prompt(prompt)
        .allow_empty(true)
        .interact_text()
        .map(|s| s.trim().to_string())
        .map_err(terminal_error)
}

/// The disruptive change's second, typed yes.
fn second_yes(change: &Change) -> Result<bool> {
    say(&format!(
        "This change is DISRUPTIVE: {}\n",
        change
            .may_break
            .as_deref()
            .unwrap_or("see `e` for what it may break")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let answer = ask("Type yes to apply it anyway (anything else skips it)")?;
    Ok(answer.eq_ignore_ascii_case("yes"))
}

/// Runs the review of `plan` (made for `kinds`) and applies what was
/// accepted. Returns the exit code: 0 applied (or nothing to do / nothing
/// accepted), 1 quit or declined.
pub fn fix(session: &Session<'_>, plan: Plan) -> Result<i32> {
    let blocking = plan.blockers();
    if !blocking.is_empty() {
        return Err(Error::msg(format!(
            "the plan is incomplete, nothing can be applied:\n  {}\nFix the input, or leave the kind out with --only.",
            blocking.join("\n  ")
        )));
    }
    let style = session.style;
    if plan.changes.is_empty() {
        say("Nothing to change: the host matches the profile.\n");
        return Ok(0);
    }
    let mut review = Review::new(plan.changes.clone());
    let total = review.items.len();
    let advisories = plan
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Advisory | Status::Error))
        .count();
    say(&format!(
        "dockhard fix for {} ({}): {total} change(s) to review{}.\nNothing is changed until you confirm the accepted set at the end; q or Ctrl-C quits without changes.\n{}\n",
        plan.root,
        if plan.offline { "offline" } else { "live host" },
        if advisories > 0 {
            format!("; {advisories} finding(s) that need a person are listed by `dockhard plan`")
        } else {
            String::new()
        },
        paint(
            style,
            "2",
            "Answers: y apply, n skip, d full diff, e explain, a all remaining of this kind, q quit, ? help"
        )
    ));
    let mut replan = |disabled: &BTreeSet<String>, kinds: &[Kind]| -> Option<Vec<Change>> {
        let mut policy = session.policy.clone();
        for rule in &mut policy.rules {
            if disabled.contains(&rule.rule.id) {
                rule.enabled = false;
            }
        }
        let plan = planner::make_plan(&Request {
            restart_docker: session.restart_docker,
            root: session.root,
            root_arg: session.root_arg.to_string(),
            offline: !session.live,
            policy: &policy,
            kinds: kinds.to_vec(),
            own_paths: session.own_paths.to_vec(),
        });
        if plan.has_errors() {
            return None;
        }
        Some(plan.changes)
    };
    let mut all_of_kind: HashSet<Kind> = HashSet::new();
    for index in 0..total {
        if review.items[index].decision != Decision::Pending {
            continue;
        }
        let item = &review.items[index];
        say(&format!(
            "\n{}",
            change_text(item, index + 1, total, session.catalog, style)
        ));
        let kind = item.change.kind;
        let disruptive = item.change.disruptive;
        if all_of_kind.contains(&kind) && !disruptive {
            review.accept(index);
            say(&format!("Accepted (all remaining {kind} changes).\n"));
            continue;
        }
        let prompt = format!("({}/{total}) Apply this change? [y,n,d,e,a,q,?]", index + 1);
        loop {
            let answer = ask(&prompt)?;
            match answer.as_str() {
                "y" | "yes" | "a" => {
                    if answer == "a" {
                        all_of_kind.insert(kind);
                        say(&format!(
                            "All remaining {kind} changes will be applied (disruptive ones are still asked).\n"
                        ));
                    }
                    if disruptive && !second_yes(&review.items[index].change)? {
                        say("Skipped (no typed yes).\n");
                        for note in review.skip(index, &mut replan) {
                            say(&format!("  note: {note}\n"));
                        }
                    } else {
                        review.accept(index);
                        say("Accepted.\n");
                    }
                    break;
                }
                "n" | "no" | "s" => {
                    say("Skipped.\n");
                    for note in review.skip(index, &mut replan) {
                        say(&format!("  note: {note}\n"));
                    }
                    break;
                }
                "d" => say(&diff_lines(&review.items[index].change.diff, style, None)),
                "e" => {
                    let rule = review.items[index].change.rule.clone();
                    match crate::cli::explain_text(session.policy, &rule) {
                        Ok(text) => say(&format!("\n{text}\n")),
                        Err(err) => say(&format!("{err}\n")),
                    }
                }
                "q" | "quit" => {
                    say("Quit: nothing was changed.\n");
                    return Ok(1);
                }
                _ => say(HELP),
            }
        }
    }

    let accepted = review.accepted();
    let mut summary = String::from("\n");
    summary.push_str(&paint(style, "1", "== Summary"));
    summary.push('\n');
    let accepted_items = review
        .items
        .iter()
        .filter(|i| i.decision == Decision::Accepted)
        .count();
    summary.push_str(&format!("Accepted {accepted_items} change(s):\n"));
    for item in review.items.iter().filter(|i| i.decision == Decision::Accepted) {
        let marker = if item.change.disruptive {
            " (DISRUPTIVE)"
        } else {
            ""
        };
        summary.push_str(&format!(
            "  + [{}] {}{marker}\n",
            item.change.rule, item.change.summary
        ));
    }
    for folder in review.needed_folders() {
        summary.push_str(&format!("  + {} (needed by the changes above)\n", folder.summary));
    }
    let skipped: Vec<&Item> = review
        .items
        .iter()
        .filter(|i| matches!(i.decision, Decision::Skipped | Decision::AutoSkipped))
        .collect();
    if !skipped.is_empty() {
        summary.push_str(&format!("Skipped {} change(s):\n", skipped.len()));
        for item in skipped {
            let why = if item.decision == Decision::AutoSkipped {
                " (skipped with an earlier change to the same file)"
            } else {
                ""
            };
            summary.push_str(&format!(
                "  - [{}] {}{why}\n",
                item.change.rule, item.change.summary
            ));
        }
    }
    say(&summary);
    if accepted.is_empty() {
        say("No change accepted: nothing was changed.\n");
        return Ok(0);
    }
    let stale = apply::stale_targets(session.root, &accepted);
    if !stale.is_empty() {
        return Err(Error::msg(format!(
            "the host changed during the review; nothing was applied. Changed targets:\n  {}\nRun `dockhard fix` again.",
            stale.join("\n  ")
        )));
    }
    let question = format!("Apply {} change(s) to {}?", accepted.len(), plan.root);
    let yes = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .map_err(terminal_error)?;
    if !yes {
        say("Nothing was changed.\n");
        return Ok(1);
    }
    // Past the confirmation, Ctrl-C must not cut the apply short: the
    // executor's own undo only runs when it gets to finish.
    let previous = ignore_interrupts();
    let applied = apply::execute(
        session.root,
        session.root_arg,
        session.store,
        &accepted,
        Operation::Apply,
        session.live,
    );
    restore_interrupts(previous);
    let applied = applied?;
    applied.audit.report(session.style.verbose);
    let root_flag = session.store.flags();
    let mut text = format!(
        "Applied {} change(s). Snapshot: {}\nUndo with: dockhard{root_flag} rollback {}\n",
        applied.changes.len(),
        applied.snapshot,
        applied.snapshot
    );
    if !plan.live_steps_left_out.is_empty() {
        text.push_str("Not done by this run (persistent changes only):\n");
        for step in &plan.live_steps_left_out {
            text.push_str(&format!("  - {step}\n"));
        }
    }
    let mut out = std::io::stdout().lock();
    if let Err(err) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // The changes are applied; make sure the snapshot id is not lost.
        say(&format!("dockhard: writing to standard output: {err}\n{text}"));
    }
    Ok(0)
}

fn ignore_interrupts() -> Option<nix::sys::signal::SigHandler> {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: installs the predefined SIG_IGN disposition; no handler code runs.
    unsafe { signal(Signal::SIGINT, SigHandler::SigIgn) }.ok()
}

fn restore_interrupts(previous: Option<nix::sys::signal::SigHandler>) {
    use nix::sys::signal::{Signal, signal};
    if let Some(handler) = previous {
        // SAFETY: puts back the disposition that was there before.
        let _ = unsafe { signal(Signal::SIGINT, handler) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Bytes, Effect, FileState};

    fn write(id: &str, rule: &str, path: &str, before: &str, after: &str) -> Change {
        Change {
            id: id.to_string(),
            rule: rule.to_string(),
            kind: Kind::Daemon,
            target: path.to_string(),
            summary: format!("{id}: {before:?} -> {after:?}"),
            diff: format!("-{before}\n+{after}\n"),
            live: false,
            disruptive: false,
            takes_effect: Effect::Now,
            may_break: None,
            action: Action::WriteFile {
                path: path.to_string(),
                expect: FileState::of_file(before.as_bytes(), 0o644, 0, 0),
                content: Bytes(after.as_bytes().to_vec()),
                mode: 0o644,
                uid: 0,
                gid: 0,
            },
        }
    }

    fn folder(path: &str) -> Change {
        Change {
            id: format!("x:{path}"),
            rule: "r-x".to_string(),
            kind: Kind::Iptables,
            target: path.to_string(),
            summary: format!("create directory {path}"),
            diff: String::new(),
            live: false,
            disruptive: false,
            takes_effect: Effect::Now,
            may_break: None,
            action: Action::CreateDir {
                path: path.to_string(),
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
        }
    }

    /// A "planner" for one file: each enabled rule appends its letter.
    fn letters(rules: &[&str], disabled: &BTreeSet<String>) -> Vec<Change> {
        let mut text = String::from("{");
        let mut out = Vec::new();
        for rule in rules {
            if disabled.contains(*rule) {
                continue;
            }
            let before = text.clone();
            text.push_str(rule);
            out.push(write(&format!("d:{rule}"), rule, "/etc/f", &before, &text));
        }
        out
    }

    fn decisions(review: &Review) -> Vec<Decision> {
        review.items.iter().map(|i| i.decision).collect()
    }

    #[test]
    fn skipping_a_link_of_a_chain_re_plans_the_rest_of_it() {
        let rules = ["a", "b", "c", "d"];
        let mut review = Review::new(letters(&rules, &BTreeSet::new()));
        let mut calls = 0;
        let mut replan = |disabled: &BTreeSet<String>, _: &[Kind]| {
            calls += 1;
            Some(letters(&rules, disabled))
        };
        review.accept(0);
        let notes = review.skip(1, &mut replan);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(review.items[2].recomputed && review.items[3].recomputed);
        review.accept(2);
        review.skip(3, &mut replan);
        let accepted = review.accepted();
        assert_eq!(accepted.len(), 2);
        // The accepted chain fits: a then c, without b.
        let Action::WriteFile { expect, content, .. } = &accepted[1].action else {
            panic!()
        };
        assert_eq!(*expect, FileState::of_file(b"{a", 0o644, 0, 0));
        assert_eq!(content.0, b"{ac");
        assert_eq!(calls, 1, "the last link needs no re-plan");
    }

    #[test]
    fn a_change_missing_from_the_re_plan_is_skipped_with_a_note() {
        // Rule "m" makes two edits; skipping the first drops the second.
        let mut changes = letters(&["m"], &BTreeSet::new());
        let mut second = write("d:m:2", "m", "/etc/f", "{m", "{mm");
        second.summary = "second m".to_string();
        changes.push(second);
        changes.push(write("d:z", "z", "/etc/f", "{mm", "{mmz"));
        let mut review = Review::new(changes);
        let mut replan =
            |_: &BTreeSet<String>, _: &[Kind]| Some(vec![write("d:z", "z", "/etc/f", "{", "{z")]);
        let notes = review.skip(0, &mut replan);
        assert_eq!(
            decisions(&review),
            [Decision::Skipped, Decision::AutoSkipped, Decision::Pending]
        );
        assert!(notes.iter().any(|n| n.starts_with("second m")), "{notes:?}");
        assert!(review.items[1].note.is_some());
        assert!(review.items[2].recomputed);
    }

    #[test]
    fn when_the_re_plan_does_not_fit_the_rest_of_the_chain_is_skipped() {
        let rules = ["a", "b", "c"];
        for replanned in [None, Some(vec![write("d:a", "a", "/etc/f", "{", "{A")])] {
            let mut review = Review::new(letters(&rules, &BTreeSet::new()));
            review.accept(0);
            let mut replan = |_: &BTreeSet<String>, _: &[Kind]| replanned.clone();
            let notes = review.skip(1, &mut replan);
            assert_eq!(
                decisions(&review),
                [Decision::Accepted, Decision::Skipped, Decision::AutoSkipped]
            );
            assert_eq!(notes.len(), 1);
            assert_eq!(review.accepted().len(), 1);
        }
    }

    fn reload(verify: &[&str]) -> Change {
        Change {
            id: "daemon:dockerd:daemon-reload".to_string(),
            rule: "daemon-reload".to_string(),
            kind: Kind::Daemon,
            target: "dockerd".to_string(),
            summary: format!("reload dockerd ({})", verify.join(",")),
            diff: String::new(),
            live: true,
            disruptive: false,
            takes_effect: Effect::Now,
            may_break: None,
            action: Action::DockerdReload {
                path: "dockerd".to_string(),
                restart: Vec::new(),
                verify: verify
                    .iter()
                    .map(|k| (k.to_string(), serde_json::Value::Bool(true)))
                    .collect(),
            },
        }
    }

    #[test]
    fn a_live_step_of_the_kind_is_re_planned_after_a_file_change_is_skipped() {
        let plan = |d: &BTreeSet<String>| {
            let mut changes = letters(&["a", "b"], d);
            let keys: Vec<&str> = ["a", "b"].into_iter().filter(|r| !d.contains(*r)).collect();
            changes.push(reload(&keys));
            changes
        };
        let mut review = Review::new(plan(&BTreeSet::new()));
        let mut replan = |d: &BTreeSet<String>, _: &[Kind]| Some(plan(d));
        review.accept(0);
        review.skip(1, &mut replan);
        assert_eq!(review.items[2].change, reload(&["a"]));
        assert!(review.items[2].recomputed);
        // Skipping the live step itself touches nothing else.
        let mut review = Review::new(plan(&BTreeSet::new()));
        let mut never = |_: &BTreeSet<String>, _: &[Kind]| -> Option<Vec<Change>> { panic!("no re-plan") };
        review.accept(0);
        review.accept(1);
        assert!(review.skip(2, &mut never).is_empty());
    }

    #[test]
    fn other_targets_are_left_alone() {
        let mut changes = letters(&["a", "b"], &BTreeSet::new());
        changes.push(write("o:x", "a", "/etc/other", "", "x"));
        let mut review = Review::new(changes);
        let mut replan = |d: &BTreeSet<String>, _: &[Kind]| Some(letters(&["a", "b"], d));
        review.skip(0, &mut replan);
        assert_eq!(
            decisions(&review),
            [Decision::Skipped, Decision::Pending, Decision::Pending]
        );
        assert!(!review.items[2].recomputed);
    }

    #[test]
    fn folders_come_with_the_changes_that_need_them() {
        let changes = vec![
            folder("/etc/a"),
            folder("/etc/a/b"),
            folder("/etc/lonely"),
            write("x:1", "r", "/etc/a/b/file", "", "1"),
            write("x:2", "r", "/etc/ab", "", "2"),
        ];
        let mut review = Review::new(changes);
        assert_eq!(review.folders.len(), 2);
        // A folder nothing else needs is asked about like any change.
        assert_eq!(review.items.len(), 3);
        review.accept(2);
        assert!(review.accepted().iter().all(|c| !is_folder(c)));
        review.accept(1);
        let paths: Vec<String> = review
            .accepted()
            .iter()
            .map(|c| c.action.path().to_string())
            .collect();
        assert_eq!(paths, ["/etc/a", "/etc/a/b", "/etc/a/b/file", "/etc/ab"]);
    }

    #[test]
    fn short_reason_is_the_first_sentence() {
        assert_eq!(short_reason("One two.\nThree. Four"), "One two.");
        assert_eq!(short_reason("No stop"), "No stop");
    }
}
