//! Helpers shared by the end-to-end tests of the `spequlos` binary.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Command, Output};

/// Runs `spequlos --quiet ARGS`.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spequlos"))
        .arg("--quiet")
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs `spequlos --quiet ARGS`, asserts success and returns standard output.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "spequlos {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}
