//! Computes the build id that node and workers compare at spawn time (see `build_id.rs`).
//!
//! `PVF_BUILD_ID`, when set and not empty, is taken as it is (a packager's choice); otherwise
//! the id comes from the workspace's sources: the git commit, with a hash of the edits when
//! the tree is dirty, or a hash of every source file outside git.

#[path = "build_id.rs"]
mod build_id;

fn main() {
    println!("cargo:rerun-if-env-changed=PVF_BUILD_ID");
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it");
    let root = std::path::Path::new(&manifest_dir)
        .parent()
        .expect("messages/ lives in the workspace")
        .to_path_buf();
    let (id, source) = match std::env::var("PVF_BUILD_ID") {
        Ok(id) if !id.is_empty() => (id, "env"),
        _ => {
            let computed = build_id::compute(&root);
            for path in &computed.watch {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            (computed.id, computed.source)
        }
    };
    println!("cargo:rustc-env=PVF_BUILD_ID={id}");
    println!("cargo:rustc-env=PVF_BUILD_ID_SOURCE={source}");
}
