//! The externalities a PVF runs with: none of the node's state, as in the reference.
//!
//! A few host functions reach the node through `sp_externalities` (storage, keystore,
//! reading another runtime's version). A PVF has no storage and no keys: every storage call
//! panics with the reference's message (which the host-function wrapper turns into a trap),
//! the keystore is absent (its functions panic the same way), and the only extension is the
//! one `ext_misc_runtime_version` needs, reading the version sections of a possibly
//! compressed runtime blob.
//!
//! The panic messages are the reference's (`ValidationExternalities` in
//! `polkadot-node-core-pvf-common`), because a runtime can see them: they become the trap
//! message the verdict's reason carries.

use parity_scale_codec::Encode;
use sc_executor_common::runtime_blob::RuntimeBlob;
use sp_core::{
    storage::{ChildInfo, StateVersion, TrackedStorageKey},
    traits::ReadRuntimeVersionExt,
};
use sp_externalities::MultiRemovalResults;
use std::any::{Any, TypeId};

/// The externalities of one execution.
pub struct ValidationExternalities(sp_externalities::Extensions);

impl ValidationExternalities {
    /// Externalities with the one extension a PVF may use.
    pub fn new() -> Self {
        let mut extensions = sp_externalities::Extensions::new();
        extensions.register(ReadRuntimeVersionExt::new(ReadRuntimeVersion));
        Self(extensions)
    }
}

impl Default for ValidationExternalities {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `f` with `ext` as the thread's externalities; a panic that escapes `f` becomes the
/// reference's `RuntimePanicked` text (`sc_executor::with_externalities_safe`).
pub fn with_externalities_safe<R>(
    ext: &mut ValidationExternalities,
    f: impl FnOnce() -> R,
) -> Result<R, String> {
    sp_externalities::set_and_run_with_externalities(ext, || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
            let text = crate::host_functions::panic_text(&*panic)
                .unwrap_or_else(|| "Unknown panic".to_owned());
            format!("Runtime panicked: {text}")
        })
    })
}

impl sp_externalities::Externalities for ValidationExternalities {
    fn storage(&mut self, _: &[u8]) -> Option<Vec<u8>> {
        unsupported("storage")
    }

    fn storage_hash(&mut self, _: &[u8]) -> Option<Vec<u8>> {
        unsupported("storage_hash")
    }

    fn child_storage_hash(&mut self, _: &ChildInfo, _: &[u8]) -> Option<Vec<u8>> {
        unsupported("child_storage_hash")
    }

    fn child_storage(&mut self, _: &ChildInfo, _: &[u8]) -> Option<Vec<u8>> {
        unsupported("child_storage")
    }

    fn kill_child_storage(
        &mut self,
        _child_info: &ChildInfo,
        _maybe_limit: Option<u32>,
        _maybe_cursor: Option<&[u8]>,
    ) -> MultiRemovalResults {
        unsupported("kill_child_storage")
    }

    fn clear_prefix(
        &mut self,
        _prefix: &[u8],
        _maybe_limit: Option<u32>,
        _maybe_cursor: Option<&[u8]>,
    ) -> MultiRemovalResults {
        unsupported("clear_prefix")
    }

    fn clear_child_prefix(
        &mut self,
        _child_info: &ChildInfo,
        _prefix: &[u8],
        _maybe_limit: Option<u32>,
        _maybe_cursor: Option<&[u8]>,
    ) -> MultiRemovalResults {
        unsupported("clear_child_prefix")
    }

    fn place_storage(&mut self, _: Vec<u8>, _: Option<Vec<u8>>) {
        unsupported("place_storage")
    }

    fn place_child_storage(&mut self, _: &ChildInfo, _: Vec<u8>, _: Option<Vec<u8>>) {
        unsupported("place_child_storage")
    }

    fn storage_root(&mut self, _: StateVersion) -> Vec<u8> {
        unsupported("storage_root")
    }

    fn child_storage_root(&mut self, _: &ChildInfo, _: StateVersion) -> Vec<u8> {
        unsupported("child_storage_root")
    }

    fn next_child_storage_key(&mut self, _: &ChildInfo, _: &[u8]) -> Option<Vec<u8>> {
        unsupported("next_child_storage_key")
    }

    fn next_storage_key(&mut self, _: &[u8]) -> Option<Vec<u8>> {
        unsupported("next_storage_key")
    }

    fn storage_append(&mut self, _key: Vec<u8>, _value: Vec<u8>) {
        unsupported("storage_append")
    }

    fn storage_start_transaction(&mut self) {
        unsupported("storage_start_transaction")
    }

    fn storage_rollback_transaction(&mut self) -> Result<(), ()> {
        unsupported("storage_rollback_transaction")
    }

    fn storage_commit_transaction(&mut self) -> Result<(), ()> {
        unsupported("storage_commit_transaction")
    }

    fn wipe(&mut self) {
        unsupported("wipe")
    }

    fn commit(&mut self) {
        unsupported("commit")
    }

    fn read_write_count(&self) -> (u32, u32, u32, u32) {
        unsupported("read_write_count")
    }

    fn reset_read_write_count(&mut self) {
        unsupported("reset_read_write_count")
    }

    fn get_whitelist(&self) -> Vec<TrackedStorageKey> {
        unsupported("get_whitelist")
    }

    fn set_whitelist(&mut self, _: Vec<TrackedStorageKey>) {
        unsupported("set_whitelist")
    }

    fn set_offchain_storage(&mut self, _: &[u8], _: Option<&[u8]>) {
        unsupported("set_offchain_storage")
    }

    fn get_read_and_written_keys(&self) -> Vec<(Vec<u8>, u32, u32, bool)> {
        unsupported("get_read_and_written_keys")
    }
}

impl sp_externalities::ExtensionStore for ValidationExternalities {
    fn extension_by_type_id(&mut self, type_id: TypeId) -> Option<&mut dyn Any> {
        self.0.get_mut(type_id)
    }

    fn register_extension_with_type_id(
        &mut self,
        type_id: TypeId,
        extension: Box<dyn sp_externalities::Extension>,
    ) -> Result<(), sp_externalities::Error> {
        self.0.register_with_type_id(type_id, extension)
    }

    fn deregister_extension_by_type_id(
        &mut self,
        type_id: TypeId,
    ) -> Result<(), sp_externalities::Error> {
        if self.0.deregister(type_id) {
            Ok(())
        } else {
            Err(sp_externalities::Error::ExtensionIsNotRegistered(type_id))
        }
    }
}

/// Every storage-related call: a PVF has no storage. The message is the reference's.
fn unsupported(call: &str) -> ! {
    panic!("{call}: unsupported feature for parachain validation")
}

/// Reads the embedded version of a runtime blob for `ext_misc_runtime_version`, as the
/// reference does: decompressed within `sp-maybe-compressed-blob`'s own limit, parsed by the
/// reference's module parser, the `runtime_version` section decoded with the hint of the
/// `Core` API version from the `runtime_apis` section.
struct ReadRuntimeVersion;

impl sp_core::traits::ReadRuntimeVersion for ReadRuntimeVersion {
    fn read_runtime_version(
        &self,
        wasm_code: &[u8],
        _ext: &mut dyn sp_externalities::Externalities,
    ) -> Result<Vec<u8>, String> {
        let blob = RuntimeBlob::uncompress_if_needed(wasm_code)
            .map_err(|e| format!("Failed to read the PVF runtime blob: {e:?}"))?;
        match embedded_version(&blob)
            .map_err(|e| format!("Failed to read the static section from the PVF blob: {e:?}"))?
        {
            Some(version) => Ok(version.encode()),
            None => Err("runtime version section is not found".to_string()),
        }
    }
}

/// `sc_executor::read_embedded_version`, without linking `sc-executor` (which would bring
/// a second wasmtime): the two custom sections, decoded with `sp-version`.
fn embedded_version(blob: &RuntimeBlob) -> Result<Option<sp_version::RuntimeVersion>, String> {
    let Some(mut version_section) = blob.custom_section_contents("runtime_version") else {
        return Ok(None);
    };
    let apis = blob
        .custom_section_contents("runtime_apis")
        .map(decode_runtime_apis)
        .transpose()?;
    let core_version = apis
        .as_ref()
        .and_then(|apis| sp_version::core_version_from_apis(&apis.clone().into()));
    let mut version =
        sp_version::RuntimeVersion::decode_with_version_hint(&mut version_section, core_version)
            .map_err(|_| "failed to decode version section".to_string())?;
    if let Some(apis) = apis {
        version.apis = apis.into();
    }
    Ok(Some(version))
}

/// Size of one entry of the `runtime_apis` section: an 8-byte API id and a little-endian
/// `u32` version (`sp_api::RUNTIME_API_INFO_SIZE`; `sp-api` itself is not linked for it).
const RUNTIME_API_INFO_SIZE: usize = 12;

fn decode_runtime_apis(apis: &[u8]) -> Result<Vec<([u8; 8], u32)>, String> {
    apis.chunks(RUNTIME_API_INFO_SIZE)
        .map(|chunk| {
            let chunk: [u8; RUNTIME_API_INFO_SIZE] = chunk
                .try_into()
                .map_err(|_| "a clipped runtime api info declaration".to_owned())?;
            let mut id = [0; 8];
            id.copy_from_slice(&chunk[..8]);
            let version = u32::from_le_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]);
            Ok((id, version))
        })
        .collect()
}
