//! Inputs → record batches of members, in bounded memory.
//!
//! Each input is read in windows of about `Config::window` statements. A window ends at a
//! statement boundary and is then cut further back: (1) before the trailing run of statements of
//! its last subject (or last named graph); (2) before the member whose description starts last
//! (more of it may follow); (3) before the first statement after the last member out that belongs
//! to no member yet (a blank node or a subject whose member statement may follow), unless it
//! lies more than 8 windows or more than `max_member_bytes` back; and (4) never inside a
//! member's description (own triples, blank nodes reached, named graph). Members wholly before
//! the cut come out, in the order of their first statement; the statements after it are carried
//! into the next window. When nothing can be cut (one member larger than the window) the window
//! grows, up to `max_member_bytes`: past that the members in it are reported and left out (see
//! `extract::overflow`). So the output does not depend on the window as long as each member's
//! statements (with its blank nodes' and its named graph's) lie together within 8 windows;
//! statements about a member only ever come from its own input (blank-node labels are
//! input-scoped). In `tree-member` mode the names of members not yet described are kept for
//! the whole input. `Mode::Document` reads each input whole (up to `max_member_bytes`).
//!
//! N-Triples and N-Quads are read in blocks of bytes whose lines are found and parsed on every
//! core, and the next window's lines are parsed while the current window is extracted
//! (`StatementSource::prefetch`). A window is still made of the same units of lines as when
//! lines were read one at a time (see `parse::Unit`), so where the blocks end changes nothing.
//!
//! A read error ends its input: the members before the cut come out, the ones held back are
//! reported as incomplete. Memory: a window holds about `window` statements plus at most
//! `max_member_bytes` held back, about `window` more statements are read ahead, and one line
//! is at most `max_line_bytes`.

use std::collections::VecDeque;
use std::io::{BufReader, Cursor};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_buffer::{Buffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::extract::{extract, overflow, End, FileMemo, Row, Value};
use super::parse::{Format, Limits, StatementSource, Stmt, BLOCK_BYTES};
use super::{ColumnKind, Config, Error, Mode, Problem};

/// One input: a file, or bytes in memory (e.g. an rdflib graph serialised to N-Quads).
#[derive(Debug, Clone)]
pub enum Input {
    File {
        path: PathBuf,
        format: Format,
    },
    Bytes {
        name: String,
        data: Vec<u8>,
        format: Format,
    },
}

struct Current {
    src: StatementSource,
    window: Vec<Stmt>,
    more: bool,
    target: usize,
    memo: FileMemo,
}

/// Reads members from inputs, in input order, as record batches.
pub struct MemberReader {
    cfg: Config,
    schema: SchemaRef,
    inputs: VecDeque<Input>,
    cur: Option<Current>,
    rows: VecDeque<Row>,
    problems: Vec<Problem>,
}

impl std::fmt::Debug for MemberReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberReader")
            .field("inputs", &self.inputs.len())
            .field("problems", &self.problems.len())
            .finish_non_exhaustive()
    }
}

/// The members table's schema: `id`, one column per spec, `payload`.
pub(crate) fn schema(cfg: &Config) -> SchemaRef {
    let mut fields = vec![Field::new("id", DataType::Utf8, false)];
    for c in &cfg.columns {
        fields.push(match c.kind {
            ColumnKind::Time => Field::new(&c.name, DataType::Utf8, true),
            ColumnKind::Wkt | ColumnKind::Reference => Field::new(
                &c.name,
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                false,
            ),
        });
    }
    fields.push(Field::new("payload", DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

impl MemberReader {
    pub fn new(cfg: Config, inputs: Vec<Input>) -> Result<Self, Error> {
        if cfg.batch_size == 0 {
            return Err(Error::Argument("batch_size must be at least 1".into()));
        }
        if cfg.window == 0 {
            return Err(Error::Argument("window must be at least 1".into()));
        }
        if cfg.max_line_bytes == 0 || cfg.max_member_bytes == 0 {
            return Err(Error::Argument(
                "max_line_bytes and max_member_bytes must be at least 1".into(),
            ));
        }
        let mut names: Vec<&str> = vec!["id", "payload"];
        for c in &cfg.columns {
            if names.contains(&c.name.as_str()) {
                return Err(Error::Argument(format!("duplicate column {:?}", c.name)));
            }
            names.push(&c.name);
        }
        Ok(MemberReader {
            schema: schema(&cfg),
            cfg,
            inputs: inputs.into(),
            cur: None,
            rows: VecDeque::new(),
            problems: Vec::new(),
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Everything reported so far.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The next batch of at most `batch_size` members; `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>, Error> {
        match pool() {
            Some(pool) => pool.install(|| self.read_batch()),
            None => self.read_batch(),
        }
    }

    fn read_batch(&mut self) -> Result<Option<RecordBatch>, Error> {
        while self.rows.len() < self.cfg.batch_size
            && (self.cur.is_some() || !self.inputs.is_empty())
        {
            self.step()?;
        }
        if self.rows.is_empty() {
            return Ok(None);
        }
        let n = self.rows.len().min(self.cfg.batch_size);
        let rows: Vec<Row> = self.rows.drain(..n).collect();
        let batch = self.batch(&rows);
        drop_elsewhere(rows);
        Ok(Some(batch?))
    }

    fn open(&self, input: Input) -> Result<StatementSource, Error> {
        let base = self.cfg.base_iri.as_deref();
        let limits = Limits {
            max_line: self.cfg.max_line_bytes,
            budget: self.cfg.max_member_bytes,
        };
        let mut src = match input {
            Input::File { path, format } => StatementSource::open(&path, format, base, limits),
            Input::Bytes { name, data, format } => StatementSource::from_reader(
                name,
                Box::new(BufReader::new(Cursor::new(data))),
                format,
                base,
                limits,
            ),
        }?;
        src.set_block(self.cfg.read_block.unwrap_or(block_bytes(self.cfg.window)));
        Ok(src)
    }

    fn step(&mut self) -> Result<(), Error> {
        let mut cur = match self.cur.take() {
            Some(c) => c,
            None => {
                let Some(input) = self.inputs.pop_front() else {
                    return Ok(());
                };
                Current {
                    src: self.open(input)?,
                    window: Vec::new(),
                    more: true,
                    target: self.cfg.window,
                    memo: FileMemo::default(),
                }
            }
        };
        if cur.more {
            let room = cur.target.saturating_sub(cur.window.len()).max(1);
            cur.more = cur.src.read(room, &mut cur.window);
        }
        let end = match (cur.more, cur.src.is_broken()) {
            (true, _) => End::More,
            (false, false) => End::Last,
            (false, true) => End::Broken,
        };
        let name = cur.src.name().to_owned();
        if self.cfg.mode == Mode::Document && end == End::More {
            if window_bytes(&cur.window) > self.cfg.max_member_bytes {
                // The input is one member, already too large: the rest is not read.
                overflow(
                    &self.cfg,
                    &name,
                    &cur.window,
                    &mut cur.memo,
                    &mut self.problems,
                );
                drop_elsewhere(cur.window);
                return Ok(());
            }
            cur.target = cur.target.saturating_mul(2);
            self.cur = Some(cur);
            return Ok(());
        }
        // The next window's lines are read and parsed while this one is extracted.
        let ahead = self.cfg.window;
        let Current {
            src, window, memo, ..
        } = &mut cur;
        let ((rows, cut), ()) = rayon::join(
            || extract(&self.cfg, &name, window, end, memo, &mut self.problems),
            || {
                if end == End::More {
                    src.prefetch(ahead);
                }
            },
        );
        self.rows.extend(rows);
        if end != End::More {
            self.problems.extend(cur.src.take_broken());
            drop_elsewhere(cur.window);
            return Ok(());
        }
        if cut == 0 {
            if window_bytes(&cur.window) > self.cfg.max_member_bytes {
                let keep = overflow(
                    &self.cfg,
                    &name,
                    &cur.window,
                    &mut cur.memo,
                    &mut self.problems,
                );
                let old = std::mem::take(&mut cur.window);
                let mut dropped = Vec::new();
                for (st, k) in old.into_iter().zip(keep) {
                    if k {
                        cur.window.push(st);
                    } else {
                        dropped.push(st);
                    }
                }
                drop_elsewhere(dropped);
                cur.target = self.cfg.window.max(cur.window.len().saturating_mul(2));
            } else {
                cur.target = cur.target.saturating_mul(2);
            }
        } else {
            // The next window starts with the carried statements, with room to grow.
            let mut next = Vec::with_capacity(cur.window.capacity());
            next.extend(cur.window.drain(cut..));
            drop_elsewhere(std::mem::replace(&mut cur.window, next));
            // A large carried tail must not be re-examined for every few statements read.
            cur.target = self.cfg.window.max(cur.window.len().saturating_mul(2));
        }
        self.cur = Some(cur);
        Ok(())
    }

    fn batch(&self, rows: &[Row]) -> Result<RecordBatch, Error> {
        let (ids, payloads) = rayon::join(
            || strings(rows, |r| &r.id),
            || strings(rows, |r| &r.payload),
        );
        let mut columns: Vec<ArrayRef> = vec![Arc::new(ids?)];
        for (j, c) in self.cfg.columns.iter().enumerate() {
            let array: ArrayRef = match c.kind {
                ColumnKind::Time => {
                    let mut b = StringBuilder::new();
                    for r in rows {
                        match &r.values[j] {
                            Value::One(v) => b.append_option(v.as_deref()),
                            Value::List(_) => b.append_null(),
                        }
                    }
                    Arc::new(b.finish())
                }
                ColumnKind::Wkt | ColumnKind::Reference => {
                    let mut b = ListBuilder::new(StringBuilder::new());
                    for r in rows {
                        if let Value::List(vs) = &r.values[j] {
                            for v in vs {
                                b.values().append_value(v);
                            }
                        }
                        b.append(true);
                    }
                    Arc::new(b.finish())
                }
            };
            columns.push(array);
        }
        columns.push(Arc::new(payloads?));
        RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Error::Argument(format!("internal error building a batch: {e}")))
    }
}

/// Extraction's own rayon threads. `publish` extracts the next batch while it renders the
/// current one: in one shared pool, extraction's parallel work queued behind rendering's and
/// the two stages took turns; with a pool each, the system keeps both cores busy. None when the
/// pool cannot be made (extraction then uses the global pool).
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("ldesfrag-extract-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// The bytes a line-format input is read in at a time: about 128 bytes a statement of the
/// window, at most `BLOCK_BYTES` (so a small window keeps its memory small, and reads are cut
/// at many places; the output does not depend on where).
fn block_bytes(window: usize) -> usize {
    window.saturating_mul(128).min(BLOCK_BYTES)
}

/// The window's size as `max_member_bytes` counts it.
fn window_bytes(window: &[Stmt]) -> usize {
    window.iter().map(Stmt::bytes).sum()
}

/// Frees `items` on the rayon pool, off the reader's sequential path: statements and rows are
/// built there in parallel, and freeing their strings here took a quarter of this thread's time.
fn drop_elsewhere<T: Send + 'static>(items: Vec<T>) {
    if !items.is_empty() {
        rayon::spawn(move || drop(items));
    }
}

/// A string column of `rows`, copied in parallel (copying a batch's payloads and faulting in
/// their fresh buffer was a large part of the reader's sequential time).
fn strings(rows: &[Row], field: impl Fn(&Row) -> &str + Sync) -> Result<StringArray, Error> {
    const GROUP: usize = 4096;
    let mut offsets = Vec::with_capacity(rows.len() + 1);
    let mut end = 0usize;
    offsets.push(0i32);
    for r in rows {
        end += field(r).len();
        offsets.push(i32::try_from(end).map_err(|_| {
            Error::Argument(format!(
                "a batch of {} members holds more than 2 GiB of text: use a smaller batch_size",
                rows.len()
            ))
        })?);
    }
    // Zeroed memory from the allocator is fresh pages, faulted in by the threads that copy.
    let mut values = vec![0u8; end];
    let mut parts: Vec<(&[Row], &mut [u8])> = Vec::with_capacity(rows.len() / GROUP + 1);
    let mut rest: &mut [u8] = &mut values;
    for (g, group) in rows.chunks(GROUP).enumerate() {
        let len = (offsets[g * GROUP + group.len()] - offsets[g * GROUP]) as usize;
        let (part, tail) = rest.split_at_mut(len);
        parts.push((group, part));
        rest = tail;
    }
    parts.into_par_iter().for_each(|(group, mut part)| {
        for r in group {
            let s = field(r).as_bytes();
            let (head, tail) = part.split_at_mut(s.len());
            head.copy_from_slice(s);
            part = tail;
        }
    });
    let offsets = OffsetBuffer::new(offsets.into());
    // SAFETY: the offsets start at 0 and grow by each string's length up to `values.len()`, and
    // the values are those strings (valid UTF-8) laid end to end, so every slice is a string.
    Ok(unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(values), None) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdf::{iri, Mode};

    fn reader(text: String, limit: usize) -> MemberReader {
        let vo = iri("v", "http://purl.org/dc/terms/isVersionOf").expect("an IRI");
        let mut cfg = Config::new(Mode::VersionOf, vo);
        cfg.max_member_bytes = limit;
        cfg.max_line_bytes = limit;
        let input = Input::Bytes {
            name: "t".into(),
            data: text.into_bytes(),
            format: Format::NTriples,
        };
        MemberReader::new(cfg, vec![input]).expect("a valid config")
    }

    /// Steps through the input: the members out and the most bytes a window held.
    fn run(r: &mut MemberReader) -> (Vec<String>, usize) {
        let mut peak = 0;
        while r.cur.is_some() || !r.inputs.is_empty() {
            r.step().expect("no I/O error");
            if let Some(c) = &r.cur {
                peak = peak.max(window_bytes(&c.window));
            }
        }
        (r.rows.iter().map(|row| row.id.clone()).collect(), peak)
    }

    /// Every row (all columns) and every problem, reading `text` with `block` bytes a read.
    fn table(
        text: &str,
        mode: Mode,
        window: usize,
        block: usize,
    ) -> (Vec<Vec<String>>, Vec<Problem>) {
        let vo = iri("v", "http://purl.org/dc/terms/isVersionOf").expect("an IRI");
        let mut cfg = Config::new(mode, vo);
        cfg.window = window;
        cfg.batch_size = 2;
        cfg.read_block = Some(block);
        cfg.max_line_bytes = 100;
        cfg.columns.push(crate::rdf::ColumnSpec {
            name: "geometry".into(),
            kind: ColumnKind::Wkt,
            path: iri("g", "http://e/wkt").expect("an IRI"),
        });
        let input = Input::Bytes {
            name: "t".into(),
            data: text.as_bytes().to_vec(),
            format: Format::NQuads,
        };
        let mut r = MemberReader::new(cfg, vec![input]).expect("a valid config");
        let mut rows = Vec::new();
        while let Some(b) = r.next_batch().expect("no I/O error") {
            for i in 0..b.num_rows() {
                let row = b
                    .columns()
                    .iter()
                    .map(|c| arrow_array::Array::slice(c.as_ref(), i, 1))
                    .map(|c| format!("{c:?}"))
                    .collect();
                rows.push(row);
            }
        }
        (rows, r.problems().to_vec())
    }

    /// Members whose lines straddle every possible cut between reads (their blank nodes and
    /// named graphs after other members' lines, comments, CRLF, a line over the limit, a
    /// syntax error and an invalid IRI among them): the same rows in the same order and the
    /// same problems as reading the input in one block, in every member mode.
    #[test]
    fn members_across_every_cut_are_grouped_as_in_one_block() {
        let text = "<http://e/a> <http://purl.org/dc/terms/isVersionOf> <http://e/x> .\n\
            <http://e/a> <http://e/p> _:n .\r\n\
            # a comment\n\
            <http://e/s> <https://w3id.org/tree#member> <http://e/b> .\n\
            <http://e/b> <http://purl.org/dc/terms/isVersionOf> <http://e/y> .\n\
            _:n <http://e/q> _:g .\n\
            \n\
            _:g <http://e/wkt> \"POINT (4 51)\" .\n\
            <http://e/b> <http://e/p> \"in b's graph\" <http://e/b> .\n\
            <http://e/c> <http://purl.org/dc/terms/isVersionOf> <http://e/z> .\n\
            <http://e/c> <http://e/p> \"a value far longer than the line limit of one hundred \
             bytes that this reader is given here\" .\n\
            <http://e/s> <https://w3id.org/tree#member> <http://e/d> .\n\
            <http://e/d> <http://purl.org/dc/terms/isVersionOf> <http://e/w> <http://e/d> .\n\
            <http://e/d> <http://e/p> \"unterminated .\n\
            <http://e/f> <http://purl.org/dc/terms/isVersionOf> <http://e/v> .\n\
            <http://e/f> <http://e/wkt> \"POINT (5 50)\" .\n\
            <http://e/f> <http://e/p> <http://e/bad iri> .\n\
            <http://e/h> <http://purl.org/dc/terms/isVersionOf> <http://e/u> .\n\
            <http://e/h> <http://e/wkt> \"POINT (3 52)\"";
        for mode in [
            Mode::VersionOf,
            Mode::TreeMember,
            Mode::NamedGraph,
            Mode::Subject,
        ] {
            for window in [2, 5, 64] {
                let want = table(text, mode.clone(), window, usize::MAX);
                assert!(!want.0.is_empty() && !want.1.is_empty(), "{mode:?}");
                for block in 1..=text.len() + 1 {
                    let got = table(text, mode.clone(), window, block);
                    assert_eq!(got, want, "{mode:?}, window {window}, block {block}");
                }
            }
        }
    }

    fn member(name: &str) -> String {
        format!("<http://e/{name}> <http://purl.org/dc/terms/isVersionOf> <http://e/x> .\n")
    }

    /// 2 MB of statements that belong to no member are not all held (they were, up to 16
    /// windows of statements, however large): the window stays near `max_member_bytes` plus
    /// what one read takes in (512 lines).
    #[test]
    fn statements_of_no_member_are_held_back_within_the_byte_limit() {
        let mut text = member("a");
        for i in 0..20_000 {
            text += &format!("<http://e/x{i}> <http://e/p> \"a value of no member, {i}\" .\n");
        }
        text += &member("b");
        let mut r = reader(text, 20_000);
        let (ids, peak) = run(&mut r);
        assert_eq!(ids, ["http://e/a", "http://e/b"]);
        assert!(peak < 120_000, "a window held {peak} bytes");
        assert!(r.problems().is_empty(), "{:?}", r.problems());
    }

    /// One member of 2 MB is reported and left out, in bounded memory, and the rest of its
    /// statements (after the window gave up on it) do not make a partial member of it.
    #[test]
    fn a_member_larger_than_the_limit_is_reported_and_left_out() {
        let mut text = member("a") + &member("big");
        for i in 0..20_000 {
            text += &format!("<http://e/big> <http://e/p> \"one of many values, {i}\" .\n");
        }
        text += &member("b");
        text += "<http://e/b> <http://e/p> \"b's own\" .\n";
        let mut r = reader(text, 20_000);
        let (ids, peak) = run(&mut r);
        assert_eq!(ids, ["http://e/a", "http://e/b"]);
        assert!(peak < 120_000, "a window held {peak} bytes");
        let big: Vec<&Problem> = r
            .problems()
            .iter()
            .filter(|p| p.member.as_deref() == Some("http://e/big"))
            .collect();
        assert_eq!(big.len(), 1, "{:?}", r.problems());
        assert_eq!(big[0].line, Some(2));
        assert!(big[0].dropped && big[0].reason.contains("max_member_bytes"));
        let b = r.rows.iter().find(|row| row.id == "http://e/b").expect("b");
        assert_eq!(b.payload.lines().count(), 2);
    }
}
