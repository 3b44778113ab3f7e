//! Members from RDF: statements in, one Arrow row per member out (`id`, the view's columns,
//! `payload`).
//!
//! A member's description is its CBD in the default graph (its triples, recursively through
//! blank-node objects) plus every quad of the named graph named by the member IRI, written as
//! plain triples; `?s tree:member <m>` statements are left out. See [`reader`] for how files are
//! read in bounded windows and [`payload`] for the payload's canonical order.

mod extract;
pub mod parse;
pub mod payload;
pub mod reader;

use oxrdf::NamedNode;

pub use parse::Format;
pub use reader::{Input, MemberReader};

pub const TREE_MEMBER: &str = "https://w3id.org/tree#member";
pub const XSD_DATE_TIME: &str = "http://www.w3.org/2001/XMLSchema#dateTime";

/// Why reading could not start or go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A bad option (unknown member mode, invalid IRI, …).
    #[error("{0}")]
    Argument(String),
    /// A file that cannot be opened.
    #[error("{0}")]
    Io(String),
}

/// A statement or member that was skipped, repaired or is suspicious.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: Option<u64>,
    pub member: Option<String>,
    pub reason: String,
    /// True when something (a statement, a member) was left out.
    pub dropped: bool,
}

/// How members are recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Non-blank subjects with the version-of path (the reference server's default).
    VersionOf,
    /// Objects of `tree:member`.
    TreeMember,
    /// One member per named graph; the member IRI is the graph name.
    NamedGraph,
    /// Subjects of `rdf:type <class>`.
    Type(NamedNode),
    /// Every IRI subject of the default graph (state objects).
    Subject,
    /// Each input is one member (the reference server's ingest: one request, one member): the
    /// single non-blank subject with the version-of path, described by every statement of the
    /// input, nested IRIs included. Reads each input whole.
    Document,
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `list<string>`: every literal's lexical form (WKT, CRS prefix kept).
    Wkt,
    /// `string`: the first value that parses as `xsd:dateTime`/`xsd:date`, else the first value.
    Time,
    /// `list<string>`: every value (IRIs as IRI strings, literals as lexical forms).
    Reference,
}

/// One output column: values of statements with predicate `path` in the description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub kind: ColumnKind,
    pub path: NamedNode,
}

/// State objects → version objects (ldes-semantics.md §8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub delimiter: String,
    /// Its lexical value on the subject is the version's timestamp, when present.
    pub timestamp_property: Option<NamedNode>,
    /// Otherwise this timestamp (an `xsd:dateTime` lexical form).
    pub timestamp: String,
    pub version_of_path: NamedNode,
    pub timestamp_path: NamedNode,
}

/// Everything that decides what comes out.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub version_of_path: NamedNode,
    pub columns: Vec<ColumnSpec>,
    pub versions: Option<Versions>,
    /// Statements per window (see [`reader`]).
    pub window: usize,
    pub batch_size: usize,
    pub base_iri: Option<String>,
}

impl Config {
    pub fn new(mode: Mode, version_of_path: NamedNode) -> Config {
        Config {
            mode,
            version_of_path,
            columns: Vec::new(),
            versions: None,
            window: 1 << 16,
            batch_size: 65_536,
            base_iri: None,
        }
    }
}

/// An IRI argument, checked.
pub fn iri(what: &str, s: &str) -> Result<NamedNode, Error> {
    NamedNode::new(s).map_err(|e| Error::Argument(format!("{what}: invalid IRI {s:?}: {e}")))
}
