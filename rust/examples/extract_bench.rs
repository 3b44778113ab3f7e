//! Best-of-N wall time of reading members from a file, and a digest of the output (A/B checks).
//! `cargo run --release --example extract_bench -- FILE [ROUNDS] [WINDOW]`
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::Array;
use ldesfrag::rdf::{iri, ColumnKind, ColumnSpec, Config, Format, Input, MemberReader, Mode};

// As in the extension (see lib.rs), which has it already with `--features python`.
#[cfg(not(feature = "python"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    ldesfrag::tune_allocator();
    let args: Vec<String> = std::env::args().collect();
    let path = &args[1];
    let rounds: usize = args.get(2).map_or(3, |s| s.parse().expect("rounds"));
    let window: usize = args.get(3).map_or(1 << 16, |s| s.parse().expect("window"));
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let mut cfg = Config::new(
            Mode::VersionOf,
            iri("v", "http://purl.org/dc/terms/isVersionOf").expect("iri"),
        );
        cfg.window = window;
        cfg.columns = vec![
            ColumnSpec {
                name: "geometry".into(),
                kind: ColumnKind::Wkt,
                path: iri("g", "http://www.opengis.net/ont/geosparql#asWKT").expect("iri"),
            },
            ColumnSpec {
                name: "time".into(),
                kind: ColumnKind::Time,
                path: iri("t", "http://www.w3.org/ns/prov#generatedAtTime").expect("iri"),
            },
        ];
        let t = Instant::now();
        let input = Input::File {
            path: path.into(),
            format: Format::NQuads,
        };
        let mut r = MemberReader::new(cfg, vec![input]).expect("reader");
        let mut n = 0usize;
        let mut h = DefaultHasher::new();
        while let Some(b) = r.next_batch().expect("batch") {
            n += b.num_rows();
            for c in b.columns() {
                let d = c.to_data();
                if let Some(s) = c.as_string_opt::<i32>() {
                    for v in s.iter() {
                        v.hash(&mut h);
                    }
                } else {
                    let l = c.as_list::<i32>();
                    for i in 0..l.len() {
                        for v in l.value(i).as_string::<i32>().iter() {
                            v.hash(&mut h);
                        }
                    }
                }
                let _ = d;
            }
        }
        let s = t.elapsed().as_secs_f64();
        best = best.min(s);
        println!(
            "{n} members, {} problems, {s:.3}s, {:.0} members/s, digest {:016x}",
            r.problems().len(),
            n as f64 / s,
            h.finish()
        );
    }
    println!("best {:.3}s", best);
}
