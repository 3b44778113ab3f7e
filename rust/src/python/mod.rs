//! The `ldesfrag._ldesfrag` extension module: conversion and dispatch only.
//!
//! Arrow crosses the boundary through the PyCapsule interface (pyo3-arrow); results are
//! returned as `arro3.core` objects, which export the same interface. Every kernel runs under
//! `catch_unwind`, so no panic reaches Python, and with the GIL released unless its input is
//! small ([`run_sized`]).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float32Array, Float64Array, RecordBatch};
use arrow_schema::SchemaRef;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_arrow::export::{Arro3Array, Arro3Table};
use pyo3_arrow::input::{AnyArray, AnyRecordBatch};
use pyo3_arrow::PyTable;

use crate::columns;
use crate::fragmenter::{self, Fragmenter, OnInvalid};
use crate::timebucket::Zone;
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
            E::Retention(_) => LdesfragError::new_err(msg),
        }
    }
}

/// The kernels' array errors: the input column is unusable.
macro_rules! column_errors {
    ($($kernel_error:ty),*) => {$(
        impl From<$kernel_error> for PyErr {
            fn from(e: $kernel_error) -> PyErr {
                ColumnError::new_err(e.to_string())
            }
        }
    )*};
}
column_errors!(
    tile_kernel::PointsError,
    cover_kernel::CoverArrayError,
    xsd::NotStrings,
    crate::ids::NotStrings,
    columns::ColumnError
);

impl From<crate::ids::LogError> for PyErr {
    fn from(e: crate::ids::LogError) -> PyErr {
        StateError::new_err(e.to_string())
    }
}

/// Below this much work (in units, see [`run_sized`]) a kernel keeps the GIL.
///
/// Releasing the GIL is not free in a busy process: taking it back waits until the thread
/// that took it over reaches the interpreter's switch interval (5 ms by default), so beside
/// one busy Python thread a one-member assign took 8–12 ms released against 0.1–0.2 ms held.
/// Holding it costs the other threads the kernel's own time instead. At this threshold the
/// costliest units held take about 1–1.5 ms (256 polygons covered at zoom 14, 64 KiB of
/// N-Triples read; 2,047 members assigned by point: 0.3 ms), a fraction of a switch
/// interval: no more than a busy Python thread holds the GIL anyway. Measured in
/// benches/bench_assign.py; figures in benches/RESULTS.md.
pub(crate) const GIL_HOLD_BELOW: usize = 2048;

/// The threshold in use: [`GIL_HOLD_BELOW`] unless a benchmark changed it.
static GIL_HOLD: AtomicUsize = AtomicUsize::new(GIL_HOLD_BELOW);

/// A benchmark hook, not part of the API: sets the threshold of [`run_sized`] (`None`: the
/// default) and returns the one before, to measure both sides of it in one process.
#[pyfunction]
#[pyo3(signature = (units = None))]
fn _gil_hold_below(units: Option<usize>) -> usize {
    GIL_HOLD.swap(units.unwrap_or(GIL_HOLD_BELOW), Ordering::Relaxed)
}

/// Bytes of input text (RDF, page payloads, bodies to hash) counted as one unit of work: the
/// reader's rate (about 20 ns a byte; rendering and hashing are faster).
pub(crate) const BYTES_PER_UNIT: usize = 32;

/// Units of work of one geometry's cover: a polygon's cover costs about as much as 8 members'
/// assignment by point.
const COVER_UNITS: usize = 8;

/// Work units of `bytes` bytes of text.
pub(crate) fn byte_units(bytes: usize) -> usize {
    bytes / BYTES_PER_UNIT
}

/// Turns a caught panic into an `LdesfragError` instead of letting it cross over.
fn panic_error(p: Box<dyn std::any::Any + Send>) -> PyErr {
    let what = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    LdesfragError::new_err(format!(
        "internal error in ldesfrag (please report): {what}"
    ))
}

/// Runs a kernel without the GIL (for I/O, and work of unknown size); a panic becomes an
/// `LdesfragError`.
fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    run_sized(py, usize::MAX, f)
}

/// Runs a kernel of about `units` of work (one unit: an input row — a member to assign or
/// render, a value to tile, cover or parse, an id to admit — or [`BYTES_PER_UNIT`] bytes of
/// text): with the GIL held below [`GIL_HOLD_BELOW`], else without it. Either way a panic
/// becomes an `LdesfragError` instead of crossing over.
fn run_sized<T: Send>(py: Python<'_>, units: usize, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    if units < GIL_HOLD.load(Ordering::Relaxed) {
        catch_unwind(AssertUnwindSafe(f)).map_err(panic_error)
    } else {
        py.detach(|| catch_unwind(AssertUnwindSafe(f)))
            .map_err(panic_error)
    }
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

/// An argument's conversion error as a `ColumnError` naming it (ldesfrag's own errors, and
/// what is not an `Exception`, such as KeyboardInterrupt, pass unchanged).
fn input_error(py: Python<'_>, name: &str, e: PyErr) -> PyErr {
    if e.is_instance_of::<LdesfragError>(py) || !e.is_instance_of::<PyException>(py) {
        return e;
    }
    ColumnError::new_err(format!("{name}: {}", e.value(py)))
}

/// One array from an argument: any Arrow array or stream (chunks concatenated), or a
/// one-dimensional buffer such as a numpy array (a strided float one is copied). Anything else
/// is a `ColumnError` naming the argument, not pyo3-arrow's plain ValueError.
fn array(ob: &Bound<'_, PyAny>, name: &str) -> PyResult<ArrayRef> {
    let py = ob.py();
    match ob.extract::<AnyArray>() {
        Ok(input) => one_array(input).map_err(|e| input_error(py, name, e)),
        Err(e) => match strided_floats(ob)? {
            Some(array) => Ok(array),
            None if ob.hasattr("__arrow_c_array__")? || ob.hasattr("__arrow_c_stream__")? => {
                Err(input_error(py, name, e))
            }
            None => Err(ColumnError::new_err(format!(
                "{name}: expected an Arrow array or stream (pyarrow, polars, arro3, …) or a \
                 numpy array, not {}",
                ob.get_type().name()?
            ))),
        },
    }
}

/// A strided (non-contiguous) one-dimensional float64 or float32 buffer, copied: pyo3-arrow
/// takes only contiguous ones, and `np.arange(10.0)[::2]` is a fine coordinate array.
fn strided_floats(ob: &Bound<'_, PyAny>) -> PyResult<Option<ArrayRef>> {
    use pyo3::buffer::PyBuffer;
    let py = ob.py();
    if let Ok(buf) = PyBuffer::<f64>::get(ob) {
        if buf.dimensions() == 1 {
            return Ok(Some(Arc::new(Float64Array::from(buf.to_vec(py)?))));
        }
    }
    if let Ok(buf) = PyBuffer::<f32>::get(ob) {
        if buf.dimensions() == 1 {
            return Ok(Some(Arc::new(Float32Array::from(buf.to_vec(py)?))));
        }
    }
    Ok(None)
}

/// The record batches of a table-like argument (any Arrow record batch, table or stream);
/// anything else, or a stream that fails, is a `ColumnError` naming the argument.
fn record_batches(ob: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<RecordBatch>> {
    let py = ob.py();
    let input = ob.extract::<AnyRecordBatch>().map_err(|e| {
        if ob.hasattr("__arrow_c_array__").unwrap_or(false)
            || ob.hasattr("__arrow_c_stream__").unwrap_or(false)
        {
            return input_error(py, name, e);
        }
        let kind = ob
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        ColumnError::new_err(format!(
            "{name}: expected an Arrow table, record batch or stream (pyarrow, polars, arro3, \
             …), not {kind}"
        ))
    })?;
    input
        .into_reader()
        .map_err(|e| input_error(py, name, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ColumnError::new_err(format!("{name}: {e}")))
}

fn arrow_select_concat(arrays: &[&dyn Array]) -> PyResult<ArrayRef> {
    arrow_select::concat::concat(arrays).map_err(|e| ColumnError::new_err(e.to_string()))
}

fn table_out(schema: SchemaRef, batches: Vec<RecordBatch>) -> PyResult<Arro3Table> {
    Ok(PyTable::try_new(batches, schema)?.into())
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
    lon: &Bound<'py, PyAny>,
    lat: &Bound<'py, PyAny>,
    zoom: i64,
) -> PyResult<Arro3Array> {
    let z = zoom_arg(zoom)?;
    let (lon, lat) = (array(lon, "lon")?, array(lat, "lat")?);
    let array = run_sized(py, lon.len(), move || {
        tile_kernel::tiles_array(lon.as_ref(), lat.as_ref(), z)
    })??;
    Ok(Arro3Array::from(Arc::new(array) as ArrayRef))
}

#[pyfunction]
#[pyo3(signature = (geometries, zoom, *, max_tiles = fragmenter::DEFAULT_MAX_TILES))]
fn cover<'py>(
    py: Python<'py>,
    geometries: &Bound<'py, PyAny>,
    zoom: i64,
    max_tiles: usize,
) -> PyResult<Arro3Array> {
    let z = zoom_arg(zoom)?;
    let array = array(geometries, "geometries")?;
    let work = array.len().saturating_mul(COVER_UNITS);
    let array = run_sized(py, work, move || {
        cover_kernel::cover_array(array.as_ref(), z, max_tiles)
    })??;
    Ok(Arro3Array::from(Arc::new(array) as ArrayRef))
}

#[pyfunction]
#[pyo3(signature = (values, *, naive = "utc"))]
fn parse_datetime<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    naive: &str,
) -> PyResult<Arro3Array> {
    // "utc", "reject", or an IANA zone whose wall-clock time zone-less values are.
    let zone = match naive {
        "utc" | "reject" => None,
        other => Some(Zone::parse(other).map_err(|_| {
            LdesfragError::new_err(format!(
                "naive must be \"utc\", \"reject\" or an IANA time zone name, not {other:?}"
            ))
        })?),
    };
    let reject = naive == "reject";
    let array = array(values, "values")?;
    let out = run_sized(py, array.len(), move || {
        let naive = match &zone {
            Some(zone) => xsd::Naive::Local(zone),
            None if reject => xsd::Naive::Reject,
            None => xsd::Naive::Utc,
        };
        xsd::parse_array(array.as_ref(), naive)
    })??;
    Ok(Arro3Array::from(Arc::new(out) as ArrayRef))
}

#[pyfunction]
fn validate_view(view_json: &str) -> PyResult<()> {
    View::from_json(view_json).map_err(fragmenter::Error::from)?;
    Ok(())
}

fn on_invalid_arg(s: &str) -> PyResult<OnInvalid> {
    OnInvalid::parse(s).ok_or_else(|| {
        LdesfragError::new_err(format!(
            "on_invalid must be \"unknown\", \"reject\" or \"raise\", not {s:?}"
        ))
    })
}

#[pyclass(module = "ldesfrag._ldesfrag", name = "Fragmenter")]
struct PyFragmenter {
    inner: Fragmenter,
    last_invalid: Vec<fragmenter::Invalid>,
    /// Why the fragmenter cannot be used any more: a panic in `assign` may have left it
    /// half-updated, or updated without the caller getting the assignments.
    broken: Option<String>,
}

impl PyFragmenter {
    fn new_from(inner: Fragmenter) -> PyFragmenter {
        PyFragmenter {
            inner,
            last_invalid: Vec::new(),
            broken: None,
        }
    }

    /// The fragmenter, unless an earlier call broke it.
    fn usable(&self) -> PyResult<&Fragmenter> {
        match &self.broken {
            None => Ok(&self.inner),
            Some(why) => Err(LdesfragError::new_err(format!(
                "this fragmenter failed in an earlier assign ({why}) and cannot be used; \
                 continue from a state saved before"
            ))),
        }
    }

    /// Runs a part of `assign` (of about `rows` rows) under the panic guard; a panic breaks
    /// the fragmenter.
    fn guard<T: Send>(
        broken: &mut Option<String>,
        py: Python<'_>,
        rows: usize,
        f: impl FnOnce() -> T + Send,
    ) -> PyResult<T> {
        run_sized(py, rows, f).inspect_err(|e| *broken = Some(e.to_string()))
    }
}

fn table_result(table: Result<fragmenter::Table, fragmenter::TableError>) -> PyResult<Arro3Table> {
    let t = table.map_err(|e| LdesfragError::new_err(e.to_string()))?;
    table_out(t.schema, t.batches)
}

#[pymethods]
impl PyFragmenter {
    #[new]
    #[pyo3(signature = (
        view_json, *, on_invalid = "unknown", max_tiles = fragmenter::DEFAULT_MAX_TILES as i64
    ))]
    fn new(view_json: &str, on_invalid: &str, max_tiles: i64) -> PyResult<Self> {
        let view = View::from_json(view_json).map_err(fragmenter::Error::from)?;
        let mut inner = Fragmenter::new(view)?;
        let max_tiles = usize::try_from(max_tiles).map_err(|_| {
            LdesfragError::new_err(format!("max_tiles must be 0 or more, not {max_tiles}"))
        })?;
        inner.set_max_tiles(max_tiles);
        inner.set_on_invalid(on_invalid_arg(on_invalid)?);
        Ok(PyFragmenter::new_from(inner))
    }

    /// `on_invalid`: None for the one saved with the state; else it must be that one. The
    /// journal entries (`commit()`) are applied in order.
    #[staticmethod]
    #[pyo3(signature = (view_json, state, *, journal = Vec::new(), on_invalid = None))]
    fn from_state(
        py: Python<'_>,
        view_json: &str,
        state: &[u8],
        journal: Vec<Vec<u8>>,
        on_invalid: Option<&str>,
    ) -> PyResult<Self> {
        let view = View::from_json(view_json).map_err(fragmenter::Error::from)?;
        let on_invalid = on_invalid.map(on_invalid_arg).transpose()?;
        let inner = run(py, || {
            let mut f = Fragmenter::restore(view, state, on_invalid)?;
            for entry in &journal {
                f.apply(entry)?;
            }
            Ok::<_, fragmenter::Error>(f)
        })??;
        Ok(PyFragmenter::new_from(inner))
    }

    #[getter]
    fn view_json(&self) -> PyResult<String> {
        Ok(self.usable()?.view().to_json())
    }

    #[getter]
    fn on_invalid(&self) -> PyResult<&'static str> {
        Ok(self.usable()?.on_invalid().name())
    }

    #[getter]
    fn max_tiles(&self) -> PyResult<usize> {
        Ok(self.usable()?.max_tiles())
    }

    #[getter]
    fn closed(&self) -> PyResult<bool> {
        Ok(self.usable()?.is_closed())
    }

    fn close(&mut self) -> PyResult<()> {
        self.usable()?;
        self.inner.close();
        Ok(())
    }

    fn assign(&mut self, py: Python<'_>, members: &Bound<'_, PyAny>) -> PyResult<Arro3Table> {
        self.usable()?;
        let batches = record_batches(members, "members")?;
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        let broken = &mut self.broken;
        let inner = &mut self.inner;
        let on_invalid = inner.on_invalid();
        let (assigned, invalid) =
            PyFragmenter::guard(broken, py, rows, move || inner.assign(&batches, on_invalid))??;
        self.last_invalid = invalid;
        let inner = &self.inner;
        // The structure holds these members now: losing the rows breaks the fragmenter too.
        let table = PyFragmenter::guard(&mut self.broken, py, rows, move || {
            inner.assignment_table(assigned, fragmenter::ASSIGNMENT_BATCH_ROWS)
        })?;
        table_result(table)
    }

    /// A test hook, not part of the API: the next `assign` panics once the structure is
    /// partly updated (as a bug would), to check that the fragmenter is then refused.
    fn _fail_next_assign(&mut self) {
        self.inner.fail_next_assign();
    }

    /// The members of the last call that went to an unknown bucket or were left out.
    fn invalid(&self) -> PyResult<Arro3Table> {
        table_result(fragmenter::invalid_table(&self.last_invalid))
    }

    /// The members of the last call that were left out.
    fn rejected(&self) -> PyResult<Arro3Table> {
        table_result(fragmenter::rejected_table(&self.last_invalid))
    }

    fn relations(&self, py: Python<'_>) -> PyResult<Arro3Table> {
        let f = self.usable()?;
        let table = run(py, || {
            f.relations_table(&f.relations(), fragmenter::MAX_BATCH_BYTES)
        })?;
        table_result(table)
    }

    /// The nodes changed since the last call, with every relation from them (`"from_changed"`)
    /// or only the relations made since (`"new"`).
    #[pyo3(signature = (relations = "from_changed"))]
    fn changes(&mut self, py: Python<'_>, relations: &str) -> PyResult<(Arro3Table, Arro3Table)> {
        let which = match relations {
            "from_changed" => fragmenter::ChangedRelations::FromChanged,
            "new" => fragmenter::ChangedRelations::New,
            other => {
                return Err(LdesfragError::new_err(format!(
                    "relations must be 'from_changed' or 'new', not {other:?}"
                )))
            }
        };
        self.usable()?;
        let f = &mut self.inner;
        // A page chain may follow each changed bucket: a few units each.
        let units = 4 * f.pending_work().1;
        let (nodes, relations) = run_sized(py, units, || {
            let changes = f.changes(which);
            let limit = fragmenter::MAX_BATCH_BYTES;
            let nodes = f.nodes_table(&changes.nodes, limit);
            let relations = f.relations_table(&changes.relations, limit);
            (nodes, relations)
        })?;
        Ok((table_result(nodes)?, table_result(relations)?))
    }

    /// Drops, for each (bucket id, page), the bucket's pages through that page (retention):
    /// all or nothing; the pages dropped now as `{bucket, page, members, immutable}`.
    fn drop_pages(&mut self, py: Python<'_>, through: Vec<(String, i64)>) -> PyResult<Arro3Table> {
        self.usable()?;
        let f = &mut self.inner;
        let mut pairs = Vec::with_capacity(through.len());
        for (id, page) in &through {
            let bucket = f
                .bucket_of(id)
                .ok_or_else(|| LdesfragError::new_err(format!("retention: no bucket {id:?}")))?;
            let page = u32::try_from(*page)
                .ok()
                .filter(|&p| p >= 1)
                .ok_or_else(|| {
                    LdesfragError::new_err(format!(
                        "retention: page {page} of {id:?}: pages count from 1"
                    ))
                })?;
            pairs.push((bucket, page));
        }
        let dropped = f.drop_pages(&pairs)?;
        let f = &self.inner;
        let table = run_sized(py, dropped.len(), || {
            let pages: Vec<fragmenter::Page> = (dropped.iter())
                .map(|&(bucket, page)| f.page(bucket, page))
                .collect();
            f.pages_table(&pages, fragmenter::MAX_BATCH_BYTES)
        })?;
        table_result(table)
    }

    /// What changed since the last commit, as one journal entry (empty bytes: nothing did).
    fn commit<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.usable()?;
        let f = &mut self.inner;
        let units = f.pending_work().0;
        let entry = run_sized(py, units, || f.commit())?;
        Ok(PyBytes::new(py, &entry))
    }

    fn pages(&self, py: Python<'_>) -> PyResult<Arro3Table> {
        let f = self.usable()?;
        let table = run(py, || {
            f.pages_table(&f.pages(), fragmenter::MAX_BATCH_BYTES)
        })?;
        table_result(table)
    }

    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let f = self.usable()?;
        let bytes = run(py, || f.state())?;
        Ok(PyBytes::new(py, &bytes))
    }
}

/// The member IRIs a stream has seen (see `crate::ids`), for `publish` and `MemberIds`.
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

    /// Adds the records of a log (segments, or bare digests as publish once wrote them).
    fn load(&mut self, py: Python<'_>, records: &[u8]) -> PyResult<()> {
        let inner = &mut self.inner;
        let units = records.len() / crate::ids::RECORD;
        Ok(run_sized(py, units, || inner.load(records))??)
    }

    /// Adds the records of a log of segments only.
    fn load_segments(&mut self, py: Python<'_>, records: &[u8]) -> PyResult<()> {
        let inner = &mut self.inner;
        let units = records.len() / crate::ids::RECORD;
        Ok(run_sized(py, units, || inner.load_segments(records))??)
    }

    /// Every record, for a compacted log.
    fn records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let inner = &self.inner;
        let records = run_sized(py, inner.len(), || inner.records())?;
        Ok(PyBytes::new(py, &records))
    }

    /// Per id, whether it is its first occurrence in the stream (a null id: true), and the
    /// records of the admitted ids.
    fn admit<'py>(
        &mut self,
        py: Python<'py>,
        ids: AnyArray,
    ) -> PyResult<(Arro3Array, Bound<'py, PyBytes>)> {
        let ids = one_array(ids)?;
        let inner = &mut self.inner;
        let (first, records) = run_sized(py, ids.len(), || inner.admit_array(ids.as_ref()))??;
        let mask = Arro3Array::from(Arc::new(first) as ArrayRef);
        Ok((mask, PyBytes::new(py, &records)))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, id: &str) -> bool {
        self.inner.contains(id)
    }
}

#[pymodule]
fn _ldesfrag(m: &Bound<'_, PyModule>) -> PyResult<()> {
    crate::tune_allocator();
    m.add_function(wrap_pyfunction!(tile, m)?)?;
    m.add_function(wrap_pyfunction!(tiles_for_points, m)?)?;
    m.add_function(wrap_pyfunction!(cover, m)?)?;
    m.add_function(wrap_pyfunction!(parse_datetime, m)?)?;
    m.add_function(wrap_pyfunction!(validate_view, m)?)?;
    m.add_function(wrap_pyfunction!(_gil_hold_below, m)?)?;
    m.add_class::<PyFragmenter>()?;
    m.add_class::<rdf::PyMemberReader>()?;
    m.add_function(wrap_pyfunction!(rdf::jsonld_to_nquads, m)?)?;
    m.add_class::<PySeenIds>()?;
    m.add_function(wrap_pyfunction!(render::render_page, m)?)?;
    m.add_function(wrap_pyfunction!(render::render_pages, m)?)?;
    m.add_function(wrap_pyfunction!(render::page_rows, m)?)?;
    m.add_function(wrap_pyfunction!(render::etag, m)?)?;
    m.add_class::<fs::PyFileWriter>()?;
    m.add("DEFAULT_MAX_TILES", fragmenter::DEFAULT_MAX_TILES)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
