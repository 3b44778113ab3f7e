//! What changed since a point: the buckets made after it, and the older buckets that gained
//! members or dropped pages, each with its member count and first page at the point. Kept up to date by `assign` (one entry
//! per bucket, on its first gain), so that [`Fragmenter::changes`] and
//! [`Fragmenter::commit`] cost what changed, not what exists (docs/architecture.md,
//! "Embedding in a live server").

use super::Fragmenter;

#[derive(Debug, Clone, Default)]
pub(super) struct Since {
    /// Buckets, references and `closed` at the point; buckets from `buckets` on are new.
    pub(super) buckets: usize,
    pub(super) references: usize,
    pub(super) closed: bool,
    /// One bit per bucket older than the point: whether it is in `touched`.
    seen: Vec<u64>,
    /// The older buckets that gained members or dropped pages, in the order they first did,
    /// with their member count and first page at the point.
    pub(super) touched: Vec<(u32, u64, u32)>,
}

impl Since {
    /// The point where `f` stands now.
    pub(super) fn now(f: &Fragmenter) -> Since {
        let mut s = Since::default();
        s.move_to(f.buckets.len(), f.references.len(), f.closed);
        s
    }

    /// Moves the point to (`buckets`, `references`, `closed`), in O(what was touched).
    pub(super) fn move_to(&mut self, buckets: usize, references: usize, closed: bool) {
        for &(b, _, _) in &self.touched {
            self.seen[b as usize / 64] = 0;
        }
        self.touched.clear();
        self.seen.resize(buckets.div_ceil(64), 0);
        (self.buckets, self.references, self.closed) = (buckets, references, closed);
    }

    /// Bucket `bucket`, which held `count` members from page `first` on, changes.
    #[inline]
    pub(super) fn touch(&mut self, bucket: u32, count: u64, first: u32) {
        let b = bucket as usize;
        if b < self.buckets {
            let (word, bit) = (b / 64, 1u64 << (b % 64));
            if self.seen[word] & bit == 0 {
                self.seen[word] |= bit;
                self.touched.push((bucket, count, first));
            }
        }
    }

    /// Roughly how much changed since the point (buckets changed or made), for the binding's
    /// choice to keep the GIL.
    pub(super) fn work(&self, f: &Fragmenter) -> usize {
        self.touched.len() + (f.buckets.len() - self.buckets)
    }

    /// Whether `f` is where this point is.
    pub(super) fn is_current(&self, f: &Fragmenter) -> bool {
        self.touched.is_empty()
            && self.buckets == f.buckets.len()
            && self.references == f.references.len()
            && self.closed == f.closed
    }
}
