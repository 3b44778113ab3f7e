//! Member identity across a stream: which member IRIs were seen before.
//!
//! A stream's members are unique by IRI (the reference server keeps `(collection, subject)`
//! unique and ignores a repeat), and a repeat is worse than redundant: clients keep the first
//! description they meet under an IRI, so a later member with other statements would be lost
//! to them without a word. A publish run therefore admits each IRI once, across windows, files
//! and runs, and reports the repeats.
//!
//! The set holds 128-bit digests (BLAKE3, truncated), not the IRIs: 16 bytes a member, the
//! same in memory and in the log a publish directory keeps of them, with no realistic chance
//! of two IRIs colliding (about 10⁻²⁴ for 10⁷ members).

use rayon::prelude::*;
use rustc_hash::FxHashSet;

/// Bytes of one digest in [`SeenIds::load`] and the records [`SeenIds::admit`] returns.
pub const RECORD: usize = 16;

#[derive(Debug, Default)]
pub struct SeenIds {
    seen: FxHashSet<u128>,
}

fn digest(id: &str) -> u128 {
    let hash = blake3::hash(id.as_bytes());
    let mut first = [0u8; RECORD];
    first.copy_from_slice(&hash.as_bytes()[..RECORD]);
    u128::from_le_bytes(first)
}

impl SeenIds {
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Adds the digests of `records` (as [`SeenIds::admit`] returned them, concatenated).
    pub fn load(&mut self, records: &[u8]) -> Result<(), String> {
        if !records.len().is_multiple_of(RECORD) {
            return Err(format!(
                "{} bytes of member digests: not a multiple of {RECORD}",
                records.len()
            ));
        }
        self.seen.reserve(records.len() / RECORD);
        for r in records.chunks_exact(RECORD) {
            let mut d = [0u8; RECORD];
            d.copy_from_slice(r);
            self.seen.insert(u128::from_le_bytes(d));
        }
        Ok(())
    }

    /// Every digest, sorted (so that a compacted log does not depend on hashing order).
    pub fn records(&self) -> Vec<u8> {
        let mut all: Vec<u128> = self.seen.iter().copied().collect();
        all.par_sort_unstable();
        all.iter().flat_map(|d| d.to_le_bytes()).collect()
    }

    /// Admits the ids of one batch in order: per row, whether it is the first occurrence of
    /// its id in the stream (a null id is not judged here: true), and the records of the
    /// admitted ids, to append to the log.
    pub fn admit<'a>(
        &mut self,
        n: usize,
        id: impl Fn(usize) -> Option<&'a str> + Sync,
    ) -> (Vec<bool>, Vec<u8>) {
        let digests: Vec<Option<u128>> =
            (0..n).into_par_iter().map(|i| id(i).map(digest)).collect();
        self.seen.reserve(n);
        let mut records = Vec::with_capacity(n * RECORD);
        let first = (digests.into_iter())
            .map(|d| match d {
                None => true,
                Some(d) if self.seen.insert(d) => {
                    records.extend_from_slice(&d.to_le_bytes());
                    true
                }
                Some(_) => false,
            })
            .collect();
        (first, records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_refused_within_a_batch_across_batches_and_after_a_reload() {
        let batch = |ids: &[Option<&'static str>]| {
            let ids = ids.to_vec();
            move |i: usize| ids[i]
        };
        let mut seen = SeenIds::default();
        let one = [
            Some("http://ex.org/a"),
            Some("http://ex.org/b"),
            None,
            Some("http://ex.org/a"),
            None,
        ];
        let (first, records) = seen.admit(one.len(), batch(&one));
        assert_eq!(first, [true, true, true, false, true]);
        assert_eq!(records.len(), 2 * RECORD);
        let two = [Some("http://ex.org/b"), Some("http://ex.org/c")];
        let (first, more) = seen.admit(two.len(), batch(&two));
        assert_eq!(first, [false, true]);
        // A set reloaded from the records (any split, or compacted) judges alike.
        let mut reloaded = SeenIds::default();
        reloaded.load(&records).expect("records");
        reloaded.load(&more).expect("records");
        assert_eq!(reloaded.records(), seen.records());
        let mut compacted = SeenIds::default();
        compacted.load(&seen.records()).expect("records");
        let three = [
            Some("http://ex.org/c"),
            Some("http://ex.org/d"),
            Some("http://ex.org/a"),
        ];
        for s in [&mut reloaded, &mut compacted] {
            assert_eq!(s.admit(three.len(), batch(&three)).0, [false, true, false]);
        }
        assert_eq!(compacted.len(), 4);
        assert!(SeenIds::default().load(&[0; 17]).is_err());
    }
}
