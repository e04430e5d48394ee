//! Firewall rules, through the `iptables` crate, in the back end (nf_tables
//! or legacy) that holds Docker's chains.
//!
//! A rule is written `TABLE CHAIN ARGS…`, ARGS as `iptables -S` prints them
//! (comments in double quotes). dockhard finds its rules by their comment
//! (the tag) and never touches another rule.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// The commands dockhard drives: the default `iptables` and, on hosts
/// where Docker's chains live there, `iptables-legacy`.
pub const BACKENDS: [&str; 2] = ["iptables", "iptables-legacy"];

fn ipt(backend: &str) -> Result<iptables::IPTables> {
    let cmd = BACKENDS
        .into_iter()
        .find(|b| *b == backend)
        .ok_or_else(|| Error::msg(format!("unknown iptables back end `{backend}`")))?;
    let mut table = iptables::new(false).map_err(|e| Error::msg(format!("{cmd}: cannot run it: {e}")))?;
    table.cmd = cmd;
    // `-L` (chain_exists) must not look names up.
    table.set_numeric(true);
    Ok(table)
}

fn err(backend: &str, what: &str, e: Box<dyn std::error::Error>) -> Error {
    Error::msg(format!("{backend}: {what}: {e}"))
}

/// Whether the back end is iptables-legacy (the plain `iptables` may be
/// legacy too, by the host's alternatives).
fn is_legacy(backend: &str) -> bool {
    std::process::Command::new(backend)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("legacy"))
}

/// Whether the legacy table exists in this network namespace. Listing a
/// legacy table creates it (and loads its module), after which
/// iptables-nft warns of legacy tables on every call: reading must not
/// do that.
fn legacy_table_exists(table: &str) -> bool {
    std::fs::read_to_string("/proc/net/ip_tables_names").is_ok_and(|names| names.lines().any(|n| n == table))
}

/// `iptables -t TABLE -S`, checked: a back end that cannot list (command
/// missing, no kernel support) is an error, never an empty table. A
/// legacy table that does not exist is listed as empty without being
/// created.
fn list(backend: &str, table: &str) -> Result<Vec<String>> {
    let t = ipt(backend)?;
    if is_legacy(backend) && !legacy_table_exists(table) {
        return Ok(Vec::new());
    }
    let out = t
        .execute(table, "-S")
        .map_err(|e| err(backend, &format!("listing {table}"), e))?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "{backend}: listing {table} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect())
}

/// `iptables -S` of a table as rule lines, `None` if the back end is
/// missing or cannot list (no kernel support).
pub fn save(backend: &str, table: &str) -> Option<Vec<String>> {
    list(backend, table).ok()
}

/// The back end whose filter table holds Docker's chains; `iptables`
/// when neither does (Docker not started yet).
pub fn docker_backend() -> String {
    for backend in BACKENDS {
        if save(backend, "filter").is_some_and(|rules| rules.iter().any(|r| r == "-N DOCKER")) {
            return backend.to_string();
        }
    }
    "iptables".to_string()
}

/// Whether an `iptables -S` line carries the comment `tag` exactly.
pub fn has_tag(rule: &str, tag: &str) -> bool {
    rule.contains(&format!("--comment \"{tag}\""))
        || rule.contains(&format!("--comment {tag} "))
        || rule.ends_with(&format!("--comment {tag}"))
}

/// dockhard's rules (carrying `tag`) in the filter table, in chain order,
/// as `filter CHAIN ARGS…`.
pub fn tagged(backend: &str, tag: &str) -> Result<Vec<String>> {
    Ok(list(backend, "filter")?
        .iter()
        .filter(|r| has_tag(r, tag))
        .filter_map(|r| r.strip_prefix("-A "))
        .map(|r| format!("filter {r}"))
        .collect())
}

/// `(table, chain, args)` of a `TABLE CHAIN ARGS…` rule.
pub fn split(rule: &str) -> Result<(&str, &str, &str)> {
    let mut parts = rule.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(table), Some(chain), Some(args)) if !args.trim().is_empty() => Ok((table, chain, args)),
        _ => Err(Error::msg(format!("not a `TABLE CHAIN ARGS` rule: {rule}"))),
    }
}

/// Makes the tagged rules exactly `rules`: removes every tagged rule,
/// creates the missing chains of `rules`, then inserts the k-th rule of
/// each chain at position k, so they come before everything else in the
/// chain. Rules without the tag are refused: they could not be found
/// (and removed) again. Chains are created before any rule goes in, so
/// a jump to a chain that `rules` fill (FORWARD → DOCKER-USER) finds it.
pub fn set_tagged(backend: &str, tag: &str, rules: &[String]) -> Result<()> {
    let mut parsed = Vec::new();
    for rule in rules {
        let (table, chain, args) = split(rule)?;
        if !has_tag(&format!("-A {chain} {args}"), tag) {
            return Err(Error::msg(format!(
                "{backend}: refusing to insert `{rule}`: it does not carry the comment \"{tag}\""
            )));
        }
        parsed.push((table, chain, args));
    }
    let t = ipt(backend)?;
    for rule in tagged(backend, tag)? {
        let (table, chain, args) = split(&rule)?;
        t.delete(table, chain, args)
            .map_err(|e| err(backend, &format!("deleting `{rule}`"), e))?;
    }
    let mut chains: Vec<(&str, &str)> = Vec::new();
    for (table, chain, _) in &parsed {
        if !chains.contains(&(table, chain)) {
            chains.push((table, chain));
        }
    }
    for (table, chain) in chains {
        if !t
            .chain_exists(table, chain)
            .map_err(|e| err(backend, "listing chains", e))?
        {
            t.new_chain(table, chain)
                .map_err(|e| err(backend, &format!("creating chain {chain}"), e))?;
        }
    }
    let mut position: BTreeMap<(&str, &str), i32> = BTreeMap::new();
    for (table, chain, args) in parsed {
        let n = position.entry((table, chain)).or_insert(0);
        *n += 1;
        t.insert(table, chain, args, *n)
            .map_err(|e| err(backend, &format!("inserting `{table} {chain} {args}` at {n}"), e))?;
    }
    let now = tagged(backend, tag)?;
    if !same_rules(&now, rules) {
        return Err(Error::msg(format!(
            "{backend}: the firewall does not hold the rules just inserted as they were written \
             (read back: {}; wanted: {})",
            now.join(" | "),
            rules.join(" | ")
        )));
    }
    Ok(())
}

/// One rule's words, quotes aside.
pub fn normalize(rule: &str) -> String {
    rule.replace('"', "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The rules of each chain, in order, normalized.
fn by_chain(rules: &[String]) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for rule in rules {
        let norm = normalize(rule);
        let mut words = norm.splitn(3, ' ');
        let key = (
            words.next().unwrap_or("").to_string(),
            words.next().unwrap_or("").to_string(),
        );
        out.entry(key).or_default().push(norm);
    }
    out
}

/// Rule lists compare equal when each chain holds the same rules in the
/// same order (quotes aside); the order of the chains does not matter,
/// as `iptables -S` lists chains in its own order.
pub fn same_rules(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && by_chain(a) == by_chain(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(rules: &[&str]) -> Vec<String> {
        rules.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn same_rules_ignores_chain_order_and_quotes_not_rule_order() {
        let a = v(&[
            "filter FORWARD -m comment --comment \"t\" -j DOCKER-USER",
            "filter DOCKER-USER -d 10.0.0.0/8 -j REJECT",
            "filter DOCKER-USER -d 10.1.0.0/16 -j REJECT",
            "filter INPUT -p tcp -j REJECT",
        ]);
        let b = v(&[
            "filter INPUT -p tcp  -j REJECT",
            "filter FORWARD -m comment --comment t -j DOCKER-USER",
            "filter DOCKER-USER -d 10.0.0.0/8 -j REJECT",
            "filter DOCKER-USER -d 10.1.0.0/16 -j REJECT",
        ]);
        assert!(same_rules(&a, &b));
        let mut swapped = b.clone();
        swapped.swap(2, 3);
        assert!(!same_rules(&a, &swapped));
        assert!(!same_rules(&a, &b[..3]));
        assert!(same_rules(&[], &[]));
    }

    #[test]
    fn tags_match_exactly() {
        let tag = "dockhard:iptables-docker-user";
        assert!(has_tag(
            "-A INPUT -m comment --comment \"dockhard:iptables-docker-user\" -j DROP",
            tag
        ));
        assert!(has_tag(
            "-A INPUT -m comment --comment dockhard:iptables-docker-user -j DROP",
            tag
        ));
        assert!(has_tag(
            "-A INPUT -m comment --comment dockhard:iptables-docker-user",
            tag
        ));
        assert!(!has_tag(
            "-A INPUT -m comment --comment \"dockhard:iptables-docker-user-x\" -j DROP",
            tag
        ));
        assert!(!has_tag(
            "-A INPUT -m comment --comment dockhard:iptables-docker-user-x -j DROP",
            tag
        ));
    }

    #[test]
    fn untagged_rules_are_refused_before_anything_runs() {
        let e = set_tagged("iptables", "dockhard:x", &v(&["filter INPUT -j DROP"])).unwrap_err();
        assert!(e.to_string().contains("does not carry the comment"), "{e}");
        assert!(set_tagged("nft", "dockhard:x", &[]).is_err());
    }
}
