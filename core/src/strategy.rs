//! Strategy names: `<trigger>-<sizing>-<usage>` or `none`.
//!
//! | part    | tokens | meaning |
//! |---------|--------|---------|
//! | trigger | `9C`, `9A` (any `NC`/`NA`, N one digit = N×10 %, two digits = N %), `D`, `T` | completion ratio, first-assignment ratio, execution variance, tail rate |
//! | sizing  | `G`, `C`, `F<n>` | greedy, conservative, fixed n workers |
//! | usage   | `F`, `R`, `D` | flat, reschedule, cloud duplication |

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// When to start Cloud workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// Completed / total ≥ percent.
    Completion { percent: u8 },
    /// Assigned at least once / total ≥ percent.
    Assignment { percent: u8 },
    /// Assign-to-complete delay of the second half exceeds κ × the first half's maximum.
    Variance,
    /// Completion rate over a sliding window falls below ρ × the 10 %–50 % rate.
    TailRate,
}

/// How many Cloud workers to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sizing {
    /// As many as the credits pay for one billing hour.
    Greedy,
    /// As many as the credits sustain until the predicted end (at least one hour).
    Conservative,
    Fixed(u32),
}

/// How Cloud workers are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Usage {
    /// Cloud workers pull from the normal queue like any volunteer.
    Flat,
    /// Cloud workers take never-assigned tasks first, else a duplicate of a task running on a
    /// volunteer, rotating.
    Reschedule,
    /// Every uncompleted task is copied to a Cloud-only queue; first result wins.
    Duplicate,
}

/// A complete strategy, or no QoS at all (the baseline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    None,
    Qos {
        trigger: Trigger,
        sizing: Sizing,
        usage: Usage,
    },
}

impl Strategy {
    pub fn is_none(&self) -> bool {
        matches!(self, Strategy::None)
    }

    pub fn usage(&self) -> Option<Usage> {
        match self {
            Strategy::None => None,
            Strategy::Qos { usage, .. } => Some(*usage),
        }
    }

    /// The 18 combinations of the HPDC'12 evaluation (9C/9A/D × G/C × F/R/D).
    pub fn paper_grid() -> Vec<Strategy> {
        let mut out = Vec::new();
        for trigger in [
            Trigger::Completion { percent: 90 },
            Trigger::Assignment { percent: 90 },
            Trigger::Variance,
        ] {
            for sizing in [Sizing::Greedy, Sizing::Conservative] {
                for usage in [Usage::Flat, Usage::Reschedule, Usage::Duplicate] {
                    out.push(Strategy::Qos {
                        trigger,
                        sizing,
                        usage,
                    });
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid strategy `{name}`: {why} (examples: 9A-G-D, 9C-C-R, D-G-F, T-C-D, 9A-F10-D, none)"
)]
pub struct StrategyParseError {
    name: String,
    why: String,
}

fn parse_percent(digits: &str) -> Option<u8> {
    match digits.len() {
        1 => digits
            .parse::<u8>()
            .ok()
            .filter(|&d| d >= 1)
            .map(|d| d * 10),
        2 => digits.parse::<u8>().ok().filter(|&d| (1..=99).contains(&d)),
        _ => None,
    }
}

/// A trigger name that is none of `D`, `T`, `<n>C` or `<n>A` (n in 1–9 tens, or 01–99 %).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown trigger `{0}`")]
pub struct UnknownTrigger(pub String);

impl FromStr for Trigger {
    type Err = UnknownTrigger;
    fn from_str(s: &str) -> Result<Self, UnknownTrigger> {
        match s {
            "D" => return Ok(Trigger::Variance),
            "T" => return Ok(Trigger::TailRate),
            _ => {}
        }
        let unknown = || UnknownTrigger(s.to_string());
        let (digits, kind) = s.split_at(s.len().saturating_sub(1));
        let percent = parse_percent(digits).ok_or_else(unknown)?;
        match kind {
            "C" => Ok(Trigger::Completion { percent }),
            "A" => Ok(Trigger::Assignment { percent }),
            _ => Err(unknown()),
        }
    }
}

impl FromStr for Strategy {
    type Err = StrategyParseError;
    fn from_str(s: &str) -> Result<Self, StrategyParseError> {
        let err = |why: String| StrategyParseError {
            name: s.to_string(),
            why,
        };
        if s.eq_ignore_ascii_case("none") {
            return Ok(Strategy::None);
        }
        let parts: Vec<&str> = s.split('-').collect();
        let [t, z, u] = parts[..] else {
            return Err(err("expected three parts <trigger>-<sizing>-<usage>".into()));
        };
        let trigger = t.parse().map_err(|e: UnknownTrigger| err(e.to_string()))?;
        let sizing = match z {
            "G" => Sizing::Greedy,
            "C" => Sizing::Conservative,
            f if f.starts_with('F') => {
                Sizing::Fixed(f[1..].parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    err(format!("fixed sizing `{f}` needs a worker count, e.g. F10"))
                })?)
            }
            other => return Err(err(format!("unknown sizing `{other}` (G, C or F<n>)"))),
        };
        let usage = match u {
            "F" => Usage::Flat,
            "R" => Usage::Reschedule,
            "D" => Usage::Duplicate,
            other => return Err(err(format!("unknown usage `{other}` (F, R or D)"))),
        };
        Ok(Strategy::Qos {
            trigger,
            sizing,
            usage,
        })
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |p: u8| {
            if p.is_multiple_of(10) {
                (p / 10).to_string()
            } else {
                p.to_string()
            }
        };
        match self {
            Trigger::Completion { percent } => write!(f, "{}C", pct(*percent)),
            Trigger::Assignment { percent } => write!(f, "{}A", pct(*percent)),
            Trigger::Variance => f.write_str("D"),
            Trigger::TailRate => f.write_str("T"),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::None => f.write_str("none"),
            Strategy::Qos {
                trigger,
                sizing,
                usage,
            } => {
                let z = match sizing {
                    Sizing::Greedy => "G".to_string(),
                    Sizing::Conservative => "C".to_string(),
                    Sizing::Fixed(n) => format!("F{n}"),
                };
                let u = match usage {
                    Usage::Flat => "F",
                    Usage::Reschedule => "R",
                    Usage::Duplicate => "D",
                };
                write!(f, "{trigger}-{z}-{u}")
            }
        }
    }
}

impl Serialize for Strategy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Strategy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "9A-G-D",
            "9C-C-R",
            "D-G-F",
            "T-C-D",
            "none",
            "95C-F10-R",
            "5A-G-F",
        ] {
            let s: Strategy = name.parse().unwrap();
            assert_eq!(s.to_string(), name);
        }
        assert_eq!(
            "9A-G-D".parse::<Strategy>().unwrap(),
            Strategy::Qos {
                trigger: Trigger::Assignment { percent: 90 },
                sizing: Sizing::Greedy,
                usage: Usage::Duplicate
            }
        );
        assert_eq!(Strategy::paper_grid().len(), 18);
    }

    #[test]
    fn bad_names_say_why() {
        for (bad, why) in [
            ("9X-G-D", "trigger"),
            ("9A-Q-D", "sizing"),
            ("9A-G-Z", "usage"),
            ("9A-G", "three parts"),
            ("9A-F0-D", "worker count"),
            ("100C-G-D", "trigger"),
            ("", "three parts"),
        ] {
            let e = bad.parse::<Strategy>().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
