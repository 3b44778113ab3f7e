//! Best-of-N (and median) wall time of `Fragmenter::assign` on the data of `benches/bench_assign.py`
//! (1 M members, geo(z14) → day → page 250; `sites` or `uniform`), the output's bucket
//! strings included, and a digest of the output (A/B checks), with the extension's allocator.
//! `cargo run --release --example assign_bench -- [sites|uniform] [ROUNDS] [N]`
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use ldesfrag::fragmenter::{Fragmenter, OnInvalid};
use ldesfrag::view::View;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

// As in the extension (see lib.rs): fresh output pages then cost what they cost there.
#[cfg(not(feature = "python"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn members(kind: &str, n: usize) -> RecordBatch {
    let mut rng = Rng(11);
    let (lon, lat): (Vec<f64>, Vec<f64>) = if kind == "uniform" {
        (0..n)
            .map(|_| (rng.uniform(2.6, 5.9), rng.uniform(50.7, 51.35)))
            .unzip()
    } else {
        let sites: Vec<(f64, f64)> = (0..500)
            .map(|_| (rng.uniform(2.6, 5.9), rng.uniform(50.7, 51.35)))
            .collect();
        (0..n).map(|i| sites[i % 500]).unzip()
    };
    let (t0, t1) = (1_672_531_200_000_000u64, 1_675_209_600_000_000u64);
    let mut ts: Vec<i64> = (0..n)
        .map(|_| (t0 + rng.next() % (t1 - t0)) as i64)
        .collect();
    ts.sort_unstable();
    RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from_iter_values(0..n as i64)) as ArrayRef,
        ),
        ("lon", Arc::new(Float64Array::from(lon))),
        ("lat", Arc::new(Float64Array::from(lat))),
        (
            "timestamp",
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        ),
    ])
    .expect("batch")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).map_or("sites", String::as_str);
    let rounds: usize = args.get(2).map_or(5, |s| s.parse().expect("rounds"));
    let n: usize = args.get(3).map_or(1_000_000, |s| s.parse().expect("n"));
    let view = View::from_json(
        r#"{"fragmentations":[{"type":"Geospatial","max_zoom":14},{"type":"HierarchicalTime","max_granularity":"day"}],"page_size":250}"#,
    )
    .expect("view");
    ldesfrag::tune_allocator();
    let batch = members(kind, n);
    let mut times = Vec::with_capacity(rounds);
    let mut last = None;
    for _ in 0..rounds {
        let t = Instant::now();
        let mut f = Fragmenter::new(view.clone()).expect("fragmenter");
        let (out, _) = f
            .assign(std::slice::from_ref(&batch), OnInvalid::Unknown)
            .expect("assign");
        let max_rows: usize =
            std::env::var("MAX_ROWS").map_or(1 << 16, |s| s.parse().expect("rows"));
        let buckets = f.bucket_columns(&out.buckets, max_rows);
        times.push(t.elapsed().as_secs_f64());
        last = Some((out, buckets));
    }
    let mut h = DefaultHasher::new();
    if let Some((out, buckets)) = last {
        out.rows.hash(&mut h);
        out.pages.hash(&mut h);
        for b in &buckets {
            b.value_data().hash(&mut h);
        }
    }
    let digest = h.finish();
    times.sort_by(f64::total_cmp);
    let (best, median) = (times[0], times[times.len() / 2]);
    println!(
        "{kind}: {:.1} ms, {:.2} M members/s (best of {rounds}; median {:.2} M/s), digest {digest:016x}",
        best * 1e3,
        n as f64 / best / 1e6,
        n as f64 / median / 1e6
    );
}
