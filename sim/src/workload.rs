//! Bag-of-Tasks workloads: the tasks of one BoT, with submission times and sizes.

use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use serde::{Deserialize, Serialize};

/// One task: when it is submitted (seconds after the BoT starts) and its size in operations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub submit: f64,
    pub ops: f64,
}

/// Which workload to simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum WorkloadSpec {
    /// 1000 tasks of 3.6e6 operations (one hour at 1000 ops/s), all at t = 0.
    Small,
    /// 10000 tasks of 3.6e5 operations, all at t = 0.
    Big,
    /// A random BoT (see [`random`]).
    Random,
    /// `count` tasks of `ops` operations at t = 0.
    Uniform { count: u32, ops: f64 },
    /// The original simulator's job file: one `submit_time size_ops` line per task.
    File { path: String },
}

impl WorkloadSpec {
    /// Short name for tables and CSV.
    pub fn label(&self) -> String {
        match self {
            WorkloadSpec::Small => "small".into(),
            WorkloadSpec::Big => "big".into(),
            WorkloadSpec::Random => "random".into(),
            WorkloadSpec::Uniform { count, ops } => format!("uniform-{count}x{ops}"),
            WorkloadSpec::File { path } => path.clone(),
        }
    }

    /// `small`, `big`, `random`, or a path to a job file.
    pub fn parse(s: &str) -> WorkloadSpec {
        match s {
            "small" => WorkloadSpec::Small,
            "big" => WorkloadSpec::Big,
            "random" => WorkloadSpec::Random,
            path => WorkloadSpec::File { path: path.into() },
        }
    }

    /// The tasks, sorted by submission time (ties keep file order).
    pub fn tasks(&self, rng: &mut ChaCha8Rng) -> Result<Vec<TaskSpec>, String> {
        let mut tasks = match self {
            WorkloadSpec::Small => vec![
                TaskSpec {
                    submit: 0.0,
                    ops: 3.6e6
                };
                1000
            ],
            WorkloadSpec::Big => vec![
                TaskSpec {
                    submit: 0.0,
                    ops: 3.6e5
                };
                10000
            ],
            WorkloadSpec::Uniform { count, ops } => {
                if *count == 0 || !(ops.is_finite() && *ops > 0.0) {
                    return Err("uniform workload needs count > 0 and ops > 0".into());
                }
                vec![
                    TaskSpec {
                        submit: 0.0,
                        ops: *ops
                    };
                    *count as usize
                ]
            }
            WorkloadSpec::Random => random(rng),
            WorkloadSpec::File { path } => read_job_file(Path::new(path))?,
        };
        tasks.sort_by(|a, b| a.submit.total_cmp(&b.submit));
        Ok(tasks)
    }
}

/// A random BoT. The papers draw it from the BoT model of Minh & Wolters (HPDC'11), whose
/// parameters we do not have; our assumptions, in its spirit (tasks of one BoT are similar in
/// size and arrive in a burst):
/// - task count: log-uniform in [500, 5000];
/// - task size: log-normal with median 1.8e6 operations (30 min at 1000 ops/s), sigma 0.5;
/// - arrivals: the first at t = 0, then exponential gaps with mean 2 s.
pub fn random(rng: &mut ChaCha8Rng) -> Vec<TaskSpec> {
    let count = (500f64.ln() + rng.random::<f64>() * (5000f64.ln() - 500f64.ln()))
        .exp()
        .round() as usize;
    let size = LogNormal::new(1.8e6f64.ln(), 0.5).expect("valid");
    let gap = Exp::new(0.5).expect("valid");
    let mut t = 0.0;
    (0..count)
        .map(|i| {
            if i > 0 {
                t += gap.sample(rng);
            }
            TaskSpec {
                submit: t,
                ops: size.sample(rng),
            }
        })
        .collect()
}

fn read_job_file(path: &Path) -> Result<Vec<TaskSpec>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let at = |field: &str, msg: String| format!("{}:{}: {field}: {msg}", path.display(), i + 1);
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 2 {
            return Err(at(
                "line",
                format!("expected `submit_time size_ops`, found `{l}`"),
            ));
        }
        let submit: f64 = f[0]
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                at(
                    "submit_time",
                    format!("expected seconds >= 0, found `{}`", f[0]),
                )
            })?;
        let ops: f64 = f[1]
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0)
            .ok_or_else(|| {
                at(
                    "size_ops",
                    format!("expected a positive number, found `{}`", f[1]),
                )
            })?;
        out.push(TaskSpec { submit, ops });
    }
    if out.is_empty() {
        return Err(format!("{}: no task in the job file", path.display()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn named_workloads() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let small = WorkloadSpec::Small.tasks(&mut rng).unwrap();
        assert_eq!((small.len(), small[0].ops), (1000, 3.6e6));
        assert_eq!(WorkloadSpec::Big.tasks(&mut rng).unwrap().len(), 10000);
        let r = WorkloadSpec::Random.tasks(&mut rng).unwrap();
        assert!((500..=5000).contains(&r.len()));
        assert!(r.windows(2).all(|w| w[0].submit <= w[1].submit));
    }

    #[test]
    fn job_file_errors_name_the_line() {
        let dir = std::env::temp_dir().join(format!("spequlos-jobs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("jobs.txt");
        std::fs::write(&p, "0 100\n# c\n5 x\n").unwrap();
        let spec = WorkloadSpec::File {
            path: p.to_string_lossy().into(),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let e = spec.tasks(&mut rng).unwrap_err();
        assert!(e.contains("jobs.txt:3: size_ops"), "{e}");
        std::fs::write(&p, "10 100\n0 200\n").unwrap();
        let t = spec.tasks(&mut rng).unwrap();
        assert_eq!(
            t[0],
            TaskSpec {
                submit: 0.0,
                ops: 200.0
            }
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
