//! Sweep specifications (TOML) and their expansion into runs.
//!
//! ```toml
//! name = "quick"
//! [base]                 # a full scenario (see `spequlos sim`); every field has a default
//! trace.hosts = 1000
//! [axes]
//! trace = ["seti", "nd"]             # presets, or paths to trace files/directories
//! middleware = ["boinc", "xwhep"]
//! workload = ["small"]               # small | big | random | a job file
//! strategy = ["none", "9A-G-D", "9C-G-D"]
//! offset_count = 30                  # or: offsets = [0, 43200, ...] (seconds)
//! offset_spacing = 43200
//! replicates = 1                     # or: seeds = [1, 2, 3]
//! [axes.params]                      # any scalar scenario parameter, by its dotted name
//! "cloud.speed_factor" = [2.0, 3.0]
//! ```
//!
//! The runs are the cartesian product of the axes. Runs that differ only by strategy (and by
//! parameters that only SpeQuloS reads: `cloud.*`, `qos.*`, `oracle.*`) share one baseline,
//! simulated once. Run ids follow the expansion order, so they identify a run whatever the
//! thread count or shard.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spequlos_check::{int, real, real_above, FieldError, LimitError, Limits};
use spequlos_core::Strategy;
use spequlos_sim::scenario::{Middleware, Scenario};
use spequlos_sim::workload::WorkloadSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub base: Scenario,
    pub axes: Axes,
}

fn default_name() -> String {
    "sweep".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axes {
    /// Presets or trace paths; default: the base scenario's trace.
    #[serde(default)]
    pub trace: Option<Vec<String>>,
    #[serde(default)]
    pub middleware: Option<Vec<String>>,
    #[serde(default)]
    pub workload: Option<Vec<String>>,
    pub strategy: Vec<String>,
    /// Explicit trace offsets, seconds.
    #[serde(default)]
    pub offsets: Option<Vec<f64>>,
    /// Or this many offsets, `offset_spacing` seconds apart, from 0.
    #[serde(default)]
    pub offset_count: Option<u32>,
    #[serde(default = "default_spacing")]
    pub offset_spacing: f64,
    /// Explicit run seeds...
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    /// ...or this many seeds derived from the base seed.
    #[serde(default)]
    pub replicates: Option<u32>,
    /// Any scalar scenario parameter by dotted name (`runs.csv` column names).
    #[serde(default)]
    pub params: BTreeMap<String, Vec<toml::Value>>,
}

fn default_spacing() -> f64 {
    43200.0
}

/// What a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Baseline,
    /// A SpeQuloS run compared with the baseline run `baseline`.
    Speq {
        baseline: u32,
    },
}

#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub id: u32,
    pub kind: RunKind,
    pub scenario: Scenario,
    /// Index into [`Plan::traces`].
    pub trace: usize,
}

/// A baseline and the SpeQuloS runs compared with it: the unit of parallel work and sharding.
#[derive(Debug, Clone)]
pub struct Job {
    pub index: u32,
    pub runs: Vec<PlannedRun>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub jobs: Vec<Job>,
    /// Distinct trace specifications, each loaded once.
    pub traces: Vec<spequlos_sim::scenario::TraceSpec>,
    pub runs: u32,
    /// Axis name → its values, for `--dry-run`.
    pub axes: Vec<(String, Vec<String>)>,
}

/// Why a sweep spec makes no plan.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// An axis that is empty, conflicting or holds a value no run can take; the field is
    /// `axes.NAME` (`axes.params.KEY` for a parameter axis).
    #[error(transparent)]
    Axis(#[from] FieldError),
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The scenario of one run is out of range.
    #[error("run {run}: {err}")]
    Run { run: u32, err: FieldError },
}

fn empty_axis(name: &str) -> SpecError {
    FieldError::new(&format!("axes.{name}"), "[]", "at least one value").into()
}

/// Expands a spec within the default [`Limits`]; errors name the axis or parameter at fault.
pub fn expand(spec: &SweepSpec) -> Result<Plan, SpecError> {
    expand_within(spec, &Limits::default())
}

/// Expands a spec; a sweep of more than `limits.runs` runs is refused before any is made.
pub fn expand_within(spec: &SweepSpec, limits: &Limits) -> Result<Plan, SpecError> {
    let a = &spec.axes;
    let base = &spec.base;
    let non_empty =
        |name: &str, v: &Option<Vec<String>>, default: String| -> Result<Vec<String>, SpecError> {
            match v {
                Some(v) if v.is_empty() => Err(empty_axis(name)),
                Some(v) => Ok(v.clone()),
                None => Ok(vec![default]),
            }
        };
    let traces = non_empty("trace", &a.trace, base.trace.label())?;
    let middlewares = non_empty(
        "middleware",
        &a.middleware,
        base.middleware.name().to_string(),
    )?;
    let workloads = non_empty("workload", &a.workload, base.workload.label())?;
    if a.strategy.is_empty() {
        return Err(empty_axis("strategy"));
    }
    let strategies = a
        .strategy
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.parse::<Strategy>().map_err(|e| {
                FieldError::new(
                    &format!("axes.strategy[{i}]"),
                    s,
                    format!("a strategy ({e})"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Count the runs from the axis lengths before expanding any axis.
    {
        let len = |v: &Option<Vec<String>>| v.as_ref().map_or(1, |v| v.len() as u128);
        let offsets = match (&a.offsets, a.offset_count) {
            (Some(v), _) => v.len() as u128,
            (None, n) => u128::from(n.unwrap_or(1)),
        };
        let seeds = match (&a.seeds, a.replicates) {
            (Some(v), _) => v.len() as u128,
            (None, n) => u128::from(n.unwrap_or(1)),
        };
        let params: u128 = a.params.values().map(|v| v.len() as u128).product();
        let per_baseline = 1 + strategies.iter().filter(|s| !s.is_none()).count() as u128;
        let runs = len(&a.trace)
            * len(&a.middleware)
            * len(&a.workload)
            * offsets
            * seeds
            * params
            * per_baseline;
        let asked = u64::try_from(runs).unwrap_or(u64::MAX);
        limits.check_runs(&format!("sweep `{}`", spec.name), asked)?;
        if runs > u128::from(u32::MAX) {
            return Err(FieldError::new(
                "axes",
                format!("{runs} runs"),
                "at most 4294967295 runs (run ids are 32-bit): split it into several sweeps",
            )
            .into());
        }
    }
    real_above("axes.offset_spacing", a.offset_spacing, 0.0, 1e12, "s")?;
    let both = |f: &str, other: &str| -> SpecError {
        FieldError::new(
            f,
            "given",
            format!("absent when `{other}` is given (not both)"),
        )
        .into()
    };
    let offsets: Vec<f64> = match (&a.offsets, a.offset_count) {
        (Some(_), Some(_)) => return Err(both("axes.offset_count", "offsets")),
        (Some(v), None) if v.is_empty() => return Err(empty_axis("offsets")),
        (Some(v), None) => v.clone(),
        (None, Some(n)) => {
            int("axes.offset_count", u64::from(n), 1, u64::from(u32::MAX))?;
            (0..n).map(|k| k as f64 * a.offset_spacing).collect()
        }
        (None, None) => vec![base.trace.offset],
    };
    for (i, &o) in offsets.iter().enumerate() {
        real(&format!("axes.offsets[{i}]"), o, 0.0, 1e12, "s")?;
    }
    let seeds: Vec<u64> = match (&a.seeds, a.replicates) {
        (Some(_), Some(_)) => return Err(both("axes.replicates", "seeds")),
        (Some(v), None) if v.is_empty() => return Err(empty_axis("seeds")),
        (Some(v), None) => v.clone(),
        (None, Some(n)) => {
            int("axes.replicates", u64::from(n), 1, u64::from(u32::MAX))?;
            (0..n as u64).map(|r| derive_seed(base.seed, r)).collect()
        }
        (None, None) => vec![base.seed],
    };
    let known = Scenario::param_columns();
    for (key, values) in &a.params {
        let field = format!("axes.params.{key}");
        if !known.contains(key) {
            return Err(FieldError::new(
                &field,
                "an axis",
                "the name of a parameter (a runs.csv column); unknown parameter",
            )
            .into());
        }
        if matches!(
            key.as_str(),
            "strategy" | "seed" | "trace.offset" | "middleware.kind" | "workload.kind"
        ) {
            return Err(FieldError::new(&field, "an axis", "given on its own axis instead").into());
        }
        if values.is_empty() {
            return Err(empty_axis(&format!("params.{key}")));
        }
    }
    let param_sets = param_product(&a.params);

    let mut plan = Plan {
        jobs: Vec::new(),
        traces: Vec::new(),
        runs: 0,
        axes: Vec::new(),
    };
    plan.axes = vec![
        ("trace".into(), traces.clone()),
        ("middleware".into(), middlewares.clone()),
        ("workload".into(), workloads.clone()),
        (
            "offset".into(),
            offsets.iter().map(|o| o.to_string()).collect(),
        ),
        ("seed".into(), seeds.iter().map(|s| s.to_string()).collect()),
        (
            "strategy".into(),
            strategies.iter().map(|s| s.to_string()).collect(),
        ),
    ];
    for (k, v) in &a.params {
        plan.axes
            .push((k.clone(), v.iter().map(|x| x.to_string()).collect()));
    }

    let mut baselines: BTreeMap<String, (usize, u32)> = BTreeMap::new();
    let mut next_id = 0u32;
    for trace in &traces {
        for mw in &middlewares {
            for wl in &workloads {
                for params in &param_sets {
                    for &offset in &offsets {
                        for &seed in &seeds {
                            let mut sc = base.clone();
                            set_trace(&mut sc, trace);
                            sc.middleware = Middleware::by_name(mw).ok_or_else(|| {
                                FieldError::new("axes.middleware", mw, "boinc or xwhep")
                            })?;
                            sc.workload = WorkloadSpec::parse(wl);
                            sc.trace.offset = offset;
                            sc.seed = seed;
                            sc = apply_params(&sc, params)?;
                            sc.validate()
                                .map_err(|err| SpecError::Run { run: next_id, err })?;
                            let trace_idx =
                                match plan.traces.iter().position(|t| same_trace(t, &sc.trace)) {
                                    Some(i) => i,
                                    None => {
                                        plan.traces.push(sc.trace.clone());
                                        plan.traces.len() - 1
                                    }
                                };
                            let key = baseline_key(&sc);
                            let (job_idx, baseline_id) = match baselines.get(&key) {
                                Some(&b) => b,
                                None => {
                                    let id = next_id;
                                    next_id += 1;
                                    let mut b = sc.clone();
                                    b.strategy = Strategy::None;
                                    let job = Job {
                                        index: plan.jobs.len() as u32,
                                        runs: vec![PlannedRun {
                                            id,
                                            kind: RunKind::Baseline,
                                            scenario: b,
                                            trace: trace_idx,
                                        }],
                                    };
                                    plan.jobs.push(job);
                                    let v = (plan.jobs.len() - 1, id);
                                    baselines.insert(key, v);
                                    v
                                }
                            };
                            for &s in &strategies {
                                if s.is_none() {
                                    continue;
                                }
                                let mut r = sc.clone();
                                r.strategy = s;
                                plan.jobs[job_idx].runs.push(PlannedRun {
                                    id: next_id,
                                    kind: RunKind::Speq {
                                        baseline: baseline_id,
                                    },
                                    scenario: r,
                                    trace: trace_idx,
                                });
                                next_id += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    plan.runs = next_id;
    Ok(plan)
}

/// Seed of replicate `r`: SplitMix64 of (base, r), so replicates are independent streams.
pub fn derive_seed(base: u64, r: u64) -> u64 {
    let mut z = base.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(r + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A trace axis value is a preset name unless it names an existing path or has a separator.
fn set_trace(sc: &mut Scenario, value: &str) {
    if spequlos_traces::presets::get(value).is_some() && !std::path::Path::new(value).exists() {
        sc.trace.preset = value.to_string();
        sc.trace.file = None;
    } else {
        sc.trace.file = Some(value.to_string());
    }
}

fn same_trace(
    a: &spequlos_sim::scenario::TraceSpec,
    b: &spequlos_sim::scenario::TraceSpec,
) -> bool {
    a.preset == b.preset
        && a.file == b.file
        && a.format == b.format
        && a.hosts == b.hosts
        && a.days == b.days
        && a.seed == b.seed
        && a.span == b.span
}
/// Everything that shapes a baseline run: the scenario minus strategy and SpeQuloS-only knobs.
fn baseline_key(sc: &Scenario) -> String {
    let mut flat = sc.flatten();
    flat.retain(|k, _| {
        !(k == "strategy"
            || k.starts_with("cloud.")
            || k.starts_with("qos.")
            || k.starts_with("oracle."))
    });
    format!("{flat:?}")
}

fn param_product(params: &BTreeMap<String, Vec<toml::Value>>) -> Vec<Vec<(String, toml::Value)>> {
    let mut sets: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
    for (k, values) in params {
        sets = sets
            .into_iter()
            .flat_map(|set| {
                values.iter().map(move |v| {
                    let mut s = set.clone();
                    s.push((k.clone(), v.clone()));
                    s
                })
            })
            .collect();
    }
    sets
}

/// Sets dotted parameters through the serde form, so types are checked by the same code that
/// reads scenario files. A parameter that does not exist for this run's middleware (e.g.
/// `middleware.timeout` on BOINC) is left out for that run.
fn apply_params(sc: &Scenario, params: &[(String, toml::Value)]) -> Result<Scenario, FieldError> {
    if params.is_empty() {
        return Ok(sc.clone());
    }
    let mut v = serde_json::to_value(sc).expect("a scenario serializes");
    let present = sc.flatten();
    let bad = |key: &str, value: &toml::Value, why: String| {
        FieldError::new(&format!("axes.params.{key}"), value, why)
    };
    for (key, value) in params {
        if !present.contains_key(key) {
            continue;
        }
        let json = serde_json::to_value(value).map_err(|e| bad(key, value, e.to_string()))?;
        let mut node = &mut v;
        let parts: Vec<&str> = key.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            node = node
                .get_mut(*p)
                .ok_or_else(|| bad(key, value, "a parameter of this scenario".into()))?;
        }
        node[parts[parts.len() - 1]] = json;
    }
    serde_json::from_value(v).map_err(|e| {
        let why = format!("a value of the parameter's type ({e})");
        if let [(key, value)] = params {
            return bad(key, value, why);
        }
        // Name the parameter whose value does not fit, trying each alone.
        params
            .iter()
            .find_map(|p| apply_params(sc, std::slice::from_ref(p)).err())
            .unwrap_or_else(|| FieldError::new("axes.params", "this combination", e.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> SweepSpec {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn product_with_shared_baselines() {
        let s = spec(
            r#"
            [base.trace]
            hosts = 50
            [axes]
            middleware = ["boinc", "xwhep"]
            strategy = ["none", "9A-G-D", "9C-G-D"]
            offset_count = 3
            [axes.params]
            "cloud.speed_factor" = [2.0, 3.0]
            "#,
        );
        let p = expand(&s).unwrap();
        // 2 middlewares × 3 offsets baselines (speed_factor does not touch them) ...
        assert_eq!(p.jobs.len(), 6);
        // ... each with 2 speed factors × 2 SpeQuloS strategies.
        assert!(p.jobs.iter().all(|j| j.runs.len() == 1 + 4));
        assert_eq!(p.runs, 30);
        let ids: Vec<u32> = p
            .jobs
            .iter()
            .flat_map(|j| j.runs.iter().map(|r| r.id))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, (0..30).collect::<Vec<_>>(), "ids are dense");
        let r = &p.jobs[0].runs[2];
        assert_eq!(r.scenario.cloud.speed_factor, 2.0);
        assert_eq!(
            r.kind,
            RunKind::Speq {
                baseline: p.jobs[0].runs[0].id
            }
        );
        assert_eq!(p.traces.len(), 1);
        assert_eq!(p.jobs[1].runs[0].scenario.trace.offset, 43200.0);
    }

    #[test]
    fn errors_name_the_axis() {
        for (text, want) in [
            ("[axes]\nstrategy = []", "axes.strategy = []"),
            ("[axes]\nstrategy = [\"9Q-G-D\"]", "9Q-G-D"),
            (
                "[axes]\nstrategy = [\"none\"]\nmiddleware = []",
                "axes.middleware = []",
            ),
            (
                "[axes]\nstrategy = [\"none\"]\nmiddleware = [\"condor\"]",
                "condor",
            ),
            (
                "[axes]\nstrategy = [\"none\"]\n[axes.params]\n\"cloud.nope\" = [1]",
                "axes.params.cloud.nope",
            ),
            (
                "[axes]\nstrategy = [\"none\"]\n[axes.params]\n\"cloud.speed_factor\" = [\"fast\"]",
                "axes.params.cloud.speed_factor = \"fast\"",
            ),
            (
                "[axes]\nstrategy = [\"none\"]\noffsets = [1]\noffset_count = 2",
                "not both",
            ),
        ] {
            let e = expand(&spec(text)).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let e =
            toml::from_str::<SweepSpec>("[axes]\nstrategy = [\"none\"]\ncolour = [1]").unwrap_err();
        assert!(e.to_string().contains("colour"));
    }

    #[test]
    fn replicates_derive_distinct_seeds() {
        let p = expand(&spec("[axes]\nstrategy = [\"9A-G-D\"]\nreplicates = 3")).unwrap();
        let seeds: Vec<u64> = p.jobs.iter().map(|j| j.runs[0].scenario.seed).collect();
        assert_eq!(seeds.len(), 3);
        assert!(seeds[0] != seeds[1] && seeds[1] != seeds[2]);
        assert_eq!(
            seeds,
            expand(&spec("[axes]\nstrategy = [\"9A-G-D\"]\nreplicates = 3"))
                .unwrap()
                .jobs
                .iter()
                .map(|j| j.runs[0].scenario.seed)
                .collect::<Vec<_>>()
        );
    }
}
