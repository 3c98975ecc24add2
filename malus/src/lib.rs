//! Malicious node variants for test networks.
//!
//! Empty for now: a later issue adds the message interceptor that sits in front of the
//! candidate-validation subsystem and the variants that answer wrongly on purpose (e.g. vote
//! a valid candidate invalid), so that test networks can check that honest validators dispute
//! and win. It never links the engine: a malus node spawns the same worker binaries.
