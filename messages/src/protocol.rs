//! What the host and the workers say to each other.
//!
//! A worker connects to the socket path it was given and the host speaks first with a
//! [`Handshake`]; the worker answers with a [`HandshakeReply`]. Then the host sends one
//! request at a time ([`PrepareRequest`] to a prepare worker, [`ExecuteRequest`] to an
//! execute worker) and the worker answers each with exactly one response. The host stops a
//! worker by closing the socket. All frames use [`crate::frame`].

use crate::{
    error::PrepareError,
    executor_params::ExecutorParams,
    primitives::{PvfPrepKind, ValidationResult},
};
use parity_scale_codec::{Decode, Encode};

/// The two worker roles; each is its own binary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Encode, Decode)]
pub enum WorkerKind {
    /// Compiles PVFs into artifacts.
    #[codec(index = 0)]
    Prepare,
    /// Runs artifacts on candidates.
    #[codec(index = 1)]
    Execute,
}

impl WorkerKind {
    /// The lower-case name used in logs, metrics and directory names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prepare => "prepare",
            Self::Execute => "execute",
        }
    }

    /// The file name of this role's binary.
    pub fn binary_name(self) -> &'static str {
        match self {
            Self::Prepare => "pvf-prepare-worker",
            Self::Execute => "pvf-execute-worker",
        }
    }
}

/// How strictly the worker must lock itself down.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct SecuritySettings {
    /// Refuse to run jobs when a required sandbox feature is unavailable.
    pub secure_validator_mode: bool,
    /// Restrict each job's file access with Landlock (the host probed that it works).
    pub landlock: bool,
    /// Kill a job that makes a networking system call (the host probed that it works).
    pub seccomp: bool,
    /// Move the worker into an empty network namespace at start-up (probed).
    pub net_namespace: bool,
    /// Move the worker into user and mount namespaces and `pivot_root` into its folder at
    /// start-up (probed).
    pub pivot_root: bool,
    /// The namespaces each job is created in (each probed).
    pub job_namespaces: JobNamespaceSettings,
}

/// Which new namespaces each job is created in, besides the worker's (the workers turn
/// these into `clone` flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct JobNamespaceSettings {
    /// A user namespace without any mapping: the job is `nobody` there.
    pub user: bool,
    /// A mount namespace (a copy of the worker's).
    pub mount: bool,
    /// A PID namespace: the job is its PID 1.
    pub pid: bool,
    /// An IPC namespace: no System V IPC objects or POSIX message queues are shared.
    pub ipc: bool,
    /// A UTS namespace: host and domain name are the job's own.
    pub uts: bool,
    /// A cgroup namespace: the job's cgroup is its root.
    pub cgroup: bool,
}

impl JobNamespaceSettings {
    /// Every namespace a job can be given.
    pub const ALL: Self = Self {
        user: true,
        mount: true,
        pid: true,
        ipc: true,
        uts: true,
        cgroup: true,
    };
}

/// Where a worker creates its cgroup and what limits it sets (see the workers' `cgroup`
/// module).
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct CgroupSettings {
    /// Parent cgroup folders, one per hierarchy (none: no cgroup limits).
    pub parents: Vec<String>,
    /// Most tasks of the worker and its jobs together.
    pub pids_max: Option<u64>,
    /// Most memory of the worker and its jobs together, in bytes.
    pub memory_max: Option<u64>,
}

/// The name of a worker's cgroup beneath each parent in [`CgroupSettings::parents`]: the
/// worker creates it, the host removes it once the worker is gone.
pub fn worker_cgroup_name(pid: u32) -> String {
    format!("worker-{pid}")
}

/// The host's first frame to a new worker.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Handshake {
    /// The role the host spawned this worker for.
    pub kind: WorkerKind,
    /// The node's crate version.
    pub node_version: String,
    /// The node's build id.
    pub build_id: String,
    /// Sandbox requirements.
    pub security: SecuritySettings,
    /// Unused, sent empty: an execute worker sees no artifact cache, only the artifact of the
    /// job at hand, which the node links into the worker's job folder ([`EXECUTE_JOB_DIR`]).
    /// Kept so that the handshake's encoding does not change.
    pub artifacts_dir: String,
    /// The cgroups the worker moves into, with their limits.
    pub cgroup: CgroupSettings,
    /// Accept a worker of another version or build (`--disable-worker-version-check`, for
    /// development only: the two may disagree on artifacts and verdicts).
    pub skip_version_check: bool,
}

/// Facts a worker reports about itself once it accepted a handshake.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct WorkerInfo {
    /// The worker's process id.
    pub pid: u32,
    /// The worker's crate version.
    pub version: String,
    /// The worker's build id.
    pub build_id: String,
}

/// The worker's answer to a [`Handshake`].
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum HandshakeReply {
    /// Ready for jobs.
    #[codec(index = 0)]
    Ready(WorkerInfo),
    /// Built from another version than the node; the worker exits after saying so.
    #[codec(index = 1)]
    VersionMismatch(WorkerInfo),
    /// Spawned for a role this binary does not serve; the worker exits after saying so.
    #[codec(index = 2)]
    WrongKind {
        /// The role this binary serves.
        serves: WorkerKind,
    },
    /// The worker could not confine itself as the handshake asked; it exits after saying so.
    #[codec(index = 3)]
    SandboxFailed(String),
}

/// Compile a PVF into an artifact in the worker directory.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct PrepareRequest {
    /// The code as stored on chain: plain Wasm or an `sp-maybe-compressed-blob`. The job
    /// decompresses it, inside its sandbox.
    pub code: Vec<u8>,
    /// Largest decompressed code the job accepts, in bytes (the validation-code bomb limit).
    pub code_bomb_limit: u32,
    /// The session's executor parameters.
    pub executor_params: ExecutorParams,
    /// Why it is being prepared (decides the memory limit).
    pub kind: PvfPrepKind,
    /// CPU-time budget of the job, in milliseconds.
    pub cpu_timeout_ms: u64,
}

/// Memory used by a preparation job.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct PrepareMemoryStats {
    /// Peak bytes allocated through the job's tracking allocator.
    pub peak_tracked_bytes: u64,
    /// Peak resident set size of the job process (from `wait4`), in bytes.
    pub max_rss_bytes: u64,
}

/// A prepared artifact, written into the worker directory as [`ARTIFACT_FILE_NAME`]. The job
/// reports only what the node cannot see for itself; the node checks the length and computes
/// the checksum from the file, trusting nothing else from a job that ran untrusted code.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct PrepareSuccess {
    /// The artifact's size in bytes.
    pub artifact_len: u64,
    /// CPU time the job used, in nanoseconds.
    pub cpu_time_ns: u64,
    /// Memory the job used.
    pub memory: PrepareMemoryStats,
}

/// The prepare worker's answer to a [`PrepareRequest`].
pub type PrepareResponse = Result<PrepareSuccess, PrepareError>;

/// Run an artifact on a candidate.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ExecuteRequest {
    /// Path of the artifact, as the worker sees it.
    pub artifact_path: String,
    /// The SCALE-encoded [`crate::ValidationParams`] with the block data as the collator sent
    /// it. A compressed PoV (`sp-maybe-compressed-blob`) is decompressed in the job, within
    /// the PoV bomb limit; the parameters are then written verbatim into Wasm memory.
    pub params: Vec<u8>,
    /// The session's executor parameters.
    pub executor_params: ExecutorParams,
    /// CPU-time budget of the job, in milliseconds.
    pub cpu_timeout_ms: u64,
    /// The artifact's checksum (16 hex digits of blake3 over the file) as the host recorded it;
    /// the job verifies it before it maps the artifact. Empty: not checked.
    pub artifact_checksum: String,
}

/// The name of the artifact a preparation job writes in its worker's folder. The node uses
/// this name, never one the job reports: the job runs untrusted code.
pub const ARTIFACT_FILE_NAME: &str = "artifact";

/// The folder in an execute worker's folder where the node links the artifact of the job at
/// hand, as [`ARTIFACT_FILE_NAME`]: the only artifact the worker and its job see.
pub const EXECUTE_JOB_DIR: &str = "job";

/// The execute worker's answer to an [`ExecuteRequest`]: how the job ended.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum ExecuteResponse {
    /// `validate_block` returned a well-formed result.
    #[codec(index = 0)]
    Ok {
        /// The decoded result.
        result: ValidationResult,
        /// CPU time the job used, in nanoseconds.
        cpu_time_ns: u64,
    },
    /// The PVF trapped or returned something malformed: deterministic.
    #[codec(index = 1)]
    Invalid(String),
    /// The job used up its CPU-time budget.
    #[codec(index = 2)]
    TimedOut {
        /// CPU time used when the job was stopped, in nanoseconds.
        cpu_time_ns: u64,
    },
    /// The artifact could not be loaded or instantiated.
    #[codec(index = 3)]
    RuntimeConstruction(String),
    /// The job panicked.
    #[codec(index = 4)]
    JobError(String),
    /// The job process died without a result (signal or unexpected exit status).
    #[codec(index = 5)]
    JobDied(String),
    /// The worker could not run the job (fork, pipe or clock failure).
    #[codec(index = 6)]
    Internal(String),
    /// The artifact is missing or unreadable, or does not match the checksum the host
    /// recorded; caught before it was mapped.
    #[codec(index = 7)]
    CorruptedArtifact,
    /// The PoV could not be decompressed within the PoV bomb limit: deterministic.
    #[codec(index = 8)]
    PoVDecompressionFailure,
}
