//! End-to-end tests of the real `spequlos` binary.

mod common;

use common::{ok, run, s};

use std::fs;
use std::path::{Path, PathBuf};

fn fta_sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/tests/data/fta-sample/event_trace.tab")
}

/// Every file of a directory, by name, with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            for (n, b) in snapshot(&p) {
                files.push((
                    format!("{}/{n}", p.file_name().unwrap().to_string_lossy()),
                    b,
                ));
            }
        } else {
            files.push((
                p.file_name().unwrap().to_string_lossy().into(),
                fs::read(&p).unwrap(),
            ));
        }
    }
    files.sort();
    files
}

#[test]
fn readme_main_job_gives_plausible_seti_figures() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t");
    ok(&[
        "trace",
        "gen",
        "--preset",
        "seti",
        "--hosts",
        "2000",
        "--days",
        "7",
        "--seed",
        "1",
        "-o",
        s(&t),
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["trace", "stats", s(&t), "--json"])).unwrap();
    assert_eq!(json["hosts"], 2000);
    assert_eq!(json["span_s"], 7 * 86400);
    let avail = json["availability"]["mean"].as_f64().unwrap();
    assert!(
        (0.6..0.78).contains(&avail),
        "seti clusters average about 0.69: {avail}"
    );
    let mean_online = json["hosts_available"]["mean"].as_f64().unwrap();
    assert!(
        (mean_online / 2000.0 - avail).abs() < 1e-9,
        "the two availability figures agree"
    );
    assert!(json["mtbf_h"].as_f64().unwrap() > 1.0 && json["mttr_h"].as_f64().unwrap() > 0.1);
    let speed = json["mean_speed"].as_f64().unwrap();
    assert!((950.0..1080.0).contains(&speed), "{speed}");
    // The human table carries the same figures.
    let table = ok(&["trace", "stats", s(&t)]);
    assert!(
        table.contains("hosts              2000") && table.contains("MTBF"),
        "{table}"
    );
}

/// `trace gen` of a small g5kgre trace.
fn gen_g5k(seed: &str, format: &str, out: &Path) {
    ok(&[
        "trace",
        "gen",
        "--preset",
        "g5kgre",
        "--hosts",
        "60",
        "--days",
        "3",
        "--seed",
        seed,
        "--format",
        format,
        "-o",
        s(out),
    ]);
}

#[test]
fn same_seed_gives_byte_identical_files_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["csv", "simgrid", "tr", "bin"] {
        let (a, b) = (
            dir.path().join(format!("a-{format}")),
            dir.path().join(format!("b-{format}")),
        );
        gen_g5k("9", format, &a);
        gen_g5k("9", format, &b);
        assert_eq!(snapshot(&a), snapshot(&b), "{format}");
    }
    let c = dir.path().join("c");
    gen_g5k("10", "csv", &c);
    assert_ne!(snapshot(&c), snapshot(&dir.path().join("a-csv")));
}

#[test]
fn fta_sample_stats_and_window() {
    let f = fta_sample();
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["trace", "stats", s(&f), "--json"])).unwrap();
    assert_eq!(json["hosts"], 40);
    assert_eq!(json["source"], "fta");
    assert_eq!(json["origin"], 1104458119);
    let w: serde_json::Value = serde_json::from_str(&ok(&[
        "trace",
        "stats",
        s(&f),
        "--json",
        "--window",
        "@1104537600:14d",
    ]))
    .unwrap();
    assert_eq!(w["origin"], 1104537600);
    assert_eq!(w["span_s"], 14 * 86400);
    assert!(w["hosts_available"]["min"].as_u64().unwrap() > 0);
}

#[test]
fn conversions_preserve_the_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let f = fta_sample();
    let reference = ok(&["trace", "stats", s(&f), "--json"]);
    let mut prev = f.clone();
    for to in ["tr", "simgrid", "bin", "csv", "tr"] {
        let out = dir.path().join(format!(
            "{to}-{}",
            prev.file_name().unwrap().to_string_lossy()
        ));
        ok(&["trace", "convert", s(&prev), s(&out), "--to", to]);
        assert_eq!(
            ok(&["trace", "stats", s(&out), "--json"]),
            reference,
            "after converting to {to}"
        );
        prev = out;
    }
    let sub = dir.path().join("sub");
    ok(&[
        "trace",
        "convert",
        s(&f),
        s(&sub),
        "--to",
        "csv",
        "--ids",
        "1003,1001",
        "--window",
        "1d:2d",
    ]);
    let j: serde_json::Value =
        serde_json::from_str(&ok(&["trace", "stats", s(&sub), "--json"])).unwrap();
    assert_eq!(
        (j["hosts"].as_u64(), j["span_s"].as_u64()),
        (Some(2), Some(2 * 86400))
    );
    let hosts = fs::read_to_string(sub.join("hosts.csv")).unwrap();
    assert!(
        hosts.starts_with("host,name,speed,cores\n1003,host-003,"),
        "{hosts}"
    );
}

#[test]
fn bad_input_exits_2_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.tab");
    fs::write(
        &bad,
        "event_id component_id node_id platform_id node_name event_type event_start_time event_stop_time event_end_reason\n\
         0 0 1 1 a 1 10 20 0\n0 0 1 1 a one 20 30 0\n",
    )
    .unwrap();
    let out = run(&["trace", "stats", s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.tab:3: event_type") && err.contains("`one`"),
        "{err}"
    );

    let garbage = dir.path().join("noise.bin");
    fs::write(&garbage, [0u8, 159, 146, 150, b'\n', b'x']).unwrap();
    let out = run(&["trace", "stats", s(&garbage)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("noise.bin:1:"));
    assert_eq!(
        run(&["trace", "stats", s(&dir.path().join("missing"))])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["trace", "gen", "--preset", "nope", "-o", "x"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&["trace", "stats", s(&fta_sample()), "--window", "1:x"])
            .status
            .code(),
        Some(2)
    );

    // A binary trace cut short names the file, the byte and the field.
    let b = dir.path().join("b");
    ok(&["trace", "convert", s(&fta_sample()), s(&b), "--to", "bin"]);
    let file = b.join("trace.bin");
    let bytes = fs::read(&file).unwrap();
    fs::write(&file, &bytes[..bytes.len() - 3]).unwrap();
    let out = run(&["trace", "stats", s(&b)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("trace.bin: byte") && err.contains("ends: file truncated"),
        "{err}"
    );

    // A failed conversion leaves no output behind.
    let out_dir = dir.path().join("never");
    assert_eq!(
        run(&["trace", "convert", s(&bad), s(&out_dir), "--to", "csv"])
            .status
            .code(),
        Some(2)
    );
    assert!(!out_dir.exists());

    let cfg = dir.path().join("gen.toml");
    fs::write(&cfg, "name = \"x\"\nbogus = 1\n").unwrap();
    let out = run(&[
        "trace",
        "gen",
        "--config",
        s(&cfg),
        "-o",
        s(&dir.path().join("y")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gen.toml"));
}

#[test]
fn printed_config_regenerates_the_same_trace() {
    let dir = tempfile::tempdir().unwrap();
    for preset in ["seti", "g5klyo", "spot10"] {
        let cfg = dir.path().join(format!("{preset}.toml"));
        fs::write(
            &cfg,
            ok(&["trace", "gen", "--preset", preset, "--print-config"]),
        )
        .unwrap();
        let (a, b) = (
            dir.path().join(format!("{preset}-a")),
            dir.path().join(format!("{preset}-b")),
        );
        ok(&[
            "trace",
            "gen",
            "--preset",
            preset,
            "--hosts",
            "40",
            "--days",
            "2",
            "-o",
            s(&a),
        ]);
        ok(&[
            "trace",
            "gen",
            "--config",
            s(&cfg),
            "--hosts",
            "40",
            "--days",
            "2",
            "-o",
            s(&b),
        ]);
        assert_eq!(snapshot(&a), snapshot(&b), "{preset}");
    }
}

#[test]
fn every_subcommand_has_help_and_version_works() {
    for args in [
        vec!["--help"],
        vec!["trace", "--help"],
        vec!["trace", "gen", "--help"],
        vec!["trace", "stats", "--help"],
        vec!["trace", "convert", "--help"],
        vec!["trace", "presets", "--help"],
        vec!["sim", "--help"],
        vec!["stream", "--help"],
        vec!["sweep", "--help"],
        vec!["merge", "--help"],
        vec!["report", "--help"],
        vec!["plot", "timeline", "--help"],
        vec!["ledger", "verify", "--help"],
    ] {
        let out = ok(&args);
        assert!(out.contains("Usage"), "{args:?}");
    }
    assert!(ok(&["--version"]).starts_with("spequlos "));
    let presets = ok(&["trace", "presets"]);
    for name in [
        "seti",
        "seti-simple",
        "nd",
        "g5klyo",
        "g5kgre",
        "spot10",
        "spot100",
    ] {
        assert!(presets.lines().any(|l| l == name), "{name} listed");
    }
}
