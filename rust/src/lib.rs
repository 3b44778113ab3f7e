//! ldesfrag: fragmentation kernels for Linked Data Event Streams.
//!
//! Everything here but the `python` module is plain Rust over Arrow arrays, so `cargo test`
//! runs without Python. The binding layer (`--features python`) only converts and dispatches.

pub mod columns;
pub mod cover;
pub mod crs;
pub mod fragmenter;
pub mod rdf;
pub mod render;
pub mod tile;
pub mod timebucket;
pub mod view;
pub mod vocab;
pub mod wkt;
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
