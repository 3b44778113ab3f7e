use super::arena::{copy_ids, WIDE};
use super::chunks::{first_appearances, Chunk, NumberedKeys, NEW};
use super::keys::is_absolute_iri;
use super::word::LeafKey;
use super::*;
use crate::testing::Rng;
use crate::tile;
use crate::timebucket;
use crate::vocab::TREE_GEO_CONTAINS;
use arrow_array::Array;
use arrow_array::{ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray};
use std::sync::Arc;

pub(super) fn view(json: &str) -> View {
    View::from_json(json).expect("valid view")
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).expect("batch")
}

pub(super) fn members(n: usize) -> RecordBatch {
    let ids: Vec<String> = (0..n).map(|i| format!("http://ex.org/m/{i}")).collect();
    let lon: Vec<f64> = (0..n).map(|i| 3.0 + (i % 7) as f64 * 0.01).collect();
    let lat: Vec<f64> = (0..n).map(|i| 51.0 + (i % 5) as f64 * 0.01).collect();
    let ts: Vec<i64> = (0..n)
        .map(|i| 1_683_900_000_000_000 + i as i64 * 3_600_000_000)
        .collect();
    batch(vec![
        ("id", Arc::new(StringArray::from(ids)) as ArrayRef),
        ("lon", Arc::new(Float64Array::from(lon))),
        ("lat", Arc::new(Float64Array::from(lat))),
        ("timestamp", Arc::new(TimestampMicrosecondArray::from(ts))),
    ])
}

pub(super) const GEO_DAY: &str = r#"{"fragmentations":[{"type":"Geospatial","max_zoom":12},{"type":"HierarchicalTime","max_granularity":"day"}],"page_size":3}"#;

fn snapshot(f: &Fragmenter, a: &Assignments) -> Vec<(u64, String, u32)> {
    (0..a.rows.len())
        .map(|i| (a.rows[i], f.descriptor(a.buckets[i]).to_owned(), a.pages[i]))
        .collect()
}

#[test]
fn split_and_resume_equal_one_call() {
    let all = members(200);
    let mut one = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
    let (a, inv) = one
        .assign(std::slice::from_ref(&all), OnInvalid::Unknown)
        .expect("assign");
    assert!(inv.is_empty());
    let expected = snapshot(&one, &a);
    for cut in [1usize, 17, 100, 199] {
        let mut f = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
        let (a1, _) = f
            .assign(&[all.slice(0, cut)], OnInvalid::Unknown)
            .expect("first");
        let mut got = snapshot(&f, &a1);
        let mut g = Fragmenter::from_state(view(GEO_DAY), &f.state()).expect("restore");
        let (a2, _) = g
            .assign(&[all.slice(cut, 200 - cut)], OnInvalid::Unknown)
            .expect("second");
        got.extend(
            snapshot(&g, &a2)
                .into_iter()
                .map(|(r, b, p)| (r + cut as u64, b, p)),
        );
        assert_eq!(got, expected, "cut at {cut}");
        assert_eq!(g.relations(), one.relations());
        assert_eq!(g.pages(), one.pages());
    }
}

#[test]
fn descriptors_and_relations() {
    let mut f = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
    let (a, _) = f.assign(&[members(1)], OnInvalid::Unknown).expect("assign");
    let t = tile::tile(3.0, 51.0, 12).expect("tile");
    assert_eq!(
        f.descriptor(a.buckets[0]),
        format!("tile=12/{}/{}&year=2023&month=05&day=12", t.x, t.y)
    );
    let rels = f.relations();
    // root → hub, hub → tile, tile → year (2), year → month (2), month → day (2), day → page 1
    assert_eq!(rels.len(), 9);
    assert_eq!(f.descriptor(rels[0].child), "tile=0/0/0");
    assert_eq!(rels[1].kind, TREE_GEO_CONTAINS);
    assert_eq!(rels[2].value.as_deref(), Some("2023-01-01T00:00:00Z"));
    assert_eq!(rels[3].value.as_deref(), Some("2024-01-01T00:00:00Z"));
}

#[test]
fn unknown_reject_raise() {
    let b = batch(vec![
        (
            "id",
            Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])) as ArrayRef,
        ),
        (
            "geometry",
            Arc::new(StringArray::from(vec![
                Some("POINT (3 51)"),
                Some("POINT (a b)"),
                Some("POINT (3 51)"),
            ])),
        ),
        (
            "timestamp",
            Arc::new(StringArray::from(vec![
                Some("2023-05-12T14:00:00Z"),
                None,
                Some("2023-05-12T14:00:00Z"),
            ])),
        ),
    ]);
    let mut f = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
    let (a, inv) = f
        .assign(std::slice::from_ref(&b), OnInvalid::Unknown)
        .expect("assign");
    assert_eq!(a.rows, vec![0, 1]);
    assert_eq!(f.descriptor(a.buckets[1]), "tile=unknown&year=unknown");
    assert_eq!(inv.iter().filter(|i| i.rejected).count(), 1); // the id-less row
    let mut f = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
    let (a, inv) = f
        .assign(std::slice::from_ref(&b), OnInvalid::Reject)
        .expect("assign");
    assert_eq!(a.rows, vec![0]);
    assert!(inv.iter().all(|i| i.rejected));
    let mut f = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
    assert!(matches!(
        f.assign(&[b], OnInvalid::Raise),
        Err(Error::InvalidMember { row: 1, .. })
    ));
    assert_eq!(f.bucket_count(), 1, "a failed call changes nothing");
}

#[test]
fn corrupt_state_is_an_error() {
    let mut f = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
    f.assign(&[members(50)], OnInvalid::Unknown)
        .expect("assign");
    let s = f.state();
    for cut in [0, 5, 10, s.len() / 2, s.len() - 1] {
        assert!(Fragmenter::from_state(view(GEO_DAY), &s[..cut]).is_err());
    }
    let mut flipped = s.clone();
    for i in (10..flipped.len()).step_by(7) {
        flipped[i] ^= 0x5a;
        let _ = Fragmenter::from_state(view(GEO_DAY), &flipped); // never panics
    }
    let other = view(r#"{"fragmentations":[],"page_size":3}"#);
    assert!(matches!(
        Fragmenter::from_state(other, &s),
        Err(Error::State(_))
    ));
}

/// Random members around a DST change, with invalid values of every kind: null ids,
/// missing or out-of-range coordinates, bad WKT, missing times, relative references.
pub(super) fn random_members(rng: &mut Rng, n: usize) -> RecordBatch {
    use arrow_array::builder::{ListBuilder, StringBuilder};
    let mut pick = |p: f64| rng.unit() < p;
    let ids: Vec<Option<String>> = (0..n)
        .map(|i| (!pick(0.02)).then(|| format!("m{}", i % 97)))
        .collect();
    let lon: Vec<Option<f64>> = (0..n)
        .map(|_| match rng.index(40) {
            0 => None,
            1 => Some(f64::NAN),
            _ => Some(3.0 + 0.3 * rng.unit()),
        })
        .collect();
    let lat: Vec<Option<f64>> = (0..n)
        .map(|_| {
            Some(if rng.index(50) == 0 {
                95.0
            } else {
                50.9 + 0.2 * rng.unit()
            })
        })
        .collect();
    let geometry: Vec<Option<String>> = (0..n)
        .map(|i| match rng.index(20) {
            0 => None,
            1 => Some("POINT (a b)".to_owned()),
            2 | 3 => Some(format!(
                "LINESTRING ({} 51.0, {} 51.1)",
                3.0 + 0.1 * rng.unit(),
                3.1 + 0.2 * rng.unit()
            )),
            _ => lon[i].map(|x| format!("POINT ({x} {})", lat[i].unwrap_or(0.0))),
        })
        .collect();
    // 2023-03-24..28 (the change to summer time in Brussels), and a few on 1969-12-31.
    let ts: Vec<Option<i64>> = (0..n)
        .map(|_| match rng.index(30) {
            0 => None,
            1 => Some(-43_200_000_000 + rng.below(1_000_000) as i64),
            _ => Some(1_679_616_000_000_000 + rng.below(345_600_000_000) as i64),
        })
        .collect();
    let values = [
        "http://ex.org/A",
        "http://ex.org/B?x=1&y=2",
        "relative",
        "urn:x:y",
    ];
    let mut refs = ListBuilder::new(StringBuilder::new());
    for _ in 0..n {
        if rng.index(25) == 0 {
            refs.append(false);
            continue;
        }
        for _ in 0..rng.index(3) + usize::from(rng.index(4) > 0) {
            refs.values().append_value(values[rng.index(values.len())]);
        }
        refs.append(true);
    }
    batch(vec![
        ("id", Arc::new(StringArray::from(ids)) as ArrayRef),
        ("lon", Arc::new(Float64Array::from(lon))),
        ("lat", Arc::new(Float64Array::from(lat))),
        ("geometry", Arc::new(StringArray::from(geometry))),
        ("timestamp", Arc::new(TimestampMicrosecondArray::from(ts))),
        ("reference", Arc::new(refs.finish())),
    ])
}

/// One word per level (points, times), lists (WKT covers, references), both orders.
pub(super) const VIEWS: [&str; 4] = [
    r#"{"fragmentations":[{"type":"Geospatial","max_zoom":9,"column":"point"},{"type":"HierarchicalTime","max_granularity":"day"}],"page_size":3}"#,
    r#"{"fragmentations":[{"type":"HierarchicalTime","max_granularity":"hour","timezone":"Europe/Brussels"},{"type":"Geospatial","max_zoom":10}],"page_size":2}"#,
    r#"{"fragmentations":[{"type":"Reference"},{"type":"Geospatial","max_zoom":8,"column":"point"},{"type":"HierarchicalTime","max_granularity":"month"}],"page_size":4,"order":"timestamp"}"#,
    r#"{"fragmentations":[],"page_size":7,"order":"timestamp"}"#,
];

type Outcome = (Vec<(u64, String, u32)>, Vec<Invalid>);

/// Two calls (the second continues the first, from a saved state if `restore`) in chunks
/// of `chunk` members, new keys found in `parts` partitions; the fragmenter at the end.
fn two_calls(
    json: &str,
    calls: &[Vec<RecordBatch>; 2],
    mode: OnInvalid,
    (chunk, parts): (usize, usize),
    restore: bool,
) -> ([Outcome; 2], Fragmenter) {
    let mut f = Fragmenter::new(view(json)).expect("fragmenter");
    let mut outcomes = Vec::new();
    for (i, batches) in calls.iter().enumerate() {
        if restore && i > 0 {
            f = Fragmenter::from_state(view(json), &f.state()).expect("state");
        }
        let (a, inv) = (f.assign_in_chunks(batches, mode, chunk, parts)).expect("assign");
        outcomes.push((snapshot(&f, &a), inv));
    }
    let [first, second]: [Outcome; 2] = outcomes.try_into().expect("two calls");
    ([first, second], f)
}

#[test]
fn chunking_and_restoring_change_nothing() {
    let mut rng = Rng(7);
    for json in VIEWS {
        let sizes = [[300, 0, 211], [1, 450, 0]];
        let calls = sizes.map(|s| s.map(|n| random_members(&mut rng, n)).to_vec());
        for mode in [OnInvalid::Unknown, OnInvalid::Reject] {
            let (expected, one) = two_calls(json, &calls, mode, (usize::MAX, 1), false);
            for (chunk, restore) in [
                (1, false),
                (2, true),
                (7, false),
                (64, true),
                (usize::MAX, true),
            ] {
                let (got, f) = two_calls(json, &calls, mode, (chunk, 1), restore);
                assert_eq!(
                    got, expected,
                    "{json} {mode:?} chunk {chunk} restore {restore}"
                );
                assert_eq!(f.relations(), one.relations());
                assert_eq!(f.pages(), one.pages());
                assert_eq!(f.state(), one.state());
            }
            check_outcome(&one, &calls, mode, &expected);
        }
    }
}

#[test]
fn partitions_of_new_keys_change_nothing() {
    // Many members per leaf and many new leaves, repeated across chunks and calls, some
    // invalid: every partitioning gives what one sequential pass gives.
    let mut rng = Rng(19);
    for json in VIEWS {
        let calls =
            [[500, 0, 333], [257, 600, 0]].map(|s| s.map(|n| random_members(&mut rng, n)).to_vec());
        for mode in [OnInvalid::Unknown, OnInvalid::Reject] {
            let (expected, one) = two_calls(json, &calls, mode, (usize::MAX, 1), false);
            for (chunk, parts, restore) in [
                (usize::MAX, 2, false),
                (1, 3, true),
                (7, 2, true),
                (64, 5, false),
                (300, 64, true),
            ] {
                let (got, f) = two_calls(json, &calls, mode, (chunk, parts), restore);
                let case = format!("{json} {mode:?} chunk {chunk} parts {parts}");
                assert_eq!(got, expected, "{case}");
                assert_eq!(f.relations(), one.relations(), "{case}");
                assert_eq!(f.pages(), one.pages(), "{case}");
                assert_eq!(f.state(), one.state(), "{case}");
            }
        }
    }
}

#[test]
fn first_appearances_per_partition() {
    let key = |w: u64| LeafKey([w, 1, 0, 0]);
    let chunk = |keys: Vec<LeafKey>, known: Vec<u32>| Chunk {
        known,
        ..Chunk::numbered(
            0,
            NumberedKeys {
                keys,
                counts: Vec::new(),
            },
            Vec::new(),
            None,
        )
    };
    // Keys 0..3 in the first chunk (the second one known), 4..6 in the second.
    let chunks = [
        chunk(vec![key(5), key(6), key(7), key(8)], vec![NEW, 3, NEW, NEW]),
        chunk(vec![key(8), key(9), key(5)], vec![NEW, NEW, NEW]),
    ];
    for parts in [1, 2, 3, 8] {
        assert_eq!(
            first_appearances(&chunks, parts),
            [0, NEW, 2, 3, 3, 5, 0],
            "parts {parts}"
        );
    }
}

/// What every assignment must satisfy, checked without the fragmenter's own machinery:
/// rejected members are out and all others in, in the view's order, and each member's
/// page follows from the count of members its bucket already had.
fn check_outcome(
    f: &Fragmenter,
    calls: &[Vec<RecordBatch>; 2],
    mode: OnInvalid,
    outcome: &[Outcome; 2],
) {
    let size = f.view().page_size as u64;
    let mut seen: std::collections::HashMap<&str, u64> = Default::default();
    for ((entries, invalid), batches) in outcome.iter().zip(calls) {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let rejected: Vec<u64> = invalid
            .iter()
            .filter(|i| i.rejected)
            .map(|i| i.row)
            .collect();
        assert_eq!(
            invalid.iter().any(|i| i.rejected && i.column != "id"),
            mode == OnInvalid::Reject && !invalid.iter().all(|i| i.column == "id")
        );
        let mut assigned: Vec<u64> = entries.iter().map(|e| e.0).collect();
        if f.view().order == Order::Arrival {
            assert!(assigned.windows(2).all(|w| w[0] <= w[1]));
        }
        assigned.sort_unstable();
        assigned.dedup();
        let all: Vec<u64> = (0..rows as u64).filter(|r| !rejected.contains(r)).collect();
        assert_eq!(assigned, all);
        for (_, bucket, page) in entries {
            let n = seen.entry(bucket.as_str()).or_default();
            assert_eq!(u64::from(*page), *n / size + 1, "{bucket}");
            *n += 1;
        }
    }
}

#[test]
fn points_and_time_columns_agree_with_wkt_and_strings() {
    // The one-word-per-level path (lon/lat, Arrow timestamps) against the list path (WKT
    // points, xsd:dateTime strings) on the same members, missing values included.
    let mut rng = Rng(3);
    let n = 2_000;
    let lon: Vec<Option<f64>> = (0..n)
        .map(|_| (rng.index(20) > 0).then(|| 3.0 + rng.unit()))
        .collect();
    let lat: Vec<f64> = (0..n).map(|_| 50.5 + rng.unit()).collect();
    let ts: Vec<Option<i64>> = (0..n)
        .map(|_| (rng.index(20) > 0).then(|| -86_400_000_000 + rng.below(1 << 50) as i64))
        .collect();
    let ids = Arc::new(StringArray::from_iter_values(
        (0..n).map(|i| format!("m{i}")),
    )) as ArrayRef;
    let columns = batch(vec![
        ("id", ids.clone()),
        ("lon", Arc::new(Float64Array::from(lon.clone()))),
        ("lat", Arc::new(Float64Array::from(lat.clone()))),
        (
            "timestamp",
            // UTC-aware: a zone-less column would be wall time in the view's zone.
            Arc::new(TimestampMicrosecondArray::from(ts.clone()).with_timezone("UTC")),
        ),
    ]);
    let wkt: Vec<Option<String>> = (0..n)
        .map(|i| lon[i].map(|x| format!("POINT ({x} {})", lat[i])))
        .collect();
    let strings: Vec<Option<String>> = ts.iter().map(|t| t.map(timebucket::format_utc)).collect();
    let text = batch(vec![
        ("id", ids),
        ("geometry", Arc::new(StringArray::from(wkt))),
        ("timestamp", Arc::new(StringArray::from(strings))),
    ]);
    for json in [
        r#"{"fragmentations":[{"type":"Geospatial","max_zoom":14},{"type":"HierarchicalTime","max_granularity":"day"}],"page_size":5}"#,
        r#"{"fragmentations":[{"type":"HierarchicalTime","max_granularity":"second","timezone":"Europe/Brussels"},{"type":"Geospatial","max_zoom":3}],"page_size":2,"order":"timestamp"}"#,
    ] {
        for mode in [OnInvalid::Unknown, OnInvalid::Reject] {
            let run = |b: &RecordBatch| {
                let mut f = Fragmenter::new(view(json)).expect("fragmenter");
                let (a, inv) = f
                    .assign_in_chunks(std::slice::from_ref(b), mode, 300, 1)
                    .expect("assign");
                let inv: Vec<(u64, bool)> = inv.iter().map(|i| (i.row, i.rejected)).collect();
                (snapshot(&f, &a), inv, f.pages())
            };
            let fast = run(&columns);
            assert_eq!(fast, run(&text), "{json} {mode:?}");
            assert!(!fast.1.is_empty());
        }
    }
}

#[test]
fn batches_of_points_and_of_wkt_mix_in_one_call() {
    let points = members(40);
    let wkt: Vec<String> = (0..30)
        .map(|i| format!("LINESTRING (3.0 51.0, {} 51.2)", 3.0 + i as f64 * 0.01))
        .collect();
    let lines = batch(vec![
        (
            "id",
            Arc::new(StringArray::from_iter_values(
                (0..30).map(|i| format!("l{i}")),
            )) as ArrayRef,
        ),
        ("geometry", Arc::new(StringArray::from(wkt))),
        (
            "timestamp",
            Arc::new(TimestampMicrosecondArray::from(vec![
                1_683_900_000_000_000;
                30
            ])),
        ),
    ]);
    let calls = [
        vec![points.clone(), lines.clone(), points.clone()],
        vec![lines, points],
    ];
    let mut one = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
    let (a, _) = one
        .assign(&calls.concat(), OnInvalid::Unknown)
        .expect("assign");
    let expected = snapshot(&one, &a);
    let mut f = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
    let mut got = Vec::new();
    let mut start = 0;
    for batches in &calls {
        let (a, _) = f.assign(batches, OnInvalid::Unknown).expect("assign");
        got.extend(
            snapshot(&f, &a)
                .into_iter()
                .map(|(r, b, p)| (r + start, b, p)),
        );
        start += batches.iter().map(RecordBatch::num_rows).sum::<usize>() as u64;
    }
    assert_eq!(got, expected);
    assert!(expected.len() > 150, "lines cover several tiles");
}

#[test]
fn the_day_before_the_epoch_is_a_day_like_any_other() {
    let b = batch(vec![
        ("id", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
        (
            "timestamp",
            Arc::new(TimestampMicrosecondArray::from(vec![-43_200_000_000])),
        ),
    ]);
    let mut f = Fragmenter::new(view(
        r#"{"fragmentations":[{"type":"HierarchicalTime","max_granularity":"day"}]}"#,
    ))
    .expect("fragmenter");
    let (a, inv) = f.assign(&[b], OnInvalid::Unknown).expect("assign");
    assert!(inv.is_empty());
    assert_eq!(f.descriptor(a.buckets[0]), "year=1969&month=12&day=31");
}

#[test]
fn bucket_columns_split_by_rows() {
    let mut f = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
    let (a, _) = f
        .assign(&[members(20)], OnInvalid::Unknown)
        .expect("assign");
    let arrays = f.bucket_columns(&a.buckets, 7);
    assert_eq!(arrays.iter().map(Array::len).collect::<Vec<_>>(), [7, 7, 6]);
    let ids: Vec<&str> = arrays
        .iter()
        .flat_map(|a| a.iter().map(|v| v.expect("not null")))
        .collect();
    let expected: Vec<&str> = a.buckets.iter().map(|&b| f.descriptor(b)).collect();
    assert_eq!(ids, expected);
    assert_eq!(f.bucket_columns(&[], 7)[0].len(), 0);
}

#[test]
fn bucket_columns_copy_short_long_and_last_ids() {
    // Ids longer than a block copy, and the arena's last ids (no full block after them).
    use arrow_array::builder::{ListBuilder, StringBuilder};
    let view = view(r#"{"fragmentations":[{"type":"Reference"}],"page_size":2}"#);
    let values: Vec<String> = (0..40)
        .map(|i| format!("http://ex.org/{}", "x".repeat(i * 7 % 150)))
        .collect();
    let mut refs = ListBuilder::new(StringBuilder::new());
    for v in values.iter().chain(values.iter().rev()) {
        refs.values().append_value(v);
        refs.append(true);
    }
    let b = batch(vec![
        (
            "id",
            Arc::new(StringArray::from_iter_values(
                (0..80).map(|i| format!("m{i}")),
            )) as ArrayRef,
        ),
        ("reference", Arc::new(refs.finish())),
    ]);
    let mut f = Fragmenter::new(view).expect("fragmenter");
    let (a, _) = f.assign(&[b], OnInvalid::Unknown).expect("assign");
    for rows in [1, 3, 64, 1000] {
        let ids: Vec<String> = (f.bucket_columns(&a.buckets, rows).iter())
            .flat_map(|a| a.iter().map(|v| v.expect("not null").to_owned()))
            .collect();
        let expected: Vec<String> = (a.buckets.iter())
            .map(|&b| f.descriptor(b).to_owned())
            .collect();
        assert_eq!(ids, expected, "{rows} rows per array");
        assert!(expected.iter().any(|id| id.len() > 100));
        assert_eq!(expected[39], format!("reference={}", values[39]));
    }
    // The portable copy, whichever one the CPU gets.
    let mut offsets = vec![0i32];
    for &b in &a.buckets {
        let len = f.ids.range(b).len();
        offsets.push(offsets[offsets.len() - 1] + len as i32);
    }
    let total = offsets[offsets.len() - 1] as usize;
    let mut out: Vec<u8> = Vec::with_capacity(total + WIDE);
    // SAFETY: room for the ids and one block; `offsets` are the running sums from 0.
    unsafe {
        copy_ids(&f.ids, &a.buckets, &offsets, out.as_mut_ptr());
        out.set_len(total);
    }
    let expected: String = a.buckets.iter().map(|&b| f.descriptor(b)).collect();
    assert_eq!(out, expected.as_bytes());
}

#[test]
fn leaves_under_known_parents_equal_the_walk() {
    // One call finds most parents in its memo; restoring before every member walks from
    // the root each time (the memo is not saved). Same buckets, ids, tree and counts.
    let mut rng = Rng(9);
    let members = random_members(&mut rng, 120);
    for json in VIEWS {
        // Arrival order: one member per call is then the same order as one call.
        let json = &json.replace(r#","order":"timestamp""#, "");
        let mut one = Fragmenter::new(view(json)).expect("fragmenter");
        one.assign(std::slice::from_ref(&members), OnInvalid::Unknown)
            .expect("assign");
        let mut f = Fragmenter::new(view(json)).expect("fragmenter");
        for i in 0..members.num_rows() {
            f = Fragmenter::from_state(view(json), &f.state()).expect("state");
            f.assign(&[members.slice(i, 1)], OnInvalid::Unknown)
                .expect("assign");
        }
        assert_eq!(f.state(), one.state(), "{json}");
    }
}

#[test]
fn percent_encoding_keeps_iris_readable() {
    let mut s = String::new();
    percent_encode_value(&mut s, "http://ex.org/a?b=c&d#e f");
    assert_eq!(s, "http://ex.org/a?b%3Dc%26d%23e%20f");
    assert!(is_absolute_iri("http://ex.org/x"));
    assert!(!is_absolute_iri("unknown"));
    assert!(!is_absolute_iri("http://ex.org/a b"));
}

/// Drops pages as retention would: through a random immutable page of some buckets.
pub(super) fn drop_some(f: &mut Fragmenter, rng: &mut Rng) -> Vec<(u32, u32)> {
    let through: Vec<(u32, u32)> = (f.pages().into_iter())
        .filter(|p| p.immutable && rng.index(3) == 0)
        .map(|p| (p.bucket, p.page))
        .collect();
    f.drop_pages(&through).expect("immutable pages")
}

/// Every node (page 0: a bucket's own) with its page state and the relations from it.
type NodeStates = std::collections::BTreeMap<(u32, u32), (Option<(u64, bool)>, Vec<Relation>)>;

fn node_states(f: &Fragmenter) -> NodeStates {
    let mut out: NodeStates = (0..f.bucket_count() as u32)
        .map(|b| ((b, 0), (None, Vec::new())))
        .collect();
    for p in f.pages() {
        out.insert(
            (p.bucket, p.page),
            (Some((p.members, p.immutable)), Vec::new()),
        );
    }
    for r in f.relations() {
        let node = out.get_mut(&(r.parent, r.parent_page.unwrap_or(0)));
        node.expect("relations start at nodes").1.push(r);
    }
    out
}

/// `changes` equals the nodes that differ between two snapshots and the relations from them
/// (or, asked for the new ones, the relations added), over random calls in every view,
/// across a state round trip and a close.
#[test]
fn changes_are_the_difference_of_snapshots() {
    let mut rng = Rng(23);
    for json in VIEWS {
        for which in [ChangedRelations::FromChanged, ChangedRelations::New] {
            let mut f = Fragmenter::new(view(json)).expect("fragmenter");
            let mut before = NodeStates::new();
            let mut relations_before: Vec<Relation> = Vec::new();
            for call in 0..12 {
                if call == 6 {
                    f = Fragmenter::from_state(view(json), &f.state()).expect("state");
                    assert!(f.changes(which).nodes.is_empty(), "{json}");
                }
                if call == 11 {
                    f.close();
                } else {
                    let n = [0, 1, 5, 40, 300][rng.index(5)];
                    f.assign(&[random_members(&mut rng, n)], OnInvalid::Unknown)
                        .expect("assign");
                }
                if call % 3 == 2 {
                    drop_some(&mut f, &mut rng);
                }
                let after = node_states(&f);
                let changed: Vec<(u32, u32)> = (after.iter())
                    .filter(|(k, v)| before.get(k) != Some(v))
                    .map(|(k, _)| *k)
                    .collect();
                let got = f.changes(which);
                let nodes: Vec<(u32, u32)> = (got.nodes.iter())
                    .map(|n| (n.bucket, n.page.unwrap_or(0)))
                    .collect();
                assert_eq!(nodes, changed, "{json} call {call}");
                for n in &got.nodes {
                    let state = after[&(n.bucket, n.page.unwrap_or(0))].0;
                    assert_eq!(state.map_or((0, false), |s| s), (n.members, n.immutable));
                }
                let all = f.relations();
                let relations: Vec<Relation> = match which {
                    ChangedRelations::FromChanged => (all.iter())
                        .filter(|r| changed.contains(&(r.parent, r.parent_page.unwrap_or(0))))
                        .cloned()
                        .collect(),
                    ChangedRelations::New => (all.iter())
                        .filter(|r| !relations_before.contains(r))
                        .cloned()
                        .collect(),
                };
                assert_eq!(got.relations, relations, "{json} call {call}");
                before = after;
                relations_before = all;
            }
        }
    }
}

#[test]
fn the_test_hook_leaves_the_fragmenter_half_updated() {
    let mut f = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
    f.fail_next_assign();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        f.assign(&[members(20)], OnInvalid::Unknown)
    }));
    assert!(caught.is_err());
    // Buckets were made, but no leaf is in the leaf map: what the bindings must not use.
    assert!(f.bucket_count() > 1);
    assert!(f.leaves.is_empty());
}

#[test]
fn max_tiles_0_tiles_nothing_as_cover_does() {
    let wkt = batch(vec![
        (
            "id",
            Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
        ),
        (
            "geometry",
            Arc::new(StringArray::from(vec![Some("POINT (3 51)"), None])),
        ),
        (
            "timestamp",
            Arc::new(TimestampMicrosecondArray::from(vec![0, 0])),
        ),
    ]);
    let mut tiles = Vec::new();
    let err = crate::cover::cover_wkt("POINT (3 51)", 12, 0, &mut tiles).expect_err("cover");
    for b in [members(3), wkt] {
        let mut f = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
        f.set_max_tiles(0);
        let (a, inv) = f
            .assign(std::slice::from_ref(&b), OnInvalid::Unknown)
            .expect("assign");
        for &bucket in &a.buckets {
            assert!(f.descriptor(bucket).starts_with("tile=unknown&"));
        }
        assert_eq!(inv.len(), b.num_rows());
        assert!(inv.iter().any(|i| i.reason == err.to_string()), "{inv:?}");
        // A missing value keeps its own reason.
        assert!(inv
            .iter()
            .all(|i| i.reason == err.to_string() || i.reason.contains("missing")));
        f.set_max_tiles(1);
        let (a, _) = f.assign(&[b], OnInvalid::Unknown).expect("assign");
        assert!(!f.descriptor(a.buckets[0]).starts_with("tile=unknown"));
    }
}
