//! The `ldesfrag._ldesfrag` extension module: conversion and dispatch only.
//!
//! Arrow crosses the boundary through the PyCapsule interface (pyo3-arrow); results are
//! returned as `arro3.core` objects, which export the same interface. Every kernel runs with
//! the GIL released and under `catch_unwind`, so no panic reaches Python.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, UInt32Builder};
use arrow_array::{
    Array, ArrayRef, BooleanArray, ListArray, RecordBatch, StringArray, StructArray,
    TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_arrow::input::{AnyArray, AnyRecordBatch};
use pyo3_arrow::{PyArray, PyTable};

use crate::columns::{self, Strings};
use crate::fragmenter::{self, Fragmenter, OnInvalid};
use crate::view::View;
use crate::{cover as cover_kernel, tile as tile_kernel, xsd};

mod rdf;

mod exceptions {
    pyo3::import_exception!(ldesfrag.exceptions, LdesfragError);
    pyo3::import_exception!(ldesfrag.exceptions, InvalidCoordinateError);
    pyo3::import_exception!(ldesfrag.exceptions, ViewError);
    pyo3::import_exception!(ldesfrag.exceptions, ColumnError);
    pyo3::import_exception!(ldesfrag.exceptions, InvalidMemberError);
    pyo3::import_exception!(ldesfrag.exceptions, StateError);
    pyo3::import_exception!(ldesfrag.exceptions, StreamClosedError);
}
use exceptions::*;

mod fs;
mod render;

impl From<fragmenter::Error> for PyErr {
    fn from(e: fragmenter::Error) -> PyErr {
        use fragmenter::Error as E;
        let msg = e.to_string();
        match e {
            E::View(_) => ViewError::new_err(msg),
            E::Column(_) => ColumnError::new_err(msg),
            E::InvalidMember { row, reason } => InvalidMemberError::new_err((msg, row, reason)),
            E::State(_) => StateError::new_err(msg),
            E::Closed => StreamClosedError::new_err(msg),
        }
    }
}

/// Runs a kernel without the GIL; a panic becomes an `LdesfragError` instead of crossing over.
fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|p| {
            let what = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            LdesfragError::new_err(format!(
                "internal error in ldesfrag (please report): {what}"
            ))
        })
}

fn zoom_arg(zoom: i64) -> PyResult<u8> {
    tile_kernel::check_zoom(zoom).map_err(|e| InvalidCoordinateError::new_err(e.to_string()))
}

/// One array from any Arrow array or stream input (chunks are concatenated).
fn one_array(input: AnyArray) -> PyResult<ArrayRef> {
    let (chunks, field) = input.into_chunked_array()?.into_inner();
    match chunks.len() {
        0 => Ok(arrow_array::new_empty_array(field.data_type())),
        1 => Ok(chunks.into_iter().next().expect("one chunk")),
        _ => {
            let refs: Vec<&dyn Array> = chunks.iter().map(|c| c.as_ref()).collect();
            arrow_select_concat(&refs)
        }
    }
}

fn arrow_select_concat(arrays: &[&dyn Array]) -> PyResult<ArrayRef> {
    arrow_select::concat::concat(arrays).map_err(|e| ColumnError::new_err(e.to_string()))
}

fn array_out(py: Python<'_>, array: ArrayRef) -> PyResult<Bound<'_, PyAny>> {
    PyArray::from_array_ref(array).into_arro3(py)
}

fn table_out(
    py: Python<'_>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> PyResult<Bound<'_, PyAny>> {
    PyTable::try_new(batches, schema)?.into_arro3(py)
}

/// A table of one record batch with these (named, typed) columns.
fn one_batch(
    py: Python<'_>,
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
) -> PyResult<Bound<'_, PyAny>> {
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| LdesfragError::new_err(e.to_string()))?;
    table_out(py, schema, vec![batch])
}

fn tile_fields() -> Fields {
    Fields::from(vec![
        Field::new("x", DataType::UInt32, false),
        Field::new("y", DataType::UInt32, false),
    ])
}

#[pyfunction]
fn tile(lon: f64, lat: f64, zoom: i64) -> PyResult<(u32, u32, u8)> {
    let z = zoom_arg(zoom)?;
    let t = tile_kernel::tile(lon, lat, z)
        .map_err(|e| InvalidCoordinateError::new_err(e.to_string()))?;
    Ok((t.x, t.y, t.z))
}

#[pyfunction]
fn tiles_for_points<'py>(
    py: Python<'py>,
    lon: AnyArray,
    lat: AnyArray,
    zoom: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let z = zoom_arg(zoom)?;
    let (lon, lat) = (one_array(lon)?, one_array(lat)?);
    let array = run(py, move || -> Result<ArrayRef, String> {
        let (lon, lon_nulls) = columns::floats("lon", lon.as_ref()).map_err(|e| e.to_string())?;
        let (lat, lat_nulls) = columns::floats("lat", lat.as_ref()).map_err(|e| e.to_string())?;
        let n = lon.len();
        if lat.len() != n {
            return Err(format!("lon has {n} values, lat has {}", lat.len()));
        }
        let tiles = tile_kernel::tiles_of_points(&lon, &lat, z);
        let valid = BooleanBuffer::new(Buffer::from_vec(tiles.valid), 0, n);
        // No bitmap at all when every point is valid (and present).
        let mut nulls = (tiles.invalid > 0).then(|| NullBuffer::new(valid));
        for input in [lon_nulls, lat_nulls].into_iter().flatten() {
            nulls = NullBuffer::union(nulls.as_ref(), Some(&input));
        }
        let x: ArrayRef = Arc::new(UInt32Array::new(ScalarBuffer::from(tiles.x), None));
        let y: ArrayRef = Arc::new(UInt32Array::new(ScalarBuffer::from(tiles.y), None));
        let nulls = nulls.filter(|n| n.null_count() > 0);
        Ok(Arc::new(StructArray::new(tile_fields(), vec![x, y], nulls)))
    })?
    .map_err(ColumnError::new_err)?;
    array_out(py, array)
}

#[pyfunction]
#[pyo3(signature = (geometries, zoom, *, max_tiles = 100_000))]
fn cover<'py>(
    py: Python<'py>,
    geometries: AnyArray,
    zoom: i64,
    max_tiles: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let z = zoom_arg(zoom)?;
    let array = one_array(geometries)?;
    let array = run(py, move || -> Result<ArrayRef, String> {
        let wkts = Strings::try_new(array.as_ref()).ok_or_else(|| {
            format!(
                "geometries must be strings (WKT), not {}",
                array.data_type()
            )
        })?;
        use rayon::prelude::*;
        let covers: Vec<Option<Vec<(u32, u32)>>> = (0..wkts.len())
            .into_par_iter()
            .map_init(Vec::new, |tiles, i| {
                let w = wkts.get(i)?;
                cover_kernel::cover_wkt(w, z, max_tiles, tiles).ok()?;
                Some(tiles.clone())
            })
            .collect();
        let (mut xs, mut ys) = (UInt32Builder::new(), UInt32Builder::new());
        let mut offsets = vec![0i32];
        let mut valid = Vec::with_capacity(covers.len());
        for c in &covers {
            if let Some(tiles) = c {
                for &(x, y) in tiles {
                    xs.append_value(x);
                    ys.append_value(y);
                }
            }
            valid.push(c.is_some());
            let len = i32::try_from(xs.len())
                .map_err(|_| "more than 2^31 tiles in one call".to_owned())?;
            offsets.push(len);
        }
        let values = StructArray::new(
            tile_fields(),
            vec![Arc::new(xs.finish()) as ArrayRef, Arc::new(ys.finish())],
            None,
        );
        let field = Arc::new(Field::new("item", DataType::Struct(tile_fields()), false));
        let nulls = NullBuffer::from(valid);
        Ok(Arc::new(ListArray::new(
            field,
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Arc::new(values),
            Some(nulls).filter(|n| n.null_count() > 0),
        )))
    })?
    .map_err(ColumnError::new_err)?;
    array_out(py, array)
}

#[pyfunction]
#[pyo3(signature = (values, *, naive = "utc"))]
fn parse_datetime<'py>(
    py: Python<'py>,
    values: AnyArray,
    naive: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let naive = match naive {
        "utc" => xsd::Naive::Utc,
        "reject" => xsd::Naive::Reject,
        other => {
            return Err(LdesfragError::new_err(format!(
                "naive must be \"utc\" or \"reject\", not {other:?}"
            )))
        }
    };
    let array = one_array(values)?;
    let out = run(py, move || -> Result<ArrayRef, String> {
        let strings = Strings::try_new(array.as_ref())
            .ok_or_else(|| format!("values must be strings, not {}", array.data_type()))?;
        let n = strings.len();
        let parsed = match strings {
            Strings::Utf8(a) => {
                xsd::parse_many(n, |i| a.is_valid(i).then(|| a.value(i).as_bytes()), naive)
            }
            Strings::Large(a) => {
                xsd::parse_many(n, |i| a.is_valid(i).then(|| a.value(i).as_bytes()), naive)
            }
            Strings::View(a) => {
                xsd::parse_many(n, |i| a.is_valid(i).then(|| a.value(i).as_bytes()), naive)
            }
        };
        let valid = BooleanBuffer::new(Buffer::from_vec(parsed.valid), 0, n);
        let nulls = (parsed.invalid > 0).then(|| NullBuffer::new(valid));
        let values = parsed.values;
        Ok(Arc::new(
            TimestampMicrosecondArray::new(ScalarBuffer::from(values), nulls).with_timezone("UTC"),
        ))
    })?
    .map_err(ColumnError::new_err)?;
    array_out(py, out)
}

#[pyfunction]
fn validate_view(view_json: &str) -> PyResult<()> {
    View::from_json(view_json).map_err(fragmenter::Error::from)?;
    Ok(())
}

fn on_invalid_arg(s: &str) -> PyResult<OnInvalid> {
    match s {
        "unknown" => Ok(OnInvalid::Unknown),
        "reject" => Ok(OnInvalid::Reject),
        "raise" => Ok(OnInvalid::Raise),
        other => Err(LdesfragError::new_err(format!(
            "on_invalid must be \"unknown\", \"reject\" or \"raise\", not {other:?}"
        ))),
    }
}

/// Rows per output record batch: each batch's bucket ids are copied by one task, and its
/// buffers stay small enough for the allocator to reuse from one call to the next.
const OUT_BATCH: usize = 1 << 16;

#[pyclass(module = "ldesfrag._ldesfrag", name = "Fragmenter")]
struct PyFragmenter {
    inner: Fragmenter,
    on_invalid: OnInvalid,
    last_invalid: Vec<fragmenter::Invalid>,
    /// Where `changes()` was last called (or the fragmenter made or restored).
    mark: fragmenter::Mark,
}

#[pymethods]
impl PyFragmenter {
    #[new]
    #[pyo3(signature = (view_json, *, on_invalid = "unknown", max_tiles = 100_000))]
    fn new(view_json: &str, on_invalid: &str, max_tiles: usize) -> PyResult<Self> {
        let view = View::from_json(view_json).map_err(fragmenter::Error::from)?;
        let mut inner = Fragmenter::new(view)?;
        inner.set_max_tiles(max_tiles);
        Ok(PyFragmenter {
            inner,
            on_invalid: on_invalid_arg(on_invalid)?,
            last_invalid: Vec::new(),
            mark: fragmenter::Mark::default(),
        })
    }

    #[staticmethod]
    #[pyo3(signature = (view_json, state, *, on_invalid = "unknown"))]
    fn from_state(view_json: &str, state: &[u8], on_invalid: &str) -> PyResult<Self> {
        let view = View::from_json(view_json).map_err(fragmenter::Error::from)?;
        let inner = Fragmenter::from_state(view, state)?;
        Ok(PyFragmenter {
            mark: inner.mark(),
            inner,
            on_invalid: on_invalid_arg(on_invalid)?,
            last_invalid: Vec::new(),
        })
    }

    #[getter]
    fn view_json(&self) -> String {
        self.inner.view().to_json()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn close(&mut self) {
        self.inner.close();
    }

    fn assign<'py>(
        &mut self,
        py: Python<'py>,
        members: AnyRecordBatch,
    ) -> PyResult<Bound<'py, PyAny>> {
        let reader = members.into_reader()?;
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ColumnError::new_err(e.to_string()))?;
        let on_invalid = self.on_invalid;
        let inner = &mut self.inner;
        let (assigned, invalid) = run(py, move || inner.assign(&batches, on_invalid))??;
        self.last_invalid = invalid;
        let inner = &self.inner;
        let schema = Arc::new(Schema::new(vec![
            Field::new("row", DataType::UInt64, false),
            Field::new("bucket", DataType::Utf8, false),
            Field::new("page", DataType::UInt32, false),
        ]));
        let out_schema = schema.clone();
        let batches = run(py, move || {
            let rows = ScalarBuffer::from(assigned.rows);
            let pages = ScalarBuffer::from(assigned.pages);
            let mut start = 0;
            let batches = inner.bucket_columns(&assigned.buckets, OUT_BATCH);
            (batches.into_iter())
                .map(|buckets| {
                    let n = buckets.len();
                    let columns: Vec<ArrayRef> = vec![
                        Arc::new(UInt64Array::new(rows.slice(start, n), None)),
                        Arc::new(buckets),
                        Arc::new(UInt32Array::new(pages.slice(start, n), None)),
                    ];
                    start += n;
                    RecordBatch::try_new(out_schema.clone(), columns)
                })
                .collect::<Result<Vec<_>, _>>()
        })?
        .map_err(|e| LdesfragError::new_err(e.to_string()))?;
        table_out(py, schema, batches)
    }

    /// The members of the last call that went to an unknown bucket or were left out.
    fn invalid<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inv = &self.last_invalid;
        one_batch(
            py,
            vec![
                Field::new("row", DataType::UInt64, false),
                Field::new("column", DataType::Utf8, false),
                Field::new("reason", DataType::Utf8, false),
                Field::new("rejected", DataType::Boolean, false),
            ],
            vec![
                Arc::new(UInt64Array::from_iter_values(inv.iter().map(|i| i.row))),
                Arc::new(StringArray::from_iter_values(inv.iter().map(|i| &i.column))),
                Arc::new(StringArray::from_iter_values(inv.iter().map(|i| &i.reason))),
                Arc::new(BooleanArray::from_iter(
                    inv.iter().map(|i| Some(i.rejected)),
                )),
            ],
        )
    }

    /// The members of the last call that were left out.
    fn rejected<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rejected: Vec<_> = self.last_invalid.iter().filter(|i| i.rejected).collect();
        one_batch(
            py,
            vec![
                Field::new("row", DataType::UInt64, false),
                Field::new("reason", DataType::Utf8, false),
            ],
            vec![
                Arc::new(UInt64Array::from_iter_values(
                    rejected.iter().map(|i| i.row),
                )),
                Arc::new(StringArray::from_iter_values(
                    rejected
                        .iter()
                        .map(|i| format!("{}: {}", i.column, i.reason)),
                )),
            ],
        )
    }

    fn relations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = &self.inner;
        let rels = run(py, || f.relations())?;
        relations_out(py, f, &rels)
    }

    /// The nodes changed since the last call and every relation from them; the mark moves on.
    fn changes<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (f, mark) = (&self.inner, &self.mark);
        let (changes, next) = run(py, || (f.changes_since(mark), f.mark()))?;
        self.mark = next;
        let f = &self.inner;
        let nodes = &changes.nodes;
        let nodes = one_batch(
            py,
            vec![
                Field::new("bucket", DataType::Utf8, false),
                Field::new("page", DataType::UInt32, true),
                Field::new("members", DataType::UInt64, false),
                Field::new("immutable", DataType::Boolean, false),
            ],
            vec![
                Arc::new(StringArray::from_iter_values(
                    nodes.iter().map(|n| f.descriptor(n.bucket)),
                )),
                Arc::new(UInt32Array::from_iter(nodes.iter().map(|n| n.page))),
                Arc::new(UInt64Array::from_iter_values(
                    nodes.iter().map(|n| n.members),
                )),
                Arc::new(BooleanArray::from_iter(
                    nodes.iter().map(|n| Some(n.immutable)),
                )),
            ],
        )?;
        Ok((nodes, relations_out(py, f, &changes.relations)?))
    }

    fn pages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let f = &self.inner;
        let pages = run(py, || f.pages())?;
        one_batch(
            py,
            vec![
                Field::new("bucket", DataType::Utf8, false),
                Field::new("page", DataType::UInt32, false),
                Field::new("members", DataType::UInt64, false),
                Field::new("immutable", DataType::Boolean, false),
            ],
            vec![
                Arc::new(StringArray::from_iter_values(
                    pages.iter().map(|p| f.descriptor(p.bucket)),
                )),
                Arc::new(UInt32Array::from_iter_values(pages.iter().map(|p| p.page))),
                Arc::new(UInt64Array::from_iter_values(
                    pages.iter().map(|p| p.members),
                )),
                Arc::new(BooleanArray::from_iter(
                    pages.iter().map(|p| Some(p.immutable)),
                )),
            ],
        )
    }

    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let f = &self.inner;
        let bytes = run(py, || f.state())?;
        Ok(PyBytes::new(py, &bytes))
    }
}

/// The member IRIs a stream has seen (see `crate::ids`), for `publish`.
#[pyclass(module = "ldesfrag._ldesfrag", name = "SeenIds")]
#[derive(Default)]
struct PySeenIds {
    inner: crate::ids::SeenIds,
}

#[pymethods]
impl PySeenIds {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Adds the records of a log segment.
    fn load(&mut self, py: Python<'_>, records: &[u8]) -> PyResult<()> {
        let inner = &mut self.inner;
        run(py, || inner.load(records))?.map_err(StateError::new_err)
    }

    /// Every record, for a compacted log.
    fn records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let inner = &self.inner;
        let records = run(py, || inner.records())?;
        Ok(PyBytes::new(py, &records))
    }

    /// Per id, whether it is its first occurrence in the stream (a null id: true), and the
    /// records of the admitted ids.
    fn admit<'py>(
        &mut self,
        py: Python<'py>,
        ids: AnyArray,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyBytes>)> {
        let ids = one_array(ids)?;
        let strings = Strings::try_new(ids.as_ref()).ok_or_else(|| {
            ColumnError::new_err(format!("id: {} is not a string array", ids.data_type()))
        })?;
        let inner = &mut self.inner;
        let (first, records) = run(py, || inner.admit(strings.len(), |i| strings.get(i)))?;
        let mask = array_out(py, Arc::new(BooleanArray::from(first)) as ArrayRef)?;
        Ok((mask, PyBytes::new(py, &records)))
    }
}

/// Relations as the table of `Fragmenter.relations()`.
fn relations_out<'py>(
    py: Python<'py>,
    f: &Fragmenter,
    rels: &[fragmenter::Relation],
) -> PyResult<Bound<'py, PyAny>> {
    one_batch(
        py,
        vec![
            Field::new("parent", DataType::Utf8, false),
            Field::new("parent_page", DataType::UInt32, true),
            Field::new("child", DataType::Utf8, false),
            Field::new("child_page", DataType::UInt32, true),
            Field::new("type", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, true),
            Field::new("value", DataType::Utf8, true),
            Field::new("datatype", DataType::Utf8, true),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(
                rels.iter().map(|r| f.descriptor(r.parent)),
            )),
            Arc::new(UInt32Array::from_iter(rels.iter().map(|r| r.parent_page))),
            Arc::new(StringArray::from_iter_values(
                rels.iter().map(|r| f.descriptor(r.child)),
            )),
            Arc::new(UInt32Array::from_iter(rels.iter().map(|r| r.child_page))),
            Arc::new(StringArray::from_iter_values(rels.iter().map(|r| r.kind))),
            Arc::new(StringArray::from_iter(
                rels.iter().map(|r| r.path.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                rels.iter().map(|r| r.value.as_deref()),
            )),
            Arc::new(StringArray::from_iter(rels.iter().map(|r| r.datatype))),
        ],
    )
}

#[pymodule]
fn _ldesfrag(m: &Bound<'_, PyModule>) -> PyResult<()> {
    crate::tune_allocator();
    m.add_function(wrap_pyfunction!(tile, m)?)?;
    m.add_function(wrap_pyfunction!(tiles_for_points, m)?)?;
    m.add_function(wrap_pyfunction!(cover, m)?)?;
    m.add_function(wrap_pyfunction!(parse_datetime, m)?)?;
    m.add_function(wrap_pyfunction!(validate_view, m)?)?;
    m.add_class::<PyFragmenter>()?;
    m.add_class::<rdf::PyMemberReader>()?;
    m.add_class::<PySeenIds>()?;
    m.add_function(wrap_pyfunction!(render::render_page, m)?)?;
    m.add_function(wrap_pyfunction!(render::render_pages, m)?)?;
    m.add_function(wrap_pyfunction!(render::page_rows, m)?)?;
    m.add_function(wrap_pyfunction!(render::etag, m)?)?;
    m.add_class::<fs::PyFileWriter>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
