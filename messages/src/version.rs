//! The version node and workers compare when a worker is spawned.
//!
//! A node and a worker from different builds may prepare artifacts the other cannot load,
//! or classify failures differently; after an in-place upgrade this once caused disputes
//! on a live network. Both sides are built against this crate, so they agree exactly when
//! they come from the same build.

/// The crate version shared by every binary of the workspace.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The build id: the git commit the binaries were built from, `PVF_BUILD_ID` when a
/// packager sets it, or `unknown`.
pub const BUILD_ID: &str = env!("PVF_BUILD_ID");

/// `VERSION (BUILD_ID)` as a constant, for `--version` output.
pub const FULL_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PVF_BUILD_ID"), ")");

/// The engine and the configuration artifacts are compiled with. Part of the artifact
/// environment hash: an artifact from another engine or configuration is never loaded.
/// Kept next to the version because the node (which does not link the engine) needs it;
/// `pvf_workers::engine` must change it whenever it changes the configuration (the
/// workspace pins wasmtime to an exact version).
pub const ENGINE: &str = "wasmtime 48.0.8; cranelift opt=speed-and-size; nan-canonicalization; parser parity-wasm 0.45 (mvp); features by params (bulk-memory); stack-limiter wasm-instrument 0.4 (logical max by params); memory import->export, max cleared; single-threaded";
