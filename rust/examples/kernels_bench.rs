//! Best-of-N throughput of the two Python-facing kernels on the benchmarks' data shapes
//! (output allocation included, Arrow wrapping and export not).
//! `cargo run --release --example kernels_bench -- [ROUNDS]` (RAYON_NUM_THREADS=1 for one core)
use std::time::Instant;

use arrow_array::{Array, StringArray};
use ldesfrag::{tile, xsd};

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

fn best<T>(rounds: usize, n: usize, what: &str, mut f: impl FnMut() -> T) {
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{what:<28} {:8.1} M/s", n as f64 / best / 1e6);
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(20, |s| s.parse().expect("rounds"));
    let n = 2_000_000;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let lon: Vec<f64> = (0..n).map(|_| rng.uniform(2.5, 6.4)).collect();
    let lat: Vec<f64> = (0..n).map(|_| rng.uniform(49.5, 51.5)).collect();
    best(rounds, n, "tiles_of_points z14", || {
        tile::tiles_of_points(&lon, &lat, 14)
    });

    let start = 1_672_531_200i64; // 2023-01-01
    let strings: Vec<String> = (0..n)
        .map(|i| {
            let s = start + (rng.next() % (365 * 86_400)) as i64;
            let (s, zone) = match i % 3 {
                0 => (s, "Z"),
                1 => (s, ".000Z"),
                _ => (s + 3600, "+01:00"),
            };
            let (y, m, d) = xsd::civil_from_days(s.div_euclid(86_400));
            let t = s.rem_euclid(86_400);
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{zone}",
                t / 3600,
                t / 60 % 60,
                t % 60
            )
        })
        .collect();
    let array = StringArray::from(strings);
    best(rounds, n, "parse_many", || {
        xsd::parse_many(
            n,
            |i| array.is_valid(i).then(|| array.value(i).as_bytes()),
            xsd::Naive::Utc,
        )
    });
}
