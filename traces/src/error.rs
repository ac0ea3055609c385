//! Errors and read reports.
//!
//! Every input error names the file, and where it applies the line and the field, so a user can
//! open the file at the right place. Nothing that changes the data is silent: merges, clips and
//! roundings are counted in [`ReadReport`] and shown by the command line.

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong reading or writing a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The I/O error is part of the message rather than a `source`, so that printing the error
    /// chain does not repeat it.
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
    /// Malformed content at a known line (1-based).
    #[error("{}:{line}: {field}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: u64,
        field: String,
        message: String,
    },
    /// Malformed content that is not tied to one line (a missing column, a bad file name...).
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}: the trace is empty: {why}", path.display())]
    Empty { path: PathBuf, why: String },
    /// Could not tell which format a path holds.
    #[error("{}: cannot tell the trace format ({why}); use --format fta|simgrid|tr|csv|bin", path.display())]
    UnknownFormat { path: PathBuf, why: String },
    /// A request that does not fit the trace (window outside the span, unknown host id...).
    #[error("{0}")]
    Request(String),
}

impl TraceError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        TraceError::Io {
            path: path.to_path_buf(),
            err: source,
        }
    }

    pub(crate) fn parse(
        path: &Path,
        line: u64,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        TraceError::Parse {
            path: path.to_path_buf(),
            line,
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> Self {
        TraceError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// True when the error comes from the input (as opposed to the machine: disk full, permission).
    /// The command line exits with 2 for these.
    pub fn is_bad_input(&self) -> bool {
        match self {
            TraceError::Io { err, .. } => matches!(
                err.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidData
            ),
            _ => true,
        }
    }
}

pub type Result<T, E = TraceError> = std::result::Result<T, E>;

/// What a reader did to the data on its way into the canonical model.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReadReport {
    /// Lines (or records) read.
    pub records: u64,
    /// Available intervals kept before merging.
    pub intervals_read: u64,
    /// Pairs of intervals of one host that overlapped and were merged (an error under `--strict`).
    pub overlaps_merged: u64,
    /// Intervals of length zero, dropped (they carry no availability).
    pub zero_length_dropped: u64,
    /// Intervals cut at the trace span (or at time 0).
    pub clipped: u64,
    /// Fractional timestamps rounded to whole seconds.
    pub rounded: u64,
}

impl ReadReport {
    /// One line per non-trivial adjustment, for the user.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let mut push = |n: u64, what: &str| {
            if n > 0 {
                notes.push(format!("{n} {what}"));
            }
        };
        push(
            self.overlaps_merged,
            "overlapping intervals merged (use --strict to reject them)",
        );
        push(self.zero_length_dropped, "zero-length intervals dropped");
        push(self.clipped, "intervals clipped to the trace span");
        push(
            self.rounded,
            "fractional timestamps rounded to whole seconds",
        );
        notes
    }
}

impl fmt::Display for ReadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.notes().join("; "))
    }
}
