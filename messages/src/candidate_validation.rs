//! Overseer messages of candidate validation, and the verdicts they carry.
//!
//! These are the types a caller (backing, approval voting, dispute participation, our workload
//! driver) exchanges with the candidate-validation subsystem, shaped after Polkadot's
//! `CandidateValidationMessage` so that code written against Polkadot reads the same here.
//!
//! Two rules shape the verdict types:
//! - **The reference's verdicts.** A deterministic failure of the candidate, and a
//!   possibly-invalid outcome that persisted after the reference's retries, become
//!   [`CandidateVerdict::Invalid`]; what this host proves local (a worker that could not
//!   spawn, a stalled job, an unusable artifact, a host that stopped) is a
//!   [`ValidationFailed`]: no vote either way. [`crate::verdict_policy`] is the one place that
//!   decides which is which.
//! - **Names do not clash with the PVF's output**: [`crate::ValidationResult`] is what
//!   `validate_block` returns; [`CandidateVerdict`] is what candidate validation concludes.
//!
//! The runtime-API stand-in's messages ([`RuntimeApiMessage`]) live here too: candidate
//! validation sends them to fetch code and executor parameters for pre-checks.

use crate::{
    error::{InvalidCandidate, ValidationError, VerdictClass},
    executor_params::ExecutorParams,
    primitives::{
        Hash, HeadData, OutboundHrmpMessage, PersistedValidationData, PoV, PvfExecKind,
        ValidationCode, ValidationCodeHash, ValidationResult, blake2_256,
    },
};
use futures::channel::oneshot;
use parity_scale_codec::{Decode, Encode};
use std::sync::Arc;

/// A parachain id.
pub type ParaId = u32;

/// The hash candidate descriptors commit to for their [`PersistedValidationData`]:
/// BLAKE2b-256 of its SCALE encoding (as Polkadot's `PersistedValidationData::hash`).
pub fn persisted_validation_data_hash(data: &PersistedValidationData) -> Hash {
    blake2_256(&data.encode())
}

/// What a candidate claims about itself, checked against the data it comes with.
///
/// Polkadot's (v1) `CandidateDescriptor` without the collator id and signature: those are
/// checked by backing, not by validation. Field order follows Polkadot's.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct CandidateDescriptor {
    /// The parachain.
    pub para_id: ParaId,
    /// The relay-chain block the candidate is built on.
    pub relay_parent: Hash,
    /// [`persisted_validation_data_hash`] of the validation data.
    pub persisted_validation_data_hash: Hash,
    /// [`PoV::hash`] of the proof of validity.
    pub pov_hash: Hash,
    /// The root of the erasure-coding Merkle tree (not checked by validation).
    pub erasure_root: Hash,
    /// [`HeadData::hash`] of the head the PVF must output.
    pub para_head: Hash,
    /// The hash of the code the candidate must be validated with.
    pub validation_code_hash: ValidationCodeHash,
}

/// The outputs of a valid candidate, as committed to on chain.
///
/// Same fields, order and SCALE layout as Polkadot's `CandidateCommitments`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct CandidateCommitments {
    /// Messages to the relay chain.
    pub upward_messages: Vec<Vec<u8>>,
    /// Messages to other parachains.
    pub horizontal_messages: Vec<OutboundHrmpMessage>,
    /// An upgrade of the validation code, if the block schedules one.
    pub new_validation_code: Option<ValidationCode>,
    /// The new head.
    pub head_data: HeadData,
    /// How many downward messages the block processed.
    pub processed_downward_messages: u32,
    /// The relay-chain block number up to which HRMP messages were processed.
    pub hrmp_watermark: u32,
}

impl CandidateCommitments {
    /// BLAKE2b-256 of the SCALE encoding (what [`CandidateReceipt::commitments_hash`] holds).
    pub fn hash(&self) -> Hash {
        blake2_256(&self.encode())
    }
}

impl From<ValidationResult> for CandidateCommitments {
    fn from(r: ValidationResult) -> Self {
        Self {
            upward_messages: r.upward_messages,
            horizontal_messages: r.horizontal_messages,
            new_validation_code: r.new_validation_code,
            head_data: r.head_data,
            processed_downward_messages: r.processed_downward_messages,
            hrmp_watermark: r.hrmp_watermark,
        }
    }
}

/// A candidate as backing sees it: its descriptor and a hash of its commitments.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct CandidateReceipt {
    /// The descriptor.
    pub descriptor: CandidateDescriptor,
    /// [`CandidateCommitments::hash`] of the commitments the candidate must produce.
    pub commitments_hash: Hash,
}

impl CandidateReceipt {
    /// BLAKE2b-256 of the SCALE encoding: the candidate's identity in logs.
    pub fn hash(&self) -> Hash {
        blake2_256(&self.encode())
    }
}

/// Why a candidate is invalid. Every variant is deterministic: any honest validator with the
/// same inputs reaches the same conclusion.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum InvalidCandidateReason {
    /// The encoded PoV is larger than the validation data's `max_pov_size`.
    #[error("the PoV is {pov_size} bytes, more than the maximum of {max_pov_size}")]
    PoVTooLarge {
        /// Size of the SCALE-encoded PoV.
        pov_size: u64,
        /// The limit from [`PersistedValidationData::max_pov_size`].
        max_pov_size: u32,
    },
    /// The PoV does not hash to the descriptor's `pov_hash`.
    #[error("the PoV does not match the descriptor's PoV hash")]
    PoVHashMismatch,
    /// The code does not hash to the descriptor's `validation_code_hash`.
    #[error("the validation code does not match the descriptor's code hash")]
    CodeHashMismatch,
    /// The validation data does not hash to the descriptor's `persisted_validation_data_hash`.
    #[error("the validation data does not match the descriptor's hash of it")]
    PersistedValidationDataHashMismatch,
    /// The PVF's output head does not hash to the descriptor's `para_head`.
    #[error("the output head does not match the descriptor's para head hash")]
    ParaHeadHashMismatch,
    /// The PVF's outputs do not hash to the receipt's `commitments_hash`.
    #[error("the outputs do not match the receipt's commitments hash")]
    CommitmentsHashMismatch,
    /// The PVF rejected the candidate (trap, malformed result, timeout).
    #[error("{0}")]
    Execution(InvalidCandidate),
}

/// The conclusion of a validation that reached one (Polkadot's
/// `polkadot_node_primitives::ValidationResult`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CandidateVerdict {
    /// Valid: the commitments it produced and the validation data it was checked with.
    Valid(CandidateCommitments, PersistedValidationData),
    /// Invalid, and why.
    Invalid(InvalidCandidateReason),
}

impl CandidateVerdict {
    /// [`VerdictClass::Valid`] or [`VerdictClass::Invalid`].
    pub fn class(&self) -> VerdictClass {
        match self {
            Self::Valid(..) => VerdictClass::Valid,
            Self::Invalid(_) => VerdictClass::Invalid,
        }
    }
}

/// No verdict could be reached; the caller must not vote on the candidate because of it
/// (Polkadot's `ValidationFailed`, typed so that callers can still count outcome classes).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ValidationFailed {
    /// The host answered with an error that is no vote: a local fault it proved, a
    /// preparation failure, or a deadline that passed. Never carries an error of class
    /// [`VerdictClass::Invalid`] or [`VerdictClass::PossiblyInvalid`] (see
    /// [`verdict_from_host_error`]).
    #[error("{0}")]
    Host(ValidationError),
    /// The subsystem stopped (`Conclude`) before the host answered.
    #[error("candidate validation is shutting down")]
    ShuttingDown,
    /// Any other local fault.
    #[error("{0}")]
    Other(String),
}

impl ValidationFailed {
    /// The class of the host's error if it carries one ([`VerdictClass::Error`] for every
    /// error [`verdict_from_host_error`] leaves without a vote), else [`VerdictClass::Error`].
    /// Never [`VerdictClass::Invalid`].
    pub fn class(&self) -> VerdictClass {
        match self {
            Self::Host(e) if e.class() == VerdictClass::PossiblyInvalid => {
                VerdictClass::PossiblyInvalid
            }
            _ => VerdictClass::Error,
        }
    }
}

pub use crate::verdict_policy::verdict_from_host_error;

/// The answer to a [`CandidateValidationMessage::PreCheck`] (Polkadot's `PreCheckOutcome`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PreCheckOutcome {
    /// The code prepared: vote for the upgrade.
    Valid,
    /// The code failed to prepare for a deterministic reason: vote against the upgrade.
    Invalid,
    /// No conclusion (code or executor parameters not found, a local fault, a shutdown):
    /// do not vote.
    Failed,
}

/// What the caller of [`CandidateValidationMessage::ValidateFromExhaustive`] receives.
pub type ValidationResponse = Result<CandidateVerdict, ValidationFailed>;

/// Requests to the candidate-validation subsystem. Each is answered exactly once on its
/// channel, or the channel is dropped (the caller sees `Canceled`) if the subsystem is a
/// dummy or stops before it reads the request.
// Polkadot's shape: a request is moved a handful of times, never stored in bulk, so the
// size of the large variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum CandidateValidationMessage {
    /// Validate a candidate with everything provided: no chain state is consulted.
    ValidateFromExhaustive {
        /// The validation data the candidate is built on.
        validation_data: PersistedValidationData,
        /// The code to validate with (must hash to the descriptor's code hash).
        validation_code: ValidationCode,
        /// The candidate.
        candidate_receipt: CandidateReceipt,
        /// The proof of validity.
        pov: Arc<PoV>,
        /// The session's executor parameters.
        executor_params: ExecutorParams,
        /// Backing, approval or dispute: decides the timeout, priority and retries.
        exec_kind: PvfExecKind,
        /// Where the verdict goes.
        response_sender: oneshot::Sender<ValidationResponse>,
    },
    /// Pre-check the code with this hash, fetched from the runtime API at `relay_parent`.
    PreCheck {
        /// The relay-chain block to read the code and the executor parameters at.
        relay_parent: Hash,
        /// The code to pre-check.
        validation_code_hash: ValidationCodeHash,
        /// Where the outcome goes.
        response_sender: oneshot::Sender<PreCheckOutcome>,
    },
    /// Prepare the code with these hashes ahead of need (Polkadot's PVF heads-up): each is
    /// fetched from the runtime API and handed to the host, which prepares it when a prepare
    /// worker is free, with the executor parameters of `relay_parent`'s session.
    HeadsUp {
        /// The relay-chain block to read the code and the executor parameters at.
        relay_parent: Hash,
        /// The code to prepare.
        validation_code_hashes: Vec<ValidationCodeHash>,
        /// Answered once every known code is handed to the host (not once it is prepared).
        response_sender: oneshot::Sender<Result<(), HeadsUpError>>,
    },
}

/// Why a [`CandidateValidationMessage::HeadsUp`] did not hand every code to the host.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum HeadsUpError {
    /// The runtime API knows no code with these hashes; the others were handed to the host.
    #[error("unknown validation code: {}", hash_list(.0))]
    UnknownCode(Vec<ValidationCodeHash>),
    /// The runtime API knows no executor parameters for this relay parent: nothing was
    /// handed to the host.
    #[error("no executor parameters known at relay parent {0}")]
    UnknownExecutorParams(Hash),
    /// The subsystem stopped before every code was handed to the host.
    #[error("candidate validation is shutting down")]
    ShuttingDown,
}

fn hash_list(hashes: &[ValidationCodeHash]) -> String {
    hashes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Requests to the runtime-API stand-in: the chain state candidate validation needs.
#[derive(Debug)]
pub enum RuntimeApiMessage {
    /// The validation code with this hash, if known.
    ValidationCodeByHash(ValidationCodeHash, oneshot::Sender<Option<ValidationCode>>),
    /// The executor parameters of the session of this relay parent, if known.
    SessionExecutorParams(Hash, oneshot::Sender<Option<ExecutorParams>>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{InternalValidationError, PossiblyInvalidError, PrepareError};

    #[test]
    fn commitments_from_result_keep_every_output() {
        let r = ValidationResult {
            head_data: HeadData(vec![1, 2]),
            new_validation_code: Some(ValidationCode(vec![3])),
            upward_messages: vec![vec![4]],
            horizontal_messages: vec![OutboundHrmpMessage {
                recipient: 5,
                data: vec![6],
            }],
            processed_downward_messages: 7,
            hrmp_watermark: 8,
        };
        let c = CandidateCommitments::from(r.clone());
        assert_eq!(c.head_data, r.head_data);
        assert_eq!(c.new_validation_code, r.new_validation_code);
        assert_eq!(c.upward_messages, r.upward_messages);
        assert_eq!(c.horizontal_messages, r.horizontal_messages);
        assert_eq!(c.processed_downward_messages, 7);
        assert_eq!(c.hrmp_watermark, 8);
        // Polkadot's field order: upward, horizontal, code, head, dmp, watermark.
        let mut expected = vec![4, 4, 4, 4, 5, 0, 0, 0, 4, 6, 1, 4, 3, 8, 1, 2];
        expected.extend(7u32.to_le_bytes());
        expected.extend(8u32.to_le_bytes());
        assert_eq!(c.encode(), expected);
    }

    #[test]
    fn only_votes_become_verdicts() {
        let invalid = [
            ValidationError::Invalid(InvalidCandidate::HardTimeout),
            ValidationError::PossiblyInvalid(PossiblyInvalidError::AmbiguousWorkerDeath),
        ];
        for e in invalid {
            assert!(matches!(
                verdict_from_host_error(e),
                Ok(CandidateVerdict::Invalid(_))
            ));
        }
        let no_verdict = [
            // Even a deterministic preparation error: pre-checking is where code is judged.
            ValidationError::Preparation(PrepareError::Prevalidation("x".into())),
            ValidationError::Preparation(PrepareError::TimedOut),
            ValidationError::Internal(InternalValidationError::Io("x".into())),
            ValidationError::ExecutionDeadline,
        ];
        for e in no_verdict {
            let failed = verdict_from_host_error(e.clone()).unwrap_err();
            assert_eq!(failed.class(), VerdictClass::Error);
            assert_eq!(failed, ValidationFailed::Host(e));
        }
    }
}
