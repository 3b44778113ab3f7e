//! The bucket-id arena: every bucket's canonical id (docs/semantics.md, "Bucket ids"), written
//! once when the bucket is made and laid end to end in one string, and the bucket columns of an
//! assignment copied out of it.
//!
//! One string instead of a `String` per bucket: a million buckets are one allocation, a new
//! leaf's id is its parent's (a slice of the arena) and one pair, and the output column is a
//! copy of slices, in fixed-size blocks ([`copy_ids`]) that need no `memcpy` call per id.

use std::ops::Range;

use arrow_array::StringArray;
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use rayon::prelude::*;

use super::Fragmenter;

/// Every bucket's id, concatenated: bucket `b`'s is `text[ends[b]..ends[b + 1]]`.
#[derive(Debug, Clone)]
pub(super) struct IdArena {
    text: String,
    /// `ends[0]` is 0; one more entry than ids.
    ends: Vec<usize>,
}

impl Default for IdArena {
    fn default() -> IdArena {
        IdArena {
            text: String::new(),
            ends: vec![0],
        }
    }
}

impl IdArena {
    /// Appends the id of the next bucket.
    #[inline]
    pub(super) fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(self.text.len());
    }

    /// Where bucket `b`'s id lies in the arena's text.
    #[inline]
    pub(super) fn range(&self, b: u32) -> Range<usize> {
        self.ends[b as usize]..self.ends[b as usize + 1]
    }

    #[inline]
    pub(super) fn get(&self, b: u32) -> &str {
        &self.text[self.range(b)]
    }

    /// A range of the text (from [`IdArena::range`]).
    #[inline]
    pub(super) fn slice(&self, at: Range<usize>) -> &str {
        &self.text[at]
    }

    pub(super) fn reserve(&mut self, ids: usize) {
        self.ends.reserve(ids);
    }

    /// The ids of `buckets` (the `bucket` column of an assignment), as string arrays of at most
    /// `max_rows` rows and fewer than 2^31 bytes each (the reach of Arrow `Utf8` offsets),
    /// built on the rayon pool.
    pub(super) fn columns(&self, buckets: &[u32], max_rows: usize) -> Vec<StringArray> {
        if buckets.is_empty() {
            return vec![StringArray::from(Vec::<&str>::new())];
        }
        let parts: Vec<Vec<StringArray>> = buckets
            .par_chunks(max_rows.max(1))
            .map(|rows| self.arrays(rows))
            .collect();
        parts.into_iter().flatten().collect()
    }

    /// One array of the ids of `buckets`, or two halves (recursively) if that would not fit.
    fn arrays(&self, buckets: &[u32]) -> Vec<StringArray> {
        let ends = &self.ends;
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
            let mut arrays = self.arrays(a);
            arrays.extend(self.arrays(b));
            return arrays;
        }
        let mut values: Vec<u8> = Vec::with_capacity(end + WIDE);
        let out = values.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        // SAFETY: the capacity of `values` is the ids' total length (`end`, their offsets'
        // sum) plus `WIDE`.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            if std::arch::is_x86_feature_detected!("avx2") {
                copy_ids_avx2(self, buckets, &offsets, out)
            } else {
                copy_ids(self, buckets, &offsets, out)
            }
        }
        // SAFETY: as above.
        #[cfg(not(target_arch = "x86_64"))]
        unsafe {
            copy_ids(self, buckets, &offsets, out)
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
}

/// The block [`copy_ids`] copies per id.
pub(super) const WIDE: usize = 64;

/// Copies the ids of `buckets` from the arena to `out`, at `offsets`, each
/// as one fixed-size block of `WIDE` bytes (no `memcpy` call, no branch on its length): the
/// bytes past its end are garbage that the next id overwrites, and the last one's fall into
/// the spare room of `out`.
///
/// # Safety
/// `out` must be valid for writes of the ids' total length plus `WIDE` bytes, and `offsets`
/// the running sums of the ids' lengths, from 0.
#[inline(always)]
pub(super) unsafe fn copy_ids(ids: &IdArena, buckets: &[u32], offsets: &[i32], out: *mut u8) {
    let (arena, ends) = (ids.text.as_bytes(), ids.ends.as_slice());
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
pub(super) unsafe fn copy_ids_avx2(ids: &IdArena, buckets: &[u32], offsets: &[i32], out: *mut u8) {
    // SAFETY: the caller's promise.
    unsafe { copy_ids(ids, buckets, offsets, out) }
}

impl Fragmenter {
    /// The canonical id of a bucket (docs/semantics.md, "Bucket ids"); the root's is "".
    pub(crate) fn descriptor(&self, bucket: u32) -> &str {
        self.ids.get(bucket)
    }

    /// The ids of `buckets` (the `bucket` column of an assignment), as string arrays of at most
    /// `max_rows` rows and fewer than 2^31 bytes each (the reach of Arrow `Utf8` offsets),
    /// built on the rayon pool.
    pub fn bucket_columns(&self, buckets: &[u32], max_rows: usize) -> Vec<StringArray> {
        self.ids.columns(buckets, max_rows)
    }
}
