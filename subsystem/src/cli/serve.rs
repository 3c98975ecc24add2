//! `pvf-node serve`: the node as a long-running validator, driven over JSON-RPC
//! (docs/rpc.md).
//!
//! The overseer runs candidate validation (with the validation host), candidate backing and
//! the runtime-API stand-in; the RPC server ([`crate::rpc`]) turns each call into a message
//! to them. Malus nodes (`pvf-malus`) run exactly this with their own subsystems in the
//! validation or backing slot, through [`serve_with`].
//!
//! Stopping: on SIGINT or SIGTERM the server stops accepting connections and new calls get
//! -32002; calls in flight are answered (for up to [`IN_FLIGHT_GRACE`]; after that the
//! overseer concludes and they get -32002 too); then the overseer and the host stop and the
//! node exits 0. If the host stops on its own (workers of another version), the node stops
//! the same way and exits 2 with the host's message, as `pvf-node run` does.

use super::{DEFAULT_LOG_FILTER, EXIT_OTHER, EXIT_VALID, HostArgs, WorkerCounts, logging};
use crate::{
    candidate_backing::CandidateBackingSubsystem,
    candidate_validation::{self, CandidateValidationSubsystem},
    host,
    overseer::{
        CandidateBackingMessage, CandidateValidationMessage, DummySubsystem, Handle,
        OverseerSubsystemContext, Subsystem, SubsystemError, TokioSpawner, build_overseer,
    },
    rpc::{Node, RpcServer},
    runtime_api::{RuntimeApiStore, RuntimeApiSubsystem},
};
use clap::Args;
use std::{
    io::Write,
    net::{Ipv4Addr, SocketAddr},
    process::ExitCode,
    time::Duration,
};
use tokio::{
    signal::unix::{Signal, SignalKind, signal},
    task::JoinHandle,
};

/// How long calls in flight at SIGINT/SIGTERM are given to be answered before the overseer
/// concludes (which answers the rest -32002). Covers a dispute or approval with its retry.
pub const IN_FLIGHT_GRACE: Duration = Duration::from_secs(40);

/// How long each later stopping step (server, overseer, host) may take.
const STEP_GRACE: Duration = Duration::from_secs(15);

/// Arguments of `pvf-node serve`; flatten them into a malus binary's own command line
/// (whose `--version` must be [`pvf_messages::version::FULL_VERSION`], as pvf-node's and
/// `pvf_version`'s are).
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Port of the JSON-RPC endpoint (HTTP and WebSocket, on 127.0.0.1); 0 picks a free one.
    #[arg(long, default_value_t = 9944)]
    pub rpc_port: u16,
    /// Port of the Prometheus endpoint (`/metrics`, on 127.0.0.1); 0 picks a free one.
    #[arg(long, default_value_t = 9615)]
    pub prometheus_port: u16,
    /// Do not serve Prometheus metrics.
    #[arg(long)]
    pub no_prometheus: bool,
    /// The node's name, in `pvf_health` and the start-up line.
    #[arg(long, default_value = "pvf-node")]
    pub name: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub workers: WorkerCounts,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub host: HostArgs,
}

/// Runs `pvf-node serve` until SIGINT/SIGTERM (exit 0) or until the node cannot go on
/// (exit 2), with `wrap_validation` and `wrap_backing` choosing what fills the
/// candidate-validation and candidate-backing slots (`pvf-node` passes both through
/// unchanged; a malus node wraps or replaces them).
///
/// Installs the logger (unless one is installed) and its own async runtime: call it from
/// `main`, outside any runtime.
pub fn serve_with<CV, CB>(
    args: ServeArgs,
    wrap_validation: impl FnOnce(CandidateValidationSubsystem) -> CV,
    wrap_backing: impl FnOnce(CandidateBackingSubsystem) -> CB,
) -> ExitCode
where
    CV: Subsystem<OverseerSubsystemContext<CandidateValidationMessage>, SubsystemError>,
    CB: Subsystem<OverseerSubsystemContext<CandidateBackingMessage>, SubsystemError>,
{
    if !tracing::dispatcher::has_been_set() {
        logging::init(DEFAULT_LOG_FILTER);
    }
    // Two threads: decoding a large request never holds up the overseer.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pvf-node: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_OTHER);
        }
    };
    let status = runtime.block_on(serve(args, wrap_validation, wrap_backing));
    // Whatever the host's tasks still do (a worker being reaped) must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    ExitCode::from(status)
}

/// Why the node stops.
enum Stop {
    /// SIGINT or SIGTERM.
    Signal(&'static str),
    /// The host stopped on its own, with this message.
    Host(String),
    /// The overseer ended (a subsystem ended).
    Overseer,
}

async fn serve<CV, CB>(
    args: ServeArgs,
    wrap_validation: impl FnOnce(CandidateValidationSubsystem) -> CV,
    wrap_backing: impl FnOnce(CandidateBackingSubsystem) -> CB,
) -> u8
where
    CV: Subsystem<OverseerSubsystemContext<CandidateValidationMessage>, SubsystemError>,
    CB: Subsystem<OverseerSubsystemContext<CandidateBackingMessage>, SubsystemError>,
{
    // Before anything starts: a signal from now on stops the node gracefully.
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pvf-node: cannot listen for SIGINT/SIGTERM: {e}");
            return EXIT_OTHER;
        }
    };
    let metrics = pvf_metrics::Metrics::new();
    let prometheus = if args.no_prometheus {
        None
    } else {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.prometheus_port));
        match pvf_metrics::serve(metrics.clone(), addr).await {
            Ok((addr, task)) => Some((addr, AbortOnDrop(task))),
            Err(e) => {
                eprintln!(
                    "pvf-node: cannot serve metrics on port {}: {e} (choose another with --prometheus-port, or --no-prometheus)",
                    args.prometheus_port
                );
                return EXIT_OTHER;
            }
        }
    };

    let config = host::Config {
        workers_path: args.host.workers_path.clone(),
        cache_path: args.host.cache_path.clone(),
        prepare_workers_soft: args.workers.prepare_soft,
        prepare_workers_hard: args.workers.prepare_hard,
        execute_workers: args.workers.execute,
        metrics: metrics.clone(),
        insecure_validator: args.host.insecure_validator_i_know_what_i_do,
        skip_version_check: args.host.disable_worker_version_check,
        ..host::Config::default()
    };
    let (host, running) = match host::start(config) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("pvf-node: {e}");
            return EXIT_OTHER;
        }
    };
    let mut host_running = tokio::spawn(running);

    let store = RuntimeApiStore::new();
    let validation = wrap_validation(CandidateValidationSubsystem::new(
        host.clone(),
        candidate_validation::Config {
            metrics: metrics.clone(),
            ..Default::default()
        },
    ));
    // The subsystem holds the host from now on: it stops once the subsystem has.
    drop(host);
    let built = build_overseer(
        validation,
        wrap_backing(CandidateBackingSubsystem::new()),
        RuntimeApiSubsystem::new(store.clone()),
        DummySubsystem,
        TokioSpawner::current(),
    );
    let (overseer, handle) = match built {
        Ok(built) => built,
        Err(e) => {
            eprintln!("pvf-node: cannot build the overseer: {e}");
            return EXIT_OTHER;
        }
    };
    let mut overseer_running = tokio::spawn(overseer.run());
    let node = Node::new(args.name.clone(), handle.clone(), store, metrics);
    let server = match RpcServer::start(args.rpc_port, node.clone()).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!(
                "pvf-node: cannot serve JSON-RPC on port {}: {e} (choose another with --rpc-port)",
                args.rpc_port
            );
            stop_overseer(handle, overseer_running).await;
            return EXIT_OTHER;
        }
    };
    let prometheus_addr = prometheus
        .as_ref()
        .map_or_else(|| "none".to_owned(), |(addr, _)| addr.to_string());
    println!(
        "pvf-node serving: name={} rpc={} prometheus={prometheus_addr}",
        args.name,
        server.local_addr()
    );
    // The line is what a supervisor waits for: it must not sit in a buffer.
    let _ = std::io::stdout().flush();

    let stop = tokio::select! {
        signal = signals.next() => Stop::Signal(signal),
        exit = &mut host_running => Stop::Host(host_exit_message(exit)),
        _ = &mut overseer_running => Stop::Overseer,
    };
    node.begin_shutdown();
    server.stop();
    let status = match &stop {
        Stop::Signal(name) => {
            eprintln!("pvf-node: {name}: answering the calls in flight, then stopping");
            let answered = tokio::select! {
                answered = server.stopped_within(IN_FLIGHT_GRACE) => answered,
                second = signals.next() => {
                    eprintln!("pvf-node: {second} again: stopping now");
                    false
                }
            };
            if !answered {
                eprintln!("pvf-node: calls still in flight are answered -32002");
            }
            EXIT_VALID
        }
        Stop::Host(message) => {
            eprintln!("pvf-node: {message}");
            EXIT_OTHER
        }
        Stop::Overseer => {
            eprintln!("pvf-node: a subsystem stopped: the node stops");
            EXIT_OTHER
        }
    };
    // Concluding answers whatever is still in flight (-32002); then the server can close.
    // (A join handle that has already answered must not be awaited again.)
    if !matches!(stop, Stop::Overseer) {
        stop_overseer(handle, overseer_running).await;
    }
    if !server.stopped_within(STEP_GRACE).await {
        eprintln!("pvf-node: the JSON-RPC server did not stop in time");
    }
    if !matches!(stop, Stop::Host(_)) {
        match tokio::time::timeout(STEP_GRACE, host_running).await {
            Err(_) => eprintln!("pvf-node: the validation host did not stop in time"),
            Ok(exit @ (Ok(Err(_)) | Err(_))) => {
                eprintln!("pvf-node: {}", host_exit_message(exit));
            }
            Ok(Ok(Ok(()))) => {}
        }
    }
    status
}

/// The message of a host task that ended.
fn host_exit_message(exit: Result<Result<(), host::HostExit>, tokio::task::JoinError>) -> String {
    match exit {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(())) => "the validation host stopped".into(),
        Err(e) => format!("the validation host panicked: {e}"),
    }
}

/// Concludes every subsystem and waits for the overseer to return.
async fn stop_overseer(mut handle: Handle, running: JoinHandle<Result<(), SubsystemError>>) {
    handle.stop().await;
    match tokio::time::timeout(STEP_GRACE, running).await {
        Err(_) => eprintln!("pvf-node: the overseer did not stop in time"),
        Ok(Ok(Err(e))) => eprintln!("pvf-node: the overseer stopped with an error: {e}"),
        Ok(_) => {}
    }
}

/// SIGINT and SIGTERM, listened for from start-up so neither kills the node outright.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The name of the next signal received.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Stops the metrics server when the node stops.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
