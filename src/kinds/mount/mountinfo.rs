//! # /proc/self/mountinfo
//!
//! Each line is split on single spaces. Fields 1–6 are fixed (id, parent,
//! major:minor, root, mount point, per-mount options); optional fields
//! (`shared:N`, `master:N`, or tags a future kernel adds) follow until the
//! first field that is exactly `-`, at index 6 or later; then come the file
//! system type, the source (which may itself be `-`) and the super block
//! options. `\NNN` escapes are decoded in root and mount point; the source
//! is kept raw and also decoded. Flags such as `nosuid` are read from the
//! per-mount options only: super options never carry them.
//!
//! The same mount point can appear several times (stacked mounts); only the
//! top one is visible. It is found by parent ids, not by line order: see
//! [`stack_at`].

use super::decode_octal;
use crate::error::{Error, Result};

pub const PATH: &str = "/proc/self/mountinfo";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    pub id: u64,
    pub parent: u64,
    pub major_minor: String,
    /// Decoded.
    pub root: String,
    /// Decoded.
    pub mount_point: String,
    /// Per-mount options (field 6).
    pub mount_options: Vec<String>,
    pub optional_fields: Vec<String>,
    pub fstype: String,
    pub source_raw: String,
    pub source_decoded: String,
    pub super_options: String,
}

impl MountInfo {
    /// Whether a per-mount flag (`nosuid`, `nodev`, `noexec`, `ro`) is set.
    pub fn has(&self, option: &str) -> bool {
        self.mount_options.iter().any(|o| o == option)
    }

    /// "mount 61 (tmpfs tmpfs)".
    pub fn describe(&self) -> String {
        format!("mount {} ({} {})", self.id, self.fstype, self.source_decoded)
    }
}

fn decoded(field: &str) -> String {
    String::from_utf8_lossy(&decode_octal(field.as_bytes())).into_owned()
}

fn parse_line(file: &str, number: usize, line: &str) -> Result<MountInfo> {
    let err = |what: String| Error::at(file, number, None, what);
    let fields: Vec<&str> = line.split(' ').collect();
    if fields.len() < 10 {
        return Err(err(format!(
            "{} fields; a mountinfo line has at least 10",
            fields.len()
        )));
    }
    let sep = fields[6..]
        .iter()
        .position(|f| *f == "-")
        .map(|p| p + 6)
        .ok_or_else(|| err("no `-` separator after the optional fields".to_string()))?;
    let tail = &fields[sep + 1..];
    if tail.len() != 3 {
        return Err(err(format!(
            "{} fields after the `-` separator; expected type, source and super options",
            tail.len()
        )));
    }
    let id_field = |i: usize, name: &str| {
        fields[i]
            .parse::<u64>()
            .map_err(|_| err(format!("{name} must be a number, found `{}`", fields[i])))
    };
    Ok(MountInfo {
        id: id_field(0, "mount id")?,
        parent: id_field(1, "parent id")?,
        major_minor: fields[2].to_string(),
        root: decoded(fields[3]),
        mount_point: decoded(fields[4]),
        mount_options: fields[5].split(',').map(str::to_string).collect(),
        optional_fields: fields[6..sep].iter().map(|f| f.to_string()).collect(),
        fstype: tail[0].to_string(),
        source_raw: tail[1].to_string(),
        source_decoded: decoded(tail[1]),
        super_options: tail[2].to_string(),
    })
}

/// Parses the whole text; `file` names it in errors. Blank lines are skipped.
pub fn parse(file: &str, text: &str) -> Result<Vec<MountInfo>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(i, line)| parse_line(file, i + 1, line))
        .collect()
}

/// The per-mount flags the kernel shows in field 6, in the order it shows
/// them (`show_mnt_opts`); a bind remount sets exactly these. `strictatime`
/// is the absence of the atime flags and `idmapped` cannot be set: neither
/// is listed.
pub const PER_MOUNT_FLAGS: [&str; 9] = [
    "ro",
    "rw",
    "nosuid",
    "nodev",
    "noexec",
    "noatime",
    "nodiratime",
    "relatime",
    "nosymfollow",
];

/// Whether `option` is a per-mount flag (one a remount can set).
pub fn is_per_mount_flag(option: &str) -> bool {
    PER_MOUNT_FLAGS.contains(&option)
}

/// The per-mount flags a mount with `current` flags gets when `wanted` are
/// added: every current flag is kept (ro, noexec, the atime flag …) except
/// one that a wanted flag replaces (`ro` for `rw`, one atime flag for
/// another). Wanted options that are not per-mount flags are left to the
/// persistent configuration. `None` when nothing is missing.
pub fn with_flags(current: &[String], wanted: &[String]) -> Option<Vec<String>> {
    let mut out = current.to_vec();
    let mut changed = false;
    for want in wanted {
        if !is_per_mount_flag(want) || out.contains(want) {
            continue;
        }
        let replaces: &[&str] = match want.as_str() {
            "ro" | "rw" => &["ro", "rw"],
            "noatime" | "relatime" => &["noatime", "relatime"],
            _ => &[],
        };
        out.retain(|o| !replaces.contains(&o.as_str()));
        out.push(want.clone());
        changed = true;
    }
    if !changed {
        return None;
    }
    let rank = |o: &String| {
        PER_MOUNT_FLAGS
            .iter()
            .position(|f| f == o)
            .unwrap_or(PER_MOUNT_FLAGS.len())
    };
    out.sort_by_key(rank);
    Some(out)
}

/// The mounts on one mount point, the visible one first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack<'a> {
    pub visible: &'a MountInfo,
    /// Covered mounts on the same point, from the top down.
    pub hidden: Vec<&'a MountInfo>,
}

/// The mounts on `point` (decoded path). The visible one is the entry
/// that is not the parent of another entry on the same point; should
/// several qualify (mounts of different parents), the one listed last, which
/// was mounted last, is taken. `None` if nothing is mounted there.
pub fn stack_at<'a>(mounts: &'a [MountInfo], point: &str) -> Option<Stack<'a>> {
    let point = super::fstab::normalize(point);
    let on: Vec<&MountInfo> = mounts.iter().filter(|m| m.mount_point == point).collect();
    let visible = *on
        .iter()
        .rev()
        .find(|m| !on.iter().any(|other| other.parent == m.id))?;
    // Walk down the parent chain from the visible mount, then add the rest.
    let mut hidden = Vec::new();
    let mut current = visible;
    while let Some(below) = on
        .iter()
        .find(|m| m.id == current.parent && !hidden.iter().any(|h: &&MountInfo| h.id == m.id))
    {
        hidden.push(*below);
        current = below;
    }
    for m in &on {
        if m.id != visible.id && !hidden.iter().any(|h| h.id == m.id) {
            hidden.push(*m);
        }
    }
    Some(Stack { visible, hidden })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing::case_dir;
    use serde_json::{Value, json};

    fn case_text(case: &str) -> String {
        std::fs::read_to_string(case_dir(case).join("input/proc/self/mountinfo")).unwrap()
    }

    fn to_json(m: &MountInfo) -> Value {
        json!({
            "id": m.id,
            "parent": m.parent,
            "major_minor": m.major_minor,
            "root": m.root,
            "mount_point": m.mount_point,
            "mount_options": m.mount_options,
            "optional_fields": m.optional_fields,
            "fstype": m.fstype,
            "source_raw": m.source_raw,
            "source_decoded": m.source_decoded,
            "super_options": m.super_options,
            "nosuid": m.has("nosuid"),
        })
    }

    #[test]
    fn c14_parse_equals_expected_jsonl() {
        let mounts = parse(PATH, &case_text("C14-mountinfo-parser-edge-cases")).unwrap();
        let expected = std::fs::read_to_string(
            case_dir("C14-mountinfo-parser-edge-cases").join("expected/parsed.jsonl"),
        )
        .unwrap();
        let expected: Vec<Value> = expected
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(mounts.len(), expected.len());
        for (m, e) in mounts.iter().zip(&expected) {
            assert_eq!(&to_json(m), e);
        }
    }

    #[test]
    fn c14_nosuid_answer() {
        let mounts = parse(PATH, &case_text("C14-mountinfo-parser-edge-cases")).unwrap();
        let lacking: Vec<&str> = mounts
            .iter()
            .filter(|m| !m.has("nosuid"))
            .map(|m| m.mount_point.as_str())
            .collect();
        assert_eq!(lacking, ["/", "/tmp", "/srv/scratch area", "/srv/odd\\name"]);
        let having: Vec<&str> = mounts
            .iter()
            .filter(|m| m.has("nosuid"))
            .map(|m| m.mount_point.as_str())
            .collect();
        assert_eq!(having, ["/proc", "/dev", "/dev/shm", "/mnt/team\tshare"]);
        // The decoded mount point matches the fstab-decoded path.
        assert_eq!(stack_at(&mounts, "/srv/scratch area").unwrap().visible.id, 40);
    }

    #[test]
    fn optional_fields_and_dash_source() {
        let line = "25 24 0:23 / /dev/shm rw,nosuid - tmpfs - rw\n\
                    26 24 0:23 / /x rw shared:1 master:2 propagate_from:3 unbindable - tmpfs  rw\n";
        let m = parse(PATH, line).unwrap();
        assert_eq!(m[0].source_raw, "-");
        assert_eq!(m[0].fstype, "tmpfs");
        assert!(m[0].optional_fields.is_empty());
        assert_eq!(
            m[1].optional_fields,
            ["shared:1", "master:2", "propagate_from:3", "unbindable"]
        );
        // An empty source (two spaces) stays a field of its own.
        assert_eq!(m[1].source_raw, "");
        assert_eq!(m[1].super_options, "rw");
    }

    #[test]
    fn broken_lines_name_file_and_line() {
        for (text, line) in [
            ("22 1 253:0 / / rw shared:1 - ext4 /dev/root rw\nshort line\n", 2),
            ("22 1 253:0 / / rw shared:1 ext4 /dev/root rw x\n", 1),
            ("x 1 253:0 / / rw - ext4 /dev/root rw\n", 1),
            ("22 1 253:0 / / rw - ext4 /dev/root\n", 1),
        ] {
            let err = parse(PATH, text).unwrap_err();
            assert!(
                err.message().starts_with(&format!("{PATH}:{line}: ")),
                "{text:?}: {err}"
            );
        }
    }

    /// Malformed mountinfo, one class a row: the error names the file and
    /// the line.
    #[test]
    fn malformed_mountinfo_table() {
        let good = "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/root rw\n";
        let long = "x".repeat(100_000);
        let rows: Vec<(&str, String, usize)> = vec![
            (
                "too few fields",
                format!("{good}23 22 0:5 / /dev rw - devtmpfs\n"),
                2,
            ),
            (
                "cut short in the optional fields",
                format!("{good}23 22 0:5 / /dev rw shared:2"),
                2,
            ),
            (
                "no separator",
                "22 1 253:0 / / rw shared:1 master:2 ext4 /dev/root rw\n".into(),
                1,
            ),
            (
                "separator before field 7",
                "22 1 253:0 / / - rw ext4 /dev/root rw x\n".into(),
                1,
            ),
            (
                "two fields after the separator",
                "22 1 253:0 / / rw - ext4 /dev/root\n".into(),
                1,
            ),
            (
                "four fields after the separator",
                "22 1 253:0 / / rw - ext4 /dev/root rw x\n".into(),
                1,
            ),
            (
                "mount id not a number",
                "x 1 253:0 / / rw - ext4 /dev/root rw\n".into(),
                1,
            ),
            (
                "parent id negative",
                "22 -1 253:0 / / rw - ext4 /dev/root rw\n".into(),
                1,
            ),
            (
                "mount id out of range",
                "99999999999999999999 1 253:0 / / rw - ext4 /dev/root rw\n".into(),
                1,
            ),
            (
                "tabs instead of spaces",
                "22\t1\t253:0\t/\t/\trw\t-\text4\t/dev/root\trw\n".into(),
                1,
            ),
            (
                "CRLF, then a short line",
                format!("{}\r\nshort line\r\n", good.trim_end()),
                2,
            ),
            (
                "very long line without separator",
                format!("{good}23 22 0:5 / /{long} rw shared:2 tmpfs tmpfs rw\n"),
                2,
            ),
        ];
        for (name, text, line) in rows {
            let err = parse(PATH, &text).unwrap_err();
            assert!(
                err.message().starts_with(&format!("{PATH}:{line}: ")),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn c15_visible_mount_follows_parents_not_line_order() {
        let mounts = parse(PATH, &case_text("C15-mountinfo-stacked-mounts")).unwrap();
        let tmp = stack_at(&mounts, "/tmp").unwrap();
        assert_eq!(tmp.visible.id, 61);
        assert!(!tmp.visible.has("nosuid"));
        assert_eq!(tmp.hidden.iter().map(|m| m.id).collect::<Vec<_>>(), [30]);
        let var_tmp = stack_at(&mounts, "/var/tmp/").unwrap();
        assert_eq!(var_tmp.visible.id, 62);
        assert_eq!(var_tmp.hidden.len(), 1);
        assert!(stack_at(&mounts, "/home").is_none());

        // Line order reversed: same answer.
        let mut reversed = mounts.clone();
        reversed.reverse();
        assert_eq!(stack_at(&reversed, "/tmp").unwrap().visible.id, 61);
        assert_eq!(stack_at(&reversed, "/var/tmp").unwrap().visible.id, 62);
    }
}
