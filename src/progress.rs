//! Progress on standard error, hidden with `--quiet`: a bar on a terminal; elsewhere (a log, CI,
//! a batch job) plain lines, since a bar there would either vanish (indicatif hides itself) or
//! fill the log with redraws: once the work has run for a second, one at each tenth and at
//! least every 30 s, and the line of the count reaching its total. Work done within a second
//! (reading a small file) writes at most that last line instead of ten.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spequlos_traces::io::Progress;

/// How often a plain progress line is written at the least.
const PLAIN_EVERY: Duration = Duration::from_secs(30);
/// Before this, only the line of the finished work is written.
const PLAIN_AFTER: Duration = Duration::from_secs(1);

pub struct Bar {
    bar: ProgressBar,
    plain: Option<Plain>,
}

/// What the plain lines need: the counts, and when and at which tenth the last line was.
struct Plain {
    what: String,
    /// Appended to the counts, with its leading space (" runs"), or empty.
    unit: &'static str,
    len: AtomicU64,
    pos: AtomicU64,
    started: Instant,
    last: Mutex<(Instant, u64)>,
}

impl Plain {
    fn advance(&self, n: u64) {
        let pos = self.pos.fetch_add(n, Ordering::Relaxed) + n;
        let len = self.len.load(Ordering::Relaxed);
        let tenth = (pos * 10).checked_div(len).unwrap_or(0);
        let finished = len > 0 && pos >= len;
        let early = self.started.elapsed() < PLAIN_AFTER;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if (tenth > last.1 && (finished || !early)) || (!early && last.0.elapsed() >= PLAIN_EVERY) {
            *last = (Instant::now(), tenth);
            drop(last);
            self.line(pos, len);
        }
    }

    fn line(&self, pos: u64, len: u64) {
        let secs = self.started.elapsed().as_secs_f64();
        let left = if pos > 0 && len > pos {
            format!(
                ", about {:.0} s left",
                secs * (len - pos) as f64 / pos as f64
            )
        } else {
            String::new()
        };
        match (pos * 100).checked_div(len) {
            Some(pct) => eprintln!(
                "{}: {pos}/{len}{} ({pct} %) in {secs:.1} s{left}",
                self.what, self.unit
            ),
            None => eprintln!("{}: {pos}{} in {secs:.1} s", self.what, self.unit),
        }
    }
}

impl Bar {
    pub fn bytes(quiet: bool, what: &str) -> Bar {
        Bar::new(
            quiet,
            what,
            " bytes",
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
    }

    pub fn items(quiet: bool, what: &str) -> Bar {
        Bar::new(quiet, what, "", "{msg} [{bar:30}] {pos}/{len} (eta {eta})")
    }

    /// Runs of a sweep.
    pub fn runs(quiet: bool, what: &str, total: u64) -> Bar {
        let b = Bar::new(
            quiet,
            what,
            " runs",
            "{msg} [{bar:30}] {pos}/{len} runs ({per_sec}, eta {eta})",
        );
        b.start(total);
        b
    }

    fn new(quiet: bool, what: &str, unit: &'static str, template: &str) -> Bar {
        let terminal = std::io::stderr().is_terminal();
        let target = if quiet || !terminal {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        let plain = (!quiet && !terminal).then(|| Plain {
            what: what.to_string(),
            unit,
            len: AtomicU64::new(0),
            pos: AtomicU64::new(0),
            started: Instant::now(),
            last: Mutex::new((Instant::now(), 0)),
        });
        Bar { bar, plain }
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        if let Some(p) = &self.plain {
            p.advance(n);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.bar.set_length(total);
        if let Some(p) = &self.plain {
            p.len.store(total, Ordering::Relaxed);
        }
    }
    fn advance(&self, n: u64) {
        self.inc(n);
    }
}
