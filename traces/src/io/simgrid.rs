//! SimGrid host state profiles: a directory of `<host>.profile` files.
//!
//! Each line is `date value`: the host is OFF from `date` on when `value` is 0 and ON for any
//! other value; before its first event a host is ON (SimGrid's default). `#` and `%` start
//! comments. `LOOPAFTER d` repeats the pattern with period `last_date + d` and `PERIODICITY p`
//! with period `p`, as in SimGrid 3.32's legacy profile parser; repetitions are unrolled up to
//! the trace span. Stochastic profiles (`STOCHASTIC`, `NORM`, `EXP`...) are rejected: replay
//! needs a fixed trace.
//!
//! The writer emits one event per change of state, starts with `0 0` for a host that is OFF at
//! time 0, and ends every host with an OFF event at the span, so that SimGrid stops using it
//! where the data stops.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{ReadReport, Result, TraceError};
use crate::io::lines::{show, split_ws_into, time_field, LineReader, Loc};
use crate::io::{
    default_name, host_table, list_with_extension, parse_files, read_meta, stem, total_size,
    ReadOptions,
};
use crate::model::{Host, Seconds, SourceFormat, Trace, TraceBuilder, TraceMeta};

/// One host's profile: state changes and the repetition period, if any.
struct Profile {
    events: Vec<(Seconds, bool)>,
    period: Option<Seconds>,
}

fn parse(path: &Path, opts: &ReadOptions, rounded: &mut u64) -> Result<Profile> {
    let mut r = LineReader::open(path, opts.progress)?;
    let mut events: Vec<(Seconds, bool)> = Vec::new();
    let (mut loop_after, mut periodicity) = (None, None);
    let mut ranges = Vec::with_capacity(4);
    while let Some((line_no, line)) = r.next_line()? {
        let loc = Loc {
            path,
            line: line_no,
        };
        let line = line.trim_ascii();
        if line.is_empty() || line[0] == b'#' || line[0] == b'%' {
            continue;
        }
        // Ranges into the line, reused: no allocation per line.
        split_ws_into(line, &mut ranges);
        let fields: [&[u8]; 3] =
            std::array::from_fn(|k| ranges.get(k).map_or(&b""[..], |r| &line[r.clone()]));
        let count = ranges.len();
        match fields[0] {
            b"LOOPAFTER" | b"PERIODICITY" => {
                let key = String::from_utf8_lossy(fields[0]).into_owned();
                if count != 2 {
                    return Err(loc.error(key, "expected one number of seconds after it"));
                }
                let v = time_field(&loc, &key, fields[1], rounded)?;
                if v < 0 {
                    return Err(loc.error(key, format!("must be >= 0, found {v}")));
                }
                if fields[0] == b"LOOPAFTER" {
                    loop_after = Some(v);
                } else {
                    periodicity = Some(v);
                }
            }
            b"STOCHASTIC" | b"DET" | b"NORM" | b"NORMAL" | b"GAUSS" | b"GAUSSIAN" | b"EXP"
            | b"EXPONENTIAL" | b"UNIF" | b"UNIFORM" => {
                return Err(loc.error(
                    "profile",
                    "stochastic profiles are not supported: replay needs fixed dates \
                     (generate a trace with `spequlos trace gen` instead)",
                ));
            }
            _ => {
                if count != 2 {
                    return Err(loc.error(
                        "line",
                        format!("expected `date value`, found `{}`", show(line)),
                    ));
                }
                let date = time_field(&loc, "date", fields[0], rounded)?;
                if date < 0 {
                    return Err(loc.error("date", format!("must be >= 0, found {date}")));
                }
                if events.last().is_some_and(|&(d, _)| date < d) {
                    return Err(loc.error(
                        "date",
                        format!(
                            "events must be sorted by date, but {date} comes after {}",
                            events.last().unwrap().0
                        ),
                    ));
                }
                // Profiles are nearly all 0s and 1s: skip the float parser for them.
                let value: f64 = match fields[1] {
                    b"0" => 0.0,
                    b"1" => 1.0,
                    other => std::str::from_utf8(other)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .filter(|v: &f64| v.is_finite())
                        .ok_or_else(|| {
                            loc.error(
                                "value",
                                format!("expected a number, found `{}`", show(fields[1])),
                            )
                        })?,
                };
                events.push((date, value != 0.0));
            }
        }
    }
    let last = events.last().map_or(0, |e| e.0);
    let period = match (loop_after, periodicity) {
        (Some(_), Some(_)) => {
            return Err(TraceError::invalid(
                path,
                "has both LOOPAFTER and PERIODICITY; SimGrid accepts one",
            ))
        }
        (Some(d), None) => Some(last + d),
        (None, Some(p)) if p < last => {
            return Err(TraceError::invalid(
                path,
                format!("PERIODICITY {p} is shorter than the last event date {last}"),
            ))
        }
        (None, Some(p)) => Some(p),
        (None, None) => None,
    };
    if period == Some(0) {
        return Err(TraceError::invalid(
            path,
            "the profile loops with a period of 0 s",
        ));
    }
    Ok(Profile { events, period })
}

/// Pushes the ON intervals of `p` within `[0, span)`.
fn push_intervals(b: &mut TraceBuilder, h: usize, p: &Profile, span: Seconds) {
    let mut on_since = Some(0);
    let mut emit = |date: Seconds, on: bool, on_since: &mut Option<Seconds>| match (on, *on_since) {
        (true, None) => *on_since = Some(date),
        (false, Some(s)) => {
            // `0 0` switches off a host that was on by default: no interval, not a dropped one.
            if date > s {
                b.push(h, s, date);
            }
            *on_since = None;
        }
        _ => {}
    };
    match p.period {
        None => {
            for &(d, on) in &p.events {
                emit(d.min(span), on, &mut on_since);
            }
        }
        Some(period) => {
            let mut base = 0;
            'unroll: while base < span {
                for &(d, on) in &p.events {
                    if base + d >= span {
                        break 'unroll;
                    }
                    emit(base + d, on, &mut on_since);
                }
                base += period;
            }
        }
    }
    if let Some(s) = on_since {
        if s < span {
            b.push(h, s, span);
        }
    }
}

pub(super) fn read(path: &Path, opts: &ReadOptions) -> Result<(Trace, ReadReport)> {
    let files = list_with_extension(path, "profile")?;
    if files.is_empty() {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
            why: "no *.profile file".into(),
        });
    }
    opts.progress.start(total_size(opts.progress, &files));
    let names: Vec<String> = files.iter().map(|f| stem(f)).collect();
    let hosts = host_table(path, &names, "profile", |i, n| {
        Ok(Host {
            id: i as u64,
            name: n.to_string(),
            speed: opts.default_speed,
            cores: 1,
        })
    })?;
    let meta = read_meta(path)?;
    let (profiles, rounded) = parse_files(&files, |f, rounded| parse(f, opts, rounded))?;
    let span = match (&meta, opts.span) {
        (Some(m), _) => m.span,
        (None, Some(s)) => s,
        (None, None) => {
            if let Some(i) = profiles.iter().position(|p| p.period.is_some()) {
                return Err(TraceError::invalid(
                    &files[i],
                    "loops forever and the directory has no meta.json: give the span with --span",
                ));
            }
            profiles
                .iter()
                .filter_map(|p| p.events.last().map(|e| e.0))
                .max()
                .unwrap_or(0)
        }
    };
    if span <= 0 {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
            why: "no event after time 0, so the span is unknown: give it with --span".into(),
        });
    }
    // A looping profile unrolls to about (its ON events) × span / period intervals: count them
    // before unrolling, so a tiny period over a huge span is refused instead of eating memory.
    let unrolled: f64 = profiles
        .iter()
        .map(|p| {
            let on = p.events.iter().filter(|e| e.1).count().max(1) as f64;
            match p.period {
                Some(period) => on * (span as f64 / period.max(1) as f64 + 1.0),
                None => on,
            }
        })
        .sum();
    if unrolled > opts.max_intervals as f64 {
        return Err(TraceError::invalid(
            path,
            format!(
                "the looping profiles unroll to about {unrolled:.3e} intervals over a span of {span} s, over the limit of {} (raise it with --limit intervals=N, or give a shorter --span)",
                opts.max_intervals
            ),
        ));
    }
    let mut b = TraceBuilder::new(path);
    for (file_idx, host) in hosts {
        let h = b.add_host(host);
        push_intervals(&mut b, h, &profiles[file_idx], span);
    }
    b.report_mut().records = files.len() as u64;
    b.report_mut().rounded += rounded;
    let meta = meta.unwrap_or_else(|| TraceMeta {
        name: default_name(path),
        source: SourceFormat::Simgrid,
        origin: None,
        span,
    });
    b.finish(meta, opts.strict)
}

/// Writes one profile per host, `files[h]` being host `h`'s file stem.
pub(super) fn write(trace: &Trace, dir: &Path, files: &[String]) -> Result<()> {
    let span = trace.meta.span;
    for (h, stem) in files.iter().enumerate() {
        let path = dir.join(format!("{stem}.profile"));
        let io = |e| TraceError::io(&path, e);
        let mut w = BufWriter::new(File::create(&path).map_err(io)?);
        let (starts, _) = trace.intervals(h);
        if starts.first() != Some(&0) {
            writeln!(w, "0 0").map_err(io)?;
        }
        for (s, e) in trace.iter_intervals(h) {
            writeln!(w, "{s} 1").map_err(io)?;
            if e < span {
                writeln!(w, "{e} 0").map_err(io)?;
            }
        }
        if trace
            .iter_intervals(h)
            .last()
            .is_some_and(|(_, e)| e == span)
        {
            writeln!(w, "{span} 0").map_err(io)?;
        }
        w.flush().map_err(io)?;
    }
    Ok(())
}
