use super::*;
use crate::kinds::testing::{apply_changes, case_dir, context, empty_root, fixture_root, policy, read};
use crate::plan::Action;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const DAEMON_RULES: &[&str] = &[
    "daemon-icc",
    "daemon-no-new-privileges",
    "daemon-live-restore",
    "daemon-userland-proxy",
    "daemon-userns-remap",
    "daemon-insecure-registries",
    "daemon-seccomp-unconfined",
    "daemon-selinux",
    "daemon-tcp-tls",
    "daemon-unit-conflicts",
];

/// A profile that enables only these daemon rules.
fn only(rules: &[&str]) -> String {
    DAEMON_RULES
        .iter()
        .filter(|r| !rules.contains(r))
        .map(|r| format!("[rules.{r}]\nenabled = false\n"))
        .collect()
}

fn run(root: &HostRoot, profile: &str) -> Result<Outcome> {
    let policy = policy(profile);
    plan(&context(root, &policy))
}

fn semantic(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

fn case(name: &str, input: &str) -> (tempfile::TempDir, HostRoot) {
    fixture_root(&case_dir(name).join(input))
}

fn expected(name: &str, path: &str) -> Vec<u8> {
    std::fs::read(case_dir(name).join("expected").join(path.trim_start_matches('/'))).unwrap()
}

fn findings_with<'a>(out: &'a Outcome, text: &str) -> Vec<&'a Finding> {
    out.findings.iter().filter(|f| f.message.contains(text)).collect()
}

/// Applies the plan and checks that planning again changes nothing.
fn apply_and_recheck(root: &HostRoot, out: &Outcome, profile: &str) -> Outcome {
    apply_changes(root, &out.changes);
    let again = run(root, profile).unwrap();
    assert!(again.changes.is_empty(), "second plan: {:#?}", again.changes);
    again
}

const C01: &str = "C01-daemon-json-empty-file";

fn c01_check(input: &str, words: &str) {
    let profile = only(&["daemon-icc", "daemon-no-new-privileges"]);
    let (dir, root) = case(C01, input);
    let file = dir.path().join("etc/docker/daemon.json");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(&root, &profile).unwrap();
    let errors: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.status == Status::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{:#?}", out.findings);
    assert!(errors[0].message.contains(words), "{}", errors[0].message);
    assert!(
        errors[0].message.contains("dockerd cannot start"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[0].message.contains("next restart will fail"),
        "{}",
        errors[0].message
    );
    assert!(
        !errors[0].message.contains("icc"),
        "no settings as if a config had been read"
    );
    assert_eq!(out.changes.len(), 2, "{:#?}", out.changes);
    assert!(
        out.changes[0].summary.contains("replaces an empty file")
            || out.changes[0].summary.contains("replaces a whitespace-only file"),
        "{}",
        out.changes[0].summary
    );
    assert!(!out.changes.iter().any(|c| c.summary.contains("default")));
    assert!(
        out.changes
            .iter()
            .all(|c| c.takes_effect == Effect::AfterDockerdRestart)
    );
    assert!(
        out.changes[1].summary.contains("new containers")
            || out.changes[1].summary.contains("containers created after")
    );
    let again = apply_and_recheck(&root, &out, &profile);
    assert!(again.findings.is_empty(), "{:#?}", again.findings);
    assert_eq!(
        semantic(&read(&dir, "/etc/docker/daemon.json")),
        semantic(&expected(C01, "/etc/docker/daemon.json"))
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640, "mode kept");
}

#[test]
fn c01_empty_file_is_an_error_and_is_replaced() {
    c01_check("input", "empty (0 bytes)");
}

#[test]
fn c01_whitespace_file_is_an_error_and_is_replaced() {
    c01_check("input-variant-whitespace", "whitespace only");
}

#[test]
fn c01_absent_file_is_created_0644() {
    let profile = only(&["daemon-icc", "daemon-no-new-privileges"]);
    let (dir, root) = case(C01, "input");
    std::fs::remove_file(dir.path().join("etc/docker/daemon.json")).unwrap();
    let out = run(&root, &profile).unwrap();
    assert!(out.findings.is_empty(), "{:#?}", out.findings);
    assert_eq!(out.changes.len(), 2);
    assert!(
        out.changes[0].summary.contains("creates the file"),
        "{}",
        out.changes[0].summary
    );
    match &out.changes[0].action {
        Action::WriteFile { mode, .. } => assert_eq!(*mode, 0o644),
        other => panic!("{other:?}"),
    }
    apply_and_recheck(&root, &out, &profile);
    assert_eq!(
        semantic(&read(&dir, "/etc/docker/daemon.json")),
        semantic(&expected(C01, "/etc/docker/daemon.json"))
    );
    let mode = std::fs::metadata(dir.path().join("etc/docker/daemon.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o644);
}

#[test]
fn absent_etc_docker_is_created_first() {
    let profile = only(&["daemon-icc"]);
    let (dir, root) = empty_root();
    std::fs::create_dir(dir.path().join("etc")).unwrap();
    let out = run(&root, &profile).unwrap();
    assert_eq!(out.changes.len(), 2, "{:#?}", out.changes);
    assert!(matches!(&out.changes[0].action, Action::CreateDir { path, .. } if path == "/etc/docker"));
    apply_and_recheck(&root, &out, &profile);
    assert_eq!(read(&dir, "/etc/docker/daemon.json"), b"{\n  \"icc\": false\n}\n");
}

#[test]
fn c02_trailing_comma_is_refused_with_line_and_column() {
    let name = "C02-daemon-json-trailing-comma";
    let (dir, root) = case(name, "input");
    let before = read(&dir, "/etc/docker/daemon.json");
    let err = run(&root, &only(&["daemon-icc"])).unwrap_err();
    assert_eq!(
        err.message(),
        "/etc/docker/daemon.json:3:38: invalid character ']' looking for beginning of value; dockerd cannot start with this file"
    );
    assert_eq!(read(&dir, "/etc/docker/daemon.json"), before);
}

#[test]
fn c03_bom_and_crlf_are_kept_byte_for_byte() {
    let name = "C03-daemon-json-bom-crlf";
    let profile = only(&["daemon-icc"]);
    let (dir, root) = case(name, "input");
    let out = run(&root, &profile).unwrap();
    assert_eq!(out.changes.len(), 1);
    assert_eq!(
        out.changes[0].summary,
        "set \"icc\": false in /etc/docker/daemon.json (was true)"
    );
    apply_and_recheck(&root, &out, &profile);
    assert_eq!(
        read(&dir, "/etc/docker/daemon.json"),
        expected(name, "/etc/docker/daemon.json")
    );
}

#[test]
fn c03_utf16_is_read_but_not_written() {
    let name = "C03-daemon-json-bom-crlf";
    let (dir, root) = case(name, "input-variant-utf16le");
    let before = read(&dir, "/etc/docker/daemon.json");
    let out = run(&root, &only(&["daemon-icc", "daemon-live-restore"])).unwrap();
    assert!(out.changes.is_empty(), "{:#?}", out.changes);
    let found = findings_with(&out, "UTF-16 daemon.json: read-only support");
    assert_eq!(found.len(), 2, "{:#?}", out.findings);
    assert_eq!(found[0].rule, "daemon-icc");
    assert!(
        found[0].message.contains("set \"icc\": false (was true)"),
        "{}",
        found[0].message
    );
    assert_eq!(read(&dir, "/etc/docker/daemon.json"), before);
    // Compliant UTF-16: nothing to say.
    let out = run(&root, &only(&["daemon-userland-proxy"])).unwrap();
    assert_eq!(out.findings.len(), 1, "{:#?}", out.findings);
}

#[test]
fn c05_new_member_follows_tabs_and_keeps_features() {
    let name = "C05-daemon-json-comments";
    let profile = only(&["daemon-no-new-privileges"]);
    let (dir, root) = case(name, "input");
    let out = run(&root, &profile).unwrap();
    assert!(out.findings.is_empty(), "{:#?}", out.findings);
    assert_eq!(out.changes.len(), 1);
    apply_and_recheck(&root, &out, &profile);
    assert_eq!(
        read(&dir, "/etc/docker/daemon.json"),
        expected(name, "/etc/docker/daemon.json")
    );
}

#[test]
fn c05_feature_note_is_shown_next_to_the_change_it_concerns() {
    let (_dir, root) = case("C05-daemon-json-comments", "input");
    let out = run(&root, &only(&["daemon-userland-proxy"])).unwrap();
    assert_eq!(out.changes.len(), 1);
    let change = &out.changes[0];
    assert!(
        change.summary.contains("userland-proxy stays on"),
        "{}",
        change.summary
    );
    assert!(
        change.may_break.as_deref().unwrap().contains("001 note"),
        "{:?}",
        change.may_break
    );
}

#[test]
fn c05_slash_comments_are_refused_at_2_3() {
    let (dir, root) = case("C05-daemon-json-comments", "input-variant-slash-comments");
    let before = read(&dir, "/etc/docker/daemon.json");
    let err = run(&root, &only(&["daemon-no-new-privileges"])).unwrap_err();
    assert!(
        err.message().starts_with(
            "/etc/docker/daemon.json:2:3: invalid character '/' looking for beginning of object key string"
        ),
        "{err}"
    );
    assert_eq!(read(&dir, "/etc/docker/daemon.json"), before);
}

const C07: &str = "C07-systemd-unit-hosts-fd-conflict";

#[test]
fn c07_hosts_conflict_and_plain_tcp_are_critical() {
    let (dir, root) = case(C07, "input");
    let before = read(&dir, "/etc/docker/daemon.json");
    let out = run(&root, "").unwrap();
    let hosts = findings_with(&out, "conflict on \"hosts\"");
    assert_eq!(hosts.len(), 1, "{:#?}", out.findings);
    assert_eq!(hosts[0].severity, Severity::Critical);
    assert_eq!(hosts[0].rule, "daemon-unit-conflicts");
    assert!(hosts[0].message.contains("BLOCKER"));
    assert!(
        hosts[0]
            .message
            .contains("/etc/systemd/system/docker.service.d/10-remote-api.conf:3"),
        "{}",
        hosts[0].message
    );
    assert!(hosts[0].message.contains("docker.socket"), "{}", hosts[0].message);
    let tcp = findings_with(&out, "tcp://0.0.0.0:2375");
    let tcp: Vec<_> = tcp.iter().filter(|f| f.rule == "daemon-tcp-tls").collect();
    assert_eq!(tcp.len(), 1, "{:#?}", out.findings);
    assert_eq!(tcp[0].severity, Severity::Critical);
    // No listener from daemon.json is reported as plain TCP: unix:// is fine.
    assert!(
        findings_with(&out, "unix:///var/run/docker.sock")
            .iter()
            .all(|f| f.rule != "daemon-tcp-tls")
    );
    // Hardening still planned, but never `hosts`, and no unit is touched.
    assert!(!out.changes.is_empty());
    assert!(out.changes.iter().all(|c| c.target == "/etc/docker/daemon.json"));
    assert!(!out.changes.iter().any(|c| c.summary.contains("hosts")));
    apply_changes(&root, &out.changes);
    let after = semantic(&read(&dir, "/etc/docker/daemon.json"));
    assert_eq!(after["hosts"], semantic(&before)["hosts"]);
    assert_eq!(after["icc"], serde_json::json!(false));
}

#[test]
fn tcp_with_tlsverify_is_fine() {
    let (dir, root) = case(C07, "input");
    std::fs::write(
        dir.path().join("etc/systemd/system/docker.service.d/10-remote-api.conf"),
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// -Htcp://0.0.0.0:2376 --tlsverify --tlscacert=/etc/docker/ca.pem\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("etc/docker/daemon.json"), "{\"icc\": false}\n").unwrap();
    let out = run(&root, &only(&["daemon-tcp-tls", "daemon-unit-conflicts"])).unwrap();
    assert!(out.findings.is_empty(), "{:#?}", out.findings);
    // Loopback without TLS: high, not critical.
    std::fs::write(
        dir.path()
            .join("etc/systemd/system/docker.service.d/10-remote-api.conf"),
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// --host=tcp://127.0.0.1:2375\n",
    )
    .unwrap();
    let out = run(&root, &only(&["daemon-tcp-tls"])).unwrap();
    assert_eq!(out.findings.len(), 1, "{:#?}", out.findings);
    assert_eq!(out.findings[0].severity, Severity::High);
}

const C08: &str = "C08-systemd-unit-dropin-execstart-reset";
const OVERRIDE: &str = "/etc/systemd/system/docker.service.d/override.conf";
const PROXY: &str = "/etc/systemd/system/docker.service.d/http-proxy.conf";

#[test]
fn c08_unloadable_unit_is_reported_and_repaired() {
    let profile = only(&["daemon-icc", "daemon-userns-remap", "daemon-unit-conflicts"]);
    let (dir, root) = case(C08, "input");
    let out = run(&root, &profile).unwrap();
    let blocker = findings_with(&out, "docker.service cannot be loaded");
    assert_eq!(blocker.len(), 1, "{:#?}", out.findings);
    assert_eq!(blocker[0].severity, Severity::Critical);
    assert!(
        blocker[0]
            .message
            .contains("more than one ExecStart= for Type=notify")
    );
    assert!(blocker[0].message.contains(OVERRIDE), "{}", blocker[0].message);
    assert!(blocker[0].message.contains("not in effect"));
    let latent = findings_with(&out, "Latent conflict on \"userns-remap\"");
    assert_eq!(latent.len(), 1, "{:#?}", out.findings);
    assert!(
        latent[0]
            .message
            .contains("--userns-remap=default in /etc/systemd/system/docker.service.d/override.conf:2")
    );
    // The repair: icc moves into daemon.json, the drop-in resets ExecStart.
    let targets: Vec<(&str, &str)> = out
        .changes
        .iter()
        .map(|c| (c.target.as_str(), c.rule.as_str()))
        .collect();
    assert_eq!(
        targets,
        vec![
            ("/etc/docker/daemon.json", "daemon-unit-conflicts"),
            (OVERRIDE, "daemon-unit-conflicts")
        ],
        "{:#?}",
        out.changes
    );
    assert!(
        out.changes[1]
            .summary
            .contains("--userns-remap=default --icc=false"),
        "{}",
        out.changes[1].summary
    );
    assert!(out.changes[1].disruptive, "userns-remap takes effect");
    assert!(
        out.changes[1]
            .may_break
            .as_deref()
            .unwrap()
            .contains("NOT VISIBLE")
    );
    let again = apply_and_recheck(&root, &out, &profile);
    assert!(
        again.findings.iter().all(|f| f.severity < Severity::High),
        "{:#?}",
        again.findings
    );
    assert_eq!(read(&dir, OVERRIDE), expected(C08, OVERRIDE));
    assert_eq!(read(&dir, PROXY), expected(C08, PROXY));
    assert_eq!(
        semantic(&read(&dir, "/etc/docker/daemon.json")),
        semantic(&expected(C08, "/etc/docker/daemon.json"))
    );
    // With icc already set through the flag, the icc rule is not asked to add
    // it again (it came through the move).
    assert!(!out.changes.iter().any(|c| c.rule == "daemon-icc"));
}

#[test]
fn c08_repair_is_refused_when_flag_and_file_disagree() {
    let (dir, root) = case(C08, "input");
    std::fs::write(
        dir.path().join("etc/docker/daemon.json"),
        "{\n  \"userns-remap\": \"someone\"\n}\n",
    )
    .unwrap();
    let out = run(&root, &only(&["daemon-icc", "daemon-unit-conflicts"])).unwrap();
    assert!(out.changes.is_empty(), "{:#?}", out.changes);
    let refused = findings_with(&out, "does not repair docker.service automatically");
    assert_eq!(refused.len(), 1, "{:#?}", out.findings);
    assert!(refused[0].message.contains("disagree"), "{}", refused[0].message);
    // The disabled repair rule: no repair, and icc is not added because the
    // (latent) command line sets it.
    let out = run(&root, &only(&["daemon-icc"])).unwrap();
    assert!(out.changes.is_empty(), "{:#?}", out.changes);
}

fn write(dir: &tempfile::TempDir, path: &str, text: &str) {
    let p = dir.path().join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const UNIT: &str = "/lib/systemd/system/docker.service";

#[test]
fn flags_block_keys_and_can_be_compliant() {
    let (dir, root) = empty_root();
    write(
        &dir,
        UNIT,
        "[Service]\nType=notify\nExecStart=/usr/bin/dockerd -H fd:// --icc=false --live-restore=false\n",
    );
    write(&dir, "/etc/docker/daemon.json", "{}\n");
    let out = run(
        &root,
        &only(&["daemon-icc", "daemon-live-restore", "daemon-unit-conflicts"]),
    )
    .unwrap();
    assert!(out.changes.is_empty(), "{:#?}", out.changes);
    assert_eq!(out.findings.len(), 1, "{:#?}", out.findings);
    assert_eq!(out.findings[0].rule, "daemon-live-restore");
    assert!(
        out.findings[0]
            .message
            .contains("--live-restore=false in /lib/systemd/system/docker.service:3")
    );
    // A key in both places: critical conflict.
    write(&dir, "/etc/docker/daemon.json", "{\n  \"icc\": false\n}\n");
    let out = run(&root, &only(&["daemon-unit-conflicts"])).unwrap();
    let conflict = findings_with(&out, "conflict on \"icc\"");
    assert_eq!(conflict.len(), 1, "{:#?}", out.findings);
    assert_eq!(conflict[0].severity, Severity::Critical);
}

#[test]
fn fd_host_without_docker_socket_is_reported() {
    let (dir, root) = case(C07, "input");
    let profile = only(&["daemon-unit-conflicts"]);
    let out = run(&root, &profile).unwrap();
    assert!(
        findings_with(&out, "socket activation").is_empty(),
        "{:#?}",
        out.findings
    );
    // Masked: dockerd cannot get its socket.
    std::fs::remove_file(dir.path().join("lib/systemd/system/docker.socket")).unwrap();
    write(&dir, "/etc/systemd/system/docker.socket", "");
    std::fs::remove_file(dir.path().join("etc/systemd/system/docker.socket")).unwrap();
    std::os::unix::fs::symlink("/dev/null", dir.path().join("etc/systemd/system/docker.socket")).unwrap();
    let out = run(&root, &profile).unwrap();
    let found = findings_with(&out, "docker.socket is masked");
    assert_eq!(found.len(), 1, "{:#?}", out.findings);
    assert!(
        found[0]
            .message
            .contains("-H fd:// in /etc/systemd/system/docker.service.d/10-remote-api.conf:3")
    );
    // Absent in an offline tree (maybe a partial copy): not reported.
    std::fs::remove_file(dir.path().join("etc/systemd/system/docker.socket")).unwrap();
    let out = run(&root, &profile).unwrap();
    assert!(
        findings_with(&out, "socket activation").is_empty(),
        "{:#?}",
        out.findings
    );
}

#[test]
fn wrong_types_are_errors_and_nothing_is_written() {
    let (dir, root) = empty_root();
    write(
        &dir,
        "/etc/docker/daemon.json",
        "{\n  \"log-level\": \"warn\",\n  \"icc\": \"false\",\n  \"insecure-registries\": \"r:5000\"\n}\n",
    );
    let out = run(&root, "").unwrap();
    assert!(out.changes.is_empty(), "{:#?}", out.changes);
    let errors: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.status == Status::Error)
        .collect();
    assert_eq!(errors.len(), 2, "{:#?}", out.findings);
    assert_eq!(errors[0].rule, "daemon-icc");
    assert!(
        errors[0]
            .message
            .contains(":3: \"icc\" must be bool, not string \"false\""),
        "{}",
        errors[0].message
    );
    assert_eq!(errors[1].rule, "daemon-insecure-registries");
    assert!(errors[1].message.contains(":4:"), "{}", errors[1].message);
}

#[test]
fn full_default_plan_is_idempotent() {
    let (dir, root) = empty_root();
    write(
        &dir,
        UNIT,
        "[Unit]\nRequires=docker.socket\n[Service]\nType=notify\nEnvironmentFile=-/etc/default/docker\nExecStart=/usr/bin/dockerd -H fd:// $DOCKER_OPTS\n",
    );
    write(
        &dir,
        "/etc/default/docker",
        "DOCKER_OPTS=\"--containerd=/run/containerd/containerd.sock\"\n",
    );
    write(
        &dir,
        "/etc/selinux/config",
        "# c\nSELINUX=permissive\nSELINUXTYPE=targeted\n",
    );
    let text = "{\n    \"insecure-registries\": [\"10.0.0.5:5000\", \"registry.local\"],\n    \"icc\": true,\n    \"seccomp-profile\": \"unconfined\",\n    \"log-driver\": \"local\",\n    \"userns-remap\": \"\"\n}\n";
    write(&dir, "/etc/docker/daemon.json", text);
    let out = run(&root, "").unwrap();
    assert!(out.findings.is_empty(), "{:#?}", out.findings);
    let summaries: Vec<&str> = out.changes.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(out.changes.len(), 8, "{summaries:#?}");
    assert!(summaries.contains(&"remove \"insecure-registries\" (registries \"10.0.0.5:5000\", \"registry.local\") from /etc/docker/daemon.json; dockerd drops them at its next restart (a SIGHUP keeps the registries it runs with)"), "{summaries:#?}");
    let remap = out
        .changes
        .iter()
        .find(|c| c.rule == "daemon-userns-remap")
        .unwrap();
    assert!(remap.disruptive);
    assert!(remap.may_break.as_deref().unwrap().contains("NOT VISIBLE"));
    assert!(
        out.changes
            .iter()
            .any(|c| c.summary.starts_with("set \"selinux-enabled\": true"))
    );
    apply_and_recheck(&root, &out, "");
    let after = String::from_utf8(read(&dir, "/etc/docker/daemon.json")).unwrap();
    assert_eq!(
        after,
        "{\n    \"icc\": false,\n    \"log-driver\": \"local\",\n    \"userns-remap\": \"default\",\n    \"no-new-privileges\": true,\n    \"live-restore\": true,\n    \"userland-proxy\": false,\n    \"selinux-enabled\": true\n}\n"
    );
}

#[test]
fn selinux_only_where_the_host_runs_it() {
    let profile = only(&["daemon-selinux"]);
    let (dir, root) = empty_root();
    write(&dir, "/etc/docker/daemon.json", "{}\n");
    assert!(run(&root, &profile).unwrap().changes.is_empty());
    write(&dir, "/etc/selinux/config", "SELINUX=disabled\n");
    let out = run(&root, &profile).unwrap();
    assert!(out.changes.is_empty() && out.findings.is_empty());
    write(&dir, "/etc/selinux/config", "SELINUX=enforcing\n");
    assert_eq!(run(&root, &profile).unwrap().changes.len(), 1);
}

#[test]
fn legacy_default_file_without_unit_is_reported_and_respected() {
    let (dir, root) = empty_root();
    write(
        &dir,
        "/etc/default/docker",
        "# opts\nDOCKER_OPTS=\"--icc=true --dns 8.8.8.8\"\n",
    );
    write(&dir, "/etc/docker/daemon.json", "{}\n");
    let out = run(&root, &only(&["daemon-icc", "daemon-unit-conflicts"])).unwrap();
    assert!(out.changes.is_empty(), "{:#?}", out.changes);
    let info = findings_with(&out, "/etc/default/docker:2: DOCKER_OPTS");
    assert_eq!(info.len(), 1, "{:#?}", out.findings);
    assert_eq!(info[0].severity, Severity::Info);
    assert!(out.findings.iter().any(|f| f.rule == "daemon-icc"));
}

#[test]
fn config_file_flag_moves_the_target() {
    let (dir, root) = empty_root();
    write(
        &dir,
        UNIT,
        "[Service]\nExecStart=/usr/bin/dockerd --config-file /etc/docker/custom.json\n",
    );
    write(&dir, "/etc/docker/custom.json", "{\"icc\": true}");
    let out = run(&root, &only(&["daemon-icc"])).unwrap();
    assert_eq!(out.changes.len(), 1);
    assert_eq!(out.changes[0].target, "/etc/docker/custom.json");
    apply_and_recheck(&root, &out, &only(&["daemon-icc"]));
    assert_eq!(read(&dir, "/etc/docker/custom.json"), b"{\"icc\": false}");
    assert!(!Path::new(&dir.path().join("etc/docker/daemon.json")).exists());
}

#[test]
fn read_daemon_json_keeps_three_states_apart() {
    let (dir, root) = empty_root();
    assert_eq!(read_daemon_json(&root).unwrap(), DaemonJson::Absent);
    write(&dir, DAEMON_JSON, "");
    assert_eq!(read_daemon_json(&root).unwrap(), DaemonJson::Empty { size: 0 });
    write(&dir, DAEMON_JSON, " \n\t\n");
    assert_eq!(read_daemon_json(&root).unwrap(), DaemonJson::Empty { size: 4 });
    write(&dir, DAEMON_JSON, "{\"icc\": false}");
    match read_daemon_json(&root).unwrap() {
        DaemonJson::Parsed(doc) => assert_eq!(doc.get("icc").unwrap().value, Value::Bool(false)),
        other => panic!("{other:?}"),
    }
    write(&dir, DAEMON_JSON, "{\"icc\": false,}");
    assert!(read_daemon_json(&root).unwrap_err().message().contains(":1:15:"));
}

#[test]
fn json_value_reads_what_dockerd_reads() {
    let value = super::json_value(b"\xef\xbb\xbf{\"data-root\": \"/srv/docker\"}\r\n").unwrap();
    assert_eq!(value["data-root"], "/srv/docker");
    let mut utf16 = vec![0xff, 0xfe];
    for unit in "{\"bip\": \"172.18.0.1/16\"}".encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    assert_eq!(super::json_value(&utf16).unwrap()["bip"], "172.18.0.1/16");
    assert!(super::json_value(b"{\"icc\": true,}").is_err());
}
