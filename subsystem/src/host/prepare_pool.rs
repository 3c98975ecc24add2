//! The prepare pool: an actor that owns the prepare queue and the prepare workers.
//!
//! The host sends it [`ToPreparePool`] messages; it starts jobs while the soft and hard
//! worker limits allow ([`PrepareQueue::pop`]), retires workers above the soft limit once
//! they are idle, and reports every preparation back as one [`FromPreparePool::Prepared`].
//! Installing an artifact (reading it to check its length and hash it) runs on the blocking
//! thread pool, never on the async executor.

use super::{
    artifacts::{ArtifactId, CacheDir},
    classify, exchange,
    prepare_queue::{PrepareJob, PrepareLimits, PrepareQueue},
    spawner::Spawner,
    worker::WorkerHandle,
};
use futures::FutureExt;
use pvf_messages::{PrepareError, PvfPrepKind, host::PvfPrepData, protocol::WorkerKind};
use pvf_metrics::Flavor;
use std::{path::PathBuf, sync::Arc, time::Instant};
use tokio::{sync::mpsc, task::JoinSet};

/// What the host asks of the prepare pool.
#[derive(Debug)]
pub(crate) enum ToPreparePool {
    /// Queue a preparation (or raise the priority of the one queued for the same artifact).
    Enqueue(PrepareJob),
    /// Someone now waits for `id`: make its queued job critical; a pre-check's `pvf` replaces
    /// the queued job's so that it runs with the pre-check's limits.
    MakeCritical {
        /// The artifact.
        id: ArtifactId,
        /// The pre-check that made it urgent, if one did.
        precheck: Option<PvfPrepData>,
    },
}

/// What the prepare pool reports to the host.
#[derive(Debug)]
pub(crate) enum FromPreparePool {
    /// A preparation ended (or was abandoned at shutdown: a local failure).
    Prepared {
        /// The artifact.
        id: ArtifactId,
        /// The kind of preparation that ran.
        kind: PvfPrepKind,
        /// Where the artifact was installed and its size, or why there is none.
        outcome: Result<(PathBuf, u64), PrepareFailure>,
    },
}

/// A failed preparation, and whether the fault was on this side (spawning the worker,
/// installing the artifact): such faults are not remembered as the PVF's failure.
#[derive(Debug)]
pub(crate) struct PrepareFailure {
    pub(crate) error: PrepareError,
    pub(crate) local: bool,
}

impl PrepareFailure {
    pub(crate) fn local(error: PrepareError) -> Self {
        Self { error, local: true }
    }

    fn of_job(error: PrepareError) -> Self {
        Self {
            error,
            local: false,
        }
    }
}

pub(crate) fn shutting_down() -> PrepareFailure {
    PrepareFailure::local(PrepareError::IoErr(
        "the validation host is shutting down".into(),
    ))
}

/// What a finished job task returns: the artifact, the kind of preparation, the worker if
/// it can be reused, and the outcome.
type Done = (
    ArtifactId,
    PvfPrepKind,
    Option<WorkerHandle>,
    Result<(PathBuf, u64), PrepareFailure>,
);

/// The prepare pool's state.
pub(crate) struct PreparePool {
    spawner: Arc<Spawner>,
    cache: CacheDir,
    limits: PrepareLimits,
    queue: PrepareQueue,
    idle: Vec<WorkerHandle>,
    running: JoinSet<Done>,
    retiring: JoinSet<()>,
    to_host: mpsc::UnboundedSender<FromPreparePool>,
}

impl PreparePool {
    pub(crate) fn new(
        spawner: Arc<Spawner>,
        cache: CacheDir,
        limits: PrepareLimits,
        to_host: mpsc::UnboundedSender<FromPreparePool>,
    ) -> Self {
        Self {
            spawner,
            cache,
            limits,
            queue: PrepareQueue::default(),
            idle: Vec::new(),
            running: JoinSet::new(),
            retiring: JoinSet::new(),
            to_host,
        }
    }

    /// Runs until the host's sender is dropped; then answers what is queued as abandoned,
    /// waits for running jobs (which the host's stop signal cuts short) and stops every
    /// worker.
    pub(crate) async fn run(mut self, mut from_host: mpsc::UnboundedReceiver<ToPreparePool>) {
        let metrics = self.spawner.metrics.clone();
        loop {
            tokio::select! {
                msg = from_host.recv() => match msg {
                    Some(ToPreparePool::Enqueue(job)) => self.queue.push(job),
                    Some(ToPreparePool::MakeCritical { id, precheck: None }) => {
                        self.queue.make_critical(&id)
                    }
                    Some(ToPreparePool::MakeCritical { id, precheck: Some(pvf) }) => {
                        self.queue.make_critical_with(&id, pvf)
                    }
                    None => break,
                },
                Some(done) = self.running.join_next(), if !self.running.is_empty() => {
                    self.finished(done);
                }
                Some(_) = self.retiring.join_next(), if !self.retiring.is_empty() => {}
            }
            self.schedule();
            let (critical, normal) = self.queue.depths();
            metrics.set_queue_depth(Flavor::Prepare, "critical", critical);
            metrics.set_queue_depth(Flavor::Prepare, "normal", normal);
        }
        for job in self.queue.drain() {
            self.report(job.id, job.pvf.prep_kind, Err(shutting_down()));
        }
        while let Some(done) = self.running.join_next().await {
            self.finished(done);
        }
        for worker in std::mem::take(&mut self.idle) {
            self.retire(worker);
        }
        while self.retiring.join_next().await.is_some() {}
    }

    fn finished(&mut self, done: Result<Done, tokio::task::JoinError>) {
        // Job tasks catch their own panics, so a join error is an abort at runtime shutdown.
        let Ok((id, kind, worker, outcome)) = done else {
            return;
        };
        self.spawner.metrics.on_prepare_concluded();
        if let Some(w) = worker {
            self.idle.push(w);
        }
        self.report(id, kind, outcome);
    }

    fn report(
        &self,
        id: ArtifactId,
        kind: PvfPrepKind,
        outcome: Result<(PathBuf, u64), PrepareFailure>,
    ) {
        let _ = self
            .to_host
            .send(FromPreparePool::Prepared { id, kind, outcome });
    }

    fn retire(&mut self, worker: WorkerHandle) {
        self.spawner.metrics.on_worker_retired(Flavor::Prepare);
        self.retiring.spawn(worker.shutdown());
    }

    /// Starts queued jobs while the limits allow; retires idle workers above the soft limit.
    fn schedule(&mut self) {
        while let Some(job) = self.queue.pop(self.running.len(), self.limits) {
            let worker = self.idle.pop();
            self.spawner.metrics.on_preparation_started();
            let spawner = self.spawner.clone();
            let cache = self.cache.clone();
            self.running.spawn(async move {
                // A panic in the job must still be reported, or its waiters would never be
                // answered.
                let run = std::panic::AssertUnwindSafe(prepare_job(&spawner, &cache, worker, &job));
                let (worker, outcome) = run.catch_unwind().await.unwrap_or_else(|panic| {
                    let msg = crate::host::panic_message(&*panic);
                    (None, Err(PrepareFailure::local(PrepareError::IoErr(msg))))
                });
                (job.id, job.pvf.prep_kind, worker, outcome)
            });
        }
        while self.idle.len() + self.running.len() > self.limits.soft {
            match self.idle.pop() {
                Some(w) => self.retire(w),
                None => break,
            }
        }
    }
}

/// One preparation: a worker (the idle one given, or a new one), one request, and the
/// artifact installed into the cache. Its wall-clock time is recorded whatever the outcome
/// (`polkadot_pvf_preparation_time`, as the reference times every job).
async fn prepare_job(
    spawner: &Spawner,
    cache: &CacheDir,
    worker: Option<WorkerHandle>,
    job: &PrepareJob,
) -> (Option<WorkerHandle>, Result<(PathBuf, u64), PrepareFailure>) {
    let pvf = &job.pvf;
    let deadline = Instant::now() + pvf.prep_timeout;
    let mut worker = match worker.and_then(|w| spawner.alive(w)) {
        Some(w) => w,
        None => {
            let spawned = tokio::select! {
                spawned = spawner.spawn(WorkerKind::Prepare, deadline) => spawned,
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
    let started = Instant::now();
    let answer = tokio::select! {
        answer = exchange::prepare(&mut worker, pvf) => Some(answer),
        () = spawner.stopping() => None,
    };
    let Some(answer) = answer else {
        spawner.discard(worker).await;
        return (None, Err(shutting_down()));
    };
    let metrics = &spawner.metrics;
    metrics.observe_preparation_time(started.elapsed());
    let keep = answer.is_ok();
    let outcome = match classify::prepare_outcome(answer) {
        Err(e) => Err(PrepareFailure::of_job(e)),
        Ok(ok) => {
            metrics.observe_preparation_max_rss(ok.memory.max_rss_bytes);
            metrics.observe_preparation_peak_tracked_allocation(ok.memory.peak_tracked_bytes);
            let (dir, cache, id) = (worker.dir().to_path_buf(), cache.clone(), job.id);
            // Reading and hashing the artifact is blocking file work.
            tokio::task::spawn_blocking(move || exchange::install_from(&dir, &cache, &id, &ok))
                .await
                .unwrap_or_else(|e| Err(PrepareError::IoErr(e.to_string())))
                .map_err(PrepareFailure::local)
        }
    };
    if keep {
        (Some(worker), outcome)
    } else {
        spawner.discard(worker).await;
        (None, outcome)
    }
}
