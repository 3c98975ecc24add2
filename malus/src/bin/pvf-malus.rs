//! `pvf-malus`: `pvf-node serve` with one malicious variant. See `pvf-malus --help`.

use clap::{Parser, Subcommand};
use pvf_malus::{
    interceptor::InterceptedSubsystem,
    variants::{
        self,
        back_garbage::BackGarbage,
        dispute_valid::{self, DisputeValid},
        suggest_garbage::{self, SuggestGarbage},
    },
};
use pvf_messages::version::FULL_VERSION;
use pvf_subsystem::cli::serve::{ServeArgs, serve_with};
use std::{io::IsTerminal, process::ExitCode};
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "pvf-malus",
    version = FULL_VERSION,
    about = "A malicious validator for test networks: `pvf-node serve` with one variant that lies"
)]
struct Cli {
    #[command(subcommand)]
    variant: Variant,
}

#[derive(Subcommand, Debug)]
enum Variant {
    /// Vote valid candidates invalid (the reference's dispute-ancestor).
    DisputeValidCandidates {
        #[command(flatten)]
        variant: dispute_valid::Args,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Answer every candidate valid without running it.
    BackGarbageCandidate {
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Second valid collations with a garbage PoV under an honest-looking receipt.
    SuggestGarbageCandidate {
        #[command(flatten)]
        variant: suggest_garbage::Args,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

/// pvf-node's default filter; `malus=info` is always added, whatever `PVF_LOG` says, so the
/// `MALUS intercept` lines scenarios count are never filtered out.
const DEFAULT_LOG_FILTER: &str = "warn,pvf_subsystem::overseer=error";

/// Logs on stderr as pvf-node does (`PVF_LOG` filters; colours only on a terminal).
fn init_logging() {
    let filter = EnvFilter::try_from_env("PVF_LOG")
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER))
        .add_directive(
            format!("{}=info", variants::LOG_TARGET)
                .parse()
                .expect("a valid directive"),
        );
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
}

fn main() -> ExitCode {
    init_logging();
    match Cli::parse().variant {
        Variant::DisputeValidCandidates { variant, serve } => {
            let interceptor = DisputeValid::from_args(&variant);
            serve_with(
                serve,
                |validation| InterceptedSubsystem::new(validation, interceptor),
                |backing| backing,
            )
        }
        Variant::BackGarbageCandidate { serve } => {
            let interceptor = BackGarbage::new();
            serve_with(
                serve,
                |validation| InterceptedSubsystem::new(validation, interceptor),
                |backing| backing,
            )
        }
        Variant::SuggestGarbageCandidate { variant, serve } => {
            let interceptor = SuggestGarbage::from_args(&variant);
            serve_with(
                serve,
                |validation| validation,
                |backing| InterceptedSubsystem::new(backing, interceptor),
            )
        }
    }
}
