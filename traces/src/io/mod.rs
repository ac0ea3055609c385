//! Readers and writers for the trace formats spequlos speaks.
//!
//! | format    | layout                                                    | reads | writes |
//! |-----------|-----------------------------------------------------------|-------|--------|
//! | `fta`     | Failure Trace Archive `event_trace.tab` (+ `node.tab`)     | yes   | no     |
//! | `simgrid` | directory of SimGrid state profiles `<host>.profile`      | yes   | yes    |
//! | `tr`      | directory of the original simulator's `<host>.tr` files   | yes   | yes    |
//! | `csv`     | native `hosts.csv` + `intervals.csv` (the default output) | yes   | yes    |
//! | `bin`     | native binary `trace.bin`, one file (fastest to load)     | yes   | yes    |
//!
//! Every directory spequlos writes except `bin` (whose one file carries its metadata) also holds
//! `meta.json` (name, source, origin, span) and, for the non-native formats, `hosts.csv` for
//! ids, speeds and cores: this is what makes a write → read round trip exact. Readers use both when present and fall back to the format's own
//! conventions when they are not (foreign data).

mod bin;
mod csv;
mod fta;
mod lines;
mod simgrid;
mod tr;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{ReadReport, Result, TraceError};
use crate::model::{Host, Seconds, Trace, TraceMeta};

pub use lines::parse_time;

pub mod atomic;

/// The speed given to hosts whose source carries none (the original simulator's average power).
pub const DEFAULT_SPEED: f64 = 1000.0;

/// A trace file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Fta,
    Simgrid,
    Tr,
    Csv,
    Bin,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Fta,
        Format::Simgrid,
        Format::Tr,
        Format::Csv,
        Format::Bin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Fta => "fta",
            Format::Simgrid => "simgrid",
            Format::Tr => "tr",
            Format::Csv => "csv",
            Format::Bin => "bin",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trace format name that is none of [`Format::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown trace format `{0}` (expected fta, simgrid, tr, csv or bin)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// Receives read progress in bytes (the command line draws a bar with it).
/// `Sync`: per-host files are read by several threads that report to the same bar.
pub trait Progress: Sync {
    fn start(&self, _total_bytes: u64) {}
    fn advance(&self, _bytes: u64) {}
    /// Whether `start` is worth a total: summing the sizes of 100,000 per-host files costs
    /// 100,000 `stat` calls, wasted when no bar is drawn.
    fn wants_total(&self) -> bool {
        false
    }
}

/// Total size of `files` for a progress bar that will show it, else 0.
fn total_size(progress: &dyn Progress, files: &[PathBuf]) -> u64 {
    if progress.wants_total() {
        files.iter().map(|f| file_size(f)).sum()
    } else {
        0
    }
}
/// Parses every file of a one-file-per-host format with `parse` (which also counts rounded
/// timestamps), on as many threads as there are cores: a 100,000-host trace is mostly system
/// calls. Chunks are contiguous and joined in order, so the result, and the first error
/// reported (the first bad file in name order), do not depend on the thread count.
fn parse_files<T: Send>(
    files: &[PathBuf],
    parse: impl Fn(&Path, &mut u64) -> Result<T> + Sync,
) -> Result<(Vec<T>, u64)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().div_ceil(256))
        .max(1);
    let chunk = files.len().div_ceil(threads);
    let parse_chunk = |part: &[PathBuf]| -> Result<(Vec<T>, u64)> {
        let mut rounded = 0;
        let parsed = part
            .iter()
            .map(|f| parse(f, &mut rounded))
            .collect::<Result<Vec<_>>>()?;
        Ok((parsed, rounded))
    };
    let parts: Vec<Result<(Vec<T>, u64)>> = if threads == 1 {
        vec![parse_chunk(files)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = files
                .chunks(chunk)
                .map(|part| s.spawn(move || parse_chunk(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a parser thread panicked"))
                .collect()
        })
    };
    let mut all = Vec::with_capacity(files.len());
    let mut rounded = 0;
    for part in parts {
        let (p, r) = part?;
        all.extend(p);
        rounded += r;
    }
    Ok((all, rounded))
}

/// Ignores progress.
pub struct NoProgress;
impl Progress for NoProgress {}

/// How to read a trace.
pub struct ReadOptions<'a> {
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// Overlapping intervals of one host are an error instead of being merged.
    pub strict: bool,
    /// The trace span, when the input does not say it (looping SimGrid profiles need one).
    pub span: Option<Seconds>,
    /// Speed of hosts whose input gives none.
    pub default_speed: f64,
    /// Looping profiles that would unroll to more intervals than this are refused before
    /// they are unrolled.
    pub max_intervals: u64,
    pub progress: &'a dyn Progress,
}

impl Default for ReadOptions<'_> {
    fn default() -> Self {
        ReadOptions {
            format: None,
            strict: false,
            span: None,
            default_speed: DEFAULT_SPEED,
            max_intervals: spequlos_check::Limits::default().intervals,
            progress: &NoProgress,
        }
    }
}

/// Reads a trace from a file or directory, detecting its format unless `opts.format` is set.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<(Trace, ReadReport)> {
    let format = match opts.format {
        Some(f) => f,
        None => detect(path)?,
    };
    let (trace, report) = match format {
        Format::Fta => fta::read(path, opts),
        Format::Simgrid => simgrid::read(path, opts),
        Format::Tr => tr::read(path, opts),
        Format::Csv => csv::read(path, opts),
        Format::Bin => bin::read(path, opts),
    }?;
    if trace.host_count() == 0 {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
            why: "no host".into(),
        });
    }
    Ok((trace, report))
}

/// Writes `trace` as a new directory in `format`. The directory appears whole or not at all:
/// files go to a temporary sibling that is renamed into place at the end. A directory that
/// exists and holds anything is refused (it may hold a user's files); see [`write_replacing`].
pub fn write(trace: &Trace, dir: &Path, format: Format) -> Result<()> {
    if dir.is_dir() && !atomic::is_absent_or_empty(dir).map_err(|e| TraceError::io(dir, e))? {
        return Err(TraceError::invalid(
            dir,
            "exists and is not empty; nothing was changed (choose a new directory, or --force to replace it)",
        ));
    }
    write_replacing(trace, dir, format)
}

/// Writes `trace` as a directory in `format`, replacing `dir` whole if it exists.
pub fn write_replacing(trace: &Trace, dir: &Path, format: Format) -> Result<()> {
    if format == Format::Fta {
        return Err(TraceError::Request(
            "writing the FTA format is not supported; use csv, simgrid, tr or bin".into(),
        ));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(TraceError::invalid(
            dir,
            "exists and is not a directory; a trace is written as a directory",
        ));
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| TraceError::io(&parent, e))?;
    let file_name = dir
        .file_name()
        .ok_or_else(|| TraceError::invalid(dir, "not a valid output directory name"))?;
    let tmp = atomic::temp_sibling(&parent.join(file_name)).map_err(|e| TraceError::io(dir, e))?;
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| TraceError::io(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| TraceError::io(&tmp, e))?;
    let written = (|| {
        match format {
            Format::Csv => csv::write(trace, &tmp)?,
            // The one file carries the metadata.
            Format::Bin => return bin::write(trace, &tmp),
            Format::Simgrid => {
                let files = file_stems(&tmp, trace)?;
                simgrid::write(trace, &tmp, &files)?;
                csv::write_hosts(trace, &tmp, Some(&files))?;
            }
            Format::Tr => {
                let files = file_stems(&tmp, trace)?;
                tr::write(trace, &tmp, &files)?;
                csv::write_hosts(trace, &tmp, Some(&files))?;
            }
            Format::Fta => unreachable!("rejected above"),
        }
        write_meta(&trace.meta, &tmp)
    })();
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    replace_dir(&tmp, dir)
}

/// Moves the finished `tmp` directory to `dir`, replacing an earlier output.
fn replace_dir(tmp: &Path, dir: &Path) -> Result<()> {
    if dir.exists() {
        let old = PathBuf::from(format!("{}.old", tmp.display()));
        fs::rename(dir, &old).map_err(|e| TraceError::io(dir, e))?;
        fs::rename(tmp, dir).map_err(|e| TraceError::io(dir, e))?;
        fs::remove_dir_all(&old).map_err(|e| TraceError::io(&old, e))?;
    } else {
        fs::rename(tmp, dir).map_err(|e| TraceError::io(dir, e))?;
    }
    Ok(())
}

/// Tells the format of a path from what it holds.
pub fn detect(path: &Path) -> Result<Format> {
    let unknown = |why: &str| TraceError::UnknownFormat {
        path: path.to_path_buf(),
        why: why.into(),
    };
    let meta = fs::metadata(path).map_err(|e| TraceError::io(path, e))?;
    if meta.is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if name == "intervals.csv" || name == "hosts.csv" {
            return Ok(Format::Csv);
        }
        if name.ends_with(".tab") {
            return Ok(Format::Fta);
        }
        let first = lines::first_line(path)?;
        if first.as_bytes().starts_with(bin::MAGIC) {
            return Ok(Format::Bin);
        }
        if first.contains("event_type") {
            return Ok(Format::Fta);
        }
        let shown = lines::show(first.trim_end().as_bytes());
        return Err(TraceError::parse(
            path,
            1,
            "format",
            format!(
                "cannot tell the trace format: `{shown}` is not an FTA event_trace header and the \
                 file is not a native intervals.csv or trace.bin (SimGrid and .tr traces are \
                 directories); use --format fta|simgrid|tr|csv|bin"
            ),
        ));
    }
    if path.join("intervals.csv").is_file() {
        return Ok(Format::Csv);
    }
    if path.join(bin::FILE).is_file() {
        return Ok(Format::Bin);
    }
    if path.join("event_trace.tab").is_file() {
        return Ok(Format::Fta);
    }
    if !list_with_extension(path, "tr")?.is_empty() {
        return Ok(Format::Tr);
    }
    if !list_with_extension(path, "profile")?.is_empty() {
        return Ok(Format::Simgrid);
    }
    Err(unknown(
        "a directory with no intervals.csv, event_trace.tab, *.tr or *.profile file",
    ))
}

/// Files of `dir` whose name ends in `.ext`, sorted by name so host order never depends on the
/// file system.
fn list_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| TraceError::io(dir, e))? {
        let entry = entry.map_err(|e| TraceError::io(dir, e))?;
        let name = entry.file_name();
        let is_file = entry
            .file_type()
            .map_err(|e| TraceError::io(dir, e))?
            .is_file();
        if is_file && Path::new(&name).extension().is_some_and(|e| e == ext) {
            names.push(name);
        }
    }
    // Names, not paths: path ordering compares component by component, which is what made
    // listing 100,000 profiles slow.
    names.sort_unstable();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}
fn file_size(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// `meta.json` beside the data, when the directory was written by spequlos.
fn read_meta(dir: &Path) -> Result<Option<TraceMeta>> {
    let path = dir.join("meta.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = fs::read_to_string(&path).map_err(|e| TraceError::io(&path, e))?;
    let meta: TraceMeta = serde_json::from_str(&text)
        .map_err(|e| TraceError::parse(&path, e.line() as u64, "meta.json", e.to_string()))?;
    if meta.span <= 0 {
        return Err(TraceError::invalid(
            &path,
            format!("span must be > 0, got {}", meta.span),
        ));
    }
    Ok(Some(meta))
}

fn write_meta(meta: &TraceMeta, dir: &Path) -> Result<()> {
    let path = dir.join("meta.json");
    let mut text = serde_json::to_string_pretty(meta).expect("metadata serialises");
    text.push('\n');
    fs::write(&path, text).map_err(|e| TraceError::io(&path, e))
}

/// Rejects host names that cannot be file names, for the one-file-per-host formats.
/// One file stem per host for the per-host formats: the host's name, or for a host whose name
/// an earlier host already took (real FTA traces have them), `name~2`, `name~3`... `hosts.csv`
/// records the stem of each such host, so reading back gives every host its own intervals.
pub(super) fn file_stems(dir: &Path, trace: &Trace) -> Result<Vec<String>> {
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(trace.host_count());
    for host in trace.hosts() {
        check_file_name(dir, host)?;
        let mut stem = host.name.clone();
        let mut k = 2u64;
        while taken.contains(&stem) {
            stem = format!("{}~{k}", host.name);
            k += 1;
        }
        taken.insert(stem.clone());
        out.push(stem);
    }
    Ok(out)
}

fn check_file_name(dir: &Path, host: &Host) -> Result<()> {
    let n = &host.name;
    if n.is_empty() || n == "." || n == ".." || n.contains(['/', '\\', '\0']) {
        return Err(TraceError::invalid(
            dir,
            format!(
                "host {} has name `{n}`, which cannot be a file name",
                host.id
            ),
        ));
    }
    Ok(())
}

/// Metadata of a directory trace: its `meta.json` when present, else relative times with the
/// span from `--span` or the last interval end.
fn meta_or_relative(
    meta: Option<TraceMeta>,
    path: &Path,
    source: crate::model::SourceFormat,
    opts: &ReadOptions,
    max_end: Seconds,
) -> Result<TraceMeta> {
    let meta = meta.unwrap_or_else(|| TraceMeta {
        name: default_name(path),
        source,
        origin: None,
        span: opts.span.unwrap_or(max_end),
    });
    if meta.span <= 0 {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
            why: "no interval ends after time 0 and no span is given (meta.json or --span)".into(),
        });
    }
    Ok(meta)
}

/// Name used for a trace read from `path` with no `meta.json`.
fn default_name(path: &Path) -> String {
    let p = if path.is_file() {
        path.parent().unwrap_or(path)
    } else {
        path
    };
    fs::canonicalize(p)
        .ok()
        .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "trace".into())
}

#[cfg(test)]
mod tests;

/// Pairs the per-host files of a directory format with host records: from `hosts.csv` when the
/// directory has one (its order wins, and it must name exactly the hosts that have files),
/// otherwise from `fallback(index, name)` in file-name order. Returns `(file index, host)` pairs.
fn host_table(
    dir: &Path,
    names: &[String],
    ext: &str,
    fallback: impl Fn(usize, &str) -> Result<Host>,
) -> Result<Vec<(usize, Host)>> {
    let table = dir.join("hosts.csv");
    if !table.is_file() {
        return names
            .iter()
            .enumerate()
            .map(|(i, n)| Ok((i, fallback(i, n)?)))
            .collect();
    }
    let hosts = csv::read_hosts_with_files(&table)?;
    let by_name: std::collections::HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut used = vec![false; names.len()];
    let mut out = Vec::with_capacity(hosts.len());
    for (h, file) in hosts {
        let Some(&i) = by_name.get(file.as_str()) else {
            return Err(TraceError::invalid(
                &table,
                format!(
                    "lists host `{}` but there is no {file}.{ext} beside it",
                    h.name
                ),
            ));
        };
        if used[i] {
            return Err(TraceError::invalid(
                &table,
                format!(
                    "gives {file}.{ext} to two hosts (add a `file` column naming each host's file)"
                ),
            ));
        }
        used[i] = true;
        out.push((i, h));
    }
    if let Some(i) = used.iter().position(|u| !u) {
        return Err(TraceError::invalid(
            &table,
            format!(
                "does not list host `{}` although {}.{ext} exists",
                names[i], names[i]
            ),
        ));
    }
    Ok(out)
}

/// Host name of a per-host file: its name without the extension.
fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
