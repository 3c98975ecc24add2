//! `pvf-node prepare` and `pvf-node validate` as a user runs them: the real binary, real
//! workers found next to it, JSON on stdout and the documented exit statuses.

use parity_scale_codec::Encode;
use pvf_test_pvfs::{adder_chain, hostile};
use serde_json::Value;
use std::{
    path::Path,
    process::{Command, Output},
    time::{Duration, Instant},
};

struct Run {
    status: i32,
    json: Value,
    stderr: String,
}

fn pvf_node(cache: &Path, args: &[&str]) -> Output {
    Command::new(pvf_tests::pvf_node())
        .args(args)
        .arg("--cache-path")
        .arg(cache)
        .output()
        .expect("pvf-node runs")
}

fn run_json(cache: &Path, args: &[&str]) -> Run {
    let out = pvf_node(cache, args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout:?}"));
    Run {
        status: out.status.code().expect("pvf-node exits normally"),
        json,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write_code(dir: &Path, name: &str, code: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, code).unwrap();
    path.display().to_string()
}

#[test]
fn validate_adder_valid_and_invalid_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let code = write_code(dir.path(), "adder.wasm", pvf_test_pvfs::adder());
    let parent = adder_chain::genesis_head();
    let block = adder_chain::BlockData { state: 0, add: 5 };
    let parent_hex = hex::encode(parent.encode());
    let r = run_json(
        dir.path(),
        &[
            "validate",
            "--json",
            "--code",
            &code,
            "--parent-head",
            &format!("0x{parent_hex}"),
            "--block-data",
            &hex::encode(block.encode()),
            "--relay-parent-number",
            "17",
        ],
    );
    assert_eq!(r.status, 0, "{:?} {}", r.json, r.stderr);
    assert_eq!(r.json["verdict"], "valid");
    assert_eq!(
        r.json["head_data"],
        hex::encode(adder_chain::next_head(&parent, &block).encode())
    );
    assert_eq!(r.json["hrmp_watermark"], 17);

    let block_file = dir.path().join("bad-block.bin");
    std::fs::write(
        &block_file,
        adder_chain::BlockData { state: 9, add: 5 }.encode(),
    )
    .unwrap();
    let r = run_json(
        dir.path(),
        &[
            "validate",
            "--json",
            "--code",
            &code,
            "--parent-head",
            &parent_hex,
            "--block-data",
            &format!("@{}", block_file.display()),
        ],
    );
    assert_eq!(r.status, 1, "{:?}", r.json);
    assert_eq!(r.json["verdict"], "invalid");
    assert!(
        r.json["reason"].as_str().unwrap().contains("trap"),
        "{:?}",
        r.json
    );
    assert!(r.json["head_data"].is_null());
}

#[test]
fn halting_pvf_is_invalid_by_timeout_within_four_times_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let code = write_code(dir.path(), "halt.wasm", pvf_test_pvfs::halt());
    let start = Instant::now();
    let r = run_json(
        dir.path(),
        &[
            "validate",
            "--json",
            "--code",
            &code,
            "--parent-head",
            "",
            "--block-data",
            "",
            "--timeout-ms",
            "1000",
        ],
    );
    let took = start.elapsed();
    assert_eq!(r.status, 1, "{:?}", r.json);
    assert_eq!(r.json["verdict"], "invalid");
    assert!(
        r.json["reason"].as_str().unwrap().contains("timed out"),
        "{:?}",
        r.json
    );
    assert!(took >= Duration::from_secs(1), "{took:?}");
    // 4 x the timeout bounds the execution; the command also spawns two workers and prepares
    // the PVF (milliseconds, more on a loaded machine).
    assert!(
        took < Duration::from_millis(5500),
        "took {took:?}: more than 4 x the timeout plus preparation"
    );
}

#[test]
fn malformed_wasm_is_a_preparation_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let code = write_code(dir.path(), "bad.wasm", &hostile::malformed());
    let r = run_json(
        dir.path(),
        &[
            "validate",
            "--json",
            "--code",
            &code,
            "--parent-head",
            "",
            "--block-data",
            "",
        ],
    );
    assert_eq!(r.status, 1, "{:?}", r.json);
    assert_eq!(r.json["verdict"], "invalid");
    let reason = r.json["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("preparation failed: prevalidation failed"),
        "{reason}"
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);

    let r = run_json(dir.path(), &["prepare", "--json", "--code", &code]);
    assert_eq!(r.status, 1, "{:?}", r.json);
    assert_eq!(r.json["outcome"], "invalid");
}

#[test]
fn prepare_reports_the_artifact_and_its_cost() {
    let dir = tempfile::tempdir().unwrap();
    let code = write_code(dir.path(), "adder.wasm", pvf_test_pvfs::adder());
    let r = run_json(dir.path(), &["prepare", "--json", "--code", &code]);
    assert_eq!(r.status, 0, "{:?} {}", r.json, r.stderr);
    assert_eq!(r.json["outcome"], "prepared");
    let artifact = Path::new(r.json["artifact"].as_str().unwrap());
    assert!(artifact.starts_with(dir.path()), "{}", artifact.display());
    assert_eq!(
        std::fs::metadata(artifact).unwrap().len(),
        r.json["artifact_bytes"].as_u64().unwrap()
    );
    assert!(r.json["cpu_time_ms"].as_f64().unwrap() > 0.0);
    assert!(r.json["peak_tracked_bytes"].as_u64().unwrap() > 0);
    assert!(r.json["max_rss_bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        std::fs::read_dir(dir.path().join("workers"))
            .unwrap()
            .count(),
        0,
        "the worker's folder is left behind"
    );
}

#[test]
fn missing_workers_are_a_one_line_error_naming_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let code = write_code(dir.path(), "adder.wasm", pvf_test_pvfs::adder());
    let r = run_json(
        dir.path(),
        &[
            "validate",
            "--json",
            "--code",
            &code,
            "--parent-head",
            "",
            "--block-data",
            "",
            "--workers-path",
            &empty.path().display().to_string(),
        ],
    );
    assert_eq!(r.status, 2, "{:?}", r.json);
    assert_eq!(r.json["verdict"], "error");
    let reason = r.json["reason"].as_str().unwrap();
    assert!(reason.contains("pvf-prepare-worker"), "{reason}");
    assert!(
        reason.contains(&empty.path().display().to_string()),
        "{reason}"
    );
    assert!(reason.contains("--workers-path"), "{reason}");
    assert!(!reason.contains('\n'), "{reason}");
}

#[test]
fn bad_arguments_exit_2_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let code = write_code(dir.path(), "adder.wasm", pvf_test_pvfs::adder());
    let out = pvf_node(
        dir.path(),
        &[
            "validate",
            "--code",
            &code,
            "--parent-head",
            "zz",
            "--block-data",
            "",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--parent-head") && stderr.contains("@FILE"),
        "{stderr}"
    );
    let out = pvf_node(
        dir.path(),
        &[
            "validate",
            "--code",
            "/nonexistent.wasm",
            "--parent-head",
            "",
            "--block-data",
            "",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.wasm"));
}

#[test]
fn versions_are_printed() {
    for bin in ["pvf-node", "pvf-prepare-worker", "pvf-execute-worker"] {
        let out = Command::new(pvf_tests::binary(bin))
            .arg("--version")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(
            stdout.contains(pvf_messages::version::FULL_VERSION),
            "{bin}: {stdout}"
        );
    }
}
