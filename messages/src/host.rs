//! Messages to the validation host, from the candidate-validation subsystem (or any caller).
//!
//! The host is an actor: callers send a [`ToHost`] and await the answer on the oneshot inside
//! it. Every request gets exactly one answer; if the host shuts down first, the sender is
//! dropped and the caller sees a cancelled channel, never a silent hang.

use crate::{
    error::{PrepareError, ValidationError},
    executor_params::ExecutorParams,
    primitives::{
        DEFAULT_VALIDATION_CODE_BOMB_LIMIT, Hash, PvfExecKind, PvfPrepKind, ValidationCode,
        ValidationCodeHash, ValidationParams, ValidationResult,
    },
};
use futures::channel::oneshot;
use std::{sync::Arc, time::Duration};

/// Everything the host needs to prepare one PVF.
#[derive(Clone, Debug)]
pub struct PvfPrepData {
    /// The Wasm code.
    pub code: Arc<ValidationCode>,
    /// Its hash, computed once.
    pub code_hash: ValidationCodeHash,
    /// The executor parameters it is prepared and run with.
    pub executor_params: Arc<ExecutorParams>,
    /// CPU-time limit of the preparation job.
    pub prep_timeout: Duration,
    /// Pre-check (strict) or preparation before execution (lenient).
    pub prep_kind: PvfPrepKind,
    /// Largest decompressed code accepted, in bytes (the relay chain's
    /// `validation_code_bomb_limit`).
    pub code_bomb_limit: u32,
}

impl PvfPrepData {
    /// Bundles `code` with `executor_params` for a preparation of `prep_kind`, with the
    /// timeout those parameters give that kind.
    pub fn new(
        code: ValidationCode,
        executor_params: ExecutorParams,
        prep_kind: PvfPrepKind,
    ) -> Self {
        Self {
            code_hash: code.hash(),
            prep_timeout: executor_params.prep_timeout(prep_kind),
            code: Arc::new(code),
            executor_params: Arc::new(executor_params),
            prep_kind,
            code_bomb_limit: DEFAULT_VALIDATION_CODE_BOMB_LIMIT,
        }
    }

    /// The same PVF with another validation-code bomb limit.
    pub fn with_code_bomb_limit(mut self, limit: u32) -> Self {
        self.code_bomb_limit = limit;
        self
    }
}

/// The answer to a pre-check: `Ok` if the PVF prepared.
pub type PrecheckResult = Result<(), PrepareError>;

/// The answer to an execution: the PVF's result, or why there is none.
pub type ValidationOutcome = Result<ValidationResult, ValidationError>;

/// One candidate to execute.
#[derive(Debug)]
pub struct ExecutePvf {
    /// The PVF (prepared first if its artifact is missing).
    pub pvf: PvfPrepData,
    /// The candidate's parameters.
    pub params: ValidationParams,
    /// CPU-time limit of the execution job.
    pub exec_timeout: Duration,
    /// Backing, approval or dispute: sets the priority and whether retries are allowed.
    pub exec_kind: PvfExecKind,
    /// For backing: the relay parent the candidate is built on. When it is neither an active
    /// leaf nor within a leaf's allowed ancestry (see [`ToHost::UpdateActiveLeaves`]) a queued
    /// job is dropped with [`ValidationError::ExecutionDeadline`].
    pub relay_parent: Option<Hash>,
    /// Where the answer goes.
    pub response: oneshot::Sender<ValidationOutcome>,
}

/// A request to the validation host.
#[derive(Debug)]
pub enum ToHost {
    /// Prepare a PVF with critical priority and report whether it prepared.
    PrecheckPvf {
        /// The PVF.
        pvf: PvfPrepData,
        /// Where the answer goes.
        response: oneshot::Sender<PrecheckResult>,
    },
    /// Execute a candidate.
    ExecutePvf(ExecutePvf),
    /// Prepare these PVFs ahead of need (normal priority, no answer).
    HeadsUp {
        /// The PVFs.
        pvfs: Vec<PvfPrepData>,
    },
    /// The relay-chain blocks that are now active leaves, each with its allowed ancestry;
    /// queued backing jobs whose relay parent is none of them are dropped.
    UpdateActiveLeaves {
        /// The active leaves (the full set).
        active: Vec<ActiveLeaf>,
    },
}

/// An active leaf and the relay parents a backing candidate may be built on under it (with
/// asynchronous backing, the leaf's ancestors within the allowed ancestry).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActiveLeaf {
    /// The leaf.
    pub hash: Hash,
    /// Its ancestors within the allowed ancestry, most recent first.
    pub ancestors: Vec<Hash>,
}

impl From<Hash> for ActiveLeaf {
    /// A leaf without allowed ancestry (synchronous backing).
    fn from(hash: Hash) -> Self {
        Self {
            hash,
            ancestors: Vec::new(),
        }
    }
}

/// The prepare-queue priority of a preparation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PreparePriority {
    /// Heads-up: prepare when a worker is free.
    Normal,
    /// Someone waits for it (an execution or a pre-check): may use the hard worker cap.
    Critical,
}
