//! Running a sweep: jobs in parallel, rows streamed to `runs.csv` as they finish, resumable,
//! shardable.
//!
//! Output directory:
//! - `sweep.toml`: the spec as given;
//! - `sweep.json`: name, spec hash (of the parsed spec, so reformatting the file does not
//!   matter), run count, shard;
//! - `runs.csv`: `run_id,baseline_id,trace_label,workload_label,` then the columns of
//!   `spequlos sim --out`; a stream of BoTs has one row per run for the whole stream
//!   (`spequlos_sim::run::stream_as_run`);
//! - `bots.csv`, `users.csv` (sweeps of streams): `run_id,` then the columns of `spequlos sim
//!   --out`'s for a stream, several rows per run. A job writes them before its `runs.csv` rows,
//!   so a run in `runs.csv` has all of them; on resume the rows of runs not done are dropped.
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
use spequlos_check::Limits;
use spequlos_core::{metrics, Oracle};
use spequlos_sim::output;
use spequlos_sim::run::{
    bots_within, load_trace_within, run_family, stream_as_run, stream_pair, tasks_within,
    user_totals, SimError,
};
use spequlos_traces::io::atomic::is_absent_or_empty;
use spequlos_traces::{write_atomic, Trace};

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
    /// Resource limits for the traces and workloads the runs load.
    pub limits: Limits,
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

/// Reads the rows of `runs.csv` (dropping a torn last line), checking the header and every
/// row against `plan`: its run id is one of the plan's, its parameter fields are exactly what
/// the plan writes for that run, it has every metric field and each is a number, a boolean or
/// empty. A row that fails is refused with its file and line: it was torn, edited, or comes
/// from another sweep, and copying it into results would corrupt them silently.
pub fn read_rows(path: &Path, plan: &Plan) -> Result<Vec<(u32, String)>, SweepError> {
    read_rows_checked(path, Some(plan))
}

/// [`read_rows`]; without a plan, rows are only split from their run id (for a file whose
/// rows were checked when read or written by this process).
fn read_rows_checked(path: &Path, plan: Option<&Plan>) -> Result<Vec<(u32, String)>, SweepError> {
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
    let index = plan.map(RunIndex::new);
    let mut rows: Vec<(u32, String)> = Vec::new();
    let mut seen: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    for (i, l) in lines.enumerate() {
        let lineno = i + 2;
        let bad = |why: String| SweepError::Input(format!("{}:{lineno}: {why}", path.display()));
        let id: u32 = l
            .split(',')
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| bad("run_id: not a run id".into()))?;
        if let Some(index) = &index {
            index.check(id, l, bad)?;
        }
        if let Some(&prev) = seen.get(&id) {
            if rows[prev].1 != l {
                return Err(bad(format!(
                    "run {id} appears twice with different results"
                )));
            }
            continue;
        }
        seen.insert(id, rows.len());
        rows.push((id, l.to_string()));
    }
    Ok(rows)
}

/// Where each run of a plan is, and the fields its row starts with.
struct RunIndex<'a> {
    runs: Vec<Option<(&'a crate::spec::PlannedRun, u32)>>,
}

impl<'a> RunIndex<'a> {
    fn new(plan: &'a Plan) -> Self {
        let mut runs = vec![None; plan.runs as usize];
        for j in &plan.jobs {
            let base = j.runs[0].id;
            for r in &j.runs {
                runs[r.id as usize] = Some((r, base));
            }
        }
        RunIndex { runs }
    }

    /// Whether `line` can be the row of run `id`: the exact leading fields the plan writes
    /// for it, then every metric field, each a number, a boolean or empty.
    fn check(
        &self,
        id: u32,
        line: &str,
        bad: impl Fn(String) -> SweepError,
    ) -> Result<(), SweepError> {
        let expected = self.prefix(id).ok_or_else(|| {
            bad(format!(
                "run {id} is not a run of this sweep ({} runs)",
                self.runs.len()
            ))
        })?;
        let metrics = line.strip_prefix(expected.as_str()).ok_or_else(|| {
            bad(format!(
                "run {id}: its parameters are not this sweep's (a row of another sweep, or edited)"
            ))
        })?;
        let fields: Vec<&str> = metrics.split(',').collect();
        if fields.len() != output::METRIC_COLUMNS.len() {
            return Err(bad(format!(
                "run {id}: {} metric fields, {} expected (a torn or edited row)",
                fields.len(),
                output::METRIC_COLUMNS.len()
            )));
        }
        for (f, col) in fields.iter().zip(output::METRIC_COLUMNS) {
            let ok = f.is_empty() || *f == "true" || *f == "false" || f.parse::<f64>().is_ok();
            if !ok {
                return Err(bad(format!("run {id}: {col}: `{f}` is not a number")));
            }
        }
        Ok(())
    }

    /// `run_id,baseline_id,trace_label,workload_label,kind,params...,` of run `id`.
    fn prefix(&self, id: u32) -> Option<String> {
        let (r, base) = (*self.runs.get(id as usize)?)?;
        let kind = match r.kind {
            RunKind::Baseline => "baseline",
            RunKind::Speq { .. } => "speq",
        };
        Some(format!(
            "{},{base},{},{},{},",
            r.id,
            csv_field(&r.scenario.trace.label()),
            csv_field(&r.scenario.workload.label()),
            output::param_fields(kind, &r.scenario)
        ))
    }
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
    write_atomic(path, text.as_bytes()).map_err(io(path))
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
    let fresh = match read_meta(out)? {
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
        Some(_) => false,
        None => {
            if !is_absent_or_empty(out).map_err(io(out))? {
                return Err(SweepError::Input(format!(
                    "{} exists and is not a sweep directory; nothing was changed",
                    out.display()
                )));
            }
            true
        }
    };
    // Everything that can be refused is checked before the directory is touched.
    let existing = if fresh {
        Vec::new()
    } else {
        read_rows(&runs_path, plan)?
    };
    let done: BTreeSet<u32> = existing.iter().map(|r| r.0).collect();

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

    let input = |e: SimError| SweepError::Input(e.to_string());
    let mut traces: Vec<Option<Arc<Trace>>> = vec![None; plan.traces.len()];
    let mut workloads: BTreeSet<String> = BTreeSet::new();
    for j in &todo {
        for r in &j.runs {
            if traces[r.trace].is_none() {
                let t = load_trace_within(&plan.traces[r.trace], &opts.limits).map_err(input)?;
                check_offsets(plan, r.trace, &t)?;
                traces[r.trace] = Some(Arc::new(t));
            }
        }
        // A bad job file is refused now, not after hours of other runs.
        let sc = &j.runs[0].scenario;
        if workloads.insert(format!("{:?}", sc.workload)) {
            tasks_within(sc, &opts.limits).map_err(input)?;
        }
    }

    let created_dir = fresh && !out.exists();
    if fresh {
        fs::create_dir_all(out).map_err(io(out))?;
        write_atomic(&out.join("sweep.toml"), spec_text.as_bytes()).map_err(io(out))?;
        let json = serde_json::to_string_pretty(&meta).expect("serialises");
        write_atomic(&out.join("sweep.json"), (json + "\n").as_bytes()).map_err(io(out))?;
    }
    // Resume: keep complete rows (rewritten sorted, which also drops a torn last line).
    write_sorted(&runs_path, existing)?;
    let streams = plan
        .jobs
        .iter()
        .any(|j| j.runs[0].scenario.workload.is_stream());
    if streams {
        for (name, header) in SIDE {
            let p = out.join(name);
            let rows = read_side(&p, header, &|id| done.contains(&id))?;
            write_side(&p, header, rows)?;
        }
    }
    (opts.progress)(skipped);

    let append = |p: &Path| OpenOptions::new().append(true).open(p).map_err(io(p));
    let side_files = if streams {
        Some((append(&out.join(SIDE[0].0))?, append(&out.join(SIDE[1].0))?))
    } else {
        None
    };
    let writer = Mutex::new((append(&runs_path)?, side_files));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| SweepError::Input(format!("thread pool: {e}")))?;
    let failure: Mutex<Option<SweepError>> = Mutex::new(None);
    let simulated = std::sync::atomic::AtomicU64::new(0);
    pool.install(|| {
        // One job per piece of work: a thread that runs out steals the next job, not half of
        // a range the other thread was given whole (the grid's last seconds on one core).
        todo.par_iter().with_max_len(1).for_each(|job| {
            if opts.stop.load(Ordering::Relaxed) || failure.lock().expect("not poisoned").is_some()
            {
                return;
            }
            let trace = traces[job.runs[0].trace].as_ref().expect("loaded").clone();
            match run_job(job, &trace, &done, &opts.limits) {
                Ok(rows) => {
                    let n = rows.n;
                    let mut w = writer.lock().expect("not poisoned");
                    let (runs, side) = &mut *w;
                    // The side tables first: a run in runs.csv has its rows there.
                    let r = match side {
                        Some((bots, users)) => bots
                            .write_all(rows.bots.as_bytes())
                            .and_then(|_| bots.flush())
                            .and_then(|_| users.write_all(rows.users.as_bytes()))
                            .and_then(|_| users.flush()),
                        None => Ok(()),
                    }
                    .and_then(|_| runs.write_all(rows.runs.as_bytes()))
                    .and_then(|_| runs.flush());
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
    let simulated = simulated.into_inner();
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        if fresh && simulated == 0 {
            // Nothing was computed: leave the directory as it was.
            for f in [
                "runs.csv",
                "bots.csv",
                "users.csv",
                "sweep.json",
                "sweep.toml",
            ] {
                let _ = fs::remove_file(out.join(f));
            }
            if created_dir {
                let _ = fs::remove_dir(out);
            }
        } else {
            finish_files(out, &runs_path, streams)?;
        }
        return Err(e);
    }
    // The rows are the checked ones read at the start and those written since.
    finish_files(out, &runs_path, streams)?;
    Ok(Summary {
        simulated,
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

/// A stream sweep's side tables and their headers (without `run_id,`).
const SIDE: [(&str, &str); 2] = [
    ("bots.csv", output::BOTS_HEADER),
    ("users.csv", output::USERS_HEADER),
];

/// Sorts what a sweep wrote (runs.csv by run id, the side tables by run id, a run's rows in
/// the order written), keeping in the side tables only the runs in runs.csv.
fn finish_files(out: &Path, runs_path: &Path, streams: bool) -> Result<(), SweepError> {
    let rows = read_rows_checked(runs_path, None)?;
    let ids: BTreeSet<u32> = rows.iter().map(|r| r.0).collect();
    write_sorted(runs_path, rows)?;
    if streams {
        for (name, header) in SIDE {
            let p = out.join(name);
            let rows = read_side(&p, header, &|id| ids.contains(&id))?;
            write_side(&p, header, rows)?;
        }
    }
    Ok(())
}

/// The complete rows of side table `path` whose run `keep` keeps, in file order (a torn last
/// line dropped); an absent file has none.
fn read_side(
    path: &Path,
    header: &str,
    keep: &dyn Fn(u32) -> bool,
) -> Result<Vec<(u32, String)>, SweepError> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = fs::read_to_string(path).map_err(io(path))?;
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut lines = complete.lines();
    if let Some(h) = lines.next() {
        if format!("{h}\n") != format!("run_id,{header}") {
            return Err(SweepError::Input(format!(
                "{}: the header does not match this version of spequlos",
                path.display()
            )));
        }
    }
    let mut rows = Vec::new();
    for (i, l) in lines.enumerate() {
        let id: u32 = l
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
        if keep(id) {
            rows.push((id, l.to_string()));
        }
    }
    Ok(rows)
}

/// Writes a side table, rows grouped by run id (stable: a run's rows keep their order).
fn write_side(path: &Path, header: &str, mut rows: Vec<(u32, String)>) -> Result<(), SweepError> {
    rows.sort_by_key(|r| r.0);
    let mut text = format!("run_id,{header}");
    for (_, l) in rows {
        text.push_str(&l);
        text.push('\n');
    }
    write_atomic(path, text.as_bytes()).map_err(io(path))
}

/// A job's rows for each file, and how many runs it simulated.
struct JobRows {
    runs: String,
    bots: String,
    users: String,
    n: u64,
}

/// `run_id,` before each of `lines`.
fn with_id(id: u32, lines: &str) -> String {
    lines.lines().map(|l| format!("{id},{l}\n")).collect()
}

/// Simulates a job's baseline and SpeQuloS runs; returns the rows of the runs not yet done.
fn run_job(
    job: &Job,
    trace: &Trace,
    done: &BTreeSet<u32>,
    limits: &Limits,
) -> Result<JobRows, SweepError> {
    if job.runs[0].scenario.workload.is_stream() {
        return run_stream_job(job, trace, done, limits);
    }
    let oracle = Oracle::default();
    let base = &job.runs[0];
    debug_assert_eq!(base.kind, RunKind::Baseline);
    let input = |e: SimError| SweepError::Input(e.to_string());
    let t = tasks_within(&base.scenario, limits).map_err(input)?;
    let todo: Vec<&crate::spec::PlannedRun> = job.runs[1..]
        .iter()
        .filter(|r| !done.contains(&r.id))
        .collect();
    let scenarios: Vec<&spequlos_sim::Scenario> = todo.iter().map(|r| &r.scenario).collect();
    let (b, outs) = run_family(&base.scenario, trace, &t, &oracle, &scenarios);
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
    for (r, s) in todo.into_iter().zip(outs) {
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
    Ok(JobRows {
        runs: rows,
        bots: String::new(),
        users: String::new(),
        n,
    })
}

/// [`run_job`] for a stream of BoTs: each run simulated whole (a stream does not fork), one
/// `runs.csv` row per run, its BoTs and users in the side tables.
fn run_stream_job(
    job: &Job,
    trace: &Trace,
    done: &BTreeSet<u32>,
    limits: &Limits,
) -> Result<JobRows, SweepError> {
    let oracle = Oracle::default();
    let base = &job.runs[0];
    let input = |e: SimError| SweepError::Input(e.to_string());
    let (tasks, bots) = bots_within(&base.scenario, limits).map_err(input)?;
    let stream = |sc: &spequlos_sim::Scenario, strategy| {
        let mut s = sc.clone();
        s.strategy = strategy;
        let key = spequlos_sim::run::oracle_key(&s, strategy);
        spequlos_sim::world::simulate_stream(&s, trace, &tasks, &bots, &oracle, key)
    };
    let b = stream(&base.scenario, spequlos_core::Strategy::None);
    let mut out = JobRows {
        runs: String::new(),
        bots: String::new(),
        users: String::new(),
        n: 1,
    };
    let hosts = trace.host_count();
    let ideal = base.scenario.ideal_fraction;
    let row = |rows: &mut String,
               r: &crate::spec::PlannedRun,
               kind: &str,
               run: &spequlos_sim::world::RunOutput,
               pair: Option<spequlos_core::PairMetrics>| {
        rows.push_str(&format!(
            "{},{},{},{},",
            r.id,
            base.id,
            csv_field(&r.scenario.trace.label()),
            csv_field(&r.scenario.workload.label())
        ));
        output::run_row(rows, kind, &r.scenario, hosts, run, pair);
    };
    if !done.contains(&base.id) {
        out.bots
            .push_str(&with_id(base.id, &output::bots("baseline", &b, &[])));
        out.users.push_str(&with_id(
            base.id,
            &output::users("baseline", &user_totals(&b, &[])),
        ));
        row(
            &mut out.runs,
            base,
            "baseline",
            &stream_as_run(&b, ideal),
            None,
        );
    }
    for r in &job.runs[1..] {
        if done.contains(&r.id) {
            continue;
        }
        let s = stream(&r.scenario, r.scenario.strategy);
        let (pair, per_bot) = stream_pair(&b, &s);
        out.bots
            .push_str(&with_id(r.id, &output::bots("speq", &s, &per_bot)));
        out.users.push_str(&with_id(
            r.id,
            &output::users("speq", &user_totals(&s, &per_bot)),
        ));
        row(
            &mut out.runs,
            r,
            "speq",
            &stream_as_run(&s, ideal),
            Some(pair),
        );
        out.n += 1;
    }
    Ok(out)
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// Joins shard directories into `out`: same spec, every row checked against the spec's plan,
/// no conflicting rows, every run present. `out` must be new (or empty).
pub fn merge(out: &Path, dirs: &[PathBuf]) -> Result<u32, SweepError> {
    if dirs.is_empty() {
        return Err(SweepError::Input(
            "give at least one shard directory".into(),
        ));
    }
    if !is_absent_or_empty(out).map_err(io(out))? {
        return Err(SweepError::Input(format!(
            "{} exists and is not empty; nothing was changed",
            out.display()
        )));
    }
    let mut first: Option<(SweepMeta, PathBuf, String, Plan)> = None;
    let mut rows: std::collections::BTreeMap<u32, String> = std::collections::BTreeMap::new();
    for d in dirs {
        let meta = read_meta(d)?.ok_or_else(|| {
            SweepError::Input(format!("{} is not a sweep directory", d.display()))
        })?;
        if first.is_none() {
            // The plan comes from the spec itself, not from what sweep.json claims.
            let spec_path = d.join("sweep.toml");
            let text = fs::read_to_string(&spec_path).map_err(io(&spec_path))?;
            let spec: SweepSpec = toml::from_str(&text)
                .map_err(|e| SweepError::Input(format!("{}: {e}", spec_path.display())))?;
            if spec_hash(&spec) != meta.spec_hash {
                return Err(SweepError::Input(format!(
                    "{}: sweep.json names spec {}, sweep.toml is spec {}",
                    d.display(),
                    meta.spec_hash,
                    spec_hash(&spec)
                )));
            }
            let plan = crate::spec::expand(&spec)
                .map_err(|e| SweepError::Input(format!("{}: {e}", spec_path.display())))?;
            first = Some((meta.clone(), d.clone(), text, plan));
        }
        let (f, fd, _, plan) = first.as_ref().expect("set above");
        if f.spec_hash != meta.spec_hash {
            return Err(SweepError::Input(format!(
                "{} and {} come from different specs",
                fd.display(),
                d.display()
            )));
        }
        if meta.runs != plan.runs {
            return Err(SweepError::Input(format!(
                "{}: sweep.json claims {} runs, its spec has {}",
                d.join("sweep.json").display(),
                meta.runs,
                plan.runs
            )));
        }
        for (id, line) in read_rows(&d.join("runs.csv"), plan)? {
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
    let (meta, _, spec_text, plan) = first.expect("at least one");
    let missing: Vec<u32> = (0..plan.runs)
        .filter(|id| !rows.contains_key(id))
        .take(9)
        .collect();
    if !missing.is_empty() {
        let n_missing = plan.runs as usize - rows.len();
        let shown: Vec<String> = missing.iter().take(8).map(u32::to_string).collect();
        return Err(SweepError::Input(format!(
            "{} of {} runs are missing (ids {}{}): is a shard missing or unfinished?",
            n_missing,
            plan.runs,
            shown.join(", "),
            if n_missing > 8 { ", ..." } else { "" }
        )));
    }
    fs::create_dir_all(out).map_err(io(out))?;
    write_atomic(&out.join("sweep.toml"), spec_text.as_bytes()).map_err(io(out))?;
    let merged = SweepMeta {
        shard: None,
        ..meta
    };
    let json = serde_json::to_string_pretty(&merged).expect("serialises") + "\n";
    write_atomic(&out.join("sweep.json"), json.as_bytes()).map_err(io(out))?;
    let n = rows.len() as u32;
    if plan
        .jobs
        .iter()
        .any(|j| j.runs[0].scenario.workload.is_stream())
    {
        // Each shard's side rows of the runs its runs.csv holds; a run in two shards (the
        // same rows, checked above for runs.csv) is taken from the first.
        for (name, header) in SIDE {
            let mut taken: BTreeSet<u32> = BTreeSet::new();
            let mut side = Vec::new();
            for d in dirs {
                let ids: BTreeSet<u32> = read_rows_checked(&d.join("runs.csv"), None)?
                    .into_iter()
                    .map(|r| r.0)
                    .filter(|id| !taken.contains(id))
                    .collect();
                side.extend(read_side(&d.join(name), header, &|id| ids.contains(&id))?);
                taken.extend(ids);
            }
            write_side(&out.join(name), header, side)?;
        }
    }
    write_sorted(&out.join("runs.csv"), rows.into_iter().collect())?;
    Ok(n)
}

/// What `--dry-run` checks without simulating: every trace file exists and has a format we
/// read, every job file exists.
pub fn check_inputs(plan: &Plan) -> Result<(), SweepError> {
    for t in &plan.traces {
        if let Some(f) = &t.file {
            let p = Path::new(f);
            if t.format.is_none() {
                spequlos_traces::io::detect(p).map_err(|e| SweepError::Input(e.to_string()))?;
            } else if !p.exists() {
                return Err(SweepError::Input(format!("{f}: no such trace")));
            }
        }
    }
    for j in &plan.jobs {
        if let spequlos_sim::workload::WorkloadSpec::File { path } = &j.runs[0].scenario.workload {
            if !Path::new(path).is_file() {
                return Err(SweepError::Input(format!("{path}: no such job file")));
            }
        }
    }
    Ok(())
}
