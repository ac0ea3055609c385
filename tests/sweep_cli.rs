//! End-to-end tests of `spequlos sweep` and `spequlos merge`.

mod common;

use common::{ok, run, s};

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SPEC: &str = r#"
name = "t"
[base.trace]
hosts = 200
days = 12
[axes]
middleware = ["boinc", "xwhep"]
workload = ["small"]
strategy = ["none", "9A-G-D", "9C-G-D", "9C-G-F"]
offset_count = 6
[axes.params]
"cloud.speed_factor" = [2.0, 4.0]
"#;

fn write_spec(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("spec.toml");
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn output_is_identical_whatever_the_thread_count_and_shards_merge_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), SPEC);
    let dry = ok(&["sweep", s(&spec), "--dry-run"]);
    assert!(
        dry.starts_with("t: 84 runs (12 baselines, 72 SpeQuloS runs)"),
        "{dry}"
    );
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    ok(&["sweep", s(&spec), "--out", s(&one), "--jobs", "1"]);
    ok(&["sweep", s(&spec), "--out", s(&two), "--jobs", "2"]);
    let a = fs::read(one.join("runs.csv")).unwrap();
    assert_eq!(a, fs::read(two.join("runs.csv")).unwrap());
    assert_eq!(String::from_utf8_lossy(&a).lines().count(), 85);
    let mut shards = Vec::new();
    for k in 1..=3 {
        let d = dir.path().join(format!("shard{k}"));
        ok(&[
            "sweep",
            s(&spec),
            "--out",
            s(&d),
            "--shard",
            &format!("{k}/3"),
        ]);
        shards.push(d);
    }
    let merged = dir.path().join("merged");
    let mut args = vec!["merge", s(&merged)];
    args.extend(shards.iter().map(|d| s(d)));
    ok(&args);
    assert_eq!(
        fs::read(merged.join("runs.csv")).unwrap(),
        a,
        "merged shards equal the unsharded sweep"
    );
    // A missing shard is reported, not silently merged.
    let partial = dir.path().join("partial");
    let out = run(&["merge", s(&partial), s(&shards[0]), s(&shards[1])]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

#[test]
fn a_killed_sweep_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let big = SPEC
        .replace("offset_count = 6", "offset_count = 14")
        .replace("hosts = 200", "hosts = 600")
        .replace("days = 12", "days = 16");
    let spec = write_spec(dir.path(), &big);
    let full = dir.path().join("full");
    ok(&["sweep", s(&spec), "--out", s(&full), "--jobs", "1"]);
    let killed = dir.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_spequlos"))
        .args([
            "--quiet",
            "sweep",
            s(&spec),
            "--out",
            s(&killed),
            "--jobs",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some rows are on disk.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = fs::read_to_string(killed.join("runs.csv")).map_or(0, |t| t.lines().count());
        if rows > 10 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = fs::read_to_string(killed.join("runs.csv"))
        .unwrap()
        .lines()
        .count();
    let all = fs::read_to_string(full.join("runs.csv"))
        .unwrap()
        .lines()
        .count();
    assert!(
        before > 1 && before < all,
        "killed part-way: {before} of {all} lines"
    );
    // Without --resume the directory is refused, untouched.
    let out = run(&["sweep", s(&spec), "--out", s(&killed)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    ok(&["sweep", s(&spec), "--out", s(&killed), "--resume"]);
    assert_eq!(
        fs::read(killed.join("runs.csv")).unwrap(),
        fs::read(full.join("runs.csv")).unwrap()
    );
    // Resuming a finished sweep simulates nothing and changes nothing.
    ok(&["sweep", s(&spec), "--out", s(&killed), "--resume"]);
    assert_eq!(
        fs::read(killed.join("runs.csv")).unwrap(),
        fs::read(full.join("runs.csv")).unwrap()
    );
}

#[test]
fn bad_sweeps_exit_2_and_overwrite_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (text, want) in [
        (
            "[axes]\nstrategy = [\"none\"]\ncolour = [\"red\"]",
            "colour",
        ),
        (
            "[axes]\nstrategy = []",
            "axes.strategy = []: must be at least one value",
        ),
        (
            "[axes]\nstrategy = [\"none\"]\n[axes.params]\n\"qos.nope\" = [1]",
            "qos.nope",
        ),
        (
            "[axes]\nstrategy = [\"none\"]\ntrace = [\"/no/such/trace.tab\"]",
            "/no/such/trace.tab",
        ),
    ] {
        let spec = write_spec(dir.path(), text);
        let out_dir = dir.path().join("o");
        let out = run(&["sweep", s(&spec), "--out", s(&out_dir)]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{text}: {err}");
    }
    // A directory holding another sweep is refused on --resume.
    let spec = write_spec(dir.path(), SPEC);
    let d = dir.path().join("d");
    ok(&["sweep", s(&spec), "--out", s(&d)]);
    let before = fs::read(d.join("runs.csv")).unwrap();
    let other = write_spec(
        dir.path(),
        &SPEC.replace("offset_count = 6", "offset_count = 5"),
    );
    let out = run(&["sweep", s(&other), "--out", s(&d), "--resume"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different sweep"));
    assert_eq!(fs::read(d.join("runs.csv")).unwrap(), before);
}

#[test]
fn a_sweep_logged_to_a_file_says_how_far_it_got() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), SPEC);
    // Standard error is a pipe here, not a terminal: plain lines instead of a bar.
    let out = Command::new(env!("CARGO_BIN_EXE_spequlos"))
        .args(["sweep", s(&spec), "--out", s(&dir.path().join("o"))])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("t: ") && l.contains(" runs ("))
        .collect();
    // Work of more than a second adds a line at each tenth; the last line is always there.
    assert!(!lines.is_empty(), "{err}");
    assert!(
        lines.iter().any(|l| l.starts_with("t: 84/84 runs (100 %)")),
        "{err}"
    );
    assert!(
        !err.contains('\r') && !err.contains("\u{1b}["),
        "no bar redraws in a log: {err:?}"
    );
    let quiet = run(&["sweep", s(&spec), "--out", s(&dir.path().join("q"))]);
    assert!(quiet.status.success() && quiet.stderr.is_empty());
}

#[test]
fn a_sweep_of_streams_writes_bots_and_users_that_resume_and_merge_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.txt");
    fs::write(
        &stream,
        "0 ann 60 3.6e6\n600 bob 40 3.6e6 40000\n900 ann 30 1.8e6\n4000 cy 50 3.6e6 90000\n",
    )
    .unwrap();
    let spec = format!(
        r#"
name = "streams"
[base.trace]
hosts = 150
days = 12
[base.cloud]
cap = 4
credits = 200
[axes]
workload = ["stream:{}"]
strategy = ["none", "9C-G-R", "9A-G-D"]
offset_count = 4
[axes.params]
"cloud.share" = ["first-come", "max-min"]
"cloud.preempt" = [false, true]
"#,
        stream.display()
    );
    let spec = write_spec(dir.path(), &spec);
    let files = ["runs.csv", "bots.csv", "users.csv"];
    let read = |d: &Path| files.map(|f| fs::read_to_string(d.join(f)).unwrap());
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    ok(&["sweep", s(&spec), "--out", s(&one), "--jobs", "1"]);
    ok(&["sweep", s(&spec), "--out", s(&two), "--jobs", "2"]);
    let whole = read(&one);
    assert_eq!(whole, read(&two), "the same bytes on 1 and 2 threads");
    // 4 offsets × (1 baseline + 2 strategies × 4 settings) runs; 4 BoTs and 3 users each.
    assert_eq!(whole[0].lines().count(), 1 + 36);
    assert_eq!(whole[1].lines().count(), 1 + 36 * 4);
    assert_eq!(whole[2].lines().count(), 1 + 36 * 3);
    assert!(whole[1].starts_with("run_id,run,bot,user,arrival,"));
    assert!(whole[2]
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("0,baseline,ann,2,90,"));

    // Shards merge to the whole sweep, side tables included.
    let mut shards = Vec::new();
    for k in 1..=2 {
        let d = dir.path().join(format!("shard{k}"));
        ok(&[
            "sweep",
            s(&spec),
            "--out",
            s(&d),
            "--shard",
            &format!("{k}/2"),
        ]);
        shards.push(d);
    }
    let merged = dir.path().join("merged");
    ok(&["merge", s(&merged), s(&shards[0]), s(&shards[1])]);
    assert_eq!(read(&merged), whole);

    // An interrupted sweep: its last rows lost from runs.csv but not from the side tables
    // (written first), and a torn line. Resuming drops theirs and simulates them again.
    let runs: Vec<&str> = whole[0].lines().collect();
    let kept = runs[..20].join("\n") + "\n";
    fs::write(two.join("runs.csv"), kept).unwrap();
    let mut bots = whole[1].clone();
    bots.push_str("35,speq,0,ann,0,6");
    fs::write(two.join("bots.csv"), bots).unwrap();
    ok(&["sweep", s(&spec), "--out", s(&two), "--resume"]);
    assert_eq!(read(&two), whole, "resumed to the same bytes");
}
