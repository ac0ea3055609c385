//! Failure Trace Archive `event_trace.tab`.
//!
//! Columns are found by header name, so both `event_stop_time` (what real files use) and
//! `event_end_time` (what the format page documents) work, and extra columns are ignored.
//! Fields are separated by any run of spaces and tabs. `event_type` 1 is an available interval,
//! 0 an unavailable one; other codes are rejected rather than guessed. Times are epoch seconds:
//! the origin becomes the earliest event start, so the trace starts at 0.
//!
//! Cores come from `node.tab` beside the file when it exists (`cores_per_proc` × `num_procs`).
//! FTA carries no speeds: every host gets `ReadOptions::default_speed`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{ReadReport, Result, TraceError};
use crate::io::lines::{parse_int, show, split_ws, split_ws_into, time_field, LineReader, Loc};
use crate::io::{default_name, file_size, ReadOptions};
use crate::model::{Host, SourceFormat, Trace, TraceBuilder, TraceMeta};

/// Resolves `path` (the file itself or a directory holding `event_trace.tab`).
fn event_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("event_trace.tab")
    } else {
        path.to_path_buf()
    }
}

/// Column positions, found by name in the header.
struct Columns {
    count: usize,
    node_id: usize,
    node_name: Option<usize>,
    event_type: usize,
    start: usize,
    stop: usize,
}

/// Reads the first non-blank line as a lower-cased header.
fn header_names(r: &mut LineReader, path: &Path) -> Result<(u64, Vec<Vec<u8>>)> {
    loop {
        match r.next_line()? {
            None => {
                return Err(TraceError::Empty {
                    path: path.to_path_buf(),
                    why: "no header line".into(),
                })
            }
            Some((_, l)) if l.iter().all(|b| b.is_ascii_whitespace()) => continue,
            Some((n, l)) => {
                let lower = l.to_ascii_lowercase();
                return Ok((n, split_ws(&lower).map(<[u8]>::to_vec).collect()));
            }
        }
    }
}

fn columns(names: &[Vec<u8>], loc: Loc) -> Result<Columns> {
    let find = |want: &[&str]| {
        names
            .iter()
            .position(|n| want.iter().any(|w| n == w.as_bytes()))
    };
    let missing = |col: &str| {
        loc.error(
            "header",
            format!("missing column `{col}` (is this an FTA event_trace.tab?)"),
        )
    };
    Ok(Columns {
        count: names.len(),
        node_id: find(&["node_id"]).ok_or_else(|| missing("node_id"))?,
        node_name: find(&["node_name"]),
        event_type: find(&["event_type"]).ok_or_else(|| missing("event_type"))?,
        start: find(&["event_start_time"]).ok_or_else(|| missing("event_start_time"))?,
        stop: find(&["event_stop_time", "event_end_time"])
            .ok_or_else(|| missing("event_stop_time (or event_end_time)"))?,
    })
}

pub(super) fn read(path: &Path, opts: &ReadOptions) -> Result<(Trace, ReadReport)> {
    let file = event_file(path);
    opts.progress.start(file_size(&file));
    let mut r = LineReader::open(&file, opts.progress)?;
    let (head_line, names) = header_names(&mut r, &file)?;
    let cols = columns(
        &names,
        Loc {
            path: &file,
            line: head_line,
        },
    )?;
    let mut b = TraceBuilder::new(&file);
    let mut index: HashMap<u64, usize> = HashMap::new();
    let (mut min_start, mut max_end) = (i64::MAX, i64::MIN);
    let mut ranges = Vec::with_capacity(cols.count);
    let (mut rounded, mut records) = (0u64, 0u64);
    while let Some((line_no, line)) = r.next_line()? {
        let loc = Loc {
            path: &file,
            line: line_no,
        };
        split_ws_into(line, &mut ranges);
        if ranges.is_empty() {
            continue;
        }
        records += 1;
        if ranges.len() != cols.count {
            return Err(loc.error(
                "row",
                format!(
                    "expected {} fields like the header, found {}",
                    cols.count,
                    ranges.len()
                ),
            ));
        }
        let field = |c: usize| &line[ranges[c].clone()];
        let node_id = parse_int(field(cols.node_id))
            .filter(|&v| v >= 0)
            .ok_or_else(|| {
                loc.error(
                    "node_id",
                    format!(
                        "expected a non-negative integer, found `{}`",
                        show(field(cols.node_id))
                    ),
                )
            })? as u64;
        let available = match field(cols.event_type) {
            b"1" => true,
            b"0" => false,
            other => {
                return Err(loc.error(
                    "event_type",
                    format!(
                        "unknown state `{}` (expected 1 = available or 0 = unavailable)",
                        show(other)
                    ),
                ))
            }
        };
        let start = time_field(&loc, "event_start_time", field(cols.start), &mut rounded)?;
        let stop = time_field(&loc, "event_stop_time", field(cols.stop), &mut rounded)?;
        if stop < start {
            return Err(loc.error(
                "event_stop_time",
                format!("the interval ends ({stop}) before it starts ({start})"),
            ));
        }
        let name = cols.node_name.map(field);
        let h = match index.get(&node_id) {
            Some(&h) => {
                let known = &b.hosts_mut()[h].name;
                if let Some(name) = name.filter(|n| known.as_bytes() != *n) {
                    return Err(loc.error(
                        "node_name",
                        format!(
                            "node {node_id} is named `{}` here but `{known}` earlier",
                            show(name)
                        ),
                    ));
                }
                h
            }
            None => {
                let name = match name {
                    Some(n) => String::from_utf8_lossy(n).into_owned(),
                    None => node_id.to_string(),
                };
                let h = b.add_host(Host {
                    id: node_id,
                    name,
                    speed: opts.default_speed,
                    cores: 1,
                });
                index.insert(node_id, h);
                h
            }
        };
        min_start = min_start.min(start);
        max_end = max_end.max(stop);
        if available {
            b.push(h, start, stop);
        }
    }
    if index.is_empty() {
        return Err(TraceError::Empty {
            path: file,
            why: "no event rows after the header".into(),
        });
    }
    let node_tab = file.with_file_name("node.tab");
    if node_tab.is_file() {
        read_cores(&node_tab, &index, &mut b, opts)?;
    }
    b.report_mut().records = records;
    b.report_mut().rounded += rounded;
    let origin = min_start;
    let span = opts.span.unwrap_or(max_end - origin);
    if span <= 0 {
        return Err(TraceError::Empty {
            path: file,
            why: "every event has zero length".into(),
        });
    }
    b.shift(-origin);
    let meta = TraceMeta {
        name: default_name(path),
        source: SourceFormat::Fta,
        origin: Some(origin),
        span,
    };
    b.finish(meta, opts.strict)
}

/// Values FTA dumps use for "unknown".
fn is_null(f: &[u8]) -> bool {
    matches!(f, b"NULL" | b"null" | b"\\N" | b"NA" | b"-1" | b"-")
}

fn read_cores(
    path: &Path,
    index: &HashMap<u64, usize>,
    b: &mut TraceBuilder,
    opts: &ReadOptions,
) -> Result<()> {
    let mut r = LineReader::open(path, opts.progress)?;
    let (head_line, names) = header_names(&mut r, path)?;
    let find = |w: &str| names.iter().position(|n| n == w.as_bytes());
    let Some(id_col) = find("node_id") else {
        return Err(Loc {
            path,
            line: head_line,
        }
        .error("header", "missing column `node_id`"));
    };
    let (cpp, np) = (find("cores_per_proc"), find("num_procs"));
    if cpp.is_none() && np.is_none() {
        return Ok(());
    }
    let count = names.len();
    while let Some((line_no, line)) = r.next_line()? {
        let loc = Loc {
            path,
            line: line_no,
        };
        let fields: Vec<&[u8]> = split_ws(line).collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != count {
            return Err(loc.error(
                "row",
                format!(
                    "expected {count} fields like the header, found {}",
                    fields.len()
                ),
            ));
        }
        let Some(id) = parse_int(fields[id_col]) else {
            return Err(loc.error(
                "node_id",
                format!("expected an integer, found `{}`", show(fields[id_col])),
            ));
        };
        let Some(&h) = index.get(&(id as u64)) else {
            continue;
        };
        let mut cores = 1u64;
        for (col, name) in [(cpp, "cores_per_proc"), (np, "num_procs")] {
            let Some(c) = col else { continue };
            let f = fields[c];
            if is_null(f) {
                continue;
            }
            match parse_int(f) {
                Some(v) if v >= 1 => cores = cores.saturating_mul(v as u64),
                _ => {
                    return Err(loc.error(
                        name,
                        format!("expected a positive integer, found `{}`", show(f)),
                    ))
                }
            }
        }
        b.hosts_mut()[h].cores = cores.min(u32::MAX as u64) as u32;
    }
    Ok(())
}
