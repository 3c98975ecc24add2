//! The version node and workers compare when a worker is spawned.
//!
//! A node and a worker from different builds may prepare artifacts the other cannot load,
//! or classify failures differently; after an in-place upgrade this once caused disputes
//! on a live network. Both sides are built against this crate, so they agree exactly when
//! they come from the same build.

/// The crate version shared by every binary of the workspace.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The build id (`build_id.rs` computes it): the git commit the binaries were built from,
/// `<commit>-dirty-<hash of the edits>` for a tree that differs from its commit,
/// `src-<hash of the sources>` outside git, `PVF_BUILD_ID` when a packager sets it, or
/// [`UNKNOWN_BUILD`].
pub const BUILD_ID: &str = env!("PVF_BUILD_ID");

/// How [`BUILD_ID`] was obtained: `git`, `sources`, `env` (set by the packager) or `unknown`.
pub const BUILD_ID_SOURCE: &str = env!("PVF_BUILD_ID_SOURCE");

/// The build id of a build whose sources could not be identified. Two such builds may differ
/// in anything, so node and workers never pair on it.
pub const UNKNOWN_BUILD: &str = "unknown";

/// What the operator does when node and workers come from different builds (an in-place
/// upgrade that replaced only some of the binaries, or a rebuild of only some of them).
pub const MISMATCH_HINT: &str = "node and workers must come from the same build: install \
    pvf-node and both workers together (the package, or one `cargo build --release --bins`), \
    then restart the node";

/// `VERSION (BUILD_ID)` as a constant, for `--version` output.
pub const FULL_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PVF_BUILD_ID"), ")");

/// Whether a node and a worker announcing these build ids come from the same build: equal,
/// and identified (neither empty nor [`UNKNOWN_BUILD`]).
pub fn builds_match(node: &str, worker: &str) -> bool {
    node == worker && !node.is_empty() && node != UNKNOWN_BUILD
}

/// The engine and the configuration artifacts are compiled with. Part of the artifact
/// environment hash: an artifact from another engine or configuration is never loaded.
/// Kept next to the version because the node (which does not link the engine) needs it;
/// `pvf_workers::engine` must change it whenever it changes the configuration (the
/// workspace pins wasmtime to an exact version).
pub const ENGINE: &str = "wasmtime 48.0.8; cranelift opt=speed-and-size; nan-canonicalization; parser parity-wasm 0.45 (mvp); features by params (bulk-memory); stack-limiter wasm-instrument 0.4 (logical max by params); memory import->export, max cleared; single-threaded";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_builds_never_match() {
        assert!(builds_match("d5802470ebf6", "d5802470ebf6"));
        assert!(!builds_match(
            "d5802470ebf6",
            "d5802470ebf6-dirty-0123456789ab"
        ));
        assert!(!builds_match(UNKNOWN_BUILD, UNKNOWN_BUILD));
        assert!(!builds_match("", ""));
    }
}
