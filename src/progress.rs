//! Progress bars on standard error, hidden with `--quiet` and when standard error is not a
//! terminal (indicatif's stderr target hides itself then), so logs and CI stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spequlos_traces::io::Progress;

pub struct Bar(ProgressBar);

impl Bar {
    pub fn bytes(quiet: bool, what: &str) -> Bar {
        Bar::new(
            quiet,
            what,
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
    }

    pub fn items(quiet: bool, what: &str) -> Bar {
        Bar::new(quiet, what, "{msg} [{bar:30}] {pos}/{len} (eta {eta})")
    }

    fn new(quiet: bool, what: &str, template: &str) -> Bar {
        let target = if quiet {
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
        Bar(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}
