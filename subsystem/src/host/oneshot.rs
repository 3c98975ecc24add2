//! One-shot preparation and execution, each through a freshly spawned worker.
//!
//! This is what `pvf-node prepare` and `pvf-node validate` use. The queues and worker pools of
//! the full host (which keep workers alive between jobs) build on the same pieces.

use super::{
    artifacts::{ArtifactId, CacheDir},
    classify::{self, Executed},
    discovery::{self, WorkerPaths},
    exchange,
    worker::{SpawnConfig, WorkerHandle},
};
use pvf_messages::{
    ExecutorParams, InternalValidationError, PvfExecKind, PvfPrepKind, ValidationCode,
    ValidationError, ValidationParams, ValidationResult,
    host::PvfPrepData,
    protocol::WorkerKind,
    verdict_policy::{self, Next, Retries},
};
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// Where the host finds its workers and keeps its artifacts.
#[derive(Clone, Debug, Default)]
pub struct HostConfig {
    /// `--workers-path`: a folder with both worker binaries, or one binary for both roles.
    pub workers_path: Option<PathBuf>,
    /// `--cache-path`: the artifact cache; [`super::artifacts::default_cache_dir`] if unset.
    pub cache_path: Option<PathBuf>,
    /// The version announced to workers, if not this build's (tests use it to provoke a mismatch).
    pub node_version_override: Option<String>,
    /// Run even when sandbox layers that secure validator mode requires are missing.
    pub insecure_validator: bool,
    /// Accept worker binaries of another version (development only).
    pub skip_version_check: bool,
    /// The validation-code bomb limit, if not the default
    /// ([`pvf_messages::primitives::DEFAULT_VALIDATION_CODE_BOMB_LIMIT`]).
    pub code_bomb_limit: Option<u32>,
}

/// A prepared artifact and what preparing it cost.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The artifact in the cache.
    pub path: PathBuf,
    /// Its size in bytes.
    pub len: u64,
    /// CPU time of the preparation job.
    pub cpu_time: Duration,
    /// Wall-clock time including the worker's spawn.
    pub wall_time: Duration,
    /// Peak heap of the job, as counted by its tracking allocator.
    pub peak_tracked_bytes: u64,
    /// Peak resident set size of the job.
    pub max_rss_bytes: u64,
}

/// A valid candidate's result and what executing it cost.
#[derive(Clone, Debug)]
pub struct Validated {
    /// What `validate_block` returned.
    pub result: ValidationResult,
    /// CPU time of the execution job.
    pub cpu_time: Duration,
    /// Wall-clock time including the worker's spawn.
    pub wall_time: Duration,
}

/// The validation host in its one-shot form.
#[derive(Clone, Debug)]
pub struct Host {
    workers: WorkerPaths,
    cache: CacheDir,
    spawn: SpawnConfig,
    code_bomb_limit: Option<u32>,
}

fn internal(e: InternalValidationError) -> ValidationError {
    ValidationError::Internal(e)
}

impl Host {
    /// Finds the workers and opens the cache. Fails with an actionable message if either is
    /// unusable.
    pub fn new(cfg: &HostConfig) -> Result<Self, ValidationError> {
        let workers = discovery::discover(cfg.workers_path.as_deref())
            .map_err(|e| internal(InternalValidationError::WorkerNotFound(e.to_string())))?;
        let cache_root = cfg
            .cache_path
            .clone()
            .unwrap_or_else(super::artifacts::default_cache_dir);
        let cache = CacheDir::open(&cache_root)
            .map_err(|e| internal(InternalValidationError::Io(e.to_string())))?;
        let mut spawn = SpawnConfig::new(
            cache.workers_dir().to_path_buf(),
            cache.artifacts_dir().to_path_buf(),
        );
        if let Some(v) = &cfg.node_version_override {
            spawn.node_version = v.clone();
        }
        spawn.skip_version_check = cfg.skip_version_check;
        spawn.cgroups = super::cgroups::for_workers();
        spawn.security =
            super::security::settings_for(&workers, cache.workers_dir(), !cfg.insecure_validator)
                .map_err(|e| internal(InternalValidationError::Sandbox(e.to_string())))?;
        Ok(Self {
            workers,
            cache,
            spawn,
            code_bomb_limit: cfg.code_bomb_limit,
        })
    }

    /// The worker binaries in use.
    pub fn workers(&self) -> &WorkerPaths {
        &self.workers
    }

    /// Spawns a worker of `kind`.
    pub async fn spawn(&self, kind: WorkerKind) -> Result<WorkerHandle, ValidationError> {
        WorkerHandle::spawn(kind, self.workers.get(kind), &self.spawn)
            .await
            .map_err(classify::spawn_error)
    }

    /// Spawns a worker of `kind` without any sandbox layer (no cgroup, namespaces,
    /// `pivot_root`, Landlock or seccomp): only for measuring what the sandbox costs, never
    /// for validating candidates.
    pub async fn spawn_without_sandbox(
        &self,
        kind: WorkerKind,
    ) -> Result<WorkerHandle, ValidationError> {
        let cfg = SpawnConfig {
            security: Default::default(),
            cgroups: None,
            ..self.spawn.clone()
        };
        WorkerHandle::spawn(kind, self.workers.get(kind), &cfg)
            .await
            .map_err(classify::spawn_error)
    }

    /// Prepares `code` into an artifact in the cache.
    pub async fn prepare(
        &self,
        code: &ValidationCode,
        executor_params: &ExecutorParams,
        kind: PvfPrepKind,
    ) -> Result<Prepared, ValidationError> {
        let start = Instant::now();
        let mut worker = self.spawn(WorkerKind::Prepare).await?;
        let mut pvf = PvfPrepData::new(code.clone(), executor_params.clone(), kind);
        if let Some(limit) = self.code_bomb_limit {
            pvf = pvf.with_code_bomb_limit(limit);
        }
        let answer = exchange::prepare(&mut worker, &pvf).await;
        let ok = classify::prepare_outcome(answer).map_err(ValidationError::Preparation)?;
        let path = exchange::install(&worker, &self.cache, &ArtifactId::of(&pvf), &ok)
            .map_err(ValidationError::Preparation)?;
        worker.shutdown().await;
        Ok(Prepared {
            path,
            len: ok.artifact_len,
            cpu_time: Duration::from_nanos(ok.cpu_time_ns),
            wall_time: start.elapsed(),
            peak_tracked_bytes: ok.memory.peak_tracked_bytes,
            max_rss_bytes: ok.memory.max_rss_bytes,
        })
    }

    /// Executes a prepared artifact on `params` with a CPU-time budget of `timeout`.
    pub async fn execute(
        &self,
        artifact: &Path,
        params: &ValidationParams,
        executor_params: &ExecutorParams,
        timeout: Duration,
    ) -> Result<Validated, ValidationError> {
        let start = Instant::now();
        let mut worker = self.spawn(WorkerKind::Execute).await?;
        let executed = execute_on(&mut worker, artifact, params, executor_params, timeout).await?;
        worker.shutdown().await;
        Ok(Validated {
            result: executed.result,
            cpu_time: Duration::from_nanos(executed.cpu_time_ns),
            wall_time: start.elapsed(),
        })
    }

    /// Validates a candidate of `kind` as the node does: prepares `code` (leniently), executes
    /// it on `params` with a CPU budget of `timeout`, and retries as
    /// [`verdict_policy::next_step`] says (never for backing; for approval and dispute once per
    /// class of failure, preparing the artifact again first after a runtime-construction
    /// failure, each retry with what is left of `timeout`). The error is the last attempt's
    /// raw outcome: [`verdict_policy::verdict_from_host_error`] turns it into a verdict.
    pub async fn validate_as(
        &self,
        kind: PvfExecKind,
        code: &ValidationCode,
        params: &ValidationParams,
        executor_params: &ExecutorParams,
        timeout: Duration,
    ) -> Result<Validated, ValidationError> {
        let received = Instant::now();
        let mut retries = Retries::default();
        let mut budget = timeout;
        let mut artifact = None;
        loop {
            let path = match artifact.take() {
                Some(path) => path,
                None => {
                    self.prepare(code, executor_params, PvfPrepKind::Prepare)
                        .await?
                        .path
                }
            };
            let outcome = self.execute(&path, params, executor_params, budget).await;
            let Err(error) = &outcome else {
                return outcome;
            };
            let next = verdict_policy::next_step(
                kind,
                error,
                &mut retries,
                received.elapsed(),
                timeout,
                verdict_policy::RETRY_DELAY,
            );
            let delete =
                next == Next::RePrepareAndRetry || verdict_policy::is_unusable_artifact(error);
            if !delete {
                artifact = Some(path);
            } else if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(%e, path = %path.display(), "cannot delete an unusable artifact");
            }
            match next {
                Next::Answer => return outcome,
                Next::RePrepareAndRetry => {}
                Next::RetryAfter(delay) => tokio::time::sleep(delay).await,
            }
            budget = timeout.saturating_sub(received.elapsed());
            tracing::warn!(%error, ?budget, "retrying the execution");
        }
    }

    /// Prepares `code` (leniently, as before execution) and executes it on `params` once.
    pub async fn validate(
        &self,
        code: &ValidationCode,
        params: &ValidationParams,
        executor_params: &ExecutorParams,
        timeout: Duration,
    ) -> Result<Validated, ValidationError> {
        let prepared = self
            .prepare(code, executor_params, PvfPrepKind::Prepare)
            .await?;
        self.execute(&prepared.path, params, executor_params, timeout)
            .await
    }
}

/// Runs one execution request on an already spawned execute worker, with the wall-clock
/// limit of [`super::WALL_CLOCK_FACTOR`] × `timeout`.
pub async fn execute_on(
    worker: &mut WorkerHandle,
    artifact: &Path,
    params: &ValidationParams,
    executor_params: &ExecutorParams,
    timeout: Duration,
) -> Result<Executed, ValidationError> {
    classify::execute_outcome(
        exchange::execute(worker, artifact, params, executor_params, timeout).await,
        timeout,
    )
}
