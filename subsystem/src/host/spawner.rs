//! Spawning, checking and discarding workers, shared by both pools' job tasks.

use super::{
    classify,
    discovery::WorkerPaths,
    worker::{SpawnConfig, SpawnError, WorkerHandle},
};
use pvf_messages::{ValidationError, frame::FrameError, protocol::WorkerKind};
use pvf_metrics::{Flavor, Metrics};
use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// Pause between spawn attempts.
const SPAWN_RETRY_DELAY: Duration = Duration::from_millis(500);

/// The metrics label of a worker kind.
pub(crate) fn flavor(kind: WorkerKind) -> Flavor {
    match kind {
        WorkerKind::Prepare => Flavor::Prepare,
        WorkerKind::Execute => Flavor::Execute,
    }
}

/// Spawns workers; shared by the job tasks of both pools.
pub(crate) struct Spawner {
    pub(crate) paths: WorkerPaths,
    pub(crate) config: SpawnConfig,
    pub(crate) metrics: Metrics,
    pub(crate) stop: tokio::sync::watch::Receiver<bool>,
    /// Set once a worker binary of another version answers the handshake: the node must be
    /// restarted (an in-place upgrade), and the host stops.
    pub(crate) fatal: tokio::sync::watch::Sender<Option<String>>,
    /// Serialises the message of the first mismatch.
    fatal_once: Mutex<()>,
}

impl Spawner {
    pub(crate) fn new(
        paths: WorkerPaths,
        config: SpawnConfig,
        metrics: Metrics,
        stop: tokio::sync::watch::Receiver<bool>,
        fatal: tokio::sync::watch::Sender<Option<String>>,
    ) -> Self {
        Self {
            paths,
            config,
            metrics,
            stop,
            fatal,
            fatal_once: Mutex::new(()),
        }
    }

    /// Spawns a worker, trying again after a short pause while the failure may be transient
    /// (a timeout, an early exit, an I/O error, a handshake cut short) and `deadline` has not
    /// passed by the end of the pause (at least one attempt is always made; the last may end
    /// up to one spawn timeout past the deadline). A missing binary, a
    /// sandbox failure or a version mismatch is final at once; a version mismatch also stops
    /// the host (see [`Self::fatal`]).
    pub(crate) async fn spawn(
        &self,
        kind: WorkerKind,
        deadline: Instant,
    ) -> Result<WorkerHandle, ValidationError> {
        let mut attempt = 1;
        loop {
            self.metrics.on_worker_spawning(flavor(kind));
            match WorkerHandle::spawn(kind, self.paths.get(kind), &self.config).await {
                Ok(worker) => {
                    self.metrics.on_worker_spawned(flavor(kind));
                    return Ok(worker);
                }
                Err(e) => {
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
                    if let SpawnError::VersionMismatch { .. } = &e {
                        self.version_mismatch(&e);
                    }
                    if !transient || Instant::now() + SPAWN_RETRY_DELAY >= deadline {
                        return Err(classify::spawn_error(e));
                    }
                    tracing::warn!(error = %e, attempt, "spawning a worker failed; trying again");
                    self.metrics.on_retry(flavor(kind), "spawn");
                    attempt += 1;
                    tokio::select! {
                        () = tokio::time::sleep(SPAWN_RETRY_DELAY) => {}
                        () = self.stopping() => return Err(classify::spawn_error(e)),
                    }
                }
            }
        }
    }

    /// Records the first version mismatch: the operator must restart the node.
    fn version_mismatch(&self, e: &SpawnError) {
        let _once = self.fatal_once.lock().expect("never poisoned");
        if self.fatal.borrow().is_some() {
            return;
        }
        let message = format!(
            "{e}. The worker binaries were replaced while the node runs (an in-place \
             upgrade?): the node stops; restart it so that node and workers are the same release"
        );
        tracing::error!("{message}");
        let _ = self.fatal.send(Some(message));
    }

    /// An idle worker if it is still alive, else `None` (and it is counted as retired).
    pub(crate) fn alive(&self, mut worker: WorkerHandle) -> Option<WorkerHandle> {
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
    pub(crate) async fn stopping(&self) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|stopping| *stopping).await;
    }

    /// Kills a worker that cannot be reused.
    pub(crate) async fn discard(&self, mut worker: WorkerHandle) {
        self.metrics.on_worker_retired(flavor(worker.kind()));
        worker.kill().await;
    }
}
