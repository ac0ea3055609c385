//! Scenario files (TOML): every field has a default, unknown fields are errors.
//!
//! ```toml
//! seed = 1
//! strategy = "9C-G-D"
//! [trace]
//! preset = "seti"      # or: file = "path/to/trace", format = "fta"
//! hosts = 2000
//! days = 30
//! offset = 0           # seconds into the trace at which the BoT is submitted
//! [middleware]
//! kind = "boinc"       # or "xwhep"
//! [workload]
//! kind = "small"       # big | random | uniform | file
//! [cloud]
//! speed_factor = 3.0
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use spequlos_check::{self as check, Checked, FieldError};
use spequlos_core::ledger::MAX_CREDITS;
use spequlos_core::market::MarketPolicy;
use spequlos_core::{OracleParams, QosParams, SharePolicy, Strategy};

use crate::workload::WorkloadSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Seed of the run's random stream (Cloud boot times, random workloads).
    pub seed: u64,
    pub trace: TraceSpec,
    pub middleware: Middleware,
    pub workload: WorkloadSpec,
    pub strategy: Strategy,
    pub qos: QosParams,
    pub cloud: CloudSpec,
    pub oracle: OracleParams,
    pub model: ModelOptions,
    /// Fraction of completion from which t_ideal is extrapolated; (0, 1).
    pub ideal_fraction: f64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            seed: 1,
            trace: TraceSpec::default(),
            middleware: Middleware::Boinc(BoincParams::default()),
            workload: WorkloadSpec::Small,
            strategy: "9C-G-D".parse().expect("valid"),
            qos: QosParams::default(),
            cloud: CloudSpec::default(),
            oracle: OracleParams::default(),
            model: ModelOptions::default(),
            ideal_fraction: 0.9,
        }
    }
}

/// Where the availability trace comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceSpec {
    /// A generator preset (used when `file` is not set).
    pub preset: String,
    /// A trace file or directory (FTA, SimGrid, .tr or native CSV).
    pub file: Option<String>,
    /// Force the format of `file`.
    pub format: Option<String>,
    /// Hosts to generate (or to keep from a file, first N; 0 keeps all); [0, 10^8], and hosts ×
    /// days within `--limit host_days`.
    pub hosts: usize,
    /// Days to generate; (0, 36500].
    pub days: f64,
    /// Seed of the generated trace, separate from the run seed so that runs share one trace.
    pub seed: u64,
    /// Seconds into the trace at which the BoT is submitted; [0, 10^11], before the end.
    pub offset: f64,
    /// Span of a trace file that does not give one (looping SimGrid profiles), seconds;
    /// [1, 10^11].
    pub span: Option<i64>,
    /// Keep only the part of the trace from `window_start` seconds after its origin, for
    /// `window_len` seconds (both or neither; [0, 10^11] and [1, 10^11]); `offset` then counts
    /// from the window's start.
    pub window_start: Option<i64>,
    pub window_len: Option<i64>,
}

impl Default for TraceSpec {
    fn default() -> Self {
        TraceSpec {
            preset: "seti".into(),
            file: None,
            format: None,
            hosts: 2000,
            days: 30.0,
            seed: 1,
            offset: 0.0,
            span: None,
            window_start: None,
            window_len: None,
        }
    }
}
impl TraceSpec {
    /// Short name for tables and CSV.
    pub fn label(&self) -> String {
        match &self.file {
            Some(f) => f.clone(),
            None => self.preset.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Middleware {
    Boinc(BoincParams),
    Xwhep(XwhepParams),
}

/// Why [`Middleware::switch_to`] refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SwitchError {
    #[error("unknown middleware `{0}` (boinc or xwhep)")]
    Unknown(String),
    #[error(
        "the scenario's [middleware] is {from} and sets {}, which {to} does not have; change \
         `kind` in the file instead, or remove those fields",
        fields.iter().map(|f| format!("middleware.{f}")).collect::<Vec<_>>().join(", ")
    )]
    Fields {
        from: &'static str,
        to: &'static str,
        fields: Vec<String>,
    },
}

impl Middleware {
    pub fn name(&self) -> &'static str {
        match self {
            Middleware::Boinc(_) => "boinc",
            Middleware::Xwhep(_) => "xwhep",
        }
    }

    /// This middleware's settings carried to `kind`: the fields set away from their defaults
    /// are kept when `kind` has them too (the back-off bounds), and named in the error when it
    /// has not, since dropping them would change the run silently. The same kind is `self`.
    pub fn switch_to(&self, kind: &str) -> Result<Middleware, SwitchError> {
        let target = Middleware::by_name(kind).ok_or_else(|| SwitchError::Unknown(kind.into()))?;
        if target.name() == self.name() {
            return Ok(self.clone());
        }
        let here = serde_json::to_value(self).expect("middlewares serialise");
        let default = serde_json::to_value(Middleware::by_name(self.name()).expect("known kind"))
            .expect("middlewares serialise");
        let mut there = serde_json::to_value(&target).expect("middlewares serialise");
        let (Some(here), Some(default), Some(map)) =
            (here.as_object(), default.as_object(), there.as_object_mut())
        else {
            return Ok(target);
        };
        let mut refused = Vec::new();
        for (field, value) in here {
            if field == "kind" || default.get(field) == Some(value) {
                continue;
            }
            match map.get_mut(field) {
                Some(slot) => *slot = value.clone(),
                None => refused.push(field.clone()),
            }
        }
        if !refused.is_empty() {
            return Err(SwitchError::Fields {
                from: self.name(),
                to: target.name(),
                fields: refused,
            });
        }
        Ok(serde_json::from_value(there).expect("the target's own fields deserialise"))
    }

    pub fn by_name(name: &str) -> Option<Middleware> {
        match name {
            "boinc" => Some(Middleware::Boinc(BoincParams::default())),
            "xwhep" => Some(Middleware::Xwhep(XwhepParams::default())),
            _ => None,
        }
    }
}

/// BOINC server and client model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoincParams {
    /// Replicas created per workunit; [1, 100].
    pub target_nresults: u32,
    /// Successful replicas that validate a workunit; [1, target_nresults].
    pub min_quorum: u32,
    /// Seconds before an unreturned replica is re-issued; [60, 10^9].
    pub delay_bound: f64,
    /// Tasks a client buffers per core; [1, 1000].
    pub buffer_per_core: u32,
    /// Poll back-off after an empty reply, doubling from `backoff_min` ([1, 86400] s) up to
    /// `backoff_max` ([backoff_min, 10^7] s).
    pub backoff_min: f64,
    pub backoff_max: f64,
    /// Whether a host's back-off carries over its off spell: on coming back it asks at once,
    /// and after an empty reply waits from where it had got to (the authors' XWHEP worker),
    /// instead of from `backoff_min` again.
    pub backoff_survives_off: bool,
    /// What becomes of a workunit's replicas still on volunteers once it is validated.
    pub done_replicas: DoneReplicas,
}

/// The volunteer replicas of a workunit that has its canonical result. Unsent replicas are
/// never sent again in any case (the transitioner marks them OVER, "didn't need").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoneReplicas {
    /// A real BOINC project as `make_project` sets it up (`<send_result_abort>` on): at the
    /// host's next scheduler contact the replicas it has not started are aborted
    /// (`result_abort_if_not_started`, once the workunit is assimilated); one that has started
    /// runs to its end (sched/handle_request.cpp, `send_result_abort`). A host contacts the
    /// scheduler here when it finishes a task (to report it) or asks for work.
    #[default]
    AbortUnstarted,
    /// Every replica runs to its end (a project without `<send_result_abort>`; the authors'
    /// early simulator).
    Run,
    /// Every replica is cancelled at once, as if the server could reach the hosts.
    Cancel,
}

impl Default for BoincParams {
    fn default() -> Self {
        BoincParams {
            target_nresults: 3,
            min_quorum: 2,
            delay_bound: 86400.0,
            buffer_per_core: 3,
            backoff_min: 30.0,
            backoff_max: 300.0,
            backoff_survives_off: false,
            done_replicas: DoneReplicas::AbortUnstarted,
        }
    }
}

/// XtremWeb-HEP server and worker model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XwhepParams {
    /// As for BOINC: [1, 86400] s, then [backoff_min, 10^7] s.
    pub backoff_min: f64,
    pub backoff_max: f64,
    /// As for BOINC.
    pub backoff_survives_off: bool,
    /// Keep-alive period, seconds; [1, 86400].
    pub keepalive: f64,
    /// A worker silent this long after its last keep-alive is timed out, its tasks re-queued;
    /// [1, 10^9] s.
    pub timeout: f64,
}

impl Default for XwhepParams {
    fn default() -> Self {
        XwhepParams {
            backoff_min: 30.0,
            backoff_max: 300.0,
            backoff_survives_off: false,
            keepalive: 60.0,
            timeout: 900.0,
        }
    }
}

/// The Cloud's default speed, a multiple of the mean volunteer speed; the default order is
/// priced at it.
pub const DEFAULT_CLOUD_SPEED: f64 = 3.0;

/// Cloud workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudSpec {
    /// Worker speed as a multiple of the mean volunteer speed; (0, 10^6].
    pub speed_factor: f64,
    /// Boot delay ~ N(boot_mean, boot_sd) clipped to [boot_min, boot_max], seconds; mean and sd
    /// in [0, 10^6], 0 <= boot_min <= boot_max <= 10^6.
    pub boot_mean: f64,
    pub boot_sd: f64,
    pub boot_min: f64,
    pub boot_max: f64,
    /// Credits ordered for the BoT; by default the cost of running `credit_fraction` of the
    /// BoT's work on Cloud workers of speed `credit_speed_factor`. `credits` in [0, 2^53],
    /// `credit_fraction` in [0, 1000].
    pub credits: Option<u64>,
    pub credit_fraction: f64,
    /// The Cloud speed (a multiple of the mean volunteer speed) the default order is priced
    /// at; unset, 3 (the default `speed_factor`) whatever `speed_factor` is, so that a study
    /// of the Cloud's speed does not change the budget with it. (0, 10^6].
    pub credit_speed_factor: Option<f64>,
    /// Revocation model: a running Cloud worker is revoked after an exponential time with this
    /// mean, in hours (spot instances; (0, 10^6]); unset, Cloud workers never fail.
    pub revocation_mean_hours: Option<f64>,
    /// At most this many Cloud workers running at once for all the run's BoTs (a DG's quota
    /// on a shared Cloud); [1, 10^6], unset: no cap. When BoTs ask for more than are free,
    /// `share` decides who gets them.
    pub cap: Option<u32>,
    /// first-come, credits, max-min (per user) or deadline (`spequlos_core::share`).
    pub share: SharePolicy,
    /// With a cap, share the whole cap by `share` and take back (preempt) what a BoT runs
    /// above its share; without, share only the workers that are free.
    pub preempt: bool,
    /// Judge each deadline order at its BoT's arrival from the BoTs of similar size the run
    /// completed before (`spequlos_core::admission`): a refused one runs without SpeQuloS,
    /// its credits given back.
    pub admission: bool,
    /// On-demand, spot or adaptive (`spequlos_core::market`); with spot, the prices below.
    pub market: MarketPolicy,
    pub spot: SpotPrices,
}

/// The spot price a run's Cloud sells at: a mean-reverting log-normal walk with spikes, as
/// the trace generator's spot market (`spequlos_traces::gen::SpotMarket`), drawn from the
/// run's seed on a stream of its own; read only when `cloud.market` is not on-demand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpotPrices {
    /// On-demand price of one worker, dollars/hour: spot prices are billed relative to it;
    /// (0, 10^6]. 0.085: an EC2 m1.small in 2011.
    pub on_demand: f64,
    /// Long-run median spot price, dollars/hour; (0, 10^6].
    pub base: f64,
    /// Stationary standard deviation of ln(price); [0, 10].
    pub volatility: f64,
    /// Correlation of ln(price) between successive changes; [0, 1).
    pub persistence: f64,
    /// Mean time between price changes, hours; (0, 10^4].
    pub change_hours: f64,
    /// Chance a change is a spike, and the spike's multiplier; [0, 1] and [1, 10^4].
    pub spike_prob: f64,
    pub spike_factor: f64,
}

impl Default for SpotPrices {
    fn default() -> Self {
        // The spot10 preset's market.
        SpotPrices {
            on_demand: 0.085,
            base: 0.04,
            volatility: 0.4,
            persistence: 0.8,
            change_hours: 1.0,
            spike_prob: 0.03,
            spike_factor: 8.0,
        }
    }
}

impl SpotPrices {
    /// The price steps `(second, price / on-demand price)` covering `[0, span)`.
    pub fn path(&self, span: f64, seed: u64) -> Vec<(f64, f64)> {
        use rand::SeedableRng;
        let m = spequlos_traces::gen::SpotMarket {
            budget: 0.0,
            base_price: self.base,
            volatility: self.volatility,
            persistence: self.persistence,
            change_mean: self.change_hours,
            spike_prob: self.spike_prob,
            spike_factor: self.spike_factor,
            prices: None,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(5);
        let span = span.clamp(1.0, 1e11) as spequlos_traces::Seconds;
        spequlos_traces::gen::price_path(&m, span, &mut rng)
            .into_iter()
            .map(|(t, p)| (t, p / self.on_demand))
            .collect()
    }

    fn validate(&self) -> Checked {
        check::real_above("on_demand", self.on_demand, 0.0, 1e6, "$/h")?;
        check::real_above("base", self.base, 0.0, 1e6, "$/h")?;
        check::real("volatility", self.volatility, 0.0, 10.0, "")?;
        if !(self.persistence >= 0.0 && self.persistence < 1.0) {
            return Err(FieldError::new(
                "persistence",
                self.persistence,
                "in [0, 1)",
            ));
        }
        check::real_above("change_hours", self.change_hours, 0.0, 1e4, "h")?;
        check::real("spike_prob", self.spike_prob, 0.0, 1.0, "")?;
        check::real("spike_factor", self.spike_factor, 1.0, 1e4, "")
    }
}
impl Default for CloudSpec {
    fn default() -> Self {
        CloudSpec {
            speed_factor: DEFAULT_CLOUD_SPEED,
            boot_mean: 150.0,
            boot_sd: 15.0,
            boot_min: 75.0,
            boot_max: 300.0,
            credits: None,
            credit_fraction: 0.1,
            credit_speed_factor: None,
            revocation_mean_hours: None,
            cap: None,
            share: SharePolicy::default(),
            preempt: false,
            admission: false,
            market: MarketPolicy::default(),
            spot: SpotPrices::default(),
        }
    }
}

/// Options of the volunteer model. `sim/scenarios/original.toml` sets them as the authors'
/// early simulator had them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelOptions {
    /// Start each host a random [0, min(300, len − 1)] s into each of its ON intervals (its
    /// requests and its buffered work alike), as the authors' simulator does (off by default:
    /// it adds noise, not realism).
    pub on_jitter: bool,
    /// Run every volunteer at this speed (ops/s) instead of the trace's speeds; the original
    /// simulator's default is 1000 for all hosts; (0, 10^15].
    pub uniform_speed: Option<f64>,
    /// Simulate every idle poll as an event instead of computing the next successful one.
    /// Results are identical (a test checks it); only slower. For validation.
    pub naive_polling: bool,
}

impl Scenario {
    /// Every parameter as `dotted.key → value`, from the serde form so that new parameters
    /// appear without anyone listing them. Unset options are empty.
    pub fn flatten(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        flatten_into(
            &serde_json::to_value(self).expect("scenarios serialise"),
            "",
            &mut out,
        );
        out
    }

    /// The parameter columns of `runs.csv`: the union of the keys of both middlewares, sorted,
    /// so rows of a sweep that mixes them line up. Computed once: every row written or checked
    /// asks for them.
    pub fn param_columns() -> &'static [String] {
        static COLUMNS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        COLUMNS.get_or_init(Self::compute_param_columns)
    }

    fn compute_param_columns() -> Vec<String> {
        let mut keys: BTreeSet<String> = BTreeSet::new();
        for m in [
            Middleware::Boinc(BoincParams::default()),
            Middleware::Xwhep(XwhepParams::default()),
        ] {
            for w in [
                WorkloadSpec::Small,
                WorkloadSpec::Uniform { count: 1, ops: 1.0 },
                WorkloadSpec::File {
                    path: String::new(),
                },
            ] {
                let sc = Scenario {
                    middleware: m.clone(),
                    workload: w,
                    ..Scenario::default()
                };
                keys.extend(sc.flatten().into_keys());
            }
        }
        keys.into_iter().collect()
    }

    /// Checks every value against its documented range (the field docs); the error names the
    /// field as written in the file.
    pub fn validate(&self) -> Checked {
        self.qos.validate().map_err(|e| e.within("qos"))?;
        self.oracle.validate().map_err(|e| e.within("oracle"))?;
        let t = &self.trace;
        check::int("trace.hosts", t.hosts as u64, 0, 100_000_000)?;
        check::real_above("trace.days", t.days, 0.0, 36500.0, "days")?;
        check::real("trace.offset", t.offset, 0.0, 1e11, "s")?;
        if let Some(v) = t.span.filter(|v| !(1..=100_000_000_000).contains(v)) {
            return Err(FieldError::new(
                "trace.span",
                v,
                "a whole number in [1, 1e11] s",
            ));
        }
        match (t.window_start, t.window_len) {
            (None, None) => {}
            (Some(start), Some(len)) => {
                if !(0..=100_000_000_000).contains(&start) {
                    return Err(FieldError::new("trace.window_start", start, "[0, 1e11] s"));
                }
                if !(1..=100_000_000_000).contains(&len) {
                    return Err(FieldError::new("trace.window_len", len, "[1, 1e11] s"));
                }
            }
            (Some(_), None) => {
                return Err(FieldError::new(
                    "trace.window_len",
                    "unset",
                    "a length, since trace.window_start is set",
                ))
            }
            (None, Some(_)) => {
                return Err(FieldError::new(
                    "trace.window_start",
                    "unset",
                    "a start, since trace.window_len is set",
                ))
            }
        }
        let c = &self.cloud;
        check::real_above("cloud.speed_factor", c.speed_factor, 0.0, 1e6, "")?;
        check::real_above("cloud.boot_max", c.boot_max, 0.0, 1e6, "s")?;
        check::real(
            "cloud.boot_min",
            c.boot_min,
            0.0,
            c.boot_max,
            "s (at most boot_max)",
        )?;
        check::real("cloud.boot_mean", c.boot_mean, 0.0, 1e6, "s")?;
        check::real("cloud.boot_sd", c.boot_sd, 0.0, 1e6, "s")?;
        check::opt(c.credits, |v| {
            check::int("cloud.credits", v, 0, MAX_CREDITS)
        })?;
        check::real("cloud.credit_fraction", c.credit_fraction, 0.0, 1000.0, "")?;
        check::opt(c.credit_speed_factor, |v| {
            check::real_above("cloud.credit_speed_factor", v, 0.0, 1e6, "")
        })?;
        check::opt(c.revocation_mean_hours, |v| {
            check::real_above("cloud.revocation_mean_hours", v, 0.0, 1e6, "h")
        })?;
        check::opt(c.cap, |v| check::int("cloud.cap", v.into(), 1, 1_000_000))?;
        c.market.validate().map_err(|e| e.within("cloud.market"))?;
        c.spot.validate().map_err(|e| e.within("cloud.spot"))?;
        check::opt(self.model.uniform_speed, |v| {
            check::real_above("model.uniform_speed", v, 0.0, 1e15, "ops/s")
        })?;
        if !(self.ideal_fraction > 0.0 && self.ideal_fraction < 1.0) {
            return Err(FieldError::new(
                "ideal_fraction",
                self.ideal_fraction,
                "a number in (0, 1)",
            ));
        }
        self.workload.validate().map_err(|e| e.within("workload"))?;
        match &self.middleware {
            Middleware::Boinc(b) => b.validate(),
            Middleware::Xwhep(x) => x.validate(),
        }
        .map_err(|e| e.within("middleware"))
    }
}

impl BoincParams {
    pub fn validate(&self) -> Checked {
        check::int("target_nresults", self.target_nresults.into(), 1, 100)?;
        check::int(
            "min_quorum",
            self.min_quorum.into(),
            1,
            self.target_nresults.into(),
        )?;
        check::real("delay_bound", self.delay_bound, 60.0, 1e9, "s")?;
        check::int("buffer_per_core", self.buffer_per_core.into(), 1, 1000)?;
        check_backoff(self.backoff_min, self.backoff_max)
    }
}

/// Both middlewares' poll back-off: `min` in [1, 86400] s, `max` in [min, 10^7] s.
fn check_backoff(min: f64, max: f64) -> Checked {
    check::real("backoff_min", min, 1.0, 86400.0, "s")?;
    check::real("backoff_max", max, min, 1e7, "s (at least backoff_min)")
}

impl XwhepParams {
    pub fn validate(&self) -> Checked {
        check_backoff(self.backoff_min, self.backoff_max)?;
        check::real("keepalive", self.keepalive, 1.0, 86400.0, "s")?;
        check::real("timeout", self.timeout, 1.0, 1e9, "s")
    }
}

fn flatten_into(v: &serde_json::Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_into(v, &key, out);
            }
        }
        Value::Null => {
            out.insert(prefix.to_string(), String::new());
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_is_in_the_reference_page() {
        let page = include_str!("../../docs/scenario.md");
        let missing: Vec<&String> = Scenario::param_columns()
            .iter()
            .filter(|c| !page.contains(&format!("`{c}`")))
            .collect();
        assert!(missing.is_empty(), "docs/scenario.md lacks {missing:?}");
    }

    #[test]
    fn every_parameter_is_a_column() {
        let cols = Scenario::param_columns();
        for key in [
            "seed",
            "strategy",
            "trace.preset",
            "trace.offset",
            "middleware.kind",
            "middleware.min_quorum",
            "middleware.timeout",
            "workload.kind",
            "workload.count",
            "qos.tick",
            "qos.kappa",
            "cloud.speed_factor",
            "cloud.boot_mean",
            "cloud.revocation_mean_hours",
            "oracle.target_success",
            "model.naive_polling",
            "ideal_fraction",
        ] {
            assert!(cols.iter().any(|c| c == key), "{key} missing from {cols:?}");
        }
        let flat = Scenario::default().flatten();
        assert_eq!(flat["strategy"], "9C-G-D");
        assert_eq!(flat["middleware.kind"], "boinc");
        assert_eq!(flat["cloud.credits"], "");
        assert!(flat.keys().all(|k| cols.contains(k)));
    }
}
