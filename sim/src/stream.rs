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
}
