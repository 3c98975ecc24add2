//! The candidate-validation subsystem: alone on a test context with a fake host (the
//! channel behind `ValidationHost::new`, read by the test), inside the overseer with the
//! runtime-API stand-in and a workload subsystem, and end to end on the real host with the
//! adder PVF (those tests need the worker binaries: `cargo build --release --bins`).

use futures::channel::oneshot;
use parity_scale_codec::Encode;
use pvf_messages::{
    BlockData, ExecutorParams, Hash, HeadData, InternalValidationError, InvalidCandidate,
    PersistedValidationData, PoV, PossiblyInvalidError, PrepareError, PvfExecKind, PvfPrepKind,
    ValidationCode, ValidationError, ValidationResult, VerdictClass,
    candidate_validation::{
        CandidateCommitments, CandidateDescriptor, CandidateReceipt, CandidateValidationMessage,
        CandidateVerdict, InvalidCandidateReason, PreCheckOutcome, RuntimeApiMessage,
        ValidationFailed, ValidationResponse, persisted_validation_data_hash,
    },
    host::{ExecutePvf, ToHost},
    version::FULL_VERSION,
};
use pvf_subsystem::{
    candidate_validation::{CandidateValidationDummy, CandidateValidationSubsystem, Config},
    host::{self, ValidationHost},
    overseer::{
        self, AllMessages, DummySubsystem, Handle, Signal, SpawnedSubsystem, Subsystem,
        SubsystemError, TokioSpawner, WorkloadMessage, build_overseer, dummy_overseer_builder,
        test_helpers::{TestSubsystemContextHandle, make_subsystem_context},
    },
    runtime_api::{RuntimeApiStore, RuntimeApiSubsystem},
};
use pvf_test_pvfs::adder_chain;
use std::{path::PathBuf, sync::Arc, time::Duration};
use tokio::{sync::mpsc, task::JoinHandle};

/// How long the tests wait to be sure something does not happen.
const QUIET: Duration = Duration::from_millis(300);
/// How long the tests wait for something that must happen.
const DUE: Duration = Duration::from_secs(10);

const RELAY_PARENT: Hash = Hash([1; 32]);
const RELAY_PARENT_NUMBER: u32 = 7;

/// An adder candidate with every hash consistent, and what the PVF returns for it.
#[derive(Clone)]
struct Fixture {
    validation_data: PersistedValidationData,
    validation_code: ValidationCode,
    receipt: CandidateReceipt,
    pov: PoV,
    result: ValidationResult,
}

impl Fixture {
    /// `block` on `parent`. If the block's state is wrong the guest traps; the descriptor
    /// then commits to an empty head.
    fn adder(parent: &adder_chain::HeadData, block: adder_chain::BlockData) -> Self {
        let validation_data = PersistedValidationData {
            parent_head: HeadData(parent.encode()),
            relay_parent_number: RELAY_PARENT_NUMBER,
            relay_parent_storage_root: Hash([3; 32]),
            max_pov_size: 5 << 20,
        };
        let validation_code = ValidationCode(pvf_test_pvfs::adder().to_vec());
        let pov = PoV {
            block_data: BlockData(block.encode()),
        };
        let head = if adder_chain::state_matches(parent, block.state) {
            HeadData(adder_chain::next_head(parent, &block).encode())
        } else {
            HeadData(Vec::new())
        };
        let result = ValidationResult {
            head_data: head,
            hrmp_watermark: RELAY_PARENT_NUMBER,
            ..Default::default()
        };
        let descriptor = CandidateDescriptor {
            para_id: 100,
            relay_parent: RELAY_PARENT,
            persisted_validation_data_hash: persisted_validation_data_hash(&validation_data),
            pov_hash: pov.hash(),
            erasure_root: Hash::default(),
            para_head: result.head_data.hash(),
            validation_code_hash: validation_code.hash(),
        };
        let receipt = CandidateReceipt {
            descriptor,
            commitments_hash: CandidateCommitments::from(result.clone()).hash(),
        };
        Self {
            validation_data,
            validation_code,
            receipt,
            pov,
            result,
        }
    }

    /// Block 1 of the adder chain: valid.
    fn valid() -> Self {
        Self::adder(
            &adder_chain::genesis_head(),
            adder_chain::BlockData { state: 0, add: 5 },
        )
    }

    /// The same candidate for another PVF.
    fn with_code(mut self, code: &[u8]) -> Self {
        self.validation_code = ValidationCode(code.to_vec());
        self.receipt.descriptor.validation_code_hash = self.validation_code.hash();
        self
    }

    fn message(
        &self,
        exec_kind: PvfExecKind,
    ) -> (
        CandidateValidationMessage,
        oneshot::Receiver<ValidationResponse>,
    ) {
        let (tx, rx) = oneshot::channel();
        let msg = CandidateValidationMessage::ValidateFromExhaustive {
            validation_data: self.validation_data.clone(),
            validation_code: self.validation_code.clone(),
            candidate_receipt: self.receipt.clone(),
            pov: Arc::new(self.pov.clone()),
            executor_params: ExecutorParams::new(),
            exec_kind,
            response_sender: tx,
        };
        (msg, rx)
    }
}

fn precheck_message(
    code_hash: pvf_messages::ValidationCodeHash,
) -> (
    CandidateValidationMessage,
    oneshot::Receiver<PreCheckOutcome>,
) {
    let (tx, rx) = oneshot::channel();
    let msg = CandidateValidationMessage::PreCheck {
        relay_parent: RELAY_PARENT,
        validation_code_hash: code_hash,
        response_sender: tx,
    };
    (msg, rx)
}

async fn due<T>(rx: oneshot::Receiver<T>) -> T {
    tokio::time::timeout(DUE, rx)
        .await
        .expect("no answer in time")
        .expect("the response channel was dropped")
}

/// The subsystem under test on a test context, with a fake host the test reads.
struct Harness {
    ctx: TestSubsystemContextHandle<CandidateValidationMessage>,
    host_rx: mpsc::Receiver<ToHost>,
    subsystem: JoinHandle<Result<(), SubsystemError>>,
}

impl Harness {
    fn start(config: Config) -> Self {
        let (tx, host_rx) = mpsc::channel(64);
        let sub = CandidateValidationSubsystem::new(ValidationHost::new(tx), config);
        Self::with(sub, host_rx)
    }

    fn with(sub: CandidateValidationSubsystem, host_rx: mpsc::Receiver<ToHost>) -> Self {
        let (ctx, handle) = make_subsystem_context(TokioSpawner::current());
        let subsystem = tokio::spawn(sub.start(ctx).future);
        Self {
            ctx: handle,
            host_rx,
            subsystem,
        }
    }

    async fn validate(&mut self, fixture: &Fixture) -> ValidationResponse {
        let (msg, rx) = fixture.message(PvfExecKind::Backing);
        self.ctx.send_message(msg).await;
        due(rx).await
    }

    /// The next request the host receives.
    async fn host_request(&mut self) -> ToHost {
        tokio::time::timeout(DUE, self.host_rx.recv())
            .await
            .expect("no host request in time")
            .expect("the host channel closed")
    }

    async fn execute_request(&mut self) -> ExecutePvf {
        match self.host_request().await {
            ToHost::ExecutePvf(req) => req,
            other => panic!("expected an execution, got {other:?}"),
        }
    }

    fn assert_host_idle(&mut self) {
        if let Ok(req) = self.host_rx.try_recv() {
            panic!("the host received {req:?}");
        }
    }

    async fn conclude(mut self) {
        self.ctx.send_signal(Signal::Conclude).await;
        tokio::time::timeout(DUE, self.subsystem)
            .await
            .expect("the subsystem did not end after Conclude")
            .expect("the subsystem panicked")
            .expect("the subsystem failed");
    }
}

fn invalid(reason: InvalidCandidateReason) -> ValidationResponse {
    Ok(CandidateVerdict::Invalid(reason))
}

#[tokio::test]
async fn basic_check_failures_are_invalid_and_never_reach_the_host() {
    let mut h = Harness::start(Config::default());

    let mut too_large = Fixture::valid();
    too_large.validation_data.max_pov_size = 3;
    too_large.receipt.descriptor.persisted_validation_data_hash =
        persisted_validation_data_hash(&too_large.validation_data);
    let pov_size = too_large.pov.encoded_size() as u64;
    assert_eq!(
        h.validate(&too_large).await,
        invalid(InvalidCandidateReason::PoVTooLarge {
            pov_size,
            max_pov_size: 3
        })
    );

    let mut pov_hash = Fixture::valid();
    pov_hash.pov.block_data.0.push(0);
    assert_eq!(
        h.validate(&pov_hash).await,
        invalid(InvalidCandidateReason::PoVHashMismatch)
    );

    let mut code_hash = Fixture::valid();
    code_hash.validation_code = ValidationCode(pvf_test_pvfs::adder_mvp().to_vec());
    assert_eq!(
        h.validate(&code_hash).await,
        invalid(InvalidCandidateReason::CodeHashMismatch)
    );

    let mut pvd_hash = Fixture::valid();
    pvd_hash.validation_data.relay_parent_number += 1;
    assert_eq!(
        h.validate(&pvd_hash).await,
        invalid(InvalidCandidateReason::PersistedValidationDataHashMismatch)
    );

    h.assert_host_idle();
    h.conclude().await;
}

#[tokio::test]
async fn validation_requests_are_counted_by_validity_as_the_reference() {
    let metrics = pvf_metrics::Metrics::new();
    let mut h = Harness::start(Config {
        metrics: metrics.clone(),
        ..Config::default()
    });
    let fixture = Fixture::valid();

    let (msg, rx) = fixture.message(PvfExecKind::Backing);
    h.ctx.send_message(msg).await;
    let req = h.execute_request().await;
    req.response.send(Ok(fixture.result.clone())).unwrap();
    assert!(matches!(due(rx).await, Ok(CandidateVerdict::Valid(..))));

    let mut pov_hash = Fixture::valid();
    pov_hash.pov.block_data.0.push(0);
    assert_eq!(
        h.validate(&pov_hash).await,
        invalid(InvalidCandidateReason::PoVHashMismatch)
    );

    // Code that fails to prepare during validation: no vote, counted as a failure.
    let (msg, rx) = fixture.message(PvfExecKind::Approval);
    h.ctx.send_message(msg).await;
    let req = h.execute_request().await;
    let prep = PrepareError::Prevalidation("not wasm".into());
    req.response
        .send(Err(ValidationError::Preparation(prep)))
        .unwrap();
    assert!(due(rx).await.is_err());

    assert_eq!(metrics.validation_requests("valid"), 1);
    assert_eq!(metrics.validation_requests("invalid"), 1);
    assert_eq!(metrics.validation_requests("internal failure (prepare)"), 1);
    let count = |name: &str| metrics.sample_value(name, &[]).unwrap_or(0.0);
    assert_eq!(
        count("polkadot_parachain_candidate_validation_validate_from_exhaustive_count"),
        3.0
    );
    assert_eq!(
        count("polkadot_parachain_candidate_validation_validate_candidate_exhaustive_count"),
        2.0,
        "only requests that reach the host"
    );
    assert_eq!(
        count("polkadot_parachain_candidate_validation_pov_size_count"),
        2.0
    );
    assert_eq!(
        count("polkadot_parachain_candidate_validation_code_size_count"),
        2.0
    );
    h.conclude().await;
}

#[tokio::test]
async fn outputs_are_checked_against_the_receipt() {
    let mut h = Harness::start(Config::default());
    let fixture = Fixture::valid();

    // Valid: the host is asked with the candidate's parameters.
    let (msg, rx) = fixture.message(PvfExecKind::Backing);
    h.ctx.send_message(msg).await;
    let req = h.execute_request().await;
    assert_eq!(req.pvf.code_hash, fixture.validation_code.hash());
    assert_eq!(req.pvf.prep_kind, PvfPrepKind::Prepare);
    assert_eq!(req.params.parent_head, fixture.validation_data.parent_head);
    assert_eq!(req.params.block_data, fixture.pov.block_data);
    assert_eq!(req.params.relay_parent_number, RELAY_PARENT_NUMBER);
    assert_eq!(
        req.params.relay_parent_storage_root,
        fixture.validation_data.relay_parent_storage_root
    );
    assert_eq!(
        req.exec_timeout,
        ExecutorParams::new().exec_timeout(PvfExecKind::Backing)
    );
    assert_eq!(req.exec_kind, PvfExecKind::Backing);
    assert_eq!(req.relay_parent, Some(RELAY_PARENT));
    req.response.send(Ok(fixture.result.clone())).unwrap();
    assert_eq!(
        due(rx).await,
        Ok(CandidateVerdict::Valid(
            CandidateCommitments::from(fixture.result.clone()),
            fixture.validation_data.clone()
        ))
    );

    // The PVF returns another head than the descriptor commits to.
    let (msg, rx) = fixture.message(PvfExecKind::Approval);
    h.ctx.send_message(msg).await;
    let req = h.execute_request().await;
    let mut other_head = fixture.result.clone();
    other_head.head_data.0.push(0);
    req.response.send(Ok(other_head)).unwrap();
    assert_eq!(
        due(rx).await,
        invalid(InvalidCandidateReason::ParaHeadHashMismatch)
    );

    // The right head, but other outputs than the receipt commits to.
    let (msg, rx) = fixture.message(PvfExecKind::Dispute);
    h.ctx.send_message(msg).await;
    let req = h.execute_request().await;
    let mut other_outputs = fixture.result.clone();
    other_outputs.upward_messages.push(vec![1]);
    req.response.send(Ok(other_outputs)).unwrap();
    assert_eq!(
        due(rx).await,
        invalid(InvalidCandidateReason::CommitmentsHashMismatch)
    );

    h.conclude().await;
}

#[tokio::test]
async fn only_execution_verdicts_become_invalid() {
    let mut h = Harness::start(Config::default());
    let fixture = Fixture::valid();
    let cases = [
        (
            ValidationError::Invalid(InvalidCandidate::HardTimeout),
            VerdictClass::Invalid,
        ),
        // Code that fails to prepare during execution gets no vote (pre-checking judges code).
        (
            ValidationError::Preparation(PrepareError::Prevalidation("no export".into())),
            VerdictClass::Error,
        ),
        (
            ValidationError::Preparation(PrepareError::TimedOut),
            VerdictClass::Error,
        ),
        // What persisted after the host's retries is voted invalid, as in the reference.
        (
            ValidationError::PossiblyInvalid(PossiblyInvalidError::AmbiguousWorkerDeath),
            VerdictClass::Invalid,
        ),
        // What the host proved local is no vote.
        (
            ValidationError::Internal(InternalValidationError::JobStalled("stopped".into())),
            VerdictClass::Error,
        ),
        (
            ValidationError::Internal(InternalValidationError::Io("disk full".into())),
            VerdictClass::Error,
        ),
        (ValidationError::ExecutionDeadline, VerdictClass::Error),
    ];
    for (error, class) in cases {
        let (msg, rx) = fixture.message(PvfExecKind::Approval);
        h.ctx.send_message(msg).await;
        h.execute_request()
            .await
            .response
            .send(Err(error.clone()))
            .unwrap();
        let answer = due(rx).await;
        match &answer {
            Ok(verdict) => assert_eq!(verdict.class(), class, "{error:?}"),
            Err(failed) => {
                assert_eq!(failed.class(), class, "{error:?}");
                assert_eq!(failed, &ValidationFailed::Host(error.clone()));
            }
        }
        if class == VerdictClass::Invalid {
            assert!(matches!(answer, Ok(CandidateVerdict::Invalid(_))));
        }
    }
    h.conclude().await;
}

#[tokio::test]
async fn a_stopped_host_is_no_verdict() {
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let sub = CandidateValidationSubsystem::new(ValidationHost::new(tx), Config::default());
    let (_, dead) = mpsc::channel(1);
    let mut h = Harness::with(sub, dead);
    let answer = h.validate(&Fixture::valid()).await;
    assert!(
        matches!(
            answer,
            Err(ValidationFailed::Host(ValidationError::Internal(_)))
        ),
        "{answer:?}"
    );
    h.conclude().await;
}

#[tokio::test]
async fn the_dummy_drops_requests() {
    let (ctx, mut handle) = make_subsystem_context(TokioSpawner::current());
    let dummy = tokio::spawn(CandidateValidationDummy.start(ctx).future);

    let (msg, rx) = Fixture::valid().message(PvfExecKind::Backing);
    handle.send_message(msg).await;
    let (msg, precheck_rx) = precheck_message(Fixture::valid().validation_code.hash());
    handle.send_message(msg).await;
    handle
        .send_signal(Signal::ActiveLeaves(vec![RELAY_PARENT.into()]))
        .await;

    let dropped = tokio::time::timeout(DUE, rx).await.expect("not dropped");
    assert!(dropped.is_err(), "the dummy answered: {dropped:?}");
    let dropped = tokio::time::timeout(DUE, precheck_rx)
        .await
        .expect("not dropped");
    assert!(dropped.is_err(), "the dummy answered: {dropped:?}");
    assert!(handle.recv_timeout(QUIET).await.is_none());

    handle.send_signal(Signal::Conclude).await;
    dummy.await.unwrap().unwrap();
}

/// Answers the next runtime-API request from `store`.
async fn serve_runtime_api(
    ctx: &mut TestSubsystemContextHandle<CandidateValidationMessage>,
    store: &RuntimeApiStore,
) {
    match ctx.recv().await {
        AllMessages::RuntimeApi(msg) => RuntimeApiSubsystem::new(store.clone()).answer(msg),
        other => panic!("expected a runtime-API request, got {other:?}"),
    }
}

#[tokio::test]
async fn precheck_fails_without_code_or_executor_params() {
    let mut h = Harness::start(Config::default());
    let store = RuntimeApiStore::new();
    let code = ValidationCode(pvf_test_pvfs::adder().to_vec());

    // Unknown code.
    let (msg, rx) = precheck_message(code.hash());
    h.ctx.send_message(msg).await;
    match h.ctx.recv().await {
        AllMessages::RuntimeApi(RuntimeApiMessage::ValidationCodeByHash(hash, tx)) => {
            assert_eq!(hash, code.hash());
            tx.send(None).unwrap();
        }
        other => panic!("expected a code request, got {other:?}"),
    }
    assert_eq!(due(rx).await, PreCheckOutcome::Failed);

    // Known code, unknown executor parameters.
    let hash = store.insert_code(code);
    store.set_default_executor_params(None);
    let (msg, rx) = precheck_message(hash);
    h.ctx.send_message(msg).await;
    serve_runtime_api(&mut h.ctx, &store).await;
    match h.ctx.recv().await {
        AllMessages::RuntimeApi(
            msg @ RuntimeApiMessage::SessionExecutorParams(relay_parent, _),
        ) => {
            assert_eq!(relay_parent, RELAY_PARENT);
            RuntimeApiSubsystem::new(store.clone()).answer(msg);
        }
        other => panic!("expected an executor-params request, got {other:?}"),
    }
    assert_eq!(due(rx).await, PreCheckOutcome::Failed);

    h.assert_host_idle();
    h.conclude().await;
}

#[tokio::test]
async fn precheck_outcomes_follow_the_host() {
    let mut h = Harness::start(Config::default());
    let store = RuntimeApiStore::new();
    let hash = store.insert_code(ValidationCode(pvf_test_pvfs::adder().to_vec()));
    let cases = [
        (Ok(()), PreCheckOutcome::Valid),
        (
            Err(PrepareError::Preparation("bad".into())),
            PreCheckOutcome::Invalid,
        ),
        (
            Err(PrepareError::OutOfMemory { limit: 1 }),
            PreCheckOutcome::Invalid,
        ),
        (Err(PrepareError::TimedOut), PreCheckOutcome::Failed),
        (
            Err(PrepareError::JobDied("SIGKILL".into())),
            PreCheckOutcome::Failed,
        ),
    ];
    for (answer, expected) in cases {
        let (msg, rx) = precheck_message(hash);
        h.ctx.send_message(msg).await;
        serve_runtime_api(&mut h.ctx, &store).await;
        serve_runtime_api(&mut h.ctx, &store).await;
        match h.host_request().await {
            ToHost::PrecheckPvf { pvf, response } => {
                assert_eq!(pvf.code_hash, hash);
                assert_eq!(pvf.prep_kind, PvfPrepKind::Precheck);
                assert_eq!(
                    pvf.prep_timeout,
                    ExecutorParams::new().prep_timeout(PvfPrepKind::Precheck)
                );
                response.send(answer).unwrap();
            }
            other => panic!("expected a pre-check, got {other:?}"),
        }
        assert_eq!(due(rx).await, expected);
    }
    h.conclude().await;
}

#[tokio::test]
async fn concurrency_is_bounded_and_conclude_answers_in_flight_requests() {
    const LIMIT: usize = 3;
    let mut h = Harness::start(Config {
        max_parallel_tasks: LIMIT,
        ..Default::default()
    });
    let fixture = Fixture::valid();

    let mut answers = Vec::new();
    for _ in 0..=LIMIT {
        let (msg, rx) = fixture.message(PvfExecKind::Backing);
        h.ctx.send_message(msg).await;
        answers.push(rx);
    }
    let mut in_host = Vec::new();
    for _ in 0..LIMIT {
        in_host.push(h.execute_request().await);
    }
    tokio::time::sleep(QUIET).await;
    h.assert_host_idle();

    // Signals are still handled at the limit.
    h.ctx
        .send_signal(Signal::ActiveLeaves(vec![RELAY_PARENT.into()]))
        .await;
    match h.host_request().await {
        ToHost::UpdateActiveLeaves { active } => assert_eq!(active, vec![RELAY_PARENT.into()]),
        other => panic!("expected the active leaves, got {other:?}"),
    }

    // One answer frees a slot: the waiting request reaches the host.
    let first = in_host.remove(0);
    first.response.send(Ok(fixture.result.clone())).unwrap();
    assert!(matches!(
        due(answers.remove(0)).await,
        Ok(CandidateVerdict::Valid(..))
    ));
    in_host.push(h.execute_request().await);
    h.assert_host_idle();

    // Conclude while the host sits on every request: each caller is told, none hangs.
    h.conclude().await;
    for rx in answers {
        assert_eq!(due(rx).await, Err(ValidationFailed::ShuttingDown));
    }
    drop(in_host);
}

/// A workload driver for the tests: once told to go, sends one candidate, reports the
/// answer, and ends — which ends the overseer.
struct OneCandidate {
    go: oneshot::Receiver<()>,
    candidate: Fixture,
    report: oneshot::Sender<Result<ValidationResponse, oneshot::Canceled>>,
}

#[overseer::subsystem(Workload, error = SubsystemError, prefix = pvf_subsystem::overseer)]
impl<Context> OneCandidate {
    fn start(self, mut ctx: Context) -> SpawnedSubsystem<SubsystemError> {
        let future = Box::pin(async move {
            let _ = self.go.await;
            let (msg, rx) = self.candidate.message(PvfExecKind::Backing);
            ctx.send_message(msg).await;
            let _ = self.report.send(rx.await);
            Ok(())
        });
        SpawnedSubsystem {
            name: "one-candidate-workload",
            future,
        }
    }
}

/// A fake host that answers every execution with `result` and every pre-check with `Ok`,
/// and reports the active leaves it is told.
fn spawn_fake_host(
    result: ValidationResult,
) -> (
    ValidationHost,
    mpsc::UnboundedReceiver<Vec<pvf_messages::host::ActiveLeaf>>,
) {
    let (tx, mut rx) = mpsc::channel(16);
    let (leaves_tx, leaves_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(req) = rx.recv().await {
            match req {
                ToHost::ExecutePvf(req) => {
                    let _ = req.response.send(Ok(result.clone()));
                }
                ToHost::PrecheckPvf { response, .. } => {
                    let _ = response.send(Ok(()));
                }
                ToHost::UpdateActiveLeaves { active } => {
                    let _ = leaves_tx.send(active);
                }
                ToHost::HeadsUp { .. } => {}
            }
        }
    });
    (ValidationHost::new(tx), leaves_rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overseer_routes_between_subsystems() {
    let fixture = Fixture::valid();
    let (host, mut leaves) = spawn_fake_host(fixture.result.clone());
    let store = RuntimeApiStore::new();
    let code_hash = store.insert_code(fixture.validation_code.clone());
    let (report, reported) = oneshot::channel();
    let (go, wait) = oneshot::channel();
    let (overseer, mut handle) = build_overseer(
        CandidateValidationSubsystem::new(host, Config::default()),
        DummySubsystem,
        RuntimeApiSubsystem::new(store),
        OneCandidate {
            go: wait,
            candidate: fixture.clone(),
            report,
        },
        TokioSpawner::current(),
    )
    .unwrap();
    let running = tokio::spawn(overseer.run());

    // From the handle: a pre-check, which goes through the runtime API to the host.
    let (msg, rx) = precheck_message(code_hash);
    handle.send_msg(msg, "test").await;
    assert_eq!(due(rx).await, PreCheckOutcome::Valid);
    handle.active_leaves(vec![RELAY_PARENT]).await;
    let active = tokio::time::timeout(DUE, leaves.recv()).await.unwrap();
    assert_eq!(active, Some(vec![RELAY_PARENT.into()]));

    // From the workload subsystem: a candidate. The workload then ends, and so does the
    // overseer.
    go.send(()).unwrap();
    let answer = due(reported).await.expect("validation answered");
    assert!(
        matches!(answer, Ok(CandidateVerdict::Valid(..))),
        "{answer:?}"
    );
    tokio::time::timeout(DUE, running)
        .await
        .expect("the overseer did not stop when the workload ended")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collator_overseer_drops_validation_requests() {
    // Every slot a dummy, then the collator's stand-in in the validation slot.
    let (overseer, handle) = dummy_overseer_builder(TokioSpawner::current())
        .replace_candidate_validation(|_| CandidateValidationDummy)
        .build()
        .unwrap();
    let mut handle = Handle::new(handle);
    let running = tokio::spawn(overseer.run());
    let (msg, rx) = Fixture::valid().message(PvfExecKind::Backing);
    handle.send_msg(msg, "test").await;
    // The dummy workload drops whatever it is sent, too.
    handle
        .send_msg(WorkloadMessage::Custom(Box::new("go")), "test")
        .await;
    let dropped = tokio::time::timeout(DUE, rx).await.expect("not dropped");
    assert!(dropped.is_err(), "the dummy answered: {dropped:?}");
    handle.stop().await;
    tokio::time::timeout(DUE, running)
        .await
        .expect("the overseer did not stop")
        .unwrap()
        .unwrap();
}

// --- End to end on the real host ------------------------------------------------------

/// The folder with the worker binaries: the target folder of this test's profile.
fn workers_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let mut dir = exe.parent().expect("tests live in a folder").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    for worker in ["pvf-prepare-worker", "pvf-execute-worker"] {
        let path = dir.join(worker);
        assert!(
            path.is_file(),
            "{} is missing: build the workers first with `cargo build --release --bins` \
             (or without --release, matching the test profile)",
            path.display()
        );
        let out = std::process::Command::new(&path)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
        let version = String::from_utf8_lossy(&out.stdout);
        assert!(
            version.contains(FULL_VERSION),
            "{} is stale ({}), the tests are {FULL_VERSION}: rebuild with \
             `cargo build --release --bins`",
            path.display(),
            version.trim()
        );
    }
    dir
}

fn real_subsystem(cache: &tempfile::TempDir) -> Harness {
    let config = host::Config {
        workers_path: Some(workers_dir()),
        cache_path: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let sub = CandidateValidationSubsystem::with_host_config(config, Config::default());
    // Requests go to the real host; this channel stays empty.
    let (_, unused) = mpsc::channel(1);
    Harness::with(sub, unused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_host_validates_adder_candidates() {
    let cache = tempfile::tempdir().unwrap();
    let mut h = real_subsystem(&cache);

    let valid = Fixture::valid();
    let answer = h.validate(&valid).await;
    let expected_head = adder_chain::next_head(
        &adder_chain::genesis_head(),
        &adder_chain::BlockData { state: 0, add: 5 },
    );
    match answer {
        Ok(CandidateVerdict::Valid(commitments, data)) => {
            assert_eq!(commitments.head_data, HeadData(expected_head.encode()));
            assert_eq!(commitments.hrmp_watermark, RELAY_PARENT_NUMBER);
            assert_eq!(data, valid.validation_data);
        }
        other => panic!("expected Valid, got {other:?}"),
    }

    // Block 2 on block 1, as an approval.
    let block_two = Fixture::adder(&expected_head, adder_chain::BlockData { state: 5, add: 1 });
    let (msg, rx) = block_two.message(PvfExecKind::Approval);
    h.ctx.send_message(msg).await;
    assert!(matches!(due(rx).await, Ok(CandidateVerdict::Valid(..))));

    // A block claiming a state its parent does not commit to: the PVF traps.
    let wrong_state = Fixture::adder(
        &adder_chain::genesis_head(),
        adder_chain::BlockData { state: 1, add: 1 },
    );
    let answer = h.validate(&wrong_state).await;
    assert!(
        matches!(
            answer,
            Ok(CandidateVerdict::Invalid(
                InvalidCandidateReason::Execution(InvalidCandidate::WorkerReportedInvalid(_))
            ))
        ),
        "{answer:?}"
    );

    h.conclude().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_host_prechecks_code() {
    let cache = tempfile::tempdir().unwrap();
    let mut h = real_subsystem(&cache);
    let store = RuntimeApiStore::new();
    let adder = store.insert_code(ValidationCode(pvf_test_pvfs::adder().to_vec()));
    let malformed = store.insert_code(ValidationCode(pvf_test_pvfs::hostile::malformed()));

    for (hash, expected) in [
        (adder, PreCheckOutcome::Valid),
        (malformed, PreCheckOutcome::Invalid),
    ] {
        let (msg, rx) = precheck_message(hash);
        h.ctx.send_message(msg).await;
        serve_runtime_api(&mut h.ctx, &store).await;
        serve_runtime_api(&mut h.ctx, &store).await;
        assert_eq!(due(rx).await, expected);
    }
    h.conclude().await;
}

/// The worker processes that are children of this test process.
fn our_workers() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; `comm` may contain spaces, so split after the `)`.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let ppid = fields.next();
        if ppid == Some(me.as_str()) && head.contains("pvf-") {
            found.push(format!("{head}) {}", state.unwrap_or("?")));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_host_conclude_with_a_job_in_flight_answers_and_stops_the_workers() {
    let cache = tempfile::tempdir().unwrap();
    let mut h = real_subsystem(&cache);
    // Prepared and executed once, so that the workers exist.
    assert!(matches!(
        h.validate(&Fixture::valid()).await,
        Ok(CandidateVerdict::Valid(..))
    ));
    // A PVF that never returns, still running at Conclude. Backing (2 s budget): the host
    // lets a running job reach its timeout before it stops its workers, so a longer budget
    // would outlast this test's patience.
    let halt = Fixture::valid().with_code(pvf_test_pvfs::halt());
    let (msg, rx) = halt.message(PvfExecKind::Backing);
    h.ctx.send_message(msg).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    h.conclude().await;
    assert_eq!(due(rx).await, Err(ValidationFailed::ShuttingDown));
    let deadline = std::time::Instant::now() + DUE;
    while !our_workers().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(our_workers(), Vec::<String>::new(), "workers left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_of_another_version_stops_the_subsystem_with_the_operators_message() {
    let cache = tempfile::tempdir().unwrap();
    // Workers answer the handshake of a node of another version as after an in-place
    // upgrade of the binaries.
    let config = host::Config {
        workers_path: Some(workers_dir()),
        cache_path: Some(cache.path().to_path_buf()),
        node_version_override: Some("0.0.0-other".into()),
        ..Default::default()
    };
    let sub = CandidateValidationSubsystem::with_host_config(config, Config::default());
    let (_, unused) = mpsc::channel(1);
    let mut h = Harness::with(sub, unused);
    let answer = h.validate(&Fixture::valid()).await;
    assert!(
        answer.is_err(),
        "no vote on a worker of another version: {answer:?}"
    );
    let ended = tokio::time::timeout(Duration::from_secs(30), h.subsystem)
        .await
        .expect("the subsystem stops on its own")
        .expect("the subsystem does not panic");
    match ended {
        Err(SubsystemError::HostStopped(msg)) => {
            assert!(msg.contains("restart"), "{msg}");
            assert!(msg.contains("in-place upgrade"), "{msg}");
        }
        other => panic!("the subsystem went on or ended otherwise: {other:?}"),
    }
}
