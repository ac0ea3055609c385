//! The event queue.
//!
//! Ordering contract: events run in increasing time; at the same time, by increasing `tie` key,
//! then in the order they were scheduled (a global sequence number). Callers give most events
//! tie 0; a key that depends only on the event (such as a worker index) makes the order of
//! simultaneous events independent of when they were scheduled. Nothing else, in particular no
//! hash order or thread timing, decides which of two simultaneous events runs first.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Sequence numbers get 40 bits of the key (10^12 events per run), the tie key 24.
const SEQ_BITS: u32 = 40;

struct Entry<E> {
    /// (time bits, tie, seq) packed so that one integer comparison orders entries: the bit
    /// pattern of a non-negative f64 orders like the number itself.
    key: u128,
    event: E,
}

impl<E> Entry<E> {
    fn time(&self) -> f64 {
        f64::from_bits((self.key >> 64) as u64)
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

pub struct Queue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
    now: f64,
    popped: u64,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            seq: 0,
            now: 0.0,
            popped: 0,
        }
    }
}

impl<E> Queue<E> {
    pub fn with_capacity(n: usize) -> Self {
        Queue {
            heap: BinaryHeap::with_capacity(n),
            ..Queue::default()
        }
    }

    /// Schedules `event` at `t` (never before the current time) with tie key 0.
    pub fn push(&mut self, t: f64, event: E) {
        self.push_tied(t, 0, event);
    }

    /// Schedules `event` at `t`; among events at the same time, lower `tie` runs first.
    pub fn push_tied(&mut self, t: f64, tie: u32, event: E) {
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
        let t = t.max(self.now) + 0.0;
        let key = ((t.to_bits() as u128) << 64) | ((tie as u128) << SEQ_BITS) | seq as u128;
        self.heap.push(Entry { key, event });
    }
    pub fn pop(&mut self) -> Option<(f64, E)> {
        let e = self.heap.pop()?;
        self.now = e.time();
        self.popped += 1;
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
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
}
