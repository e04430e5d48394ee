//! The files that make the rules persistent: the rules file, the loader
//! script that puts them into the running firewall, the systemd unit that
//! runs it, and the docker.service drop-in that starts the unit.
//!
//! How the rules come back: at boot, and at every later start of
//! docker.service, the drop-in's `Wants=` starts dockhard-iptables.service;
//! its `After=docker.service` runs the loader only once dockerd is up, and
//! dockerd has created its chains by then (it does so before it reports
//! ready). `BindsTo=docker.service` stops the unit whenever docker.service
//! stops, even when dockerd dies and systemd restarts it, so the next docker
//! start runs the loader again (`PartOf=` alone would miss that case, and a
//! `RemainAfterExit` unit that stays active would never re-run). There is no
//! `WantedBy=multi-user.target`: with `BindsTo` it would start Docker on
//! hosts where docker.service is disabled.

use super::rules::{ChainRule, RuleParams, tag};

pub const RULES_PATH: &str = "/etc/dockhard/iptables.rules";
pub const SCRIPT_PATH: &str = "/etc/dockhard/iptables-apply";
pub const UNIT_NAME: &str = "dockhard-iptables.service";
pub const UNIT_PATH: &str = "/etc/systemd/system/dockhard-iptables.service";
pub const DROPIN_PATH: &str = "/etc/systemd/system/docker.service.d/50-dockhard-iptables.conf";

fn managed(rule_id: &str, comment: &str) -> String {
    format!("{comment} Managed by dockhard (rule {rule_id}); dockhard rewrites this file.\n")
}

/// The rules file: restore-style, one table block per table, rules in the
/// order they must stand at the top of their chains. It is valid
/// `iptables-restore` input, but `iptables-restore --noflush` would append
/// the rules below Docker's; the loader inserts them instead.
pub fn rules_file(p: &RuleParams, rules: &[ChainRule]) -> String {
    let mut out = managed(&p.rule_id, "#");
    out.push_str(&format!(
        "# Bridge {}, container range {}.\n\
         # Loaded by {SCRIPT_PATH}\n\
         # (run by {UNIT_NAME} after docker.service starts): it removes\n\
         # the rules tagged \"{}\", then inserts each rule below\n\
         # at the top of its chain, in this order, in the iptables back end that\n\
         # holds Docker's chains. Not for iptables-restore --noflush, which would\n\
         # append them below Docker's rules.\n",
        p.bridge,
        p.subnet,
        tag(&p.rule_id)
    ));
    let mut tables: Vec<&str> = Vec::new();
    for rule in rules {
        if !tables.contains(&rule.table.as_str()) {
            tables.push(&rule.table);
        }
    }
    for table in tables {
        out.push_str(&format!("*{table}\n"));
        for rule in rules.iter().filter(|r| r.table == table) {
            out.push_str(&rule.save_line());
            out.push('\n');
        }
        out.push_str("COMMIT\n");
    }
    out
}

/// The loader: a POSIX sh script, safe to run any number of times.
pub fn apply_script(rule_id: &str) -> String {
    let mut out = String::from("#!/bin/sh\n");
    out.push_str(&managed(rule_id, "#"));
    out.push_str(
        &SCRIPT_BODY
            .replace("@TAG@", &tag(rule_id))
            .replace("@RULES@", RULES_PATH),
    );
    out
}

const SCRIPT_BODY: &str = r#"#
# Loads the rules of
#   @RULES@
# into the running firewall: removes every rule tagged
#   "@TAG@"
# then inserts each rule of the file at the top of its chain, in file order
# (iptables -I CHAIN n), ahead of Docker's own rules. Running it twice leaves
# the same rules. Run by dockhard-iptables.service once docker.service has
# started.
#
#   iptables-apply          load the rules (the default)
#   iptables-apply remove   remove the tagged rules only
set -eu

RULES=${DOCKHARD_IPTABLES_RULES:-@RULES@}
TAG='@TAG@'

have() { command -v "$1" >/dev/null 2>&1; }

# Docker writes its chains through whichever back end its iptables command
# used when it started (nf_tables or legacy). Rules in the other back end
# would not be in Docker's DOCKER-USER chain, so use the one holding them.
holds_docker() { have "$1" && "$1" 2>/dev/null | grep -q '^:DOCKER'; }
if holds_docker iptables-save; then
    IPT=iptables
elif holds_docker iptables-legacy-save && have iptables-legacy; then
    IPT=iptables-legacy
elif have iptables; then
    IPT=iptables
else
    echo "dockhard-iptables: no iptables command found" >&2
    exit 1
fi

ipt() { "$IPT" -w "$@"; }

# The tables the rules file uses, and filter.
tables() {
    {
        echo filter
        if [ -f "$RULES" ]; then sed -n 's/^\*\([a-z_]*\)$/\1/p' "$RULES"; fi
    } | sort -u
}

# Deletes the tagged rules of table $1, highest rule number first in each
# chain so the numbers still to delete stay valid.
remove_tagged() {
    listing=$(ipt -t "$1" -S)
    printf '%s\n' "$listing" | awk -v tag="$TAG" '
        $1 == "-A" {
            n[$2]++
            if (index($0, "--comment \"" tag "\"") || index($0 " ", "--comment " tag " "))
                print $2, n[$2]
        }' | sort -k1,1 -k2,2nr | while read -r chain num; do
        ipt -t "$1" -D "$chain" "$num"
    done
}

# DOCKER-USER exists (dockerd with iptables=false makes none) and FORWARD
# jumps to it first, before Docker's own jumps: unless Docker's own jump is
# FORWARD's first rule (a DOCKER-USER chain declared by the host's nftables
# config keeps dockerd from adding it), a tagged jump goes to position 1.
# Runs after remove_tagged, so line 2 of the listing (after the policy) is
# the first rule that is not dockhard's. Docker's rules are left alone.
ensure_docker_user() {
    ipt -t filter -S DOCKER-USER >/dev/null 2>&1 || ipt -t filter -N DOCKER-USER
    first=$(ipt -t filter -S FORWARD | sed -n '2p')
    if [ "$first" != "-A FORWARD -j DOCKER-USER" ]; then
        ipt -t filter -I FORWARD 1 -m comment --comment "$TAG" -j DOCKER-USER
    fi
}

# Inserts the rules of the file; the k-th rule of a chain goes to position k.
# The file's only quotes are around the tag, which holds no blank.
load_rules() {
    [ -f "$RULES" ] || return 0
    if grep -q '^-A DOCKER-USER ' "$RULES" || ipt -t filter -S DOCKER-USER >/dev/null 2>&1; then
        ensure_docker_user
    fi
    tr -d '"' <"$RULES" | awk '
        /^\*[a-z_]+$/ { table = substr($0, 2); split("", n); next }
        /^-A / {
            n[$2]++
            rest = $0
            sub(/^-A [^ ]+ /, "", rest)
            print table, $2, n[$2], rest
        }' | while read -r table chain pos args; do
        set -f
        # The arguments are split on blanks on purpose.
        ipt -t "$table" -I "$chain" "$pos" $args
    done
}

case "${1:-load}" in
load)
    for table in $(tables); do remove_tagged "$table"; done
    load_rules
    ;;
remove)
    for table in $(tables); do remove_tagged "$table"; done
    ;;
*)
    echo "usage: $0 [load|remove]" >&2
    exit 2
    ;;
esac
"#;

/// The oneshot unit that runs the loader after docker.service.
pub fn unit_file(rule_id: &str) -> String {
    let mut out = managed(rule_id, "#");
    out.push_str(&format!(
        "[Unit]\n\
         Description=dockhard firewall rules for the docker bridge\n\
         Documentation=file:{RULES_PATH}\n\
         # Started by docker.service (Wants= in its drop-in), after dockerd has\n\
         # created its chains; stopped with it, so every docker start reloads.\n\
         After=docker.service\n\
         BindsTo=docker.service\n\
         ConditionPathExists={RULES_PATH}\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         ExecStart={SCRIPT_PATH}\n\
         \n\
         [Install]\n\
         WantedBy=docker.service\n"
    ));
    out
}

/// The drop-in that makes docker.service start the unit: a plain file, so
/// no `systemctl enable` symlink is needed.
pub fn dropin_file(rule_id: &str) -> String {
    let mut out = managed(rule_id, "#");
    out.push_str(&format!(
        "# Starting docker.service also starts {UNIT_NAME}, which loads\n\
         # dockhard's firewall rules once dockerd has created its chains.\n\
         [Unit]\n\
         Wants={UNIT_NAME}\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::super::rules::{RuleParams, generate};
    use super::*;
    use std::path::Path;

    /// A stand-in for the iptables commands: logs each call, prints a canned
    /// `-S` listing, and holds Docker's chains in the back end `FAKE_DOCKER_IN`
    /// names. Nothing here reaches a real firewall: PATH holds only the fakes
    /// and a few text tools.
    const FAKE: &str = r#"#!/bin/sh
name=${0##*/}
case "$name" in
*-save)
    if [ "$name" = "$FAKE_DOCKER_IN" ]; then
        printf '*filter\n:DOCKER-USER - [0:0]\nCOMMIT\n'
    else
        printf '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n'
    fi
    exit 0
    ;;
esac
echo "$name $*" >>"$FAKE_LOG"
case "$*" in
"-w -t filter -S") cat "$FAKE_STATE" ;;
"-w -t filter -S FORWARD") printf '%s\n' '-P FORWARD DROP' '-A FORWARD -j DOCKER-FORWARD' ;;
"-w -t filter -D FORWARD -j DOCKER-USER") exit 1 ;;
esac
exit 0
"#;

    const STATE: &str = r#"-P INPUT ACCEPT
-P FORWARD DROP
-N DOCKER-USER
-A INPUT -i lo -j ACCEPT
-A INPUT -i docker0 -p tcp -m multiport --dports 2375,2376 -m comment --comment "dockhard:iptables-docker-user" -j REJECT --reject-with tcp-reset
-A DOCKER-USER -d 169.254.169.254/32 -i docker0 -m comment --comment "dockhard:iptables-docker-user" -j REJECT --reject-with icmp-admin-prohibited
-A DOCKER-USER -m comment --comment "dockhard:iptables-docker-user-other" -j DROP
-A DOCKER-USER -m comment --comment dockhard:iptables-docker-user -j DROP
-A DOCKER-USER -j RETURN
"#;

    fn find_tool(name: &str) -> std::path::PathBuf {
        ["/usr/bin", "/bin", "/usr/local/bin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{name} not found"))
    }

    /// Runs the generated loader against the fakes; returns the logged calls.
    fn run_loader(docker_in: &str, arg: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("fake");
        let tools = dir.path().join("tools");
        std::fs::create_dir_all(&fake).unwrap();
        std::fs::create_dir_all(&tools).unwrap();
        for name in ["sh", "awk", "sed", "sort", "grep", "tr", "cat"] {
            std::os::unix::fs::symlink(find_tool(name), tools.join(name)).unwrap();
        }
        for name in [
            "iptables",
            "iptables-save",
            "iptables-legacy",
            "iptables-legacy-save",
        ] {
            let path = fake.join(name);
            std::fs::write(&path, FAKE).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let params = RuleParams::new(
            "iptables-docker-user",
            "docker0",
            "172.17.0.0/16",
            &[2375, 2376],
            &["169.254.169.254/32".to_string()],
            false,
            &[],
        )
        .unwrap();
        let rules = dir.path().join("iptables.rules");
        std::fs::write(&rules, rules_file(&params, &generate(&params))).unwrap();
        let state = dir.path().join("state");
        std::fs::write(&state, STATE).unwrap();
        let script = dir.path().join("iptables-apply");
        std::fs::write(&script, apply_script("iptables-docker-user")).unwrap();
        let log = dir.path().join("log");
        let out = std::process::Command::new(find_tool("sh"))
            .arg(&script)
            .arg(arg)
            .env_clear()
            .env("PATH", format!("{}:{}", fake.display(), tools.display()))
            .env("DOCKHARD_IPTABLES_RULES", &rules)
            .env("FAKE_DOCKER_IN", docker_in)
            .env("FAKE_LOG", &log)
            .env("FAKE_STATE", &state)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn loader_replaces_tagged_rules_at_the_top() {
        let tag = "-m comment --comment dockhard:iptables-docker-user";
        assert_eq!(
            run_loader("iptables-save", "load"),
            [
                "iptables -w -t filter -S".to_string(),
                "iptables -w -t filter -D DOCKER-USER 3".to_string(),
                "iptables -w -t filter -D DOCKER-USER 1".to_string(),
                "iptables -w -t filter -D INPUT 2".to_string(),
                "iptables -w -t filter -S DOCKER-USER".to_string(),
                "iptables -w -t filter -S FORWARD".to_string(),
                format!("iptables -w -t filter -I FORWARD 1 {tag} -j DOCKER-USER"),
                format!(
                    "iptables -w -t filter -I DOCKER-USER 1 -d 169.254.169.254/32 -i docker0 {tag} -j REJECT --reject-with icmp-admin-prohibited"
                ),
                format!(
                    "iptables -w -t filter -I INPUT 1 -i docker0 -p tcp -m multiport --dports 2375,2376 {tag} -j REJECT --reject-with tcp-reset"
                ),
            ]
        );
    }

    #[test]
    fn loader_uses_the_back_end_holding_dockers_chains() {
        let calls = run_loader("iptables-legacy-save", "load");
        assert!(!calls.is_empty());
        assert!(
            calls.iter().all(|c| c.starts_with("iptables-legacy -w ")),
            "{calls:?}"
        );
        // Neither back end has Docker's chains: the default one.
        let calls = run_loader("none", "load");
        assert!(calls.iter().all(|c| c.starts_with("iptables -w ")), "{calls:?}");
    }

    #[test]
    fn loader_remove_only_deletes() {
        let calls = run_loader("iptables-save", "remove");
        assert_eq!(
            calls,
            [
                "iptables -w -t filter -S",
                "iptables -w -t filter -D DOCKER-USER 3",
                "iptables -w -t filter -D DOCKER-USER 1",
                "iptables -w -t filter -D INPUT 2",
            ]
        );
    }
}
