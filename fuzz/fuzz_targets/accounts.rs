//! /etc/passwd, /etc/group, shadow name lists and /etc/login.defs, all read
//! from the same bytes.
#![no_main]

mod common;

use common::{FILE, check_line, line_count};
use dockhard::kinds::subid::accounts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = line_count(data);
    let uids: Vec<u32> = match accounts::parse_passwd(FILE, data) {
        Ok(users) => users.iter().map(|u| u.uid).collect(),
        Err(e) => {
            check_line(e.message(), lines);
            Vec::new()
        }
    };
    match accounts::parse_group(FILE, data) {
        Ok(_) => {}
        Err(e) => check_line(e.message(), lines),
    }
    for result in [
        accounts::parse_shadow_names(FILE, data),
        accounts::parse_gshadow_names(FILE, data),
    ] {
        if let Err(e) = result {
            check_line(e.message(), lines);
        }
    }
    match accounts::parse_login_defs(FILE, data) {
        Ok(defs) => {
            assert!(defs.sub_uid_min <= defs.sub_uid_max && defs.sys_uid_min <= defs.sys_uid_max);
            assert!(defs.sys_gid_max <= u64::from(u32::MAX));
            // The system-id search is bounded by what is in use.
            if defs.sys_uid_max - defs.sys_uid_min < 1 << 20
                && let Some(id) = accounts::free_system_id(&uids, defs.sys_uid_min, defs.sys_uid_max)
            {
                assert!(!uids.contains(&id));
            }
        }
        Err(e) => check_line(e.message(), lines),
    }
    // Appending keeps the old bytes and ends with a newline.
    let appended = accounts::append_line(Some(data), "dockremap:x:999:999::/:/bin/false");
    assert!(appended.starts_with(data) && appended.ends_with(b"\n"));
});
