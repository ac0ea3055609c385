//! A set of task indices as a bitmap, ordered by index (task ids are in submission order).
//!
//! The world keeps its queues of tasks (waiting for a volunteer, waiting for a Cloud copy,
//! not complete) in it: every task enters and leaves each a few times per run, which in a
//! `BTreeSet` cost a tree descent and node churn each; here a bit and a word scan from the
//! lowest occupied word, which the queues' use keeps near the front.

/// Tasks `0..capacity`, any subset.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskSet {
    words: Vec<u64>,
    len: usize,
    /// No word before this one has a bit set.
    first: usize,
}

impl TaskSet {
    pub(crate) fn new(capacity: usize) -> TaskSet {
        TaskSet {
            words: vec![0; capacity.div_ceil(64)],
            len: 0,
            first: capacity.div_ceil(64),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, t: u32) -> bool {
        self.words[t as usize / 64] & (1 << (t % 64)) != 0
    }

    /// Adds `t`; whether it was absent.
    pub(crate) fn insert(&mut self, t: u32) -> bool {
        let (w, bit) = (t as usize / 64, 1u64 << (t % 64));
        if self.words[w] & bit != 0 {
            return false;
        }
        self.words[w] |= bit;
        self.len += 1;
        self.first = self.first.min(w);
        true
    }

    /// Removes `t`; whether it was present.
    pub(crate) fn remove(&mut self, t: u32) -> bool {
        let (w, bit) = (t as usize / 64, 1u64 << (t % 64));
        if self.words[w] & bit == 0 {
            return false;
        }
        self.words[w] &= !bit;
        self.len -= 1;
        if self.len == 0 {
            self.first = self.words.len();
        } else {
            while self.words[self.first] == 0 {
                self.first += 1;
            }
        }
        true
    }

    #[cfg(test)]
    pub(crate) fn first(&self) -> Option<u32> {
        self.iter().next()
    }

    #[cfg(test)]
    pub(crate) fn pop_first(&mut self) -> Option<u32> {
        let t = self.first()?;
        self.remove(t);
        Some(t)
    }

    /// The members in increasing order.
    pub(crate) fn iter(&self) -> Iter<'_> {
        self.range(0, u32::MAX)
    }

    /// The members in `from..to`, in increasing order.
    pub(crate) fn range(&self, from: u32, to: u32) -> Iter<'_> {
        let to = (to as usize).min(self.words.len() * 64);
        let from = (from as usize).min(to);
        let w = (from / 64).max(self.first);
        let word = match self.words.get(w) {
            // Bits below `from` in its own word are masked off.
            Some(&x) if w == from / 64 => x & (u64::MAX << (from % 64)),
            Some(&x) => x,
            None => 0,
        };
        Iter {
            words: &self.words,
            w,
            word,
            to,
        }
    }
}

/// Members of a [`TaskSet`] in increasing order, up to a bound.
pub(crate) struct Iter<'a> {
    words: &'a [u64],
    /// Index of `word` in `words`.
    w: usize,
    /// What is left of word `w`.
    word: u64,
    to: usize,
}

impl Iterator for Iter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            if self.word != 0 {
                let t = self.w * 64 + self.word.trailing_zeros() as usize;
                if t >= self.to {
                    return None;
                }
                self.word &= self.word - 1;
                return Some(t as u32);
            }
            self.w += 1;
            if self.w >= self.words.len() || self.w * 64 >= self.to {
                return None;
            }
            self.word = self.words[self.w];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    proptest::proptest! {
        /// Every operation answers as a `BTreeSet` does.
        #[test]
        fn behaves_as_an_ordered_set(
            cap in 1usize..300,
            ops in proptest::collection::vec((0u8..5, 0u32..300, 0u32..300), 1..400),
        ) {
            let mut s = TaskSet::new(cap);
            let mut r = BTreeSet::new();
            for (op, a, b) in ops {
                let (a, b) = (a % cap as u32, b % cap as u32);
                match op {
                    0 | 1 => proptest::prop_assert_eq!(s.insert(a), r.insert(a)),
                    2 => proptest::prop_assert_eq!(s.remove(a), r.remove(&a)),
                    3 => proptest::prop_assert_eq!(s.pop_first(), r.pop_first()),
                    _ => {
                        let (lo, hi) = (a.min(b), a.max(b));
                        let got: Vec<u32> = s.range(lo, hi).collect();
                        let want: Vec<u32> = r.range(lo..hi).copied().collect();
                        proptest::prop_assert_eq!(got, want);
                    }
                }
                proptest::prop_assert_eq!(s.len(), r.len());
                proptest::prop_assert_eq!(s.contains(a), r.contains(&a));
                proptest::prop_assert_eq!(s.first(), r.first().copied());
                let all: Vec<u32> = s.iter().collect();
                let want: Vec<u32> = r.iter().copied().collect();
                proptest::prop_assert_eq!(all, want);
            }
        }
    }
}
