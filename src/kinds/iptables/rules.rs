//! The rules dockhard adds for the docker bridge, generated from the rule's
//! parameters. Every rule carries `-m comment --comment "dockhard:<rule id>"`
//! so it can be found and removed exactly, and is written in the argument
//! order `iptables-save` prints (`-s -d -i -o -p`, matches, `-j`), so a rule
//! read back from the kernel compares equal as text.

use super::save::rule_line;
use crate::error::{Error, Result};
use std::net::Ipv4Addr;

/// `multiport` takes at most 15 ports per rule.
const MULTIPORT_MAX: usize = 15;

/// The comment that marks dockhard's rules for one catalog rule.
pub fn tag(rule_id: &str) -> String {
    format!("dockhard:{rule_id}")
}

/// The checked parameters of the iptables rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleParams {
    pub rule_id: String,
    /// Interface name of the bridge (`docker0`).
    pub bridge: String,
    /// Container range in canonical form (`172.17.0.0/16`).
    pub subnet: String,
    pub daemon_ports: Vec<u16>,
    /// Canonical CIDRs the containers may not reach.
    pub blocked_destinations: Vec<String>,
    pub restrict_egress: bool,
    /// Canonical CIDRs the containers may reach when `restrict_egress`.
    pub egress_allow: Vec<String>,
}

impl RuleParams {
    /// Checks and normalises raw parameter values; errors name the parameter.
    pub fn new(
        rule_id: &str,
        bridge: &str,
        subnet: &str,
        daemon_ports: &[i64],
        blocked_destinations: &[String],
        restrict_egress: bool,
        egress_allow: &[String],
    ) -> Result<RuleParams> {
        let param =
            |name: &str, what: String| Error::msg(format!("rule {rule_id}: parameter {name}: {what}"));
        check_interface(bridge).map_err(|e| param("bridge", e))?;
        let subnet = canonical_cidr(subnet).map_err(|e| param("subnet", e))?;
        let daemon_ports = daemon_ports
            .iter()
            .map(|&p| {
                u16::try_from(p)
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| param("daemon_ports", format!("{p} is not a TCP port")))
            })
            .collect::<Result<Vec<u16>>>()?;
        let cidrs = |name: &str, list: &[String]| {
            list.iter()
                .map(|c| canonical_cidr(c).map_err(|e| param(name, e)))
                .collect::<Result<Vec<String>>>()
        };
        Ok(RuleParams {
            rule_id: rule_id.to_string(),
            bridge: bridge.to_string(),
            subnet,
            daemon_ports,
            blocked_destinations: cidrs("blocked_destinations", blocked_destinations)?,
            restrict_egress,
            egress_allow: cidrs("egress_allow", egress_allow)?,
        })
    }
}

/// One rule for one chain: `-A CHAIN args…` in table `table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRule {
    pub table: String,
    pub chain: String,
    /// Arguments after the chain, unquoted.
    pub args: Vec<String>,
}

impl ChainRule {
    pub fn new(table: &str, chain: &str, args: &[&str]) -> ChainRule {
        ChainRule {
            table: table.to_string(),
            chain: chain.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// `-A CHAIN args…` as `iptables-save` prints it.
    pub fn save_line(&self) -> String {
        rule_line(&self.chain, &self.args)
    }

    /// The arguments as one string, quoted as in a save file: what the
    /// `iptables` crate's `insert(table, chain, rule, position)` takes.
    pub fn rule_spec(&self) -> String {
        let line = self.save_line();
        line[3 + self.chain.len()..].trim_start().to_string()
    }
}

/// The rules for the parameters, in the order they must stand at the top of
/// their chains. In DOCKER-USER: the blocked destinations first (so no allow
/// entry can open them), then with `restrict_egress` the return traffic and
/// the allowed destinations (`-j RETURN`: handed back to Docker's own rules,
/// which accept them, so Docker's network isolation still applies), then the
/// reject of everything else leaving the bridge. In INPUT: the daemon's TCP
/// ports from the bridge.
pub fn generate(p: &RuleParams) -> Vec<ChainRule> {
    let tag = tag(&p.rule_id);
    let br = p.bridge.as_str();
    let user = |args: &[&str]| -> ChainRule {
        // `-d 0.0.0.0/0` matches everything and `iptables -S` leaves it out:
        // written, it would never read back the same.
        let mut all: Vec<&str> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            if matches!(args[i], "-d" | "-s") && args.get(i + 1) == Some(&"0.0.0.0/0") {
                i += 2;
                continue;
            }
            all.push(args[i]);
            i += 1;
        }
        let target = all.iter().position(|a| *a == "-j").unwrap_or(all.len());
        all.splice(target..target, ["-m", "comment", "--comment", tag.as_str()]);
        ChainRule::new("filter", "DOCKER-USER", &all)
    };
    let mut rules = Vec::new();
    for dest in &p.blocked_destinations {
        rules.push(user(&[
            "-d",
            dest,
            "-i",
            br,
            "-j",
            "REJECT",
            "--reject-with",
            "icmp-admin-prohibited",
        ]));
    }
    if p.restrict_egress {
        rules.push(user(&[
            "-i",
            br,
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-j",
            "RETURN",
        ]));
        for dest in &p.egress_allow {
            rules.push(user(&["-s", &p.subnet, "-d", dest, "-i", br, "-j", "RETURN"]));
        }
        rules.push(user(&[
            "-i",
            br,
            "!",
            "-o",
            br,
            "-j",
            "REJECT",
            "--reject-with",
            "icmp-admin-prohibited",
        ]));
    }
    for chunk in p.daemon_ports.chunks(MULTIPORT_MAX) {
        let ports = chunk.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
        let mut rule = user(&[
            "-i",
            br,
            "-p",
            "tcp",
            "-m",
            "multiport",
            "--dports",
            &ports,
            "-j",
            "REJECT",
            "--reject-with",
            "tcp-reset",
        ]);
        rule.chain = "INPUT".to_string();
        rules.push(rule);
    }
    rules
}

/// An interface name as Linux and iptables accept it, restricted to
/// characters that need no quoting anywhere (a trailing `+` is iptables'
/// wildcard).
pub fn check_interface(name: &str) -> Result<(), String> {
    let body = name.strip_suffix('+').unwrap_or(name);
    if body.is_empty() || name.len() > 15 || name == "." || name == ".." {
        return Err(format!("`{name}` is not an interface name (1 to 15 characters)"));
    }
    if !body
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
    {
        return Err(format!(
            "`{name}` is not an interface name (letters, digits, - _ . @ only)"
        ));
    }
    Ok(())
}

/// `10.1.2.3/8` → `10.0.0.0/8`; `10.1.2.3` → `10.1.2.3/32`, as iptables-save
/// prints addresses. IPv6 belongs to ip6tables, which dockhard does not
/// program yet.
pub fn canonical_cidr(text: &str) -> Result<String, String> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (
            a,
            l.parse::<u8>()
                .ok()
                .filter(|&l| l <= 32)
                .ok_or_else(|| format!("`{text}`: bad prefix length"))?,
        ),
        None => (text, 32),
    };
    let addr: Ipv4Addr = addr.parse().map_err(|_| {
        if addr.contains(':') {
            format!("`{text}`: IPv6 ranges need ip6tables, which dockhard does not program yet")
        } else {
            format!("`{text}`: not an IPv4 address or range")
        }
    })?;
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    Ok(format!("{}/{len}", Ipv4Addr::from(u32::from(addr) & mask)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> RuleParams {
        RuleParams::new(
            "iptables-docker-user",
            "docker0",
            "172.17.0.0/16",
            &[2375, 2376],
            &["169.254.169.254/32".to_string()],
            false,
            &[],
        )
        .unwrap()
    }

    fn lines(rules: &[ChainRule]) -> Vec<String> {
        rules.iter().map(ChainRule::save_line).collect()
    }

    #[test]
    fn default_rules() {
        assert_eq!(
            lines(&generate(&defaults())),
            [
                r#"-A DOCKER-USER -d 169.254.169.254/32 -i docker0 -m comment --comment "dockhard:iptables-docker-user" -j REJECT --reject-with icmp-admin-prohibited"#,
                r#"-A INPUT -i docker0 -p tcp -m multiport --dports 2375,2376 -m comment --comment "dockhard:iptables-docker-user" -j REJECT --reject-with tcp-reset"#,
            ]
        );
        let rule = &generate(&defaults())[0];
        assert_eq!(rule.table, "filter");
        assert_eq!(
            rule.rule_spec(),
            r#"-d 169.254.169.254/32 -i docker0 -m comment --comment "dockhard:iptables-docker-user" -j REJECT --reject-with icmp-admin-prohibited"#
        );
    }

    #[test]
    fn restrict_egress_accepts_first_then_rejects() {
        let mut p = defaults();
        p.restrict_egress = true;
        p.egress_allow = vec!["10.0.0.0/8".into(), "192.0.2.53/32".into()];
        let got = lines(&generate(&p));
        let tag = r#"-m comment --comment "dockhard:iptables-docker-user""#;
        assert_eq!(
            got,
            [
                format!(
                    "-A DOCKER-USER -d 169.254.169.254/32 -i docker0 {tag} -j REJECT --reject-with icmp-admin-prohibited"
                ),
                format!(
                    "-A DOCKER-USER -i docker0 -m conntrack --ctstate RELATED,ESTABLISHED {tag} -j RETURN"
                ),
                format!("-A DOCKER-USER -s 172.17.0.0/16 -d 10.0.0.0/8 -i docker0 {tag} -j RETURN"),
                format!("-A DOCKER-USER -s 172.17.0.0/16 -d 192.0.2.53/32 -i docker0 {tag} -j RETURN"),
                format!(
                    "-A DOCKER-USER -i docker0 ! -o docker0 {tag} -j REJECT --reject-with icmp-admin-prohibited"
                ),
                format!(
                    "-A INPUT -i docker0 -p tcp -m multiport --dports 2375,2376 {tag} -j REJECT --reject-with tcp-reset"
                ),
            ]
        );
    }

    #[test]
    fn many_ports_split_and_none_give_no_input_rule() {
        let mut p = defaults();
        p.daemon_ports = (1..=16).collect();
        let rules = generate(&p);
        assert_eq!(rules.len(), 3);
        assert!(
            rules[1]
                .args
                .contains(&"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15".to_string())
        );
        assert!(rules[2].args.contains(&"16".to_string()));
        p.daemon_ports.clear();
        p.blocked_destinations.clear();
        assert!(generate(&p).is_empty());
    }

    #[test]
    fn params_are_checked_and_normalised() {
        let p = RuleParams::new(
            "r",
            "br-1a2b",
            "172.18.0.1/16",
            &[2375],
            &["10.1.2.3".into()],
            true,
            &[],
        )
        .unwrap();
        assert_eq!(p.subnet, "172.18.0.0/16");
        assert_eq!(p.blocked_destinations, ["10.1.2.3/32"]);
        let bad = [
            RuleParams::new("r", "docker0; rm -rf /", "172.17.0.0/16", &[], &[], false, &[]),
            RuleParams::new(
                "r",
                "averyveryverylongname",
                "172.17.0.0/16",
                &[],
                &[],
                false,
                &[],
            ),
            RuleParams::new("r", "docker0", "172.17.0.0/33", &[], &[], false, &[]),
            RuleParams::new("r", "docker0", "172.17.0.0/16", &[70000], &[], false, &[]),
            RuleParams::new(
                "r",
                "docker0",
                "172.17.0.0/16",
                &[],
                &["fd00::/8".into()],
                false,
                &[],
            ),
            RuleParams::new("r", "docker0", "172.17.0.0/16", &[], &[], true, &["\"x".into()]),
        ];
        let names = [
            "bridge",
            "bridge",
            "subnet",
            "daemon_ports",
            "blocked_destinations",
            "egress_allow",
        ];
        for (result, name) in bad.into_iter().zip(names) {
            let err = result.unwrap_err();
            assert!(err.message().contains(&format!("parameter {name}")), "{err}");
        }
        assert_eq!(canonical_cidr("0.0.0.0/0").unwrap(), "0.0.0.0/0");
        assert!(check_interface("docker+").is_ok());
    }
}
