//! Real parachain code as it is stored on chain, through `pvf-node` as a user runs it, and
//! the validation-code bomb limit around it.
//!
//! The runtimes come from `../shared/realchain/` beside the repository (chain specs of Kusama
//! Asset Hub 2021, Polkadot Collectives 2022, Paseo Asset Hub Next 2025; two of the three are
//! stored compressed). CI has that folder; a checkout without it fails here, loudly.

use parity_scale_codec::Encode;
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::Command,
};

fn realchain_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/realchain");
    assert!(
        dir.is_dir(),
        "{} is missing: these tests need the shared real-chain corpus beside the repository",
        dir.display()
    );
    dir
}

fn runtimes() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(realchain_dir())
        .expect("readable realchain folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".code.bin"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "expected the three shared runtimes, found {files:?}"
    );
    files
}

fn pvf_node(cache: &Path, args: &[&str]) -> (i32, Value) {
    let out = Command::new(pvf_tests::pvf_node())
        .args(args)
        .arg("--cache-path")
        .arg(cache)
        .output()
        .expect("pvf-node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {stdout:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exits normally"), json)
}

fn precheck(cache: &Path, code: &Path, extra: &[&str]) -> (i32, Value) {
    let code = code.display().to_string();
    let mut args = vec!["prepare", "--kind", "precheck", "--json", "--code", &code];
    args.extend_from_slice(extra);
    pvf_node(cache, &args)
}

#[test]
fn every_real_runtime_prechecks_valid_as_stored_on_chain() {
    let cache = tempfile::tempdir().unwrap();
    let mut compressed = 0;
    for code in runtimes() {
        let bytes = std::fs::read(&code).unwrap();
        compressed +=
            usize::from(bytes.starts_with(&pvf_messages::primitives::COMPRESSED_BLOB_MAGIC));
        let (status, json) = precheck(cache.path(), &code, &[]);
        assert_eq!(json["outcome"], "prepared", "{}: {json}", code.display());
        assert_eq!(status, 0);
        // The code hash is that of the blob as stored, what receipts commit to.
        let hash = pvf_messages::ValidationCode(bytes).hash().0.to_hex();
        assert_eq!(json["code_hash"], hash.as_str());
    }
    assert!(
        compressed >= 2,
        "the corpus must include compressed runtimes"
    );
}

/// A compressed runtime whose decompressed size is over the bomb limit, and one whose zstd
/// frame is cut: both deterministic `invalid` with their own reason, as in the reference
/// (`CouldNotDecompressCodeBlob`).
#[test]
fn code_bombs_and_corrupt_frames_are_invalid() {
    let cache = tempfile::tempdir().unwrap();
    let compressed = runtimes()
        .into_iter()
        .find(|p| {
            std::fs::read(p)
                .unwrap()
                .starts_with(&pvf_messages::primitives::COMPRESSED_BLOB_MAGIC)
        })
        .expect("a compressed runtime");
    let raw_len =
        sp_maybe_compressed_blob::decompress(&std::fs::read(&compressed).unwrap(), usize::MAX >> 1)
            .unwrap()
            .len();
    // Just over the limit: the decompressed runtime is one byte too big.
    let limit = (raw_len - 1).to_string();
    let (status, json) = precheck(cache.path(), &compressed, &["--bomb-limit", &limit]);
    assert_eq!(
        (status, json["outcome"].as_str()),
        (1, Some("invalid")),
        "{json}"
    );
    let reason = json["reason"].as_str().unwrap();
    assert!(
        reason.contains("decompress") && reason.contains("bomb"),
        "{reason}"
    );
    // Exactly at the limit it prepares.
    let (_, json) = precheck(
        cache.path(),
        &compressed,
        &["--bomb-limit", &raw_len.to_string()],
    );
    assert_eq!(json["outcome"], "prepared", "{json}");

    // A zstd bomb: 64 MiB of zeros in a few KiB, over the default 30 MiB limit.
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = pvf_messages::primitives::COMPRESSED_BLOB_MAGIC.to_vec();
    bomb.extend(zstd::encode_all(&vec![0u8; 64 << 20][..], 3).unwrap());
    let bomb_path = dir.path().join("bomb.bin");
    std::fs::write(&bomb_path, &bomb).unwrap();
    let (status, json) = precheck(cache.path(), &bomb_path, &[]);
    assert_eq!(
        (status, json["outcome"].as_str()),
        (1, Some("invalid")),
        "{json}"
    );
    assert!(json["reason"].as_str().unwrap().contains("bomb"), "{json}");

    // A corrupt frame: the compressed runtime cut in half.
    let bytes = std::fs::read(&compressed).unwrap();
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (status, json) = precheck(cache.path(), &cut, &[]);
    assert_eq!(
        (status, json["outcome"].as_str()),
        (1, Some("invalid")),
        "{json}"
    );
    let reason = json["reason"].as_str().unwrap();
    assert!(reason.contains("invalid format"), "{reason}");
}

/// A compressed PoV is decompressed in the execute job; one over the 40 MiB PoV bomb limit
/// is `PoVDecompressionFailure`, invalid.
#[test]
fn compressed_povs_are_decompressed_within_the_pov_bomb_limit() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("adder.wasm");
    std::fs::write(&code, pvf_test_pvfs::adder()).unwrap();
    let code = code.display().to_string();
    let parent = pvf_test_pvfs::adder_chain::genesis_head();
    let block = pvf_test_pvfs::adder_chain::BlockData { state: 0, add: 5 };
    let compress = |raw: &[u8]| {
        let mut blob = pvf_messages::primitives::COMPRESSED_BLOB_MAGIC.to_vec();
        blob.extend(zstd::encode_all(raw, 3).unwrap());
        hex::encode(blob)
    };
    let validate = |block_data: &str| {
        pvf_node(
            cache.path(),
            &[
                "validate",
                "--json",
                "--exec-kind",
                "approval",
                "--code",
                &code,
                "--parent-head",
                &hex::encode(parent.encode()),
                "--block-data",
                block_data,
            ],
        )
    };
    let (status, json) = validate(&compress(&block.encode()));
    assert_eq!(
        (status, json["verdict"].as_str()),
        (0, Some("valid")),
        "{json}"
    );
    let expected = pvf_test_pvfs::adder_chain::next_head(&parent, &block);
    assert_eq!(json["head_data"], hex::encode(expected.encode()));

    let (status, json) = validate(&compress(&vec![0u8; (40 << 20) + 1]));
    assert_eq!(
        (status, json["verdict"].as_str()),
        (1, Some("invalid")),
        "{json}"
    );
    assert!(json["reason"].as_str().unwrap().contains("PoV"), "{json}");
}
