//! Turning what a worker said (or did not say) into a typed outcome.
//!
//! Three classes come out (what becomes of each is [`pvf_messages::verdict_policy`]'s call):
//! - invalid: the PVF trapped, returned garbage, or used up its CPU budget (as measured by the
//!   worker, or as reported by it on an `Ok`: a worker that reports a result after its budget
//!   ran out is not believed);
//! - possibly invalid, as in the reference: a worker or job that died, a job that panicked, a
//!   runtime that could not be built from a sound artifact;
//! - internal (no vote ever): what this host proves local — a stalled job, an unusable
//!   artifact, a kernel or protocol failure of the worker.
//!
//! [`verdict_class`] then says how `pvf_host_verdicts_total` counts a final answer.

use super::worker::{RequestError, SpawnError};
use pvf_messages::{
    InternalValidationError, InvalidCandidate, PossiblyInvalidError, PrepareError, ValidationError,
    ValidationResult,
    host::ValidationOutcome,
    protocol::{ExecuteResponse, PrepareResponse, PrepareSuccess},
};
use pvf_metrics::VerdictClass as MetricsVerdict;
use std::time::Duration;

/// Classifies a failure to bring up a worker.
pub fn spawn_error(err: SpawnError) -> ValidationError {
    ValidationError::Internal(match err {
        SpawnError::VersionMismatch { node, worker, .. } => {
            InternalValidationError::VersionMismatch {
                node,
                worker: format!("{} ({})", worker.version, worker.build_id),
            }
        }
        e @ SpawnError::Sandbox { .. } => InternalValidationError::Sandbox(e.to_string()),
        other => InternalValidationError::WorkerSpawn(other.to_string()),
    })
}

/// Classifies the answer to a preparation request.
pub fn prepare_outcome(
    answer: Result<PrepareResponse, RequestError>,
) -> Result<PrepareSuccess, PrepareError> {
    match answer {
        Ok(response) => response,
        Err(RequestError::TimedOut(_)) => Err(PrepareError::TimedOut),
        Err(RequestError::Died(how) | RequestError::Stalled(how)) => {
            Err(PrepareError::WorkerFailed(how))
        }
        Err(RequestError::Protocol(e)) => Err(PrepareError::IoErr(e.to_string())),
    }
}

/// A successful execution: the PVF's result and the job's CPU time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    /// What `validate_block` returned.
    pub result: ValidationResult,
    /// CPU time of the job, in nanoseconds.
    pub cpu_time_ns: u64,
}

/// Classifies the answer to an execution request that ran with a CPU budget of `budget`.
pub fn execute_outcome(
    answer: Result<ExecuteResponse, RequestError>,
    budget: Duration,
) -> Result<Executed, ValidationError> {
    use ValidationError as V;
    match answer {
        // Checked again here, as the reference's host does: a worker that lies (or was too
        // slow to stop its job) is not believed.
        Ok(ExecuteResponse::Ok { cpu_time_ns, .. })
            if Duration::from_nanos(cpu_time_ns) >= budget =>
        {
            tracing::warn!(
                cpu_time = ?Duration::from_nanos(cpu_time_ns),
                ?budget,
                "an execution answered after its CPU budget ran out: a hard timeout"
            );
            Err(V::Invalid(InvalidCandidate::HardTimeout))
        }
        Ok(ExecuteResponse::Ok {
            result,
            cpu_time_ns,
        }) => Ok(Executed {
            result,
            cpu_time_ns,
        }),
        Ok(ExecuteResponse::Invalid(msg)) => {
            Err(V::Invalid(InvalidCandidate::WorkerReportedInvalid(msg)))
        }
        Ok(ExecuteResponse::PoVDecompressionFailure) => {
            Err(V::Invalid(InvalidCandidate::PoVDecompressionFailure))
        }
        Ok(ExecuteResponse::TimedOut { .. }) | Err(RequestError::TimedOut(_)) => {
            Err(V::Invalid(InvalidCandidate::HardTimeout))
        }
        Ok(ExecuteResponse::RuntimeConstruction(msg)) => Err(V::PossiblyInvalid(
            PossiblyInvalidError::RuntimeConstruction(msg),
        )),
        Ok(ExecuteResponse::JobError(msg)) => {
            Err(V::PossiblyInvalid(PossiblyInvalidError::JobError(msg)))
        }
        Ok(ExecuteResponse::JobDied(msg)) => Err(V::PossiblyInvalid(
            PossiblyInvalidError::AmbiguousJobDeath(msg),
        )),
        Ok(ExecuteResponse::CorruptedArtifact) => {
            Err(V::Internal(InternalValidationError::CorruptedArtifact(
                "missing, unreadable, or not matching its checksum".into(),
            )))
        }
        Ok(ExecuteResponse::Internal(msg)) => {
            Err(V::Internal(InternalValidationError::Kernel(msg)))
        }
        Err(RequestError::Died(_)) => Err(V::PossiblyInvalid(
            PossiblyInvalidError::AmbiguousWorkerDeath,
        )),
        Err(RequestError::Stalled(why)) => {
            Err(V::Internal(InternalValidationError::JobStalled(why)))
        }
        Err(RequestError::Protocol(e)) => Err(V::Internal(
            InternalValidationError::HostCommunication(e.to_string()),
        )),
    }
}

/// The class of a final answer, as `pvf_host_verdicts_total` counts it: what the node does
/// with it ([`pvf_messages::verdict_policy::verdict_from_host_error`]). `invalid` and `possibly-invalid`
/// are votes against the candidate (a deterministic failure; an ambiguous one that persisted
/// through the retries); everything that is no vote, a deterministic preparation failure
/// included, is `error`.
pub(super) fn verdict_class(outcome: &ValidationOutcome) -> MetricsVerdict {
    match outcome {
        Ok(_) => MetricsVerdict::Valid,
        Err(ValidationError::Invalid(_)) => MetricsVerdict::Invalid,
        Err(ValidationError::PossiblyInvalid(_)) => MetricsVerdict::PossiblyInvalid,
        Err(
            ValidationError::Preparation(_)
            | ValidationError::Internal(_)
            | ValidationError::ExecutionDeadline,
        ) => MetricsVerdict::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pvf_messages::{VerdictClass, frame::FrameError, verdict_policy};

    const BUDGET: Duration = Duration::from_secs(1);

    fn class(answer: Result<ExecuteResponse, RequestError>) -> VerdictClass {
        match execute_outcome(answer, BUDGET) {
            Ok(_) => VerdictClass::Valid,
            Err(e) => e.class(),
        }
    }

    #[test]
    fn only_the_pvfs_own_failures_are_invalid() {
        use VerdictClass::*;
        let cases: Vec<(Result<ExecuteResponse, RequestError>, VerdictClass)> = vec![
            (Ok(ExecuteResponse::Invalid("trap".into())), Invalid),
            (Ok(ExecuteResponse::TimedOut { cpu_time_ns: 1 }), Invalid),
            (Err(RequestError::TimedOut(Duration::from_secs(8))), Invalid),
            (
                Ok(ExecuteResponse::RuntimeConstruction("x".into())),
                PossiblyInvalid,
            ),
            (
                Ok(ExecuteResponse::JobError("panic".into())),
                PossiblyInvalid,
            ),
            (
                Ok(ExecuteResponse::JobDied("SIGKILL".into())),
                PossiblyInvalid,
            ),
            (Ok(ExecuteResponse::Internal("fork".into())), Error),
            (Ok(ExecuteResponse::CorruptedArtifact), Error),
            (Err(RequestError::Died("killed".into())), PossiblyInvalid),
            (Err(RequestError::Stalled("stopped".into())), Error),
            (
                Err(RequestError::Protocol(FrameError::Decode("x".into()))),
                Error,
            ),
        ];
        for (answer, expected) in cases {
            let shown = format!("{answer:?}");
            assert_eq!(class(answer), expected, "{shown}");
        }
    }

    #[test]
    fn a_result_reported_past_the_budget_is_a_hard_timeout() {
        let ok = |cpu: Duration| {
            Ok(ExecuteResponse::Ok {
                result: ValidationResult {
                    head_data: pvf_messages::HeadData(vec![1]),
                    new_validation_code: None,
                    upward_messages: vec![],
                    horizontal_messages: vec![],
                    processed_downward_messages: 0,
                    hrmp_watermark: 0,
                },
                cpu_time_ns: cpu.as_nanos() as u64,
            })
        };
        assert!(execute_outcome(ok(BUDGET - Duration::from_nanos(1)), BUDGET).is_ok());
        for cpu in [BUDGET, Duration::from_millis(1449)] {
            assert_eq!(
                execute_outcome(ok(cpu), BUDGET).unwrap_err(),
                ValidationError::Invalid(InvalidCandidate::HardTimeout),
                "{cpu:?}"
            );
        }
    }

    #[test]
    fn prepare_worker_faults_are_not_deterministic() {
        for answer in [
            Err(RequestError::TimedOut(Duration::from_secs(1))),
            Err(RequestError::Died("killed".into())),
            Err(RequestError::Protocol(FrameError::Closed)),
        ] {
            let err = prepare_outcome(answer).unwrap_err();
            assert!(!err.is_deterministic(), "{err:?}");
        }
    }

    #[test]
    fn verdict_classes_count_votes_and_no_votes_as_the_node_answers() {
        let deterministic_prep =
            ValidationError::Preparation(PrepareError::Prevalidation("x".into()));
        assert_eq!(
            deterministic_prep.class(),
            pvf_messages::VerdictClass::Invalid
        );
        assert!(verdict_policy::verdict_from_host_error(deterministic_prep.clone()).is_err());
        assert_eq!(
            verdict_class(&Err(deterministic_prep)),
            MetricsVerdict::Error
        );
        let trap = ValidationError::Invalid(InvalidCandidate::HardTimeout);
        assert!(verdict_policy::verdict_from_host_error(trap.clone()).is_ok());
        assert_eq!(verdict_class(&Err(trap)), MetricsVerdict::Invalid);
        let death = ValidationError::PossiblyInvalid(PossiblyInvalidError::AmbiguousWorkerDeath);
        assert!(verdict_policy::verdict_from_host_error(death.clone()).is_ok());
        assert_eq!(verdict_class(&Err(death)), MetricsVerdict::PossiblyInvalid);
        assert_eq!(
            verdict_class(&Err(ValidationError::ExecutionDeadline)),
            MetricsVerdict::Error
        );
    }
}
