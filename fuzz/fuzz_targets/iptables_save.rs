//! iptables-save output: tables, chain declarations and `-A` rules, and
//! the rule lines dockhard renders from them.
#![no_main]

mod common;

use common::{FILE, check_line, line_count};
use dockhard::kinds::iptables::save::{self, quote_arg, split_args};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = match save::parse(text, FILE) {
        Ok(f) => f,
        Err(e) => return check_line(e.message(), line_count(data)),
    };
    let _ = (file.is_nft(), file.has_rules(), file.has_docker_chains());
    let lines = text.lines().count();
    for table in &file.tables {
        for chain in &table.chains {
            assert!((1..=lines).contains(&chain.line));
            let _ = chain.is_builtin();
        }
        for rule in &table.rules {
            assert!((1..=lines).contains(&rule.line));
            assert!(table.chain(&rule.chain).is_some());
            let _ = (rule.target(), rule.comment());
            // Each argument survives its quoting.
            for arg in &rule.args {
                assert_eq!(
                    split_args(&quote_arg(arg)).as_deref(),
                    Ok(std::slice::from_ref(arg)),
                    "{arg:?}"
                );
            }
            // The rendered rule reads back as the same rule.
            if quote_arg(&rule.chain) == rule.chain {
                let one = format!("*{}\n:{} -\n{}\nCOMMIT\n", table.name, rule.chain, rule.to_line());
                let back = save::parse(&one, FILE).unwrap_or_else(|e| panic!("{one:?}: {e}"));
                assert_eq!(back.tables[0].rules[0].args, rule.args, "{one:?}");
            }
        }
    }
});
