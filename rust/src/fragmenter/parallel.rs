//! Vectors written in parallel parts without zeroing them first: each task fills its own
//! slice of the spare capacity, and the length is set once every part is known to be full.
//! The output columns of a call are several hundred MB on large calls; zeroing them first
//! costs as much as writing them.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// One part of a vector being written in parallel (see [`par_write`]).
pub(super) struct Part<'a, T> {
    pub(super) out: &'a mut [MaybeUninit<T>],
    pub(super) len: usize,
}

impl<T> Part<'_, T> {
    #[inline]
    pub(super) fn push(&mut self, value: T) {
        self.out[self.len].write(value);
        self.len += 1;
    }

    /// Pushes `values`, zipped with the free slots so that a loop over slices vectorises.
    #[inline]
    pub(super) fn extend(&mut self, values: impl ExactSizeIterator<Item = T>) {
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
pub(super) fn parts_of<'a, T>(v: &'a mut Vec<T>, lens: &[usize]) -> Vec<Part<'a, T>> {
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
pub(super) fn par_write<T: Copy + Send + Sync>(
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
