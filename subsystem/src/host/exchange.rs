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
        ARTIFACT_FILE_NAME, EXECUTE_JOB_DIR, ExecuteRequest, ExecuteResponse, PrepareRequest,
        PrepareResponse, PrepareSuccess,
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
        code_bomb_limit: pvf.code_bomb_limit,
        executor_params: (*pvf.executor_params).clone(),
        kind: pvf.prep_kind,
        cpu_timeout_ms: pvf.prep_timeout.as_millis() as u64,
    };
    let answer = worker
        .request(&req, pvf.prep_timeout.saturating_mul(WALL_CLOCK_FACTOR))
        .await;
    if let Ok(Err(PrepareError::ClearWorkerDir(why))) = &answer {
        // The worker stops after this answer (its next job would find what the last one
        // left); it is killed here too, so that it is never given another job.
        tracing::warn!(%why, "a prepare worker could not clear its folder; retiring it");
        worker.kill().await;
    }
    answer
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

/// [`install`] for a worker known by its folder (so that it can run on the blocking thread
/// pool, away from the worker handle): the installed path and the artifact's length.
pub fn install_from(
    worker_dir: &Path,
    cache: &CacheDir,
    id: &ArtifactId,
    ok: &PrepareSuccess,
) -> Result<(PathBuf, u64), PrepareError> {
    cache
        .install(&worker_dir.join(ARTIFACT_FILE_NAME), id, ok.artifact_len)
        .map(|path| (path, ok.artifact_len))
}

/// Asks an execute worker to run `artifact` on `params` with a CPU-time budget of `timeout`,
/// with the wall-clock limit of [`WALL_CLOCK_FACTOR`] × `timeout`.
///
/// When the wall-clock limit passes, the job is looked at before the worker is killed, and
/// [`wall_clock_expired`] decides what that means.
pub async fn execute(
    worker: &mut WorkerHandle,
    artifact: &Path,
    params: &ValidationParams,
    executor_params: &ExecutorParams,
    timeout: Duration,
) -> Result<ExecuteResponse, RequestError> {
    // The worker sees only this one artifact, linked into its job folder, read-only.
    let link = worker.dir().join(EXECUTE_JOB_DIR).join(ARTIFACT_FILE_NAME);
    if let Err(answer) = link_artifact(artifact, &link) {
        return Ok(answer);
    }
    execute_linked(worker, artifact, &link, params, executor_params, timeout).await
}

/// Links `artifact` as `link` (copies it where a link cannot be made, on another file system),
/// unless `link` already is that file (the worker's last job ran the same artifact: nothing to
/// write, which also lets a worker keep running it from a cache gone read-only). The link stays
/// after the job and is replaced before the next one. A missing artifact is the same local
/// fault as a corrupted one (the node prepares it again); any other failure is internal.
fn link_artifact(artifact: &Path, link: &Path) -> Result<(), ExecuteResponse> {
    use std::os::unix::fs::MetadataExt;
    let id = |m: std::fs::Metadata| (m.dev(), m.ino());
    if let (Ok(a), Ok(l)) = (std::fs::metadata(artifact), std::fs::symlink_metadata(link))
        && l.file_type().is_file()
        && id(a) == id(l)
    {
        return Ok(());
    }
    match std::fs::remove_file(link) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(ExecuteResponse::Internal(format!(
                "removing {}: {e}",
                link.display()
            )));
        }
        _ => {}
    }
    let linked = std::fs::hard_link(artifact, link).or_else(|e| match e.raw_os_error() {
        Some(libc::EXDEV) => std::fs::copy(artifact, link).map(drop),
        _ => Err(e),
    });
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !artifact.exists() => {
            Err(ExecuteResponse::CorruptedArtifact)
        }
        Err(e) => Err(ExecuteResponse::Internal(format!(
            "linking {} as {}: {e}",
            artifact.display(),
            link.display()
        ))),
    }
}

async fn execute_linked(
    worker: &mut WorkerHandle,
    artifact: &Path,
    link: &Path,
    params: &ValidationParams,
    executor_params: &ExecutorParams,
    timeout: Duration,
) -> Result<ExecuteResponse, RequestError> {
    let req = ExecuteRequest {
        artifact_path: link.to_string_lossy().into_owned(),
        params: params.encode(),
        executor_params: executor_params.clone(),
        cpu_timeout_ms: timeout.as_millis() as u64,
        artifact_checksum: CacheDir::checksum_in_name(artifact).unwrap_or_default(),
    };
    let wall = timeout.saturating_mul(WALL_CLOCK_FACTOR);
    let pid = worker.pid();
    // The request's own limit lies past this one, so that this one fires first, while the
    // worker and its job can still be looked at.
    if let Ok(answer) =
        tokio::time::timeout(wall, worker.request(&req, wall.saturating_mul(2))).await
    {
        return answer;
    }
    let job_cpu = pid.and_then(job_cpu_time);
    worker.kill().await;
    let outcome = wall_clock_expired(job_cpu, timeout, wall);
    if let Err(RequestError::Stalled(why)) = &outcome {
        tracing::warn!(%why, "an execution stalled without using its CPU budget");
    }
    outcome
}

/// What the wall-clock limit `wall` running out means, given the CPU time the job had used
/// then (`None`: it could not be read) and its CPU budget `timeout`:
/// - the budget used up: a hard timeout, as in the reference;
/// - the budget not used up: the job was stopped or starved through no fault of the PVF (a PVF
///   cannot wait without using CPU time), which this host can prove: a local fault, no vote;
/// - the CPU time unknown: the host cannot tell which of the two it was. That is not a proven
///   local fault, so it is not exempt from the reference's policy, which counts a wall-clock
///   expiry against the candidate; nor is it proof of a timeout. It is what the reference
///   calls an ambiguous worker death (the worker is killed without an answer): possibly
///   invalid, retried for approvals and disputes, invalid if it persists.
pub fn wall_clock_expired(
    job_cpu: Option<Duration>,
    timeout: Duration,
    wall: Duration,
) -> Result<ExecuteResponse, RequestError> {
    match job_cpu {
        Some(cpu) if cpu >= timeout => Err(RequestError::TimedOut(wall)),
        Some(cpu) => Err(RequestError::Stalled(format!(
            "its job used {cpu:?} of its {timeout:?} CPU budget in {wall:?} of wall-clock \
             time, so the worker was killed"
        ))),
        None => Err(RequestError::Died(format!(
            "no answer within {wall:?} of wall-clock time, and the job's CPU time could not \
             be read; the worker was killed"
        ))),
    }
}

/// CPU time used so far by the child processes (the job) of worker `pid`, from `/proc`;
/// `None` if the worker cannot be looked at.
fn job_cpu_time(pid: u32) -> Option<Duration> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks_per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&t| t > 0)?;
    let mut ticks = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let children = std::fs::read_to_string(task.ok()?.path().join("children")).ok()?;
        for child in children.split_whitespace() {
            // A child that is gone was reaped: its worker was not stalled on it.
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
                continue;
            };
            // The state is field 3, the first after the command name; utime and stime are
            // fields 14 and 15, the 12th and 13th after it.
            let after_name = &stat[stat.rfind(')')? + 1..];
            // A job that already answered and exited (collected early, not reaped yet) is
            // not the one that stalled: its CPU time must not count.
            if matches!(after_name.split_whitespace().next(), Some("Z" | "X")) {
                continue;
            }
            let mut fields = after_name.split_whitespace().skip(11);
            let mut next = || fields.next()?.parse::<u64>().ok();
            ticks += next()? + next()?;
        }
    }
    Some(Duration::from_millis(ticks * 1000 / ticks_per_second))
}
