//! `pvf-zombie` end to end: real `pvf-node serve` and `pvf-malus` processes, started and
//! stopped by the runner, driven by its relay-chain stand-in.
//!
//! - 0002 (three honest validators, one disputing valid candidates) passes;
//! - 0006 (malus over a third) fails with exit status 1 and names the violated assertion;
//! - SIGINT to the runner leaves no node or worker behind;
//! - every shipped scenario parses and references what exists.

use pvf_tests::binary;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// `pvf-zombie` with the node binaries it starts checked to be built and current.
fn zombie() -> Command {
    binary("pvf-node");
    binary("pvf-malus");
    Command::new(binary("pvf-zombie"))
}

fn run(scenario: &str, logs: &Path) -> (i32, String, String) {
    let start = Instant::now();
    let out = zombie()
        .arg("test")
        .arg(scenarios().join(scenario))
        .arg("--logs")
        .arg(logs)
        .output()
        .expect("pvf-zombie runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "{scenario}: exit {:?} in {:.1} s\n{stdout}",
        out.status.code(),
        start.elapsed().as_secs_f64()
    );
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

#[test]
fn every_shipped_scenario_parses() {
    let mut tests: Vec<PathBuf> = std::fs::read_dir(scenarios())
        .expect("tests/scenarios exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zndsl"))
        .collect();
    tests.sort();
    assert!(tests.len() >= 6, "{tests:?}");
    for t in &tests {
        let (test, network) = pvf_zombie::check_test(t).unwrap_or_else(|e| panic!("{e}"));
        assert!(!test.assertions.is_empty(), "{}", t.display());
        let toml = t.with_extension("toml");
        assert_eq!(
            std::fs::canonicalize(&network.path).unwrap(),
            std::fs::canonicalize(&toml).unwrap(),
            "{} names its own network file",
            t.display()
        );
    }
}

#[test]
fn disputes_scenario_passes_end_to_end() {
    let logs = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run("0002-parachains-disputes.zndsl", logs.path());
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("PASSED"), "{stdout}");
    assert!(stdout.contains("ConcludedValid"), "{stdout}");
    for node in ["alice", "bob", "charlie", "malus-0"] {
        let log = std::fs::read_to_string(logs.path().join(format!("{node}.log"))).unwrap();
        assert!(log.contains("serving"), "{node}.log: {log}");
    }
    let malus = std::fs::read_to_string(logs.path().join("malus-0.log")).unwrap();
    assert!(malus.contains("MALUS intercept"));
}

#[test]
fn malus_over_a_third_fails_naming_the_assertion() {
    let logs = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run("0006-malus-over-a-third.zndsl", logs.path());
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let line = std::fs::read_to_string(scenarios().join("0006-malus-over-a-third.zndsl"))
        .unwrap()
        .lines()
        .position(|l| l.starts_with("dispute concluded valid"))
        .expect("the assertion is in the file")
        + 1;
    let failure = format!("FAILED line {line}: dispute concluded valid within 10 seconds");
    assert!(stdout.contains(&failure), "{failure} not in:\n{stdout}");
    assert!(stdout.contains("Unconcluded"), "{stdout}");
    // Exactly one assertion failed: the earlier ones held.
    assert_eq!(stdout.matches("FAILED line").count(), 1, "{stdout}");
}

/// Command lines of every process, by pid.
fn processes() -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            if cmd.is_empty() {
                return None; // a kernel thread or an exited process not yet reaped
            }
            Some((pid, String::from_utf8_lossy(&cmd).replace('\0', " ")))
        })
        .collect()
}

#[test]
fn sigint_leaves_no_node_behind() {
    let logs = tempfile::tempdir().unwrap();
    // `spawn` runs the network until interrupted: a `test` run of this scenario may finish
    // (in about 2 s) before the signal is sent.
    let mut child = zombie()
        .arg("spawn")
        .arg(scenarios().join("0002-parachains-disputes.toml"))
        .arg("--logs")
        .arg(logs.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until every node serves and the chain runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    let node_pids = loop {
        let ours: Vec<(u32, String)> = processes()
            .into_iter()
            .filter(|(_, cmd)| cmd.contains(" serve") || cmd.contains("pvf-malus"))
            .filter(|(pid, _)| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| {
                        s.rsplit(')')
                            .next()?
                            .split_whitespace()
                            .nth(1)?
                            .parse()
                            .ok()
                    })
                    == Some(child.id())
            })
            .collect();
        let serving = ["alice", "bob", "charlie", "malus-0"].iter().all(|n| {
            std::fs::read_to_string(logs.path().join(format!("{n}.log")))
                .is_ok_and(|l| l.contains("serving"))
        });
        if ours.len() == 4 && serving {
            break ours;
        }
        assert!(
            Instant::now() < deadline,
            "the nodes did not start: {ours:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Every node's cache lives under one folder of this run: anything still running there
    // after the runner exits is a leftover, worker or node.
    let cache_root = node_pids[0]
        .1
        .split_whitespace()
        .skip_while(|w| *w != "--cache-path")
        .nth(1)
        .map(|p| Path::new(p).parent().unwrap().to_path_buf())
        .expect("nodes get --cache-path");
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "pvf-zombie did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0), "spawn ends normally on Ctrl-C");
    let root = cache_root.to_string_lossy().into_owned();
    let left: Vec<(u32, String)> = processes()
        .into_iter()
        .filter(|(pid, cmd)| node_pids.iter().any(|(p, _)| p == pid) || cmd.contains(&root))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!cache_root.exists(), "the caches are removed");
}
