//! Workers and job processes that die or are killed mid-job, version mismatches and workers
//! that never come up. None of these may become an `invalid` verdict.

use pvf_messages::{
    ExecutorParams, Hash, HeadData, InternalValidationError, PossiblyInvalidError, PrepareError,
    PvfPrepKind, ValidationCode, ValidationError, ValidationParams, VerdictClass,
    protocol::WorkerKind,
};
use pvf_subsystem::host::{HostConfig, execute_on};
use std::{path::PathBuf, time::Duration};

fn empty_params() -> ValidationParams {
    ValidationParams {
        parent_head: HeadData(Vec::new()),
        block_data: pvf_messages::BlockData(Vec::new()),
        relay_parent_number: 0,
        relay_parent_storage_root: Hash::default(),
    }
}

fn kill(pid: u32) {
    // SAFETY: sending a signal has no memory-safety preconditions.
    assert_eq!(
        unsafe { libc::kill(pid as i32, libc::SIGKILL) },
        0,
        "kill {pid}"
    );
}

/// The child processes of `pid` (its job processes).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect()
}

/// Polls until `pid` has a child, i.e. its job has started.
async fn job_of(pid: u32) -> u32 {
    for _ in 0..500 {
        if let Some(&job) = children(pid).first() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("worker {pid} never started a job");
}

fn halt_artifact(host: &pvf_subsystem::host::Host) -> PathBuf {
    pvf_tests::runtime()
        .block_on(host.prepare(
            &ValidationCode(pvf_test_pvfs::halt().to_vec()),
            &ExecutorParams::default(),
            PvfPrepKind::Prepare,
        ))
        .unwrap()
        .path
}

#[test]
fn execute_worker_killed_mid_job_is_possibly_invalid() {
    let cache = tempfile::tempdir().unwrap();
    let host = pvf_tests::host(cache.path());
    let artifact = halt_artifact(&host);
    let rt = pvf_tests::runtime();
    rt.block_on(async {
        let mut worker = host.spawn(WorkerKind::Execute).await.unwrap();
        let pid = worker.pid().unwrap();
        let params = ExecutorParams::default();
        let vp = empty_params();
        let (r, job) = tokio::join!(
            execute_on(
                &mut worker,
                &artifact,
                &vp,
                &params,
                Duration::from_secs(10)
            ),
            async {
                let job = job_of(pid).await;
                kill(pid);
                job
            }
        );
        assert_eq!(
            r.unwrap_err(),
            ValidationError::PossiblyInvalid(PossiblyInvalidError::AmbiguousWorkerDeath)
        );
        // The orphaned job dies with its worker (parent-death signal), leaving nothing behind.
        for _ in 0..200 {
            let state = std::fs::read_to_string(format!("/proc/{job}/stat")).unwrap_or_default();
            if state.is_empty() || state.contains(") Z ") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job {job} outlived its worker");
    });
}

#[test]
fn job_killed_mid_job_is_possibly_invalid_and_the_worker_survives() {
    let cache = tempfile::tempdir().unwrap();
    let host = pvf_tests::host(cache.path());
    let artifact = halt_artifact(&host);
    let adder = pvf_tests::runtime()
        .block_on(host.prepare(
            &ValidationCode(pvf_test_pvfs::adder().to_vec()),
            &ExecutorParams::default(),
            PvfPrepKind::Prepare,
        ))
        .unwrap()
        .path;
    let rt = pvf_tests::runtime();
    rt.block_on(async {
        let mut worker = host.spawn(WorkerKind::Execute).await.unwrap();
        let pid = worker.pid().unwrap();
        let params = ExecutorParams::default();
        let vp = empty_params();
        let (r, ()) = tokio::join!(
            execute_on(
                &mut worker,
                &artifact,
                &vp,
                &params,
                Duration::from_secs(10)
            ),
            async { kill(job_of(pid).await) }
        );
        match r {
            Err(ValidationError::PossiblyInvalid(PossiblyInvalidError::AmbiguousJobDeath(how))) => {
                assert!(how.contains("SIGKILL"), "{how}")
            }
            other => panic!("{other:?}"),
        }
        // The same worker serves the next candidate.
        let next = execute_on(
            &mut worker,
            &adder,
            &empty_params(),
            &params,
            Duration::from_secs(2),
        )
        .await;
        let err = next.expect_err("the adder rejects an empty block");
        assert_eq!(err.class(), VerdictClass::Invalid, "{err:?}");
        assert_eq!(worker.pid(), Some(pid));
    });
}

#[test]
fn prepare_worker_killed_mid_compilation_is_not_a_verdict() {
    let cache = tempfile::tempdir().unwrap();
    let host = pvf_tests::host(cache.path());
    let code = ValidationCode(pvf_test_pvfs::hostile::compile_heavy(600));
    let rt = pvf_tests::runtime();
    rt.block_on(async {
        let mut worker = host.spawn(WorkerKind::Prepare).await.unwrap();
        let pid = worker.pid().unwrap();
        let req = pvf_messages::protocol::PrepareRequest {
            code: code.0.clone(),
            code_bomb_limit: pvf_messages::primitives::DEFAULT_VALIDATION_CODE_BOMB_LIMIT,
            executor_params: ExecutorParams::default(),
            kind: PvfPrepKind::Prepare,
            cpu_timeout_ms: 60_000,
        };
        let (r, ()) = tokio::join!(
            worker.request::<_, pvf_messages::protocol::PrepareResponse>(
                &req,
                Duration::from_secs(240)
            ),
            async {
                job_of(pid).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                kill(pid);
            }
        );
        let err = pvf_subsystem::host::classify::prepare_outcome(r).unwrap_err();
        assert!(matches!(err, PrepareError::WorkerFailed(_)), "{err:?}");
        assert!(!err.is_deterministic());
        assert_ne!(
            ValidationError::Preparation(err).class(),
            VerdictClass::Invalid
        );
    });
}

#[test]
fn a_worker_of_another_version_is_refused_with_a_restart_hint() {
    let cache = tempfile::tempdir().unwrap();
    let host = pvf_tests::host_with(HostConfig {
        workers_path: Some(pvf_tests::workers_dir()),
        cache_path: Some(cache.path().to_path_buf()),
        node_version_override: Some("0.0.0-other".into()),
        ..HostConfig::default()
    });
    let r = pvf_tests::runtime().block_on(host.validate(
        &ValidationCode(pvf_test_pvfs::adder().to_vec()),
        &empty_params(),
        &ExecutorParams::default(),
        Duration::from_secs(2),
    ));
    match r {
        Err(e @ ValidationError::Internal(InternalValidationError::VersionMismatch { .. })) => {
            assert_eq!(e.class(), VerdictClass::Error);
            assert!(e.to_string().contains("restart"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_version_check_can_be_disabled_for_development() {
    let cache = tempfile::tempdir().unwrap();
    let host = pvf_tests::host_with(HostConfig {
        workers_path: Some(pvf_tests::workers_dir()),
        cache_path: Some(cache.path().to_path_buf()),
        node_version_override: Some("0.0.0-other".into()),
        skip_version_check: true,
        ..HostConfig::default()
    });
    let v = pvf_tests::runtime()
        .block_on(host.validate(
            &ValidationCode(pvf_test_pvfs::hostile::unknown_import_uncalled()),
            &empty_params(),
            &ExecutorParams::default(),
            Duration::from_secs(2),
        ))
        .expect("a mismatched worker is accepted when the check is off");
    assert_eq!(
        v.result.head_data.0,
        pvf_test_pvfs::hostile::UNKNOWN_IMPORT_UNCALLED_HEAD
    );
}

#[test]
fn a_binary_that_is_not_a_worker_fails_to_spawn_cleanly() {
    let cache = tempfile::tempdir().unwrap();
    for not_a_worker in ["/bin/true", "/bin/false"] {
        let config = |insecure_validator| HostConfig {
            workers_path: Some(not_a_worker.into()),
            cache_path: Some(cache.path().to_path_buf()),
            insecure_validator,
            ..HostConfig::default()
        };
        // Secure mode: the sandbox probe gets no report, so the host refuses to start.
        match pvf_subsystem::host::Host::new(&config(false)) {
            Err(ValidationError::Internal(InternalValidationError::Sandbox(msg))) => {
                assert!(msg.contains("secure validator mode cannot start"), "{msg}");
                assert!(msg.contains("landlock is unavailable"), "{msg}");
            }
            other => panic!("{not_a_worker}: {other:?}"),
        }
        // Insecure mode starts, and the spawn fails cleanly.
        let host = pvf_tests::host_with(config(true));
        let r = pvf_tests::runtime().block_on(host.prepare(
            &ValidationCode(pvf_test_pvfs::adder().to_vec()),
            &ExecutorParams::default(),
            PvfPrepKind::Prepare,
        ));
        match r {
            Err(ValidationError::Internal(InternalValidationError::WorkerSpawn(msg))) => {
                assert!(msg.contains("exited before connecting"), "{msg}")
            }
            other => panic!("{not_a_worker}: {other:?}"),
        }
    }
}

#[test]
fn one_binary_can_serve_both_roles() {
    let cache = tempfile::tempdir().unwrap();
    let host = pvf_tests::host_with(HostConfig {
        workers_path: Some(pvf_tests::binary("pvf-execute-worker")),
        cache_path: Some(cache.path().to_path_buf()),
        ..HostConfig::default()
    });
    let code = ValidationCode(pvf_test_pvfs::hostile::unknown_import_uncalled());
    let v = pvf_tests::runtime()
        .block_on(host.validate(
            &code,
            &empty_params(),
            &ExecutorParams::default(),
            Duration::from_secs(2),
        ))
        .unwrap();
    assert_eq!(
        v.result.head_data.0,
        pvf_test_pvfs::hostile::UNKNOWN_IMPORT_UNCALLED_HEAD
    );
}

/// Stops worker `pid` 100 ms into its job for 2.5 s, then resumes it: the job (about 1.5 s of
/// CPU) outlives its 1 s budget, within the 4 s wall-clock limit.
async fn stop_mid_job(pid: u32) {
    job_of(pid).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    signal(pid, libc::SIGSTOP);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    signal(pid, libc::SIGCONT);
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal has no memory-safety preconditions.
    assert_eq!(
        unsafe { libc::kill(pid as i32, sig) },
        0,
        "signal {sig} to {pid}"
    );
}

/// The worker is stopped 100 ms into a job that needs about 1.5 s of CPU time under a budget
/// of 1 s, and resumed once the job has finished on its own (it is another process, and runs
/// on). The job's report then says "valid", but the job used more than its budget: the
/// worker answers a timeout (its own check of the job's CPU time), and the host would not
/// believe an `Ok` past the budget anyway. Before both checks the answer was valid, with
/// `cpu_time_ms` 1449.
#[test]
fn a_job_that_outruns_its_budget_while_its_worker_is_stopped_is_a_hard_timeout() {
    use pvf_messages::{InvalidCandidate, protocol::ExecuteResponse};
    use pvf_tests::candidates::undying_params;
    let cache = tempfile::tempdir().unwrap();
    let host = pvf_tests::host(cache.path());
    let rt = pvf_tests::runtime();
    let params = ExecutorParams::default();
    let budget = Duration::from_secs(1);
    rt.block_on(async {
        let artifact = host
            .prepare(
                &ValidationCode(pvf_test_pvfs::undying().to_vec()),
                &params,
                PvfPrepKind::Prepare,
            )
            .await
            .unwrap()
            .path;
        // Calibrate: how many keccak rounds make about 1.5 s of CPU time here.
        let probe = 100_000;
        let probed = host
            .execute(&artifact, &undying_params(probe, 1), &params, budget * 10)
            .await
            .unwrap()
            .cpu_time;
        let rounds = (u128::from(probe) * 1500 / probed.as_millis().max(1)) as u32;
        let vp = undying_params(rounds, 1);

        // The raw answer of the worker.
        let mut worker = host.spawn(WorkerKind::Execute).await.unwrap();
        let pid = worker.pid().unwrap();
        let stop_and_resume = stop_mid_job(pid);
        let (answer, ()) = tokio::join!(
            pvf_subsystem::host::exchange::execute(&mut worker, &artifact, &vp, &params, budget),
            stop_and_resume
        );
        match answer {
            Ok(ExecuteResponse::TimedOut { cpu_time_ns }) => {
                assert!(Duration::from_nanos(cpu_time_ns) >= budget, "{cpu_time_ns}")
            }
            other => panic!("a job past its budget must be a timeout: {other:?}"),
        }
        worker.shutdown().await;

        // And the classified outcome, through a fresh worker.
        let mut worker = host.spawn(WorkerKind::Execute).await.unwrap();
        let pid = worker.pid().unwrap();
        let stop_and_resume = stop_mid_job(pid);
        let (outcome, ()) = tokio::join!(
            execute_on(&mut worker, &artifact, &vp, &params, budget),
            stop_and_resume
        );
        assert_eq!(
            outcome.unwrap_err(),
            ValidationError::Invalid(InvalidCandidate::HardTimeout)
        );
        worker.shutdown().await;
    });
}
