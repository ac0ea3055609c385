//! Ranges for configuration values, checked when a file is loaded.
//!
//! Every numeric parameter of a scenario, sweep spec, generator config, Oracle or server config
//! has a documented range; the `validate` method of its struct checks each field with the
//! helpers here, so the error names the field (`qos.tick`), the value given and the range
//! allowed. The bounds keep the work a run can ask for finite and the arithmetic exact: NaN,
//! infinities and values that would make a simulation hang or allocate without bound are
//! refused before anything runs.

use std::fmt::Display;

/// A configuration value outside its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} = {value}: must be {rule}")]
pub struct FieldError {
    /// Dotted path of the field, as written in the file (`cloud.boot_sd`).
    pub field: String,
    /// The value as given.
    pub value: String,
    /// What is allowed, in words (`a number in [1, 86400] (seconds)`).
    pub rule: String,
}

impl FieldError {
    pub fn new(field: &str, value: impl Display, rule: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_string(),
            value: value.to_string(),
            rule: rule.into(),
        }
    }

    /// Puts the field under the table it was read from: `tick` → `qos.tick`.
    pub fn within(mut self, table: &str) -> FieldError {
        if !table.is_empty() {
            self.field = format!("{table}.{}", self.field);
        }
        self
    }
}

pub type Checked = Result<(), FieldError>;

/// `lo <= v <= hi`, `v` finite. `unit` ends the rule (`"s"`, `"ops"`, or empty).
pub fn real(field: &str, v: f64, lo: f64, hi: f64, unit: &str) -> Checked {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            v,
            format!("a number in [{lo}, {hi}]{}", unit_suffix(unit)),
        ))
    }
}

/// `lo < v <= hi`, `v` finite.
pub fn real_above(field: &str, v: f64, lo: f64, hi: f64, unit: &str) -> Checked {
    if v.is_finite() && v > lo && v <= hi {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            v,
            format!("a number in ({lo}, {hi}]{}", unit_suffix(unit)),
        ))
    }
}

/// `lo <= v <= hi` for a whole number.
pub fn int(field: &str, v: u64, lo: u64, hi: u64) -> Checked {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            v,
            format!("a whole number in [{lo}, {hi}]"),
        ))
    }
}

/// An optional value checked with `f` when present.
pub fn opt<T: Copy>(v: Option<T>, f: impl FnOnce(T) -> Checked) -> Checked {
    v.map_or(Ok(()), f)
}

fn unit_suffix(unit: &str) -> String {
    if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    }
}

/// Limits on the size of the work one command may ask for, checked before anything is
/// allocated. They are far above what the papers' experiments use; a bigger study raises them
/// with the command line's `--limit NAME=VALUE`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Hosts × days of trace to generate or load.
    pub host_days: f64,
    /// Tasks in one BoT.
    pub tasks: u64,
    /// Runs in one sweep.
    pub runs: u64,
    /// Intervals of availability one trace may unroll to (looping profiles, generators).
    pub intervals: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            host_days: 1e9,
            tasks: 10_000_000,
            runs: 10_000_000,
            intervals: 500_000_000,
        }
    }
}

/// A request beyond a [`Limits`] bound.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what}: {asked} is over the limit of {limit} (raise it with --limit {name}=N)")]
pub struct LimitError {
    pub what: String,
    pub asked: String,
    pub limit: String,
    pub name: &'static str,
}

/// A `--limit` argument that is not `NAME=VALUE` with a known name and a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--limit {spec}: {why}")]
pub struct LimitSpecError {
    pub spec: String,
    pub why: String,
}

impl Limits {
    /// Names accepted by `--limit`.
    pub const NAMES: [&'static str; 4] = ["host_days", "tasks", "runs", "intervals"];

    /// Sets one limit from `NAME=VALUE`.
    pub fn set(&mut self, spec: &str) -> Result<(), LimitSpecError> {
        let bad = |why: String| LimitSpecError {
            spec: spec.to_string(),
            why,
        };
        let (name, value) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=VALUE".into()))?;
        let v: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| bad(format!("{value} is not a number >= 0")))?;
        match name.trim() {
            "host_days" => self.host_days = v,
            "tasks" => self.tasks = v as u64,
            "runs" => self.runs = v as u64,
            "intervals" => self.intervals = v as u64,
            other => {
                return Err(bad(format!(
                    "unknown limit `{other}` (one of {})",
                    Self::NAMES.join(", ")
                )))
            }
        }
        Ok(())
    }

    pub fn check_host_days(&self, what: &str, hosts: f64, days: f64) -> Result<(), LimitError> {
        let asked = hosts * days;
        if asked <= self.host_days {
            Ok(())
        } else {
            Err(LimitError {
                what: what.into(),
                asked: format!("{hosts} hosts × {days} days = {asked:e} host-days"),
                limit: format!("{:e}", self.host_days),
                name: "host_days",
            })
        }
    }

    /// `asked` tasks in one BoT.
    pub fn check_tasks(&self, what: &str, asked: u64) -> Result<(), LimitError> {
        count(self.tasks, "tasks", what, asked)
    }

    /// `asked` runs in one sweep.
    pub fn check_runs(&self, what: &str, asked: u64) -> Result<(), LimitError> {
        count(self.runs, "runs", what, asked)
    }

    /// About `asked` intervals in one trace (an estimate: any float is accepted).
    pub fn check_intervals(&self, what: &str, asked: f64) -> Result<(), LimitError> {
        if asked <= self.intervals as f64 {
            Ok(())
        } else {
            Err(LimitError {
                what: what.into(),
                asked: format!("about {asked:.3e} intervals"),
                limit: self.intervals.to_string(),
                name: "intervals",
            })
        }
    }
}

fn count(limit: u64, name: &'static str, what: &str, asked: u64) -> Result<(), LimitError> {
    if asked <= limit {
        Ok(())
    } else {
        Err(LimitError {
            what: what.into(),
            asked: asked.to_string(),
            limit: limit.to_string(),
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_refuse_nan_infinity_and_bounds() {
        assert!(real("x", 1.0, 0.0, 1.0, "").is_ok());
        for bad in [f64::NAN, f64::INFINITY, -0.1, 1.1] {
            assert!(real("x", bad, 0.0, 1.0, "").is_err(), "{bad}");
        }
        assert!(real_above("x", 0.0, 0.0, 1.0, "s").is_err());
        let e = real_above("tick", 1e-9, 0.5, 86400.0, "s")
            .unwrap_err()
            .within("qos");
        assert_eq!(
            e.to_string(),
            "qos.tick = 0.000000001: must be a number in (0.5, 86400] s"
        );
        assert!(int("n", 0, 1, 5).is_err());
        assert!(opt(None::<f64>, |v| real("o", v, 0.0, 1.0, "")).is_ok());
    }

    #[test]
    fn limits_name_the_flag() {
        let mut l = Limits::default();
        let e = l.check_runs("sweep", u64::MAX).unwrap_err();
        assert!(e.to_string().contains("--limit runs=N"), "{e}");
        l.set("runs=1e20").unwrap();
        assert!(l.check_runs("sweep", 1 << 40).is_ok());
        assert!(l.check_intervals("trace", f64::INFINITY).is_err());
        assert!(l.check_tasks("bot", 10_000_001).is_err());
        assert!(l.set("nope=1").is_err());
        assert!(l.set("runs=-1").is_err());
        assert!(l.check_host_days("trace", 1e12, 1.0).is_err());
    }
}
