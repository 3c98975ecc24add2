//! Loading a chain spec: its genesis state (raw, or built by the runtime's genesis-builder API)
//! and the parachain it describes.

use crate::error::Error;
use sc_chain_spec::{GenericChainSpec, NoExtension};
use sp_core::storage::{well_known_keys, Storage};
use sp_runtime::BuildStorage;
use std::path::{Path, PathBuf};

/// The genesis-builder host functions: the node's, plus the proof-size function new Cumulus
/// runtimes import.
type GenesisHostFunctions =
    cumulus_primitives_proof_size_hostfunction::storage_proof_size::HostFunctions;

/// A parachain at genesis.
pub struct Chain {
    /// The spec's `name`.
    pub name: String,
    /// The spec's `id`.
    pub id: String,
    /// The file it came from.
    pub path: PathBuf,
    /// `raw` or `runtimeGenesis`.
    pub genesis_format: &'static str,
    /// The para id (from `ParachainInfo` storage, else the spec's `para_id`).
    pub para_id: u32,
    /// The genesis state.
    pub storage: Storage,
    /// The validation code exactly as stored under `:code`.
    pub code: Vec<u8>,
}

/// The storage key of `ParachainInfo::ParachainId`.
fn parachain_id_key() -> Vec<u8> {
    [
        sp_crypto_hashing::twox_128(b"ParachainInfo"),
        sp_crypto_hashing::twox_128(b"ParachainId"),
    ]
    .concat()
}

impl Chain {
    /// Reads `path` and builds its genesis state.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let fail = |reason: String| Error::ChainSpec {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let json: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| fail(format!("not JSON: {e}")))?;
        let genesis = json
            .get("genesis")
            .ok_or_else(|| fail("no `genesis` field".into()))?;
        let genesis_format = if genesis.get("raw").is_some() {
            "raw"
        } else if genesis.get("runtimeGenesis").is_some() {
            "runtimeGenesis"
        } else {
            return Err(Error::Unsupported {
                path: path.to_owned(),
                missing: "its genesis is neither `raw` nor `runtimeGenesis` (a legacy \
                          `runtime` genesis needs the node's native runtime; convert it to raw \
                          with that chain's node: `build-spec --raw`)"
                    .into(),
            });
        };
        let spec = GenericChainSpec::<NoExtension, GenesisHostFunctions>::from_json_bytes(text)
            .map_err(fail)?;
        let storage = spec.build_storage().map_err(|e| Error::Unsupported {
            path: path.to_owned(),
            missing: format!("its genesis state could not be built: {e}"),
        })?;
        let code = storage
            .top
            .get(well_known_keys::CODE)
            .cloned()
            .ok_or_else(|| Error::Unsupported {
                path: path.to_owned(),
                missing: "its genesis state has no `:code`".into(),
            })?;
        let from_storage = storage
            .top
            .get(&parachain_id_key())
            .and_then(|v| <u32 as codec::Decode>::decode(&mut &v[..]).ok());
        let from_spec = ["para_id", "paraId"]
            .iter()
            .find_map(|k| json.get(*k).and_then(|v| v.as_u64()))
            .map(|v| v as u32);
        let para_id = from_storage
            .or(from_spec)
            .ok_or_else(|| Error::Unsupported {
                path: path.to_owned(),
                missing: "no para id: neither `ParachainInfo::ParachainId` in its genesis \
                          state nor `para_id` in the spec (is it a parachain?)"
                    .into(),
            })?;
        Ok(Self {
            name: spec.name().to_owned(),
            id: spec.id().to_owned(),
            path: path.to_owned(),
            genesis_format,
            para_id,
            storage,
            code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(genesis: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("tempfile");
        let text = format!(
            r#"{{"name":"t","id":"t","chainType":"Local","bootNodes":[],"telemetryEndpoints":null,
            "protocolId":null,"properties":null,"para_id":7,"codeSubstitutes":{{}},"genesis":{genesis}}}"#
        );
        std::fs::write(file.path(), text).expect("write");
        file
    }

    fn error(genesis: &str) -> String {
        match Chain::load(spec(genesis).path()) {
            Ok(_) => panic!("loaded"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_legacy_runtime_genesis_is_named() {
        let e = error(r#"{"runtime":{"system":{}}}"#);
        assert!(e.contains("neither `raw` nor `runtimeGenesis`"), "{e}");
        assert!(e.contains("build-spec --raw"), "{e}");
    }

    #[test]
    fn a_raw_genesis_without_code_is_named() {
        let e = error(r#"{"raw":{"top":{"0x01":"0x02"},"childrenDefault":{}}}"#);
        assert!(e.contains("no `:code`"), "{e}");
    }

    #[test]
    fn the_para_id_comes_from_the_spec_when_storage_has_none() {
        let file =
            spec(r#"{"raw":{"top":{"0x3a636f6465":"0x0061736d01000000"},"childrenDefault":{}}}"#);
        let chain = Chain::load(file.path()).expect("loads");
        assert_eq!(chain.para_id, 7);
        assert_eq!(chain.code, b"\0asm\x01\0\0\0");
        assert_eq!(chain.genesis_format, "raw");
    }

    #[test]
    fn not_json_is_an_error_not_a_panic() {
        let file = tempfile::NamedTempFile::new().expect("tempfile");
        std::fs::write(file.path(), "{").expect("write");
        let e = Chain::load(file.path())
            .err()
            .expect("an error")
            .to_string();
        assert!(e.contains("not JSON"), "{e}");
    }
}
