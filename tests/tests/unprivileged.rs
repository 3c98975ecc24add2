//! The node as an unprivileged user (as the packaged unit runs it: its own user, no
//! capabilities) gets the same sandbox layers as root wherever the kernel allows unprivileged
//! user namespaces: the workers and jobs create their other namespaces together with a user
//! namespace of their own. Run as root, the tests drop to `nobody` (uid and gid 65534, no
//! supplementary groups, hence no capabilities) for the node; run as another user, they run
//! the node as that user. A kernel that forbids unprivileged user namespaces fails them,
//! saying so: there is nothing to show on such a machine, and a silent pass would hide it.
//! The cgroup limits are not asserted: an unprivileged user may create cgroups only where they
//! were delegated to it (systemd's `Delegate=`), which this test does not set up.

use serde_json::Value;
use std::{
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::Path,
    process::{Command, Output},
};

const NOBODY: u32 = 65534;

/// The sysctls that decide whether unprivileged users may create user namespaces.
fn userns_sysctls() -> String {
    [
        "/proc/sys/user/max_user_namespaces",
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    ]
    .iter()
    .map(|f| match std::fs::read_to_string(f) {
        Ok(v) => format!("{f} = {}", v.trim()),
        Err(_) => format!("{f}: absent"),
    })
    .collect::<Vec<_>>()
    .join(", ")
}

/// `pvf-node` with `args`, as an unprivileged user, with a cache folder that user owns.
fn unprivileged_node(args: &[&str], cache: &Path) -> Output {
    let mut cmd = Command::new(pvf_tests::pvf_node());
    cmd.args(args)
        .arg("--workers-path")
        .arg(pvf_tests::workers_dir())
        .arg("--cache-path")
        .arg(cache);
    // SAFETY: a plain system call.
    if unsafe { libc::geteuid() } == 0 {
        std::fs::set_permissions(cache, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(cache, Some(NOBODY), Some(NOBODY)).unwrap();
        // The standard library drops the supplementary groups when root sets a uid; the
        // kernel clears the capabilities with the change of uid.
        cmd.uid(NOBODY).gid(NOBODY);
    }
    cmd.output().expect("pvf-node runs")
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {report}"))
}

#[test]
fn an_unprivileged_node_gets_every_namespace() {
    let cache = tempfile::tempdir().unwrap();
    let cache_path = cache.path().join("cache");
    std::fs::create_dir(&cache_path).unwrap();
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = unprivileged_node(&["doctor", "--json"], &cache_path);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let user_ns = check(&report, "sandbox: user_namespace (optional)");
    assert_eq!(
        user_ns["status"],
        "ok",
        "THIS KERNEL FORBIDS UNPRIVILEGED USER NAMESPACES ({}): an unprivileged node cannot \
         have its namespaces here, so this test shows nothing. {user_ns}",
        userns_sysctls()
    );
    for feature in pvf_tests::REQUIRED_SANDBOX_LAYERS {
        let c = check(&report, &format!("sandbox: {feature}"));
        assert_eq!(c["status"], "ok", "unprivileged, {feature} fails: {c}");
    }
    // `user_namespace` was checked first, with its own message.
    for feature in pvf_tests::OPTIONAL_SANDBOX_LAYERS
        .into_iter()
        .filter(|f| *f != "user_namespace")
    {
        let c = check(&report, &format!("sandbox: {feature} (optional)"));
        assert_eq!(c["status"], "ok", "unprivileged, {feature} fails: {c}");
    }
    assert_eq!(report["secure_mode_ready"], true, "{report}");
    assert_eq!(out.status.code(), Some(0), "{report}");
}

/// The workload through real workers and jobs: secure mode starts, no layer is reported
/// missing (the node warns for each one it runs without), every verdict is the expected one.
#[test]
fn an_unprivileged_node_validates_the_default_workload_with_every_namespace() {
    let cache = tempfile::tempdir().unwrap();
    let cache_path = cache.path().join("cache");
    std::fs::create_dir(&cache_path).unwrap();
    std::fs::set_permissions(cache.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = unprivileged_node(&["run", "--no-prometheus"], &cache_path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "({}) {stdout}\n{stderr}",
        userns_sysctls()
    );
    assert!(stdout.contains("unexpected 0"), "{stdout}");
    for missing in ["sandbox layer unavailable", "INSECURE"] {
        assert!(
            !stderr.contains(missing),
            "unprivileged, the node runs without a layer ({}): {stderr}",
            userns_sysctls()
        );
    }
}
