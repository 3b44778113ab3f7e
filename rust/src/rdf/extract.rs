//! One window of statements → the members complete in it, and where the window is cut.

use oxrdf::vocab::{rdf, xsd};
use oxrdf::{GraphName, Literal, NamedNode, NamedOrBlankNode, Term, TermRef, Triple, TripleRef};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::parse::Stmt;
use super::payload::{self, subject_key, Key};
use super::{ColumnKind, Config, Mode, Problem, Versions, TREE_MEMBER};
use crate::xsd as xsd_parse;

/// Statements of no member further back than this many windows are dropped.
const GIVE_UP: usize = 8;

/// One column value of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    List(Vec<String>),
    One(Option<String>),
}

/// One member, ready for Arrow.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub id: String,
    pub values: Vec<Value>,
    pub payload: String,
}

/// What a file remembers between windows (`tree-member` mode only): members named by a
/// `tree:member` statement whose description has not been seen yet, and members already out.
#[derive(Debug, Default)]
pub(super) struct FileMemo {
    pending: Vec<(String, u64)>,
    emitted: FxHashSet<String>,
}

struct Cand {
    id: String,
    blank: bool,
    /// Position of the identifying statement in the window (none: pending from before).
    pos: Option<u32>,
    line: Option<u64>,
}

/// Statement positions by subject (default graph) and by graph name (named graphs). Each key
/// maps to its first and last position; `next` chains a statement to the next one with the same
/// key, so building the index allocates no list per key.
struct Index<'a> {
    stmts: &'a [Stmt],
    by_subject: FxHashMap<Key<'a>, (u32, u32)>,
    by_graph: FxHashMap<Key<'a>, (u32, u32)>,
    next: Vec<u32>,
}

const END: u32 = u32::MAX;

fn graph_key(g: &GraphName) -> Option<Key<'_>> {
    match g {
        GraphName::DefaultGraph => None,
        GraphName::NamedNode(n) => Some((false, n.as_str())),
        GraphName::BlankNode(b) => Some((true, b.as_str())),
    }
}

fn is_tree_member_of(st: &Stmt, id: &str) -> bool {
    st.quad.predicate.as_str() == TREE_MEMBER
        && matches!(&st.quad.object, Term::NamedNode(o) if o.as_str() == id)
}

impl<'a> Index<'a> {
    fn new(stmts: &'a [Stmt]) -> Self {
        let mut by_subject: FxHashMap<Key<'a>, (u32, u32)> =
            FxHashMap::with_capacity_and_hasher(stmts.len() / 2, Default::default());
        let mut by_graph: FxHashMap<Key<'a>, (u32, u32)> = FxHashMap::default();
        let mut next = vec![END; stmts.len()];
        for (i, st) in stmts.iter().enumerate() {
            let i = i as u32;
            let map = match graph_key(&st.quad.graph_name) {
                None => by_subject.entry(subject_key(&st.quad.subject)),
                Some(g) => by_graph.entry(g),
            };
            map.and_modify(|(_, last)| {
                next[*last as usize] = i;
                *last = i;
            })
            .or_insert((i, i));
        }
        Index {
            stmts,
            by_subject,
            by_graph,
            next,
        }
    }

    /// The positions of a key's statements, in order.
    fn chain(&self, first: Option<&(u32, u32)>) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(first.map(|&(i, _)| i), |&i| {
            Some(self.next[i as usize]).filter(|&n| n != END)
        })
    }

    /// The member's CBD in the default graph plus its named graph, as sorted positions.
    fn description(&self, id: &str, blank: bool) -> Vec<u32> {
        let mut out = Vec::new();
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        let mut stack: Vec<(bool, &str)> = vec![(blank, id)];
        while let Some(key) = stack.pop() {
            for i in self.chain(self.by_subject.get(&key)) {
                let st = &self.stmts[i as usize];
                if is_tree_member_of(st, id) {
                    continue;
                }
                out.push(i);
                if let Term::BlankNode(b) = &st.quad.object {
                    if seen.insert(b.as_str()) {
                        stack.push((true, b.as_str()));
                    }
                }
            }
        }
        if !blank {
            out.extend(
                self.chain(self.by_graph.get(&(false, id)))
                    .filter(|&i| !is_tree_member_of(&self.stmts[i as usize], id)),
            );
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The members that `mode` names in the window, first occurrence first, and the statements
/// that name a member that cannot be one (blank node, literal).
fn identify<'a>(cfg: &Config, file: &str, stmts: &'a [Stmt]) -> (Vec<Cand>, Vec<(u32, Problem)>) {
    let mut cands: Vec<Cand> = Vec::new();
    // Members named so far, and blank nodes already reported.
    let mut seen: FxHashSet<Key<'a>> = FxHashSet::default();
    let mut bad: Vec<(u32, Problem)> = Vec::new();
    let problem = |i: usize, member: Option<String>, reason: String| {
        (
            i as u32,
            Problem {
                file: file.to_owned(),
                line: Some(stmts[i].line),
                member,
                reason,
                dropped: true,
            },
        )
    };
    let mut add = |key: Key<'a>, i: usize, seen: &mut FxHashSet<Key<'a>>| {
        if seen.insert(key) {
            cands.push(Cand {
                id: key.1.to_owned(),
                blank: key.0,
                pos: Some(i as u32),
                line: Some(stmts[i].line),
            });
        }
    };
    let in_own_graph = |st: &Stmt| match graph_key(&st.quad.graph_name) {
        None => true,
        Some(g) => g == subject_key(&st.quad.subject),
    };
    for (i, st) in stmts.iter().enumerate() {
        let q = &st.quad;
        match &cfg.mode {
            Mode::VersionOf | Mode::Document => {
                if q.predicate == cfg.version_of_path && in_own_graph(st) {
                    match &q.subject {
                        NamedOrBlankNode::NamedNode(n) => add((false, n.as_str()), i, &mut seen),
                        NamedOrBlankNode::BlankNode(b) => {
                            if seen.insert((true, b.as_str())) {
                                bad.push(problem(
                                    i,
                                    None,
                                    "a blank node with the version-of path cannot be a member"
                                        .into(),
                                ));
                            }
                        }
                    }
                }
            }
            Mode::Type(class) => {
                if q.predicate == rdf::TYPE
                    && matches!(&q.object, Term::NamedNode(o) if o == class)
                    && in_own_graph(st)
                {
                    match &q.subject {
                        NamedOrBlankNode::NamedNode(n) => add((false, n.as_str()), i, &mut seen),
                        NamedOrBlankNode::BlankNode(b) => {
                            if seen.insert((true, b.as_str())) {
                                bad.push(problem(
                                    i,
                                    None,
                                    format!("a blank node of type <{class}> cannot be a member"),
                                ));
                            }
                        }
                    }
                }
            }
            Mode::Subject => {
                if let (NamedOrBlankNode::NamedNode(n), GraphName::DefaultGraph) =
                    (&q.subject, &q.graph_name)
                {
                    add((false, n.as_str()), i, &mut seen);
                }
            }
            Mode::TreeMember => {
                if q.predicate.as_str() == TREE_MEMBER {
                    match &q.object {
                        Term::NamedNode(o) => add((false, o.as_str()), i, &mut seen),
                        other => bad.push(problem(
                            i,
                            None,
                            format!("tree:member object {other} is not an IRI: not a member"),
                        )),
                    }
                }
            }
            Mode::NamedGraph => match &q.graph_name {
                GraphName::NamedNode(g) if !is_tree_member_of(st, g.as_str()) => {
                    add((false, g.as_str()), i, &mut seen)
                }
                GraphName::NamedNode(_) => {}
                GraphName::BlankNode(b) => {
                    if seen.insert((true, b.as_str())) {
                        bad.push(problem(
                            i,
                            None,
                            "a blank-node graph name cannot be a member IRI".into(),
                        ));
                    }
                }
                GraphName::DefaultGraph => {}
            },
        }
    }
    (cands, bad)
}

/// Where a non-final window is cut: before the trailing statements of the last subject (or
/// named graph) and before the member whose description starts last, never inside a member's
/// description, and before statements that follow the last member out and belong to no member
/// yet (their member may be named next), unless they lie before `give_up_before`.
/// 0 means: read more first.
fn cut_point(
    stmts: &[Stmt],
    spans: &[Option<(u32, u32)>],
    covered: &[bool],
    give_up_before: usize,
) -> usize {
    let Some(last) = stmts.last() else {
        return 0;
    };
    let s = subject_key(&last.quad.subject);
    let g = graph_key(&last.quad.graph_name);
    let mut c = stmts.len();
    while c > 0 {
        let q = &stmts[c - 1].quad;
        let same_graph = g.is_some() && graph_key(&q.graph_name) == g;
        if subject_key(&q.subject) != s && !same_graph {
            break;
        }
        c -= 1;
    }
    let settle = |mut c: u32| loop {
        let mut moved = false;
        for &(lo, hi) in spans.iter().flatten() {
            if lo < c && hi >= c {
                c = lo;
                moved = true;
            }
        }
        if !moved {
            return c;
        }
    };
    // The member that starts last may go on in the next window: hold it back.
    let last_start = spans.iter().flatten().map(|&(lo, _)| lo).max();
    let c = settle(last_start.map_or(c as u32, |lo| lo.min(c as u32)));
    let end_of_settled = spans
        .iter()
        .flatten()
        .filter(|&&(_, hi)| hi < c)
        .map(|&(_, hi)| hi as usize + 1)
        .max()
        .unwrap_or(0);
    let waiting = (end_of_settled.max(give_up_before)..c as usize).find(|&i| !covered[i]);
    match waiting {
        Some(i) => settle(i as u32) as usize,
        None => c as usize,
    }
}

/// Extracts the members complete in `stmts`; returns them and the cut (statements before it are
/// done; the rest must be carried into the next window). `last`: no statements follow.
pub(super) fn extract(
    cfg: &Config,
    file: &str,
    stmts: &[Stmt],
    last: bool,
    memo: &mut FileMemo,
    problems: &mut Vec<Problem>,
) -> (Vec<Row>, usize) {
    if cfg.mode == Mode::Document {
        return (
            extract_document(cfg, file, stmts, last, problems),
            stmts.len(),
        );
    }
    let index = Index::new(stmts);
    let (mut cands, bad) = identify(cfg, file, stmts);
    if cfg.mode == Mode::TreeMember {
        cands.retain(|c| !memo.emitted.contains(&c.id));
        let known: FxHashSet<&str> = cands.iter().map(|c| c.id.as_str()).collect();
        let carried: Vec<Cand> = memo
            .pending
            .iter()
            .filter(|(id, _)| !known.contains(id.as_str()))
            .map(|(id, line)| Cand {
                id: id.clone(),
                blank: false,
                pos: None,
                line: Some(*line),
            })
            .collect();
        cands.extend(carried);
    }
    let descs: Vec<Vec<u32>> = cands
        .par_iter()
        .map(|c| {
            if c.blank {
                Vec::new()
            } else {
                index.description(&c.id, false)
            }
        })
        .collect();
    let spans: Vec<Option<(u32, u32)>> = descs
        .iter()
        .map(|d| Some((*d.first()?, *d.last()?)))
        .collect();
    let cut = if last {
        stmts.len()
    } else {
        let mut covered = vec![false; stmts.len()];
        for d in &descs {
            for &i in d {
                covered[i as usize] = true;
            }
        }
        // Statements of no member are held for at most GIVE_UP windows.
        let give_up_before = stmts.len().saturating_sub(GIVE_UP * cfg.window);
        cut_point(stmts, &spans, &covered, give_up_before)
    };
    if cut == 0 && !last {
        return (Vec::new(), 0);
    }
    problems.extend(
        bad.into_iter()
            .filter(|(i, _)| (*i as usize) < cut)
            .map(|(_, p)| p),
    );
    // Members out of this window: description before the cut; `tree-member` members without
    // a description wait for a later window (or the end of the file).
    let mut out: Vec<(u32, usize)> = Vec::new();
    let mut pending = Vec::new();
    for (k, c) in cands.iter().enumerate() {
        if c.blank {
            continue;
        }
        match (spans[k], c.pos) {
            (Some((lo, hi)), _) if (hi as usize) < cut => out.push((lo, k)),
            // Named again after the cut: found again in the next window.
            (_, Some(p)) if p as usize >= cut => {}
            _ if cfg.mode == Mode::TreeMember && !last => {
                pending.push((c.id.clone(), c.line.unwrap_or(0)));
            }
            (None, p) => out.push((p.unwrap_or(0), k)),
            (Some(_), _) => {}
        }
    }
    out.sort_unstable();
    let rows: Vec<(Row, Option<Problem>)> = out
        .par_iter()
        .map(|&(_, k)| {
            let c = &cands[k];
            let triples: Vec<TripleRef<'_>> = descs[k]
                .iter()
                .map(|&i| triple_of(&stmts[i as usize]))
                .collect();
            let problem = triples.is_empty().then(|| Problem {
                file: file.to_owned(),
                line: c.line,
                member: Some(c.id.clone()),
                reason: "member without a description (no statements about it)".into(),
                dropped: false,
            });
            (
                build_row(cfg, NamedNode::new_unchecked(c.id.as_str()), triples),
                problem,
            )
        })
        .collect();
    if cfg.mode == Mode::TreeMember {
        memo.pending = pending;
        if !last {
            memo.emitted
                .extend(out.iter().map(|&(_, k)| cands[k].id.clone()));
        }
    }
    let mut result = Vec::with_capacity(rows.len());
    for (row, p) in rows {
        problems.extend(p);
        result.push(row);
    }
    (result, cut)
}

fn extract_document(
    cfg: &Config,
    file: &str,
    stmts: &[Stmt],
    last: bool,
    problems: &mut Vec<Problem>,
) -> Vec<Row> {
    debug_assert!(last, "document mode reads whole inputs");
    let _ = last;
    let (cands, bad) = identify(cfg, file, stmts);
    problems.extend(bad.into_iter().map(|(_, p)| p));
    let cands: Vec<Cand> = cands.into_iter().filter(|c| !c.blank).collect();
    match cands.as_slice() {
        [] => {
            if !stmts.is_empty() {
                problems.push(Problem {
                    file: file.to_owned(),
                    line: None,
                    member: None,
                    reason: format!(
                        "no member in the document (no IRI subject with <{}>)",
                        cfg.version_of_path
                    ),
                    dropped: true,
                });
            }
            Vec::new()
        }
        [c] => {
            let triples: Vec<TripleRef<'_>> = stmts
                .iter()
                .filter(|st| !is_tree_member_of(st, &c.id))
                .map(triple_of)
                .collect();
            vec![build_row(
                cfg,
                NamedNode::new_unchecked(c.id.as_str()),
                triples,
            )]
        }
        several => {
            for c in several {
                problems.push(Problem {
                    file: file.to_owned(),
                    line: c.line,
                    member: Some(c.id.clone()),
                    reason: format!(
                        "{} members in one document (member=\"document\" needs exactly one)",
                        several.len()
                    ),
                    dropped: true,
                });
            }
            Vec::new()
        }
    }
}

fn triple_of(st: &Stmt) -> TripleRef<'_> {
    let q = &st.quad;
    TripleRef::new(q.subject.as_ref(), q.predicate.as_ref(), q.object.as_ref())
}

/// The version object of a state object: `{subject}{delimiter}{timestamp}` and the two triples
/// to add.
fn make_version(
    v: &Versions,
    subject: &NamedNode,
    triples: &[TripleRef<'_>],
) -> (NamedNode, [Triple; 2]) {
    let ts = v
        .timestamp_property
        .as_ref()
        .and_then(|prop| {
            triples
                .iter()
                .filter(|t| t.predicate == prop.as_ref() && t.subject == subject.as_ref().into())
                .filter_map(|t| match t.object {
                    TermRef::Literal(l) => Some(l.value()),
                    TermRef::NamedNode(n) => Some(n.as_str()),
                    TermRef::BlankNode(_) => None,
                })
                .min()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| v.timestamp.clone());
    let version = NamedNode::new_unchecked(format!("{}{}{}", subject.as_str(), v.delimiter, ts));
    let added = [
        Triple::new(version.clone(), v.version_of_path.clone(), subject.clone()),
        Triple::new(
            version.clone(),
            v.timestamp_path.clone(),
            Literal::new_typed_literal(ts, xsd::DATE_TIME),
        ),
    ];
    (version, added)
}

fn lexical(t: TermRef<'_>) -> Option<&str> {
    match t {
        TermRef::NamedNode(n) => Some(n.as_str()),
        TermRef::Literal(l) => Some(l.value()),
        TermRef::BlankNode(_) => None,
    }
}

fn build_row(cfg: &Config, id: NamedNode, description: Vec<TripleRef<'_>>) -> Row {
    let (member, added) = match &cfg.versions {
        Some(v) => {
            let (version, added) = make_version(v, &id, &description);
            (version, Some(added))
        }
        None => (id.clone(), None),
    };
    let member: NamedOrBlankNode = member.into();
    let mut triples: Vec<TripleRef<'_>> = description;
    if let (Some(added), NamedOrBlankNode::NamedNode(version)) = (&added, &member) {
        // The state's triples move to the version.
        for t in triples.iter_mut() {
            if t.subject == id.as_ref().into() {
                t.subject = version.as_ref().into();
            }
        }
        triples.extend(added.iter().map(Triple::as_ref));
    }
    let ordered = payload::canonical_order(&member, &triples);
    let mut text = String::with_capacity(ordered.len() * 120);
    payload::write_ntriples(&ordered, &mut text);
    let values = cfg
        .columns
        .iter()
        .map(|col| {
            let at_path = ordered.iter().filter(|t| t.predicate == col.path.as_ref());
            match col.kind {
                ColumnKind::Wkt => Value::List(
                    at_path
                        .filter_map(|t| match t.object {
                            TermRef::Literal(l) => Some(l.value().to_owned()),
                            _ => None,
                        })
                        .collect(),
                ),
                ColumnKind::Reference => Value::List(
                    at_path
                        .filter_map(|t| lexical(t.object).map(str::to_owned))
                        .collect(),
                ),
                ColumnKind::Time => {
                    let values: Vec<&str> = at_path.filter_map(|t| lexical(t.object)).collect();
                    let first_valid = values
                        .iter()
                        .find(|v| xsd_parse::parse_xsd_datetime(v, xsd_parse::Naive::Utc).is_ok());
                    Value::One(first_valid.or(values.first()).map(|v| (*v).to_owned()))
                }
            }
        })
        .collect();
    let id = match &member {
        NamedOrBlankNode::NamedNode(n) => n.as_str().to_owned(),
        NamedOrBlankNode::BlankNode(b) => b.as_str().to_owned(),
    };
    Row {
        id,
        values,
        payload: text,
    }
}
