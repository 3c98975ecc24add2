//! Signed balance transfers, encoded for the runtime at hand from its own metadata: the
//! Balances pallet's index, the transfer call's index, and the signed extensions it expects
//! (each encoded by its name; an extension we do not know is accepted only if the metadata shows
//! it carries no data).

use crate::{dev::DEV_ACCOUNTS, runtime::Runtime};
use codec::{Compact, Decode, Encode};
use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
use scale_info::{PortableRegistry, TypeDef};
use sp_core::{Pair, H256};
use sp_runtime::traits::BlakeTwo256;

/// The amount of each transfer, in the chain's smallest unit.
const AMOUNT: u128 = 1_000_000_000;

/// What the metadata tells about a signed transfer.
pub struct Layout {
    /// `[pallet index, call index]` of `Balances::transfer_keep_alive`.
    call_prefix: [u8; 2],
    /// The signed extensions, in order, by identifier.
    pub extensions: Vec<String>,
}

impl Layout {
    /// Reads the layout from `runtime`'s metadata; `Err` says why it cannot sign transfers.
    pub fn read(runtime: &Runtime) -> Result<Self, String> {
        layout(metadata(runtime)?)
    }
}

/// Signs transfers between the development accounts, tracking their nonces.
pub struct Signer {
    layout: Layout,
    spec_version: u32,
    transaction_version: u32,
    genesis_hash: H256,
    nonces: [u32; DEV_ACCOUNTS.len()],
    next: usize,
}

fn zero_sized(registry: &PortableRegistry, id: u32, depth: u32) -> bool {
    if depth > 16 {
        return false;
    }
    let Some(ty) = registry.resolve(id) else {
        return false;
    };
    match &ty.type_def {
        TypeDef::Composite(c) => c
            .fields
            .iter()
            .all(|f| zero_sized(registry, f.ty.id, depth + 1)),
        TypeDef::Tuple(t) => t
            .fields
            .iter()
            .all(|f| zero_sized(registry, f.id, depth + 1)),
        TypeDef::Array(a) => a.len == 0 || zero_sized(registry, a.type_param.id, depth + 1),
        _ => false,
    }
}

/// The extensions this collator knows how to encode.
const KNOWN: [&str; 14] = [
    "CheckNonZeroSender",
    "CheckSpecVersion",
    "CheckTxVersion",
    "CheckGenesis",
    "CheckMortality",
    "CheckEra",
    "CheckNonce",
    "CheckWeight",
    "ChargeTransactionPayment",
    "ChargeAssetTxPayment",
    "CheckMetadataHash",
    "StorageWeightReclaim",
    "WeightReclaim",
    "AuthorizeCall",
];

fn call_index_v14(registry: &PortableRegistry, calls_ty: u32) -> Option<u8> {
    let ty = registry.resolve(calls_ty)?;
    let TypeDef::Variant(v) = &ty.type_def else {
        return None;
    };
    ["transfer_keep_alive"]
        .iter()
        .find_map(|name| v.variants.iter().find(|x| x.name == *name).map(|x| x.index))
}

fn extensions_v14<'a>(
    registry: &PortableRegistry,
    list: impl Iterator<Item = (&'a String, u32, u32)>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (name, ty, additional) in list {
        let carries_nothing = zero_sized(registry, ty, 0) && zero_sized(registry, additional, 0);
        if !(KNOWN.contains(&name.as_str()) || carries_nothing) {
            return Err(format!(
                "its transactions need the signed extension `{name}`, which carries data this \
                 collator cannot fill in; run without --transfers"
            ));
        }
        out.push(name.clone());
    }
    Ok(out)
}

/// The layout from metadata v12 or v13 (same shape: names, no types).
macro_rules! legacy_layout {
    ($m:expr, $no_balances:expr) => {{
        let m = $m;
        let no_balances = $no_balances;

            use frame_metadata::decode_different::DecodeDifferent::Decoded;
            let Decoded(modules) = m.modules else {
                return Err("undecodable metadata".into());
            };
            let balances = modules
                .iter()
                .find(|p| matches!(&p.name, Decoded(n) if n == "Balances"))
                .ok_or_else(no_balances)?;
            let Some(Decoded(calls)) = &balances.calls else {
                return Err(no_balances());
            };
            let index = calls
                .iter()
                .position(|c| matches!(&c.name, Decoded(n) if n == "transfer_keep_alive"))
                .ok_or_else(no_balances)?;
            let mut extensions = Vec::new();
            for e in m.extrinsic.signed_extensions {
                let Decoded(name) = e else {
                    return Err("undecodable metadata".into());
                };
                if !KNOWN.contains(&name.as_str()) {
                    return Err(format!(
                        "its transactions need the signed extension `{name}`, unknown to this \
                         collator (metadata before v14 does not say what it carries); run without --transfers"
                    ));
                }
                extensions.push(name);
            }
            Ok(Layout {
                call_prefix: [balances.index, index as u8],
                extensions,
            })
            }};
}

/// The layout from metadata v14 or v15 (same shape for what is read here: pallets with call
/// types, signed extensions with types, a portable type registry).
macro_rules! typed_layout {
    ($m:expr, $no_balances:expr) => {{
        let m = $m;
        let p = m
            .pallets
            .iter()
            .find(|p| p.name == "Balances")
            .ok_or_else($no_balances)?;
        let calls = p.calls.as_ref().ok_or_else($no_balances)?;
        let index = call_index_v14(&m.types, calls.ty.id).ok_or_else($no_balances)?;
        let extensions = extensions_v14(
            &m.types,
            m.extrinsic
                .signed_extensions
                .iter()
                .map(|e| (&e.identifier, e.ty.id, e.additional_signed.id)),
        )?;
        Ok(Layout {
            call_prefix: [p.index, index],
            extensions,
        })
    }};
}

fn layout(metadata: RuntimeMetadata) -> Result<Layout, String> {
    let no_balances = || {
        "its runtime has no Balances pallet with `transfer_keep_alive`; run without --transfers"
            .to_string()
    };
    match metadata {
        RuntimeMetadata::V12(m) => legacy_layout!(m, no_balances),
        RuntimeMetadata::V13(m) => legacy_layout!(m, no_balances),
        RuntimeMetadata::V14(m) => typed_layout!(m, no_balances),
        RuntimeMetadata::V15(m) => typed_layout!(m, no_balances),
        other => Err(format!(
            "its metadata is version {}, which this collator does not read; run without --transfers",
            other.version()
        )),
    }
}

fn metadata(runtime: &Runtime) -> Result<RuntimeMetadata, String> {
    // The metadata API reads no storage: an empty state will do.
    let backend = sp_state_machine::InMemoryBackend::<BlakeTwo256>::default();
    let read = |method: &str, data: &[u8]| {
        let mut overlay = Default::default();
        let mut extensions = Default::default();
        runtime.call(&backend, &mut overlay, &mut extensions, method, data)
    };
    // Version 15 where the runtime offers it (v16 describes v5 extrinsics); else the default.
    let default = || {
        let out = read("Metadata_metadata", &[]).map_err(|e| e.to_string())?;
        Vec::<u8>::decode(&mut &out[..]).map_err(|e| e.to_string())
    };
    let bytes = if runtime.api_version("Metadata").unwrap_or(1) >= 2 {
        match read("Metadata_metadata_at_version", &15u32.encode())
            .ok()
            .and_then(|out| Option::<Vec<u8>>::decode(&mut &out[..]).ok().flatten())
        {
            Some(b) => b,
            None => default()?,
        }
    } else {
        default()?
    };
    RuntimeMetadataPrefixed::decode(&mut &bytes[..])
        .map(|m| m.1)
        .map_err(|e| format!("its metadata does not decode: {e}"))
}

impl Signer {
    /// A signer of transfers laid out as `layout`, for the chain of `runtime` whose genesis
    /// block hashes to `genesis_hash`.
    pub fn new(layout: Layout, runtime: &Runtime, genesis_hash: H256) -> Self {
        let version = &runtime.version;
        Self {
            layout,
            spec_version: version.spec_version,
            transaction_version: version.transaction_version,
            genesis_hash,
            nonces: [0; DEV_ACCOUNTS.len()],
            next: 0,
        }
    }

    /// `count` transfers, each from the next development account to the one after it.
    pub fn transfers(&mut self, count: u32) -> Vec<Vec<u8>> {
        (0..count).map(|_| self.transfer()).collect()
    }

    fn transfer(&mut self) -> Vec<u8> {
        let from = self.next % DEV_ACCOUNTS.len();
        let to = (from + 1) % DEV_ACCOUNTS.len();
        self.next += 1;
        let nonce = self.nonces[from];
        self.nonces[from] += 1;

        let mut call = self.layout.call_prefix.to_vec();
        call.push(0x00); // MultiAddress::Id
        call.extend(DEV_ACCOUNTS[to].public().0);
        Compact(AMOUNT).encode_to(&mut call);

        let mut extra = Vec::new();
        let mut implicit = Vec::new();
        for name in &self.layout.extensions {
            match name.as_str() {
                "CheckSpecVersion" => self.spec_version.encode_to(&mut implicit),
                "CheckTxVersion" => self.transaction_version.encode_to(&mut implicit),
                "CheckGenesis" => self.genesis_hash.encode_to(&mut implicit),
                "CheckMortality" | "CheckEra" => {
                    extra.push(0x00); // Era::Immortal
                    self.genesis_hash.encode_to(&mut implicit);
                }
                "CheckNonce" => Compact(nonce).encode_to(&mut extra),
                "ChargeTransactionPayment" => Compact(0u128).encode_to(&mut extra),
                "ChargeAssetTxPayment" => {
                    Compact(0u128).encode_to(&mut extra);
                    extra.push(0x00); // no asset: pay in the native token
                }
                "CheckMetadataHash" => {
                    extra.push(0x00); // Mode::Disabled
                    implicit.push(0x00); // None
                }
                _ => {}
            }
        }
        let mut payload = call.clone();
        payload.extend(&extra);
        payload.extend(&implicit);
        let pair = DEV_ACCOUNTS[from].pair();
        let signature = if payload.len() > 256 {
            pair.sign(&sp_crypto_hashing::blake2_256(&payload))
        } else {
            pair.sign(&payload)
        };

        let mut xt = vec![0x84]; // signed, version 4
        xt.push(0x00); // MultiAddress::Id
        xt.extend(DEV_ACCOUNTS[from].public().0);
        xt.push(0x01); // MultiSignature::Sr25519
        xt.extend(signature.0);
        xt.extend(extra);
        xt.extend(call);
        xt
    }
}
