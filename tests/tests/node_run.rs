//! `pvf-node run` end to end: the embedded workload, restarts with the same cache, a
//! corrupted artifact, a user's workload file, collator mode and the metrics endpoint.

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::Path,
    process::{Command, Output, Stdio},
};

fn run(cache: &Path, extra: &[&str]) -> Output {
    Command::new(pvf_tests::pvf_node())
        .arg("run")
        .arg("--cache-path")
        .arg(cache)
        .args(["--prometheus-port", "0"])
        .args(extra)
        .output()
        .expect("pvf-node runs")
}

#[track_caller]
fn summary(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("unexpected 0"), "{stdout}");
    stdout
}

#[test]
fn the_default_workload_and_restarts_with_the_same_cache() {
    let cache = tempfile::tempdir().unwrap();
    let first = summary(&run(cache.path(), &[]));
    assert!(first.contains("preparations 6 "), "{first}");

    let second = summary(&run(cache.path(), &[]));
    assert!(
        second.contains("preparations 0 "),
        "a restart prepared again: {second}"
    );
    assert!(
        second.contains("artifacts reused from the last run 6"),
        "{second}"
    );

    let artifact = std::fs::read_dir(cache.path().join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pvf"))
        .unwrap();
    let mut bytes = std::fs::read(&artifact).unwrap();
    let third = bytes.len() / 3;
    bytes[third] ^= 0x10;
    std::fs::write(&artifact, bytes).unwrap();
    let third = summary(&run(cache.path(), &[]));
    assert!(third.contains("preparations 1 "), "{third}");
    assert!(
        third.contains("artifacts reused from the last run 5"),
        "{third}"
    );
}

#[test]
fn a_workload_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("w.json");
    std::fs::write(
        &spec,
        r#"{"pvfs": [{"name": "t", "code": "builtin:trap"}, {"name": "bad", "code": "bad.wasm"}],
            "candidates": [
              {"name": "trap", "pvf": "t", "kind": "dispute", "parent_head": "", "block_data": "", "expect": "invalid"},
              {"name": "junk", "pvf": "bad", "parent_head": "", "block_data": "", "expect": "error"}
            ]}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("bad.wasm"), b"\0asm junk").unwrap();
    let out = run(
        &dir.path().join("cache"),
        &["--workload", &spec.display().to_string()],
    );
    let text = summary(&out);
    assert!(text.contains("candidates 2"), "{text}");

    std::fs::write(&spec, r#"{"pvfs": [], "candidates": [{"name": "x", "pvf": "nope", "parent_head": "", "block_data": "", "expect": "valid"}]}"#).unwrap();
    let out = run(
        &dir.path().join("cache"),
        &["--workload", &spec.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown pvf \"nope\""), "{stderr}");
}

#[test]
fn collator_mode_starts_no_worker_and_drops_requests() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = run(&cache, &["--collator", "--blocks", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("collator mode: no worker was started"),
        "{stdout}"
    );
    assert!(
        !cache.exists(),
        "a collator must not even open the artifact cache"
    );
}

#[test]
fn metrics_are_served_during_the_run() {
    let cache = tempfile::tempdir().unwrap();
    let mut child = Command::new(pvf_tests::pvf_node())
        .arg("run")
        .arg("--cache-path")
        .arg(cache.path())
        .args(["--prometheus-port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("metrics on http://")
        .and_then(|l| l.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in {line:?}"))
        .to_string();
    let mut body = String::new();
    for _ in 0..50 {
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        body.clear();
        conn.read_to_string(&mut body).unwrap();
        if body.contains("polkadot_pvf_execute_enqueued ")
            && !body.contains("polkadot_pvf_execute_enqueued 0")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    for name in [
        "polkadot_pvf_worker_spawned",
        "polkadot_pvf_execute_enqueued",
        "polkadot_pvf_preparation_time",
        "pvf_host_verdicts_total",
    ] {
        assert!(body.contains(name), "{name} missing: {body}");
    }
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    assert!(child.wait().unwrap().success(), "{rest}");
}

/// Worker binaries replaced by ones of another version (what an in-place upgrade leaves):
/// the node stops with a message telling the operator to restart it, and no verdict.
#[test]
fn workers_of_another_version_stop_the_node_with_the_operators_message() {
    let workers = pvf_tests::faults::WorkerCopies::new();
    for name in pvf_tests::faults::WORKER_BINARIES {
        let real = workers.real(name);
        // The real binary, told the node is another release: it refuses the handshake.
        let script = format!(
            "#!/bin/sh\nfor a; do shift; if [ -n \"$next\" ]; then a=0.0.0-other; next=; fi; \
             [ \"$a\" = --node-version ] && next=1; set -- \"$@\" \"$a\"; done\nexec '{}' \"$@\"\n",
            real.display()
        );
        workers.replace_with_script(name, &script);
    }
    let cache = tempfile::tempdir().unwrap();
    let workers_path = workers.path().to_string_lossy().into_owned();
    let out = run(cache.path(), &["--workers-path", &workers_path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    let last = stderr
        .lines()
        .rfind(|l| l.starts_with("pvf-node: "))
        .unwrap_or_else(|| panic!("no message from pvf-node: {stderr}"));
    assert!(last.contains("restart"), "{last}");
    assert!(last.contains("in-place upgrade"), "{last}");
    // The summary, when the workload ended before the host stopped, shows no vote.
    for class in ["valid", "invalid", "possibly-invalid"] {
        let row = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(class));
        if let Some(row) = row {
            assert_eq!(
                row.split_whitespace().nth(1),
                Some("0"),
                "a verdict on workers of another version: {stdout}"
            );
        }
    }
}
