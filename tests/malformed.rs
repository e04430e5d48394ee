//! Malformed input, table by table: for every file a kind reads through the
//! CLI (fstab, daemon.json, subuid, subgid, login.defs, passwd, group,
//! docker.service with its drop-ins and EnvironmentFile, a profile, a saved
//! plan, a snapshot manifest), each row breaks one file in one way. Every
//! row must give exit 1 with the file and line named, leave the whole tree
//! (state dir included) byte for byte as it was after `plan` and after
//! `apply --yes` (nothing written, no snapshot taken), and, for the kinds'
//! files, let the other kinds still plan when `--only` leaves the broken
//! one out. Failures are collected, so one run names every failing row.

mod common;

use common::*;
use std::path::Path;

/// One malformed file: what is wrong, which file, its bytes, and the line
/// the error must name.
struct Row {
    name: &'static str,
    file: &'static str,
    bytes: Vec<u8>,
    line: usize,
}

fn row(name: &'static str, file: &'static str, bytes: impl AsRef<[u8]>, line: usize) -> Row {
    Row {
        name,
        file,
        bytes: bytes.as_ref().to_vec(),
        line,
    }
}

/// How a table's rows are run.
struct Table {
    /// Extra files the fixture needs before the row's file is written.
    setup: fn(&Path),
    /// Global options before the command (e.g. `--profile FILE`), built
    /// from the row's file written into the root.
    globals: fn(&Path, &Row) -> Vec<String>,
    /// Kinds that must still plan (exit 0) with `--only`; empty when the
    /// file is not a kind's (a profile).
    still: &'static str,
}

const KIND_FILE: Table = Table {
    setup: |_| {},
    globals: |_, _| Vec::new(),
    still: "",
};

fn names_line(text: &str, file: &str, line: usize) -> bool {
    text.contains(&format!("{file}:{line}:"))
}

fn run(root: &Path, globals: &[String], args: &[&str]) -> Run {
    let mut all: Vec<&str> = globals.iter().map(String::as_str).collect();
    all.extend_from_slice(args);
    on(root, &all)
}

/// Runs every row of `rows` as `table` says; returns the failures.
fn check(table: &Table, rows: Vec<Row>) -> Vec<String> {
    let mut failures = Vec::new();
    for r in &rows {
        let dir = basic_root();
        let root = dir.path();
        (table.setup)(root);
        let path = root.join(r.file.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &r.bytes).unwrap();
        let globals = (table.globals)(root, r);
        let shown = if globals.is_empty() {
            r.file.to_string()
        } else {
            path.display().to_string()
        };
        let before = fingerprint(root, &[]);
        let mut fail = |what: String| failures.push(format!("[{}] {}: {what}", r.file, r.name));
        let plan = run(root, &globals, &["plan"]);
        let output = format!("{}{}", plan.stdout, plan.stderr);
        if plan.code != 1 || !names_line(&output, &shown, r.line) {
            fail(format!(
                "plan exited {} and did not name {shown}:{}:\n{}",
                plan.code,
                r.line,
                excerpt(&output)
            ));
        }
        if fingerprint(root, &[]) != before {
            fail("plan changed the tree".to_string());
        }
        let apply = run(root, &globals, &["apply", "--yes"]);
        if apply.code != 1 || !names_line(&apply.stderr, &shown, r.line) {
            fail(format!(
                "apply --yes exited {} and its stderr did not name {shown}:{}:\n{}",
                apply.code,
                r.line,
                excerpt(&apply.stderr)
            ));
        }
        let after = fingerprint(root, &[]);
        if after != before {
            let changed: Vec<String> = after
                .iter()
                .filter(|(p, l)| before.get(*p) != Some(l))
                .map(|(p, _)| p.display().to_string())
                .collect();
            fail(format!("apply --yes changed the tree: {changed:?}"));
        }
        if !table.still.is_empty() {
            let other = run(root, &globals, &["plan", "--only", table.still]);
            if other.code != 0 || other.stdout.contains(&format!("{shown}:")) {
                fail(format!(
                    "plan --only {} exited {}:\n{}{}",
                    table.still,
                    other.code,
                    excerpt(&other.stdout),
                    other.stderr
                ));
            }
        }
    }
    failures
}

fn excerpt(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(':')).take(12).collect();
    let mut out = lines.join("\n");
    if out.len() > 2000 {
        out.truncate(2000);
    }
    out
}

fn assert_rows(table: &Table, rows: Vec<Row>) {
    let count = rows.len();
    let failures = check(table, rows);
    assert!(
        failures.is_empty(),
        "{} of {count} rows failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

// ---------------------------------------------------------------- fstab

const FSTAB_HEAD: &str = "# /etc/fstab\nUUID=3f0e8b52 / ext4 errors=remount-ro 0 1\n";

fn fstab(body: &[u8]) -> Vec<u8> {
    [FSTAB_HEAD.as_bytes(), body].concat()
}

#[test]
fn fstab_rows() {
    let f = "/etc/fstab";
    let rows = vec![
        row("three fields", f, fstab(b"tmpfs /tmp tmpfs\n"), 3),
        row("device only", f, fstab(b"UUID=9a1b2c3d\n"), 3),
        row("truncated at end of file", f, fstab(b"tmpfs /tmp"), 3),
        row(
            "NUL byte in the options",
            f,
            fstab(b"tmpfs /tmp tmpfs defaults\0,nosuid 0 0\n"),
            3,
        ),
        row("NUL byte in a comment", f, fstab(b"# old\0line\n"), 3),
        row(
            "invalid UTF-8 in the options",
            f,
            fstab(b"tmpfs /tmp tmpfs size=2G,\xff\xfe 0 0\n"),
            3,
        ),
        row(
            "CRLF lines, one short",
            f,
            fstab(b"tmpfs /tmp tmpfs defaults 0 0\r\n/dev/sdb1 /home\r\n"),
            4,
        ),
        row(
            "seven fields (a space in a path)",
            f,
            fstab(b"/dev/sdb1 /srv/my data ext4 defaults 0 2\n"),
            3,
        ),
        row(
            "fs_freq not a number",
            f,
            fstab(b"tmpfs /tmp tmpfs defaults x 0\n"),
            3,
        ),
        row(
            "fs_passno negative",
            f,
            fstab(b"tmpfs /tmp tmpfs defaults 0 -1\n"),
            3,
        ),
        row(
            "fs_passno out of range",
            f,
            fstab(b"tmpfs /tmp tmpfs defaults 0 99999999999\n"),
            3,
        ),
        row(
            "fs_freq hexadecimal",
            f,
            fstab(b"tmpfs /tmp tmpfs defaults 0x1 0\n"),
            3,
        ),
        row(
            "very long line, three fields",
            f,
            fstab(format!("tmpfs /{} tmpfs\n", long(200_000)).as_bytes()),
            3,
        ),
        row(
            "error after many good lines",
            f,
            fstab(format!("{}tmpfs /tmp\n", "proc /proc proc defaults 0 0\n".repeat(500)).as_bytes()),
            503,
        ),
    ];
    assert_rows(
        &Table {
            still: "suid,daemon,iptables,subid",
            ..KIND_FILE
        },
        rows,
    );
}

// ---------------------------------------------------------------- daemon.json

#[test]
fn daemon_json_rows() {
    let f = "/etc/docker/daemon.json";
    let rows = vec![
        row("trailing comma", f, "{\n  \"icc\": true,\n}\n", 3),
        row(
            "comment",
            f,
            "{\n  // no inter-container traffic\n  \"icc\": true\n}\n",
            2,
        ),
        row("truncated", f, "{\n  \"icc\": true,\n  \"log-driver\": \"loc", 3),
        row("missing closing brace", f, "{\n  \"icc\": true\n", 3),
        row("NUL byte", f, "{\n  \"icc\": true,\0\n  \"x\": 1\n}\n", 2),
        row(
            "control character in a string",
            f,
            "{\n  \"icc\": true,\n  \"log-driver\": \"lo\x01cal\"\n}\n",
            3,
        ),
        row(
            "CRLF, error on line 3",
            f,
            "{\r\n  \"icc\": true\r\n  \"x\": 1\r\n}\r\n",
            3,
        ),
        row("single quotes", f, "{\n  'icc': true\n}\n", 2),
        row("top-level array", f, "[\n  \"icc\"\n]\n", 1),
        row("two objects", f, "{\"icc\": true}\n{\"icc\": false}\n", 2),
        row(
            "duplicate hardening key",
            f,
            "{\n  \"icc\": false,\n  \"icc\": true\n}\n",
            3,
        ),
        row(
            "wrong type for icc",
            f,
            "{\n  \"log-driver\": \"local\",\n  \"icc\": \"yes\"\n}\n",
            3,
        ),
        row(
            "wrong type for userns-remap",
            f,
            "{\n  \"userns-remap\": 1\n}\n",
            2,
        ),
        row(
            "wrong type for insecure-registries",
            f,
            "{\n  \"insecure-registries\": \"r:5000\"\n}\n",
            2,
        ),
        row(
            "number out of range",
            f,
            "{\n  \"icc\": true,\n  \"max-concurrent-downloads\": 1e999\n}\n",
            3,
        ),
        row(
            "very long line, unterminated string",
            f,
            format!("{{\n  \"labels\": [\"{}\n", long(200_000)),
            2,
        ),
    ];
    assert_rows(
        &Table {
            still: "mount,iptables",
            ..KIND_FILE
        },
        rows,
    );
}

// ---------------------------------------------------------------- subuid, subgid

fn subid_rows(f: &'static str) -> Vec<Row> {
    vec![
        row("two fields", f, "alice:100000\n", 1),
        row("four fields", f, "alice:100000:65536:1\n", 1),
        row("empty owner", f, ":100000:65536\n", 1),
        row("start not a number", f, "alice:abc:65536\n", 1),
        row("count empty", f, "alice:100000:\n", 1),
        row("start negative", f, "alice:-1:65536\n", 1),
        row("start hexadecimal", f, "alice:0x186a0:65536\n", 1),
        row("count out of range", f, "alice:100000:99999999999\n", 1),
        row("range past the last id", f, "alice:4294967000:65536\n", 1),
        row(
            "leading white space",
            f,
            "alice:100000:65536\n bob:200000:65536\n",
            2,
        ),
        row(
            "NUL byte in the owner",
            f,
            "alice:100000:65536\nbo\0b:200000:65536\n",
            2,
        ),
        row(
            "NUL byte in the count",
            f,
            "alice:100000:65536\nbob:200000:65536\0\n",
            2,
        ),
        row(
            "invalid UTF-8 in the owner",
            f,
            b"alice:100000:65536\nb\xf6b:200000:65536\n",
            2,
        ),
        row(
            "CRLF, error on line 2",
            f,
            "alice:100000:65536\r\nbob:200000\r\n",
            2,
        ),
        row("truncated last line", f, "alice:100000:65536\nbob:2000", 2),
        row(
            "very long owner, missing field",
            f,
            format!("alice:100000:65536\n{}:200000\n", long(200_000)),
            2,
        ),
    ]
}

#[test]
fn subuid_rows() {
    assert_rows(
        &Table {
            still: "suid,mount,iptables",
            ..KIND_FILE
        },
        subid_rows("/etc/subuid"),
    );
}

#[test]
fn subgid_rows() {
    assert_rows(
        &Table {
            still: "suid,mount,iptables",
            ..KIND_FILE
        },
        subid_rows("/etc/subgid"),
    );
}

/// Overlapping ranges of two other owners are well-formed lines: the
/// project reports them as a high-severity advisory naming both lines
/// (dockhard does not rewrite other owners' lines), and plans nothing
/// into them.
#[test]
fn overlapping_ranges_are_reported_with_their_lines() {
    for f in ["/etc/subuid", "/etc/subgid"] {
        let dir = basic_root();
        let root = dir.path();
        write(root, f, "alice:100000:65536\nbob:165535:65536\n", 0o644);
        let before = fingerprint(root, &[]);
        let run = on(root, &["plan", "--only", "subid"]);
        assert!(
            run.stdout.contains(&format!("{f}: ranges of alice (line 1,"))
                && run.stdout.contains("bob (line 2,"),
            "{}",
            run.stdout
        );
        assert_same_tree(&before, &fingerprint(root, &[]));
    }
}

// ---------------------------------------------------------------- login.defs

#[test]
fn login_defs_rows() {
    let f = "/etc/login.defs";
    let rows = vec![
        row("value not a number", f, "# ids\nSUB_UID_MIN lots\n", 2),
        row("value missing", f, "SUB_GID_MAX\n", 1),
        row("two values", f, "SYS_UID_MIN 100 200\n", 1),
        row("trailing comment", f, "SUB_UID_COUNT 65536 # default\n", 1),
        row("out of range", f, "SUB_UID_MAX 99999999999\n", 1),
        row("negative", f, "SUB_GID_MIN -5\n", 1),
        row("bad octal", f, "SYS_GID_MIN 0999\n", 1),
        row("min above max", f, "SUB_UID_MIN 200000\nSUB_UID_MAX 100000\n", 2),
        row("NUL byte in a value", f, "SUB_UID_MIN 100000\0\n", 1),
        row(
            "invalid UTF-8 in a value",
            f,
            b"MAIL_DIR /var/mail\nSUB_UID_MIN 10\xe90\n",
            2,
        ),
        row(
            "CRLF, error on line 3",
            f,
            "MAIL_DIR /var/mail\r\nUMASK 022\r\nSUB_GID_COUNT x\r\n",
            3,
        ),
        row(
            "very long number",
            f,
            format!("UMASK 022\nSUB_UID_MIN {}\n", "1".repeat(100_000)),
            2,
        ),
    ];
    assert_rows(
        &Table {
            still: "suid,mount,iptables",
            ..KIND_FILE
        },
        rows,
    );
}

// ---------------------------------------------------------------- passwd, group

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nalice:x:1001:1001:Alice:/home/alice:/bin/bash\n";
const GROUP: &str = "root:x:0:\nshadow:x:42:\nalice:x:1001:\ndocker:x:998:alice\n";

#[test]
fn passwd_rows() {
    let f = "/etc/passwd";
    let with = |extra: &str| format!("{PASSWD}{extra}");
    let rows = vec![
        row("six fields", f, with("bob:x:1002:1002:Bob:/home/bob\n"), 3),
        row(
            "eight fields",
            f,
            with("bob:x:1002:1002:Bob:/home/bob:/bin/sh:x\n"),
            3,
        ),
        row("empty name", f, with(":x:1002:1002::/home/bob:/bin/sh\n"), 3),
        row(
            "name with a space",
            f,
            with("bob smith:x:1002:1002::/home/bob:/bin/sh\n"),
            3,
        ),
        row(
            "uid not a number",
            f,
            with("bob:x:one:1002::/home/bob:/bin/sh\n"),
            3,
        ),
        row("uid negative", f, with("bob:x:-2:1002::/home/bob:/bin/sh\n"), 3),
        row(
            "uid out of range",
            f,
            with("bob:x:4294967296:1002::/home/bob:/bin/sh\n"),
            3,
        ),
        row("gid empty", f, with("bob:x:1002:::/home/bob:/bin/sh\n"), 3),
        row(
            "NUL byte in a name",
            f,
            with("bo\0b:x:1002:1002::/home/bob:/bin/sh\n"),
            3,
        ),
        row(
            "invalid UTF-8 in a name",
            f,
            [PASSWD.as_bytes(), b"b\xf6b:x:1002:1002::/home/bob:/bin/sh\n"].concat(),
            3,
        ),
        row(
            "CRLF, error on line 2",
            f,
            "root:x:0:0:root:/root:/bin/bash\r\nalice:x:1001\r\n",
            2,
        ),
        row("truncated last line", f, with("bob:x:10"), 3),
        row(
            "very long line, six fields",
            f,
            with(&format!("bob:x:1002:1002:{}:/home/bob\n", long(200_000))),
            3,
        ),
    ];
    assert_rows(
        &Table {
            still: "suid,mount,iptables",
            ..KIND_FILE
        },
        rows,
    );
}

#[test]
fn group_rows() {
    let f = "/etc/group";
    let with = |extra: &str| format!("{GROUP}{extra}");
    let rows = vec![
        row("three fields", f, with("staff:x:50\n"), 5),
        row("five fields", f, with("staff:x:50::x\n"), 5),
        row("empty name", f, with(":x:50:\n"), 5),
        row("gid not a number", f, with("staff:x:fifty:\n"), 5),
        row("gid out of range", f, with("staff:x:4294967296:\n"), 5),
        row("NUL byte in a name", f, with("sta\0ff:x:50:\n"), 5),
        row(
            "invalid UTF-8 in a name",
            f,
            [GROUP.as_bytes(), b"st\xe4ff:x:50:\n"].concat(),
            5,
        ),
        row("CRLF, error on line 2", f, "root:x:0:\r\nstaff:x\r\n", 2),
        row("truncated last line", f, with("staff:x:5"), 5),
        row(
            "very long member list, three fields",
            f,
            with(&format!("staff:x:{}\n", long(200_000))),
            5,
        ),
    ];
    assert_rows(
        &Table {
            still: "suid,mount,iptables",
            ..KIND_FILE
        },
        rows,
    );
}

// ---------------------------------------------------------------- docker.service

const UNIT: &str = "/usr/lib/systemd/system/docker.service";
const DROPIN: &str = "/etc/systemd/system/docker.service.d/override.conf";
const ENV_FILE: &str = "/etc/default/docker";
const GOOD_UNIT: &str = "[Unit]\nDescription=Docker Application Container Engine\n\n[Service]\nType=notify\nEnvironmentFile=-/etc/default/docker\nExecStart=/usr/bin/dockerd -H fd:// $DOCKER_OPTS\n";

fn unit_rows(f: &'static str) -> Vec<Row> {
    vec![
        row("line without =", f, "[Service]\nType=notify\nnonsense\n", 3),
        row("section header without ]", f, "[Service\nType=notify\n", 1),
        row(
            "assignment before any section",
            f,
            "# docker\nType=notify\n[Service]\n",
            2,
        ),
        row(
            "line continued at end of file",
            f,
            "[Service]\nType=notify\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// \\\n",
            4,
        ),
        row(
            "NUL byte in a line",
            f,
            "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd\0 --icc=false\n",
            3,
        ),
        row(
            "invalid UTF-8 in a line",
            f,
            b"[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --label=caf\xe9 --icc=false\n",
            3,
        ),
        row(
            "CRLF, error on line 3",
            f,
            "[Service]\r\nType=notify\r\nnonsense\r\n",
            3,
        ),
        row(
            "line longer than systemd reads",
            f,
            format!(
                "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --label={}\n",
                long(1 << 20)
            ),
            3,
        ),
    ]
}

#[test]
fn docker_unit_rows() {
    assert_rows(
        &Table {
            still: "suid,mount",
            ..KIND_FILE
        },
        unit_rows(UNIT),
    );
}

#[test]
fn docker_dropin_rows() {
    assert_rows(
        &Table {
            setup: |root| write(root, UNIT, GOOD_UNIT, 0o644),
            still: "suid,mount",
            ..KIND_FILE
        },
        unit_rows(DROPIN),
    );
}

#[test]
fn environment_file_rows() {
    let f = ENV_FILE;
    let rows = vec![
        row(
            "unterminated double quote",
            f,
            "# opts\nDOCKER_OPTS=\"--icc=false\n",
            2,
        ),
        row(
            "unterminated single quote",
            f,
            "DOCKER_OPTS='--icc=false\nOTHER=1\n",
            1,
        ),
        row("NUL byte in a value", f, "DOCKER_OPTS=\"--icc=false\0\"\n", 1),
        row(
            "invalid UTF-8 in a value",
            f,
            b"DOCKER_OPTS=\"--label=caf\xe9 --icc=false\"\n",
            1,
        ),
        row(
            "line continued at end of file",
            f,
            "A=1\nDOCKER_OPTS=--icc=false \\\n",
            2,
        ),
        row(
            "CRLF, unterminated quote on line 2",
            f,
            "A=1\r\nDOCKER_OPTS=\"--icc=false\r\n",
            2,
        ),
    ];
    assert_rows(
        &Table {
            setup: |root| write(root, UNIT, GOOD_UNIT, 0o644),
            still: "suid,mount",
            ..KIND_FILE
        },
        rows,
    );
}

// ---------------------------------------------------------------- profile

#[test]
fn profile_rows() {
    let f = "/profile.toml";
    let rows = vec![
        row(
            "unknown key",
            f,
            "[rules.mount-nosuid]\nenabled = true\nfrobnicate = 1\n",
            3,
        ),
        row(
            "unknown rule",
            f,
            "[rules.mount-nosuid]\nenabled = true\n[rules.no-such-rule]\nenabled = true\n",
            3,
        ),
        row("wrong type", f, "[rules.mount-nosuid]\nenabled = \"yes\"\n", 2),
        row(
            "duplicate key",
            f,
            "[rules.mount-nosuid]\nenabled = true\nenabled = false\n",
            3,
        ),
        row(
            "duplicate table",
            f,
            "[rules.mount-nosuid]\nenabled = true\n[rules.mount-nosuid]\n",
            3,
        ),
        row(
            "unterminated string",
            f,
            "[rules.mount-nosuid]\npoints = [\"/tmp\n",
            2,
        ),
        row(
            "truncated table header",
            f,
            "[rules.mount-nosuid]\nenabled = true\n[rules.daemon-icc",
            3,
        ),
        row(
            "integer out of range",
            f,
            "[rules.subid-remap-range]\ncount = 99999999999999999999\n",
            2,
        ),
        row("NUL byte", f, "[rules.mount-nosuid]\nenabled = true\0\n", 2),
        row(
            "invalid UTF-8",
            f,
            b"# profile\n[rules.mount-nosuid]\n# caf\xe9\nenabled = true\n",
            3,
        ),
        row(
            "CRLF, error on line 2",
            f,
            "[rules.mount-nosuid]\r\nenabled = maybe\r\n",
            2,
        ),
        row(
            "very long line",
            f,
            format!("[rules.mount-nosuid]\npoints = [\"/{}\"] x\n", long(200_000)),
            2,
        ),
    ];
    assert_rows(
        &Table {
            globals: |root, r| {
                vec![
                    "--profile".into(),
                    root.join(r.file.trim_start_matches('/')).display().to_string(),
                ]
            },
            ..KIND_FILE
        },
        rows,
    );
}

// ---------------------------------------------------------------- saved plan

/// A saved plan that is not a plan: `apply FILE` names the line (and
/// column) and applies nothing. (Plans edited by hand are in
/// tests/saved_plan.rs.)
#[test]
fn saved_plan_rows() {
    let work = tempfile::tempdir().unwrap();
    let dir = basic_root();
    let root = dir.path();
    let good = work.path().join("good.json");
    assert_eq!(on(root, &["plan", "--out", good.to_str().unwrap(), "-q"]).code, 0);
    let text = std::fs::read_to_string(&good).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let schema_line = line_of("\"schema\":");
    let lines = text.lines().count();
    let rows: Vec<(&str, Vec<u8>, usize)> = vec![
        ("empty file", Vec::new(), 1),
        (
            "truncated",
            text.as_bytes()[..text.len() / 2].to_vec(),
            text[..text.len() / 2].lines().count(),
        ),
        (
            "trailing comma",
            text.replacen("\"schema\": 1,", "\"schema\": 1,,", 1).into_bytes(),
            schema_line,
        ),
        (
            "NUL byte",
            text.replacen("\"schema\": 1,", "\"schema\": 1,\0", 1)
                .into_bytes(),
            schema_line,
        ),
        (
            "invalid UTF-8",
            [
                &text.as_bytes()[..text.find("\"schema\"").unwrap()],
                b"\xff",
                &text.as_bytes()[text.find("\"schema\"").unwrap()..],
            ]
            .concat(),
            schema_line,
        ),
        (
            "CRLF, then a syntax error",
            text.replace('\n', "\r\n")
                .replacen("\"schema\": 1,", "\"schema\": 1 1,", 1)
                .into_bytes(),
            schema_line,
        ),
        (
            "wrong type",
            text.replacen("\"schema\": 1,", "\"schema\": \"one\",", 1)
                .into_bytes(),
            schema_line,
        ),
        // (A number out of range inside a change's action is reported at
        // the end of the action object: serde reads a tagged enum whole.)
        (
            "number out of range",
            text.replacen("\"schema\": 1,", "\"schema\": 99999999999,", 1)
                .into_bytes(),
            schema_line,
        ),
        (
            "duplicate key",
            text.replacen("\"schema\": 1,", "\"schema\": 1,\n  \"schema\": 1,", 1)
                .into_bytes(),
            schema_line + 1,
        ),
        (
            "missing field",
            text.replacen("\"schema\": 1,", "", 1).into_bytes(),
            lines,
        ),
        (
            "trailing garbage",
            format!("{text}{{}}\n").into_bytes(),
            lines + 1,
        ),
        (
            "very long line, string not closed on it",
            text.replacen(
                "\"schema\": 1,",
                &format!("\"schema\": 1, \"x\": \"{}", long(200_000)),
                1,
            )
            .into_bytes(),
            schema_line,
        ),
    ];
    let before = fingerprint(root, &[]);
    let mut failures = Vec::new();
    for (name, bytes, line) in rows {
        let path = work.path().join("plan.json");
        std::fs::write(&path, &bytes).unwrap();
        let shown = path.display().to_string();
        for args in [
            &["apply", &shown, "--yes"][..],
            &["apply", &shown, "--yes", "--format", "json"],
        ] {
            let run = on(root, args);
            if run.code != 1 || !names_line(&run.stderr, &shown, line) {
                failures.push(format!(
                    "{name}: {args:?} exited {} without {shown}:{line}:\n{}",
                    run.code, run.stderr
                ));
            }
            if fingerprint(root, &[]) != before {
                failures.push(format!("{name}: the tree changed"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------- snapshot manifest

/// A manifest written by a real apply, then broken: `rollback ID` names the
/// manifest's line and restores nothing.
#[test]
fn snapshot_manifest_rows() {
    let dir = basic_root();
    let root = dir.path();
    let applied = on(root, &["apply", "--yes", "--only", "suid,mount"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let id = applied
        .stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("Applied ")
                .and_then(|l| l.split("Snapshot: ").nth(1))
        })
        .expect("a snapshot id")
        .trim()
        .to_string();
    let manifest = root
        .join("var/lib/dockhard/snapshots")
        .join(&id)
        .join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let shown = manifest.display().to_string();
    let lines = text.lines().count();
    let id_line = text.lines().position(|l| l.contains("\"id\":")).unwrap() + 1;
    let rows: Vec<(&str, Vec<u8>, usize)> = vec![
        ("empty", Vec::new(), 1),
        (
            "truncated",
            text.as_bytes()[..text.len() / 2].to_vec(),
            text[..text.len() / 2].lines().count(),
        ),
        (
            "NUL byte",
            text.replacen("\"id\":", "\0\"id\":", 1).into_bytes(),
            id_line,
        ),
        (
            "invalid escape in a string",
            text.replacen("\"id\": \"", "\"id\": \"\\q", 1).into_bytes(),
            id_line,
        ),
        (
            "invalid UTF-8 in a string",
            {
                let at = text.find("\"id\": \"").unwrap() + 7;
                [&text.as_bytes()[..at], b"\xff", &text.as_bytes()[at..]].concat()
            },
            id_line,
        ),
        (
            "CRLF, then a syntax error",
            text.replace('\n', "\r\n")
                .replacen("\"id\":", "\"id\" ", 1)
                .into_bytes(),
            id_line,
        ),
        (
            "wrong type",
            text.replacen("\"id\": \"", "\"id\": [\"", 1).into_bytes(),
            id_line,
        ),
        ("trailing garbage", format!("{text}]\n").into_bytes(), lines + 1),
    ];
    let before = fingerprint(root, &["var/lib/dockhard"]);
    let mut failures = Vec::new();
    for (name, bytes, line) in rows {
        std::fs::write(&manifest, &bytes).unwrap();
        let state = fingerprint(&root.join("var/lib/dockhard"), &[]);
        let run = on(root, &["rollback", &id, "--yes"]);
        if run.code != 1 || !names_line(&run.stderr, &shown, line) {
            failures.push(format!(
                "{name}: rollback exited {} without {shown}:{line}:\n{}",
                run.code, run.stderr
            ));
        }
        if fingerprint(root, &["var/lib/dockhard"]) != before {
            failures.push(format!("{name}: rollback changed the tree"));
        }
        if fingerprint(&root.join("var/lib/dockhard"), &[]) != state {
            failures.push(format!("{name}: rollback changed the state dir"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
