//! Prometheus metrics of the PVF host.
//!
//! Why a crate of its own: the node, the malus nodes and the tests share one set of metric
//! definitions without linking the engine (this crate depends on no `pvf-*` crate, nor on
//! wasmtime or orchestra), and the `/metrics` endpoint lives next to them.
//!
//! Why these names: operators already run dashboards and alerts built on the reference PVF
//! host's metrics (`polkadot_pvf_*`, `polkadot_parachain_candidate_validation_*`). Wherever a
//! metric of ours means the same thing, it carries the reference's name, type, label and unit,
//! so those dashboards carry over unchanged. Histogram buckets are a *superset* of the
//! reference's boundaries (we add finer buckets at the fast end, since we aim at a
//! per-candidate overhead ten times below the reference's), so a query for a reference bucket
//! (`le="0.5"`) still finds it. Metrics the reference lacks — queue depths, retries, verdict
//! classes, artifact cache, end-to-end latency — are prefixed `pvf_host_` and follow
//! Prometheus naming conventions (`_total` for counters, base units in the name).
//!
//! | metric | type | labels | recorded by |
//! |---|---|---|---|
//! | `polkadot_pvf_worker_spawning` | counter | `flavor` | [`Metrics::on_worker_spawning`] |
//! | `polkadot_pvf_worker_spawned` | counter | `flavor` | [`Metrics::on_worker_spawned`] |
//! | `polkadot_pvf_worker_retired` | counter | `flavor` | [`Metrics::on_worker_retired`] |
//! | `polkadot_pvf_prepare_enqueued` | counter | | [`Metrics::on_prepare_enqueued`] |
//! | `polkadot_pvf_prepare_concluded` | counter | | [`Metrics::on_prepare_concluded`] |
//! | `polkadot_pvf_execute_enqueued` | counter | | [`Metrics::on_execute_enqueued`] |
//! | `polkadot_pvf_execute_finished` | counter | | [`Metrics::on_execute_finished`] |
//! | `polkadot_pvf_preparation_time` | histogram, s | | [`Metrics::observe_preparation_time`] |
//! | `polkadot_pvf_execution_time` | histogram, s | | [`Metrics::observe_execution_time`] |
//! | `polkadot_pvf_execution_queued_time` | histogram, s | | [`Metrics::observe_execution_queued_time`] |
//! | `polkadot_pvf_preparation_max_rss` | histogram, KiB | | [`Metrics::observe_preparation_max_rss`] |
//! | `polkadot_pvf_preparation_peak_tracked_allocation` | histogram, KiB | | [`Metrics::observe_preparation_peak_tracked_allocation`] |
//! | `polkadot_parachain_candidate_validation_code_size` | histogram, bytes | | [`Metrics::observe_code_size`] |
//! | `polkadot_parachain_candidate_validation_pov_size` | histogram, bytes | `compressed` | [`Metrics::observe_pov_size`] |
//! | `polkadot_parachain_validation_requests_total` | counter | `validity` | [`Metrics::on_validation_request`] |
//! | `polkadot_parachain_candidate_validation_validate_from_exhaustive` | histogram, s | | [`Metrics::observe_validate_from_exhaustive`] |
//! | `polkadot_parachain_candidate_validation_validate_candidate_exhaustive` | histogram, s | | [`Metrics::observe_validate_candidate_exhaustive`] |
//! | `pvf_host_candidate_latency_seconds` | histogram, s | | [`Metrics::observe_candidate_latency`] |
//! | `pvf_host_queue_depth` | gauge | `queue`, `priority` | [`Metrics::set_queue_depth`] |
//! | `pvf_host_retries_total` | counter | `queue`, `reason` | [`Metrics::on_retry`] |
//! | `pvf_host_verdicts_total` | counter | `class` | [`Metrics::on_verdict`] |
//! | `pvf_host_artifact_cache_bytes` | gauge | | [`Metrics::set_artifact_cache`] |
//! | `pvf_host_artifact_cache_artifacts` | gauge | | [`Metrics::set_artifact_cache`] |
//! | `pvf_host_artifact_cache_hits_total` | counter | | [`Metrics::on_cache_hit`] |
//! | `pvf_host_artifact_cache_misses_total` | counter | | [`Metrics::on_cache_miss`] |
//! | `pvf_host_preparations_started_total` | counter | | [`Metrics::on_preparation_started`] |
//!
//! The preparation memory histograms are in kilobytes (KiB, 1024 bytes) as in the reference,
//! whose `max_rss` comes straight from `getrusage`'s `ru_maxrss`; the recording methods take
//! bytes and convert, so callers never deal with the unit.
//!
//! [`serve`] (or [`MetricsServer`]) exposes the registry on `GET /metrics` over HTTP/1.1.

#![deny(missing_docs)]

mod server;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub use prometheus;
pub use server::{MetricsServer, serve};

/// The two pipelines of the host: the `flavor` of a worker and the `queue` of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Preparation (compilation) of a PVF into an artifact.
    Prepare,
    /// Execution of a prepared artifact on a candidate.
    Execute,
}

impl Flavor {
    /// The label value: `prepare` or `execute` (as in the reference).
    pub fn as_label(self) -> &'static str {
        match self {
            Flavor::Prepare => "prepare",
            Flavor::Execute => "execute",
        }
    }
}

/// The class of a verdict the host returned for a candidate (label `class`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerdictClass {
    /// The candidate is valid.
    Valid,
    /// The candidate is invalid for a deterministic reason of its own (a vote against it).
    /// Never a preparation failure: code that fails to prepare during validation gets no vote.
    Invalid,
    /// The cause was ambiguous (a worker or job died, a job panicked, a runtime could not be
    /// built) and persisted through the reference's retries: the node votes against the
    /// candidate, as the reference does.
    PossiblyInvalid,
    /// No vote on the candidate at all: a local fault, a preparation failure, a deadline.
    Error,
}

impl VerdictClass {
    /// The label value: `valid`, `invalid`, `possibly-invalid` or `error`.
    pub fn as_label(self) -> &'static str {
        match self {
            VerdictClass::Valid => "valid",
            VerdictClass::Invalid => "invalid",
            VerdictClass::PossiblyInvalid => "possibly-invalid",
            VerdictClass::Error => "error",
        }
    }

    /// Every class, in declaration order.
    pub const ALL: [VerdictClass; 4] = [
        VerdictClass::Valid,
        VerdictClass::Invalid,
        VerdictClass::PossiblyInvalid,
        VerdictClass::Error,
    ];
}

/// Finer buckets (10 µs … 5 ms) that our fast path needs below the reference's first bucket.
const FAST_BUCKETS: [f64; 9] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
];

/// Bytes per kilobyte as the reference counts them (`ru_maxrss` is in KiB on Linux).
const KIB: f64 = 1024.0;

/// A cheap-to-clone handle on the host's metrics and the registry that holds them.
///
/// Every recording method is a few atomic operations; clones share the same metrics.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    worker_spawning: IntCounterVec,
    worker_spawned: IntCounterVec,
    worker_retired: IntCounterVec,
    prepare_enqueued: IntCounter,
    prepare_concluded: IntCounter,
    execute_enqueued: IntCounter,
    execute_finished: IntCounter,
    preparation_time: Histogram,
    execution_time: Histogram,
    execution_queued_time: Histogram,
    preparation_max_rss: Histogram,
    preparation_peak_tracked_allocation: Histogram,
    code_size: Histogram,
    pov_size: HistogramVec,
    candidate_latency: Histogram,
    queue_depth: IntGaugeVec,
    retries: IntCounterVec,
    /// Sum of `retries` over all label values (a labelled counter cannot be summed cheaply).
    retries_sum: AtomicU64,
    verdicts: IntCounterVec,
    artifact_cache_bytes: IntGauge,
    artifact_cache_artifacts: IntGauge,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    preparations_started: IntCounter,
    validation_requests: IntCounterVec,
    validate_from_exhaustive: Histogram,
    validate_candidate_exhaustive: Histogram,
    rpc_requests: IntCounterVec,
}

fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let metric = IntCounter::new(name, help)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let metric = IntGauge::new(name, help)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: Vec<f64>,
) -> prometheus::Result<Histogram> {
    let metric = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

/// `FAST_BUCKETS` followed by `rest` (which must start above 5 ms).
fn with_fast(rest: &[f64]) -> Vec<f64> {
    FAST_BUCKETS.iter().chain(rest).copied().collect()
}

/// Converts a byte count to the reference's kilobytes.
fn kib(bytes: u64) -> f64 {
    bytes as f64 / KIB
}

/// Saturating conversion of a count to a gauge value.
fn gauge_value<T: TryInto<i64>>(value: T) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

impl Metrics {
    /// Creates the metrics in a fresh registry of their own.
    pub fn new() -> Self {
        Self::register(&Registry::new())
            .expect("metric names are static, valid and distinct, and the registry is fresh")
    }

    /// Creates the metrics and registers them into `registry` (e.g. a node-wide one).
    ///
    /// [`render`](Self::render) then renders everything in that registry. Fails if a metric
    /// of the same name is already registered there.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let r = registry;
        // Memory: 1 MiB … 16 GiB in KiB; a superset of the reference's 8 MiB … 4 GiB.
        let memory_kib = prometheus::exponential_buckets(1024.0, 2.0, 15)?;
        // Sizes: 1 KiB … 8 MiB in bytes; a superset of the reference's 16 KiB … 8 MiB.
        let size_bytes = prometheus::exponential_buckets(1024.0, 2.0, 14)?;
        let inner = Inner {
            registry: registry.clone(),
            worker_spawning: counter_vec(
                r,
                "polkadot_pvf_worker_spawning",
                "The total number of workers began to spawn",
                &["flavor"],
            )?,
            worker_spawned: counter_vec(
                r,
                "polkadot_pvf_worker_spawned",
                "The total number of workers spawned successfully",
                &["flavor"],
            )?,
            worker_retired: counter_vec(
                r,
                "polkadot_pvf_worker_retired",
                "The total number of workers retired, either killed by the host or died on duty",
                &["flavor"],
            )?,
            prepare_enqueued: counter(
                r,
                "polkadot_pvf_prepare_enqueued",
                "The total number of jobs enqueued into the preparation pipeline",
            )?,
            prepare_concluded: counter(
                r,
                "polkadot_pvf_prepare_concluded",
                "The total number of jobs concluded in the preparation pipeline",
            )?,
            execute_enqueued: counter(
                r,
                "polkadot_pvf_execute_enqueued",
                "The total number of jobs enqueued into the execution pipeline",
            )?,
            execute_finished: counter(
                r,
                "polkadot_pvf_execute_finished",
                "The total number of jobs done in the execution pipeline",
            )?,
            // Up to the lenient preparation timeout (360 s) and one bucket beyond.
            preparation_time: histogram(
                r,
                "polkadot_pvf_preparation_time",
                "Time spent in preparing PVF artifacts in seconds",
                with_fast(&[
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0,
                    120.0, 240.0, 360.0, 480.0,
                ]),
            )?,
            // 10 µs … the approval execution timeout (12 s).
            execution_time: histogram(
                r,
                "polkadot_pvf_execution_time",
                "Time spent in executing PVFs in seconds",
                with_fast(&[
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0,
                    12.0,
                ]),
            )?,
            execution_queued_time: histogram(
                r,
                "polkadot_pvf_execution_queued_time",
                "Time spent in queue waiting for PVFs execution job to be assigned, in seconds",
                with_fast(&[
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 12.0, 24.0,
                    48.0,
                ]),
            )?,
            preparation_max_rss: histogram(
                r,
                "polkadot_pvf_preparation_max_rss",
                "ru_maxrss (maximum resident set size) observed for preparation (in kilobytes)",
                memory_kib.clone(),
            )?,
            preparation_peak_tracked_allocation: histogram(
                r,
                "polkadot_pvf_preparation_peak_tracked_allocation",
                "peak allocation observed for preparation (in kilobytes)",
                memory_kib,
            )?,
            validation_requests: counter_vec(
                r,
                "polkadot_parachain_validation_requests_total",
                "Number of validation requests served.",
                &["validity"],
            )?,
            validate_from_exhaustive: histogram(
                r,
                "polkadot_parachain_candidate_validation_validate_from_exhaustive",
                "Time spent within `candidate_validation::validate_from_exhaustive`",
                prometheus::DEFAULT_BUCKETS.to_vec(),
            )?,
            validate_candidate_exhaustive: histogram(
                r,
                "polkadot_parachain_candidate_validation_validate_candidate_exhaustive",
                "Time spent within `candidate_validation::validate_candidate_exhaustive`",
                prometheus::DEFAULT_BUCKETS.to_vec(),
            )?,
            code_size: histogram(
                r,
                "polkadot_parachain_candidate_validation_code_size",
                "The size of the decompressed WASM validation blob used for checking a candidate",
                size_bytes.clone(),
            )?,
            pov_size: {
                let metric = HistogramVec::new(
                    HistogramOpts::new(
                        "polkadot_parachain_candidate_validation_pov_size",
                        "The compressed and decompressed size of the proof of validity of a candidate",
                    )
                    .buckets(size_bytes),
                    &["compressed"],
                )?;
                r.register(Box::new(metric.clone()))?;
                metric
            },
            // From the request reaching the host to its verdict, including any preparation
            // (up to the lenient 360 s) and retries.
            candidate_latency: histogram(
                r,
                "pvf_host_candidate_latency_seconds",
                "Time from a validation request reaching the host to its result, in seconds",
                with_fast(&[
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0,
                    12.0, 20.0, 30.0, 60.0, 120.0, 240.0, 360.0, 480.0,
                ]),
            )?,
            queue_depth: {
                let metric = IntGaugeVec::new(
                    Opts::new(
                        "pvf_host_queue_depth",
                        "Jobs waiting in a queue, per priority",
                    ),
                    &["queue", "priority"],
                )?;
                r.register(Box::new(metric.clone()))?;
                metric
            },
            retries: counter_vec(
                r,
                "pvf_host_retries_total",
                "Jobs retried after a non-deterministic failure, per pipeline and reason",
                &["queue", "reason"],
            )?,
            retries_sum: AtomicU64::new(0),
            verdicts: counter_vec(
                r,
                "pvf_host_verdicts_total",
                "Validation results returned by the host, per class",
                &["class"],
            )?,
            artifact_cache_bytes: gauge(
                r,
                "pvf_host_artifact_cache_bytes",
                "Total size of the artifacts in the cache, in bytes",
            )?,
            artifact_cache_artifacts: gauge(
                r,
                "pvf_host_artifact_cache_artifacts",
                "Number of artifacts in the cache",
            )?,
            cache_hits: counter(
                r,
                "pvf_host_artifact_cache_hits_total",
                "Requests whose artifact was already prepared",
            )?,
            cache_misses: counter(
                r,
                "pvf_host_artifact_cache_misses_total",
                "Requests whose artifact had to be prepared first",
            )?,
            preparations_started: counter(
                r,
                "pvf_host_preparations_started_total",
                "Preparation jobs handed to a prepare worker",
            )?,
            rpc_requests: counter_vec(
                r,
                "pvf_node_rpc_requests_total",
                "JSON-RPC calls of pvf-node serve, per method and outcome (ok, error, abandoned)",
                &["method", "outcome"],
            )?,
        };
        // Make the fixed label sets visible at zero from the start, so that dashboards and
        // `rate()` see every series before its first event.
        for flavor in [Flavor::Prepare, Flavor::Execute] {
            for vec in [
                &inner.worker_spawning,
                &inner.worker_spawned,
                &inner.worker_retired,
            ] {
                vec.with_label_values(&[flavor.as_label()]);
            }
        }
        for class in VerdictClass::ALL {
            inner.verdicts.with_label_values(&[class.as_label()]);
        }
        Ok(Metrics(Arc::new(inner)))
    }

    /// The registry the metrics live in (to register more, or to gather them yourself).
    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    /// Renders every metric of the registry in the Prometheus text exposition format
    /// (version 0.0.4, content type [`prometheus::TEXT_FORMAT`]).
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.0.registry.gather())
            .unwrap_or_else(|e| {
                tracing::warn!(target: "pvf-metrics", error = %e, "failed to encode metrics");
                String::new()
            })
    }

    // --- workers (reference names) ---

    /// A worker of `flavor` began to spawn (`polkadot_pvf_worker_spawning`).
    pub fn on_worker_spawning(&self, flavor: Flavor) {
        self.0
            .worker_spawning
            .with_label_values(&[flavor.as_label()])
            .inc();
    }

    /// A worker of `flavor` spawned successfully (`polkadot_pvf_worker_spawned`).
    pub fn on_worker_spawned(&self, flavor: Flavor) {
        self.0
            .worker_spawned
            .with_label_values(&[flavor.as_label()])
            .inc();
    }

    /// A worker of `flavor` was killed by the host or died (`polkadot_pvf_worker_retired`).
    pub fn on_worker_retired(&self, flavor: Flavor) {
        self.0
            .worker_retired
            .with_label_values(&[flavor.as_label()])
            .inc();
    }

    // --- pipelines (reference names) ---

    /// A job entered the preparation pipeline (`polkadot_pvf_prepare_enqueued`).
    pub fn on_prepare_enqueued(&self) {
        self.0.prepare_enqueued.inc();
    }

    /// The preparation pipeline concluded a job, whatever the outcome
    /// (`polkadot_pvf_prepare_concluded`).
    pub fn on_prepare_concluded(&self) {
        self.0.prepare_concluded.inc();
    }

    /// A job entered the execution pipeline (`polkadot_pvf_execute_enqueued`).
    pub fn on_execute_enqueued(&self) {
        self.0.execute_enqueued.inc();
    }

    /// The execution pipeline finished a job, whatever the outcome
    /// (`polkadot_pvf_execute_finished`).
    pub fn on_execute_finished(&self) {
        self.0.execute_finished.inc();
    }

    /// A preparation job was handed to a prepare worker
    /// (`pvf_host_preparations_started_total`; unlike `prepare_enqueued`, counts each
    /// attempt, including retries, and not requests satisfied while one was in flight).
    pub fn on_preparation_started(&self) {
        self.0.preparations_started.inc();
    }

    // --- times ---

    /// Time from sending a preparation job to a worker to its response
    /// (`polkadot_pvf_preparation_time`).
    pub fn observe_preparation_time(&self, elapsed: Duration) {
        self.0.preparation_time.observe(elapsed.as_secs_f64());
    }

    /// Time from sending an execution job to a worker to its response
    /// (`polkadot_pvf_execution_time`).
    pub fn observe_execution_time(&self, elapsed: Duration) {
        self.0.execution_time.observe(elapsed.as_secs_f64());
    }

    /// Time an execution job waited in the queue before a worker took it
    /// (`polkadot_pvf_execution_queued_time`).
    pub fn observe_execution_queued_time(&self, waited: Duration) {
        self.0.execution_queued_time.observe(waited.as_secs_f64());
    }

    /// End-to-end time from a validation request reaching the host to its result, including
    /// preparation and retries (`pvf_host_candidate_latency_seconds`).
    pub fn observe_candidate_latency(&self, elapsed: Duration) {
        self.0.candidate_latency.observe(elapsed.as_secs_f64());
    }

    // --- preparation memory and sizes ---

    /// Maximum resident set size of a preparation job, in **bytes**; recorded in kilobytes
    /// (`polkadot_pvf_preparation_max_rss`). Note that `ru_maxrss` on Linux is already in
    /// KiB: multiply it by 1024 first.
    pub fn observe_preparation_max_rss(&self, bytes: u64) {
        self.0.preparation_max_rss.observe(kib(bytes));
    }

    /// Peak allocation seen by the prepare job's tracking allocator, in **bytes**; recorded in
    /// kilobytes (`polkadot_pvf_preparation_peak_tracked_allocation`).
    pub fn observe_preparation_peak_tracked_allocation(&self, bytes: u64) {
        self.0
            .preparation_peak_tracked_allocation
            .observe(kib(bytes));
    }

    /// Size in bytes of the decompressed validation code used for a candidate
    /// (`polkadot_parachain_candidate_validation_code_size`).
    pub fn observe_code_size(&self, bytes: usize) {
        self.0.code_size.observe(bytes as f64);
    }

    /// Size in bytes of a candidate's PoV, compressed or not
    /// (`polkadot_parachain_candidate_validation_pov_size{compressed="true"|"false"}`).
    pub fn observe_pov_size(&self, bytes: usize, compressed: bool) {
        let label = if compressed { "true" } else { "false" };
        self.0
            .pov_size
            .with_label_values(&[label])
            .observe(bytes as f64);
    }

    // --- candidate validation (reference names) ---

    /// A validation request was answered with `validity`
    /// (`polkadot_parachain_validation_requests_total{validity}`): `valid`, `invalid`, or
    /// one of the reference's `internal failure (prepare|execute|misc)` for an answer that is
    /// no vote.
    pub fn on_validation_request(&self, validity: &str) {
        self.0
            .validation_requests
            .with_label_values(&[validity])
            .inc();
    }

    /// Wall-clock time of one `ValidateFromExhaustive` request in candidate validation, from
    /// its first check to its answer
    /// (`polkadot_parachain_candidate_validation_validate_from_exhaustive`).
    pub fn observe_validate_from_exhaustive(&self, elapsed: Duration) {
        self.0
            .validate_from_exhaustive
            .observe(elapsed.as_secs_f64());
    }

    /// Wall-clock time of the host's part of a validation (preparation if needed, execution,
    /// retries) (`polkadot_parachain_candidate_validation_validate_candidate_exhaustive`).
    pub fn observe_validate_candidate_exhaustive(&self, elapsed: Duration) {
        self.0
            .validate_candidate_exhaustive
            .observe(elapsed.as_secs_f64());
    }

    /// How many validation requests were answered with `validity`.
    pub fn validation_requests(&self, validity: &str) -> u64 {
        self.0
            .validation_requests
            .with_label_values(&[validity])
            .get()
    }

    // --- the node's JSON-RPC server (pvf_node_*) ---

    /// A JSON-RPC call of `method` ended with `outcome` (`pvf_node_rpc_requests_total`):
    /// `ok`, `error` (a typed error answer), or `abandoned` (the client left before the
    /// answer). `method` must come from the server's fixed set of methods.
    pub fn on_rpc_request(&self, method: &str, outcome: &str) {
        self.0
            .rpc_requests
            .with_label_values(&[method, outcome])
            .inc();
    }

    /// How many JSON-RPC calls of `method` ended with `outcome`.
    pub fn rpc_requests(&self, method: &str, outcome: &str) -> u64 {
        self.0
            .rpc_requests
            .with_label_values(&[method, outcome])
            .get()
    }

    // --- host-specific (pvf_host_*) ---

    /// Sets the number of jobs waiting in `queue` at `priority` (`pvf_host_queue_depth`).
    ///
    /// `priority` must come from a small fixed set (e.g. `backing`/`approval`/`dispute` for
    /// execution, `normal`/`critical` for preparation; `all` for a queue without priorities).
    pub fn set_queue_depth(&self, queue: Flavor, priority: &str, depth: usize) {
        self.0
            .queue_depth
            .with_label_values(&[queue.as_label(), priority])
            .set(gauge_value(depth));
    }

    /// A job of `queue` is retried after a failure with `reason` (`pvf_host_retries_total`).
    ///
    /// `reason` must come from a small fixed set (e.g. `worker_died`, `job_died`,
    /// `job_error`, `internal`, `runtime_construction`, `timed_out`, `io`).
    pub fn on_retry(&self, queue: Flavor, reason: &str) {
        self.0
            .retries
            .with_label_values(&[queue.as_label(), reason])
            .inc();
        self.0.retries_sum.fetch_add(1, Ordering::Relaxed);
    }

    /// The host returned a result of `class` (`pvf_host_verdicts_total`).
    pub fn on_verdict(&self, class: VerdictClass) {
        self.0.verdicts.with_label_values(&[class.as_label()]).inc();
    }

    /// Sets the artifact cache's total size in bytes and its number of artifacts
    /// (`pvf_host_artifact_cache_bytes`, `pvf_host_artifact_cache_artifacts`).
    pub fn set_artifact_cache(&self, bytes: u64, artifacts: usize) {
        self.0.artifact_cache_bytes.set(gauge_value(bytes));
        self.0.artifact_cache_artifacts.set(gauge_value(artifacts));
    }

    /// A request found its artifact prepared (`pvf_host_artifact_cache_hits_total`).
    pub fn on_cache_hit(&self) {
        self.0.cache_hits.inc();
    }

    /// A request had to wait for its artifact to be prepared
    /// (`pvf_host_artifact_cache_misses_total`).
    pub fn on_cache_miss(&self) {
        self.0.cache_misses.inc();
    }

    // --- read accessors (summaries, tests) ---

    /// Workers of `flavor` that began to spawn so far.
    pub fn workers_spawning(&self, flavor: Flavor) -> u64 {
        self.0
            .worker_spawning
            .with_label_values(&[flavor.as_label()])
            .get()
    }

    /// Workers of `flavor` spawned successfully so far.
    pub fn workers_spawned(&self, flavor: Flavor) -> u64 {
        self.0
            .worker_spawned
            .with_label_values(&[flavor.as_label()])
            .get()
    }

    /// Workers of `flavor` retired so far.
    pub fn workers_retired(&self, flavor: Flavor) -> u64 {
        self.0
            .worker_retired
            .with_label_values(&[flavor.as_label()])
            .get()
    }

    /// Jobs enqueued into the preparation pipeline so far.
    pub fn prepare_enqueued(&self) -> u64 {
        self.0.prepare_enqueued.get()
    }

    /// Jobs concluded by the preparation pipeline so far.
    pub fn prepare_concluded(&self) -> u64 {
        self.0.prepare_concluded.get()
    }

    /// Jobs enqueued into the execution pipeline so far.
    pub fn execute_enqueued(&self) -> u64 {
        self.0.execute_enqueued.get()
    }

    /// Jobs finished by the execution pipeline so far.
    pub fn execute_finished(&self) -> u64 {
        self.0.execute_finished.get()
    }

    /// Preparation jobs handed to workers so far.
    pub fn preparations_started(&self) -> u64 {
        self.0.preparations_started.get()
    }

    /// Artifact cache hits so far.
    pub fn cache_hits(&self) -> u64 {
        self.0.cache_hits.get()
    }

    /// Artifact cache misses so far.
    pub fn cache_misses(&self) -> u64 {
        self.0.cache_misses.get()
    }

    /// Retries so far, over every queue and reason.
    pub fn retries(&self) -> u64 {
        self.0.retries_sum.load(Ordering::Relaxed)
    }

    /// Retries so far in `queue` for `reason`.
    pub fn retries_for(&self, queue: Flavor, reason: &str) -> u64 {
        self.0
            .retries
            .with_label_values(&[queue.as_label(), reason])
            .get()
    }

    /// Results of `class` returned so far.
    pub fn verdicts(&self, class: VerdictClass) -> u64 {
        self.0.verdicts.with_label_values(&[class.as_label()]).get()
    }

    /// The current depth of `queue` at `priority`, as last set.
    pub fn queue_depth(&self, queue: Flavor, priority: &str) -> i64 {
        self.0
            .queue_depth
            .with_label_values(&[queue.as_label(), priority])
            .get()
    }

    /// The artifact cache's size in bytes and artifact count, as last set.
    pub fn artifact_cache(&self) -> (u64, u64) {
        let bytes = self.0.artifact_cache_bytes.get();
        let artifacts = self.0.artifact_cache_artifacts.get();
        (bytes.max(0) as u64, artifacts.max(0) as u64)
    }

    /// Number of observations of the end-to-end candidate latency histogram.
    pub fn candidate_latency_count(&self) -> u64 {
        self.0.candidate_latency.get_sample_count()
    }

    /// Sum in seconds of the end-to-end candidate latency observations.
    pub fn candidate_latency_sum(&self) -> f64 {
        self.0.candidate_latency.get_sample_sum()
    }

    /// Generic read of any sample of the registry, by its name in the exposition format
    /// (e.g. `polkadot_pvf_worker_spawned`, `polkadot_pvf_execution_time_count`): the sum of
    /// the values of every sample named `name` whose labels include all of `labels`, or
    /// `None` if no sample matches. Renders the registry: meant for tests and summaries, not
    /// hot paths.
    pub fn sample_value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let text = self.render();
        let mut total = None;
        for sample in text.lines().filter_map(parse_sample) {
            if sample.name == name
                && labels
                    .iter()
                    .all(|(k, v)| sample.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            {
                *total.get_or_insert(0.0) += sample.value;
            }
        }
        total
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("preparations_started", &self.preparations_started())
            .field("cache_hits", &self.cache_hits())
            .field("cache_misses", &self.cache_misses())
            .field("retries", &self.retries())
            .finish_non_exhaustive()
    }
}

/// One sample line of the text exposition format.
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parses `name{k="v",...} value [timestamp]`; `None` for comments, blank or malformed lines.
fn parse_sample(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(mut inner) = rest.strip_prefix('{') {
        // Each round consumes `key="value"` and its separator, up to the closing brace.
        loop {
            inner = inner.trim_start_matches([',', ' ']);
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after_key) = inner.split_once('=')?;
            let mut chars = after_key.strip_prefix('"')?.char_indices();
            let mut value = String::new();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i + 1,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    (_, other) => value.push(other),
                }
            };
            labels.push((key.trim().to_owned(), value));
            inner = &after_key[1 + end..];
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exposition_lines() {
        let s = parse_sample(r#"a_b{x="1",le="+Inf",q="a\"b\\c"} 42"#).unwrap();
        assert_eq!(s.name, "a_b");
        assert_eq!(
            s.labels,
            vec![
                ("x".to_owned(), "1".to_owned()),
                ("le".to_owned(), "+Inf".to_owned()),
                ("q".to_owned(), "a\"b\\c".to_owned())
            ]
        );
        assert_eq!(s.value, 42.0);
        let s = parse_sample("plain 1.5e-3").unwrap();
        assert_eq!(
            (s.name.as_str(), s.labels.len(), s.value),
            ("plain", 0, 0.0015)
        );
        assert!(parse_sample("# HELP x y").is_none());
        assert!(parse_sample("").is_none());
        assert!(parse_sample("broken{x=\"1\" 2").is_none());
    }

    #[test]
    fn fresh_registry_each_time() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.on_cache_hit();
        assert_eq!((a.cache_hits(), b.cache_hits()), (1, 0));
        let c = a.clone();
        c.on_cache_hit();
        assert_eq!(a.cache_hits(), 2);
    }

    #[test]
    fn rpc_requests_are_counted_per_method_and_outcome() {
        let m = Metrics::new();
        m.on_rpc_request("pvf_second", "ok");
        m.on_rpc_request("pvf_second", "ok");
        m.on_rpc_request("pvf_second", "abandoned");
        m.on_rpc_request("pvf_preCheck", "error");
        assert_eq!(m.rpc_requests("pvf_second", "ok"), 2);
        assert_eq!(m.rpc_requests("pvf_second", "abandoned"), 1);
        assert_eq!(m.rpc_requests("pvf_second", "error"), 0);
        assert_eq!(m.rpc_requests("pvf_preCheck", "error"), 1);
        assert!(
            m.render().lines().any(|l| l
                == r#"pvf_node_rpc_requests_total{method="pvf_second",outcome="abandoned"} 1"#)
        );
    }

    #[test]
    fn register_twice_in_one_registry_fails() {
        let registry = Registry::new();
        let _m = Metrics::register(&registry).unwrap();
        assert!(Metrics::register(&registry).is_err());
    }

    #[test]
    fn buckets_are_supersets_of_the_reference() {
        let m = Metrics::new();
        m.observe_execution_time(Duration::from_micros(5));
        let text = m.render();
        for le in ["0.00001", "0.01", "0.5", "12", "+Inf"] {
            assert!(
                text.contains(&format!(
                    "polkadot_pvf_execution_time_bucket{{le=\"{le}\"}}"
                )),
                "missing execution bucket {le}"
            );
        }
        for le in ["0.1", "3", "360", "480"] {
            assert!(
                text.contains(&format!(
                    "polkadot_pvf_preparation_time_bucket{{le=\"{le}\"}}"
                )),
                "missing preparation bucket {le}"
            );
        }
        for le in ["8192", "4194304"] {
            assert!(text.contains(&format!(
                "polkadot_pvf_preparation_max_rss_bucket{{le=\"{le}\"}}"
            )));
        }
    }
}
