//! Statements from N-Triples, N-Quads, Turtle and TriG bytes (plain or gzip), with line numbers.
//!
//! oxttl's low-level parsers are fed one line at a time, so every statement knows the line it
//! ends on and a syntax error names its line. Parsing is lenient (oxttl `lenient()`: IRIs and
//! language tags are not validated while parsing) and never stops at an error: N-Triples/N-Quads
//! resume at the next line, Turtle/TriG at the next line that starts a statement.
//!
//! What cannot be published is not dropped here but marked ([`Note`]) on the statement, so that
//! `extract` can name the member it belongs to and decide its fate: a statement with a term the
//! renderer or rdflib would refuse ([`iri_problem`], [`lang_ok`]) keeps its quad and is marked
//! `Invalid`; a line that cannot be read (syntax error, longer than `max_line_bytes`) becomes a
//! stand-in statement of its subject (when that can be told) marked `Unreadable`. A literal typed
//! `rdf:langString` without a language tag (real GIPOD data) is read as `xsd:string` and marked
//! `Repaired`. A read error (truncated gzip, …) ends the input and is kept apart ([`broken`]).
//!
//! [`broken`]: StatementSource::take_broken

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use memchr::{memchr, memchr2, memrchr};
use oxrdf::vocab::{rdf, xsd};
use oxrdf::{BlankNode, GraphName, Literal, NamedNode, NamedOrBlankNode, Quad, Term};
use oxttl::trig::LowLevelTriGParser;
use oxttl::turtle::LowLevelTurtleParser;
use oxttl::{NQuadsParser, NTriplesParser, TriGParser, TurtleParser};
use rayon::prelude::*;

use super::{line, Error, Problem};

/// An RDF syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    NTriples,
    NQuads,
    Turtle,
    TriG,
}

impl Format {
    /// `"ntriples"`, `"nquads"`, `"turtle"` or `"trig"`.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "ntriples" => Format::NTriples,
            "nquads" => Format::NQuads,
            "turtle" => Format::Turtle,
            "trig" => Format::TriG,
            _ => return None,
        })
    }
}

/// Lines of N-Triples/N-Quads in a unit (fewer when they are long): what a `read` takes whole.
const LINE_CHUNK: usize = 512;
const CHUNK_BYTES: usize = 1 << 22;
/// Bytes kept of a line longer than the limit: enough to tell its subject.
const OVERLONG_KEPT: usize = 4096;

/// What is wrong with a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    pub kind: NoteKind,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoteKind {
    /// Read with a repair; the statement is kept.
    Repaired,
    /// Read, but a term cannot be published (an invalid IRI or language tag): the quad is the
    /// statement as written.
    Invalid,
    /// Not read (a syntax error, a line too long): the quad is a stand-in that only tells the
    /// statement's subject (a fresh blank node when unknown).
    Unreadable,
}

/// One parsed statement and the (1-based) line it ends on.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    pub quad: Quad,
    pub line: u64,
    pub note: Option<Box<Note>>,
}

impl Stmt {
    fn new(quad: Quad, line: u64) -> Stmt {
        Stmt {
            quad,
            line,
            note: None,
        }
    }

    /// A stand-in for a statement that could not be read.
    fn unreadable(subject: Option<NamedOrBlankNode>, line: u64, reason: String) -> Stmt {
        // A label with spaces: no parsed blank node can have it.
        let subject = subject
            .unwrap_or_else(|| BlankNode::new_unchecked(format!("unread line {line}")).into());
        Stmt {
            quad: Quad::new(
                subject,
                NamedNode::new_unchecked("urn:ldesfrag:unreadable"),
                Literal::new_simple_literal(""),
                GraphName::DefaultGraph,
            ),
            line,
            note: Some(Box::new(Note {
                kind: NoteKind::Unreadable,
                reason,
            })),
        }
    }

    pub(crate) fn is_unreadable(&self) -> bool {
        matches!(&self.note, Some(n) if n.kind == NoteKind::Unreadable)
    }

    /// About the statement's size as N-Triples text: what `max_member_bytes` counts.
    pub(crate) fn bytes(&self) -> usize {
        let q = &self.quad;
        let term = |t: &Term| match t {
            Term::NamedNode(n) => n.as_str().len(),
            Term::BlankNode(b) => b.as_str().len(),
            Term::Literal(l) => {
                l.value().len() + l.language().map_or(l.datatype().as_str().len(), str::len)
            }
        };
        let graph = match &q.graph_name {
            GraphName::NamedNode(n) => n.as_str().len(),
            GraphName::BlankNode(b) => b.as_str().len(),
            GraphName::DefaultGraph => 0,
        };
        let subject = match &q.subject {
            NamedOrBlankNode::NamedNode(n) => n.as_str().len(),
            NamedOrBlankNode::BlankNode(b) => b.as_str().len(),
        };
        subject + q.predicate.as_str().len() + term(&q.object) + graph + 12
    }
}

/// Why `iri` cannot be published, when it cannot: it must pass the renderer's check (an
/// absolute IRI that N-Triples can write without escapes: no space, control character or
/// `<>"{}|^`\`) and hold no Unicode space either (rdflib's N-Triples reader ends an IRI at one,
/// and RFC 3987 allows them only in theory: in data they are copy-paste accidents).
pub(crate) fn iri_problem(iri: &str) -> Option<&'static str> {
    if let Err(why) = crate::render::check_iri(iri) {
        return Some(why);
    }
    if !iri.is_ascii() && iri.chars().any(char::is_whitespace) {
        return Some("it holds a Unicode space");
    }
    None
}

/// The N-Triples/Turtle `LANGTAG` production: `[A-Za-z]+ ('-' [A-Za-z0-9]+)*` (what the
/// renderer and rdflib accept; every well-formed BCP 47 tag has this form).
pub(crate) fn lang_ok(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let first = parts.next().unwrap_or("");
    !first.is_empty()
        && first.bytes().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric()))
}

/// `s`, cut to about 200 bytes for a message.
fn shorten(s: &str) -> String {
    if s.len() <= 200 {
        return s.to_owned();
    }
    let mut end = 200;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// What makes the quad unpublishable, if anything.
fn quad_problem(q: &Quad) -> Option<String> {
    let iri = |n: &NamedNode| {
        iri_problem(n.as_str()).map(|why| format!("invalid IRI <{}>: {why}", shorten(n.as_str())))
    };
    if let NamedOrBlankNode::NamedNode(n) = &q.subject {
        if let Some(p) = iri(n) {
            return Some(p);
        }
    }
    if let Some(p) = iri(&q.predicate) {
        return Some(p);
    }
    match &q.object {
        Term::NamedNode(n) => {
            if let Some(p) = iri(n) {
                return Some(p);
            }
        }
        Term::Literal(l) => match l.language() {
            Some(tag) if !lang_ok(tag) => {
                return Some(format!("invalid language tag @{}", shorten(tag)));
            }
            Some(_) => {}
            None => {
                if let Some(why) = iri_problem(l.datatype().as_str()) {
                    return Some(format!(
                        "invalid datatype IRI <{}>: {why}",
                        shorten(l.datatype().as_str())
                    ));
                }
            }
        },
        Term::BlankNode(_) => {}
    }
    if let GraphName::NamedNode(n) = &q.graph_name {
        return iri(n);
    }
    None
}

/// A quad read by oxttl (lenient: nothing validated) as a statement, marked when it needs it.
fn checked(quad: Quad, line: u64) -> Stmt {
    if let Some(reason) = quad_problem(&quad) {
        return Stmt {
            quad,
            line,
            note: Some(Box::new(Note {
                kind: NoteKind::Invalid,
                reason,
            })),
        };
    }
    repaired(quad, line)
}

/// A valid quad as a statement; an `rdf:langString` literal without a tag becomes `xsd:string`.
fn repaired(mut quad: Quad, line: u64) -> Stmt {
    if let Term::Literal(l) = &quad.object {
        if l.language().is_none() && l.datatype() == rdf::LANG_STRING {
            quad.object = Literal::new_typed_literal(l.value(), xsd::STRING).into();
            return Stmt {
                quad,
                line,
                note: Some(Box::new(Note {
                    kind: NoteKind::Repaired,
                    reason: "rdf:langString literal without a language tag, read as xsd:string"
                        .into(),
                })),
            };
        }
    }
    Stmt::new(quad, line)
}

/// Appends one line (its `\n` included) to `buf`, at most `max` bytes of it: a longer line is
/// consumed whole but only its first `max` bytes kept. Returns the line's length (0 at the end
/// of the input) and whether it was cut. On an error, what was read of the line stays in `buf`.
fn read_line(input: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<(usize, bool)> {
    let mut total = 0;
    let mut cut = false;
    loop {
        let (used, done) = {
            let avail = match input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok((total, cut));
            }
            let (used, done) = match memchr(b'\n', avail) {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            let take = used.min(max.saturating_sub(total));
            buf.extend_from_slice(&avail[..take]);
            cut |= take < used;
            (used, done)
        };
        input.consume(used);
        total += used;
        if done {
            return Ok((total, cut));
        }
    }
}

/// Tells, line by line, whether the text fed so far ends inside a Turtle long string (`"""` or
/// `'''`): the only token that spans lines, and one the parser would rescan from its start at
/// every poll. A linear scan of each line: IRIs, short strings, comments and escapes skipped.
#[derive(Debug, Default)]
struct LongStrings {
    open: Option<u8>,
    /// The last line fed opened a short string it did not close: a syntax error that oxttl
    /// would only see at the next quote (or the end of the input), swallowing what lies between.
    unclosed: bool,
}

impl LongStrings {
    fn inside(&self) -> bool {
        self.open.is_some()
    }

    fn feed(&mut self, line: &[u8]) {
        self.unclosed = false;
        let mut i = 0;
        while i < line.len() {
            if let Some(q) = self.open {
                let Some(k) = memchr2(q, b'\\', &line[i..]) else {
                    return;
                };
                i += k;
                if line[i] == b'\\' {
                    i += 2;
                } else if line[i..].starts_with(&[q, q, q]) {
                    // Up to two quotes before the closing three belong to the string.
                    i += line[i..].iter().take_while(|&&c| c == q).count();
                    self.open = None;
                } else {
                    i += 1;
                }
                continue;
            }
            match line[i] {
                b'#' => return,
                b'\\' => i += 2,
                b'<' => match memchr(b'>', &line[i..]) {
                    Some(k) => i += k + 1,
                    None => return,
                },
                q @ (b'"' | b'\'') => {
                    if line[i..].starts_with(&[q, q, q]) {
                        self.open = Some(q);
                        i += 3;
                        continue;
                    }
                    i += 1;
                    loop {
                        let Some(k) = memchr2(q, b'\\', &line[i..]) else {
                            self.unclosed = true;
                            return;
                        };
                        i += k;
                        if line[i] == b'\\' {
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                }
                _ => i += 1,
            }
        }
    }
}

/// Line formats are parsed line by line, each line on its own: an error (even an unterminated
/// string) never reaches the next line. Turtle and TriG are fed to oxttl's push parser.
enum Low {
    NTriples,
    NQuads,
    Turtle(LowLevelTurtleParser),
    TriG(LowLevelTriGParser),
}

impl Low {
    fn extend(&mut self, bytes: &[u8]) {
        match self {
            Low::NTriples | Low::NQuads => {}
            Low::Turtle(p) => p.extend_from_slice(bytes),
            Low::TriG(p) => p.extend_from_slice(bytes),
        }
    }

    fn end(&mut self) {
        match self {
            Low::NTriples | Low::NQuads => {}
            Low::Turtle(p) => p.end(),
            Low::TriG(p) => p.end(),
        }
    }

    fn next(&mut self) -> Option<Result<Quad, oxttl::TurtleSyntaxError>> {
        match self {
            Low::NTriples | Low::NQuads => None,
            Low::Turtle(p) => p
                .parse_next()
                .map(|r| r.map(|t| t.in_graph(GraphName::DefaultGraph))),
            Low::TriG(p) => p.parse_next(),
        }
    }

    /// The IRI a prefix stands for.
    fn prefix(&self, name: &str) -> Option<String> {
        let found = match self {
            Low::Turtle(p) => p.prefixes().find(|(n, _)| *n == name).map(|(_, i)| i),
            Low::TriG(p) => p.prefixes().find(|(n, _)| *n == name).map(|(_, i)| i),
            Low::NTriples | Low::NQuads => None,
        };
        found.map(str::to_owned)
    }
}

/// Limits of one source (see `Config`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Longest line kept (longer ones are reported and skipped), and longest Turtle/TriG long
    /// string (`"""…"""` over many lines).
    pub max_line: usize,
    /// About the bytes one `read` call takes in.
    pub budget: usize,
}

/// Streams the statements of one input.
pub(crate) struct StatementSource {
    name: String,
    input: Box<dyn BufRead + Send>,
    parser: Low,
    limits: Limits,
    line: u64,
    buf: Vec<u8>,
    done: bool,
    /// The read error that ended the input.
    broken: Option<Problem>,
    /// After a Turtle/TriG error: skip lines until one that starts a statement.
    skipping: bool,
    /// Turtle/TriG: the first token of the statement being parsed, and where its first quad is
    /// in `out` (this `read` call): what tells the subject an error is reported with.
    subject_token: Vec<u8>,
    stmt_first: Option<usize>,
    strings: LongStrings,
    /// Turtle/TriG: bytes fed since the parser last gave something, and the amount below which
    /// it is not polled while inside a long string (doubled after each fruitless poll, so even
    /// a misjudged long string costs linear time).
    pending: usize,
    next_poll: usize,
    /// The sum of `pending` over the polls: the most the parser can have rescanned (a test hook
    /// for the linear time of long strings).
    rescanned: u64,
    /// N-Triples/N-Quads: what is read ahead.
    ahead: Ahead,
}

impl std::fmt::Debug for StatementSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatementSource")
            .field("name", &self.name)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

fn gzip_magic(input: &mut dyn BufRead) -> io::Result<bool> {
    Ok(input.fill_buf()?.starts_with(&[0x1f, 0x8b]))
}

impl StatementSource {
    /// Opens a file; gzip is recognised by its magic bytes, whatever the file is called.
    pub(crate) fn open(
        path: &Path,
        format: Format,
        base_iri: Option<&str>,
        limits: Limits,
    ) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        Self::from_reader(
            path.display().to_string(),
            Box::new(BufReader::with_capacity(1 << 16, file)),
            format,
            base_iri,
            limits,
        )
    }

    /// Reads `input` (plain or gzip), named `name` in problems.
    pub(crate) fn from_reader(
        name: String,
        mut input: Box<dyn BufRead + Send>,
        format: Format,
        base_iri: Option<&str>,
        limits: Limits,
    ) -> Result<Self, Error> {
        let io_err = |e: io::Error| Error::Io(format!("{name}: {e}"));
        if gzip_magic(input.as_mut()).map_err(io_err)? {
            let dec: Box<dyn Read + Send> = Box::new(flate2::read::MultiGzDecoder::new(input));
            input = Box::new(BufReader::with_capacity(1 << 16, dec));
        }
        let bad_base = |e: oxrdf::IriParseError| Error::Argument(format!("invalid base_iri: {e}"));
        let parser = match format {
            Format::NTriples => Low::NTriples,
            Format::NQuads => Low::NQuads,
            Format::Turtle => {
                let mut p = TurtleParser::new().lenient();
                if let Some(b) = base_iri {
                    p = p.with_base_iri(b).map_err(bad_base)?;
                }
                Low::Turtle(p.low_level())
            }
            Format::TriG => {
                let mut p = TriGParser::new().lenient();
                if let Some(b) = base_iri {
                    p = p.with_base_iri(b).map_err(bad_base)?;
                }
                Low::TriG(p.low_level())
            }
        };
        Ok(StatementSource {
            name,
            input,
            parser,
            limits: Limits {
                max_line: limits.max_line.max(1),
                budget: limits.budget.max(1),
            },
            line: 0,
            buf: Vec::new(),
            done: false,
            broken: None,
            skipping: false,
            subject_token: Vec::new(),
            stmt_first: None,
            strings: LongStrings::default(),
            pending: 0,
            next_poll: 0,
            rescanned: 0,
            ahead: Ahead::default(),
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Did a read error end the input?
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The read error that ended the input, once.
    pub(crate) fn take_broken(&mut self) -> Option<Problem> {
        self.broken.take()
    }

    #[cfg(test)]
    pub(super) fn rescanned(&self) -> u64 {
        self.rescanned
    }

    /// Appends up to about `limit` statements (and about `Limits::budget` bytes) to `out`; false
    /// once the input is exhausted (or broken).
    pub(crate) fn read(&mut self, limit: usize, out: &mut Vec<Stmt>) -> bool {
        let target = out.len() + limit;
        if matches!(self.parser, Low::NTriples | Low::NQuads) {
            self.read_lines(limit, out);
            return !self.done;
        }
        let mut fed = 0;
        self.stmt_first = None; // `out` may have been cut since the last call
        while out.len() < target && fed < self.limits.budget && !self.done {
            self.buf.clear();
            match read_line(&mut *self.input, &mut self.buf, self.limits.max_line) {
                Ok((0, _)) => {
                    self.parser.end();
                    self.done = true;
                    self.drain(out);
                }
                Ok((len, cut)) => {
                    self.line += 1;
                    fed += len;
                    self.feed_line(len, cut, out);
                }
                Err(e) => self.fail(e),
            }
        }
        !self.done
    }

    fn fail(&mut self, e: io::Error) {
        // What was read of the statement in progress is dropped with it.
        self.broken = Some(Problem {
            file: self.name.clone(),
            line: Some(self.line + 1),
            member: None,
            reason: format!("read error, rest of the input skipped: {e}"),
            dropped: true,
        });
        self.done = true;
    }

    /// Turtle/TriG: one line to the parser (or skipped).
    fn feed_line(&mut self, len: usize, cut: bool, out: &mut Vec<Stmt>) {
        let starts = !self.strings.inside() && starts_statement(&self.buf);
        self.strings.feed(&self.buf);
        if self.skipping && !starts {
            return;
        }
        self.skipping = false;
        if starts {
            // Kept as text: resolved only when an error needs it.
            self.subject_token.clear();
            self.subject_token.extend_from_slice(first_token(&self.buf));
            self.stmt_first = None;
        }
        if cut {
            let reason = format!(
                "line of {len} bytes, longer than max_line_bytes ({})",
                self.limits.max_line
            );
            self.abandon(out, self.line, reason);
            return;
        }
        self.parser.extend(&self.buf);
        self.pending += len;
        if self.strings.inside() {
            if self.pending > self.limits.max_line {
                let reason = format!(
                    "a string longer than max_line_bytes ({})",
                    self.limits.max_line
                );
                self.abandon(out, self.line, reason);
                return;
            }
            if self.pending < self.next_poll {
                return; // a poll would only rescan the string so far
            }
        }
        self.drain(out);
        if self.strings.unclosed && !self.skipping {
            let reason = "syntax error: a string not closed on its line".to_owned();
            self.abandon(out, self.line, reason);
        }
    }

    /// Polls the parser for what the text fed so far completes.
    fn drain(&mut self, out: &mut Vec<Stmt>) {
        self.rescanned += self.pending as u64;
        let mut produced = false;
        while let Some(r) = self.parser.next() {
            produced = true;
            match r {
                Ok(quad) => {
                    self.stmt_first.get_or_insert(out.len());
                    out.push(checked(quad, self.line));
                }
                Err(e) => {
                    // oxttl counts lines from 0; a problem at the very end points at the last line.
                    let line = (e.location().start.line + 1).min(self.line.max(1));
                    let reason = format!("syntax error: {}", e.message());
                    if self.done {
                        let subject = self.subject(out);
                        out.push(Stmt::unreadable(subject, line, reason));
                    } else {
                        // oxttl's own recovery can stay lost (e.g. inside an unterminated
                        // string): start over at the next statement-like line.
                        self.abandon(out, line, reason);
                        return;
                    }
                }
            }
        }
        if produced {
            self.pending = 0;
            self.next_poll = 0;
        } else {
            self.next_poll = self.pending.saturating_mul(2);
        }
    }

    /// Gives up the statement being parsed: a stand-in for it, and a fresh parser (same prefixes
    /// and base) from the next line that starts a statement.
    fn abandon(&mut self, out: &mut Vec<Stmt>, line: u64, reason: String) {
        let subject = self.subject(out);
        out.push(Stmt::unreadable(subject, line, reason));
        self.restart();
        self.pending = 0;
        self.next_poll = 0;
    }

    /// The subject of the statement being parsed, when it can be told: from its first token (an
    /// absolute `<IRI>`, a prefixed name, a `_:label`), else from its first quad.
    fn subject(&self, out: &[Stmt]) -> Option<NamedOrBlankNode> {
        self.resolve_token()
            .or_else(|| Some(out.get(self.stmt_first?)?.quad.subject.clone()))
    }

    fn resolve_token(&self) -> Option<NamedOrBlankNode> {
        let token = std::str::from_utf8(&self.subject_token).ok()?;
        if let Some(iri) = token.strip_prefix('<') {
            let iri = &iri[..iri.find('>')?];
            let scheme = iri.find(':')?;
            let scheme_ok = iri[..scheme]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
            return (scheme > 0 && scheme_ok && !iri.contains('\\'))
                .then(|| NamedNode::new_unchecked(iri).into());
        }
        if let Some(label) = token.strip_prefix("_:") {
            let label = label.trim_end_matches('.');
            return (!label.is_empty()).then(|| BlankNode::new_unchecked(label).into());
        }
        if token.is_empty() || token.starts_with('@') || token.contains(['\\', '%', '(', '[']) {
            return None;
        }
        let (prefix, local) = token.split_once(':')?;
        let local = local.trim_end_matches('.');
        let ns = self.parser.prefix(prefix)?;
        Some(NamedNode::new_unchecked(format!("{ns}{local}")).into())
    }

    /// Line formats: takes whole units of parsed lines (see [`Ahead`]) until about `room`
    /// lines and `Limits::budget` bytes; statements are appended in input order. A unit is
    /// what one chunk of lines was when lines were read one by one, so the windows, and with
    /// them the output, do not depend on how the bytes were read or split.
    fn read_lines(&mut self, room: usize, out: &mut Vec<Stmt>) {
        let mut lines = 0;
        let mut bytes = 0;
        while lines < room && bytes < self.limits.budget && !self.done {
            while self.ahead.units.is_empty() && !self.ahead.eof {
                self.fill_block();
            }
            let Some(unit) = self.ahead.units.pop_front() else {
                self.done = true;
                break;
            };
            self.ahead.queued -= unit.lines;
            self.ahead.queued_bytes -= unit.bytes;
            lines += unit.lines;
            bytes += unit.bytes;
            out.extend(unit.stmts);
            if unit.last {
                self.done = true;
                self.broken = unit.broken;
            }
        }
    }

    /// Line formats: reads and parses ahead until about `lines` lines (or `Limits::budget`
    /// bytes) wait in units, so that the next `read` finds them ready (the reader calls this
    /// while it extracts the current window).
    pub(crate) fn prefetch(&mut self, lines: usize) {
        if !matches!(self.parser, Low::NTriples | Low::NQuads) {
            return;
        }
        while !self.ahead.eof
            && self.ahead.queued < lines
            && self.ahead.queued_bytes < self.limits.budget
        {
            self.fill_block();
        }
    }

    /// Bytes read from a line-format input in one go (tests cut inputs everywhere with it).
    pub(crate) fn set_block(&mut self, bytes: usize) {
        self.ahead.block = bytes.max(1);
    }

    /// Line formats: reads a block of bytes (and the rest of its last line), finds its line
    /// ends in parallel byte ranges, groups the lines into units and parses the units in
    /// parallel. Lines of no complete unit wait in `Ahead::text` for the next block.
    fn fill_block(&mut self) {
        let max_line = self.limits.max_line;
        let a = &mut self.ahead;
        let from = a.text.len();
        let mut error = None;
        while a.text.len() - from < a.block {
            let avail = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
            if avail.is_empty() {
                a.eof = true;
                break;
            }
            let take = avail.len().min(a.block - (a.text.len() - from));
            a.text.extend_from_slice(&avail[..take]);
            self.input.consume(take);
        }
        // The rest of the block's last line; at most `max_line` bytes of a line are kept.
        let mut cut_len = None;
        if error.is_none() && !a.eof && a.text.len() > from && a.text.last() != Some(&b'\n') {
            let start = memrchr(b'\n', &a.text[from..]).map_or(from, |i| from + i + 1);
            let so_far = a.text.len() - start;
            let keep = max_line.saturating_sub(so_far);
            match read_line(&mut *self.input, &mut a.text, keep) {
                Ok((len, cut)) => {
                    if len == 0 {
                        a.eof = true;
                    }
                    if cut || so_far > max_line {
                        cut_len = Some(so_far + len);
                    }
                }
                Err(e) => {
                    a.text.truncate(start);
                    error = Some(e);
                }
            }
        }
        if error.is_some() {
            // What was read of the line in progress is dropped with it.
            let end = memrchr(b'\n', &a.text[from..]).map_or(from, |i| from + i + 1);
            a.text.truncate(end);
            a.eof = true;
        }
        // Line ends: found in parallel ranges, then laid end to end.
        let scan = (a.block / 8).clamp(1, SCAN_BYTES);
        let ends: Vec<Vec<usize>> = a.text[from..]
            .par_chunks(scan)
            .enumerate()
            .map(|(k, part)| {
                let base = from + k * scan;
                memchr::memchr_iter(b'\n', part)
                    .map(|i| base + i + 1)
                    .collect()
            })
            .collect();
        let mut prev = from;
        for end in ends.into_iter().flatten() {
            a.lines.push((end, end - prev));
            prev = end;
        }
        if prev < a.text.len() {
            // The input's last line without a line end, or a line cut at `max_line`.
            let kept = a.text.len() - prev;
            a.lines.push((a.text.len(), cut_len.unwrap_or(kept)));
        }
        let broken = error.map(|e| Problem {
            file: self.name.clone(),
            line: Some(a.line + a.lines.len() as u64 + 1),
            member: None,
            reason: format!("read error, rest of the input skipped: {e}"),
            dropped: true,
        });
        // Units as chunks were cut: LINE_CHUNK lines, or CHUNK_BYTES kept bytes.
        let mut groups: Vec<(usize, usize, usize)> = Vec::new();
        let (mut first, mut kept) = (0, 0);
        for (i, &(_, len)) in a.lines.iter().enumerate() {
            kept += if len > max_line {
                OVERLONG_KEPT.min(max_line) + 1
            } else {
                len
            };
            if i + 1 - first == LINE_CHUNK || kept >= CHUNK_BYTES {
                groups.push((first, i + 1, kept));
                (first, kept) = (i + 1, 0);
            }
        }
        if a.eof {
            groups.push((first, a.lines.len(), kept));
        }
        let Some(&(_, used, _)) = groups.last() else {
            return;
        };
        let ntriples = matches!(self.parser, Low::NTriples);
        let (text, lines, line) = (&a.text, &a.lines, a.line);
        let parsed: Vec<Vec<Stmt>> = groups
            .par_iter()
            .map(|&(s, e, _)| parse_lines(ntriples, text, lines, s..e, line, max_line))
            .collect();
        let n = groups.len();
        let mut broken = broken;
        for (k, (stmts, (s, e, bytes))) in parsed.into_iter().zip(groups).enumerate() {
            let last = a.eof && k + 1 == n;
            a.queued += e - s;
            a.queued_bytes += bytes;
            a.units.push_back(Unit {
                stmts,
                lines: e - s,
                bytes,
                last,
                broken: if last { broken.take() } else { None },
            });
        }
        // The lines of no unit yet move to the front.
        let offset = if used == 0 { 0 } else { a.lines[used - 1].0 };
        a.text.drain(..offset);
        a.lines.drain(..used);
        for l in &mut a.lines {
            l.0 -= offset;
        }
        a.line += used as u64;
    }

    fn restart(&mut self) {
        fn carry<P>(
            mut p: P,
            prefixes: Vec<(String, String)>,
            base: Option<String>,
            with_prefix: impl Fn(P, String, String) -> Result<P, oxrdf::IriParseError>,
            with_base: impl Fn(P, String) -> Result<P, oxrdf::IriParseError>,
            fresh: impl Fn() -> P,
        ) -> P {
            for (name, iri) in prefixes {
                p = match with_prefix(p, name, iri) {
                    Ok(p) => p,
                    Err(_) => fresh(),
                };
            }
            if let Some(b) = base {
                p = with_base(p, b).unwrap_or_else(|_| fresh());
            }
            p
        }
        self.parser = match &self.parser {
            Low::Turtle(old) => {
                let prefixes = old
                    .prefixes()
                    .map(|(n, i)| (n.to_owned(), i.to_owned()))
                    .collect();
                let base = old.base_iri().map(str::to_owned);
                let fresh = || TurtleParser::new().lenient();
                Low::Turtle(
                    carry(
                        fresh(),
                        prefixes,
                        base,
                        |p, n, i| p.with_prefix(n, i),
                        |p, b| p.with_base_iri(b),
                        fresh,
                    )
                    .low_level(),
                )
            }
            Low::TriG(old) => {
                let prefixes = old
                    .prefixes()
                    .map(|(n, i)| (n.to_owned(), i.to_owned()))
                    .collect();
                let base = old.base_iri().map(str::to_owned);
                let fresh = || TriGParser::new().lenient();
                Low::TriG(
                    carry(
                        fresh(),
                        prefixes,
                        base,
                        |p, n, i| p.with_prefix(n, i),
                        |p, b| p.with_base_iri(b),
                        fresh,
                    )
                    .low_level(),
                )
            }
            Low::NTriples => Low::NTriples,
            Low::NQuads => Low::NQuads,
        };
        self.skipping = true;
    }
}

/// Bytes read from a line-format input in one go, at most (see `StatementSource::fill_block`).
pub(crate) const BLOCK_BYTES: usize = 1 << 22;
/// Bytes per task of the parallel search for line ends, at most (an eighth of a block).
const SCAN_BYTES: usize = 1 << 16;

/// Lines of N-Triples/N-Quads parsed ahead: the statements of up to LINE_CHUNK lines (and
/// CHUNK_BYTES kept bytes), which a `read` takes whole.
struct Unit {
    stmts: Vec<Stmt>,
    lines: usize,
    bytes: usize,
    /// The input ends with this unit (`broken`: at this read error).
    last: bool,
    broken: Option<Problem>,
}

/// A line-format input read ahead of the windows.
struct Ahead {
    /// Whole lines not in a unit yet (a line longer than `max_line` only in part).
    text: Vec<u8>,
    /// Each line of `text`: where it ends in `text`, and its length in the input.
    lines: Vec<(usize, usize)>,
    units: VecDeque<Unit>,
    /// Lines and kept bytes in `units`.
    queued: usize,
    queued_bytes: usize,
    /// Lines before the first of `text`.
    line: u64,
    eof: bool,
    block: usize,
}

impl Default for Ahead {
    fn default() -> Self {
        Ahead {
            text: Vec::new(),
            lines: Vec::new(),
            units: VecDeque::new(),
            queued: 0,
            queued_bytes: 0,
            line: 0,
            eof: false,
            block: BLOCK_BYTES,
        }
    }
}

/// The lines `range` of `text` (ends and lengths in `lines`; `before` lines precede the
/// first of `text`) parsed line by line: the common forms by [`line::parse`] (which reads only
/// valid terms), every other line by oxttl, so errors stay on their line and every statement
/// knows its line. A line with an error gives no statement at all, only its stand-in: N-Triples
/// and N-Quads put one statement on a line, and whatever oxttl read before the error (`<s> <p>
/// <o>` of a line with a fourth term in N-Triples) is not the statement that was meant.
fn parse_lines(
    ntriples: bool,
    text: &[u8],
    lines: &[(usize, usize)],
    range: std::ops::Range<usize>,
    before: u64,
    max_line: usize,
) -> Vec<Stmt> {
    let mut out = Vec::with_capacity(range.len());
    for k in range {
        let start = if k == 0 { 0 } else { lines[k - 1].0 };
        let (end, len) = lines[k];
        let text = &text[start..end];
        let line = before + k as u64 + 1;
        if len > max_line {
            // Only its start is kept: enough to tell its subject.
            let head = &text[..text.len().min(OVERLONG_KEPT.min(max_line))];
            out.push(Stmt::unreadable(
                line_subject(head),
                line,
                format!("line of {len} bytes, longer than max_line_bytes ({max_line})"),
            ));
            continue;
        }
        let trimmed = text.trim_ascii_start();
        if trimmed.is_empty() || trimmed.starts_with(b"#") {
            continue;
        }
        if let Some(quad) = line::parse(text, !ntriples) {
            out.push(repaired(quad, line));
            continue;
        }
        let results = parse_line_format(ntriples, text);
        match results.iter().find_map(|r| r.as_ref().err()) {
            Some(e) => {
                let subject = match results.first() {
                    Some(Ok(q)) => Some(q.subject.clone()),
                    _ => line_subject(text),
                };
                out.push(Stmt::unreadable(
                    subject,
                    line,
                    format!("syntax error: {}", e.message()),
                ));
            }
            None => out.extend(results.into_iter().flatten().map(|q| checked(q, line))),
        }
    }
    out
}

fn parse_line_format(ntriples: bool, text: &[u8]) -> Vec<Result<Quad, oxttl::TurtleSyntaxError>> {
    if ntriples {
        NTriplesParser::new()
            .lenient()
            .for_slice(text)
            .map(|r| r.map(|t| t.in_graph(GraphName::DefaultGraph)))
            .collect()
    } else {
        NQuadsParser::new().lenient().for_slice(text).collect()
    }
}

/// The subject a line starts with (`<…>` as written, or `_:label`), for a line that cannot be
/// read.
fn line_subject(text: &[u8]) -> Option<NamedOrBlankNode> {
    let text = std::str::from_utf8(text.trim_ascii_start())
        .ok()
        .or_else(|| {
            // A cut line may end inside a character.
            let t = text.trim_ascii_start();
            let valid = std::str::from_utf8(t).map_or_else(|e| e.valid_up_to(), str::len);
            std::str::from_utf8(&t[..valid]).ok()
        })?;
    if let Some(rest) = text.strip_prefix('<') {
        let iri = &rest[..rest.find('>')?];
        return Some(NamedNode::new_unchecked(iri).into());
    }
    let label = text.strip_prefix("_:")?;
    let end = label
        .find(|c: char| c.is_ascii_whitespace() || matches!(c, '<' | '"'))
        .unwrap_or(label.len());
    let label = label[..end].trim_end_matches('.');
    (!label.is_empty()).then(|| BlankNode::new_unchecked(label).into())
}

/// The first token of a line that starts a statement; nothing when a `{` follows it (a TriG
/// graph name, not a subject).
fn first_token(line: &[u8]) -> &[u8] {
    let text = line.trim_ascii();
    let end = text
        .iter()
        .position(|&c| c.is_ascii_whitespace() || matches!(c, b';' | b',' | b'{' | b'"'))
        .unwrap_or(text.len());
    if text[end..].trim_ascii_start().starts_with(b"{") {
        return &[];
    }
    &text[..end]
}

/// A line that can start a Turtle/TriG statement: not indented, not a continuation.
fn starts_statement(line: &[u8]) -> bool {
    match line.first() {
        None => false,
        Some(b) => !b.is_ascii_whitespace() && !b"])}.;,\"'#".contains(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str, format: Format, max_line: usize) -> StatementSource {
        let input = Box::new(io::Cursor::new(text.as_bytes().to_vec()));
        let limits = Limits {
            max_line,
            budget: 1 << 30,
        };
        StatementSource::from_reader("t".into(), input, format, None, limits).expect("a source")
    }

    fn read_all(src: &mut StatementSource) -> Vec<Stmt> {
        let mut out = Vec::new();
        while src.read(1 << 20, &mut out) {}
        out
    }

    /// A literal over many lines is not rescanned line after line: the bytes the parser may
    /// have rescanned stay within a small multiple of the input, whatever the number of lines
    /// (polling at every line made them grow with its square), and the statement still knows
    /// the line it ends on.
    #[test]
    fn a_long_string_over_many_lines_is_read_in_linear_time() {
        for lines in [10usize, 5_000] {
            for (open, close) in [("\"\"\"", "\"\"\""), ("'''", "'''")] {
                let body = "POLYGON ((4.1 51.2, 4.2 51.3, \\\"q\\\" ''x\"\" # not a comment <a>\n"
                    .repeat(lines);
                let text = format!(
                    "@prefix ex: <http://e/> .\nex:m ex:p {open}{body}{close}@nl ;\n  ex:q 1 .\n\
                     ex:n ex:p \"short\" .\n"
                );
                let mut src = source(&text, Format::Turtle, 1 << 30);
                let stmts = read_all(&mut src);
                assert_eq!(stmts.len(), 3, "{lines} lines");
                assert!(stmts.iter().all(|s| s.note.is_none()), "{stmts:?}");
                assert_eq!(stmts[0].line, lines as u64 + 2);
                assert_eq!(stmts[2].line, lines as u64 + 4);
                let rescanned = src.rescanned();
                assert!(
                    rescanned <= 4 * text.len() as u64,
                    "{lines} lines: {rescanned} bytes rescanned for {} bytes",
                    text.len()
                );
            }
        }
    }

    #[test]
    fn long_strings_are_told_apart_from_what_looks_like_them() {
        let cases: [(&str, bool); 10] = [
            ("<http://e/s> <http://e/p> \"\"\"start", true),
            ("<http://e/s> <http://e/p> \"\"\"one line\"\"\" .", false),
            ("<http://e/s> <http://e/p> \"a\\\"\"\"\" .", false), // short "a\"" then `"" .`
            ("<http://e/\"\"\"> <http://e/p> 1 .", false),        // inside an IRI
            ("<http://e/s> <http://e/p> 1 . # \"\"\"", false),    // in a comment
            ("<http://e/s> <http://e/p> '''x''''' .", false),     // closing run of five
            ("<http://e/s> <http://e/p> \"\" .", false),          // empty short string
            ("<http://e/s> <http://e/p> \"\"\"x\\\"\"\"", true),  // escaped quote inside
            ("ex:a\\#b <http://e/p> \"\"\"x", true),              // escaped # in a name
            ("<http://e/s> <http://e/p> \"\"\"\"\"\"\"", false),  // `"` inside, closed
        ];
        for (line, inside) in cases {
            let mut s = LongStrings::default();
            s.feed(line.as_bytes());
            assert_eq!(s.inside(), inside, "{line}");
        }
        let mut s = LongStrings::default();
        s.feed(b"<s> <p> \"not closed ;\n");
        assert!(s.unclosed && !s.inside());
        s.feed(b"<s> <p> \"closed\" ;\n");
        assert!(!s.unclosed);
        let mut s = LongStrings::default();
        s.feed(b"<s> <p> \"\"\"a\n");
        s.feed(b"still \"\" inside ''' \n");
        assert!(s.inside());
        s.feed(b"end\"\"\" . <s> <p> '''again\n");
        assert!(s.inside());
        s.feed(b"''' .\n");
        assert!(!s.inside());
    }

    /// A long string past `max_line` is given up as it grows (its member is reported), and
    /// reading goes on at the next statement.
    #[test]
    fn a_long_string_past_the_line_limit_is_skipped() {
        let body = "0123456789\n".repeat(1_000);
        let text = format!(
            "<http://e/m> <http://e/p> \"\"\"{body}\"\"\" .\n<http://e/n> <http://e/p> 1 .\n"
        );
        let mut src = source(&text, Format::Turtle, 500);
        let stmts = read_all(&mut src);
        assert_eq!(stmts.len(), 2, "{stmts:?}");
        assert!(stmts[0].is_unreadable());
        assert_eq!(stmts[0].quad.subject.to_string(), "<http://e/m>");
        assert!(stmts[1].note.is_none());
        assert_eq!(stmts[1].quad.subject.to_string(), "<http://e/n>");
    }

    #[test]
    fn terms_that_cannot_be_published_are_marked_with_their_line() {
        let lines = [
            (
                "<http://e/s> <http://e/p> <http://e/a b> .",
                Some(NoteKind::Invalid),
            ),
            ("<http://e/s> <http://e/p> <rel> .", Some(NoteKind::Invalid)),
            (
                "<http://e/s> <http://e/p> <http://e/{x}> .",
                Some(NoteKind::Invalid),
            ),
            (
                "<http://e/s> <http://e/p> <http://e/\\u0020> .",
                Some(NoteKind::Invalid),
            ),
            (
                "<http://e/s> <http://e/p> <http://e/a\u{a0}b> .",
                Some(NoteKind::Invalid),
            ),
            (
                "<http://e/s> <http://e/p> \"x\"^^<not an iri> .",
                Some(NoteKind::Invalid),
            ),
            (
                "<http://e/s> <http://e/p> \"x\"@en_US .",
                Some(NoteKind::Unreadable),
            ),
            (
                "<http://e/s> <http://e/p> <http://e/o> <http://e/g> .",
                Some(NoteKind::Unreadable),
            ),
            ("<http://e/s> <http://e/p> \"x\"@en-GB .", None),
            ("<http://e/s> <http://e/p> <http://e/é\\u00e9> .", None),
        ];
        for (line, want) in lines {
            let text = format!("\n{line}\n");
            for max_line in [1 << 20, 20] {
                let mut src = source(&text, Format::NTriples, max_line);
                let stmts = read_all(&mut src);
                assert_eq!(stmts.len(), 1, "{line}");
                assert_eq!(stmts[0].line, 2);
                if max_line == 20 {
                    assert!(stmts[0].is_unreadable());
                } else {
                    assert_eq!(stmts[0].note.as_ref().map(|n| n.kind), want, "{line}");
                }
                assert_eq!(stmts[0].quad.subject.to_string(), "<http://e/s>", "{line}");
            }
        }
    }

    /// A statement as text, its line and its note.
    type Seen = (String, u64, Option<String>);

    /// The statements (as text, with their line and note) of each `read` of `room` lines, the
    /// input read in blocks of `block` bytes, `ahead` lines prefetched between reads; and the
    /// read error, if any.
    fn reads(
        input: Box<dyn BufRead + Send>,
        format: Format,
        max_line: usize,
        block: usize,
        room: usize,
        ahead: usize,
    ) -> (Vec<Vec<Seen>>, Option<Problem>) {
        let limits = Limits {
            max_line,
            budget: 1 << 30,
        };
        let mut src = StatementSource::from_reader("t".into(), input, format, None, limits)
            .expect("a source");
        src.set_block(block);
        let mut out = Vec::new();
        loop {
            let mut stmts = Vec::new();
            let more = src.read(room, &mut stmts);
            out.push(
                stmts
                    .iter()
                    .map(|s| {
                        let note = s
                            .note
                            .as_ref()
                            .map(|n| format!("{:?}: {}", n.kind, n.reason));
                        (s.quad.to_string(), s.line, note)
                    })
                    .collect(),
            );
            if !more {
                break;
            }
            src.prefetch(ahead);
        }
        (out, src.take_broken())
    }

    fn text_input(text: &[u8]) -> Box<dyn BufRead + Send> {
        Box::new(io::Cursor::new(text.to_vec()))
    }

    /// Lines of every kind a seam can fall in or next to: a member over several lines with its
    /// blank nodes, a comment, blank lines, CRLF, a line longer than the small line limit, a
    /// Unicode value, an invalid IRI, a syntax error, an escape (oxttl's path), a quad (a syntax
    /// error in N-Triples), and a last line without a line end.
    const SEAM_LINES: [&str; 12] = [
        "<http://e/m1> <http://purl.org/dc/terms/isVersionOf> <http://e/x> .\n",
        "# a comment with <http://e/iri> .\n",
        "\n",
        "<http://e/m1> <http://e/p> _:b1 .\r\n",
        "_:b1 <http://e/q> \"a long value, longer than the small line limit of the test\" .\n",
        "_:b1 <http://e/r> \"é ∀\"@nl .\n",
        "<http://e/m2> <http://e/p> <http://e/bad iri> .\n",
        "<http://e/m2> <http://e/p> \"unterminated .\n",
        "   \t\r\n",
        "<http://e/m2> <http://purl.org/dc/terms/isVersionOf> <http://e/y> <http://e/g> .\n",
        "<http://e/m3> <http://e/p> \"a\\\"b\" .\n",
        "<http://e/m3> <http://purl.org/dc/terms/isVersionOf> <http://e/z> .",
    ];

    /// Every block size (so every cut of the input into reads), every read size and prefetch:
    /// the same statements, lines, notes and reads as reading the whole input in one block.
    #[test]
    fn cuts_between_reads_change_nothing() {
        let text = SEAM_LINES.concat().into_bytes();
        for format in [Format::NTriples, Format::NQuads] {
            for max_line in [1 << 20, 64] {
                for (room, ahead) in [(1, 0), (3, 2), (1000, 1000)] {
                    let want = reads(text_input(&text), format, max_line, usize::MAX, room, 0);
                    assert!(want.0.iter().flatten().count() > 8);
                    for block in 1..=text.len() + 1 {
                        let got = reads(text_input(&text), format, max_line, block, room, ahead);
                        assert_eq!(got, want, "{format:?}, block {block}, room {room}");
                    }
                }
            }
        }
    }

    /// Reads take whole units of LINE_CHUNK lines however the bytes were cut, so the windows
    /// are the same.
    #[test]
    fn reads_take_whole_units_of_lines_wherever_blocks_end() {
        let text: Vec<u8> = (0..1300)
            .map(|i| SEAM_LINES[i % 11].replace("m1", &format!("m{i}")))
            .collect::<String>()
            .into_bytes();
        let want = reads(text_input(&text), Format::NQuads, 64, usize::MAX, 1, 0);
        // Every line but the blank ones and the comment has a statement (or a stand-in).
        let first: Vec<u64> = want.0.iter().filter_map(|r| Some(r.first()?.1)).collect();
        assert_eq!(first[..2], [1, 513]);
        assert_eq!(want.0[0].last().map(|s| s.1), Some(512));
        for block in [1, 2, 3, 61, 64, 97, 512, 4096, 65536] {
            for ahead in [0, 1, 700, 5000] {
                let got = reads(text_input(&text), Format::NQuads, 64, block, 1, ahead);
                assert_eq!(got, want, "block {block}, ahead {ahead}");
                let got = reads(text_input(&text), Format::NQuads, 64, block, 700, ahead);
                let whole = reads(text_input(&text), Format::NQuads, 64, usize::MAX, 700, 0);
                assert_eq!(got, whole, "block {block}, ahead {ahead}");
            }
        }
    }

    /// A read error at any byte: the same statements before it and the same problem, wherever
    /// the blocks end.
    #[test]
    fn a_read_error_anywhere_is_the_same_in_any_blocks() {
        struct Failing(io::Cursor<Vec<u8>>);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(7);
                match self.0.read(&mut buf[..n])? {
                    0 => Err(io::Error::other("broken")),
                    n => Ok(n),
                }
            }
        }
        let text = SEAM_LINES.concat().into_bytes();
        let failing = |upto: usize| -> Box<dyn BufRead + Send> {
            Box::new(BufReader::with_capacity(
                5,
                Failing(io::Cursor::new(text[..upto].to_vec())),
            ))
        };
        for upto in (1..=text.len()).step_by(5) {
            let want = reads(failing(upto), Format::NQuads, 1 << 20, usize::MAX, 2, 0);
            let p = want.1.as_ref().expect("the read error");
            let complete = text[..upto].iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(p.line, Some(complete + 1), "error after {upto} bytes");
            for block in [1, 2, 5, 13, 40, 200] {
                let got = reads(failing(upto), Format::NQuads, 1 << 20, block, 2, 3);
                assert_eq!(got, want, "error after {upto} bytes, block {block}");
            }
        }
    }

    #[test]
    fn a_read_error_ends_the_input_and_is_kept_apart() {
        struct Failing(io::Cursor<Vec<u8>>);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.read(buf)? {
                    0 => Err(io::Error::other("broken")),
                    n => Ok(n),
                }
            }
        }
        let text = b"<http://e/s> <http://e/p> 1 .\n<http://e/s> <http://e/p> 2".to_vec();
        for format in [Format::NTriples, Format::Turtle] {
            let input = Box::new(BufReader::new(Failing(io::Cursor::new(text.clone()))));
            let limits = Limits {
                max_line: 1 << 20,
                budget: 1 << 20,
            };
            let mut src = StatementSource::from_reader("t".into(), input, format, None, limits)
                .expect("a source");
            let stmts = read_all(&mut src);
            assert_eq!(stmts.len(), 1, "{format:?}: {stmts:?}");
            assert!(src.is_broken());
            let p = src.take_broken().expect("the read error");
            assert_eq!(p.line, Some(2));
            assert!(p.reason.contains("broken"));
        }
    }
}
