//! Candidates as validators receive them, with the result the runtime's own `validate_block`
//! gave for each.

use polkadot_parachain_primitives::primitives::{
    BlockData, HeadData, ValidationParams, ValidationResult,
};
use sp_core::H256;

/// One candidate.
pub struct Candidate {
    /// A label: chain, block and variant.
    pub name: String,
    /// The parent head validators are given.
    pub parent_head: Vec<u8>,
    /// The block data as sent (usually compressed).
    pub block_data: Vec<u8>,
    /// The relay parent's number.
    pub relay_parent_number: u32,
    /// The relay parent's storage root.
    pub relay_parent_storage_root: H256,
    /// What validators must conclude.
    pub expect: Expect,
    /// Why, for invalid variants.
    pub why: String,
}

/// The expected verdict.
pub enum Expect {
    /// Valid, with the outputs the receipt commits to.
    Valid(ValidationResult),
    /// Invalid; for a receipt mismatch, the outputs the (wrong) receipt commits to.
    Invalid(Option<ValidationResult>),
}

impl Candidate {
    /// The parameters `validate_block` receives (block data decompressed).
    pub fn params(&self) -> Result<ValidationParams, String> {
        let block_data =
            sp_maybe_compressed_blob::decompress(&self.block_data, crate::runtime::POV_BOMB_LIMIT)
                .map_err(|e| format!("the PoV does not decompress: {e}"))?
                .into_owned();
        Ok(ValidationParams {
            parent_head: HeadData(self.parent_head.clone()),
            block_data: BlockData(block_data),
            relay_parent_number: self.relay_parent_number,
            relay_parent_storage_root: self.relay_parent_storage_root,
        })
    }
}
