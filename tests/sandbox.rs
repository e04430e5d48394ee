//! End-to-end tests with a real Docker engine (DESIGN.md, test tier 4):
//! dockhard runs live (`--root /`) inside a throwaway sandbox host (see
//! `sandbox_host`) and the tests check the *effects* on real containers,
//! before the apply, after it, and after the rollback. They need root,
//! docker.io, iptables and busybox-static (`.ci/run` installs them) and
//! fail loudly, never skip, when something is missing. The suid kind is
//! left out of live runs: the sandbox shares this machine's root
//! filesystem, and the machine's own set-id files must stay as they are.

mod sandbox_host;

use sandbox_host::{MachineState, Sandbox};
use std::time::Instant;

const ONLY: &str = "mount,daemon,iptables,subid";

/// The sandbox's daemon.json before the run (kept byte for byte by rollback).
const DAEMON_JSON: &[u8] = b"{\n    \"log-level\": \"info\",\n    \"max-concurrent-downloads\": 3\n}\n";

fn profile(sb: &Sandbox, extra: &str) -> String {
    let path = sb.work.join("profile.toml");
    std::fs::write(
        &path,
        format!(
            "[rules.mount-nosuid]\npoints = [\"/tmp\"]\n\n[rules.daemon-reload]\nrestart_command = [\"{}\"]\n\n{extra}",
            sb.restart_script().display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// With `DOCKHARD_E2E_VERBOSE` set, prints what dockhard said.
fn trace(what: &str, out: &sandbox_host::Out) {
    if std::env::var_os("DOCKHARD_E2E_VERBOSE").is_some() {
        eprintln!("{}", show(what, out));
    }
}

fn show(what: &str, out: &sandbox_host::Out) -> String {
    format!(
        "{what} exited {}\n--- stdout\n{}\n--- stderr\n{}",
        out.code, out.stdout, out.stderr
    )
}

#[test]
fn live_apply_hardens_a_real_docker_host_and_rollback_restores_it() {
    let begun = Instant::now();
    let machine = MachineState::capture();
    {
        let sb = Sandbox::start("e2e", "");
        eprintln!(
            "sandbox up (dockerd + image) in {:.1} s",
            sb.start_time.as_secs_f64()
        );
        // The host as an operator left it: a daemon.json of their own, and
        // an fstab line for the /tmp tmpfs (mounted without nosuid).
        sb.write("/etc/docker/daemon.json", DAEMON_JSON);
        let mut fstab = sb.read("/etc/fstab");
        fstab.extend_from_slice(b"tmpfs\t/tmp\ttmpfs\tdefaults\t0 0\n");
        sb.write("/etc/fstab", &fstab);
        sb.restart_dockerd();
        let profile = profile(&sb, "");

        // Before: every weakness is there.
        assert!(
            sb.containers_ping(),
            "before: containers on the default bridge should reach each other"
        );
        assert_eq!(
            sb.container_root_uid(),
            0,
            "before: container root should be host root"
        );
        assert_eq!(
            sb.setuid_id_euid(),
            0,
            "before: a setuid-root id in /tmp should give euid 0"
        );
        assert!(
            sb.container_reaches_host_port(2375),
            "before: a container should reach the host's port 2375"
        );

        // Apply, live, with dockerd restarted through the profile's command.
        let t = Instant::now();
        let apply = sb.dockhard(&[
            "--profile",
            &profile,
            "apply",
            "--yes",
            "--only",
            ONLY,
            "--restart-docker",
        ]);
        trace("apply", &apply);
        assert!(apply.ok(), "{}", show("apply", &apply));
        eprintln!("apply took {:.1} s", t.elapsed().as_secs_f64());
        let daemon_json = String::from_utf8(sb.read("/etc/docker/daemon.json")).unwrap();
        for key in ["\"icc\": false", "\"userns-remap\": \"default\""] {
            assert!(daemon_json.contains(key), "{key} missing in {daemon_json}");
        }
        assert!(sb.dockerd_answers(), "dockerd should run after the apply");

        // After: the effects. userns-remap hides the old image; import again.
        sb.import_image();
        assert!(
            !sb.containers_ping(),
            "after: icc=false should stop container-to-container traffic"
        );
        let uid = sb.container_root_uid();
        assert!(
            uid >= 65536,
            "after: container root should be a subordinate uid, is {uid}"
        );
        assert_ne!(
            sb.setuid_id_euid(),
            0,
            "after: /tmp is nosuid, so the setuid id should not raise privilege"
        );
        assert!(
            !sb.container_reaches_host_port(2375),
            "after: a container should not reach the host's 2375 (rules: {:?})",
            sb.tagged_rules()
        );

        // The rules survive a dockerd restart, and a firewall reload that
        // empties DOCKER-USER is repaired by the persisted loader.
        let rules = sb.tagged_rules();
        assert!(!rules.is_empty(), "no dockhard rule in the sandbox's firewall");
        sb.restart_dockerd();
        assert_eq!(
            sb.tagged_rules(),
            rules,
            "dockerd's restart changed dockhard's rules"
        );
        assert!(
            !sb.container_reaches_host_port(2375),
            "after a dockerd restart: 2375 reachable"
        );
        sb.sh_ok("iptables -F DOCKER-USER && iptables -A DOCKER-USER -j RETURN");
        sb.sh_ok("/etc/dockhard/iptables-apply");
        assert_eq!(sb.tagged_rules(), rules, "the loader did not restore the rules");

        // Nothing left to do.
        let plan = sb.dockhard(&[
            "--profile",
            &profile,
            "plan",
            "--detailed-exitcode",
            "--only",
            ONLY,
            "--restart-docker",
        ]);
        assert_eq!(plan.code, 0, "{}", show("plan after apply", &plan));

        // Rollback restarts dockerd with the old daemon.json.
        let rollback = sb.dockhard(&["--profile", &profile, "rollback", "--yes"]);
        trace("rollback", &rollback);
        assert!(rollback.ok(), "{}", show("rollback", &rollback));
        assert!(sb.dockerd_answers(), "dockerd should run after the rollback");
        assert_eq!(
            sb.read("/etc/docker/daemon.json"),
            DAEMON_JSON,
            "daemon.json not restored"
        );
        assert_eq!(sb.read("/etc/fstab"), fstab, "fstab not restored");
        assert_eq!(
            sb.tagged_rules(),
            Vec::<String>::new(),
            "dockhard rules left after rollback"
        );
        assert!(
            sb.containers_ping(),
            "after rollback: containers should reach each other again"
        );
        assert_eq!(
            sb.container_root_uid(),
            0,
            "after rollback: container root is host root again"
        );
        assert_eq!(
            sb.setuid_id_euid(),
            0,
            "after rollback: /tmp honours set-id bits again"
        );
        assert!(
            sb.container_reaches_host_port(2375),
            "after rollback: a container reaches the host's 2375 again"
        );
    }
    machine.assert_same(&MachineState::capture());
    eprintln!("whole end-to-end test: {:.1} s", begun.elapsed().as_secs_f64());
}

#[test]
fn a_daemon_json_dockerd_refuses_is_never_left_in_place() {
    let machine = MachineState::capture();
    {
        let sb = Sandbox::start("refuse", "--icc=true");
        sb.write("/etc/docker/daemon.json", DAEMON_JSON);
        sb.restart_dockerd();
        let profile = profile(&sb, "[rules.daemon-userns-remap]\nenabled = false\n");

        // 1. The unit passes --icc=true: dockhard sees the flag and does not
        //    add "icc" (dockerd would refuse to start); the other keys go in
        //    and dockerd restarts with them.
        sb.write(
            "/etc/systemd/system/docker.service.d/override.conf",
            b"[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --icc=true\n",
        );
        let apply = sb.dockhard(&[
            "--profile",
            &profile,
            "apply",
            "--yes",
            "--only",
            "daemon",
            "--restart-docker",
        ]);
        assert!(apply.ok(), "{}", show("apply with --icc in the unit", &apply));
        let text = String::from_utf8(sb.read("/etc/docker/daemon.json")).unwrap();
        assert!(!text.contains("\"icc\""), "icc added despite the flag: {text}");
        assert!(text.contains("\"no-new-privileges\": true"), "{text}");
        assert!(sb.dockerd_answers(), "dockerd should run after the apply");
        let rollback = sb.dockhard(&["--profile", &profile, "rollback", "--yes"]);
        assert!(rollback.ok(), "{}", show("rollback", &rollback));
        assert_eq!(sb.read("/etc/docker/daemon.json"), DAEMON_JSON);

        // 2. The flag is given where dockhard cannot see it (a wrapper the
        //    unit does not show): dockerd refuses the new file at restart;
        //    dockhard puts the old file back, restarts dockerd again, and
        //    says so.
        std::fs::remove_file(sb.path("/etc/systemd/system/docker.service.d/override.conf")).unwrap();
        let t = Instant::now();
        let apply = sb.dockhard(&[
            "--profile",
            &profile,
            "apply",
            "--yes",
            "--only",
            "daemon",
            "--restart-docker",
        ]);
        eprintln!(
            "refused restart and restore took {:.1} s",
            t.elapsed().as_secs_f64()
        );
        trace("apply with a hidden --icc", &apply);
        assert_ne!(apply.code, 0, "{}", show("apply with a hidden --icc", &apply));
        assert!(
            apply
                .stderr
                .contains("specified both as a flag and in the configuration file"),
            "{}",
            show("apply", &apply)
        );
        assert!(apply.stderr.contains("undone"), "{}", show("apply", &apply));
        assert_eq!(
            sb.read("/etc/docker/daemon.json"),
            DAEMON_JSON,
            "the refused daemon.json was left in place"
        );
        assert!(sb.dockerd_answers(), "dockerd should run again after the restore");
        assert!(
            sb.containers_ping(),
            "dockerd runs with its old settings (icc on)"
        );
    }
    machine.assert_same(&MachineState::capture());
}

#[test]
fn a_failed_health_check_after_a_live_apply_undoes_it() {
    let machine = MachineState::capture();
    {
        let sb = Sandbox::start("health", "");
        sb.write("/etc/docker/daemon.json", DAEMON_JSON);
        sb.restart_dockerd();
        let profile = profile(&sb, "[rules.daemon-userns-remap]\nenabled = false\n");
        // The wrapper that starts dockerd changed behind dockhard's back: the
        // next dockerd answers, but no container can start any more.
        std::fs::write(
            sb.work.join("dockerd.flags"),
            "--add-runtime nope=/bin/false --default-runtime nope",
        )
        .unwrap();
        let apply = sb.dockhard(&[
            "--profile",
            &profile,
            "apply",
            "--yes",
            "--only",
            "daemon",
            "--restart-docker",
        ]);
        trace("apply with containers that cannot start", &apply);
        assert_ne!(apply.code, 0, "{}", show("apply", &apply));
        assert!(
            apply.stderr.contains("the host health check failed")
                && apply.stderr.contains("a test container does not run")
                && apply.stderr.contains("Every change of this run was undone"),
            "{}",
            show("apply", &apply)
        );
        assert_eq!(
            sb.read("/etc/docker/daemon.json"),
            DAEMON_JSON,
            "daemon.json not restored after the failed health check"
        );
        assert!(sb.dockerd_answers(), "dockerd should run again after the undo");
        assert!(
            sb.sh_ok("docker ps -a --filter label=dockhard.health -q")
                .trim()
                .is_empty(),
            "the health check's container was not removed"
        );
    }
    machine.assert_same(&MachineState::capture());
}

#[test]
fn reloadable_keys_go_in_with_sighup_and_the_others_wait_for_a_restart() {
    let machine = MachineState::capture();
    {
        let sb = Sandbox::start("sighup", "");
        // live-restore set (to false): a SIGHUP can change it and change it
        // back. (A key the file does not set keeps its running value on
        // SIGHUP, so adding one is applied with a restart.)
        let daemon_json: &[u8] = b"{\n    \"log-level\": \"info\",\n    \"live-restore\": false\n}\n";
        sb.write("/etc/docker/daemon.json", daemon_json);
        sb.restart_dockerd();
        // Without --restart-docker, keys that need a restart are planned
        // as pending, and no restart is planned.
        let profile_all = profile(&sb, "");
        let plan = sb.dockhard(&["--profile", &profile_all, "plan", "--only", "daemon"]);
        trace("plan without --restart-docker", &plan);
        assert!(
            plan.stdout.contains("take effect at the next dockerd restart")
                && plan.stdout.contains("--restart-docker")
                && !plan.stdout.contains("dockerd: restart with"),
            "{}",
            show("plan", &plan)
        );

        // live-restore alone: dockerd re-reads it on SIGHUP, no restart.
        let profile_reload = profile(
            &sb,
            "[rules.daemon-icc]\nenabled = false\n[rules.daemon-no-new-privileges]\nenabled = false\n\
             [rules.daemon-userland-proxy]\nenabled = false\n[rules.daemon-userns-remap]\nenabled = false\n",
        );
        let pid = sb.sh_ok("cat /run/docker.pid");
        assert_eq!(
            sb.sh_ok("docker info -f '{{.LiveRestoreEnabled}}'").trim(),
            "false"
        );
        let apply = sb.dockhard(&["--profile", &profile_reload, "apply", "--yes", "--only", "daemon"]);
        trace("apply of live-restore", &apply);
        assert!(apply.ok(), "{}", show("apply", &apply));
        assert!(
            apply.stdout.contains("dockerd: SIGHUP"),
            "{}",
            show("apply", &apply)
        );
        assert_eq!(
            sb.sh_ok("docker info -f '{{.LiveRestoreEnabled}}'").trim(),
            "true"
        );
        assert_eq!(
            sb.sh_ok("cat /run/docker.pid"),
            pid,
            "dockerd was restarted, not reloaded"
        );

        // Rollback reloads it again with the old file.
        let rollback = sb.dockhard(&["--profile", &profile_reload, "rollback", "--yes"]);
        assert!(rollback.ok(), "{}", show("rollback", &rollback));
        assert_eq!(sb.read("/etc/docker/daemon.json"), daemon_json);
        assert_eq!(
            sb.sh_ok("docker info -f '{{.LiveRestoreEnabled}}'").trim(),
            "false"
        );
        assert_eq!(sb.sh_ok("cat /run/docker.pid"), pid);
    }
    machine.assert_same(&MachineState::capture());
}
