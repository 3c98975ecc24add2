//! `pvf-malus` as real processes beside `pvf-node serve`, over JSON-RPC: each variant lies
//! the way it says (and logs `MALUS intercept` once per lie), `--percentage 0` does not, a
//! garbage candidate seconded by a malus node is judged invalid by an honest node, and the
//! two binaries cannot be told apart by their version, their methods or their metric names.
//!
//! Also in process: the dispute-valid interceptor around the real candidate-validation
//! subsystem with the real workers.
//!
//! Needs the binaries: `cargo build --release --bins`.

use parity_scale_codec::Encode;
use pvf_messages::{
    BlockData, Hash, HeadData, PersistedValidationData, PoV,
    candidate_validation::{
        CandidateCommitments, CandidateDescriptor, CandidateReceipt, persisted_validation_data_hash,
    },
    version::FULL_VERSION,
};
use pvf_test_pvfs::adder_chain;
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

const RELAY_PARENT: [u8; 32] = [1; 32];
const RELAY_PARENT_NUMBER: u32 = 7;
const MARKER: &str = "MALUS intercept";

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", ::hex::encode(bytes))
}

/// A node process: `pvf-node serve` or `pvf-malus <variant>`, on free ports, with its own
/// cache; stderr goes to a file the test reads after stopping it.
struct Node {
    child: Child,
    rpc: String,
    prometheus: Option<String>,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Node {
    fn serve() -> Self {
        Self::start("pvf-node", &["serve"], true)
    }

    fn malus(variant: &[&str]) -> Self {
        Self::start("pvf-malus", variant, true)
    }

    fn start(binary: &str, args: &[&str], prometheus: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let stderr = dir.path().join("stderr");
        let mut cmd = Command::new(pvf_tests::binary(binary));
        cmd.args(args)
            .args(["--rpc-port", "0", "--name", "node", "--cache-path"])
            .arg(dir.path().join("cache"))
            .env_remove("PVF_LOG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        if prometheus {
            cmd.args(["--prometheus-port", "0"]);
        } else {
            cmd.arg("--no-prometheus");
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(name))
                .map(str::to_owned)
        };
        let rpc = field("rpc=").unwrap_or_else(|| {
            panic!(
                "{binary} did not start: {line:?}, stderr: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        });
        let prometheus = field("prometheus=").filter(|p| p != "none");
        Self {
            child,
            rpc,
            prometheus,
            stderr,
            _dir: dir,
        }
    }

    /// The whole JSON-RPC response to `method(params)`.
    fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply = http(&self.rpc, "POST", &body.to_string());
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply}"))
    }

    /// The result of `method(params)`; panics on an error.
    fn result(&self, method: &str, params: Value) -> Value {
        let reply = self.call(method, params);
        reply
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{method} failed: {reply}"))
    }

    /// Submits the adder code and makes the relay parent an active leaf.
    fn with_adder(self) -> Self {
        let code_hash = self.result("pvf_submitCode", json!([hex(pvf_test_pvfs::adder())]));
        assert_eq!(code_hash, json!(hex(&adder_code_hash().0.0)));
        let leaf =
            json!([{"hash": hex(&RELAY_PARENT), "number": RELAY_PARENT_NUMBER, "ancestors": []}]);
        self.result("pvf_activeLeaves", json!([leaf]));
        self
    }

    fn validate(&self, candidate: &Value) -> Value {
        self.result("pvf_validateCandidate", json!([candidate, "approval"]))
    }

    /// Stops the node (SIGTERM) and returns its log lines containing [`MARKER`].
    fn stop(mut self) -> Vec<String> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the node exited with {status}");
        std::fs::read_to_string(&self.stderr)
            .unwrap()
            .lines()
            .filter(|l| l.contains(MARKER))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with `body`; returns the response body (plain or chunked).
fn http(addr: &str, method: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let path = if method == "GET" { "/metrics" } else { "/" };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_owned();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    out
}

fn adder_code_hash() -> pvf_messages::ValidationCodeHash {
    pvf_messages::ValidationCode(pvf_test_pvfs::adder().to_vec()).hash()
}

fn validation_data() -> PersistedValidationData {
    PersistedValidationData {
        parent_head: HeadData(adder_chain::genesis_head().encode()),
        relay_parent_number: RELAY_PARENT_NUMBER,
        relay_parent_storage_root: Hash([3; 32]),
        max_pov_size: 5 << 20,
    }
}

/// The candidate object for `block_data`, committing to `head` as its output.
fn candidate(block_data: Vec<u8>, head: &HeadData) -> Value {
    let data = validation_data();
    let commitments = CandidateCommitments {
        head_data: head.clone(),
        hrmp_watermark: RELAY_PARENT_NUMBER,
        ..Default::default()
    };
    json!({
        "para_id": 100,
        "relay_parent": hex(&RELAY_PARENT),
        "relay_parent_number": data.relay_parent_number,
        "relay_parent_storage_root": hex(&data.relay_parent_storage_root.0),
        "max_pov_size": data.max_pov_size,
        "parent_head": hex(&data.parent_head.0),
        "pov": hex(&block_data),
        "code_hash": hex(&adder_code_hash().0.0),
        "para_head": hex(&head.hash().0),
        "commitments_hash": hex(&commitments.hash().0),
    })
}

/// Block 1 of the adder chain on genesis: valid.
fn valid_candidate() -> Value {
    let block = adder_chain::BlockData { state: 0, add: 5 };
    let head = adder_chain::next_head(&adder_chain::genesis_head(), &block);
    candidate(block.encode(), &HeadData(head.encode()))
}

/// The hash of the receipt the node builds from a candidate object (what the log names).
fn receipt_hash(c: &Value) -> String {
    let bytes = |f: &str| ::hex::decode(&c[f].as_str().unwrap()[2..]).unwrap();
    let hash = |f: &str| Hash(bytes(f).try_into().unwrap());
    let pov = PoV {
        block_data: BlockData(bytes("pov")),
    };
    let data = PersistedValidationData {
        parent_head: HeadData(bytes("parent_head")),
        relay_parent_number: c["relay_parent_number"].as_u64().unwrap() as u32,
        relay_parent_storage_root: hash("relay_parent_storage_root"),
        max_pov_size: c["max_pov_size"].as_u64().unwrap() as u32,
    };
    let receipt = CandidateReceipt {
        descriptor: CandidateDescriptor {
            para_id: c["para_id"].as_u64().unwrap() as u32,
            relay_parent: hash("relay_parent"),
            persisted_validation_data_hash: persisted_validation_data_hash(&data),
            pov_hash: pov.hash(),
            erasure_root: Hash::default(),
            para_head: hash("para_head"),
            validation_code_hash: pvf_messages::ValidationCodeHash(hash("code_hash")),
        },
        commitments_hash: hash("commitments_hash"),
    };
    receipt.hash().to_string()
}

#[test]
fn dispute_valid_candidates_votes_a_valid_candidate_invalid_and_logs_it() {
    let honest = Node::serve().with_adder();
    let c = valid_candidate();
    assert_eq!(honest.validate(&c)["verdict"], "valid");
    assert_eq!(honest.stop(), Vec::<String>::new());

    let malus = Node::malus(&["dispute-valid-candidates"]).with_adder();
    let verdict = malus.validate(&c);
    assert_eq!(verdict["verdict"], "invalid", "{verdict}");
    let lines = malus.stop();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("dispute-valid-candidates"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains(&receipt_hash(&c)), "{}", lines[0]);
}

#[test]
fn dispute_valid_candidates_at_zero_percent_is_honest() {
    let malus = Node::malus(&[
        "dispute-valid-candidates",
        "--percentage",
        "0",
        "--fake-validation-error",
        "para-head-hash-mismatch",
    ])
    .with_adder();
    assert_eq!(malus.validate(&valid_candidate())["verdict"], "valid");
    assert_eq!(malus.stop(), Vec::<String>::new());
}

#[test]
fn back_garbage_candidate_answers_valid_for_garbage() {
    let garbage = candidate(
        b"garbage, not an adder block".to_vec(),
        &HeadData(vec![7; 8]),
    );
    let honest = Node::serve().with_adder();
    assert_eq!(honest.validate(&garbage)["verdict"], "invalid");
    drop(honest);

    let malus = Node::malus(&["back-garbage-candidate"]).with_adder();
    let verdict = malus.validate(&garbage);
    assert_eq!(verdict["verdict"], "valid", "{verdict}");
    let lines = malus.stop();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("back-garbage-candidate") && lines[0].contains(&receipt_hash(&garbage))
    );
}

#[test]
fn suggest_garbage_candidate_seconds_a_candidate_honest_nodes_find_invalid() {
    let malus = Node::malus(&["suggest-garbage-candidate"]).with_adder();
    let collation = valid_candidate();
    let outcome = malus.result("pvf_second", json!([collation, "backing"]));
    assert_eq!(outcome["outcome"], "seconded", "{outcome}");
    let seconded = &outcome["candidate"];
    assert_ne!(seconded["pov"], collation["pov"]);
    assert_eq!(
        seconded["pov"].as_str().unwrap().len(),
        collation["pov"].as_str().unwrap().len()
    );
    for same in [
        "para_id",
        "relay_parent",
        "parent_head",
        "code_hash",
        "para_head",
        "commitments_hash",
    ] {
        assert_eq!(seconded[same], collation[same], "{same}");
    }
    let lines = malus.stop();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("suggest-garbage-candidate")
            && lines[0].contains(&receipt_hash(seconded))
    );

    let honest = Node::serve().with_adder();
    assert_eq!(honest.validate(&collation)["verdict"], "valid");
    let verdict = honest.validate(seconded);
    assert_eq!(verdict["verdict"], "invalid", "{verdict}");
    // An honest node seconds the collation as it came.
    let outcome = honest.result("pvf_second", json!([collation, "backing"]));
    assert_eq!(outcome["candidate"], collation);
}

/// The names of the metrics a Prometheus endpoint exposes.
fn metric_names(node: &Node) -> Vec<String> {
    let text = http(node.prometheus.as_ref().expect("prometheus on"), "GET", "");
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

#[test]
fn a_malus_node_looks_like_pvf_node_on_the_wire() {
    let honest = Node::serve();
    let malus = Node::malus(&["dispute-valid-candidates"]);
    assert_eq!(honest.result("pvf_version", json!([])), json!(FULL_VERSION));
    assert_eq!(malus.result("pvf_version", json!([])), json!(FULL_VERSION));
    // The same answer, error or not, to every method (with no parameters) and to a method
    // that does not exist.
    for method in [
        "pvf_version",
        "pvf_health",
        "pvf_submitCode",
        "pvf_activeLeaves",
        "pvf_headsUp",
        "pvf_preCheck",
        "pvf_validateCandidate",
        "pvf_second",
        "pvf_noSuchMethod",
        "rpc.discover",
    ] {
        let (a, b) = (
            honest.call(method, json!([])),
            malus.call(method, json!([])),
        );
        assert_eq!(a, b, "{method}");
    }
    let missing = honest.call("pvf_noSuchMethod", json!([]));
    assert_eq!(missing["error"]["code"], -32601, "{missing}");
    let names = metric_names(&honest);
    assert!(!names.is_empty());
    assert_eq!(metric_names(&malus), names);
}

/// Validates `candidate` with the real subsystem and workers behind `interceptor`.
fn validate_in_process(
    interceptor: pvf_malus::variants::dispute_valid::DisputeValid,
) -> pvf_messages::candidate_validation::ValidationResponse {
    use pvf_malus::interceptor::InterceptedSubsystem;
    use pvf_messages::candidate_validation::CandidateValidationMessage;
    use pvf_subsystem::{
        candidate_validation::{CandidateValidationSubsystem, Config},
        host,
        overseer::{Signal, Subsystem, TokioSpawner, test_helpers::make_subsystem_context},
    };
    let cache = tempfile::tempdir().unwrap();
    let real = CandidateValidationSubsystem::with_host_config(
        host::Config {
            workers_path: Some(pvf_tests::workers_dir()),
            cache_path: Some(cache.path().to_path_buf()),
            ..Default::default()
        },
        Config::default(),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let (ctx, mut handle) = make_subsystem_context(TokioSpawner::current());
        let running = tokio::spawn(
            InterceptedSubsystem::new(real, interceptor)
                .start(ctx)
                .future,
        );
        let block = adder_chain::BlockData { state: 0, add: 5 };
        let head = HeadData(adder_chain::next_head(&adder_chain::genesis_head(), &block).encode());
        let data = validation_data();
        let pov = PoV {
            block_data: BlockData(block.encode()),
        };
        let commitments = CandidateCommitments {
            head_data: head.clone(),
            hrmp_watermark: RELAY_PARENT_NUMBER,
            ..Default::default()
        };
        let receipt = CandidateReceipt {
            descriptor: CandidateDescriptor {
                para_id: 100,
                relay_parent: Hash(RELAY_PARENT),
                persisted_validation_data_hash: persisted_validation_data_hash(&data),
                pov_hash: pov.hash(),
                erasure_root: Hash::default(),
                para_head: head.hash(),
                validation_code_hash: adder_code_hash(),
            },
            commitments_hash: commitments.hash(),
        };
        let (tx, rx) = futures::channel::oneshot::channel();
        handle
            .send_message(CandidateValidationMessage::ValidateFromExhaustive {
                validation_data: data,
                validation_code: pvf_messages::ValidationCode(pvf_test_pvfs::adder().to_vec()),
                candidate_receipt: receipt,
                pov: std::sync::Arc::new(pov),
                executor_params: pvf_messages::ExecutorParams::new(),
                exec_kind: pvf_messages::PvfExecKind::Approval,
                response_sender: tx,
            })
            .await;
        let answer = tokio::time::timeout(Duration::from_secs(120), rx)
            .await
            .expect("an answer in time")
            .expect("an answer");
        handle.send_signal(Signal::Conclude).await;
        tokio::time::timeout(Duration::from_secs(20), running)
            .await
            .expect("the subsystem ends")
            .unwrap()
            .unwrap();
        answer
    })
}

#[test]
fn dispute_valid_around_the_real_subsystem_and_workers() {
    use pvf_malus::variants::{
        Percentage,
        dispute_valid::{DisputeValid, FakeValidationError},
    };
    use pvf_messages::candidate_validation::{CandidateVerdict, InvalidCandidateReason};
    let lie = DisputeValid::new(
        Percentage::new(100, 0),
        FakeValidationError::ParaHeadHashMismatch,
    );
    assert_eq!(
        validate_in_process(lie),
        Ok(CandidateVerdict::Invalid(
            InvalidCandidateReason::ParaHeadHashMismatch
        ))
    );
    let honest = DisputeValid::new(
        Percentage::new(0, 0),
        FakeValidationError::ParaHeadHashMismatch,
    );
    assert!(matches!(
        validate_in_process(honest),
        Ok(CandidateVerdict::Valid(..))
    ));
}
