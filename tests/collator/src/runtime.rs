//! The chain's own runtime, run by the node's executor (`sc-executor`): runtime API calls over
//! a recorded state, and the runtime's `validate_block` as a relay-chain validator would call it.

use crate::error::Error;
use codec::{Decode, Encode};
use polkadot_parachain_primitives::primitives::{ValidationParams, ValidationResult};
use sc_executor::{HeapAllocStrategy, WasmExecutor};
use sp_core::traits::{CallContext, CodeExecutor, ReadRuntimeVersionExt, WrappedRuntimeCode};
use sp_runtime::traits::BlakeTwo256;
use sp_state_machine::{Backend, OverlayedChanges, StateMachine};
use sp_version::RuntimeVersion;
use std::sync::Arc;

/// The host functions a Cumulus collator gives its runtime.
pub type HostFunctions = (
    sp_io::SubstrateHostFunctions,
    cumulus_primitives_proof_size_hostfunction::storage_proof_size::HostFunctions,
    crate::legacy::storage::HostFunctions,
);

/// The executor type.
pub type Executor = WasmExecutor<HostFunctions>;

/// The largest decompressed PoV a validator accepts (`POV_BOMB_LIMIT`).
pub const POV_BOMB_LIMIT: usize = 40 * 1024 * 1024;

/// The largest decompressed code a validator accepts (the default validation-code bomb limit).
pub const CODE_BOMB_LIMIT: usize = 30 * 1024 * 1024;

/// Pages `validate_block` may use, as the reference's PVF executor allows.
const PVF_MAX_PAGES: u32 = 2048 + 32;

/// A runtime: its code (decompressed) and the executor that runs it.
pub struct Runtime {
    executor: Arc<Executor>,
    pvf_executor: Executor,
    code: WrappedRuntimeCode<'static>,
    hash: Vec<u8>,
    heap_pages: Option<u64>,
    /// Its version, from the code.
    pub version: RuntimeVersion,
}

impl Runtime {
    /// The runtime of `code` (as stored on chain), with `heap_pages` from `:heappages`.
    pub fn new(code: &[u8], heap_pages: Option<u64>) -> Result<Self, Error> {
        let fail = |reason: String| Error::Runtime {
            call: "code".into(),
            reason,
        };
        let wasm = sp_maybe_compressed_blob::decompress(code, CODE_BOMB_LIMIT)
            .map_err(|e| fail(format!("cannot decompress: {e}")))?
            .into_owned();
        let executor = Arc::new(
            Executor::builder()
                .with_allow_missing_host_functions(true)
                .with_max_runtime_instances(2)
                .build(),
        );
        let pvf_executor = Executor::builder()
            .with_allow_missing_host_functions(true)
            .with_onchain_heap_alloc_strategy(HeapAllocStrategy::Dynamic {
                maximum_pages: Some(PVF_MAX_PAGES),
            })
            .with_max_runtime_instances(1)
            .build();
        let hash = sp_crypto_hashing::blake2_256(&wasm).to_vec();
        let mut runtime = Self {
            executor,
            pvf_executor,
            code: WrappedRuntimeCode(wasm.into()),
            hash,
            heap_pages,
            version: RuntimeVersion::default(),
        };
        let mut ext = sp_state_machine::BasicExternalities::new_empty();
        let version = sc_executor::RuntimeVersionOf::runtime_version(
            &*runtime.executor,
            &mut ext,
            &runtime.runtime_code(),
        )
        .map_err(|e| fail(format!("cannot read its version: {e}")))?;
        runtime.version = version;
        Ok(runtime)
    }

    fn runtime_code(&self) -> sp_core::traits::RuntimeCode<'_> {
        sp_core::traits::RuntimeCode {
            code_fetcher: &self.code,
            heap_pages: self.heap_pages,
            hash: self.hash.clone(),
        }
    }

    /// Whether the runtime implements the runtime API `name`.
    pub fn has_api(&self, name: &str) -> bool {
        let id = sp_crypto_hashing::blake2_64(name.as_bytes());
        self.version.apis.iter().any(|(api, _)| *api == id)
    }

    /// The version of the runtime API `name`, if implemented.
    pub fn api_version(&self, name: &str) -> Option<u32> {
        let id = sp_crypto_hashing::blake2_64(name.as_bytes());
        self.version
            .apis
            .iter()
            .find(|(api, _)| *api == id)
            .map(|(_, v)| *v)
    }

    /// Calls `method` with `data` on `backend` and `overlay`, the extensions of a collator's
    /// block builder registered.
    pub fn call<B: Backend<BlakeTwo256>>(
        &self,
        backend: &B,
        overlay: &mut OverlayedChanges<BlakeTwo256>,
        extensions: &mut sp_externalities::Extensions,
        method: &str,
        data: &[u8],
    ) -> Result<Vec<u8>, Error> {
        extensions.register(ReadRuntimeVersionExt::new((*self.executor).clone()));
        let code = self.runtime_code();
        let result = StateMachine::new(
            backend,
            overlay,
            &*self.executor,
            method,
            data,
            extensions,
            &code,
            CallContext::Onchain { import: false },
        )
        .execute();
        result.map_err(|e| Error::Runtime {
            call: method.into(),
            reason: format!("{e}"),
        })
    }

    /// Calls `method` and decodes its answer as `T`.
    pub fn call_decode<T: Decode, B: Backend<BlakeTwo256>>(
        &self,
        backend: &B,
        overlay: &mut OverlayedChanges<BlakeTwo256>,
        extensions: &mut sp_externalities::Extensions,
        method: &str,
        data: &[u8],
    ) -> Result<T, Error> {
        let out = self.call(backend, overlay, extensions, method, data)?;
        T::decode(&mut &out[..]).map_err(|e| Error::Decode {
            call: method.into(),
            reason: e.to_string(),
        })
    }

    /// Runs the runtime's `validate_block` on `params` (block data decompressed), with no
    /// state, as a validator's PVF execution does.
    pub fn validate_block(&self, params: &ValidationParams) -> Result<ValidationResult, String> {
        let mut ext = sp_state_machine::BasicExternalities::new_empty();
        let code = sp_core::traits::RuntimeCode {
            heap_pages: None,
            ..self.runtime_code()
        };
        let out = self
            .pvf_executor
            .call(
                &mut ext,
                &code,
                "validate_block",
                &params.encode(),
                CallContext::Onchain { import: false },
            )
            .0
            .map_err(|e| e.to_string())?;
        ValidationResult::decode(&mut &out[..])
            .map_err(|e| format!("the result does not decode: {e}"))
    }
}
