//! The execute pool: an actor that owns the execute queue and the execute workers.
//!
//! The host sends it [`ToExecutePool`] messages. A worker is bound to the executor
//! parameters it was spawned with: a job goes to an idle worker with its parameters, else a
//! new worker is spawned (an idle worker bound to other parameters is retired first when the
//! pool is full). Every job comes back to the host once, as [`FromExecutePool::Executed`]
//! (it ran) or [`FromExecutePool::NotRun`] (dropped from the queue: no longer viable, or the
//! host is shutting down).

use super::{
    WALL_CLOCK_FACTOR, classify, exchange,
    execute_queue::{ExecuteJob, ExecuteQueue, Viability},
    spawner::Spawner,
    worker::WorkerHandle,
};
use futures::FutureExt;
use pvf_messages::{
    ExecutorParams, InternalValidationError, ValidationError, host::ValidationOutcome,
    protocol::WorkerKind,
};
use pvf_metrics::Flavor;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::{sync::mpsc, task::JoinSet};

/// What the host asks of the execute pool.
#[derive(Debug)]
pub(crate) enum ToExecutePool {
    /// Run a job whose artifact is prepared.
    Enqueue(Box<ExecuteJob>),
    /// The relay chain moved: drop queued backing jobs that are no longer viable.
    ActiveLeaves(Arc<Viability>),
}

/// What the execute pool reports to the host.
#[derive(Debug)]
pub(crate) enum FromExecutePool {
    /// A job ran; the host answers it or tries it again.
    Executed {
        /// The job.
        job: Box<ExecuteJob>,
        /// What the worker's answer (or silence) means.
        outcome: ValidationOutcome,
    },
    /// A job left the queue without running; the host answers it with `error`.
    NotRun {
        /// The job.
        job: Box<ExecuteJob>,
        /// Why ([`ValidationError::ExecutionDeadline`], or the host shutting down).
        error: ValidationError,
    },
}

type Idle = (WorkerHandle, Arc<ExecutorParams>);
type Done = (Box<ExecuteJob>, Option<Idle>, ValidationOutcome);

pub(crate) fn host_shutting_down() -> ValidationError {
    ValidationError::Internal(InternalValidationError::HostCommunication(
        "the validation host is shutting down".into(),
    ))
}

/// The execute pool's state.
pub(crate) struct ExecutePool {
    spawner: Arc<Spawner>,
    max_workers: usize,
    queue: ExecuteQueue,
    idle: Vec<Idle>,
    running: JoinSet<Done>,
    retiring: JoinSet<()>,
    to_host: mpsc::UnboundedSender<FromExecutePool>,
}

impl ExecutePool {
    pub(crate) fn new(
        spawner: Arc<Spawner>,
        max_workers: usize,
        to_host: mpsc::UnboundedSender<FromExecutePool>,
    ) -> Self {
        Self {
            spawner,
            max_workers: max_workers.max(1),
            queue: ExecuteQueue::default(),
            idle: Vec::new(),
            running: JoinSet::new(),
            retiring: JoinSet::new(),
            to_host,
        }
    }

    /// Runs until the host's sender is dropped; then returns what is queued as not run,
    /// waits for running jobs (which the host's stop signal cuts short) and stops every
    /// worker.
    pub(crate) async fn run(mut self, mut from_host: mpsc::UnboundedReceiver<ToExecutePool>) {
        let metrics = self.spawner.metrics.clone();
        // Backing jobs that outwait their own timeout in the queue are dropped too.
        let mut expiry = tokio::time::interval(Duration::from_millis(250));
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = from_host.recv() => match msg {
                    Some(ToExecutePool::Enqueue(job)) => self.queue.push(*job),
                    Some(ToExecutePool::ActiveLeaves(view)) => {
                        for job in self.queue.take_expired(Some(&view), Instant::now()) {
                            self.not_run(job, ValidationError::ExecutionDeadline);
                        }
                    }
                    None => break,
                },
                Some(done) = self.running.join_next(), if !self.running.is_empty() => {
                    self.finished(done);
                }
                Some(_) = self.retiring.join_next(), if !self.retiring.is_empty() => {}
                _ = expiry.tick(), if !self.queue.is_empty() => {}
            }
            for job in self.queue.take_expired(None, Instant::now()) {
                self.not_run(job, ValidationError::ExecutionDeadline);
            }
            self.schedule();
            for (kind, depth) in self.queue.depths() {
                metrics.set_queue_depth(Flavor::Execute, kind.as_str(), depth);
            }
        }
        for job in self.queue.drain() {
            self.not_run(job, host_shutting_down());
        }
        while let Some(done) = self.running.join_next().await {
            self.finished(done);
        }
        for (worker, _) in std::mem::take(&mut self.idle) {
            self.retire(worker);
        }
        while self.retiring.join_next().await.is_some() {}
    }

    fn not_run(&self, job: ExecuteJob, error: ValidationError) {
        let job = Box::new(job);
        let _ = self.to_host.send(FromExecutePool::NotRun { job, error });
    }

    fn finished(&mut self, done: Result<Done, tokio::task::JoinError>) {
        // Job tasks catch their own panics, so a join error is an abort at runtime shutdown.
        let Ok((job, worker, outcome)) = done else {
            return;
        };
        self.spawner.metrics.on_execute_finished();
        if let Some(w) = worker {
            self.idle.push(w);
        }
        let _ = self
            .to_host
            .send(FromExecutePool::Executed { job, outcome });
    }

    fn retire(&mut self, worker: WorkerHandle) {
        self.spawner.metrics.on_worker_retired(Flavor::Execute);
        self.retiring.spawn(worker.shutdown());
    }

    /// Starts queued jobs while workers allow.
    fn schedule(&mut self) {
        while self.running.len() < self.max_workers {
            let idle = &self.idle;
            let fits = |job: &ExecuteJob| {
                let params = &job.pending.req.pvf.executor_params;
                idle.iter().any(|(_, p)| p == params)
            };
            let Some(job) = self.queue.pop(Instant::now(), fits) else {
                break;
            };
            let params = &job.pending.req.pvf.executor_params;
            let worker = match self.idle.iter().position(|(_, p)| p == params) {
                Some(i) => Some(self.idle.swap_remove(i)),
                None => {
                    if self.idle.len() + self.running.len() >= self.max_workers {
                        // Retire an idle worker bound to other parameters to make room.
                        if let Some((w, _)) = self.idle.pop() {
                            self.retire(w);
                        }
                    }
                    None
                }
            };
            let spawner = self.spawner.clone();
            let job = Box::new(job);
            self.running.spawn(async move {
                let run = std::panic::AssertUnwindSafe(execute_job(&spawner, worker, &job));
                let (worker, outcome) = run.catch_unwind().await.unwrap_or_else(|panic| {
                    let msg = crate::host::panic_message(&*panic);
                    let error = InternalValidationError::HostCommunication(msg);
                    (None, Err(ValidationError::Internal(error)))
                });
                (job, worker, outcome)
            });
        }
    }
}

/// One execution: a worker bound to the job's executor parameters (the idle one given, or a
/// new one, spawned again while the request's wall-clock deadline, [`WALL_CLOCK_FACTOR`] ×
/// its timeout from its arrival, allows), one request, its outcome.
/// The wall-clock time of the request is recorded whatever the outcome
/// (`polkadot_pvf_execution_time`, as the reference times every job, timeouts included).
async fn execute_job(
    spawner: &Spawner,
    worker: Option<Idle>,
    job: &ExecuteJob,
) -> (Option<Idle>, ValidationOutcome) {
    let req = &job.pending.req;
    spawner
        .metrics
        .observe_execution_queued_time(job.queued.elapsed());
    let worker = worker.and_then(|(w, p)| spawner.alive(w).map(|w| (w, p)));
    let (mut worker, params) = match worker {
        Some(w) => w,
        None => {
            let deadline =
                job.pending.received + req.exec_timeout.saturating_mul(WALL_CLOCK_FACTOR);
            let spawned = tokio::select! {
                spawned = spawner.spawn(WorkerKind::Execute, deadline) => spawned,
                () = spawner.stopping() => return (None, Err(host_shutting_down())),
            };
            match spawned {
                Ok(w) => (w, req.pvf.executor_params.clone()),
                Err(e) => return (None, Err(e)),
            }
        }
    };
    let started = Instant::now();
    let timeout = job.pending.timeout;
    let answer = tokio::select! {
        answer = exchange::execute(&mut worker, &job.artifact, &req.params, &params, timeout) => Some(answer),
        () = spawner.stopping() => None,
    };
    let Some(answer) = answer else {
        spawner.discard(worker).await;
        return (None, Err(host_shutting_down()));
    };
    spawner.metrics.observe_execution_time(started.elapsed());
    let keep = answer.is_ok();
    let outcome = classify::execute_outcome(answer, timeout).map(|e| e.result);
    if keep {
        (Some((worker, params)), outcome)
    } else {
        spawner.discard(worker).await;
        (None, outcome)
    }
}
