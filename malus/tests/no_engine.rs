//! `pvf-malus` is a node: like `pvf-node` it must never link the Wasm engine (untrusted code
//! runs only in the worker binaries it spawns). The same check `.ci/run` makes for
//! `pvf-subsystem`.

use std::process::Command;

#[test]
fn pvf_malus_does_not_link_wasmtime() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "pvf-malus",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        tree.contains("pvf-subsystem"),
        "not the node's tree: {tree}"
    );
    let engine: Vec<&str> = tree.lines().filter(|l| l.starts_with("wasmtime")).collect();
    assert!(engine.is_empty(), "pvf-malus links {engine:?}");
}
