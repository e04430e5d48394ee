//! # systemd units
//!
//! Reads a unit the way systemd merges it: the fragment found first in the
//! unit search path, then the `<unit>.d/*.conf` drop-ins of every search
//! directory sorted by file name (a file in an earlier directory hides one
//! of the same name in a later one). List-valued settings accumulate and an
//! empty assignment resets them. Only reading: dockhard never edits a vendor
//! unit; it writes drop-ins.

use crate::error::{Error, Result};
use crate::host::{FileType, HostRoot};

/// Unit search directories inside the root, highest precedence first.
pub const SEARCH_PATH: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// One `Key=value` line, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub section: String,
    pub key: String,
    pub value: String,
    pub file: String,
    pub line: usize,
}

/// A unit as systemd would load it.
#[derive(Debug, Clone, Default)]
pub struct Unit {
    pub name: String,
    /// The unit file found first in the search path.
    pub fragment: Option<String>,
    /// Drop-in files in the order systemd applies them.
    pub dropins: Vec<String>,
    /// The fragment is a link to /dev/null (or empty): the unit is masked.
    pub masked: bool,
    pub directives: Vec<Directive>,
}

impl Unit {
    /// Loads `name` (e.g. `docker.service`). `None` if no fragment and no
    /// drop-in exists anywhere in the search path.
    pub fn load(root: &HostRoot, name: &str) -> Result<Option<Unit>> {
        let mut unit = Unit {
            name: name.to_string(),
            ..Unit::default()
        };
        let mut seen_dirs: Vec<(u64, u64)> = Vec::new();
        for dir in SEARCH_PATH {
            // /lib is a link to /usr/lib on merged-/usr systems: read it once.
            let Some(st) = root.stat(dir)? else { continue };
            if seen_dirs.contains(&(st.dev, st.ino)) {
                continue;
            }
            seen_dirs.push((st.dev, st.ino));
            if unit.fragment.is_none() {
                let path = format!("{dir}/{name}");
                if let Some(lst) = root.lstat(&path)? {
                    if lst.file_type == FileType::Symlink {
                        let target = std::fs::read_link(root.machine_path(&path)).unwrap_or_default();
                        if target == std::path::Path::new("/dev/null") {
                            unit.masked = true;
                            unit.fragment = Some(path);
                            continue;
                        }
                    }
                    if let Some(text) = root.read_optional(&path)? {
                        if text.iter().all(u8::is_ascii_whitespace) {
                            unit.masked = text.is_empty();
                        }
                        let text = unit_text(&path, &text)?;
                        unit.directives.extend(parse(&path, text)?);
                        unit.fragment = Some(path);
                    }
                }
            }
        }
        let mut dropins: Vec<(String, String)> = Vec::new();
        seen_dirs.clear();
        for dir in SEARCH_PATH {
            let d = format!("{dir}/{name}.d");
            let Some(st) = root.stat(&d)? else { continue };
            if seen_dirs.contains(&(st.dev, st.ino)) {
                continue;
            }
            seen_dirs.push((st.dev, st.ino));
            for file in root.list_dir(&d)?.unwrap_or_default() {
                if file.ends_with(".conf") && !dropins.iter().any(|(n, _)| *n == file) {
                    dropins.push((file.clone(), format!("{d}/{file}")));
                }
            }
        }
        dropins.sort();
        for (_, path) in dropins {
            if let Some(text) = root.read_optional(&path)? {
                let text = unit_text(&path, &text)?;
                unit.directives.extend(parse(&path, text)?);
                unit.dropins.push(path);
            }
        }
        if unit.fragment.is_none() && unit.dropins.is_empty() {
            return Ok(None);
        }
        Ok(Some(unit))
    }

    /// A list-valued setting (`ExecStart`, `Environment`, …): assignments
    /// accumulate, an empty one clears what came before.
    pub fn list(&self, section: &str, key: &str) -> Vec<&Directive> {
        let mut out = Vec::new();
        for d in self
            .directives
            .iter()
            .filter(|d| d.section == section && d.key == key)
        {
            if d.value.is_empty() {
                out.clear();
            } else {
                out.push(d);
            }
        }
        out
    }

    /// A single-valued setting: the last assignment wins.
    pub fn last(&self, section: &str, key: &str) -> Option<&Directive> {
        self.directives
            .iter()
            .rev()
            .find(|d| d.section == section && d.key == key)
    }
}

/// The longest line systemd reads in a unit file (`LONG_LINE_MAX`); a
/// longer one makes it refuse the whole file.
pub const LONG_LINE_MAX: usize = 1024 * 1024;

/// A unit file's bytes as text, or an error naming the line that systemd
/// would read differently from dockhard: one with a NUL byte, one that is
/// not UTF-8 (systemd ignores such a line), or one longer than
/// [`LONG_LINE_MAX`].
pub fn unit_text<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str> {
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        if let Some(at) = line.iter().position(|&b| b == 0) {
            return Err(Error::at(file, number, Some(at + 1), "NUL byte in the line"));
        }
        if let Err(e) = std::str::from_utf8(line) {
            return Err(Error::at(
                file,
                number,
                Some(e.valid_up_to() + 1),
                "not valid UTF-8 (systemd ignores this line)",
            ));
        }
        if line.len() > LONG_LINE_MAX {
            return Err(Error::at(
                file,
                number,
                None,
                format!(
                    "line of {} bytes; systemd reads at most {LONG_LINE_MAX}",
                    line.len()
                ),
            ));
        }
    }
    Ok(std::str::from_utf8(bytes).expect("checked line by line"))
}

/// Parses a unit file or drop-in into directives. Handles comments (`#`,
/// `;`), sections, and lines continued with a trailing backslash.
pub fn parse(file: &str, text: &str) -> Result<Vec<Directive>> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, raw)) = lines.next() {
        let line_no = index + 1;
        let mut line = raw.trim().to_string();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            if !line.ends_with(']') {
                return Err(Error::at(file, line_no, None, "section header without closing ]"));
            }
            section = line[1..line.len() - 1].to_string();
            continue;
        }
        while line.ends_with('\\') {
            line.pop();
            line.push(' ');
            // Comment lines inside a continued line are skipped; the line
            // goes on with the next line that is not a comment.
            let next = loop {
                match lines.next() {
                    Some((_, n)) if n.trim_start().starts_with(['#', ';']) => continue,
                    other => break other,
                }
            };
            match next {
                Some((_, n)) => line.push_str(n.trim()),
                None => {
                    return Err(Error::at(
                        file,
                        line_no,
                        None,
                        "the line is continued (ends with a backslash) but the file ends: cut short?",
                    ));
                }
            }
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(Error::at(
                file,
                line_no,
                None,
                format!("expected Key=value, found `{raw}`"),
            ));
        };
        if section.is_empty() {
            return Err(Error::at(file, line_no, None, "assignment outside of a section"));
        }
        out.push(Directive {
            section: section.clone(),
            key: key.trim().to_string(),
            value: value.trim().to_string(),
            file: file.to_string(),
            line: line_no,
        });
    }
    Ok(out)
}

/// Splits an `ExecStart=` value into words the way systemd does: double and
/// single quotes group, backslash escapes, and the leading special prefixes
/// (`-`, `@`, `:`, `+`, `!`, `!!`) of the command are dropped.
pub fn split_command(value: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = split_words(value)?;
    if let Some(first) = words.first_mut() {
        let stripped = first.trim_start_matches(['-', '@', ':', '+', '!']).to_string();
        *first = stripped;
    }
    Ok(words)
}

/// Shell-like word splitting with `"…"`, `'…'` and backslash escapes.
pub fn split_words(value: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '"' | '\'' => {
                in_word = true;
                let quote = c;
                loop {
                    match chars.next() {
                        Some(q) if q == quote => break,
                        Some('\\') if quote == '"' => match chars.next() {
                            Some(e) => current.push(e),
                            None => return Err("unterminated escape".to_string()),
                        },
                        Some(other) => current.push(other),
                        None => return Err(format!("unterminated {quote} quote")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(e) => current.push(e),
                    None => return Err("unterminated escape".to_string()),
                }
            }
            other => {
                in_word = true;
                current.push(other);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// An environment file's bytes as text for [`parse_env_file`], or an error
/// naming the line that would not be read as dockhard reads it: a NUL byte,
/// bytes that are not UTF-8 (systemd ignores such an assignment), a quote
/// that is not closed on its line, or a last line continued with a
/// backslash (the file cut short).
pub fn check_env_file<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str> {
    let mut logical = String::new();
    let mut start: Option<usize> = None;
    let pieces: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    for (index, raw) in pieces.iter().enumerate() {
        let number = index + 1;
        if let Some(at) = raw.iter().position(|&b| b == 0) {
            return Err(Error::at(file, number, Some(at + 1), "NUL byte in the line"));
        }
        let text = std::str::from_utf8(raw).map_err(|e| {
            Error::at(
                file,
                number,
                Some(e.valid_up_to() + 1),
                "not valid UTF-8 (systemd ignores this assignment)",
            )
        })?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        let begin = *start.get_or_insert(number);
        if let Some(head) = text.strip_suffix('\\') {
            let last = pieces[index + 1..].iter().all(|p| p.is_empty());
            if last {
                return Err(Error::at(
                    file,
                    begin,
                    None,
                    "the line is continued (ends with a backslash) but the file ends: cut short?",
                ));
            }
            logical.push_str(head);
            continue;
        }
        logical.push_str(text);
        let line = logical.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if !line.starts_with(['#', ';'])
            && let Some((_, value)) = line.split_once('=')
        {
            let value = value.trim();
            if value.starts_with(['"', '\'']) && split_words(value).is_err() {
                return Err(Error::at(
                    file,
                    begin,
                    None,
                    "the quoted value is not closed on its line",
                ));
            }
        }
        logical.clear();
        start = None;
    }
    Ok(std::str::from_utf8(bytes).expect("checked line by line"))
}

/// Parses an environment file (`KEY=value` lines, `#` comments, optional
/// `export `, quoted values) as systemd's `EnvironmentFile=` reads it.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // A backslash at the end of a line continues it on the next one.
    let joined = text.replace("\\\r\n", "").replace("\\\n", "");
    for line in joined.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        if let Some((key, value)) = line.split_once('=') {
            let value = value.trim();
            let value = match split_words(value) {
                Ok(words) if value.starts_with(['"', '\'']) => words.join(" "),
                _ => value.to_string(),
            };
            out.push((key.trim().to_string(), value));
        }
    }
    out
}

/// Expands `$VAR` (split into words) and `${VAR}` (one word) in command
/// words, as systemd does for `ExecStart=`. Unknown variables expand to
/// nothing.
pub fn expand_env(words: &[String], env: &[(String, String)]) -> Vec<String> {
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for word in words {
        if let Some(name) = word.strip_prefix('$').filter(|n| !n.starts_with('{'))
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            out.extend(lookup(name).split_whitespace().map(str::to_string));
            continue;
        }
        let mut expanded = String::new();
        let mut rest = word.as_str();
        while let Some(start) = rest.find("${") {
            expanded.push_str(&rest[..start]);
            match rest[start + 2..].find('}') {
                Some(end) => {
                    expanded.push_str(&lookup(&rest[start + 2..start + 2 + end]));
                    rest = &rest[start + 2 + end + 1..];
                }
                None => {
                    expanded.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        expanded.push_str(rest);
        out.push(expanded);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing::{case_dir, empty_root, fixture_root};

    #[test]
    fn c08_dropins_accumulate_execstart_in_name_order() {
        let (_dir, root) = fixture_root(&case_dir("C08-systemd-unit-dropin-execstart-reset").join("input"));
        let unit = Unit::load(&root, "docker.service").unwrap().unwrap();
        assert_eq!(
            unit.fragment.as_deref(),
            Some("/usr/lib/systemd/system/docker.service")
        );
        assert_eq!(
            unit.dropins,
            vec![
                "/etc/systemd/system/docker.service.d/http-proxy.conf",
                "/etc/systemd/system/docker.service.d/override.conf"
            ]
        );
        let exec = unit.list("Service", "ExecStart");
        assert_eq!(exec.len(), 2, "no reset: both ExecStart lines count");
        assert!(exec[1].value.contains("--userns-remap=default"));
        assert_eq!(unit.last("Service", "Type").unwrap().value, "notify");
    }

    #[test]
    fn c07_empty_execstart_resets_the_list() {
        let (_dir, root) = fixture_root(&case_dir("C07-systemd-unit-hosts-fd-conflict").join("input"));
        let unit = Unit::load(&root, "docker.service").unwrap().unwrap();
        let exec = unit.list("Service", "ExecStart");
        assert_eq!(exec.len(), 1);
        assert!(exec[0].value.contains("tcp://0.0.0.0:2375"));
        assert_eq!(
            exec[0].file,
            "/etc/systemd/system/docker.service.d/10-remote-api.conf"
        );
        assert_eq!(exec[0].line, 3);
    }

    #[test]
    fn dropin_in_etc_hides_same_name_in_usr_lib() {
        let (dir, root) = empty_root();
        let p = dir.path();
        std::fs::create_dir_all(p.join("usr/lib/systemd/system/tmp.mount.d")).unwrap();
        std::fs::create_dir_all(p.join("etc/systemd/system/tmp.mount.d")).unwrap();
        std::fs::write(p.join("usr/lib/systemd/system/tmp.mount"), "[Mount]\nOptions=a\n").unwrap();
        std::fs::write(
            p.join("usr/lib/systemd/system/tmp.mount.d/50-x.conf"),
            "[Mount]\nOptions=vendor\n",
        )
        .unwrap();
        std::fs::write(
            p.join("etc/systemd/system/tmp.mount.d/50-x.conf"),
            "[Mount]\nOptions=admin\n",
        )
        .unwrap();
        let unit = Unit::load(&root, "tmp.mount").unwrap().unwrap();
        assert_eq!(unit.dropins, vec!["/etc/systemd/system/tmp.mount.d/50-x.conf"]);
        assert_eq!(unit.last("Mount", "Options").unwrap().value, "admin");
        assert!(Unit::load(&root, "none.service").unwrap().is_none());
    }

    #[test]
    fn masked_unit_is_detected() {
        let (dir, root) = empty_root();
        std::fs::create_dir_all(dir.path().join("etc/systemd/system")).unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.path().join("etc/systemd/system/tmp.mount")).unwrap();
        let unit = Unit::load(&root, "tmp.mount").unwrap().unwrap();
        assert!(unit.masked);
    }

    #[test]
    fn parse_errors_name_file_and_line() {
        let err = parse("/x.conf", "[Service]\nExecStart=a\nnonsense\n").unwrap_err();
        assert_eq!(err.message(), "/x.conf:3: expected Key=value, found `nonsense`");
        let err = parse("/x.conf", "Key=v\n").unwrap_err();
        assert!(err.message().starts_with("/x.conf:1:"));
        let d = parse("/x.conf", "[S]\nA=one \\\n  two\n# c\nB=3\n").unwrap();
        assert_eq!(d[0].value, "one  two");
        assert_eq!(d[1].line, 5);
    }

    #[test]
    fn comments_inside_continued_lines_are_skipped() {
        let d = parse("/u", "[Service]\nExecStart=/usr/bin/dockerd -H fd:// \\\n  # note\n  ; more\n  --icc=false\nType=notify\n").unwrap();
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].value, "/usr/bin/dockerd -H fd://  --icc=false");
        assert_eq!(d[1].key, "Type");
    }

    #[test]
    fn environment_file_lines_continue_after_a_backslash() {
        let env = parse_env_file("DOCKER_OPTS=\"--log-level=warn \\\n  --icc=false\"\nB=1\n");
        assert_eq!(env[0].1, "--log-level=warn   --icc=false");
        assert_eq!(env[1], ("B".to_string(), "1".to_string()));
    }

    #[test]
    fn command_words_and_env_expansion() {
        let words = split_command(r#"-/usr/bin/dockerd -H fd:// --label "a b" $DOCKER_OPTS ${ONE}"#).unwrap();
        assert_eq!(
            words,
            vec![
                "/usr/bin/dockerd",
                "-H",
                "fd://",
                "--label",
                "a b",
                "$DOCKER_OPTS",
                "${ONE}"
            ]
        );
        let env = parse_env_file("# c\nDOCKER_OPTS=\"--icc=false -H tcp://0.0.0.0:2375\"\nexport ONE=x y\n");
        let expanded = expand_env(&words, &env);
        assert_eq!(
            expanded,
            vec![
                "/usr/bin/dockerd",
                "-H",
                "fd://",
                "--label",
                "a b",
                "--icc=false",
                "-H",
                "tcp://0.0.0.0:2375",
                "x y"
            ]
        );
        assert!(split_command("a \"b").is_err());
    }
}
