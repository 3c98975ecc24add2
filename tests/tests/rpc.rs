//! `pvf-node serve` end to end, over raw HTTP against the real binary: every method of
//! docs/rpc.md, the typed refusals of bad requests, a client that leaves mid-request, and
//! SIGTERM with a call in flight. After each refusal the node must still answer correctly.

use parity_scale_codec::Encode;
use pvf_messages::{HeadData, candidate_validation::CandidateCommitments, primitives::blake2_256};
use pvf_test_pvfs::adder_chain;
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// A `pvf-node serve` process on ephemeral ports, with its own cache; killed when dropped.
struct Node {
    child: Child,
    rpc: String,
    prometheus: String,
    stderr: Arc<Mutex<String>>,
    _cache: tempfile::TempDir,
}

impl Node {
    fn start() -> Self {
        Self::start_with_workers(&pvf_tests::workers_dir())
    }

    fn start_with_workers(workers: &std::path::Path) -> Self {
        let cache = tempfile::tempdir().unwrap();
        let mut child = Command::new(pvf_tests::pvf_node())
            .arg("serve")
            .args(["--rpc-port", "0", "--prometheus-port", "0", "--name", "t1"])
            .arg("--cache-path")
            .arg(cache.path())
            .arg("--workers-path")
            .arg(workers)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pvf-node starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let log = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                log.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or_else(|| {
                    panic!("no {name} in {line:?}; stderr: {}", stderr.lock().unwrap())
                })
                .to_owned()
        };
        assert!(line.starts_with("pvf-node serving: name=t1 "), "{line:?}");
        let (rpc, prometheus) = (field("rpc="), field("prometheus="));
        Self {
            child,
            rpc,
            prometheus,
            stderr,
            _cache: cache,
        }
    }

    /// Calls `method` and returns the whole response object.
    fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (_, text) = self.post(body.to_string().as_bytes());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// The result of a call that must succeed.
    #[track_caller]
    fn ok(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params);
        match response.get("result") {
            Some(result) => result.clone(),
            None => panic!("{method} failed: {response}"),
        }
    }

    /// The code and message of a call that must fail.
    #[track_caller]
    fn err(&self, method: &str, params: Value) -> (i64, String) {
        error_of(&self.call(method, params).to_string())
    }

    /// Posts `body` over a fresh connection; returns the HTTP status and the body.
    fn post(&self, body: &[u8]) -> (u16, String) {
        self.try_post(body).unwrap()
    }

    fn try_post(&self, body: &[u8]) -> std::io::Result<(u16, String)> {
        let mut conn = TcpStream::connect(&self.rpc)?;
        conn.set_read_timeout(Some(Duration::from_secs(120)))?;
        write!(
            conn,
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        conn.write_all(body)?;
        Ok(read_response(conn))
    }

    /// The value of `pvf_node_rpc_requests_total{method, outcome}`, 0 if absent.
    fn requests(&self, method: &str, outcome: &str) -> u64 {
        let mut conn = TcpStream::connect(&self.prometheus).unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let (_, text) = read_response(conn);
        let (m, o) = (
            format!("method=\"{method}\""),
            format!("outcome=\"{outcome}\""),
        );
        text.lines()
            .find(|l| {
                l.starts_with("pvf_node_rpc_requests_total{") && l.contains(&m) && l.contains(&o)
            })
            .map_or(0, |l| l.rsplit(' ').next().unwrap().parse().unwrap())
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_response(mut conn: TcpStream) -> (u16, String) {
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{text}"));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[track_caller]
fn error_of(text: &str) -> (i64, String) {
    let response: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let error = response
        .get("error")
        .unwrap_or_else(|| panic!("no error: {response}"));
    (
        error["code"].as_i64().unwrap(),
        error["message"].as_str().unwrap().to_owned(),
    )
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

const RELAY_PARENT_NUMBER: u32 = 7;

/// An adder candidate on the genesis head adding `add`; valid iff `state` is 0. A valid one
/// commits to the head and outputs the adder returns.
fn adder_candidate(code_hash: &str, state: u64, add: u64) -> Value {
    let parent = adder_chain::genesis_head();
    let block = adder_chain::BlockData { state, add };
    let head = if adder_chain::state_matches(&parent, state) {
        adder_chain::next_head(&parent, &block).encode()
    } else {
        vec![0; 72]
    };
    candidate(code_hash, &parent.encode(), &block.encode(), &head)
}

/// A candidate whose receipt commits to `head` (and the adder's other outputs).
fn candidate(code_hash: &str, parent_head: &[u8], pov: &[u8], head: &[u8]) -> Value {
    let commitments = CandidateCommitments {
        head_data: HeadData(head.to_vec()),
        hrmp_watermark: RELAY_PARENT_NUMBER,
        ..Default::default()
    };
    json!({
        "para_id": 100,
        "relay_parent": hex(&[0x42; 32]),
        "relay_parent_number": RELAY_PARENT_NUMBER,
        "relay_parent_storage_root": hex(&[0; 32]),
        "max_pov_size": 5 << 20,
        "parent_head": hex(parent_head),
        "pov": hex(pov),
        "code_hash": code_hash,
        "para_head": hex(&blake2_256(head).0),
        "commitments_hash": hex(&commitments.hash().0),
    })
}

#[test]
fn every_method_answers_through_the_overseer() {
    let node = Node::start();
    let version = node.ok("pvf_version", json!([]));
    assert_eq!(version, pvf_messages::version::FULL_VERSION);
    let out = Command::new(pvf_tests::pvf_node())
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(version.as_str().unwrap()));
    assert_eq!(
        node.ok("pvf_health", json!([])),
        json!({"status": "ok", "name": "t1", "version": version})
    );

    let adder = node.ok("pvf_submitCode", json!([hex(pvf_test_pvfs::adder())]));
    let expected_hash = hex(&blake2_256(pvf_test_pvfs::adder()).0);
    assert_eq!(adder, expected_hash);
    let adder = adder.as_str().unwrap().to_owned();
    let junk = node.ok("pvf_submitCode", json!([hex(b"\0asm junk")]));

    let leaf = json!({"hash": hex(&[0x42; 32]), "number": RELAY_PARENT_NUMBER, "ancestors": []});
    assert_eq!(node.ok("pvf_activeLeaves", json!([[leaf]])), Value::Null);
    assert_eq!(node.ok("pvf_headsUp", json!([[adder]])), Value::Null);
    assert_eq!(node.ok("pvf_preCheck", json!([adder])), "valid");
    assert_eq!(node.ok("pvf_preCheck", json!([junk])), "invalid");

    // A valid candidate at every exec kind, with the head the adder returns.
    let valid = adder_candidate(&adder, 0, 5);
    let head = adder_chain::next_head(
        &adder_chain::genesis_head(),
        &adder_chain::BlockData { state: 0, add: 5 },
    )
    .encode();
    for kind in ["backing", "backing-system-paras", "approval", "dispute"] {
        let verdict = node.ok("pvf_validateCandidate", json!([valid, kind]));
        assert_eq!(verdict["verdict"], "valid", "{kind}: {verdict}");
        assert_eq!(verdict["head_data"], hex(&head));
        assert_eq!(verdict["commitments_hash"], valid["commitments_hash"]);
    }
    let invalid = adder_candidate(&adder, 1, 5);
    let verdict = node.ok("pvf_validateCandidate", json!([invalid, "approval"]));
    assert_eq!(verdict["verdict"], "invalid", "{verdict}");
    assert!(verdict["reason"].as_str().is_some_and(|r| !r.is_empty()));
    // A receipt that commits to another head: the output checks, not the PVF, reject it.
    let mut wrong_head = valid.clone();
    wrong_head["para_head"] = json!(hex(&[1; 32]));
    let verdict = node.ok("pvf_validateCandidate", json!([wrong_head, "backing"]));
    assert_eq!(verdict["verdict"], "invalid", "{verdict}");
    assert!(
        verdict["reason"].as_str().unwrap().contains("head"),
        "{verdict}"
    );

    // Seconding: the honest backer seconds the collation as received, or refuses it.
    let seconded = node.ok("pvf_second", json!([valid, "backing"]));
    assert_eq!(seconded, json!({"outcome": "seconded", "candidate": valid}));
    let refused = node.ok("pvf_second", json!([invalid, "backing-system-paras"]));
    assert_eq!(refused["outcome"], "invalid", "{refused}");
    let (code, message) = node.err("pvf_second", json!([valid, "approval"]));
    assert_eq!(code, -32602);
    assert!(message.contains("exec_kind"), "{message}");

    // Code nobody submitted.
    let unknown = hex(&[7; 32]);
    for (method, params) in [
        (
            "pvf_validateCandidate",
            json!([adder_candidate(&unknown, 0, 5), "backing"]),
        ),
        (
            "pvf_second",
            json!([adder_candidate(&unknown, 0, 5), "backing"]),
        ),
        ("pvf_preCheck", json!([unknown])),
        ("pvf_headsUp", json!([[adder, unknown]])),
    ] {
        let (code, message) = node.err(method, params);
        assert_eq!(code, -32001, "{method}: {message}");
        assert!(message.contains(&unknown), "{method}: {message}");
    }
    assert_eq!(node.requests("pvf_validateCandidate", "ok"), 6);
    assert_eq!(node.requests("pvf_validateCandidate", "error"), 1);
    assert_eq!(node.requests("pvf_second", "ok"), 2);
    assert_eq!(node.requests("pvf_second", "error"), 2);
}

#[test]
fn bad_requests_get_typed_errors_and_the_node_serves_on() {
    let node = Node::start();
    let adder = node.ok("pvf_submitCode", json!([hex(pvf_test_pvfs::adder())]));
    let adder = adder.as_str().unwrap().to_owned();
    let valid = adder_candidate(&adder, 0, 5);
    let serves_on = || {
        let verdict = node.ok("pvf_validateCandidate", json!([valid, "backing"]));
        assert_eq!(verdict["verdict"], "valid", "{verdict}");
    };

    let (_, body) = node.post(b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ");
    assert_eq!(error_of(&body).0, -32700, "{body}");
    serves_on();
    assert_eq!(node.err("pvf_validate", json!([])).0, -32601);

    // Bad params: the message names the field and what is wrong with it.
    let mut short_hash = valid.clone();
    short_hash["relay_parent"] = json!(hex(&[1; 31]));
    let mut no_pov = valid.clone();
    no_pov.as_object_mut().unwrap().remove("pov");
    let mut bad_hex = valid.clone();
    bad_hex["parent_head"] = json!("0xzz");
    let mut extra = valid.clone();
    extra["colour"] = json!("blue");
    let leaf = json!({"hash": hex(&[0x42; 32]), "number": -1, "ancestors": []});
    for (method, params, field, problem) in [
        (
            "pvf_validateCandidate",
            json!([short_hash, "backing"]),
            "candidate.relay_parent",
            "32 bytes",
        ),
        (
            "pvf_validateCandidate",
            json!([no_pov, "backing"]),
            "candidate.pov",
            "missing",
        ),
        (
            "pvf_validateCandidate",
            json!([bad_hex, "backing"]),
            "candidate.parent_head",
            "hex",
        ),
        (
            "pvf_validateCandidate",
            json!([extra, "backing"]),
            "candidate.colour",
            "unknown field",
        ),
        (
            "pvf_validateCandidate",
            json!([valid, "fast"]),
            "exec_kind",
            "\"approval\"",
        ),
        (
            "pvf_validateCandidate",
            json!([valid]),
            "params",
            "expected 2",
        ),
        ("pvf_second", json!({"candidate": valid}), "params", "array"),
        ("pvf_submitCode", json!(["00"]), "code", "0x-prefixed"),
        (
            "pvf_activeLeaves",
            json!([[leaf]]),
            "leaves[0].number",
            "integer",
        ),
        ("pvf_headsUp", json!([[adder, 5]]), "code_hashes[1]", "hex"),
        ("pvf_version", json!([1]), "params", "no parameters"),
    ] {
        let (code, message) = node.err(method, params);
        assert_eq!(code, -32602, "{method}: {message}");
        assert!(
            message.contains(field) && message.contains(problem),
            "{method}: {message:?} should name {field} and say {problem}"
        );
    }
    serves_on();

    // Larger than the limit: refused from the declared length, before it is read.
    let mut conn = TcpStream::connect(&node.rpc).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        conn,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        (16 << 20) + 1
    )
    .unwrap();
    let (status, body) = read_response(conn);
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_of(&body).0, -32007, "{body}");
    serves_on();
    assert_eq!(node.requests("pvf_validateCandidate", "ok"), 3);
    assert_eq!(node.requests("pvf_validateCandidate", "error"), 6);
}

#[test]
fn a_client_that_leaves_mid_request_is_counted_and_nothing_is_lost() {
    let node = Node::start();
    let halt = node.ok("pvf_submitCode", json!([hex(pvf_test_pvfs::halt())]));
    let halt = halt.as_str().unwrap().to_owned();
    let adder = node.ok("pvf_submitCode", json!([hex(pvf_test_pvfs::adder())]));
    let adder = adder.as_str().unwrap().to_owned();

    // A PVF that never halts, at approval (12 s): the client gives up after a second.
    let stuck = candidate(&halt, b"", b"", b"");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "pvf_validateCandidate", "params": [stuck, "approval"]});
    let mut conn = TcpStream::connect(&node.rpc).unwrap();
    let body = body.to_string();
    write!(
        conn,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    drop(conn);

    let deadline = Instant::now() + Duration::from_secs(10);
    while node.requests("pvf_validateCandidate", "abandoned") == 0 {
        assert!(
            Instant::now() < deadline,
            "never counted as abandoned: {}",
            node.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(node.requests("pvf_validateCandidate", "abandoned"), 1);
    assert_eq!(node.requests("pvf_validateCandidate", "ok"), 0);

    // Nothing lost: the node answers the next candidates, valid and invalid, correctly.
    let verdict = node.ok(
        "pvf_validateCandidate",
        json!([adder_candidate(&adder, 0, 9), "approval"]),
    );
    assert_eq!(verdict["verdict"], "valid", "{verdict}");
    let verdict = node.ok(
        "pvf_validateCandidate",
        json!([adder_candidate(&adder, 3, 9), "dispute"]),
    );
    assert_eq!(verdict["verdict"], "invalid", "{verdict}");
    assert_eq!(node.requests("pvf_validateCandidate", "ok"), 2);
    assert_eq!(node.requests("pvf_validateCandidate", "abandoned"), 1);
}

#[test]
fn sigterm_answers_the_call_in_flight_then_exits_0() {
    let mut node = Node::start();
    let halt = node.ok("pvf_submitCode", json!([hex(pvf_test_pvfs::halt())]));
    let halt = halt.as_str().unwrap().to_owned();
    // At backing, the PVF that never halts is stopped after 2 s: a verdict comes, late.
    let stuck = candidate(&halt, b"", b"", b"");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "pvf_validateCandidate", "params": [stuck, "backing"]});
    let rpc = node.rpc.clone();
    let in_flight = std::thread::spawn(move || {
        let mut conn = TcpStream::connect(&rpc).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let body = body.to_string();
        write!(
            conn,
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        read_response(conn)
    });
    std::thread::sleep(Duration::from_millis(700));
    let sent = Instant::now();
    assert!(pvf_tests::faults::signal(node.child.id(), libc::SIGTERM));
    let (status, body) = in_flight.join().unwrap();
    assert_eq!(status, 200, "{body}");
    let response: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(response["result"]["verdict"], "invalid", "{response}");
    let status = node.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", node.stderr());
    assert!(sent.elapsed() < Duration::from_secs(30));
    assert!(node.stderr().contains("SIGTERM"), "{}", node.stderr());
}

/// Worker binaries replaced by ones of another version (what an in-place upgrade leaves): the
/// host stops on its own at the first spawn, and so does the node, with exit status 2 and a
/// message telling the operator to restart it.
#[test]
fn workers_of_another_version_stop_the_node_with_exit_2() {
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
    let mut node = Node::start_with_workers(workers.path());
    let adder = node.ok("pvf_submitCode", json!([hex(pvf_test_pvfs::adder())]));
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "pvf_validateCandidate",
        "params": [adder_candidate(adder.as_str().unwrap(), 0, 1), "backing"]});
    // Answered with no vote, or cut off by the node stopping: never a verdict.
    if let Ok((_, text)) = node.try_post(body.to_string().as_bytes())
        && let Ok(response) = serde_json::from_str::<Value>(&text)
    {
        let verdict = &response["result"]["verdict"];
        assert!(
            verdict.is_null() || verdict == "no-vote",
            "a verdict on workers of another version: {response}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running: {}",
            node.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = node.stderr();
    assert_eq!(status.code(), Some(2), "{stderr}");
    let last = stderr
        .lines()
        .find(|l| l.starts_with("pvf-node: ") && l.contains("restart"))
        .unwrap_or_else(|| panic!("no message from pvf-node: {stderr}"));
    assert!(last.contains("in-place upgrade"), "{last}");
}
