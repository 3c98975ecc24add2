//! `pvf-collator build` as a user runs it.

use std::{path::Path, process::Command};

fn collator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pvf-collator"))
}

fn shared(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/realchain")
        .join(name)
}

#[test]
fn builds_blocks_with_transfers_and_invalid_variants_of_a_real_chain() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = collator()
        .args([
            "build",
            "--blocks",
            "2",
            "--transfers",
            "2",
            "--invalid",
            "--chain-spec",
        ])
        .arg(shared("collectives-polkadot-9290.chainspec.json"))
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let workload: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.path().join("workload.json")).unwrap())
            .unwrap();
    let candidates = workload["candidates"].as_array().unwrap();
    let valid = candidates.iter().filter(|c| c["expect"] == "valid").count();
    assert_eq!(valid, 2, "{workload}");
    assert_eq!(candidates.len(), 2 + 6, "{workload}");
    assert!(
        stderr.contains("4 extrinsics"),
        "two inherents and two transfers: {stderr}"
    );
    let code = std::fs::read(out_dir.path().join("collectives-polkadot-9290.code.bin")).unwrap();
    assert_eq!(
        code,
        std::fs::read(shared("collectives-polkadot-9290.code.bin")).unwrap()
    );
}

#[test]
fn a_runtime_that_is_not_a_parachain_is_named_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A Wasm module with no runtime API at all as `:code`.
    let spec = dir.path().join("spec.json");
    std::fs::write(
        &spec,
        r#"{"name":"t","id":"t","chainType":"Local","bootNodes":[],"para_id":7,
            "genesis":{"raw":{"top":{"0x3a636f6465":"0x0061736d01000000"},"childrenDefault":{}}}}"#,
    )
    .unwrap();
    let out = collator()
        .args(["build", "--blocks", "1", "--chain-spec"])
        .arg(&spec)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("pvf-collator: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.path().join("out").exists());
}
