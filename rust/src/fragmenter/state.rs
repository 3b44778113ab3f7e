//! The state as bytes ([`Fragmenter::state`]) and back ([`Fragmenter::from_state`]).

use serde::{Deserialize, Serialize};

use super::arena::IdArena;
use super::tree::{Bucket, ChildKey, Step};
use super::{Error, Fragmenter};
use crate::view::View;

pub(super) const STATE_MAGIC: &[u8; 8] = b"LDESFRAG";
pub(super) const STATE_VERSION: u16 = 1;

impl Fragmenter {
    /// The state as bytes: enough to continue exactly where this fragmenter stands.
    pub fn state(&self) -> Vec<u8> {
        let buckets = (self.buckets.iter().enumerate())
            .map(|(i, b)| SavedBucket {
                parent: b.parent,
                level: b.level,
                step: b.step,
                descriptor: self.descriptor(i as u32).to_owned(),
            })
            .collect();
        let saved = Saved {
            view: self.view.to_json(),
            buckets,
            counts: self.counts.clone(),
            references: self.references.clone(),
            closed: self.closed,
            max_tiles: self.max_tiles as u64,
        };
        let mut out = STATE_MAGIC.to_vec();
        out.extend_from_slice(&STATE_VERSION.to_le_bytes());
        out.extend(postcard::to_stdvec(&saved).expect("the state always serialises"));
        out
    }

    /// Restores a fragmenter; the state must come from the same view.
    pub fn from_state(view: View, state: &[u8]) -> Result<Fragmenter, Error> {
        let bad = |m: &str| Error::State(m.to_owned());
        if state.len() < 10 || &state[..8] != STATE_MAGIC {
            return Err(bad("not an ldesfrag state (bad magic)"));
        }
        let version = u16::from_le_bytes([state[8], state[9]]);
        if version != STATE_VERSION {
            return Err(Error::State(format!(
                "state version {version}, this ldesfrag reads {STATE_VERSION}"
            )));
        }
        let saved: Saved = postcard::from_bytes(&state[10..])
            .map_err(|e| Error::State(format!("corrupt state: {e}")))?;
        let saved_view = View::from_json(&saved.view)
            .map_err(|e| Error::State(format!("corrupt state: {e}")))?;
        if saved_view != view {
            return Err(Error::State(format!(
                "the state was made by another view: {}",
                saved.view
            )));
        }
        let mut f = Fragmenter::new(view)?;
        f.closed = saved.closed;
        f.max_tiles = (saved.max_tiles as usize).max(1);
        f.references = saved.references;
        f.reference_ids = f
            .references
            .iter()
            .enumerate()
            .map(|(i, r)| (r.clone(), i as u32))
            .collect();
        if f.reference_ids.len() != f.references.len() {
            return Err(bad("corrupt state: duplicate references"));
        }
        let n_levels = f.view.fragmentations.len();
        if saved.buckets.is_empty() {
            return Err(bad("corrupt state: no root bucket"));
        }
        // Check the tree so that no later lookup can index out of bounds.
        for (i, b) in saved.buckets.iter().enumerate() {
            let root_ok = i == 0 && b.step == Step::Root && b.descriptor.is_empty();
            let child_ok = i > 0
                && (b.parent as usize) < i
                && (b.level as usize) < n_levels
                && b.step != Step::Root;
            let ref_ok = match b.step {
                Step::Ref { id } => (id as usize) < f.references.len(),
                _ => true,
            };
            if !(root_ok || child_ok) || !ref_ok {
                return Err(Error::State(format!("corrupt state: bucket {i}")));
            }
        }
        if saved.counts.len() != saved.buckets.len() {
            return Err(bad("corrupt state: bucket counts"));
        }
        f.buckets.clear();
        f.ids = IdArena::default();
        for b in saved.buckets {
            f.ids.push(&b.descriptor);
            f.buckets.push(Bucket {
                parent: b.parent,
                level: b.level,
                step: b.step,
            });
        }
        for i in 0..f.buckets.len() as u32 {
            let b = f.buckets[i as usize];
            let repeats = if f.is_leaf(&b) {
                f.leaves.insert(f.composite_of(i), i).is_some()
            } else {
                let key = ChildKey {
                    parent: b.parent,
                    step: b.step,
                };
                i > 0 && f.children.insert(key, i).is_some()
            };
            if repeats {
                return Err(Error::State(format!("corrupt state: bucket {i} repeats")));
            }
        }
        f.counts = saved.counts;
        Ok(f)
    }
}

/// A bucket as the state stores it (state version 1: the id is saved with its tree place).
#[derive(Serialize, Deserialize)]
pub(super) struct SavedBucket {
    parent: u32,
    level: u8,
    step: Step,
    descriptor: String,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Saved {
    view: String,
    buckets: Vec<SavedBucket>,
    counts: Vec<u64>,
    references: Vec<String>,
    closed: bool,
    max_tiles: u64,
}
