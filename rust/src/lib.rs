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
