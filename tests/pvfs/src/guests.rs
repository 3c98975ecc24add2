//! The guest PVFs built by `build.rs` from `guests/`.

/// The adder PVF, Wasm MVP (`wasm32v1-none`) importing `env.memory` as Substrate-built
/// runtimes do. Its state transition is [`crate::adder_chain::next_head`].
pub fn adder() -> &'static [u8] {
    include_bytes!(concat!(env!("OUT_DIR"), "/adder.wasm"))
}

/// The adder PVF as current Rust builds it for `wasm32-unknown-unknown` by default (bulk
/// memory, sign extension, ...): the reference rejects it at pre-validation, and so do we.
pub fn adder_rust_default() -> &'static [u8] {
    include_bytes!(concat!(env!("OUT_DIR"), "/adder_rust_default.wasm"))
}

/// The adder PVF for `wasm32v1-none`: MVP plus mutable globals only, exporting `memory`.
/// Same behaviour as [`adder`].
pub fn adder_mvp() -> &'static [u8] {
    include_bytes!(concat!(env!("OUT_DIR"), "/adder_mvp.wasm"))
}

/// The halt PVF: `validate_block` loops forever; a host must stop it by its execution
/// timeout. Imports `env.memory`.
pub fn halt() -> &'static [u8] {
    include_bytes!(concat!(env!("OUT_DIR"), "/halt.wasm"))
}

/// The undying PVF, with PoV-size and compute knobs (see
/// [`crate::adder_chain::UndyingBlockData`]). Imports `env.memory`. Its state transition is
/// [`crate::adder_chain::undying_next_head`].
pub fn undying() -> &'static [u8] {
    include_bytes!(concat!(env!("OUT_DIR"), "/undying.wasm"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        adder_chain::{self, BlockData, UndyingBlockData},
        test_host::{Outcome, params, run},
        test_inspect::{ACCEPTED, Kind, inspect, validate_block_type},
    };
    use parity_scale_codec::Encode;
    use wasmparser::WasmFeatures;

    const ALLOCATOR_IMPORTS: &[&str] = &[
        "ext_allocator_malloc_version_1",
        "ext_allocator_free_version_1",
    ];

    /// Checks the ABI surface: `validate_block`, `__heap_base`, memory imported xor
    /// exported, and no imports beyond memory and the allocator.
    fn check_abi(wasm: &[u8], features: WasmFeatures, imported_memory: bool) {
        let summary = inspect(wasm, features).expect("valid for the feature set");
        assert_eq!(
            summary.export("validate_block"),
            Some(&validate_block_type())
        );
        assert_eq!(summary.export("__heap_base"), Some(&Kind::Global));
        assert_eq!(
            summary.imports("env", "memory") == Some(&Kind::Memory),
            imported_memory
        );
        assert_eq!(
            summary.export("memory") == Some(&Kind::Memory),
            !imported_memory
        );
        for (module, name, kind) in &summary.imports {
            assert_eq!(module, "env");
            let expected = ALLOCATOR_IMPORTS.contains(&name.as_str()) || kind == &Kind::Memory;
            assert!(expected, "unexpected import {module}.{name}");
        }
    }

    #[test]
    fn guests_are_mvp_and_import_memory() {
        // Wasm 1.0 (MVP + mutable globals): no bulk memory, sign-ext, multi-value, ….
        for wasm in [adder(), halt(), undying()] {
            check_abi(wasm, WasmFeatures::WASM1, true);
        }
        check_abi(adder_mvp(), WasmFeatures::WASM1, false);
    }

    #[test]
    fn rust_default_adder_uses_post_mvp_opcodes() {
        check_abi(adder_rust_default(), ACCEPTED, true);
        // So rejecting it means something.
        assert!(inspect(adder_rust_default(), WasmFeatures::WASM1).is_err());
    }

    #[test]
    fn adders_follow_the_host_side_chain() {
        for wasm in [adder(), adder_mvp()] {
            let mut head = adder_chain::genesis_head();
            let mut state = 0;
            for add in [5, u64::MAX, 1 << 40] {
                let block = BlockData { state, add };
                let result = run(wasm, &params(head.encode(), block.encode())).unwrap();
                let expected = adder_chain::next_head(&head, &block);
                assert_eq!(result.head_data, expected.encode());
                assert_eq!(result.hrmp_watermark, 7);
                assert_eq!(result.new_validation_code, None);
                assert!(result.upward_messages.is_empty() && result.horizontal_messages.is_empty());
                head = expected;
                state = state.wrapping_add(add);
            }
        }
    }

    #[test]
    fn adders_trap_on_bad_blocks() {
        let genesis = adder_chain::genesis_head().encode();
        let wrong_state = BlockData { state: 1, add: 1 }.encode();
        let mut trailing = BlockData { state: 0, add: 1 }.encode();
        trailing.push(0);
        for wasm in [adder(), adder_mvp()] {
            for block in [&wrong_state, &trailing, &vec![1, 2, 3]] {
                let outcome = run(wasm, &params(genesis.clone(), block.clone()));
                assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
            }
        }
    }

    #[test]
    fn undying_follows_the_host_side_chain() {
        let mut head = adder_chain::genesis_head();
        let mut state = 0;
        for (iterations, padding) in [(0, 0), (100, 10_000), (3, 1)] {
            let block = UndyingBlockData {
                state,
                iterations,
                padding: vec![0xaa; padding],
            };
            let result = run(undying(), &params(head.encode(), block.encode())).unwrap();
            let expected = adder_chain::undying_next_head(&head, &block);
            assert_eq!(result.head_data, expected.encode());
            head = expected;
            state = adder_chain::undying_next_state(state, iterations);
        }
        let stale = UndyingBlockData {
            state: 0,
            iterations: 1,
            padding: Vec::new(),
        };
        let outcome = run(undying(), &params(head.encode(), stale.encode()));
        assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
    }

    #[test]
    fn halt_does_not_return() {
        let outcome = run(halt(), &params(Vec::new(), Vec::new()));
        let Outcome::Failed(error) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(error.contains("fuel"), "{error}");
    }
}
