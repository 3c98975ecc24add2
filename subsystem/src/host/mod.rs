//! The node's side of preparation and execution.
//!
//! A request travels: [`discovery`] finds the worker binaries, [`worker`] spawns one and
//! shakes hands over [`wire`], the worker answers, [`classify`] turns the answer (or the
//! worker's silence or death) into a typed outcome, and [`artifacts`] keeps what preparation
//! produced. [`Host`] ties them together for one-shot use; [`start`] runs the long-lived host
//! behind a [`ValidationHost`] handle, as four actors exchanging typed messages:
//!
//! | actor | owns | receives | sends |
//! |---|---|---|---|
//! | host ([`actor`], [`prepared`]) | artifact table, waiting requests, retries, pruning | `ToHost`, `FromPreparePool`, `FromExecutePool` | `ToPreparePool`, `ToExecutePool`, `ToSweeper`, answers |
//! | prepare pool ([`prepare_pool`]) | prepare queue, prepare workers (soft/hard limits) | `ToPreparePool` | `FromPreparePool` |
//! | execute pool ([`execute_pool`]) | execute queue, execute workers bound to executor params | `ToExecutePool` | `FromExecutePool` |
//! | sweeper ([`sweeper`]) | file work on the blocking pool | `ToSweeper` | — |

mod actor;
pub mod artifact_table;
pub mod artifacts;
pub mod cgroups;
pub mod classify;
pub mod discovery;
pub mod env;
pub mod exchange;
mod execute_pool;
pub mod execute_queue;
mod handle;
mod oneshot;
mod prepare_pool;
pub mod prepare_queue;
mod prepared;
pub mod security;
mod spawner;
mod sweeper;
pub mod wire;
pub mod worker;

pub use actor::{HostExit, HostStats};
pub use handle::ValidationHost;
pub use oneshot::{Host, HostConfig, Prepared, Validated, execute_on};

use pvf_messages::ValidationError;
use std::{future::Future, path::PathBuf, time::Duration};

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a job task panicked".into())
}

/// The host enforces wall-clock time as this multiple of a job's CPU-time budget.
pub const WALL_CLOCK_FACTOR: u32 = 4;

/// Configuration of the long-lived host.
#[derive(Clone, Debug)]
pub struct Config {
    /// `--workers-path`: a folder with both worker binaries, or one binary for both roles.
    pub workers_path: Option<PathBuf>,
    /// `--cache-path`; [`artifacts::default_cache_dir`] if unset.
    pub cache_path: Option<PathBuf>,
    /// Prepare workers kept for normal-priority work (the reference: 1).
    pub prepare_workers_soft: usize,
    /// Prepare workers allowed when critical work waits (the reference: 2).
    pub prepare_workers_hard: usize,
    /// Execute workers (the reference: 2–4).
    pub execute_workers: usize,
    /// The version announced to workers, if not this build's (tests provoke mismatches).
    pub node_version_override: Option<String>,
    /// Delay before retrying an approval or dispute after a worker or job death, a job error
    /// or an internal error ([`pvf_messages::verdict_policy::RETRY_DELAY`], the reference's 3 s;
    /// shorter only in tests).
    pub retry_delay: Duration,
    /// When failed preparations may be tried again.
    pub prepare_retry: artifacts::RetryPolicy,
    /// Prune artifacts only while the cache is larger than this (the reference: 10 GiB).
    pub cache_max_bytes: u64,
    /// Prune only artifacts unused for this long (the reference: 24 h).
    pub cache_min_unused: Duration,
    /// How often to prune (the reference: hourly).
    pub prune_interval: Duration,
    /// Where the host records its metrics.
    pub metrics: pvf_metrics::Metrics,
    /// Run even when sandbox layers that secure validator mode requires are missing
    /// (`--insecure-validator-i-know-what-i-do`).
    pub insecure_validator: bool,
    /// Accept worker binaries of another version (`--disable-worker-version-check`).
    pub skip_version_check: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            workers_path: None,
            cache_path: None,
            prepare_workers_soft: 1,
            prepare_workers_hard: 2,
            execute_workers: 2,
            node_version_override: None,
            retry_delay: pvf_messages::verdict_policy::RETRY_DELAY,
            prepare_retry: artifacts::RetryPolicy::default(),
            cache_max_bytes: 10 << 30,
            cache_min_unused: Duration::from_secs(24 * 3600),
            prune_interval: Duration::from_secs(3600),
            metrics: pvf_metrics::Metrics::default(),
            insecure_validator: false,
            skip_version_check: false,
        }
    }
}

/// How many requests may wait in the host's channel before senders wait.
const REQUEST_CHANNEL_CAPACITY: usize = 1024;

/// Starts the host: finds the workers, opens the cache (deleting what this environment
/// cannot use), and returns the handle and the future that runs the host. Once every handle
/// is dropped the host shuts down: queued and running requests are answered with an internal
/// "shutting down" error (never a verdict), running jobs' workers are killed, idle workers
/// stopped, and then the future ends with `Ok`. If a worker binary of another version
/// answers (the binaries were upgraded in place), the host shuts down the same way and the
/// future ends with [`HostExit::WorkerVersionMismatch`], whose message tells the operator to
/// restart the node. Fails with an actionable message if the workers or the cache are
/// unusable.
pub fn start(
    config: Config,
) -> Result<
    (
        ValidationHost,
        impl Future<Output = Result<(), HostExit>> + Send + 'static,
    ),
    ValidationError,
> {
    use pvf_messages::InternalValidationError as E;
    let paths = discovery::discover(config.workers_path.as_deref())
        .map_err(|e| ValidationError::Internal(E::WorkerNotFound(e.to_string())))?;
    // Workers of another build would refuse every handshake: say so before validating
    // anything (an in-place upgrade that replaced only some binaries leaves exactly this).
    if !config.skip_version_check {
        discovery::check_versions(&paths).map_err(|e| {
            ValidationError::Internal(E::VersionMismatch {
                node: pvf_messages::version::FULL_VERSION.into(),
                worker: format!("{} {}", e.path.display(), e.found),
            })
        })?;
    }
    let root = config
        .cache_path
        .clone()
        .unwrap_or_else(artifacts::default_cache_dir);
    let io = |e: std::io::Error| {
        ValidationError::Internal(E::Io(format!("cache {}: {e}", root.display())))
    };
    let cache = artifacts::CacheDir::open(&root).map_err(io)?;
    let scan = cache.startup_scan().map_err(io)?;
    tracing::info!(
        kept = scan.kept.len(),
        other_environment = scan.other_environment,
        corrupted = scan.corrupted,
        stray = scan.stray,
        "opened the artifact cache"
    );
    let stats = HostStats {
        artifacts_reused_at_startup: (scan.kept.len() + scan.failed.len()) as u64,
        artifacts_dropped_at_startup: (scan.other_environment + scan.corrupted) as u64,
        ..HostStats::default()
    };
    let stats = std::sync::Arc::new(std::sync::Mutex::new(stats));
    let table = artifacts::ArtifactTable::from_scan(&scan);
    let mut spawn = worker::SpawnConfig::new(
        cache.workers_dir().to_path_buf(),
        cache.artifacts_dir().to_path_buf(),
    );
    if let Some(v) = &config.node_version_override {
        spawn.node_version = v.clone();
    }
    spawn.skip_version_check = config.skip_version_check;
    spawn.cgroups = cgroups::for_workers();
    spawn.security =
        security::settings_for(&paths, cache.workers_dir(), !config.insecure_validator)
            .map_err(|e| ValidationError::Internal(E::Sandbox(e.to_string())))?;
    let mut config = config;
    // Zero workers would leave requests waiting forever.
    config.execute_workers = config.execute_workers.max(1);
    config.prepare_workers_hard = config.prepare_workers_hard.max(1);
    config.prepare_workers_soft = config
        .prepare_workers_soft
        .clamp(1, config.prepare_workers_hard);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (fatal_tx, fatal_rx) = tokio::sync::watch::channel(None);
    let spawner = std::sync::Arc::new(spawner::Spawner::new(
        paths,
        spawn,
        config.metrics.clone(),
        stop_rx,
        fatal_tx,
    ));
    let (tx, rx) = tokio::sync::mpsc::channel(REQUEST_CHANNEL_CAPACITY);
    let (to_prepare, prepare_rx) = tokio::sync::mpsc::unbounded_channel();
    let (from_prepare_tx, from_prepare) = tokio::sync::mpsc::unbounded_channel();
    let (to_execute, execute_rx) = tokio::sync::mpsc::unbounded_channel();
    let (from_execute_tx, from_execute) = tokio::sync::mpsc::unbounded_channel();
    let (to_sweeper, sweeper_rx) = tokio::sync::mpsc::unbounded_channel();
    let (deleted_tx, deleted) = tokio::sync::mpsc::unbounded_channel();
    let limits = prepare_queue::PrepareLimits {
        soft: config.prepare_workers_soft,
        hard: config.prepare_workers_hard,
    };
    let prepare_pool =
        prepare_pool::PreparePool::new(spawner.clone(), cache.clone(), limits, from_prepare_tx);
    let execute_pool =
        execute_pool::ExecutePool::new(spawner, config.execute_workers, from_execute_tx);
    let peers = actor::Peers {
        prepare: to_prepare,
        execute: to_execute,
        sweeper: to_sweeper,
    };
    let actor = actor::Actor::new(config, table, peers, stop_tx, fatal_rx, stats.clone());
    let run = async move {
        let prepare = tokio::spawn(prepare_pool.run(prepare_rx));
        let execute = tokio::spawn(execute_pool.run(execute_rx));
        let sweeper = tokio::spawn(sweeper::run(cache.clone(), sweeper_rx, deleted_tx));
        let exit = actor.run(rx, from_prepare, from_execute, deleted).await;
        // The pools closed their channels to the host, so they are done; the host dropped
        // the sweeper's sender, so it finishes what is queued.
        for task in [prepare, execute, sweeper] {
            if let Err(e) = task.await {
                tracing::error!(%e, "a host actor panicked");
            }
        }
        // Every worker is gone; a folder whose removal failed when its worker was dropped
        // (the cache was read-only then) goes now.
        sweeper::clear_workers_dir(cache).await;
        exit
    };
    Ok((ValidationHost::with_stats(tx, stats), run))
}
