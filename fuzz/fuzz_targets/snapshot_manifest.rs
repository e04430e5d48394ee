//! Snapshot manifests (`snapshots/ID/manifest.json`): `Manifest::parse`
//! with its digest check, and sealing (`to_bytes`) then reading back.
#![no_main]

mod common;

use common::{FILE, check_line, line_count};
use dockhard::snapshot::{MANIFEST_SCHEMA, Manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Manifest::parse(data, FILE) {
        Ok(_) => {}
        // A JSON error names its line; the digest and schema checks are
        // about the whole file (`F: …`).
        Err(e) if e.message().starts_with("F: ") => {}
        Err(e) => check_line(e.message(), line_count(data)),
    }
    // Any manifest dockhard could hold, once sealed, reads back unchanged:
    // the digest survives the trip through the file.
    let Ok(manifest) = serde_json::from_slice::<Manifest>(data) else {
        return;
    };
    if manifest.schema != MANIFEST_SCHEMA {
        return;
    }
    let sealed = manifest.to_bytes();
    let back = Manifest::parse(&sealed, FILE)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&sealed)));
    assert_eq!(back.to_bytes(), sealed);
});
