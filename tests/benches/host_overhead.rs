//! What the worker processes cost: the host's round trip and preparation through a worker,
//! against the same work done in this process.
//!
//! Run with `cargo bench -p pvf-tests --bench host_overhead` after
//! `cargo build --release --bins`. Knobs: `PVF_BENCH_ITERS` (execution iterations, default
//! 300), `PVF_BENCH_PREP_ITERS` (preparation iterations, default 15) and
//! `PVF_BENCH_HEAVY_FUNCTIONS` (size of the compile-heavy module, default
//! [`COMPILE_HEAVY_DEFAULT_FUNCTIONS`]).
//!
//! # Execution (the adder PVF, one candidate per iteration)
//! - **host round trip**: `execute_on` on one long-lived execute worker: encode the request,
//!   send it over the socket, the worker forks a job process, which spawns a thread with the
//!   job's stack, creates an engine, maps the artifact, instantiates and calls
//!   `validate_block`; the answer comes back over the pipe and the socket. This is the
//!   per-candidate cost of a warm worker pool (the worker's spawn is reported separately).
//! - **in-process, engine reused**: `execute_artifact` with one engine for the whole run: maps
//!   and deserializes the artifact, instantiates and calls. The floor any host could reach.
//! - **in-process, engine per call**: the same plus `Engine::new` each time, which the worker
//!   does per job (its engine lives in the forked child and dies with it).
//!
//! Every result is compared with the head `adder_chain::next_head` predicts; a wrong answer
//! aborts the bench.
//!
//! # Breakdown (in this process, to explain the gap)
//! The in-process steps one by one (`Engine::new`, `load_artifact`, `execute_module`), a
//! thread spawn with the job's stack, a fork of an empty child, and a fork whose child
//! executes the candidate with its own engine, as a job does (minus the socket). For the
//! forks, the child's CPU time (from `wait4`, as the worker measures a job) and its minor
//! page faults are reported too. The forked process is this bench, not the worker, so these
//! rows are proxies.
//!
//! # Preparation (the adder, and `compile_heavy(N)`)
//! - **worker wall**: `Host::prepare`: spawns a prepare worker, which forks a job that
//!   prevalidates and compiles; the artifact is moved into the cache, the worker shut down.
//! - **worker job CPU**: `Prepared::cpu_time`, the CPU time of the job process alone.
//! - **in-process wall / thread CPU**: `pvf_workers::prepare::prepare`, the same function the
//!   job runs, on this thread; CPU from `CLOCK_THREAD_CPUTIME_ID`.
//!
//! The first artifact from each path is checked to be byte-identical to the other; the
//! compile-heavy artifact is run once and must return its documented head.
//!
//! # Method
//! Variants are interleaved within each iteration so that machine noise hits all of them
//! alike. Their order is shuffled per iteration (fixed seed; preparation simply alternates
//! A B / B A), so that each variant follows each other one equally often: with a fixed
//! rotation, whichever variant usually came right after the round trip measured slower.
//! Warm-up iterations are not counted. Reported: median, p10, p90, min, and the ratio of
//! medians (round trip / in-process, worker / in-process). The load average is printed at
//! start and end, to tell a quiet run from a noisy one.

use parity_scale_codec::Encode;
use pvf_messages::primitives::DEFAULT_VALIDATION_CODE_BOMB_LIMIT;
use pvf_messages::{
    BlockData, ExecutorParams, Hash, HeadData, PvfExecKind, PvfPrepKind, ValidationCode,
    ValidationParams, protocol::WorkerKind,
};
use pvf_subsystem::host::{Host, execute_on};
use pvf_test_pvfs::hostile::{COMPILE_HEAVY_DEFAULT_FUNCTIONS, COMPILE_HEAVY_HEAD, compile_heavy};
use pvf_tests::bench::{
    Candidate, Last, Samples, Shuffler, adder_candidates, check, env_or, fmt_dur, job_stack_size,
    load_average, print_table, run_on_job_stack, thread_cpu_time,
};
use pvf_workers::{engine::engine, execute, prepare::prepare};
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// Uncounted iterations before execution samples are kept.
const EXEC_WARMUP: usize = 20;
/// Uncounted iterations before preparation samples are kept.
const PREP_WARMUP: usize = 1;

/// Forks a child that runs `job` and exits with status 0 if it returned `true`, and reaps
/// it: how the worker runs each job, minus the socket and the job's big-stack thread.
/// Returns the child's CPU time as `wait4` reports it (the way the worker measures a job)
/// and its minor page faults.
///
/// This process has other threads (the main thread, parked in `join`, and any the runtime
/// started), so the child relies on no lock it needs being held at the fork; it only uses
/// the allocator (made fork-safe by glibc's fork handlers) and wasmtime, which no other
/// thread touches.
fn fork_and_reap(job: impl FnOnce() -> bool) -> (Duration, i64) {
    // SAFETY: see above; the child never returns from this block.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or(false);
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child; `status` and `usage` are writable.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the forked job failed (status {status:#x})"
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(usage.ru_utime) + tv(usage.ru_stime), usage.ru_minflt)
}

async fn bench_execution(host: &Host, artifact: &Path, iters: usize) {
    let params = ExecutorParams::default();
    let timeout = params.exec_timeout(PvfExecKind::Backing);
    let candidates = adder_candidates(EXEC_WARMUP + iters);

    let start = Instant::now();
    let mut worker = host
        .spawn(WorkerKind::Execute)
        .await
        .expect("spawning an execute worker");
    let spawn_time = start.elapsed();

    let shared_engine = engine(&params).expect("an engine");
    let mut samples = [
        Samples::new("host round trip (execute_on)"),
        Samples::new("in-process, engine reused"),
        Samples::new("in-process, engine per call"),
    ];
    let mut job_cpu = Samples::new("worker job CPU time (reported)");
    let mut first_round_trip = None;

    let mut shuffler = Shuffler::new();
    for (i, cand) in candidates.iter().enumerate() {
        for variant in shuffler.order(samples.len()) {
            let start = Instant::now();
            let result = match variant {
                0 => {
                    let executed =
                        execute_on(&mut worker, artifact, &cand.params, &params, timeout)
                            .await
                            .expect("the worker validates the adder candidate");
                    let elapsed = start.elapsed();
                    first_round_trip.get_or_insert(elapsed);
                    if i >= EXEC_WARMUP {
                        job_cpu
                            .times
                            .push(Duration::from_nanos(executed.cpu_time_ns));
                    }
                    executed.result
                }
                1 => execute::execute_artifact(&shared_engine, artifact, &cand.encoded, &params)
                    .expect("in-process execution with a shared engine"),
                _ => {
                    let engine = engine(&params).expect("an engine");
                    execute::execute_artifact(&engine, artifact, &cand.encoded, &params)
                        .expect("in-process execution with a fresh engine")
                }
            };
            let elapsed = start.elapsed();
            check(&samples[variant].name, &result, &cand.expected);
            if i >= EXEC_WARMUP {
                samples[variant].times.push(elapsed);
            }
        }
    }
    worker.shutdown().await;

    println!(
        "\nexecute worker spawn + handshake: {}; first round trip on it: {}",
        fmt_dur(spawn_time),
        fmt_dur(first_round_trip.expect("at least one iteration")),
    );
    let [host_rt, reused, per_call] = &samples;
    print_table(
        "EXECUTION: adder, one valid candidate per iteration (ratio = host round trip / row)",
        &[host_rt, reused, per_call, &job_cpu],
        Last::RatioTo(0),
    );
    let overhead = |s: &Samples| fmt_dur(host_rt.median().saturating_sub(s.median()));
    println!(
        "  round trip minus in-process: {} (engine reused), {} (engine per call)",
        overhead(reused),
        overhead(per_call),
    );

    bench_breakdown(artifact, &candidates[0], iters, host_rt.median());
}

/// The steps of one execution, measured one at a time in this process.
fn bench_breakdown(artifact: &Path, cand: &Candidate, iters: usize, round_trip: Duration) {
    let params = ExecutorParams::default();
    let shared_engine = engine(&params).expect("an engine");
    let module = execute::load_artifact(&shared_engine, artifact).expect("the artifact loads");
    let job_stack = job_stack_size();
    let fresh_engine_execution = || {
        let engine = engine(&params).expect("an engine");
        execute::execute_artifact(&engine, artifact, &cand.encoded, &params)
            .is_ok_and(|result| result == cand.expected)
    };
    // PVF_BENCH_SANDBOX=landlock or =seccomp measures one layer alone (default: both).
    let layers = std::env::var("PVF_BENCH_SANDBOX").unwrap_or_else(|_| "landlock,seccomp".into());
    let sandbox_policy = pvf_workers::sandbox::Policy {
        landlock: layers.contains("landlock"),
        seccomp: layers.contains("seccomp"),
        // This bench forks its own job processes; the namespaces (`clone` flags, not layers
        // the job enters) are not part of this row.
        namespaces: Default::default(),
        writable: Vec::new(),
        readable: artifact
            .parent()
            .map(Path::to_path_buf)
            .into_iter()
            .collect(),
        write_only_file: None,
    };
    pvf_workers::sandbox::warm_up();
    let sandboxed_execution = || {
        pvf_workers::sandbox::enter_or_exit(&sandbox_policy);
        fresh_engine_execution()
    };
    let mut samples = [
        Samples::new("Engine::new (+ drop)"),
        Samples::new("load_artifact (mmap + deserialize)"),
        Samples::new("execute_module (instantiate + call)"),
        Samples::new("spawn + join thread with the job's stack"),
        Samples::new("fork, empty child, wait4"),
        Samples::new("fork, child runs engine per call, wait4"),
        Samples::new("same, child enters the job sandbox first"),
    ];
    let mut child_cpu = [
        Samples::new("  child CPU (wait4 rusage), empty child"),
        Samples::new("  child CPU (wait4 rusage), engine per call"),
        Samples::new("  child CPU (wait4 rusage), sandboxed"),
    ];
    let mut child_faults = [Vec::new(), Vec::new(), Vec::new()];
    let mut shuffler = Shuffler::new();
    for i in 0..EXEC_WARMUP + iters {
        for step in shuffler.order(samples.len()) {
            let start = Instant::now();
            // The child's CPU time, for the fork steps.
            let child = match step {
                0 => {
                    drop(engine(&params).expect("an engine"));
                    None
                }
                1 => {
                    drop(execute::load_artifact(&shared_engine, artifact).expect("loads"));
                    None
                }
                2 => {
                    let result =
                        execute::execute_module(&shared_engine, &module, &cand.encoded, &params)
                            .expect("executes");
                    check("execute_module", &result, &cand.expected);
                    None
                }
                3 => {
                    std::thread::Builder::new()
                        .stack_size(job_stack)
                        .spawn(|| ())
                        .expect("a thread")
                        .join()
                        .expect("the empty thread returns");
                    None
                }
                4 => Some((0, fork_and_reap(|| true))),
                5 => Some((1, fork_and_reap(fresh_engine_execution))),
                _ => Some((2, fork_and_reap(sandboxed_execution))),
            };
            let elapsed = start.elapsed();
            if i >= EXEC_WARMUP {
                samples[step].times.push(elapsed);
                if let Some((row, (cpu, faults))) = child {
                    child_cpu[row].times.push(cpu);
                    child_faults[row].push(faults);
                }
            }
        }
    }
    let [
        engine_new,
        load,
        exec,
        thread,
        fork_empty,
        fork_job,
        fork_sandboxed,
    ] = &samples;
    let [cpu_empty, cpu_job, cpu_sandboxed] = &child_cpu;
    print_table(
        "BREAKDOWN: steps of one execution, in this process (share = row / host round trip)",
        &[
            engine_new,
            load,
            exec,
            thread,
            fork_empty,
            cpu_empty,
            fork_job,
            cpu_job,
            fork_sandboxed,
            cpu_sandboxed,
        ],
        Last::ShareOf(round_trip),
    );
    let (plain, jailed) = (fork_job.median(), fork_sandboxed.median());
    println!(
        "  sandbox cost per job (Landlock + seccomp + rlimits + no_new_privs): {:.1} µs, ratio sandboxed / plain {:.2}x",
        (jailed.as_secs_f64() - plain.as_secs_f64()) * 1e6,
        jailed.as_secs_f64() / plain.as_secs_f64()
    );
    let median_faults = |faults: &mut Vec<i64>| {
        faults.sort_unstable();
        faults[faults.len() / 2]
    };
    println!(
        "  median minor page faults of the child: {} (empty), {} (engine per call)",
        median_faults(&mut child_faults[0]),
        median_faults(&mut child_faults[1]),
    );
}

/// Benchmarks preparing `code`; returns the path of the artifact the worker put in the cache.
async fn bench_preparation(host: &Host, name: &str, code: &[u8], iters: usize) -> PathBuf {
    let params = ExecutorParams::default();
    let validation_code = ValidationCode(code.to_vec());
    let mut worker_wall = Samples::new("worker: wall (Host::prepare)");
    let mut worker_cpu = Samples::new("worker: job CPU (Prepared::cpu_time)");
    let mut local_wall = Samples::new("in-process: wall (prepare)");
    let mut local_cpu = Samples::new("in-process: thread CPU (prepare)");
    let mut cached = None;

    for i in 0..PREP_WARMUP + iters {
        let counted = i >= PREP_WARMUP;
        for k in 0..2 {
            if (i + k) % 2 == 0 {
                let start = Instant::now();
                let prepared = host
                    .prepare(&validation_code, &params, PvfPrepKind::Prepare)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: the worker failed to prepare: {e}"));
                let elapsed = start.elapsed();
                if cached.is_none() {
                    let artifact = std::fs::read(&prepared.path).expect("the cached artifact");
                    assert_eq!(
                        artifact,
                        prepare(
                            code,
                            DEFAULT_VALIDATION_CODE_BOMB_LIMIT,
                            &params,
                            PvfPrepKind::Prepare
                        )
                        .expect("in-process preparation"),
                        "{name}: the worker's artifact differs from the in-process one"
                    );
                }
                if counted {
                    worker_wall.times.push(elapsed);
                    worker_cpu.times.push(prepared.cpu_time);
                }
                cached = Some(prepared);
            } else {
                let (start, cpu_start) = (Instant::now(), thread_cpu_time());
                let artifact = prepare(
                    code,
                    DEFAULT_VALIDATION_CODE_BOMB_LIMIT,
                    &params,
                    PvfPrepKind::Prepare,
                )
                .unwrap_or_else(|e| panic!("{name}: in-process preparation failed: {e}"));
                let (elapsed, cpu) = (start.elapsed(), thread_cpu_time() - cpu_start);
                assert!(!artifact.is_empty(), "{name}: empty artifact");
                if counted {
                    local_wall.times.push(elapsed);
                    local_cpu.times.push(cpu);
                }
            }
        }
    }
    let cached = cached.expect("at least one preparation");
    let title = format!(
        "PREPARATION: {name}, {} KB module -> {} KB artifact",
        code.len() / 1000,
        cached.len / 1000,
    );
    print_table(
        &format!("{title}; wall time (ratio = worker wall / row)"),
        &[&worker_wall, &local_wall],
        Last::RatioTo(0),
    );
    print_table(
        &format!("{title}; CPU time (ratio = worker job CPU / row)"),
        &[&worker_cpu, &local_cpu],
        Last::RatioTo(0),
    );
    cached.path
}

/// Checks that the compile-heavy artifact runs and returns its documented head.
fn check_heavy_artifact(host_artifact: &Path) {
    let params = ExecutorParams::default();
    let engine = engine(&params).expect("an engine");
    let vp = ValidationParams {
        parent_head: HeadData(Vec::new()),
        block_data: BlockData(Vec::new()),
        relay_parent_number: 0,
        relay_parent_storage_root: Hash::default(),
    };
    let result = execute::execute_artifact(&engine, host_artifact, &vp.encode(), &params)
        .expect("the compile-heavy artifact runs");
    assert_eq!(result.head_data.0, COMPILE_HEAVY_HEAD);
}

fn run() {
    let exec_iters = env_or("PVF_BENCH_ITERS", 300);
    let prep_iters = env_or("PVF_BENCH_PREP_ITERS", 15);
    let heavy_functions = env_or(
        "PVF_BENCH_HEAVY_FUNCTIONS",
        COMPILE_HEAVY_DEFAULT_FUNCTIONS as usize,
    );
    let cache = tempfile::tempdir().expect("a temporary cache folder");
    let host = pvf_tests::host(cache.path());
    println!(
        "load average at start: {}\nworkers: {}\nexecution iterations: {exec_iters} (+{EXEC_WARMUP} warm-up); \
         preparation iterations: {prep_iters} (+{PREP_WARMUP} warm-up); \
         compile_heavy functions: {heavy_functions}",
        load_average(),
        pvf_tests::workers_dir().display()
    );

    let adder = pvf_test_pvfs::adder();
    let heavy = compile_heavy(heavy_functions as u32);
    pvf_tests::runtime().block_on(async {
        let prepared = host
            .prepare(
                &ValidationCode(adder.to_vec()),
                &ExecutorParams::default(),
                PvfPrepKind::Prepare,
            )
            .await
            .expect("the adder prepares");
        bench_execution(&host, &prepared.path, exec_iters).await;

        bench_preparation(&host, "adder", adder, prep_iters).await;
        let heavy_name = format!("compile_heavy({heavy_functions})");
        let heavy_artifact = bench_preparation(&host, &heavy_name, &heavy, prep_iters).await;
        check_heavy_artifact(&heavy_artifact);
    });
    println!("\nload average at end: {}", load_average());
}

fn main() {
    // In-process execution runs on a thread with the stack the worker gives its job thread,
    // so that the Wasm stack limit means the same thing in both.
    run_on_job_stack("host-overhead-bench", run);
}
