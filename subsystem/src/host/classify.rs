//! Turning what a worker said (or did not say) into a typed outcome.
//!
//! The rule: only a deterministic verdict about the PVF may become [`VerdictClass::Invalid`].
//! A worker that dies, hangs up or sends garbage is a local fault and is classified as
//! possibly-invalid (retryable) or internal, never as invalid.
//!
//! [`VerdictClass::Invalid`]: pvf_messages::VerdictClass::Invalid

use super::worker::{RequestError, SpawnError};
use pvf_messages::{
    InternalValidationError, InvalidCandidate, PossiblyInvalidError, PrepareError, ValidationError,
    ValidationResult,
    protocol::{ExecuteResponse, PrepareResponse, PrepareSuccess},
};

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
        Err(RequestError::Died(how)) => Err(PrepareError::WorkerFailed(how)),
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

/// Classifies the answer to an execution request.
pub fn execute_outcome(
    answer: Result<ExecuteResponse, RequestError>,
) -> Result<Executed, ValidationError> {
    use ValidationError as V;
    match answer {
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
            Err(V::PossiblyInvalid(PossiblyInvalidError::CorruptedArtifact))
        }
        Ok(ExecuteResponse::Internal(msg)) => {
            Err(V::Internal(InternalValidationError::Kernel(msg)))
        }
        Err(RequestError::Died(_)) => Err(V::PossiblyInvalid(
            PossiblyInvalidError::AmbiguousWorkerDeath,
        )),
        Err(RequestError::Protocol(e)) => Err(V::Internal(
            InternalValidationError::HostCommunication(e.to_string()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pvf_messages::{VerdictClass, frame::FrameError};
    use std::time::Duration;

    fn class(answer: Result<ExecuteResponse, RequestError>) -> VerdictClass {
        match execute_outcome(answer) {
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
            (Err(RequestError::Died("killed".into())), PossiblyInvalid),
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
}
