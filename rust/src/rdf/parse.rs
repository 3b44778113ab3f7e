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
use oxttl::nquads::LowLevelNQuadsParser;
use oxttl::ntriples::LowLevelNTriplesParser;
use oxttl::trig::LowLevelTriGParser;
use oxttl::turtle::LowLevelTurtleParser;
use oxttl::{NQuadsParser, NTriplesParser, TriGParser, TurtleParser};

use super::{Error, Problem};

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

/// One parsed statement and the (1-based) line it ends on.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub quad: Quad,
    pub line: u64,
}

enum Low {
    NTriples(LowLevelNTriplesParser),
    NQuads(LowLevelNQuadsParser),
    Turtle(LowLevelTurtleParser),
    TriG(LowLevelTriGParser),
}

impl Low {
    fn extend(&mut self, bytes: &[u8]) {
        match self {
            Low::NTriples(p) => p.extend_from_slice(bytes),
            Low::NQuads(p) => p.extend_from_slice(bytes),
            Low::Turtle(p) => p.extend_from_slice(bytes),
            Low::TriG(p) => p.extend_from_slice(bytes),
        }
    }

    fn end(&mut self) {
        match self {
            Low::NTriples(p) => p.end(),
            Low::NQuads(p) => p.end(),
            Low::Turtle(p) => p.end(),
            Low::TriG(p) => p.end(),
        }
    }

    fn next(&mut self) -> Option<Result<Quad, oxttl::TurtleSyntaxError>> {
        match self {
            Low::NTriples(p) => p
                .parse_next()
                .map(|r| r.map(|t| t.in_graph(GraphName::DefaultGraph))),
            Low::NQuads(p) => p.parse_next(),
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
            Format::NTriples => Low::NTriples(NTriplesParser::new().lenient().low_level()),
            Format::NQuads => Low::NQuads(NQuadsParser::new().lenient().low_level()),
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
                    self.parser.extend(&self.buf);
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

    fn drain(&mut self, out: &mut Vec<Stmt>, problems: &mut Vec<Problem>) {
        while let Some(r) = self.parser.next() {
            match r {
                Ok(quad) => {
                    let quad = self.repair(quad, problems);
                    out.push(Stmt {
                        quad,
                        line: self.line,
                    });
                }
                Err(e) => {
                    // oxttl counts lines from 0; a problem at the very end points at the last line.
                    let line = (e.location().start.line + 1).min(self.line.max(1));
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

    fn repair(&self, mut quad: Quad, problems: &mut Vec<Problem>) -> Quad {
        if let Term::Literal(l) = &quad.object {
            if l.language().is_none() && l.datatype() == rdf::LANG_STRING {
                problems.push(Problem {
                    file: self.name.clone(),
                    line: Some(self.line),
                    member: None,
                    reason: "rdf:langString literal without a language tag, read as xsd:string"
                        .into(),
                    dropped: false,
                });
                quad.object = Literal::new_typed_literal(l.value(), xsd::STRING).into();
            }
        }
        quad
    }
}
