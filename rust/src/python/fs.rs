//! `FileWriter`: the file-system half of `publish` (crate::fs), without the GIL and without a
//! Python call per file. Errors become `OSError`s with the errno and the path.

use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::run;
use crate::fs::{FsError, Writer};

impl From<FsError> for PyErr {
    fn from(e: FsError) -> PyErr {
        match e {
            FsError::Io { path, source } => match source.raw_os_error() {
                // OSError(errno, strerror, filename): Python picks the subclass
                // (FileNotFoundError, …).
                Some(errno) => {
                    let text = std::io::Error::from_raw_os_error(errno).to_string();
                    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
                    PyOSError::new_err((errno, text, path.to_string_lossy().into_owned()))
                }
                None => PyOSError::new_err(format!("{}: {source}", path.display())),
            },
            FsError::Lengths(_) => PyValueError::new_err(e.to_string()),
        }
    }
}

fn slices<'a>(bodies: &'a [Bound<'_, PyBytes>]) -> Vec<&'a [u8]> {
    bodies.iter().map(|b| b.as_bytes()).collect()
}

#[pyclass(module = "ldesfrag._ldesfrag", name = "FileWriter")]
#[derive(Debug)]
pub(super) struct PyFileWriter {
    inner: Writer,
}

#[pymethods]
impl PyFileWriter {
    /// A writer of files under `root` (the output directory), whose file system it syncs.
    #[new]
    fn new(root: PathBuf) -> Self {
        Self {
            inner: Writer::new(root),
        }
    }

    /// Writes each body to its path from the start (without `truncate`, over a file no larger).
    #[pyo3(signature = (paths, bodies, *, truncate = false))]
    fn write(
        &mut self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        bodies: Vec<Bound<'_, PyBytes>>,
        truncate: bool,
    ) -> PyResult<()> {
        let bodies = slices(&bodies);
        let inner = &mut self.inner;
        Ok(run(py, || inner.write(&paths, &bodies, truncate))??)
    }

    /// Creates the files that do not exist yet (and their directories); returns the indices of
    /// those that existed, left untouched.
    fn create(
        &mut self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        bodies: Vec<Bound<'_, PyBytes>>,
    ) -> PyResult<Vec<usize>> {
        let bodies = slices(&bodies);
        let inner = &mut self.inner;
        Ok(run(py, || inner.create(&paths, &bodies))??)
    }

    /// Swaps (or renames) each spare onto its target; per pair, the size of the old file now in
    /// the spare, or -1.
    fn swap(
        &mut self,
        py: Python<'_>,
        spares: Vec<PathBuf>,
        targets: Vec<PathBuf>,
    ) -> PyResult<Vec<i64>> {
        let inner = &mut self.inner;
        Ok(run(py, || inner.swap(&spares, &targets))??)
    }

    /// Renames each source onto its target.
    fn rename(
        &mut self,
        py: Python<'_>,
        sources: Vec<PathBuf>,
        targets: Vec<PathBuf>,
    ) -> PyResult<()> {
        let inner = &mut self.inner;
        Ok(run(py, || inner.rename(&sources, &targets))??)
    }

    /// Makes everything written, created, swapped or renamed since the last sync durable.
    fn sync(&mut self, py: Python<'_>) -> PyResult<()> {
        let inner = &mut self.inner;
        Ok(run(py, || inner.sync())??)
    }
}
