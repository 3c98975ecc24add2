//! `pvf-node run`: an overseer with candidate validation, the runtime-API stand-in and the
//! workload driver, on a workload (the embedded default or `--workload FILE`), ending with a
//! summary table.

use super::{EXIT_OTHER, EXIT_VALID, HostArgs, WorkerCounts};
use crate::{
    candidate_validation::{self, CandidateValidationDummy, CandidateValidationSubsystem},
    host,
    overseer::{DummySubsystem, TokioSpawner, build_overseer},
    runtime_api::{RuntimeApiStore, RuntimeApiSubsystem},
    workload::{
        WorkloadSpec, default_workload,
        driver::{self, WorkloadDriver},
        summary::{self, Counters},
    },
};
use clap::Args;
use futures::channel::oneshot;
use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::{Duration, Instant},
};

/// Arguments of `pvf-node run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// A workload file (JSON; see `--print-default-workload` for the format). Default: the
    /// embedded workload.
    #[arg(long, value_name = "FILE")]
    pub workload: Option<PathBuf>,
    /// Print the embedded default workload as JSON and exit.
    #[arg(long)]
    pub print_default_workload: bool,
    /// Length of the adder chain in the embedded workload.
    #[arg(long, default_value_t = 12)]
    pub blocks: u32,
    /// Run as a collator: the dummy takes the candidate-validation slot, no worker is spawned
    /// and every request is dropped.
    #[arg(long)]
    pub collator: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub workers: WorkerCounts,
    /// Port of the Prometheus endpoint (`/metrics`); 0 picks a free one.
    #[arg(long, default_value_t = 9615)]
    pub prometheus_port: u16,
    /// Listen on all interfaces instead of loopback only.
    #[arg(long)]
    pub prometheus_external: bool,
    /// Do not serve Prometheus metrics.
    #[arg(long)]
    pub no_prometheus: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub host: HostArgs,
}

/// Runs `pvf-node run`.
pub async fn run(args: RunArgs) -> u8 {
    if args.print_default_workload {
        match serde_json::to_string_pretty(&default_workload(args.blocks)) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("pvf-node: {e}");
                return EXIT_OTHER;
            }
        }
        return EXIT_VALID;
    }
    let workload = match &args.workload {
        Some(path) => WorkloadSpec::load(path),
        None => default_workload(args.blocks).resolve(std::path::Path::new(".")),
    };
    let workload = match workload {
        Ok(w) => w,
        Err(e) => {
            eprintln!("pvf-node: {e}");
            return EXIT_OTHER;
        }
    };
    let metrics = pvf_metrics::Metrics::new();
    let _server = if args.no_prometheus {
        None
    } else {
        let ip = if args.prometheus_external {
            Ipv4Addr::UNSPECIFIED
        } else {
            Ipv4Addr::LOCALHOST
        };
        match pvf_metrics::serve(
            metrics.clone(),
            SocketAddr::from((ip, args.prometheus_port)),
        )
        .await
        {
            Ok((addr, task)) => {
                eprintln!("metrics on http://{addr}/metrics");
                Some(AbortOnDrop(task))
            }
            Err(e) => {
                eprintln!(
                    "pvf-node: cannot serve metrics on port {}: {e} (choose another with --prometheus-port, or --no-prometheus)",
                    args.prometheus_port
                );
                return EXIT_OTHER;
            }
        }
    };

    let store = RuntimeApiStore::new();
    for (_, code) in &workload.pvfs {
        store.insert_code(code.clone());
    }
    let candidates = workload.candidates.len();
    let (outcomes_tx, outcomes_rx) = oneshot::channel();
    let driver = WorkloadDriver::new(workload, outcomes_tx, driver::progress_bar(candidates));
    let started = Instant::now();

    let (host, host_running) = if args.collator {
        (None, None)
    } else {
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
        match host::start(config) {
            Ok((handle, running)) => {
                let stats = handle.stats();
                eprintln!(
                    "validating {candidates} candidates with {} execute workers ({} artifacts reused from the last run, {} dropped)",
                    args.workers.execute,
                    stats.artifacts_reused_at_startup,
                    stats.artifacts_dropped_at_startup
                );
                (Some(handle), Some(tokio::spawn(running)))
            }
            Err(e) => {
                eprintln!("pvf-node: {e}");
                return EXIT_OTHER;
            }
        }
    };
    let spawner = TokioSpawner::current();
    let built = match &host {
        Some(h) => build_overseer(
            CandidateValidationSubsystem::new(
                h.clone(),
                candidate_validation::Config {
                    metrics: metrics.clone(),
                    ..Default::default()
                },
            ),
            DummySubsystem,
            RuntimeApiSubsystem::new(store),
            driver,
            spawner,
        ),
        None => build_overseer(
            CandidateValidationDummy,
            DummySubsystem,
            RuntimeApiSubsystem::new(store),
            driver,
            spawner,
        ),
    };
    let (overseer, mut handle) = match built {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pvf-node: cannot build the overseer: {e}");
            return EXIT_OTHER;
        }
    };
    let overseer_running = tokio::spawn(overseer.run());
    handle.active_leaves([driver::active_leaf()]).await;
    let mut host_running = host_running;
    let outcomes = match host_running.as_mut() {
        None => outcomes_rx.await.unwrap_or_default(),
        Some(running) => tokio::select! {
            outcomes = outcomes_rx => outcomes.unwrap_or_default(),
            exit = running => {
                // The host stops on its own only when the node must (a worker binary of
                // another version): stop the node with its message.
                let message = match exit {
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(())) => "the validation host stopped".into(),
                    Err(e) => format!("the validation host panicked: {e}"),
                };
                eprintln!("pvf-node: {message}");
                handle.stop().await;
                let _ = tokio::time::timeout(driver::STOP_GRACE, overseer_running).await;
                return EXIT_OTHER;
            }
        },
    };
    if tokio::time::timeout(driver::STOP_GRACE, overseer_running)
        .await
        .is_err()
    {
        eprintln!("pvf-node: the overseer did not stop in time");
    }
    let counters = host
        .map(|h| {
            let s = h.stats();
            Counters {
                preparations: s.preparations,
                cache_hits: s.cache_hits,
                retries: s.retries,
                reused_at_startup: s.artifacts_reused_at_startup,
            }
        })
        .unwrap_or_default();
    let mut host_exit = None;
    if let Some(running) = host_running {
        match tokio::time::timeout(Duration::from_secs(15), running).await {
            Err(_) => eprintln!("pvf-node: the validation host did not stop in time"),
            Ok(Ok(Err(e))) => host_exit = Some(e.to_string()),
            Ok(_) => {}
        }
    }
    print!(
        "{}",
        summary::render(&outcomes, &counters, started.elapsed())
    );
    if let Some(message) = host_exit {
        // The host stopped on its own (a worker binary of another version): the node stops
        // with the operator's message, whatever the workload got.
        eprintln!("pvf-node: {message}");
        return EXIT_OTHER;
    }
    if args.collator {
        println!(
            "collator mode: no worker was started; {} requests were dropped by the dummy subsystem",
            outcomes.len()
        );
        return EXIT_VALID;
    }
    if outcomes.len() == candidates && summary::unexpected(&outcomes) == 0 {
        EXIT_VALID
    } else {
        EXIT_OTHER
    }
}

/// Stops the metrics server when the run ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
