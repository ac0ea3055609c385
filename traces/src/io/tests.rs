//! Reader/writer tests: the FTA sample's quirks, every error kind, exact round trips through
//! every writer/reader pair, and garbage that must be rejected without a panic.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::gen::generate_quiet;
use crate::model::{SourceFormat, TraceBuilder};
use crate::presets;

fn sample_fta() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fta-sample/event_trace.tab")
}

fn read_default(path: &Path) -> Result<(Trace, ReadReport)> {
    read(path, &ReadOptions::default())
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

#[test]
fn fta_sample_reads_with_its_quirks() {
    let (t, rep) = read_default(&sample_fta()).unwrap();
    assert_eq!(t.host_count(), 40);
    assert_eq!(t.meta.source, SourceFormat::Fta);
    // The earliest event starts before the nominal 2005-01-01 origin; it becomes time 0.
    assert_eq!(t.meta.origin, Some(1104458119));
    assert_eq!(t.meta.span, 1108041548 - 1104458119);
    assert_eq!(rep.records, 1150);
    assert!(
        rep.zero_length_dropped > 0,
        "the sample has zero-length intervals"
    );
    assert_eq!(t.hosts()[0].name, "host-000");
    assert_eq!(t.hosts()[0].id, 1000);
    assert_eq!(t.hosts()[0].speed, DEFAULT_SPEED);
    // Host 0's first available interval, relative to the origin.
    assert_eq!(
        t.iter_intervals(0).next(),
        Some((1104509621 - 1104458119, 1104521775 - 1104458119))
    );
    // Every available second in the file is in the trace, once (the sample has no overlaps).
    let text = fs::read_to_string(sample_fta()).unwrap();
    let up: i64 = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f[5] == "1")
        .map(|f| f[7].parse::<i64>().unwrap() - f[6].parse::<i64>().unwrap())
        .sum();
    assert_eq!((0..40).map(|h| t.uptime(h)).sum::<i64>(), up);
}

#[test]
fn fta_accepts_end_time_header_and_node_tab_cores() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_file(
        dir.path(),
        "event_trace.tab",
        "event_id\tcomponent_id\tnode_id\tplatform_id\tnode_name\tevent_type\tevent_start_time\tevent_end_time\tevent_end_reason\n\
         0 0 7 1 a 0 100 200 0\n1 0 7 1 a 1 200 300 0\n\n2 0 9 1 b 1 150 400 0\n",
    );
    write_file(
        dir.path(),
        "node.tab",
        "node_id platform_id node_name cores_per_proc num_procs\n7 1 a 2 2\n9 1 b NULL 1\n11 1 c 8 8\n",
    );
    let (t, _) = read_default(dir.path()).unwrap();
    assert_eq!(t.meta.origin, Some(100));
    assert_eq!(t.meta.span, 300);
    assert_eq!(t.iter_intervals(0).collect::<Vec<_>>(), [(100, 200)]);
    assert_eq!(
        t.hosts().iter().map(|h| h.cores).collect::<Vec<_>>(),
        [4, 1]
    );
    assert_eq!(detect(&f).unwrap(), Format::Fta);
}

/// Every malformed input gives an error naming the file, the line and the field.
#[test]
fn errors_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let head = "event_id component_id node_id platform_id node_name event_type event_start_time event_stop_time event_end_reason\n";
    let cases = [
        (
            format!("{head}0 0 1 1 a 1 10 x 0\n"),
            ":2: event_stop_time",
            "found `x`",
        ),
        (
            format!("{head}0 0 1 1 a 1 10 20 0\n0 0 1 1 a 2 10 20 0\n"),
            ":3: event_type",
            "unknown state `2`",
        ),
        (
            format!("{head}0 0 1 1 a 1 30 20 0\n"),
            ":2: event_stop_time",
            "before it starts",
        ),
        (
            format!("{head}0 0 1 1 a 1 30\n"),
            ":2: row",
            "expected 9 fields",
        ),
        (
            format!("{head}0 0 -4 1 a 1 10 20 0\n"),
            ":2: node_id",
            "non-negative",
        ),
        (
            "event_id node_id event_type event_start_time\n".to_string(),
            ":1: header",
            "event_stop_time",
        ),
    ];
    for (i, (text, place, what)) in cases.iter().enumerate() {
        let f = write_file(dir.path(), &format!("c{i}.tab"), text);
        let err = read_default(&f).unwrap_err().to_string();
        assert!(err.contains(&format!("c{i}.tab{place}")), "case {i}: {err}");
        assert!(err.contains(what), "case {i}: {err}");
    }
    let empty = write_file(dir.path(), "empty.tab", "");
    assert!(read_default(&empty)
        .unwrap_err()
        .to_string()
        .contains("empty"));
    let only_head = write_file(dir.path(), "head.tab", head);
    assert!(read_default(&only_head)
        .unwrap_err()
        .to_string()
        .contains("no event rows"));
}

#[test]
fn native_csv_errors() {
    let cases = [
        (
            "host,name,speed,cores\n0,a,1000,1\n",
            "host,start,end\n0,5,x\n",
            "intervals.csv:2: end",
        ),
        (
            "host,name,speed,cores\n0,a,1000,1\n",
            "host,start,end\n3,5,6\n",
            "host 3 is not in hosts.csv",
        ),
        (
            "host,name,speed,cores\n0,a,1000,1\n",
            "host,start,end\n0,5\n",
            "intervals.csv:2: row",
        ),
        (
            "host,name,speed,cores\n0,a,1000,1\n",
            "host,begin,end\n",
            "intervals.csv:1: header",
        ),
        (
            "host,name,speed,cores\n0,a,-3,1\n",
            "host,start,end\n",
            "hosts.csv:2: speed",
        ),
        (
            "host,name,speed,cores\n0,a,1,0\n",
            "host,start,end\n",
            "hosts.csv:2: cores",
        ),
        (
            "host,name,speed,cores\n0,a,1,1\n0,b,1,1\n",
            "host,start,end\n",
            "already defined at line 2",
        ),
        (
            "host,name,speed\n0,a,1\n",
            "host,start,end\n",
            "missing column `cores`",
        ),
    ];
    for (i, (hosts, intervals, want)) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        write_file(dir.path(), "hosts.csv", hosts);
        write_file(dir.path(), "intervals.csv", intervals);
        let err = read_default(dir.path()).unwrap_err().to_string();
        assert!(err.contains(want), "case {i}: {err}");
    }
}

#[test]
fn tr_and_simgrid_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.tr", "0 10 1\n10 20 3\n");
    let err = read_default(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("a.tr:2: state") && err.contains("unknown state `3`"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.profile", "0 1\n20 0\n10 1\n");
    let err = read_default(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("a.profile:3: date") && err.contains("sorted"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.profile", "STOCHASTIC\nEXP 1 1\n");
    assert!(read_default(dir.path())
        .unwrap_err()
        .to_string()
        .contains("stochastic"));

    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.profile", "0 1\n10 0\nLOOPAFTER 5\n");
    let err = read_default(dir.path()).unwrap_err().to_string();
    assert!(err.contains("--span"), "{err}");
}

#[test]
fn many_profile_files_read_in_parallel_keep_order_and_the_first_error() {
    // Enough files for several parser threads.
    let dir = tempfile::tempdir().unwrap();
    for h in 0..1200 {
        write_file(
            dir.path(),
            &format!("h{h:04}.profile"),
            &format!("{h} 0\n{} 1\n", h + 10),
        );
    }
    let opts = ReadOptions {
        span: Some(5000),
        ..ReadOptions::default()
    };
    let (t, _) = read(dir.path(), &opts).unwrap();
    assert_eq!(t.host_count(), 1200);
    for h in [0usize, 599, 600, 1199] {
        let want: Vec<_> = if h == 0 {
            vec![(10, 5000)]
        } else {
            vec![(0, h as i64), (h as i64 + 10, 5000)]
        };
        assert_eq!(t.iter_intervals(h).collect::<Vec<_>>(), want, "host {h}");
    }
    // Two bad files in different chunks: the first by name is reported, every time.
    write_file(dir.path(), "h1100.profile", "x 1\n");
    write_file(dir.path(), "h0100.profile", "0 1\n20 0\n10 1\n");
    for _ in 0..3 {
        let err = read(dir.path(), &opts).unwrap_err().to_string();
        assert!(err.contains("h0100.profile:3"), "{err}");
    }
}

#[test]
fn many_tr_files_read_in_parallel_keep_order_and_the_first_error() {
    let dir = tempfile::tempdir().unwrap();
    for h in 0..1200 {
        write_file(
            dir.path(),
            &format!("h{h:04}.tr"),
            &format!("0 {h} 0\n{h} {} 1\n", h + 10),
        );
    }
    let (t, rep) = read(dir.path(), &ReadOptions::default()).unwrap();
    assert_eq!((t.host_count(), rep.records), (1200, 2400));
    for h in [0usize, 599, 600, 1199] {
        let h64 = h as i64;
        assert_eq!(
            t.iter_intervals(h).collect::<Vec<_>>(),
            vec![(h64, h64 + 10)]
        );
    }
    write_file(dir.path(), "h1100.tr", "x 1 1\n");
    write_file(dir.path(), "h0100.tr", "0 5 1\n5 7 2\n");
    for _ in 0..3 {
        let err = read(dir.path(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("h0100.tr:2: state"), "{err}");
    }
}

#[test]
fn simgrid_semantics_loop_and_default_on() {
    let dir = tempfile::tempdir().unwrap();
    // ON until 10, OFF until 15; repeats with period last date (15) + 5 = 20.
    write_file(
        dir.path(),
        "a.profile",
        "# comment\n% also a comment\n10 0\n15 1\nLOOPAFTER 5\n",
    );
    write_file(dir.path(), "b.profile", "0 0\n30 2.5\n");
    let opts = ReadOptions {
        span: Some(50),
        ..ReadOptions::default()
    };
    let (t, _) = read(dir.path(), &opts).unwrap();
    // Iteration k has events at 20k + 10 (off) and 20k + 15 (on); between iterations the host
    // stays in its last state (on).
    assert_eq!(
        t.iter_intervals(0).collect::<Vec<_>>(),
        [(0, 10), (15, 30), (35, 50)]
    );
    assert_eq!(t.iter_intervals(1).collect::<Vec<_>>(), [(30, 50)]);

    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "p.profile", "PERIODICITY 12\n2 0\n4 1\n");
    let (t, _) = read(
        dir.path(),
        &ReadOptions {
            span: Some(30),
            ..ReadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        t.iter_intervals(0).collect::<Vec<_>>(),
        [(0, 2), (4, 14), (16, 26), (28, 30)]
    );
}

#[test]
fn tr_uses_power_files_like_the_original() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "x.tr", "0 100 0\n100 250 1\n250 400 0\n");
    write_file(dir.path(), "y.tr", "0 400 1\n");
    fs::create_dir(dir.path().join("power")).unwrap();
    write_file(&dir.path().join("power"), "x", "2500\n");
    let (t, _) = read_default(dir.path()).unwrap();
    assert_eq!(t.meta.span, 400);
    assert_eq!(
        t.hosts().iter().map(|h| h.speed).collect::<Vec<_>>(),
        [2500.0, DEFAULT_SPEED]
    );
    assert_eq!(t.iter_intervals(0).collect::<Vec<_>>(), [(100, 250)]);
}

#[test]
fn detection() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        detect(dir.path()),
        Err(TraceError::UnknownFormat { .. })
    ));
    let f = write_file(dir.path(), "x.txt", "hello\n");
    let err = detect(&f).unwrap_err().to_string();
    assert!(
        err.contains("x.txt:1: format") && err.contains("`hello`") && err.contains("--format"),
        "{err}"
    );
    assert!(matches!(
        read_default(&dir.path().join("missing")),
        Err(TraceError::Io { .. })
    ));
}

fn round_trip(trace: &Trace, format: Format) -> Trace {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t");
    write(trace, &out, format).unwrap();
    assert_eq!(detect(&out).unwrap(), format);
    let (back, rep) = read_default(&out).unwrap();
    assert_eq!(
        rep.notes(),
        Vec::<String>::new(),
        "{format}: a clean file needs no adjustment"
    );
    back
}

#[test]
fn every_writer_round_trips_every_preset() {
    for p in presets::all() {
        let t = generate_quiet(&p.config(), 30, 3 * 86400, 42).unwrap();
        for f in [Format::Csv, Format::Simgrid, Format::Tr, Format::Bin] {
            assert_eq!(round_trip(&t, f), t, "{} through {f}", p.name);
        }
    }
}

#[test]
fn fta_converts_to_every_format_exactly() {
    let (t, _) = read_default(&sample_fta()).unwrap();
    for f in [Format::Csv, Format::Simgrid, Format::Tr, Format::Bin] {
        assert_eq!(round_trip(&t, f), t, "{f}");
    }
}

#[test]
fn writing_replaces_output_whole_and_rejects_bad_names() {
    let t = generate_quiet(&presets::get("seti").unwrap(), 5, 86400, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    write(&t, &out, Format::Simgrid).unwrap();
    let e = write(&t, &out, Format::Csv).unwrap_err().to_string();
    assert!(e.contains("not empty"), "{e}");
    assert!(
        out.join("host-000000.profile").exists(),
        "a refused write touches nothing"
    );
    write_replacing(&t, &out, Format::Csv).unwrap();
    assert!(
        !out.join("host-000000.profile").exists(),
        "the old output is gone, not mixed in"
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary left behind"
    );

    let mut b = TraceBuilder::new("mem");
    b.add_host(Host {
        id: 0,
        name: "a/b".into(),
        speed: 1.0,
        cores: 1,
    });
    let meta = TraceMeta {
        name: "x".into(),
        source: SourceFormat::Csv,
        origin: None,
        span: 10,
    };
    let bad = b.finish(meta, false).unwrap().0;
    let err = write(&bad, &dir.path().join("bad"), Format::Tr)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be a file name"), "{err}");
    assert!(!dir.path().join("bad").exists());
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "failed write leaves nothing"
    );
    // Names that need CSV quoting survive the native format.
    let mut b = TraceBuilder::new("mem");
    b.add_host(Host {
        id: 5,
        name: "a, \"quoted\" name".into(),
        speed: 0.1,
        cores: 3,
    });
    b.push(0, 1, 2);
    let meta = TraceMeta {
        name: "x".into(),
        source: SourceFormat::Csv,
        origin: Some(-3),
        span: 10,
    };
    let odd = b.finish(meta, false).unwrap().0;
    assert_eq!(round_trip(&odd, Format::Csv), odd);
}

fn arb_trace() -> impl Strategy<Value = Trace> {
    let host = (
        0.001f64..1e7,
        1u32..64,
        proptest::collection::vec((0i64..10_000, 0i64..500), 0..20),
    );
    (
        proptest::collection::vec(host, 1..8),
        1i64..12_000,
        proptest::option::of(-1_000_000i64..2_000_000_000),
    )
        .prop_map(|(hosts, span, origin)| {
            let mut b = TraceBuilder::new("prop");
            for (i, (speed, cores, ivs)) in hosts.into_iter().enumerate() {
                let h = b.add_host(Host {
                    id: (i * 3) as u64,
                    name: format!("n{i}"),
                    speed,
                    cores,
                });
                for (s, len) in ivs {
                    b.push(h, s, s + len);
                }
            }
            let meta = TraceMeta {
                name: "prop".into(),
                source: SourceFormat::Generated,
                origin,
                span,
            };
            b.finish(meta, false).unwrap().0
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_traces_round_trip(t in arb_trace()) {
        for f in [Format::Csv, Format::Simgrid, Format::Tr, Format::Bin] {
            prop_assert_eq!(&round_trip(&t, f), &t);
        }
    }

    /// A binary trace with random bytes overwritten, or cut short, is read or rejected, never
    /// a panic; whatever is accepted is a canonical trace (the CSV round trip needs no repair).
    #[test]
    fn corrupt_binary_never_panics(t in arb_trace(), edits in proptest::collection::vec((0usize..4096, 0u8..=255), 1..6), cut in proptest::option::of(0usize..4096)) {
        let dir = tempfile::tempdir().unwrap();
        write(&t, &dir.path().join("b"), Format::Bin).unwrap();
        let file = dir.path().join("b/trace.bin");
        let mut bytes = std::fs::read(&file).unwrap();
        for (at, v) in edits {
            let n = bytes.len();
            bytes[at % n] = v;
        }
        if let Some(c) = cut {
            bytes.truncate(c.min(bytes.len()));
        }
        std::fs::write(&file, &bytes).unwrap();
        let opts = ReadOptions { format: Some(Format::Bin), ..ReadOptions::default() };
        if let Ok((back, _)) = read(&file, &opts) {
            prop_assert_eq!(&round_trip(&back, Format::Csv), &back);
        }
    }

    /// Random lines in any format are accepted or rejected, never a panic.
    #[test]
    fn garbage_never_panics(lines in proptest::collection::vec("[ -~\t]{0,40}", 0..12), numeric in proptest::collection::vec("[-0-9 .,\te]{0,30}", 0..12)) {
        let dir = tempfile::tempdir().unwrap();
        let mut body = lines.join("\n");
        body.push('\n');
        body.push_str(&numeric.join("\n"));
        let fta_head = "event_id component_id node_id platform_id node_name event_type event_start_time event_stop_time event_end_reason\n";
        let f = write_file(dir.path(), "g.tab", &format!("{fta_head}{body}"));
        let _ = read_default(&f);
        let _ = read_default(&write_file(dir.path(), "raw.tab", &body));
        for (sub, name) in [("tr", "h.tr"), ("sg", "h.profile")] {
            let d = dir.path().join(sub);
            fs::create_dir(&d).unwrap();
            write_file(&d, name, &body);
            let _ = read_default(&d);
            let _ = read(&d, &ReadOptions { span: Some(1000), ..ReadOptions::default() });
        }
        let d = dir.path().join("csv");
        fs::create_dir(&d).unwrap();
        write_file(&d, "hosts.csv", &format!("host,name,speed,cores\n0,a,1,1\n{body}"));
        write_file(&d, "intervals.csv", &format!("host,start,end\n{body}"));
        let _ = read_default(&d);
        write_file(&d, "hosts.csv", "host,name,speed,cores\n0,a,1,1\n");
        let _ = read_default(&d);
    }
}

/// Real FTA traces have hosts that share a name (one has 596 hosts under 268 names): the
/// per-host formats give each its own file and read every host back exactly.
#[test]
fn hosts_sharing_a_name_round_trip_through_per_host_formats() {
    let mut b = TraceBuilder::new("mem");
    // " a" also checks that names keep their spaces (hosts.csv is not trimmed).
    let names = ["a", "a", "a~2", "b", "a", "b", " a"];
    for (i, n) in names.iter().enumerate() {
        let h = b.add_host(Host {
            id: 10 + i as u64,
            name: n.to_string(),
            speed: 100.0 + i as f64,
            cores: 1 + i as u32 % 2,
        });
        let s = 1000 * i as i64;
        b.push(h, s, s + 500);
        b.push(h, s + 700, s + 900 + i as i64);
    }
    let meta = TraceMeta {
        name: "dups".into(),
        source: SourceFormat::Csv,
        origin: None,
        span: 10_000,
    };
    let (t, _) = b.finish(meta, false).unwrap();
    for f in [Format::Simgrid, Format::Tr, Format::Csv, Format::Bin] {
        let back = round_trip(&t, f);
        assert_eq!(back.host_count(), names.len(), "{f}");
        for h in 0..names.len() {
            assert_eq!(back.hosts()[h], t.hosts()[h], "{f}: host {h}");
            assert_eq!(
                back.iter_intervals(h).collect::<Vec<_>>(),
                t.iter_intervals(h).collect::<Vec<_>>(),
                "{f}: host {h}"
            );
        }
    }
}

/// Every reader's progress ends at the total it announced (a log's last line says 100 %).
#[test]
fn progress_reaches_the_announced_total_in_every_format() {
    use std::sync::atomic::{AtomicU64, Ordering};
    #[derive(Default)]
    struct Count {
        total: AtomicU64,
        done: AtomicU64,
    }
    impl Progress for Count {
        fn start(&self, total: u64) {
            self.total.store(total, Ordering::Relaxed);
        }
        fn advance(&self, n: u64) {
            self.done.fetch_add(n, Ordering::Relaxed);
        }
        fn wants_total(&self) -> bool {
            true
        }
    }
    let t = generate_quiet(&presets::get("seti").unwrap(), 30, 3 * 86400, 5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for f in Format::ALL {
        // FTA is read, not written: its sample file stands in.
        let d = if f == Format::Fta {
            sample_fta()
        } else {
            let d = dir.path().join(format!("{f:?}"));
            write(&t, &d, f).unwrap();
            d
        };
        let count = Count::default();
        let opts = ReadOptions {
            format: Some(f),
            span: (f != Format::Fta).then_some(t.meta.span),
            progress: &count,
            ..ReadOptions::default()
        };
        read(&d, &opts).unwrap();
        let (total, done) = (count.total.into_inner(), count.done.into_inner());
        assert!(total > 0, "{f:?}");
        assert_eq!(done, total, "{f:?}");
    }
}
