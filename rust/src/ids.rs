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
//!
//! The log is a sequence of segments, each `"LDESSEEN" | n: u64 LE | n digests | BLAKE3 of
//! all that precedes in the segment (32 bytes)`: [`SeenIds::admit`] returns one per call (none
//! when nothing is admitted), [`SeenIds::records`] one for the whole set, and segments may be
//! concatenated. [`SeenIds::load`] refuses a log with any changed, added, lost or cut byte (but
//! for a cut between two segments, which leaves a log of the first ones), and
//! allocates nothing sized by a count before checking it against the bytes present. A log
//! written before the segments (bare digests, a multiple of 16 bytes) is still read as it was,
//! with no checksum to check; a log that starts with a damaged segment header (at most 8 bits
//! away from `"LDESSEEN"`) is never taken for one.

use arrow_array::{Array, BooleanArray};
use arrow_schema::DataType;
use rayon::prelude::*;

use crate::columns::Strings;

/// Bytes of one digest.
pub(crate) const RECORD: usize = 16;

const MAGIC: &[u8; 8] = b"LDESSEEN";
/// Bytes of a segment's header: the magic and the digest count.
const HEAD: usize = 16;
const CHECKSUM: usize = blake3::OUT_LEN;

/// One segment of digests (see the module docs); nothing for no digests.
fn segment(digests: impl ExactSizeIterator<Item = u128>) -> Vec<u8> {
    let n = digests.len();
    if n == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(HEAD + n * RECORD + CHECKSUM);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(n as u64).to_le_bytes());
    for d in digests {
        out.extend_from_slice(&d.to_le_bytes());
    }
    let checksum = blake3::hash(&out);
    out.extend_from_slice(checksum.as_bytes());
    out
}

/// Why a member-id log is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// `segment` counts from 1.
    #[error("corrupt member-id log: {what} in segment {segment}")]
    Segment { what: &'static str, segment: usize },
    #[error("corrupt member-id log: {0} bytes, neither segments nor bare digests")]
    Length(usize),
}

/// The digest bytes of every segment of `log`, each checked.
fn segments(mut log: &[u8]) -> Result<Vec<&[u8]>, LogError> {
    let mut out = Vec::new();
    while !log.is_empty() {
        let at = |what| LogError::Segment {
            what,
            segment: out.len() + 1,
        };
        if log.len() < HEAD + CHECKSUM || &log[..MAGIC.len()] != MAGIC {
            return Err(at("no segment header"));
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(&log[MAGIC.len()..HEAD]);
        let room = (log.len() - HEAD - CHECKSUM) / RECORD;
        let n = usize::try_from(u64::from_le_bytes(count))
            .ok()
            .filter(|&n| n <= room)
            .ok_or_else(|| at("a digest count beyond the bytes"))?;
        let end = HEAD + n * RECORD;
        if blake3::hash(&log[..end]).as_bytes() != &log[end..end + CHECKSUM] {
            return Err(at("checksum mismatch"));
        }
        out.push(&log[HEAD..end]);
        log = &log[end + CHECKSUM..];
    }
    Ok(out)
}

#[derive(Debug, Default)]
pub struct SeenIds {
    seen: DigestSet,
}

/// Digests sorted within buckets by their top bits (digests are uniform): 16 bytes a member
/// and a few percent, with no rehash of the whole set as it grows — a hash set holds up to
/// twice that, and three times while it doubles, which is what made a publish run's memory
/// grow with the stream (docs/architecture.md, "Memory"). A bucket is split in two when the
/// average bucket passes [`DigestSet::SPLIT_AT`], one bucket at a time.
#[derive(Debug)]
struct DigestSet {
    /// `buckets.len() == 1 << bits`; bucket `d >> (128 - bits)` holds `d`, sorted.
    buckets: Vec<Vec<u128>>,
    bits: u32,
    len: usize,
}

impl Default for DigestSet {
    fn default() -> Self {
        Self {
            buckets: vec![Vec::new(); 1 << Self::FIRST_BITS],
            bits: Self::FIRST_BITS,
            len: 0,
        }
    }
}

impl DigestSet {
    const FIRST_BITS: u32 = 8;
    /// Average digests a bucket before the buckets split: a lookup is a binary search and an
    /// insertion moves half a bucket (a few kB).
    const SPLIT_AT: usize = 192;

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn bucket(&self, d: u128) -> usize {
        (d >> (128 - self.bits)) as usize
    }

    fn contains(&self, d: &u128) -> bool {
        self.buckets[self.bucket(*d)].binary_search(d).is_ok()
    }

    /// Whether `d` was new (and is now in).
    fn insert(&mut self, d: u128) -> bool {
        let b = self.bucket(d);
        let bucket = &mut self.buckets[b];
        let Err(at) = bucket.binary_search(&d) else {
            return false;
        };
        if bucket.len() == bucket.capacity() {
            // Grows by an eighth, not doubling: little spare room in the whole set.
            bucket.reserve_exact((bucket.len() / 8).max(4));
        }
        bucket.insert(at, d);
        self.len += 1;
        if self.len > self.buckets.len() * Self::SPLIT_AT && self.bits < 32 {
            self.split();
        }
        true
    }

    /// Doubles the buckets: each one's lower and upper part (by the next bit) become two.
    fn split(&mut self) {
        let bit = 127 - self.bits;
        let old = std::mem::take(&mut self.buckets);
        let mut buckets = Vec::with_capacity(old.len() * 2);
        for mut lower in old {
            let at = lower.partition_point(|d| (d >> bit) & 1 == 0);
            let upper = lower[at..].to_vec();
            lower.truncate(at);
            lower.shrink_to_fit();
            buckets.push(lower);
            buckets.push(upper);
        }
        self.buckets = buckets;
        self.bits += 1;
    }

    /// Every digest, in ascending order.
    fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.buckets.iter().flatten().copied()
    }
}

fn digest(id: &str) -> u128 {
    let hash = blake3::hash(id.as_bytes());
    let mut first = [0u8; RECORD];
    first.copy_from_slice(&hash.as_bytes()[..RECORD]);
    u128::from_le_bytes(first)
}

impl SeenIds {
    /// How many ids the set holds.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Whether `id` was admitted (or loaded).
    pub fn contains(&self, id: &str) -> bool {
        self.seen.contains(&digest(id))
    }

    /// Adds the digests of a log (segments as [`SeenIds::admit`] and [`SeenIds::records`]
    /// return them, concatenated); nothing if the log is refused.
    pub fn load(&mut self, log: &[u8]) -> Result<(), LogError> {
        let damaged_header = log.len() >= MAGIC.len() && {
            let mut first = [0u8; 8];
            first.copy_from_slice(&log[..MAGIC.len()]);
            (u64::from_le_bytes(first) ^ u64::from_le_bytes(*MAGIC)).count_ones() <= 8
        };
        let parts = if damaged_header {
            segments(log)?
        } else if log.len().is_multiple_of(RECORD) {
            vec![log] // written before segments
        } else {
            return Err(LogError::Length(log.len()));
        };
        self.insert(&parts);
        Ok(())
    }

    /// [`SeenIds::load`] of a log of segments only: bare digests (which no checksum guards)
    /// are refused too.
    pub fn load_segments(&mut self, log: &[u8]) -> Result<(), LogError> {
        let parts = segments(log)?;
        self.insert(&parts);
        Ok(())
    }

    fn insert(&mut self, parts: &[&[u8]]) {
        for r in parts.iter().flat_map(|p| p.chunks_exact(RECORD)) {
            let mut d = [0u8; RECORD];
            d.copy_from_slice(r);
            self.seen.insert(u128::from_le_bytes(d));
        }
    }

    /// Every digest, sorted (so that a compacted log does not depend on hashing order), as one
    /// segment.
    pub fn records(&self) -> Vec<u8> {
        segment(ExactLen(self.seen.iter(), self.seen.len()))
    }

    /// Admits the ids of one batch in order: per row, whether it is the first occurrence of
    /// its id in the stream (a null id is not judged here: true), and the segment of the
    /// admitted ids' digests, to append to the log.
    pub(crate) fn admit<'a>(
        &mut self,
        n: usize,
        id: impl Fn(usize) -> Option<&'a str> + Sync,
    ) -> (Vec<bool>, Vec<u8>) {
        let digests: Vec<Option<u128>> =
            (0..n).into_par_iter().map(|i| id(i).map(digest)).collect();
        let mut admitted = Vec::with_capacity(n);
        let first = (digests.into_iter())
            .map(|d| match d {
                None => true,
                Some(d) if self.seen.insert(d) => {
                    admitted.push(d);
                    true
                }
                Some(_) => false,
            })
            .collect();
        (first, segment(admitted.into_iter()))
    }

    /// [`SeenIds::admit`] of a string array of ids: the first-occurrence mask as a boolean
    /// array, and the segment.
    pub fn admit_array(&mut self, ids: &dyn Array) -> Result<(BooleanArray, Vec<u8>), NotStrings> {
        let strings = Strings::try_new(ids).ok_or_else(|| NotStrings(ids.data_type().clone()))?;
        let (first, segment) = self.admit(strings.len(), |i| strings.get(i));
        Ok((BooleanArray::from(first), segment))
    }
}

/// An iterator of a known length (the set's digests, for [`segment`]).
struct ExactLen<I>(I, usize);

impl<I: Iterator<Item = u128>> Iterator for ExactLen<I> {
    type Item = u128;
    fn next(&mut self) -> Option<u128> {
        let next = self.0.next();
        self.1 -= usize::from(next.is_some());
        next
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.1, Some(self.1))
    }
}

impl<I: Iterator<Item = u128>> ExactSizeIterator for ExactLen<I> {}

/// Why [`SeenIds::admit_array`] refuses its ids.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("id: {0} is not a string array")]
pub struct NotStrings(pub DataType);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admit_array_masks_repeats_and_refuses_other_types() {
        use arrow_array::{Int64Array, LargeStringArray};
        let mut seen = SeenIds::default();
        let ids =
            LargeStringArray::from(vec![Some("http://ex.org/a"), None, Some("http://ex.org/a")]);
        let (first, segment) = seen.admit_array(&ids).expect("strings");
        assert_eq!(
            first.iter().collect::<Vec<_>>(),
            [Some(true), Some(true), Some(false)]
        );
        assert!(first.nulls().is_none());
        let mut reloaded = SeenIds::default();
        reloaded.load(&segment).expect("segment");
        assert_eq!(reloaded.len(), 1);
        let (again, _) = reloaded.admit_array(&ids.slice(0, 1)).expect("strings");
        assert!(!again.value(0));
        let err = seen
            .admit_array(&Int64Array::from(vec![1]))
            .expect_err("not strings");
        assert_eq!(err.to_string(), "id: Int64 is not a string array");
    }

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
        assert_eq!(records.len(), HEAD + 2 * RECORD + CHECKSUM);
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
        assert_eq!(
            SeenIds::default()
                .load(&[0; 17])
                .expect_err("an error")
                .to_string(),
            "corrupt member-id log: 17 bytes, neither segments nor bare digests"
        );
        // Nothing admitted: no segment.
        assert!(seen
            .admit(1, batch(&[Some("http://ex.org/a")]))
            .1
            .is_empty());
    }

    fn log() -> (SeenIds, Vec<u8>) {
        let mut seen = SeenIds::default();
        let ids: Vec<String> = (0..40).map(|i| format!("http://ex.org/{i}")).collect();
        let mut log = Vec::new();
        for part in ids.chunks(15) {
            log.extend(seen.admit(part.len(), |i| Some(part[i].as_str())).1);
        }
        (seen, log)
    }

    #[test]
    fn every_changed_added_lost_or_cut_byte_of_a_log_is_refused() {
        let (seen, log) = log();
        let boundaries = [15, 30].map(|n| n * RECORD + (HEAD + CHECKSUM) * n / 15);
        let mut again = SeenIds::default();
        again.load(&log).expect("log");
        assert_eq!(again.records(), seen.records());
        let refused = |bytes: &[u8]| {
            let mut s = SeenIds::default();
            let refused = s.load(bytes).is_err();
            refused && s.is_empty()
        };
        for at in 0..log.len() {
            for bit in [0, 3, 7] {
                let mut flipped = log.clone();
                flipped[at] ^= 1 << bit;
                assert!(refused(&flipped), "bit {bit} of byte {at}");
            }
            let mut inserted = log.clone();
            inserted.insert(at, 0);
            assert!(refused(&inserted), "byte inserted at {at}");
            let mut deleted = log.clone();
            deleted.remove(at);
            assert!(refused(&deleted), "byte {at} deleted");
            // A cut between two segments leaves a log of the first ones (the file is written
            // whole, atomically, by its user).
            if at > 0 && !boundaries.contains(&at) {
                assert!(refused(&log[..at]), "cut at {at}");
            }
        }
        // A count that would reach past the bytes is refused before anything is reserved.
        let mut huge = log.clone();
        huge[MAGIC.len()..HEAD].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        assert!(refused(&huge));
    }

    #[test]
    fn the_digest_set_splits_its_buckets_and_stays_sorted_and_exact() {
        let mut set = DigestSet::default();
        let mut oracle = std::collections::BTreeSet::new();
        let mut x = 0x9E37_79B9_7F4A_7C15_u128;
        for i in 0..200_000u128 {
            // A multiplicative sequence spreads over the top bits; every fifth is a repeat.
            x = x
                .wrapping_mul(0x2545_F491_4F6C_DD1D_u128 | 1)
                .wrapping_add(i % 7);
            let d = if i % 5 == 0 && i > 0 {
                *oracle
                    .iter()
                    .nth((i as usize) % oracle.len().min(64))
                    .expect("some")
            } else {
                x
            };
            assert_eq!(set.insert(d), oracle.insert(d));
        }
        assert!(set.bits > DigestSet::FIRST_BITS);
        assert_eq!(set.len(), oracle.len());
        assert!(!set.is_empty());
        assert!(set.iter().eq(oracle.iter().copied()));
        assert!(oracle.iter().all(|d| set.contains(d)));
        assert!(!set.contains(&0) || oracle.contains(&0));
    }

    #[test]
    fn logs_of_bare_digests_are_still_read() {
        let (seen, _) = log();
        let records = seen.records();
        let bare = &records[HEAD..records.len() - CHECKSUM];
        let mut old = SeenIds::default();
        old.load(bare).expect("bare digests");
        assert_eq!(old.records(), records);
        // ... but not where only segments are expected.
        let mut strict = SeenIds::default();
        assert_eq!(
            strict.load_segments(bare).expect_err("bare digests"),
            LogError::Segment {
                what: "no segment header",
                segment: 1
            }
        );
        assert!(strict.is_empty());
        strict.load_segments(&records).expect("segments");
        assert_eq!(strict.len(), 40);
        assert!(strict.contains("http://ex.org/39"));
        assert!(!strict.contains("http://ex.org/40"));
    }
}
