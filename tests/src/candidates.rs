//! Candidates shared by the integration tests and benchmarks.

use parity_scale_codec::Encode;
use pvf_messages::{BlockData, Hash, HeadData, ValidationParams};
use pvf_test_pvfs::adder_chain;

fn undying_block(iterations: u32) -> adder_chain::UndyingBlockData {
    adder_chain::UndyingBlockData {
        state: 0,
        iterations,
        padding: Vec::new(),
    }
}

/// An undying block on top of genesis that burns `iterations` keccak rounds.
pub fn undying_params(iterations: u32, relay_parent_number: u32) -> ValidationParams {
    ValidationParams {
        parent_head: HeadData(adder_chain::genesis_head().encode()),
        block_data: BlockData(undying_block(iterations).encode()),
        relay_parent_number,
        relay_parent_storage_root: Hash::default(),
    }
}

/// The head that block must return. It repeats the PVF's keccak rounds, so it costs as much
/// as the candidate: compute it only where the head is checked.
pub fn undying_head(iterations: u32) -> Vec<u8> {
    adder_chain::undying_next_head(&adder_chain::genesis_head(), &undying_block(iterations))
        .encode()
}
