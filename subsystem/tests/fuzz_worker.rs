//! Fuzzing of the host's handling of what a worker process says: the handshake reply, and the
//! answer to a preparation or execution request, each turned into a typed outcome.
//!
//! The path under test is the real one, as `pvf-node validate` and the host actor take it:
//! `WorkerHandle::spawn` starts a worker binary, listens for its connection and shakes hands;
//! `exchange::prepare` / `exchange::execute` send a request under the wall-clock limit;
//! `classify::prepare_outcome` / `classify::execute_outcome` (or `classify::spawn_error`)
//! make the verdict. Only the worker is fake: the "binary" is a two-line shell script that
//! re-executes this test binary's ignored `fake_worker` test, which connects to the socket,
//! reads the handshake, sends the handshake bytes of its plan, and if those were a `Ready`
//! reads the request and sends the response bytes of its plan (in pieces); then it exits with
//! a status, aborts (SIGABRT) or hangs. The plan (`Plan`, SCALE) is left in the workers' root
//! folder, the parent of the `--worker-dir` the host passes (the host clears the worker's
//! environment).
//!
//! Asserted for every plan, within a bound (no hang):
//! - the host gives exactly the answer the bytes call for: the classification of the
//!   response when they begin with a valid frame; a protocol error (`Internal`, or `IoErr` for
//!   preparation) for a malformed or over-long one; when the worker ends inside a frame or
//!   before one, a worker death (`PossiblyInvalid`, or `WorkerFailed` with the exact exit
//!   status or signal for preparation); when it stalls there until the wall clock runs out,
//!   a stall for execution (no job of its spent the CPU budget, see
//!   `exchange::wall_clock_expired`: an internal error) and a non-deterministic `TimedOut`
//!   for preparation;
//! - so that bytes which are not a valid response frame (nothing at all included) are never
//!   an `Invalid` verdict, a success, nor a deterministic preparation error;
//! - every handshake failure is a typed `SpawnError` that classifies as a local fault.
//!
//! The corpus of responses and handshake replies (`messages/tests/corpus/`) is replayed by its
//! own test, next to the properties. See `docs/fuzzing.md`.

#[path = "../../messages/tests/support/mod.rs"]
mod support;

use parity_scale_codec::{Decode, Encode};
use proptest::prelude::*;
use pvf_messages::{
    ExecutorParam, ExecutorParams, InternalValidationError, PossiblyInvalidError, PvfPrepKind,
    ValidationCode, ValidationError, ValidationParams, VerdictClass,
    frame::{self, FrameError},
    host::PvfPrepData,
    protocol::{ExecuteResponse, HandshakeReply, PrepareResponse, WorkerInfo, WorkerKind},
    version::{BUILD_ID, VERSION, builds_match},
};
use pvf_subsystem::host::{
    classify, exchange,
    worker::{SpawnConfig, SpawnError, WorkerHandle},
};
use std::{
    io::Write,
    os::unix::{fs::PermissionsExt, net::UnixStream},
    path::{Path, PathBuf},
    sync::OnceLock,
    time::Duration,
};
use support::*;

/// Cases per property in the default (CI smoke) run: each case spawns a process.
const CASES: u32 = 128;

/// CPU-time budget of a request whose plan never hangs: generous, so that a loaded machine
/// cannot turn a prompt answer into a wall-clock timeout.
const PROMPT: Duration = Duration::from_millis(2500);
/// CPU-time budget of a request whose plan hangs: the host waits 4 × this.
const HANGING: Duration = Duration::from_millis(40);
/// Bound on a whole case.
const BOUND: Duration = Duration::from_secs(30);

/// How the fake worker ends after sending its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
enum End {
    /// Exits with this status.
    Exit(u8),
    /// Dies of SIGABRT.
    Abort,
    /// Keeps the socket open until killed.
    Hang,
}

/// What the fake worker does.
#[derive(Clone, Debug, Encode, Decode)]
struct Plan {
    /// Sent after reading the handshake.
    handshake_reply: Vec<u8>,
    /// Sent after reading the request (if the handshake got that far).
    response: Vec<u8>,
    /// Write sizes (cycled), with a short pause between writes.
    pieces: Vec<u32>,
    /// How it ends.
    end: End,
}

const PLAN_FILE: &str = "plan.bin";

/// The fake worker's entry point. Does nothing unless started by the script of
/// [`fake_worker_binary`].
#[test]
#[ignore = "the fake worker process, started by the host under test"]
fn fake_worker() {
    let Some(args) = std::env::var_os("PVF_FAKE_WORKER_ARGS") else {
        return;
    };
    let args: Vec<String> = args
        .to_string_lossy()
        .split(' ')
        .map(String::from)
        .collect();
    let arg = |name: &str| {
        let i = args.iter().position(|a| a == name).expect(name);
        PathBuf::from(&args[i + 1])
    };
    let worker_dir = arg("--worker-dir");
    let plan_bytes = std::fs::read(worker_dir.parent().unwrap().join(PLAN_FILE)).unwrap();
    let plan = Plan::decode(&mut &plan_bytes[..]).unwrap();
    let mut stream = UnixStream::connect(arg("--socket-path")).unwrap();
    let send = |stream: &mut UnixStream, bytes: &[u8]| {
        let mut rest = bytes;
        let mut i = 0;
        while !rest.is_empty() {
            let n = (plan.pieces[i % plan.pieces.len()] as usize).clamp(1, rest.len());
            if stream.write_all(&rest[..n]).is_err() {
                return;
            }
            rest = &rest[n..];
            i += 1;
            if !rest.is_empty() {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    };
    if frame::read_frame_bytes(&mut stream).is_ok() {
        send(&mut stream, &plan.handshake_reply);
        // Only a `Ready` makes the host send a request; anything else ends the plan here.
        let ready = matches!(
            frame::read_frame(&mut &plan.handshake_reply[..]),
            Ok(HandshakeReply::Ready(_))
        );
        if ready && frame::read_frame_bytes(&mut stream).is_ok() {
            send(&mut stream, &plan.response);
        }
    }
    match plan.end {
        End::Exit(code) => std::process::exit(code as i32),
        End::Abort => std::process::abort(),
        End::Hang => loop {
            std::thread::sleep(Duration::from_secs(60));
        },
    }
}

/// A script that starts this test binary as a fake worker (its folder lives as long as the
/// test process).
fn fake_worker_binary() -> &'static Path {
    static SCRIPT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = SCRIPT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake-worker");
        let exe = std::env::current_exe().unwrap();
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nPVF_FAKE_WORKER_ARGS=\"$*\" exec '{}' {}\n",
                exe.display(),
                "fake_worker --exact --ignored --quiet --test-threads=1"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, path)
    });
    path
}

/// One runtime for every case: tokio delivers `SIGCHLD` (which `Child::wait` needs) through
/// the first runtime that listened for it, so per-case runtimes would stop seeing exits.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// A valid `Ready` handshake reply from a worker of this build.
fn ready() -> Vec<u8> {
    frame_of(&HandshakeReply::Ready(WorkerInfo {
        pid: 1,
        version: VERSION.into(),
        build_id: BUILD_ID.into(),
    }))
}

/// Whether the node accepts a worker that says it is `info` (the node checks too).
fn this_build(info: &WorkerInfo) -> bool {
    info.version == VERSION && builds_match(BUILD_ID, &info.build_id)
}

/// Spawns a fake worker of `kind` following `plan` and hands it to `f`, all under [`BOUND`].
fn with_worker<R>(
    kind: WorkerKind,
    plan: &Plan,
    spawn_timeout: Duration,
    f: impl AsyncFnOnce(Result<WorkerHandle, SpawnError>) -> R,
) -> R {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join(PLAN_FILE), plan.encode()).unwrap();
    let mut cfg = SpawnConfig::new(root.path().to_path_buf(), root.path().join("artifacts"));
    cfg.spawn_timeout = spawn_timeout;
    runtime().block_on(async {
        tokio::time::timeout(BOUND, async {
            f(WorkerHandle::spawn(kind, fake_worker_binary(), &cfg).await).await
        })
        .await
        .expect("the host hung")
    })
}

/// The wall-clock budget for `plan`: short if it hangs, generous otherwise.
fn budget(plan: &Plan) -> Duration {
    if plan.end == End::Hang {
        HANGING
    } else {
        PROMPT
    }
}

/// Runs an execution request against a fake worker following `plan`.
fn execute(plan: &Plan) -> Result<classify::Executed, ValidationError> {
    with_worker(WorkerKind::Execute, plan, PROMPT, async |worker| {
        let mut worker = worker.expect("the handshake of an execution plan is valid");
        let params = ValidationParams::default();
        // The node links the artifact into the worker's job folder before it sends the
        // request; a real worker creates that folder when it confines itself, the fake one
        // does not. The bytes do not matter: the fake worker never reads them.
        let job_dir = worker.dir().join(pvf_messages::protocol::EXECUTE_JOB_DIR);
        std::fs::create_dir_all(&job_dir).unwrap();
        let artifact = worker.dir().join("fake-artifact");
        std::fs::write(&artifact, b"not an artifact").unwrap();
        let answer = exchange::execute(
            &mut worker,
            &artifact,
            &params,
            &ExecutorParams::new(),
            budget(plan),
        )
        .await;
        classify::execute_outcome(answer, budget(plan))
    })
}

/// Runs a preparation request against a fake worker following `plan`.
fn prepare(
    plan: &Plan,
) -> Result<pvf_messages::protocol::PrepareSuccess, pvf_messages::PrepareError> {
    with_worker(WorkerKind::Prepare, plan, PROMPT, async |worker| {
        let mut worker = worker.expect("the handshake of a preparation plan is valid");
        let timeout = budget(plan).as_millis() as u64;
        let pvf = PvfPrepData::new(
            ValidationCode(b"\0asm\x01\0\0\0".to_vec()),
            ExecutorParams(vec![ExecutorParam::PvfPrepTimeout(
                PvfPrepKind::Prepare,
                timeout,
            )]),
            PvfPrepKind::Prepare,
        );
        classify::prepare_outcome(exchange::prepare(&mut worker, &pvf).await)
    })
}

/// How the worker's socket ends as the host sees it, for bytes that are not a whole frame.
fn death(end: End) -> String {
    match end {
        End::Exit(code) => format!("exited with status {code}"),
        End::Abort => "killed by signal 6 (SIGABRT)".into(),
        End::Hang => unreachable!(),
    }
}

/// What the host must answer to an execution plan.
fn expected_execute(plan: &Plan) -> Result<classify::Executed, ValidationError> {
    use ValidationError as V;
    match frame::read_frame::<_, ExecuteResponse>(&mut &plan.response[..]) {
        Ok(r) => classify::execute_outcome(Ok(r), budget(plan)),
        Err(e @ (FrameError::Decode(_) | FrameError::TooLong { .. })) => Err(V::Internal(
            InternalValidationError::HostCommunication(e.to_string()),
        )),
        // Stalled there until the wall clock ran out, with no job spending CPU time: a
        // proven local fault.
        Err(_) if plan.end == End::Hang => classify::execute_outcome(
            exchange::wall_clock_expired(
                Some(Duration::ZERO),
                HANGING,
                HANGING * pvf_subsystem::host::WALL_CLOCK_FACTOR,
            ),
            HANGING,
        ),
        // Ended inside a frame (or before one): the worker died.
        Err(_) => Err(V::PossiblyInvalid(
            PossiblyInvalidError::AmbiguousWorkerDeath,
        )),
    }
}

/// What the host must answer to a preparation plan.
fn expected_prepare(
    plan: &Plan,
) -> Result<pvf_messages::protocol::PrepareSuccess, pvf_messages::PrepareError> {
    use pvf_messages::PrepareError as P;
    match frame::read_frame::<_, PrepareResponse>(&mut &plan.response[..]) {
        Ok(r) => r,
        Err(e @ (FrameError::Decode(_) | FrameError::TooLong { .. })) => {
            Err(P::IoErr(e.to_string()))
        }
        Err(_) => match plan.end {
            End::Hang => Err(P::TimedOut),
            end => Err(P::WorkerFailed(death(end))),
        },
    }
}

fn is_valid_frame<T: Decode>(bytes: &[u8]) -> bool {
    frame::read_frame::<_, T>(&mut &bytes[..]).is_ok()
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![
        3 => (0u8..3).prop_map(End::Exit),
        1 => Just(End::Abort),
        1 => Just(End::Hang),
    ]
}

fn pieces() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(1u32..64, 1..4)
}

/// Response bytes: valid frames (possibly with a tail), near misses, any stream, nothing.
fn response_bytes<T: Encode + std::fmt::Debug, S: Strategy<Value = T>>(
    msg: impl Fn() -> S,
) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => (msg(), bytes(4)).prop_map(|(m, tail)| [frame_of(&m), tail].concat()),
        4 => mutated_frame(msg()),
        2 => stream(),
        1 => Just(Vec::new()),
    ]
}

fn check_execute(plan: &Plan) -> Result<(), TestCaseError> {
    let got = execute(plan);
    prop_assert_eq!(&got, &expected_execute(plan), "plan {:?}", plan);
    let class = got
        .as_ref()
        .map_or_else(ValidationError::class, |_| VerdictClass::Valid);
    if !is_valid_frame::<ExecuteResponse>(&plan.response) {
        prop_assert!(
            class != VerdictClass::Invalid && class != VerdictClass::Valid,
            "garbage became {:?}: {:?}",
            class,
            got
        );
    }
    Ok(())
}

fn check_prepare(plan: &Plan) -> Result<(), TestCaseError> {
    let got = prepare(plan);
    prop_assert_eq!(&got, &expected_prepare(plan), "plan {:?}", plan);
    if !is_valid_frame::<PrepareResponse>(&plan.response) {
        let err = got.as_ref().expect_err("no success without a valid frame");
        prop_assert!(!err.is_deterministic(), "garbage became {:?}", err);
    }
    Ok(())
}

/// The handshake: the outcome the reply's bytes call for, a local fault whenever it fails.
fn check_handshake(plan: &Plan) -> Result<(), TestCaseError> {
    let spawn_timeout = if plan.end == End::Hang {
        Duration::from_millis(300)
    } else {
        PROMPT
    };
    let oracle = frame::read_frame::<_, HandshakeReply>(&mut &plan.handshake_reply[..]);
    let wanted = WorkerKind::Execute;
    with_worker(wanted, plan, spawn_timeout, async |got| {
        match (&oracle, &got) {
            (Ok(HandshakeReply::Ready(info)), Ok(w)) if this_build(info) => {
                prop_assert_eq!(w.info(), info)
            }
            (Ok(HandshakeReply::Ready(info)), Err(SpawnError::VersionMismatch { worker, .. }))
                if !this_build(info) =>
            {
                prop_assert_eq!(worker, info)
            }
            (
                Ok(HandshakeReply::VersionMismatch(info)),
                Err(SpawnError::VersionMismatch { worker, .. }),
            ) => {
                prop_assert_eq!(worker, info)
            }
            (Ok(HandshakeReply::SandboxFailed(said)), Err(SpawnError::Sandbox { why, .. })) => {
                prop_assert_eq!(why, said)
            }
            (
                Ok(HandshakeReply::WrongKind { serves }),
                Err(SpawnError::WrongKind {
                    serves: s,
                    wanted: w,
                    ..
                }),
            ) => {
                prop_assert_eq!((s, w), (serves, &wanted))
            }
            (
                Err(e @ (FrameError::Decode(_) | FrameError::TooLong { .. })),
                Err(SpawnError::Handshake { err, .. }),
            ) => {
                prop_assert!(
                    same_result::<()>(&Err(clone_frame_error(e)), &Err(clone_frame_error(err))),
                    "{:?} != {:?}",
                    e,
                    err
                )
            }
            (Err(e), Err(SpawnError::Handshake { err, .. })) if plan.end != End::Hang => {
                prop_assert!(
                    same_result::<()>(&Err(clone_frame_error(e)), &Err(clone_frame_error(err))),
                    "{:?} != {:?}",
                    e,
                    err
                )
            }
            (Err(_), Err(SpawnError::Timeout { .. })) if plan.end == End::Hang => {}
            (oracle, got) => prop_assert!(false, "bytes give {:?}, the host {:?}", oracle, got),
        }
        if let Err(e) = got {
            let e = classify::spawn_error(e);
            prop_assert_eq!(e.class(), VerdictClass::Error, "{:?}", e);
        }
        Ok(())
    })
}

/// `FrameError` is not `Clone` (it holds an `io::Error`); the framing variants are.
fn clone_frame_error(e: &FrameError) -> FrameError {
    match e {
        FrameError::Closed => FrameError::Closed,
        FrameError::Truncated { expected, got } => FrameError::Truncated {
            expected: *expected,
            got: *got,
        },
        FrameError::TooLong { len, max } => FrameError::TooLong {
            len: *len,
            max: *max,
        },
        FrameError::Decode(m) => FrameError::Decode(m.clone()),
        FrameError::Io(e) => FrameError::Io(std::io::Error::new(e.kind(), e.to_string())),
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn execute_responses(
        response in response_bytes(execute_response),
        pieces in pieces(),
        end in end(),
    ) {
        check_execute(&Plan { handshake_reply: ready(), response, pieces, end })?;
    }

    #[test]
    fn prepare_responses(
        response in response_bytes(prepare_response),
        pieces in pieces(),
        end in end(),
    ) {
        check_prepare(&Plan { handshake_reply: ready(), response, pieces, end })?;
    }

    #[test]
    fn handshake_replies(
        reply in response_bytes(handshake_reply),
        pieces in pieces(),
        end in end(),
    ) {
        check_handshake(&Plan { handshake_reply: reply, response: vec![], pieces, end })?;
    }
}

/// Every corpus response, sent by a worker that then exits, aborts or hangs.
#[test]
fn corpus_replays_through_a_fake_worker() {
    for end in [End::Exit(1), End::Abort, End::Hang] {
        for (path, _, data) in corpus("execute_response") {
            let plan = Plan {
                handshake_reply: ready(),
                response: data,
                pieces: vec![5],
                end,
            };
            check_execute(&plan).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        for (path, _, data) in corpus("prepare_response") {
            let plan = Plan {
                handshake_reply: ready(),
                response: data,
                pieces: vec![5],
                end,
            };
            check_prepare(&plan).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
    for (path, _, data) in corpus("handshake_reply") {
        let plan = Plan {
            handshake_reply: data,
            response: vec![],
            pieces: vec![64],
            end: End::Exit(0),
        };
        check_handshake(&plan).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
