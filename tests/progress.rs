//! The progress line of the set-id scan: drawn on a terminal, never on a
//! pipe, never with `-q`. The scan is of this machine's /usr taken as a root
//! (a plan, which changes nothing; /usr, unlike /, holds no other tests'
//! temporary trees): over a hundred thousand entries, which take well over
//! the delay before the line appears.

use std::process::{Command, Stdio};

const LINE: &str = "scanning for set-id files:";

fn plan_args(quiet: bool) -> Vec<&'static str> {
    let mut args = vec!["--root", "/usr", "plan", "--only", "suid", "--format", "json"];
    if quiet {
        args.push("-q");
    }
    args
}

/// Runs dockhard with its standard error on a pseudo-terminal (script(1));
/// returns what the terminal received.
fn on_terminal(quiet: bool) -> String {
    let command = format!(
        "{} {} >/dev/null",
        env!("CARGO_BIN_EXE_dockhard"),
        plan_args(quiet).join(" ")
    );
    let out = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("script(1) runs (util-linux)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_shows_the_scan_progress_with_counts() {
    let seen = on_terminal(false);
    assert!(seen.contains(LINE), "no progress line on a terminal: {seen:?}");
    let line = seen.split(LINE).nth(1).unwrap();
    assert!(
        line.contains(" entries, ") && line.contains(" set-id, ") && line.contains(" folders"),
        "{line:?}"
    );
    // The line is cleared at the end.
    assert!(seen.trim_end().ends_with("\u{1b}[2K"), "{seen:?}");
}

#[test]
fn quiet_shows_no_progress_on_a_terminal() {
    let seen = on_terminal(true);
    assert!(!seen.contains(LINE), "{seen:?}");
}

#[test]
fn a_pipe_gets_no_progress() {
    let out = Command::new(env!("CARGO_BIN_EXE_dockhard"))
        .args(plan_args(false))
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "standard error is a pipe: nothing may be drawn there: {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is only the plan");
    assert_eq!(plan["schema"], 1);
}
