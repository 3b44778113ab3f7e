//! The file-system half of `publish`: many small files written and swapped into place, without
//! the GIL and without a Python call per file.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Writes each body to its path from the start, without truncating: callers pick files no
/// larger than the body (spares), so nothing stale remains and no block is freed. One file
/// after another: `publish` calls this from its committing thread while rayon renders the next
/// batch, and new files in one directory only contend for its lock (threads spin on it).
#[pyfunction]
pub fn write_files(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    bodies: Vec<Bound<'_, PyBytes>>,
) -> PyResult<()> {
    if paths.len() != bodies.len() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "paths and bodies differ in length",
        ));
    }
    let bodies: Vec<&[u8]> = bodies.iter().map(|b| b.as_bytes()).collect();
    py.detach(|| {
        paths.iter().zip(&bodies).try_for_each(|(p, body)| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false) // a spare no larger than the body: nothing stale remains
                .open(p)?;
            f.write_all(body)
        })
    })
    .map_err(PyErr::from)
}

/// Creates each file that does not exist yet with its body, creating missing directories;
/// returns the indices of the paths that existed (left untouched). Why: a page or node never
/// published before needs neither a spare nor a rename: `publish` writes it in place before
/// the batch's sync, and the pages that link to it are swapped in only after that sync, so no
/// reader following links can meet it half written.
#[pyfunction]
pub fn write_new_files(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    bodies: Vec<Bound<'_, PyBytes>>,
) -> PyResult<Vec<usize>> {
    if paths.len() != bodies.len() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "paths and bodies differ in length",
        ));
    }
    let bodies: Vec<&[u8]> = bodies.iter().map(|b| b.as_bytes()).collect();
    py.detach(|| {
        let mut existed = Vec::new();
        for (i, (p, body)) in paths.iter().zip(&bodies).enumerate() {
            let create = || OpenOptions::new().write(true).create_new(true).open(p);
            let file = match create() {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if let Some(dir) = p.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    create()
                }
                other => other,
            };
            match file {
                Ok(mut f) => f.write_all(body)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => existed.push(i),
                Err(e) => return Err(e),
            }
        }
        Ok(existed)
    })
    .map_err(PyErr::from)
}

/// Moves each spare onto its target atomically, creating missing directories. An existing
/// target is swapped with the spare (Linux `renameat2(RENAME_EXCHANGE)`), so the spare then
/// holds the old file; else the spare is renamed onto the target. Returns, per pair, the size
/// of the old file now in the spare, or -1 where the spare was used up.
///
/// Why: replacing a file by a rename frees the old file's blocks, which costs milliseconds on
/// some file systems (ext4 mounted with `discard`, common in VMs); a swap keeps the old inode
/// for the next write to overwrite.
#[pyfunction]
pub fn swap_files(
    py: Python<'_>,
    spares: Vec<PathBuf>,
    targets: Vec<PathBuf>,
) -> PyResult<Vec<i64>> {
    if spares.len() != targets.len() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "spares and targets differ in length",
        ));
    }
    py.detach(|| {
        let mut exchange = true;
        spares
            .iter()
            .zip(&targets)
            .map(|(spare, target)| swap(spare, target, &mut exchange))
            .collect::<io::Result<Vec<i64>>>()
    })
    .map_err(PyErr::from)
}

fn swap(spare: &Path, target: &Path, exchange: &mut bool) -> io::Result<i64> {
    if *exchange {
        match exchange_paths(spare, target) {
            Ok(true) => return Ok(std::fs::metadata(spare)?.len() as i64),
            Ok(false) => *exchange = false,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if let Err(e) = std::fs::rename(spare, target) {
        if e.kind() != io::ErrorKind::NotFound {
            return Err(e);
        }
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(spare, target)?;
    }
    Ok(-1)
}

/// Swaps two existing paths atomically; false where the system or file system cannot.
#[cfg(target_os = "linux")]
fn exchange_paths(a: &Path, b: &Path) -> io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    };
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: two valid NUL-terminated paths; renameat2 only reads them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange_paths(_a: &Path, _b: &Path) -> io::Result<bool> {
    Ok(false)
}
