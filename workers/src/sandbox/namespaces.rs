//! Namespaces: the worker's own, entered once at start-up, and each job's, created with it.
//!
//! **The worker** ([`confine_worker`]) moves, once, into a user namespace in which it is root
//! (what follows then needs no privilege outside it, and grants none there), a mount namespace
//! whose root is its own folder (`pivot_root`: the rest of the file system is not forbidden
//! but gone; for execute workers the root is read-only and the artifact cache appears,
//! read-only, at `/artifacts`), and an empty network namespace. These are done per worker,
//! not per job, because a network namespace is the slowest kind to create and a mount
//! namespace with a pivoted root takes several system calls; jobs inherit all three. An execute
//! worker sees no artifact cache: the node links each job's artifact, and only it, into the
//! worker's job folder ([`JOB_DIR`], mounted read-only), so that a job sees no other
//! parachain's artifact and which PVFs this validator prepared.
//!
//! **Each job** ([`JobNamespaceSettings`], [`clone_flags`]) is created by `clone` in new user, mount, PID, IPC, UTS
//! and cgroup namespaces: it is PID 1 of its own namespace (sees and signals no other
//! process; whatever it forks dies with it), shares no System V IPC or host name with
//! anything, sees its cgroup as the root, and holds capabilities only over namespaces that
//! contain nothing but itself (and drops those too, see [`super::capabilities`]).
//!
//! **Unprivileged**, e.g. as the packaged unit's user with no capabilities, a process may
//! create a network, mount, PID, IPC, UTS or cgroup namespace only together with a new user
//! namespace (where the kernel allows unprivileged user namespaces): `clone` and `unshare`
//! create that one first, and it owns the others. So a process without `CAP_SYS_ADMIN`
//! ([`can_create_namespaces`]) always adds one: the worker, mapping its own user to root there
//! as with `pivot_root`, and each job (unmapped, as its own user namespace always is). Root
//! gets exactly what it asks for. A worker that entered its own user namespace is root there,
//! so its jobs need no extra one.

use pvf_messages::protocol::ARTIFACT_FILE_NAME;
use pvf_messages::protocol::JobNamespaceSettings;
use rustix::{
    fs::{StatVfsMountFlags, statvfs},
    mount::{
        MountFlags, MountPropagationFlags, UnmountFlags, mount_bind, mount_change, mount_remount,
        unmount,
    },
    process::{getgid, getuid, pivot_root},
    thread::{UnshareFlags, unshare_unsafe},
};
use std::path::{Path, PathBuf};

/// The folder in an execute worker's folder where the node links the artifact of the job at
/// hand (as [`pvf_messages::protocol::ARTIFACT_FILE_NAME`]); read-only for the worker.
pub const JOB_DIR: &str = pvf_messages::protocol::EXECUTE_JOB_DIR;

/// Whether this process may create namespaces of other kinds than user namespaces by itself:
/// it holds `CAP_SYS_ADMIN` in its own user namespace (root, or a worker that is root of the
/// user namespace it entered at start-up). A process without it, such as an unprivileged node
/// and its workers (the packaged unit's user), gets them only together with a new user
/// namespace, which the kernel creates first and which then owns them; so both [`clone_flags`]
/// and [`confine_worker`] add one for such a process. When `capget` fails, the answer is no:
/// one user namespace too many costs nothing, one too few loses the other namespaces.
pub fn can_create_namespaces() -> bool {
    rustix::thread::capabilities(None).is_ok_and(|c| {
        c.effective
            .contains(rustix::thread::CapabilitySet::SYS_ADMIN)
    })
}

/// The `clone` flags creating the job namespaces `ns` asks for, with a new user namespace
/// added when any other is asked for and this process cannot create it alone
/// ([`can_create_namespaces`]).
pub fn clone_flags(ns: &JobNamespaceSettings) -> libc::c_int {
    let flags = requested_clone_flags(ns);
    if flags & !libc::CLONE_NEWUSER != 0 && !can_create_namespaces() {
        flags | libc::CLONE_NEWUSER
    } else {
        flags
    }
}

/// The `clone` flags of exactly the job namespaces `ns` asks for.
fn requested_clone_flags(ns: &JobNamespaceSettings) -> libc::c_int {
    [
        (ns.user, libc::CLONE_NEWUSER),
        (ns.mount, libc::CLONE_NEWNS),
        (ns.pid, libc::CLONE_NEWPID),
        (ns.ipc, libc::CLONE_NEWIPC),
        (ns.uts, libc::CLONE_NEWUTS),
        (ns.cgroup, libc::CLONE_NEWCGROUP),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .fold(0, |flags, (_, flag)| flags | flag)
}

/// Which parts of the worker's confinement to set up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerConfinement {
    /// Enter an empty network namespace.
    pub net_namespace: bool,
    /// Enter user and mount namespaces and `pivot_root` into the worker's folder.
    pub pivot_root: bool,
    /// Make the new root read-only (execute workers).
    pub read_only: bool,
}

/// The worker's folder and its job folder, as the worker and its jobs see them.
#[derive(Clone, Debug)]
pub struct WorkerRoot {
    worker_dir: PathBuf,
    job_dir: bool,
    pivoted: bool,
}

impl WorkerRoot {
    /// The worker's folder as the host named it (before any `pivot_root`), and whether it has a
    /// job folder ([`JOB_DIR`], execute workers).
    pub fn new(worker_dir: PathBuf, job_dir: bool) -> Self {
        Self {
            worker_dir,
            job_dir,
            pivoted: false,
        }
    }

    /// Whether the worker's root is its folder.
    pub fn is_pivoted(&self) -> bool {
        self.pivoted
    }

    /// The worker's folder.
    pub fn worker_dir(&self) -> PathBuf {
        if self.pivoted {
            PathBuf::from("/")
        } else {
            self.worker_dir.clone()
        }
    }

    /// The job folder, for an execute worker.
    pub fn job_dir(&self) -> Option<PathBuf> {
        self.job_dir.then(|| self.worker_dir().join(JOB_DIR))
    }

    /// Where the artifact the host calls `host_path` is for this worker; it must be the one
    /// file in this worker's job folder, where the host links the artifact of each job.
    pub fn artifact(&self, host_path: &Path) -> Result<PathBuf, String> {
        let expected = self.worker_dir.join(JOB_DIR).join(ARTIFACT_FILE_NAME);
        match self.job_dir() {
            Some(dir) if host_path == expected => Ok(dir.join(ARTIFACT_FILE_NAME)),
            _ => Err(format!(
                "{} is not this worker's job artifact ({})",
                host_path.display(),
                expected.display()
            )),
        }
    }
}

/// A step of the worker's confinement failed.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {err}")]
pub struct ConfineError {
    /// What was being done.
    pub step: String,
    /// The error.
    pub err: std::io::Error,
}

fn step<T>(what: impl std::fmt::Display, r: rustix::io::Result<T>) -> Result<T, ConfineError> {
    r.map_err(|e| ConfineError {
        step: what.to_string(),
        err: e.into(),
    })
}

fn write_proc(file: &str, content: &str) -> Result<(), ConfineError> {
    std::fs::write(file, content).map_err(|err| ConfineError {
        step: format!("writing {content:?} to {file}"),
        err,
    })
}

/// The per-mount flags of the mount holding `path`, which a remount must keep (the kernel
/// refuses to clear flags locked by a less privileged user namespace).
fn kept_flags(path: &Path) -> Result<MountFlags, ConfineError> {
    let have = step(format!("statvfs {}", path.display()), statvfs(path))?.f_flag;
    let map = [
        (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        (StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
        (StatVfsMountFlags::NODIRATIME, MountFlags::NODIRATIME),
        (StatVfsMountFlags::RELATIME, MountFlags::RELATIME),
    ];
    Ok(map
        .into_iter()
        .filter(|(s, _)| have.contains(*s))
        .fold(MountFlags::empty(), |acc, (_, m)| acc | m))
}

fn remount_read_only(path: &Path, extra: MountFlags) -> Result<(), ConfineError> {
    let flags = MountFlags::BIND | MountFlags::RDONLY | extra | kept_flags(path)?;
    step(
        format!("remounting {} read-only", path.display()),
        mount_remount(path, flags, c""),
    )
}

/// Moves this worker into its confinement. Call it once, before the first job and while the
/// worker is single-threaded (the kernel refuses a user namespace to threaded processes).
pub fn confine_worker(root: &mut WorkerRoot, c: WorkerConfinement) -> Result<(), ConfineError> {
    let (uid, gid) = (getuid().as_raw(), getgid().as_raw());
    let mut flags = UnshareFlags::empty();
    if c.net_namespace {
        flags |= UnshareFlags::NEWNET;
    }
    if c.pivot_root {
        flags |= UnshareFlags::NEWUSER | UnshareFlags::NEWNS;
    }
    if flags.is_empty() {
        return Ok(());
    }
    // An unprivileged worker gets its network namespace only within a user namespace of its
    // own; one `unshare` creates the user namespace first, which then owns the others.
    if !can_create_namespaces() {
        flags |= UnshareFlags::NEWUSER;
    }
    // SAFETY: no `FILES` flag, so no thread can lose its descriptors; the worker has one thread.
    step(format!("unshare({flags:?})"), unsafe {
        unshare_unsafe(flags)
    })?;
    if flags.contains(UnshareFlags::NEWUSER) {
        // Root inside is the worker's own user outside: files keep their owners. Unmapped,
        // the worker would be `nobody` there and could not create files with its owner.
        write_proc("/proc/self/setgroups", "deny")?;
        write_proc("/proc/self/uid_map", &format!("0 {uid} 1"))?;
        write_proc("/proc/self/gid_map", &format!("0 {gid} 1"))?;
    }
    if !c.pivot_root {
        return Ok(());
    }
    pivot_into(root, c.read_only)
}

fn pivot_into(root: &mut WorkerRoot, read_only: bool) -> Result<(), ConfineError> {
    let canonical = |p: &Path| {
        std::fs::canonicalize(p).map_err(|err| ConfineError {
            step: format!("resolving {}", p.display()),
            err,
        })
    };
    let dir = canonical(&root.worker_dir)?;
    step(
        "making every mount private",
        mount_change(
            "/",
            MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
        ),
    )?;
    step(
        format!("bind-mounting {}", dir.display()),
        mount_bind(&dir, &dir),
    )?;
    if root.job_dir {
        // Not `noexec`: wasmtime maps the artifact's code executable. Nothing can be run from
        // it (`execve` kills the job, Landlock grants no execution).
        let job_dir = dir.join(JOB_DIR);
        step(
            format!("bind-mounting {}", job_dir.display()),
            mount_bind(&job_dir, &job_dir),
        )?;
        remount_read_only(&job_dir, MountFlags::NOSUID | MountFlags::NODEV)?;
    }
    step(
        format!("chdir {}", dir.display()),
        rustix::process::chdir(&dir),
    )?;
    step("pivot_root", pivot_root(".", "."))?;
    step("detaching the old root", unmount(".", UnmountFlags::DETACH))?;
    step("chdir /", rustix::process::chdir("/"))?;
    if read_only {
        remount_read_only(
            Path::new("/"),
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        )?;
    }
    root.pivoted = true;
    Ok(())
}
