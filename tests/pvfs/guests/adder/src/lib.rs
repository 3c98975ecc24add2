//! The adder PVF: a chain whose state is a `u64` and whose blocks add to it.
//!
//! Head: `HeadData { number, parent_hash, post_state }`; block: `BlockData { state, add }`.
//! A block is valid iff `keccak256(SCALE(state))` equals the parent's `post_state`; the new
//! head is `{ parent.number + 1, keccak256(parent head bytes), keccak256(SCALE(state + add)) }`
//! (wrapping add). Anything else (undecodable input, wrong state) traps.
#![no_std]

extern crate alloc;

use guest_common::{
    abi::{self, ValidationResult},
    chain::{self, HeadData},
};
use parity_scale_codec::{Decode, Encode};

/// The adder's block data.
#[derive(Decode)]
struct BlockData {
    state: u64,
    add: u64,
}

/// The PVF entry point; see the crate docs.
#[unsafe(no_mangle)]
pub extern "C" fn validate_block(params_ptr: i32, params_len: i32) -> i64 {
    // SAFETY: the host passes a readable params range.
    unsafe {
        abi::run(params_ptr, params_len, |params| {
            let block: BlockData = abi::decode_or_trap(&params.block_data);
            let (parent, parent_hash) = chain::check_parent(&params.parent_head, block.state);
            let head = HeadData {
                number: parent.number.wrapping_add(1),
                parent_hash,
                post_state: chain::hash_state(block.state.wrapping_add(block.add)),
            };
            ValidationResult::head_only(head.encode(), params.relay_parent_number)
        })
    }
}
