//! A member description as N-Triples text in a canonical order.
//!
//! Order (independent of the input's statement order and blank-node labels): depth-first from
//! the member — a subject's triples sorted by predicate, then object (IRIs, then literals by
//! value/datatype/language, then blank nodes by a hash of their own sorted description), then
//! the blank-node objects of those triples in that order — then any other IRI subject of the
//! description (named-graph statements) by IRI, then unreached blank-node subjects by hash.
//! Blank nodes are relabelled `_:b0`, `_:b1`, … in order of first appearance. Duplicate
//! triples are written once.

use std::fmt::Write;
use std::hash::{DefaultHasher, Hash, Hasher};

use oxrdf::{BlankNode, NamedOrBlankNode, Term, Triple};
use rustc_hash::{FxHashMap, FxHashSet};

/// A subject or object, by kind and string, as a map key.
pub type Key<'a> = (bool, &'a str);

pub fn subject_key(s: &NamedOrBlankNode) -> Key<'_> {
    match s {
        NamedOrBlankNode::NamedNode(n) => (false, n.as_str()),
        NamedOrBlankNode::BlankNode(b) => (true, b.as_str()),
    }
}

fn blank_object(o: &Term) -> Option<&BlankNode> {
    match o {
        Term::BlankNode(b) => Some(b),
        _ => None,
    }
}

struct Sorter<'a> {
    by_subject: FxHashMap<Key<'a>, Vec<&'a Triple>>,
    hashes: FxHashMap<&'a str, u64>,
    in_progress: FxHashSet<&'a str>,
}

impl<'a> Sorter<'a> {
    /// Sort key of an object: kind rank, then strings, then the blank node's hash.
    fn object_key(&mut self, o: &'a Term) -> (u8, &'a str, &'a str, &'a str, u64) {
        match o {
            Term::NamedNode(n) => (0, n.as_str(), "", "", 0),
            Term::Literal(l) => (
                1,
                l.value(),
                l.datatype().as_str(),
                l.language().unwrap_or(""),
                0,
            ),
            Term::BlankNode(b) => (2, "", "", "", self.blank_hash(b.as_str())),
        }
    }

    /// A hash of a blank node's description (labels ignored); cycles hash as a constant.
    fn blank_hash(&mut self, label: &'a str) -> u64 {
        if let Some(&h) = self.hashes.get(label) {
            return h;
        }
        if !self.in_progress.insert(label) {
            return 0x9e37_79b9;
        }
        let triples = self
            .by_subject
            .get(&(true, label))
            .cloned()
            .unwrap_or_default();
        let mut keys: Vec<_> = triples
            .iter()
            .map(|t| (t.predicate.as_str(), self.object_key(&t.object)))
            .collect();
        keys.sort_unstable();
        let mut h = DefaultHasher::new();
        keys.hash(&mut h);
        let h = h.finish();
        self.in_progress.remove(label);
        self.hashes.insert(label, h);
        h
    }

    fn sort_subject(&mut self, key: Key<'a>) -> Vec<&'a Triple> {
        let Some(mut triples) = self.by_subject.get(&key).cloned() else {
            return Vec::new();
        };
        let mut keyed: Vec<_> = triples
            .drain(..)
            .map(|t| ((t.predicate.as_str(), self.object_key(&t.object)), t))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.into_iter().map(|(_, t)| t).collect()
    }
}

/// The description's triples (deduplicated) in canonical order, starting at `member`.
pub fn canonical_order<'a>(member: &NamedOrBlankNode, triples: &'a [Triple]) -> Vec<&'a Triple> {
    let mut seen: FxHashSet<&Triple> = FxHashSet::default();
    let mut by_subject: FxHashMap<Key<'a>, Vec<&'a Triple>> = FxHashMap::default();
    let mut subjects: Vec<Key<'a>> = Vec::new();
    for t in triples {
        if seen.insert(t) {
            let k = subject_key(&t.subject);
            by_subject
                .entry(k)
                .or_insert_with(|| {
                    subjects.push(k);
                    Vec::new()
                })
                .push(t);
        }
    }
    let mut sorter = Sorter {
        by_subject,
        hashes: FxHashMap::default(),
        in_progress: FxHashSet::default(),
    };
    let mut out = Vec::with_capacity(seen.len());
    let mut visited: FxHashSet<Key<'a>> = FxHashSet::default();
    let member_key = match member {
        NamedOrBlankNode::NamedNode(n) => (false, n.as_str()),
        NamedOrBlankNode::BlankNode(b) => (true, b.as_str()),
    };
    // The member key borrows from `member`, not from `triples`: find the description's own key.
    if let Some(&k) = subjects.iter().find(|k| **k == member_key) {
        visit(&mut sorter, k, &mut visited, &mut out);
    }
    let mut iris: Vec<Key<'a>> = subjects.iter().copied().filter(|k| !k.0).collect();
    iris.sort_unstable();
    for k in iris {
        visit(&mut sorter, k, &mut visited, &mut out);
    }
    let mut blanks: Vec<(u64, Key<'a>)> = subjects
        .iter()
        .copied()
        .filter(|k| k.0 && !visited.contains(k))
        .map(|k| (sorter.blank_hash(k.1), k))
        .collect();
    blanks.sort_unstable_by_key(|b| b.0);
    for (_, k) in blanks {
        visit(&mut sorter, k, &mut visited, &mut out);
    }
    out
}

fn visit<'a>(
    sorter: &mut Sorter<'a>,
    root: Key<'a>,
    visited: &mut FxHashSet<Key<'a>>,
    out: &mut Vec<&'a Triple>,
) {
    // An explicit stack: deep blank-node chains must not overflow the thread's stack.
    let mut stack = vec![root];
    while let Some(key) = stack.pop() {
        if !visited.insert(key) {
            continue;
        }
        let triples = sorter.sort_subject(key);
        let start = out.len();
        out.extend(triples);
        let children: Vec<Key<'a>> = out[start..]
            .iter()
            .filter_map(|t| blank_object(&t.object).map(|b| (true, b.as_str())))
            .collect();
        stack.extend(children.into_iter().rev());
    }
}

/// Writes the triples as N-Triples, relabelling blank nodes `_:b0`, `_:b1`, … in order.
pub fn write_ntriples<'a>(triples: &[&'a Triple], out: &mut String) {
    let mut labels: FxHashMap<&'a str, usize> = FxHashMap::default();
    let mut blank = |b: &'a BlankNode, out: &mut String| {
        let n = labels.len();
        let id = *labels.entry(b.as_str()).or_insert(n);
        let _ = write!(out, "_:b{id}");
    };
    for t in triples {
        match &t.subject {
            NamedOrBlankNode::NamedNode(n) => {
                let _ = write!(out, "{n}");
            }
            NamedOrBlankNode::BlankNode(b) => blank(b, out),
        }
        let _ = write!(out, " {} ", t.predicate);
        match &t.object {
            Term::NamedNode(n) => {
                let _ = write!(out, "{n}");
            }
            Term::BlankNode(b) => blank(b, out),
            Term::Literal(l) => {
                let _ = write!(out, "{l}");
            }
        }
        out.push_str(" .\n");
    }
}
