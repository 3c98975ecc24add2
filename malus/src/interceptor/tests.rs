//! The interceptor on the test harness's context: each direction dropped, replaced and passed;
//! signals untouched; and the real candidate-validation subsystem running behind it.

use super::*;
use futures::channel::oneshot;
use pvf_messages::{
    Hash, ValidationCodeHash,
    candidate_validation::{CandidateValidationMessage, PreCheckOutcome, RuntimeApiMessage},
};
use pvf_subsystem::{
    candidate_validation::{CandidateValidationSubsystem, Config},
    host::ValidationHost,
    overseer::{
        Signal, TokioSpawner,
        test_helpers::{TestSubsystemContext, TestSubsystemContextHandle, make_subsystem_context},
    },
};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(200);

fn code(b: u8) -> ValidationCodeHash {
    ValidationCodeHash(Hash([b; 32]))
}

// Incoming pre-checks: code 1 is answered `Invalid` by the interceptor and dropped; code 2 is
// replaced by code 3. Outgoing code requests: code 4 is dropped, code 5 replaced by code 6.
// Everything else passes.
#[derive(Clone)]
struct Rules;

impl<Sender: Send + 'static> MessageInterceptor<Sender> for Rules {
    type Message = CandidateValidationMessage;

    fn intercept_incoming(
        &self,
        _: &mut Interception<'_, Sender>,
        msg: CandidateValidationMessage,
    ) -> Option<CandidateValidationMessage> {
        match msg {
            CandidateValidationMessage::PreCheck {
                validation_code_hash,
                response_sender,
                ..
            } if validation_code_hash == code(1) => {
                response_sender.send(PreCheckOutcome::Invalid).unwrap();
                None
            }
            CandidateValidationMessage::PreCheck {
                relay_parent,
                validation_code_hash,
                response_sender,
            } if validation_code_hash == code(2) => Some(CandidateValidationMessage::PreCheck {
                relay_parent,
                validation_code_hash: code(3),
                response_sender,
            }),
            other => Some(other),
        }
    }

    fn intercept_outgoing(
        &self,
        msg: OutgoingOf<CandidateValidationMessage>,
    ) -> Option<OutgoingOf<CandidateValidationMessage>> {
        use pvf_subsystem::overseer::CandidateValidationOutgoingMessages as Out;
        match msg {
            Out::RuntimeApiMessage(RuntimeApiMessage::ValidationCodeByHash(h, _))
                if h == code(4) =>
            {
                None
            }
            Out::RuntimeApiMessage(RuntimeApiMessage::ValidationCodeByHash(h, tx))
                if h == code(5) =>
            {
                Some(Out::RuntimeApiMessage(
                    RuntimeApiMessage::ValidationCodeByHash(code(6), tx),
                ))
            }
            other => Some(other),
        }
    }
}

type Ctx =
    InterceptedContext<TestSubsystemContext<CandidateValidationMessage, TokioSpawner>, Rules>;

fn intercepted() -> (Ctx, TestSubsystemContextHandle<CandidateValidationMessage>) {
    let (ctx, handle) = make_subsystem_context(TokioSpawner::current());
    (InterceptedContext::new(ctx, Rules), handle)
}

fn precheck(
    b: u8,
) -> (
    CandidateValidationMessage,
    oneshot::Receiver<PreCheckOutcome>,
) {
    let (tx, rx) = oneshot::channel();
    let msg = CandidateValidationMessage::PreCheck {
        relay_parent: Hash([b; 32]),
        validation_code_hash: code(b),
        response_sender: tx,
    };
    (msg, rx)
}

/// The code hash of a pre-check the context delivered.
async fn received_precheck(ctx: &mut Ctx) -> ValidationCodeHash {
    match ctx.recv().await.unwrap() {
        FromOrchestra::Communication {
            msg:
                CandidateValidationMessage::PreCheck {
                    validation_code_hash,
                    ..
                },
        } => validation_code_hash,
        other => panic!("expected a pre-check, got {other:?}"),
    }
}

fn code_request(b: u8) -> RuntimeApiMessage {
    RuntimeApiMessage::ValidationCodeByHash(code(b), oneshot::channel().0)
}

/// The code hash of the next code request the harness received, if any in time.
async fn sent_code_request(
    handle: &mut TestSubsystemContextHandle<CandidateValidationMessage>,
) -> Option<ValidationCodeHash> {
    match handle.recv_timeout(QUIET).await? {
        AllMessages::RuntimeApi(RuntimeApiMessage::ValidationCodeByHash(h, _)) => Some(h),
        other => panic!("expected a code request, got {other:?}"),
    }
}

#[tokio::test]
async fn incoming_messages_pass_are_replaced_or_dropped() {
    let (mut ctx, mut handle) = intercepted();

    let (msg, _rx) = precheck(9);
    let ((), got) = futures::join!(handle.send_message(msg), received_precheck(&mut ctx));
    assert_eq!(got, code(9));

    let (msg, _rx) = precheck(2);
    let ((), got) = futures::join!(handle.send_message(msg), received_precheck(&mut ctx));
    assert_eq!(got, code(3));

    // Dropped after the interceptor answered it: the context delivers the next one instead.
    let (dropped, answered) = precheck(1);
    let (msg, _rx) = precheck(7);
    let send_both = async {
        handle.send_message(dropped).await;
        handle.send_message(msg).await;
    };
    let ((), got) = futures::join!(send_both, received_precheck(&mut ctx));
    assert_eq!(got, code(7));
    assert_eq!(answered.await, Ok(PreCheckOutcome::Invalid));
}

/// Sends `msg` from a task (the harness's send returns once the context took it) and polls
/// `try_recv` until then; returns what `try_recv` gave.
async fn try_recv_while_sending(
    ctx: &mut Ctx,
    mut handle: TestSubsystemContextHandle<CandidateValidationMessage>,
    msg: CandidateValidationMessage,
) -> (
    Vec<FromOrchestra<CandidateValidationMessage, Signal>>,
    TestSubsystemContextHandle<CandidateValidationMessage>,
) {
    let sending = tokio::spawn(async move {
        handle.send_message(msg).await;
        handle
    });
    let mut got = Vec::new();
    while !sending.is_finished() {
        got.extend(ctx.try_recv().await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    got.extend(ctx.try_recv().await.unwrap());
    (got, sending.await.unwrap())
}

#[tokio::test]
async fn try_recv_skips_dropped_messages() {
    let (mut ctx, handle) = intercepted();
    assert!(ctx.try_recv().await.unwrap().is_none(), "nothing sent yet");
    let (dropped, answered) = precheck(1);
    let (got, handle) = try_recv_while_sending(&mut ctx, handle, dropped).await;
    assert!(got.is_empty(), "the only message was dropped: {got:?}");
    assert_eq!(answered.await, Ok(PreCheckOutcome::Invalid));
    let (msg, _rx) = precheck(2);
    let (got, _handle) = try_recv_while_sending(&mut ctx, handle, msg).await;
    match &got[..] {
        [
            FromOrchestra::Communication {
                msg:
                    CandidateValidationMessage::PreCheck {
                        validation_code_hash,
                        ..
                    },
            },
        ] => assert_eq!(*validation_code_hash, code(3)),
        other => panic!("expected the replaced pre-check, got {other:?}"),
    }
}

#[tokio::test]
async fn outgoing_messages_pass_are_replaced_or_dropped() {
    let (mut ctx, mut handle) = intercepted();

    ctx.sender().send_message(code_request(9)).await;
    assert_eq!(sent_code_request(&mut handle).await, Some(code(9)));

    ctx.sender().send_message(code_request(5)).await;
    assert_eq!(sent_code_request(&mut handle).await, Some(code(6)));

    ctx.sender().send_message(code_request(4)).await;
    assert_eq!(sent_code_request(&mut handle).await, None);

    // Every way of sending is filtered, also through a clone of the sender.
    let mut sender = ctx.sender().clone();
    sender.try_send_message(code_request(5)).unwrap();
    sender.try_send_message(code_request(4)).unwrap();
    sender.send_unbounded_message(code_request(4));
    sender.send_unbounded_message(code_request(8));
    sender
        .send_messages([code_request(4), code_request(5), code_request(9)])
        .await;
    ctx.send_message(code_request(5)).await;
    let mut seen = Vec::new();
    while let Some(h) = sent_code_request(&mut handle).await {
        seen.push(h);
    }
    assert_eq!(seen, [code(6), code(8), code(6), code(9), code(6)]);
}

#[tokio::test]
async fn signals_pass_untouched() {
    let (mut ctx, mut handle) = intercepted();
    let leaves = Signal::ActiveLeaves(vec![Hash([5; 32]).into()]);
    let ((), got) = futures::join!(handle.send_signal(leaves), ctx.recv());
    match got.unwrap() {
        FromOrchestra::Signal(Signal::ActiveLeaves(leaves)) => assert_eq!(leaves.len(), 1),
        other => panic!("expected the leaves, got {other:?}"),
    }
    // A signal overtakes a waiting message through recv_signal, as without the wrapper.
    let (msg, _rx) = precheck(9);
    let conclude = tokio::spawn(async move {
        handle.send_message(msg).await;
        handle.send_signal(Signal::Conclude).await;
        handle
    });
    assert!(matches!(ctx.recv_signal().await.unwrap(), Signal::Conclude));
    let _handle = conclude.await.unwrap();
    assert_eq!(received_precheck(&mut ctx).await, code(9));
}

#[tokio::test]
async fn jobs_asked_for_by_the_interceptor_run() {
    #[derive(Clone)]
    struct Delayed;
    impl<Sender: Send + 'static> MessageInterceptor<Sender> for Delayed {
        type Message = CandidateValidationMessage;
        fn intercept_incoming(
            &self,
            interception: &mut Interception<'_, Sender>,
            msg: CandidateValidationMessage,
        ) -> Option<CandidateValidationMessage> {
            if let CandidateValidationMessage::PreCheck {
                response_sender, ..
            } = msg
            {
                interception.spawn("answer-later", async move {
                    let _ = response_sender.send(PreCheckOutcome::Valid);
                });
            }
            None
        }
    }
    let (ctx, mut handle) = make_subsystem_context(TokioSpawner::current());
    let mut ctx = InterceptedContext::new(ctx, Delayed);
    let (msg, rx) = precheck(1);
    let conclude = tokio::spawn(async move {
        handle.send_message(msg).await;
        handle.send_signal(Signal::Conclude).await;
        handle
    });
    assert!(matches!(
        ctx.recv().await.unwrap(),
        FromOrchestra::Signal(Signal::Conclude)
    ));
    assert_eq!(rx.await, Ok(PreCheckOutcome::Valid));
    conclude.await.unwrap();
}

#[tokio::test]
async fn the_real_subsystem_runs_behind_the_interceptor() {
    let (host_tx, _host_rx) = tokio::sync::mpsc::channel(8);
    let real = CandidateValidationSubsystem::new(ValidationHost::new(host_tx), Config::default());
    let (ctx, mut handle) = make_subsystem_context(TokioSpawner::current());
    let running = tokio::spawn(InterceptedSubsystem::new(real, Rules).start(ctx).future);

    // A pre-check of code 5: the subsystem asks the runtime API for code 5, which the
    // interceptor rewrites to code 6 on the way out.
    let (msg, outcome) = precheck(5);
    handle.send_message(msg).await;
    match handle.recv().await {
        AllMessages::RuntimeApi(RuntimeApiMessage::ValidationCodeByHash(h, tx)) => {
            assert_eq!(h, code(6));
            drop(tx);
        }
        other => panic!("expected a code request, got {other:?}"),
    }
    // The code is unknown: no conclusion.
    assert_eq!(outcome.await, Ok(PreCheckOutcome::Failed));

    // Code 1 is answered by the interceptor; the subsystem never sees it.
    let (msg, outcome) = precheck(1);
    handle.send_message(msg).await;
    assert_eq!(outcome.await, Ok(PreCheckOutcome::Invalid));
    assert!(handle.recv_timeout(QUIET).await.is_none());

    handle.send_signal(Signal::Conclude).await;
    running.await.unwrap().unwrap();
}
