//! The candidate-backing subsystem: a backing validator asked to second a collation.
//!
//! It answers [`CandidateBackingMessage::Second`] the honest way: the collation is validated
//! through candidate validation (`ValidateFromExhaustive` with the request's backing exec
//! kind); a valid one is seconded exactly as received (receipt and PoV), an invalid one is
//! not seconded and the reason is given, and no verdict (a local fault, a deadline, a
//! shutdown) is `Failed`. A malus node puts its own subsystem in this slot, or wraps this one.
//!
//! **Concurrency.** Requests are served concurrently: each is a future in a
//! [`FuturesUnordered`] polled by the main loop, which keeps reading messages and signals.
//! Candidate validation bounds how many run on the host at once.
//!
//! **Exactly one answer.** A request whose caller left is abandoned (its validation request
//! is dropped, so candidate validation abandons it too). On `Conclude`, every request still
//! waiting is answered `Failed(ShuttingDown)` before the subsystem returns; requests still
//! queued in the overseer's channel are never read, and their callers see cancellation.

use crate::overseer::{self, FromOrchestra, Signal, SpawnedSubsystem, SubsystemError};
use futures::{
    FutureExt, StreamExt, channel::oneshot, future::BoxFuture, stream::FuturesUnordered,
};
use orchestra::SubsystemSender;
use pvf_messages::{
    PersistedValidationData, PoV, PvfExecKind, ValidationCode,
    candidate_backing::{CandidateBackingMessage, SecondOutcome, SecondedCandidate},
    candidate_validation::{
        CandidateReceipt, CandidateValidationMessage, CandidateVerdict, ValidationFailed,
    },
    executor_params::ExecutorParams,
};
use std::sync::Arc;
use tokio::sync::watch;

const LOG_TARGET: &str = "parachain::candidate-backing";

/// The honest candidate-backing subsystem.
#[derive(Clone, Copy, Debug, Default)]
pub struct CandidateBackingSubsystem;

impl CandidateBackingSubsystem {
    /// The subsystem; it needs no configuration.
    pub fn new() -> Self {
        Self
    }
}

#[overseer::subsystem(CandidateBacking, error = SubsystemError, prefix = crate::overseer)]
impl<Context> CandidateBackingSubsystem {
    fn start(self, ctx: Context) -> SpawnedSubsystem<SubsystemError> {
        SpawnedSubsystem {
            name: "candidate-backing-subsystem",
            future: Box::pin(run(ctx)),
        }
    }
}

#[overseer::contextbounds(CandidateBacking, prefix = crate::overseer)]
async fn run<Context>(mut ctx: Context) -> Result<(), SubsystemError> {
    let mut jobs = FuturesUnordered::<BoxFuture<'static, ()>>::new();
    // Flipped on `Conclude`: every waiting job then answers at once.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    loop {
        // The main loop never waits on a job, only drives them while it waits for input.
        let next = futures::select! {
            next = ctx.recv().fuse() => next?,
            () = jobs.select_next_some() => continue,
        };
        match next {
            FromOrchestra::Signal(Signal::Conclude) => {
                let _ = shutdown_tx.send(true);
                while jobs.next().await.is_some() {}
                return Ok(());
            }
            FromOrchestra::Signal(Signal::ActiveLeaves(_)) => {}
            FromOrchestra::Communication { msg } => {
                let sender = ctx.sender().clone();
                jobs.push(job(sender, msg, shutdown_rx.clone()).boxed());
            }
        }
    }
}

/// A request to second a collation, without its response channel.
struct Collation {
    validation_data: PersistedValidationData,
    validation_code: ValidationCode,
    candidate_receipt: CandidateReceipt,
    pov: Arc<PoV>,
    executor_params: ExecutorParams,
    exec_kind: PvfExecKind,
}

/// Answers one request: seconds the collation if it is valid.
async fn job<S>(mut sender: S, msg: CandidateBackingMessage, mut shutdown: watch::Receiver<bool>)
where
    S: SubsystemSender<CandidateValidationMessage>,
{
    let CandidateBackingMessage::Second {
        validation_data,
        validation_code,
        candidate_receipt,
        pov,
        executor_params,
        exec_kind,
        mut response_sender,
    } = msg;
    let collation = Collation {
        validation_data,
        validation_code,
        candidate_receipt,
        pov,
        executor_params,
        exec_kind,
    };
    let outcome = futures::select_biased! {
        _ = shutdown.wait_for(|stop| *stop).fuse() => {
            SecondOutcome::Failed(ValidationFailed::ShuttingDown)
        }
        () = response_sender.cancellation().fuse() => {
            tracing::debug!(target: LOG_TARGET, "the caller left: seconding abandoned");
            return;
        }
        outcome = second(&mut sender, collation).fuse() => outcome,
    };
    let _ = response_sender.send(outcome);
}

/// Validates `c` with its backing exec kind and seconds it as received if it is valid.
async fn second<S>(sender: &mut S, c: Collation) -> SecondOutcome
where
    S: SubsystemSender<CandidateValidationMessage>,
{
    if !c.exec_kind.is_backing() {
        return SecondOutcome::Failed(ValidationFailed::Other(format!(
            "seconding needs a backing exec kind, not {}",
            c.exec_kind.as_str()
        )));
    }
    let candidate = c.candidate_receipt.hash();
    let (response_sender, verdict) = oneshot::channel();
    sender
        .send_message(CandidateValidationMessage::ValidateFromExhaustive {
            validation_data: c.validation_data,
            validation_code: c.validation_code,
            candidate_receipt: c.candidate_receipt.clone(),
            pov: c.pov.clone(),
            executor_params: c.executor_params,
            exec_kind: c.exec_kind,
            response_sender,
        })
        .await;
    match verdict.await {
        Ok(Ok(CandidateVerdict::Valid(..))) => {
            tracing::debug!(target: LOG_TARGET, %candidate, "seconded");
            SecondOutcome::Seconded(SecondedCandidate {
                candidate_receipt: c.candidate_receipt,
                pov: c.pov,
            })
        }
        Ok(Ok(CandidateVerdict::Invalid(reason))) => {
            tracing::info!(target: LOG_TARGET, %candidate, %reason, "not seconded: invalid");
            SecondOutcome::Invalid(reason.to_string())
        }
        Ok(Err(failed)) => {
            tracing::info!(target: LOG_TARGET, %candidate, error = %failed, "not seconded: no verdict");
            SecondOutcome::Failed(failed)
        }
        Err(oneshot::Canceled) => SecondOutcome::Failed(ValidationFailed::Other(
            "candidate validation dropped the request".into(),
        )),
    }
}
