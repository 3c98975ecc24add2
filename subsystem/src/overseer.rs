//! The node's overseer: the `orchestra` 0.4 actor system the subsystems run in.
//!
//! A validator's node is a set of subsystems exchanging typed messages; the overseer owns
//! their channels, routes messages by type, broadcasts signals (new active leaves,
//! `Conclude`) and runs their child jobs. Ours has four slots:
//!
//! | slot | consumes | sends |
//! |---|---|---|
//! | `candidate_validation` | [`CandidateValidationMessage`] | [`RuntimeApiMessage`] |
//! | `candidate_backing` | [`CandidateBackingMessage`] | [`CandidateValidationMessage`] |
//! | `runtime_api` | [`RuntimeApiMessage`] | — |
//! | `workload` | [`WorkloadMessage`] | [`CandidateValidationMessage`] |
//!
//! The workload slot is where candidates come from: the node's workload driver (a validator's
//! backing/approval subsystems in a real node). Every slot can hold a [`DummySubsystem`], so a
//! collator's overseer puts `CandidateValidationDummy` in the validation slot and never starts
//! a worker.
//!
//! orchestra generates the plumbing but no run loop: [`Overseer::run`] is ours. It routes
//! events from the [`Handle`], spawns the subsystems' child jobs (`ctx.spawn`), and stops
//! everything with [`Signal::Conclude`] when asked to or as soon as any subsystem ends — so a
//! workload driver that returns when its work is done ends the whole node cleanly.
//!
//! [`test_helpers`] drives one subsystem alone, playing the overseer's part.
//!
//! The module re-exports all of `orchestra` because the generated code names its items
//! unqualified.

pub use orchestra::*;

pub use pvf_messages::candidate_backing::CandidateBackingMessage;
pub use pvf_messages::candidate_validation::{CandidateValidationMessage, RuntimeApiMessage};
use pvf_messages::{ValidationError, host::ActiveLeaf};
use std::any::Any;

/// How long [`Overseer::run`] waits for the subsystems to end after `Conclude`.
pub const CONCLUDE_TIMEOUT: Duration = Duration::from_secs(5);

/// A signal broadcast to every subsystem.
#[derive(Clone, Debug)]
pub enum Signal {
    /// The relay-chain blocks that are now the active leaves (the full set, not a delta),
    /// each with its allowed ancestry. Backing jobs built on any other relay parent may be
    /// dropped.
    ActiveLeaves(Vec<ActiveLeaf>),
    /// Stop: finish or abandon in-flight work and return.
    Conclude,
}

/// What the outside world sends to the overseer through its handle.
// Events are moved once, into the overseer's queue: the size of a message does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event {
    /// Deliver a message to the subsystem that consumes its type.
    MsgToSubsystem {
        /// The message.
        msg: AllMessages,
        /// Who sent it (for logs).
        origin: &'static str,
    },
    /// Broadcast [`Signal::ActiveLeaves`] with these leaves.
    ActiveLeaves(Vec<ActiveLeaf>),
    /// Conclude every subsystem and return from [`Overseer::run`].
    Stop,
}

/// The error type shared by the overseer and every subsystem in it.
#[derive(Debug, thiserror::Error)]
pub enum SubsystemError {
    /// The overseer's machinery failed (a channel closed, a subsystem stalled).
    #[error(transparent)]
    Orchestra(#[from] OrchestraError),
    /// The validation host could not be started.
    #[error("the validation host could not start: {0}")]
    HostStart(ValidationError),
    /// The validation host stopped on its own: the node must stop (the message says why and
    /// what the operator does, e.g. restart after an in-place upgrade).
    #[error("{0}")]
    HostStopped(String),
    /// A subsystem's context failed (used by test contexts).
    #[error("subsystem context: {0}")]
    Context(String),
}

/// Messages to the workload driver in the `workload` slot.
///
/// The driver is mainly a source of candidates; this inbox lets the outside world (the
/// command line, a test) talk to it through the overseer's [`Handle`] without this module
/// knowing the driver's vocabulary.
#[derive(Debug)]
pub enum WorkloadMessage {
    /// An instruction whose type only the driver knows; it downcasts.
    Custom(Box<dyn Any + Send>),
}

/// The overseer. Build it with [`build_overseer`] or [`dummy_overseer_builder`], then
/// run [`Overseer::run`].
#[orchestra(
    gen = AllMessages,
    event = Event,
    signal = Signal,
    error = SubsystemError,
    message_capacity = 2048,
    signal_capacity = 64,
)]
pub struct Overseer {
    /// Validates candidates and pre-checks code.
    #[subsystem(CandidateValidationMessage, sends: [RuntimeApiMessage])]
    candidate_validation: CandidateValidation,

    /// Validates collations and seconds the valid ones.
    #[subsystem(CandidateBackingMessage, sends: [CandidateValidationMessage])]
    candidate_backing: CandidateBacking,

    /// Serves chain state (code by hash, executor parameters) from memory.
    #[subsystem(RuntimeApiMessage, sends: [])]
    runtime_api: RuntimeApi,

    /// Feeds candidates to validation.
    #[subsystem(WorkloadMessage, sends: [CandidateValidationMessage])]
    workload: Workload,
}

impl<S: Spawner> Overseer<S> {
    /// Runs the overseer until [`Event::Stop`] or until any subsystem ends; then sends
    /// [`Signal::Conclude`] to all and waits up to [`CONCLUDE_TIMEOUT`] for them to end.
    ///
    /// Returns an error only if routing a message or a signal failed (a subsystem stalled).
    pub async fn run(mut self) -> Result<(), SubsystemError> {
        loop {
            futures::select! {
                event = self.events_rx.select_next_some() => match event {
                    Event::MsgToSubsystem { msg, origin } => {
                        self.route_message(msg, origin).await?;
                    }
                    Event::ActiveLeaves(leaves) => {
                        self.broadcast_signal(Signal::ActiveLeaves(leaves)).await?;
                    }
                    Event::Stop => {
                        tracing::debug!(target: OVERSEER_TARGET, "stop requested");
                        break;
                    }
                },
                // Jobs the subsystems spawn with `ctx.spawn`: they run only if spawned here.
                job = self.to_orchestra_rx.select_next_some() => match job {
                    ToOrchestra::SpawnJob { name, subsystem, s } => {
                        self.spawner.spawn(name, subsystem, s)
                    }
                    ToOrchestra::SpawnBlockingJob { name, subsystem, s } => {
                        self.spawner.spawn_blocking(name, subsystem, s)
                    }
                },
                _ = self.running_subsystems.select_next_some() => {
                    tracing::debug!(target: OVERSEER_TARGET, "a subsystem ended: stopping all");
                    break;
                },
                complete => break,
            }
        }
        self.wait_terminate(Signal::Conclude, CONCLUDE_TIMEOUT)
            .await
    }
}

const OVERSEER_TARGET: &str = "parachain::overseer";

/// A cloneable handle to a running overseer. Messages sent after the overseer stopped are
/// dropped, so a response channel inside one reports cancellation to its receiver.
#[derive(Clone)]
pub struct Handle(OverseerHandle);

impl Handle {
    /// Wraps the handle [`OverseerBuilder::build`] returns.
    pub fn new(handle: OverseerHandle) -> Self {
        Self(handle)
    }

    async fn send(&mut self, event: Event) {
        if self.0.send(event).await.is_err() {
            tracing::debug!(target: OVERSEER_TARGET, "overseer gone: event dropped");
        }
    }

    /// Sends `msg` to the subsystem that consumes its type.
    pub async fn send_msg(&mut self, msg: impl Into<AllMessages>, origin: &'static str) {
        self.send(Event::MsgToSubsystem {
            msg: msg.into(),
            origin,
        })
        .await
    }

    /// Broadcasts the new set of active leaves.
    /// A bare [`Hash`](pvf_messages::Hash) is a leaf without allowed ancestry.
    pub async fn active_leaves(&mut self, leaves: impl IntoIterator<Item = impl Into<ActiveLeaf>>) {
        let leaves = leaves.into_iter().map(Into::into).collect();
        self.send(Event::ActiveLeaves(leaves)).await
    }

    /// Asks the overseer to conclude every subsystem and return from [`Overseer::run`].
    pub async fn stop(&mut self) {
        self.send(Event::Stop).await
    }
}

/// [`Spawner`] on a tokio runtime.
#[derive(Clone, Debug)]
pub struct TokioSpawner(pub tokio::runtime::Handle);

impl TokioSpawner {
    /// A spawner on the runtime this is called from.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn current() -> Self {
        Self(tokio::runtime::Handle::current())
    }
}

impl Spawner for TokioSpawner {
    fn spawn(&self, _name: &'static str, _group: Option<&'static str>, f: BoxFuture<'static, ()>) {
        self.0.spawn(f);
    }

    fn spawn_blocking(
        &self,
        _name: &'static str,
        _group: Option<&'static str>,
        f: BoxFuture<'static, ()>,
    ) {
        let handle = self.0.clone();
        self.0.spawn_blocking(move || handle.block_on(f));
    }
}

/// A subsystem for any slot that reads and drops every message (so response channels in
/// them are dropped and their receivers see cancellation) and ends on `Conclude`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DummySubsystem;

impl<Context> Subsystem<Context, SubsystemError> for DummySubsystem
where
    Context: SubsystemContext<Signal = Signal, Error = SubsystemError>,
{
    fn start(self, mut ctx: Context) -> SpawnedSubsystem<SubsystemError> {
        let future = Box::pin(async move {
            loop {
                match ctx.recv().await {
                    Err(_) | Ok(FromOrchestra::Signal(Signal::Conclude)) => return Ok(()),
                    Ok(FromOrchestra::Signal(_)) => {}
                    Ok(FromOrchestra::Communication { msg }) => {
                        tracing::debug!(target: OVERSEER_TARGET, ?msg, "dummy subsystem drops a message");
                    }
                }
            }
        });
        SpawnedSubsystem {
            name: "dummy-subsystem",
            future,
        }
    }
}

/// A builder with every slot filled by [`DummySubsystem`]: replace the slots you need with
/// `.replace_candidate_validation(|_| …)`, `.replace_candidate_backing(|_| …)`,
/// `.replace_runtime_api(|_| …)`, `.replace_workload(|_| …)`, then `.build()` and wrap the
/// handle in [`Handle::new`].
pub fn dummy_overseer_builder<S: Spawner>(
    spawner: S,
) -> InitializedOverseerBuilder<S, DummySubsystem, DummySubsystem, DummySubsystem, DummySubsystem> {
    Overseer::builder()
        .candidate_validation(DummySubsystem)
        .candidate_backing(DummySubsystem)
        .runtime_api(DummySubsystem)
        .workload(DummySubsystem)
        .spawner(spawner)
}

/// Builds the overseer from its four subsystems. Run it with [`Overseer::run`]; talk to it
/// with the returned [`Handle`].
///
/// A validator passes `CandidateValidationSubsystem`, a collator `CandidateValidationDummy`
/// (see [`crate::candidate_validation`]); `candidate_backing` is
/// [`crate::candidate_backing::CandidateBackingSubsystem`] where collations are seconded,
/// else [`DummySubsystem`]; `runtime_api` is usually
/// [`crate::runtime_api::RuntimeApiSubsystem`]; `workload` is the candidate source
/// (or [`DummySubsystem`] when candidates arrive through the handle).
pub fn build_overseer<CV, CB, RA, W, S>(
    candidate_validation: CV,
    candidate_backing: CB,
    runtime_api: RA,
    workload: W,
    spawner: S,
) -> Result<(Overseer<S>, Handle), SubsystemError>
where
    CV: Subsystem<OverseerSubsystemContext<CandidateValidationMessage>, SubsystemError>,
    CB: Subsystem<OverseerSubsystemContext<CandidateBackingMessage>, SubsystemError>,
    RA: Subsystem<OverseerSubsystemContext<RuntimeApiMessage>, SubsystemError>,
    W: Subsystem<OverseerSubsystemContext<WorkloadMessage>, SubsystemError>,
    S: Spawner,
{
    let (overseer, handle) = Overseer::builder()
        .candidate_validation(candidate_validation)
        .candidate_backing(candidate_backing)
        .runtime_api(runtime_api)
        .workload(workload)
        .spawner(spawner)
        .build()?;
    Ok((overseer, Handle::new(handle)))
}

/// Drives one subsystem alone: the test plays the overseer.
///
/// orchestra ships no such harness. [`make_subsystem_context`](test_helpers::make_subsystem_context)
/// returns a context to start the subsystem with and a handle that sends it messages and
/// signals and receives, as [`AllMessages`], everything it sends to other subsystems.
pub mod test_helpers {
    use super::{
        AllMessages, AssociateOutgoing, FromOrchestra, Priority, Signal, Spawner, SubsystemContext,
        SubsystemError, SubsystemSender, TimeoutExt, TrySendError, async_trait,
    };
    use futures::{FutureExt, SinkExt, StreamExt, channel::mpsc};
    use std::{collections::VecDeque, future::Future, pin::Pin, time::Duration};

    /// How long the handle waits for the subsystem before failing the test.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// The sender the subsystem under test sends through: captures every message.
    #[derive(Clone, Debug)]
    pub struct TestSender {
        tx: mpsc::UnboundedSender<AllMessages>,
    }

    impl TestSender {
        fn push(&self, msg: AllMessages) {
            // The harness may be gone at the end of a test; the message is then dropped.
            let _ = self.tx.unbounded_send(msg);
        }
    }

    #[async_trait]
    impl<M> SubsystemSender<M> for TestSender
    where
        AllMessages: From<M>,
        M: Send + 'static,
    {
        async fn send_message(&mut self, msg: M) {
            self.push(msg.into());
        }

        async fn send_message_with_priority<P: Priority>(&mut self, msg: M) {
            self.push(msg.into());
        }

        fn try_send_message(&mut self, msg: M) -> Result<(), TrySendError<M>> {
            self.push(msg.into());
            Ok(())
        }

        fn try_send_message_with_priority<P: Priority>(
            &mut self,
            msg: M,
        ) -> Result<(), TrySendError<M>> {
            self.push(msg.into());
            Ok(())
        }

        async fn send_messages<I>(&mut self, msgs: I)
        where
            I: IntoIterator<Item = M> + Send,
            I::IntoIter: Send,
        {
            for msg in msgs {
                self.push(msg.into());
            }
        }

        fn send_unbounded_message(&mut self, msg: M) {
            self.push(msg.into());
        }
    }

    /// Stands in for the overseer's context of a subsystem consuming `M`.
    pub struct TestSubsystemContext<M, S> {
        sender: TestSender,
        rx: mpsc::Receiver<FromOrchestra<M, Signal>>,
        buffered: VecDeque<FromOrchestra<M, Signal>>,
        spawner: S,
    }

    fn harness_gone() -> SubsystemError {
        SubsystemError::Context("the test harness was dropped".into())
    }

    #[async_trait]
    impl<M, S> SubsystemContext for TestSubsystemContext<M, S>
    where
        M: AssociateOutgoing + std::fmt::Debug + Send + 'static,
        AllMessages: From<<M as AssociateOutgoing>::OutgoingMessages>,
        S: Spawner + 'static,
    {
        type Message = M;
        type Signal = Signal;
        type OutgoingMessages = <M as AssociateOutgoing>::OutgoingMessages;
        type Sender = TestSender;
        type Error = SubsystemError;

        async fn try_recv(&mut self) -> Result<Option<FromOrchestra<M, Signal>>, ()> {
            if let Some(m) = self.buffered.pop_front() {
                return Ok(Some(m));
            }
            match self.rx.next().now_or_never() {
                Some(Some(m)) => Ok(Some(m)),
                Some(None) => Err(()),
                None => Ok(None),
            }
        }

        async fn recv(&mut self) -> Result<FromOrchestra<M, Signal>, SubsystemError> {
            if let Some(m) = self.buffered.pop_front() {
                return Ok(m);
            }
            self.rx.next().await.ok_or_else(harness_gone)
        }

        async fn recv_signal(&mut self) -> Result<Signal, SubsystemError> {
            // Signals overtake messages, as with the real overseer's separate channels.
            if let Some(i) = self
                .buffered
                .iter()
                .position(|m| matches!(m, FromOrchestra::Signal(_)))
                && let Some(FromOrchestra::Signal(s)) = self.buffered.remove(i)
            {
                return Ok(s);
            }
            loop {
                match self.rx.next().await {
                    Some(FromOrchestra::Signal(s)) => return Ok(s),
                    Some(msg) => self.buffered.push_back(msg),
                    None => return Err(harness_gone()),
                }
            }
        }

        fn spawn(
            &mut self,
            name: &'static str,
            s: Pin<Box<dyn Future<Output = ()> + Send>>,
        ) -> Result<(), SubsystemError> {
            self.spawner.spawn(name, Some("test-subsystem"), s);
            Ok(())
        }

        fn spawn_blocking(
            &mut self,
            name: &'static str,
            s: Pin<Box<dyn Future<Output = ()> + Send>>,
        ) -> Result<(), SubsystemError> {
            self.spawner.spawn_blocking(name, Some("test-subsystem"), s);
            Ok(())
        }

        fn sender(&mut self) -> &mut TestSender {
            &mut self.sender
        }
    }

    /// The test's side of a [`TestSubsystemContext`].
    pub struct TestSubsystemContextHandle<M> {
        tx: mpsc::Sender<FromOrchestra<M, Signal>>,
        rx: mpsc::UnboundedReceiver<AllMessages>,
    }

    impl<M> TestSubsystemContextHandle<M> {
        /// Delivers a message or signal; panics if the subsystem does not take it within
        /// [`TIMEOUT`] or has ended.
        pub async fn send(&mut self, m: FromOrchestra<M, Signal>) {
            self.tx
                .send(m)
                .timeout(TIMEOUT)
                .await
                .expect("the subsystem did not take the message in time")
                .expect("the subsystem has ended");
        }

        /// Delivers a message.
        pub async fn send_message(&mut self, msg: M) {
            self.send(FromOrchestra::Communication { msg }).await
        }

        /// Delivers a signal.
        pub async fn send_signal(&mut self, signal: Signal) {
            self.send(FromOrchestra::Signal(signal)).await
        }

        /// The next message the subsystem sent; panics after [`TIMEOUT`].
        pub async fn recv(&mut self) -> AllMessages {
            self.recv_timeout(TIMEOUT)
                .await
                .expect("the subsystem sent nothing in time")
        }

        /// The next message the subsystem sent within `timeout`, if any.
        ///
        /// # Panics
        /// If the subsystem's sender is gone.
        pub async fn recv_timeout(&mut self, timeout: Duration) -> Option<AllMessages> {
            self.rx
                .next()
                .timeout(timeout)
                .await
                .map(|m| m.expect("the subsystem's sender is gone"))
        }
    }

    /// A context for a subsystem consuming `M`, spawning its jobs on `spawner`, and the
    /// test's handle to it.
    pub fn make_subsystem_context<M, S>(
        spawner: S,
    ) -> (TestSubsystemContext<M, S>, TestSubsystemContextHandle<M>) {
        let (to_sub, from_test) = mpsc::channel(0);
        let (to_test, from_sub) = mpsc::unbounded();
        (
            TestSubsystemContext {
                sender: TestSender { tx: to_test },
                rx: from_test,
                buffered: VecDeque::new(),
                spawner,
            },
            TestSubsystemContextHandle {
                tx: to_sub,
                rx: from_sub,
            },
        )
    }
}
