//! The fragmenter: members in, `(row, leaf bucket, page)` out, plus the bucket tree, its
//! relations and the page state (DESIGN.md §4).
//!
//! A call runs in two phases. The first reads the columns and computes, per member and per
//! fragmentation, integer keys (tiles, time bucket ordinals, interned references) or the reason
//! they are missing; it may fail and then changes nothing. The second, which cannot fail, walks
//! the members in order, finds each leaf bucket through one hash lookup on the composite key,
//! and numbers pages from the leaf's member count. Strings are built only for new buckets and
//! for the output.

use std::fmt::Write as _;

use arrow_array::RecordBatch;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::columns::{self, ColumnError, Ids, Strings, StringsPerRow};
use crate::cover;
use crate::tile::{self, Tile};
use crate::timebucket::{self, Granularity, Zone};
use crate::view::{Fragmentation, Order, View, ViewError};
use crate::vocab::{
    GEO_WKT_LITERAL, TREE_EQUAL, TREE_GEO_CONTAINS, TREE_GTE, TREE_LT, TREE_RELATION_CLASS,
    XSD_ANY_URI, XSD_DATE_TIME,
};
use crate::xsd;

/// The most fragmentations a view may chain.
pub const MAX_LEVELS: usize = 4;
/// Default cap on the tiles of one geometry; larger covers go to `tile=unknown` with a reason.
pub const DEFAULT_MAX_TILES: usize = 100_000;
const STATE_MAGIC: &[u8; 8] = b"LDESFRAG";
const STATE_VERSION: u16 = 1;

/// What to do with a member whose timestamp, geometry or reference is missing or invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInvalid {
    /// Put it in the level's `unknown` bucket and report the reason.
    Unknown,
    /// Leave it out and report the reason.
    Reject,
    /// Fail the whole call (nothing is assigned).
    Raise,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    View(#[from] ViewError),
    #[error(transparent)]
    Column(#[from] ColumnError),
    #[error("row {row}: {reason}")]
    InvalidMember { row: u64, reason: String },
    #[error("invalid state: {0}")]
    State(String),
    #[error("the stream is closed: no member can be added")]
    Closed,
}

/// How a bucket hangs off its tree parent; `level` is the index of its fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Step {
    Root,
    GeoHub,
    Tile { x: u32, y: u32 },
    Time { g: Granularity, key: i64 },
    RefHub,
    Ref { id: u32 },
    Unknown,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Bucket {
    parent: u32,
    level: u8,
    step: Step,
    descriptor: String,
}

/// The fragmentation state of one view. Deterministic: the same members in the same order give
/// the same buckets, pages and relations however they are split into calls.
#[derive(Debug)]
pub struct Fragmenter {
    view: View,
    zones: Vec<Option<Zone>>,
    buckets: Vec<Bucket>,
    /// Members per bucket, beside the buckets for cache density; only leaves hold members.
    counts: Vec<u64>,
    children: FxHashMap<(u32, Step), u32>,
    leaves: FxHashMap<LeafKey, u32>,
    /// The last leaf found: consecutive members often share it (same site, same day).
    last_leaf: Option<(LeafKey, u32)>,
    references: Vec<String>,
    reference_ids: FxHashMap<String, u32>,
    closed: bool,
    max_tiles: usize,
}

/// The composite key of a leaf: one word per fragmentation, zero past the last. Hashed word by
/// word (the derived slice hash goes byte by byte through the hasher).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LeafKey([u64; MAX_LEVELS]);

impl std::hash::Hash for LeafKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for w in self.0 {
            state.write_u64(w);
        }
    }
}

/// One row of a call's output.
#[derive(Debug, Default)]
pub struct Assignments {
    pub rows: Vec<u64>,
    pub buckets: Vec<u32>,
    pub pages: Vec<u32>,
}

/// A member with a missing or invalid value.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub row: u64,
    pub column: String,
    pub reason: String,
    /// False when the member went to an unknown bucket, true when it was left out.
    pub rejected: bool,
}

/// A relation of the TREE structure; `None` pages are the number-less bucket nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub parent: u32,
    pub parent_page: Option<u32>,
    pub child: u32,
    pub child_page: Option<u32>,
    pub kind: &'static str,
    pub path: Option<String>,
    pub value: Option<String>,
    pub datatype: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub bucket: u32,
    pub page: u32,
    pub members: u64,
    pub immutable: bool,
}

const UNKNOWN: u64 = u64::MAX;

/// Per-level keys of one call, computed before anything changes.
enum LevelKeys {
    /// One or more tiles per row (CSR), `y << 32 | x`; empty = unknown.
    Tiles { offsets: Vec<u32>, keys: Vec<u64> },
    /// One time bucket ordinal per row at the level's max granularity.
    Times(Vec<Option<i64>>),
    /// Zero or more reference strings per row (CSR into `values`); empty = unknown.
    Refs {
        offsets: Vec<u32>,
        values: Vec<String>,
    },
}

/// Tiles of one chunk of geometries: per-row counts, the tiles, and (row, reason) failures.
struct CoverChunk {
    counts: Vec<u32>,
    keys: Vec<u64>,
    bad: Vec<(usize, String)>,
}

/// Keys of one record batch, all levels.
struct BatchKeys {
    len: usize,
    levels: Vec<LevelKeys>,
    /// (row in batch, column, reason), sorted by row.
    invalid: Vec<(usize, String, String)>,
    /// For `Order::Timestamp`: the instant of each row.
    order_times: Vec<Option<i64>>,
}

impl Fragmenter {
    pub fn new(view: View) -> Result<Fragmenter, Error> {
        view.validate()?;
        if view.fragmentations.len() > MAX_LEVELS {
            return Err(
                ViewError(format!("a view chains at most {MAX_LEVELS} fragmentations")).into(),
            );
        }
        let zones = view
            .fragmentations
            .iter()
            .map(|f| match f {
                Fragmentation::HierarchicalTime { timezone, .. } => Zone::parse(timezone)
                    .map(Some)
                    .map_err(|e| ViewError(e.to_string())),
                _ => Ok(None),
            })
            .collect::<Result<_, _>>()?;
        let root = Bucket {
            parent: u32::MAX,
            level: 0,
            step: Step::Root,
            descriptor: String::new(),
        };
        Ok(Fragmenter {
            view,
            zones,
            buckets: vec![root],
            counts: vec![0],
            children: FxHashMap::default(),
            leaves: FxHashMap::default(),
            last_leaf: None,
            references: Vec::new(),
            reference_ids: FxHashMap::default(),
            closed: false,
            max_tiles: DEFAULT_MAX_TILES,
        })
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    pub fn set_max_tiles(&mut self, max_tiles: usize) {
        self.max_tiles = max_tiles.max(1);
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Closes the stream: every page becomes immutable and no member can be added.
    pub fn close(&mut self) {
        self.closed = true;
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// The canonical id of a bucket (DESIGN.md §4), the empty string for the root.
    pub fn descriptor(&self, bucket: u32) -> &str {
        &self.buckets[bucket as usize].descriptor
    }

    /// Assigns the members of `batches` (one call: rows are numbered across the batches).
    pub fn assign(
        &mut self,
        batches: &[RecordBatch],
        on_invalid: OnInvalid,
    ) -> Result<(Assignments, Vec<Invalid>), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        // Phase 1: keys, reasons, order. Nothing is changed yet.
        let keys = batches
            .iter()
            .map(|b| self.batch_keys(b))
            .collect::<Result<Vec<_>, _>>()?;
        // The first row of each batch in the call's numbering.
        let mut starts = Vec::with_capacity(keys.len());
        let mut total = 0u64;
        for bk in &keys {
            starts.push(total);
            total += bk.len as u64;
        }
        let mut invalid = Vec::new();
        for (bk, &base) in keys.iter().zip(&starts) {
            for (row, column, reason) in &bk.invalid {
                let row = base + *row as u64;
                if on_invalid == OnInvalid::Raise {
                    return Err(Error::InvalidMember {
                        row,
                        reason: format!("{column}: {reason}"),
                    });
                }
                // A member without an id is never assigned: it could not be published.
                let rejected = on_invalid == OnInvalid::Reject || column == "id";
                invalid.push(Invalid {
                    row,
                    column: column.clone(),
                    reason: reason.clone(),
                    rejected,
                });
            }
        }
        let mut order: Vec<(usize, usize)> = keys
            .iter()
            .enumerate()
            .flat_map(|(b, bk)| (0..bk.len).map(move |r| (b, r)))
            .collect();
        if self.view.order == Order::Timestamp {
            let ids = batches
                .iter()
                .map(|b| {
                    let col = columns::column(b, "id", "to identify members")?;
                    Ids::try_new("id", col.as_ref())
                })
                .collect::<Result<Vec<_>, _>>()?;
            // Stable: equal (timestamp, id) keep arrival order. Members without a time go last.
            order.sort_by(|&(b1, r1), &(b2, r2)| {
                let t1 = keys[b1].order_times[r1].unwrap_or(i64::MAX);
                let t2 = keys[b2].order_times[r2].unwrap_or(i64::MAX);
                t1.cmp(&t2).then_with(|| ids[b1].cmp(r1, &ids[b2], r2))
            });
        }

        // Phase 2: buckets and pages.
        let mut skip = vec![false; total as usize];
        for inv in &invalid {
            if inv.rejected {
                skip[inv.row as usize] = true;
            }
        }
        let mut out = Assignments::default();
        out.rows.reserve(total as usize);
        let n_levels = self.view.fragmentations.len();
        let mut composite = LeafKey([0; MAX_LEVELS]);
        let mut choices: Vec<Vec<u64>> = vec![Vec::new(); n_levels];
        for (b, r) in order {
            let row = starts[b] + r as u64;
            if skip[row as usize] {
                continue;
            }
            let bk = &keys[b];
            for (l, lk) in bk.levels.iter().enumerate() {
                let c = &mut choices[l];
                c.clear();
                match lk {
                    LevelKeys::Tiles { offsets, keys } => {
                        let (s, e) = (offsets[r] as usize, offsets[r + 1] as usize);
                        if s == e {
                            c.push(UNKNOWN);
                        } else {
                            c.extend_from_slice(&keys[s..e]);
                        }
                    }
                    LevelKeys::Times(t) => c.push(t[r].map_or(UNKNOWN, |k| k as u64)),
                    LevelKeys::Refs { offsets, values } => {
                        let (s, e) = (offsets[r] as usize, offsets[r + 1] as usize);
                        if s == e {
                            c.push(UNKNOWN);
                        }
                        for v in &values[s..e] {
                            let id = self.intern(v);
                            if !c.contains(&(id as u64)) {
                                c.push(id as u64);
                            }
                        }
                    }
                }
            }
            // Every combination of the levels' keys (an odometer); one for most members.
            let mut idx = [0usize; MAX_LEVELS];
            'combos: loop {
                for (l, c) in choices.iter().enumerate() {
                    composite.0[l] = c[idx[l]];
                }
                self.place(row, &composite, &mut out);
                for l in (0..n_levels).rev() {
                    idx[l] += 1;
                    if idx[l] < choices[l].len() {
                        continue 'combos;
                    }
                    idx[l] = 0;
                }
                break;
            }
        }
        Ok((out, invalid))
    }

    #[inline]
    fn place(&mut self, row: u64, composite: &LeafKey, out: &mut Assignments) {
        let leaf = match self.last_leaf {
            Some((k, l)) if k == *composite => l,
            _ => {
                let l = match self.leaves.get(composite) {
                    Some(&l) => l,
                    None => {
                        let l = self.walk(&composite.0);
                        self.leaves.insert(*composite, l);
                        l
                    }
                };
                self.last_leaf = Some((*composite, l));
                l
            }
        };
        let count = &mut self.counts[leaf as usize];
        let page = *count / self.view.page_size as u64 + 1;
        *count += 1;
        out.rows.push(row);
        out.buckets.push(leaf);
        out.pages
            .push(u32::try_from(page).expect("fewer than 2^32 pages in a bucket"));
    }

    fn intern(&mut self, value: &str) -> u32 {
        if let Some(&id) = self.reference_ids.get(value) {
            return id;
        }
        let id = self.references.len() as u32;
        self.references.push(value.to_owned());
        self.reference_ids.insert(value.to_owned(), id);
        id
    }

    /// Finds or creates the leaf of a composite key, level by level.
    fn walk(&mut self, composite: &[u64; MAX_LEVELS]) -> u32 {
        let mut b = 0u32;
        let n_levels = self.view.fragmentations.len();
        for (l, &k) in composite.iter().enumerate().take(n_levels) {
            let level = l as u8;
            if k == UNKNOWN {
                b = self.child(b, level, Step::Unknown, b);
                continue;
            }
            match &self.view.fragmentations[l] {
                Fragmentation::Geospatial { .. } => {
                    let hub = self.child(b, level, Step::GeoHub, b);
                    let step = Step::Tile {
                        x: k as u32,
                        y: (k >> 32) as u32,
                    };
                    b = self.child(hub, level, step, b);
                }
                Fragmentation::HierarchicalTime {
                    max_granularity, ..
                } => {
                    let max = *max_granularity;
                    for g in max.levels() {
                        let key = timebucket::coarsen(k as i64, max, g);
                        b = self.child(b, level, Step::Time { g, key }, b);
                    }
                }
                Fragmentation::Reference { .. } => {
                    let hub = self.child(b, level, Step::RefHub, b);
                    b = self.child(hub, level, Step::Ref { id: k as u32 }, b);
                }
            }
        }
        b
    }

    /// The child of `parent` reached by `step`, created if new. Its descriptor extends that of
    /// `base` (the parent itself, or for tiles and references the bucket above their hub).
    fn child(&mut self, parent: u32, level: u8, step: Step, base: u32) -> u32 {
        if let Some(&c) = self.children.get(&(parent, step)) {
            return c;
        }
        let mut descriptor = self.buckets[base as usize].descriptor.clone();
        if !descriptor.is_empty() {
            descriptor.push('&');
        }
        self.write_pair(&mut descriptor, level, step);
        let id = self.buckets.len() as u32;
        self.buckets.push(Bucket {
            parent,
            level,
            step,
            descriptor,
        });
        self.counts.push(0);
        self.children.insert((parent, step), id);
        id
    }

    fn level_key(&self, level: u8) -> &str {
        match &self.view.fragmentations[level as usize] {
            Fragmentation::Geospatial { .. } => "tile",
            Fragmentation::HierarchicalTime { .. } => "year",
            Fragmentation::Reference { key, .. } => key,
        }
    }

    fn zoom(&self, level: u8) -> u8 {
        match &self.view.fragmentations[level as usize] {
            Fragmentation::Geospatial { max_zoom, .. } => *max_zoom,
            _ => 0,
        }
    }

    fn write_pair(&self, s: &mut String, level: u8, step: Step) {
        let key = self.level_key(level);
        match step {
            Step::Root => {}
            Step::Unknown => {
                let _ = write!(s, "{key}=unknown");
            }
            Step::GeoHub => s.push_str("tile=0/0/0"),
            Step::Tile { x, y } => {
                let _ = write!(s, "tile={}/{x}/{y}", self.zoom(level));
            }
            Step::Time { g, key } => {
                let _ = write!(s, "{}={}", g.key(), timebucket::key_label(key, g));
            }
            Step::RefHub => {
                let _ = write!(s, "{key}=");
            }
            Step::Ref { id } => {
                let _ = write!(s, "{key}=");
                percent_encode_value(s, &self.references[id as usize]);
            }
        }
    }

    /// Reads one batch into keys (phase 1).
    fn batch_keys(&self, batch: &RecordBatch) -> Result<BatchKeys, Error> {
        let n = batch.num_rows();
        let mut invalid: Vec<(usize, String, String)> = Vec::new();
        let ids = Ids::try_new(
            "id",
            columns::column(batch, "id", "to identify members")?.as_ref(),
        )?;
        for i in 0..n {
            if !ids.is_valid(i) {
                invalid.push((i, "id".into(), "missing member id".into()));
            }
        }
        let mut levels = Vec::with_capacity(self.view.fragmentations.len());
        let mut order_times = Vec::new();
        for (l, f) in self.view.fragmentations.iter().enumerate() {
            match f {
                Fragmentation::Geospatial {
                    max_zoom, column, ..
                } => {
                    levels.push(self.geo_keys(batch, column, *max_zoom, &mut invalid)?);
                }
                Fragmentation::HierarchicalTime {
                    max_granularity,
                    column,
                    ..
                } => {
                    let zone = self.zones[l].as_ref().expect("time levels have a zone");
                    let times = read_times(batch, column, &mut invalid)?;
                    let keys = times
                        .par_iter()
                        .map(|t| t.map(|us| timebucket::bucket_key(us, *max_granularity, zone)))
                        .collect();
                    if order_times.is_empty() {
                        order_times = times;
                    }
                    levels.push(LevelKeys::Times(keys));
                }
                Fragmentation::Reference { column, .. } => {
                    levels.push(ref_keys(batch, column, &mut invalid)?);
                }
            }
        }
        if self.view.order == Order::Timestamp && order_times.is_empty() {
            let mut ignored = Vec::new();
            order_times = read_times(batch, self.view.timestamp_column(), &mut ignored)?;
        }
        // One reason per row and column is enough; keep them in row order.
        invalid.sort_by_key(|(row, _, _)| *row);
        Ok(BatchKeys {
            len: n,
            levels,
            invalid,
            order_times,
        })
    }

    fn geo_keys(
        &self,
        batch: &RecordBatch,
        column: &str,
        zoom: u8,
        invalid: &mut Vec<(usize, String, String)>,
    ) -> Result<LevelKeys, Error> {
        let n = batch.num_rows();
        let tile_key = |x: u32, y: u32| (y as u64) << 32 | x as u64;
        if batch.column_by_name(column).is_none()
            && batch.column_by_name("lon").is_some()
            && batch.column_by_name("lat").is_some()
        {
            let (lon, lon_nulls) = columns::floats(
                "lon",
                batch.column_by_name("lon").expect("checked").as_ref(),
            )?;
            let (lat, lat_nulls) = columns::floats(
                "lat",
                batch.column_by_name("lat").expect("checked").as_ref(),
            )?;
            let present =
                |n: &Option<arrow_buffer::NullBuffer>, i| n.as_ref().is_none_or(|n| n.is_valid(i));
            let (mut x, mut y, mut ok) = (vec![0u32; n], vec![0u32; n], vec![false; n]);
            tile::tiles_for_points(&lon, &lat, zoom, &mut x, &mut y, &mut ok);
            let mut offsets = Vec::with_capacity(n + 1);
            let mut keys = Vec::with_capacity(n);
            offsets.push(0u32);
            for i in 0..n {
                if !(present(&lon_nulls, i) && present(&lat_nulls, i)) {
                    invalid.push((i, "lon/lat".into(), "missing coordinate".into()));
                } else if !ok[i] {
                    let reason = match tile::check_point(lon[i], lat[i]) {
                        Err(e) => e.to_string(),
                        Ok(()) => "invalid coordinate".into(),
                    };
                    invalid.push((i, "lon/lat".into(), reason));
                } else {
                    keys.push(tile_key(x[i], y[i]));
                }
                offsets.push(keys.len() as u32);
            }
            return Ok(LevelKeys::Tiles { offsets, keys });
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
                let mut bad = Vec::new();
                let mut strs = Vec::new();
                let mut tiles = Vec::new();
                for i in lo..hi {
                    let before = keys.len();
                    match wkts.row(i, &mut strs) {
                        None => bad.push((i, "missing geometry".to_owned())),
                        Some(()) if strs.is_empty() => bad.push((i, "missing geometry".to_owned())),
                        Some(()) => {
                            let mut last_err = None;
                            for w in &strs {
                                match cover::cover_wkt(w, zoom, max_tiles, &mut tiles) {
                                    Ok(()) => {
                                        keys.extend(tiles.iter().map(|&(x, y)| tile_key(x, y)))
                                    }
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
                                bad.push((
                                    i,
                                    last_err.unwrap_or_else(|| "geometry covers no tile".into()),
                                ));
                            }
                        }
                    }
                    counts.push((keys.len() - before) as u32);
                }
                CoverChunk { counts, keys, bad }
            })
            .collect();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0u32);
        let mut keys = Vec::new();
        for part in parts {
            for c in part.counts {
                let last = *offsets.last().expect("non-empty");
                offsets.push(last + c);
            }
            keys.extend(part.keys);
            invalid.extend(part.bad.into_iter().map(|(i, r)| (i, column.to_owned(), r)));
        }
        Ok(LevelKeys::Tiles { offsets, keys })
    }

    /// All relations of the structure, parents before children, in bucket creation order.
    pub fn relations(&self) -> Vec<Relation> {
        let mut out = Vec::new();
        for (id, b) in self.buckets.iter().enumerate().skip(1) {
            let level = &self.view.fragmentations[b.level as usize];
            let rel = |kind, path: Option<&str>, value: Option<String>, datatype| Relation {
                parent: b.parent,
                parent_page: None,
                child: id as u32,
                child_page: None,
                kind,
                path: path.map(str::to_owned),
                value,
                datatype,
            };
            match (b.step, level) {
                (Step::Tile { x, y }, Fragmentation::Geospatial { max_zoom, path, .. }) => {
                    let t = Tile { x, y, z: *max_zoom };
                    out.push(rel(
                        TREE_GEO_CONTAINS,
                        Some(path),
                        Some(tile::tile_bbox_wkt(t)),
                        Some(GEO_WKT_LITERAL),
                    ));
                }
                (Step::Time { g, key }, Fragmentation::HierarchicalTime { path, .. }) => {
                    let zone = self.zones[b.level as usize]
                        .as_ref()
                        .expect("time levels have a zone");
                    let (start, end) = timebucket::key_bounds(key, g, zone);
                    out.push(rel(
                        TREE_GTE,
                        Some(path),
                        Some(timebucket::format_utc(start)),
                        Some(XSD_DATE_TIME),
                    ));
                    out.push(rel(
                        TREE_LT,
                        Some(path),
                        Some(timebucket::format_utc(end)),
                        Some(XSD_DATE_TIME),
                    ));
                }
                (Step::Ref { id: r }, Fragmentation::Reference { path, .. }) => {
                    out.push(rel(
                        TREE_EQUAL,
                        Some(path),
                        Some(self.references[r as usize].clone()),
                        Some(XSD_ANY_URI),
                    ));
                }
                _ => out.push(rel(TREE_RELATION_CLASS, None, None, None)),
            }
        }
        // The page chain of every leaf: bucket → page 1 → page 2 → …
        for (id, b) in self.leaf_buckets() {
            let last = self.last_page(b);
            for p in 0..last {
                out.push(Relation {
                    parent: id,
                    parent_page: (p > 0).then_some(p),
                    child: id,
                    child_page: Some(p + 1),
                    kind: TREE_RELATION_CLASS,
                    path: None,
                    value: None,
                    datatype: None,
                });
            }
        }
        out
    }

    /// Buckets holding members, with their member counts.
    fn leaf_buckets(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| (i as u32, n))
    }

    fn last_page(&self, members: u64) -> u32 {
        members.div_ceil(self.view.page_size as u64) as u32
    }

    /// Every page of every leaf bucket with its member count and whether it is immutable: full
    /// and followed by a later page, or the stream is closed.
    pub fn pages(&self) -> Vec<Page> {
        let size = self.view.page_size as u64;
        let mut out = Vec::new();
        for (id, n) in self.leaf_buckets() {
            let last = self.last_page(n);
            for p in 1..=last {
                let members = if p < last {
                    size
                } else {
                    n - (last as u64 - 1) * size
                };
                out.push(Page {
                    bucket: id,
                    page: p,
                    members,
                    immutable: p < last || self.closed,
                });
            }
        }
        out
    }

    /// The state as bytes: enough to continue exactly where this fragmenter stands.
    pub fn state(&self) -> Vec<u8> {
        let saved = Saved {
            view: self.view.to_json(),
            buckets: self.buckets.clone(),
            counts: self.counts.clone(),
            references: self.references.clone(),
            closed: self.closed,
            max_tiles: self.max_tiles as u64,
        };
        let mut out = STATE_MAGIC.to_vec();
        out.extend_from_slice(&STATE_VERSION.to_le_bytes());
        out.extend(postcard::to_stdvec(&saved).expect("the state always serialises"));
        out
    }

    /// Restores a fragmenter; the state must come from the same view.
    pub fn from_state(view: View, state: &[u8]) -> Result<Fragmenter, Error> {
        let bad = |m: &str| Error::State(m.to_owned());
        if state.len() < 10 || &state[..8] != STATE_MAGIC {
            return Err(bad("not an ldesfrag state (bad magic)"));
        }
        let version = u16::from_le_bytes([state[8], state[9]]);
        if version != STATE_VERSION {
            return Err(Error::State(format!(
                "state version {version}, this ldesfrag reads {STATE_VERSION}"
            )));
        }
        let saved: Saved = postcard::from_bytes(&state[10..])
            .map_err(|e| Error::State(format!("corrupt state: {e}")))?;
        let saved_view = View::from_json(&saved.view)
            .map_err(|e| Error::State(format!("corrupt state: {e}")))?;
        if saved_view != view {
            return Err(Error::State(format!(
                "the state was made by another view: {}",
                saved.view
            )));
        }
        let mut f = Fragmenter::new(view)?;
        f.closed = saved.closed;
        f.max_tiles = (saved.max_tiles as usize).max(1);
        f.references = saved.references;
        f.reference_ids = f
            .references
            .iter()
            .enumerate()
            .map(|(i, r)| (r.clone(), i as u32))
            .collect();
        if f.reference_ids.len() != f.references.len() {
            return Err(bad("corrupt state: duplicate references"));
        }
        let n_levels = f.view.fragmentations.len();
        // Check the tree so that no later lookup can index out of bounds.
        for (i, b) in saved.buckets.iter().enumerate() {
            let root_ok = i == 0 && b.step == Step::Root && b.descriptor.is_empty();
            let child_ok = i > 0
                && (b.parent as usize) < i
                && (b.level as usize) < n_levels
                && b.step != Step::Root;
            let ref_ok = match b.step {
                Step::Ref { id } => (id as usize) < f.references.len(),
                _ => true,
            };
            if !(root_ok || child_ok) || !ref_ok {
                return Err(Error::State(format!("corrupt state: bucket {i}")));
            }
            if i > 0 && f.children.insert((b.parent, b.step), i as u32).is_some() {
                return Err(Error::State(format!("corrupt state: bucket {i} repeats")));
            }
        }
        if saved.counts.len() != saved.buckets.len() {
            return Err(bad("corrupt state: bucket counts"));
        }
        f.buckets = saved.buckets;
        f.counts = saved.counts;
        Ok(f)
    }
}

#[derive(Serialize, Deserialize)]
struct Saved {
    view: String,
    buckets: Vec<Bucket>,
    counts: Vec<u64>,
    references: Vec<String>,
    closed: bool,
    max_tiles: u64,
}

/// Reads a time column: Arrow temporal types, or xsd:dateTime / xsd:date strings.
fn read_times(
    batch: &RecordBatch,
    column: &str,
    invalid: &mut Vec<(usize, String, String)>,
) -> Result<Vec<Option<i64>>, Error> {
    let col = columns::column(
        batch,
        column,
        "for the time fragmentation or timestamp order",
    )?;
    if let Some(t) = columns::instants(col.as_ref()) {
        for (i, v) in t.iter().enumerate() {
            if v.is_none() {
                invalid.push((i, column.to_owned(), "missing timestamp".into()));
            }
        }
        return Ok(t);
    }
    let strings = Strings::try_new(col.as_ref()).ok_or_else(|| {
        columns::type_error(
            column,
            col.as_ref(),
            "a timestamp, date or xsd:dateTime string",
        )
    })?;
    let (values, valid) = columns::par_map_i64(strings.len(), |i| {
        strings
            .get(i)
            .and_then(|s| xsd::parse_xsd_datetime(s, xsd::Naive::Utc).ok())
    });
    // Only the failures are parsed again, to say why.
    Ok(values
        .into_iter()
        .zip(valid)
        .enumerate()
        .map(|(i, (us, ok))| {
            if !ok {
                let reason = match strings.get(i) {
                    None => "missing timestamp".to_owned(),
                    Some(s) => xsd::parse_xsd_datetime(s, xsd::Naive::Utc)
                        .err()
                        .map_or_else(|| "invalid timestamp".to_owned(), |e| e.to_string()),
                };
                invalid.push((i, column.to_owned(), reason));
            }
            ok.then_some(us)
        })
        .collect())
}

/// Reference values: absolute IRIs (a scheme, no spaces or angle brackets), one or several.
fn ref_keys(
    batch: &RecordBatch,
    column: &str,
    invalid: &mut Vec<(usize, String, String)>,
) -> Result<LevelKeys, Error> {
    let col = columns::column(batch, column, "for the reference fragmentation")?;
    let refs = StringsPerRow::try_new(col.as_ref()).ok_or_else(|| {
        columns::type_error(column, col.as_ref(), "IRI strings or a list of IRI strings")
    })?;
    let mut offsets = vec![0u32];
    let mut values = Vec::new();
    let mut strs = Vec::new();
    for i in 0..batch.num_rows() {
        match refs.row(i, &mut strs) {
            None => invalid.push((i, column.to_owned(), "missing reference".into())),
            Some(()) => {
                let before = values.len();
                let mut bad = None;
                for s in &strs {
                    if is_absolute_iri(s) {
                        values.push((*s).to_owned());
                    } else {
                        bad = Some(format!("{s:?} is not an absolute IRI"));
                    }
                }
                if values.len() == before {
                    invalid.push((
                        i,
                        column.to_owned(),
                        bad.unwrap_or_else(|| "missing reference".into()),
                    ));
                }
            }
        }
        offsets.push(values.len() as u32);
    }
    Ok(LevelKeys::Refs { offsets, values })
}

fn is_absolute_iri(s: &str) -> bool {
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

/// Percent-encodes a bucket value so that the descriptor stays one unambiguous query string:
/// everything but unreserved characters and the sub-delimiters that are safe in a query value.
pub fn percent_encode_value(out: &mut String, value: &str) {
    for &b in value.as_bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~/:@!$'()*,;?".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray};
    use std::sync::Arc;

    fn view(json: &str) -> View {
        View::from_json(json).expect("valid view")
    }

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols).expect("batch")
    }

    fn members(n: usize) -> RecordBatch {
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

    const GEO_DAY: &str = r#"{"fragmentations":[{"type":"Geospatial","max_zoom":12},{"type":"HierarchicalTime","max_granularity":"day"}],"page_size":3}"#;

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

    #[test]
    fn percent_encoding_keeps_iris_readable() {
        let mut s = String::new();
        percent_encode_value(&mut s, "http://ex.org/a?b=c&d#e f");
        assert_eq!(s, "http://ex.org/a?b%3Dc%26d%23e%20f");
        assert!(is_absolute_iri("http://ex.org/x"));
        assert!(!is_absolute_iri("unknown"));
        assert!(!is_absolute_iri("http://ex.org/a b"));
    }
}
