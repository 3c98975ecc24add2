//! The `pvf-node` command line.
//!
//! Every subcommand goes through the real worker binaries; the node itself never compiles or
//! runs Wasm. Exit status: 0 for a valid candidate (or a successful preparation), 1 for an
//! invalid one (or a deterministic preparation failure), 2 for anything else (local errors,
//! possibly-invalid verdicts, bad arguments).

mod doctor;
mod input;
mod logging;
mod prepare;
mod report;
mod run;
pub mod serve;
mod unit;
mod validate;

use clap::{Args, Parser, Subcommand};
use pvf_messages::version::FULL_VERSION;
use std::{path::PathBuf, process::ExitCode};

pub use report::Verdict;

/// Exit status for a valid candidate or a successful preparation.
pub const EXIT_VALID: u8 = 0;
/// Exit status for an invalid candidate or a deterministic preparation failure.
pub const EXIT_INVALID: u8 = 1;
/// Exit status for everything else.
pub const EXIT_OTHER: u8 = 2;

/// Command-line interface of `pvf-node`.
#[derive(Parser, Debug)]
#[command(name = "pvf-node", version = FULL_VERSION, about = "Sandboxed validation host for parachain validation functions (PVFs)")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the node on a workload (default: the embedded one) and print a summary.
    Run(run::RunArgs),
    /// Prepare (compile) a PVF into an artifact and report what it cost.
    Prepare(prepare::PrepareArgs),
    /// Validate one candidate: prepare the code, execute it on the block, print the verdict.
    Validate(validate::ValidateArgs),
    /// Check this machine: worker binaries and versions, every sandbox layer, the cache.
    Doctor(doctor::DoctorArgs),
    /// Serve the node over JSON-RPC until SIGINT/SIGTERM (see docs/rpc.md).
    Serve(serve::ServeArgs),
}

/// How many workers the host may run; shared by `run` and `serve`. Polkadot's flag names,
/// with this node's earlier short names as aliases so that operator scripts carry over.
#[derive(Args, Debug, Clone)]
pub struct WorkerCounts {
    /// Execute workers (polkadot's flag; `--execute-workers` is an alias).
    #[arg(
        long = "execute-workers-max-num",
        alias = "execute-workers",
        default_value_t = 2
    )]
    pub execute: usize,
    /// Prepare workers for normal-priority work (polkadot's flag; `--prepare-workers-soft`
    /// is an alias).
    #[arg(
        long = "prepare-workers-soft-max-num",
        alias = "prepare-workers-soft",
        default_value_t = 1
    )]
    pub prepare_soft: usize,
    /// Prepare workers when critical work waits (polkadot's flag; `--prepare-workers-hard`
    /// is an alias).
    #[arg(
        long = "prepare-workers-hard-max-num",
        alias = "prepare-workers-hard",
        default_value_t = 2
    )]
    pub prepare_hard: usize,
}

/// Where the workers and the cache are; shared by all subcommands.
#[derive(Args, Debug, Clone)]
pub struct HostArgs {
    /// Folder holding pvf-prepare-worker and pvf-execute-worker, or one worker binary used for
    /// both roles. Default: next to pvf-node, then /usr/libexec/pvf-host, then $PATH.
    #[arg(long, value_name = "DIR|FILE")]
    pub workers_path: Option<PathBuf>,
    /// Artifact cache folder. Default: $XDG_CACHE_HOME/pvf-host or ~/.cache/pvf-host.
    #[arg(long, value_name = "DIR")]
    pub cache_path: Option<PathBuf>,
    /// Run PVF jobs even when the sandbox is incomplete on this machine. Never on a validator
    /// with stake: a PVF that escapes the engine could then read keys or reach the network.
    #[arg(long)]
    pub insecure_validator_i_know_what_i_do: bool,
    /// Accept worker binaries of another version or build. For development only: node and
    /// workers of different builds may disagree on artifacts and verdicts.
    #[arg(long)]
    pub disable_worker_version_check: bool,
}

impl HostArgs {
    fn config(&self) -> crate::host::HostConfig {
        crate::host::HostConfig {
            workers_path: self.workers_path.clone(),
            cache_path: self.cache_path.clone(),
            node_version_override: None,
            insecure_validator: self.insecure_validator_i_know_what_i_do,
            skip_version_check: self.disable_worker_version_check,
            code_bomb_limit: None,
        }
    }
}

/// Warnings and errors, except orchestra's own warning that the overseer terminates because a
/// subsystem ended: that is how `pvf-node run` stops once its workload is done.
const DEFAULT_LOG_FILTER: &str = "warn,pvf_subsystem::overseer=error";

/// Parses the command line, runs it and returns the exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(DEFAULT_LOG_FILTER);
    if let Command::Serve(args) = cli.command {
        // It runs its own runtime, as a malus node's `main` calls it.
        return serve::serve_with(args, |validation| validation, |backing| backing);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pvf-node: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_OTHER);
        }
    };
    let status = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Prepare(args) => prepare::run(args).await,
            Command::Validate(args) => validate::run(args).await,
            Command::Doctor(args) => doctor::run(args),
            Command::Serve(_) => unreachable!("served above, on its own runtime"),
        }
    });
    ExitCode::from(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(args: &[&str]) -> run::RunArgs {
        let argv = ["pvf-node", "run"].iter().chain(args);
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Run(a) => a,
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn worker_flags_take_polkadot_names_and_the_old_ones_as_aliases() {
        let polkadot = run_args(&[
            "--execute-workers-max-num",
            "3",
            "--prepare-workers-soft-max-num",
            "2",
            "--prepare-workers-hard-max-num",
            "4",
        ]);
        let old = run_args(&[
            "--execute-workers",
            "3",
            "--prepare-workers-soft",
            "2",
            "--prepare-workers-hard",
            "4",
        ]);
        for a in [polkadot, old] {
            assert_eq!(
                (
                    a.workers.execute,
                    a.workers.prepare_soft,
                    a.workers.prepare_hard
                ),
                (3, 2, 4)
            );
        }
        let defaults = run_args(&[]);
        assert_eq!(
            (
                defaults.workers.execute,
                defaults.workers.prepare_soft,
                defaults.workers.prepare_hard
            ),
            (2, 1, 2)
        );
        assert!(Cli::try_parse_from(["pvf-node", "run", "--execute-workers-max"]).is_err());
    }
}
