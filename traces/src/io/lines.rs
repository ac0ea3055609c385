//! Streaming line access with line numbers, and the number parsing shared by the readers.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Result, TraceError};
use crate::io::Progress;
use crate::model::Seconds;

/// Reads a file line by line into one reused buffer; never holds the whole file.
pub(crate) struct LineReader<'p> {
    path: PathBuf,
    reader: BufReader<File>,
    buf: Vec<u8>,
    line: u64,
    progress: &'p dyn Progress,
}

impl<'p> LineReader<'p> {
    pub fn open(path: &Path, progress: &'p dyn Progress) -> Result<Self> {
        let file = File::open(path).map_err(|e| TraceError::io(path, e))?;
        // Per-host files are small and many: an 8 KiB buffer holds most of them whole, and
        // asking for the file's size first (one more system call per file) cost 5 % of
        // reading a 100,000-file trace.
        Ok(LineReader {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(8 << 10, file),
            buf: Vec::with_capacity(256),
            line: 0,
            progress,
        })
    }

    /// The next line (1-based number, bytes without the end of line), or `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<(u64, &[u8])>> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| TraceError::io(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.progress.advance(n as u64);
        self.line += 1;
        let mut end = self.buf.len();
        while end > 0 && matches!(self.buf[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        Ok(Some((self.line, &self.buf[..end])))
    }
}

/// A place in an input file, for error messages.
#[derive(Clone, Copy)]
pub(crate) struct Loc<'a> {
    pub path: &'a Path,
    pub line: u64,
}

impl Loc<'_> {
    pub fn error(&self, field: impl Into<String>, message: impl Into<String>) -> TraceError {
        TraceError::parse(self.path, self.line, field, message)
    }
}

/// The first line of a file, lossily decoded (for format sniffing).
pub(crate) fn first_line(path: &Path) -> Result<String> {
    let file = File::open(path).map_err(|e| TraceError::io(path, e))?;
    let mut buf = Vec::new();
    BufReader::new(file)
        .take(64 * 1024)
        .read_until(b'\n', &mut buf)
        .map_err(|e| TraceError::io(path, e))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Splits on runs of spaces and tabs (FTA files mix both, with empty runs).
pub(crate) fn split_ws(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ' || b == b'\t')
        .filter(|f| !f.is_empty())
}

/// Fills `out` with the byte ranges of the whitespace-separated fields of `line`; reusing the
/// vector keeps the per-line cost allocation-free.
pub(crate) fn split_ws_into(line: &[u8], out: &mut Vec<std::ops::Range<usize>>) {
    out.clear();
    let mut i = 0;
    let n = line.len();
    while i < n {
        while i < n && (line[i] == b' ' || line[i] == b'\t') {
            i += 1;
        }
        let start = i;
        while i < n && line[i] != b' ' && line[i] != b'\t' {
            i += 1;
        }
        if i > start {
            out.push(start..i);
        }
    }
}

/// Parses a whole number of seconds. Returns the value and whether it had to be rounded from a
/// fractional or exponent form (the caller counts roundings; nothing is rounded silently).
pub fn parse_time(field: &[u8]) -> Option<(Seconds, bool)> {
    if let Some(v) = parse_int(field) {
        return Some((v, false));
    }
    let v: f64 = std::str::from_utf8(field).ok()?.trim().parse().ok()?;
    if !v.is_finite() || v.abs() > 9.0e15 {
        return None;
    }
    let r = v.round();
    Some((r as Seconds, r != v))
}

/// Fast path for plain decimal integers.
pub(crate) fn parse_int(field: &[u8]) -> Option<i64> {
    let (neg, digits) = match field.first()? {
        b'-' => (true, &field[1..]),
        b'+' => (false, &field[1..]),
        _ => (false, field),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as i64;
    }
    Some(if neg { -v } else { v })
}

/// A host id: a whole number in [0, 2^64) (hosts.csv and the binary format take all of
/// them, so the intervals file must too).
pub(crate) fn parse_id(field: &[u8]) -> Option<u64> {
    match parse_int(field) {
        Some(v) if v >= 0 => Some(v as u64),
        Some(_) => None,
        // More than 18 digits: the slow path.
        None => std::str::from_utf8(field)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok()),
    }
}

/// Shows a field in an error message, cut to a readable length.
pub(crate) fn show(field: &[u8]) -> String {
    let s = String::from_utf8_lossy(field);
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.into_owned()
    }
}

/// Parses a time field or fails with a message naming the field.
pub(crate) fn time_field(r: &Loc, name: &str, field: &[u8], rounded: &mut u64) -> Result<Seconds> {
    match parse_time(field) {
        Some((v, was_rounded)) => {
            *rounded += was_rounded as u64;
            Ok(v)
        }
        None => Err(r.error(
            name,
            format!("expected a number of seconds, found `{}`", show(field)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_rounding() {
        assert_eq!(parse_time(b"1104509621"), Some((1104509621, false)));
        assert_eq!(parse_time(b"-5"), Some((-5, false)));
        assert_eq!(parse_time(b"12.0"), Some((12, false)));
        assert_eq!(parse_time(b"12.6"), Some((13, true)));
        assert_eq!(parse_time(b"1e3"), Some((1000, false)));
        for bad in [&b""[..], b"-", b"abc", b"1x", b"nan", b"inf", b"1e300"] {
            assert_eq!(parse_time(bad), None, "{}", show(bad));
        }
    }

    #[test]
    fn whitespace_runs_split_like_fta_needs() {
        let f: Vec<&[u8]> = split_ws(b"  0\t\t  12 \t\t\tx ").collect();
        assert_eq!(f, [&b"0"[..], b"12", b"x"]);
    }
}
