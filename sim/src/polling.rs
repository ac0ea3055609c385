//! The idle-polling shortcut.
//!
//! A volunteer whose request fails is *parked* with its back-off schedule instead of polling.
//! A failed poll changes nothing but the schedule, and work only becomes assignable through a
//! few events (submission, re-queue, re-issue, a stopped Cloud worker), so at any time only the
//! parked volunteer with the earliest eligible poll (time, then index) needs a real event: it
//! is *designated*, and chosen again whenever work appears, it polls, or it goes off.
//! Schedules advance with the same arithmetic as real polls, so the results are those of
//! polling one event at a time (`model.naive_polling`; a test compares).

use crate::middleware::Model;
use crate::world::{Event, Worker, World};

impl Worker {
    /// The next poll of a worker whose poll at `t` got nothing. The back-off doubles first, then
    /// waits: 60, 120, 240, 300, 300... with the defaults; capped polls are `anchor + k * max`.
    pub(crate) fn failed_poll(&mut self, t: f64, min: f64, max: f64) -> f64 {
        if self.backoff < max {
            self.backoff = if self.backoff == 0.0 {
                min * 2.0
            } else {
                self.backoff * 2.0
            }
            .min(max);
            if self.backoff < max {
                return t + self.backoff;
            }
            self.anchor = t;
            self.capped = 0;
        } else if t != self.anchor + self.capped as f64 * max {
            // A poll off the schedule (none is known to happen) starts a new one.
            self.anchor = t;
            self.capped = 0;
        }
        self.capped += 1;
        self.anchor + self.capped as f64 * max
    }
}

impl<M: Model> World<'_, M> {
    /// Parks volunteer `w`, whose request just failed, until its poll at `next` (or later).
    pub(crate) fn park(&mut self, w: u32, next: f64) {
        let wk = &mut self.workers[w as usize];
        wk.parked = true;
        // Like a scheduled poll, a parked one keeps `ask_at` from scheduling another.
        wk.request_pending = true;
        wk.next_poll = next;
        self.parked.insert((next.to_bits(), w));
    }

    /// Forgets `w`'s parked or designated poll (it went off at `now`). A back-off that
    /// survives the off spell is first brought to where polling one by one would have left
    /// it: the polls before `now` a parked volunteer skipped are made.
    pub(crate) fn unpark(&mut self, w: u32, now: f64) {
        let wk = &mut self.workers[w as usize];
        if wk.parked {
            self.parked.remove(&(wk.next_poll.to_bits(), w));
            wk.parked = false;
            if self.m.backoff_survives_off() {
                self.advance(w, now);
            }
        }
        let wk = &mut self.workers[w as usize];
        if self.designated == Some(w) {
            self.designated = None;
            wk.token += 1;
            self.redesignate = true;
        }
    }

    /// Makes the failed polls of `w` before `now`, with the arithmetic of `request`.
    fn advance(&mut self, w: u32, now: f64) {
        let (min, max) = self.m.backoff_bounds();
        let wk = &mut self.workers[w as usize];
        while wk.next_poll < now && wk.backoff < max {
            wk.next_poll = wk.failed_poll(wk.next_poll, min, max);
        }
        if wk.next_poll < now {
            // Capped: the first k after the current one with anchor + k * max >= now. The
            // time is monotone in k, so the estimate is corrected by single steps.
            let at = |k: u64| wk.anchor + k as f64 * max;
            let mut k = (((now - wk.anchor) / max).ceil() as u64).max(wk.capped + 1);
            while at(k) < now {
                k += 1;
            }
            while k > wk.capped + 1 && at(k - 1) >= now {
                k -= 1;
            }
            wk.capped = k;
            wk.next_poll = at(k);
        }
    }

    /// Gives a real poll event to the parked volunteer whose next poll would be the first to
    /// succeed, if it comes before the current designated one's.
    pub(crate) fn designate(&mut self, now: f64) {
        if self.pending.is_empty() || self.parked.is_empty() {
            return;
        }
        // Re-key the volunteers whose schedule fell behind `now`. After a quiet spell (no
        // pending work, no call) that is most of them: tens of thousands at 10^5 hosts, so the
        // set is then rebuilt in one sorted pass instead of by single removals and insertions.
        let ahead = self.parked.split_off(&(now.to_bits(), 0));
        let behind = std::mem::replace(&mut self.parked, ahead);
        if !behind.is_empty() {
            let mut moved: Vec<(u64, u32)> = Vec::with_capacity(behind.len());
            for (_, w) in behind {
                self.advance(w, now);
                moved.push((self.workers[w as usize].next_poll.to_bits(), w));
            }
            if moved.len() >= self.parked.len() / 8 {
                moved.extend(std::mem::take(&mut self.parked));
                moved.sort_unstable();
                self.parked = moved.into_iter().collect();
            } else {
                self.parked.extend(moved);
            }
        }
        let Some((bits, w)) = self
            .parked
            .iter()
            .copied()
            .find(|&(_, w)| M::eligible(self, w))
        else {
            return;
        };
        if let Some(d) = self.designated {
            let dp = self.workers[d as usize].next_poll;
            if (dp.to_bits(), d) <= (bits, w) {
                return;
            }
            // The earlier poller takes over; the other goes back to its schedule.
            let dk = &mut self.workers[d as usize];
            dk.token += 1;
            dk.parked = true;
            self.parked.insert((dp.to_bits(), d));
        }
        self.parked.remove(&(bits, w));
        let wk = &mut self.workers[w as usize];
        wk.parked = false;
        wk.token += 1;
        let (epoch, token) = (wk.epoch, wk.token);
        self.designated = Some(w);
        self.q.push_tied(
            f64::from_bits(bits),
            w + 1,
            Event::Request { w, epoch, token },
        );
    }
}
