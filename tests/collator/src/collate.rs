//! One chain, from its spec to its candidates: genesis with development keys, N blocks built
//! and checked by the runtime's own `validate_block`, and the invalid variants.

use crate::{
    builder::{BuiltBlock, Chain as BlockChain},
    candidate::{Candidate, Expect},
    chain::Chain,
    dev,
    error::Error,
    output::ChainOutput,
    pov::{self, PovFormat, PovParts},
    runtime::Runtime,
    transfer::{self, Signer},
};
use codec::Encode;
use serde_json::json;
use sp_core::Pair;
use sp_runtime::{traits::Header as _, DigestItem};

/// What to build.
pub struct Options {
    /// Blocks per chain.
    pub blocks: u32,
    /// Signed balance transfers per block.
    pub transfers: u32,
    /// Whether to add the invalid variants.
    pub invalid: bool,
}

/// Builds the candidates of the chain in `chain`.
pub fn collate(chain: Chain, options: &Options) -> Result<ChainOutput, Error> {
    let unsupported = |missing: String| Error::Unsupported {
        path: chain.path.clone(),
        missing,
    };
    let heap_pages = chain
        .storage
        .top
        .get(sp_core::storage::well_known_keys::HEAP_PAGES)
        .and_then(|v| <u64 as codec::Decode>::decode(&mut &v[..]).ok());
    let runtime = Runtime::new(&chain.code, heap_pages)?;
    let version = runtime.version.clone();
    eprintln!(
        "{}: {} spec version {}, para id {}, genesis {}",
        chain.path.display(),
        version.spec_name,
        version.spec_version,
        chain.para_id,
        chain.genesis_format
    );
    for api in ["BlockBuilder", "CollectCollationInfo"] {
        if !runtime.has_api(api) {
            return Err(unsupported(format!(
                "its runtime does not implement {api}: not a Cumulus parachain runtime"
            )));
        }
    }
    if let Some(api) = ["NimbusApi", "AuthorFilterAPI", "BabeApi"]
        .into_iter()
        .find(|api| runtime.has_api(api))
    {
        return Err(unsupported(format!(
            "its runtime implements {api}: only Aura-sealed chains and chains without a block \
             seal (relay-chain consensus) are supported"
        )));
    }
    let mut storage = chain.storage;
    let mut changes = Vec::new();
    let consensus = if runtime.has_api("AuraApi") {
        changes.extend(dev::replace_aura_authorities(&mut storage).ok_or_else(|| {
            unsupported(
                "its runtime implements AuraApi but its genesis state has no Aura::Authorities \
                 or AuraExt::Authorities to replace with a development key"
                    .into(),
            )
        })?);
        "Aura (sealed by //Alice)"
    } else {
        "relay-chain consensus (no Aura: blocks are not sealed)"
    };
    let mut transfers_note = "none requested".to_string();
    let layout = if options.transfers > 0 {
        match transfer::Layout::read(&runtime) {
            Ok(layout) => {
                changes.extend(dev::fund_dev_accounts(&mut storage).map_err(unsupported)?);
                transfers_note = format!(
                    "{} per block (Balances::transfer_keep_alive, signed extensions: {})",
                    options.transfers,
                    layout.extensions.join(", ")
                );
                Some(layout)
            }
            Err(why) => {
                transfers_note = format!("none: {why}");
                eprintln!("  no transfers: {why}");
                None
            }
        }
    } else {
        None
    };
    eprintln!("  consensus: {consensus}");
    for c in &changes {
        eprintln!("  genesis changed: {c}");
    }

    let mut blocks = BlockChain::new(&runtime, chain.para_id, storage)?;
    let genesis_hash = blocks.head().hash();
    let mut signer = layout.map(|l| Signer::new(l, &runtime, genesis_hash));
    let name = chain
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("chain");
    let label = name
        .strip_suffix(".chainspec.json")
        .unwrap_or(name)
        .to_owned();

    let mut candidates = Vec::new();
    let mut format = None;
    let mut built = Vec::new();
    for _ in 0..options.blocks {
        let extra = match signer.as_mut() {
            Some(s) => s.transfers(options.transfers),
            None => Vec::new(),
        };
        let block = blocks.build_block(&extra)?;
        let number = block.header.number;
        let (fmt, parts, result) = match format {
            Some(f) => {
                let parts =
                    PovParts::of(&block, f).map_err(|reason| not_validated(number, reason))?;
                let result = validate(&runtime, &block, &parts.encode())
                    .map_err(|reason| not_validated(number, format!("{}: {reason}", f.name())))?;
                (f, parts, result)
            }
            None => detect_format(&runtime, &block)?,
        };
        format = Some(fmt);
        let raw = parts.encode();
        eprintln!(
            "  block {number}: {} extrinsics, proof {} nodes, PoV {} bytes",
            block.extrinsics.len(),
            parts.nodes.len(),
            raw.len()
        );
        candidates.push(candidate(
            format!("{label}-block-{number}"),
            &block,
            pov::compress(&raw),
            Expect::Valid(result),
            "built by the collator, accepted by the runtime's validate_block".into(),
        ));
        built.push((block, parts));
    }
    let format = format.expect("at least one block");
    if options.invalid {
        let first_valid = &candidates[0];
        let variants = invalid_variants(&runtime, &label, &built, first_valid, blocks.sealed())?;
        candidates.extend(variants);
    }
    let code_file = format!("{label}.code.bin");
    let report = json!({
        "chain_spec": chain.path.display().to_string(),
        "name": chain.name,
        "id": chain.id,
        "para_id": chain.para_id,
        "genesis": chain.genesis_format,
        "spec_name": version.spec_name.to_string(),
        "spec_version": version.spec_version,
        "state_version": version.state_version() as u8,
        "consensus": consensus,
        "transfers": transfers_note,
        "slot_duration_ms": blocks.slot_duration_ms(),
        "relay_parent_offset": blocks.relay_parent_offset(),
        "pov_format": format.name(),
        "genesis_changes": changes,
        "genesis_hash": format!("{genesis_hash:?}"),
        "blocks": options.blocks,
        "code_hash": format!("0x{}", hex::encode(sp_crypto_hashing::blake2_256(&chain.code))),
    });
    Ok(ChainOutput {
        code_file,
        code: chain.code,
        pvf: label,
        candidates,
        report,
    })
}

fn not_validated(block: u32, reason: String) -> Error {
    Error::NotValidated { block, reason }
}

fn candidate(
    name: String,
    block: &BuiltBlock,
    block_data: Vec<u8>,
    expect: Expect,
    why: String,
) -> Candidate {
    Candidate {
        name,
        parent_head: block.parent_head.clone(),
        block_data,
        relay_parent_number: block.relay_parent.number,
        relay_parent_storage_root: block.relay_parent.storage_root,
        expect,
        why,
    }
}

/// Runs `validate_block` on `raw` block data of `block`.
fn validate(
    runtime: &Runtime,
    block: &BuiltBlock,
    raw: &[u8],
) -> Result<polkadot_parachain_primitives::primitives::ValidationResult, String> {
    let c = candidate(
        String::new(),
        block,
        raw.to_vec(),
        Expect::Invalid(None),
        String::new(),
    );
    let result = runtime.validate_block(&c.params()?)?;
    if result.head_data.0 != block.header.encode() {
        return Err("validate_block returned a head that is not the block's header".into());
    }
    Ok(result)
}

/// Finds the PoV format the runtime's `validate_block` accepts, newest first.
fn detect_format(
    runtime: &Runtime,
    block: &BuiltBlock,
) -> Result<
    (
        PovFormat,
        PovParts,
        polkadot_parachain_primitives::primitives::ValidationResult,
    ),
    Error,
> {
    let mut tried = Vec::new();
    for format in PovFormat::ALL {
        let parts = match PovParts::of(block, format) {
            Ok(p) => p,
            Err(e) => {
                tried.push(format!("{}: {e}", format.name()));
                continue;
            }
        };
        match validate(runtime, block, &parts.encode()) {
            Ok(result) => return Ok((format, parts, result)),
            Err(e) => tried.push(format!("{}: {e}", format.name())),
        }
    }
    Err(not_validated(block.header.number, tried.join("; ")))
}

/// The invalid variants of the first and second blocks, each confirmed by the runtime.
fn invalid_variants(
    runtime: &Runtime,
    label: &str,
    built: &[(BuiltBlock, PovParts)],
    first_valid: &Candidate,
    sealed: bool,
) -> Result<Vec<Candidate>, Error> {
    let (block, parts) = &built[0];
    let number = block.header.number;
    let mut out = Vec::new();
    let mut rejected = |name: &str,
                        why: &str,
                        block: &BuiltBlock,
                        parent_head: Vec<u8>,
                        parts: &PovParts| {
        let mut c = candidate(
            format!("{label}-block-{number}-{name}"),
            block,
            pov::compress(&parts.encode()),
            Expect::Invalid(None),
            why.into(),
        );
        c.parent_head = parent_head;
        let params = c.params().map_err(|reason| not_validated(number, reason))?;
        match runtime.validate_block(&params) {
            Err(e) => {
                c.why = format!("{why}; the runtime's validate_block: {}", first_line(&e));
                out.push(c);
                Ok(())
            }
            Ok(_) => Err(not_validated(
                number,
                format!("the variant `{name}` was accepted by the runtime; it cannot serve as an invalid candidate"),
            )),
        }
    };

    // The parent head of another block.
    let wrong_parent = built
        .get(1)
        .map(|(b, _)| b.header.encode())
        .unwrap_or_else(|| block.header.encode());
    rejected(
        "wrong-parent-head",
        "the parent head is not the block's parent",
        block,
        wrong_parent,
        parts,
    )?;

    // One byte of the last extrinsic changed (a transfer when there are any).
    let mut tampered = parts.clone();
    let last = tampered.extrinsics.last_mut().expect("inherents");
    let at = last.len() - 1;
    last[at] ^= 0x01;
    rejected(
        "tampered-extrinsic",
        "the last extrinsic has one byte changed",
        block,
        block.parent_head.clone(),
        &tampered,
    )?;

    // The storage proof without one node.
    let mut missing = parts.clone();
    let drop = missing.nodes.len() / 2;
    missing.nodes.remove(drop);
    rejected(
        "proof-missing-node",
        "the storage proof lacks one trie node",
        block,
        block.parent_head.clone(),
        &missing,
    )?;

    // Sealed by //Bob, who is not in the authority set (only for chains whose blocks are sealed).
    if sealed {
        let mut header = block.header.clone();
        header.digest_mut().pop();
        let signature = sp_keyring::Sr25519Keyring::Bob
            .pair()
            .sign(header.hash().as_ref());
        header.digest_mut().push(DigestItem::Seal(
            sp_consensus_aura::AURA_ENGINE_ID,
            signature.encode(),
        ));
        let mut foreign = parts.clone();
        foreign.header = header.encode();
        rejected(
            "foreign-seal",
            "sealed by //Bob, outside the authority set",
            block,
            block.parent_head.clone(),
            &foreign,
        )?;
    }

    // Block data over the PoV bomb limit: rejected before the runtime runs.
    out.push(Candidate {
        name: format!("{label}-block-{number}-pov-over-bomb-limit"),
        block_data: pov::over_bomb_limit(),
        expect: Expect::Invalid(None),
        why: "the PoV decompresses past the 40 MiB PoV bomb limit".into(),
        ..candidate(
            String::new(),
            block,
            Vec::new(),
            Expect::Invalid(None),
            String::new(),
        )
    });

    // The first valid block, under a receipt that commits to another head.
    let Expect::Valid(result) = &first_valid.expect else {
        unreachable!("the first candidate is the first block, valid");
    };
    let mut receipt = result.clone();
    receipt.head_data = block.parent_head.clone().into();
    out.push(Candidate {
        name: format!("{label}-block-{number}-head-not-in-receipt"),
        block_data: first_valid.block_data.clone(),
        expect: Expect::Invalid(Some(receipt)),
        why: "the block is valid but its receipt commits to another head (its parent's)".into(),
        ..candidate(
            String::new(),
            block,
            Vec::new(),
            Expect::Invalid(None),
            String::new(),
        )
    });
    Ok(out)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(300).collect()
}
