//! Output vectors for the column kernels, which write every element once.
//!
//! A fresh multi-megabyte output is mapped page by page as the kernel first writes it, and on a
//! VM each 4 KiB page fault costs microseconds: as much as computing the values. Asking for
//! transparent huge pages (where the system leaves that to the program, `madvise` mode) maps
//! the bulk of the vector in 2 MiB steps instead.

/// Huge pages only pay off for outputs of several of them.
const HUGE: usize = 2 << 20;

/// An empty vector with room for `n` elements, its bulk backed by huge pages where possible.
pub fn with_capacity<T>(n: usize) -> Vec<T> {
    let v = Vec::with_capacity(n);
    advise_huge_pages(&v);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages<T>(v: &Vec<T>) {
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < 2 * HUGE {
        return;
    }
    let start = (v.as_ptr() as usize).next_multiple_of(HUGE);
    let end = (v.as_ptr() as usize + bytes) / HUGE * HUGE;
    // SAFETY: [start, end) lies within the vector's allocation, which this process owns; the
    // advice changes how its not yet touched pages get mapped, never their contents.
    // A refusal (THP disabled, an old kernel) only costs the speed-up, so the result is ignored.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages<T>(_: &Vec<T>) {}
