//! Scenario files (TOML): every field has a default, unknown fields are errors.
//!
//! ```toml
//! seed = 1
//! strategy = "9A-G-D"
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
use spequlos_core::{OracleParams, QosParams, Strategy};

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
    /// Fraction of completion from which t_ideal is extrapolated.
    pub ideal_fraction: f64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            seed: 1,
            trace: TraceSpec::default(),
            middleware: Middleware::Boinc(BoincParams::default()),
            workload: WorkloadSpec::Small,
            strategy: "9A-G-D".parse().expect("valid"),
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
    /// Hosts to generate (or to keep from a file, first N; 0 keeps all).
    pub hosts: usize,
    /// Days to generate.
    pub days: f64,
    /// Seed of the generated trace, separate from the run seed so that runs share one trace.
    pub seed: u64,
    /// Seconds into the trace at which the BoT is submitted.
    pub offset: f64,
    /// Span of a trace file that does not give one (looping SimGrid profiles), seconds.
    pub span: Option<i64>,
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

impl Middleware {
    pub fn name(&self) -> &'static str {
        match self {
            Middleware::Boinc(_) => "boinc",
            Middleware::Xwhep(_) => "xwhep",
        }
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
    /// Replicas created per workunit.
    pub target_nresults: u32,
    /// Successful replicas that validate a workunit.
    pub min_quorum: u32,
    /// Seconds before an unreturned replica is re-issued.
    pub delay_bound: f64,
    /// Tasks a client buffers per core.
    pub buffer_per_core: u32,
    pub backoff_min: f64,
    pub backoff_max: f64,
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
        }
    }
}

/// XtremWeb-HEP server and worker model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XwhepParams {
    pub backoff_min: f64,
    pub backoff_max: f64,
    /// Keep-alive period, seconds.
    pub keepalive: f64,
    /// A worker silent this long after its last keep-alive is timed out, its tasks re-queued.
    pub timeout: f64,
}

impl Default for XwhepParams {
    fn default() -> Self {
        XwhepParams {
            backoff_min: 30.0,
            backoff_max: 300.0,
            keepalive: 60.0,
            timeout: 900.0,
        }
    }
}

/// Cloud workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudSpec {
    /// Worker speed as a multiple of the mean volunteer speed.
    pub speed_factor: f64,
    /// Boot delay ~ N(boot_mean, boot_sd) clipped to [boot_min, boot_max], seconds.
    pub boot_mean: f64,
    pub boot_sd: f64,
    pub boot_min: f64,
    pub boot_max: f64,
    /// Credits ordered for the BoT; by default the cost of running `credit_fraction` of the
    /// BoT's work on Cloud workers.
    pub credits: Option<u64>,
    pub credit_fraction: f64,
    /// Revocation model: a running Cloud worker is revoked after an exponential time with this
    /// mean, in hours (spot instances); unset, Cloud workers never fail.
    pub revocation_mean_hours: Option<f64>,
}
impl Default for CloudSpec {
    fn default() -> Self {
        CloudSpec {
            speed_factor: 3.0,
            boot_mean: 150.0,
            boot_sd: 15.0,
            boot_min: 75.0,
            boot_max: 300.0,
            credits: None,
            credit_fraction: 0.1,
            revocation_mean_hours: None,
        }
    }
}

/// Options of the volunteer model. `sim/scenarios/original.toml` sets them as the authors'
/// early simulator had them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelOptions {
    /// Delay each host's first request after it comes on by a random [0, min(300, len − 1)] s,
    /// as the authors' simulator does (off by default: it adds noise, not realism).
    pub on_jitter: bool,
    /// Run every volunteer at this speed (ops/s) instead of the trace's speeds; the original
    /// simulator's default is 1000 for all hosts.
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
    /// so rows of a sweep that mixes them line up.
    pub fn param_columns() -> Vec<String> {
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

    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        self.qos.validate().map_err(|e| format!("qos: {e}"))?;
        let c = &self.cloud;
        let pos = |n: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{n} must be > 0, got {v}"))
            }
        };
        pos("cloud.speed_factor", c.speed_factor)?;
        pos("cloud.boot_max", c.boot_max)?;
        if !(c.boot_min >= 0.0 && c.boot_min <= c.boot_max && c.boot_sd >= 0.0) {
            return Err("cloud: need 0 <= boot_min <= boot_max and boot_sd >= 0".into());
        }
        if !(c.credit_fraction >= 0.0 && c.credit_fraction.is_finite()) {
            return Err("cloud.credit_fraction must be >= 0".into());
        }
        if !(self.ideal_fraction > 0.0 && self.ideal_fraction < 1.0) {
            return Err("ideal_fraction must be within (0, 1)".into());
        }
        if let Some(h) = self.cloud.revocation_mean_hours {
            pos("cloud.revocation_mean_hours", h)?;
        }
        if let Some(v) = self.model.uniform_speed {
            pos("model.uniform_speed", v)?;
        }
        if !(self.trace.offset >= 0.0 && self.trace.offset.is_finite()) {
            return Err("trace.offset must be >= 0".into());
        }
        match &self.middleware {
            Middleware::Boinc(b) => {
                if b.min_quorum == 0 || b.target_nresults < b.min_quorum {
                    return Err("middleware: need 1 <= min_quorum <= target_nresults".into());
                }
                if b.buffer_per_core == 0 {
                    return Err("middleware.buffer_per_core must be >= 1".into());
                }
                pos("middleware.delay_bound", b.delay_bound)?;
                pos("middleware.backoff_min", b.backoff_min)?;
                if b.backoff_max < b.backoff_min {
                    return Err("middleware: backoff_max < backoff_min".into());
                }
            }
            Middleware::Xwhep(x) => {
                pos("middleware.backoff_min", x.backoff_min)?;
                pos("middleware.keepalive", x.keepalive)?;
                pos("middleware.timeout", x.timeout)?;
                if x.backoff_max < x.backoff_min {
                    return Err("middleware: backoff_max < backoff_min".into());
                }
            }
        }
        Ok(())
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
        assert_eq!(flat["strategy"], "9A-G-D");
        assert_eq!(flat["middleware.kind"], "boinc");
        assert_eq!(flat["cloud.credits"], "");
        assert!(flat.keys().all(|k| cols.contains(k)));
    }
}
