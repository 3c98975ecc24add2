//! The PVF execute worker: runs prepared artifacts on candidates, one job process per candidate.
//!
//! Both worker binaries install the tracking allocator, so that either can serve either role
//! (`--kind`) and a preparation memory limit is always enforced.

#[global_allocator]
static ALLOC: pvf_workers::alloc_tracker::TrackingAllocator =
    pvf_workers::alloc_tracker::TrackingAllocator;

fn main() -> std::process::ExitCode {
    pvf_workers::worker::main(pvf_messages::protocol::WorkerKind::Execute)
}
