//! The candidate-validation variants around the real subsystem, on the test harness's
//! context, with a validation host the test plays (the channel behind `ValidationHost::new`).

use super::{
    Percentage,
    back_garbage::{self, BackGarbage},
    dispute_valid::{self, DisputeValid, FakeValidationError},
};
use crate::interceptor::{InterceptedSubsystem, MessageInterceptor};
use clap::Parser;
use futures::channel::oneshot;
use pvf_messages::{
    BlockData, ExecutorParams, Hash, HeadData, InvalidCandidate, PersistedValidationData, PoV,
    PvfExecKind, ValidationCode, ValidationResult,
    candidate_validation::{
        CandidateCommitments, CandidateDescriptor, CandidateReceipt, CandidateValidationMessage,
        CandidateVerdict, InvalidCandidateReason, PreCheckOutcome, RuntimeApiMessage,
        ValidationFailed, ValidationResponse, persisted_validation_data_hash,
    },
    host::{ExecutePvf, ToHost},
};
use pvf_subsystem::{
    candidate_validation::{CandidateValidationSubsystem, Config},
    host::ValidationHost,
    overseer::{
        AllMessages, DummySubsystem, Signal, Subsystem, SubsystemError, TokioSpawner,
        build_overseer,
        test_helpers::{TestSubsystemContextHandle, make_subsystem_context},
    },
};
use std::{sync::Arc, time::Duration};
use tokio::{sync::mpsc, task::JoinHandle};

const DUE: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(200);

/// A candidate whose hashes are all consistent with `result` (the outputs the test's host
/// gives for it).
struct Candidate {
    data: PersistedValidationData,
    code: ValidationCode,
    receipt: CandidateReceipt,
    pov: PoV,
    result: ValidationResult,
}

impl Candidate {
    fn new(block: u8) -> Self {
        let data = PersistedValidationData {
            parent_head: HeadData(vec![1, 2, 3]),
            relay_parent_number: 7,
            relay_parent_storage_root: Hash([3; 32]),
            max_pov_size: 1 << 20,
        };
        let code = ValidationCode(b"\0asm not run by the test's host".to_vec());
        let pov = PoV {
            block_data: BlockData(vec![block; 100]),
        };
        let result = ValidationResult {
            head_data: HeadData(vec![block; 4]),
            hrmp_watermark: 7,
            ..Default::default()
        };
        let receipt = CandidateReceipt {
            descriptor: CandidateDescriptor {
                para_id: 100,
                relay_parent: Hash([1; 32]),
                persisted_validation_data_hash: persisted_validation_data_hash(&data),
                pov_hash: pov.hash(),
                erasure_root: Hash::default(),
                para_head: result.head_data.hash(),
                validation_code_hash: code.hash(),
            },
            commitments_hash: CandidateCommitments::from(result.clone()).hash(),
        };
        Self {
            data,
            code,
            receipt,
            pov,
            result,
        }
    }

    fn message(
        &self,
    ) -> (
        CandidateValidationMessage,
        oneshot::Receiver<ValidationResponse>,
    ) {
        let (tx, rx) = oneshot::channel();
        let msg = CandidateValidationMessage::ValidateFromExhaustive {
            validation_data: self.data.clone(),
            validation_code: self.code.clone(),
            candidate_receipt: self.receipt.clone(),
            pov: Arc::new(self.pov.clone()),
            executor_params: ExecutorParams::new(),
            exec_kind: PvfExecKind::Backing,
            response_sender: tx,
        };
        (msg, rx)
    }
}

/// The real candidate-validation subsystem behind `interceptor`, and the test's host.
struct Harness {
    ctx: TestSubsystemContextHandle<CandidateValidationMessage>,
    host: mpsc::Receiver<ToHost>,
    running: JoinHandle<Result<(), SubsystemError>>,
}

impl Harness {
    fn start<I>(interceptor: I) -> Self
    where
        I: MessageInterceptor<
                pvf_subsystem::overseer::test_helpers::TestSender,
                Message = CandidateValidationMessage,
            >,
    {
        let (host_tx, host) = mpsc::channel(8);
        let real =
            CandidateValidationSubsystem::new(ValidationHost::new(host_tx), Config::default());
        let (ctx, handle) = make_subsystem_context(TokioSpawner::current());
        let running = tokio::spawn(
            InterceptedSubsystem::new(real, interceptor)
                .start(ctx)
                .future,
        );
        Self {
            ctx: handle,
            host,
            running,
        }
    }

    async fn execution(&mut self) -> ExecutePvf {
        match tokio::time::timeout(DUE, self.host.recv()).await {
            Ok(Some(ToHost::ExecutePvf(req))) => req,
            other => panic!("expected an execution, got {other:?}"),
        }
    }

    /// Sends `candidate`, answers its execution with `outcome` and returns the verdict.
    async fn validate(
        &mut self,
        candidate: &Candidate,
        outcome: pvf_messages::host::ValidationOutcome,
    ) -> ValidationResponse {
        let (msg, rx) = candidate.message();
        self.ctx.send_message(msg).await;
        self.execution().await.response.send(outcome).unwrap();
        tokio::time::timeout(DUE, rx)
            .await
            .expect("an answer in time")
            .expect("an answer")
    }

    async fn conclude(mut self) {
        self.ctx.send_signal(Signal::Conclude).await;
        tokio::time::timeout(DUE, self.running)
            .await
            .expect("ended in time")
            .unwrap()
            .unwrap();
    }
}

fn dispute_all(error: FakeValidationError) -> DisputeValid {
    DisputeValid::new(Percentage::new(100, 1), error)
}

#[tokio::test]
async fn dispute_valid_turns_a_valid_verdict_into_the_fake_error() {
    let mut h = Harness::start(dispute_all(FakeValidationError::Execution));
    let c = Candidate::new(1);
    let answer = h.validate(&c, Ok(c.result.clone())).await;
    assert!(
        matches!(
            answer,
            Ok(CandidateVerdict::Invalid(
                InvalidCandidateReason::Execution(InvalidCandidate::ExecutionError(_))
            ))
        ),
        "{answer:?}"
    );
    h.conclude().await;

    let mut h = Harness::start(dispute_all(FakeValidationError::PoVTooLarge));
    let answer = h.validate(&c, Ok(c.result.clone())).await;
    let pov_size = parity_scale_codec::Encode::encoded_size(&c.pov) as u64;
    assert_eq!(
        answer,
        Ok(CandidateVerdict::Invalid(
            InvalidCandidateReason::PoVTooLarge {
                pov_size,
                max_pov_size: c.data.max_pov_size
            }
        ))
    );
    h.conclude().await;
}

#[tokio::test]
async fn dispute_valid_passes_every_other_answer() {
    let mut h = Harness::start(dispute_all(FakeValidationError::Execution));
    let c = Candidate::new(2);
    // The PVF outputs another head: honestly invalid, unchanged.
    let mut wrong = c.result.clone();
    wrong.head_data = HeadData(vec![9]);
    assert_eq!(
        h.validate(&c, Ok(wrong)).await,
        Ok(CandidateVerdict::Invalid(
            InvalidCandidateReason::ParaHeadHashMismatch
        ))
    );
    // A local fault: no vote, unchanged.
    let fault = pvf_messages::ValidationError::ExecutionDeadline;
    assert_eq!(
        h.validate(&c, Err(fault.clone())).await,
        Err(ValidationFailed::Host(fault))
    );
    // A pre-check goes to the real subsystem, which asks the runtime API for the code.
    let (tx, outcome) = oneshot::channel();
    h.ctx
        .send_message(CandidateValidationMessage::PreCheck {
            relay_parent: Hash([1; 32]),
            validation_code_hash: c.code.hash(),
            response_sender: tx,
        })
        .await;
    match h.ctx.recv().await {
        AllMessages::RuntimeApi(RuntimeApiMessage::ValidationCodeByHash(hash, answer)) => {
            assert_eq!(hash, c.code.hash());
            drop(answer);
        }
        other => panic!("expected a code request, got {other:?}"),
    }
    assert_eq!(outcome.await, Ok(PreCheckOutcome::Failed));
    h.conclude().await;
}

#[tokio::test]
async fn dispute_valid_at_zero_percent_is_honest() {
    let mut h = Harness::start(DisputeValid::new(
        Percentage::new(0, 1),
        FakeValidationError::Execution,
    ));
    let c = Candidate::new(3);
    assert_eq!(
        h.validate(&c, Ok(c.result.clone())).await,
        Ok(CandidateVerdict::Valid(
            CandidateCommitments::from(c.result.clone()),
            c.data.clone()
        ))
    );
    h.conclude().await;
}

#[tokio::test]
async fn a_caller_that_leaves_cancels_the_real_validation() {
    let mut h = Harness::start(dispute_all(FakeValidationError::Execution));
    let c = Candidate::new(4);
    let (msg, rx) = c.message();
    h.ctx.send_message(msg).await;
    let mut req = h.execution().await;
    drop(rx);
    tokio::time::timeout(DUE, req.response.cancellation())
        .await
        .expect("the real job abandons the execution once its caller left");
    h.conclude().await;
}

#[tokio::test]
async fn back_garbage_answers_valid_without_running_anything() {
    let mut h = Harness::start(BackGarbage::new());
    let mut garbage = Candidate::new(5);
    garbage.pov = PoV {
        block_data: BlockData(b"garbage".to_vec()),
    };
    let (msg, rx) = garbage.message();
    h.ctx.send_message(msg).await;
    assert_eq!(
        tokio::time::timeout(DUE, rx).await.unwrap(),
        Ok(Ok(CandidateVerdict::Valid(
            back_garbage::fake_commitments(&garbage.data),
            garbage.data.clone()
        )))
    );
    assert!(
        tokio::time::timeout(QUIET, h.host.recv()).await.is_err(),
        "the host was asked"
    );
    // Pre-checks still reach the real subsystem.
    let (tx, _outcome) = oneshot::channel();
    h.ctx
        .send_message(CandidateValidationMessage::PreCheck {
            relay_parent: Hash([1; 32]),
            validation_code_hash: garbage.code.hash(),
            response_sender: tx,
        })
        .await;
    assert!(matches!(
        h.ctx.recv().await,
        AllMessages::RuntimeApi(RuntimeApiMessage::ValidationCodeByHash(..))
    ));
    h.conclude().await;
}

#[test]
fn the_fake_commitments_are_those_of_a_block_that_changes_nothing() {
    let c = Candidate::new(6);
    let fake = back_garbage::fake_commitments(&c.data);
    assert_eq!(fake.head_data, c.data.parent_head);
    assert_eq!(fake.hrmp_watermark, c.data.relay_parent_number);
    assert!(fake.upward_messages.is_empty() && fake.horizontal_messages.is_empty());
    assert_eq!(fake.new_validation_code, None);
}

#[test]
fn fake_validation_errors_are_named_after_the_reasons() {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: dispute_valid::Args,
    }
    let parse =
        |args: &[&str]| Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied()));
    let defaults = parse(&[]).unwrap().args;
    assert_eq!(defaults.percentage, 100);
    assert_eq!(
        defaults.fake_validation_error,
        FakeValidationError::Execution
    );
    for (name, expected) in [
        ("pov-too-large", FakeValidationError::PoVTooLarge),
        ("pov-hash-mismatch", FakeValidationError::PoVHashMismatch),
        ("code-hash-mismatch", FakeValidationError::CodeHashMismatch),
        (
            "persisted-validation-data-hash-mismatch",
            FakeValidationError::PersistedValidationDataHashMismatch,
        ),
        (
            "para-head-hash-mismatch",
            FakeValidationError::ParaHeadHashMismatch,
        ),
        (
            "commitments-hash-mismatch",
            FakeValidationError::CommitmentsHashMismatch,
        ),
        ("execution", FakeValidationError::Execution),
    ] {
        let args = parse(&["--fake-validation-error", name]).unwrap().args;
        assert_eq!(args.fake_validation_error, expected);
    }
    assert!(parse(&["--fake-validation-error", "nonsense"]).is_err());
    assert_eq!(parse(&["--percentage", "0"]).unwrap().args.percentage, 0);
    assert!(parse(&["--percentage", "101"]).is_err());
}

#[tokio::test]
async fn a_variant_runs_in_the_overseer_slot() {
    let (host_tx, _host) = mpsc::channel(1);
    let real = CandidateValidationSubsystem::new(ValidationHost::new(host_tx), Config::default());
    let (overseer, mut handle) = build_overseer(
        InterceptedSubsystem::new(real, BackGarbage),
        DummySubsystem,
        DummySubsystem,
        DummySubsystem,
        TokioSpawner::current(),
    )
    .unwrap();
    let running = tokio::spawn(overseer.run());
    let c = Candidate::new(7);
    let (msg, rx) = c.message();
    handle.send_msg(msg, "test").await;
    assert!(matches!(
        tokio::time::timeout(DUE, rx).await.unwrap(),
        Ok(Ok(CandidateVerdict::Valid(..)))
    ));
    handle.stop().await;
    tokio::time::timeout(DUE, running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
