//! `/etc/subuid` and `/etc/subgid` (subuid(5), subgid(5)): `owner:start:count`
//! lines, where the owner is a login name or a numeric id; blank lines and
//! `#` comments are allowed. Also the free-range allocator and overlap check.

use super::accounts::split_lines;
use crate::error::{Error, Result};

/// One `owner:start:count` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub owner: String,
    pub start: u64,
    pub count: u64,
    /// 1-based line number.
    pub line: usize,
}

/// The largest id a subordinate range may reach: 4294967295 is
/// `(uid_t)-1`, and the kernel refuses an id-map extent whose end wraps
/// past 2^32 (`lower_first + count <= lower_first` in u32).
pub const LAST_USABLE_ID: u64 = u32::MAX as u64 - 1;

impl Range {
    /// One past the last id of the range.
    pub fn end(&self) -> u64 {
        self.start + self.count
    }

    /// Whether the range includes id 4294967295 (see [`LAST_USABLE_ID`]):
    /// an id map built from it is refused.
    pub fn reaches_invalid_id(&self) -> bool {
        self.count > 0 && self.end() > LAST_USABLE_ID + 1
    }

    pub fn overlaps(&self, start: u64, count: u64) -> bool {
        count > 0 && self.count > 0 && self.start < start + count && start < self.end()
    }

    /// Whether the entry belongs to the account `name` with id `id`: the owner
    /// field is the login name or the numeric id. A line that matches both
    /// ways (a user named `20001` with uid 20001) is still one entry.
    pub fn belongs_to(&self, name: &str, id: u32) -> bool {
        self.owner == name || parse_id(&self.owner) == Some(id)
    }
}

/// A numeric owner field as an id.
pub fn parse_id(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Something a strict reader would trip over that dockhard tolerates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quirk {
    /// The last line has no `\n`; some shadow versions ignore that entry.
    NoFinalNewline { line: usize },
    /// White space (or a `\r`) after the count.
    TrailingWhitespace { line: usize },
}

/// A parsed subuid/subgid file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubidFile {
    pub ranges: Vec<Range>,
    pub quirks: Vec<Quirk>,
}

impl SubidFile {
    /// The entries of one account, each line once.
    pub fn ranges_of(&self, name: &str, id: u32) -> Vec<&Range> {
        self.ranges.iter().filter(|r| r.belongs_to(name, id)).collect()
    }
}

/// Parses a subuid/subgid file. A line that is not `owner:start:count` with
/// decimal numbers is an error naming `file:line`. Trailing white space is
/// tolerated (and reported as a quirk), as is a missing final newline.
pub fn parse_subid(file: &str, content: &[u8]) -> Result<SubidFile> {
    let mut parsed = SubidFile::default();
    let lines = split_lines(content);
    for line in &lines {
        if line.is_blank_or_comment() {
            continue;
        }
        // Every field of an entry is read: the whole line must be text,
        // without a NUL byte (shadow would stop reading there).
        line.no_nul(file)?;
        let text = line.text(file)?;
        if text.starts_with(char::is_whitespace) {
            return Err(Error::at(
                file,
                line.number,
                Some(1),
                "entry starts with white space",
            ));
        }
        let body = text.trim_end();
        if body.len() != text.len() {
            parsed
                .quirks
                .push(Quirk::TrailingWhitespace { line: line.number });
        }
        let fields: Vec<&str> = body.split(':').collect();
        if fields.len() != 3 {
            return Err(Error::at(
                file,
                line.number,
                None,
                format!(
                    "expected owner:start:count, found {} colon-separated field{}",
                    fields.len(),
                    if fields.len() == 1 { "" } else { "s" }
                ),
            ));
        }
        let owner = fields[0];
        if owner.is_empty() {
            return Err(Error::at(file, line.number, Some(1), "empty owner"));
        }
        if owner.chars().any(char::is_whitespace) {
            return Err(Error::at(
                file,
                line.number,
                Some(1),
                "owner contains white space",
            ));
        }
        let number = |index: usize, what: &str| -> Result<u64> {
            let column = fields[..index].iter().map(|f| f.len() + 1).sum::<usize>() + 1;
            let text = fields[index];
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::at(
                    file,
                    line.number,
                    Some(column),
                    format!("{what} `{text}` is not a decimal number"),
                ));
            }
            text.parse::<u64>()
                .ok()
                .filter(|v| *v <= u64::from(u32::MAX))
                .ok_or_else(|| {
                    Error::at(
                        file,
                        line.number,
                        Some(column),
                        format!("{what} `{text}` is out of range"),
                    )
                })
        };
        let start = number(1, "start")?;
        let count = number(2, "count")?;
        if start + count > 1 << 32 {
            return Err(Error::at(
                file,
                line.number,
                None,
                format!("range {start}+{count} runs past the largest id 4294967295"),
            ));
        }
        parsed.ranges.push(Range {
            owner: owner.to_string(),
            start,
            count,
            line: line.number,
        });
    }
    if let Some(last) = lines.last()
        && !last.has_newline
    {
        parsed.quirks.push(Quirk::NoFinalNewline { line: last.number });
    }
    Ok(parsed)
}

/// The first start `s ≥ min` such that `s..s+count` overlaps none of
/// `ranges` and its last id is at most `max` (and never above
/// [`LAST_USABLE_ID`], whatever `max` says). `None` if none fits.
pub fn first_free_start(ranges: &[Range], min: u64, max: u64, count: u64) -> Option<u64> {
    if count == 0 {
        return None;
    }
    let max = max.min(LAST_USABLE_ID);
    let mut taken: Vec<(u64, u64)> = ranges
        .iter()
        .filter(|r| r.count > 0)
        .map(|r| (r.start, r.end()))
        .collect();
    taken.sort_unstable();
    let mut candidate = min;
    for (start, end) in taken {
        if end <= candidate {
            continue;
        }
        if start >= candidate + count {
            break;
        }
        candidate = end;
    }
    (candidate + count - 1 <= max).then_some(candidate)
}

/// Pairs of entries whose ranges overlap and whose owners differ (as told
/// by `same_owner`), in line order.
pub fn overlaps(ranges: &[Range], same_owner: impl Fn(&Range, &Range) -> bool) -> Vec<(&Range, &Range)> {
    let mut found = Vec::new();
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            if a.overlaps(b.start, b.count) && !same_owner(a, b) {
                found.push((a, b));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(owner: &str, start: u64, count: u64) -> Range {
        Range {
            owner: owner.into(),
            start,
            count,
            line: 0,
        }
    }

    #[test]
    fn parses_names_numeric_owners_comments_and_blank_lines() {
        let text = b"# ranges\n1001:100000:65536\n\nbob:165536:65536\n  # indented comment\n";
        let file = parse_subid("/etc/subuid", text).unwrap();
        assert_eq!(file.ranges.len(), 2);
        assert_eq!(file.ranges[0].owner, "1001");
        assert_eq!(
            (file.ranges[0].start, file.ranges[0].count, file.ranges[0].line),
            (100000, 65536, 2)
        );
        assert_eq!(file.ranges[1].line, 4);
        assert!(file.quirks.is_empty());
    }

    #[test]
    fn reports_missing_final_newline_and_trailing_whitespace() {
        let file = parse_subid("/etc/subuid", b"alice:100000:65536\nbob:165536:65536").unwrap();
        assert_eq!(file.quirks, vec![Quirk::NoFinalNewline { line: 2 }]);
        assert_eq!(file.ranges[1].count, 65536);

        let file = parse_subid("/etc/subgid", b"alice:100000:65536\r\nbob:165536:65536 \n").unwrap();
        assert_eq!(
            file.quirks,
            vec![
                Quirk::TrailingWhitespace { line: 1 },
                Quirk::TrailingWhitespace { line: 2 }
            ]
        );
        assert_eq!(file.ranges[1].count, 65536);
    }

    #[test]
    fn rejects_garbage_with_file_and_line() {
        let cases: [(&[u8], &str); 9] = [
            (
                b"alice:100000:65536\ngarbage\n",
                "/etc/subuid:2: expected owner:start:count, found 1 colon-separated field",
            ),
            (
                b"alice:100000\n",
                "/etc/subuid:1: expected owner:start:count, found 2",
            ),
            (
                b"alice:1:2:3\n",
                "/etc/subuid:1: expected owner:start:count, found 4",
            ),
            (b":100000:65536\n", "/etc/subuid:1:1: empty owner"),
            (
                b"alice:1e5:65536\n",
                "/etc/subuid:1:7: start `1e5` is not a decimal number",
            ),
            (
                b"alice:100000:-1\n",
                "/etc/subuid:1:14: count `-1` is not a decimal number",
            ),
            (
                b"alice:4294967296:1\n",
                "/etc/subuid:1:7: start `4294967296` is out of range",
            ),
            (
                b"alice:4294967295:2\n",
                "/etc/subuid:1: range 4294967295+2 runs past",
            ),
            (
                b"\n  alice:1:2\n",
                "/etc/subuid:2:1: entry starts with white space",
            ),
        ];
        for (text, want) in cases {
            let err = parse_subid("/etc/subuid", text).unwrap_err();
            assert!(err.message().starts_with(want), "{err} vs {want}");
        }
        let err = parse_subid("/etc/subgid", b"a b:1:2\n").unwrap_err();
        assert_eq!(err.message(), "/etc/subgid:1:1: owner contains white space");
    }

    #[test]
    fn owner_matches_name_or_numeric_id_once() {
        let file = parse_subid(
            "/etc/subuid",
            b"1001:100000:65536\nbob:165536:65536\n20001:231072:65536\n",
        )
        .unwrap();
        assert_eq!(file.ranges_of("alice", 1001).len(), 1);
        assert_eq!(file.ranges_of("bob", 1002).len(), 1);
        let numeric = file.ranges_of("20001", 20001);
        assert_eq!(numeric.len(), 1, "a line matching by name and id counts once");
        assert_eq!(numeric[0].start, 231072);
        assert!(file.ranges_of("dockremap", 998).is_empty());
        assert_eq!(parse_id("007"), Some(7));
        assert_eq!(parse_id("x1"), None);
    }

    #[test]
    fn allocator_finds_first_gap_counting_every_line() {
        let taken = vec![
            range("1001", 100000, 65536),
            range("bob", 165536, 65536),
            range("20001", 231072, 65536),
        ];
        assert_eq!(first_free_start(&taken, 100000, 600100000, 65536), Some(296608));
        // Unsorted input, a gap that is too small, then one that fits.
        let taken = vec![
            range("c", 300000, 10),
            range("a", 100000, 100),
            range("b", 100150, 100),
        ];
        assert_eq!(first_free_start(&taken, 100000, 600100000, 50), Some(100100));
        assert_eq!(first_free_start(&taken, 100000, 600100000, 51), Some(100250));
        assert_eq!(first_free_start(&taken, 100000, 600100000, 200000), Some(300010));
        // Ranges below the minimum, straddling it, and empty ranges.
        let taken = vec![range("a", 0, 10), range("b", 99990, 20), range("z", 100010, 0)];
        assert_eq!(first_free_start(&taken, 100000, 600100000, 65536), Some(100010));
        // The maximum is the last id a range may use.
        assert_eq!(first_free_start(&[], 100000, 165535, 65536), Some(100000));
        assert_eq!(first_free_start(&[], 100000, 165534, 65536), None);
        assert_eq!(first_free_start(&[], 100000, 600100000, 0), None);
        // Never up to 4294967295 ((uid_t)-1), even when max allows it.
        let top = u64::from(u32::MAX);
        assert_eq!(first_free_start(&[], top - 65535, top, 65536), None);
        assert_eq!(first_free_start(&[], top - 65536, top, 65536), Some(top - 65536));
        assert!(range("a", top - 65535, 65536).reaches_invalid_id());
        assert!(!range("a", top - 65536, 65536).reaches_invalid_id());
        assert!(!range("a", top, 0).reaches_invalid_id());
    }

    #[test]
    fn overlap_check_ignores_same_owner_and_adjacent_ranges() {
        let ranges = vec![
            range("alice", 100000, 65536),
            range("bob", 165536, 65536),
            range("carol", 200000, 10),
            range("1001", 100000, 10),
        ];
        let found = overlaps(&ranges, |a, b| {
            let alias = |o: &str| {
                if o == "1001" {
                    "alice".to_string()
                } else {
                    o.to_string()
                }
            };
            alias(&a.owner) == alias(&b.owner)
        });
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].0.owner.as_str(), found[0].1.owner.as_str()),
            ("bob", "carol")
        );
    }
}
