//! `pvf-node validate`: one candidate, end to end.

use super::{EXIT_OTHER, HostArgs, input, report};
use crate::host::{Host, HostConfig};
use clap::{Args, ValueEnum};
use pvf_messages::{Hash, HeadData, PvfExecKind, ValidationCode, ValidationParams};
use std::{path::PathBuf, time::Duration, time::Instant};

/// Arguments of `pvf-node validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The PVF as stored on chain: a Wasm file, or an `sp-maybe-compressed-blob` (zstd).
    #[arg(long, value_name = "FILE")]
    pub code: PathBuf,
    /// The session's executor parameters, SCALE-encoded as the runtime API returns them.
    #[arg(long, value_name = "HEX|@FILE", default_value = "0x00")]
    pub executor_params: String,
    /// Largest decompressed code accepted, in bytes (the relay chain's
    /// `validation_code_bomb_limit`).
    #[arg(long, value_name = "BYTES", default_value_t = pvf_messages::primitives::DEFAULT_VALIDATION_CODE_BOMB_LIMIT)]
    pub bomb_limit: u32,
    /// The parent head: hex (optionally 0x-prefixed), or @FILE for raw bytes.
    #[arg(long, value_name = "HEX|@FILE")]
    pub parent_head: String,
    /// The block data (the PoV's content, possibly an `sp-maybe-compressed-blob` as collators
    /// send it): hex, or @FILE for raw bytes.
    #[arg(long, value_name = "HEX|@FILE")]
    pub block_data: String,
    /// The relay-chain block number the candidate is built on.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub relay_parent_number: u32,
    /// The relay parent's storage root (32 bytes): hex, or @FILE.
    #[arg(long, value_name = "HEX|@FILE")]
    pub relay_parent_storage_root: Option<String>,
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
        let executor_params = input::parse_executor_params(&args.executor_params)?;
        let storage_root = match &args.relay_parent_storage_root {
            Some(v) => input::parse_hash("--relay-parent-storage-root", v)?,
            None => Hash::default(),
        };
        Ok::<_, String>((code, parent_head, block_data, executor_params, storage_root))
    })();
    let (code, parent_head, block_data, executor_params, storage_root) = match inputs {
        Ok(i) => i,
        Err(e) => {
            eprintln!("pvf-node: {e}");
            return EXIT_OTHER;
        }
    };
    let timeout = args
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or_else(|| executor_params.exec_timeout(args.exec_kind.into()));
    let params = ValidationParams {
        parent_head: HeadData(parent_head),
        block_data: pvf_messages::BlockData(block_data),
        relay_parent_number: args.relay_parent_number,
        relay_parent_storage_root: storage_root,
    };
    let start = Instant::now();
    let config = HostConfig {
        code_bomb_limit: Some(args.bomb_limit),
        ..args.host.config()
    };
    let outcome = match Host::new(&config) {
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
