//! The embedded default workload of `pvf-node run`.
//!
//! Built as a [`WorkloadSpec`], so it takes the same path as a user's file and
//! `pvf-node run --print-default-workload` shows the format by example. It covers what a
//! validator meets: a chain of valid adder blocks at every priority, blocks that do not match
//! their parent, an MVP-only build of the adder, heavy undying blocks with a large PoV, a PVF
//! that never halts, one that traps and one that is not Wasm (which gets no vote). Six PVFs, so that preparations
//! overlap with executions.

use super::spec::{CandidateSpec, PvfSpec, WorkloadSpec};
use parity_scale_codec::Encode;
use pvf_test_pvfs::adder_chain::{self, BlockData, UndyingBlockData};

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn candidate(
    name: String,
    pvf: &str,
    kind: &str,
    parent: &[u8],
    block: &[u8],
    expect: &str,
) -> CandidateSpec {
    CandidateSpec {
        name,
        pvf: pvf.into(),
        kind: kind.into(),
        parent_head: hex0x(parent),
        block_data: hex0x(block),
        relay_parent_number: 1,
        expect: expect.into(),
        head_data: None,
        hrmp_watermark: None,
        timeout_ms: None,
        relay_parent_storage_root: None,
        upward_messages: Vec::new(),
        horizontal_messages: Vec::new(),
        new_validation_code: None,
        processed_downward_messages: None,
    }
}

/// The default workload; `blocks` sets the length of the adder chain.
pub fn default_workload(blocks: u32) -> WorkloadSpec {
    let pvfs = ["adder", "adder-mvp", "undying", "halt", "trap", "malformed"]
        .map(|name| PvfSpec {
            name: name.into(),
            code: format!("builtin:{name}"),
        })
        .to_vec();
    let kinds = ["backing", "approval", "dispute"];
    let mut candidates = Vec::new();

    for (pvf, len) in [("adder", blocks), ("adder-mvp", blocks.div_ceil(3))] {
        let mut head = adder_chain::genesis_head();
        let mut state = 0u64;
        for n in 1..=len {
            let block = BlockData {
                state,
                add: u64::from(n) * 7,
            };
            let next = adder_chain::next_head(&head, &block);
            let mut c = candidate(
                format!("{pvf} block {n}"),
                pvf,
                kinds[n as usize % kinds.len()],
                &head.encode(),
                &block.encode(),
                "valid",
            );
            c.head_data = Some(hex0x(&next.encode()));
            candidates.push(c);
            head = next;
            state = state.wrapping_add(block.add);
        }
        let wrong = BlockData {
            state: state.wrapping_add(1),
            add: 1,
        };
        candidates.push(candidate(
            format!("{pvf} block claiming a state its parent does not have"),
            pvf,
            "backing",
            &head.encode(),
            &wrong.encode(),
            "invalid",
        ));
    }

    let genesis = adder_chain::genesis_head();
    for (i, kind) in ["approval", "dispute", "backing"].into_iter().enumerate() {
        let block = UndyingBlockData {
            state: 0,
            iterations: 100_000 + i as u32,
            padding: vec![0xa5; 1 << 20],
        };
        let mut c = candidate(
            format!("undying heavy block {} (1 MiB PoV)", i + 1),
            "undying",
            kind,
            &genesis.encode(),
            &block.encode(),
            "valid",
        );
        c.head_data = Some(hex0x(
            &adder_chain::undying_next_head(&genesis, &block).encode(),
        ));
        candidates.push(c);
    }

    let mut halt = candidate(
        "halting PVF (times out after 1 s)".into(),
        "halt",
        "backing",
        &[],
        &[],
        "invalid",
    );
    halt.timeout_ms = Some(1000);
    candidates.push(halt);
    candidates.push(candidate(
        "PVF that traps".into(),
        "trap",
        "approval",
        &[],
        &[],
        "invalid",
    ));
    // Code that fails to prepare gets no vote during execution: pre-checking should have
    // rejected it before it was enacted, and this node might be the odd one out.
    candidates.push(candidate(
        "code that is not Wasm (no vote)".into(),
        "malformed",
        "backing",
        &[],
        &[],
        "error",
    ));
    WorkloadSpec { pvfs, candidates }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_default_resolves_and_round_trips_through_json() {
        let spec = default_workload(6);
        let json = serde_json::to_string_pretty(&spec).unwrap();
        let back: WorkloadSpec = serde_json::from_str(&json).unwrap();
        let w = back.resolve(Path::new(".")).unwrap();
        assert_eq!(w.pvfs.len(), 6);
        assert_eq!(w.candidates.len(), spec.candidates.len());
        assert!(w.candidates.iter().any(|c| c.head_data.is_some()));
    }
}
