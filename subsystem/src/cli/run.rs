//! `pvf-node run`: the embedded default workload.
//!
//! A first, sequential version: it prepares the embedded PVFs through a prepare worker,
//! validates a handful of candidates through one long-lived execute worker, and checks every
//! verdict against the one expected. The host issue replaces it with the overseer-driven
//! workload (queues, pools, metrics).

use super::{EXIT_OTHER, EXIT_VALID, HostArgs, report::Verdict};
use crate::host::{self, Host, Validated};
use clap::Args;
use parity_scale_codec::Encode;
use pvf_messages::{
    BlockData, ExecutorParams, Hash, HeadData, PvfPrepKind, ValidationCode, ValidationError,
    ValidationParams, VerdictClass, protocol::WorkerKind,
};
use pvf_test_pvfs::adder_chain;
use std::{path::Path, time::Duration, time::Instant};

/// Arguments of `pvf-node run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Number of valid adder blocks to validate.
    #[arg(long, default_value_t = 5)]
    pub blocks: u32,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub host: HostArgs,
}

struct Row {
    name: String,
    expected: VerdictClass,
    verdict: Verdict,
}

/// Runs the embedded default workload and prints one row per candidate.
pub async fn run(args: RunArgs) -> u8 {
    let host = match Host::new(&args.host.config()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("pvf-node: {e}");
            return EXIT_OTHER;
        }
    };
    let params = ExecutorParams::default();
    let timeout = params.exec_timeout(pvf_messages::PvfExecKind::Backing);
    let mut rows = Vec::new();

    eprintln!(
        "preparing the embedded PVFs through {}",
        host.workers().prepare.display()
    );
    let adder = ValidationCode(pvf_test_pvfs::adder().to_vec());
    let halt = ValidationCode(pvf_test_pvfs::halt().to_vec());
    let malformed = ValidationCode(pvf_test_pvfs::hostile::malformed());
    let mut prepared = Vec::new();
    for (name, code) in [
        ("adder", &adder),
        ("halt", &halt),
        ("malformed", &malformed),
    ] {
        let start = Instant::now();
        let outcome = host.prepare(code, &params, PvfPrepKind::Prepare).await;
        match &outcome {
            Ok(p) => eprintln!(
                "  {name}: {} bytes of Wasm -> {} bytes of artifact, cpu {:.0} ms",
                code.0.len(),
                p.len,
                p.cpu_time.as_secs_f64() * 1e3
            ),
            Err(e) => eprintln!("  {name}: {e}"),
        }
        prepared.push((name, outcome.map(|p| p.path), start.elapsed()));
    }

    let mut worker = match host.spawn(WorkerKind::Execute).await {
        Ok(w) => w,
        Err(e) => {
            eprintln!("pvf-node: {e}");
            return EXIT_OTHER;
        }
    };
    let mut execute =
        async |name: String, expected, artifact: &Path, parent: Vec<u8>, block: Vec<u8>| {
            let vp = ValidationParams {
                parent_head: HeadData(parent),
                block_data: BlockData(block),
                relay_parent_number: 1,
                relay_parent_storage_root: Hash::default(),
            };
            let start = Instant::now();
            let outcome = host::execute_on(&mut worker, artifact, &vp, &params, timeout)
                .await
                .map(|e| Validated {
                    result: e.result,
                    cpu_time: Duration::from_nanos(e.cpu_time_ns),
                    wall_time: start.elapsed(),
                });
            Row {
                name,
                expected,
                verdict: Verdict::new(&outcome, start.elapsed()),
            }
        };

    match &prepared[0].1 {
        Ok(adder_artifact) => {
            let mut head = adder_chain::genesis_head();
            let mut state = 0u64;
            for n in 1..=args.blocks {
                let block = adder_chain::BlockData {
                    state,
                    add: u64::from(n),
                };
                let row = execute(
                    format!("adder block {n}"),
                    VerdictClass::Valid,
                    adder_artifact,
                    head.encode(),
                    block.encode(),
                )
                .await;
                head = adder_chain::next_head(&head, &block);
                state = state.wrapping_add(u64::from(n));
                rows.push(row);
            }
            let wrong = adder_chain::BlockData {
                state: state ^ 1,
                add: 1,
            };
            rows.push(
                execute(
                    "adder block with a state not matching its parent".into(),
                    VerdictClass::Invalid,
                    adder_artifact,
                    head.encode(),
                    wrong.encode(),
                )
                .await,
            );
        }
        Err(e) => eprintln!("pvf-node: the adder did not prepare: {e}"),
    }
    match &prepared[1].1 {
        Ok(halt_artifact) => rows.push(
            execute(
                "halting PVF (times out)".into(),
                VerdictClass::Invalid,
                halt_artifact,
                Vec::new(),
                Vec::new(),
            )
            .await,
        ),
        Err(e) => eprintln!("pvf-node: the halting PVF did not prepare: {e}"),
    }
    let (_, malformed_outcome, wall) = &prepared[2];
    let malformed_outcome: Result<Validated, ValidationError> = match malformed_outcome {
        Ok(_) => Err(ValidationError::Internal(
            pvf_messages::InternalValidationError::Io("malformed code was prepared".into()),
        )),
        Err(e) => Err(e.clone()),
    };
    rows.push(Row {
        name: "malformed Wasm (preparation error)".into(),
        expected: VerdictClass::Invalid,
        verdict: Verdict::new(&malformed_outcome, *wall),
    });
    worker.shutdown().await;
    print_table(&rows)
}

fn print_table(rows: &[Row]) -> u8 {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut unexpected = 0;
    println!(
        "{:width$}  {:8}  {:>9}  detail",
        "candidate", "verdict", "wall ms"
    );
    for r in rows {
        let ok = r.verdict.verdict == r.expected.as_str();
        unexpected += usize::from(!ok);
        let detail = match &r.verdict.head_data {
            Some(head) => format!("head 0x{}…", &head[..head.len().min(16)]),
            None => r.verdict.reason.clone().unwrap_or_default(),
        };
        println!(
            "{:width$}  {:8}  {:>9.1}  {detail}{}",
            r.name,
            r.verdict.verdict,
            r.verdict.wall_time_ms,
            if ok {
                String::new()
            } else {
                format!("  (UNEXPECTED: wanted {})", r.expected.as_str())
            }
        );
    }
    println!(
        "{} candidates, {} with the expected verdict",
        rows.len(),
        rows.len() - unexpected
    );
    if unexpected == 0 {
        EXIT_VALID
    } else {
        EXIT_OTHER
    }
}
