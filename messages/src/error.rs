//! Failures of preparation and validation, classified by who is to blame.
//!
//! The one rule this module exists for: only a deterministic failure of the PVF itself
//! may become a vote against a candidate. Everything that can stem from the local machine
//! (a killed worker, a full disk, a timeout on a loaded host) is classified so that callers
//! cannot mistake it for an invalid candidate.

use parity_scale_codec::{Decode, Encode};

/// Why a PVF could not be prepared.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum PrepareError {
    /// The blob is not acceptable Wasm (malformed, a forbidden feature, a missing or
    /// ill-typed `validate_block`). Deterministic.
    #[error("prevalidation failed: {0}")]
    Prevalidation(String),
    /// The compiler rejected the module. Deterministic.
    #[error("compilation failed: {0}")]
    Preparation(String),
    /// The code as stored on chain could not be decompressed within the validation-code bomb
    /// limit, or its compressed frame is corrupt. Deterministic.
    #[error("could not decompress the code blob: {0}")]
    CouldNotDecompressCodeBlob(String),
    /// The preparation job panicked. Deterministic (same code, same panic).
    #[error("preparation job panicked: {0}")]
    JobError(String),
    /// The preparation job exceeded its memory limit. Deterministic.
    #[error("preparation exceeded its memory limit of {limit} bytes")]
    OutOfMemory {
        /// The limit that was hit.
        limit: u64,
    },
    /// The preparation exceeded its CPU-time budget. Not deterministic.
    #[error("preparation timed out")]
    TimedOut,
    /// The engine could not be set up. Not deterministic.
    #[error("could not construct the compiler runtime: {0}")]
    RuntimeConstruction(String),
    /// An I/O error in the worker. Not deterministic.
    #[error("worker I/O error: {0}")]
    IoErr(String),
    /// The job process died without reporting (a signal, the OOM killer). Not deterministic.
    #[error("preparation job died: {0}")]
    JobDied(String),
    /// Writing the artifact failed. Not deterministic.
    #[error("could not create the artifact file: {0}")]
    CreateTmpFile(String),
    /// Moving the artifact into the cache failed. Not deterministic.
    #[error("could not move the artifact into the cache: {0}")]
    RenameTmpFile(String),
    /// The worker directory could not be cleared. Not deterministic.
    #[error("could not clear the worker directory: {0}")]
    ClearWorkerDir(String),
    /// A system call needed to run the job failed. Not deterministic.
    #[error("kernel error: {0}")]
    Kernel(String),
    /// The worker process itself died or broke the protocol. Not deterministic.
    #[error("preparation worker failed: {0}")]
    WorkerFailed(String),
}

impl PrepareError {
    /// Whether the same code under the same parameters fails the same way on every honest
    /// machine. Only such failures may reject a PVF or a candidate.
    pub fn is_deterministic(&self) -> bool {
        matches!(
            self,
            Self::Prevalidation(_)
                | Self::CouldNotDecompressCodeBlob(_)
                | Self::Preparation(_)
                | Self::JobError(_)
                | Self::OutOfMemory { .. }
        )
    }
}

/// A deterministic reason to consider a candidate invalid.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum InvalidCandidate {
    /// The PVF trapped, returned a malformed result or otherwise rejected the block.
    #[error("the PVF rejected the candidate: {0}")]
    WorkerReportedInvalid(String),
    /// The PVF used up its CPU-time budget (measured in the job), or the wall clock ran
    /// out at 4× that budget with the budget used up (a job that stalled without using it
    /// was stopped or starved locally: not a verdict).
    #[error("execution timed out")]
    HardTimeout,
    /// The code could not be prepared for a deterministic reason.
    #[error("the code is not a valid PVF: {0}")]
    PrepareError(String),
    /// The PoV could not be decompressed within the PoV bomb limit, or is corrupt.
    #[error("the PoV could not be decompressed")]
    PoVDecompressionFailure,
    /// An outcome that may have been local persisted after the reference's retries (or
    /// occurred when backing, which never retries); voted invalid as the reference does, so
    /// that a PVF which always kills its job cannot stall finality.
    #[error("execution failed: {0}")]
    ExecutionError(String),
}

/// A failure that may or may not be the candidate's fault. The host retries these for
/// approvals and disputes ([`crate::verdict_policy`]); one that persists (or any, for backing)
/// becomes [`InvalidCandidate::ExecutionError`], as in the reference.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum PossiblyInvalidError {
    /// The worker died during the job (it may have been killed by the OOM killer or an operator).
    #[error("the execute worker died during the job")]
    AmbiguousWorkerDeath,
    /// The job process died without a result: a signal, or an unexpected exit.
    #[error("the execution job died: {0}")]
    AmbiguousJobDeath(String),
    /// The job panicked.
    #[error("the execution job panicked: {0}")]
    JobError(String),
    /// The artifact passed its checksum but could not be loaded, or the runtime could not
    /// be built from it (a link error, an instantiation that failed without a trap).
    #[error("runtime construction failed: {0}")]
    RuntimeConstruction(String),
}

/// A local fault this host can prove: the validation could not be carried out. Never a
/// verdict.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum InternalValidationError {
    /// No usable worker binary was found.
    #[error("{0}")]
    WorkerNotFound(String),
    /// A worker process could not be started or did not connect back in time.
    #[error("could not spawn a worker: {0}")]
    WorkerSpawn(String),
    /// Node and worker were built from different versions or builds.
    #[error(
        "worker {worker} is not from the node's build {node}: {hint}",
        hint = crate::version::MISMATCH_HINT
    )]
    VersionMismatch {
        /// The node's version and build id.
        node: String,
        /// The worker's version and build id.
        worker: String,
    },
    /// The worker broke the protocol or the socket failed.
    #[error("host-worker communication failed: {0}")]
    HostCommunication(String),
    /// A file operation in the host failed.
    #[error("host I/O error: {0}")]
    Io(String),
    /// A system call needed by the job failed.
    #[error("kernel error: {0}")]
    Kernel(String),
    /// The workers' sandbox cannot give the protection secure validator mode requires.
    #[error("{0}")]
    Sandbox(String),
    /// The artifact is missing, unreadable, or does not match the checksum recorded when it
    /// was prepared; caught before it was mapped. No PVF can cause this: the artifact is
    /// deleted and prepared again.
    #[error("the artifact is unusable: {0}")]
    CorruptedArtifact(String),
    /// The job ran out of wall-clock time without using its CPU budget: the worker or the job
    /// was stopped, or starved by the machine. Not the PVF's doing.
    #[error("the execution stalled: {0}")]
    JobStalled(String),
}

/// Why the host gave no `Ok` for a validation request.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum ValidationError {
    /// The PVF could not be prepared. Count it against the candidate only if
    /// [`PrepareError::is_deterministic`].
    #[error("preparation failed: {0}")]
    Preparation(PrepareError),
    /// The candidate is invalid, deterministically.
    #[error("invalid candidate: {0}")]
    Invalid(InvalidCandidate),
    /// The candidate may be invalid; a retry may tell.
    #[error("possibly invalid: {0}")]
    PossiblyInvalid(PossiblyInvalidError),
    /// A local fault.
    #[error("internal error: {0}")]
    Internal(InternalValidationError),
    /// The job's deadline passed before it could run (e.g. a backing job left in the queue).
    #[error("the execution deadline passed before the job could run")]
    ExecutionDeadline,
}

/// How a [`ValidationError`] (or success) must be treated by a caller deciding a vote.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VerdictClass {
    /// The candidate is valid.
    Valid,
    /// The candidate is invalid: a deterministic failure of the PVF.
    Invalid,
    /// Not decided; a retry may tell.
    PossiblyInvalid,
    /// A local fault; no verdict.
    Error,
}

impl VerdictClass {
    /// The lower-case name printed by the CLI and used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid => "invalid",
            Self::PossiblyInvalid => "possibly-invalid",
            Self::Error => "error",
        }
    }
}

impl ValidationError {
    /// The class of this failure. A local fault is never [`VerdictClass::Invalid`].
    pub fn class(&self) -> VerdictClass {
        match self {
            Self::Invalid(_) => VerdictClass::Invalid,
            Self::Preparation(e) if e.is_deterministic() => VerdictClass::Invalid,
            Self::PossiblyInvalid(_) => VerdictClass::PossiblyInvalid,
            Self::Preparation(_) | Self::Internal(_) | Self::ExecutionDeadline => {
                VerdictClass::Error
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_faults_are_never_invalid() {
        let local = [
            ValidationError::Preparation(PrepareError::TimedOut),
            ValidationError::Preparation(PrepareError::JobDied("SIGKILL".into())),
            ValidationError::Preparation(PrepareError::IoErr("disk full".into())),
            ValidationError::Preparation(PrepareError::WorkerFailed("gone".into())),
            ValidationError::Internal(InternalValidationError::WorkerSpawn("x".into())),
            ValidationError::PossiblyInvalid(PossiblyInvalidError::AmbiguousWorkerDeath),
            ValidationError::ExecutionDeadline,
        ];
        for e in local {
            assert_ne!(e.class(), VerdictClass::Invalid, "{e:?}");
        }
        assert_eq!(
            ValidationError::Preparation(PrepareError::Prevalidation("x".into())).class(),
            VerdictClass::Invalid
        );
    }
}
