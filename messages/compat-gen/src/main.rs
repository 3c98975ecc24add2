//! Golden SCALE vector generator for `pvf-messages`.
//!
//! This is a small, standalone program that is **run by hand**, never by CI:
//!
//! ```text
//! CARGO_TARGET_DIR=/tmp/compat-gen-target \
//!     cargo run --manifest-path messages/compat-gen/Cargo.toml > messages/tests/golden/polkadot-vectors.txt
//! ```
//!
//! It encodes a fixed set of values with the *real* Polkadot types from the
//! `polkadot-parachain-primitives` (and `polkadot-primitives`) crates from
//! crates.io and prints them as `<name> <type> <hex>` lines (lowercase hex, no
//! `0x`), preceded by `#` comment lines naming the crate versions that produced
//! them. The output is the golden file `messages/tests/golden/polkadot-vectors.txt`
//! that the `messages` crate's tests decode and re-encode with our own
//! re-implementation of these types, proving byte compatibility without
//! depending on Polkadot code.
//!
//! The package has its own `[workspace]` table and is not listed in the outer
//! workspace on purpose: `polkadot-parachain-primitives` pulls in `sp-core`,
//! `sp-runtime` and friends (several minutes of compile on a 2-core machine)
//! and is GPL-3.0 licensed, so it must never become a dependency of the
//! workspace crates. Only this generator's output (plain test data) is used.
//! Use a target dir outside the repository, as above, so the build does not
//! land in the workspace's `target/`.

use parity_scale_codec::{Decode, Encode};
use polkadot_parachain_primitives::primitives::{
    BlockData, HeadData, HorizontalMessages, Id, UpwardMessages, ValidationCode,
    ValidationParams, ValidationResult,
};
use polkadot_primitives::{OutboundHrmpMessage, PersistedValidationData};

/// Versions of the crates that matter, read from this package's own lock file
/// so the header can never disagree with what was actually compiled.
fn locked_version(lock: &str, name: &str) -> String {
    let needle = format!("name = \"{name}\"\nversion = \"");
    let start = lock
        .find(&needle)
        .unwrap_or_else(|| panic!("{name} not in Cargo.lock"))
        + needle.len();
    let end = start + lock[start..].find('"').expect("unterminated version");
    lock[start..end].to_string()
}

fn emit<T: Encode + Decode + PartialEq + core::fmt::Debug>(name: &str, ty: &str, value: &T) {
    let bytes = value.encode();
    // Sanity: the real crate decodes its own encoding back to the same value,
    // and consumes every byte.
    let mut input = &bytes[..];
    let back = T::decode(&mut input).expect("real type failed to decode its own encoding");
    assert!(input.is_empty(), "{name}: trailing bytes after decode");
    assert_eq!(&back, value, "{name}: round-trip mismatch");
    println!("{name} {ty} {}", hex::encode(&bytes));
}

fn main() {
    let lock = include_str!("../Cargo.lock");
    println!("# Golden SCALE vectors for pvf-messages, produced by messages/compat-gen (run by hand).");
    println!("# Format: <name> <type> <lowercase hex of the SCALE encoding, no 0x>");
    for krate in [
        "polkadot-parachain-primitives",
        "polkadot-primitives",
        "polkadot-core-primitives",
        "parity-scale-codec",
        "bounded-collections",
        "sp-core",
        "sp-runtime",
    ] {
        println!("# {krate} {}", locked_version(lock, krate));
    }

    // ---- ValidationParams -------------------------------------------------
    let params_empty = ValidationParams {
        parent_head: HeadData(vec![]),
        block_data: BlockData(vec![]),
        relay_parent_number: 0,
        relay_parent_storage_root: [0u8; 32].into(),
    };
    emit("params_empty", "ValidationParams", &params_empty);

    let params_small = ValidationParams {
        parent_head: HeadData(vec![1, 2, 3]),
        block_data: BlockData(vec![0xde, 0xad, 0xbe, 0xef]),
        relay_parent_number: 0x0102_0304,
        relay_parent_storage_root: [0x11u8; 32].into(),
    };
    emit("params_small", "ValidationParams", &params_small);

    let mut root = [0u8; 32];
    for (i, b) in root.iter_mut().enumerate() {
        *b = i as u8;
    }
    let params_large = ValidationParams {
        parent_head: HeadData((0..=255u8).collect()),
        block_data: BlockData((0..70_000usize).map(|i| (i % 251) as u8).collect()),
        relay_parent_number: u32::MAX,
        relay_parent_storage_root: root.into(),
    };
    emit("params_large", "ValidationParams", &params_large);

    // ---- ValidationResult -------------------------------------------------
    let result_minimal = ValidationResult {
        head_data: HeadData(vec![]),
        new_validation_code: None,
        upward_messages: UpwardMessages::try_from(Vec::new()).unwrap(),
        horizontal_messages: HorizontalMessages::try_from(Vec::new()).unwrap(),
        processed_downward_messages: 0,
        hrmp_watermark: 0,
    };
    emit("result_minimal", "ValidationResult", &result_minimal);

    let result_full = ValidationResult {
        head_data: HeadData(vec![9, 8, 7]),
        new_validation_code: Some(ValidationCode(vec![0x00, 0x61, 0x73, 0x6d])),
        upward_messages: UpwardMessages::try_from(vec![vec![1u8], vec![2, 2]]).unwrap(),
        horizontal_messages: HorizontalMessages::try_from(vec![
            OutboundHrmpMessage { recipient: Id::new(1000), data: vec![5, 5] },
            OutboundHrmpMessage { recipient: Id::new(2000), data: vec![] },
        ])
        .unwrap(),
        processed_downward_messages: 3,
        hrmp_watermark: 42,
    };
    emit("result_full", "ValidationResult", &result_full);

    let result_big_counts = ValidationResult {
        head_data: HeadData(vec![0x42; 300]),
        new_validation_code: None,
        upward_messages: UpwardMessages::try_from(
            (0..70u32).map(|i| vec![i as u8]).collect::<Vec<_>>(),
        )
        .unwrap(),
        horizontal_messages: HorizontalMessages::try_from(Vec::new()).unwrap(),
        processed_downward_messages: 65_536,
        hrmp_watermark: 1 << 30,
    };
    emit("result_big_counts", "ValidationResult", &result_big_counts);

    // ---- polkadot-primitives ----------------------------------------------
    let pvd_small: PersistedValidationData = PersistedValidationData {
        parent_head: HeadData(vec![1, 2, 3]),
        relay_parent_number: 7,
        relay_parent_storage_root: [0x22u8; 32].into(),
        max_pov_size: 5 * 1024 * 1024,
    };
    emit("pvd_small", "PersistedValidationData", &pvd_small);

    // blake2-256 of the raw code bytes (not of their SCALE encoding).
    let code_hash = ValidationCode(vec![0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]).hash();
    emit("code_hash", "ValidationCodeHash", &code_hash);
}
