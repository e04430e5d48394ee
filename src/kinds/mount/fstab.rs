//! # /etc/fstab
//!
//! Every line keeps its raw bytes; an edit replaces only the bytes of one
//! field, so comments, blank lines, tab or space padding and escapes of all
//! other lines (and of the rest of the edited line) stay as they were.
//!
//! A non-comment line has 4 to 6 fields separated by spaces or tabs; missing
//! fs_freq and fs_passno count as 0 and are never added on write. `\NNN`
//! octal escapes in fs_spec and fs_file are decoded for matching only (the
//! file keeps them), and the quotes of `UUID="…"` are taken off for
//! resolving the device (the file keeps them too). A line with 1 to 3 or
//! more than 6 fields, a non-numeric freq/passno, or a NUL byte anywhere in
//! the line (libmount stops reading a line at a NUL), is an error naming
//! `/etc/fstab:LINE`: the caller then writes nothing.

use super::decode_octal;
use crate::error::{Error, Result};
use std::ops::Range;

pub const PATH: &str = "/etc/fstab";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fstab {
    pub lines: Vec<Line>,
    /// Whether the file ends with a newline (true for an empty file).
    pub final_newline: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    /// The line's bytes without its `\n`.
    pub raw: Vec<u8>,
    /// `None` for comments and blank lines.
    pub entry: Option<Entry>,
}

/// One mount entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Byte spans of the 4 to 6 fields within [`Line::raw`].
    pub fields: Vec<Range<usize>>,
    /// fs_spec as written (escapes and quotes kept).
    pub spec_raw: String,
    /// fs_spec decoded, with the quotes of `TAG="value"` taken off
    /// (`UUID="a-b"` → `UUID=a-b`, `LABEL=x\040y` → `LABEL=x y`).
    pub spec: String,
    /// fs_file decoded (`/srv/scratch\040area` → `/srv/scratch area`).
    pub mount_point: String,
    pub fstype: String,
    /// The options field as written.
    pub options: String,
    pub freq: u32,
    pub passno: u32,
}

const OPTIONS: usize = 3;

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == b'\r'
}

/// The spans of the whitespace-separated fields of a line.
fn field_spans(raw: &[u8]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if is_blank(raw[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < raw.len() && !is_blank(raw[i]) {
            i += 1;
        }
        spans.push(start..i);
    }
    spans
}

/// `UUID="x"` → `UUID=x`; `"x"` → `x`; anything else unchanged.
fn unquote_spec(spec: &str) -> String {
    let unquote = |v: &str| {
        v.strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    match spec.split_once('=') {
        Some((tag, value)) if !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') => {
            format!("{tag}={}", unquote(value))
        }
        _ => unquote(spec),
    }
}

/// A mount point as compared: trailing slashes and doubled slashes removed.
pub fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    while out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    out
}

fn parse_line(file: &str, number: usize, raw: &[u8]) -> Result<Option<Entry>> {
    // libmount reads each line as a C string: a NUL ends the line there, so
    // whatever follows (an option dockhard appends, too) is never seen.
    if let Some(at) = raw.iter().position(|&b| b == 0) {
        return Err(Error::at(
            file,
            number,
            Some(at + 1),
            "NUL byte in the line; mount reads the line only up to it, so it cannot be edited safely",
        ));
    }
    let spans = field_spans(raw);
    let Some(first) = spans.first() else {
        return Ok(None);
    };
    if raw[first.start] == b'#' {
        return Ok(None);
    }
    if spans.len() < 4 {
        return Err(Error::at(
            file,
            number,
            None,
            format!(
                "{} field(s); an fstab line needs at least 4 (device, mount point, type, options)",
                spans.len()
            ),
        ));
    }
    if spans.len() > 6 {
        return Err(Error::at(
            file,
            number,
            None,
            format!(
                "{} fields; an fstab line has at most 6 (a space in a path must be written \\040)",
                spans.len()
            ),
        ));
    }
    let text = |i: usize| String::from_utf8_lossy(&raw[spans[i].clone()]).into_owned();
    let number_field = |i: usize, name: &str| -> Result<u32> {
        match spans.get(i) {
            None => Ok(0),
            Some(span) => std::str::from_utf8(&raw[span.clone()])
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or_else(|| {
                    Error::at(
                        file,
                        number,
                        None,
                        format!("{name} must be a number, found `{}`", text(i)),
                    )
                }),
        }
    };
    let options = std::str::from_utf8(&raw[spans[OPTIONS].clone()])
        .map_err(|_| Error::at(file, number, None, "the options field is not valid UTF-8"))?
        .to_string();
    // libmount groups a double-quoted value; with an odd number of quotes
    // an option appended at the end would be read as part of that value.
    if options.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
        return Err(Error::at(
            file,
            number,
            None,
            format!(
                "unbalanced double quote in the options field `{options}`; an option added to it would not take effect"
            ),
        ));
    }
    let spec_raw = text(0);
    let spec = unquote_spec(&String::from_utf8_lossy(&decode_octal(&raw[spans[0].clone()])));
    let mount_point = String::from_utf8_lossy(&decode_octal(&raw[spans[1].clone()])).into_owned();
    let freq = number_field(4, "fs_freq (field 5)")?;
    let passno = number_field(5, "fs_passno (field 6)")?;
    let fstype = text(2);
    Ok(Some(Entry {
        fields: spans,
        spec_raw,
        spec,
        mount_point,
        fstype,
        options,
        freq,
        passno,
    }))
}

impl Fstab {
    /// Parses the whole file; `file` names it in errors.
    pub fn parse(file: &str, content: &[u8]) -> Result<Fstab> {
        let final_newline = content.is_empty() || content.ends_with(b"\n");
        let body = content.strip_suffix(b"\n").unwrap_or(content);
        let mut lines = Vec::new();
        if !content.is_empty() {
            for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
                let number = index + 1;
                lines.push(Line {
                    number,
                    raw: raw.to_vec(),
                    entry: parse_line(file, number, raw)?,
                });
            }
        }
        Ok(Fstab { lines, final_newline })
    }

    /// The file's bytes: identical to the input unless edited.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(&line.raw);
        }
        if self.final_newline && !self.lines.is_empty() {
            out.push(b'\n');
        }
        out
    }

    /// Indexes (into `lines`) of the entries whose decoded mount point is
    /// `point`, in file order.
    pub fn find(&self, point: &str) -> Vec<usize> {
        let point = normalize(point);
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                l.entry
                    .as_ref()
                    .is_some_and(|e| normalize(&e.mount_point) == point)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Replaces the options field of line `index` (an entry) with
    /// `options`; every other byte of the line stays.
    pub fn set_options(&mut self, index: usize, options: &str) {
        let line = &mut self.lines[index];
        let entry = line.entry.as_mut().expect("set_options on an entry line");
        let span = entry.fields[OPTIONS].clone();
        let mut raw = Vec::with_capacity(line.raw.len() + options.len());
        raw.extend_from_slice(&line.raw[..span.start]);
        raw.extend_from_slice(options.as_bytes());
        raw.extend_from_slice(&line.raw[span.end..]);
        line.raw = raw;
        line.entry =
            parse_line(PATH, line.number, &line.raw).expect("an edited options field keeps the line valid");
    }

    /// Appends a line; a missing final newline is added first.
    pub fn append_line(&mut self, file: &str, text: &str) -> Result<()> {
        let number = self.lines.len() + 1;
        let entry = parse_line(file, number, text.as_bytes())?;
        self.lines.push(Line {
            number,
            raw: text.as_bytes().to_vec(),
            entry,
        });
        self.final_newline = true;
        Ok(())
    }
}

/// Escapes a path for an fstab field: space, tab, newline and backslash
/// as `\NNN`.
pub fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing::case_dir;

    fn entry(fstab: &Fstab, index: usize) -> &Entry {
        fstab.lines[index].entry.as_ref().unwrap()
    }

    #[test]
    fn parses_4_5_and_6_field_lines_with_defaults() {
        let text = b"UUID=\"a4c3\" /home ext4 defaults\n/srv /var/www none bind\nPARTUUID=7e /data xfs nodev 0\n/dev/sr0\t /media/cdrom\tudf user 1 2\n";
        let f = Fstab::parse(PATH, text).unwrap();
        assert_eq!(f.lines.len(), 4);
        let home = entry(&f, 0);
        assert_eq!(home.spec, "UUID=a4c3");
        assert_eq!(home.spec_raw, "UUID=\"a4c3\"");
        assert_eq!((home.freq, home.passno), (0, 0));
        assert_eq!(home.fields.len(), 4);
        assert_eq!(entry(&f, 1).options, "bind");
        assert_eq!((entry(&f, 2).freq, entry(&f, 2).passno), (0, 0));
        assert_eq!(entry(&f, 2).fields.len(), 5);
        assert_eq!((entry(&f, 3).freq, entry(&f, 3).passno), (1, 2));
        assert_eq!(entry(&f, 3).mount_point, "/media/cdrom");
        assert_eq!(f.to_bytes(), text);
    }

    #[test]
    fn decodes_octal_escapes_for_matching_only() {
        let text = b"LABEL=scratch\\040disk\t/srv/scratch\\040area ext4 defaults 0 2\n//h/team\\134share /mnt/team\\040\\050ro\\051 cifs ro 0 0\n/x /odd\\011tab\\012nl\\999\\4 ext4 ro\n";
        let f = Fstab::parse(PATH, text).unwrap();
        assert_eq!(entry(&f, 0).spec, "LABEL=scratch disk");
        assert_eq!(entry(&f, 0).mount_point, "/srv/scratch area");
        assert_eq!(entry(&f, 1).spec, "//h/team\\share");
        assert_eq!(entry(&f, 1).mount_point, "/mnt/team (ro)");
        // Not a valid 3-digit octal byte: kept literally.
        assert_eq!(entry(&f, 2).mount_point, "/odd\ttab\nnl\\999\\4");
        assert_eq!(f.find("/srv/scratch area"), vec![0]);
        assert_eq!(f.find("/srv/scratch area/"), vec![0]);
        assert_eq!(f.find("/srv/scratch\\040area"), Vec::<usize>::new());
        assert_eq!(f.to_bytes(), text);
        assert_eq!(escape("/mnt/team share\\x"), "/mnt/team\\040share\\134x");
    }

    #[test]
    fn comments_blank_lines_and_final_newline_are_kept() {
        let text = b"# c\n\n   \t\n  # indented comment\n/dev/a /a ext4 rw 0 0";
        let f = Fstab::parse(PATH, text).unwrap();
        assert!(!f.final_newline);
        assert_eq!(f.lines.iter().filter(|l| l.entry.is_some()).count(), 1);
        assert_eq!(f.to_bytes(), text);
        let mut g = f.clone();
        g.append_line(PATH, "tmpfs /dev/shm tmpfs defaults,nosuid 0 0")
            .unwrap();
        assert_eq!(
            g.to_bytes(),
            b"# c\n\n   \t\n  # indented comment\n/dev/a /a ext4 rw 0 0\ntmpfs /dev/shm tmpfs defaults,nosuid 0 0\n"
        );
        assert!(Fstab::parse(PATH, b"").unwrap().lines.is_empty());
        assert_eq!(Fstab::parse(PATH, b"\n").unwrap().to_bytes(), b"\n");
        let mut empty = Fstab::parse(PATH, b"").unwrap();
        empty.append_line(PATH, "a /b c d").unwrap();
        assert_eq!(empty.to_bytes(), b"a /b c d\n");
    }

    #[test]
    fn short_long_and_garbage_lines_are_errors_with_file_and_line() {
        for (text, line) in [
            ("/dev/a /a ext4 rw\n/dev/b /b ext4\n", 2),
            ("# ok\n/dev/a\n", 2),
            ("/dev/a /a b\n", 1),
            ("/dev/a /a ext4 rw 0 0\n\n/dev/x /my dir ext4 rw 0 0\n", 3),
            ("/dev/a /a ext4 rw zero 0\n", 1),
            ("/dev/a /a ext4 rw 0 -1\n", 1),
        ] {
            let err = Fstab::parse(PATH, text.as_bytes()).unwrap_err();
            assert!(
                err.message().starts_with(&format!("/etc/fstab:{line}: ")),
                "{text:?}: {err}"
            );
        }
        let err = Fstab::parse(PATH, b"/dev/a /a ext4 rw 0 0 extra\n").unwrap_err();
        assert!(err.message().contains("\\040"), "{err}");
    }

    #[test]
    fn set_options_touches_only_the_options_bytes() {
        let text = b"# x\n/dev/mapper/vg0-tmp   /tmp      ext4    defaults,nodev    0  2\ntmpfs\t\t/var/tmp\ttmpfs\trw\n";
        let mut f = Fstab::parse(PATH, text).unwrap();
        f.set_options(1, "defaults,nodev,nosuid");
        f.set_options(2, "rw,nosuid");
        assert_eq!(
            f.to_bytes(),
            b"# x\n/dev/mapper/vg0-tmp   /tmp      ext4    defaults,nodev,nosuid    0  2\ntmpfs\t\t/var/tmp\ttmpfs\trw,nosuid\n"
        );
        assert_eq!(entry(&f, 2).options, "rw,nosuid");
    }

    #[test]
    fn c10_decoded_mount_points() {
        let dir = case_dir("C10-fstab-octal-escapes-tabs");
        let input = std::fs::read(dir.join("input/etc/fstab")).unwrap();
        let f = Fstab::parse(PATH, &input).unwrap();
        let points: Vec<String> = f
            .lines
            .iter()
            .filter_map(|l| l.entry.as_ref().map(|e| format!("{}\n", e.mount_point)))
            .collect();
        let expected = std::fs::read_to_string(dir.join("expected/decoded-mountpoints.txt")).unwrap();
        assert_eq!(points.concat(), expected);
        let scratch = f.find("/srv/scratch area");
        assert_eq!(entry(&f, scratch[0]).spec, "LABEL=scratch disk");
        assert_eq!(f.to_bytes(), input);
    }

    #[test]
    fn c11_quoted_uuid_and_short_lines() {
        let dir = case_dir("C11-fstab-short-lines-quoted-uuid-bind");
        let input = std::fs::read(dir.join("input/etc/fstab")).unwrap();
        let f = Fstab::parse(PATH, &input).unwrap();
        assert_eq!(f.lines.iter().filter(|l| l.entry.is_some()).count(), 6);
        let home = entry(&f, f.find("/home")[0]);
        assert_eq!(home.spec, "UUID=a4c3e2f1-9b8a-4d7c-8e6f-5a4b3c2d1e0f");
        assert_eq!(home.spec_raw, "UUID=\"a4c3e2f1-9b8a-4d7c-8e6f-5a4b3c2d1e0f\"");
        let www = entry(&f, f.find("/var/www")[0]);
        assert_eq!((www.fstype.as_str(), www.options.as_str()), ("none", "bind"));
        assert_eq!(f.to_bytes(), input);
    }

    #[test]
    fn nul_byte_is_an_error_with_line_and_column() {
        for text in [
            &b"/dev/sda1 / ext4 defaults 0 1\n/dev/sdb1 /home ext4 rw\0junk 0 2\n"[..],
            b"/dev/sda1 / ext4 defaults 0 1\n# a comment\0 with a NUL\n",
        ] {
            let err = Fstab::parse(PATH, text).unwrap_err();
            assert!(err.message().starts_with("/etc/fstab:2:"), "{err}");
            assert!(err.message().contains("NUL"), "{err}");
        }
    }

    #[test]
    fn unbalanced_quote_in_options_is_an_error_with_line() {
        // Found by the fstab fuzz target: `nosuid` appended after an open
        // quote became part of the quoted value.
        let text = b"/dev/sda1 / ext4 defaults 0 1\n//srv/team\t/mnt/team\tcifs\tro,credential\"s=/etc/cifs-team,nofail\t0\t0\n";
        let err = Fstab::parse(PATH, text).unwrap_err();
        assert!(err.message().starts_with("/etc/fstab:2:"), "{err}");
        assert!(err.message().contains("unbalanced double quote"), "{err}");
        let ok = b"//srv/team /mnt/team cifs ro,\"x=a,b\",nofail 0 0\n";
        assert!(Fstab::parse(PATH, ok).is_ok());
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("//tmp//x/"), "/tmp/x");
        assert_eq!(normalize("/tmp"), "/tmp");
    }
}
