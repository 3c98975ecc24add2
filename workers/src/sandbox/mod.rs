//! The sandbox a PVF job runs in.
//!
//! A PVF that exploits a bug in the engine runs with the job process's rights, so the job gives
//! them up before it touches untrusted code. Two stages:
//!
//! **The worker, once at start-up**: a cgroup of its own that bounds the tasks (and, for
//! execute workers, the memory) of the worker and its jobs together ([`cgroup`]); then
//! ([`namespaces::confine_worker`]) user and mount namespaces with `pivot_root` into its own
//! folder (read-only for execute workers, with the artifact cache mounted read-only), and an
//! empty network namespace; then ([`restrict`]) `no_new_privs`, Landlock (ABI v1, pinned as in
//! the reference so that every validator enforces the same rules: write only in the worker's
//! folder for preparation, read only it and the artifacts for execution) and seccomp (any
//! networking system call kills the process, including its x32-ABI number). Jobs inherit all of
//! it when they are created, so none of them pays for installing a filter.
//!
//! **Each job**, created by `clone` in new user, mount, PID, IPC, UTS and cgroup namespaces
//! ([`namespaces::clone_flags`]) in its worker's session, which has no terminal, its standard
//! streams a pipe the worker drains ([`crate::job`]), then ([`enter`]): an empty environment,
//! `no_new_privs`, not dumpable, `RLIMIT_CPU` once its budget is known ([`cpu_backstop`]),
//! resource limits (no core dumps, which would write untrusted memory to disk; bounded open
//! files, file size and `RLIMIT_NPROC`, which binds only for non-root users: the cgroup's task
//! limit is what binds for root), and every capability dropped ([`capabilities`]). A policy may
//! also ask [`enter`] for Landlock and seccomp, for jobs of a process that did not [`restrict`]
//! itself (the probe, the benchmarks).
//!
//! Every layer is probed for real ([`probe`]) and each one the kernel lacks is reported; the
//! host decides which it requires. `docs/escape-tests.md` lists what the layers stop, as
//! measured by a test that tries.

pub mod capabilities;
pub mod cgroup;
pub mod landlock;
pub mod namespaces;
pub mod probe;
pub mod seccomp;

pub use namespaces::{WorkerConfinement, WorkerRoot, confine_worker};
pub use probe::{ProbeResult, probe, probe_json};
pub use pvf_messages::protocol::JobNamespaceSettings;
pub use seccomp::warm_up;

use std::path::PathBuf;

/// Exit status of a job that could not enter its sandbox.
pub const SANDBOX_EXIT_CODE: i32 = 87;

/// Largest file a job may write (the artifact), in bytes.
pub const MAX_FILE_SIZE: u64 = 2 << 30;
/// Most files a job may have open at once.
pub const MAX_OPEN_FILES: u64 = 64;
/// Most tasks (processes and threads) a job may have at once: the job, its execution thread
/// and the engine's helpers fit many times over; a fork bomb does not.
pub const MAX_TASKS: u64 = 32;

/// Which layers to apply, and where the job may read and write.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Apply the Landlock file-system rules.
    pub landlock: bool,
    /// Apply the seccomp network filter.
    pub seccomp: bool,
    /// The namespaces the job is created in.
    pub namespaces: JobNamespaceSettings,
    /// Folders the job may read and write beneath.
    pub writable: Vec<PathBuf>,
    /// Folders the job may only read beneath.
    pub readable: Vec<PathBuf>,
    /// A file the job may write, and nothing else: a Landlock layer of the job's own on top of
    /// whatever it inherited ([`landlock::restrict_to_writing`]).
    pub write_only_file: Option<PathBuf>,
}

impl Policy {
    /// How the job process is to be created under this policy.
    pub fn spawn(&self) -> crate::job::Spawn {
        if self.namespaces == JobNamespaceSettings::default() {
            crate::job::Spawn::Fork
        } else {
            crate::job::Spawn::Clone(self.namespaces)
        }
    }
}

/// Why a sandbox layer could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// `prctl(PR_SET_NO_NEW_PRIVS)` or `prctl(PR_SET_DUMPABLE)` failed.
    #[error("prctl: {0}")]
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
    /// Capabilities could not be dropped.
    #[error("capabilities ({what}): {err}")]
    Capabilities {
        /// Which step.
        what: &'static str,
        /// The error.
        err: std::io::Error,
    },
    /// The seccomp filter could not be built or installed.
    #[error("seccomp: {0}")]
    Seccomp(String),
}

pub(crate) fn no_new_privs() -> Result<(), SandboxError> {
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

/// Makes this process not dumpable: no core dump, and its memory and `/proc` files are out of
/// reach of processes of the same user that lack `CAP_SYS_PTRACE` in its user namespace.
pub(crate) fn not_dumpable() -> Result<(), SandboxError> {
    // SAFETY: a plain prctl with constant arguments.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(SandboxError::NoNewPrivs(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Sets `RLIMIT_CPU` of this job to its CPU time so far plus `budget`, rounded up to whole
/// seconds, plus one: a backstop behind the worker's watch (which may be stopped or starved),
/// binding all the job's threads together. The kernel sends `SIGXCPU` at the soft limit and
/// `SIGKILL` a second later; either way the worker sees a job that used its budget.
pub fn cpu_backstop(budget: std::time::Duration) -> Result<(), SandboxError> {
    let used = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let used = std::time::Duration::new(used.tv_sec as u64, used.tv_nsec as u32);
    let soft = (used + budget).as_secs() + 2;
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: soft + 1,
    };
    // SAFETY: `lim` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_CPU, &lim) } != 0 {
        return Err(SandboxError::Rlimit {
            what: "RLIMIT_CPU",
            err: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

pub(crate) fn limits() -> Result<(), SandboxError> {
    rlimit(libc::RLIMIT_CORE, "RLIMIT_CORE", 0)?;
    rlimit(libc::RLIMIT_NOFILE, "RLIMIT_NOFILE", MAX_OPEN_FILES)?;
    rlimit(libc::RLIMIT_NPROC, "RLIMIT_NPROC", MAX_TASKS)?;
    rlimit(libc::RLIMIT_FSIZE, "RLIMIT_FSIZE", MAX_FILE_SIZE)
}

/// Applies the layers a worker shares with all its jobs to the worker itself, once:
/// `no_new_privs`, then Landlock and seccomp as `policy` says. Jobs created afterwards inherit
/// them. After this the worker must not make networking system calls (it talks to the host
/// with `read` and `write` on its already connected socket).
pub fn restrict(policy: &Policy) -> Result<(), SandboxError> {
    no_new_privs()?;
    not_dumpable()?;
    if policy.landlock {
        landlock::restrict(policy)?;
    }
    if policy.seccomp {
        seccomp::apply()?;
    }
    Ok(())
}

/// Enters the sandbox described by `policy`. Call it in the job process, before the job
/// touches untrusted code and before it starts any thread (the rules are inherited by threads
/// started afterwards, not by those already running).
pub fn enter(policy: &Policy) -> Result<(), SandboxError> {
    // SAFETY: the job process is single-threaded here; nothing else reads the environment.
    unsafe { libc::clearenv() };
    no_new_privs()?;
    not_dumpable()?;
    limits()?;
    capabilities::drop_all()?;
    if policy.landlock {
        landlock::restrict(policy)?;
    }
    if let Some(file) = &policy.write_only_file {
        landlock::restrict_to_writing(file)?;
    }
    if policy.seccomp {
        seccomp::apply()?;
    }
    Ok(())
}

/// [`cpu_backstop`], or ends the job process at once with [`SANDBOX_EXIT_CODE`].
pub fn cpu_backstop_or_exit(budget: std::time::Duration) {
    if let Err(e) = cpu_backstop(budget) {
        eprintln!("job sandbox: {e}");
        // SAFETY: ends the job process without running the worker's destructors.
        unsafe { libc::_exit(SANDBOX_EXIT_CODE) };
    }
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
