//! One window of statements → the members complete in it, and where the window is cut.

use oxrdf::vocab::{rdf, xsd};
use oxrdf::{GraphName, Literal, NamedNode, NamedOrBlankNode, Term, Triple};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::parse::Stmt;
use super::payload::{self, subject_key, Key};
use super::{ColumnKind, Config, Mode, Problem, Versions, TREE_MEMBER};
use crate::xsd as xsd_parse;

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

struct Index<'a> {
    stmts: &'a [Stmt],
    by_subject: FxHashMap<Key<'a>, Vec<u32>>,
    by_graph: FxHashMap<Key<'a>, Vec<u32>>,
}

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
        let mut by_subject: FxHashMap<Key<'a>, Vec<u32>> = FxHashMap::default();
        let mut by_graph: FxHashMap<Key<'a>, Vec<u32>> = FxHashMap::default();
        for (i, st) in stmts.iter().enumerate() {
            match graph_key(&st.quad.graph_name) {
                None => by_subject.entry(subject_key(&st.quad.subject)),
                Some(g) => by_graph.entry(g),
            }
            .or_default()
            .push(i as u32);
        }
        Index {
            stmts,
            by_subject,
            by_graph,
        }
    }

    /// The member's CBD in the default graph plus its named graph, as sorted positions.
    fn description(&self, id: &str, blank: bool) -> Vec<u32> {
        let mut out = Vec::new();
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        let mut stack: Vec<(bool, &str)> = vec![(blank, id)];
        while let Some(key) = stack.pop() {
            let Some(positions) = self.by_subject.get(&key) else {
                continue;
            };
            for &i in positions {
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
            if let Some(positions) = self.by_graph.get(&(false, id)) {
                out.extend(
                    positions
                        .iter()
                        .filter(|&&i| !is_tree_member_of(&self.stmts[i as usize], id)),
                );
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The members that `mode` names in the window, first occurrence first, and the statements
/// that name a member that cannot be one (blank node, literal).
fn identify(cfg: &Config, file: &str, stmts: &[Stmt]) -> (Vec<Cand>, Vec<(u32, Problem)>) {
    let mut cands: Vec<Cand> = Vec::new();
    let mut seen: FxHashSet<(bool, &str)> = FxHashSet::default();
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
    let mut add = |key: (bool, &str), i: usize, seen: &mut FxHashSet<_>| {
        if seen.insert((key.0, key.1.to_owned())) {
            cands.push(Cand {
                id: key.1.to_owned(),
                blank: key.0,
                pos: Some(i as u32),
                line: Some(stmts[i].line),
            });
        }
    };
    // `seen` holds owned keys through `add`; a separate set keeps borrowed ones cheap below.
    let mut owned_seen: FxHashSet<(bool, String)> = FxHashSet::default();
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
                        NamedOrBlankNode::NamedNode(n) => {
                            add((false, n.as_str()), i, &mut owned_seen)
                        }
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
                        NamedOrBlankNode::NamedNode(n) => {
                            add((false, n.as_str()), i, &mut owned_seen)
                        }
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
                    add((false, n.as_str()), i, &mut owned_seen);
                }
            }
            Mode::TreeMember => {
                if q.predicate.as_str() == TREE_MEMBER {
                    match &q.object {
                        Term::NamedNode(o) => add((false, o.as_str()), i, &mut owned_seen),
                        other => bad.push(problem(
                            i,
                            None,
                            format!("tree:member object {other} is not an IRI: not a member"),
                        )),
                    }
                }
            }
            Mode::NamedGraph => match &q.graph_name {
                GraphName::NamedNode(g) => add((false, g.as_str()), i, &mut owned_seen),
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
/// named graph), and never inside a member's description. 0 means: read more first.
fn cut_point(stmts: &[Stmt], spans: &[Option<(u32, u32)>]) -> usize {
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
    let mut c = c as u32;
    loop {
        let mut moved = false;
        for &(lo, hi) in spans.iter().flatten() {
            if lo < c && hi >= c {
                c = lo;
                moved = true;
            }
        }
        if !moved {
            return c as usize;
        }
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
        cut_point(stmts, &spans)
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
            let triples: Vec<Triple> = descs[k]
                .iter()
                .map(|&i| {
                    let q = &stmts[i as usize].quad;
                    Triple::new(q.subject.clone(), q.predicate.clone(), q.object.clone())
                })
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
            let triples: Vec<Triple> = stmts
                .iter()
                .filter(|st| !is_tree_member_of(st, &c.id))
                .map(|st| {
                    let q = &st.quad;
                    Triple::new(q.subject.clone(), q.predicate.clone(), q.object.clone())
                })
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

/// The version object of a state object: `{subject}{delimiter}{timestamp}`.
fn make_version(v: &Versions, subject: &NamedNode, triples: &mut Vec<Triple>) -> NamedNode {
    let ts = v
        .timestamp_property
        .as_ref()
        .and_then(|prop| {
            triples
                .iter()
                .filter(|t| t.predicate == *prop && t.subject.as_ref() == subject.as_ref().into())
                .filter_map(|t| match &t.object {
                    Term::Literal(l) => Some(l.value()),
                    Term::NamedNode(n) => Some(n.as_str()),
                    Term::BlankNode(_) => None,
                })
                .min()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| v.timestamp.clone());
    let version = NamedNode::new_unchecked(format!("{}{}{}", subject.as_str(), v.delimiter, ts));
    for t in triples.iter_mut() {
        if t.subject.as_ref() == subject.as_ref().into() {
            t.subject = version.clone().into();
        }
    }
    triples.push(Triple::new(
        version.clone(),
        v.version_of_path.clone(),
        subject.clone(),
    ));
    triples.push(Triple::new(
        version.clone(),
        v.timestamp_path.clone(),
        Literal::new_typed_literal(ts, xsd::DATE_TIME),
    ));
    version
}

fn lexical(t: &Term) -> Option<&str> {
    match t {
        Term::NamedNode(n) => Some(n.as_str()),
        Term::Literal(l) => Some(l.value()),
        Term::BlankNode(_) => None,
    }
}

fn build_row(cfg: &Config, id: NamedNode, mut triples: Vec<Triple>) -> Row {
    let id = match &cfg.versions {
        Some(v) => make_version(v, &id, &mut triples),
        None => id,
    };
    let member: NamedOrBlankNode = id.into();
    let ordered = payload::canonical_order(&member, &triples);
    let mut text = String::with_capacity(ordered.len() * 120);
    payload::write_ntriples(&ordered, &mut text);
    let values = cfg
        .columns
        .iter()
        .map(|col| {
            let at_path = ordered.iter().filter(|t| t.predicate == col.path);
            match col.kind {
                ColumnKind::Wkt => Value::List(
                    at_path
                        .filter_map(|t| match &t.object {
                            Term::Literal(l) => Some(l.value().to_owned()),
                            _ => None,
                        })
                        .collect(),
                ),
                ColumnKind::Reference => Value::List(
                    at_path
                        .filter_map(|t| lexical(&t.object).map(str::to_owned))
                        .collect(),
                ),
                ColumnKind::Time => {
                    let values: Vec<&str> = at_path.filter_map(|t| lexical(&t.object)).collect();
                    let first_valid = values
                        .iter()
                        .find(|v| xsd_parse::parse_xsd_datetime(v, xsd_parse::Naive::Utc).is_ok());
                    Value::One(first_valid.or(values.first()).map(|v| (*v).to_owned()))
                }
            }
        })
        .collect();
    let id = match member {
        NamedOrBlankNode::NamedNode(n) => n.into_string(),
        NamedOrBlankNode::BlankNode(b) => b.into_string(),
    };
    Row {
        id,
        values,
        payload: text,
    }
}
