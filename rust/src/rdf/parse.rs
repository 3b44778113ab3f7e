//! Statements from N-Triples, N-Quads, Turtle and TriG bytes (plain or gzip), with line numbers.
//!
//! oxttl's low-level parsers are fed one line at a time, so every statement knows the line it
//! ends on and a syntax error names its line. Parsing is lenient (oxttl `lenient()`: IRIs and
//! language tags are not validated) and never stops at an error: N-Triples/N-Quads resume at the
//! next line, Turtle/TriG at oxttl's recovery point (the next statement it can make sense of).
//! A literal typed `rdf:langString` without a language tag (real GIPOD data) is read as an
//! `xsd:string` literal and reported.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use oxrdf::vocab::{rdf, xsd};
use oxrdf::{GraphName, Literal, Quad, Term};
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

/// Lines of N-Triples/N-Quads parsed in one go on the fast path.
const LINE_CHUNK: usize = 512;

/// One parsed statement and the (1-based) line it ends on.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub quad: Quad,
    pub line: u64,
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
}

/// Streams the statements of one input.
pub struct StatementSource {
    name: String,
    input: Box<dyn BufRead + Send>,
    parser: Low,
    line: u64,
    buf: Vec<u8>,
    done: bool,
    /// After a Turtle/TriG error: skip lines until one that starts a statement.
    skipping: bool,
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
    pub fn open(path: &Path, format: Format, base_iri: Option<&str>) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        Self::from_reader(
            path.display().to_string(),
            Box::new(BufReader::with_capacity(1 << 16, file)),
            format,
            base_iri,
        )
    }

    /// Reads `input` (plain or gzip), named `name` in problems.
    pub fn from_reader(
        name: String,
        mut input: Box<dyn BufRead + Send>,
        format: Format,
        base_iri: Option<&str>,
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
            line: 0,
            buf: Vec::new(),
            done: false,
            skipping: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Appends up to about `limit` statements to `out`; false once the input is exhausted.
    /// Syntax errors and repaired literals go to `problems`; an I/O error (truncated gzip, …)
    /// is reported and ends this input.
    pub fn read(&mut self, limit: usize, out: &mut Vec<Stmt>, problems: &mut Vec<Problem>) -> bool {
        let target = out.len() + limit;
        if matches!(self.parser, Low::NTriples | Low::NQuads) {
            while out.len() < target && !self.done {
                self.read_lines(target - out.len(), out, problems);
            }
            return !self.done;
        }
        while out.len() < target {
            self.drain(out, problems);
            if self.done {
                return false;
            }
            self.buf.clear();
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.parser.end();
                    self.done = true;
                }
                Ok(_) => {
                    self.line += 1;
                    match self.parser {
                        Low::NTriples => {
                            let results = NTriplesParser::new()
                                .lenient()
                                .for_slice(&self.buf)
                                .map(|r| r.map(|t| t.in_graph(GraphName::DefaultGraph)));
                            self.take(results, out, problems);
                        }
                        Low::NQuads => {
                            let results = NQuadsParser::new().lenient().for_slice(&self.buf);
                            self.take(results, out, problems);
                        }
                        _ if self.skipping && !starts_statement(&self.buf) => {}
                        _ => {
                            self.skipping = false;
                            self.parser.extend(&self.buf);
                        }
                    }
                }
                Err(e) => {
                    problems.push(Problem {
                        file: self.name.clone(),
                        line: Some(self.line + 1),
                        member: None,
                        reason: format!("read error, rest of the input skipped: {e}"),
                        dropped: true,
                    });
                    self.parser.end();
                    self.done = true;
                }
            }
        }
        self.drain(out, problems);
        !self.done
    }

    /// Line formats: reads chunks of up to LINE_CHUNK lines (about `room` lines in all), then
    /// parses the chunks in parallel; results (statements, problems) are appended in input order.
    fn read_lines(&mut self, room: usize, out: &mut Vec<Stmt>, problems: &mut Vec<Problem>) {
        let mut chunks: Vec<Chunk> = Vec::new();
        out.reserve(room);
        let mut lines = 0;
        while lines < room && !self.done {
            let chunk = self.read_chunk();
            lines += chunk.content.len();
            chunks.push(chunk);
        }
        let ntriples = matches!(self.parser, Low::NTriples);
        let name = self.name.as_str();
        let parsed: Vec<(Vec<Stmt>, Vec<Problem>)> = chunks
            .par_iter()
            .map(|c| parse_chunk(ntriples, name, c))
            .collect();
        for (chunk, (stmts, found)) in chunks.into_iter().zip(parsed) {
            problems.extend(chunk.read_error);
            out.extend(stmts);
            problems.extend(found);
        }
    }

    /// Up to LINE_CHUNK lines, unparsed.
    fn read_chunk(&mut self) -> Chunk {
        let mut chunk = Chunk {
            buf: Vec::with_capacity(LINE_CHUNK * 160),
            first_line: self.line + 1,
            content: Vec::with_capacity(LINE_CHUNK),
            read_error: None,
        };
        while chunk.content.len() < LINE_CHUNK {
            let start = chunk.buf.len();
            match self.input.read_until(b'\n', &mut chunk.buf) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(_) => {
                    self.line += 1;
                    let text = chunk.buf[start..].trim_ascii_start();
                    chunk
                        .content
                        .push(!text.is_empty() && !text.starts_with(b"#"));
                }
                Err(e) => {
                    chunk.read_error = Some(Problem {
                        file: self.name.clone(),
                        line: Some(self.line + 1),
                        member: None,
                        reason: format!("read error, rest of the input skipped: {e}"),
                        dropped: true,
                    });
                    self.done = true;
                    break;
                }
            }
        }
        chunk
    }

    fn drain(&mut self, out: &mut Vec<Stmt>, problems: &mut Vec<Problem>) {
        while let Some(r) = self.parser.next() {
            let failed = r.is_err();
            self.take_one(r, out, problems);
            if failed && !self.done {
                // oxttl's own recovery can stay lost (e.g. inside an unterminated string):
                // start over with the same prefixes and base at the next statement-like line.
                self.restart();
                return;
            }
        }
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

    fn take(
        &self,
        results: impl Iterator<Item = Result<Quad, oxttl::TurtleSyntaxError>>,
        out: &mut Vec<Stmt>,
        problems: &mut Vec<Problem>,
    ) {
        // One report per bad line: after the first error the rest of the line is noise.
        let mut failed = false;
        for r in results {
            if r.is_err() {
                if failed {
                    continue;
                }
                failed = true;
            }
            self.take_one(r, out, problems);
        }
    }

    fn take_one(
        &self,
        r: Result<Quad, oxttl::TurtleSyntaxError>,
        out: &mut Vec<Stmt>,
        problems: &mut Vec<Problem>,
    ) {
        {
            match r {
                Ok(quad) => {
                    let quad = self.repair(quad, problems);
                    out.push(Stmt {
                        quad,
                        line: self.line,
                    });
                }
                Err(e) => {
                    // oxttl counts lines from 0 (per line for the line formats); a problem at
                    // the very end points at the last line.
                    let line = match self.parser {
                        Low::NTriples | Low::NQuads => self.line,
                        _ => (e.location().start.line + 1).min(self.line.max(1)),
                    };
                    problems.push(Problem {
                        file: self.name.clone(),
                        line: Some(line),
                        member: None,
                        reason: format!("syntax error, statement skipped: {}", e.message()),
                        dropped: true,
                    });
                }
            }
        }
    }

    fn repair(&self, quad: Quad, problems: &mut Vec<Problem>) -> Quad {
        repair_at(&self.name, quad, self.line, problems)
    }
}

/// Lines of N-Triples/N-Quads read but not parsed yet.
struct Chunk {
    buf: Vec<u8>,
    first_line: u64,
    /// Per line: holds a statement (not blank, not a comment).
    content: Vec<bool>,
    /// An I/O error that ended the input after these lines.
    read_error: Option<Problem>,
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

/// A chunk parsed line by line: the common forms by [`line::parse`], every other line by oxttl,
/// so errors stay on their line and every statement knows its line.
fn parse_chunk(ntriples: bool, name: &str, chunk: &Chunk) -> (Vec<Stmt>, Vec<Problem>) {
    let mut out = Vec::with_capacity(chunk.content.len());
    let mut problems = Vec::new();
    let lines = chunk.buf.split_inclusive(|&b| b == b'\n');
    for ((k, text), &content) in lines.enumerate().zip(&chunk.content) {
        if !content {
            continue; // blank or a comment
        }
        let line = chunk.first_line + k as u64;
        if let Some(quad) = line::parse(text, !ntriples) {
            let quad = repair_at(name, quad, line, &mut problems);
            out.push(Stmt { quad, line });
            continue;
        }
        // One report per bad line: after the first error the rest of the line is noise.
        let mut failed = false;
        for r in parse_line_format(ntriples, text) {
            match r {
                Ok(quad) => {
                    let quad = repair_at(name, quad, line, &mut problems);
                    out.push(Stmt { quad, line });
                }
                Err(_) if failed => {}
                Err(e) => {
                    failed = true;
                    problems.push(Problem {
                        file: name.to_owned(),
                        line: Some(line),
                        member: None,
                        reason: format!("syntax error, statement skipped: {}", e.message()),
                        dropped: true,
                    });
                }
            }
        }
    }
    (out, problems)
}

fn repair_at(name: &str, mut quad: Quad, line: u64, problems: &mut Vec<Problem>) -> Quad {
    if let Term::Literal(l) = &quad.object {
        if l.language().is_none() && l.datatype() == rdf::LANG_STRING {
            problems.push(Problem {
                file: name.to_owned(),
                line: Some(line),
                member: None,
                reason: "rdf:langString literal without a language tag, read as xsd:string".into(),
                dropped: false,
            });
            quad.object = Literal::new_typed_literal(l.value(), xsd::STRING).into();
        }
    }
    quad
}

/// A line that can start a Turtle/TriG statement: not indented, not a continuation.
fn starts_statement(line: &[u8]) -> bool {
    match line.first() {
        None => false,
        Some(b) => !b.is_ascii_whitespace() && !b"])}.;,\"'#".contains(b),
    }
}
