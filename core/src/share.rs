//! Sharing a capped Cloud between BoTs.
//!
//! When several BoTs of one service are in their tails at once and the Cloud they draw from
//! (a DG's quota, the service's account) runs at most `cap` workers, their controllers may
//! want to start more than are free. A policy decides which starts go ahead; the driver
//! refuses the others (`QosController::start_failed`: the charge is taken back and the
//! controller asks again at its next turn, so refused BoTs compete again as workers free).
//!
//! [`allocate`] shares only what is free: running workers are never taken back, so the BoT
//! that deploys first may hold the whole cap for its tail and the policy only decides among
//! those refused. [`targets`] shares the whole cap by the policy (each claim's running workers
//! plus its asks are its demand); a driver that preempts takes back what a BoT runs above its
//! target (the controller is told the worker was lost) and starts the others' up to theirs.

use serde::{Deserialize, Serialize};

use crate::ledger::Credits;

/// Who gets the free Cloud workers when BoTs ask for more than there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SharePolicy {
    /// The earliest BoT first (arrival, then the order of the claims).
    #[default]
    FirstCome,
    /// In proportion to the credits each claimant has left (largest remainders first).
    Credits,
    /// Max-min fair share between users, as pilot-job systems share a pool: each free worker
    /// goes to the user running the fewest Cloud workers, counting those just given.
    MaxMin,
    /// Earliest deadline first; BoTs without a deadline after those with one, by arrival.
    Deadline,
}

impl SharePolicy {
    pub const ALL: [SharePolicy; 4] = [
        SharePolicy::FirstCome,
        SharePolicy::Credits,
        SharePolicy::MaxMin,
        SharePolicy::Deadline,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SharePolicy::FirstCome => "first-come",
            SharePolicy::Credits => "credits",
            SharePolicy::MaxMin => "max-min",
            SharePolicy::Deadline => "deadline",
        }
    }
}

impl std::str::FromStr for SharePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SharePolicy::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("unknown share policy `{s}` (first-come, credits, max-min, deadline)")
            })
    }
}

/// One BoT's part in a turn: what it runs and what it asks for. A BoT that asks nothing may
/// still be listed: its running workers count toward its user's share under max-min.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// Its user, as an index (max-min shares between users).
    pub user: u32,
    pub arrival: f64,
    /// When its user wants it complete, if the order says.
    pub deadline: Option<f64>,
    /// Credits its order has left.
    pub balance: Credits,
    /// Cloud workers it runs already.
    pub running: u32,
    /// Workers it asks to start now.
    pub wants: u32,
}

/// How many of its `wants` each claim may start when `free` workers are free. Every policy
/// gives `min(free, total wanted)` in all, never more than a claim wants; ties go to the
/// earlier claim, so the result depends on nothing but the claims and their order.
pub fn allocate(policy: SharePolicy, free: u32, claims: &[Claim]) -> Vec<u32> {
    let wanted: u64 = claims.iter().map(|c| u64::from(c.wants)).sum();
    if wanted <= u64::from(free) {
        return claims.iter().map(|c| c.wants).collect();
    }
    match policy {
        SharePolicy::FirstCome => in_order(free, claims, |c| (c.arrival, f64::NEG_INFINITY)),
        SharePolicy::Deadline => in_order(free, claims, |c| {
            (c.deadline.unwrap_or(f64::INFINITY), c.arrival)
        }),
        SharePolicy::Credits => proportional(free, claims),
        SharePolicy::MaxMin => max_min(free, claims),
    }
}

/// Each claim's share of the whole `cap` by the policy, its demand being what it runs plus
/// what it asks: never more than its demand, `min(cap, total demand)` in all. Under
/// first-come and deadline, the earlier claims' demands are met first; under credits, shares
/// follow the credits left; under max-min, users are evened out.
pub fn targets(policy: SharePolicy, cap: u32, claims: &[Claim]) -> Vec<u32> {
    let demand: Vec<Claim> = claims
        .iter()
        .map(|c| Claim {
            running: 0,
            wants: c.running.saturating_add(c.wants),
            ..c.clone()
        })
        .collect();
    allocate(policy, cap, &demand)
}

/// Claims served whole in the order of `key` (then claim order) until nothing is free.
fn in_order(mut free: u32, claims: &[Claim], key: impl Fn(&Claim) -> (f64, f64)) -> Vec<u32> {
    let mut order: Vec<usize> = (0..claims.len()).collect();
    order.sort_by(|&a, &b| {
        let (ka, kb) = (key(&claims[a]), key(&claims[b]));
        ka.0.total_cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
    });
    let mut grant = vec![0; claims.len()];
    for i in order {
        let g = claims[i].wants.min(free);
        grant[i] = g;
        free -= g;
    }
    grant
}

/// Shares in proportion to the credits left (Hamilton's largest remainders), each capped at
/// what the claim wants; what capped claims leave is shared again among the others.
fn proportional(mut free: u32, claims: &[Claim]) -> Vec<u32> {
    let mut grant = vec![0u32; claims.len()];
    // A claimant with no credits left still weighs one credit, so it is not starved (its
    // controller would not ask without credits for a tick).
    let weight = |i: usize| u128::from(claims[i].balance.max(1));
    while free > 0 {
        let open: Vec<usize> = (0..claims.len())
            .filter(|&i| grant[i] < claims[i].wants)
            .collect();
        if open.is_empty() {
            break;
        }
        let total: u128 = open.iter().map(|&i| weight(i)).sum();
        let mut given = 0u32;
        let mut rest: Vec<(u128, usize)> = Vec::new();
        for &i in &open {
            let quota = u128::from(free) * weight(i);
            let g = ((quota / total) as u32).min(claims[i].wants - grant[i]);
            grant[i] += g;
            given += g;
            if grant[i] < claims[i].wants {
                rest.push((quota % total, i));
            }
        }
        // The workers the floors leave, one each to the largest remainders.
        rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, i) in rest.into_iter().take((free - given) as usize) {
            grant[i] += 1;
            given += 1;
        }
        free -= given;
    }
    grant
}

/// One worker at a time to the user running the fewest (ties: the user of the earlier claim),
/// within a user to its earliest claim that wants more.
fn max_min(free: u32, claims: &[Claim]) -> Vec<u32> {
    let mut grant = vec![0u32; claims.len()];
    let users = claims
        .iter()
        .map(|c| c.user as usize + 1)
        .max()
        .unwrap_or(0);
    let mut load = vec![0u64; users];
    for c in claims {
        load[c.user as usize] += u64::from(c.running);
    }
    for _ in 0..free {
        // The first unmet claim of each user, in claim order, is where that user's next
        // worker goes; the user with the least load among them gets it.
        let mut best: Option<usize> = None;
        for (i, c) in claims.iter().enumerate() {
            if grant[i] >= c.wants {
                continue;
            }
            let better = match best {
                None => true,
                Some(b) => load[c.user as usize] < load[claims[b].user as usize],
            };
            if better {
                best = Some(i);
            }
        }
        let Some(i) = best else { break };
        grant[i] += 1;
        load[claims[i].user as usize] += 1;
    }
    grant
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claim(user: u32, arrival: f64, balance: Credits, running: u32, wants: u32) -> Claim {
        Claim {
            user,
            arrival,
            deadline: None,
            balance,
            running,
            wants,
        }
    }

    #[test]
    fn enough_for_everyone_gives_everything() {
        let c = [claim(0, 0.0, 10, 0, 3), claim(1, 5.0, 10, 2, 4)];
        for p in SharePolicy::ALL {
            assert_eq!(allocate(p, 7, &c), [3, 4], "{p:?}");
        }
    }

    #[test]
    fn first_come_serves_by_arrival() {
        let c = [
            claim(0, 50.0, 10, 0, 4),
            claim(1, 10.0, 10, 0, 4),
            claim(2, 10.0, 10, 0, 4),
        ];
        assert_eq!(allocate(SharePolicy::FirstCome, 6, &c), [0, 4, 2]);
    }

    #[test]
    fn deadline_serves_the_earliest_deadline_then_arrival() {
        let mut c = [
            claim(0, 0.0, 10, 0, 3),
            claim(1, 10.0, 10, 0, 3),
            claim(2, 20.0, 10, 0, 3),
        ];
        c[1].deadline = Some(9000.0);
        c[2].deadline = Some(5000.0);
        assert_eq!(allocate(SharePolicy::Deadline, 5, &c), [0, 2, 3]);
    }

    #[test]
    fn credits_share_in_proportion_and_pass_on_what_a_small_claim_leaves() {
        // 300 : 100 of 8 is 6 : 2.
        let c = [claim(0, 0.0, 300, 0, 10), claim(1, 0.0, 100, 0, 10)];
        assert_eq!(allocate(SharePolicy::Credits, 8, &c), [6, 2]);
        // The first wants only 1 of its 6; the other 7 go to the second.
        let c = [claim(0, 0.0, 300, 0, 1), claim(1, 0.0, 100, 0, 10)];
        assert_eq!(allocate(SharePolicy::Credits, 8, &c), [1, 7]);
        // Shares below one worker: one each, the richest first.
        let c = [
            claim(0, 0.0, 10, 0, 5),
            claim(1, 0.0, 30, 0, 5),
            claim(2, 0.0, 20, 0, 5),
        ];
        assert_eq!(allocate(SharePolicy::Credits, 2, &c), [0, 1, 1]);
    }

    #[test]
    fn targets_share_the_whole_cap() {
        // BoT 0 (user 0) runs 6 of a cap of 6 and wants 2 more; BoT 1 (user 1) runs none and
        // wants 4. First-come keeps BoT 0 whole; max-min gives each user 3.
        let c = [claim(0, 0.0, 100, 6, 2), claim(1, 10.0, 100, 0, 4)];
        assert_eq!(targets(SharePolicy::FirstCome, 6, &c), [6, 0]);
        assert_eq!(targets(SharePolicy::MaxMin, 6, &c), [3, 3]);
        // Credits 300 : 100 of 6, within demands 8 and 4.
        let c = [claim(0, 0.0, 300, 6, 2), claim(1, 10.0, 100, 0, 4)];
        assert_eq!(targets(SharePolicy::Credits, 6, &c), [5, 1]);
    }

    #[test]
    fn max_min_evens_out_users_not_bots() {
        // User 0 runs 4 already on its first BoT and asks for more on two; user 1 runs none.
        let c = [
            claim(0, 0.0, 10, 4, 5),
            claim(0, 1.0, 10, 0, 5),
            claim(1, 2.0, 10, 0, 5),
        ];
        // 6 free: user 1 gets 4 to catch up, then they alternate (user 0 first, its claim
        // comes first): 5 : 5 in all.
        assert_eq!(allocate(SharePolicy::MaxMin, 6, &c), [1, 0, 5]);
        // A user with nothing to ask does not hold the others back.
        let c = [claim(0, 0.0, 10, 0, 0), claim(1, 0.0, 10, 0, 9)];
        assert_eq!(allocate(SharePolicy::MaxMin, 3, &c), [0, 3]);
    }

    proptest! {
        #[test]
        fn every_policy_gives_what_is_free_and_no_more_than_asked(
            free in 0u32..40,
            raw in prop::collection::vec((0u32..4, 0u32..5, 0u64..500, 0u32..6, 0u32..12, any::<bool>()), 0..8)) {
            let claims: Vec<Claim> = raw.iter().map(|&(user, arr, balance, running, wants, dl)| Claim {
                user,
                arrival: f64::from(arr) * 100.0,
                deadline: dl.then_some(f64::from(arr) * 1000.0),
                balance,
                running,
                wants,
            }).collect();
            let wanted: u64 = claims.iter().map(|c| u64::from(c.wants)).sum();
            for p in SharePolicy::ALL {
                let g = allocate(p, free, &claims);
                prop_assert_eq!(g.len(), claims.len());
                prop_assert!(g.iter().zip(&claims).all(|(g, c)| *g <= c.wants), "{:?}", p);
                let given: u64 = g.iter().map(|&x| u64::from(x)).sum();
                prop_assert_eq!(given, wanted.min(u64::from(free)), "{:?}", p);
                prop_assert_eq!(&g, &allocate(p, free, &claims), "deterministic");
                let t = targets(p, free, &claims);
                let demand: u64 = claims.iter().map(|c| u64::from(c.running + c.wants)).sum();
                prop_assert!(t.iter().zip(&claims).all(|(t, c)| *t <= c.running + c.wants));
                prop_assert_eq!(t.iter().map(|&x| u64::from(x)).sum::<u64>(), demand.min(u64::from(free)));
            }
        }
    }
}
