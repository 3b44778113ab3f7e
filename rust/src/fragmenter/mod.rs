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
//!
//! The parts:
//! - `word`: how each level's value becomes one `u64` key word, and back (the one place);
//! - `keys`: phase 1, the columns read into words per level, with reasons;
//! - `chunks`: phases 2 and 3, chunk numbering, the sequential pass, the output columns;
//! - `tree`: the bucket tree, new buckets and their ids;
//! - `arena`: the bucket ids laid end to end, and the bucket column copied out of them;
//! - `structure`: relations, pages and changes, derived from the tree and member counts;
//! - `tables`: those as Arrow record batches, each under a byte limit;
//! - `since`: what changed since a point (for `changes` and `commit`);
//! - `retention`: pages dropped from the front of their bucket's chain;
//! - `state`: the state as bytes and back;
//! - `journal`: what changed since the last commit as bytes, and a state continued by them;
//! - `parallel`: vectors written in parallel parts.

mod arena;
mod chunks;
mod journal;
mod keys;
mod parallel;
mod retention;
mod since;
mod state;
mod structure;
mod tables;
mod tree;
mod word;

#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;

use arrow_array::RecordBatch;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::columns::ColumnError;
use crate::timebucket::Zone;
use crate::view::{Fragmentation, Order, View, ViewError};

use arena::IdArena;
use chunks::{chunk_keys, first_appearances, write_entries, Chunk, EntryColumns, NEW};
use keys::{timestamp_order, CallKeys, LevelKeys};
use since::Since;
pub use tables::{
    invalid_table, rejected_table, Table, TableError, ASSIGNMENT_BATCH_ROWS, MAX_BATCH_BYTES,
};
#[cfg(test)]
pub(crate) use tree::percent_encode_value;
use tree::{Bucket, ChildKey, KnownParent, Step};
use word::LeafKey;

/// The most fragmentations a view may chain.
pub(crate) const MAX_LEVELS: usize = 4;
/// Default cap on the tiles of one geometry; larger covers go to `tile=unknown` with a reason.
/// The one definition: `cover` and the Python API take it from here.
pub(crate) const DEFAULT_MAX_TILES: usize = 100_000;

/// What to do with a member whose timestamp, geometry or reference is missing or invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum OnInvalid {
    /// Put it in the level's `unknown` bucket and report the reason.
    #[default]
    Unknown,
    /// Leave it out and report the reason.
    Reject,
    /// Fail the whole call (nothing is assigned).
    Raise,
}

impl OnInvalid {
    /// The name the Python API uses (`"unknown"`, `"reject"`, `"raise"`).
    pub fn name(self) -> &'static str {
        match self {
            OnInvalid::Unknown => "unknown",
            OnInvalid::Reject => "reject",
            OnInvalid::Raise => "raise",
        }
    }

    /// The inverse of [`OnInvalid::name`].
    pub fn parse(name: &str) -> Option<OnInvalid> {
        [OnInvalid::Unknown, OnInvalid::Reject, OnInvalid::Raise]
            .into_iter()
            .find(|o| o.name() == name)
    }
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
    #[error("retention: {0}")]
    Retention(String),
}

/// The fragmentation state of one view. Deterministic: the same members in the same order give
/// the same buckets, pages and relations however they are split into calls.
#[derive(Debug)]
pub struct Fragmenter {
    view: View,
    zones: Vec<Option<Zone>>,
    buckets: Vec<Bucket>,
    /// Every bucket's id, in bucket order.
    ids: IdArena,
    /// Members per bucket, beside the buckets for cache density; only leaves hold members.
    counts: Vec<u64>,
    /// The inner buckets (leaves are in `leaves` only).
    children: FxHashMap<ChildKey, u32>,
    leaves: FxHashMap<LeafKey, u32>,
    references: Vec<String>,
    reference_ids: FxHashMap<String, u32>,
    closed: bool,
    /// The fragmenter's own policy for invalid values, saved with its state (`assign` takes
    /// the policy of each call; a binding passes this one).
    on_invalid: OnInvalid,
    max_tiles: usize,
    /// A new bucket's id is written here first (its parent's id is in the arena).
    scratch: String,
    /// The parent of the leaves below one up key (a leaf key with the last level's word
    /// replaced by what the leaf's parent depends on: the time word one granularity up, 0, or
    /// `UNKNOWN` for the unknown leaf, which no other up word is), and where in `ids` the id
    /// is that theirs extend (kept here, since on sparse data a read of the arena's ends
    /// misses the cache): a new leaf under a known parent is made without the walk from the
    /// root. Not saved: a restored fragmenter finds its parents again by walking.
    parents: FxHashMap<LeafKey, KnownParent>,
    /// What changed since the last [`Fragmenter::changes`] (or since before anything).
    since_changes: Since,
    /// What changed since the last [`Fragmenter::commit`] (or since made or restored).
    since_commit: Since,
    /// Buckets that dropped pages (see `retention`): bucket → its first remaining page.
    first_pages: FxHashMap<u32, u32>,
    /// Bucket ids → buckets, for the first `by_id_upto` buckets (made on first use).
    by_id: FxHashMap<Box<str>, u32>,
    by_id_upto: usize,
    /// The digest of the structure at the last commit (see `journal`).
    committed: u128,
    /// See [`Fragmenter::fail_next_assign`].
    #[cfg(any(test, feature = "python"))]
    fail_next_assign: bool,
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

/// Which relations [`Fragmenter::changes`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangedRelations {
    /// Every relation from each changed node: what renders it again.
    FromChanged,
    /// Only the relations made since the last call: what a server that keeps relations as
    /// rows adds, in O(change).
    New,
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

/// What changed: the nodes to render again and relations (see [`ChangedRelations`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    pub nodes: Vec<Node>,
    pub relations: Vec<Relation>,
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
        let mut ids = IdArena::default();
        ids.push("");
        let mut f = Fragmenter {
            view,
            zones,
            buckets: vec![root],
            ids,
            counts: vec![0],
            children: FxHashMap::default(),
            leaves: FxHashMap::default(),
            references: Vec::new(),
            reference_ids: FxHashMap::default(),
            closed: false,
            on_invalid: OnInvalid::default(),
            max_tiles: DEFAULT_MAX_TILES,
            scratch: String::new(),
            parents: FxHashMap::default(),
            // The first changes include the root; the first commit follows a state saved now.
            since_changes: Since::default(),
            since_commit: Since::default(),
            first_pages: FxHashMap::default(),
            by_id: FxHashMap::default(),
            by_id_upto: 0,
            committed: 0,
            #[cfg(any(test, feature = "python"))]
            fail_next_assign: false,
        };
        f.since_commit = Since::now(&f);
        f.committed = f.digest();
        Ok(f)
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    pub fn max_tiles(&self) -> usize {
        self.max_tiles
    }

    /// The most tiles one geometry may cover; a larger cover goes to `tile=unknown` with a
    /// reason. 0 tiles nothing, points included, as [`crate::cover::cover_wkt`] does.
    pub fn set_max_tiles(&mut self, max_tiles: usize) {
        self.max_tiles = max_tiles;
    }

    /// The policy for invalid values saved with the state (see [`Fragmenter::restore`]).
    pub fn on_invalid(&self) -> OnInvalid {
        self.on_invalid
    }

    pub fn set_on_invalid(&mut self, on_invalid: OnInvalid) {
        self.on_invalid = on_invalid;
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Closes the stream: every page becomes immutable and no member can be added.
    pub fn close(&mut self) {
        self.closed = true;
    }

    #[cfg(test)]
    pub(crate) fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// A test hook: the next [`Fragmenter::assign`] panics once its first chunk has made its
    /// leaves, as a bug would, leaving the fragmenter half-updated (the bindings must then
    /// refuse it). Not in the Rust API.
    #[cfg(any(test, feature = "python"))]
    #[doc(hidden)]
    pub(crate) fn fail_next_assign(&mut self) {
        self.fail_next_assign = true;
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
        for bad in std::mem::take(&mut call.invalid) {
            if on_invalid == OnInvalid::Raise {
                return Err(Error::InvalidMember {
                    row: bad.row,
                    reason: format!("{}: {}", bad.column, bad.reason),
                });
            }
            // A member without an id is never assigned: it could not be published.
            let rejected = on_invalid == OnInvalid::Reject || bad.column == "id";
            if rejected {
                skip.get_or_insert_with(|| vec![false; total])[bad.row as usize] = true;
            }
            invalid.push(Invalid { rejected, ..bad });
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
        self.ids.reserve(new);
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
                #[cfg(any(test, feature = "python"))]
                if std::mem::take(&mut self.fail_next_assign) {
                    panic!("a failure forced by the test hook");
                }
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
}
