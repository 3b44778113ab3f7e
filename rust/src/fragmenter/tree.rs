//! The bucket tree: buckets, their steps from their parents, and their ids.
//!
//! A bucket is its parent and one [`Step`]: a tile, a time bucket at one granularity, a
//! reference, a level's `unknown` bucket, or a hub (`tile=0/0/0`, `reference=`) that groups a
//! level's tiles or references under one node. A leaf is the last step of the last level; only
//! leaves hold members. Leaves are found by their composite key (`Fragmenter::leaves`), inner
//! buckets by their parent and step (`Fragmenter::children`, small). A new leaf is made under
//! its parent if that was met before (`Fragmenter::parents`: its id is the parent's and one
//! pair), else by a walk from the root that makes the missing buckets on the way. Each bucket's
//! id is written once, when it is made, into the arena (see `arena.rs`).

use std::fmt::Write as _;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::word::{ref_id, ref_word, time_key, time_word, LeafKey, TileXY, UNKNOWN};
use super::{Fragmenter, MAX_LEVELS};
use crate::timebucket::{self, Granularity};
use crate::view::Fragmentation;

/// How a bucket hangs off its tree parent; `level` is the index of its fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(super) enum Step {
    Root,
    GeoHub,
    Tile { x: u32, y: u32 },
    Time { g: Granularity, key: i64 },
    RefHub,
    Ref { id: u32 },
    Unknown,
}

impl Step {
    fn tile(t: TileXY) -> Step {
        Step::Tile { x: t.x, y: t.y }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Bucket {
    pub(super) parent: u32,
    pub(super) level: u8,
    pub(super) step: Step,
}

/// An inner bucket's place in the tree: its parent and the step from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct ChildKey {
    pub(super) parent: u32,
    pub(super) step: Step,
}

/// The parent of the leaves below one up key (see `Fragmenter::parents`), and where in the
/// arena the id lies that theirs extend: the parent's, or a hub's parent's.
#[derive(Debug, Clone)]
pub(super) struct KnownParent {
    pub(super) bucket: u32,
    pub(super) id: Range<usize>,
}

/// What a walk from the root made: the leaf, its parent, and the bucket whose id the leaf's
/// extends (the parent, or a hub's parent: a hub's own id is not part of its children's).
#[derive(Debug, Clone, Copy)]
pub(super) struct Walked {
    pub(super) leaf: u32,
    pub(super) parent: u32,
    pub(super) base: u32,
}

impl Fragmenter {
    pub(super) fn intern(&mut self, value: &str) -> u32 {
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
    pub(super) fn walk(&mut self, composite: &[u64; MAX_LEVELS]) -> Walked {
        // The id of the bucket reached so far, written from the key as the walk goes down (no
        // reads of parents' ids from the arena: on sparse data those miss the cache).
        let mut id = std::mem::take(&mut self.scratch);
        id.clear();
        let mut b = 0u32;
        // Before the last step: its parent, and the bucket `id` was the id of.
        let (mut parent, mut base) = (0u32, 0u32);
        let n_levels = self.view.fragmentations.len();
        for (l, &k) in composite.iter().enumerate().take(n_levels) {
            let (level, last) = (l as u8, l + 1 == n_levels);
            if k == UNKNOWN {
                (parent, base) = (b, b);
                b = self.child(b, level, Step::Unknown, &mut id, last);
                continue;
            }
            match &self.view.fragmentations[l] {
                Fragmentation::Geospatial { .. } => {
                    let hub = self.hub(b, level, Step::GeoHub, &mut id);
                    (parent, base) = (hub, b);
                    b = self.child(hub, level, Step::tile(TileXY::of_word(k)), &mut id, last);
                }
                Fragmentation::HierarchicalTime {
                    max_granularity, ..
                } => {
                    let max = *max_granularity;
                    for g in max.levels() {
                        let key = timebucket::coarsen(time_key(k), max, g);
                        (parent, base) = (b, b);
                        b = self.child(b, level, Step::Time { g, key }, &mut id, last && g == max);
                    }
                }
                Fragmentation::Reference { .. } => {
                    let hub = self.hub(b, level, Step::RefHub, &mut id);
                    (parent, base) = (hub, b);
                    let step = Step::Ref { id: ref_id(k) };
                    b = self.child(hub, level, step, &mut id, last);
                }
            }
        }
        self.scratch = id;
        Walked {
            leaf: b,
            parent,
            base,
        }
    }

    /// Creates the leaf of a composite key that `leaves` does not hold: under a parent met
    /// before, the leaf's id is its base's (from the arena) and one pair; else by the walk.
    pub(super) fn new_leaf(&mut self, key: &LeafKey) -> u32 {
        let n_levels = self.view.fragmentations.len();
        let Some(last) = n_levels.checked_sub(1) else {
            return self.walk(&key.0).leaf;
        };
        let k = key.0[last];
        let (up_word, step) = if k == UNKNOWN {
            (UNKNOWN, Step::Unknown)
        } else {
            match &self.view.fragmentations[last] {
                Fragmentation::Geospatial { .. } => (0, Step::tile(TileXY::of_word(k))),
                Fragmentation::HierarchicalTime {
                    max_granularity, ..
                } => {
                    let (g, key) = (*max_granularity, time_key(k));
                    // The parent is the bucket one granularity up (none above a year).
                    let up = (g.levels().take_while(|&p| p < g).last())
                        .map_or(0, |p| time_word(timebucket::coarsen(key, g, p)));
                    (up, Step::Time { g, key })
                }
                Fragmentation::Reference { .. } => (0, Step::Ref { id: ref_id(k) }),
            }
        };
        let mut up = *key;
        up.0[last] = up_word;
        if let Some(known) = self.parents.get(&up) {
            let parent = known.bucket;
            let mut id = std::mem::take(&mut self.scratch);
            id.clear();
            id.push_str(self.ids.slice(known.id.clone()));
            let leaf = self.child(parent, last as u8, step, &mut id, true);
            self.scratch = id;
            return leaf;
        }
        let walked = self.walk(&key.0);
        let known = KnownParent {
            bucket: walked.parent,
            id: self.ids.range(walked.base),
        };
        self.parents.insert(up, known);
        walked.leaf
    }

    /// The hub below `parent` (created if new); `id` (the parent's) is left as it was: the
    /// hub's children extend the parent's id, not the hub's.
    pub(super) fn hub(&mut self, parent: u32, level: u8, step: Step, id: &mut String) -> u32 {
        let mark = id.len();
        let hub = self.child(parent, level, step, id, false);
        id.truncate(mark);
        hub
    }

    /// The child of `parent` reached by `step`, created if new; `id`, the id of the bucket it
    /// extends, becomes the child's. A leaf is always new (`leaves` holds every leaf), and only
    /// `leaves` finds it: `children` holds the inner buckets only, so it stays small.
    pub(super) fn child(
        &mut self,
        parent: u32,
        level: u8,
        step: Step,
        id: &mut String,
        leaf: bool,
    ) -> u32 {
        if !id.is_empty() {
            id.push('&');
        }
        self.write_pair(id, level, step);
        if !leaf {
            if let Some(&c) = self.children.get(&ChildKey { parent, step }) {
                return c;
            }
        }
        self.ids.push(id);
        let c = self.buckets.len() as u32;
        self.buckets.push(Bucket {
            parent,
            level,
            step,
        });
        self.counts.push(0);
        if !leaf {
            self.children.insert(ChildKey { parent, step }, c);
        }
        c
    }

    /// Whether a bucket is a leaf: the last step of the last level (the root without levels).
    pub(super) fn is_leaf(&self, b: &Bucket) -> bool {
        let n_levels = self.view.fragmentations.len();
        if n_levels == 0 || b.step == Step::Root {
            return n_levels == 0 && b.step == Step::Root;
        }
        b.level as usize + 1 == n_levels && self.ends_level(b)
    }

    /// Whether a bucket is the last step of its level (what the next level hangs off).
    pub(super) fn ends_level(&self, b: &Bucket) -> bool {
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
    pub(super) fn composite_of(&self, leaf: u32) -> LeafKey {
        let mut key = LeafKey([0; MAX_LEVELS]);
        let mut b = leaf;
        while b != 0 {
            let bucket = self.buckets[b as usize];
            let word = match (
                &self.view.fragmentations[bucket.level as usize],
                bucket.step,
            ) {
                (_, Step::Unknown) => Some(UNKNOWN),
                (_, Step::Tile { x, y }) => Some(TileXY { x, y }.word()),
                (_, Step::Ref { id }) => Some(ref_word(id)),
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

    pub(super) fn level_key(&self, level: u8) -> &str {
        match &self.view.fragmentations[level as usize] {
            Fragmentation::Geospatial { .. } => "tile",
            Fragmentation::HierarchicalTime { .. } => "year",
            Fragmentation::Reference { key, .. } => key,
        }
    }

    pub(super) fn zoom(&self, level: u8) -> u8 {
        match &self.view.fragmentations[level as usize] {
            Fragmentation::Geospatial { max_zoom, .. } => *max_zoom,
            _ => 0,
        }
    }

    pub(super) fn write_pair(&self, s: &mut String, level: u8, step: Step) {
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
}

/// Percent-encodes a bucket value so that the descriptor stays one unambiguous query string:
/// everything but unreserved characters and the sub-delimiters that are safe in a query value.
pub(crate) fn percent_encode_value(out: &mut String, value: &str) {
    for &b in value.as_bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~/:@!$'()*,;?".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}
