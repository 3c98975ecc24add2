//! `pvf-collator`: a test collator that builds real blocks of real Cumulus parachains.
//!
//! Given a chain spec, it builds consecutive blocks by running the chain's own on-chain runtime,
//! unmodified, over its genesis state — the parachain inherent with a relay-chain state proof,
//! block building through the runtime API, the Aura seal — recording the storage proof as a
//! Cumulus collator does. Each block is then checked by the runtime's own `validate_block`, whose
//! outputs become the candidate's expected commitments. The output is a workload for
//! `pvf-node run --workload` and, per candidate, the files `pvf-node validate` takes.
//!
//! It is test tooling: every consensus-relevant step is done by the ecosystem's crates
//! (`sc-executor`, `sp-state-machine`, `sp-trie`, `sc-chain-spec`, Cumulus's primitives and
//! relay-state proof builder, `sp-keyring`), which is why it lives in its own workspace.

mod builder;
mod candidate;
mod chain;
mod collate;
mod dev;
mod error;
mod legacy;
mod output;
mod pov;
mod relay;
mod runtime;
mod transfer;

use clap::{Parser, Subcommand};
use std::{path::PathBuf, process::ExitCode};

/// Builds real parachain blocks as candidates for a PVF host.
#[derive(Parser)]
#[command(name = "pvf-collator", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build N blocks of each chain and write them as candidates.
    Build {
        /// A chain spec (raw genesis, or `runtimeGenesis`); repeat for several chains.
        #[arg(long = "chain-spec", required = true)]
        chain_specs: Vec<PathBuf>,
        /// Blocks per chain.
        #[arg(long, default_value_t = 3)]
        blocks: u32,
        /// Signed balance transfers per block, between funded development accounts.
        #[arg(long, default_value_t = 0)]
        transfers: u32,
        /// Also write invalid variants of the first block.
        #[arg(long)]
        invalid: bool,
        /// The output folder.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    let Command::Build {
        chain_specs,
        blocks,
        transfers,
        invalid,
        out,
    } = Cli::parse().command;
    if blocks == 0 {
        eprintln!("pvf-collator: --blocks must be at least 1");
        return ExitCode::from(2);
    }
    if invalid && blocks < 2 {
        eprintln!("pvf-collator: --invalid needs --blocks 2 or more (one variant uses the second block's head)");
        return ExitCode::from(2);
    }
    let options = collate::Options {
        blocks,
        transfers,
        invalid,
    };
    let mut chains = Vec::new();
    for path in &chain_specs {
        let result = chain::Chain::load(path).and_then(|c| collate::collate(c, &options));
        match result {
            Ok(c) => chains.push(c),
            Err(e) => {
                eprintln!("pvf-collator: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(e) = output::write_all(&out, &chains) {
        eprintln!("pvf-collator: {e}");
        return ExitCode::FAILURE;
    }
    let total: usize = chains.iter().map(|c| c.candidates.len()).sum();
    println!(
        "wrote {total} candidates of {} chains to {}",
        chains.len(),
        out.display()
    );
    ExitCode::SUCCESS
}
