//! The PVF prepare worker: compiles untrusted Wasm into artifacts, one job process per PVF.

#[global_allocator]
static ALLOC: pvf_workers::alloc_tracker::TrackingAllocator =
    pvf_workers::alloc_tracker::TrackingAllocator;

fn main() -> std::process::ExitCode {
    pvf_workers::worker::main(pvf_messages::protocol::WorkerKind::Prepare)
}
