//! The journal: what changed since the last commit, as bytes ([`Fragmenter::commit`]), and a
//! state continued by such entries ([`Fragmenter::apply`]). A server saves a whole state once
//! (a base) and then one entry per commit, whose size follows the change: the buckets and
//! references made since, and the new member count and first page of each older bucket that
//! gained members or dropped pages.
//! Compacting is restoring the base with its entries and saving the state again
//! (docs/architecture.md, "Embedding in a live server").
//!
//! Layout of an entry (version 1):
//!
//! ```text
//! "LDESJRNL" | version: u16 LE = 1 | body: postcard of `Entry` | BLAKE3 of all that precedes (32 bytes)
//! ```
//!
//! An entry is applied only to the structure it was made from: a fragmenter of the same view
//! whose buckets and member counts have the digest the entry starts from (a sum of one
//! 128-bit hash per bucket, so that an entry updates it in O(change)), with as many buckets
//! and references. So an entry applied twice, out of order, after a lost one, to a base saved
//! with uncommitted changes or to another fork of the stream is refused (and nothing is
//! counted twice or lost), whatever the history; and everything it adds goes through the
//! checks of a state ([`Fragmenter::extend_checked`]).

use serde::{Deserialize, Serialize};

use super::state::Place;
use super::tree::{Bucket, Step};
use super::{Error, Fragmenter};

const MAGIC: &[u8; 8] = b"LDESJRNL";
const VERSION: u16 = 1;
const HEADER: usize = MAGIC.len() + 2;
const CHECKSUM: usize = blake3::OUT_LEN;

/// A bucket made since the last commit (its id follows from its place).
#[derive(Serialize, Deserialize)]
struct NewBucket {
    parent: u32,
    level: u8,
    step: Step,
}

#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    /// The first 8 bytes of the BLAKE3 hash of the view's JSON.
    view: [u8; 8],
    /// The digest of the structure before and after this entry.
    before: u128,
    after: u128,
    /// Buckets and references the fragmenter had before this entry.
    buckets_before: u64,
    references_before: u64,
    closed: bool,
    #[serde(borrow)]
    references: Vec<&'a str>,
    buckets: Vec<NewBucket>,
    /// Members of each new bucket.
    counts: Vec<u64>,
    /// Older buckets that gained members or dropped pages, by bucket.
    changed: Vec<Changed>,
    /// The first page of each new bucket that dropped pages (in the same commit).
    new_first_pages: Vec<(u32, u32)>,
}

/// An older bucket's change: members and first page, before and now.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Changed {
    bucket: u32,
    count: (u64, u64),
    first: (u32, u32),
}

fn view_digest(f: &Fragmenter) -> [u8; 8] {
    let hash = blake3::hash(f.view.to_json().as_bytes());
    let mut out = [0; 8];
    out.copy_from_slice(&hash.as_bytes()[..8]);
    out
}

/// A fixed 64-bit mix (SplitMix64's finaliser): the digest is saved in entries, so it must not
/// depend on the Rust version, as `std`'s hashers may.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One bucket's share of the digest: its index, place, member count and first page.
fn bucket_hash(index: u32, b: &Bucket, count: u64, first: u32) -> u128 {
    let (kind, word) = match b.step {
        Step::Root => (0, 0),
        Step::GeoHub => (1, 0),
        Step::Tile { x, y } => (2, (u64::from(x) << 32) | u64::from(y)),
        Step::Time { g, key } => (3 + g as u64, key as u64),
        Step::RefHub => (16, 0),
        Step::Ref { id } => (17, u64::from(id)),
        Step::Unknown => (18, 0),
    };
    let words = [
        u64::from(index),
        u64::from(b.parent),
        u64::from(b.level),
        kind,
        word,
        count,
        u64::from(first),
    ];
    let half = |seed: u64| words.iter().fold(seed, |h, &w| mix(h ^ w));
    (u128::from(half(0x6c64_6573_6a72_6e6c)) << 64) | u128::from(half(0x0123_4567_89ab_cdef))
}

impl Fragmenter {
    /// The digest of the structure: the sum of every bucket's hash.
    pub(super) fn digest(&self) -> u128 {
        (self.buckets.iter().zip(&self.counts).enumerate()).fold(0u128, |d, (i, (b, &n))| {
            d.wrapping_add(bucket_hash(i as u32, b, n, self.first_page(i as u32)))
        })
    }

    /// The digest at the last commit, moved by the `changed` buckets and the buckets from
    /// `first_new` on.
    fn digest_after(&self, changed: &[Changed], first_new: usize) -> u128 {
        let mut d = self.committed;
        for c in changed {
            let bucket = &self.buckets[c.bucket as usize];
            d = d.wrapping_sub(bucket_hash(c.bucket, bucket, c.count.0, c.first.0));
            d = d.wrapping_add(bucket_hash(c.bucket, bucket, c.count.1, c.first.1));
        }
        for (i, b) in self.buckets.iter().enumerate().skip(first_new) {
            let (n, first) = (self.counts[i], self.first_page(i as u32));
            d = d.wrapping_add(bucket_hash(i as u32, b, n, first));
        }
        d
    }

    /// How much a [`Fragmenter::commit`] and a [`Fragmenter::changes`] now would write, in
    /// buckets (changed or made).
    pub fn pending_work(&self) -> (usize, usize) {
        (self.since_commit.work(self), self.since_changes.work(self))
    }

    /// What changed since the last commit (or since this fragmenter was made or restored), as
    /// one journal entry, in O(change); empty when nothing changed (no entry is made then).
    pub fn commit(&mut self) -> Vec<u8> {
        let s = &self.since_commit;
        if s.is_current(self) {
            return Vec::new();
        }
        let mut changed: Vec<Changed> = (s.touched.iter())
            .map(|&(b, count, first)| Changed {
                bucket: b,
                count: (count, self.counts[b as usize]),
                first: (first, self.first_page(b)),
            })
            .collect();
        // First-change order follows the chunking; the entry must not.
        changed.sort_unstable();
        let new_first_pages: Vec<(u32, u32)> = (s.buckets as u32..self.buckets.len() as u32)
            .filter_map(|b| self.first_pages.get(&b).map(|&p| (b, p)))
            .collect();
        let after = self.digest_after(&changed, s.buckets);
        let entry = Entry {
            view: view_digest(self),
            before: self.committed,
            after,
            buckets_before: s.buckets as u64,
            references_before: s.references as u64,
            closed: self.closed,
            references: self.references[s.references..]
                .iter()
                .map(String::as_str)
                .collect(),
            buckets: (self.buckets[s.buckets..].iter())
                .map(|b| NewBucket {
                    parent: b.parent,
                    level: b.level,
                    step: b.step,
                })
                .collect(),
            counts: self.counts[s.buckets..].to_vec(),
            changed,
            new_first_pages,
        };
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        let mut out = postcard::to_extend(&entry, out).expect("an entry always serialises");
        let checksum = blake3::hash(&out);
        out.extend_from_slice(checksum.as_bytes());
        self.committed = after;
        let (b, r, c) = (self.buckets.len(), self.references.len(), self.closed);
        self.since_commit.move_to(b, r, c);
        out
    }

    /// Continues this fragmenter by a journal entry (an empty one changes nothing). On an
    /// error the fragmenter may be half changed: drop it (as [`Fragmenter::restore`]'s
    /// callers do).
    pub fn apply(&mut self, entry: &[u8]) -> Result<(), Error> {
        if entry.is_empty() {
            return Ok(());
        }
        let wrong = |what: String| Error::State(format!("journal entry: {what}"));
        if entry.len() < HEADER + CHECKSUM || &entry[..MAGIC.len()] != MAGIC {
            return Err(wrong(
                "not an ldesfrag journal entry (it does not start with LDESJRNL)".to_owned(),
            ));
        }
        let version = u16::from_le_bytes([entry[8], entry[9]]);
        if version != VERSION {
            return Err(wrong(format!(
                "version {version}: this ldesfrag reads version {VERSION}"
            )));
        }
        let end = entry.len() - CHECKSUM;
        if blake3::hash(&entry[..end]).as_bytes() != &entry[end..] {
            return Err(wrong(
                "corrupt: checksum mismatch (bytes were changed, added or lost)".to_owned(),
            ));
        }
        let (e, rest): (Entry, _) = postcard::take_from_bytes(&entry[HEADER..end])
            .map_err(|e| wrong(format!("corrupt: {e}")))?;
        if !rest.is_empty() {
            return Err(wrong(format!(
                "corrupt: {} bytes after the body",
                rest.len()
            )));
        }
        if e.view != view_digest(self) {
            return Err(wrong("made by another view".to_owned()));
        }
        let start = (self.buckets.len() as u64, self.references.len() as u64);
        if e.before != self.committed || (e.buckets_before, e.references_before) != start {
            return Err(wrong(
                "it does not continue this state (an entry lost, repeated or out of order, a \
                 base saved with uncommitted changes, or another fork of the stream)"
                    .to_owned(),
            ));
        }
        if self.closed && !e.closed {
            return Err(wrong("it reopens a closed stream".to_owned()));
        }
        self.closed = e.closed;
        let size = u64::from(self.view.page_size);
        for c in &e.changed {
            let b = c.bucket;
            let bucket = (self.buckets.get(b as usize).copied()).filter(|b| self.is_leaf(b));
            let follows = bucket.is_some()
                && (self.counts[b as usize], self.first_page(b)) == (c.count.0, c.first.0)
                && c.count.1 >= c.count.0
                && c.first.1 >= c.first.0
                && (c.count.1, c.first.1) != (c.count.0, c.first.0)
                && c.count.1.div_ceil(size) <= u64::from(u32::MAX);
            if !follows {
                return Err(wrong(format!(
                    "bucket {b}: from {} to {} members, first page {} to {}",
                    c.count.0, c.count.1, c.first.0, c.first.1
                )));
            }
            self.counts[b as usize] = c.count.1;
            if c.first.1 > 1 {
                self.check_first_page(b, c.first.1).map_err(wrong)?;
                self.first_pages.insert(b, c.first.1);
            }
        }
        let places: Vec<Place> = (e.buckets.iter())
            .map(|b| Place {
                parent: b.parent,
                level: b.level,
                step: b.step,
                descriptor: None,
            })
            .collect();
        self.extend_checked(&e.references, &places, &e.counts)
            .map_err(|m| wrong(format!("corrupt: {m}")))?;
        for &(b, first) in &e.new_first_pages {
            if (b as usize) < start.0 as usize || self.first_pages.contains_key(&b) {
                return Err(wrong(format!("corrupt: bucket {b} is not new")));
            }
            self.check_first_page(b, first).map_err(wrong)?;
            self.first_pages.insert(b, first);
        }
        // What the entry adds must give the digest it says.
        let digest = self.digest_after(&e.changed, start.0 as usize);
        if digest != e.after {
            return Err(wrong(
                "corrupt: the digest after it does not match".to_owned(),
            ));
        }
        self.committed = digest;
        let (b, r, c) = (self.buckets.len(), self.references.len(), self.closed);
        self.since_commit.move_to(b, r, c);
        self.since_changes.move_to(b, r, c);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragmenter::tests::{drop_some, members, random_members, view, GEO_DAY, VIEWS};
    use crate::fragmenter::OnInvalid;
    use crate::testing::Rng;

    fn refused(base: &[u8], json: &str, journal: &[&[u8]]) -> String {
        let mut f = Fragmenter::from_state(view(json), base).expect("base");
        for e in journal {
            if let Err(Error::State(m)) = f.apply(e) {
                return m;
            }
        }
        panic!("every entry was taken");
    }

    /// A base and its entries, restored at every commit, are the fragmenter that made them:
    /// the same state, so the same buckets, pages and relations; over random calls, in every
    /// view, with empty commits and a close.
    #[test]
    fn base_and_journal_are_the_fragmenter_that_made_them() {
        let mut rng = Rng(41);
        for json in VIEWS {
            let mut f = Fragmenter::new(view(json)).expect("fragmenter");
            f.assign(&[random_members(&mut rng, 30)], OnInvalid::Unknown)
                .expect("assign");
            assert!(!f.commit().is_empty(), "the first commit after the base");
            let base = f.state();
            let mut journal: Vec<Vec<u8>> = Vec::new();
            for call in 0..10 {
                let n = [0, 1, 3, 50, 400][rng.index(5)];
                if call == 9 {
                    f.close();
                } else {
                    f.assign(&[random_members(&mut rng, n)], OnInvalid::Unknown)
                        .expect("assign");
                }
                let dropped = if call % 2 == 1 {
                    drop_some(&mut f, &mut rng)
                } else {
                    Vec::new()
                };
                let entry = f.commit();
                let same = n == 0 && call < 9 && dropped.is_empty();
                assert_eq!(entry.is_empty(), same, "{json} call {call}");
                journal.push(entry);
                assert!(f.commit().is_empty(), "nothing changed since");
                let mut g = Fragmenter::from_state(view(json), &base).expect("base");
                for e in &journal {
                    g.apply(e).expect("entry");
                }
                assert_eq!(g.state(), f.state(), "{json} call {call}");
                assert!(g
                    .changes(crate::fragmenter::ChangedRelations::New)
                    .nodes
                    .is_empty());
                // A compacted base continues with the same entries as the fragmenter.
                g = Fragmenter::from_state(view(json), &g.state()).expect("compacted");
                if call < 9 {
                    f.assign(&[random_members(&mut rng, 2)], OnInvalid::Unknown)
                        .expect("assign");
                }
                let next = f.commit();
                g.apply(&next).expect("next entry");
                assert_eq!(g.state(), f.state());
                journal.push(next);
            }
        }
    }

    /// An entry's size follows the change, not the structure.
    #[test]
    fn an_entry_costs_the_change() {
        let mut f = Fragmenter::new(view(GEO_DAY)).expect("fragmenter");
        let members = members(20_000);
        f.assign(std::slice::from_ref(&members), OnInvalid::Unknown)
            .expect("assign");
        let big = f.commit();
        assert!(f.bucket_count() > 1_000, "{}", f.bucket_count());
        assert!(big.len() > 5_000, "{}", big.len());
        f.assign(&[members.slice(0, 1)], OnInvalid::Unknown)
            .expect("assign");
        let small = f.commit();
        // Header, view, digests, checksum and one (bucket, before, now).
        assert!(
            small.len() < 128,
            "one member, an old bucket: {}",
            small.len()
        );
    }

    #[test]
    fn entries_that_do_not_follow_are_refused() {
        let json = VIEWS[2];
        let mut rng = Rng(7);
        let mut f = Fragmenter::new(view(json)).expect("fragmenter");
        let base = f.state();
        let mut entries = Vec::new();
        for n in [40, 40, 40] {
            f.assign(&[random_members(&mut rng, n)], OnInvalid::Unknown)
                .expect("assign");
            entries.push(f.commit());
        }
        let [a, b, c] = [&entries[0][..], &entries[1][..], &entries[2][..]];
        for journal in [&[a, a][..], &[a, c], &[b], &[a, b, c, c], &[a, b, a]] {
            assert!(refused(&base, json, journal).contains("does not continue"));
        }
        // A base saved with changes not yet committed.
        let mut g = Fragmenter::from_state(view(json), &base).expect("base");
        g.apply(a).expect("a");
        g.assign(&[random_members(&mut rng, 5)], OnInvalid::Unknown)
            .expect("assign");
        let pending = g.state();
        assert!(refused(&pending, json, &[b]).contains("does not continue"));
        // The fragmenter restored from it makes entries that continue it.
        let mut h = Fragmenter::from_state(view(json), &pending).expect("pending base");
        h.assign(&[random_members(&mut rng, 5)], OnInvalid::Unknown)
            .expect("assign");
        let mut k = Fragmenter::from_state(view(json), &pending).expect("pending base");
        k.apply(&h.commit()).expect("h's entry");
        assert_eq!(k.state(), h.state());
        // Another view's entries, and damaged bytes.
        let other = VIEWS[0];
        let mut h = Fragmenter::new(view(other)).expect("fragmenter");
        h.assign(&[random_members(&mut rng, 5)], OnInvalid::Unknown)
            .expect("assign");
        assert!(refused(&base, json, &[&h.commit()]).contains("another view"));
        for at in 0..a.len() {
            let mut bad = a.to_vec();
            bad[at] ^= 1 << (at % 8);
            refused(&base, json, &[&bad]);
            if at > 0 {
                refused(&base, json, &[&a[..at]]);
            }
        }
        assert!(refused(&base, json, &[b"LDESJRNL\x02\x00"]).contains("LDESJRNL"));
    }

    /// The checks of a state apply to what an entry adds: a tile outside the grid is refused
    /// under a valid checksum.
    #[test]
    fn what_an_entry_adds_is_checked_as_a_state_is() {
        let json = VIEWS[0];
        let mut f = Fragmenter::new(view(json)).expect("fragmenter");
        let base = f.state();
        f.assign(&[random_members(&mut Rng(3), 10)], OnInvalid::Unknown)
            .expect("assign");
        let entry = f.commit();
        let end = entry.len() - CHECKSUM;
        let mut e: Entry = postcard::from_bytes(&entry[HEADER..end]).expect("body");
        let tile = (e.buckets.iter_mut()).find(|b| matches!(b.step, Step::Tile { .. }));
        tile.expect("a tile").step = Step::Tile { x: 1 << 20, y: 0 };
        let mut bad = postcard::to_extend(&e, entry[..HEADER].to_vec()).expect("body");
        let checksum = blake3::hash(&bad);
        bad.extend_from_slice(checksum.as_bytes());
        assert!(refused(&base, json, &[&bad]).contains("bucket"));
    }
}
