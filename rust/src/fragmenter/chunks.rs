//! Phases 2 and 3 of a call: chunk numbering, the sequential pass, and the output columns.
//!
//! Phase 2 cuts the members (in processing order) into chunks; each chunk, in parallel, numbers
//! its distinct leaf keys in order of first appearance with a small open-addressing table
//! ([`Numbering`], in cache), counts each key's entries, and looks up the leaves that already
//! exist. [`first_appearances`] then finds, in hash partitions in parallel, where each new key
//! first appears across the chunks. The sequential pass ([`Fragmenter::reserve`]) goes through
//! the chunks' keys in order: it makes a leaf at each first appearance and reserves each key's
//! page slots, so that the result is the one a member-by-member loop gives, whatever the
//! chunking and the partitioning. Phase 3 ([`write_entries`]) writes each chunk's rows, leaves
//! and pages from its reserved slots, as soon as the pass is past the chunk.

use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::keys::LevelKeys;
use super::parallel::{parts_of, Part};
use super::word::LeafKey;
use super::{Assignments, Fragmenter, MAX_LEVELS};

/// The leaf keys of one chunk of members, numbered in order of first appearance (phase 2).
pub(super) struct Chunk {
    /// First position (in processing order) of the chunk.
    pub(super) start: usize,
    pub(super) keys: Vec<LeafKey>,
    /// Entries per key.
    pub(super) counts: Vec<u64>,
    /// Per key, its leaf if it existed before the call, else [`NEW`].
    pub(super) known: Vec<u32>,
    /// Per key, filled by the sequential pass: its leaf and the slot of its first entry.
    pub(super) slots: Vec<Slot>,
    /// Per entry (member × leaf), in order: the key's number.
    pub(super) local: Vec<u32>,
    /// Per entry: the row; `None` when every position gives one entry (one word per level, no
    /// member left out), so that the rows follow from the order.
    pub(super) rows: Option<Vec<u64>>,
}

impl Chunk {
    /// A chunk whose keys are numbered; the sequential pass fills `known` and `slots`.
    pub(super) fn numbered(
        start: usize,
        numbered: NumberedKeys,
        local: Vec<u32>,
        rows: Option<Vec<u64>>,
    ) -> Chunk {
        Chunk {
            start,
            keys: numbered.keys,
            counts: numbered.counts,
            known: Vec::new(),
            slots: Vec::new(),
            local,
            rows,
        }
    }
}

/// A chunk's distinct keys in the order of their numbers, and each one's count of entries.
#[derive(Debug, Default)]
pub(super) struct NumberedKeys {
    pub(super) keys: Vec<LeafKey>,
    pub(super) counts: Vec<u64>,
}

/// A chunk key without a leaf before the call.
pub(super) const NEW: u32 = u32::MAX;

/// Where the next member of a leaf goes: its page, and the room left on it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    pub(super) leaf: u32,
    pub(super) room: u32,
    pub(super) page: u64,
}

impl Fragmenter {
    /// Maps a chunk's distinct keys (keys `base..` of the call) to leaf buckets and reserves
    /// the places of its members in them. A new key's leaf is made at its first appearance
    /// (`appear`, from [`first_appearances`]), whose entry then becomes the leaf, and is pushed
    /// to `fresh`: no lookup in `leaves` here.
    pub(super) fn reserve(
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
            let first_page = self.first_page(leaf);
            self.since_changes.touch(leaf, first, first_page);
            self.since_commit.touch(leaf, first, first_page);
            slots.push(Slot {
                leaf,
                room: (size - first % size) as u32,
                page: first / size + 1,
            });
        }
        ch.slots = slots;
    }
}

/// Phase 2, one chunk of positions `start..end` (in processing order): each entry's leaf key,
/// numbered within the chunk in order of first appearance.
pub(super) fn chunk_keys(
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
pub(super) fn number_rows<const N: usize>(levels: &[LevelKeys], start: usize, end: usize) -> Chunk {
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
pub(super) struct Numbering<const N: usize> {
    pub(super) table: Vec<Entry<N>>,
    pub(super) shift: u32,
    pub(super) len: u32,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Entry<const N: usize> {
    pub(super) key: [u64; N],
    /// The number + 1; 0 marks an empty slot.
    pub(super) number: u32,
    pub(super) count: u32,
}

impl<const N: usize> Numbering<N> {
    pub(super) fn with_bits(bits: u32) -> Numbering<N> {
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
    pub(super) fn slot(&self, key: &[u64; N]) -> usize {
        (mix(key) >> self.shift) as usize
    }

    /// Counts one more entry of `key`; its number: the count of distinct keys before its
    /// first appearance.
    #[inline]
    pub(super) fn count(&mut self, key: &[u64; N]) -> u32 {
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
    pub(super) fn insert(&mut self, key: &[u64; N], mut i: usize) -> u32 {
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

    pub(super) fn free_slot(&self, key: &[u64; N]) -> usize {
        let mask = self.table.len() - 1;
        let mut i = self.slot(key);
        while self.table[i].number != 0 {
            i = (i + 1) & mask;
        }
        i
    }

    pub(super) fn grow(&mut self) {
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
    pub(super) fn into_keys(self) -> NumberedKeys {
        let mut keys = vec![LeafKey([0; MAX_LEVELS]); self.len as usize];
        let mut counts = vec![0; self.len as usize];
        for e in self.table.into_iter().filter(|e| e.number > 0) {
            keys[e.number as usize - 1].0[..N].copy_from_slice(&e.key);
            counts[e.number as usize - 1] = u64::from(e.count);
        }
        NumberedKeys { keys, counts }
    }
}

/// For each key of the chunks (numbered across them, in order) that had no leaf before the
/// call, the number of its first appearance; [`NEW`] for the others. The keys are split into
/// `parts` hash partitions, each found in its own map by one task that goes through them in
/// order: the result does not depend on `parts`.
pub(super) fn first_appearances(chunks: &[Chunk], parts: usize) -> Vec<u32> {
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
pub(super) fn mix<const N: usize>(key: &[u64; N]) -> u64 {
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

/// The three columns of a call's output, written in parallel parts, one per chunk (phase 3).
pub(super) struct EntryColumns {
    pub(super) rows: Vec<u64>,
    pub(super) buckets: Vec<u32>,
    pub(super) pages: Vec<u32>,
    pub(super) total: usize,
}

/// One chunk's parts of the [`EntryColumns`].
pub(super) struct EntryParts<'a> {
    rows: Part<'a, u64>,
    buckets: Part<'a, u32>,
    pages: Part<'a, u32>,
}

impl EntryColumns {
    pub(super) fn with_room(total: usize) -> EntryColumns {
        EntryColumns {
            rows: Vec::with_capacity(total),
            buckets: Vec::with_capacity(total),
            pages: Vec::with_capacity(total),
            total,
        }
    }

    /// The spare room of the columns cut into one set of parts per chunk (`chunks` hold
    /// the `total` entries).
    pub(super) fn parts(&mut self, chunks: &[Chunk]) -> Vec<EntryParts<'_>> {
        let lens: Vec<usize> = chunks.iter().map(|c| c.local.len()).collect();
        assert_eq!(
            lens.iter().sum::<usize>(),
            self.total,
            "the chunks' entries"
        );
        (parts_of(&mut self.rows, &lens).into_iter())
            .zip(parts_of(&mut self.buckets, &lens))
            .zip(parts_of(&mut self.pages, &lens))
            .map(|((rows, buckets), pages)| EntryParts {
                rows,
                buckets,
                pages,
            })
            .collect()
    }

    /// The columns once every chunk's parts are written in full (`complete`, checked).
    pub(super) fn finish(mut self, complete: bool) -> Assignments {
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
pub(super) fn write_entries(
    ch: &Chunk,
    order: Option<&[usize]>,
    page_size: u32,
    parts: EntryParts<'_>,
) -> bool {
    let EntryParts {
        rows: mut r,
        buckets: mut b,
        pages: mut p,
    } = parts;
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
