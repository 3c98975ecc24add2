//! The collator's stand-in for candidate validation.

use super::LOG_TARGET;
use crate::overseer::{self, FromOrchestra, Signal, SpawnedSubsystem, SubsystemError};
use pvf_messages::candidate_validation::CandidateValidationMessage;

/// Fills the candidate-validation slot of a collator's overseer: a collator never validates,
/// so this starts no host and no worker. Every request is read and dropped with its response
/// channel (the caller sees `Canceled`, never a verdict), with a log line; it ends on
/// `Conclude`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CandidateValidationDummy;

#[overseer::subsystem(CandidateValidation, error = SubsystemError, prefix = crate::overseer)]
impl<Context> CandidateValidationDummy {
    fn start(self, ctx: Context) -> SpawnedSubsystem<SubsystemError> {
        SpawnedSubsystem {
            name: "candidate-validation-dummy",
            future: Box::pin(run(ctx)),
        }
    }
}

#[overseer::contextbounds(CandidateValidation, prefix = crate::overseer)]
async fn run<Context>(mut ctx: Context) -> Result<(), SubsystemError> {
    loop {
        match ctx.recv().await? {
            FromOrchestra::Signal(Signal::Conclude) => return Ok(()),
            FromOrchestra::Signal(Signal::ActiveLeaves(_)) => {}
            FromOrchestra::Communication { msg } => {
                let (kind, code_hash) = match &msg {
                    CandidateValidationMessage::ValidateFromExhaustive {
                        candidate_receipt,
                        ..
                    } => (
                        "validation",
                        candidate_receipt.descriptor.validation_code_hash,
                    ),
                    CandidateValidationMessage::PreCheck {
                        validation_code_hash,
                        ..
                    } => ("pre-check", *validation_code_hash),
                    CandidateValidationMessage::HeadsUp {
                        validation_code_hashes,
                        ..
                    } => match validation_code_hashes.first() {
                        Some(first) => ("heads-up", *first),
                        None => continue,
                    },
                };
                tracing::info!(
                    target: LOG_TARGET,
                    kind,
                    %code_hash,
                    "collator: dropping a candidate-validation request (no validation host)"
                );
                drop(msg);
            }
        }
    }
}
