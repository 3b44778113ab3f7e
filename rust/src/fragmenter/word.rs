//! Key words: each level's value of a member as one `u64`, and a leaf's composite key as one
//! word per level.
//!
//! Phase 1 turns every value into a word so that the later phases hash, compare and sort plain
//! integers, never strings or enums. This module is the one place that knows how each value
//! becomes a word and back:
//!
//! - a tile is `y << 32 | x` ([`TileXY`]): sorting words sorts tiles by `(y, x)`, the order
//!   of a cover, so a union of covers is deduplicated by sorting words;
//! - a time bucket is its ordinal with the sign bit flipped ([`time_word`]): order kept;
//! - a reference is its number (the call's number in phase 1, the interned id from then on);
//! - [`UNKNOWN`] is a missing or invalid value at every level; no other word equals it (a tile
//!   word has `y < 2^31`, a time word would need the ordinal `i64::MAX`, a reference number is
//!   below `u32::MAX`).

use super::MAX_LEVELS;

/// The word of a missing or invalid value, at every level.
pub(super) const UNKNOWN: u64 = u64::MAX;

const SIGN: u64 = 1 << 63;

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

/// A tile's column and row at the level's zoom (the zoom is the level's, not the word's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TileXY {
    pub(super) x: u32,
    pub(super) y: u32,
}

impl TileXY {
    #[inline]
    pub(super) fn word(self) -> u64 {
        u64::from(self.y) << 32 | u64::from(self.x)
    }

    #[inline]
    pub(super) fn of_word(word: u64) -> TileXY {
        TileXY {
            x: word as u32,
            y: (word >> 32) as u32,
        }
    }
}

/// A time bucket ordinal as a key word: order kept, and `UNKNOWN` would be `i64::MAX`, which no
/// instant reaches at any granularity (a plain cast made day -1, 1969-12-31, unknown).
#[inline]
pub(super) fn time_word(key: i64) -> u64 {
    key as u64 ^ SIGN
}

/// The time bucket ordinal of a [`time_word`].
#[inline]
pub(super) fn time_key(word: u64) -> i64 {
    (word ^ SIGN) as i64
}

/// A reference number (the call's, or an interned reference id) as a key word.
#[inline]
pub(super) fn ref_word(id: u32) -> u64 {
    u64::from(id)
}

/// The reference number of a [`ref_word`].
#[inline]
pub(super) fn ref_id(word: u64) -> u32 {
    word as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_keep_order_and_never_equal_unknown() {
        for (x, y) in [
            (0, 0),
            (5, 7),
            (u32::MAX, (1 << 30) - 1),
            (1, u32::MAX >> 1),
        ] {
            let t = TileXY { x, y };
            assert_eq!(TileXY::of_word(t.word()), t);
            assert_ne!(t.word(), UNKNOWN);
        }
        // Tile words sort by (y, x).
        let a = TileXY { x: 9, y: 1 }.word();
        let b = TileXY { x: 0, y: 2 }.word();
        assert!(a < b);
        for k in [i64::MIN, -1, 0, 1, i64::MAX - 1] {
            assert_eq!(time_key(time_word(k)), k);
            assert_ne!(time_word(k), UNKNOWN);
        }
        assert!(time_word(-1) < time_word(0));
        assert_eq!(time_word(i64::MAX), UNKNOWN);
        assert_eq!(ref_id(ref_word(u32::MAX - 1)), u32::MAX - 1);
    }
}
