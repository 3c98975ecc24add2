//! The PVF execute worker: runs prepared artifacts on candidates, one job process per candidate.

fn main() -> std::process::ExitCode {
    pvf_workers::worker::main(pvf_messages::protocol::WorkerKind::Execute)
}
