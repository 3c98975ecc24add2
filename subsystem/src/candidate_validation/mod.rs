//! The candidate-validation subsystem: the overseer's door to the validation host.
//!
//! It answers [`CandidateValidationMessage`]s:
//! - `ValidateFromExhaustive`: the deterministic checks that need no code run first (PoV
//!   size, PoV hash, code hash, validation-data hash against the descriptor), so a candidate
//!   that fails them costs no worker time; then the host executes the PVF (preparing it first
//!   if needed); then the outputs are checked against the descriptor's head hash and the
//!   receipt's commitments hash. The host's final answer (after the retries of
//!   [`pvf_messages::verdict_policy`]) is mapped by
//!   [`verdict_from_host_error`](pvf_messages::verdict_policy::verdict_from_host_error):
//!   deterministic failures and possibly-invalid outcomes that persisted become `Invalid`, as
//!   in the reference; what the host proved local is `ValidationFailed` (no vote).
//! - `PreCheck`: the code and the session's executor parameters are fetched from the
//!   runtime API (another subsystem, over the overseer), then the host prepares the code with
//!   the strict pre-check timeout.
//!
//! **Never blocking the main loop.** Every request runs in a child job (`ctx.spawn`); the
//! main loop only reads messages and signals. At most [`Config::max_parallel_tasks`] jobs run
//! at once: at the limit the loop stops reading messages (they queue in the overseer's
//! channel, which pushes back on senders) but still handles signals.
//!
//! **Signals.** `ActiveLeaves` is forwarded to the host in order (the main loop awaits only
//! room in the host's queue, never an answer); the host drops queued backing jobs whose
//! relay parent left the active leaves. On `Conclude` every running job answers at
//! once — `Err(ValidationFailed::ShuttingDown)` or `PreCheckOutcome::Failed` — instead of
//! waiting for the host, and the subsystem returns once they have (or after
//! [`CONCLUDE_GRACE`]; a host the subsystem started itself is then given [`HOST_STOP_GRACE`]
//! to stop its workers). Requests still queued in the overseer's channel are never read: their
//! response channels are dropped with it and their callers see `Canceled`. So every caller
//! gets an answer or a cancellation, never a hang and never a verdict made up at shutdown.
//!
//! A collator's overseer puts [`CandidateValidationDummy`] in this slot instead: it starts no
//! host and drops every request.

mod dummy;
mod heads_up;
mod precheck;
mod validate;

pub use dummy::CandidateValidationDummy;

use crate::{
    host::{self, ValidationHost},
    overseer::{self, FromOrchestra, Signal, SpawnedSubsystem, SubsystemError, TimeoutExt},
};
use futures::{FutureExt, channel::oneshot};
use pvf_messages::candidate_validation::{
    CandidateValidationMessage, HeadsUpError, PreCheckOutcome, ValidationFailed,
};
use std::{sync::Arc, time::Duration};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

const LOG_TARGET: &str = "parachain::candidate-validation";

/// The default bound on concurrent validation and pre-check jobs (the reference's).
pub const DEFAULT_MAX_PARALLEL_TASKS: usize = 30;

/// How long the subsystem waits, after `Conclude`, for its running jobs to answer.
pub const CONCLUDE_GRACE: Duration = Duration::from_secs(2);

/// How long the subsystem then waits for a host it started itself to stop its workers.
/// With [`CONCLUDE_GRACE`] it stays within the overseer's `CONCLUDE_TIMEOUT`.
pub const HOST_STOP_GRACE: Duration = Duration::from_secs(2);

/// Configuration of the candidate-validation subsystem.
#[derive(Clone, Debug)]
pub struct Config {
    /// At most this many requests are worked on at once (at least 1); more wait unread.
    pub max_parallel_tasks: usize,
    /// Where candidate validation records its metrics (the reference's
    /// `polkadot_parachain_validation_requests_total`, `…_validate_from_exhaustive`,
    /// `…_validate_candidate_exhaustive`, code and PoV sizes).
    pub metrics: pvf_metrics::Metrics,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_parallel_tasks: DEFAULT_MAX_PARALLEL_TASKS,
            metrics: pvf_metrics::Metrics::default(),
        }
    }
}

enum HostSource {
    Running(ValidationHost),
    Start(host::Config),
}

/// The candidate-validation subsystem of a validator.
pub struct CandidateValidationSubsystem {
    host: HostSource,
    config: Config,
}

impl CandidateValidationSubsystem {
    /// Uses an already running host (or a test double built with [`ValidationHost::new`]).
    pub fn new(host: ValidationHost, config: Config) -> Self {
        Self {
            host: HostSource::Running(host),
            config,
        }
    }

    /// Starts the host with `host_config` when the subsystem starts, running it as one of the
    /// subsystem's jobs. If the host cannot start, the subsystem ends with
    /// [`SubsystemError::HostStart`] (and so does the overseer).
    pub fn with_host_config(host_config: host::Config, config: Config) -> Self {
        Self {
            host: HostSource::Start(host_config),
            config,
        }
    }
}

#[overseer::subsystem(CandidateValidation, error = SubsystemError, prefix = crate::overseer)]
impl<Context> CandidateValidationSubsystem {
    fn start(self, mut ctx: Context) -> SpawnedSubsystem<SubsystemError> {
        let Self { host, config } = self;
        let future = match host {
            HostSource::Running(host) => run(ctx, host, config, None).boxed(),
            HostSource::Start(host_config) => match host::start(host_config) {
                Ok((host, task)) => {
                    let (stopped_tx, stopped_rx) = oneshot::channel();
                    let task = async move {
                        let exit = task.await.err().map(|e| e.to_string());
                        if let Some(e) = &exit {
                            tracing::error!(target: LOG_TARGET, "the validation host stopped: {e}");
                        }
                        let _ = stopped_tx.send(exit);
                    };
                    match ctx.spawn("pvf-validation-host", Box::pin(task)) {
                        Ok(()) => run(ctx, host, config, Some(stopped_rx.shared())).boxed(),
                        Err(e) => async move { Err(e) }.boxed(),
                    }
                }
                Err(e) => async move { Err(SubsystemError::HostStart(e)) }.boxed(),
            },
        };
        SpawnedSubsystem {
            name: "candidate-validation-subsystem",
            future,
        }
    }
}

/// Resolves when a host the subsystem started has stopped, with the reason if it stopped on
/// its own ([`host::HostExit`]).
type HostStopped = futures::future::Shared<oneshot::Receiver<Option<String>>>;

/// What the main loop waits for while every job slot is taken.
enum AtCapacity {
    Slot(OwnedSemaphorePermit),
    Signal(Signal),
}

#[overseer::contextbounds(CandidateValidation, prefix = crate::overseer)]
async fn run<Context>(
    mut ctx: Context,
    host: ValidationHost,
    config: Config,
    host_stopped: Option<HostStopped>,
) -> Result<(), SubsystemError> {
    let limit = config.max_parallel_tasks.clamp(1, u32::MAX as usize);
    let slots = Arc::new(Semaphore::new(limit));
    // Flipped to `true` on `Conclude`; dropped (which jobs also treat as a stop) if this
    // future is dropped without one.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                tracing::debug!(target: LOG_TARGET, limit, "every job slot is busy: waiting");
                let wait = futures::select! {
                    slot = slots.clone().acquire_owned().fuse() => {
                        AtCapacity::Slot(slot.expect("the semaphore is never closed"))
                    }
                    signal = ctx.recv_signal().fuse() => AtCapacity::Signal(signal?),
                };
                match wait {
                    AtCapacity::Slot(slot) => slot,
                    AtCapacity::Signal(Signal::Conclude) => {
                        return conclude(&slots, limit, shutdown_tx, host, host_stopped).await;
                    }
                    AtCapacity::Signal(Signal::ActiveLeaves(leaves)) => {
                        host.update_active_leaves(leaves).await;
                        continue;
                    }
                }
            }
        };

        let next = match &host_stopped {
            None => ctx.recv().await?,
            Some(stopped) => futures::select! {
                next = ctx.recv().fuse() => next?,
                exit = stopped.clone() => {
                    // A host this subsystem started stops on its own only when the node
                    // must (a worker binary of another version): so does the node.
                    let why = exit
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| "the validation host stopped".into());
                    let _ = shutdown_tx.send(true);
                    return Err(SubsystemError::HostStopped(why));
                }
            },
        };
        match next {
            FromOrchestra::Signal(Signal::Conclude) => {
                drop(slot);
                return conclude(&slots, limit, shutdown_tx, host, host_stopped).await;
            }
            FromOrchestra::Signal(Signal::ActiveLeaves(leaves)) => {
                host.update_active_leaves(leaves).await;
            }
            FromOrchestra::Communication { msg } => {
                let job = make_job(
                    &mut ctx,
                    &host,
                    &config.metrics,
                    msg,
                    slot,
                    shutdown_rx.clone(),
                );
                ctx.spawn("candidate-validation-job", job)?;
            }
        }
    }
}

/// Tells every job to answer now and waits up to [`CONCLUDE_GRACE`] for them to; then,
/// if this subsystem started the host, waits up to [`HOST_STOP_GRACE`] for it to stop.
async fn conclude(
    slots: &Semaphore,
    limit: usize,
    shutdown_tx: watch::Sender<bool>,
    host: ValidationHost,
    host_stopped: Option<HostStopped>,
) -> Result<(), SubsystemError> {
    let _ = shutdown_tx.send(true);
    let all = u32::try_from(limit).expect("clamped to u32");
    if slots
        .acquire_many(all)
        .timeout(CONCLUDE_GRACE)
        .await
        .is_none()
    {
        tracing::warn!(
            target: LOG_TARGET,
            "some jobs did not answer in time after Conclude: their callers see cancellation"
        );
    }
    // The host stops (and stops its workers) once every handle is gone.
    drop(host);
    if let Some(stopped) = host_stopped
        && stopped.timeout(HOST_STOP_GRACE).await.is_none()
    {
        tracing::warn!(target: LOG_TARGET, "the validation host did not stop in time");
    }
    Ok(())
}

/// Resolves once the subsystem concludes (or is dropped).
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The child job answering `msg`; it holds `slot` until it has answered.
#[overseer::contextbounds(CandidateValidation, prefix = crate::overseer)]
fn make_job<Context>(
    ctx: &mut Context,
    host: &ValidationHost,
    metrics: &pvf_metrics::Metrics,
    msg: CandidateValidationMessage,
    slot: OwnedSemaphorePermit,
    shutdown: watch::Receiver<bool>,
) -> futures::future::BoxFuture<'static, ()> {
    let host = host.clone();
    let metrics = metrics.clone();
    match msg {
        CandidateValidationMessage::ValidateFromExhaustive {
            validation_data,
            validation_code,
            candidate_receipt,
            pov,
            executor_params,
            exec_kind,
            mut response_sender,
        } => {
            let candidate = validate::Candidate {
                validation_data,
                validation_code,
                candidate_receipt,
                pov,
                executor_params,
                exec_kind,
            };
            async move {
                let _slot = slot;
                let started = std::time::Instant::now();
                let answer = futures::select_biased! {
                    () = stopped(shutdown).fuse() => Err(ValidationFailed::ShuttingDown),
                    () = response_sender.cancellation().fuse() => {
                        tracing::debug!(target: LOG_TARGET, "the caller left: validation abandoned");
                        return;
                    }
                    answer = validate::validate(&host, &metrics, candidate).fuse() => answer,
                };
                metrics.observe_validate_from_exhaustive(started.elapsed());
                metrics.on_validation_request(validate::validity_label(&answer));
                let _ = response_sender.send(answer);
            }
            .boxed()
        }
        CandidateValidationMessage::PreCheck {
            relay_parent,
            validation_code_hash,
            mut response_sender,
        } => {
            let mut sender = ctx.sender().clone();
            async move {
                let _slot = slot;
                let outcome = futures::select_biased! {
                    () = stopped(shutdown).fuse() => PreCheckOutcome::Failed,
                    () = response_sender.cancellation().fuse() => {
                        tracing::debug!(target: LOG_TARGET, "the caller left: pre-check abandoned");
                        return;
                    }
                    outcome = precheck::precheck(
                        &mut sender,
                        &host,
                        relay_parent,
                        validation_code_hash,
                    ).fuse() => outcome,
                };
                let _ = response_sender.send(outcome);
            }
            .boxed()
        }
        CandidateValidationMessage::HeadsUp {
            relay_parent,
            validation_code_hashes,
            mut response_sender,
        } => {
            let mut sender = ctx.sender().clone();
            async move {
                let _slot = slot;
                let outcome = futures::select_biased! {
                    () = stopped(shutdown).fuse() => Err(HeadsUpError::ShuttingDown),
                    () = response_sender.cancellation().fuse() => return,
                    outcome = heads_up::heads_up(
                        &mut sender,
                        &host,
                        relay_parent,
                        validation_code_hashes,
                    ).fuse() => outcome,
                };
                let _ = response_sender.send(outcome);
            }
            .boxed()
        }
    }
}
