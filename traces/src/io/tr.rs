//! The original SpeQuloS simulator's traces: a directory of `<host>.tr` files, one line per
//! interval `start end state` in whole seconds, state 1 = available, 0 = unavailable.
//!
//! The original only uses state-1 lines; unavailable lines still count for the span. Host power
//! comes from `power/<host>` (first line, operations/s) as in the original, unless a `hosts.csv`
//! beside the files says it.
//!
//! The writer emits the full timeline (available and unavailable lines) so a person reading a
//! file sees the gaps, plus `power/<host>` for the original simulator.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{ReadReport, Result, TraceError};
use crate::io::lines::{show, split_ws, time_field, LineReader, Loc};
use crate::io::{
    host_table, list_with_extension, meta_or_relative, parse_files, read_meta, stem, total_size,
    Progress, ReadOptions,
};
use crate::model::{Host, Seconds, SourceFormat, Trace, TraceBuilder};

fn read_power(dir: &Path, name: &str) -> Result<Option<f64>> {
    let path = dir.join("power").join(name);
    if !path.is_file() {
        return Ok(None);
    }
    let text = fs::read_to_string(&path).map_err(|e| TraceError::io(&path, e))?;
    let first = text.lines().next().unwrap_or("").trim();
    first
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(Some)
        .ok_or_else(|| {
            TraceError::parse(
                &path,
                1,
                "power",
                format!("expected a positive number of operations/s, found `{first}`"),
            )
        })
}

pub(super) fn read(path: &Path, opts: &ReadOptions) -> Result<(Trace, ReadReport)> {
    let files = list_with_extension(path, "tr")?;
    if files.is_empty() {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
            why: "no *.tr file".into(),
        });
    }
    opts.progress.start(total_size(opts.progress, &files));
    let names: Vec<String> = files.iter().map(|f| stem(f)).collect();
    let hosts = host_table(path, &names, "tr", |i, n| {
        Ok(Host {
            id: i as u64,
            name: n.to_string(),
            speed: read_power(path, n)?.unwrap_or(opts.default_speed),
            cores: 1,
        })
    })?;
    let meta = read_meta(path)?;
    let (parsed, rounded) = parse_files(&files, |f, rounded| parse(f, opts.progress, rounded))?;
    let mut b = TraceBuilder::new(path);
    let (mut records, mut max_end) = (0u64, 0i64);
    for (file_idx, host) in hosts {
        let h = b.add_host(host);
        let f = &parsed[file_idx];
        records += f.records;
        max_end = max_end.max(f.max_end);
        for &(start, end) in &f.available {
            b.push(h, start, end);
        }
    }
    b.report_mut().records = records;
    b.report_mut().rounded += rounded;
    let meta = meta_or_relative(meta, path, SourceFormat::Tr, opts, max_end)?;
    b.finish(meta, opts.strict)
}

/// One `.tr` file: its available intervals, its record count and its last end.
struct TrFile {
    available: Vec<(Seconds, Seconds)>,
    records: u64,
    max_end: Seconds,
}

fn parse(file: &Path, progress: &dyn Progress, rounded: &mut u64) -> Result<TrFile> {
    let mut out = TrFile {
        available: Vec::new(),
        records: 0,
        max_end: 0,
    };
    let mut r = LineReader::open(file, progress)?;
    while let Some((line_no, line)) = r.next_line()? {
        let loc = Loc {
            path: file,
            line: line_no,
        };
        let line = line.trim_ascii();
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        out.records += 1;
        let f: Vec<&[u8]> = split_ws(line).collect();
        if f.len() != 3 {
            return Err(loc.error(
                "line",
                format!("expected `start end state`, found `{}`", show(line)),
            ));
        }
        let start = time_field(&loc, "start", f[0], rounded)?;
        let end = time_field(&loc, "end", f[1], rounded)?;
        if end < start {
            return Err(loc.error(
                "end",
                format!("the interval ends ({end}) before it starts ({start})"),
            ));
        }
        out.max_end = out.max_end.max(end);
        match f[2] {
            b"1" => out.available.push((start, end)),
            b"0" => {}
            other => {
                return Err(loc.error(
                    "state",
                    format!(
                        "unknown state `{}` (expected 1 = available or 0 = unavailable)",
                        show(other)
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// Writes one `.tr` file and one power file per host, `files[h]` being host `h`'s file stem.
pub(super) fn write(trace: &Trace, dir: &Path, files: &[String]) -> Result<()> {
    let power = dir.join("power");
    fs::create_dir(&power).map_err(|e| TraceError::io(&power, e))?;
    let span = trace.meta.span;
    for (h, (host, stem)) in trace.hosts().iter().zip(files).enumerate() {
        let path = dir.join(format!("{stem}.tr"));
        let io = |e| TraceError::io(&path, e);
        let mut w = BufWriter::new(File::create(&path).map_err(io)?);
        let mut t = 0;
        for (s, e) in trace.iter_intervals(h) {
            if s > t {
                writeln!(w, "{t} {s} 0").map_err(io)?;
            }
            writeln!(w, "{s} {e} 1").map_err(io)?;
            t = e;
        }
        if t < span {
            writeln!(w, "{t} {span} 0").map_err(io)?;
        }
        w.flush().map_err(io)?;
        let p = power.join(stem);
        fs::write(&p, format!("{}\n", host.speed)).map_err(|e| TraceError::io(&p, e))?;
    }
    Ok(())
}
