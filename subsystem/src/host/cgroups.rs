//! Cgroups for the workers: one parent per hierarchy for this node, one child per worker.
//!
//! The node creates `pvf-node-<pid>-<n>` beneath its own cgroup in each hierarchy that has the
//! `pids` or `memory` controller (cgroup v1 mounts one hierarchy per controller; v2 one for
//! all, usable where the service manager delegated the controllers to the node's cgroup; with
//! systemd's `DelegateSubgroup=`, where the node's own cgroup is a subgroup of the delegated
//! one and cannot pass controllers down, beneath the delegated one: `v2_parent`) and
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
    let parent = match v2_controller {
        Some(c) => v2_parent(own, c)?,
        None => own.to_path_buf(),
    };
    sweep_dead_nodes(&parent);
    let dir = parent.join(name);
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

/// Makes the v2 cgroup `dir` pass `c` down to its children.
fn pass_down(dir: &Path, c: &str) -> Result<(), String> {
    if !lists(&dir.join("cgroup.controllers"), c)? {
        return Err(format!(
            "the {c} controller is not delegated to {}",
            dir.display()
        ));
    }
    // The kernel lets a cgroup pass a controller down only while no process sits in it.
    let subtree = dir.join("cgroup.subtree_control");
    if !lists(&subtree, c)? {
        std::fs::write(&subtree, format!("+{c}")).map_err(|e| {
            format!(
                "enabling {c} in {} ({e}): the node's cgroup must delegate it to a subtree \
                 without processes (systemd: Delegate=pids memory with DelegateSubgroup=)",
                subtree.display()
            )
        })?;
    }
    Ok(())
}

/// Whether the service manager delegated the cgroup `dir` (systemd marks such a cgroup with
/// the `user.delegate` or `trusted.delegate` extended attribute set to `1`).
fn is_delegated(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    [c"user.delegate", c"trusted.delegate"].iter().any(|name| {
        let mut value = [0u8; 8];
        // SAFETY: valid C strings and a buffer of the length given.
        let n = unsafe {
            libc::getxattr(
                path.as_ptr(),
                name.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        n > 0 && value[..n as usize] == *b"1"
    })
}

/// Where this node's v2 cgroup goes: beneath its own cgroup `own` if that can pass `c` down;
/// else beneath the cgroup `own` sits in, if that one was delegated. The second is systemd's
/// `Delegate=` with `DelegateSubgroup=`: the service's processes sit in a subgroup (`own`),
/// which cannot pass controllers down while the node is in it, while the delegated service
/// cgroup above it holds no process. Any other parent is not the node's to use.
fn v2_parent(own: &Path, c: &str) -> Result<PathBuf, String> {
    let why = match pass_down(own, c) {
        Ok(()) => return Ok(own.to_path_buf()),
        Err(why) => why,
    };
    match own.parent().filter(|p| is_delegated(p)) {
        Some(delegated) => pass_down(delegated, c)
            .map(|()| delegated.to_path_buf())
            .map_err(|e| format!("{why}; in the delegated cgroup above it: {e}")),
        None => Err(why),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `text` into a cgroup file.
    fn put(file: &Path, text: &str) -> std::io::Result<()> {
        std::fs::write(file, text)
    }

    fn set_delegated(dir: &Path, on: bool) {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: valid C strings and a value of the length given.
        let r = unsafe {
            if on {
                libc::setxattr(
                    path.as_ptr(),
                    c"user.delegate".as_ptr(),
                    c"1".as_ptr().cast(),
                    1,
                    0,
                )
            } else {
                libc::removexattr(path.as_ptr(), c"user.delegate".as_ptr())
            }
        };
        assert_eq!(
            r,
            0,
            "{}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        );
    }

    /// systemd's `Delegate=` with `DelegateSubgroup=supervisor`, built for real in the cgroup
    /// v2 hierarchy: a delegated `service` cgroup (marked `user.delegate=1`, no process)
    /// passing a controller down to `service/supervisor`, where the node's process sits (a
    /// `sleep` stands in for it). The node's cgroup must then go beneath `service` (the
    /// kernel refuses to pass the controller down from `supervisor`), get the controller, and
    /// take a process; without the mark, the node uses no other cgroup than its own. Needs
    /// root and a v2 hierarchy with `pids`, `memory` or `hugetlb` free of cgroup v1 (a
    /// hybrid machine offers `hugetlb`), and fails saying so otherwise.
    #[test]
    fn under_delegate_subgroup_the_node_cgroup_goes_beneath_the_delegated_one() {
        // SAFETY: a plain system call.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "THIS TEST NEEDS ROOT: it builds a delegated cgroup v2 subtree"
        );
        let h = hierarchies()
            .into_iter()
            .find(|h| h.v2)
            .expect("NO CGROUP V2 HIERARCHY IS MOUNTED: this test cannot run here");
        let root = h.mount_point.clone();
        let available = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap();
        let c = ["pids", "memory", "hugetlb"]
            .into_iter()
            .find(|c| available.split_whitespace().any(|a| a == *c))
            .unwrap_or_else(|| {
                panic!(
                    "NO CONTROLLER TO TEST WITH in {}: {available:?}",
                    root.display()
                )
            });
        let root_subtree = root.join("cgroup.subtree_control");
        let enabled_at_root = !lists(&root_subtree, c).unwrap();
        if enabled_at_root {
            put(&root_subtree, &format!("+{c}")).unwrap();
        }
        let service = root.join(format!("pvf-test-delegated-{}", std::process::id()));
        let supervisor = service.join("supervisor");
        std::fs::create_dir(&service).unwrap();
        put(&service.join("cgroup.subtree_control"), &format!("+{c}")).unwrap();
        std::fs::create_dir(&supervisor).unwrap();
        let mut node = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        put(&supervisor.join("cgroup.procs"), &node.id().to_string()).unwrap();

        let result = std::panic::catch_unwind(|| {
            // The failure systemd's layout met: the node's own cgroup holds a process.
            let busy = pass_down(&supervisor, c).unwrap_err();
            assert!(busy.contains("DelegateSubgroup"), "{busy}");
            assert!(
                busy.contains(&format!("os error {}", libc::EBUSY)),
                "{busy}"
            );
            let refused = create_node_dir(&supervisor, "pvf-node-test-a", Some(c)).unwrap_err();
            assert!(!service.join("pvf-node-test-a").exists(), "{refused}");

            set_delegated(&service, true);
            let dir = create_node_dir(&supervisor, "pvf-node-test-b", Some(c)).unwrap();
            assert_eq!(dir, service.join("pvf-node-test-b"));
            assert!(lists(&dir.join("cgroup.subtree_control"), c).unwrap());
            let worker = dir.join("worker-test");
            std::fs::create_dir(&worker).unwrap();
            assert!(lists(&worker.join("cgroup.controllers"), c).unwrap());
            // A worker moves itself there from the node's cgroup.
            put(&worker.join("cgroup.procs"), &node.id().to_string()).unwrap();
            put(&supervisor.join("cgroup.procs"), &node.id().to_string()).unwrap();
            std::fs::remove_dir(&worker).unwrap();
            std::fs::remove_dir(&dir).unwrap();
        });

        let _ = node.kill();
        let _ = node.wait();
        let _ = std::fs::remove_dir(&supervisor);
        let _ = std::fs::remove_dir(&service);
        if enabled_at_root {
            let _ = put(&root_subtree, &format!("-{c}"));
        }
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}
