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
pub(crate) type Key<'a> = (bool, &'a str);

pub(crate) fn subject_key(s: &NamedOrBlankNode) -> Key<'_> {
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

/// Keys → 0, 1, 2, … in order of first insertion: by linear search while there are few (a
/// description has a handful of subjects and blank nodes), by hash beyond. Descriptions are
/// ordered one per member, so avoiding a hash table each saves most of the work.
struct Ids<K> {
    keys: Vec<K>,
    map: Option<FxHashMap<K, u32>>,
}

impl<K: Copy + Eq + std::hash::Hash> Ids<K> {
    const LINEAR: usize = 16;

    fn new() -> Self {
        Ids {
            keys: Vec::new(),
            map: None,
        }
    }

    fn get(&self, k: &K) -> Option<u32> {
        match &self.map {
            Some(map) => map.get(k).copied(),
            None => self.keys.iter().position(|x| x == k).map(|i| i as u32),
        }
    }

    /// The key's id, and whether it is new.
    fn insert(&mut self, k: K) -> (u32, bool) {
        if let Some(id) = self.get(&k) {
            return (id, false);
        }
        let id = self.keys.len() as u32;
        self.keys.push(k);
        if let Some(map) = &mut self.map {
            map.insert(k, id);
        } else if self.keys.len() > Self::LINEAR {
            self.map = Some(
                self.keys
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| (k, i as u32))
                    .collect(),
            );
        }
        (id, true)
    }
}

/// An object's sort key: kind rank (IRI, literal, blank node), IRI or value, datatype,
/// language, blank node hash.
type ObjectKey<'a> = (u8, &'a str, &'a str, &'a str, u64);

struct Sorter<'a> {
    triples: Vec<TripleRef<'a>>,
    subjects: Ids<Key<'a>>,
    /// The triples of subject `s` are `triples[order[start[s]..start[s + 1]]]`, in input order.
    order: Vec<u32>,
    start: Vec<u32>,
    /// Per subject: its hash once known (blank nodes), whether it is being hashed or visited.
    hashes: Vec<Option<u64>>,
    in_progress: Vec<bool>,
    visited: Vec<bool>,
    /// The hash of a blank node that is no subject (no triples): computed once.
    empty_hash: Option<u64>,
}

impl<'a> Sorter<'a> {
    fn new(triples: Vec<TripleRef<'a>>, subjects: Ids<Key<'a>>, of: Vec<u32>) -> Self {
        let n = subjects.keys.len();
        // A counting sort of the triples by subject, stable.
        let mut start = vec![0u32; n + 1];
        for &s in &of {
            start[s as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut order = vec![0u32; of.len()];
        for (t, &s) in of.iter().enumerate() {
            order[fill[s as usize] as usize] = t as u32;
            fill[s as usize] += 1;
        }
        Sorter {
            triples,
            subjects,
            order,
            start,
            hashes: vec![None; n],
            in_progress: vec![false; n],
            visited: vec![false; n],
            empty_hash: None,
        }
    }

    fn of_subject(&self, s: u32) -> impl Iterator<Item = TripleRef<'a>> + '_ {
        let range = self.start[s as usize] as usize..self.start[s as usize + 1] as usize;
        self.order[range].iter().map(|&t| self.triples[t as usize])
    }

    /// Sort key of an object: kind rank, then strings, then the blank node's hash.
    fn object_key(&mut self, o: TermRef<'a>) -> ObjectKey<'a> {
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
        let Some(s) = self.subjects.get(&(true, label)) else {
            return *self.empty_hash.get_or_insert_with(|| hash_keys(&mut []));
        };
        let s = s as usize;
        if let Some(h) = self.hashes[s] {
            return h;
        }
        if self.in_progress[s] {
            return 0x9e37_79b9;
        }
        self.in_progress[s] = true;
        let triples: Vec<TripleRef<'a>> = self.of_subject(s as u32).collect();
        let mut keys: Vec<_> = triples
            .iter()
            .map(|t| (t.predicate.as_str(), self.object_key(t.object)))
            .collect();
        let h = hash_keys(&mut keys);
        self.in_progress[s] = false;
        self.hashes[s] = Some(h);
        h
    }

    fn sort_subject(&mut self, s: u32) -> Vec<TripleRef<'a>> {
        let triples: Vec<TripleRef<'a>> = self.of_subject(s).collect();
        let mut keyed: Vec<_> = triples
            .into_iter()
            .map(|t| ((t.predicate.as_str(), self.object_key(t.object)), t))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.into_iter().map(|(_, t)| t).collect()
    }
}

/// The hash of a blank node's sorted (predicate, object key) list.
fn hash_keys(keys: &mut [(&str, ObjectKey<'_>)]) -> u64 {
    keys.sort_unstable();
    let mut h = DefaultHasher::new();
    keys.hash(&mut h);
    h.finish()
}

/// The description's triples (deduplicated) in canonical order, starting at `member`.
pub(crate) fn canonical_order<'a>(
    member: &NamedOrBlankNode,
    triples: &[TripleRef<'a>],
) -> Vec<TripleRef<'a>> {
    let mut kept: Vec<TripleRef<'a>> = Vec::with_capacity(triples.len());
    if triples.len() <= Ids::<Key<'a>>::LINEAR {
        for &t in triples {
            if !kept.contains(&t) {
                kept.push(t);
            }
        }
    } else {
        let mut seen: FxHashSet<TripleRef<'a>> = FxHashSet::default();
        kept.extend(triples.iter().filter(|&&t| seen.insert(t)));
    }
    let mut subjects: Ids<Key<'a>> = Ids::new();
    let of: Vec<u32> = kept
        .iter()
        .map(|t| subjects.insert(subject_ref_key(t.subject)).0)
        .collect();
    let n = kept.len();
    let mut sorter = Sorter::new(kept, subjects, of);
    let mut out = Vec::with_capacity(n);
    let member_key = match member {
        NamedOrBlankNode::NamedNode(n) => (false, n.as_str()),
        NamedOrBlankNode::BlankNode(b) => (true, b.as_str()),
    };
    if let Some(m) = sorter.subjects.get(&member_key) {
        visit(&mut sorter, m, &mut out);
    }
    let mut iris: Vec<(Key<'a>, u32)> = (sorter.subjects.keys.iter().copied())
        .zip(0..)
        .filter(|(k, _)| !k.0)
        .collect();
    iris.sort_unstable();
    for (_, s) in iris {
        visit(&mut sorter, s, &mut out);
    }
    let unreached: Vec<(Key<'a>, u32)> = (sorter.subjects.keys.iter().copied())
        .zip(0..)
        .filter(|&(k, s)| k.0 && !sorter.visited[s as usize])
        .collect();
    let mut blanks: Vec<(u64, u32)> = unreached
        .into_iter()
        .map(|(k, s)| (sorter.blank_hash(k.1), s))
        .collect();
    blanks.sort_unstable_by_key(|b| b.0);
    for (_, s) in blanks {
        visit(&mut sorter, s, &mut out);
    }
    out
}

fn visit<'a>(sorter: &mut Sorter<'a>, root: u32, out: &mut Vec<TripleRef<'a>>) {
    // An explicit stack: deep blank-node chains must not overflow the thread's stack.
    let mut stack = vec![root];
    while let Some(s) = stack.pop() {
        if std::mem::replace(&mut sorter.visited[s as usize], true) {
            continue;
        }
        let triples = sorter.sort_subject(s);
        let start = out.len();
        out.extend(triples);
        let children: Vec<u32> = out[start..]
            .iter()
            .filter_map(|t| blank_object(t.object))
            .filter_map(|b| sorter.subjects.get(&(true, b)))
            .collect();
        stack.extend(children.into_iter().rev());
    }
}

/// Writes the triples as N-Triples, relabelling blank nodes `_:b0`, `_:b1`, … in order.
pub(crate) fn write_ntriples<'a>(triples: &[TripleRef<'a>], out: &mut String) {
    let mut labels: Ids<&'a str> = Ids::new();
    let mut blank = |b: &'a str, out: &mut String| {
        let _ = write!(out, "_:b{}", labels.insert(b).0);
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

    #[test]
    fn ids_number_keys_in_order_of_first_insertion_past_the_linear_limit() {
        let mut rng = Rng(11);
        let mut ids: Ids<u64> = Ids::new();
        let mut reference: Vec<u64> = Vec::new();
        for _ in 0..500 {
            let k = rng.below(60);
            let known = reference.iter().position(|&x| x == k);
            let (id, new) = ids.insert(k);
            assert_eq!(new, known.is_none());
            if new {
                reference.push(k);
            }
            assert_eq!(id as usize, known.unwrap_or(reference.len() - 1));
            let probe = rng.below(80);
            assert_eq!(
                ids.get(&probe),
                reference.iter().position(|&x| x == probe).map(|i| i as u32)
            );
        }
        assert!(
            ids.map.is_some(),
            "the test must cross into the hashed form"
        );
    }

    /// A member with 40 blank nodes (a tree, two levels deep, with shared literal values and
    /// repeated triples): more subjects and triples than the linear limit of `Ids`.
    fn big_description(labels: &[String], order: &[usize]) -> String {
        let m = NamedNode::new_unchecked("http://e/m");
        let p = NamedNode::new_unchecked("http://e/p");
        let q = NamedNode::new_unchecked("http://e/q");
        let blank = |i: usize| oxrdf::BlankNode::new_unchecked(labels[i].as_str());
        let mut triples: Vec<oxrdf::Triple> = Vec::new();
        for i in 0..40 {
            let parent: oxrdf::NamedOrBlankNode = if i < 8 {
                m.clone().into()
            } else {
                blank(i % 8).into()
            };
            triples.push(oxrdf::Triple::new(parent, p.clone(), blank(i)));
            let value = Literal::new_simple_literal(format!("v{}", i % 5));
            triples.push(oxrdf::Triple::new(blank(i), q.clone(), value));
        }
        triples.extend(triples[..10].to_vec()); // duplicates are written once
        let refs: Vec<TripleRef<'_>> = order.iter().map(|&i| triples[i].as_ref()).collect();
        let mut text = String::new();
        write_ntriples(&canonical_order(&m.clone().into(), &refs), &mut text);
        text
    }

    #[test]
    fn big_descriptions_do_not_depend_on_statement_order_or_labels() {
        let mut rng = Rng(3);
        let labels: Vec<String> = (0..40).map(|i| format!("n{i}")).collect();
        let order: Vec<usize> = (0..90).collect();
        let want = big_description(&labels, &order);
        assert_eq!(want.lines().count(), 80);
        assert!(want.starts_with("<http://e/m> <http://e/p> _:b0 .\n"));
        for _ in 0..20 {
            let mut order = order.clone();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.index(i + 1));
            }
            let mut labels = labels.clone();
            for i in (1..labels.len()).rev() {
                labels.swap(i, rng.index(i + 1));
            }
            assert_eq!(big_description(&labels, &order), want);
        }
    }
}
