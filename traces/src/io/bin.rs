//! The binary format: the whole trace in one file, `trace.bin`, laid out as the in-memory
//! columns so that loading is a read and a validation pass, not a parse. It exists for speed:
//! a sweep that re-reads a 10^5-host trace for every run, or a comparison whose total time
//! includes loading. Little-endian throughout:
//!
//! ```text
//! magic        8 bytes  "SPQTRACE"
//! version      u32      1
//! meta_len     u32      length of the JSON below
//! meta         JSON     name, source, origin, span (as meta.json elsewhere)
//! padding      zero bytes up to a multiple of 8 from the start of the file
//! host_count   u64
//! interval_count u64
//! hosts        host_count × { id u64, speed f64, cores u32, name_len u32 }
//! names        the hosts' names, UTF-8, concatenated
//! padding      zero bytes up to a multiple of 8
//! offsets      (host_count + 1) × u64: host h owns intervals offsets[h]..offsets[h+1]
//! starts       interval_count × i64
//! ends         interval_count × i64
//! ```
//!
//! Intervals are stored in canonical form (sorted, neither overlapping nor touching, inside
//! `[0, span)`); the reader checks it and rejects, never repairs, a file that breaks it:
//! a binary trace is written by spequlos, so a broken one is corrupt, not foreign.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{ReadReport, Result, TraceError};
use crate::io::ReadOptions;
use crate::model::{Host, Trace, TraceMeta};

pub(super) const FILE: &str = "trace.bin";
pub(super) const MAGIC: &[u8; 8] = b"SPQTRACE";
const VERSION: u32 = 1;
const HOST_RECORD: usize = 24;

/// The file of a binary trace given as the file itself or its directory.
pub(super) fn file_of(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(FILE)
    } else {
        path.to_path_buf()
    }
}

/// Reads a binary trace one field at a time from `r`, whose length is `len`; every error names
/// the field and the byte offset it starts at. The interval columns are read straight into
/// their final vectors: at 10^5 hosts, copies and page faults are most of the load time.
struct Reader<'a, R> {
    path: &'a Path,
    r: R,
    at: usize,
    len: usize,
}

impl<R: Read> Reader<'_, R> {
    fn error(&self, field: &str, message: impl std::fmt::Display) -> TraceError {
        TraceError::invalid(self.path, format!("byte {}: {field}: {message}", self.at))
    }

    /// Fails without moving if fewer than `n` bytes are left, before anything is allocated:
    /// a corrupt length must not become a huge allocation.
    fn need(&self, n: Option<usize>, field: &str) -> Result<()> {
        let left = self.len - self.at;
        match n {
            Some(n) if n <= left => Ok(()),
            _ => Err(self.error(
                field,
                format!(
                    "file truncated: {} bytes needed, {left} left",
                    n.map_or("more than 2^64".into(), |n| n.to_string())
                ),
            )),
        }
    }

    fn fill(&mut self, buf: &mut [u8], field: &str) -> Result<()> {
        self.need(Some(buf.len()), field)?;
        self.r
            .read_exact(buf)
            .map_err(|e| TraceError::io(self.path, e))?;
        self.at += buf.len();
        Ok(())
    }

    fn bytes(&mut self, n: usize, field: &str) -> Result<Vec<u8>> {
        self.need(Some(n), field)?;
        let mut b = vec![0; n];
        self.fill(&mut b, field)?;
        Ok(b)
    }

    fn u32(&mut self, field: &str) -> Result<u32> {
        let mut b = [0; 4];
        self.fill(&mut b, field)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self, field: &str) -> Result<u64> {
        let mut b = [0; 8];
        self.fill(&mut b, field)?;
        Ok(u64::from_le_bytes(b))
    }

    /// A count of items of `size` bytes, checked against what the file can hold.
    fn count(&mut self, size: usize, field: &str) -> Result<usize> {
        let n = self.u64(field)?;
        let left = (self.len - self.at) as u64;
        if n.checked_mul(size as u64).is_none_or(|b| b > left) {
            self.at -= 8;
            return Err(self.error(
                field,
                format!("{n} items of {size} bytes do not fit in the {left} bytes left"),
            ));
        }
        Ok(n as usize)
    }

    fn pad(&mut self) -> Result<()> {
        let mut b = [0u8; 8];
        let b = &mut b[..(8 - self.at % 8) % 8];
        self.fill(b, "padding")?;
        if b.iter().any(|&x| x != 0) {
            self.at -= b.len();
            return Err(self.error("padding", "non-zero padding bytes"));
        }
        Ok(())
    }

    /// `n` little-endian 8-byte words, read in place.
    fn words<T: bytemuck::Pod + Default>(
        &mut self,
        n: usize,
        field: &str,
        from_le: fn(T) -> T,
    ) -> Result<Vec<T>> {
        self.need(n.checked_mul(8), field)?;
        let mut v = vec![T::default(); n];
        self.fill(bytemuck::cast_slice_mut(&mut v), field)?;
        // A no-op on little-endian machines.
        v.iter_mut().for_each(|x| *x = from_le(*x));
        Ok(v)
    }
}

pub(super) fn read(path: &Path, opts: &ReadOptions) -> Result<(Trace, ReadReport)> {
    let file = file_of(path);
    let f = File::open(&file).map_err(|e| TraceError::io(&file, e))?;
    let len = f.metadata().map_err(|e| TraceError::io(&file, e))?.len() as usize;
    opts.progress.start(len as u64);
    let trace = decode(&file, f, len)?;
    opts.progress.advance(len as u64);
    let report = ReadReport {
        intervals_read: trace.interval_count() as u64,
        ..ReadReport::default()
    };
    Ok((trace, report))
}

fn decode(path: &Path, r: impl Read, len: usize) -> Result<Trace> {
    let mut c = Reader {
        path,
        r,
        at: 0,
        len,
    };
    if c.bytes(8, "magic")? != MAGIC {
        c.at = 0;
        return Err(c.error("magic", "not a spequlos binary trace (no SPQTRACE header)"));
    }
    let version = c.u32("version")?;
    if version != VERSION {
        c.at -= 4;
        return Err(c.error(
            "version",
            format!("version {version}; this spequlos reads version {VERSION}"),
        ));
    }
    let meta_len = c.u32("meta_len")? as usize;
    let meta_at = c.at;
    let meta: TraceMeta = serde_json::from_slice(&c.bytes(meta_len, "meta")?)
        .map_err(|e| TraceError::invalid(path, format!("byte {meta_at}: meta: {e}")))?;
    if meta.span <= 0 {
        c.at = meta_at;
        return Err(c.error("meta", format!("span must be > 0, got {}", meta.span)));
    }
    c.pad()?;
    let n_hosts = c.count(HOST_RECORD, "host_count")?;
    let n_intervals = c.count(16, "interval_count")?;
    let records_at = c.at;
    let records = c.bytes(n_hosts * HOST_RECORD, "hosts")?;
    let mut hosts = Vec::with_capacity(n_hosts);
    let mut name_lens = Vec::with_capacity(n_hosts);
    for (h, r) in records.chunks_exact(HOST_RECORD).enumerate() {
        let at = records_at + h * HOST_RECORD;
        let bad = |field: &str, m: String| {
            TraceError::invalid(path, format!("byte {at}: host {h}: {field}: {m}"))
        };
        let id = u64::from_le_bytes(r[0..8].try_into().expect("8 bytes"));
        let speed = f64::from_le_bytes(r[8..16].try_into().expect("8 bytes"));
        let cores = u32::from_le_bytes(r[16..20].try_into().expect("4 bytes"));
        let name_len = u32::from_le_bytes(r[20..24].try_into().expect("4 bytes"));
        if !(speed.is_finite() && speed > 0.0) {
            return Err(bad(
                "speed",
                format!("expected a positive number, found {speed}"),
            ));
        }
        if cores == 0 {
            return Err(bad("cores", "expected a positive integer, found 0".into()));
        }
        hosts.push((id, speed, cores));
        name_lens.push(name_len as usize);
    }
    drop(records);
    let names_len = name_lens.iter().sum();
    let names_at = c.at;
    let names = c.bytes(names_len, "names")?;
    let names = std::str::from_utf8(&names).map_err(|e| {
        TraceError::invalid(
            path,
            format!("byte {}: names: not UTF-8", names_at + e.valid_up_to()),
        )
    })?;
    let mut rest = names;
    let hosts: Vec<Host> = hosts
        .into_iter()
        .zip(name_lens)
        .enumerate()
        .map(|(h, ((id, speed, cores), len))| {
            if !rest.is_char_boundary(len) {
                return Err(TraceError::invalid(
                    path,
                    format!("host {h}: name: its length splits a UTF-8 character"),
                ));
            }
            let (name, tail) = rest.split_at(len);
            rest = tail;
            Ok(Host {
                id,
                name: name.to_string(),
                speed,
                cores,
            })
        })
        .collect::<Result<_>>()?;
    let dense = hosts.iter().enumerate().all(|(i, h)| h.id == i as u64);
    if !dense {
        let mut seen = HashSet::with_capacity(hosts.len());
        if let Some(h) = hosts.iter().find(|h| !seen.insert(h.id)) {
            return Err(TraceError::invalid(
                path,
                format!("hosts: host id {} appears twice", h.id),
            ));
        }
    }
    c.pad()?;
    let offsets_at = c.at;
    let offsets: Vec<u64> = c.words(n_hosts + 1, "offsets", u64::from_le)?;
    let starts_at = c.at;
    let starts: Vec<i64> = c.words(n_intervals, "starts", i64::from_le)?;
    let ends: Vec<i64> = c.words(n_intervals, "ends", i64::from_le)?;
    if c.at != c.len {
        return Err(c.error(
            "end",
            format!("{} unexpected bytes after the intervals", c.len - c.at),
        ));
    }
    check_offsets(path, offsets_at, &offsets, n_intervals)?;
    let offsets: Vec<usize> = offsets.into_iter().map(|o| o as usize).collect();
    check_intervals(path, starts_at, &meta, &hosts, &offsets, &starts, &ends)?;
    Ok(Trace::from_parts(meta, hosts, offsets, starts, ends))
}

fn check_offsets(path: &Path, at: usize, offsets: &[u64], n_intervals: usize) -> Result<()> {
    if offsets[0] != 0 || offsets[offsets.len() - 1] != n_intervals as u64 {
        return Err(TraceError::invalid(
            path,
            format!(
                "byte {at}: offsets: must run from 0 to the interval count {n_intervals}, run from {} to {}",
                offsets[0],
                offsets[offsets.len() - 1]
            ),
        ));
    }
    if let Some(h) = offsets.windows(2).position(|w| w[0] > w[1]) {
        return Err(TraceError::invalid(
            path,
            format!(
                "byte {}: offsets: host {h}: decreasing offsets {} > {}",
                at + 8 * (h + 1),
                offsets[h],
                offsets[h + 1]
            ),
        ));
    }
    Ok(())
}

/// Every interval inside `[0, span)`, non-empty, after the previous one of its host with a gap.
fn check_intervals(
    path: &Path,
    starts_at: usize,
    meta: &TraceMeta,
    hosts: &[Host],
    offsets: &[usize],
    starts: &[i64],
    ends: &[i64],
) -> Result<()> {
    for (h, host) in hosts.iter().enumerate() {
        let mut prev_end = -1;
        for i in offsets[h]..offsets[h + 1] {
            let (s, e) = (starts[i], ends[i]);
            if s <= prev_end || s >= e || s < 0 || e > meta.span {
                return Err(TraceError::invalid(
                    path,
                    format!(
                        "byte {}: starts: host `{}` interval {} [{s}, {e}): intervals must be non-empty, \
                         inside [0, {}), sorted, neither overlapping nor touching",
                        starts_at + 8 * i,
                        host.name,
                        i - offsets[h],
                        meta.span
                    ),
                ));
            }
            prev_end = e;
        }
    }
    Ok(())
}

/// A buffered file that counts what it wrote, for the padding.
struct Out {
    w: BufWriter<File>,
    at: usize,
}

impl Out {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.at += b.len();
        self.w.write_all(b)
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let n = (8 - self.at % 8) % 8;
        self.put(&[0u8; 8][..n])
    }
}

pub(super) fn write(trace: &Trace, dir: &Path) -> Result<()> {
    let path = dir.join(FILE);
    let io = |e| TraceError::io(&path, e);
    let file = File::create(&path).map_err(io)?;
    let mut o = Out {
        w: BufWriter::with_capacity(1 << 20, file),
        at: 0,
    };
    let meta = serde_json::to_vec(&trace.meta).expect("metadata serialises");
    (|| {
        o.put(MAGIC)?;
        o.put(&VERSION.to_le_bytes())?;
        o.put(&(meta.len() as u32).to_le_bytes())?;
        o.put(&meta)?;
        o.pad()?;
        o.put(&(trace.host_count() as u64).to_le_bytes())?;
        o.put(&(trace.interval_count() as u64).to_le_bytes())?;
        for h in trace.hosts() {
            o.put(&h.id.to_le_bytes())?;
            o.put(&h.speed.to_le_bytes())?;
            o.put(&h.cores.to_le_bytes())?;
            o.put(&(h.name.len() as u32).to_le_bytes())?;
        }
        for h in trace.hosts() {
            o.put(h.name.as_bytes())?;
        }
        o.pad()?;
        for h in 0..trace.host_count() {
            o.put(&(trace.interval_range(h).start as u64).to_le_bytes())?;
        }
        o.put(&(trace.interval_count() as u64).to_le_bytes())?;
        for h in 0..trace.host_count() {
            for &s in trace.intervals(h).0 {
                o.put(&s.to_le_bytes())?;
            }
        }
        for h in 0..trace.host_count() {
            for &e in trace.intervals(h).1 {
                o.put(&e.to_le_bytes())?;
            }
        }
        o.w.flush()
    })()
    .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::generate_quiet;
    use crate::presets;

    fn sample() -> Trace {
        generate_quiet(&presets::get("seti").unwrap(), 30, 5 * 86_400, 7).unwrap()
    }

    fn encode(t: &Trace) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        write(t, dir.path()).unwrap();
        std::fs::read(dir.path().join(FILE)).unwrap()
    }

    fn err(bytes: &[u8]) -> String {
        decode(Path::new("t/trace.bin"), bytes, bytes.len())
            .unwrap_err()
            .to_string()
    }

    fn ok(bytes: &[u8]) -> Trace {
        decode(Path::new("x"), bytes, bytes.len()).unwrap()
    }

    #[test]
    fn round_trip_is_exact() {
        let t = sample();
        assert_eq!(ok(&encode(&t)), t);
    }

    #[test]
    fn a_name_longer_than_ascii_round_trips() {
        let mut b = crate::model::TraceBuilder::new("mem");
        for (i, name) in ["hôte-ß", "h1"].into_iter().enumerate() {
            b.add_host(Host {
                id: 10 + i as u64,
                name: name.into(),
                speed: 1.5,
                cores: 2,
            });
        }
        b.push(0, 0, 5);
        b.push(1, 3, 9);
        let meta = TraceMeta {
            name: "names".into(),
            source: crate::model::SourceFormat::Csv,
            origin: Some(7),
            span: 10,
        };
        let t = b.finish(meta, true).unwrap().0;
        assert_eq!(ok(&encode(&t)), t);
    }

    #[test]
    fn corruption_is_named_by_field_and_byte() {
        let t = sample();
        let good = encode(&t);
        assert!(
            err(b"SPQTRAC").contains("magic: file truncated"),
            "{}",
            err(b"SPQTRAC")
        );
        assert!(err(b"NOTATRACE and more").contains("byte 0: magic"));

        let mut v = good.clone();
        v[8] = 2;
        assert!(
            err(&v).contains("byte 8: version: version 2"),
            "{}",
            err(&v)
        );

        // Truncation anywhere is an error, never a shorter trace.
        for cut in [20, good.len() / 2, good.len() - 1] {
            let e = err(&good[..cut]);
            assert!(
                e.contains("truncated") || e.contains("do not fit"),
                "cut {cut}: {e}"
            );
        }
        let mut v = good.clone();
        v.push(0);
        assert!(err(&v).contains("1 unexpected bytes"), "{}", err(&v));

        // The last interval's end beyond the span.
        let mut v = good.clone();
        let n = v.len();
        v[n - 8..].copy_from_slice(&(10 * 86_400i64).to_le_bytes());
        let e = err(&v);
        assert!(
            e.contains("starts: host `") && e.contains("inside [0, 432000)"),
            "{e}"
        );

        // A host count far larger than the file is refused before allocating.
        let meta_len = u32::from_le_bytes(good[12..16].try_into().unwrap()) as usize;
        let count_at = (16 + meta_len).div_ceil(8) * 8;
        let mut v = good.clone();
        v[count_at..count_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(err(&v).contains("host_count"), "{}", err(&v));

        // A speed of zero in the first host record.
        let mut v = good.clone();
        let rec = count_at + 16;
        v[rec + 8..rec + 16].copy_from_slice(&0f64.to_le_bytes());
        assert!(err(&v).contains("host 0: speed"), "{}", err(&v));
    }
}
