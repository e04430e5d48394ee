//! # Live effects
//!
//! The running system, as opposed to files: dockhard's tagged rules in the
//! firewall, per-mount flags of mounted file systems, and dockerd reading
//! its configuration. Only the executor calls the mutating functions, and
//! only on the machine's own root (`--root /`, not `--offline`).

use crate::error::{Error, Result};

pub mod firewall;

/// Per-mount flags of mounted file systems.
pub mod remount {
    use super::*;
    use crate::kinds::mount::mountinfo;
    use nix::mount::MsFlags;

    /// The per-mount flags a bind remount sets, as mountinfo names them
    /// (see [`mountinfo::PER_MOUNT_FLAGS`]); `rw` is the absence of `ro`.
    const FLAGS: [(&str, MsFlags); 8] = [
        ("ro", MsFlags::MS_RDONLY),
        ("nosuid", MsFlags::MS_NOSUID),
        ("nodev", MsFlags::MS_NODEV),
        ("noexec", MsFlags::MS_NOEXEC),
        ("noatime", MsFlags::MS_NOATIME),
        ("nodiratime", MsFlags::MS_NODIRATIME),
        ("relatime", MsFlags::MS_RELATIME),
        ("nosymfollow", MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW)),
    ];

    /// Shown in mountinfo's per-mount options but not a flag: a bind
    /// remount leaves it as it is.
    const KEPT: [&str; 2] = ["rw", "idmapped"];

    /// The visible mount at `path` on the running system: (mount id,
    /// per-mount options). `None` when nothing is mounted there.
    pub fn visible(path: &str) -> Result<Option<(u64, Vec<String>)>> {
        let text = std::fs::read_to_string(mountinfo::PATH).map_err(|e| Error::io(mountinfo::PATH, e))?;
        let mounts = mountinfo::parse(mountinfo::PATH, &text)?;
        Ok(mountinfo::stack_at(&mounts, path).map(|s| (s.visible.id, s.visible.mount_options.clone())))
    }

    /// The `mount(2)` flags of a bind remount that leaves exactly
    /// `options` (per-mount flags as mountinfo shows them) on a mount. No
    /// atime flag in `options` means strictatime, which has to be asked
    /// for: without any atime flag a remount keeps the old one.
    pub fn mount_flags(path: &str, options: &[String]) -> Result<MsFlags> {
        let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
        for option in options {
            match FLAGS.iter().find(|(name, _)| name == option) {
                Some((_, flag)) => flags |= *flag,
                None if KEPT.contains(&option.as_str()) => {}
                None => {
                    return Err(Error::msg(format!(
                        "{path}: `{option}` is not a per-mount flag; not remounted"
                    )));
                }
            }
        }
        if !options.iter().any(|o| o == "noatime" || o == "relatime") {
            flags |= MsFlags::MS_STRICTATIME;
        }
        Ok(flags)
    }

    /// Sets exactly these per-mount flags on the visible mount at `path`
    /// (a bind remount changes only per-mount flags, never the file
    /// system's own options, and never unmounts), if it is still mount
    /// `mount_id`; then reads mountinfo back to check them.
    pub fn set_flags(path: &str, mount_id: u64, options: &[String]) -> Result<()> {
        match visible(path)? {
            Some((id, _)) if id == mount_id => {}
            Some((id, _)) => {
                return Err(Error::msg(format!(
                    "{path}: another file system is mounted there now (mount {id}, planned {mount_id}); not remounted"
                )));
            }
            None => {
                return Err(Error::msg(format!(
                    "{path}: no longer a mount point; not remounted"
                )));
            }
        }
        let flags = mount_flags(path, options)?;
        nix::mount::mount(None::<&str>, path, None::<&str>, flags, None::<&str>).map_err(|e| {
            Error::msg(format!(
                "{path}: remount of mount {mount_id} with {} failed: {}{}",
                options.join(","),
                e.desc(),
                match e {
                    nix::errno::Errno::EBUSY => " (the mount point is busy)",
                    nix::errno::Errno::EPERM | nix::errno::Errno::EACCES => {
                        " (no CAP_SYS_ADMIN, or a mount locked by a user namespace)"
                    }
                    _ => "",
                }
            ))
        })?;
        match visible(path)? {
            Some((id, now)) if id == mount_id && same_flags(&now, options) => Ok(()),
            Some((id, now)) => Err(Error::msg(format!(
                "{path}: after the remount mount {id} has {} instead of {}",
                now.join(","),
                options.join(",")
            ))),
            None => Err(Error::msg(format!("{path}: vanished during the remount"))),
        }
    }

    /// Same set of flags, whatever the order.
    pub fn same_flags(a: &[String], b: &[String]) -> bool {
        let mut a: Vec<&String> = a.iter().collect();
        let mut b: Vec<&String> = b.iter().collect();
        a.sort();
        b.sort();
        a == b
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn w(list: &[&str]) -> Vec<String> {
            list.iter().map(|s| s.to_string()).collect()
        }

        #[test]
        fn flags_keep_ro_noexec_and_the_atime_flag() {
            let base = MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
            let f = mount_flags("/x", &w(&["ro", "nosuid", "nodev", "noexec", "noatime"])).unwrap();
            assert_eq!(
                f,
                base | MsFlags::MS_RDONLY
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC
                    | MsFlags::MS_NOATIME
            );
            let f = mount_flags("/x", &w(&["rw", "nosuid", "relatime", "nosymfollow"])).unwrap();
            assert_eq!(
                f,
                base | MsFlags::MS_NOSUID | MsFlags::MS_RELATIME | MsFlags::from_bits_retain(0x100)
            );
            // No atime flag shown: strictatime, asked for explicitly.
            let f = mount_flags("/x", &w(&["rw", "idmapped"])).unwrap();
            assert_eq!(f, base | MsFlags::MS_STRICTATIME);
            let err = mount_flags("/x", &w(&["rw", "size=1G"])).unwrap_err();
            assert!(
                err.to_string().contains("/x: `size=1G` is not a per-mount flag"),
                "{err}"
            );
        }

        #[test]
        fn every_per_mount_flag_is_known() {
            for flag in mountinfo::PER_MOUNT_FLAGS {
                assert!(mount_flags("/x", &w(&[flag])).is_ok(), "{flag}");
            }
        }
    }
}

/// dockerd reading its configuration, and its API.
pub mod dockerd;
