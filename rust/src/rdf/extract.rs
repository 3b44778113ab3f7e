//! One window of statements → the members complete in it, and where the window is cut.

use oxrdf::vocab::{rdf, xsd};
use oxrdf::{GraphName, Literal, NamedNode, NamedOrBlankNode, Term, TermRef, Triple, TripleRef};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::parse::{iri_problem, NoteKind, Stmt};
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

/// What a file remembers between windows: (`tree-member` mode) members named by a
/// `tree:member` statement whose description has not been seen yet, and members already out;
/// members left out for their size.
#[derive(Debug, Default)]
pub(super) struct FileMemo {
    pending: Vec<(String, u64)>,
    emitted: FxHashSet<String>,
    /// Members reported and left out (too large): their later statements are ignored.
    rejected: FxHashSet<String>,
    /// Subjects whose statements were dropped before they were named members.
    dropped: FxHashSet<String>,
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
        if st.is_unreadable() {
            continue; // a stand-in names no member
        }
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
/// named graph) and before the member whose description starts last (unless it ends before
/// `give_up_before`), never inside a member's description, and before statements that follow
/// the last member out and belong to no member yet (their member may be named next), unless
/// they lie before `give_up_before`.
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
    // The member that starts last may go on in the next window: hold it back, unless its last
    // statement lies where statements of no member are given up (nothing of it since then).
    let last_start = spans
        .iter()
        .flatten()
        .filter(|&&(_, hi)| hi as usize >= give_up_before)
        .map(|&(lo, _)| lo)
        .max();
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

/// How a window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// More statements follow.
    More,
    /// The input ends here.
    Last,
    /// The input broke off here (a read error): what was being read is incomplete.
    Broken,
}

/// A member's fate, decided from the notes on its statements: a member is published whole or
/// not at all. Why not publish it without the statement that cannot be published? Pages are
/// immutable: a member published without part of its description (its geometry, a property)
/// is a wrong version that can never be corrected, while a member reported and left out can be
/// fixed at the source and published then. The same rule holds for a member cut off by a read
/// error or larger than `max_member_bytes`.
fn member_row(cfg: &Config, file: &str, c: &Cand, desc: &[u32], stmts: &[Stmt]) -> Judged {
    let mut problems = Vec::new();
    let mut rejected = false;
    for &i in desc {
        let st = &stmts[i as usize];
        if let Some(n) = &st.note {
            let bad = n.kind != NoteKind::Repaired;
            rejected |= bad;
            problems.push(Problem {
                file: file.to_owned(),
                line: Some(st.line),
                member: Some(c.id.clone()),
                reason: if bad {
                    format!("{}: member not published", n.reason)
                } else {
                    n.reason.clone()
                },
                dropped: bad,
            });
        }
    }
    if rejected {
        return (None, problems);
    }
    let triples: Vec<TripleRef<'_>> = desc
        .iter()
        .map(|&i| triple_of(&stmts[i as usize]))
        .collect();
    let described = !triples.is_empty();
    let row = build_row(cfg, NamedNode::new_unchecked(c.id.as_str()), triples);
    // The member's own IRI: named without statements of its own (a graph name, a tree:member
    // object) or made by `versions` from a timestamp.
    if let Some(why) = iri_problem(&row.id) {
        problems.push(Problem {
            file: file.to_owned(),
            line: c.line,
            member: Some(row.id),
            reason: format!("invalid member IRI: {why}: member not published"),
            dropped: true,
        });
        return (None, problems);
    }
    if !described {
        problems.push(Problem {
            file: file.to_owned(),
            line: c.line,
            member: Some(c.id.clone()),
            reason: "member without a description (no statements about it)".into(),
            dropped: false,
        });
    }
    (Some(row), problems)
}

type Judged = (Option<Row>, Vec<Problem>);

/// The notes of statements before `done` that belong to no member in `descs`.
fn orphan_notes(file: &str, stmts: &[Stmt], done: usize, descs: &[&[u32]]) -> Vec<Problem> {
    if !stmts[..done].iter().any(|s| s.note.is_some()) {
        return Vec::new();
    }
    let mut covered = vec![false; done];
    for d in descs {
        for &i in d.iter() {
            if let Some(c) = covered.get_mut(i as usize) {
                *c = true;
            }
        }
    }
    stmts[..done]
        .iter()
        .zip(covered)
        .filter(|(_, c)| !c)
        .filter_map(|(st, _)| {
            let n = st.note.as_ref()?;
            let bad = n.kind != NoteKind::Repaired;
            Some(Problem {
                file: file.to_owned(),
                line: Some(st.line),
                member: None,
                reason: if bad {
                    format!("{}: statement skipped", n.reason)
                } else {
                    n.reason.clone()
                },
                dropped: bad,
            })
        })
        .collect()
}

/// The window's candidates less the members already left out; a member named after statements
/// about it were dropped is reported and left out too.
fn forget_rejected(
    file: &str,
    cands: &mut Vec<Cand>,
    memo: &mut FileMemo,
    found: &mut Vec<Problem>,
) {
    if memo.rejected.is_empty() && memo.dropped.is_empty() {
        return;
    }
    cands.retain(|c| {
        if c.blank {
            return true;
        }
        if memo.rejected.contains(&c.id) {
            return false;
        }
        if memo.dropped.remove(&c.id) {
            found.push(Problem {
                file: file.to_owned(),
                line: c.line,
                member: Some(c.id.clone()),
                reason: "statements about it were dropped earlier (more than max_member_bytes \
                         of them before it was named a member): member not published"
                    .into(),
                dropped: true,
            });
            memo.rejected.insert(c.id.clone());
            return false;
        }
        true
    });
}

/// Extracts the members complete in `stmts`; returns them and the cut (statements before it are
/// done; the rest must be carried into the next window).
pub(super) fn extract(
    cfg: &Config,
    file: &str,
    stmts: &[Stmt],
    end: End,
    memo: &mut FileMemo,
    problems: &mut Vec<Problem>,
) -> (Vec<Row>, usize) {
    if cfg.mode == Mode::Document {
        return (
            extract_document(cfg, file, stmts, end, problems),
            stmts.len(),
        );
    }
    let index = Index::new(stmts);
    let (mut cands, bad) = identify(cfg, file, stmts);
    let mut found: Vec<Problem> = Vec::new();
    forget_rejected(file, &mut cands, memo, &mut found);
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
    let cut = if end == End::Last {
        stmts.len()
    } else {
        let mut covered = vec![false; stmts.len()];
        for d in &descs {
            for &i in d {
                covered[i as usize] = true;
            }
        }
        cut_point(stmts, &spans, &covered, give_up_before(cfg, stmts))
    };
    if cut == 0 && end == End::More {
        return (Vec::new(), 0);
    }
    let done = if end == End::More { cut } else { stmts.len() };
    found.extend(
        bad.into_iter()
            .filter(|(i, _)| (*i as usize) < done)
            .map(|(_, p)| p),
    );
    // Members out of this window: description before the cut; `tree-member` members without
    // a description wait for a later window (or the end of the file). After a read error, the
    // members the cut holds back are incomplete.
    let mut out: Vec<(u32, usize)> = Vec::new();
    let mut pending = Vec::new();
    let mut incomplete = Vec::new();
    for (k, c) in cands.iter().enumerate() {
        if c.blank {
            continue;
        }
        match (spans[k], c.pos) {
            (Some((lo, hi)), _) if (hi as usize) < cut => out.push((lo, k)),
            _ if end == End::Broken => incomplete.push(k),
            // Named again after the cut: found again in the next window.
            (_, Some(p)) if p as usize >= cut => {}
            _ if cfg.mode == Mode::TreeMember && end == End::More => {
                pending.push((c.id.clone(), c.line.unwrap_or(0)));
            }
            (None, p) => out.push((p.unwrap_or(0), k)),
            (Some(_), _) => {}
        }
    }
    out.sort_unstable();
    let judged: Vec<Judged> = out
        .par_iter()
        .map(|&(_, k)| member_row(cfg, file, &cands[k], &descs[k], stmts))
        .collect();
    for &k in &incomplete {
        let c = &cands[k];
        found.push(Problem {
            file: file.to_owned(),
            line: c.line,
            member: Some(c.id.clone()),
            reason: "incomplete: the input broke off (read error) before the end of its \
                     description: member not published"
                .into(),
            dropped: true,
        });
    }
    let done_descs: Vec<&[u32]> = out
        .iter()
        .map(|&(_, k)| k)
        .chain(incomplete.iter().copied())
        .map(|k| descs[k].as_slice())
        .collect();
    found.extend(orphan_notes(file, stmts, done, &done_descs));
    if cfg.mode == Mode::TreeMember {
        memo.pending = pending;
        if end == End::More {
            memo.emitted
                .extend(out.iter().map(|&(_, k)| cands[k].id.clone()));
        }
    }
    let mut result = Vec::with_capacity(judged.len());
    for (row, ps) in judged {
        found.extend(ps);
        result.extend(row);
    }
    found.sort_by_key(|p| p.line);
    problems.extend(found);
    (result, cut)
}

/// Statements of no member before this position are given up: more than GIVE_UP windows or
/// more than `max_member_bytes` back.
fn give_up_before(cfg: &Config, stmts: &[Stmt]) -> usize {
    let by_count = stmts.len().saturating_sub(GIVE_UP * cfg.window);
    let mut total = 0;
    let mut by_bytes = stmts.len();
    while by_bytes > by_count {
        total += stmts[by_bytes - 1].bytes();
        if total > cfg.max_member_bytes {
            break;
        }
        by_bytes -= 1;
    }
    by_bytes
}

/// A window that cannot be cut and holds more than `max_member_bytes`: the members in it (the
/// one growing at its end, and those whose statements are interleaved with it) are reported
/// and left out, their statements dropped, and their later statements ignored. Returns which
/// statements to keep (those of no member, which may belong to one named later). When no member
/// is in it (one subject's statements, not named a member yet), all is dropped and the subjects
/// remembered: a member named later with one of them is reported, not published in part.
pub(super) fn overflow(
    cfg: &Config,
    file: &str,
    stmts: &[Stmt],
    memo: &mut FileMemo,
    problems: &mut Vec<Problem>,
) -> Vec<bool> {
    let bytes: usize = stmts.iter().map(Stmt::bytes).sum();
    let lines = |range: std::ops::RangeInclusive<usize>| {
        format!(
            "lines {}–{}",
            stmts[*range.start()].line,
            stmts[*range.end()].line
        )
    };
    let mut found = Vec::new();
    if cfg.mode == Mode::Document {
        let (cands, _) = identify(cfg, file, stmts);
        for c in cands.iter().filter(|c| !c.blank) {
            found.push(Problem {
                file: file.to_owned(),
                line: c.line,
                member: Some(c.id.clone()),
                reason: format!(
                    "the document takes more than max_member_bytes ({}): member not published, \
                     rest of the input skipped",
                    cfg.max_member_bytes
                ),
                dropped: true,
            });
        }
        if found.is_empty() && !stmts.is_empty() {
            found.push(Problem {
                file: file.to_owned(),
                line: Some(stmts[0].line),
                member: None,
                reason: format!(
                    "the document takes more than max_member_bytes ({}): skipped",
                    cfg.max_member_bytes
                ),
                dropped: true,
            });
        }
        problems.extend(found);
        return vec![false; stmts.len()];
    }
    let index = Index::new(stmts);
    let (mut cands, _) = identify(cfg, file, stmts);
    forget_rejected(file, &mut cands, memo, &mut found);
    // The members too large by themselves; else the one the uncuttable run starts with (its
    // statements are spread over the window, others' between them). The rest is cut as usual
    // in the next window.
    let members: Vec<(&Cand, Vec<u32>)> = cands
        .iter()
        .filter(|c| !c.blank)
        .map(|c| (c, index.description(&c.id, false)))
        .collect();
    let size = |d: &[u32]| -> usize { d.iter().map(|&i| stmts[i as usize].bytes()).sum() };
    let mut culprits: Vec<usize> = (0..members.len())
        .filter(|&k| size(&members[k].1) > cfg.max_member_bytes)
        .collect();
    if culprits.is_empty() {
        culprits.extend(
            (0..members.len())
                .filter(|&k| !members[k].1.is_empty())
                .min_by_key(|&k| members[k].1[0]),
        );
    }
    let mut keep = vec![true; stmts.len()];
    for k in culprits {
        let (c, desc) = &members[k];
        let span = lines(desc[0] as usize..=stmts.len() - 1);
        for &i in desc {
            keep[i as usize] = false;
        }
        found.push(Problem {
            file: file.to_owned(),
            line: c.line,
            member: Some(c.id.clone()),
            reason: format!(
                "its description, with the statements read together with it ({span}), takes more \
                 than max_member_bytes ({}): member not published",
                cfg.max_member_bytes
            ),
            dropped: true,
        });
        memo.rejected.insert(c.id.clone());
    }
    if keep.iter().all(|&k| k) && !stmts.is_empty() {
        keep.fill(false);
        // The rest of a member already left out needs no second report.
        let mut known = true;
        for st in stmts {
            match &st.quad.subject {
                NamedOrBlankNode::NamedNode(n) if memo.rejected.contains(n.as_str()) => {}
                NamedOrBlankNode::NamedNode(n) => {
                    known = false;
                    if !memo.dropped.contains(n.as_str()) {
                        memo.dropped.insert(n.as_str().to_owned());
                    }
                }
                NamedOrBlankNode::BlankNode(_) => known = false,
            }
        }
        if !known {
            found.push(Problem {
                file: file.to_owned(),
                line: Some(stmts[0].line),
                member: None,
                reason: format!(
                    "{} statements of no member ({}, {bytes} bytes) dropped: more than \
                 max_member_bytes ({}) before a member is named",
                    stmts.len(),
                    lines(0..=stmts.len() - 1),
                    cfg.max_member_bytes
                ),
                dropped: true,
            });
        }
    }
    let gone: Vec<&Stmt> = stmts
        .iter()
        .zip(&keep)
        .filter(|(_, k)| !**k)
        .map(|(s, _)| s)
        .collect();
    for st in gone {
        if let Some(n) = &st.note {
            if n.kind != NoteKind::Repaired {
                found.push(Problem {
                    file: file.to_owned(),
                    line: Some(st.line),
                    member: None,
                    reason: format!("{}: statement skipped", n.reason),
                    dropped: true,
                });
            }
        }
    }
    found.sort_by_key(|p| p.line);
    problems.extend(found);
    keep
}

fn extract_document(
    cfg: &Config,
    file: &str,
    stmts: &[Stmt],
    end: End,
    problems: &mut Vec<Problem>,
) -> Vec<Row> {
    debug_assert!(end != End::More, "document mode reads whole inputs");
    let (cands, bad) = identify(cfg, file, stmts);
    let mut found: Vec<Problem> = bad.into_iter().map(|(_, p)| p).collect();
    let cands: Vec<Cand> = cands.into_iter().filter(|c| !c.blank).collect();
    let mut rows = Vec::new();
    match cands.as_slice() {
        [] => {
            if !stmts.is_empty() && end == End::Last {
                found.push(Problem {
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
            found.extend(orphan_notes(file, stmts, stmts.len(), &[]));
        }
        [c] if end == End::Broken => found.push(Problem {
            file: file.to_owned(),
            line: c.line,
            member: Some(c.id.clone()),
            reason: "incomplete: the input broke off (read error): member not published".into(),
            dropped: true,
        }),
        [c] => {
            let desc: Vec<u32> = (0..stmts.len() as u32)
                .filter(|&i| !is_tree_member_of(&stmts[i as usize], &c.id))
                .collect();
            let (row, ps) = member_row(cfg, file, c, &desc, stmts);
            rows.extend(row);
            found.extend(ps);
        }
        several => {
            for c in several {
                found.push(Problem {
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
            found.extend(orphan_notes(file, stmts, stmts.len(), &[]));
        }
    }
    found.sort_by_key(|p| p.line);
    problems.extend(found);
    rows
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
