//! Real blocks of real parachains, as `pvf-collator` built them (`tests/real-blocks/`), judged by
//! this host and checked against the published reference's verdicts on the same candidates.
//!
//! Corpus: three chains of `../shared/realchain/` (Kusama Asset Hub at genesis 2021, Polkadot
//! Collectives 2022, Paseo Asset Hub Next 2025), several consecutive blocks each — with signed
//! transfers where the runtime has balances — and their invalid variants. Expected results come
//! from each runtime's own `validate_block`, run by the collator through `sc-executor`; the
//! oracle `tests/real-blocks/reference.json` is what the reference host answered
//! (`tests/scripts/real_blocks_reference.py` rewrites it). The README says how to rebuild both.

use serde_json::Value;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

fn blocks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("real-blocks")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn workload() -> Value {
    read_json(&blocks_dir().join("workload.json"))
}

fn candidates() -> Vec<Value> {
    workload()["candidates"]
        .as_array()
        .expect("candidates")
        .clone()
}

#[test]
fn the_corpus_is_real_chains_with_blocks_transfers_and_invalid_variants() {
    let report = read_json(&blocks_dir().join("collation.json"));
    let chains = report.as_array().expect("one report per chain");
    assert!(chains.len() >= 3, "{chains:?}");
    let realchain = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/realchain");
    assert!(realchain.is_dir(), "{} is missing", realchain.display());
    let mut with_transfers = 0;
    for chain in chains {
        let spec = chain["chain_spec"].as_str().expect("spec path");
        let name = Path::new(spec)
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name");
        let label = name.strip_suffix(".chainspec.json").expect("a chain spec");
        // The code in the workload is the code stored on chain, byte for byte.
        let ours = std::fs::read(blocks_dir().join(format!("{label}.code.bin"))).expect("code");
        let shared =
            std::fs::read(realchain.join(format!("{label}.code.bin"))).expect("shared code");
        assert!(
            ours == shared,
            "{label}: the workload's code is not the code stored on chain"
        );
        assert!(chain["blocks"].as_u64().unwrap() >= 3, "{chain}");
        if chain["transfers"]
            .as_str()
            .unwrap()
            .starts_with(char::is_numeric)
        {
            with_transfers += 1;
        }
    }
    assert!(with_transfers >= 2, "transfers in too few chains: {report}");
    let names: Vec<String> = candidates()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    for variant in [
        "wrong-parent-head",
        "tampered-extrinsic",
        "proof-missing-node",
        "foreign-seal",
        "pov-over-bomb-limit",
        "head-not-in-receipt",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(variant)),
            "no `{variant}` candidate in {names:?}"
        );
    }
}

#[test]
fn pvf_node_judges_every_real_candidate_as_expected() {
    let cache = tempfile::tempdir().expect("tempdir");
    let out = Command::new(pvf_tests::pvf_node())
        .args(["run", "--no-prometheus", "--workload"])
        .arg(blocks_dir().join("workload.json"))
        .arg("--cache-path")
        .arg(cache.path())
        .output()
        .expect("pvf-node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pvf-node run failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = format!("candidates {}  unexpected 0", candidates().len());
    assert!(stdout.contains(&expected), "{stdout}");
    for class in ["valid", "invalid"] {
        let n = candidates().iter().filter(|c| c["expect"] == class).count();
        assert!(n > 0);
        let row: Vec<&str> = stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&class))
            .unwrap_or_else(|| panic!("no {class} row in {stdout}"));
        let n = n.to_string();
        assert_eq!(row[1..], [n.as_str(), n.as_str()], "{class}: {stdout}");
    }
}

#[test]
fn the_reference_agrees_on_every_real_candidate() {
    let reference: BTreeMap<String, Value> =
        serde_json::from_value(read_json(&blocks_dir().join("reference.json"))).expect("map");
    let candidates = candidates();
    assert_eq!(
        reference.len(),
        candidates.len(),
        "the oracle is stale: rerun the script"
    );
    for c in &candidates {
        let name = c["name"].as_str().unwrap();
        let r = &reference[name];
        let expected_head = c["head_data"].as_str();
        match c["expect"].as_str().unwrap() {
            "valid" => {
                assert_eq!(r["verdict"], "valid", "{name}: {r}");
                assert_eq!(
                    r["head_data"].as_str(),
                    expected_head,
                    "{name}: the heads differ"
                );
            }
            "invalid" => match expected_head {
                // A valid block under a receipt that commits to another head: the reference's
                // PVF run is valid, its head is not the receipt's.
                Some(receipt_head) => {
                    assert_eq!(r["verdict"], "valid", "{name}: {r}");
                    assert_ne!(r["head_data"].as_str(), Some(receipt_head), "{name}");
                }
                None => assert_eq!(r["verdict"], "invalid", "{name}: {r}"),
            },
            other => panic!("{name}: unexpected expectation {other}"),
        }
    }
}

#[test]
fn pvf_node_validate_takes_the_per_candidate_files() {
    let cache = tempfile::tempdir().expect("tempdir");
    let dir = blocks_dir();
    let mut checked = 0;
    for c in candidates() {
        let name = c["name"].as_str().unwrap();
        // The last block of each chain, and one invalid variant.
        if !(name.ends_with("-block-3") || name.ends_with("foreign-seal")) {
            continue;
        }
        let folder = dir.join("candidates").join(name);
        let expected = read_json(&folder.join("expected.json"));
        let code = folder.join(expected["code"].as_str().unwrap());
        let out = Command::new(pvf_tests::pvf_node())
            .arg("validate")
            .arg("--code")
            .arg(&code)
            .arg(format!(
                "--parent-head=@{}",
                folder.join("parent-head.bin").display()
            ))
            .arg(format!(
                "--block-data=@{}",
                folder.join("block-data.bin").display()
            ))
            .arg(format!(
                "--relay-parent-number={}",
                expected["relay_parent_number"]
            ))
            .arg(format!(
                "--relay-parent-storage-root={}",
                expected["relay_parent_storage_root"].as_str().unwrap()
            ))
            .args(["--exec-kind", "backing", "--json", "--cache-path"])
            .arg(cache.path())
            .output()
            .expect("pvf-node runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let got: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {stdout}"));
        assert_eq!(got["verdict"], expected["verdict"], "{name}: {got}");
        if expected["verdict"] == "valid" {
            let head = got["head_data"].as_str().unwrap_or_default();
            let expected_head = expected["receipt"]["head_data"].as_str().unwrap();
            assert_eq!(
                head.trim_start_matches("0x"),
                expected_head.trim_start_matches("0x"),
                "{name}"
            );
            assert_eq!(out.status.code(), Some(0));
        } else {
            assert_eq!(out.status.code(), Some(1));
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} candidates checked");
}
