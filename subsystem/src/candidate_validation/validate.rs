//! One candidate: basic checks, execution through the host, checks of the outputs.

use super::LOG_TARGET;
use crate::host::ValidationHost;
use parity_scale_codec::Encode;
use pvf_messages::{
    PersistedValidationData, PoV, PvfExecKind, PvfPrepKind, ValidationCode, ValidationError,
    ValidationParams,
    candidate_validation::{
        CandidateCommitments, CandidateReceipt, CandidateVerdict, InvalidCandidateReason,
        ValidationFailed, ValidationResponse, persisted_validation_data_hash,
        verdict_from_host_error,
    },
    executor_params::ExecutorParams,
    host::PvfPrepData,
    primitives::COMPRESSED_BLOB_MAGIC,
};
use std::sync::Arc;

/// The inputs of a `ValidateFromExhaustive` request, without its response channel.
pub(super) struct Candidate {
    pub validation_data: PersistedValidationData,
    pub validation_code: ValidationCode,
    pub candidate_receipt: CandidateReceipt,
    pub pov: Arc<PoV>,
    pub executor_params: ExecutorParams,
    pub exec_kind: PvfExecKind,
}

fn invalid(reason: InvalidCandidateReason) -> ValidationResponse {
    Ok(CandidateVerdict::Invalid(reason))
}

/// The `validity` label of `polkadot_parachain_validation_requests_total` for an answer:
/// the reference's labels (`valid`, `invalid`, `internal failure (prepare|execute|misc)`).
pub(super) fn validity_label(answer: &ValidationResponse) -> &'static str {
    match answer {
        Ok(CandidateVerdict::Valid(..)) => "valid",
        Ok(CandidateVerdict::Invalid(_)) => "invalid",
        Err(ValidationFailed::Host(ValidationError::Preparation(_))) => {
            "internal failure (prepare)"
        }
        Err(ValidationFailed::Host(_)) => "internal failure (execute)",
        Err(_) => "internal failure (misc)",
    }
}

/// Records the code and PoV sizes as the reference does where this node knows them: a
/// blob that is not compressed is its own decompressed size; a compressed PoV is recorded as
/// `compressed="true"`. (Compressed code and the decompressed size of a compressed PoV are
/// only known inside the workers, which decompress them.)
fn observe_sizes(metrics: &pvf_metrics::Metrics, code: &[u8], pov: &[u8]) {
    let compressed = |b: &[u8]| b.starts_with(&COMPRESSED_BLOB_MAGIC);
    if !compressed(code) {
        metrics.observe_code_size(code.len());
    }
    metrics.observe_pov_size(pov.len(), compressed(pov));
}

/// Validates `c`: the host is asked only if every basic check passes.
pub(super) async fn validate(
    host: &ValidationHost,
    metrics: &pvf_metrics::Metrics,
    c: Candidate,
) -> ValidationResponse {
    let descriptor = &c.candidate_receipt.descriptor;

    // Basic checks, cheapest first. Each is deterministic: every honest validator with the
    // same inputs rejects the candidate the same way, without running any code.
    let pov_size = c.pov.encoded_size() as u64;
    if pov_size > u64::from(c.validation_data.max_pov_size) {
        return invalid(InvalidCandidateReason::PoVTooLarge {
            pov_size,
            max_pov_size: c.validation_data.max_pov_size,
        });
    }
    if c.pov.hash() != descriptor.pov_hash {
        return invalid(InvalidCandidateReason::PoVHashMismatch);
    }
    observe_sizes(metrics, &c.validation_code.0, &c.pov.block_data.0);
    // Hashes the code once, for both the check and the host's artifact key.
    let exec_timeout = c.executor_params.exec_timeout(c.exec_kind);
    let pvf = PvfPrepData::new(c.validation_code, c.executor_params, PvfPrepKind::Prepare);
    if pvf.code_hash != descriptor.validation_code_hash {
        return invalid(InvalidCandidateReason::CodeHashMismatch);
    }
    if persisted_validation_data_hash(&c.validation_data)
        != descriptor.persisted_validation_data_hash
    {
        return invalid(InvalidCandidateReason::PersistedValidationDataHashMismatch);
    }

    let params = ValidationParams {
        parent_head: c.validation_data.parent_head.clone(),
        // Moves the block out when the caller kept no other reference to the PoV.
        block_data: Arc::try_unwrap(c.pov)
            .map(|pov| pov.block_data)
            .unwrap_or_else(|pov| pov.block_data.clone()),
        relay_parent_number: c.validation_data.relay_parent_number,
        relay_parent_storage_root: c.validation_data.relay_parent_storage_root,
    };
    let started = std::time::Instant::now();
    let outcome = host
        .execute_pvf(
            pvf,
            params,
            exec_timeout,
            c.exec_kind,
            Some(descriptor.relay_parent),
        )
        .await;
    metrics.observe_validate_candidate_exhaustive(started.elapsed());

    let result = match outcome {
        Ok(result) => result,
        Err(e) => {
            tracing::debug!(
                target: LOG_TARGET,
                candidate = %c.candidate_receipt.hash(),
                error = %e,
                class = e.class().as_str(),
                "the host gave no valid result"
            );
            return verdict_from_host_error(e);
        }
    };

    // Checks of the outputs against what the candidate committed to.
    if result.head_data.hash() != descriptor.para_head {
        return invalid(InvalidCandidateReason::ParaHeadHashMismatch);
    }
    let commitments = CandidateCommitments::from(result);
    if commitments.hash() != c.candidate_receipt.commitments_hash {
        return invalid(InvalidCandidateReason::CommitmentsHashMismatch);
    }
    Ok(CandidateVerdict::Valid(commitments, c.validation_data))
}
