//! Head types and hashing of the adder-style chains (mirrored host-side by
//! `pvf_test_pvfs::adder_chain`).

use parity_scale_codec::{Decode, Encode};
use tiny_keccak::{Hasher, Keccak};

/// The head of the adder and undying chains.
#[derive(Encode, Decode)]
pub struct HeadData {
    /// Block number.
    pub number: u64,
    /// keccak256 of the parent's encoded head.
    pub parent_hash: [u8; 32],
    /// keccak256 of the SCALE-encoded state after this block.
    pub post_state: [u8; 32],
}

/// keccak256 of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    let mut hasher = Keccak::v256();
    hasher.update(data);
    hasher.finalize(&mut out);
    out
}

/// keccak256 of the SCALE encoding of `state`.
pub fn hash_state(state: u64) -> [u8; 32] {
    keccak256(&state.encode())
}

/// Decodes `parent_head`, traps unless `keccak256(SCALE(state))` is its `post_state`,
/// and returns the parent and the hash of its raw bytes.
pub fn check_parent(parent_head: &[u8], state: u64) -> (HeadData, [u8; 32]) {
    let parent: HeadData = crate::abi::decode_or_trap(parent_head);
    if hash_state(state) != parent.post_state {
        crate::trap();
    }
    (parent, keccak256(parent_head))
}
