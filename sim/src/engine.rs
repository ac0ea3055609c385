//! The event queue.
//!
//! Ordering contract: events run in increasing time; at the same time, by increasing `tie` key,
//! then in the order they were scheduled (a global sequence number). Callers give most events
//! tie 0; a key that depends only on the event (such as a worker index) makes the order of
//! simultaneous events independent of when they were scheduled. Nothing else, in particular no
//! hash order or thread timing, decides which of two simultaneous events runs first.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// Sequence numbers get 40 bits of the key (10^12 events per run), the tie key 24.
const SEQ_BITS: u32 = 40;

#[derive(Clone)]
struct Entry<E> {
    /// (time bits, tie, seq) packed so that one integer comparison orders entries: the bit
    /// pattern of a non-negative f64 orders like the number itself.
    key: u128,
    event: E,
}

impl<E> Entry<E> {
    fn time_bits(&self) -> u64 {
        (self.key >> 64) as u64
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed: BinaryHeap is a max-heap and we pop the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

/// A radix heap on the event time (Ahuja, Mehlhorn, Orlin, Tarjan), which a discrete-event
/// simulation allows because no event is scheduled before the current time.
///
/// Bucket `i > 0` holds the entries whose time bits first differ from the time of the last
/// popped event at bit `i - 1`; entries *at* that time are ordered by the full key (tie, then
/// sequence), so the pop order is exactly the key order, as with a single binary heap. A push is
/// a vector push; a pop that finds the current time exhausted moves the smallest non-empty
/// bucket down, each entry moving a few times at most.
///
/// The entries at the current time are a sorted run plus a heap: a bucket reaching the current
/// time is sorted once, and an event scheduled for "now" almost always has the largest key so
/// far (a newer sequence number, usually tie 0) and is appended to the run. Only one that would
/// run before some entry of the run goes to the heap. Thousands of simultaneous events (every
/// host starting at t = 0) then cost a sort instead of a heap pop each.
#[derive(Clone)]
pub struct Queue<E> {
    /// Entries scheduled with [`Queue::push_in_order`], increasing keys, but for the first,
    /// which is in the heap (its key is `lane_head`): a stream of events whose times never
    /// decrease (BOINC's deadlines, a constant delay after each send) costs the heap one
    /// entry at a time instead of millions far in the future moving down its buckets.
    lane: VecDeque<Entry<E>>,
    lane_head: Option<u128>,
    /// Entries at the current time bits, increasing keys.
    run: VecDeque<Entry<E>>,
    /// Entries at the current time bits that arrived out of order.
    current: BinaryHeap<Entry<E>>,
    buckets: Vec<Vec<Entry<E>>>,
    /// Bit `b` set: bucket `b` is not empty.
    occupied: u128,
    /// Time bits of the current time (the last popped event's).
    last: u64,
    len: usize,
    seq: u64,
    now: f64,
    popped: u64,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Queue {
            lane: VecDeque::new(),
            lane_head: None,
            run: VecDeque::new(),
            current: BinaryHeap::new(),
            buckets: (0..65).map(|_| Vec::new()).collect(),
            occupied: 0,
            last: 0,
            len: 0,
            seq: 0,
            now: 0.0,
            popped: 0,
        }
    }
}

impl<E> Queue<E> {
    pub fn with_capacity(n: usize) -> Self {
        let mut q = Queue::default();
        // Before the first pop the reference time is 0, so every event at t >= 2 (bit 62 of its
        // time set, as for any f64 >= 2) lands in bucket 63; growing it by doubling would copy
        // and touch fresh memory several times over.
        q.buckets[63].reserve(n);
        q
    }

    /// Schedules `event` at `t` (never before the current time) with tie key 0.
    pub fn push(&mut self, t: f64, event: E) {
        self.push_tied(t, 0, event);
    }

    /// Schedules `event` at `t`; among events at the same time, lower `tie` runs first.
    pub fn push_tied(&mut self, t: f64, tie: u32, event: E) {
        let e = self.entry(t, tie, event);
        self.insert(e);
        self.len += 1;
    }

    /// Schedules `event` at `t` with tie key 0, as [`Queue::push`] does; the events run exactly
    /// as if pushed. Cheapest for a caller whose successive `push_in_order` times never
    /// decrease; one that comes before the lane's last goes to the heap like any other.
    pub fn push_in_order(&mut self, t: f64, event: E) {
        let e = self.entry(t, 0, event);
        match self.lane.back().map(|b| b.key).or(self.lane_head) {
            None => {
                self.lane_head = Some(e.key);
                self.insert(e);
            }
            Some(last) if last < e.key => self.lane.push_back(e),
            Some(_) => self.insert(e),
        }
        self.len += 1;
    }

    fn entry(&mut self, t: f64, tie: u32, event: E) -> Entry<E> {
        debug_assert!(
            t >= self.now,
            "event scheduled in the past: {t} < {}",
            self.now
        );
        debug_assert!(
            tie < 1 << (64 - SEQ_BITS) && self.seq < 1 << SEQ_BITS,
            "tie or sequence overflow"
        );
        let seq = self.seq;
        self.seq += 1;
        // `+ 0.0` turns a -0.0 into 0.0, whose bits would otherwise sort after every time.
        // Clamping to the current time is also what keeps the radix heap's invariant.
        let t = t.max(self.now) + 0.0;
        let key = ((t.to_bits() as u128) << 64) | ((tie as u128) << SEQ_BITS) | seq as u128;
        Entry { key, event }
    }

    fn bucket(&self, time_bits: u64) -> usize {
        (64 - (time_bits ^ self.last).leading_zeros()) as usize
    }

    fn insert(&mut self, e: Entry<E>) {
        match self.bucket(e.time_bits()) {
            0 => {
                if self.run.back().is_none_or(|b| b.key < e.key) {
                    self.run.push_back(e);
                } else {
                    self.current.push(e);
                }
            }
            b => self.push_to_bucket(b, e),
        }
    }

    fn push_to_bucket(&mut self, b: usize, e: Entry<E>) {
        self.buckets[b].push(e);
        self.occupied |= 1 << b;
    }

    pub fn pop(&mut self) -> Option<(f64, E)> {
        if self.run.is_empty() && self.current.is_empty() {
            if self.occupied == 0 {
                return None;
            }
            let b = self.occupied.trailing_zeros() as usize;
            self.occupied &= !(1 << b);
            let mut moving = std::mem::take(&mut self.buckets[b]);
            self.last = moving
                .iter()
                .map(Entry::time_bits)
                .min()
                .expect("non-empty bucket");
            // Reuse the exhausted run's allocation.
            let mut now: Vec<Entry<E>> = std::mem::take(&mut self.run).into();
            for e in moving.drain(..) {
                match self.bucket(e.time_bits()) {
                    0 => now.push(e),
                    b => self.push_to_bucket(b, e),
                }
            }
            // Give the emptied bucket its allocation back for the next entries.
            self.buckets[b] = moving;
            // Mostly in sequence order already, which the stable sort exploits.
            now.sort_by_key(|e| e.key);
            self.run = now.into();
        }
        // The smaller key of the run's front and the heap's top (the heap's `peek` is its
        // smallest key: its order is reversed).
        let from_run = match (self.run.front(), self.current.peek()) {
            (Some(r), Some(c)) => r.key < c.key,
            (r, _) => r.is_some(),
        };
        let e = if from_run {
            self.run.pop_front()?
        } else {
            self.current.pop()?
        };
        self.len -= 1;
        self.now = f64::from_bits(e.time_bits());
        self.popped += 1;
        if self.lane_head == Some(e.key) {
            // Its successor's time is at least this one's, never in the past.
            self.lane_head = self.lane.pop_front().map(|next| {
                let key = next.key;
                self.insert(next);
                key
            });
        }
        Some((self.now, e.event))
    }

    pub fn now(&self) -> f64 {
        self.now
    }

    /// Events popped so far.
    pub fn popped(&self) -> u64 {
        self.popped
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_then_insertion_order() {
        let mut q = Queue::default();
        q.push(5.0, "c");
        q.push(1.0, "a");
        q.push(5.0, "d");
        q.push(1.0, "b");
        let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
        assert_eq!(q.popped(), 4);
    }

    #[test]
    fn tie_keys_order_simultaneous_events() {
        let mut q = Queue::default();
        q.push_tied(2.0, 9, "late-key");
        q.push_tied(2.0, 3, "early-key");
        q.push(2.0, "untied");
        q.push_tied(1.0, 50, "earlier-time");
        let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["earlier-time", "untied", "early-key", "late-key"]);
    }

    proptest::proptest! {
        /// Whatever the interleaving of pushes and pops (never into the past), events come out
        /// in (time, tie, scheduling order), as a sort of everything pushed would give.
        #[test]
        fn pops_in_key_order(ops in proptest::collection::vec((0u8..4, 0.0f64..50.0, 0u32..3), 1..300)) {
            let mut q: Queue<u64> = Queue::default();
            let mut lane_t = 0.0f64;
            let mut reference: Vec<(f64, u32, u64)> = Vec::new();
            let mut out = Vec::new();
            let mut want = Vec::new();
            let mut id = 0u64;
            for (op, dt, tie) in ops {
                if op == 0 && !q.is_empty() {
                    let (t, e) = q.pop().unwrap();
                    out.push((t, e));
                    reference.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
                    let (rt, _, rid) = reference.remove(0);
                    want.push((rt, rid));
                } else if op == 3 {
                    // An in-order stream, as BOINC's deadlines are, mixed with the rest.
                    // Mostly in order, sometimes not (that one goes to the heap).
                    lane_t = if tie == 2 { q.now() } else { lane_t.max(q.now()) + (dt / 10.0).floor() };
                    q.push_in_order(lane_t, id);
                    reference.push((lane_t, 0, id));
                    id += 1;
                } else {
                    // Whole seconds make equal times (and tie keys) frequent.
                    let t = q.now() + dt.floor();
                    q.push_tied(t, tie, id);
                    reference.push((t, tie, id));
                    id += 1;
                }
            }
            proptest::prop_assert_eq!(out, want);
            proptest::prop_assert_eq!(q.len(), reference.len());
        }
    }
}
