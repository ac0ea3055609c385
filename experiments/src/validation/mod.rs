//! Cross-validation with the authors' early SpeQuloS simulator: the shared inputs regenerated
//! bit for bit (1000 `.tr` host traces and a job file, as `gen_inputs.py` writes them), the
//! original-mode scenarios run over seeds, and the table of both programs' figures with their
//! relative differences and the targets each row meets (`spequlos validate`).
//!
//! The peer's figures are those it printed on exactly these inputs
//! (`../shared/data/peer-inputs/README.md`); its random ON offsets make each of its runs one
//! draw, so ours are over seeds: mean [min–max].

mod pyrandom;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use spequlos_check::Limits;
use spequlos_core::QosParams;
use spequlos_core::{Oracle, Strategy};
use spequlos_sim::run::{self, SimError};
use spequlos_sim::scenario::{BoincParams, Middleware, ModelOptions, Scenario, XwhepParams};
use spequlos_sim::workload::WorkloadSpec;

pub use pyrandom::PyRandom;

const DAY: i64 = 86_400;

/// `original.toml` and its XWHEP twin, as shipped.
const ORIGINAL_BOINC: &str = include_str!("../../../sim/scenarios/original.toml");
const ORIGINAL_XWHEP: &str = include_str!("../../../sim/scenarios/original-xwhep.toml");

/// What `gen_inputs.py` reports of the inputs it wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub traces: PathBuf,
    pub jobs: PathBuf,
    pub hosts: usize,
    pub on_intervals: usize,
    pub mean_availability: f64,
}

/// Writes `dir/tr/h00000.tr` … (one per host) and `dir/jobs.txt` (`jobs` one-hour jobs),
/// the bytes `gen_inputs.py HOSTS DIR/tr` writes: an alternating renewal process per host,
/// ON ~ Weibull(0.43, 6048 s), OFF ~ Exponential(7200 s), from ON at −10 days, clipped to
/// [0, 30 days), durations rounded half to even (Python's `round`), at least 1 s, one
/// `random.Random(42)` stream in host order.
pub fn write_inputs(dir: &Path, hosts: usize, jobs: usize) -> std::io::Result<Inputs> {
    let traces = dir.join("tr");
    std::fs::create_dir_all(&traces)?;
    let (t0, t1) = (-10 * DAY, 30 * DAY);
    let mut rng = PyRandom::new(42);
    let whole = |x: f64| (x.round_ties_even() as i64).max(1);
    let (mut on_intervals, mut availability) = (0, 0.0);
    for h in 0..hosts {
        let (mut t, mut on) = (t0, true);
        let (mut text, mut on_time) = (String::new(), 0);
        while t < t1 {
            let d = if on {
                whole(rng.weibullvariate(6048.0, 0.43))
            } else {
                whole(rng.expovariate(1.0 / 7200.0))
            };
            let (s, e) = (t.max(0), (t + d).min(t1));
            if e > s {
                let _ = writeln!(text, "{s} {e} {}", u8::from(on));
                if on {
                    on_intervals += 1;
                    on_time += e - s;
                }
            }
            t += d;
            on = !on;
        }
        availability += on_time as f64 / t1 as f64;
        std::fs::write(traces.join(format!("h{h:05}.tr")), text)?;
    }
    let jobs_path = dir.join("jobs.txt");
    std::fs::write(&jobs_path, "0 3600000\n".repeat(jobs))?;
    Ok(Inputs {
        traces,
        jobs: jobs_path,
        hosts,
        on_intervals,
        mean_availability: availability / hosts.max(1) as f64,
    })
}

/// One configuration both programs ran, with the peer's figures (seconds, credits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peer {
    pub middleware: &'static str,
    pub strategy: &'static str,
    pub t50: f64,
    pub t90: f64,
    pub t_done: f64,
    pub credits: Option<u64>,
}

/// The peer's figures on the shared inputs: XWHEP on the 30-day trace, BOINC on its first
/// 3 days; 1000 hosts, 1000 one-hour jobs, 1500 credits.
pub const PEER: [Peer; 8] = [
    peer("xwhep", "none", 3854.0, 7328.0, 15000.0, None),
    peer("xwhep", "9C-G-F", 3854.0, 7328.0, 15000.0, Some(105)),
    peer("xwhep", "9C-G-R", 3854.0, 7328.0, 8795.0, Some(435)),
    peer("xwhep", "9C-G-D", 3854.0, 7328.0, 8797.0, Some(450)),
    peer("boinc", "none", 10826.0, 22399.0, 84314.0, None),
    peer("boinc", "9C-G-F", 10826.0, 22399.0, 84314.0, Some(100)),
    peer("boinc", "9C-G-R", 10826.0, 22399.0, 25145.0, Some(1100)),
    peer("boinc", "9C-G-D", 10826.0, 22399.0, 26301.0, Some(590)),
];

impl Peer {
    /// Whether the random ON offsets, not the Cloud, decide when the BoT ends (no Cloud, or
    /// Flat, whose few workers leave the tail as it is): the last task waits for whichever
    /// host holds it, so one run is one draw from a wide distribution (BOINC's spans
    /// 48,000–90,000 s over 200 seeds) and the peer's single run can only be placed in ours.
    pub fn offsets_dominate(&self) -> bool {
        matches!(self.strategy, "none" | "9C-G-F")
    }
}

const fn peer(
    middleware: &'static str,
    strategy: &'static str,
    t50: f64,
    t90: f64,
    t_done: f64,
    credits: Option<u64>,
) -> Peer {
    Peer {
        middleware,
        strategy,
        t50,
        t90,
        t_done,
        credits,
    }
}

/// Our figures for one configuration over the seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Ours {
    pub t50: Vec<f64>,
    pub t90: Vec<f64>,
    pub t_done: Vec<f64>,
    pub credits: Vec<f64>,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub peer: Peer,
    pub ours: Ours,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn range(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(*x), b.max(*x))
        })
}

impl Row {
    /// Relative difference of our mean completion from the peer's.
    pub fn t_done_diff(&self) -> f64 {
        mean(&self.ours.t_done) / self.peer.t_done - 1.0
    }

    pub fn credits_diff(&self) -> Option<f64> {
        self.peer
            .credits
            .map(|c| mean(&self.ours.credits) / c as f64 - 1.0)
    }

    /// Where the peer's t_done falls among our seeds: the share of our runs that finish
    /// before it (ties count half), 0 to 1.
    pub fn peer_rank(&self) -> f64 {
        let v = &self.ours.t_done;
        let below = v.iter().filter(|&&x| x < self.peer.t_done).count() as f64;
        let ties = v.iter().filter(|&&x| x == self.peer.t_done).count() as f64;
        (below + ties / 2.0) / v.len().max(1) as f64
    }

    /// The targets of original mode: t_done within ±5 % of the peer's, or, where its random
    /// ON offsets dominate, the peer's figure inside our seeds' range; credits within ±10 %.
    pub fn meets_targets(&self) -> bool {
        let (lo, hi) = range(&self.ours.t_done);
        let t_ok = self.t_done_diff().abs() <= 0.05
            || (self.peer.offsets_dominate() && (lo..=hi).contains(&self.peer.t_done));
        let c_ok = self.credits_diff().is_none_or(|d| d.abs() <= 0.10);
        t_ok && c_ok
    }
}

/// Which of spequlos's model options a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The peer's behaviour, as `original*.toml` select it.
    Original,
    /// spequlos's defaults for every model option, on the same inputs and settings.
    Default,
    /// The peer's behaviour but for one option, set back to spequlos's default.
    Without(ModelOption),
}

/// A model option in which spequlos's default differs from the peer (docs/model.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelOption {
    OnJitter,
    DoneReplicas,
    BackoffSurvivesOff,
    CapAtUnfinished,
    RescheduleCopies,
    LosingCopies,
}

impl ModelOption {
    pub const ALL: [ModelOption; 6] = [
        ModelOption::OnJitter,
        ModelOption::DoneReplicas,
        ModelOption::BackoffSurvivesOff,
        ModelOption::CapAtUnfinished,
        ModelOption::RescheduleCopies,
        ModelOption::LosingCopies,
    ];

    /// The scenario field, as the scenario file names it.
    pub fn field(self) -> &'static str {
        match self {
            ModelOption::OnJitter => "model.on_jitter",
            ModelOption::DoneReplicas => "middleware.done_replicas",
            ModelOption::BackoffSurvivesOff => "middleware.backoff_survives_off",
            ModelOption::CapAtUnfinished => "qos.cap_at_unfinished",
            ModelOption::RescheduleCopies => "qos.reschedule_copies",
            ModelOption::LosingCopies => "qos.losing_copies",
        }
    }

    /// Sets the option in `sc` to spequlos's default.
    fn reset(self, sc: &mut Scenario) {
        let (model, qos) = (ModelOptions::default(), QosParams::default());
        match self {
            ModelOption::OnJitter => sc.model.on_jitter = model.on_jitter,
            ModelOption::DoneReplicas => {
                if let Middleware::Boinc(p) = &mut sc.middleware {
                    p.done_replicas = BoincParams::default().done_replicas;
                }
            }
            ModelOption::BackoffSurvivesOff => match &mut sc.middleware {
                Middleware::Boinc(p) => {
                    p.backoff_survives_off = BoincParams::default().backoff_survives_off
                }
                Middleware::Xwhep(p) => {
                    p.backoff_survives_off = XwhepParams::default().backoff_survives_off
                }
            },
            ModelOption::CapAtUnfinished => sc.qos.cap_at_unfinished = qos.cap_at_unfinished,
            ModelOption::RescheduleCopies => sc.qos.reschedule_copies = qos.reschedule_copies,
            ModelOption::LosingCopies => sc.qos.losing_copies = qos.losing_copies,
        }
    }
}

/// The scenario of one configuration, on the inputs in `inputs`, in `mode`.
pub fn scenario(p: &Peer, inputs: &Inputs, seed: u64, mode: Mode) -> Result<Scenario, SimError> {
    let text = if p.middleware == "boinc" {
        ORIGINAL_BOINC
    } else {
        ORIGINAL_XWHEP
    };
    let mut sc: Scenario = toml::from_str(text)
        .map_err(|e| SimError::Input(format!("the shipped original scenario: {e}")))?;
    sc.trace.file = Some(inputs.traces.to_string_lossy().into_owned());
    sc.trace.hosts = 0;
    if p.middleware == "boinc" {
        // The peer ran BOINC on the trace cut to its first 3 days.
        sc.trace.window_start = Some(0);
        sc.trace.window_len = Some(3 * DAY);
    }
    sc.workload = WorkloadSpec::File {
        path: inputs.jobs.to_string_lossy().into_owned(),
    };
    sc.strategy = p
        .strategy
        .parse::<Strategy>()
        .map_err(|e| SimError::Input(e.to_string()))?;
    sc.seed = seed;
    match mode {
        Mode::Original => {}
        Mode::Default => ModelOption::ALL.iter().for_each(|o| o.reset(&mut sc)),
        Mode::Without(o) => o.reset(&mut sc),
    }
    Ok(sc)
}

/// How many seeds each configuration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeds {
    /// Where the Cloud decides the tail: our runs agree to a few per cent among themselves.
    pub cloud: u64,
    /// Where the ON offsets dominate ([`Peer::offsets_dominate`]): enough draws to tell where
    /// in our distribution the peer's one run lies.
    pub offsets: u64,
}

impl Default for Seeds {
    fn default() -> Self {
        Seeds {
            cloud: 10,
            offsets: 200,
        }
    }
}

impl Seeds {
    pub fn of(self, p: &Peer) -> u64 {
        if p.offsets_dominate() {
            self.offsets
        } else {
            self.cloud
        }
    }

    /// Runs of one mode, every configuration.
    pub fn runs(self) -> u64 {
        PEER.iter().map(|p| self.of(p)).sum()
    }
}

/// Every configuration over seeds 1..=`seeds.of(config)` in `mode`; `progress` is told each
/// finished run.
pub fn run_all(
    inputs: &Inputs,
    seeds: Seeds,
    mode: Mode,
    limits: &Limits,
    mut progress: impl FnMut(),
) -> Result<Vec<Row>, SimError> {
    let mut rows = Vec::new();
    for p in PEER {
        let first = scenario(&p, inputs, 1, mode)?;
        let trace = run::load_trace_within(&first.trace, limits)?;
        let mut ours = Ours {
            t50: Vec::new(),
            t90: Vec::new(),
            t_done: Vec::new(),
            credits: Vec::new(),
        };
        for seed in 1..=seeds.of(&p) {
            let sc = scenario(&p, inputs, seed, mode)?;
            let tasks = run::tasks_within(&sc, limits)?;
            let out = run::run_pair_on(&sc, &trace, &Oracle::new(sc.oracle.clone()), &tasks)?;
            let r = out.speq.as_ref().unwrap_or(&out.baseline);
            ours.t50.push(r.progress.time_at(0.5).unwrap_or(f64::NAN));
            ours.t90.push(r.progress.time_at(0.9).unwrap_or(f64::NAN));
            ours.t_done.push(r.metrics.completion_time);
            ours.credits.push(r.metrics.credits_spent as f64);
            progress();
        }
        rows.push(Row { peer: p, ours });
    }
    Ok(rows)
}

/// How two completion times compare: within 0.1 % of each other they tie.
fn order(a: f64, b: f64) -> std::cmp::Ordering {
    if (a - b).abs() <= 0.001 * a.abs().max(b.abs()) {
        std::cmp::Ordering::Equal
    } else {
        a.total_cmp(&b)
    }
}

/// Whether Reschedule and Duplication finish in the same order in both programs (ties
/// within 0.1 % count as an order of their own).
pub fn same_r_d_order(rows: &[Row], middleware: &str) -> Option<bool> {
    let find = |s: &str| {
        rows.iter()
            .find(|r| r.peer.middleware == middleware && r.peer.strategy == s)
    };
    let (r, d) = (find("9C-G-R")?, find("9C-G-D")?);
    Some(order(r.peer.t_done, d.peer.t_done) == order(mean(&r.ours.t_done), mean(&d.ours.t_done)))
}

/// The table, Markdown; `targets` adds the column of the targets each row meets (they hold
/// in original mode only).
pub fn table(rows: &[Row], targets: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| config | t90 peer / ours (s) | t_done peer / ours, mean [min–max] (s) | seeds | peer's rank in ours | t_done diff | credits peer / ours | credits diff |{}\n|---|---|---|---|---|---|---|---|{}",
        if targets { " targets |" } else { "" },
        if targets { "---|" } else { "" },
    );
    for r in rows {
        let (lo, hi) = range(&r.ours.t_done);
        let credits = match r.peer.credits {
            Some(c) => format!("{c} / {:.0}", mean(&r.ours.credits)),
            None => "–".into(),
        };
        let cdiff = r
            .credits_diff()
            .map_or("–".into(), |d| format!("{:+.1} %", d * 100.0));
        let _ = writeln!(
            s,
            "| {} {} | {:.0} / {:.0} | {:.0} / {:.0} [{lo:.0}–{hi:.0}] | {} | {:.1} % | {:+.1} % | {credits} | {cdiff} |{}",
            r.peer.middleware.to_uppercase(),
            r.peer.strategy,
            r.peer.t90,
            mean(&r.ours.t90),
            r.peer.t_done,
            mean(&r.ours.t_done),
            r.ours.t_done.len(),
            r.peer_rank() * 100.0,
            r.t_done_diff() * 100.0,
            match (targets, r.meets_targets()) {
                (false, _) => "",
                (true, true) => " met |",
                (true, false) => " **not met** |",
            }
        );
    }
    let _ = writeln!(
        s,
        "\nThe peer's rank: the share of our runs that finish before its one run. Orders \
         compare mean t_done; within 0.1 % of each other, two times tie."
    );
    for mw in ["xwhep", "boinc"] {
        if let Some(same) = same_r_d_order(rows, mw) {
            let _ = writeln!(
                s,
                "\n{}: Reschedule versus Duplication finish in {} order.",
                mw.to_uppercase(),
                if same { "the same" } else { "**the opposite**" }
            );
        }
    }
    s
}

/// What setting each option back to spequlos's default alone does to our figures: one row
/// per option, per configuration the change of mean t_done and mean credits from original mode
/// (`original`), from `without[i]` run with `ModelOption::ALL[i]` reset. Markdown.
pub fn ablation_table(original: &[Row], without: &[Vec<Row>]) -> String {
    let mut s = String::from("| option set to its default alone |");
    for r in original {
        let _ = write!(
            s,
            " {} {} |",
            r.peer.middleware.to_uppercase(),
            r.peer.strategy
        );
    }
    let _ = write!(s, "\n|---|{}", "---|".repeat(original.len()));
    for (o, rows) in ModelOption::ALL.iter().zip(without) {
        let _ = write!(s, "\n| `{}` |", o.field());
        for (a, b) in original.iter().zip(rows) {
            let dt = mean(&b.ours.t_done) / mean(&a.ours.t_done) - 1.0;
            let (ca, cb) = (mean(&a.ours.credits), mean(&b.ours.credits));
            let cell = if dt.abs() < 0.0005 && (ca - cb).abs() < 0.5 {
                "–".to_string()
            } else if a.peer.credits.is_some() && ca > 0.0 {
                format!("{:+.1} % / {:+.0} %", dt * 100.0, (cb / ca - 1.0) * 100.0)
            } else {
                format!("{:+.1} %", dt * 100.0)
            };
            let _ = write!(s, " {cell} |");
        }
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inputs_are_gen_inputs_py_s() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = write_inputs(dir.path(), 1000, 3).unwrap();
        // The figures gen_inputs.py prints for 1000 hosts.
        assert_eq!(inputs.on_intervals, 108_570);
        assert!((inputs.mean_availability - 0.700588).abs() < 5e-7);
        let h0 = std::fs::read_to_string(inputs.traces.join("h00000.tr")).unwrap();
        assert!(h0.lines().all(|l| l.split(' ').count() == 3), "{h0}");
        assert_eq!(
            std::fs::read_to_string(&inputs.jobs).unwrap(),
            "0 3600000\n0 3600000\n0 3600000\n"
        );
    }

    #[test]
    fn the_shipped_original_scenarios_make_every_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = write_inputs(dir.path(), 2, 1).unwrap();
        for p in PEER {
            let sc = scenario(&p, &inputs, 3, Mode::Original).unwrap();
            sc.validate().unwrap();
            assert_eq!(sc.middleware.name(), p.middleware);
            assert_eq!(sc.strategy.to_string(), p.strategy);
            assert_eq!(sc.cloud.credits, Some(1500));
            assert_eq!(sc.trace.window_len.is_some(), p.middleware == "boinc");
            // Default mode differs in exactly the model options, and sets every one back.
            let d = scenario(&p, &inputs, 3, Mode::Default).unwrap();
            assert_eq!(
                d.model,
                spequlos_sim::scenario::ModelOptions {
                    uniform_speed: sc.model.uniform_speed,
                    ..Default::default()
                }
            );
            assert_eq!(
                d.qos,
                QosParams {
                    tick: sc.qos.tick,
                    ..Default::default()
                }
            );
            assert_eq!(
                d.middleware,
                Middleware::by_name(p.middleware).unwrap(),
                "the original scenarios' other middleware fields are the defaults"
            );
            for o in ModelOption::ALL {
                let w = scenario(&p, &inputs, 3, Mode::Without(o)).unwrap();
                // done_replicas is BOINC's; the back-off is set for the XWHEP worker only.
                let applies = match o {
                    ModelOption::DoneReplicas => p.middleware == "boinc",
                    ModelOption::BackoffSurvivesOff => p.middleware == "xwhep",
                    _ => true,
                };
                assert_eq!(
                    format!("{w:?}") != format!("{sc:?}"),
                    applies,
                    "{} on {}",
                    o.field(),
                    p.middleware
                );
            }
        }
    }

    #[test]
    fn targets_follow_the_rules() {
        let p = PEER[2];
        let row = |t: &[f64], c: &[f64]| Row {
            peer: p,
            ours: Ours {
                t50: vec![0.0],
                t90: vec![0.0],
                t_done: t.to_vec(),
                credits: c.to_vec(),
            },
        };
        assert!(row(&[8795.0 * 1.04], &[435.0]).meets_targets());
        assert!(!row(&[8795.0 * 1.06], &[435.0]).meets_targets());
        assert!(!row(&[8795.0], &[435.0 * 1.2]).meets_targets());
        // A peer figure inside our range counts only where ON offsets dominate.
        assert!(!row(&[6000.0, 13000.0], &[435.0]).meets_targets());
        let none = Row {
            peer: PEER[0],
            ..row(&[12000.0, 19000.0], &[])
        };
        assert!(none.meets_targets());
        assert_eq!(none.peer_rank(), 0.5);
        assert_eq!(
            row(&[8795.0, 1.0, 9000.0, 1.0], &[435.0]).peer_rank(),
            0.625
        );
    }

    /// The acceptance: original mode meets every target at the default seeds, and
    /// Reschedule and Duplication finish in the peer's order on both middlewares.
    #[test]
    fn original_mode_meets_the_targets() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = write_inputs(dir.path(), 1000, 1000).unwrap();
        let rows = run_all(
            &inputs,
            Seeds::default(),
            Mode::Original,
            &Limits::default(),
            || (),
        )
        .unwrap();
        let t = table(&rows, true);
        assert!(!t.contains("not met") && !t.contains("opposite"), "{t}");
        for r in &rows {
            assert_eq!(r.ours.t_done.len() as u64, Seeds::default().of(&r.peer));
        }
    }
}
