//! `pvf-node doctor` on this machine and on broken installations.
//!
//! The first test states what CI expects of its machine: every sandbox layer works. If a
//! layer stops working (a kernel or container change), this test fails instead of the
//! sandbox silently weakening.

use serde_json::Value;
use std::{os::unix::fs::PermissionsExt, path::Path, process::Command};

fn doctor(args: &[&str]) -> (i32, Value) {
    let out = Command::new(pvf_tests::pvf_node())
        .arg("doctor")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap(), json)
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
fn this_machine_supports_every_sandbox_layer() {
    let cache = tempfile::tempdir().unwrap();
    let (status, report) = doctor(&[
        "--workers-path",
        &pvf_tests::workers_dir().display().to_string(),
        "--cache-path",
        &cache.path().display().to_string(),
    ]);
    for feature in pvf_tests::REQUIRED_SANDBOX_LAYERS {
        let c = check(&report, &format!("sandbox: {feature}"));
        assert_eq!(c["status"], "ok", "CI expects {feature} to work here: {c}");
    }
    for optional in pvf_tests::OPTIONAL_SANDBOX_LAYERS {
        let c = check(&report, &format!("sandbox: {optional} (optional)"));
        assert_eq!(c["status"], "ok", "CI expects {optional} to work here: {c}");
    }
    for controller in ["pids", "memory"] {
        let c = check(&report, &format!("cgroup: {controller} (optional)"));
        assert_eq!(
            c["status"], "ok",
            "CI expects the {controller} cgroup here: {c}"
        );
    }
    assert_eq!(report["secure_mode_ready"], true, "{report}");
    assert_eq!(status, 0);
}

#[test]
fn a_missing_worker_lists_every_place_tried() {
    let empty = tempfile::tempdir().unwrap();
    let (status, report) = doctor(&["--workers-path", &empty.path().display().to_string()]);
    assert_eq!(status, 1);
    let c = check(&report, "worker binaries");
    assert_eq!(c["status"], "fail");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains(&empty.path().display().to_string()),
        "{c}"
    );
    assert!(c["hint"].is_string());
}

fn fake_worker(dir: &Path, name: &str, script: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn workers_of_another_version_and_without_a_sandbox_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["pvf-prepare-worker", "pvf-execute-worker"] {
        fake_worker(dir.path(), name, "echo 'pvf-workers 9.9.9 (other)'");
    }
    let (status, report) = doctor(&["--workers-path", &dir.path().display().to_string()]);
    assert_eq!(status, 1);
    let c = check(&report, "pvf-execute-worker version");
    assert_eq!(c["status"], "fail");
    assert!(c["hint"].as_str().unwrap().contains("restart"), "{c}");
    let probe = check(&report, "sandbox probe");
    assert_eq!(probe["status"], "fail", "{probe}");
    assert_eq!(report["secure_mode_ready"], false);
}
