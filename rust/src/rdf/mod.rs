//! Members from RDF: statements in, one Arrow row per member out (`id`, the view's columns,
//! `payload`).
//!
//! A member's description is its CBD in the default graph (its triples, recursively through
//! blank-node objects) plus every quad of the named graph named by the member IRI, written as
//! plain triples; `?s tree:member <m>` statements are left out. See [`reader`] for how files are
//! read in bounded windows and [`payload`] for the payload's canonical order.

mod extract;
pub mod jsonld;
mod line;
pub(crate) mod parse;
pub(crate) mod payload;
pub(crate) mod reader;

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use oxrdf::NamedNode;

pub use parse::Format;
pub use reader::{Input, MemberReader};

pub(crate) use crate::vocab::TREE_MEMBER;

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

impl Mode {
    /// The mode named `member` (`"version-of"`, `"tree-member"`, `"named-graph"`, `"type"`,
    /// `"subject"` or `"document"`); `member_type` is the class of `"type"`, and only of it.
    pub fn parse(member: &str, member_type: Option<&str>) -> Result<Mode, Error> {
        let argument = |m: String| Err(Error::Argument(m));
        Ok(match (member, member_type) {
            ("version-of", None) => Mode::VersionOf,
            ("tree-member", None) => Mode::TreeMember,
            ("named-graph", None) => Mode::NamedGraph,
            ("subject", None) => Mode::Subject,
            ("document", None) => Mode::Document,
            ("type", Some(t)) => Mode::Type(iri("member_type", t)?),
            ("type", None) => return argument("member=\"type\" needs member_type".to_owned()),
            (m, Some(_)) if m != "type" => {
                return argument(format!(
                    "member_type is only used with member=\"type\", not {m:?}"
                ))
            }
            (m, _) => {
                return argument(format!(
                    "member must be \"version-of\", \"tree-member\", \"named-graph\", \"type\", \
                     \"subject\" or \"document\", not {m:?}"
                ))
            }
        })
    }
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

impl ColumnKind {
    /// The kind named `"wkt"`, `"time"` or `"reference"`.
    pub fn parse(kind: &str) -> Result<ColumnKind, Error> {
        Ok(match kind {
            "wkt" => ColumnKind::Wkt,
            "time" => ColumnKind::Time,
            "reference" => ColumnKind::Reference,
            k => return Err(Error::Argument(format!("unknown column kind {k:?}"))),
        })
    }
}

/// The problems as a table: `file`, `line` (null: none), `member` (null: none), `reason` and
/// `dropped`.
pub fn problems_batch(problems: &[Problem]) -> Result<RecordBatch, ArrowError> {
    let ps = problems;
    let schema = Arc::new(Schema::new(vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("line", DataType::UInt64, true),
        Field::new("member", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("dropped", DataType::Boolean, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(ps.iter().map(|p| &p.file))),
        Arc::new(UInt64Array::from_iter(ps.iter().map(|p| p.line))),
        Arc::new(StringArray::from_iter(
            ps.iter().map(|p| p.member.as_deref()),
        )),
        Arc::new(StringArray::from_iter_values(ps.iter().map(|p| &p.reason))),
        Arc::new(BooleanArray::from_iter(ps.iter().map(|p| Some(p.dropped)))),
    ];
    RecordBatch::try_new(schema, columns)
}

/// One output column: values of statements with predicate `path` in the description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub kind: ColumnKind,
    pub path: NamedNode,
}

/// State objects → version objects (docs/ldes-rules.md, "Version objects").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Versions {
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
    pub(crate) versions: Option<Versions>,
    /// Statements per window (see [`reader`]).
    pub window: usize,
    pub batch_size: usize,
    pub base_iri: Option<String>,
    /// A longer line (or Turtle/TriG long string) is reported and skipped, so one line never
    /// takes more memory than this.
    pub max_line_bytes: usize,
    /// A member whose description (with the statements read together with it) takes more
    /// bytes of N-Triples text than this is reported and not published; statements that belong
    /// to no member are held back at most this many bytes. Bounds the reader's memory.
    pub max_member_bytes: usize,
    /// Bytes a line-format input is read in at a time (none: from `window`); the output does
    /// not depend on it (tests cut inputs at every byte with it).
    pub(crate) read_block: Option<usize>,
}

/// The default of `Config::max_line_bytes` and `Config::max_member_bytes`: 64 MiB, several
/// times the largest real member descriptions (country outlines as WKT).
pub(crate) const DEFAULT_MAX_BYTES: usize = 64 << 20;

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
            max_line_bytes: DEFAULT_MAX_BYTES,
            max_member_bytes: DEFAULT_MAX_BYTES,
            read_block: None,
        }
    }
}

/// An IRI argument, checked.
pub fn iri(what: &str, s: &str) -> Result<NamedNode, Error> {
    NamedNode::new(s).map_err(|e| Error::Argument(format!("{what}: invalid IRI {s:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_modes_and_column_kinds_by_name() {
        assert_eq!(Mode::parse("tree-member", None), Ok(Mode::TreeMember));
        assert_eq!(
            Mode::parse("type", Some("http://ex.org/C")),
            Ok(Mode::Type(NamedNode::new_unchecked("http://ex.org/C")))
        );
        let message = |r: Result<Mode, Error>| r.expect_err("refused").to_string();
        assert_eq!(
            message(Mode::parse("type", None)),
            "member=\"type\" needs member_type"
        );
        assert_eq!(
            message(Mode::parse("subject", Some("http://ex.org/C"))),
            "member_type is only used with member=\"type\", not \"subject\""
        );
        assert!(
            message(Mode::parse("type", Some("no iri"))).starts_with("member_type: invalid IRI")
        );
        assert!(message(Mode::parse("every", None)).starts_with("member must be \"version-of\""));
        assert_eq!(ColumnKind::parse("time"), Ok(ColumnKind::Time));
        assert_eq!(
            ColumnKind::parse("geo"),
            Err(Error::Argument("unknown column kind \"geo\"".to_owned()))
        );
    }

    #[test]
    fn problems_as_a_table() {
        use arrow_array::cast::AsArray;
        use arrow_array::types::UInt64Type;
        let problems = [
            Problem {
                file: "a.nq".to_owned(),
                line: Some(3),
                member: None,
                reason: "bad".to_owned(),
                dropped: true,
            },
            Problem {
                file: "b.nq".to_owned(),
                line: None,
                member: Some("http://ex.org/m".to_owned()),
                reason: "odd".to_owned(),
                dropped: false,
            },
        ];
        let t = problems_batch(&problems).expect("a table");
        let names: Vec<&str> = t
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["file", "line", "member", "reason", "dropped"]);
        let line = t.column(1).as_primitive::<UInt64Type>();
        assert_eq!(line.iter().collect::<Vec<_>>(), [Some(3), None]);
        let member = t.column(2).as_string::<i32>();
        assert_eq!(
            member.iter().collect::<Vec<_>>(),
            [None, Some("http://ex.org/m")]
        );
        assert_eq!(
            t.column(4).as_boolean().iter().collect::<Vec<_>>(),
            [Some(true), Some(false)]
        );
        assert_eq!(problems_batch(&[]).expect("empty").num_rows(), 0);
    }
    use crate::testing::Rng;

    fn read_all(
        data: &str,
        format: Format,
        mode: Mode,
        window: usize,
    ) -> (Vec<(String, String)>, Vec<Problem>) {
        let mut cfg = Config::new(
            mode,
            iri("v", "http://purl.org/dc/terms/isVersionOf").expect("an IRI"),
        );
        cfg.window = window;
        cfg.batch_size = 3;
        let input = Input::Bytes {
            name: "t".into(),
            data: data.as_bytes().to_vec(),
            format,
        };
        let mut r = MemberReader::new(cfg, vec![input]).expect("a valid config");
        let mut out = Vec::new();
        while let Some(b) = r.next_batch().expect("no I/O error") {
            assert!(b.num_rows() <= 3);
            let ids = b
                .column(0)
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .expect("strings");
            let p = b
                .column(1)
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .expect("strings");
            for i in 0..b.num_rows() {
                out.push((ids.value(i).to_owned(), p.value(i).to_owned()));
            }
        }
        (out, r.problems().to_vec())
    }

    fn member_lines(i: usize) -> Vec<String> {
        vec![
            format!("<http://e/m{i}> <http://purl.org/dc/terms/isVersionOf> <http://e/x{i}> ."),
            format!("<http://e/m{i}> <http://e/p> _:a{i} ."),
            format!("<http://e/m{i}> <http://e/p> _:c{i} ."),
            format!("_:a{i} <http://e/q> \"same\" ."),
            format!("_:c{i} <http://e/q> \"same\" ."),
            format!("_:c{i} <http://e/r> _:d{i} ."),
            format!("_:d{i} <http://e/s> \"{i}\" ."),
        ]
    }

    #[test]
    fn payload_is_independent_of_statement_order_and_labels() {
        let mut rng = Rng(0x5eed);
        let lines = member_lines(1);
        let (want, _) = read_all(
            &lines.join("\n"),
            Format::NTriples,
            Mode::VersionOf,
            1 << 10,
        );
        assert_eq!(want.len(), 1);
        assert!(want[0].1.starts_with("<http://e/m1> <http://e/p> _:b0 .\n"));
        for _ in 0..50 {
            let mut l = lines.clone();
            for i in (1..l.len()).rev() {
                l.swap(i, rng.index(i + 1));
            }
            let text = l.join("\n").replace("_:a1", "_:zz").replace("_:c1", "_:aa");
            let (got, problems) = read_all(&text, Format::NTriples, Mode::VersionOf, 1 << 10);
            assert_eq!(got, want);
            assert!(problems.is_empty());
        }
    }

    #[test]
    fn windows_do_not_change_the_output() {
        let lines: Vec<String> = (0..20).flat_map(member_lines).collect();
        let text = lines.join("\n");
        let (want, _) = read_all(&text, Format::NQuads, Mode::VersionOf, 1 << 10);
        assert_eq!(want.len(), 20);
        for window in 1..12 {
            assert_eq!(
                read_all(&text, Format::NQuads, Mode::VersionOf, window).0,
                want
            );
        }
    }

    #[test]
    fn langstring_without_tag_is_repaired_and_reported() {
        let text = "<http://e/m> <http://purl.org/dc/terms/isVersionOf> <http://e/x> .\n\
                    <http://e/m> <http://e/l> \"hi\"^^<http://www.w3.org/1999/02/22-rdf-syntax-ns#langString> .\n";
        let (got, problems) = read_all(text, Format::NTriples, Mode::VersionOf, 8);
        assert_eq!(got.len(), 1);
        assert!(got[0].1.contains("<http://e/l> \"hi\" .\n"));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(2));
        assert!(!problems[0].dropped);
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Rng(42);
        let base: Vec<u8> = (0..5)
            .flat_map(member_lines)
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes();
        for _ in 0..200 {
            let mut b = base.clone();
            for _ in 0..4 {
                let i = rng.index(b.len());
                b[i] = rng.below(256) as u8;
            }
            let text = String::from_utf8_lossy(&b).into_owned();
            for format in [
                Format::NTriples,
                Format::NQuads,
                Format::Turtle,
                Format::TriG,
            ] {
                for mode in [
                    Mode::VersionOf,
                    Mode::TreeMember,
                    Mode::NamedGraph,
                    Mode::Subject,
                ] {
                    let _ = read_all(&text, format, mode, 3);
                }
            }
        }
    }
}
