//! `reference-real-bench`: the published reference PVF host (`polkadot-node-core-pvf` 36) on the valid candidates of a
//! `pvf-collator` workload, for side-by-side benchmarks with `pvf-node run`.
//!
//! The reference CLI's own `bench` sends adder vectors with relay parent 1 and a zero storage
//! root, which real Cumulus blocks reject; this driver sends each candidate with its own relay
//! parent. It starts one host (2 execute workers, as `pvf-node run` by default) on a fresh
//! cache, prepares every PVF once (reporting time and artifact size), then submits all
//! candidates at once, `--rounds` times each, and prints one JSON object: per-candidate latency
//! quantiles from submission to answer, wall time and candidates per second, wrong answers.

use polkadot_node_core_pvf::{
    start, Config, Metrics, PrepareJobKind, Priority, PvfPrepData, EXECUTE_BINARY_NAME,
    PREPARE_BINARY_NAME,
};
use polkadot_node_core_pvf_common::execute::ValidationContext;
use polkadot_node_primitives::PoV;
use polkadot_node_subsystem::messages::PvfExecKind;
use polkadot_parachain_primitives::primitives::{BlockData, HeadData};
use polkadot_primitives::{
    CandidateDescriptorV2, CandidateReceiptV2, CoreIndex, ExecutorParams, Hash,
    PersistedValidationData, MAX_POV_SIZE,
};
use serde_json::{json, Value};
use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

const BOMB_LIMIT: u32 = 30 * 1024 * 1024;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim_start_matches("0x")).expect("hex")
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: reference-real-bench --workers-dir DIR --workload FILE [--rounds N]";
    let workers = PathBuf::from(arg(&args, "--workers-dir").expect(usage));
    let workload_path = PathBuf::from(arg(&args, "--workload").expect(usage));
    let rounds: usize = arg(&args, "--rounds").map_or(1, |r| r.parse().expect(usage));
    let base = workload_path.parent().expect("workload folder").to_owned();
    let workload: Value =
        serde_json::from_str(&std::fs::read_to_string(&workload_path).expect("workload"))
            .expect("workload JSON");

    let cache = tempfile::tempdir().expect("tempdir");
    let config = Config::new(
        cache.path().to_owned(),
        None,
        false,
        workers.join(PREPARE_BINARY_NAME),
        workers.join(EXECUTE_BINARY_NAME),
        2,
        1,
        2,
    );
    let (mut host, task) = start(config, Metrics::default()).await.expect("host");
    tokio::spawn(task);

    let prep = |code: Vec<u8>| {
        PvfPrepData::from_code(
            code,
            ExecutorParams::default(),
            Duration::from_secs(360),
            PrepareJobKind::Compilation,
            BOMB_LIMIT,
        )
    };
    let mut codes = std::collections::HashMap::new();
    let mut prepared = Vec::new();
    for p in workload["pvfs"].as_array().expect("pvfs") {
        let name = p["name"].as_str().expect("name").to_owned();
        let code = std::fs::read(base.join(p["code"].as_str().expect("code"))).expect("code file");
        let before: u64 = dir_size(cache.path());
        let (tx, rx) = futures::channel::oneshot::channel();
        let t = Instant::now();
        host.precheck_pvf(prep(code.clone()), tx)
            .await
            .expect("host alive");
        let ok = rx.await.expect("answer").is_ok();
        prepared.push(json!({
            "pvf": name, "ok": ok, "prepare_ms": t.elapsed().as_secs_f64() * 1e3,
            "artifact_bytes": dir_size(cache.path()) - before,
        }));
        codes.insert(name, code);
    }

    let valid: Vec<&Value> = workload["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .filter(|c| c["expect"] == "valid")
        .collect();
    let mut pending = futures::stream::FuturesUnordered::new();
    let start_all = Instant::now();
    for _ in 0..rounds {
        for c in &valid {
            let code = codes[c["pvf"].as_str().expect("pvf")].clone();
            let pvd = PersistedValidationData {
                parent_head: HeadData(unhex(c["parent_head"].as_str().expect("parent_head"))),
                relay_parent_number: c["relay_parent_number"].as_u64().expect("number") as u32,
                relay_parent_storage_root: Hash::from_slice(&unhex(
                    c["relay_parent_storage_root"].as_str().expect("root"),
                )),
                max_pov_size: MAX_POV_SIZE,
            };
            let pov = PoV {
                block_data: BlockData(unhex(c["block_data"].as_str().expect("block_data"))),
            };
            let pvf = prep(code);
            let descriptor = CandidateDescriptorV2::new(
                1000.into(),
                Hash::zero(),
                CoreIndex(0),
                0,
                pvd.hash(),
                pov.hash(),
                Hash::zero(),
                Hash::zero(),
                pvf.code_hash(),
            );
            let ctx = ValidationContext {
                candidate_receipt: CandidateReceiptV2 {
                    descriptor,
                    commitments_hash: Hash::zero(),
                },
                pvd: Arc::new(pvd),
                pov: Arc::new(pov),
                executor_params: ExecutorParams::default(),
                exec_timeout: Duration::from_secs(12),
                v3_seen: false,
            };
            let (tx, rx) = futures::channel::oneshot::channel();
            let sent = Instant::now();
            host.execute_pvf(pvf, ctx, Priority::Normal, PvfExecKind::Approval, tx)
                .await
                .expect("host alive");
            let expected = c["head_data"].as_str().expect("head").to_owned();
            pending.push(async move {
                let r = rx.await.expect("answer");
                let right =
                    matches!(&r, Ok(v) if format!("0x{}", hex::encode(&v.head_data.0)) == expected);
                (sent.elapsed(), right)
            });
        }
    }
    let mut latencies = Vec::new();
    let mut wrong = 0;
    while let Some((latency, right)) = futures::StreamExt::next(&mut pending).await {
        latencies.push(latency.as_secs_f64() * 1e3);
        wrong += usize::from(!right);
    }
    let wall = start_all.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let q = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    println!(
        "{}",
        json!({
            "host": "polkadot-node-core-pvf 36 (2 execute workers, approval priority)",
            "prepared": prepared,
            "candidates": latencies.len(), "rounds": rounds, "wrong": wrong,
            "p50_ms": q(0.5), "p90_ms": q(0.9), "wall_s": wall,
            "per_second": latencies.len() as f64 / wall,
        })
    );
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
