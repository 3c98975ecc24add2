//! Building parachain blocks the way a Cumulus collator does: over the chain's state, with the
//! chain's runtime, recording every trie node the block touches into its storage proof.

use crate::{error::Error, relay, runtime::Runtime};
use codec::{Decode, Encode};
use cumulus_primitives_core::PersistedValidationData;
use cumulus_primitives_parachain_inherent::{
    v0, ParachainInherentData, INHERENT_IDENTIFIER, PARACHAIN_INHERENT_IDENTIFIER_V0,
};
use sp_consensus_aura::AURA_ENGINE_ID;
use sp_core::{Pair, H256};
use sp_inherents::InherentData;
use sp_runtime::{
    traits::{BlakeTwo256, Hash as _, Header as _},
    Digest, DigestItem, StateVersion,
};
use sp_state_machine::{OverlayedChanges, TrieBackendBuilder};
use sp_trie::{
    proof_size_extension::ProofSizeExt, recorder::Recorder, PrefixedMemoryDB, StorageProof,
};
use std::collections::BTreeMap;

/// A parachain header (every Cumulus chain uses `u32` block numbers and BLAKE2-256).
pub type Header = sp_runtime::generic::Header<u32, BlakeTwo256>;

/// The largest PoV the relay chain accepts today (`MAX_POV_SIZE`).
pub const MAX_POV_SIZE: u32 = 10 * 1024 * 1024;

/// The first relay-chain block number candidates build on.
const FIRST_RELAY_PARENT: u32 = 1_000;

/// Timestamp of the first block: 2026-01-01T00:00:00Z, so that output is reproducible.
const FIRST_TIMESTAMP_MS: u64 = 1_767_225_600_000;

/// A block the collator built, sealed, with what a validator receives with it.
pub struct BuiltBlock {
    /// The parent's head (its SCALE-encoded header).
    pub parent_head: Vec<u8>,
    /// The sealed header.
    pub header: Header,
    /// The extrinsics, each the bytes of one `UncheckedExtrinsic` without its length prefix.
    pub extrinsics: Vec<Vec<u8>>,
    /// Every trie node of the parent state the block read.
    pub proof: StorageProof,
    /// The parent's state root (to compact the proof against).
    pub parent_state_root: H256,
    /// The relay parent it was built on.
    pub relay_parent: relay::RelayParent,
}

/// A parachain's state and the runtime that builds its blocks.
pub struct Chain<'a> {
    runtime: &'a Runtime,
    para_id: u32,
    db: PrefixedMemoryDB<BlakeTwo256>,
    root: H256,
    state_version: StateVersion,
    parent: Header,
    slot_duration_ms: u64,
    sealed: bool,
    relay_parent_offset: u32,
}

/// The header of the genesis block of a state with `root`.
pub fn genesis_header(root: H256, state_version: StateVersion) -> Header {
    Header::new(
        0,
        BlakeTwo256::ordered_trie_root(Vec::new(), state_version),
        root,
        H256::zero(),
        Digest::default(),
    )
}

impl<'a> Chain<'a> {
    /// The chain at genesis state `storage`.
    pub fn new(
        runtime: &'a Runtime,
        para_id: u32,
        storage: sp_runtime::Storage,
    ) -> Result<Self, Error> {
        let state_version = runtime.version.state_version();
        let backend: sp_state_machine::InMemoryBackend<BlakeTwo256> =
            (storage, state_version).into();
        let root = *backend.root();
        let db = backend.into_storage();
        let mut chain = Self {
            runtime,
            para_id,
            db,
            root,
            state_version,
            parent: genesis_header(root, state_version),
            slot_duration_ms: relay::RELAY_SLOT_DURATION_MS,
            sealed: false,
            relay_parent_offset: 0,
        };
        if runtime.has_api("AuraApi") {
            chain.slot_duration_ms = chain.read::<u64>("AuraApi_slot_duration", &[])?;
            chain.sealed = true;
        }
        if runtime.has_api("RelayParentOffsetApi") {
            chain.relay_parent_offset =
                chain.read::<u32>("RelayParentOffsetApi_relay_parent_offset", &[])?;
        }
        Ok(chain)
    }

    /// The head of the chain's last block.
    pub fn head(&self) -> &Header {
        &self.parent
    }

    /// Whether blocks carry an Aura slot and seal (else: relay-chain consensus, no seal).
    pub fn sealed(&self) -> bool {
        self.sealed
    }

    /// The Aura slot duration, in milliseconds (the relay chain's without Aura).
    pub fn slot_duration_ms(&self) -> u64 {
        self.slot_duration_ms
    }

    /// The relay-parent offset the runtime asks for.
    pub fn relay_parent_offset(&self) -> u32 {
        self.relay_parent_offset
    }

    /// Calls a runtime API on the current state without changing it.
    pub fn read<T: Decode>(&self, method: &str, data: &[u8]) -> Result<T, Error> {
        let backend = TrieBackendBuilder::new(self.db.clone(), self.root).build();
        let mut overlay = OverlayedChanges::default();
        let mut extensions = sp_externalities::Extensions::new();
        self.runtime
            .call_decode(&backend, &mut overlay, &mut extensions, method, data)
    }

    /// Builds, seals and imports the next block, with `extra` extrinsics after the inherents.
    pub fn build_block(&mut self, extra: &[Vec<u8>]) -> Result<BuiltBlock, Error> {
        let number = self.parent.number + 1;
        let parent_head = self.parent.encode();
        let parent_hash = self.parent.hash();
        // One Aura slot per block, and the relay-chain slot that contains it.
        let timestamp = FIRST_TIMESTAMP_MS + (number as u64 - 1) * self.slot_duration_ms;
        let slot = timestamp / self.slot_duration_ms;
        let relay_slot = timestamp / relay::RELAY_SLOT_DURATION_MS;
        let relay_parent = relay::relay_parent(
            self.para_id,
            FIRST_RELAY_PARENT + number,
            relay_slot,
            &parent_head,
            self.relay_parent_offset,
            self.state_version,
        );

        let recorder = Recorder::<BlakeTwo256>::default();
        let backend = TrieBackendBuilder::new(self.db.clone(), self.root)
            .with_recorder(recorder.clone())
            .build();
        let mut overlay = OverlayedChanges::default();
        let mut extensions = sp_externalities::Extensions::new();
        extensions.register(ProofSizeExt::new(recorder.clone()));
        let mut call = |method: &str, data: &[u8]| {
            self.runtime
                .call(&backend, &mut overlay, &mut extensions, method, data)
        };

        let logs = if self.sealed {
            vec![DigestItem::PreRuntime(AURA_ENGINE_ID, slot.encode())]
        } else {
            Vec::new()
        };
        let header = Header::new(
            number,
            H256::zero(),
            H256::zero(),
            parent_hash,
            Digest { logs },
        );
        call("Core_initialize_block", &header.encode())?;

        let inherent_data = self.inherent_data(&parent_head, &relay_parent, timestamp, slot);
        let out = call("BlockBuilder_inherent_extrinsics", &inherent_data.encode())?;
        let mut extrinsics = Vec::<Vec<u8>>::decode(&mut &out[..]).map_err(|e| Error::Decode {
            call: "BlockBuilder_inherent_extrinsics".into(),
            reason: e.to_string(),
        })?;
        let inherents = extrinsics.len();
        extrinsics.extend(extra.iter().cloned());
        for (i, xt) in extrinsics.iter().enumerate() {
            let out = call("BlockBuilder_apply_extrinsic", &xt.encode())?;
            if out.get(..2) != Some(&[0, 0][..]) {
                let what = if i < inherents {
                    format!("inherent {i}")
                } else {
                    format!("extrinsic {}", i - inherents)
                };
                return Err(Error::Rejected {
                    block: number,
                    what,
                    reason: format!("0x{}", hex::encode(&out)),
                });
            }
        }
        let out = call("BlockBuilder_finalize_block", &[])?;
        let mut header = Header::decode(&mut &out[..]).map_err(|e| Error::Decode {
            call: "BlockBuilder_finalize_block".into(),
            reason: e.to_string(),
        })?;

        let proof = recorder.drain_storage_proof();
        let changes = overlay
            .drain_storage_changes(&backend, self.state_version)
            .map_err(|e| Error::Runtime {
                call: "storage changes".into(),
                reason: e.to_string(),
            })?;
        if changes.transaction_storage_root != *header.state_root() {
            return Err(Error::Runtime {
                call: "BlockBuilder_finalize_block".into(),
                reason: format!(
                    "the header's state root {:?} is not the state's {:?}",
                    header.state_root(),
                    changes.transaction_storage_root
                ),
            });
        }
        self.db.consolidate(changes.transaction);
        let parent_state_root = std::mem::replace(&mut self.root, changes.transaction_storage_root);

        if self.sealed {
            let signature = crate::dev::author().sign(header.hash().as_ref());
            header
                .digest_mut()
                .push(DigestItem::Seal(AURA_ENGINE_ID, signature.encode()));
        }
        self.parent = header.clone();
        Ok(BuiltBlock {
            parent_head,
            header,
            extrinsics,
            proof,
            parent_state_root,
            relay_parent,
        })
    }

    fn inherent_data(
        &self,
        parent_head: &[u8],
        relay_parent: &relay::RelayParent,
        timestamp: u64,
        slot: u64,
    ) -> InherentData {
        let validation_data = PersistedValidationData {
            parent_head: parent_head.to_vec().into(),
            relay_parent_number: relay_parent.number,
            relay_parent_storage_root: relay_parent.storage_root,
            max_pov_size: MAX_POV_SIZE,
        };
        let current = ParachainInherentData {
            validation_data: validation_data.clone(),
            relay_chain_state: relay_parent.proof.clone(),
            downward_messages: Vec::new(),
            horizontal_messages: BTreeMap::new(),
            relay_parent_descendants: relay_parent.descendants.clone(),
            collator_peer_id: None,
        };
        let legacy = v0::ParachainInherentData {
            validation_data,
            relay_chain_state: relay_parent.proof.clone(),
            downward_messages: Vec::new(),
            horizontal_messages: BTreeMap::new(),
        };
        let mut data = InherentData::new();
        // Every collator puts both versions; a runtime reads the one it knows.
        let _ = data.put_data(PARACHAIN_INHERENT_IDENTIFIER_V0, &legacy);
        let _ = data.put_data(INHERENT_IDENTIFIER, &current);
        let _ = data.put_data(sp_timestamp::INHERENT_IDENTIFIER, &timestamp);
        let _ = data.put_data(sp_consensus_aura::inherents::INHERENT_IDENTIFIER, &slot);
        data
    }
}
