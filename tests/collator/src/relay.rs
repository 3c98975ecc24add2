//! The relay chain as a parachain block sees it: a relay parent (number, storage root, slot)
//! and a storage proof of the keys Cumulus reads, made with Cumulus's relay-state proof builder.

use codec::Encode;
use cumulus_primitives_core::{relay_chain, AbridgedHostConfiguration, ParaId};
use cumulus_test_relay_sproof_builder::RelayStateSproofBuilder;
use polkadot_primitives::{AsyncBackingParams, HeadData};
use sp_core::{storage::Storage, H256};
use sp_runtime::{traits::BlakeTwo256, StateVersion};
use sp_state_machine::{create_proof_check_backend, prove_read, Backend as _, InMemoryBackend};
use sp_trie::StorageProof;

/// Relay-chain slot duration in milliseconds (every relay chain uses 6 s).
pub const RELAY_SLOT_DURATION_MS: u64 = 6_000;

/// The relay parent a parachain block is built on.
pub struct RelayParent {
    /// Its block number.
    pub number: u32,
    /// Its storage root (what `ValidationParams` carries).
    pub storage_root: H256,
    /// The storage proof of the keys Cumulus reads.
    pub proof: StorageProof,
    /// The relay parent header and its descendants, when the runtime builds at an offset.
    pub descendants: Vec<relay_chain::Header>,
}

/// Builds the relay parent `number` at relay slot `slot`, in which `included_head` is the
/// para's included head; with `offset` > 0, also `offset` descendant headers. The relay state
/// trie has `state_version`, that of relay chains of the runtime's time (a runtime of 2021 reads
/// only V0 tries).
pub fn relay_parent(
    para_id: u32,
    number: u32,
    slot: u64,
    included_head: &[u8],
    offset: u32,
    state_version: StateVersion,
) -> RelayParent {
    let builder = RelayStateSproofBuilder {
        para_id: ParaId::from(para_id),
        host_config: AbridgedHostConfiguration {
            max_code_size: 3 * 1024 * 1024,
            max_head_data_size: 32 * 1024,
            max_upward_queue_count: 174_762,
            max_upward_queue_size: 1024 * 1024,
            max_upward_message_size: 65_531,
            max_upward_message_num_per_candidate: 16,
            hrmp_max_message_num_per_candidate: 10,
            validation_upgrade_cooldown: 14_400,
            validation_upgrade_delay: 2_400,
            async_backing_params: AsyncBackingParams {
                allowed_ancestry_len: 3,
                max_candidate_depth: 3,
            },
        },
        included_para_head: Some(HeadData(included_head.to_vec())),
        relay_dispatch_queue_remaining_capacity: Some((174_762, 1024 * 1024)),
        current_slot: slot.into(),
        additional_key_values: vec![(
            legacy_relay_dispatch_queue_size_key(para_id),
            (0u32, 0u32).encode(),
        )],
        ..Default::default()
    };
    let (storage_root, proof, descendants) = if offset > 0 {
        builder.into_state_root_proof_and_descendants(offset as u64)
    } else {
        let (root, proof) = builder.into_state_root_and_proof();
        (root, proof, Vec::new())
    };
    let (storage_root, proof) = match state_version {
        StateVersion::V1 => (storage_root, proof),
        StateVersion::V0 => relayout(storage_root, proof, state_version),
    };
    RelayParent {
        number,
        storage_root,
        proof,
        descendants,
    }
}

/// The same keys and values in a trie of `state_version`, and the proof of all of them. The
/// proof builder makes V1 tries only; its proof covers every key it wrote, so the whole state
/// can be read back from it.
fn relayout(root: H256, proof: StorageProof, state_version: StateVersion) -> (H256, StorageProof) {
    let backend = create_proof_check_backend::<BlakeTwo256>(root, proof)
        .expect("the proof builder's proof holds its root");
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = backend
        .pairs(Default::default())
        .expect("a full proof iterates")
        .map(|kv| kv.expect("a full proof iterates"))
        .collect();
    let storage = Storage {
        top: pairs.iter().cloned().collect(),
        children_default: Default::default(),
    };
    let relaid: InMemoryBackend<BlakeTwo256> = (storage, state_version).into();
    let root = *relaid.root();
    let proof = prove_read(relaid, pairs.iter().map(|(k, _)| k)).expect("keys of this trie");
    (root, proof)
}

/// The key runtimes before 2023 read the upward queue size from; kept in the proof so that
/// they find it.
#[allow(deprecated)]
fn legacy_relay_dispatch_queue_size_key(para_id: u32) -> Vec<u8> {
    relay_chain::well_known_keys::relay_dispatch_queue_size(ParaId::from(para_id))
}
