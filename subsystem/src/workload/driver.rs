//! The workload driver: the subsystem in the overseer's workload slot that turns a
//! [`Workload`] into candidate-validation requests, as backing, approval voting and dispute
//! participation would send them, and collects the answers.
//!
//! It sends every candidate at once and lets candidate validation bound the concurrency, so
//! preparations of some PVFs overlap with executions of others. Each candidate's receipt
//! commits to the result the workload expects (head, messages, the watermark), exactly
//! as a collator's would; a PVF that returns anything else fails the post-execution checks.

use super::{
    spec::{Candidate, Workload},
    summary::Outcome,
};
use crate::overseer::{self, SpawnedSubsystem, SubsystemError};
use futures::{StreamExt, channel::oneshot, stream::FuturesUnordered};
use indicatif::{ProgressBar, ProgressStyle};
use pvf_messages::{
    BlockData, ExecutorParam, ExecutorParams, Hash, HeadData, PersistedValidationData, PoV,
    VerdictClass,
    candidate_validation::{
        CandidateCommitments, CandidateDescriptor, CandidateReceipt, CandidateValidationMessage,
        ValidationFailed, persisted_validation_data_hash,
    },
    host::ActiveLeaf,
    primitives::blake2_256,
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// The relay parent every workload candidate is built on.
pub const RELAY_PARENT: Hash = Hash([0x42; 32]);
/// The active leaf during a workload run: a child of [`RELAY_PARENT`].
pub const ACTIVE_LEAF: Hash = Hash([0x43; 32]);

/// The active leaf a workload runs under, with [`RELAY_PARENT`] in its allowed ancestry: as
/// with asynchronous backing, candidates are built on an ancestor of the leaf, not on the leaf.
pub fn active_leaf() -> ActiveLeaf {
    ActiveLeaf {
        hash: ACTIVE_LEAF,
        ancestors: vec![RELAY_PARENT],
    }
}
/// The PoV size limit the workload's validation data announces (Polkadot's default).
pub const MAX_POV_SIZE: u32 = 5 << 20;

/// Feeds a workload through candidate validation and reports the outcomes.
pub struct WorkloadDriver {
    workload: Workload,
    outcomes: oneshot::Sender<Vec<Outcome>>,
    progress: ProgressBar,
}

impl WorkloadDriver {
    /// A driver that sends `outcomes` when every candidate is answered; `progress` shows
    /// how far it is (use [`ProgressBar::hidden`] for none).
    pub fn new(
        workload: Workload,
        outcomes: oneshot::Sender<Vec<Outcome>>,
        progress: ProgressBar,
    ) -> Self {
        Self {
            workload,
            outcomes,
            progress,
        }
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress_bar(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The request for `candidate`, and the receiver of its answer.
pub fn request(
    workload: &Workload,
    candidate: &Candidate,
) -> (
    CandidateValidationMessage,
    oneshot::Receiver<pvf_messages::candidate_validation::ValidationResponse>,
) {
    let code = workload.pvfs[candidate.pvf].1.clone();
    let validation_data = PersistedValidationData {
        parent_head: HeadData(candidate.parent_head.clone()),
        relay_parent_number: candidate.relay_parent_number,
        relay_parent_storage_root: candidate.relay_parent_storage_root,
        max_pov_size: MAX_POV_SIZE,
    };
    let pov = PoV {
        block_data: BlockData(candidate.block_data.clone()),
    };
    let head = HeadData(candidate.head_data.clone().unwrap_or_default());
    let commitments = CandidateCommitments {
        head_data: head.clone(),
        hrmp_watermark: candidate.hrmp_watermark,
        upward_messages: candidate.messages.upward_messages.clone(),
        horizontal_messages: candidate.messages.horizontal_messages.clone(),
        new_validation_code: candidate.messages.new_validation_code.clone(),
        processed_downward_messages: candidate.messages.processed_downward_messages,
    };
    let descriptor = CandidateDescriptor {
        para_id: 1000 + candidate.pvf as u32,
        relay_parent: RELAY_PARENT,
        persisted_validation_data_hash: persisted_validation_data_hash(&validation_data),
        pov_hash: pov.hash(),
        erasure_root: blake2_256(&[]),
        para_head: head.hash(),
        validation_code_hash: code.hash(),
    };
    let mut executor_params = ExecutorParams::default();
    if let Some(timeout) = candidate.timeout {
        executor_params.0.push(ExecutorParam::PvfExecTimeout(
            candidate.kind,
            timeout.as_millis() as u64,
        ));
    }
    let (response_sender, rx) = oneshot::channel();
    let msg = CandidateValidationMessage::ValidateFromExhaustive {
        validation_data,
        validation_code: code,
        candidate_receipt: CandidateReceipt {
            descriptor,
            commitments_hash: commitments.hash(),
        },
        pov: Arc::new(pov),
        executor_params,
        exec_kind: candidate.kind,
        response_sender,
    };
    (msg, rx)
}

#[overseer::subsystem(Workload, error = SubsystemError, prefix = crate::overseer)]
impl<Context> WorkloadDriver {
    fn start(self, mut ctx: Context) -> SpawnedSubsystem<SubsystemError> {
        let future = Box::pin(async move {
            let Self {
                workload,
                outcomes,
                progress,
            } = self;
            let mut pending = FuturesUnordered::new();
            for (i, candidate) in workload.candidates.iter().enumerate() {
                let (msg, rx) = request(&workload, candidate);
                let sent = Instant::now();
                ctx.send_message(msg).await;
                pending.push(async move { (i, rx.await, sent.elapsed()) });
            }
            let mut results = Vec::with_capacity(workload.candidates.len());
            while let Some((i, answer, latency)) = pending.next().await {
                let candidate = &workload.candidates[i];
                let (got, reason) = match answer {
                    Ok(Ok(verdict)) => {
                        let reason = match &verdict {
                            pvf_messages::candidate_validation::CandidateVerdict::Invalid(r) => {
                                Some(r.to_string())
                            }
                            _ => None,
                        };
                        (verdict.class(), reason)
                    }
                    Ok(Err(failed)) => (failed.class(), Some(failed.to_string())),
                    Err(oneshot::Canceled) => (
                        VerdictClass::Error,
                        Some(ValidationFailed::Other("the request was dropped".into()).to_string()),
                    ),
                };
                if got != candidate.expect {
                    progress.println(format!(
                        "unexpected: {} is {} ({})",
                        candidate.name,
                        got.as_str(),
                        reason.as_deref().unwrap_or("")
                    ));
                }
                progress.set_message(candidate.name.clone());
                progress.inc(1);
                results.push(Outcome {
                    name: candidate.name.clone(),
                    expected: candidate.expect,
                    got,
                    reason,
                    latency,
                });
            }
            progress.finish_and_clear();
            let _ = outcomes.send(results);
            Ok(())
        });
        SpawnedSubsystem {
            name: "workload-driver",
            future,
        }
    }
}

/// How long the node waits for the overseer to stop after the workload is done.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
