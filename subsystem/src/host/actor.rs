//! The host actor: owns the artifact table, routes every request to the prepare pool or the
//! execute pool, decides retries, prunes the cache, and answers every request exactly once.
//!
//! ```text
//!  ToHost ──▶ host ──ToPreparePool──▶ prepare pool ──FromPreparePool──▶ host
//!              │  ──ToExecutePool──▶ execute pool ──FromExecutePool──▶ host
//!              └──ToSweeper──▶ sweeper (file work on the blocking pool)
//! ```
//!
//! Retries and artifact deletions are [`verdict_policy`]'s decisions (the reference's: only
//! for approval and dispute, once per class of failure, never past the request's execution
//! timeout, each retry with what is left of it; a runtime-construction failure deletes the
//! artifact and prepares it again before its retry, except for backing). What a preparation
//! outcome means for its waiters is in [`super::prepared`].

use super::{
    Config,
    artifacts::{ArtifactId, ArtifactState, ArtifactTable},
    classify::verdict_class,
    execute_pool::{FromExecutePool, ToExecutePool, host_shutting_down},
    execute_queue::{ExecuteJob, PendingExecute, Viability},
    prepare_pool::{FromPreparePool, ToPreparePool, shutting_down},
    prepare_queue::PrepareJob,
    sweeper::ToSweeper,
};
use futures::channel::oneshot;
use pvf_messages::{
    PrepareError, ValidationError,
    host::{PrecheckResult, PreparePriority, PvfPrepData, ToHost, ValidationOutcome},
    verdict_policy::{self, Next},
};
use pvf_metrics::{Flavor, Metrics};
use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Instant,
};
use tokio::sync::{mpsc, watch};

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

/// Why the host stopped on its own, before every handle was dropped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostExit {
    /// A worker binary of another version answered: the node must be restarted.
    #[error("{0}")]
    WorkerVersionMismatch(String),
}

/// The channels to the other actors; dropped (closed) to shut them down.
pub(crate) struct Peers {
    pub(crate) prepare: mpsc::UnboundedSender<ToPreparePool>,
    pub(crate) execute: mpsc::UnboundedSender<ToExecutePool>,
    pub(crate) sweeper: mpsc::UnboundedSender<ToSweeper>,
}

pub(crate) struct Actor {
    pub(super) config: Config,
    pub(super) metrics: Metrics,
    stop: watch::Sender<bool>,
    fatal: watch::Receiver<Option<String>>,
    pub(super) table: ArtifactTable,
    peers: Option<Peers>,
    pub(super) waiting_execute: HashMap<ArtifactId, Vec<PendingExecute>>,
    pub(super) waiting_precheck: HashMap<ArtifactId, Vec<oneshot::Sender<PrecheckResult>>>,
    /// Jobs handed to the execute pool and not back yet, per artifact (never pruned).
    in_pool: HashMap<ArtifactId, usize>,
    /// Artifacts whose file the sweeper is deleting (how many deletions), and preparations
    /// of them held back until it has: a new file must not be installed before the old one
    /// is gone.
    deleting: HashMap<ArtifactId, usize>,
    held_back: HashMap<ArtifactId, PrepareJob>,
    /// Retries waiting for their delay, earliest first.
    retries: Vec<(Instant, PendingExecute)>,
    view: Arc<Viability>,
    stats: Arc<Mutex<HostStats>>,
    pub(super) shutting_down: bool,
}

impl Actor {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: Config,
        table: ArtifactTable,
        peers: Peers,
        stop: watch::Sender<bool>,
        fatal: watch::Receiver<Option<String>>,
        stats: Arc<Mutex<HostStats>>,
    ) -> Self {
        Self {
            metrics: config.metrics.clone(),
            config,
            stop,
            fatal,
            table,
            peers: Some(peers),
            waiting_execute: HashMap::new(),
            waiting_precheck: HashMap::new(),
            in_pool: HashMap::new(),
            deleting: HashMap::new(),
            held_back: HashMap::new(),
            retries: Vec::new(),
            view: Arc::default(),
            stats,
            shutting_down: false,
        }
    }

    pub(super) fn stat(&self, f: impl FnOnce(&mut HostStats)) {
        f(&mut self.stats.lock().expect("stats lock is never poisoned"));
    }

    /// Runs until every handle is gone (or a worker of another version stops the host) and
    /// every request is answered; the pools have stopped their workers by then.
    pub(crate) async fn run(
        mut self,
        mut requests: mpsc::Receiver<ToHost>,
        mut from_prepare: mpsc::UnboundedReceiver<FromPreparePool>,
        mut from_execute: mpsc::UnboundedReceiver<FromExecutePool>,
        mut deleted: mpsc::UnboundedReceiver<ArtifactId>,
    ) -> Result<(), HostExit> {
        let mut prune = tokio::time::interval(self.config.prune_interval);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut prepare_open, mut execute_open) = (true, true);
        let mut exit = Ok(());
        while prepare_open || execute_open {
            let next_retry = self.retries.first().map(|(at, _)| *at);
            let retry_due = async {
                match next_retry {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                req = requests.recv(), if !self.shutting_down => match req {
                    Some(req) => self.handle_request(req),
                    None => self.begin_shutdown(),
                },
                msg = from_prepare.recv(), if prepare_open => match msg {
                    Some(FromPreparePool::Prepared { id, kind, outcome }) => {
                        self.prepared(id, kind, outcome)
                    }
                    None => prepare_open = false,
                },
                msg = from_execute.recv(), if execute_open => match msg {
                    Some(FromExecutePool::Executed { job, outcome }) => {
                        self.returned(&job);
                        self.executed(*job, outcome)
                    }
                    Some(FromExecutePool::NotRun { job, error }) => {
                        self.returned(&job);
                        self.answer(job.pending, Err(error))
                    }
                    None => execute_open = false,
                },
                Some(id) = deleted.recv() => self.deleted(id),
                Ok(()) = self.fatal.changed(), if !self.shutting_down => {
                    let message = self.fatal.borrow_and_update().clone();
                    if let Some(message) = message {
                        exit = Err(HostExit::WorkerVersionMismatch(message));
                        self.begin_shutdown();
                    }
                }
                () = retry_due => {
                    let (_, mut pending) = self.retries.remove(0);
                    pending.timeout = time_left(&pending);
                    self.execute(pending);
                }
                _ = prune.tick() => self.prune(),
            }
            let (count, bytes) = self.table.prepared_size();
            self.metrics.set_artifact_cache(bytes, count);
        }
        exit
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
                    // An artifact named by a heads-up counts as used now: it is not pruned
                    // before the code it belongs to is enacted.
                    if self.table.touch(&id).is_none() && self.needs_preparation(&id) {
                        self.enqueue_prepare(id, pvf, PreparePriority::Normal);
                    }
                }
            }
            ToHost::UpdateActiveLeaves { active } => {
                self.view = Arc::new(Viability::new(active));
                let mut stale = Vec::new();
                for waiting in self.waiting_execute.values_mut() {
                    let (gone, keep): (Vec<_>, Vec<_>) =
                        waiting.drain(..).partition(|p| self.view.drops(p));
                    *waiting = keep;
                    stale.extend(gone);
                }
                for pending in stale {
                    self.answer(pending, Err(ValidationError::ExecutionDeadline));
                }
                self.send_execute(ToExecutePool::ActiveLeaves(self.view.clone()));
            }
        }
    }

    /// Whether `id` is neither prepared, nor preparing, nor failed in a way that forbids a
    /// new attempt now.
    pub(super) fn needs_preparation(&self, id: &ArtifactId) -> bool {
        match self.table.get(id) {
            None => true,
            Some(ArtifactState::Failed(_)) => self.failed_for_now(id).is_none(),
            Some(_) => false,
        }
    }

    /// The error of a failed preparation of `id` that may not be tried again yet.
    pub(super) fn failed_for_now(&self, id: &ArtifactId) -> Option<PrepareError> {
        match self.table.get(id) {
            Some(ArtifactState::Failed(f))
                if !f.may_retry(&self.config.prepare_retry, Instant::now()) =>
            {
                Some(f.error.clone())
            }
            _ => None,
        }
    }

    pub(super) fn enqueue_prepare(
        &mut self,
        id: ArtifactId,
        pvf: PvfPrepData,
        priority: PreparePriority,
    ) {
        let prior_failures = match self.table.get(&id) {
            Some(ArtifactState::Preparing { .. }) => None,
            Some(ArtifactState::Failed(f)) => Some(f.failures),
            _ => Some(0),
        };
        if let Some(prior_failures) = prior_failures {
            self.table
                .set(id, ArtifactState::Preparing { prior_failures });
        }
        self.push_prepare(PrepareJob { id, pvf, priority });
    }

    /// Hands a preparation to the prepare pool, or holds it back while the artifact's old
    /// file is being deleted.
    pub(super) fn push_prepare(&mut self, job: PrepareJob) {
        if self.deleting.contains_key(&job.id) {
            match self.held_back.get_mut(&job.id) {
                // A pre-check's strict kind wins over a lenient preparation.
                Some(held) if job.pvf.prep_kind == pvf_messages::PvfPrepKind::Precheck => {
                    held.pvf = job.pvf;
                    held.priority = held.priority.max(job.priority);
                }
                Some(held) => held.priority = held.priority.max(job.priority),
                None => {
                    self.held_back.insert(job.id, job);
                }
            }
            return;
        }
        self.stat(|s| s.preparations += 1);
        self.metrics.on_prepare_enqueued();
        self.send_prepare(ToPreparePool::Enqueue(job));
    }

    pub(super) fn send_prepare(&mut self, msg: ToPreparePool) {
        if let ToPreparePool::MakeCritical { id, precheck } = &msg
            && let Some(held) = self.held_back.get_mut(id)
        {
            held.priority = PreparePriority::Critical;
            if let Some(pvf) = precheck {
                held.pvf = pvf.clone();
            }
            return;
        }
        if let Some(peers) = &self.peers {
            let _ = peers.prepare.send(msg);
        }
    }

    fn send_execute(&self, msg: ToExecutePool) {
        if let Some(peers) = &self.peers {
            let _ = peers.execute.send(msg);
        }
    }

    pub(super) fn sweep(&mut self, work: ToSweeper) {
        if let ToSweeper::Delete { id, .. } = &work {
            *self.deleting.entry(*id).or_default() += 1;
        }
        if let Some(peers) = &self.peers {
            let _ = peers.sweeper.send(work);
        }
    }

    /// The sweeper deleted a file of `id`: a preparation held back for it may go.
    fn deleted(&mut self, id: ArtifactId) {
        if let Some(n) = self.deleting.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                self.deleting.remove(&id);
                if let Some(job) = self.held_back.remove(&id) {
                    self.push_prepare(job);
                }
            }
        }
    }

    /// Runs `pending` if its artifact is prepared; else prepares it first (any kind: a
    /// missing artifact is prepared again, never a lost request).
    pub(super) fn execute(&mut self, pending: PendingExecute) {
        if self.shutting_down {
            self.answer(pending, Err(host_shutting_down()));
            return;
        }
        if self.view.drops(&pending) {
            self.answer(pending, Err(ValidationError::ExecutionDeadline));
            return;
        }
        let id = ArtifactId::of(&pending.req.pvf);
        if let Some((artifact, generation)) = self.table.touch(&id) {
            self.metrics.on_execute_enqueued();
            *self.in_pool.entry(id).or_default() += 1;
            let job = ExecuteJob {
                pending,
                id,
                artifact,
                generation,
                queued: Instant::now(),
            };
            self.send_execute(ToExecutePool::Enqueue(Box::new(job)));
            return;
        }
        match self.table.get(&id) {
            Some(ArtifactState::Failed(_)) if let Some(error) = self.failed_for_now(&id) => {
                self.answer(pending, Err(ValidationError::Preparation(error)));
            }
            Some(ArtifactState::Preparing { .. }) => {
                self.send_prepare(ToPreparePool::MakeCritical { id, precheck: None });
                self.waiting_execute.entry(id).or_default().push(pending);
            }
            _ => {
                let pvf = pending.req.pvf.clone();
                self.waiting_execute.entry(id).or_default().push(pending);
                self.enqueue_prepare(id, pvf, PreparePriority::Critical);
            }
        }
    }

    /// A job came back from the execute pool.
    fn returned(&mut self, job: &ExecuteJob) {
        if let Some(n) = self.in_pool.get_mut(&job.id) {
            *n -= 1;
            if *n == 0 {
                self.in_pool.remove(&job.id);
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
            if let Some(path) = self.table.remove_generation(&job.id, job.generation) {
                self.sweep(ToSweeper::Delete { id: job.id, path });
            }
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
                let at = Instant::now() + delay;
                let i = self.retries.partition_point(|(t, _)| *t <= at);
                self.retries.insert(i, (at, pending));
            }
        }
    }

    /// Answers `pending` and records the verdict and the latency.
    pub(super) fn answer(&self, pending: PendingExecute, outcome: ValidationOutcome) {
        self.metrics.on_verdict(verdict_class(&outcome));
        self.metrics
            .observe_candidate_latency(pending.received.elapsed());
        let _ = pending.req.response.send(outcome);
    }

    fn prune(&mut self) {
        let in_use: HashSet<ArtifactId> = self.in_pool.keys().copied().collect();
        let removed: Vec<(ArtifactId, PathBuf)> = self.table.prune(
            self.config.cache_max_bytes,
            self.config.cache_min_unused,
            Instant::now(),
            &in_use,
        );
        if !removed.is_empty() {
            tracing::info!(
                removed = removed.len(),
                "pruned least-recently-used artifacts"
            );
        }
        for (id, path) in removed {
            self.sweep(ToSweeper::Delete { id, path });
        }
    }

    /// Stops taking requests: signals running jobs to stop, closes the pools' channels (they
    /// return what they hold, then end), and answers the retries that wait.
    fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        let _ = self.stop.send(true);
        self.peers = None;
        for (_, pending) in std::mem::take(&mut self.retries) {
            self.answer(pending, Err(host_shutting_down()));
        }
        for (id, job) in std::mem::take(&mut self.held_back) {
            self.prepared(id, job.pvf.prep_kind, Err(shutting_down()));
        }
    }
}

/// What is left of `pending`'s execution timeout: the CPU budget of a retry (the reference's
/// `new_timeout`).
fn time_left(pending: &PendingExecute) -> std::time::Duration {
    pending
        .req
        .exec_timeout
        .saturating_sub(pending.received.elapsed())
}
