//! Tries every sandbox layer for real, each in a throw-away job process, and reports which
//! work. The host runs this through the worker binary (`--probe-sandbox`) at start-up and in
//! `pvf-node doctor`, because what matters is what the worker can do under the current
//! kernel, container and service manager.

use super::{
    JobNamespaceSettings, Policy, WorkerConfinement, WorkerRoot, capabilities, confine_worker,
    landlock, limits, no_new_privs, seccomp,
};
use crate::job::{JobEnd, JobReport, Spawn, run_job_in};
use std::{path::Path, time::Duration};

/// The outcome of trying one sandbox layer in a throw-away job process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    /// The layer, e.g. `landlock`, `seccomp`, `pivot_root`, `pid_namespace`.
    pub feature: &'static str,
    /// `None` if the layer works, else why not.
    pub error: Option<String>,
}

const BUDGET: Duration = Duration::from_secs(5);

/// Runs `check` in a job created as `spawn`; the job reports an empty message on success.
fn in_job(spawn: Spawn, check: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    match run_job_in(spawn, BUDGET, || match check() {
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
}

fn namespace_id(kind: &str) -> Result<std::path::PathBuf, String> {
    std::fs::read_link(format!("/proc/self/ns/{kind}")).map_err(|e| format!("/proc/self/ns: {e}"))
}

/// A job created with one new namespace (`kind` as named in `/proc/self/ns`) must be in a
/// different one than the prober.
fn job_namespace(kind: &'static str, namespaces: JobNamespaceSettings) -> Result<(), String> {
    let outside = namespace_id(kind)?;
    in_job(Spawn::Clone(namespaces), || {
        let inside = namespace_id(kind)?;
        if inside == outside {
            return Err(format!("the job is still in {}", outside.display()));
        }
        if kind == "pid" && rustix::process::getpid().as_raw_nonzero().get() != 1 {
            return Err("the job is not PID 1 of its namespace".into());
        }
        Ok(())
    })
    .map_err(|e| format!("clone with a new {kind} namespace: {e}"))
}

fn landlock_works(allowed_dir: &Path) -> Result<(), String> {
    no_new_privs().map_err(|e| e.to_string())?;
    landlock::restrict(&Policy {
        landlock: true,
        writable: vec![allowed_dir.to_path_buf()],
        ..Policy::default()
    })
    .map_err(|e| e.to_string())?;
    match std::fs::File::open("/etc/hostname").or_else(|_| std::fs::File::open("/proc/self/status"))
    {
        Ok(_) => Err(
            "the rules were accepted but a file outside the folder could still be opened".into(),
        ),
        Err(_) => Ok(()),
    }
}

fn seccomp_works() -> Result<(), String> {
    match run_job_in(Spawn::Fork, BUDGET, || {
        if let Err(e) = no_new_privs().and_then(|()| seccomp::apply()) {
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
    }
}

fn net_namespace_works() -> Result<(), String> {
    in_job(Spawn::Fork, || {
        let mut root = WorkerRoot::new(Path::new("/").into(), false);
        let net_only = WorkerConfinement {
            net_namespace: true,
            ..WorkerConfinement::default()
        };
        confine_worker(&mut root, net_only).map_err(|e| e.to_string())?;
        // Outside, a port without a listener refuses; in an empty namespace there is no route.
        match std::net::TcpStream::connect(("127.0.0.1", 1)) {
            Err(e) if e.raw_os_error() == Some(libc::ENETUNREACH) => Ok(()),
            other => Err(format!(
                "the new namespace still reaches loopback ({other:?})"
            )),
        }
    })
}

fn pivot_root_works(allowed_dir: &Path) -> Result<(), String> {
    in_job(Spawn::Fork, || {
        let mut root = WorkerRoot::new(allowed_dir.to_path_buf(), false);
        let pivot = WorkerConfinement {
            pivot_root: true,
            read_only: true,
            ..WorkerConfinement::default()
        };
        confine_worker(&mut root, pivot).map_err(|e| e.to_string())?;
        if Path::new("/etc").exists() || Path::new("/proc").exists() {
            return Err("the old root is still visible after pivot_root".into());
        }
        match std::fs::write("/probe", b"x") {
            Err(e) if e.raw_os_error() == Some(libc::EROFS) => Ok(()),
            other => Err(format!("the new root is not read-only ({other:?})")),
        }
    })
}

fn user_namespace_works() -> Result<(), String> {
    in_job(Spawn::Fork, || {
        // The worker's own user namespace comes with `pivot_root`; this checks it alone.
        // SAFETY: no FILES flag; the probe job is single-threaded.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWUSER) }
            .map_err(|e| format!("unshare(CLONE_NEWUSER): {e}"))?;
        Ok(())
    })
}

fn capabilities_drop() -> Result<(), String> {
    in_job(Spawn::Fork, || {
        capabilities::drop_all().map_err(|e| e.to_string())?;
        let left = rustix::thread::capabilities(None).map_err(|e| e.to_string())?;
        if !left.permitted.is_empty() || !left.effective.is_empty() {
            return Err(format!("capabilities left after dropping: {left:?}"));
        }
        Ok(())
    })
}

/// Tries every layer for real, each in its own job process: Landlock must then refuse to open
/// a file outside `allowed_dir`, seccomp must kill a process that opens a socket, `pivot_root`
/// must hide the old root, and each job namespace must differ from the prober's.
pub fn probe(allowed_dir: &Path) -> Vec<ProbeResult> {
    let ns = JobNamespaceSettings::default();
    let result = |feature, r: Result<(), String>| ProbeResult {
        feature,
        error: r.err(),
    };
    vec![
        result("net_namespace", net_namespace_works()),
        result("user_namespace", user_namespace_works()),
        result("pivot_root", pivot_root_works(allowed_dir)),
        result(
            "job_user_namespace",
            job_namespace("user", JobNamespaceSettings { user: true, ..ns }),
        ),
        result(
            "mount_namespace",
            job_namespace("mnt", JobNamespaceSettings { mount: true, ..ns }),
        ),
        result(
            "pid_namespace",
            job_namespace("pid", JobNamespaceSettings { pid: true, ..ns }),
        ),
        result(
            "ipc_namespace",
            job_namespace("ipc", JobNamespaceSettings { ipc: true, ..ns }),
        ),
        result(
            "uts_namespace",
            job_namespace("uts", JobNamespaceSettings { uts: true, ..ns }),
        ),
        result(
            "cgroup_namespace",
            job_namespace("cgroup", JobNamespaceSettings { cgroup: true, ..ns }),
        ),
        result(
            "no_new_privs",
            in_job(Spawn::Fork, || no_new_privs().map_err(|e| e.to_string())),
        ),
        result(
            "rlimits",
            in_job(Spawn::Fork, || limits().map_err(|e| e.to_string())),
        ),
        result("capabilities", capabilities_drop()),
        result(
            "landlock",
            in_job(Spawn::Fork, || landlock_works(allowed_dir)),
        ),
        result("seccomp", seccomp_works()),
    ]
}

/// [`probe`] as one JSON object: `{"landlock": null | "why not", …}`.
pub fn probe_json(allowed_dir: &Path) -> String {
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
