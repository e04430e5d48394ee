//! /etc/fstab: parse, render unchanged, and the nosuid edit the mount kind makes.
#![no_main]

mod common;

use common::{FILE, check_line, line_count};
use dockhard::kinds::mount::fstab::{Fstab, escape};
use dockhard::kinds::mount::options;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut fstab = match Fstab::parse(FILE, data) {
        Ok(f) => f,
        Err(e) => return check_line(e.message(), line_count(data)),
    };
    // Untouched lines are kept byte for byte.
    assert_eq!(fstab.to_bytes(), data);

    let wanted: Vec<String> = ["nosuid", "nodev", "noexec"].map(String::from).to_vec();
    let entries: Vec<(usize, String, String)> = fstab
        .lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            l.entry
                .as_ref()
                .map(|e| (i, e.mount_point.clone(), e.options.clone()))
        })
        .collect();
    for (index, point, opts) in entries {
        assert!(fstab.find(&point).contains(&index), "{point:?} not found");
        let edit = options::ensure(&opts, &wanted);
        assert!(options::missing(&edit.options, &wanted).is_empty(), "{edit:?}");
        if edit.changed() {
            fstab.set_options(index, &edit.options);
        }
    }
    // The edited file parses again, with the wanted options in effect.
    let bytes = fstab.to_bytes();
    let again = Fstab::parse(FILE, &bytes).expect("an edited fstab parses");
    for line in again.lines.iter().filter_map(|l| l.entry.as_ref()) {
        assert!(options::missing(&line.options, &wanted).is_empty(), "{line:?}");
    }
    // A new line for an escaped mount point is found by its decoded name.
    if let Some(point) = again
        .lines
        .iter()
        .filter_map(|l| l.entry.as_ref())
        .map(|e| e.mount_point.clone())
        .next()
    {
        let mut more = again.clone();
        let line = format!("tmpfs {} tmpfs nosuid 0 0", escape(&point));
        if more.append_line(FILE, &line).is_ok() {
            assert!(!more.find(&point).is_empty());
        }
    }
});
