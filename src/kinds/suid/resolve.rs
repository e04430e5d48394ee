//! Canonical spellings of paths inside the root.
//!
//! On a merged-/usr system `/bin`, `/sbin` and `/lib*` are symlinks into
//! `/usr`, so `/bin/su` and `/usr/bin/su` name one file. The allow list, the
//! dpkg file lists and PATH use either spelling; the scan never follows a
//! symlink and so only ever sees the `/usr` one. [`Resolver`] turns any
//! spelling into the one the scan sees, reading symlinks inside the root
//! only: an absolute link target starts again at the root, and `..` never
//! climbs above it.

use crate::host::{FileType, HostRoot};
use std::collections::HashMap;

/// Most symlinks followed while resolving one path (as the kernel's 40).
const MAX_HOPS: usize = 40;

/// Resolves symlinks inside the root, caching directories it has resolved.
pub struct Resolver<'a> {
    root: &'a HostRoot,
    dirs: HashMap<String, String>,
}

impl<'a> Resolver<'a> {
    pub fn new(root: &'a HostRoot) -> Self {
        Resolver {
            root,
            dirs: HashMap::new(),
        }
    }

    /// The canonical spelling of the file `path` names, without following
    /// its last component: a symlink named in a list is not the file it
    /// points to (dpkg lists links and their targets separately). Only the
    /// directories leading to it are resolved.
    pub fn file(&mut self, path: &str) -> String {
        let (dir, name) = match path.trim_end_matches('/').rsplit_once('/') {
            Some((dir, name)) => (dir, name),
            None => ("", path),
        };
        if name.is_empty() || name == "." || name == ".." {
            return self.full(path);
        }
        let dir = self.dir(if dir.is_empty() { "/" } else { dir });
        join(&dir, name)
    }

    /// The canonical spelling of a directory (every component resolved).
    pub fn dir(&mut self, dir: &str) -> String {
        if let Some(done) = self.dirs.get(dir) {
            return done.clone();
        }
        let done = self.full(dir);
        self.dirs.insert(dir.to_string(), done.clone());
        done
    }

    /// Resolves every component of `path`, the last one included. Missing
    /// components are kept as written; a link loop stops resolving.
    pub fn full(&self, path: &str) -> String {
        let mut done: Vec<String> = Vec::new();
        let mut todo: Vec<String> = components(path).rev().map(str::to_string).collect();
        let mut hops = 0;
        while let Some(name) = todo.pop() {
            if name == ".." {
                done.pop();
                continue;
            }
            let candidate = join(&format!("/{}", done.join("/")), &name);
            let target = match self.root.lstat(&candidate) {
                Ok(Some(st)) if st.file_type == FileType::Symlink && hops < MAX_HOPS => {
                    std::fs::read_link(self.root.machine_path(&candidate))
                        .ok()
                        .and_then(|t| t.to_str().map(str::to_string))
                }
                _ => None,
            };
            match target {
                Some(target) => {
                    hops += 1;
                    if target.starts_with('/') {
                        done.clear();
                    }
                    todo.extend(components(&target).rev().map(str::to_string));
                }
                None => done.push(name),
            }
        }
        format!("/{}", done.join("/"))
    }
}

/// Path components without empty ones and `.`.
fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

/// `/usr/bin` + `su` → `/usr/bin/su`; `/` + `x` → `/x`.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Lexically normalised spelling: no empty components, `.` or `..`.
pub fn normalise(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in components(path) {
        if c == ".." {
            out.pop();
        } else {
            out.push(c);
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing::empty_root;
    use std::os::unix::fs::symlink;

    #[test]
    fn merged_usr_spellings_resolve_to_usr() {
        let (dir, root) = empty_root();
        let d = dir.path();
        std::fs::create_dir_all(d.join("usr/bin")).unwrap();
        std::fs::create_dir_all(d.join("usr/lib/x86_64-linux-gnu")).unwrap();
        std::fs::write(d.join("usr/bin/su"), b"").unwrap();
        symlink("usr/bin", d.join("bin")).unwrap();
        symlink("/usr/lib", d.join("lib")).unwrap();
        // A link pointing far outside the root stays inside it.
        symlink("../../../../../../usr/bin", d.join("usr/up")).unwrap();
        // The last component is not followed by `file`.
        symlink("su", d.join("usr/bin/sudo-link")).unwrap();
        symlink("loop", d.join("loop")).unwrap();

        let mut r = Resolver::new(&root);
        assert_eq!(r.file("/bin/su"), "/usr/bin/su");
        assert_eq!(r.file("/usr/bin/su"), "/usr/bin/su");
        assert_eq!(r.file("/bin/missing"), "/usr/bin/missing");
        assert_eq!(r.file("/lib/x86_64-linux-gnu/x"), "/usr/lib/x86_64-linux-gnu/x");
        assert_eq!(r.file("/usr/up/su"), "/usr/bin/su");
        assert_eq!(r.file("/bin/sudo-link"), "/usr/bin/sudo-link");
        assert_eq!(r.full("/bin/sudo-link"), "/usr/bin/su");
        assert_eq!(r.file("/usr/local/bin/fusermount3"), "/usr/local/bin/fusermount3");
        assert_eq!(r.dir("/bin"), "/usr/bin");
        assert_eq!(r.dir("/"), "/");
        assert_eq!(r.file("/loop/x"), "/loop/x");
        assert_eq!(r.file("//bin/./su"), "/usr/bin/su");
    }

    #[test]
    fn normalise_is_lexical() {
        assert_eq!(normalise("/var/lib/docker/"), "/var/lib/docker");
        assert_eq!(normalise("//srv/./docker/../d"), "/srv/d");
        assert_eq!(normalise("/../x"), "/x");
        assert_eq!(normalise(""), "/");
    }
}
