//! A process writing credit movements is killed with SIGKILL at arbitrary points; the store it
//! leaves must replay exactly (every movement whole or absent) and keep accepting movements.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use spequlos_core::BotKey;
use spequlos_runtime::store::{self, Store};

/// `target/<profile>/examples/ledger_writer`, built by `cargo test` beside this test.
fn writer() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples")
        .join(format!("ledger_writer{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn killed_writers_leave_a_ledger_that_replays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.sqlite");
    let mut last = 0;
    for round in 0..5 {
        let mut child = Command::new(writer())
            .arg(&path)
            .spawn()
            .expect("the example is built by cargo test");
        // Let it write a little more each round, then kill it mid-stream.
        let until = Instant::now() + Duration::from_millis(40 + 30 * round);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let audit = store::verify(&path).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(audit.entries >= last, "nothing committed is lost");
        last = audit.entries;
    }
    assert!(
        last > 0,
        "the writer committed movements before being killed"
    );
    // The store still takes movements, and charges add up exactly.
    let mut s = Store::open(&path).unwrap();
    s.deposit(1e9, "after", 3).unwrap();
    s.order(1e9, "after", &BotKey::new("final", "seti"), 3)
        .unwrap();
    s.charge(1e9, &BotKey::new("final", "seti"), 0, 3).unwrap();
    let charged: u64 = s.ledger().orders().map(|(_, o)| o.spent).sum();
    let charges: u64 = s
        .ledger()
        .entries()
        .iter()
        .filter(|e| matches!(e.kind, spequlos_core::ledger::EntryKind::Charge { .. }))
        .map(|e| e.amount)
        .sum();
    assert_eq!(charged, charges);
}
