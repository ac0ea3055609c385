//! The Credit System: user accounts, QoS orders per BoT, charges, refunds.
//!
//! Credits are whole numbers, so balances are exact. Every movement is an [`Entry`]; balances
//! can be recomputed from the entries ([`Ledger::verify`]), which is what an audit does. No
//! operation can make a balance negative: a charge that cannot be paid is refused and the
//! caller stops the worker.
//!
//! No operation can overflow either: all the credits in circulation (accounts plus what open
//! orders hold) stay at or below [`MAX_CREDITS`], a deposit that would pass it is refused, and
//! every other movement only moves or destroys credits. 2^53 also keeps every amount exact
//! where JSON readers hold numbers as doubles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub type Credits = u64;

/// The most credits that may exist at once in one ledger (2^53).
pub const MAX_CREDITS: Credits = 1 << 53;

/// A BoT is identified by its batch id on a desktop grid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BotKey {
    pub batch: String,
    pub dg: String,
}

impl BotKey {
    pub fn new(batch: impl Into<String>, dg: impl Into<String>) -> Self {
        BotKey {
            batch: batch.into(),
            dg: dg.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// Credits given to a user (bought, or earned by an institution).
    Deposit { user: String },
    /// Credits moved from a user account to a BoT order.
    Order { user: String, bot: BotKey },
    /// One tick of one Cloud worker.
    Charge { bot: BotKey, worker: u32 },
    /// What a finished BoT did not spend, back to its user.
    Refund { user: String, bot: BotKey },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub t: f64,
    pub kind: EntryKind,
    pub amount: Credits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub user: String,
    pub ordered: Credits,
    pub spent: Credits,
    pub open: bool,
}

impl Order {
    pub fn balance(&self) -> Credits {
        self.ordered - self.spent
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("user `{user}` has {balance} credits, {wanted} wanted")]
    Insufficient {
        user: String,
        balance: Credits,
        wanted: Credits,
    },
    #[error("no open order for batch `{}` on `{}`", .0.batch, .0.dg)]
    NoOrder(BotKey),
    #[error("the order for batch `{}` on `{}` is closed", .0.batch, .0.dg)]
    Closed(BotKey),
    #[error("a deposit of {amount} credits would put {circulating} + {amount} credits in circulation, over the limit of {MAX_CREDITS}")]
    Overflow {
        amount: Credits,
        circulating: Credits,
    },
    #[error("the total ordered for batch `{}` on `{}` would overflow", .0.batch, .0.dg)]
    OrderTotal(BotKey),
    #[error("the ledger does not balance: {0}")]
    Audit(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    accounts: BTreeMap<String, Credits>,
    orders: BTreeMap<BotKey, Order>,
    entries: Vec<Entry>,
    /// Credits in accounts and open orders: deposits add, charges remove, the rest moves.
    circulating: Credits,
}

impl Ledger {
    pub fn balance(&self, user: &str) -> Credits {
        self.accounts.get(user).copied().unwrap_or(0)
    }

    pub fn order_of(&self, bot: &BotKey) -> Option<&Order> {
        self.orders.get(bot)
    }

    pub fn orders(&self) -> impl Iterator<Item = (&BotKey, &Order)> {
        self.orders.iter()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn record(&mut self, t: f64, kind: EntryKind, amount: Credits) {
        let seq = self.entries.len() as u64;
        self.entries.push(Entry {
            seq,
            t,
            kind,
            amount,
        });
    }

    /// Credits in accounts and in open orders.
    pub fn circulating(&self) -> Credits {
        self.circulating
    }

    /// Gives `amount` credits to `user`; refused if it would put more than [`MAX_CREDITS`] in
    /// circulation.
    pub fn deposit(&mut self, t: f64, user: &str, amount: Credits) -> Result<(), LedgerError> {
        let circulating = self.circulating();
        if amount > MAX_CREDITS - circulating.min(MAX_CREDITS) {
            return Err(LedgerError::Overflow {
                amount,
                circulating,
            });
        }
        *self.accounts.entry(user.to_string()).or_default() += amount;
        self.circulating += amount;
        self.record(t, EntryKind::Deposit { user: user.into() }, amount);
        Ok(())
    }

    /// Moves `amount` from `user` to the order of `bot` (an order may be topped up while open).
    pub fn order(
        &mut self,
        t: f64,
        user: &str,
        bot: &BotKey,
        amount: Credits,
    ) -> Result<(), LedgerError> {
        let balance = self.balance(user);
        if amount > balance {
            return Err(LedgerError::Insufficient {
                user: user.into(),
                balance,
                wanted: amount,
            });
        }
        if let Some(o) = self.orders.get(bot) {
            if !o.open {
                return Err(LedgerError::Closed(bot.clone()));
            }
            // `ordered` adds up every top-up, spent ones included: bounded by the deposits
            // only over the order's life, so check it.
            if o.ordered.checked_add(amount).is_none() {
                return Err(LedgerError::OrderTotal(bot.clone()));
            }
        }
        *self.accounts.get_mut(user).expect("balance checked") -= amount;
        let o = self.orders.entry(bot.clone()).or_insert_with(|| Order {
            user: user.into(),
            ordered: 0,
            spent: 0,
            open: true,
        });
        o.ordered += amount;
        self.record(
            t,
            EntryKind::Order {
                user: user.into(),
                bot: bot.clone(),
            },
            amount,
        );
        Ok(())
    }

    /// Charges one tick of `worker` to `bot`; refused (nothing recorded) if the order cannot pay.
    pub fn charge(
        &mut self,
        t: f64,
        bot: &BotKey,
        worker: u32,
        amount: Credits,
    ) -> Result<(), LedgerError> {
        let o = self
            .orders
            .get_mut(bot)
            .ok_or_else(|| LedgerError::NoOrder(bot.clone()))?;
        if !o.open {
            return Err(LedgerError::Closed(bot.clone()));
        }
        if o.balance() < amount {
            return Err(LedgerError::Insufficient {
                user: o.user.clone(),
                balance: o.balance(),
                wanted: amount,
            });
        }
        o.spent += amount;
        self.circulating -= amount;
        self.record(
            t,
            EntryKind::Charge {
                bot: bot.clone(),
                worker,
            },
            amount,
        );
        Ok(())
    }

    /// Takes back the last charge of `worker` to `bot`: the entry goes and its credits return
    /// to the order. Only for a movement nobody has committed yet (a turn's scratch ledger,
    /// see [`Ledger::scratch`]): a worker whose start failed was charged for a tick it never
    /// ran. Returns the credits given back (0 if there was no such charge).
    pub fn withdraw_charge(&mut self, bot: &BotKey, worker: u32) -> Credits {
        let Some(i) = self.entries.iter().rposition(|e| {
            matches!(&e.kind, EntryKind::Charge { bot: b, worker: w } if b == bot && *w == worker)
        }) else {
            return 0;
        };
        let e = self.entries.remove(i);
        for (k, later) in self.entries.iter_mut().enumerate().skip(i) {
            later.seq = k as u64;
        }
        if let Some(o) = self.orders.get_mut(bot) {
            o.spent -= e.amount;
        }
        self.circulating += e.amount;
        e.amount
    }

    /// Closes the order of a finished BoT and returns what it did not spend to its user.
    pub fn close(&mut self, t: f64, bot: &BotKey) -> Result<Credits, LedgerError> {
        let o = self
            .orders
            .get_mut(bot)
            .ok_or_else(|| LedgerError::NoOrder(bot.clone()))?;
        if !o.open {
            return Ok(0);
        }
        o.open = false;
        let (user, back) = (o.user.clone(), o.balance());
        *self.accounts.entry(user.clone()).or_default() += back;
        self.record(
            t,
            EntryKind::Refund {
                user,
                bot: bot.clone(),
            },
            back,
        );
        Ok(back)
    }

    /// A ledger holding only what one Scheduler turn for `bot` can touch (its order and its
    /// user's account), without the history. A driver that must carry decisions out before
    /// committing them runs the turn on it, then re-applies the entries it made to the real
    /// ledger with [`Ledger::apply`], instead of copying every past entry each turn.
    pub fn scratch(&self, bot: &BotKey) -> Ledger {
        let mut l = Ledger::default();
        if let Some(o) = self.orders.get(bot) {
            let balance = self.balance(&o.user);
            l.accounts.insert(o.user.clone(), balance);
            l.orders.insert(bot.clone(), o.clone());
            l.circulating = balance + if o.open { o.balance() } else { 0 };
        }
        l
    }

    /// Applies a recorded movement again (replaying a log, or re-applying a subset of a
    /// tick's movements). A refund must equal what the order has left.
    pub fn apply(&mut self, e: &Entry) -> Result<(), LedgerError> {
        match &e.kind {
            EntryKind::Deposit { user } => self.deposit(e.t, user, e.amount),
            EntryKind::Order { user, bot } => self.order(e.t, user, bot, e.amount),
            EntryKind::Charge { bot, worker } => self.charge(e.t, bot, *worker, e.amount),
            EntryKind::Refund { bot, .. } => {
                let got = self.close(e.t, bot)?;
                if got == e.amount {
                    Ok(())
                } else {
                    Err(LedgerError::Audit(format!(
                        "refund of {} recorded, the order had {got} left",
                        e.amount
                    )))
                }
            }
        }
    }

    /// Replays the entries and checks every balance and order against them.
    pub fn verify(&self) -> Result<(), LedgerError> {
        let mut accounts: BTreeMap<&str, i128> = BTreeMap::new();
        let mut orders: BTreeMap<&BotKey, (i128, i128)> = BTreeMap::new();
        let mut circulating: i128 = 0;
        let add = |b: &mut i128, a: i128| {
            *b += a;
            *b
        };
        for (i, e) in self.entries.iter().enumerate() {
            if e.seq != i as u64 {
                return Err(LedgerError::Audit(format!(
                    "entry {i} has sequence {}",
                    e.seq
                )));
            }
            let a = e.amount as i128;
            // Only the balances an entry touches can go negative; credits in circulation
            // change by deposits (in) and charges (spent, out).
            let negative = match &e.kind {
                EntryKind::Deposit { user } => {
                    circulating += a;
                    add(accounts.entry(user).or_default(), a) < 0
                }
                EntryKind::Order { user, bot } => {
                    orders.entry(bot).or_default().0 += a;
                    add(accounts.entry(user).or_default(), -a) < 0
                }
                EntryKind::Charge { bot, .. } => {
                    circulating -= a;
                    let o = orders.entry(bot).or_default();
                    o.1 += a;
                    o.1 > o.0
                }
                EntryKind::Refund { user, .. } => add(accounts.entry(user).or_default(), a) < 0,
            };
            if negative {
                return Err(LedgerError::Audit(format!(
                    "a balance goes negative at entry {i}"
                )));
            }
            if circulating > MAX_CREDITS as i128 {
                return Err(LedgerError::Audit(format!(
                    "entry {i} ({:?} of {}) puts {circulating} credits in circulation, over the limit of {MAX_CREDITS}",
                    e.kind, e.amount
                )));
            }
        }
        if circulating != self.circulating as i128 {
            return Err(LedgerError::Audit(format!(
                "{} credits in circulation, its entries say {circulating}",
                self.circulating
            )));
        }
        for (user, &bal) in &self.accounts {
            if accounts.get(user.as_str()).copied().unwrap_or(0) != bal as i128 {
                return Err(LedgerError::Audit(format!(
                    "account `{user}` is {bal}, its entries say otherwise"
                )));
            }
        }
        for (bot, o) in &self.orders {
            let (ordered, spent) = orders.get(bot).copied().unwrap_or((0, 0));
            if ordered != o.ordered as i128 || spent != o.spent as i128 {
                return Err(LedgerError::Audit(format!(
                    "order for `{}` does not match its entries",
                    bot.batch
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_on_a_scratch_ledger_replays_onto_the_real_one() {
        let bot = BotKey::new("b", "dg");
        let mut l = Ledger::default();
        l.deposit(0.0, "u", 50).unwrap();
        l.deposit(0.0, "other", 7).unwrap();
        l.order(1.0, "u", &bot, 20).unwrap();
        let mut direct = l.clone();
        let mut scratch = l.scratch(&bot);
        for w in 0..3 {
            scratch.charge(2.0, &bot, w, 4).unwrap();
            direct.charge(2.0, &bot, w, 4).unwrap();
        }
        assert_eq!(scratch.close(3.0, &bot).unwrap(), 8);
        direct.close(3.0, &bot).unwrap();
        for e in scratch.entries() {
            l.apply(e).unwrap();
        }
        assert_eq!(l, direct);
        l.verify().unwrap();
        assert!(l
            .scratch(&BotKey::new("none", "dg"))
            .orders()
            .next()
            .is_none());
    }

    #[test]
    fn order_charge_refund_and_audit() {
        let mut l = Ledger::default();
        let bot = BotKey::new("b1", "seti");
        l.deposit(0.0, "alice", 100).unwrap();
        assert!(matches!(
            l.order(0.0, "alice", &bot, 150),
            Err(LedgerError::Insufficient { .. })
        ));
        l.order(0.0, "alice", &bot, 10).unwrap();
        assert_eq!(l.balance("alice"), 90);
        for w in 0..10 {
            l.charge(240.0, &bot, w, 1).unwrap();
        }
        assert!(
            l.charge(480.0, &bot, 0, 1).is_err(),
            "the order is empty; the balance never goes negative"
        );
        assert_eq!(l.order_of(&bot).unwrap().spent, 10);
        assert_eq!(l.close(500.0, &bot).unwrap(), 0);
        assert!(matches!(
            l.charge(600.0, &bot, 0, 1),
            Err(LedgerError::Closed(_))
        ));
        l.verify().unwrap();

        let b2 = BotKey::new("b2", "seti");
        l.order(700.0, "alice", &b2, 50).unwrap();
        l.charge(720.0, &b2, 3, 5).unwrap();
        assert_eq!(l.close(800.0, &b2).unwrap(), 45);
        assert_eq!(l.balance("alice"), 85);
        l.verify().unwrap();
        assert_eq!(l.entries().len(), 1 + 1 + 10 + 1 + 1 + 1 + 1);
    }

    #[test]
    fn no_movement_overflows() {
        let mut l = Ledger::default();
        let bot = BotKey::new("b", "dg");
        l.deposit(0.0, "u", MAX_CREDITS - 10).unwrap();
        l.order(0.0, "u", &bot, MAX_CREDITS - 20).unwrap();
        for amount in [11, u64::MAX, MAX_CREDITS] {
            let before = l.clone();
            assert!(matches!(
                l.deposit(1.0, "v", amount),
                Err(LedgerError::Overflow { .. })
            ));
            assert_eq!(l, before, "a refused deposit writes nothing");
        }
        l.deposit(1.0, "v", 10).unwrap();
        // Spent credits leave circulation, so the room comes back.
        l.charge(2.0, &bot, 0, 1000).unwrap();
        l.deposit(3.0, "v", 1000).unwrap();
        assert_eq!(l.circulating(), MAX_CREDITS);
        assert_eq!(l.close(4.0, &bot).unwrap(), MAX_CREDITS - 1020);
        l.verify().unwrap();
        // A log written by an older version with an overflowing deposit: the audit names it.
        let mut bad = Ledger::default();
        bad.entries.push(Entry {
            seq: 0,
            t: 0.0,
            kind: EntryKind::Deposit { user: "u".into() },
            amount: u64::MAX,
        });
        let e = bad.verify().unwrap_err().to_string();
        assert!(e.contains("entry 0"), "{e}");
        assert!(Ledger::default().apply(&bad.entries[0]).is_err());
    }

    #[test]
    fn tampering_is_detected() {
        let mut l = Ledger::default();
        l.deposit(0.0, "u", 5).unwrap();
        l.accounts.insert("u".into(), 6);
        assert!(matches!(l.verify(), Err(LedgerError::Audit(_))));
    }
}
