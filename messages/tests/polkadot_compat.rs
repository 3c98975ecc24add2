//! Byte compatibility of our SCALE encodings with Polkadot's.
//!
//! The host must exchange `ValidationParams`, `ValidationResult` and friends with real
//! PVFs and real relay-chain data, but it does not depend on Polkadot crates (they are
//! heavy and GPL-3.0). So `tests/golden/polkadot-vectors.txt` holds SCALE encodings
//! produced by the *real* `polkadot-parachain-primitives` / `polkadot-primitives` types,
//! and this test rebuilds every value with our own types and checks that
//!
//! - encoding it gives exactly the golden bytes, and
//! - decoding the golden bytes (all of them) gives back the same value.
//!
//! Every vector in the file must be checked here: adding one to the generator without
//! adding it to [`CASES`] fails the test, and so does a case whose vector is missing.
//!
//! The vectors come from the standalone generator `messages/compat-gen` (not a
//! workspace member; see its `src/main.rs` for the exact values). It is run by hand,
//! from the repository root:
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/compat-gen-target \
//!     cargo run --manifest-path messages/compat-gen/Cargo.toml > messages/tests/golden/polkadot-vectors.txt
//! ```

use parity_scale_codec::{DecodeAll, Encode};
use pvf_messages::{
    BlockData, Hash, HeadData, OutboundHrmpMessage, PersistedValidationData, ValidationCode,
    ValidationParams, ValidationResult,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

const GOLDEN: &str = include_str!("golden/polkadot-vectors.txt");

/// One golden vector: its name, the Polkadot type named in the file, and a check that
/// builds the same value with our types and compares it against the golden hex.
struct Case {
    name: &'static str,
    ty: &'static str,
    check: fn(name: &str, golden_hex: &str),
}

/// The cases, one per vector, with the same values as `messages/compat-gen/src/main.rs`.
const CASES: &[Case] = &[
    Case {
        name: "params_empty",
        ty: "ValidationParams",
        check: |name, golden| {
            let value = ValidationParams {
                parent_head: HeadData(vec![]),
                block_data: BlockData(vec![]),
                relay_parent_number: 0,
                relay_parent_storage_root: Hash([0; 32]),
            };
            assert_compatible(name, &value, golden);
        },
    },
    Case {
        name: "params_small",
        ty: "ValidationParams",
        check: |name, golden| {
            let value = ValidationParams {
                parent_head: HeadData(vec![1, 2, 3]),
                block_data: BlockData(vec![0xde, 0xad, 0xbe, 0xef]),
                relay_parent_number: 0x0102_0304,
                relay_parent_storage_root: Hash([0x11; 32]),
            };
            assert_compatible(name, &value, golden);
        },
    },
    Case {
        name: "params_large",
        ty: "ValidationParams",
        check: |name, golden| {
            let value = ValidationParams {
                parent_head: HeadData((0..=255u8).collect()),
                block_data: BlockData((0..70_000usize).map(|i| (i % 251) as u8).collect()),
                relay_parent_number: u32::MAX,
                relay_parent_storage_root: Hash(std::array::from_fn(|i| i as u8)),
            };
            assert_compatible(name, &value, golden);
        },
    },
    Case {
        name: "result_minimal",
        ty: "ValidationResult",
        check: |name, golden| {
            let value = ValidationResult {
                head_data: HeadData(vec![]),
                new_validation_code: None,
                upward_messages: vec![],
                horizontal_messages: vec![],
                processed_downward_messages: 0,
                hrmp_watermark: 0,
            };
            assert_compatible(name, &value, golden);
        },
    },
    Case {
        name: "result_full",
        ty: "ValidationResult",
        check: |name, golden| {
            let value = ValidationResult {
                head_data: HeadData(vec![9, 8, 7]),
                new_validation_code: Some(ValidationCode(vec![0x00, 0x61, 0x73, 0x6d])),
                upward_messages: vec![vec![1], vec![2, 2]],
                horizontal_messages: vec![
                    OutboundHrmpMessage {
                        recipient: 1000,
                        data: vec![5, 5],
                    },
                    OutboundHrmpMessage {
                        recipient: 2000,
                        data: vec![],
                    },
                ],
                processed_downward_messages: 3,
                hrmp_watermark: 42,
            };
            assert_compatible(name, &value, golden);
        },
    },
    Case {
        name: "result_big_counts",
        ty: "ValidationResult",
        check: |name, golden| {
            let value = ValidationResult {
                head_data: HeadData(vec![0x42; 300]),
                new_validation_code: None,
                upward_messages: (0..70u8).map(|i| vec![i]).collect(),
                horizontal_messages: vec![],
                processed_downward_messages: 65_536,
                hrmp_watermark: 1 << 30,
            };
            assert_compatible(name, &value, golden);
        },
    },
    Case {
        name: "pvd_small",
        ty: "PersistedValidationData",
        check: |name, golden| {
            let value = PersistedValidationData {
                parent_head: HeadData(vec![1, 2, 3]),
                relay_parent_number: 7,
                relay_parent_storage_root: Hash([0x22; 32]),
                max_pov_size: 5 * 1024 * 1024,
            };
            assert_compatible(name, &value, golden);
        },
    },
    Case {
        name: "code_hash",
        ty: "ValidationCodeHash",
        check: |name, golden| {
            // BLAKE2b-256 of the raw code bytes (not of their SCALE encoding).
            let code = ValidationCode(vec![0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
            assert_compatible(name, &code.hash(), golden);
        },
    },
];

/// A vector as read from the golden file: the type it names and its hex bytes.
struct Vector {
    ty: &'static str,
    hex: &'static str,
}

/// Parses the golden file: `<name> <type> <hex>` lines, `#` comments and blank lines
/// ignored. Panics on a malformed line or a duplicate name.
fn golden_vectors() -> BTreeMap<&'static str, Vector> {
    let mut vectors = BTreeMap::new();
    for (n, line) in GOLDEN.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, ty, hex] = fields[..] else {
            panic!(
                "golden line {}: expected `<name> <type> <hex>`, got {} fields",
                n + 1,
                fields.len()
            );
        };
        let previous = vectors.insert(name, Vector { ty, hex });
        assert!(
            previous.is_none(),
            "golden line {}: duplicate vector {name}",
            n + 1
        );
    }
    vectors
}

/// Asserts that `value` encodes to exactly `golden_hex`, and that the golden bytes
/// decode (consuming every byte) to `value` again.
fn assert_compatible<T>(name: &str, value: &T, golden_hex: &str)
where
    T: Encode + DecodeAll + PartialEq + Debug,
{
    let golden = hex::decode(golden_hex).unwrap_or_else(|e| panic!("{name}: bad golden hex: {e}"));

    let ours = value.encode();
    if ours != golden {
        // The hex of the large vectors is too long to eyeball; say where they part.
        let first_diff = ours
            .iter()
            .zip(&golden)
            .position(|(a, b)| a != b)
            .unwrap_or(ours.len().min(golden.len()));
        assert_eq!(
            hex::encode(&ours),
            golden_hex,
            "{name}: our encoding differs from Polkadot's (ours {} bytes, golden {} bytes, \
             first difference at byte {first_diff})",
            ours.len(),
            golden.len(),
        );
    }

    let decoded = T::decode_all(&mut &golden[..])
        .unwrap_or_else(|e| panic!("{name}: golden bytes do not decode with our type: {e}"));
    assert_eq!(&decoded, value, "{name}: decoded value differs");
    // Our `Debug` of byte blobs shows lengths only, so also compare the bytes.
    assert_eq!(
        hex::encode(decoded.encode()),
        golden_hex,
        "{name}: decode/encode does not round-trip"
    );
}

#[test]
fn golden_file_is_well_formed() {
    let vectors = golden_vectors();
    assert!(!vectors.is_empty(), "no vectors in the golden file");
    for (name, v) in &vectors {
        assert!(
            v.hex.len() % 2 == 0
                && v.hex
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{name}: hex must be lowercase, even-length, without 0x"
        );
    }
}

#[test]
fn every_golden_vector_matches_our_encoding() {
    let vectors = golden_vectors();

    let mut checked = BTreeSet::new();
    for case in CASES {
        assert!(checked.insert(case.name), "duplicate case {}", case.name);
        let Some(vector) = vectors.get(case.name) else {
            continue; // reported by the set comparison below
        };
        assert_eq!(vector.ty, case.ty, "{}: type in golden file", case.name);
        (case.check)(case.name, vector.hex);
    }

    let in_file: BTreeSet<&str> = vectors.keys().copied().collect();
    assert_eq!(
        checked, in_file,
        "the vectors checked here must be exactly those in the golden file"
    );
}
