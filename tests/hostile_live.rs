//! Hostile tests of the live steps (firewall, remount, dockerd reload,
//! health check), each in its own throwaway sandbox host (see
//! `sandbox_host`): never on this machine's firewall, mounts or /etc.
//! Each test states what it expects of dockhard; a failing test names a
//! defect.

mod sandbox_host;

use sandbox_host::{MachineState, Out, Sandbox};

/// The digest dockhard would give the edited plan: these tests are about
/// the checks behind it (the digest detects hand edits; anyone can
/// recompute it).
fn reseal(plan: &mut serde_json::Value) {
    plan.as_object_mut().unwrap().remove("digest");
    let parsed: dockhard::plan::Plan = serde_json::from_value(plan.clone()).unwrap();
    plan["digest"] = parsed.digest().into();
}

fn show(what: &str, out: &Out) -> String {
    format!(
        "{what} exited {}\n--- stdout\n{}\n--- stderr\n{}",
        out.code, out.stdout, out.stderr
    )
}

/// Writes a profile into the sandbox's work folder; its path.
fn profile(sb: &Sandbox, name: &str, text: &str) -> String {
    let path = sb.work.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Imports an image made of the files `script` creates in "$R" (a fresh
/// folder), with `docker import` options `opts`, as `tag`.
fn import(sb: &Sandbox, tag: &str, opts: &str, script: &str) {
    sb.sh_ok(&format!(
        "set -e; R=$(mktemp -d /tmp/img.XXXXXX); {script}; tar -C \"$R\" -cf \"$R.tar\" .; \
         docker import {opts} \"$R.tar\" {tag} >/dev/null; rm -rf \"$R\" \"$R.tar\""
    ));
}

/// A hand-edited saved plan must not make dockhard run a command the
/// profile never named: the dockerd restart command comes from the
/// daemon-reload rule's `restart_command` (or systemctl), and a plan file
/// whose `DockerdReload` step carries another command should be refused.
#[test]
fn plan_file_with_a_hand_edited_restart_command_is_refused() {
    let machine = MachineState::capture();
    {
        let sb = Sandbox::start("hl-cmd", "");
        let prof = profile(
            &sb,
            "profile.toml",
            &format!(
                "[rules.daemon-reload]\nrestart_command = [\"{}\"]\n",
                sb.restart_script().display()
            ),
        );
        let plan = sb.dockhard(&[
            "--profile",
            &prof,
            "plan",
            "--only",
            "daemon",
            "--restart-docker",
            "--out",
            "/run/plan.json",
        ]);
        assert!(plan.code == 0 || plan.code == 2, "{}", show("plan", &plan));
        let mut value: serde_json::Value = serde_json::from_slice(&sb.read("/run/plan.json")).unwrap();
        let mut edited = false;
        for change in value["changes"].as_array_mut().unwrap() {
            let action = &mut change["action"];
            if let Some(restart) = action.get_mut("restart") {
                *restart = serde_json::json!([
                    "/bin/sh",
                    "-c",
                    format!("touch /run/pwned; exec {}", sb.restart_script().display())
                ]);
                edited = true;
            }
        }
        assert!(edited, "no dockerd step in the plan: {}", plan.stdout);
        reseal(&mut value);
        sb.write(
            "/run/plan.json",
            serde_json::to_string(&value).unwrap().as_bytes(),
        );
        // The default profile: no restart_command at all; no --restart-docker.
        let apply = sb.dockhard(&["apply", "--yes", "/run/plan.json"]);
        let pwned = sb.sh("test -e /run/pwned").ok();
        assert!(
            !pwned,
            "dockhard ran a command taken from the plan file that no profile named \
             (no --restart-docker either):\n{}",
            show("apply PLAN", &apply)
        );
    }
    MachineState::capture().assert_same(&machine);
}

fn iptables_apply_with_images(label: &str, setup: impl Fn(&Sandbox)) {
    let machine = MachineState::capture();
    {
        let sb = Sandbox::start(label, "");
        setup(&sb);
        let images = sb.sh_ok("docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}'");
        let apply = sb.dockhard(&["apply", "--yes", "--only", "iptables"]);
        assert!(
            apply.ok() && !sb.tagged_rules().is_empty(),
            "a live apply on a healthy host was undone by its own health check; images:\n{images}\n{}",
            show("apply --only iptables", &apply)
        );
    }
    MachineState::capture().assert_same(&machine);
}

/// The health check runs a container of the *smallest* image only: on a
/// host whose smallest image has no `true` and no shell (hello-world, or
/// any `FROM scratch` image with one static binary) every live apply is
/// undone although the host is fine.
#[test]
fn health_check_does_not_undo_a_healthy_run_because_the_smallest_image_is_scratch() {
    iptables_apply_with_images("hl-scratch", |sb| {
        import(sb, "hello:1", "", "echo hi >\"$R/hello\"");
    });
}

/// The health check passes `Cmd: ["true"]` without resetting the image's
/// ENTRYPOINT: with an image whose entrypoint does not exec its arguments
/// the probe fails, and the healthy run is undone.
#[test]
fn health_check_does_not_undo_a_healthy_run_because_of_an_image_entrypoint() {
    iptables_apply_with_images("hl-entry", |sb| {
        sb.sh_ok("docker rmi bb:1 >/dev/null");
        import(
            sb,
            "ep:1",
            "--change 'ENTRYPOINT [\"/bin/cat\"]'",
            "mkdir \"$R/bin\"; cp /bin/busybox \"$R/bin/\"; for a in cat true sh; do ln -s busybox \"$R/bin/$a\"; done",
        );
    });
}

/// A blocked destination of 0.0.0.0/0 is written `-d 0.0.0.0/0`, which
/// `iptables -S` does not print: the read-back check fails on every apply.
#[test]
fn blocked_destination_everything_is_loaded_and_the_plan_becomes_empty() {
    let machine = MachineState::capture();
    {
        let sb = Sandbox::start("hl-any", "");
        let prof = profile(
            &sb,
            "profile.toml",
            "[rules.iptables-docker-user]\nblocked_destinations = [\"0.0.0.0/0\"]\n",
        );
        let apply = sb.dockhard(&["--profile", &prof, "apply", "--yes", "--only", "iptables"]);
        assert!(apply.ok(), "{}", show("apply", &apply));
        let plan = sb.dockhard(&[
            "--profile",
            &prof,
            "plan",
            "--only",
            "iptables",
            "--detailed-exitcode",
        ]);
        assert_eq!(plan.code, 0, "{}", show("plan after apply", &plan));
    }
    MachineState::capture().assert_same(&machine);
}

/// Someone mounts another file system over the remounted point after the
/// apply. Rollback must still restore everything else (fstab, …) and
/// report the mount as left alone, not give up on the whole snapshot.
#[test]
fn rollback_after_the_mount_was_replaced_restores_the_rest() {
    let machine = MachineState::capture();
    {
        let sb = Sandbox::start("hl-mnt", "");
        let fstab_before = {
            let mut fstab = sb.read("/etc/fstab");
            fstab.extend_from_slice(b"tmpfs\t/tmp\ttmpfs\tdefaults\t0 0\n");
            sb.write("/etc/fstab", &fstab);
            fstab
        };
        let prof = profile(&sb, "profile.toml", "[rules.mount-nosuid]\npoints = [\"/tmp\"]\n");
        let apply = sb.dockhard(&["--profile", &prof, "apply", "--yes", "--only", "mount"]);
        assert!(apply.ok(), "{}", show("apply", &apply));
        assert_ne!(sb.read("/etc/fstab"), fstab_before, "apply changed nothing");
        sb.mount_tmpfs_over("/tmp", "mode=1777");
        let rollback = sb.dockhard(&["--profile", &prof, "rollback", "--yes", "--force"]);
        assert_eq!(
            sb.read("/etc/fstab"),
            fstab_before,
            "fstab was not restored because another mount now covers /tmp:\n{}",
            show("rollback --force", &rollback)
        );
    }
    MachineState::capture().assert_same(&machine);
}

/// A mount point whose path has a space (`\040` in fstab and mountinfo),
/// mounted read-only and nosuid already: the live remount adds nodev and
/// keeps ro; the plan is empty afterwards; rollback restores the flags.
#[test]
fn remount_of_an_escaped_read_only_point_keeps_ro_and_is_idempotent() {
    let machine = MachineState::capture();
    {
        let sb = Sandbox::start("hl-esc", "");
        sb.sh_ok("mkdir -p '/tmp/sp ace' && mount -t tmpfs -o ro,nosuid,size=1m tmpfs '/tmp/sp ace'");
        let mut fstab = sb.read("/etc/fstab");
        fstab.extend_from_slice(b"tmpfs\t/tmp/sp\\040ace\ttmpfs\tro,nosuid,size=1m\t0 0\n");
        sb.write("/etc/fstab", &fstab);
        let prof = profile(
            &sb,
            "profile.toml",
            "[rules.mount-nosuid]\npoints = [\"/tmp/sp ace\"]\n",
        );
        let apply = sb.dockhard(&["--profile", &prof, "apply", "--yes", "--only", "mount"]);
        let flags = sb.sh_ok("grep 'sp\\\\040ace' /proc/self/mountinfo");
        eprintln!("{}\nmountinfo: {flags}", show("apply", &apply));
        assert!(apply.ok(), "{}", show("apply", &apply));
        let opts = flags.split_whitespace().nth(5).unwrap().to_string();
        assert!(
            opts.contains("ro") && opts.contains("nosuid") && opts.contains("nodev"),
            "{opts}"
        );
        let plan = sb.dockhard(&[
            "--profile",
            &prof,
            "plan",
            "--only",
            "mount",
            "--detailed-exitcode",
        ]);
        assert_eq!(plan.code, 0, "{}", show("plan", &plan));
        let rollback = sb.dockhard(&["--profile", &prof, "rollback", "--yes"]);
        assert!(rollback.ok(), "{}", show("rollback", &rollback));
        let flags = sb.sh_ok("grep 'sp\\\\040ace' /proc/self/mountinfo");
        let opts = flags.split_whitespace().nth(5).unwrap().to_string();
        assert!(!opts.contains("nodev") && opts.contains("ro"), "{opts}");
        assert_eq!(sb.read("/etc/fstab"), fstab);
    }
    MachineState::capture().assert_same(&machine);
}

/// An admin removes one of dockhard's tagged rules by hand and adds one of
/// their own to DOCKER-USER: rollback (forced past the drift) removes the
/// remaining tagged rules and leaves the admin's rule.
#[test]
fn rollback_after_a_tagged_rule_was_removed_by_hand_keeps_the_admins_rule() {
    let machine = MachineState::capture();
    {
        let sb = Sandbox::start("hl-fw", "");
        let apply = sb.dockhard(&["apply", "--yes", "--only", "iptables"]);
        assert!(apply.ok(), "{}", show("apply", &apply));
        sb.sh_ok("iptables -D INPUT -i docker0 -p tcp -m multiport --dports 2375,2376 -m comment --comment dockhard:iptables-docker-user -j REJECT --reject-with tcp-reset && iptables -I DOCKER-USER 1 -s 10.9.9.9/32 -j DROP && iptables -A DOCKER-USER -s 10.8.8.8/32 -j DROP");
        let plain = sb.dockhard(&["rollback", "--yes"]);
        eprintln!("{}", show("rollback", &plain));
        let forced = sb.dockhard(&["rollback", "--yes", "--force"]);
        eprintln!("{}", show("rollback --force", &forced));
        assert!(forced.ok(), "{}", show("rollback --force", &forced));
        assert!(sb.tagged_rules().is_empty(), "{:?}", sb.tagged_rules());
        let user = sb.sh_ok("iptables -S DOCKER-USER");
        assert!(user.contains("10.9.9.9") && user.contains("10.8.8.8"), "{user}");
    }
    MachineState::capture().assert_same(&machine);
}

/// A hand-edited saved plan whose firewall step carries another comment
/// as its "tag" makes dockhard delete the admin's own rules bearing that
/// comment. dockhard's live firewall step should only ever handle its own
/// tags (`dockhard:<rule id>`), and refuse the plan otherwise.
#[test]
fn plan_file_with_a_foreign_tag_does_not_delete_the_admins_rules() {
    let machine = MachineState::capture();
    {
        let sb = Sandbox::start("hl-tag", "");
        sb.sh_ok("iptables -I INPUT 1 -p tcp --dport 22 -m comment --comment ssh-allow -j ACCEPT");
        let admin = sb.sh_ok("iptables -S INPUT | grep ssh-allow").trim().to_string();
        let plan = sb.dockhard(&["plan", "--only", "iptables", "--out", "/run/plan.json"]);
        assert!(plan.code == 0 || plan.code == 2, "{}", show("plan", &plan));
        let mut value: serde_json::Value = serde_json::from_slice(&sb.read("/run/plan.json")).unwrap();
        let changes = value["changes"].as_array_mut().unwrap();
        changes.retain(|c| c["action"].get("tag").is_some());
        assert_eq!(changes.len(), 1, "{}", plan.stdout);
        let action = &mut changes[0]["action"];
        action["tag"] = serde_json::json!("ssh-allow");
        action["expect"] = serde_json::json!([admin.replacen("-A ", "filter ", 1)]);
        action["rules"] = serde_json::json!([]);
        reseal(&mut value);
        sb.write(
            "/run/plan.json",
            serde_json::to_string(&value).unwrap().as_bytes(),
        );
        let apply = sb.dockhard(&["apply", "--yes", "/run/plan.json"]);
        let after = sb.sh_ok("iptables -S INPUT");
        assert!(
            after.contains("ssh-allow"),
            "the admin's rule commented `ssh-allow` was deleted by a plan file step:\n{}",
            show("apply PLAN", &apply)
        );
    }
    MachineState::capture().assert_same(&machine);
}
