//! Binding of `crate::rdf`: the members reader.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3_arrow::export::Arro3Table;

use super::exceptions::LdesfragError;
use super::{byte_units, run_sized, table_out};
use crate::rdf::{self, ColumnKind, ColumnSpec, Config, Format, Input, Mode, Versions};

pyo3::import_exception!(ldesfrag.exceptions, RdfError);

impl From<rdf::Error> for PyErr {
    fn from(e: rdf::Error) -> PyErr {
        match e {
            rdf::Error::Argument(m) => RdfError::new_err(m),
            rdf::Error::Io(m) => pyo3::exceptions::PyOSError::new_err(m),
        }
    }
}

fn format_arg(s: &str) -> PyResult<Format> {
    Format::from_name(s).ok_or_else(|| {
        RdfError::new_err(format!(
            "format must be \"ntriples\", \"nquads\", \"turtle\" or \"trig\", not {s:?}"
        ))
    })
}

/// How many array-kernel work units one unit of RDF text is worth to the reader.
const RDF_UNIT_WEIGHT: usize = 16;

/// (delimiter, timestamp_property, timestamp, version_of_path, timestamp_path)
type VersionsArg = (String, Option<String>, String, String, String);

#[pyclass(module = "ldesfrag._ldesfrag", name = "MemberReader")]
pub(super) struct PyMemberReader {
    // A pyclass must be Sync; the reader holds a `dyn BufRead`, which is only Send.
    inner: Mutex<rdf::MemberReader>,
    /// The work of reading (see `super::run_sized`): the bytes of in-memory inputs, or
    /// `usize::MAX` when a file is read (I/O is never waited for holding the GIL).
    work: usize,
}

impl PyMemberReader {
    fn reader(&self) -> PyResult<std::sync::MutexGuard<'_, rdf::MemberReader>> {
        self.inner
            .lock()
            .map_err(|_| RdfError::new_err("the reader failed earlier and cannot be used"))
    }
}

#[pymethods]
impl PyMemberReader {
    #[new]
    #[pyo3(signature = (
        inputs, *, member, member_type, version_of_path, columns, versions, batch_size, window,
        base_iri, max_line_bytes, max_member_bytes
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        inputs: Vec<(String, String, Option<Vec<u8>>)>,
        member: &str,
        member_type: Option<String>,
        version_of_path: &str,
        columns: Vec<(String, String, String)>,
        versions: Option<VersionsArg>,
        batch_size: usize,
        window: usize,
        base_iri: Option<String>,
        max_line_bytes: usize,
        max_member_bytes: usize,
    ) -> PyResult<Self> {
        let mode = Mode::parse(member, member_type.as_deref())?;
        let mut cfg = Config::new(mode, rdf::iri("version_of_path", version_of_path)?);
        for (name, kind, path) in columns {
            let kind = ColumnKind::parse(&kind)?;
            let path = rdf::iri(&format!("path of column {name:?}"), &path)?;
            cfg.columns.push(ColumnSpec { name, kind, path });
        }
        if let Some((delimiter, prop, timestamp, vo, ts)) = versions {
            cfg.versions = Some(Versions {
                delimiter,
                timestamp_property: prop
                    .map(|p| rdf::iri("timestamp_property", &p))
                    .transpose()?,
                timestamp,
                version_of_path: rdf::iri("versions.version_of_path", &vo)?,
                timestamp_path: rdf::iri("versions.timestamp_path", &ts)?,
            });
        }
        cfg.batch_size = batch_size;
        cfg.window = window;
        cfg.base_iri = base_iri;
        cfg.max_line_bytes = max_line_bytes;
        cfg.max_member_bytes = max_member_bytes;
        // A byte of RDF costs the reader far more than a unit of the array kernels (it
        // tokenises, validates and canonicalises it): a body of a few KB is already worth
        // releasing the GIL for, so that pages fetched by several threads (the LDES client)
        // are parsed at once.
        let work = inputs.iter().try_fold(0, |sum: usize, (_, _, data)| {
            data.as_ref()
                .map(|d| sum.saturating_add(byte_units(d.len()).saturating_mul(RDF_UNIT_WEIGHT)))
        });
        let inputs = inputs
            .into_iter()
            .map(|(name, format, data)| {
                let format = format_arg(&format)?;
                Ok(match data {
                    Some(data) => Input::Bytes { name, data, format },
                    None => Input::File {
                        path: PathBuf::from(name),
                        format,
                    },
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyMemberReader {
            inner: Mutex::new(rdf::MemberReader::new(cfg, inputs)?),
            work: work.unwrap_or(usize::MAX),
        })
    }

    /// The next batch, or None at the end.
    fn next_batch(&mut self, py: Python<'_>) -> PyResult<Option<Arro3Table>> {
        let mut guard = self.reader()?;
        let inner = &mut *guard;
        let batch = run_sized(py, self.work, move || inner.next_batch())??;
        match batch {
            Some(b) => Ok(Some(table_out(b.schema(), vec![b])?)),
            None => Ok(None),
        }
    }

    /// An empty table with the members schema.
    fn empty(&self) -> PyResult<Arro3Table> {
        table_out(self.reader()?.schema(), Vec::new())
    }

    fn problems(&self) -> PyResult<Arro3Table> {
        let batch = rdf::problems_batch(self.reader()?.problems())
            .map_err(|e| LdesfragError::new_err(e.to_string()))?;
        table_out(batch.schema(), vec![batch])
    }
}

/// A JSON-LD document as N-Quads (see `crate::rdf::jsonld`); `contexts`: remote context URL →
/// document.
#[pyfunction]
#[pyo3(signature = (data, *, base_iri = None, contexts = std::collections::HashMap::new()))]
pub(crate) fn jsonld_to_nquads<'py>(
    py: Python<'py>,
    data: &[u8],
    base_iri: Option<&str>,
    contexts: std::collections::HashMap<String, Vec<u8>>,
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let nquads = run_sized(py, byte_units(data.len()), || {
        rdf::jsonld::to_nquads(data, base_iri, contexts)
    })?
    .map_err(|e| RdfError::new_err(format!("not JSON-LD ldesfrag can read: {e}")))?;
    Ok(pyo3::types::PyBytes::new(py, nquads.as_bytes()))
}
