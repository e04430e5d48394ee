//! Tier 3: the live firewall step, on a real kernel firewall in a throwaway
//! network namespace — never this machine's own.
//!
//! Each scenario runs a shell script inside `unshare --net --mount`: a new
//! network namespace (its own, empty, iptables-nft and iptables-legacy
//! rulesets) and a private mount namespace in which a copy of /etc is bound
//! over /etc and tmpfs over /run and /var/tmp, so `dockhard --root /` (which
//! a live step needs) writes its persisted files into the copy. Snapshots go
//! to a temp `--state-dir`. The scripts leave their observations in files
//! that the tests then check.
//!
//! These tests need root, `unshare` and the iptables tools (`.ci/run`
//! installs them): without them they fail, they do not skip. Each one also
//! checks that this machine's `iptables-save` and `iptables-legacy-save`
//! read the same before and after.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TAG: &str = "dockhard:iptables-docker-user";
const C20: &str = "C20-iptables-split-legacy-nft";
const C21: &str = "C21-iptables-docker-user-unreferenced";

fn case_file(case: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(case)
        .join(file)
}

/// Fails loudly when the tier cannot run here.
fn require_tools() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "tier-3 firewall tests need root (CI runs them as root); they never touch this machine's firewall"
    );
    for tool in [
        "unshare",
        "iptables",
        "iptables-save",
        "iptables-restore",
        "iptables-legacy",
        "iptables-legacy-save",
        "iptables-legacy-restore",
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
            .unwrap_or(false)
            || ["/usr/sbin", "/sbin", "/usr/bin"]
                .iter()
                .any(|d| Path::new(d).join(tool).exists());
        assert!(
            found,
            "{tool} is missing: install iptables and util-linux (.ci/run does)"
        );
    }
}

/// This machine's rulesets, read-only (comments and counters aside).
fn host_firewall() -> (String, String) {
    let save = |cmd: &str| {
        let out = Command::new(cmd)
            .output()
            .unwrap_or_else(|e| panic!("{cmd}: {e}"));
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        normalize_save(&String::from_utf8_lossy(&out.stdout))
    };
    (save("iptables-save"), save("iptables-legacy-save"))
}

/// `iptables-save` output without `#` lines and with zero counters.
fn normalize_save(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.rfind(" [") {
            Some(i) if l.starts_with(':') => format!("{} [0:0]", &l[..i]),
            _ => l.to_string(),
        })
        .map(|l| l + "\n")
        .collect()
}

/// The script prelude: `D` runs dockhard live on `/` with a private state
/// dir; `fw`/`fwl` print the nft/legacy rulesets normalized; `rc NAME CMD…`
/// runs a command with its output in NAME.out and NAME.err, keeping its
/// exit code in NAME.rc.
const PRELUDE: &str = r#"
D() { "$DOCKHARD" --root / --state-dir "$W/state" --color never "$@"; }
norm() { grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]$/ [0:0]/'; }
fw() { iptables-save | norm; }
fwl() { iptables-legacy-save | norm; }
rc() { f=$1; shift; c=0; "$@" >"$W/$f.out" 2>"$W/$f.err" || c=$?; echo "$c" >"$W/$f.rc"; }
"#;

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// Runs `script` (after the prelude) in new network and mount
    /// namespaces; panics with its output when it fails.
    fn run(script: &str) -> Sandbox {
        require_tools();
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path();
        std::fs::write(w.join("run.sh"), format!("{PRELUDE}\n{script}")).unwrap();
        let setup = r#"
            W=$1
            mount --make-rprivate /
            mkdir "$W/etc"
            cp -a /etc/. "$W/etc/"
            mount --bind "$W/etc" /etc
            mount -t tmpfs tmpfs /run
            mount -t tmpfs tmpfs /var/tmp
            exec sh -eu "$W/run.sh"
        "#;
        let out = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-eu",
                "-c",
                setup,
                "sandbox",
            ])
            .arg(w)
            .env("W", w)
            .env("DOCKHARD", env!("CARGO_BIN_EXE_dockhard"))
            .env("DOCKHARD_SYSLOG_SOCKET", "")
            .env("C20", case_file(C20, "input/cmd"))
            .env("C21", case_file(C21, "input/cmd"))
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .output()
            .expect("unshare");
        assert!(
            out.status.success(),
            "sandbox script failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Sandbox { dir }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn rc(&self, name: &str) -> i32 {
        self.read(&format!("{name}.rc")).trim().parse().unwrap()
    }

    fn json(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.read(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{}", self.read(name)))
    }

    /// Exit 0 of step `name`, or its output.
    fn ok(&self, name: &str) {
        assert_eq!(
            self.rc(name),
            0,
            "{name} failed:\n{}\n{}",
            std::fs::read_to_string(self.dir.path().join(format!("{name}.out"))).unwrap_or_default(),
            std::fs::read_to_string(self.dir.path().join(format!("{name}.err"))).unwrap_or_default()
        );
    }
}

/// The live changes of a JSON plan.
fn live_changes(plan: &serde_json::Value) -> Vec<serde_json::Value> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["live"] == true)
        .cloned()
        .collect()
}

/// The `-A CHAIN …` lines of chain `chain` in an `iptables -S` listing.
fn chain_rules<'a>(listing: &'a str, chain: &str) -> Vec<&'a str> {
    let prefix = format!("-A {chain} ");
    listing.lines().filter(|l| l.starts_with(&prefix)).collect()
}

fn tagged_jump() -> String {
    format!("-A FORWARD -m comment --comment \"{TAG}\" -j DOCKER-USER")
}

/// C21's Docker 28 chains. `-m set --match-set docker-ext-bridges-v4` needs
/// an ipset that Docker would have made (and ipset is not installed here):
/// those two matches become `-o docker0`; what matters is kept — FORWARD
/// does not jump to DOCKER-USER, which holds the operator's rules.
const LOAD_C21: &str = r#"sed 's/-m set --match-set docker-ext-bridges-v4 dst/-o docker0/' "$C21/iptables-save.txt" | iptables-restore"#;

#[test]
fn c21_live_apply_adds_tagged_jump_is_idempotent_and_rolls_back_exactly() {
    let host = host_firewall();
    let started = Instant::now();
    let sb = Sandbox::run(&format!(
        r#"
{LOAD_C21}
fw >"$W/before.save"
rc plan1 D plan --only iptables --format json
rc apply D apply --yes --only iptables
iptables -S >"$W/applied.S"
fw >"$W/applied.save"
rc plan2 D plan --only iptables --detailed-exitcode --format json
rc rollback D rollback --yes
fw >"$W/after.save"
cat /proc/net/ip_tables_names >"$W/legacy-tables" 2>/dev/null || true
"#
    ));
    eprintln!("C21 scenario in the netns: {:?}", started.elapsed());

    let plan1 = sb.json("plan1.out");
    let live = live_changes(&plan1);
    assert_eq!(live.len(), 1, "{plan1:#}");
    let change = &live[0];
    assert_eq!(change["target"], "iptables:iptables");
    assert_eq!(change["takes_effect"], "now");
    assert_eq!(change["kind"], "iptables");
    let action = &change["action"];
    assert_eq!(action["op"], "firewall-rules");
    assert_eq!(action["path"], change["target"]);
    assert_eq!(action["backend"], "iptables");
    assert_eq!(action["tag"], TAG);
    assert_eq!(action["expect"], serde_json::json!([]));
    let rules: Vec<&str> = action["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            format!("filter FORWARD -m comment --comment \"{TAG}\" -j DOCKER-USER").as_str(),
            &format!(
                "filter DOCKER-USER -d 169.254.169.254/32 -i docker0 -m comment --comment \"{TAG}\" -j REJECT --reject-with icmp-admin-prohibited"
            ),
            &format!(
                "filter INPUT -i docker0 -p tcp -m multiport --dports 2375,2376 -m comment --comment \"{TAG}\" -j REJECT --reject-with tcp-reset"
            ),
        ]
    );
    // The diff is in iptables-save form.
    let diff = change["diff"].as_str().unwrap();
    assert!(diff.contains(&format!("+{}\n", tagged_jump())), "{diff}");

    sb.ok("apply");
    let applied = sb.read("applied.S");
    let forward = chain_rules(&applied, "FORWARD");
    assert_eq!(forward[0], tagged_jump(), "{applied}");
    assert_eq!(forward[1], "-A FORWARD -j DOCKER-FORWARD", "{applied}");
    let user = chain_rules(&applied, "DOCKER-USER");
    assert_eq!(user.len(), 4, "{applied}");
    assert!(
        user[0].starts_with("-A DOCKER-USER -d 169.254.169.254/32 -i docker0 -m comment"),
        "{applied}"
    );
    assert!(user[1].contains("partner range blocked"), "{applied}");
    assert!(user[2].contains(r#"no public \"postgres\""#), "{applied}");
    assert_eq!(user[3], "-A DOCKER-USER -j RETURN");
    assert!(
        chain_rules(&applied, "INPUT")[0].contains("--dports 2375,2376"),
        "{applied}"
    );
    // Untagged rules are all still there, in order.
    let untagged = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.contains(TAG))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    assert_eq!(untagged(&sb.read("applied.save")), sb.read("before.save"));

    // Plan again: nothing to do, live or persistent.
    assert_eq!(sb.rc("plan2"), 0, "{}", sb.read("plan2.out"));
    let plan2 = sb.json("plan2.out");
    assert_eq!(plan2["changes"], serde_json::json!([]), "{plan2:#}");

    // Rollback: no tagged rule left, every other rule exactly as before.
    sb.ok("rollback");
    let after = sb.read("after.save");
    assert!(!after.contains("dockhard"), "{after}");
    assert_eq!(after, sb.read("before.save"));
    // Reading never made legacy tables appear next to nft (iptables-nft
    // would then warn of them forever).
    assert_eq!(sb.read("legacy-tables").trim(), "", "legacy tables were created");

    assert_eq!(host_firewall(), host, "this machine's firewall changed");
}

#[test]
fn c20_split_rules_go_to_legacy_and_nft_is_untouched() {
    let host = host_firewall();
    let started = Instant::now();
    let sb = Sandbox::run(
        r#"
grep -v '^# Warning' "$C20/iptables-save.txt" | iptables-restore
iptables-legacy-restore <"$C20/iptables-legacy-save.txt"
fw >"$W/nft0"; fwl >"$W/legacy0"
rc plan1 D plan --only iptables --format json
rc apply D apply --yes --only iptables
fw >"$W/nft1"; iptables-legacy -S >"$W/legacy1.S"
rc plan2 D plan --only iptables --detailed-exitcode --format json
rc rollback D rollback --yes
fw >"$W/nft2"; fwl >"$W/legacy2"
"#,
    );
    eprintln!("C20 scenario in the netns: {:?}", started.elapsed());

    let plan1 = sb.json("plan1.out");
    let findings = plan1["findings"].to_string();
    assert!(findings.contains("rules exist in both back ends"), "{findings}");
    let live = live_changes(&plan1);
    assert_eq!(live.len(), 1, "{plan1:#}");
    assert_eq!(live[0]["target"], "iptables:iptables-legacy");
    assert_eq!(live[0]["action"]["backend"], "iptables-legacy");
    // Docker's own jump is FORWARD's first rule there: no jump of dockhard's.
    let rules = live[0]["action"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert!(rules.iter().all(|r| !r.as_str().unwrap().contains("FORWARD")));

    sb.ok("apply");
    assert_eq!(sb.read("nft1"), sb.read("nft0"), "the nft ruleset changed");
    let legacy = sb.read("legacy1.S");
    assert_eq!(chain_rules(&legacy, "FORWARD")[0], "-A FORWARD -j DOCKER-USER");
    let user = chain_rules(&legacy, "DOCKER-USER");
    assert!(
        user[0].contains(TAG) && user[0].contains("169.254.169.254"),
        "{legacy}"
    );
    assert_eq!(user[1], "-A DOCKER-USER -j RETURN");
    assert!(chain_rules(&legacy, "INPUT")[0].contains(TAG), "{legacy}");

    assert_eq!(sb.rc("plan2"), 0, "{}", sb.read("plan2.out"));
    sb.ok("rollback");
    assert_eq!(sb.read("nft2"), sb.read("nft0"));
    assert_eq!(sb.read("legacy2"), sb.read("legacy0"));

    assert_eq!(host_firewall(), host, "this machine's firewall changed");
}

#[test]
fn stale_saved_plan_is_refused_when_tagged_rules_changed() {
    let host = host_firewall();
    let sb = Sandbox::run(&format!(
        r#"
{LOAD_C21}
rc plan D plan --only iptables --out "$W/plan.json"
# Someone changes dockhard's rules between plan and apply.
iptables -I INPUT 1 -i docker0 -m comment --comment "{TAG}" -j DROP
fw >"$W/before.save"
rc apply D apply --yes "$W/plan.json"
fw >"$W/after.save"
if [ -e /etc/dockhard ]; then echo yes; else echo no; fi >"$W/files"
"#
    ));
    sb.ok("plan");
    let out = sb.read("apply.out") + &sb.read("apply.err");
    assert_eq!(sb.rc("apply"), 1, "{out}");
    assert!(out.contains("changed since the plan was made"), "{out}");
    assert!(out.contains("iptables:iptables"), "{out}");
    assert_eq!(sb.read("after.save"), sb.read("before.save"), "{out}");
    assert_eq!(sb.read("files").trim(), "no", "the files part was applied: {out}");
    assert_eq!(host_firewall(), host, "this machine's firewall changed");
}

/// The persisted loader and the live step leave the same rules: after a
/// "dockerd restart" (Docker's chains flushed and re-created, dockhard's
/// rules gone), running the generated /etc/dockhard/iptables-apply brings
/// back exactly what the live apply had loaded; dockhard then plans
/// nothing. Also with restrict_egress, whose rules use more matches.
#[test]
fn loader_after_dockerd_restart_restores_what_the_live_step_loaded() {
    let host = host_firewall();
    let started = Instant::now();
    let sb = Sandbox::run(&format!(
        r#"
cat >"$W/profile.toml" <<'EOF'
[rules.iptables-docker-user]
restrict_egress = true
egress_allow = ["10.0.0.0/8", "192.0.2.0/24"]
EOF
{LOAD_C21}
rc apply D --profile "$W/profile.toml" apply --yes --only iptables
fw >"$W/live.save"
# dockerd restarts: its chains are flushed and made again, without dockhard's rules.
{LOAD_C21}
fw >"$W/restarted.save"
rc loader /etc/dockhard/iptables-apply
fw >"$W/loaded.save"
rc loader2 /etc/dockhard/iptables-apply
fw >"$W/loaded2.save"
rc plan D --profile "$W/profile.toml" plan --only iptables --detailed-exitcode --format json
"#
    ));
    eprintln!("loader scenario in the netns: {:?}", started.elapsed());
    sb.ok("apply");
    let live = sb.read("live.save");
    // The jump, five DOCKER-USER rules, one INPUT rule.
    assert_eq!(live.matches(TAG).count(), 1 + 5 + 1, "{live}");
    assert!(!sb.read("restarted.save").contains(TAG));
    sb.ok("loader");
    assert_eq!(sb.read("loaded.save"), live, "{}", sb.read("loader.err"));
    sb.ok("loader2");
    assert_eq!(sb.read("loaded2.save"), live, "the loader is not idempotent");
    assert_eq!(sb.rc("plan"), 0, "{}", sb.read("plan.out"));
    assert_eq!(host_firewall(), host, "this machine's firewall changed");
}

/// A live step that fails half way (its third rule cannot be inserted)
/// is undone with everything before it: the firewall and /etc are as they
/// were.
#[test]
fn failing_live_step_is_undone_with_the_files() {
    let host = host_firewall();
    // The plan is made in one sandbox and applied, broken, in another with
    // the same rules loaded: the digest of the broken plan is computed
    // again here (it detects hand edits, it does not stop this test).
    let planned = Sandbox::run(&format!(
        r#"
{LOAD_C21}
rc plan D plan --only iptables --out "$W/plan.json"
"#
    ));
    planned.ok("plan");
    let text = planned.read("plan.json");
    let broken = text.replace(
        "\"filter INPUT -i docker0 -p tcp ",
        "\"filter INPUT -i docker0 -p tcp -m nosuchmatch ",
    );
    assert_ne!(text, broken);
    let mut value: serde_json::Value = serde_json::from_str(&broken).unwrap();
    value.as_object_mut().unwrap().remove("digest");
    let plan: dockhard::plan::Plan = serde_json::from_value(value.clone()).unwrap();
    value["digest"] = plan.digest().into();
    let keep = tempfile::tempdir().unwrap();
    let broken_path = keep.path().join("broken.json");
    std::fs::write(&broken_path, value.to_string()).unwrap();
    let sb = Sandbox::run(&format!(
        r#"
{LOAD_C21}
fw >"$W/before.save"
rc apply D apply --yes "{}"
fw >"$W/after.save"
if [ -e /etc/dockhard ]; then echo yes; else echo no; fi >"$W/files"
"#,
        broken_path.display()
    ));
    let out = sb.read("apply.out") + &sb.read("apply.err");
    assert_eq!(sb.rc("apply"), 1, "{out}");
    assert!(out.contains("were undone"), "{out}");
    assert!(out.contains("nosuchmatch"), "{out}");
    assert_eq!(sb.read("after.save"), sb.read("before.save"), "{out}");
    assert_eq!(sb.read("files").trim(), "no", "{out}");
    assert_eq!(host_firewall(), host, "this machine's firewall changed");
}
