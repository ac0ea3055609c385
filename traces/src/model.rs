//! The trace model: hosts with speed and cores, and per-host availability intervals.
//!
//! Times are whole seconds relative to the trace origin (`Seconds`). Every interval satisfies
//! `0 <= start < end <= span`, and a host's intervals are sorted and neither overlap nor touch
//! (touching intervals are one interval). This canonical form is what makes write → read
//! round-trip exactly, and what lets the simulator stream a host's intervals with a cursor.
//!
//! Storage is columnar: one `starts` and one `ends` array for the whole trace plus per-host
//! offsets, 16 bytes per interval, so 10 million intervals take 160 MB rather than one heap
//! object each.

use std::path::PathBuf;

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{ReadReport, Result, TraceError};

/// Whole seconds, relative to the trace origin.
pub type Seconds = i64;

/// One host of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Identifier from the source (FTA `node_id`) or assigned in order.
    pub id: u64,
    pub name: String,
    /// Operations per second of one core.
    pub speed: f64,
    pub cores: u32,
}

/// Where a trace came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    Fta,
    Simgrid,
    Tr,
    Csv,
    Generated,
}

impl SourceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Fta => "fta",
            SourceFormat::Simgrid => "simgrid",
            SourceFormat::Tr => "tr",
            SourceFormat::Csv => "csv",
            SourceFormat::Generated => "generated",
        }
    }
}

/// Trace-level metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceMeta {
    pub name: String,
    pub source: SourceFormat,
    /// Epoch seconds of time 0, when known.
    #[serde(default)]
    pub origin: Option<i64>,
    /// Length of the observed period: intervals lie in `[0, span)`.
    pub span: Seconds,
}

/// A host-availability trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub meta: TraceMeta,
    hosts: Vec<Host>,
    /// `offsets[h]..offsets[h + 1]` indexes host `h`'s intervals.
    offsets: Vec<usize>,
    starts: Vec<Seconds>,
    ends: Vec<Seconds>,
}

impl Trace {
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    pub fn interval_count(&self) -> usize {
        self.starts.len()
    }

    /// A trace from columns already in canonical form (the binary reader checks them).
    pub(crate) fn from_parts(
        meta: TraceMeta,
        hosts: Vec<Host>,
        offsets: Vec<usize>,
        starts: Vec<Seconds>,
        ends: Vec<Seconds>,
    ) -> Trace {
        debug_assert_eq!(offsets.len(), hosts.len() + 1);
        Trace {
            meta,
            hosts,
            offsets,
            starts,
            ends,
        }
    }

    /// Host `h`'s availability intervals as parallel `(starts, ends)` slices.
    #[inline]
    pub fn intervals(&self, h: usize) -> (&[Seconds], &[Seconds]) {
        let r = self.interval_range(h);
        (&self.starts[r.clone()], &self.ends[r])
    }

    /// Indexes of host `h`'s intervals for [`Trace::interval`]: hot loops keep one index per
    /// host instead of re-slicing.
    #[inline]
    pub fn interval_range(&self, h: usize) -> std::ops::Range<usize> {
        self.offsets[h]..self.offsets[h + 1]
    }

    /// Interval number `i` of the whole trace (see [`Trace::interval_range`]).
    #[inline]
    pub fn interval(&self, i: usize) -> (Seconds, Seconds) {
        (self.starts[i], self.ends[i])
    }

    /// Host `h`'s availability intervals as `(start, end)` pairs.
    pub fn iter_intervals(
        &self,
        h: usize,
    ) -> impl ExactSizeIterator<Item = (Seconds, Seconds)> + '_ {
        let (s, e) = self.intervals(h);
        s.iter().copied().zip(e.iter().copied())
    }

    /// Seconds host `h` is available within the span.
    pub fn uptime(&self, h: usize) -> Seconds {
        self.iter_intervals(h).map(|(s, e)| e - s).sum()
    }

    /// Whether host `h` is available at time `t`.
    pub fn is_available(&self, h: usize, t: Seconds) -> bool {
        let (starts, ends) = self.intervals(h);
        // First interval starting after t; the one before it is the only candidate.
        let i = starts.partition_point(|&s| s <= t);
        i > 0 && t < ends[i - 1]
    }

    /// Bytes held on the heap, counting allocated capacity.
    pub fn heap_bytes(&self) -> usize {
        let hosts = self.hosts.capacity() * std::mem::size_of::<Host>()
            + self.hosts.iter().map(|h| h.name.capacity()).sum::<usize>();
        hosts
            + self.offsets.capacity() * std::mem::size_of::<usize>()
            + (self.starts.capacity() + self.ends.capacity()) * std::mem::size_of::<Seconds>()
            + self.meta.name.capacity()
    }

    /// The sub-trace seen through `[start, start + len)`: the origin moves to `start`, intervals
    /// are clipped and shifted, and every host is kept (a host with no interval in the window is
    /// still a host that was never available).
    pub fn window(&self, start: Seconds, len: Seconds) -> Result<Trace> {
        if start < 0 || len <= 0 {
            return Err(TraceError::Request(format!(
                "window {start}:{len}: the start must be >= 0 and the length > 0"
            )));
        }
        if start >= self.meta.span {
            return Err(TraceError::Request(format!(
                "window start {start} s is at or after the end of the trace ({} s)",
                self.meta.span
            )));
        }
        let end = start.saturating_add(len);
        let mut out = TraceBuilder::new(PathBuf::new());
        for h in 0..self.hosts.len() {
            let idx = out.add_host(self.hosts[h].clone());
            let (starts, ends) = self.intervals(h);
            // Skip intervals that end before the window without scanning them.
            let first = ends.partition_point(|&e| e <= start);
            for i in first..starts.len() {
                if starts[i] >= end {
                    break;
                }
                out.push(idx, starts[i].max(start) - start, ends[i].min(end) - start);
            }
        }
        let meta = TraceMeta {
            name: self.meta.name.clone(),
            source: self.meta.source,
            origin: self.meta.origin.map(|o| o + start),
            span: len,
        };
        Ok(out.finish(meta, false)?.0)
    }

    /// The first `n` hosts (all of them if there are fewer).
    pub fn first_hosts(&self, n: usize) -> Trace {
        let picked: Vec<usize> = (0..n.min(self.hosts.len())).collect();
        self.subset(&picked)
    }

    /// `n` hosts drawn without replacement with `seed`, kept in their original order.
    pub fn sample_hosts(&self, n: usize, seed: u64) -> Trace {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut picked = sample(&mut rng, self.hosts.len(), n.min(self.hosts.len())).into_vec();
        picked.sort_unstable();
        self.subset(&picked)
    }

    /// The hosts with these ids, in the order given.
    pub fn select_ids(&self, ids: &[u64]) -> Result<Trace> {
        let mut by_id: Vec<(u64, usize)> = self
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.id, i))
            .collect();
        by_id.sort_unstable();
        let picked = ids
            .iter()
            .map(|id| {
                by_id
                    .binary_search_by_key(id, |&(i, _)| i)
                    .map(|k| by_id[k].1)
                    .map_err(|_| TraceError::Request(format!("no host with id {id} in the trace")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.subset(&picked))
    }

    fn subset(&self, picked: &[usize]) -> Trace {
        let mut offsets = Vec::with_capacity(picked.len() + 1);
        let total: usize = picked
            .iter()
            .map(|&h| self.offsets[h + 1] - self.offsets[h])
            .sum();
        let mut starts = Vec::with_capacity(total);
        let mut ends = Vec::with_capacity(total);
        offsets.push(0);
        for &h in picked {
            let (s, e) = self.intervals(h);
            starts.extend_from_slice(s);
            ends.extend_from_slice(e);
            offsets.push(starts.len());
        }
        Trace {
            meta: self.meta.clone(),
            hosts: picked.iter().map(|&h| self.hosts[h].clone()).collect(),
            offsets,
            starts,
            ends,
        }
    }
}

/// Collects hosts and intervals in any order and produces a canonical [`Trace`].
///
/// Rows that arrive sorted by (host, start), as in every file spequlos writes and in real FTA
/// dumps, are stored straight into the final columns; only unsorted input pays for a sort, done
/// through an index permutation so that peak memory stays near twice the final size.
#[derive(Debug)]
pub struct TraceBuilder {
    path: PathBuf,
    hosts: Vec<Host>,
    host_of: Vec<u32>,
    starts: Vec<Seconds>,
    ends: Vec<Seconds>,
    sorted: bool,
    report: ReadReport,
}

impl TraceBuilder {
    /// `path` names the input in error messages.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        TraceBuilder {
            path: path.into(),
            hosts: Vec::new(),
            host_of: Vec::new(),
            starts: Vec::new(),
            ends: Vec::new(),
            sorted: true,
            report: ReadReport::default(),
        }
    }

    pub fn report_mut(&mut self) -> &mut ReadReport {
        &mut self.report
    }

    pub fn hosts_mut(&mut self) -> &mut [Host] {
        &mut self.hosts
    }

    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    pub fn reserve(&mut self, intervals: usize) {
        self.host_of.reserve(intervals);
        self.starts.reserve(intervals);
        self.ends.reserve(intervals);
    }

    /// Moves every interval pushed so far by `delta` seconds (readers of epoch times push
    /// absolute times and shift once the origin is known).
    pub fn shift(&mut self, delta: Seconds) {
        for v in self.starts.iter_mut().chain(self.ends.iter_mut()) {
            *v += delta;
        }
    }

    /// Adds a host and returns its index.
    pub fn add_host(&mut self, host: Host) -> usize {
        self.hosts.push(host);
        self.hosts.len() - 1
    }

    /// Adds an available interval `[start, end)` of host `h`. Zero-length intervals are dropped
    /// and counted; the caller has already checked `start <= end`.
    pub fn push(&mut self, h: usize, start: Seconds, end: Seconds) {
        debug_assert!(start <= end);
        self.report.intervals_read += 1;
        if start == end {
            self.report.zero_length_dropped += 1;
            return;
        }
        let h = h as u32;
        if self.sorted {
            if let (Some(&ph), Some(&ps)) = (self.host_of.last(), self.starts.last()) {
                self.sorted = (h, start) >= (ph, ps);
            }
        }
        self.host_of.push(h);
        self.starts.push(start);
        self.ends.push(end);
    }

    /// Clips to `[0, meta.span)`, sorts, merges and packs. Under `strict`, overlapping intervals
    /// of one host are an error instead of being merged.
    pub fn finish(mut self, meta: TraceMeta, strict: bool) -> Result<(Trace, ReadReport)> {
        if !self.sorted {
            self.sort();
        }
        let n_hosts = self.hosts.len();
        let mut offsets = vec![0usize; n_hosts + 1];
        for &h in &self.host_of {
            offsets[h as usize + 1] += 1;
        }
        drop(std::mem::take(&mut self.host_of));
        for h in 0..n_hosts {
            offsets[h + 1] += offsets[h];
        }
        // Compact in place: clip, drop what falls outside, merge overlapping and touching runs.
        let span = meta.span;
        let mut w = 0usize;
        for h in 0..n_hosts {
            let (lo, hi) = (offsets[h], offsets[h + 1]);
            offsets[h] = w;
            let host_first = w;
            for r in lo..hi {
                let (mut s, mut e) = (self.starts[r], self.ends[r]);
                if s < 0 || e > span {
                    self.report.clipped += 1;
                    s = s.max(0);
                    e = e.min(span);
                    if s >= e {
                        continue;
                    }
                }
                if w > host_first && s <= self.ends[w - 1] {
                    if s < self.ends[w - 1] {
                        if strict {
                            return Err(TraceError::invalid(
                                &self.path,
                                format!(
                                    "host `{}`: intervals [{}, {}) and [{s}, {e}) overlap (strict mode)",
                                    self.hosts[h].name,
                                    self.starts[w - 1],
                                    self.ends[w - 1]
                                ),
                            ));
                        }
                        self.report.overlaps_merged += 1;
                    }
                    self.ends[w - 1] = self.ends[w - 1].max(e);
                } else {
                    self.starts[w] = s;
                    self.ends[w] = e;
                    w += 1;
                }
            }
        }
        offsets[n_hosts] = w;
        self.starts.truncate(w);
        self.ends.truncate(w);
        self.starts.shrink_to_fit();
        self.ends.shrink_to_fit();
        let trace = Trace {
            meta,
            hosts: self.hosts,
            offsets,
            starts: self.starts,
            ends: self.ends,
        };
        Ok((trace, self.report))
    }

    fn sort(&mut self) {
        let mut perm: Vec<u32> = (0..self.starts.len() as u32).collect();
        perm.sort_unstable_by_key(|&i| {
            let i = i as usize;
            (self.host_of[i], self.starts[i], self.ends[i])
        });
        // Gather one column at a time so only one extra column is alive at once.
        fn gather<T: Copy>(col: &mut Vec<T>, perm: &[u32]) {
            let sorted: Vec<T> = perm.iter().map(|&i| col[i as usize]).collect();
            *col = sorted;
        }
        gather(&mut self.host_of, &perm);
        gather(&mut self.starts, &perm);
        gather(&mut self.ends, &perm);
        self.sorted = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: u64) -> Host {
        Host {
            id,
            name: format!("h{id}"),
            speed: 1000.0,
            cores: 1,
        }
    }

    fn meta(span: Seconds) -> TraceMeta {
        TraceMeta {
            name: "t".into(),
            source: SourceFormat::Generated,
            origin: Some(1000),
            span,
        }
    }

    fn build(
        rows: &[(usize, Seconds, Seconds)],
        hosts: usize,
        span: Seconds,
    ) -> (Trace, ReadReport) {
        let mut b = TraceBuilder::new("mem");
        for i in 0..hosts {
            b.add_host(host(i as u64));
        }
        for &(h, s, e) in rows {
            b.push(h, s, e);
        }
        b.finish(meta(span), false).unwrap()
    }

    #[test]
    fn unsorted_rows_are_sorted_merged_and_clipped() {
        let (t, rep) = build(
            &[
                (1, 50, 60),
                (0, 30, 40),
                (0, 0, 10),
                (0, 5, 20),
                (0, 20, 25),
                (0, 90, 120),
                (1, 10, 10),
            ],
            2,
            100,
        );
        assert_eq!(
            t.iter_intervals(0).collect::<Vec<_>>(),
            vec![(0, 25), (30, 40), (90, 100)]
        );
        assert_eq!(t.iter_intervals(1).collect::<Vec<_>>(), vec![(50, 60)]);
        assert_eq!(
            rep.overlaps_merged, 1,
            "[0,10) and [5,20) overlap; [20,25) only touches"
        );
        assert_eq!(rep.zero_length_dropped, 1);
        assert_eq!(rep.clipped, 1);
        assert_eq!(t.uptime(0), 25 + 10 + 10);
    }

    #[test]
    fn strict_rejects_overlap_and_names_the_host() {
        let mut b = TraceBuilder::new("f.csv");
        b.add_host(host(7));
        b.push(0, 0, 10);
        b.push(0, 5, 20);
        let err = b.finish(meta(100), true).unwrap_err().to_string();
        assert!(
            err.contains("f.csv") && err.contains("h7") && err.contains("overlap"),
            "{err}"
        );
    }

    #[test]
    fn availability_lookup() {
        let (t, _) = build(&[(0, 10, 20), (0, 30, 40)], 1, 100);
        let probe: Vec<bool> = [0, 9, 10, 19, 20, 30, 39, 40, 99]
            .iter()
            .map(|&x| t.is_available(0, x))
            .collect();
        assert_eq!(
            probe,
            [false, false, true, true, false, true, true, false, false]
        );
    }

    #[test]
    fn window_clips_shifts_and_keeps_every_host() {
        let (t, _) = build(&[(0, 10, 20), (0, 30, 40), (1, 0, 5)], 2, 100);
        let w = t.window(15, 20).unwrap();
        assert_eq!(w.meta.span, 20);
        assert_eq!(w.meta.origin, Some(1015));
        assert_eq!(
            w.iter_intervals(0).collect::<Vec<_>>(),
            vec![(0, 5), (15, 20)]
        );
        assert_eq!(w.host_count(), 2);
        assert_eq!(w.iter_intervals(1).count(), 0);
        assert!(t.window(100, 5).is_err());
        assert!(t.window(0, 0).is_err());
    }

    #[test]
    fn host_subsets() {
        let (t, _) = build(&[(0, 0, 1), (1, 0, 2), (2, 0, 3), (3, 0, 4)], 4, 10);
        assert_eq!(
            t.first_hosts(2)
                .hosts()
                .iter()
                .map(|h| h.id)
                .collect::<Vec<_>>(),
            [0, 1]
        );
        let s = t.select_ids(&[3, 1]).unwrap();
        assert_eq!(s.hosts().iter().map(|h| h.id).collect::<Vec<_>>(), [3, 1]);
        assert_eq!(s.uptime(0), 4);
        assert!(t.select_ids(&[9]).unwrap_err().to_string().contains("id 9"));
        let a = t.sample_hosts(2, 5);
        assert_eq!(a, t.sample_hosts(2, 5), "same seed, same sample");
        assert_eq!(a.host_count(), 2);
        assert!(
            a.hosts()[0].id < a.hosts()[1].id,
            "sample keeps the trace order"
        );
    }

    /// The memory budget: 100,000 hosts and 10 million intervals in under 400 MB.
    #[test]
    fn ten_million_intervals_fit_in_400_mb() {
        let hosts = 100_000usize;
        let per_host = 100i64;
        let mut b = TraceBuilder::new("mem");
        b.reserve(hosts * per_host as usize);
        for i in 0..hosts {
            let h = b.add_host(host(i as u64));
            for k in 0..per_host {
                b.push(h, k * 100, k * 100 + 50);
            }
        }
        let (t, _) = b.finish(meta(per_host * 100), false).unwrap();
        assert_eq!(t.interval_count(), 10_000_000);
        let mb = t.heap_bytes() as f64 / 1e6;
        assert!(mb < 400.0, "{mb:.0} MB");
    }
}
