//! Spot or on-demand Cloud workers, and the bid.
//!
//! A spot instance costs a fraction of an on-demand one, billed at the market price, but the
//! provider takes it back (what it computed is lost) the moment the spot price passes its
//! bid. Prices here are multiples of the on-demand price, so an on-demand worker costs the
//! order `cost_per_tick` credits a tick and a spot worker `price × cost_per_tick`.
//!
//! The bid is chosen so that the worker likely outlives what is left of the BoT: with `k`
//! price changes expected over the Oracle's remaining-time estimate, a bid at the
//! `survive^(1/k)` quantile of the prices seen so far is passed by none of them with
//! probability `survive` (if changes are independent, which persistent prices are not
//! quite). [`Market::Adaptive`] buys spot only while the deadline leaves room for a
//! revocation: the remaining-time estimate stretched by `1 + margin` must still end before
//! it; otherwise, or when the bid needed is above `max_bid` or below the price now, it buys
//! on-demand.

use serde::{Deserialize, Serialize};

use crate::check::{self, Checked, FieldError};

/// Which market Cloud workers are bought on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Market {
    /// Always on-demand: never revoked, full price.
    #[default]
    OnDemand,
    /// Always spot, at the bid the rule gives (or `bid`).
    Spot,
    /// Spot while the deadline leaves room for revocations, on-demand otherwise.
    Adaptive,
}

impl Market {
    pub const ALL: [Market; 3] = [Market::OnDemand, Market::Spot, Market::Adaptive];

    pub fn name(self) -> &'static str {
        match self {
            Market::OnDemand => "on-demand",
            Market::Spot => "spot",
            Market::Adaptive => "adaptive",
        }
    }
}

/// How the core buys Cloud workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketPolicy {
    pub market: Market,
    /// A fixed bid (multiple of the on-demand price; (0, 100]); unset, the rule above.
    pub bid: Option<f64>,
    /// The highest bid the rule makes, a multiple of the on-demand price; (0, 100].
    pub max_bid: f64,
    /// The chance a spot worker should outlive the remaining time; (0, 1).
    pub survive: f64,
    /// Adaptive: the remaining-time estimate is stretched by `1 + margin` against the
    /// deadline, for the work a revocation loses; [0, 100].
    pub margin: f64,
}

impl Default for MarketPolicy {
    fn default() -> Self {
        MarketPolicy {
            market: Market::OnDemand,
            bid: None,
            max_bid: 1.0,
            survive: 0.9,
            margin: 0.5,
        }
    }
}

impl MarketPolicy {
    pub fn validate(&self) -> Checked {
        if let Some(b) = self.bid {
            check::real_above("bid", b, 0.0, 100.0, "× on-demand")?;
        }
        check::real_above("max_bid", self.max_bid, 0.0, 100.0, "× on-demand")?;
        if !(self.survive > 0.0 && self.survive < 1.0) {
            return Err(FieldError::new("survive", self.survive, "in (0, 1)"));
        }
        check::real("margin", self.margin, 0.0, 100.0, "")
    }
}

/// How one Cloud worker was bought.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum Purchase {
    #[default]
    OnDemand,
    /// Revoked when the price passes `bid` (a multiple of the on-demand price).
    Spot { bid: f64 },
}

/// What the driver tells the controller of the market at a turn.
#[derive(Debug, Clone, Copy)]
pub struct MarketView<'a> {
    pub policy: &'a MarketPolicy,
    /// The spot price's steps so far `(start, price)`, sorted by start, on the controller's
    /// clock; the last is the price now. Empty: no spot market.
    pub prices: &'a [(f64, f64)],
    /// Seconds the BoT is predicted still to need (the Oracle's estimate), if known.
    pub remaining: Option<f64>,
    /// When the BoT must be complete, on the same clock.
    pub deadline: Option<f64>,
}

impl MarketView<'_> {
    /// The spot price now, if there is a market.
    pub fn price(&self) -> Option<f64> {
        self.prices.last().map(|&(_, p)| p)
    }
}

/// Seconds the work left would take at the pace so far, when the Oracle has nothing: what
/// conservative sizing assumes (`elapsed` seconds for a completion ratio `r`).
pub fn pace_remaining(r: f64, elapsed: f64) -> Option<f64> {
    (r > 0.0 && elapsed.is_finite()).then(|| (elapsed / r - elapsed).max(0.0))
}

/// The bid for a worker bought at `now` that should outlive the remaining time.
pub fn bid(view: &MarketView, now: f64) -> f64 {
    let p = view.policy;
    if let Some(b) = p.bid {
        return b;
    }
    let seen = view.prices;
    let Some(&(first, _)) = seen.first() else {
        return p.max_bid;
    };
    // The mean time between changes, from the history itself.
    let gap = ((now - first) / seen.len() as f64).max(1.0);
    let horizon = view.remaining.unwrap_or(3600.0).max(1.0);
    let changes = (horizon / gap).max(1.0);
    let level = p.survive.powf(1.0 / changes);
    let mut v: Vec<f64> = seen.iter().map(|&(_, price)| price).collect();
    v.sort_by(f64::total_cmp);
    let k = ((level * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[k].min(p.max_bid)
}

/// Spot or on-demand, for a worker started at `now`.
pub fn choose(view: &MarketView, now: f64) -> Purchase {
    let Some(price) = view.price() else {
        return Purchase::OnDemand;
    };
    match view.policy.market {
        Market::OnDemand => Purchase::OnDemand,
        Market::Spot => Purchase::Spot {
            bid: bid(view, now),
        },
        Market::Adaptive => {
            let bid = bid(view, now);
            let room = match (view.deadline, view.remaining) {
                (None, _) => true,
                (Some(d), Some(r)) => now + r * (1.0 + view.policy.margin) <= d,
                (Some(_), None) => false,
            };
            if room && price <= bid {
                Purchase::Spot { bid }
            } else {
                Purchase::OnDemand
            }
        }
    }
}

/// Thousandths of a credit one tick of a worker bought as `purchase` costs at spot price
/// `price`: spot is billed at the market price, not the bid.
pub fn tick_cost_milli(purchase: Purchase, price: Option<f64>, cost_per_tick: u64) -> u64 {
    let per = match (purchase, price) {
        (Purchase::Spot { .. }, Some(p)) => (p.max(0.0) * 1000.0).round() as u64,
        _ => 1000,
    };
    per.saturating_mul(cost_per_tick)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(policy: &'a MarketPolicy, prices: &'a [(f64, f64)]) -> MarketView<'a> {
        MarketView {
            policy,
            prices,
            remaining: Some(3600.0),
            deadline: None,
        }
    }

    /// Hourly prices 0.1, 0.2, ..., 1.0 (ten hours).
    fn hourly() -> Vec<(f64, f64)> {
        (0..10)
            .map(|i| (i as f64 * 3600.0, (i + 1) as f64 / 10.0))
            .collect()
    }

    #[test]
    fn the_bid_rises_with_the_time_the_worker_must_last() {
        let p = MarketPolicy {
            market: Market::Spot,
            ..Default::default()
        };
        let prices = hourly();
        let now = 36000.0;
        let mut v = view(&p, &prices);
        // One change expected in an hour: the 0.9 quantile.
        assert_eq!(bid(&v, now), 0.9);
        // Ten changes in ten hours: 0.9^(1/10) ≈ 0.99, the highest price seen.
        v.remaining = Some(36000.0);
        assert_eq!(bid(&v, now), 1.0);
        // Never above max_bid.
        let capped = MarketPolicy {
            max_bid: 0.5,
            ..p.clone()
        };
        v.policy = &capped;
        assert_eq!(bid(&v, now), 0.5);
        // No history: max_bid; a fixed bid is kept.
        assert_eq!(bid(&view(&p, &[]), now), 1.0);
        let fixed = MarketPolicy {
            bid: Some(0.3),
            ..p.clone()
        };
        assert_eq!(bid(&view(&fixed, &prices), now), 0.3);
    }

    #[test]
    fn adaptive_buys_spot_only_while_the_deadline_leaves_room() {
        let p = MarketPolicy {
            market: Market::Adaptive,
            ..Default::default()
        };
        // The price now is 0.2: under the 0.9-quantile bid.
        let prices: Vec<(f64, f64)> = hourly().into_iter().chain([(36000.0, 0.2)]).collect();
        let mut v = view(&p, &prices);
        let now = 36000.0;
        assert!(
            matches!(choose(&v, now), Purchase::Spot { .. }),
            "no deadline"
        );
        v.deadline = Some(now + 3600.0 * 1.5);
        assert!(
            matches!(choose(&v, now), Purchase::Spot { .. }),
            "1 h × 1.5 fits"
        );
        v.deadline = Some(now + 3600.0 * 1.4);
        assert_eq!(choose(&v, now), Purchase::OnDemand, "too tight");
        v.remaining = None;
        assert_eq!(choose(&v, now), Purchase::OnDemand, "nothing to judge by");
        // A price above the bid: on-demand, whatever the deadline.
        let spiked: Vec<(f64, f64)> = hourly().into_iter().chain([(36000.0, 5.0)]).collect();
        let v = view(&p, &spiked);
        assert_eq!(choose(&v, now), Purchase::OnDemand);
        // No market at all, or the on-demand policy: on-demand.
        assert_eq!(choose(&view(&p, &[]), now), Purchase::OnDemand);
        let od = MarketPolicy::default();
        assert_eq!(choose(&view(&od, &prices), now), Purchase::OnDemand);
    }

    #[test]
    fn spot_is_billed_at_the_market_price() {
        let spot = Purchase::Spot { bid: 1.0 };
        assert_eq!(tick_cost_milli(spot, Some(0.25), 1), 250);
        assert_eq!(tick_cost_milli(spot, Some(0.25), 4), 1000);
        assert_eq!(tick_cost_milli(Purchase::OnDemand, Some(0.25), 1), 1000);
        assert_eq!(tick_cost_milli(spot, None, 2), 2000);
    }

    #[test]
    fn the_policy_names_its_bad_field() {
        for (p, field) in [
            (
                MarketPolicy {
                    survive: 1.0,
                    ..Default::default()
                },
                "survive",
            ),
            (
                MarketPolicy {
                    max_bid: 0.0,
                    ..Default::default()
                },
                "max_bid",
            ),
            (
                MarketPolicy {
                    bid: Some(f64::NAN),
                    ..Default::default()
                },
                "bid",
            ),
        ] {
            let e = p.validate().unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
    }
}
