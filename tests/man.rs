//! The checked-in man pages in `man/` and shell completions in
//! `completions/` are what the code generates:
//!
//! - `dockhard.8` and one page per command (`dockhard-plan.8`, …) from the
//!   clap definitions; `dockhard.8` also has EXIT STATUS, ENVIRONMENT,
//!   FILES and SEE ALSO sections written here;
//! - `dockhard-catalog.7`: every rule of the catalog with its rationale,
//!   what it may break and its parameters;
//! - `completions/dockhard.bash`, `completions/_dockhard` (zsh) and
//!   `completions/dockhard.fish` from the clap definitions.
//!
//! With DOCKHARD_UPDATE_SNAPSHOTS=1 the files are rewritten instead.

use clap::CommandFactory;
use dockhard::catalog::Catalog;
use std::path::Path;

fn render(cmd: clap::Command) -> String {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).section("8").render(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

/// Text for a roff line: backslashes and hyphens escaped, a leading
/// control character neutralised.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Paragraphs of a rule's text (blank-line separated) as filled roff text.
fn paragraphs(out: &mut String, text: &str) {
    for (n, para) in text.trim().split("\n\n").enumerate() {
        if n > 0 {
            out.push_str(".PP\n");
        }
        for line in para.lines().map(str::trim).filter(|l| !l.is_empty()) {
            out.push_str(&roff(line));
            out.push('\n');
        }
    }
}

const EXTRA_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success; for \fBplan \-\-detailed\-exitcode\fR: no changes needed.
.TP
\fB1\fR
An error: bad input (a profile, daemon.json, fstab, subuid or subgid that cannot be parsed, named with file and line), a usage error, a stale plan file refused, \fBapply\fR without \fB\-\-yes\fR and without a terminal, another run holding the lock past \fB\-\-lock\-wait\fR, or an apply that failed and was undone. Nothing was changed, unless the message says otherwise.
.TP
\fB2\fR
\fBplan \-\-detailed\-exitcode\fR only: changes are pending.
.SH ENVIRONMENT
.TP
\fBNO_COLOR\fR
When set, \fB\-\-color auto\fR prints no colour.
.TP
\fBDOCKHARD_SYSLOG_SOCKET\fR
The system log socket that apply and rollback send their audit record to (default \fI/dev/log\fR). Set to the empty string, no record is sent.
.SH FILES
.TP
\fI/var/lib/dockhard\fR (under \fB\-\-root\fR)
The state dir (or \fB\-\-state\-dir\fR): one snapshot per apply or rollback in \fIsnapshots/\fR, and the \fIlock\fR file held by a running apply, rollback or fix.
.TP
\fI/dev/log\fR
Every apply and rollback sends a record to the system log (facility authpriv, tag dockhard) naming the operation, the snapshot id, the outcome, the root, the rule ids and the targets changed. With nothing listening there, no record is written and \fB\-v\fR says so; the snapshot keeps the full detail either way.
.SH "SEE ALSO"
\fBdockhard\-catalog\fR(7), \fBdockhard\-plan\fR(8), \fBdockhard\-apply\fR(8), \fBdockhard\-rollback\fR(8), \fBdockhard\-profile\fR(8), \fBjournalctl\fR(1)
"#;

/// `dockhard.8` with the sections clap does not know about, before VERSION.
fn root_page(cmd: clap::Command) -> String {
    let page = render(cmd);
    match page.find(".SH VERSION") {
        Some(at) => format!("{}{EXTRA_SECTIONS}{}", &page[..at], &page[at..]),
        None => format!("{page}{EXTRA_SECTIONS}"),
    }
}

/// `dockhard-catalog.7`: every rule, from the embedded catalog.
fn catalog_page() -> String {
    let catalog = Catalog::builtin().unwrap();
    let mut out = format!(
        ".TH DOCKHARD\\-CATALOG 7 \"\" \"dockhard {}\"\n",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(
        // Left-adjusted and not hyphenated: long lists of paths.
        ".ad l\n\
         .nh\n\
         .SH NAME\n\
         dockhard\\-catalog \\- the rules dockhard checks and applies, and why\n\
         .SH DESCRIPTION\n\
         Each rule has an id, a kind (what it changes), a guideline item and a severity. \
         The built\\-in profile enables the rules marked so below; a profile \
         (\\fBdockhard \\-\\-profile\\fR \\fIFILE\\fR) turns rules on or off and sets their parameters. \
         \\fBdockhard profile show\\fR prints the effective profile to start one from, \
         \\fBdockhard rules\\fR lists the rules and \\fBdockhard explain\\fR \\fIRULE_ID\\fR shows one.\n\
         .SH RULES\n",
    );
    for rule in &catalog.rules {
        out.push_str(&format!(".SS \"{}\"\n", roff(&rule.id)));
        out.push_str(&format!("\\fB{}\\fR\n.br\n", roff(&rule.title)));
        out.push_str(&format!(
            "Guideline {}, kind \\fB{}\\fR, severity {}, {} by default{}.\n",
            rule.guideline,
            rule.kind,
            rule.severity.as_str(),
            if rule.enabled { "enabled" } else { "disabled" },
            if rule.disruptive {
                "; \\fBdisruptive\\fR"
            } else {
                ""
            }
        ));
        out.push_str(".PP\n");
        paragraphs(&mut out, &rule.rationale);
        out.push_str(".PP\n\\fIWhat may break:\\fR\n");
        paragraphs(&mut out, &rule.may_break);
        let docs = dockhard::profile::param_docs(
            dockhard::catalog::RULE_FILES
                .iter()
                .find(|(f, _)| *f == format!("{}.toml", rule.id))
                .unwrap()
                .1,
        );
        if !rule.params.is_empty() {
            out.push_str(".PP\n\\fIParameters:\\fR\n");
            for (key, doc) in &docs {
                let Some(default) = rule.params.get(key) else {
                    continue;
                };
                // The default in the filled body, where long lists can wrap.
                out.push_str(&format!(
                    ".TP\n\\fB{}\\fR\n{}\n.br\nDefault: {}\n",
                    roff(key),
                    roff(doc),
                    roff(&default.to_string())
                ));
            }
        }
    }
    out.push_str(
        ".SH \"SEE ALSO\"\n\\fBdockhard\\fR(8), \\fBdockhard\\-rules\\fR(8), \\fBdockhard\\-explain\\fR(8), \\fBdockhard\\-profile\\fR(8)\n",
    );
    out
}

fn completion(shell: clap_complete::Shell) -> String {
    let mut cmd = dockhard::cli::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "dockhard", &mut buf);
    String::from_utf8(buf).unwrap()
}

/// Compares (or with DOCKHARD_UPDATE_SNAPSHOTS=1 writes) the files of `dir`
/// with `suffixes`; names stale, missing and unexpected ones.
fn check_dir(dir: &str, files: &[(String, String)], suffixes: &[&str]) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let update = std::env::var_os("DOCKHARD_UPDATE_SNAPSHOTS").is_some();
    let mut stale = Vec::new();
    for (file, text) in files {
        let path = dir.join(file);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(file.clone());
        }
    }
    let on_disk: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for file in on_disk.iter().filter(|f| suffixes.iter().any(|s| f.ends_with(s))) {
        if !files.iter().any(|(p, _)| p == file) {
            stale.push(format!("{file} (not generated)"));
        }
    }
    stale
}

fn man_pages() -> Vec<(String, String)> {
    let root = dockhard::cli::Cli::command();
    let mut pages = vec![("dockhard.8".to_string(), root_page(root.clone()))];
    // A page per command, and per subcommand (dockhard-snapshots-list.8),
    // as the SEE ALSO and SUBCOMMANDS sections name them.
    let mut todo: Vec<(String, clap::Command)> = root
        .get_subcommands()
        .map(|sub| (format!("dockhard-{}", sub.get_name()), sub.clone()))
        .collect();
    while let Some((name, sub)) = todo.pop() {
        for nested in sub.get_subcommands() {
            todo.push((format!("{name}-{}", nested.get_name()), nested.clone()));
        }
        let cmd = sub.name(name.clone().leak() as &str);
        pages.push((format!("{name}.8"), render(cmd)));
    }
    pages.sort();
    pages.push(("dockhard-catalog.7".to_string(), catalog_page()));
    pages
}

#[test]
fn man_pages_match_the_command_line_definitions() {
    let stale = check_dir("man", &man_pages(), &[".7", ".8"]);
    assert!(
        stale.is_empty(),
        "man pages out of date: {stale:?}; run DOCKHARD_UPDATE_SNAPSHOTS=1 cargo test --test man and commit man/"
    );
}

#[test]
fn completions_match_the_command_line_definitions() {
    use clap_complete::Shell;
    let files = [
        ("dockhard.bash", Shell::Bash),
        ("_dockhard", Shell::Zsh),
        ("dockhard.fish", Shell::Fish),
    ]
    .map(|(file, shell)| (file.to_string(), completion(shell)));
    let stale = check_dir("completions", &files, &[".bash", ".fish", "_dockhard"]);
    assert!(
        stale.is_empty(),
        "completions out of date: {stale:?}; run DOCKHARD_UPDATE_SNAPSHOTS=1 cargo test --test man and commit completions/"
    );
    // Every command is completed.
    for sub in dockhard::cli::Cli::command().get_subcommands() {
        for (file, text) in &files {
            assert!(text.contains(sub.get_name()), "{file} lacks {}", sub.get_name());
        }
    }
}

#[test]
fn catalog_page_lists_every_rule_with_its_rationale() {
    let page = catalog_page();
    for rule in Catalog::builtin().unwrap().rules {
        assert!(
            page.contains(&format!(".SS \"{}\"", roff(&rule.id))),
            "{}",
            rule.id
        );
        let first = rule.rationale.trim().lines().next().unwrap();
        assert!(page.contains(&roff(first.trim())), "{}: rationale", rule.id);
        for key in rule.params.keys() {
            assert!(
                page.contains(&format!(".TP\n\\fB{}\\fR", roff(key))),
                "{}.{key}",
                rule.id
            );
        }
    }
}

/// `man -l` renders each page without a warning from groff.
#[test]
fn man_renders_every_page() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    for (file, text) in man_pages() {
        // The generated text, so this holds before the files are updated.
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(&file);
        std::fs::write(&path, &text).unwrap();
        let out = std::process::Command::new("man")
            .args(["--warnings=w", "-l"])
            .arg(&path)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap_or_else(|e| panic!("`man` must be installed (apt-get install man-db): {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "man -l {file}: {stderr}");
        assert!(stderr.trim().is_empty(), "man -l {file} warns:\n{stderr}");
        assert!(
            stdout.contains("NAME") && stdout.len() > 200,
            "man -l {file}:\n{stdout}"
        );
    }
    assert!(dir.join("dockhard.8").exists());
}
