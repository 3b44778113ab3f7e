//! The `ldesfrag._ldesfrag` extension module.
use pyo3::prelude::*;

#[pymodule]
fn _ldesfrag(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
