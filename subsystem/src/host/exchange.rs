//! One request to a worker and its raw answer, shared by the one-shot [`super::Host`] and the
//! host actor: how a request is built from what the node has, and the wall-clock limit it
//! runs under. Classification ([`super::classify`]) comes after, so that callers can still
//! tell a worker that died (drop it) from one that answered (keep it).

use super::{
    WALL_CLOCK_FACTOR,
    artifacts::{ArtifactId, CacheDir},
    worker::{RequestError, WorkerHandle},
};
use parity_scale_codec::Encode;
use pvf_messages::{
    ExecutorParams, PrepareError, ValidationParams,
    host::PvfPrepData,
    protocol::{
        ARTIFACT_FILE_NAME, ExecuteRequest, ExecuteResponse, PrepareRequest, PrepareResponse,
        PrepareSuccess,
    },
};
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

/// Asks a prepare worker to prepare `pvf`, with the wall-clock limit for its timeout.
pub async fn prepare(
    worker: &mut WorkerHandle,
    pvf: &PvfPrepData,
) -> Result<PrepareResponse, RequestError> {
    let req = PrepareRequest {
        code: pvf.code.0.clone(),
        executor_params: (*pvf.executor_params).clone(),
        kind: pvf.prep_kind,
        cpu_timeout_ms: pvf.prep_timeout.as_millis() as u64,
    };
    worker
        .request(&req, pvf.prep_timeout.saturating_mul(WALL_CLOCK_FACTOR))
        .await
}

/// Moves the artifact a successful preparation left in `worker`'s folder into the cache.
/// The file name is the protocol's, never one the job reports: the job ran untrusted code.
pub fn install(
    worker: &WorkerHandle,
    cache: &CacheDir,
    id: &ArtifactId,
    ok: &PrepareSuccess,
) -> Result<PathBuf, PrepareError> {
    cache.install(&worker.dir().join(ARTIFACT_FILE_NAME), id, ok.artifact_len)
}

/// Asks an execute worker to run `artifact` on `params` with a CPU-time budget of `timeout`,
/// with the wall-clock limit of [`WALL_CLOCK_FACTOR`] × `timeout`.
pub async fn execute(
    worker: &mut WorkerHandle,
    artifact: &Path,
    params: &ValidationParams,
    executor_params: &ExecutorParams,
    timeout: Duration,
) -> Result<ExecuteResponse, RequestError> {
    let req = ExecuteRequest {
        artifact_path: artifact.to_string_lossy().into_owned(),
        params: params.encode(),
        executor_params: executor_params.clone(),
        cpu_timeout_ms: timeout.as_millis() as u64,
        artifact_checksum: CacheDir::checksum_in_name(artifact).unwrap_or_default(),
    };
    worker
        .request(&req, timeout.saturating_mul(WALL_CLOCK_FACTOR))
        .await
}
