//! Snapshot manifests (`snapshots/ID/manifest.json`): read, show, write again.
#![no_main]

use dockhard::snapshot::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = serde_json::from_slice::<Manifest>(data) else {
        return;
    };
    // What is written again reads back the same.
    let written = serde_json::to_string_pretty(&manifest).expect("a manifest serialises");
    let back: Manifest = serde_json::from_str(&written).unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(serde_json::to_string_pretty(&back).unwrap(), written);
});
