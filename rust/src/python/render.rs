//! `render_page`, `render_pages`, `page_rows` and `etag`: Arrow tables in, page bytes out
//! (`crate::render::arrow` decodes the tables and renders).

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt64Array};
use arrow_schema::DataType;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_arrow::export::Arro3Array;

use super::exceptions::{ColumnError, InvalidMemberError, LdesfragError, ViewError};
use super::{byte_units, run_sized};
use crate::render::arrow::{self, Common, InputError};
use crate::render::{self, Format, Relation, RenderError};
use crate::view::View;

impl From<RenderError> for PyErr {
    fn from(e: RenderError) -> PyErr {
        let msg = e.to_string();
        match e {
            RenderError::Payload { row, why, .. } => InvalidMemberError::new_err((msg, row, why)),
            RenderError::Iri { .. } | RenderError::Page(_) => LdesfragError::new_err(msg),
        }
    }
}

impl From<InputError> for PyErr {
    fn from(e: InputError) -> PyErr {
        let msg = e.to_string();
        match e {
            InputError::Column(_) => ColumnError::new_err(msg),
            InputError::NullId { row } => {
                InvalidMemberError::new_err((msg, row, "null id".to_owned()))
            }
            InputError::Render(e) => e.into(),
            InputError::NoMemberRow { .. }
            | InputError::NegativeCount(_)
            | InputError::NullRelation { .. }
            | InputError::BadIndex { .. }
            | InputError::NullPage
            | InputError::PageBeyond { .. }
            | InputError::NoPage { .. } => LdesfragError::new_err(msg),
        }
    }
}

/// The work of rendering from tables (see `super::run_sized`): their rows, and the bytes of
/// their text (payloads, mostly) — of the rows given: a slice of a large table counts as the
/// slice.
fn units(tables: &[&[RecordBatch]]) -> usize {
    let text = |column: &ArrayRef| -> usize {
        use arrow_array::cast::AsArray;
        match column.data_type() {
            DataType::Utf8 => value_bytes(column.as_string::<i32>().value_offsets()),
            DataType::LargeUtf8 => value_bytes(column.as_string::<i64>().value_offsets()),
            DataType::Utf8View => column.as_string_view().lengths().map(|n| n as usize).sum(),
            _ => 0,
        }
    };
    let batches = tables.iter().flat_map(|t| t.iter());
    batches
        .map(|b| b.num_rows() + byte_units(b.columns().iter().map(text).sum()))
        .sum()
}

/// The bytes between the first and the last offset of a string array.
fn value_bytes<O: arrow_array::OffsetSizeTrait>(offsets: &[O]) -> usize {
    match (offsets.first(), offsets.last()) {
        (Some(first), Some(last)) => (*last - *first).as_usize(),
        _ => 0,
    }
}

fn batches(input: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Vec<RecordBatch>> {
    input.map_or(Ok(Vec::new()), |input| super::record_batches(input, name))
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

/// The page's bytes and their strong ETag, both made without the GIL unless the page is small.
#[pyfunction]
#[pyo3(signature = (
    node, *, stream, members = None, relations = None, relation_rows = None,
    immutable = false, root = false, view_json = None, timestamp_path = None,
    version_of_path = None, shape = None, format = "turtle",
))]
#[allow(clippy::too_many_arguments)]
pub(super) fn render_page<'py>(
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
    let more: Vec<Relation<'_>> = (rows.iter())
        .map(|r| Relation {
            kind: &r.0,
            node: &r.1,
            path: r.2.as_deref(),
            value: r.3.as_deref(),
            datatype: r.4.as_deref(),
            remaining_items: r.5,
        })
        .collect();
    let common = Common {
        stream,
        view: view.as_ref(),
        timestamp_path,
        version_of_path,
        shape,
        format,
    };
    let work = units(&[&member_batches, &relation_batches]) + more.len();
    let (body, etag) = run_sized(py, work, || {
        arrow::render_page(
            node,
            immutable,
            root,
            &common,
            &member_batches,
            &relation_batches,
            &more,
        )
    })??;
    Ok((PyBytes::new(py, &body), etag))
}

/// A strong ETag of any body (`render::etag`), hashed without the GIL unless it is small.
#[pyfunction]
pub(super) fn etag(py: Python<'_>, body: &[u8]) -> PyResult<String> {
    run_sized(py, byte_units(body.len()), || render::etag(body))
}

/// Many pages at once, rendered in parallel (`render::arrow::render_pages`): what `publish`
/// writes per batch. Returns the bodies and their ETags, in the order of `pages`.
#[pyfunction]
#[pyo3(signature = (
    pages, *, stream, members = None, order = None, relations = None, view_json = None,
    timestamp_path = None, version_of_path = None, shape = None, format = "turtle",
))]
#[allow(clippy::too_many_arguments)]
pub(super) fn render_pages<'py>(
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
    let common = Common {
        stream,
        view: view.as_ref(),
        timestamp_path,
        version_of_path,
        shape,
        format,
    };
    let work = units(&[&page_batches, &member_batches, &relation_batches]);
    let rendered = run_sized(py, work, || {
        arrow::render_pages(
            &common,
            &page_batches,
            &member_batches,
            order.as_deref(),
            &relation_batches,
        )
    })??;
    let mut bodies = Vec::with_capacity(rendered.len());
    let mut etags = Vec::with_capacity(rendered.len());
    for (body, etag) in rendered {
        bodies.push(PyBytes::new(py, &body));
        etags.push(etag);
    }
    Ok((bodies, etags))
}

/// The rows of `members` on each page of `keys` (`render::arrow::page_rows`): `order`,
/// `start` and `count` as uint64 arrays.
#[pyfunction]
pub(super) fn page_rows(
    py: Python<'_>,
    members: Bound<'_, PyAny>,
    keys: Bound<'_, PyAny>,
) -> PyResult<(Arro3Array, Arro3Array, Arro3Array)> {
    let member_batches = batches(Some(&members), "members")?;
    let keys = super::array(&keys, "keys")?;
    let work = units(&[&member_batches]) + keys.len();
    let rows = run_sized(py, work, || {
        arrow::page_rows(&member_batches, keys.as_ref())
    })??;
    let out = |v: Vec<u64>| Arro3Array::from(Arc::new(UInt64Array::from(v)) as ArrayRef);
    Ok((out(rows.order), out(rows.start), out(rows.count)))
}
