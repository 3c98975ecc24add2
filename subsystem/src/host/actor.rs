//! The host actor: one task that owns the artifact table, both queues and both worker
//! pools, and answers every request exactly once.
//!
//! Jobs run in their own tasks (spawn a worker if none is idle, send one request, wait with
//! the wall-clock limit) and report back as [`Event`]s, so the actor itself never waits on a
//! worker. Retries and artifact deletions are [`verdict_policy`]'s decisions (the
//! reference's: only for approval and dispute, once per class of failure, never past the
//! request's execution timeout, each retry with what is left of it; a runtime-construction
//! failure deletes the artifact and prepares it again before its retry, except for backing).

use super::{
    Config,
    artifacts::{ArtifactId, ArtifactState, ArtifactTable, CacheDir, FailedPreparation},
    classify,
    discovery::WorkerPaths,
    exchange,
    execute_queue::{ExecuteJob, ExecuteQueue, PendingExecute},
    prepare_queue::{PrepareJob, PrepareLimits, PrepareQueue},
    worker::{SpawnConfig, SpawnError, WorkerHandle},
};
use futures::{FutureExt, channel::oneshot};
use pvf_messages::{
    ExecutorParams, Hash, InternalValidationError, PrepareError, PvfExecKind, PvfPrepKind,
    ValidationError,
    frame::FrameError,
    host::{PrecheckResult, PreparePriority, PvfPrepData, ToHost, ValidationOutcome},
    protocol::WorkerKind,
    verdict_policy::{self, Next},
};
use pvf_metrics::{Flavor, Metrics, VerdictClass as MetricsVerdict};
use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

/// Counters the host keeps for reports (the node's summary table).
#[derive(Clone, Debug, Default)]
pub struct HostStats {
    /// Preparations started.
    pub preparations: u64,
    /// Executions whose artifact was already prepared when they arrived.
    pub cache_hits: u64,
    /// Execution retries.
    pub retries: u64,
    /// Artifacts (and recorded deterministic failures) kept from an earlier run at start-up.
    pub artifacts_reused_at_startup: u64,
    /// Artifacts deleted at start-up (other environment, corrupted).
    pub artifacts_dropped_at_startup: u64,
}

/// What job tasks report back.
pub(crate) enum Event {
    Prepared {
        id: ArtifactId,
        kind: PvfPrepKind,
        worker: Option<WorkerHandle>,
        outcome: Result<(PathBuf, u64), PrepareFailure>,
    },
    Executed {
        job: Box<ExecuteJob>,
        worker: Option<(WorkerHandle, Arc<ExecutorParams>)>,
        outcome: ValidationOutcome,
    },
    Retry(PendingExecute),
}

/// A failed preparation, and whether the fault was on this side (spawning the worker,
/// installing the artifact): such faults are not remembered as the PVF's failure.
pub(crate) struct PrepareFailure {
    error: PrepareError,
    local: bool,
}

impl PrepareFailure {
    fn local(error: PrepareError) -> Self {
        Self { error, local: true }
    }

    fn of_job(error: PrepareError) -> Self {
        Self {
            error,
            local: false,
        }
    }
}

/// Attempts at spawning a worker before giving up.
const SPAWN_ATTEMPTS: u32 = 3;
/// Pause between spawn attempts.
const SPAWN_RETRY_DELAY: Duration = Duration::from_millis(500);

/// Spawns workers; shared by the job tasks.
struct Spawner {
    paths: WorkerPaths,
    config: SpawnConfig,
    metrics: Metrics,
    stop: tokio::sync::watch::Receiver<bool>,
}

fn flavor(kind: WorkerKind) -> Flavor {
    match kind {
        WorkerKind::Prepare => Flavor::Prepare,
        WorkerKind::Execute => Flavor::Execute,
    }
}

impl Spawner {
    /// Spawns a worker, trying again after a short pause when the failure may be transient
    /// (a timeout, an early exit, an I/O error); a missing binary or a version mismatch is
    /// final at once.
    async fn spawn(&self, kind: WorkerKind) -> Result<WorkerHandle, ValidationError> {
        let mut attempt = 1;
        loop {
            self.metrics.on_worker_spawning(flavor(kind));
            match WorkerHandle::spawn(kind, self.paths.get(kind), &self.config).await {
                Ok(worker) => {
                    self.metrics.on_worker_spawned(flavor(kind));
                    return Ok(worker);
                }
                Err(e) => {
                    // A worker that died or hung up during the handshake (killed from
                    // outside, say) is as transient as one that exited before connecting.
                    let transient = matches!(
                        e,
                        SpawnError::Timeout { .. }
                            | SpawnError::ExitedEarly { .. }
                            | SpawnError::Io { .. }
                            | SpawnError::Handshake {
                                err: FrameError::Closed
                                    | FrameError::Io(_)
                                    | FrameError::Truncated { .. },
                                ..
                            }
                    );
                    if !transient || attempt >= SPAWN_ATTEMPTS {
                        return Err(classify::spawn_error(e));
                    }
                    tracing::warn!(error = %e, attempt, "spawning a worker failed; trying again");
                    self.metrics.on_retry(flavor(kind), "spawn");
                    attempt += 1;
                    tokio::time::sleep(SPAWN_RETRY_DELAY).await;
                }
            }
        }
    }

    /// An idle worker if it is still alive, else `None` (and it is counted as retired).
    fn alive(&self, mut worker: WorkerHandle) -> Option<WorkerHandle> {
        if worker.is_alive() {
            return Some(worker);
        }
        tracing::warn!(
            kind = worker.kind().as_str(),
            "an idle worker died; replacing it"
        );
        self.metrics.on_worker_retired(flavor(worker.kind()));
        None
    }

    /// Resolves once the host begins to shut down: running jobs are then abandoned, their
    /// workers killed, and their requests answered as interrupted by the shutdown.
    async fn stopping(&self) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|stopping| *stopping).await;
    }

    /// Kills a worker that cannot be reused.
    async fn discard(&self, mut worker: WorkerHandle) {
        self.metrics.on_worker_retired(flavor(worker.kind()));
        worker.kill().await;
    }
}

fn verdict_class(outcome: &ValidationOutcome) -> MetricsVerdict {
    use pvf_messages::VerdictClass as V;
    match outcome.as_ref().map_err(ValidationError::class) {
        Ok(_) | Err(V::Valid) => MetricsVerdict::Valid,
        Err(V::Invalid) => MetricsVerdict::Invalid,
        Err(V::PossiblyInvalid) => MetricsVerdict::PossiblyInvalid,
        Err(V::Error) => MetricsVerdict::Error,
    }
}

/// What is left of `pending`'s execution timeout: the CPU budget of a retry (the reference's
/// `new_timeout`).
fn time_left(pending: &PendingExecute) -> Duration {
    pending
        .req
        .exec_timeout
        .saturating_sub(pending.received.elapsed())
}

fn kind_label(kind: PvfExecKind) -> &'static str {
    match kind {
        PvfExecKind::Backing => "backing",
        PvfExecKind::Approval => "approval",
        PvfExecKind::Dispute => "dispute",
    }
}

pub(crate) struct Actor {
    config: Config,
    stop: tokio::sync::watch::Sender<bool>,
    metrics: Metrics,
    spawner: Arc<Spawner>,
    cache: CacheDir,
    table: ArtifactTable,
    prepare_queue: PrepareQueue,
    prepare_idle: Vec<WorkerHandle>,
    prepare_busy: usize,
    execute_queue: ExecuteQueue,
    execute_idle: Vec<(WorkerHandle, Arc<ExecutorParams>)>,
    execute_busy: usize,
    waiting_execute: HashMap<ArtifactId, Vec<PendingExecute>>,
    waiting_precheck: HashMap<ArtifactId, Vec<oneshot::Sender<PrecheckResult>>>,
    events_tx: mpsc::UnboundedSender<Event>,
    stats: Arc<std::sync::Mutex<HostStats>>,
    retrying: usize,
    /// Artifacts of running execution jobs, with how many jobs run each (never pruned).
    running: HashMap<ArtifactId, usize>,
    retiring: tokio::task::JoinSet<()>,
    shutting_down: bool,
}

fn host_shutting_down() -> ValidationError {
    ValidationError::Internal(InternalValidationError::HostCommunication(
        "the validation host is shutting down".into(),
    ))
}

impl Actor {
    pub(crate) fn new(
        config: Config,
        paths: WorkerPaths,
        spawn_config: SpawnConfig,
        cache: CacheDir,
        table: ArtifactTable,
        events_tx: mpsc::UnboundedSender<Event>,
        stats: Arc<std::sync::Mutex<HostStats>>,
    ) -> Self {
        let mut config = config;
        // Zero workers would leave requests waiting forever.
        config.execute_workers = config.execute_workers.max(1);
        config.prepare_workers_hard = config.prepare_workers_hard.max(1);
        config.prepare_workers_soft = config
            .prepare_workers_soft
            .clamp(1, config.prepare_workers_hard);
        let metrics = config.metrics.clone();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        Self {
            stop,
            metrics: metrics.clone(),
            spawner: Arc::new(Spawner {
                paths,
                config: spawn_config,
                metrics,
                stop: stop_rx,
            }),
            config,
            cache,
            table,
            prepare_queue: PrepareQueue::default(),
            prepare_idle: Vec::new(),
            prepare_busy: 0,
            execute_queue: ExecuteQueue::default(),
            execute_idle: Vec::new(),
            execute_busy: 0,
            waiting_execute: HashMap::new(),
            waiting_precheck: HashMap::new(),
            events_tx,
            stats,
            retrying: 0,
            running: HashMap::new(),
            retiring: tokio::task::JoinSet::new(),
            shutting_down: false,
        }
    }

    fn stat(&self, f: impl FnOnce(&mut HostStats)) {
        f(&mut self.stats.lock().expect("stats lock is never poisoned"));
    }

    /// Runs until every handle is gone and every request is answered.
    pub(crate) async fn run(
        mut self,
        mut requests: mpsc::Receiver<ToHost>,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) {
        let mut prune = tokio::time::interval(self.config.prune_interval);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let idle = self.prepare_busy == 0 && self.execute_busy == 0 && self.retrying == 0;
            if self.shutting_down && idle {
                break;
            }
            tokio::select! {
                req = requests.recv(), if !self.shutting_down => match req {
                    Some(req) => self.handle_request(req),
                    None => self.begin_shutdown(),
                },
                Some(event) = events.recv() => self.handle_event(event),
                _ = prune.tick() => self.prune(),
                Some(_) = self.retiring.join_next(), if !self.retiring.is_empty() => {}
            }
            self.schedule();
            self.publish_gauges();
        }
        for worker in std::mem::take(&mut self.prepare_idle) {
            self.retire(worker);
        }
        for (worker, _) in std::mem::take(&mut self.execute_idle) {
            self.retire(worker);
        }
        while self.retiring.join_next().await.is_some() {}
        // Every worker is gone; a folder whose removal failed when its worker was dropped
        // (the cache was read-only then) goes now.
        match self.cache.clear_workers_dir() {
            Ok(0) => {}
            Ok(left) => tracing::info!(left, "removed worker folders left by earlier faults"),
            Err(e) => tracing::warn!(%e, "cannot clear the workers folder"),
        }
    }

    fn handle_request(&mut self, req: ToHost) {
        match req {
            ToHost::PrecheckPvf { pvf, response } => self.precheck(pvf, response),
            ToHost::ExecutePvf(req) => {
                let id = ArtifactId::of(&req.pvf);
                if matches!(self.table.get(&id), Some(ArtifactState::Prepared(_))) {
                    self.stat(|s| s.cache_hits += 1);
                    self.metrics.on_cache_hit();
                } else {
                    self.metrics.on_cache_miss();
                }
                self.execute(PendingExecute::new(req));
            }
            ToHost::HeadsUp { pvfs } => {
                for pvf in pvfs {
                    let id = ArtifactId::of(&pvf);
                    if self.needs_preparation(&id) {
                        self.enqueue_prepare(id, pvf, PreparePriority::Normal);
                    }
                }
            }
            ToHost::UpdateActiveLeaves { active } => {
                let active: HashSet<Hash> = active.into_iter().collect();
                let is_stale = |p: &PendingExecute| {
                    p.req.exec_kind == PvfExecKind::Backing
                        && p.req.relay_parent.is_some_and(|rp| !active.contains(&rp))
                };
                let mut stale = Vec::new();
                for waiting in self.waiting_execute.values_mut() {
                    let (gone, keep): (Vec<_>, Vec<_>) = waiting.drain(..).partition(is_stale);
                    *waiting = keep;
                    stale.extend(gone);
                }
                for pending in stale {
                    self.answer(pending, Err(ValidationError::ExecutionDeadline));
                }
                for job in self
                    .execute_queue
                    .take_expired(Some(&active), Instant::now())
                {
                    self.answer(job.pending, Err(ValidationError::ExecutionDeadline));
                }
            }
        }
    }

    /// Whether `id` is neither prepared, nor preparing, nor failed in a way that forbids a
    /// new attempt now.
    fn needs_preparation(&self, id: &ArtifactId) -> bool {
        match self.table.get(id) {
            None => true,
            Some(ArtifactState::Failed(_)) => self.failed_for_now(id).is_none(),
            Some(_) => false,
        }
    }

    /// The error of a failed preparation of `id` that may not be tried again yet.
    fn failed_for_now(&self, id: &ArtifactId) -> Option<PrepareError> {
        match self.table.get(id) {
            Some(ArtifactState::Failed(f))
                if !f.may_retry(&self.config.prepare_retry, Instant::now()) =>
            {
                Some(f.error.clone())
            }
            _ => None,
        }
    }

    fn enqueue_prepare(&mut self, id: ArtifactId, pvf: PvfPrepData, priority: PreparePriority) {
        let prior_failures = match self.table.get(&id) {
            Some(ArtifactState::Preparing { .. }) => None,
            Some(ArtifactState::Failed(f)) => Some(f.failures),
            _ => Some(0),
        };
        if let Some(prior_failures) = prior_failures {
            self.table
                .set(id, ArtifactState::Preparing { prior_failures });
        }
        self.metrics.on_prepare_enqueued();
        self.prepare_queue.push(PrepareJob { id, pvf, priority });
    }

    /// Pre-checks are answered by pre-check jobs only, never from an artifact prepared
    /// leniently: what a pre-check concludes (its timeout, its memory limit, its
    /// runtime-construction check) must not depend on what this node happened to prepare
    /// before. An artifact serving executions keeps serving them while its pre-check runs.
    fn precheck(&mut self, pvf: PvfPrepData, response: oneshot::Sender<PrecheckResult>) {
        let id = ArtifactId::of(&pvf);
        match self.table.get(&id) {
            Some(ArtifactState::Prepared(a)) if a.prechecked => {
                let _ = response.send(Ok(()));
            }
            Some(ArtifactState::Prepared(_)) => {
                let queued = self.waiting_precheck.contains_key(&id);
                self.waiting_precheck.entry(id).or_default().push(response);
                if !queued {
                    self.metrics.on_prepare_enqueued();
                    self.prepare_queue.push(PrepareJob {
                        id,
                        pvf,
                        priority: PreparePriority::Critical,
                    });
                }
            }
            Some(ArtifactState::Failed(_)) if let Some(error) = self.failed_for_now(&id) => {
                let _ = response.send(Err(error));
            }
            Some(ArtifactState::Preparing { .. }) => {
                // A pre-check must run with the strict limits of its kind, even if a lenient
                // preparation of the same code is already queued.
                self.prepare_queue.make_critical_with(&id, pvf);
                self.waiting_precheck.entry(id).or_default().push(response);
            }
            _ => {
                self.waiting_precheck.entry(id).or_default().push(response);
                self.enqueue_prepare(id, pvf, PreparePriority::Critical);
            }
        }
    }

    fn execute(&mut self, pending: PendingExecute) {
        if self.shutting_down {
            self.answer(pending, Err(host_shutting_down()));
            return;
        }
        let id = ArtifactId::of(&pending.req.pvf);
        if let Some((artifact, generation)) = self.table.touch(&id) {
            self.metrics.on_execute_enqueued();
            self.execute_queue.push(ExecuteJob {
                pending,
                id,
                artifact,
                generation,
                queued: Instant::now(),
            });
            return;
        }
        match self.table.get(&id) {
            Some(ArtifactState::Failed(_)) if let Some(error) = self.failed_for_now(&id) => {
                self.answer(pending, Err(ValidationError::Preparation(error)));
            }
            Some(ArtifactState::Preparing { .. }) => {
                self.prepare_queue.make_critical(&id);
                self.waiting_execute.entry(id).or_default().push(pending);
            }
            _ => {
                let pvf = pending.req.pvf.clone();
                self.waiting_execute.entry(id).or_default().push(pending);
                self.enqueue_prepare(id, pvf, PreparePriority::Critical);
            }
        }
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::Prepared {
                id,
                kind,
                worker,
                outcome,
            } => {
                self.prepare_busy -= 1;
                self.metrics.on_prepare_concluded();
                if let Some(w) = worker {
                    self.prepare_idle.push(w);
                }
                self.prepared(id, kind, outcome);
            }
            Event::Executed {
                job,
                worker,
                outcome,
            } => {
                self.execute_busy -= 1;
                self.metrics.on_execute_finished();
                if let Some(n) = self.running.get_mut(&job.id) {
                    *n -= 1;
                    if *n == 0 {
                        self.running.remove(&job.id);
                    }
                }
                if let Some(w) = worker {
                    self.execute_idle.push(w);
                }
                self.executed(*job, outcome);
            }
            Event::Retry(mut pending) => {
                self.retrying -= 1;
                if self.shutting_down {
                    self.answer(pending, Err(host_shutting_down()));
                } else {
                    pending.timeout = time_left(&pending);
                    self.execute(pending);
                }
            }
        }
    }

    fn prepared(
        &mut self,
        id: ArtifactId,
        kind: PvfPrepKind,
        outcome: Result<(PathBuf, u64), PrepareFailure>,
    ) {
        let prechecks = self.waiting_precheck.remove(&id).unwrap_or_default();
        let executions = self.waiting_execute.remove(&id).unwrap_or_default();
        let (prior_failures, already_prepared) = match self.table.get(&id) {
            Some(ArtifactState::Preparing { prior_failures }) => (*prior_failures, None),
            Some(ArtifactState::Prepared(a)) => (0, Some(a.prechecked)),
            _ => (0, None),
        };
        match outcome {
            Ok((path, len)) => {
                let prechecked = kind == PvfPrepKind::Precheck || already_prepared == Some(true);
                self.table.set_prepared(id, path, len, prechecked);
                for p in prechecks {
                    let _ = p.send(Ok(()));
                }
                for pending in executions {
                    self.execute(pending);
                }
            }
            Err(PrepareFailure { error, .. })
                if kind == PvfPrepKind::Precheck && precheck_only(&error) =>
            {
                // The pre-check's own limits failed it: that is its answer, but a lenient
                // preparation may still succeed, so nothing is remembered against the code and
                // waiting executions get a preparation of their own.
                let code_hash = id.code_hash.0.to_hex();
                tracing::info!(%code_hash, %error, "the PVF failed its pre-check");
                for p in prechecks {
                    let _ = p.send(Err(error.clone()));
                }
                if already_prepared.is_none() {
                    self.table.forget(&id);
                }
                for pending in executions {
                    self.execute(pending);
                }
            }
            Err(PrepareFailure { error, .. }) if already_prepared.is_some() => {
                // A pre-check of code that is prepared and serving executions failed for a
                // reason of its own (a local fault): answer it, keep the artifact.
                for p in prechecks {
                    let _ = p.send(Err(error.clone()));
                }
                for pending in executions {
                    self.execute(pending);
                }
            }
            Err(PrepareFailure { error, local }) => {
                let code_hash = id.code_hash.0.to_hex();
                if local {
                    // Not the PVF's failure: the next request tries again.
                    tracing::warn!(%code_hash, %error, "preparation failed on this node");
                    self.table.forget(&id);
                } else {
                    if error.is_deterministic() {
                        tracing::info!(%code_hash, %error, "the PVF failed to prepare");
                    } else {
                        tracing::warn!(%code_hash, %error, "preparation failed (local fault)");
                    }
                    if let Err(e) = self.cache.record_failure(&id, &error) {
                        tracing::warn!(%e, "cannot record a failed preparation in the cache");
                    }
                    self.table.set(
                        id,
                        ArtifactState::Failed(FailedPreparation {
                            error: error.clone(),
                            last_failed: Instant::now(),
                            failures: prior_failures + 1,
                        }),
                    );
                }
                for p in prechecks {
                    let _ = p.send(Err(error.clone()));
                }
                for pending in executions {
                    self.answer(pending, Err(ValidationError::Preparation(error.clone())));
                }
            }
        }
    }

    /// Answers `job`'s outcome, or tries it again, as [`verdict_policy`] says.
    fn executed(&mut self, job: ExecuteJob, outcome: ValidationOutcome) {
        let mut pending = job.pending;
        let Err(error) = &outcome else {
            return self.answer(pending, outcome);
        };
        let next = if self.shutting_down {
            Next::Answer
        } else {
            verdict_policy::next_step(
                pending.req.exec_kind,
                error,
                &mut pending.retries,
                pending.received.elapsed(),
                pending.req.exec_timeout,
                self.config.retry_delay,
            )
        };
        // An artifact proven unusable goes whatever the kind (no PVF can cause that); one
        // the runtime could not be built from goes only when the policy prepares it again,
        // never for backing, so that a PVF failing runtime construction on purpose cannot
        // make backers recompile it for every candidate.
        if next == Next::RePrepareAndRetry || verdict_policy::is_unusable_artifact(error) {
            tracing::warn!(
                artifact = %job.artifact.display(),
                %error,
                "deleting the artifact; it is prepared again when next needed"
            );
            self.table.remove_generation(&job.id, job.generation);
        }
        match next {
            Next::Answer => self.answer(pending, outcome),
            Next::RePrepareAndRetry => {
                self.stat(|s| s.retries += 1);
                self.metrics
                    .on_retry(Flavor::Execute, "runtime-construction");
                pending.timeout = time_left(&pending);
                self.execute(pending);
            }
            Next::RetryAfter(delay) => {
                self.stat(|s| s.retries += 1);
                self.metrics
                    .on_retry(Flavor::Execute, "worker-or-job-failure");
                self.retrying += 1;
                let events = self.events_tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = events.send(Event::Retry(pending));
                });
            }
        }
    }

    /// Stops a worker the pool no longer needs, in the background; the actor waits for every
    /// retiring worker before it finishes.
    fn retire(&mut self, worker: WorkerHandle) {
        self.metrics.on_worker_retired(flavor(worker.kind()));
        self.retiring.spawn(worker.shutdown());
    }

    /// Publishes queue depths and the cache's size.
    fn publish_gauges(&self) {
        let (critical, normal) = self.prepare_queue.depths();
        self.metrics
            .set_queue_depth(Flavor::Prepare, "critical", critical);
        self.metrics
            .set_queue_depth(Flavor::Prepare, "normal", normal);
        let depths = self.execute_queue.depths();
        for (kind, depth) in [
            PvfExecKind::Dispute,
            PvfExecKind::Approval,
            PvfExecKind::Backing,
        ]
        .into_iter()
        .zip(depths)
        {
            self.metrics
                .set_queue_depth(Flavor::Execute, kind_label(kind), depth);
        }
        let (count, bytes) = self.table.prepared_size();
        self.metrics.set_artifact_cache(bytes, count);
    }

    /// Answers `pending` and records the verdict and the latency.
    fn answer(&self, pending: PendingExecute, outcome: ValidationOutcome) {
        self.metrics.on_verdict(verdict_class(&outcome));
        self.metrics
            .observe_candidate_latency(pending.received.elapsed());
        let _ = pending.req.response.send(outcome);
    }

    fn prune(&mut self) {
        let in_use: HashSet<ArtifactId> = self
            .execute_queue
            .artifacts()
            .chain(self.running.keys().copied())
            .collect();
        let removed = self.table.prune(
            self.config.cache_max_bytes,
            self.config.cache_min_unused,
            Instant::now(),
            &in_use,
        );
        if removed > 0 {
            tracing::info!(removed, "pruned least-recently-used artifacts");
        }
    }

    fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        let _ = self.stop.send(true);
        for job in self.execute_queue.drain() {
            self.answer(job.pending, Err(host_shutting_down()));
        }
        for job in self.prepare_queue.drain() {
            if matches!(
                self.table.get(&job.id),
                Some(ArtifactState::Preparing { .. })
            ) {
                self.table.forget(&job.id);
            }
            for p in self.waiting_precheck.remove(&job.id).unwrap_or_default() {
                let _ = p.send(Err(PrepareError::IoErr(
                    "the validation host is shutting down".into(),
                )));
            }
            for pending in self.waiting_execute.remove(&job.id).unwrap_or_default() {
                self.answer(pending, Err(host_shutting_down()));
            }
        }
    }

    /// Starts queued jobs while workers allow.
    fn schedule(&mut self) {
        if self.shutting_down {
            return;
        }
        let limits = PrepareLimits {
            soft: self.config.prepare_workers_soft,
            hard: self
                .config
                .prepare_workers_hard
                .max(self.config.prepare_workers_soft),
        };
        while let Some(job) = self.prepare_queue.pop(self.prepare_busy, limits) {
            let worker = self.prepare_idle.pop();
            self.prepare_busy += 1;
            self.stat(|s| s.preparations += 1);
            self.metrics.on_preparation_started();
            let spawner = self.spawner.clone();
            let cache = self.cache.clone();
            let events = self.events_tx.clone();
            tokio::spawn(async move {
                // A panic in the job task must still be reported, or the waiters would never
                // be answered and the busy count would never drop.
                let run = std::panic::AssertUnwindSafe(prepare_job(&spawner, &cache, worker, &job));
                let (worker, outcome) = run.catch_unwind().await.unwrap_or_else(|panic| {
                    let msg = crate::host::panic_message(&*panic);
                    (None, Err(PrepareFailure::local(PrepareError::IoErr(msg))))
                });
                let _ = events.send(Event::Prepared {
                    id: job.id,
                    kind: job.pvf.prep_kind,
                    worker,
                    outcome,
                });
            });
        }
        while self.prepare_idle.len() + self.prepare_busy > limits.soft {
            match self.prepare_idle.pop() {
                Some(w) => self.retire(w),
                None => break,
            }
        }
        let now = Instant::now();
        for job in self.execute_queue.take_expired(None, now) {
            self.answer(job.pending, Err(ValidationError::ExecutionDeadline));
        }
        while self.execute_busy < self.config.execute_workers.max(1) {
            let Some(job) = self.execute_queue.pop() else {
                break;
            };
            let params = &job.pending.req.pvf.executor_params;
            let worker = match self.execute_idle.iter().position(|(_, p)| p == params) {
                Some(i) => Some(self.execute_idle.swap_remove(i)),
                None => {
                    if self.execute_idle.len() + self.execute_busy >= self.config.execute_workers {
                        // Retire an idle worker bound to other parameters to make room.
                        if let Some((w, _)) = self.execute_idle.pop() {
                            self.retire(w);
                        }
                    }
                    None
                }
            };
            self.execute_busy += 1;
            *self.running.entry(job.id).or_default() += 1;
            let spawner = self.spawner.clone();
            let events = self.events_tx.clone();
            tokio::spawn(async move {
                let run = std::panic::AssertUnwindSafe(execute_job(&spawner, worker, &job));
                let (worker, outcome) = run.catch_unwind().await.unwrap_or_else(|panic| {
                    let msg = crate::host::panic_message(&*panic);
                    let error = InternalValidationError::HostCommunication(msg);
                    (None, Err(ValidationError::Internal(error)))
                });
                let _ = events.send(Event::Executed {
                    job: Box::new(job),
                    worker,
                    outcome,
                });
            });
        }
    }
}

async fn prepare_job(
    spawner: &Spawner,
    cache: &CacheDir,
    worker: Option<WorkerHandle>,
    job: &PrepareJob,
) -> (Option<WorkerHandle>, Result<(PathBuf, u64), PrepareFailure>) {
    let shutting_down = || {
        PrepareFailure::local(PrepareError::IoErr(
            "the validation host is shutting down".into(),
        ))
    };
    let mut worker = match worker.and_then(|w| spawner.alive(w)) {
        Some(w) => w,
        None => {
            let spawned = tokio::select! {
                spawned = spawner.spawn(WorkerKind::Prepare) => spawned,
                () = spawner.stopping() => return (None, Err(shutting_down())),
            };
            match spawned {
                Ok(w) => w,
                Err(e) => {
                    let error = PrepareError::WorkerFailed(e.to_string());
                    return (None, Err(PrepareFailure::local(error)));
                }
            }
        }
    };
    let pvf = &job.pvf;
    let answer = tokio::select! {
        answer = exchange::prepare(&mut worker, pvf) => Some(answer),
        () = spawner.stopping() => None,
    };
    let Some(answer) = answer else {
        spawner.discard(worker).await;
        return (None, Err(shutting_down()));
    };
    let keep = answer.is_ok();
    let outcome = classify::prepare_outcome(answer)
        .map_err(PrepareFailure::of_job)
        .and_then(|ok| {
            let metrics = &spawner.metrics;
            metrics.observe_preparation_time(Duration::from_nanos(ok.cpu_time_ns));
            metrics.observe_preparation_max_rss(ok.memory.max_rss_bytes);
            metrics.observe_preparation_peak_tracked_allocation(ok.memory.peak_tracked_bytes);
            let path =
                exchange::install(&worker, cache, &job.id, &ok).map_err(PrepareFailure::local)?;
            Ok((path, ok.artifact_len))
        });
    if keep {
        (Some(worker), outcome)
    } else {
        spawner.discard(worker).await;
        (None, outcome)
    }
}

async fn execute_job(
    spawner: &Spawner,
    worker: Option<(WorkerHandle, Arc<ExecutorParams>)>,
    job: &ExecuteJob,
) -> (
    Option<(WorkerHandle, Arc<ExecutorParams>)>,
    ValidationOutcome,
) {
    let req = &job.pending.req;
    spawner
        .metrics
        .observe_execution_queued_time(job.queued.elapsed());
    let worker = worker.and_then(|(w, p)| spawner.alive(w).map(|w| (w, p)));
    let (mut worker, params) = match worker {
        Some(w) => w,
        None => {
            let spawned = tokio::select! {
                spawned = spawner.spawn(WorkerKind::Execute) => spawned,
                () = spawner.stopping() => return (None, Err(host_shutting_down())),
            };
            match spawned {
                Ok(w) => (w, req.pvf.executor_params.clone()),
                Err(e) => return (None, Err(e)),
            }
        }
    };
    let answer = tokio::select! {
        answer = exchange::execute(&mut worker, &job.artifact, &req.params, &params, job.pending.timeout) => Some(answer),
        () = spawner.stopping() => None,
    };
    let Some(answer) = answer else {
        spawner.discard(worker).await;
        return (None, Err(host_shutting_down()));
    };
    let keep = answer.is_ok();
    let outcome = classify::execute_outcome(answer, job.pending.timeout).map(|e| {
        spawner
            .metrics
            .observe_execution_time(Duration::from_nanos(e.cpu_time_ns));
        e.result
    });
    if keep {
        (Some((worker, params)), outcome)
    } else {
        spawner.discard(worker).await;
        (None, outcome)
    }
}

/// Whether a pre-check job's failure comes from what only a pre-check imposes (its shorter
/// timeout, its memory limit, its runtime-construction check), so that a lenient preparation
/// of the same code may still succeed.
fn precheck_only(error: &PrepareError) -> bool {
    matches!(
        error,
        PrepareError::TimedOut
            | PrepareError::OutOfMemory { .. }
            | PrepareError::RuntimeConstruction(_)
    )
}
