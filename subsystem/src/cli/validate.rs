//! `pvf-node validate`: one candidate, end to end.

use super::{EXIT_OTHER, HostArgs, input, report};
use crate::host::Host;
use clap::{Args, ValueEnum};
use pvf_messages::{ExecutorParams, Hash, HeadData, PvfExecKind, ValidationCode, ValidationParams};
use std::{path::PathBuf, time::Duration, time::Instant};

/// Arguments of `pvf-node validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The PVF: a raw Wasm file.
    #[arg(long, value_name = "FILE")]
    pub code: PathBuf,
    /// The parent head: hex (optionally 0x-prefixed), or @FILE for raw bytes.
    #[arg(long, value_name = "HEX|@FILE")]
    pub parent_head: String,
    /// The block data (the PoV's content): hex, or @FILE for raw bytes.
    #[arg(long, value_name = "HEX|@FILE")]
    pub block_data: String,
    /// The relay-chain block number the candidate is built on.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub relay_parent_number: u32,
    /// Which kind of validation: sets the default timeout (backing 2 s, approval and dispute
    /// 12 s) and the retries (none for backing; approval and dispute as the node retries).
    #[arg(long, value_enum, default_value_t = ExecKind::Backing)]
    pub exec_kind: ExecKind,
    /// CPU-time limit of the execution job in milliseconds (wall clock: 4 times this).
    #[arg(long, value_name = "N")]
    pub timeout_ms: Option<u64>,
    /// Print one JSON object instead of a line of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub host: HostArgs,
}

/// The kinds of execution, by their deadline.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExecKind {
    /// Backing: short deadline.
    Backing,
    /// Approval checking.
    Approval,
    /// Dispute resolution.
    Dispute,
}

impl From<ExecKind> for PvfExecKind {
    fn from(k: ExecKind) -> Self {
        match k {
            ExecKind::Backing => PvfExecKind::Backing,
            ExecKind::Approval => PvfExecKind::Approval,
            ExecKind::Dispute => PvfExecKind::Dispute,
        }
    }
}

/// Runs `pvf-node validate`.
pub async fn run(args: ValidateArgs) -> u8 {
    let inputs = (|| {
        let code = input::read_code(&args.code)?;
        let parent_head = input::parse_bytes("--parent-head", &args.parent_head)?;
        let block_data = input::parse_bytes("--block-data", &args.block_data)?;
        Ok::<_, String>((code, parent_head, block_data))
    })();
    let (code, parent_head, block_data) = match inputs {
        Ok(i) => i,
        Err(e) => {
            eprintln!("pvf-node: {e}");
            return EXIT_OTHER;
        }
    };
    let executor_params = ExecutorParams::default();
    let timeout = args
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or_else(|| executor_params.exec_timeout(args.exec_kind.into()));
    let params = ValidationParams {
        parent_head: HeadData(parent_head),
        block_data: pvf_messages::BlockData(block_data),
        relay_parent_number: args.relay_parent_number,
        relay_parent_storage_root: Hash::default(),
    };
    let start = Instant::now();
    let outcome = match Host::new(&args.host.config()) {
        Ok(host) => {
            host.validate_as(
                args.exec_kind.into(),
                &ValidationCode(code),
                &params,
                &executor_params,
                timeout,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let verdict = report::Verdict::new(&outcome, start.elapsed());
    if args.json {
        report::print_json(&verdict);
    } else {
        println!("{}", verdict.human());
    }
    verdict.exit_status()
}
