//! CSV outputs of `spequlos sim --out`: `runs.csv` (one row per run, every parameter a
//! column), `timeline.csv` (one row per Scheduler tick) and `tasks.csv` (one row per task);
//! for a stream of BoTs, `bots.csv` (one row per BoT and run) and `users.csv` (per user).
//! User names need no quoting (`stream.rs` allows letters, digits and `._@-`).
//! Floats are written with Rust's shortest round-trip formatting, so equal runs give equal
//! bytes.

use std::fmt::Write as _;

use spequlos_core::Strategy;

use crate::run::PairOutput;
use crate::scenario::Scenario;
use crate::world::RunOutput;

/// Metric columns of `runs.csv`, after the parameter columns.
pub const METRIC_COLUMNS: &[&str] = &[
    "trace_hosts",
    "tasks",
    "credits_ordered",
    "credits_spent",
    "workers_started",
    "workers_revoked",
    "deployed_at",
    "completion_time",
    "t_ideal",
    "tail_duration",
    "tail_slowdown",
    "has_tail",
    "speedup",
    "tre",
    "ops_executed",
    "ops_cloud",
    "cloud_share",
    "pred25",
    "pred50",
    "pred75",
    "pred90",
    "err25",
    "err50",
    "err75",
    "err90",
    "hit25",
    "hit50",
    "hit75",
    "hit90",
    // When completion reached 5 %, 10 %, ..., 95 % (the Oracle's learning grid).
    "t05",
    "t10",
    "t15",
    "t20",
    "t25",
    "t30",
    "t35",
    "t40",
    "t45",
    "t50",
    "t55",
    "t60",
    "t65",
    "t70",
    "t75",
    "t80",
    "t85",
    "t90",
    "t95",
    "events",
];

/// The header of `runs.csv`: `run`, every scenario parameter, then the metrics.
pub fn runs_header() -> String {
    let mut cols = vec!["run".to_string()];
    cols.extend(Scenario::param_columns().iter().cloned());
    cols.extend(METRIC_COLUMNS.iter().map(|c| c.to_string()));
    cols.join(",")
}

/// Rows of `runs.csv` for one pair (baseline first), without the header. The baseline row
/// carries the scenario's parameters with `strategy = none`.
pub fn runs_rows(sc: &Scenario, trace_hosts: usize, out: &PairOutput) -> String {
    let mut s = String::new();
    let mut base = sc.clone();
    base.strategy = Strategy::None;
    run_row(&mut s, "baseline", &base, trace_hosts, &out.baseline, None);
    if let (Some(r), Some(p)) = (&out.speq, &out.pair) {
        run_row(&mut s, "speq", sc, trace_hosts, r, Some(*p));
    }
    s
}

/// The leading fields of a `runs.csv` line: the run kind and every parameter column. Readers
/// of a sweep's rows compare them with the plan to refuse rows of another sweep.
pub fn param_fields(kind: &str, sc: &Scenario) -> String {
    let flat = sc.flatten();
    let mut s = kind.to_string();
    for col in Scenario::param_columns() {
        s.push(',');
        s.push_str(&csv_field(flat.get(col).map_or("", String::as_str)));
    }
    s
}

/// Appends one `runs.csv` line (without the header) for run `r` of scenario `sc`; `pair` is the
/// comparison with its baseline for a SpeQuloS run.
pub fn run_row(
    s: &mut String,
    kind: &str,
    sc: &Scenario,
    trace_hosts: usize,
    r: &RunOutput,
    pair: Option<spequlos_core::PairMetrics>,
) {
    s.push_str(&param_fields(kind, sc));
    let m = &r.metrics;
    let (speedup, tre) = pair.map_or((f64::NAN, f64::NAN), |p| (p.speedup, p.tre));
    let _ = write!(
        s,
        ",{trace_hosts},{},{},{},{},{},{},{},{},{},{},{},{speedup},{tre},{},{},{}",
        r.progress.total(),
        m.credits_ordered,
        m.credits_spent,
        m.workers_started,
        r.revoked,
        m.deployed_at,
        m.completion_time,
        m.t_ideal,
        m.tail_duration,
        m.tail_slowdown,
        spequlos_core::metrics::has_tail(m),
        m.ops_executed,
        m.ops_cloud,
        m.cloud_share,
    );
    let at = |ratio: f64| m.predictions.iter().find(|p| p.ratio == ratio);
    let points = spequlos_core::metrics::PREDICTION_POINTS;
    for p in points {
        let _ = write!(
            s,
            ",{}",
            at(p).map_or(f64::NAN, |c| c.prediction.completion)
        );
    }
    for p in points {
        let _ = write!(s, ",{}", at(p).map_or(f64::NAN, |c| c.error));
    }
    for p in points {
        let _ = write!(s, ",{}", at(p).map_or(String::new(), |c| c.hit.to_string()));
    }
    for i in 0..spequlos_core::oracle::GRID {
        let t = r.progress.time_at(spequlos_core::oracle::grid_ratio(i));
        let _ = write!(s, ",{}", t.unwrap_or(f64::NAN));
    }
    let _ = writeln!(s, ",{}", r.events);
}

pub const TIMELINE_HEADER: &str =
    "run,t,total,completed,assigned,running,volunteers_online,cloud_workers\n";

/// `timeline.csv` rows of one run (`run` is `baseline` or `speq`).
pub fn timeline(run: &str, r: &RunOutput) -> String {
    let mut s = String::new();
    for x in r.progress.samples() {
        let _ = writeln!(
            s,
            "{run},{},{},{},{},{},{},{}",
            x.t, x.total, x.completed, x.assigned, x.running, x.volunteers_online, x.cloud_workers
        );
    }
    s
}

pub const TASKS_HEADER: &str =
    "run,task,submit,first_assignment,completion,completed_on,executions\n";

/// `tasks.csv` rows of one run.
pub fn tasks(run: &str, r: &RunOutput) -> String {
    let mut s = String::new();
    for (i, t) in r.tasks.iter().enumerate() {
        let place = if t.completion.is_nan() {
            ""
        } else if t.on_cloud {
            "cloud"
        } else {
            "volunteer"
        };
        let _ = writeln!(
            s,
            "{run},{i},{},{},{},{place},{}",
            t.submit, t.first_assign, t.completion, t.executions
        );
    }
    s
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

pub const BOTS_HEADER: &str = "run,bot,user,arrival,tasks,completed,credits_ordered,credits_spent,workers_started,workers_revoked,workers_preempted,deployed_at,completion_time,t_ideal,tail_duration,tail_slowdown,has_tail,speedup,tre,cloud_share,deadline,admission,predicted,deadline_met,workers_spot\n";

/// `bots.csv` rows of one run of a stream (`run` is `baseline` or `speq`); `pairs` compares
/// each BoT with its baseline (empty for the baseline). Times are from each BoT's arrival.
pub fn bots(
    run: &str,
    r: &crate::world::StreamOutput,
    pairs: &[spequlos_core::PairMetrics],
) -> String {
    let mut s = String::new();
    for (i, b) in r.bots.iter().enumerate() {
        let m = &b.metrics;
        let (speedup, tre) = pairs
            .get(i)
            .map_or((f64::NAN, f64::NAN), |p| (p.speedup, p.tre));
        let _ = writeln!(
            s,
            "{run},{i},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{speedup},{tre},{},{},{},{},{},{}",
            b.user,
            b.arrival,
            b.progress.total(),
            b.progress.completed(),
            m.credits_ordered,
            m.credits_spent,
            m.workers_started,
            b.revoked,
            b.preempted,
            m.deployed_at,
            m.completion_time,
            m.t_ideal,
            m.tail_duration,
            m.tail_slowdown,
            spequlos_core::metrics::has_tail(m),
            m.cloud_share,
            b.deadline.map_or(String::new(), |d| d.to_string()),
            b.admission.map_or("", |a| a.name()),
            b.admission.map_or(f64::NAN, |a| a.predicted()),
            b.deadline_met().map_or(String::new(), |m| m.to_string()),
            b.spot,
        );
    }
    s
}

pub const USERS_HEADER: &str = "run,user,bots,tasks,completed,credits_ordered,credits_spent,mean_completion,worst_completion,mean_speedup,worst_speedup,mean_tre\n";

/// `users.csv` rows of one run of a stream.
pub fn users(run: &str, users: &[crate::run::UserTotals]) -> String {
    let mut s = String::new();
    for u in users {
        let _ = writeln!(
            s,
            "{run},{},{},{},{},{},{},{},{},{},{},{}",
            u.user,
            u.bots,
            u.tasks,
            u.completed,
            u.credits_ordered,
            u.credits_spent,
            u.mean_completion,
            u.worst_completion,
            u.mean_speedup,
            u.worst_speedup,
            u.mean_tre,
        );
    }
    s
}
