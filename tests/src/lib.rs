//! Shared set-up for the integration tests and benchmarks: finding the real binaries.
//!
//! The tests drive the binaries that `cargo build --bins` put in the same target folder as
//! the test executable (`target/<profile>/`). They are never rebuilt per test. A missing
//! binary fails the test with the command that builds it; nothing is skipped.

pub mod bench;
pub mod candidates;
pub mod faults;

use pvf_messages::version::FULL_VERSION;
use pvf_subsystem::host::{Host, HostConfig};
use std::path::{Path, PathBuf};

/// The folder holding the workspace's binaries for the profile this test was built with.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let mut dir = exe
        .parent()
        .expect("test executables live in a folder")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Path of the workspace binary `name`; panics with the build command if it is missing or
/// was built from another commit than this test (a version mismatch would fail every test).
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first with `cargo build --release --bins` \
         (or without --release, matching the test profile)",
        path.display()
    );
    let out = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.contains(FULL_VERSION),
        "{} is stale ({}), the tests are {FULL_VERSION}: rebuild with `cargo build --release --bins`",
        path.display(),
        version.trim()
    );
    path
}

/// The folder with both worker binaries, checked to exist.
pub fn workers_dir() -> PathBuf {
    binary("pvf-prepare-worker");
    binary("pvf-execute-worker");
    bin_dir()
}

/// The `pvf-node` binary.
pub fn pvf_node() -> PathBuf {
    binary("pvf-node")
}

/// A one-shot host using the built workers and a cache in `cache`.
pub fn host(cache: &Path) -> Host {
    host_with(HostConfig {
        workers_path: Some(workers_dir()),
        cache_path: Some(cache.to_path_buf()),
        ..HostConfig::default()
    })
}

/// A one-shot host with a custom configuration.
pub fn host_with(cfg: HostConfig) -> Host {
    Host::new(&cfg).unwrap_or_else(|e| panic!("cannot set up the host: {e}"))
}

/// A single-threaded runtime with timers and I/O, for driving the host from a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The sandbox layers `pvf-node doctor` must report `ok` on CI's machines (its `sandbox: NAME`
/// checks), root or not.
pub const REQUIRED_SANDBOX_LAYERS: [&str; 7] = [
    "no_new_privs",
    "rlimits",
    "capabilities",
    "landlock",
    "pivot_root",
    "seccomp",
    "pid_namespace",
];

/// The layers doctor calls optional (`sandbox: NAME (optional)`) that CI's machines still offer.
pub const OPTIONAL_SANDBOX_LAYERS: [&str; 7] = [
    "net_namespace",
    "user_namespace",
    "job_user_namespace",
    "mount_namespace",
    "ipc_namespace",
    "uts_namespace",
    "cgroup_namespace",
];
