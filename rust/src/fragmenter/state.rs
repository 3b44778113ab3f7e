//! The state as bytes ([`Fragmenter::state`]) and back ([`Fragmenter::restore`]).
//!
//! Layout (version 3):
//!
//! ```text
//! "LDESFRAG" | version: u16 LE = 3 | body: postcard of `Saved` | BLAKE3 of all that precedes (32 bytes)
//! ```
//!
//! A state is refused ([`Error::State`]) unless every check passes, so that a restored
//! fragmenter is one that `assign` could have built: the checksum first (any flipped, inserted,
//! deleted or cut byte), then the body read to its last byte, then the view, then the tree
//! bucket by bucket (each step allowed under its parent, keys in range, each id equal to the
//! one its place in the tree gives), then the member counts (members only in leaves, every
//! leaf but an empty root holding some, fewer than 2^32 pages per bucket). Reading allocates
//! nothing sized by a length read from the bytes before checking it: postcard checks a
//! string's length against the bytes left, and serde caps what it reserves for a sequence,
//! so every allocation follows from bytes actually present. The journal (`journal.rs`) adds
//! to a restored state through the same checks.
//!
//! Versions 2 (no pages dropped by retention) and 1 (before the checksum; no `on_invalid`)
//! are still read, through the same checks, so that publish directories made before keep
//! working; `state()` then writes version 3. A version-1 state cannot tell its `on_invalid`;
//! [`Fragmenter::restore`] takes the caller's.

use serde::{Deserialize, Serialize};

use super::keys::is_absolute_iri;
use super::since::Since;
use super::tree::{Bucket, ChildKey, Step};
use super::{Error, Fragmenter, OnInvalid};
use crate::timebucket::{self, Granularity, Zone};
use crate::view::{Fragmentation, View};

const MAGIC: &[u8; 8] = b"LDESFRAG";
const VERSION: u16 = 3;
const HEADER: usize = MAGIC.len() + 2;
const CHECKSUM: usize = blake3::OUT_LEN;

/// A bucket as the state stores it: its place in the tree, and its id (checked against the
/// one its place gives, so that a restored bucket keeps the id it was published under).
#[derive(Serialize, Deserialize)]
struct SavedBucket<'a> {
    parent: u32,
    level: u8,
    step: Step,
    descriptor: &'a str,
}

/// A bucket to add to a fragmenter: its place and, from a state, the id it was saved with.
pub(super) struct Place<'a> {
    pub(super) parent: u32,
    pub(super) level: u8,
    pub(super) step: Step,
    pub(super) descriptor: Option<&'a str>,
}

/// The body of a version-3 state.
#[derive(Serialize, Deserialize)]
struct Saved<'a> {
    view: &'a str,
    on_invalid: OnInvalid,
    max_tiles: u64,
    closed: bool,
    #[serde(borrow)]
    references: Vec<&'a str>,
    #[serde(borrow)]
    buckets: Vec<SavedBucket<'a>>,
    counts: Vec<u64>,
    /// (bucket, first page) of the buckets that dropped pages, by bucket.
    first_pages: Vec<(u32, u32)>,
}

/// The body of a version-2 state.
#[derive(Serialize, Deserialize)]
struct SavedV2<'a> {
    view: &'a str,
    on_invalid: OnInvalid,
    max_tiles: u64,
    closed: bool,
    #[serde(borrow)]
    references: Vec<&'a str>,
    #[serde(borrow)]
    buckets: Vec<SavedBucket<'a>>,
    counts: Vec<u64>,
}

/// The body of a version-1 state.
#[derive(Serialize, Deserialize)]
struct SavedV1<'a> {
    view: &'a str,
    #[serde(borrow)]
    buckets: Vec<SavedBucket<'a>>,
    counts: Vec<u64>,
    #[serde(borrow)]
    references: Vec<&'a str>,
    closed: bool,
    max_tiles: u64,
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::State(format!("corrupt state: {what}"))
}

/// A body read to its last byte.
fn read_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Error> {
    let (saved, rest) = postcard::take_from_bytes(body).map_err(corrupt)?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} bytes after the body", rest.len())));
    }
    Ok(saved)
}

impl Fragmenter {
    /// The state as bytes (version 3): enough to continue exactly where this fragmenter
    /// stands, its `on_invalid`, `max_tiles` and dropped pages included.
    pub fn state(&self) -> Vec<u8> {
        let view = self.view.to_json();
        let saved = Saved {
            view: &view,
            on_invalid: self.on_invalid,
            max_tiles: self.max_tiles as u64,
            closed: self.closed,
            references: self.references.iter().map(String::as_str).collect(),
            buckets: (self.buckets.iter().enumerate())
                .map(|(i, b)| SavedBucket {
                    parent: b.parent,
                    level: b.level,
                    step: b.step,
                    descriptor: self.descriptor(i as u32),
                })
                .collect(),
            counts: self.counts.clone(),
            first_pages: {
                let mut v: Vec<(u32, u32)> =
                    self.first_pages.iter().map(|(&b, &p)| (b, p)).collect();
                v.sort_unstable();
                v
            },
        };
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        let out = postcard::to_extend(&saved, out).expect("the state always serialises");
        let checksum = blake3::hash(&out);
        let mut out = out;
        out.extend_from_slice(checksum.as_bytes());
        out
    }

    #[cfg(test)]
    /// Restores a fragmenter; the state must come from the same view.
    pub(crate) fn from_state(view: View, state: &[u8]) -> Result<Fragmenter, Error> {
        Fragmenter::restore(view, state, None)
    }

    /// Restores a fragmenter; the state must come from the same view, and, when `on_invalid`
    /// is given, from a fragmenter with that `on_invalid` (a version-1 state, which does not
    /// say, takes it; without it, such a state gets [`OnInvalid::Unknown`]).
    pub fn restore(
        view: View,
        state: &[u8],
        on_invalid: Option<OnInvalid>,
    ) -> Result<Fragmenter, Error> {
        if state.len() < HEADER || &state[..MAGIC.len()] != MAGIC {
            return Err(Error::State(
                "not an ldesfrag state (it does not start with LDESFRAG)".to_owned(),
            ));
        }
        let version = u16::from_le_bytes([state[8], state[9]]);
        let saved = match version {
            1 => {
                let v1: SavedV1 = read_body(&state[HEADER..])?;
                Saved {
                    view: v1.view,
                    on_invalid: on_invalid.unwrap_or(OnInvalid::Unknown),
                    max_tiles: v1.max_tiles,
                    closed: v1.closed,
                    references: v1.references,
                    buckets: v1.buckets,
                    counts: v1.counts,
                    first_pages: Vec::new(),
                }
            }
            2 | VERSION => {
                let Some(end) = state.len().checked_sub(CHECKSUM).filter(|&e| e >= HEADER) else {
                    return Err(corrupt("cut short"));
                };
                if blake3::hash(&state[..end]).as_bytes() != &state[end..] {
                    return Err(corrupt(
                        "checksum mismatch (bytes were changed, added or lost)",
                    ));
                }
                let body = &state[HEADER..end];
                let saved: Saved = if version == 2 {
                    let v2: SavedV2 = read_body(body)?;
                    Saved {
                        view: v2.view,
                        on_invalid: v2.on_invalid,
                        max_tiles: v2.max_tiles,
                        closed: v2.closed,
                        references: v2.references,
                        buckets: v2.buckets,
                        counts: v2.counts,
                        first_pages: Vec::new(),
                    }
                } else {
                    read_body(body)?
                };
                if on_invalid.is_some_and(|o| o != saved.on_invalid) {
                    return Err(Error::State(format!(
                        "the state was made with on_invalid {}, not {}",
                        saved.on_invalid.name(),
                        on_invalid.map_or("", OnInvalid::name),
                    )));
                }
                saved
            }
            _ => {
                return Err(Error::State(format!(
                    "state version {version}: this ldesfrag reads versions 1 to {VERSION} \
                     (a state from a newer ldesfrag?)"
                )))
            }
        };
        let saved_view = View::from_json(saved.view).map_err(corrupt)?;
        if saved_view != view {
            return Err(Error::State(format!(
                "the state was made by another view: {}",
                saved.view
            )));
        }
        Fragmenter::rebuild(view, saved)
    }

    /// The fragmenter a checked body describes.
    fn rebuild(view: View, saved: Saved) -> Result<Fragmenter, Error> {
        let mut f = Fragmenter::new(view)?;
        f.closed = saved.closed;
        f.on_invalid = saved.on_invalid;
        f.max_tiles = usize::try_from(saved.max_tiles).map_err(corrupt)?;
        let n = saved.buckets.len();
        if saved.counts.len() != n {
            return Err(corrupt(format!(
                "{n} buckets but {} member counts",
                saved.counts.len()
            )));
        }
        let (Some(root), Some(&root_count)) = (saved.buckets.first(), saved.counts.first()) else {
            return Err(corrupt("no root bucket"));
        };
        if root.step != Step::Root || root.level != 0 || !root.descriptor.is_empty() {
            return Err(corrupt("bucket 0 is not the root"));
        }
        // The root is a leaf only in a view without levels; it may be empty either way.
        let root_bucket = f.buckets[0];
        if f.is_leaf(&root_bucket) {
            if root_count.div_ceil(u64::from(f.view.page_size)) > u64::from(u32::MAX) {
                return Err(corrupt(format!("bucket 0: {root_count} members")));
            }
            f.leaves.insert(f.composite_of(0), 0);
        } else if root_count != 0 {
            return Err(corrupt(format!("bucket 0: {root_count} members")));
        }
        f.counts[0] = root_count;
        let places: Vec<Place> = (saved.buckets[1..].iter())
            .map(|b| Place {
                parent: b.parent,
                level: b.level,
                step: b.step,
                descriptor: Some(b.descriptor),
            })
            .collect();
        f.extend_checked(&saved.references, &places, &saved.counts[1..])
            .map_err(corrupt)?;
        if let Some(w) = saved.first_pages.windows(2).find(|w| w[0].0 >= w[1].0) {
            return Err(corrupt(format!(
                "first pages: bucket {} out of order",
                w[1].0
            )));
        }
        for &(bucket, first) in &saved.first_pages {
            f.check_first_page(bucket, first).map_err(corrupt)?;
            f.first_pages.insert(bucket, first);
        }
        // Restored: nothing is new to `changes` or `commit`.
        f.since_changes = Since::now(&f);
        f.since_commit = Since::now(&f);
        f.committed = f.digest();
        Ok(f)
    }

    /// Adds `references`, then `buckets` with their member `counts`, each checked to be one
    /// that `assign` could have made here (see the module docs); the error names what is not.
    /// On an error the fragmenter is half extended: the caller drops it.
    pub(super) fn extend_checked(
        &mut self,
        references: &[&str],
        buckets: &[Place],
        counts: &[u64],
    ) -> Result<(), String> {
        for r in references {
            if !is_absolute_iri(r) {
                return Err(format!("reference {r:?}"));
            }
            if self.intern(r) as usize + 1 != self.references.len() {
                return Err(format!("reference {r:?} repeats"));
            }
        }
        if counts.len() != buckets.len() {
            return Err(format!(
                "{} new buckets but {} member counts",
                buckets.len(),
                counts.len()
            ));
        }
        let first = self.buckets.len();
        self.buckets.reserve(buckets.len());
        self.ids.reserve(buckets.len());
        let mut has_child = vec![false; buckets.len()];
        let mut id = String::new();
        for (i, b) in (first as u32..).zip(buckets) {
            let child = Bucket {
                parent: b.parent,
                level: b.level,
                step: b.step,
            };
            if b.parent >= i {
                return Err(format!("bucket {i}: parent {}", b.parent));
            }
            self.check_step(&child)
                .map_err(|e| format!("bucket {i}: {e}"))?;
            // The id its place gives: its base's (the parent's, or a hub's parent's) and a pair.
            let parent = self.buckets[b.parent as usize];
            let base = match parent.step {
                Step::GeoHub | Step::RefHub => parent.parent,
                _ => b.parent,
            };
            id.clear();
            id.push_str(self.descriptor(base));
            if !id.is_empty() {
                id.push('&');
            }
            self.write_pair(&mut id, b.level, b.step);
            if let Some(saved) = b.descriptor.filter(|&d| d != id) {
                return Err(format!("bucket {i}: id {saved:?}"));
            }
            self.ids.push(&id);
            self.buckets.push(child);
            if let Some(at) = (b.parent as usize).checked_sub(first) {
                has_child[at] = true;
            }
        }
        let size = u64::from(self.view.page_size);
        for (at, &count) in counts.iter().enumerate() {
            let i = first + at;
            let b = self.buckets[i];
            // A leaf exists because a member went to it; an inner bucket, because a leaf
            // is below it.
            let ok = if self.is_leaf(&b) {
                count > 0 && count.div_ceil(size) <= u64::from(u32::MAX)
            } else {
                count == 0 && has_child[at]
            };
            if !ok {
                return Err(format!("bucket {i}: {count} members"));
            }
            let repeats = if self.is_leaf(&b) {
                self.leaves
                    .insert(self.composite_of(i as u32), i as u32)
                    .is_some()
            } else {
                let key = ChildKey {
                    parent: b.parent,
                    step: b.step,
                };
                self.children.insert(key, i as u32).is_some()
            };
            if repeats {
                return Err(format!("bucket {i} repeats"));
            }
        }
        self.counts.extend_from_slice(counts);
        Ok(())
    }

    /// Whether `child` can hang off its parent (already restored) as `assign` makes buckets:
    /// the next level's first step below the root or a level's last step, a tile below a geo
    /// hub, a reference below a reference hub, the next granularity's bucket inside a time
    /// bucket; and every key in range.
    fn check_step(&self, child: &Bucket) -> Result<(), String> {
        let parent = self.buckets[child.parent as usize];
        let levels = &self.view.fragmentations;
        let ends_level = parent.step == Step::Root || self.ends_level(&parent);
        if ends_level {
            let next = if parent.step == Step::Root {
                0
            } else {
                usize::from(parent.level) + 1
            };
            if usize::from(child.level) != next || next >= levels.len() {
                return Err(format!(
                    "level {} below level {}",
                    child.level, parent.level
                ));
            }
            let first = match (&levels[next], child.step) {
                (_, Step::Unknown) => true,
                (Fragmentation::Geospatial { .. }, Step::GeoHub) => true,
                (Fragmentation::Reference { .. }, Step::RefHub) => true,
                (Fragmentation::HierarchicalTime { .. }, Step::Time { g, key }) => {
                    g == Granularity::Year && time_key_in_range(key, g)
                }
                _ => false,
            };
            return first
                .then_some(())
                .ok_or_else(|| format!("{:?} first at its level", child.step));
        }
        if child.level != parent.level {
            return Err(format!(
                "level {} inside level {}",
                child.level, parent.level
            ));
        }
        let ok = match (&levels[usize::from(child.level)], parent.step, child.step) {
            (Fragmentation::Geospatial { max_zoom, .. }, Step::GeoHub, Step::Tile { x, y }) => {
                let side = 1u64 << max_zoom;
                u64::from(x) < side && u64::from(y) < side
            }
            (Fragmentation::Reference { .. }, Step::RefHub, Step::Ref { id }) => {
                (id as usize) < self.references.len()
            }
            (
                Fragmentation::HierarchicalTime {
                    max_granularity, ..
                },
                Step::Time { g: up, key: up_key },
                Step::Time { g, key },
            ) => {
                up < *max_granularity
                    && Some(g) == max_granularity.levels().find(|&n| n > up)
                    && time_key_in_range(key, g)
                    && timebucket::coarsen(key, g, up) == up_key
            }
            _ => false,
        };
        ok.then_some(())
            .ok_or_else(|| format!("{:?} below {:?}", child.step, parent.step))
    }
}

/// Whether a time key is one that some instant (as i64 microseconds) has: local times
/// saturate at the i64 range, so the keys of its ends bound every zone's keys.
fn time_key_in_range(key: i64, g: Granularity) -> bool {
    let utc = Zone::utc();
    let (lo, hi) = (
        timebucket::bucket_key(i64::MIN, g, &utc),
        timebucket::bucket_key(i64::MAX, g, &utc),
    );
    (lo..=hi).contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fragmenter::tests::{random_members, view};
    use crate::testing::Rng;

    const VIEW: &str = r#"{"fragmentations":[{"type":"Reference"},{"type":"Geospatial","max_zoom":8,"column":"point"},{"type":"HierarchicalTime","max_granularity":"day","timezone":"Europe/Brussels"}],"page_size":4}"#;

    fn fragmenter(on_invalid: OnInvalid) -> Fragmenter {
        let mut f = Fragmenter::new(view(VIEW)).expect("fragmenter");
        f.set_on_invalid(on_invalid);
        let members = random_members(&mut Rng(5), 60);
        f.assign(&[members], on_invalid).expect("assign");
        f
    }

    /// A state with its body changed by `edit` and a valid checksum again.
    fn edited(state: &[u8], edit: impl FnOnce(&mut Saved)) -> Vec<u8> {
        let end = state.len() - CHECKSUM;
        let mut saved: Saved = read_body(&state[HEADER..end]).expect("body");
        edit(&mut saved);
        let out = postcard::to_extend(&saved, state[..HEADER].to_vec()).expect("body");
        let checksum = blake3::hash(&out);
        [out, checksum.as_bytes().to_vec()].concat()
    }

    fn v1(f: &Fragmenter) -> Vec<u8> {
        let state = f.state();
        let saved: Saved = read_body(&state[HEADER..state.len() - CHECKSUM]).expect("body");
        let v1 = SavedV1 {
            view: saved.view,
            buckets: saved.buckets,
            counts: saved.counts,
            references: saved.references,
            closed: saved.closed,
            max_tiles: saved.max_tiles,
        };
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&1u16.to_le_bytes());
        postcard::to_extend(&v1, out).expect("body")
    }

    fn refused(state: &[u8]) -> String {
        match Fragmenter::from_state(view(VIEW), state) {
            Err(Error::State(m)) => m,
            other => panic!("accepted or another error: {other:?}"),
        }
    }

    #[test]
    fn every_changed_added_lost_or_cut_byte_is_refused() {
        let f = fragmenter(OnInvalid::Unknown);
        let state = f.state();
        assert!(state.len() > 1000, "a state with a few dozen buckets");
        let again = Fragmenter::from_state(view(VIEW), &state).expect("restore");
        assert_eq!(again.state(), state);
        for at in 0..state.len() {
            let mut flipped = state.clone();
            flipped[at] ^= 1 << (at % 8);
            refused(&flipped);
            let mut inserted = state.clone();
            inserted.insert(at, state[at].wrapping_add(1));
            refused(&inserted);
            let mut deleted = state.clone();
            deleted.remove(at);
            refused(&deleted);
            refused(&state[..at]);
        }
        assert!(refused(&state[..state.len() - 1]).contains("checksum"));
        assert!(refused(b"LDESFRAG\x04\x00").contains("version 4"));
        assert!(refused(b"PAR1").contains("LDESFRAG"));
    }

    #[test]
    fn counts_the_tree_cannot_have_are_refused_under_a_valid_checksum() {
        let f = fragmenter(OnInvalid::Unknown);
        let state = f.state();
        let leaf = (0..f.bucket_count())
            .find(|&i| f.is_leaf(&f.buckets[i]))
            .expect("a leaf");
        let inner = (1..f.bucket_count())
            .find(|&i| !f.is_leaf(&f.buckets[i]))
            .expect("an inner bucket");
        type Edit<'a> = Box<dyn Fn(&mut Saved) + 'a>;
        let cases: Vec<(&str, Edit)> = vec![
            // More pages than a page number can count.
            ("members", Box::new(|s| s.counts[leaf] = 4 << 32)),
            ("members", Box::new(|s| s.counts[inner] = 3)),
            ("members", Box::new(|s| s.counts[leaf] = 0)),
            ("member counts", Box::new(|s| s.counts.push(1))),
            (
                "member counts",
                Box::new(|s| {
                    s.counts.pop();
                }),
            ),
            (
                "no root",
                Box::new(|s| {
                    s.buckets.clear();
                    s.counts.clear();
                }),
            ),
            ("parent", Box::new(|s| s.buckets[2].parent = 7)),
            (
                "id",
                Box::new(|s| s.buckets[leaf].descriptor = "tile=1/2/3"),
            ),
            ("repeats", Box::new(|s| s.references.push(s.references[0]))),
            ("reference", Box::new(|s| s.references[0] = "not an IRI")),
            (
                "another view",
                Box::new(|s| s.view = "{\"fragmentations\":[]}"),
            ),
            ("corrupt", Box::new(|s| s.view = "{")),
            // Pages dropped by retention: at least one, all immutable, of a leaf, in order.
            (
                "first page 1",
                Box::new(|s| s.first_pages = vec![(leaf as u32, 1)]),
            ),
            (
                "first page 2",
                Box::new(|s| s.first_pages = vec![(inner as u32, 2)]),
            ),
            (
                "first page 9999",
                Box::new(|s| s.first_pages = vec![(leaf as u32, 9999)]),
            ),
            (
                "out of order",
                Box::new(|s| s.first_pages = vec![(leaf as u32, 2), (leaf as u32, 2)]),
            ),
        ];
        for (what, edit) in cases {
            let m = refused(&edited(&state, edit));
            assert!(m.contains(what), "{what}: {m}");
        }
        // Steps the fragmenter never makes: a tile outside the grid, a time key no instant
        // has, a step of another level's kind, an inner bucket without children.
        let steps = |s: &mut Saved, pick: &dyn Fn(Step) -> Option<Step>| {
            let b = (s.buckets.iter_mut()).find_map(|b| pick(b.step).map(|n| (b, n)));
            let (b, new) = b.expect("such a bucket");
            b.step = new;
        };
        let bad_steps: [&dyn Fn(Step) -> Option<Step>; 4] = [
            &|s| matches!(s, Step::Tile { .. }).then_some(Step::Tile { x: 256, y: 0 }),
            &|s| match s {
                Step::Time { g, .. } => Some(Step::Time { g, key: i64::MAX }),
                _ => None,
            },
            &|s| matches!(s, Step::Tile { .. }).then_some(Step::Ref { id: 0 }),
            &|s| matches!(s, Step::RefHub).then_some(Step::GeoHub),
        ];
        for pick in bad_steps {
            let m = refused(&edited(&state, |s| steps(s, pick)));
            assert!(m.starts_with("corrupt state: bucket"), "{m}");
        }
        let mut f = Fragmenter::new(view(VIEW)).expect("fragmenter");
        f.buckets.push(Bucket {
            parent: 0,
            level: 0,
            step: Step::RefHub,
        });
        f.ids.push("reference=");
        f.counts.push(0);
        assert!(refused(&f.state()).contains("bucket 1: 0 members"));
    }

    #[test]
    fn options_survive_the_round_trip() {
        for mode in [OnInvalid::Unknown, OnInvalid::Reject, OnInvalid::Raise] {
            let mut f = Fragmenter::new(view(VIEW)).expect("fragmenter");
            f.set_on_invalid(mode);
            f.set_max_tiles(7);
            f.close();
            let g = Fragmenter::from_state(view(VIEW), &f.state()).expect("restore");
            assert_eq!(
                (g.on_invalid(), g.max_tiles, g.is_closed()),
                (mode, 7, true)
            );
            let same = Fragmenter::restore(view(VIEW), &f.state(), Some(mode));
            assert_eq!(same.expect("restore").on_invalid(), mode);
            let other = [OnInvalid::Unknown, OnInvalid::Reject]
                .map(|o| Fragmenter::restore(view(VIEW), &f.state(), Some(o)).is_err());
            assert_eq!(
                other,
                [mode != OnInvalid::Unknown, mode != OnInvalid::Reject]
            );
        }
    }

    #[test]
    fn version_1_states_are_read_with_the_same_checks() {
        let f = fragmenter(OnInvalid::Reject);
        let old = v1(&f);
        // It cannot say its on_invalid: the caller's, or the default.
        let g = Fragmenter::from_state(view(VIEW), &old).expect("restore");
        assert_eq!(g.on_invalid(), OnInvalid::Unknown);
        let g = Fragmenter::restore(view(VIEW), &old, Some(OnInvalid::Reject)).expect("restore");
        assert_eq!(g.state(), f.state(), "written back as version 3");
        // No checksum, but the tree and counts are checked alike.
        let mut saved: SavedV1 = read_body(&old[HEADER..]).expect("body");
        let leaf = (0..f.bucket_count())
            .find(|&i| f.is_leaf(&f.buckets[i]))
            .expect("a leaf");
        saved.counts[leaf] = u64::MAX;
        let mut bad = MAGIC.to_vec();
        bad.extend_from_slice(&1u16.to_le_bytes());
        let bad = postcard::to_extend(&saved, bad).expect("body");
        assert!(refused(&bad).contains("members"));
        refused(&old[..old.len() - 1]);
        refused(&[old.as_slice(), &[0]].concat());
    }
}
