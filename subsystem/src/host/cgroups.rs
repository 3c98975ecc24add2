//! Cgroups for the workers: one parent per hierarchy for this node, one child per worker.
//!
//! The node creates `pvf-node-<pid>-<n>` beneath its own cgroup in each hierarchy that has the
//! `pids` or `memory` controller (cgroup v1 mounts one hierarchy per controller; v2 one for
//! all, usable where the service manager delegated the controllers to the node's cgroup) and
//! passes the folders in the handshake; each worker moves itself into `worker-<pid>` beneath
//! them with the limits below. The node removes a worker's folders once the worker is gone,
//! and its own at shutdown (and those of dead nodes at start-up).
//!
//! Limits: tasks (processes and threads of a worker and its jobs together) are bounded, which
//! stops a fork bomb; the bound leaves room for the compiler's threads, one per CPU. Execute
//! workers get a memory limit above anything a PVF can legitimately use (4 GiB of linear
//! memory, the 256 MiB native stack, the engine), so it never turns a valid candidate into a
//! job death, while an exploited job cannot exhaust the machine's memory. Prepare workers get
//! one above the largest preparation memory limit executor parameters may set (16 GiB, which
//! the job's own allocator enforces deterministically) plus the worker's own: a runaway
//! compiler (lenient preparation has no allocator limit) is stopped before it exhausts a big
//! machine, and the limit never preempts the deterministic one.

use pvf_messages::protocol::{CgroupSettings, WorkerKind};
use std::path::{Path, PathBuf};

/// Memory limit of an execute worker and its jobs, in bytes.
pub const EXECUTE_MEMORY_MAX: u64 = 5 << 30;

/// Memory limit of a prepare worker and its jobs, in bytes: 16 GiB (the most
/// `PrecheckingMaxMemory` may be) and 1 GiB for the worker and the engine.
pub const PREPARE_MEMORY_MAX: u64 = 17 << 30;

/// Task limit of a worker and its jobs: room for the worker, the job, its execution thread
/// and one compiler thread per CPU, twice over.
pub fn pids_max() -> u64 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    32 + 2 * cpus
}

/// The name of this host's parent cgroups (the same in every hierarchy): the process id, and
/// a count for the hosts one process may create (tests do).
fn node_dir_name() -> String {
    static HOSTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = HOSTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("pvf-node-{}-{n}", std::process::id())
}

/// This node's parent cgroups.
#[derive(Debug)]
pub struct NodeCgroups {
    pids: Option<PathBuf>,
    memory: Option<PathBuf>,
}

/// A controller the node could not use, and why.
pub type Unavailable = (&'static str, String);

/// One line of `/proc/self/mountinfo` that mounts a cgroup hierarchy.
struct Hierarchy {
    /// `cgroup2`, or the v1 controllers it carries.
    controllers: Vec<String>,
    v2: bool,
    root: String,
    mount_point: PathBuf,
}

fn hierarchies() -> Vec<Hierarchy> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let (root, mount_point) = (*left.get(3)?, *left.get(4)?);
            match *right.first()? {
                "cgroup2" => Some(Hierarchy {
                    controllers: Vec::new(),
                    v2: true,
                    root: root.into(),
                    mount_point: mount_point.into(),
                }),
                "cgroup" => Some(Hierarchy {
                    controllers: right.get(2)?.split(',').map(String::from).collect(),
                    v2: false,
                    root: root.into(),
                    mount_point: mount_point.into(),
                }),
                _ => None,
            }
        })
        .collect()
}

/// This process's cgroup path in the hierarchy with `controller` (v1) or in v2 (`None`).
fn own_path(controller: Option<&str>) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controller {
            Some(c) => names.split(',').any(|n| n == c),
            None => names.is_empty(),
        };
        matches.then(|| path.to_string())
    })
}

/// Where this process's cgroup of `h` is in the file system.
fn own_dir(h: &Hierarchy, path: &str) -> PathBuf {
    let relative = path
        .strip_prefix(h.root.trim_end_matches('/'))
        .unwrap_or(path);
    h.mount_point.join(relative.trim_start_matches('/'))
}

/// Whether the whitespace-separated list in `file` names `controller`.
fn lists(file: &Path, controller: &str) -> Result<bool, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(text.split_whitespace().any(|c| c == controller))
}

fn create_node_dir(own: &Path, name: &str, v2_controller: Option<&str>) -> Result<PathBuf, String> {
    if let Some(c) = v2_controller {
        if !lists(&own.join("cgroup.controllers"), c)? {
            return Err(format!(
                "the {c} controller is not delegated to {}",
                own.display()
            ));
        }
        // Our folder's children get the controller only if our own cgroup passes it down,
        // which the kernel allows only while no process sits in it (systemd:
        // DelegateSubgroup= moves the service's processes into a subgroup).
        let subtree = own.join("cgroup.subtree_control");
        if !lists(&subtree, c)? {
            std::fs::write(&subtree, format!("+{c}")).map_err(|e| {
                format!(
                    "enabling {c} in {} ({e}): the node's cgroup must delegate it to a \
                     subtree without processes (systemd: Delegate=yes with DelegateSubgroup=)",
                    subtree.display()
                )
            })?;
        }
    }
    sweep_dead_nodes(own);
    let dir = own.join(name);
    match std::fs::create_dir(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(format!("creating {}: {e}", dir.display()));
        }
        _ => {}
    }
    if let Some(c) = v2_controller {
        std::fs::write(dir.join("cgroup.subtree_control"), format!("+{c}")).map_err(|e| {
            let _ = std::fs::remove_dir(&dir);
            format!("enabling {c} in {}: {e}", dir.display())
        })?;
    }
    Ok(dir)
}

/// The folders in `dir` named `<prefix><pid>…` whose process is no longer running.
fn folders_of_dead_processes(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_prefix(prefix)
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        })
        .map(|entry| entry.path())
        .collect()
}

/// Removes the folders of nodes that are no longer running.
fn sweep_dead_nodes(own: &Path) {
    for dir in folders_of_dead_processes(own, "pvf-node-") {
        remove_tree(&dir);
    }
}

/// Removes a node folder and its worker folders, waiting up to half a second for workers
/// that were just killed to leave them (a cgroup with a task in it cannot be removed).
fn remove_tree(dir: &Path) {
    for _ in 0..50 {
        if let Ok(children) = std::fs::read_dir(dir) {
            for child in children.flatten().filter(|c| c.path().is_dir()) {
                let _ = std::fs::remove_dir(child.path());
            }
        }
        match std::fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            _ => return,
        }
    }
}

/// This node's folder for `controller`, named `name`. Under cgroup v2 both controllers share
/// one folder (a process can be in one cgroup per hierarchy only).
fn controller_dir(
    all: &[Hierarchy],
    name: &str,
    controller: &'static str,
) -> Result<PathBuf, String> {
    if let Some(h) = all
        .iter()
        .find(|h| !h.v2 && h.controllers.iter().any(|c| c == controller))
    {
        let path = own_path(Some(controller))
            .ok_or_else(|| format!("/proc/self/cgroup names no {controller} hierarchy"))?;
        return create_node_dir(&own_dir(h, &path), name, None);
    }
    let h = all.iter().find(|h| h.v2).ok_or_else(|| {
        format!("no cgroup hierarchy with the {controller} controller is mounted")
    })?;
    let path = own_path(None).ok_or("/proc/self/cgroup has no cgroup v2 entry")?;
    create_node_dir(&own_dir(h, &path), name, Some(controller))
}

/// This node's parent cgroups for its workers, or `None` where no controller can be used;
/// each unavailable controller is logged with the reason.
pub fn for_workers() -> Option<std::sync::Arc<NodeCgroups>> {
    let (cgroups, unavailable) = NodeCgroups::create();
    for (controller, why) in unavailable {
        tracing::warn!(
            controller,
            why,
            "cgroup limit unavailable; workers run without it (a cgroup v1 hierarchy or a \
             delegated v2 subtree, e.g. systemd Delegate=yes, enables it)"
        );
    }
    (cgroups.limits_tasks() || cgroups.limits_memory()).then(|| std::sync::Arc::new(cgroups))
}

impl NodeCgroups {
    /// Creates this node's parent cgroups where the machine allows; reports each controller
    /// that cannot be used.
    pub fn create() -> (Self, Vec<Unavailable>) {
        let all = hierarchies();
        let name = node_dir_name();
        let mut unavailable = Vec::new();
        let mut get = |controller: &'static str| {
            controller_dir(&all, &name, controller)
                .map_err(|why| unavailable.push((controller, why)))
                .ok()
        };
        let (pids, memory) = (get("pids"), get("memory"));
        (Self { pids, memory }, unavailable)
    }

    /// Whether the task limit applies.
    pub fn limits_tasks(&self) -> bool {
        self.pids.is_some()
    }

    /// Whether the memory limit applies.
    pub fn limits_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// What a worker of `kind` is told in its handshake. Also removes the folders of workers
    /// that have exited since.
    pub fn settings(&self, kind: WorkerKind) -> CgroupSettings {
        self.sweep_exited_workers();
        let memory = self.memory.as_ref();
        let mut parents: Vec<String> = self
            .pids
            .iter()
            .chain(memory)
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        parents.dedup();
        CgroupSettings {
            parents,
            pids_max: self.pids.as_ref().map(|_| pids_max()),
            memory_max: memory.map(|_| match kind {
                WorkerKind::Execute => EXECUTE_MEMORY_MAX,
                WorkerKind::Prepare => PREPARE_MEMORY_MAX,
            }),
        }
    }

    /// Removes the folders of worker `pid`, which must have exited.
    pub fn release_worker(&self, pid: u32) {
        let name = pvf_messages::protocol::worker_cgroup_name(pid);
        for parent in self.pids.iter().chain(&self.memory) {
            let _ = std::fs::remove_dir(parent.join(&name));
        }
    }
}

impl NodeCgroups {
    fn sweep_exited_workers(&self) {
        for parent in self.pids.iter().chain(&self.memory) {
            for dir in folders_of_dead_processes(parent, "worker-") {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

impl Drop for NodeCgroups {
    fn drop(&mut self) {
        for dir in self.pids.iter().chain(&self.memory) {
            remove_tree(dir);
        }
    }
}
