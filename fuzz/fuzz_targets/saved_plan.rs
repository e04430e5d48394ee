//! Saved plans (`plan --out plan.json`): read, render, save again.
#![no_main]

use dockhard::catalog::Catalog;
use dockhard::plan::Plan;
use dockhard::render::{Style, plan_json, plan_text};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::builtin().expect("the built-in catalog loads"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = serde_json::from_slice::<Plan>(data) else {
        return;
    };
    let _ = plan_text(&plan, catalog(), Style::PLAIN);
    let _ = (plan.has_errors(), plan.blockers());
    for change in &plan.changes {
        let _ = (change.action.path(), change.action.is_live());
    }
    // What is saved again reads back as the same plan.
    let saved = plan_json(&plan);
    let back: Plan = serde_json::from_str(&saved).unwrap_or_else(|e| panic!("{e}\n{saved}"));
    assert_eq!(back, plan);
});
