//! The node's side of preparation and execution.
//!
//! A request travels: [`discovery`] finds the worker binaries, [`worker`] spawns one and
//! shakes hands over [`wire`], the worker answers, [`classify`] turns the answer (or the
//! worker's silence or death) into a typed outcome, and [`artifacts`] keeps what preparation
//! produced. [`Host`] ties them together for one-shot use.

pub mod artifacts;
pub mod classify;
pub mod discovery;
mod oneshot;
pub mod wire;
pub mod worker;

pub use oneshot::{Host, HostConfig, Prepared, Validated, execute_on};

/// The host enforces wall-clock time as this multiple of a job's CPU-time budget.
pub const WALL_CLOCK_FACTOR: u32 = 4;
