//! /etc/subuid and /etc/subgid: owner:start:count lines, the free-range
//! allocator and the overlap check.
#![no_main]

mod common;

use common::{FILE, check_line, line_count};
use dockhard::kinds::subid::ranges::{self, LAST_USABLE_ID};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = match ranges::parse_subid(FILE, data) {
        Ok(p) => p,
        Err(e) => return check_line(e.message(), line_count(data)),
    };
    let lines = line_count(data);
    for r in &parsed.ranges {
        assert!((1..=lines).contains(&r.line));
        assert!(r.end() <= 1 << 32, "{r:?}");
        let _ = (
            r.reaches_invalid_id(),
            r.belongs_to(&r.owner, 0),
            ranges::parse_id(&r.owner),
        );
        assert!(!parsed.ranges_of(&r.owner, u32::MAX).is_empty());
    }
    let _ = ranges::overlaps(&parsed.ranges, |a, b| a.owner == b.owner);
    // A range found free overlaps nothing and stays within the bounds.
    for (min, max, count) in [
        (100_000, 600_100_000, 65_536),
        (0, u64::from(u32::MAX), 1),
        (1 << 31, 1 << 32, 1 << 31),
    ] {
        if let Some(start) = ranges::first_free_start(&parsed.ranges, min, max, count) {
            assert!(start >= min && start + count - 1 <= max.min(LAST_USABLE_ID));
            assert!(
                parsed.ranges.iter().all(|r| !r.overlaps(start, count)),
                "{start}+{count}"
            );
        }
    }
});
