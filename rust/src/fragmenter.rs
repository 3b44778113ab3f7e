//! The fragmenter: members in, `(row, leaf bucket, page)` out, plus the bucket tree, its
//! relations and the page state (docs/semantics.md).
//!
//! A call runs in phases. The first reads the columns and computes on the rayon pool, per
//! member and per fragmentation, integer keys (tiles, time bucket ordinals, later interned
//! references) or the reason they are missing; it may fail and then changes nothing. Then
//! chunks of members, in parallel, map their composite leaf keys to chunk-local numbers and
//! look up the leaves that already exist; hash partitions of the other keys, in parallel, find
//! each one's first appearance; one sequential pass creates a leaf bucket at each first
//! appearance (in that order: under a parent met before, from the parent's id and one pair)
//! and reserves every key's page slots; and each chunk, as soon as that pass is past it,
//! writes each member's row, leaf and page, in parallel with the pass, the other chunks and
//! the new leaves' entry into the leaf map. The result depends neither on the chunking nor on
//! the partitioning. Bucket ids (strings) are written once per
//! new bucket, without `fmt`, into one arena, and copied into the output only at the edge
//! ([`Fragmenter::bucket_columns`]).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::mem::MaybeUninit;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32};

use arrow_array::{Array, RecordBatch, StringArray};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType;
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

#[derive(Debug, Clone, Copy)]
struct Bucket {
    parent: u32,
    level: u8,
    step: Step,
}

/// The fragmentation state of one view. Deterministic: the same members in the same order give
/// the same buckets, pages and relations however they are split into calls.
#[derive(Debug)]
pub struct Fragmenter {
    view: View,
    zones: Vec<Option<Zone>>,
    buckets: Vec<Bucket>,
    /// Every bucket's id, concatenated: bucket `b`'s is `ids[id_offsets[b]..id_offsets[b + 1]]`.
    ids: String,
    id_offsets: Vec<usize>,
    /// Members per bucket, beside the buckets for cache density; only leaves hold members.
    counts: Vec<u64>,
    children: FxHashMap<(u32, Step), u32>,
    leaves: FxHashMap<LeafKey, u32>,
    references: Vec<String>,
    reference_ids: FxHashMap<String, u32>,
    closed: bool,
    max_tiles: usize,
    /// A new bucket's id is written here first (its parent's id is in the arena).
    scratch: String,
    /// The parent of the leaves below one up key (a leaf key with the last level's word
    /// replaced by what the leaf's parent depends on: the time word one granularity up, 0, or
    /// `UNKNOWN` for the unknown leaf, which no other up word is), and where in `ids` the id
    /// is that theirs extend (the parent's, or a hub's parent's; kept here, since on sparse
    /// data a read of `id_offsets` misses the cache): a new leaf under a known parent is made
    /// without the walk from the root.
    parents: FxHashMap<LeafKey, (u32, usize, usize)>,
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

/// Where a fragmenter stood ([`Fragmenter::mark`]); the default is before anything, so that
/// the changes since it include the root.
#[derive(Debug, Clone, Default)]
pub struct Mark {
    buckets: usize,
    counts: Vec<u64>,
    closed: bool,
}

/// A node of the structure: a page, or (`page` `None`) a bucket's own node, which holds no
/// members and is never immutable.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub bucket: u32,
    pub page: Option<u32>,
    pub members: u64,
    pub immutable: bool,
}

/// What changed since a [`Mark`]: the nodes to render again and every relation from them.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    pub nodes: Vec<Node>,
    pub relations: Vec<Relation>,
}

/// The word of a missing or invalid value, at every level.
const UNKNOWN: u64 = u64::MAX;
const SIGN: u64 = 1 << 63;

/// A time bucket ordinal as a key word: order kept, and `UNKNOWN` would be `i64::MAX`, which no
/// instant reaches at any granularity (a plain cast made day -1, 1969-12-31, unknown).
#[inline]
fn time_word(key: i64) -> u64 {
    key as u64 ^ SIGN
}

#[inline]
fn time_key(word: u64) -> i64 {
    (word ^ SIGN) as i64
}

/// The keys of one level for every member of a call: one or more words per row, `UNKNOWN` for
/// a missing or invalid value. Tiles are `y << 32 | x`, times [`time_word`]s, references the
/// call's numbers (interned once the call cannot fail).
#[derive(Default)]
struct LevelKeys {
    words: Vec<u64>,
    /// Row `r`'s words are `words[offsets[r]..offsets[r + 1]]`; `None`: one word per row.
    offsets: Option<Vec<usize>>,
}

impl LevelKeys {
    fn one(words: Vec<u64>) -> LevelKeys {
        LevelKeys {
            words,
            offsets: None,
        }
    }

    #[inline]
    fn row(&self, r: usize) -> &[u64] {
        match &self.offsets {
            None => std::slice::from_ref(&self.words[r]),
            Some(o) => &self.words[o[r]..o[r + 1]],
        }
    }

    /// Appends the next batch's keys (for most calls, the first and only batch).
    fn append(&mut self, next: LevelKeys) {
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
struct CallKeys<'a> {
    rows: usize,
    levels: Vec<LevelKeys>,
    /// (row, column, reason), sorted by row.
    invalid: Vec<(u64, String, String)>,
    /// For `Order::Timestamp`: each row's instant, `i64::MAX` where missing.
    order_times: Vec<i64>,
    /// The reference values of the call, numbered in order of first appearance.
    refs: Vec<&'a str>,
    ref_numbers: FxHashMap<&'a str, u32>,
}

/// The leaf keys of one chunk of members, numbered in order of first appearance (phase 2).
struct Chunk {
    /// First position (in processing order) of the chunk.
    start: usize,
    keys: Vec<LeafKey>,
    /// Entries per key.
    counts: Vec<u64>,
    /// Per key, its leaf if it existed before the call, else [`NEW`].
    known: Vec<u32>,
    /// Per key, filled by the sequential pass: its leaf and the slot of its first entry.
    slots: Vec<Slot>,
    /// Per entry (member × leaf), in order: the key's number.
    local: Vec<u32>,
    /// Per entry: the row; `None` when every position gives one entry (one word per level, no
    /// member left out), so that the rows follow from the order.
    rows: Option<Vec<u64>>,
}

impl Chunk {
    /// A chunk whose keys are numbered; the sequential pass fills `known` and `slots`.
    fn numbered(
        start: usize,
        (keys, counts): (Vec<LeafKey>, Vec<u64>),
        local: Vec<u32>,
        rows: Option<Vec<u64>>,
    ) -> Chunk {
        Chunk {
            start,
            keys,
            counts,
            known: Vec::new(),
            slots: Vec::new(),
            local,
            rows,
        }
    }
}

/// A chunk key without a leaf before the call.
const NEW: u32 = u32::MAX;

/// Where the next member of a leaf goes: its page, and the room left on it.
#[derive(Debug, Clone, Copy)]
struct Slot {
    leaf: u32,
    room: u32,
    page: u64,
}

/// Tiles of one chunk of geometries: per-row counts, the tiles, and (row, reason) failures.
struct CoverChunk {
    counts: Vec<usize>,
    keys: Vec<u64>,
    bad: Vec<(usize, String)>,
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
        };
        Ok(Fragmenter {
            view,
            zones,
            buckets: vec![root],
            ids: String::new(),
            id_offsets: vec![0, 0],
            counts: vec![0],
            children: FxHashMap::default(),
            leaves: FxHashMap::default(),
            references: Vec::new(),
            reference_ids: FxHashMap::default(),
            closed: false,
            max_tiles: DEFAULT_MAX_TILES,
            scratch: String::new(),
            parents: FxHashMap::default(),
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

    /// The canonical id of a bucket (docs/semantics.md, "Bucket ids"); the root's is "".
    pub fn descriptor(&self, bucket: u32) -> &str {
        let b = bucket as usize;
        &self.ids[self.id_offsets[b]..self.id_offsets[b + 1]]
    }

    /// The ids of `buckets` (the `bucket` column of an assignment), as string arrays of at most
    /// `max_rows` rows and fewer than 2^31 bytes each (the reach of Arrow `Utf8` offsets),
    /// built on the rayon pool.
    pub fn bucket_columns(&self, buckets: &[u32], max_rows: usize) -> Vec<StringArray> {
        if buckets.is_empty() {
            return vec![StringArray::from(Vec::<&str>::new())];
        }
        let parts: Vec<Vec<StringArray>> = buckets
            .par_chunks(max_rows.max(1))
            .map(|rows| self.id_arrays(rows))
            .collect();
        parts.into_iter().flatten().collect()
    }

    /// One array of the ids of `buckets`, or two halves (recursively) if that would not fit.
    fn id_arrays(&self, buckets: &[u32]) -> Vec<StringArray> {
        let ends = &self.id_offsets;
        let mut offsets = Vec::with_capacity(buckets.len() + 1);
        offsets.push(0i32);
        let mut end = 0usize;
        for &b in buckets {
            end += ends[b as usize + 1] - ends[b as usize];
            // Wraps only past i32::MAX, and then the offsets are dropped below.
            offsets.push(end as i32);
        }
        if end > i32::MAX as usize {
            assert!(buckets.len() > 1, "a bucket id longer than 2 GiB");
            let (a, b) = buckets.split_at(buckets.len() / 2);
            let mut arrays = self.id_arrays(a);
            arrays.extend(self.id_arrays(b));
            return arrays;
        }
        let mut values: Vec<u8> = Vec::with_capacity(end + WIDE);
        let out = values.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        let ids = (self.ids.as_bytes(), ends.as_slice());
        // SAFETY: the capacity of `values` is the ids' total length (`end`, their offsets'
        // sum) plus `WIDE`.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            if std::arch::is_x86_feature_detected!("avx2") {
                copy_ids_avx2(ids, buckets, &offsets, out)
            } else {
                copy_ids(ids, buckets, &offsets, out)
            }
        }
        // SAFETY: as above.
        #[cfg(not(target_arch = "x86_64"))]
        unsafe {
            copy_ids(ids, buckets, &offsets, out)
        }
        // SAFETY: every byte below `end` belongs to exactly one id, written by that id's copy
        // after any earlier (longer) copy ran over it.
        unsafe { values.set_len(end) };
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        // SAFETY: `values` is whole bucket ids (each a `str` cut from the arena at its
        // offsets) laid end to end, and `offsets` are their ends: valid UTF-8 between any two.
        let array = unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(values), None) };
        vec![array]
    }

    /// Assigns the members of `batches` (one call: rows are numbered across the batches).
    pub fn assign(
        &mut self,
        batches: &[RecordBatch],
        on_invalid: OnInvalid,
    ) -> Result<(Assignments, Vec<Invalid>), Error> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        // A few chunks per thread to balance the load, large enough that a chunk sees most of
        // its leaves more than once.
        let threads = rayon::current_num_threads();
        let chunk = (rows / (4 * threads)).clamp(1 << 12, 1 << 18);
        // New keys found by one task per thread (below that, one task is as quick).
        let parts = if rows < 1 << 14 { 1 } else { threads };
        self.assign_in_chunks(batches, on_invalid, chunk, parts)
    }

    /// [`Fragmenter::assign`] with phases 2 and 3 in chunks of `chunk` members, and the first
    /// appearances of new keys found in `parts` hash partitions.
    fn assign_in_chunks(
        &mut self,
        batches: &[RecordBatch],
        on_invalid: OnInvalid,
        chunk: usize,
        parts: usize,
    ) -> Result<(Assignments, Vec<Invalid>), Error> {
        if self.closed {
            return Err(Error::Closed);
        }
        // Phase 1: keys, reasons, order. Nothing is changed yet.
        let mut call = CallKeys {
            rows: 0,
            levels: (0..self.view.fragmentations.len())
                .map(|_| LevelKeys::default())
                .collect(),
            invalid: Vec::new(),
            order_times: Vec::new(),
            refs: Vec::new(),
            ref_numbers: FxHashMap::default(),
        };
        for batch in batches {
            self.batch_keys(batch, &mut call)?;
        }
        let total = call.rows;
        let mut invalid = Vec::with_capacity(call.invalid.len());
        let mut skip: Option<Vec<bool>> = None;
        for (row, column, reason) in std::mem::take(&mut call.invalid) {
            if on_invalid == OnInvalid::Raise {
                return Err(Error::InvalidMember {
                    row,
                    reason: format!("{column}: {reason}"),
                });
            }
            // A member without an id is never assigned: it could not be published.
            let rejected = on_invalid == OnInvalid::Reject || column == "id";
            if rejected {
                skip.get_or_insert_with(|| vec![false; total])[row as usize] = true;
            }
            invalid.push(Invalid {
                row,
                column,
                reason,
                rejected,
            });
        }
        let order = match self.view.order {
            Order::Arrival => None,
            Order::Timestamp => Some(timestamp_order(batches, &call.order_times)?),
        };

        // Phase 2: leaves and page slots. Nothing can fail from here on.
        let (order, skip) = (order.as_deref(), skip.as_deref());
        let mut levels = call.levels;
        if !call.refs.is_empty() {
            self.intern_refs(&mut levels, &call.refs, total, order, skip);
        }
        let leaves = &self.leaves;
        let mut chunks: Vec<Chunk> = (0..total.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let mut ch = chunk_keys(
                    &levels,
                    order,
                    skip,
                    c * chunk,
                    ((c + 1) * chunk).min(total),
                );
                // Existing leaves are found here, in parallel; the sequential pass below
                // looks up only the rest.
                ch.known = if leaves.is_empty() {
                    vec![NEW; ch.keys.len()]
                } else {
                    (ch.keys.iter())
                        .map(|k| leaves.get(k).copied().unwrap_or(NEW))
                        .collect()
                };
                ch
            })
            .collect();
        let mut appear = first_appearances(&chunks, parts);
        // Room for the new leaves, grown once, not by doubling: on a fresh fragmenter most
        // keys are new leaves.
        let new = (appear.iter().enumerate())
            .filter(|&(at, &a)| a as usize == at)
            .count();
        self.buckets.reserve(new);
        self.counts.reserve(new);
        self.id_offsets.reserve(new);
        let mut fresh = Vec::with_capacity(new);
        // Phase 3 (rows, leaves and pages) of each chunk starts as soon as the sequential
        // pass is past it, and the new leaves go into `leaves` (nothing in this call looks
        // them up there any more) while the last chunks are written.
        let total_entries = chunks.iter().map(|c| c.local.len()).sum();
        let mut columns = EntryColumns::with_room(total_entries);
        let complete = AtomicBool::new(true);
        let page_size = self.view.page_size;
        let pieces = columns.parts(&chunks);
        rayon::scope(|s| {
            let mut base = 0;
            for (ch, part) in chunks.iter_mut().zip(pieces) {
                self.reserve(ch, &mut appear, base, &mut fresh);
                base += ch.keys.len();
                let (ch, complete) = (&*ch, &complete);
                s.spawn(move |_| {
                    if !write_entries(ch, order, page_size, part) {
                        complete.store(false, Relaxed);
                    }
                });
            }
            self.leaves.reserve(fresh.len());
            self.leaves.extend(fresh);
        });
        Ok((columns.finish(complete.into_inner()), invalid))
    }

    /// Interns the call's references in the order members are taken, and turns the reference
    /// levels' words from the call's numbers into reference ids.
    fn intern_refs(
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
                    if w != UNKNOWN && ids[w as usize] == u32::MAX {
                        ids[w as usize] = self.intern(refs[w as usize]);
                    }
                }
            }
        }
        for &l in &ref_levels {
            for w in &mut levels[l].words {
                if *w != UNKNOWN {
                    *w = u64::from(ids[*w as usize]);
                }
            }
        }
    }

    /// Maps a chunk's distinct keys (keys `base..` of the call) to leaf buckets and reserves
    /// the places of its members in them. A new key's leaf is made at its first appearance
    /// (`appear`, from [`first_appearances`]), whose entry then becomes the leaf, and is pushed
    /// to `fresh`: no lookup in `leaves` here.
    fn reserve(
        &mut self,
        ch: &mut Chunk,
        appear: &mut [u32],
        base: usize,
        fresh: &mut Vec<(LeafKey, u32)>,
    ) {
        let size = u64::from(self.view.page_size);
        let mut slots = Vec::with_capacity(ch.keys.len());
        let keys = ch.keys.iter().zip(&ch.counts).zip(&ch.known);
        for (at, ((key, &n), &known)) in (base..).zip(keys) {
            let leaf = if known != NEW {
                known
            } else if appear[at] as usize == at {
                let l = self.new_leaf(key);
                fresh.push((*key, l));
                appear[at] = l;
                l
            } else {
                // An earlier key: its entry is its leaf by now.
                appear[appear[at] as usize]
            };
            let count = &mut self.counts[leaf as usize];
            let first = *count;
            *count += n;
            assert!(
                count.div_ceil(size) <= u64::from(u32::MAX),
                "fewer than 2^32 pages in a bucket"
            );
            slots.push(Slot {
                leaf,
                room: (size - first % size) as u32,
                page: first / size + 1,
            });
        }
        ch.slots = slots;
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

    /// Creates the leaf of a composite key that `leaves` does not hold, and the buckets above
    /// it that are missing, level by level.
    /// Returns the leaf, its parent and the bucket whose id the leaf's extends.
    fn walk(&mut self, composite: &[u64; MAX_LEVELS]) -> (u32, u32, u32) {
        // The id of the bucket reached so far, written from the key as the walk goes down (no
        // reads of parents' ids from the arena: on sparse data those miss the cache).
        let mut id = std::mem::take(&mut self.scratch);
        id.clear();
        let mut b = 0u32;
        // Before each step: its parent and the bucket `id` is the id of.
        let mut up = (0u32, 0u32);
        let n_levels = self.view.fragmentations.len();
        for (l, &k) in composite.iter().enumerate().take(n_levels) {
            let (level, last) = (l as u8, l + 1 == n_levels);
            if k == UNKNOWN {
                up = (b, b);
                b = self.child(b, level, Step::Unknown, &mut id, last);
                continue;
            }
            match &self.view.fragmentations[l] {
                Fragmentation::Geospatial { .. } => {
                    let hub = self.hub(b, level, Step::GeoHub, &mut id);
                    let step = Step::Tile {
                        x: k as u32,
                        y: (k >> 32) as u32,
                    };
                    up = (hub, b);
                    b = self.child(hub, level, step, &mut id, last);
                }
                Fragmentation::HierarchicalTime {
                    max_granularity, ..
                } => {
                    let max = *max_granularity;
                    for g in max.levels() {
                        let key = timebucket::coarsen(time_key(k), max, g);
                        up = (b, b);
                        b = self.child(b, level, Step::Time { g, key }, &mut id, last && g == max);
                    }
                }
                Fragmentation::Reference { .. } => {
                    let hub = self.hub(b, level, Step::RefHub, &mut id);
                    up = (hub, b);
                    b = self.child(hub, level, Step::Ref { id: k as u32 }, &mut id, last);
                }
            }
        }
        self.scratch = id;
        (b, up.0, up.1)
    }

    /// Creates the leaf of a composite key that `leaves` does not hold: under a parent met
    /// before, the leaf's id is its base's (from the arena) and one pair; else by the walk.
    fn new_leaf(&mut self, key: &LeafKey) -> u32 {
        let n_levels = self.view.fragmentations.len();
        let Some(last) = n_levels.checked_sub(1) else {
            return self.walk(&key.0).0;
        };
        let k = key.0[last];
        let (up_word, step) = if k == UNKNOWN {
            (UNKNOWN, Step::Unknown)
        } else {
            match &self.view.fragmentations[last] {
                Fragmentation::Geospatial { .. } => (
                    0,
                    Step::Tile {
                        x: k as u32,
                        y: (k >> 32) as u32,
                    },
                ),
                Fragmentation::HierarchicalTime {
                    max_granularity, ..
                } => {
                    let (g, key) = (*max_granularity, time_key(k));
                    // The parent is the bucket one granularity up (none above a year).
                    let up = (g.levels().take_while(|&p| p < g).last())
                        .map_or(0, |p| time_word(timebucket::coarsen(key, g, p)));
                    (up, Step::Time { g, key })
                }
                Fragmentation::Reference { .. } => (0, Step::Ref { id: k as u32 }),
            }
        };
        let mut up = *key;
        up.0[last] = up_word;
        if let Some(&(parent, from, to)) = self.parents.get(&up) {
            let mut id = std::mem::take(&mut self.scratch);
            id.clear();
            id.push_str(&self.ids[from..to]);
            let leaf = self.child(parent, last as u8, step, &mut id, true);
            self.scratch = id;
            return leaf;
        }
        let (leaf, parent, base) = self.walk(&key.0);
        let (from, to) = (
            self.id_offsets[base as usize],
            self.id_offsets[base as usize + 1],
        );
        self.parents.insert(up, (parent, from, to));
        leaf
    }

    /// The hub below `parent` (created if new); `id` (the parent's) is left as it was: the
    /// hub's children extend the parent's id, not the hub's.
    fn hub(&mut self, parent: u32, level: u8, step: Step, id: &mut String) -> u32 {
        let mark = id.len();
        let hub = self.child(parent, level, step, id, false);
        id.truncate(mark);
        hub
    }

    /// The child of `parent` reached by `step`, created if new; `id`, the id of the bucket it
    /// extends, becomes the child's. A leaf is always new (`leaves` holds every leaf), and only
    /// `leaves` finds it: `children` holds the inner buckets only, so it stays small.
    fn child(&mut self, parent: u32, level: u8, step: Step, id: &mut String, leaf: bool) -> u32 {
        if !id.is_empty() {
            id.push('&');
        }
        self.write_pair(id, level, step);
        if !leaf {
            if let Some(&c) = self.children.get(&(parent, step)) {
                return c;
            }
        }
        self.ids.push_str(id);
        self.id_offsets.push(self.ids.len());
        let c = self.buckets.len() as u32;
        self.buckets.push(Bucket {
            parent,
            level,
            step,
        });
        self.counts.push(0);
        if !leaf {
            self.children.insert((parent, step), c);
        }
        c
    }

    /// Whether a bucket is a leaf: the last step of the last level (the root without levels).
    fn is_leaf(&self, b: &Bucket) -> bool {
        let n_levels = self.view.fragmentations.len();
        if n_levels == 0 || b.step == Step::Root {
            return n_levels == 0 && b.step == Step::Root;
        }
        if b.level as usize + 1 != n_levels {
            return false;
        }
        match (&self.view.fragmentations[b.level as usize], b.step) {
            (_, Step::Unknown) => true,
            (Fragmentation::Geospatial { .. }, Step::Tile { .. }) => true,
            (Fragmentation::Reference { .. }, Step::Ref { .. }) => true,
            (
                Fragmentation::HierarchicalTime {
                    max_granularity, ..
                },
                Step::Time { g, .. },
            ) => g == *max_granularity,
            _ => false,
        }
    }

    /// The composite key of a leaf, from the steps on its path (each level's last step).
    fn composite_of(&self, leaf: u32) -> LeafKey {
        let mut key = LeafKey([0; MAX_LEVELS]);
        let mut b = leaf;
        while b != 0 {
            let bucket = self.buckets[b as usize];
            let word = match (
                &self.view.fragmentations[bucket.level as usize],
                bucket.step,
            ) {
                (_, Step::Unknown) => Some(UNKNOWN),
                (_, Step::Tile { x, y }) => Some(u64::from(y) << 32 | u64::from(x)),
                (_, Step::Ref { id }) => Some(u64::from(id)),
                (
                    Fragmentation::HierarchicalTime {
                        max_granularity, ..
                    },
                    Step::Time { g, key },
                ) if g == *max_granularity => Some(time_word(key)),
                _ => None,
            };
            if let Some(w) = word {
                key.0[bucket.level as usize] = w;
            }
            b = bucket.parent;
        }
        key
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
                s.push_str(key);
                s.push_str("=unknown");
            }
            Step::GeoHub => s.push_str("tile=0/0/0"),
            Step::Tile { x, y } => {
                s.push_str("tile=");
                timebucket::push_decimal(s, u64::from(self.zoom(level)), 1);
                s.push('/');
                timebucket::push_decimal(s, u64::from(x), 1);
                s.push('/');
                timebucket::push_decimal(s, u64::from(y), 1);
            }
            Step::Time { g, key } => {
                s.push_str(g.key());
                s.push('=');
                timebucket::push_key_label(s, key, g);
            }
            Step::RefHub => {
                s.push_str(key);
                s.push('=');
            }
            Step::Ref { id } => {
                s.push_str(key);
                s.push('=');
                percent_encode_value(s, &self.references[id as usize]);
            }
        }
    }

    /// Reads one batch into the call's keys (phase 1).
    fn batch_keys<'a>(&self, batch: &'a RecordBatch, call: &mut CallKeys<'a>) -> Result<(), Error> {
        let n = batch.num_rows();
        let mut invalid: Vec<(usize, String, String)> = Vec::new();
        let ids = columns::column(batch, "id", "to identify members")?;
        Ids::try_new("id", ids.as_ref())?;
        if let Some(nulls) = ids.nulls().filter(|n| n.null_count() > 0) {
            invalid.extend(
                (0..n)
                    .filter(|&i| nulls.is_null(i))
                    .map(|i| (i, "id".to_owned(), "missing member id".to_owned())),
            );
        }
        let by_time = self.view.order == Order::Timestamp;
        let mut order_times = None;
        for (l, f) in self.view.fragmentations.iter().enumerate() {
            let keys = match f {
                Fragmentation::Geospatial {
                    max_zoom, column, ..
                } => self.geo_keys(batch, column, *max_zoom, &mut invalid)?,
                Fragmentation::HierarchicalTime {
                    max_granularity,
                    column,
                    ..
                } => {
                    let zone = self.zones[l].as_ref().expect("time levels have a zone");
                    let (times, nulls) = read_times(batch, column, zone, &mut invalid)?;
                    let words = time_words(&times, nulls.as_ref(), *max_granularity, zone);
                    if by_time && order_times.is_none() {
                        order_times = Some(instants_or_max(&times, nulls.as_ref()));
                    }
                    LevelKeys::one(words)
                }
                Fragmentation::Reference { column, .. } => {
                    ref_keys(batch, column, &mut invalid, call)?
                }
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
        invalid.sort_by_key(|(row, _, _)| *row);
        let base = call.rows as u64;
        call.invalid.extend(
            (invalid.into_iter()).map(|(row, column, reason)| (base + row as u64, column, reason)),
        );
        call.rows += n;
        Ok(())
    }

    fn geo_keys(
        &self,
        batch: &RecordBatch,
        column: &str,
        zoom: u8,
        invalid: &mut Vec<(usize, String, String)>,
    ) -> Result<LevelKeys, Error> {
        let n = batch.num_rows();
        if batch.column_by_name(column).is_none() {
            if let (Some(lon), Some(lat)) =
                (batch.column_by_name("lon"), batch.column_by_name("lat"))
            {
                let (lon, lon_nulls) = columns::floats("lon", lon.as_ref())?;
                let (lat, lat_nulls) = columns::floats("lat", lat.as_ref())?;
                let nulls = NullBuffer::union(lon_nulls.as_ref(), lat_nulls.as_ref());
                return Ok(LevelKeys::one(point_keys(&lon, &lat, nulls, zoom, invalid)));
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
        let tile_key = |x: u32, y: u32| (y as u64) << 32 | x as u64;
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
                    if keys.len() == before {
                        keys.push(UNKNOWN);
                    }
                    counts.push(keys.len() - before);
                }
                CoverChunk { counts, keys, bad }
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
            invalid.extend(part.bad.into_iter().map(|(i, r)| (i, column.to_owned(), r)));
        }
        Ok(LevelKeys {
            words: keys,
            offsets: Some(offsets),
        })
    }
    /// All relations of the structure, parents before children, in bucket creation order.
    pub fn relations(&self) -> Vec<Relation> {
        self.relations_from(|_, _| true)
    }

    /// The relations whose parent node (bucket, page; `None` the bucket's own node) `from`
    /// accepts, in the order of [`Fragmenter::relations`].
    fn relations_from(&self, from: impl Fn(u32, Option<u32>) -> bool) -> Vec<Relation> {
        let mut out = Vec::new();
        for (id, b) in self.buckets.iter().enumerate().skip(1) {
            if !from(b.parent, None) {
                continue;
            }
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
            for p in (0..last).filter(|&p| from(id, (p > 0).then_some(p))) {
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

    /// Where this fragmenter stands, for a later [`Fragmenter::changes_since`].
    pub fn mark(&self) -> Mark {
        Mark {
            buckets: self.buckets.len(),
            counts: self.counts.clone(),
            closed: self.closed,
        }
    }

    /// The nodes whose rendering changed since `mark` (new nodes; pages with new members or
    /// newly immutable; nodes with a new relation), sorted by (bucket, page), and every
    /// relation from them: what a server renders again after a call, in O(buckets) instead of
    /// a diff of two snapshots of [`Fragmenter::relations`] and [`Fragmenter::pages`].
    pub fn changes_since(&self, mark: &Mark) -> Changes {
        let size = self.view.page_size as u64;
        // (bucket, page), page 0 being the bucket's own node.
        let mut changed: Vec<(u32, u32)> = Vec::new();
        for (id, b) in self.buckets.iter().enumerate().skip(mark.buckets) {
            changed.push((id as u32, 0));
            if id > 0 {
                changed.push((b.parent, 0)); // it links to the new bucket
            }
        }
        for (id, &n) in self.counts.iter().enumerate() {
            let old = mark.counts.get(id).copied().unwrap_or(0);
            if n == old && !(self.closed && !mark.closed && n > 0) {
                continue;
            }
            if old == 0 {
                changed.push((id as u32, 0)); // it links to its first page
            }
            // The old last page gained members, or a successor (so it is immutable now),
            // or the stream was closed; and every page after it is new.
            let old_last = old.div_ceil(size).max(1);
            changed.extend((old_last..=n.div_ceil(size)).map(|p| (id as u32, p as u32)));
        }
        changed.sort_unstable();
        changed.dedup();
        let wanted: rustc_hash::FxHashSet<(u32, u32)> = changed.iter().copied().collect();
        let relations = self.relations_from(|b, p| wanted.contains(&(b, p.unwrap_or(0))));
        let nodes = changed
            .into_iter()
            .map(|(bucket, page)| {
                let n = self.counts[bucket as usize];
                let last = self.last_page(n);
                let members = match page {
                    0 => 0,
                    p if p < last => size,
                    _ => n - (last as u64 - 1) * size,
                };
                Node {
                    bucket,
                    page: (page > 0).then_some(page),
                    members,
                    immutable: page > 0 && (page < last || self.closed),
                }
            })
            .collect();
        Changes { nodes, relations }
    }

    /// The state as bytes: enough to continue exactly where this fragmenter stands.
    pub fn state(&self) -> Vec<u8> {
        let buckets = (self.buckets.iter().enumerate())
            .map(|(i, b)| SavedBucket {
                parent: b.parent,
                level: b.level,
                step: b.step,
                descriptor: self.descriptor(i as u32).to_owned(),
            })
            .collect();
        let saved = Saved {
            view: self.view.to_json(),
            buckets,
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
        if saved.buckets.is_empty() {
            return Err(bad("corrupt state: no root bucket"));
        }
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
        }
        if saved.counts.len() != saved.buckets.len() {
            return Err(bad("corrupt state: bucket counts"));
        }
        f.buckets.clear();
        f.id_offsets.truncate(1);
        for b in saved.buckets {
            f.ids.push_str(&b.descriptor);
            f.id_offsets.push(f.ids.len());
            f.buckets.push(Bucket {
                parent: b.parent,
                level: b.level,
                step: b.step,
            });
        }
        for i in 0..f.buckets.len() as u32 {
            let b = f.buckets[i as usize];
            let repeats = if f.is_leaf(&b) {
                f.leaves.insert(f.composite_of(i), i).is_some()
            } else {
                i > 0 && f.children.insert((b.parent, b.step), i).is_some()
            };
            if repeats {
                return Err(Error::State(format!("corrupt state: bucket {i} repeats")));
            }
        }
        f.counts = saved.counts;
        Ok(f)
    }
}

/// A bucket as the state stores it (state version 1: the id is saved with its tree place).
#[derive(Serialize, Deserialize)]
struct SavedBucket {
    parent: u32,
    level: u8,
    step: Step,
    descriptor: String,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    view: String,
    buckets: Vec<SavedBucket>,
    counts: Vec<u64>,
    references: Vec<String>,
    closed: bool,
    max_tiles: u64,
}

/// The processing order of `Order::Timestamp`: rows by (timestamp, id), members without a time
/// last; stable, so equal (timestamp, id) keep arrival order.
fn timestamp_order(batches: &[RecordBatch], times: &[i64]) -> Result<Vec<usize>, Error> {
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
fn instants_or_max(times: &[i64], nulls: Option<&NullBuffer>) -> Vec<i64> {
    match nulls {
        None => times.to_vec(),
        Some(n) => (times.iter().enumerate())
            .map(|(i, &t)| if n.is_valid(i) { t } else { i64::MAX })
            .collect(),
    }
}

/// Reads a time column: Arrow temporal types, or xsd:dateTime / xsd:date strings. Instants in
/// microseconds; meaningless where the nulls say so (missing or invalid: reasons in `invalid`).
/// Zone-less values (strings without an offset, Arrow timestamps without a time zone, dates)
/// are wall-clock times in `zone` (docs/semantics.md, "Zone-less timestamps").
fn read_times<'a>(
    batch: &'a RecordBatch,
    column: &str,
    zone: &Zone,
    invalid: &mut Vec<(usize, String, String)>,
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
            invalid.extend(
                (0..n.len())
                    .filter(|&i| n.is_null(i))
                    .map(|i| (i, column.to_owned(), "missing timestamp".to_owned())),
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
        invalid.push((i, column.to_owned(), reason));
    }
    let values = parsed.values;
    Ok((Cow::Owned(values), nulls))
}

/// The [`time_word`] of each instant's bucket, `UNKNOWN` where it is missing; chunks in
/// parallel.
fn time_words(times: &[i64], nulls: Option<&NullBuffer>, g: Granularity, zone: &Zone) -> Vec<u64> {
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
fn point_keys(
    lon: &[f64],
    lat: &[f64],
    nulls: Option<NullBuffer>,
    zoom: u8,
    invalid: &mut Vec<(usize, String, String)>,
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
            out.extend(
                t.y.iter()
                    .zip(&t.x)
                    .map(|(&y, &x)| u64::from(y) << 32 | u64::from(x)),
            );
            return;
        }
        any_bad.store(true, Relaxed);
        for k in 0..m {
            out.push(if t.is_valid(k) && present(lo + k) {
                u64::from(t.y[k]) << 32 | u64::from(t.x[k])
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
            invalid.push((i, "lon/lat".to_owned(), reason));
        }
    }
    words
}

/// Reference values: absolute IRIs (a scheme, no spaces or angle brackets), one or several,
/// numbered in the call's table (duplicates within a row dropped).
fn ref_keys<'a>(
    batch: &'a RecordBatch,
    column: &str,
    invalid: &mut Vec<(usize, String, String)>,
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
            None => invalid.push((i, column.to_owned(), "missing reference".into())),
            Some(()) => {
                let mut bad = None;
                for &s in &strs {
                    if !is_absolute_iri(s) {
                        bad = Some(format!("{s:?} is not an absolute IRI"));
                        continue;
                    }
                    let number = *call.ref_numbers.entry(s).or_insert_with(|| {
                        call.refs.push(s);
                        (call.refs.len() - 1) as u32
                    });
                    if !words[before..].contains(&u64::from(number)) {
                        words.push(u64::from(number));
                    }
                }
                if words.len() == before {
                    invalid.push((
                        i,
                        column.to_owned(),
                        bad.unwrap_or_else(|| "missing reference".into()),
                    ));
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

/// Phase 2, one chunk of positions `start..end` (in processing order): each entry's leaf key,
/// numbered within the chunk in order of first appearance.
fn chunk_keys(
    levels: &[LevelKeys],
    order: Option<&[usize]>,
    skip: Option<&[bool]>,
    start: usize,
    end: usize,
) -> Chunk {
    let one_each = levels.iter().all(|l| l.offsets.is_none());
    if one_each && skip.is_none() && order.is_none() {
        // The common case, kept tight: one entry per member, members in row order, keys of
        // exactly the view's levels (hashed and compared without the unused words).
        match levels.len() {
            1 => return number_rows::<1>(levels, start, end),
            2 => return number_rows::<2>(levels, start, end),
            3 => return number_rows::<3>(levels, start, end),
            4 => return number_rows::<4>(levels, start, end),
            _ => {}
        }
    }
    let mut numbers = Numbering::<MAX_LEVELS>::with_bits(10);
    let mut local = Vec::with_capacity(end - start);
    let mut rows = (!one_each || skip.is_some()).then(Vec::new);
    let mut key = [0; MAX_LEVELS];
    {
        let n_levels = levels.len();
        for pos in start..end {
            let row = order.map_or(pos, |o| o[pos]);
            if skip.is_some_and(|s| s[row]) {
                continue;
            }
            // Every combination of the levels' words (an odometer); one for most members.
            let mut lists: [&[u64]; MAX_LEVELS] = [&[]; MAX_LEVELS];
            for (l, level) in levels.iter().enumerate() {
                lists[l] = level.row(row);
            }
            let mut idx = [0usize; MAX_LEVELS];
            'combos: loop {
                for l in 0..n_levels {
                    key[l] = lists[l][idx[l]];
                }
                local.push(numbers.count(&key));
                if let Some(rows) = &mut rows {
                    rows.push(row as u64);
                }
                for l in (0..n_levels).rev() {
                    idx[l] += 1;
                    if idx[l] < lists[l].len() {
                        continue 'combos;
                    }
                    idx[l] = 0;
                }
                break;
            }
        }
    }
    Chunk::numbered(start, numbers.into_keys(), local, rows)
}

/// [`chunk_keys`] where every position is one entry of `N` words (the view's levels).
fn number_rows<const N: usize>(levels: &[LevelKeys], start: usize, end: usize) -> Chunk {
    let words: [&[u64]; N] = std::array::from_fn(|l| &levels[l].words[start..end]);
    let mut numbers = Numbering::<N>::with_bits(10);
    let local: Vec<u32> = (0..end - start)
        .map(|i| numbers.count(&std::array::from_fn(|l| words[l][i])))
        .collect();
    Chunk::numbered(start, numbers.into_keys(), local, None)
}

/// Numbers for the distinct keys (`N` words) of a chunk, in order of first appearance, and
/// their entry counts: a small open addressing table (linear probing, at most half full) that
/// stays in cache.
struct Numbering<const N: usize> {
    table: Vec<Entry<N>>,
    shift: u32,
    len: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry<const N: usize> {
    key: [u64; N],
    /// The number + 1; 0 marks an empty slot.
    number: u32,
    count: u32,
}

impl<const N: usize> Numbering<N> {
    fn with_bits(bits: u32) -> Numbering<N> {
        let empty = Entry {
            key: [0; N],
            number: 0,
            count: 0,
        };
        Numbering {
            table: vec![empty; 1 << bits],
            shift: 64 - bits,
            len: 0,
        }
    }

    /// The high bits of the key's [`mix`].
    #[inline]
    fn slot(&self, key: &[u64; N]) -> usize {
        (mix(key) >> self.shift) as usize
    }

    /// Counts one more entry of `key`; its number: the count of distinct keys before its
    /// first appearance.
    #[inline]
    fn count(&mut self, key: &[u64; N]) -> u32 {
        let mask = self.table.len() - 1;
        let mut i = self.slot(key);
        loop {
            let e = &mut self.table[i];
            if e.number == 0 {
                return self.insert(key, i);
            }
            if e.key == *key {
                e.count += 1;
                return e.number - 1;
            }
            i = (i + 1) & mask;
        }
    }

    /// A new key, at the empty slot `i` where its probe ended.
    #[inline(never)]
    fn insert(&mut self, key: &[u64; N], mut i: usize) -> u32 {
        if 2 * (self.len as usize + 1) > self.table.len() {
            self.grow();
            i = self.free_slot(key);
        }
        self.len += 1;
        self.table[i] = Entry {
            key: *key,
            number: self.len,
            count: 1,
        };
        self.len - 1
    }

    fn free_slot(&self, key: &[u64; N]) -> usize {
        let mask = self.table.len() - 1;
        let mut i = self.slot(key);
        while self.table[i].number != 0 {
            i = (i + 1) & mask;
        }
        i
    }

    fn grow(&mut self) {
        let bits = 64 - self.shift + 1;
        let old = std::mem::replace(self, Numbering::with_bits(bits));
        self.len = old.len;
        for e in old.table.into_iter().filter(|e| e.number > 0) {
            let i = self.free_slot(&e.key);
            self.table[i] = e;
        }
    }

    /// The keys in order of their numbers (as leaf keys, zero past the `N` words), with their
    /// counts.
    fn into_keys(self) -> (Vec<LeafKey>, Vec<u64>) {
        let mut keys = vec![LeafKey([0; MAX_LEVELS]); self.len as usize];
        let mut counts = vec![0; self.len as usize];
        for e in self.table.into_iter().filter(|e| e.number > 0) {
            keys[e.number as usize - 1].0[..N].copy_from_slice(&e.key);
            counts[e.number as usize - 1] = u64::from(e.count);
        }
        (keys, counts)
    }
}

/// For each key of the chunks (numbered across them, in order) that had no leaf before the
/// call, the number of its first appearance; [`NEW`] for the others. The keys are split into
/// `parts` hash partitions, each found in its own map by one task that goes through them in
/// order: the result does not depend on `parts`.
fn first_appearances(chunks: &[Chunk], parts: usize) -> Vec<u32> {
    let total: usize = chunks.iter().map(|c| c.keys.len()).sum();
    assert!(total < NEW as usize, "fewer than 2^32 - 1 keys in a call");
    let appear: Vec<AtomicU32> = (0..total).map(|_| AtomicU32::new(NEW)).collect();
    let parts = parts.max(1);
    (0..parts).into_par_iter().for_each(|p| {
        let mut seen: FxHashMap<LeafKey, u32> = FxHashMap::default();
        let mut at = 0u32;
        for ch in chunks {
            for (key, &known) in ch.keys.iter().zip(&ch.known) {
                let part = ((u128::from(mix(&key.0)) * parts as u128) >> 64) as usize;
                if known == NEW && part == p {
                    appear[at as usize].store(*seen.entry(*key).or_insert(at), Relaxed);
                }
                at += 1;
            }
        }
    });
    appear.into_iter().map(AtomicU32::into_inner).collect()
}

/// Multiply-xor of a key's words, then one more multiplication: the high bits are well mixed.
#[inline]
fn mix<const N: usize>(key: &[u64; N]) -> u64 {
    const K: [u64; MAX_LEVELS + 1] = [
        0x9E37_79B9_7F4A_7C15,
        0xC2B2_AE3D_27D4_EB4F,
        0x1656_67B1_9E37_79F9,
        0xD6E8_FEB8_6659_FD93,
        0xFF51_AFD7_ED55_8CCD,
    ];
    let mut h = 0u64;
    for (w, k) in key.iter().zip(K) {
        h ^= w.wrapping_mul(k);
    }
    h.wrapping_mul(K[MAX_LEVELS])
}

/// The block [`copy_ids`] copies per id.
const WIDE: usize = 64;

/// Copies the ids of `buckets` (from the arena and ends `ids`) to `out`, at `offsets`, each
/// as one fixed-size block of `WIDE` bytes (no `memcpy` call, no branch on its length): the
/// bytes past its end are garbage that the next id overwrites, and the last one's fall into
/// the spare room of `out`.
///
/// # Safety
/// `out` must be valid for writes of the ids' total length plus `WIDE` bytes, and `offsets`
/// the running sums of the ids' lengths, from 0.
#[inline(always)]
unsafe fn copy_ids(
    (arena, ends): (&[u8], &[usize]),
    buckets: &[u32],
    offsets: &[i32],
    out: *mut u8,
) {
    for (&b, &at) in buckets.iter().zip(offsets) {
        let (from, to) = (ends[b as usize], ends[b as usize + 1]);
        let src = &arena[from..to];
        // SAFETY: `at` + the id's length <= the total (the offsets sum the lengths), so the
        // destination of either copy is within `out`; the source of the wide copy is within
        // the arena (checked).
        unsafe {
            if src.len() <= WIDE && from + WIDE <= arena.len() {
                std::ptr::copy_nonoverlapping(arena.as_ptr().add(from), out.add(at as usize), WIDE);
            } else {
                std::ptr::copy_nonoverlapping(src.as_ptr(), out.add(at as usize), src.len());
            }
        }
    }
}

/// [`copy_ids`] with 32-byte moves: two per block instead of four.
///
/// # Safety
/// As for [`copy_ids`], on a CPU with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_ids_avx2(ids: (&[u8], &[usize]), buckets: &[u32], offsets: &[i32], out: *mut u8) {
    // SAFETY: the caller's promise.
    unsafe { copy_ids(ids, buckets, offsets, out) }
}

/// The three columns of a call's output, written in parallel parts, one per chunk (phase 3).
struct EntryColumns {
    rows: Vec<u64>,
    buckets: Vec<u32>,
    pages: Vec<u32>,
    total: usize,
}

/// One chunk's parts of the [`EntryColumns`].
type EntryParts<'a> = (Part<'a, u64>, Part<'a, u32>, Part<'a, u32>);

impl EntryColumns {
    fn with_room(total: usize) -> EntryColumns {
        EntryColumns {
            rows: Vec::with_capacity(total),
            buckets: Vec::with_capacity(total),
            pages: Vec::with_capacity(total),
            total,
        }
    }

    /// The spare room of the columns cut into one set of parts per chunk (`chunks` hold
    /// the `total` entries).
    fn parts(&mut self, chunks: &[Chunk]) -> Vec<EntryParts<'_>> {
        let lens: Vec<usize> = chunks.iter().map(|c| c.local.len()).collect();
        assert_eq!(
            lens.iter().sum::<usize>(),
            self.total,
            "the chunks' entries"
        );
        (parts_of(&mut self.rows, &lens).into_iter())
            .zip(parts_of(&mut self.buckets, &lens))
            .zip(parts_of(&mut self.pages, &lens))
            .map(|((r, b), p)| (r, b, p))
            .collect()
    }

    /// The columns once every chunk's parts are written in full (`complete`, checked).
    fn finish(mut self, complete: bool) -> Assignments {
        assert!(complete, "a part of a parallel write was left short");
        // SAFETY: the parts covered the first `total` slots of each column, and every part
        // was written in full.
        unsafe {
            self.rows.set_len(self.total);
            self.buckets.set_len(self.total);
            self.pages.set_len(self.total);
        }
        Assignments {
            rows: self.rows,
            buckets: self.buckets,
            pages: self.pages,
        }
    }
}

/// Phase 3 for one chunk: each entry's row, leaf and page, from the chunk's reserved slots,
/// all three columns in one pass; whether the parts were written in full.
fn write_entries(
    ch: &Chunk,
    order: Option<&[usize]>,
    page_size: u32,
    (mut r, mut b, mut p): EntryParts<'_>,
) -> bool {
    let n = ch.local.len();
    match (&ch.rows, order) {
        (Some(rows), _) => r.extend(rows.iter().copied()),
        (None, Some(o)) => r.extend(o[ch.start..ch.start + n].iter().map(|&r| r as u64)),
        (None, None) => r.extend((ch.start..ch.start + n).map(|r| r as u64)),
    }
    let mut slots = ch.slots.clone();
    let (bo, po) = (&mut b.out[..n], &mut p.out[..n]);
    for ((&k, bo), po) in ch.local.iter().zip(bo).zip(po) {
        let s = &mut slots[k as usize];
        bo.write(s.leaf);
        // `reserve` checked that every page number fits.
        po.write(s.page as u32);
        s.room -= 1;
        if s.room == 0 {
            s.page += 1;
            s.room = page_size;
        }
    }
    (b.len, p.len) = (n, n);
    [
        r.len == r.out.len(),
        b.len == b.out.len(),
        p.len == p.out.len(),
    ] == [true; 3]
}

/// One part of a vector being written in parallel (see [`par_write`]).
struct Part<'a, T> {
    out: &'a mut [MaybeUninit<T>],
    len: usize,
}

impl<T> Part<'_, T> {
    #[inline]
    fn push(&mut self, value: T) {
        self.out[self.len].write(value);
        self.len += 1;
    }

    /// Pushes `values`, zipped with the free slots so that a loop over slices vectorises.
    #[inline]
    fn extend(&mut self, values: impl ExactSizeIterator<Item = T>) {
        let n = values.len();
        assert!(
            n <= self.out.len() - self.len,
            "a part of a parallel write overflows"
        );
        for (slot, v) in self.out[self.len..].iter_mut().zip(values) {
            slot.write(v);
        }
        self.len += n;
    }
}

/// The spare capacity of `v` (at least the sum of `lens`) cut into empty parts of `lens`.
fn parts_of<'a, T>(v: &'a mut Vec<T>, lens: &[usize]) -> Vec<Part<'a, T>> {
    let total = lens.iter().sum();
    let mut rest = &mut v.spare_capacity_mut()[..total];
    let mut parts = Vec::with_capacity(lens.len());
    for &len in lens {
        let (out, tail) = std::mem::take(&mut rest).split_at_mut(len);
        parts.push(Part { out, len: 0 });
        rest = tail;
    }
    parts
}

/// A vector written in parallel parts, without zeroing it first: part `i` holds `lens[i]`
/// values, pushed by `fill(i, part)`, which must push exactly that many (checked).
fn par_write<T: Copy + Send + Sync>(
    lens: &[usize],
    fill: impl Fn(usize, &mut Part<'_, T>) + Sync,
) -> Vec<T> {
    let total = lens.iter().sum();
    let mut v = Vec::with_capacity(total);
    let parts = parts_of(&mut v, lens);
    let complete = parts.into_par_iter().enumerate().all(|(i, mut part)| {
        fill(i, &mut part);
        part.len == part.out.len()
    });
    assert!(complete, "a part of a parallel write was left short");
    // SAFETY: the parts cover the first `total` slots, and every part was written in full
    // (`push` writes slot `len` before counting it; `complete` checked the counts).
    unsafe { v.set_len(total) };
    v
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
    use crate::testing::Rng;
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

    /// Random members around a DST change, with invalid values of every kind: null ids,
    /// missing or out-of-range coordinates, bad WKT, missing times, relative references.
    fn random_members(rng: &mut Rng, n: usize) -> RecordBatch {
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
    const VIEWS: [&str; 4] = [
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
            let calls = [[500, 0, 333], [257, 600, 0]]
                .map(|s| s.map(|n| random_members(&mut rng, n)).to_vec());
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
            ..Chunk::numbered(0, (keys, Vec::new()), Vec::new(), None)
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
                Arc::new(TimestampMicrosecondArray::from(ts.clone())),
            ),
        ]);
        let wkt: Vec<Option<String>> = (0..n)
            .map(|i| lon[i].map(|x| format!("POINT ({x} {})", lat[i])))
            .collect();
        let strings: Vec<Option<String>> =
            ts.iter().map(|t| t.map(timebucket::format_utc)).collect();
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
        let ends = &f.id_offsets;
        let mut offsets = vec![0i32];
        for &b in &a.buckets {
            let len = ends[b as usize + 1] - ends[b as usize];
            offsets.push(offsets[offsets.len() - 1] + len as i32);
        }
        let total = offsets[offsets.len() - 1] as usize;
        let mut out: Vec<u8> = Vec::with_capacity(total + WIDE);
        let ids = (f.ids.as_bytes(), ends.as_slice());
        // SAFETY: room for the ids and one block; `offsets` are the running sums from 0.
        unsafe {
            copy_ids(ids, &a.buckets, &offsets, out.as_mut_ptr());
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

    /// `changes_since` equals the nodes that differ between two snapshots and the relations
    /// from them, over random calls in every view, across a state round trip and a close.
    #[test]
    fn changes_are_the_difference_of_snapshots() {
        let mut rng = Rng(23);
        for json in VIEWS {
            let mut f = Fragmenter::new(view(json)).expect("fragmenter");
            let mut mark = Mark::default();
            let mut before = NodeStates::new();
            for call in 0..12 {
                if call == 6 {
                    f = Fragmenter::from_state(view(json), &f.state()).expect("state");
                    let restored = f.mark();
                    assert!(f.changes_since(&restored).nodes.is_empty(), "{json}");
                }
                if call == 11 {
                    f.close();
                } else {
                    let n = [0, 1, 5, 40, 300][rng.index(5)];
                    f.assign(&[random_members(&mut rng, n)], OnInvalid::Unknown)
                        .expect("assign");
                }
                let after = node_states(&f);
                let changed: Vec<(u32, u32)> = (after.iter())
                    .filter(|(k, v)| before.get(k) != Some(v))
                    .map(|(k, _)| *k)
                    .collect();
                let got = f.changes_since(&mark);
                let nodes: Vec<(u32, u32)> = (got.nodes.iter())
                    .map(|n| (n.bucket, n.page.unwrap_or(0)))
                    .collect();
                assert_eq!(nodes, changed, "{json} call {call}");
                for n in &got.nodes {
                    let state = after[&(n.bucket, n.page.unwrap_or(0))].0;
                    assert_eq!(state.map_or((0, false), |s| s), (n.members, n.immutable));
                }
                let relations: Vec<Relation> = (f.relations().into_iter())
                    .filter(|r| changed.contains(&(r.parent, r.parent_page.unwrap_or(0))))
                    .collect();
                assert_eq!(got.relations, relations, "{json} call {call}");
                mark = f.mark();
                before = after;
            }
        }
    }
}
