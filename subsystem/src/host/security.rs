//! What sandbox the workers can apply on this machine, and whether the node may run.
//!
//! The node asks a real worker binary (`--probe-sandbox`) to try every layer in throw-away
//! job processes, because what matters is what the worker can do under the current kernel,
//! container and service manager, not what the node's own process could. Secure validator
//! mode (the default) refuses to start when a required layer is missing, naming each one and
//! what to do about it; `--insecure-validator-i-know-what-i-do` runs anyway, loudly.
//!
//! The rule is the reference's, made stricter: seccomp is required (with `no_new_privs`, which
//! it needs, and the rlimits and capability drop, which any kernel allows), and so is the job
//! PID namespace (without it a process a job leaves behind survives the job: it can write into
//! the prepare folder and signal or kill the next job; in the namespace it dies with the job,
//! which is its PID 1), and at least one of the two file-system isolations, Landlock or
//! `pivot_root`; a missing one of those two, or any other missing namespace, is a warning.

use super::discovery::WorkerPaths;
use pvf_messages::protocol::{JobNamespaceSettings, SecuritySettings};
use std::{
    collections::BTreeMap,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// How long the probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The layers secure validator mode requires.
pub const REQUIRED: &[&str] = &[
    "no_new_privs",
    "rlimits",
    "capabilities",
    "seccomp",
    "pid_namespace",
];

/// The file-system isolations: secure validator mode requires at least one of them.
pub const FILESYSTEM: &[&str] = &["landlock", "pivot_root"];

/// Layers used where they work, with a warning where they do not.
pub const OPTIONAL: &[&str] = &[
    "net_namespace",
    "user_namespace",
    "job_user_namespace",
    "mount_namespace",
    "ipc_namespace",
    "uts_namespace",
    "cgroup_namespace",
];

/// Every layer the probe reports.
pub fn all_features() -> impl Iterator<Item = &'static str> {
    REQUIRED.iter().chain(FILESYSTEM).chain(OPTIONAL).copied()
}

/// The outcome of each layer: `None` if it works, else why not.
pub type ProbeReport = BTreeMap<String, Option<String>>;

/// What an operator can do about a missing layer.
pub fn hint(feature: &str) -> &'static str {
    match feature {
        "landlock" => {
            "needs Linux >= 5.13 with Landlock enabled: add `landlock` to the lsm= boot parameter \
             (or CONFIG_LSM) and check /sys/kernel/security/lsm; in Docker, run on such a host"
        }
        "seccomp" => {
            "needs CONFIG_SECCOMP_FILTER; under systemd, a SystemCallFilter= that blocks seccomp(2) \
             or prctl(2) prevents it; in Docker, a custom --security-opt seccomp profile must \
             allow seccomp(2)"
        }
        "no_new_privs" => {
            "prctl(PR_SET_NO_NEW_PRIVS) was refused: check the container's security options"
        }
        "rlimits" => "setrlimit was refused: check LimitCORE=/LimitNOFILE= in the systemd unit",
        "net_namespace" => {
            "unshare(CLONE_NEWNET) needs CAP_SYS_ADMIN or user namespaces; under systemd, \
             RestrictNamespaces= must allow net"
        }
        "pivot_root" | "user_namespace" | "job_user_namespace" => {
            "needs user namespaces: /proc/sys/user/max_user_namespaces must be > 0 (and on Ubuntu \
             >= 23.10 kernel.apparmor_restrict_unprivileged_userns=0); under systemd, \
             RestrictNamespaces= must allow user and mnt and SystemCallFilter= must allow \
             @mount; in Docker, a --security-opt seccomp profile must allow unshare, mount and \
             pivot_root (and --security-opt apparmor=unconfined)"
        }
        "mount_namespace" | "pid_namespace" | "ipc_namespace" | "uts_namespace"
        | "cgroup_namespace" => {
            "clone with this namespace flag needs CAP_SYS_ADMIN or user namespaces; under \
             systemd, RestrictNamespaces= must allow it (mnt, pid, ipc, uts, cgroup); in Docker, \
             --security-opt seccomp must allow clone with namespace flags"
        }
        "capabilities" => {
            "capset/prctl(PR_CAPBSET_DROP) was refused: check the container's seccomp profile"
        }
        _ => "see the worker's stderr",
    }
}

/// Runs `binary --probe-sandbox` and parses its report.
pub fn probe(binary: &Path, dir: &Path) -> Result<ProbeReport, String> {
    let mut child = Command::new(binary)
        .arg("--probe-sandbox")
        .arg("--worker-dir")
        .arg(dir)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < PROBE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} --probe-sandbox did not finish in {PROBE_TIMEOUT:?}",
                    binary.display()
                ));
            }
            Err(e) => return Err(format!("waiting for {}: {e}", binary.display())),
        }
    }
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut out)
            .map_err(|e| format!("reading the probe's output: {e}"))?;
    }
    serde_json::from_str(out.trim()).map_err(|e| {
        format!(
            "{} --probe-sandbox printed no report ({e}): {out:?}",
            binary.display()
        )
    })
}

/// Secure mode could not start.
#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "secure validator mode cannot start: {}. Fix it, or run with --insecure-validator-i-know-what-i-do (not for validators with stake)",
    .missing.iter().map(|(f, why)| format!("{f} is unavailable ({why}; {})", hint(f))).collect::<Vec<_>>().join("; ")
)]
pub struct SecureModeError {
    /// Each missing layer and why.
    pub missing: Vec<(String, String)>,
}

/// Decides the workers' security settings from a probe report.
pub fn decide(
    report: &ProbeReport,
    secure_mode: bool,
) -> Result<SecuritySettings, SecureModeError> {
    let works = |f: &str| matches!(report.get(f), Some(None));
    let why = |f: &str| {
        report
            .get(f)
            .cloned()
            .flatten()
            .unwrap_or_else(|| "not reported by the worker".into())
    };
    let no_filesystem_isolation = !FILESYSTEM.iter().any(|f| works(f));
    let missing: Vec<(String, String)> = REQUIRED
        .iter()
        .copied()
        .filter(|f| !works(f))
        .chain(
            FILESYSTEM
                .iter()
                .copied()
                .filter(|_| no_filesystem_isolation),
        )
        .map(|f| (f.to_string(), why(f)))
        .collect();
    if secure_mode && !missing.is_empty() {
        return Err(SecureModeError { missing });
    }
    for (feature, why) in &missing {
        tracing::warn!(
            feature,
            why,
            hint = hint(feature),
            "INSECURE: running PVF jobs without this sandbox layer"
        );
    }
    for feature in FILESYSTEM.iter().chain(OPTIONAL).filter(|f| !works(f)) {
        if missing.iter().any(|(m, _)| m == feature) {
            continue;
        }
        tracing::warn!(
            feature,
            why = why(feature),
            hint = hint(feature),
            "sandbox layer unavailable; running without it"
        );
    }
    Ok(SecuritySettings {
        secure_validator_mode: secure_mode,
        landlock: works("landlock"),
        seccomp: works("seccomp"),
        net_namespace: works("net_namespace"),
        pivot_root: works("pivot_root"),
        job_namespaces: JobNamespaceSettings {
            user: works("job_user_namespace"),
            mount: works("mount_namespace"),
            pid: works("pid_namespace"),
            ipc: works("ipc_namespace"),
            uts: works("uts_namespace"),
            cgroup: works("cgroup_namespace"),
        },
    })
}

/// Probes with the execute worker and decides; a failed probe counts as every layer missing.
pub fn settings_for(
    workers: &WorkerPaths,
    dir: &Path,
    secure_mode: bool,
) -> Result<SecuritySettings, SecureModeError> {
    let report = probe(&workers.execute, dir).unwrap_or_else(|e| {
        all_features()
            .map(|f| (f.to_string(), Some(e.clone())))
            .collect()
    });
    decide(&report, secure_mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(missing: &[&str]) -> ProbeReport {
        all_features()
            .map(|f| {
                (
                    f.to_string(),
                    missing.contains(&f).then(|| "refused".to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn secure_mode_names_every_missing_layer_with_a_hint() {
        let err = decide(&report(&["landlock", "pivot_root", "seccomp"]), true).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("landlock is unavailable") && msg.contains("lsm="),
            "{msg}"
        );
        assert!(
            msg.contains("pivot_root is unavailable") && msg.contains("max_user_namespaces"),
            "{msg}"
        );
        assert!(
            msg.contains("seccomp is unavailable") && msg.contains("SystemCallFilter"),
            "{msg}"
        );
        assert!(
            msg.contains("--insecure-validator-i-know-what-i-do"),
            "{msg}"
        );
    }

    #[test]
    fn one_file_system_isolation_is_enough() {
        let s = decide(&report(&["landlock"]), true).unwrap();
        assert!(!s.landlock && s.pivot_root && s.seccomp);
        let s = decide(&report(&["pivot_root", "ipc_namespace"]), true).unwrap();
        assert!(s.landlock && !s.pivot_root && s.job_namespaces.pid && !s.job_namespaces.ipc);
        let err = decide(&report(&["seccomp"]), true).unwrap_err();
        assert_eq!(err.missing.len(), 1, "{err}");
    }

    #[test]
    fn secure_mode_requires_the_job_pid_namespace() {
        // Without it a process left by a job outlives the job and reaches the next one.
        let err = decide(&report(&["pid_namespace"]), true).unwrap_err();
        assert_eq!(err.missing.len(), 1, "{err}");
        assert!(
            err.to_string().contains("pid_namespace is unavailable"),
            "{err}"
        );
        let s = decide(&report(&["pid_namespace"]), false).unwrap();
        assert!(!s.job_namespaces.pid && s.seccomp);
    }

    #[test]
    fn insecure_mode_runs_with_what_works() {
        let s = decide(&report(&["landlock", "pivot_root"]), false).unwrap();
        assert!(!s.landlock && !s.pivot_root && s.seccomp && !s.secure_validator_mode);
        let s = decide(&report(&[]), true).unwrap();
        assert!(s.landlock && s.seccomp && s.secure_validator_mode);
        assert!(s.job_namespaces.pid);
    }
}
