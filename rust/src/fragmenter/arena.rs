//! Arena.

use arrow_array::StringArray;
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use rayon::prelude::*;

use super::Fragmenter;

impl Fragmenter {
    /// The canonical id of a bucket (DESIGN.md §4), the empty string for the root.
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
    pub(super) fn id_arrays(&self, buckets: &[u32]) -> Vec<StringArray> {
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
}

/// The block [`copy_ids`] copies per id.
pub(super) const WIDE: usize = 64;

/// Copies the ids of `buckets` (from the arena and ends `ids`) to `out`, at `offsets`, each
/// as one fixed-size block of `WIDE` bytes (no `memcpy` call, no branch on its length): the
/// bytes past its end are garbage that the next id overwrites, and the last one's fall into
/// the spare room of `out`.
///
/// # Safety
/// `out` must be valid for writes of the ids' total length plus `WIDE` bytes, and `offsets`
/// the running sums of the ids' lengths, from 0.
#[inline(always)]
pub(super) unsafe fn copy_ids(
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
pub(super) unsafe fn copy_ids_avx2(
    ids: (&[u8], &[usize]),
    buckets: &[u32],
    offsets: &[i32],
    out: *mut u8,
) {
    // SAFETY: the caller's promise.
    unsafe { copy_ids(ids, buckets, offsets, out) }
}
