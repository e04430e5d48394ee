//! The progress line of the set-id scan: drawn on a terminal, never on a
//! pipe, never with `-q`. The line appears only for a scan that lasts longer
//! than its delay, and a scan of any real tree can be over sooner on a fast
//! machine with a warm cache; so the scan is made slow on purpose: dockhard
//! runs under strace, which holds every directory read (getdents64) for
//! 150 ms, on a small fixture tree whose folders are nested, so that they
//! are read one after another (three times the delay at least, on any
//! machine).

use std::path::Path;
use std::process::{Command, Stdio};

const LINE: &str = "scanning for set-id files:";

/// A fixture root: a chain of nested folders with a few files in each.
fn slow_tree() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let mut dir = root.path().join("usr");
    for level in 0..3 {
        dir = dir.join(format!("level{level}"));
        std::fs::create_dir_all(&dir).unwrap();
        for file in 0..3 {
            std::fs::write(dir.join(format!("file{file}")), b"x").unwrap();
        }
    }
    root
}

/// A shell command: a plan of the set-id kind of `root`, every directory
/// read held back by strace.
fn plan_command(root: &Path, quiet: bool) -> String {
    format!(
        "strace -f -qq -o /dev/null -e trace=getdents64 -e inject=getdents64:delay_enter=150000 \
         {} --root {} plan --only suid --format json{}",
        env!("CARGO_BIN_EXE_dockhard"),
        root.display(),
        if quiet { " -q" } else { "" }
    )
}

/// Runs the slow plan with its standard error on a pseudo-terminal
/// (script(1)); returns what the terminal received.
fn on_terminal(quiet: bool) -> String {
    let tree = slow_tree();
    let command = format!("{} >/dev/null", plan_command(tree.path(), quiet));
    let out = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("script(1) runs (util-linux)");
    assert!(
        out.status.success(),
        "{}\n{} (the tests need the strace package)",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
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
    let tree = slow_tree();
    let out = Command::new("sh")
        .args(["-c", &plan_command(tree.path(), false)])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} (the tests need the strace package)",
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
