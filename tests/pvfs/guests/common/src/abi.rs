//! The `validate_block` ABI: SCALE types exchanged with the host and the entry glue.

use alloc::vec::Vec;
use parity_scale_codec::{Decode, DecodeAll, Encode};

/// What the host passes to `validate_block` (layout of `polkadot-parachain-primitives`).
#[derive(Decode)]
pub struct ValidationParams {
    /// The parent's head data.
    pub parent_head: Vec<u8>,
    /// The candidate's block data (the PoV).
    pub block_data: Vec<u8>,
    /// Number of the relay-chain block the candidate is built on.
    pub relay_parent_number: u32,
    /// Storage root of that relay-chain block.
    pub relay_parent_storage_root: [u8; 32],
}

/// What `validate_block` returns (layout of `polkadot-parachain-primitives`).
#[derive(Encode)]
pub struct ValidationResult {
    /// The new head data.
    pub head_data: Vec<u8>,
    /// A code upgrade, if any.
    pub new_validation_code: Option<Vec<u8>>,
    /// Upward messages to the relay chain.
    pub upward_messages: Vec<Vec<u8>>,
    /// Horizontal messages: `(recipient, data)`.
    pub horizontal_messages: Vec<(u32, Vec<u8>)>,
    /// Number of downward messages processed.
    pub processed_downward_messages: u32,
    /// The HRMP watermark.
    pub hrmp_watermark: u32,
}

impl ValidationResult {
    /// A result carrying only `head_data`, with the watermark at the relay parent.
    pub fn head_only(head_data: Vec<u8>, relay_parent_number: u32) -> Self {
        Self {
            head_data,
            new_validation_code: None,
            upward_messages: Vec::new(),
            horizontal_messages: Vec::new(),
            processed_downward_messages: 0,
            hrmp_watermark: relay_parent_number,
        }
    }
}

/// Decodes `T` from exactly `bytes` (no trailing bytes), trapping on failure.
pub fn decode_or_trap<T: Decode>(bytes: &[u8]) -> T {
    T::decode_all(&mut &bytes[..]).unwrap_or_else(|_| crate::trap())
}

/// Implements `validate_block`: decodes the params, runs `validate` and returns the
/// encoded result packed as `(len << 32) | ptr`. The result buffer is leaked on purpose:
/// the host reads it after the call returns.
///
/// # Safety
/// `params_ptr..params_ptr + params_len` must be readable linear memory, as the host
/// guarantees for the arguments of `validate_block`.
pub unsafe fn run(
    params_ptr: i32,
    params_len: i32,
    validate: impl FnOnce(ValidationParams) -> ValidationResult,
) -> i64 {
    let len = params_len as u32 as usize;
    let params: &[u8] = if len == 0 {
        &[]
    } else if params_ptr == 0 {
        crate::trap()
    } else {
        // SAFETY: the caller guarantees the range is readable; it is non-null.
        unsafe { core::slice::from_raw_parts(params_ptr as u32 as usize as *const u8, len) }
    };
    let result = validate(decode_or_trap(params)).encode();
    let packed = ((result.len() as u64) << 32) | (result.as_ptr() as usize as u64);
    core::mem::forget(result);
    packed as i64
}
