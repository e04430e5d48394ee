//! The jump graph of one table: which user chains the built-in chains reach
//! through `-j`/`-g`, and which hold rules that no packet ever sees.
//!
//! Docker's chain set is not hard-coded: Docker 28 added `DOCKER-FORWARD`
//! between FORWARD and the older chains, and the graph simply follows jumps.

use super::save::{BUILTIN_CHAINS, Table};
use std::collections::BTreeSet;

/// What the graph says about one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRef {
    pub name: String,
    pub builtin: bool,
    /// Rules (in any chain of the table) that jump or go to this chain.
    pub references: usize,
    /// Reachable from a built-in chain (built-in chains always are).
    pub reachable: bool,
    /// Rules in the chain.
    pub rules: usize,
    /// Rules in the chain whose target is DROP or REJECT.
    pub dropping_rules: usize,
}

impl ChainRef {
    /// Rules that never see a packet: all of them when unreachable.
    pub fn inert_rules(&self) -> usize {
        if self.reachable { 0 } else { self.rules }
    }
}

/// The chains of a table in the order a reader follows them: built-in
/// chains that hold rules, each followed depth-first by the user chains it
/// reaches (first jump first), then the unreachable user chains in
/// declaration order.
pub fn analyse(table: &Table) -> Vec<ChainRef> {
    let info = |name: &str, builtin: bool, reachable: bool| {
        let rules: Vec<_> = table.rules_of(name).collect();
        ChainRef {
            name: name.to_string(),
            builtin,
            references: table
                .rules
                .iter()
                .filter(|r| r.target().is_some_and(|(t, _)| t == name))
                .count(),
            reachable,
            rules: rules.len(),
            dropping_rules: rules
                .iter()
                .filter(|r| matches!(r.target(), Some(("DROP" | "REJECT", _))))
                .count(),
        }
    };
    let is_builtin = |name: &str| {
        table
            .chain(name)
            .map_or(BUILTIN_CHAINS.contains(&name), |c| c.is_builtin())
    };
    let mut out = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for decl in table.chains.iter().filter(|c| c.is_builtin()) {
        seen.insert(decl.name.clone());
    }
    for decl in table.chains.iter().filter(|c| c.is_builtin()) {
        if table.rules_of(&decl.name).next().is_none() {
            continue;
        }
        out.push(info(&decl.name, true, true));
        // Depth-first, first jump first, with an explicit stack.
        let mut stack: Vec<String> = children(table, &decl.name).into_iter().rev().collect();
        while let Some(name) = stack.pop() {
            if is_builtin(&name) || table.chain(&name).is_none() || !seen.insert(name.clone()) {
                continue;
            }
            out.push(info(&name, false, true));
            stack.extend(children(table, &name).into_iter().rev());
        }
    }
    for decl in &table.chains {
        if !decl.is_builtin() && !seen.contains(&decl.name) {
            out.push(info(&decl.name, false, false));
        }
    }
    out
}

/// The user chains a chain's rules jump or go to, in rule order.
fn children(table: &Table, chain: &str) -> Vec<String> {
    table
        .rules_of(chain)
        .filter_map(|r| r.target().map(|(t, _)| t.to_string()))
        .filter(|t| table.chain(t).is_some_and(|c| !c.is_builtin()))
        .collect()
}

/// The analysis as a small table, one chain per line, e.g.
/// `DOCKER-USER                 references=0  UNREACHABLE (3 rules inert)`.
pub fn render(chains: &[ChainRef]) -> String {
    let mut out = String::new();
    for chain in chains {
        let state = if chain.reachable {
            "reachable".to_string()
        } else {
            format!("UNREACHABLE ({} rules inert)", chain.inert_rules())
        };
        if chain.builtin {
            out.push_str(&format!("{:<28} {state}\n", format!("{} (builtin)", chain.name)));
        } else {
            out.push_str(&format!(
                "{:<28}references={}  {state}\n",
                chain.name, chain.references
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::save::parse;
    use super::*;
    use crate::kinds::testing::case_dir;

    fn c21() -> Table {
        let text = std::fs::read_to_string(
            case_dir("C21-iptables-docker-user-unreferenced").join("input/cmd/iptables-save.txt"),
        )
        .unwrap();
        parse(&text, "iptables-save")
            .unwrap()
            .table("filter")
            .unwrap()
            .clone()
    }

    fn expected() -> String {
        std::fs::read_to_string(
            case_dir("C21-iptables-docker-user-unreferenced").join("expected/chain-references.txt"),
        )
        .unwrap()
    }

    #[test]
    fn c21_docker_user_is_unreachable() {
        let chains = analyse(&c21());
        let user = chains.iter().find(|c| c.name == "DOCKER-USER").unwrap();
        assert_eq!(user.references, 0);
        assert!(!user.reachable);
        assert_eq!(user.inert_rules(), 3);
        assert_eq!(user.dropping_rules, 2);
        let docker = chains.iter().find(|c| c.name == "DOCKER").unwrap();
        assert!(docker.reachable);
        assert_eq!(docker.references, 1);
    }

    #[test]
    fn c21_matches_expected_chain_references() {
        // Semantically: every line's name, reference count and state.
        let chains = analyse(&c21());
        let mut want = Vec::new();
        for line in expected().lines().filter(|l| !l.trim().is_empty()) {
            let name = line.split_whitespace().next().unwrap().to_string();
            let refs = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("references="))
                .map(|n| n.parse::<usize>().unwrap());
            let inert = line
                .split_once("UNREACHABLE (")
                .map(|(_, rest)| rest.split_whitespace().next().unwrap().parse::<usize>().unwrap());
            want.push((name, refs, line.contains(" reachable"), inert));
        }
        let got: Vec<_> = chains
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    (!c.builtin).then_some(c.references),
                    c.reachable,
                    (!c.reachable).then_some(c.inert_rules()),
                )
            })
            .collect();
        assert_eq!(got, want);
        // And literally, as rendered.
        assert_eq!(render(&chains), expected());
    }

    #[test]
    fn older_layout_and_cycles() {
        // FORWARD straight to DOCKER (Docker < 28), a goto, and a cycle that
        // must not loop; an orphan pair jumping to each other stays unreachable.
        let text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:DOCKER - [0:0]\n:A - [0:0]\n:B - [0:0]\n:O1 - [0:0]\n:O2 - [0:0]\n\
-A FORWARD -j LOG\n-A FORWARD -o docker0 -j DOCKER\n-A FORWARD -g A\n-A A -j B\n-A B -j A\n-A O1 -j O2\n-A O2 -j O1\n-A O2 -j DROP\nCOMMIT\n";
        // A target that is no chain of the table (an extension) is no edge.
        let table = parse(text, "t").unwrap().table("filter").unwrap().clone();
        let chains = analyse(&table);
        let names: Vec<_> = chains.iter().map(|c| (c.name.as_str(), c.reachable)).collect();
        assert_eq!(
            names,
            [
                ("FORWARD", true),
                ("DOCKER", true),
                ("A", true),
                ("B", true),
                ("O1", false),
                ("O2", false)
            ]
        );
        let o2 = chains.iter().find(|c| c.name == "O2").unwrap();
        assert_eq!((o2.references, o2.inert_rules(), o2.dropping_rules), (1, 2, 1));
    }
}
