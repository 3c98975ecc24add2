//! The verdict policy: what becomes of each execution outcome, per kind of execution.
//!
//! This is the one place that decides (the host actor, the one-shot host behind
//! `pvf-node validate` and candidate validation all ask it):
//! - whether a failed execution is tried again ([`next_step`]), after what delay, and
//!   whether its artifact is prepared again first;
//! - whether an artifact is deleted ([`Next::RePrepareAndRetry`], [`is_unusable_artifact`]);
//! - which final outcome is a vote ([`verdict_from_host_error`]).
//!
//! It follows the reference (polkadot-sdk `candidate-validation`, `validate_candidate` and
//! `validate_candidate_with_retry`):
//! - **Backing never retries.** Every outcome is final at once.
//! - **Approval and dispute** retry once per class of failure: a death of the worker or the
//!   job, a job error (panic), an internal error — each after [`RETRY_DELAY`]; a
//!   runtime-construction failure — at once, after the artifact was deleted and prepared
//!   again. No retry starts unless `elapsed + RETRY_DELAY <= timeout`, and a retry runs with
//!   what is left of the execution timeout as its CPU budget.
//! - **Possibly invalid, after the retries, is `Invalid`** ([`InvalidCandidate::ExecutionError`]):
//!   otherwise a PVF that always kills its job would make every checker abstain and stall
//!   finality.
//!
//! Where this host is more precise than the reference, it is only where it can *prove* the
//! fault is local; those outcomes are [`ValidationError::Internal`] and never a vote: a
//! worker that could not be spawned, a version mismatch, cache I/O, a job that stalled without
//! using its CPU budget, an artifact that is missing or fails its checksum before it is mapped.
//! And one deliberate difference that changes no verdict: a backing failure never deletes an
//! artifact (the reference deletes it on a runtime-construction failure of any kind, so a PVF
//! that fails runtime construction on purpose makes every backer recompile it per candidate).
//! Only an artifact proven unusable (missing or failing its checksum, which no PVF can cause)
//! is deleted whatever the kind.

use crate::{
    candidate_validation::{CandidateVerdict, InvalidCandidateReason, ValidationFailed},
    error::{InternalValidationError, InvalidCandidate, PossiblyInvalidError, ValidationError},
    primitives::PvfExecKind,
};
use std::time::Duration;

/// Delay before an approval or dispute is retried after a death, a job error or an internal
/// error (the reference's `PVF_APPROVAL_EXECUTION_RETRY_DELAY`).
pub const RETRY_DELAY: Duration = Duration::from_secs(3);

/// Retries left per class of failure for one request (the reference's counters: one each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retries {
    death: u8,
    job_error: u8,
    internal: u8,
    runtime_construction: u8,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            death: 1,
            job_error: 1,
            internal: 1,
            runtime_construction: 1,
        }
    }
}

/// What to do after a failed execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The outcome is final: answer it.
    Answer,
    /// Run the request again after this delay, with what is left of its timeout.
    RetryAfter(Duration),
    /// Delete the artifact, prepare it again, and run the request again at once.
    RePrepareAndRetry,
}

/// Whether `e` proves the artifact unusable on this machine (missing, unreadable, or failing
/// the checksum recorded when it was prepared, caught before it is mapped). Such an artifact
/// is deleted whatever the kind of execution: no PVF can cause it, so deleting cannot be
/// turned against the node.
pub fn is_unusable_artifact(e: &ValidationError) -> bool {
    matches!(
        e,
        ValidationError::Internal(InternalValidationError::CorruptedArtifact(_))
    )
}

/// Decides what follows the failed execution `e` of a request of `kind` that has `retries`
/// left, `elapsed` since it was received, and an execution timeout of `timeout`, when retries
/// wait `retry_delay` ([`RETRY_DELAY`] but in tests). Takes the retry it grants from
/// `retries`.
pub fn next_step(
    kind: PvfExecKind,
    e: &ValidationError,
    retries: &mut Retries,
    elapsed: Duration,
    timeout: Duration,
    retry_delay: Duration,
) -> Next {
    use PossiblyInvalidError as P;
    use ValidationError as V;
    // As in the reference, even a retry that does not wait needs this much time left.
    if kind.is_backing() || elapsed + retry_delay > timeout {
        return Next::Answer;
    }
    let (counter, next) = match e {
        V::PossiblyInvalid(P::AmbiguousWorkerDeath | P::AmbiguousJobDeath(_)) => {
            (&mut retries.death, Next::RetryAfter(retry_delay))
        }
        V::PossiblyInvalid(P::JobError(_)) => {
            (&mut retries.job_error, Next::RetryAfter(retry_delay))
        }
        // An unusable artifact is the reference's `CorruptedArtifact`: prepared again, retried
        // at once; it shares the runtime-construction counter, as there.
        V::PossiblyInvalid(P::RuntimeConstruction(_)) => {
            (&mut retries.runtime_construction, Next::RePrepareAndRetry)
        }
        e if is_unusable_artifact(e) => {
            (&mut retries.runtime_construction, Next::RePrepareAndRetry)
        }
        V::Internal(_) => (&mut retries.internal, Next::RetryAfter(retry_delay)),
        V::Invalid(_) | V::Preparation(_) | V::ExecutionDeadline => return Next::Answer,
    };
    if *counter == 0 {
        return Next::Answer;
    }
    *counter -= 1;
    next
}

/// Maps the host's final answer (after [`next_step`]'s retries) to a verdict, or to no
/// verdict.
///
/// | host error | result |
/// |---|---|
/// | `Invalid(reason)` | `Ok(Invalid(Execution(reason)))` |
/// | `PossiblyInvalid(e)` | `Ok(Invalid(Execution(ExecutionError(e))))`, as the reference |
/// | `Preparation(..)` (deterministic or not) | `Err(Host(..))`: pre-checking judges code |
/// | `Internal(..)` (a local fault this host proved) | `Err(Host(..))` |
/// | `ExecutionDeadline` | `Err(Host(..))` |
pub fn verdict_from_host_error(e: ValidationError) -> Result<CandidateVerdict, ValidationFailed> {
    match e {
        ValidationError::Invalid(reason) => Ok(CandidateVerdict::Invalid(
            InvalidCandidateReason::Execution(reason),
        )),
        ValidationError::PossiblyInvalid(e) => Ok(CandidateVerdict::Invalid(
            InvalidCandidateReason::Execution(InvalidCandidate::ExecutionError(e.to_string())),
        )),
        // As in the reference: code that fails to prepare should have been rejected by
        // pre-checking before it was enacted. If it still fails here, this node may be the odd
        // one out (a memory limit, a CPU feature), so it does not vote against the candidate.
        other => Err(ValidationFailed::Host(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::PrepareError;

    const TIMEOUT: Duration = Duration::from_secs(12);

    fn death() -> ValidationError {
        ValidationError::PossiblyInvalid(PossiblyInvalidError::AmbiguousWorkerDeath)
    }

    fn construction() -> ValidationError {
        ValidationError::PossiblyInvalid(PossiblyInvalidError::RuntimeConstruction("x".into()))
    }

    fn corrupted() -> ValidationError {
        ValidationError::Internal(InternalValidationError::CorruptedArtifact("x".into()))
    }

    #[test]
    fn backing_never_retries() {
        for e in [death(), construction(), corrupted()] {
            let mut r = Retries::default();
            assert_eq!(
                next_step(
                    PvfExecKind::Backing,
                    &e,
                    &mut r,
                    Duration::ZERO,
                    TIMEOUT,
                    RETRY_DELAY
                ),
                Next::Answer
            );
        }
    }

    #[test]
    fn approval_and_dispute_retry_once_per_class() {
        for kind in [PvfExecKind::Approval, PvfExecKind::Dispute] {
            let mut r = Retries::default();
            let at = Duration::from_secs(1);
            assert_eq!(
                next_step(kind, &death(), &mut r, at, TIMEOUT, RETRY_DELAY),
                Next::RetryAfter(RETRY_DELAY)
            );
            assert_eq!(
                next_step(kind, &death(), &mut r, at, TIMEOUT, RETRY_DELAY),
                Next::Answer
            );
            // Another class still has its own retry, as in the reference.
            assert_eq!(
                next_step(kind, &construction(), &mut r, at, TIMEOUT, RETRY_DELAY),
                Next::RePrepareAndRetry
            );
            assert_eq!(
                next_step(kind, &corrupted(), &mut r, at, TIMEOUT, RETRY_DELAY),
                Next::Answer
            );
            let internal = ValidationError::Internal(InternalValidationError::Io("x".into()));
            assert_eq!(
                next_step(kind, &internal, &mut r, at, TIMEOUT, RETRY_DELAY),
                Next::RetryAfter(RETRY_DELAY)
            );
            for e in [
                ValidationError::Invalid(InvalidCandidate::HardTimeout),
                ValidationError::Preparation(PrepareError::TimedOut),
                ValidationError::ExecutionDeadline,
            ] {
                assert_eq!(
                    next_step(kind, &e, &mut Retries::default(), at, TIMEOUT, RETRY_DELAY),
                    Next::Answer
                );
            }
        }
    }

    #[test]
    fn no_retry_past_the_timeout() {
        let mut r = Retries::default();
        let late = TIMEOUT - RETRY_DELAY + Duration::from_millis(1);
        for e in [death(), construction()] {
            assert_eq!(
                next_step(
                    PvfExecKind::Approval,
                    &e,
                    &mut r,
                    late,
                    TIMEOUT,
                    RETRY_DELAY
                ),
                Next::Answer
            );
        }
        assert_eq!(r, Retries::default(), "nothing was taken");
    }

    #[test]
    fn possibly_invalid_is_invalid_and_proven_local_faults_are_no_vote() {
        for p in [
            PossiblyInvalidError::AmbiguousWorkerDeath,
            PossiblyInvalidError::AmbiguousJobDeath("SIGKILL".into()),
            PossiblyInvalidError::JobError("panic".into()),
            PossiblyInvalidError::RuntimeConstruction("x".into()),
        ] {
            let shown = p.to_string();
            match verdict_from_host_error(ValidationError::PossiblyInvalid(p)) {
                Ok(CandidateVerdict::Invalid(InvalidCandidateReason::Execution(
                    InvalidCandidate::ExecutionError(msg),
                ))) => assert_eq!(msg, shown),
                other => panic!("{other:?}"),
            }
        }
        for e in [
            corrupted(),
            ValidationError::Internal(InternalValidationError::JobStalled("x".into())),
            ValidationError::Internal(InternalValidationError::WorkerSpawn("x".into())),
            ValidationError::Preparation(PrepareError::Prevalidation("x".into())),
            ValidationError::ExecutionDeadline,
        ] {
            assert_eq!(
                verdict_from_host_error(e.clone()),
                Err(ValidationFailed::Host(e))
            );
        }
    }
}
