//! Saved plans (`plan --out plan.json`): `Plan::parse_saved` with its
//! digest check, rendering, and saving then reading back.
#![no_main]

mod common;

use common::{FILE, check_line, line_count};
use dockhard::catalog::Catalog;
use dockhard::plan::{Plan, SCHEMA};
use dockhard::render::{Style, plan_json, plan_text};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::builtin().expect("the built-in catalog loads"))
}

fuzz_target!(|data: &[u8]| {
    // A JSON error names its line; the digest and schema checks are about
    // the whole file (`F: …`).
    if let Err(e) = Plan::parse_saved(data, FILE)
        && !e.message().starts_with("F: ")
    {
        check_line(e.message(), line_count(data));
    }
    // Any plan dockhard could hold: shown, saved, and read back the same
    // (the digest survives the trip through the file).
    let Ok(plan) = serde_json::from_slice::<Plan>(data) else {
        return;
    };
    let _ = plan_text(&plan, catalog(), Style::PLAIN);
    let _ = plan_json(&plan);
    let _ = (plan.has_errors(), plan.blockers());
    for change in &plan.changes {
        let _ = (change.action.path(), change.action.is_live());
    }
    if plan.schema != SCHEMA {
        return;
    }
    let saved = plan.to_saved_json();
    let back = Plan::parse_saved(saved.as_bytes(), FILE).unwrap_or_else(|e| panic!("{e}\n{saved}"));
    assert_eq!(back, plan);
    assert_eq!(back.to_saved_json(), saved);
});
