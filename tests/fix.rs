//! `dockhard fix` on a real pseudo-terminal: tmux runs the binary in a
//! detached session on a private socket, the test reads the screen with
//! `capture-pane` and types with `send-keys`. tmux is required (CI installs
//! it); without it these tests fail, they are never skipped.
//!
//! Every wait polls the screen and gives up after [`WAIT`] with the screen
//! in the message, so a hung prompt fails the test instead of hanging it.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const STATE: &str = "var/lib/dockhard";
const WAIT: Duration = Duration::from_secs(30);
const CHANGE_PROMPT: &str = "Apply this change? [y,n,d,e,a,q,?]";
const SECOND_YES: &str = "Type yes to apply it anyway";
const FINAL: &str = "? [y/N]";

/// A tmux server of its own, with one session running one command.
struct Term {
    dir: tempfile::TempDir,
}

impl Term {
    /// Runs `command` (a shell command line) in a 200x50 terminal. The
    /// shell around it writes the exit status to a file (tmux does not always
    /// record the status of a command that ends at once); its INT handler
    /// (reset to the default in the command) lets it outlive a Ctrl-C.
    fn start(command: &str) -> Term {
        let dir = tempfile::tempdir().unwrap();
        let status = dir.path().join("status");
        let command = format!(
            "trap : INT; {command}; echo $? > {}.tmp && mv {0}.tmp {0}",
            quote(status.to_str().unwrap())
        );
        let command = command.as_str();
        std::fs::write(
            dir.path().join("tmux.conf"),
            "set -g remain-on-exit on\nset -g history-limit 100000\nset -g default-terminal screen\n",
        )
        .unwrap();
        let term = Term { dir };
        term.tmux(&[
            "-f",
            term.dir.path().join("tmux.conf").to_str().unwrap(),
            "new-session",
            "-d",
            "-s",
            "fix",
            "-x",
            "200",
            "-y",
            "50",
            command,
        ]);
        term
    }

    /// `dockhard ARGS` with colour allowed (NO_COLOR removed).
    fn dockhard(args: &[&str]) -> Term {
        Term::start(&dockhard_line(args))
    }

    fn tmux(&self, args: &[&str]) -> String {
        let socket = self.dir.path().join("socket");
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap_or_else(|e| {
                panic!("tmux is required for the `dockhard fix` tests (apt-get install tmux): {e}")
            });
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Everything the terminal showed, wrapped lines joined.
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "fix"])
    }

    /// The screen with its colours, as escape sequences.
    fn screen_with_colours(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-J", "-S", "-", "-t", "fix"])
    }

    fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            if start.elapsed() > WAIT {
                panic!("timed out waiting for {what}; the terminal shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `text` has been shown at least `count` times.
    fn wait_for(&self, text: &str, count: usize) -> String {
        self.wait_until(&format!("{count} x {text:?}"), |s| {
            s.matches(text).count() >= count
        })
    }

    /// Types `text` and Enter.
    fn answer(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "fix", "-l", text]);
        self.tmux(&["send-keys", "-t", "fix", "Enter"]);
    }

    /// Presses keys without Enter (`C-c`, or a single-key answer with `-l`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "fix"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Waits for the command to end: `Some(code)`, or `None` when a signal
    /// ended it.
    fn wait_exit(&self) -> Option<i32> {
        let start = Instant::now();
        let file = self.dir.path().join("status");
        loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                let code: i32 = text.trim().parse().expect("an exit status");
                // The shell reports a command ended by signal N as 128 + N.
                return (code < 128).then_some(code);
            }
            if start.elapsed() > WAIT {
                panic!("dockhard did not exit; the terminal shows:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(self.dir.path().join("socket"))
            .arg("kill-server")
            .output();
    }
}

fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn dockhard_line(args: &[&str]) -> String {
    // No audit record in the machine's system log from a test.
    let mut line = format!(
        "env -u NO_COLOR DOCKHARD_SYSLOG_SOCKET= {}",
        quote(env!("CARGO_BIN_EXE_dockhard"))
    );
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    line
}

fn root_args(root: &Path) -> Vec<&str> {
    vec!["--root", root.to_str().unwrap(), "fix"]
}

/// The change the prompt at the end of `screen` asks about: the last
/// `-- (k/N) KIND, rule RULE, ...` block. Returns (k, rule, block text).
fn current_change(screen: &str) -> (usize, String, String) {
    let start = screen.rfind("\n-- (").expect("a change header") + 1;
    let block = &screen[start..];
    let header = block.lines().next().unwrap();
    let number: usize = header[4..header.find('/').unwrap()].parse().unwrap();
    let rule = header
        .split(", rule ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap()
        .to_string();
    (number, rule, block.to_string())
}

fn line_starting<'a>(block: &'a str, prefix: &str) -> &'a str {
    block
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{block}"))
}

fn snapshot_count(root: &Path) -> usize {
    let run = on(root, &["snapshots", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let list: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    list.as_array().unwrap().len()
}

/// The scenario of the issue, on the basic fixture: accept the first change,
/// skip the second, explain a rule, accept the rest of that kind; along the
/// way skip links of two chained files (fstab: the rest of that rule's edits
/// go with it; daemon.json: the rest is re-planned without it), refuse a
/// disruptive change at its second question, take all iptables changes (and
/// the folders they need), look at a full diff. The tree must then be what
/// `apply` makes of a plan holding exactly those choices, with one snapshot.
#[test]
fn review_applies_exactly_the_accepted_changes_with_one_snapshot() {
    let dir = basic_root();
    let root = dir.path();
    let term = Term::dockhard(&root_args(root));
    let mut answered = 0;
    let mut asked: Vec<(usize, String, String)> = Vec::new();
    let mut explained = false;
    let mut diffed = false;
    let mut colour_checked = false;
    loop {
        let screen = term.wait_until("the next question", |s| {
            let questions =
                s.matches(CHANGE_PROMPT).count() + s.matches(SECOND_YES).count() + s.matches(FINAL).count();
            questions > answered
        });
        answered += 1;
        let last = screen.trim_end().lines().last().unwrap_or("").to_string();
        if last.contains(SECOND_YES) {
            // Only the userns-remap change is disruptive here; a plain `y`
            // is not the typed yes it needs.
            let (_, rule, _) = current_change(&screen);
            assert_eq!(rule, "daemon-userns-remap", "{screen}");
            term.answer("y");
            continue;
        }
        if last.contains(FINAL) {
            assert!(
                last.starts_with("Apply 14 change(s) to "),
                "10 accepted changes and the 4 folders they need: {last}\n{screen}"
            );
            term.keys(&["-l", "y"]);
            break;
        }
        assert!(
            last.contains(CHANGE_PROMPT),
            "unexpected question {last:?}:\n{screen}"
        );
        let (number, rule, block) = current_change(&screen);
        let change = line_starting(&block, "Change: ").to_string();
        let target = line_starting(&block, "Target: ").to_string();
        if !colour_checked {
            // The diff is coloured on a colour terminal: removed lines red.
            let coloured = term.screen_with_colours();
            assert!(
                coloured.contains("\x1b[31m-rwsr-xr-x (04755)"),
                "no colour in:\n{coloured:?}"
            );
            colour_checked = true;
        }
        asked.push((number, rule.clone(), change.clone()));
        let reply = match (rule.as_str(), change.as_str()) {
            (_, c) if c.contains("/usr/bin/chfn") => "y",
            (_, c) if c.contains("/usr/bin/expiry") => "n",
            (_, c) if c.contains("/usr/sbin/pppd") && !explained => {
                explained = true;
                "e"
            }
            (_, c) if c.contains("/usr/sbin/pppd") => {
                let after = &screen[screen.rfind("-- (").unwrap()..];
                assert!(after.contains("Why:") && after.contains("What may break:"));
                assert!(after.contains("Parameters (effective):"), "{after}");
                "a"
            }
            ("mount-nosuid", c) if c.contains("/tmp line") => "n",
            ("daemon-icc", _) => "n",
            ("daemon-no-new-privileges", _) => {
                // Re-planned on the file without icc's edit.
                assert!(block.contains("re-planned without the change"), "{block}");
                assert!(
                    block.contains("-  \"icc\": true\n") || block.contains("\"icc\": true,"),
                    "{block}"
                );
                "y"
            }
            ("daemon-live-restore" | "daemon-userland-proxy" | "daemon-insecure-registries", _) => "y",
            ("daemon-userns-remap", _) => {
                assert!(block.contains("DISRUPTIVE"), "{block}");
                "y"
            }
            ("iptables-docker-user", _) => "a",
            ("subid-remap-range", _) if target.contains("/etc/subgid") && !diffed => {
                diffed = true;
                "d"
            }
            ("subid-remap-range", _) => "n",
            _ => {
                panic!("the fixture plan has a change this test does not expect: {rule}: {change}\n{screen}")
            }
        };
        term.answer(reply);
    }
    let code = term.wait_exit();
    let screen = term.screen();
    assert_eq!(code, Some(0), "{screen}");
    assert!(explained && diffed, "{screen}");
    assert!(
        screen.contains("+dockremap:165536:65536"),
        "full diff shown: {screen}"
    );

    // Asked about: no other fstab edit after /tmp was skipped, no iptables
    // change after `a`, and never about a folder.
    let asked_rules: Vec<&str> = asked.iter().map(|(_, r, _)| r.as_str()).collect();
    assert_eq!(
        asked_rules.iter().filter(|r| **r == "mount-nosuid").count(),
        1,
        "{asked:?}"
    );
    assert_eq!(
        asked_rules
            .iter()
            .filter(|r| **r == "iptables-docker-user")
            .count(),
        1
    );
    assert!(
        asked.iter().all(|(_, _, c)| !c.contains("create directory")),
        "{asked:?}"
    );
    assert!(screen.contains("skipped too"), "{screen}");
    assert!(screen.contains("Skipped (no typed yes)"), "{screen}");
    let snapshot_line = screen
        .lines()
        .find(|l| l.starts_with("Applied 14 change(s). Snapshot: "))
        .unwrap_or_else(|| panic!("no snapshot id in:\n{screen}"));
    let id = snapshot_line.rsplit(' ').next().unwrap();
    assert!(screen.contains(&format!("rollback {id}")), "{screen}");

    // Exactly the accepted changes.
    assert_eq!(mode_of(root, "/usr/bin/chfn"), 0o755);
    assert_eq!(mode_of(root, "/usr/bin/expiry"), 0o2755);
    assert_eq!(mode_of(root, "/usr/sbin/pppd"), 0o754);
    let daemon: serde_json::Value = serde_json::from_str(&read(root, "/etc/docker/daemon.json")).unwrap();
    assert_eq!(daemon["icc"], true);
    assert_eq!(daemon["no-new-privileges"], true);
    assert_eq!(daemon["live-restore"], true);
    assert_eq!(daemon["userland-proxy"], false);
    assert!(daemon.get("userns-remap").is_none() && daemon.get("insecure-registries").is_none());
    assert!(root.join("etc/dockhard/iptables.rules").is_file());

    // And the same tree as `apply` makes of a plan with the same choices:
    // the skipped rules turned off in a profile, the skipped binary left out.
    let twin = basic_root();
    let profile = PathBuf::from(format!("{}-profile.toml", twin.path().display()));
    std::fs::write(
        &profile,
        "[rules.mount-nosuid]\nenabled = false\n[rules.daemon-icc]\nenabled = false\n\
         [rules.daemon-userns-remap]\nenabled = false\n[rules.subid-remap-range]\nenabled = false\n",
    )
    .unwrap();
    let plan_file = PathBuf::from(format!("{}-plan.json", twin.path().display()));
    let run = on(
        twin.path(),
        &["--profile", profile.to_str().unwrap(), "plan", "--format", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    plan["changes"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["target"] != "/usr/bin/expiry");
    reseal(&mut plan);
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let run = on(
        twin.path(),
        &[
            "--profile",
            profile.to_str().unwrap(),
            "apply",
            "--yes",
            plan_file.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_file(&profile);
    let _ = std::fs::remove_file(&plan_file);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Applied 14 change(s)"), "{}", run.stdout);
    assert_same_tree(&fingerprint(twin.path(), &[STATE]), &fingerprint(root, &[STATE]));
    assert_eq!(snapshot_count(root), 1);

    // The snapshot undoes it all.
    let before = fingerprint(basic_root().path(), &[STATE]);
    let run = on(root, &["rollback", "--yes", id]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_same_tree(&before, &fingerprint(root, &[STATE]));
}

#[test]
fn quitting_changes_nothing() {
    let dir = basic_root();
    let root = dir.path();
    let before = fingerprint(root, &[]);
    let term = Term::dockhard(&root_args(root));
    term.wait_for(CHANGE_PROMPT, 1);
    term.answer("y");
    term.wait_for(CHANGE_PROMPT, 2);
    term.answer("n");
    term.wait_for(CHANGE_PROMPT, 3);
    term.answer("q");
    assert_eq!(term.wait_exit(), Some(1), "{}", term.screen());
    assert!(term.screen().contains("Quit: nothing was changed."));
    // Not even the state dir.
    assert_same_tree(&before, &fingerprint(root, &[]));
}

#[test]
fn ctrl_c_during_the_review_changes_nothing() {
    let dir = basic_root();
    let root = dir.path();
    let before = fingerprint(root, &[]);
    let term = Term::dockhard(&root_args(root));
    term.wait_for(CHANGE_PROMPT, 1);
    term.answer("a");
    term.wait_for(CHANGE_PROMPT, 2);
    term.keys(&["C-c"]);
    assert_ne!(term.wait_exit(), Some(0), "{}", term.screen());
    assert_same_tree(&before, &fingerprint(root, &[]));
}

#[test]
fn declining_the_final_confirmation_changes_nothing() {
    let dir = basic_root();
    let root = dir.path();
    let before = fingerprint(root, &[]);
    let mut args = root_args(root);
    args.extend(["--only", "suid"]);
    let term = Term::dockhard(&args);
    let screen = term.wait_for(CHANGE_PROMPT, 1);
    assert!(screen.contains("(1/3) Apply"), "--only suid: 3 changes\n{screen}");
    term.answer("a");
    let screen = term.wait_for("Apply 3 change(s) to ", 1);
    assert!(
        screen.contains("Accepted (all remaining suid changes)"),
        "{screen}"
    );
    term.keys(&["-l", "n"]);
    assert_eq!(term.wait_exit(), Some(1), "{}", term.screen());
    assert!(term.screen().contains("Nothing was changed."));
    assert_same_tree(&before, &fingerprint(root, &[]));
}

#[test]
fn without_a_terminal_fix_refuses_and_changes_nothing() {
    let dir = basic_root();
    let root = dir.path();
    let before = fingerprint(root, &[]);
    // No terminal at all.
    let run = on(root, &["fix"]);
    assert_eq!(run.code, 1);
    // The suggested commands act on the same root, never on the live host.
    let flags = format!("dockhard --root {}", root.display());
    assert!(
        run.stderr.contains(&format!("`{flags} plan`"))
            && run.stderr.contains(&format!("`{flags} apply --yes`")),
        "{}",
        run.stderr
    );
    // A terminal on standard input, but standard error goes to a file.
    let err = PathBuf::from(format!("{}-stderr", root.display()));
    let term = Term::start(&format!(
        "{} 2>{}",
        dockhard_line(&root_args(root)),
        quote(err.to_str().unwrap())
    ));
    assert_eq!(term.wait_exit(), Some(1), "{}", term.screen());
    let text = std::fs::read_to_string(&err).unwrap();
    let _ = std::fs::remove_file(&err);
    assert!(text.contains("needs a terminal"), "{text}");
    assert_same_tree(&before, &fingerprint(root, &[]));
}
