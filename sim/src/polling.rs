//! The idle-polling shortcut.
//!
//! A volunteer whose request fails is *parked* with its back-off schedule instead of polling.
//! A failed poll changes nothing but the schedule, and work only becomes assignable through a
//! few events (submission, re-queue, re-issue, a stopped Cloud worker), so at any time only the
//! parked volunteer with the earliest eligible poll (time, then index) needs a real event: it
//! is *designated*, and chosen again whenever work appears, it polls, or it goes off.
//! Schedules advance with the same arithmetic as real polls, so the results are those of
//! polling one event at a time (`model.naive_polling`; a test compares).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::middleware::Model;
use crate::world::{Event, Worker, World};

/// The parked volunteers as a min-heap of (next poll time bits, index, park generation):
/// non-negative f64 bits sort as the numbers, so entries come out in (time, index) order. An
/// entry whose generation is not its worker's current one (unparked or parked again since) is
/// stale and dropped when it comes to the top; `count` is of the live ones. Parking and
/// unparking, at every failed poll and off spell, cost a heap push and nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parked {
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
    count: usize,
}

impl Parked {
    fn live(workers: &[Worker], (_, w, gen): (u64, u32, u32)) -> bool {
        let wk = &workers[w as usize];
        wk.parked && wk.park_gen == gen
    }

    /// The earliest live entry, stale ones above it dropped.
    fn peek(&mut self, workers: &[Worker]) -> Option<(u64, u32, u32)> {
        while let Some(&Reverse(e)) = self.heap.peek() {
            if Self::live(workers, e) {
                return Some(e);
            }
            self.heap.pop();
        }
        None
    }

    /// A new live entry for worker `w` at its `next_poll` (its older ones become stale).
    fn fresh(workers: &mut [Worker], w: u32) -> Reverse<(u64, u32, u32)> {
        let wk = &mut workers[w as usize];
        wk.park_gen = wk.park_gen.wrapping_add(1);
        Reverse((wk.next_poll.to_bits(), w, wk.park_gen))
    }

    /// Adds worker `w`, just parked, at its `next_poll`.
    fn push(&mut self, workers: &mut [Worker], w: u32) {
        self.heap.push(Self::fresh(workers, w));
        self.count += 1;
        // Stale entries of workers that never surface (the BoT's tail, nothing to hand out)
        // are swept once they outnumber the live ones.
        if self.heap.len() > 2 * self.count + 1024 {
            let heap = std::mem::take(&mut self.heap);
            self.heap = heap
                .into_vec()
                .into_iter()
                .filter(|&Reverse(e)| Self::live(workers, e))
                .collect();
        }
    }

    /// Gives worker `w`, parked, whose entry was popped, a new one at its `next_poll`.
    fn requeue(&mut self, workers: &mut [Worker], w: u32) {
        self.count -= 1;
        self.push(workers, w);
    }

    /// Takes worker `w`'s live entry out (it stays in the heap, stale).
    fn forget(&mut self, workers: &mut [Worker], w: u32) {
        let wk = &mut workers[w as usize];
        wk.parked = false;
        wk.park_gen = wk.park_gen.wrapping_add(1);
        self.count -= 1;
    }
}

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
        self.parked.push(&mut self.workers, w);
    }

    /// Forgets `w`'s parked or designated poll (it went off at `now`). A back-off that
    /// survives the off spell is first brought to where polling one by one would have left
    /// it: the polls before `now` a parked volunteer skipped are made.
    pub(crate) fn unpark(&mut self, w: u32, now: f64) {
        if self.workers[w as usize].parked {
            self.parked.forget(&mut self.workers, w);
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

    /// Brings every parked volunteer whose next poll is before `now` forward to `now`, those in
    /// `moved` (popped already) among them, and rebuilds the heap.
    fn rekey_all(&mut self, now: f64, moved: Vec<u32>) {
        let now_bits = now.to_bits();
        let old = std::mem::take(&mut self.parked.heap).into_vec();
        let mut keep = Vec::with_capacity(old.len());
        let mut behind = moved;
        for Reverse(e @ (bits, w, _)) in old {
            if !Parked::live(&self.workers, e) {
                continue;
            }
            if bits < now_bits {
                self.advance(w, now);
                behind.push(w);
            } else {
                keep.push(Reverse(e));
            }
        }
        keep.extend(
            behind
                .into_iter()
                .map(|w| Parked::fresh(&mut self.workers, w)),
        );
        self.parked.heap = BinaryHeap::from(keep);
    }

    /// Gives a real poll event to the parked volunteer whose next poll would be the first to
    /// succeed, if it comes before the current designated one's.
    pub(crate) fn designate(&mut self, now: f64) {
        if self.pending.is_empty() || self.parked.count == 0 {
            return;
        }
        // Bring forward the volunteers whose schedule fell behind `now` (after a quiet spell,
        // most of them): their polls before `now` are made, and they go back at the new time.
        let now_bits = now.to_bits();
        let mut moved = Vec::new();
        while let Some((bits, w, _)) = self.parked.peek(&self.workers) {
            if bits >= now_bits {
                break;
            }
            if moved.len() >= 64 && moved.len() * 8 >= self.parked.heap.len() {
                // Most of the heap is behind (tens of thousands at 10^5 hosts): one pass over
                // it and a rebuild instead of a pop and a push each.
                self.rekey_all(now, moved);
                moved = Vec::new();
                break;
            }
            self.parked.heap.pop();
            self.advance(w, now);
            moved.push(w);
        }
        for w in moved {
            self.parked.requeue(&mut self.workers, w);
        }
        // The first in (time, index) order whose poll would get work; the ones before it go
        // back as they were.
        let mut passed = Vec::new();
        let found = loop {
            let Some(e @ (_, w, _)) = self.parked.peek(&self.workers) else {
                break None;
            };
            self.parked.heap.pop();
            if M::eligible(self, w) {
                break Some(e);
            }
            passed.push(e);
        };
        self.parked.heap.extend(passed.into_iter().map(Reverse));
        let Some(e @ (bits, w, _)) = found else {
            return;
        };
        if let Some(d) = self.designated {
            let dp = self.workers[d as usize].next_poll;
            if (dp.to_bits(), d) <= (bits, w) {
                self.parked.heap.push(Reverse(e));
                return;
            }
            // The earlier poller takes over; the other goes back to its schedule.
            let dk = &mut self.workers[d as usize];
            dk.token += 1;
            dk.parked = true;
            self.parked.push(&mut self.workers, d);
        }
        self.parked.forget(&mut self.workers, w);
        let wk = &mut self.workers[w as usize];
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
