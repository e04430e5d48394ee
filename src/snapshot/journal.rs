//! The journal of one apply: a line `begin N` is on disk before change N
//! is made, and a line `done N` is written after it was made and verified.
//! After a crash (process killed, machine restarted) it tells which changes
//! may have been made: every change up to the last `begin`. The `begin`
//! lines of a batch of mode changes reach the disk together (one
//! fdatasync); changes are begun and done in order.
//! A last line without its newline is a write the crash cut short and is
//! ignored.

use super::Store;
use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

pub const JOURNAL: &str = "journal";

/// An open journal, appended to by the run that applies a snapshot.
#[derive(Debug)]
pub struct Journal {
    file: File,
    shown: String,
}

/// What a journal says of an apply: changes `0..done` were made and
/// verified; changes `done..begun` may have been made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub begun: usize,
}

impl Progress {
    /// The change that was being made when the run stopped, if any.
    pub fn in_flight(&self) -> Option<usize> {
        (self.begun > self.done).then_some(self.done)
    }
}

impl Journal {
    /// Records that changes `from..to` are about to be made, durably.
    pub fn begin(&mut self, from: usize, to: usize) -> Result<()> {
        let lines: String = (from..to).map(|n| format!("begin {n}\n")).collect();
        self.append(&lines)?;
        self.file.sync_data().map_err(|e| Error::io(&self.shown, e))
    }

    /// Records that change `n` was made. Not synced on its own: the next
    /// `begin` (or the manifest written at the end) carries it to disk, and
    /// a lost `done` only makes a change count as possibly made.
    pub fn done(&mut self, n: usize) -> Result<()> {
        self.append(&format!("done {n}\n"))
    }

    fn append(&mut self, line: &str) -> Result<()> {
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| Error::io(&self.shown, e))
    }
}

impl Store {
    /// Creates the journal of snapshot `id` (never through a symlink, never
    /// over an existing one).
    pub fn open_journal(&self, id: &str) -> Result<Journal> {
        let dir = self.snapshot_dir(id)?;
        let path = dir.join(JOURNAL);
        let shown = path.display().to_string();
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| Error::io(&shown, e))?;
        super::sync_dir(&dir)?;
        Ok(Journal { file, shown })
    }

    /// How far the apply of snapshot `id` (with `total` changes) got, or
    /// `None` when it has no journal (it stopped before its first change, or
    /// an older dockhard took it).
    pub fn progress(&self, id: &str, total: usize) -> Result<Option<Progress>> {
        let path = self.snapshot_dir(id)?.join(JOURNAL);
        let shown = path.display().to_string();
        let text = match super::read_no_follow(&path, max_len(total)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&shown, e)),
        };
        parse(&text, &shown, total).map(Some)
    }
}

/// The longest journal of `total` changes: a `begin` and a `done` line
/// for each (`begin N` with N of at most 20 digits), and a last line cut
/// short.
fn max_len(total: usize) -> u64 {
    const LINE: u64 = "begin \n".len() as u64 + 20;
    (2 * total as u64 + 1) * LINE
}

/// Reads a journal. Changes are begun in order, each `done` follows its
/// `begin`; anything else is an error naming the line.
pub fn parse(text: &[u8], shown: &str, total: usize) -> Result<Progress> {
    let mut progress = Progress { done: 0, begun: 0 };
    // A crash can cut the last line short; only whole lines count.
    let whole = match text.iter().rposition(|&b| b == b'\n') {
        Some(end) => &text[..=end],
        None => &text[..0],
    };
    let lines: Vec<&[u8]> = whole.split(|&b| b == b'\n').collect();
    // `whole` ends with a newline (or is empty): the last piece is empty.
    for (n, line) in lines[..lines.len() - 1].iter().enumerate() {
        let bad = |why: &str| Error::at(shown, n + 1, None, why);
        let line = std::str::from_utf8(line).map_err(|_| bad("not UTF-8"))?;
        let (word, index) = line
            .split_once(' ')
            .ok_or_else(|| bad("expected `begin N` or `done N`"))?;
        let index: usize = index
            .parse()
            .map_err(|_| bad(&format!("`{index}` is not a change number")))?;
        if index >= total {
            return Err(bad(&format!(
                "change {index} is not in the snapshot (it has {total} change(s))"
            )));
        }
        match word {
            "begin" if index == progress.begun => progress.begun += 1,
            "done" if index == progress.done && progress.begun > index => progress.done += 1,
            "begin" | "done" => {
                return Err(bad(&format!("`{line}` is out of order")));
            }
            _ => return Err(bad("expected `begin N` or `done N`")),
        }
    }
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, total: usize) -> Result<Progress> {
        parse(text.as_bytes(), "journal", total)
    }

    #[test]
    fn counts_done_and_in_flight() {
        assert_eq!(read("", 3).unwrap(), Progress { done: 0, begun: 0 });
        let one = read("begin 0\ndone 0\nbegin 1\n", 3).unwrap();
        assert_eq!(one, Progress { done: 1, begun: 2 });
        assert_eq!(one.in_flight(), Some(1));
        let all = read("begin 0\ndone 0\nbegin 1\ndone 1\n", 2).unwrap();
        assert_eq!(all, Progress { done: 2, begun: 2 });
        assert_eq!(all.in_flight(), None);
        let batch = read("begin 0\nbegin 1\nbegin 2\ndone 0\n", 3).unwrap();
        assert_eq!(batch, Progress { done: 1, begun: 3 });
    }

    #[test]
    fn a_torn_last_line_is_ignored() {
        assert_eq!(
            read("begin 0\ndone 0\nbeg", 3).unwrap(),
            Progress { done: 1, begun: 1 }
        );
        assert_eq!(read("begin 0\ndo", 3).unwrap(), Progress { done: 0, begun: 1 });
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let rows: [(&[u8], usize); 9] = [
            (b"begin 0\ndone 1\n", 2),
            (b"begin 1\n", 1),
            (b"begin 0\ndone 0\ndone 1\n", 3),
            (b"begin 0\ndone 0\nbegin 0\n", 3),
            (b"begin 0\nfinish 0\n", 2),
            (b"begin x\n", 1),
            (b"begin 7\n", 1),
            (b"\n", 1),
            (b"begin 0\n\xff\n", 2),
        ];
        for (text, line) in rows {
            let err = parse(text, "J", 3).unwrap_err().to_string();
            assert!(err.starts_with(&format!("J:{line}")), "{text:?}: {err}");
        }
    }
}
