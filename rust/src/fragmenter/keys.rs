//! Phase 1 of a call: the columns of each batch read into key words (see `word.rs`), per
//! member and per fragmentation, with the reason wherever a value is missing or invalid.
//!
//! Nothing here changes the fragmenter: a column of the wrong type fails the call before any
//! bucket is made. Points, time columns and covers are computed in parallel chunks; references
//! are numbered per call (the strings borrowed from the batches) and interned only once the
//! call cannot fail any more ([`Fragmenter::intern_refs`]), so a failed call interns nothing.

use std::borrow::Cow;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;

use arrow_array::{Array, RecordBatch};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer};
use arrow_schema::DataType;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::parallel::par_write;
use super::word::{ref_id, ref_word, time_word, TileXY, UNKNOWN};
use super::{Error, Fragmenter, Invalid};
use crate::columns::{self, Ids, Strings, StringsPerRow};
use crate::cover;
use crate::tile;
use crate::timebucket::{self, Granularity, Zone};
use crate::view::{Fragmentation, Order};
use crate::xsd;

/// The keys of one level for every member of a call: one or more words per row, `UNKNOWN` for
/// a missing or invalid value; references are the call's numbers until
/// [`Fragmenter::intern_refs`] makes them reference ids.
#[derive(Default)]
pub(super) struct LevelKeys {
    pub(super) words: Vec<u64>,
    /// Row `r`'s words are `words[offsets[r]..offsets[r + 1]]`; `None`: one word per row.
    pub(super) offsets: Option<Vec<usize>>,
}

impl LevelKeys {
    pub(super) fn one(words: Vec<u64>) -> LevelKeys {
        LevelKeys {
            words,
            offsets: None,
        }
    }

    #[inline]
    pub(super) fn row(&self, r: usize) -> &[u64] {
        match &self.offsets {
            None => std::slice::from_ref(&self.words[r]),
            Some(o) => &self.words[o[r]..o[r + 1]],
        }
    }

    /// Appends the next batch's keys (for most calls, the first and only batch).
    pub(super) fn append(&mut self, next: LevelKeys) {
        if self.words.is_empty() && self.offsets.is_none() {
            *self = next;
            return;
        }
        if self.offsets.is_some() || next.offsets.is_some() {
            let base = self.words.len();
            let offsets = self
                .offsets
                .get_or_insert_with(|| (0..=self.words.len()).collect());
            let next_offsets = next
                .offsets
                .unwrap_or_else(|| (0..=next.words.len()).collect());
            offsets.extend(next_offsets[1..].iter().map(|o| o + base));
        }
        self.words.extend(next.words);
    }
}

/// Keys of all the batches of one call (phase 1).
pub(super) struct CallKeys<'a> {
    pub(super) rows: usize,
    pub(super) levels: Vec<LevelKeys>,
    /// Missing and invalid values (`rejected` is decided later), sorted by row.
    pub(super) invalid: Vec<Invalid>,
    /// For `Order::Timestamp`: each row's instant, `i64::MAX` where missing.
    pub(super) order_times: Vec<i64>,
    /// The reference values of the call, numbered in order of first appearance.
    pub(super) refs: Vec<&'a str>,
    pub(super) ref_numbers: FxHashMap<&'a str, u32>,
}

/// Tiles of one chunk of geometries: per-row counts, the tile words, and the failures.
pub(super) struct CoverChunk {
    pub(super) counts: Vec<usize>,
    pub(super) keys: Vec<u64>,
    pub(super) bad: Vec<Invalid>,
}

/// A missing or invalid value of row `row` (of the batch, until the call's rows are counted).
fn invalid(row: usize, column: &str, reason: impl Into<String>) -> Invalid {
    Invalid {
        row: row as u64,
        column: column.to_owned(),
        reason: reason.into(),
        rejected: false,
    }
}

impl Fragmenter {
    /// Interns the call's references in the order members are taken, and turns the reference
    /// levels' words from the call's numbers into reference ids.
    pub(super) fn intern_refs(
        &mut self,
        levels: &mut [LevelKeys],
        refs: &[&str],
        rows: usize,
        order: Option<&[usize]>,
        skip: Option<&[bool]>,
    ) {
        let ref_levels: Vec<usize> = (self.view.fragmentations.iter().enumerate())
            .filter(|(_, f)| matches!(f, Fragmentation::Reference { .. }))
            .map(|(l, _)| l)
            .collect();
        // Call number → reference id; the values of rejected members are never interned.
        let mut ids = vec![u32::MAX; refs.len()];
        for pos in 0..rows {
            let row = order.map_or(pos, |o| o[pos]);
            if skip.is_some_and(|s| s[row]) {
                continue;
            }
            for &l in &ref_levels {
                for &w in levels[l].row(row) {
                    let number = ref_id(w) as usize;
                    if w != UNKNOWN && ids[number] == u32::MAX {
                        ids[number] = self.intern(refs[number]);
                    }
                }
            }
        }
        for &l in &ref_levels {
            for w in &mut levels[l].words {
                if *w != UNKNOWN {
                    *w = ref_word(ids[ref_id(*w) as usize]);
                }
            }
        }
    }

    /// Reads one batch into the call's keys (phase 1).
    pub(super) fn batch_keys<'a>(
        &self,
        batch: &'a RecordBatch,
        call: &mut CallKeys<'a>,
    ) -> Result<(), Error> {
        let n = batch.num_rows();
        let mut bad: Vec<Invalid> = Vec::new();
        let ids = columns::column(batch, "id", "to identify members")?;
        Ids::try_new("id", ids.as_ref())?;
        if let Some(nulls) = ids.nulls().filter(|n| n.null_count() > 0) {
            bad.extend(
                (0..n)
                    .filter(|&i| nulls.is_null(i))
                    .map(|i| invalid(i, "id", "missing member id")),
            );
        }
        let by_time = self.view.order == Order::Timestamp;
        let mut order_times = None;
        for (l, f) in self.view.fragmentations.iter().enumerate() {
            let keys = match f {
                Fragmentation::Geospatial {
                    max_zoom, column, ..
                } => self.geo_keys(batch, column, *max_zoom, &mut bad)?,
                Fragmentation::HierarchicalTime {
                    max_granularity,
                    column,
                    ..
                } => {
                    let zone = self.zones[l].as_ref().expect("time levels have a zone");
                    let (times, nulls) = read_times(batch, column, zone, &mut bad)?;
                    let words = time_words(&times, nulls.as_ref(), *max_granularity, zone);
                    if by_time && order_times.is_none() {
                        order_times = Some(instants_or_max(&times, nulls.as_ref()));
                    }
                    LevelKeys::one(words)
                }
                Fragmentation::Reference { column, .. } => ref_keys(batch, column, &mut bad, call)?,
            };
            call.levels[l].append(keys);
        }
        if by_time {
            let times = match order_times {
                Some(t) => t,
                None => {
                    // No time level: zone-less values are read as UTC.
                    let column = self.view.timestamp_column();
                    let (t, nulls) = read_times(batch, column, &Zone::utc(), &mut Vec::new())?;
                    instants_or_max(&t, nulls.as_ref())
                }
            };
            call.order_times.extend(times);
        }
        // One reason per row and column is enough; keep them in row order.
        bad.sort_by_key(|i| i.row);
        let base = call.rows as u64;
        call.invalid.extend(bad.into_iter().map(|i| Invalid {
            row: base + i.row,
            ..i
        }));
        call.rows += n;
        Ok(())
    }

    pub(super) fn geo_keys(
        &self,
        batch: &RecordBatch,
        column: &str,
        zoom: u8,
        bad: &mut Vec<Invalid>,
    ) -> Result<LevelKeys, Error> {
        let n = batch.num_rows();
        if batch.column_by_name(column).is_none() {
            if let (Some(lon), Some(lat)) =
                (batch.column_by_name("lon"), batch.column_by_name("lat"))
            {
                let (lon, lon_nulls) = columns::floats("lon", lon.as_ref())?;
                let (lat, lat_nulls) = columns::floats("lat", lat.as_ref())?;
                let nulls = NullBuffer::union(lon_nulls.as_ref(), lat_nulls.as_ref());
                let mut words = point_keys(&lon, &lat, nulls, zoom, bad);
                if self.max_tiles == 0 {
                    // No tile allowed: a point covers one, as in `cover`.
                    let reason = cover::CoverError::TooManyTiles(0).to_string();
                    for (i, w) in words.iter_mut().enumerate() {
                        if *w != UNKNOWN {
                            *w = UNKNOWN;
                            bad.push(invalid(i, "lon/lat", reason.as_str()));
                        }
                    }
                }
                return Ok(LevelKeys::one(words));
            }
        }
        let col = columns::column(
            batch,
            column,
            "for the geospatial fragmentation (or give lon and lat columns)",
        )?;
        let wkts = StringsPerRow::try_new(col.as_ref()).ok_or_else(|| {
            columns::type_error(column, col.as_ref(), "WKT strings or a list of WKT strings")
        })?;
        // Covers are the expensive part: chunks in parallel, then stitched in row order.
        const CHUNK: usize = 4096;
        let max_tiles = self.max_tiles;
        let parts: Vec<CoverChunk> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let (lo, hi) = (c * CHUNK, ((c + 1) * CHUNK).min(n));
                let mut counts = Vec::with_capacity(hi - lo);
                let mut keys = Vec::new();
                let mut failed = Vec::new();
                let mut strs = Vec::new();
                let mut tiles = Vec::new();
                for i in lo..hi {
                    let before = keys.len();
                    match wkts.row(i, &mut strs) {
                        None => failed.push(invalid(i, column, "missing geometry")),
                        Some(()) if strs.is_empty() => {
                            failed.push(invalid(i, column, "missing geometry"))
                        }
                        Some(()) => {
                            let mut last_err = None;
                            for w in &strs {
                                match cover::cover_wkt(w, zoom, max_tiles, &mut tiles) {
                                    Ok(()) => keys
                                        .extend(tiles.iter().map(|&(x, y)| TileXY { x, y }.word())),
                                    Err(e) => last_err = Some(e.to_string()),
                                }
                            }
                            if strs.len() > 1 {
                                // A union over several geometries: sorted (y, x), no duplicates.
                                keys[before..].sort_unstable();
                                let mut v = keys.split_off(before);
                                v.dedup();
                                keys.extend(v);
                            }
                            if keys.len() == before {
                                let reason =
                                    last_err.unwrap_or_else(|| "geometry covers no tile".into());
                                failed.push(invalid(i, column, reason));
                            }
                        }
                    }
                    if keys.len() == before {
                        keys.push(UNKNOWN);
                    }
                    counts.push(keys.len() - before);
                }
                CoverChunk {
                    counts,
                    keys,
                    bad: failed,
                }
            })
            .collect();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        let mut keys = Vec::new();
        for part in parts {
            let mut end = keys.len();
            for c in part.counts {
                end += c;
                offsets.push(end);
            }
            keys.extend(part.keys);
            bad.extend(part.bad);
        }
        Ok(LevelKeys {
            words: keys,
            offsets: Some(offsets),
        })
    }
}

/// The processing order of `Order::Timestamp`: rows by (timestamp, id), members without a time
/// last; stable, so equal (timestamp, id) keep arrival order.
pub(super) fn timestamp_order(batches: &[RecordBatch], times: &[i64]) -> Result<Vec<usize>, Error> {
    let ids = batches
        .iter()
        .map(|b| {
            let col = columns::column(b, "id", "to identify members")?;
            Ids::try_new("id", col.as_ref())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut starts = Vec::with_capacity(batches.len());
    let mut start = 0;
    for b in batches {
        starts.push(start);
        start += b.num_rows();
    }
    // The batch of a row and its index there (row 0 is in the first batch: no underflow).
    let locate = |row: usize| {
        let b = starts.partition_point(|&s| s <= row) - 1;
        (b, row - starts[b])
    };
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.par_sort_by(|&a, &b| {
        times[a].cmp(&times[b]).then_with(|| {
            let ((ba, ra), (bb, rb)) = (locate(a), locate(b));
            ids[ba].cmp(ra, &ids[bb], rb)
        })
    });
    Ok(order)
}

/// Instants for ordering: `i64::MAX` (last) where missing.
pub(super) fn instants_or_max(times: &[i64], nulls: Option<&NullBuffer>) -> Vec<i64> {
    match nulls {
        None => times.to_vec(),
        Some(n) => (times.iter().enumerate())
            .map(|(i, &t)| if n.is_valid(i) { t } else { i64::MAX })
            .collect(),
    }
}

/// Reads a time column: Arrow temporal types, or xsd:dateTime / xsd:date strings. Instants in
/// microseconds; meaningless where the nulls say so (missing or invalid: reasons in `bad`).
/// Zone-less values (strings without an offset, Arrow timestamps without a time zone, dates)
/// are wall-clock times in `zone` (docs/semantics.md, "Zone-less timestamps").
pub(super) fn read_times<'a>(
    batch: &'a RecordBatch,
    column: &str,
    zone: &Zone,
    bad: &mut Vec<Invalid>,
) -> Result<(Cow<'a, [i64]>, Option<NullBuffer>), Error> {
    let col = columns::column(
        batch,
        column,
        "for the time fragmentation or timestamp order",
    )?;
    if let Some((mut values, nulls)) = columns::instant_values(col.as_ref()) {
        let wall = matches!(
            col.data_type(),
            DataType::Timestamp(_, None) | DataType::Date32 | DataType::Date64
        );
        if wall && *zone != Zone::utc() {
            values
                .to_mut()
                .par_iter_mut()
                .for_each(|t| *t = zone.utc_of_wall(*t));
        }
        if let Some(n) = nulls.as_ref().filter(|n| n.null_count() > 0) {
            bad.extend(
                (0..n.len())
                    .filter(|&i| n.is_null(i))
                    .map(|i| invalid(i, column, "missing timestamp")),
            );
        }
        return Ok((values, nulls));
    }
    let strings = Strings::try_new(col.as_ref()).ok_or_else(|| {
        columns::type_error(
            column,
            col.as_ref(),
            "a timestamp, date or xsd:dateTime string",
        )
    })?;
    let n = strings.len();
    let naive = xsd::Naive::Local(zone);
    let parsed = xsd::parse_many(n, |i| strings.get(i).map(str::as_bytes), naive);
    let nulls = (parsed.invalid > 0)
        .then(|| NullBuffer::new(BooleanBuffer::new(Buffer::from_vec(parsed.valid), 0, n)));
    // Only the failures are parsed again, to say why.
    for i in (0..n).filter(|&i| nulls.as_ref().is_some_and(|v| v.is_null(i))) {
        let reason = match strings.get(i) {
            None => "missing timestamp".to_owned(),
            Some(s) => xsd::parse_xsd_datetime(s, naive)
                .err()
                .map_or_else(|| "invalid timestamp".to_owned(), |e| e.to_string()),
        };
        bad.push(invalid(i, column, reason));
    }
    let values = parsed.values;
    Ok((Cow::Owned(values), nulls))
}

/// The [`time_word`] of each instant's bucket, `UNKNOWN` where it is missing; chunks in
/// parallel.
pub(super) fn time_words(
    times: &[i64],
    nulls: Option<&NullBuffer>,
    g: Granularity,
    zone: &Zone,
) -> Vec<u64> {
    const ROWS: usize = 1 << 14;
    let lens: Vec<usize> = times.chunks(ROWS).map(<[i64]>::len).collect();
    let nulls = nulls.filter(|n| n.null_count() > 0);
    par_write(&lens, |c, out| {
        let (lo, m) = (c * ROWS, lens[c]);
        match nulls {
            // The common case: no branch per value, the granularity matched once.
            None => {
                timebucket::for_each_key(&times[lo..lo + m], g, zone, |k| out.push(time_word(k)))
            }
            Some(n) => (lo..lo + m).for_each(|i| {
                out.push(if n.is_null(i) {
                    UNKNOWN
                } else {
                    time_word(timebucket::bucket_key(times[i], g, zone))
                })
            }),
        }
    })
}

/// The tile word of each point, `UNKNOWN` (with a reason) where a coordinate is missing or
/// invalid. Chunks in parallel, each through small buffers that stay in cache.
pub(super) fn point_keys(
    lon: &[f64],
    lat: &[f64],
    nulls: Option<NullBuffer>,
    zoom: u8,
    bad: &mut Vec<Invalid>,
) -> Vec<u64> {
    const ROWS: usize = 1 << 14;
    let present = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
    let lens: Vec<usize> = lon.chunks(ROWS).map(<[f64]>::len).collect();
    let any_bad = AtomicBool::new(false);
    let words = par_write(&lens, |c, out| {
        let (lo, m) = (c * ROWS, lens[c]);
        let t = tile::tiles_of_points(&lon[lo..lo + m], &lat[lo..lo + m], zoom);
        if t.invalid == 0 && nulls.is_none() {
            // The common case: no test per point (the loop vectorises).
            out.extend(t.y.iter().zip(&t.x).map(|(&y, &x)| TileXY { x, y }.word()));
            return;
        }
        any_bad.store(true, Relaxed);
        for k in 0..m {
            out.push(if t.is_valid(k) && present(lo + k) {
                TileXY {
                    x: t.x[k],
                    y: t.y[k],
                }
                .word()
            } else {
                UNKNOWN
            });
        }
    });
    if any_bad.load(Relaxed) {
        for (i, _) in words.iter().enumerate().filter(|(_, &w)| w == UNKNOWN) {
            let reason = if !present(i) {
                "missing coordinate".to_owned()
            } else {
                match tile::check_point(lon[i], lat[i]) {
                    Err(e) => e.to_string(),
                    Ok(()) => "invalid coordinate".to_owned(),
                }
            };
            bad.push(invalid(i, "lon/lat", reason));
        }
    }
    words
}

/// Reference values: absolute IRIs (a scheme, no spaces or angle brackets), one or several,
/// numbered in the call's table (duplicates within a row dropped).
pub(super) fn ref_keys<'a>(
    batch: &'a RecordBatch,
    column: &str,
    bad: &mut Vec<Invalid>,
    call: &mut CallKeys<'a>,
) -> Result<LevelKeys, Error> {
    let col = columns::column(batch, column, "for the reference fragmentation")?;
    let refs = StringsPerRow::try_new(col.as_ref()).ok_or_else(|| {
        columns::type_error(column, col.as_ref(), "IRI strings or a list of IRI strings")
    })?;
    let n = batch.num_rows();
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0);
    let mut words = Vec::with_capacity(n);
    let mut strs = Vec::new();
    for i in 0..n {
        let before = words.len();
        match refs.row(i, &mut strs) {
            None => bad.push(invalid(i, column, "missing reference")),
            Some(()) => {
                let mut not_iri = None;
                for &s in &strs {
                    if !is_absolute_iri(s) {
                        not_iri = Some(format!("{s:?} is not an absolute IRI"));
                        continue;
                    }
                    let number = *call.ref_numbers.entry(s).or_insert_with(|| {
                        call.refs.push(s);
                        (call.refs.len() - 1) as u32
                    });
                    if !words[before..].contains(&ref_word(number)) {
                        words.push(ref_word(number));
                    }
                }
                if words.len() == before {
                    let reason = not_iri.unwrap_or_else(|| "missing reference".into());
                    bad.push(invalid(i, column, reason));
                }
            }
        }
        if words.len() == before {
            words.push(UNKNOWN);
        }
        offsets.push(words.len());
    }
    Ok(LevelKeys {
        words,
        offsets: Some(offsets),
    })
}

pub(super) fn is_absolute_iri(s: &str) -> bool {
    let Some(colon) = s.find(':') else {
        return false;
    };
    let scheme = &s[..colon];
    !scheme.is_empty()
        && scheme.as_bytes()[0].is_ascii_alphabetic()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        && !s.bytes().any(|b| b <= b' ' || b"<>\"{}|\\^`".contains(&b))
}
