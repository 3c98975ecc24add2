//! Prometheus metrics of the PVF host.
//!
//! Empty for now: the host issue (#3) defines the metrics here — worker spawns and
//! retirements, prepare/execute jobs, time histograms, queue depths, retries, verdict classes,
//! cache size and hits — with the reference's names where the meaning is the same, and serves
//! them on `/metrics`. It is a crate of its own so that the node, the malus nodes and the tests
//! share one set of definitions without linking the engine.
