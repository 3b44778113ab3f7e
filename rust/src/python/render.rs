//! `render_page`: Arrow members and relations in, one page's bytes out.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, RecordBatch, UInt64Array};
use arrow_schema::DataType;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::exceptions::{ColumnError, InvalidMemberError, LdesfragError, ViewError};
use super::run;
use crate::columns::{self, Strings};
use crate::render::{self, Format, Member, Page, Relation, RenderError};
use crate::view::View;
use crate::xsd;

impl From<RenderError> for PyErr {
    fn from(e: RenderError) -> PyErr {
        let msg = e.to_string();
        match e {
            RenderError::Payload { row, why, .. } => InvalidMemberError::new_err((msg, row, why)),
            RenderError::Iri { .. } | RenderError::Page(_) => LdesfragError::new_err(msg),
        }
    }
}

fn batches(input: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Vec<RecordBatch>> {
    input.map_or(Ok(Vec::new()), |input| super::record_batches(input, name))
}

fn col_err(e: columns::ColumnError) -> PyErr {
    ColumnError::new_err(e.to_string())
}

/// A required string column: missing, null-typed or any other type is a `ColumnError`.
fn strings<'a>(batch: &'a RecordBatch, name: &str, why: &str) -> PyResult<Strings<'a>> {
    let array = columns::column(batch, name, why).map_err(col_err)?;
    Strings::try_new(array.as_ref())
        .ok_or_else(|| col_err(columns::type_error(name, array.as_ref(), "string")))
}

/// An optional string column: absent or null-typed (all null) is `None`.
fn optional_strings<'a>(batch: &'a RecordBatch, name: &str) -> PyResult<Option<Strings<'a>>> {
    match batch.column_by_name(name) {
        None => Ok(None),
        Some(array) if array.data_type() == &DataType::Null => Ok(None),
        Some(array) => Strings::try_new(array.as_ref())
            .map(Some)
            .ok_or_else(|| col_err(columns::type_error(name, array.as_ref(), "string"))),
    }
}

/// A member's timestamp column in one batch.
enum Times<'a> {
    Absent,
    Instants(Vec<Option<i64>>),
    /// Parsed only for the rows asked for: a publish batch hands over every open member to
    /// render a few pages.
    Lexical(Strings<'a>),
}

/// The members at `rows` (row indices across all batches, in that order), or all of them.
fn members<'a>(batches: &'a [RecordBatch], rows: Option<&[usize]>) -> PyResult<Vec<Member<'a>>> {
    let mut columns = Vec::with_capacity(batches.len());
    let mut starts = Vec::with_capacity(batches.len());
    let mut total = 0;
    for batch in batches {
        let ids = strings(batch, "id", "as the member IRIs")?;
        let payloads = strings(batch, "payload", "as the member descriptions")?;
        let times = match batch.column_by_name("timestamp") {
            None => Times::Absent,
            Some(a) => match (columns::instants(a.as_ref()), Strings::try_new(a.as_ref())) {
                (Some(t), _) => Times::Instants(t),
                (None, Some(s)) => Times::Lexical(s),
                (None, None) if a.data_type() == &DataType::Null => Times::Absent,
                _ => {
                    return Err(col_err(columns::type_error(
                        "timestamp",
                        a.as_ref(),
                        "a timestamp or xsd:dateTime strings",
                    )))
                }
            },
        };
        columns.push((ids, payloads, times));
        starts.push(total);
        total += batch.num_rows();
    }
    let member = |row: usize| -> PyResult<Member<'a>> {
        if row >= total {
            return Err(LdesfragError::new_err(format!(
                "order: no member row {row}"
            )));
        }
        let b = starts.partition_point(|&s| s <= row) - 1;
        let (ids, payloads, times) = &columns[b];
        let i = row - starts[b];
        let id = ids.get(i).ok_or_else(|| {
            InvalidMemberError::new_err((
                format!("member {row}: the id is null"),
                row,
                "null id".to_owned(),
            ))
        })?;
        let timestamp = match times {
            Times::Absent => None,
            Times::Instants(t) => t[i],
            Times::Lexical(s) => s
                .get(i)
                .and_then(|v| xsd::parse_xsd_datetime(v, xsd::Naive::Utc).ok()),
        };
        Ok(Member {
            id,
            payload: payloads.get(i).unwrap_or(""),
            timestamp,
        })
    };
    // In parallel: a publish batch gathers (and parses the timestamps of) a few hundred
    // thousand members scattered over the open logs. The first error in row order is raised.
    let gathered: Vec<PyResult<Member<'a>>> = match rows {
        Some(rows) => rows.par_iter().map(|&r| member(r)).collect(),
        None => (0..total).into_par_iter().map(member).collect(),
    };
    gathered.into_iter().collect()
}

fn counts(batch: &RecordBatch) -> PyResult<Vec<Option<u64>>> {
    let Some(a) = batch.column_by_name("remaining_items") else {
        return Ok(vec![None; batch.num_rows()]);
    };
    let signed = |v: Option<i64>| -> PyResult<Option<u64>> {
        v.map(|v| {
            u64::try_from(v).map_err(|_| {
                LdesfragError::new_err(format!("remaining_items must not be negative, not {v}"))
            })
        })
        .transpose()
    };
    fn unsigned<T: ArrowPrimitiveType>(a: &dyn Array) -> Vec<Option<u64>>
    where
        T::Native: Into<u64>,
    {
        a.as_primitive::<T>()
            .iter()
            .map(|v| v.map(Into::into))
            .collect()
    }
    fn widened<T: ArrowPrimitiveType>(a: &dyn Array) -> Vec<Option<i64>>
    where
        T::Native: Into<i64>,
    {
        a.as_primitive::<T>()
            .iter()
            .map(|v| v.map(Into::into))
            .collect()
    }
    let a = a.as_ref();
    let signed_values = match a.data_type() {
        DataType::UInt64 => return Ok(unsigned::<UInt64Type>(a)),
        DataType::UInt32 => return Ok(unsigned::<UInt32Type>(a)),
        DataType::UInt16 => return Ok(unsigned::<UInt16Type>(a)),
        DataType::UInt8 => return Ok(unsigned::<UInt8Type>(a)),
        DataType::Null => return Ok(vec![None; a.len()]),
        DataType::Int64 => widened::<Int64Type>(a),
        DataType::Int32 => widened::<Int32Type>(a),
        DataType::Int16 => widened::<Int16Type>(a),
        DataType::Int8 => widened::<Int8Type>(a),
        _ => {
            return Err(col_err(columns::type_error(
                "remaining_items",
                a,
                "integers >= 0",
            )))
        }
    };
    signed_values.into_iter().map(signed).collect()
}

fn relations(batches: &[RecordBatch]) -> PyResult<Vec<Relation<'_>>> {
    let mut out = Vec::new();
    for batch in batches {
        let kinds = strings(batch, "type", "as the relation classes")?;
        let nodes = strings(batch, "node", "as the relation targets")?;
        let paths = optional_strings(batch, "path")?;
        let values = optional_strings(batch, "value")?;
        let datatypes = optional_strings(batch, "datatype")?;
        let remaining = counts(batch)?;
        for (i, remaining_items) in remaining.into_iter().enumerate() {
            let row = out.len();
            let (Some(kind), Some(node)) = (kinds.get(i), nodes.get(i)) else {
                return Err(LdesfragError::new_err(format!(
                    "relation {row}: type and node must not be null"
                )));
            };
            out.push(Relation {
                kind,
                node,
                path: paths.and_then(|c| c.get(i)),
                value: values.and_then(|c| c.get(i)),
                datatype: datatypes.and_then(|c| c.get(i)),
                remaining_items,
            });
        }
    }
    Ok(out)
}

/// The arguments every renderer takes: the format's name and the view as JSON.
fn format_and_view(format: &str, view_json: Option<&str>) -> PyResult<(Format, Option<View>)> {
    let format = Format::parse(format).ok_or_else(|| {
        LdesfragError::new_err(format!(
            "format must be \"turtle\", \"ntriples\", \"nquads\", \"trig\" or \"jsonld\", not {format:?}"
        ))
    })?;
    let view = view_json
        .map(View::from_json)
        .transpose()
        .map_err(|e| ViewError::new_err(e.to_string()))?;
    Ok((format, view))
}

/// One relation as a tuple: (type, node, path, value, datatype, remaining_items).
type RelationRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<u64>,
);

/// The page's bytes and their strong ETag, both made without the GIL.
#[pyfunction]
#[pyo3(signature = (
    node, *, stream, members = None, relations = None, relation_rows = None,
    immutable = false, root = false, view_json = None, timestamp_path = None,
    version_of_path = None, shape = None, format = "turtle",
))]
#[allow(clippy::too_many_arguments)]
pub fn render_page<'py>(
    py: Python<'py>,
    node: &str,
    stream: &str,
    members: Option<Bound<'py, PyAny>>,
    relations: Option<Bound<'py, PyAny>>,
    relation_rows: Option<Vec<RelationRow>>,
    immutable: bool,
    root: bool,
    view_json: Option<&str>,
    timestamp_path: Option<&str>,
    version_of_path: Option<&str>,
    shape: Option<&str>,
    format: &str,
) -> PyResult<(Bound<'py, PyBytes>, String)> {
    let (format, view) = format_and_view(format, view_json)?;
    let member_batches = batches(members.as_ref(), "members")?;
    let relation_batches = batches(relations.as_ref(), "relations")?;
    let rows = relation_rows.unwrap_or_default();
    let (body, etag) = run(py, || -> PyResult<(Vec<u8>, String)> {
        let members = self::members(&member_batches, None)?;
        let mut rels = self::relations(&relation_batches)?;
        rels.extend(rows.iter().map(|r| Relation {
            kind: &r.0,
            node: &r.1,
            path: r.2.as_deref(),
            value: r.3.as_deref(),
            datatype: r.4.as_deref(),
            remaining_items: r.5,
        }));
        let page = Page {
            immutable,
            root,
            view: view.as_ref(),
            timestamp_path,
            version_of_path,
            shape,
            ..Page::new(node, stream)
        };
        let body = render::render(&page, &members, &rels, format)?;
        let etag = render::etag(&body);
        Ok((body, etag))
    })??;
    Ok((PyBytes::new(py, &body), etag))
}

/// A strong ETag of any body (`render::etag`), hashed without the GIL.
#[pyfunction]
pub fn etag(py: Python<'_>, body: &[u8]) -> PyResult<String> {
    run(py, || render::etag(body))
}

/// Column `name` as row indices (any integer type, no nulls).
fn indices(batch: &RecordBatch, name: &str, why: &str) -> PyResult<Vec<usize>> {
    let a = columns::column(batch, name, why).map_err(col_err)?;
    let bad = || {
        LdesfragError::new_err(format!(
            "{name} must be non-negative integers without nulls"
        ))
    };
    fn wide<T: ArrowPrimitiveType>(a: &dyn Array) -> Vec<Option<i128>>
    where
        T::Native: Into<i128>,
    {
        a.as_primitive::<T>()
            .iter()
            .map(|v| v.map(Into::into))
            .collect()
    }
    let values = match a.data_type() {
        DataType::UInt64 => wide::<UInt64Type>(a.as_ref()),
        DataType::UInt32 => wide::<UInt32Type>(a.as_ref()),
        DataType::Int64 => wide::<Int64Type>(a.as_ref()),
        DataType::Int32 => wide::<Int32Type>(a.as_ref()),
        _ => return Err(col_err(columns::type_error(name, a.as_ref(), "integers"))),
    };
    values
        .into_iter()
        .map(|v| v.and_then(|v| usize::try_from(v).ok()).ok_or_else(bad))
        .collect()
}

fn flags(batch: &RecordBatch, name: &str) -> PyResult<Vec<bool>> {
    match batch.column_by_name(name) {
        None => Ok(vec![false; batch.num_rows()]),
        Some(a) if a.data_type() == &DataType::Boolean => {
            Ok(a.as_boolean().iter().map(|v| v.unwrap_or(false)).collect())
        }
        Some(a) => Err(col_err(columns::type_error(name, a.as_ref(), "booleans"))),
    }
}

/// Many pages at once, rendered in parallel: what `publish` writes per batch.
///
/// `pages` has one row per page: `node` (its IRI), `start` and `count` (its members: a slice of
/// `members`, or of `order`, row numbers of `members`, when given: no need to sort the members
/// themselves), and optional `immutable` and `root` flags. `relations` has the columns of
/// `render_page`'s relations plus `page`, the row in `pages` they start from. Returns the bodies
/// and their ETags, in the order of `pages`.
#[pyfunction]
#[pyo3(signature = (
    pages, *, stream, members = None, order = None, relations = None, view_json = None,
    timestamp_path = None, version_of_path = None, shape = None, format = "turtle",
))]
#[allow(clippy::too_many_arguments)]
pub fn render_pages<'py>(
    py: Python<'py>,
    pages: Bound<'py, PyAny>,
    stream: &str,
    members: Option<Bound<'py, PyAny>>,
    order: Option<Bound<'py, PyAny>>,
    relations: Option<Bound<'py, PyAny>>,
    view_json: Option<&str>,
    timestamp_path: Option<&str>,
    version_of_path: Option<&str>,
    shape: Option<&str>,
    format: &str,
) -> PyResult<(Vec<Bound<'py, PyBytes>>, Vec<String>)> {
    let (format, view) = format_and_view(format, view_json)?;
    let page_batches = batches(Some(&pages), "pages")?;
    let member_batches = batches(members.as_ref(), "members")?;
    let relation_batches = batches(relations.as_ref(), "relations")?;
    let order = order.map(|o| super::array(&o, "order")).transpose()?;
    let rendered = run(py, || -> PyResult<Vec<(Vec<u8>, String)>> {
        // Each member's row in `members`, in page order.
        let rows = match &order {
            None => None,
            Some(order) => {
                let batch = RecordBatch::try_from_iter([("order", order.clone())])
                    .map_err(|e| ColumnError::new_err(e.to_string()))?;
                Some(indices(&batch, "order", "as member rows")?)
            }
        };
        let members = self::members(&member_batches, rows.as_deref())?;
        let rels = self::relations(&relation_batches)?;
        let mut of_page: Vec<usize> = Vec::with_capacity(rels.len());
        for batch in &relation_batches {
            of_page.extend(indices(
                batch,
                "page",
                "as the page each relation starts from",
            )?);
        }
        let mut specs = Vec::new();
        for batch in &page_batches {
            let nodes = strings(batch, "node", "as the page IRIs")?;
            let starts = indices(batch, "start", "as the first member of each page")?;
            let counts = indices(batch, "count", "as the number of members of each page")?;
            let immutable = flags(batch, "immutable")?;
            let root = flags(batch, "root")?;
            for i in 0..batch.num_rows() {
                let node = nodes
                    .get(i)
                    .ok_or_else(|| LdesfragError::new_err("page IRIs must not be null"))?;
                let span = starts[i]..starts[i].saturating_add(counts[i]);
                if span.end > members.len() {
                    return Err(LdesfragError::new_err(format!(
                        "page {node}: members {}..{} beyond the {} given",
                        span.start,
                        span.end,
                        members.len()
                    )));
                }
                specs.push((node, span, immutable[i], root[i]));
            }
        }
        // Relations grouped by page, in their given order.
        let mut grouped: Vec<Vec<Relation<'_>>> = vec![Vec::new(); specs.len()];
        for (r, &p) in rels.iter().zip(&of_page) {
            grouped
                .get_mut(p)
                .ok_or_else(|| {
                    LdesfragError::new_err(format!("relation of page {p}: no such page"))
                })?
                .push(*r);
        }
        specs
            .par_iter()
            .zip(&grouped)
            .map(|((node, span, immutable, root), rels)| {
                let page = Page {
                    immutable: *immutable,
                    root: *root,
                    view: if *root { view.as_ref() } else { None },
                    timestamp_path,
                    version_of_path,
                    shape,
                    ..Page::new(node, stream)
                };
                let body = render::render(&page, &members[span.clone()], rels, format).map_err(
                    |e| match e {
                        RenderError::Payload { row, id, line, why } => RenderError::Payload {
                            row: rows
                                .as_ref()
                                .map_or(row + span.start, |r| r[row + span.start]),
                            id,
                            line,
                            why,
                        },
                        e => e,
                    },
                )?;
                let etag = render::etag(&body);
                Ok((body, etag))
            })
            .collect()
    })??;
    let mut bodies = Vec::with_capacity(rendered.len());
    let mut etags = Vec::with_capacity(rendered.len());
    for (body, etag) in rendered {
        bodies.push(PyBytes::new(py, &body));
        etags.push(etag);
    }
    Ok((bodies, etags))
}

/// The rows of `members` (columns `key`, a string, and `seq`, a uint64) on each page of `keys`,
/// for `render_pages`: `order` lists them page by page, in the order of `keys`, each page's
/// by `seq`; page `i` holds `order[start[i]..start[i] + count[i]]`. One hash probe per row
/// instead of a join and a sort on string keys in Python.
#[pyfunction]
pub fn page_rows<'py>(
    py: Python<'py>,
    members: Bound<'py, PyAny>,
    keys: Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let member_batches = batches(Some(&members), "members")?;
    let keys = super::array(&keys, "keys")?;
    let (order, start, count) = run(py, || -> PyResult<_> {
        let wanted = Strings::try_new(keys.as_ref())
            .ok_or_else(|| col_err(columns::type_error("keys", keys.as_ref(), "string")))?;
        let mut index: FxHashMap<&str, u32> = FxHashMap::default();
        index.reserve(wanted.len());
        for i in 0..wanted.len() {
            if let Some(k) = wanted.get(i) {
                index.entry(k).or_insert(i as u32);
            }
        }
        // (page, seq, row) of every row on a wanted page.
        let mut found: Vec<(u32, u64, u64)> = Vec::new();
        let mut offset = 0u64;
        for batch in &member_batches {
            let key = strings(batch, "key", "as the page key of each row")?;
            let seq =
                columns::column(batch, "seq", "as the arrival of each row").map_err(col_err)?;
            let seq = match seq.data_type() {
                DataType::UInt64 if seq.null_count() == 0 => seq.as_primitive::<UInt64Type>(),
                _ => {
                    return Err(col_err(columns::type_error(
                        "seq",
                        seq.as_ref(),
                        "uint64 without nulls",
                    )))
                }
            };
            for r in 0..batch.num_rows() {
                if let Some(&page) = key.get(r).and_then(|k| index.get(k)) {
                    found.push((page, seq.value(r), offset + r as u64));
                }
            }
            offset += batch.num_rows() as u64;
        }
        found.par_sort_unstable();
        let mut count = vec![0u64; wanted.len()];
        for &(page, _, _) in &found {
            count[page as usize] += 1;
        }
        // A key given twice: its first place holds the rows, the other is empty.
        let start: Vec<u64> = count
            .iter()
            .scan(0u64, |at, &n| {
                let s = *at;
                *at += n;
                Some(s)
            })
            .collect();
        let order: Vec<u64> = found.into_iter().map(|(_, _, row)| row).collect();
        Ok((order, start, count))
    })??;
    let out = |v: Vec<u64>| super::array_out(py, Arc::new(UInt64Array::from(v)) as ArrayRef);
    Ok((out(order)?, out(start)?, out(count)?))
}
