//! # Health check
//!
//! After a live apply (or rollback) on the machine's own root, a short check
//! that the host still works as it did before the run:
//!
//! - dockerd answers on its socket, if it answered before the run;
//! - a container can start: a throwaway container of the smallest local
//!   image runs `true` and exits 0 (skipped when there is no image, e.g.
//!   right after userns-remap hid the existing ones);
//! - `sudo` and `su` still carry the set-id bits they had before.
//!
//! The executor takes a [`Baseline`] before the first change and calls
//! [`check`] after the last; a failure undoes the run like a failed change.

use crate::error::{Error, Result};
use crate::host::HostRoot;
use crate::host::live::dockerd;

/// The programs whose set-id bits must survive a run.
pub const SETID_PROGRAMS: [&str; 6] = [
    "/usr/bin/sudo",
    "/usr/bin/su",
    "/bin/su",
    "/bin/sudo",
    "/usr/sbin/sudo",
    "/sbin/su",
];

/// What the host looked like before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    pub dockerd_answered: bool,
    /// Each set-id program that exists: path, set-id bits (`mode & 0o6000`).
    pub setid: Vec<(String, u32)>,
}

/// Observes the host before the run.
pub fn baseline(root: &HostRoot) -> Baseline {
    Baseline {
        dockerd_answered: dockerd::answers(),
        setid: setid_bits(root),
    }
}

fn setid_bits(root: &HostRoot) -> Vec<(String, u32)> {
    let mut seen = std::collections::HashSet::new();
    SETID_PROGRAMS
        .iter()
        .filter_map(|path| match root.stat(path) {
            Ok(Some(st)) if seen.insert((st.dev, st.ino)) => Some((path.to_string(), st.mode & 0o6000)),
            _ => None,
        })
        .collect()
}

/// What the check saw (for the run's output).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub passed: Vec<String>,
    pub skipped: Vec<String>,
}

impl Report {
    /// One line for the run's output.
    pub fn text(&self) -> String {
        let mut text = format!("Health check passed: {}", self.passed.join("; "));
        if self.passed.is_empty() {
            text = "Health check passed (nothing to check)".to_string();
        }
        if !self.skipped.is_empty() {
            text.push_str(&format!(" (not checked: {})", self.skipped.join("; ")));
        }
        text.push('\n');
        text
    }
}

/// Checks the host against `before`. `Err` names every problem.
pub fn check(root: &HostRoot, before: &Baseline) -> Result<Report> {
    let mut report = Report::default();
    let mut problems = Vec::new();
    if before.dockerd_answered {
        match dockerd::get("/version") {
            Ok(_) => report.passed.push("dockerd answers on its socket".to_string()),
            Err(e) => problems.push(format!(
                "dockerd answered on {} before the run and does not now ({e})",
                dockerd::SOCKET
            )),
        }
        if problems.is_empty() {
            let name = format!("dockhard-health-{}", std::process::id());
            match dockerd::run_probe_container(&name) {
                Ok(Some(image)) => report
                    .passed
                    .push(format!("a container of {image} starts and exits 0")),
                Ok(None) => report
                    .skipped
                    .push("container start: dockerd has no image with `true` or a shell to try".to_string()),
                Err(e) => problems.push(format!("a test container does not run: {e}")),
            }
        }
    } else {
        report
            .skipped
            .push("dockerd: it did not answer before the run either".to_string());
    }
    let now = setid_bits(root);
    for (path, bits) in &before.setid {
        if *bits == 0 {
            continue;
        }
        match now.iter().find(|(p, _)| p == path) {
            Some((_, b)) if b == bits => report.passed.push(format!("{path} keeps its set-id bits")),
            Some((_, b)) => problems.push(format!(
                "{path} had set-id bits {bits:04o} before the run and has {b:04o} now"
            )),
            None => problems.push(format!("{path} was there before the run and is gone")),
        }
    }
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(Error::msg(format!(
            "the host health check failed after the changes: {}",
            problems.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lost_setid_bits_fail_the_check_and_kept_ones_pass() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("usr/bin")).unwrap();
        for name in ["sudo", "su"] {
            let p = dir.path().join("usr/bin").join(name);
            std::fs::write(&p, b"x").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o4755)).unwrap();
        }
        let root = HostRoot::open(dir.path()).unwrap();
        let before = Baseline {
            dockerd_answered: false,
            setid: setid_bits(&root),
        };
        assert_eq!(before.setid.len(), 2);
        let report = check(&root, &before).unwrap();
        assert_eq!(report.passed.len(), 2, "{report:?}");
        std::fs::set_permissions(
            dir.path().join("usr/bin/sudo"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let err = check(&root, &before).unwrap_err().to_string();
        assert!(err.contains("/usr/bin/sudo had set-id bits 4000"), "{err}");
        std::fs::remove_file(dir.path().join("usr/bin/su")).unwrap();
        let err = check(&root, &before).unwrap_err().to_string();
        assert!(err.contains("/usr/bin/su was there before"), "{err}");
    }
}
