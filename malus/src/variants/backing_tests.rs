//! `suggest-garbage-candidate` around the real candidate-backing subsystem, on the test
//! harness's context; the test plays candidate validation.

use super::suggest_garbage::{SuggestGarbage, garbage_pov, with_garbage};
use crate::interceptor::InterceptedSubsystem;
use futures::channel::oneshot;
use pvf_messages::{
    BlockData, ExecutorParams, Hash, HeadData, PersistedValidationData, PoV, PvfExecKind,
    ValidationCode,
    candidate_backing::{CandidateBackingMessage, SecondOutcome, SecondedCandidate},
    candidate_validation::{
        CandidateCommitments, CandidateDescriptor, CandidateReceipt, CandidateValidationMessage,
        CandidateVerdict, InvalidCandidateReason, ValidationResponse,
        persisted_validation_data_hash,
    },
};
use pvf_subsystem::{
    candidate_backing::CandidateBackingSubsystem,
    overseer::{
        AllMessages, Signal, Subsystem, SubsystemError, TokioSpawner,
        test_helpers::{TestSubsystemContextHandle, make_subsystem_context},
    },
};
use std::{sync::Arc, time::Duration};
use tokio::task::JoinHandle;

const DUE: Duration = Duration::from_secs(10);

fn collation() -> SecondedCandidate {
    let data = PersistedValidationData {
        parent_head: HeadData(vec![1]),
        relay_parent_number: 7,
        relay_parent_storage_root: Hash([3; 32]),
        max_pov_size: 1 << 20,
    };
    let pov = PoV {
        block_data: BlockData((0..=255).collect()),
    };
    SecondedCandidate {
        candidate_receipt: CandidateReceipt {
            descriptor: CandidateDescriptor {
                para_id: 100,
                relay_parent: Hash([1; 32]),
                persisted_validation_data_hash: persisted_validation_data_hash(&data),
                pov_hash: pov.hash(),
                erasure_root: Hash::default(),
                para_head: HeadData(vec![2]).hash(),
                validation_code_hash: ValidationCode(vec![0]).hash(),
            },
            commitments_hash: Hash([4; 32]),
        },
        pov: Arc::new(pov),
    }
}

struct Harness {
    ctx: TestSubsystemContextHandle<CandidateBackingMessage>,
    running: JoinHandle<Result<(), SubsystemError>>,
}

impl Harness {
    fn start(seed: u64) -> Self {
        let (ctx, handle) = make_subsystem_context(TokioSpawner::current());
        let wrapped =
            InterceptedSubsystem::new(CandidateBackingSubsystem::new(), SuggestGarbage::new(seed));
        Self {
            ctx: handle,
            running: tokio::spawn(wrapped.start(ctx).future),
        }
    }

    /// Asks to second `c`, answers the validation the real subsystem asks for with
    /// `verdict`, and returns the outcome.
    async fn second(
        &mut self,
        c: &SecondedCandidate,
        verdict: ValidationResponse,
    ) -> SecondOutcome {
        let (tx, rx) = oneshot::channel();
        self.ctx
            .send_message(CandidateBackingMessage::Second {
                validation_data: PersistedValidationData::default(),
                validation_code: ValidationCode(vec![0]),
                candidate_receipt: c.candidate_receipt.clone(),
                pov: c.pov.clone(),
                executor_params: ExecutorParams::new(),
                exec_kind: PvfExecKind::Backing,
                response_sender: tx,
            })
            .await;
        match self.ctx.recv().await {
            AllMessages::CandidateValidation(
                CandidateValidationMessage::ValidateFromExhaustive {
                    candidate_receipt,
                    pov,
                    response_sender,
                    ..
                },
            ) => {
                // The honest collation is what gets validated.
                assert_eq!(candidate_receipt, c.candidate_receipt);
                assert_eq!(pov, c.pov);
                response_sender.send(verdict).unwrap();
            }
            other => panic!("expected a validation request, got {other:?}"),
        }
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

fn valid() -> ValidationResponse {
    Ok(CandidateVerdict::Valid(
        CandidateCommitments::default(),
        PersistedValidationData::default(),
    ))
}

#[tokio::test]
async fn a_valid_collation_is_seconded_with_a_garbage_pov_under_an_honest_looking_receipt() {
    let mut h = Harness::start(3);
    let honest = collation();
    let SecondOutcome::Seconded(seconded) = h.second(&honest, valid()).await else {
        panic!("not seconded");
    };
    assert_ne!(seconded.pov, honest.pov);
    assert_eq!(
        seconded.pov.block_data.0.len(),
        honest.pov.block_data.0.len()
    );
    let (ours, theirs) = (
        &seconded.candidate_receipt.descriptor,
        &honest.candidate_receipt.descriptor,
    );
    assert_eq!(
        ours.pov_hash,
        seconded.pov.hash(),
        "the receipt matches its PoV"
    );
    let mut only_pov_differs = ours.clone();
    only_pov_differs.pov_hash = theirs.pov_hash;
    assert_eq!(&only_pov_differs, theirs);
    assert_eq!(
        seconded.candidate_receipt.commitments_hash,
        honest.candidate_receipt.commitments_hash
    );
    assert_eq!(
        seconded,
        with_garbage(&honest, 3),
        "the same garbage for the same seed"
    );
    h.conclude().await;
}

#[tokio::test]
async fn an_invalid_collation_is_not_seconded() {
    let mut h = Harness::start(3);
    let outcome = h
        .second(
            &collation(),
            Ok(CandidateVerdict::Invalid(
                InvalidCandidateReason::CodeHashMismatch,
            )),
        )
        .await;
    assert!(matches!(outcome, SecondOutcome::Invalid(_)), "{outcome:?}");
    h.conclude().await;
}

#[test]
fn garbage_differs_from_the_pov_even_an_empty_one() {
    for len in [0, 1, 32, 1000] {
        let pov = PoV {
            block_data: BlockData(vec![0; len]),
        };
        let garbage = garbage_pov(&pov, 9);
        assert_ne!(garbage, pov);
        assert_eq!(garbage.block_data.0.len(), len.max(1));
        assert_ne!(
            garbage_pov(&pov, 10),
            garbage,
            "the seed changes the garbage"
        );
    }
}
