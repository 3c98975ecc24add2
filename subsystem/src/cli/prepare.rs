//! `pvf-node prepare`: compile a PVF through a prepare worker and report the cost.

use super::{EXIT_INVALID, EXIT_OTHER, EXIT_VALID, HostArgs, input, report};
use crate::host::{Host, HostConfig};
use clap::{Args, ValueEnum};
use pvf_messages::{PvfPrepKind, ValidationCode, VerdictClass};
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `pvf-node prepare`.
#[derive(Args, Debug)]
pub struct PrepareArgs {
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
    /// `precheck` (60 s, memory limit applies) or `prepare` (lenient 360 s, before execution).
    #[arg(long, value_enum, default_value_t = PrepKind::Prepare)]
    pub kind: PrepKind,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub host: HostArgs,
}

/// The kinds of preparation.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PrepKind {
    /// Pre-checking a PVF before it is enacted.
    Precheck,
    /// Preparing before execution.
    Prepare,
}

/// What `pvf-node prepare --json` prints.
#[derive(Debug, Serialize)]
struct PrepareReport {
    /// `prepared`, `invalid` (deterministic failure) or `error`.
    outcome: &'static str,
    reason: Option<String>,
    code_hash: String,
    artifact: Option<String>,
    artifact_bytes: Option<u64>,
    cpu_time_ms: Option<f64>,
    wall_time_ms: Option<f64>,
    peak_tracked_bytes: Option<u64>,
    max_rss_bytes: Option<u64>,
}

/// Runs `pvf-node prepare`.
pub async fn run(args: PrepareArgs) -> u8 {
    let inputs = input::read_code(&args.code)
        .and_then(|code| Ok((code, input::parse_executor_params(&args.executor_params)?)));
    let (code, executor_params) = match inputs {
        Ok((c, p)) => (ValidationCode(c), p),
        Err(e) => {
            eprintln!("pvf-node: {e}");
            return EXIT_OTHER;
        }
    };
    let kind = match args.kind {
        PrepKind::Precheck => PvfPrepKind::Precheck,
        PrepKind::Prepare => PvfPrepKind::Prepare,
    };
    let config = HostConfig {
        code_bomb_limit: Some(args.bomb_limit),
        ..args.host.config()
    };
    let outcome = match Host::new(&config) {
        Ok(host) => host.prepare(&code, &executor_params, kind).await,
        Err(e) => Err(e),
    };
    let code_hash = code.hash().0.to_hex();
    let (report, status) = match outcome {
        Ok(p) => (
            PrepareReport {
                outcome: "prepared",
                reason: None,
                code_hash,
                artifact: Some(p.path.display().to_string()),
                artifact_bytes: Some(p.len),
                cpu_time_ms: Some(p.cpu_time.as_secs_f64() * 1e3),
                wall_time_ms: Some(p.wall_time.as_secs_f64() * 1e3),
                peak_tracked_bytes: Some(p.peak_tracked_bytes),
                max_rss_bytes: Some(p.max_rss_bytes),
            },
            EXIT_VALID,
        ),
        Err(e) => {
            let invalid = e.class() == VerdictClass::Invalid;
            (
                PrepareReport {
                    outcome: if invalid { "invalid" } else { "error" },
                    reason: Some(e.to_string()),
                    code_hash,
                    artifact: None,
                    artifact_bytes: None,
                    cpu_time_ms: None,
                    wall_time_ms: None,
                    peak_tracked_bytes: None,
                    max_rss_bytes: None,
                },
                if invalid { EXIT_INVALID } else { EXIT_OTHER },
            )
        }
    };
    if args.json {
        report::print_json(&report);
    } else if let Some(artifact) = &report.artifact {
        println!(
            "prepared {} -> {artifact} ({} bytes), cpu {:.1} ms, wall {:.1} ms, peak heap {} KiB, max rss {} KiB",
            report.code_hash,
            report.artifact_bytes.unwrap_or_default(),
            report.cpu_time_ms.unwrap_or_default(),
            report.wall_time_ms.unwrap_or_default(),
            report.peak_tracked_bytes.unwrap_or_default() / 1024,
            report.max_rss_bytes.unwrap_or_default() / 1024,
        );
    } else {
        println!(
            "{}: {}",
            report.outcome,
            report.reason.as_deref().unwrap_or_default()
        );
    }
    status
}
