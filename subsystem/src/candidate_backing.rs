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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overseer::{
        AllMessages, Subsystem, TokioSpawner,
        test_helpers::{TestSubsystemContextHandle, make_subsystem_context},
    };
    use pvf_messages::{
        Hash, HeadData, ValidationCodeHash,
        candidate_validation::{
            CandidateCommitments, CandidateDescriptor, InvalidCandidateReason, ValidationResponse,
        },
        primitives::BlockData,
    };
    use std::time::Duration;

    const DUE: Duration = Duration::from_secs(10);

    fn collation(tag: u8, exec_kind: PvfExecKind) -> Collation {
        let pov = PoV {
            block_data: BlockData(vec![tag]),
        };
        Collation {
            validation_data: PersistedValidationData {
                parent_head: HeadData(vec![tag]),
                ..Default::default()
            },
            validation_code: ValidationCode(vec![0, 0x61, 0x73, 0x6d]),
            candidate_receipt: CandidateReceipt {
                descriptor: CandidateDescriptor {
                    para_id: u32::from(tag),
                    relay_parent: Hash([tag; 32]),
                    persisted_validation_data_hash: Hash::default(),
                    pov_hash: pov.hash(),
                    erasure_root: Hash::default(),
                    para_head: Hash::default(),
                    validation_code_hash: ValidationCodeHash(Hash([tag; 32])),
                },
                commitments_hash: Hash([tag; 32]),
            },
            pov: Arc::new(pov),
            executor_params: ExecutorParams::default(),
            exec_kind,
        }
    }

    fn second_message(
        c: &Collation,
    ) -> (CandidateBackingMessage, oneshot::Receiver<SecondOutcome>) {
        let (response_sender, rx) = oneshot::channel();
        let msg = CandidateBackingMessage::Second {
            validation_data: c.validation_data.clone(),
            validation_code: c.validation_code.clone(),
            candidate_receipt: c.candidate_receipt.clone(),
            pov: c.pov.clone(),
            executor_params: c.executor_params.clone(),
            exec_kind: c.exec_kind,
            response_sender,
        };
        (msg, rx)
    }

    type Handle = TestSubsystemContextHandle<CandidateBackingMessage>;

    fn start() -> (Handle, tokio::task::JoinHandle<Result<(), SubsystemError>>) {
        let (ctx, handle) = make_subsystem_context(TokioSpawner::current());
        let running = tokio::spawn(CandidateBackingSubsystem::new().start(ctx).future);
        (handle, running)
    }

    /// The validation request the subsystem sent: checked against `c`, with its channel.
    async fn validation_request(
        handle: &mut Handle,
        c: &Collation,
    ) -> oneshot::Sender<ValidationResponse> {
        match handle.recv().await {
            AllMessages::CandidateValidation(
                CandidateValidationMessage::ValidateFromExhaustive {
                    validation_data,
                    validation_code,
                    candidate_receipt,
                    pov,
                    exec_kind,
                    response_sender,
                    ..
                },
            ) => {
                assert_eq!(validation_data, c.validation_data);
                assert_eq!(validation_code, c.validation_code);
                assert_eq!(candidate_receipt, c.candidate_receipt);
                assert_eq!(pov, c.pov);
                assert_eq!(exec_kind, c.exec_kind);
                response_sender
            }
            other => panic!("unexpected message: {other:?}"),
        }
    }

    async fn due<T>(rx: oneshot::Receiver<T>) -> T {
        tokio::time::timeout(DUE, rx)
            .await
            .expect("answered in time")
            .expect("answered, not dropped")
    }

    #[tokio::test]
    async fn seconds_valid_collations_as_received_and_refuses_the_rest() {
        let (mut handle, _running) = start();
        let valid = collation(1, PvfExecKind::Backing);
        let (msg, rx) = second_message(&valid);
        handle.send_message(msg).await;
        let tx = validation_request(&mut handle, &valid).await;
        let commitments = CandidateCommitments::default();
        tx.send(Ok(CandidateVerdict::Valid(
            commitments,
            valid.validation_data.clone(),
        )))
        .unwrap();
        assert_eq!(
            due(rx).await,
            SecondOutcome::Seconded(SecondedCandidate {
                candidate_receipt: valid.candidate_receipt.clone(),
                pov: valid.pov.clone(),
            })
        );

        let invalid = collation(2, PvfExecKind::BackingSystemParas);
        let (msg, rx) = second_message(&invalid);
        handle.send_message(msg).await;
        let reason = InvalidCandidateReason::PoVHashMismatch;
        validation_request(&mut handle, &invalid)
            .await
            .send(Ok(CandidateVerdict::Invalid(reason.clone())))
            .unwrap();
        assert_eq!(due(rx).await, SecondOutcome::Invalid(reason.to_string()));

        let (msg, rx) = second_message(&invalid);
        handle.send_message(msg).await;
        let failed = ValidationFailed::Other("a local fault".into());
        validation_request(&mut handle, &invalid)
            .await
            .send(Err(failed.clone()))
            .unwrap();
        assert_eq!(due(rx).await, SecondOutcome::Failed(failed));

        // Candidate validation dropped the request: no verdict, still one answer.
        let (msg, rx) = second_message(&invalid);
        handle.send_message(msg).await;
        drop(validation_request(&mut handle, &invalid).await);
        assert!(matches!(
            due(rx).await,
            SecondOutcome::Failed(ValidationFailed::Other(_))
        ));
    }

    #[tokio::test]
    async fn a_kind_other_than_backing_is_refused_without_validation() {
        let (mut handle, _running) = start();
        let (msg, rx) = second_message(&collation(1, PvfExecKind::Approval));
        handle.send_message(msg).await;
        let SecondOutcome::Failed(ValidationFailed::Other(why)) = due(rx).await else {
            panic!("not refused");
        };
        assert!(why.contains("approval"), "{why}");
        assert!(
            handle
                .recv_timeout(Duration::from_millis(200))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn requests_are_served_concurrently() {
        let (mut handle, _running) = start();
        let (a, b) = (
            collation(1, PvfExecKind::Backing),
            collation(2, PvfExecKind::Backing),
        );
        let (msg_a, rx_a) = second_message(&a);
        let (msg_b, rx_b) = second_message(&b);
        handle.send_message(msg_a).await;
        handle.send_message(msg_b).await;
        // Both validations are asked for before either is answered; answered out of order.
        let tx_a = validation_request(&mut handle, &a).await;
        let tx_b = validation_request(&mut handle, &b).await;
        tx_b.send(Err(ValidationFailed::Other("b".into()))).unwrap();
        assert_eq!(
            due(rx_b).await,
            SecondOutcome::Failed(ValidationFailed::Other("b".into()))
        );
        tx_a.send(Err(ValidationFailed::Other("a".into()))).unwrap();
        assert_eq!(
            due(rx_a).await,
            SecondOutcome::Failed(ValidationFailed::Other("a".into()))
        );
    }

    #[tokio::test]
    async fn a_caller_that_leaves_abandons_the_validation() {
        let (mut handle, _running) = start();
        let c = collation(1, PvfExecKind::Backing);
        let (msg, rx) = second_message(&c);
        handle.send_message(msg).await;
        let mut tx = validation_request(&mut handle, &c).await;
        drop(rx);
        tokio::time::timeout(DUE, tx.cancellation())
            .await
            .expect("the validation request was not dropped");
    }

    #[tokio::test]
    async fn conclude_answers_what_waits_then_ends() {
        let (mut handle, running) = start();
        let c = collation(1, PvfExecKind::Backing);
        let (msg, rx) = second_message(&c);
        handle.send_message(msg).await;
        let _tx = validation_request(&mut handle, &c).await;
        handle.send_signal(Signal::Conclude).await;
        assert_eq!(
            due(rx).await,
            SecondOutcome::Failed(ValidationFailed::ShuttingDown)
        );
        tokio::time::timeout(DUE, running)
            .await
            .expect("the subsystem ended")
            .unwrap()
            .unwrap();
    }
}
