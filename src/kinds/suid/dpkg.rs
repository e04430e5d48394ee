//! Which package owns a file, from dpkg's file lists
//! (`/var/lib/dpkg/info/PACKAGE.list`, one path a line).
//!
//! Only the paths asked about are kept: each list is read line by line and a
//! line is looked at closely only if its base name is one of theirs, so
//! memory stays bounded by the question, not by the database. dpkg may list
//! a file under a merged-/usr spelling (`/bin/su`); such lines are resolved
//! inside the root before they are compared.
//! Diversions (`/var/lib/dpkg/diversions`) are not read: a diverted set-id
//! file shows as not package-owned, which errs towards asking.

use super::resolve::Resolver;
use crate::host::HostRoot;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;

pub const INFO_DIR: &str = "/var/lib/dpkg/info";

/// Whether a file is known to belong to a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Owned by this package (the first in name order if several).
    Packaged(String),
    /// There is a package database and no package lists the file.
    Unpackaged,
    /// There is no package database to ask.
    Unknown,
}

impl Ownership {
    pub fn describe(&self) -> String {
        match self {
            Ownership::Packaged(pkg) => format!("package {pkg}"),
            Ownership::Unpackaged => "no package".to_string(),
            Ownership::Unknown => "package not checked".to_string(),
        }
    }
}

/// Owners of `paths` (canonical, inside the root). `None`: the root has no
/// dpkg database (no `*.list` file in [`INFO_DIR`]). Unreadable list files
/// are returned by name, so the caller can say ownership was partly unknown.
pub fn owners(
    root: &HostRoot,
    resolver: &mut Resolver<'_>,
    paths: &HashSet<String>,
) -> Option<(HashMap<String, String>, Vec<String>)> {
    let names = root.list_dir(INFO_DIR).ok().flatten()?;
    let lists: Vec<&String> = names.iter().filter(|n| n.ends_with(".list")).collect();
    if lists.is_empty() {
        return None;
    }
    let dir = root.open_dir(INFO_DIR).ok()?;
    let basenames: HashSet<&str> = paths.iter().filter_map(|p| p.rsplit('/').next()).collect();
    let mut found: HashMap<String, String> = HashMap::new();
    let mut unreadable = Vec::new();
    let mut line = Vec::new();
    for name in lists {
        let package = name.trim_end_matches(".list");
        let fd = match openat(
            dir.as_fd(),
            name.as_str(),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(err) => {
                unreadable.push(format!("{INFO_DIR}/{name}: {}", err.desc()));
                continue;
            }
        };
        let mut reader = BufReader::new(std::fs::File::from(fd));
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) => {
                    unreadable.push(format!("{INFO_DIR}/{name}: {err}"));
                    break;
                }
            }
            let Ok(text) = std::str::from_utf8(&line) else {
                continue;
            };
            let text = text.trim_end_matches(['\n', '\r']);
            let Some(base) = text.rsplit('/').next() else {
                continue;
            };
            if !text.starts_with('/') || !basenames.contains(base) {
                continue;
            }
            let canonical = resolver.file(text);
            if paths.contains(&canonical) {
                found
                    .entry(canonical)
                    .and_modify(|p| {
                        if package < p.as_str() {
                            *p = package.to_string();
                        }
                    })
                    .or_insert_with(|| package.to_string());
            }
        }
    }
    Some((found, unreadable))
}

/// The ownership of one path given the answer of [`owners`].
pub fn ownership_of(db: Option<&HashMap<String, String>>, path: &str) -> Ownership {
    match db {
        None => Ownership::Unknown,
        Some(map) => match map.get(path) {
            Some(pkg) => Ownership::Packaged(pkg.clone()),
            None => Ownership::Unpackaged,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing::empty_root;
    use std::os::unix::fs::symlink;

    #[test]
    fn owners_reads_lists_and_resolves_merged_usr() {
        let (dir, root) = empty_root();
        let d = dir.path();
        std::fs::create_dir_all(d.join("usr/bin")).unwrap();
        symlink("usr/bin", d.join("bin")).unwrap();
        std::fs::create_dir_all(d.join("var/lib/dpkg/info")).unwrap();
        std::fs::write(
            d.join("var/lib/dpkg/info/util-linux.list"),
            "/.\n/bin\n/bin/su\n/usr/bin/mount\n",
        )
        .unwrap();
        std::fs::write(
            d.join("var/lib/dpkg/info/passwd.list"),
            "/.\n/usr/bin/chfn\n/usr/local/bin/other\n",
        )
        .unwrap();
        std::fs::write(d.join("var/lib/dpkg/info/passwd.md5sums"), "x  /usr/bin/tool\n").unwrap();
        let paths: HashSet<String> = ["/usr/bin/su", "/usr/bin/chfn", "/usr/bin/tool"]
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut resolver = Resolver::new(&root);
        let (db, unreadable) = owners(&root, &mut resolver, &paths).unwrap();
        assert!(unreadable.is_empty());
        assert_eq!(db.get("/usr/bin/su").map(String::as_str), Some("util-linux"));
        assert_eq!(db.get("/usr/bin/chfn").map(String::as_str), Some("passwd"));
        assert_eq!(db.len(), 2, "{db:?}");
        assert_eq!(ownership_of(Some(&db), "/usr/bin/tool"), Ownership::Unpackaged);
        assert_eq!(ownership_of(None, "/usr/bin/tool"), Ownership::Unknown);
    }

    #[test]
    fn no_database_is_unknown_not_unpackaged() {
        let (dir, root) = empty_root();
        let paths: HashSet<String> = ["/usr/bin/su".to_string()].into();
        let mut resolver = Resolver::new(&root);
        assert!(owners(&root, &mut resolver, &paths).is_none());
        // An info dir without any list is no database either.
        std::fs::create_dir_all(dir.path().join("var/lib/dpkg/info")).unwrap();
        assert!(owners(&root, &mut resolver, &paths).is_none());
    }
}
