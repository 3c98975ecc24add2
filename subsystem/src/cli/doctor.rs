//! `pvf-node doctor`: check this machine before it validates anything.
//!
//! Runs the real worker binaries: finds them (listing every place tried), compares their
//! versions with the node's, lets them try every sandbox layer, and checks the artifact
//! cache folder; and reads the installed systemd unit for settings that would break the
//! sandbox under systemd (`super::unit`). Prints one line per check with a hint for each
//! failure; `--json` prints one object. Exit status 1 when secure validator mode could not
//! start (here, or as the unit is configured), else 0.

use super::HostArgs;
use crate::host::{artifacts, discovery, security};
use clap::Args;
use pvf_messages::{protocol::WorkerKind, version::FULL_VERSION};
use serde::Serialize;
use std::path::Path;

/// Arguments of `pvf-node doctor`.
#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Check this systemd unit file (and its drop-ins in FILE.d/) instead of the installed
    /// pvf-node.service.
    #[arg(long, value_name = "FILE")]
    pub unit: Option<std::path::PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub host: HostArgs,
}

/// One check.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `ok`, `warn` or `fail`.
    pub status: &'static str,
    /// What was found.
    pub detail: String,
    /// What to do about a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Check {
    pub(super) fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: "ok",
            detail: detail.into(),
            hint: None,
        }
    }

    pub(super) fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            status: "fail",
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }

    pub(super) fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            status: "warn",
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
}

/// The whole report, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The node's version and build id.
    pub node_version: &'static str,
    /// Whether secure validator mode can start on this machine.
    pub secure_mode_ready: bool,
    /// Every check.
    pub checks: Vec<Check>,
}

fn kernel() -> Check {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let lsm = std::fs::read_to_string("/sys/kernel/security/lsm")
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|_| "unknown (securityfs not mounted)".into());
    Check::ok(
        "kernel",
        format!(
            "Linux {} ({}); LSMs: {lsm}",
            release.trim(),
            std::env::consts::ARCH
        ),
    )
}

fn version_of(kind: WorkerKind, binary: &Path) -> Check {
    let name = format!("{} version", kind.binary_name());
    match discovery::check_version(binary) {
        Ok(line) => Check::ok(name, line),
        Err(e) => Check::fail(
            name,
            format!("{}, the node is {FULL_VERSION}", e.found),
            "install pvf-node and both workers from the same build (the package, or one \
             `cargo build --release --bins`), then restart the node",
        ),
    }
}

fn cache(root: &Path) -> Vec<Check> {
    let name = "artifact cache";
    if let Err(e) = std::fs::create_dir_all(root) {
        return vec![Check::fail(
            name,
            format!("cannot create {}: {e}", root.display()),
            "pass --cache-path to a folder the node may write",
        )];
    }
    let mut checks = Vec::new();
    match tempfile::NamedTempFile::new_in(root) {
        Ok(_) => checks.push(Check::ok(name, format!("{} is writable", root.display()))),
        Err(e) => checks.push(Check::fail(
            name,
            format!("cannot write in {}: {e}", root.display()),
            "fix the folder's permissions or pass --cache-path",
        )),
    }
    let Ok(path) = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()) else {
        return checks;
    };
    // SAFETY: `stat` is a valid out-pointer and `path` a NUL-terminated string.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } == 0 {
        let free = stat.f_bavail as u64 * stat.f_frsize as u64;
        let free_gib = free as f64 / f64::from(1u32 << 30);
        checks.push(if free < 1 << 30 {
            Check::warn(
                "cache free space",
                format!("{free_gib:.1} GiB free"),
                "artifacts take 1–20 MB each; keep a few GiB free",
            )
        } else {
            Check::ok("cache free space", format!("{free_gib:.1} GiB free"))
        });
        checks.push(if stat.f_flag & libc::ST_NOEXEC != 0 {
            Check::fail(
                "cache allows exec",
                "the cache is on a noexec mount",
                "artifacts are mapped executable: put the cache on a mount without noexec",
            )
        } else {
            Check::ok("cache allows exec", "the mount allows executable mappings")
        });
    }
    checks
}

/// Builds the report; `unit_file` is `--unit`.
pub fn report(args: &HostArgs, unit_file: Option<&Path>) -> Report {
    let mut checks = vec![kernel()];
    let mut secure_mode_ready = true;
    let cache_root = args
        .cache_path
        .clone()
        .unwrap_or_else(artifacts::default_cache_dir);
    match discovery::discover(args.workers_path.as_deref()) {
        Err(e) => {
            secure_mode_ready = false;
            checks.push(Check::fail("worker binaries", e.to_string(), "install the workers next to pvf-node, in /usr/libexec/pvf-host, or pass --workers-path"));
        }
        Ok(paths) => {
            checks.push(Check::ok(
                "worker binaries",
                format!(
                    "{} and {}",
                    paths.prepare.display(),
                    paths.execute.display()
                ),
            ));
            let versions = [WorkerKind::Prepare, WorkerKind::Execute].map(|kind| {
                let path = paths.get(kind).to_path_buf();
                std::thread::spawn(move || version_of(kind, &path))
            });
            let probe_dir = tempfile::tempdir();
            let probe = match &probe_dir {
                Ok(dir) => security::probe(&paths.execute, dir.path()),
                Err(e) => Err(format!("cannot create a folder to probe in: {e}")),
            };
            for v in versions {
                let check = v.join().unwrap_or_else(|_| {
                    Check::fail("worker version", "the check panicked", "report a bug")
                });
                secure_mode_ready &= check.status == "ok";
                checks.push(check);
            }
            match probe {
                Ok(report) => {
                    let (sandbox, ready) = sandbox_checks(&report);
                    secure_mode_ready &= ready;
                    checks.extend(sandbox);
                }
                Err(e) => {
                    secure_mode_ready = false;
                    checks.push(Check::fail(
                        "sandbox probe",
                        e,
                        "run the worker binary by hand with --probe-sandbox to see its error",
                    ));
                }
            }
        }
    }
    checks.extend(cgroup_checks());
    for check in cache(&cache_root)
        .into_iter()
        .chain(super::unit::report(unit_file))
    {
        secure_mode_ready &= check.status != "fail";
        checks.push(check);
    }
    Report {
        node_version: FULL_VERSION,
        secure_mode_ready,
        checks,
    }
}

/// Runs `pvf-node doctor`.
pub fn run(args: DoctorArgs) -> u8 {
    let report = report(&args.host, args.unit.as_deref());
    if args.json {
        super::report::print_json(&report);
    } else {
        let width = report
            .checks
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0);
        for c in &report.checks {
            println!("{:<width$}  {:<4}  {}", c.name, c.status, c.detail);
            if let Some(hint) = &c.hint {
                println!("{:<width$}        hint: {hint}", "");
            }
        }
        println!(
            "\nsecure validator mode: {}",
            if report.secure_mode_ready {
                "can start"
            } else {
                "CANNOT start (see the failures above)"
            }
        );
    }
    if report.secure_mode_ready { 0 } else { 1 }
}

/// One check per sandbox layer: a missing layer fails when secure mode needs it (a required
/// one, or both file-system isolations), else warns. Also says whether secure mode can start.
fn sandbox_checks(report: &security::ProbeReport) -> (Vec<Check>, bool) {
    let missing = match security::decide(report, true) {
        Ok(_) => Vec::new(),
        Err(e) => e.missing.into_iter().map(|(f, _)| f).collect(),
    };
    let checks = security::all_features()
        .map(|feature| {
            let name = if security::OPTIONAL.contains(&feature) {
                format!("sandbox: {feature} (optional)")
            } else {
                format!("sandbox: {feature}")
            };
            match report.get(feature).cloned() {
                Some(None) => Check::ok(name, "works in a job process"),
                why => {
                    let why = why.flatten().unwrap_or_else(|| "not reported".into());
                    if missing.iter().any(|m| m == feature) {
                        Check::fail(name, why, security::hint(feature))
                    } else {
                        Check::warn(name, why, security::hint(feature))
                    }
                }
            }
        })
        .collect();
    (checks, missing.is_empty())
}

/// Whether the node can give its workers cgroup limits (optional: warnings only).
fn cgroup_checks() -> Vec<Check> {
    let (cgroups, unavailable) = crate::host::cgroups::NodeCgroups::create();
    let hint = "mount the cgroup v1 controller, or delegate it to the node's cgroup v2 subtree \
                (systemd: Delegate=pids memory; Docker: --cgroupns=private with cgroup v2)";
    [
        (
            "pids",
            cgroups.limits_tasks(),
            "tasks of each worker are bounded (stops fork bombs)",
        ),
        (
            "memory",
            cgroups.limits_memory(),
            "execute workers' memory is bounded",
        ),
    ]
    .into_iter()
    .map(|(controller, works, detail)| {
        let name = format!("cgroup: {controller} (optional)");
        if works {
            Check::ok(name, detail)
        } else {
            let why = unavailable
                .iter()
                .find(|(c, _)| *c == controller)
                .map_or_else(|| "unavailable".to_string(), |(_, why)| why.clone());
            Check::warn(name, why, hint)
        }
    })
    .collect()
}
