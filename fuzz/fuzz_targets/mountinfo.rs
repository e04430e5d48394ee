//! /proc/self/mountinfo: parse, then the per-mount flag and stack queries.
#![no_main]

mod common;

use common::{FILE, check_line, line_count};
use dockhard::kinds::mount::fstab::normalize;
use dockhard::kinds::mount::mountinfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mounts = match mountinfo::parse(FILE, text) {
        Ok(m) => m,
        Err(e) => return check_line(e.message(), line_count(data)),
    };
    let wanted: Vec<String> = ["nosuid", "nodev", "noexec", "ro"].map(String::from).to_vec();
    for m in &mounts {
        let _ = m.describe();
        let stack = mountinfo::stack_at(&mounts, &m.mount_point);
        if let Some(stack) = stack {
            // The query is by normalised path (`//proc` is `/proc`).
            assert_eq!(stack.visible.mount_point, normalize(&m.mount_point));
            assert!(
                stack
                    .hidden
                    .iter()
                    .all(|h| h.id != stack.visible.id || h.parent != stack.visible.parent)
            );
        }
        if let Some(flags) = mountinfo::with_flags(&m.mount_options, &wanted) {
            for w in &wanted {
                assert!(flags.contains(w), "{flags:?} lacks {w}");
            }
            assert!(mountinfo::with_flags(&flags, &wanted).is_none(), "{flags:?}");
        }
    }
});
