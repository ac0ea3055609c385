//! The hostile-input suite: what a careless or malicious user can hand the `spequlos` binary.
//! Every case must end with exit 0 or 2 (never a panic, a hang or an out-of-memory), a refusal
//! must say what is wrong, and nothing of the user's may be touched or half-written.

mod common;

use common::s;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary with a deadline; a case that runs past it is a hang.
fn run_for(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spequlos"))
        .arg("--quiet")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("spequlos {args:?} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts exit 2 with a message containing each of `words`.
fn refused(args: &[&str], words: &[&str]) -> String {
    let out = run_for(args, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "spequlos {args:?}: {err}");
    assert!(err.starts_with("error: "), "spequlos {args:?}: {err}");
    assert!(!err.contains("panicked"), "spequlos {args:?}: {err}");
    for w in words {
        assert!(
            err.contains(w),
            "spequlos {args:?}: `{w}` missing from: {err}"
        );
    }
    err
}

/// Asserts the run ended cleanly, refused (2) or done (0).
fn clean_end(args: &[&str]) -> Output {
    let out = run_for(args, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0) | Some(2)) && !err.contains("panicked"),
        "spequlos {args:?}: {:?} {err}",
        out.status
    );
    if out.status.code() == Some(2) {
        assert!(err.starts_with("error: "), "{err}");
    }
    out
}

/// Every file under `dir` with its bytes, to show nothing changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

const SMALL: &str = "[trace]\nhosts = 200\ndays = 10\n";

fn scenario(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn scenario_values_out_of_range_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    // (scenario text, words the error must contain)
    let cases: &[(&str, &[&str])] = &[
        (
            "[oracle]\nmin_history = 0",
            &["oracle.min_history = 0", "[2,"],
        ),
        ("[cloud]\nboot_sd = inf", &["cloud.boot_sd = inf"]),
        ("[qos]\ntick = 1e-9", &["qos.tick", "[1, 86400]"]),
        ("[trace]\nhosts = 1000000000000", &["trace.hosts"]),
        ("[trace]\ndays = 1e308", &["trace.days"]),
        (
            "[middleware]\nkind = \"boinc\"\ndelay_bound = 1e-300",
            &["middleware.delay_bound"],
        ),
        (
            "[middleware]\nkind = \"boinc\"\nbackoff_max = nan",
            &["middleware.backoff_max = NaN"],
        ),
        (
            "[middleware]\nkind = \"xwhep\"\ntimeout = -1",
            &["middleware.timeout"],
        ),
        ("[cloud]\nboot_mean = nan", &["cloud.boot_mean"]),
        ("[oracle]\ntarget_success = nan", &["oracle.target_success"]),
        ("[oracle]\ndefault_delta = -5", &["oracle.default_delta"]),
        ("[cloud]\ncredits = 9223372036854775807", &["cloud.credits"]),
        ("[cloud]\nspeed_factor = 0", &["cloud.speed_factor"]),
        ("[qos]\ncost_per_tick = 0", &["qos.cost_per_tick"]),
        ("ideal_fraction = 1", &["ideal_fraction"]),
        ("[trace]\noffset = -1", &["trace.offset"]),
        (
            "[workload]\nkind = \"uniform\"\ncount = 4294967295\nops = 1",
            &["tasks", "--limit tasks"],
        ),
        (
            "[workload]\nkind = \"uniform\"\ncount = 10\nops = 1e308",
            &["workload.ops"],
        ),
        (
            "[trace]\nhosts = 100000\ndays = 36500",
            &["host-days", "--limit host_days"],
        ),
        ("[qos]\nnot_a_field = 1", &["unknown field"]),
        ("strategy = \"9Z-Q-X\"", &["strategy"]),
        ("[[[", &["TOML parse error at line 1"]),
        ("seed = -1", &["seed"]),
    ];
    for (i, (text, words)) in cases.iter().enumerate() {
        let name = format!("scenario-{i}.toml");
        let p = scenario(dir.path(), &name, text);
        refused(&["sim", s(&p)], words);
    }
    // Garbage bytes as a scenario.
    let p = dir.path().join("garbage.toml");
    fs::write(&p, [0xff, 0xfe, 0x00, 0x9f, b'[', b'\n']).unwrap();
    refused(&["sim", s(&p)], &["garbage.toml"]);
}

/// The server's config and the trace generator's config are checked field by field too:
/// exit 2 naming the field and the range, before anything listens or is written.
#[test]
fn server_and_generator_configs_out_of_range_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |i: usize, top: &str, dg: &str, cloud: &str| {
        let text = format!(
            "admin_token = \"long-enough-admin\"\ndb = \"{db}\"\n{top}\n\
             [[boinc]]\nname = \"seti\"\nurl = \"http://127.0.0.1:1/\"\n\
             authenticator = \"k1\"\napp_name = \"a\"\ncloud_user_id = 2\n\
             cloud_authenticator = \"k2\"\n{dg}\n\
             [cloud]\ndriver = \"command\"\nstart = \"true\"\nstop = \"true\"\nlist = \"true\"\n{cloud}\n",
            db = s(&dir.path().join(format!("never-{i}.sqlite"))),
        );
        let p = dir.path().join(format!("serve-{i}.toml"));
        fs::write(&p, text).unwrap();
        p
    };
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("poll = nan", "", "", &["poll = NaN", "(0, 3600]"]),
        ("max_backoff = 0", "", "", &["max_backoff = 0"]),
        ("listen = \"nowhere\"", "", "", &["listen", "IP address"]),
        ("default_strategy = \"9Z\"", "", "", &["default_strategy"]),
        ("[params]\ntick = 1e-9", "", "", &["params.tick"]),
        ("", "timeout = 1e9", "", &["boinc[0].timeout"]),
        (
            "",
            "timeout = 1.0\ntimeout = 2.0",
            "",
            &["duplicate key", "line"],
        ),
        ("", "", "extra = 1", &["unknown field"]),
    ];
    for (i, (top, dg, cloud, words)) in cases.iter().enumerate() {
        let p = serve(i, top, dg, cloud);
        let err = refused(&["serve", "--config", s(&p)], words);
        assert!(err.contains(&format!("serve-{i}.toml")), "{err}");
    }
    // A DG name that cannot be a path segment of the API, and a short admin token (whose
    // value is never echoed).
    let p = dir.path().join("serve-name.toml");
    fs::write(
        &p,
        fs::read_to_string(serve(99, "", "", ""))
            .unwrap()
            .replace("name = \"seti\"", "name = \"a/b\""),
    )
    .unwrap();
    refused(&["serve", "--config", s(&p)], &["boinc[0].name", "letters"]);
    fs::write(
        &p,
        fs::read_to_string(serve(97, "", "", ""))
            .unwrap()
            .replace("cloud_user_id = 2", "cloud_user_id = 0"),
    )
    .unwrap();
    refused(
        &["serve", "--config", s(&p)],
        &["boinc[0].cloud_user_id = 0"],
    );
    fs::write(
        &p,
        fs::read_to_string(serve(98, "", "", ""))
            .unwrap()
            .replace("long-enough-admin", "short"),
    )
    .unwrap();
    let err = refused(&["serve", "--config", s(&p)], &["admin_token", "not shown"]);
    assert!(!err.contains("short\""), "{err}");
    assert!(
        fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("never")),
        "no database was created"
    );

    // The generator's config, from the seti preset with one field broken.
    let good = run_for(
        &["trace", "gen", "--preset", "seti", "--print-config"],
        Duration::from_secs(30),
    );
    let good = String::from_utf8(good.stdout).unwrap();
    let out = dir.path().join("gen-out");
    let gen_cases: &[(&str, &str, &[&str])] = &[
        (
            "shape = 0.289",
            "shape = -1",
            &["availability.classes[0].up.shape = -1"],
        ),
        (
            "shape = 0.289",
            "shape = nan",
            &["availability.classes[0].up.shape = NaN"],
        ),
        (
            "0.141,",
            "5.0,",
            &["availability.classes[0].down.probs[0] = 5"],
        ),
        (
            "0.008,",
            "0.0,",
            &["availability.classes[0].down.rates[0] = 0"],
        ),
        (
            "fraction = 1.0",
            "fraction = -1.0",
            &["availability.classes[0].fraction = -1"],
        ),
    ];
    for (i, (from, to, words)) in gen_cases.iter().enumerate() {
        assert!(good.contains(from), "{from}");
        let p = dir.path().join(format!("gen-{i}.toml"));
        fs::write(&p, good.replacen(from, to, 1)).unwrap();
        let err = refused(
            &[
                "trace",
                "gen",
                "--config",
                s(&p),
                "--hosts",
                "3",
                "--days",
                "1",
                "--out",
                s(&out),
            ],
            words,
        );
        assert!(err.contains(&format!("gen-{i}.toml")), "{err}");
        assert!(!out.exists(), "nothing written");
    }
}

/// Every float field of a scenario, set to every awkward value: exit 0 or 2, never a panic
/// or a hang.
#[test]
fn awkward_numbers_in_every_field_end_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let fields: &[(&str, &str)] = &[
        ("qos", "tick"),
        ("qos", "kappa"),
        ("qos", "rho"),
        ("qos", "tail_window"),
        ("qos", "min_remaining_hours"),
        ("qos", "variance_min_completion"),
        ("cloud", "speed_factor"),
        ("cloud", "boot_mean"),
        ("cloud", "boot_sd"),
        ("cloud", "boot_min"),
        ("cloud", "boot_max"),
        ("cloud", "credit_fraction"),
        ("cloud", "revocation_mean_hours"),
        ("oracle", "target_success"),
        ("oracle", "default_delta"),
        ("boinc", "delay_bound"),
        ("boinc", "backoff_min"),
        ("boinc", "backoff_max"),
        ("xwhep", "keepalive"),
        ("xwhep", "timeout"),
        ("trace", "offset"),
        ("trace", "days"),
        ("model", "uniform_speed"),
        ("", "ideal_fraction"),
    ];
    let values = ["nan", "inf", "-inf", "-1.0", "0.0", "1e-300", "1e308"];
    let mut n = 0;
    for (table, field) in fields {
        for v in values {
            let body = match *table {
                "" => format!("{field} = {v}\n{SMALL}"),
                "boinc" | "xwhep" => {
                    format!("{SMALL}[middleware]\nkind = \"{table}\"\n{field} = {v}\n")
                }
                "trace" => format!("[trace]\nhosts = 200\n{field} = {v}\n"),
                t => format!("{SMALL}[{t}]\n{field} = {v}\n"),
            };
            let p = scenario(dir.path(), "s.toml", &body);
            clean_end(&["sim", s(&p), "--json"]);
            n += 1;
        }
    }
    // Whole-number fields at their edges.
    let ints: &[(&str, &str)] = &[
        ("oracle", "min_history"),
        ("qos", "cost_per_tick"),
        ("boinc", "target_nresults"),
        ("boinc", "min_quorum"),
        ("boinc", "buffer_per_core"),
        ("trace", "hosts"),
        ("cloud", "credits"),
    ];
    for (table, field) in ints {
        for v in ["-1", "0", "1", "4294967295", "18446744073709551615", "1e20"] {
            let body = match *table {
                "boinc" => format!("{SMALL}[middleware]\nkind = \"boinc\"\n{field} = {v}\n"),
                "trace" => format!("[trace]\ndays = 10\n{field} = {v}\n"),
                t => format!("{SMALL}[{t}]\n{field} = {v}\n"),
            };
            let p = scenario(dir.path(), "s.toml", &body);
            clean_end(&["sim", s(&p), "--json"]);
            n += 1;
        }
    }
    assert_eq!(n, fields.len() * values.len() + ints.len() * 6);
}

#[test]
fn a_huge_order_starts_no_more_cloud_workers_than_tasks() {
    let dir = tempfile::tempdir().unwrap();
    for strategy in ["9A-G-D", "9C-G-F", "9C-C-R"] {
        let p = scenario(
            dir.path(),
            "credits.toml",
            &format!("strategy = \"{strategy}\"\n{SMALL}[cloud]\ncredits = 10000000\n"),
        );
        let started = Instant::now();
        let out = run_for(&["sim", s(&p), "--json"], Duration::from_secs(60));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let workers = j["speq"]["workers_started"].as_u64().unwrap();
        let tasks = j["tasks"].as_u64().unwrap();
        assert!(
            workers >= 1 && workers <= tasks,
            "{strategy}: {workers} workers for {tasks} tasks"
        );
        assert!(started.elapsed() < Duration::from_secs(30), "{strategy}");
    }
}

#[test]
fn bad_job_files_and_oracle_histories_are_refused_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("0 {}\n", "9".repeat(100_000));
    let cases: &[(&[u8], &[&str])] = &[
        (b"0 1e308\n", &[":1: size_ops"]),
        (b"0 100\n5 x\n", &[":2: size_ops"]),
        (b"-1 100\n", &[":1: submit_time"]),
        (b"nan 100\n", &[":1: submit_time"]),
        (b"0 100 7\n", &[":1: line"]),
        (b"", &["no task"]),
        (b"# only a comment\n", &["no task"]),
        (b"\xff\xfe\x00\x01 2\n", &["jobs.txt"]),
        (long.as_bytes(), &["64 KiB"]),
    ];
    for (text, words) in cases {
        let p = dir.path().join("jobs.txt");
        fs::write(&p, text).unwrap();
        refused(&["sim", "--hosts", "100", "--workload", s(&p)], words);
    }
    // Oracle histories edited by hand.
    let oracle = dir.path().join("oracle.json");
    fs::write(
        &oracle,
        r#"{"params":{"target_success":0.8,"default_delta":0.25,"min_history":3},"history":{"k":[{"alphas":[1.0,2.0],"credits_spent":0}]}}"#,
    )
    .unwrap();
    let before = fs::read(&oracle).unwrap();
    refused(
        &["sim", "--hosts", "100", "--oracle", s(&oracle)],
        &["alphas", "19 values"],
    );
    assert_eq!(
        fs::read(&oracle).unwrap(),
        before,
        "a refused history is not rewritten"
    );
    fs::write(&oracle, b"{not json").unwrap();
    refused(
        &["sim", "--hosts", "100", "--oracle", s(&oracle)],
        &["oracle.json"],
    );
}

#[test]
fn sweep_specs_that_ask_too_much_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let spec = |name: &str, axes: &str| {
        let p = dir.path().join(name);
        fs::write(
            &p,
            format!("[base.trace]\nhosts = 100\ndays = 5\n[axes]\nstrategy = [\"9C-G-D\"]\n{axes}"),
        )
        .unwrap();
        p
    };
    let started = Instant::now();
    for axes in ["replicates = 4294967295", "offset_count = 4294967295"] {
        let p = spec("big.toml", axes);
        refused(&["sweep", s(&p), "--dry-run"], &["--limit runs"]);
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    let p = spec("spacing.toml", "offset_count = 2\noffset_spacing = nan");
    refused(&["sweep", s(&p), "--dry-run"], &["offset_spacing"]);
    // A missing trace is refused by --dry-run, as the README says.
    let p = spec("missing.toml", "trace = [\"/nonexistent/trace/dir\"]");
    refused(&["sweep", s(&p), "--dry-run"], &["/nonexistent/trace/dir"]);
    // ...and by a real run, leaving no output directory behind, so the rerun is not refused
    // for the wrong reason.
    let out = dir.path().join("out");
    refused(
        &["sweep", s(&p), "--out", s(&out)],
        &["/nonexistent/trace/dir"],
    );
    assert!(!out.exists(), "a failed sweep leaves no directory");
    refused(
        &["sweep", s(&p), "--out", s(&out)],
        &["/nonexistent/trace/dir"],
    );
    // A directory holding a user's file is never written into.
    let user = dir.path().join("user");
    fs::create_dir(&user).unwrap();
    fs::write(user.join("notes.txt"), "mine").unwrap();
    let ok_spec = spec("ok.toml", "offset_count = 1");
    refused(
        &["sweep", s(&ok_spec), "--out", s(&user)],
        &["not a sweep directory"],
    );
    assert_eq!(snapshot(&user).len(), 1);
}

const SWEEP: &str = r#"
name = "h"
[base.trace]
hosts = 150
days = 8
[axes]
middleware = ["boinc", "xwhep"]
strategy = ["none", "9C-G-D"]
offset_count = 2
"#;

/// Each way a runs.csv can be damaged, applied to a good sweep's file.
fn damages(good: &str) -> Vec<(&'static str, String)> {
    let lines: Vec<&str> = good.lines().collect();
    let header = lines[0];
    let row = lines[1];
    let join = |rows: &[&str]| rows.iter().map(|l| format!("{l}\n")).collect::<String>();
    let mut out = Vec::new();
    // A row cut in the middle, followed by more rows (not a torn last line).
    out.push(("torn", join(&[header, &row[..row.len() / 2], lines[2]])));
    out.push(("short", join(&[header, &row[..row.rfind(',').unwrap()]])));
    out.push(("garbage", join(&[header, "1,xyz,\u{1}\u{2},,,", lines[2]])));
    let mut far = row.to_string();
    far.replace_range(..row.find(',').unwrap(), "4000000000");
    out.push(("out of range", join(&[header, &far])));
    // A row of another sweep: same id, another parameter value.
    let foreign = row.replacen(",boinc,", ",boinc-other,", 1);
    assert_ne!(foreign, row);
    out.push(("foreign", join(&[header, &foreign])));
    let mut bad_metric: Vec<&str> = row.split(',').collect();
    let last = bad_metric.len() - 1;
    bad_metric[last] = "lots";
    let bad_metric = bad_metric.join(",");
    out.push(("metric", join(&[header, &bad_metric])));
    let twice = row.replacen(&row[row.len() - 3..], "999", 1);
    out.push(("conflict", join(&[header, row, &twice])));
    out
}

#[test]
fn resume_and_merge_refuse_every_damaged_row_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("h.toml");
    fs::write(&spec, SWEEP).unwrap();
    let good_dir = dir.path().join("good");
    let out = run_for(
        &["sweep", s(&spec), "--out", s(&good_dir)],
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let good = fs::read_to_string(good_dir.join("runs.csv")).unwrap();
    let mut n = 0;
    for (what, text) in damages(&good) {
        let d = dir.path().join(format!("d-{n}"));
        fs::create_dir(&d).unwrap();
        for f in ["sweep.toml", "sweep.json"] {
            fs::copy(good_dir.join(f), d.join(f)).unwrap();
        }
        fs::write(d.join("runs.csv"), &text).unwrap();
        let before = snapshot(&d);
        let e = refused(
            &["sweep", s(&spec), "--out", s(&d), "--resume"],
            &["runs.csv:"],
        );
        assert_eq!(
            snapshot(&d),
            before,
            "{what}: --resume changed the directory ({e})"
        );
        let merged = dir.path().join(format!("m-{n}"));
        refused(&["merge", s(&merged), s(&d)], &["runs.csv:"]);
        assert!(!merged.exists(), "{what}: merge left an output");
        n += 1;
    }
    // A shard claiming far more runs than its spec has.
    let d = dir.path().join("claims");
    fs::create_dir(&d).unwrap();
    fs::copy(good_dir.join("sweep.toml"), d.join("sweep.toml")).unwrap();
    fs::copy(good_dir.join("runs.csv"), d.join("runs.csv")).unwrap();
    let meta = fs::read_to_string(good_dir.join("sweep.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&meta).unwrap();
    let runs = v["runs"].as_u64().unwrap();
    fs::write(
        d.join("sweep.json"),
        meta.replace(&format!("\"runs\": {runs}"), "\"runs\": 4294967295"),
    )
    .unwrap();
    let started = Instant::now();
    refused(
        &["merge", s(&dir.path().join("m-claims")), s(&d)],
        &["claims 4294967295 runs"],
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The good directory still merges, and resumes to the same bytes.
    let m = dir.path().join("m-good");
    let out = run_for(&["merge", s(&m), s(&good_dir)], Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read_to_string(m.join("runs.csv")).unwrap(), good);
    assert!(n >= 7);
}

#[test]
fn trace_outputs_never_replace_a_users_files_and_clean_stale_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("thesis.tex"), "chapter 1").unwrap();
    let gen = |preset: &'static str, out: &Path, extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "trace", "gen", "--preset", preset, "--hosts", "5", "--days", "1", "--out",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        v.push(s(out).to_string());
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    for args in [
        gen("seti", &out, &[]),
        gen("nd", &out, &["--format", "simgrid"]),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, &["not empty", "--force"]);
        assert_eq!(
            fs::read_to_string(out.join("thesis.tex")).unwrap(),
            "chapter 1"
        );
    }
    // `sim --out` does not overwrite results already there, unless told to.
    fs::write(out.join("runs.csv"), "someone's results").unwrap();
    refused(
        &["sim", "--hosts", "100", "--out", s(&out)],
        &["runs.csv: already exists", "--force"],
    );
    assert_eq!(
        fs::read_to_string(out.join("runs.csv")).unwrap(),
        "someone's results"
    );
    let forced = run_for(
        &["sim", "--hosts", "100", "--out", s(&out), "--force"],
        Duration::from_secs(60),
    );
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert!(fs::read_to_string(out.join("runs.csv"))
        .unwrap()
        .starts_with("run,"));
    fs::remove_file(out.join("runs.csv")).unwrap();
    for f in ["timeline.csv", "tasks.csv"] {
        fs::remove_file(out.join(f)).unwrap();
    }
    let src = dir.path().join("src");
    let made = gen("seti", &src, &[]);
    let made: Vec<&str> = made.iter().map(String::as_str).collect();
    assert!(run_for(&made, Duration::from_secs(30)).status.success());
    refused(
        &["trace", "convert", s(&src), s(&out), "--to", "tr"],
        &["not empty"],
    );
    assert_eq!(snapshot(&out).len(), 1);
    // A conversion killed half-way left a temporary: the next write of that output removes it.
    let stale = dir.path().join("conv.tmp-4194999");
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join("half.profile"), "0 1").unwrap();
    let conv = dir.path().join("conv");
    let c = run_for(
        &["trace", "convert", s(&src), s(&conv), "--to", "simgrid"],
        Duration::from_secs(30),
    );
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    assert!(!stale.exists(), "the stale temporary is cleaned");
    // --force replaces an output whole.
    let f = run_for(
        &[
            "trace",
            "convert",
            s(&src),
            s(&out),
            "--to",
            "csv",
            "--force",
        ],
        Duration::from_secs(30),
    );
    assert!(f.status.success(), "{}", String::from_utf8_lossy(&f.stderr));
    assert!(!out.join("thesis.tex").exists() && out.join("intervals.csv").exists());
}

#[test]
fn a_trace_whose_hosts_share_names_converts_to_per_host_formats_and_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("dups");
    fs::create_dir(&src).unwrap();
    // Native CSV with four hosts under two names, as in real FTA files.
    fs::write(
        src.join("hosts.csv"),
        "host,name,speed,cores\n0,node,1000,1\n1,node,1500,2\n2,other,900,1\n3,node,1200,1\n",
    )
    .unwrap();
    fs::write(
        src.join("intervals.csv"),
        "host,start,end\n0,0,100\n1,50,400\n1,500,700\n2,10,20\n3,300,900\n",
    )
    .unwrap();
    let stats = |p: &Path| {
        let out = run_for(&["trace", "stats", s(p), "--json"], Duration::from_secs(30));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let want = stats(&src);
    for to in ["simgrid", "tr"] {
        let mid = dir.path().join(format!("mid-{to}"));
        let back = dir.path().join(format!("back-{to}"));
        let a = run_for(
            &["trace", "convert", s(&src), s(&mid), "--to", to],
            Duration::from_secs(30),
        );
        assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
        let b = run_for(
            &["trace", "convert", s(&mid), s(&back), "--to", "csv"],
            Duration::from_secs(30),
        );
        assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
        assert_eq!(
            fs::read_to_string(back.join("intervals.csv")).unwrap(),
            fs::read_to_string(src.join("intervals.csv")).unwrap(),
            "{to}"
        );
        assert_eq!(stats(&back), want, "{to}");
    }
}

#[test]
fn garbage_trace_files_are_refused_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    // Deterministic garbage: a xorshift stream.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = |n: usize| {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect::<Vec<u8>>()
    };
    let mut n = 0;
    for format in ["fta", "simgrid", "tr", "csv", "bin"] {
        for size in [0usize, 1, 17, 4096] {
            let d = dir.path().join(format!("g-{format}-{size}"));
            fs::create_dir(&d).unwrap();
            let garbage = bytes(size);
            match format {
                "fta" => fs::write(d.join("event_trace.tab"), &garbage).unwrap(),
                "simgrid" => fs::write(d.join("h.profile"), &garbage).unwrap(),
                "tr" => fs::write(d.join("h.tr"), &garbage).unwrap(),
                "csv" => {
                    fs::write(d.join("hosts.csv"), &garbage).unwrap();
                    fs::write(d.join("intervals.csv"), &garbage).unwrap();
                }
                _ => fs::write(d.join("trace.bin"), &garbage).unwrap(),
            }
            let target = if format == "fta" {
                d.join("event_trace.tab")
            } else {
                d.clone()
            };
            clean_end(&["trace", "stats", s(&target), "--format", format]);
            n += 1;
        }
    }
    // A looping SimGrid profile over an absurd span is refused before it is unrolled.
    let d = dir.path().join("loop");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("h.profile"), "0 1\n1 0\nLOOPAFTER 1\n").unwrap();
    let started = Instant::now();
    refused(
        &["trace", "stats", s(&d), "--span", "100000000d"],
        &["unroll", "--limit intervals"],
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(n, 20);
}

#[test]
fn a_closed_pipe_ends_output_commands_quietly() {
    for (args, must_write) in [
        (vec!["trace", "presets"], false),
        (vec!["sim", "--hosts", "200", "--days", "5"], true),
        (vec!["sim", "--hosts", "200", "--days", "5", "--json"], true),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spequlos"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader hangs up before the output comes, as `| head -c 0` would.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.is_empty(), "{args:?}: quiet, got: {err}");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            // Killed by SIGPIPE (13), the usual end of a writer whose reader left.
            let piped = out.status.signal() == Some(13);
            assert!(
                piped || (!must_write && out.status.success()),
                "{args:?}: {:?}",
                out.status
            );
        }
    }
}
