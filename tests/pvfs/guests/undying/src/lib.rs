//! The undying PVF: an adder-like chain with knobs for PoV size and compute.
//!
//! Head: the adder's `HeadData { number, parent_hash, post_state }`.
//! Block: `{ state: u64, iterations: u32, padding: Vec<u8> }`. `padding` only makes the PoV
//! bigger (it is decoded and otherwise ignored); `iterations` sets the compute.
//!
//! A block is valid iff `keccak256(SCALE(state))` equals the parent's `post_state`. Then
//! `h := keccak256(SCALE(state))`, `h := keccak256(h)` repeated `iterations` times,
//! `new_state := u64::from_le_bytes(h[0..8])`, and the new head is
//! `{ parent.number + 1, keccak256(parent head bytes), keccak256(SCALE(new_state)) }`.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use guest_common::{
    abi::{self, ValidationResult},
    chain::{self, HeadData},
};
use parity_scale_codec::{Decode, Encode};

/// The undying block data.
#[derive(Decode)]
struct BlockData {
    state: u64,
    iterations: u32,
    #[expect(dead_code, reason = "the PoV-size knob is only decoded")]
    padding: Vec<u8>,
}

/// The PVF entry point; see the crate docs.
#[unsafe(no_mangle)]
pub extern "C" fn validate_block(params_ptr: i32, params_len: i32) -> i64 {
    // SAFETY: the host passes a readable params range.
    unsafe {
        abi::run(params_ptr, params_len, |params| {
            let block: BlockData = abi::decode_or_trap(&params.block_data);
            let (parent, parent_hash) = chain::check_parent(&params.parent_head, block.state);
            let mut h = parent.post_state;
            for _ in 0..block.iterations {
                h = chain::keccak256(&h);
            }
            let mut word = [0; 8];
            word.copy_from_slice(&h[..8]);
            let head = HeadData {
                number: parent.number.wrapping_add(1),
                parent_hash,
                post_state: chain::hash_state(u64::from_le_bytes(word)),
            };
            ValidationResult::head_only(head.encode(), params.relay_parent_number)
        })
    }
}
