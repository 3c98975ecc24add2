//! The host actor's side of preparation: pre-check requests, and what a preparation's
//! outcome means for the artifact table and for the requests that wait on it.

use super::{
    actor::Actor,
    artifacts::{ArtifactId, ArtifactState, FailedPreparation},
    execute_pool::host_shutting_down,
    prepare_pool::{PrepareFailure, ToPreparePool},
    prepare_queue::PrepareJob,
    sweeper::ToSweeper,
};
use futures::channel::oneshot;
use pvf_messages::{
    PrepareError, PvfPrepKind, ValidationError,
    host::{PrecheckResult, PreparePriority, PvfPrepData},
};
use std::{path::PathBuf, time::Instant};

impl Actor {
    /// Pre-checks are answered by pre-check jobs only, never from an artifact prepared
    /// leniently: what a pre-check concludes (its timeout, its memory limit, its
    /// runtime-construction check) must not depend on what this node happened to prepare
    /// before. An artifact serving executions keeps serving them while its pre-check runs.
    pub(super) fn precheck(&mut self, pvf: PvfPrepData, response: oneshot::Sender<PrecheckResult>) {
        if self.shutting_down {
            let _ = response.send(Err(PrepareError::IoErr(
                "the validation host is shutting down".into(),
            )));
            return;
        }
        let id = ArtifactId::of(&pvf);
        match self.table.get(&id) {
            Some(ArtifactState::Prepared(a)) if a.prechecked => {
                let _ = response.send(Ok(()));
            }
            Some(ArtifactState::Prepared(_)) => {
                let queued = self.waiting_precheck.contains_key(&id);
                self.waiting_precheck.entry(id).or_default().push(response);
                if !queued {
                    self.push_prepare(PrepareJob {
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
                self.send_prepare(ToPreparePool::MakeCritical {
                    id,
                    precheck: Some(pvf),
                });
                self.waiting_precheck.entry(id).or_default().push(response);
            }
            _ => {
                self.waiting_precheck.entry(id).or_default().push(response);
                self.enqueue_prepare(id, pvf, PreparePriority::Critical);
            }
        }
    }

    /// A preparation ended: updates the table and answers or runs what waited on it.
    pub(super) fn prepared(
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
                    self.sweep(ToSweeper::RecordFailure {
                        id,
                        error: error.clone(),
                    });
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
                    let answer = if self.shutting_down {
                        host_shutting_down()
                    } else {
                        ValidationError::Preparation(error.clone())
                    };
                    self.answer(pending, Err(answer));
                }
            }
        }
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
