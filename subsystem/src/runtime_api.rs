//! A stand-in for the runtime-API subsystem: chain state served from memory (code by hash,
//! executor parameters, and per block its session and the code of the candidates backed in it).
//!
//! In Polkadot, candidate validation reads validation code and the session's executor
//! parameters from the relay chain's runtime. This node has no relay chain, so the workload
//! driver fills a [`RuntimeApiStore`] and [`RuntimeApiSubsystem`] answers
//! [`RuntimeApiMessage`]s from it. Keeping it a separate subsystem, rather than a map handed to
//! candidate validation, keeps candidate validation's code path the same as against a real
//! chain: it asks over the overseer and awaits the answer in a child job.

use crate::overseer::{self, FromOrchestra, Signal, SpawnedSubsystem, SubsystemError};
use pvf_messages::{
    ExecutorParams, Hash, ValidationCode, ValidationCodeHash,
    candidate_validation::{RuntimeApiMessage, SessionIndex},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

const LOG_TARGET: &str = "parachain::runtime-api";

#[derive(Debug)]
struct Store {
    code: HashMap<ValidationCodeHash, ValidationCode>,
    executor_params: HashMap<Hash, ExecutorParams>,
    default_executor_params: Option<ExecutorParams>,
    sessions: HashMap<Hash, SessionIndex>,
    backed_code: HashMap<Hash, Vec<ValidationCodeHash>>,
}

/// The chain state the stand-in serves: validation code by hash and executor parameters by
/// relay parent. Cloning shares the store.
#[derive(Clone, Debug)]
pub struct RuntimeApiStore {
    inner: Arc<Mutex<Store>>,
}

impl Default for RuntimeApiStore {
    fn default() -> Self {
        Self::new()
    }
}

impl RuntimeApiStore {
    /// No code; every relay parent has the default executor parameters
    /// (`ExecutorParams::new()`), as every session of a chain that never set any.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Store {
                code: HashMap::new(),
                executor_params: HashMap::new(),
                default_executor_params: Some(ExecutorParams::new()),
                sessions: HashMap::new(),
                backed_code: HashMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // The store holds plain data: a panic while holding the lock cannot leave it torn.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `code` known under its hash, which it returns.
    pub fn insert_code(&self, code: ValidationCode) -> ValidationCodeHash {
        let hash = code.hash();
        self.lock().code.insert(hash, code);
        hash
    }

    /// The code with this hash, if known.
    pub fn code_by_hash(&self, hash: &ValidationCodeHash) -> Option<ValidationCode> {
        self.lock().code.get(hash).cloned()
    }

    /// Sets the executor parameters of the session of `relay_parent`.
    pub fn set_executor_params(&self, relay_parent: Hash, params: ExecutorParams) {
        self.lock().executor_params.insert(relay_parent, params);
    }

    /// Sets the executor parameters of every relay parent without its own; `None` makes them
    /// unknown.
    pub fn set_default_executor_params(&self, params: Option<ExecutorParams>) {
        self.lock().default_executor_params = params;
    }

    /// Records that a child of `block` is in `session`, and that the candidates backed in
    /// `block` use the code with these hashes.
    pub fn set_block(
        &self,
        block: Hash,
        session: SessionIndex,
        backed_code: Vec<ValidationCodeHash>,
    ) {
        let mut store = self.lock();
        store.sessions.insert(block, session);
        store.backed_code.insert(block, backed_code);
    }

    /// The session a child of `block` is in, if `block` is known.
    pub fn session_index_for_child(&self, block: &Hash) -> Option<SessionIndex> {
        self.lock().sessions.get(block).copied()
    }

    /// The code hashes of the candidates backed in `block`, if `block` is known.
    pub fn backed_code(&self, block: &Hash) -> Option<Vec<ValidationCodeHash>> {
        self.lock().backed_code.get(block).cloned()
    }

    /// The executor parameters of the session of `relay_parent`, if known.
    pub fn executor_params(&self, relay_parent: &Hash) -> Option<ExecutorParams> {
        let store = self.lock();
        store
            .executor_params
            .get(relay_parent)
            .or(store.default_executor_params.as_ref())
            .cloned()
    }
}

/// The runtime-API stand-in subsystem: answers [`RuntimeApiMessage`]s from a
/// [`RuntimeApiStore`], at once and in order.
#[derive(Clone, Debug, Default)]
pub struct RuntimeApiSubsystem {
    store: RuntimeApiStore,
}

impl RuntimeApiSubsystem {
    /// Serves `store` (keep a clone to fill it).
    pub fn new(store: RuntimeApiStore) -> Self {
        Self { store }
    }

    /// Answers one request.
    pub fn answer(&self, msg: RuntimeApiMessage) {
        match msg {
            RuntimeApiMessage::ValidationCodeByHash(hash, tx) => {
                let code = self.store.code_by_hash(&hash);
                tracing::trace!(target: LOG_TARGET, %hash, found = code.is_some(), "code by hash");
                let _ = tx.send(code);
            }
            RuntimeApiMessage::SessionExecutorParams(relay_parent, tx) => {
                let params = self.store.executor_params(&relay_parent);
                tracing::trace!(
                    target: LOG_TARGET,
                    %relay_parent,
                    found = params.is_some(),
                    "session executor params"
                );
                let _ = tx.send(params);
            }
            RuntimeApiMessage::SessionIndexForChild(block, tx) => {
                let _ = tx.send(self.store.session_index_for_child(&block));
            }
            RuntimeApiMessage::BackedCandidateCodeHashes(block, tx) => {
                let _ = tx.send(self.store.backed_code(&block));
            }
        }
    }
}

#[overseer::subsystem(RuntimeApi, error = SubsystemError, prefix = crate::overseer)]
impl<Context> RuntimeApiSubsystem {
    fn start(self, ctx: Context) -> SpawnedSubsystem<SubsystemError> {
        SpawnedSubsystem {
            name: "runtime-api-subsystem",
            future: Box::pin(run(self, ctx)),
        }
    }
}

#[overseer::contextbounds(RuntimeApi, prefix = crate::overseer)]
async fn run<Context>(this: RuntimeApiSubsystem, mut ctx: Context) -> Result<(), SubsystemError> {
    loop {
        match ctx.recv().await? {
            FromOrchestra::Signal(Signal::Conclude) => return Ok(()),
            FromOrchestra::Signal(Signal::ActiveLeaves(_)) => {}
            FromOrchestra::Communication { msg } => this.answer(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::oneshot;
    use pvf_messages::ExecutorParam;

    #[test]
    fn serves_code_and_params() {
        let store = RuntimeApiStore::new();
        let sub = RuntimeApiSubsystem::new(store.clone());
        let code = ValidationCode(vec![1, 2, 3]);
        let hash = store.insert_code(code.clone());
        let (tx, mut rx) = oneshot::channel();
        sub.answer(RuntimeApiMessage::ValidationCodeByHash(hash, tx));
        assert_eq!(rx.try_recv().unwrap(), Some(Some(code)));
        let (tx, mut rx) = oneshot::channel();
        sub.answer(RuntimeApiMessage::ValidationCodeByHash(
            ValidationCode(vec![]).hash(),
            tx,
        ));
        assert_eq!(rx.try_recv().unwrap(), Some(None));

        let special = ExecutorParams(vec![ExecutorParam::MaxMemoryPages(7)]);
        store.set_executor_params(Hash([1; 32]), special.clone());
        assert_eq!(store.executor_params(&Hash([1; 32])), Some(special));
        assert_eq!(
            store.executor_params(&Hash([2; 32])),
            Some(ExecutorParams::new())
        );
        store.set_default_executor_params(None);
        let (tx, mut rx) = oneshot::channel();
        sub.answer(RuntimeApiMessage::SessionExecutorParams(Hash([2; 32]), tx));
        assert_eq!(rx.try_recv().unwrap(), Some(None));
    }
}
