//! Cgroup limits: the worker moves itself, with every job it will create, into a cgroup of its
//! own that bounds the number of tasks and, for execute workers, memory.
//!
//! The host creates one parent cgroup per controller hierarchy (cgroup v1 has one per
//! controller, v2 one for all) and names them in the handshake; the worker creates
//! `worker-<pid>` beneath each, writes the limits the hierarchy supports, and moves in, before
//! it unshares anything (the cgroup file system is out of reach afterwards). The host removes
//! the folder when the worker is gone (`pvf_messages::protocol::worker_cgroup_name` is the
//! convention both follow).
//!
//! The task limit is what stops a fork bomb: `RLIMIT_NPROC` does not bind for root, which a
//! node often is, nor for a job whose user namespace maps to root.

use pvf_messages::protocol::worker_cgroup_name;
use std::path::{Path, PathBuf};

/// The limits a worker's cgroup gets; `None` leaves a resource unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    /// Most tasks (processes and threads) of the worker and its jobs together.
    pub pids_max: Option<u64>,
    /// Most memory of the worker and its jobs together, in bytes; swap is not allowed.
    pub memory_max: Option<u64>,
}

/// Moving into a cgroup failed.
#[derive(Debug, thiserror::Error)]
#[error("cgroup {}: {err}", .path.display())]
pub struct CgroupError {
    /// The file or folder being written.
    pub path: PathBuf,
    /// The error.
    pub err: std::io::Error,
}

fn write(path: PathBuf, value: impl ToString) -> Result<(), CgroupError> {
    std::fs::write(&path, value.to_string()).map_err(|err| CgroupError { path, err })
}

/// Writes `value` to the first of `files` that this hierarchy has (v2 and v1 name them
/// differently; a hierarchy without the controller has none of them).
fn write_first(dir: &Path, files: &[&str], value: u64) -> Result<bool, CgroupError> {
    match files.iter().map(|f| dir.join(f)).find(|p| p.exists()) {
        Some(path) => write(path, value).map(|()| true),
        None => Ok(false),
    }
}

/// Creates this process's cgroup beneath each of `parents`, applies `limits` where the
/// hierarchy has the controller, and moves this process in. Returns the cgroups joined.
pub fn join(parents: &[PathBuf], limits: CgroupLimits) -> Result<Vec<PathBuf>, CgroupError> {
    let name = worker_cgroup_name(std::process::id());
    let mut joined = Vec::new();
    let mut parents = parents.to_vec();
    parents.sort();
    // One cgroup per hierarchy: joining a second folder of the same one would leave the first.
    parents.dedup();
    for parent in &parents {
        let dir = parent.join(&name);
        match std::fs::create_dir(&dir) {
            Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(CgroupError { path: dir, err });
            }
            _ => {}
        }
        if let Some(max) = limits.pids_max {
            write_first(&dir, &["pids.max"], max)?;
        }
        if let Some(max) = limits.memory_max {
            // v1 needs the memory limit set before the memory+swap one, which may not be lower.
            if write_first(&dir, &["memory.max", "memory.limit_in_bytes"], max)? {
                write_first(&dir, &["memory.swap.max"], 0)?;
                write_first(&dir, &["memory.memsw.limit_in_bytes"], max)?;
            }
        }
        write(dir.join("cgroup.procs"), std::process::id())?;
        joined.push(dir);
    }
    Ok(joined)
}
