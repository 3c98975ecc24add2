//! One worker process, from the node's side: spawn, handshake, request/response, death.
//!
//! The node listens on a fresh Unix socket in a private temporary folder (short enough for the
//! 108-byte `sun_path` limit), starts the worker binary pointing at it, and waits at most the
//! spawn timeout for it to connect and agree on role and version. Afterwards every request is
//! bounded by a wall-clock limit; a worker that overruns it is killed. A worker that dies is
//! told apart from one that sent garbage, because the two are classified differently.

use parity_scale_codec::{Decode, Encode};
use pvf_messages::{
    frame::FrameError,
    protocol::{Handshake, HandshakeReply, SecuritySettings, WorkerInfo, WorkerKind},
    version::{BUILD_ID, MISMATCH_HINT, VERSION, builds_match},
};
use std::{
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};
use tokio::{
    io::AsyncWriteExt,
    net::{UnixListener, UnixStream},
    process::{Child, Command},
};

use super::wire;

/// The reference's spawn timeout: connect and handshake must finish within it.
pub const DEFAULT_SPAWN_TIMEOUT: Duration = Duration::from_secs(3);

/// How long to wait for a worker's exit status after its socket closed.
const REAP_GRACE: Duration = Duration::from_millis(500);

/// How workers are spawned.
#[derive(Clone, Debug)]
pub struct SpawnConfig {
    /// Version the node announces; workers refuse a different one.
    pub node_version: String,
    /// Build id the node announces; workers refuse a different one.
    pub build_id: String,
    /// Security settings passed in the handshake.
    pub security: SecuritySettings,
    /// Limit for the worker to connect and shake hands.
    pub spawn_timeout: Duration,
    /// Accept workers of another version (development only).
    pub skip_version_check: bool,
    /// Folder under which each worker gets its own working folder.
    pub worker_dir_root: PathBuf,
    /// The artifact cache (workers never see it: each execute job's artifact is linked into
    /// its worker's job folder).
    pub artifacts_dir: PathBuf,
    /// The node's parent cgroups, where the machine has them.
    pub cgroups: Option<std::sync::Arc<super::cgroups::NodeCgroups>>,
}

impl SpawnConfig {
    /// This build's version, the reference's spawn timeout, worker folders under
    /// `worker_dir_root` and artifacts in `artifacts_dir`.
    pub fn new(worker_dir_root: PathBuf, artifacts_dir: PathBuf) -> Self {
        Self {
            node_version: VERSION.into(),
            build_id: BUILD_ID.into(),
            security: SecuritySettings::default(),
            spawn_timeout: DEFAULT_SPAWN_TIMEOUT,
            skip_version_check: false,
            worker_dir_root,
            artifacts_dir,
            cgroups: None,
        }
    }
}

/// A worker could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// Setting up the socket or the worker folder failed.
    #[error("{what}: {err}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        err: std::io::Error,
    },
    /// The binary could not be executed.
    #[error("cannot execute {}: {err}", .path.display())]
    Exec {
        /// The binary.
        path: PathBuf,
        /// The error.
        err: std::io::Error,
    },
    /// The worker exited before it connected.
    #[error("{} exited before connecting ({status})", .path.display())]
    ExitedEarly {
        /// The binary.
        path: PathBuf,
        /// How it ended.
        status: String,
    },
    /// The worker did not connect and shake hands in time.
    #[error("{} did not connect within {after:?}", .path.display())]
    Timeout {
        /// The binary.
        path: PathBuf,
        /// The spawn timeout.
        after: Duration,
    },
    /// The handshake failed on the wire.
    #[error("handshake with {}: {err}", .path.display())]
    Handshake {
        /// The binary.
        path: PathBuf,
        /// The error.
        err: FrameError,
    },
    /// The worker is from another version or build.
    #[error("{} is version {} ({}), the node is {node}: {hint}", .path.display(), .worker.version, .worker.build_id, hint = MISMATCH_HINT)]
    VersionMismatch {
        /// The binary.
        path: PathBuf,
        /// The node's version and build id.
        node: String,
        /// What the worker reported.
        worker: WorkerInfo,
    },
    /// The worker could not confine itself as asked (a sandbox layer the probe found working
    /// failed when the worker applied it).
    #[error("{} could not enter its sandbox: {why}", .path.display())]
    Sandbox {
        /// The binary.
        path: PathBuf,
        /// What failed.
        why: String,
    },
    /// The binary serves the other role.
    #[error("{} serves the {} role, not {}", .path.display(), .serves.as_str(), .wanted.as_str())]
    WrongKind {
        /// The binary.
        path: PathBuf,
        /// The role it serves.
        serves: WorkerKind,
        /// The role asked for.
        wanted: WorkerKind,
    },
}

/// A request to a running worker failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No answer within the wall-clock limit; the worker was killed.
    #[error("no answer within {0:?} of wall-clock time; the worker was killed")]
    TimedOut(Duration),
    /// The worker process died before answering.
    #[error("the worker died: {0}")]
    Died(String),
    /// The worker broke the protocol (a frame that is truncated, too long or malformed).
    #[error("the worker broke the protocol: {0}")]
    Protocol(FrameError),
    /// No answer within the wall-clock limit, and the job had not used its CPU budget: the
    /// worker or the job was stopped or starved (a local fault). The worker was killed.
    #[error("{0}")]
    Stalled(String),
}

/// Describes how a process ended, naming the signal if there was one.
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig} ({})", signal_name(sig)),
        _ => status.to_string(),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSYS => "SIGSYS",
        _ => "other",
    }
}

/// A running, handshaken worker. Dropping it kills the process and removes its folder.
#[derive(Debug)]
pub struct WorkerHandle {
    kind: WorkerKind,
    info: WorkerInfo,
    child: Child,
    stream: UnixStream,
    dir: tempfile::TempDir,
    cgroups: Option<std::sync::Arc<super::cgroups::NodeCgroups>>,
}

impl WorkerHandle {
    /// Starts `binary` as a `kind` worker and waits for its handshake.
    pub async fn spawn(
        kind: WorkerKind,
        binary: &Path,
        cfg: &SpawnConfig,
    ) -> Result<Self, SpawnError> {
        let io = |what: &str| {
            let what = what.to_string();
            move |err| SpawnError::Io { what, err }
        };
        let sock_dir = tempfile::Builder::new()
            .prefix("pvf-")
            .tempdir()
            .map_err(io("creating the socket folder"))?;
        let sock_path = sock_dir.path().join("s");
        let listener = UnixListener::bind(&sock_path)
            .map_err(io(&format!("binding {}", sock_path.display())))?;
        std::fs::create_dir_all(&cfg.worker_dir_root)
            .map_err(io(&format!("creating {}", cfg.worker_dir_root.display())))?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", kind.as_str()))
            .tempdir_in(&cfg.worker_dir_root)
            .map_err(io("creating the worker folder"))?;
        let mut child = Command::new(binary)
            .arg("--socket-path")
            .arg(&sock_path)
            .arg("--worker-dir")
            .arg(dir.path())
            .arg("--node-version")
            .arg(&cfg.node_version)
            .arg("--kind")
            .arg(kind.as_str())
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| SpawnError::Exec {
                path: binary.to_path_buf(),
                err,
            })?;
        let path = binary.to_path_buf();
        let connected = tokio::time::timeout(cfg.spawn_timeout, async {
            tokio::select! {
                accepted = listener.accept() => accepted.map(|(s, _)| Ok(s)),
                status = child.wait() => status.map(Err),
            }
        })
        .await;
        drop(listener);
        drop(sock_dir);
        let mut stream = match connected {
            Err(_) => {
                return Err(SpawnError::Timeout {
                    path,
                    after: cfg.spawn_timeout,
                });
            }
            Ok(Err(err)) => return Err(io("accepting the worker's connection")(err)),
            Ok(Ok(Err(status))) => {
                return Err(SpawnError::ExitedEarly {
                    path,
                    status: describe_exit(status),
                });
            }
            Ok(Ok(Ok(stream))) => stream,
        };
        let handshake = Handshake {
            kind,
            node_version: cfg.node_version.clone(),
            build_id: cfg.build_id.clone(),
            security: cfg.security.clone(),
            // No worker sees the artifact cache: the node links each execute job's artifact
            // into the worker's job folder (see `exchange::execute`).
            artifacts_dir: String::new(),
            cgroup: cfg
                .cgroups
                .as_ref()
                .map(|c| c.settings(kind))
                .unwrap_or_default(),
            skip_version_check: cfg.skip_version_check,
        };
        let reply = tokio::time::timeout(cfg.spawn_timeout, async {
            wire::write_frame(&mut stream, &handshake).await?;
            wire::read_frame::<_, HandshakeReply>(&mut stream).await
        })
        .await
        .map_err(|_| SpawnError::Timeout {
            path: path.clone(),
            after: cfg.spawn_timeout,
        })?
        .map_err(|err| SpawnError::Handshake {
            path: path.clone(),
            err,
        })?;
        let info = match reply {
            // The node checks too: a worker of an older build may accept what it should not,
            // and two unidentified builds (`unknown`) never pair.
            HandshakeReply::Ready(info)
                if !cfg.skip_version_check
                    && (info.version != cfg.node_version
                        || !builds_match(&cfg.build_id, &info.build_id)) =>
            {
                return Err(SpawnError::VersionMismatch {
                    path,
                    node: format!("{} ({})", cfg.node_version, cfg.build_id),
                    worker: info,
                });
            }
            HandshakeReply::Ready(info) => info,
            HandshakeReply::VersionMismatch(worker) => {
                return Err(SpawnError::VersionMismatch {
                    path,
                    node: format!("{} ({})", cfg.node_version, cfg.build_id),
                    worker,
                });
            }
            HandshakeReply::SandboxFailed(why) => return Err(SpawnError::Sandbox { path, why }),
            HandshakeReply::WrongKind { serves } => {
                return Err(SpawnError::WrongKind {
                    path,
                    serves,
                    wanted: kind,
                });
            }
        };
        Ok(Self {
            kind,
            info,
            child,
            stream,
            dir,
            cgroups: cfg.cgroups.clone(),
        })
    }

    /// The role this worker serves.
    pub fn kind(&self) -> WorkerKind {
        self.kind
    }

    /// What the worker reported about itself in the handshake.
    pub fn info(&self) -> &WorkerInfo {
        &self.info
    }

    /// The worker's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The worker's own folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends `req` and waits at most `wall` for the answer.
    ///
    /// After an error the worker is in an unknown state and must be dropped.
    pub async fn request<Req: Encode, Resp: Decode>(
        &mut self,
        req: &Req,
        wall: Duration,
    ) -> Result<Resp, RequestError> {
        let exchange = async {
            wire::write_frame(&mut self.stream, req).await?;
            wire::read_frame::<_, Resp>(&mut self.stream).await
        };
        let err = match tokio::time::timeout(wall, exchange).await {
            Ok(Ok(resp)) => return Ok(resp),
            Err(_) => {
                self.kill().await;
                return Err(RequestError::TimedOut(wall));
            }
            Ok(Err(err)) => err,
        };
        let lost_connection = matches!(
            err,
            FrameError::Closed | FrameError::Io(_) | FrameError::Truncated { .. }
        );
        if lost_connection
            && let Ok(Ok(status)) = tokio::time::timeout(REAP_GRACE, self.child.wait()).await
        {
            return Err(RequestError::Died(describe_exit(status)));
        }
        self.kill().await;
        Err(RequestError::Protocol(err))
    }

    /// Whether the worker process is still running (an idle worker may have been killed
    /// from outside; it is then replaced before it is given a job).
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the worker and reaps it.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.release_cgroup();
    }

    /// Removes the exited worker's cgroup folders.
    fn release_cgroup(&self) {
        if let Some(cgroups) = &self.cgroups {
            cgroups.release_worker(self.info.pid);
        }
    }

    /// Asks the worker to stop by closing its socket, and waits for it to exit.
    pub async fn shutdown(mut self) {
        let _ = self.stream.shutdown().await;
        if tokio::time::timeout(REAP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            self.kill().await;
        }
        self.release_cgroup();
    }
}
