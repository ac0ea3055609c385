//! The native format: `hosts.csv` (`host,name,speed,cores`), `intervals.csv` (`host,start,end`)
//! and `meta.json`, in one directory.
//!
//! `intervals.csv` holds nearly all the bytes, so it has a hand-written byte parser (plain
//! integers, three fields); `hosts.csv` is small and goes through the `csv` crate so that names
//! may hold commas or quotes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{ReadReport, Result, TraceError};
use crate::io::lines::{show, time_field, LineReader, Loc};
use crate::io::{file_size, meta_or_relative, read_meta, ReadOptions};
use crate::model::{Host, SourceFormat, Trace, TraceBuilder};

const HOSTS_HEADER: [&str; 4] = ["host", "name", "speed", "cores"];
const INTERVALS_HEADER: &[u8] = b"host,start,end";

fn dir_of(path: &Path) -> PathBuf {
    if path.is_file() {
        path.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    } else {
        path.to_path_buf()
    }
}

pub(super) fn read(path: &Path, opts: &ReadOptions) -> Result<(Trace, ReadReport)> {
    let dir = dir_of(path);
    let hosts_path = dir.join("hosts.csv");
    let intervals_path = dir.join("intervals.csv");
    opts.progress
        .start(file_size(&hosts_path) + file_size(&intervals_path));
    let hosts = read_hosts(&hosts_path)?;
    // The hosts file is read whole, not line by line: counted at once.
    opts.progress.advance(file_size(&hosts_path));
    let meta = read_meta(&dir)?;
    let mut b = TraceBuilder::new(&intervals_path);
    // Hosts numbered 0..n in order (what spequlos writes) need no map.
    let dense = hosts.iter().enumerate().all(|(i, h)| h.id == i as u64);
    let index: HashMap<u64, usize> = if dense {
        HashMap::new()
    } else {
        hosts.iter().enumerate().map(|(i, h)| (h.id, i)).collect()
    };
    let n_hosts = hosts.len();
    for h in hosts {
        b.add_host(h);
    }
    // About 20 bytes a row: reserving avoids regrowth copies on big files.
    b.reserve((file_size(&intervals_path) / 20) as usize);

    let mut r = LineReader::open(&intervals_path, opts.progress)?;
    match r.next_line()? {
        Some((_, l)) if l.trim_ascii() == INTERVALS_HEADER => {}
        Some((n, l)) => {
            return Err(Loc {
                path: &intervals_path,
                line: n,
            }
            .error(
                "header",
                format!("expected `host,start,end`, found `{}`", show(l)),
            ))
        }
        None => {
            return Err(TraceError::Empty {
                path: intervals_path,
                why: "no header line".into(),
            })
        }
    }
    let (mut rounded, mut records, mut max_end) = (0u64, 0u64, 0i64);
    while let Some((line_no, line)) = r.next_line()? {
        let loc = Loc {
            path: &intervals_path,
            line: line_no,
        };
        if line.is_empty() {
            continue;
        }
        records += 1;
        let mut it = line.split(|&c| c == b',');
        let (Some(hf), Some(sf), Some(ef), None) = (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(loc.error(
                "row",
                format!("expected 3 fields `host,start,end`, found `{}`", show(line)),
            ));
        };
        let id = crate::io::lines::parse_id(hf.trim_ascii()).ok_or_else(|| {
            loc.error("host", format!("expected a host id, found `{}`", show(hf)))
        })?;
        let h = if dense {
            Some(id as usize).filter(|&i| i < n_hosts)
        } else {
            index.get(&id).copied()
        }
        .ok_or_else(|| loc.error("host", format!("host {id} is not in hosts.csv")))?;
        let start = time_field(&loc, "start", sf.trim_ascii(), &mut rounded)?;
        let end = time_field(&loc, "end", ef.trim_ascii(), &mut rounded)?;
        if end < start {
            return Err(loc.error(
                "end",
                format!("the interval ends ({end}) before it starts ({start})"),
            ));
        }
        max_end = max_end.max(end);
        b.push(h, start, end);
    }
    b.report_mut().records = records;
    b.report_mut().rounded += rounded;
    let meta = meta_or_relative(meta, path, SourceFormat::Csv, opts, max_end)?;
    b.finish(meta, opts.strict)
}

/// Reads a host table. Columns are found by name; all four are required.
pub(super) fn read_hosts(path: &Path) -> Result<Vec<Host>> {
    Ok(read_hosts_with_files(path)?
        .into_iter()
        .map(|(h, _)| h)
        .collect())
}

/// Reads a host table with, for each host, the stem of its per-host file: the optional
/// `file` column, else the host's name.
pub(super) fn read_hosts_with_files(path: &Path) -> Result<Vec<(Host, String)>> {
    let mut rdr = csv::ReaderBuilder::new()
        // Names are kept byte for byte (a host may be called " 0"); numbers are trimmed below.
        .trim(csv::Trim::Headers)
        .from_path(path)
        .map_err(|e| csv_error(path, e))?;
    let headers = rdr.headers().map_err(|e| csv_error(path, e))?.clone();
    let mut col = [0usize; 4];
    for (k, want) in HOSTS_HEADER.iter().enumerate() {
        col[k] = headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(want))
            .ok_or_else(|| {
                TraceError::parse(
                    path,
                    1,
                    "header",
                    format!("missing column `{want}` (expected host,name,speed,cores)"),
                )
            })?;
    }
    let file_col = headers.iter().position(|h| h.eq_ignore_ascii_case("file"));
    let mut hosts = Vec::new();
    let mut seen = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| csv_error(path, e))?;
        let line = rec.position().map_or(0, |p| p.line());
        let loc = Loc { path, line };
        let id: u64 = rec[col[0]].trim().parse().map_err(|_| {
            loc.error(
                "host",
                format!("expected a non-negative integer, found `{}`", &rec[col[0]]),
            )
        })?;
        let speed: f64 = rec[col[2]]
            .trim()
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s > 0.0)
            .ok_or_else(|| {
                loc.error(
                    "speed",
                    format!(
                        "expected a positive number of operations/s, found `{}`",
                        &rec[col[2]]
                    ),
                )
            })?;
        let cores: u32 = rec[col[3]]
            .trim()
            .parse()
            .ok()
            .filter(|&c| c >= 1)
            .ok_or_else(|| {
                loc.error(
                    "cores",
                    format!("expected a positive integer, found `{}`", &rec[col[3]]),
                )
            })?;
        if let Some(prev) = seen.insert(id, line) {
            return Err(loc.error(
                "host",
                format!("host id {id} already defined at line {prev}"),
            ));
        }
        let name = rec[col[1]].to_string();
        let file = file_col
            .and_then(|c| rec.get(c))
            .filter(|f| !f.is_empty())
            .map_or_else(|| name.clone(), str::to_string);
        hosts.push((
            Host {
                id,
                name,
                speed,
                cores,
            },
            file,
        ));
    }
    Ok(hosts)
}

fn csv_error(path: &Path, e: csv::Error) -> TraceError {
    let line = e.position().map_or(0, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => TraceError::io(path, io),
        kind => TraceError::parse(path, line, "row", format!("{kind:?}")),
    }
}

/// Writes the host table `hosts.csv` into `dir`. With `files` (the per-host file stems of
/// the simgrid and tr formats), a `file` column is added when some stem is not the host's
/// name (hosts sharing a name), so the table maps every host to its own file.
pub(super) fn write_hosts(trace: &Trace, dir: &Path, files: Option<&[String]>) -> Result<()> {
    let path = dir.join("hosts.csv");
    let mut w = csv::Writer::from_path(&path).map_err(|e| csv_error(&path, e))?;
    let files = files.filter(|f| f.iter().zip(trace.hosts()).any(|(f, h)| *f != h.name));
    let mut header: Vec<&str> = HOSTS_HEADER.to_vec();
    if files.is_some() {
        header.push("file");
    }
    w.write_record(&header).map_err(|e| csv_error(&path, e))?;
    for (i, h) in trace.hosts().iter().enumerate() {
        // `{}` on f64 prints the shortest text that parses back to the same value.
        let mut rec = vec![
            h.id.to_string(),
            h.name.clone(),
            h.speed.to_string(),
            h.cores.to_string(),
        ];
        if let Some(f) = files {
            rec.push(f[i].clone());
        }
        w.write_record(&rec).map_err(|e| csv_error(&path, e))?;
    }
    w.flush().map_err(|e| TraceError::io(&path, e))
}

pub(super) fn write(trace: &Trace, dir: &Path) -> Result<()> {
    write_hosts(trace, dir, None)?;
    let path = dir.join("intervals.csv");
    let io = |e| TraceError::io(&path, e);
    let mut w = BufWriter::with_capacity(1 << 16, File::create(&path).map_err(io)?);
    w.write_all(INTERVALS_HEADER)
        .and_then(|_| w.write_all(b"\n"))
        .map_err(io)?;
    for (h, host) in trace.hosts().iter().enumerate() {
        for (s, e) in trace.iter_intervals(h) {
            writeln!(w, "{},{s},{e}", host.id).map_err(io)?;
        }
    }
    w.flush().map_err(io)
}
