//! A subsystem wrapper that filters what a subsystem receives and sends.
//!
//! [`InterceptedSubsystem`] puts a [`MessageInterceptor`] between any subsystem of the
//! overseer and the overseer itself. The wrapped subsystem is started with an
//! [`InterceptedContext`] instead of its own context: every message it would receive first
//! passes [`MessageInterceptor::intercept_incoming`], every message it sends first passes
//! [`MessageInterceptor::intercept_outgoing`]; each may forward, replace or drop it. Signals
//! (`ActiveLeaves`, `Conclude`) always pass untouched, so the wrapped subsystem follows the
//! overseer's lifecycle exactly as it would unwrapped.
//!
//! The wrapper knows nothing about the message types: the interceptor names the message of
//! the slot it wraps ([`MessageInterceptor::Message`]), and the context and sender it builds
//! satisfy the same orchestra trait bounds as the overseer's own, so the wrapped subsystem
//! cannot tell (and its code is not changed).
//!
//! An interceptor may also answer a request itself (it owns the request and its response
//! channel) or start child jobs ([`Interception::spawn`]), for instance to wait for the wrapped
//! subsystem's answer and rewrite it. Jobs run as the wrapped subsystem's own child jobs.

use futures::future::BoxFuture;
use pvf_subsystem::overseer::{
    AllMessages, AssociateOutgoing, FromOrchestra, OrchestraError, Priority, SpawnedSubsystem,
    Subsystem, SubsystemContext, SubsystemSender, TrySendError, async_trait,
};
use std::{fmt::Debug, future::Future, pin::Pin};

#[cfg(test)]
mod tests;

const LOG_TARGET: &str = "malus";

/// The messages a subsystem consuming `M` sends (orchestra's per-slot outgoing wrapper).
pub type OutgoingOf<M> = <M as AssociateOutgoing>::OutgoingMessages;

/// Decides, message by message, what a wrapped subsystem receives and sends.
///
/// `Sender` is the wrapped slot's own sender: what [`Interception::sender`] offers for
/// messages the interceptor sends itself (those are not intercepted again). Implementations
/// are usually generic over it. Both methods default to forwarding unchanged.
pub trait MessageInterceptor<Sender>: Clone + Send + Sync + 'static {
    /// The message the wrapped subsystem consumes.
    type Message: AssociateOutgoing + Debug + Send + 'static;

    /// A message on its way to the wrapped subsystem: `Some` delivers it (the same or a
    /// replacement), `None` drops it (answer it first through its response channel if the
    /// caller must not see a cancellation).
    fn intercept_incoming(
        &self,
        _interception: &mut Interception<'_, Sender>,
        msg: Self::Message,
    ) -> Option<Self::Message> {
        Some(msg)
    }

    /// A message the wrapped subsystem sends: `Some` sends it (the same or a replacement),
    /// `None` drops it.
    fn intercept_outgoing(
        &self,
        msg: OutgoingOf<Self::Message>,
    ) -> Option<OutgoingOf<Self::Message>> {
        Some(msg)
    }
}

/// What an interceptor may do besides returning a message: send through the wrapped slot's
/// sender, and start child jobs.
pub struct Interception<'a, Sender> {
    sender: &'a mut Sender,
    jobs: Vec<(&'static str, BoxFuture<'static, ()>)>,
}

impl<Sender> Interception<'_, Sender> {
    /// The wrapped slot's sender; what is sent through it bypasses `intercept_outgoing`.
    pub fn sender(&mut self) -> &mut Sender {
        self.sender
    }

    /// Runs `job` as a child job of the wrapped subsystem (started as soon as the
    /// interceptor returns).
    pub fn spawn(&mut self, name: &'static str, job: impl Future<Output = ()> + Send + 'static) {
        self.jobs.push((name, Box::pin(job)));
    }
}

/// A subsystem `S` behind the interceptor `I`: fits any slot whose context `S` accepts when
/// `I::Message` is that slot's message.
#[derive(Clone, Debug)]
pub struct InterceptedSubsystem<S, I> {
    subsystem: S,
    interceptor: I,
}

impl<S, I> InterceptedSubsystem<S, I> {
    /// Wraps `subsystem`.
    pub fn new(subsystem: S, interceptor: I) -> Self {
        Self {
            subsystem,
            interceptor,
        }
    }
}

impl<Ctx, S, I, E> Subsystem<Ctx, E> for InterceptedSubsystem<S, I>
where
    Ctx: SubsystemContext<Error = E>,
    Ctx::Message: AssociateOutgoing<OutgoingMessages = Ctx::OutgoingMessages>,
    E: std::error::Error + From<OrchestraError> + Send + Sync + 'static,
    I: MessageInterceptor<Ctx::Sender, Message = Ctx::Message>,
    InterceptedSender<Ctx::Sender, I>: SubsystemSender<Ctx::OutgoingMessages>,
    S: Subsystem<InterceptedContext<Ctx, I>, E>,
{
    fn start(self, ctx: Ctx) -> SpawnedSubsystem<E> {
        self.subsystem
            .start(InterceptedContext::new(ctx, self.interceptor))
    }
}

/// The context a wrapped subsystem runs with: the overseer's context for its slot, filtered.
pub struct InterceptedContext<Ctx: SubsystemContext, I> {
    inner: Ctx,
    sender: InterceptedSender<Ctx::Sender, I>,
    interceptor: I,
}

impl<Ctx: SubsystemContext, I: Clone> InterceptedContext<Ctx, I> {
    /// Wraps `inner`, the context the overseer (or a test) gave the slot.
    pub fn new(mut inner: Ctx, interceptor: I) -> Self {
        let sender = InterceptedSender {
            inner: inner.sender().clone(),
            interceptor: interceptor.clone(),
        };
        Self {
            inner,
            sender,
            interceptor,
        }
    }
}

impl<Ctx, I> InterceptedContext<Ctx, I>
where
    Ctx: SubsystemContext,
    I: MessageInterceptor<Ctx::Sender, Message = Ctx::Message>,
{
    /// Passes one message through the interceptor and starts the jobs it asked for.
    fn intercept(&mut self, msg: Ctx::Message) -> Result<Option<Ctx::Message>, Ctx::Error> {
        let mut interception = Interception {
            sender: self.inner.sender(),
            jobs: Vec::new(),
        };
        let msg = self.interceptor.intercept_incoming(&mut interception, msg);
        for (name, job) in interception.jobs {
            self.inner.spawn(name, job)?;
        }
        if msg.is_none() {
            tracing::trace!(target: LOG_TARGET, "an incoming message was dropped");
        }
        Ok(msg)
    }
}

#[async_trait]
impl<Ctx, I> SubsystemContext for InterceptedContext<Ctx, I>
where
    Ctx: SubsystemContext,
    Ctx::Message: AssociateOutgoing<OutgoingMessages = Ctx::OutgoingMessages>,
    I: MessageInterceptor<Ctx::Sender, Message = Ctx::Message>,
    InterceptedSender<Ctx::Sender, I>: SubsystemSender<Ctx::OutgoingMessages>,
{
    type Message = Ctx::Message;
    type Signal = Ctx::Signal;
    type OutgoingMessages = Ctx::OutgoingMessages;
    type Sender = InterceptedSender<Ctx::Sender, I>;
    type Error = Ctx::Error;

    async fn try_recv(&mut self) -> Result<Option<FromOrchestra<Self::Message, Self::Signal>>, ()> {
        loop {
            match self.inner.try_recv().await? {
                Some(FromOrchestra::Communication { msg }) => {
                    if let Some(msg) = self.intercept(msg).map_err(|_| ())? {
                        return Ok(Some(FromOrchestra::Communication { msg }));
                    }
                }
                other => return Ok(other),
            }
        }
    }

    async fn recv(&mut self) -> Result<FromOrchestra<Self::Message, Self::Signal>, Self::Error> {
        loop {
            match self.inner.recv().await? {
                FromOrchestra::Communication { msg } => {
                    if let Some(msg) = self.intercept(msg)? {
                        return Ok(FromOrchestra::Communication { msg });
                    }
                }
                signal => return Ok(signal),
            }
        }
    }

    async fn recv_signal(&mut self) -> Result<Self::Signal, Self::Error> {
        self.inner.recv_signal().await
    }

    fn spawn(
        &mut self,
        name: &'static str,
        s: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Result<(), Self::Error> {
        self.inner.spawn(name, s)
    }

    fn spawn_blocking(
        &mut self,
        name: &'static str,
        s: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Result<(), Self::Error> {
        self.inner.spawn_blocking(name, s)
    }

    fn sender(&mut self) -> &mut Self::Sender {
        &mut self.sender
    }
}

/// The sender a wrapped subsystem sends through: every message passes
/// [`MessageInterceptor::intercept_outgoing`] on its way to the slot's own sender.
#[derive(Clone, Debug)]
pub struct InterceptedSender<Sender, I> {
    inner: Sender,
    interceptor: I,
}

impl<Sender, I> InterceptedSender<Sender, I>
where
    I: MessageInterceptor<Sender>,
{
    fn intercept<T>(&self, msg: T) -> Option<OutgoingOf<I::Message>>
    where
        OutgoingOf<I::Message>: From<T>,
    {
        let msg = self.interceptor.intercept_outgoing(msg.into());
        if msg.is_none() {
            tracing::trace!(target: LOG_TARGET, "an outgoing message was dropped");
        }
        msg
    }
}

/// Turns a message the slot's sender could not take back into the type the wrapped
/// subsystem tried to send. An interceptor that replaced it with a message of another type
/// leaves nothing to give back: that message is dropped (its response channels with it).
fn give_back<T>(err: TrySendError<impl Into<AllMessages>>) -> Result<(), TrySendError<T>>
where
    T: TryFrom<AllMessages>,
{
    let (full, msg) = match err {
        TrySendError::Full(m) => (true, m),
        TrySendError::Closed(m) => (false, m),
    };
    match T::try_from(msg.into()) {
        Ok(m) if full => Err(TrySendError::Full(m)),
        Ok(m) => Err(TrySendError::Closed(m)),
        Err(_) => {
            tracing::warn!(
                target: LOG_TARGET,
                "a replaced outgoing message could not be sent and is dropped"
            );
            Ok(())
        }
    }
}

#[async_trait]
impl<T, Sender, I> SubsystemSender<T> for InterceptedSender<Sender, I>
where
    T: TryFrom<AllMessages> + Send + 'static,
    I: MessageInterceptor<Sender>,
    OutgoingOf<I::Message>: From<T>,
    Sender: SubsystemSender<OutgoingOf<I::Message>>,
{
    async fn send_message(&mut self, msg: T) {
        if let Some(msg) = self.intercept(msg) {
            self.inner.send_message(msg).await
        }
    }

    async fn send_message_with_priority<P: Priority>(&mut self, msg: T) {
        if let Some(msg) = self.intercept(msg) {
            self.inner.send_message_with_priority::<P>(msg).await
        }
    }

    fn try_send_message(&mut self, msg: T) -> Result<(), TrySendError<T>> {
        match self.intercept(msg) {
            Some(msg) => self.inner.try_send_message(msg).or_else(give_back),
            None => Ok(()),
        }
    }

    fn try_send_message_with_priority<P: Priority>(
        &mut self,
        msg: T,
    ) -> Result<(), TrySendError<T>> {
        match self.intercept(msg) {
            Some(msg) => self
                .inner
                .try_send_message_with_priority::<P>(msg)
                .or_else(give_back),
            None => Ok(()),
        }
    }

    async fn send_messages<M>(&mut self, msgs: M)
    where
        M: IntoIterator<Item = T> + Send,
        M::IntoIter: Send,
    {
        for msg in msgs {
            self.send_message(msg).await;
        }
    }

    fn send_unbounded_message(&mut self, msg: T) {
        if let Some(msg) = self.intercept(msg) {
            self.inner.send_unbounded_message(msg)
        }
    }
}
