//! Overseer messages of candidate backing: a validator asked to second a collation.
//!
//! In Polkadot, a collator hands its collation to a backing validator, whose candidate-backing
//! subsystem validates it (exec kind `Backing`) and, if valid, seconds it: signs a statement
//! that the candidate — receipt and PoV — is valid and distributes both. The network then
//! works with the candidate as seconded, not as the collator sent it. This node has no
//! statement distribution; `pvf-node serve` answers the seconded candidate to whoever asked
//! (the scenario runner's relay-chain stand-in), which distributes it to the other backers
//! and the approval checkers.
//!
//! Keeping seconding a message of its own (rather than a validation request) is what lets a
//! malus node lie the way the reference's `suggest-garbage-candidate` does: it intercepts
//! [`CandidateBackingMessage::Second`], validates the honest collation, then seconds a
//! candidate with a garbage PoV under a receipt built to look honest.

use crate::{
    candidate_validation::{CandidateReceipt, ValidationFailed},
    executor_params::ExecutorParams,
    primitives::{PersistedValidationData, PoV, PvfExecKind, ValidationCode},
};
use futures::channel::oneshot;
use std::sync::Arc;

/// A candidate as seconded: its receipt and its PoV.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SecondedCandidate {
    /// The receipt the backer vouches for.
    pub candidate_receipt: CandidateReceipt,
    /// The PoV the backer distributes with it.
    pub pov: Arc<PoV>,
}

/// The answer to [`CandidateBackingMessage::Second`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SecondOutcome {
    /// The collation was found valid and is seconded as this candidate.
    Seconded(SecondedCandidate),
    /// The collation was found invalid: not seconded (the reason, for logs).
    Invalid(String),
    /// No verdict was reached (a local fault, a deadline): not seconded.
    Failed(ValidationFailed),
}

/// Requests to the candidate-backing subsystem. Each is answered exactly once, or the
/// channel is dropped if the subsystem stops before it reads the request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum CandidateBackingMessage {
    /// Validate a collation (exec kind `Backing` or `BackingSystemParas`) and second it if
    /// it is valid.
    Second {
        /// The validation data the collation is built on.
        validation_data: PersistedValidationData,
        /// The code to validate with.
        validation_code: ValidationCode,
        /// The receipt the collator built.
        candidate_receipt: CandidateReceipt,
        /// The proof of validity.
        pov: Arc<PoV>,
        /// The session's executor parameters.
        executor_params: ExecutorParams,
        /// `Backing` or `BackingSystemParas`.
        exec_kind: PvfExecKind,
        /// Where the outcome goes.
        response_sender: oneshot::Sender<SecondOutcome>,
    },
}
