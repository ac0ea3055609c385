//! Streams of BoTs: several users' BoTs arriving over time on one shared grid, each with its
//! own order and SpeQuloS controller (`workload = { kind = "stream", path = "..." }`).
//!
//! A stream file has one `arrival user bot_size task_size [deadline]` line per BoT: the
//! arrival in seconds after the start of the run, the user's name (letters, digits and
//! `._@-`, at most 64), the number of tasks, their size in operations (every task of a BoT the
//! same size, submitted at its arrival), and optionally the time after its arrival by which
//! its user wants it complete (seconds; the `deadline` share policy serves the earliest).
//! `#` starts a comment line. BoTs are simulated in arrival order, ties in file order.

use std::io::{BufRead, Read};
use std::path::Path;

use spequlos_check::Limits;

use crate::run::SimError;
use crate::workload::{TaskSpec, MAX_OPS, MAX_SUBMIT};

/// The most BoTs one stream may hold.
pub const MAX_BOTS: usize = 1_000_000;

/// One BoT of a run: who submitted it, when, and how many of the run's tasks (taken in order)
/// it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct BotSpec {
    pub user: String,
    pub arrival: f64,
    pub tasks: u32,
    /// Seconds after its arrival by which its user wants it complete.
    pub deadline: Option<f64>,
}

impl BotSpec {
    /// A run's only BoT: every task, from `user` at t = 0.
    pub fn whole(tasks: usize) -> BotSpec {
        BotSpec {
            user: "user".into(),
            arrival: 0.0,
            tasks: tasks as u32,
            deadline: None,
        }
    }
}

fn user_ok(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 64
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

/// Reads a stream file: the BoTs in arrival order and their tasks, in the same order. More
/// than `limits.tasks` tasks in all, or than [`MAX_BOTS`] BoTs, is refused as it is read.
pub fn read(path: &Path, limits: &Limits) -> Result<(Vec<BotSpec>, Vec<TaskSpec>), SimError> {
    let input = |msg: String| SimError::Input(format!("{}: {msg}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| input(e.to_string()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = String::new();
    let mut i = 0u64;
    let mut bots: Vec<(BotSpec, f64)> = Vec::new();
    let mut total = 0u64;
    loop {
        line.clear();
        // Lines are short; a "line" of megabytes is not a stream file.
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
        if !(4..=5).contains(&f.len()) {
            return Err(at(
                "line",
                format!("expected `arrival user bot_size task_size [deadline]`, found `{l}`"),
            ));
        }
        let arrival: f64 = f[0]
            .parse()
            .ok()
            .filter(|v: &f64| (0.0..=MAX_SUBMIT).contains(v))
            .ok_or_else(|| {
                at(
                    "arrival",
                    format!("expected seconds in [0, {MAX_SUBMIT:e}], found `{}`", f[0]),
                )
            })?;
        if !user_ok(f[1]) {
            return Err(at(
                "user",
                format!(
                    "expected 1 to 64 letters, digits or `._@-`, found `{}`",
                    f[1]
                ),
            ));
        }
        let size: u32 = f[2].parse().ok().filter(|&v: &u32| v >= 1).ok_or_else(|| {
            at(
                "bot_size",
                format!("expected a task count >= 1, found `{}`", f[2]),
            )
        })?;
        let ops: f64 = f[3]
            .parse()
            .ok()
            .filter(|v: &f64| *v > 0.0 && *v <= MAX_OPS)
            .ok_or_else(|| {
                at(
                    "task_size",
                    format!("expected operations in (0, {MAX_OPS:e}], found `{}`", f[3]),
                )
            })?;
        let deadline = match f.get(4) {
            None => None,
            Some(v) => Some(
                v.parse()
                    .ok()
                    .filter(|v: &f64| *v > 0.0 && *v <= MAX_SUBMIT)
                    .ok_or_else(|| {
                        at(
                            "deadline",
                            format!("expected seconds in (0, {MAX_SUBMIT:e}], found `{v}`"),
                        )
                    })?,
            ),
        };
        total += u64::from(size);
        if total > limits.tasks {
            return Err(at(
                "bot_size",
                format!(
                    "the stream passes {} tasks (raise the limit with --limit tasks=N)",
                    limits.tasks
                ),
            ));
        }
        if bots.len() >= MAX_BOTS {
            return Err(input(format!("more than {MAX_BOTS} BoTs")));
        }
        let bot = BotSpec {
            user: f[1].to_string(),
            arrival,
            tasks: size,
            deadline,
        };
        bots.push((bot, ops));
    }
    if bots.is_empty() {
        return Err(input("no BoT in the stream file".into()));
    }
    bots.sort_by(|a, b| a.0.arrival.total_cmp(&b.0.arrival));
    let tasks = bots
        .iter()
        .flat_map(|(b, ops)| {
            let t = TaskSpec {
                submit: b.arrival,
                ops: *ops,
            };
            std::iter::repeat_n(t, b.tasks as usize)
        })
        .collect();
    Ok((bots.into_iter().map(|(b, _)| b).collect(), tasks))
}

/// A synthetic stream: Poisson arrivals, users drawn uniformly, BoT sizes uniform or
/// log-uniform in a range, one task size, and a share of the BoTs with a deadline uniform in
/// a range. Each drawn quantity has its own random stream of `seed`, so changing how the
/// deadlines are drawn leaves the arrivals, users and sizes as they were.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamGen {
    /// [1, MAX_BOTS].
    pub bots: usize,
    /// [1, 10^6]; named `u1`, `u2`, ...
    pub users: u32,
    /// Mean time between arrivals, seconds; [0, 10^9] (0: every BoT at t = 0).
    pub mean_gap: f64,
    /// Tasks per BoT, `min <= max`, both in [1, 10^7].
    pub tasks: (u32, u32),
    /// Draw sizes log-uniformly (as many BoTs of 100 to 1000 tasks as of 1000 to 10,000).
    pub log_sizes: bool,
    /// Operations per task; (0, MAX_OPS].
    pub ops: f64,
    /// Seconds after arrival, `min <= max`, both in (0, MAX_SUBMIT]; for `deadline_share` of
    /// the BoTs ([0, 1]).
    pub deadline: (f64, f64),
    pub deadline_share: f64,
    pub seed: u64,
}

/// A generator setting out of its range, named.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {value} is not {rule}")]
pub struct GenError {
    pub field: &'static str,
    pub value: String,
    pub rule: &'static str,
}

impl StreamGen {
    pub fn validate(&self) -> Result<(), GenError> {
        let bad = |field, value: String, rule| Err(GenError { field, value, rule });
        if !(1..=MAX_BOTS).contains(&self.bots) {
            return bad("bots", self.bots.to_string(), "in [1, 10^6]");
        }
        if !(1..=1_000_000).contains(&self.users) {
            return bad("users", self.users.to_string(), "in [1, 10^6]");
        }
        if !(self.mean_gap.is_finite() && (0.0..=1e9).contains(&self.mean_gap)) {
            return bad("mean_gap", self.mean_gap.to_string(), "in [0, 10^9] s");
        }
        let (lo, hi) = self.tasks;
        if !(1 <= lo && lo <= hi && hi <= 10_000_000) {
            return bad(
                "tasks",
                format!("{lo}:{hi}"),
                "MIN:MAX with 1 <= MIN <= MAX <= 10^7",
            );
        }
        if !(self.ops > 0.0 && self.ops <= MAX_OPS) {
            return bad("ops", self.ops.to_string(), "in (0, 1e15]");
        }
        let (dlo, dhi) = self.deadline;
        if !(dlo > 0.0 && dlo <= dhi && dhi <= MAX_SUBMIT) {
            return bad(
                "deadline",
                format!("{dlo}:{dhi}"),
                "MIN:MAX seconds with 0 < MIN <= MAX <= 1e11",
            );
        }
        if !(0.0..=1.0).contains(&self.deadline_share) {
            return bad(
                "deadline_share",
                self.deadline_share.to_string(),
                "in [0, 1]",
            );
        }
        Ok(())
    }

    /// The BoTs, in arrival order (arrivals are whole seconds), each with the task size.
    pub fn generate(&self) -> Result<Vec<(BotSpec, f64)>, GenError> {
        use rand::{Rng, SeedableRng};
        use rand_distr::{Distribution, Exp};
        self.validate()?;
        let rng = |stream: u64| {
            let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
            r.set_stream(stream);
            r
        };
        let (mut arrivals, mut users, mut sizes, mut deadlines) = (rng(1), rng(2), rng(3), rng(4));
        let gap = (self.mean_gap > 0.0).then(|| Exp::new(1.0 / self.mean_gap).expect("validated"));
        let (lo, hi) = self.tasks;
        let (dlo, dhi) = self.deadline;
        let mut t = 0.0f64;
        let mut out = Vec::with_capacity(self.bots);
        for _ in 0..self.bots {
            let tasks = if self.log_sizes && lo < hi {
                let (a, b) = (f64::from(lo).ln(), f64::from(hi + 1).ln());
                (uniform_in(&mut sizes, a, b).exp().floor() as u32).clamp(lo, hi)
            } else {
                sizes.random_range(lo..=hi)
            };
            let user = format!("u{}", users.random_range(1..=self.users));
            let dated = deadlines.random::<f64>() < self.deadline_share;
            let d = deadlines.random_range(dlo..=dhi).round().max(1.0);
            out.push((
                BotSpec {
                    user,
                    arrival: t.floor(),
                    tasks,
                    deadline: dated.then_some(d),
                },
                self.ops,
            ));
            if let Some(g) = &gap {
                t = (t + g.sample(&mut arrivals)).min(MAX_SUBMIT);
            }
        }
        Ok(out)
    }
}

/// A uniform draw in [a, b).
fn uniform_in(rng: &mut rand_chacha::ChaCha8Rng, a: f64, b: f64) -> f64 {
    use rand::Rng;
    a + (b - a) * rng.random::<f64>()
}

/// A stream file of `bots` (the format [`read`] reads), with a header comment.
pub fn format(bots: &[(BotSpec, f64)], header: &str) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for l in header.lines() {
        let _ = writeln!(s, "# {l}");
    }
    s.push_str("# arrival user bot_size task_size [deadline]\n");
    for (b, ops) in bots {
        let _ = write!(s, "{} {} {} {ops:e}", b.arrival, b.user, b.tasks);
        if let Some(d) = b.deadline {
            let _ = write!(s, " {d}");
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("spequlos-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn bots_come_in_arrival_order_with_their_tasks() {
        let p = write(
            "ok.txt",
            "# arrival user bot_size task_size\n3600 bob 2 100 7200\n0 alice 3 50\n3600 carol 1 7\n",
        );
        let (bots, tasks) = read(&p, &Limits::default()).unwrap();
        let users: Vec<&str> = bots.iter().map(|b| b.user.as_str()).collect();
        assert_eq!(users, ["alice", "bob", "carol"], "ties keep file order");
        assert_eq!(bots[1].arrival, 3600.0);
        assert_eq!((bots[0].deadline, bots[1].deadline), (None, Some(7200.0)));
        let sizes: Vec<(f64, f64)> = tasks.iter().map(|t| (t.submit, t.ops)).collect();
        assert_eq!(
            sizes,
            [
                (0.0, 50.0),
                (0.0, 50.0),
                (0.0, 50.0),
                (3600.0, 100.0),
                (3600.0, 100.0),
                (3600.0, 7.0)
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_field() {
        for (text, want) in [
            ("0 a 1\n", "x.txt:1: line"),
            ("0 a 1 5\n-3 b 1 5\n", "x.txt:2: arrival"),
            ("0 a,b 1 5\n", "x.txt:1: user"),
            ("0 a 0 5\n", "x.txt:1: bot_size"),
            ("0 a 1 0\n", "x.txt:1: task_size"),
            ("0 a 1 nan\n", "x.txt:1: task_size"),
            ("0 a 1 5 -1\n", "x.txt:1: deadline"),
            ("0 a 1 5 9 9\n", "x.txt:1: line"),
            ("# nothing\n", "no BoT"),
        ] {
            let p = write("x.txt", text);
            let e = read(&p, &Limits::default()).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let p = write("x.txt", "0 a 6 5\n1 b 6 5\n");
        let limits = Limits {
            tasks: 10,
            ..Limits::default()
        };
        let e = read(&p, &limits).unwrap_err().to_string();
        assert!(
            e.contains("x.txt:2: bot_size") && e.contains("10 tasks"),
            "{e}"
        );
    }

    #[test]
    fn a_generated_stream_reads_back_and_each_draw_has_its_own_stream() {
        let g = StreamGen {
            bots: 200,
            users: 7,
            mean_gap: 1800.0,
            tasks: (100, 1000),
            log_sizes: true,
            ops: 3.6e6,
            deadline: (6.0 * 3600.0, 48.0 * 3600.0),
            deadline_share: 0.5,
            seed: 7,
        };
        let bots = g.generate().unwrap();
        assert_eq!(bots, g.generate().unwrap(), "deterministic");
        let path = write("gen.txt", &format(&bots, "test stream"));
        let (read_back, tasks) = read(&path, &Limits::default()).unwrap();
        assert_eq!(
            read_back,
            bots.iter().map(|b| b.0.clone()).collect::<Vec<_>>()
        );
        assert_eq!(
            tasks.len() as u32,
            bots.iter().map(|b| b.0.tasks).sum::<u32>()
        );
        assert!(bots.iter().all(|(b, _)| (100..=1000).contains(&b.tasks)));
        assert!(bots.windows(2).all(|w| w[0].0.arrival <= w[1].0.arrival));
        let dated = bots.iter().filter(|b| b.0.deadline.is_some()).count();
        assert!((70..=130).contains(&dated), "{dated} of 200");
        // Log-uniform: about as many BoTs under 316 tasks as above.
        let small = bots.iter().filter(|b| b.0.tasks < 316).count();
        assert!((70..=130).contains(&small), "{small} of 200");
        // Without deadlines: the same arrivals, users and sizes.
        let undated = StreamGen {
            deadline_share: 0.0,
            ..g.clone()
        }
        .generate()
        .unwrap();
        for (a, b) in bots.iter().zip(&undated) {
            assert_eq!(
                (&a.0.user, a.0.arrival, a.0.tasks),
                (&b.0.user, b.0.arrival, b.0.tasks)
            );
            assert_eq!(b.0.deadline, None);
        }
        let e = StreamGen {
            tasks: (10, 5),
            ..g
        }
        .generate()
        .unwrap_err();
        assert!(e.to_string().starts_with("tasks: 10:5"), "{e}");
    }
}
