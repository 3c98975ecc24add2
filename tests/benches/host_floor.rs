//! The host against the floor: what the host costs compared with the least any
//! process-per-job design could cost on this machine, and the figures issue 5 asks for
//! (preparation, restart, throughput, memory), each as a ratio measured side by side in one
//! run.
//!
//! Run with `cargo bench -p pvf-tests --bench host_floor` after `cargo build --release
//! --bins`. It ends with a summary table (markdown) to paste. Knobs (defaults keep the whole
//! run to about two minutes on 2 cores):
//! `PVF_BENCH_SECTIONS` (comma-separated, default `overhead,prepare,restart,throughput,memory`),
//! `PVF_BENCH_ITERS` (per-candidate iterations, 300), `PVF_BENCH_PREP_ITERS` (5),
//! `PVF_BENCH_PREP_BYTES` (size of the generated module, 2 MiB), `PVF_BENCH_RESTART_ITERS` (5),
//! `PVF_BENCH_THROUGHPUT_MS` (CPU time per compute-heavy candidate, 75),
//! `PVF_BENCH_THROUGHPUT_CANDIDATES` (24), `PVF_BENCH_THROUGHPUT_ROUNDS` (3),
//! `PVF_BENCH_MEMORY_CANDIDATES` (10 000), `PVF_BENCH_MAX_GROWTH_KIB` (node RSS growth allowed
//! between the first 1 000 candidates and the end, 16 384), `PVF_BENCH_FLOOR_SPAWN` (`fork`
//! to create the floor's job with a plain fork; default: clone with every job namespace, as the workers
//! do where the kernel allows, falling back to fork).
//!
//! Every result is checked (the head a valid candidate must return, `Ok` for a pre-check,
//! the artifact's documented head); a wrong answer aborts the bench.
//!
//! # Per-candidate overhead (the adder, one valid candidate per iteration)
//! - **host, actor**: `ValidationHost::execute_pvf` on a running host with one execute worker
//!   and the artifact cached: the full path a candidate takes (request channel, actor, execute
//!   queue, worker socket, the worker's job process, and back).
//! - **host, one worker without the sandbox**: the same on a worker spawned with every sandbox
//!   layer off (`Host::spawn_without_sandbox`): the ratio of the two is the sandbox's cost.
//! - **host, one worker**: `execute_on` on one long-lived execute worker: the same minus the
//!   actor and queue.
//! - **in-process**: `execute_artifact` with one engine for the whole run (map, deserialize,
//!   instantiate, call): the work itself, with no process boundary.
//! - **floor**: what any design with a fresh process per job and a worker process must pay at
//!   least: one job process created the way the worker creates jobs
//!   (`pvf_workers::job::run_job_in`: pipe, `clone` with every job namespace or `fork`, the child
//!   reports an empty payload over the pipe and exits, `wait4`) plus two IPC round trips
//!   (a small frame, written and read with the real framing code, ping-ponged over a Unix
//!   socket between this process and a helper). The job is created in the helper, a small
//!   single-threaded process like a worker (this process is re-executed with
//!   `--floor-helper`), and timed there; the round trip is timed here. Floor = median job +
//!   2 × median round trip: host → worker, and worker ↔ job. A row "helper request with an
//!   empty job" measures one round trip and the job together, as a cross-check of the sum.
//!
//! # Preparation (a generated module of at least `PVF_BENCH_PREP_BYTES`)
//! `ValidationHost::precheck_pvf` (pre-checking priority, the prepare worker kept alive by
//! the host) against `pvf_workers::prepare::prepare` on this thread with the same executor
//! parameters. Each iteration appends a distinct custom section (ignored by the compiler)
//! so that the host cannot answer from its cache; both sides compile the same bytes.
//!
//! # Restart (time to the first validation)
//! A new host (`host::start`, two execute workers) and one candidate, timed from before
//! start-up to the answer: with the cache of an earlier run (the artifact is reused: no
//! preparation) against an empty cache (one preparation). Done for the adder and for the
//! generated multi-megabyte module, which stands for a real runtime.
//!
//! # Throughput (undying, each candidate ~`PVF_BENCH_THROUGHPUT_MS` of CPU)
//! Candidates per second with 1 and with 2 execute workers: all candidates submitted at once
//! to a host with a warm cache and warmed-up workers, timed until the last answer. The
//! compute knob is calibrated at start from the job CPU time of one candidate.
//!
//! # Memory (VmRSS from `/proc/<pid>/status`)
//! Idle prepare and execute workers, right after the handshake and after one job. And the
//! node side: a helper process (this bench re-executed with `--node-memory`) that only runs
//! a `ValidationHost` validates `PVF_BENCH_MEMORY_CANDIDATES` adder candidates, four in
//! flight on two execute workers, and reports its own RSS and its workers' at 0 (after a
//! warm-up), 1 000, 5 000 and the end; growth beyond `PVF_BENCH_MAX_GROWTH_KIB` after the
//! first 1 000 aborts the bench.
//!
//! # Method
//! Per-candidate variants are interleaved within each iteration in a shuffled order (fixed
//! seed), preparation alternates host/in-process, restart alternates warm/empty, throughput
//! alternates 1/2 workers, so that machine noise hits all variants alike. Warm-up iterations
//! are not counted. Reported: median (p50), p10, p90, min, and ratios of medians. The load
//! average is printed at start and end.

use futures::{StreamExt, future::join_all};
use parity_scale_codec::Encode;
use pvf_messages::primitives::DEFAULT_VALIDATION_CODE_BOMB_LIMIT;
use pvf_messages::{
    BlockData, ExecutorParams, Hash, HeadData, PvfExecKind, PvfPrepKind, ValidationCode,
    ValidationParams, ValidationResult, frame, host::PvfPrepData, protocol::WorkerKind,
};
use pvf_subsystem::host::{self, Config, Host, ValidationHost, execute_on};
use pvf_test_pvfs::{
    adder_chain,
    hostile::{COMPILE_HEAVY_HEAD, compile_heavy},
};
use pvf_tests::bench::{
    AdderChain, Last, Samples, Shuffler, adder_candidates, check, env_or, fmt_dur, load_average,
    print_table, ratio, run_on_job_stack, thread_cpu_time, vm_rss_kib,
};
use pvf_tests::candidates::undying_params;
use pvf_workers::{
    engine::engine,
    execute,
    job::{JobEnd, JobReport, Spawn, run_job_in},
    prepare::prepare,
    sandbox::JobNamespaceSettings,
};
use std::{
    io::{BufRead, BufReader},
    os::{fd::FromRawFd, unix::net::UnixStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Uncounted per-candidate iterations.
const WARMUP: usize = 20;
/// The argument that turns this executable into the floor's helper process.
const FLOOR_HELPER: &str = "--floor-helper";
/// The argument that turns this executable into the node-memory helper process.
const NODE_MEMORY: &str = "--node-memory";
/// Floor helper requests (the first payload byte).
const PING: u8 = b'p';
const JOB: u8 = b'j';
/// Size of a ping frame's payload: about an execution request for the adder.
const PING_LEN: usize = 160;
/// How many adder candidates the node-memory helper keeps in flight.
const IN_FLIGHT: usize = 4;

/// Key figures for the summary at the end.
#[derive(Default)]
struct Summary(Vec<(String, String)>);

impl Summary {
    fn add(&mut self, figure: impl Into<String>, value: impl Into<String>) {
        self.0.push((figure.into(), value.into()));
    }

    fn print(&self) {
        println!("\nSUMMARY (medians; paste into BENCHMARKS.md)\n");
        println!("| figure | value |\n|---|---:|");
        for (figure, value) in &self.0 {
            println!("| {figure} | {value} |");
        }
    }
}

fn host_config(cache: &Path, execute_workers: usize) -> Config {
    Config {
        workers_path: Some(pvf_tests::workers_dir()),
        cache_path: Some(cache.to_path_buf()),
        execute_workers,
        ..Config::default()
    }
}

/// Starts a host on the current runtime; the join handle ends when it has stopped.
fn start_host(
    cache: &Path,
    execute_workers: usize,
) -> (ValidationHost, tokio::task::JoinHandle<()>) {
    let (handle, run) = host::start(host_config(cache, execute_workers)).expect("the host starts");
    (
        handle,
        tokio::spawn(async move { run.await.expect("the host stops cleanly") }),
    )
}

async fn stop(host: ValidationHost, running: tokio::task::JoinHandle<()>) {
    drop(host);
    running.await.expect("the host stops cleanly");
}

fn pvf(code: &[u8], kind: PvfPrepKind) -> PvfPrepData {
    PvfPrepData::new(
        ValidationCode(code.to_vec()),
        ExecutorParams::default(),
        kind,
    )
}

fn approval_timeout() -> Duration {
    ExecutorParams::default().exec_timeout(PvfExecKind::Approval)
}

// ---------------------------------------------------------------------------------------
// The floor's helper process.

/// The helper: serves pings and job creations on the Unix socket it got as stdin, until
/// the socket closes. Single-threaded, like a worker, so that `run_job_in` may fork.
fn floor_helper() {
    // SAFETY: the bench gave this process one end of a socket pair as its stdin.
    let mut sock = unsafe { UnixStream::from_raw_fd(0) };
    let mut spawn = if std::env::var("PVF_BENCH_FLOOR_SPAWN").as_deref() == Ok("fork") {
        Spawn::Fork
    } else {
        Spawn::Clone(JobNamespaceSettings::ALL)
    };
    while let Ok(request) = frame::read_frame::<_, Vec<u8>>(&mut sock) {
        let reply = match request.first() {
            Some(&PING) => request,
            Some(&JOB) => {
                let start = Instant::now();
                let mut end = run_job_in(spawn, Duration::from_secs(1), Vec::new);
                if end.is_err() && spawn != Spawn::Fork {
                    spawn = Spawn::Fork;
                    end = run_job_in(spawn, Duration::from_secs(1), Vec::new);
                }
                let took = start.elapsed();
                assert!(
                    matches!(&end, Ok(JobEnd::Reported(JobReport::Done(p), _)) if p.is_empty()),
                    "the empty job failed: {end:?}"
                );
                let mut reply = vec![JOB, u8::from(spawn != Spawn::Fork)];
                reply.extend_from_slice(&(took.as_nanos() as u64).to_le_bytes());
                reply
            }
            _ => panic!("unknown floor request {request:?}"),
        };
        frame::write_frame(&mut sock, &reply).expect("the bench reads replies");
    }
}

/// The bench's end of the floor helper.
struct Floor {
    child: Child,
    sock: UnixStream,
    ping: Vec<u8>,
    namespaced: Option<bool>,
}

impl Floor {
    fn start() -> Self {
        let (ours, theirs) = UnixStream::pair().expect("a socket pair");
        let child = Command::new(std::env::current_exe().expect("the bench's path"))
            .arg(FLOOR_HELPER)
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .spawn()
            .expect("the floor helper starts");
        Self {
            child,
            sock: ours,
            ping: vec![PING; PING_LEN],
            namespaced: None,
        }
    }

    fn request(&mut self, payload: &[u8]) -> Vec<u8> {
        frame::write_frame(&mut self.sock, &payload).expect("the helper reads");
        frame::read_frame::<_, Vec<u8>>(&mut self.sock).expect("the helper answers")
    }

    /// One IPC round trip.
    fn ping(&mut self) {
        let ping = std::mem::take(&mut self.ping);
        let pong = self.request(&ping);
        assert_eq!(pong, ping, "the helper echoes pings");
        self.ping = ping;
    }

    /// Creates one empty job in the helper; returns its creation time as the helper saw it.
    fn job(&mut self) -> Duration {
        let reply = self.request(&[JOB]);
        assert_eq!((reply.len(), reply[0]), (10, JOB), "job reply {reply:?}");
        self.namespaced = Some(reply[1] == 1);
        Duration::from_nanos(u64::from_le_bytes(reply[2..].try_into().expect("8 bytes")))
    }

    fn stop(mut self) {
        drop(self.sock);
        let status = self.child.wait().expect("the helper exits");
        assert!(status.success(), "the floor helper failed: {status}");
    }
}

// ---------------------------------------------------------------------------------------
// Per-candidate overhead.

async fn bench_overhead(oneshot: &Host, cache: &Path, iters: usize, summary: &mut Summary) {
    let params = ExecutorParams::default();
    let backing = params.exec_timeout(PvfExecKind::Backing);
    let adder = pvf(pvf_test_pvfs::adder(), PvfPrepKind::Prepare);
    let artifact = oneshot
        .prepare(&adder.code, &params, PvfPrepKind::Prepare)
        .await
        .expect("the adder prepares")
        .path;
    let mut worker = oneshot
        .spawn(WorkerKind::Execute)
        .await
        .expect("an execute worker");
    let mut bare_worker = oneshot
        .spawn_without_sandbox(WorkerKind::Execute)
        .await
        .expect("an execute worker without the sandbox");
    let (actor, running) = start_host(cache, 1);
    let shared_engine = engine(&params).expect("an engine");
    let mut floor = Floor::start();

    let mut samples = [
        Samples::new("host, actor (ValidationHost::execute_pvf)"),
        Samples::new("host, one worker (execute_on)"),
        Samples::new("in-process, engine reused (execute_artifact)"),
        Samples::new("floor: job creation (run_job_in, in helper)"),
        Samples::new("floor: IPC round trip (Unix socket)"),
        Samples::new("host, one worker without the sandbox"),
    ];
    let mut helper_job = Samples::new("helper request with an empty job (1 RTT + job)");
    let mut shuffler = Shuffler::new();
    for (i, cand) in adder_candidates(WARMUP + iters).iter().enumerate() {
        for variant in shuffler.order(samples.len()) {
            let start = Instant::now();
            let mut took = None;
            match variant {
                0 => {
                    let result = actor
                        .execute_pvf(
                            adder.clone(),
                            cand.params.clone(),
                            backing,
                            PvfExecKind::Backing,
                            None,
                        )
                        .await
                        .expect("the host validates the adder candidate");
                    check(&samples[0].name, &result, &cand.expected);
                }
                1 => {
                    let executed =
                        execute_on(&mut worker, &artifact, &cand.params, &params, backing)
                            .await
                            .expect("the worker validates the adder candidate");
                    check(&samples[1].name, &executed.result, &cand.expected);
                }
                2 => {
                    let result = execute::execute_artifact(
                        &shared_engine,
                        &artifact,
                        &cand.encoded,
                        &params,
                    )
                    .expect("in-process execution");
                    check(&samples[2].name, &result, &cand.expected);
                }
                3 => {
                    let in_helper = floor.job();
                    if i >= WARMUP {
                        helper_job.times.push(start.elapsed());
                    }
                    took = Some(in_helper);
                }
                4 => floor.ping(),
                _ => {
                    let executed =
                        execute_on(&mut bare_worker, &artifact, &cand.params, &params, backing)
                            .await
                            .expect("the bare worker validates the adder candidate");
                    check(&samples[5].name, &executed.result, &cand.expected);
                }
            }
            let took = took.unwrap_or_else(|| start.elapsed());
            if i >= WARMUP {
                samples[variant].times.push(took);
            }
        }
    }
    let clone_kind = match floor.namespaced {
        Some(true) => "clone (user, mount, pid, ipc, uts, cgroup namespaces)",
        _ => "fork",
    };
    floor.stop();
    worker.shutdown().await;
    bare_worker.shutdown().await;
    stop(actor, running).await;

    let [actor_rt, worker_rt, in_process, job, rtt, bare_rt] = &samples;
    print_table(
        &format!(
            "PER-CANDIDATE OVERHEAD: adder (ratio = host, actor / row); floor job created with {clone_kind}"
        ),
        &[
            actor_rt,
            worker_rt,
            bare_rt,
            in_process,
            job,
            rtt,
            &helper_job,
        ],
        Last::RatioTo(0),
    );
    let floor = job.median() + 2 * rtt.median();
    println!(
        "  floor = job {} + 2 x round trip {} = {}",
        fmt_dur(job.median()),
        fmt_dur(rtt.median()),
        fmt_dur(floor)
    );
    let lines = [
        ("host (actor) / floor", ratio(actor_rt.median(), floor)),
        (
            "host (one worker) / floor",
            ratio(worker_rt.median(), floor),
        ),
        (
            "host (actor) / in-process",
            ratio(actor_rt.median(), in_process.median()),
        ),
        (
            "host (one worker) / in-process",
            ratio(worker_rt.median(), in_process.median()),
        ),
        ("floor / in-process", ratio(floor, in_process.median())),
        (
            "sandbox: host (one worker) / same without the sandbox",
            ratio(worker_rt.median(), bare_rt.median()),
        ),
    ];
    for (name, r) in lines {
        println!("  {name}: {r:.2}x");
    }
    summary.add(
        "adder, host round trip (actor), p50",
        fmt_dur(actor_rt.median()),
    );
    summary.add(
        "adder, host round trip (one worker, execute_on), p50",
        fmt_dur(worker_rt.median()),
    );
    summary.add(
        "adder, host round trip without the sandbox (one worker), p50",
        fmt_dur(bare_rt.median()),
    );
    summary.add(
        "adder, in-process execution, p50",
        fmt_dur(in_process.median()),
    );
    summary.add(
        format!("floor: job creation ({clone_kind}), p50"),
        fmt_dur(job.median()),
    );
    summary.add("floor: IPC round trip, p50", fmt_dur(rtt.median()));
    summary.add("floor = job + 2 round trips", fmt_dur(floor));
    for (name, r) in lines {
        summary.add(name, format!("{r:.2}x"));
    }
}

// ---------------------------------------------------------------------------------------
// Preparation.

/// `code` with a custom section holding `nonce` appended: a different PVF to the host's
/// cache, the same module to the compiler.
fn with_nonce(code: &[u8], nonce: u64) -> Vec<u8> {
    pvf_test_pvfs::with_custom_section(code, "pvf-bench-nonce", &nonce.to_le_bytes())
}

/// A `compile_heavy` module of at least `bytes` bytes, and its function count.
fn heavy_module(bytes: usize) -> (Vec<u8>, u32) {
    let (small, large) = (compile_heavy(10).len(), compile_heavy(20).len());
    let per_function = (large - small) / 10;
    let mut functions = 10 + (bytes.saturating_sub(small)).div_ceil(per_function) as u32;
    loop {
        let code = compile_heavy(functions);
        if code.len() >= bytes {
            return (code, functions);
        }
        functions += 5;
    }
}

/// Runs `artifact` (in process) and checks the compile-heavy module's documented head.
fn check_heavy_artifact(artifact: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("heavy.artifact");
    std::fs::write(&path, artifact).expect("writing the artifact");
    let params = ExecutorParams::default();
    let vp = ValidationParams {
        parent_head: HeadData(Vec::new()),
        block_data: BlockData(Vec::new()),
        relay_parent_number: 0,
        relay_parent_storage_root: Hash::default(),
    };
    let engine = engine(&params).expect("an engine");
    let result = execute::execute_artifact(&engine, &path, &vp.encode(), &params)
        .expect("the compile-heavy artifact runs");
    assert_eq!(result.head_data.0, COMPILE_HEAVY_HEAD);
}

async fn bench_preparation(
    cache: &Path,
    heavy: &[u8],
    functions: u32,
    iters: usize,
    summary: &mut Summary,
) {
    let params = ExecutorParams::default();
    let (actor, running) = start_host(cache, 1);
    let mut host_wall = Samples::new("host: ValidationHost::precheck_pvf, wall");
    let mut local_wall = Samples::new("in-process: prepare, wall");
    let mut local_cpu = Samples::new("in-process: prepare, thread CPU");
    for i in 0..1 + iters {
        let code = with_nonce(heavy, i as u64);
        for k in 0..2 {
            if (i + k) % 2 == 0 {
                let start = Instant::now();
                actor
                    .precheck_pvf(pvf(&code, PvfPrepKind::Precheck))
                    .await
                    .unwrap_or_else(|e| panic!("the host failed to pre-check: {e}"));
                if i > 0 {
                    host_wall.times.push(start.elapsed());
                }
            } else {
                let (start, cpu) = (Instant::now(), thread_cpu_time());
                let artifact = prepare(
                    &code,
                    DEFAULT_VALIDATION_CODE_BOMB_LIMIT,
                    &params,
                    PvfPrepKind::Precheck,
                )
                .unwrap_or_else(|e| panic!("in-process preparation failed: {e}"));
                let (wall, cpu) = (start.elapsed(), thread_cpu_time() - cpu);
                if i == 0 {
                    check_heavy_artifact(&artifact);
                } else {
                    local_wall.times.push(wall);
                    local_cpu.times.push(cpu);
                }
            }
        }
    }
    let stats = actor.stats();
    assert_eq!(stats.preparations, 1 + iters as u64, "{stats:?}");
    stop(actor, running).await;
    print_table(
        &format!(
            "PREPARATION: compile_heavy({functions}), {} KB (ratio = host wall / row)",
            heavy.len() / 1000
        ),
        &[&host_wall, &local_wall, &local_cpu],
        Last::RatioTo(0),
    );
    let r = ratio(host_wall.median(), local_wall.median());
    summary.add(
        format!(
            "precheck of a {} KB module, host / in-process wall",
            heavy.len() / 1000
        ),
        format!(
            "{} / {} = {r:.2}x",
            fmt_dur(host_wall.median()),
            fmt_dur(local_wall.median())
        ),
    );
}

// ---------------------------------------------------------------------------------------
// Restart.

/// Starts a host on `cache`, validates one candidate and stops it; returns the time from
/// before start-up to the answer and the number of preparations.
async fn first_validation(
    cache: &Path,
    pvf: &PvfPrepData,
    params: &ValidationParams,
    expected: &ValidationResult,
) -> (Duration, u64) {
    let start = Instant::now();
    let (host, running) = start_host(cache, 2);
    let result = host
        .execute_pvf(
            pvf.clone(),
            params.clone(),
            approval_timeout(),
            PvfExecKind::Approval,
            None,
        )
        .await
        .expect("the first validation after a restart");
    let took = start.elapsed();
    check("first validation", &result, expected);
    let preparations = host.stats().preparations;
    stop(host, running).await;
    (took, preparations)
}

async fn bench_restart(heavy: &[u8], iters: usize, summary: &mut Summary) {
    let adder = adder_candidates(1).remove(0);
    let heavy_params = ValidationParams {
        parent_head: HeadData(Vec::new()),
        block_data: BlockData(Vec::new()),
        relay_parent_number: 0,
        relay_parent_storage_root: Hash::default(),
    };
    let heavy_expected = ValidationResult {
        head_data: HeadData(COMPILE_HEAVY_HEAD.to_vec()),
        ..Default::default()
    };
    let cases = [
        (
            "adder".to_string(),
            pvf(pvf_test_pvfs::adder(), PvfPrepKind::Prepare),
            adder.params,
            adder.expected,
        ),
        (
            format!("{} KB module", heavy.len() / 1000),
            pvf(heavy, PvfPrepKind::Prepare),
            heavy_params,
            heavy_expected,
        ),
    ];
    let warm = tempfile::tempdir().expect("a cache folder");
    for (_, pvf, params, expected) in &cases {
        first_validation(warm.path(), pvf, params, expected).await;
    }
    for (name, pvf, params, expected) in &cases {
        let mut warm_times = Samples::new(format!("{name}: warm cache"));
        let mut empty_times = Samples::new(format!("{name}: empty cache"));
        for i in 0..iters {
            for k in 0..2 {
                if (i + k) % 2 == 0 {
                    let (took, preparations) =
                        first_validation(warm.path(), pvf, params, expected).await;
                    assert_eq!(preparations, 0, "{name}: the warm cache was not used");
                    warm_times.times.push(took);
                } else {
                    let empty = tempfile::tempdir().expect("a cache folder");
                    let (took, preparations) =
                        first_validation(empty.path(), pvf, params, expected).await;
                    assert_eq!(preparations, 1, "{name}: nothing was prepared");
                    empty_times.times.push(took);
                }
            }
        }
        print_table(
            &format!("RESTART: time to the first validation, {name} (ratio = empty cache / row)"),
            &[&empty_times, &warm_times],
            Last::RatioTo(0),
        );
        summary.add(
            format!("restart, {name}: first validation, empty / warm cache"),
            format!(
                "{} / {} = {:.1}x",
                fmt_dur(empty_times.median()),
                fmt_dur(warm_times.median()),
                ratio(empty_times.median(), warm_times.median())
            ),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Throughput.

/// The undying compute knob for about `target` of job CPU time, from two calibration runs.
async fn calibrate_undying(oneshot: &Host, target: Duration) -> (u32, Duration) {
    let params = ExecutorParams::default();
    let artifact = oneshot
        .prepare(
            &ValidationCode(pvf_test_pvfs::undying().to_vec()),
            &params,
            PvfPrepKind::Prepare,
        )
        .await
        .expect("undying prepares")
        .path;
    let mut worker = oneshot
        .spawn(WorkerKind::Execute)
        .await
        .expect("an execute worker");
    let mut cpu = async |iterations| {
        let executed = execute_on(
            &mut worker,
            &artifact,
            &undying_params(iterations, 0),
            &params,
            approval_timeout(),
        )
        .await
        .expect("undying runs");
        Duration::from_nanos(executed.cpu_time_ns)
    };
    const PROBE: u32 = 20_000;
    let base = cpu(0).await;
    let probe = cpu(PROBE).await;
    let per_iteration = probe.saturating_sub(base).as_secs_f64() / f64::from(PROBE);
    let iterations = ((target.saturating_sub(base)).as_secs_f64() / per_iteration) as u32;
    let check = cpu(iterations).await;
    worker.shutdown().await;
    (iterations, check)
}

async fn bench_throughput(
    oneshot: &Host,
    target: Duration,
    candidates: usize,
    rounds: usize,
    summary: &mut Summary,
) {
    let (iterations, job_cpu) = calibrate_undying(oneshot, target).await;
    let genesis = adder_chain::genesis_head();
    let block = adder_chain::UndyingBlockData {
        state: 0,
        iterations,
        padding: Vec::new(),
    };
    let head = adder_chain::undying_next_head(&genesis, &block).encode();
    let undying = pvf(pvf_test_pvfs::undying(), PvfPrepKind::Prepare);
    let cache = tempfile::tempdir().expect("a cache folder");
    let mut per_candidate = [
        Samples::new("1 execute worker: wall per candidate"),
        Samples::new("2 execute workers: wall per candidate"),
    ];
    for round in 0..rounds {
        for w in [1, 2] {
            let workers = if round % 2 == 0 { w } else { 3 - w };
            let (host, running) = start_host(cache.path(), workers);
            let run = |n: usize| {
                join_all((0..n).map(|i| {
                    let host = host.clone();
                    let undying = undying.clone();
                    let expected = ValidationResult {
                        head_data: HeadData(head.clone()),
                        hrmp_watermark: i as u32,
                        ..Default::default()
                    };
                    async move {
                        let result = host
                            .execute_pvf(
                                undying,
                                undying_params(iterations, i as u32),
                                approval_timeout(),
                                PvfExecKind::Approval,
                                None,
                            )
                            .await
                            .expect("undying validates");
                        check("undying", &result, &expected);
                    }
                }))
            };
            run(workers).await; // spawns the workers (and prepares once)
            let start = Instant::now();
            run(candidates).await;
            let took = start.elapsed();
            per_candidate[workers - 1]
                .times
                .push(took / candidates as u32);
            stop(host, running).await;
        }
    }
    let [one, two] = &per_candidate;
    print_table(
        &format!(
            "THROUGHPUT: undying, {iterations} keccak rounds (job CPU {}), {candidates} candidates at once (ratio = 1 worker / row)",
            fmt_dur(job_cpu)
        ),
        &[one, two],
        Last::RatioTo(0),
    );
    let per_second = |s: &Samples| 1.0 / s.median().as_secs_f64();
    let r = ratio(one.median(), two.median());
    // Each round measures both back to back: its own ratio is less exposed to load that
    // comes and goes than the ratio of medians.
    let rounds: Vec<String> = one
        .times
        .iter()
        .zip(&two.times)
        .map(|(a, b)| format!("{:.2}x", ratio(*a, *b)))
        .collect();
    println!("  ratio per round: {}", rounds.join(", "));
    println!(
        "  candidates per second: {:.1} (1 worker), {:.1} (2 workers); ratio {r:.2}x",
        per_second(one),
        per_second(two)
    );
    summary.add(
        format!(
            "throughput, undying ({} job CPU): candidates/s 1 worker -> 2 workers",
            fmt_dur(job_cpu)
        ),
        format!("{:.1} -> {:.1} = {r:.2}x", per_second(one), per_second(two)),
    );
}

// ---------------------------------------------------------------------------------------
// Memory.

/// RSS of an idle worker of `kind`: right after the handshake, and after one job.
async fn idle_worker_rss(oneshot: &Host, kind: WorkerKind) -> (u64, u64) {
    let settle = || tokio::time::sleep(Duration::from_millis(200));
    let params = ExecutorParams::default();
    let mut worker = oneshot.spawn(kind).await.expect("a worker");
    let pid = worker.pid().expect("a live worker has a pid");
    settle().await;
    let fresh = vm_rss_kib(pid).expect("the worker's status");
    let adder = ValidationCode(pvf_test_pvfs::adder().to_vec());
    match kind {
        WorkerKind::Prepare => {
            let pvf = PvfPrepData::new(adder, params, PvfPrepKind::Prepare);
            let answer = host::exchange::prepare(&mut worker, &pvf).await;
            assert!(matches!(answer, Ok(Ok(_))), "{answer:?}");
        }
        WorkerKind::Execute => {
            let artifact = oneshot
                .prepare(&adder, &params, PvfPrepKind::Prepare)
                .await
                .expect("the adder prepares")
                .path;
            let cand = adder_candidates(1).remove(0);
            let executed = execute_on(
                &mut worker,
                &artifact,
                &cand.params,
                &params,
                approval_timeout(),
            )
            .await
            .expect("the adder runs");
            check("adder", &executed.result, &cand.expected);
        }
    }
    settle().await;
    let after_job = vm_rss_kib(pid).expect("the worker's status");
    worker.shutdown().await;
    (fresh, after_job)
}

/// Live execute workers among this process's children.
fn execute_worker_pids() -> Vec<u32> {
    let mut pids = Vec::new();
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children.split_whitespace().filter_map(|p| p.parse().ok()) {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.starts_with("pvf-execute") {
                pids.push(pid);
            }
        }
    }
    pids
}

/// The node-memory helper: a process that only runs a `ValidationHost`, validates the
/// candidates and prints `rss <validated> <own KiB> <worker KiB>...` at each checkpoint.
fn node_memory() {
    let total = env_or("PVF_BENCH_MEMORY_CANDIDATES", 10_000);
    let warmup = 100;
    let cache = tempfile::tempdir().expect("a cache folder");
    let adder = pvf(pvf_test_pvfs::adder(), PvfPrepKind::Prepare);
    let report = |validated: usize| {
        let own = vm_rss_kib(std::process::id()).expect("own status");
        let workers: Vec<String> = execute_worker_pids()
            .into_iter()
            .filter_map(vm_rss_kib)
            .map(|kib| kib.to_string())
            .collect();
        println!("rss {validated} {own} {}", workers.join(" "));
    };
    pvf_tests::runtime().block_on(async {
        let (host, running) = start_host(cache.path(), 2);
        let mut chain = AdderChain::default();
        let mut validate = async |n: usize| {
            futures::stream::iter(chain.by_ref().take(n))
                .map(|cand| {
                    let host = host.clone();
                    let adder = adder.clone();
                    async move {
                        let result = host
                            .execute_pvf(
                                adder,
                                cand.params,
                                approval_timeout(),
                                PvfExecKind::Approval,
                                None,
                            )
                            .await
                            .expect("the adder validates");
                        check("adder", &result, &cand.expected);
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .collect::<Vec<()>>()
                .await;
        };
        validate(warmup).await;
        report(0);
        let mut done = 0;
        for checkpoint in [1_000, 5_000, total] {
            if checkpoint > done && checkpoint <= total {
                validate(checkpoint - done).await;
                done = checkpoint;
                report(done);
            }
        }
        stop(host, running).await;
    });
}

async fn bench_memory(oneshot: &Host, summary: &mut Summary) {
    let (prepare_fresh, prepare_used) = idle_worker_rss(oneshot, WorkerKind::Prepare).await;
    let (execute_fresh, execute_used) = idle_worker_rss(oneshot, WorkerKind::Execute).await;
    println!("\nMEMORY: VmRSS of idle workers (KiB)");
    println!("  prepare worker: {prepare_fresh} after the handshake, {prepare_used} after one job");
    println!("  execute worker: {execute_fresh} after the handshake, {execute_used} after one job");
    summary.add(
        "idle prepare worker RSS (fresh / after one job)",
        format!("{prepare_fresh} / {prepare_used} KiB"),
    );
    summary.add(
        "idle execute worker RSS (fresh / after one job)",
        format!("{execute_fresh} / {execute_used} KiB"),
    );

    let total = env_or("PVF_BENCH_MEMORY_CANDIDATES", 10_000);
    let max_growth = env_or("PVF_BENCH_MAX_GROWTH_KIB", 16 * 1024) as u64;
    let start = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("the bench's path"))
        .arg(NODE_MEMORY)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the node-memory helper starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut rows = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("the helper's output");
        let Some(fields) = line.strip_prefix("rss ") else {
            continue;
        };
        let numbers: Vec<u64> = fields
            .split_whitespace()
            .map(|n| n.parse().expect("a number"))
            .collect();
        rows.push(numbers);
    }
    let status = child.wait().expect("the helper exits");
    assert!(status.success(), "the node-memory helper failed: {status}");
    let took = start.elapsed();
    println!(
        "\nMEMORY: node side (a process running only a ValidationHost, 2 execute workers), {total} adder candidates in {}",
        fmt_dur(took)
    );
    println!(
        "  {:>10} {:>12} {:>12} {:>24}",
        "validated", "node KiB", "vs 1 000", "execute workers KiB"
    );
    let at_1k = rows
        .iter()
        .find(|r| r[0] == 1_000)
        .map(|r| r[1])
        .expect("a sample at 1 000");
    for r in &rows {
        let workers: Vec<String> = r[2..].iter().map(u64::to_string).collect();
        println!(
            "  {:>10} {:>12} {:>11.3}x {:>24}",
            r[0],
            r[1],
            r[1] as f64 / at_1k as f64,
            workers.join(", ")
        );
    }
    let last = rows.last().expect("samples");
    assert_eq!(last[0], total as u64, "the helper validated everything");
    let growth = last[1].saturating_sub(at_1k);
    assert!(
        growth <= max_growth,
        "the node grew by {growth} KiB between 1 000 and {total} candidates (limit {max_growth} KiB)"
    );
    summary.add(
        format!("node RSS at 1 000 -> {total} candidates"),
        format!(
            "{at_1k} -> {} KiB ({:.3}x)",
            last[1],
            last[1] as f64 / at_1k as f64
        ),
    );
    summary.add(
        format!("{total} adder candidates through the host (4 in flight, 2 workers)"),
        format!(
            "{} ({:.0}/s)",
            fmt_dur(took),
            total as f64 / took.as_secs_f64()
        ),
    );
}

// ---------------------------------------------------------------------------------------

fn run() {
    let sections = std::env::var("PVF_BENCH_SECTIONS")
        .unwrap_or_else(|_| "overhead,prepare,restart,throughput,memory".into());
    let on = |name: &str| sections.split(',').any(|s| s.trim() == name);
    let iters = env_or("PVF_BENCH_ITERS", 300);
    let prep_iters = env_or("PVF_BENCH_PREP_ITERS", 5);
    let prep_bytes = env_or("PVF_BENCH_PREP_BYTES", 2 << 20);
    let restart_iters = env_or("PVF_BENCH_RESTART_ITERS", 5);
    let throughput_ms = env_or("PVF_BENCH_THROUGHPUT_MS", 75);
    let throughput_candidates = env_or("PVF_BENCH_THROUGHPUT_CANDIDATES", 24);
    let throughput_rounds = env_or("PVF_BENCH_THROUGHPUT_ROUNDS", 3);
    let started = Instant::now();
    println!(
        "load average at start: {}\nworkers: {}\nsections: {sections}",
        load_average(),
        pvf_tests::workers_dir().display(),
    );
    let cache = tempfile::tempdir().expect("a cache folder");
    let oneshot = pvf_tests::host(&cache.path().join("oneshot"));
    let needs_heavy = on("prepare") || on("restart");
    let (heavy, functions) = if needs_heavy {
        heavy_module(prep_bytes)
    } else {
        (Vec::new(), 0)
    };
    let mut summary = Summary::default();
    pvf_tests::runtime().block_on(async {
        if on("overhead") {
            bench_overhead(&oneshot, &cache.path().join("actor"), iters, &mut summary).await;
        }
        if on("prepare") {
            let dir = cache.path().join("prepare");
            bench_preparation(&dir, &heavy, functions, prep_iters, &mut summary).await;
        }
        if on("restart") {
            bench_restart(&heavy, restart_iters, &mut summary).await;
        }
        if on("throughput") {
            let target = Duration::from_millis(throughput_ms as u64);
            bench_throughput(
                &oneshot,
                target,
                throughput_candidates,
                throughput_rounds,
                &mut summary,
            )
            .await;
        }
        if on("memory") {
            bench_memory(&oneshot, &mut summary).await;
        }
    });
    summary.print();
    println!(
        "\nload average at end: {}; whole run {}",
        load_average(),
        fmt_dur(started.elapsed())
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == FLOOR_HELPER) {
        floor_helper();
    } else if args.iter().any(|a| a == NODE_MEMORY) {
        node_memory();
    } else {
        // In-process execution runs on a thread with the stack the worker gives its job
        // thread, so that the Wasm stack limit means the same thing in both.
        run_on_job_stack("host-floor-bench", run);
    }
}
