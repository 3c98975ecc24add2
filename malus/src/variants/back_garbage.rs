//! `back-garbage-candidate`: answers `Valid` for every candidate without running it, so
//! that garbage gets backed and honest approval checkers must catch it.
//!
//! The request never reaches the real validation (no worker runs, no metric moves).
//! Pre-checks and heads-ups pass unchanged.
//!
//! **The commitments of the lie.** A `Valid` verdict carries the candidate's outputs, but a
//! receipt commits only to hashes of them (the new head's hash, the commitments' hash), which
//! cannot be inverted. So the answer gives what can be known without running the block: the
//! outputs of a block that changes nothing — the parent head as the new head, no messages, no
//! code upgrade, the HRMP watermark at the relay parent's number (what a block that processes
//! nothing reports) — with the validation data of the request.

use super::{LOG_TARGET, log_intercept};
use crate::interceptor::{Interception, MessageInterceptor};
use pvf_messages::{
    PersistedValidationData,
    candidate_validation::{CandidateCommitments, CandidateValidationMessage, CandidateVerdict},
};

/// The variant's name on the command line and in its log lines.
pub const NAME: &str = "back-garbage-candidate";

/// The commitments the lie reports for a candidate built on `data` (see the module docs).
pub fn fake_commitments(data: &PersistedValidationData) -> CandidateCommitments {
    CandidateCommitments {
        head_data: data.parent_head.clone(),
        hrmp_watermark: data.relay_parent_number,
        ..CandidateCommitments::default()
    }
}

/// The interceptor in front of candidate validation.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackGarbage;

impl BackGarbage {
    /// The interceptor, with its start logged.
    pub fn new() -> Self {
        tracing::info!(target: LOG_TARGET, variant = NAME, "malus variant active");
        Self
    }
}

impl<Sender: Send + 'static> MessageInterceptor<Sender> for BackGarbage {
    type Message = CandidateValidationMessage;

    fn intercept_incoming(
        &self,
        _interception: &mut Interception<'_, Sender>,
        msg: CandidateValidationMessage,
    ) -> Option<CandidateValidationMessage> {
        match msg {
            CandidateValidationMessage::ValidateFromExhaustive {
                validation_data,
                candidate_receipt,
                response_sender,
                ..
            } => {
                let candidate = candidate_receipt.hash();
                let commitments = fake_commitments(&validation_data);
                log_intercept(NAME, candidate, "answered valid without running it");
                let _ =
                    response_sender.send(Ok(CandidateVerdict::Valid(commitments, validation_data)));
                None
            }
            other => Some(other),
        }
    }
}
