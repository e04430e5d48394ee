//! Readers for the account databases the `subid` kind needs:
//! `/etc/passwd`, `/etc/group`, `/etc/shadow`, `/etc/gshadow` and the few
//! `/etc/login.defs` keys about uid/gid allocation.
//!
//! Names and ids are read strictly (a bad one fails with `file:line`);
//! fields the kind does not need (GECOS, home, shell, passwords, members,
//! comments, other login.defs keys) may hold any bytes, e.g. Latin-1. The
//! readers only look; they never rewrite a line. Edits append whole
//! lines (see [`append_line`]), so every existing byte is kept.

use crate::error::{Error, Result};

/// One line of a text file, without its line end, as bytes: fields the
/// kind does not need (GECOS, home, shell, comments) may be in any
/// encoding (Latin-1 is common), so only what is read is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number.
    pub number: usize,
    pub raw: &'a [u8],
    /// Whether the line ends with `\n` (only the last line may not).
    pub has_newline: bool,
}

impl<'a> Line<'a> {
    /// The whole line as text; invalid UTF-8 is an error naming the line
    /// and column. For lines whose every field is read.
    pub fn text(&self, file: &str) -> Result<&'a str> {
        utf8_at(file, self.number, 0, self.raw)
    }

    /// An entry line may hold no NUL byte: shadow and glibc read each line
    /// as a C string, so they would see the line cut short there (another
    /// name, fields missing) while dockhard saw all of it.
    pub fn no_nul(&self, file: &str) -> Result<()> {
        match self.raw.iter().position(|&b| b == 0) {
            Some(at) => Err(Error::at(
                file,
                self.number,
                Some(at + 1),
                "NUL byte in the line; the system reads the line only up to it",
            )),
            None => Ok(()),
        }
    }

    /// Whether the line carries no entry: blank, or a `#` comment.
    pub fn is_blank_or_comment(&self) -> bool {
        let t = self.raw.trim_ascii();
        t.is_empty() || t.starts_with(b"#")
    }
}

/// `bytes` (found at byte `offset` of line `number`) as UTF-8, or an error
/// naming the column of the first bad byte.
fn utf8_at<'a>(file: &str, number: usize, offset: usize, bytes: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        Error::at(
            file,
            number,
            Some(offset + e.valid_up_to() + 1),
            "not valid UTF-8",
        )
    })
}

/// Splits a file into lines (any bytes; see [`Line::text`]).
pub fn split_lines(content: &[u8]) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut rest = content;
    let mut number = 0;
    while !rest.is_empty() {
        number += 1;
        let (raw, has_newline, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], true, &rest[i + 1..]),
            None => (rest, false, &rest[rest.len()..]),
        };
        lines.push(Line {
            number,
            raw,
            has_newline,
        });
        rest = next;
    }
    lines
}

/// `content` with `line` appended: a missing final newline is added first,
/// and the result always ends with a newline.
pub fn append_line(content: Option<&[u8]>, line: &str) -> Vec<u8> {
    let mut out = content.unwrap_or_default().to_vec();
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    out
}

/// NIS compat entries (`+name`, `-name`, `+@netgroup`, `+`) in passwd/group
/// files: valid, but they name no local account.
fn is_nis_compat(line: &Line<'_>) -> bool {
    line.raw.starts_with(b"+") || line.raw.starts_with(b"-")
}

/// An entry line split into exactly `count` colon-separated fields: the
/// name (checked: UTF-8, not empty, no white space) and the raw fields,
/// name included.
struct Fields<'a> {
    name: &'a str,
    raw: Vec<&'a [u8]>,
}

fn fields<'a>(file: &str, line: &Line<'a>, count: usize, layout: &str) -> Result<Fields<'a>> {
    line.no_nul(file)?;
    let raw: Vec<&[u8]> = line.raw.split(|&b| b == b':').collect();
    if raw.len() != count {
        return Err(Error::at(
            file,
            line.number,
            None,
            format!(
                "expected {count} colon-separated fields ({layout}), found {}",
                raw.len()
            ),
        ));
    }
    let name = utf8_at(file, line.number, 0, raw[0])?;
    if name.is_empty() {
        return Err(Error::at(file, line.number, Some(1), "empty name"));
    }
    if name.chars().any(char::is_whitespace) {
        return Err(Error::at(file, line.number, Some(1), "name contains white space"));
    }
    Ok(Fields { name, raw })
}

/// A decimal id (uid or gid) in field `index`.
fn id_field(file: &str, line: &Line<'_>, fields: &Fields<'_>, index: usize, what: &str) -> Result<u32> {
    let column = fields.raw[..index].iter().map(|f| f.len() + 1).sum::<usize>() + 1;
    let raw = fields.raw[index];
    let text = String::from_utf8_lossy(raw);
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return Err(Error::at(
            file,
            line.number,
            Some(column),
            format!("{what} `{text}` is not a decimal number"),
        ));
    }
    text.parse::<u32>().map_err(|_| {
        Error::at(
            file,
            line.number,
            Some(column),
            format!("{what} `{text}` is out of range"),
        )
    })
}

/// One account of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub line: usize,
}

/// One group of `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub line: usize,
}

/// `/etc/passwd`: `name:password:uid:gid:gecos:home:shell`.
pub fn parse_passwd(file: &str, content: &[u8]) -> Result<Vec<User>> {
    let mut users = Vec::new();
    for line in split_lines(content) {
        if line.is_blank_or_comment() || is_nis_compat(&line) {
            continue;
        }
        let f = fields(file, &line, 7, "name:password:uid:gid:gecos:home:shell")?;
        users.push(User {
            name: f.name.to_string(),
            uid: id_field(file, &line, &f, 2, "uid")?,
            gid: id_field(file, &line, &f, 3, "gid")?,
            line: line.number,
        });
    }
    Ok(users)
}

/// `/etc/group`: `name:password:gid:members`.
pub fn parse_group(file: &str, content: &[u8]) -> Result<Vec<Group>> {
    let mut groups = Vec::new();
    for line in split_lines(content) {
        if line.is_blank_or_comment() || is_nis_compat(&line) {
            continue;
        }
        let f = fields(file, &line, 4, "name:password:gid:members")?;
        groups.push(Group {
            name: f.name.to_string(),
            gid: id_field(file, &line, &f, 2, "gid")?,
            line: line.number,
        });
    }
    Ok(groups)
}

/// The names in `/etc/shadow` (9 fields a line).
pub fn parse_shadow_names(file: &str, content: &[u8]) -> Result<Vec<String>> {
    names_with_fields(
        file,
        content,
        9,
        "name:password:lastchange:min:max:warn:inactive:expire:reserved",
    )
}

/// The names in `/etc/gshadow` (4 fields a line).
pub fn parse_gshadow_names(file: &str, content: &[u8]) -> Result<Vec<String>> {
    names_with_fields(file, content, 4, "name:password:admins:members")
}

fn names_with_fields(file: &str, content: &[u8], count: usize, layout: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for line in split_lines(content) {
        if line.is_blank_or_comment() || is_nis_compat(&line) {
            continue;
        }
        names.push(fields(file, &line, count, layout)?.name.to_string());
    }
    Ok(names)
}

/// The `/etc/login.defs` settings that govern id allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginDefs {
    pub sub_uid_min: u64,
    pub sub_uid_max: u64,
    pub sub_uid_count: u64,
    pub sub_gid_min: u64,
    pub sub_gid_max: u64,
    pub sub_gid_count: u64,
    pub sys_uid_min: u64,
    pub sys_uid_max: u64,
    pub sys_gid_min: u64,
    pub sys_gid_max: u64,
}

impl Default for LoginDefs {
    /// shadow's built-in defaults, used for keys the file does not set.
    fn default() -> Self {
        LoginDefs {
            sub_uid_min: 100_000,
            sub_uid_max: 600_100_000,
            sub_uid_count: 65_536,
            sub_gid_min: 100_000,
            sub_gid_max: 600_100_000,
            sub_gid_count: 65_536,
            sys_uid_min: 100,
            sys_uid_max: 999,
            sys_gid_min: 100,
            sys_gid_max: 999,
        }
    }
}

/// A number as shadow's `getdef_ulong` reads it (`strtoul` base 0):
/// decimal, `0x` hexadecimal, or octal with a leading `0`.
fn parse_c_ulong(text: &str) -> Option<u64> {
    let (digits, radix) = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        (hex, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        (&text[1..], 8)
    } else {
        (text, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// The `/etc/login.defs` keys [`parse_login_defs`] reads.
const KEYS: [&str; 10] = [
    "SUB_UID_MIN",
    "SUB_UID_MAX",
    "SUB_UID_COUNT",
    "SUB_GID_MIN",
    "SUB_GID_MAX",
    "SUB_GID_COUNT",
    "SYS_UID_MIN",
    "SYS_UID_MAX",
    "SYS_GID_MIN",
    "SYS_GID_MAX",
];

/// `/etc/login.defs`: `KEY value` lines and `#` comments. Only the keys in
/// [`LoginDefs`] are checked; a later line overrides an earlier one, as in
/// shadow. Ranges must be well-formed (min ≤ max, ids fit 32 bits).
pub fn parse_login_defs(file: &str, content: &[u8]) -> Result<LoginDefs> {
    let mut defs = LoginDefs::default();
    let mut last_line = [0usize; 10];
    for line in split_lines(content) {
        if line.is_blank_or_comment() {
            continue;
        }
        // Only the lines of the keys below must be text: other settings and
        // comments may be in any encoding.
        let key = line
            .raw
            .trim_ascii_start()
            .split(u8::is_ascii_whitespace)
            .next()
            .unwrap_or_default();
        if !KEYS.iter().any(|k| k.as_bytes() == key) {
            continue;
        }
        let text = line.text(file)?;
        let mut words = text.split_whitespace();
        let key = words.next().unwrap_or_default();
        let (slot, index) = match key {
            "SUB_UID_MIN" => (&mut defs.sub_uid_min, 0),
            "SUB_UID_MAX" => (&mut defs.sub_uid_max, 1),
            "SUB_UID_COUNT" => (&mut defs.sub_uid_count, 2),
            "SUB_GID_MIN" => (&mut defs.sub_gid_min, 3),
            "SUB_GID_MAX" => (&mut defs.sub_gid_max, 4),
            "SUB_GID_COUNT" => (&mut defs.sub_gid_count, 5),
            "SYS_UID_MIN" => (&mut defs.sys_uid_min, 6),
            "SYS_UID_MAX" => (&mut defs.sys_uid_max, 7),
            "SYS_GID_MIN" => (&mut defs.sys_gid_min, 8),
            "SYS_GID_MAX" => (&mut defs.sys_gid_max, 9),
            _ => continue,
        };
        let value = words.next().map(|v| v.trim_matches('"'));
        let extra = words.next();
        let parsed = value
            .and_then(parse_c_ulong)
            .filter(|v| *v <= u64::from(u32::MAX));
        match (parsed, extra) {
            (Some(v), None) => {
                *slot = v;
                last_line[index] = line.number;
            }
            (Some(_), Some(extra)) if extra.starts_with('#') => {
                return Err(Error::at(
                    file,
                    line.number,
                    None,
                    format!(
                        "{key}: login.defs has no trailing comments; `{extra}` would be read as part of the value"
                    ),
                ));
            }
            _ => {
                return Err(Error::at(
                    file,
                    line.number,
                    None,
                    format!(
                        "{key} needs one number (up to 4294967295), found `{}`",
                        text.trim()
                    ),
                ));
            }
        }
    }
    let pairs = [
        (
            "SUB_UID_MIN",
            "SUB_UID_MAX",
            defs.sub_uid_min,
            defs.sub_uid_max,
            1,
        ),
        (
            "SUB_GID_MIN",
            "SUB_GID_MAX",
            defs.sub_gid_min,
            defs.sub_gid_max,
            4,
        ),
        (
            "SYS_UID_MIN",
            "SYS_UID_MAX",
            defs.sys_uid_min,
            defs.sys_uid_max,
            7,
        ),
        (
            "SYS_GID_MIN",
            "SYS_GID_MAX",
            defs.sys_gid_min,
            defs.sys_gid_max,
            9,
        ),
    ];
    for (min_key, max_key, min, max, max_index) in pairs {
        if min > max {
            let line = last_line[max_index].max(last_line[max_index - 1]).max(1);
            return Err(Error::at(
                file,
                line,
                None,
                format!("{min_key} ({min}) is above {max_key} ({max})"),
            ));
        }
    }
    Ok(defs)
}

/// The uid a new system account gets, as `useradd --system` picks it: the
/// highest id in `min..=max` that no account uses. `None` if all are taken.
pub fn free_system_id(used: &[u32], min: u64, max: u64) -> Option<u32> {
    (min..=max)
        .rev()
        .filter_map(|id| u32::try_from(id).ok())
        .find(|id| !used.contains(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_lines_tracks_numbers_and_final_newline() {
        let lines = split_lines(b"a\n\nb");
        assert_eq!(lines.len(), 3);
        assert_eq!(
            (lines[0].number, lines[0].raw, lines[0].has_newline),
            (1, &b"a"[..], true)
        );
        assert_eq!((lines[1].number, lines[1].raw), (2, &b""[..]));
        assert_eq!(
            (lines[2].number, lines[2].raw, lines[2].has_newline),
            (3, &b"b"[..], false)
        );
        assert!(split_lines(b"").is_empty());
        let lines = split_lines(b"ok\nbad\xff\n");
        assert_eq!(lines[1].raw, b"bad\xff");
        let err = lines[1].text("/f").unwrap_err();
        assert_eq!(err.message(), "/f:2:4: not valid UTF-8");
    }

    #[test]
    fn bytes_in_unread_fields_are_kept_names_and_ids_stay_strict() {
        let text =
            b"root:x:0:0:root:/root:/bin/bash\njose:x:1002:1002:Jos\xe9 Garc\xeda:/home/jos\xe9:/bin/sh\n";
        let users = parse_passwd("/etc/passwd", text).unwrap();
        assert_eq!(
            (users[1].name.as_str(), users[1].uid, users[1].line),
            ("jose", 1002, 2)
        );
        let err = parse_passwd("/etc/passwd", b"jos\xe9:x:1002:1002::/:/bin/sh\n").unwrap_err();
        assert_eq!(err.message(), "/etc/passwd:1:4: not valid UTF-8");
        let err = parse_passwd("/etc/passwd", b"jose:x:10\xe902:1002::/:/bin/sh\n").unwrap_err();
        assert!(err.message().starts_with("/etc/passwd:1:8: uid `10"), "{err}");
        let groups = parse_group("/etc/group", b"# gr\xfcppe\ndocker:x:999:j\xf6rg\n").unwrap();
        assert_eq!((groups[0].name.as_str(), groups[0].gid), ("docker", 999));
        let names = parse_shadow_names("/etc/shadow", b"jose:$6$\xe9:19000:0:99999:7:::\n").unwrap();
        assert_eq!(names, vec!["jose"]);

        let defs = parse_login_defs(
            "/etc/login.defs",
            b"# Gr\xfc\xdfe\nMOTD_FILE /etc/motd-\xe9\nSUB_UID_MIN 200000\n",
        )
        .unwrap();
        assert_eq!(defs.sub_uid_min, 200_000);
        let err = parse_login_defs("/etc/login.defs", b"\nSUB_UID_MIN 2000\xe9\n").unwrap_err();
        assert_eq!(err.message(), "/etc/login.defs:2:17: not valid UTF-8");
    }

    #[test]
    fn append_line_adds_missing_newline_and_ends_with_one() {
        assert_eq!(append_line(Some(b"a:1:2"), "b:3:4"), b"a:1:2\nb:3:4\n");
        assert_eq!(append_line(Some(b"a:1:2\n"), "b:3:4"), b"a:1:2\nb:3:4\n");
        assert_eq!(append_line(Some(b""), "b:3:4"), b"b:3:4\n");
        assert_eq!(append_line(None, "b:3:4"), b"b:3:4\n");
    }

    #[test]
    fn passwd_parses_entries_and_skips_comments_blank_and_nis() {
        let text =
            b"root:x:0:0:root:/root:/bin/bash\n# note\n\n+@admins::::::\n20001:x:20001:20002:n:/:/bin/sh";
        let users = parse_passwd("/etc/passwd", text).unwrap();
        assert_eq!(
            users,
            vec![
                User {
                    name: "root".into(),
                    uid: 0,
                    gid: 0,
                    line: 1
                },
                User {
                    name: "20001".into(),
                    uid: 20001,
                    gid: 20002,
                    line: 5
                },
            ]
        );
    }

    #[test]
    fn passwd_rejects_malformed_lines_with_file_and_line() {
        let cases: [(&[u8], &str); 5] = [
            (
                b"root:x:0:0:root:/root\n",
                "/etc/passwd:1: expected 7 colon-separated fields",
            ),
            (
                b"root:x:0:0:r:/:/bin/sh\nbob:x:abc:1::/:/bin/sh\n",
                "/etc/passwd:2:7: uid `abc` is not a decimal number",
            ),
            (
                b"bob:x:1:-1::/:/bin/sh\n",
                "/etc/passwd:1:9: gid `-1` is not a decimal number",
            ),
            (
                b"bob:x:4294967296:1::/:/bin/sh\n",
                "/etc/passwd:1:7: uid `4294967296` is out of range",
            ),
            (b"\n:x:1:1::/:/bin/sh\n", "/etc/passwd:2:1: empty name"),
        ];
        for (text, want) in cases {
            let err = parse_passwd("/etc/passwd", text).unwrap_err();
            assert!(err.message().starts_with(want), "{err} vs {want}");
        }
    }

    #[test]
    fn group_parses_and_rejects() {
        let groups = parse_group("/etc/group", b"root:x:0:\ndocker:x:999:alice,bob\n").unwrap();
        assert_eq!(groups[1].name, "docker");
        assert_eq!(groups[1].gid, 999);
        assert_eq!(groups[1].line, 2);
        let err = parse_group("/etc/group", b"root:x:0:\ndocker:x:999\n").unwrap_err();
        assert!(err.message().starts_with("/etc/group:2: expected 4"), "{err}");
        let err = parse_group("/etc/group", b"root:x::\n").unwrap_err();
        assert_eq!(err.message(), "/etc/group:1:8: gid `` is not a decimal number");
    }

    #[test]
    fn shadow_and_gshadow_names() {
        let names = parse_shadow_names("/etc/shadow", b"root:*:19000:0:99999:7:::\nbob:!:::::::\n").unwrap();
        assert_eq!(names, vec!["root", "bob"]);
        let err = parse_shadow_names("/etc/shadow", b"root:*:19000\n").unwrap_err();
        assert!(err.message().starts_with("/etc/shadow:1: expected 9"), "{err}");
        let names = parse_gshadow_names("/etc/gshadow", b"root:*::\n").unwrap();
        assert_eq!(names, vec!["root"]);
        let err = parse_gshadow_names("/etc/gshadow", b"\nroot:*:\n").unwrap_err();
        assert!(err.message().starts_with("/etc/gshadow:2: expected 4"), "{err}");
    }

    #[test]
    fn login_defs_defaults_and_overrides() {
        assert_eq!(
            parse_login_defs("/etc/login.defs", b"").unwrap(),
            LoginDefs::default()
        );
        let text = b"# comment\nMAIL_DIR /var/mail\nSUB_UID_MIN\t\t200000\nSUB_UID_MAX 0x7fffffff\nSUB_GID_COUNT 010\nSYS_UID_MAX 499\nSYS_UID_MAX 599\nENCRYPT_METHOD SHA512\n";
        let defs = parse_login_defs("/etc/login.defs", text).unwrap();
        assert_eq!(defs.sub_uid_min, 200_000);
        assert_eq!(defs.sub_uid_max, 0x7fff_ffff);
        assert_eq!(defs.sub_gid_count, 8);
        assert_eq!(defs.sys_uid_max, 599, "the last line wins");
        assert_eq!(defs.sub_gid_min, 100_000);
    }

    #[test]
    fn login_defs_rejects_bad_values_with_line() {
        let cases: [(&[u8], &str); 5] = [
            (
                b"\nSUB_UID_MIN lots\n",
                "/etc/login.defs:2: SUB_UID_MIN needs one number",
            ),
            (
                b"SUB_GID_MAX\n",
                "/etc/login.defs:1: SUB_GID_MAX needs one number",
            ),
            (
                b"SUB_UID_MAX 1 2\n",
                "/etc/login.defs:1: SUB_UID_MAX needs one number",
            ),
            (
                b"SUB_UID_MAX 99999999999\n",
                "/etc/login.defs:1: SUB_UID_MAX needs one number",
            ),
            (
                b"SUB_UID_MIN 5000\nSUB_UID_MAX 4000\n",
                "/etc/login.defs:2: SUB_UID_MIN (5000) is above SUB_UID_MAX (4000)",
            ),
        ];
        for (text, want) in cases {
            let err = parse_login_defs("/etc/login.defs", text).unwrap_err();
            assert!(err.message().starts_with(want), "{err} vs {want}");
        }
        let err = parse_login_defs("/etc/login.defs", b"SYS_UID_MIN 100 # low\n").unwrap_err();
        assert!(err.message().contains("no trailing comments"), "{err}");
    }

    #[test]
    fn system_ids_are_allocated_from_the_top() {
        assert_eq!(free_system_id(&[0, 1000], 100, 999), Some(999));
        assert_eq!(free_system_id(&[999, 998, 996], 100, 999), Some(997));
        assert_eq!(free_system_id(&[100, 101], 100, 101), None);
    }
}
