//! The long-lived host through real workers: the artifact cache and its persistence,
//! deduplication, retries, priorities, deadlines and shutdown.

use parity_scale_codec::Encode;
use pvf_messages::{
    BlockData, ExecutorParams, Hash, HeadData, InternalValidationError, InvalidCandidate,
    PossiblyInvalidError, PrepareError, PvfExecKind, PvfPrepKind, ValidationCode, ValidationError,
    ValidationParams,
    candidate_validation::CandidateVerdict,
    host::{ActiveLeaf, PvfPrepData},
    verdict_policy,
};
use pvf_subsystem::host::{self, Config, ValidationHost};
use pvf_test_pvfs::adder_chain;
use pvf_tests::candidates::undying_params;
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

fn config(cache: &Path) -> Config {
    Config {
        workers_path: Some(pvf_tests::workers_dir()),
        cache_path: Some(cache.to_path_buf()),
        retry_delay: Duration::from_millis(200),
        ..Config::default()
    }
}

/// Starts a host on the current runtime; the returned join handle ends when it has stopped.
fn start(cfg: Config) -> (ValidationHost, tokio::task::JoinHandle<()>) {
    let (handle, run) = host::start(cfg).expect("host starts");
    (
        handle,
        tokio::spawn(async move { run.await.expect("the host stops cleanly") }),
    )
}

fn pvf(code: &[u8]) -> PvfPrepData {
    PvfPrepData::new(
        ValidationCode(code.to_vec()),
        ExecutorParams::default(),
        PvfPrepKind::Prepare,
    )
}

fn adder_params(state: u64) -> (ValidationParams, adder_chain::HeadData) {
    let parent = adder_chain::genesis_head();
    let block = adder_chain::BlockData { state, add: 1 };
    let params = ValidationParams {
        parent_head: HeadData(parent.encode()),
        block_data: BlockData(block.encode()),
        relay_parent_number: 1,
        relay_parent_storage_root: Hash::default(),
    };
    let expected = if adder_chain::state_matches(&parent, state) {
        adder_chain::next_head(&parent, &block)
    } else {
        parent
    };
    (params, expected)
}

/// Runs the undying PVF for `iterations` keccak rounds.
async fn run_undying(
    host: &ValidationHost,
    iterations: u32,
    timeout: Duration,
    kind: PvfExecKind,
    relay_parent: Option<Hash>,
) -> Result<pvf_messages::ValidationResult, ValidationError> {
    let undying = pvf(pvf_test_pvfs::undying());
    host.execute_pvf(
        undying,
        undying_params(iterations, 1),
        timeout,
        kind,
        relay_parent,
    )
    .await
}

async fn run_adder(host: &ValidationHost, kind: PvfExecKind) -> Result<(), ValidationError> {
    let (params, expected) = adder_params(0);
    let result = host
        .execute_pvf(
            pvf(pvf_test_pvfs::adder()),
            params,
            Duration::from_secs(2),
            kind,
            None,
        )
        .await?;
    assert_eq!(result.head_data.0, expected.encode());
    Ok(())
}

fn artifacts_in(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache.join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// Live worker processes of the host whose cache is `cache` (their worker folders are in it;
/// tests run in parallel, so other tests' workers must not count).
fn worker_children(cache: &Path) -> Vec<u32> {
    let cache = cache.display().to_string();
    let me = std::process::id();
    let mut pids = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{me}/task")).unwrap() {
        let children =
            std::fs::read_to_string(task.unwrap().path().join("children")).unwrap_or_default();
        for pid in children
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let cmdline =
                std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if comm.starts_with("pvf-") && !state.contains(") Z ") && cmdline.contains(&cache) {
                pids.push(pid);
            }
        }
    }
    pids
}

fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn execute_workers(cache: &Path) -> Vec<u32> {
    worker_children(cache)
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .contains("execute")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_execution_hits_the_cache_and_concurrent_ones_share_a_preparation() {
    let cache = tempfile::tempdir().unwrap();
    let metrics = pvf_metrics::Metrics::new();
    let (host, running) = start(Config {
        metrics: metrics.clone(),
        ..config(cache.path())
    });
    let runs = (0..6).map(|_| run_adder(&host, PvfExecKind::Backing));
    for r in futures::future::join_all(runs).await {
        r.unwrap();
    }
    run_adder(&host, PvfExecKind::Approval).await.unwrap();
    let stats = host.stats();
    assert_eq!(stats.preparations, 1, "{stats:?}");
    assert!(stats.cache_hits >= 1, "{stats:?}");
    drop(host);
    running.await.unwrap();
    assert!(
        worker_children(cache.path()).is_empty(),
        "workers left behind"
    );

    use pvf_metrics::{Flavor, VerdictClass};
    assert_eq!(metrics.preparations_started(), 1);
    assert_eq!(metrics.verdicts(VerdictClass::Valid), 7);
    assert_eq!(metrics.cache_hits(), stats.cache_hits);
    assert_eq!(metrics.execute_finished(), 7);
    let spawned = metrics.workers_spawned(Flavor::Execute);
    assert!((1..=2).contains(&spawned), "{spawned}");
    assert_eq!(
        metrics.workers_retired(Flavor::Execute),
        spawned,
        "all retired at shutdown"
    );
    let text = metrics.render();
    for name in [
        "polkadot_pvf_execution_time",
        "polkadot_pvf_preparation_time",
        "pvf_host_queue_depth",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}

#[tokio::test]
async fn precheck_and_remembered_deterministic_failures() {
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(config(cache.path()));
    let precheck = |code: &[u8]| {
        PvfPrepData::new(
            ValidationCode(code.to_vec()),
            ExecutorParams::default(),
            PvfPrepKind::Precheck,
        )
    };
    host.precheck_pvf(precheck(pvf_test_pvfs::adder()))
        .await
        .unwrap();
    let bad = pvf_test_pvfs::hostile::malformed();
    let err = host.precheck_pvf(precheck(&bad)).await.unwrap_err();
    assert!(err.is_deterministic(), "{err:?}");
    let (params, _) = adder_params(0);
    let exec = host
        .execute_pvf(
            pvf(&bad),
            params,
            Duration::from_secs(2),
            PvfExecKind::Backing,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            exec,
            ValidationError::Preparation(PrepareError::Prevalidation(_))
        ),
        "{exec:?}"
    );
    assert_eq!(
        host.stats().preparations,
        2,
        "the failure is remembered, not repeated"
    );
    drop(host);
    running.await.unwrap();
}

#[tokio::test]
async fn heads_up_prepares_ahead() {
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(config(cache.path()));
    host.heads_up(vec![pvf(pvf_test_pvfs::adder())]).await;
    for _ in 0..500 {
        if !artifacts_in(cache.path()).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(artifacts_in(cache.path()).len(), 1);
    run_adder(&host, PvfExecKind::Backing).await.unwrap();
    assert_eq!(host.stats().cache_hits, 1);
    assert_eq!(host.stats().preparations, 1);
    drop(host);
    running.await.unwrap();
}

#[tokio::test]
async fn restart_reuses_artifacts_and_replaces_corrupted_or_foreign_ones() {
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(config(cache.path()));
    run_adder(&host, PvfExecKind::Backing).await.unwrap();
    drop(host);
    running.await.unwrap();

    let (host, running) = start(config(cache.path()));
    let stats = host.stats();
    assert_eq!(stats.artifacts_reused_at_startup, 1, "{stats:?}");
    run_adder(&host, PvfExecKind::Backing).await.unwrap();
    assert_eq!(
        host.stats().preparations,
        0,
        "a restart must not prepare again"
    );
    drop(host);
    running.await.unwrap();

    let artifact = artifacts_in(cache.path()).pop().unwrap();
    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&artifact, bytes).unwrap();
    let (host, running) = start(config(cache.path()));
    assert_eq!(host.stats().artifacts_dropped_at_startup, 1);
    run_adder(&host, PvfExecKind::Backing).await.unwrap();
    assert_eq!(host.stats().preparations, 1);
    drop(host);
    running.await.unwrap();

    let artifact = artifacts_in(cache.path()).pop().unwrap();
    let name = artifact.file_name().unwrap().to_string_lossy().into_owned();
    let mut parts: Vec<&str> = name.split('_').collect();
    parts[2] = "00000000deadbeef";
    std::fs::rename(&artifact, artifact.with_file_name(parts.join("_"))).unwrap();
    let (host, running) = start(config(cache.path()));
    assert_eq!(host.stats().artifacts_dropped_at_startup, 1);
    run_adder(&host, PvfExecKind::Backing).await.unwrap();
    assert_eq!(host.stats().preparations, 1);
    drop(host);
    running.await.unwrap();
    assert_eq!(artifacts_in(cache.path()).len(), 1);
}

#[tokio::test]
async fn a_corrupted_artifact_is_prepared_again_and_retried_for_approval_only() {
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(config(cache.path()));
    run_adder(&host, PvfExecKind::Backing).await.unwrap();
    let artifact = artifacts_in(cache.path()).pop().unwrap();

    std::fs::write(&artifact, b"not an artifact").unwrap();
    let err = run_adder(&host, PvfExecKind::Backing).await.unwrap_err();
    // The job checks the artifact's checksum before it maps it: a proven local fault.
    assert!(
        matches!(
            err,
            ValidationError::Internal(InternalValidationError::CorruptedArtifact(_))
        ),
        "backing never retries: {err:?}"
    );
    // The sweeper deletes it off the host's executor, soon after the answer.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while artifact.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!artifact.exists(), "the unusable artifact is deleted");
    run_adder(&host, PvfExecKind::Backing).await.unwrap();
    assert_eq!(host.stats().preparations, 2);

    let artifact = artifacts_in(cache.path()).pop().unwrap();
    std::fs::write(&artifact, b"not an artifact either").unwrap();
    run_adder(&host, PvfExecKind::Approval).await.unwrap();
    let stats = host.stats();
    assert_eq!((stats.preparations, stats.retries), (3, 1), "{stats:?}");
    drop(host);
    running.await.unwrap();
}

/// Kills the execute worker as soon as its job is running.
async fn kill_execute_worker_mid_job(cache: &Path) {
    for _ in 0..1000 {
        for pid in execute_workers(cache) {
            if !children_of(pid).is_empty() {
                // SAFETY: sending a signal has no memory-safety preconditions.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no execute job started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_death_is_retried_once_for_approval_never_for_backing() {
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = config(cache.path());
    cfg.execute_workers = 1;
    let (host, running) = start(cfg);
    let undying = pvf(pvf_test_pvfs::undying());
    host.precheck_pvf(PvfPrepData {
        prep_kind: PvfPrepKind::Precheck,
        ..undying.clone()
    })
    .await
    .unwrap();

    let (backing, ()) = tokio::join!(
        run_undying(
            &host,
            300_000,
            Duration::from_secs(12),
            PvfExecKind::Backing,
            None
        ),
        kill_execute_worker_mid_job(cache.path())
    );
    assert_eq!(
        backing.unwrap_err(),
        ValidationError::PossiblyInvalid(PossiblyInvalidError::AmbiguousWorkerDeath)
    );
    assert_eq!(host.stats().retries, 0);

    let (approval, ()) = tokio::join!(
        run_undying(
            &host,
            300_000,
            Duration::from_secs(12),
            PvfExecKind::Approval,
            None
        ),
        kill_execute_worker_mid_job(cache.path())
    );
    approval.expect("the retry on a fresh worker succeeds");
    assert_eq!(host.stats().retries, 1);
    drop(host);
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_is_not_delayed_by_a_flood_of_backing() {
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = config(cache.path());
    cfg.execute_workers = 1;
    let (host, running) = start(cfg);
    run_undying(&host, 1, Duration::from_secs(2), PvfExecKind::Backing, None)
        .await
        .unwrap();

    let done = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (host, done) = (host.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let r = run_undying(
                &host,
                150_000,
                Duration::from_secs(12),
                PvfExecKind::Backing,
                None,
            )
            .await;
            done.lock().unwrap().push(format!("backing {i}"));
            r
        }));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let dispute = run_undying(
        &host,
        20_000,
        Duration::from_secs(12),
        PvfExecKind::Dispute,
        None,
    )
    .await;
    done.lock().unwrap().push("dispute".into());
    dispute.unwrap();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let order = done.lock().unwrap().clone();
    let position = order.iter().position(|x| x == "dispute").unwrap();
    assert!(
        position <= 2,
        "the dispute finished after {position} backing jobs: {order:?}"
    );
    drop(host);
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backing_jobs_within_the_allowed_ancestry_run_and_beyond_it_are_dropped() {
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = config(cache.path());
    cfg.execute_workers = 1;
    let (host, running) = start(cfg);
    run_undying(&host, 1, Duration::from_secs(2), PvfExecKind::Backing, None)
        .await
        .unwrap();
    // One worker, kept busy, so that the backing jobs below wait in the queue.
    let busy = {
        let host = host.clone();
        tokio::spawn(async move {
            run_undying(
                &host,
                300_000,
                Duration::from_secs(12),
                PvfExecKind::Approval,
                None,
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Relay chain: old <- ancestor <- leaf <- new leaf; the new leaf's allowed ancestry
    // reaches back to `ancestor` only.
    let (old, ancestor, leaf, new) = (Hash([1; 32]), Hash([2; 32]), Hash([3; 32]), Hash([4; 32]));
    let backing_on = |relay_parent: Hash| {
        let host = host.clone();
        tokio::spawn(async move {
            run_undying(
                &host,
                1,
                Duration::from_secs(12),
                PvfExecKind::Backing,
                Some(relay_parent),
            )
            .await
        })
    };
    let (stale, viable) = (backing_on(old), backing_on(ancestor));
    tokio::time::sleep(Duration::from_millis(20)).await;
    host.update_active_leaves([ActiveLeaf {
        hash: new,
        ancestors: vec![leaf, ancestor],
    }])
    .await;
    assert_eq!(
        stale.await.unwrap().unwrap_err(),
        ValidationError::ExecutionDeadline,
        "beyond the allowed ancestry: dropped"
    );
    busy.await.unwrap().unwrap();
    viable
        .await
        .unwrap()
        .expect("within the allowed ancestry: executed");
    drop(host);
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_jobs_in_flight_answers_everyone_and_leaves_no_process() {
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(config(cache.path()));
    let mut tasks = Vec::new();
    for i in 0..10u32 {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            run_undying(
                &host,
                50_000 + i,
                Duration::from_secs(12),
                PvfExecKind::Approval,
                None,
            )
            .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(host);
    let start = Instant::now();
    let mut answered = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => answered.0 += 1,
            Err(ValidationError::Internal(_)) => answered.1 += 1,
            Err(other) => panic!("a shutdown must not produce {other:?}"),
        }
    }
    assert_eq!(answered.0 + answered.1, 10);
    running.await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(
        worker_children(cache.path()).is_empty(),
        "workers left behind: {:?}",
        worker_children(cache.path())
    );
    assert_eq!(
        std::fs::read_dir(cache.path().join("workers"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn stale_artifacts_are_pruned_when_the_cache_is_too_big() {
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = config(cache.path());
    cfg.cache_max_bytes = 0;
    cfg.cache_min_unused = Duration::ZERO;
    cfg.prune_interval = Duration::from_millis(50);
    let (host, running) = start(cfg);
    run_adder(&host, PvfExecKind::Backing).await.unwrap();
    for _ in 0..200 {
        if artifacts_in(cache.path()).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        artifacts_in(cache.path()).is_empty(),
        "the artifact was not pruned"
    );
    run_adder(&host, PvfExecKind::Backing).await.unwrap();
    assert_eq!(host.stats().preparations, 2);
    drop(host);
    running.await.unwrap();
}

#[tokio::test]
async fn halting_pvf_times_out_through_the_host() {
    let cache = tempfile::tempdir().unwrap();
    let metrics = pvf_metrics::Metrics::new();
    let (host, running) = start(Config {
        metrics: metrics.clone(),
        ..config(cache.path())
    });
    let r = host
        .execute_pvf(
            pvf(pvf_test_pvfs::halt()),
            adder_params(0).0,
            Duration::from_millis(300),
            PvfExecKind::Approval,
            None,
        )
        .await;
    assert_eq!(
        r.unwrap_err(),
        ValidationError::Invalid(InvalidCandidate::HardTimeout)
    );
    assert_eq!(
        host.stats().retries,
        0,
        "a timeout is a verdict, not retried"
    );
    // The timed-out job is in `polkadot_pvf_execution_time` (wall clock, as the reference
    // times every job), above the bucket its 300 ms budget exceeds.
    let bucket = |le: &str| {
        metrics
            .sample_value("polkadot_pvf_execution_time_bucket", &[("le", le)])
            .unwrap()
    };
    assert_eq!(
        metrics.sample_value("polkadot_pvf_execution_time_count", &[]),
        Some(1.0)
    );
    assert_eq!(
        bucket("0.25"),
        0.0,
        "a job that used its 300 ms is not below 250 ms"
    );
    assert_eq!(bucket("+Inf"), 1.0);
    assert_eq!(metrics.verdicts(pvf_metrics::VerdictClass::Invalid), 1);
    drop(host);
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_killed_from_outside_is_replaced_before_its_next_job() {
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = config(cache.path());
    cfg.execute_workers = 1;
    let (host, running) = start(cfg);
    run_adder(&host, PvfExecKind::Backing).await.unwrap();
    let idle = execute_workers(cache.path());
    assert_eq!(idle.len(), 1, "{idle:?}");
    // SAFETY: sending a signal has no memory-safety preconditions.
    unsafe { libc::kill(idle[0] as i32, libc::SIGKILL) };
    tokio::time::sleep(Duration::from_millis(50)).await;
    run_adder(&host, PvfExecKind::Backing)
        .await
        .expect("a backing job must not pay for a worker that died while idle");
    assert_eq!(host.stats().retries, 0);
    drop(host);
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_death_is_retried_for_disputes() {
    let cache = tempfile::tempdir().unwrap();
    let mut cfg = config(cache.path());
    cfg.execute_workers = 1;
    let (host, running) = start(cfg);
    let undying = pvf(pvf_test_pvfs::undying());
    host.precheck_pvf(PvfPrepData {
        prep_kind: PvfPrepKind::Precheck,
        ..undying.clone()
    })
    .await
    .unwrap();
    let kill_job = async {
        for _ in 0..1000 {
            for pid in execute_workers(cache.path()) {
                if let Some(&job) = children_of(pid).first() {
                    // SAFETY: sending a signal has no memory-safety preconditions.
                    unsafe { libc::kill(job as i32, libc::SIGKILL) };
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("no execute job started");
    };
    let (dispute, ()) = tokio::join!(
        run_undying(
            &host,
            300_000,
            Duration::from_secs(12),
            PvfExecKind::Dispute,
            None
        ),
        kill_job
    );
    dispute.expect("the retry succeeds");
    assert_eq!(host.stats().retries, 1);
    drop(host);
    running.await.unwrap();
}

#[tokio::test]
async fn a_vanished_artifact_is_a_local_fault_and_is_prepared_again() {
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(config(cache.path()));
    run_adder(&host, PvfExecKind::Backing).await.unwrap();
    std::fs::remove_file(artifacts_in(cache.path()).pop().unwrap()).unwrap();
    // Caught before mapping, and no PVF can cause it: no vote, even for backing; the artifact
    // is forgotten, so the next request prepares it again.
    let err = run_adder(&host, PvfExecKind::Backing).await.unwrap_err();
    assert!(
        matches!(
            err,
            ValidationError::Internal(InternalValidationError::CorruptedArtifact(_))
        ),
        "{err:?}"
    );
    assert!(
        verdict_policy::verdict_from_host_error(err).is_err(),
        "no vote"
    );
    run_adder(&host, PvfExecKind::Backing).await.unwrap();
    std::fs::remove_file(artifacts_in(cache.path()).pop().unwrap()).unwrap();
    // Approval and dispute prepare it again and retry at once.
    run_adder(&host, PvfExecKind::Dispute).await.unwrap();
    let stats = host.stats();
    assert_eq!((stats.preparations, stats.retries), (3, 1), "{stats:?}");
    drop(host);
    running.await.unwrap();
}

/// A PVF whose runtime cannot be built (its start function calls an unknown import) fails
/// the same way everywhere. Backing answers at once and keeps the artifact: before, every
/// backing deleted and recompiled it, a cheap amplifier against every validator. Approval and
/// dispute prepare it again once, as the reference does, and then vote invalid.
#[tokio::test]
async fn a_runtime_construction_failure_is_invalid_and_only_approval_prepares_again() {
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(config(cache.path()));
    let code = pvf_test_pvfs::hostile::start_calls_unknown_import();
    let run = |kind: PvfExecKind| {
        let (params, _) = adder_params(0);
        host.execute_pvf(pvf(&code), params, Duration::from_secs(2), kind, None)
    };
    let is_construction = |e: &ValidationError| {
        matches!(
            e,
            ValidationError::PossiblyInvalid(PossiblyInvalidError::RuntimeConstruction(_))
        )
    };
    for _ in 0..3 {
        let err = run(PvfExecKind::Backing).await.unwrap_err();
        assert!(is_construction(&err), "{err:?}");
        assert!(
            matches!(
                verdict_policy::verdict_from_host_error(err),
                Ok(CandidateVerdict::Invalid(_))
            ),
            "backing votes invalid at once"
        );
    }
    let stats = host.stats();
    assert_eq!(
        (stats.preparations, stats.retries),
        (1, 0),
        "backing never prepares again: {stats:?}"
    );
    assert_eq!(artifacts_in(cache.path()).len(), 1, "the artifact is kept");
    for (n, kind) in [PvfExecKind::Approval, PvfExecKind::Dispute]
        .into_iter()
        .enumerate()
    {
        let err = run(kind).await.unwrap_err();
        assert!(is_construction(&err), "{err:?}");
        assert!(matches!(
            verdict_policy::verdict_from_host_error(err),
            Ok(CandidateVerdict::Invalid(_))
        ));
        let stats = host.stats();
        let n = n as u64 + 1;
        assert_eq!(
            (stats.preparations, stats.retries),
            (1 + n, n),
            "{kind:?} prepares again once: {stats:?}"
        );
    }
    drop(host);
    running.await.unwrap();
}

/// A pre-check is answered by a pre-check job under its own limits, never from an artifact
/// prepared leniently; and a failure that only the pre-check's limits cause does not keep the
/// code from being prepared leniently and executed.
#[tokio::test]
async fn a_precheck_is_independent_of_lenient_artifacts() {
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(config(cache.path()));
    // A pre-check budget of 1 ms of CPU: no compilation fits. Timeouts are not part of the
    // preparation hash, so these parameters name the same artifact as the defaults.
    let strict = ExecutorParams(vec![pvf_messages::ExecutorParam::PvfPrepTimeout(
        PvfPrepKind::Precheck,
        1,
    )]);
    let with = |code: &[u8], params: &ExecutorParams, kind| {
        PvfPrepData::new(ValidationCode(code.to_vec()), params.clone(), kind)
    };
    let (params, expected) = adder_params(0);
    let execute = |code: Vec<u8>, executor_params: ExecutorParams| {
        let host = host.clone();
        let params = params.clone();
        async move {
            host.execute_pvf(
                with(&code, &executor_params, PvfPrepKind::Prepare),
                params,
                Duration::from_secs(2),
                PvfExecKind::Approval,
                None,
            )
            .await
        }
    };

    // Prepared leniently first: the strict pre-check still runs, and fails.
    let adder = pvf_test_pvfs::adder().to_vec();
    let result = execute(adder.clone(), ExecutorParams::default())
        .await
        .unwrap();
    assert_eq!(result.head_data.0, expected.encode());
    let err = host
        .precheck_pvf(with(&adder, &strict, PvfPrepKind::Precheck))
        .await
        .unwrap_err();
    assert!(!err.is_deterministic(), "{err:?}");
    assert_eq!(
        host.stats().preparations,
        2,
        "the pre-check ran a job of its own"
    );
    // The lenient artifact still serves executions.
    execute(adder.clone(), ExecutorParams::default())
        .await
        .unwrap();
    assert_eq!(host.stats().preparations, 2);

    // Failed a pre-check first: execution prepares leniently and succeeds.
    let other = pvf_test_pvfs::with_custom_section(&adder, "precheck-test", b"1");
    host.precheck_pvf(with(&other, &strict, PvfPrepKind::Precheck))
        .await
        .unwrap_err();
    let result = execute(other.clone(), strict.clone()).await.unwrap();
    assert_eq!(result.head_data.0, expected.encode());
    // A pre-check under the default limits passes, and is then answered from its artifact.
    let before = host.stats().preparations;
    host.precheck_pvf(with(
        &other,
        &ExecutorParams::default(),
        PvfPrepKind::Precheck,
    ))
    .await
    .unwrap();
    host.precheck_pvf(with(
        &other,
        &ExecutorParams::default(),
        PvfPrepKind::Precheck,
    ))
    .await
    .unwrap();
    assert_eq!(host.stats().preparations, before + 1);
    drop(host);
    running.await.unwrap();
}
