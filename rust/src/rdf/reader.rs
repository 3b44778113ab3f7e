//! Inputs → record batches of members, in bounded memory.
//!
//! Each input is read in windows of about `Config::window` statements. A window ends at a
//! statement boundary and is then cut further back: (1) before the trailing run of statements of
//! its last subject (or last named graph); (2) before the member whose description starts last
//! (more of it may follow); (3) before the first statement after the last member out that belongs
//! to no member yet (a blank node or a subject whose member statement may follow), unless it
//! lies more than 8 windows back; and (4) never inside a member's description (own triples,
//! blank nodes reached, named graph). Members wholly before the cut come out, in the order of
//! their first statement; the statements after it are carried into the next window. When
//! nothing can be cut (one member larger than the window) the window grows. So the output does
//! not depend on the window as long as each member's statements (with its blank nodes' and its
//! named graph's) lie together within 8 windows; statements about a member only ever come from
//! its own input (blank-node labels are input-scoped). In `tree-member` mode the names of
//! members not yet described are kept for the whole input. `Mode::Document` reads each input
//! whole.

use std::collections::VecDeque;
use std::io::{BufReader, Cursor};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_buffer::{Buffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::extract::{extract, FileMemo, Row, Value};
use super::parse::{Format, StatementSource, Stmt};
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
pub fn schema(cfg: &Config) -> SchemaRef {
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
        match input {
            Input::File { path, format } => StatementSource::open(&path, format, base),
            Input::Bytes { name, data, format } => StatementSource::from_reader(
                name,
                Box::new(BufReader::new(Cursor::new(data))),
                format,
                base,
            ),
        }
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
            cur.more = cur.src.read(room, &mut cur.window, &mut self.problems);
        }
        let last = !cur.more;
        if self.cfg.mode == Mode::Document && !last {
            cur.target = cur.target.saturating_mul(2);
            self.cur = Some(cur);
            return Ok(());
        }
        let name = cur.src.name().to_owned();
        let (rows, cut) = extract(
            &self.cfg,
            &name,
            &cur.window,
            last,
            &mut cur.memo,
            &mut self.problems,
        );
        self.rows.extend(rows);
        if last {
            return Ok(());
        }
        if cut == 0 {
            cur.target = cur.target.saturating_mul(2);
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
