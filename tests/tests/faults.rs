//! Fault injection: the long-lived host ([`ValidationHost`]) with real worker processes, real
//! sockets and a real cache, while the machine misbehaves underneath it.
//!
//! Every case checks the same four promises besides its own:
//! - every request gets exactly one answer (counted), and none hangs;
//! - no local fault becomes an `Invalid` verdict: each case lists the answers it accepts;
//! - the host keeps serving: a valid candidate validates Valid after the fault;
//! - nothing is left behind once the host stopped: no process whose command line names the
//!   cache (workers, their jobs, orphans) or whose binary lies in a test's workers folder, no
//!   worker folder, nothing in the cache but artifacts and recorded failures.
//!
//! The cases:
//! 1. SIGKILL and SIGSTOP sent to prepare workers, execute workers and their job processes
//!    at random points of a preparation or an execution. A killed process is a retryable
//!    death (approval and dispute retry and succeed; backing gets possibly-invalid, which
//!    candidate validation votes invalid, as the reference does); a stopped one is ended by
//!    the host's wall-clock limit (4 × the CPU budget), not waited for, and since the job did
//!    not use its CPU budget the stall is the machine's fault, not the PVF's: an internal
//!    error (no vote), never a hard timeout.
//! 2. The artifact deleted, truncated, bit-flipped or replaced by another PVF's artifact
//!    between validations: caught by its checksum before it is mapped, so backing gets an
//!    internal error (no vote) and the artifact is forgotten; approval and dispute re-prepare
//!    and succeed.
//! 3. The cache made read-only (a read-only bind mount: file modes do not stop root) and full
//!    (a tmpfs smaller than the artifact): preparations and spawns fail with errors that are
//!    not deterministic, so no verdict, and succeed once the cache is writable or larger.
//! 4. A worker binary replaced mid-run by one of another version: a version-mismatch error
//!    naming the fix (restart), never a verdict, and the host stops with that message.
//! 5. A worker binary that never connects: the spawn timeout answers the request.
//! 6. 1 000 concurrent requests over 20 PVFs, random kinds (backing, approval, dispute,
//!    pre-check) and random cancellations (a dropped future, an aborted task).
//!
//! 7. A job stopped (SIGSTOP) when it has used most of its CPU budget: a stall, no vote, never
//!    a hard timeout.
//!
//! The signal cases count the signals that reached a live worker or job (not a zombie, not a
//! process that was already gone): a signal test goes on until each of its four cases landed
//! at least once and enough landed in all, and fails if that takes too many requests, so that
//! a test whose faults all missed cannot pass; the 1 000 requests run under SIGKILLs to execute workers and jobs.
//! Random choices are drawn from a fresh seed per run, printed by each test
//! (`PVF_FAULT_SEED=…` replays it).

use parity_scale_codec::Encode;
use pvf_messages::{
    BlockData, ExecutorParam, ExecutorParams, Hash, HeadData, InternalValidationError,
    PossiblyInvalidError, PrepareError, PvfExecKind, PvfPrepKind, ValidationCode, ValidationError,
    ValidationParams, ValidationResult, host::PvfPrepData,
};
use pvf_subsystem::host::{self, Config, HostExit, ValidationHost, artifacts::RetryPolicy};
use pvf_test_pvfs::adder_chain;
use pvf_tests::candidates::{undying_head, undying_params};
use pvf_tests::faults::{self, Mount, Rng, WorkerCopies};
use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// CPU budgets of the executions in these tests: short, so that a stopped worker is caught
/// by the wall-clock limit within seconds.
const BACKING_TIMEOUT: Duration = Duration::from_millis(1000);
const APPROVAL_TIMEOUT: Duration = Duration::from_millis(1500);
/// CPU budget of preparations (both kinds), set through the executor parameters.
const PREP_TIMEOUT_MS: u64 = 1000;
/// Slack on top of a wall-clock limit before a request counts as hung.
const SLACK: Duration = Duration::from_secs(3);

const KINDS: [PvfExecKind; 3] = [
    PvfExecKind::Backing,
    PvfExecKind::Approval,
    PvfExecKind::Dispute,
];

fn exec_timeout(kind: PvfExecKind) -> Duration {
    match kind {
        PvfExecKind::Backing => BACKING_TIMEOUT,
        _ => APPROVAL_TIMEOUT,
    }
}

/// The host's wall-clock limit for an execution of `kind`.
fn wall(kind: PvfExecKind) -> Duration {
    exec_timeout(kind) * host::WALL_CLOCK_FACTOR
}

fn executor_params() -> ExecutorParams {
    ExecutorParams(vec![
        ExecutorParam::PvfPrepTimeout(PvfPrepKind::Prepare, PREP_TIMEOUT_MS),
        ExecutorParam::PvfPrepTimeout(PvfPrepKind::Precheck, PREP_TIMEOUT_MS),
    ])
}

fn pvf(code: &[u8], kind: PvfPrepKind) -> PvfPrepData {
    PvfPrepData::new(ValidationCode(code.to_vec()), executor_params(), kind)
}

/// A host configuration for fault tests: a short retry delay, and failed preparations that
/// were not the PVF's fault may be tried again at once (the reference waits 15 minutes).
fn config(cache: &Path, workers: &Path) -> Config {
    Config {
        workers_path: Some(workers.to_path_buf()),
        cache_path: Some(cache.to_path_buf()),
        retry_delay: Duration::from_millis(200),
        prepare_retry: RetryPolicy {
            cooldown: Duration::ZERO,
            max_failures: u32::MAX,
        },
        ..Config::default()
    }
}

fn start(
    cfg: Config,
) -> (
    ValidationHost,
    tokio::task::JoinHandle<Result<(), HostExit>>,
) {
    let (handle, run) = host::start(cfg).expect("host starts");
    (handle, tokio::spawn(run))
}

/// The adder with a custom section numbered `n`: a distinct PVF with the adder's behaviour.
fn adder_variant(n: u32) -> Vec<u8> {
    pvf_test_pvfs::with_custom_section(pvf_test_pvfs::adder(), "pvf-fault-test", &n.to_le_bytes())
}

fn adder_candidate() -> (ValidationParams, Vec<u8>) {
    let parent = adder_chain::genesis_head();
    let block = adder_chain::BlockData { state: 0, add: 1 };
    let params = ValidationParams {
        parent_head: HeadData(parent.encode()),
        block_data: BlockData(block.encode()),
        relay_parent_number: 1,
        relay_parent_storage_root: Hash::default(),
    };
    (params, adder_chain::next_head(&parent, &block).encode())
}

/// Awaits a request's answer; a request left unanswered fails the test instead of hanging it.
async fn answered<T>(request: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), request)
        .await
        .expect("a request was never answered")
}

/// Pre-checks `code` (an answer is awaited as by [`answered`]).
async fn run_precheck(host: &ValidationHost, code: &[u8]) -> Result<(), PrepareError> {
    answered(host.precheck_pvf(pvf(code, PvfPrepKind::Precheck))).await
}

/// Validates the adder candidate with `code` (an adder variant).
async fn run_adder(
    host: &ValidationHost,
    code: &[u8],
    kind: PvfExecKind,
) -> Result<ValidationResult, ValidationError> {
    let (params, expected) = adder_candidate();
    let r = answered(host.execute_pvf(
        pvf(code, PvfPrepKind::Prepare),
        params,
        exec_timeout(kind),
        kind,
        None,
    ))
    .await;
    if let Ok(result) = &r {
        assert_eq!(result.head_data.0, expected, "a wrong head from the adder");
    }
    r
}

/// The host keeps serving, then stops; afterwards no process of it is alive and its cache
/// holds only what it documents.
async fn finish(
    host: ValidationHost,
    running: tokio::task::JoinHandle<Result<(), HostExit>>,
    cache: &Path,
    workers: Option<&WorkerCopies>,
) {
    run_adder(&host, pvf_test_pvfs::adder(), PvfExecKind::Backing)
        .await
        .expect("the host serves a valid candidate after the faults");
    drop(host);
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the host stops within 30 s once its handles are gone")
        .expect("the host task does not panic")
        .expect("the host stops cleanly");
    let mut markers = vec![cache];
    if let Some(w) = workers {
        markers.push(w.path());
    }
    faults::assert_no_processes_left(&markers).await;
    faults::assert_cache_clean(cache);
    if let Some(w) = workers {
        w.assert_clean();
    }
}

fn artifacts_of(cache: &Path, code: &[u8]) -> Vec<PathBuf> {
    let prefix = ValidationCode(code.to_vec()).hash().0.to_hex();
    std::fs::read_dir(cache.join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".pvf")
        })
        .collect()
}

/// Kills the idle workers serving `roles` and waits until they are dead, so that the next
/// job spawns a new one.
async fn kill_idle_workers(cache: &Path, roles: &[&str]) {
    let mut killed = Vec::new();
    for role in roles {
        for w in faults::workers(cache, role) {
            faults::signal(w.pid, libc::SIGKILL);
            killed.push(w.pid);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !killed.iter().all(|&pid| faults::has_ended(pid)) {
        assert!(Instant::now() < deadline, "killed workers do not die");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------
// 1. Signals to workers and jobs
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Target {
    Worker,
    Job,
}

#[derive(Clone, Copy, Debug)]
enum Point {
    /// Right after the request was sent, before or while the worker starts the job.
    Early(Duration),
    /// This long after the job process appeared.
    InJob(Duration),
}

fn signal_name(sig: i32) -> &'static str {
    if sig == libc::SIGKILL {
        "SIGKILL"
    } else {
        "SIGSTOP"
    }
}

/// Waits for a job of `role` to appear (bounded), so that the signal lands in it.
async fn wait_for_job(cache: &Path, role: &str) -> Option<faults::HostProcess> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(job) = faults::jobs(cache, role).pop() {
            return Some(job);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// Resumes whatever of `role` a SIGSTOP that landed after its job left stopped, so that
/// each case starts from running workers.
fn resume(cache: &Path, role: &str) {
    for p in faults::processes_of(cache) {
        if p.serves(role) {
            faults::signal(p.pid, libc::SIGCONT);
        }
    }
}

/// Sends `sig` to the worker serving `role` or to its job at `point`; says what it hit, and
/// whether it hit a live process.
async fn inject(
    cache: &Path,
    role: &str,
    target: Target,
    sig: i32,
    point: Point,
) -> (String, bool) {
    let victim = match point {
        Point::Early(delay) => {
            // The worker may be spawning (its predecessor was killed): wait for it.
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut worker = faults::workers(cache, role).pop();
            while worker.is_none() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
                worker = faults::workers(cache, role).pop();
            }
            tokio::time::sleep(delay).await;
            worker.map(|w| w.pid)
        }
        Point::InJob(delay) => match wait_for_job(cache, role).await {
            None => None,
            Some(job) => {
                tokio::time::sleep(delay).await;
                Some(match target {
                    Target::Worker => job.ppid,
                    Target::Job => job.pid,
                })
            }
        },
    };
    match victim {
        Some(pid) if faults::signal_live(pid, sig) => (
            format!("{} {role} {target:?} {pid}", signal_name(sig)),
            true,
        ),
        Some(pid) => (format!("{role} {target:?} {pid} was gone"), false),
        None => (format!("no {role} {target:?} to signal"), false),
    }
}

/// The (target, signal) cases every signal test covers.
const CASES: [(Target, i32); 4] = [
    (Target::Worker, libc::SIGKILL),
    (Target::Worker, libc::SIGSTOP),
    (Target::Job, libc::SIGKILL),
    (Target::Job, libc::SIGSTOP),
];
/// Least number of signals of a signal test that must reach a live process, each case at
/// least once.
const MIN_HITS: usize = 6;
/// Least number of requests a signal test sends.
const MIN_ATTEMPTS: usize = 8;
/// Most requests a signal test sends before it gives up on reaching [`MIN_HITS`].
const MAX_ATTEMPTS: usize = 24;

/// Which case a signal test tries next: a signal that found its process gone (the job had
/// already answered, the worker was being replaced) proves nothing, so the test goes on
/// until enough signals landed rather than counting on a fixed number of tries.
#[derive(Default)]
struct SignalPlan {
    hits: [usize; CASES.len()],
    attempts: usize,
}

impl SignalPlan {
    fn enough(&self) -> bool {
        self.hits.iter().all(|&h| h > 0) && self.hits.iter().sum::<usize>() >= MIN_HITS
    }

    /// The next case (its index, target and signal), or `None` when the test is done: the
    /// case with the fewest hits so far, ties broken in turn.
    fn next(&self) -> Option<(usize, Target, i32)> {
        if self.attempts >= MAX_ATTEMPTS || (self.attempts >= MIN_ATTEMPTS && self.enough()) {
            return None;
        }
        let case = (0..CASES.len())
            .map(|i| (i + self.attempts) % CASES.len())
            .min_by_key(|&i| self.hits[i])
            .expect("there are cases");
        let (target, sig) = CASES[case];
        Some((case, target, sig))
    }

    fn record(&mut self, case: usize, live: bool) {
        self.attempts += 1;
        self.hits[case] += usize::from(live);
    }

    /// Fails the test if too few signals reached a live process to prove anything.
    fn require_enough(&self) {
        let total: usize = self.hits.iter().sum();
        println!(
            "{total} of {} signals reached a live process (per case: {:?})",
            self.attempts, self.hits
        );
        assert!(
            self.enough(),
            "only {total} of {} signals reached a live process (per case {:?}, each case needs \
             one and {MIN_HITS} in all): the test injected too little",
            self.attempts,
            self.hits
        );
    }
}

fn random_point(rng: &mut Rng, target: Target, job_length: Duration) -> Point {
    if matches!(target, Target::Worker) && rng.chance(25) {
        Point::Early(rng.duration(Duration::from_millis(3)))
    } else {
        // Within the first three quarters of a fault-free job, so that the job is most
        // likely still there when the signal is sent.
        Point::InJob(rng.duration(job_length * 3 / 4))
    }
}

/// Keccak rounds for an execution of about a tenth of a second.
const UNDYING_ITERATIONS: u32 = 150_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_to_execute_workers_and_jobs_are_never_a_verdict() {
    let seed = faults::seed();
    println!("PVF_FAULT_SEED={seed:#x}");
    let mut rng = Rng::new(seed, "execute signals");
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(Config {
        execute_workers: 1,
        ..config(cache.path(), &pvf_tests::workers_dir())
    });
    let undying = pvf_test_pvfs::undying();
    let (params, expected) = (
        undying_params(UNDYING_ITERATIONS, 1),
        undying_head(UNDYING_ITERATIONS),
    );
    let run = |kind: PvfExecKind| {
        host.execute_pvf(
            pvf(undying, PvfPrepKind::Prepare),
            params.clone(),
            exec_timeout(kind),
            kind,
            None,
        )
    };
    run(PvfExecKind::Backing).await.expect("prepares and runs");
    let started = Instant::now();
    run(PvfExecKind::Backing).await.expect("runs");
    let job_length = started.elapsed();
    println!("a fault-free execution takes {job_length:?}");
    assert!(
        job_length < BACKING_TIMEOUT / 3,
        "the test job is too long for its budget on this machine"
    );

    let mut plan = SignalPlan::default();
    // Whether the previous signal was a SIGKILL that reached a worker: a worker killed just
    // after it answered is found dead only by the next request, whose own signal then finds
    // nothing to hit (the death belongs to the previous signal).
    let mut worker_just_killed = false;
    while let Some((case, target, sig)) = plan.next() {
        let attempt = plan.attempts;
        let kind = *rng.pick(&KINDS);
        let point = random_point(&mut rng, target, job_length);
        let started = Instant::now();
        let (outcome, (hit, live)) = tokio::join!(
            run(kind),
            inject(cache.path(), "execute", target, sig, point)
        );
        plan.record(case, live);
        let took = started.elapsed();
        resume(cache.path(), "execute");
        println!("attempt {attempt}: {hit} at {point:?}, {kind:?}: {outcome:?} in {took:?}");
        assert!(
            took < 2 * wall(kind) + SLACK,
            "the request took {took:?}: the wall-clock limit did not end it"
        );
        match &outcome {
            Ok(result) => assert_eq!(result.head_data.0, expected),
            // A death the retry could not cover (backing never retries): possibly
            // invalid, as in the reference.
            Err(ValidationError::PossiblyInvalid(
                PossiblyInvalidError::AmbiguousWorkerDeath
                | PossiblyInvalidError::AmbiguousJobDeath(_),
            )) if sig == libc::SIGKILL || (worker_just_killed && !live) => {}
            // A stall ends after the execution timeout, past which nothing is
            // retried; the job did not use its budget: a local fault, no vote.
            Err(ValidationError::Internal(InternalValidationError::JobStalled(_)))
                if sig == libc::SIGSTOP => {}
            Err(other) => panic!("{hit}: a local fault must not give {other:?}"),
        }
        if sig == libc::SIGKILL && kind != PvfExecKind::Backing {
            assert!(outcome.is_ok(), "{hit}: approval and dispute retry a death");
        }
        worker_just_killed = sig == libc::SIGKILL && live && matches!(target, Target::Worker);
    }
    plan.require_enough();
    finish(host, running, cache.path(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_stopped_near_its_cpu_budget_is_a_stall_never_a_timeout() {
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(Config {
        execute_workers: 1,
        ..config(cache.path(), &pvf_tests::workers_dir())
    });
    // A PVF that never returns: it would use its whole budget; it is stopped at 85 % of it.
    let halt = pvf_test_pvfs::halt();
    let (params, _) = adder_candidate();
    let run = || {
        host.execute_pvf(
            pvf(halt, PvfPrepKind::Prepare),
            params.clone(),
            BACKING_TIMEOUT,
            PvfExecKind::Backing,
            None,
        )
    };
    let unstopped = run().await;
    assert!(
        matches!(unstopped, Err(ValidationError::Invalid(_))),
        "unstopped, the job uses its budget: invalid, not {unstopped:?}"
    );
    let threshold = BACKING_TIMEOUT.mul_f64(0.85);
    for round in 0..2 {
        let stop = async {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                let busiest = faults::jobs(cache.path(), "execute")
                    .into_iter()
                    .filter_map(|j| Some((faults::cpu_time(j.pid)?, j.pid)))
                    .max();
                if let Some((cpu, pid)) = busiest
                    && cpu >= threshold
                {
                    return faults::signal_live(pid, libc::SIGSTOP).then_some(cpu);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            None
        };
        let (outcome, stopped_at) = tokio::join!(run(), stop);
        resume(cache.path(), "execute");
        println!("round {round}: stopped at {stopped_at:?} of CPU: {outcome:?}");
        let stopped_at = stopped_at.expect("the job was stopped at 85 % of its budget");
        assert!(
            stopped_at < BACKING_TIMEOUT,
            "stopped too late: {stopped_at:?}"
        );
        assert!(
            matches!(
                outcome,
                Err(ValidationError::Internal(
                    InternalValidationError::JobStalled(_)
                ))
            ),
            "a job stopped at {stopped_at:?} of its {BACKING_TIMEOUT:?} budget is a stall \
             (no vote), not {outcome:?}"
        );
    }
    let (adder, expected) = adder_candidate();
    let result = host
        .execute_pvf(
            pvf(&adder_variant(0), PvfPrepKind::Prepare),
            adder,
            BACKING_TIMEOUT,
            PvfExecKind::Backing,
            None,
        )
        .await
        .expect("the host keeps serving");
    assert_eq!(result.head_data.0, expected);
    finish(host, running, cache.path(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_to_prepare_workers_and_jobs_are_never_a_verdict() {
    let seed = faults::seed();
    println!("PVF_FAULT_SEED={seed:#x}");
    let mut rng = Rng::new(seed, "prepare signals");
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(Config {
        prepare_workers_soft: 1,
        prepare_workers_hard: 1,
        ..config(cache.path(), &pvf_tests::workers_dir())
    });
    // About 40 ms of compile time per 12 functions; each case gets code of its own.
    let heavy = |n: u32| pvf_test_pvfs::hostile::compile_heavy(36 + n);
    let compile_length = {
        let started = Instant::now();
        run_precheck(&host, &heavy(0)).await.expect("prepares");
        started.elapsed()
    };
    println!("a fault-free preparation takes {compile_length:?}");

    let (params, _) = adder_candidate();
    let mut plan = SignalPlan::default();
    let mut n = 0;
    while let Some((case, target, sig)) = plan.next() {
        let attempt = plan.attempts;
        n += 1;
        let code = heavy(n);
        let precheck = rng.chance(50);
        let kind = *rng.pick(&KINDS);
        let point = random_point(&mut rng, target, compile_length);
        let request = async {
            if precheck {
                run_precheck(&host, &code)
                    .await
                    .map(|()| None)
                    .map_err(ValidationError::Preparation)
            } else {
                host.execute_pvf(
                    pvf(&code, PvfPrepKind::Prepare),
                    params.clone(),
                    exec_timeout(kind),
                    kind,
                    None,
                )
                .await
                .map(Some)
            }
        };
        let started = Instant::now();
        let (outcome, hit) =
            tokio::join!(request, inject(cache.path(), "prepare", target, sig, point));
        let (hit, live) = hit;
        plan.record(case, live);
        let took = started.elapsed();
        resume(cache.path(), "prepare");
        let what = if precheck {
            "precheck".into()
        } else {
            format!("{kind:?}")
        };
        println!("attempt {attempt}: {hit} at {point:?}, {what}: {outcome:?} in {took:?}");
        let prep_wall = Duration::from_millis(PREP_TIMEOUT_MS) * host::WALL_CLOCK_FACTOR;
        assert!(took < prep_wall + SLACK, "the request took {took:?}");
        match &outcome {
            Ok(None) => {}
            Ok(Some(result)) => {
                assert_eq!(
                    result.head_data.0,
                    pvf_test_pvfs::hostile::COMPILE_HEAVY_HEAD
                )
            }
            // A killed worker, a killed job, a stopped one ended by the wall clock:
            // none is deterministic, so none rejects the PVF or the candidate.
            Err(ValidationError::Preparation(
                PrepareError::WorkerFailed(_) | PrepareError::JobDied(_) | PrepareError::TimedOut,
            )) => {}
            Err(other) => panic!("{hit}: a local fault must not give {other:?}"),
        }
        // The failure is not held against the PVF: it prepares and validates now.
        let again = host
            .execute_pvf(
                pvf(&code, PvfPrepKind::Prepare),
                params.clone(),
                BACKING_TIMEOUT,
                PvfExecKind::Backing,
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("{hit}: the PVF does not recover: {e:?}"));
        assert_eq!(
            again.head_data.0,
            pvf_test_pvfs::hostile::COMPILE_HEAVY_HEAD
        );
    }
    plan.require_enough();
    finish(host, running, cache.path(), None).await;
}

// ---------------------------------------------------------------------------------------
// 2. Artifacts damaged between validations
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_artifacts_are_prepared_again_and_never_a_verdict() {
    let seed = faults::seed();
    println!("PVF_FAULT_SEED={seed:#x}");
    let mut rng = Rng::new(seed, "artifacts");
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(config(cache.path(), &pvf_tests::workers_dir()));
    // Another program, so another artifact: adder variants differ only in a custom
    // section, which compiles to the same artifact bytes.
    let (a, b) = (adder_variant(1), pvf_test_pvfs::undying());
    let (one_round, one_round_head) = (undying_params(1, 1), undying_head(1));
    let run_b = || {
        host.execute_pvf(
            pvf(b, PvfPrepKind::Prepare),
            one_round.clone(),
            BACKING_TIMEOUT,
            PvfExecKind::Backing,
            None,
        )
    };
    run_adder(&host, &a, PvfExecKind::Backing).await.unwrap();
    run_b().await.unwrap();
    type Damage = fn(&Path, &Path, &mut Rng);
    let damages: [(&str, Damage); 5] = [
        ("deleted", |artifact, _, _| {
            std::fs::remove_file(artifact).unwrap()
        }),
        ("truncated to nothing", |artifact, _, _| {
            std::fs::File::options()
                .write(true)
                .open(artifact)
                .unwrap()
                .set_len(0)
                .unwrap()
        }),
        ("truncated at a random length", |artifact, _, rng| {
            let len = std::fs::metadata(artifact).unwrap().len();
            std::fs::File::options()
                .write(true)
                .open(artifact)
                .unwrap()
                .set_len(rng.below(len))
                .unwrap()
        }),
        ("one bit flipped", |artifact, _, rng| {
            let mut bytes = std::fs::read(artifact).unwrap();
            let at = rng.below(bytes.len() as u64) as usize;
            bytes[at] ^= 1 << rng.below(8);
            std::fs::write(artifact, bytes).unwrap()
        }),
        (
            "replaced by another PVF's artifact",
            |artifact, other, _| {
                std::fs::copy(other, artifact).unwrap();
            },
        ),
    ];
    let mut answers = 0;
    for (what, damage) in damages {
        for _ in 0..2 {
            let [artifact] = &artifacts_of(cache.path(), &a)[..] else {
                panic!("one artifact of a expected")
            };
            let [other] = &artifacts_of(cache.path(), b)[..] else {
                panic!("one artifact of b expected")
            };
            damage(artifact, other, &mut rng);
            let kind = *rng.pick(&KINDS);
            let prepared = host.stats().preparations;
            let outcome = run_adder(&host, &a, kind).await;
            answers += 1;
            println!("artifact {what}, {kind:?}: {outcome:?}");
            match (kind, &outcome) {
                // Approval and dispute delete the artifact, prepare it again and retry.
                (PvfExecKind::Approval | PvfExecKind::Dispute, Ok(_)) => {}
                // Backing never retries; the checksum proves the fault local: no vote.
                (
                    PvfExecKind::Backing,
                    Err(ValidationError::Internal(InternalValidationError::CorruptedArtifact(_))),
                ) => {}
                _ => panic!("artifact {what}, {kind:?}: {outcome:?}"),
            }
            run_adder(&host, &a, PvfExecKind::Backing)
                .await
                .unwrap_or_else(|e| panic!("after the artifact was {what}: {e:?}"));
            assert_eq!(
                host.stats().preparations,
                prepared + 1,
                "prepared again, once"
            );
        }
    }
    assert_eq!(answers, 10);
    let result = run_b()
        .await
        .expect("the artifact copied from is untouched");
    assert_eq!(result.head_data.0, one_round_head);
    finish(host, running, cache.path(), None).await;
}

// ---------------------------------------------------------------------------------------
// 3. A read-only and a full cache
// ---------------------------------------------------------------------------------------

/// A preparation that failed because of the cache, not the PVF.
fn is_local_prepare_failure(e: &PrepareError) -> bool {
    matches!(
        e,
        PrepareError::CreateTmpFile(_)
            | PrepareError::RenameTmpFile(_)
            | PrepareError::IoErr(_)
            | PrepareError::ClearWorkerDir(_)
            | PrepareError::WorkerFailed(_)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_cache_fails_without_a_verdict_and_recovers() {
    let cache = tempfile::tempdir().unwrap();
    let mount = Mount::bind_self(cache.path());
    let (host, running) = start(config(cache.path(), &pvf_tests::workers_dir()));
    run_adder(&host, &adder_variant(1), PvfExecKind::Backing)
        .await
        .unwrap();

    mount.set_read_only(true);
    assert!(
        std::fs::write(cache.path().join("probe"), b"x").is_err(),
        "the read-only mount must stop even root"
    );
    // The PVF a running worker ran last needs no write (its artifact is still linked into the
    // worker's job folder; another prepared PVF would need a new link: an internal error).
    run_adder(&host, &adder_variant(1), PvfExecKind::Backing)
        .await
        .expect("a prepared artifact runs from a read-only cache");
    // A preparation cannot write its artifact; a new worker cannot get its folder.
    let precheck = run_precheck(&host, &adder_variant(2)).await;
    let execute = run_adder(&host, &adder_variant(3), PvfExecKind::Approval).await;
    kill_idle_workers(cache.path(), &["execute"]).await;
    let respawn = run_adder(&host, &adder_variant(1), PvfExecKind::Backing).await;
    println!("read-only: precheck {precheck:?}; new PVF {execute:?}; new worker {respawn:?}");
    match &precheck {
        Err(e) if is_local_prepare_failure(e) => {}
        other => panic!("precheck in a read-only cache: {other:?}"),
    }
    match &execute {
        Err(ValidationError::Preparation(e)) if is_local_prepare_failure(e) => {}
        other => panic!("preparation in a read-only cache: {other:?}"),
    }
    match &respawn {
        Err(ValidationError::Internal(InternalValidationError::WorkerSpawn(_))) => {}
        other => panic!("spawning a worker in a read-only cache: {other:?}"),
    }

    mount.set_read_only(false);
    run_precheck(&host, &adder_variant(2))
        .await
        .expect("the precheck succeeds once the cache is writable");
    for n in [1, 3] {
        run_adder(&host, &adder_variant(n), PvfExecKind::Approval)
            .await
            .expect("validates once the cache is writable");
    }
    finish(host, running, cache.path(), None).await;
    drop(mount);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_cache_fails_without_a_verdict_and_recovers() {
    const TOO_SMALL_KIB: u64 = 16;
    let cache = tempfile::tempdir().unwrap();
    let mount = Mount::tmpfs(cache.path(), TOO_SMALL_KIB);
    let (host, running) = start(config(cache.path(), &pvf_tests::workers_dir()));
    let precheck = run_precheck(&host, &adder_variant(1)).await;
    let mut executions = Vec::new();
    for kind in KINDS {
        executions.push((kind, run_adder(&host, &adder_variant(2), kind).await));
    }
    println!("full: precheck {precheck:?}; executions {executions:?}");
    match &precheck {
        Err(e) if is_local_prepare_failure(e) => {}
        other => panic!("precheck in a full cache: {other:?}"),
    }
    for (kind, outcome) in &executions {
        match outcome {
            Err(ValidationError::Preparation(e)) if is_local_prepare_failure(e) => {}
            other => panic!("{kind:?} in a full cache: {other:?}"),
        }
    }

    mount.resize_tmpfs(64 * 1024);
    run_precheck(&host, &adder_variant(1))
        .await
        .expect("the precheck succeeds once there is room");
    run_adder(&host, &adder_variant(2), PvfExecKind::Backing)
        .await
        .expect("validates once there is room");
    let len = std::fs::metadata(&artifacts_of(cache.path(), &adder_variant(2))[0])
        .unwrap()
        .len();
    assert!(
        len > TOO_SMALL_KIB * 1024,
        "the test is void: the artifact ({len} bytes) fits into {TOO_SMALL_KIB} KiB"
    );
    finish(host, running, cache.path(), None).await;
    drop(mount);
}

// ---------------------------------------------------------------------------------------
// 4 and 5. Worker binaries replaced mid-run
// ---------------------------------------------------------------------------------------

/// A worker "of another version": the real binary, told that the node is another release,
/// so it answers the handshake with a version mismatch, as a stale binary would.
fn other_version_script(real: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         for a; do\n\
           shift\n\
           if [ -n \"$next\" ]; then a=0.0.0-other; next=; fi\n\
           [ \"$a\" = --node-version ] && next=1\n\
           set -- \"$@\" \"$a\"\n\
         done\n\
         exec '{}' \"$@\"\n",
        real.display()
    )
}

/// A worker that starts and never connects (its command line kept for the leak check).
const NEVER_CONNECTS: &str = "#!/bin/bash\nexec -a \"never-connects $*\" sleep 600\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_binary_of_another_version_stops_the_host_with_a_message_never_a_verdict() {
    let workers = WorkerCopies::new();
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(config(cache.path(), workers.path()));
    run_adder(&host, &adder_variant(1), PvfExecKind::Backing)
        .await
        .unwrap();

    // An in-place upgrade: the binaries change under the running node.
    for name in faults::WORKER_BINARIES {
        workers.replace_with_script(name, &other_version_script(&workers.real(name)));
    }
    kill_idle_workers(cache.path(), &["prepare", "execute"]).await;
    // Backing: no retry, so the answer is the mismatch itself.
    match run_adder(&host, &adder_variant(1), PvfExecKind::Backing).await {
        Err(e @ ValidationError::Internal(InternalValidationError::VersionMismatch { .. })) => {
            assert!(e.to_string().contains("restart"), "{e}")
        }
        other => panic!("an execution on a worker of another version: {other:?}"),
    }
    // The host stops on its own, with the operator's message, and stops every worker.
    let exit = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the host stops within 30 s of a version mismatch")
        .expect("the host task does not panic");
    println!("other version: the host stopped with {exit:?}");
    match exit {
        Err(HostExit::WorkerVersionMismatch(msg)) => {
            assert!(msg.contains("restart"), "{msg}");
            assert!(msg.contains("in-place upgrade"), "{msg}");
        }
        Ok(()) => panic!("the host went on after a worker of another version answered"),
    }
    // Whatever comes later is answered, and never with a verdict.
    for kind in KINDS {
        match run_adder(&host, &adder_variant(1), kind).await {
            Err(ValidationError::Internal(_)) => {}
            other => panic!("{kind:?} after the host stopped: {other:?}"),
        }
    }
    assert!(run_precheck(&host, &adder_variant(2)).await.is_err());
    drop(host);
    for name in faults::WORKER_BINARIES {
        workers.restore(name);
    }
    faults::assert_no_processes_left(&[cache.path(), workers.path()]).await;
    faults::assert_cache_clean(cache.path());
    workers.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_never_connects_is_answered_by_the_spawn_timeout() {
    let workers = WorkerCopies::new();
    let cache = tempfile::tempdir().unwrap();
    let (host, running) = start(config(cache.path(), workers.path()));
    run_adder(&host, &adder_variant(1), PvfExecKind::Backing)
        .await
        .unwrap();

    for name in faults::WORKER_BINARIES {
        workers.replace_with_script(name, NEVER_CONNECTS);
    }
    kill_idle_workers(cache.path(), &["prepare", "execute"]).await;
    let started = Instant::now();
    let (prepared, new) = (adder_variant(1), adder_variant(2));
    let (execute, precheck) = tokio::join!(
        run_adder(&host, &prepared, PvfExecKind::Backing),
        run_precheck(&host, &new),
    );
    let took = started.elapsed();
    println!("never connects: execution {execute:?}; precheck {precheck:?} in {took:?}");
    // Spawns are tried again while the request allows: the execution's wall clock (8 s for
    // backing), the pre-check's 60 s.
    assert!(took < Duration::from_secs(75), "took {took:?}");
    match execute {
        Err(ValidationError::Internal(InternalValidationError::WorkerSpawn(msg))) => {
            assert!(msg.contains("did not connect"), "{msg}")
        }
        other => panic!("execution on a worker that never connects: {other:?}"),
    }
    match precheck {
        Err(PrepareError::WorkerFailed(msg)) => assert!(msg.contains("did not connect"), "{msg}"),
        other => panic!("precheck on a worker that never connects: {other:?}"),
    }

    for name in faults::WORKER_BINARIES {
        workers.restore(name);
    }
    run_precheck(&host, &adder_variant(2))
        .await
        .expect("prechecks once the binaries work again");
    run_adder(&host, &adder_variant(1), PvfExecKind::Backing)
        .await
        .expect("validates once the binaries work again");
    finish(host, running, cache.path(), Some(&workers)).await;
}

// ---------------------------------------------------------------------------------------
// 6. Many concurrent requests, some cancelled
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
enum Answer {
    Executed(Result<ValidationResult, ValidationError>),
    Prechecked(Result<(), PrepareError>),
    /// The caller dropped the future before the answer came.
    Dropped,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_with_cancellations_each_get_one_answer() {
    const REQUESTS: usize = 1000;
    const PVFS: u32 = 20;
    let seed = faults::seed();
    println!("PVF_FAULT_SEED={seed:#x}");
    let mut rng = Rng::new(seed, "concurrency");
    let cache = tempfile::tempdir().unwrap();
    let metrics = pvf_metrics::Metrics::new();
    let (host, running) = start(Config {
        metrics: metrics.clone(),
        ..config(cache.path(), &pvf_tests::workers_dir())
    });
    let codes: Vec<Arc<Vec<u8>>> = (0..PVFS).map(|n| Arc::new(adder_variant(n))).collect();
    let answered = Arc::new(AtomicUsize::new(0));
    // Faults while the requests run: SIGKILL to a random execute worker or job every 0–150 ms,
    // counted when it reached a live process.
    let stop_faults = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let faults_task = {
        let (cache, stop) = (cache.path().to_path_buf(), stop_faults.clone());
        let mut rng = Rng::new(seed, "concurrency faults");
        tokio::spawn(async move {
            let mut hits = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(rng.duration(Duration::from_millis(150))).await;
                let candidates = if rng.chance(50) {
                    faults::jobs(&cache, "execute")
                } else {
                    faults::workers(&cache, "execute")
                };
                if candidates.is_empty() {
                    continue;
                }
                let victim = &candidates[rng.below(candidates.len() as u64) as usize];
                if faults::signal_live(victim.pid, libc::SIGKILL) {
                    hits.push(victim.pid);
                }
            }
            hits
        })
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut executions = 0;
    for _ in 0..REQUESTS {
        let code = codes[rng.below(u64::from(PVFS)) as usize].clone();
        let precheck = rng.chance(20);
        executions += usize::from(!precheck);
        let kind = *rng.pick(&KINDS);
        let cancel = rng.below(100);
        let cancel_after = rng.duration(Duration::from_millis(200));
        let (host, answered) = (host.clone(), answered.clone());
        let request = async move {
            let answer = if precheck {
                Answer::Prechecked(run_precheck(&host, &code).await)
            } else {
                let (params, _) = adder_candidate();
                let timeout = ExecutorParams::default().exec_timeout(kind);
                Answer::Executed(
                    host.execute_pvf(
                        pvf(&code, PvfPrepKind::Prepare),
                        params,
                        timeout,
                        kind,
                        None,
                    )
                    .await,
                )
            };
            answered.fetch_add(1, Ordering::SeqCst);
            answer
        };
        let task = match cancel {
            // Dropped by the caller.
            0..10 => tokio::spawn(async move {
                tokio::time::timeout(cancel_after, request)
                    .await
                    .unwrap_or(Answer::Dropped)
            }),
            // The caller's task aborted.
            10..20 => {
                let task = tokio::spawn(request);
                let abort = task.abort_handle();
                tokio::spawn(async move {
                    tokio::time::sleep(cancel_after).await;
                    abort.abort();
                });
                task
            }
            _ => tokio::spawn(request),
        };
        tasks.push(task);
    }
    let (mut valid, mut prechecked, mut deadline, mut dropped, mut aborted) = (0, 0, 0, 0, 0);
    let (mut died, mut internal) = (0, 0);
    let (_, expected_head) = adder_candidate();
    for task in tasks {
        let answer = tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("every request is answered or cancelled within two minutes");
        match answer {
            Err(e) if e.is_cancelled() => aborted += 1,
            Err(e) => panic!("a request task failed: {e}"),
            Ok(Answer::Dropped) => dropped += 1,
            Ok(Answer::Prechecked(Ok(()))) => prechecked += 1,
            Ok(Answer::Executed(Ok(result))) => {
                assert_eq!(result.head_data.0, expected_head);
                valid += 1
            }
            // A backing job that waited in the queue longer than its timeout is dropped.
            Ok(Answer::Executed(Err(ValidationError::ExecutionDeadline))) => deadline += 1,
            // A killed worker or job that no retry covered (backing never retries): possibly
            // invalid, as in the reference.
            Ok(Answer::Executed(Err(ValidationError::PossiblyInvalid(
                PossiblyInvalidError::AmbiguousWorkerDeath
                | PossiblyInvalidError::AmbiguousJobDeath(_),
            )))) => died += 1,
            // A worker killed before its handshake: it could not be spawned, no vote.
            Ok(Answer::Executed(Err(ValidationError::Internal(_)))) => internal += 1,
            Ok(other) => panic!("a valid candidate under load got {other:?}"),
        }
    }
    stop_faults.store(true, Ordering::SeqCst);
    let hits = faults_task.await.expect("the fault task ends");
    let took = started.elapsed();
    println!(
        "{REQUESTS} requests in {took:?}: {valid} valid, {prechecked} prechecked, \
         {deadline} past their deadline, {died} ended by a killed worker or job, {internal} \
         internal errors, {dropped} dropped, {aborted} aborted; {} SIGKILLs reached a live \
         execute worker or job",
        hits.len()
    );
    assert!(
        hits.len() >= 5,
        "only {} SIGKILLs reached a live process: the test injected too little",
        hits.len()
    );
    assert_eq!(
        valid + prechecked + deadline + died + internal + dropped + aborted,
        REQUESTS,
        "every request accounted for once"
    );
    assert_eq!(
        answered.load(Ordering::SeqCst),
        valid + prechecked + deadline + died + internal,
        "exactly one answer per request that was not cancelled"
    );
    assert!(
        died + internal <= 2 * hits.len(),
        "{died} deaths and {internal} internal errors from {} kills",
        hits.len()
    );
    assert!(dropped + aborted > 0 && valid > 0);
    use pvf_metrics::VerdictClass as V;
    let verdicts: u64 = [V::Valid, V::Invalid, V::PossiblyInvalid, V::Error]
        .into_iter()
        .map(|c| metrics.verdicts(c))
        .sum();
    assert_eq!(metrics.verdicts(V::Invalid), 0, "a kill is never invalid");
    assert!(
        metrics.verdicts(V::PossiblyInvalid) <= 2 * hits.len() as u64,
        "more possibly-invalid outcomes than kills could cause"
    );
    assert!(
        (valid + deadline + died + internal) as u64 <= verdicts && verdicts <= executions as u64,
        "the host answered {verdicts} executions; {} reached their callers, {executions} were sent",
        valid + deadline + died + internal
    );
    let preparations = host.stats().preparations;
    assert!(
        preparations <= u64::from(PVFS),
        "{preparations} preparations of {PVFS} PVFs"
    );
    finish(host, running, cache.path(), None).await;
}
