//! The event queue alone: a hold model (pop one event, push one at a random later time) at
//! several queue sizes, the access pattern of the simulator's main loop.
//!
//! Run: `cargo bench -p spequlos-benches --bench engine`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spequlos_sim::engine::Queue;

/// A xorshift generator: the benchmark must not measure a heavy RNG.
struct XorShift(u64);
impl XorShift {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn hold(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue_hold");
    const OPS: u64 = 1_000_000;
    g.throughput(Throughput::Elements(OPS));
    for size in [1_000usize, 10_000, 100_000] {
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            b.iter(|| {
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
                let mut q: Queue<u32> = Queue::with_capacity(size);
                for i in 0..size {
                    q.push(rng.next_f64() * 1000.0, i as u32);
                }
                let mut sum = 0u64;
                for _ in 0..OPS {
                    let (t, e) = q.pop().expect("never empty");
                    sum = sum.wrapping_add(e as u64);
                    q.push(t + rng.next_f64() * 1000.0, e);
                }
                sum
            })
        });
    }
    g.finish();
}

criterion_group!(benches, hold);
criterion_main!(benches);
