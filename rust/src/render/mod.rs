//! TREE/LDES pages written straight to bytes (docs/ldes-rules.md).
//!
//! A page is built as a small graph of borrowed terms — the page skeleton (node, relations,
//! event stream, view description) followed by each member's `tree:member` link and its
//! description — and written by one writer per syntax. Member descriptions arrive as
//! N-Triples lines; they are checked by a strict line parser and copied through without
//! re-encoding (their escapes are valid in N-Triples, N-Quads, Turtle and TriG alike).

pub mod arrow;
mod jsonld;
mod ntriples;
mod payload;
mod turtle;

use crate::timebucket::Granularity;
use crate::view::{Fragmentation, View};

pub(crate) use payload::check_iri;

use crate::vocab::*;

/// An RDF syntax of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Turtle,
    NTriples,
    NQuads,
    TriG,
    JsonLd,
}

impl Format {
    /// The format's name in the Python API (`"turtle"`, `"ntriples"`, …).
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "turtle" => Format::Turtle,
            "ntriples" => Format::NTriples,
            "nquads" => Format::NQuads,
            "trig" => Format::TriG,
            "jsonld" => Format::JsonLd,
            _ => return None,
        })
    }
}

/// Why a page cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{what} is not a valid absolute IRI ({why}): {iri:?}")]
    Iri {
        what: String,
        iri: String,
        why: &'static str,
    },
    /// `row` is the member's index in the input (before the chronological sort).
    #[error("member {row} <{id}>: payload line {line}: {why}")]
    Payload {
        row: usize,
        id: String,
        line: usize,
        why: String,
    },
    #[error("{0}")]
    Page(String),
}

/// One member of a page: its IRI, its description as N-Triples lines (blank nodes labelled
/// per member) and its timestamp in µs since the epoch (`None`: unknown, written last).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member<'a> {
    pub id: &'a str,
    pub payload: &'a str,
    pub timestamp: Option<i64>,
}

/// One relation from the page to another node.
#[derive(Debug, Clone, Copy)]
pub struct Relation<'a> {
    /// The relation class IRI (`tree:Relation`, `tree:GreaterThanOrEqualToRelation`, …).
    pub kind: &'a str,
    pub node: &'a str,
    pub path: Option<&'a str>,
    /// The lexical value; an IRI when `datatype` is `xsd:anyURI`.
    pub value: Option<&'a str>,
    pub datatype: Option<&'a str>,
    pub remaining_items: Option<u64>,
}

/// What a page says about itself and its stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page<'a> {
    pub node: &'a str,
    pub stream: &'a str,
    pub immutable: bool,
    /// The view node (entry document): carries `tree:view` and the stream's context.
    pub root: bool,
    pub view: Option<&'a View>,
    pub timestamp_path: Option<&'a str>,
    pub version_of_path: Option<&'a str>,
    pub shape: Option<&'a str>,
}

impl<'a> Page<'a> {
    pub(crate) fn new(node: &'a str, stream: &'a str) -> Page<'a> {
        Page {
            node,
            stream,
            immutable: false,
            root: false,
            view: None,
            timestamp_path: None,
            version_of_path: None,
            shape: None,
        }
    }
}

/// Renders one page.
pub(crate) fn render(
    page: &Page<'_>,
    members: &[Member<'_>],
    relations: &[Relation<'_>],
    format: Format,
) -> Result<Vec<u8>, RenderError> {
    let description = description_iri(page.node);
    let graph = build(page, &description, members, relations)?;
    // One allocation: the payloads, the member links and the relabelled blank nodes.
    let payload_bytes: usize = members
        .iter()
        .map(|m| m.payload.len() + m.id.len() + page.stream.len())
        .sum();
    let mut out = Vec::with_capacity(payload_bytes + payload_bytes / 4 + 4096);
    match format {
        Format::Turtle => turtle::write(&graph, &mut out, false)?,
        Format::TriG => turtle::write(&graph, &mut out, true)?,
        Format::NTriples | Format::NQuads => ntriples::write(&graph, &mut out)?,
        Format::JsonLd => jsonld::write(&graph, &mut out)?,
    }
    Ok(out)
}

/// A strong ETag of a body: `"` + the first 32 hex digits of its BLAKE3 hash + `"` (BLAKE3:
/// several GB/s on one core, so a page costs a few per cent more to render, not double).
pub fn etag(body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = blake3::hash(body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for &b in &hash.as_bytes()[..16] {
        tag.push(char::from(HEX[usize::from(b >> 4)]));
        tag.push(char::from(HEX[usize::from(b & 15)]));
    }
    tag.push('"');
    tag
}

/// The IRI of a view node's description: a fragment of the node's own IRI.
pub(crate) fn description_iri(node: &str) -> String {
    if node.contains('#') {
        format!("{node}-description")
    } else {
        format!("{node}#description")
    }
}

// ---- the page graph --------------------------------------------------------------------------

/// A lexical form: as written inside N-Triples quotes (escaped), or a string still to escape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex<'a> {
    Escaped(&'a str),
    Raw(&'a str),
    Integer(u64),
    Boolean(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag<'a> {
    /// A simple literal (`xsd:string` left implicit).
    None,
    Lang(&'a str),
    /// A datatype IRI, as written between `<` and `>`.
    Datatype(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term<'a> {
    /// An IRI as written between `<` and `>` (payload IRIs may hold `\u` escapes).
    Iri(&'a str),
    /// A member's blank node: (member position in the page, label).
    Blank(u32, &'a str),
    /// A blank node with its own property list, `Graph::inlines[i]` (referenced once).
    Inline(u32),
    /// An RDF collection, `Graph::lists[i]` (referenced once).
    List(u32),
    Literal(Lex<'a>, Tag<'a>),
}

impl<'a> Term<'a> {
    fn datatype(self) -> Option<&'a str> {
        match self {
            Term::Literal(Lex::Integer(_), _) => Some(XSD_INTEGER),
            Term::Literal(Lex::Boolean(_), _) => Some(XSD_BOOLEAN),
            Term::Literal(_, Tag::Datatype(dt)) => Some(dt),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Triple<'a> {
    s: Term<'a>,
    p: &'a str,
    o: Term<'a>,
}

/// A page: its own statements, then its members' descriptions, parsed while written (they
/// are most of the page; no triple of theirs is stored).
#[derive(Debug, Default)]
struct Graph<'a> {
    triples: Vec<Triple<'a>>,
    inlines: Vec<Vec<(&'a str, Term<'a>)>>,
    lists: Vec<Vec<Term<'a>>>,
    /// (input row, member) in page order.
    members: Vec<(usize, Member<'a>)>,
}

impl<'a> Graph<'a> {
    /// Hands every triple of the page to `f`, in page order, with its line when it is a
    /// member's triple already written as canonical N-Triples.
    fn each(&self, mut f: impl FnMut(Triple<'a>, Option<&'a str>)) -> Result<(), RenderError> {
        for &t in &self.triples {
            f(t, None);
        }
        for (pos, &(row, m)) in self.members.iter().enumerate() {
            if let Some((_, next)) = self.members.get(pos + 2) {
                prefetch(next.payload);
            }
            payload::parse_each(m.payload, pos as u32, &mut f).map_err(|(line, why)| {
                RenderError::Payload {
                    row,
                    id: m.id.to_owned(),
                    line,
                    why: why.to_string(),
                }
            })?;
        }
        Ok(())
    }

    fn add(&mut self, s: Term<'a>, p: &'a str, o: Term<'a>) {
        self.triples.push(Triple { s, p, o });
    }

    fn inline(&mut self, pairs: Vec<(&'a str, Term<'a>)>) -> Term<'a> {
        self.inlines.push(pairs);
        Term::Inline((self.inlines.len() - 1) as u32)
    }

    fn list(&mut self, items: Vec<Term<'a>>) -> Term<'a> {
        self.lists.push(items);
        Term::List((self.lists.len() - 1) as u32)
    }
}

/// Asks the CPU to load the start of `s` into its cache. A page's members lie far apart in
/// their batch (they arrived among every other page's), so each would otherwise begin with a
/// wait on memory.
#[inline]
fn prefetch(s: &str) {
    #[cfg(target_arch = "x86_64")]
    for offset in (0..s.len().min(512)).step_by(64) {
        // SAFETY: a prefetch reads nothing and never faults; the address lies within `s`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                s.as_ptr().add(offset).cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = s;
}

fn iri_arg<'a>(what: &str, iri: &'a str) -> Result<Term<'a>, RenderError> {
    check_iri(iri).map_err(|why| RenderError::Iri {
        what: what.to_owned(),
        iri: iri.to_owned(),
        why,
    })?;
    Ok(Term::Iri(iri))
}

fn build<'a>(
    page: &Page<'a>,
    description: &'a str,
    members: &[Member<'a>],
    relations: &[Relation<'a>],
) -> Result<Graph<'a>, RenderError> {
    if page.root && page.immutable {
        return Err(RenderError::Page(
            "a root (view) page is never immutable: it links to pages still to come".into(),
        ));
    }
    let node = iri_arg("node", page.node)?;
    let stream = iri_arg("stream", page.stream)?;
    let mut g = Graph::default();
    g.triples.reserve(16 + relations.len() + members.len());

    g.add(node, RDF_TYPE, Term::Iri(TREE_NODE_CLASS));
    if !page.root {
        g.add(node, DCT_IS_PART_OF, stream);
    }
    if page.immutable {
        g.add(
            node,
            LDES_IMMUTABLE,
            Term::Literal(Lex::Boolean(true), Tag::None),
        );
    }
    let view = page.view.filter(|_| page.root);
    if view.is_some() {
        g.add(node, TREE_VIEW_DESCRIPTION, Term::Iri(description));
    }
    for (i, r) in relations.iter().enumerate() {
        let what = |field: &str| format!("relation {i} {field}");
        let mut pairs = vec![
            (RDF_TYPE, iri_arg(&what("type"), r.kind)?),
            (TREE_NODE, iri_arg(&what("node"), r.node)?),
        ];
        if let Some(path) = r.path {
            pairs.push((TREE_PATH, iri_arg(&what("path"), path)?));
        }
        if let Some(value) = r.value {
            let term = match r.datatype {
                Some(XSD_ANY_URI) => iri_arg(&what("value"), value)?,
                Some(dt) => Term::Literal(
                    Lex::Raw(value),
                    Tag::Datatype(match iri_arg(&what("datatype"), dt)? {
                        Term::Iri(dt) => dt,
                        _ => unreachable!("iri_arg gives an IRI"),
                    }),
                ),
                None => Term::Literal(Lex::Raw(value), Tag::None),
            };
            pairs.push((TREE_VALUE, term));
        }
        if let Some(n) = r.remaining_items {
            pairs.push((TREE_REMAINING, Term::Literal(Lex::Integer(n), Tag::None)));
        }
        let rel = g.inline(pairs);
        g.add(node, TREE_RELATION, rel);
    }

    g.add(stream, RDF_TYPE, Term::Iri(LDES_EVENT_STREAM));
    if page.root {
        for (pred, what, value) in [
            (LDES_TIMESTAMP_PATH, "timestamp_path", page.timestamp_path),
            (
                LDES_VERSION_OF_PATH,
                "version_of_path",
                page.version_of_path,
            ),
            (TREE_SHAPE, "shape", page.shape),
        ] {
            if let Some(v) = value {
                g.add(stream, pred, iri_arg(what, v)?);
            }
        }
        g.add(stream, TREE_VIEW, node);
    }

    // Chronological order, stable; members without a timestamp last.
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&i| (members[i].timestamp.is_none(), members[i].timestamp));
    for (k, &i) in order.iter().enumerate() {
        if let Some(&next) = order.get(k + 4) {
            prefetch(members[next].id);
        }
        let m = &members[i];
        check_iri(m.id).map_err(|why| RenderError::Payload {
            row: i,
            id: m.id.to_owned(),
            line: 0,
            why: format!("the member id is not a valid absolute IRI ({why})"),
        })?;
        g.add(stream, TREE_MEMBER, Term::Iri(m.id));
    }

    if let Some(view) = view {
        let desc = Term::Iri(description);
        g.add(desc, RDF_TYPE, Term::Iri(TREE_VIEW_DESCRIPTION_CLASS));
        let mut strategies = Vec::with_capacity(view.fragmentations.len());
        for f in &view.fragmentations {
            let pairs = fragmentation(f)?;
            strategies.push(g.inline(pairs));
        }
        // An empty collection is rdf:nil itself (the writers only see non-empty lists).
        let list = if strategies.is_empty() {
            Term::Iri(RDF_NIL)
        } else {
            g.list(strategies)
        };
        g.add(desc, TREE_STRATEGY, list);
        g.add(
            desc,
            TREE_PAGE_SIZE,
            Term::Literal(Lex::Integer(view.page_size.into()), Tag::None),
        );
    }

    g.members = order.into_iter().map(|i| (i, members[i])).collect();
    Ok(g)
}

fn fragmentation(f: &Fragmentation) -> Result<Vec<(&str, Term<'_>)>, RenderError> {
    Ok(match f {
        Fragmentation::Geospatial { max_zoom, path, .. } => vec![
            (RDF_TYPE, Term::Iri(TREE_GEO_FRAG)),
            (
                TREE_MAX_ZOOM,
                Term::Literal(Lex::Integer((*max_zoom).into()), Tag::None),
            ),
            (
                TREE_FRAG_PATH,
                iri_arg("geospatial fragmentation path", path)?,
            ),
        ],
        Fragmentation::HierarchicalTime {
            max_granularity,
            path,
            timezone,
            ..
        } => {
            let mut pairs = vec![
                (RDF_TYPE, Term::Iri(TREE_TIME_FRAG)),
                (
                    TREE_MAX_GRANULARITY,
                    Term::Literal(Lex::Raw(granularity_name(*max_granularity)), Tag::None),
                ),
                (TREE_FRAG_PATH, iri_arg("time fragmentation path", path)?),
            ];
            if timezone != "UTC" {
                pairs.push((
                    LDESFRAG_TIMEZONE,
                    Term::Literal(Lex::Raw(timezone), Tag::None),
                ));
            }
            pairs
        }
        Fragmentation::Reference { path, key, .. } => vec![
            (RDF_TYPE, Term::Iri(TREE_REF_FRAG)),
            (
                TREE_FRAG_PATH,
                iri_arg("reference fragmentation path", path)?,
            ),
            (TREE_FRAG_KEY, Term::Literal(Lex::Raw(key), Tag::None)),
        ],
    })
}

fn granularity_name(g: Granularity) -> &'static str {
    g.key()
}

// ---- shared writing helpers --------------------------------------------------------------------

/// Writes a string's characters escaped for an N-Triples / Turtle quoted literal.
fn escape_literal(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f | 0x7f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{b:04X}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Writes a literal's lexical form inside quotes, escaped as N-Triples and Turtle need it.
fn write_quoted(out: &mut Vec<u8>, lex: Lex<'_>) {
    out.push(b'"');
    match lex {
        Lex::Escaped(s) => out.extend_from_slice(s.as_bytes()),
        Lex::Raw(s) => escape_literal(out, s),
        Lex::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Lex::Boolean(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
    }
    out.push(b'"');
}

fn write_u32(out: &mut Vec<u8>, n: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// A blank node label unique in the page: members' labels get the member's position.
fn write_blank_label(out: &mut Vec<u8>, term: Term<'_>, list_cell: u32) {
    out.extend_from_slice(b"_:");
    match term {
        Term::Blank(m, label) => {
            out.push(b'm');
            write_u32(out, m);
            out.push(b'_');
            out.extend_from_slice(label.as_bytes());
        }
        Term::Inline(i) => {
            out.push(b'r');
            write_u32(out, i);
        }
        Term::List(i) => {
            out.push(b'l');
            write_u32(out, i);
            out.push(b'x');
            write_u32(out, list_cell);
        }
        _ => unreachable!("only blank nodes have labels"),
    }
}

#[cfg(test)]
mod tests;
