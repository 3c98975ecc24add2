//! `pvf-zombie`: runs a zombienet-style test (`test FILE.zndsl`) or network (`spawn
//! NETWORK.toml`) of real `pvf-node` and `pvf-malus` processes; see the crate docs.

use clap::{Parser, Subcommand};
use pvf_zombie::{RunOptions, check_test, run_network, run_test};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "pvf-zombie", version = pvf_messages::version::FULL_VERSION, about = "Zombienet-style scenario runner for the PVF host")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a test file; exit 0 if every assertion holds, 1 if one fails, 2 on a usage,
    /// file or start-up error, 130 when interrupted.
    Test {
        /// The test file (its `Network:` line names the network file, relative to it).
        file: PathBuf,
        /// Where node logs go (default: a new folder under the temporary directory).
        #[arg(long)]
        logs: Option<PathBuf>,
    },
    /// Check test files and their networks without starting anything; exit 0 if all
    /// are usable, 2 otherwise.
    Check {
        /// The test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Start a network and run the relay-chain stand-in until Ctrl-C.
    Spawn {
        /// The network file.
        network: PathBuf,
        /// Where node logs go.
        #[arg(long)]
        logs: Option<PathBuf>,
    },
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = runtime.block_on(async {
        match cli.command {
            Command::Test { file, logs } => run_test(&file, RunOptions { logs }).await,
            Command::Check { files } => {
                let mut code = 0;
                for f in files {
                    match check_test(&f) {
                        Ok((t, n)) => println!(
                            "{}: {} assertions, {} nodes, {} parachains",
                            f.display(),
                            t.assertions.len(),
                            n.nodes.len(),
                            n.file.parachains.len()
                        ),
                        Err(e) => {
                            eprintln!("pvf-zombie: {e}");
                            code = 2;
                        }
                    }
                }
                code
            }
            Command::Spawn { network, logs } => run_network(&network, RunOptions { logs }).await,
        }
    });
    drop(runtime);
    std::process::exit(code);
}
