//! One scenario = a SpeQuloS run paired with its baseline on the same trace window, workload
//! and seed. TRE and speedup come from the pair.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use spequlos_core::metrics::{self, PairMetrics};
use spequlos_core::{Oracle, OracleKey, Strategy};
use spequlos_traces::gen::generate_quiet;
use spequlos_traces::{presets, Format, ReadOptions, Trace, TraceError};

use spequlos_check::{FieldError, LimitError, Limits};

use crate::fork::shares_prefix;
use crate::scenario::{Scenario, TraceSpec};
use crate::stream::BotSpec;
use crate::workload::TaskSpec;
use crate::world::{self, RunOutput, StreamOutput};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("trace: {0}")]
    Generator(#[from] spequlos_traces::gen::GenError),
    #[error("{0}")]
    Input(String),
}

/// Reads or generates the trace a scenario names, within the default [`Limits`].
pub fn load_trace(spec: &TraceSpec) -> Result<Trace, SimError> {
    load_trace_within(spec, &Limits::default())
}

/// Reads or generates the trace a scenario names; a generated trace beyond `limits`
/// (host-days, expected intervals) is refused before anything is allocated.
pub fn load_trace_within(spec: &TraceSpec, limits: &Limits) -> Result<Trace, SimError> {
    load_trace_counted(spec, limits).map(|(t, _)| t)
}

/// [`load_trace_within`], with the number of hosts the file held before `trace.hosts` kept
/// its first N (so that a driver can say so).
pub fn load_trace_counted(spec: &TraceSpec, limits: &Limits) -> Result<(Trace, usize), SimError> {
    let held: usize;
    let trace = match &spec.file {
        Some(file) => {
            let format = spec
                .format
                .as_deref()
                .map(str::parse::<Format>)
                .transpose()
                .map_err(|e| SimError::Input(format!("trace.format: {e}")))?;
            let opts = ReadOptions {
                format,
                span: spec.span,
                max_intervals: limits.intervals,
                ..ReadOptions::default()
            };
            let (t, _) = spequlos_traces::read(Path::new(file), &opts)?;
            held = t.host_count();
            if spec.hosts > 0 {
                t.first_hosts(spec.hosts)
            } else {
                t
            }
        }
        None => {
            let cfg = presets::get(&spec.preset).ok_or_else(|| {
                SimError::Input(format!(
                    "trace.preset: unknown preset `{}` (known: {})",
                    spec.preset,
                    presets::names().join(", ")
                ))
            })?;
            if !(spec.days > 0.0 && spec.days <= 36500.0) || spec.hosts == 0 {
                return Err(SimError::Input(
                    "trace: hosts must be >= 1 and days in (0, 36500] to generate a trace".into(),
                ));
            }
            let what = format!(
                "trace `{}` ({} hosts, {} days)",
                spec.preset, spec.hosts, spec.days
            );
            cfg.check_limits(&what, spec.hosts, spec.days, limits)?;
            let span = (spec.days * 86400.0).round() as i64;
            let t = generate_quiet(&cfg, spec.hosts, span, spec.seed)?;
            held = t.host_count();
            t
        }
    };
    let trace = match (spec.window_start, spec.window_len) {
        (Some(start), Some(len)) => trace
            .window(start, len)
            .map_err(|e| SimError::Input(format!("trace.window_start/window_len: {e}")))?,
        _ => trace,
    };
    if spec.offset >= trace.meta.span as f64 {
        return Err(SimError::Input(format!(
            "trace.offset {} s is past the end of the trace ({} s)",
            spec.offset, trace.meta.span
        )));
    }
    Ok((trace, held))
}

/// The BoT's tasks, drawn from the run seed's workload stream, within the default [`Limits`].
pub fn tasks(sc: &Scenario) -> Result<Vec<TaskSpec>, SimError> {
    tasks_within(sc, &Limits::default())
}

/// The BoT's tasks; more than `limits.tasks` is refused before they are made.
pub fn tasks_within(sc: &Scenario, limits: &Limits) -> Result<Vec<TaskSpec>, SimError> {
    let mut rng = ChaCha8Rng::seed_from_u64(sc.seed);
    rng.set_stream(2);
    sc.workload.tasks(&mut rng, limits)
}

/// The Oracle's history key: the DG (trace and middleware), the workload, the strategy.
pub fn oracle_key(sc: &Scenario, strategy: Strategy) -> OracleKey {
    OracleKey::new(
        format!("{}/{}", sc.trace.label(), sc.middleware.name()),
        strategy,
    )
    .for_bots(sc.workload.label())
}

/// Simulates `sc` with `strategy` in place of its own.
pub fn run_one(
    sc: &Scenario,
    trace: &Trace,
    tasks: &[TaskSpec],
    oracle: &Oracle,
    strategy: Strategy,
) -> RunOutput {
    let mut s = sc.clone();
    s.strategy = strategy;
    let key = oracle_key(&s, strategy);
    world::simulate(&s, trace, tasks, oracle, key)
}

/// The baseline of `base` (its scenario under no SpeQuloS) and each of `runs` under its own
/// strategy, as [`run_one`] gives them. The runs that [`shares_prefix`] with the baseline are
/// simulated from where they leave it (`fork.rs`), the others whole.
pub fn run_family(
    base: &Scenario,
    trace: &Trace,
    tasks: &[TaskSpec],
    oracle: &Oracle,
    runs: &[&Scenario],
) -> (RunOutput, Vec<RunOutput>) {
    let mut b = base.clone();
    b.strategy = Strategy::None;
    let (shared, alone): (Vec<usize>, Vec<usize>) =
        (0..runs.len()).partition(|&i| shares_prefix(&b, runs[i]));
    let keyed: Vec<(&Scenario, OracleKey)> = shared
        .iter()
        .map(|&i| (runs[i], oracle_key(runs[i], runs[i].strategy)))
        .collect();
    let key = oracle_key(&b, Strategy::None);
    let (baseline, branched) = world::simulate_family(&b, &keyed, trace, tasks, oracle, key);
    let mut outs: Vec<Option<RunOutput>> = vec![None; runs.len()];
    for (i, o) in shared.into_iter().zip(branched) {
        outs[i] = Some(o);
    }
    for i in alone {
        outs[i] = Some(run_one(runs[i], trace, tasks, oracle, runs[i].strategy));
    }
    let outs = outs.into_iter().map(|o| o.expect("every run")).collect();
    (baseline, outs)
}

/// A baseline run and, unless the strategy is `none`, the SpeQuloS run it is compared with.
#[derive(Debug, Clone)]
pub struct PairOutput {
    pub baseline: RunOutput,
    pub speq: Option<RunOutput>,
    pub pair: Option<PairMetrics>,
}

pub fn run_pair(sc: &Scenario, trace: &Trace, oracle: &Oracle) -> Result<PairOutput, SimError> {
    let tasks = tasks(sc)?;
    run_pair_on(sc, trace, oracle, &tasks)
}

/// [`run_pair`] on tasks already drawn (with [`tasks_within`]).
pub fn run_pair_on(
    sc: &Scenario,
    trace: &Trace,
    oracle: &Oracle,
    tasks: &[TaskSpec],
) -> Result<PairOutput, SimError> {
    sc.validate()?;
    if sc.workload.is_stream() {
        return Err(SimError::Input(
            "workload: a stream of BoTs runs with run_stream_pair, not as one BoT".into(),
        ));
    }
    // Whole runs, one after the other: forking would save at most the prefix of one run and
    // hold two worlds at once (a 10^6-task BoT on 10^5 hosts: 430 → 590 MB for 7 % of the
    // time); a sweep's families of 18 runs are where it pays.
    let baseline = run_one(sc, trace, tasks, oracle, Strategy::None);
    let speq = (!sc.strategy.is_none()).then(|| run_one(sc, trace, tasks, oracle, sc.strategy));
    let pair = speq
        .as_ref()
        .map(|s| metrics::pair(&baseline.metrics, &s.metrics));
    Ok(PairOutput {
        baseline,
        speq,
        pair,
    })
}

/// Teaches `oracle` `runs` executions of `sc`'s BoT at other windows of its trace (offsets
/// `sc.trace.offset + k × spacing`, k = 1..=runs, those that start inside the trace), with
/// and without SpeQuloS, each learnt as it completes: the history the Oracle of a live
/// service would have gathered from the DG's earlier BoTs. Returns how many runs it learnt.
pub fn learn_history(
    sc: &Scenario,
    trace: &Trace,
    tasks: &[TaskSpec],
    oracle: &mut Oracle,
    runs: u32,
    spacing: f64,
) -> Result<u32, SimError> {
    let mut learnt = 0;
    for k in 1..=runs {
        let mut s = sc.clone();
        s.trace.offset = sc.trace.offset + f64::from(k) * spacing;
        if s.trace.offset >= trace.meta.span as f64 {
            break;
        }
        let out = run_pair_on(&s, trace, oracle, tasks)?;
        learnt += learn_pair(&s, &out, oracle);
    }
    Ok(learnt)
}

/// Teaches `oracle` the completed runs of a pair of `sc` (the baseline under `none`, the
/// SpeQuloS run under its strategy); returns how many it learnt.
pub fn learn_pair(sc: &Scenario, out: &PairOutput, oracle: &mut Oracle) -> u32 {
    let mut learnt = 0;
    for (strategy, r) in [
        (Strategy::None, Some(&out.baseline)),
        (sc.strategy, out.speq.as_ref()),
    ] {
        if let Some(r) = r.filter(|r| r.metrics.completed()) {
            oracle.learn(
                &oracle_key(sc, strategy),
                &r.progress,
                r.metrics.completion_time,
                r.metrics.credits_spent,
            );
            learnt += 1;
        }
    }
    learnt
}

/// The run's tasks and the BoTs they form: a stream's, or one BoT of every task.
pub fn bots_within(
    sc: &Scenario,
    limits: &Limits,
) -> Result<(Vec<TaskSpec>, Vec<BotSpec>), SimError> {
    match &sc.workload {
        crate::workload::WorkloadSpec::Stream { path } => {
            let (bots, tasks) = crate::stream::read(Path::new(path), limits)?;
            Ok((tasks, bots))
        }
        _ => {
            let tasks = tasks_within(sc, limits)?;
            let bot = BotSpec::whole(tasks.len());
            Ok((tasks, vec![bot]))
        }
    }
}

/// A stream simulated without SpeQuloS and, unless the strategy is `none`, with it; each
/// BoT of the second compared with itself in the first.
#[derive(Debug, Clone)]
pub struct StreamPair {
    pub baseline: StreamOutput,
    pub speq: Option<StreamOutput>,
    /// Per BoT, in arrival order (empty without SpeQuloS).
    pub pairs: Vec<PairMetrics>,
}

pub fn run_stream_pair(
    sc: &Scenario,
    trace: &Trace,
    oracle: &Oracle,
    tasks: &[TaskSpec],
    bots: &[BotSpec],
) -> Result<StreamPair, SimError> {
    sc.validate()?;
    let run = |strategy: Strategy| {
        let mut s = sc.clone();
        s.strategy = strategy;
        let key = oracle_key(&s, strategy);
        world::simulate_stream(&s, trace, tasks, bots, oracle, key)
    };
    let baseline = run(Strategy::None);
    let speq = (!sc.strategy.is_none()).then(|| run(sc.strategy));
    let pairs = speq
        .as_ref()
        .map_or_else(Vec::new, |s| stream_pair(&baseline, s).1);
    Ok(StreamPair {
        baseline,
        speq,
        pairs,
    })
}

/// One user's BoTs in a run of a stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UserTotals {
    pub user: String,
    pub bots: u32,
    pub tasks: u64,
    /// BoTs complete within the trace.
    pub completed: u32,
    pub credits_ordered: u64,
    pub credits_spent: u64,
    /// Over the completed BoTs, seconds from arrival.
    pub mean_completion: f64,
    pub worst_completion: f64,
    /// Against the same BoTs without SpeQuloS (NaN for the baseline run): mean and worst
    /// (lowest) speedup over the BoTs complete in both runs, mean TRE over those of them
    /// whose baseline had a tail.
    pub mean_speedup: f64,
    pub worst_speedup: f64,
    pub mean_tre: f64,
}

/// Per-user totals of `run`, users in order of their first BoT; `pairs` compares each BoT
/// with its baseline (empty for the baseline run itself).
pub fn user_totals(run: &StreamOutput, pairs: &[PairMetrics]) -> Vec<UserTotals> {
    let mut users: Vec<UserTotals> = Vec::new();
    let mut seen: std::collections::BTreeMap<&str, usize> = Default::default();
    #[derive(Default)]
    struct Sums {
        completion: f64,
        speedup: f64,
        paired: u32,
        tre: f64,
        tres: u32,
    }
    let mut sums: Vec<Sums> = Vec::new();
    for (i, b) in run.bots.iter().enumerate() {
        let k = *seen.entry(&b.user).or_insert_with(|| {
            users.push(UserTotals {
                user: b.user.clone(),
                bots: 0,
                tasks: 0,
                completed: 0,
                credits_ordered: 0,
                credits_spent: 0,
                mean_completion: f64::NAN,
                worst_completion: f64::NAN,
                mean_speedup: f64::NAN,
                worst_speedup: f64::NAN,
                mean_tre: f64::NAN,
            });
            sums.push(Sums::default());
            users.len() - 1
        });
        let (u, s) = (&mut users[k], &mut sums[k]);
        let m = &b.metrics;
        u.bots += 1;
        u.tasks += u64::from(b.progress.total());
        u.credits_ordered += m.credits_ordered;
        u.credits_spent += m.credits_spent;
        if m.completed() {
            u.completed += 1;
            s.completion += m.completion_time;
            u.worst_completion = u.worst_completion.max(m.completion_time);
        }
        if let Some(p) = pairs.get(i).filter(|p| p.speedup.is_finite()) {
            s.speedup += p.speedup;
            s.paired += 1;
            u.worst_speedup = u.worst_speedup.min(p.speedup);
            if p.tre.is_finite() {
                s.tre += p.tre;
                s.tres += 1;
            }
        }
    }
    for (u, s) in users.iter_mut().zip(&sums) {
        if u.completed > 0 {
            u.mean_completion = s.completion / f64::from(u.completed);
        }
        if s.paired > 0 {
            u.mean_speedup = s.speedup / f64::from(s.paired);
        }
        if s.tres > 0 {
            u.mean_tre = s.tre / f64::from(s.tres);
        }
    }
    users
}

/// A stream's run as one row of `runs.csv`: its tasks as one BoT's for the progress columns
/// (`t05`..`t95`, `t_ideal`, from the start of the run), `completion_time` the makespan (NaN
/// unless every BoT completed), and the sums of the BoTs' credits, workers and operations;
/// `deployed_at` is the first deployment. Per-BoT figures are in `bots.csv`.
pub fn stream_as_run(out: &StreamOutput, ideal_fraction: f64) -> RunOutput {
    let total = out.tasks.len() as u32;
    let mut assigned: Vec<f64> = out
        .tasks
        .iter()
        .map(|t| t.first_assign)
        .filter(|t| !t.is_nan())
        .collect();
    let mut completed: Vec<f64> = out
        .tasks
        .iter()
        .map(|t| t.completion)
        .filter(|t| !t.is_nan())
        .collect();
    assigned.sort_by(f64::total_cmp);
    completed.sort_by(f64::total_cmp);
    let mut progress = spequlos_core::BotProgress::new(total);
    for t in assigned {
        progress.record_assigned(t, 1);
    }
    for t in completed {
        progress.record_completed(t, 1);
    }
    let mut m = metrics::run_metrics(&progress, 0.0, ideal_fraction);
    let all_done = out.bots.iter().all(|b| b.metrics.completed());
    if !all_done {
        m.completion_time = f64::NAN;
    }
    for b in &out.bots {
        let x = &b.metrics;
        m.ops_executed += x.ops_executed;
        m.ops_cloud += x.ops_cloud;
        m.credits_ordered += x.credits_ordered;
        m.credits_spent += x.credits_spent;
        m.workers_started += x.workers_started;
        let deployed = b.arrival + x.deployed_at;
        if !deployed.is_nan() && (m.deployed_at.is_nan() || deployed < m.deployed_at) {
            m.deployed_at = deployed;
        }
    }
    m.cloud_share = if m.ops_executed > 0.0 {
        m.ops_cloud / m.ops_executed
    } else {
        0.0
    };
    RunOutput {
        metrics: m,
        progress,
        tasks: Vec::new(),
        ledger: out.ledger.clone(),
        events: out.events,
        shared_events: 0,
        end: out.end,
        revoked: out.bots.iter().map(|b| b.revoked).sum(),
        cloud_running_at_end: out.bots.iter().map(|b| b.cloud_running_at_end).sum(),
    }
}

/// When the last BoT of a stream completed, seconds from the start (NaN if one did not).
pub fn makespan(r: &StreamOutput) -> f64 {
    r.bots
        .iter()
        .map(|b| b.arrival + b.metrics.completion_time)
        .fold(
            0.0,
            |m: f64, t| if t.is_nan() { f64::NAN } else { m.max(t) },
        )
}

/// A stream run against its baseline: the makespans' ratio as the speedup, and the mean TRE
/// of its BoTs (those whose baseline had a tail) as the TRE; and each BoT's own pair.
pub fn stream_pair(
    baseline: &StreamOutput,
    speq: &StreamOutput,
) -> (PairMetrics, Vec<PairMetrics>) {
    let per_bot: Vec<PairMetrics> = baseline
        .bots
        .iter()
        .zip(&speq.bots)
        .map(|(b, s)| metrics::pair(&b.metrics, &s.metrics))
        .collect();
    let tres: Vec<f64> = per_bot
        .iter()
        .map(|p| p.tre)
        .filter(|t| t.is_finite())
        .collect();
    let pair = PairMetrics {
        speedup: makespan(baseline) / makespan(speq),
        tre: if tres.is_empty() {
            f64::NAN
        } else {
            tres.iter().sum::<f64>() / tres.len() as f64
        },
    };
    (pair, per_bot)
}
