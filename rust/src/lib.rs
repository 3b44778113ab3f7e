//! ldesfrag: fragmentation kernels for Linked Data Event Streams.
//!
//! Everything here but the `python` module is plain Rust over Arrow arrays, so `cargo test`
//! runs without Python. The binding layer (`--features python`) only converts and dispatches.
//!
//! Items are `pub(crate)` unless the benchmarks in `rust/examples` or the binding need them:
//! the binding is compiled only with its feature, so what it alone calls is `pub` (else a
//! build without it would call it dead), and everything else unused is reported dead.

pub mod columns;
pub mod cover;
mod crs;
pub mod fragmenter;
pub mod fs;
pub mod ids;
pub mod rdf;
pub mod render;
pub mod tile;
pub mod timebucket;
pub mod view;
mod vocab;
mod wkt;
pub mod xsd;

#[cfg(test)]
mod testing;

#[cfg(feature = "python")]
mod python;

/// The extension allocates many small objects (parsed terms, payloads, page bodies) from several
/// threads; glibc's malloc took about a third of extraction's time, mimalloc a fraction of it.
#[cfg(feature = "python")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Makes mimalloc purge freed memory by resetting it (`MADV_FREE`) rather than decommitting it:
/// each window of a dump frees and reallocates much memory, and decommitted pages come back as
/// page faults that zero them again (a third of extraction's time on a 200 k-member dump).
/// Called when the extension loads; a no-op for programs using another allocator.
pub fn tune_allocator() {
    // `mi_option_purge_decommits`: the sixth option of mimalloc v3's `mi_option_t` (the version
    // libmimalloc-sys builds by default, pinned in Cargo.lock), not named by the crate.
    const MI_OPTION_PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;
    // SAFETY: sets one option of the linked mimalloc; options may be set at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DECOMMITS, 0) }
}
