//! Writes credit movements into a store until killed: the subject of the kill -9 test.
//!
//!   ledger_writer STATE.sqlite

use spequlos_core::BotKey;
use spequlos_runtime::store::Store;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: ledger_writer STATE.sqlite");
    let mut s = Store::open(std::path::Path::new(&path)).expect("store opens");
    // A restarted writer carries on after what the store already holds.
    let mut t = s.ledger().entries().last().map_or(0.0, |e| e.t);
    let first = s.ledger().orders().count() as u64;
    for b in first.. {
        let bot = BotKey::new(format!("batch-{b}"), "seti");
        s.deposit(t, "user", 100).expect("deposit");
        s.order(t, "user", &bot, 50).expect("order");
        for w in 0..20 {
            t += 1.0;
            s.charge(t, &bot, w, 2).expect("charge");
        }
        s.close(t, &bot).expect("close");
    }
}
