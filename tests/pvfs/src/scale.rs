//! Host-side copies of the `validate_block` params and result, for building data segments
//! and checking what modules return in tests. Layouts as in `polkadot-parachain-primitives`.

use parity_scale_codec::{Decode, Encode};

/// The params passed to `validate_block` (only the tests call modules).
#[cfg(test)]
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub(crate) struct ValidationParams {
    pub parent_head: Vec<u8>,
    pub block_data: Vec<u8>,
    pub relay_parent_number: u32,
    pub relay_parent_storage_root: [u8; 32],
}

/// The result `validate_block` returns.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub(crate) struct ValidationResult {
    pub head_data: Vec<u8>,
    pub new_validation_code: Option<Vec<u8>>,
    pub upward_messages: Vec<Vec<u8>>,
    pub horizontal_messages: Vec<(u32, Vec<u8>)>,
    pub processed_downward_messages: u32,
    pub hrmp_watermark: u32,
}

impl ValidationResult {
    /// A result with only `head_data` and `hrmp_watermark` set.
    pub(crate) fn head_only(head_data: &[u8], hrmp_watermark: u32) -> Self {
        Self {
            head_data: head_data.to_vec(),
            new_validation_code: None,
            upward_messages: Vec::new(),
            horizontal_messages: Vec::new(),
            processed_downward_messages: 0,
            hrmp_watermark,
        }
    }
}
