//! `pvf-node`: the validator-side node binary. See `pvf-node --help`.

fn main() -> std::process::ExitCode {
    pvf_subsystem::cli::main()
}
