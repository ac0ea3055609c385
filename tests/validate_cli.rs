//! End-to-end test of `spequlos validate`, the cross-validation with the authors' simulator.

mod common;

use common::{ok, run, s};

#[test]
fn validation_regenerates_the_inputs_and_prints_both_programs_figures() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs");
    let table = ok(&["validate", "--inputs", s(&inputs), "--seeds", "2"]);
    assert_eq!(inputs.join("tr").read_dir().unwrap().count(), 1000);
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| XWHEP") || l.starts_with("| BOINC"))
        .collect();
    assert_eq!(rows.len(), 8, "{table}");
    // Where the models mean to agree they do: XWHEP with Reschedule and Duplication ends
    // within 1 % of the peer's 8795 s and 8797 s.
    for r in rows
        .iter()
        .filter(|r| r.contains("XWHEP 9C-G-R") || r.contains("XWHEP 9C-G-D"))
    {
        let diff: f64 = r
            .split(" | ")
            .nth(3)
            .unwrap()
            .trim_end_matches(" %")
            .parse()
            .unwrap();
        assert!(diff.abs() < 1.0, "{r}");
    }
    assert!(table.contains("Reschedule versus Duplication"), "{table}");
    // Written by us: run again into it. Someone else's directory: refused, untouched.
    ok(&["validate", "--inputs", s(&inputs), "--seeds", "1"]);
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::write(theirs.join("notes.txt"), "mine").unwrap();
    let out = run(&["validate", "--inputs", s(&theirs), "--seeds", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("was not written by") && !err.contains("panicked"),
        "{err}"
    );
    assert_eq!(theirs.read_dir().unwrap().count(), 1);
}
