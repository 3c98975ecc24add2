//! The PoV: a block and its storage proof in the encoding the runtime's `validate_block`
//! decodes, compressed as collators compress it.

use crate::builder::BuiltBlock;
use codec::Encode;
use sp_runtime::traits::BlakeTwo256;

/// How a runtime's `validate_block` expects its block data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PovFormat {
    /// `ParachainBlockData` as Cumulus encodes it since late 2021 (and the unversioned form
    /// every later runtime still decodes): header, extrinsics, compact storage proof.
    CompactProof,
    /// The form before: header, extrinsics, the storage proof as a list of trie nodes.
    StorageProof,
}

impl PovFormat {
    /// Every format, newest first: the order they are tried in.
    pub const ALL: [PovFormat; 2] = [PovFormat::CompactProof, PovFormat::StorageProof];

    /// A name for the output.
    pub fn name(self) -> &'static str {
        match self {
            PovFormat::CompactProof => "ParachainBlockData (header, extrinsics, compact proof)",
            PovFormat::StorageProof => {
                "ParachainBlockData (header, extrinsics, storage proof: 2021)"
            }
        }
    }
}

/// The parts of a PoV, kept apart so that variants can change one of them.
#[derive(Clone)]
pub struct PovParts {
    /// The SCALE-encoded header.
    pub header: Vec<u8>,
    /// The extrinsics, each without its length prefix.
    pub extrinsics: Vec<Vec<u8>>,
    /// The trie nodes of the proof, in the format's order.
    pub nodes: Vec<Vec<u8>>,
}

impl PovParts {
    /// The parts of `block` for `format`.
    pub fn of(block: &BuiltBlock, format: PovFormat) -> Result<Self, String> {
        let nodes = match format {
            PovFormat::CompactProof => {
                block
                    .proof
                    .clone()
                    .into_compact_proof::<BlakeTwo256>(block.parent_state_root)
                    .map_err(|e| format!("cannot compact the storage proof: {e:?}"))?
                    .encoded_nodes
            }
            PovFormat::StorageProof => block.proof.clone().into_iter_nodes().collect(),
        };
        Ok(Self {
            header: block.header.encode(),
            extrinsics: block.extrinsics.clone(),
            nodes,
        })
    }

    /// The block data, uncompressed.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.header.clone();
        self.extrinsics.encode_to(&mut out);
        self.nodes.encode_to(&mut out);
        out
    }
}

/// Compresses block data as collators do (`sp-maybe-compressed-blob`, weakly, within the PoV
/// bomb limit); data that would not fit stays raw.
pub fn compress(raw: &[u8]) -> Vec<u8> {
    sp_maybe_compressed_blob::compress_weakly(raw, crate::runtime::POV_BOMB_LIMIT)
        .unwrap_or_else(|| raw.to_vec())
}

/// Block data that decompresses past the PoV bomb limit: a compressed blob (magic and one zstd
/// frame) of zeros one byte over it.
pub fn over_bomb_limit() -> Vec<u8> {
    let zeros = vec![0u8; crate::runtime::POV_BOMB_LIMIT + 1];
    sp_maybe_compressed_blob::compress_weakly(&zeros, zeros.len()).expect("zeros compress")
}
