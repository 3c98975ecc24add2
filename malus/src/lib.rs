//! Malicious node variants for test networks.
//!
//! A test network must show that honest validators catch a validator that lies: one that
//! disputes valid candidates, backs garbage, or seconds a garbage PoV. `pvf-malus` is that
//! validator. It is the same node as `pvf-node serve` — same overseer, same subsystems, same
//! worker binaries, same JSON-RPC interface, version string and metric names — with a
//! [`MessageInterceptor`](interceptor::MessageInterceptor) in front of one subsystem.
//!
//! **Why an interceptor, not a fork.** As in the reference's malus, the lie lives in a filter
//! on the messages a subsystem receives and the answers it gives, not in a modified copy of
//! the subsystem:
//! - the honest code keeps running, unmodified, inside the malicious node, so the node looks
//!   and behaves like an honest one (timing, logs, metrics, errors) except for the one answer
//!   it falsifies, and honest nodes cannot tell it apart on the wire;
//! - every fix to the honest node reaches the malicious one with no merge work, so a test
//!   network never tests a stale validator;
//! - a variant is a few dozen lines about its lie, and the wrapper is generic over the slot
//!   and its messages: a new variant for another subsystem needs no new plumbing.
//!
//! - [`interceptor`]: the generic wrapper ([`InterceptedSubsystem`](interceptor::InterceptedSubsystem)).
//! - [`variants`]: the malicious behaviours and the `MALUS intercept` log line scenarios count.
//!
//! It never links the engine (wasmtime): a malus node spawns the same worker binaries.

pub mod interceptor;
pub mod variants;
