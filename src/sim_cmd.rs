//! `spequlos sim`: one scenario, baseline and SpeQuloS, as a table, JSON or CSV files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use spequlos_check::Limits;
use spequlos_core::market::Market;
use spequlos_core::{Oracle, PairMetrics, RunMetrics, Strategy};
use spequlos_sim::output;
use spequlos_sim::run::{self, SimError};
use spequlos_sim::scenario::{Scenario, SwitchError};
use spequlos_sim::workload::WorkloadSpec;
use spequlos_sim::PairOutput;

use crate::BadInput;

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Scenario file (TOML); flags below override it. Without one, an embedded default runs:
    /// seti preset, 2000 hosts, BOINC, small workload, 9C-G-D, an Oracle taught by 10 other
    /// windows of the trace.
    scenario: Option<PathBuf>,
    /// Trace file or directory (any format `trace stats` reads).
    #[arg(long, conflicts_with = "preset")]
    trace: Option<PathBuf>,
    /// Generate the trace from this preset.
    #[arg(long)]
    preset: Option<String>,
    /// Hosts to generate, or the first N of --trace (which is otherwise used whole).
    #[arg(long)]
    hosts: Option<usize>,
    /// Days of trace to generate.
    #[arg(long)]
    days: Option<f64>,
    /// boinc, xwhep, or ideal-pull (plain master–worker without SpeQuloS, for comparisons
    /// with other simulators).
    #[arg(long)]
    middleware: Option<String>,
    /// small, big, random, a job file (`submit_time size_ops` per line), or `stream:FILE`:
    /// several users' BoTs on one grid (`arrival user bot_size task_size` per line).
    #[arg(long)]
    workload: Option<String>,
    /// Strategy: 9A-G-D, 9C-C-R, D-G-F, T-C-D, none...
    #[arg(long)]
    strategy: Option<String>,
    /// At most N Cloud workers running at once for all the run's BoTs (`cloud.cap`).
    #[arg(long, value_name = "N")]
    cloud_cap: Option<u32>,
    /// Who gets a capped Cloud's free workers: first-come, credits, max-min, deadline
    /// (`cloud.share`).
    #[arg(long, value_name = "POLICY")]
    share: Option<String>,
    /// With --cloud-cap: share the whole cap by the policy, taking back workers above a
    /// BoT's share (`cloud.preempt`).
    #[arg(long)]
    preempt: bool,
    /// Judge deadline orders (a stream's fifth column) at arrival from the BoTs completed
    /// before; refused ones run without SpeQuloS (`cloud.admission`).
    #[arg(long)]
    admission: bool,
    /// Buy Cloud workers on-demand, spot (revoked when the spot price passes the bid), or
    /// adaptive (spot while the deadline leaves room) (`cloud.market.market`).
    #[arg(long, value_name = "MARKET")]
    market: Option<String>,
    /// Run seed (Cloud boot times, random workloads).
    #[arg(long)]
    seed: Option<u64>,
    /// How far into the trace the BoT is submitted: seconds, or a duration (90m, 12h, 1d).
    #[arg(long, value_parser = crate::units::parse_duration)]
    offset: Option<i64>,
    /// Span of a trace that does not give one (looping SimGrid profiles): 7d, 36h...
    #[arg(long, value_parser = crate::units::parse_duration)]
    span: Option<i64>,
    /// Keep only `START:LEN` of the trace (durations, e.g. 2d:7d), as `trace convert
    /// --window` does; --offset then counts from START.
    #[arg(long)]
    window: Option<crate::units::Window>,
    /// Write runs.csv, timeline.csv and tasks.csv into this directory.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Replace runs.csv, timeline.csv and tasks.csv if --out already holds them (by default
    /// they are refused: they may be someone's results).
    #[arg(long, requires = "out")]
    force: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Oracle history (JSON): predictions use it, and this run is added to it.
    #[arg(long)]
    pub(crate) oracle: Option<PathBuf>,
    /// Before the run, teach the Oracle this many executions of the same BoT at other windows
    /// of the trace (offset + k × 12 h), as a live service learns from a DG's earlier BoTs;
    /// each is a pair to simulate. Default 10; 0 with --oracle (the file is the history) or
    /// --timing (the figures are of one pair). 0 gives an Oracle without history, whose
    /// predictions are uncalibrated.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub(crate) history: Option<u32>,
    /// Print wall-clock figures (trace loading, engine time, events/s) on standard error.
    #[arg(long)]
    pub(crate) timing: bool,
    /// Print the scenario this command would run (the file and flags applied to the defaults)
    /// as TOML, every field spelt out, and exit: a starting point for a scenario file.
    #[arg(long)]
    print_config: bool,
}
pub(crate) fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    BadInput::new(e.to_string()).into()
}

fn build_scenario(a: &SimArgs) -> Result<Scenario> {
    let mut sc: Scenario = match &a.scenario {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| bad(format!("{}: {e}", p.display())))?;
            toml::from_str(&text).map_err(|e| bad(format!("{}: {e}", p.display())))?
        }
        None => Scenario::default(),
    };
    if let Some(t) = &a.trace {
        sc.trace.file = Some(t.to_string_lossy().into_owned());
        // A trace named on the command line is used whole unless --hosts says otherwise,
        // whatever number of hosts the scenario would generate.
        if a.hosts.is_none() {
            sc.trace.hosts = 0;
        }
    }
    if let Some(p) = &a.preset {
        sc.trace.file = None;
        sc.trace.preset = p.clone();
    }
    if let Some(n) = a.hosts {
        sc.trace.hosts = n;
    }
    if let Some(d) = a.days {
        sc.trace.days = d;
    }
    if let Some(m) = a.middleware.as_deref().filter(|m| *m != "ideal-pull") {
        // The same kind keeps the file's fields; another keeps those it shares (back-off)
        // and refuses, by name, the ones it would drop.
        sc.middleware = sc.middleware.switch_to(m).map_err(|e| match e {
            SwitchError::Unknown(_) => bad(format!(
                "--middleware: unknown `{m}` (boinc, xwhep or ideal-pull)"
            )),
            fields => bad(format!("--middleware {m}: {fields}")),
        })?;
    }
    if let Some(w) = &a.workload {
        sc.workload = WorkloadSpec::parse(w);
        if matches!(sc.workload, WorkloadSpec::File { .. }) && !Path::new(w).exists() {
            return Err(bad(format!(
                "--workload: `{w}` is neither a kind (small, big, random) nor a job file"
            )));
        }
    }
    if let Some(s) = &a.strategy {
        sc.strategy = s.parse::<Strategy>().map_err(bad)?;
    }
    if let Some(s) = a.seed {
        sc.seed = s;
    }
    if let Some(n) = a.cloud_cap {
        sc.cloud.cap = Some(n);
    }
    if let Some(p) = &a.share {
        sc.cloud.share = p.parse().map_err(|e| bad(format!("--share: {e}")))?;
    }
    if a.preempt {
        sc.cloud.preempt = true;
    }
    if a.admission {
        sc.cloud.admission = true;
    }
    if let Some(m) = &a.market {
        sc.cloud.market.market =
            Market::ALL
                .into_iter()
                .find(|k| k.name() == m)
                .ok_or_else(|| {
                    bad(format!(
                        "--market: `{m}` is not on-demand, spot or adaptive"
                    ))
                })?;
    }
    if let Some(o) = a.offset {
        sc.trace.offset = o as f64;
    }
    if a.span.is_some() {
        sc.trace.span = a.span;
    }
    if let Some(w) = a.window {
        let crate::units::WindowStart::Relative(start) = w.start else {
            return Err(bad(
                "--window: sim takes a start relative to the trace origin (e.g. 2d:7d), not @EPOCH",
            ));
        };
        sc.trace.window_start = Some(start);
        sc.trace.window_len = Some(w.len);
    }
    sc.validate().map_err(bad)?;
    Ok(sc)
}

pub(crate) fn sim_error(e: SimError) -> anyhow::Error {
    match e {
        SimError::Trace(t) => t.into(),
        other => bad(other),
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    trace: String,
    hosts: usize,
    /// The part of the trace kept (`--window`): start and length, seconds.
    window: Option<[i64; 2]>,
    offset: f64,
    middleware: &'static str,
    workload: String,
    tasks: u32,
    strategy: String,
    seed: u64,
    baseline: &'a RunMetrics,
    speq: Option<&'a RunMetrics>,
    pair: Option<PairMetrics>,
    /// Events simulated: both runs', less the SpeQuloS run's first ones, which were its
    /// baseline's (`shared_events`; each run's own count is in `runs.csv`).
    events: u64,
    shared_events: u64,
    /// Runs the Oracle learnt before this one (`--history`).
    history: u32,
    /// Completion quantiles of each run.
    baseline_times: Times,
    speq_times: Option<Times>,
}

/// When a run reached 50 and 90 % and finished, seconds since submission; `None` where it
/// did not get there within the trace (`completed` is then false).
#[derive(Serialize)]
struct Times {
    completed: bool,
    /// Tasks completed by the end of the trace.
    tasks_completed: u32,
    t50: Option<f64>,
    t90: Option<f64>,
    t_done: Option<f64>,
}

impl Times {
    fn of(r: &spequlos_sim::world::RunOutput) -> Times {
        let p = &r.progress;
        Times {
            completed: r.metrics.completed(),
            tasks_completed: p.completed(),
            t50: p.time_at(0.5),
            t90: p.time_at(0.9),
            t_done: r.metrics.completed().then_some(r.metrics.completion_time),
        }
    }
}

pub fn run(a: SimArgs, quiet: bool, limits: &Limits) -> Result<()> {
    if a.middleware.as_deref() == Some("ideal-pull") {
        // The comparison model has no SpeQuloS: these would be silently ignored.
        for (given, flag) in [
            (a.strategy.is_some(), "--strategy"),
            (a.oracle.is_some(), "--oracle"),
        ] {
            if given {
                return Err(bad(format!(
                    "{flag} does not apply to --middleware ideal-pull (a plain master–worker run without SpeQuloS)"
                )));
            }
        }
    }
    let sc = build_scenario(&a)?;
    if a.print_config {
        print!("{}", crate::scenario_doc::commented(&sc)?);
        return Ok(());
    }
    if let Some(dir) = a.out.as_deref().filter(|_| !a.force) {
        let mut names = OUT_FILES.iter().chain(&crate::stream_cmd::OUT_FILES);
        if let Some(f) = names.find(|f| dir.join(f).exists()) {
            return Err(bad(format!(
                "{}: already exists; nothing was run (another --out, or --force to replace it)",
                dir.join(f).display()
            )));
        }
    }
    let started = Instant::now();
    let (trace, held) = run::load_trace_counted(&sc.trace, limits).map_err(sim_error)?;
    if !quiet && sc.trace.file.is_some() && sc.trace.hosts > 0 && held > sc.trace.hosts {
        eprintln!(
            "note: {}: using the first {} of its {held} hosts (trace.hosts; --hosts 0 keeps all)",
            sc.trace.label(),
            sc.trace.hosts
        );
    }
    if sc.workload.is_stream() && a.middleware.as_deref() != Some("ideal-pull") {
        return crate::stream_cmd::run(&a, &sc, &trace, limits, started, quiet);
    }
    // The BoT's size is checked before any run starts.
    let tasks = run::tasks_within(&sc, limits).map_err(sim_error)?;
    let load_s = started.elapsed().as_secs_f64();
    if a.middleware.as_deref() == Some("ideal-pull") {
        return ideal_pull(&a, &sc, &trace, &tasks, load_s);
    }
    let mut oracle = match &a.oracle {
        Some(p) if p.exists() => {
            let text =
                std::fs::read_to_string(p).map_err(|e| bad(format!("{}: {e}", p.display())))?;
            let mut o: Oracle =
                serde_json::from_str(&text).map_err(|e| bad(format!("{}: {e}", p.display())))?;
            o.validate()
                .map_err(|e| bad(format!("{}: {e}", p.display())))?;
            o.params = sc.oracle.clone();
            o
        }
        _ => Oracle::new(sc.oracle.clone()),
    };
    let history = a.history.unwrap_or(if a.oracle.is_some() || a.timing {
        0
    } else {
        10
    });
    // The summary says how many runs were learnt (the table's "Oracle history", `history`
    // in JSON).
    let learnt = run::learn_history(&sc, &trace, &tasks, &mut oracle, history, HISTORY_SPACING)
        .map_err(sim_error)?;
    let engine = Instant::now();
    let out = run::run_pair_on(&sc, &trace, &oracle, &tasks).map_err(sim_error)?;
    let engine_s = engine.elapsed().as_secs_f64();
    if let Some(dir) = &a.out {
        write_outputs(dir, &sc, trace.host_count(), &out)?;
    }
    if let Some(p) = &a.oracle {
        run::learn_pair(&sc, &out, &mut oracle);
        let text = serde_json::to_string_pretty(&oracle).context("serialising the Oracle")?;
        write_atomic(p, text.as_bytes())?;
    }
    let summary = Summary {
        trace: sc.trace.label(),
        hosts: trace.host_count(),
        window: sc
            .trace
            .window_start
            .zip(sc.trace.window_len)
            .map(|(a, b)| [a, b]),
        offset: sc.trace.offset,
        middleware: sc.middleware.name(),
        workload: sc.workload.label(),
        tasks: out.baseline.progress.total(),
        strategy: sc.strategy.to_string(),
        seed: sc.seed,
        baseline: &out.baseline.metrics,
        speq: out.speq.as_ref().map(|r| &r.metrics),
        pair: out.pair,
        events: out.baseline.events + out.speq.as_ref().map_or(0, |r| r.events - r.shared_events),
        shared_events: out.speq.as_ref().map_or(0, |r| r.shared_events),
        history: learnt,
        baseline_times: Times::of(&out.baseline),
        speq_times: out.speq.as_ref().map(Times::of),
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&summary).context("serialising the summary")?
        );
    } else {
        print_table(&summary);
    }
    if !quiet {
        if let Some(dir) = &a.out {
            eprintln!(
                "wrote runs.csv, timeline.csv and tasks.csv to {}",
                dir.display()
            );
        }
    }
    if a.timing {
        timing(load_s, engine_s, summary.events, summary.shared_events);
    }
    Ok(())
}

/// `shared`: events the SpeQuloS run had in common with its baseline, simulated once and
/// counted once in `events`.
pub(crate) fn timing(load_s: f64, engine_s: f64, events: u64, shared: u64) {
    let forked = if shared > 0 {
        format!(" (the SpeQuloS run forked from its baseline after {shared} events)")
    } else {
        String::new()
    };
    eprintln!(
        "timing: trace {:.6} s, engine {:.6} s, {} events, {:.2} M events/s{forked}",
        load_s,
        engine_s,
        events,
        events as f64 / engine_s.max(1e-9) / 1e6
    );
}

#[derive(Serialize)]
struct IdealSummary {
    trace: String,
    hosts: usize,
    tasks: usize,
    offset: f64,
    makespan: f64,
    restarts: u64,
    events: u64,
}

/// `--middleware ideal-pull`: the master–worker comparison model (no SpeQuloS).
fn ideal_pull(
    a: &SimArgs,
    sc: &Scenario,
    trace: &spequlos_traces::Trace,
    tasks: &[spequlos_sim::workload::TaskSpec],
    load_s: f64,
) -> Result<()> {
    let engine = Instant::now();
    let out =
        spequlos_sim::ideal::run(trace, sc.trace.offset.round() as i64, tasks).map_err(bad)?;
    let engine_s = engine.elapsed().as_secs_f64();
    let s = IdealSummary {
        trace: sc.trace.label(),
        hosts: trace.host_count(),
        tasks: tasks.len(),
        offset: sc.trace.offset,
        makespan: out.makespan,
        restarts: out.restarts,
        events: out.events,
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&s).context("serialising the summary")?
        );
    } else {
        println!(
            "{} ({} hosts, offset {} s) · ideal-pull · {} tasks
  makespan {} ({} s)
  tasks restarted after a host failure {}
  events simulated {}",
            s.trace,
            s.hosts,
            s.offset,
            s.tasks,
            hours(s.makespan),
            s.makespan,
            s.restarts,
            s.events
        );
    }
    if a.timing {
        timing(load_s, engine_s, out.events, 0);
    }
    Ok(())
}
/// What `--out` writes.
/// How far apart the windows `--history` learns from are, seconds.
const HISTORY_SPACING: f64 = 43_200.0;

const OUT_FILES: [&str; 3] = ["runs.csv", "timeline.csv", "tasks.csv"];

fn write_outputs(dir: &Path, sc: &Scenario, trace_hosts: usize, out: &PairOutput) -> Result<()> {
    let mut runs = format!("{}\n", output::runs_header());
    runs.push_str(&output::runs_rows(sc, trace_hosts, out));
    let mut timeline = output::TIMELINE_HEADER.to_string();
    let mut tasks = output::TASKS_HEADER.to_string();
    for (name, r) in [
        ("baseline", Some(&out.baseline)),
        ("speq", out.speq.as_ref()),
    ] {
        if let Some(r) = r {
            timeline.push_str(&output::timeline(name, r));
            tasks.push_str(&output::tasks(name, r));
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in OUT_FILES.into_iter().zip([runs, timeline, tasks]) {
        write_atomic(&dir.join(name), text.as_bytes())?;
    }
    Ok(())
}

/// Writes to a temporary sibling and renames, so a reader never sees half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    spequlos_traces::write_atomic(path, bytes)
        .with_context(|| format!("writing {}", path.display()))
}

fn hours(s: f64) -> String {
    if s.is_finite() {
        format!("{:.2} h", s / 3600.0)
    } else {
        "did not finish".into()
    }
}

fn print_table(s: &Summary) {
    let window = s
        .window
        .map_or(String::new(), |[a, b]| format!(", window {a} s + {b} s"));
    println!(
        "{} ({} hosts{window}, offset {} s) · {} · {} ({} tasks) · {} · seed {}",
        s.trace, s.hosts, s.offset, s.middleware, s.workload, s.tasks, s.strategy, s.seed
    );
    let b = s.baseline;
    let row =
        |name: &str, base: String, speq: String| println!("  {name:<22} {base:>16} {speq:>16}");
    row(
        "",
        "baseline".into(),
        if s.speq.is_some() {
            "SpeQuloS".into()
        } else {
            String::new()
        },
    );
    let sp = |f: &dyn Fn(&RunMetrics) -> String| s.speq.map_or(String::new(), f);
    // A ratio of a run that did not finish is not a number to print.
    let ratio = |x: f64, done: bool| {
        if done {
            format!("{x:.3}")
        } else {
            "n/a (unfinished)".to_string()
        }
    };
    let speq_done = s.speq_times.as_ref().is_none_or(|t| t.completed);
    let base_done = s.baseline_times.completed;
    for (name, t) in [
        ("baseline", Some(&s.baseline_times)),
        ("SpeQuloS run", s.speq_times.as_ref()),
    ] {
        if let Some(t) = t.filter(|t| !t.completed) {
            println!(
                "  the {name} did not finish within the trace: {} of {} tasks completed",
                t.tasks_completed, s.tasks
            );
        }
    }
    row(
        "completion time",
        hours(b.completion_time),
        sp(&|m| hours(m.completion_time)),
    );
    row(
        "t_ideal (90% pace)",
        hours(b.t_ideal),
        sp(&|m| hours(m.t_ideal)),
    );
    row(
        "tail slowdown",
        ratio(b.tail_slowdown, base_done),
        sp(&|m| ratio(m.tail_slowdown, speq_done)),
    );
    if let Some(p) = s.pair {
        row(
            "speedup",
            String::new(),
            ratio(p.speedup, base_done && speq_done),
        );
        row(
            "TRE",
            String::new(),
            if !(base_done && speq_done) {
                "n/a (unfinished)".into()
            } else if p.tre.is_finite() {
                format!("{:.1} %", p.tre * 100.0)
            } else {
                "n/a (no tail)".into()
            },
        );
    }
    if let Some(m) = s.speq {
        row(
            "credits spent",
            String::new(),
            format!("{} / {}", m.credits_spent, m.credits_ordered),
        );
        row(
            "Cloud workers started",
            String::new(),
            m.workers_started.to_string(),
        );
        row(
            "Cloud share of work",
            String::new(),
            format!("{:.2} %", m.cloud_share * 100.0),
        );
        for c in &m.predictions {
            let p = c.prediction;
            row(
                &format!("Oracle at {:.0} %", c.ratio * 100.0),
                String::new(),
                format!(
                    "{} [{:.1}, {:.1}] h, error {:+.1} % {}{}",
                    hours(p.completion),
                    p.low / 3600.0,
                    p.high / 3600.0,
                    c.error * 100.0,
                    if c.hit { "hit" } else { "miss" },
                    if p.calibrated {
                        ""
                    } else {
                        " (uncalibrated: no history)"
                    }
                ),
            );
        }
    }
    println!("  {:<22} {:>16}", "events simulated", s.events);
    if s.history > 0 {
        println!(
            "  {:<22} {:>16}",
            "Oracle history",
            format!("{} runs learnt", s.history)
        );
    }
    if s.pair.is_some() {
        println!(
            "speedup = baseline time / SpeQuloS time; TRE = share of the baseline's tail \
             (time after t_ideal) removed; Oracle: the completion time announced at each point, \
             a hit if inside its interval (docs/metrics.md)"
        );
    }
}
