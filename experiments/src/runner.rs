//! Running a sweep: jobs in parallel, rows streamed to `runs.csv` as they finish, resumable,
//! shardable.
//!
//! Output directory:
//! - `sweep.toml`: the spec as given;
//! - `sweep.json`: name, spec hash (of the parsed spec, so reformatting the file does not
//!   matter), run count, shard;
//! - `runs.csv`: `run_id,baseline_id,trace_label,workload_label,` then the columns of
//!   `spequlos sim --out`.
//!
//! Rows are appended one job (a baseline and its SpeQuloS runs) at a time, in one write, and
//! flushed, so an interrupted sweep loses at most the jobs in flight; a torn last line (a kill
//! in the middle of a write) is dropped on resume. When a sweep (or shard) ends, rows are sorted
//! by run id: the file is then byte-identical whatever the thread count.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use spequlos_core::{metrics, Oracle, Strategy};
use spequlos_sim::output;
use spequlos_sim::run::{load_trace, run_one, tasks, SimError};
use spequlos_traces::Trace;

use crate::spec::{Job, Plan, RunKind, SweepSpec};

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// Bad input: spec, output directory, trace.
    #[error("{0}")]
    Input(String),
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SweepError + '_ {
    move |err| SweepError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// `sweep.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepMeta {
    pub name: String,
    pub spec_hash: String,
    pub runs: u32,
    /// `(k, n)`: the k-th of n shards (1-based), or none.
    pub shard: Option<(u32, u32)>,
}

pub struct Options<'a> {
    pub threads: usize,
    pub resume: bool,
    pub shard: Option<(u32, u32)>,
    /// Called with the number of runs each finished job adds.
    pub progress: &'a (dyn Fn(u64) + Sync),
    /// Set (e.g. by Ctrl-C) to stop starting new jobs.
    pub stop: &'a AtomicBool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Runs this invocation simulated.
    pub simulated: u64,
    /// Runs found done in the output and skipped.
    pub skipped: u64,
    /// Runs that belong to this shard.
    pub planned: u64,
    pub interrupted: bool,
}

/// The header of a sweep's `runs.csv`.
pub fn header() -> String {
    format!(
        "run_id,baseline_id,trace_label,workload_label,{}",
        output::runs_header()
    )
}

/// FNV-1a of the parsed spec, in hex: stable across runs and platforms.
pub fn spec_hash(spec: &SweepSpec) -> String {
    let text = serde_json::to_string(spec).expect("specs serialise");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

pub fn read_meta(dir: &Path) -> Result<Option<SweepMeta>, SweepError> {
    let p = dir.join("sweep.json");
    if !p.is_file() {
        return Ok(None);
    }
    let text = fs::read_to_string(&p).map_err(io(&p))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| SweepError::Input(format!("{}: {e}", p.display())))
}

/// Reads the rows of `runs.csv` (dropping a torn last line), checking the header.
pub fn read_rows(path: &Path) -> Result<Vec<(u32, String)>, SweepError> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = fs::read_to_string(path).map_err(io(path))?;
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut lines = complete.lines();
    match lines.next() {
        None => return Ok(Vec::new()),
        Some(h) if h == header() => {}
        Some(_) => {
            return Err(SweepError::Input(format!(
                "{}: the header does not match this version of spequlos",
                path.display()
            )))
        }
    }
    lines
        .enumerate()
        .map(|(i, l)| {
            let id = l
                .split(',')
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| {
                    SweepError::Input(format!(
                        "{}:{}: run_id: not a run id",
                        path.display(),
                        i + 2
                    ))
                })?;
            Ok((id, l.to_string()))
        })
        .collect()
}

/// Writes rows sorted by run id, replacing `path` atomically.
pub fn write_sorted(path: &Path, mut rows: Vec<(u32, String)>) -> Result<(), SweepError> {
    rows.sort_by_key(|r| r.0);
    rows.dedup_by_key(|r| r.0);
    let mut text = header();
    text.push('\n');
    for (_, l) in rows {
        text.push_str(&l);
        text.push('\n');
    }
    let tmp = path.with_extension("csv.tmp");
    fs::write(&tmp, text).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// Whether job `j` belongs to shard `(k, n)`. Jobs, not runs, are split, so a baseline and the
/// runs compared with it stay together.
pub fn in_shard(j: &Job, shard: Option<(u32, u32)>) -> bool {
    shard.is_none_or(|(k, n)| j.index % n == k - 1)
}

/// Runs `plan` (from `spec`, whose text was `spec_text`) into `out`.
pub fn run(
    spec_text: &str,
    spec: &SweepSpec,
    plan: &Plan,
    out: &Path,
    opts: &Options,
) -> Result<Summary, SweepError> {
    let meta = SweepMeta {
        name: spec.name.clone(),
        spec_hash: spec_hash(spec),
        runs: plan.runs,
        shard: opts.shard,
    };
    let runs_path = out.join("runs.csv");
    match read_meta(out)? {
        Some(existing) if !opts.resume => {
            return Err(SweepError::Input(format!(
                "{} already holds sweep `{}`; use --resume to continue it, or another directory",
                out.display(),
                existing.name
            )))
        }
        Some(existing) if existing != meta => {
            return Err(SweepError::Input(format!(
                "{} holds a different sweep (spec {} shard {:?}, this one is {} shard {:?}); nothing was changed",
                out.display(),
                existing.spec_hash,
                existing.shard,
                meta.spec_hash,
                meta.shard
            )))
        }
        Some(_) => {}
        None => {
            if out.exists() && fs::read_dir(out).map_err(io(out))?.next().is_some() {
                return Err(SweepError::Input(format!(
                    "{} exists and is not a sweep directory; nothing was changed",
                    out.display()
                )));
            }
            fs::create_dir_all(out).map_err(io(out))?;
            fs::write(out.join("sweep.toml"), spec_text).map_err(io(out))?;
            let json = serde_json::to_string_pretty(&meta).expect("serialises");
            fs::write(out.join("sweep.json"), json + "\n").map_err(io(out))?;
        }
    }
    // Resume: keep complete rows (rewritten sorted, which also drops a torn last line).
    let existing = read_rows(&runs_path)?;
    let done: BTreeSet<u32> = existing.iter().map(|r| r.0).collect();
    write_sorted(&runs_path, existing)?;

    let jobs: Vec<&Job> = plan
        .jobs
        .iter()
        .filter(|j| in_shard(j, opts.shard))
        .collect();
    let planned: u64 = jobs.iter().map(|j| j.runs.len() as u64).sum();
    let todo: Vec<&Job> = jobs
        .into_iter()
        .filter(|j| j.runs.iter().any(|r| !done.contains(&r.id)))
        .collect();
    let skipped = planned - todo.iter().map(|j| j.runs.len() as u64).sum::<u64>();
    (opts.progress)(skipped);

    let mut traces: Vec<Option<Arc<Trace>>> = vec![None; plan.traces.len()];
    for j in &todo {
        for r in &j.runs {
            if traces[r.trace].is_none() {
                let t = load_trace(&plan.traces[r.trace]).map_err(|e| match e {
                    SimError::Trace(t) => SweepError::Input(t.to_string()),
                    SimError::Input(m) => SweepError::Input(m),
                })?;
                check_offsets(plan, r.trace, &t)?;
                traces[r.trace] = Some(Arc::new(t));
            }
        }
    }

    let file = OpenOptions::new()
        .append(true)
        .open(&runs_path)
        .map_err(io(&runs_path))?;
    let writer = Mutex::new(file);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| SweepError::Input(format!("thread pool: {e}")))?;
    let failure: Mutex<Option<SweepError>> = Mutex::new(None);
    let simulated = std::sync::atomic::AtomicU64::new(0);
    pool.install(|| {
        todo.par_iter().for_each(|job| {
            if opts.stop.load(Ordering::Relaxed) || failure.lock().expect("not poisoned").is_some()
            {
                return;
            }
            let trace = traces[job.runs[0].trace].as_ref().expect("loaded").clone();
            match run_job(job, &trace, &done) {
                Ok((rows, n)) => {
                    let mut f = writer.lock().expect("not poisoned");
                    let r = f.write_all(rows.as_bytes()).and_then(|_| f.flush());
                    if let Err(e) = r {
                        *failure.lock().expect("not poisoned") = Some(io(&runs_path)(e));
                        return;
                    }
                    simulated.fetch_add(n, Ordering::Relaxed);
                    (opts.progress)(job.runs.len() as u64);
                }
                Err(e) => *failure.lock().expect("not poisoned") = Some(e),
            }
        })
    });
    drop(writer);
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        write_sorted(&runs_path, read_rows(&runs_path)?)?;
        return Err(e);
    }
    write_sorted(&runs_path, read_rows(&runs_path)?)?;
    Ok(Summary {
        simulated: simulated.into_inner(),
        skipped,
        planned,
        interrupted: opts.stop.load(Ordering::Relaxed),
    })
}

fn check_offsets(plan: &Plan, trace_idx: usize, t: &Trace) -> Result<(), SweepError> {
    for j in &plan.jobs {
        for r in &j.runs {
            if r.trace == trace_idx && r.scenario.trace.offset >= t.meta.span as f64 {
                return Err(SweepError::Input(format!(
                    "offset {} s is past the end of trace `{}` ({} s)",
                    r.scenario.trace.offset,
                    r.scenario.trace.label(),
                    t.meta.span
                )));
            }
        }
    }
    Ok(())
}

/// Simulates a job's baseline and SpeQuloS runs; returns the rows of the runs not yet done.
fn run_job(job: &Job, trace: &Trace, done: &BTreeSet<u32>) -> Result<(String, u64), SweepError> {
    let oracle = Oracle::default();
    let base = &job.runs[0];
    debug_assert_eq!(base.kind, RunKind::Baseline);
    let input = |e: SimError| SweepError::Input(e.to_string());
    let t = tasks(&base.scenario).map_err(input)?;
    let b = run_one(&base.scenario, trace, &t, &oracle, Strategy::None);
    let mut rows = String::new();
    let mut n = 1;
    let prefix = |rows: &mut String, id: u32, baseline: u32, sc: &spequlos_sim::Scenario| {
        rows.push_str(&format!(
            "{id},{baseline},{},{},",
            csv_field(&sc.trace.label()),
            csv_field(&sc.workload.label())
        ));
    };
    if !done.contains(&base.id) {
        prefix(&mut rows, base.id, base.id, &base.scenario);
        output::run_row(
            &mut rows,
            "baseline",
            &base.scenario,
            trace.host_count(),
            &b,
            None,
        );
    }
    for r in &job.runs[1..] {
        if done.contains(&r.id) {
            continue;
        }
        let s = run_one(&r.scenario, trace, &t, &oracle, r.scenario.strategy);
        let pair = metrics::pair(&b.metrics, &s.metrics);
        prefix(&mut rows, r.id, base.id, &r.scenario);
        output::run_row(
            &mut rows,
            "speq",
            &r.scenario,
            trace.host_count(),
            &s,
            Some(pair),
        );
        n += 1;
    }
    Ok((rows, n))
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// Joins shard directories into `out`: same spec, no conflicting rows, every run present.
pub fn merge(out: &Path, dirs: &[PathBuf]) -> Result<u32, SweepError> {
    if dirs.is_empty() {
        return Err(SweepError::Input(
            "give at least one shard directory".into(),
        ));
    }
    let mut first: Option<(SweepMeta, PathBuf)> = None;
    let mut rows: std::collections::BTreeMap<u32, String> = std::collections::BTreeMap::new();
    for d in dirs {
        let meta = read_meta(d)?.ok_or_else(|| {
            SweepError::Input(format!("{} is not a sweep directory", d.display()))
        })?;
        if let Some((f, fd)) = &first {
            if f.spec_hash != meta.spec_hash {
                return Err(SweepError::Input(format!(
                    "{} and {} come from different specs",
                    fd.display(),
                    d.display()
                )));
            }
        } else {
            first = Some((meta.clone(), d.clone()));
        }
        for (id, line) in read_rows(&d.join("runs.csv"))? {
            match rows.get(&id) {
                Some(prev) if *prev != line => {
                    return Err(SweepError::Input(format!(
                        "run {id} differs between shards ({})",
                        d.display()
                    )))
                }
                _ => {
                    rows.insert(id, line);
                }
            }
        }
    }
    let (meta, first_dir) = first.expect("at least one");
    let missing: Vec<u32> = (0..meta.runs).filter(|id| !rows.contains_key(id)).collect();
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(8).map(u32::to_string).collect();
        return Err(SweepError::Input(format!(
            "{} of {} runs are missing (ids {}{}): is a shard missing or unfinished?",
            missing.len(),
            meta.runs,
            shown.join(", "),
            if missing.len() > 8 { ", ..." } else { "" }
        )));
    }
    if read_meta(out)?.is_some() || out.join("runs.csv").exists() {
        return Err(SweepError::Input(format!(
            "{} already holds results; nothing was changed",
            out.display()
        )));
    }
    fs::create_dir_all(out).map_err(io(out))?;
    fs::copy(first_dir.join("sweep.toml"), out.join("sweep.toml")).map_err(io(out))?;
    let merged = SweepMeta {
        shard: None,
        ..meta
    };
    fs::write(
        out.join("sweep.json"),
        serde_json::to_string_pretty(&merged).expect("serialises") + "\n",
    )
    .map_err(io(out))?;
    let n = rows.len() as u32;
    write_sorted(&out.join("runs.csv"), rows.into_iter().collect())?;
    Ok(n)
}
