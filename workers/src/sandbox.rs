//! The sandbox a job process enters before it touches untrusted code.
//!
//! A PVF that exploits a bug in the engine runs with the job process's rights. The job
//! therefore gives them up first, in this order (each step is cheap; all of it costs the job
//! tens of microseconds, see `BENCHMARKS.md`):
//!
//! 0. The environment is cleared (the host starts workers with an empty one already).
//! 1. `no_new_privs`: nothing it executes can gain privileges (also required by 3 and 4).
//! 2. Resource limits: no core dumps (they would write untrusted memory to disk), a bounded
//!    number of open files, and a bounded file size.
//! 3. Landlock (ABI v1, pinned as in the reference, so that every validator enforces the same
//!    rules): the job may write only in its worker's folder and read only there and in the
//!    folders the worker names (the artifact cache for execution); everything else in the
//!    file system is out of reach, including `/etc/passwd` and the node's files.
//! 4. Seccomp: any networking system call (socket, connect, bind, send, …) kills the process,
//!    including their x32-ABI numbers, which a deny-list keyed on x86-64 numbers would miss.
//!
//! 5. Where the kernel allows it (optional), the job is created in a new PID namespace: it
//!    sees and can signal no other process (see [`crate::job::Spawn`]).
//!
//! What is not here yet (see issue 4): the other namespaces and `pivot_root`, a
//! process-count limit (root ignores `RLIMIT_NPROC`; a user namespace would make it bite) and
//! cgroup memory limits.
//! `docs/escape-tests.md` lists what each layer stops, as measured by a test.

use landlock::{
    ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    path_beneath_rules,
};
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
use std::{collections::BTreeMap, path::PathBuf};

/// The Landlock ABI the sandbox uses: pinned, so that the same rules hold on every kernel.
pub const LANDLOCK_ABI: ABI = ABI::V1;

/// Exit status of a job that could not enter its sandbox.
pub const SANDBOX_EXIT_CODE: i32 = 87;

/// Largest file a job may write (the artifact), in bytes.
pub const MAX_FILE_SIZE: u64 = 2 << 30;
/// Most files a job may have open at once.
pub const MAX_OPEN_FILES: u64 = 64;

/// Which layers to apply, and where the job may read and write.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Apply the Landlock file-system rules.
    pub landlock: bool,
    /// Apply the seccomp network filter.
    pub seccomp: bool,
    /// Run the job in a new PID namespace (see [`crate::job::Spawn`]).
    pub pid_namespace: bool,
    /// Folders the job may read and write beneath.
    pub writable: Vec<PathBuf>,
    /// Folders the job may only read beneath.
    pub readable: Vec<PathBuf>,
}

impl Policy {
    /// How the job process is to be created under this policy.
    pub fn spawn(&self) -> crate::job::Spawn {
        if self.pid_namespace {
            crate::job::Spawn::NewPidNamespace
        } else {
            crate::job::Spawn::Fork
        }
    }
}

/// Why a sandbox layer could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// `prctl(PR_SET_NO_NEW_PRIVS)` failed.
    #[error("no_new_privs: {0}")]
    NoNewPrivs(std::io::Error),
    /// A resource limit could not be set.
    #[error("setrlimit({what}): {err}")]
    Rlimit {
        /// Which limit.
        what: &'static str,
        /// The error.
        err: std::io::Error,
    },
    /// Landlock could not be applied, or only partly.
    #[error("landlock: {0}")]
    Landlock(String),
    /// The seccomp filter could not be built or installed.
    #[error("seccomp: {0}")]
    Seccomp(String),
}

fn no_new_privs() -> Result<(), SandboxError> {
    // SAFETY: a plain prctl with constant arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(SandboxError::NoNewPrivs(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn rlimit(
    resource: libc::__rlimit_resource_t,
    what: &'static str,
    value: u64,
) -> Result<(), SandboxError> {
    let lim = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: `lim` is a valid rlimit.
    if unsafe { libc::setrlimit(resource, &lim) } != 0 {
        return Err(SandboxError::Rlimit {
            what,
            err: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

fn limits() -> Result<(), SandboxError> {
    rlimit(libc::RLIMIT_CORE, "RLIMIT_CORE", 0)?;
    rlimit(libc::RLIMIT_NOFILE, "RLIMIT_NOFILE", MAX_OPEN_FILES)?;
    rlimit(libc::RLIMIT_FSIZE, "RLIMIT_FSIZE", MAX_FILE_SIZE)
}

fn landlock(policy: &Policy) -> Result<(), SandboxError> {
    let err = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let read = AccessFs::from_read(LANDLOCK_ABI);
    let status = Ruleset::default()
        .handle_access(all)
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(&policy.writable, all))
        .map_err(err)?
        .add_rules(path_beneath_rules(&policy.readable, read))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(()),
        other => Err(SandboxError::Landlock(format!(
            "the kernel enforces the rules only {other:?}"
        ))),
    }
}

/// The system calls that open or use network connections.
const NETWORK_SYSCALLS: &[i64] = &[
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_connect,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_sendto,
    libc::SYS_sendmsg,
    libc::SYS_sendmmsg,
    libc::SYS_recvfrom,
    libc::SYS_recvmsg,
    libc::SYS_recvmmsg,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_shutdown,
];

/// The bit that marks an x32-ABI system call number on x86-64.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: i64 = 0x4000_0000;

/// The seccomp program: kill the process on any networking system call.
pub fn network_filter() -> Result<BpfProgram, SandboxError> {
    let err = |e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string());
    let mut rules = BTreeMap::new();
    for &nr in NETWORK_SYSCALLS {
        rules.insert(nr, Vec::new());
        #[cfg(target_arch = "x86_64")]
        rules.insert(nr | X32_SYSCALL_BIT, Vec::new());
    }
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::KillProcess,
        arch,
    )
    .map_err(err)?;
    filter.try_into().map_err(err)
}

/// The compiled filter, built once per worker (before any job is forked, see [`warm_up`]) so
/// that jobs only install it.
static NETWORK_FILTER: std::sync::OnceLock<Result<BpfProgram, String>> = std::sync::OnceLock::new();

fn cached_network_filter() -> Result<&'static BpfProgram, SandboxError> {
    NETWORK_FILTER
        .get_or_init(|| network_filter().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| SandboxError::Seccomp(e.clone()))
}

/// Moves the worker (and so every job it forks afterwards) into a new, empty network
/// namespace: no interface but a down loopback. Done once per worker, at start-up, because
/// creating a network namespace is the slowest part of namespace creation; the socket to the
/// host, already connected, keeps working.
pub fn enter_empty_network_namespace() -> std::io::Result<()> {
    // SAFETY: unshare with a constant flag; the worker is single-threaded here.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Does the per-worker part of the sandbox's set-up once, in the worker, so that forked jobs
/// inherit it instead of repeating it.
pub fn warm_up() {
    let _ = cached_network_filter();
}

fn seccomp() -> Result<(), SandboxError> {
    let program = cached_network_filter()?;
    seccompiler::apply_filter(program).map_err(|e| SandboxError::Seccomp(e.to_string()))
}

/// Enters the sandbox described by `policy`. Call it in the job process, before the job
/// touches untrusted code and before it starts any thread (the rules are inherited by threads
/// started afterwards, not by those already running).
pub fn enter(policy: &Policy) -> Result<(), SandboxError> {
    // SAFETY: the job process is single-threaded here; nothing else reads the environment.
    unsafe { libc::clearenv() };
    no_new_privs()?;
    limits()?;
    if policy.landlock {
        landlock(policy)?;
    }
    if policy.seccomp {
        seccomp()?;
    }
    Ok(())
}

/// Enters the sandbox or ends the job process at once with [`SANDBOX_EXIT_CODE`]: a job must
/// never run outside the sandbox it was promised.
pub fn enter_or_exit(policy: &Policy) {
    if let Err(e) = enter(policy) {
        eprintln!("job sandbox: {e}");
        // SAFETY: ends the job process without running the worker's destructors.
        unsafe { libc::_exit(SANDBOX_EXIT_CODE) };
    }
}

/// The outcome of trying one sandbox layer in a throw-away job process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    /// The layer: `no_new_privs`, `rlimits`, `landlock`, `seccomp`.
    pub feature: &'static str,
    /// `None` if the layer works, else why not.
    pub error: Option<String>,
}

/// Tries every layer for real, each in its own job process: Landlock must then refuse to open
/// a file outside `allowed_dir`, and seccomp must kill a process that opens a socket.
pub fn probe(allowed_dir: &std::path::Path) -> Vec<ProbeResult> {
    use crate::job::{JobEnd, JobReport, run_job};
    let budget = std::time::Duration::from_secs(5);
    let in_job = |f: &dyn Fn() -> Result<(), String>| -> Result<(), String> {
        match run_job(budget, || match f() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_bytes(),
        }) {
            Ok(JobEnd::Reported(JobReport::Done(msg), _)) if msg.is_empty() => Ok(()),
            Ok(JobEnd::Reported(JobReport::Done(msg), _)) => {
                Err(String::from_utf8_lossy(&msg).into_owned())
            }
            Ok(other) => Err(format!("the probe job ended unexpectedly: {other:?}")),
            Err(e) => Err(format!("cannot start a probe job: {e}")),
        }
    };
    let landlock_policy = Policy {
        landlock: true,
        writable: vec![allowed_dir.to_path_buf()],
        ..Policy::default()
    };
    let landlock_probe = || -> Result<(), String> {
        landlock(&landlock_policy).map_err(|e| e.to_string())?;
        match std::fs::File::open("/etc/hostname")
            .or_else(|_| std::fs::File::open("/proc/self/status"))
        {
            Ok(_) => Err(
                "the rules were accepted but a file outside the folder could still be opened"
                    .into(),
            ),
            Err(_) => Ok(()),
        }
    };
    let seccomp = match run_job(budget, || {
        if let Err(e) = no_new_privs().and_then(|()| seccomp()) {
            return e.to_string().into_bytes();
        }
        // SAFETY: a plain socket call; the filter must kill the process here.
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        b"the filter was installed but socket() still returned".to_vec()
    }) {
        Ok(JobEnd::Died(how, _)) if how.contains("SIGSYS") => Ok(()),
        Ok(JobEnd::Reported(JobReport::Done(msg), _)) => {
            Err(String::from_utf8_lossy(&msg).into_owned())
        }
        Ok(other) => Err(format!("the probe job ended unexpectedly: {other:?}")),
        Err(e) => Err(format!("cannot start a probe job: {e}")),
    };
    let pid_namespace =
        match crate::job::run_job_in(crate::job::Spawn::NewPidNamespace, budget, || {
            // SAFETY: getpid has no preconditions.
            if unsafe { libc::getpid() } == 1 {
                Vec::new()
            } else {
                b"the job is not PID 1 of a new namespace".to_vec()
            }
        }) {
            Ok(JobEnd::Reported(JobReport::Done(msg), _)) if msg.is_empty() => Ok(()),
            Ok(JobEnd::Reported(JobReport::Done(msg), _)) => {
                Err(String::from_utf8_lossy(&msg).into_owned())
            }
            Ok(other) => Err(format!("the probe job ended unexpectedly: {other:?}")),
            Err(e) => Err(format!("clone(CLONE_NEWPID) failed: {e}")),
        };
    let net_namespace = in_job(&|| {
        enter_empty_network_namespace().map_err(|e| e.to_string())?;
        // Outside, this is refused by the listener-less port; in an empty namespace there is
        // no route at all.
        match std::net::TcpStream::connect(("127.0.0.1", 1)) {
            Err(e) if e.raw_os_error() == Some(libc::ENETUNREACH) => Ok(()),
            other => Err(format!(
                "the new namespace still reaches loopback ({other:?})"
            )),
        }
    });
    vec![
        ProbeResult {
            feature: "net_namespace",
            error: net_namespace.err(),
        },
        ProbeResult {
            feature: "pid_namespace",
            error: pid_namespace.err(),
        },
        ProbeResult {
            feature: "no_new_privs",
            error: in_job(&|| no_new_privs().map_err(|e| e.to_string())).err(),
        },
        ProbeResult {
            feature: "rlimits",
            error: in_job(&|| limits().map_err(|e| e.to_string())).err(),
        },
        ProbeResult {
            feature: "landlock",
            error: in_job(&|| {
                no_new_privs().map_err(|e| e.to_string())?;
                landlock_probe()
            })
            .err(),
        },
        ProbeResult {
            feature: "seccomp",
            error: seccomp.err(),
        },
    ]
}

/// [`probe`] as one JSON object: `{"landlock": null | "why not", …}`.
pub fn probe_json(allowed_dir: &std::path::Path) -> String {
    let map: serde_json::Map<String, serde_json::Value> = probe(allowed_dir)
        .into_iter()
        .map(|r| {
            (
                r.feature.to_string(),
                r.error
                    .map_or(serde_json::Value::Null, serde_json::Value::String),
            )
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}
