//! The file-system half of `publish`: many small files written, created and swapped into
//! place, then made durable: the file system of the output, not every file system of the host.
//!
//! Why `syncfs(2)` on the output's file system (Linux) rather than `fsync` of each file and
//! directory written: a commit's files number in the thousands, and syncing each one costs a
//! system call and kernel CPU per file, from many threads, while on a disk with a write-back
//! cache both end in the same device flush. `syncfs` is one call, exact to the output's file
//! system: a writer on another file system is not waited for, as it was with `sync(2)`. The
//! figures (a 200 k-member publish: 9 `syncfs` barriers in 1.4 s against 21 rounds of per-file
//! syncs in 6.1 s) are in benches/RESULTS.md, "Session 8". Elsewhere (no `syncfs`), each file
//! and directory is synced.
//!
//! Every error names the path it happened on.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Why a writer's call failed.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// An I/O error and the path it happened on.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// Two lists that go pairwise (paths and bodies, …) have different lengths.
    #[error("{0} differ in length")]
    Lengths(&'static str),
}

/// Checks that two pairwise lists are as long as each other.
fn same_length(a: usize, b: usize, what: &'static str) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(FsError::Lengths(what))
    }
}

pub type Result<T> = std::result::Result<T, FsError>;

trait At<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> At<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| FsError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Threads that wait on `fsync` at once: the device merges concurrent flushes, so on this
/// project's VM (a virtio disk with a write-back cache) 2,800 fsyncs took 48 s one after
/// another and under 1 s from 64 threads.
const SYNC_THREADS: usize = 64;

/// Writes files for `publish` under one root and remembers what it touched until
/// [`Writer::sync`].
#[derive(Debug, Default)]
pub struct Writer {
    /// The output directory: everything written is under it, on its file system.
    root: PathBuf,
    /// Files written since the last sync (their data is flushed).
    files: Vec<PathBuf>,
    /// Directories whose entries changed since the last sync.
    dirs: HashSet<PathBuf>,
    /// Directories known to exist (created or written into by this writer): a file is created
    /// in them at once, while in another one `mkdir` comes first (one call where the directory
    /// is new, instead of a failed `open`, then `mkdir`, then `open`).
    known: HashSet<PathBuf>,
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl Writer {
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            ..Self::default()
        }
    }

    /// Writes each body to its path from the start; without `truncate`, an existing file is
    /// not truncated first: callers pick files no larger than the body (spares), so nothing
    /// stale remains and no block is freed.
    pub fn write(&mut self, paths: &[PathBuf], bodies: &[&[u8]], truncate: bool) -> Result<()> {
        same_length(paths.len(), bodies.len(), "paths and bodies")?;
        for (p, body) in paths.iter().zip(bodies) {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(truncate)
                .open(p)
                .at(p)?;
            f.write_all(body).at(p)?;
            // The file may be new: its directory's entry is made durable too.
            self.dirs.insert(parent(p).to_path_buf());
            self.files.push(p.clone());
        }
        Ok(())
    }

    /// Creates each file that does not exist yet with its body, creating missing directories
    /// (`mkdir` once per new directory); returns the indices of the paths that existed (left
    /// untouched).
    ///
    /// Why: a page or node never published before needs neither a spare nor a rename:
    /// `publish` writes it in place before the batch's first sync, and the pages that link to
    /// it are swapped in only after that sync, so no reader following links can meet it half
    /// written.
    pub fn create(&mut self, paths: &[PathBuf], bodies: &[&[u8]]) -> Result<Vec<usize>> {
        same_length(paths.len(), bodies.len(), "paths and bodies")?;
        let mut existed = Vec::new();
        for (i, (p, body)) in paths.iter().zip(bodies).enumerate() {
            let dir = parent(p);
            if !self.known.contains(dir) {
                self.make_dirs(dir)?;
            }
            match OpenOptions::new().write(true).create_new(true).open(p) {
                Ok(mut f) => {
                    f.write_all(body).at(p)?;
                    self.files.push(p.clone());
                    self.dirs.insert(dir.to_path_buf());
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => existed.push(i),
                Err(e) => return Err(e).at(p),
            }
        }
        Ok(existed)
    }

    /// Creates `dir` and its missing ancestors; each one created, and its parent, is synced.
    fn make_dirs(&mut self, dir: &Path) -> Result<()> {
        let mut chain = Vec::new(); // (directory, created), deepest first
        let mut at = dir;
        while !self.known.contains(at) {
            match std::fs::create_dir(at) {
                Ok(()) => {
                    chain.push((at.to_path_buf(), true));
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    chain.push((at.to_path_buf(), false));
                    match at.parent() {
                        Some(p) if !p.as_os_str().is_empty() => at = p,
                        _ => return Err(e).at(at),
                    }
                }
                Err(e) => return Err(e).at(at),
            }
        }
        for (d, created) in chain.into_iter().rev() {
            if !created {
                match std::fs::create_dir(&d) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e).at(&d),
                    _ => {}
                }
            }
            self.dirs.insert(parent(&d).to_path_buf());
            self.dirs.insert(d.clone());
            self.known.insert(d);
        }
        self.known.insert(dir.to_path_buf());
        Ok(())
    }

    /// Moves each spare onto its target atomically, creating missing directories. An existing
    /// target is swapped with the spare (Linux `renameat2(RENAME_EXCHANGE)`), so the spare then
    /// holds the old file; else the spare is renamed onto the target. Returns, per pair, the
    /// size of the old file now in the spare, or -1 where the spare was used up.
    ///
    /// Why: replacing a file by a rename frees the old file's blocks, which costs milliseconds
    /// on some file systems (ext4 mounted with `discard`, common in VMs); a swap keeps the old
    /// inode for the next write to overwrite.
    pub fn swap(&mut self, spares: &[PathBuf], targets: &[PathBuf]) -> Result<Vec<i64>> {
        same_length(spares.len(), targets.len(), "spares and targets")?;
        let mut exchange = true;
        let mut sizes = Vec::with_capacity(spares.len());
        for (spare, target) in spares.iter().zip(targets) {
            sizes.push(self.swap_one(spare, target, &mut exchange)?);
            self.dirs.insert(parent(spare).to_path_buf());
            self.dirs.insert(parent(target).to_path_buf());
        }
        Ok(sizes)
    }

    fn swap_one(&mut self, spare: &Path, target: &Path, exchange: &mut bool) -> Result<i64> {
        if *exchange {
            match exchange_paths(spare, target) {
                Ok(true) => return Ok(std::fs::metadata(spare).at(spare)?.len() as i64),
                Ok(false) => *exchange = false,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).at(target),
            }
        }
        self.rename_one(spare, target)?;
        Ok(-1)
    }

    /// Renames each source onto its target (replacing it atomically), creating missing
    /// directories.
    pub fn rename(&mut self, sources: &[PathBuf], targets: &[PathBuf]) -> Result<()> {
        same_length(sources.len(), targets.len(), "sources and targets")?;
        for (source, target) in sources.iter().zip(targets) {
            self.rename_one(source, target)?;
            self.dirs.insert(parent(source).to_path_buf());
            self.dirs.insert(parent(target).to_path_buf());
        }
        Ok(())
    }

    fn rename_one(&mut self, source: &Path, target: &Path) -> Result<()> {
        match std::fs::rename(source, target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && source.exists() => {
                self.make_dirs(parent(target))?;
                std::fs::rename(source, target).at(target)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(e).at(source),
            other => other.at(target),
        }
    }

    /// Makes every file written and every directory changed since the last sync durable:
    /// `syncfs` of the root's file system where there is one, else each file's data
    /// (`fdatasync`) and each directory (`fsync`), from many threads at once. Files are synced
    /// by path: callers sync before they swap or rename what they wrote.
    pub fn sync(&mut self) -> Result<()> {
        let files = std::mem::take(&mut self.files);
        let mut dirs: Vec<PathBuf> = self.dirs.drain().collect();
        if files.is_empty() && dirs.is_empty() {
            return Ok(());
        }
        if syncfs(&self.root)? {
            return Ok(());
        }
        dirs.sort_unstable(); // deterministic order; the set has no duplicates
        sync_each(&files, &dirs)
    }
}

/// `syncfs(2)` of the file system holding `dir`; false where the system has none.
#[cfg(target_os = "linux")]
fn syncfs(dir: &Path) -> Result<bool> {
    use std::os::fd::AsRawFd;

    let f = File::open(dir).at(dir)?;
    // SAFETY: `f` is an open file descriptor for the duration of the call.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error()).at(dir);
    }
    Ok(true)
}

#[cfg(not(target_os = "linux"))]
fn syncfs(_dir: &Path) -> Result<bool> {
    Ok(false)
}

/// Syncs each file's data and each directory.
fn sync_each(files: &[PathBuf], dirs: &[PathBuf]) -> Result<()> {
    let jobs: Vec<(&Path, bool)> = (files.iter().map(|p| (p.as_path(), true)))
        .chain(dirs.iter().map(|p| (p.as_path(), false)))
        .collect();
    sync_all(&jobs)
}

/// Syncs each path (`true`: a file's data; `false`: a directory), from up to
/// [`SYNC_THREADS`] threads; the first error wins.
fn sync_all(jobs: &[(&Path, bool)]) -> Result<()> {
    let sync_one = |&(path, data): &(&Path, bool)| -> Result<()> {
        let f = File::open(path).at(path)?;
        if data { f.sync_data() } else { f.sync_all() }.at(path)
    };
    let threads = jobs.len().min(SYNC_THREADS);
    if threads <= 1 {
        return jobs.iter().try_for_each(sync_one);
    }
    let next = AtomicUsize::new(0);
    let error: Mutex<Option<FsError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                if let Err(e) = sync_one(job) {
                    let mut first = error.lock().unwrap_or_else(|p| p.into_inner());
                    first.get_or_insert(e);
                    next.store(jobs.len(), Ordering::Relaxed);
                    break;
                }
            });
        }
    });
    match error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the target directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("ldesfrag-fs-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch directory");
            Self(dir)
        }
        fn path(&self, rel: &str) -> PathBuf {
            self.0.join(rel)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn read(p: &Path) -> Vec<u8> {
        std::fs::read(p).expect("readable")
    }

    #[test]
    fn new_files_are_created_with_their_directories_and_existing_ones_left_alone() {
        let s = Scratch::new("create");
        let mut w = Writer::new(s.0.clone());
        let paths = [
            s.path("a/b/c/page-1.ttl"),
            s.path("a/b/index.ttl"),
            s.path("x.ttl"),
        ];
        let existed = w
            .create(&paths, &[b"one", b"two", b"three"])
            .expect("created");
        assert!(existed.is_empty());
        assert_eq!(read(&paths[0]), b"one");
        // The new directories and their parents are synced with the files.
        for d in ["a", "a/b", "a/b/c"] {
            assert!(w.dirs.contains(&s.path(d)), "{d}");
        }
        assert!(w.dirs.contains(&s.0));
        assert_eq!(w.files.len(), 3);
        w.sync().expect("synced");
        assert!(w.files.is_empty() && w.dirs.is_empty());
        // Existing files are reported and untouched, in known and unknown directories.
        let mut fresh = Writer::new(s.0.clone());
        for w in [&mut w, &mut fresh] {
            let existed = w.create(&paths[..2], &[b"new", b"new"]).expect("created");
            assert_eq!(existed, [0, 1]);
        }
        assert_eq!(read(&paths[1]), b"two");
        assert!(fresh.files.is_empty());
    }

    #[test]
    fn writes_overwrite_from_the_start_and_swaps_keep_the_old_file() {
        let s = Scratch::new("swap");
        let mut w = Writer::new(s.0.clone());
        let (spare, target) = (s.path("tmp/spare-0"), s.path("d/page-1.ttl"));
        std::fs::create_dir(s.path("tmp")).expect("tmp");
        w.create(std::slice::from_ref(&target), &[b"old version"])
            .expect("created");
        w.write(std::slice::from_ref(&spare), &[b"0123456789"], false)
            .expect("written");
        w.write(std::slice::from_ref(&spare), &[b"new"], false)
            .expect("written");
        assert_eq!(read(&spare), b"new3456789"); // not truncated: callers pick smaller spares
        w.write(std::slice::from_ref(&spare), &[b"new version"], true)
            .expect("written");
        w.sync().expect("synced"); // by path: before the files move
        let sizes = w
            .swap(std::slice::from_ref(&spare), std::slice::from_ref(&target))
            .expect("swapped");
        assert_eq!(read(&target), b"new version");
        if cfg!(target_os = "linux") {
            assert_eq!(sizes, [11]);
            assert_eq!(read(&spare), b"old version");
        }
        // Onto a new target in a new directory: a rename.
        let other = s.path("e/f/page-2.ttl");
        w.write(std::slice::from_ref(&spare), &[b"fresh"], true)
            .expect("written");
        w.sync().expect("synced");
        assert_eq!(
            w.swap(std::slice::from_ref(&spare), std::slice::from_ref(&other))
                .expect("renamed"),
            [-1]
        );
        assert_eq!(read(&other), b"fresh");
        assert!(!spare.exists());
        w.sync().expect("synced");
    }

    #[test]
    fn errors_name_the_path() {
        let s = Scratch::new("errors");
        let mut w = Writer::new(s.0.clone());
        let file = s.path("file");
        w.create(std::slice::from_ref(&file), &[b"x"])
            .expect("created");
        // A file where a directory should be: the path written is named.
        let under = s.path("file/page-1.ttl");
        let e = w
            .create(std::slice::from_ref(&under), &[b"y"])
            .expect_err("not a directory");
        assert_eq!(io(&e).0, under);
        assert!(
            e.to_string().starts_with(&under.display().to_string()),
            "{e}"
        );
        let missing = s.path("missing");
        let e = w
            .swap(std::slice::from_ref(&missing), std::slice::from_ref(&file))
            .expect_err("no spare");
        assert_eq!(io(&e).0, missing);
        if Path::new("/dev/full").exists() {
            let full = PathBuf::from("/dev/full");
            let e = w
                .write(std::slice::from_ref(&full), &[b"x"], false)
                .expect_err("disk full");
            assert_eq!(io(&e).0, full);
            assert_eq!(io(&e).1.raw_os_error(), Some(libc::ENOSPC));
        }
    }

    #[test]
    fn syncs_cover_the_root_file_system_or_each_path_from_threads() {
        let s = Scratch::new("sync");
        let mut w = Writer::new(s.0.clone());
        let paths: Vec<PathBuf> = (0..200)
            .map(|i| s.path(&format!("k={}/p-{i}", i % 7)))
            .collect();
        let bodies: Vec<&[u8]> = paths.iter().map(|_| b"body".as_slice()).collect();
        w.create(&paths, &bodies).expect("created");
        // Each file and directory, as where there is no syncfs.
        let dirs: Vec<PathBuf> = w.dirs.drain().collect();
        sync_each(&std::mem::take(&mut w.files), &dirs).expect("synced");
        let e = sync_each(&[s.path("gone")], &dirs).expect_err("missing file");
        assert_eq!(io(&e).0, s.path("gone"));
        // The root's file system, where there is syncfs.
        w.create(&[s.path("k=0/late")], &[b"late"])
            .expect("created");
        w.sync().expect("synced");
        assert!(w.files.is_empty() && w.dirs.is_empty());
        let mut elsewhere = Writer::new(s.path("missing-root"));
        elsewhere.files.push(s.path("k=0/late"));
        if cfg!(target_os = "linux") {
            let e = elsewhere.sync().expect_err("no root");
            assert_eq!(io(&e).0, s.path("missing-root"));
        }
    }

    /// The path and error of an I/O error.
    fn io(e: &FsError) -> (&Path, &io::Error) {
        match e {
            FsError::Io { path, source } => (path, source),
            e => panic!("not an I/O error: {e}"),
        }
    }

    #[test]
    fn pairwise_lists_of_other_lengths_are_refused_before_any_change() {
        let s = Scratch::new("lengths");
        let mut w = Writer::new(s.0.clone());
        let (a, b) = (s.path("a"), s.path("b"));
        let two = [a.clone(), b.clone()];
        let e = w.create(&two, &[b"x"]).expect_err("two paths, one body");
        assert!(matches!(e, FsError::Lengths("paths and bodies")), "{e}");
        assert_eq!(e.to_string(), "paths and bodies differ in length");
        assert!(!a.exists() && !b.exists());
        let e = w
            .write(&two, &[b"x"], true)
            .expect_err("two paths, one body");
        assert_eq!(e.to_string(), "paths and bodies differ in length");
        assert!(!a.exists());
        let e = w.swap(&two, &two[..1]).expect_err("two spares, one target");
        assert_eq!(e.to_string(), "spares and targets differ in length");
        let e = w
            .rename(&two[..1], &two)
            .expect_err("one source, two targets");
        assert_eq!(e.to_string(), "sources and targets differ in length");
        assert!(w.files.is_empty() && w.dirs.is_empty());
    }
}
