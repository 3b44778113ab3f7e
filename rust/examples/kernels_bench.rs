//! Best-of-N throughput of the two Python-facing kernels on the benchmarks' data shapes
//! (output allocation included, Arrow wrapping and export not), with the extension's allocator.
//! `cargo run --release --example kernels_bench -- [ROUNDS] [tiles|time]`
//! (RAYON_NUM_THREADS=1 for one core). Best-of-N because this VM is shared and drifts.
use std::time::Instant;

use arrow_array::{Array, StringArray};
use ldesfrag::{tile, xsd};

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

// As in the extension (see lib.rs): fresh output pages then cost what they cost there.
#[cfg(not(feature = "python"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn best<T>(rounds: usize, n: usize, what: &str, mut f: impl FnMut() -> T) {
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{what:<32} {:8.1} M/s {:6.2} ns/value",
        n as f64 / best / 1e6,
        best / n as f64 * 1e9
    );
}

fn main() {
    ldesfrag::tune_allocator();
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(20, |s| s.parse().expect("rounds"));
    let only = args.next().unwrap_or_default();
    // A third argument sets the number of values (2 M, as the Python benchmarks, by default).
    let n: usize = args
        .next()
        .map_or(2_000_000, |s| s.parse().expect("values"));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    if only.is_empty() || only == "tiles" {
        // The benchmark's box (Belgium) and the whole Web Mercator square.
        let lon: Vec<f64> = (0..n).map(|_| rng.uniform(2.5, 6.4)).collect();
        let lat: Vec<f64> = (0..n).map(|_| rng.uniform(49.5, 51.5)).collect();
        let glon: Vec<f64> = (0..n).map(|_| rng.uniform(-180.0, 180.0)).collect();
        let glat: Vec<f64> = (0..n).map(|_| rng.uniform(-85.0, 85.0)).collect();
        for z in [14u8, 24] {
            best(rounds, n, &format!("tiles_of_points z{z} box"), || {
                tile::tiles_of_points(&lon, &lat, z)
            });
            best(rounds, n, &format!("tiles_of_points z{z} globe"), || {
                tile::tiles_of_points(&glon, &glat, z)
            });
        }
    }
    if only.is_empty() || only == "time" {
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
}
