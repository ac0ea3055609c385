//! Mean tail slowdown and TRE of a few strategies over 30 trace offsets (12 h apart).
//!
//! `cargo run --release -p spequlos-sim --example offsets -- [boinc|xwhep] [preset] [strategies...]`

use spequlos_core::Oracle;
use spequlos_sim::run::{load_trace, run_pair};
use spequlos_sim::scenario::{Middleware, Scenario};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mw = args.first().map_or("boinc", String::as_str);
    let preset = args.get(1).map_or("seti", String::as_str);
    let strategies: Vec<&str> = if args.len() > 2 {
        args[2..].iter().map(String::as_str).collect()
    } else {
        vec![
            "9A-G-F", "9A-G-R", "9A-G-D", "9C-G-F", "9C-G-R", "9C-G-D", "D-G-D", "T-G-D", "9C-C-D",
        ]
    };
    let mut sc = Scenario {
        middleware: Middleware::by_name(mw).expect("boinc or xwhep"),
        ..Scenario::default()
    };
    sc.trace.preset = preset.into();
    let trace = load_trace(&sc.trace).expect("trace");
    let oracle = Oracle::default();
    println!("{mw} on {preset}: mean over 30 offsets");
    println!(
        "{:<10} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "strategy", "base h", "speq h", "slowdn", "TRE", "speedup", "cloud%"
    );
    for s in strategies {
        sc.strategy = s.parse().expect("strategy");
        let (mut b, mut q, mut sl, mut tre, mut sp, mut cs, mut n) =
            (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for k in 0..30 {
            sc.trace.offset = k as f64 * 43200.0;
            let out = run_pair(&sc, &trace, &oracle).expect("run");
            let p = out.pair.unwrap();
            let m = &out.speq.as_ref().unwrap().metrics;
            if !(p.tre.is_finite() && m.completed()) {
                continue;
            }
            b += out.baseline.metrics.completion_time / 3600.0;
            q += m.completion_time / 3600.0;
            sl += out.baseline.metrics.tail_slowdown;
            tre += p.tre;
            sp += p.speedup;
            cs += m.cloud_share;
            n += 1.0;
        }
        println!(
            "{s:<10} {:>10.2} {:>10.2} {:>8.2} {:>8.3} {:>8.2} {:>8.2}  (n={n})",
            b / n,
            q / n,
            sl / n,
            tre / n,
            sp / n,
            100.0 * cs / n
        );
    }
}
