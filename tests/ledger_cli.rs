//! End-to-end tests of `spequlos ledger verify`.

mod common;

use common::{ok, run, s};
use spequlos_core::BotKey;
use spequlos_runtime::store::Store;

#[test]
fn verify_reports_a_sound_ledger_and_names_a_tampered_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.sqlite");
    {
        let mut st = Store::open(&db).unwrap();
        let bot = BotKey::new("b", "seti");
        st.deposit(0.0, "u", 20).unwrap();
        st.order(0.0, "u", &bot, 10).unwrap();
        st.charge(240.0, &bot, 0, 1).unwrap();
        st.charge(240.0, &bot, 1, 1).unwrap();
    }
    let out = ok(&["ledger", "verify", "--db", s(&db)]);
    assert_eq!(
        out.trim(),
        "ledger OK: 4 entries, 1 orders (1 open), 2 credits charged"
    );

    let conn = rusqlite_connection(&db);
    conn.execute("DELETE FROM ledger WHERE seq = 1", [])
        .unwrap();
    drop(conn);
    let out = run(&["ledger", "verify", "--db", s(&db)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("state.sqlite") && err.contains("entry 2"),
        "{err}"
    );

    let out = run(&[
        "ledger",
        "verify",
        "--db",
        s(&dir.path().join("missing.sqlite")),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// Raw access for the tampering step, through the SQLite the runtime links.
fn rusqlite_connection(path: &std::path::Path) -> spequlos_runtime::store::RawConnection {
    spequlos_runtime::store::raw_connection(path).unwrap()
}
