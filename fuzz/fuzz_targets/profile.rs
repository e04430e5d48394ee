//! Profiles (TOML over the built-in catalog): load, show, load the shown
//! profile again.
#![no_main]

mod common;

use common::{FILE, check_line, line_count};
use dockhard::catalog::{Catalog, Policy};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::builtin().expect("the built-in catalog loads"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let policy = match Policy::load(catalog(), Some((FILE, text))) {
        Ok(p) => p,
        Err(e) => return check_line(e.message(), line_count(data)),
    };
    // `profile show` gives a profile that loads to the same policy.
    let shown = dockhard::profile::show(&policy, Some(FILE));
    let again = Policy::load(catalog(), Some(("shown.toml", &shown)))
        .unwrap_or_else(|e| panic!("the shown profile does not load: {e}\n{shown}"));
    assert_eq!(policy.rules.len(), again.rules.len());
    for (a, b) in policy.rules.iter().zip(&again.rules) {
        assert_eq!(a.enabled, b.enabled, "{}", a.rule.id);
        assert_eq!(a.params.table(), b.params.table(), "{}\n{shown}", a.rule.id);
    }
    assert_eq!(dockhard::profile::show(&again, Some(FILE)), shown);
});
