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

use oxrdf::vocab::xsd;
use oxrdf::{LiteralRef, NamedOrBlankNode, NamedOrBlankNodeRef, TermRef, TripleRef};
use rustc_hash::{FxHashMap, FxHashSet};

/// A subject or object, by kind and string, as a map key.
pub type Key<'a> = (bool, &'a str);

pub fn subject_key(s: &NamedOrBlankNode) -> Key<'_> {
    match s {
        NamedOrBlankNode::NamedNode(n) => (false, n.as_str()),
        NamedOrBlankNode::BlankNode(b) => (true, b.as_str()),
    }
}

fn subject_ref_key(s: NamedOrBlankNodeRef<'_>) -> Key<'_> {
    match s {
        NamedOrBlankNodeRef::NamedNode(n) => (false, n.as_str()),
        NamedOrBlankNodeRef::BlankNode(b) => (true, b.as_str()),
    }
}

fn blank_object(o: TermRef<'_>) -> Option<&str> {
    match o {
        TermRef::BlankNode(b) => Some(b.as_str()),
        _ => None,
    }
}

struct Sorter<'a> {
    by_subject: FxHashMap<Key<'a>, Vec<TripleRef<'a>>>,
    hashes: FxHashMap<&'a str, u64>,
    in_progress: FxHashSet<&'a str>,
}

impl<'a> Sorter<'a> {
    /// Sort key of an object: kind rank, then strings, then the blank node's hash.
    fn object_key(&mut self, o: TermRef<'a>) -> (u8, &'a str, &'a str, &'a str, u64) {
        match o {
            TermRef::NamedNode(n) => (0, n.as_str(), "", "", 0),
            TermRef::Literal(l) => (
                1,
                l.value(),
                l.datatype().as_str(),
                l.language().unwrap_or(""),
                0,
            ),
            TermRef::BlankNode(b) => (2, "", "", "", self.blank_hash(b.as_str())),
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
        // Taken out while borrowed: `in_progress` keeps the recursion off this label.
        let triples = self
            .by_subject
            .get_mut(&(true, label))
            .map(std::mem::take)
            .unwrap_or_default();
        let mut keys: Vec<_> = triples
            .iter()
            .map(|t| (t.predicate.as_str(), self.object_key(t.object)))
            .collect();
        if let Some(slot) = self.by_subject.get_mut(&(true, label)) {
            *slot = triples;
        }
        keys.sort_unstable();
        let mut h = DefaultHasher::new();
        keys.hash(&mut h);
        let h = h.finish();
        self.in_progress.remove(label);
        self.hashes.insert(label, h);
        h
    }

    fn sort_subject(&mut self, key: Key<'a>) -> Vec<TripleRef<'a>> {
        // Each subject is sorted once (`visit`), after its own hash (if blank) is known.
        let Some(triples) = self.by_subject.get_mut(&key).map(std::mem::take) else {
            return Vec::new();
        };
        let mut keyed: Vec<_> = triples
            .into_iter()
            .map(|t| ((t.predicate.as_str(), self.object_key(t.object)), t))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.into_iter().map(|(_, t)| t).collect()
    }
}

/// The description's triples (deduplicated) in canonical order, starting at `member`.
pub fn canonical_order<'a>(
    member: &NamedOrBlankNode,
    triples: &[TripleRef<'a>],
) -> Vec<TripleRef<'a>> {
    let mut seen: FxHashSet<TripleRef<'a>> = FxHashSet::default();
    let mut by_subject: FxHashMap<Key<'a>, Vec<TripleRef<'a>>> = FxHashMap::default();
    let mut subjects: Vec<Key<'a>> = Vec::new();
    for &t in triples {
        if seen.insert(t) {
            let k = subject_ref_key(t.subject);
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
    out: &mut Vec<TripleRef<'a>>,
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
            .filter_map(|t| blank_object(t.object).map(|b| (true, b)))
            .collect();
        stack.extend(children.into_iter().rev());
    }
}

/// Writes the triples as N-Triples, relabelling blank nodes `_:b0`, `_:b1`, … in order.
pub fn write_ntriples<'a>(triples: &[TripleRef<'a>], out: &mut String) {
    let mut labels: FxHashMap<&'a str, usize> = FxHashMap::default();
    let mut blank = |b: &'a str, out: &mut String| {
        let n = labels.len();
        let id = *labels.entry(b).or_insert(n);
        let _ = write!(out, "_:b{id}");
    };
    for t in triples {
        match t.subject {
            NamedOrBlankNodeRef::NamedNode(n) => write_iri(n.as_str(), out),
            NamedOrBlankNodeRef::BlankNode(b) => blank(b.as_str(), out),
        }
        out.push(' ');
        write_iri(t.predicate.as_str(), out);
        out.push(' ');
        match t.object {
            TermRef::NamedNode(n) => write_iri(n.as_str(), out),
            TermRef::BlankNode(b) => blank(b.as_str(), out),
            TermRef::Literal(l) => write_literal(l, out),
        }
        out.push_str(" .\n");
    }
}

/// `<iri>`, as oxrdf writes it.
fn write_iri(iri: &str, out: &mut String) {
    out.push('<');
    out.push_str(iri);
    out.push('>');
}

/// A literal as oxrdf writes it, without `fmt` when its value needs no escape.
fn write_literal(l: LiteralRef<'_>, out: &mut String) {
    let plain = |v: &str| {
        !v.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'"' || b == b'\\')
            // U+FFFE and U+FFFF are escaped too.
            && !v.contains(['\u{fffe}', '\u{ffff}'])
    };
    if l.language().is_some() || !plain(l.value()) {
        let _ = write!(out, "{l}");
        return;
    }
    out.push('"');
    out.push_str(l.value());
    out.push('"');
    if l.datatype() != xsd::STRING {
        out.push_str("^^");
        write_iri(l.datatype().as_str(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;
    use oxrdf::{Literal, NamedNode};

    #[test]
    fn literals_are_written_as_oxrdf_writes_them() {
        let mut rng = Rng(7);
        let alphabet = [
            "a", "Z", " ", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{8}", "\u{c}", "\u{1f}",
            "\u{7f}", "é", "\u{fffe}", "\u{ffff}", "\u{fffd}", "😀",
        ];
        let dt = NamedNode::new_unchecked("http://www.opengis.net/ont/geosparql#wktLiteral");
        for _ in 0..2000 {
            let value: String = (0..rng.index(6))
                .map(|_| alphabet[rng.index(alphabet.len())])
                .collect();
            let literal = match rng.index(3) {
                0 => Literal::new_simple_literal(value),
                1 => Literal::new_typed_literal(value, dt.clone()),
                _ => Literal::new_language_tagged_literal_unchecked(value, "nl-be"),
            };
            let mut got = String::new();
            write_literal(literal.as_ref(), &mut got);
            assert_eq!(got, literal.to_string());
        }
    }
}
