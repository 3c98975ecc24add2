//! The node's side of preparation and execution.
//!
//! A request travels: [`discovery`] finds the worker binaries, [`worker`] spawns one and
//! shakes hands over [`wire`], the worker answers, [`classify`] turns the answer (or the
//! worker's silence or death) into a typed outcome, and [`artifacts`] keeps what preparation
//! produced. [`Host`] ties them together for one-shot use; [`start`] runs the long-lived host
//! actor behind a [`ValidationHost`] handle.

mod actor;
pub mod artifacts;
pub mod cgroups;
pub mod classify;
pub mod discovery;
pub mod env;
pub mod exchange;
pub mod execute_queue;
mod handle;
mod oneshot;
pub mod prepare_queue;
pub mod security;
pub mod wire;
pub mod worker;

pub use actor::HostStats;
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
/// stopped, and then the future ends. Fails with an actionable message if the workers or the
/// cache are unusable.
pub fn start(
    config: Config,
) -> Result<(ValidationHost, impl Future<Output = ()> + Send + 'static), ValidationError> {
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
    let (tx, rx) = tokio::sync::mpsc::channel(REQUEST_CHANNEL_CAPACITY);
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let actor = actor::Actor::new(config, paths, spawn, cache, table, events_tx, stats.clone());
    Ok((
        ValidationHost::with_stats(tx, stats),
        actor.run(rx, events_rx),
    ))
}
