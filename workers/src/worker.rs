//! The worker binaries' main loop.
//!
//! `pvf-prepare-worker --socket-path P --worker-dir D --node-version V` connects to the host,
//! answers the handshake, then serves one request at a time until the host closes the socket
//! (or goes away). Every job runs in its own child process ([`crate::job`]).

use crate::{
    alloc_tracker, engine,
    execute::{self, ExecError},
    job::{self, JobEnd, JobReport, Usage},
    prepare,
    sandbox::{self, WorkerConfinement, WorkerRoot},
};
use clap::Parser;
use parity_scale_codec::{DecodeAll, Encode};
use pvf_messages::{
    ExecutorParams, PrepareError,
    frame::{self, FrameError},
    protocol::{
        CgroupSettings, ExecuteRequest, ExecuteResponse, Handshake, HandshakeReply,
        PrepareMemoryStats, PrepareRequest, PrepareResponse, PrepareSuccess, WorkerInfo,
        WorkerKind,
    },
    version::{self, BUILD_ID, FULL_VERSION, VERSION},
};
use std::{
    io::Write,
    os::unix::{ffi::OsStrExt, fs::OpenOptionsExt, net::UnixStream},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

/// File name of the artifact a preparation job writes into the worker directory.
pub const ARTIFACT_FILE: &str = pvf_messages::protocol::ARTIFACT_FILE_NAME;
/// Extra native stack for the execution thread beyond what Wasm may use.
const STACK_HEADROOM: usize = 32 * 1024 * 1024;

/// Command-line arguments shared by both worker binaries.
#[derive(Parser, Debug)]
#[command(version = FULL_VERSION, about = "A PVF worker; spawned by pvf-node, not run by hand.")]
pub struct Args {
    /// Unix socket to connect back to the host on.
    #[arg(long, required_unless_present = "probe_sandbox")]
    pub socket_path: Option<PathBuf>,
    /// Directory this worker may write to (the preparation artifact goes here).
    #[arg(long, required_unless_present = "probe_sandbox")]
    pub worker_dir: Option<PathBuf>,
    /// Try every sandbox layer in throw-away job processes, print the outcome as JSON and
    /// exit (what the node and `pvf-node doctor` use to learn what this machine supports).
    #[arg(long)]
    pub probe_sandbox: bool,
    /// The node's version; a mismatch with this binary's is reported in the handshake.
    #[arg(long)]
    pub node_version: Option<String>,
    /// The role to serve, overriding the binary's own (lets one binary serve both roles in tests).
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<WorkerKind>,
}

fn parse_kind(s: &str) -> Result<WorkerKind, String> {
    match s {
        "prepare" => Ok(WorkerKind::Prepare),
        "execute" => Ok(WorkerKind::Execute),
        other => Err(format!(
            "unknown worker kind {other:?}: expected prepare or execute"
        )),
    }
}

/// Entry point of a worker binary serving `kind`.
pub fn main(kind: WorkerKind) -> ExitCode {
    let args = Args::parse();
    crate::pvf_log::install();
    let kind = args.kind.unwrap_or(kind);
    if args.probe_sandbox {
        let dir = args.worker_dir.clone().unwrap_or_else(std::env::temp_dir);
        println!("{}", sandbox::probe_json(&dir));
        return ExitCode::SUCCESS;
    }
    match run(kind, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {e}", kind.binary_name());
            ExitCode::FAILURE
        }
    }
}

/// Why a worker stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Could not connect to the host's socket.
    #[error("cannot connect to {path}: {err}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The error.
        err: std::io::Error,
    },
    /// The host broke the protocol or the socket failed.
    #[error("host connection: {0}")]
    Frame(#[from] FrameError),
    /// The handshake was refused (version or role mismatch); details went to the host.
    #[error("handshake refused: {0}")]
    Refused(String),
    /// The worker's folder could not be cleared after a job: the next job would find what the
    /// last one left, so the worker stops after its answer.
    #[error("retired: {0}")]
    Retired(String),
}

fn info() -> WorkerInfo {
    WorkerInfo {
        pid: std::process::id(),
        version: VERSION.into(),
        build_id: BUILD_ID.into(),
    }
}

/// Connects, shakes hands and serves requests until the host closes the socket.
pub fn run(kind: WorkerKind, args: &Args) -> Result<(), WorkerError> {
    let (Some(socket_path), Some(worker_dir)) = (&args.socket_path, &args.worker_dir) else {
        return Err(WorkerError::Refused(
            "--socket-path and --worker-dir are required".into(),
        ));
    };
    let stream = UnixStream::connect(socket_path).map_err(|err| WorkerError::Connect {
        path: socket_path.clone(),
        err,
    })?;
    // Plain `read`/`write` from here on: the worker's own seccomp filter (see [`confine`])
    // forbids the socket calls (`recvfrom`, `sendto`) a `UnixStream` would use.
    let mut stream = std::fs::File::from(std::os::fd::OwnedFd::from(stream));
    let handshake: Handshake = frame::read_frame(&mut stream)?;
    if handshake.kind != kind {
        frame::write_frame(&mut stream, &HandshakeReply::WrongKind { serves: kind })?;
        return Err(WorkerError::Refused(format!(
            "spawned as a {} worker",
            handshake.kind.as_str()
        )));
    }
    let cli_matches = args.node_version.as_deref().is_none_or(|v| v == VERSION);
    // An unidentified build (`unknown`) never pairs, not even with another unknown one.
    let mismatch = !cli_matches
        || handshake.node_version != VERSION
        || !version::builds_match(&handshake.build_id, BUILD_ID);
    if mismatch && !handshake.skip_version_check {
        frame::write_frame(&mut stream, &HandshakeReply::VersionMismatch(info()))?;
        return Err(WorkerError::Refused(format!(
            "node {} ({}) != worker {FULL_VERSION}",
            handshake.node_version, handshake.build_id
        )));
    }
    let confined = match confine(kind, worker_dir, &handshake) {
        Ok(c) => c,
        Err(e) => {
            let why = format!("confining the worker: {e}");
            frame::write_frame(&mut stream, &HandshakeReply::SandboxFailed(why.clone()))?;
            return Err(WorkerError::Refused(why));
        }
    };
    // Per-process caches the jobs would otherwise each fill again after being forked: the
    // checksum's CPU-feature detection.
    pvf_messages::checksum::of_bytes(&[]);
    frame::write_frame(&mut stream, &HandshakeReply::Ready(info()))?;
    let mut executor = Executor::default();
    loop {
        let payload = match frame::read_frame_bytes(&mut stream) {
            Ok(p) => p,
            Err(FrameError::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        match kind {
            WorkerKind::Prepare => {
                let req: PrepareRequest = frame::decode_payload(&payload)?;
                let (response, retire) = handle_prepare(req, &confined);
                frame::write_frame(&mut stream, &response)?;
                if let Retire::Yes(why) = retire {
                    return Err(WorkerError::Retired(why));
                }
            }
            WorkerKind::Execute => {
                let req: ExecuteRequest = frame::decode_payload(&payload)?;
                let response = executor.execute(req, &confined);
                frame::write_frame(&mut stream, &response)?;
                executor.prepare_next(&confined);
            }
        }
    }
}

/// A worker after [`confine`]: its root, and what each of its jobs still applies itself.
#[derive(Clone, Debug)]
pub struct Confined {
    /// The worker's folder and the artifact cache, as the worker sees them.
    pub root: WorkerRoot,
    /// The sandbox each job enters; the layers the worker applied to itself are inherited
    /// and not repeated here.
    pub job_policy: sandbox::Policy,
}

/// Confines a worker of `kind` at start-up, as the handshake asks: its cgroup, then its
/// namespaces and `pivot_root`, then the layers all its jobs share (`no_new_privs`,
/// Landlock, seccomp), which jobs inherit when they are created instead of installing them
/// each time: installing a seccomp filter costs a job ~0.1 ms, Landlock tens of µs.
/// Call it while the worker is single-threaded.
pub fn confine(
    kind: WorkerKind,
    worker_dir: &Path,
    handshake: &Handshake,
) -> Result<Confined, String> {
    let security = &handshake.security;
    // A session of its own without a controlling terminal, once for the worker and all its
    // jobs (a `setsid` per job would cost each job a scheduler autogroup): the node's terminal
    // is out of the jobs' reach (TIOCSTI needs it to be the caller's controlling terminal).
    // Fails only for a process group leader, which a spawned worker is not.
    let _ = rustix::process::setsid();
    sandbox::warm_up();
    join_cgroups(&handshake.cgroup).map_err(|e| e.to_string())?;
    let execute = kind == WorkerKind::Execute;
    if execute {
        // Where the node links each job's artifact; created before any mount is made.
        let job_dir = worker_dir.join(sandbox::namespaces::JOB_DIR);
        std::fs::create_dir_all(&job_dir)
            .map_err(|e| format!("creating {}: {e}", job_dir.display()))?;
    }
    let mut root = WorkerRoot::new(worker_dir.to_path_buf(), execute);
    let confinement = WorkerConfinement {
        net_namespace: security.net_namespace,
        pivot_root: security.pivot_root,
        read_only: kind == WorkerKind::Execute,
    };
    sandbox::confine_worker(&mut root, confinement).map_err(|e| e.to_string())?;
    let mut policy = sandbox::Policy {
        landlock: security.landlock,
        seccomp: security.seccomp,
        namespaces: security.job_namespaces,
        writable: Vec::new(),
        readable: Vec::new(),
        write_only_file: None,
    };
    match kind {
        WorkerKind::Prepare => policy.writable.push(root.worker_dir()),
        // Only the job folder, which holds the artifact of the job at hand and nothing else.
        WorkerKind::Execute => policy.readable.extend(root.job_dir()),
    }
    sandbox::restrict(&policy).map_err(|e| e.to_string())?;
    let write_only_file = (kind == WorkerKind::Prepare && security.landlock)
        .then(|| root.worker_dir().join(ARTIFACT_FILE));
    let job_policy = sandbox::Policy {
        landlock: false,
        seccomp: false,
        write_only_file,
        ..policy
    };
    Ok(Confined { root, job_policy })
}

/// Moves the worker into the cgroups the host named, with their limits.
fn join_cgroups(settings: &CgroupSettings) -> Result<(), sandbox::cgroup::CgroupError> {
    let parents: Vec<PathBuf> = settings.parents.iter().map(PathBuf::from).collect();
    let limits = sandbox::cgroup::CgroupLimits {
        pids_max: settings.pids_max,
        memory_max: settings.memory_max,
    };
    sandbox::cgroup::join(&parents, limits).map(drop)
}

/// Whether a worker must stop after its answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Retire {
    /// It may serve the next request.
    No,
    /// It must not: why.
    Yes(String),
}

/// Removes everything in `dir` except the file `keep`, without following symbolic links.
pub fn clear_worker_dir(dir: &Path, keep: Option<&Path>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if keep == Some(path.as_path()) && entry.file_type()?.is_file() {
            continue;
        }
        let removed = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// One preparation job in the worker's folder: the folder is cleared before the job and after
/// it (all but the artifact of a job that reported), and the artifact is created empty by the
/// worker, so that the job needs to (and, with Landlock, may) write only that file (see
/// [`sandbox::landlock::restrict_to_writing`]); whatever a job managed to leave (where
/// Landlock is not there to stop it) is gone before the node looks at the artifact and before
/// the next job starts. `job` runs in the job process, in its sandbox, and gets the artifact's
/// path. A folder that cannot be cleared retires the worker.
pub fn prepare_cycle(
    confined: &Confined,
    budget: Duration,
    job: impl FnOnce(&Path) -> Vec<u8>,
) -> (Result<std::io::Result<JobEnd>, PrepareError>, Retire) {
    let worker_dir = confined.root.worker_dir();
    let artifact = worker_dir.join(ARTIFACT_FILE);
    let retire = |e: std::io::Error| {
        let why = format!("clearing the worker's folder: {e}");
        (
            Err(PrepareError::ClearWorkerDir(why.clone())),
            Retire::Yes(why),
        )
    };
    if let Err(e) = clear_worker_dir(&worker_dir, None) {
        return retire(e);
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        // Readable by all: execute jobs run as an unmapped user of their own namespace.
        .mode(0o644)
        .open(&artifact)
    {
        let why = format!("{}: {e}", artifact.display());
        return (Err(PrepareError::CreateTmpFile(why)), Retire::No);
    }
    let policy = &confined.job_policy;
    let end = job::run_job_in(policy.spawn(), budget, || {
        sandbox::enter_or_exit(policy);
        sandbox::cpu_backstop_or_exit(budget);
        job(&artifact)
    });
    let reported = matches!(end, Ok(JobEnd::Reported(JobReport::Done(_), _)));
    match clear_worker_dir(&worker_dir, reported.then_some(artifact.as_path())) {
        Ok(()) => (Ok(end), Retire::No),
        Err(e) => retire(e),
    }
}

/// Runs one preparation job, which writes the artifact into the worker's folder
/// ([`prepare_cycle`]).
pub fn handle_prepare(req: PrepareRequest, confined: &Confined) -> (PrepareResponse, Retire) {
    let limit = req.executor_params.prep_memory_limit(req.kind);
    let budget = Duration::from_millis(req.cpu_timeout_ms);
    let (end, retire) = prepare_cycle(confined, budget, |artifact| {
        alloc_tracker::start(limit);
        prepare_job(&req, artifact).encode()
    });
    let result = end.and_then(|end| match end {
        Err(e) => Err(PrepareError::Kernel(e.to_string())),
        Ok(JobEnd::Reported(JobReport::Done(payload), usage)) => {
            decode_job_payload::<PrepareResponse>(&payload)
                .map_err(PrepareError::JobDied)
                .and_then(|r| r)
                .map(|mut ok| {
                    ok.cpu_time_ns = usage.cpu.as_nanos() as u64;
                    ok.memory.max_rss_bytes = usage.max_rss_bytes;
                    ok
                })
        }
        Ok(JobEnd::Reported(JobReport::Panicked(msg), _)) => Err(PrepareError::JobError(msg)),
        Ok(JobEnd::TimedOut(_)) => Err(PrepareError::TimedOut),
        Ok(JobEnd::Exited(alloc_tracker::OOM_EXIT_CODE, _)) => Err(PrepareError::OutOfMemory {
            limit: limit.unwrap_or(u64::MAX),
        }),
        Ok(JobEnd::Exited(sandbox::SANDBOX_EXIT_CODE, _)) => Err(PrepareError::Kernel(
            "the job could not enter its sandbox (see the worker's stderr)".into(),
        )),
        Ok(JobEnd::Exited(code, _)) => {
            Err(PrepareError::JobDied(format!("exited with status {code}")))
        }
        Ok(JobEnd::Died(reason, _)) => Err(PrepareError::JobDied(reason)),
    });
    (result, retire)
}

/// The body of a preparation job (in the child process).
fn prepare_job(req: &PrepareRequest, artifact: &Path) -> PrepareResponse {
    let bytes = prepare::prepare(
        &req.code,
        req.code_bomb_limit,
        &req.executor_params,
        req.kind,
    )?;
    // The worker created the file; the job may write it and nothing else.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(artifact)
        .and_then(|mut f| f.write_all(&bytes))
        .map_err(|e| PrepareError::CreateTmpFile(format!("{}: {e}", artifact.display())))?;
    Ok(PrepareSuccess {
        artifact_len: bytes.len() as u64,
        cpu_time_ns: 0,
        memory: PrepareMemoryStats {
            peak_tracked_bytes: alloc_tracker::peak(),
            max_rss_bytes: 0,
        },
    })
}

fn decode_job_payload<T: DecodeAll>(payload: &[u8]) -> Result<T, String> {
    T::decode_all(&mut &payload[..]).map_err(|e| format!("malformed job payload: {e}"))
}

/// The engine of the last executor-parameter set, kept in the worker across jobs.
///
/// Creating an engine detects CPU features and validates the configuration (~60 µs, more in
/// a VM where `cpuid` traps); doing it once in the worker, before the job is forked, takes
/// that off every job. The worker is single-threaded and an engine without parallel
/// compilation owns no threads, so forking with one alive is sound.
#[derive(Default)]
pub struct EngineCache {
    current: Option<(ExecutorParams, wasmtime::Engine)>,
}

impl EngineCache {
    /// The engine for `params`, created if the last one was for other parameters.
    pub fn get(&mut self, params: &ExecutorParams) -> Result<wasmtime::Engine, String> {
        match &self.current {
            Some((p, engine)) if p == params => Ok(engine.clone()),
            _ => {
                let engine = engine::engine(params)?;
                self.current = Some((params.clone(), engine.clone()));
                Ok(engine)
            }
        }
    }
}

/// Largest request a [`job::Standby`] is given; larger ones (a big proof of validity) go to a
/// freshly created job, which shares the worker's copy of the request instead of reading it
/// through a pipe.
const STANDBY_MAX_INPUT: usize = 256 * 1024;

/// An execute worker's state between requests: the engine of the last executor parameters,
/// and a job process created ahead of the next request for those parameters.
#[derive(Default)]
pub struct Executor {
    engines: EngineCache,
    standby: Option<(ExecutorParams, job::Standby)>,
}

impl Executor {
    /// Reaps the last job and creates the process for the next one while the host reads the
    /// last answer, so that the next request does not wait for either.
    pub fn prepare_next(&mut self, confined: &Confined) {
        job::reap_unreaped();
        let Some((params, engine)) = self.engines.current.clone() else {
            return;
        };
        let policy = confined.job_policy.clone();
        let job_params = params.clone();
        self.standby = job::standby(policy.spawn(), move |input| {
            standby_job(&policy, &job_params, &engine, input)
        })
        .ok()
        .map(|job| (params, job));
    }

    /// Runs one execution job: in the job created ahead if it was made for these executor
    /// parameters and the request is small enough, else in a new one.
    pub fn execute(&mut self, req: ExecuteRequest, confined: &Confined) -> ExecuteResponse {
        let standby = self.standby.take();
        let artifact = match confined.root.artifact(Path::new(&req.artifact_path)) {
            Ok(path) => path,
            Err(e) => return ExecuteResponse::Internal(e),
        };
        let engine = match self.engines.get(&req.executor_params) {
            Ok(e) => e,
            Err(e) => return ExecuteResponse::RuntimeConstruction(e),
        };
        let budget = Duration::from_millis(req.cpu_timeout_ms);
        let input = (&req, artifact.as_os_str().as_encoded_bytes());
        // Sized before it is encoded: a request too big for a standby is not copied at all.
        let ahead = standby
            .filter(|(params, _)| {
                *params == req.executor_params && input.encoded_size() <= STANDBY_MAX_INPUT
            })
            .and_then(|(_, job)| job.run(&input.encode(), job::Collect::OnReport, budget));
        let policy = &confined.job_policy;
        let end = ahead.unwrap_or_else(|| {
            job::run_job_with(policy.spawn(), job::Collect::OnReport, budget, || {
                sandbox::enter_or_exit(policy);
                sandbox::cpu_backstop_or_exit(budget);
                execute_job(req, artifact, engine).encode()
            })
        });
        execute_response(end)
    }
}

/// The body of a standby execution job: enter the sandbox, start the execution thread, wait
/// for the request, run it.
fn standby_job(
    policy: &sandbox::Policy,
    params: &ExecutorParams,
    engine: &wasmtime::Engine,
    input: job::Input,
) -> Vec<u8> {
    sandbox::enter_or_exit(policy);
    let thread = ExecutionThread::start(params, engine.clone());
    let bytes = input.read();
    if bytes.is_empty() {
        // The worker gave up on this job (other executor parameters, or it is stopping).
        // SAFETY: ends the job process without running the worker's destructors.
        unsafe { libc::_exit(0) };
    }
    let response = match (
        <(ExecuteRequest, Vec<u8>)>::decode_all(&mut &bytes[..]),
        thread,
    ) {
        (Ok((req, artifact)), Ok(thread)) => {
            sandbox::cpu_backstop_or_exit(Duration::from_millis(req.cpu_timeout_ms));
            thread.run(req, PathBuf::from(std::ffi::OsStr::from_bytes(&artifact)))
        }
        (Err(e), _) => ExecuteResponse::Internal(format!("the job's input is malformed: {e}")),
        (_, Err(e)) => ExecuteResponse::Internal(format!("spawning the execution thread: {e}")),
    };
    response.encode()
}

/// The answer to the host for a job that ended as `end`.
fn execute_response(end: std::io::Result<JobEnd>) -> ExecuteResponse {
    let cpu = |u: Usage| u.cpu.as_nanos() as u64;
    match end {
        Err(e) => ExecuteResponse::Internal(e.to_string()),
        Ok(JobEnd::Reported(JobReport::Done(payload), usage)) => {
            match decode_job_payload::<ExecuteResponse>(&payload) {
                Ok(ExecuteResponse::Ok { result, .. }) => ExecuteResponse::Ok {
                    result,
                    cpu_time_ns: cpu(usage),
                },
                Ok(other) => other,
                Err(e) => ExecuteResponse::JobDied(e),
            }
        }
        Ok(JobEnd::Reported(JobReport::Panicked(msg), _)) => ExecuteResponse::JobError(msg),
        Ok(JobEnd::TimedOut(usage)) => ExecuteResponse::TimedOut {
            cpu_time_ns: cpu(usage),
        },
        Ok(JobEnd::Exited(sandbox::SANDBOX_EXIT_CODE, _)) => ExecuteResponse::Internal(
            "the job could not enter its sandbox (see the worker's stderr)".into(),
        ),
        Ok(JobEnd::Exited(code, _)) => {
            ExecuteResponse::JobDied(format!("exited with status {code}"))
        }
        Ok(JobEnd::Died(reason, _)) => ExecuteResponse::JobDied(reason),
    }
}

/// What an execution thread is given: the request and the artifact's path in this worker.
type Work = (ExecuteRequest, std::fs::File);

/// The thread an execution job runs the PVF on, with a stack large enough for the native
/// stack limit granted to Wasm. Started before the work is known in a standby job, so that
/// creating it (mapping its stack) is not on the way from request to answer.
struct ExecutionThread {
    work: std::sync::mpsc::SyncSender<Work>,
    done: std::thread::JoinHandle<Result<pvf_messages::ValidationResult, ExecError>>,
}

impl ExecutionThread {
    fn start(params: &ExecutorParams, engine: wasmtime::Engine) -> std::io::Result<Self> {
        let (work, inbox) = std::sync::mpsc::sync_channel::<Work>(1);
        let stack = params.stack_native_max() as usize + STACK_HEADROOM;
        let done = std::thread::Builder::new()
            .name("pvf-execute".into())
            .stack_size(stack)
            .spawn(move || {
                let (req, artifact) = inbox.recv().map_err(|_| {
                    ExecError::RuntimeConstruction("the job gave no work to its thread".into())
                })?;
                execute::execute_open_artifact_then(
                    &engine,
                    artifact,
                    &req.params,
                    &req.executor_params,
                    execute::Teardown::Skip,
                )
            })?;
        Ok(Self { work, done })
    }

    /// Checks the artifact, runs the request on the thread and turns the outcome into the
    /// job's answer.
    fn run(self, req: ExecuteRequest, artifact: PathBuf) -> ExecuteResponse {
        // Opened once: the checksum is of this file, and this file is what is mapped.
        // Missing or unreadable: as unusable as a corrupted one, and as surely local (the PVF
        // has not run yet), so the host prepares it again.
        let Ok(file) = std::fs::File::open(&artifact) else {
            return ExecuteResponse::CorruptedArtifact;
        };
        if !req.artifact_checksum.is_empty() {
            match pvf_messages::checksum::of_reader(&file) {
                Ok(sum) if sum == req.artifact_checksum => {}
                _ => return ExecuteResponse::CorruptedArtifact,
            }
        }
        if self.work.send((req, file)).is_err() {
            return ExecuteResponse::Internal("the execution thread ended early".into());
        }
        match self.done.join() {
            Err(panic) => ExecuteResponse::JobError(job::panic_message(&*panic)),
            Ok(Ok(result)) => ExecuteResponse::Ok {
                result,
                cpu_time_ns: 0,
            },
            Ok(Err(ExecError::Invalid(msg))) => ExecuteResponse::Invalid(msg),
            Ok(Err(ExecError::PoVDecompressionFailure(_))) => {
                ExecuteResponse::PoVDecompressionFailure
            }
            Ok(Err(ExecError::Local(msg))) => ExecuteResponse::Internal(msg),
            Ok(Err(ExecError::RuntimeConstruction(msg))) => {
                ExecuteResponse::RuntimeConstruction(msg)
            }
        }
    }
}

/// The body of an execution job created for its request (in the child process).
fn execute_job(
    req: ExecuteRequest,
    artifact: PathBuf,
    engine: wasmtime::Engine,
) -> ExecuteResponse {
    match ExecutionThread::start(&req.executor_params, engine) {
        Ok(thread) => thread.run(req, artifact),
        Err(e) => ExecuteResponse::Internal(format!("spawning the execution thread: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearing_removes_everything_but_the_artifact_without_following_links() {
        let outside = tempfile::tempdir().unwrap();
        let kept_outside = outside.path().join("keep");
        std::fs::write(&kept_outside, b"outside").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let artifact = dir.path().join(ARTIFACT_FILE);
        std::fs::write(&artifact, b"artifact").unwrap();
        std::fs::hard_link(&artifact, dir.path().join("second-name")).unwrap();
        std::fs::create_dir_all(dir.path().join("a/b/c")).unwrap();
        std::fs::write(dir.path().join("a/b/c/f"), b"f").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link-to-dir")).unwrap();
        std::os::unix::fs::symlink(&kept_outside, dir.path().join("a/link-to-file")).unwrap();
        clear_worker_dir(dir.path(), Some(&artifact)).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from(ARTIFACT_FILE)]);
        assert_eq!(std::fs::read(&kept_outside).unwrap(), b"outside");
        // The artifact is back to one link, so the node accepts it.
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&artifact).unwrap().nlink(), 1);
        // A folder named like the artifact is not kept.
        std::fs::remove_file(&artifact).unwrap();
        std::fs::create_dir(&artifact).unwrap();
        clear_worker_dir(dir.path(), Some(&artifact)).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
