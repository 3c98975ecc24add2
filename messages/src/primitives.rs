//! Parachain primitives with Polkadot-compatible SCALE encodings.
//!
//! Field order and integer widths follow `polkadot-parachain-primitives` exactly; the golden
//! vectors in `tests/golden/` (produced by that crate) pin the byte layout.

use blake2::{Blake2b, Digest, digest::consts::U32};
use parity_scale_codec::{Decode, Encode};
use std::fmt;

/// Largest PoV a candidate may carry, in bytes (Polkadot's `MAX_POV_SIZE`).
pub const MAX_POV_SIZE: u32 = 10 * 1024 * 1024;
/// Largest decompressed PoV the execute job accepts (Polkadot's `POV_BOMB_LIMIT`: 4 × the
/// maximum PoV size).
pub const POV_BOMB_LIMIT: u32 = 4 * MAX_POV_SIZE;
/// The validation-code bomb limit when the relay chain gives none: the runtime API's
/// `max_code_size` (3 MiB) × the compression ratio it allows (10).
pub const DEFAULT_VALIDATION_CODE_BOMB_LIMIT: u32 = 30 * 1024 * 1024;

/// The first bytes of an `sp-maybe-compressed-blob`: what follows is one zstd frame. Code and
/// PoVs without them are taken as they are.
pub const COMPRESSED_BLOB_MAGIC: [u8; 8] = [0x52, 0xbc, 0x53, 0x76, 0x46, 0xdb, 0x8e, 0x05];

/// A 32-byte hash (`H256` in Polkadot). Encodes as 32 raw bytes, without a length prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Encode, Decode)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The hash as lowercase hex, without a prefix.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", self.to_hex())
    }
}

/// BLAKE2b-256, the hash Polkadot uses for validation code, heads and PoVs.
pub fn blake2_256(data: &[u8]) -> Hash {
    let mut hasher = Blake2b::<U32>::new();
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// The Wasm blob of a parachain validation function.
#[derive(Clone, PartialEq, Eq, Encode, Decode)]
pub struct ValidationCode(pub Vec<u8>);

impl ValidationCode {
    /// The code hash Polkadot uses to identify this PVF (BLAKE2b-256 of the raw bytes).
    pub fn hash(&self) -> ValidationCodeHash {
        ValidationCodeHash(blake2_256(&self.0))
    }
}

impl fmt::Debug for ValidationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValidationCode({} bytes, {})", self.0.len(), self.hash())
    }
}

/// The hash identifying a PVF.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub struct ValidationCodeHash(pub Hash);

impl fmt::Debug for ValidationCodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for ValidationCodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A parachain head, opaque to the relay chain.
#[derive(Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct HeadData(pub Vec<u8>);

impl HeadData {
    /// BLAKE2b-256 of the head bytes.
    pub fn hash(&self) -> Hash {
        blake2_256(&self.0)
    }
}

impl fmt::Debug for HeadData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeadData({} bytes)", self.0.len())
    }
}

/// A parachain block body, opaque to the relay chain.
#[derive(Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct BlockData(pub Vec<u8>);

impl fmt::Debug for BlockData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockData({} bytes)", self.0.len())
    }
}

/// The proof of validity: what a validator needs besides the parent head.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct PoV {
    /// The block to validate.
    pub block_data: BlockData,
}

impl PoV {
    /// BLAKE2b-256 of the SCALE-encoded PoV (what candidate descriptors commit to).
    pub fn hash(&self) -> Hash {
        blake2_256(&self.encode())
    }
}

/// The part of the validation data that is persisted on chain.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct PersistedValidationData {
    /// The parent head.
    pub parent_head: HeadData,
    /// The relay-chain block number the candidate is built on.
    pub relay_parent_number: u32,
    /// The relay parent's storage root.
    pub relay_parent_storage_root: Hash,
    /// The largest PoV the candidate may have, in bytes.
    pub max_pov_size: u32,
}

/// What the host hands to `validate_block`, SCALE-encoded into linear memory.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct ValidationParams {
    /// The parent head.
    pub parent_head: HeadData,
    /// The block to validate.
    pub block_data: BlockData,
    /// The relay-chain block number the candidate is built on.
    pub relay_parent_number: u32,
    /// The relay parent's storage root.
    pub relay_parent_storage_root: Hash,
}

/// A message to another parachain, sent through the relay chain.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct OutboundHrmpMessage {
    /// The receiving parachain.
    pub recipient: u32,
    /// The message payload.
    pub data: Vec<u8>,
}

/// What `validate_block` returns for a valid block.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct ValidationResult {
    /// The new head.
    pub head_data: HeadData,
    /// An upgrade of the validation code, if the block schedules one.
    pub new_validation_code: Option<ValidationCode>,
    /// Messages to the relay chain.
    pub upward_messages: Vec<Vec<u8>>,
    /// Messages to other parachains.
    pub horizontal_messages: Vec<OutboundHrmpMessage>,
    /// How many downward messages the block processed.
    pub processed_downward_messages: u32,
    /// The relay-chain block number up to which HRMP messages were processed.
    pub hrmp_watermark: u32,
}

/// Why a PVF is being prepared; decides the preparation timeout.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Encode, Decode)]
pub enum PvfPrepKind {
    /// Pre-checking a code upgrade (strict timeout: 60 s by default).
    #[codec(index = 0)]
    Precheck,
    /// Preparing before execution (lenient timeout: 360 s by default).
    #[codec(index = 1)]
    Prepare,
}

/// Why a candidate is being executed; decides the timeout, the priority and whether a
/// non-deterministic failure is retried.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Encode, Decode)]
pub enum PvfExecKind {
    /// Backing a candidate: 2 s, never retried.
    #[codec(index = 0)]
    Backing,
    /// Approval checking: 12 s, retried once after a local fault.
    #[codec(index = 1)]
    Approval,
    /// Dispute participation: like approval, highest priority.
    #[codec(index = 2)]
    Dispute,
    /// Backing a candidate of a system parachain: as backing (2 s, never retried), scheduled
    /// before other backing (the reference's `PvfExecKind::BackingSystemParas`).
    #[codec(index = 3)]
    BackingSystemParas,
}

impl PvfExecKind {
    /// The lower-case name used in logs, metrics and CLI flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backing => "backing",
            Self::Approval => "approval",
            Self::Dispute => "dispute",
            Self::BackingSystemParas => "backing_system_paras",
        }
    }

    /// Whether this is backing (of a system parachain or not): never retried, dropped from
    /// the queue once its relay parent leaves the allowed ancestry of the active leaves.
    pub fn is_backing(self) -> bool {
        matches!(self, Self::Backing | Self::BackingSystemParas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_encodes_as_raw_bytes() {
        assert_eq!(Hash([7; 32]).encode(), vec![7; 32]);
    }

    #[test]
    fn code_hash_is_blake2_256() {
        // BLAKE2b-256 of the empty string, a published test vector.
        assert_eq!(
            ValidationCode(vec![]).hash().0.to_hex(),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        );
    }
}
