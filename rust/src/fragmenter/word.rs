//! Key words.

use super::MAX_LEVELS;

/// The composite key of a leaf: one word per fragmentation, zero past the last. Hashed word by
/// word (the derived slice hash goes byte by byte through the hasher).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LeafKey(pub(super) [u64; MAX_LEVELS]);

impl std::hash::Hash for LeafKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for w in self.0 {
            state.write_u64(w);
        }
    }
}

/// The word of a missing or invalid value, at every level.
pub(super) const UNKNOWN: u64 = u64::MAX;
pub(super) const SIGN: u64 = 1 << 63;

/// A time bucket ordinal as a key word: order kept, and `UNKNOWN` would be `i64::MAX`, which no
/// instant reaches at any granularity (a plain cast made day -1, 1969-12-31, unknown).
#[inline]
pub(super) fn time_word(key: i64) -> u64 {
    key as u64 ^ SIGN
}

#[inline]
pub(super) fn time_key(word: u64) -> i64 {
    (word ^ SIGN) as i64
}
