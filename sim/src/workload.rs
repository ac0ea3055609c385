//! Bag-of-Tasks workloads: the tasks of one BoT, with submission times and sizes.

use std::io::{BufRead, Read};
use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use serde::{Deserialize, Serialize};
use spequlos_check::{self as check, Checked, Limits};

use crate::run::SimError;

/// The largest task, in operations (a year at 3·10^10 ops/s).
pub const MAX_OPS: f64 = 1e18;
/// The latest submission time in a job file, seconds (about 3,000 years).
pub const MAX_SUBMIT: f64 = 1e11;

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
    /// Several users' BoTs sharing the grid: one `arrival user bot_size task_size` line per
    /// BoT (`stream.rs`).
    Stream { path: String },
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
            WorkloadSpec::Stream { path } => format!("stream:{path}"),
        }
    }

    /// Whether this is a stream of BoTs rather than one BoT.
    pub fn is_stream(&self) -> bool {
        matches!(self, WorkloadSpec::Stream { .. })
    }

    /// `small`, `big`, `random`, `stream:PATH` (a stream file), or a path to a job file.
    pub fn parse(s: &str) -> WorkloadSpec {
        match s {
            "small" => WorkloadSpec::Small,
            "big" => WorkloadSpec::Big,
            "random" => WorkloadSpec::Random,
            s => match s.strip_prefix("stream:") {
                Some(path) => WorkloadSpec::Stream { path: path.into() },
                None => WorkloadSpec::File { path: s.into() },
            },
        }
    }

    /// Checks the parameters of a uniform workload: `count` >= 1 (and within `--limit
    /// tasks`), `ops` in (0, 10^18].
    pub fn validate(&self) -> Checked {
        if let WorkloadSpec::Uniform { count, ops } = self {
            check::int("count", u64::from(*count), 1, u64::from(u32::MAX))?;
            check::real_above("ops", *ops, 0.0, MAX_OPS, "ops")?;
        }
        Ok(())
    }

    /// The tasks, sorted by submission time (ties keep file order). More than `limits.tasks`
    /// is refused before they are made.
    pub fn tasks(&self, rng: &mut ChaCha8Rng, limits: &Limits) -> Result<Vec<TaskSpec>, SimError> {
        let limit = |n: u64| limits.check_tasks(&format!("workload `{}`", self.label()), n);
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
                self.validate().map_err(|e| e.within("workload"))?;
                limit(u64::from(*count))?;
                vec![
                    TaskSpec {
                        submit: 0.0,
                        ops: *ops
                    };
                    *count as usize
                ]
            }
            WorkloadSpec::Random => random(rng),
            WorkloadSpec::File { path } => read_job_file(Path::new(path), limits.tasks)?,
            WorkloadSpec::Stream { path } => crate::stream::read(Path::new(path), limits)?.1,
        };
        limit(tasks.len() as u64)?;
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

fn read_job_file(path: &Path, max_tasks: u64) -> Result<Vec<TaskSpec>, SimError> {
    let input = |msg: String| SimError::Input(format!("{}: {msg}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| input(e.to_string()))?;
    let mut out = Vec::new();
    let mut reader = std::io::BufReader::new(file);
    let mut line = String::new();
    let mut i = 0u64;
    loop {
        line.clear();
        // Lines are short; a "line" of megabytes is not a job file.
        let n = (&mut reader)
            .take(1 << 16)
            .read_line(&mut line)
            .map_err(|e| input(format!("line {}: {e}", i + 1)))?;
        if n == 0 {
            break;
        }
        i += 1;
        if n == 1 << 16 && !line.ends_with('\n') {
            return Err(input(format!("line {i}: longer than 64 KiB")));
        }
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let at = |field: &str, msg: String| {
            SimError::Input(format!("{}:{i}: {field}: {msg}", path.display()))
        };
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
            .filter(|v: &f64| (0.0..=MAX_SUBMIT).contains(v))
            .ok_or_else(|| {
                at(
                    "submit_time",
                    format!("expected seconds in [0, {MAX_SUBMIT:e}], found `{}`", f[0]),
                )
            })?;
        let ops: f64 = f[1]
            .parse()
            .ok()
            .filter(|v: &f64| *v > 0.0 && *v <= MAX_OPS)
            .ok_or_else(|| {
                at(
                    "size_ops",
                    format!("expected a number in (0, {MAX_OPS:e}], found `{}`", f[1]),
                )
            })?;
        if out.len() as u64 >= max_tasks {
            return Err(input(format!(
                "more than {max_tasks} tasks (raise the limit with --limit tasks=N)"
            )));
        }
        out.push(TaskSpec { submit, ops });
    }
    if out.is_empty() {
        return Err(input("no task in the job file".into()));
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
        let small = WorkloadSpec::Small
            .tasks(&mut rng, &Limits::default())
            .unwrap();
        assert_eq!((small.len(), small[0].ops), (1000, 3.6e6));
        assert_eq!(
            WorkloadSpec::Big
                .tasks(&mut rng, &Limits::default())
                .unwrap()
                .len(),
            10000
        );
        let r = WorkloadSpec::Random
            .tasks(&mut rng, &Limits::default())
            .unwrap();
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
        let e = spec
            .tasks(&mut rng, &Limits::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("jobs.txt:3: size_ops"), "{e}");
        std::fs::write(&p, "10 100\n0 200\n").unwrap();
        let t = spec.tasks(&mut rng, &Limits::default()).unwrap();
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
