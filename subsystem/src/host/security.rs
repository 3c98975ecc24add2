//! What sandbox the workers can apply on this machine, and whether the node may run.
//!
//! The node asks a real worker binary (`--probe-sandbox`) to try every layer in throw-away
//! job processes, because what matters is what the worker can do under the current kernel,
//! container and service manager, not what the node's own process could. Secure validator
//! mode (the default) refuses to start when a required layer is missing, naming each one and
//! what to do about it; `--insecure-validator-i-know-what-i-do` runs anyway, loudly.

use super::discovery::WorkerPaths;
use pvf_messages::protocol::SecuritySettings;
use std::{
    collections::BTreeMap,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// How long the probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The layers secure validator mode requires. (Namespaces and `pivot_root` are not
/// implemented yet, so Landlock is the only file-system isolation and is required.)
pub const REQUIRED: &[&str] = &["no_new_privs", "rlimits", "landlock", "seccomp"];

/// Layers used where they work, with a warning where they do not.
pub const OPTIONAL: &[&str] = &["pid_namespace", "net_namespace"];

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
        "pid_namespace" => {
            "clone(CLONE_NEWPID) needs CAP_SYS_ADMIN or user namespaces; under systemd, \
             RestrictNamespaces= must allow pid; in Docker, --security-opt seccomp must allow clone \
             with namespace flags"
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
    let missing: Vec<(String, String)> = REQUIRED
        .iter()
        .filter(|f| !works(f))
        .map(|f| {
            let why = report
                .get(*f)
                .cloned()
                .flatten()
                .unwrap_or_else(|| "not reported by the worker".into());
            (f.to_string(), why)
        })
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
    for feature in OPTIONAL.iter().filter(|f| !works(f)) {
        let why = report.get(*feature).cloned().flatten().unwrap_or_default();
        tracing::info!(feature, why, "optional sandbox layer unavailable");
    }
    Ok(SecuritySettings {
        secure_validator_mode: secure_mode,
        landlock: works("landlock"),
        seccomp: works("seccomp"),
        pid_namespace: works("pid_namespace"),
        net_namespace: works("net_namespace"),
    })
}

/// Probes with the execute worker and decides; a failed probe counts as every layer missing.
pub fn settings_for(
    workers: &WorkerPaths,
    dir: &Path,
    secure_mode: bool,
) -> Result<SecuritySettings, SecureModeError> {
    let report = probe(&workers.execute, dir).unwrap_or_else(|e| {
        REQUIRED
            .iter()
            .map(|f| (f.to_string(), Some(e.clone())))
            .collect()
    });
    decide(&report, secure_mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(missing: &[&str]) -> ProbeReport {
        REQUIRED
            .iter()
            .map(|f| {
                (
                    f.to_string(),
                    missing.contains(f).then(|| "refused".to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn secure_mode_names_every_missing_layer_with_a_hint() {
        let err = decide(&report(&["landlock", "seccomp"]), true).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("landlock is unavailable") && msg.contains("lsm="),
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
    fn insecure_mode_runs_with_what_works() {
        let s = decide(&report(&["landlock"]), false).unwrap();
        assert!(!s.landlock && s.seccomp && !s.secure_validator_mode);
        let s = decide(&report(&[]), true).unwrap();
        assert!(s.landlock && s.seccomp && s.secure_validator_mode);
    }
}
